//! `ObjectMeta`, labels, annotations and label selectors, validated as upstream's
//! `ValidateObjectMeta`/`ValidateObjectMetaUpdate` (apimachinery + the core finalizer check).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::{
    NameFn, is_dns1123_label, is_label_value, is_qualified_name,
};
use serde_json::Value;

use super::field::{Errors, Path, json};

/// `TotalAnnotationSizeLimitB`: 256 KiB over all keys and values.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Finalizers without a domain prefix that upstream accepts (`IsStandardFinalizerName`).
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// How a kind is scoped: whether `metadata.namespace` must be set, must be empty, or
/// (for kinds this module does not know) is left to the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
    Unknown,
}

/// `ValidateObjectMeta` for a create.
pub fn validate_create(meta: &ObjectMeta, scope: Scope, name_fn: NameFn, path: &Path) -> Errors {
    let mut errs = Errors::new();
    if let Some(gen_name) = meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
        for msg in name_fn(gen_name, true) {
            errs.push(FieldError::invalid(
                path.child("generateName"),
                gen_name,
                msg,
            ));
        }
    }
    match meta.name.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(
            path.child("name"),
            "name or generateName is required",
        )),
        name => {
            for msg in name_fn(name, false) {
                errs.push(FieldError::invalid(path.child("name"), name, msg));
            }
        }
    }
    let ns = meta.namespace.as_deref().unwrap_or("");
    match scope {
        Scope::Namespaced if ns.is_empty() => {
            errs.push(FieldError::required(path.child("namespace"), ""))
        }
        Scope::Namespaced | Scope::Unknown if !ns.is_empty() => {
            for msg in is_dns1123_label(ns) {
                errs.push(FieldError::invalid(path.child("namespace"), ns, msg));
            }
        }
        Scope::Cluster if !ns.is_empty() => {
            errs.push(FieldError::forbidden(
                path.child("namespace"),
                "not allowed on this type",
            ));
        }
        _ => {}
    }
    if let Some(g) = meta.generation
        && g < 0
    {
        errs.push(FieldError::invalid(
            path.child("generation"),
            g,
            super::field::NEGATIVE,
        ));
    }
    errs.extend(common(meta, path));
    errs
}

/// `ValidateObjectMetaUpdate`: identity fields are immutable; labels etc. are checked again.
pub fn validate_update(new: &ObjectMeta, old: &ObjectMeta, path: &Path) -> Errors {
    let mut errs = Errors::new();
    if old.deletion_timestamp.is_some() {
        let old_f: Vec<&String> = old.finalizers.iter().flatten().collect();
        let extra: Vec<&String> = new
            .finalizers
            .iter()
            .flatten()
            .filter(|f| !old_f.contains(f))
            .collect();
        if !extra.is_empty() {
            let list: Vec<String> = extra.iter().map(|f| format!("{f:?}")).collect();
            errs.push(FieldError::forbidden(
                path.child("finalizers"),
                format!(
                    "no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    list.join(", ")
                ),
            ));
        }
    }
    if new.generation.unwrap_or(0) < old.generation.unwrap_or(0) {
        errs.push(FieldError::invalid(
            path.child("generation"),
            new.generation.unwrap_or(0),
            "must not be decremented",
        ));
    }
    let s = |o: &Option<String>| o.clone().unwrap_or_default();
    if new.name != old.name {
        errs.push(FieldError::invalid(
            path.child("name"),
            s(&new.name),
            super::field::IMMUTABLE,
        ));
    }
    if new.namespace != old.namespace {
        errs.push(FieldError::invalid(
            path.child("namespace"),
            s(&new.namespace),
            super::field::IMMUTABLE,
        ));
    }
    if new.uid != old.uid {
        errs.push(FieldError::invalid(
            path.child("uid"),
            s(&new.uid),
            super::field::IMMUTABLE,
        ));
    }
    if new.creation_timestamp != old.creation_timestamp {
        errs.push(FieldError::invalid(
            path.child("creationTimestamp"),
            json(&new.creation_timestamp),
            super::field::IMMUTABLE,
        ));
    }
    if new.deletion_timestamp != old.deletion_timestamp {
        errs.push(FieldError::invalid(
            path.child("deletionTimestamp"),
            json(&new.deletion_timestamp),
            super::field::IMMUTABLE,
        ));
    }
    if new.deletion_grace_period_seconds != old.deletion_grace_period_seconds {
        errs.push(FieldError::invalid(
            path.child("deletionGracePeriodSeconds"),
            json(&new.deletion_grace_period_seconds),
            super::field::IMMUTABLE,
        ));
    }
    errs.extend(common(new, path));
    errs
}

