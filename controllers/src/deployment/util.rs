//! Pure helpers of the Deployment controller (upstream `deployment/util/deployment_util.go`):
//! the pod-template hash, surge/unavailability arithmetic, replica counting and
//! conditions. Nothing here talks to the API server.

use std::cmp::Ordering;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// The label tying a ReplicaSet and its pods to one template (`DefaultDeploymentUniqueLabelKey`).
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

// Condition reasons, as upstream's.
pub const NEW_RS_REASON: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS_REASON: &str = "FoundNewReplicaSet";
pub const FAILED_RS_CREATE_REASON: &str = "ReplicaSetCreateError";
pub const RS_UPDATED_REASON: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE_REASON: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT_REASON: &str = "ProgressDeadlineExceeded";
pub const PAUSED_REASON: &str = "DeploymentPaused";
pub const RESUMED_REASON: &str = "DeploymentResumed";
pub const MIN_AVAILABLE_REASON: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE_REASON: &str = "MinimumReplicasUnavailable";

/// The alphabet of `rand.SafeEncodeString`: no vowels (no words), no look-alikes.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The `pod-template-hash` of a template, as upstream's `ComputeHash`: FNV-32a over the
/// template, then the collision count (4 bytes little-endian, padded to 8) if set, the
/// 32-bit sum printed in decimal and each digit mapped through `SafeEncodeString`.
///
/// Upstream feeds the hash with a `spew` dump of the Go struct; kubesim feeds it the
/// template's JSON (fields in schema order, maps sorted), so the names have upstream's
/// shape (`web-7d4b9c6f85`, 8–10 characters from the same alphabet) without being
/// byte-identical to a real cluster's.
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |b: u8| {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    };
    bytes.iter().for_each(|b| feed(*b));
    if let Some(count) = collision_count {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(count as u32).to_le_bytes());
        buf.iter().for_each(|b| feed(*b));
    }
    safe_encode(&hash.to_string())
}

/// `rand.SafeEncodeString`.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()] as char)
        .collect()
}

/// Remove empty maps/lists and nulls, so `{}` and absent compare equal, as
/// `apiequality.Semantic.DeepEqual` treats nil and empty alike.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.values_mut().for_each(normalize);
            map.retain(|_, v| {
                !(v.is_null()
                    || v.as_object().is_some_and(|m| m.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty()))
            });
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn comparable(template: &PodTemplateSpec) -> Value {
    let mut t = template.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let mut v = serde_json::to_value(&t).unwrap_or_default();
    normalize(&mut v);
    v
}

/// `EqualIgnoreHash`: the templates are equal apart from the `pod-template-hash` label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    comparable(a) == comparable(b)
}

pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn template(d: &Deployment) -> PodTemplateSpec {
    d.spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default()
}

pub fn rs_template(rs: &ReplicaSet) -> PodTemplateSpec {
    rs.spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default()
}

pub fn is_rolling_update(d: &Deployment) -> bool {
    let kind = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref());
    kind.is_none_or(|k| k == "RollingUpdate")
}

pub fn is_recreate(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate")
}

/// `intstr.GetScaledValueFromIntOrPercent`: an int as is, `"25%"` of `total` rounded up
/// or down.
pub fn scaled_value(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        None => 0,
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(s)) => {
            let percent: f64 = s.trim_end_matches('%').parse().unwrap_or(0.0);
            let value = percent * f64::from(total) / 100.0;
            (if round_up {
                value.ceil()
            } else {
                value.floor()
            }) as i32
        }
    }
}

