//! Node health: when a node's heartbeats are too old, its conditions go `Unknown`, as
//! upstream's `tryUpdateNodeHealth`.
//!
//! The last heartbeat is the latest of its Lease's (`kube-node-lease/<node>`) `renewTime`,
//! the Ready condition's `lastHeartbeatTime`, and a floor the controller keeps: when it
//! first saw the node (upstream assumes "now" for a node it has no timestamp of, so a
//! restarted controller gives every node a full grace period), and when the cluster left
//! full disruption. A node that never posted a Ready condition counts from its creation.
//! Older than the grace period (`--node-monitor-grace-period`): Ready, MemoryPressure,
//! DiskPressure and PIDPressure go `Unknown`, reason `NodeStatusUnknown`, "Kubelet stopped
//! posting node status." (`NodeStatusNeverUpdated`, "Kubelet never posted node status.",
//! for conditions never posted). NetworkUnavailable is left alone, as upstream.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::NodeCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

/// What the heartbeat is derived from.
#[derive(Debug, Clone, Default)]
pub struct Heartbeats<'a> {
    pub lease: Option<&'a Lease>,
    pub created: Option<Timestamp>,
    /// Heartbeats before this count as this (first seen, left full disruption).
    pub floor: Option<Timestamp>,
}

/// The Ready condition's status, if the node has one.
pub fn ready_status(conditions: &[NodeCondition]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str())
}

/// The node's conditions after a missed heartbeat, or `None` if nothing changes.
pub fn stale_conditions(
    conditions: &[NodeCondition],
    beats: &Heartbeats,
    grace: Duration,
    now: Timestamp,
) -> Option<Vec<NodeCondition>> {
    let ready = conditions.iter().find(|c| c.type_ == "Ready");
    let renewed = beats
        .lease
        .and_then(|l| l.spec.as_ref())
        .and_then(|s| s.renew_time.as_ref())
        .map(|t| t.0);
    let posted = ready
        .and_then(|c| c.last_heartbeat_time.as_ref())
        .map(|t| t.0);
    // A node that never posted status counts from its creation, not from when we saw it.
    let floor = if ready.is_some() { beats.floor } else { None };
    let heartbeat = [renewed, posted, beats.created, floor]
        .into_iter()
        .flatten()
        .max()?;
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    if now.duration_since(heartbeat) <= grace {
        return None;
    }
    let mut out = conditions.to_vec();
    let mut changed = false;
    for type_ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        match out.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                out.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: beats.created.map(Time),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn ready(heartbeat: i64) -> NodeCondition {
        NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            last_heartbeat_time: Some(Time(ts(heartbeat))),
            last_transition_time: Some(Time(ts(0))),
            message: None,
        }
    }

    fn lease(renew: i64) -> Lease {
        Lease {
            spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec {
                renew_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
                    ts(renew),
                )),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_node_is_unknown_once_lease_and_heartbeat_are_older_than_the_grace_period() {
        let grace = Duration::from_secs(40);
        let (at30, at10) = (lease(30), lease(10));
        let l = |lease| Heartbeats {
            lease: Some(lease),
            ..Default::default()
        };
        assert!(stale_conditions(&[ready(0)], &l(&at30), grace, ts(60)).is_none());
        let out = stale_conditions(&[ready(0)], &l(&at10), grace, ts(60)).unwrap();
        let r = out.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(
            (r.status.as_str(), r.reason.as_deref()),
            ("Unknown", Some("NodeStatusUnknown"))
        );
        assert_eq!(
            r.message.as_deref(),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(out.len(), 4, "NetworkUnavailable is not added");
        // Already Unknown everywhere: nothing to write.
        assert!(stale_conditions(&out, &l(&at10), grace, ts(70)).is_none());
        let never = stale_conditions(
            &[],
            &Heartbeats {
                created: Some(ts(0)),
                floor: Some(ts(50)),
                ..Default::default()
            },
            grace,
            ts(60),
        )
        .unwrap();
        assert_eq!(
            never[0].reason.as_deref(),
            Some("NodeStatusNeverUpdated"),
            "the floor does not apply to a node that never posted"
        );
    }

    #[test]
    fn the_floor_gives_a_fresh_grace_period() {
        let grace = Duration::from_secs(40);
        let beats = Heartbeats {
            floor: Some(ts(50)),
            ..Default::default()
        };
        assert!(stale_conditions(&[ready(0)], &beats, grace, ts(60)).is_none());
        assert!(stale_conditions(&[ready(0)], &beats, grace, ts(91)).is_some());
    }
}
