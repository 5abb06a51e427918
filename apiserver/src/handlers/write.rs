//! create, update (PUT) and patch, and the update loop they share.
//!
//! The order of a write follows upstream's `rest.BeforeCreate` / `BeforeUpdate`: type and
//! namespace checks, server-set metadata, conversion to the storage version, the kind's
//! strategy (defaults, validation), generation, then one storage write with a
//! resourceVersion precondition. An update without a client resourceVersion retries on
//! conflict with the fresh object, as upstream's `GuaranteedUpdate` does.

use std::sync::Arc;

use axum::http::StatusCode;
use bytes::Bytes;
use kubesim_apimachinery::status::GroupResourceKind;
use kubesim_apimachinery::{ApiError, FieldError, ResourceInfo, meta, registry, strategic_merge};
use serde_json::Value;

use super::Request;
use crate::audit::{Origin, Record, Write};
use crate::field_validation::{self, Directive, Verb, with_warnings};
use crate::object;
use crate::request::{content_type, decode_body_noting_duplicates};
use crate::response::{Result, json_bytes};
use crate::server::ApiServer;
use crate::storage::{self, Key, NewObject, Object, Preconditions};
use crate::strategy::{self, Operation, Rejection};

/// How many times an unconditional update retries against concurrent writers.
const MAX_UPDATE_ATTEMPTS: usize = 16;

/// `POST` to a collection.
pub fn create(req: Request) -> Result {
    let mut body = decode_body_noting_duplicates(&req.headers, &req.body)?;
    check_type(&mut body.value, req.info())?;
    let directive = Directive::from_query(&req.query, Verb::Create)?;
    // `Warn` needs no decode of its own to find unknown fields: the strategy's decode
    // says whether there are any, and only then is the body read for their names. A
    // refusal (`Strict`) comes before everything else, as upstream's decoder refuses.
    let deferred = directive == Directive::Warn
        && !body.duplicate_keys
        && req.info().version == req.info().storage_version;
    let mut warnings = if deferred {
        Vec::new()
    } else {
        field_validation::check_request(&req, Verb::Create, &body)?
    };
    let mut obj = body.value;
    check_namespace(&mut obj, &req)?;
    let dry_run = req.query.dry_run()?;
    let manager = crate::managed::manager_name(&req);
    let created = create_object(&req.server, req.info(), obj, dry_run, &req.origin, &manager)?;
    if deferred && created.dropped_fields {
        warnings = unknown_field_warnings(&req);
    }
    Ok(with_warnings(
        json_bytes(StatusCode::CREATED, present(req.info(), &created.object)?),
        &warnings,
    ))
}

/// The `Warn` warnings of a create's body, read once more after the write (the object
/// went to the store). Every step passed before the write on the same bytes; were one to
/// fail now, the create stands, without warnings.
fn unknown_field_warnings(req: &Request) -> Vec<String> {
    let Ok(mut body) = decode_body_noting_duplicates(&req.headers, &req.body) else {
        return Vec::new();
    };
    if check_type(&mut body.value, req.info()).is_err() {
        return Vec::new();
    }
    field_validation::check_request(req, Verb::Create, &body).unwrap_or_default()
}

/// Create an object from inside the server (the initial namespaces).
pub fn create_internal(
    server: &ApiServer,
    storage_key: &str,
    obj: Value,
) -> Result<Arc<Object>, ApiError> {
    let info = server
        .registry
        .all()
        .into_iter()
        .find(|r| r.storage_key() == storage_key && r.version == r.storage_version)
        .ok_or_else(|| ApiError::internal(format!("no resource {storage_key}")))?;
    create_object(
        server,
        &info,
        obj,
        false,
        &Origin::apiserver("create"),
        "kube-apiserver",
    )
    .map(|created| created.object)
}

/// What a create stored.
pub struct Created {
    pub object: Arc<Object>,
    /// Whether the kind's typed decode dropped fields it does not have (unknown fields).
    pub dropped_fields: bool,
}

