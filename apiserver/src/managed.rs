//! Field ownership on every write: who manages which fields (`metadata.managedFields`).
//!
//! The merge and ownership rules are `kubesim_apimachinery::apply`'s; this module
//! decides, per request, the manager's name, the version, the subresource's scope, and
//! the type information.

use kubesim_apimachinery::ResourceInfo;
use kubesim_apimachinery::apply::{self, Deduced, Manager, PathElement, Schema};
use serde_json::Value;

use crate::handlers::Request;
use crate::object;

/// The type information merges use.
pub fn schema() -> &'static dyn Schema {
    &Deduced
}

/// The type an object of this resource is, in the schema's names.
pub fn root_type(info: &ResourceInfo) -> Option<String> {
    let group = if info.group.is_empty() { "core".to_string() } else { info.group.replace(".k8s.io", "") };
    Some(format!("io.k8s.api.{group}.{}.{}", info.version, info.kind))
}

/// The manager of a write: `fieldManager`, else the User-Agent up to its first `/`, as
/// upstream names managers (`kubectl`, `kube-controller-manager`...).
pub fn manager_name(req: &Request) -> String {
    match req.query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(manager) => manager.to_string(),
        None => req.user_agent.split('/').next().unwrap_or("unknown").to_string(),
    }
}

/// What a write to `subresource` may own: status writes only the status; writes to the
/// main resource of a kind with a status subresource everything but.
fn in_scope(info: &ResourceInfo, subresource: Option<&str>, path: &[PathElement]) -> bool {
    let is_status = matches!(path.first(), Some(PathElement::Field(f)) if f == "status");
    match subresource {
        Some("status") => is_status,
        _ if info.subresources.status => !is_status,
        _ => true,
    }
}

/// Record a non-apply write by `manager` from `old` (absent for a create) to `new`.
pub fn record_update(info: &ResourceInfo, subresource: Option<&str>, manager: &str, old: Option<&Value>, new: &mut Value) {
    let time = object::now();
    let api_version = info.api_version();
    let who = Manager { name: manager, api_version: &api_version, subresource, time: &time };
    let ty = root_type(info);
    apply::record_update(old, new, ty.as_deref(), schema(), &who, &|path| in_scope(info, subresource, path));
}