/// `ResolveFenceposts`: (maxSurge, maxUnavailable) in pods; both zero becomes
/// maxUnavailable 1, so a rollout can always proceed.
pub fn resolve_fenceposts(d: &Deployment) -> (i32, i32) {
    let desired = replicas(d);
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let default = IntOrString::String("25%".into());
    let surge = scaled_value(
        Some(
            rolling
                .and_then(|r| r.max_surge.as_ref())
                .unwrap_or(&default),
        ),
        desired,
        true,
    );
    let unavailable = scaled_value(
        Some(
            rolling
                .and_then(|r| r.max_unavailable.as_ref())
                .unwrap_or(&default),
        ),
        desired,
        false,
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// `MaxSurge`.
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling_update(d) {
        return 0;
    }
    resolve_fenceposts(d).0
}

/// `MaxUnavailable`.
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling_update(d) || replicas(d) == 0 {
        return 0;
    }
    resolve_fenceposts(d).1.min(replicas(d))
}

/// `MinAvailable`: `replicas - maxUnavailable`.
pub fn min_available(d: &Deployment) -> i32 {
    replicas(d).saturating_sub(max_unavailable(d))
}

/// The most pods a rollout may have: `replicas + maxSurge` (the `max-replicas`
/// annotation). Saturates: both are user numbers.
pub fn max_replicas(d: &Deployment) -> i32 {
    replicas(d).saturating_add(max_surge(d))
}

/// A sum of user numbers that saturates instead of overflowing.
fn saturating_sum(values: impl Iterator<Item = i32>) -> i32 {
    values.fold(0i32, i32::saturating_add)
}

/// Sum of `spec.replicas`.
pub fn replica_count(rss: &[ReplicaSet]) -> i32 {
    saturating_sum(rss.iter().map(rs_replicas))
}

fn status_sum(
    rss: &[ReplicaSet],
    f: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> Option<i32>,
) -> i32 {
    saturating_sum(rss.iter().filter_map(|rs| rs.status.as_ref().and_then(&f)))
}

/// Sum of `status.replicas`.
pub fn actual_replica_count(rss: &[ReplicaSet]) -> i32 {
    status_sum(rss, |s| Some(s.replicas))
}

pub fn ready_replica_count(rss: &[ReplicaSet]) -> i32 {
    status_sum(rss, |s| s.ready_replicas)
}

pub fn available_replica_count(rss: &[ReplicaSet]) -> i32 {
    status_sum(rss, |s| s.available_replicas)
}

/// `GetTerminatingReplicaCountForReplicaSets`: the sum of `status.terminatingReplicas`;
/// unknown (`None`) if a ReplicaSet the controller has synced does not report it.
pub fn terminating_replica_count(rss: &[ReplicaSet]) -> Option<i32> {
    let mut sum = 0i32;
    for status in rss.iter().map(|rs| rs.status.clone().unwrap_or_default()) {
        match status.terminating_replicas {
            Some(n) => sum = sum.saturating_add(n),
            None if status.observed_generation.unwrap_or(0) == 0 => {}
            None => return None,
        }
    }
    Some(sum)
}

pub fn available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

/// `FilterActiveReplicaSets`: those with `spec.replicas > 0`.
pub fn active(rss: &[ReplicaSet]) -> Vec<ReplicaSet> {
    rss.iter()
        .filter(|rs| rs_replicas(rs) > 0)
        .cloned()
        .collect()
}

fn created(rs: &ReplicaSet) -> Option<Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// `ReplicaSetsByCreationTimestamp`: oldest first, then by name.
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a)
        .cmp(&created(b))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// `ReplicaSetsBySizeOlder`: larger first, older first among equals.
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(a, b))
}

/// `ReplicaSetsBySizeNewer`: larger first, newer first among equals.
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b)
        .cmp(&rs_replicas(a))
        .then_with(|| by_creation(b, a))
}

/// The revision annotation as a number (0 when missing or malformed).
pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// `MaxRevision`.
pub fn max_revision(rss: &[ReplicaSet]) -> i64 {
    rss.iter().map(revision).max().unwrap_or(0)
}

fn annotation_i32(rs: &ReplicaSet, key: &str) -> Option<i32> {
    rs.metadata.annotations.as_ref()?.get(key)?.parse().ok()
}

pub fn desired_replicas_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation_i32(rs, DESIRED_REPLICAS)
}

