//! The ReplicaSet controller: keeps `spec.replicas` pods matching the selector alive.
//!
//! As upstream's `ReplicaSetController` (`pkg/controller/replicaset/replica_set.go`), one
//! pass over a ReplicaSet reads:
//!
//! 1. **Observe** the active pods (not terminating, not Succeeded/Failed) in its namespace
//!    from the pod cache.
//! 2. **Expectations**: if creates or deletes from an earlier pass are not in the cache yet,
//!    only status is written ([`crate::expectations`]).
//! 3. **Claim**: orphans matching the selector are adopted (a controller `ownerReference`
//!    patched on), owned pods that no longer match are released.
//! 4. **Diff**: `pods - replicas`. Too few: create from the template with
//!    `generateName: <rs>-`, in slow-start batches of 1, 2, 4, ... (at most 500 a pass).
//!    Too many: delete the lowest-ranked ([`rank`]): unscheduled, pending, not ready,
//!    lower `controller.kubernetes.io/pod-deletion-cost`, doubled up on a node, ready for
//!    less time, restarted more, newer.
//! 5. **Status**: `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas`
//!    (ready for `minReadySeconds`), `observedGeneration`, and a `ReplicaFailure`
//!    condition while creating or deleting fails.
//!
//! Events: `SuccessfulCreate` "Created pod: NAME", `SuccessfulDelete` "Deleted pod: NAME",
//! and the `FailedCreate`/`FailedDelete` warnings.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::join_all;
use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;

use crate::events::Recorder;
use crate::expectations::{Expectations, Observed};

/// The name `--controllers` knows this controller by.
pub const NAME: &str = "replicaset";
/// The event source, as upstream's.
pub const COMPONENT: &str = "replicaset-controller";
/// At most this many creates or deletes in one pass (upstream `BurstReplicas`).
pub const BURST_REPLICAS: usize = 500;
/// `pod.Annotations` key of the deletion cost (`controller.kubernetes.io/pod-deletion-cost`).
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("pod cache never synced")]
    CacheNotReady,
    #[error("invalid selector: {0}")]
    InvalidSelector(String),
    #[error("adopting or releasing pod {0} failed: {1}")]
    Claim(String, #[source] kube::Error),
    #[error("{0}")]
    Manage(String),
    #[error("updating status failed: {0}")]
    UpdateStatus(#[source] kube::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub struct Context {
    pub client: Client,
    pub pods: Store<Pod>,
    pub replica_sets: Store<ReplicaSet>,
    pub expectations: Expectations,
    pub recorder: Recorder,
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    let (pods, pod_events) = crate::cache::with_changes::<Pod>(&client);
    let controller = Controller::new(
        Api::<ReplicaSet>::all(client.clone()),
        watcher::Config::default(),
    );
    let replica_sets = controller.store();
    let mapper_store = replica_sets.clone();
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), COMPONENT),
        client,
        pods,
        replica_sets,
        expectations: Expectations::new(),
    });
    controller
        .watches_stream(pod_events, move |pod| {
            replica_sets_for_pod(&mapper_store, &pod)
        })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "replicaset reconcile");
            }
        })
        .await;
}

/// Which ReplicaSets a pod event concerns: its controller, or for an orphan every
/// ReplicaSet in its namespace whose selector matches (they may adopt it).
fn replica_sets_for_pod(store: &Store<ReplicaSet>, pod: &Pod) -> Vec<ObjectRef<ReplicaSet>> {
    let namespace = pod.namespace().unwrap_or_default();
    if let Some(owner) = controller_of(&pod.metadata) {
        return if owner.kind == "ReplicaSet" {
            vec![ObjectRef::new(&owner.name).within(&namespace)]
        } else {
            vec![]
        };
    }
    store
        .state()
        .iter()
        .filter(|rs| rs.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|rs| selector_of(rs).is_ok_and(|s| !s.selects_all() && s.matches(pod.labels())))
        .map(|rs| ObjectRef::from_obj(&**rs))
        .collect()
}

fn selector_of(rs: &ReplicaSet) -> Result<Selector> {
    let selector = rs
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    Selector::try_from(selector).map_err(|e| Error::InvalidSelector(e.to_string()))
}

/// The controller `ownerReference`, if any (`metav1.GetControllerOf`).
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|r| r.controller == Some(true))
}

fn key_of<K: Resource>(obj: &K) -> String {
    format!(
        "{}/{}",
        obj.meta().namespace.as_deref().unwrap_or_default(),
        obj.meta().name.as_deref().unwrap_or_default()
    )
}

