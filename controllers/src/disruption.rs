//! The disruption controller: keeps PodDisruptionBudgets' status, which the API server's
//! `pods/eviction` (and so `kubectl drain`) obeys — as upstream's `pkg/controller/disruption`.
//!
//! For each budget: the pods it selects in its namespace are `expectedPods`; the Ready
//! ones not being deleted and not just evicted (`status.disruptedPods`, kept for 2 minutes
//! or until the pod is seen deleting) are `currentHealthy`; `desiredHealthy` is
//! `minAvailable` (a number, or a percentage of the expected pods rounded up) or the
//! expected pods less `maxUnavailable`; `disruptionsAllowed` is what healthy pods exceed
//! it by. Condition `DisruptionAllowed` says `SufficientPods` or `InsufficientPods`.
//!
//! Caveat: upstream counts expected pods from the owning controllers' scale when a
//! percentage or `maxUnavailable` is used; kubesim counts the selected pods.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::endpoints;

/// How long an evicted pod counts as disrupted before it is seen deleting.
const DISRUPTED_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    CacheNotReady(#[from] crate::cache::NeverReady),
    #[error("writing the status of budget {0} failed: {1}")]
    Status(String, #[source] kube::Error),
}

pub struct Context {
    client: Client,
    pods: Store<Pod>,
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    let (pods, pod_events) = crate::cache::with_changes::<Pod>(&client);
    let controller = Controller::new(
        Api::<PodDisruptionBudget>::all(client.clone()),
        watcher::Config::default(),
    );
    let budgets = controller.store();
    controller
        .watches_stream(pod_events, move |pod| {
            let ns = pod.namespace().unwrap_or_default();
            budgets
                .state()
                .iter()
                .filter(|b| b.namespace().as_deref() == Some(ns.as_str()) && selects(b, &pod))
                .map(|b| ObjectRef::from_obj(b.as_ref()))
                .collect::<Vec<_>>()
        })
        .run(reconcile, error_policy, Arc::new(Context { client, pods }))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "disruption reconcile");
            }
        })
        .await;
}

fn selects(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    let Some(selector) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    matches(selector, pod.labels())
}

/// `metav1.LabelSelectorAsSelector(...).Matches`; an empty selector selects everything.
fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let exprs_ok = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    exprs_ok
        && selector
            .match_labels
            .iter()
            .flatten()
            .all(|(k, v)| labels.get(k) == Some(v))
}

/// A count from an int or a percentage of `total`, rounded up; saturating, since the
/// percentage is a user number.
fn scaled(value: &IntOrString, total: i32) -> i32 {
    match value {
        IntOrString::Int(n) => *n,
        IntOrString::String(s) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let count = pct.saturating_mul(i64::from(total)).saturating_add(99) / 100;
            i32::try_from(count).unwrap_or(if count < 0 { i32::MIN } else { i32::MAX })
        }
    }
}

/// The status for `pods` (those the budget selects) at `now`.
fn status(
    pdb: &PodDisruptionBudget,
    pods: &[Arc<Pod>],
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let old = pdb.status.clone().unwrap_or_default();
    // Evicted pods count as disrupted until seen deleting, or for two minutes.
    let disrupted: BTreeMap<String, Time> = old
        .disrupted_pods
        .unwrap_or_default()
        .into_iter()
        .filter(|(name, at)| {
            let pod = pods.iter().find(|p| p.name_any() == *name);
            pod.is_some_and(|p| p.metadata.deletion_timestamp.is_none())
                && now.duration_since(at.0) < DISRUPTED_TIMEOUT
        })
        .collect();
    let expected = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    let healthy = pods
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_none()
                && endpoints::pod_ready(p)
                && !disrupted.contains_key(&p.name_any())
        })
        .count();
    let healthy = i32::try_from(healthy).unwrap_or(i32::MAX);
    let spec = pdb.spec.clone().unwrap_or_default();
    let desired = match (&spec.min_available, &spec.max_unavailable) {
        (Some(min), _) => scaled(min, expected),
        (None, Some(max)) => expected.saturating_sub(scaled(max, expected)).max(0),
        (None, None) => 0,
    };
    let allowed = healthy.saturating_sub(desired).max(0);
    let (cond_status, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    let previous = old
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "DisruptionAllowed");
    let transition = previous
        .as_ref()
        .filter(|c| c.status == cond_status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    PodDisruptionBudgetStatus {
        observed_generation: pdb.metadata.generation,
        disrupted_pods: Some(disrupted).filter(|d| !d.is_empty()),
        disruptions_allowed: allowed,
        current_healthy: healthy,
        desired_healthy: desired,
        expected_pods: expected,
        conditions: Some(vec![Condition {
            type_: "DisruptionAllowed".into(),
            status: cond_status.into(),
            reason: reason.into(),
            message: String::new(),
            last_transition_time: transition,
            observed_generation: pdb.metadata.generation,
        }]),
    }
}

