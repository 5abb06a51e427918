//! The taints the node controller keeps on a node, from its conditions — upstream's
//! `doNoScheduleTaintingPass` and `processTaintBaseEviction`.
//!
//! `NoSchedule`, so the scheduler places nothing new on a node in trouble:
//!
//! | condition | taint |
//! |---|---|
//! | Ready `False` / `Unknown` | `node.kubernetes.io/not-ready` / `node.kubernetes.io/unreachable` |
//! | MemoryPressure `True` | `node.kubernetes.io/memory-pressure` |
//! | DiskPressure `True` | `node.kubernetes.io/disk-pressure` |
//! | PIDPressure `True` | `node.kubernetes.io/pid-pressure` |
//! | NetworkUnavailable `True` | `node.kubernetes.io/network-unavailable` |
//! | `spec.unschedulable` (`kubectl cordon`) | `node.kubernetes.io/unschedulable` |
//!
//! `NoExecute`, which evicts pods that do not tolerate it: `not-ready` for Ready `False`,
//! `unreachable` for `Unknown`, none for `True`. The two are swapped at once when Ready
//! changes between `False` and `Unknown`; a new one is only added when the zone's
//! disruption state allows ([`super::zones`]).
//!
//! Every taint added carries `timeAdded`, as upstream's `SwapNodeControllerTaint` stamps
//! it; taints already there keep theirs, and other taints are never touched.

use k8s_openapi::api::core::v1::{NodeCondition, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";

/// `nodeConditionToTaintKeyStatusMap`: (condition type, status) → taint key.
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", NOT_READY),
    ("Ready", "Unknown", UNREACHABLE),
    ("MemoryPressure", "True", MEMORY_PRESSURE),
    ("DiskPressure", "True", DISK_PRESSURE),
    ("NetworkUnavailable", "True", NETWORK_UNAVAILABLE),
    ("PIDPressure", "True", PID_PRESSURE),
];

/// What may happen to the `NoExecute` taints this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExecute {
    /// Add, swap and remove as Ready says.
    Allow,
    /// Keep or swap existing ones, add none (a partially disrupted zone).
    Hold,
    /// Remove them all (every zone is fully disrupted).
    Remove,
    /// Leave them as they are: the `NoSchedule` pass a node's change runs at once
    /// (upstream's `doNoScheduleTaintingPass`), between monitor passes.
    Untouched,
}

fn ours_no_schedule(t: &Taint) -> bool {
    t.effect == "NoSchedule"
        && (t.key == UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, key)| *key == t.key))
}

fn ours_no_execute(t: &Taint) -> bool {
    t.effect == "NoExecute" && (t.key == NOT_READY || t.key == UNREACHABLE)
}

