//! `pods/eviction`: a delete that honours PodDisruptionBudgets, as `kubectl drain` uses.
//!
//! As upstream's `EvictionREST`: a pod that is not running (pending, finished) or is
//! already being deleted is simply deleted. Otherwise the one PodDisruptionBudget that
//! selects it must allow a disruption: its `status.disruptionsAllowed` (kept by the
//! disruption controller) is decremented, the pod is recorded in
//! `status.disruptedPods`, and the pod is deleted. No disruption allowed is
//! `429 TooManyRequests` — the client retries later.

use std::sync::Arc;

use axum::http::StatusCode;
use kube_core::response::StatusCause;
use kubesim_apimachinery::selector::LabelSelector;
use kubesim_apimachinery::{ApiError, meta};
use serde_json::{Value, json};

use super::Request;
use super::delete::delete;
use crate::object;
use crate::request::decode_body;
use crate::response::{Result, json as json_response};
use crate::storage::{Key, Object, Preconditions};

/// `POST .../pods/<name>/eviction`.
pub fn evict(req: &Request, name: &str) -> Result {
    let eviction = decode_body(&req.headers, &req.body)?;
    let named = meta::name(&eviction);
    if !named.is_empty() && named != name {
        return Err(
            ApiError::bad_request("name in URL does not match name in Eviction object").into(),
        );
    }
    let pod = req
        .server
        .storage
        .get(&req.key(name))
        .ok_or_else(|| ApiError::not_found(req.info().as_ref(), name))?
        .value();
    if !can_ignore_budget(&pod) {
        let budgets = matching_budgets(req, &pod);
        match budgets.as_slice() {
            [] => {}
            [budget] => take_disruption(req, budget, name)?,
            _ => {
                return Err(ApiError::internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                )
                .into());
            }
        }
    }
    // The eviction's own delete options apply to the delete.
    let options = eviction
        .get("deleteOptions")
        .cloned()
        .unwrap_or(Value::Null);
    let delete_request = Request {
        server: req.server.clone(),
        target: crate::route::Target {
            subresource: None,
            ..req.target.clone()
        },
        query: req.query.clone(),
        headers: json_headers(),
        body: if options.is_null() {
            bytes::Bytes::new()
        } else {
            bytes::Bytes::from(options.to_string())
        },
        origin: req.origin.clone(),
    };
    delete(&delete_request, name)?;
    let mut status = kubesim_apimachinery::status::success(req.info().as_ref(), name, "");
    if let Value::Object(map) = &mut status {
        map.remove("details");
        map.insert("code".into(), json!(201));
    }
    Ok(json_response(StatusCode::CREATED, &status))
}

fn json_headers() -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    headers
}

/// Pods that are not running, or already going, may be evicted whatever the budget.
fn can_ignore_budget(pod: &Value) -> bool {
    meta::is_deleting(pod)
        || matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed" | "Pending") | None
        )
}

fn matching_budgets(req: &Request, pod: &Value) -> Vec<Arc<Object>> {
    let (budgets, _) = req
        .server
        .storage
        .list("poddisruptionbudgets.policy", Some(req.namespace()));
    budgets
        .into_iter()
        .filter(|pdb| {
            let selector = pdb.value()["spec"]["selector"]
                .as_object()
                .and_then(|s| serde_json::from_value(Value::Object(s.clone())).ok())
                .and_then(|s| LabelSelector::from_structured(&s).ok());
            // A budget without a selector, or with an empty one, selects nothing (policy/v1).
            selector.is_some_and(|s| !s.is_empty() && s.matches(meta::labels(pod)))
        })
        .collect()
}

/// Spend one of the budget's allowed disruptions on this pod, or refuse with 429.
fn take_disruption(req: &Request, budget: &Arc<Object>, pod: &str) -> Result<(), ApiError> {
    let pdb = &budget.value();
    let budget_name = meta::name(pdb).to_string();
    let generation = pdb["metadata"]["generation"].as_i64().unwrap_or(0);
    let observed = pdb["status"]["observedGeneration"].as_i64().unwrap_or(0);
    if observed < generation {
        return Err(refused(format!(
            "The disruption budget {budget_name} is still being processed by the server."
        )));
    }
    let allowed = pdb["status"]["disruptionsAllowed"].as_i64().unwrap_or(0);
    if allowed <= 0 {
        let desired = pdb["status"]["desiredHealthy"].as_i64().unwrap_or(0);
        let current = pdb["status"]["currentHealthy"].as_i64().unwrap_or(0);
        return Err(refused(format!(
            "The disruption budget {budget_name} needs {desired} healthy pods and has {current} currently"
        )));
    }
    let mut updated = pdb.clone();
    object::set_path(
        &mut updated,
        &["status", "disruptionsAllowed"],
        json!(allowed - 1),
    );
    object::set_path(
        &mut updated,
        &["status", "disruptedPods", pod],
        json!(object::now()),
    );
    let key = Key {
        resource: "poddisruptionbudgets.policy".into(),
        namespace: req.namespace().to_string(),
        name: budget_name,
    };
    let preconditions = Preconditions {
        resource_version: Some(budget.resource_version),
        uid: None,
    };
    // Someone else changed the budget meanwhile: the client retries, as upstream's does.
    req.server
        .storage
        .update(&key, updated, &preconditions)
        .map_err(|_| refused("The disruption budget changed; please retry".to_string()))?;
    Ok(())
}

/// `429 Cannot evict pod as it would violate the pod's disruption budget.`
fn refused(cause: String) -> ApiError {
    let mut err = ApiError::too_many_requests(
        "Cannot evict pod as it would violate the pod's disruption budget.",
    );
    err.0.details = Some(kube_core::response::StatusDetails {
        name: String::new(),
        group: String::new(),
        kind: String::new(),
        uid: String::new(),
        causes: vec![StatusCause {
            reason: "DisruptionBudget".into(),
            message: cause,
            field: String::new(),
        }],
        retry_after_seconds: 0,
    });
    err
}
