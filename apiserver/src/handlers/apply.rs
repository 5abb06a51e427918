//! Server-side apply: `PATCH` with `application/apply-patch+yaml`.
//!
//! The body is the manager's whole intent for the object. It creates the object if
//! missing (201), else is merged into it by `kubesim_apimachinery::apply`, with
//! ownership recorded in `metadata.managedFields` and conflicts (409) when another
//! manager owns a field the apply would change — unless `force=true`.

use axum::http::StatusCode;
use kube_core::response::{StatusCause, StatusDetails};
use kubesim_apimachinery::apply::{self, Conflict, Manager};
use kubesim_apimachinery::status::{GroupResourceKind, Qualified};
use kubesim_apimachinery::{ApiError, FieldError, meta};

use super::Request;
use super::write::{
    check_name, check_namespace, check_type, create_object, prepare_update, present, update_loop,
};
use crate::managed;
use crate::object;
use crate::request::decode_yaml;
use crate::response::{Result, json_bytes};

const PATCH_OPTIONS: GroupResourceKind =
    GroupResourceKind::new("meta.k8s.io", "patchoptions", "PatchOptions");

/// `PATCH` with `application/apply-patch+yaml`.
pub fn apply_patch(req: &Request, name: &str) -> Result {
    let Some(manager) = req
        .query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .map(str::to_string)
    else {
        return Err(ApiError::invalid(
            &PATCH_OPTIONS,
            "",
            &[FieldError::required(
                "fieldManager",
                "is required for apply patch",
            )],
        )
        .into());
    };
    let force = req.query.flag("force")?.unwrap_or(false);
    let mut config = decode_yaml(&req.body)?;
    if !config.is_object() {
        return Err(ApiError::bad_request("the body of an apply patch must be an object").into());
    }
    check_type(&mut config, req.info())?;
    check_namespace(&mut config, req)?;
    check_name(&mut config, name)?;
    // What the server keeps for itself is not the applier's to set.
    for field in [
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
    ] {
        meta::set(&mut config, field, None);
    }

    let info = req.info();
    let subresource = req.target.subresource.as_deref();
    let time = object::now();
    let api_version = info.api_version();
    let who = Manager {
        name: &manager,
        api_version: &api_version,
        subresource,
        time: &time,
    };
    let (schema, ty) = managed::schema(info);
    let scope = managed::scope(info, subresource);

    if req.server.storage.get(&req.key(name)).is_none() && subresource.is_none() {
        let created = apply::apply(None, &config, ty.as_deref(), schema, &who, scope, force)
            .map_err(|c| conflicts(info.as_ref(), name, &c))?;
        let dry_run = req.query.dry_run()?;
        // Ownership is recorded already; the create records nothing more.
        let stored = create_object(&req.server, info, created, dry_run, &req.origin, "")?.object;
        return Ok(json_bytes(StatusCode::CREATED, present(info, &stored)?));
    }
    let updated = update_loop(req, name, None, |current| {
        let old = current.value();
        let merged = apply::apply(
            Some(&old),
            &config,
            ty.as_deref(),
            schema,
            &who,
            scope,
            force,
        )
        .map_err(|c| conflicts(info.as_ref(), name, &c))?;
        prepare_update(info, subresource, merged, &old, name, None)
    })?;
    Ok(json_bytes(StatusCode::OK, present(info, &updated)?))
}

/// Upstream's 409 for apply conflicts, one cause per field.
fn conflicts(q: &dyn Qualified, name: &str, conflicts: &[Conflict]) -> ApiError {
    let mut err = ApiError::conflict(q, name, &apply::conflict_message(conflicts));
    // Upstream's message is the apply failure itself, without the "cannot be fulfilled" prefix.
    err.0.message = apply::conflict_message(conflicts);
    err.0.details = Some(StatusDetails {
        name: name.to_string(),
        group: q.group().to_string(),
        kind: q.resource().to_string(),
        uid: String::new(),
        causes: conflicts
            .iter()
            .map(|c| StatusCause {
                reason: "FieldManagerConflict".into(),
                message: format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                field: c.path.clone(),
            })
            .collect(),
        retry_after_seconds: 0,
    });
    err
}
