//! The in-memory store: one lock orders every write, as etcd's single revision does.
//!
//! Each resource keeps its objects in a sorted map and a bounded log of its recent
//! events. The log serves both watches that resume from a revision and live watchers:
//! each live watcher keeps the revision it has read up to and is woken when the log
//! grows. Events are appended while the write lock is held, so the log's order is the
//! revision order, and a watch started under the lock sees no gap and no duplicate
//! between what it replays and what follows. A watcher that falls so far behind that
//! events it has not read leave the log is ended, never skipped past them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use compact_str::CompactString;
use futures::future::BoxFuture;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::watch;

use super::{
    Attrs, Error, Event, EventType, Feed, FeedEnd, Key, NewObject, Object, Preconditions, Result,
    Storage, Watch, WatchFrom, Written,
};
use kubesim_apimachinery::meta;

/// Limits of the in-memory store.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Events kept per resource, for watches that resume from a revision and for live
    /// watchers that have not read them yet.
    pub history: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { history: 10_000 }
    }
}

struct Resource {
    objects: Objects,
    log: Arc<Log>,
}

/// A resource's objects by namespace, then name: etcd's key order, looked up by `&str`
/// without building a key, and a namespace's objects are one inner map. Names are kept
/// inline in the tree's nodes (up to 24 bytes): a search over a big namespace compares
/// the keys where it finds them rather than following a pointer per key.
#[derive(Default)]
struct Objects(BTreeMap<CompactString, BTreeMap<CompactString, Arc<Object>>>);

impl Objects {
    fn get(&self, key: &Key) -> Option<&Arc<Object>> {
        self.0.get(key.namespace.as_str())?.get(key.name.as_str())
    }

    /// Store what `object` builds under the key's name if the name is free; if it is
    /// taken, `AlreadyExists`, and nothing is built.
    fn insert_new(
        &mut self,
        key: &Key,
        object: impl FnOnce() -> Result<Arc<Object>>,
    ) -> Result<Arc<Object>> {
        // `entry` takes an owned key: build one only for a namespace's first object.
        let names = match self.0.get_mut(key.namespace.as_str()) {
            Some(names) => names,
            None => self.0.entry(key.namespace.as_str().into()).or_default(),
        };
        let std::collections::btree_map::Entry::Vacant(slot) =
            names.entry(key.name.as_str().into())
        else {
            return Err(Error::AlreadyExists);
        };
        let object = object()?;
        slot.insert(object.clone());
        Ok(object)
    }

    /// Replace an object.
    fn replace(&mut self, key: &Key, object: Arc<Object>) {
        if let Some(slot) = self
            .0
            .get_mut(key.namespace.as_str())
            .and_then(|names| names.get_mut(key.name.as_str()))
        {
            *slot = object;
        }
    }

    fn remove(&mut self, key: &Key) {
        if let Some(names) = self.0.get_mut(key.namespace.as_str()) {
            names.remove(key.name.as_str());
            if names.is_empty() {
                self.0.remove(key.namespace.as_str());
            }
        }
    }

    /// Every object, by namespace and name.
    fn all(&self) -> impl Iterator<Item = &Arc<Object>> {
        self.0.values().flat_map(BTreeMap::values)
    }

    fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = &Arc<Object>> {
        self.0.get(namespace).into_iter().flat_map(BTreeMap::values)
    }
}

/// A resource's recent events, appended by the store and read by its watchers.
struct Log {
    state: RwLock<LogState>,
    /// Woken on every append and on compaction.
    grown: watch::Sender<()>,
}

struct LogState {
    /// Oldest first, each with its revision: finding a revision in the log, and dropping
    /// the oldest event, read no object — the oldest one is long out of the cache. Kept
    /// in place rather than each behind its own pointer, for the same reason.
    events: VecDeque<(u64, Event)>,
    /// Events at or below this revision may have left the log.
    compacted: u64,
    /// Bumped by a compaction, which ends every live watch.
    epoch: u64,
}

impl Log {
    fn new() -> Arc<Log> {
        Arc::new(Log {
            state: RwLock::new(LogState {
                events: VecDeque::new(),
                compacted: 0,
                epoch: 0,
            }),
            grown: watch::channel(()).0,
        })
    }