/// Everything a create does after decoding: namespace, name, metadata, strategy, store.
pub fn create_object(
    server: &ApiServer,
    info: &Arc<ResourceInfo>,
    mut obj: Value,
    dry_run: bool,
    origin: &Origin,
    manager: &str,
) -> Result<Created, ApiError> {
    let namespace = meta::namespace(&obj).to_string();
    if info.namespaced {
        ensure_namespace_accepts(server, info, &namespace, meta::name(&obj))?;
    }
    let generate = meta::name(&obj).is_empty();
    let prefix = meta::str_field(&obj, "generateName")
        .unwrap_or("")
        .to_string();
    if generate && prefix.is_empty() {
        return Err(ApiError::invalid(
            info.as_ref(),
            "",
            &[FieldError::required(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    object::fill_create(&mut obj, info.has_generation);
    let obj = to_storage_version(info, obj)?;
    // A generated name can collide; upstream retries with a fresh one.
    let attempts = if generate { 8 } else { 1 };
    let mut obj = Some(obj);
    for attempt in 1..=attempts {
        // Only a generated name may need the body again.
        let mut candidate = if attempt < attempts {
            obj.clone()
        } else {
            obj.take()
        }
        .unwrap_or_default();
        if generate {
            meta::set(
                &mut candidate,
                "name",
                Some(Value::String(object::generate_name(&prefix))),
            );
        }
        let name = meta::name(&candidate).to_string();
        let (mut prepared, dropped_fields) =
            run_strategy(info, &name, Operation::Create, candidate, true)?;
        // One time for the creation and the manager's entry, as one request's.
        let created_at = object::now();
        object::set_created_at(&mut prepared, &created_at);
        let mut prepared = if manager.is_empty() {
            prepared.into()
        } else {
            crate::managed::record_create(info, manager, &created_at, prepared)
        };
        // Services: ClusterIP/NodePort allocation, held until the write (allocator.rs).
        let _allocated =
            server
                .allocator
                .allocate(server.storage.as_ref(), info, &mut prepared.value)?;
        if dry_run {
            return Ok(Created {
                object: dry_run_object(info, prepared),
                dropped_fields,
            });
        }
        let key = Key {
            resource: info.storage_key(),
            namespace: namespace.clone(),
            name: name.clone(),
        };
        match server.storage.create(&key, prepared) {
            Ok(created) => {
                audit(
                    server,
                    info,
                    origin,
                    Write::Create,
                    &key,
                    None,
                    Some(created.clone()),
                );
                return Ok(Created {
                    object: created,
                    dropped_fields,
                });
            }
            Err(storage::Error::AlreadyExists) if attempt < attempts => continue,
            Err(err) => return Err(storage_error(info, &name, err)),
        }
    }
    Err(ApiError::internal("could not generate a unique name"))
}

/// `PUT` of an object, or of its `status` or (namespaces) `finalize` subresource.
pub fn update(req: &Request, name: &str) -> Result {
    let mut decoded = decode_body_noting_duplicates(&req.headers, &req.body)?;
    check_type(&mut decoded.value, req.info())?;
    let warnings = field_validation::check_request(req, Verb::Update, &decoded)?;
    let mut body = decoded.value;
    check_namespace(&mut body, req)?;
    check_name(&mut body, name)?;
    let client_rv = client_resource_version(&body)?;
    if client_rv.is_none()
        && req.target.subresource.is_none()
        && !allows_unconditional_update(req.info())
    {
        return Err(ApiError::invalid(
            req.info().as_ref(),
            name,
            &[FieldError::invalid(
                "metadata.resourceVersion",
                "",
                "must be specified for an update",
            )],
        )
        .into());
    }
    let client_uid = meta::str_field(&body, "uid")
        .filter(|uid| !uid.is_empty())
        .map(str::to_string);
    let update = || {
        guaranteed_update(req, name, client_rv, |current, _old| {
            check_uid(req, name, client_uid.as_deref(), &current.attrs.uid)?;
            Ok(body.clone())
        })
    };
    let updated = match update() {
        Err(err) if err.code() == 404 && creates_on_update(req) => {
            check_uid(req, name, client_uid.as_deref(), "")?;
            match create_on_update(req, body.clone(), &warnings) {
                // Created meanwhile by another request: this one is an update after all,
                // as upstream's `GuaranteedUpdate` retries it.
                Err(err) if err.0.code() == 409 => update()?,
                created => return created,
            }
        }
        updated => updated?,
    };
    Ok(with_warnings(
        json_bytes(StatusCode::OK, present(req.info(), &updated)?),
        &warnings,
    ))
}

/// Whether a `PUT` to a missing object creates it: upstream's `AllowCreateOnUpdate`, true
/// for services, endpoints, events, limit ranges and leases — not for subresources.
fn creates_on_update(req: &Request) -> bool {
    let info = req.info();
    req.target.subresource.is_none()
        && matches!(
            (info.group.as_str(), info.plural.as_str()),
            ("", "services" | "endpoints" | "events" | "limitranges")
                | ("events.k8s.io", "events")
                | ("coordination.k8s.io", "leases")
        )
}

/// The create a `PUT` makes of a missing object: 201 Created, as upstream answers it. A
/// resourceVersion in the body is dropped, as upstream's create-on-update drops it.
fn create_on_update(req: &Request, mut body: Value, warnings: &[String]) -> Result {
    meta::set(&mut body, "resourceVersion", None);
    let dry_run = req.query.dry_run()?;
    let manager = crate::managed::manager_name(req);
    let created = create_object(
        &req.server,
        req.info(),
        body,
        dry_run,
        &req.origin,
        &manager,
    )?;
    Ok(with_warnings(
        json_bytes(StatusCode::CREATED, present(req.info(), &created.object)?),
        warnings,
    ))
}

/// `PATCH` with a JSON merge patch (RFC 7386), a JSON patch (RFC 6902) or, for built-in
/// kinds, a strategic merge patch.
pub fn patch(req: &Request, name: &str) -> Result {
    let media = content_type(&req.headers);
    if media == "application/apply-patch+yaml" {
        return super::apply::apply_patch(req, name);
    }
    let patch: Value = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let kind = match media.as_str() {
        "application/merge-patch+json" => PatchKind::Merge,
        "application/json-patch+json" => PatchKind::Json(parse_json_patch(patch.clone())?),
        "application/strategic-merge-patch+json" => {
            PatchKind::Strategic(strategic_schema(req.info())?)
        }
        _ => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {media})"
            ))
            .into());
        }
    };
    let info = req.info().clone();
    let directive = Directive::from_query(&req.query, Verb::Patch)?;
    let mut warnings = Vec::new();
    let updated = guaranteed_update(req, name, None, |current, old| {
        let mut doc = present_value(&info, old)?;
        match &kind {
            PatchKind::Merge => json_patch::merge(&mut doc, &patch),
            PatchKind::Json(ops) => apply_json_patch(&mut doc, ops)?,
            PatchKind::Strategic(schema) => doc = strategic_merge::apply(&doc, &patch, *schema)?,
        }
        // A patch that names a resourceVersion makes it a precondition.
        if let Some(rv) = client_resource_version(&doc)? {
            if rv != current.resource_version {
                return Err(ApiError::stale(info.as_ref(), name));
            }
        }
        warnings = field_validation::check_patched(directive, &info, Some(&req.body), &doc)?;
        Ok(doc)
    })?;
    Ok(with_warnings(
        json_bytes(StatusCode::OK, present(req.info(), &updated)?),
        &warnings,
    ))
}

