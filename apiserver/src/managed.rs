//! Field ownership on every write: who manages which fields (`metadata.managedFields`).
//!
//! The merge and ownership rules are `kubesim_apimachinery::apply`'s; this module
//! decides, per request, the manager's name, the version, the subresource's scope, and
//! the type information.

use kubesim_apimachinery::ResourceInfo;
use kubesim_apimachinery::apply::{self, Builtin, Deduced, Manager, Schema, Scope};
use serde_json::Value;

use crate::handlers::Request;
use crate::object;

/// The type information merges of this resource use: the built-in table, or none
/// (custom resources: lists atomic, objects merged key by key).
pub fn schema(info: &ResourceInfo) -> (&'static dyn Schema, Option<&'static str>) {
    match info.schema_type {
        Some(root) => (&Builtin, Some(root)),
        None => (&Deduced, None),
    }
}

/// The manager of a write: `fieldManager`, else the User-Agent up to its first `/`, as
/// upstream names managers (`kubectl`, `kube-controller-manager`...).
pub fn manager_name(req: &Request) -> String {
    match req.query.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(manager) => manager.to_string(),
        None => req
            .origin
            .user_agent
            .split('/')
            .next()
            .unwrap_or("unknown")
            .to_string(),
    }
}

/// What a write to `subresource` may own: status writes only the status; writes to the
/// main resource of a kind with a status subresource everything but.
fn scope(info: &ResourceInfo, subresource: Option<&str>) -> Scope {
    match subresource {
        Some("status") => Scope::StatusOnly,
        _ if info.subresources.status => Scope::AllButStatus,
        _ => Scope::Everything,
    }
}

/// Record a non-apply write by `manager` from `old` (absent for a create) to `new`.
pub fn record_update(
    info: &ResourceInfo,
    subresource: Option<&str>,
    manager: &str,
    old: Option<&Value>,
    new: &mut Value,
) {
    let time = object::now();
    let api_version = info.api_version();
    let who = Manager {
        name: manager,
        api_version: &api_version,
        subresource,
        time: &time,
    };
    let (schema, ty) = schema(info);
    apply::record_update(
        old,
        new,
        ty.as_deref(),
        schema,
        &who,
        scope(info, subresource),
    );
}
