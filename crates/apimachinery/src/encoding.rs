//! What upstream's JSON encoder writes for a built-in object.
//!
//! Upstream decodes every write into its Go struct and stores what `encoding/json` writes
//! for that struct, so what a client reads back follows Go's rules on the Go fields rather
//! than the body as sent:
//!
//! - an `omitempty` field holding an empty string, a zero number, `false`, an empty list or
//!   an empty map is left out (`hostNetwork: false`, `args: []`, `annotations: {}`), unless
//!   the field is a pointer (`replicas: 0` was set on purpose);
//! - a struct field that is not a pointer is always written, `{}` when empty, since
//!   `omitempty` does not apply to structs (`resources: {}` on every container,
//!   `lastState: {}`, a Service's `status.loadBalancer: {}`);
//! - a field without `omitempty` is always written: a scalar as its zero value, an empty
//!   list or map as `null` — upstream stores objects as protobuf, which cannot tell an
//!   empty list from none, so they come back nil (an EndpointSlice without endpoints has
//!   `endpoints: null`, a new HorizontalPodAutoscaler `currentMetrics: null`).
//!
//! k8s-openapi's types keep what was sent (`Some(vec![])`, `Some(false)`) and leave out
//! what was not, so [`normalize`] applies Go's rules after kubesim's own typed round trip.
//! Which fields are pointers and which lack `omitempty` is read from k8s.io/api's Go tags,
//! in the type table the protobuf decoder also uses (`protobuf/schema.txt`).

use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;
use serde_json::{Map, Value};

use crate::protobuf::{self, schema};
use schema::{Field, Kind, Scalar, Schema};

/// Deeper than any real object: a bound on the walk, whatever the input.
const MAX_DEPTH: usize = 64;

/// Rewrite `obj`, a built-in object of `api_version` and `kind`, as upstream's encoder
/// would write it. Returns false, leaving `obj` as it is, for a kind not in the table.
/// Only for built-in kinds: a custom resource's group may reuse a built-in kind's name.
pub fn normalize(api_version: &str, kind: &str, obj: &mut Value) -> bool {
    let Some((schema, known)) = known_kind(api_version, kind) else {
        return false;
    };
    if let Value::Object(map) = obj {
        object(schema, known.index, map, 0);
    }
    true
}

/// An empty object of a built-in kind as upstream's encoder writes it (its non-pointer
/// structs `{}`, its lists without omitempty `null`): what upstream's field manager
/// compares a create with. `None` for a kind not in the table.
pub fn empty_object(api_version: &str, kind: &str) -> Option<Arc<Value>> {
    known_kind(api_version, kind).map(|(_, known)| known.empty)
}

/// A kind's message in the table, and its empty object.
#[derive(Clone)]
struct KnownKind {
    index: usize,
    empty: Arc<Value>,
}

/// Kinds by apiVersion then kind, each looked up in the table once: every write of a
/// built-in object asks, and the lookup builds the message's full name.
type Kinds = foldhash::HashMap<String, foldhash::HashMap<String, Option<KnownKind>>>;

fn known_kind(api_version: &str, kind: &str) -> Option<(&'static Schema, KnownKind)> {
    static KINDS: OnceLock<RwLock<Kinds>> = OnceLock::new();
    let schema = schema::schema().ok()?;
    let kinds = KINDS.get_or_init(Default::default);
    if let Some(found) = kinds.read().get(api_version).and_then(|k| k.get(kind)) {
        return found.clone().map(|known| (schema, known));
    }
    let found = protobuf::message_for(schema, api_version, kind).map(|index| {
        let mut empty = Map::new();
        object(schema, index, &mut empty, 0);
        KnownKind {
            index,
            empty: Arc::new(Value::Object(empty)),
        }
    });
    kinds
        .write()
        .entry(api_version.to_string())
        .or_default()
        .insert(kind.to_string(), found.clone());
    found.map(|known| (schema, known))
}