enum PatchKind {
    Merge,
    Json(json_patch::Patch),
    Strategic(strategic_merge::SchemaRef<'static>),
}

/// The patch schema of a built-in kind. Custom resources have none (no Go struct carries
/// their merge keys), and upstream answers 415 listing what they do take.
fn strategic_schema(info: &ResourceInfo) -> Result<strategic_merge::SchemaRef<'static>, ApiError> {
    if !registry::is_builtin(info) {
        return Err(ApiError::unsupported_media_type(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
        ));
    }
    strategic_merge::root(&info.group, &info.version, &info.kind).ok_or_else(|| {
        ApiError::internal(format!(
            "no strategic merge patch schema for {}, Kind={}",
            info.api_version(),
            info.kind
        ))
    })
}

fn parse_json_patch(patch: Value) -> Result<json_patch::Patch, ApiError> {
    serde_json::from_value(patch)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

/// Apply a JSON patch operation by operation, where a `test` of `null` on a path that does
/// not exist passes, as in upstream's JSON patch library (kube-rs relies on it to add the
/// first finalizer). A failed operation fails the patch with 422.
fn apply_json_patch(doc: &mut Value, patch: &json_patch::Patch) -> Result<(), ApiError> {
    for op in &patch.0 {
        if let json_patch::PatchOperation::Test(test) = op {
            if test.value.is_null() && doc.pointer(test.path.as_str()).is_none() {
                continue;
            }
        }
        json_patch::patch(doc, std::slice::from_ref(op))
            .map_err(|e| ApiError::patch_failed(e.to_string()))?;
    }
    Ok(())
}

/// Read the current object, let `change` produce the new one (in the request's version),
/// then apply what the client may change, the strategy and the generation, and write it
/// with the current resourceVersion as precondition; retry on conflict unless the client
/// gave a resourceVersion of its own.
pub fn guaranteed_update(
    req: &Request,
    name: &str,
    client_rv: Option<u64>,
    mut change: impl FnMut(&Object, &Value) -> Result<Value, ApiError>,
) -> Result<Arc<Object>, ApiError> {
    let subresource = req.target.subresource.as_deref();
    let manager = crate::managed::manager_name(req);
    update_loop(req, name, client_rv, |current| {
        let old = current.value();
        let requested = change(current, &old)?;
        prepare_update(
            req.info(),
            subresource,
            requested,
            &old,
            name,
            Some(&manager),
        )
    })
}

/// The read-modify-write loop under every update: `write` gives the object to store, as
/// is, from the current one.
pub fn update_loop(
    req: &Request,
    name: &str,
    client_rv: Option<u64>,
    mut write: impl FnMut(&Object) -> Result<Value, ApiError>,
) -> Result<Arc<Object>, ApiError> {
    let info = req.info();
    let key = req.key(name);
    let dry_run = req.query.dry_run()?;
    for _ in 0..MAX_UPDATE_ATTEMPTS {
        let current = req
            .server
            .storage
            .get(&key)
            .ok_or_else(|| ApiError::not_found(info.as_ref(), name))?;
        if client_rv.is_some_and(|rv| rv != current.resource_version) {
            return Err(ApiError::stale(info.as_ref(), name));
        }
        let mut new = write(&current)?;
        // Services: ClusterIP/NodePort allocation, held until the write (allocator.rs).
        let _allocated =
            req.server
                .allocator
                .allocate(req.server.storage.as_ref(), info, &mut new)?;
        if dry_run {
            return Ok(dry_run_object(info, new));
        }
        let preconditions = Preconditions {
            resource_version: Some(current.resource_version),
            uid: None,
        };
        let finished = nothing_holds_deletion(&new);
        match req.server.storage.update(&key, new, &preconditions) {
            Ok(written) => {
                if !written.changed {
                    return Ok(written.object);
                }
                audit(
                    &req.server,
                    info,
                    &req.origin,
                    Write::Update,
                    &key,
                    Some(current),
                    Some(written.object.clone()),
                );
                if !finished {
                    return Ok(written.object);
                }
                return finish_deletion(&req.server, info, &key, written.object, &req.origin);
            }
            Err(storage::Error::Conflict(_)) if client_rv.is_none() => continue,
            Err(storage::Error::Conflict(_)) => return Err(ApiError::stale(info.as_ref(), name)),
            Err(err) => return Err(storage_error(info, name, err)),
        }
    }
    Err(ApiError::stale(info.as_ref(), name))
}

/// The new object for an update: what the client may change of it, given the subresource,
/// then the kind's strategy and the generation.
/// `manager` records the write's field ownership; an apply has recorded its own.
pub fn prepare_update(
    info: &ResourceInfo,
    subresource: Option<&str>,
    requested: Value,
    old: &Value,
    name: &str,
    manager: Option<&str>,
) -> Result<Value, ApiError> {
    let requested = to_storage_version(info, requested)?;
    let mut new = match subresource {
        Some("status") => status_write(info, requested, old),
        // `/finalize` writes change only a namespace's `spec.finalizers`.
        Some("finalize") => {
            let finalizers = requested
                .get("spec")
                .and_then(|s| s.get("finalizers"))
                .cloned();
            let mut spec = old
                .get("spec")
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default()));
            if let Value::Object(map) = &mut spec {
                match finalizers {
                    Some(f) => map.insert("finalizers".into(), f),
                    None => map.remove("finalizers"),
                };
            }
            with_field(old.clone(), "spec", Some(spec))
        }
        // Writes to the main resource leave a status with its own subresource alone.
        _ if info.subresources.status => {
            with_field(requested, "status", old.get("status").cloned())
        }
        _ => requested,
    };
    object::keep_system_fields(&mut new, old);
    // The main resource's update strategy keeps a namespace's finalizers as they were;
    // `/finalize` is the one write that may change them.
    if subresource == Some("finalize") {
        return Ok(new);
    }
    let (mut new, _) = run_strategy(info, name, Operation::Update { old }, new, false)?;
    // `/scale` changes the spec too.
    if info.has_generation && matches!(subresource, None | Some("scale")) {
        object::bump_generation(&mut new, old);
    }
    if let Some(manager) = manager {
        crate::managed::record_update(info, subresource, manager, Some(old), &mut new);
    }
    Ok(new)
}

