//! PodTopologySpread: spread matching pods evenly across topology domains.
//!
//! Filter (`whenUnsatisfiable: DoNotSchedule`): placing the pod in the node's domain must
//! keep `matching pods there + 1 − fewest in any domain ≤ maxSkew`. Score
//! (`ScheduleAnyway`): fewer matching pods in the node's domains is better — per
//! constraint `count × ln(domains + 2) + (maxSkew − 1)`, then normalised so the least
//! crowded node gets 100. Eligible nodes follow `nodeAffinityPolicy` (Honor by default)
//! and `nodeTaintsPolicy` (Ignore by default). Upstream's system default constraints
//! (for pods without any, derived from their Services and ReplicaSets) are not applied.
//!
//! Worked example (Filter): zones a: 2 web pods, b: 0, maxSkew 1. A new web pod in a:
//! 2 + 1 − 0 = 3 > 1 → rejected; in b: 0 + 1 − 0 = 1 → fits.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, TopologySpreadConstraint};
use kubesim_apimachinery::selector::LabelSelector;

use super::node_affinity::required_matches;
use super::taint_toleration::tolerates_taint;
use crate::framework::{
    ActionType, Change, ClusterEvent, CycleState, EventResource, Filter, MAX_NODE_SCORE, NodeInfo,
    NodeScore, Plugin, PodInfo, PreFilter, PreScore, QueueingHint, Score, Snapshot, Status,
};

pub const NAME: &str = "PodTopologySpread";
pub const ERR_REASON_CONSTRAINTS_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints";
pub const ERR_REASON_NODE_LABEL_NOT_MATCH: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
const HOSTNAME: &str = "kubernetes.io/hostname";

#[derive(Debug, Default)]
pub struct PodTopologySpread;

#[derive(Debug, Clone)]
struct Constraint {
    max_skew: i64,
    topology_key: String,
    selector: LabelSelector,
    min_domains: i64,
    honor_affinity: bool,
    honor_taints: bool,
}

fn constraints(pod: &Pod, when: &str) -> Vec<Constraint> {
    let list: &[TopologySpreadConstraint] = pod
        .spec
        .as_ref()
        .and_then(|s| s.topology_spread_constraints.as_deref())
        .unwrap_or_default();
    list.iter()
        .filter(|c| c.when_unsatisfiable == when)
        .map(|c| {
            let mut sel = c.label_selector.clone().unwrap_or_default();
            // matchLabelKeys: AND the pod's own values for those keys.
            for key in c.match_label_keys.iter().flatten() {
                if let Some(v) = pod.metadata.labels.as_ref().and_then(|l| l.get(key)) {
                    sel.match_labels
                        .get_or_insert_with(Default::default)
                        .insert(key.clone(), v.clone());
                }
            }
            let selector = if c.label_selector.is_none() && c.match_label_keys.is_none() {
                LabelSelector::nothing()
            } else {
                LabelSelector::from_structured(&sel).unwrap_or_else(|_| LabelSelector::nothing())
            };
            Constraint {
                max_skew: i64::from(c.max_skew),
                topology_key: c.topology_key.clone(),
                selector,
                min_domains: i64::from(c.min_domains.unwrap_or(1)),
                honor_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
                honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
            }
        })
        .collect()
}

fn labels_match(sel: &LabelSelector, pod: &Pod) -> bool {
    let empty = Default::default();
    sel.matches_labels(pod.metadata.labels.as_ref().unwrap_or(&empty))
}

/// Whether an existing pod counts for the constraint: selected by it — an empty selector
/// `{}` counts no pod, as upstream's `countPodsMatchSelector`.
fn counted(sel: &LabelSelector, pod: &Pod) -> bool {
    !sel.is_empty() && labels_match(sel, pod)
}

fn counts_on(node: &NodeInfo, c: &Constraint, ns: &str) -> i64 {
    node.pods
        .iter()
        .filter(|p| {
            p.pod.metadata.namespace.as_deref().unwrap_or("default") == ns
                && p.pod.metadata.deletion_timestamp.is_none()
                && counted(&c.selector, &p.pod)
        })
        .count() as i64
}

