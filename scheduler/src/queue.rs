//! The scheduling queue: upstream's `PriorityQueue` with its three parts.
//!
//! - **activeQ**: pods ready to be tried, highest `spec.priority` first, then oldest
//!   (creation time, then arrival order).
//! - **backoffQ**: pods that failed and wait out their backoff — 1 s doubling per attempt,
//!   capped at 10 s (upstream's defaults) — before going back to activeQ.
//! - **unschedulable**: pods no node fits; they stay until a cluster event could make them
//!   fit (a node added or changed, an assigned pod deleted: [`Queue::move_all`]), or for at
//!   most 5 minutes. A pod whose cycle overlapped such an event goes to backoff instead, so
//!   the event is not missed.
//!
//! Time is passed in, so tests step it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream's `podMaxInUnschedulablePodsDuration`.
pub const MAX_UNSCHEDULABLE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Active,
    Backoff,
    Unschedulable,
    InFlight,
}

/// A pod the queue holds.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub pod: Arc<Pod>,
    pub key: String,
    /// Scheduling attempts so far.
    pub attempts: u32,
    pub first_seen: Instant,
    last_failure: Option<Instant>,
    place: Where,
    seq: u64,
    /// A cluster event arrived while this pod was being scheduled.
    moved_in_flight: bool,
}

impl QueuedPod {
    pub fn backoff_duration(&self) -> Duration {
        let exp = self.attempts.saturating_sub(1).min(16);
        (INITIAL_BACKOFF * 2u32.pow(exp)).min(MAX_BACKOFF)
    }
    fn backoff_until(&self) -> Option<Instant> {
        self.last_failure.map(|t| t + self.backoff_duration())
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Entry {
    priority: i32,
    created: String,
    seq: u64,
    key: String,
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: higher priority first, then older, then earlier.
        self.priority.cmp(&other.priority).then_with(|| other.created.cmp(&self.created)).then_with(|| other.seq.cmp(&self.seq))
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
}

#[derive(Debug, Default)]
pub struct Queue {
    pods: HashMap<String, QueuedPod>,
    active: BinaryHeap<Entry>,
    seq: u64,
    /// Keys in backoffQ or unschedulable (so a pop does not scan every pod).
    waiting: HashSet<String>,
    in_flight: HashSet<String>,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

fn created(pod: &Pod) -> String {
    pod.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string()).unwrap_or_default()
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
        self.in_flight.remove(key);
        let Some(qp) = self.pods.get_mut(key) else { return };
        qp.place = Where::Active;
        qp.seq = self.seq;
        self.active.push(Entry { priority: priority(&qp.pod), created: created(&qp.pod), seq: self.seq, key: key.to_string() });
    }

    pub fn contains(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    /// A new pending pod, or an update of one.
    pub fn add_or_update(&mut self, key: &str, pod: Arc<Pod>, now: Instant) {
        match self.pods.get_mut(key) {
            None => {
                self.pods.insert(
                    key.to_string(),
                    QueuedPod { pod, key: key.to_string(), attempts: 0, first_seen: now, last_failure: None, place: Where::Active, seq: 0, moved_in_flight: false },
                );
                self.push_active(key);
            }
            Some(qp) => {
                let was_changed = changed(&qp.pod, &pod);
                let reprioritised = priority(&qp.pod) != priority(&pod);
                qp.pod = pod;
                match qp.place {
                    Where::Unschedulable if was_changed => {
                        let backing_off = qp.backoff_until().is_some_and(|t| t > now);
                        if backing_off {
                            qp.place = Where::Backoff;
                            self.waiting.insert(key.to_string());
                        } else {
                            self.push_active(key);
                        }
                    }
                    Where::Active if reprioritised => self.push_active(key),
                    Where::InFlight if was_changed => qp.moved_in_flight = true,
                    _ => {}
                }
            }
        }
    }

    pub fn delete(&mut self, key: &str) {
        self.pods.remove(key);
        self.waiting.remove(key);
        self.in_flight.remove(key);
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
                Where::Backoff => qp.backoff_until().is_none_or(|t| t <= now),
                Where::Unschedulable => qp.last_failure.is_some_and(|t| now.duration_since(t) >= MAX_UNSCHEDULABLE),
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
            let Some(qp) = self.pods.get_mut(&e.key) else { continue };
            if qp.place != Where::Active || qp.seq != e.seq {
                continue;
            }
            qp.place = Where::InFlight;
            self.in_flight.insert(e.key.clone());
            qp.attempts += 1;
            qp.moved_in_flight = false;
            return Some(qp.clone());
        }
        None
    }

    /// When the earliest backoff ends (to sleep until then).
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.waiting
            .iter()
            .filter_map(|k| self.pods.get(k))
            .filter_map(|qp| match qp.place {
                Where::Backoff => qp.backoff_until(),
                Where::Unschedulable => qp.last_failure.map(|t| t + MAX_UNSCHEDULABLE),
                _ => None,
            })
            .min()
    }

    /// The pod was assumed on a node: the queue lets go of it.
    pub fn done(&mut self, key: &str) {
        self.delete(key);
    }

