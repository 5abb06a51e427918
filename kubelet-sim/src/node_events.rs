//! What the kubelet records about its own node, as upstream's does, so that
//! `kubectl describe node` tells the node's story: `Starting` ("Starting kubelet.") and
//! `NodeAllocatableEnforced` when the kubelet starts (and again after a restart fault,
//! with a `Rebooted` warning: the boot id changed); a condition's change as its status
//! setter records it (`NodeHasSufficientMemory`, `NodeHasDiskPressure`, `NodeNotReady`,
//! ... "Node n status is now: ..."); `NodeNotSchedulable`/`NodeSchedulable` when the node
//! is cordoned or uncordoned (`recordNodeSchedulableEvent`).
//!
//! The events name the node as upstream's `nodeRef` does (kind `Node`, the name as uid,
//! no namespace: they are written in `default`), and go through the pods' recorder, which
//! drops those of a stopped node.

use k8s_openapi::api::core::v1::{NodeStatus, ObjectReference};

use crate::Context;
use crate::events::Record;

fn record(ctx: &Context, node: &str, warning: bool, reason: &str, message: String) {
    ctx.recorder.record(Record {
        node: node.to_string(),
        object: ObjectReference {
            kind: Some("Node".into()),
            name: Some(node.to_string()),
            uid: Some(node.to_string()),
            ..Default::default()
        },
        warning,
        reason: reason.to_string(),
        message,
        time: jiff::Timestamp::now(),
        count: 1,
    });
}

/// `Node n status is now: <reason>`, as upstream's `recordNodeStatusEvent` writes it.
fn status_is_now(ctx: &Context, node: &str, reason: &str) {
    record(
        ctx,
        node,
        false,
        reason,
        format!("Node {node} status is now: {reason}"),
    );
}

/// The kubelet started (before its first status).
pub fn starting(ctx: &Context, node: &str) {
    record(ctx, node, false, "Starting", "Starting kubelet.".into());
}

/// The container manager enforced the node's allocatable resources (after the start).
pub fn allocatable_enforced(ctx: &Context, node: &str) {
    record(
        ctx,
        node,
        false,
        "NodeAllocatableEnforced",
        "Updated Node Allocatable limit across pods".into(),
    );
}

/// The events the status setters record going from `previous` (none: a new Node) to
/// `new`, in their order: `Rebooted` (a Warning) when the boot id changed; a pressure
/// condition's each time it is set to another status (a new one counts, from Unknown);
/// Ready's only when an existing one changes.
pub fn status_changed(ctx: &Context, node: &str, previous: Option<&NodeStatus>, new: &NodeStatus) {
    let boot_id = |s: Option<&NodeStatus>| {
        s.and_then(|s| s.node_info.as_ref())
            .map(|i| i.boot_id.clone())
            .unwrap_or_default()
    };
    let (before, now) = (boot_id(previous), boot_id(Some(new)));
    if !before.is_empty() && before != now {
        record(
            ctx,
            node,
            true,
            "Rebooted",
            format!("Node {node} has been rebooted, boot id: {now}"),
        );
    }
    for reason in condition_events(previous, new) {
        status_is_now(ctx, node, reason);
    }
}

fn condition_events(previous: Option<&NodeStatus>, new: &NodeStatus) -> Vec<&'static str> {
    let status_of = |status: Option<&NodeStatus>, type_: &str| {
        status?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.clone())
    };
    let rules: [(&str, &str, &str, bool); 4] = [
        (
            "MemoryPressure",
            "NodeHasInsufficientMemory",
            "NodeHasSufficientMemory",
            true,
        ),
        (
            "DiskPressure",
            "NodeHasDiskPressure",
            "NodeHasNoDiskPressure",
            true,
        ),
        (
            "PIDPressure",
            "NodeHasInsufficientPID",
            "NodeHasSufficientPID",
            true,
        ),
        ("Ready", "NodeReady", "NodeNotReady", false),
    ];
    let mut out = Vec::new();
    for (type_, when_true, when_false, new_counts) in rules {
        let Some(now) = status_of(Some(new), type_) else {
            continue;
        };
        // From `Unknown` (a node controller's mark while the kubelet was silent) counts.
        let changed = match status_of(previous, type_) {
            Some(before) => before != now,
            None => new_counts,
        };
        if changed {
            out.push(if now == "True" { when_true } else { when_false });
        }
    }
    out
}

/// The node's `spec.unschedulable` as the kubelet saw it change (from `false` when the
/// kubelet starts, as upstream's `lastNodeUnschedulable`).
pub fn schedulable_changed(ctx: &Context, node: &str, unschedulable: bool) {
    let reason = if unschedulable {
        "NodeNotSchedulable"
    } else {
        "NodeSchedulable"
    };
    status_is_now(ctx, node, reason);
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::NodeCondition;

    fn status(conditions: &[(&str, bool)]) -> NodeStatus {
        NodeStatus {
            conditions: Some(
                conditions
                    .iter()
                    .map(|(t, ok)| NodeCondition {
                        type_: t.to_string(),
                        status: if *ok { "True" } else { "False" }.into(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_node_reports_its_pressures_and_not_its_readiness() {
        let healthy = status(&[
            ("MemoryPressure", false),
            ("DiskPressure", false),
            ("PIDPressure", false),
            ("Ready", true),
        ]);
        assert_eq!(
            condition_events(None, &healthy),
            [
                "NodeHasSufficientMemory",
                "NodeHasNoDiskPressure",
                "NodeHasSufficientPID"
            ]
        );
        assert!(condition_events(Some(&healthy), &healthy).is_empty());
        let pressed = status(&[
            ("MemoryPressure", true),
            ("DiskPressure", false),
            ("PIDPressure", false),
            ("Ready", false),
        ]);
        assert_eq!(
            condition_events(Some(&healthy), &pressed),
            ["NodeHasInsufficientMemory", "NodeNotReady"]
        );
        assert_eq!(
            condition_events(Some(&pressed), &healthy),
            ["NodeHasSufficientMemory", "NodeReady"]
        );
        // Back after the node controller marked everything Unknown.
        let mut unknown = healthy.clone();
        for c in unknown.conditions.iter_mut().flatten() {
            c.status = "Unknown".into();
        }
        assert_eq!(
            condition_events(Some(&unknown), &healthy),
            [
                "NodeHasSufficientMemory",
                "NodeHasNoDiskPressure",
                "NodeHasSufficientPID",
                "NodeReady"
            ]
        );
    }
}
