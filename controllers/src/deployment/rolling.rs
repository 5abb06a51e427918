//! The RollingUpdate strategy (upstream `rolling.go`): grow the new ReplicaSet within
//! `maxSurge`, shrink old ones within `maxUnavailable`, one step per pass.
//!
//! Worked example (upstream's): 10 replicas, maxSurge 3, maxUnavailable 2, so at most 13
//! pods and at least 8 available. Pass 1 creates the new ReplicaSet with 3 (13 pods).
//! Pass 2 can't grow it further; old ones may lose `all - minAvailable -
//! newUnavailable` = 13 - 8 - 3 = 2 pods (unhealthy old pods go first), leaving 8 old +
//! 3 new. As new pods become available the new ReplicaSet grows and old ones shrink,
//! never above 13 pods nor below 8 available, until the new one has 10 and old ones 0.
//!
//! The arithmetic is pure ([`cleanup_unhealthy_sizes`], [`scale_down_sizes`]); the
//! ReplicaSets' `availableReplicas` comes from a cache that may lag their just-lowered
//! `spec.replicas`. A plan that would then *grow* an old ReplicaSet is refused, as
//! upstream refuses it ("got invalid request to scale down"), and the pass scales nothing
//! down.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::runtime::controller::Action;

use super::sync::{
    all_of, cleanup_deployment, get_all_replica_sets_and_sync_revision,
    scale_replica_set_and_record_event,
};
use super::util::{self, replicas, rs_replicas};
use super::{Context, Result, progress};

/// `rolloutRolling`: scale up, else scale down, else clean up; then status.
pub async fn rollout_rolling(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: &[ReplicaSet],
) -> Result<Action> {
    let (new_rs, old) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, true).await?;
    let Some(mut new_rs) = new_rs else {
        return progress::sync_rollout_status(ctx, d, &old, None).await;
    };
    let all = all_of(&old, Some(&new_rs));

    // Scale up, if we can.
    let (scaled_up, updated) = reconcile_new_replica_set(ctx, &all, &new_rs, d).await?;
    new_rs = updated;
    if scaled_up {
        return progress::sync_rollout_status(ctx, d, &all_of(&old, Some(&new_rs)), Some(&new_rs))
            .await;
    }

    // Scale down, if we can.
    let (scaled_down, old) = reconcile_old_replica_sets(ctx, &all, &old, &new_rs, d).await?;
    if scaled_down {
        return progress::sync_rollout_status(ctx, d, &all_of(&old, Some(&new_rs)), Some(&new_rs))
            .await;
    }

    if util::deployment_complete(d, &d.status.clone().unwrap_or_default()) {
        cleanup_deployment(ctx, d, &old).await?;
    }
    progress::sync_rollout_status(ctx, d, &all_of(&old, Some(&new_rs)), Some(&new_rs)).await
}

/// `reconcileNewReplicaSet`.
async fn reconcile_new_replica_set(
    ctx: &Context,
    all: &[ReplicaSet],
    new_rs: &ReplicaSet,
    d: &Deployment,
) -> Result<(bool, ReplicaSet)> {
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
    let mut active_old = util::active(old);
    if util::replica_count(&active_old) == 0 {
        return Ok((false, old.to_vec()));
    }
    let min_available = util::min_available(d);
    let new_unavailable = rs_replicas(new_rs).saturating_sub(util::available(new_rs));
    let max_scaled_down = util::replica_count(all)
        .saturating_sub(min_available)
        .saturating_sub(new_unavailable);
    if max_scaled_down <= 0 {
        return Ok((false, old.to_vec()));
    }

    // Unhealthy old pods first: removing them costs no availability. Oldest first.
    active_old.sort_by(util::by_creation);
    let Some(cleaned) = cleanup_unhealthy_sizes(&active_old, max_scaled_down) else {
        // Upstream returns "no scale-down" (not an error) and waits for fresh status.
        tracing::info!(
            "a cached availableReplicas exceeds spec.replicas; not scaling old replica sets down this pass"
        );
        return Ok((false, old.to_vec()));
    };
    // Then available ones, down to `replicas - maxUnavailable` available in all.
    let available = util::available_replica_count(&all_of(&active_old, Some(new_rs)));
    let sizes = scale_down_sizes(&cleaned, available, min_available);

    let mut scaled_down = false;
    let mut result: Vec<ReplicaSet> = old
        .iter()
        .filter(|rs| rs_replicas(rs) == 0)
        .cloned()
        .collect();
    for (rs, size) in active_old.iter().zip(sizes) {
        let (scaled, updated) = scale_replica_set_and_record_event(ctx, rs, size, d).await?;
        scaled_down |= scaled;
        result.push(updated);
    }
    Ok((scaled_down, result))
}

