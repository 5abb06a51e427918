//! The `kubesim` binary as a user runs it: `kubesim up` prints how to use it, writes a
//! kubeconfig, serves, and stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// Send Ctrl-C (SIGINT) and expect a clean exit within 10 s.
fn ctrl_c_stops_cleanly(child: &mut std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "kubesim did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "clean exit: {exit}");
}

#[test]
fn up_prints_the_kubeconfig_line_serves_and_stops_on_ctrl_c() {
    let dir = std::env::temp_dir().join(format!("kubesim-cli-{}", std::process::id()));
    let kubeconfig = dir.join("config");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(["up", "--port", "0", "--no-controllers", "--kubeconfig"])
        .arg(&kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubesim up");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the kubeconfig line");
    assert_eq!(
        line.trim(),
        format!("export KUBECONFIG={}", kubeconfig.display())
    );
    let ready = started.elapsed();

    let config = std::fs::read_to_string(&kubeconfig).expect("kubeconfig written");
    let server = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("server in kubeconfig")
        .to_string();
    assert!(server.starts_with("http://127.0.0.1:"), "{server}");
    let addr = server.trim_start_matches("http://");
    let readyz = http_get(addr, "/readyz");
    assert!(
        readyz.starts_with("HTTP/1.1 200") && readyz.ends_with("ok"),
        "{readyz}"
    );
    let namespaces = http_get(addr, "/api/v1/namespaces/default");
    assert!(namespaces.contains("\"name\":\"default\""), "{namespaces}");

    ctrl_c_stops_cleanly(&mut child);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(
        stderr.contains("kubesim is up at http://127.0.0.1:"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("kubesim up answered in {ready:?}");
}

/// `kubesim apiserver` alone, on the address and port asked for (`--port 0`: a free one),
/// says where it is, serves, and stops on Ctrl-C.
#[test]
fn apiserver_listens_where_asked_and_says_where() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(["apiserver", "--address", "127.0.0.2", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubesim apiserver");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("the address line");
    let addr = line
        .trim()
        .strip_prefix("kubesim API server at http://")
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    assert!(addr.starts_with("127.0.0.2:"), "{addr}");
    let version = http_get(&addr, "/version");
    assert!(version.starts_with("HTTP/1.1 200"), "{version}");
    assert!(version.contains("\"gitVersion\""), "{version}");
    // Only the API server: nothing else has written (no nodes).
    let nodes = http_get(&addr, "/api/v1/nodes");
    assert!(nodes.contains("\"items\":[]"), "{nodes}");

    ctrl_c_stops_cleanly(&mut child);
}

#[test]
fn every_command_has_help() {
    for args in [&["--help"][..], &["up", "--help"], &["apiserver", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_kubesim"))
            .args(args)
            .output()
            .expect("kubesim --help");
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: kubesim"),
            "{args:?}"
        );
    }
}
