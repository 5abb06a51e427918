//! The pod printer: `kubectl get pods`' READY, STATUS and RESTARTS, as upstream's
//! `printPod` computes them from the pod's status.
//!
//! STATUS is the most specific thing that can be said, in this order of precedence:
//!
//! 1. the phase (`Pending`, `Running`...), or `status.reason` when set (`Evicted`),
//!    or `SchedulingGated` while a scheduling gate holds the pod;
//! 2. while init containers run: `Init:<n>/<total>`, or `Init:<reason>` of the one that
//!    is waiting or failed (`Init:CrashLoopBackOff`, `Init:Error`, `Init:ExitCode:3`);
//! 3. once initialized, the reason of the first container (in spec order) that is
//!    waiting (`ContainerCreating`, `CrashLoopBackOff`, `ErrImagePull`) or terminated
//!    (`Completed`, `Error`, `OOMKilled`, `Signal:9`); a `Completed` pod that still has
//!    a running container is `Running` (or `NotReady` without the Ready condition),
//!    and one whose other container failed shows that failure;
//! 4. `Terminating` once deleted (unless it already ended), `Unknown` for a pod deleted
//!    because its node was lost.
//!
//! RESTARTS adds up the containers' restart counts and says when the latest restart
//! was: `3 (2m ago)`. Sidecars (init containers with `restartPolicy: Always`) count as
//! containers for READY and RESTARTS.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::print::{self, array_at, int_at, since, str_at, timestamp};
use super::{Column, Printer, docs};

const READY_DOC: &str = "The aggregate readiness state of this pod for accepting traffic.";
const STATUS_DOC: &str = "The aggregate status of the containers in this pod.";
const RESTARTS_DOC: &str = "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.";

const COLUMNS: &[Column] = &[
    Column::NAME,
    Column::new("Ready", "string", READY_DOC),
    Column::new("Status", "string", STATUS_DOC),
    Column::new("Restarts", "string", RESTARTS_DOC),
    Column::AGE,
    Column::wide("IP", "string", docs::POD_IP_DOC),
    Column::wide("Node", "string", docs::NODE_NAME_DOC),
    Column::wide("Nominated Node", "string", docs::NOMINATED_NODE_DOC),
    Column::wide("Readiness Gates", "string", docs::READINESS_GATES_DOC),
];

pub const PRINTER: Printer = Printer {
    columns: COLUMNS,
    row,
    conditions,
};

/// The reason a pod deleted because its node became unreachable carries
/// (upstream's `NodeUnreachablePodReason`).
const NODE_LOST: &str = "NodeLost";

fn row(pod: &Value, now: Timestamp) -> Vec<Value> {
    let summary = Summary::of(pod);
    let restarts = match summary.last_restart {
        Some(at) if summary.restarts != 0 => {
            format!("{} ({} ago)", summary.restarts, since(Some(at), now))
        }
        _ => summary.restarts.to_string(),
    };
    let or_none = |s: &str| {
        if s.is_empty() {
            "<none>".to_string()
        } else {
            s.to_string()
        }
    };
    // The first of podIPs, as upstream prints for dual-stack pods.
    let ip = array_at(pod, "/status/podIPs")
        .first()
        .map(|ip| str_at(ip, "/ip"))
        .unwrap_or("");
    vec![
        print::name(pod).into(),
        format!("{}/{}", summary.ready, summary.total).into(),
        summary.reason.into(),
        restarts.into(),
        print::age(pod, now).into(),
        or_none(ip).into(),
        or_none(str_at(pod, "/spec/nodeName")).into(),
        or_none(str_at(pod, "/status/nominatedNodeName")).into(),
        readiness_gates(pod).into(),
    ]
}