/// `cleanupUnhealthyReplicas` arithmetic: the sizes of `old` (sorted oldest first) after
/// shrinking each by its unavailable pods (`spec.replicas - availableReplicas`), at most
/// `max_cleanup` pods in all. `None` if that would grow one: its cached
/// `availableReplicas` is above its `spec.replicas` (just lowered, status not yet
/// caught up) — upstream refuses such a plan.
///
/// Example: old ReplicaSets of 3 (1 available) and 4 (4 available), `max_cleanup` 1 →
/// `[2, 4]`.
pub fn cleanup_unhealthy_sizes(old: &[ReplicaSet], max_cleanup: i32) -> Option<Vec<i32>> {
    let mut total = 0i32;
    let mut sizes = Vec::with_capacity(old.len());
    for rs in old {
        let size = rs_replicas(rs);
        let available = util::available(rs);
        if total >= max_cleanup || size == 0 || size == available {
            sizes.push(size);
            continue;
        }
        let count = max_cleanup
            .saturating_sub(total)
            .min(size.saturating_sub(available));
        if count < 0 {
            return None;
        }
        sizes.push(size - count);
        total = total.saturating_add(count);
    }
    Some(sizes)
}

/// `scaleDownOldReplicaSetsForRollingUpdate` arithmetic: the sizes of old ReplicaSets
/// (sorted oldest first, currently `sizes`) after removing the `available - min_available`
/// pods that keep at least `min_available` available across the Deployment.
///
/// Example: 10 replicas, maxUnavailable 2 (min 8), 10 available, old sizes `[3, 7]` →
/// `[1, 7]`.
pub fn scale_down_sizes(sizes: &[i32], available: i32, min_available: i32) -> Vec<i32> {
    let mut out = sizes.to_vec();
    if available <= min_available {
        return out;
    }
    let target = available.saturating_sub(min_available);
    let mut total = 0i32;
    for size in out.iter_mut() {
        if total >= target {
            break;
        }
        if *size <= 0 {
            continue;
        }
        let count = (*size).min(target - total);
        *size -= count;
        total += count;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::{ReplicaSetSpec, ReplicaSetStatus};

    fn rs(replicas: i32, available: i32) -> ReplicaSet {
        ReplicaSet {
            spec: Some(ReplicaSetSpec {
                replicas: Some(replicas),
                ..Default::default()
            }),
            status: Some(ReplicaSetStatus {
                replicas,
                available_replicas: Some(available),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn unhealthy_old_pods_go_first_within_the_budget() {
        assert_eq!(
            cleanup_unhealthy_sizes(&[rs(3, 1), rs(4, 4)], 1),
            Some(vec![2, 4])
        );
        assert_eq!(
            cleanup_unhealthy_sizes(&[rs(3, 1), rs(4, 2)], 5),
            Some(vec![1, 2])
        );
        assert_eq!(
            cleanup_unhealthy_sizes(&[rs(0, 0), rs(4, 4)], 5),
            Some(vec![0, 4])
        );
    }

    /// `kubectl create deployment r1 --replicas=4; kubectl set image ...`: the old
    /// ReplicaSet was just lowered 4 → 3 while its cached status still says 4 available.
    /// Upstream refuses; scaling it "down" to 4 would grow it back up.
    #[test]
    fn a_stale_available_count_never_grows_an_old_replica_set() {
        assert_eq!(cleanup_unhealthy_sizes(&[rs(3, 4)], 1), None);
        assert_eq!(cleanup_unhealthy_sizes(&[rs(2, 1), rs(3, 4)], 2), None);
    }

    #[test]
    fn available_pods_above_the_minimum_are_removed_oldest_first() {
        assert_eq!(scale_down_sizes(&[3, 7], 10, 8), vec![1, 7]);
        assert_eq!(scale_down_sizes(&[1, 7], 10, 8), vec![0, 6]);
        assert_eq!(scale_down_sizes(&[3, 7], 8, 8), vec![3, 7]);
        assert_eq!(scale_down_sizes(&[0, 7], 9, 8), vec![0, 6]);
    }

    #[test]
    fn huge_numbers_do_not_overflow() {
        assert_eq!(
            cleanup_unhealthy_sizes(&[rs(i32::MAX, 0)], i32::MAX),
            Some(vec![0])
        );
        assert_eq!(
            scale_down_sizes(&[i32::MAX, i32::MAX], i32::MAX, i32::MIN),
            vec![0, i32::MAX]
        );
    }
}
