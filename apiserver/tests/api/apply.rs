//! Server-side apply and managedFields over HTTP.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{TestApi, rv};
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";

async fn apply(
    api: &TestApi,
    name: &str,
    manager: &str,
    force: bool,
    yaml: &str,
) -> (StatusCode, Value) {
    let uri = format!(
        "{CMS}/{name}?fieldManager={manager}{}",
        if force { "&force=true" } else { "" }
    );
    api.send(
        Method::PATCH,
        &uri,
        "application/apply-patch+yaml",
        yaml.as_bytes().to_vec(),
    )
    .await
}

fn managers(obj: &Value) -> Vec<(String, String)> {
    obj["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or("").to_string(),
                e["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn apply_creates_then_merges_and_records_ownership() {
    let api = TestApi::new();
    let first =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n  b: \"2\"\n";
    let (status, created) = apply(&api, "app", "tool-a", false, first).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"], json!({"a": "1", "b": "2"}));
    assert_eq!(
        managers(&created),
        [("tool-a".to_string(), "Apply".to_string())]
    );
    assert_eq!(
        created["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:data": {".": {}, "f:a": {}, "f:b": {}}})
            .get("f:data")
            .map(|d| json!({"f:data": {"f:a": d["f:a"], "f:b": d["f:b"]}}))
            .unwrap_or_default()
    );

    // Applying again without `b` removes it: only tool-a had it.
    let second = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n";
    let (status, applied) = apply(&api, "app", "tool-a", false, second).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["data"], json!({"a": "1"}));

    // Applying the same thing again changes nothing.
    let (_, again) = apply(&api, "app", "tool-a", false, second).await;
    assert_eq!(rv(&again), rv(&applied));
}

#[tokio::test]
async fn another_managers_different_value_conflicts_until_forced() {
    let api = TestApi::new();
    apply(
        &api,
        "app",
        "tool-a",
        false,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: \"1\"}\n",
    )
    .await;
    let theirs = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: \"2\"}\n";
    let (status, err) = apply(&api, "app", "tool-b", false, theirs).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["reason"], "Conflict");
    assert_eq!(
        err["message"],
        "Apply failed with 1 conflict: conflict with \"tool-a\" using v1: .data.a"
    );
    assert_eq!(
        err["details"]["causes"][0],
        json!({"reason": "FieldManagerConflict", "message": "conflict with \"tool-a\" using v1", "field": ".data.a"})
    );
    let (status, forced) = apply(&api, "app", "tool-b", true, theirs).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(forced["data"]["a"], "2");
    assert_eq!(
        managers(&forced),
        [("tool-b".to_string(), "Apply".to_string())]
    );
}

#[tokio::test]
async fn apply_needs_a_field_manager() {
    let api = TestApi::new();
    let (status, err) = api
        .send(
            Method::PATCH,
            &format!("{CMS}/x"),
            "application/apply-patch+yaml",
            b"apiVersion: v1\nkind: ConfigMap\n".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        err["message"],
        "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
    );
}

