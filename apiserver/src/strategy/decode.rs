//! Decoding a JSON body as a k8s-openapi type with Go's semantics and Go's error wording.
//!
//! Go decodes into structs whose required fields are plain values: a missing `name` is just
//! `""`, which validation then reports as `Required value` (422). k8s-openapi makes such fields
//! non-optional, so serde would answer "missing field" instead. To keep upstream's behaviour,
//! a missing required field is filled with the zero value of its type (found by trying the JSON
//! zero values in turn) and decoding is retried. `null` is dropped first, as Go ignores it.
//!
//! A genuine type mismatch becomes upstream's message,
//! `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`:
//! the failing field's path is recovered from serde's error column on the compact encoding.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Attempts to fill missing fields before giving up; bounded so a body cannot loop us.
const MAX_ATTEMPTS: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// Removes every `null` member and element, as Go's decoder leaves such fields at zero.
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => {
            a.retain(|x| !x.is_null());
            a.iter_mut().for_each(strip_nulls);
        }
        _ => {}
    }
}

/// Whether `v` has a `null` anywhere, which [`strip_nulls`] would remove.
pub fn has_nulls(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.values().any(has_nulls),
        Value::Array(a) => a.iter().any(has_nulls),
        _ => false,
    }
}

/// Whether every field of `body` is also in `encoded`, at the same path (list items by
/// index): what a typed round trip of `body` encoded to keeps every field the type has,
/// so a field missing from it was dropped — or removed by the strategy. The walk ends at
/// values that are not objects or lists in `body`; bounded by `body`'s depth.
pub fn keeps_fields(body: &Value, encoded: &Value) -> bool {
    match (body, encoded) {
        (Value::Object(sent), Value::Object(kept)) => sent.iter().all(|(key, value)| {
            kept.get(key)
                .is_some_and(|encoded| keeps_fields(value, encoded))
        }),
        (Value::Array(sent), Value::Array(kept)) => {
            sent.len() == kept.len()
                && sent
                    .iter()
                    .zip(kept)
                    .all(|(value, encoded)| keeps_fields(value, encoded))
        }
        // An empty object or list has no fields to lose, whatever it became.
        (Value::Object(sent), _) => sent.is_empty(),
        (Value::Array(sent), _) => sent.is_empty(),
        _ => true,
    }
}

/// Decodes `v` (already null-stripped, with the right apiVersion/kind) as `T`.
/// On failure returns the reason, worded as Go's `encoding/json` would.
pub fn decode<T: DeserializeOwned>(v: &Value, kind: &str) -> Result<T, String> {
    decode_with(v, kind, false).map(|(t, _)| t)
}

/// [`decode`], also returning the fields `T` has no place for (which decoding drops), named
/// as upstream's strict decoder names them: `spec.template.spec.containers[0].foo`.
pub fn decode_reporting<T: DeserializeOwned>(
    v: &Value,
    kind: &str,
) -> Result<(T, Vec<String>), String> {
    decode_with(v, kind, true)
}

/// One attempt at decoding `text`; with `report`, through `serde_ignored`, which sees
/// every value the type's deserializer skips.
fn attempt<T: DeserializeOwned>(
    text: &str,
    report: bool,
) -> Result<(T, Vec<String>), serde_json::Error> {
    if !report {
        return serde_json::from_str::<T>(text).map(|t| (t, Vec::new()));
    }
    let mut dropped = Vec::new();
    let mut de = serde_json::Deserializer::from_str(text);
    let t = serde_ignored::deserialize(&mut de, |path| dropped.push(field_path(&path)))?;
    de.end()?;
    Ok((t, dropped))
}

