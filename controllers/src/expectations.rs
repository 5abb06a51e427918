//! Expectations: the creates and deletes a controller issued that its cache has not shown yet.
//!
//! A controller reads from a watch-fed cache, which lags its own writes. Right after it
//! creates three pods the cache may still show none, and acting on that would create three
//! more. Upstream's `ControllerExpectations` (`pkg/controller/controller_utils.go`) counts
//! the creates and deletes in flight per controller key and refuses to act until the
//! informer reports them. Here the controller records the *names* it created or deleted
//! and the check looks them up in the cache itself, which is the same condition without
//! hooking the watch:
//!
//! - a created pod is observed once the cache holds it;
//! - a deleted pod is observed once the cache no longer holds it, or holds it terminating.
//!
//! # Guarantees
//! While anything is outstanding, [`Expectations::satisfied`] is false and the controller
//! only writes status. Expectations expire after [`TIMEOUT`] (upstream's
//! `ExpectationsTimeout`, 5 minutes), so a lost watch event cannot wedge a controller.
//! A controller that restarts starts with none: its fresh cache, listed before the first
//! reconcile, already shows everything it wrote.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How long expectations wait for the cache before they are considered met anyway.
pub const TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What the cache shows under a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observed {
    Absent,
    Present,
    Terminating,
}

#[derive(Debug)]
struct Pending {
    creations: HashSet<String>,
    deletions: HashSet<String>,
    since: Instant,
}

/// Outstanding creates and deletes per controller key (`namespace/name`).
#[derive(Debug, Default)]
pub struct Expectations {
    pending: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry<'a>(pending: &'a mut HashMap<String, Pending>, key: &str) -> &'a mut Pending {
        pending.entry(key.to_string()).or_insert_with(|| Pending {
            creations: HashSet::new(),
            deletions: HashSet::new(),
            since: Instant::now(),
        })
    }

    /// Remember that `names` were created for `key`.
    pub fn expect_creations(&self, key: &str, names: impl IntoIterator<Item = String>) {
        let mut pending = self.pending.lock();
        let entry = Self::entry(&mut pending, key);
        entry.creations.extend(names);
        entry.since = Instant::now();
    }

    /// Remember that `names` were deleted for `key`.
    pub fn expect_deletions(&self, key: &str, names: impl IntoIterator<Item = String>) {
        let mut pending = self.pending.lock();
        let entry = Self::entry(&mut pending, key);
        entry.deletions.extend(names);
        entry.since = Instant::now();
    }

    /// Whether the cache (looked up through `observe`) shows every write made for `key`,
    /// or the expectations timed out. Observed writes are forgotten.
    pub fn satisfied(&self, key: &str, observe: impl Fn(&str) -> Observed) -> bool {
        let mut pending = self.pending.lock();
        let Some(entry) = pending.get_mut(key) else {
            return true;
        };
        entry
            .creations
            .retain(|name| observe(name) == Observed::Absent);
        entry
            .deletions
            .retain(|name| observe(name) == Observed::Present);
        if (entry.creations.is_empty() && entry.deletions.is_empty())
            || entry.since.elapsed() > TIMEOUT
        {
            pending.remove(key);
            return true;
        }
        false
    }

    /// Drop everything outstanding for `key` (its object is gone).
    pub fn forget(&self, key: &str) {
        self.pending.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creations_are_met_when_the_cache_shows_them() {
        let e = Expectations::new();
        e.expect_creations("ns/rs", ["a".to_string(), "b".to_string()]);
        assert!(!e.satisfied("ns/rs", |_| Observed::Absent));
        assert!(!e.satisfied("ns/rs", |n| if n == "a" {
            Observed::Present
        } else {
            Observed::Absent
        }));
        // "a" was forgotten once seen; only "b" is still awaited.
        assert!(e.satisfied("ns/rs", |n| if n == "b" {
            Observed::Present
        } else {
            Observed::Absent
        }));
        assert!(e.satisfied("other/rs", |_| Observed::Absent));
    }

    #[test]
    fn deletions_are_met_when_gone_or_terminating() {
        let e = Expectations::new();
        e.expect_deletions("ns/rs", ["a".to_string(), "b".to_string()]);
        assert!(!e.satisfied("ns/rs", |_| Observed::Present));
        assert!(e.satisfied("ns/rs", |n| if n == "a" {
            Observed::Absent
        } else {
            Observed::Terminating
        }));
    }

    #[test]
    fn forget_clears() {
        let e = Expectations::new();
        e.expect_creations("ns/rs", ["a".to_string()]);
        e.forget("ns/rs");
        assert!(e.satisfied("ns/rs", |_| Observed::Absent));
    }
}
