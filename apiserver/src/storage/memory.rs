//! The in-memory store: one lock orders every write, as etcd's single revision does.
//!
//! Each resource keeps its objects in a sorted map, a bounded history of recent events
//! for watches that resume, and a broadcast channel for live watchers. Events are sent
//! while the write lock is held, so the channel's order is the revision order, and a
//! watch that subscribes under the read lock sees no gap and no duplicate between the
//! history it replays and the live feed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;
use serde_json::Value;
use tokio::sync::broadcast;

use super::{
    Error, Event, EventType, Key, Object, Preconditions, Result, Storage, Watch, WatchFrom, Written,
};
use kubesim_apimachinery::meta;

/// Limits of the in-memory store.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Events kept per resource for watches that resume from a revision.
    pub history: usize,
    /// Events a live watcher may fall behind by before its watch is closed.
    pub watcher_buffer: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { history: 10_000, watcher_buffer: 10_000 }
    }
}

struct Resource {
    objects: BTreeMap<(String, String), Arc<Object>>,
    history: VecDeque<Arc<Event>>,
    /// Events at or below this revision may have left the history.
    compacted: u64,
    live: broadcast::Sender<Arc<Event>>,
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
        MemoryStorage { config, inner: RwLock::new(Inner { revision: 0, resources: HashMap::new() }) }
    }

    fn new_resource(&self) -> Resource {
        Resource {
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            compacted: 0,
            live: broadcast::channel(self.config.watcher_buffer.max(1)).0,
        }
    }
}

/// Stamp `revision` into the object and serialize it.
fn seal(mut value: Value, revision: u64) -> Result<Arc<Object>> {
    meta::set(&mut value, "resourceVersion", Some(Value::String(revision.to_string())));
    let bytes = serde_json::to_vec(&value).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Arc::new(Object { resource_version: revision, value, bytes: Bytes::from(bytes) }))
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
        let stored = meta::str_field(&current.value, "uid").unwrap_or("");
        if uid != stored {
            return Err(Error::Conflict(format!(
                "the UID in the precondition ({uid}) does not match the UID in record ({stored}). The object might have been deleted and then recreated"
            )));
        }
    }
    Ok(())
}

impl Resource {
    /// Record and broadcast an event; called with the write lock held.
    fn emit(&mut self, event: Event, history: usize) {
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > history {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.resource_version();
            }
        }
        // No receivers is not an error: nobody is watching.
        let _ = self.live.send(event);
    }
}

impl Storage for MemoryStorage {
    fn revision(&self) -> u64 {
        self.inner.read().revision
    }

    fn get(&self, key: &Key) -> Option<Arc<Object>> {
        let inner = self.inner.read();
        let resource = inner.resources.get(&key.resource)?;
        resource.objects.get(&(key.namespace.clone(), key.name.clone())).cloned()
    }

    fn list(&self, resource: &str, namespace: Option<&str>) -> (Vec<Arc<Object>>, u64) {
        let inner = self.inner.read();
        let Some(resource) = inner.resources.get(resource) else {
            return (Vec::new(), inner.revision);
        };
        let items = match namespace {
            None => resource.objects.values().cloned().collect(),
            Some(ns) => resource
                .objects
                .range((ns.to_string(), String::new())..)
                .take_while(|((object_ns, _), _)| object_ns == ns)
                .map(|(_, object)| object.clone())
                .collect(),
        };
        (items, inner.revision)
    }

    fn create(&self, key: &Key, object: Value) -> Result<Arc<Object>> {
        let mut inner = self.inner.write();
        let Inner { revision, resources } = &mut *inner;
        let resource = resources.entry(key.resource.clone()).or_insert_with(|| self.new_resource());
        let id = (key.namespace.clone(), key.name.clone());
        if resource.objects.contains_key(&id) {
            return Err(Error::AlreadyExists);
        }
        let sealed = seal(object, *revision + 1)?;
        *revision += 1;
        resource.objects.insert(id, sealed.clone());
        resource.emit(Event::new(EventType::Added, key.namespace.clone(), sealed.clone(), None), self.config.history);
        Ok(sealed)
    }

    fn update(&self, key: &Key, mut object: Value, preconditions: &Preconditions) -> Result<Written> {
        let mut inner = self.inner.write();
        let Inner { revision, resources } = &mut *inner;
        let resource = resources.get_mut(&key.resource).ok_or(Error::NotFound)?;
        let id = (key.namespace.clone(), key.name.clone());
        let current = resource.objects.get(&id).cloned().ok_or(Error::NotFound)?;
        check(&current, preconditions)?;
        // A write of what is already stored changes nothing: same revision, no event.
        meta::set(&mut object, "resourceVersion", Some(Value::String(current.resource_version.to_string())));
        if object == current.value {
            return Ok(Written { object: current, changed: false });
        }
        let sealed = seal(object, *revision + 1)?;
        *revision += 1;
        resource.objects.insert(id, sealed.clone());
        let event = Event::new(EventType::Modified, key.namespace.clone(), sealed.clone(), Some(current));
        resource.emit(event, self.config.history);
        Ok(Written { object: sealed, changed: true })
    }

