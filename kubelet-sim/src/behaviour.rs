//! The behaviour model: what a simulated container does, as data.
//!
//! No image is run. A container's life is read once, when its pod arrives, from its
//! `command`/`args` (a few well-known shell forms) and from annotations under
//! [`PREFIX`], into a [`Behaviour`]; the pod worker only follows it. This is the spirit
//! of kwok's stages: the lifecycle is data, the engine only matches, delays and applies.
//! `docs/kubelet.md` has the table.
//!
//! Every annotation may be narrowed to one container by suffixing its name:
//! `kubesim.io/crash-after.web` applies to container `web` only and wins over
//! `kubesim.io/crash-after`.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

/// The annotation prefix of the behaviour model.
pub const PREFIX: &str = "kubesim.io/";

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error("annotation {key}: {value:?} is not a duration (e.g. 500ms, 10s, 2m, 1h, or seconds)")]
    BadDuration { key: String, value: String },
    #[error("annotation {key}: {value:?} is not a quantity")]
    BadQuantity { key: String, value: String },
    #[error("annotation {key}: {value:?} is not an integer")]
    BadInteger { key: String, value: String },
}

/// When something happens, relative to a container's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// At once.
    Now,
    After(Duration),
    Never,
}

impl After {
    pub fn at(self) -> Option<Duration> {
        match self {
            After::Now => Some(Duration::ZERO),
            After::After(d) => Some(d),
            After::Never => None,
        }
    }
}

/// A line the container writes to its log, at a time after its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: Duration,
    pub text: String,
}

/// What one container does, compiled from its spec and the pod's annotations.
#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    /// Time spent `Waiting{ContainerCreating}` (or `PodInitializing`) before it runs.
    pub startup_delay: Duration,
    /// When it exits by itself, and with which code (`sleep N`, `exit N`, crash-after).
    pub exit: Option<(Duration, i32)>,
    /// Lines it prints (`echo` in a shell script), besides kubesim's own start/exit lines.
    pub output: Vec<LogLine>,
    /// When its readiness probe starts succeeding (`ready-after`; `never`).
    pub ready_after: After,
    /// When its startup probe starts succeeding (`startup-after`).
    pub startup_after: After,
    /// When its liveness probe starts failing (`liveness-fail-after`).
    pub liveness_fail_after: After,
    /// CPU used while running, in millicores.
    pub cpu_millis: u64,
    /// Memory used at start, in bytes, and its growth per second of running.
    pub memory_bytes: u64,
    pub memory_growth_per_second: u64,
    /// How long it takes to exit after SIGTERM (`stop-delay`); past the grace period it
    /// is killed.
    pub stop_delay: Duration,
    /// How long its `preStop` hook runs (`exec: sleep N`).
    pub pre_stop: Duration,
}

impl Behaviour {
    /// A container that runs until stopped and does nothing else.
    pub fn idle() -> Behaviour {
        Behaviour {
            startup_delay: Duration::ZERO,
            exit: None,
            output: Vec::new(),
            ready_after: After::Now,
            startup_after: After::Now,
            liveness_fail_after: After::Never,
            cpu_millis: DEFAULT_CPU_MILLIS,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            memory_growth_per_second: 0,
            stop_delay: Duration::ZERO,
            pre_stop: Duration::ZERO,
        }
    }
}

/// Default CPU and memory use of a running container without annotations.
pub const DEFAULT_CPU_MILLIS: u64 = 1;
pub const DEFAULT_MEMORY_BYTES: u64 = 8 * 1024 * 1024;

/// The annotations that apply to `container`: the prefix stripped, container-specific
/// keys winning over pod-wide ones.
fn annotations_for(pod: &Pod, container: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(all) = pod.metadata.annotations.as_ref() else {
        return out;
    };
    let suffix = format!(".{container}");
    for (key, value) in all {
        if let Some(rest) = key.strip_prefix(PREFIX)
            && !rest.contains('.')
        {
            out.entry(rest.to_string()).or_insert_with(|| value.clone());
        }
    }
    for (key, value) in all {
        if let Some(name) = key
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.strip_suffix(&suffix))
        {
            out.insert(name.to_string(), value.clone());
        }
    }
    out
}