#[tracing::instrument(skip_all, fields(replicaset = %key_of(&*rs)))]
async fn reconcile(rs: Arc<ReplicaSet>, ctx: Arc<Context>) -> Result<Action> {
    crate::cache::ready(&ctx.pods)
        .await
        .map_err(|_| Error::CacheNotReady)?;
    let key = key_of(&*rs);
    let namespace = rs.namespace().unwrap_or_default();
    let now = Timestamp::now();

    // 1. Observe.
    let selector = selector_of(&rs)?;
    let in_namespace: Vec<Arc<Pod>> = ctx
        .pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()))
        .collect();
    let terminating = count_terminating(&rs, &selector, &in_namespace);
    let pods: Vec<Arc<Pod>> = in_namespace.into_iter().filter(|p| is_active(p)).collect();

    // 2. Expectations: the cache must show our own earlier writes before we act on it.
    let observe = |name: &str| observe_pod(&ctx.pods, &namespace, name);
    let needs_sync = ctx.expectations.satisfied(&key, observe);

    // 3. Claim: adopt matching orphans, release owned pods that no longer match.
    let pods = claim_pods(&ctx, &rs, &selector, pods).await?;

    // 4. Diff and act.
    let manage_error = if needs_sync && rs.metadata.deletion_timestamp.is_none() {
        manage_replicas(&ctx, &rs, &key, &pods).await.err()
    } else {
        None
    };

    // 5. Status, always.
    let status = calculate_status(&rs, &pods, terminating, manage_error.as_ref(), now);
    if rs.status.as_ref() != Some(&status) {
        update_status(&ctx.client, &rs, &status).await?;
    }
    if let Some(err) = manage_error {
        return Err(err);
    }
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    if min_ready > 0
        && status.ready_replicas.unwrap_or(0) == replicas
        && status.available_replicas.unwrap_or(0) != replicas
    {
        // Pods become available by time passing, which no watch event reports.
        return Ok(Action::requeue(
            Duration::from_secs(min_ready.max(0) as u64),
        ));
    }
    if !needs_sync {
        return Ok(Action::requeue(crate::expectations::TIMEOUT));
    }
    Ok(Action::await_change())
}

fn observe_pod(pods: &Store<Pod>, namespace: &str, name: &str) -> Observed {
    match pods.get(&ObjectRef::new(name).within(namespace)) {
        None => Observed::Absent,
        Some(p) if p.metadata.deletion_timestamp.is_some() => Observed::Terminating,
        Some(_) => Observed::Present,
    }
}

/// `FilterTerminatingPods` + `FilterClaimedPods`: our pods being deleted but not yet
/// finished (`status.terminatingReplicas`, on by default since 1.35).
fn count_terminating(rs: &ReplicaSet, selector: &Selector, pods: &[Arc<Pod>]) -> i32 {
    let ours = |p: &Pod| {
        controller_of(&p.metadata).is_some_and(|o| Some(&o.uid) == rs.metadata.uid.as_ref())
            && selector.matches(p.labels())
    };
    let finished = |p: &Pod| {
        matches!(
            p.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        )
    };
    let count = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && !finished(p) && ours(p))
        .count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// `controller.IsPodActive`: not terminal, not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    phase != Some("Succeeded")
        && phase != Some("Failed")
        && pod.metadata.deletion_timestamp.is_none()
}

/// The pod's `Ready` condition, if true.
fn ready_condition(pod: &Pod) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")
}

/// `podutil.IsPodReady`.
pub fn is_ready(pod: &Pod) -> bool {
    ready_condition(pod).is_some()
}

/// `podutil.IsPodAvailable`: ready for at least `min_ready_seconds`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(ready) = ready_condition(pod) else {
        return false;
    };
    if min_ready_seconds <= 0 {
        return true;
    }
    match &ready.last_transition_time {
        Some(Time(t)) => {
            t.as_nanosecond() + i128::from(min_ready_seconds) * 1_000_000_000 < now.as_nanosecond()
        }
        None => false,
    }
}

