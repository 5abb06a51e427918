//! Per-kind create/update strategy: decode, default, prepare, validate — as upstream's
//! `pkg/registry/*/strategy.go` with `pkg/apis/*/v1/defaults.go` and `pkg/apis/*/validation`.
//!
//! # Contract
//!
//! [`prepare`] takes a body the REST layer has already given its identity (namespace from the
//! URL, a generated name, uid, resourceVersion, generation; a create sets its
//! creationTimestamp after `prepare`, which does not read it; on update the system fields
//! and, for resources with a status subresource, the right half of the object copied from
//! the stored one). It then does, in upstream's order:
//!
//! 1. **Decode** as the kind's k8s-openapi type at the storage version, with Go's semantics:
//!    a missing required field is its zero value, `null` is ignored, a wrong JSON type or an
//!    unparsable quantity rejects the body as `400 BadRequest` ([`Rejection::Decode`]).
//! 2. **Default** (`defaults.go`, plus the defaulting done by upstream's always-on mutating
//!    admission plugins that need no state: ServiceAccount, Priority for the built-in classes,
//!    DefaultTolerationSeconds, TaintNodesByCondition, StorageObjectInUseProtection).
//! 3. **Prepare** for create/update (`PrepareForCreate`: initial status, generated selectors).
//! 4. **Validate** (`ValidateX` / `ValidateXUpdate` including immutable fields against `old`),
//!    failing as `422 Invalid` ([`Rejection::Invalid`]) with upstream's field errors.
//! 5. **Encode** the typed object back to JSON (quantities in canonical form).
//!
//! Kinds it does not know (custom resources) get `ObjectMeta` validation only.
//!
//! Guarantees: no panics on any input; deterministic error order (maps are visited sorted,
//! where Go's order is random).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::{self, NameFn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod apps;
mod autoscaling;
mod batch;
mod cluster;
mod core;
mod cron;
mod decode;
mod field;
mod meta;
mod pod;
mod podspec;
mod quantity;
mod service;

pub use cluster::{SYSTEM_PRIORITY_CLASSES, system_priority};
use field::{Errors, Path};
pub use meta::Scope;

/// Whether `prepare` is creating or replacing an object.
pub enum Operation<'a> {
    Create,
    Update { old: &'a Value },
}

/// Why `prepare` refused a body.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    /// The body does not decode as the kind (wrong types): 400 BadRequest with this message,
    /// upstream-shaped: `Deployment in version "v1" cannot be handled as a Deployment: <why>`.
    Decode(String),
    /// 422 Invalid with these causes.
    Invalid(Vec<FieldError>),
}

/// What a built-in kind's status strategy resets from the old object on a `/status`
/// write (upstream's `GetResetFields`), as paths of field names: the spec, and for pods
/// their deletionTimestamp and ownerReferences, for Deployments their labels. Everything
/// else a status write may change.
pub fn status_resets(group: &str, plural: &str) -> &'static [&'static [&'static str]] {
    match (group, plural) {
        ("", "pods") => &[
            &["spec"],
            &["metadata", "deletionTimestamp"],
            &["metadata", "ownerReferences"],
        ],
        ("apps", "deployments") => &[&["spec"], &["metadata", "labels"]],
        _ => &[&["spec"]],
    }
}

/// Decode `obj` as the k8s-openapi type for (group, kind) at the storage version, apply
/// upstream's defaults, do upstream's PrepareForCreate/PrepareForUpdate status handling,
/// validate (create or update incl. immutable fields against `old`), and return the
/// re-encoded JSON (apiVersion/kind kept). Unknown kinds: ObjectMeta validation only, `obj`
/// returned unchanged.
pub fn prepare(group: &str, kind: &str, op: Operation<'_>, obj: Value) -> Result<Value, Rejection> {
    prepare_with(group, kind, op, obj, false).map(|(prepared, _)| prepared)
}

/// [`prepare`], also telling whether decoding may have dropped fields the kind does not
/// have, which [`dropped_fields`] names: a create's `fieldValidation=Warn` learns from
/// the round trip it makes anyway that its body has nothing to warn of. (It may say yes
/// when `prepare` itself removed a field, as a create's status; never no when a field
/// was dropped.)
pub fn prepare_noting_dropped(
    group: &str,
    kind: &str,
    op: Operation<'_>,
    obj: Value,
) -> Result<(Value, bool), Rejection> {
    prepare_with(group, kind, op, obj, true)
}