/// The node's taints after this pass: ours as the conditions, `unschedulable` and
/// `no_execute` say (keeping `timeAdded` of those already there), everyone else's as they
/// are.
pub fn desired(
    current: &[Taint],
    conditions: &[NodeCondition],
    unschedulable: bool,
    no_execute: NoExecute,
    now: Timestamp,
) -> Vec<Taint> {
    let status = |type_: &str| {
        conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.as_str())
    };
    let mut wanted: Vec<(&str, &str)> = CONDITION_TAINTS
        .iter()
        .filter(|(type_, s, _)| status(type_) == Some(*s))
        .map(|(_, _, key)| (*key, "NoSchedule"))
        .collect();
    if unschedulable {
        wanted.push((UNSCHEDULABLE, "NoSchedule"));
    }
    let has = |key: &str| {
        current
            .iter()
            .any(|t| t.key == key && t.effect == "NoExecute")
    };
    let evicting = match status("Ready") {
        Some("False") => Some(NOT_READY),
        Some("Unknown") => Some(UNREACHABLE),
        _ => None,
    };
    if let Some(key) = evicting.filter(|_| no_execute != NoExecute::Untouched) {
        let already = has(NOT_READY) || has(UNREACHABLE);
        if no_execute == NoExecute::Allow || (no_execute == NoExecute::Hold && already) {
            wanted.push((key, "NoExecute"));
        }
    }

    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| {
            let ours =
                ours_no_schedule(t) || (no_execute != NoExecute::Untouched && ours_no_execute(t));
            !ours || wanted.contains(&(t.key.as_str(), t.effect.as_str()))
        })
        .cloned()
        .collect();
    for (key, effect) in wanted {
        if !out.iter().any(|t| t.key == key && t.effect == effect) {
            out.push(Taint {
                key: key.into(),
                effect: effect.into(),
                time_added: Some(Time(now)),
                value: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn cond(type_: &str, status: &str) -> NodeCondition {
        NodeCondition {
            type_: type_.into(),
            status: status.into(),
            ..Default::default()
        }
    }

    fn keys(taints: &[Taint]) -> Vec<(&str, &str)> {
        taints
            .iter()
            .map(|t| (t.key.as_str(), t.effect.as_str()))
            .collect()
    }

    /// The pass a node's change runs: NoSchedule as the node says, NoExecute untouched
    /// (neither added for a node gone Unknown nor removed for one Ready again).
    #[test]
    fn a_change_pass_leaves_no_execute_taints_alone() {
        let t = desired(
            &[],
            &[cond("Ready", "Unknown")],
            true,
            NoExecute::Untouched,
            ts(5),
        );
        assert_eq!(
            keys(&t),
            [(UNREACHABLE, "NoSchedule"), (UNSCHEDULABLE, "NoSchedule")]
        );
        let evicting = desired(
            &[],
            &[cond("Ready", "Unknown")],
            false,
            NoExecute::Allow,
            ts(5),
        );
        let ready_again = desired(
            &evicting,
            &[cond("Ready", "True")],
            false,
            NoExecute::Untouched,
            ts(9),
        );
        assert_eq!(keys(&ready_again), [(UNREACHABLE, "NoExecute")]);
    }

    #[test]
    fn readiness_taints_are_swapped_and_removed() {
        let t = desired(
            &[],
            &[cond("Ready", "Unknown")],
            false,
            NoExecute::Allow,
            ts(5),
        );
        assert_eq!(
            keys(&t),
            [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]
        );
        assert!(
            t.iter().all(|t| t.time_added == Some(Time(ts(5)))),
            "every added taint is stamped"
        );
        // Kept as they are later, then swapped for not-ready, then gone.
        assert_eq!(
            desired(
                &t,
                &[cond("Ready", "Unknown")],
                false,
                NoExecute::Allow,
                ts(9)
            ),
            t
        );
        let nr = desired(
            &t,
            &[cond("Ready", "False")],
            false,
            NoExecute::Allow,
            ts(9),
        );
        assert_eq!(
            keys(&nr),
            [(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]
        );
        let user = Taint {
            key: "dedicated".into(),
            effect: "NoSchedule".into(),
            value: Some("gpu".into()),
            time_added: None,
        };
        let back = desired(
            &[nr, vec![user.clone()]].concat(),
            &[cond("Ready", "True")],
            true,
            NoExecute::Allow,
            ts(10),
        );
        assert_eq!(
            back,
            vec![
                user,
                Taint {
                    key: UNSCHEDULABLE.into(),
                    effect: "NoSchedule".into(),
                    value: None,
                    time_added: Some(Time(ts(10)))
                }
            ]
        );
    }

    #[test]
    fn pressure_conditions_taint_no_schedule() {
        let conditions = [
            cond("Ready", "True"),
            cond("MemoryPressure", "True"),
            cond("DiskPressure", "True"),
            cond("PIDPressure", "True"),
            cond("NetworkUnavailable", "True"),
        ];
        let t = desired(&[], &conditions, false, NoExecute::Allow, ts(0));
        assert_eq!(
            keys(&t),
            [
                (MEMORY_PRESSURE, "NoSchedule"),
                (DISK_PRESSURE, "NoSchedule"),
                (NETWORK_UNAVAILABLE, "NoSchedule"),
                (PID_PRESSURE, "NoSchedule")
            ]
        );
        let t = desired(
            &t,
            &[cond("Ready", "True"), cond("MemoryPressure", "False")],
            false,
            NoExecute::Allow,
            ts(1),
        );
        assert!(t.is_empty());
        // No Ready condition yet: no readiness taint.
        assert!(desired(&[], &[], false, NoExecute::Allow, ts(0)).is_empty());
    }

    #[test]
    fn disruption_holds_or_removes_no_execute_taints() {
        let unknown = [cond("Ready", "Unknown")];
        assert_eq!(
            keys(&desired(&[], &unknown, false, NoExecute::Hold, ts(0))),
            [(UNREACHABLE, "NoSchedule")]
        );
        let tainted = desired(
            &[],
            &[cond("Ready", "False")],
            false,
            NoExecute::Allow,
            ts(0),
        );
        assert_eq!(
            keys(&desired(&tainted, &unknown, false, NoExecute::Hold, ts(1))),
            [(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")],
            "swapped, not added"
        );
        assert_eq!(
            keys(&desired(
                &tainted,
                &unknown,
                false,
                NoExecute::Remove,
                ts(1)
            )),
            [(UNREACHABLE, "NoSchedule")]
        );
    }
}
