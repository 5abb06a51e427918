//! Running a profile's plugins for one pod: upstream's `frameworkImpl` and
//! `schedulePod` (`findNodesThatFitPod`, `prioritizeNodes`, `selectHost`).

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::node_info::{pod_key, pod_priority};
use super::{
    Bind, BindRequest, Change, ClusterEvent, Code, CycleState, Filter, NodeInfo, NodeScore,
    Nominating, Plugin, PodInfo, PostFilter, PostFilterResult, PreFilter, PreScore, QueueingHint,
    Score, Snapshot, Status,
};
use crate::explain::{self, Explanation, FilteredNode, NodeScores, PluginScore};

/// Fewer nodes than this are all evaluated, whatever the percentage.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// The adaptive percentage never goes below this.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;

/// A plugin that can reject pods, with the events that may resolve its rejections.
#[derive(Clone)]
struct EnqueueExtension {
    plugin: Arc<dyn Plugin>,
    events: Vec<ClusterEvent>,
}

/// Which plugins run at each extension point, in order, and the score weights.
#[derive(Clone, Default)]
pub struct Framework {
    /// By plugin name: the PreFilter and Filter plugins' events (upstream's
    /// `enqueueExtensions`).
    enqueue: BTreeMap<&'static str, EnqueueExtension>,
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

/// Each rejected node's status: upstream's `NodeToStatus`. Nodes not listed have the
/// `absent` status (when PreFilter rejected the pod before any node was looked at, all of
/// them).
#[derive(Debug, Clone, Default)]
pub struct NodeToStatus {
    pub explicit: BTreeMap<String, Status>,
    pub absent: Option<Status>,
}

impl NodeToStatus {
    /// The node's status, explicit or the absent nodes' one.
    pub fn get(&self, node: &str) -> Option<&Status> {
        self.explicit.get(node).or(self.absent.as_ref())
    }
}

/// Why no node was chosen: upstream's `FitError`.
#[derive(Debug, Clone, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    /// Per node, the status of the first filter that rejected it.
    pub node_to_status: NodeToStatus,
    pub pre_filter_msg: String,
    pub post_filter_msg: String,
}

impl FitError {
    /// `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s).
    /// no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is
    /// not helpful for scheduling.` — upstream's `FitError.Error()`: the
    /// PreFilter message, or else the nodes' reasons counted and sorted as strings, each
    /// part ending in a period; then the PostFilter message as it is (since v1.30 it
    /// carries its own period, so the message ends in one, not two).
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 && self.pre_filter_msg.is_empty() {
            return "no nodes available to schedule pods".to_string();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        if !self.pre_filter_msg.is_empty() {
            msg.push_str(&format!(" {}.", self.pre_filter_msg));
        } else {
            let absent = self
                .num_all_nodes
                .saturating_sub(self.node_to_status.explicit.len());
            let reasons = count_reasons(
                self.node_to_status
                    .explicit
                    .values()
                    .map(|s| (s, 1))
                    .chain(self.node_to_status.absent.iter().map(|s| (s, absent))),
            );
            if !reasons.is_empty() {
                msg.push_str(&format!(" {}.", reasons.join(", ")));
            }
        }
        if !self.post_filter_msg.is_empty() {
            msg.push_str(&format!(" {}", self.post_filter_msg));
        }
        msg
    }

    /// The plugins that rejected the pod: only events they register retry it.
    pub fn unschedulable_plugins(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for s in self
            .node_to_status
            .explicit
            .values()
            .chain(self.node_to_status.absent.iter())
        {
            if s.is_rejected() && !s.plugin().is_empty() && !out.contains(&s.plugin()) {
                out.push(s.plugin());
            }
        }
        out
    }
}

/// `["1 Insufficient cpu", "2 node(s) ..."]`: each reason with how many nodes gave it,
/// sorted as strings (as upstream).
pub fn count_reasons<'a>(statuses: impl Iterator<Item = (&'a Status, usize)>) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (status, nodes) in statuses {
        if nodes == 0 {
            continue;
        }
        for reason in status.reasons() {
            *counts.entry(reason.as_str()).or_default() += nodes;
        }
    }
    let mut out: Vec<String> = counts
        .into_iter()
        .map(|(r, n)| format!("{n} {r}"))
        .collect();
    out.sort();
    out
}

