//! Server-side Tables over HTTP: what `kubectl get` asks for and receives, for get,
//! list and watch, with each `includeObject`.

use crate::common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{TestApi, configmap, pod, rv};
use serde_json::{Value, json};

/// The Accept header kubectl 1.35 sends for `kubectl get`.
const KUBECTL: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
const PODS: &str = "/api/v1/namespaces/default/pods";

async fn table(api: &TestApi, uri: &str) -> Value {
    let (status, body) = api.get_accepting(uri, KUBECTL).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).expect("a Table is JSON")
}

fn column_names(table: &Value) -> Vec<(String, u64)> {
    table["columnDefinitions"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["priority"].as_u64().unwrap_or(99),
            )
        })
        .collect()
}

fn cells(row: &Value) -> &[Value] {
    row["cells"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// An age just now: a few seconds.
fn is_fresh_age(cell: &Value) -> bool {
    cell.as_str()
        .is_some_and(|s| s.ends_with('s') && s[..s.len() - 1].parse::<u32>().is_ok_and(|n| n < 30))
}

#[tokio::test]
async fn a_pod_list_as_kubectl_asks_for_it() {
    let api = TestApi::new();
    api.post(PODS, &pod("web")).await;
    api.post(PODS, &pod("db")).await;
    let (_, plain) = api.get(PODS).await;

    let table = table(&api, PODS).await;
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        table["metadata"]["resourceVersion"],
        plain["metadata"]["resourceVersion"]
    );
    assert_eq!(
        column_names(&table),
        [
            ("Name", 0),
            ("Ready", 0),
            ("Status", 0),
            ("Restarts", 0),
            ("Age", 0),
            ("IP", 1),
            ("Node", 1),
            ("Nominated Node", 1),
            ("Readiness Gates", 1)
        ]
        .map(|(n, p)| (n.to_string(), p))
    );
    let name = &table["columnDefinitions"][0];
    assert_eq!(
        (&name["type"], &name["format"]),
        (&json!("string"), &json!("name"))
    );
    assert_eq!(table["columnDefinitions"][1]["format"], "");
    assert!(
        name["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Name must be unique"))
    );

    let rows = table["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    // Listed in name order, as the store keeps them.
    let row = &rows[1];
    assert_eq!(
        cells(row)[..4],
        [json!("web"), json!("0/1"), json!("Pending"), json!("0")]
    );
    assert!(is_fresh_age(&row["cells"][4]), "{}", row["cells"][4]);
    assert_eq!(
        cells(row)[5..],
        [
            json!("<none>"),
            json!("<none>"),
            json!("<none>"),
            json!("<none>")
        ]
    );
    // includeObject defaults to Metadata.
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(row["object"]["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(row["object"]["metadata"]["name"], "web");
    assert_eq!(row["object"]["metadata"]["namespace"], "default");
    assert_eq!(row["object"]["metadata"]["labels"]["app"], "web");
    assert!(row["object"].get("spec").is_none());
    assert!(row.get("conditions").is_none());
}

#[tokio::test]
async fn one_object_as_a_table_carries_its_revision() {
    let api = TestApi::new();
    let (_, created) = api.post(PODS, &pod("web")).await;
    let table = table(&api, &format!("{PODS}/web")).await;
    assert_eq!(
        table["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    assert_eq!(table["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(table["rows"][0]["cells"][0], "web");
    // The status subresource prints the same.
    let status = self::table(&api, &format!("{PODS}/web/status")).await;
    assert_eq!(status["rows"][0]["cells"][2], "Pending");

    let (code, body) = api.get_accepting(&format!("{PODS}/nope"), KUBECTL).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let status: Value = serde_json::from_slice(&body).expect("Status");
    assert_eq!(
        (&status["kind"], &status["reason"]),
        (&json!("Status"), &json!("NotFound"))
    );
}

#[tokio::test]
async fn include_object_none_metadata_object() {
    let api = TestApi::new();
    api.post(PODS, &pod("web")).await;
    let whole = table(&api, &format!("{PODS}?includeObject=Object")).await;
    let object = &whole["rows"][0]["object"];
    assert_eq!(
        (&object["kind"], &object["apiVersion"]),
        (&json!("Pod"), &json!("v1"))
    );
    assert_eq!(object["spec"]["containers"][0]["image"], "nginx:1.27");
    let none = table(&api, &format!("{PODS}/web?includeObject=None")).await;
    assert_eq!(none["rows"][0]["object"], Value::Null);
    assert_eq!(none["rows"][0]["cells"][0], "web");

    let (code, body) = api
        .get_accepting(&format!("{PODS}?includeObject=Everything"), KUBECTL)
        .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let status: Value = serde_json::from_slice(&body).expect("Status");
    assert_eq!(
        status["message"],
        "Unable to convert to Table as requested: includeObject: Unsupported value: \"Everything\": supported values: \"Metadata\", \"None\", \"Object\""
    );
    // Without a Table, includeObject means nothing, as upstream.
    let (code, _) = api.get(&format!("{PODS}?includeObject=Everything")).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn plain_json_is_untouched_and_v1beta1_tables_are_served() {
    let api = TestApi::new();
    api.post(PODS, &pod("web")).await;
    let (_, without) = api.get_accepting(PODS, "*/*").await;
    let (_, plain) = api.get_accepting(PODS, "application/json").await;
    let (_, protobuf_first) = api
        .get_accepting(
            PODS,
            "application/vnd.kubernetes.protobuf, application/json",
        )
        .await;
    assert_eq!(without, plain);
    assert_eq!(without, protobuf_first);
    assert_eq!(
        serde_json::from_slice::<Value>(&plain).expect("json")["kind"],
        "PodList"
    );

    let (_, body) = api
        .get_accepting(PODS, "application/json;as=Table;v=v1beta1;g=meta.k8s.io")
        .await;
    let beta: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(beta["apiVersion"], "meta.k8s.io/v1beta1");
    assert_eq!(
        beta["rows"][0]["object"]["apiVersion"],
        "meta.k8s.io/v1beta1"
    );
}

#[tokio::test]
async fn selectors_and_namespaces_choose_the_rows() {
    let api = TestApi::new();
    api.post(
        "/api/v1/namespaces",
        &json!({"metadata": {"name": "other"}}),
    )
    .await;
    api.post(PODS, &pod("web")).await;
    let mut db = pod("db");
    db["metadata"]["labels"] = json!({"app": "db"});
    api.post(PODS, &db).await;
    api.post("/api/v1/namespaces/other/pods", &pod("web")).await;

    let selected = table(&api, &format!("{PODS}?labelSelector=app%3Ddb")).await;
    assert_eq!(selected["rows"].as_array().map(Vec::len), Some(1));
    assert_eq!(selected["rows"][0]["cells"][0], "db");
    let all = table(&api, "/api/v1/pods").await;
    let namespaces: Vec<&str> = all["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["object"]["metadata"]["namespace"].as_str())
        .collect();
    assert_eq!(namespaces, ["default", "default", "other"]);
    let empty = table(&api, "/api/v1/namespaces/other/configmaps").await;
    assert_eq!(empty["rows"], json!([]));
    assert_eq!(column_names(&empty)[1], ("Data".to_string(), 0));
}

#[tokio::test]
async fn pod_status_written_through_the_status_subresource_shows() {
    let api = TestApi::new();
    api.post(PODS, &pod("web")).await;
    let status = json!({"status": {"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "c", "image": "nginx:1.27", "imageID": "", "ready": false, "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()}}}]}});
    let (code, _) = api
        .patch(
            &format!("{PODS}/web/status"),
            "application/merge-patch+json",
            &status,
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let row = &table(&api, &format!("{PODS}/web")).await["rows"][0];
    assert_eq!(cells(row)[1..3], [json!("0/1"), json!("CrashLoopBackOff")]);
    let restarts = row["cells"][3].as_str().unwrap_or_default();
    assert!(
        restarts.starts_with("4 (") && restarts.ends_with("s ago)"),
        "{restarts}"
    );
    assert_eq!(row["cells"][5], "10.244.0.5");

    api.patch(&format!("{PODS}/web/status"), "application/merge-patch+json", &json!({"status": {"phase": "Succeeded",
        "containerStatuses": [{"name": "c", "image": "nginx:1.27", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}})).await;
    let row = &table(&api, &format!("{PODS}/web")).await["rows"][0];
    assert_eq!(row["cells"][2], "Completed");
    assert_eq!(row["conditions"][0]["type"], "Completed");
}

#[tokio::test]
async fn other_kinds_print_their_own_columns() {
    let api = TestApi::new();
    api.post("/api/v1/nodes", &json!({"metadata": {"name": "node-1", "labels": {"node-role.kubernetes.io/control-plane": ""}}})).await;
    let nodes = table(&api, "/api/v1/nodes").await;
    assert_eq!(
        cells(&nodes["rows"][0])[..3],
        [json!("node-1"), json!("Unknown"), json!("control-plane")]
    );

    api.post("/api/v1/namespaces/default/limitranges", &json!({"metadata": {"name": "limits"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}}))
        .await;
    let limits = table(&api, "/api/v1/namespaces/default/limitranges").await;
    // No printer upstream: the default table, with the creation time as written.
    assert_eq!(
        column_names(&limits),
        [("Name".to_string(), 0), ("Created At".to_string(), 0)]
    );
    assert_eq!(limits["columnDefinitions"][1]["type"], "date");
    assert!(
        limits["rows"][0]["cells"][1]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 20)
    );

    let namespaces = table(&api, "/api/v1/namespaces").await;
    let default = namespaces["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["cells"][0] == "default")
        .cloned()
        .unwrap_or_default();
    assert_eq!(default["cells"][1], "Active");

    // HorizontalPodAutoscalers are printed from their stored autoscaling/v2 form at any version.
    let hpa = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5, "targetCPUUtilizationPercentage": 60}});
    let (code, body) = api
        .post(
            "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers",
            &hpa,
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let hpas = table(
        &api,
        "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers?includeObject=Object",
    )
    .await;
    assert_eq!(
        cells(&hpas["rows"][0])[1..6],
        [
            json!("Deployment/web"),
            json!("cpu: <unknown>/60%"),
            json!("1"),
            json!(5),
            json!(0)
        ]
    );
    assert_eq!(hpas["rows"][0]["object"]["apiVersion"], "autoscaling/v1");
}

#[tokio::test]
async fn a_watch_sends_one_row_tables_with_columns_first() {
    let api = TestApi::new();
    const CMS: &str = "/api/v1/namespaces/default/configmaps";
    api.post(CMS, &configmap("a", json!({"k": "v"}))).await;
    let mut watch = api
        .watch_accepting(&format!("{CMS}?watch=true"), KUBECTL)
        .await;
    let first = watch.next().await;
    assert_eq!(first["type"], "ADDED");
    let object = &first["object"];
    assert_eq!(object["kind"], "Table");
    assert_eq!(
        column_names(object)
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["Name", "Data", "Age"]
    );
    assert_eq!(cells(&object["rows"][0])[..2], [json!("a"), json!(1)]);
    assert_eq!(object["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    let (_, b) = api.post(CMS, &configmap("b", json!({}))).await;
    let second = watch.next().await;
    assert_eq!(second["type"], "ADDED");
    // Later events leave the columns out, as upstream does.
    assert_eq!(second["object"]["columnDefinitions"], Value::Null);
    assert_eq!(second["object"]["rows"][0]["cells"][0], "b");
    assert_eq!(
        second["object"]["metadata"]["resourceVersion"],
        rv(&b).to_string()
    );

    api.delete(&format!("{CMS}/a")).await;
    let deleted = watch.next().await;
    assert_eq!(deleted["type"], "DELETED");
    assert_eq!(deleted["object"]["rows"][0]["cells"][0], "a");
    assert!(
        watch
            .next_within(Duration::from_millis(100))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn watch_list_bookmarks_stay_plain() {
    let api = TestApi::new();
    api.post(PODS, &pod("web")).await;
    let uri = format!(
        "{PODS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&includeObject=None"
    );
    let mut watch = api.watch_accepting(&uri, KUBECTL).await;
    let added = watch.next().await;
    assert_eq!(added["object"]["kind"], "Table");
    assert_eq!(added["object"]["rows"][0]["object"], Value::Null);
    let bookmark = watch.next().await;
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "Pod");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
}
