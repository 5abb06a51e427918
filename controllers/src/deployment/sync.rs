//! What every strategy shares (upstream `sync.go`): finding or creating the new
//! ReplicaSet, scaling ReplicaSets (proportionally on a scaling event), pausing, history
//! cleanup, and the Deployment's status.

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use serde_json::json;

use super::rollback::{
    replicas_annotations_need_update, set_deployment_revision, set_new_replica_set_annotations,
    set_replicas_annotations,
};
use super::util::{self, POD_TEMPLATE_HASH, REVISION, replicas, rs_replicas};
use super::{Context, Error, Result, is_not_found, progress};
use crate::replicaset::controller_of;

/// `syncStatusOnly`: a Deployment being deleted only gets its status refreshed.
pub async fn sync_status_only(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: &[ReplicaSet],
) -> Result<Action> {
    let (new_rs, old) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false).await?;
    sync_deployment_status(ctx, d, &all_of(&old, new_rs.as_ref()), new_rs.as_ref()).await?;
    Ok(Action::await_change())
}

/// `sync`: a paused Deployment, or a scaling event — scale, no rollout.
pub async fn sync(ctx: &Context, d: &mut Deployment, rs_list: &[ReplicaSet]) -> Result<Action> {
    let (new_rs, old) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false).await?;
    scale(ctx, d, new_rs.as_ref(), &old).await?;
    if d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false) {
        cleanup_deployment(ctx, d, &old).await?;
    }
    sync_deployment_status(ctx, d, &all_of(&old, new_rs.as_ref()), new_rs.as_ref()).await?;
    Ok(Action::await_change())
}

pub(crate) fn all_of(old: &[ReplicaSet], new_rs: Option<&ReplicaSet>) -> Vec<ReplicaSet> {
    old.iter().cloned().chain(new_rs.cloned()).collect()
}

fn paused(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false)
}

/// `checkPausedConditions`: Progressing becomes `Unknown` `DeploymentPaused` while paused
/// and `DeploymentResumed` after, so time spent paused never counts against the progress
/// deadline. A reported timeout is never overwritten.
pub async fn check_paused_conditions(ctx: &Context, d: &mut Deployment) -> Result<()> {
    if !util::has_progress_deadline(d) {
        return Ok(());
    }
    let mut status = d.status.clone().unwrap_or_default();
    let reason = util::condition(&status, "Progressing").and_then(|c| c.reason.clone());
    if reason.as_deref() == Some(util::TIMED_OUT_REASON) {
        return Ok(());
    }
    let paused_cond = reason.as_deref() == Some(util::PAUSED_REASON);
    let now = Timestamp::now();
    let cond = if paused(d) && !paused_cond {
        util::new_condition(
            "Progressing",
            "Unknown",
            util::PAUSED_REASON,
            "Deployment is paused".into(),
            now,
        )
    } else if !paused(d) && paused_cond {
        util::new_condition(
            "Progressing",
            "Unknown",
            util::RESUMED_REASON,
            "Deployment is resumed".into(),
            now,
        )
    } else {
        return Ok(());
    };
    util::set_condition(&mut status, cond);
    progress::write_status(&ctx.client, d, &status).await?;
    d.status = Some(status);
    Ok(())
}

/// `isScalingEvent`: an active ReplicaSet was sized for a different `spec.replicas`.
pub async fn is_scaling_event(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: &[ReplicaSet],
) -> Result<bool> {
    let (new_rs, old) = get_all_replica_sets_and_sync_revision(ctx, d, rs_list, false).await?;
    let want = replicas(d);
    Ok(util::active(&all_of(&old, new_rs.as_ref()))
        .iter()
        .any(|rs| util::desired_replicas_annotation(rs).is_some_and(|n| n != want)))
}

