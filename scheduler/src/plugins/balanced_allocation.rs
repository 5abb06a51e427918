//! NodeResourcesBalancedAllocation: prefer nodes whose resources would be used evenly.
//! For each resource the fraction requested/allocatable (capped at 1) after placing the
//! pod; score = (1 − standard deviation of the fractions) × 100. Best-effort pods (no
//! requests at all) are not scored by it, as upstream.
//!
//! Worked example: cpu 2/4 = 0.5, memory 6/8 = 0.75 → std = |0.5 − 0.75| / 2 = 0.125 →
//! score 87.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::node_resources_fit::{
    ResourceSpec, allocatable_and_requested, default_resources, resolve,
};
use crate::framework::resource::{self, pod_requests};
use crate::framework::{
    CycleState, MAX_NODE_SCORE, NodeInfo, Plugin, PreScore, Score, Snapshot, Status,
};

pub const NAME: &str = "NodeResourcesBalancedAllocation";

#[derive(Debug)]
pub struct BalancedAllocation {
    resources: Vec<(resource::Name, i64)>,
}

impl Default for BalancedAllocation {
    fn default() -> Self {
        BalancedAllocation {
            resources: resolve(&default_resources()),
        }
    }
}

impl BalancedAllocation {
    pub fn new(resources: Vec<ResourceSpec>) -> Self {
        BalancedAllocation {
            resources: resolve(&resources),
        }
    }
}

#[derive(Debug, Clone)]
struct State(Vec<i64>);

impl Plugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_score(self: Arc<Self>) -> Option<Arc<dyn PreScore>> {
        Some(self)
    }
    fn as_score(self: Arc<Self>) -> Option<Arc<dyn Score>> {
        Some(self)
    }
}

impl PreScore for BalancedAllocation {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        _nodes: &[&NodeInfo],
        _snapshot: &Snapshot,
    ) -> Status {
        let req = pod_requests(pod, false);
        let list: Vec<i64> = self
            .resources
            .iter()
            .map(|(name, _)| name.of(&req))
            .collect();
        if list.iter().all(|&v| v == 0) {
            return Status::skip();
        }
        state.write(NAME, State(list));
        Status::success()
    }
}

/// (1 − std of the fractions) × 100 over (requested, allocatable) pairs, upstream's
/// `balancedResourceScorer`. Runs once per node: the fractions stay on the stack.
pub fn balanced_score(pairs: impl Iterator<Item = (i64, i64)>) -> i64 {
    let mut stack = [0f64; 8];
    let mut heap: Vec<f64> = Vec::new();
    let mut n = 0;
    for (r, a) in pairs.filter(|(_, a)| *a != 0) {
        let f = (r as f64 / a as f64).min(1.0);
        if n < stack.len() {
            stack[n] = f;
        } else {
            if heap.is_empty() {
                heap.extend_from_slice(&stack);
            }
            heap.push(f);
        }
        n += 1;
    }
    let fractions: &[f64] = if heap.is_empty() { &stack[..n] } else { &heap };
    let std = match fractions.len() {
        0 | 1 => 0.0,
        2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
        n => {
            let mean = fractions.iter().sum::<f64>() / n as f64;
            (fractions
                .iter()
                .map(|f| (f - mean) * (f - mean))
                .sum::<f64>()
                / n as f64)
                .sqrt()
        }
    };
    ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
}

impl Score for BalancedAllocation {
    fn score(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        _snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let owned;
        let pod_req = match state.read::<State>(NAME) {
            Some(s) => &s.0,
            None => {
                let req = pod_requests(pod, false);
                owned = self
                    .resources
                    .iter()
                    .map(|(name, _)| name.of(&req))
                    .collect::<Vec<_>>();
                &owned
            }
        };
        let pairs = self
            .resources
            .iter()
            .zip(pod_req)
            .filter_map(|((name, _), &want)| {
                allocatable_and_requested(node, name, want, true).map(|(a, r)| (r, a))
            });
        Ok(balanced_score(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{NodeBuilder, PodBuilder, prescore_and_score};

    #[test]
    fn score_table() {
        let cases: &[(&[i64], &[i64], i64)] = &[
            (&[2000, 6 << 30], &[4000, 8 << 30], 87),
            (&[2000, 4 << 30], &[4000, 8 << 30], 100),
            (&[4000, 0], &[4000, 8 << 30], 50),
            (&[8000, 0], &[4000, 8 << 30], 50),
            (&[1, 2, 3], &[0, 0, 0], 100),
            // Three: mean 0.5, std √(((0.25)² + 0 + (0.25)²)/3) = 0.204 → 79.
            (&[1, 2, 3], &[4, 4, 4], 79),
            // More resources than fit on the stack: the same formula.
            (&[1; 10], &[2; 10], 100),
        ];
        for (req, alloc, want) in cases {
            assert_eq!(
                balanced_score(req.iter().copied().zip(alloc.iter().copied())),
                *want,
                "{req:?} / {alloc:?}"
            );
        }
    }

    #[test]
    fn scores_nodes_and_skips_best_effort_pods() {
        let snapshot = Snapshot::from_objects(
            vec![
                NodeBuilder::new("a").capacity("4", "8Gi", "110").obj(),
                NodeBuilder::new("b").capacity("4", "8Gi", "110").obj(),
            ],
            vec![
                PodBuilder::new("o")
                    .node("b")
                    .container_req("", "4Gi")
                    .obj(),
            ],
        );
        let pod = PodBuilder::new("p").container_req("2", "2Gi").obj();
        // a: 0.5 / 0.25 → 87; b: 0.5 / 0.75 → 87.
        assert_eq!(
            prescore_and_score(Arc::new(BalancedAllocation::default()), &pod, &snapshot),
            vec![87, 87]
        );
        let pod = PodBuilder::new("p").container_req("2", "").obj();
        // a: 0.5 / 0 → 75; b: 0.5 / 0.5 → 100.
        assert_eq!(
            prescore_and_score(Arc::new(BalancedAllocation::default()), &pod, &snapshot),
            vec![75, 100]
        );
        let mut state = CycleState::new();
        let nodes: Vec<&NodeInfo> = snapshot.nodes().collect();
        assert!(
            BalancedAllocation::default()
                .pre_score(&mut state, &PodBuilder::new("be").obj(), &nodes, &snapshot)
                .is_skip()
        );
    }
}
