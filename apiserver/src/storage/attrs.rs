//! What selectors read of a stored object — its namespace, name, uid, labels and the
//! fields its kind can be selected by — taken once when it is stored, as upstream's
//! `GetAttrs` does, so lists and watches filter without decoding the object again.

use compact_str::CompactString;
use serde_json::Value;

/// The selectable attributes of one stored object. Its strings are kept inline when they
/// are short (names, namespaces, most labels): one allocation per stored object fewer for
/// each, and a filter reads them without following a pointer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Attrs {
    pub namespace: CompactString,
    pub name: CompactString,
    pub uid: CompactString,
    /// Whether `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub labels: Vec<(CompactString, CompactString)>,
    /// The kind's selectable fields (besides name and namespace), as field sets hold them.
    pub fields: Vec<(&'static str, CompactString)>,
}

impl Attrs {
    /// Read the attributes of `obj`, stored under `resource` (the storage key,
    /// `pods`, `deployments.apps`).
    pub fn of(resource: &str, obj: &Value) -> Attrs {
        let (plural, group) = resource.split_once('.').unwrap_or((resource, ""));
        let mut attrs = Attrs {
            fields: selectable_fields(group, plural)
                .iter()
                .map(|path| (*path, field_value(obj, path).into()))
                .collect(),
            ..Attrs::default()
        };
        // One pass over the metadata rather than a lookup per attribute: this runs on
        // every write.
        let Some(meta) = obj.get("metadata").and_then(Value::as_object) else {
            return attrs;
        };
        let text = |v: &Value| -> CompactString { v.as_str().unwrap_or("").into() };
        for (field, value) in meta {
            match field.as_str() {
                "namespace" => attrs.namespace = text(value),
                "name" => attrs.name = text(value),
                "uid" => attrs.uid = text(value),
                "deletionTimestamp" => attrs.deleting = !value.is_null(),
                // A label whose value is not a string (not valid in an object) reads as "",
                // as a JSON null would upstream.
                "labels" => {
                    attrs.labels = value
                        .as_object()
                        .map(|labels| {
                            labels
                                .iter()
                                .map(|(k, v)| (k.as_str().into(), text(v)))
                                .collect()
                        })
                        .unwrap_or_default()
                }
                _ => {}
            }
        }
        attrs
    }

    /// A label's value, if the object has the label.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| &**k == key)
            .map(|(_, v)| &**v)
    }

    /// A field's value as upstream's field sets hold it (`""` when missing).
    pub fn field(&self, path: &str) -> &str {
        match path {
            "metadata.name" => &self.name,
            "metadata.namespace" => &self.namespace,
            _ => self
                .fields
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, v)| &**v)
                .unwrap_or(""),
        }
    }
}

/// The fields a resource can be selected by besides `metadata.name` and
/// `metadata.namespace` (upstream's `GetAttrs`/`AddFieldLabelConversionFunc` per kind).
pub fn selectable_fields(group: &str, plural: &str) -> &'static [&'static str] {
    match (group, plural) {
        ("", "pods") => &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
        ("", "events") => &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        ("events.k8s.io", "events") => &[
            "regarding.kind",
            "regarding.namespace",
            "regarding.name",
            "regarding.uid",
            "regarding.apiVersion",
            "regarding.resourceVersion",
            "regarding.fieldPath",
            "reason",
            "reportingController",
            "type",
        ],
        ("", "nodes") => &["spec.unschedulable"],
        ("", "namespaces") => &["status.phase"],
        ("", "secrets") => &["type"],
        ("", "persistentvolumeclaims") | ("", "persistentvolumes") => &["status.phase"],
        ("apps", "replicasets") => &["status.replicas"],
        ("batch", "jobs") => &["status.successful"],
        _ => &[],
    }
}

/// A field's value as upstream's field sets hold it: strings as they are, booleans and
/// numbers printed, missing as `""`.
fn field_value(obj: &Value, path: &str) -> String {
    let mut at = obj;
    for part in path.split('.') {
        match at.get(part) {
            Some(next) => at = next,
            None => return String::new(),
        }
    }
    match at {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_metadata_labels_and_the_kinds_fields() {
        let pod = json!({"metadata": {"name": "a", "namespace": "ns", "uid": "u1", "labels": {"app": "web", "odd": 3}},
            "spec": {"nodeName": "n1", "hostNetwork": true}, "status": {"phase": "Running"}});
        let attrs = Attrs::of("pods", &pod);
        assert_eq!(
            (&*attrs.name, &*attrs.namespace, &*attrs.uid, attrs.deleting),
            ("a", "ns", "u1", false)
        );
        assert_eq!(attrs.label("app"), Some("web"));
        assert_eq!(attrs.label("odd"), Some(""));
        assert_eq!(attrs.label("missing"), None);
        assert_eq!(attrs.field("spec.nodeName"), "n1");
        assert_eq!(attrs.field("spec.hostNetwork"), "true");
        assert_eq!(attrs.field("status.podIP"), "");
        assert_eq!(attrs.field("metadata.name"), "a");
        let rs = Attrs::of(
            "replicasets.apps",
            &json!({"metadata": {"name": "r"}, "status": {"replicas": 3}}),
        );
        assert_eq!(rs.field("status.replicas"), "3");
        assert!(Attrs::of("configmaps", &json!({})).fields.is_empty());
    }
}