/// `NewRSNewReplicas`: how big the new ReplicaSet may be now.
pub fn new_rs_new_replicas(d: &Deployment, all: &[ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    if !is_rolling_update(d) {
        return replicas(d);
    }
    let current = replica_count(all);
    let max_total = max_replicas(d);
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let up = (max_total - current).min(replicas(d).saturating_sub(rs_replicas(new_rs)));
    rs_replicas(new_rs).saturating_add(up)
}

/// `IsSaturated`: the new ReplicaSet is at full size and all of it available.
pub fn is_saturated(d: &Deployment, new_rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = new_rs else { return false };
    rs_replicas(rs) == replicas(d)
        && desired_replicas_annotation(rs) == Some(replicas(d))
        && available(rs) == replicas(d)
}

/// `GetProportion`: this ReplicaSet's share of `to_add` replicas (negative: to remove),
/// never exceeding what is left of it.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = replica_set_fraction(rs, d);
    let allowed = to_add.saturating_sub(added);
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// `getReplicaSetFraction`: the change that keeps this ReplicaSet's share of the
/// Deployment's maximum size (read from its `max-replicas` annotation).
fn replica_set_fraction(rs: &ReplicaSet, d: &Deployment) -> i32 {
    if replicas(d) == 0 {
        return -rs_replicas(rs);
    }
    let max_now = max_replicas(d);
    let before = match annotation_i32(rs, MAX_REPLICAS) {
        Some(n) if n != 0 => n,
        _ => d
            .status
            .as_ref()
            .map(|s| s.replicas.unwrap_or(0))
            .unwrap_or(0),
    };
    if before == 0 {
        return 0;
    }
    let size = f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(before);
    (size.round() as i32).saturating_sub(rs_replicas(rs))
}

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// `NewDeploymentCondition`.
pub fn new_condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// `SetDeploymentCondition`: no-op if status and reason are unchanged; keeps the
/// transition time when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut cond: DeploymentCondition) {
    if let Some(current) = condition(status, &cond.type_) {
        if current.status == cond.status && current.reason == cond.reason {
            return;
        }
        if current.status == cond.status {
            cond.last_transition_time = current.last_transition_time.clone();
        }
    }
    let conditions = status.conditions.get_or_insert_default();
    conditions.retain(|c| c.type_ != cond.type_);
    conditions.push(cond);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// `HasProgressDeadline`.
pub fn has_progress_deadline(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .is_some_and(|s| s != i32::MAX)
}

pub fn progress_deadline(d: &Deployment) -> i32 {
    d.spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600)
}

/// `DeploymentComplete`: every replica updated and available, and the latest spec seen.
pub fn deployment_complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let want = replicas(d);
    status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
        && status.available_replicas.unwrap_or(0) == want
        && status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0)
}

