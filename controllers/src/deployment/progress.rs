//! Rollout progress (upstream `progress.go`): the Progressing condition and the progress
//! deadline, and writing the Deployment's status.
//!
//! Progressing is `True` `NewReplicaSetAvailable` once the rollout is complete, `True`
//! `ReplicaSetUpdated` whenever a pass sees progress (more updated, ready or available
//! pods, fewer old ones; its `lastUpdateTime` moves), and `False`
//! `ProgressDeadlineExceeded` when `lastUpdateTime` is older than
//! `progressDeadlineSeconds`. No watch event marks the deadline passing, so a pass that
//! is still waiting asks to be run again just after it.

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::sync::calculate_status;
use super::util::{self, NEW_RS_AVAILABLE_REASON, RS_UPDATED_REASON, TIMED_OUT_REASON};
use super::{Context, Error, Result, requeue_after};

/// `syncRolloutStatus`.
pub async fn sync_rollout_status(
    ctx: &Context,
    d: &mut Deployment,
    all: &[ReplicaSet],
    new_rs: Option<&ReplicaSet>,
) -> Result<Action> {
    let now = Timestamp::now();
    let mut status = calculate_status(all, new_rs, d, now);
    if !util::has_progress_deadline(d) {
        util::remove_condition(&mut status, "Progressing");
    }
    let current = d
        .status
        .as_ref()
        .and_then(|s| util::condition(s, "Progressing"))
        .cloned();
    let complete_before = status.replicas == status.updated_replicas
        && current
            .as_ref()
            .is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE_REASON));
    if util::has_progress_deadline(d) && !complete_before {
        let subject = match new_rs {
            Some(rs) => format!("ReplicaSet \"{}\"", rs.name_any()),
            None => format!("Deployment \"{}\"", d.name_any()),
        };
        if util::deployment_complete(d, &status) {
            let msg = format!("{subject} has successfully progressed.");
            util::set_condition(
                &mut status,
                util::new_condition("Progressing", "True", NEW_RS_AVAILABLE_REASON, msg, now),
            );
        } else if util::deployment_progressing(d, &status) {
            let msg = format!("{subject} is progressing.");
            let mut cond = util::new_condition("Progressing", "True", RS_UPDATED_REASON, msg, now);
            // Progress moves lastUpdateTime even when the reason stays the same.
            if let Some(current) = &current {
                if current.status == "True" {
                    cond.last_transition_time = current.last_transition_time.clone();
                }
                util::remove_condition(&mut status, "Progressing");
            }
            util::set_condition(&mut status, cond);
        } else if util::deployment_timed_out(d, &status, now) {
            let msg = format!("{subject} has timed out progressing.");
            util::set_condition(
                &mut status,
                util::new_condition("Progressing", "False", TIMED_OUT_REASON, msg, now),
            );
        }
    }
    // A ReplicaSet's ReplicaFailure becomes the Deployment's.
    let failure = new_rs.into_iter().chain(all.iter()).find_map(|rs| {
        rs.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
            .cloned()
    });
    match failure {
        Some(c) => util::set_condition(
            &mut status,
            k8s_openapi::api::apps::v1::DeploymentCondition {
                type_: c.type_,
                status: c.status,
                reason: c.reason,
                message: c.message,
                last_update_time: c.last_transition_time.clone(),
                last_transition_time: c.last_transition_time,
            },
        ),
        None => util::remove_condition(&mut status, "ReplicaFailure"),
    }

    if same_status(d.status.as_ref(), &status) {
        return Ok(requeue_after(stuck_requeue(d, &status, now)));
    }
    write_status(&ctx.client, d, &status).await?;
    d.status = Some(status.clone());
    Ok(requeue_after(stuck_requeue(d, &status, now)))
}

/// `requeueStuckDeployment`: when to look again so a missed deadline is reported.
fn stuck_requeue(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> Option<Duration> {
    let cond = util::condition(status, "Progressing")?;
    if !util::has_progress_deadline(d)
        || matches!(cond.reason.as_deref(), Some(TIMED_OUT_REASON))
        || util::deployment_complete(d, status)
    {
        return None;
    }
    let last = cond.last_update_time.as_ref()?.0;
    let deadline = last.as_second() + i64::from(util::progress_deadline(d));
    let after = deadline - now.as_second();
    Some(if after < 1 {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(after as u64 + 1)
    })
}

fn zero_as_none(v: Option<i32>) -> Option<i32> {
    v.filter(|n| *n != 0)
}

fn normalized(status: &DeploymentStatus) -> DeploymentStatus {
    DeploymentStatus {
        observed_generation: status.observed_generation.filter(|n| *n != 0),
        replicas: zero_as_none(status.replicas),
        updated_replicas: zero_as_none(status.updated_replicas),
        ready_replicas: zero_as_none(status.ready_replicas),
        available_replicas: zero_as_none(status.available_replicas),
        unavailable_replicas: zero_as_none(status.unavailable_replicas),
        terminating_replicas: status.terminating_replicas,
        collision_count: status.collision_count,
        conditions: status.conditions.clone().filter(|c| !c.is_empty()),
    }
}

/// Equal as written: zero counts are omitted, as upstream's `omitempty`.
pub fn same_status(old: Option<&DeploymentStatus>, new: &DeploymentStatus) -> bool {
    normalized(&old.cloned().unwrap_or_default()) == normalized(new)
}

/// Write the whole status with a merge patch; zero counts and missing conditions as
/// `null`, so they are removed.
pub async fn write_status(
    client: &Client,
    d: &Deployment,
    status: &DeploymentStatus,
) -> Result<()> {
    let s = normalized(status);
    let patch = json!({"status": {
        "observedGeneration": s.observed_generation,
        "replicas": s.replicas,
        "updatedReplicas": s.updated_replicas,
        "readyReplicas": s.ready_replicas,
        "availableReplicas": s.available_replicas,
        "unavailableReplicas": s.unavailable_replicas,
        "collisionCount": s.collision_count,
        "terminatingReplicas": s.terminating_replicas,
        "conditions": s.conditions.map(|c| serde_json::to_value(c).unwrap_or(Value::Null)),
    }});
    let api: Api<Deployment> = Api::namespaced(client.clone(), &d.namespace().unwrap_or_default());
    match api
        .patch_status(
            &d.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if super::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::UpdateStatus(e)),
    }
}
