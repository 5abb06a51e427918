//! NodeName: a pod that names its node in `spec.nodeName` fits only there.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::{
    ActionType, Change, ClusterEvent, CycleState, EventResource, Filter, NodeInfo, Plugin,
    QueueingHint, Status,
};

pub const NAME: &str = "NodeName";
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

#[derive(Debug, Default)]
pub struct NodeName;

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_filter(self: Arc<Self>) -> Option<Arc<dyn Filter>> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(EventResource::Node, ActionType::ADD)]
    }
    /// The node the pod names was added.
    fn queueing_hint(&self, pod: &Pod, change: &Change<'_>) -> QueueingHint {
        let wanted = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        QueueingHint::when(
            change
                .nodes()
                .1
                .is_some_and(|n| n.metadata.name.as_deref() == wanted),
        )
    }
}

impl Filter for NodeName {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        match pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        {
            Some(wanted) if wanted != node.name => Status::unresolvable(ERR_REASON),
            _ => Status::success(),
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
            ("no node name", PodBuilder::new("p"), Code::Success),
            ("this node", PodBuilder::new("p").node("n1"), Code::Success),
            (
                "another node",
                PodBuilder::new("p").node("n2"),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (name, pod, want) in cases {
            assert_eq!(
                NodeName
                    .filter(
                        &CycleState::new(),
                        &pod.obj(),
                        &NodeBuilder::new("n1").info()
                    )
                    .code(),
                want,
                "{name}"
            );
        }
    }
}
