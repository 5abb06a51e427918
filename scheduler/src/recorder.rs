//! The event recorder: core/v1 Events about pods (`Scheduled`, `FailedScheduling`,
//! `Preempted`), written in the background and correlated as client-go's
//! `EventCorrelator` does.
//!
//! An event identical to one already written — same involved object, type, reason,
//! message and source — is not written again: the first one's `count` goes up and its
//! `lastTimestamp` moves, with a merge patch. `kubectl describe pod` then shows one line
//! `(x4 over 2m)` instead of four. Messages longer than 1024 bytes are cut to fit, as
//! upstream's `truncateMessage`.
//!
//! Writes go through a few lanes, each in order, an event always on the lane of its key, so
//! a count patch never overtakes the create it patches. When a lane is far behind, new
//! events are dropped (logged), never blocking scheduling.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::mpsc;

/// Upstream's `validation.NoteLengthLimit`.
pub const MAX_MESSAGE: usize = 1024;
/// How many distinct events are remembered for aggregation (client-go's cache size).
const CACHE_SIZE: usize = 4096;
const LANES: usize = 8;
const LANE_BACKLOG: usize = 2048;

/// Cut `message` to [`MAX_MESSAGE`] bytes, ending in ` ...` when cut.
pub fn truncate(message: &str) -> String {
    if message.len() <= MAX_MESSAGE {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE - " ...".len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ...", &message[..end])
}

/// What identifies an event for aggregation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    namespace: String,
    name: String,
    uid: String,
    type_: String,
    reason: String,
    message: String,
}

/// The first event written for a key, and how often it happened.
#[derive(Debug, Clone)]
struct Seen {
    name: String,
    count: i32,
}

/// One write for a lane.
enum Write {
    Create(Box<Event>),
    /// Bump the count of an event already written (or create it again if it is gone).
    Count {
        event: Box<Event>,
        name: String,
        count: i32,
    },
}

pub struct Recorder {
    component: String,
    instance: String,
    lanes: Vec<mpsc::Sender<Write>>,
    receivers: Mutex<Vec<mpsc::Receiver<Write>>>,
    seen: Mutex<(HashMap<Key, Seen>, VecDeque<Key>)>,
}

