//! Field ownership on every write: who manages which fields (`metadata.managedFields`).
//!
//! The merge and ownership rules are `kubesim_apimachinery::apply`'s; this module
//! decides, per request, the manager's name, the version, the subresource's scope, and
//! the type information.

use std::sync::{Arc, LazyLock};

use kubesim_apimachinery::ResourceInfo;
use kubesim_apimachinery::apply::{self, Builtin, Deduced, Manager, Schema, Scope};
use parking_lot::Mutex;
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
/// of its own (see `apply::created_entry`), else merged into the value by
/// `record_update`.
pub fn record_create(info: &ResourceInfo, manager: &str, time: &str, mut new: Value) -> NewObject {
    let brought = new
        .get("metadata")
        .is_some_and(|m| m.get("managedFields").is_some());
    let text =
        if brought {
            None
        } else {
            as_manager_at(info, manager, None, time, |who, schema, ty, scope| {
                match created_fields_v1(&new, schema, ty, scope) {
                    Ok(Some(fields_v1)) => apply::created_entry(who, &fields_v1).ok().map(Some),
                    Ok(None) => Some(None),
                    Err(_) => None,
                }
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

/// The `fieldsV1` a create of `new` owns, kept by the object's shape: the pods of one
/// ReplicaSet, the Events of one reason, any run of objects differing only in names and
/// values own the same fields, and walking each into a field set again was a tenth of a
/// small create's work (`apply::shape`).
fn created_fields_v1(
    new: &Value,
    schema: &'static dyn Schema,
    ty: Option<&'static str>,
    scope: Scope,
) -> serde_json::Result<Option<Arc<str>>> {
    // `schema` is `Builtin` exactly when `ty` is given (see [`schema`]), so the type
    // and the scope, with the shape, say what the walk would find. The shape's hash is
    // seeded afresh in each process: no client can aim at another shape's entry.
    static SEED: LazyLock<foldhash::quality::RandomState> = LazyLock::new(Default::default);
    static KEPT: LazyLock<Mutex<KeptFields>> = LazyLock::new(Default::default);
    let key = apply::shape::shape_hash(new, &*SEED).map(|shape| (shape, ty, scope));
    if let Some(found) = key.and_then(|key| KEPT.lock().fields.get(&key).cloned()) {
        return Ok(found);
    }
    let fields_v1 = apply::created_fields_v1(new, ty, schema, scope)?.map(Arc::from);
    if let Some(key) = key {
        KEPT.lock().keep(key, fields_v1.clone());
    }
    Ok(fields_v1)
}

/// The `fieldsV1` of the shapes met lately, bounded in count and in bytes; past either
/// bound the memory starts afresh (a new run of shapes).
#[derive(Default)]
struct KeptFields {
    fields: foldhash::HashMap<(u64, Option<&'static str>, Scope), Option<Arc<str>>>,
    bytes: usize,
}

impl KeptFields {
    const MAX_SHAPES: usize = 1024;
    const MAX_BYTES: usize = 4 << 20;
    /// Bigger entries are walked each time: an object of thousands of keys is rare, and
    /// keeping a few would take the whole budget.
    const MAX_ENTRY_BYTES: usize = 64 << 10;

    fn keep(&mut self, key: (u64, Option<&'static str>, Scope), fields_v1: Option<Arc<str>>) {
        let len = fields_v1.as_deref().map_or(0, str::len);
        if len > Self::MAX_ENTRY_BYTES {
            return;
        }
        if self.fields.len() >= Self::MAX_SHAPES || self.bytes + len > Self::MAX_BYTES {
            self.fields.clear();
            self.bytes = 0;
        }
        if self.fields.insert(key, fields_v1).is_none() {
            self.bytes += len;
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

#[cfg(test)]
mod tests {
    use kubesim_apimachinery::registry::builtins;
    use serde_json::json;

    use super::*;

    /// What [`record_create`] stores, as the list it writes.
    fn created(info: &ResourceInfo, obj: &Value) -> Option<Value> {
        let stored = record_create(info, "kubectl", "2026-12-05T00:00:00Z", obj.clone());
        stored
            .managed_fields
            .map(|text| serde_json::from_str(&text).expect("json"))
    }

    /// What the uncached walk (`record_update` from nothing) stores.
    fn walked(info: &ResourceInfo, obj: &Value) -> Option<Value> {
        let mut new = obj.clone();
        as_manager_at(
            info,
            "kubectl",
            None,
            "2026-12-05T00:00:00Z",
            |who, schema, ty, scope| {
                apply::record_update(None, &mut new, ty, schema, who, scope);
            },
        );
        new["metadata"].get("managedFields").cloned()
    }

    #[test]
    fn creates_of_one_shape_share_fields_and_other_shapes_get_their_own() {
        let resource = |plural: &str| {
            builtins()
                .into_iter()
                .find(|r| r.plural == plural)
                .expect("resource")
        };
        let (pods, config_maps) = (resource("pods"), resource("configmaps"));
        let pod = |name: &str, finalizer: &str, extra: Option<&str>| {
            let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "uid": name, "finalizers": [finalizer]},
                "spec": {"containers": [{"name": "c", "image": "nginx"}], "nodeName": name},
                "status": {"phase": "Pending"}});
            if let Some(extra) = extra {
                pod["spec"][extra] = json!(true);
            }
            pod
        };
        let cases = [
            (&pods, pod("a", "x", None)),
            // Same shape, other values: the kept fields.
            (&pods, pod("b", "x", None)),
            // Another finalizer (a list's item), another field: their own.
            (&pods, pod("c", "y", None)),
            (&pods, pod("d", "x", Some("hostNetwork"))),
            (
                &config_maps,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "1"}}),
            ),
            (
                &config_maps,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"k": "2"}}),
            ),
            (
                &config_maps,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "2", "l": "3"}}),
            ),
            (
                &config_maps,
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}}),
            ),
        ];
        for (info, obj) in &cases {
            // Twice each: once walked and kept, once from what was kept.
            for _ in 0..2 {
                assert_eq!(created(info, obj), walked(info, obj), "{obj}");
            }
        }
        let fields = |obj: &Value| created(&pods, obj).expect("entry")[0]["fieldsV1"].clone();
        assert!(fields(&pod("e", "y", None))["f:metadata"]["f:finalizers"]["v:\"y\""].is_object());
        assert!(fields(&pod("f", "x", Some("hostNetwork")))["f:spec"]["f:hostNetwork"].is_object());
        assert_eq!(created(&config_maps, &cases[7].1), None);
    }

    #[test]
    fn kept_fields_are_bounded_in_bytes_as_well_as_in_count() {
        let mut kept = KeptFields::default();
        let text = |len: usize| Some(Arc::<str>::from("x".repeat(len)));
        let key = |n: u64| (n, None, Scope::Everything);
        // Too big to keep at all.
        kept.keep(key(0), text(KeptFields::MAX_ENTRY_BYTES + 1));
        assert!(kept.fields.is_empty());
        // Kept until the next one would pass the budget; then the memory starts afresh.
        let each = KeptFields::MAX_ENTRY_BYTES;
        let fit = KeptFields::MAX_BYTES / each;
        for n in 0..fit as u64 {
            kept.keep(key(n), text(each));
        }
        assert_eq!((kept.fields.len(), kept.bytes), (fit, fit * each));
        kept.keep(key(u64::MAX), text(each));
        assert_eq!((kept.fields.len(), kept.bytes), (1, each));
        // Count bound: small entries.
        for n in 0..KeptFields::MAX_SHAPES as u64 + 1 {
            kept.keep(key(n), text(1));
        }
        assert!(kept.fields.len() <= KeptFields::MAX_SHAPES);
    }
}
