//! The review APIs: `authorization.k8s.io/v1` access and rules reviews (`kubectl auth
//! can-i`) and `authentication.k8s.io/v1` SelfSubjectReview (`kubectl auth whoami`).
//!
//! A review is created to ask a question and answered in its `status`; nothing is stored
//! and nothing is audited as a write. kubesim has no authentication or authorization:
//! every request acts as a cluster administrator, as an API server does with
//! `--authorization-mode=AlwaysAllow`. So every access review is allowed, the rules are
//! "everything", and "who am I" is the administrator every request is taken to be.

use axum::http::StatusCode;
use kubesim_apimachinery::{ApiError, FieldError, encoding, meta};
use serde_json::{Value, json};

use super::Request;
use super::write::check_type;
use crate::request::decode_body;
use crate::response::{Result, json as json_response};

/// Who every request is, as a review reports it.
pub const USER: &str = "kubesim-admin";
pub const GROUPS: [&str; 2] = ["system:masters", "system:authenticated"];

/// Create a review (a `POST` to its collection); nothing else is served.
pub fn handle(req: &Request) -> Result {
    let info = req.info();
    if req.origin.verb != "create" || req.target.name.is_some() {
        return Err(ApiError::method_not_supported(info.as_ref(), req.origin.verb).into());
    }
    let mut review = decode_body(&req.headers, &req.body)?;
    check_type(&mut review, info)?;
    if info.namespaced {
        // As upstream's LocalSubjectAccessReview REST: the object's namespace is the URL's.
        let namespace = req.namespace();
        match meta::namespace(&review) {
            "" => meta::set(&mut review, "namespace", Some(json!(namespace))),
            given if given != namespace => {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {namespace}"
                ))
                .into());
            }
            _ => {}
        }
    }
    let errors = validate(&info.kind, &review, req.namespace());
    if !errors.is_empty() {
        return Err(ApiError::invalid(info.as_ref(), meta::name(&review), &errors).into());
    }
    review["status"] = answer(&info.kind);
    encoding::normalize(&info.api_version(), &info.kind, &mut review);
    Ok(json_response(StatusCode::CREATED, &review))
}

/// The answer of an API server that allows everything to its one administrator.
fn answer(kind: &str) -> Value {
    match kind {
        "SelfSubjectRulesReview" => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        "SelfSubjectReview" => json!({"userInfo": {"username": USER, "groups": GROUPS}}),
        _ => json!({"allowed": true}),
    }
}

/// Upstream's checks of a review's spec (`pkg/apis/authorization/validation`).
fn validate(kind: &str, review: &Value, namespace: &str) -> Vec<FieldError> {
    let spec = &review["spec"];
    let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let mut errors = Vec::new();
    if matches!(
        kind,
        "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview"
    ) {
        match (resource, non_resource) {
            (None, None) => errors.push(FieldError::invalid(
                "spec.resourceAttributes",
                "null",
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )),
            (Some(_), Some(v)) => errors.push(FieldError::invalid(
                "spec.nonResourceAttributes",
                v.clone(),
                "cannot be specified in combination with resourceAttributes",
            )),
            _ => {}
        }
    }
    if matches!(kind, "SubjectAccessReview" | "LocalSubjectAccessReview") {
        let named = |field: &str| {
            spec.get(field).is_some_and(|v| {
                v.as_str().is_some_and(|s| !s.is_empty())
                    || v.as_array().is_some_and(|a| !a.is_empty())
            })
        };
        if !named("user") && !named("groups") {
            errors.push(FieldError::invalid(
                "spec.user",
                "",
                "at least one of user or group must be specified",
            ));
        }
    }
    if kind == "LocalSubjectAccessReview" {
        let asked = resource
            .and_then(|r| r.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if resource.is_some() && asked != namespace {
            errors.push(FieldError::invalid(
                "spec.resourceAttributes.namespace",
                asked,
                "must match metadata.namespace",
            ));
        }
        if non_resource.is_some() {
            errors.push(FieldError::invalid(
                "spec.nonResourceAttributes",
                non_resource.cloned().unwrap_or(Value::Null),
                "disallowed on this kind of request",
            ));
        }
    }
    errors
}