    /// Append an event; called with the store's write lock held.
    fn append(&self, event: Event, history: usize) {
        {
            let mut state = self.state.write();
            state.events.push_back((event.resource_version(), event));
            while state.events.len() > history {
                if let Some((revision, _)) = state.events.pop_front() {
                    state.compacted = revision;
                }
            }
        }
        // Nobody to wake: a watcher that subscribes later (under the store's lock, so not
        // during this append) reads the log first.
        if self.grown.receiver_count() > 0 {
            self.grown.send_replace(());
        }
    }
}

struct Inner {
    revision: u64,
    resources: HashMap<String, Resource>,
}

/// The default store: everything in memory, nothing persisted.
pub struct MemoryStorage {
    config: Config,
    inner: RwLock<Inner>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl MemoryStorage {
    pub fn new(config: Config) -> Self {
        MemoryStorage {
            config: Config {
                history: config.history.max(1),
            },
            inner: RwLock::new(Inner {
                revision: 0,
                resources: HashMap::new(),
            }),
        }
    }
}

fn new_resource() -> Resource {
    Resource {
        objects: Objects::default(),
        log: Log::new(),
    }
}

/// Stamp `revision` into the object and serialize it.
fn seal(resource: &str, object: NewObject, revision: u64) -> Result<Arc<Object>> {
    Ok(stamped(resource, object, revision)?.0)
}

/// [`seal`], and where in the bytes the resourceVersion's digits are.
fn stamped(
    resource: &str,
    object: NewObject,
    revision: u64,
) -> Result<(Arc<Object>, Option<Range<usize>>)> {
    let NewObject {
        mut value,
        managed_fields,
    } = object;
    // The encoding writes the revision into the metadata; only an object without
    // metadata gets it in the tree first.
    if !value.get("metadata").is_some_and(Value::is_object) {
        meta::set(
            &mut value,
            "resourceVersion",
            Some(Value::String(revision.to_string())),
        );
    }
    let (bytes, revision_at) = encode(&value, managed_fields.as_deref(), revision)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let object = Arc::new(Object {
        resource_version: revision,
        bytes,
        attrs: Attrs::of(resource, &value),
    });
    Ok((object, revision_at))
}

/// The object's JSON, byte for byte what `serde_json::to_vec` writes (compact, keys in
/// order) for it with `revision` as its `metadata.resourceVersion` and `managed_fields`
/// (JSON text), when given, as its `metadata.managedFields` — and where the
/// resourceVersion's digits are in it: an update compares its bytes with the stored ones
/// around that span, and so serializes the object once rather than once more to detect a
/// no-op. Both are written where the key order puts them, in place of the tree's own, so
/// the tree is not changed for them.
///
/// Written into a reused buffer and copied out at its exact length: the stored bytes
/// take no more memory than they need, and no write pays for a growing buffer.
fn encode(
    value: &Value,
    managed_fields: Option<&str>,
    revision: u64,
) -> serde_json::Result<(Bytes, Option<Range<usize>>)> {
    /// Buffers grown past this by a big object are not kept.
    const KEPT_CAPACITY: usize = 64 * 1024;
    thread_local! {
        static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(Vec::with_capacity(4096));
    }
    SCRATCH.with(|scratch| {
        let mut out = scratch.take();
        out.clear();
        let revision_at = encode_into(value, managed_fields, revision, &mut out);
        let bytes = Bytes::copy_from_slice(&out);
        if out.capacity() <= KEPT_CAPACITY {
            scratch.replace(out);
        }
        Ok((bytes, revision_at?))
    })
}

/// A metadata member written from what storage was given rather than from the tree.
enum Spliced<'a> {
    /// `managedFields` as JSON text.
    Text(&'a str),
    /// `resourceVersion`, as a string of its digits.
    Revision(u64),
}

fn encode_into(
    value: &Value,
    managed_fields: Option<&str>,
    revision: u64,
    out: &mut Vec<u8>,
) -> serde_json::Result<Option<Range<usize>>> {
    let Value::Object(root) = value else {
        serde_json::to_writer(&mut *out, value)?;
        return Ok(None);
    };
    let mut revision_at = None;
    out.push(b'{');
    for (i, (key, field)) in root.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, key)?;
        out.push(b':');
        let Value::Object(metadata) = field else {
            serde_json::to_writer(&mut *out, field)?;
            continue;
        };
        if key != "metadata" {
            serde_json::to_writer(&mut *out, field)?;
            continue;
        }
        // In key order, as the tree's members are.
        let mut spliced = [
            ("managedFields", managed_fields.map(Spliced::Text)),
            ("resourceVersion", Some(Spliced::Revision(revision))),
        ];
        let mut first = true;
        out.push(b'{');
        for (name, v) in metadata {
            let mut replaced = false;
            for (spliced_name, member) in &mut spliced {
                if name.as_str() >= *spliced_name
                    && let Some(member) = member.take()
                {
                    revision_at =
                        push_spliced(out, &mut first, spliced_name, member).or(revision_at);
                    replaced |= name == spliced_name;
                }
            }
            if replaced {
                continue;
            }
            separate(out, &mut first);
            serde_json::to_writer(&mut *out, name)?;
            out.push(b':');
            serde_json::to_writer(&mut *out, v)?;
        }
        for (spliced_name, member) in spliced {
            if let Some(member) = member {
                revision_at = push_spliced(out, &mut first, spliced_name, member).or(revision_at);
            }
        }
        out.push(b'}');
    }
    out.push(b'}');
    Ok(revision_at)
}

