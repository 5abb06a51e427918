//! The pod garbage collector against a live in-process API server, with short periods:
//! orphans of a deleted node (after the quarantine), unscheduled terminating pods,
//! terminating pods on an out-of-service node, and terminated pods over the threshold.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::{eventually, server};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

fn start(client: &Client, terminated_threshold: usize) {
    let config = kubesim_controllers::podgc::Config {
        period: Duration::from_millis(200),
        quarantine: Duration::from_millis(500),
        terminated_threshold,
    };
    tokio::spawn(kubesim_controllers::podgc::run(client.clone(), config));
}

async fn node(client: &Client, name: &str, spec: Value, ready: &str) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node =
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": ready}]}});
    nodes
        .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

/// A pod on `node` ("" for none) in `phase`, optionally held by a finalizer.
async fn pod(client: &Client, name: &str, node: &str, phase: &str, hold: bool) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut spec = json!({"containers": [{"name": "c", "image": "nginx"}]});
    if !node.is_empty() {
        spec["nodeName"] = json!(node);
    }
    let finalizers = if hold {
        json!(["example.com/hold"])
    } else {
        json!([])
    };
    let pod: Pod = serde_json::from_value(
        json!({"metadata": {"name": name, "finalizers": finalizers}, "spec": spec}),
    )
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": phase}})),
    )
    .await
    .unwrap();
}

fn phase(pod: &Pod) -> String {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn pods_of_a_deleted_node_are_failed_and_deleted_after_the_quarantine() {
    let (_url, client) = server().await;
    node(&client, "doomed", json!({}), "True").await;
    pod(&client, "orphan", "doomed", "Running", true).await;
    pod(&client, "bystander", "", "Pending", false).await;
    start(&client, 0);
    Api::<Node>::all(client.clone())
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan = eventually(10, "orphan force-deleted", || async {
        let p = pods.get("orphan").await.unwrap();
        p.metadata.deletion_timestamp.is_some().then_some(p)
    })
    .await;
    assert_eq!(phase(&orphan), "Failed");
    let condition = orphan
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .unwrap();
    assert_eq!(
        (
            condition.status.as_str(),
            condition.reason.as_deref(),
            condition.message.as_deref()
        ),
        (
            "True",
            Some("DeletionByPodGC"),
            Some("PodGC: node no longer exists")
        )
    );
    assert_eq!(orphan.metadata.deletion_grace_period_seconds, Some(0));
    assert!(
        pods.get("bystander")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_none()
    );
}

#[tokio::test]
async fn terminating_pods_without_a_node_or_on_an_out_of_service_node_are_forced_out() {
    let (_url, client) = server().await;
    let taint = json!({"taints": [{"key": "node.kubernetes.io/out-of-service", "value": "nodeshutdown", "effect": "NoExecute"}]});
    node(&client, "shut-down", taint, "False").await;
    node(&client, "healthy", json!({}), "True").await;
    pod(&client, "unscheduled", "", "Pending", true).await;
    pod(&client, "stuck", "shut-down", "Running", false).await;
    pod(&client, "fine", "healthy", "Running", false).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for name in ["unscheduled", "stuck", "fine"] {
        pods.delete(name, &DeleteParams::default()).await.unwrap();
    }
    start(&client, 0);
    eventually(10, "the unscheduled pod failed", || async {
        (phase(&pods.get("unscheduled").await.unwrap()) == "Failed").then_some(())
    })
    .await;
    eventually(10, "the stuck pod gone", || async {
        pods.get_opt("stuck").await.unwrap().is_none().then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fine = pods.get("fine").await.unwrap();
    assert_eq!(
        phase(&fine),
        "Running",
        "a terminating pod on a healthy node is left to its kubelet"
    );
}

#[tokio::test]
async fn terminated_pods_beyond_the_threshold_go_oldest_first() {
    let (_url, client) = server().await;
    for name in ["t1", "t2", "t3", "t4"] {
        pod(
            &client,
            name,
            "",
            if name == "t2" { "Failed" } else { "Succeeded" },
            false,
        )
        .await;
        // Creation timestamps have second resolution.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    pod(&client, "running", "", "Running", false).await;
    start(&client, 2);
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(10, "two oldest deleted", || async {
        let mut left: Vec<String> = pods
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| p.name_any())
            .collect();
        left.sort();
        (left == ["running", "t3", "t4"]).then_some(())
    })
    .await;
}