    /// No node fits: wait for a cluster event (or backoff, if one came during the cycle).
    pub fn requeue_unschedulable(&mut self, key: &str, now: Instant) {
        self.in_flight.remove(key);
        let Some(qp) = self.pods.get_mut(key) else { return };
        qp.last_failure = Some(now);
        qp.place = if qp.moved_in_flight { Where::Backoff } else { Where::Unschedulable };
        self.waiting.insert(key.to_string());
    }

    /// An error or a failed bind: retry after the backoff. `attempts` carries over from a
    /// pod the queue had let go (bind failure).
    pub fn requeue_backoff(&mut self, key: &str, pod: Arc<Pod>, attempts: u32, now: Instant) {
        let qp = self.pods.entry(key.to_string()).or_insert_with(|| QueuedPod {
            pod: pod.clone(),
            key: key.to_string(),
            attempts,
            first_seen: now,
            last_failure: None,
            place: Where::Backoff,
            seq: 0,
            moved_in_flight: false,
        });
        qp.pod = pod;
        qp.attempts = qp.attempts.max(attempts);
        qp.last_failure = Some(now);
        qp.place = Where::Backoff;
        self.in_flight.remove(key);
        self.waiting.insert(key.to_string());
    }

    /// A cluster event that may make unschedulable pods fit: move them to activeQ (or to
    /// backoffQ while their backoff lasts); pods in flight go to backoff when they fail.
    pub fn move_all(&mut self, now: Instant) {
        let mut activate = Vec::new();
        for key in &self.waiting {
            let Some(qp) = self.pods.get_mut(key) else { continue };
            if qp.place == Where::Unschedulable {
                if qp.backoff_until().is_some_and(|t| t > now) {
                    qp.place = Where::Backoff;
                } else {
                    activate.push(qp.key.clone());
                }
            }
        }
        for key in &self.in_flight {
            if let Some(qp) = self.pods.get_mut(key) {
                qp.moved_in_flight = true;
            }
        }
        for key in activate {
            self.push_active(&key);
        }
    }

    pub fn pending(&self) -> Pending {
        let mut p = Pending::default();
        for qp in self.pods.values() {
            match qp.place {
                Where::Active | Where::InFlight => p.active += 1,
                Where::Backoff => p.backoff += 1,
                Where::Unschedulable => p.unschedulable += 1,
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
    fn unschedulable_pods_wait_for_an_event_then_respect_backoff() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        assert_eq!(q.pop(t0).unwrap().attempts, 1);
        q.requeue_unschedulable("a", t0);
        assert!(q.pop(t0 + Duration::from_secs(30)).is_none(), "waits for an event");
        assert_eq!(q.pending().unschedulable, 1);
        // An event within the 1 s backoff: backoffQ, out after it.
        q.move_all(t0 + Duration::from_millis(500));
        assert!(q.pop(t0 + Duration::from_millis(600)).is_none());
        let p = q.pop(t0 + Duration::from_millis(1000)).unwrap();
        assert_eq!(p.attempts, 2);
        // Second failure: 2 s backoff.
        q.requeue_unschedulable("a", t0 + Duration::from_secs(2));
        q.move_all(t0 + Duration::from_secs(3));
        assert!(q.pop(t0 + Duration::from_millis(3900)).is_none());
        assert!(q.pop(t0 + Duration::from_secs(4)).is_some());
    }

    #[test]
    fn backoff_doubles_to_ten_seconds() {
        let mut qp = QueuedPod {
            pod: pod("a", 0),
            key: "a".into(),
            attempts: 1,
            first_seen: Instant::now(),
            last_failure: None,
            place: Where::Active,
            seq: 0,
            moved_in_flight: false,
        };
        let mut got = Vec::new();
        for a in 1..=6 {
            qp.attempts = a;
            got.push(qp.backoff_duration().as_secs());
        }
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn an_event_during_the_cycle_sends_the_pod_to_backoff() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        q.pop(t0).unwrap();
        q.move_all(t0);
        q.requeue_unschedulable("a", t0);
        assert!(q.pop(t0 + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn unschedulable_pods_come_back_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        q.pop(t0).unwrap();
        q.requeue_unschedulable("a", t0);
        assert!(q.pop(t0 + Duration::from_secs(299)).is_none());
        assert!(q.pop(t0 + MAX_UNSCHEDULABLE).is_some());
    }

    #[test]
    fn a_spec_change_retries_an_unschedulable_pod() {
        let t0 = Instant::now();
        let mut q = Queue::new();
        q.add_or_update("a", pod("a", 0), t0);
        q.pop(t0).unwrap();
        q.requeue_unschedulable("a", t0);
        // A status/annotation-only update does nothing.
        q.add_or_update("a", pod("a", 0), t0 + Duration::from_secs(5));
        assert!(q.pop(t0 + Duration::from_secs(5)).is_none());
        q.add_or_update("a", Arc::new(PodBuilder::new("a").label("x", "y").obj()), t0 + Duration::from_secs(5));
        assert!(q.pop(t0 + Duration::from_secs(5)).is_some());
    }
}
