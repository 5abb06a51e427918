//! Prometheus metrics in upstream's names: `scheduler_schedule_attempts_total` by result,
//! `scheduler_pod_scheduling_sli_duration_seconds` (queue entry → bound) and
//! `scheduler_pending_pods` by queue, served as text on `/metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::queue::Pending;

/// Upstream's buckets: 0.01 s × 2^n, 20 of them.
fn buckets() -> Vec<f64> {
    (0..20).map(|i| 0.01 * 2f64.powi(i)).collect()
}

#[derive(Debug)]
pub struct Metrics {
    scheduled: AtomicU64,
    unschedulable: AtomicU64,
    error: AtomicU64,
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    total: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let bounds = buckets();
        Metrics {
            scheduled: AtomicU64::new(0),
            unschedulable: AtomicU64::new(0),
            error: AtomicU64::new(0),
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            bounds,
            sum_micros: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }
}

/// What a scheduling attempt came to.
#[derive(Debug, Clone, Copy)]
pub enum Result {
    Scheduled,
    Unschedulable,
    Error,
}

impl Metrics {
    pub fn attempt(&self, result: Result) {
        match result {
            Result::Scheduled => &self.scheduled,
            Result::Unschedulable => &self.unschedulable,
            Result::Error => &self.error,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// A pod bound, `latency` after it entered the queue.
    pub fn scheduled(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if secs <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn scheduled_count(&self) -> u64 {
        self.scheduled.load(Ordering::Relaxed)
    }

    /// The text exposition format.
    pub fn render(&self, profile: &str, pending: Pending) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by the result.");
        let _ = writeln!(out, "# TYPE scheduler_schedule_attempts_total counter");
        for (result, c) in [("scheduled", &self.scheduled), ("unschedulable", &self.unschedulable), ("error", &self.error)] {
            let _ = writeln!(out, "scheduler_schedule_attempts_total{{profile=\"{profile}\",result=\"{result}\"}} {}", c.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP scheduler_pod_scheduling_sli_duration_seconds E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue until it is bound.");
        let _ = writeln!(out, "# TYPE scheduler_pod_scheduling_sli_duration_seconds histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "scheduler_pod_scheduling_sli_duration_seconds_bucket{{le=\"{b}\"}} {}", c.load(Ordering::Relaxed));
        }
        let total = self.total.load(Ordering::Relaxed);
        let _ = writeln!(out, "scheduler_pod_scheduling_sli_duration_seconds_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "scheduler_pod_scheduling_sli_duration_seconds_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "scheduler_pod_scheduling_sli_duration_seconds_count {total}");
        let _ = writeln!(out, "# HELP scheduler_pending_pods Number of pending pods, by the queue type.");
        let _ = writeln!(out, "# TYPE scheduler_pending_pods gauge");
        for (queue, n) in [("active", pending.active), ("backoff", pending.backoff), ("unschedulable", pending.unschedulable), ("gated", 0)] {
            let _ = writeln!(out, "scheduler_pending_pods{{queue=\"{queue}\"}} {n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_gauges() {
        let m = Metrics::default();
        m.attempt(Result::Scheduled);
        m.attempt(Result::Unschedulable);
        m.scheduled(Duration::from_millis(15));
        let text = m.render("default-scheduler", Pending { active: 2, backoff: 0, unschedulable: 1 });
        assert!(text.contains("scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 1"));
        assert!(text.contains("scheduler_pod_scheduling_sli_duration_seconds_bucket{le=\"0.01\"} 0"));
        assert!(text.contains("scheduler_pod_scheduling_sli_duration_seconds_bucket{le=\"0.02\"} 1"));
        assert!(text.contains("scheduler_pending_pods{queue=\"unschedulable\"} 1"));
    }
}
