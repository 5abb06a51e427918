//! Helpers for kubesim's end-to-end tests: a cluster started exactly as `kubesim up`
//! starts it, and the real clients (kubectl, the Python client, kube-rs) pointed at it.
//!
//! The clients are found through `KUBESIM_KUBECTL`, `KUBESIM_HELM` and `KUBESIM_PYTHON`,
//! which `scripts/test` sets after installing them; failing that, in `.tools/` and
//! `.venv/` at the repository root.

pub mod bench;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::oneshot;

/// A running `kubesim up`, stopped when dropped.
pub struct Cluster {
    pub url: String,
    pub kubeconfig: PathBuf,
    pub dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local address").port()
}

fn scratch_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kubesim-e2e-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl Cluster {
    /// `kubesim up` with extra arguments, on a free port, with a kubeconfig in a scratch dir.
    pub fn up(extra: &[&str]) -> Cluster {
        let dir = scratch_dir();
        let kubeconfig = dir.join("kubeconfig");
        let port = free_port();
        let mut args: Vec<String> = ["kubesim", "up", "--port", &port.to_string(), "--kubeconfig"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(kubeconfig.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let cli = kubesim::Cli::try_parse_from(&args).expect("valid kubesim arguments");
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let result = runtime.block_on(kubesim::run(cli, async move {
                let _ = stopped.await;
            }));
            if let Err(err) = result {
                eprintln!("kubesim up failed: {err:#}");
            }
        });
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() || !kubeconfig.exists() {
            assert!(
                Instant::now() < deadline,
                "kubesim up did not start listening on {url}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Cluster {
            url,
            kubeconfig,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The real kubectl with this cluster's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_with_stdin(args, None)
    }

    pub fn kubectl_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(tool("KUBESIM_KUBECTL", ".tools/bin/kubectl"));
        command.args(args).env("KUBECONFIG", &self.kubeconfig);
        run(command, stdin)
    }

    /// kubectl, asserting success; its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\n{}",
            describe(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// kubectl with `-o json`, asserting success; the parsed output.
    pub fn kubectl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.kubectl_ok(&all)).expect("kubectl -o json prints JSON")
    }

    /// Run a Python script from `tests/python/` with the official client, with
    /// `KUBECONFIG` and `KUBESIM_URL` set.
    pub fn python(&self, script: &str, args: &[&str]) -> Output {
        let mut command = Command::new(tool("KUBESIM_PYTHON", ".venv/bin/python"));
        command
            .arg(repo_root().join("tests").join("python").join(script))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBESIM_URL", &self.url);
        run(command, None)
    }

    /// A kube-rs client for this cluster.
    pub fn client(&self) -> kube::Client {
        let url = self.url.parse().expect("cluster URL");
        kube::Client::try_from(kube::Config::new(url)).expect("kube client")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A test client's path: from its environment variable, else under the repository.
pub fn tool(env: &str, fallback: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(fallback));
    assert!(
        path.exists(),
        "{} not found; run scripts/test (or scripts/install-test-tools) to install the test clients",
        path.display()
    );
    path
}

fn run(mut command: Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    child.wait_with_output().expect("wait for child")
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Poll `check` until it returns `Some`, or fail after `timeout`.
pub fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