/// The outcome of one cycle's search.
pub enum Outcome {
    Scheduled { node: String },
    Unfit(FitError),
    Failed(String),
}

/// Where the round-robin start and the tie-breaking randomness live between cycles — and
/// the cycle's buffers, kept so that each cycle does not allocate (and the allocator
/// prepare) a few dozen kilobytes afresh.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub next_start_node_index: usize,
    rng: u64,
    feasible: Vec<&'static NodeInfo>,
    scores: Vec<NodeScore<'static>>,
    totals: Vec<i64>,
    /// Per score plugin, each node's raw and normalised score (for the explanation).
    raw: Vec<i64>,
    normalized: Vec<i64>,
}

impl Default for Cursor {
    fn default() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64);
        Cursor::seeded(seed)
    }
}

/// The vector emptied, its allocation kept, for elements of the same layout (references
/// of another lifetime): Rust collects an empty `into_iter` in place.
fn recycle<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

impl Cursor {
    pub fn seeded(seed: u64) -> Self {
        Cursor {
            next_start_node_index: 0,
            rng: seed | 1,
            feasible: Vec::new(),
            scores: Vec::new(),
            totals: Vec::new(),
            raw: Vec::new(),
            normalized: Vec::new(),
        }
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
    pub fn new(
        scheduler_name: &str,
        set: &PluginSet,
        plugins: &BTreeMap<String, Arc<dyn Plugin>>,
        percentage: Option<i32>,
    ) -> Result<Self, Error> {
        fn get<T: ?Sized>(
            plugins: &BTreeMap<String, Arc<dyn Plugin>>,
            name: &str,
            point: &'static str,
            cast: impl Fn(Arc<dyn Plugin>) -> Option<Arc<T>>,
        ) -> Result<Arc<T>, Error> {
            let p = plugins
                .get(name)
                .ok_or_else(|| Error::Missing(name.to_string()))?;
            cast(p.clone()).ok_or_else(|| Error::NotImplemented {
                plugin: name.to_string(),
                point,
            })
        }
        let mut fw = Framework {
            scheduler_name: scheduler_name.to_string(),
            percentage_of_nodes_to_score: percentage,
            ..Default::default()
        };
        for n in &set.pre_filter {
            fw.pre_filters
                .push(get(plugins, n, "preFilter", |p| p.as_pre_filter())?);
        }
        for n in &set.filter {
            fw.filters
                .push(get(plugins, n, "filter", |p| p.as_filter())?);
        }
        for n in set.pre_filter.iter().chain(&set.filter) {
            if let Some(plugin) = plugins.get(n) {
                fw.enqueue.insert(
                    plugin.name(),
                    EnqueueExtension {
                        events: plugin.events_to_register(),
                        plugin: plugin.clone(),
                    },
                );
            }
        }
        for n in &set.post_filter {
            fw.post_filters
                .push(get(plugins, n, "postFilter", |p| p.as_post_filter())?);
        }
        for n in &set.pre_score {
            fw.pre_scores
                .push(get(plugins, n, "preScore", |p| p.as_pre_score())?);
        }
        for (n, w) in &set.score {
            fw.scores
                .push((get(plugins, n, "score", |p| p.as_score())?, *w));
        }
        for n in &set.bind {
            fw.binds.push(get(plugins, n, "bind", |p| p.as_bind())?);
        }
        Ok(fw)
    }

    /// Whether `event` may make `pod` schedulable, asking the plugins that rejected it
    /// (upstream's `isPodWorthRequeuing`): a pod no plugin rejected (e.g. no nodes at all)
    /// is retried by any event; otherwise one of its rejecting plugins must register the
    /// event and its hint say Queue.
    pub fn is_worth_requeuing(
        &self,
        pod: &Pod,
        rejected_by: &[&'static str],
        event: &ClusterEvent,
        change: &Change<'_>,
    ) -> bool {
        if rejected_by.is_empty() {
            return true;
        }
        rejected_by.iter().any(|name| match self.enqueue.get(name) {
            // A plugin this profile does not know (any more): be safe, retry.
            None => true,
            Some(ext) => {
                ext.events.iter().any(|e| e.matches(event))
                    && ext.plugin.queueing_hint(pod, change) == QueueingHint::Queue
            }
        })
    }

    pub fn has_binders(&self) -> bool {
        !self.binds.is_empty()
    }

    /// The Bind plugins until one binds: upstream's `RunBindPlugins`; a failure reads
    /// `running Bind plugin "DefaultBinder": <the API's answer>`.
    pub async fn run_bind(&self, req: BindRequest) -> Status {
        let Some(pl) = self.binds.first().cloned() else {
            return Status::error("no Bind plugin is enabled");
        };
        let status = pl.bind(req).await;
        if status.is_success() || status.is_rejected() {
            return status.with_plugin(pl.name());
        }
        Status::error(format!(
            "running Bind plugin {:?}: {}",
            pl.name(),
            status.message()
        ))
        .with_plugin(pl.name())
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
            percentage =
                (50 - num_all_nodes as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
        }
        let n = (num_all_nodes as i64 * percentage.min(100) / 100) as usize;
        n.max(MIN_FEASIBLE_NODES_TO_FIND)
    }

    /// Every PreFilter, as upstream's `RunPreFilterPlugins`: UnschedulableAndUnresolvable
    /// or an error ends the cycle at once; Unschedulable lets the others run (preemption
    /// needs their state) and is the result.
    pub fn run_pre_filter(&self, state: &mut CycleState, pod: &Pod, snapshot: &Snapshot) -> Status {
        let mut result = Status::success();
        for pl in &self.pre_filters {
            let status = pl.pre_filter(state, pod, snapshot);
            if status.is_skip() {
                state.skip_filter.insert(pl.name());
                continue;
            }
            match status.code() {
                Code::Success | Code::Skip => {}
                Code::Unschedulable => {
                    if result.is_success() {
                        result = status.with_plugin(pl.name());
                    }
                }
                Code::UnschedulableAndUnresolvable => return status.with_plugin(pl.name()),
                Code::Error => {
                    return Status::error(format!(
                        "running PreFilter plugin {:?}: {}",
                        pl.name(),
                        status.message()
                    ))
                    .with_plugin(pl.name());
                }
            }
        }
        result
    }

    /// Every Filter in order for one node; the first rejection is the node's status.
    pub fn run_filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
        run_filters(&self.active_filters(state), state, pod, node)
    }

    /// The Filter plugins whose PreFilter did not say Skip.
    fn active_filters(&self, state: &CycleState) -> Vec<&dyn Filter> {
        self.filters
            .iter()
            .filter(|p| !state.skip_filter.contains(p.name()))
            .map(|p| p.as_ref())
            .collect()
    }

    /// Filter with the pods nominated to the node, as upstream's
    /// `RunFilterPluginsWithNominatedPods`: nominated pods of equal or higher priority
    /// count as running there (the room was made for them), and when they change anything
    /// the filters run again without them — the pod must fit both ways, since they may end
    /// up elsewhere.
    pub fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        let nominated = snapshot.nominator.pods_on(&node.name);
        if nominated.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let (key, priority) = (pod_key(pod), pod_priority(pod));
        let mut with: Option<(CycleState, NodeInfo)> = None;
        for pi in nominated
            .iter()
            .filter(|p| p.priority() >= priority && p.key != key)
        {
            let (state, info) = with.get_or_insert_with(|| (state.clone(), node.clone()));
            info.add_pod(pi.clone());
            let s = self.run_add_pod(state, pod, pi, info);
            if !s.is_success() {
                return Status::error(s.message());
            }
        }
        let Some((state_with, node_with)) = with else {
            return self.run_filter(state, pod, node);
        };
        let s = self.run_filter(&state_with, pod, &node_with);
        if !s.is_success() {
            return s;
        }
        self.run_filter(state, pod, node)
    }

