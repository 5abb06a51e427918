//! Storage: objects with resourceVersions, and the event history watches are served from.
//!
//! The contract is etcd's, as the upstream API server relies on it:
//!
//! - One revision counter for the whole store. Every successful write takes the next
//!   revision, which becomes the written object's `metadata.resourceVersion`.
//! - Writes are totally ordered: revision order is the order of the events watchers see.
//! - A write that changes nothing takes no revision and emits no event.
//! - A list is a snapshot at one revision, and says which.
//! - A watch from revision N sees every change after N, in order, exactly once — or is
//!   told (`Expired`) that the history no longer reaches back to N.
//!
//! Objects are kept as their serialized JSON, so lists and watch fan-out send bytes
//! without encoding them again, with the few attributes selectors read taken out once
//! ([`attrs`]); a write decodes the object it changes.

pub mod attrs;
pub mod memory;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

pub use attrs::Attrs;
pub use memory::MemoryStorage;

/// A stored object: its serialized JSON, what selectors read of it, and the revision
/// that wrote it.
#[derive(Debug, PartialEq)]
pub struct Object {
    pub resource_version: u64,
    pub bytes: Bytes,
    pub attrs: Attrs,
}

impl Object {
    /// The object as JSON, decoded from its bytes.
    pub fn value(&self) -> Value {
        // The bytes were encoded from a `Value`, so they decode; `Null` is unreachable.
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
}

/// An object to store: its JSON, and its `metadata.managedFields` when they come as JSON
/// text rather than in the value (a create's one entry, written straight to text by
/// `apply::created_entry`); the store writes that text into the metadata as it
/// encodes the object, in the key order the value's own would take.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewObject {
    pub value: Value,
    pub managed_fields: Option<String>,
}

impl From<Value> for NewObject {
    fn from(value: Value) -> Self {
        NewObject {
            value,
            managed_fields: None,
        }
    }
}

/// Where an object lives: its resource's storage key (`pods`, `deployments.apps`),
/// namespace (`""` for cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

/// The three kinds of change a watch reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to one object. Cloned for each watcher it goes to: two references.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: EventType,
    /// The object after the change; for `Deleted`, its last state at the deleting revision.
    pub object: Arc<Object>,
    /// The object before the change, so a filtered watch can tell an object that stopped
    /// (or started) matching its selector.
    pub previous: Option<Arc<Object>>,
}

impl Event {
    pub fn new(kind: EventType, object: Arc<Object>, previous: Option<Arc<Object>>) -> Self {
        Event {
            kind,
            object,
            previous,
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.object.resource_version
    }

    /// Append the watch-stream line `{"type":"ADDED","object":{...}}\n`.
    pub fn write_line(&self, out: &mut bytes::BytesMut) {
        write_event_line(out, self.kind.as_str(), &self.object.bytes);
    }
}

/// Append `{"type":<kind>,"object":<object>}\n`, as upstream's watch streams send each event.
pub fn write_event_line(out: &mut bytes::BytesMut, kind: &str, object: &[u8]) {
    out.reserve(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
}

/// `{"type":<kind>,"object":<object>}\n` on its own.
pub fn encode_event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut line = bytes::BytesMut::new();
    write_event_line(&mut line, kind, object);
    line.freeze()
}

/// Conditions a write requires of the stored object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Preconditions {
    pub resource_version: Option<u64>,
    pub uid: Option<String>,
}

/// The outcome of an update.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Arc<Object>,
    /// False for a no-op write: nothing changed, no revision taken, no event sent.
    pub changed: bool,
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchFrom {
    /// Synthetic `ADDED` events for every current object, then every later change.
    Now,
    /// Every change after this revision.
    Revision(u64),
}

/// A started watch: the events it must send first, then a live feed.
pub struct Watch {
    /// History replayed, or the current objects as `ADDED` events.
    pub initial: Vec<Event>,
    /// The revision the initial events bring the watcher up to.
    pub revision: u64,
    pub live: Box<dyn Feed>,
}

/// Why a live feed ended. Either way the client resumes from the last revision it saw,
/// as every Kubernetes client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedEnd {
    /// The watcher fell so far behind that events it has not read left the history.
    Lagged,
    /// The store closed its watches (a compaction).
    Closed,
}

/// The events of one resource after the ones a watcher has read, in revision order.
pub trait Feed: Send {
    /// Up to `max` events not yet read, waiting for the next one if there are none.
    fn next(&mut self, max: usize) -> futures::future::BoxFuture<'_, Result<Vec<Event>, FeedEnd>>;
    /// Whether every event written so far has been read.
    fn is_drained(&self) -> bool;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    AlreadyExists,
    /// A precondition on the stored object failed.
    #[error("precondition failed: {0}")]
    Conflict(String),
    /// The history no longer reaches back to the requested revision.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
    #[error("storage: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the API server needs from a store. The in-memory [`MemoryStorage`] is the default;
/// the contract (see the module docs) is what an etcd-backed store would keep too.
pub trait Storage: Send + Sync {
    /// The revision of the latest write.
    fn revision(&self) -> u64;

    fn get(&self, key: &Key) -> Option<Arc<Object>>;

    /// Every object of `resource` (in `namespace`, if given), ordered by namespace and name,
    /// and the revision they were read at.
    fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Object>>, u64);

    /// Store a new object, giving it the next revision.
    fn create(&self, key: &Key, object: NewObject) -> Result<Arc<Object>>;

    /// Replace a stored object. A write equal to what is stored is a no-op.
    fn update(&self, key: &Key, object: Value, preconditions: &Preconditions) -> Result<Written>;

    /// Remove an object; the returned (and watched) object carries the deleting revision.
    fn delete(&self, key: &Key, preconditions: &Preconditions) -> Result<Arc<Object>>;

    /// Watch `resource` from a revision. Namespace and selector filtering is the caller's.
    fn watch(&self, resource: &str, from: WatchFrom) -> Result<Watch>;

    /// Forget all history up to now and end every open watch, as an etcd compaction
    /// followed by an API server restart would: watchers resume, get `410 Expired`, relist.
    fn compact(&self);
}