/// Whether the node is one of the domains counted for `c`.
fn eligible(pod: &Pod, c: &Constraint, node: &NodeInfo) -> bool {
    if c.honor_affinity && !required_matches(pod, node) {
        return false;
    }
    if c.honor_taints {
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        let taints = node
            .node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.taints.as_deref())
            .unwrap_or_default();
        if taints.iter().any(|t| {
            (t.effect == "NoSchedule" || t.effect == "NoExecute")
                && !tolerations.iter().any(|tol| tolerates_taint(tol, t))
        }) {
            return false;
        }
    }
    true
}

fn has_all_keys(node: &NodeInfo, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| node.label(&c.topology_key).is_some())
}

/// Upstream's `nodeLabelsMatchSpreadConstraints`, for a Node object.
fn node_has_all_keys(node: &Node, cs: &[Constraint]) -> bool {
    cs.iter().all(|c| {
        node.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(&c.topology_key))
    })
}

#[derive(Debug, Clone)]
struct PreFilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: domain value → matching pods.
    counts: Vec<HashMap<String, i64>>,
}

impl PreFilterState {
    fn min_match(&self, i: usize) -> i64 {
        let c = &self.constraints[i];
        let domains = &self.counts[i];
        if (domains.len() as i64) < c.min_domains {
            return 0;
        }
        domains.values().copied().min().unwrap_or(0)
    }

    fn update(&mut self, pod: &Pod, other: &PodInfo, node: &NodeInfo, delta: i64) {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        if other.pod.metadata.namespace.as_deref().unwrap_or("default") != ns
            || !has_all_keys(node, &self.constraints)
        {
            return;
        }
        for (i, c) in self.constraints.iter().enumerate() {
            if !eligible(pod, c, node) || !counted(&c.selector, &other.pod) {
                continue;
            }
            if let Some(v) = node.label(&c.topology_key) {
                *self.counts[i].entry(v.to_string()).or_default() += delta;
            }
        }
    }
}

impl Plugin for PodTopologySpread {
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
        vec![
            ClusterEvent::new(
                EventResource::Pod,
                ActionType::ADD
                    | ActionType::UPDATE_POD_LABEL
                    | ActionType::UPDATE_POD_TOLERATION
                    | ActionType::DELETE,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD
                    | ActionType::DELETE
                    | ActionType::UPDATE_NODE_LABEL
                    | ActionType::UPDATE_NODE_TAINT,
            ),
        ]
    }
    /// Upstream's hints: an assigned pod of the namespace that a constraint selects added,
    /// deleted, or relabelled in or out of a selector; a node with every topology key
    /// added or deleted, or one whose keys, key values or taints changed.
    fn queueing_hint(&self, pod: &Pod, change: &Change<'_>) -> QueueingHint {
        let cs = constraints(pod, "DoNotSchedule");
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        match *change {
            Change::Pod { old, new } => {
                if old
                    .into_iter()
                    .chain(new)
                    .any(|p| p.metadata.namespace.as_deref().unwrap_or("default") != ns)
                {
                    return QueueingHint::Skip;
                }
                let selected = |p: &Pod| cs.iter().any(|c| labels_match(&c.selector, p));
                QueueingHint::when(match (old, new) {
                    (Some(o), Some(n)) => {
                        o.metadata.labels != n.metadata.labels
                            && cs.iter().any(|c| {
                                labels_match(&c.selector, o) != labels_match(&c.selector, n)
                            })
                    }
                    (None, Some(p)) | (Some(p), None) => selected(p),
                    (None, None) => false,
                })
            }
            Change::Node { old, new } => {
                let matching = |n: Option<&Node>| n.is_some_and(|n| node_has_all_keys(n, &cs));
                QueueingHint::when(match (old, new) {
                    (Some(o), Some(n)) => {
                        let value = |node: &Node, k: &str| {
                            node.metadata
                                .labels
                                .as_ref()
                                .and_then(|l| l.get(k).cloned())
                        };
                        let taints =
                            |node: &Node| node.spec.as_ref().and_then(|s| s.taints.clone());
                        matching(old) != matching(new)
                            || (matching(new)
                                && (cs.iter().any(|c| {
                                    value(o, &c.topology_key) != value(n, &c.topology_key)
                                }) || taints(o) != taints(n)))
                    }
                    (None, n) => matching(n),
                    (o, None) => matching(o),
                })
            }
        }
    }
    fn as_pre_score(self: Arc<Self>) -> Option<Arc<dyn PreScore>> {
        Some(self)
    }
    fn as_score(self: Arc<Self>) -> Option<Arc<dyn Score>> {
        Some(self)
    }
}