/// `spec.containers[0].foo`, as Go's decoder (sigs.k8s.io/json) spells a field's path.
pub fn field_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        Path::Map { parent, key } => {
            let parent = field_path(parent);
            if parent.is_empty() {
                key.clone()
            } else {
                format!("{parent}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => field_path(parent),
    }
}

fn decode_with<T: DeserializeOwned>(
    v: &Value,
    kind: &str,
    report: bool,
) -> Result<(T, Vec<String>), String> {
    // Straight from the value when it decodes: the common case, and cheap. The text
    // round trip below is only for what does not decode, to word its error as Go does.
    let direct = if report {
        let mut dropped = Vec::new();
        serde_ignored::deserialize(v, |path| dropped.push(field_path(&path))).map(|t| (t, dropped))
    } else {
        T::deserialize(v).map(|t| (t, Vec::new()))
    };
    if let Ok(decoded) = direct {
        return Ok(decoded);
    }
    let mut v = v.clone();
    // (path of the filled field, index of the zero value tried)
    let mut filled: Vec<(Vec<Seg>, usize)> = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let text = serde_json::to_string(&v).map_err(|e| e.to_string())?;
        let err = match attempt::<T>(&text, report) {
            Ok(decoded) => return Ok(decoded),
            Err(e) => e,
        };
        let msg = strip_position(&err.to_string());
        // serde reports a scalar's error at its last character, but a map or sequence of the
        // wrong type at the separator just before it.
        let mut offset = err.column().saturating_sub(1);
        if matches!(text.as_bytes().get(offset), Some(b':' | b',' | b'[' | b'{')) {
            offset += 1;
        }
        let path = path_at(&v, &text, offset).unwrap_or_default();
        if let Some(field) = msg
            .strip_prefix("missing field `")
            .and_then(|r| r.strip_suffix('`'))
        {
            let mut field_path = path.clone();
            field_path.push(Seg::Key(field.to_string()));
            filled.push((field_path.clone(), 0));
            set_at(&mut v, &path, field, zero(0));
            continue;
        }
        // A zero value of the wrong type for a field we filled: try the next one.
        if let Some(entry) = filled.iter_mut().find(|(p, _)| *p == path) {
            entry.1 += 1;
            let Some((Seg::Key(field), parent)) =
                entry.0.split_last().map(|(l, p)| (l.clone(), p.to_vec()))
            else {
                break;
            };
            if entry.1 >= ZEROES {
                return Err(go_message(&msg, &path, kind));
            }
            set_at(&mut v, &parent, &field, zero(entry.1));
            continue;
        }
        return Err(go_message(&msg, &path, kind));
    }
    Err("json: too many missing fields".to_string())
}

const ZEROES: usize = 5;

fn zero(i: usize) -> Value {
    match i {
        0 => Value::String(String::new()),
        1 => Value::from(0),
        2 => Value::Bool(false),
        3 => Value::Object(Map::new()),
        _ => Value::Array(Vec::new()),
    }
}

fn set_at(v: &mut Value, path: &[Seg], field: &str, value: Value) {
    let mut cur = v;
    for seg in path {
        let next = match (seg, cur) {
            (Seg::Key(k), Value::Object(m)) => m.get_mut(k),
            (Seg::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    if let Value::Object(m) = cur {
        m.insert(field.to_string(), value);
    }
}

/// serde_json appends " at line L column C"; Go's messages have no position.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The path of the innermost value of `v` whose encoding in `text` covers byte `offset`.
fn path_at(v: &Value, text: &str, offset: usize) -> Option<Vec<Seg>> {
    let mut best: Option<(usize, Vec<Seg>)> = None;
    let mut path = Vec::new();
    walk(v, text.as_bytes(), 0, &mut path, offset, &mut best);
    best.map(|(_, p)| p)
}

/// Walks `v` alongside its compact encoding starting at `pos`; returns the end position.
fn walk(
    v: &Value,
    t: &[u8],
    pos: usize,
    path: &mut Vec<Seg>,
    offset: usize,
    best: &mut Option<(usize, Vec<Seg>)>,
) -> usize {
    let start = pos;
    let end = match v {
        Value::Object(m) => {
            let mut p = pos + 1; // '{'
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    p += 1; // ','
                }
                p = skip_string(t, p) + 1; // key and ':'
                path.push(Seg::Key(k.clone()));
                p = walk(val, t, p, path, offset, best);
                path.pop();
            }
            p + 1 // '}'
        }
        Value::Array(a) => {
            let mut p = pos + 1;
            for (i, val) in a.iter().enumerate() {
                if i > 0 {
                    p += 1;
                }
                path.push(Seg::Index(i));
                p = walk(val, t, p, path, offset, best);
                path.pop();
            }
            p + 1
        }
        Value::String(_) => skip_string(t, pos),
        _ => {
            let mut p = pos;
            while p < t.len() && !matches!(t[p], b',' | b'}' | b']') {
                p += 1;
            }
            p
        }
    };
    // A value covers [start, end); serde may also report just past a scalar's end.
    if offset >= start && offset <= end {
        let width = end - start;
        if best.as_ref().is_none_or(|(w, _)| width < *w) {
            *best = Some((width, path.clone()));
        }
    }
    end
}

/// The position just past the string starting at `pos` (which is at its opening quote).
fn skip_string(t: &[u8], pos: usize) -> usize {
    let mut p = pos + 1;
    while p < t.len() {
        match t[p] {
            b'\\' => p += 2,
            b'"' => return p + 1,
            _ => p += 1,
        }
    }
    p
}

/// Turns serde's message into Go's `UnmarshalTypeError` wording.
fn go_message(msg: &str, path: &[Seg], kind: &str) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    let (got, expected) = match parse_serde(msg) {
        Some(x) => x,
        None => return format!("json: {msg}"),
    };
    let go_type = go_type(&expected, keys.last().copied().unwrap_or(""));
    let got = if got.starts_with("number") && !is_numeric_go_type(&go_type) {
        "number".to_string()
    } else {
        got
    };
    if keys.is_empty() {
        return format!("json: cannot unmarshal {got} into Go value of type {go_type}");
    }
    let parent = parent_struct(&keys[..keys.len() - 1], kind);
    format!(
        "json: cannot unmarshal {got} into Go struct field {parent}.{} of type {go_type}",
        keys.join(".")
    )
}

