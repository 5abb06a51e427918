//! delete and deletecollection, with finalizers, graceful deletion and propagation policy.
//!
//! As upstream's `BeforeDelete`: an object that something still holds — finalizers, a pod
//! on a node that must stop its containers, a namespace with content — is marked
//! (`deletionTimestamp`, MODIFIED event) and stays; otherwise it goes (DELETED event).

use std::sync::Arc;

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use kubesim_apimachinery::status::{self, GroupResourceKind};
use kubesim_apimachinery::{ApiError, FieldError, ResourceInfo, meta};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Request;
use super::write::{audit, dry_run_object, precondition_failed, present, storage_error};
use crate::audit::Write;
use crate::filter::Filter;
use crate::object;
use crate::response::{Result, json_bytes};
use crate::storage::{self, Object, Preconditions};

/// Namespaces the cluster cannot do without.
const PROTECTED_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// `meta/v1 DeleteOptions`, from the body or the query.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub orphan_dependents: Option<bool>,
    #[serde(default)]
    pub preconditions: Option<DeletePreconditions>,
    #[serde(default)]
    pub dry_run: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletePreconditions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

const DELETE_OPTIONS: GroupResourceKind =
    GroupResourceKind::new("meta.k8s.io", "deleteoptions", "DeleteOptions");

impl DeleteOptions {
    fn from_request(req: &Request) -> Result<Self, ApiError> {
        let mut options: DeleteOptions = if req.body.iter().all(u8::is_ascii_whitespace) {
            DeleteOptions::default()
        } else {
            let value = crate::request::decode_body(&req.headers, &req.body)?;
            serde_json::from_value(value)
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?
        };
        if let Some(grace) = req.query.integer("gracePeriodSeconds")? {
            options.grace_period_seconds = Some(grace);
        }
        if let Some(policy) = req.query.get("propagationPolicy") {
            options.propagation_policy = Some(policy.to_string());
        }
        if let Some(orphan) = req.query.flag("orphanDependents")? {
            options.orphan_dependents = Some(orphan);
        }
        if req.query.dry_run()? {
            options.dry_run = vec!["All".into()];
        }
        let mut errors = Vec::new();
        if options.orphan_dependents.is_some() && options.propagation_policy.is_some() {
            errors.push(FieldError::invalid(
                "propagationPolicy",
                options.propagation_policy.clone().unwrap_or_default(),
                "orphanDependents and deletionPropagation cannot be both set",
            ));
        }
        if let Some(policy) = &options.propagation_policy {
            if !matches!(policy.as_str(), "Foreground" | "Background" | "Orphan") {
                errors.push(FieldError::not_supported(
                    "propagationPolicy",
                    policy.as_str(),
                    &["Foreground", "Background", "Orphan", "nil"],
                ));
            }
        }
        if options.grace_period_seconds.is_some_and(|g| g < 0) {
            errors.push(FieldError::invalid(
                "gracePeriodSeconds",
                options.grace_period_seconds.unwrap_or(0),
                "must be greater than or equal to 0",
            ));
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(&DELETE_OPTIONS, "", &errors));
        }
        Ok(options)
    }

    /// The finalizer the garbage collector acts on for this propagation policy.
    fn gc_finalizer(&self) -> Option<&'static str> {
        match (self.propagation_policy.as_deref(), self.orphan_dependents) {
            (Some("Orphan"), _) | (None, Some(true)) => Some("orphan"),
            (Some("Foreground"), _) => Some("foregroundDeletion"),
            _ => None,
        }
    }
}

/// Resources whose delete answers with the object rather than a `Status`, as upstream's
/// `ReturnDeletedObject`.
fn returns_deleted_object(info: &ResourceInfo) -> bool {
    matches!(
        (info.group.as_str(), info.plural.as_str()),
        ("", "pods" | "services" | "serviceaccounts" | "namespaces")
            | ("storage.k8s.io", "storageclasses")
    )
}

/// `DELETE` of one object.
pub fn delete(req: &Request, name: &str) -> Result {
    let options = DeleteOptions::from_request(req)?;
    let info = req.info();
    if info.plural == "namespaces" && info.group.is_empty() && PROTECTED_NAMESPACES.contains(&name)
    {
        return Err(
            ApiError::forbidden(info.as_ref(), name, "this namespace may not be deleted").into(),
        );
    }
    let system_priority_class = info.group == "scheduling.k8s.io"
        && info.plural == "priorityclasses"
        && crate::strategy::system_priority(name).is_some();
    if system_priority_class {
        // As upstream's REST.Delete; a deletecollection goes through the store and is not
        // refused, upstream either.
        return Err(ApiError::forbidden(
            info.as_ref(),
            name,
            "this is a system priority class and cannot be deleted",
        )
        .into());
    }
    let (obj, gone) = delete_object(req, name, &options)?;
    // Upstream answers 202 only for a deletion still pending that asked for its dependents
    // with the deprecated `orphanDependents: false` ("that will break existing clients"
    // otherwise), 200 for everything else.
    let code = if !gone && options.orphan_dependents == Some(false) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    if gone && !returns_deleted_object(info) {
        let uid = &*obj.attrs.uid;
        return Ok(json_bytes(
            code,
            status::success(info.as_ref(), name, uid).to_string().into(),
        ));
    }
    Ok(json_bytes(code, present(info, &obj)?))
}