/// The checks create and update share: labels, annotations, owners, finalizers, managed fields.
fn common(meta: &ObjectMeta, path: &Path) -> Errors {
    let mut errs = Errors::new();
    if let Some(labels) = &meta.labels {
        errs.extend(validate_labels(labels, &path.child("labels")));
    }
    if let Some(annotations) = &meta.annotations {
        errs.extend(validate_annotations(
            annotations,
            &path.child("annotations"),
        ));
    }
    if let Some(owners) = &meta.owner_references {
        errs.extend(validate_owner_references(
            owners,
            &path.child("ownerReferences"),
        ));
    }
    if let Some(finalizers) = &meta.finalizers {
        errs.extend(validate_finalizers(finalizers, &path.child("finalizers")));
    }
    for (i, mf) in meta.managed_fields.iter().flatten().enumerate() {
        let p = path.child("managedFields").index(i);
        let op = mf.operation.as_deref().unwrap_or("");
        if op != "Apply" && op != "Update" {
            errs.push(FieldError::invalid(
                p.child("operation"),
                op,
                "must be `Apply` or `Update`",
            ));
        }
        if let Some(ft) = mf
            .fields_type
            .as_deref()
            .filter(|f| !f.is_empty() && *f != "FieldsV1")
        {
            errs.push(FieldError::invalid(
                p.child("fieldsType"),
                ft,
                "must be `FieldsV1`",
            ));
        }
    }
    errs
}

/// `ValidateLabelName`.
pub fn validate_label_name(name: &str, path: &Path) -> Errors {
    is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(path, name, m))
        .collect()
}

/// `ValidateLabels`: every error is reported at the map's path, as upstream does.
pub fn validate_labels(labels: &BTreeMap<String, String>, path: &Path) -> Errors {
    let mut errs = Errors::new();
    for (k, v) in labels {
        errs.extend(validate_label_name(k, path));
        for msg in is_label_value(v) {
            errs.push(FieldError::invalid(path, v.as_str(), msg));
        }
    }
    errs
}

/// `ValidateAnnotations`: keys are qualified names in any case; the total size is bounded.
pub fn validate_annotations(annotations: &BTreeMap<String, String>, path: &Path) -> Errors {
    let mut errs = Errors::new();
    let mut total = 0usize;
    for (k, v) in annotations {
        for msg in is_qualified_name(&k.to_lowercase()) {
            errs.push(FieldError::invalid(path, k.as_str(), msg));
        }
        total += k.len() + v.len();
    }
    if total > TOTAL_ANNOTATION_SIZE_LIMIT {
        errs.push(FieldError::too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT));
    }
    errs
}

fn validate_owner_references(owners: &[OwnerReference], path: &Path) -> Errors {
    let mut errs = Errors::new();
    let mut first_controller: Option<String> = None;
    for r in owners {
        // apiVersion is `group/version` or `version`; the version part must be there.
        let version = r.api_version.rsplit('/').next().unwrap_or("");
        if version.is_empty() {
            errs.push(FieldError::invalid(
                path.child("apiVersion"),
                r.api_version.as_str(),
                "version must not be empty",
            ));
        }
        if r.kind.is_empty() {
            errs.push(FieldError::invalid(
                path.child("kind"),
                "",
                "must not be empty",
            ));
        }
        if r.name.is_empty() {
            errs.push(FieldError::invalid(
                path.child("name"),
                "",
                "must not be empty",
            ));
        }
        if r.uid.is_empty() {
            errs.push(FieldError::invalid(
                path.child("uid"),
                "",
                "must not be empty",
            ));
        }
        if r.controller == Some(true) {
            let cur = format!("{}/{}", r.kind, r.name);
            match &first_controller {
                Some(first) => errs.push(FieldError::invalid(
                    path,
                    json(&owners),
                    format!("Only one reference can have Controller set to true. Found \"true\" in references for {first} and {cur}"),
                )),
                None => first_controller = Some(cur),
            }
        }
    }
    errs
}

