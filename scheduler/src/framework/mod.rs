//! The scheduling framework: extension points, plugin statuses, per-cycle state.
//!
//! As upstream's `pkg/scheduler/framework`: a scheduling cycle runs, for one pod, every
//! enabled plugin at each extension point in order — PreFilter (once per pod), Filter (per
//! node: may the pod go there?), PostFilter (only when no node fits: preemption), PreScore
//! (once), Score (per feasible node, then NormalizeScore to 0..=100 per plugin, times the
//! plugin's weight, summed) — and then Bind. A plugin implements the base [`Plugin`] trait
//! and the extension points it takes part in; [`runtime::Framework`] builds the lists from
//! a profile. This module never names a plugin.
//!
//! Plugins that can reject a pod also say which cluster events could change their mind
//! ([`Plugin::events_to_register`], [`Plugin::queueing_hint`]; see [`events`]).

pub mod events;
pub mod node_info;
pub mod resource;
pub mod runtime;
#[cfg(test)]
pub mod testing;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;

pub use events::{ActionType, Change, ClusterEvent, EventResource, QueueingHint};
pub use node_info::{NodeInfo, PodInfo, Snapshot};

/// The highest score a Score plugin gives after normalisation.
pub const MAX_NODE_SCORE: i64 = 100;

/// What a plugin says: upstream's `framework.Code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Code {
    Success,
    /// The pod does not fit now; preemption may help.
    Unschedulable,
    /// The pod does not fit, and preemption on this node will not help.
    UnschedulableAndUnresolvable,
    /// An internal fault: not the pod's or the node's fault.
    Error,
    /// The plugin has nothing to do for this pod (PreFilter/PreScore): its Filter/Score is
    /// skipped.
    Skip,
}

/// A plugin's verdict with its reasons (all of them at once, as upstream's `fit.go` does):
/// `framework::Status`, not the API's `meta/v1 Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    code: Code,
    reasons: Vec<String>,
    plugin: &'static str,
}

impl Status {
    pub fn success() -> Self {
        Status {
            code: Code::Success,
            reasons: Vec::new(),
            plugin: "",
        }
    }
    pub fn skip() -> Self {
        Status {
            code: Code::Skip,
            reasons: Vec::new(),
            plugin: "",
        }
    }
    pub fn new(code: Code, reasons: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Status {
            code,
            reasons: reasons.into_iter().map(Into::into).collect(),
            plugin: "",
        }
    }
    pub fn unschedulable(reason: impl Into<String>) -> Self {
        Status::new(Code::Unschedulable, [reason.into()])
    }
    pub fn unresolvable(reason: impl Into<String>) -> Self {
        Status::new(Code::UnschedulableAndUnresolvable, [reason.into()])
    }
    pub fn error(reason: impl Into<String>) -> Self {
        Status::new(Code::Error, [reason.into()])
    }
    pub fn with_plugin(mut self, plugin: &'static str) -> Self {
        self.plugin = plugin;
        self
    }
    pub fn code(&self) -> Code {
        self.code
    }
    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }
    /// The plugin that failed (empty for success).
    pub fn plugin(&self) -> &'static str {
        self.plugin
    }
    pub fn is_success(&self) -> bool {
        self.code == Code::Success
    }
    pub fn is_skip(&self) -> bool {
        self.code == Code::Skip
    }
    pub fn is_rejected(&self) -> bool {
        matches!(
            self.code,
            Code::Unschedulable | Code::UnschedulableAndUnresolvable
        )
    }
    pub fn message(&self) -> String {
        self.reasons.join(", ")
    }
}