/// `DELETE` of a collection: every selected object, each as a single delete would.
pub fn delete_collection(req: &Request) -> Result {
    let options = DeleteOptions::from_request(req)?;
    let filter = Filter::from_query(req.info(), req.target.namespace.as_deref(), &req.query)?;
    let (objects, revision) = req
        .server
        .storage
        .list(&req.info().storage_key(), req.target.namespace.as_deref());
    let mut items = Vec::new();
    for obj in objects {
        if !filter.matches(&obj.attrs) {
            continue;
        }
        let namespace = obj.attrs.namespace.to_string();
        let name = obj.attrs.name.to_string();
        let scoped = Request {
            server: req.server.clone(),
            target: crate::route::Target {
                namespace: Some(namespace).filter(|n| !n.is_empty()),
                name: Some(name.clone()),
                ..req.target.clone()
            },
            query: req.query.clone(),
            headers: req.headers.clone(),
            body: req.body.clone(),
            origin: req.origin.clone(),
        };
        match delete_object(&scoped, &name, &options) {
            Ok((deleted, _)) => items.push(deleted.value()),
            // Deleted by someone else meanwhile: nothing left to do.
            Err(err) if err.code() == 404 => {}
            Err(err) => return Err(err.into()),
        }
    }
    let info = req.info();
    Ok(crate::response::json(
        StatusCode::OK,
        &json!({"kind": info.list_kind(), "apiVersion": info.api_version(), "metadata": {"resourceVersion": revision.to_string()}, "items": items}),
    ))
}

/// Delete or mark one object; returns it and whether it is gone.
fn delete_object(
    req: &Request,
    name: &str,
    options: &DeleteOptions,
) -> Result<(Arc<Object>, bool), ApiError> {
    let info = req.info();
    let key = req.key(name);
    let storage = &req.server.storage;
    let dry_run = !options.dry_run.is_empty();
    let client = Preconditions {
        resource_version: match options
            .preconditions
            .as_ref()
            .and_then(|p| p.resource_version.as_deref())
        {
            Some(rv) => Some(rv.parse().map_err(|_| {
                ApiError::bad_request(format!("invalid resourceVersion precondition {rv:?}"))
            })?),
            None => None,
        },
        uid: options.preconditions.as_ref().and_then(|p| p.uid.clone()),
    };
    loop {
        let current = storage
            .get(&key)
            .ok_or_else(|| ApiError::not_found(info.as_ref(), name))?;
        // The client's preconditions first, so their failure reads as theirs.
        if let Err(why) = check_client_preconditions(&current, &client) {
            return Err(precondition_failed(info, &key, &why));
        }
        let value = current.value();
        let grace = grace_period(info, &value, options);
        let marked = mark_for_deletion(info, &value, grace, options.gc_finalizer());
        let held = marked
            .as_ref()
            .is_some_and(|m| !meta::finalizers(m).is_empty() || grace > 0 || is_namespace(info));
        let preconditions = Preconditions {
            resource_version: Some(current.resource_version),
            uid: None,
        };
        // A dry run answers with what the delete would leave: the object marked, when
        // something holds it; else the object as it is.
        if dry_run {
            return Ok(match marked {
                Some(marked) if held => (dry_run_object(info, marked), false),
                _ => (current, true),
            });
        }
        // What was written, whether it is gone, and what it replaced.
        let result = match marked {
            Some(marked) if held => storage
                .update(&key, marked, &preconditions)
                .map(|w| (w.object, false, current.clone())),
            // A pod with no grace left: marked (watchers see it MODIFIED, terminating),
            // then removed, as upstream's graceful deletion writes it before deleting it.
            Some(marked) => storage
                .update(&key, marked, &preconditions)
                .and_then(|written| {
                    if written.changed {
                        let before = Some(current.clone());
                        let after = Some(written.object.clone());
                        audit(
                            &req.server,
                            info,
                            &req.origin,
                            Write::Update,
                            &key,
                            before,
                            after,
                        );
                    }
                    let preconditions = Preconditions {
                        resource_version: Some(written.object.resource_version),
                        uid: None,
                    };
                    let deleted = storage.delete(&key, &preconditions)?;
                    Ok((deleted, true, written.object))
                }),
            None => storage
                .delete(&key, &preconditions)
                .map(|deleted| (deleted, true, current.clone())),
        };
        match result {
            Ok((obj, gone, before)) => {
                let write = if gone { Write::Delete } else { Write::Update };
                audit(
                    &req.server,
                    info,
                    &req.origin,
                    write,
                    &key,
                    Some(before),
                    Some(obj.clone()),
                );
                return Ok((obj, gone));
            }
            // Changed since we read it: decide again on the fresh object.
            Err(storage::Error::Conflict(_)) => continue,
            Err(err) => return Err(storage_error(info, name, err)),
        }
    }
}

