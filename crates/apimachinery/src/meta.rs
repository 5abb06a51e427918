//! Reading and writing `metadata` on objects kept as JSON.

use serde_json::{Map, Value};

/// `metadata.<field>` as a string, if present.
pub fn str_field<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// `metadata.name`, or `""`.
pub fn name(obj: &Value) -> &str {
    str_field(obj, "name").unwrap_or("")
}

/// `metadata.namespace`, or `""`.
pub fn namespace(obj: &Value) -> &str {
    str_field(obj, "namespace").unwrap_or("")
}

/// `metadata.labels`, if any.
pub fn labels(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.get("labels")?.as_object()
}

/// `metadata` as a mutable map, created if missing (or replaced if not an object).
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let Value::Object(root) = obj else {
        unreachable!("made an object above")
    };
    let meta = root
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    match meta {
        Value::Object(map) => map,
        _ => unreachable!("made an object above"),
    }
}

/// Set `metadata.<field>`; `None` removes it.
pub fn set(obj: &mut Value, field: &str, value: Option<Value>) {
    let meta = metadata_mut(obj);
    match value {
        Some(v) => {
            meta.insert(field.to_string(), v);
        }
        None => {
            meta.remove(field);
        }
    }
}

/// `metadata.resourceVersion` as a number; `None` when absent or empty.
/// `Err` when present but not a resourceVersion this server issued.
pub fn resource_version(obj: &Value) -> Result<Option<u64>, String> {
    match str_field(obj, "resourceVersion") {
        None | Some("") => Ok(None),
        Some(rv) => rv.parse().map(Some).map_err(|_| rv.to_string()),
    }
}

/// `metadata.finalizers`, or none.
pub fn finalizers(obj: &Value) -> Vec<&str> {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    str_field(obj, "deletionTimestamp").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_metadata() {
        let mut pod =
            json!({"metadata": {"name": "web", "resourceVersion": "12", "finalizers": ["a"]}});
        assert_eq!(name(&pod), "web");
        assert_eq!(namespace(&pod), "");
        assert_eq!(resource_version(&pod), Ok(Some(12)));
        assert_eq!(finalizers(&pod), vec!["a"]);
        set(&mut pod, "namespace", Some(json!("default")));
        assert_eq!(namespace(&pod), "default");
        set(&mut pod, "resourceVersion", None);
        assert_eq!(resource_version(&pod), Ok(None));
        let mut bare = json!(null);
        set(&mut bare, "name", Some(json!("x")));
        assert_eq!(name(&bare), "x");
        assert!(resource_version(&json!({"metadata": {"resourceVersion": "abc"}})).is_err());
    }
}
