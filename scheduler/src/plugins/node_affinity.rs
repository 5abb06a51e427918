//! NodeAffinity: Filter keeps nodes matching the pod's `nodeSelector` and its required
//! node affinity (terms ORed, expressions within a term ANDed); Score sums the weights of
//! the preferred terms a node matches, normalised so the best node gets 100.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, PreferredSchedulingTerm,
};

use crate::framework::{
    ActionType, Change, ClusterEvent, CycleState, EventResource, Filter, MAX_NODE_SCORE, NodeInfo,
    NodeScore, Plugin, PreFilter, PreScore, QueueingHint, Score, Snapshot, Status,
    default_normalize_score,
};

type Labels = BTreeMap<String, String>;

pub const NAME: &str = "NodeAffinity";
pub const ERR_REASON_POD: &str = "node(s) didn't match Pod's node affinity/selector";

#[derive(Debug, Default)]
pub struct NodeAffinity;

fn required_terms(pod: &Pod) -> Option<&[NodeSelectorTerm]> {
    pod.spec
        .as_ref()?
        .affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
        .map(|s| s.node_selector_terms.as_slice())
}

fn preferred_terms(pod: &Pod) -> &[PreferredSchedulingTerm] {
    pod.spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.preferred_during_scheduling_ignored_during_execution
                .as_deref()
        })
        .unwrap_or_default()
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(|v| v.parse::<i64>().ok()),
                values.first().and_then(|b| b.parse::<i64>().ok()),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// One node selector term against a node's name and labels: every expression (on labels)
/// and field (only `metadata.name`) matches. A term with neither matches nothing.
fn term_matches_labels(term: &NodeSelectorTerm, name: &str, labels: Option<&Labels>) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or_default();
    let fields = term.match_fields.as_deref().unwrap_or_default();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let label = |k: &str| labels.and_then(|l| l.get(k)).map(String::as_str);
    exprs.iter().all(|r| requirement_matches(r, label(&r.key)))
        && fields
            .iter()
            .all(|r| r.key == "metadata.name" && requirement_matches(r, Some(name)))
}

/// One node selector term against a node.
pub fn term_matches(term: &NodeSelectorTerm, node: &NodeInfo) -> bool {
    term_matches_labels(term, &node.name, node.labels())
}

/// The pod's nodeSelector and required node affinity against a node's name and labels.
fn required_matches_labels(pod: &Pod, name: &str, labels: Option<&Labels>) -> bool {
    let selector: Option<&Labels> = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref());
    if let Some(sel) = selector
        && !sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
    {
        return false;
    }
    match required_terms(pod) {
        Some(terms) => terms.iter().any(|t| term_matches_labels(t, name, labels)),
        None => true,
    }
}

/// The pod's nodeSelector and required node affinity both match the node (upstream's
/// `GetRequiredNodeAffinity(pod).Match(node)`); used by PodTopologySpread too.
pub fn required_matches(pod: &Pod, node: &NodeInfo) -> bool {
    required_matches_labels(pod, &node.name, node.labels())
}

/// As [`required_matches`], for a Node object.
pub fn required_matches_node(pod: &Pod, node: &Node) -> bool {
    required_matches_labels(
        pod,
        node.metadata.name.as_deref().unwrap_or(""),
        node.metadata.labels.as_ref(),
    )
}

impl Plugin for NodeAffinity {
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
        vec![ClusterEvent::new(
            EventResource::Node,
            ActionType::ADD | ActionType::UPDATE_NODE_LABEL,
        )]
    }
    /// The node matches the pod's required affinity now and did not before (or is new).
    fn queueing_hint(&self, pod: &Pod, change: &Change<'_>) -> QueueingHint {
        let (old, new) = change.nodes();
        let matches = new.is_some_and(|n| required_matches_node(pod, n));
        QueueingHint::when(matches && !old.is_some_and(|n| required_matches_node(pod, n)))
    }
    fn as_pre_score(self: Arc<Self>) -> Option<Arc<dyn PreScore>> {
        Some(self)
    }
    fn as_score(self: Arc<Self>) -> Option<Arc<dyn Score>> {
        Some(self)
    }
}