    fn delete(&self, key: &Key, preconditions: &Preconditions) -> Result<Arc<Object>> {
        let mut inner = self.inner.write();
        let Inner { revision, resources } = &mut *inner;
        let resource = resources.get_mut(&key.resource).ok_or(Error::NotFound)?;
        let id = (key.namespace.clone(), key.name.clone());
        let current = resource.objects.get(&id).cloned().ok_or(Error::NotFound)?;
        check(&current, preconditions)?;
        let last = seal(current.value.clone(), *revision + 1)?;
        *revision += 1;
        resource.objects.remove(&id);
        let event = Event::new(EventType::Deleted, key.namespace.clone(), last.clone(), Some(current));
        resource.emit(event, self.config.history);
        Ok(last)
    }

    fn watch(&self, resource: &str, from: WatchFrom) -> Result<Watch> {
        // Subscribing needs the resource's channel to exist; create it under the write lock
        // the first time, then do the real work under the read lock.
        if !self.inner.read().resources.contains_key(resource) {
            let resource_state = self.new_resource();
            self.inner.write().resources.entry(resource.to_string()).or_insert(resource_state);
        }
        let inner = self.inner.read();
        let state = inner.resources.get(resource).ok_or(Error::NotFound)?;
        let live = state.live.subscribe();
        let initial = match from {
            WatchFrom::Now => state
                .objects
                .iter()
                .map(|((ns, _), object)| Arc::new(Event::new(EventType::Added, ns.clone(), object.clone(), None)))
                .collect(),
            WatchFrom::Revision(rv) => {
                if rv < state.compacted {
                    return Err(Error::Expired { requested: rv, oldest: state.compacted });
                }
                state.history.iter().filter(|e| e.resource_version() > rv).cloned().collect()
            }
        };
        Ok(Watch { initial, revision: inner.revision, live })
    }