/// apimachinery's `ValidateFinalizers` (at the list's path) plus core's per-item check that an
/// unprefixed finalizer is a standard one.
fn validate_finalizers(finalizers: &[String], path: &Path) -> Errors {
    let mut errs = Errors::new();
    for f in finalizers {
        errs.extend(validate_label_name(f, path));
    }
    if finalizers.iter().any(|f| f == "orphan")
        && finalizers.iter().any(|f| f == "foregroundDeletion")
    {
        errs.push(FieldError::invalid(
            path,
            json(&finalizers),
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
    for (i, f) in finalizers.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_label_name(f, &p));
        if !f.contains('/') && !STANDARD_FINALIZERS.contains(&f.as_str()) {
            errs.push(FieldError::invalid(
                &p,
                f.as_str(),
                "name is neither a standard finalizer name nor is it fully qualified",
            ));
        }
    }
    errs
}

/// `ValidateLabelSelector`.
pub fn validate_label_selector(sel: &LabelSelector, path: &Path) -> Errors {
    let mut errs = Errors::new();
    if let Some(ml) = &sel.match_labels {
        errs.extend(validate_labels(ml, &path.child("matchLabels")));
    }
    for (i, expr) in sel.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let has_values = expr.values.as_ref().is_some_and(|v| !v.is_empty());
        match expr.operator.as_str() {
            "In" | "NotIn" => {
                if !has_values {
                    errs.push(FieldError::required(
                        p.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if has_values {
                    errs.push(FieldError::forbidden(
                        p.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            op => errs.push(FieldError::invalid(
                p.child("operator"),
                op,
                "not a valid selector operator",
            )),
        }
        errs.extend(validate_label_name(&expr.key, &p.child("key")));
    }
    errs
}

/// Whether a selector has no requirements at all.
pub fn selector_is_empty(sel: &LabelSelector) -> bool {
    sel.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && sel.match_expressions.as_ref().is_none_or(|m| m.is_empty())
}

/// Whether `labels` satisfy `sel`; `None` when the selector cannot be converted
/// (`LabelSelectorAsSelector` fails), which validation reports separately.
pub fn selector_matches(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> Option<bool> {
    for (k, v) in sel.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Some(false);
        }
    }
    for expr in sel.match_expressions.iter().flatten() {
        let values = expr.values.as_deref().unwrap_or(&[]);
        let got = labels.get(&expr.key);
        let ok = match expr.operator.as_str() {
            "In" => got.is_some_and(|g| values.contains(g)),
            "NotIn" => got.is_none_or(|g| !values.contains(g)),
            "Exists" => got.is_some(),
            "DoesNotExist" => got.is_none(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

/// The object's `metadata` decoded on its own, for kinds without a typed strategy.
pub fn decode_meta(obj: &Value) -> Result<ObjectMeta, String> {
    match obj.get("metadata") {
        None => Ok(ObjectMeta::default()),
        Some(m) => serde_json::from_value(m.clone()).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubesim_apimachinery::validation::{name_is_dns_label, name_is_dns_subdomain};

    fn meta(v: Value) -> ObjectMeta {
        serde_json::from_value(v).unwrap_or_default()
    }

    fn msgs(errs: &Errors) -> Vec<String> {
        errs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn name_required_unless_generate_name() {
        let p = Path::new("metadata");
        let m = meta(serde_json::json!({"namespace": "default"}));
        assert_eq!(
            msgs(&validate_create(
                &m,
                Scope::Namespaced,
                name_is_dns_subdomain,
                &p
            )),
            vec!["metadata.name: Required value: name or generateName is required"]
        );
        let m = meta(serde_json::json!({"name": "web", "namespace": "default"}));
        assert!(validate_create(&m, Scope::Namespaced, name_is_dns_subdomain, &p).is_empty());
    }

    #[test]
    fn name_format_and_scope() {
        let p = Path::new("metadata");
        let m = meta(serde_json::json!({"name": "My_Pod", "namespace": "default"}));
        let e = msgs(&validate_create(
            &m,
            Scope::Namespaced,
            name_is_dns_subdomain,
            &p,
        ));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with(
            "metadata.name: Invalid value: \"My_Pod\": a lowercase RFC 1123 subdomain"
        ));
        let m = meta(serde_json::json!({"name": "a.b"}));
        assert_eq!(
            msgs(&validate_create(&m, Scope::Cluster, name_is_dns_label, &p)),
            vec!["metadata.name: Invalid value: \"a.b\": must not contain dots"]
        );
        let m = meta(serde_json::json!({"name": "n1", "namespace": "x"}));
        assert_eq!(
            msgs(&validate_create(
                &m,
                Scope::Cluster,
                name_is_dns_subdomain,
                &p
            )),
            vec!["metadata.namespace: Forbidden: not allowed on this type"]
        );
        let m = meta(serde_json::json!({"name": "n1"}));
        assert_eq!(
            msgs(&validate_create(
                &m,
                Scope::Namespaced,
                name_is_dns_subdomain,
                &p
            )),
            vec!["metadata.namespace: Required value"]
        );
    }

    #[test]
    fn labels_and_annotations() {
        let p = Path::new("metadata");
        let m = meta(
            serde_json::json!({"name": "a", "labels": {"bad key": "ok", "k": "-bad"}, "annotations": {"Example.COM/Thing": "x", "a b": "y"}}),
        );
        let e = msgs(&validate_create(
            &m,
            Scope::Cluster,
            name_is_dns_subdomain,
            &p,
        ));
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(
            e[0].starts_with(
                "metadata.labels: Invalid value: \"bad key\": name part must consist of"
            )
        );
        assert!(
            e[1].starts_with("metadata.labels: Invalid value: \"-bad\": a valid label must be")
        );
        assert!(e[2].starts_with(
            "metadata.annotations: Invalid value: \"a b\": name part must consist of"
        ));
        let big = "x".repeat(TOTAL_ANNOTATION_SIZE_LIMIT);
        let m = meta(serde_json::json!({"name": "a", "annotations": {"k": big}}));
        assert_eq!(
            msgs(&validate_create(
                &m,
                Scope::Cluster,
                name_is_dns_subdomain,
                &p
            )),
            vec!["metadata.annotations: Too long: must have at most 262144 bytes"]
        );
    }

    #[test]
    fn finalizers_and_owners() {
        let p = Path::new("metadata");
        let m = meta(
            serde_json::json!({"name": "a", "finalizers": ["kubernetes", "foo", "example.com/x"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "", "uid": "u"}]}),
        );
        let e = msgs(&validate_create(
            &m,
            Scope::Cluster,
            name_is_dns_subdomain,
            &p,
        ));
        assert_eq!(
            e,
            vec![
                "metadata.ownerReferences.name: Invalid value: \"\": must not be empty",
                "metadata.finalizers[1]: Invalid value: \"foo\": name is neither a standard finalizer name nor is it fully qualified",
            ]
        );
    }

    #[test]
    fn update_keeps_identity() {
        let p = Path::new("metadata");
        let old = meta(serde_json::json!({"name": "a", "namespace": "default", "generation": 2}));
        let new = meta(serde_json::json!({"name": "b", "namespace": "default", "generation": 1}));
        assert_eq!(
            msgs(&validate_update(&new, &old, &p)),
            vec![
                "metadata.generation: Invalid value: 1: must not be decremented",
                "metadata.name: Invalid value: \"b\": field is immutable",
            ]
        );
    }

    #[test]
    fn selectors() {
        let sel: LabelSelector = serde_json::from_value(serde_json::json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}, {"key": "x", "operator": "Bad"}]
        }))
        .unwrap_or_default();
        let e = msgs(&validate_label_selector(
            &sel,
            &Path::new("spec").child("selector"),
        ));
        assert_eq!(
            e,
            vec![
                "spec.selector.matchExpressions[1].operator: Invalid value: \"Bad\": not a valid selector operator"
            ]
        );
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".to_string(), "a".to_string()),
        ]
        .into();
        assert_eq!(selector_matches(&sel, &labels), None);
        let ok: LabelSelector =
            serde_json::from_value(serde_json::json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}))
            .unwrap_or_default();
        assert_eq!(selector_matches(&ok, &labels), Some(true));
        let empty_values: LabelSelector = serde_json::from_value(
            serde_json::json!({"matchExpressions": [{"key": "tier", "operator": "In"}]}),
        )
        .unwrap_or_default();
        assert_eq!(
            msgs(&validate_label_selector(&empty_values, &Path::new("s"))),
            vec![
                "s.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
            ]
        );
        assert!(selector_is_empty(&LabelSelector::default()));
    }
}
