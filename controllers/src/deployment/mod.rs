//! The Deployment controller: rolls a pod template out through ReplicaSets.
//!
//! As upstream's `DeploymentController` (`pkg/controller/deployment/`), a Deployment owns
//! one ReplicaSet per template it has had, named `<deployment>-<pod-template-hash>` and
//! carrying the hash label in its labels, selector and template, so ReplicaSets of
//! different templates never select each other's pods. The ReplicaSet whose template
//! equals the Deployment's (ignoring the hash) is the *new* one, the others are *old*.
//!
//! One pass ([`reconcile`]) reads, in upstream's `syncDeployment` order:
//!
//! 1. **Observe** the ReplicaSets in the namespace from the cache and claim them: adopt
//!    matching orphans, release owned ones that no longer match.
//! 2. Being deleted → only status ([`sync::sync_status_only`]).
//! 3. Paused state changed → Progressing `DeploymentPaused`/`DeploymentResumed`.
//! 4. Paused, or `spec.replicas` changed (a *scaling event*, seen as a ReplicaSet whose
//!    `desired-replicas` annotation differs) → [`sync::sync`]: scale proportionally, no
//!    rollout.
//! 5. Otherwise roll out: [`rolling`] or [`recreate`]; then [`progress`] writes status
//!    and the Progressing condition (progress deadline).
//!
//! Each pass makes one kind of progress (create the new ReplicaSet / scale it up / scale
//! old ones down / clean up) and ends in a status write; the ReplicaSet and pod events
//! it causes bring the next pass. Revisions and `kubectl rollout undo`: [`rollback`].
//!
//! Events (on the Deployment, source `deployment-controller`): `ScalingReplicaSet`
//! "Scaled up replica set web-7d4b9c6f85 from 0 to 3", `SelectingAll`,
//! `ReplicaSetCreateError`.

pub mod progress;
pub mod recreate;
pub mod rollback;
pub mod rolling;
pub mod sync;
pub mod util;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{Selector, SelectorExt};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::events::Recorder;
use crate::replicaset::controller_of;

/// The name `--controllers` knows this controller by.
pub const NAME: &str = "deployment";
/// The event source, as upstream's.
pub const COMPONENT: &str = "deployment-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("caches never synced")]
    CacheNotReady,
    #[error("invalid selector: {0}")]
    InvalidSelector(String),
    #[error("adopting or releasing replica set {0} failed: {1}")]
    Claim(String, #[source] kube::Error),
    #[error("creating replica set {0} failed: {1}")]
    CreateReplicaSet(String, #[source] kube::Error),
    #[error("updating replica set {0} failed: {1}")]
    UpdateReplicaSet(String, #[source] kube::Error),
    #[error("deleting replica set {0} failed: {1}")]
    DeleteReplicaSet(String, #[source] kube::Error),
    #[error("updating deployment status failed: {0}")]
    UpdateStatus(#[source] kube::Error),
    #[error("updating deployment failed: {0}")]
    UpdateDeployment(#[source] kube::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub struct Context {
    pub client: Client,
    pub replica_sets: Store<ReplicaSet>,
    pub pods: Store<Pod>,
    pub recorder: Recorder,
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    let (replica_sets, rs_events) = crate::cache::with_changes::<ReplicaSet>(&client);
    let (pods, pod_events) = crate::cache::with_changes::<Pod>(&client);
    let controller = Controller::new(
        Api::<Deployment>::all(client.clone()),
        watcher::Config::default(),
    );
    let deployments = controller.store();
    let (for_rs, for_pod) = (deployments.clone(), replica_sets.clone());
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), COMPONENT),
        client,
        replica_sets,
        pods,
    });
    controller
        .watches_stream(rs_events, move |rs| {
            deployments_for_replica_set(&for_rs, &rs)
        })
        .watches_stream(pod_events, move |pod| deployment_for_pod(&for_pod, &pod))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "deployment reconcile");
            }
        })
        .await;
}

/// A ReplicaSet event concerns its controlling Deployment, or for an orphan every
/// Deployment in the namespace selecting it.
fn deployments_for_replica_set(
    store: &Store<Deployment>,
    rs: &ReplicaSet,
) -> Vec<ObjectRef<Deployment>> {
    let namespace = rs.namespace().unwrap_or_default();
    if let Some(owner) = controller_of(&rs.metadata) {
        return if owner.kind == "Deployment" {
            vec![ObjectRef::new(&owner.name).within(&namespace)]
        } else {
            vec![]
        };
    }
    store
        .state()
        .iter()
        .filter(|d| d.namespace().as_deref() == Some(namespace.as_str()))
        .filter(|d| selector_of(d).is_ok_and(|s| !s.selects_all() && s.matches(rs.labels())))
        .map(|d| ObjectRef::from_obj(&**d))
        .collect()
}

/// A pod event concerns the Deployment controlling its ReplicaSet (Recreate waits for old
/// pods to be gone, which only pod events tell).
fn deployment_for_pod(
    replica_sets: &Store<ReplicaSet>,
    pod: &Pod,
) -> Option<ObjectRef<Deployment>> {
    let namespace = pod.namespace().unwrap_or_default();
    let owner = controller_of(&pod.metadata).filter(|o| o.kind == "ReplicaSet")?;
    let rs = replica_sets.get(&ObjectRef::new(&owner.name).within(&namespace))?;
    let deployment = controller_of(&rs.metadata).filter(|o| o.kind == "Deployment")?;
    Some(ObjectRef::new(&deployment.name).within(&namespace))
}