fn is_numeric_go_type(t: &str) -> bool {
    t.starts_with("int") || t.starts_with("uint") || t.starts_with("float")
}

/// (Go's name for the JSON value found, serde's description of what was expected).
fn parse_serde(msg: &str) -> Option<(String, String)> {
    let rest = msg
        .strip_prefix("invalid type: ")
        .or_else(|| msg.strip_prefix("invalid value: "))?;
    let (unexpected, expected) = rest.split_once(", expected ")?;
    let got = if unexpected.starts_with("string") {
        "string".to_string()
    } else if let Some(n) = unexpected
        .strip_prefix("integer `")
        .or_else(|| unexpected.strip_prefix("floating point `"))
    {
        format!("number {}", n.trim_end_matches('`'))
    } else if unexpected.starts_with("boolean") {
        "bool".to_string()
    } else if unexpected.starts_with("map") {
        "object".to_string()
    } else if unexpected.starts_with("sequence") {
        "array".to_string()
    } else {
        unexpected.to_string()
    };
    Some((got, expected.to_string()))
}

/// Go's type name for serde's expectation; sequences are named from the field they fill.
fn go_type(expected: &str, field: &str) -> String {
    match expected {
        "i32" | "a 32-bit integer" => "int32".into(),
        "i64" => "int64".into(),
        "u16" => "uint16".into(),
        "u32" => "uint32".into(),
        "f64" => "float64".into(),
        "a string" => "string".into(),
        "a boolean" => "bool".into(),
        "a map" => "map[string]string".into(),
        "Quantity" => "resource.Quantity".into(),
        "IntOrString" => "intstr.IntOrString".into(),
        "a sequence" => match field {
            "containers" | "initContainers" => "[]v1.Container".into(),
            "volumes" => "[]v1.Volume".into(),
            "env" => "[]v1.EnvVar".into(),
            "volumeMounts" => "[]v1.VolumeMount".into(),
            "tolerations" => "[]v1.Toleration".into(),
            "matchExpressions" => "[]v1.LabelSelectorRequirement".into(),
            "ownerReferences" => "[]v1.OwnerReference".into(),
            _ => "[]string".into(),
        },
        other => match other.strip_prefix("struct ") {
            Some(s) => format!("v1.{s}"),
            None => other.to_string(),
        },
    }
}