/// `DeploymentProgressing`: more updated, fewer old, or more ready/available pods than
/// the status last written.
pub fn deployment_progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let n = |v: Option<i32>| v.unwrap_or(0);
    let old_old = n(old.replicas).saturating_sub(n(old.updated_replicas));
    let new_old = n(new.replicas).saturating_sub(n(new.updated_replicas));
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old < old_old
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// `DeploymentTimedOut`: the Progressing condition has not been updated for
/// `progressDeadlineSeconds`.
pub fn deployment_timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    if !has_progress_deadline(d) {
        return false;
    }
    let Some(cond) = condition(status, "Progressing") else {
        return false;
    };
    match cond.reason.as_deref() {
        Some(NEW_RS_AVAILABLE_REASON) => false,
        Some(TIMED_OUT_REASON) => true,
        _ => {
            let from = cond
                .last_update_time
                .as_ref()
                .map(|t| t.0.as_second())
                .unwrap_or(0);
            from + i64::from(progress_deadline(d)) < now.as_second()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{
        DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, RollingUpdateDeployment,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::json;

    fn deploy(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
        Deployment {
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                strategy: Some(DeploymentStrategy {
                    type_: Some("RollingUpdate".into()),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(surge),
                        max_unavailable: Some(unavailable),
                    }),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn rs(replicas: i32, max_replicas: Option<i32>) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                annotations: max_replicas
                    .map(|m| [(MAX_REPLICAS.to_string(), m.to_string())].into()),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn hash_uses_the_safe_alphabet_and_changes_with_collisions() {
        let t: PodTemplateSpec = serde_json::from_value(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).unwrap();
        let h = compute_hash(&t, None);
        assert!(
            (1..=10).contains(&h.len()) && h.bytes().all(|b| SAFE_ALPHABET.contains(&b)),
            "{h}"
        );
        assert_eq!(h, compute_hash(&t.clone(), None));
        assert_ne!(h, compute_hash(&t, Some(1)));
        // Digits map as upstream's: '0' (48) → alphabet[48 % 27] = '4', '6' → 'b'.
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn templates_compare_without_the_hash_label() {
        let a: PodTemplateSpec = serde_json::from_value(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).unwrap();
        let b: PodTemplateSpec = serde_json::from_value(json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}, "annotations": {}}, "spec": {"containers": [{"name": "c", "image": "nginx", "env": []}]}})).unwrap();
        assert!(equal_ignore_hash(&a, &b));
        let c: PodTemplateSpec = serde_json::from_value(json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx:2"}]}})).unwrap();
        assert!(!equal_ignore_hash(&a, &c));
    }

    #[test]
    fn fenceposts_round_surge_up_and_unavailable_down() {
        let pct = |s: &str| IntOrString::String(s.into());
        assert_eq!(
            resolve_fenceposts(&deploy(10, pct("25%"), pct("25%"))),
            (3, 2)
        );
        assert_eq!(
            resolve_fenceposts(&deploy(3, IntOrString::Int(1), IntOrString::Int(0))),
            (1, 0)
        );
        assert_eq!(resolve_fenceposts(&deploy(1, pct("0%"), pct("0%"))), (0, 1));
        assert_eq!(
            max_unavailable(&deploy(2, IntOrString::Int(0), IntOrString::Int(5))),
            2
        );
    }

    #[test]
    fn new_replica_set_grows_within_surge() {
        // 10 replicas, maxSurge 3: 10 old + 0 new may grow the new one to 3.
        let d = deploy(10, IntOrString::Int(3), IntOrString::Int(2));
        let (old, new) = (rs(10, None), rs(0, None));
        assert_eq!(
            new_rs_new_replicas(&d, &[old.clone(), new.clone()], &new),
            3
        );
        let (old, new) = (rs(8, None), rs(5, None));
        assert_eq!(new_rs_new_replicas(&d, &[old, new.clone()], &new), 5);
    }

    #[test]
    fn terminating_replicas_are_summed_unless_a_synced_replica_set_does_not_report_them() {
        let with = |terminating: Option<i32>, observed: Option<i64>| {
            let mut r = rs(1, None);
            r.status = Some(k8s_openapi::api::apps::v1::ReplicaSetStatus {
                terminating_replicas: terminating,
                observed_generation: observed,
                ..Default::default()
            });
            r
        };
        assert_eq!(
            terminating_replica_count(&[with(Some(1), Some(1)), with(Some(2), Some(3))]),
            Some(3)
        );
        assert_eq!(
            terminating_replica_count(&[with(Some(1), Some(1)), with(None, None)]),
            Some(1),
            "never synced: no contribution"
        );
        assert_eq!(
            terminating_replica_count(&[with(Some(1), Some(1)), with(None, Some(2))]),
            None
        );
    }

    #[test]
    fn proportions_follow_the_max_replicas_annotation() {
        // Scaling 10 → 15 (maxSurge 3: 13 → 18) with 8 old + 5 new: +5 split 3/2 by size.
        let d = deploy(15, IntOrString::Int(3), IntOrString::Int(2));
        let old = rs(8, Some(13));
        let new = rs(5, Some(13));
        let p_old = proportion(&old, &d, 5, 0);
        assert_eq!(p_old, 3);
        assert_eq!(proportion(&new, &d, 5, p_old), 2);
    }
}
