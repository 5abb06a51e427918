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
use crate::storage::NewObject;

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

/// What a write to `subresource` may own: a built-in kind's status writes all but what
/// its status strategy resets, a custom resource's only the status; writes to the main
/// resource of a kind with a status subresource everything but the status.
pub fn scope(info: &ResourceInfo, subresource: Option<&str>) -> Scope {
    match subresource {
        Some("status") if kubesim_apimachinery::registry::is_builtin(info) => {
            Scope::AllBut(crate::strategy::status_resets(&info.group, &info.plural))
        }
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
    as_manager(info, manager, subresource, |who, schema, ty, scope| {
        apply::record_update(old, new, ty, schema, who, scope);
    });
}

/// Record a create by `manager` at `time` (its creation time): the object to store, with
/// the managedFields [`record_update`] would set, as JSON text when the body brings none
/// of its own (see `apply::created_managed_fields`), else merged into the value by
/// `record_update`.
pub fn record_create(info: &ResourceInfo, manager: &str, time: &str, mut new: Value) -> NewObject {
    let brought = new
        .get("metadata")
        .is_some_and(|m| m.get("managedFields").is_some());
    let text = if brought {
        None
    } else {
        as_manager_at(info, manager, None, time, |who, schema, ty, scope| {
            apply::created_managed_fields(&new, ty, schema, who, scope).ok()
        })
    };
    match text {
        Some(managed_fields) => NewObject {
            value: new,
            managed_fields,
        },
        // Also where writing the text failed (not reached: it is written to memory).
        None => {
            record_update(info, None, manager, None, &mut new);
            new.into()
        }
    }
}

/// Runs `record` as `manager` writing now at the resource's version, with the
/// resource's type information and what the subresource may own.
fn as_manager<R>(
    info: &ResourceInfo,
    manager: &str,
    subresource: Option<&str>,
    record: impl FnOnce(&Manager<'_>, &'static dyn Schema, Option<&'static str>, Scope) -> R,
) -> R {
    as_manager_at(info, manager, subresource, &object::now(), record)
}

/// [`as_manager`] writing at `time`.
fn as_manager_at<R>(
    info: &ResourceInfo,
    manager: &str,
    subresource: Option<&str>,
    time: &str,
    record: impl FnOnce(&Manager<'_>, &'static dyn Schema, Option<&'static str>, Scope) -> R,
) -> R {
    let api_version = info.api_version();
    let who = Manager {
        name: manager,
        api_version: &api_version,
        subresource,
        time,
    };
    let (schema, ty) = schema(info);
    record(&who, schema, ty, scope(info, subresource))
}
