//! `pods/log`: a container's log, as text.
//!
//! Upstream, the API server checks the request and then streams the log from the
//! kubelet of the pod's node. kubesim's simulated kubelets do not serve logs yet, so a
//! container on a node has an empty log (held open with `follow=true` until the pod
//! goes or the client leaves); every check before that is upstream's.

use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use kubesim_apimachinery::status::GroupResourceKind;
use kubesim_apimachinery::{ApiError, FieldError};
use serde_json::Value;

use super::Request;
use crate::response::Result;

const POD_LOG_OPTIONS: GroupResourceKind = GroupResourceKind::new("", "pods", "PodLogOptions");

/// Upstream's `ValidatePodLogOptions`.
fn validate_options(req: &Request, name: &str) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    if let Some(tail) = req.query.integer("tailLines")? {
        if tail < 0 {
            errors.push(FieldError::invalid("tailLines", tail, "must be greater than or equal to 0"));
        }
    }
    if let Some(limit) = req.query.integer("limitBytes")? {
        if limit < 1 {
            errors.push(FieldError::invalid("limitBytes", limit, "must be greater than 0"));
        }
    }
    let since_seconds = req.query.integer("sinceSeconds")?;
    if let Some(since) = since_seconds {
        if since < 1 {
            errors.push(FieldError::invalid("sinceSeconds", since, "must be greater than 0"));
        }
    }
    if since_seconds.is_some() && req.query.get("sinceTime").is_some() {
        errors.push(FieldError::forbidden("", "at most one of `sinceTime` or `sinceSeconds` may be specified"));
    }
    req.query.flag("follow")?;
    req.query.flag("previous")?;
    req.query.flag("timestamps")?;
    if errors.is_empty() { Ok(()) } else { Err(ApiError::invalid(&POD_LOG_OPTIONS, name, &errors)) }
}

fn names(pod: &Value, list: &str) -> Vec<String> {
    pod["spec"][list].as_array().into_iter().flatten().filter_map(|c| c["name"].as_str().map(str::to_string)).collect()
}

/// The container the request means, as upstream's `LogLocation` picks it.
fn container(pod: &Value, name: &str, requested: Option<&str>) -> Result<String, ApiError> {
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match requested.filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().chain(&init).chain(&ephemeral).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!("container {c} is not valid for pod {name}"))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message = format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" "));
            if !init.is_empty() {
                message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            if !ephemeral.is_empty() {
                message.push_str(&format!(" or one of the ephemeral containers: [{}]", ephemeral.join(" ")));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

/// `GET .../pods/<name>/log`.
pub async fn logs(req: Request, name: &str) -> Result {
    validate_options(&req, name)?;
    let key = req.key(name);
    let pod = req.server.storage.get(&key).ok_or_else(|| ApiError::not_found(req.info().as_ref(), name))?;
    container(&pod.value, name, req.query.get("container"))?;
    if pod.value["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return Err(ApiError::bad_request(format!("pod {name} does not have a host assigned")).into());
    }
    let body = if req.query.flag("follow")?.unwrap_or(false) {
        // Held open, as a followed log is, until the pod is gone or the server stops.
        let server = req.server.clone();
        let until_gone = async move {
            let mut stopping = server.stopping.subscribe();
            while server.storage.get(&key).is_some() && !*stopping.borrow_and_update() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stopping.changed() => {}
                }
            }
        };
        let stream = futures::StreamExt::filter_map(futures::stream::once(until_gone), |()| async {
            None::<Result<Bytes, std::convert::Infallible>>
        });
        Body::from_stream(stream)
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_container_is_picked_as_upstream_does() {
        let one = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(container(&one, "p", None).ok(), Some("a".into()));
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(
            container(&two, "p", None).map_err(|e| e.message().to_string()),
            Err("a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]".into())
        );
        assert_eq!(container(&two, "p", Some("i")).ok(), Some("i".into()));
        assert_eq!(container(&two, "p", Some("x")).map_err(|e| e.code()), Err(400));
    }
}