impl PreFilter for NodeAffinity {
    fn pre_filter(&self, _state: &mut CycleState, pod: &Pod, _snapshot: &Snapshot) -> Status {
        let has_selector = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_selector.as_ref())
            .is_some_and(|s| !s.is_empty());
        if !has_selector && required_terms(pod).is_none() {
            return Status::skip();
        }
        Status::success()
    }
}

impl Filter for NodeAffinity {
    fn filter(&self, _state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        if required_matches(pod, node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON_POD)
        }
    }
}

impl PreScore for NodeAffinity {
    fn pre_score(
        &self,
        _state: &mut CycleState,
        pod: &Pod,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        if preferred_terms(pod).is_empty() {
            Status::skip()
        } else {
            Status::success()
        }
    }
}

impl Score for NodeAffinity {
    fn score(
        &self,
        _state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        Ok(preferred_terms(pod)
            .iter()
            .filter(|t| t.weight != 0 && term_matches(&t.preference, node))
            .map(|t| i64::from(t.weight))
            .sum())
    }
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &Pod,
        scores: &mut [NodeScore<'_>],
    ) -> Status {
        default_normalize_score(MAX_NODE_SCORE, false, scores);
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
        let node = || NodeBuilder::new("n1").label("zone", "a").label("gen", "5");
        let cases = [
            ("nothing required", PodBuilder::new("p"), Code::Success),
            (
                "nodeSelector matches",
                PodBuilder::new("p").node_selector("zone", "a"),
                Code::Success,
            ),
            (
                "nodeSelector differs",
                PodBuilder::new("p").node_selector("zone", "b"),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "In",
                PodBuilder::new("p").required_node_affinity("zone", "In", &["a", "b"]),
                Code::Success,
            ),
            (
                "NotIn",
                PodBuilder::new("p").required_node_affinity("zone", "NotIn", &["a"]),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "Exists",
                PodBuilder::new("p").required_node_affinity("zone", "Exists", &[]),
                Code::Success,
            ),
            (
                "DoesNotExist",
                PodBuilder::new("p").required_node_affinity("zone", "DoesNotExist", &[]),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "Gt",
                PodBuilder::new("p").required_node_affinity("gen", "Gt", &["4"]),
                Code::Success,
            ),
            (
                "Lt",
                PodBuilder::new("p").required_node_affinity("gen", "Lt", &["4"]),
                Code::UnschedulableAndUnresolvable,
            ),
            (
                "terms are ORed",
                PodBuilder::new("p")
                    .required_node_affinity("zone", "In", &["x"])
                    .required_node_affinity("gen", "In", &["5"]),
                Code::Success,
            ),
            (
                "selector and affinity both needed",
                PodBuilder::new("p")
                    .node_selector("zone", "b")
                    .required_node_affinity("gen", "In", &["5"]),
                Code::UnschedulableAndUnresolvable,
            ),
        ];
        for (name, pod, want) in cases {
            let s = NodeAffinity.filter(&CycleState::new(), &pod.obj(), &node().info());
            assert_eq!(s.code(), want, "{name}");
            if want != Code::Success {
                assert_eq!(s.reasons(), [ERR_REASON_POD]);
            }
        }
    }

    #[test]
    fn score_sums_preferred_weights_then_normalises() {
        let snapshot = Snapshot::from_objects(
            vec![
                NodeBuilder::new("a").label("zone", "a").obj(),
                NodeBuilder::new("b")
                    .label("zone", "b")
                    .label("ssd", "true")
                    .obj(),
                NodeBuilder::new("c").obj(),
            ],
            vec![],
        );
        let pod = PodBuilder::new("p")
            .preferred_node_affinity(20, "zone", "In", &["a"])
            .preferred_node_affinity(60, "ssd", "Exists", &[])
            .obj();
        // Raw 20, 60, 0 → 33, 100, 0.
        assert_eq!(
            prescore_and_score(Arc::new(NodeAffinity), &pod, &snapshot),
            vec![33, 100, 0]
        );
    }
}