/// What a `/status` write keeps of the request. A built-in kind's status strategy resets
/// the spec (everything but metadata and status) from the old object, and the metadata
/// the kind protects ([`strategy::status_resets`]); the rest of the metadata (labels,
/// annotations, finalizers) may change with the status. A custom resource's status
/// write changes the status alone (and the ownership recorded for it).
fn status_write(info: &ResourceInfo, requested: Value, old: &Value) -> Value {
    let status = requested.get("status").cloned();
    if !registry::is_builtin(info) {
        // Its field ownership stays the request's: an apply recorded itself there
        // (upstream's custom resource status strategy keeps managedFields too).
        let mut new = with_field(old.clone(), "status", status);
        meta::set(
            &mut new,
            "managedFields",
            requested["metadata"].get("managedFields").cloned(),
        );
        return new;
    }
    let metadata = requested
        .get("metadata")
        .or_else(|| old.get("metadata"))
        .cloned();
    let mut new = with_field(
        with_field(old.clone(), "status", status),
        "metadata",
        metadata,
    );
    for path in strategy::status_resets(&info.group, &info.plural) {
        if let ["metadata", field] = path {
            meta::set(&mut new, field, old["metadata"].get(*field).cloned());
        }
    }
    new
}

fn with_field(mut obj: Value, field: &str, value: Option<Value>) -> Value {
    if let Value::Object(map) = &mut obj {
        match value {
            Some(v) => map.insert(field.to_string(), v),
            None => map.remove(field),
        };
    }
    obj
}

