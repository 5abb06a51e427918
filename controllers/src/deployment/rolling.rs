//! The RollingUpdate strategy (upstream `rolling.go`): grow the new ReplicaSet within
//! `maxSurge`, shrink old ones within `maxUnavailable`, one step per pass.
//!
//! Worked example (upstream's): 10 replicas, maxSurge 3, maxUnavailable 2, so at most 13
//! pods and at least 8 available. Pass 1 creates the new ReplicaSet with 3 (13 pods).
//! Pass 2 can't grow it further; old ones may lose `all - minAvailable -
//! newUnavailable` = 13 - 8 - 3 = 2 pods (unhealthy old pods go first), leaving 8 old +
//! 3 new. As new pods become available the new ReplicaSet grows and old ones shrink,
//! never above 13 pods nor below 8 available, until the new one has 10 and old ones 0.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::runtime::controller::Action;

use super::sync::{all_of, cleanup_deployment, get_all_replica_sets_and_sync_revision, scale_replica_set_and_record_event};
use super::util::{self, replicas, rs_replicas};
use super::{Context, Result, progress};

/// `rolloutRolling`: scale up, else scale down, else clean up; then status.
pub async fn rollout_rolling(ctx: &Context, d: &mut Deployment, rs_list: &[ReplicaSet]) -> Result<Action> {
    let (new_rs, old) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, true).await?;
    let Some(mut new_rs) = new_rs else {
        return progress::sync_rollout_status(ctx, d, &old, None).await;
    };
    let all = all_of(&old, Some(&new_rs));

    // Scale up, if we can.
    let (scaled_up, updated) = reconcile_new_replica_set(ctx, &all, &new_rs, d).await?;
    new_rs = updated;
    if scaled_up {
        return progress::sync_rollout_status(ctx, d, &all_of(&old, Some(&new_rs)), Some(&new_rs)).await;
    }

    // Scale down, if we can.
    let (scaled_down, old) = reconcile_old_replica_sets(ctx, &all, &old, &new_rs, d).await?;
    if scaled_down {
        return progress::sync_rollout_status(ctx, d, &all_of(&old, Some(&new_rs)), Some(&new_rs)).await;
    }

    if util::deployment_complete(d, &d.status.clone().unwrap_or_default()) {
        cleanup_deployment(ctx, d, &old).await?;
    }
    progress::sync_rollout_status(ctx, d, &all_of(&old, Some(&new_rs)), Some(&new_rs)).await
}

/// `reconcileNewReplicaSet`.
async fn reconcile_new_replica_set(ctx: &Context, all: &[ReplicaSet], new_rs: &ReplicaSet, d: &Deployment) -> Result<(bool, ReplicaSet)> {
    let want = replicas(d);
    if rs_replicas(new_rs) == want {
        return Ok((false, new_rs.clone()));
    }
    if rs_replicas(new_rs) > want {
        return scale_replica_set_and_record_event(ctx, new_rs, want, d).await;
    }
    let count = util::new_rs_new_replicas(d, all, new_rs);
    scale_replica_set_and_record_event(ctx, new_rs, count, d).await
}

/// `reconcileOldReplicaSets`: returns whether anything was scaled down, and the old
/// ReplicaSets as now sized.
async fn reconcile_old_replica_sets(
    ctx: &Context,
    all: &[ReplicaSet],
    old: &[ReplicaSet],
    new_rs: &ReplicaSet,
    d: &Deployment,
) -> Result<(bool, Vec<ReplicaSet>)> {
    let active_old = util::active(old);
    if util::replica_count(&active_old) == 0 {
        return Ok((false, old.to_vec()));
    }
    let all_pods = util::replica_count(all);
    let min_available = replicas(d) - util::max_unavailable(d);
    let new_unavailable = rs_replicas(new_rs) - util::available(new_rs);
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return Ok((false, old.to_vec()));
    }
    // Unhealthy old pods first: removing them costs no availability.
    let (cleaned, cleanup_count) = cleanup_unhealthy_replicas(ctx, active_old, d, max_scaled_down).await?;
    let all_now = all_of(&cleaned, Some(new_rs));
    let (scaled, scaled_count) = scale_down_old_replica_sets(ctx, &all_now, cleaned, d).await?;
    // Old ReplicaSets not active were not touched; keep them for cleanup.
    let mut result: Vec<ReplicaSet> = old.iter().filter(|rs| rs_replicas(rs) == 0).cloned().collect();
    result.extend(scaled);
    Ok((cleanup_count + scaled_count > 0, result))
}

/// `cleanupUnhealthyReplicas`: shrink old ReplicaSets by their unavailable pods, oldest
/// first, at most `max_cleanup` in all.
async fn cleanup_unhealthy_replicas(ctx: &Context, mut old: Vec<ReplicaSet>, d: &Deployment, max_cleanup: i32) -> Result<(Vec<ReplicaSet>, i32)> {
    old.sort_by(util::by_creation);
    let mut total = 0;
    for rs in old.iter_mut() {
        if total >= max_cleanup {
            break;
        }
        let size = rs_replicas(rs);
        if size == 0 || size == util::available(rs) {
            continue;
        }
        let count = (max_cleanup - total).min(size - util::available(rs));
        let (_, updated) = scale_replica_set_and_record_event(ctx, rs, size - count, d).await?;
        *rs = updated;
        total += count;
    }
    Ok((old, total))
}

/// `scaleDownOldReplicaSetsForRollingUpdate`: shrink old ReplicaSets, oldest first, by
/// as many as are available above `replicas - maxUnavailable`.
async fn scale_down_old_replica_sets(ctx: &Context, all: &[ReplicaSet], mut old: Vec<ReplicaSet>, d: &Deployment) -> Result<(Vec<ReplicaSet>, i32)> {
    let min_available = replicas(d) - util::max_unavailable(d);
    let available = util::available_replica_count(all);
    if available <= min_available {
        return Ok((old, 0));
    }
    old.sort_by(util::by_creation);
    let target = available - min_available;
    let mut total = 0;
    for rs in old.iter_mut() {
        if total >= target {
            break;
        }
        let size = rs_replicas(rs);
        if size == 0 {
            continue;
        }
        let count = size.min(target - total);
        let (_, updated) = scale_replica_set_and_record_event(ctx, rs, size - count, d).await?;
        *rs = updated;
        total += count;
    }
    Ok((old, total))
}
