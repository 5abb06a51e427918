//! The Recreate strategy (upstream `recreate.go`): scale every old ReplicaSet to zero,
//! wait until none of their pods is left running, then create and scale up the new one.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::sync::{
    all_of, cleanup_deployment, get_all_replica_sets_and_sync_revision,
    scale_replica_set_and_record_event,
};
use super::util::{self, replicas};
use super::{Context, Result, progress};
use crate::replicaset::controller_of;

/// `rolloutRecreate`.
pub async fn rollout_recreate(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: &[ReplicaSet],
) -> Result<Action> {
    let (mut new_rs, mut old) =
        get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false).await?;

    // Scale down old ReplicaSets.
    let mut scaled_down = false;
    for rs in util::active(&old) {
        let (scaled, _) = scale_replica_set_and_record_event(ctx, &rs, 0, d).await?;
        scaled_down |= scaled;
    }
    if scaled_down {
        return progress::sync_rollout_status(
            ctx,
            d,
            &all_of(&old, new_rs.as_ref()),
            new_rs.as_ref(),
        )
        .await;
    }

    // Wait until no old pod is running.
    if old_pods_running(ctx, new_rs.as_ref(), &old) {
        return progress::sync_rollout_status(
            ctx,
            d,
            &all_of(&old, new_rs.as_ref()),
            new_rs.as_ref(),
        )
        .await;
    }

    if new_rs.is_none() {
        (new_rs, old) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, true).await?;
    }
    if let Some(rs) = new_rs.as_ref() {
        let (_, updated) = scale_replica_set_and_record_event(ctx, rs, replicas(d), d).await?;
        new_rs = Some(updated);
    }
    if util::deployment_complete(d, &d.status.clone().unwrap_or_default()) {
        cleanup_deployment(ctx, d, &old).await?;
    }
    progress::sync_rollout_status(ctx, d, &all_of(&old, new_rs.as_ref()), new_rs.as_ref()).await
}

/// `oldPodsRunning`: any old ReplicaSet still reports pods, or any pod of one is not
/// Succeeded/Failed (terminating pods count until they are gone).
fn old_pods_running(ctx: &Context, new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> bool {
    if util::actual_replica_count(old) > 0 {
        return true;
    }
    let namespace = old
        .first()
        .and_then(|rs| rs.namespace())
        .unwrap_or_default();
    let old_uids: Vec<&str> = old
        .iter()
        .filter(|rs| new_rs.is_none_or(|n| n.metadata.uid != rs.metadata.uid))
        .filter_map(|rs| rs.metadata.uid.as_deref())
        .collect();
    ctx.pods.state().iter().any(|pod| {
        pod.namespace().as_deref() == Some(namespace.as_str())
            && controller_of(&pod.metadata).is_some_and(|o| old_uids.contains(&o.uid.as_str()))
            && !matches!(
                pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            )
    })
}