/// `FindNewReplicaSet`: the oldest ReplicaSet whose template is the Deployment's.
fn find_new_replica_set(d: &Deployment, rs_list: &[ReplicaSet]) -> Option<ReplicaSet> {
    let template = util::template(d);
    let mut sorted: Vec<&ReplicaSet> = rs_list.iter().collect();
    sorted.sort_by(|a, b| util::by_creation(a, b));
    sorted
        .into_iter()
        .find(|rs| util::equal_ignore_hash(&util::rs_template(rs), &template))
        .cloned()
}

/// `getAllReplicaSetsAndSyncRevision`: the new ReplicaSet (created if `create` and
/// missing) with its revision brought up to date, and all the old ones.
pub async fn get_all_replica_sets_and_sync_revision(
    ctx: &Context,
    d: &mut Deployment,
    rs_list: &[ReplicaSet],
    create: bool,
) -> Result<(Option<ReplicaSet>, Vec<ReplicaSet>)> {
    let existing = find_new_replica_set(d, rs_list);
    let old: Vec<ReplicaSet> = rs_list
        .iter()
        .filter(|rs| {
            existing
                .as_ref()
                .is_none_or(|n| n.metadata.uid != rs.metadata.uid)
        })
        .cloned()
        .collect();
    let new_rs = get_new_replica_set(ctx, d, existing, &old, create).await?;
    Ok((new_rs, old))
}