/// Data a plugin keeps for one cycle (from its PreFilter/PreScore to its Filter/Score).
pub trait StateData: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn StateData>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Send + Sync + Clone> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A few plugin names (a cycle has at most a dozen plugins: a list beats hashing).
#[derive(Debug, Clone, Default)]
pub struct PluginNames(Vec<&'static str>);

impl PluginNames {
    pub fn insert(&mut self, name: &'static str) {
        if !self.contains(name) {
            self.0.push(name);
        }
    }
    pub fn contains(&self, name: &'static str) -> bool {
        self.0.contains(&name)
    }
}

/// One scheduling cycle's scratch space: upstream's `CycleState`. Clonable, so preemption
/// can ask "what if these pods were gone" without touching the real one. Plugins read it
/// once per node, so it is a short list looked up by key rather than a hash map.
#[derive(Default)]
pub struct CycleState {
    data: Vec<(&'static str, Box<dyn StateData>)>,
    /// Plugins whose PreFilter said Skip.
    pub skip_filter: PluginNames,
    /// Plugins whose PreScore said Skip.
    pub skip_score: PluginNames,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, (**v).clone_box()))
                .collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl CycleState {
    pub fn new() -> Self {
        CycleState::default()
    }
    pub fn write<T: StateData>(&mut self, key: &'static str, value: T) {
        match self.data.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }
    pub fn read<T: 'static>(&self, key: &'static str) -> Option<&T> {
        self.data
            .iter()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_ref().as_any().downcast_ref())
    }
    pub fn read_mut<T: 'static>(&mut self, key: &'static str) -> Option<&mut T> {
        self.data
            .iter_mut()
            .find(|(k, _)| *k == key)
            .and_then(|(_, v)| v.as_mut().as_any_mut().downcast_mut())
    }
}

/// A node's score from one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore<'a> {
    pub name: &'a str,
    pub score: i64,
}

/// The base of every plugin: its name (upstream's configuration name), which extension
/// points it takes part in, and — for plugins that can reject a pod — which cluster events
/// could make a pod it rejected schedulable (upstream's `EnqueueExtensions`).
pub trait Plugin: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// The events that may resolve this plugin's rejections. By default every event, as
    /// upstream treats a plugin that does not say.
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        vec![ClusterEvent::ALL]
    }
    /// For one registered event, whether it may make `pod` (which this plugin rejected)
    /// schedulable: upstream's `QueueingHintFn`. By default Queue.
    fn queueing_hint(&self, _pod: &Pod, _change: &Change<'_>) -> QueueingHint {
        QueueingHint::Queue
    }
    fn as_pre_filter(self: Arc<Self>) -> Option<Arc<dyn PreFilter>> {
        None
    }
    fn as_filter(self: Arc<Self>) -> Option<Arc<dyn Filter>> {
        None
    }
    fn as_post_filter(self: Arc<Self>) -> Option<Arc<dyn PostFilter>> {
        None
    }
    fn as_pre_score(self: Arc<Self>) -> Option<Arc<dyn PreScore>> {
        None
    }
    fn as_score(self: Arc<Self>) -> Option<Arc<dyn Score>> {
        None
    }
    fn as_bind(self: Arc<Self>) -> Option<Arc<dyn Bind>> {
        None
    }
}

