//! The scheduling queue: upstream's `PriorityQueue` with its parts.
//!
//! - **activeQ**: pods ready to be tried, highest `spec.priority` first, then oldest
//!   (creation time, then arrival order).
//! - **backoffQ**: pods that failed and wait out their backoff before going back to
//!   activeQ: 1 s doubling per failure, capped at 10 s (upstream's defaults), counted from
//!   the unschedulable rejections — or, after an error, from the consecutive errors.
//!   When activeQ is empty, a pod waiting only because an event moved it early is taken
//!   from backoffQ at once (upstream's `SchedulerPopFromBackoffQ`); a pod backing off after
//!   an error waits its time.
//! - **unschedulable**: pods no node fits; they stay until a cluster event could make them
//!   fit — which [`Queue::move_on_event`] decides per pod with the queueing hints of the
//!   plugins that rejected it — or for at most 5 minutes.
//! - **gated**: pods with `spec.schedulingGates`; they enter activeQ when the last gate is
//!   removed.
//!
//! A pod popped is *in flight* until it is assumed ([`Queue::done`]) or requeued. Time is
//! passed in, so tests step it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use crate::framework::node_info::is_gated;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `podMaxInUnschedulablePodsDuration`.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Active,
    /// `error`: backing off after an error (never taken early).
    Backoff {
        error: bool,
    },
    Unschedulable,
    Gated,
    InFlight,
}

/// A pod the queue holds.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub pod: Arc<Pod>,
    pub key: String,
    /// Scheduling attempts so far.
    pub attempts: u32,
    /// Times no node fitted (upstream's `UnschedulableCount`).
    pub unschedulable_count: u32,
    /// Errors since the last unschedulable result (upstream's `ConsecutiveErrorsCount`).
    pub consecutive_errors: u32,
    /// When the pod first entered the queue (for the scheduling SLI).
    pub first_seen: Instant,
    /// The plugins that rejected the pod in its last attempt: only their queueing hints
    /// decide whether an event retries it (none: any event does).
    pub unschedulable_plugins: Vec<&'static str>,
    last_failure: Option<Instant>,
    place: Where,
    seq: u64,
}

impl QueuedPod {
    /// Upstream's `calculateBackoffDuration`: no penalty before any failure; then 1 s
    /// doubling per failure (errors counted instead when the last attempt was one).
    pub fn backoff_duration(&self) -> Duration {
        let count = if self.consecutive_errors > 0 {
            self.consecutive_errors
        } else {
            self.unschedulable_count
        };
        if self.attempts == 0 || count == 0 {
            return Duration::ZERO;
        }
        let exp = (count - 1).min(16);
        (INITIAL_BACKOFF * 2u32.pow(exp)).min(MAX_BACKOFF)
    }
    fn backoff_until(&self) -> Option<Instant> {
        self.last_failure.map(|t| t + self.backoff_duration())
    }
    fn backing_off(&self, now: Instant) -> bool {
        self.backoff_until().is_some_and(|t| t > now)
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    priority: i32,
    /// Creation time in nanoseconds.
    created: i128,
    seq: u64,
    key: String,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: higher priority first, then older, then earlier.
        self.priority
            .cmp(&other.priority)
            .then_with(|| other.created.cmp(&self.created))
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Counts per part, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub active: usize,
    pub backoff: usize,
    pub unschedulable: usize,
    pub gated: usize,
}

#[derive(Debug, Default)]
pub struct Queue {
    pods: HashMap<String, QueuedPod>,
    active: BinaryHeap<Entry>,
    seq: u64,
    /// Keys in backoffQ or unschedulable (so a pop does not scan every pod).
    waiting: HashSet<String>,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

fn created(pod: &Pod) -> i128 {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_nanosecond())
}

/// What counts as a change to a pending pod that may make it fit: spec or labels (not
/// status, not annotations — the scheduler writes those itself).
fn changed(old: &Pod, new: &Pod) -> bool {
    old.spec != new.spec || old.metadata.labels != new.metadata.labels
}

impl Queue {
    pub fn new() -> Self {
        Queue::default()
    }

    fn push_active(&mut self, key: &str) {
        self.seq += 1;
        self.waiting.remove(key);
        let Some(qp) = self.pods.get_mut(key) else {
            return;
        };
        qp.place = Where::Active;
        qp.seq = self.seq;
        self.active.push(Entry {
            priority: priority(&qp.pod),
            created: created(&qp.pod),
            seq: self.seq,
            key: key.to_string(),
        });
    }