/// The longest simulated delay: anything longer (`sleep 1e20`) is a hundred years,
/// which no simulation reaches.
pub const MAX_DELAY: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `secs` seconds, at most [`MAX_DELAY`]; `None` when negative or not a number.
fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(
        Duration::try_from_secs_f64(secs)
            .unwrap_or(MAX_DELAY)
            .min(MAX_DELAY),
    )
}

/// `500ms`, `10s`, `2m`, `1h`, `1m30s`, or plain (fractional) seconds; at most
/// [`MAX_DELAY`].
pub fn parse_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return seconds(secs);
    }
    let mut total = 0.0;
    let mut rest = value;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    seconds(total)
}

/// A Kubernetes quantity as a number: `250m` → 0.25, `64Mi` → 67108864, `1e3` → 1000.
/// Suffixes as upstream's `resource.Quantity`: `n u m k M G T P E`, `Ki Mi Gi Ti Pi Ei`,
/// and a decimal exponent `e<n>`/`E<n>`.
pub fn parse_quantity(value: &str) -> Option<f64> {
    let value = value.trim();
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(value.len());
    let number: f64 = value[..split].parse().ok()?;
    let suffix = &value[split..];
    let factor = match suffix {
        "" => 1.0,
        // Divided, not multiplied: 250m is exactly 0.25.
        "n" => return checked(number / 1e9),
        "u" => return checked(number / 1e6),
        "m" => return checked(number / 1e3),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0f64.powi(2),
        "Gi" => 1024.0f64.powi(3),
        "Ti" => 1024.0f64.powi(4),
        "Pi" => 1024.0f64.powi(5),
        "Ei" => 1024.0f64.powi(6),
        _ => {
            let exponent: i32 = suffix.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(exponent)
        }
    };
    checked(number * factor)
}

fn checked(value: f64) -> Option<f64> {
    (value.is_finite() && value >= 0.0).then_some(value)
}

/// A shell's exit status for `exit <word>`: the number modulo 256 (`exit 257` is 1,
/// `exit -1` is 255, as sh and bash do); a word that is not a number is the shell's
/// error, status 2.
pub fn exit_status(word: &str) -> Result<i32, String> {
    let (negative, digits) = match word.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, word.strip_prefix('+').unwrap_or(word)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("sh: exit: {word}: numeric argument required"));
    }
    // Digit by digit, so that any length works.
    let rest = digits
        .bytes()
        .fold(0u32, |acc, b| (acc * 10 + u32::from(b - b'0')) % 256) as i32;
    Ok(if negative { (256 - rest) % 256 } else { rest })
}

fn after(notes: &BTreeMap<String, String>, key: &str, default: After) -> Result<After, Error> {
    match notes.get(key).map(|v| v.trim()) {
        None => Ok(default),
        Some("never") => Ok(After::Never),
        Some(value) => match parse_duration(value) {
            Some(d) if d.is_zero() => Ok(After::Now),
            Some(d) => Ok(After::After(d)),
            None => Err(Error::BadDuration {
                key: format!("{PREFIX}{key}"),
                value: value.to_string(),
            }),
        },
    }
}

/// A delay; `never` is [`MAX_DELAY`].
fn duration(notes: &BTreeMap<String, String>, key: &str) -> Result<Duration, Error> {
    Ok(after(notes, key, After::Now)?.at().unwrap_or(MAX_DELAY))
}

fn quantity(notes: &BTreeMap<String, String>, key: &str) -> Result<Option<f64>, Error> {
    notes
        .get(key)
        .map(|v| {
            parse_quantity(v).ok_or_else(|| Error::BadQuantity {
                key: format!("{PREFIX}{key}"),
                value: v.clone(),
            })
        })
        .transpose()
}