impl Recorder {
    pub fn new(component: &str, instance: &str) -> Self {
        let (lanes, receivers) = (0..LANES).map(|_| mpsc::channel(LANE_BACKLOG)).unzip();
        Recorder {
            component: component.to_string(),
            instance: instance.to_string(),
            lanes,
            receivers: Mutex::new(receivers),
            seen: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    /// Record an event about `pod`; `related` is the other pod involved (the preemptor of a
    /// `Preempted` victim).
    pub fn pod_event(
        &self,
        pod: &Pod,
        related: Option<&Pod>,
        type_: &str,
        reason: &str,
        action: &str,
        message: &str,
    ) {
        let message = truncate(message);
        let namespace = pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let key = Key {
            namespace: namespace.clone(),
            name: pod_name.clone(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            type_: type_.to_string(),
            reason: reason.to_string(),
            message: message.clone(),
        };
        let now = jiff::Timestamp::now();
        let reference = |p: &Pod| ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            namespace: p.metadata.namespace.clone(),
            name: p.metadata.name.clone(),
            uid: p.metadata.uid.clone(),
            resource_version: p.metadata.resource_version.clone(),
            ..Default::default()
        };
        let mut event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{pod_name}.{:x}", now.as_nanosecond())),
                namespace: Some(namespace),
                ..Default::default()
            },
            involved_object: reference(pod),
            related: related.map(reference),
            reason: Some(reason.into()),
            message: Some(message),
            type_: Some(type_.into()),
            action: Some(action.into()),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(self.instance.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            count: Some(1),
            ..Default::default()
        };
        let write = {
            let mut guard = self.seen.lock();
            let (seen, order) = &mut *guard;
            match seen.get_mut(&key) {
                Some(s) => {
                    s.count = s.count.saturating_add(1);
                    event.count = Some(s.count);
                    Write::Count {
                        event: Box::new(event),
                        name: s.name.clone(),
                        count: s.count,
                    }
                }
                None => {
                    if order.len() >= CACHE_SIZE
                        && let Some(old) = order.pop_front()
                    {
                        seen.remove(&old);
                    }
                    seen.insert(
                        key.clone(),
                        Seen {
                            name: event.metadata.name.clone().unwrap_or_default(),
                            count: 1,
                        },
                    );
                    order.push_back(key.clone());
                    Write::Create(Box::new(event))
                }
            }
        };
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let lane = usize::try_from(h.finish() % LANES as u64).unwrap_or(0);
        if self.lanes[lane].try_send(write).is_err() {
            tracing::debug!(%reason, "event dropped: writer behind");
        }
    }

    /// Write the recorded events until the recorder is dropped.
    pub async fn run(&self, client: Client) {
        let receivers = std::mem::take(&mut *self.receivers.lock());
        futures::future::join_all(receivers.into_iter().map(|rx| lane(client.clone(), rx))).await;
    }
}

async fn lane(client: Client, rx: mpsc::Receiver<Write>) {
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|w| (w, rx)) });
    stream
        .for_each(|write| {
            let client = client.clone();
            async move {
                match write {
                    Write::Create(event) => create(&client, &event).await,
                    Write::Count { event, name, count } => {
                        let ns = event.metadata.namespace.clone().unwrap_or_default();
                        let api: Api<Event> = Api::namespaced(client.clone(), &ns);
                        let patch = json!({"count": count, "lastTimestamp": event.last_timestamp, "message": event.message});
                        match api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
                            Ok(_) => {}
                            // Expired or deleted meanwhile: write it afresh.
                            Err(kube::Error::Api(e)) if e.code == 404 => create(&client, &event).await,
                            Err(e) => tracing::debug!(error = %e, "could not update event count"),
                        }
                    }
                }
            }
        })
        .await;
}

/// POST the Event. The answer (the Event as stored) is not decoded: nothing reads it, and
/// decoding one per scheduled pod was measurable.
async fn create(client: &Client, event: &Event) {
    let ns = event.metadata.namespace.clone().unwrap_or_default();
    let request = serde_json::to_vec(event)
        .map_err(kube::Error::SerdeError)
        .and_then(|body| {
            kube::core::Request::new(<Event as kube::Resource>::url_path(&(), Some(&ns)))
                .create(&PostParams::default(), body)
                .map_err(kube::Error::BuildRequest)
        });
    let result = match request {
        Ok(request) => client.request_text(request).await.map(drop),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "could not write event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_to_1024_bytes() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(600);
        let cut = truncate(&long);
        assert!(
            cut.len() <= MAX_MESSAGE && cut.ends_with(" ..."),
            "{}",
            cut.len()
        );
    }

    #[tokio::test]
    async fn identical_events_are_counted_not_repeated() {
        let r = Recorder::new("default-scheduler", "test");
        let pod: Pod = serde_json::from_value(
            json!({"metadata": {"name": "p", "namespace": "default", "uid": "u"}}),
        )
        .unwrap();
        for message in ["no", "no", "other"] {
            r.pod_event(
                &pod,
                None,
                "Warning",
                "FailedScheduling",
                "Scheduling",
                message,
            );
        }
        let mut receivers = std::mem::take(&mut *r.receivers.lock());
        let mut writes = Vec::new();
        for rx in &mut receivers {
            while let Ok(w) = rx.try_recv() {
                writes.push(w);
            }
        }
        let creates = writes
            .iter()
            .filter(|w| matches!(w, Write::Create(_)))
            .count();
        let counts: Vec<i32> = writes
            .iter()
            .filter_map(|w| {
                if let Write::Count { count, .. } = w {
                    Some(*count)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!((creates, counts), (2, vec![2]));
    }
}