fn check_client_preconditions(current: &Object, client: &Preconditions) -> Result<(), String> {
    if let Some(uid) = &client.uid {
        let stored = &*current.attrs.uid;
        if uid != stored {
            return Err(format!(
                "UID in precondition: {uid}, UID in object meta: {stored}"
            ));
        }
    }
    if let Some(rv) = client.resource_version {
        if rv != current.resource_version {
            return Err(format!(
                "ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.resource_version
            ));
        }
    }
    Ok(())
}

fn is_namespace(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "namespaces"
}

/// Pods are the one kind upstream deletes gracefully (`CheckGracefulDelete`).
fn is_pod(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "pods"
}

/// Seconds the object is given to terminate. Only pods terminate gracefully: a pod not yet
/// on a node, or already finished, has nothing to stop and goes at once, as upstream's
/// pod strategy `CheckGracefulDelete` decides.
fn grace_period(info: &ResourceInfo, obj: &Value, options: &DeleteOptions) -> i64 {
    if !(info.group.is_empty() && info.plural == "pods") {
        return 0;
    }
    let unscheduled = obj["spec"]["nodeName"].as_str().unwrap_or("").is_empty();
    let finished = matches!(
        obj["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    );
    if unscheduled || finished {
        return 0;
    }
    options
        .grace_period_seconds
        .or_else(|| obj["spec"]["terminationGracePeriodSeconds"].as_i64())
        .unwrap_or(30)
        .max(0)
}

/// The object marked for deletion, or `None` when nothing would hold it and it can go.
fn mark_for_deletion(
    info: &ResourceInfo,
    current: &Value,
    grace: i64,
    gc_finalizer: Option<&str>,
) -> Option<Value> {
    let mut marked = current.clone();
    let mut finalizers: Vec<String> = meta::finalizers(current)
        .into_iter()
        .map(str::to_string)
        .collect();
    if let Some(f) = gc_finalizer {
        if !finalizers.iter().any(|x| x == f) {
            finalizers.push(f.to_string());
        }
    }
    let namespace_held = is_namespace(info)
        && current["spec"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
    // Pods are deleted gracefully even with no grace: marked first, then removed.
    if finalizers.is_empty() && grace == 0 && !namespace_held && !is_pod(info) {
        return None;
    }
    let now = Timestamp::now();
    let existing_grace = current["metadata"]["deletionGracePeriodSeconds"].as_i64();
    // A deletion already under way may only be shortened.
    let first_mark = !meta::is_deleting(current);
    if first_mark || existing_grace.is_some_and(|g| grace < g) {
        // Shortened, the deletion counts from when it began (upstream's `BeforeDelete`).
        let began = if first_mark {
            now
        } else {
            current["metadata"]["deletionTimestamp"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .zip(existing_grace)
                .and_then(|(at, g)| at.checked_sub(SignedDuration::from_secs(g)).ok())
                .unwrap_or(now)
        };
        let at = began
            .checked_add(SignedDuration::from_secs(grace))
            .unwrap_or(began);
        meta::set(
            &mut marked,
            "deletionTimestamp",
            Some(json!(object::timestamp(at))),
        );
        meta::set(
            &mut marked,
            "deletionGracePeriodSeconds",
            Some(json!(grace)),
        );
    }
    // Marked for deletion, the object's controllers are to act differently: upstream
    // bumps a set generation then (`BeforeDelete` for a graceful deletion,
    // `markAsDeleting` for one held by finalizers), once.
    if let Some(generation) = current["metadata"]["generation"]
        .as_i64()
        .filter(|g| first_mark && *g > 0)
    {
        meta::set(&mut marked, "generation", Some(json!(generation + 1)));
    }
    if !finalizers.is_empty() {
        meta::set(&mut marked, "finalizers", Some(json!(finalizers)));
    }
    if is_namespace(info) {
        if let Value::Object(map) = &mut marked {
            map.insert("status".into(), json!({"phase": "Terminating"}));
        }
    }
    Some(marked)
}