/// Whether an object is being deleted and nothing holds it any more: no finalizers left
/// and no graceful termination pending (and, for a namespace, no `spec.finalizers`).
pub fn nothing_holds_deletion(value: &Value) -> bool {
    let grace = value["metadata"]
        .get("deletionGracePeriodSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let spec_finalizers = value
        .get("spec")
        .and_then(|s| s.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    meta::is_deleting(value) && meta::finalizers(value).is_empty() && grace <= 0 && !spec_finalizers
}

/// Remove an object being deleted that nothing holds any more (see
/// [`nothing_holds_deletion`]); `obj` is what was just written.
pub fn finish_deletion(
    server: &ApiServer,
    info: &Arc<ResourceInfo>,
    key: &Key,
    obj: Arc<Object>,
    origin: &Origin,
) -> Result<Arc<Object>, ApiError> {
    let preconditions = Preconditions {
        resource_version: Some(obj.resource_version),
        uid: None,
    };
    match server.storage.delete(key, &preconditions) {
        Ok(deleted) => {
            audit(
                server,
                info,
                origin,
                Write::Delete,
                key,
                Some(obj),
                Some(deleted.clone()),
            );
            Ok(deleted)
        }
        // Someone else finished it, or wrote it since: what they did stands.
        Err(storage::Error::NotFound | storage::Error::Conflict(_)) => Ok(obj),
        Err(err) => Err(storage_error(info, &key.name, err)),
    }
}

/// The kind's defaults and validation, errors as upstream reports them.
fn run_strategy(
    info: &ResourceInfo,
    name: &str,
    op: Operation<'_>,
    obj: Value,
    note_dropped: bool,
) -> Result<(Value, bool), ApiError> {
    let prepared = if note_dropped {
        strategy::prepare_noting_dropped(&info.group, &info.kind, op, obj)
    } else {
        strategy::prepare(&info.group, &info.kind, op, obj).map(|prepared| (prepared, false))
    };
    prepared.map_err(|rejection| match rejection {
        Rejection::Decode(message) => ApiError::bad_request(message),
        Rejection::Invalid(errors) => ApiError::invalid(info, name, &errors),
    })
}

/// A dry-run answer: the object as it would be stored, without a resourceVersion.
pub fn dry_run_object(info: &ResourceInfo, object: impl Into<NewObject>) -> Arc<Object> {
    let NewObject {
        mut value,
        managed_fields,
    } = object.into();
    if let Some(list) = managed_fields.and_then(|text| serde_json::from_str(&text).ok()) {
        meta::set(&mut value, "managedFields", Some(list));
    }
    let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
    let attrs = storage::Attrs::of(&info.storage_key(), &value);
    Arc::new(Object {
        resource_version: 0,
        bytes,
        attrs,
    })
}

/// Objects of a resource served at several versions are stored at one.
pub fn to_storage_version(info: &ResourceInfo, obj: Value) -> Result<Value, ApiError> {
    if info.version == info.storage_version {
        return Ok(obj);
    }
    strategy::convert(&info.group, &info.kind, obj, &info.storage_version)
        .map_err(ApiError::bad_request)
}

/// A stored object (decoded) at the version the request asked for, as JSON.
pub fn present_value(info: &ResourceInfo, stored: &Value) -> Result<Value, ApiError> {
    if info.version == info.storage_version {
        return Ok(stored.clone());
    }
    strategy::convert(&info.group, &info.kind, stored.clone(), &info.version)
        .map_err(ApiError::internal)
}

/// A stored object at the version the request asked for, serialized — the stored bytes
/// themselves when no conversion is needed.
pub fn present(info: &ResourceInfo, obj: &Object) -> Result<Bytes, ApiError> {
    if info.version == info.storage_version {
        return Ok(obj.bytes.clone());
    }
    let value = present_value(info, &obj.value())?;
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

/// `apiVersion` and `kind` must be those of the URL; missing ones are filled in.
pub fn check_type(obj: &mut Value, info: &ResourceInfo) -> Result<(), ApiError> {
    let Value::Object(map) = obj else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON or YAML object",
        ));
    };
    let expected_version = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), Value::String(expected_version));
        }
        Some(v) if v == expected_version => {}
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected_version})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), Value::String(info.kind.clone()));
        }
        Some(k) if k == info.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "{k} in version \"{}\" cannot be handled as a {}: the kind in the data ({k}) does not match the expected kind ({})",
                info.version, info.kind, info.kind
            )));
        }
    }
    Ok(())
}