/// A finished pod's row says so, for clients that hide completed rows.
fn conditions(pod: &Value) -> Option<Value> {
    let (reason, message) = match str_at(pod, "/status/phase") {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(json!([{"type": "Completed", "status": "True", "reason": reason, "message": message}]))
}

/// READY, STATUS and RESTARTS of one pod.
#[derive(Debug, PartialEq)]
struct Summary {
    ready: usize,
    total: usize,
    reason: String,
    restarts: i64,
    last_restart: Option<Timestamp>,
}

impl Summary {
    fn of(pod: &Value) -> Summary {
        let conditions = array_at(pod, "/status/conditions");
        let phase = str_at(pod, "/status/phase");
        let mut reason = match str_at(pod, "/status/reason") {
            "" => phase.to_string(),
            r => r.to_string(),
        };
        if conditions.iter().any(|c| {
            str_at(c, "/type") == "PodScheduled" && str_at(c, "/reason") == "SchedulingGated"
        }) {
            reason = "SchedulingGated".into();
        }

        let init_containers = array_at(pod, "/spec/initContainers");
        let is_sidecar = |name: &str| {
            init_containers
                .iter()
                .any(|c| str_at(c, "/name") == name && str_at(c, "/restartPolicy") == "Always")
        };
        let mut total = array_at(pod, "/spec/containers").len();
        total += init_containers
            .iter()
            .filter(|c| str_at(c, "/restartPolicy") == "Always")
            .count();
        let mut ready = 0;
        let mut restarts = 0;
        let mut last_restart = None;
        let mut sidecar_restarts = 0;
        let mut last_sidecar_restart = None;

        let mut initializing = false;
        for (i, status) in array_at(pod, "/status/initContainerStatuses")
            .iter()
            .enumerate()
        {
            let sidecar = is_sidecar(str_at(status, "/name"));
            restarts += int_at(status, "/restartCount");
            later(&mut last_restart, last_termination(status));
            if sidecar {
                sidecar_restarts += int_at(status, "/restartCount");
                later(&mut last_sidecar_restart, last_termination(status));
            }
            let terminated = status
                .pointer("/state/terminated")
                .filter(|t| t.is_object());
            let waiting_reason = str_at(status, "/state/waiting/reason");
            match terminated {
                Some(t) if int_at(t, "/exitCode") == 0 => continue,
                _ if sidecar
                    && status.pointer("/started").and_then(Value::as_bool) == Some(true) =>
                {
                    if is_ready(status) {
                        ready += 1;
                    }
                    continue;
                }
                // Initialization failed.
                Some(t) => reason = format!("Init:{}", termination_reason(t)),
                None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                    reason = format!("Init:{waiting_reason}");
                }
                None => reason = format!("Init:{i}/{}", init_containers.len()),
            }
            initializing = true;
            break;
        }

        if !initializing || print::condition_true(conditions, "Initialized") {
            // Only sidecars' restarts count once the pod is initialized.
            restarts = sidecar_restarts;
            last_restart = last_sidecar_restart;
            let mut has_running = false;
            let mut error_reason = None;
            // Backwards, so that the first container's reason is the one that stays.
            for status in array_at(pod, "/status/containerStatuses").iter().rev() {
                restarts += int_at(status, "/restartCount");
                later(&mut last_restart, last_termination(status));
                let waiting_reason = str_at(status, "/state/waiting/reason");
                let terminated = status
                    .pointer("/state/terminated")
                    .filter(|t| t.is_object());
                if !waiting_reason.is_empty() {
                    reason = waiting_reason.to_string();
                } else if let Some(t) = terminated {
                    reason = termination_reason(t);
                    if int_at(t, "/exitCode") != 0 {
                        error_reason = Some(reason.clone());
                    }
                } else if is_ready(status)
                    && status
                        .pointer("/state/running")
                        .is_some_and(Value::is_object)
                {
                    has_running = true;
                    ready += 1;
                }
            }
            // A completed container beside a running one does not make the pod Completed.
            if reason == "Completed" {
                let pod_ready = conditions
                    .iter()
                    .any(|c| str_at(c, "/type") == "Ready" && str_at(c, "/status") == "True");
                if has_running && pod_ready {
                    reason = "Running".into();
                } else if let Some(error) = error_reason {
                    reason = error;
                } else if has_running {
                    reason = "NotReady".into();
                }
            }
        }

        let deleting = pod
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        if deleting && str_at(pod, "/status/reason") == NODE_LOST {
            reason = "Unknown".into();
        } else if deleting && phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
        Summary {
            ready,
            total,
            reason,
            restarts,
            last_restart,
        }
    }
}

fn is_ready(status: &Value) -> bool {
    status.pointer("/ready").and_then(Value::as_bool) == Some(true)
}

