//! `pods/exec`, `pods/attach` and `pods/portforward`: upstream's API server checks the
//! pod, its node and the container, then upgrades the connection and relays a stream to
//! the kubelet. kubesim's kubelets run no processes, so after the same checks (with
//! upstream's errors) the answer is a `400 BadRequest` that says so, where an unserved
//! subresource would be a bare `404` ("the server could not find the requested
//! resource") that reads like a typo in the command.

use kubesim_apimachinery::ApiError;
use serde_json::Value;

use super::Request;
use super::log::names;
use crate::response::Result;

/// The streaming subresources of a pod.
pub const SUBRESOURCES: [&str; 3] = ["exec", "attach", "portforward"];

/// `GET` or `POST .../pods/<name>/{exec,attach,portforward}`.
pub fn stream(req: &Request, name: &str, subresource: &str) -> Result {
    let pod = req
        .server
        .storage
        .get(&req.key(name))
        .ok_or_else(|| ApiError::not_found(req.info().as_ref(), name))?
        .value();
    // As upstream's `streamLocation`: the container first, then the node.
    let what = match subresource {
        "portforward" => format!("port-forward to pod {name}"),
        verb => {
            let container = container(&pod, name, req.query.get("container"))?;
            let to = if verb == "exec" { "into" } else { "to" };
            format!("{verb} {to} container {container} of pod {name}")
        }
    };
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        return Err(
            ApiError::bad_request(format!("pod {name} does not have a host assigned")).into(),
        );
    }
    Err(ApiError::bad_request(format!(
        "kubesim cannot {what}: node {node} is simulated, and its containers run no processes"
    ))
    .into())
}

/// The container an exec or attach means, as upstream's `streamLocation` picks it: the one
/// named (any container of the pod, init and ephemeral ones included), or the only one.
fn container(pod: &Value, name: &str, requested: Option<&str>) -> Result<String, ApiError> {
    let containers = names(pod, "containers");
    match requested.filter(|c| !c.is_empty()) {
        Some(c) => {
            let known = ["containers", "initContainers", "ephemeralContainers"]
                .iter()
                .any(|list| names(pod, list).iter().any(|n| n == c));
            if known {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None if containers.is_empty() => Err(ApiError::bad_request(format!(
            "a container name must be specified for pod {name}"
        ))),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            );
            let init = names(pod, "initContainers");
            if !init.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            Err(ApiError::bad_request(message))
        }
    }
}
