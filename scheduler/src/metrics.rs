//! Prometheus metrics in upstream's names: `scheduler_schedule_attempts_total` by profile
//! (the pod's `spec.schedulerName`) and result,
//! `scheduler_pod_scheduling_sli_duration_seconds` (queue entry → bound) and
//! `scheduler_pending_pods` by queue, served as text on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::queue::Pending;

/// Upstream's buckets: 0.01 s × 2^n, 20 of them.
fn buckets() -> Vec<f64> {
    (0..20).map(|i| 0.01 * 2f64.powi(i)).collect()
}

/// One profile's attempt counters.
#[derive(Debug, Default)]
struct Attempts {
    scheduled: AtomicU64,
    unschedulable: AtomicU64,
    error: AtomicU64,
}

#[derive(Debug)]
pub struct Metrics {
    profiles: BTreeMap<String, Attempts>,
    bounds: Vec<f64>,
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    total: AtomicU64,
}

impl Metrics {
    /// Counters for these profiles (pods of others are not scheduled here).
    pub fn new<'a>(profiles: impl IntoIterator<Item = &'a str>) -> Self {
        let bounds = buckets();
        Metrics {
            profiles: profiles
                .into_iter()
                .map(|p| (p.to_string(), Attempts::default()))
                .collect(),
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
    /// An attempt of `profile` came to `result`.
    pub fn attempt(&self, profile: &str, result: Result) {
        let Some(a) = self.profiles.get(profile) else {
            return;
        };
        match result {
            Result::Scheduled => &a.scheduled,
            Result::Unschedulable => &a.unschedulable,
            Result::Error => &a.error,
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
        self.sum_micros
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// Pods bound, over all profiles.
    pub fn scheduled_count(&self) -> u64 {
        self.profiles
            .values()
            .map(|a| a.scheduled.load(Ordering::Relaxed))
            .sum()
    }

    /// Attempts that ended in an error (a failed bind included), over all profiles.
    pub fn error_count(&self) -> u64 {
        self.profiles
            .values()
            .map(|a| a.error.load(Ordering::Relaxed))
            .sum()
    }

    /// The text exposition format.
    pub fn render(&self, pending: Pending) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by the result."
        );
        let _ = writeln!(out, "# TYPE scheduler_schedule_attempts_total counter");
        for (profile, a) in &self.profiles {
            for (result, c) in [
                ("scheduled", &a.scheduled),
                ("unschedulable", &a.unschedulable),
                ("error", &a.error),
            ] {
                let _ = writeln!(
                    out,
                    "scheduler_schedule_attempts_total{{profile=\"{profile}\",result=\"{result}\"}} {}",
                    c.load(Ordering::Relaxed)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP scheduler_pod_scheduling_sli_duration_seconds E2e latency for a pod being scheduled, from the time the pod enters the scheduling queue until it is bound."
        );
        let _ = writeln!(
            out,
            "# TYPE scheduler_pod_scheduling_sli_duration_seconds histogram"
        );
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "scheduler_pod_scheduling_sli_duration_seconds_bucket{{le=\"{b}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let total = self.total.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "scheduler_pod_scheduling_sli_duration_seconds_bucket{{le=\"+Inf\"}} {total}"
        );
        let _ = writeln!(
            out,
            "scheduler_pod_scheduling_sli_duration_seconds_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "scheduler_pod_scheduling_sli_duration_seconds_count {total}"
        );
        let _ = writeln!(
            out,
            "# HELP scheduler_pending_pods Number of pending pods, by the queue type."
        );
        let _ = writeln!(out, "# TYPE scheduler_pending_pods gauge");
        for (queue, n) in [
            ("active", pending.active),
            ("backoff", pending.backoff),
            ("unschedulable", pending.unschedulable),
            ("gated", pending.gated),
        ] {
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
        let m = Metrics::new(["default-scheduler", "other"]);
        m.attempt("default-scheduler", Result::Scheduled);
        m.attempt("other", Result::Unschedulable);
        m.attempt("not-mine", Result::Error);
        m.scheduled(Duration::from_millis(15));
        let text = m.render(Pending {
            active: 2,
            backoff: 0,
            unschedulable: 1,
            gated: 3,
        });
        assert!(text.contains("scheduler_schedule_attempts_total{profile=\"default-scheduler\",result=\"scheduled\"} 1"));
        assert!(text.contains(
            "scheduler_schedule_attempts_total{profile=\"other\",result=\"unschedulable\"} 1"
        ));
        assert!(text.contains("scheduler_pending_pods{queue=\"gated\"} 3"));
        assert_eq!((m.scheduled_count(), m.error_count()), (1, 0));
        assert!(
            text.contains("scheduler_pod_scheduling_sli_duration_seconds_bucket{le=\"0.01\"} 0")
        );
        assert!(
            text.contains("scheduler_pod_scheduling_sli_duration_seconds_bucket{le=\"0.02\"} 1")
        );
        assert!(text.contains("scheduler_pending_pods{queue=\"unschedulable\"} 1"));
    }
}
