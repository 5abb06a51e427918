//! NodeResourcesFit: Filter checks the pod's requests (see
//! [`crate::framework::resource::pod_requests`]) and the pod count against what is left
//! of the node's allocatable; Score rates the node by a scoring strategy over weighted
//! resources (default: LeastAllocated over cpu and memory, weight 1 each).
//!
//! Worked example (LeastAllocated): node 4 CPUs / 8 GiB with 1 CPU / 2 GiB requested, pod
//! asks 1 CPU / 2 GiB. cpu: (4000 − 2000) × 100 / 4000 = 50; memory: (8 − 4) × 100 / 8 = 50;
//! score (50 + 50) / 2 = 50. Requests for scoring count a container without a request as
//! 100m CPU / 200 MiB.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Deserialize;

use crate::framework::resource::{self, Resource, pod_requests};
use crate::framework::{
    ActionType, Change, ClusterEvent, Code, CycleState, EventResource, Filter, MAX_NODE_SCORE,
    NodeInfo, Plugin, PreFilter, PreScore, QueueingHint, Score, Snapshot, Status,
};

pub const NAME: &str = "NodeResourcesFit";
pub const ERR_REASON_TOO_MANY_PODS: &str = "Too many pods";

/// `NodeResourcesFitArgs` (the part kubesim reads).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    #[serde(default)]
    pub scoring_strategy: ScoringStrategy,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScoringStrategy {
    #[serde(rename = "type", default = "least_allocated")]
    pub kind: String,
    #[serde(default = "default_resources")]
    pub resources: Vec<ResourceSpec>,
    #[serde(default)]
    pub requested_to_capacity_ratio: Option<RequestedToCapacityRatio>,
}

impl Default for ScoringStrategy {
    fn default() -> Self {
        ScoringStrategy {
            kind: least_allocated(),
            resources: default_resources(),
            requested_to_capacity_ratio: None,
        }
    }
}

fn least_allocated() -> String {
    "LeastAllocated".to_string()
}

/// cpu and memory, weight 1 each: upstream's default.
pub fn default_resources() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec {
            name: "cpu".into(),
            weight: 1,
        },
        ResourceSpec {
            name: "memory".into(),
            weight: 1,
        },
    ]
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct ResourceSpec {
    pub name: String,
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RequestedToCapacityRatio {
    pub shape: Vec<UtilizationShapePoint>,
}

/// Utilization 0..=100 → score 0..=10 (scaled ×10 to 0..=100).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct UtilizationShapePoint {
    pub utilization: i64,
    pub score: i64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error(
        "scoringStrategy.type {0:?}: must be LeastAllocated, MostAllocated or RequestedToCapacityRatio"
    )]
    UnknownStrategy(String),
    #[error(
        "scoringStrategy.requestedToCapacityRatio.shape: required for RequestedToCapacityRatio, utilization increasing 0..=100, score 0..=10"
    )]
    InvalidShape,
    #[error("scoringStrategy.resources: weight of {0} must be 1..=100")]
    InvalidWeight(String),
}

#[derive(Debug, Clone)]
enum Strategy {
    LeastAllocated,
    MostAllocated,
    RequestedToCapacityRatio(Vec<UtilizationShapePoint>),
}

#[derive(Debug)]
pub struct NodeResourcesFit {
    strategy: Strategy,
    /// The scored resources with their weights.
    resources: Vec<(resource::Name, i64)>,
}

/// The scored resources, names resolved.
pub fn resolve(specs: &[ResourceSpec]) -> Vec<(resource::Name, i64)> {
    specs
        .iter()
        .map(|s| (resource::Name::new(&s.name), s.weight))
        .collect()
}

impl NodeResourcesFit {
    pub fn new(args: Args) -> Result<Self, Error> {
        let s = args.scoring_strategy;
        for r in &s.resources {
            if !(1..=100).contains(&r.weight) {
                return Err(Error::InvalidWeight(r.name.clone()));
            }
        }
        let strategy = match s.kind.as_str() {
            "LeastAllocated" => Strategy::LeastAllocated,
            "MostAllocated" => Strategy::MostAllocated,
            "RequestedToCapacityRatio" => {
                let shape = s
                    .requested_to_capacity_ratio
                    .map(|r| r.shape)
                    .unwrap_or_default();
                let increasing = shape
                    .windows(2)
                    .all(|w| w[0].utilization < w[1].utilization);
                let in_range = shape
                    .iter()
                    .all(|p| (0..=100).contains(&p.utilization) && (0..=10).contains(&p.score));
                if shape.is_empty() || !increasing || !in_range {
                    return Err(Error::InvalidShape);
                }
                Strategy::RequestedToCapacityRatio(shape)
            }
            other => return Err(Error::UnknownStrategy(other.to_string())),
        };
        Ok(NodeResourcesFit {
            strategy,
            resources: resolve(&s.resources),
        })
    }
}

