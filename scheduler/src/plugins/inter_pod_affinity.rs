//! InterPodAffinity: pods placed relative to other pods by topology domain (a node label,
//! e.g. `kubernetes.io/hostname` or `topology.kubernetes.io/zone`).
//!
//! Filter (required terms): the incoming pod's affinity needs a matching pod in the
//! node's domain (or, when no pod matches anywhere, the pod matching its own terms — the
//! first replica); its anti-affinity needs no matching pod there; and no existing pod's
//! anti-affinity may match the incoming pod in that domain. Score (preferred terms, and
//! existing pods' terms about the incoming pod): per domain, + weight for each matching
//! affinity and − weight for each anti-affinity; min–max normalised to 0..=100.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod, PodAffinityTerm, WeightedPodAffinityTerm};
use kubesim_apimachinery::selector::LabelSelector;

use crate::framework::{
    ActionType, Change, ClusterEvent, Code, CycleState, EventResource, Filter, MAX_NODE_SCORE,
    NodeInfo, NodeScore, Plugin, PodInfo, PreFilter, PreScore, QueueingHint, Score, Snapshot,
    Status,
};

pub const NAME: &str = "InterPodAffinity";
pub const ERR_REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";
pub const ERR_REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Weight of an existing pod's *required* affinity towards the incoming pod in scoring
/// (`hardPodAffinityWeight`, default 1).
pub const HARD_POD_AFFINITY_WEIGHT: i64 = 1;

#[derive(Debug, Default)]
pub struct InterPodAffinity;

/// A parsed affinity term.
#[derive(Debug, Clone)]
pub struct Term {
    namespaces: HashSet<String>,
    all_namespaces: bool,
    selector: LabelSelector,
    topology_key: String,
    weight: i64,
}

impl Term {
    fn parse(t: &PodAffinityTerm, owner_ns: &str, weight: i64) -> Term {
        let mut namespaces: HashSet<String> = t.namespaces.iter().flatten().cloned().collect();
        // An empty namespaceSelector means every namespace; without one, and without a
        // list, the owner's namespace. (Selecting namespaces by label is not supported:
        // such a selector adds no namespaces.)
        let all_namespaces = t.namespace_selector.as_ref().is_some_and(|s| {
            s.match_labels.as_ref().is_none_or(|m| m.is_empty())
                && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
        });
        if namespaces.is_empty() && t.namespace_selector.is_none() {
            namespaces.insert(owner_ns.to_string());
        }
        let selector = LabelSelector::from_structured_opt(t.label_selector.as_ref())
            .unwrap_or_else(|_| LabelSelector::nothing());
        Term {
            namespaces,
            all_namespaces,
            selector,
            topology_key: t.topology_key.clone(),
            weight,
        }
    }

    /// Whether `pod` is one of the pods this term selects.
    pub fn matches(&self, pod: &Pod) -> bool {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        if !self.all_namespaces && !self.namespaces.contains(ns) {
            return false;
        }
        let empty = Default::default();
        self.selector
            .matches_labels(pod.metadata.labels.as_ref().unwrap_or(&empty))
    }
}

fn ns(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

/// The pod's terms: (required affinity, required anti-affinity, preferred affinity,
/// preferred anti-affinity).
#[derive(Debug, Clone, Default)]
pub struct Terms {
    pub affinity: Vec<Term>,
    pub anti_affinity: Vec<Term>,
    pub preferred_affinity: Vec<Term>,
    pub preferred_anti_affinity: Vec<Term>,
}

pub fn terms(pod: &Pod) -> Terms {
    let Some(a) = pod.spec.as_ref().and_then(|s| s.affinity.as_ref()) else {
        return Terms::default();
    };
    let own = ns(pod);
    let req = |v: Option<&Vec<PodAffinityTerm>>| {
        v.into_iter()
            .flatten()
            .map(|t| Term::parse(t, own, 0))
            .collect::<Vec<_>>()
    };
    let pref = |v: Option<&Vec<WeightedPodAffinityTerm>>| {
        v.into_iter()
            .flatten()
            .map(|t| Term::parse(&t.pod_affinity_term, own, i64::from(t.weight)))
            .collect::<Vec<_>>()
    };
    let pa = a.pod_affinity.as_ref();
    let paa = a.pod_anti_affinity.as_ref();
    Terms {
        affinity: req(pa.and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_ref()
        })),
        anti_affinity: req(paa.and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
                .as_ref()
        })),
        preferred_affinity: pref(pa.and_then(|p| {
            p.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })),
        preferred_anti_affinity: pref(paa.and_then(|p| {
            p.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })),
    }
}