/// What a script does: its output, and when and how it ends (`None`: it runs on).
#[derive(Debug, Default, PartialEq)]
pub struct Script {
    pub output: Vec<LogLine>,
    pub exit: Option<(Duration, i32)>,
}

/// Interpret a container's `command` + `args` as the well-known forms: `sleep N`,
/// `sh -c "echo hi; sleep 2; exit 3"`, `true`, `false`. Anything else runs until stopped.
pub fn interpret(argv: &[String]) -> Script {
    let program = argv
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("");
    match program {
        "sh" | "bash" | "ash" | "dash" if argv.get(1).map(String::as_str) == Some("-c") => {
            script(argv.get(2).map(String::as_str).unwrap_or(""))
        }
        "" => Script::default(),
        _ => {
            let mut out = Script::default();
            let mut now = Duration::ZERO;
            if !statement(
                &argv.iter().map(String::as_str).collect::<Vec<_>>(),
                &mut now,
                &mut out,
            ) {
                out.exit = None;
            }
            out
        }
    }
}

/// One shell statement; `false` when it is not understood (the container runs on).
fn statement(words: &[&str], now: &mut Duration, out: &mut Script) -> bool {
    let program = words
        .first()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .unwrap_or("");
    match program {
        "sleep" => match words.get(1) {
            Some(&"infinity") => false,
            Some(n) => match parse_duration(n) {
                Some(d) => {
                    *now += d;
                    out.exit = Some((*now, 0));
                    true
                }
                None => false,
            },
            None => false,
        },
        "exit" => {
            let code = match words.get(1) {
                None => 0,
                Some(word) => exit_status(word).unwrap_or_else(|error| {
                    out.output.push(LogLine {
                        at: *now,
                        text: error,
                    });
                    2
                }),
            };
            out.exit = Some((*now, code));
            true
        }
        "true" => {
            out.exit = Some((*now, 0));
            true
        }
        "false" => {
            out.exit = Some((*now, 1));
            true
        }
        "echo" => {
            let text = words[1..].join(" ");
            out.output.push(LogLine {
                at: *now,
                text: text.trim_matches(|c| c == '"' || c == '\'').to_string(),
            });
            out.exit = Some((*now, 0));
            true
        }
        _ => false,
    }
}

fn script(source: &str) -> Script {
    let mut out = Script::default();
    let mut now = Duration::ZERO;
    for part in source.split([';', '\n']).flat_map(|s| s.split("&&")) {
        let words: Vec<&str> = part.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let exits = words[0] == "exit";
        if !statement(&words, &mut now, &mut out) {
            out.exit = None;
            return out;
        }
        if exits {
            return out;
        }
    }
    out
}

fn argv(container: &Container) -> Vec<String> {
    container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .cloned()
        .collect()
}

fn pre_stop(container: &Container) -> Duration {
    let command = container
        .lifecycle
        .as_ref()
        .and_then(|l| l.pre_stop.as_ref())
        .and_then(|h| h.exec.as_ref())
        .and_then(|e| e.command.clone());
    match command {
        Some(argv) => match interpret(&argv).exit {
            Some((at, _)) => at,
            None => Duration::ZERO,
        },
        None => match container
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|h| h.sleep.as_ref())
        {
            Some(sleep) => Duration::from_secs(sleep.seconds.max(0).unsigned_abs()).min(MAX_DELAY),
            None => Duration::ZERO,
        },
    }
}