impl Default for NodeResourcesFit {
    fn default() -> Self {
        NodeResourcesFit {
            strategy: Strategy::LeastAllocated,
            resources: resolve(&default_resources()),
        }
    }
}

#[derive(Debug, Clone)]
struct PreFilterState(Resource);

#[derive(Debug, Clone)]
struct PreScoreState(Vec<i64>);

const PRE_SCORE_KEY: &str = "PreScoreNodeResourcesFit";

impl Plugin for NodeResourcesFit {
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
                ActionType::DELETE | ActionType::UPDATE_POD_SCALE_DOWN,
            ),
            ClusterEvent::new(
                EventResource::Node,
                ActionType::ADD | ActionType::UPDATE_NODE_ALLOCATABLE,
            ),
        ]
    }
    /// Upstream's `isSchedulableAfterPodEvent` and `isSchedulableAfterNodeChange`.
    fn queueing_hint(&self, pod: &Pod, change: &Change<'_>) -> QueueingHint {
        match *change {
            // Any assigned pod deleted frees resources.
            Change::Pod { new: None, .. } => QueueingHint::Queue,
            Change::Pod {
                old: Some(old),
                new: Some(new),
            } => QueueingHint::when(scaled_down_for(pod, old, new)),
            Change::Pod { .. } => QueueingHint::Skip,
            Change::Node { old, new } => {
                let Some(new) = new else {
                    return QueueingHint::Skip;
                };
                let fits_empty = insufficient_resources(
                    &pod_requests(pod, false),
                    &NodeInfo::with_node(Arc::new(new.clone())),
                )
                .is_empty();
                QueueingHint::when(
                    fits_empty
                        && old.is_none_or(|old| requested_resources_increased(pod, old, new)),
                )
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

impl PreFilter for NodeResourcesFit {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, _snapshot: &Snapshot) -> Status {
        state.write(NAME, PreFilterState(pod_requests(pod, false)));
        Status::success()
    }
}

/// One resource the node lacks for the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientResource {
    pub reason: String,
    /// The pod asks for more than the node's whole allocatable: no preemption helps.
    pub unresolvable: bool,
}

/// Every resource the node lacks for a pod requesting `req` (upstream's `fitsRequest`).
pub fn insufficient_resources(req: &Resource, node: &NodeInfo) -> Vec<InsufficientResource> {
    let mut out = Vec::new();
    let alloc = &node.allocatable;
    if node.pods.len() as i64 + 1 > alloc.allowed_pod_number {
        out.push(InsufficientResource {
            reason: ERR_REASON_TOO_MANY_PODS.into(),
            unresolvable: false,
        });
    }
    let mut check = |name: &str, want: i64, have: i64, used: i64| {
        if want > 0 && want > have - used {
            out.push(InsufficientResource {
                reason: format!("Insufficient {name}"),
                unresolvable: want > have,
            });
        }
    };
    check(
        "cpu",
        req.milli_cpu,
        alloc.milli_cpu,
        node.requested.milli_cpu,
    );
    check("memory", req.memory, alloc.memory, node.requested.memory);
    check(
        "ephemeral-storage",
        req.ephemeral_storage,
        alloc.ephemeral_storage,
        node.requested.ephemeral_storage,
    );
    for (name, &want) in &req.scalar {
        check(name, want, alloc.get(name), node.requested.get(name));
    }
    out
}

/// A pod's requests went down for a resource `target` asks for.
fn scaled_down_for(target: &Pod, old: &Pod, new: &Pod) -> bool {
    let (want, o, n) = (
        pod_requests(target, false),
        pod_requests(old, false),
        pod_requests(new, false),
    );
    (want.milli_cpu > 0 && n.milli_cpu < o.milli_cpu)
        || (want.memory > 0 && n.memory < o.memory)
        || (want.ephemeral_storage > 0 && n.ephemeral_storage < o.ephemeral_storage)
        || want
            .scalar
            .iter()
            .any(|(k, v)| *v > 0 && n.get(k) < o.get(k))
}

/// Upstream's `haveAnyRequestedResourcesIncreased`: more pods allowed, or more of a
/// resource the pod asks for.
fn requested_resources_increased(pod: &Pod, old: &Node, new: &Node) -> bool {
    let alloc =
        |n: &Node| Resource::from_list(n.status.as_ref().and_then(|s| s.allocatable.as_ref()));
    let (want, o, n) = (pod_requests(pod, false), alloc(old), alloc(new));
    n.allowed_pod_number > o.allowed_pod_number
        || (want.milli_cpu > 0 && n.milli_cpu > o.milli_cpu)
        || (want.memory > 0 && n.memory > o.memory)
        || (want.ephemeral_storage > 0 && n.ephemeral_storage > o.ephemeral_storage)
        || want
            .scalar
            .iter()
            .any(|(k, v)| *v > 0 && n.get(k) > o.get(k))
}

impl Filter for NodeResourcesFit {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        let owned;
        let req = match state.read::<PreFilterState>(NAME) {
            Some(s) => &s.0,
            None => {
                owned = pod_requests(pod, false);
                &owned
            }
        };
        let lacking = insufficient_resources(req, node);
        if lacking.is_empty() {
            return Status::success();
        }
        let code = if lacking.iter().any(|r| r.unresolvable) {
            Code::UnschedulableAndUnresolvable
        } else {
            Code::Unschedulable
        };
        Status::new(code, lacking.into_iter().map(|r| r.reason))
    }
}