fn prepare_with(
    group: &str,
    kind: &str,
    op: Operation<'_>,
    obj: Value,
    note_dropped: bool,
) -> Result<(Value, bool), Rejection> {
    struct Prepare<'a> {
        op: Operation<'a>,
        obj: Value,
        note_dropped: bool,
    }
    impl TypedFn for Prepare<'_> {
        type Output = Result<(Value, bool), Rejection>;
        fn call<T: Strategy>(self) -> Self::Output {
            run::<T>(self.op, self.obj, self.note_dropped)
        }
    }
    let prepare = Prepare {
        op,
        obj,
        note_dropped,
    };
    match with_type(group, kind, prepare) {
        Ok(result) => result,
        // Kinds without a type keep every field: nothing is dropped.
        Err(Prepare { op, obj, .. }) => generic(kind, op, obj).map(|prepared| (prepared, false)),
    }
}

/// The fields of `obj` (a body at `group`/`version`, `kind`) that decoding it as the kind
/// drops because the kind has no such field, as upstream's strict decoder names them
/// (`spec.replica`, `spec.template.spec.containers[0].imagePullPolicyy`), for
/// `fieldValidation`. Empty for kinds without a typed strategy (custom resources, whose
/// fields are kept as sent) and for bodies that do not decode at all (`prepare` reports
/// those).
pub fn dropped_fields(group: &str, version: &str, kind: &str, obj: &Value) -> Vec<String> {
    struct Dropped<'a>(&'a Value);
    impl TypedFn for Dropped<'_> {
        type Output = Vec<String>;
        fn call<T: Strategy>(self) -> Self::Output {
            dropped::<T>(self.0)
        }
    }
    // The one built-in served at a version other than its storage version.
    if (group, version, kind) == ("autoscaling", "v1", "HorizontalPodAutoscaler") {
        return dropped::<k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler>(obj);
    }
    with_type(group, kind, Dropped(obj)).unwrap_or_default()
}

fn dropped<T: DeserializeOwned + k8s_openapi::Resource>(obj: &Value) -> Vec<String> {
    // The common body (right type, no nulls) decodes as it is, without a copy.
    let typed_as_t = obj.get("apiVersion").and_then(Value::as_str) == Some(T::API_VERSION)
        && obj.get("kind").and_then(Value::as_str) == Some(T::KIND);
    if typed_as_t && !decode::has_nulls(obj) {
        let mut dropped = Vec::new();
        if serde_ignored::deserialize::<_, _, T>(obj, |path| {
            dropped.push(decode::field_path(&path))
        })
        .is_ok()
        {
            return dropped;
        }
    }
    let mut obj = obj.clone();
    decode::strip_nulls(&mut obj);
    if let Value::Object(m) = &mut obj {
        m.insert("apiVersion".into(), Value::String(T::API_VERSION.into()));
        m.insert("kind".into(), Value::String(T::KIND.into()));
    }
    decode::decode_reporting::<T>(&obj, T::KIND)
        .map(|(_, dropped)| dropped)
        .unwrap_or_default()
}

/// Something done with a kind's k8s-openapi type, chosen at run time by [`with_type`]
/// (a closure cannot be generic over the type).
trait TypedFn: Sized {
    type Output;
    fn call<T: Strategy>(self) -> Self::Output;
}

/// Runs `f` with the k8s-openapi type of (group, kind) at the storage version; gives `f`
/// back for kinds without a typed strategy.
fn with_type<F: TypedFn>(group: &str, kind: &str, f: F) -> Result<F::Output, F> {
    use k8s_openapi::api::{
        apps::v1 as apps, autoscaling::v2 as hpa, batch::v1 as batch, coordination::v1 as coord,
        core::v1 as corev1, discovery::v1 as disc, events::v1 as ev, policy::v1 as policy,
        scheduling::v1 as sched, storage::v1 as storage,
    };
    Ok(match (group, kind) {
        ("", "Pod") => f.call::<corev1::Pod>(),
        ("", "Namespace") => f.call::<corev1::Namespace>(),
        ("", "Node") => f.call::<corev1::Node>(),
        ("", "Service") => f.call::<corev1::Service>(),
        ("", "Endpoints") => f.call::<corev1::Endpoints>(),
        ("", "ConfigMap") => f.call::<corev1::ConfigMap>(),
        ("", "Secret") => f.call::<corev1::Secret>(),
        ("", "ServiceAccount") => f.call::<corev1::ServiceAccount>(),
        ("", "Event") => f.call::<corev1::Event>(),
        ("", "PersistentVolume") => f.call::<corev1::PersistentVolume>(),
        ("", "PersistentVolumeClaim") => f.call::<corev1::PersistentVolumeClaim>(),
        ("", "ResourceQuota") => f.call::<corev1::ResourceQuota>(),
        ("", "LimitRange") => f.call::<corev1::LimitRange>(),
        ("apps", "Deployment") => f.call::<apps::Deployment>(),
        ("apps", "ReplicaSet") => f.call::<apps::ReplicaSet>(),
        ("apps", "StatefulSet") => f.call::<apps::StatefulSet>(),
        ("apps", "DaemonSet") => f.call::<apps::DaemonSet>(),
        ("apps", "ControllerRevision") => f.call::<apps::ControllerRevision>(),
        ("batch", "Job") => f.call::<batch::Job>(),
        ("batch", "CronJob") => f.call::<batch::CronJob>(),
        ("coordination.k8s.io", "Lease") => f.call::<coord::Lease>(),
        ("discovery.k8s.io", "EndpointSlice") => f.call::<disc::EndpointSlice>(),
        ("events.k8s.io", "Event") => f.call::<ev::Event>(),
        ("policy", "PodDisruptionBudget") => f.call::<policy::PodDisruptionBudget>(),
        ("autoscaling", "HorizontalPodAutoscaler") => f.call::<hpa::HorizontalPodAutoscaler>(),
        ("scheduling.k8s.io", "PriorityClass") => f.call::<sched::PriorityClass>(),
        ("storage.k8s.io", "StorageClass") => f.call::<storage::StorageClass>(),
        _ => return Err(f),
    })
}