async fn claim_pods(
    ctx: &Context,
    rs: &ReplicaSet,
    selector: &Selector,
    pods: Vec<Arc<Pod>>,
) -> Result<Vec<Arc<Pod>>> {
    let uid = rs.metadata.uid.clone().unwrap_or_default();
    let namespace = rs.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut claimed = Vec::new();
    let mut may_adopt: Option<bool> = None;
    for pod in pods {
        let matches = !selector.selects_all() && selector.matches(pod.labels());
        let pod_name = pod.name_any();
        let pod_uid = pod.metadata.uid.clone().unwrap_or_default();
        match controller_of(&pod.metadata) {
            Some(owner) if owner.uid != uid => {}
            Some(_) if matches => claimed.push(pod),
            Some(_) => {
                // Owned but no longer selected: release, unless we are being deleted.
                if rs.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": pod_uid}});
                match api
                    .patch(
                        &pod_name,
                        &PatchParams::default(),
                        &Patch::Strategic(&patch),
                    )
                    .await
                {
                    Ok(_) => tracing::info!(pod = pod_name, "released pod"),
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(Error::Claim(pod_name, e)),
                }
            }
            None => {
                if rs.metadata.deletion_timestamp.is_some()
                    || !matches
                    || pod.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                // Recheck with a live read that we still exist before adopting anything.
                if may_adopt.is_none() {
                    let fresh = Api::<ReplicaSet>::namespaced(ctx.client.clone(), &namespace)
                        .get_opt(&rs.name_any())
                        .await;
                    may_adopt = Some(
                        matches!(fresh, Ok(Some(f)) if f.metadata.uid.as_deref() == Some(uid.as_str()) && f.metadata.deletion_timestamp.is_none()),
                    );
                }
                if may_adopt != Some(true) {
                    continue;
                }
                let Some(owner) = crate::controller_ref(rs) else {
                    continue;
                };
                let patch = json!({"metadata": {"ownerReferences": [owner], "uid": pod_uid}});
                match api
                    .patch(
                        &pod_name,
                        &PatchParams::default(),
                        &Patch::Strategic(&patch),
                    )
                    .await
                {
                    Ok(adopted) => {
                        tracing::info!(pod = pod_name, "adopted pod");
                        claimed.push(Arc::new(adopted));
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => return Err(Error::Claim(pod_name, e)),
                }
            }
        }
    }
    Ok(claimed)
}

/// Create or delete pods so their number meets `spec.replicas`.
async fn manage_replicas(
    ctx: &Context,
    rs: &ReplicaSet,
    key: &str,
    pods: &[Arc<Pod>],
) -> Result<()> {
    let replicas = rs
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
        .max(0) as usize;
    let namespace = rs.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    if pods.len() < replicas {
        let count = (replicas - pods.len()).min(BURST_REPLICAS);
        let template = pod_from_template(rs);
        let mut remaining = count;
        let mut batch = 1;
        while remaining > 0 {
            let size = batch.min(remaining);
            let post = PostParams::default();
            let results = join_all((0..size).map(|_| api.create(&post, &template))).await;
            let mut created = Vec::new();
            let mut failure = None;
            for result in results {
                match result {
                    Ok(pod) => {
                        let name = pod.name_any();
                        ctx.recorder
                            .normal(rs, "SuccessfulCreate", format!("Created pod: {name}"));
                        created.push(name);
                    }
                    // Every create fails in a namespace being deleted: nothing to report.
                    Err(err) if namespace_terminating(&err) => {}
                    Err(err) => failure = Some(api_message(&err)),
                }
            }
            ctx.expectations.expect_creations(key, created);
            if let Some(message) = failure {
                ctx.recorder
                    .warning(rs, "FailedCreate", format!("Error creating: {message}"));
                return Err(Error::Manage(message));
            }
            remaining -= size;
            batch *= 2;
        }
        tracing::info!(created = count, "created pods");
    } else if pods.len() > replicas {
        let count = (pods.len() - replicas).min(BURST_REPLICAS);
        let related = related_pods(ctx, rs);
        let victims = pods_to_delete(pods, &related, count, Timestamp::now());
        let names: Vec<String> = victims.iter().map(|p| p.name_any()).collect();
        ctx.expectations.expect_deletions(key, names.clone());
        let delete = DeleteParams::default();
        let results = join_all(names.iter().map(|name| api.delete(name, &delete))).await;
        let mut failure = None;
        for (name, result) in names.iter().zip(results) {
            match result {
                Ok(_) => {
                    ctx.recorder
                        .normal(rs, "SuccessfulDelete", format!("Deleted pod: {name}"))
                }
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(err) => failure = Some(api_message(&err)),
            }
        }
        if let Some(message) = failure {
            ctx.recorder
                .warning(rs, "FailedDelete", format!("Error deleting: {message}"));
            return Err(Error::Manage(message));
        }
        tracing::info!(deleted = count, "deleted pods");
    }
    Ok(())
}

/// The API server refused because the namespace is being deleted (a `NamespaceTerminating`
/// cause, upstream `v1.NamespaceTerminatingCause`).
fn namespace_terminating(err: &kube::Error) -> bool {
    let kube::Error::Api(status) = err else {
        return false;
    };
    status
        .details
        .as_ref()
        .is_some_and(|d| d.causes.iter().any(|c| c.reason == "NamespaceTerminating"))
}

fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// `controller.GetPodFromTemplate`: the pod the ReplicaSet creates.
fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = rs
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-", rs.name_any())),
            namespace: rs.namespace(),
            labels: meta.labels,
            annotations: meta.annotations,
            finalizers: meta.finalizers,
            owner_references: crate::controller_ref(rs).map(|o| vec![o]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

/// `getIndirectlyRelatedPods`: the pods selected by this ReplicaSet or by a sibling
/// (a ReplicaSet with the same controller, e.g. one Deployment's); the ranking counts
/// them per node. A ReplicaSet without a controller has none, so none of its pods ranks
/// as doubled up.
fn related_pods(ctx: &Context, rs: &ReplicaSet) -> Vec<Arc<Pod>> {
    let Some(owner) = controller_of(&rs.metadata) else {
        return Vec::new();
    };
    let namespace = rs.namespace().unwrap_or_default();
    let selectors: Vec<Selector> = ctx
        .replica_sets
        .state()
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|s| controller_of(&s.metadata).is_some_and(|o| o.uid == owner.uid))
        .filter_map(|s| selector_of(s).ok())
        .collect();
    ctx.pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|p| selectors.iter().any(|s| s.matches(p.labels())))
        .collect()
}