/// Upstream's `podMatchesAllAffinityTerms`: false for no terms.
fn matches_all(terms: &[Term], pod: &Pod) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod))
}

type Pair = (String, String);

#[derive(Debug, Clone, Default)]
struct PreFilterState {
    terms: Terms,
    existing_anti_affinity_counts: HashMap<Pair, i64>,
    affinity_counts: HashMap<Pair, i64>,
    anti_affinity_counts: HashMap<Pair, i64>,
}

impl PreFilterState {
    /// Count `existing` on `node` into the state (`delta` +1 to add, −1 to remove).
    fn update(&mut self, pod: &Pod, existing: &PodInfo, node: &NodeInfo, delta: i64) {
        let bump = |map: &mut HashMap<Pair, i64>, key: &str| {
            if let Some(v) = node.label(key) {
                *map.entry((key.to_string(), v.to_string())).or_default() += delta;
            }
        };
        if existing.has_required_anti_affinity {
            for t in terms(&existing.pod).anti_affinity {
                if t.matches(pod) {
                    bump(&mut self.existing_anti_affinity_counts, &t.topology_key);
                }
            }
        }
        if !self.terms.affinity.is_empty()
            && self.terms.affinity.iter().all(|t| t.matches(&existing.pod))
        {
            for t in &self.terms.affinity {
                bump(&mut self.affinity_counts, &t.topology_key);
            }
        }
        for t in &self.terms.anti_affinity {
            if t.matches(&existing.pod) {
                bump(&mut self.anti_affinity_counts, &t.topology_key);
            }
        }
    }
}

