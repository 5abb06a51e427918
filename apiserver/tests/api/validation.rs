//! Defaulting and validation over HTTP, as upstream's strategies answer.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{TestApi, pod};
use serde_json::json;

const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

#[tokio::test]
async fn pods_get_upstream_defaults() {
    let api = TestApi::new();
    let mut p = pod("web");
    p["spec"]["containers"] =
        json!([{"name": "a", "image": "nginx:1.27"}, {"name": "b", "image": "busybox"}]);
    let (status, created) = api.post(PODS, &p).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let spec = &created["spec"];
    assert_eq!(spec["restartPolicy"], "Always");
    assert_eq!(spec["dnsPolicy"], "ClusterFirst");
    assert_eq!(spec["terminationGracePeriodSeconds"], 30);
    assert_eq!(spec["schedulerName"], "default-scheduler");
    assert_eq!(spec["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        spec["containers"][1]["imagePullPolicy"], "Always",
        "untagged means :latest"
    );
    assert_eq!(
        spec["containers"][0]["terminationMessagePath"],
        "/dev/termination-log"
    );
    let tolerations = spec["tolerations"].as_array().expect("default tolerations");
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        assert!(
            tolerations.iter().any(|t| t["key"] == key
                && t["effect"] == "NoExecute"
                && t["tolerationSeconds"] == 300),
            "{key}: {tolerations:?}"
        );
    }
    assert_eq!(created["status"]["phase"], "Pending");
    assert_eq!(created["status"]["qosClass"], "BestEffort");
}

#[tokio::test]
async fn invalid_pods_are_422_with_causes_and_nothing_is_stored() {
    let api = TestApi::new();
    let (status, err) = api
        .post(
            PODS,
            &json!({"metadata": {"name": "empty"}, "spec": {"containers": []}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["reason"], "Invalid");
    assert_eq!(err["details"]["kind"], "Pod");
    assert_eq!(err["details"]["name"], "empty");
    assert_eq!(
        err["message"],
        "Pod \"empty\" is invalid: spec.containers: Required value"
    );
    assert_eq!(
        err["details"]["causes"][0],
        json!({"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers"})
    );
    assert_eq!(
        api.get(&format!("{PODS}/empty")).await.0,
        StatusCode::NOT_FOUND
    );

    let mut bad_name = pod("Bad_Name");
    bad_name["spec"]["containers"][0]["name"] = json!("c");
    let (status, err) = api.post(PODS, &bad_name).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["details"]["causes"][0]["field"], "metadata.name");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("a lowercase RFC 1123 subdomain")),
        "{err}"
    );

    let wrong_type = json!({"metadata": {"name": "x"}, "spec": {"containers": "not a list"}});
    let (status, err) = api.post(PODS, &wrong_type).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Pod in version \"v1\" cannot be handled as a Pod")),
        "{err}"
    );
}

#[tokio::test]
async fn a_pod_spec_is_immutable_but_for_what_upstream_allows() {
    let api = TestApi::new();
    api.post(PODS, &pod("p")).await;
    // (A merge patch would replace the whole containers list, dropping the service
    // account's volume mount the server added — a forbidden change, as upstream.)
    let image =
        json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.28"}]);
    let (status, changed) = api
        .patch(&format!("{PODS}/p"), "application/json-patch+json", &image)
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["spec"]["containers"][0]["image"], "nginx:1.28");
    assert_eq!(changed["metadata"]["generation"], 2);
    let (status, err) = api
        .patch(
            &format!("{PODS}/p"),
            "application/merge-patch+json",
            &json!({"spec": {"restartPolicy": "Never"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["message"].as_str().is_some_and(
            |m| m.contains("spec: Forbidden: pod updates may not change fields other than")
        ),
        "{err}"
    );
}

#[tokio::test]
async fn deployments_get_defaults_and_a_fixed_selector() {
    let api = TestApi::new();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    });
    let (status, created) = api.post(DEPLOYS, &deployment).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let spec = &created["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");

    let mut mismatched = deployment.clone();
    mismatched["metadata"]["name"] = json!("other");
    mismatched["spec"]["selector"]["matchLabels"]["app"] = json!("nope");
    let (status, err) = api.post(DEPLOYS, &mismatched).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("`selector` does not match template `labels`")),
        "{err}"
    );

    let mut reselect = created.clone();
    reselect["spec"]["selector"] = json!({"matchLabels": {"app": "web", "tier": "x"}});
    reselect["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "tier": "x"});
    let (status, err) = api.put(&format!("{DEPLOYS}/web"), &reselect).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["message"]
            .as_str()
            .is_some_and(|m| m.contains("spec.selector") && m.contains("field is immutable")),
        "{err}"
    );
}

/// client-go's typed clients send protobuf; kubectl's body for
/// `kubectl create configmap x --from-literal=a=b`, captured from kubectl 1.35.2.
#[tokio::test]
async fn protobuf_bodies_from_typed_clients_are_accepted() {
    let api = TestApi::new();
    let body =
        include_bytes!("../../../crates/apimachinery/src/protobuf/testdata/configmap.pb").to_vec();
    let (status, created) = api
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/vnd.kubernetes.protobuf",
            body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "ConfigMap");
    assert!(
        created["data"].as_object().is_some_and(|d| !d.is_empty()),
        "{created}"
    );
    let (status, _) = api
        .send(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/vnd.kubernetes.protobuf",
            b"k8s\0garbage".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