/// `getPodsToDelete`: the `count` lowest-ranked pods.
pub fn pods_to_delete(
    pods: &[Arc<Pod>],
    related: &[Arc<Pod>],
    count: usize,
    now: Timestamp,
) -> Vec<Arc<Pod>> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related.iter().filter(|p| is_active(p)) {
        *on_node.entry(node_name(p)).or_default() += 1;
    }
    let mut ranked: Vec<(RankKey, Arc<Pod>)> = pods
        .iter()
        .map(|p| {
            (
                rank(p, on_node.get(node_name(p)).copied().unwrap_or(0), now),
                p.clone(),
            )
        })
        .collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0));
    ranked.into_iter().take(count).map(|(_, p)| p).collect()
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn phase_ordinal(pod: &Pod) -> u8 {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Unknown") => 1,
        Some("Running") => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Pod) -> i32 {
    pod.annotations()
        .get(POD_DELETION_COST)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `maxContainerRestarts`: of the regular containers (init containers, which ran
/// before, do not count).
fn max_restarts(pod: &Pod) -> i32 {
    let statuses = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref());
    statuses
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .max()
        .unwrap_or(0)
}

/// `int(log2(now - t))` (`LogarithmicScaleDown`, on by default upstream), so pods of
/// similar age rank alike; -1 for `t` not in the past, and -2 for no time at all, which
/// upstream's `afterOrZero` puts first.
fn log_bucket(t: Option<Timestamp>, now: Timestamp) -> i64 {
    let Some(t) = t else { return -2 };
    let nanos = now.as_nanosecond() - t.as_nanosecond();
    if nanos <= 0 {
        -1
    } else {
        (nanos as f64).log2() as i64
    }
}

/// Where a pod goes in the deletion order; smaller goes first.
pub type RankKey = (
    bool,
    u8,
    bool,
    i32,
    Reverse<usize>,
    i64,
    Reverse<i32>,
    i64,
    String,
);

/// `controller.ActivePodsWithRanks` as a sort key, so the order is total (upstream's
/// `Less` is not: equal times fall through to the next rule, close ones go by UID):
///
/// 1. unscheduled < scheduled; 2. Pending < Unknown < Running; 3. not ready < ready;
/// 4. lower `pod-deletion-cost` first; 5. more related pods on the same node
///    (`doubled_up`) first; 6. ready more recently first (log2 buckets of the time since);
/// 7. more container restarts first; 8. created more recently first (log2 buckets);
/// 9. the UID.
pub fn rank(pod: &Pod, doubled_up: usize, now: Timestamp) -> RankKey {
    let ready = is_ready(pod);
    let ready_since = ready_condition(pod)
        .and_then(|c| c.last_transition_time.as_ref())
        .map(|t| t.0);
    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
    (
        !node_name(pod).is_empty(),
        phase_ordinal(pod),
        ready,
        deletion_cost(pod),
        Reverse(doubled_up),
        if ready {
            log_bucket(ready_since, now)
        } else {
            0
        },
        Reverse(max_restarts(pod)),
        log_bucket(created, now),
        pod.metadata.uid.clone().unwrap_or_default(),
    )
}

/// `calculateStatus`.
fn calculate_status(
    rs: &ReplicaSet,
    pods: &[Arc<Pod>],
    terminating: i32,
    manage_error: Option<&Error>,
    now: Timestamp,
) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let template_labels: BTreeMap<String, String> = spec
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1);
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            template_labels
                .iter()
                .all(|(k, v)| p.labels().get(k) == Some(v))
        })
        .count() as i32;
    let ready = pods.iter().filter(|p| is_ready(p)).count() as i32;
    let available = pods
        .iter()
        .filter(|p| is_available(p, min_ready, now))
        .count() as i32;

    let old = rs.status.clone().unwrap_or_default();
    let mut conditions = old.conditions.clone().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_error {
        Some(err) if !has_failure => {
            let reason = if (pods.len() as i32) < replicas {
                "FailedCreate"
            } else {
                "FailedDelete"
            };
            conditions.push(ReplicaSetCondition {
                type_: "ReplicaFailure".into(),
                status: "True".into(),
                reason: Some(reason.into()),
                message: Some(err.to_string()),
                last_transition_time: Some(Time(now)),
            });
        }
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    let nonzero = |n: i32| (n != 0).then_some(n);
    ReplicaSetStatus {
        replicas: pods.len() as i32,
        fully_labeled_replicas: nonzero(fully_labeled),
        ready_replicas: nonzero(ready),
        available_replicas: nonzero(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: Some(terminating),
    }
}

/// Write the status with a merge patch; zero counts and no conditions are written as
/// `null` so they are removed (upstream omits them).
async fn update_status(client: &Client, rs: &ReplicaSet, status: &ReplicaSetStatus) -> Result<()> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), &rs.namespace().unwrap_or_default());
    let patch = json!({"status": {
        "replicas": status.replicas,
        "fullyLabeledReplicas": status.fully_labeled_replicas,
        "readyReplicas": status.ready_replicas,
        "availableReplicas": status.available_replicas,
        "observedGeneration": status.observed_generation,
        "conditions": status.conditions,
        "terminatingReplicas": status.terminating_replicas,
    }});
    match api
        .patch_status(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(Error::UpdateStatus(e)),
    }
}

