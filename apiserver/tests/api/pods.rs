//! Pod subresources over HTTP: `log`, `eviction`, and `exec`, `attach`, `portforward`.

use crate::common;

use axum::http::StatusCode;
use common::{TestApi, pod};
use serde_json::json;

const PODS: &str = "/api/v1/namespaces/default/pods";
const PDBS: &str = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";

async fn running_pod(api: &TestApi, name: &str) {
    let mut p = pod(name);
    p["spec"]["nodeName"] = json!("node-1");
    api.post(PODS, &p).await;
    let (status, _) = api
        .patch(
            &format!("{PODS}/{name}/status"),
            "application/merge-patch+json",
            &json!({"status": {"phase": "Running"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// exec, attach and port-forward check the pod, its node and the container with
/// upstream's errors, then say that kubesim's containers run no processes (400), rather
/// than the 404 of a subresource that is not there.
#[tokio::test]
async fn exec_attach_and_portforward_say_why_they_cannot_run() {
    let api = TestApi::new();
    let (status, err) = api
        .post(&format!("{PODS}/nope/exec?command=ls"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["message"], "pods \"nope\" not found");
    api.post(PODS, &pod("pending")).await;
    let (status, err) = api.get(&format!("{PODS}/pending/attach")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "pod pending does not have a host assigned");
    // The container is checked first, as upstream's streamLocation does.
    let (status, err) = api
        .get(&format!("{PODS}/pending/exec?command=ls&container=other"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "container other is not valid for pod pending"
    );
    let mut two = pod("two");
    two["spec"]["containers"] =
        json!([{"name": "a", "image": "nginx"}, {"name": "b", "image": "nginx"}]);
    two["spec"]["initContainers"] = json!([{"name": "setup", "image": "busybox"}]);
    api.post(PODS, &two).await;
    let (_, err) = api.get(&format!("{PODS}/two/exec?command=ls")).await;
    assert_eq!(
        err["message"],
        "a container name must be specified for pod two, choose one of: [a b] or one of the init containers: [setup]"
    );

    running_pod(&api, "web").await;
    let (status, err) = api
        .post(&format!("{PODS}/web/exec?command=ls"), &json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "kubesim cannot exec into container c of pod web: node node-1 is simulated, and its containers run no processes"
    );
    let (status, err) = api
        .get(&format!("{PODS}/web/exec?command=ls&container=other"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "container other is not valid for pod web");
    let (status, err) = api.get(&format!("{PODS}/web/portforward?ports=80")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "kubesim cannot port-forward to pod web: node node-1 is simulated, and its containers run no processes"
    );
    // Other resources have no such subresource.
    let (status, _) = api
        .get("/api/v1/namespaces/default/configmaps/web/exec")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logs_check_the_pod_and_container_as_upstream() {
    let api = TestApi::new();
    assert_eq!(
        api.get(&format!("{PODS}/nope/log")).await.0,
        StatusCode::NOT_FOUND
    );
    api.post(PODS, &pod("pending")).await;
    let (status, err) = api.get(&format!("{PODS}/pending/log")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "pod pending does not have a host assigned");
    running_pod(&api, "web").await;
    let (status, body) = api.get(&format!("{PODS}/web/log")).await;
    assert_eq!((status, body), (StatusCode::OK, json!("")));
    let (status, err) = api.get(&format!("{PODS}/web/log?container=other")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "container other is not valid for pod web");
    let (status, err) = api.get(&format!("{PODS}/web/log?tailLines=-1")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
}

#[tokio::test]
async fn eviction_without_a_budget_deletes_the_pod() {
    let api = TestApi::new();
    running_pod(&api, "web").await;
    let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web"}, "deleteOptions": {"gracePeriodSeconds": 0}});
    let (status, body) = api.post(&format!("{PODS}/web/eviction"), &eviction).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "Success");
    assert_eq!(
        api.get(&format!("{PODS}/web")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_budget_allowing_no_disruption_refuses_with_429() {
    let api = TestApi::new();
    running_pod(&api, "web").await;
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    let (status, created) = api.post(PDBS, &pdb).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let eviction =
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "web"}});
    // Not yet observed by the disruption controller.
    let (status, err) = api.post(&format!("{PODS}/web/eviction"), &eviction).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(err["details"]["causes"][0]["reason"], "DisruptionBudget");
    // Observed, no disruption allowed.
    let observed = json!({"status": {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}});
    api.patch(
        &format!("{PDBS}/web/status"),
        "application/merge-patch+json",
        &observed,
    )
    .await;
    let (status, err) = api.post(&format!("{PODS}/web/eviction"), &eviction).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{err}");
    assert_eq!(
        err["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    assert_eq!(
        err["details"]["causes"][0]["message"],
        "The disruption budget web needs 1 healthy pods and has 1 currently"
    );
    assert_eq!(api.get(&format!("{PODS}/web")).await.0, StatusCode::OK);
    // One disruption allowed: the eviction spends it.
    api.patch(
        &format!("{PDBS}/web/status"),
        "application/merge-patch+json",
        &json!({"status": {"disruptionsAllowed": 1, "currentHealthy": 2}}),
    )
    .await;
    let (status, body) = api.post(&format!("{PODS}/web/eviction"), &eviction).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, budget) = api.get(&format!("{PDBS}/web")).await;
    assert_eq!(budget["status"]["disruptionsAllowed"], 0);
    assert!(
        budget["status"]["disruptedPods"]["web"].is_string(),
        "{budget}"
    );
    // A pod on a node terminates gracefully after its eviction.
    let (_, terminating) = api.get(&format!("{PODS}/web")).await;
    assert!(
        terminating["metadata"]["deletionTimestamp"].is_string(),
        "{terminating}"
    );
}
