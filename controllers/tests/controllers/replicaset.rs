//! The ReplicaSet controller against a live in-process API server. Pods are marked
//! Running/Ready by patching `pods/status` here (no kubelet).

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{eventually, server};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

fn replica_set(name: &str, replicas: i32, min_ready: i32) -> ReplicaSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "minReadySeconds": min_ready,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .unwrap()
}

async fn pods_of(client: &Client, app: &str) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap();
    list.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

async fn mark_ready(client: &Client, name: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
}

async fn rs_status(client: &Client, name: &str) -> k8s_openapi::api::apps::v1::ReplicaSetStatus {
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    rss.get(name).await.unwrap().status.unwrap_or_default()
}

#[tokio::test]
async fn creates_scales_and_heals() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs = rss
        .create(&PostParams::default(), &replica_set("web", 3, 0))
        .await
        .unwrap();

    let pods = eventually(10, "3 pods", || async {
        Some(pods_of(&client, "web").await).filter(|p| p.len() == 3)
    })
    .await;
    for pod in &pods {
        assert!(
            pod.name_any().starts_with("web-"),
            "generateName web-: {}",
            pod.name_any()
        );
        let owner = &pod.owner_references()[0];
        // As upstream's NewControllerRef: a foreground deletion of the ReplicaSet waits.
        assert_eq!(
            (
                owner.kind.as_str(),
                owner.name.as_str(),
                owner.controller,
                owner.block_owner_deletion
            ),
            ("ReplicaSet", "web", Some(true), Some(true))
        );
        assert_eq!(owner.uid, rs.uid().unwrap());
    }
    eventually(10, "status.replicas 3", || async {
        (rs_status(&client, "web").await.replicas == 3).then_some(())
    })
    .await;

    // Two become ready: readyReplicas/availableReplicas follow.
    mark_ready(&client, &pods[0].name_any()).await;
    mark_ready(&client, &pods[1].name_any()).await;
    eventually(10, "2 ready", || async {
        let s = rs_status(&client, "web").await;
        (s.ready_replicas == Some(2)
            && s.available_replicas == Some(2)
            && s.fully_labeled_replicas == Some(3))
        .then_some(())
    })
    .await;

    // Scale to 2: the one that is not ready is the victim.
    rss.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .unwrap();
    let left = eventually(10, "2 pods", || async {
        Some(pods_of(&client, "web").await).filter(|p| p.len() == 2)
    })
    .await;
    let left: BTreeSet<String> = left.iter().map(|p| p.name_any()).collect();
    assert_eq!(
        left,
        [pods[0].name_any(), pods[1].name_any()]
            .into_iter()
            .collect()
    );

    // Self-heal: a deleted pod is replaced.
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    pod_api
        .delete(&pods[0].name_any(), &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "replacement", || async {
        let now = pods_of(&client, "web").await;
        (now.len() == 2 && !now.iter().any(|p| p.name_any() == pods[0].name_any())).then_some(())
    })
    .await;

    // Events as upstream words them, on the ReplicaSet.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(10, "events", || async {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=web"))
            .await
            .unwrap();
        let created = list
            .items
            .iter()
            .filter(|e| e.reason.as_deref() == Some("SuccessfulCreate"))
            .count();
        let deleted = list
            .items
            .iter()
            .find(|e| e.reason.as_deref() == Some("SuccessfulDelete"))?;
        let source = deleted.source.as_ref().and_then(|s| s.component.as_deref());
        (created == 4
            && deleted.message.as_deref() == Some(&*format!("Deleted pod: {}", pods[2].name_any()))
            && source == Some("replicaset-controller")
            && deleted.involved_object.kind.as_deref() == Some("ReplicaSet"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn adopts_orphans_and_releases_relabelled_pods() {
    let (_url, client) = server().await;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "api"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap();
    pod_api
        .create(&PostParams::default(), &orphan)
        .await
        .unwrap();

    tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    rss.create(&PostParams::default(), &replica_set("api", 2, 0))
        .await
        .unwrap();

    // The orphan is adopted and counts: only one pod is created.
    let pods = eventually(10, "2 pods", || async {
        Some(pods_of(&client, "api").await).filter(|p| p.len() == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(pods_of(&client, "api").await.len(), 2);
    let adopted = pod_api.get("orphan").await.unwrap();
    assert_eq!(
        adopted.owner_references().first().map(|o| o.name.as_str()),
        Some("api")
    );
    assert_eq!(
        adopted
            .owner_references()
            .first()
            .map(|o| (o.controller, o.block_owner_deletion)),
        Some((Some(true), Some(true)))
    );

    // Relabelled out of the selector: released (no controller ref) and replaced.
    let other = pods
        .iter()
        .find(|p| p.name_any() != "orphan")
        .unwrap()
        .name_any();
    pod_api
        .patch(
            &other,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"app": "debug"}}})),
        )
        .await
        .unwrap();
    eventually(10, "released", || async {
        let p = pod_api.get(&other).await.unwrap();
        p.owner_references().is_empty().then_some(())
    })
    .await;
    eventually(10, "replacement", || async {
        (pods_of(&client, "api").await.len() == 2).then_some(())
    })
    .await;
}

