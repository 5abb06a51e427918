//! Revisions: how ReplicaSets are numbered, which makes `kubectl rollout history` and
//! `kubectl rollout undo` work.
//!
//! In apps/v1 a rollback is done by the client: `kubectl rollout undo` finds the
//! ReplicaSet annotated with the wanted `deployment.kubernetes.io/revision` and patches the
//! Deployment's template back to that ReplicaSet's (minus `pod-template-hash`). The
//! controller then finds that old ReplicaSet as the *new* one (its template matches) and
//! re-numbers it: its revision becomes the highest + 1 and the number it had is appended
//! to `deployment.kubernetes.io/revision-history` (at most 2000 characters, oldest dropped
//! first). So after revisions 1, 2 an undo gives the first ReplicaSet revision 3 with
//! history "1", exactly as upstream.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};

use super::util::{self, DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY, replicas};

/// Upstream's `maxRevHistoryLengthInChars`.
const MAX_HISTORY_CHARS: usize = 2000;

/// Deployment annotations never copied to its ReplicaSets (upstream `annotationsToSkip`).
const SKIP: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

/// `copyDeploymentAnnotationsToReplicaSet` (brings `kubernetes.io/change-cause` along).
fn copy_annotations(d: &Deployment, rs: &mut ReplicaSet) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_default();
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if SKIP.contains(&k.as_str()) || annotations.get(k) == Some(v) {
            continue;
        }
        annotations.insert(k.clone(), v.clone());
        changed = true;
    }
    changed
}

/// `SetReplicasAnnotations`: record the Deployment's size (desired, and with surge) the
/// ReplicaSet was scaled for; proportional scaling reads it back.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.get_or_insert_default();
    let mut changed = false;
    for (key, value) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let value = value.to_string();
        if annotations.get(key) != Some(&value) {
            annotations.insert(key.to_string(), value);
            changed = true;
        }
    }
    changed
}

/// `ReplicasAnnotationsNeedUpdate`.
pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    let annotations = rs.metadata.annotations.clone().unwrap_or_default();
    annotations.get(DESIRED_REPLICAS) != Some(&desired.to_string())
        || annotations.get(MAX_REPLICAS) != Some(&max.to_string())
}

/// `SetNewReplicaSetAnnotations`: copy the Deployment's annotations, raise the revision to
/// `new_revision` if lower (keeping the old number in the history), and for a ReplicaSet
/// about to be created (`exists == false`) the replica annotations. Returns whether
/// anything changed.
pub fn set_new_replica_set_annotations(
    d: &Deployment,
    rs: &mut ReplicaSet,
    new_revision: i64,
    exists: bool,
) -> bool {
    let mut changed = copy_annotations(d, rs);
    let annotations: &mut BTreeMap<String, String> =
        rs.metadata.annotations.get_or_insert_default();
    let old = annotations.get(REVISION).cloned();
    let old_number = match old.as_deref().map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) => n,
        // Not a number: leave it alone, as upstream does.
        Some(Err(_)) => return false,
    };
    if old_number < new_revision {
        annotations.insert(REVISION.to_string(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let history = annotations
                .get(REVISION_HISTORY)
                .cloned()
                .unwrap_or_default();
            if history.is_empty() {
                annotations.insert(REVISION_HISTORY.to_string(), old);
            } else {
                let mut entries: Vec<&str> = history.split(',').collect();
                let mut total = history.len() + old.len() + 1;
                let mut start = 0;
                while total > MAX_HISTORY_CHARS && start < entries.len() {
                    total -= entries[start].len() + 1;
                    start += 1;
                }
                if total <= MAX_HISTORY_CHARS {
                    entries = entries.split_off(start);
                    entries.push(&old);
                    let joined = entries.join(",");
                    annotations.insert(REVISION_HISTORY.to_string(), joined);
                }
            }
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), util::max_replicas(d)) {
        changed = true;
    }
    changed
}

/// `SetDeploymentRevision`: the Deployment carries its new ReplicaSet's revision.
pub fn set_deployment_revision(d: &mut Deployment, revision: &str) -> bool {
    let annotations = d.metadata.annotations.get_or_insert_default();
    if annotations.get(REVISION).map(String::as_str) == Some(revision) {
        return false;
    }
    annotations.insert(REVISION.to_string(), revision.to_string());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn with_annotations(pairs: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            annotations: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn reusing_an_old_replica_set_bumps_its_revision_and_keeps_history() {
        let d = Deployment {
            metadata: with_annotations(&[
                ("kubernetes.io/change-cause", "undo"),
                (REVISION, "2"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
            ]),
            ..Default::default()
        };
        let mut rs = ReplicaSet {
            metadata: with_annotations(&[(REVISION, "1")]),
            ..Default::default()
        };
        assert!(set_new_replica_set_annotations(&d, &mut rs, 3, true));
        let a = rs.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(a.get(REVISION).map(String::as_str), Some("3"));
        assert_eq!(a.get(REVISION_HISTORY).map(String::as_str), Some("1"));
        assert_eq!(
            a.get("kubernetes.io/change-cause").map(String::as_str),
            Some("undo")
        );
        assert!(!a.contains_key("kubectl.kubernetes.io/last-applied-configuration"));
        // Undone again later: history grows.
        assert!(set_new_replica_set_annotations(&d, &mut rs, 5, true));
        let a = rs.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(a.get(REVISION_HISTORY).map(String::as_str), Some("1,3"));
        // Already the newest: nothing to do.
        assert!(!set_new_replica_set_annotations(&d, &mut rs, 5, true));
    }

    #[test]
    fn a_new_replica_set_gets_replica_annotations() {
        let d: Deployment = serde_json::from_value(
            serde_json::json!({"spec": {"replicas": 4, "selector": {}, "template": {}}}),
        )
        .unwrap_or_default();
        let mut rs = ReplicaSet::default();
        assert!(set_new_replica_set_annotations(&d, &mut rs, 1, false));
        let a = rs.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(a.get(REVISION).map(String::as_str), Some("1"));
        assert_eq!(a.get(DESIRED_REPLICAS).map(String::as_str), Some("4"));
        assert_eq!(a.get(MAX_REPLICAS).map(String::as_str), Some("5"));
        assert!(!a.contains_key(REVISION_HISTORY));
    }
}