/// Compile one container's behaviour. `init`: an init container, which without a
/// recognised command completes at once (a regular one runs until stopped).
pub fn compile(pod: &Pod, container: &Container, init: bool) -> Result<Behaviour, Error> {
    let notes = annotations_for(pod, &container.name);
    let script = interpret(&argv(container));
    let mut exit = script.exit;
    if init && exit.is_none() && argv(container).is_empty() {
        exit = Some((Duration::ZERO, 0));
    }
    if let Some(crash) = after(&notes, "crash-after", After::Never)?.at() {
        let code = match notes.get("exit-code") {
            Some(v) => exit_status(v.trim()).map_err(|_| Error::BadInteger {
                key: format!("{PREFIX}exit-code"),
                value: v.clone(),
            })?,
            None => 1,
        };
        if exit.is_none_or(|(at, _)| crash < at) {
            exit = Some((crash, code));
        }
    }
    let cpu = quantity(&notes, "cpu")?
        .map(|c| (c * 1000.0).round() as u64)
        .unwrap_or(DEFAULT_CPU_MILLIS);
    let memory = quantity(&notes, "memory")?
        .map(|m| m as u64)
        .unwrap_or(DEFAULT_MEMORY_BYTES);
    let growth = quantity(&notes, "memory-growth")?
        .map(|m| m as u64)
        .unwrap_or(0);
    Ok(Behaviour {
        startup_delay: duration(&notes, "startup-delay")?,
        exit,
        output: script.output,
        ready_after: after(&notes, "ready-after", After::Now)?,
        startup_after: after(&notes, "startup-after", After::Now)?,
        liveness_fail_after: after(&notes, "liveness-fail-after", After::Never)?,
        cpu_millis: cpu,
        memory_bytes: memory,
        memory_growth_per_second: growth,
        stop_delay: duration(&notes, "stop-delay")?,
        pre_stop: pre_stop(container),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(annotations: serde_json::Value, container: serde_json::Value) -> (Pod, Container) {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "annotations": annotations},
            "spec": {"containers": [container]}
        }))
        .unwrap();
        let c = pod.spec.as_ref().unwrap().containers[0].clone();
        (pod, c)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn durations_and_quantities() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2.5"), Some(Duration::from_millis(2500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("64Mi"), Some(64.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("lots"), None);
        assert_eq!(parse_quantity("2Pi"), Some(2.0 * 1024f64.powi(5)));
        assert_eq!(parse_quantity("1Ei"), Some(1024f64.powi(6)));
        assert_eq!(parse_quantity("3E"), Some(3e18));
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("5E2"), Some(500.0));
        assert_eq!(parse_quantity("100n"), Some(100e-9));
        assert_eq!(parse_quantity("1Zi"), None);
    }

    #[test]
    fn absurd_delays_are_a_hundred_years_not_a_panic() {
        assert_eq!(parse_duration("100000000000000000000"), Some(MAX_DELAY));
        assert_eq!(parse_duration("1e19"), Some(MAX_DELAY));
        assert_eq!(parse_duration("99999999999999999999h"), Some(MAX_DELAY));
        assert_eq!(parse_duration("-1"), None);
        assert_eq!(parse_duration("NaN"), None);
        assert_eq!(
            interpret(&strings(&["sleep", "100000000000000000000"])).exit,
            Some((MAX_DELAY, 0))
        );
        let (p, c) = pod(
            json!({"kubesim.io/startup-delay": "never", "kubesim.io/stop-delay": "never"}),
            json!({"name": "web", "image": "nginx"}),
        );
        let b = compile(&p, &c, false).unwrap();
        assert_eq!((b.startup_delay, b.stop_delay), (MAX_DELAY, MAX_DELAY));
    }

    #[test]
    fn exit_codes_are_a_shells() {
        let code = |script: &str| interpret(&strings(&["sh", "-c", script])).exit.map(|e| e.1);
        assert_eq!(code("exit 3"), Some(3));
        assert_eq!(code("exit 256"), Some(0));
        assert_eq!(
            code("exit 99999999999"),
            Some(99999999999u64.rem_euclid(256) as i32)
        );
        assert_eq!(code("exit -1"), Some(255));
        assert_eq!(code("exit"), Some(0));
        let s = interpret(&strings(&["sh", "-c", "exit abc"]));
        assert_eq!(s.exit, Some((Duration::ZERO, 2)));
        assert_eq!(s.output[0].text, "sh: exit: abc: numeric argument required");
        let (p, c) = pod(
            json!({"kubesim.io/crash-after": "1s", "kubesim.io/exit-code": "300"}),
            json!({"name": "web", "image": "nginx"}),
        );
        assert_eq!(
            compile(&p, &c, false).unwrap().exit,
            Some((Duration::from_secs(1), 44))
        );
        let (p, c) = pod(
            json!({"kubesim.io/crash-after": "1s", "kubesim.io/exit-code": "x"}),
            json!({"name": "web", "image": "nginx"}),
        );
        assert!(matches!(
            compile(&p, &c, false),
            Err(Error::BadInteger { .. })
        ));
    }

    #[test]
    fn well_known_commands() {
        assert_eq!(
            interpret(&strings(&["sleep", "2"])).exit,
            Some((Duration::from_secs(2), 0))
        );
        assert_eq!(interpret(&strings(&["sleep", "infinity"])).exit, None);
        assert_eq!(
            interpret(&strings(&["sh", "-c", "exit 3"])).exit,
            Some((Duration::ZERO, 3))
        );
        let s = interpret(&strings(&[
            "/bin/sh",
            "-c",
            "echo hello; sleep 5; echo bye && exit 2; echo never",
        ]));
        assert_eq!(s.exit, Some((Duration::from_secs(5), 2)));
        assert_eq!(
            s.output,
            vec![
                LogLine {
                    at: Duration::ZERO,
                    text: "hello".into()
                },
                LogLine {
                    at: Duration::from_secs(5),
                    text: "bye".into()
                }
            ]
        );
        assert_eq!(
            interpret(&strings(&["nginx", "-g", "daemon off;"])).exit,
            None
        );
        assert_eq!(
            interpret(&strings(&["sh", "-c", "sleep 1; nginx"])).exit,
            None
        );
        assert_eq!(interpret(&[]).exit, None);
    }

    #[test]
    fn annotations_compile_per_container() {
        let (p, c) = pod(
            json!({"kubesim.io/crash-after": "30s", "kubesim.io/exit-code.web": "7", "kubesim.io/ready-after": "never",
                   "kubesim.io/cpu": "250m", "kubesim.io/memory": "64Mi", "kubesim.io/startup-delay.other": "9s"}),
            json!({"name": "web", "image": "nginx", "lifecycle": {"preStop": {"exec": {"command": ["sleep", "3"]}}}}),
        );
        let b = compile(&p, &c, false).unwrap();
        assert_eq!(b.exit, Some((Duration::from_secs(30), 7)));
        assert_eq!(b.ready_after, After::Never);
        assert_eq!(b.cpu_millis, 250);
        assert_eq!(b.memory_bytes, 64 * 1024 * 1024);
        assert_eq!(b.startup_delay, Duration::ZERO);
        assert_eq!(b.pre_stop, Duration::from_secs(3));
        assert_eq!(b.liveness_fail_after, After::Never);
    }

    #[test]
    fn init_containers_without_a_command_complete_at_once() {
        let (p, c) = pod(json!({}), json!({"name": "init", "image": "busybox"}));
        assert_eq!(
            compile(&p, &c, true).unwrap().exit,
            Some((Duration::ZERO, 0))
        );
        assert_eq!(compile(&p, &c, false).unwrap().exit, None);
    }

    #[test]
    fn bad_annotations_are_errors() {
        let (p, c) = pod(
            json!({"kubesim.io/crash-after": "soon"}),
            json!({"name": "web", "image": "nginx"}),
        );
        assert!(matches!(
            compile(&p, &c, false),
            Err(Error::BadDuration { .. })
        ));
    }
}
