//! Taint-based eviction, as upstream's taint-eviction controller (`tainteviction`): pods
//! on a node with `NoExecute` taints they do not tolerate are deleted.
//!
//! - A pod that does not tolerate every `NoExecute` taint goes now.
//! - One that tolerates them all, some for `tolerationSeconds`, goes when the shortest of
//!   those has passed since the taint's `timeAdded` (the API server gives every pod 300 s
//!   for not-ready and unreachable). Upstream counts from when its taint manager first saw
//!   the taint, so a restarted controller starts counting again; `timeAdded` survives it.
//! - One that tolerates them without a bound stays.
//!
//! Going means, as `addConditionAndDeletePod`: the condition `DisruptionTarget=True`
//! (reason `DeletionByTaintManager`, "Taint manager: deleting due to NoExecute taint") on
//! the pod's status, then a delete. Events come from `taint-eviction-controller`:
//! `TaintManagerEviction` "Marking for deletion Pod ns/name", and "Cancelling deletion of
//! Pod ns/name" when a pod that was waiting out its toleration is no longer due to go
//! (the taint went, a toleration now covers it, or it was deleted by someone else).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodCondition, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::events::{EventType, Recorder};

/// The event source, as upstream's.
pub const COMPONENT: &str = "taint-eviction-controller";
const REASON: &str = "TaintManagerEviction";

/// `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect_ok = t
        .effect
        .as_deref()
        .is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = t.key.as_deref().unwrap_or("");
    let key_ok = key.is_empty() || key == taint.key;
    let op_ok = match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        _ => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
    };
    effect_ok && key_ok && op_ok && (!key.is_empty() || t.operator.as_deref() == Some("Exists"))
}

/// When the pod must go: now if some taint is not tolerated, else the earliest
/// `timeAdded + tolerationSeconds` over the taints; `None` if it tolerates them forever.
pub fn eviction_time(
    taints: &[&Taint],
    tolerations: &[Toleration],
    now: Timestamp,
) -> Option<Timestamp> {
    let mut at: Option<Timestamp> = None;
    for taint in taints {
        let matching: Vec<&Toleration> =
            tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now);
        }
        // Among matching tolerations the shortest bound counts; one without a bound is forever.
        let Some(seconds) = matching.iter().filter_map(|t| t.toleration_seconds).min() else {
            continue;
        };
        let added = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        let due = added
            .checked_add(SignedDuration::from_secs(seconds.max(0)))
            .unwrap_or(Timestamp::MAX);
        at = Some(at.map_or(due, |a| a.min(due)));
    }
    at
}

/// Pods (`namespace/name` → uid) whose eviction is scheduled for later, as upstream's
/// timed work queue knows them.
#[derive(Debug, Default)]
pub struct Scheduled {
    pods: BTreeMap<String, String>,
}

impl Scheduled {
    /// Start a pass: what was scheduled before, to compare with what the pass schedules.
    pub fn begin(&mut self) -> BTreeMap<String, String> {
        std::mem::take(&mut self.pods)
    }

    pub fn schedule(&mut self, pod: &Pod) {
        self.pods.insert(key(pod), pod.uid().unwrap_or_default());
    }

    /// Those scheduled before the pass and not now (nor evicted): their deletion is
    /// cancelled.
    pub fn cancelled(&self, before: BTreeMap<String, String>, evicted: &[String]) -> Vec<String> {
        before
            .into_keys()
            .filter(|k| !self.pods.contains_key(k) && !evicted.contains(k))
            .collect()
    }
}

pub fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.namespace().unwrap_or_default(), pod.name_any())
}

fn pod_ref(key: &str) -> k8s_openapi::api::core::v1::ObjectReference {
    let (namespace, name) = key.split_once('/').unwrap_or(("", key));
    k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        ..Default::default()
    }
}

pub fn record_cancelled(recorder: &Recorder, key: &str) {
    tracing::info!(pod = key, "cancelling taint-based eviction");
    recorder.record(
        pod_ref(key),
        EventType::Normal,
        REASON,
        format!("Cancelling deletion of Pod {key}"),
    );
}