    /// PreFilter extensions: the state as if `pi` were removed from `node`.
    pub fn run_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        pi: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
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
    pub fn run_add_pod(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        pi: &PodInfo,
        node: &NodeInfo,
    ) -> Status {
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

    /// The PostFilter plugins until one nominates a node, as upstream's
    /// `RunPostFilterPlugins`: a success or an unresolvable answer ends the run; otherwise
    /// every plugin's reasons are kept, in order (`no new claims to deallocate, preemption:
    /// ...`), with the last answer that does something about nominations.
    pub fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        statuses: &NodeToStatus,
    ) -> Option<PostFilterResult> {
        let mut reasons: Vec<String> = Vec::new();
        let mut acting: Option<PostFilterResult> = None;
        for pl in &self.post_filters {
            let r = pl.post_filter(self, state, pod, snapshot, statuses);
            if r.status.is_success() || r.status.code() != Code::Unschedulable {
                return Some(r);
            }
            reasons.extend(r.status.reasons().iter().cloned());
            let noop = matches!(r.nominating, Nominating::Keep)
                && r.victims.is_empty()
                && r.clear_nominations.is_empty();
            if !noop {
                acting = Some(r);
            }
        }
        if reasons.is_empty() && acting.is_none() {
            return None;
        }
        let mut result = acting.unwrap_or(PostFilterResult {
            nominating: Nominating::Keep,
            victims: Vec::new(),
            clear_nominations: Vec::new(),
            status: Status::success(),
        });
        result.status = Status::new(Code::Unschedulable, reasons);
        Some(result)
    }