    fn set_waiting(&mut self, key: &str, place: Where) {
        if let Some(qp) = self.pods.get_mut(key) {
            qp.place = place;
            self.waiting.insert(key.to_string());
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// A new pending pod, or an update of one.
    pub fn add_or_update(&mut self, key: &str, pod: Arc<Pod>, now: Instant) {
        let gated = is_gated(&pod);
        match self.pods.get_mut(key) {
            None => {
                let qp = QueuedPod {
                    pod,
                    key: key.to_string(),
                    attempts: 0,
                    unschedulable_count: 0,
                    consecutive_errors: 0,
                    first_seen: now,
                    unschedulable_plugins: Vec::new(),
                    last_failure: None,
                    place: Where::Gated,
                    seq: 0,
                };
                self.pods.insert(key.to_string(), qp);
                if !gated {
                    self.push_active(key);
                }
            }
            Some(qp) => {
                let was_changed = changed(&qp.pod, &pod);
                let reprioritised = priority(&qp.pod) != priority(&pod);
                qp.pod = pod;
                match qp.place {
                    // The last gate removed: the pod enters the queue (upstream's
                    // UpdatePodSchedulingGatesEliminated), its SLI clock starting now.
                    Where::Gated if !gated => {
                        qp.first_seen = now;
                        self.push_active(key);
                    }
                    Where::Unschedulable if was_changed => {
                        if qp.backing_off(now) {
                            self.set_waiting(key, Where::Backoff { error: false });
                        } else {
                            self.push_active(key);
                        }
                    }
                    Where::Active if reprioritised => self.push_active(key),
                    _ => {}
                }
            }
        }
    }

    pub fn delete(&mut self, key: &str) {
        self.pods.remove(key);
        self.waiting.remove(key);
    }

    /// Move backoff pods whose time is up to activeQ, and unschedulable ones left too long.
    fn flush(&mut self, now: Instant) {
        if self.waiting.is_empty() {
            return;
        }
        let ready: Vec<String> = self
            .waiting
            .iter()
            .filter_map(|k| self.pods.get(k))
            .filter(|qp| match qp.place {
                Where::Backoff { .. } => !qp.backing_off(now),
                Where::Unschedulable => qp
                    .last_failure
                    .is_some_and(|t| now.duration_since(t) >= MAX_UNSCHEDULABLE),
                _ => false,
            })
            .map(|qp| qp.key.clone())
            .collect();
        for key in ready {
            self.push_active(&key);
        }
    }

    /// The next pod to schedule; it is in flight until [`Queue::done`] or a requeue.
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPod> {
        self.flush(now);
        while let Some(e) = self.active.pop() {
            let Some(qp) = self.pods.get(&e.key) else {
                continue;
            };
            if qp.place != Where::Active || qp.seq != e.seq {
                continue;
            }
            return self.take(&e.key);
        }
        // activeQ is empty: a pod an event moved to backoffQ need not wait.
        let early = self
            .waiting
            .iter()
            .filter_map(|k| self.pods.get(k))
            .filter(|qp| qp.place == (Where::Backoff { error: false }))
            .min_by_key(|qp| (qp.backoff_until(), qp.seq))
            .map(|qp| qp.key.clone())?;
        self.waiting.remove(&early);
        self.take(&early)
    }

    fn take(&mut self, key: &str) -> Option<QueuedPod> {
        let qp = self.pods.get_mut(key)?;
        qp.place = Where::InFlight;
        qp.attempts += 1;
        Some(qp.clone())
    }

    /// When the earliest backoff ends (to sleep until then).
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.waiting
            .iter()
            .filter_map(|k| self.pods.get(k))
            .filter_map(|qp| match qp.place {
                Where::Backoff { .. } => qp.backoff_until(),
                Where::Unschedulable => qp.last_failure.map(|t| t + MAX_UNSCHEDULABLE),
                _ => None,
            })
            .min()
    }

    /// The pod was assumed on a node: the queue lets go of it.
    pub fn done(&mut self, key: &str) {
        self.delete(key);
    }

    /// No node fits: wait for an event that one of `plugins` says may help. A pod the
    /// watch removed meanwhile (deleted, bound elsewhere) is not brought back.
    pub fn requeue_unschedulable(&mut self, key: &str, plugins: Vec<&'static str>, now: Instant) {
        let Some(qp) = self.pods.get_mut(key) else {
            return;
        };
        if qp.place != Where::InFlight {
            return;
        }
        qp.unschedulable_count += 1;
        qp.consecutive_errors = 0;
        qp.last_failure = Some(now);
        qp.unschedulable_plugins = plugins;
        self.set_waiting(key, Where::Unschedulable);
    }

    /// An error in the scheduling cycle: retry after the error backoff. A pod the watch
    /// removed meanwhile is not brought back.
    pub fn requeue_error(&mut self, key: &str, now: Instant) {
        let Some(qp) = self.pods.get_mut(key) else {
            return;
        };
        if qp.place != Where::InFlight {
            return;
        }
        qp.consecutive_errors += 1;
        qp.last_failure = Some(now);
        qp.unschedulable_plugins.clear();
        self.set_waiting(key, Where::Backoff { error: true });
    }

    /// A failed bind of a pod the queue had let go: back to the error backoff with its
    /// counts, as `latest` (the pod as the watch last saw it). The caller checks that the
    /// pod still exists unbound — upstream's informer lookup in `handleSchedulingFailure`.
    pub fn requeue_after_bind_failure(
        &mut self,
        mut qp: QueuedPod,
        latest: Arc<Pod>,
        now: Instant,
    ) {
        if self.pods.contains_key(&qp.key) {
            return;
        }
        let key = qp.key.clone();
        qp.pod = latest;
        qp.consecutive_errors += 1;
        qp.last_failure = Some(now);
        qp.unschedulable_plugins.clear();
        qp.place = Where::Backoff { error: true };
        self.pods.insert(key.clone(), qp);
        self.waiting.insert(key);
    }

    /// A cluster event: each unschedulable pod for which `worth_requeuing` says the event
    /// may help moves to activeQ, or to backoffQ while its backoff lasts. Returns how many
    /// moved.
    pub fn move_on_event(
        &mut self,
        now: Instant,
        mut worth_requeuing: impl FnMut(&QueuedPod) -> bool,
    ) -> usize {
        let mut activate = Vec::new();
        let mut moved = 0;
        for key in &self.waiting {
            let Some(qp) = self.pods.get_mut(key) else {
                continue;
            };
            if qp.place != Where::Unschedulable || !worth_requeuing(qp) {
                continue;
            }
            moved += 1;
            if qp.backing_off(now) {
                qp.place = Where::Backoff { error: false };
            } else {
                activate.push(qp.key.clone());
            }
        }
        for key in activate {
            self.push_active(&key);
        }
        moved
    }

    /// Every unschedulable pod back to the queue (the caches were re-listed).
    pub fn move_all(&mut self, now: Instant) {
        self.move_on_event(now, |_| true);
    }

    pub fn pending(&self) -> Pending {
        let mut p = Pending::default();
        for qp in self.pods.values() {
            match qp.place {
                Where::Active | Where::InFlight => p.active += 1,
                Where::Backoff { .. } => p.backoff += 1,
                Where::Unschedulable => p.unschedulable += 1,
                Where::Gated => p.gated += 1,
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::PodBuilder;

    fn pod(name: &str, prio: i32) -> Arc<Pod> {
        Arc::new(PodBuilder::new(name).priority(prio).obj())
    }

    #[test]
    fn pops_by_priority_then_arrival() {
        let now = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), now);
        q.add_or_update("b", pod("b", 10), now);
        q.add_or_update("c", pod("c", 0), now);
        let order: Vec<String> = std::iter::from_fn(|| q.pop(now).map(|p| p.key)).collect();
        assert_eq!(order, ["b", "a", "c"]);
    }

    #[test]
    fn equal_priority_pods_pop_oldest_first() {
        let now = Instant::now();
        let mut q = Queue::new();
        q.add_or_update(
            "young",
            Arc::new(
                PodBuilder::new("young")
                    .created("2026-01-01T00:00:10Z")
                    .obj(),
            ),
            now,
        );
        q.add_or_update(
            "old",
            Arc::new(PodBuilder::new("old").created("2026-01-01T00:00:00Z").obj()),
            now,
        );
        q.add_or_update(
            "older-but-low",
            Arc::new(
                PodBuilder::new("older-but-low")
                    .priority(-1)
                    .created("2025-01-01T00:00:00Z")
                    .obj(),
            ),
            now,
        );
        let order: Vec<String> = std::iter::from_fn(|| q.pop(now).map(|p| p.key)).collect();
        assert_eq!(order, ["old", "young", "older-but-low"]);
    }

    #[test]
    fn unschedulable_pods_wait_for_an_event_then_their_backoff_unless_idle() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        assert_eq!(q.pop(t0).unwrap().attempts, 1);
        q.requeue_unschedulable("a", vec!["NodeResourcesFit"], t0);
        assert!(
            q.pop(t0 + Duration::from_secs(30)).is_none(),
            "waits for an event"
        );
        assert_eq!(q.pending().unschedulable, 1);
        // An event within the 1 s backoff: backoffQ; with another pod active, it waits.
        q.move_on_event(t0 + Duration::from_millis(500), |_| true);
        assert_eq!(q.pending().backoff, 1);
        q.add_or_update("b", pod("b", 0), t0);
        assert_eq!(q.pop(t0 + Duration::from_millis(600)).unwrap().key, "b");
        q.done("b");
        // activeQ empty: taken early.
        let p = q.pop(t0 + Duration::from_millis(600)).unwrap();
        assert_eq!(p.attempts, 2);
        // Second failure: 2 s backoff, respected by the flush.
        q.requeue_unschedulable("a", vec![], t0 + Duration::from_secs(2));
        q.move_on_event(t0 + Duration::from_secs(3), |_| true);
        q.add_or_update("c", pod("c", 0), t0);
        assert_eq!(q.pop(t0 + Duration::from_millis(3900)).unwrap().key, "c");
        assert_eq!(q.pop(t0 + Duration::from_secs(4)).unwrap().key, "a");
    }

    #[test]
    fn backoff_doubles_to_ten_seconds_and_counts_errors_after_an_error() {
        let mut qp = QueuedPod {
            pod: pod("a", 0),
            key: "a".into(),
            attempts: 1,
            unschedulable_count: 0,
            consecutive_errors: 0,
            first_seen: Instant::now(),
            unschedulable_plugins: Vec::new(),
            last_failure: None,
            place: Where::Active,
            seq: 0,
        };
        assert_eq!(qp.backoff_duration(), Duration::ZERO, "no failure yet");
        let mut got = Vec::new();
        for n in 1..=6 {
            qp.unschedulable_count = n;
            got.push(qp.backoff_duration().as_secs());
        }
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
        qp.consecutive_errors = 1;
        assert_eq!(
            qp.backoff_duration().as_secs(),
            1,
            "the error count, not the unschedulable count"
        );
    }

    #[test]
    fn error_backoff_is_not_cut_short() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        q.pop(t0).unwrap();
        q.requeue_error("a", t0);
        assert!(q.pop(t0 + Duration::from_millis(900)).is_none());
        assert!(q.pop(t0 + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn hints_decide_which_pods_an_event_moves() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        for k in ["cpu", "affinity"] {
            q.add_or_update(k, pod(k, 0), t0);
            q.pop(t0).unwrap();
        }
        q.requeue_unschedulable("cpu", vec!["NodeResourcesFit"], t0);
        q.requeue_unschedulable("affinity", vec!["InterPodAffinity"], t0);
        let moved = q.move_on_event(t0 + Duration::from_secs(5), |qp| {
            qp.unschedulable_plugins.contains(&"InterPodAffinity")
        });
        assert_eq!(moved, 1);
        assert_eq!(q.pop(t0 + Duration::from_secs(5)).unwrap().key, "affinity");
        assert!(q.pop(t0 + Duration::from_secs(5)).is_none());
    }

    #[test]
    fn unschedulable_pods_come_back_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        q.pop(t0).unwrap();
        q.requeue_unschedulable("a", vec![], t0);
        assert!(q.pop(t0 + Duration::from_secs(299)).is_none());
        assert!(q.pop(t0 + MAX_UNSCHEDULABLE).is_some());
    }

    #[test]
    fn a_spec_change_retries_an_unschedulable_pod() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        q.pop(t0).unwrap();
        q.requeue_unschedulable("a", vec!["NodeResourcesFit"], t0);
        // A status/annotation-only update does nothing.
        q.add_or_update("a", pod("a", 0), t0 + Duration::from_secs(5));
        assert!(q.pop(t0 + Duration::from_secs(5)).is_none());
        q.add_or_update(
            "a",
            Arc::new(PodBuilder::new("a").label("x", "y").obj()),
            t0 + Duration::from_secs(5),
        );
        assert!(q.pop(t0 + Duration::from_secs(5)).is_some());
    }