impl PreFilter for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, snapshot: &Snapshot) -> Status {
        let cs = constraints(pod, "DoNotSchedule");
        if cs.is_empty() {
            return Status::skip();
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut counts = vec![HashMap::new(); cs.len()];
        for node in snapshot.nodes().filter(|n| has_all_keys(n, &cs)) {
            for (i, c) in cs.iter().enumerate() {
                if !eligible(pod, c, node) {
                    continue;
                }
                let Some(v) = node.label(&c.topology_key) else {
                    continue;
                };
                *counts[i].entry(v.to_string()).or_default() += counts_on(node, c, ns);
            }
        }
        state.write(
            NAME,
            PreFilterState {
                constraints: cs,
                counts,
            },
        );
        Status::success()
    }
    fn add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        added: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(NAME) {
            s.update(pod, added, node, 1);
        }
        Status::success()
    }
    fn remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        removed: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
        if let Some(s) = state.read_mut::<PreFilterState>(NAME) {
            s.update(pod, removed, node, -1);
        }
        Status::success()
    }
}

impl Filter for PodTopologySpread {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(NAME) else {
            return Status::error("PodTopologySpread: no PreFilter state");
        };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.label(&c.topology_key) else {
                return Status::unresolvable(ERR_REASON_NODE_LABEL_NOT_MATCH);
            };
            let self_match = i64::from(labels_match(&c.selector, pod));
            let matching = s.counts[i].get(value).copied().unwrap_or(0);
            if matching + self_match - s.min_match(i) > c.max_skew {
                return Status::unschedulable(ERR_REASON_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

const SCORE_KEY: &str = "PreScorePodTopologySpread";

#[derive(Debug, Clone)]
struct ScoreState {
    constraints: Vec<Constraint>,
    ignored: HashSet<String>,
    pair_counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

impl PreScore for PodTopologySpread {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        let cs = constraints(pod, "ScheduleAnyway");
        if cs.is_empty() {
            return Status::skip();
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut ignored = HashSet::new();
        let mut values: Vec<HashSet<String>> = vec![HashSet::new(); cs.len()];
        for n in nodes {
            if !has_all_keys(n, &cs) {
                ignored.insert(n.name.clone());
                continue;
            }
            for (i, c) in cs.iter().enumerate() {
                if let Some(v) = n.label(&c.topology_key) {
                    values[i].insert(v.to_string());
                }
            }
        }
        let weights = cs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let size = if c.topology_key == HOSTNAME {
                    nodes.len() - ignored.len()
                } else {
                    values[i].len()
                };
                ((size + 2) as f64).ln()
            })
            .collect();
        let mut pair_counts = vec![HashMap::new(); cs.len()];
        for node in snapshot.nodes().filter(|n| has_all_keys(n, &cs)) {
            for (i, c) in cs.iter().enumerate() {
                if c.topology_key == HOSTNAME || !eligible(pod, c, node) {
                    continue;
                }
                let Some(v) = node.label(&c.topology_key) else {
                    continue;
                };
                if values[i].contains(v) {
                    *pair_counts[i].entry(v.to_string()).or_default() += counts_on(node, c, ns);
                }
            }
        }
        state.write(
            SCORE_KEY,
            ScoreState {
                constraints: cs,
                ignored,
                pair_counts,
                weights,
            },
        );
        Status::success()
    }
}

impl Score for PodTopologySpread {
    fn score(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let Some(s) = state.read::<ScoreState>(SCORE_KEY) else {
            return Ok(0);
        };
        if s.ignored.contains(&node.name) {
            return Ok(0);
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = node.label(&c.topology_key) else {
                continue;
            };
            let count = if c.topology_key == HOSTNAME {
                counts_on(node, c, ns)
            } else {
                s.pair_counts[i].get(v).copied().unwrap_or(0)
            };
            score += count as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        Ok(score.round() as i64)
    }
    fn normalize_score(
        &self,
        state: &CycleState,
        _pod: &Pod,
        scores: &mut [NodeScore<'_>],
    ) -> Status {
        let Some(s) = state.read::<ScoreState>(SCORE_KEY) else {
            return Status::success();
        };
        let counted = || {
            scores
                .iter()
                .filter(|n| !s.ignored.contains(n.name))
                .map(|n| n.score)
        };
        let min = counted().min().unwrap_or(0);
        let max = counted().max().unwrap_or(0);
        for n in scores.iter_mut() {
            n.score = if s.ignored.contains(n.name) {
                0
            } else if max == 0 {
                MAX_NODE_SCORE
            } else {
                MAX_NODE_SCORE * (max + min - n.score) / max
            };
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::framework::testing::{
        NodeBuilder, PodBuilder, prefilter_and_filter, prescore_and_score,
    };

    fn zones() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            NodeBuilder::new("a1").label("zone", "a").obj(),
            NodeBuilder::new("a2").label("zone", "a").obj(),
            NodeBuilder::new("b1").label("zone", "b").obj(),
            NodeBuilder::new("nozone").obj(),
        ]
    }

    fn web(name: &str, node: &str) -> Pod {
        PodBuilder::new(name).label("app", "web").node(node).obj()
    }

    #[test]
    fn filter_table() {
        use Code::*;
        let pod = |skew| {
            PodBuilder::new("p").label("app", "web").spread(
                skew,
                "zone",
                "DoNotSchedule",
                &[("app", "web")],
            )
        };
        let cases: Vec<(&str, PodBuilder, Vec<Pod>, Vec<Code>)> = vec![
            (
                "empty cluster",
                pod(1),
                vec![],
                vec![Success, Success, Success, UnschedulableAndUnresolvable],
            ),
            (
                "a has 1, b has 0: only b",
                pod(1),
                vec![web("w1", "a1")],
                vec![
                    Unschedulable,
                    Unschedulable,
                    Success,
                    UnschedulableAndUnresolvable,
                ],
            ),
            (
                "maxSkew 2 allows a",
                pod(2),
                vec![web("w1", "a1")],
                vec![Success, Success, Success, UnschedulableAndUnresolvable],
            ),
            (
                "balanced: anywhere",
                pod(1),
                vec![web("w1", "a1"), web("w2", "b1")],
                vec![Success, Success, Success, UnschedulableAndUnresolvable],
            ),
            (
                "other labels do not count",
                pod(1),
                vec![PodBuilder::new("x").label("app", "db").node("a1").obj()],
                vec![Success, Success, Success, UnschedulableAndUnresolvable],
            ),
            (
                "ScheduleAnyway does not filter",
                PodBuilder::new("p").spread(1, "zone", "ScheduleAnyway", &[("app", "web")]),
                vec![web("w1", "a1")],
                vec![Success; 4],
            ),
        ];
        for (name, pod, existing, want) in cases {
            let snapshot = Snapshot::from_objects(zones(), existing);
            let got: Vec<Code> =
                prefilter_and_filter(Arc::new(PodTopologySpread), &pod.obj(), &snapshot)
                    .into_iter()
                    .map(|s| s.code())
                    .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn node_affinity_policy_limits_the_domains() {
        // Only zone a is eligible (nodeSelector): b's zero does not count as the minimum.
        let snapshot = Snapshot::from_objects(zones(), vec![web("w1", "a1")]);
        let pod = PodBuilder::new("p")
            .label("app", "web")
            .node_selector("zone", "a")
            .spread(1, "zone", "DoNotSchedule", &[("app", "web")])
            .obj();
        let got = prefilter_and_filter(Arc::new(PodTopologySpread), &pod, &snapshot);
        assert_eq!(got[0].code(), Code::Success);
    }

    /// PodTopologySpread's Filter codes for a pod with this constraint, on zones() nodes
    /// a1, a2, b1 (and nozone, left out).
    fn zone_filter(
        nodes: Vec<Node>,
        pod: PodBuilder,
        constraint: serde_json::Value,
        existing: Vec<Pod>,
    ) -> Vec<Code> {
        let snapshot = Snapshot::from_objects(nodes, existing);
        let pod = pod.spread_json(constraint).obj();
        let got = prefilter_and_filter(Arc::new(PodTopologySpread), &pod, &snapshot);
        got.into_iter().take(3).map(|s| s.code()).collect()
    }

    #[test]
    fn min_domains_makes_missing_domains_count_as_empty() {
        use Code::*;
        let c = |min: i32| {
            serde_json::json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}, "minDomains": min})
        };
        let pod = || PodBuilder::new("p").label("app", "web");
        let existing = || vec![web("w1", "a1"), web("w2", "b1")];
        assert_eq!(
            zone_filter(zones(), pod(), c(1), existing()),
            [Success, Success, Success]
        );
        // 2 domains < minDomains 3: the global minimum is 0, so 1 + 1 − 0 > 1 everywhere.
        assert_eq!(
            zone_filter(zones(), pod(), c(3), existing()),
            [Unschedulable, Unschedulable, Unschedulable]
        );
    }

    #[test]
    fn node_taints_policy_honor_leaves_out_tainted_nodes() {
        use Code::*;
        let mut nodes = zones();
        nodes[2] = NodeBuilder::new("b1")
            .label("zone", "b")
            .taint("dedicated", "x", "NoSchedule")
            .obj();
        let c = |policy: &str| {
            serde_json::json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}, "nodeTaintsPolicy": policy})
        };
        let pod = || PodBuilder::new("p").label("app", "web");
        // Ignore (default): zone b counts with 0 pods, a's 1 + 1 − 0 > 1.
        assert_eq!(
            zone_filter(nodes.clone(), pod(), c("Ignore"), vec![web("w1", "a1")])[..2],
            [Unschedulable, Unschedulable]
        );
        // Honor: b's only node is tainted, so only zone a counts: 1 + 1 − 1 = 1.
        assert_eq!(
            zone_filter(nodes, pod(), c("Honor"), vec![web("w1", "a1")])[..2],
            [Success, Success]
        );
    }