/// One struct's fields: empty `omitempty` values out, nested structs walked, absent
/// non-pointer structs written as `{}`. Keys the table does not know (`apiVersion`,
/// `kind`) stay as they are.
fn object(schema: &'static Schema, index: usize, map: &mut Map<String, Value>, depth: usize) {
    if depth > MAX_DEPTH || schema.messages[index].special.is_some() {
        return;
    }
    // Removals are rare: found first, so the usual object is only walked.
    let mut dropped = Vec::new();
    for (key, value) in map.iter_mut() {
        if field(schema, index, key).is_some_and(|field| !keep(schema, field, value, depth)) {
            dropped.push(key.clone());
        }
    }
    for key in dropped {
        map.remove(&key);
    }
    add_always_written(schema, index, map, depth);
}

/// The field named `json` in the message, or in a struct embedded inline in it.
fn field<'s>(schema: &'s Schema, index: usize, json: &str) -> Option<&'s Field> {
    let message = &schema.messages[index];
    if let Some(field) = message.by_json.get(json) {
        return Some(field);
    }
    message
        .inline
        .iter()
        .find_map(|tag| match message.fields.get(tag)?.kind {
            Kind::Message(inner) => field(schema, inner, json),
            _ => None,
        })
}

/// Whether Go writes the field's value; a struct value is normalized on the way.
fn keep(schema: &'static Schema, field: &Field, value: &mut Value, depth: usize) -> bool {
    let walk = |index: usize, value: &mut Value| {
        if let Value::Object(map) = value {
            object(schema, index, map, depth + 1);
        }
    };
    if field.repeated {
        let Value::Array(items) = value else {
            return true;
        };
        if let Kind::Message(inner) = field.kind {
            items.iter_mut().for_each(|item| walk(inner, item));
        }
        return keep_collection(field, items.is_empty(), value);
    }
    match &field.kind {
        Kind::Map(_, values) => {
            let Value::Object(entries) = value else {
                return true;
            };
            if let Kind::Message(inner) = **values {
                entries.values_mut().for_each(|v| walk(inner, v));
            }
            keep_collection(field, entries.is_empty(), value)
        }
        Kind::Message(inner) => {
            walk(*inner, value);
            true
        }
        Kind::Scalar(_) => field.pointer || field.required || !is_zero(value),
    }
}

/// An empty list or map: left out under `omitempty`, else `null` (see the module docs).
fn keep_collection(field: &Field, empty: bool, value: &mut Value) -> bool {
    if empty && field.required {
        *value = Value::Null;
    }
    field.required || !empty
}

fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// Write the absent fields Go always writes: non-pointer structs as `{}` (with their own
/// such fields), other fields without `omitempty` as their zero value.
fn add_always_written(
    schema: &'static Schema,
    index: usize,
    map: &mut Map<String, Value>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for field in &always_written_fields(schema)[index] {
        match field.kind {
            Kind::Message(inner) if field.inline => {
                add_always_written(schema, inner, map, depth + 1);
            }
            _ if map.contains_key(&field.json) => {}
            _ => {
                let zero = zero(schema, field, depth);
                map.insert(field.json.clone(), zero);
            }
        }
    }
}

/// For each message, the fields [`add_always_written`] looks at: those Go writes when
/// unset, and the non-pointer inline structs that may hold some. Most messages have
/// none, and every write walks every struct of its object. There is one table
/// (`schema::schema()`), so the lists are made once, from the first caller's.
fn always_written_fields(schema: &'static Schema) -> &'static [Vec<&'static Field>] {
    static FIELDS: OnceLock<Vec<Vec<&'static Field>>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        schema
            .messages
            .iter()
            .map(|message| {
                let mut fields: Vec<(&u32, &Field)> = message
                    .fields
                    .iter()
                    .filter(|(_, field)| match field.kind {
                        Kind::Message(_) if field.inline => !field.pointer,
                        _ => always_written(schema, field),
                    })
                    .collect();
                // In tag order: the same object, whatever the table's hash order.
                fields.sort_unstable_by_key(|(tag, _)| **tag);
                fields.into_iter().map(|(_, field)| field).collect()
            })
            .collect()
    })
}