/// The namespace of the body must be the URL's; a missing one is the URL's.
pub fn check_namespace(obj: &mut Value, req: &Request) -> Result<(), ApiError> {
    let in_body = meta::namespace(obj);
    if !req.info().namespaced {
        if !in_body.is_empty() {
            meta::set(obj, "namespace", None);
        }
        return Ok(());
    }
    let in_url = req.namespace();
    if in_url.is_empty() {
        return Err(ApiError::bad_request(
            "the server could not find the requested resource: a namespaced object needs a namespace in its URL",
        ));
    }
    match in_body {
        same if same == in_url => {}
        "" => meta::set(obj, "namespace", Some(Value::String(in_url.to_string()))),
        _ => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
    }
    Ok(())
}

pub fn check_name(obj: &mut Value, name: &str) -> Result<(), ApiError> {
    match meta::name(obj) {
        "" => {
            meta::set(obj, "name", Some(Value::String(name.to_string())));
            Ok(())
        }
        n if n == name => Ok(()),
        n => Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ))),
    }
}

fn client_resource_version(obj: &Value) -> Result<Option<u64>, ApiError> {
    meta::resource_version(obj).map_err(|rv| {
        ApiError::bad_request(format!(
            "invalid resourceVersion {rv:?}: must be a resourceVersion this server issued"
        ))
    })
}

/// Built-in resources may be updated without a resourceVersion (Helm relies on it);
/// custom resources may not.
fn allows_unconditional_update(info: &ResourceInfo) -> bool {
    kubesim_apimachinery::registry::is_builtin(info)
}

