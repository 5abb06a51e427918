//! NodePorts: a pod's `hostPort`s must be free on the node. Two uses conflict when the
//! protocol and port are equal and the host IPs overlap (equal, or either is 0.0.0.0).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::node_info::host_ports;
use crate::framework::{
    ActionType, Change, ClusterEvent, CycleState, EventResource, Filter, NodeInfo, Plugin,
    PreFilter, QueueingHint, Snapshot, Status,
};

pub const NAME: &str = "NodePorts";
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

#[derive(Debug, Default)]
pub struct NodePorts;

#[derive(Debug, Clone)]
struct State(Vec<(String, String, i32)>);

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(self: Arc<Self>) -> Option<Arc<dyn PreFilter>> {
        Some(self)
    }
    fn as_filter(self: Arc<Self>) -> Option<Arc<dyn Filter>> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        // Container ports are immutable: pod updates never free one.
        vec![
            ClusterEvent::new(EventResource::Pod, ActionType::DELETE),
            ClusterEvent::new(EventResource::Node, ActionType::ADD),
        ]
    }
    /// A new node; or a deleted pod that held a port this pod wants.
    fn queueing_hint(&self, pod: &Pod, change: &Change<'_>) -> QueueingHint {
        match change {
            Change::Node { .. } => QueueingHint::Queue,
            Change::Pod { old, .. } => {
                let freed = old.map(host_ports).unwrap_or_default();
                QueueingHint::when(
                    host_ports(pod)
                        .iter()
                        .any(|w| freed.iter().any(|u| conflicts(w, u))),
                )
            }
        }
    }
}

impl PreFilter for NodePorts {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _snapshot: &Snapshot) -> Status {
        let ports = host_ports(pod);
        if ports.is_empty() {
            return Status::skip();
        }
        state.write(NAME, State(ports));
        Status::success()
    }
}

fn conflicts(a: &(String, String, i32), b: &(String, String, i32)) -> bool {
    a.0 == b.0 && a.2 == b.2 && (a.1 == b.1 || a.1 == "0.0.0.0" || b.1 == "0.0.0.0")
}

impl Filter for NodePorts {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let owned;
        let wanted = match state.read::<State>(NAME) {
            Some(s) => &s.0,
            None => {
                owned = host_ports(pod);
                &owned
            }
        };
        if wanted
            .iter()
            .any(|w| node.used_ports.iter().any(|u| conflicts(w, u)))
        {
            Status::unschedulable(ERR_REASON)
        } else {
            Status::success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::framework::testing::{NodeBuilder, PodBuilder, node_with};

    #[test]
    fn only_sidecar_init_containers_hold_host_ports() {
        let pod: Pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "p"}, "spec": {
            "initContainers": [
                {"name": "setup", "image": "busybox", "ports": [{"containerPort": 80, "hostPort": 80}]},
                {"name": "proxy", "image": "envoy", "restartPolicy": "Always", "ports": [{"containerPort": 90, "hostPort": 90, "protocol": "UDP", "hostIP": "10.0.0.1"}]}],
            "containers": [{"name": "app", "image": "nginx", "ports": [{"containerPort": 8080}]}]}}))
        .unwrap();
        assert_eq!(
            host_ports(&pod),
            [("UDP".to_string(), "10.0.0.1".to_string(), 90)]
        );
    }

    #[test]
    fn table() {
        let cases = [
            ("no ports", PodBuilder::new("p"), vec![], Code::Success),
            (
                "free port",
                PodBuilder::new("p").host_port(80, "TCP", ""),
                vec![
                    PodBuilder::new("o")
                        .node("n")
                        .host_port(81, "TCP", "")
                        .obj(),
                ],
                Code::Success,
            ),
            (
                "same port",
                PodBuilder::new("p").host_port(80, "TCP", ""),
                vec![
                    PodBuilder::new("o")
                        .node("n")
                        .host_port(80, "TCP", "")
                        .obj(),
                ],
                Code::Unschedulable,
            ),
            (
                "other protocol",
                PodBuilder::new("p").host_port(80, "UDP", ""),
                vec![
                    PodBuilder::new("o")
                        .node("n")
                        .host_port(80, "TCP", "")
                        .obj(),
                ],
                Code::Success,
            ),
            (
                "different host IPs",
                PodBuilder::new("p").host_port(80, "TCP", "10.0.0.1"),
                vec![
                    PodBuilder::new("o")
                        .node("n")
                        .host_port(80, "TCP", "10.0.0.2")
                        .obj(),
                ],
                Code::Success,
            ),
            (
                "wildcard overlaps",
                PodBuilder::new("p").host_port(80, "TCP", "10.0.0.1"),
                vec![
                    PodBuilder::new("o")
                        .node("n")
                        .host_port(80, "TCP", "")
                        .obj(),
                ],
                Code::Unschedulable,
            ),
        ];
        for (name, pod, existing, want) in cases {
            let pod = pod.obj();
            let snapshot =
                Snapshot::from_objects(vec![NodeBuilder::new("n").obj()], existing.clone());
            let s = crate::framework::testing::prefilter_and_filter(
                Arc::new(NodePorts),
                &pod,
                &snapshot,
            );
            assert_eq!(s[0].code(), want, "{name}");
            // Filter alone (without PreFilter state) agrees.
            let s = NodePorts.filter(
                &CycleState::new(),
                &pod,
                &node_with(NodeBuilder::new("n"), existing),
            );
            assert_eq!(s.code(), want, "{name} (filter only)");
        }
    }
}