/// `getNewReplicaSet`.
async fn get_new_replica_set(
    ctx: &Context,
    d: &mut Deployment,
    existing: Option<ReplicaSet>,
    old: &[ReplicaSet],
    create: bool,
) -> Result<Option<ReplicaSet>> {
    let namespace = d.namespace().unwrap_or_default();
    let api: Api<ReplicaSet> = Api::namespaced(ctx.client.clone(), &namespace);
    let new_revision = util::max_revision(old).saturating_add(1);
    let min_ready = d.spec.as_ref().and_then(|s| s.min_ready_seconds);
    let now = Timestamp::now();

    if let Some(existing) = existing {
        let mut rs = existing.clone();
        let annotations_updated = set_new_replica_set_annotations(d, &mut rs, new_revision, true);
        let min_ready_changed = rs
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0)
            != min_ready.unwrap_or(0);
        if annotations_updated || min_ready_changed {
            let patch = json!({
                "metadata": {"annotations": rs.metadata.annotations, "resourceVersion": existing.resource_version()},
                "spec": {"minReadySeconds": min_ready.unwrap_or(0)}
            });
            let updated = api
                .patch(
                    &rs.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await
                .map_err(|e| Error::UpdateReplicaSet(rs.name_any(), e))?;
            return Ok(Some(updated));
        }
        // The Deployment carries its new ReplicaSet's revision.
        let revision = rs.annotations().get(REVISION).cloned().unwrap_or_default();
        sync_deployment_revision(ctx, d, &revision).await?;
        let mut status = d.status.clone().unwrap_or_default();
        if util::has_progress_deadline(d) && util::condition(&status, "Progressing").is_none() {
            let msg = format!("Found new replica set \"{}\"", rs.name_any());
            util::set_condition(
                &mut status,
                util::new_condition("Progressing", "True", util::FOUND_NEW_RS_REASON, msg, now),
            );
            progress::write_status(&ctx.client, d, &status).await?;
            d.status = Some(status);
        }
        return Ok(Some(rs));
    }
    if !create {
        return Ok(None);
    }

    // Create the new ReplicaSet: `<name>-<hash>` with the hash in labels, selector, template.
    let template = util::template(d);
    let collision_count = d.status.as_ref().and_then(|s| s.collision_count);
    let hash = util::compute_hash(&template, collision_count);
    let mut rs_template = template.clone();
    rs_template
        .metadata
        .get_or_insert_default()
        .labels
        .get_or_insert_default()
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let mut selector = d
        .spec
        .as_ref()
        .map(|s| s.selector.clone())
        .unwrap_or_default();
    selector
        .match_labels
        .get_or_insert_default()
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    let labels = rs_template.metadata.as_ref().and_then(|m| m.labels.clone());
    let mut new_rs = ReplicaSet {
        metadata: ObjectMeta {
            name: Some(format!("{}-{}", d.name_any(), hash)),
            namespace: Some(namespace.clone()),
            owner_references: crate::controller_ref(d).map(|o| vec![o]),
            labels,
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: min_ready,
            selector,
            template: Some(rs_template),
        }),
        status: None,
    };
    let all = all_of(old, Some(&new_rs));
    let count = util::new_rs_new_replicas(d, &all, &new_rs);
    if let Some(spec) = new_rs.spec.as_mut() {
        spec.replicas = Some(count);
    }
    set_new_replica_set_annotations(d, &mut new_rs, new_revision, false);
    let name = new_rs.name_any();
    let (created, already_existed) = match api.create(&PostParams::default(), &new_rs).await {
        Ok(created) => (created, false),
        Err(kube::Error::Api(e)) if e.code == 409 => {
            // Ours already (a stale cache)? Otherwise a hash collision: bump collisionCount
            // so the next pass computes a different name.
            let found = api
                .get_opt(&name)
                .await
                .map_err(|e| Error::CreateReplicaSet(name.clone(), e))?;
            match found {
                Some(rs)
                    if controller_of(&rs.metadata)
                        .is_some_and(|o| Some(&o.uid) == d.metadata.uid.as_ref())
                        && util::equal_ignore_hash(&template, &util::rs_template(&rs)) =>
                {
                    (rs, true)
                }
                _ => {
                    let mut status = d.status.clone().unwrap_or_default();
                    status.collision_count = Some(collision_count.unwrap_or(0).saturating_add(1));
                    progress::write_status(&ctx.client, d, &status).await?;
                    tracing::info!(replicaset = name, "hash collision; bumped collisionCount");
                    return Err(Error::CreateReplicaSet(name, kube::Error::Api(e)));
                }
            }
        }
        Err(err) => {
            let msg = format!(
                "Failed to create new replica set \"{name}\": {}",
                api_message(&err)
            );
            if util::has_progress_deadline(d) {
                let mut status = d.status.clone().unwrap_or_default();
                util::set_condition(
                    &mut status,
                    util::new_condition(
                        "Progressing",
                        "False",
                        util::FAILED_RS_CREATE_REASON,
                        msg.clone(),
                        now,
                    ),
                );
                let _ = progress::write_status(&ctx.client, d, &status).await;
            }
            ctx.recorder.warning(d, util::FAILED_RS_CREATE_REASON, msg);
            return Err(Error::CreateReplicaSet(name, err));
        }
    };
    if !already_existed && count > 0 {
        ctx.recorder.normal(
            d,
            "ScalingReplicaSet",
            format!("Scaled up replica set {name} from 0 to {count}"),
        );
    }
    sync_deployment_revision(ctx, d, &new_revision.to_string()).await?;
    if !already_existed && util::has_progress_deadline(d) {
        let mut status = d.status.clone().unwrap_or_default();
        let msg = format!("Created new replica set \"{name}\"");
        util::set_condition(
            &mut status,
            util::new_condition("Progressing", "True", util::NEW_RS_REASON, msg, now),
        );
        progress::write_status(&ctx.client, d, &status).await?;
        d.status = Some(status);
    }
    Ok(Some(created))
}

/// Put the revision annotation on the Deployment (upstream writes it along with a status
/// update; here a metadata patch).
async fn sync_deployment_revision(ctx: &Context, d: &mut Deployment, revision: &str) -> Result<()> {
    if !set_deployment_revision(d, revision) {
        return Ok(());
    }
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    let patch = json!({"metadata": {"annotations": {REVISION: revision}}});
    api.patch(
        &d.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Error::UpdateDeployment)?;
    Ok(())
}

pub(crate) fn api_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}

