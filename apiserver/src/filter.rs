//! Which objects a list or watch returns: namespace, label selector and field selector,
//! with the fields each resource supports for selection as upstream declares them.

use kubesim_apimachinery::selector::{FieldSelector, LabelSelector};
use kubesim_apimachinery::{ApiError, ResourceInfo, meta};
use serde_json::Value;

use crate::request::Query;

/// The selection of a list or watch request.
#[derive(Debug, Clone)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

/// The fields a resource can be selected by besides `metadata.name` and
/// `metadata.namespace` (upstream's `GetAttrs`/`AddFieldLabelConversionFunc` per kind).
fn selectable_fields(info: &ResourceInfo) -> &'static [&'static str] {
    match (info.group.as_str(), info.plural.as_str()) {
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

impl Filter {
    /// From `labelSelector` and `fieldSelector`; unsupported fields are a 400, as upstream.
    pub fn from_query(info: &ResourceInfo, namespace: Option<&str>, query: &Query) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let allowed = selectable_fields(info);
        for field in fields.fields() {
            if !matches!(field, "metadata.name" | "metadata.namespace") && !allowed.contains(&field) {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Filter { namespace: namespace.map(str::to_string), labels, fields })
    }

    /// Whether an object (in `namespace`) is selected.
    pub fn matches(&self, namespace: &str, obj: &Value) -> bool {
        if self.namespace.as_deref().is_some_and(|ns| ns != namespace) {
            return false;
        }
        self.labels.matches(meta::labels(obj)) && (self.fields.is_empty() || self.fields.matches(|field| field_value(obj, field)))
    }

    /// The one name the field selector pins, if any (`metadata.name=web`), to look up
    /// directly instead of scanning.
    pub fn single_name(&self) -> Option<&str> {
        self.fields.required_value("metadata.name")
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
    use kubesim_apimachinery::Registry;
    use serde_json::json;

    #[test]
    fn selects_by_labels_and_supported_fields() {
        let registry = Registry::with_builtins();
        let pods = registry.get("", "v1", "pods").expect("pods");
        let q = Query::parse(Some("labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1,status.phase!%3DFailed"));
        let filter = Filter::from_query(&pods, Some("default"), &q).expect("filter");
        let pod = json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        assert!(filter.matches("default", &pod));
        assert!(!filter.matches("other", &pod));
        let elsewhere = json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "n2"}});
        assert!(!filter.matches("default", &elsewhere));
    }

    #[test]
    fn unsupported_fields_are_bad_requests() {
        let registry = Registry::with_builtins();
        let cms = registry.get("", "v1", "configmaps").expect("configmaps");
        let q = Query::parse(Some("fieldSelector=spec.nodeName%3Dn1"));
        let err = Filter::from_query(&cms, None, &q).expect_err("unsupported");
        assert_eq!((err.code(), err.message()), (400, "field label not supported: spec.nodeName"));
    }
}
