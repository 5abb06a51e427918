//! `pods/exec`, `pods/attach` and `pods/portforward`: upstream's API server checks the
//! pod, its node and the container, then upgrades the connection and relays a stream to
//! the kubelet. kubesim's kubelets run no processes, so after the same checks (with
//! upstream's errors) the answer is a `400 BadRequest` that says so, where an unserved
//! subresource would be a bare `404` ("the server could not find the requested
//! resource") that reads like a typo in the command.

use kubesim_apimachinery::ApiError;

use super::Request;
use super::log::container;
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
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("");
    if node.is_empty() {
        return Err(
            ApiError::bad_request(format!("pod {name} does not have a host assigned")).into(),
        );
    }
    let what = match subresource {
        "portforward" => format!("port-forward to pod {name}"),
        verb => {
            let container = container(&pod, name, req.query.get("container"))?;
            let to = if verb == "exec" { "into" } else { "to" };
            format!("{verb} {to} container {container} of pod {name}")
        }
    };
    Err(ApiError::bad_request(format!(
        "kubesim cannot {what}: node {node} is simulated, and its containers run no processes"
    ))
    .into())
}