fn error_policy(_rs: Arc<ReplicaSet>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "replicaset reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodSpec, PodStatus};

    fn pod(name: &str) -> PodBuilder {
        PodBuilder(Pod {
            metadata: ObjectMeta {
                name: Some(name.into()),
                uid: Some(name.into()),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            status: Some(PodStatus {
                phase: Some("Pending".into()),
                ..Default::default()
            }),
        })
    }

    struct PodBuilder(Pod);

    impl PodBuilder {
        fn node(mut self, n: &str) -> Self {
            self.0.spec.get_or_insert_default().node_name = Some(n.into());
            self
        }
        fn phase(mut self, p: &str) -> Self {
            self.0.status.get_or_insert_default().phase = Some(p.into());
            self
        }
        fn ready_at(mut self, secs: i64) -> Self {
            let cond = PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(ts(secs))),
                ..Default::default()
            };
            self.0.status.get_or_insert_default().conditions = Some(vec![cond]);
            self
        }
        fn created(mut self, secs: i64) -> Self {
            self.0.metadata.creation_timestamp = Some(Time(ts(secs)));
            self
        }
        fn cost(mut self, c: i32) -> Self {
            self.0.metadata.annotations =
                Some([(POD_DELETION_COST.to_string(), c.to_string())].into());
            self
        }
        fn obj(self) -> Arc<Pod> {
            Arc::new(self.0)
        }
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn victims(pods: &[Arc<Pod>], related: &[Arc<Pod>], n: usize) -> Vec<String> {
        pods_to_delete(pods, related, n, ts(100_000))
            .iter()
            .map(|p| p.name_any())
            .collect()
    }

    #[test]
    fn deletion_ranking_follows_upstream_order() {
        let running_ready =
            |name: &str, node: &str| pod(name).node(node).phase("Running").ready_at(0).created(0);
        let cases: Vec<(&str, Vec<Arc<Pod>>, &str)> = vec![
            (
                "unscheduled first",
                vec![running_ready("a", "n1").obj(), pod("b").obj()],
                "b",
            ),
            (
                "pending before running",
                vec![running_ready("a", "n1").obj(), pod("b").node("n1").obj()],
                "b",
            ),
            (
                "unknown before running",
                vec![
                    running_ready("a", "n1").obj(),
                    pod("b").node("n1").phase("Unknown").obj(),
                ],
                "b",
            ),
            (
                "not ready before ready",
                vec![
                    running_ready("a", "n1").obj(),
                    pod("b").node("n1").phase("Running").obj(),
                ],
                "b",
            ),
            (
                "lower deletion cost first",
                vec![
                    running_ready("a", "n1").cost(5).obj(),
                    running_ready("b", "n1").cost(1).obj(),
                ],
                "b",
            ),
            (
                "ready more recently first (different log2 bucket)",
                vec![
                    running_ready("a", "n1").obj(),
                    pod("b")
                        .node("n1")
                        .phase("Running")
                        .ready_at(99_990)
                        .created(0)
                        .obj(),
                ],
                "b",
            ),
            (
                "newer first",
                vec![
                    pod("a").node("n1").phase("Running").created(0).obj(),
                    pod("b").node("n1").phase("Running").created(99_000).obj(),
                ],
                "b",
            ),
        ];
        for (what, pods, want) in cases {
            assert_eq!(victims(&pods, &pods, 1), vec![want.to_string()], "{what}");
        }
    }

    #[test]
    fn doubled_up_pods_go_first() {
        let a = pod("a")
            .node("n1")
            .phase("Running")
            .ready_at(0)
            .created(0)
            .obj();
        let b = pod("b")
            .node("n2")
            .phase("Running")
            .ready_at(0)
            .created(0)
            .obj();
        let c = pod("c")
            .node("n2")
            .phase("Running")
            .ready_at(0)
            .created(0)
            .obj();
        let pods = vec![a.clone(), b.clone()];
        let related = vec![a, b, c];
        assert_eq!(victims(&pods, &related, 1), vec!["b"]);
    }

    #[test]
    fn same_bucket_ties_break_by_uid() {
        let a = pod("b-pod").node("n1").phase("Running").created(100).obj();
        let b = pod("a-pod").node("n1").phase("Running").created(101).obj();
        assert_eq!(victims(&[a, b], &[], 1), vec!["a-pod"]);
    }

    /// Upstream's `Less` is not transitive (equal ready times fall through to restarts,
    /// different ones in the same log2 bucket go by UID), which Rust's sort may answer
    /// with a panic. The ranking here is a total order: sorting any mix never panics and
    /// always gives the same victims.
    #[test]
    fn ranking_is_a_total_order() {
        let mut seed: u64 = 42;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let mut pods = Vec::new();
        for i in 0..400 {
            let mut b = pod(&format!("p{i:03}"))
                .node(if next(4) == 0 { "" } else { "n1" })
                .phase("Running")
                .created(next(3) as i64 * 1000);
            b.0.metadata.uid = Some(format!("{:08x}", next(1 << 30)));
            if next(4) != 0 {
                b = b.ready_at(99_000 + next(3) as i64);
            }
            b.0.status.get_or_insert_default().container_statuses =
                Some(vec![k8s_openapi::api::core::v1::ContainerStatus {
                    restart_count: next(2) as i32,
                    ..Default::default()
                }]);
            pods.push(b.obj());
        }
        let first = victims(&pods, &pods, 100);
        pods.reverse();
        assert_eq!(victims(&pods, &pods, 100), first);
    }

    #[test]
    fn available_honours_min_ready_seconds() {
        let p = pod("a").phase("Running").ready_at(0).obj();
        assert!(is_available(&p, 0, ts(1)));
        assert!(!is_available(&p, 10, ts(5)));
        assert!(is_available(&p, 10, ts(11)));
        assert!(!is_available(&pod("b").obj(), 0, ts(1)));
    }

    #[test]
    fn inactive_pods_do_not_count() {
        assert!(is_active(&pod("a").obj()));
        assert!(!is_active(&pod("a").phase("Succeeded").obj()));
        assert!(!is_active(&pod("a").phase("Failed").obj()));
    }
}
