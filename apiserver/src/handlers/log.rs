//! `pods/log`: a container's log, as text.
//!
//! As upstream: the API server checks the request, then streams the log from the
//! kubelet of the pod's node — the node's `InternalIP` and
//! `status.daemonEndpoints.kubeletEndpoint.Port`, path
//! `/containerLogs/<namespace>/<pod>/<container>` with the same options — passing the
//! kubelet's answer through. (kubelet-sim serves that path for all of its nodes.) A
//! node that reports no kubelet endpoint (no kubelet runs it, or the Node object does
//! not exist) gives an empty log, held open with `follow=true` until the pod goes.

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
            errors.push(FieldError::invalid(
                "tailLines",
                tail,
                "must be greater than or equal to 0",
            ));
        }
    }
    if let Some(limit) = req.query.integer("limitBytes")? {
        if limit < 1 {
            errors.push(FieldError::invalid(
                "limitBytes",
                limit,
                "must be greater than 0",
            ));
        }
    }
    let since_seconds = req.query.integer("sinceSeconds")?;
    if let Some(since) = since_seconds {
        if since < 1 {
            errors.push(FieldError::invalid(
                "sinceSeconds",
                since,
                "must be greater than 0",
            ));
        }
    }
    if since_seconds.is_some() && req.query.get("sinceTime").is_some() {
        errors.push(FieldError::forbidden(
            "",
            "at most one of `sinceTime` or `sinceSeconds` may be specified",
        ));
    }
    req.query.flag("follow")?;
    req.query.flag("previous")?;
    req.query.flag("timestamps")?;
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&POD_LOG_OPTIONS, name, &errors))
    }
}

pub(super) fn names(pod: &Value, list: &str) -> Vec<String> {
    pod["spec"][list]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The container the request means, as upstream's `LogLocation` picks it.
fn container(pod: &Value, name: &str, requested: Option<&str>) -> Result<String, ApiError> {
    let containers = names(pod, "containers");
    let init = names(pod, "initContainers");
    let ephemeral = names(pod, "ephemeralContainers");
    match requested.filter(|c| !c.is_empty()) {
        Some(c)
            if containers
                .iter()
                .chain(&init)
                .chain(&ephemeral)
                .any(|n| n == c) =>
        {
            Ok(c.to_string())
        }
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            if !ephemeral.is_empty() {
                message.push_str(&format!(
                    " or one of the ephemeral containers: [{}]",
                    ephemeral.join(" ")
                ));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

/// `GET .../pods/<name>/log`.
pub async fn logs(req: Request, name: &str) -> Result {
    validate_options(&req, name)?;
    let key = req.key(name);
    let pod = req
        .server
        .storage
        .get(&key)
        .ok_or_else(|| ApiError::not_found(req.info().as_ref(), name))?
        .value();
    if pod["spec"]["nodeName"].as_str().unwrap_or("").is_empty() {
        return Err(
            ApiError::bad_request(format!("pod {name} does not have a host assigned")).into(),
        );
    }
    let container_name = container(&pod, name, req.query.get("container"))?;
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or("").to_string();
    if let Some(addr) = kubelet_endpoint(&req, &node_name) {
        let mut path = format!("/containerLogs/{}/{name}/{container_name}", req.namespace());
        let options: Vec<String> = [
            "follow",
            "previous",
            "timestamps",
            "tailLines",
            "sinceSeconds",
            "sinceTime",
            "limitBytes",
        ]
        .iter()
        .filter_map(|k| {
            req.query.get(k).map(|v| {
                format!(
                    "{k}={}",
                    form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
        })
        .collect();
        if !options.is_empty() {
            path.push('?');
            path.push_str(&options.join("&"));
        }
        return proxy(addr, &path).await;
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
        let stream =
            futures::StreamExt::filter_map(futures::stream::once(until_gone), |()| async {
                None::<Result<Bytes, std::convert::Infallible>>
            });
        Body::from_stream(stream)
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    Ok(response)
}

/// The kubelet endpoint of a node: its `InternalIP` and kubelet port, if it has both.
pub fn kubelet_endpoint(req: &Request, node: &str) -> Option<std::net::SocketAddr> {
    let key = crate::storage::Key {
        resource: "nodes".into(),
        namespace: String::new(),
        name: node.to_string(),
    };
    let node = req.server.storage.get(&key)?;
    node_endpoint(&node.value())
}

/// `InternalIP:kubeletEndpoint.Port` of a Node object.
pub fn node_endpoint(node: &Value) -> Option<std::net::SocketAddr> {
    let status = &node["status"];
    let port = status["daemonEndpoints"]["kubeletEndpoint"]["Port"]
        .as_u64()
        .filter(|p| *p > 0 && *p <= u64::from(u16::MAX))?;
    let ip = status["addresses"]
        .as_array()?
        .iter()
        .find(|a| a["type"] == "InternalIP")?["address"]
        .as_str()?
        .parse()
        .ok()?;
    Some(std::net::SocketAddr::new(ip, port as u16))
}

/// GET `path` from a kubelet; the connection error as upstream words it.
pub async fn kubelet_get(
    addr: std::net::SocketAddr,
    path: &str,
) -> Result<axum::http::Response<hyper::body::Incoming>, ApiError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        ApiError::internal(format!("Get \"https://{addr}{path}\": {e}"))
    };
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(&e))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let request = axum::http::Request::get(path)
        .header(header::HOST, addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| unreachable(&e))?;
    sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(&e))
}

/// Pass a kubelet's answer through, streaming (a followed log stays open).
async fn proxy(addr: std::net::SocketAddr, path: &str) -> Result {
    let upstream = kubelet_get(addr, path).await?;
    let status = upstream.status();
    if !status.is_success() {
        let body = http_body_util::BodyExt::collect(upstream.into_body())
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let message = String::from_utf8_lossy(&body).trim().to_string();
        return Err(match status.as_u16() {
            400 => ApiError::bad_request(message),
            _ => ApiError::internal(message),
        }
        .into());
    }
    let mut response = Response::new(Body::new(upstream.into_body()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
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
        assert_eq!(
            container(&two, "p", Some("x")).map_err(|e| e.code()),
            Err(400)
        );
    }
}
