//! Container logs: what each simulated container printed, kept per container instance
//! (the current one and the previous, for `--previous`), and followed as it grows.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

/// One printed line.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub time: jiff::Timestamp,
    pub text: String,
}

#[derive(Debug)]
struct ContainerLog {
    restart: i32,
    current: Vec<Line>,
    previous: Option<Vec<Line>>,
    /// Bumped on every change; followers wait on it.
    version: watch::Sender<u64>,
}

/// `namespace/pod/container`.
pub type Key = (String, String, String);

/// Every container's log in this process.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    inner: Arc<Mutex<HashMap<Key, ContainerLog>>>,
}

/// What a reader gets: lines, the instance they belong to, and a way to wait for more.
pub struct Snapshot {
    pub lines: Vec<Line>,
    pub restart: i32,
    pub changed: watch::Receiver<u64>,
}

impl Logs {
    /// Append a line printed by instance `restart` of a container (a newer instance
    /// moves the current log to `previous`).
    pub fn append(&self, key: Key, restart: i32, line: Line) {
        let mut all = self.inner.lock();
        let log = all.entry(key).or_insert_with(|| ContainerLog { restart, current: Vec::new(), previous: None, version: watch::channel(0).0 });
        if restart > log.restart {
            log.previous = Some(std::mem::take(&mut log.current));
            log.restart = restart;
        }
        log.current.push(line);
        log.version.send_modify(|v| *v += 1);
    }

    /// The current (or previous) log of a container; `None` if there is none.
    pub fn read(&self, key: &Key, previous: bool) -> Option<Snapshot> {
        let all = self.inner.lock();
        let log = all.get(key)?;
        let lines = if previous { log.previous.clone()? } else { log.current.clone() };
        Some(Snapshot { lines, restart: log.restart, changed: log.version.subscribe() })
    }

    /// Lines after the first `from` of instance `restart`; `None` once that instance is
    /// no longer current (or the log is gone).
    pub fn since(&self, key: &Key, restart: i32, from: usize) -> Option<Vec<Line>> {
        let all = self.inner.lock();
        let log = all.get(key)?;
        if log.restart != restart {
            return None;
        }
        Some(log.current.get(from..).map(<[Line]>::to_vec).unwrap_or_default())
    }

    /// Forget a pod's logs (the pod is gone).
    pub fn remove_pod(&self, namespace: &str, pod: &str) {
        self.inner.lock().retain(|(ns, name, _), _| !(ns == namespace && name == pod));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        ("default".into(), "p".into(), "c".into())
    }

    fn line(text: &str) -> Line {
        Line { time: jiff::Timestamp::UNIX_EPOCH, text: text.into() }
    }

    #[test]
    fn a_restart_moves_the_log_to_previous() {
        let logs = Logs::default();
        logs.append(key(), 0, line("a"));
        logs.append(key(), 0, line("b"));
        assert_eq!(logs.since(&key(), 0, 1).unwrap(), vec![line("b")]);
        logs.append(key(), 1, line("c"));
        assert_eq!(logs.read(&key(), false).unwrap().lines, vec![line("c")]);
        assert_eq!(logs.read(&key(), true).unwrap().lines, vec![line("a"), line("b")]);
        assert!(logs.since(&key(), 0, 0).is_none());
        logs.remove_pod("default", "p");
        assert!(logs.read(&key(), false).is_none());
    }
}