/// `scaleReplicaSetAndRecordEvent`: scale to `new_scale` unless already there.
pub async fn scale_replica_set_and_record_event(
    ctx: &Context,
    rs: &ReplicaSet,
    new_scale: i32,
    d: &Deployment,
) -> Result<(bool, ReplicaSet)> {
    if rs_replicas(rs) == new_scale {
        return Ok((false, rs.clone()));
    }
    scale_replica_set(ctx, rs, new_scale, d).await
}

/// `scaleReplicaSet`: write `spec.replicas` and the replica annotations; a size change
/// is a `ScalingReplicaSet` event. The write carries the cached `resourceVersion`, as
/// upstream's update does: a ReplicaSet changed since the cache saw it conflicts, the
/// pass is retried on fresh data, and no event tells of a scale that did not happen.
pub async fn scale_replica_set(
    ctx: &Context,
    rs: &ReplicaSet,
    new_scale: i32,
    d: &Deployment,
) -> Result<(bool, ReplicaSet)> {
    let old_scale = rs_replicas(rs);
    let size_changed = old_scale != new_scale;
    let max = util::max_replicas(d);
    if !size_changed && !replicas_annotations_need_update(rs, replicas(d), max) {
        return Ok((false, rs.clone()));
    }
    let mut updated = rs.clone();
    set_replicas_annotations(&mut updated, replicas(d), max);
    let patch = json!({
        "metadata": {"annotations": updated.metadata.annotations, "resourceVersion": rs.resource_version()},
        "spec": {"replicas": new_scale}
    });
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &rs.namespace().unwrap_or_default());
    let updated = api
        .patch(
            &rs.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| Error::UpdateReplicaSet(rs.name_any(), e))?;
    if size_changed {
        let direction = if old_scale < new_scale { "up" } else { "down" };
        ctx.recorder.normal(
            d,
            "ScalingReplicaSet",
            format!(
                "Scaled {direction} replica set {} from {old_scale} to {new_scale}",
                rs.name_any()
            ),
        );
    }
    Ok((size_changed, updated))
}

/// `FindActiveOrLatest`: the only active ReplicaSet, or the newest if none is active.
fn find_active_or_latest(new_rs: Option<&ReplicaSet>, old: &[ReplicaSet]) -> Option<ReplicaSet> {
    if new_rs.is_none() && old.is_empty() {
        return None;
    }
    let mut old_sorted = old.to_vec();
    old_sorted.sort_by(|a, b| util::by_creation(b, a));
    let active = util::active(&all_of(&old_sorted, new_rs));
    match active.len() {
        0 => new_rs.cloned().or_else(|| old_sorted.first().cloned()),
        1 => active.into_iter().next(),
        _ => None,
    }
}

/// `scale`: bring the ReplicaSets to `spec.replicas` without rolling out. Mid-rollout
/// (several active ReplicaSets) the change is shared out in proportion to their sizes,
/// largest first, leftovers to the largest — so scaling 10 → 15 with 8 old and 5 new
/// (maxSurge 3, so 13 → 18) adds 3 to the old and 2 to the new.
pub async fn scale(
    ctx: &Context,
    d: &Deployment,
    new_rs: Option<&ReplicaSet>,
    old: &[ReplicaSet],
) -> Result<()> {
    if let Some(only) = find_active_or_latest(new_rs, old) {
        if rs_replicas(&only) == replicas(d) {
            return Ok(());
        }
        scale_replica_set_and_record_event(ctx, &only, replicas(d), d).await?;
        return Ok(());
    }
    if util::is_saturated(d, new_rs) {
        for rs in util::active(old) {
            scale_replica_set_and_record_event(ctx, &rs, 0, d).await?;
        }
        return Ok(());
    }
    if !util::is_rolling_update(d) {
        return Ok(());
    }
    let mut all = util::active(&all_of(old, new_rs));
    let current = util::replica_count(&all);
    let allowed = if replicas(d) > 0 {
        util::max_replicas(d)
    } else {
        0
    };
    let to_add = allowed.saturating_sub(current);
    if to_add > 0 {
        all.sort_by(util::by_size_newer);
    } else if to_add < 0 {
        all.sort_by(util::by_size_older);
    }
    let mut added = 0;
    let mut sizes = Vec::with_capacity(all.len());
    for rs in &all {
        if to_add != 0 {
            let p = util::proportion(rs, d, to_add, added);
            sizes.push(rs_replicas(rs).saturating_add(p));
            added = added.saturating_add(p);
        } else {
            sizes.push(rs_replicas(rs));
        }
    }
    for (i, rs) in all.iter().enumerate() {
        let mut size = sizes[i];
        if i == 0 && to_add != 0 {
            size = size.saturating_add(to_add.saturating_sub(added)).max(0);
        }
        scale_replica_set(ctx, rs, size, d).await?;
    }
    Ok(())
}