/// `"name":` and the member's JSON as the metadata's next member; for the revision, where
/// its digits went.
fn push_spliced(
    out: &mut Vec<u8>,
    first: &mut bool,
    name: &str,
    member: Spliced<'_>,
) -> Option<Range<usize>> {
    separate(out, first);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    match member {
        Spliced::Text(text) => {
            out.extend_from_slice(text.as_bytes());
            None
        }
        Spliced::Revision(revision) => {
            out.push(b'"');
            let start = out.len();
            // Digits only: nothing to escape.
            let mut digits = [0; 20];
            out.extend_from_slice(crate::object::decimal(revision, &mut digits).as_bytes());
            let digits = start..out.len();
            out.push(b'"');
            Some(digits)
        }
    }
}

/// A comma before every member of an object but its first.
fn separate(out: &mut Vec<u8>, first: &mut bool) {
    if !std::mem::take(first) {
        out.push(b',');
    }
}

/// Whether `new` (an encoding whose resourceVersion is at `revision_at`) is `current`
/// but for the resourceVersion.
fn same_but_revision(new: &[u8], revision_at: Option<&Range<usize>>, current: &Object) -> bool {
    let Some(at) = revision_at else { return false };
    let old = current.resource_version.to_string();
    let (before, after) = (&new[..at.start], &new[at.end..]);
    let stored = &current.bytes[..];
    stored.len() == before.len() + old.len() + after.len()
        && stored.starts_with(before)
        && stored[at.start..].starts_with(old.as_bytes())
        && &stored[at.start + old.len()..] == after
}

fn check(current: &Object, preconditions: &Preconditions) -> Result<()> {
    if let Some(rv) = preconditions.resource_version {
        if rv != current.resource_version {
            return Err(Error::Conflict(format!(
                "the ResourceVersion in the precondition ({rv}) does not match the ResourceVersion in record ({}). The object might have been modified",
                current.resource_version
            )));
        }
    }
    if let Some(uid) = &preconditions.uid {
        let stored = &*current.attrs.uid;
        if uid != stored {
            return Err(Error::Conflict(format!(
                "the UID in the precondition ({uid}) does not match the UID in record ({stored}). The object might have been deleted and then recreated"
            )));
        }
    }
    Ok(())
}

impl Storage for MemoryStorage {
    fn revision(&self) -> u64 {
        self.inner.read().revision
    }

    fn get(&self, key: &Key) -> Option<Arc<Object>> {
        let inner = self.inner.read();
        let resource = inner.resources.get(&key.resource)?;
        resource.objects.get(key).cloned()
    }

    fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Object>>, u64) {
        let inner = self.inner.read();
        let Some(resource) = inner.resources.get(resource) else {
            return (Vec::new(), inner.revision);
        };
        let items = match namespace {
            None => resource.objects.all().cloned().collect(),
            Some(ns) => resource.objects.in_namespace(ns).cloned().collect(),
        };
        (items, inner.revision)
    }

    fn create(&self, key: &Key, object: NewObject) -> Result<Arc<Object>> {
        let mut inner = self.inner.write();
        let Inner {
            revision,
            resources,
        } = &mut *inner;
        if !resources.contains_key(&key.resource) {
            resources.insert(key.resource.clone(), new_resource());
        }
        let resource = resources.get_mut(&key.resource).ok_or(Error::NotFound)?;
        let sealed = resource
            .objects
            .insert_new(key, || seal(&key.resource, object, *revision + 1))?;
        *revision += 1;
        resource.log.append(
            Event::new(EventType::Added, sealed.clone(), None),
            self.config.history,
        );
        Ok(sealed)
    }

    fn update(&self, key: &Key, object: Value, preconditions: &Preconditions) -> Result<Written> {
        let mut inner = self.inner.write();
        let Inner {
            revision,
            resources,
        } = &mut *inner;
        let resource = resources.get_mut(&key.resource).ok_or(Error::NotFound)?;
        let current = resource.objects.get(key).cloned().ok_or(Error::NotFound)?;
        check(&current, preconditions)?;
        // A write of what is already stored changes nothing: same revision, no event.
        // Stored bytes are the encoding of a JSON value with sorted keys, so equal
        // objects encode to equal bytes, but for the resourceVersion.
        let (sealed, revision_at) = stamped(&key.resource, object.into(), *revision + 1)?;
        if same_but_revision(&sealed.bytes, revision_at.as_ref(), &current) {
            return Ok(Written {
                object: current,
                changed: false,
            });
        }
        *revision += 1;
        resource.objects.replace(key, sealed.clone());
        resource.log.append(
            Event::new(EventType::Modified, sealed.clone(), Some(current)),
            self.config.history,
        );
        Ok(Written {
            object: sealed,
            changed: true,
        })
    }

    fn delete(&self, key: &Key, preconditions: &Preconditions) -> Result<Arc<Object>> {
        let mut inner = self.inner.write();
        let Inner {
            revision,
            resources,
        } = &mut *inner;
        let resource = resources.get_mut(&key.resource).ok_or(Error::NotFound)?;
        let current = resource.objects.get(key).cloned().ok_or(Error::NotFound)?;
        check(&current, preconditions)?;
        let last = seal(&key.resource, current.value().into(), *revision + 1)?;
        *revision += 1;
        resource.objects.remove(key);
        resource.log.append(
            Event::new(EventType::Deleted, last.clone(), Some(current)),
            self.config.history,
        );
        Ok(last)
    }

    fn watch(&self, resource: &str, from: WatchFrom) -> Result<Watch> {
        // A watch needs the resource's log to exist; create it under the write lock the
        // first time, then do the real work under the read lock.
        if !self.inner.read().resources.contains_key(resource) {
            self.inner
                .write()
                .resources
                .entry(resource.to_string())
                .or_insert_with(new_resource);
        }
        let inner = self.inner.read();
        let state = inner.resources.get(resource).ok_or(Error::NotFound)?;
        let log = state.log.state.read();
        let initial = match from {
            WatchFrom::Now => state
                .objects
                .all()
                .map(|object| Event::new(EventType::Added, object.clone(), None))
                .collect(),
            WatchFrom::Revision(rv) => {
                if rv < log.compacted {
                    return Err(Error::Expired {
                        requested: rv,
                        oldest: log.compacted,
                    });
                }
                let start = log.events.partition_point(|(at, _)| *at <= rv);
                log.events
                    .range(start..)
                    .map(|(_, event)| event.clone())
                    .collect()
            }
        };
        let live = LiveFeed {
            log: state.log.clone(),
            read_through: inner.revision,
            epoch: log.epoch,
            grown: state.log.grown.subscribe(),
        };
        Ok(Watch {
            initial,
            revision: inner.revision,
            live: Box::new(live),
        })
    }

    fn compact(&self) {
        let inner = self.inner.write();
        let revision = inner.revision;
        for resource in inner.resources.values() {
            {
                let mut log = resource.log.state.write();
                log.events.clear();
                log.compacted = revision;
                log.epoch += 1;
            }
            resource.log.grown.send_replace(());
        }
    }
}

/// One watcher's place in a resource's log.
struct LiveFeed {
    log: Arc<Log>,
    /// Every event at or below this revision has been read (or came before the watch).
    read_through: u64,
    epoch: u64,
    grown: watch::Receiver<()>,
}