impl PreScore for NodeResourcesFit {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let req = pod_requests(pod, true);
        state.write(
            PRE_SCORE_KEY,
            PreScoreState(
                self.resources
                    .iter()
                    .map(|(name, _)| name.of(&req))
                    .collect(),
            ),
        );
        Status::success()
    }
}

fn least_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

fn most_requested(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// The shape as a broken linear function of utilization, scores scaled ×10.
fn broken_linear(shape: &[UtilizationShapePoint], utilization: i64) -> i64 {
    let scaled = |p: &UtilizationShapePoint| p.score * (MAX_NODE_SCORE / 10);
    let Some(first) = shape.first() else { return 0 };
    let p = shape
        .iter()
        .position(|s| utilization <= s.utilization)
        .unwrap_or(shape.len());
    if p == 0 {
        return scaled(first);
    }
    if p == shape.len() {
        return shape.last().map_or(0, scaled);
    }
    let (a, b) = (&shape[p - 1], &shape[p]);
    scaled(a)
        + (scaled(b) - scaled(a)) * (utilization - a.utilization) / (b.utilization - a.utilization)
}

/// Requested (node's, non-zero, plus the pod's) and allocatable of a resource, upstream's
/// `calculateResourceAllocatableRequest`; `None` for an extended resource the pod does not
/// ask for.
pub fn allocatable_and_requested(
    node: &NodeInfo,
    name: &resource::Name,
    pod_request: i64,
    use_requested: bool,
) -> Option<(i64, i64)> {
    let requested = if use_requested {
        &node.requested
    } else {
        &node.non_zero_requested
    };
    if pod_request == 0 && !name.always_scored() {
        return None;
    }
    Some((
        name.of(&node.allocatable),
        name.of(requested).saturating_add(pod_request),
    ))
}

impl Score for NodeResourcesFit {
    fn score(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let owned;
        let pod_req = match state.read::<PreScoreState>(PRE_SCORE_KEY) {
            Some(s) => &s.0,
            None => {
                let req = pod_requests(pod, true);
                owned = self
                    .resources
                    .iter()
                    .map(|(name, _)| name.of(&req))
                    .collect::<Vec<_>>();
                &owned
            }
        };
        let mut node_score = 0i64;
        let mut weight_sum = 0i64;
        for ((name, weight), &want) in self.resources.iter().zip(pod_req) {
            let Some((alloc, requested)) = allocatable_and_requested(node, name, want, false)
            else {
                continue;
            };
            if alloc == 0 {
                continue;
            }
            let s = match &self.strategy {
                Strategy::LeastAllocated => least_requested(requested, alloc),
                Strategy::MostAllocated => most_requested(requested, alloc),
                Strategy::RequestedToCapacityRatio(shape) => {
                    let utilization = if requested > alloc {
                        100
                    } else {
                        requested * 100 / alloc
                    };
                    let s = broken_linear(shape, utilization);
                    // Upstream averages only the resources that scored above zero.
                    if s == 0 {
                        continue;
                    }
                    s
                }
            };
            node_score = node_score.saturating_add(s.saturating_mul(*weight));
            weight_sum += weight;
        }
        if weight_sum == 0 {
            return Ok(0);
        }
        Ok(match self.strategy {
            Strategy::RequestedToCapacityRatio(_) => {
                (node_score as f64 / weight_sum as f64).round() as i64
            }
            _ => node_score / weight_sum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{NodeBuilder, PodBuilder, node_with, prescore_and_score};

    fn node() -> NodeBuilder {
        NodeBuilder::new("n").capacity("4", "8Gi", "3")
    }

    #[test]
    fn filter_table() {
        let cases: Vec<(&str, PodBuilder, Vec<Pod>, Code, Vec<&str>)> = vec![
            (
                "fits",
                PodBuilder::new("p").container_req("1", "1Gi"),
                vec![],
                Code::Success,
                vec![],
            ),
            (
                "best effort fits",
                PodBuilder::new("p"),
                vec![],
                Code::Success,
                vec![],
            ),
            (
                "cpu short",
                PodBuilder::new("p").container_req("2", "1Gi"),
                vec![PodBuilder::new("o").container_req("3", "").obj()],
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                "cpu and memory short, all reasons",
                PodBuilder::new("p").container_req("2", "5Gi"),
                vec![PodBuilder::new("o").container_req("3", "4Gi").obj()],
                Code::Unschedulable,
                vec!["Insufficient cpu", "Insufficient memory"],
            ),
            (
                "more than the node has at all",
                PodBuilder::new("p").container_req("5", ""),
                vec![],
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient cpu"],
            ),
            (
                "init container counts",
                PodBuilder::new("p")
                    .container_req("1", "")
                    .init_req("3", ""),
                vec![PodBuilder::new("o").container_req("2", "").obj()],
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                "overhead counts",
                PodBuilder::new("p").container_req("2", "").overhead("500m"),
                vec![PodBuilder::new("o").container_req("2", "").obj()],
                Code::Unschedulable,
                vec!["Insufficient cpu"],
            ),
            (
                "pod count",
                PodBuilder::new("p"),
                vec![
                    PodBuilder::new("a").obj(),
                    PodBuilder::new("b").obj(),
                    PodBuilder::new("c").obj(),
                ],
                Code::Unschedulable,
                vec!["Too many pods"],
            ),
        ];
        for (name, pod, existing, want, reasons) in cases {
            let s = NodeResourcesFit::default().filter(
                &CycleState::new(),
                &pod.obj(),
                &node_with(node(), existing),
            );
            assert_eq!(s.code(), want, "{name}");
            assert_eq!(s.reasons(), reasons.as_slice(), "{name}");
        }
    }

    fn snapshot() -> Snapshot {
        Snapshot::from_objects(
            vec![
                NodeBuilder::new("empty").capacity("4", "8Gi", "110").obj(),
                NodeBuilder::new("half").capacity("4", "8Gi", "110").obj(),
            ],
            vec![
                PodBuilder::new("o")
                    .node("half")
                    .container_req("2", "4Gi")
                    .obj(),
            ],
        )
    }

    #[test]
    fn least_allocated_prefers_the_emptier_node() {
        let pod = PodBuilder::new("p").container_req("1", "2Gi").obj();
        // empty: cpu (4000-1000)*100/4000 = 75, mem 75 → 75; half: cpu 25, mem 25 → 25.
        assert_eq!(
            prescore_and_score(Arc::new(NodeResourcesFit::default()), &pod, &snapshot()),
            vec![75, 25]
        );
    }

    #[test]
    fn best_effort_pods_count_default_requests() {
        let pod = PodBuilder::new("p").obj();
        // empty: cpu (4000-100)*100/4000 = 97, memory (8192-200)*100/8192 = 97 → 97.
        assert_eq!(
            prescore_and_score(Arc::new(NodeResourcesFit::default()), &pod, &snapshot())[0],
            97
        );
    }

    #[test]
    fn most_allocated_prefers_the_fuller_node() {
        let args: Args = serde_json::from_value(
            serde_json::json!({"scoringStrategy": {"type": "MostAllocated"}}),
        )
        .unwrap();
        let pod = PodBuilder::new("p").container_req("1", "2Gi").obj();
        assert_eq!(
            prescore_and_score(
                Arc::new(NodeResourcesFit::new(args).unwrap()),
                &pod,
                &snapshot()
            ),
            vec![25, 75]
        );
    }

    #[test]
    fn requested_to_capacity_ratio_follows_the_shape() {
        let args: Args = serde_json::from_value(serde_json::json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
            "resources": [{"name": "cpu", "weight": 1}],
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}}}))
        .unwrap();
        let pod = PodBuilder::new("p").container_req("1", "2Gi").obj();
        // empty: 25 % used → 25; half: 75 % → 75.
        assert_eq!(
            prescore_and_score(
                Arc::new(NodeResourcesFit::new(args).unwrap()),
                &pod,
                &snapshot()
            ),
            vec![25, 75]
        );
    }

    #[test]
    fn requested_to_capacity_ratio_averages_only_resources_that_score() {
        let args: Args = serde_json::from_value(serde_json::json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}}}))
        .unwrap();
        let snapshot = Snapshot::from_objects(
            vec![NodeBuilder::new("n").capacity("4", "8Gi", "110").obj()],
            vec![],
        );
        // cpu 2/4 → 50; memory 0 % → 0, left out of the average: 50, not (50 + 0) / 2.
        let pod = PodBuilder::new("p").container_req("2", "0").obj();
        assert_eq!(
            prescore_and_score(
                Arc::new(NodeResourcesFit::new(args).unwrap()),
                &pod,
                &snapshot
            ),
            vec![50]
        );
    }

    #[test]
    fn extended_resources_and_ephemeral_storage_are_checked() {
        let node = || {
            NodeBuilder::new("n")
                .capacity("4", "8Gi", "110")
                .resource("example.com/gpu", "2")
                .resource("ephemeral-storage", "10Gi")
        };
        let cases: Vec<(&str, Vec<(&str, &str)>, Vec<Pod>, Code, Vec<&str>)> = vec![
            (
                "gpu fits",
                vec![("example.com/gpu", "2")],
                vec![],
                Code::Success,
                vec![],
            ),
            (
                "gpu in use",
                vec![("example.com/gpu", "1")],
                vec![
                    PodBuilder::new("o")
                        .container_requests(&[("example.com/gpu", "2")])
                        .obj(),
                ],
                Code::Unschedulable,
                vec!["Insufficient example.com/gpu"],
            ),
            (
                "more gpus than the node has",
                vec![("example.com/gpu", "3")],
                vec![],
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient example.com/gpu"],
            ),
            (
                "a resource the node lacks",
                vec![("example.com/fpga", "1")],
                vec![],
                Code::UnschedulableAndUnresolvable,
                vec!["Insufficient example.com/fpga"],
            ),
            (
                "ephemeral storage",
                vec![("ephemeral-storage", "6Gi")],
                vec![
                    PodBuilder::new("o")
                        .container_requests(&[("ephemeral-storage", "5Gi")])
                        .obj(),
                ],
                Code::Unschedulable,
                vec!["Insufficient ephemeral-storage"],
            ),
            (
                "requests.* is not a resource",
                vec![("requests.example.com/x", "1")],
                vec![],
                Code::Success,
                vec![],
            ),
        ];
        for (name, requests, existing, want, reasons) in cases {
            let pod = PodBuilder::new("p").container_requests(&requests).obj();
            let s = NodeResourcesFit::default().filter(
                &CycleState::new(),
                &pod,
                &node_with(node(), existing),
            );
            assert_eq!(s.code(), want, "{name}");
            assert_eq!(s.reasons(), reasons.as_slice(), "{name}");
        }
    }

    #[test]
    fn args_are_validated() {
        let bad: Args =
            serde_json::from_value(serde_json::json!({"scoringStrategy": {"type": "Random"}}))
                .unwrap();
        assert_eq!(
            NodeResourcesFit::new(bad).err(),
            Some(Error::UnknownStrategy("Random".into()))
        );
        let bad: Args = serde_json::from_value(
            serde_json::json!({"scoringStrategy": {"type": "RequestedToCapacityRatio"}}),
        )
        .unwrap();
        assert_eq!(NodeResourcesFit::new(bad).err(), Some(Error::InvalidShape));
    }

    #[test]
    fn broken_linear_interpolates() {
        let shape = vec![
            UtilizationShapePoint {
                utilization: 20,
                score: 2,
            },
            UtilizationShapePoint {
                utilization: 60,
                score: 10,
            },
        ];
        assert_eq!(broken_linear(&shape, 0), 20);
        assert_eq!(broken_linear(&shape, 40), 60);
        assert_eq!(broken_linear(&shape, 90), 100);
    }
}
