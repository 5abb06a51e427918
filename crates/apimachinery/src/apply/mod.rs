//! Server-side apply and field ownership (`metadata.managedFields`), as upstream's
//! structured-merge-diff does it.
//!
//! Every write records which manager owns which fields:
//!
//! - An **apply** (`PATCH` with `application/apply-patch+yaml`) states the fields its
//!   manager wants, with their values. They are merged into the live object; fields the
//!   manager applied before and no longer applies are removed, unless another manager
//!   owns them too. Applying a different value to a field another manager owns is a
//!   conflict (409), unless `force` moves the ownership.
//! - An **update** (create, PUT, other patches) takes ownership of the fields it adds or
//!   changes, from whoever owned them, without conflicts.
//!
//! How lists and maps merge comes from the [`Schema`]: keyed lists (`containers` by
//! `name`) merge item by item, set-like lists merge by value, atomic lists are replaced
//! whole. Without type information lists are atomic and objects merge key by key.
//!
//! Worked example: manager `a` applies `{spec: {replicas: 3, paused: false}}`, then
//! applies `{spec: {replicas: 3}}`: `paused` is removed (only `a` had it). If `b` had
//! updated `paused` meanwhile, `b` owns it and it stays. If `b` applies
//! `{spec: {replicas: 5}}`, that conflicts with `a` on `.spec.replicas`; with `force`,
//! `b` takes it and `a` no longer owns it.

pub mod builtin;
pub mod fieldset;
pub mod shape;

use std::sync::Arc;

use serde_json::{Map, Value, json};

pub use builtin::Builtin;
pub use fieldset::{FieldSet, Path, PathElement, display_path};

/// How the items of a list are told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced whole.
    Atomic,
    /// Items are their own identity (`finalizers`).
    Set,
    /// Items are identified by these fields (`containers` by `name`).
    Map(Vec<String>),
}

/// What a field of a type is, for merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldShape {
    /// For a list-valued field, how its items merge.
    pub list: ListKind,
    /// An atomic object is replaced whole rather than merged key by key.
    pub atomic: bool,
    /// The type of the value (or of the list's items), when it is a struct.
    pub ty: Option<&'static str>,
}

/// Type information for merging: which fields a type declares and how they merge.
pub trait Schema {
    /// The declared field `name` of the struct type `ty`; `None` if `ty` declares no such
    /// field (then the key is an entry of a map) or is unknown.
    fn field(&self, ty: &str, name: &str) -> Option<FieldShape>;
}

/// No type information: every key is a field, lists are atomic, objects merge key by key.
pub struct Deduced;

impl Schema for Deduced {
    fn field(&self, _ty: &str, _name: &str) -> Option<FieldShape> {
        Some(FieldShape {
            list: ListKind::Atomic,
            atomic: false,
            ty: Some(""),
        })
    }
}

/// Fields no manager owns: identity and server bookkeeping.
fn ignored(level: Level, field: &str) -> bool {
    match level {
        Level::Root => matches!(field, "apiVersion" | "kind"),
        Level::Metadata => matches!(
            field,
            "name"
                | "namespace"
                | "creationTimestamp"
                | "selfLink"
                | "uid"
                | "generation"
                | "managedFields"
                | "resourceVersion"
                | "deletionTimestamp"
                | "deletionGracePeriodSeconds"
        ),
        Level::Deeper => false,
    }
}

/// Where a walk of an object is, as far as [`ignored`] cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Metadata,
    Deeper,
}

/// Key fields with a default, which an applied item may leave out: a port's `protocol`
/// is `TCP` (upstream's schema carries the default, and the merge uses it).
const KEY_DEFAULTS: [(&str, &str); 1] = [("protocol", "TCP")];

/// Whether a keyed-list item has these keys (defaults standing in for missing ones).
fn item_matches(item: &Value, wanted: &Map<String, Value>) -> bool {
    wanted.iter().all(|(k, v)| match item.get(k) {
        Some(have) => have == v,
        None => KEY_DEFAULTS
            .iter()
            .any(|(key, default)| key == k && v.as_str() == Some(default)),
    })
}

/// Canonical JSON of an item's keys: `{"name":"web"}` (fields sorted).
fn item_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut fields = Map::new();
    for key in keys {
        let default = KEY_DEFAULTS
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| Value::String(v.to_string()));
        if let Some(v) = item.get(key).cloned().or(default) {
            fields.insert(key.clone(), v);
        }
    }
    if fields.is_empty() {
        return None;
    }
    serde_json::to_string(&Value::Object(fields)).ok()
}