/// New content may not be created in a namespace that is missing or being deleted.
fn ensure_namespace_accepts(
    server: &ApiServer,
    info: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<(), ApiError> {
    let key = Key {
        resource: "namespaces".into(),
        namespace: String::new(),
        name: namespace.to_string(),
    };
    let Some(ns) = server.storage.get(&key) else {
        return Err(ApiError::not_found(&NAMESPACES, namespace));
    };
    if ns.attrs.deleting {
        // The cause lets controllers tell this refusal from a real failure, as upstream's
        // namespace lifecycle admission adds it.
        return Err(ApiError::forbidden(
            info,
            name,
            &format!("unable to create new content in namespace {namespace} because it is being terminated"),
        )
        .with_cause("NamespaceTerminating", format!("namespace {namespace} is being terminated"), "metadata.namespace"));
    }
    Ok(())
}

const NAMESPACES: GroupResourceKind = GroupResourceKind::new("", "namespaces", "Namespace");

/// A storage error as the API reports it.
pub fn storage_error(info: &ResourceInfo, name: &str, err: storage::Error) -> ApiError {
    match err {
        storage::Error::NotFound => ApiError::not_found(info, name),
        storage::Error::AlreadyExists => ApiError::already_exists(info, name),
        storage::Error::Conflict(why) => ApiError::conflict(info, name, &why),
        storage::Error::Expired { requested, oldest } => {
            ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
        }
        storage::Error::Internal(why) => ApiError::internal(why),
    }
}

/// A failed precondition (uid or resourceVersion) as upstream reports it: a 409 whose
/// message is etcd3's `StorageError` for the object's key — what clients match on.
pub fn precondition_failed(info: &ResourceInfo, key: &Key, why: &str) -> ApiError {
    ApiError::conflict(
        info,
        &key.name,
        &format!(
            "StorageError: invalid object, Code: 4, Key: {}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: {why}",
            etcd_key(info, key)
        ),
    )
}

/// The key upstream keeps an object under in etcd: `/registry/<prefix>/<namespace>/<name>`,
/// the prefix the resource's plural but for the legacy ones (`services/specs`,
/// `services/endpoints`, `minions`) and custom resources (`<group>/<plural>`).
fn etcd_key(info: &ResourceInfo, key: &Key) -> String {
    let prefix = match (info.group.as_str(), info.plural.as_str()) {
        ("", "services") => "services/specs".to_string(),
        ("", "endpoints") => "services/endpoints".to_string(),
        ("", "nodes") => "minions".to_string(),
        _ if !registry::is_builtin(info) => format!("{}/{}", info.group, info.plural),
        _ => info.plural.clone(),
    };
    if key.namespace.is_empty() {
        format!("/registry/{prefix}/{}", key.name)
    } else {
        format!("/registry/{prefix}/{}/{}", key.namespace, key.name)
    }
}

/// The uid precondition a `PUT` body's `metadata.uid` makes, as upstream's
/// `defaultUpdatedObjectInfo.Preconditions`: the write is refused when the object has
/// another uid — or none, when it is missing and the PUT would create it.
fn check_uid(
    req: &Request,
    name: &str,
    wanted: Option<&str>,
    stored: &str,
) -> Result<(), ApiError> {
    match wanted {
        Some(uid) if uid != stored => Err(precondition_failed(
            req.info(),
            &req.key(name),
            &format!("UID in precondition: {uid}, UID in object meta: {stored}"),
        )),
        _ => Ok(()),
    }
}

/// Record a write in the audit trail, with the request that made it.
pub fn audit(
    server: &ApiServer,
    info: &Arc<ResourceInfo>,
    origin: &Origin,
    write: Write,
    key: &Key,
    before: Option<Arc<Object>>,
    after: Option<Arc<Object>>,
) {
    tracing::debug!(verb = origin.verb, write = ?write, resource = %info.plural, namespace = %key.namespace, name = %key.name, rv = after.as_ref().map(|o| o.resource_version), "write");
    server.audit.record(Record {
        id: 0,
        at: jiff::Timestamp::now(),
        origin: origin.clone(),
        write,
        resource: info.clone(),
        before,
        after,
    });
}
