//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) takes no new pods, unless the
//! pod tolerates the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, Taint};

use super::taint_toleration::tolerates_taint;
use crate::framework::{
    ActionType, Change, ClusterEvent, CycleState, EventResource, Filter, NodeInfo, Plugin,
    QueueingHint, Status,
};

pub const NAME: &str = "NodeUnschedulable";
pub const ERR_REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

#[derive(Debug, Default)]
pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_filter(self: Arc<Self>) -> Option<Arc<dyn Filter>> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        // spec.unschedulable changes count as taint updates, as upstream.
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
        )]
    }
    /// A node that became schedulable (or was added schedulable).
    fn queueing_hint(&self, _pod: &Pod, change: &Change<'_>) -> QueueingHint {
        let unschedulable = |n: &Node| {
            n.spec
                .as_ref()
                .and_then(|s| s.unschedulable)
                .unwrap_or(false)
        };
        let (old, new) = change.nodes();
        let was = old.is_some_and(|n| !unschedulable(n));
        QueueingHint::when(!was && new.is_some_and(|n| !unschedulable(n)))
    }
}

impl Filter for NodeUnschedulable {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if node.node.is_none() {
            return Status::unresolvable("node not found");
        }
        if !node.unschedulable {
            return Status::success();
        }
        let taint = Taint {
            key: UNSCHEDULABLE_TAINT.to_string(),
            effect: "NoSchedule".to_string(),
            ..Default::default()
        };
        let tolerated = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_ref())
            .is_some_and(|ts| ts.iter().any(|t| tolerates_taint(t, &taint)));
        if tolerated {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_UNSCHEDULABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::framework::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn table() {
        let cases = [
            (
                "schedulable node",
                PodBuilder::new("p"),
                NodeBuilder::new("n"),
                Code::Success,
            ),
            (
                "cordoned node",
                PodBuilder::new("p"),
                NodeBuilder::new("n").unschedulable(),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "cordoned node, tolerated",
                PodBuilder::new("p").toleration(UNSCHEDULABLE_TAINT, "Exists", "", "NoSchedule"),
                NodeBuilder::new("n").unschedulable(),
                Code::Success,
            ),
        ];
        for (name, pod, node, want) in cases {
            let s = NodeUnschedulable.filter(&CycleState::new(), &pod.obj(), &node.info());
            assert_eq!(s.code(), want, "{name}");
            if want != Code::Success {
                assert_eq!(s.reasons(), [ERR_REASON_UNSCHEDULABLE]);
            }
        }
    }
}
