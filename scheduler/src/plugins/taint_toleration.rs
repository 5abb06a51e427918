//! TaintToleration: Filter rejects a node with a `NoSchedule` or `NoExecute` taint the pod
//! does not tolerate; Score prefers nodes with fewer untolerated `PreferNoSchedule` taints
//! (raw score = their count, normalised in reverse: fewest → 100).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, Taint, Toleration};

use crate::framework::{
    ActionType, Change, ClusterEvent, CycleState, EventResource, Filter, MAX_NODE_SCORE, NodeInfo,
    NodeScore, Plugin, PreScore, QueueingHint, Score, Snapshot, Status, default_normalize_score,
};

pub const NAME: &str = "TaintToleration";
/// Why a node with a taint the pod does not tolerate is filtered out.
pub const ERR_REASON: &str = "node(s) had untolerated taint(s)";

#[derive(Debug, Default)]
pub struct TaintToleration;

/// Whether `t` tolerates `taint` (upstream's `Toleration.ToleratesTaint`): effects match
/// (or the toleration has none), keys match (or the toleration has none with `Exists`),
/// and `Exists` or equal values.
pub fn tolerates_taint(t: &Toleration, taint: &Taint) -> bool {
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != taint.effect)
    {
        return false;
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

fn tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default()
}

fn taints(node: &NodeInfo) -> &[Taint] {
    if !node.tainted {
        return &[];
    }
    node.node.as_deref().map_or(&[], node_taints)
}

fn node_taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// The first NoSchedule/NoExecute taint of `taints` the tolerations do not tolerate
/// (upstream's `FindMatchingUntoleratedTaint` with `DoNotScheduleTaintsFilterFunc`).
fn untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .find(|taint| !tolerations.iter().any(|t| tolerates_taint(t, taint)))
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_filter(self: Arc<Self>) -> Option<Arc<dyn Filter>> {
        Some(self)
    }
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_TAINT,
        )]
    }
    /// The node had an untolerated taint (or is new) and now has none.
    fn queueing_hint(&self, pod: &Pod, change: &Change<'_>) -> QueueingHint {
        let tolerations = tolerations(pod);
        let (old, new) = change.nodes();
        let was_untolerated =
            old.is_none_or(|n| untolerated(node_taints(n), tolerations).is_some());
        QueueingHint::when(
            was_untolerated
                && new.is_some_and(|n| untolerated(node_taints(n), tolerations).is_none()),
        )
    }
    fn as_pre_score(self: Arc<Self>) -> Option<Arc<dyn PreScore>> {
        Some(self)
    }
    fn as_score(self: Arc<Self>) -> Option<Arc<dyn Score>> {
        Some(self)
    }
}

impl Filter for TaintToleration {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        match untolerated(taints(node), tolerations(pod)) {
            None => Status::success(),
            // Since v1.35 the reason names no taint (upstream's message had `{key: value}`
            // before): the node's taints are in `kubectl describe node`.
            Some(_) => Status::unresolvable(ERR_REASON),
        }
    }
}

impl PreScore for TaintToleration {
    fn pre_score(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        Status::success()
    }
}

impl Score for TaintToleration {
    fn score(
        &self,
        _state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        if !node.tainted {
            return Ok(0);
        }
        // Only tolerations with an empty or PreferNoSchedule effect count here.
        let tolerations: Vec<&Toleration> = tolerations(pod)
            .iter()
            .filter(|t| {
                t.effect
                    .as_deref()
                    .is_none_or(|e| e.is_empty() || e == "PreferNoSchedule")
            })
            .collect();
        Ok(taints(node)
            .iter()
            .filter(|taint| {
                taint.effect == "PreferNoSchedule"
                    && !tolerations.iter().any(|t| tolerates_taint(t, taint))
            })
            .count() as i64)
    }
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &Pod,
        scores: &mut [NodeScore<'_>],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, true, scores);
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::framework::testing::{NodeBuilder, PodBuilder, prescore_and_score};

    #[test]
    fn filter_table() {
        let cases = [
            (
                "no taints",
                PodBuilder::new("p"),
                NodeBuilder::new("n"),
                Code::Success,
                "",
            ),
            (
                "untolerated NoSchedule",
                PodBuilder::new("p"),
                NodeBuilder::new("n").taint(
                    "node-role.kubernetes.io/control-plane",
                    "",
                    "NoSchedule",
                ),
                Code::UnschedulableAndUnresolvable,
                ERR_REASON,
            ),
            (
                "tolerated by Equal",
                PodBuilder::new("p").toleration("dedicated", "Equal", "gpu", "NoSchedule"),
                NodeBuilder::new("n").taint("dedicated", "gpu", "NoSchedule"),
                Code::Success,
                "",
            ),
            (
                "Equal with another value",
                PodBuilder::new("p").toleration("dedicated", "Equal", "db", "NoSchedule"),
                NodeBuilder::new("n").taint("dedicated", "gpu", "NoSchedule"),
                Code::UnschedulableAndUnresolvable,
                ERR_REASON,
            ),
            (
                "Exists without key tolerates all",
                PodBuilder::new("p").toleration("", "Exists", "", ""),
                NodeBuilder::new("n").taint("a", "b", "NoExecute"),
                Code::Success,
                "",
            ),
            (
                "effect must match",
                PodBuilder::new("p").toleration("a", "Exists", "", "NoSchedule"),
                NodeBuilder::new("n").taint("a", "b", "NoExecute"),
                Code::UnschedulableAndUnresolvable,
                ERR_REASON,
            ),
            (
                "PreferNoSchedule does not filter",
                PodBuilder::new("p"),
                NodeBuilder::new("n").taint("a", "b", "PreferNoSchedule"),
                Code::Success,
                "",
            ),
        ];
        for (name, pod, node, want, reason) in cases {
            let s = TaintToleration.filter(&CycleState::new(), &pod.obj(), &node.info());
            assert_eq!(s.code(), want, "{name}");
            if !reason.is_empty() {
                assert_eq!(s.reasons(), [reason], "{name}");
            }
        }
    }

    #[test]
    fn score_prefers_fewer_untolerated_prefer_no_schedule_taints() {
        let snapshot = Snapshot::from_objects(
            vec![
                NodeBuilder::new("none").obj(),
                NodeBuilder::new("one")
                    .taint("a", "1", "PreferNoSchedule")
                    .obj(),
                NodeBuilder::new("two")
                    .taint("a", "1", "PreferNoSchedule")
                    .taint("b", "1", "PreferNoSchedule")
                    .obj(),
                NodeBuilder::new("tolerated")
                    .taint("c", "1", "PreferNoSchedule")
                    .obj(),
            ],
            vec![],
        );
        let pod = PodBuilder::new("p")
            .toleration("c", "Exists", "", "PreferNoSchedule")
            .obj();
        // Raw 0, 1, 2, 0 → reverse-normalised 100, 50, 0, 100.
        assert_eq!(
            prescore_and_score(Arc::new(TaintToleration), &pod, &snapshot),
            vec![100, 50, 0, 100]
        );
    }
}