/// Whether Go writes the field when it is unset (nil or zero).
fn always_written(schema: &Schema, field: &Field) -> bool {
    if field.pointer || field.inline {
        return false;
    }
    match field.kind {
        Kind::Message(inner) if !field.repeated => schema.messages[inner].special.is_none(),
        _ => field.required,
    }
}

/// What Go writes for an unset field that [`always_written`] says it writes.
fn zero(schema: &'static Schema, field: &Field, depth: usize) -> Value {
    if field.repeated {
        return Value::Null;
    }
    match field.kind {
        Kind::Message(inner) => {
            let mut empty = Map::new();
            add_always_written(schema, inner, &mut empty, depth + 1);
            Value::Object(empty)
        }
        Kind::Map(..) | Kind::Scalar(Scalar::Bytes) => Value::Null,
        Kind::Scalar(Scalar::String) => Value::String(String::new()),
        Kind::Scalar(Scalar::Bool) => Value::Bool(false),
        Kind::Scalar(_) => Value::from(0),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::normalize;

    fn normalized(api_version: &str, kind: &str, mut obj: serde_json::Value) -> serde_json::Value {
        assert!(normalize(api_version, kind, &mut obj), "{kind} unknown");
        obj
    }

    #[test]
    fn empty_omitempty_fields_are_left_out() {
        let pod = normalized(
            "v1",
            "Pod",
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "p", "annotations": {}, "labels": {"a": ""}},
                "spec": {
                    "hostNetwork": false, "nodeName": "", "tolerations": [],
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "i", "args": [], "env": [],
                        "ports": [{"containerPort": 80, "hostPort": 0}]}],
                },
                "status": {},
            }),
        );
        assert_eq!(
            pod,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                // A map entry is never dropped, empty or not.
                "metadata": {"name": "p", "labels": {"a": ""}},
                "spec": {
                    // A pointer's zero was set on purpose.
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "i", "resources": {},
                        "ports": [{"containerPort": 80}]}],
                },
                "status": {},
            })
        );
    }

    #[test]
    fn fields_without_omitempty_and_structs_are_always_written() {
        // Lists and maps without omitempty come back nil from upstream's protobuf storage.
        let slice = normalized(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            json!({"metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": []}),
        );
        assert_eq!(
            slice,
            json!({"metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": null, "ports": null})
        );
        let hpa = normalized(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            json!({"spec": {"maxReplicas": 3, "scaleTargetRef": {"kind": "Deployment", "name": "web"}}}),
        );
        assert_eq!(
            hpa["status"],
            json!({"currentMetrics": null, "desiredReplicas": 0})
        );
        let service = normalized("v1", "Service", json!({"spec": {"ports": [{"port": 80}]}}));
        assert_eq!(service["status"], json!({"loadBalancer": {}}));
        let status = normalized(
            "v1",
            "Pod",
            json!({"status": {"containerStatuses": [{"name": "c", "ready": false, "restartCount": 0, "image": "i", "imageID": ""}]}}),
        );
        assert_eq!(
            status["status"]["containerStatuses"][0],
            json!({"name": "c", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {}, "lastState": {}})
        );
    }

    #[test]
    fn inline_structs_and_other_groups() {
        // `emptyDir` belongs to the volume through the inline VolumeSource.
        let pod = normalized(
            "v1",
            "Pod",
            json!({"spec": {"volumes": [{"name": "v", "emptyDir": {"medium": ""}}]}}),
        );
        assert_eq!(
            pod["spec"]["volumes"],
            json!([{"name": "v", "emptyDir": {}}])
        );
        let deployment = normalized(
            "apps/v1",
            "Deployment",
            json!({"spec": {"replicas": 0, "paused": false, "template": {"spec": {"containers": [{"name": "c"}]}}}}),
        );
        assert_eq!(
            deployment["spec"],
            json!({"replicas": 0, "template": {"metadata": {}, "spec": {"containers": [{"name": "c", "resources": {}}]}}, "strategy": {}})
        );
    }

    #[test]
    fn unknown_kinds_are_left_alone() {
        let mut obj = json!({"spec": {"a": []}});
        assert!(!normalize("example.com/v1", "Widget", &mut obj));
        assert_eq!(obj, json!({"spec": {"a": []}}));
    }
}