/// `addConditionAndDeletePod`: mark the pod `DisruptionTarget`, then delete it (both
/// bound to its uid, so a new pod of the same name is safe).
pub async fn evict(
    client: &Client,
    recorder: &Recorder,
    pod: &Pod,
    now: Timestamp,
) -> Result<(), kube::Error> {
    let name = pod.name_any();
    let namespace = pod.namespace().unwrap_or_default();
    let key = key(pod);
    recorder.record(
        pod_ref(&key),
        EventType::Normal,
        REASON,
        format!("Marking for deletion Pod {key}"),
    );
    tracing::info!(pod = key, "evicting pod from a NoExecute-tainted node");
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let condition = disruption_target(
        "DeletionByTaintManager",
        "Taint manager: deleting due to NoExecute taint",
        now,
    );
    if let Err(err) = add_condition(&api, pod, condition).await {
        return if is_gone(&err) { Ok(()) } else { Err(err) };
    }
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: pod.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(err) if is_gone(&err) => Ok(()),
        Err(err) => Err(err),
    }
}

/// A `DisruptionTarget=True` condition, as upstream's controllers add before deleting.
pub fn disruption_target(reason: &str, message: &str, now: Timestamp) -> PodCondition {
    PodCondition {
        type_: "DisruptionTarget".into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_transition_time: Some(Time(now)),
        ..Default::default()
    }
}

/// `UpdatePodCondition` + `PatchPodStatus`: put `condition` on the pod's status unless it
/// is there already (a strategic merge by condition type, bound to the pod's uid).
pub async fn add_condition(
    api: &Api<Pod>,
    pod: &Pod,
    condition: PodCondition,
) -> Result<(), kube::Error> {
    let existing = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == condition.type_));
    if existing.is_some_and(|c| {
        c.status == condition.status
            && c.reason == condition.reason
            && c.message == condition.message
    }) {
        return Ok(());
    }
    let patch = json!({"metadata": {"uid": pod.uid()}, "status": {"conditions": [condition]}});
    api.patch_status(
        &pod.name_any(),
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await
    .map(|_| ())
}

/// Gone, or a different pod now has the name.
pub fn is_gone(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == 404 || e.code == 409)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn eviction_waits_for_the_shortest_toleration() {
        let taint = Taint {
            key: super::super::taints::UNREACHABLE.into(),
            effect: "NoExecute".into(),
            value: None,
            time_added: Some(Time(ts(0))),
        };
        let tol = |secs: Option<i64>| Toleration {
            key: Some(taint.key.clone()),
            operator: Some("Exists".into()),
            effect: Some("NoExecute".into()),
            toleration_seconds: secs,
            value: None,
        };
        assert_eq!(eviction_time(&[&taint], &[], ts(3)), Some(ts(3)));
        assert_eq!(
            eviction_time(&[&taint], &[tol(Some(300))], ts(3)),
            Some(ts(300))
        );
        assert_eq!(
            eviction_time(&[&taint], &[tol(Some(300)), tol(Some(5))], ts(3)),
            Some(ts(5))
        );
        assert_eq!(eviction_time(&[&taint], &[tol(None)], ts(3)), None);
        assert_eq!(
            eviction_time(&[&taint], &[tol(Some(-5))], ts(3)),
            Some(ts(0)),
            "non-positive seconds: at once"
        );
        assert_eq!(
            eviction_time(&[&taint], &[tol(Some(i64::MAX))], ts(3)),
            Some(Timestamp::MAX),
            "an unrepresentable time saturates"
        );
        let other = Toleration {
            key: Some("other".into()),
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert_eq!(eviction_time(&[&taint], &[other], ts(3)), Some(ts(3)));
        let wildcard = Toleration {
            operator: Some("Exists".into()),
            ..Default::default()
        };
        assert_eq!(eviction_time(&[&taint], &[wildcard], ts(3)), None);
    }

    #[test]
    fn cancelled_are_those_no_longer_scheduled_nor_evicted() {
        let pod = |name: &str| -> Pod {
            serde_json::from_value(
                json!({"metadata": {"name": name, "namespace": "ns", "uid": name}}),
            )
            .unwrap()
        };
        let mut s = Scheduled::default();
        s.schedule(&pod("a"));
        s.schedule(&pod("b"));
        s.schedule(&pod("c"));
        let before = s.begin();
        s.schedule(&pod("a"));
        assert_eq!(
            s.cancelled(before, &["ns/b".to_string()]),
            ["ns/c".to_string()]
        );
    }
}