/// Convert between served versions of one resource. Only autoscaling
/// HorizontalPodAutoscaler has two (stored as v2; v1's `targetCPUUtilizationPercentage`
/// is v2's cpu Utilization resource metric). Same version: `obj` unchanged.
pub fn convert(group: &str, kind: &str, obj: Value, to_version: &str) -> Result<Value, String> {
    let from_version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|av| av.rsplit('/').next().unwrap_or(av).to_string())
        .unwrap_or_default();
    if from_version == to_version {
        return Ok(obj);
    }
    let mut converted = match (group, kind, from_version.as_str(), to_version) {
        ("autoscaling", "HorizontalPodAutoscaler", "v1", "v2") => autoscaling::v1_to_v2(obj),
        ("autoscaling", "HorizontalPodAutoscaler", "v2", "v1") => autoscaling::v2_to_v1(obj),
        _ => Err(format!(
            "no conversion for {kind} from version {from_version:?} to {to_version:?}"
        )),
    }?;
    let api_version = if group.is_empty() {
        to_version.to_string()
    } else {
        format!("{group}/{to_version}")
    };
    kubesim_apimachinery::encoding::normalize(&api_version, kind, &mut converted);
    Ok(converted)
}

/// What a kind's strategy supplies; the shared flow is [`run`].
pub(crate) trait Strategy:
    Sized + Clone + Serialize + DeserializeOwned + k8s_openapi::Resource
{
    /// How `metadata.namespace` is checked.
    const SCOPE: Scope;
    /// The rule for `metadata.name` (`ValidateXName`).
    const NAME_FN: NameFn = validation::name_is_dns_subdomain;

    fn meta(&self) -> &ObjectMeta;

    /// Parses and canonicalizes quantities; an error rejects the body as undecodable.
    fn normalize(&mut self) -> Result<(), String> {
        Ok(())
    }

    /// `SetObjectDefaults_X` plus stateless mutating admission. `create` tells admission
    /// plugins that act only on create.
    fn default(&mut self, _create: bool) {}

    /// `PrepareForCreate`, after defaulting.
    fn prepare_for_create(&mut self) {}

    /// `PrepareForUpdate`, after defaulting.
    fn prepare_for_update(&mut self, _old: &Self) {}

    /// `Validate` beyond `ValidateObjectMeta`; `raw` is the body as sent (nulls removed),
    /// for the few rules that tell a missing field from an empty one.
    fn validate(&self, raw: &Value) -> Errors;

    /// `ValidateUpdate` beyond `ValidateObjectMetaUpdate`.
    fn validate_update(&self, old: &Self, raw: &Value) -> Errors;

    /// What upstream's encoding writes that k8s-openapi's leaves out: a zero time in a
    /// non-pointer `metav1.Time` field is written `null`.
    fn encode_zero_times(_obj: &mut Value) {}
}

/// The shared flow: decode, normalize, default, prepare, validate, encode.
fn run<T: Strategy>(
    op: Operation<'_>,
    obj: Value,
    note_dropped: bool,
) -> Result<(Value, bool), Rejection> {
    let create = matches!(op, Operation::Create);
    let (mut new, raw) = load::<T>(obj, create)?;
    let metadata = Path::new("metadata");
    let errs = match op {
        Operation::Create => {
            new.prepare_for_create();
            let mut errs = meta::validate_create(new.meta(), T::SCOPE, T::NAME_FN, &metadata);
            errs.extend(new.validate(&raw));
            errs
        }
        Operation::Update { old } => {
            let (old, _) = load::<T>(old.clone(), false)?;
            new.prepare_for_update(&old);
            let mut errs = meta::validate_update(new.meta(), old.meta(), &metadata);
            errs.extend(new.validate_update(&old, &raw));
            errs
        }
    };
    if !errs.is_empty() {
        return Err(Rejection::Invalid(errs));
    }
    let mut out = serde_json::to_value(&new)
        .map_err(|e| Rejection::Decode(decode_error::<T>(&e.to_string())))?;
    // A field `T` has no place for is not in what `T` encodes to; one that is everywhere
    // the body has it was not dropped. Cheaper than having the decode report what it
    // skips, which names every field it reads.
    let dropped = note_dropped && !decode::keeps_fields(&raw, &out);
    T::encode_zero_times(&mut out);
    // Stored as upstream's encoder writes the Go struct (empty `omitempty` fields out,
    // `resources: {}` in), not as k8s-openapi keeps what was sent.
    kubesim_apimachinery::encoding::normalize(T::API_VERSION, T::KIND, &mut out);
    Ok((out, dropped))
}