/// Once per pod before Filter: compute what Filter needs, or reject the pod outright.
/// `Skip` skips this plugin's Filter for the cycle.
pub trait PreFilter: Plugin {
    fn pre_filter(&self, state: &mut CycleState, pod: &Pod, snapshot: &Snapshot) -> Status;
    /// Update the PreFilter state as if `added` ran on `node` (preemption's what-ifs;
    /// upstream's `PreFilterExtensions.AddPod`).
    fn add_pod(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _added: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
    /// As [`PreFilter::add_pod`], for a pod removed from `node`.
    fn remove_pod(
        &self,
        _state: &mut CycleState,
        _pod: &Pod,
        _removed: &PodInfo,
        _node: &NodeInfo,
    ) -> Status {
        Status::success()
    }
}

/// Per node: may the pod run there?
pub trait Filter: Plugin {
    fn filter(&self, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Status;
}

/// What to do with the pod's `status.nominatedNodeName` after a failed cycle: upstream's
/// `NominatingInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Nominating {
    /// Leave it as it is.
    Keep,
    /// Set it to this node; empty clears it.
    Override(String),
}

/// What a PostFilter plugin (preemption) decided.
#[derive(Debug, Clone)]
pub struct PostFilterResult {
    /// The node the pod should go to once the victims are gone (or a cleared nomination).
    pub nominating: Nominating,
    /// Pods to delete (gracefully) to make room.
    pub victims: Vec<Arc<PodInfo>>,
    /// Lower-priority pods nominated to the chosen node, whose nomination is cleared.
    pub clear_nominations: Vec<Arc<PodInfo>>,
    /// Success when a node was nominated; otherwise why not (its reasons become the
    /// `preemption: ...` part of the condition message).
    pub status: Status,
}

impl PostFilterResult {
    /// The node nominated, if one was.
    pub fn nominated_node(&self) -> Option<&str> {
        match &self.nominating {
            Nominating::Override(n) if !n.is_empty() => Some(n),
            _ => None,
        }
    }
}

/// Only when no node passed Filter: try to make the pod schedulable (preemption).
pub trait PostFilter: Plugin {
    fn post_filter(
        &self,
        framework: &runtime::Framework,
        state: &CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        statuses: &runtime::NodeToStatus,
    ) -> PostFilterResult;
}

/// Once per pod before Score, with the feasible nodes. `Skip` skips this plugin's Score.
pub trait PreScore: Plugin {
    fn pre_score(
        &self,
        state: &mut CycleState,
        pod: &Pod,
        nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status;
}

/// Per feasible node: how good a fit, any range; then NormalizeScore maps every node's
/// score to `0..=MAX_NODE_SCORE`.
pub trait Score: Plugin {
    fn score(
        &self,
        state: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<i64, Status>;
    fn normalize_score(
        &self,
        _state: &CycleState,
        _pod: &Pod,
        _scores: &mut [NodeScore<'_>],
    ) -> Status {
        Status::success()
    }
}

/// What a Bind plugin writes: the pod, the node, and annotations to set in the same write.
#[derive(Debug, Clone)]
pub struct BindRequest {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub node: String,
    pub annotations: BTreeMap<String, String>,
}

/// Assign the pod to the node in the API. A failure is an `Error` status carrying the API's
/// answer (a 409 when the pod was bound elsewhere or is being deleted).
pub trait Bind: Plugin {
    fn bind(&self, request: BindRequest) -> BoxFuture<'static, Status>;
}

/// Upstream's `DefaultNormalizeScore`: scale so the best node gets `max`; `reverse` makes
/// the lowest raw score the best.
pub fn default_normalize_score(max: i64, reverse: bool, scores: &mut [NodeScore<'_>]) {
    let highest = scores.iter().map(|s| s.score).max().unwrap_or(0);
    if highest == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = max;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max * s.score / highest;
        if reverse {
            v = max - v;
        }
        s.score = v;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(v: &[i64]) -> Vec<NodeScore<'static>> {
        v.iter()
            .map(|&s| NodeScore {
                name: "n",
                score: s,
            })
            .collect()
    }

    #[test]
    fn default_normalize_score_table() {
        let cases: &[(&[i64], bool, &[i64])] = &[
            (&[10, 20, 30], false, &[33, 66, 100]),
            (&[10, 20, 30], true, &[67, 34, 0]),
            (&[0, 0], false, &[0, 0]),
            (&[0, 0], true, &[100, 100]),
            (&[1, 0, 3], true, &[67, 100, 0]),
        ];
        for (input, reverse, want) in cases {
            let mut s = scores(input);
            default_normalize_score(MAX_NODE_SCORE, *reverse, &mut s);
            assert_eq!(
                s.iter().map(|s| s.score).collect::<Vec<_>>(),
                *want,
                "{input:?} reverse={reverse}"
            );
        }
    }

    #[test]
    fn cycle_state_clones_deeply() {
        let mut state = CycleState::new();
        state.write("k", 1i64);
        let mut copy = state.clone();
        *copy.read_mut::<i64>("k").unwrap() = 2;
        assert_eq!(state.read::<i64>("k"), Some(&1));
        assert_eq!(copy.read::<i64>("k"), Some(&2));
    }
}