struct Child {
    shape: Option<FieldShape>,
}

impl Child {
    fn of(schema: &dyn Schema, ty: Option<&str>, name: &str) -> Child {
        Child {
            shape: schema.field(ty.unwrap_or(""), name),
        }
    }
    fn declared(&self) -> bool {
        self.shape.is_some()
    }
    fn ty(&self) -> Option<&str> {
        self.shape.as_ref().and_then(|s| s.ty)
    }
    fn list(&self) -> ListKind {
        self.shape
            .as_ref()
            .map(|s| s.list.clone())
            .unwrap_or(ListKind::Atomic)
    }
    fn atomic(&self) -> bool {
        self.shape.as_ref().is_some_and(|s| s.atomic)
    }
}

/// The set of fields an object (or applied configuration) sets, as upstream's
/// `ToFieldSet`: scalars, atomic values, list items, and map entries; server-owned
/// metadata left out.
pub fn fields_of(obj: &Value, ty: Option<&str>, schema: &dyn Schema) -> FieldSet {
    let mut set = FieldSet::default();
    walk_object(obj, ty, schema, Level::Root, &mut set);
    set
}

/// Add the fields of `obj` below `node`, the set's node for where `obj` is. Building the
/// tree as the walk goes, rather than inserting each path from the root, makes one node
/// per field.
fn walk_object(
    obj: &Value,
    ty: Option<&str>,
    schema: &dyn Schema,
    level: Level,
    node: &mut FieldSet,
) {
    let Some(map) = obj.as_object() else { return };
    for (key, value) in map {
        if ignored(level, key) {
            continue;
        }
        let child = Child::of(schema, ty, key);
        let leaf =
            value.is_null() || value.as_object().is_some_and(Map::is_empty) || !child.declared();
        let next = if level == Level::Root && key == "metadata" {
            Level::Metadata
        } else {
            Level::Deeper
        };
        let sub = node
            .children
            .entry(PathElement::Field(key.clone()))
            .or_default();
        walk_value(value, &child, schema, next, sub);
        if leaf {
            sub.member = true;
        } else if !sub.member && sub.children.is_empty() {
            // Nothing below was a field of its own (say, `metadata` with only a name).
            node.children.remove(&PathElement::Field(key.clone()));
        }
    }
}

fn walk_value(
    value: &Value,
    child: &Child,
    schema: &dyn Schema,
    level: Level,
    node: &mut FieldSet,
) {
    match value {
        Value::Object(_) if child.atomic() => node.member = true,
        Value::Object(_) => walk_object(value, child.ty(), schema, level, node),
        Value::Array(items) => match child.list() {
            ListKind::Atomic => node.member = true,
            ListKind::Set => {
                for item in items {
                    node.children
                        .entry(PathElement::Value(item.to_string()))
                        .or_default()
                        .member = true;
                }
            }
            ListKind::Map(keys) => {
                for (i, item) in items.iter().enumerate() {
                    let element = item_key(item, &keys)
                        .map(PathElement::Key)
                        .unwrap_or(PathElement::Index(i));
                    let sub = node.children.entry(element).or_default();
                    walk_object(item, child.ty(), schema, Level::Deeper, sub);
                    sub.member = true;
                }
            }
        },
        _ => node.member = true,
    }
}

/// An update owns the maps, structs and lists it added, not only their fields, as
/// upstream's (its comparison counts an added map as added): `f:labels: {".": {}, ...}`,
/// `f:rollingUpdate: {".": {}, ...}`. `old` is the value before the write at this node
/// (absent: it was added). The object's `metadata` itself is never owned, as upstream
/// strips it.
fn mark_added(node: &mut FieldSet, old: Option<&Value>, root: bool) {
    for (element, child) in &mut node.children {
        if child.children.is_empty() {
            continue;
        }
        let before = old.and_then(|old| step(old, element));
        let metadata = root && matches!(element, PathElement::Field(name) if name == "metadata");
        if before.is_none() && !metadata {
            child.member = true;
        }
        mark_added(child, before, false);
    }
}

/// Mark every map, struct and list of `set` that `value` has (see [`mark_added`]).
fn mark_present(set: &mut FieldSet, value: &Value) {
    for (element, child) in &mut set.children {
        if child.children.is_empty() {
            continue;
        }
        if let Some(inner) = step(value, element) {
            child.member = true;
            mark_present(child, inner);
        }
    }
}