#[tokio::test]
async fn updates_record_their_manager_and_take_changed_fields() {
    let api = TestApi::new();
    apply(
        &api,
        "app",
        "tool-a",
        false,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: \"1\"}\n",
    )
    .await;
    // An update (merge patch) from another client takes the field it changes, without conflict.
    let (status, patched) = api
        .patch(
            &format!("{CMS}/app?fieldManager=editor"),
            "application/merge-patch+json",
            &json!({"data": {"a": "9"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        managers(&patched),
        [("editor".to_string(), "Update".to_string())]
    );
    // Without fieldManager the manager is the User-Agent's product.
    let (_, created) = api
        .post(
            CMS,
            &json!({"metadata": {"name": "plain"}, "data": {"x": "1"}}),
        )
        .await;
    assert_eq!(
        managers(&created),
        [("kubesim-tests".to_string(), "Update".to_string())]
    );
    // Now tool-a's apply of its old value conflicts with the editor.
    let (status, _) = apply(
        &api,
        "app",
        "tool-a",
        false,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {a: \"1\"}\n",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// The fields of `manager`'s entry.
fn fields_of(obj: &Value, manager: &str) -> Value {
    obj["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == manager))
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn an_update_owns_the_maps_structs_and_lists_it_adds() {
    let api = TestApi::new();
    // `kubectl create deployment nginx --image=nginx`'s body, and the entry a real
    // cluster records for it: the labels map, the rollingUpdate struct and each list item
    // it added are owned themselves (`"."`); spec, template and the containers list,
    // there before in the empty Deployment, are not.
    let body = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}, "name": "nginx"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "nginx"}}, "strategy": {},
            "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "nginx"}},
                "spec": {"containers": [{"image": "nginx", "name": "nginx", "resources": {}}]}}},
        "status": {}});
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    let (status, created) = api
        .post(&format!("{deployments}?fieldManager=kubectl-create"), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    // The entry a real cluster records for `kubectl create deployment nginx --image=nginx`.
    let upstream: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/kubectl-create-deployment-fieldsV1.json"
    ))
    .expect("the fixture is JSON");
    assert_eq!(fields_of(&created, "kubectl-create"), upstream);

    // A later update adding annotations owns that map; the creator keeps its own.
    let (status, patched) = api
        .patch(
            &format!("{deployments}/nginx?fieldManager=annotator"),
            "application/merge-patch+json",
            &json!({"metadata": {"annotations": {"note": "x"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        fields_of(&patched, "annotator"),
        json!({"f:metadata": {"f:annotations": {".": {}, "f:note": {}}}})
    );
    assert_eq!(fields_of(&patched, "kubectl-create"), upstream);
}

/// An apply to `/status` neither owns nor conflicts on what the status strategy resets
/// (a Deployment's spec and labels), as upstream strips those fields from the applied
/// configuration; it owns its status and the rest of the metadata.
#[tokio::test]
async fn a_status_apply_ignores_the_fields_its_strategy_resets() {
    let api = TestApi::new();
    let deploys = "/apis/apps/v1/namespaces/default/deployments";
    let deployment = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}"#;
    let (status, created) = api
        .send(
            Method::PATCH,
            &format!("{deploys}/web?fieldManager=owner"),
            "application/apply-patch+yaml",
            deployment.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        fields_of(&created, "owner").get("f:status").is_none(),
        "{created}"
    );

    let status_config = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "other"}, "annotations": {"seen": "yes"}},
        "spec": {"replicas": 7}, "status": {"replicas": 2}}"#;
    let (status, applied) = api
        .send(
            Method::PATCH,
            &format!("{deploys}/web/status?fieldManager=reporter"),
            "application/apply-patch+yaml",
            status_config.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["spec"]["replicas"], 2);
    assert_eq!(applied["metadata"]["labels"]["app"], "web");
    assert_eq!(applied["metadata"]["annotations"]["seen"], "yes");
    assert_eq!(applied["status"]["replicas"], 2);
    let owned = fields_of(&applied, "reporter");
    assert!(owned["f:status"].get("f:replicas").is_some(), "{owned}");
    assert!(
        owned["f:metadata"]["f:annotations"].get("f:seen").is_some(),
        "{owned}"
    );
    assert!(owned.get("f:spec").is_none(), "{owned}");
    assert!(owned["f:metadata"].get("f:labels").is_none(), "{owned}");
}

/// A custom resource's status apply changes the status alone, and keeps the ownership it
/// records (upstream's custom resource status strategy keeps managedFields).
#[tokio::test]
async fn a_custom_resources_status_apply_is_recorded() {
    let api = TestApi::new();
    api.server.registry.add(common::widgets(true));
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let (status, created) = api
        .post(
            widgets,
            &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"n": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let config = r#"{"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}}, "status": {"ready": true}}"#;
    let (status, applied) = api
        .send(
            Method::PATCH,
            &format!("{widgets}/w/status?fieldManager=reporter"),
            "application/apply-patch+yaml",
            config.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["status"]["ready"], true);
    assert!(applied["metadata"].get("labels").is_none(), "{applied}");
    let owned = fields_of(&applied, "reporter");
    assert!(owned["f:status"].get("f:ready").is_some(), "{applied}");
}