/// The Go struct that holds the field at `parent` (the field's path without its own name).
fn parent_struct(parent: &[&str], kind: &str) -> String {
    let last = parent.last().copied().unwrap_or("");
    let prev = if parent.len() >= 2 {
        parent[parent.len() - 2]
    } else {
        ""
    };

    match (parent.len(), prev, last) {
        (0, _, _) => kind.to_string(),
        (1, _, "spec") => format!("{kind}Spec"),
        (1, _, "status") => format!("{kind}Status"),
        (_, _, "metadata") => "ObjectMeta".into(),
        (_, "template", "spec") => "PodSpec".into(),
        (_, "jobTemplate", "spec") => "JobSpec".into(),
        (_, _, "template") => "PodTemplateSpec".into(),
        (_, _, "jobTemplate") => "JobTemplateSpec".into(),
        (_, _, "containers" | "initContainers") => "Container".into(),
        (_, "containers" | "initContainers", "ports") => "ContainerPort".into(),
        (_, _, "ports") => "ServicePort".into(),
        (_, _, "resources") => "ResourceRequirements".into(),
        (_, _, "selector") => "LabelSelector".into(),
        (_, _, "matchExpressions") => "LabelSelectorRequirement".into(),
        (_, _, "strategy") => "DeploymentStrategy".into(),
        (_, _, "rollingUpdate") => "RollingUpdateDeployment".into(),
        (_, _, "env") => "EnvVar".into(),
        (_, _, "volumeMounts") => "VolumeMount".into(),
        (_, _, "volumes") => "Volume".into(),
        (_, "spec", "securityContext") => "PodSecurityContext".into(),
        (_, _, "securityContext") => "SecurityContext".into(),
        (_, _, "livenessProbe" | "readinessProbe" | "startupProbe") => "Probe".into(),
        (_, _, "httpGet") => "HTTPGetAction".into(),
        (_, _, "tolerations") => "Toleration".into(),
        (_, _, other) => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => kind.to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use serde_json::json;

    #[test]
    fn missing_required_fields_become_zero_values() {
        let v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"image": "nginx", "ports": [{"name": "http"}]}]}});
        let pod: Result<Pod, String> = decode(&v, "Pod");
        let pod = pod.unwrap_or_default();
        let c = pod.spec.unwrap_or_default().containers;
        assert_eq!(c[0].name, "");
        assert_eq!(c[0].ports.as_ref().map(|p| p[0].container_port), Some(0));
    }

    #[test]
    fn type_mismatch_reads_like_go() {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"replicas": "three", "selector": {}, "template": {}}});
        let r: Result<Deployment, String> = decode(&v, "Deployment");
        assert_eq!(
            r.err().as_deref(),
            Some(
                "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
            )
        );
        let v = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": 5, "image": "x"}]}});
        let r: Result<Pod, String> = decode(&v, "Pod");
        assert_eq!(
            r.err().as_deref(),
            Some(
                "json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string"
            )
        );
        let v =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": ["a"]}});
        let r: Result<Pod, String> = decode(&v, "Pod");
        assert_eq!(
            r.err().as_deref(),
            Some(
                "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"
            )
        );
    }

    #[test]
    fn dropped_fields_are_named_as_upstream_names_them() {
        let v = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labelz": {}},
            "spec": {"replica": 3, "selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "x", "imagePullPolicyy": "Always"}]}}}});
        let r: Result<(Deployment, Vec<String>), String> = decode_reporting(&v, "Deployment");
        let (_, dropped) = r.unwrap_or_default();
        assert_eq!(
            dropped,
            [
                "metadata.labelz",
                "spec.replica",
                "spec.template.spec.containers[0].imagePullPolicyy"
            ]
        );
    }

    #[test]
    fn a_round_trip_that_dropped_a_field_does_not_keep_fields() {
        // What a Deployment with unknown fields encodes to after its typed round trip.
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labelz": {"a": "b"}},
            "spec": {"replicas": 3, "selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "x", "imagePullPolicyy": "Always"}]}}}});
        let (typed, dropped): (Deployment, Vec<String>) =
            decode_reporting(&body, "Deployment").unwrap_or_default();
        assert_eq!(dropped.len(), 2);
        let encoded = serde_json::to_value(&typed).unwrap_or_default();
        assert!(!keeps_fields(&body, &encoded));
        // Only the list item's unknown field.
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c"}, {"name": "e", "imagePullPolicyy": "Always"}]}}}});
        let typed: Deployment = decode(&body, "Deployment").unwrap_or_default();
        let encoded = serde_json::to_value(&typed).unwrap_or_default();
        assert!(!keeps_fields(&body, &encoded));
        // An empty object under an unknown key is a dropped field too.
        let body =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "x": {}}});
        let typed: ConfigMap = decode(&body, "ConfigMap").unwrap_or_default();
        let encoded = serde_json::to_value(&typed).unwrap_or_default();
        assert!(!keeps_fields(&body, &encoded));
    }

    #[test]
    fn a_round_trip_of_known_fields_keeps_them_all() {
        let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "labels": {"app": "web"}, "annotations": {}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "strategy": {"rollingUpdate": {"maxSurge": "50%"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
                    {"name": "c", "image": "x", "args": [], "resources": {"limits": {"cpu": "1"}}, "ports": [{"containerPort": 80}]}]}}}});
        let typed: Deployment = decode(&body, "Deployment").unwrap_or_default();
        let encoded = serde_json::to_value(&typed).unwrap_or_default();
        assert!(keeps_fields(&body, &encoded));
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"key": "value"}, "binaryData": {}});
        let typed: ConfigMap = decode(&body, "ConfigMap").unwrap_or_default();
        let encoded = serde_json::to_value(&typed).unwrap_or_default();
        assert!(keeps_fields(&body, &encoded));
    }

    #[test]
    fn nulls_are_ignored() {
        let mut v = json!({"a": null, "b": [null, 1], "c": {"d": null}});
        strip_nulls(&mut v);
        assert_eq!(v, json!({"b": [1], "c": {}}));
    }
}