/// The object a create is compared with, as upstream's field manager compares it: an
/// empty object of the kind, as its Go type encodes (non-pointer structs `{}`, lists
/// without omitempty `null`); for a custom resource, nothing at all.
fn zero_object(new: &Value, ty: Option<&str>) -> Arc<Value> {
    let field = |name: &str| new.get(name).and_then(Value::as_str).unwrap_or("");
    ty.and_then(|_| crate::encoding::empty_object(field("apiVersion"), field("kind")))
        .unwrap_or_else(|| Arc::new(json!({})))
}

/// One step down a path.
fn step<'a>(value: &'a Value, element: &PathElement) -> Option<&'a Value> {
    value_at(value, std::slice::from_ref(element))
}

/// The value at a path, if the object has it.
pub fn value_at<'a>(obj: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else {
        return Some(obj);
    };
    let next = match first {
        PathElement::Field(name) => obj.get(name)?,
        PathElement::Index(i) => obj.get(*i)?,
        PathElement::Value(v) => obj.as_array()?.iter().find(|item| item.to_string() == *v)?,
        PathElement::Key(keys) => {
            let wanted: Map<String, Value> = serde_json::from_str(keys).ok()?;
            obj.as_array()?
                .iter()
                .find(|item| item_matches(item, &wanted))?
        }
    };
    value_at(next, rest)
}

/// Remove the value at a path (a field, or a list item).
pub fn remove_at(obj: &mut Value, path: &[PathElement]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = obj;
    for element in parents {
        let next = match element {
            PathElement::Field(name) => at.get_mut(name),
            PathElement::Index(i) => at.get_mut(*i),
            PathElement::Value(v) => at
                .as_array_mut()
                .and_then(|items| items.iter_mut().find(|item| item.to_string() == *v)),
            PathElement::Key(keys) => {
                let wanted: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
                at.as_array_mut()
                    .and_then(|items| items.iter_mut().find(|item| item_matches(item, &wanted)))
            }
        };
        match next {
            Some(next) => at = next,
            None => return,
        }
    }
    match last {
        PathElement::Field(name) => {
            if let Some(map) = at.as_object_mut() {
                map.remove(name);
            }
        }
        PathElement::Index(i) => {
            if let Some(items) = at.as_array_mut().filter(|items| *i < items.len()) {
                items.remove(*i);
            }
        }
        PathElement::Value(v) => {
            if let Some(items) = at.as_array_mut() {
                items.retain(|item| item.to_string() != *v);
            }
        }
        PathElement::Key(keys) => {
            let wanted: Map<String, Value> = serde_json::from_str(keys).unwrap_or_default();
            if let Some(items) = at.as_array_mut() {
                items.retain(|item| !item_matches(item, &wanted));
            }
        }
    }
}

/// Merge an applied configuration into the live object: objects key by key, keyed and
/// set-like lists item by item, everything else replaced.
pub fn merge(live: &Value, config: &Value, ty: Option<&str>, schema: &dyn Schema) -> Value {
    let (Some(live_map), Some(config_map)) = (live.as_object(), config.as_object()) else {
        return config.clone();
    };
    let mut out = live_map.clone();
    for (key, value) in config_map {
        let child = Child::of(schema, ty, key);
        let merged = match (out.get(key), value) {
            (Some(current), Value::Object(_)) if current.is_object() && !child.atomic() => {
                merge(current, value, child.ty(), schema)
            }
            (Some(Value::Array(current)), Value::Array(applied)) => {
                merge_list(current, applied, &child, schema)
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), merged);
    }
    Value::Object(out)
}