impl LiveFeed {
    fn take(&mut self, max: usize) -> std::result::Result<Vec<Event>, FeedEnd> {
        let log = self.log.state.read();
        if log.epoch != self.epoch {
            return Err(FeedEnd::Closed);
        }
        if self.read_through < log.compacted {
            return Err(FeedEnd::Lagged);
        }
        let start = log
            .events
            .partition_point(|(at, _)| *at <= self.read_through);
        let events: Vec<Event> = log
            .events
            .range(start..)
            .take(max.max(1))
            .map(|(_, event)| event.clone())
            .collect();
        if let Some(last) = events.last() {
            self.read_through = last.resource_version();
        }
        Ok(events)
    }
}

impl Feed for LiveFeed {
    fn next(&mut self, max: usize) -> BoxFuture<'_, std::result::Result<Vec<Event>, FeedEnd>> {
        Box::pin(async move {
            loop {
                // Marked seen before reading, so an append after the read wakes us.
                self.grown.borrow_and_update();
                let events = self.take(max)?;
                if !events.is_empty() {
                    return Ok(events);
                }
                if self.grown.changed().await.is_err() {
                    return Err(FeedEnd::Closed);
                }
            }
        })
    }

    fn is_drained(&self) -> bool {
        self.log
            .state
            .read()
            .events
            .back()
            .is_none_or(|(at, _)| *at <= self.read_through)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Key {
        Key {
            resource: "configmaps".into(),
            namespace: "default".into(),
            name: name.into(),
        }
    }

    fn cm(name: &str, value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"v": value}})
    }

    #[test]
    fn every_write_takes_the_next_revision() {
        let store = MemoryStorage::default();
        let a = store
            .create(&key("a"), cm("a", "1").into())
            .expect("create a");
        let b = store
            .create(&key("b"), cm("b", "1").into())
            .expect("create b");
        assert_eq!((a.resource_version, b.resource_version), (1, 2));
        assert_eq!(meta::str_field(&b.value(), "resourceVersion"), Some("2"));
        assert_eq!(b.attrs.name.as_str(), "b");
        let updated = store
            .update(&key("a"), cm("a", "2"), &Preconditions::default())
            .expect("update");
        assert!(updated.changed);
        assert_eq!(updated.object.resource_version, 3);
        let deleted = store
            .delete(&key("b"), &Preconditions::default())
            .expect("delete");
        assert_eq!(deleted.resource_version, 4);
        assert_eq!(store.revision(), 4);
        assert!(store.get(&key("b")).is_none());
    }

    #[test]
    fn objects_list_in_name_order_whether_their_names_are_kept_inline_or_not() {
        let store = MemoryStorage::default();
        // Names of up to 24 bytes are kept in the tree's nodes, longer ones on the heap;
        // the order is etcd's byte order either way, and lookups find both.
        let long = "a-name-longer-than-twenty-four-bytes";
        let names = [
            "b",
            long,
            "a-name-longer-than-twenty-four",
            "a-name-longer-than-twenty-four-bytes-2",
            "a",
            "B",
        ];
        for name in names {
            store
                .create(&key(name), cm(name, "1").into())
                .expect("create");
        }
        let (listed, _) = store.list("configmaps", Some("default"));
        let listed: Vec<&str> = listed.iter().map(|o| o.attrs.name.as_str()).collect();
        let mut sorted = names.to_vec();
        sorted.sort_unstable();
        assert_eq!(listed, sorted);
        assert_eq!(sorted[0], "B");
        assert!(store.get(&key(long)).is_some());
        assert!(matches!(
            store.create(&key(long), cm(long, "2").into()),
            Err(Error::AlreadyExists)
        ));
        store
            .delete(&key(long), &Preconditions::default())
            .expect("delete");
        assert!(store.get(&key(long)).is_none());
    }

    #[test]
    fn a_no_op_write_takes_no_revision_and_sends_no_event() {
        let store = MemoryStorage::default();
        store
            .create(&key("a"), cm("a", "1").into())
            .expect("create");
        let watch = store
            .watch("configmaps", WatchFrom::Revision(1))
            .expect("watch");
        let same = store
            .update(&key("a"), cm("a", "1"), &Preconditions::default())
            .expect("update");
        assert!(!same.changed);
        assert_eq!(same.object.resource_version, 1);
        assert_eq!(store.revision(), 1);
        assert!(watch.live.is_drained());
    }

    #[test]
    fn managed_fields_given_as_text_are_encoded_where_the_values_would_be() {
        let text = r#"[{"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:k":{}}},"manager":"m","operation":"Update","time":"2026-12-05T00:00:00Z"}]"#;
        let managed: Value = serde_json::from_str(text).expect("parse");
        let objects = [
            cm("a", "1"),
            json!({"kind": "X", "metadata": {"annotations": {"a": "b"}, "labels": {"c": "d"}}}),
            json!({"kind": "X", "metadata": {"name": "n", "uid": "u"}, "z": 1}),
            json!({"kind": "X", "metadata": {}}),
            json!({"kind": "X", "metadata": {"managedFields": [], "name": "n"}}),
            json!({"kind": "X", "metadata": {"name": "n", "resourceVersion": "42"}}),
        ];
        for value in objects {
            for (managed_fields, revision) in [(Some(text), 7), (None, 12345)] {
                let (bytes, at) = encode(&value, managed_fields, revision).expect("encode");
                let mut expected = value.clone();
                if managed_fields.is_some() {
                    expected["metadata"]["managedFields"] = managed.clone();
                }
                expected["metadata"]["resourceVersion"] = json!(revision.to_string());
                assert_eq!(
                    String::from_utf8_lossy(&bytes),
                    expected.to_string(),
                    "{value}"
                );
                let at = at.expect("the revision's place");
                assert_eq!(&bytes[at], revision.to_string().as_bytes());
            }
        }
        // Stored, watched and read back as any other object's.
        let store = MemoryStorage::default();
        let object = NewObject {
            value: cm("a", "1"),
            managed_fields: Some(text.to_string()),
        };
        let created = store.create(&key("a"), object).expect("create");
        assert_eq!(created.value()["metadata"]["managedFields"], managed);
        assert_eq!(created.value()["metadata"]["resourceVersion"], "1");
        assert_eq!(created.attrs.name, "a");
    }

    #[test]
    fn an_object_without_metadata_is_stored_with_its_revision_too() {
        let store = MemoryStorage::default();
        for (i, value) in [
            json!({"kind": "X"}),
            json!({"kind": "X", "metadata": "odd"}),
        ]
        .into_iter()
        .enumerate()
        {
            let created = store
                .create(&key(&format!("x{i}")), value.into())
                .expect("create");
            let rv = created.resource_version.to_string();
            assert_eq!(
                created.value(),
                json!({"kind": "X", "metadata": {"resourceVersion": rv}})
            );
        }
    }

    #[test]
    fn the_encoding_is_serde_jsons_and_finds_the_resource_version() {
        let event = json!({"apiVersion": "v1", "kind": "Event", "count": 1,
            "involvedObject": {"kind": "Pod", "name": "p", "resourceVersion": "42"},
            "metadata": {"name": "p.1", "namespace": "default", "resourceVersion": "42", "labels": {"a\"b": "c"}},
            "message": "x \"resourceVersion\":\"42\""});
        for value in [event, cm("a", "1"), json!({"metadata": {}}), json!([1, 2])] {
            let (bytes, at) = encode(&value, None, 42).expect("encode");
            let mut expected = value.clone();
            if value.is_object() {
                meta::set(&mut expected, "resourceVersion", Some(json!("42")));
            }
            assert_eq!(
                bytes,
                serde_json::to_vec(&expected).expect("to_vec"),
                "{value}"
            );
            if let Some(at) = at {
                assert_eq!(&bytes[at.clone()], b"42");
                assert!(bytes[..at.start].ends_with(br#""resourceVersion":""#));
                // The metadata's, not the involved object's, which comes first.
                if value["metadata"]["namespace"] == "default" {
                    assert!(
                        bytes[..at.start]
                            .ends_with(br#""namespace":"default","resourceVersion":""#),
                        "{value}"
                    );
                }
            } else {
                assert!(!value.is_object(), "{value}");
            }
        }
    }

    #[test]
    fn a_no_op_write_is_seen_whatever_the_revisions_length() {
        let store = MemoryStorage::default();
        for i in 0..9 {
            store
                .create(&key(&format!("x{i}")), cm("x", "1").into())
                .expect("create");
        }
        let nine = store
            .create(&key("a"), cm("a", "1").into())
            .expect("create");
        assert_eq!(nine.resource_version, 10);
        let same = store
            .update(&key("a"), cm("a", "1"), &Preconditions::default())
            .expect("update");
        assert!(!same.changed, "revision 10 → 11 of the same object");
        let changed = store
            .update(&key("a"), cm("a", "2"), &Preconditions::default())
            .expect("update");
        assert!(changed.changed);
        assert_eq!(
            meta::str_field(&changed.object.value(), "resourceVersion"),
            Some("11")
        );
    }

    #[test]
    fn a_stale_resource_version_is_a_conflict_and_changes_nothing() {
        let store = MemoryStorage::default();
        store
            .create(&key("a"), cm("a", "1").into())
            .expect("create");
        store
            .update(&key("a"), cm("a", "2"), &Preconditions::default())
            .expect("update");
        let stale = Preconditions {
            resource_version: Some(1),
            uid: None,
        };
        assert!(matches!(
            store.update(&key("a"), cm("a", "3"), &stale),
            Err(Error::Conflict(_))
        ));
        assert!(matches!(
            store.delete(&key("a"), &stale),
            Err(Error::Conflict(_))
        ));
        assert_eq!(store.revision(), 2);
        assert_eq!(
            store.get(&key("a")).map(|o| o.value()["data"]["v"].clone()),
            Some(json!("2"))
        );
    }

    #[test]
    fn create_twice_is_already_exists() {
        let store = MemoryStorage::default();
        store
            .create(&key("a"), cm("a", "1").into())
            .expect("create");
        assert_eq!(
            store.create(&key("a"), cm("a", "1").into()).err(),
            Some(Error::AlreadyExists)
        );
        assert_eq!(store.revision(), 1);
    }

    #[test]
    fn list_is_a_snapshot_by_namespace_and_name() {
        let store = MemoryStorage::default();
        for (ns, name) in [("b", "x"), ("a", "z"), ("a", "y"), ("ab", "w")] {
            let k = Key {
                resource: "configmaps".into(),
                namespace: ns.into(),
                name: name.into(),
            };
            store.create(&k, cm(name, "1").into()).expect("create");
        }
        let (all, rv) = store.list("configmaps", None);
        assert_eq!(rv, 4);
        let names: Vec<&str> = all.iter().map(|o| &*o.attrs.name).collect();
        assert_eq!(names, ["y", "z", "w", "x"]);
        let (in_a, _) = store.list("configmaps", Some("a"));
        assert_eq!(in_a.len(), 2);
        assert_eq!(store.list("pods", None), (vec![], 4));
    }

    /// Lists taken while other threads write are each one moment of the store: exactly
    /// the objects written at or before the list's revision, whatever the interleaving.
    #[test]
    fn lists_under_concurrent_writes_are_snapshots_at_their_revision() {
        let store = Arc::new(MemoryStorage::default());
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..500 {
                        store
                            .create(&key(&format!("w{w}-{i}")), cm("c", "1").into())
                            .expect("create");
                    }
                })
            })
            .collect();
        let mut lists = 0;
        while writers.iter().any(|w| !w.is_finished()) || lists == 0 {
            let (items, rv) = store.list("configmaps", None);
            let mut revisions: Vec<u64> = items.iter().map(|o| o.resource_version).collect();
            revisions.sort_unstable();
            // Creates only, one revision each from 1: the snapshot at `rv` is 1..=rv.
            assert_eq!(revisions, (1..=rv).collect::<Vec<_>>(), "list at {rv}");
            lists += 1;
        }
        for w in writers {
            w.join().expect("writer");
        }
        assert_eq!(store.list("configmaps", None).1, 2000);
        assert!(lists > 0);
    }

    #[tokio::test]
    async fn watch_resumes_after_a_revision_in_order() {
        let store = MemoryStorage::default();
        for i in 0..5 {
            store
                .create(&key(&format!("c{i}")), cm("c", "1").into())
                .expect("create");
        }
        let mut watch = store
            .watch("configmaps", WatchFrom::Revision(2))
            .expect("watch");
        let replayed: Vec<u64> = watch.initial.iter().map(|e| e.resource_version()).collect();
        assert_eq!(replayed, [3, 4, 5]);
        store
            .delete(&key("c0"), &Preconditions::default())
            .expect("delete");
        let live = watch.live.next(10).await.expect("live event");
        assert_eq!(live.len(), 1);
        assert_eq!(
            (live[0].kind, live[0].resource_version()),
            (EventType::Deleted, 6)
        );
        let mut line = bytes::BytesMut::new();
        live[0].write_line(&mut line);
        assert!(line.starts_with(b"{\"type\":\"DELETED\",\"object\":"));
        assert!(watch.live.is_drained());
    }

    #[test]
    fn watch_from_now_lists_current_objects_as_added() {
        let store = MemoryStorage::default();
        store
            .create(&key("a"), cm("a", "1").into())
            .expect("create");
        store
            .create(&key("b"), cm("b", "1").into())
            .expect("create");
        store
            .delete(&key("a"), &Preconditions::default())
            .expect("delete");
        let watch = store.watch("configmaps", WatchFrom::Now).expect("watch");
        assert_eq!(watch.revision, 3);
        assert_eq!(watch.initial.len(), 1);
        assert_eq!(watch.initial[0].kind, EventType::Added);
    }

    #[test]
    fn history_beyond_its_bound_is_expired() {
        let store = MemoryStorage::new(Config { history: 3 });
        for i in 0..10 {
            store
                .create(&key(&format!("c{i}")), cm("c", "1").into())
                .expect("create");
        }
        assert_eq!(
            store.watch("configmaps", WatchFrom::Revision(2)).err(),
            Some(Error::Expired {
                requested: 2,
                oldest: 7
            })
        );
        let ok = store
            .watch("configmaps", WatchFrom::Revision(7))
            .expect("within history");
        assert_eq!(ok.initial.len(), 3);
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_closed_not_skipped() {
        let store = MemoryStorage::new(Config { history: 2 });
        let mut behind = store.watch("configmaps", WatchFrom::Now).expect("watch");
        let mut kept_up = store.watch("configmaps", WatchFrom::Now).expect("watch");
        store
            .create(&key("c0"), cm("c", "1").into())
            .expect("create");
        store
            .create(&key("c1"), cm("c", "1").into())
            .expect("create");
        assert_eq!(kept_up.live.next(10).await.map(|e| e.len()), Ok(2));
        // Revision 1 leaves the log: the watcher that never read it is ended, the one
        // that did reads on.
        store
            .create(&key("c2"), cm("c", "1").into())
            .expect("create");
        assert_eq!(behind.live.next(10).await.err(), Some(FeedEnd::Lagged));
        let next = kept_up.live.next(10).await.expect("next");
        assert_eq!(
            next.iter()
                .map(|e| e.resource_version())
                .collect::<Vec<_>>(),
            [3]
        );
    }

    #[tokio::test]
    async fn live_watchers_get_every_event_once_in_order() {
        let store = Arc::new(MemoryStorage::new(Config { history: 1000 }));
        let mut watch = store.watch("configmaps", WatchFrom::Now).expect("watch");
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..500 {
                    store
                        .create(&key(&format!("c{i}")), cm("c", "1").into())
                        .expect("create");
                    if i % 50 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        };
        let mut seen = Vec::new();
        while seen.len() < 500 {
            let events = watch.live.next(64).await.expect("events");
            assert!(events.len() <= 64);
            seen.extend(events.iter().map(|e| e.resource_version()));
        }
        writer.await.expect("writer");
        assert_eq!(seen, (1..=500).collect::<Vec<u64>>());
        assert!(watch.live.is_drained());
    }

    #[tokio::test]
    async fn compaction_expires_old_revisions_and_ends_live_watches() {
        let store = MemoryStorage::default();
        store
            .create(&key("a"), cm("a", "1").into())
            .expect("create");
        let mut watch = store
            .watch("configmaps", WatchFrom::Revision(0))
            .expect("watch");
        store.compact();
        assert_eq!(watch.live.next(1).await.err(), Some(FeedEnd::Closed));
        assert!(matches!(
            store.watch("configmaps", WatchFrom::Revision(0)),
            Err(Error::Expired { .. })
        ));
        assert!(store.watch("configmaps", WatchFrom::Revision(1)).is_ok());
    }
}
