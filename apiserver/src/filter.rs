//! Which objects a list or watch returns: namespace, label selector and field selector,
//! with the fields each resource supports for selection as upstream declares them.

use kubesim_apimachinery::selector::{FieldSelector, LabelSelector};
use kubesim_apimachinery::{ApiError, ResourceInfo};

use crate::request::Query;
use crate::storage::attrs::{Attrs, selectable_fields};

/// The selection of a list or watch request.
#[derive(Debug, Clone)]
pub struct Filter {
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    /// From `labelSelector` and `fieldSelector`; unsupported fields are a 400, as upstream.
    pub fn from_query(
        info: &ResourceInfo,
        namespace: Option<&str>,
        query: &Query,
    ) -> Result<Self, ApiError> {
        let labels = LabelSelector::parse(query.get("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let fields = FieldSelector::parse(query.get("fieldSelector").unwrap_or(""))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let allowed = selectable_fields(&info.group, &info.plural);
        for field in fields.fields() {
            if !matches!(field, "metadata.name" | "metadata.namespace") && !allowed.contains(&field)
            {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
        }
        Ok(Filter {
            namespace: namespace.map(str::to_string),
            labels,
            fields,
        })
    }

    /// Whether an object is selected.
    pub fn matches(&self, obj: &Attrs) -> bool {
        if self
            .namespace
            .as_deref()
            .is_some_and(|ns| ns != &*obj.namespace)
        {
            return false;
        }
        self.labels.matches_with(|key| obj.label(key))
            && (self.fields.is_empty() || self.fields.matches(|field| obj.field(field)))
    }

    /// The one name the field selector pins, if any (`metadata.name=web`), to look up
    /// directly instead of scanning.
    pub fn single_name(&self) -> Option<&str> {
        self.fields.required_value("metadata.name")
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
        let q = Query::parse(Some(
            "labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn1,status.phase!%3DFailed",
        ));
        let filter = Filter::from_query(&pods, Some("default"), &q).expect("filter");
        let running = json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let pod = |ns: &str, v: &serde_json::Value| {
            let mut v = v.clone();
            v["metadata"]["namespace"] = json!(ns);
            Attrs::of("pods", &v)
        };
        assert!(filter.matches(&pod("default", &running)));
        assert!(!filter.matches(&pod("other", &running)));
        let elsewhere = json!({"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"nodeName": "n2"}});
        assert!(!filter.matches(&pod("default", &elsewhere)));
    }

    #[test]
    fn unsupported_fields_are_bad_requests() {
        let registry = Registry::with_builtins();
        let cms = registry.get("", "v1", "configmaps").expect("configmaps");
        let q = Query::parse(Some("fieldSelector=spec.nodeName%3Dn1"));
        let err = Filter::from_query(&cms, None, &q).expect_err("unsupported");
        assert_eq!(
            (err.code(), err.message()),
            (400, "field label not supported: spec.nodeName")
        );
    }
}