fn merge_list(live: &[Value], applied: &[Value], child: &Child, schema: &dyn Schema) -> Value {
    match child.list() {
        ListKind::Atomic => Value::Array(applied.to_vec()),
        ListKind::Set => {
            let mut out = live.to_vec();
            for item in applied {
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            Value::Array(out)
        }
        ListKind::Map(keys) => {
            let mut out = live.to_vec();
            for item in applied {
                let key = item_key(item, &keys);
                match out
                    .iter_mut()
                    .find(|existing| key.is_some() && item_key(existing, &keys) == key)
                {
                    Some(existing) => *existing = merge(existing, item, child.ty(), schema),
                    None => out.push(item.clone()),
                }
            }
            Value::Array(out)
        }
    }
}

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl Entry {
    /// `who`'s entry for an update (a non-apply write) owning `fields`.
    fn update(who: &Manager<'_>, fields: FieldSet) -> Entry {
        Entry {
            manager: who.name.to_string(),
            operation: "Update".into(),
            api_version: who.api_version.to_string(),
            time: who.time.to_string(),
            subresource: who.subresource.map(str::to_string),
            fields,
        }
    }

    /// The entry's JSON; its strings move into it (every write builds its entries anew).
    fn into_json(self) -> Value {
        let mut entry = Map::new();
        entry.insert("manager".into(), Value::String(self.manager));
        entry.insert("operation".into(), Value::String(self.operation));
        entry.insert("apiVersion".into(), Value::String(self.api_version));
        entry.insert("time".into(), Value::String(self.time));
        entry.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        entry.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(sub) = self.subresource {
            entry.insert("subresource".into(), Value::String(sub));
        }
        Value::Object(entry)
    }

    fn same_slot(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == subresource
    }
}

/// An `Update` entry of `who` owning `fields_v1` (JSON text), as JSON text: byte for byte what
/// serde_json writes for the entry `record_update` stores (keys in order), written from
/// borrowed parts, as a create writes its one entry without building it.
fn write_update_entry(
    who: &Manager<'_>,
    fields_v1: &str,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    out.extend_from_slice(br#"{"apiVersion":"#);
    serde_json::to_writer(&mut *out, who.api_version)?;
    out.extend_from_slice(br#","fieldsType":"FieldsV1","fieldsV1":"#);
    out.extend_from_slice(fields_v1.as_bytes());
    out.extend_from_slice(br#","manager":"#);
    serde_json::to_writer(&mut *out, who.name)?;
    out.extend_from_slice(br#","operation":"Update""#);
    if let Some(sub) = who.subresource {
        out.extend_from_slice(br#","subresource":"#);
        serde_json::to_writer(&mut *out, sub)?;
    }
    out.extend_from_slice(br#","time":"#);
    serde_json::to_writer(&mut *out, who.time)?;
    out.push(b'}');
    Ok(())
}

/// The entries of `metadata.managedFields`; malformed entries are dropped.
pub fn entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|e| {
            Some(Entry {
                manager: e.get("manager")?.as_str()?.to_string(),
                operation: e.get("operation")?.as_str()?.to_string(),
                api_version: e
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                time: e
                    .get("time")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                fields: e
                    .get("fieldsV1")
                    .and_then(FieldSet::from_fields_v1)
                    .map(|mut f| {
                        f.member = false;
                        f
                    })?,
            })
        })
        .collect()
}

/// Write `metadata.managedFields` (removing it when empty).
pub fn set_entries(obj: &mut Value, entries: Vec<Entry>) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::into_json)
        .collect();
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Who is writing, and how.
#[derive(Debug, Clone)]
pub struct Manager<'a> {
    pub name: &'a str,
    pub api_version: &'a str,
    pub subresource: Option<&'a str>,
    pub time: &'a str,
}

/// A field another manager owns, with a different value than the one applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub path: String,
}

/// The fields a write may own. Upstream resets what a subresource does not own: a
/// main-resource write of a kind with a status subresource never takes `status`; a
/// custom resource's status write takes nothing else; a built-in kind's status write
/// takes all but what its status strategy resets (`GetResetFields`: the spec, and for
/// some kinds parts of the metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Everything,
    AllButStatus,
    StatusOnly,
    /// All but these paths (each a list of field names from the root).
    AllBut(&'static [&'static [&'static str]]),
}

impl Scope {
    /// `set` cut down to this scope.
    pub fn restrict(self, mut set: FieldSet) -> FieldSet {
        let status = PathElement::Field("status".into());
        match self {
            Scope::Everything => set,
            Scope::AllButStatus => {
                set.children.remove(&status);
                set
            }
            Scope::StatusOnly => {
                let mut only = FieldSet::default();
                if let Some(fields) = set.children.remove(&status) {
                    only.children.insert(status, fields);
                }
                only
            }
            Scope::AllBut(paths) => {
                for path in paths {
                    remove_path(&mut set, path);
                }
                set
            }
        }
    }
}

/// Take a path of field names, and all below it, out of `set`; a parent left with nothing
/// goes too.
fn remove_path(set: &mut FieldSet, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let element = PathElement::Field((*first).to_string());
    if rest.is_empty() {
        set.children.remove(&element);
        return;
    }
    if let Some(child) = set.children.get_mut(&element) {
        remove_path(child, rest);
        if child.is_empty() {
            set.children.remove(&element);
        }
    }
}

/// Record an update (a non-apply write) from `old` (absent for a create) to `new`: the
/// manager takes the fields it added or changed within `scope` (upstream resets what a
/// subresource does not own: a main-resource write never takes `status`, a status
/// write takes nothing else); fields removed are no one's.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    ty: Option<&str>,
    schema: &dyn Schema,
    who: &Manager<'_>,
    scope: Scope,
) {
    let mut list = old.map(entries).unwrap_or_else(|| entries(new));
    let entry = |fields| Entry::update(who, fields);
    if old.is_none() && list.is_empty() {
        let fields = created_fields(new, ty, schema, scope);
        if !fields.is_empty() {
            list.push(entry(fields));
        }
        set_entries(new, list);
        return;
    }
    let new_fields = fields_of(new, ty, schema);
    // What the write is compared with: a create's is the kind's empty object.
    let zero;
    let before = match old {
        Some(old) => old,
        None => {
            zero = zero_object(new, ty);
            &zero
        }
    };
    let mut changed = match old {
        None => new_fields.clone(),
        Some(old) => {
            let old_fields = fields_of(old, ty, schema);
            let mut changed = new_fields.difference(&old_fields);
            for path in new_fields.intersection(&old_fields).paths() {
                if value_at(old, &path) != value_at(new, &path) {
                    changed.insert(&path);
                }
            }
            changed
        }
    };
    mark_added(&mut changed, Some(before), true);
    let changed = scope.restrict(changed);
    // What exists after the write, the maps, structs and lists too: owning one of those
    // (`".": {}`) lasts as long as it exists.
    let mut present = new_fields;
    mark_present(&mut present, new);
    if changed.is_empty() && old.is_some() {
        // Nothing of this manager's changed; ownership stays as it was (and a no-op
        // write stays a no-op).
        let keep = list
            .iter()
            .map(|e| Entry {
                fields: e.fields.intersection(&present),
                ..e.clone()
            })
            .collect::<Vec<_>>();
        set_entries(new, keep);
        return;
    }
    for other in &mut list {
        other.fields = other.fields.difference(&changed).intersection(&present);
    }
    match list
        .iter_mut()
        .find(|e| e.same_slot(who.name, "Update", who.subresource))
    {
        Some(existing) => {
            existing.fields = existing.fields.union(&changed);
            existing.time = who.time.to_string();
            existing.api_version = who.api_version.to_string();
        }
        None => list.push(entry(changed)),
    }
    set_entries(new, list);
}

/// The fields a create takes: every field it sets (within `scope`) and every map,
/// struct and list it adds — no one else owns any yet.
fn created_fields(new: &Value, ty: Option<&str>, schema: &dyn Schema, scope: Scope) -> FieldSet {
    let mut fields = fields_of(new, ty, schema);
    mark_added(&mut fields, Some(&zero_object(new, ty)), true);
    scope.restrict(fields)
}

/// For a create whose body has no `metadata.managedFields` (every create but a copy of
/// an exported object), what [`record_update`] would own, as the `fieldsV1` JSON text of
/// its one entry (see [`created_entry`]), without setting it in `new`; `None`
/// when it owns none (`record_update` stores no managedFields then). Objects of one
/// [`shape::shape_hash`] own the same.
pub fn created_fields_v1(
    new: &Value,
    ty: Option<&str>,
    schema: &dyn Schema,
    scope: Scope,
) -> serde_json::Result<Option<String>> {
    let fields = created_fields(new, ty, schema, scope);
    if fields.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(128);
    fields.write_fields_v1(&mut out)?;
    utf8(out).map(Some)
}

/// A create's managedFields, as JSON text: its one entry, of `who` owning `fields_v1`
/// (from [`created_fields_v1`]), written straight from its parts as [`record_update`]
/// would store it, without building it as a JSON tree first, which was a fifth of a
/// small create's work.
pub fn created_entry(who: &Manager<'_>, fields_v1: &str) -> serde_json::Result<String> {
    let mut out = Vec::with_capacity(160 + fields_v1.len());
    out.push(b'[');
    write_update_entry(who, fields_v1, &mut out)?;
    out.push(b']');
    utf8(out)
}

/// Text written by serde_json and JSON punctuation, which is UTF-8.
fn utf8(out: Vec<u8>) -> serde_json::Result<String> {
    String::from_utf8(out).map_err(|e| serde::ser::Error::custom(e.to_string()))
}

/// Apply `config` as `who` to `live` (absent: the object is created by the apply).
/// Returns the new object with its managedFields, or the conflicts.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    ty: Option<&str>,
    schema: &dyn Schema,
    who: &Manager<'_>,
    scope: Scope,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let empty = json!({});
    let live_value = live.unwrap_or(&empty);
    let mut list = entries(live_value);
    // What the write's strategy resets is neither applied nor owned (upstream strips the
    // reset fields from the applied configuration).
    let applied = scope.restrict(fields_of(config, ty, schema));

    // Fields others own, with a value other than the one applied, conflict.
    let mut conflicts = Vec::new();
    for entry in list
        .iter_mut()
        .filter(|e| !e.same_slot(who.name, "Apply", who.subresource))
    {
        let overlap = entry.fields.intersection(&applied);
        let mut lost = FieldSet::default();
        for path in overlap.paths() {
            let (theirs, mine) = (value_at(live_value, &path), value_at(config, &path));
            // A list item or object is compared through its fields, not as a whole.
            let both_objects =
                theirs.is_some_and(Value::is_object) && mine.is_some_and(Value::is_object);
            if theirs != mine && !both_objects {
                conflicts.push(Conflict {
                    manager: entry.manager.clone(),
                    api_version: entry.api_version.clone(),
                    path: display_path(&path),
                });
                lost.insert(&path);
            }
        }
        if force {
            entry.fields = entry.fields.difference(&lost);
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflicts);
    }

    let mut merged = merge(live_value, config, ty, schema);
    // What this manager applied before and no longer applies goes, unless others own it.
    let previous = list
        .iter()
        .find(|e| e.same_slot(who.name, "Apply", who.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others = list
        .iter()
        .filter(|e| !e.same_slot(who.name, "Apply", who.subresource))
        .fold(FieldSet::default(), |acc, e| acc.union(&e.fields));
    let mut dropped = previous.difference(&applied).difference(&others).paths();
    // Shallowest first: an item goes with its fields (which its keys find it by).
    dropped.sort_by_key(Vec::len);
    let mut removed: Vec<Path> = Vec::new();
    for path in dropped {
        if removed.iter().any(|r| path.starts_with(r)) {
            continue;
        }
        remove_at(&mut merged, &path);
        removed.push(path);
    }

    list.retain(|e| !e.same_slot(who.name, "Apply", who.subresource));
    list.push(Entry {
        manager: who.name.to_string(),
        operation: "Apply".into(),
        api_version: who.api_version.to_string(),
        time: who.time.to_string(),
        subresource: who.subresource.map(str::to_string),
        fields: applied,
    });
    // Fields that no longer exist are no one's.
    let mut present = fields_of(&merged, ty, schema);
    mark_present(&mut present, &merged);
    for entry in &mut list {
        entry.fields = entry.fields.intersection(&present);
    }
    if merged.get("metadata").is_none_or(|m| !m.is_object()) {
        if let Value::Object(map) = &mut merged {
            map.insert("metadata".into(), json!({}));
        }
    }
    set_entries(&mut merged, list);
    Ok(merged)
}

/// Upstream's message for apply conflicts:
/// `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let n = conflicts.len();
    let noun = if n == 1 { "conflict" } else { "conflicts" };
    let parts: Vec<String> = conflicts
        .iter()
        .map(|c| {
            format!(
                "conflict with \"{}\" using {}: {}",
                c.manager, c.api_version, c.path
            )
        })
        .collect();
    if n == 1 {
        format!("Apply failed with {n} {noun}: {}", parts.join(""))
    } else {
        format!("Apply failed with {n} {noun}: {}", parts.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Deployment-like schema: containers keyed by name, finalizers a set.
    struct TestSchema;
    impl Schema for TestSchema {
        fn field(&self, ty: &str, name: &str) -> Option<FieldShape> {
            let shape = |list, ty: Option<&'static str>| {
                Some(FieldShape {
                    list,
                    atomic: false,
                    ty,
                })
            };
            match (ty, name) {
                ("Deployment", "metadata") => shape(ListKind::Atomic, Some("ObjectMeta")),
                ("Deployment", "spec") => shape(ListKind::Atomic, Some("Spec")),
                ("ObjectMeta", "labels" | "name" | "annotations") => shape(ListKind::Atomic, None),
                ("ObjectMeta", "finalizers") => shape(ListKind::Set, None),
                ("Spec", "replicas" | "paused") => shape(ListKind::Atomic, None),
                ("Spec", "containers") => {
                    shape(ListKind::Map(vec!["name".into()]), Some("Container"))
                }
                ("Container", "name" | "image" | "args") => shape(ListKind::Atomic, None),
                _ => None,
            }
        }
    }

    fn who(name: &str) -> Manager<'_> {
        Manager {
            name,
            api_version: "apps/v1",
            subresource: None,
            time: "2026-11-21T00:00:00Z",
        }
    }

    fn deploy(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
    }

    #[test]
    fn the_applied_fields_are_owned_and_recorded() {
        let config =
            deploy(json!({"replicas": 3, "containers": [{"name": "c", "image": "nginx"}]}));
        let out = apply(
            None,
            &config,
            Some("Deployment"),
            &TestSchema,
            &who("a"),
            Scope::Everything,
            false,
        )
        .expect("apply");
        assert_eq!(out["spec"]["replicas"], 3);
        let managed = &out["metadata"]["managedFields"][0];
        assert_eq!(managed["manager"], "a");
        assert_eq!(managed["operation"], "Apply");
        assert_eq!(
            managed["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}, "f:containers": {"k:{\"name\":\"c\"}": {".": {}, "f:name": {}, "f:image": {}}}}})
        );
    }

    #[test]
    fn fields_no_longer_applied_are_removed_unless_others_own_them() {
        let first = deploy(
            json!({"replicas": 3, "paused": false, "containers": [{"name": "c", "image": "nginx"}, {"name": "d", "image": "x"}]}),
        );
        let live = apply(
            None,
            &first,
            Some("Deployment"),
            &TestSchema,
            &who("a"),
            Scope::Everything,
            false,
        )
        .expect("first");
        let second =
            deploy(json!({"replicas": 3, "containers": [{"name": "c", "image": "nginx"}]}));
        let out = apply(
            Some(&live),
            &second,
            Some("Deployment"),
            &TestSchema,
            &who("a"),
            Scope::Everything,
            false,
        )
        .expect("second");
        assert!(out["spec"].get("paused").is_none(), "{out}");
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "c", "image": "nginx"}])
        );

        // If another manager took `paused` meanwhile, it stays.
        let mut updated = live.clone();
        updated["spec"]["paused"] = json!(true);
        record_update(
            Some(&live),
            &mut updated,
            Some("Deployment"),
            &TestSchema,
            &who("b"),
            Scope::Everything,
        );
        let out = apply(
            Some(&updated),
            &second,
            Some("Deployment"),
            &TestSchema,
            &who("a"),
            Scope::Everything,
            false,
        )
        .expect("third");
        assert_eq!(out["spec"]["paused"], true, "{out}");
    }

    #[test]
    fn a_different_value_on_another_managers_field_conflicts_unless_forced() {
        let live = apply(
            None,
            &deploy(json!({"replicas": 3})),
            Some("Deployment"),
            &TestSchema,
            &who("a"),
            Scope::Everything,
            false,
        )
        .expect("a");
        let theirs = deploy(json!({"replicas": 5}));
        let conflicts = apply(
            Some(&live),
            &theirs,
            Some("Deployment"),
            &TestSchema,
            &who("b"),
            Scope::Everything,
            false,
        )
        .expect_err("conflict");
        assert_eq!(
            conflicts,
            vec![Conflict {
                manager: "a".into(),
                api_version: "apps/v1".into(),
                path: ".spec.replicas".into()
            }]
        );
        assert_eq!(
            conflict_message(&conflicts),
            "Apply failed with 1 conflict: conflict with \"a\" using apps/v1: .spec.replicas"
        );
        // The same value is shared, not a conflict.
        assert!(
            apply(
                Some(&live),
                &deploy(json!({"replicas": 3})),
                Some("Deployment"),
                &TestSchema,
                &who("b"),
                Scope::Everything,
                false
            )
            .is_ok()
        );
        let forced = apply(
            Some(&live),
            &theirs,
            Some("Deployment"),
            &TestSchema,
            &who("b"),
            Scope::Everything,
            true,
        )
        .expect("forced");
        assert_eq!(forced["spec"]["replicas"], 5);
        let owners: Vec<&str> = forced["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert_eq!(owners, ["b"], "a lost its only field: {forced}");
    }

    #[test]
    fn keyed_lists_merge_item_by_item_and_sets_by_value() {
        let mut live =
            deploy(json!({"containers": [{"name": "c", "image": "old", "args": ["x"]}]}));
        live["metadata"]["finalizers"] = json!(["a"]);
        let mut config = deploy(
            json!({"containers": [{"name": "c", "image": "new"}, {"name": "d", "image": "y"}]}),
        );
        config["metadata"]["finalizers"] = json!(["b"]);
        let merged = merge(&live, &config, Some("Deployment"), &TestSchema);
        assert_eq!(
            merged["spec"]["containers"],
            json!([{"name": "c", "image": "new", "args": ["x"]}, {"name": "d", "image": "y"}])
        );
        assert_eq!(merged["metadata"]["finalizers"], json!(["a", "b"]));
    }

    #[test]
    fn updates_take_the_fields_they_change() {
        let mut created = deploy(json!({"replicas": 1}));
        record_update(
            None,
            &mut created,
            Some("Deployment"),
            &TestSchema,
            &who("kubectl-create"),
            Scope::Everything,
        );
        assert_eq!(
            created["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:replicas": {}}})
        );
        let mut scaled = created.clone();
        scaled["spec"]["replicas"] = json!(4);
        record_update(
            Some(&created),
            &mut scaled,
            Some("Deployment"),
            &TestSchema,
            &who("kubectl-scale"),
            Scope::Everything,
        );
        let managers: Vec<&str> = scaled["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["manager"].as_str())
            .collect();
        assert_eq!(managers, ["kubectl-scale"], "{scaled}");
    }

    #[test]
    fn a_defaulted_key_matches_the_item_that_has_it() {
        struct Ports;
        impl Schema for Ports {
            fn field(&self, ty: &str, name: &str) -> Option<FieldShape> {
                match (ty, name) {
                    ("", "ports") => Some(FieldShape {
                        list: ListKind::Map(vec!["port".into(), "protocol".into()]),
                        atomic: false,
                        ty: Some("Port"),
                    }),
                    ("Port", _) => Some(FieldShape {
                        list: ListKind::Atomic,
                        atomic: false,
                        ty: None,
                    }),
                    _ => None,
                }
            }
        }
        let live = json!({"ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]});
        let config = json!({"ports": [{"port": 80, "targetPort": 8080}]});
        assert_eq!(
            merge(&live, &config, Some(""), &Ports),
            json!({"ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]})
        );
        let path = vec![
            PathElement::Field("ports".into()),
            PathElement::Key(r#"{"port":80,"protocol":"TCP"}"#.into()),
            PathElement::Field("targetPort".into()),
        ];
        assert_eq!(value_at(&config, &path), Some(&json!(8080)));
    }

    #[test]
    fn without_a_schema_lists_are_atomic_and_objects_merge() {
        let live = json!({"spec": {"a": 1, "list": [1, 2]}});
        let config = json!({"spec": {"b": 2, "list": [3]}});
        assert_eq!(
            merge(&live, &config, None, &Deduced),
            json!({"spec": {"a": 1, "b": 2, "list": [3]}})
        );
    }

    #[test]
    fn a_creates_managed_fields_text_is_what_record_update_stores() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "uid": "u", "labels": {"app": "web", "tier": "a\"b"}},
            "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
                     "tolerations": [{"key": "k", "operator": "Exists"}]},
            "status": {"phase": "Pending"}});
        let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}], "selector": {"app": "web"}}});
        let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"key": "value", "ключ": "x"}});
        let name_only = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"items": [1, 2, 3], "nested": {"a": {}}}});
        let cases = [
            (
                pod.clone(),
                Builtin::root("", "v1", "Pod"),
                Scope::AllButStatus,
            ),
            (pod, Builtin::root("", "v1", "Pod"), Scope::Everything),
            (
                service,
                Builtin::root("", "v1", "Service"),
                Scope::AllButStatus,
            ),
            (
                config_map,
                Builtin::root("", "v1", "ConfigMap"),
                Scope::Everything,
            ),
            (
                name_only,
                Builtin::root("", "v1", "ConfigMap"),
                Scope::Everything,
            ),
            (widget, None, Scope::Everything),
        ];
        for (object, ty, scope) in cases {
            assert!(ty.is_some() || object["kind"] == "Widget", "{object}");
            let schema: &dyn Schema = if ty.is_some() { &Builtin } else { &Deduced };
            let creator = Manager {
                name: "kubectl-\"create\"",
                api_version: "v1",
                subresource: None,
                time: "2026-12-05T00:00:00Z",
            };
            let mut recorded = object.clone();
            record_update(None, &mut recorded, ty, schema, &creator, scope);
            let text = created_fields_v1(&object, ty, schema, scope)
                .and_then(|fields| fields.map(|f| created_entry(&creator, &f)).transpose())
                .expect("text");
            let stored = recorded["metadata"].get("managedFields");
            assert_eq!(text, stored.map(|list| list.to_string()), "{object}");
        }
    }
}
