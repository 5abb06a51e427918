//! Running a profile's plugins for one pod: upstream's `frameworkImpl` and
//! `schedulePod` (`findNodesThatFitPod`, `prioritizeNodes`, `selectHost`).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{Bind, Code, CycleState, Filter, NodeInfo, NodeScore, Plugin, PostFilter, PostFilterResult, PreFilter, PreScore, Score, Snapshot, Status};
use crate::explain::{Explanation, FilteredNode, NodeScores, PluginScore};

/// Fewer nodes than this are all evaluated, whatever the percentage.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;

/// Which plugins run at each extension point, in order, and the score weights.
#[derive(Clone, Default)]
pub struct Framework {
    pub scheduler_name: String,
    pre_filters: Vec<Arc<dyn PreFilter>>,
    filters: Vec<Arc<dyn Filter>>,
    post_filters: Vec<Arc<dyn PostFilter>>,
    pre_scores: Vec<Arc<dyn PreScore>>,
    scores: Vec<(Arc<dyn Score>, i64)>,
    binds: Vec<Arc<dyn Bind>>,
    /// `percentageOfNodesToScore`; `None` or 0 is upstream's adaptive default.
    pub percentage_of_nodes_to_score: Option<i32>,
}

/// The plugin names enabled at each extension point, in order; scores with weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PluginSet {
    pub pre_filter: Vec<String>,
    pub filter: Vec<String>,
    pub post_filter: Vec<String>,
    pub pre_score: Vec<String>,
    pub score: Vec<(String, i64)>,
    pub bind: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("plugin {plugin:?} is enabled at {point} but does not implement it")]
    NotImplemented { plugin: String, point: &'static str },
    #[error("plugin {0:?} is enabled but was not built")]
    Missing(String),
}

/// Why no node was chosen: upstream's `FitError`.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    /// Per node, the status of the first filter that rejected it.
    pub node_to_status: BTreeMap<String, Status>,
    pub pre_filter_msg: String,
    pub post_filter_msg: String,
}

impl FitError {
    /// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint
    /// {node-role.kubernetes.io/control-plane: }. preemption: ...` — upstream's
    /// `FitError.Error()`: reasons counted, sorted as strings.
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 && self.pre_filter_msg.is_empty() {
            return "no nodes available to schedule pods".to_string();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if !self.pre_filter_msg.is_empty() {
            msg.push_str(&format!(" {}.", self.pre_filter_msg));
        }
        let reasons = count_reasons(self.node_to_status.values());
        if !reasons.is_empty() {
            msg.push_str(&format!(" {}.", reasons.join(", ")));
        }
        if !self.post_filter_msg.is_empty() {
            msg.push_str(&format!(" {}", self.post_filter_msg));
        }
        msg
    }
}

/// `["1 Insufficient cpu", "2 node(s) ..."]`: each reason with how many nodes gave it,
/// sorted as strings (as upstream).
pub fn count_reasons<'a>(statuses: impl Iterator<Item = &'a Status>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for status in statuses {
        for reason in status.reasons() {
            *counts.entry(reason.as_str()).or_default() += 1;
        }
    }
    let mut out: Vec<String> = counts.into_iter().map(|(r, n)| format!("{n} {r}")).collect();
    out.sort();
    out
}

/// The outcome of one cycle's search.
pub enum Outcome {
    Scheduled { node: String },
    Unfit(FitError),
    Failed(String),
}

/// Where the round-robin start and the tie-breaking randomness live between cycles.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub next_start_node_index: usize,
    rng: u64,
}

impl Default for Cursor {
    fn default() -> Self {
        let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Cursor { next_start_node_index: 0, rng: seed | 1 }
    }
}

