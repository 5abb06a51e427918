//! `pods/binding`: how a scheduler assigns a pod to a node.

use axum::http::StatusCode;
use kubesim_apimachinery::status::{self, GroupResourceKind};
use kubesim_apimachinery::{ApiError, FieldError, meta};
use serde_json::{Value, json};

use super::Request;
use super::write::update_loop;
use crate::object;
use crate::request::decode_body;
use crate::response::{Result, json};

const POD_BINDING: GroupResourceKind = GroupResourceKind::new("", "pods/binding", "Binding");

/// `POST .../pods/<name>/binding`: set `spec.nodeName` once, and the `PodScheduled`
/// condition, as upstream's `BindingREST` does. A pod already bound is a 409.
pub fn bind(req: &Request, name: &str) -> Result {
    let binding = decode_body(&req.headers, &req.body)?;
    let node = binding["target"]["name"].as_str().unwrap_or("").to_string();
    if node.is_empty() {
        return Err(ApiError::invalid(
            &POD_BINDING,
            name,
            &[FieldError::required("target.name", "")],
        )
        .into());
    }
    let binding_name = meta::name(&binding);
    if !binding_name.is_empty() && binding_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({binding_name}) does not match the name on the URL ({name})"
        ))
        .into());
    }
    // Binding is not an update of the pod: no pod-update validation applies.
    let updated = update_loop(req, name, None, |current| {
        let mut pod = current.value();
        if meta::is_deleting(&pod) {
            return Err(ApiError::conflict(
                &POD_BINDING,
                name,
                &format!("pod {name} is being deleted, cannot be assigned to a host"),
            ));
        }
        if let Some(existing) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            return Err(ApiError::conflict(
                &POD_BINDING,
                name,
                &format!("pod {name} is already assigned to node \"{existing}\""),
            ));
        }
        // A pod that is not ready for scheduling may not be bound.
        if pod["spec"]["schedulingGates"]
            .as_array()
            .is_some_and(|gates| !gates.is_empty())
        {
            return Err(ApiError::conflict(
                &POD_BINDING,
                name,
                &format!("pod {name} has non-empty .spec.schedulingGates"),
            ));
        }
        object::set_path(&mut pod, &["spec", "nodeName"], json!(node));
        copy_annotations(&mut pod, &binding);
        set_scheduled_condition(&mut pod);
        Ok(pod)
    })?;
    let uid = &*updated.attrs.uid;
    let mut success = status::success(&POD_BINDING, name, uid);
    success["code"] = json!(201);
    Ok(json(StatusCode::CREATED, &success))
}

/// The Binding's `metadata.annotations` are set on the pod in the same write, as
/// upstream's `setPodNodeAndMetadata` does (a scheduler can record why in the bind).
fn copy_annotations(pod: &mut Value, binding: &Value) {
    let Some(extra) = binding["metadata"]["annotations"]
        .as_object()
        .filter(|a| !a.is_empty())
    else {
        return;
    };
    let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Value::Object(map) = annotations {
        for (k, v) in extra {
            if v.is_string() {
                map.insert(k.clone(), v.clone());
            }
        }
    }
}

fn set_scheduled_condition(pod: &mut Value) {
    let condition = json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": object::now()});
    let status = pod
        .as_object_mut()
        .map(|p| p.entry("status").or_insert_with(|| json!({})));
    let Some(Value::Object(status)) = status else {
        return;
    };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if let Value::Array(list) = conditions {
        list.retain(|c| c["type"] != "PodScheduled");
        list.push(condition);
    }
}