    /// One scheduling cycle's search for `pod`: PreFilter, Filter over (a sample of) the
    /// nodes, PreScore, Score, NormalizeScore, weights, and the pick — recording it all in
    /// `explanation`. The cycle state is returned for PostFilter.
    pub fn schedule(
        &self,
        pod: &Pod,
        snapshot: &Snapshot,
        cursor: &mut Cursor,
        explanation: &mut Explanation,
    ) -> (Outcome, CycleState) {
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
            explanation.pre_filter = Some(FilteredNode {
                node: String::new(),
                plugin: status.plugin().to_string(),
                reasons: status.reasons().to_vec(),
            });
            // Every node has the PreFilter's status (preemption reads it per node).
            let node_to_status = NodeToStatus {
                explicit: BTreeMap::new(),
                absent: Some(status.clone()),
            };
            let fit = FitError {
                num_all_nodes: num_all,
                pre_filter_msg: status.message(),
                node_to_status,
                ..Default::default()
            };
            return (Outcome::Unfit(fit), state);
        }

        // Filter, starting where the last cycle stopped, until enough nodes fit.
        let filters = self.active_filters(&state);
        let filter = |info: &NodeInfo| {
            if snapshot.nominator.is_empty() {
                run_filters(&filters, &state, pod, info)
            } else {
                self.run_filter_with_nominated(&state, pod, info, snapshot)
            }
        };
        let mut statuses: BTreeMap<String, Status> = BTreeMap::new();
        let mut feasible: Vec<&NodeInfo> = recycle(std::mem::take(&mut cursor.feasible));
        let nominated = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty());
        if let Some(info) = nominated.and_then(|n| snapshot.get(n)) {
            let s = filter(info);
            if s.is_success() {
                explanation.evaluated_nodes = 1;
                explanation.feasible_nodes = 1;
                explanation.nominated_node = Some(info.name.clone());
                return (
                    Outcome::Scheduled {
                        node: info.name.clone(),
                    },
                    state,
                );
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
            let s = filter(info);
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
        let outcome = match feasible.len() {
            0 => {
                let node_to_status = NodeToStatus {
                    explicit: statuses,
                    absent: None,
                };
                Outcome::Unfit(FitError {
                    num_all_nodes: num_all,
                    node_to_status,
                    ..Default::default()
                })
            }
            1 => {
                explanation.scoring_skipped = true;
                Outcome::Scheduled {
                    node: feasible[0].name.clone(),
                }
            }
            _ => self.prioritize(&mut state, pod, snapshot, &feasible, cursor, explanation),
        };
        cursor.feasible = recycle(feasible);
        (outcome, state)
    }

    /// PreScore, Score, NormalizeScore and weights over the feasible nodes, and the pick:
    /// upstream's `prioritizeNodes` and `selectHost`.
    fn prioritize(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        feasible: &[&NodeInfo],
        cursor: &mut Cursor,
        explanation: &mut Explanation,
    ) -> Outcome {
        for pl in &self.pre_scores {
            let s = pl.pre_score(state, pod, feasible, snapshot);
            if s.is_skip() {
                state.skip_score.insert(pl.name());
            } else if !s.is_success() {
                return Outcome::Failed(format!("{}: {}", pl.name(), s.message()));
            }
        }
        let n = feasible.len();
        let mut totals = std::mem::take(&mut cursor.totals);
        totals.clear();
        totals.resize(n, 0);
        // Per plugin (in order), the raw and normalised scores, for the explanation only.
        let (mut raw, mut normalized) = (
            std::mem::take(&mut cursor.raw),
            std::mem::take(&mut cursor.normalized),
        );
        raw.clear();
        normalized.clear();
        let mut scored: Vec<(&'static str, i64)> = Vec::new();
        let mut scores: Vec<NodeScore<'_>> = recycle(std::mem::take(&mut cursor.scores));
        let mut failure = None;
        'plugins: for (pl, weight) in self
            .scores
            .iter()
            .filter(|(pl, _)| !state.skip_score.contains(pl.name()))
        {
            scores.clear();
            for info in feasible {
                match pl.score(state, pod, info, snapshot) {
                    Ok(v) => scores.push(NodeScore {
                        name: &info.name,
                        score: v,
                    }),
                    Err(s) => {
                        failure = Some(format!("{}: {}", pl.name(), s.message()));
                        break 'plugins;
                    }
                }
            }
            if explanation.enabled {
                raw.extend(scores.iter().map(|s| s.score));
            }
            let s = pl.normalize_score(state, pod, &mut scores);
            if !s.is_success() {
                failure = Some(format!("{}: {}", pl.name(), s.message()));
                break;
            }
            for (t, s) in totals.iter_mut().zip(&scores) {
                *t = t.saturating_add(s.score.saturating_mul(*weight));
            }
            if explanation.enabled {
                normalized.extend(scores.iter().map(|s| s.score));
                scored.push((pl.name(), *weight));
            }
        }
        let outcome = match failure {
            Some(message) => Outcome::Failed(message),
            None => {
                let best = select_host(&totals, cursor);
                if explanation.enabled {
                    // Rows only for the nodes listed: the best few and the pick.
                    let rows = explain::rows_to_show(&totals, best)
                        .into_iter()
                        .map(|i| NodeScores {
                            node: feasible[i].name.clone(),
                            total: totals[i],
                            plugins: scored
                                .iter()
                                .enumerate()
                                .map(|(p, (name, w))| {
                                    let (r, s) = (raw[p * n + i], normalized[p * n + i]);
                                    (
                                        name.to_string(),
                                        PluginScore {
                                            raw: r,
                                            normalized: s,
                                            weight: *w,
                                            weighted: s.saturating_mul(*w),
                                        },
                                    )
                                })
                                .collect(),
                        })
                        .collect();
                    explanation.record_scores(rows, n);
                }
                Outcome::Scheduled {
                    node: feasible[best].name.clone(),
                }
            }
        };
        cursor.scores = recycle(scores);
        (cursor.totals, cursor.raw, cursor.normalized) = (totals, raw, normalized);
        outcome
    }
}

/// upstream's `selectHost`: the highest total; ties broken uniformly at random (reservoir
/// sampling over the tied nodes).
fn select_host(totals: &[i64], cursor: &mut Cursor) -> usize {
    let mut best = 0;
    let mut ties = 0u64;
    for (i, &t) in totals.iter().enumerate() {
        if i == 0 || t > totals[best] {
            best = i;
            ties = 1;
        } else if t == totals[best] {
            ties += 1;
            if cursor.next().is_multiple_of(ties) {
                best = i;
            }
        }
    }
    best
}

/// `filters` in order on one node; the first rejection is the node's status.
fn run_filters(filters: &[&dyn Filter], state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status {
    for pl in filters {
        let status = pl.filter(state, pod, node);
        if !status.is_success() {
            return status.with_plugin(pl.name());
        }
    }
    Status::success()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::framework::testing::{NodeBuilder, PodBuilder};
    use crate::plugins::registry::Handle;

    fn default_framework() -> Framework {
        Profile::default()
            .framework(&Handle::default(), None)
            .unwrap()
    }

    fn statuses(list: &[(&str, Status)]) -> BTreeMap<String, Status> {
        list.iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect()
    }

    #[test]
    fn fit_error_messages_as_upstream() {
        let cpu = Status::unschedulable("Insufficient cpu");
        let taint = Status::unresolvable("node(s) had untolerated taint(s)");
        let fit = FitError {
            num_all_nodes: 3,
            node_to_status: NodeToStatus {
                explicit: statuses(&[("a", cpu.clone()), ("b", taint.clone()), ("c", taint)]),
                absent: None,
            },
            post_filter_msg:
                "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
                    .into(),
            ..Default::default()
        };
        // One period at the end: since v1.30 the PostFilter message is appended as is.
        assert_eq!(
            fit.message(),
            "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s). \
             preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        assert!(!fit.message().ends_with(".."));
        // A PreFilter rejection: its message only, not once more per node.
        let fit = FitError {
            num_all_nodes: 3,
            pre_filter_msg: "pod has unbound immediate PersistentVolumeClaims".into(),
            node_to_status: NodeToStatus {
                explicit: BTreeMap::new(),
                absent: Some(Status::unresolvable(
                    "pod has unbound immediate PersistentVolumeClaims",
                )),
            },
            ..Default::default()
        };
        assert_eq!(
            fit.message(),
            "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        );
        // Nodes not listed count with the absent status.
        let fit = FitError {
            num_all_nodes: 4,
            node_to_status: NodeToStatus {
                explicit: statuses(&[("a", cpu)]),
                absent: Some(Status::unresolvable(
                    "Preemption is not helpful for scheduling",
                )),
            },
            ..Default::default()
        };
        assert_eq!(
            fit.message(),
            "0/4 nodes are available: 1 Insufficient cpu, 3 Preemption is not helpful for scheduling."
        );
        assert_eq!(
            FitError::default().message(),
            "no nodes available to schedule pods"
        );
    }

    #[test]
    fn num_feasible_nodes_to_find_as_upstream() {
        let mut fw = default_framework();
        let adaptive: Vec<usize> = [50, 100, 1000, 5000, 6000]
            .iter()
            .map(|&n| fw.num_feasible_nodes_to_find(n))
            .collect();
        // < 100 all; 50 − n/125 percent (at least 5), at least 100 nodes.
        assert_eq!(adaptive, [50, 100, 420, 500, 300]);
        fw.percentage_of_nodes_to_score = Some(100);
        assert_eq!(fw.num_feasible_nodes_to_find(5000), 5000);
        fw.percentage_of_nodes_to_score = Some(30);
        assert_eq!(fw.num_feasible_nodes_to_find(200), 100);
    }

    fn pick(snapshot: &Snapshot, pod: &Pod, seed: u64) -> String {
        let mut expl = Explanation::default();
        match default_framework()
            .schedule(pod, snapshot, &mut Cursor::seeded(seed), &mut expl)
            .0
        {
            Outcome::Scheduled { node } => node,
            _ => panic!("not scheduled"),
        }
    }

    #[test]
    fn the_highest_total_wins_and_ties_are_broken_at_random() {
        let nodes = ["a", "b", "c"]
            .iter()
            .map(|n| NodeBuilder::new(n).capacity("4", "8Gi", "110").obj())
            .collect();
        let snapshot = Snapshot::from_objects(nodes, vec![]);
        let pod = PodBuilder::new("p").container_req("1", "1Gi").obj();
        let picks: std::collections::BTreeSet<String> =
            (1..40).map(|seed| pick(&snapshot, &pod, seed)).collect();
        assert_eq!(picks.len(), 3, "each equal node gets picked: {picks:?}");
        let nodes = vec![
            NodeBuilder::new("small").capacity("2", "8Gi", "110").obj(),
            NodeBuilder::new("big").capacity("8", "8Gi", "110").obj(),
        ];
        let snapshot = Snapshot::from_objects(nodes, vec![]);
        assert!((1..20).all(|seed| pick(&snapshot, &pod, seed) == "big"));
    }

    struct RejectAll;
    impl Plugin for RejectAll {
        fn name(&self) -> &'static str {
            "RejectAll"
        }
        fn as_pre_filter(self: Arc<Self>) -> Option<Arc<dyn PreFilter>> {
            Some(self)
        }
    }
    impl PreFilter for RejectAll {
        fn pre_filter(&self, _: &mut CycleState, _: &Pod, _: &Snapshot) -> Status {
            Status::unschedulable("no way")
        }
    }

    #[test]
    fn a_prefilter_rejection_ends_the_cycle_before_any_node() {
        let plugins: BTreeMap<String, Arc<dyn Plugin>> = [(
            "RejectAll".to_string(),
            Arc::new(RejectAll) as Arc<dyn Plugin>,
        )]
        .into();
        let set = PluginSet {
            pre_filter: vec!["RejectAll".into()],
            ..Default::default()
        };
        let fw = Framework::new("test", &set, &plugins, None).unwrap();
        let snapshot = Snapshot::from_objects(
            vec![NodeBuilder::new("a").obj(), NodeBuilder::new("b").obj()],
            vec![],
        );
        let mut expl = Explanation {
            enabled: true,
            ..Default::default()
        };
        let Outcome::Unfit(fit) = fw
            .schedule(
                &PodBuilder::new("p").obj(),
                &snapshot,
                &mut Cursor::seeded(1),
                &mut expl,
            )
            .0
        else {
            panic!("fit")
        };
        assert_eq!(fit.message(), "0/2 nodes are available: no way.");
        assert_eq!(fit.unschedulable_plugins(), ["RejectAll"]);
        assert_eq!(
            fit.node_to_status.get("b").map(Status::code),
            Some(Code::Unschedulable),
            "every node has its status, for preemption"
        );
        assert_eq!(
            expl.pre_filter.map(|f| f.plugin),
            Some("RejectAll".to_string())
        );
        assert_eq!(expl.evaluated_nodes, 0);
    }

    #[test]
    fn pods_nominated_to_a_node_keep_their_room_from_lower_priority_pods() {
        let mut snapshot = Snapshot::from_objects(
            vec![NodeBuilder::new("n").capacity("2", "8Gi", "110").obj()],
            vec![],
        );
        let nominated = PodBuilder::new("preemptor")
            .priority(100)
            .container_req("2", "")
            .nominated("n")
            .info();
        snapshot.nominator.add(nominated, "n");
        let fw = default_framework();
        let mut expl = Explanation::default();
        let low = PodBuilder::new("low")
            .priority(1)
            .container_req("1", "")
            .obj();
        let Outcome::Unfit(fit) = fw
            .schedule(&low, &snapshot, &mut Cursor::seeded(1), &mut expl)
            .0
        else {
            panic!("low must not fit")
        };
        assert_eq!(
            fit.message(),
            "0/1 nodes are available: 1 Insufficient cpu."
        );
        let high = PodBuilder::new("high")
            .priority(200)
            .container_req("1", "")
            .obj();
        assert!(matches!(
            fw.schedule(&high, &snapshot, &mut Cursor::seeded(1), &mut expl)
                .0,
            Outcome::Scheduled { .. }
        ));
        // The nominated pod itself is not counted against itself.
        let own = PodBuilder::new("preemptor")
            .priority(100)
            .container_req("2", "")
            .nominated("n")
            .obj();
        assert!(matches!(
            fw.schedule(&own, &snapshot, &mut Cursor::seeded(1), &mut expl)
                .0,
            Outcome::Scheduled { .. }
        ));
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;
    use crate::config::Profile;
    use crate::framework::events::node_update;
    use crate::framework::testing::{NodeBuilder, PodBuilder};
    use crate::framework::{ActionType, EventResource};
    use crate::plugins::registry::Handle;
    use k8s_openapi::api::core::v1::Node;

    fn node_change(
        fw: &Framework,
        pod: &Pod,
        rejected_by: &str,
        old: Option<Node>,
        new: Node,
    ) -> bool {
        let action = old
            .as_ref()
            .map_or(ActionType::ADD, |o| node_update(o, &new));
        let plugin: &'static str = fw
            .enqueue
            .keys()
            .find(|k| **k == rejected_by)
            .copied()
            .unwrap_or("unknown");
        let event = ClusterEvent::new(EventResource::Node, action);
        fw.is_worth_requeuing(
            pod,
            &[plugin],
            &event,
            &Change::Node {
                old: old.as_ref(),
                new: Some(&new),
            },
        )
    }

    fn pod_deleted(fw: &Framework, pod: &Pod, rejected_by: &'static str, deleted: &Pod) -> bool {
        let event = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
        fw.is_worth_requeuing(
            pod,
            &[rejected_by],
            &event,
            &Change::Pod {
                old: Some(deleted),
                new: None,
            },
        )
    }

    #[test]
    fn each_plugin_is_asked_only_about_changes_that_could_help() {
        let fw = Profile::default()
            .framework(&Handle::default(), None)
            .unwrap();
        let n = || NodeBuilder::new("n").capacity("4", "8Gi", "110");
        let plain = PodBuilder::new("p").container_req("2", "").obj();
        // TaintToleration: the untolerated taint removed, yes; a label change, no.
        let tainted = n().taint("dedicated", "x", "NoSchedule").obj();
        assert!(node_change(
            &fw,
            &plain,
            "TaintToleration",
            Some(tainted.clone()),
            n().obj()
        ));
        assert!(!node_change(
            &fw,
            &plain,
            "TaintToleration",
            Some(tainted.clone()),
            n().taint("dedicated", "x", "NoSchedule")
                .label("a", "b")
                .obj()
        ));
        // NodeAffinity: a relabel that makes the node match.
        let wants_ssd = PodBuilder::new("p").node_selector("disk", "ssd").obj();
        assert!(node_change(
            &fw,
            &wants_ssd,
            "NodeAffinity",
            Some(n().obj()),
            n().label("disk", "ssd").obj()
        ));
        assert!(!node_change(
            &fw,
            &wants_ssd,
            "NodeAffinity",
            Some(n().obj()),
            n().label("disk", "hdd").obj()
        ));
        // NodeResourcesFit: more allocatable, or a new node big enough.
        assert!(node_change(
            &fw,
            &plain,
            "NodeResourcesFit",
            Some(NodeBuilder::new("n").capacity("1", "8Gi", "110").obj()),
            n().obj()
        ));
        assert!(!node_change(
            &fw,
            &plain,
            "NodeResourcesFit",
            None,
            NodeBuilder::new("m").capacity("1", "8Gi", "110").obj()
        ));
        // NodeUnschedulable: uncordoned.
        assert!(node_change(
            &fw,
            &plain,
            "NodeUnschedulable",
            Some(n().unschedulable().obj()),
            n().obj()
        ));
        // NodePorts: a deleted pod that held the wanted port; another does not help.
        let wants_80 = PodBuilder::new("p").host_port(80, "TCP", "").obj();
        assert!(pod_deleted(
            &fw,
            &wants_80,
            "NodePorts",
            &PodBuilder::new("o")
                .node("n")
                .host_port(80, "TCP", "")
                .obj()
        ));
        assert!(!pod_deleted(
            &fw,
            &wants_80,
            "NodePorts",
            &PodBuilder::new("o")
                .node("n")
                .host_port(81, "TCP", "")
                .obj()
        ));
        // PodTopologySpread: a deleted pod its constraint selects.
        let spread = PodBuilder::new("p")
            .label("app", "web")
            .spread(1, "zone", "DoNotSchedule", &[("app", "web")])
            .obj();
        assert!(pod_deleted(
            &fw,
            &spread,
            "PodTopologySpread",
            &PodBuilder::new("w").label("app", "web").node("n").obj()
        ));
        assert!(!pod_deleted(
            &fw,
            &spread,
            "PodTopologySpread",
            &PodBuilder::new("d").label("app", "db").node("n").obj()
        ));
        // InterPodAffinity: the deleted pod's own anti-affinity had rejected the pod.
        let hated = PodBuilder::new("p").label("app", "p").obj();
        assert!(pod_deleted(
            &fw,
            &hated,
            "InterPodAffinity",
            &PodBuilder::new("h")
                .node("n")
                .pod_anti_affinity("zone", &[("app", "p")])
                .obj()
        ));
        assert!(!pod_deleted(
            &fw,
            &hated,
            "InterPodAffinity",
            &PodBuilder::new("x").node("n").obj()
        ));
        // A pod no plugin rejected: any event.
        let event = ClusterEvent::new(EventResource::Node, ActionType::UPDATE_NODE_CONDITION);
        assert!(fw.is_worth_requeuing(
            &plain,
            &[],
            &event,
            &Change::Node {
                old: None,
                new: None
            }
        ));
    }
}
