//! Events the kubelet records about pods (`Pulling`, `Created`, `Started`, `Killing`,
//! `Unhealthy`, `BackOff`, ...), written as core/v1 Events as client-go's recorder
//! writes them: `source {component: kubelet, host: <node>}`, `reportingComponent:
//! kubelet`, `reportingInstance: <node>`, `involvedObject` the pod (with `fieldPath:
//! spec.containers{web}` for a container), `firstTimestamp`/`lastTimestamp`/`count`.
//!
//! As upstream's broadcaster, recording never blocks a pod worker: records go through a
//! bounded queue (full: dropped, as client-go drops) to one writer, off the hot path. The
//! writer takes what is queued as a batch, folds repeats (same pod, container, type,
//! reason, message) into one write, and — as the event correlator does — patches
//! `count` and `lastTimestamp` of an event written in the last 10 minutes instead of
//! creating another. Writes are paced at `qps` (upstream: 50/s per kubelet, so the
//! process's default is 50/s per node), and yield to pod status: the writer waits while
//! any pod status write is in flight ([`Busy`]), so that with one API server for
//! thousands of simulated nodes a burst of pods is not slowed by its own Events (they
//! follow it). A stopped node's events are dropped: a dead kubelet writes nothing.
//!
//! (controllers/src/events.rs records controllers' events likewise; this one adds the
//! queue, pacing and the kubelet's fields.)

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::{mpsc, watch};

use crate::node::SimNode;

/// How long an identical event is folded into the previous one.
const WINDOW: Duration = Duration::from_secs(600);
/// How many events the correlator remembers (client-go's LRU: 4096).
const REMEMBERED: usize = 4096;
/// Events written at once.
const CONCURRENCY: usize = 2;
/// Records taken from the queue as one batch.
const BATCH: usize = 512;

/// One event to record.
#[derive(Debug, Clone)]
pub struct Record {
    pub node: String,
    pub object: ObjectReference,
    pub warning: bool,
    pub reason: String,
    pub message: String,
    /// When it happened (the last time, for a count above 1).
    pub time: jiff::Timestamp,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    /// The node's restarts so far: a restarted kubelet's correlator starts empty, so the
    /// same event after a reboot is a new Event, not a count on the old one.
    boot: u64,
    uid: String,
    field_path: String,
    warning: bool,
    reason: String,
    message: String,
}

impl Key {
    fn of(r: &Record, boot: u64) -> Key {
        Key {
            boot,
            uid: r.object.uid.clone().unwrap_or_default(),
            field_path: r.object.field_path.clone().unwrap_or_default(),
            warning: r.warning,
            reason: r.reason.clone(),
            message: r.message.clone(),
        }
    }
}

/// An event already written.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    count: i32,
    written: Instant,
}

/// Pod status writes in flight: the event writer waits until there are none.
#[derive(Debug, Clone)]
pub struct Busy(Arc<watch::Sender<usize>>);

impl Default for Busy {
    fn default() -> Self {
        Busy(Arc::new(watch::channel(0).0))
    }
}

/// Held while a pod status write (or a node's registration) is in flight.
pub struct Writing(Busy);

impl Busy {
    pub fn enter(&self) -> Writing {
        self.0.send_modify(|n| *n += 1);
        Writing(self.clone())
    }

    async fn idle(&self) {
        let _ = self.0.subscribe().wait_for(|n| *n == 0).await;
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        self.0.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Hands records to the writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::Sender<Record>,
    /// Records dropped because the queue was full.
    pub dropped: Arc<AtomicU64>,
    /// Event writes (creates and patches) done.
    pub written: Arc<AtomicU64>,
    /// Pod status writes and node registrations in flight (the writer yields to them).
    pub busy: Busy,
}

impl Recorder {
    /// Start the writer: at most `capacity` records waiting, `qps` writes a second.
    pub fn start(
        client: Client,
        nodes: HashMap<String, Arc<SimNode>>,
        capacity: usize,
        qps: f64,
    ) -> Recorder {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let recorder = Recorder {
            tx,
            dropped: Arc::default(),
            written: Arc::default(),
            busy: Busy::default(),
        };
        tokio::spawn(write(
            client,
            nodes,
            rx,
            qps,
            recorder.written.clone(),
            recorder.busy.clone(),
        ));
        recorder
    }

    /// Queue a record; never waits.
    pub fn record(&self, record: Record) {
        if self.tx.try_send(record).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("event queue full: event dropped");
        }
    }
}

/// What one write does.
enum Write {
    Create {
        key: Key,
        record: Record,
        count: i32,
    },
    Bump {
        key: Key,
        seen: Seen,
        record: Record,
    },
}