/// When the container last ended, from its `lastState`.
fn last_termination(status: &Value) -> Option<Timestamp> {
    timestamp(status.pointer("/lastState/terminated/finishedAt"))
}

/// Keep the later of two times (an unknown time is earlier than any).
fn later(latest: &mut Option<Timestamp>, at: Option<Timestamp>) {
    if at > *latest {
        *latest = at;
    }
}

/// A terminated state's reason, else its signal or exit code: `Error`, `Signal:9`,
/// `ExitCode:3`.
fn termination_reason(terminated: &Value) -> String {
    match str_at(terminated, "/reason") {
        "" => match int_at(terminated, "/signal") {
            0 => format!("ExitCode:{}", int_at(terminated, "/exitCode")),
            signal => format!("Signal:{signal}"),
        },
        reason => reason.to_string(),
    }
}

/// `true-conditions/gates` for the pod's readiness gates, or `<none>`.
fn readiness_gates(pod: &Value) -> String {
    let gates = array_at(pod, "/spec/readinessGates");
    if gates.is_empty() {
        return "<none>".into();
    }
    let conditions = array_at(pod, "/status/conditions");
    let met = gates
        .iter()
        .filter(|g| print::condition_true(conditions, str_at(g, "/conditionType")))
        .count();
    format!("{met}/{}", gates.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().expect("time")
    }

    /// A pod with `n` containers (`c0`, `c1`...) and the given status.
    fn pod(containers: usize, status: Value) -> Value {
        let containers: Vec<Value> = (0..containers)
            .map(|i| json!({"name": format!("c{i}"), "image": "nginx"}))
            .collect();
        json!({
            "metadata": {"name": "web", "creationTimestamp": "2026-03-01T11:55:00Z"},
            "spec": {"containers": containers},
            "status": status,
        })
    }

    fn with_init(mut pod: Value, init: Value) -> Value {
        pod["spec"]["initContainers"] = init;
        pod
    }

    fn running(ready: bool, restarts: i64) -> Value {
        json!({"ready": ready, "restartCount": restarts, "state": {"running": {"startedAt": "2026-03-01T11:56:00Z"}}})
    }

    fn waiting(reason: &str, restarts: i64) -> Value {
        json!({"ready": false, "restartCount": restarts, "state": {"waiting": {"reason": reason}}})
    }

    fn terminated(reason: &str, exit_code: i64) -> Value {
        json!({"ready": false, "restartCount": 0, "state": {"terminated": {"reason": reason, "exitCode": exit_code}}})
    }

    /// (ready, status, restarts) as kubectl prints them.
    fn summary(pod: &Value) -> (String, String, String) {
        let cells = row(pod, now());
        let s = |i: usize| cells[i].as_str().unwrap_or_default().to_string();
        (s(1), s(2), s(3))
    }

    #[test]
    fn status_reasons_as_upstream_prints_them() {
        let cases = [
            // A new pod, not yet scheduled.
            (
                "pending",
                pod(1, json!({"phase": "Pending"})),
                ("0/1", "Pending", "0"),
            ),
            ("no status at all", pod(1, json!({})), ("0/1", "", "0")),
            (
                "scheduling gated",
                pod(
                    1,
                    json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]}),
                ),
                ("0/1", "SchedulingGated", "0"),
            ),
            (
                "status reason wins over phase",
                pod(1, json!({"phase": "Failed", "reason": "Evicted"})),
                ("0/1", "Evicted", "0"),
            ),
            (
                "creating",
                pod(
                    1,
                    json!({"phase": "Pending", "containerStatuses": [waiting("ContainerCreating", 0)]}),
                ),
                ("0/1", "ContainerCreating", "0"),
            ),
            (
                "image pull",
                pod(
                    1,
                    json!({"phase": "Pending", "containerStatuses": [waiting("ErrImagePull", 0)]}),
                ),
                ("0/1", "ErrImagePull", "0"),
            ),
            (
                "running",
                pod(
                    2,
                    json!({"phase": "Running", "containerStatuses": [running(true, 0), running(true, 0)]}),
                ),
                ("2/2", "Running", "0"),
            ),
            // Upstream: "Test container error overwrites pod phase".
            (
                "a waiting container's reason overwrites the phase",
                pod(
                    2,
                    json!({"phase": "podPhase", "containerStatuses": [running(true, 3), waiting("ContainerWaitingReason", 3)]}),
                ),
                ("1/2", "ContainerWaitingReason", "6"),
            ),
            // Upstream: "the first container overwrites the rest".
            (
                "the first container's reason wins",
                pod(
                    2,
                    json!({"phase": "podPhase", "containerStatuses": [waiting("ContainerWaitingReason", 3), terminated("ContainerTerminatedReason", 1)]}),
                ),
                ("0/2", "ContainerWaitingReason", "3"),
            ),
            // Upstream: "ready is not enough for reporting running".
            (
                "ready but not running",
                pod(
                    2,
                    json!({"phase": "podPhase", "containerStatuses": [running(true, 3), {"ready": true, "restartCount": 3}]}),
                ),
                ("1/2", "podPhase", "6"),
            ),
            (
                "completed",
                pod(
                    1,
                    json!({"phase": "Succeeded", "containerStatuses": [terminated("Completed", 0)]}),
                ),
                ("0/1", "Completed", "0"),
            ),
            (
                "error",
                pod(
                    1,
                    json!({"phase": "Failed", "containerStatuses": [terminated("Error", 1)]}),
                ),
                ("0/1", "Error", "0"),
            ),
            (
                "signal",
                pod(
                    1,
                    json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "signal": 9}}}]}),
                ),
                ("0/1", "Signal:9", "0"),
            ),
            (
                "exit code",
                pod(
                    1,
                    json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 3}}}]}),
                ),
                ("0/1", "ExitCode:3", "0"),
            ),
            (
                "crash loop",
                pod(
                    1,
                    json!({"phase": "Running", "containerStatuses": [waiting("CrashLoopBackOff", 4)]}),
                ),
                ("0/1", "CrashLoopBackOff", "4"),
            ),
            // Upstream: "one is running and the other is completed, w/o ready condition".
            (
                "completed beside running, pod not ready",
                pod(
                    2,
                    json!({"phase": "Running", "containerStatuses": [terminated("Completed", 0), running(true, 0)]}),
                ),
                ("1/2", "NotReady", "0"),
            ),
            (
                "completed beside running, pod ready",
                pod(
                    2,
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [terminated("Completed", 0), running(true, 0)]}),
                ),
                ("1/2", "Running", "0"),
            ),
            (
                "completed beside a failed container shows the failure",
                pod(
                    2,
                    json!({"phase": "Failed", "containerStatuses": [terminated("Completed", 0), terminated("Error", 2)]}),
                ),
                ("0/2", "Error", "0"),
            ),
            (
                "terminating",
                {
                    let mut p = pod(
                        1,
                        json!({"phase": "Running", "containerStatuses": [running(true, 0)]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!("2026-03-01T11:59:00Z");
                    p
                },
                ("1/1", "Terminating", "0"),
            ),
            (
                "a deleted pod that already ended is not terminating",
                {
                    let mut p = pod(
                        1,
                        json!({"phase": "Succeeded", "containerStatuses": [terminated("Completed", 0)]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!("2026-03-01T11:59:00Z");
                    p
                },
                ("0/1", "Completed", "0"),
            ),
            (
                "node lost",
                {
                    let mut p = pod(
                        1,
                        json!({"phase": "Running", "reason": "NodeLost", "containerStatuses": [running(true, 0)]}),
                    );
                    p["metadata"]["deletionTimestamp"] = json!("2026-03-01T11:59:00Z");
                    p
                },
                ("1/1", "Unknown", "0"),
            ),
        ];
        for (name, pod, (ready, status, restarts)) in cases {
            assert_eq!(
                summary(&pod),
                (ready.to_string(), status.to_string(), restarts.to_string()),
                "{name}"
            );
        }
    }

    #[test]
    fn init_containers() {
        let init = json!([{"name": "i0", "image": "busybox"}, {"name": "i1", "image": "busybox"}]);
        let cases = [
            (
                "first init running",
                json!([running(false, 0), waiting("PodInitializing", 0)]),
                "Init:0/2",
            ),
            (
                "second init running",
                json!([terminated("Completed", 0), running(false, 0)]),
                "Init:1/2",
            ),
            (
                "init not started",
                json!([{"name": "i0", "state": {"waiting": {}}}]),
                "Init:0/2",
            ),
            (
                "init crash loop",
                json!([
                    waiting("CrashLoopBackOff", 5),
                    waiting("PodInitializing", 0)
                ]),
                "Init:CrashLoopBackOff",
            ),
            ("init failed", json!([terminated("Error", 1)]), "Init:Error"),
            (
                "init exit code",
                json!([{"state": {"terminated": {"exitCode": 2}}}]),
                "Init:ExitCode:2",
            ),
            (
                "init signal",
                json!([{"state": {"terminated": {"exitCode": 1, "signal": 15}}}]),
                "Init:Signal:15",
            ),
        ];
        for (name, statuses, want) in cases {
            let p = with_init(
                pod(
                    1,
                    json!({"phase": "Pending", "initContainerStatuses": statuses}),
                ),
                init.clone(),
            );
            assert_eq!(summary(&p).1, want, "{name}");
        }
        // Init restarts count while initializing...
        let p = with_init(
            pod(
                1,
                json!({"phase": "Pending", "initContainerStatuses": [waiting("CrashLoopBackOff", 5)]}),
            ),
            init.clone(),
        );
        assert_eq!(
            summary(&p),
            ("0/1".into(), "Init:CrashLoopBackOff".into(), "5".into())
        );
        // ...and no longer once the pod is initialized.
        let done = json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [{"restartCount": 2, "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}, terminated("Completed", 0)],
            "containerStatuses": [running(true, 1)]});
        assert_eq!(
            summary(&with_init(pod(1, done), init)),
            ("1/1".into(), "Running".into(), "1".into())
        );
    }

    #[test]
    fn sidecars_count_as_containers() {
        let init = json!([{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]);
        let sidecar = json!({"name": "proxy", "ready": true, "started": true, "restartCount": 2, "state": {"running": {}}});
        let status = json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
            "initContainerStatuses": [sidecar], "containerStatuses": [running(true, 1)]});
        assert_eq!(
            summary(&with_init(pod(1, status), init)),
            ("2/2".into(), "Running".into(), "3".into())
        );
    }

    #[test]
    fn restarts_say_when() {
        let mut restarted = running(true, 3);
        restarted["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2026-03-01T11:58:00Z"}});
        let mut older = running(true, 1);
        older["lastState"] =
            json!({"terminated": {"exitCode": 1, "finishedAt": "2026-03-01T10:00:00Z"}});
        let p = pod(
            2,
            json!({"phase": "Running", "containerStatuses": [restarted, older]}),
        );
        assert_eq!(summary(&p).2, "4 (2m ago)");
        // Restarts without a recorded time are just a count.
        let p = pod(
            1,
            json!({"phase": "Running", "containerStatuses": [running(true, 2)]}),
        );
        assert_eq!(summary(&p).2, "2");
    }

    #[test]
    fn wide_columns() {
        let mut p = pod(
            1,
            json!({"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}], "podIP": "10.0.0.5",
            "conditions": [{"type": "example.com/ready", "status": "True"}], "containerStatuses": [running(true, 0)]}),
        );
        p["spec"]["nodeName"] = json!("node-1");
        p["spec"]["readinessGates"] =
            json!([{"conditionType": "example.com/ready"}, {"conditionType": "example.com/lb"}]);
        let cells = row(&p, now());
        assert_eq!(cells[4], "5m");
        assert_eq!(
            &cells[5..],
            &[
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("1/2")
            ]
        );
        let bare = row(&pod(1, json!({})), now());
        assert_eq!(
            &bare[5..],
            &[
                json!("<none>"),
                json!("<none>"),
                json!("<none>"),
                json!("<none>")
            ]
        );
    }

    #[test]
    fn finished_pods_carry_a_completed_condition() {
        assert_eq!(conditions(&pod(1, json!({"phase": "Running"}))), None);
        let done = conditions(&pod(1, json!({"phase": "Succeeded"}))).expect("condition");
        assert_eq!(done[0]["type"], "Completed");
        assert_eq!(done[0]["reason"], "Succeeded");
        let failed = conditions(&pod(1, json!({"phase": "Failed"}))).expect("condition");
        assert_eq!(failed[0]["message"], "The pod failed.");
    }
}