/// `cleanupDeployment`: delete the oldest fully scaled-down ReplicaSets beyond
/// `revisionHistoryLimit`.
pub async fn cleanup_deployment(ctx: &Context, d: &Deployment, old: &[ReplicaSet]) -> Result<()> {
    let Some(limit) = d.spec.as_ref().and_then(|s| s.revision_history_limit) else {
        return Ok(());
    };
    let mut cleanable: Vec<&ReplicaSet> = old
        .iter()
        .filter(|rs| rs.metadata.deletion_timestamp.is_none())
        .collect();
    let diff = cleanable.len() as i64 - i64::from(limit);
    if diff <= 0 {
        return Ok(());
    }
    cleanable.sort_by(|a, b| {
        util::revision(a)
            .cmp(&util::revision(b))
            .then_with(|| util::by_creation(a, b))
    });
    let api: Api<ReplicaSet> =
        Api::namespaced(ctx.client.clone(), &d.namespace().unwrap_or_default());
    for rs in cleanable.into_iter().take(diff as usize) {
        let status = rs.status.clone().unwrap_or_default();
        if status.replicas != 0
            || rs_replicas(rs) != 0
            || rs.metadata.generation > status.observed_generation
        {
            continue;
        }
        tracing::info!(replicaset = rs.name_any(), "cleaning up old replica set");
        match api.delete(&rs.name_any(), &DeleteParams::default()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(Error::DeleteReplicaSet(rs.name_any(), e)),
        }
    }
    Ok(())
}

/// `calculateStatus`: counts from the ReplicaSets, and Available from `maxUnavailable`.
pub fn calculate_status(
    all: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
    d: &Deployment,
    now: Timestamp,
) -> DeploymentStatus {
    let available = util::available_replica_count(all);
    let total = util::replica_count(all);
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(util::actual_replica_count(all)),
        updated_replicas: Some(
            new_rs
                .map(|rs| util::actual_replica_count(std::slice::from_ref(rs)))
                .unwrap_or(0),
        ),
        ready_replicas: Some(util::ready_replica_count(all)),
        available_replicas: Some(available),
        unavailable_replicas: Some(total.saturating_sub(available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: util::terminating_replica_count(all),
    };
    let cond = if available >= util::min_available(d) {
        util::new_condition(
            "Available",
            "True",
            util::MIN_AVAILABLE_REASON,
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        util::new_condition(
            "Available",
            "False",
            util::MIN_UNAVAILABLE_REASON,
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    util::set_condition(&mut status, cond);
    status
}

/// `syncDeploymentStatus`: write the status if it changed.
pub async fn sync_deployment_status(
    ctx: &Context,
    d: &mut Deployment,
    all: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> Result<()> {
    let status = calculate_status(all, new_rs, d, Timestamp::now());
    if progress::same_status(d.status.as_ref(), &status) {
        return Ok(());
    }
    progress::write_status(&ctx.client, d, &status).await?;
    d.status = Some(status);
    Ok(())
}