pub(crate) fn selector_of(d: &Deployment) -> Result<Selector> {
    let selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    Selector::try_from(selector).map_err(|e| Error::InvalidSelector(e.to_string()))
}

#[tracing::instrument(skip_all, fields(deployment = %format!("{}/{}", d.namespace().unwrap_or_default(), d.name_any())))]
async fn reconcile(d: Arc<Deployment>, ctx: Arc<Context>) -> Result<Action> {
    crate::cache::ready(&ctx.replica_sets)
        .await
        .map_err(|_| Error::CacheNotReady)?;
    crate::cache::ready(&ctx.pods)
        .await
        .map_err(|_| Error::CacheNotReady)?;
    let mut d = (*d).clone();
    d.metadata.managed_fields = None;

    let selector = selector_of(&d)?;
    if selector.selects_all() {
        ctx.recorder.warning(
            &d,
            "SelectingAll",
            "This deployment is selecting all pods. A non-empty selector is required.",
        );
        let status = d.status.clone().unwrap_or_default();
        if status.observed_generation < d.metadata.generation {
            let mut status = status;
            status.observed_generation = d.metadata.generation;
            progress::write_status(&ctx.client, &d, &status).await?;
        }
        return Ok(Action::await_change());
    }

    // 1. Observe and claim.
    let rs_list = claim_replica_sets(&ctx, &d, &selector).await?;

    // 2–5.
    if d.metadata.deletion_timestamp.is_some() {
        return sync::sync_status_only(&ctx, &mut d, &rs_list).await;
    }
    sync::check_paused_conditions(&ctx, &mut d).await?;
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        return sync::sync(&ctx, &mut d, &rs_list).await;
    }
    if sync::is_scaling_event(&ctx, &mut d, &rs_list).await? {
        return sync::sync(&ctx, &mut d, &rs_list).await;
    }
    if util::is_recreate(&d) {
        recreate::rollout_recreate(&ctx, &mut d, &rs_list).await
    } else {
        rolling::rollout_rolling(&ctx, &mut d, &rs_list).await
    }
}

/// `getReplicaSetsForDeployment` / `ClaimReplicaSets`: the ReplicaSets this Deployment
/// controls after adopting orphans it selects and releasing those it no longer selects.
async fn claim_replica_sets(
    ctx: &Context,
    d: &Deployment,
    selector: &Selector,
) -> Result<Vec<ReplicaSet>> {
    let namespace = d.namespace().unwrap_or_default();
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut claimed = Vec::new();
    let mut may_adopt: Option<bool> = None;
    for rs in ctx
        .replica_sets
        .state()
        .into_iter()
        .filter(|rs| rs.namespace().as_deref() == Some(namespace.as_str()))
    {
        let matches = selector.matches(rs.labels());
        let name = rs.name_any();
        let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
        match controller_of(&rs.metadata) {
            Some(owner) if owner.uid != uid => {}
            Some(_) if matches => claimed.push((*rs).clone()),
            Some(_) => {
                if d.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": uid}], "uid": rs_uid}});
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                    .await
                {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(Error::Claim(name, e)),
                }
            }
            None => {
                if d.metadata.deletion_timestamp.is_some()
                    || !matches
                    || rs.metadata.deletion_timestamp.is_some()
                {
                    continue;
                }
                if may_adopt.is_none() {
                    let fresh = Api::<Deployment>::namespaced(ctx.client.clone(), &namespace)
                        .get_opt(&d.name_any())
                        .await;
                    may_adopt = Some(
                        matches!(fresh, Ok(Some(f)) if f.metadata.uid.as_deref() == Some(uid.as_str()) && f.metadata.deletion_timestamp.is_none()),
                    );
                }
                let Some(owner) = crate::controller_ref(d).filter(|_| may_adopt == Some(true))
                else {
                    continue;
                };
                let patch = json!({"metadata": {"ownerReferences": [owner], "uid": rs_uid}});
                match api
                    .patch(&name, &PatchParams::default(), &Patch::Strategic(&patch))
                    .await
                {
                    Ok(adopted) => claimed.push(adopted),
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(Error::Claim(name, e)),
                }
            }
        }
    }
    Ok(claimed)
}

fn error_policy(_d: Arc<Deployment>, err: &Error, _ctx: Arc<Context>) -> Action {
    // A conflict means the cache is behind a newer write, whose watch event brings the
    // next pass anyway; it is routine, not a failure.
    if let Error::UpdateReplicaSet(_, kube::Error::Api(e)) = err
        && e.code == 409
    {
        tracing::debug!(error = %err, "stale replica set; retrying on fresh data");
        return Action::requeue(Duration::from_millis(100));
    }
    tracing::warn!(error = %err, "deployment reconcile failed; retrying");
    Action::requeue(Duration::from_millis(500))
}

/// How long until `d` must be looked at again although nothing changes.
pub(crate) fn requeue_after(after: Option<Duration>) -> Action {
    match after {
        Some(after) => Action::requeue(after),
        None => Action::await_change(),
    }
}

pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(e) if e.code == 404)
}
