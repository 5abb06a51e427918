//! The README's "A walk with curl", run as written with the real curl against `kubesim up`:
//! the block is read from README.md, each step runs in bash with `S` pointing at the
//! cluster, and each `# →` line's `"key":value` pairs must be in that step's output. The
//! watch the README leaves running in a second terminal runs in the background here and
//! must print the pod's ADDED event and, after the patch, a MODIFIED one.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use kubesim_e2e::Cluster;
use serde_json::Value;

/// One command (or a few lines run together) of the walk, with what the README says it
/// prints.
#[derive(Debug)]
struct Step {
    script: String,
    expected: Vec<String>,
}

/// The steps of the first `sh` block after the "A walk with curl" heading: lines up to a
/// blank or comment line make a step; `# →` lines are the previous step's output.
fn walk_steps(readme: &str) -> Vec<Step> {
    let section = readme
        .split_once("## A walk with curl")
        .map(|(_, rest)| rest)
        .expect("README has the curl walk");
    let block = section
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("the walk is an sh block");
    let mut steps: Vec<Step> = Vec::new();
    let mut current = String::new();
    let mut in_heredoc = false;
    for line in block.lines() {
        if in_heredoc {
            current.push_str(line);
            current.push('\n');
            in_heredoc = line != "EOF";
            continue;
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            if !current.is_empty() {
                steps.push(Step {
                    script: std::mem::take(&mut current),
                    expected: Vec::new(),
                });
            }
            if let (Some(arrow), Some(last)) = (trimmed.strip_prefix("# →"), steps.last_mut()) {
                last.expected.push(arrow.trim().to_string());
            }
            continue;
        }
        in_heredoc = line.contains("<<'EOF'");
        current.push_str(line);
        current.push('\n');
    }
    if !current.is_empty() {
        steps.push(Step {
            script: current,
            expected: Vec::new(),
        });
    }
    steps
}

/// The `"key":"text"` and `"key":number` pairs an arrow line names.
fn pairs(arrow: &str) -> Vec<(String, Value)> {
    let mut found = Vec::new();
    let mut rest = arrow;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        let key = &after[..end];
        let tail = &after[end + 1..];
        rest = tail;
        let Some(value) = tail.strip_prefix(':') else {
            continue;
        };
        let scalar: String = if let Some(text) = value.strip_prefix('"') {
            match text.find('"') {
                Some(close) => format!("\"{}\"", &text[..close]),
                None => continue,
            }
        } else {
            value.chars().take_while(char::is_ascii_digit).collect()
        };
        if let Ok(parsed) = serde_json::from_str::<Value>(&scalar) {
            found.push((key.to_string(), parsed));
        }
    }
    found
}

/// Whether `key: value` is anywhere in `doc`.
fn holds(doc: &Value, key: &str, value: &Value) -> bool {
    match doc {
        Value::Object(map) => {
            map.get(key) == Some(value) || map.values().any(|v| holds(v, key, value))
        }
        Value::Array(items) => items.iter().any(|v| holds(v, key, value)),
        _ => false,
    }
}

fn bash(cluster: &Cluster, script: &str) -> Command {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!("set -e\nS={}\n{script}", cluster.url))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    command
}

/// Lines a background process prints, as they come.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let (send, lines) = channel();
    let stdout = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// The JSON documents a step printed (one per line, or one spread over several).
fn documents(output: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(output)
        .into_iter::<Value>()
        .map_while(Result::ok)
        .collect()
}

#[test]
fn the_readme_curl_walk_does_what_it_says() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let steps = walk_steps(&readme);
    assert!(steps.len() >= 6, "steps: {steps:#?}");
    let cluster = Cluster::up(&[]);

    let mut watch: Option<(Child, Receiver<String>)> = None;
    for step in steps.iter().filter(|s| !s.script.starts_with("S=")) {
        // The one watch the README leaves running; a watch from an expired
        // resourceVersion ends by itself after its ERROR event.
        let background =
            step.script.contains("watch=true\"") && !step.script.contains("resourceVersion=");
        let mut child = bash(&cluster, &step.script).spawn().expect("bash runs");
        if background {
            let lines = lines_of(&mut child);
            // Started once its initial ADDED event arrived.
            let first = lines
                .recv_timeout(Duration::from_secs(10))
                .expect("the watch prints the pod");
            assert!(first.contains(r#""type":"ADDED""#), "{first}");
            watch = Some((child, lines));
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("wait").is_none() {
            assert!(
                Instant::now() < deadline,
                "step did not end: {}",
                step.script
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = child.wait_with_output().expect("output");
        let printed = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "{}\n{printed}", step.script);
        let docs = documents(&printed);
        assert!(
            !docs.is_empty(),
            "{}\nprinted no JSON: {printed}",
            step.script
        );
        for arrow in &step.expected {
            let wanted = pairs(arrow);
            assert!(!wanted.is_empty(), "arrow line without pairs: {arrow}");
            for (key, value) in wanted {
                assert!(
                    docs.iter().any(|d| holds(d, &key, &value)),
                    "{}\nREADME says {arrow}; no \"{key}\":{value} in {printed}",
                    step.script
                );
            }
        }
        if step.script.contains("/kubesim/v1/audit") {
            let verbs: Vec<&str> = docs[0]["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| {
                    e["userAgent"]
                        .as_str()
                        .is_some_and(|ua| ua.starts_with("curl/"))
                })
                .filter_map(|e| e["verb"].as_str())
                .collect();
            assert_eq!(verbs, ["create", "patch"], "{printed}");
        }
    }

    let (mut child, lines) = watch.expect("the walk starts a watch");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let modified = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(line) = lines.recv_timeout(left) else {
            break None;
        };
        let event: Value = serde_json::from_str(&line).expect("a watch event per line");
        let labelled =
            event["type"] == "MODIFIED" && event["object"]["metadata"]["labels"]["tier"] == "front";
        seen.push(line);
        if labelled {
            break Some(event);
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        modified.is_some(),
        "the watch printed no MODIFIED event with the patch's label: {seen:#?}"
    );
}

#[test]
fn arrow_lines_name_their_pairs() {
    assert_eq!(
        pairs(r#"{"kind":"Status",...,"reason":"Conflict","code":409}"#),
        [
            ("kind".to_string(), Value::from("Status")),
            ("reason".to_string(), Value::from("Conflict")),
            ("code".to_string(), Value::from(409)),
        ]
    );
    assert_eq!(
        pairs(r#"{"type":"ERROR","object":{"kind":"Status",...,"code":410}}"#),
        [
            ("type".to_string(), Value::from("ERROR")),
            ("kind".to_string(), Value::from("Status")),
            ("code".to_string(), Value::from(410)),
        ]
    );
}