async fn write(
    client: Client,
    nodes: HashMap<String, Arc<SimNode>>,
    mut rx: mpsc::Receiver<Record>,
    qps: f64,
    written: Arc<AtomicU64>,
    busy: Busy,
) {
    let mut seen: HashMap<Key, Seen> = HashMap::new();
    let mut names = Names::default();
    let mut buffer = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut buffer, BATCH).await > 0 {
        busy.idle().await;
        let started = Instant::now();
        let batch: Vec<Record> = buffer
            .drain(..)
            .filter(|r| {
                nodes
                    .get(&r.node)
                    .is_none_or(|n| !n.faults.borrow().stopped)
            })
            .collect();
        // Fold repeats within the batch.
        let mut folded: Vec<(Key, Record)> = Vec::new();
        let mut index: HashMap<Key, usize> = HashMap::new();
        for record in batch {
            let boot = nodes.get(&record.node).map_or(0, |n| *n.restarts.borrow());
            let key = Key::of(&record, boot);
            match index.get(&key) {
                Some(&i) => {
                    let (_, r) = &mut folded[i];
                    r.count = r.count.saturating_add(record.count);
                    r.time = r.time.max(record.time);
                }
                None => {
                    index.insert(key.clone(), folded.len());
                    folded.push((key, record));
                }
            }
        }
        if seen.len() > REMEMBERED {
            seen.retain(|_, s| s.written.elapsed() < WINDOW);
            if seen.len() > REMEMBERED {
                seen.clear();
            }
        }
        let writes: Vec<Write> = folded
            .into_iter()
            .map(
                |(key, record)| match seen.get(&key).filter(|s| s.written.elapsed() < WINDOW) {
                    Some(s) => Write::Bump {
                        key,
                        seen: s.clone(),
                        record,
                    },
                    None => Write::Create {
                        count: i32::try_from(record.count).unwrap_or(i32::MAX),
                        key,
                        record,
                    },
                },
            )
            .collect();
        let count = writes.len();
        let results: Vec<Option<(Key, Seen)>> =
            futures::stream::iter(writes.into_iter().map(|w| {
                let name = match &w {
                    Write::Create { record, .. } => {
                        names.next(record.object.name.as_deref().unwrap_or(""))
                    }
                    Write::Bump { seen, .. } => seen.name.clone(),
                };
                one(client.clone(), w, name)
            }))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        written.fetch_add(count as u64, Ordering::Relaxed);
        for (key, s) in results.into_iter().flatten() {
            seen.insert(key, s);
        }
        // Pace: `count` writes take at least `count / qps`.
        if qps > 0.0 {
            let due = Duration::try_from_secs_f64(count as f64 / qps).unwrap_or(Duration::MAX);
            if let Some(rest) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
    }
}

/// Event names as client-go makes them, `<object>.<unix nanoseconds in hex>`, never
/// the same twice.
#[derive(Default)]
struct Names {
    last: i128,
}

impl Names {
    fn next(&mut self, object: &str) -> String {
        let now = jiff::Timestamp::now().as_nanosecond().max(self.last + 1);
        self.last = now;
        format!("{object}.{now:x}")
    }
}

fn event(record: &Record, name: String, count: i32) -> Event {
    let namespace = record
        .object
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    Event {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            ..Default::default()
        },
        involved_object: record.object.clone(),
        reason: Some(record.reason.clone()),
        message: Some(record.message.clone()),
        type_: Some(if record.warning { "Warning" } else { "Normal" }.into()),
        first_timestamp: Some(Time(record.time)),
        last_timestamp: Some(Time(record.time)),
        count: Some(count),
        source: Some(EventSource {
            component: Some("kubelet".into()),
            host: Some(record.node.clone()),
        }),
        reporting_component: Some("kubelet".into()),
        reporting_instance: Some(record.node.clone()),
        ..Default::default()
    }
}

/// Do one write; what the correlator remembers of it.
async fn one(client: Client, write: Write, name: String) -> Option<(Key, Seen)> {
    let (key, record, count, existing) = match write {
        Write::Create { key, record, count } => (key, record, count, None),
        Write::Bump { key, seen, record } => {
            let count = seen
                .count
                .saturating_add(i32::try_from(record.count).unwrap_or(i32::MAX));
            (key, record, count, Some(seen))
        }
    };
    let namespace = record
        .object
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let api: Api<Event> = Api::namespaced(client, &namespace);
    if let Some(seen) = existing {
        let patch = serde_json::json!({"count": count, "lastTimestamp": Time(record.time)});
        match api
            .patch(&seen.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                return Some((
                    key,
                    Seen {
                        count,
                        written: Instant::now(),
                        ..seen
                    },
                ));
            }
            // Gone (expired or deleted): write it anew below.
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                tracing::debug!(error = %e, "could not update event");
                return None;
            }
        }
    }
    match api
        .create(&PostParams::default(), &event(&record, name.clone(), count))
        .await
    {
        Ok(_) => Some((
            key,
            Seen {
                name,
                count,
                written: Instant::now(),
            },
        )),
        Err(e) => {
            tracing::debug!(error = %e, "could not record event");
            None
        }
    }
}