/// A controller killed mid-way and restarted with an empty cache converges to exactly
/// `replicas` pods: no pod is ever created beyond them.
#[tokio::test]
async fn restart_mid_way_never_over_creates() {
    let (_url, client) = server().await;
    let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let first = tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    rss.create(&PostParams::default(), &replica_set("big", 60, 0))
        .await
        .unwrap();
    eventually(10, "some pods", || async {
        (!pods_of(&client, "big").await.is_empty()).then_some(())
    })
    .await;
    first.abort();
    let _ = first.await;

    tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    eventually(20, "60 pods", || async {
        (pods_of(&client, "big").await.len() == 60).then_some(())
    })
    .await;
    eventually(10, "status 60", || async {
        (rs_status(&client, "big").await.replicas == 60).then_some(())
    })
    .await;
    // Give a runaway controller time to show itself.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(pods_of(&client, "big").await.len(), 60);
    // Nothing was deleted, so the pods that exist are all that were ever created.
    let all = pod_api.list(&ListParams::default()).await.unwrap();
    assert_eq!(all.items.len(), 60);
}

#[tokio::test]
async fn available_only_after_min_ready_seconds() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    rss.create(&PostParams::default(), &replica_set("slow", 1, 2))
        .await
        .unwrap();
    let pods = eventually(10, "1 pod", || async {
        Some(pods_of(&client, "slow").await).filter(|p| p.len() == 1)
    })
    .await;
    mark_ready(&client, &pods[0].name_any()).await;
    eventually(10, "ready", || async {
        (rs_status(&client, "slow").await.ready_replicas == Some(1)).then_some(())
    })
    .await;
    assert_eq!(
        rs_status(&client, "slow").await.available_replicas,
        None,
        "available before minReadySeconds"
    );
    eventually(10, "available", || async {
        (rs_status(&client, "slow").await.available_replicas == Some(1)).then_some(())
    })
    .await;
}

/// Pods the API server refuses (an image with a leading space passes template validation
/// but not pod validation, as upstream): a `FailedCreate` event "Error creating: …" and a
/// `ReplicaFailure` condition whose message is the bare error, as upstream's.
#[tokio::test]
async fn refused_pods_are_a_replica_failure() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut rs = replica_set("bad", 1, 0);
    rs.spec
        .as_mut()
        .unwrap()
        .template
        .as_mut()
        .unwrap()
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .image = Some(" nginx".into());
    rss.create(&PostParams::default(), &rs).await.unwrap();
    let condition = eventually(10, "ReplicaFailure", || async {
        let s = rs_status(&client, "bad").await;
        s.conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "ReplicaFailure")
    })
    .await;
    assert_eq!(
        (condition.status.as_str(), condition.reason.as_deref()),
        ("True", Some("FailedCreate"))
    );
    let message = condition.message.unwrap_or_default();
    assert!(
        message.starts_with("Pod \"bad-")
            && message.contains("must not have leading or trailing whitespace"),
        "{message}"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    eventually(10, "FailedCreate event", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("FailedCreate")
                    && e.message
                        .as_deref()
                        .is_some_and(|m| m.starts_with("Error creating: Pod \"bad-"))
            })
            .map(|_| ())
    })
    .await;
    // Fixed: the condition goes.
    rss.patch("bad", &PatchParams::default(), &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})))
        .await
        .unwrap();
    eventually(10, "condition removed", || async {
        rs_status(&client, "bad")
            .await
            .conditions
            .unwrap_or_default()
            .iter()
            .all(|c| c.type_ != "ReplicaFailure")
            .then_some(())
    })
    .await;
}

/// `status.terminatingReplicas` (beta, on by default since 1.35) counts our pods being
/// deleted but not yet gone.
#[tokio::test]
async fn terminating_replicas_are_counted() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    let rss: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut rs = replica_set("term", 2, 0);
    rs.spec
        .as_mut()
        .unwrap()
        .template
        .as_mut()
        .unwrap()
        .metadata
        .as_mut()
        .unwrap()
        .finalizers = Some(vec!["example.com/hold".into()]);
    rss.create(&PostParams::default(), &rs).await.unwrap();
    let pods = eventually(10, "2 pods", || async {
        Some(pods_of(&client, "term").await).filter(|p| p.len() == 2)
    })
    .await;
    eventually(10, "none terminating", || async {
        (rs_status(&client, "term").await.terminating_replicas == Some(0)).then_some(())
    })
    .await;
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    api.delete(&pods[0].name_any(), &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "one terminating, replaced", || async {
        let s = rs_status(&client, "term").await;
        (s.terminating_replicas == Some(1) && s.replicas == 2).then_some(())
    })
    .await;
    api.patch(
        &pods[0].name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually(10, "gone", || async {
        (rs_status(&client, "term").await.terminating_replicas == Some(0)).then_some(())
    })
    .await;
}