impl Plugin for InterPodAffinity {
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
                ActionType::ADD | ActionType::UPDATE_POD_LABEL | ActionType::DELETE,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_LABEL | ActionType::UPDATE_NODE_TAINT,
            ),
        ]
    }
    /// Upstream's hints: an assigned pod that now matches all the pod's affinity terms
    /// (added or relabelled), or that matched all its anti-affinity terms and no longer
    /// does (relabelled or deleted), or — deleted — whose own anti-affinity rejected the
    /// pod; a node whose value for one of the pod's topology keys appeared or changed.
    fn queueing_hint(&self, pod: &Pod, change: &Change<'_>) -> QueueingHint {
        let t = terms(pod);
        match *change {
            Change::Pod { old, new } => QueueingHint::when(match (old, new) {
                (Some(o), Some(n)) => {
                    (!matches_all(&t.affinity, o) && matches_all(&t.affinity, n))
                        || (matches_all(&t.anti_affinity, o) && !matches_all(&t.anti_affinity, n))
                }
                (None, Some(n)) => matches_all(&t.affinity, n),
                (Some(o), None) => {
                    matches_all(&t.anti_affinity, o)
                        || terms(o).anti_affinity.iter().any(|term| term.matches(pod))
                }
                (None, None) => false,
            }),
            Change::Node { old, new } => {
                let value = |n: Option<&Node>, k: &str| {
                    n.and_then(|n| n.metadata.labels.as_ref())
                        .and_then(|l| l.get(k))
                        .cloned()
                };
                let keys = t
                    .affinity
                    .iter()
                    .chain(&t.anti_affinity)
                    .map(|term| term.topology_key.as_str());
                QueueingHint::when(match old {
                    None => keys.into_iter().any(|k| value(new, k).is_some()),
                    Some(_) => keys.into_iter().any(|k| value(old, k) != value(new, k)),
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

impl PreFilter for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, snapshot: &Snapshot) -> Status {
        let t = terms(pod);
        let any_anti = snapshot
            .nodes_with_affinity_pods()
            .any(|n| n.pods_with_required_anti_affinity > 0);
        if t.affinity.is_empty() && t.anti_affinity.is_empty() && !any_anti {
            return Status::skip();
        }
        let mut s = PreFilterState {
            terms: t,
            ..Default::default()
        };
        let scan_all = !s.terms.affinity.is_empty() || !s.terms.anti_affinity.is_empty();
        if scan_all {
            for node in snapshot.nodes() {
                for p in &node.pods {
                    s.update(pod, p, node, 1);
                }
            }
        } else {
            for node in snapshot.nodes_with_affinity_pods() {
                for p in node.pods.iter().filter(|p| p.has_required_anti_affinity) {
                    s.update(pod, p, node, 1);
                }
            }
        }
        state.write(NAME, s);
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

impl Filter for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<PreFilterState>(NAME) else {
            return Status::error("InterPodAffinity: no PreFilter state");
        };
        let count = |map: &HashMap<Pair, i64>, key: &str| {
            node.label(key).map(|v| {
                map.get(&(key.to_string(), v.to_string()))
                    .copied()
                    .unwrap_or(0)
            })
        };
        // Required affinity.
        if !s.terms.affinity.is_empty() {
            let mut pods_exist = true;
            for t in &s.terms.affinity {
                match count(&s.affinity_counts, &t.topology_key) {
                    None => return Status::unresolvable(ERR_REASON_AFFINITY),
                    Some(c) if c <= 0 => pods_exist = false,
                    _ => {}
                }
            }
            if !pods_exist {
                let none_anywhere = s.affinity_counts.values().all(|&c| c <= 0);
                let self_match = s.terms.affinity.iter().all(|t| t.matches(pod));
                if !(none_anywhere && self_match) {
                    return Status::unresolvable(ERR_REASON_AFFINITY);
                }
            }
        }
        // Required anti-affinity of the incoming pod.
        for t in &s.terms.anti_affinity {
            if count(&s.anti_affinity_counts, &t.topology_key).is_some_and(|c| c > 0) {
                return Status::unschedulable(ERR_REASON_ANTI_AFFINITY);
            }
        }
        // Existing pods' anti-affinity towards the incoming pod.
        if !s.existing_anti_affinity_counts.is_empty() {
            for (k, v) in node.labels().into_iter().flatten() {
                if s.existing_anti_affinity_counts
                    .get(&(k.clone(), v.clone()))
                    .is_some_and(|&c| c > 0)
                {
                    return Status::unschedulable(ERR_REASON_EXISTING_ANTI_AFFINITY);
                }
            }
        }
        Status::new(Code::Success, Vec::<String>::new())
    }
}

const SCORE_KEY: &str = "PreScoreInterPodAffinity";

#[derive(Debug, Clone, Default)]
struct ScoreState {
    /// topology key → value → score.
    topology_score: HashMap<String, HashMap<String, i64>>,
}

impl PreScore for InterPodAffinity {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        let t = terms(pod);
        let has_preferred =
            !t.preferred_affinity.is_empty() || !t.preferred_anti_affinity.is_empty();
        if !has_preferred && snapshot.nodes_with_affinity_pods().next().is_none() {
            return Status::skip();
        }
        let mut s = ScoreState::default();
        let mut add = |key: &str, node: &NodeInfo, w: i64| {
            if let Some(v) = node.label(key) {
                *s.topology_score
                    .entry(key.to_string())
                    .or_default()
                    .entry(v.to_string())
                    .or_default() += w;
            }
        };
        let nodes: Vec<&NodeInfo> = if has_preferred {
            snapshot.nodes().collect()
        } else {
            snapshot.nodes_with_affinity_pods().collect()
        };
        for node in nodes {
            for existing in &node.pods {
                for term in &t.preferred_affinity {
                    if term.matches(&existing.pod) {
                        add(&term.topology_key, node, term.weight);
                    }
                }
                for term in &t.preferred_anti_affinity {
                    if term.matches(&existing.pod) {
                        add(&term.topology_key, node, -term.weight);
                    }
                }
                if existing.has_affinity {
                    let et = terms(&existing.pod);
                    for term in &et.affinity {
                        if term.matches(pod) {
                            add(&term.topology_key, node, HARD_POD_AFFINITY_WEIGHT);
                        }
                    }
                    for term in &et.preferred_affinity {
                        if term.matches(pod) {
                            add(&term.topology_key, node, term.weight);
                        }
                    }
                    for term in &et.preferred_anti_affinity {
                        if term.matches(pod) {
                            add(&term.topology_key, node, -term.weight);
                        }
                    }
                }
            }
        }
        if s.topology_score.is_empty() {
            return Status::skip();
        }
        state.write(SCORE_KEY, s);
        Status::success()
    }
}

impl Score for InterPodAffinity {
    fn score(
        &self,
        state: &CycleState,
        _pod: &Pod,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let Some(s) = state.read::<ScoreState>(SCORE_KEY) else {
            return Ok(0);
        };
        Ok(s.topology_score
            .iter()
            .filter_map(|(k, values)| node.label(k).and_then(|v| values.get(v)))
            .sum())
    }
    fn normalize_score(
        &self,
        state: &CycleState,
        _pod: &Pod,
        scores: &mut [NodeScore<'_>],
    ) -> Status {
        if state.read::<ScoreState>(SCORE_KEY).is_none() {
            return Status::success();
        }
        let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
        let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            // As upstream: the fraction first, then × 100 (the float rounding differs).
            s.score = if diff > 0 {
                (MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)) as i64
            } else {
                0
            };
        }
        Status::success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{
        NodeBuilder, PodBuilder, prefilter_and_filter, prescore_and_score,
    };

    const HOST: &str = "kubernetes.io/hostname";
    const ZONE: &str = "zone";

    fn nodes() -> Vec<k8s_openapi::api::core::v1::Node> {
        vec![
            NodeBuilder::new("n1").label(ZONE, "a").obj(),
            NodeBuilder::new("n2").label(ZONE, "a").obj(),
            NodeBuilder::new("n3").label(ZONE, "b").obj(),
        ]
    }

    fn codes(v: Vec<Status>) -> Vec<Code> {
        v.into_iter().map(|s| s.code()).collect()
    }

    #[test]
    fn filter_table() {
        use Code::*;
        let web_on_n1 = || PodBuilder::new("w").label("app", "web").node("n1").obj();
        let cases: Vec<(&str, PodBuilder, Vec<Pod>, Vec<Code>)> = vec![
            (
                "no terms",
                PodBuilder::new("p"),
                vec![web_on_n1()],
                vec![Success, Success, Success],
            ),
            (
                "anti-affinity by host",
                PodBuilder::new("p")
                    .label("app", "web")
                    .pod_anti_affinity(HOST, &[("app", "web")]),
                vec![web_on_n1()],
                vec![Unschedulable, Success, Success],
            ),
            (
                "anti-affinity by zone",
                PodBuilder::new("p").pod_anti_affinity(ZONE, &[("app", "web")]),
                vec![web_on_n1()],
                vec![Unschedulable, Unschedulable, Success],
            ),
            (
                "affinity by zone",
                PodBuilder::new("p").pod_affinity(ZONE, &[("app", "web")]),
                vec![web_on_n1()],
                vec![Success, Success, UnschedulableAndUnresolvable],
            ),
            (
                "affinity with no match anywhere, pod matches itself: first replica goes anywhere",
                PodBuilder::new("p")
                    .label("app", "db")
                    .pod_affinity(ZONE, &[("app", "db")]),
                vec![web_on_n1()],
                vec![Success, Success, Success],
            ),
            (
                "affinity with no match anywhere",
                PodBuilder::new("p").pod_affinity(ZONE, &[("app", "db")]),
                vec![web_on_n1()],
                vec![
                    UnschedulableAndUnresolvable,
                    UnschedulableAndUnresolvable,
                    UnschedulableAndUnresolvable,
                ],
            ),
            (
                "existing pod's anti-affinity",
                PodBuilder::new("p").label("app", "web"),
                vec![
                    PodBuilder::new("e")
                        .node("n3")
                        .pod_anti_affinity(ZONE, &[("app", "web")])
                        .obj(),
                ],
                vec![Success, Success, Unschedulable],
            ),
            (
                "other namespace does not match",
                PodBuilder::new("p").pod_anti_affinity(HOST, &[("app", "web")]),
                vec![
                    PodBuilder::new("w")
                        .namespace("other")
                        .label("app", "web")
                        .node("n1")
                        .obj(),
                ],
                vec![Success, Success, Success],
            ),
        ];
        for (name, pod, existing, want) in cases {
            let snapshot = Snapshot::from_objects(nodes(), existing);
            assert_eq!(
                codes(prefilter_and_filter(
                    Arc::new(InterPodAffinity),
                    &pod.obj(),
                    &snapshot
                )),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn filter_reasons() {
        let snapshot = Snapshot::from_objects(
            nodes(),
            vec![PodBuilder::new("w").label("app", "web").node("n1").obj()],
        );
        let s = prefilter_and_filter(
            Arc::new(InterPodAffinity),
            &PodBuilder::new("p")
                .pod_anti_affinity(HOST, &[("app", "web")])
                .obj(),
            &snapshot,
        );
        assert_eq!(s[0].reasons(), [ERR_REASON_ANTI_AFFINITY]);
        let s = prefilter_and_filter(
            Arc::new(InterPodAffinity),
            &PodBuilder::new("p")
                .pod_affinity(ZONE, &[("app", "web")])
                .obj(),
            &snapshot,
        );
        assert_eq!(s[2].reasons(), [ERR_REASON_AFFINITY]);
    }

    #[test]
    fn normalisation_takes_the_fraction_first_as_upstream() {
        let mut scores: Vec<NodeScore> = [0, 29, 100]
            .iter()
            .map(|&s| NodeScore { name: "", score: s })
            .collect();
        let mut state = CycleState::new();
        state.write(SCORE_KEY, ScoreState::default());
        let _ = InterPodAffinity.normalize_score(&state, &PodBuilder::new("p").obj(), &mut scores);
        // 100 × (29 / 100) = 28.999… → 28 (100 × 29 / 100 would give 29).
        assert_eq!(
            scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            [0, 28, 100]
        );
    }

    #[test]
    fn pre_filter_extensions_add_and_remove_pods() {
        // Anti-affinity to app=web by host: n1's web pod blocks n1; removing it (as
        // preemption's what-if does) frees n1, adding one to n2 blocks n2.
        let web = PodBuilder::new("w").label("app", "web").node("n1").info();
        let snapshot = Snapshot::from_objects(nodes(), vec![(*web.pod).clone()]);
        let pod = PodBuilder::new("p")
            .pod_anti_affinity(HOST, &[("app", "web")])
            .obj();
        let mut state = CycleState::new();
        assert!(
            InterPodAffinity
                .pre_filter(&mut state, &pod, &snapshot)
                .is_success()
        );
        let n1 = snapshot.get("n1").unwrap();
        let n2 = snapshot.get("n2").unwrap();
        assert_eq!(
            InterPodAffinity.filter(&state, &pod, n1).code(),
            Code::Unschedulable
        );
        let _ = InterPodAffinity.remove_pod(&mut state, &pod, &web, n1);
        assert_eq!(
            InterPodAffinity.filter(&state, &pod, n1).code(),
            Code::Success
        );
        let other = PodBuilder::new("w2").label("app", "web").node("n2").info();
        let _ = InterPodAffinity.add_pod(&mut state, &pod, &other, n2);
        assert_eq!(
            InterPodAffinity.filter(&state, &pod, n2).code(),
            Code::Unschedulable
        );
        // A pod whose own anti-affinity rejects the incoming pod counts too (PreFilter
        // runs because some pod has required anti-affinity).
        let hater = PodBuilder::new("h")
            .node("n3")
            .pod_anti_affinity(ZONE, &[("app", "p")])
            .info();
        let pod = PodBuilder::new("p").label("app", "p").obj();
        let mut state = CycleState::new();
        let unrelated = PodBuilder::new("u")
            .node("n1")
            .pod_anti_affinity(HOST, &[("app", "zzz")])
            .obj();
        let snapshot = Snapshot::from_objects(nodes(), vec![unrelated]);
        assert!(
            InterPodAffinity
                .pre_filter(&mut state, &pod, &snapshot)
                .is_success()
        );
        let n3 = snapshot.get("n3").unwrap();
        let _ = InterPodAffinity.add_pod(&mut state, &pod, &hater, n3);
        assert_eq!(
            InterPodAffinity.filter(&state, &pod, n3).code(),
            Code::Unschedulable
        );
    }

    #[test]
    fn score_prefers_and_avoids_then_min_max_normalises() {
        let existing = vec![
            PodBuilder::new("w").label("app", "web").node("n1").obj(),
            PodBuilder::new("c").label("app", "cache").node("n3").obj(),
        ];
        let snapshot = Snapshot::from_objects(nodes(), existing);
        let pod = PodBuilder::new("p")
            .preferred_pod_affinity(10, ZONE, &[("app", "web")])
            .preferred_pod_anti_affinity(5, HOST, &[("app", "cache")])
            .obj();
        // zone a: +10 (n1, n2); host n3: −5 → raw 10, 10, −5 → 100, 100, 0.
        assert_eq!(
            prescore_and_score(Arc::new(InterPodAffinity), &pod, &snapshot),
            vec![100, 100, 0]
        );
        // Existing pods' preferred anti-affinity against the incoming pod counts too.
        let existing = vec![
            PodBuilder::new("e")
                .node("n1")
                .preferred_pod_anti_affinity(7, HOST, &[("app", "p")])
                .obj(),
        ];
        let snapshot = Snapshot::from_objects(nodes(), existing);
        let pod = PodBuilder::new("p").label("app", "p").obj();
        assert_eq!(
            prescore_and_score(Arc::new(InterPodAffinity), &pod, &snapshot),
            vec![0, 100, 100]
        );
    }
}
