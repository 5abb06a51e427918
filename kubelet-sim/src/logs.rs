//! Container logs: what each simulated container printed, kept per container instance
//! (container ID) as a runtime keeps a log file per container, the last few instances
//! per container, and followed as they grow.
//!
//! Logs are keyed by pod UID, not name: a pod deleted and created again under the same
//! name starts with empty logs, as upstream (`/var/log/pods/<ns>_<name>_<uid>/`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

/// Instances kept per container (the current one, `--previous`, and one more).
const INSTANCES: usize = 3;
/// Lines kept per instance; older ones are dropped, as a rotated log file.
const LINES: usize = 10_000;

/// One printed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub time: jiff::Timestamp,
    pub text: String,
}

#[derive(Debug, Default)]
struct Instance {
    id: String,
    lines: VecDeque<Line>,
    /// Lines dropped from the front (so followers keep their place).
    dropped: usize,
    /// The container exited: no more lines.
    ended: bool,
}

#[derive(Debug)]
struct ContainerLog {
    instances: VecDeque<Instance>,
    /// Bumped on every change; followers wait on it.
    version: watch::Sender<u64>,
}

/// `(pod uid, container name)`.
pub type Key = (String, String);

/// Every container's log in this process.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    inner: Arc<Mutex<HashMap<Key, ContainerLog>>>,
}

/// What a reader gets: the lines so far, where they end, whether the instance ended,
/// and a way to wait for more.
pub struct Snapshot {
    pub lines: Vec<Line>,
    pub end: usize,
    pub ended: bool,
    pub changed: watch::Receiver<u64>,
}

impl Logs {
    /// Append a line printed by instance `id` of a container; `ends`: its last.
    pub fn append(&self, key: Key, id: &str, line: Line, ends: bool) {
        let mut all = self.inner.lock();
        let log = all.entry(key).or_insert_with(|| ContainerLog {
            instances: VecDeque::new(),
            version: watch::channel(0).0,
        });
        if log.instances.iter().all(|i| i.id != id) {
            log.instances.push_back(Instance {
                id: id.to_string(),
                ..Default::default()
            });
            if log.instances.len() > INSTANCES {
                log.instances.pop_front();
            }
        }
        if let Some(instance) = log.instances.iter_mut().find(|i| i.id == id) {
            instance.lines.push_back(line);
            if instance.lines.len() > LINES {
                instance.lines.pop_front();
                instance.dropped += 1;
            }
            instance.ended |= ends;
        }
        log.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// The lines of instance `id` from line `from` on (counting every line it ever
    /// printed); `None` if there is no such instance (or no longer).
    pub fn read(&self, key: &Key, id: &str, from: usize) -> Option<Snapshot> {
        let all = self.inner.lock();
        let log = all.get(key)?;
        let instance = log.instances.iter().find(|i| i.id == id)?;
        let skip = from.saturating_sub(instance.dropped);
        Some(Snapshot {
            lines: instance.lines.iter().skip(skip).cloned().collect(),
            end: instance.dropped + instance.lines.len(),
            ended: instance.ended,
            changed: log.version.subscribe(),
        })
    }

    /// Forget a pod's logs (the pod is gone).
    pub fn remove_pod(&self, uid: &str) {
        self.inner.lock().retain(|(pod, _), _| pod != uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        ("uid".into(), "c".into())
    }

    fn line(text: &str) -> Line {
        Line {
            time: jiff::Timestamp::UNIX_EPOCH,
            text: text.into(),
        }
    }

    #[test]
    fn instances_are_kept_apart_and_end() {
        let logs = Logs::default();
        logs.append(key(), "a", line("one"), false);
        logs.append(key(), "a", line("two"), true);
        let s = logs.read(&key(), "a", 1).unwrap();
        assert_eq!((s.lines, s.end, s.ended), (vec![line("two")], 2, true));
        logs.append(key(), "b", line("three"), false);
        assert_eq!(
            logs.read(&key(), "b", 0).unwrap().lines,
            vec![line("three")]
        );
        assert_eq!(logs.read(&key(), "a", 0).unwrap().lines.len(), 2);
        for id in ["c", "d"] {
            logs.append(key(), id, line(id), false);
        }
        assert!(
            logs.read(&key(), "a", 0).is_none(),
            "only the last instances are kept"
        );
        logs.remove_pod("uid");
        assert!(logs.read(&key(), "d", 0).is_none());
    }

    #[test]
    fn a_long_log_drops_its_oldest_lines() {
        let logs = Logs::default();
        for i in 0..LINES + 5 {
            logs.append(key(), "a", line(&i.to_string()), false);
        }
        let s = logs.read(&key(), "a", 0).unwrap();
        assert_eq!(s.lines.len(), LINES);
        assert_eq!(s.lines[0], line("5"));
        assert_eq!(
            logs.read(&key(), "a", LINES + 4).unwrap().lines,
            vec![line(&(LINES + 4).to_string())]
        );
    }
}