impl Cursor {
    pub fn seeded(seed: u64) -> Self {
        Cursor { next_start_node_index: 0, rng: seed | 1 }
    }
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Framework {
    /// Assemble a framework from built plugins (by name) and the enabled set.
    pub fn new(scheduler_name: &str, set: &PluginSet, plugins: &BTreeMap<String, Arc<dyn Plugin>>, percentage: Option<i32>) -> Result<Self, Error> {
        fn get<T: ?Sized>(
            plugins: &BTreeMap<String, Arc<dyn Plugin>>,
            name: &str,
            point: &'static str,
            cast: impl Fn(Arc<dyn Plugin>) -> Option<Arc<T>>,
        ) -> Result<Arc<T>, Error> {
            let p = plugins.get(name).ok_or_else(|| Error::Missing(name.to_string()))?;
            cast(p.clone()).ok_or_else(|| Error::NotImplemented { plugin: name.to_string(), point })
        }
        let mut fw = Framework { scheduler_name: scheduler_name.to_string(), percentage_of_nodes_to_score: percentage, ..Default::default() };
        for n in &set.pre_filter {
            fw.pre_filters.push(get(plugins, n, "preFilter", |p| p.as_pre_filter())?);
        }
        for n in &set.filter {
            fw.filters.push(get(plugins, n, "filter", |p| p.as_filter())?);
        }
        for n in &set.post_filter {
            fw.post_filters.push(get(plugins, n, "postFilter", |p| p.as_post_filter())?);
        }
        for n in &set.pre_score {
            fw.pre_scores.push(get(plugins, n, "preScore", |p| p.as_pre_score())?);
        }
        for (n, w) in &set.score {
            fw.scores.push((get(plugins, n, "score", |p| p.as_score())?, *w));
        }
        for n in &set.bind {
            fw.binds.push(get(plugins, n, "bind", |p| p.as_bind())?);
        }
        Ok(fw)
    }

    pub fn binders(&self) -> &[Arc<dyn Bind>] {
        &self.binds
    }

    pub fn has_post_filter(&self) -> bool {
        !self.post_filters.is_empty()
    }

    /// How many feasible nodes to look for before scoring: upstream's
    /// `numFeasibleNodesToFind`. With 5,000 nodes and the adaptive default: 50 − 5000/125
    /// = 10 % → 500 nodes.
    pub fn num_feasible_nodes_to_find(&self, num_all_nodes: usize) -> usize {
        if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND {
            return num_all_nodes;
        }
        let mut percentage = i64::from(self.percentage_of_nodes_to_score.unwrap_or(0));
        if percentage <= 0 {
            percentage = (50 - num_all_nodes as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
        }
        let n = (num_all_nodes as i64 * percentage.min(100) / 100) as usize;
        n.max(MIN_FEASIBLE_NODES_TO_FIND)
    }

    /// Every PreFilter; the first rejection ends the cycle.
    pub fn run_pre_filter(&self, state: &mut CycleState, pod: &Pod, snapshot: &Snapshot) -> Status {
        for pl in &self.pre_filters {
            let status = pl.pre_filter(state, pod, snapshot);
            if status.is_skip() {
                state.skip_filter.insert(pl.name());
                continue;
            }
            if !status.is_success() {
                return status.with_plugin(pl.name());
            }
        }
        Status::success()
    }

    /// Every Filter in order for one node; the first rejection is the node's status.
    pub fn run_filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        for pl in &self.filters {
            if state.skip_filter.contains(pl.name()) {
                continue;
            }
            let status = pl.filter(state, pod, node);
            if !status.is_success() {
                return status.with_plugin(pl.name());
            }
        }
        Status::success()
    }

    /// PreFilter extensions: the state as if `pi` were removed from `node`.
    pub fn run_remove_pod(&self, state: &mut CycleState, pod: &Pod, pi: &super::PodInfo, node: &NodeInfo) -> Status {
        for pl in &self.pre_filters {
            if state.skip_filter.contains(pl.name()) {
                continue;
            }
            let s = pl.remove_pod(state, pod, pi, node);
            if !s.is_success() {
                return s.with_plugin(pl.name());
            }
        }
        Status::success()
    }

    /// PreFilter extensions: the state as if `pi` were added to `node`.
    pub fn run_add_pod(&self, state: &mut CycleState, pod: &Pod, pi: &super::PodInfo, node: &NodeInfo) -> Status {
        for pl in &self.pre_filters {
            if state.skip_filter.contains(pl.name()) {
                continue;
            }
            let s = pl.add_pod(state, pod, pi, node);
            if !s.is_success() {
                return s.with_plugin(pl.name());
            }
        }
        Status::success()
    }

    /// The PostFilter plugins until one nominates a node.
    pub fn run_post_filter(&self, state: &CycleState, pod: &Pod, snapshot: &Snapshot, statuses: &BTreeMap<String, Status>) -> Option<PostFilterResult> {
        let mut last = None;
        for pl in &self.post_filters {
            let r = pl.post_filter(self, state, pod, snapshot, statuses);
            if r.status.is_success() {
                return Some(r);
            }
            last = Some(r);
        }
        last
    }

    /// One scheduling cycle's search for `pod`: PreFilter, Filter over (a sample of) the
    /// nodes, PreScore, Score, NormalizeScore, weights, and the pick — recording it all in
    /// `explanation`. The cycle state is returned for PostFilter.
    pub fn schedule(&self, pod: &Pod, snapshot: &Snapshot, cursor: &mut Cursor, explanation: &mut Explanation) -> (Outcome, CycleState) {
        let mut state = CycleState::new();
        let num_all = snapshot.num_nodes();
        explanation.nodes = num_all;
        if num_all == 0 {
            return (Outcome::Unfit(FitError::default()), state);
        }
        let status = self.run_pre_filter(&mut state, pod, snapshot);
        if !status.is_success() {
            if status.code() == Code::Error {
                return (Outcome::Failed(status.message()), state);
            }
            explanation.pre_filter = Some(FilteredNode { node: String::new(), plugin: status.plugin().to_string(), reasons: status.reasons().to_vec() });
            let mut fit = FitError { num_all_nodes: num_all, pre_filter_msg: status.message(), ..Default::default() };
            for n in snapshot.nodes() {
                fit.node_to_status.insert(n.name.clone(), status.clone());
            }
            return (Outcome::Unfit(fit), state);
        }

        // Filter, starting where the last cycle stopped, until enough nodes fit.
        let mut statuses: BTreeMap<String, Status> = BTreeMap::new();
        let mut feasible: Vec<&NodeInfo> = Vec::new();
        let nominated = pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty());
        if let Some(info) = nominated.and_then(|n| snapshot.get(n)) {
            let s = self.run_filter(&state, pod, info);
            if s.is_success() {
                explanation.evaluated_nodes = 1;
                explanation.feasible_nodes = 1;
                explanation.nominated_node = Some(info.name.clone());
                return (Outcome::Scheduled { node: info.name.clone() }, state);
            }
        }
        let want = self.num_feasible_nodes_to_find(num_all);
        explanation.nodes_to_find = want;
        let all = snapshot.all();
        let len = all.len();
        let start = cursor.next_start_node_index % len.max(1);
        let mut processed = 0;
        for k in 0..len {
            if feasible.len() >= want {
                break;
            }
            let info = &all[(start + k) % len];
            processed += 1;
            if info.node.is_none() {
                continue;
            }
            let s = self.run_filter(&state, pod, info);
            match s.code() {
                Code::Success => feasible.push(info),
                Code::Error => return (Outcome::Failed(s.message()), state),
                _ => {
                    statuses.insert(info.name.clone(), s);
                }
            }
        }
        cursor.next_start_node_index = (start + processed) % len.max(1);
        explanation.evaluated_nodes = feasible.len() + statuses.len();
        explanation.feasible_nodes = feasible.len();
        explanation.record_filtered(&statuses);
        if feasible.is_empty() {
            return (Outcome::Unfit(FitError { num_all_nodes: num_all, node_to_status: statuses, ..Default::default() }), state);
        }
        if feasible.len() == 1 {
            let node = feasible[0].name.clone();
            explanation.scoring_skipped = true;
            return (Outcome::Scheduled { node }, state);
        }

        // PreScore and Score.
        for pl in &self.pre_scores {
            let s = pl.pre_score(&mut state, pod, &feasible, snapshot);
            if s.is_skip() {
                state.skip_score.insert(pl.name());
            } else if !s.is_success() {
                return (Outcome::Failed(format!("{}: {}", pl.name(), s.message())), state);
            }
        }
        let mut totals = vec![0i64; feasible.len()];
        let mut per_plugin: Vec<(&'static str, i64, Vec<i64>, Vec<i64>)> = Vec::new();
        for (pl, weight) in &self.scores {
            if state.skip_score.contains(pl.name()) {
                continue;
            }
            let mut scores = Vec::with_capacity(feasible.len());
            for info in &feasible {
                match pl.score(&state, pod, info, snapshot) {
                    Ok(v) => scores.push(NodeScore { name: info.name.clone(), score: v }),
                    Err(s) => return (Outcome::Failed(format!("{}: {}", pl.name(), s.message())), state),
                }
            }
            let raw: Vec<i64> = scores.iter().map(|s| s.score).collect();
            let s = pl.normalize_score(&state, pod, &mut scores);
            if !s.is_success() {
                return (Outcome::Failed(format!("{}: {}", pl.name(), s.message())), state);
            }
            let normalized: Vec<i64> = scores.iter().map(|s| s.score).collect();
            for (t, s) in totals.iter_mut().zip(&normalized) {
                *t += s * weight;
            }
            if explanation.enabled {
                per_plugin.push((pl.name(), *weight, raw, normalized));
            }
        }

        // selectHost: the highest total; ties broken uniformly at random.
        let mut best = 0;
        let mut ties = 0u64;
        for (i, &t) in totals.iter().enumerate() {
            if i == 0 || t > totals[best] {
                best = i;
                ties = 1;
            } else if t == totals[best] {
                ties += 1;
                if cursor.next() % ties == 0 {
                    best = i;
                }
            }
        }
        if explanation.enabled {
            let mut rows: Vec<NodeScores> = feasible
                .iter()
                .enumerate()
                .map(|(i, info)| NodeScores {
                    node: info.name.clone(),
                    total: totals[i],
                    plugins: per_plugin
                        .iter()
                        .map(|(name, w, raw, norm)| (name.to_string(), PluginScore { raw: raw[i], normalized: norm[i], weight: *w, weighted: norm[i] * w }))
                        .collect(),
                })
                .collect();
            explanation.record_scores(&mut rows, &feasible[best].name);
        }
        (Outcome::Scheduled { node: feasible[best].name.clone() }, state)
    }
}