#[tracing::instrument(skip_all, fields(budget = %pdb.name_any(), namespace = pdb.namespace()))]
async fn reconcile(pdb: Arc<PodDisruptionBudget>, ctx: Arc<Context>) -> Result<Action, Error> {
    crate::cache::ready(&ctx.pods).await?;
    let namespace = pdb.namespace().unwrap_or_default();
    let pods: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()) && selects(&pdb, p))
        .collect();
    let desired = status(&pdb, &pods, Timestamp::now());
    // Re-check later while evicted pods are still counted as disrupted.
    let next = if desired.disrupted_pods.is_some() {
        Action::requeue(Duration::from_secs(10))
    } else {
        Action::await_change()
    };
    if pdb.status.as_ref() == Some(&desired) {
        return Ok(next);
    }
    let name = pdb.name_any();
    let api: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = json!({"metadata": {"resourceVersion": pdb.resource_version()}, "status": desired});
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(next),
        // Someone (an eviction) wrote it meanwhile: read again.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            Ok(Action::requeue(Duration::from_millis(100)))
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(Action::await_change()),
        Err(e) => Err(Error::Status(name, e)),
    }
}

fn error_policy(_pdb: Arc<PodDisruptionBudget>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "disruption reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": "db"}},
                "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}))
            .unwrap(),
        )
    }

    fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
        serde_json::from_value(json!({"metadata": {"name": "db", "generation": 1}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn allowed_disruptions_from_min_available_and_max_unavailable() {
        let pods = [pod("a", true), pod("b", true), pod("c", false)];
        let now = Timestamp::UNIX_EPOCH;
        let s = status(
            &pdb(json!({"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}})),
            &pods,
            now,
        );
        assert_eq!(
            (
                s.expected_pods,
                s.current_healthy,
                s.desired_healthy,
                s.disruptions_allowed
            ),
            (3, 2, 1, 1)
        );
        let s = status(&pdb(json!({"minAvailable": "50%"})), &pods, now);
        assert_eq!(s.desired_healthy, 2);
        assert_eq!(s.disruptions_allowed, 0);
        assert_eq!(s.conditions.unwrap()[0].reason, "InsufficientPods");
        let s = status(&pdb(json!({"maxUnavailable": 1})), &pods, now);
        assert_eq!((s.desired_healthy, s.disruptions_allowed), (2, 0));
    }

    #[test]
    fn huge_numbers_saturate() {
        let pods = [pod("a", true)];
        let now = Timestamp::UNIX_EPOCH;
        let s = status(
            &pdb(json!({"minAvailable": "99999999999999999%"})),
            &pods,
            now,
        );
        assert_eq!((s.desired_healthy, s.disruptions_allowed), (i32::MAX, 0));
        let s = status(&pdb(json!({"minAvailable": i32::MIN})), &pods, now);
        assert_eq!(s.disruptions_allowed, i32::MAX);
        let s = status(&pdb(json!({"maxUnavailable": i32::MIN})), &pods, now);
        assert_eq!(s.disruptions_allowed, 0);
    }

    #[test]
    fn an_evicted_pod_is_not_healthy_until_the_timeout() {
        let pods = [pod("a", true), pod("b", true)];
        let mut budget = pdb(json!({"minAvailable": 1}));
        budget.status = Some(PodDisruptionBudgetStatus {
            disrupted_pods: Some([("a".to_string(), Time(Timestamp::UNIX_EPOCH))].into()),
            ..Default::default()
        });
        let s = status(
            &budget,
            &pods,
            Timestamp::UNIX_EPOCH + SignedDuration::from_secs(5),
        );
        assert_eq!((s.current_healthy, s.disruptions_allowed), (1, 0));
        let s = status(
            &budget,
            &pods,
            Timestamp::UNIX_EPOCH + SignedDuration::from_secs(500),
        );
        assert_eq!((s.current_healthy, s.disruptions_allowed), (2, 1));
    }
}
