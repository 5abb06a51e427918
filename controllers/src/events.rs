//! Events: what a controller did, as `kubectl describe` and `kubectl get events` show it.
//!
//! Upstream controllers write core/v1 `Event`s through client-go's `record.EventRecorder`;
//! kubectl reads those (`describe` searches by `involvedObject`). kube-rs's
//! `runtime::events::Recorder` writes `events.k8s.io/v1` instead, which kubectl's
//! `describe` does not look at, so this recorder writes core/v1 Events the way client-go
//! does:
//!
//! - name `<involvedObject.name>.<unix nanoseconds in hex>`, in the object's namespace
//!   (`default` for cluster-scoped objects);
//! - `source.component` and `reportingComponent` are the controller's name
//!   (`replicaset-controller`), `firstTimestamp`/`lastTimestamp`/`count`;
//! - an event identical to one recorded in the last 10 minutes (same object, type, reason,
//!   message) is not created again: its `count` and `lastTimestamp` are patched, as the
//!   upstream correlator does (upstream also folds 10 *similar* events into one "combined"
//!   event; kubesim does not).
//!
//! Recording never fails the caller: like client-go's broadcaster, the write happens in
//! the background and a failure is only logged.
//!
//! ```ignore
//! let recorder = Recorder::new(client, "replicaset-controller");
//! recorder.normal(&*rs, "SuccessfulCreate", format!("Created pod: {name}"));
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use parking_lot::Mutex;

/// How long an identical event is folded into the previous one (client-go's
/// `defaultAggregateIntervalInSeconds` / LRU horizon).
const DEDUP_WINDOW: Duration = Duration::from_secs(600);

/// `Normal` or `Warning`, as core/v1 `Event.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    uid: String,
    kind: String,
    namespace: String,
    name: String,
    type_: EventType,
    reason: String,
    message: String,
}

#[derive(Debug, Clone)]
struct Seen {
    name: String,
    count: i32,
    last: Timestamp,
}

/// Records core/v1 Events for one controller. Cheap to clone; clones share the
/// deduplication cache.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    component: String,
    seen: Arc<Mutex<HashMap<Key, Seen>>>,
}

impl Recorder {
    /// A recorder reporting as `component` (upstream names: `replicaset-controller`,
    /// `deployment-controller`, `node-controller`, ...).
    pub fn new(client: Client, component: impl Into<String>) -> Self {
        Recorder {
            client,
            component: component.into(),
            seen: Arc::default(),
        }
    }

    /// Record a `Normal` event about `obj` in the background.
    pub fn normal<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.record(
            obj.object_ref(&()),
            EventType::Normal,
            reason,
            message.into(),
        );
    }

    /// Record a `Warning` event about `obj` in the background.
    pub fn warning<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        reason: &str,
        message: impl Into<String>,
    ) {
        self.record(
            obj.object_ref(&()),
            EventType::Warning,
            reason,
            message.into(),
        );
    }

    /// Record an event about the object `regarding` points at, in the background.
    pub fn record(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        message: String,
    ) {
        let this = self.clone();
        let reason = reason.to_string();
        tokio::spawn(async move {
            if let Err(err) = this.publish(regarding, type_, &reason, message).await {
                tracing::debug!(error = %err, reason, "could not record event");
            }
        });
    }

    /// Write the event now (create it, or bump the count of an identical recent one).
    pub async fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        message: String,
    ) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let namespace = regarding
            .namespace
            .clone()
            .filter(|ns| !ns.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let key = Key {
            uid: regarding.uid.clone().unwrap_or_default(),
            kind: regarding.kind.clone().unwrap_or_default(),
            namespace: namespace.clone(),
            name: regarding.name.clone().unwrap_or_default(),
            type_,
            reason: reason.to_string(),
            message: message.clone(),
        };
        let repeat = {
            let mut seen = self.seen.lock();
            seen.retain(|_, s| now.duration_since(s.last).unsigned_abs() < DEDUP_WINDOW);
            match seen.get_mut(&key) {
                Some(s) => {
                    s.count += 1;
                    s.last = now;
                    Some(s.clone())
                }
                None => {
                    let name = format!("{}.{:x}", key.name, now.as_nanosecond());
                    seen.insert(
                        key.clone(),
                        Seen {
                            name,
                            count: 1,
                            last: now,
                        },
                    );
                    None
                }
            }
        };
        let events: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some(s) = repeat {
            let patch = serde_json::json!({"count": s.count, "lastTimestamp": Time(now)});
            return match events
                .patch(&s.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(()),
                // Deleted meanwhile (or never written): start a new one.
                Err(kube::Error::Api(e)) if e.code == 404 => {
                    self.seen.lock().remove(&key);
                    Box::pin(self.publish(regarding, type_, reason, message)).await
                }
                Err(e) => Err(e),
            };
        }
        let name = self
            .seen
            .lock()
            .get(&key)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let event = Event {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(namespace),
                ..Default::default()
            },
            involved_object: regarding,
            reason: Some(reason.to_string()),
            message: Some(message),
            type_: Some(type_.as_str().to_string()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            count: Some(1),
            source: Some(EventSource {
                component: Some(self.component.clone()),
                host: None,
            }),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(String::new()),
            ..Default::default()
        };
        events
            .create(&PostParams::default(), &event)
            .await
            .map(|_| ())
    }
}