/// Decodes, normalizes and defaults; also returns the null-stripped body.
fn load<T: Strategy>(mut obj: Value, create: bool) -> Result<(T, Value), Rejection> {
    decode::strip_nulls(&mut obj);
    if let Value::Object(m) = &mut obj {
        // Usually right already (the handlers check them): no new strings then.
        for (field, value) in [("apiVersion", T::API_VERSION), ("kind", T::KIND)] {
            if m.get(field).and_then(Value::as_str) != Some(value) {
                m.insert(field.into(), Value::String(value.into()));
            }
        }
    } else {
        return Err(Rejection::Decode(decode_error::<T>(
            "json: cannot unmarshal non-object into Go value",
        )));
    }
    let mut t: T =
        decode::decode(&obj, T::KIND).map_err(|why| Rejection::Decode(decode_error::<T>(&why)))?;
    t.normalize()
        .map_err(|why| Rejection::Decode(decode_error::<T>(&why)))?;
    t.default(create);
    Ok((t, obj))
}

/// `Deployment in version "v1" cannot be handled as a Deployment: <why>`.
fn decode_error<T: k8s_openapi::Resource>(why: &str) -> String {
    format!(
        "{kind} in version \"{v}\" cannot be handled as a {kind}: {why}",
        kind = T::KIND,
        v = T::VERSION
    )
}

/// Kinds without a typed strategy: validate `metadata` only.
fn generic(kind: &str, op: Operation<'_>, obj: Value) -> Result<Value, Rejection> {
    let version = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|av| av.rsplit('/').next().unwrap_or(av).to_string())
        .unwrap_or_default();
    let bad = |why: String| {
        Rejection::Decode(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {why}"
        ))
    };
    let mut stripped = obj.clone();
    decode::strip_nulls(&mut stripped);
    let new = meta::decode_meta(&stripped).map_err(bad)?;
    let metadata = Path::new("metadata");
    let errs = match op {
        Operation::Create => meta::validate_create(
            &new,
            Scope::Unknown,
            validation::name_is_dns_subdomain,
            &metadata,
        ),
        Operation::Update { old } => {
            let old = meta::decode_meta(old).map_err(bad)?;
            meta::validate_update(&new, &old, &metadata)
        }
    };
    if errs.is_empty() {
        Ok(obj)
    } else {
        Err(Rejection::Invalid(errs))
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Helpers the kind modules' tests share.
    use super::*;

    /// Runs `prepare` for a create and returns the object or the error strings.
    pub fn create(group: &str, kind: &str, obj: Value) -> Result<Value, Vec<String>> {
        prepare(group, kind, Operation::Create, obj).map_err(strings)
    }

    /// Runs `prepare` for an update of `old` (which is first created) to `new`.
    pub fn update(group: &str, kind: &str, old: Value, new: Value) -> Result<Value, Vec<String>> {
        let stored = create(group, kind, old)?;
        prepare(group, kind, Operation::Update { old: &stored }, new).map_err(strings)
    }

    pub fn strings(r: Rejection) -> Vec<String> {
        match r {
            Rejection::Decode(s) => vec![s],
            Rejection::Invalid(e) => e.iter().map(ToString::to_string).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_kinds_get_meta_validation_only() {
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "namespace": "default"}, "spec": {"x": 1}});
        assert_eq!(create("example.com", "Widget", obj.clone()), Ok(obj));
        let bad =
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "W1"}});
        let e = create("example.com", "Widget", bad)
            .err()
            .unwrap_or_default();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("metadata.name: Invalid value: \"W1\""));
    }

    #[test]
    fn decode_errors_name_the_kind_and_version() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "default"}, "spec": {"replicas": "x"}});
        assert_eq!(
            create("apps", "Deployment", obj),
            Err(vec!["Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32".to_string()])
        );
    }

    #[test]
    fn same_version_conversion_is_identity() {
        let obj = json!({"apiVersion": "v1", "kind": "Pod"});
        assert_eq!(convert("", "Pod", obj.clone(), "v1"), Ok(obj));
    }
}
