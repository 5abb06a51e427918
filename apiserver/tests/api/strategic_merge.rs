//! `PATCH` with `application/strategic-merge-patch+json`, as kubectl sends it.

use crate::common;

use axum::http::StatusCode;
use common::TestApi;
use serde_json::{Value, json};

const SMP: &str = "application/strategic-merge-patch+json";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "proxy:1"},
                ]},
            },
        },
    })
}

async fn with_deployment() -> TestApi {
    let api = TestApi::new();
    let (status, body) = api.post(DEPLOYS, &deployment()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    api
}

fn containers(obj: &Value) -> &Vec<Value> {
    obj["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
}

#[tokio::test]
async fn containers_merge_by_name_and_the_others_stay() {
    let api = with_deployment().await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}});
    let (status, patched) = api.patch(&format!("{DEPLOYS}/web"), SMP, &patch).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let names: Vec<&str> = containers(&patched)
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["app", "sidecar"]);
    assert_eq!(containers(&patched)[0]["image"], "app:2");
    assert_eq!(
        containers(&patched)[0]["env"].as_array().map(Vec::len),
        Some(2),
        "env untouched"
    );
    assert_eq!(
        patched["metadata"]["generation"], 2,
        "a spec change bumps the generation"
    );
    let (_, stored) = api.get(&format!("{DEPLOYS}/web")).await;
    assert_eq!(containers(&stored)[0]["image"], "app:2");
}

#[tokio::test]
async fn a_three_way_apply_patch_deletes_orders_and_adds() {
    let api = with_deployment().await;
    let patch = json!({"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{"name": "app",
            "$setElementOrder/env": [{"name": "A"}],
            "env": [{"name": "B", "$patch": "delete"}],
            "ports": [{"containerPort": 8080}]}],
    }}}});
    let (status, patched) = api.patch(&format!("{DEPLOYS}/web"), SMP, &patch).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let app = &containers(&patched)[0];
    assert_eq!(app["env"], json!([{"name": "A", "value": "1"}]));
    assert_eq!(app["ports"][0]["containerPort"], 8080);
    assert_eq!(containers(&patched).len(), 2);
    assert!(
        !patched.to_string().contains("$setElementOrder"),
        "no directive is stored"
    );
}

#[tokio::test]
async fn metadata_merges_labels_and_finalizers() {
    let api = with_deployment().await;
    let patch = json!({"metadata": {"labels": {"tier": "front"}, "finalizers": ["example.com/a", "example.com/b"]}});
    api.patch(&format!("{DEPLOYS}/web"), SMP, &patch).await;
    let patch = json!({"metadata": {"labels": {"tier": null}, "$deleteFromPrimitiveList/finalizers": ["example.com/a"]}});
    let (status, patched) = api.patch(&format!("{DEPLOYS}/web"), SMP, &patch).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["metadata"]["finalizers"], json!(["example.com/b"]));
    assert!(
        patched["metadata"]
            .get("labels")
            .is_none_or(|l| l.get("tier").is_none())
    );
}

#[tokio::test]
async fn node_taints_are_replaced_whole() {
    let api = TestApi::new();
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
        "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}});
    api.post("/api/v1/nodes", &node).await;
    let patch = json!({"spec": {"taints": [{"key": "b", "value": "x", "effect": "NoExecute"}]}});
    let (status, patched) = api.patch("/api/v1/nodes/n1", SMP, &patch).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        patched["spec"]["taints"],
        json!([{"key": "b", "value": "x", "effect": "NoExecute"}])
    );
}

#[tokio::test]
async fn malformed_directives_are_400() {
    let api = with_deployment().await;
    let patch =
        json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}});
    let (status, err) = api.patch(&format!("{DEPLOYS}/web"), SMP, &patch).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(err["reason"], "BadRequest");
    assert_eq!(err["message"], "invalid patch format of retainKeys");
    let (status, err) = api
        .patch(&format!("{DEPLOYS}/web"), SMP, &json!(["not", "a", "map"]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert_eq!(
        err["message"],
        "json: cannot unmarshal array into Go value of type map[string]interface {}"
    );
}

#[tokio::test]
async fn an_unknown_patch_directive_is_a_500_without_reason_as_upstream() {
    let api = with_deployment().await;
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "$patch": "bogus"}]}}}});
    let (status, err) = api.patch(&format!("{DEPLOYS}/web"), SMP, &patch).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{err}");
    assert_eq!(
        err["message"],
        "unknown patch type: bogus in map: map[$patch:bogus name:app]"
    );
    assert!(err.get("reason").is_none_or(|r| r == ""), "{err}");
    let (_, stored) = api.get(&format!("{DEPLOYS}/web")).await;
    assert_eq!(stored["metadata"]["generation"], 1, "nothing was written");
}

#[tokio::test]
async fn custom_resources_refuse_strategic_merge_patch_with_415() {
    let api = TestApi::new();
    api.server.registry.add(common::widgets(false));
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let (status, body) = api.post(widgets, &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"n": 1}})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, err) = api
        .patch(&format!("{widgets}/w"), SMP, &json!({"spec": {"n": 2}}))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{err}");
    assert_eq!(err["reason"], "UnsupportedMediaType");
    assert_eq!(
        err["message"],
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    );
}

#[tokio::test]
async fn status_subresource_takes_strategic_merge_patches() {
    let api = with_deployment().await;
    let patch = json!({"status": {"conditions": [{"type": "Available", "status": "True"}]}});
    let (status, patched) = api
        .patch(&format!("{DEPLOYS}/web/status"), SMP, &patch)
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let patch = json!({"status": {"conditions": [{"type": "Progressing", "status": "True"}]}});
    let (_, patched) = api
        .patch(&format!("{DEPLOYS}/web/status"), SMP, &patch)
        .await;
    let types: Vec<&str> = patched["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["type"].as_str())
        .collect();
    assert_eq!(
        types,
        ["Progressing", "Available"],
        "conditions merge by type; the new one first, as upstream orders"
    );
}
