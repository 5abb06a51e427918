//! The `/scale` subresource: an `autoscaling/v1 Scale` view of a workload's replicas,
//! as `kubectl scale` and the HorizontalPodAutoscaler use it.

use axum::http::StatusCode;
use kubesim_apimachinery::selector::LabelSelector;
use kubesim_apimachinery::status::GroupResourceKind;
use kubesim_apimachinery::{ApiError, FieldError, meta};
use serde_json::{Value, json};

use super::Request;
use super::write::{check_name, guaranteed_update};
use crate::request::{content_type, decode_body};
use crate::response::{Result, json};
use crate::storage::Object;

const SCALE: GroupResourceKind = GroupResourceKind::new("autoscaling", "scale", "Scale");

/// The Scale of a stored workload.
fn scale_of(obj: &Object) -> Value {
    scale_of_value(&obj.value())
}

/// The Scale of a workload's JSON.
fn scale_of_value(v: &Value) -> Value {
    let selector = v["spec"]["selector"]
        .as_object()
        .and_then(|s| serde_json::from_value(Value::Object(s.clone())).ok())
        .and_then(|s| LabelSelector::from_structured(&s).ok())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let m = &v["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
            "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"],
        },
        "spec": {"replicas": v["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": v["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// `GET .../scale`.
pub fn get(req: &Request, name: &str) -> Result {
    let obj = req
        .server
        .storage
        .get(&req.key(name))
        .ok_or_else(|| ApiError::not_found(req.info().as_ref(), name))?;
    Ok(json(StatusCode::OK, &scale_of(&obj)))
}

/// `PUT .../scale`.
pub fn update(req: &Request, name: &str) -> Result {
    let mut scale = decode_body(&req.headers, &req.body)?;
    check_name(&mut scale, name)?;
    write_replicas(req, name, |_| Ok(scale.clone()))
}

/// `PATCH .../scale` (merge or JSON patch, applied to the Scale).
pub fn patch(req: &Request, name: &str) -> Result {
    let media = content_type(&req.headers);
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    write_replicas(req, name, |current| {
        let mut scale = current.clone();
        match media.as_str() {
            "application/merge-patch+json" => json_patch::merge(&mut scale, &patch),
            "application/json-patch+json" => {
                let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                json_patch::patch(&mut scale, &ops)
                    .map_err(|e| ApiError::patch_failed(e.to_string()))?;
            }
            other => {
                return Err(ApiError::unsupported_media_type(format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got {other})"
                )));
            }
        }
        Ok(scale)
    })
}

/// Set the workload's `spec.replicas` from a Scale made from the current one.
fn write_replicas(
    req: &Request,
    name: &str,
    make_scale: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result {
    let updated = guaranteed_update(req, name, None, |current, old| {
        let scale = make_scale(&scale_of_value(old))?;
        let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                &SCALE,
                name,
                &[FieldError::invalid(
                    "spec.replicas",
                    replicas,
                    "must be greater than or equal to 0",
                )],
            ));
        }
        if let Ok(Some(rv)) = meta::resource_version(&scale) {
            if rv != current.resource_version {
                return Err(ApiError::stale(req.info().as_ref(), name));
            }
        }
        let mut obj = old.clone();
        crate::object::set_path(&mut obj, &["spec", "replicas"], json!(replicas));
        Ok(obj)
    })?;
    Ok(json(StatusCode::OK, &scale_of(&updated)))
}