    #[test]
    fn match_label_keys_narrow_the_selector_to_the_pods_own_values() {
        use Code::*;
        let v1 = |n: &str, node: &str| {
            PodBuilder::new(n)
                .label("app", "web")
                .label("version", "v1")
                .node(node)
                .obj()
        };
        let existing = || vec![v1("o1", "a1"), v1("o2", "a2")];
        let c = |keys: serde_json::Value| {
            serde_json::json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "web"}}, "matchLabelKeys": keys})
        };
        let pod = || {
            PodBuilder::new("p")
                .label("app", "web")
                .label("version", "v2")
        };
        assert_eq!(
            zone_filter(zones(), pod(), c(serde_json::json!([])), existing()),
            [Unschedulable, Unschedulable, Success]
        );
        // Only version=v2 pods count: none yet, anywhere goes.
        assert_eq!(
            zone_filter(
                zones(),
                pod(),
                c(serde_json::json!(["version"])),
                existing()
            ),
            [Success, Success, Success]
        );
    }

    #[test]
    fn an_empty_selector_counts_no_pods() {
        use Code::*;
        let c = serde_json::json!({"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {}});
        assert_eq!(
            zone_filter(
                zones(),
                PodBuilder::new("p"),
                c,
                vec![web("w1", "a1"), web("w2", "a2")]
            ),
            [Success, Success, Success]
        );
    }

    #[test]
    fn score_prefers_emptier_domains() {
        let snapshot = Snapshot::from_objects(zones(), vec![web("w1", "a1"), web("w2", "a2")]);
        let pod = PodBuilder::new("p")
            .label("app", "web")
            .spread(1, "zone", "ScheduleAnyway", &[("app", "web")])
            .obj();
        // 2 zones → weight ln 4 = 1.386; a: 2 × 1.386 = 2.77 → 3; b: 0 → 0; nozone ignored.
        // Normalised: a: 100 × (3 + 0 − 3) / 3 = 0; b: 100; nozone 0.
        assert_eq!(
            prescore_and_score(Arc::new(PodTopologySpread), &pod, &snapshot),
            vec![0, 0, 100, 0]
        );
    }
}