    fn compact(&self) {
        let mut inner = self.inner.write();
        let revision = inner.revision;
        let buffer = self.config.watcher_buffer.max(1);
        for resource in inner.resources.values_mut() {
            resource.history.clear();
            resource.compacted = revision;
            // Dropping the old sender ends every live watch once it has read what it was sent.
            resource.live = broadcast::channel(buffer).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Key {
        Key { resource: "configmaps".into(), namespace: "default".into(), name: name.into() }
    }

    fn cm(name: &str, value: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": {"v": value}})
    }

    #[test]
    fn every_write_takes_the_next_revision() {
        let store = MemoryStorage::default();
        let a = store.create(&key("a"), cm("a", "1")).expect("create a");
        let b = store.create(&key("b"), cm("b", "1")).expect("create b");
        assert_eq!((a.resource_version, b.resource_version), (1, 2));
        assert_eq!(meta::str_field(&b.value, "resourceVersion"), Some("2"));
        let stored: Value = serde_json::from_slice(&b.bytes).expect("bytes are the object");
        assert_eq!(stored, b.value);
        let updated = store.update(&key("a"), cm("a", "2"), &Preconditions::default()).expect("update");
        assert!(updated.changed);
        assert_eq!(updated.object.resource_version, 3);
        let deleted = store.delete(&key("b"), &Preconditions::default()).expect("delete");
        assert_eq!(deleted.resource_version, 4);
        assert_eq!(store.revision(), 4);
        assert!(store.get(&key("b")).is_none());
    }

    #[test]
    fn a_no_op_write_takes_no_revision_and_sends_no_event() {
        let store = MemoryStorage::default();
        store.create(&key("a"), cm("a", "1")).expect("create");
        let mut watch = store.watch("configmaps", WatchFrom::Revision(1)).expect("watch");
        let same = store.update(&key("a"), cm("a", "1"), &Preconditions::default()).expect("update");
        assert!(!same.changed);
        assert_eq!(same.object.resource_version, 1);
        assert_eq!(store.revision(), 1);
        assert!(matches!(watch.live.try_recv(), Err(broadcast::error::TryRecvError::Empty)));
    }

    #[test]
    fn a_stale_resource_version_is_a_conflict_and_changes_nothing() {
        let store = MemoryStorage::default();
        store.create(&key("a"), cm("a", "1")).expect("create");
        store.update(&key("a"), cm("a", "2"), &Preconditions::default()).expect("update");
        let stale = Preconditions { resource_version: Some(1), uid: None };
        assert!(matches!(store.update(&key("a"), cm("a", "3"), &stale), Err(Error::Conflict(_))));
        assert!(matches!(store.delete(&key("a"), &stale), Err(Error::Conflict(_))));
        assert_eq!(store.revision(), 2);
        assert_eq!(store.get(&key("a")).map(|o| o.value["data"]["v"].clone()), Some(json!("2")));
    }

    #[test]
    fn create_twice_is_already_exists() {
        let store = MemoryStorage::default();
        store.create(&key("a"), cm("a", "1")).expect("create");
        assert_eq!(store.create(&key("a"), cm("a", "1")).err(), Some(Error::AlreadyExists));
        assert_eq!(store.revision(), 1);
    }

    #[test]
    fn list_is_a_snapshot_by_namespace_and_name() {
        let store = MemoryStorage::default();
        for (ns, name) in [("b", "x"), ("a", "z"), ("a", "y"), ("ab", "w")] {
            let k = Key { resource: "configmaps".into(), namespace: ns.into(), name: name.into() };
            store.create(&k, cm(name, "1")).expect("create");
        }
        let (all, rv) = store.list("configmaps", None);
        assert_eq!(rv, 4);
        let names: Vec<&str> = all.iter().map(|o| meta::name(&o.value)).collect();
        assert_eq!(names, ["y", "z", "w", "x"]);
        let (in_a, _) = store.list("configmaps", Some("a"));
        assert_eq!(in_a.len(), 2);
        assert_eq!(store.list("pods", None), (vec![], 4));
    }

    #[test]
    fn watch_resumes_after_a_revision_in_order() {
        let store = MemoryStorage::default();
        for i in 0..5 {
            store.create(&key(&format!("c{i}")), cm("c", "1")).expect("create");
        }
        let mut watch = store.watch("configmaps", WatchFrom::Revision(2)).expect("watch");
        let replayed: Vec<u64> = watch.initial.iter().map(|e| e.resource_version()).collect();
        assert_eq!(replayed, [3, 4, 5]);
        store.delete(&key("c0"), &Preconditions::default()).expect("delete");
        let live = watch.live.try_recv().expect("live event");
        assert_eq!((live.kind, live.resource_version()), (EventType::Deleted, 6));
        assert!(live.line().starts_with(b"{\"type\":\"DELETED\",\"object\":"));
    }

    #[test]
    fn watch_from_now_lists_current_objects_as_added() {
        let store = MemoryStorage::default();
        store.create(&key("a"), cm("a", "1")).expect("create");
        store.create(&key("b"), cm("b", "1")).expect("create");
        store.delete(&key("a"), &Preconditions::default()).expect("delete");
        let watch = store.watch("configmaps", WatchFrom::Now).expect("watch");
        assert_eq!(watch.revision, 3);
        assert_eq!(watch.initial.len(), 1);
        assert_eq!(watch.initial[0].kind, EventType::Added);
    }

    #[test]
    fn history_beyond_its_bound_is_expired() {
        let store = MemoryStorage::new(Config { history: 3, watcher_buffer: 16 });
        for i in 0..10 {
            store.create(&key(&format!("c{i}")), cm("c", "1")).expect("create");
        }
        assert_eq!(store.watch("configmaps", WatchFrom::Revision(2)).err(), Some(Error::Expired { requested: 2, oldest: 7 }));
        let ok = store.watch("configmaps", WatchFrom::Revision(7)).expect("within history");
        assert_eq!(ok.initial.len(), 3);
    }

    #[test]
    fn a_watcher_that_falls_behind_is_closed_not_skipped() {
        let store = MemoryStorage::new(Config { history: 100, watcher_buffer: 2 });
        let mut watch = store.watch("configmaps", WatchFrom::Now).expect("watch");
        for i in 0..5 {
            store.create(&key(&format!("c{i}")), cm("c", "1")).expect("create");
        }
        assert!(matches!(watch.live.try_recv(), Err(broadcast::error::TryRecvError::Lagged(_))));
    }

    #[test]
    fn compaction_expires_old_revisions_and_ends_live_watches() {
        let store = MemoryStorage::default();
        store.create(&key("a"), cm("a", "1")).expect("create");
        let mut watch = store.watch("configmaps", WatchFrom::Revision(0)).expect("watch");
        store.compact();
        assert!(matches!(watch.live.try_recv(), Err(broadcast::error::TryRecvError::Closed)));
        assert!(matches!(store.watch("configmaps", WatchFrom::Revision(0)), Err(Error::Expired { .. })));
        assert!(store.watch("configmaps", WatchFrom::Revision(1)).is_ok());
    }
}