    #[test]
    fn a_pod_removed_during_its_cycle_is_not_brought_back() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        for k in ["a", "b"] {
            q.add_or_update(k, pod(k, 0), t0);
        }
        q.pop(t0).unwrap();
        q.pop(t0).unwrap();
        q.delete("a");
        q.delete("b");
        q.requeue_unschedulable("a", vec![], t0);
        q.requeue_error("b", t0);
        assert_eq!(q.pending(), Pending::default());
    }

    #[test]
    fn gated_pods_wait_for_their_gates_to_go() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        let gated = Arc::new(
            PodBuilder::new("g")
                .scheduling_gate("example.com/wait")
                .obj(),
        );
        q.add_or_update("g", gated.clone(), t0);
        assert!(q.pop(t0).is_none());
        assert_eq!(
            q.pending(),
            Pending {
                gated: 1,
                ..Default::default()
            }
        );
        // An event does not move it; an update keeping a gate does not either.
        q.move_all(t0);
        q.add_or_update("g", gated, t0);
        assert!(q.pop(t0).is_none());
        q.add_or_update(
            "g",
            Arc::new(PodBuilder::new("g").obj()),
            t0 + Duration::from_secs(1),
        );
        let p = q.pop(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!((p.attempts, p.first_seen), (1, t0 + Duration::from_secs(1)));
    }
}
