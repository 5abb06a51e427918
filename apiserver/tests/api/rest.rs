//! The REST verbs over HTTP, as clients see them: paths, objects, resourceVersions, errors.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{TestApi, configmap, names, pod, rv};
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";

#[tokio::test]
async fn create_sets_server_metadata_and_namespace_from_the_url() {
    let api = TestApi::new();
    // What the server sets, sent by the client too (a copy of another object): replaced.
    let mut sent = configmap("a", json!({"k": "v"}));
    sent["metadata"]["uid"] = json!("4a8d1b0c-0000-0000-0000-000000000000");
    sent["metadata"]["creationTimestamp"] = json!("2001-02-03T04:05:06Z");
    let (status, cm) = api.post(CMS, &sent).await;
    assert_eq!(status, StatusCode::CREATED, "{cm}");
    let meta = &cm["metadata"];
    assert_eq!(meta["namespace"], "default");
    assert!(meta["uid"].as_str().is_some_and(|u| u.len() == 36), "{cm}");
    assert_ne!(meta["uid"], sent["metadata"]["uid"]);
    // `2026-12-05T09:40:01Z`: RFC 3339 in whole seconds, UTC, as upstream writes it.
    let created = meta["creationTimestamp"].as_str().unwrap_or_default();
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{cm}"
    );
    assert_ne!(created, "2001-02-03T04:05:06Z");
    // The creating manager's entry is of the same moment.
    assert_eq!(meta["managedFields"][0]["time"], created, "{cm}");
    assert!(rv(&cm) > 0);
    // ConfigMaps keep no generation; workloads and pods do.
    assert!(meta.get("generation").is_none(), "{cm}");
    let (_, p) = api.post(PODS, &pod("p")).await;
    assert_eq!(p["metadata"]["generation"], 1);
    let (status, got) = api.get(&format!("{CMS}/a")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, cm);
}

#[tokio::test]
async fn every_write_takes_the_next_revision_and_lists_report_theirs() {
    let api = TestApi::new();
    let (_, a) = api.post(CMS, &configmap("a", json!({}))).await;
    let (_, b) = api.post(CMS, &configmap("b", json!({}))).await;
    assert_eq!(rv(&b), rv(&a) + 1);
    let (status, list) = api.get(CMS).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["metadata"]["resourceVersion"], rv(&b).to_string());
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    let (_, empty) = api
        .get("/apis/apps/v1/namespaces/default/deployments")
        .await;
    assert_eq!(empty["items"], json!([]));
    assert!(
        empty["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|rv| !rv.is_empty())
    );
}

#[tokio::test]
async fn create_in_a_missing_namespace_is_not_found() {
    let api = TestApi::new();
    let (status, err) = api
        .post(
            "/api/v1/namespaces/nope/configmaps",
            &configmap("a", json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["kind"], "Status");
    assert_eq!(err["message"], "namespaces \"nope\" not found");
    assert_eq!(err["reason"], "NotFound");
    assert_eq!(err["details"]["kind"], "namespaces");
}

#[tokio::test]
async fn errors_are_status_objects_with_upstream_messages() {
    let api = TestApi::new();
    let (status, err) = api.get(&format!("{CMS}/missing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        err,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "configmaps \"missing\" not found", "reason": "NotFound",
            "details": {"name": "missing", "kind": "configmaps"}, "code": 404,
        })
    );
    api.post(CMS, &configmap("a", json!({}))).await;
    let (status, err) = api.post(CMS, &configmap("a", json!({}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["reason"], "AlreadyExists");
    assert_eq!(err["message"], "configmaps \"a\" already exists");
    let (status, err) = api
        .get("/apis/apps/v1/namespaces/default/deployments/x")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["message"], "deployments.apps \"x\" not found");
    assert_eq!(err["details"]["group"], "apps");
    let (status, err) = api.get("/api/v1/nosuchthings").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["kind"], "Status");
}

#[tokio::test]
async fn generate_name_makes_a_unique_name() {
    let api = TestApi::new();
    let body = json!({"metadata": {"generateName": "web-"}, "data": {}});
    let (status, a) = api.post(CMS, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let (_, b) = api.post(CMS, &body).await;
    let (na, nb) = (
        a["metadata"]["name"].as_str().unwrap_or(""),
        b["metadata"]["name"].as_str().unwrap_or(""),
    );
    assert!(na.starts_with("web-") && na.len() == 9, "{na}");
    assert_ne!(na, nb);
    let (status, err) = api.post(CMS, &json!({"metadata": {}, "data": {}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["details"]["causes"][0]["field"], "metadata.name");
}

#[tokio::test]
async fn update_with_a_stale_resource_version_conflicts_and_changes_nothing() {
    let api = TestApi::new();
    let (_, cm) = api.post(CMS, &configmap("a", json!({"n": "0"}))).await;
    let mut first = cm.clone();
    first["data"]["n"] = json!("1");
    let (status, updated) = api.put(&format!("{CMS}/a"), &first).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(rv(&updated) > rv(&cm));
    let mut stale = cm.clone();
    stale["data"]["n"] = json!("2");
    let (status, err) = api.put(&format!("{CMS}/a"), &stale).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["reason"], "Conflict");
    assert_eq!(
        err["message"],
        "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let (_, now) = api.get(&format!("{CMS}/a")).await;
    assert_eq!(now["data"]["n"], "1");
    assert_eq!(rv(&now), rv(&updated));
}

#[tokio::test]
async fn update_without_a_resource_version_is_unconditional_for_builtins() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({"n": "0"}))).await;
    let (status, updated) = api
        .put(&format!("{CMS}/a"), &configmap("a", json!({"n": "9"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["data"]["n"], "9");
    // The server keeps what the client may not change.
    assert!(updated["metadata"]["uid"].is_string());
}

/// A `PUT` to a missing object creates it (201) for the kinds upstream allows it
/// (`AllowCreateOnUpdate`: leases, services, endpoints, events, limit ranges), dropping
/// a resourceVersion it names; for the others it is 404 and nothing is made.
#[tokio::test]
async fn put_creates_a_missing_lease_or_service_but_not_a_configmap() {
    let api = TestApi::new();
    let leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "holder", "resourceVersion": "42"}, "spec": {"holderIdentity": "me"}});
    let (status, created) = api.put(&format!("{leases}/holder"), &lease).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["holderIdentity"], "me");
    assert!(created["metadata"]["uid"].is_string(), "{created}");
    assert_eq!(rv(&created), api.server.storage.revision());
    let (status, again) = api.put(&format!("{leases}/holder"), &created).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    // A uid in the body is a precondition: a Lease deleted since (a kubelet's renewal of
    // the one it held) is not recreated, and another object's uid is refused.
    let mut other = again.clone();
    other["metadata"]["uid"] = json!("0000");
    let (status, err) = api.put(&format!("{leases}/holder"), &other).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    api.delete(&format!("{leases}/holder")).await;
    let (status, err) = api.put(&format!("{leases}/holder"), &again).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(
        err["message"],
        format!(
            "Operation cannot be fulfilled on leases.coordination.k8s.io \"holder\": StorageError: invalid object, Code: 4, Key: /registry/leases/default/holder, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: {}, UID in object meta: ",
            again["metadata"]["uid"].as_str().unwrap_or_default()
        )
    );
    assert_eq!(
        api.get(&format!("{leases}/holder")).await.0,
        StatusCode::NOT_FOUND
    );

    let services = "/api/v1/namespaces/default/services";
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}});
    let (status, created) = api.put(&format!("{services}/web"), &service).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(created["spec"]["clusterIP"].is_string(), "{created}");

    let (status, err) = api
        .put(&format!("{CMS}/missing"), &configmap("missing", json!({})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert_eq!(err["reason"], "NotFound");
    assert_eq!(
        api.get(&format!("{CMS}/missing")).await.0,
        StatusCode::NOT_FOUND
    );
    // Nor does a subresource's PUT make its object.
    let mut other = service.clone();
    other["metadata"]["name"] = json!("other");
    let (status, _) = api.put(&format!("{services}/other/status"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_no_op_write_keeps_the_resource_version() {
    let api = TestApi::new();
    let (_, cm) = api.post(CMS, &configmap("a", json!({"n": "0"}))).await;
    let (status, same) = api.put(&format!("{CMS}/a"), &cm).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rv(&same), rv(&cm));
    let (_, merged) = api
        .patch(
            &format!("{CMS}/a"),
            "application/merge-patch+json",
            &json!({"data": {"n": "0"}}),
        )
        .await;
    assert_eq!(rv(&merged), rv(&cm));
    assert_eq!(api.server.storage.revision(), rv(&cm));
}

#[tokio::test]
async fn merge_and_json_patches_apply_as_their_rfcs_say() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({"keep": "1", "drop": "2"})))
        .await;
    let (status, merged) = api
        .patch(
            &format!("{CMS}/a"),
            "application/merge-patch+json",
            &json!({"data": {"drop": null, "new": "3"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["data"], json!({"keep": "1", "new": "3"}));

    let ops = json!([{"op": "test", "path": "/data/keep", "value": "1"}, {"op": "replace", "path": "/data/keep", "value": "x"}]);
    let (status, patched) = api
        .patch(&format!("{CMS}/a"), "application/json-patch+json", &ops)
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["keep"], "x");

    let failing = json!([{"op": "test", "path": "/data/keep", "value": "nope"}, {"op": "remove", "path": "/data/keep"}]);
    let (status, err) = api
        .patch(&format!("{CMS}/a"), "application/json-patch+json", &failing)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["kind"], "Status");
    let (_, unchanged) = api.get(&format!("{CMS}/a")).await;
    assert_eq!(unchanged["data"]["keep"], "x");

    // kube-rs adds a first finalizer by testing that the list is null.
    let first_finalizer = json!([
        {"op": "test", "path": "/metadata/finalizers", "value": null},
        {"op": "add", "path": "/metadata/finalizers", "value": ["example.com/f"]},
    ]);
    let (status, with) = api
        .patch(
            &format!("{CMS}/a"),
            "application/json-patch+json",
            &first_finalizer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{with}");
    assert_eq!(with["metadata"]["finalizers"], json!(["example.com/f"]));
}

#[tokio::test]
async fn a_patch_naming_a_stale_resource_version_conflicts() {
    let api = TestApi::new();
    let (_, cm) = api.post(CMS, &configmap("a", json!({}))).await;
    api.patch(
        &format!("{CMS}/a"),
        "application/merge-patch+json",
        &json!({"data": {"x": "1"}}),
    )
    .await;
    let patch = json!({"metadata": {"resourceVersion": cm["metadata"]["resourceVersion"]}, "data": {"x": "2"}});
    let (status, err) = api
        .patch(&format!("{CMS}/a"), "application/merge-patch+json", &patch)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
}

#[tokio::test]
async fn unsupported_patch_types_are_415() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({}))).await;
    let (status, err) = api
        .patch(&format!("{CMS}/a"), "text/plain", &json!({}))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(err["reason"], "UnsupportedMediaType");
}

#[tokio::test]
async fn yaml_bodies_are_accepted() {
    let api = TestApi::new();
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n";
    let (status, cm) = api
        .send(
            Method::POST,
            CMS,
            "application/yaml",
            yaml.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cm}");
    assert_eq!(cm["data"]["a"], "b");
}

#[tokio::test]
async fn bodies_over_3_mib_are_refused_with_413() {
    let api = TestApi::new();
    let big = configmap("big", json!({"x": "a".repeat(3 * 1024 * 1024)}));
    let (status, err) = api.post(CMS, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(err["reason"], "RequestEntityTooLarge");
    assert_eq!(
        api.get(&format!("{CMS}/big")).await.0,
        StatusCode::NOT_FOUND
    );
    // Just under the limit the body is read: a ConfigMap that big is then invalid
    // (its data may hold 1 MiB), not too large.
    let under = configmap("under", json!({"x": "a".repeat(3 * 1024 * 1024 - 4096)}));
    let (status, err) = api.post(CMS, &under).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        err["message"]
    );
}

#[tokio::test]
async fn mismatched_type_or_namespace_is_a_bad_request() {
    let api = TestApi::new();
    let (status, err) = api
        .post(
            CMS,
            &json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "a"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, err) = api
        .post(
            CMS,
            &json!({"kind": "ConfigMap", "metadata": {"name": "a", "namespace": "kube-system"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "the namespace of the provided object does not match the namespace sent on the request"
    );
    let (status, _) = api
        .send(Method::POST, CMS, "application/json", b"{not json".to_vec())
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn label_and_field_selectors_filter_lists() {
    let api = TestApi::new();
    for (name, tier) in [("a", "web"), ("b", "db"), ("c", "web")] {
        let mut cm = configmap(name, json!({}));
        cm["metadata"]["labels"] = json!({"tier": tier});
        api.post(CMS, &cm).await;
    }
    let names = |list: &serde_json::Value| -> Vec<String> {
        list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| i["metadata"]["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        names(&api.get(&format!("{CMS}?labelSelector=tier%3Dweb")).await.1),
        ["a", "c"]
    );
    assert_eq!(
        names(
            &api.get(&format!("{CMS}?labelSelector=tier+notin+(web)"))
                .await
                .1
        ),
        ["b"]
    );
    assert_eq!(
        names(&api.get(&format!("{CMS}?labelSelector=!tier")).await.1),
        Vec::<String>::new()
    );
    assert_eq!(
        names(
            &api.get(&format!("{CMS}?fieldSelector=metadata.name%3Db"))
                .await
                .1
        ),
        ["b"]
    );
    assert_eq!(
        names(
            &api.get("/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddefault")
                .await
                .1
        ),
        ["a", "b", "c"]
    );
    let (status, err) = api.get(&format!("{CMS}?labelSelector=tier%3D%3D%3D")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    let (status, err) = api
        .get(&format!("{CMS}?fieldSelector=spec.nodeName%3Dn1"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "field label not supported: spec.nodeName");
}

#[tokio::test]
async fn pods_are_selected_by_node_and_phase() {
    let api = TestApi::new();
    let mut on_node = pod("on-node");
    on_node["spec"]["nodeName"] = json!("n1");
    api.post(PODS, &on_node).await;
    api.post(PODS, &pod("pending")).await;
    let (_, list) = api
        .get("/api/v1/pods?fieldSelector=spec.nodeName%3Dn1")
        .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["items"][0]["metadata"]["name"], "on-node");
    let (_, unbound) = api
        .get(&format!("{PODS}?fieldSelector=spec.nodeName%3D"))
        .await;
    assert_eq!(unbound["items"][0]["metadata"]["name"], "pending");
    // By phase: the bound pod runs, the other waits.
    let (status, running) = api
        .patch(
            &format!("{PODS}/on-node/status"),
            "application/merge-patch+json",
            &json!({"status": {"phase": "Running"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{running}");
    let (_, list) = api
        .get(&format!("{PODS}?fieldSelector=status.phase%3DRunning"))
        .await;
    assert_eq!(names(&list), ["on-node"]);
    let (_, list) = api
        .get(&format!("{PODS}?fieldSelector=status.phase!%3DRunning"))
        .await;
    assert_eq!(names(&list), ["pending"]);
    let (_, list) = api
        .get(&format!(
            "{PODS}?fieldSelector=status.phase%3DPending,spec.nodeName%3D"
        ))
        .await;
    assert_eq!(names(&list), ["pending"]);
}

/// Events are selected by what they are about (`involvedObject.*`), as
/// `kubectl describe` asks for them.
#[tokio::test]
async fn events_are_selected_by_their_involved_object() {
    let api = TestApi::new();
    let events = "/api/v1/namespaces/default/events";
    for (name, kind, about, uid) in [
        ("a.1", "Pod", "web", "u1"),
        ("b.1", "Pod", "db", "u2"),
        ("c.1", "Node", "web", "u3"),
    ] {
        let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
            "involvedObject": {"kind": kind, "name": about, "namespace": "default", "uid": uid},
            "reason": "Testing", "message": "m", "type": "Normal"});
        let (status, created) = api.post(events, &event).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    let (_, list) = api
        .get(&format!("{events}?fieldSelector=involvedObject.name%3Dweb"))
        .await;
    assert_eq!(names(&list), ["a.1", "c.1"]);
    let (_, list) = api
        .get(&format!(
            "{events}?fieldSelector=involvedObject.name%3Dweb,involvedObject.kind%3DPod"
        ))
        .await;
    assert_eq!(names(&list), ["a.1"]);
    let (_, list) = api
        .get(&format!("{events}?fieldSelector=involvedObject.uid%3Du2"))
        .await;
    assert_eq!(names(&list), ["b.1"]);
    let (_, list) = api
        .get(&format!(
            "{events}?fieldSelector=involvedObject.kind!%3DPod"
        ))
        .await;
    assert_eq!(names(&list), ["c.1"]);
}

#[tokio::test]
async fn all_namespaces_lists_span_namespaces() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({}))).await;
    api.post(
        "/api/v1/namespaces/kube-system/configmaps",
        &configmap("b", json!({})),
    )
    .await;
    let (_, all) = api.get("/api/v1/configmaps").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn system_endpoints_answer() {
    let api = TestApi::new();
    for path in [
        "/healthz",
        "/livez",
        "/readyz",
        "/readyz/ping",
        "/livez/log",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!((status, body), (StatusCode::OK, json!("ok")), "{path}");
    }
    // Upstream's verbose form: each check, then the verdict; excluded checks say so.
    let text = |(status, body): (StatusCode, bytes::Bytes)| {
        (status, String::from_utf8_lossy(&body).to_string())
    };
    let hooks = "[+]poststarthook/scheduling/bootstrap-system-priority-classes ok\n";
    assert_eq!(
        text(api.get_accepting("/readyz?verbose", "*/*").await),
        (
            StatusCode::OK,
            format!("[+]ping ok\n[+]log ok\n{hooks}[+]shutdown ok\nreadyz check passed\n")
        )
    );
    assert_eq!(
        text(
            api.get_accepting("/livez?verbose&exclude=log&exclude=etcd", "*/*")
                .await
        ),
        (
            StatusCode::OK,
            format!(
                "[+]ping ok\n[+]log excluded: ok\n{hooks}\
                 warn: some health checks cannot be excluded: no matches for \"etcd\"\n\
                 livez check passed\n"
            )
        )
    );
    assert_eq!(
        api.get_accepting("/readyz/etcd", "*/*").await.0,
        StatusCode::NOT_FOUND
    );
    // Shutting down: not ready (every check listed, verbose or not), still live.
    api.server.stopping.send_replace(true);
    assert_eq!(
        text(api.get_accepting("/readyz", "*/*").await),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "[+]ping ok\n[+]log ok\n{hooks}[-]shutdown failed: reason withheld\nreadyz check failed"
            )
        )
    );
    assert_eq!(api.get("/livez").await, (StatusCode::OK, json!("ok")));
    let (status, version) = api.get("/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version["major"], "1");
    assert!(
        version["gitVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("v1.35"))
    );
    for key in [
        "minor",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ] {
        assert!(version[key].is_string(), "{key}");
    }
}

#[tokio::test]
async fn the_initial_namespaces_exist() {
    let api = TestApi::new();
    let (_, list) = api.get("/api/v1/namespaces").await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );
}

/// The two system priority classes exist from the start, as upstream's post-start hook
/// creates them, and a DELETE of one is refused as upstream's REST.Delete refuses it.
#[tokio::test]
async fn the_system_priority_classes_exist_and_stay() {
    const PCS: &str = "/apis/scheduling.k8s.io/v1/priorityclasses";
    let api = TestApi::new();
    let (_, list) = api.get(PCS).await;
    let classes: Vec<(&str, i64, &str, &str, bool)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            (
                c["metadata"]["name"].as_str().unwrap_or(""),
                c["value"].as_i64().unwrap_or(0),
                c["description"].as_str().unwrap_or(""),
                c["preemptionPolicy"].as_str().unwrap_or(""),
                c["globalDefault"].is_null() && c["metadata"]["generation"] == 1,
            )
        })
        .collect();
    assert_eq!(
        classes,
        [
            (
                "system-cluster-critical",
                2_000_000_000,
                "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
                "PreemptLowerPriority",
                true
            ),
            (
                "system-node-critical",
                2_000_001_000,
                "Used for system critical pods that must not be moved from their current node.",
                "PreemptLowerPriority",
                true
            ),
        ],
        "{list}"
    );
    let (status, body) = api.delete(&format!("{PCS}/system-node-critical")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(
        body["message"],
        "priorityclasses.scheduling.k8s.io \"system-node-critical\" is forbidden: this is a system priority class and cannot be deleted"
    );
    assert_eq!(body["reason"], "Forbidden");
    let (status, _) = api.get(&format!("{PCS}/system-node-critical")).await;
    assert_eq!(status, StatusCode::OK);
    // A class of the user's is deleted as any object.
    let mine = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
        "metadata": {"name": "high"}, "value": 1000});
    assert_eq!(api.post(PCS, &mine).await.0, StatusCode::CREATED);
    // Its generation starts at 1 and stays there, as upstream's strategy has it.
    let (status, patched) = api
        .patch(
            &format!("{PCS}/high"),
            "application/merge-patch+json",
            &json!({"description": "mine"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["metadata"]["generation"], 1, "{patched}");
    assert_eq!(api.delete(&format!("{PCS}/high")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn dry_run_validates_without_storing() {
    let api = TestApi::new();
    let (status, cm) = api
        .post(
            &format!("{CMS}?dryRun=All"),
            &configmap("a", json!({"k": "v"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{cm}");
    assert_eq!(api.get(&format!("{CMS}/a")).await.0, StatusCode::NOT_FOUND);
    // The answer is the object as the create would store it, field ownership included.
    let (_, created) = api.post(CMS, &configmap("a", json!({"k": "v"}))).await;
    let entry = |object: &Value| {
        let mut entry = object["metadata"]["managedFields"][0].clone();
        entry.as_object_mut().map(|e| e.remove("time"));
        entry
    };
    assert_eq!(entry(&cm), entry(&created), "{cm}");
    assert_eq!(
        entry(&cm)["fieldsV1"],
        json!({"f:data": {".": {}, "f:k": {}}})
    );

    // A dry-run delete of what a finalizer holds answers with it marked, and marks
    // nothing; of what nothing holds, with it as it is, and deletes nothing.
    let mut held = configmap("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    api.post(CMS, &held).await;
    let (status, marked) = api.delete(&format!("{CMS}/held?dryRun=All")).await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert!(
        marked["metadata"]["deletionTimestamp"].is_string(),
        "{marked}"
    );
    let (_, stored) = api.get(&format!("{CMS}/held")).await;
    assert!(
        stored["metadata"].get("deletionTimestamp").is_none(),
        "{stored}"
    );
    let (status, _) = api.delete(&format!("{CMS}/a?dryRun=All")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.get(&format!("{CMS}/a")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_audit_trail_records_who_changed_what() {
    let api = TestApi::new();
    let (_, cm) = api.post(CMS, &configmap("a", json!({"n": "0"}))).await;
    let (_, updated) = api
        .patch(
            &format!("{CMS}/a"),
            "application/merge-patch+json",
            &json!({"data": {"n": "1"}}),
        )
        .await;
    api.delete(&format!("{CMS}/a")).await;
    let (status, trail) = api
        .get("/kubesim/v1/audit?resource=configmaps&name=a")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(trail["apiVersion"], "audit.k8s.io/v1");
    let items = trail["items"].as_array().expect("items");
    // The request's verb, as upstream's audit log names it.
    let verbs: Vec<&str> = items.iter().filter_map(|e| e["verb"].as_str()).collect();
    assert_eq!(verbs, ["create", "patch", "delete"]);
    let codes: Vec<&Value> = items.iter().map(|e| &e["responseStatus"]["code"]).collect();
    assert_eq!(codes, [&json!(201), &json!(200), &json!(200)]);
    assert_eq!(items[0]["userAgent"], "kubesim-tests");
    // When: upstream's microsecond timestamps, in the order the writes were made.
    let times: Vec<&str> = items
        .iter()
        .map(|e| e["stageTimestamp"].as_str().expect("stageTimestamp"))
        .collect();
    for (event, time) in items.iter().zip(&times) {
        assert_eq!(event["requestReceivedTimestamp"].as_str(), Some(*time));
        assert!(
            time.len() == "2026-01-01T00:00:00.000000Z".len() && time.ends_with('Z'),
            "{time}"
        );
    }
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(
        items[1]["annotations"]["kubesim.io/resource-version-before"],
        cm["metadata"]["resourceVersion"]
    );
    assert_eq!(
        items[1]["annotations"]["kubesim.io/resource-version-after"],
        updated["metadata"]["resourceVersion"]
    );
    assert!(
        items[1]["kubesimChanges"]
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op["path"] == "/data/n")),
        "{}",
        items[1]
    );
    // A create has no "before" and no changes; empty fields are left out, not null (the
    // annotations are a map of strings upstream).
    let created = items[0].as_object().expect("event");
    assert!(!created.contains_key("kubesimChanges"), "{}", items[0]);
    let annotations = created["annotations"].as_object().expect("annotations");
    assert!(
        annotations.values().all(Value::is_string),
        "{annotations:?}"
    );
    assert!(!annotations.contains_key("kubesim.io/resource-version-before"));
    let object_ref = created["objectRef"].as_object().expect("objectRef");
    assert!(object_ref.values().all(|v| !v.is_null()), "{object_ref:?}");
    assert!(!object_ref.contains_key("subresource"));
}

#[tokio::test]
async fn the_audit_trail_names_subresources_and_every_write_of_a_request() {
    let api = TestApi::new();
    // A binding is a create of pods/binding that updates the pod.
    api.post(PODS, &pod("p")).await;
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}});
    let (status, body) = api.post(&format!("{PODS}/p/binding"), &binding).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A patch that removes the last finalizer of an object being deleted also removes it:
    // two writes, both made by the patch.
    let mut held = configmap("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    api.post(CMS, &held).await;
    api.delete(&format!("{CMS}/held")).await;
    api.patch(
        &format!("{CMS}/held"),
        "application/merge-patch+json",
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;

    let (_, trail) = api.get("/kubesim/v1/audit?name=p").await;
    let bind = trail["items"]
        .as_array()
        .and_then(|items| items.last())
        .expect("the binding's record")
        .clone();
    assert_eq!(
        (
            &bind["verb"],
            &bind["objectRef"]["subresource"],
            &bind["responseStatus"]["code"],
            &bind["annotations"]["kubesim.io/write"],
        ),
        (
            &json!("create"),
            &json!("binding"),
            &json!(201),
            &json!("update")
        ),
        "{bind}"
    );
    let (_, trail) = api.get("/kubesim/v1/audit?name=held").await;
    let steps: Vec<(&str, &str)> = trail["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| {
            (
                e["verb"].as_str().unwrap_or(""),
                e["annotations"]["kubesim.io/write"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("create", "create"),
            ("delete", "update"),
            ("patch", "update"),
            ("patch", "delete"),
        ]
    );
}

#[tokio::test]
async fn reviews_answer_in_their_status_and_store_nothing() {
    let api = TestApi::new();
    let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let (status, review) = api
        .post(
            ssar,
            &json!({"spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{review}");
    assert_eq!(review["kind"], "SelfSubjectAccessReview");
    assert_eq!(review["status"], json!({"allowed": true}));
    // Upstream's validation: exactly one kind of attributes; a subject for others' reviews.
    let (status, err) = api.post(ssar, &json!({"spec": {}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        err["message"],
        "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified"
    );
    let (status, err) = api
        .post(
            "/apis/authorization.k8s.io/v1/subjectaccessreviews",
            &json!({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/healthz"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["details"]["causes"][0]["field"], "spec.user");
    let (status, review) = api
        .post(
            "/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews",
            &json!({"spec": {"user": "bob", "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{review}");
    assert_eq!(review["metadata"]["namespace"], "default");
    let (status, who) = api
        .post(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{who}");
    assert_eq!(who["status"]["userInfo"]["username"], "kubesim-admin");
    // Create-only, and nothing was written.
    assert_eq!(api.get(ssar).await.0, StatusCode::METHOD_NOT_ALLOWED);
    let (_, trail) = api
        .get("/kubesim/v1/audit?resource=selfsubjectaccessreviews")
        .await;
    assert_eq!(trail["items"], json!([]));
}

/// The trail is bounded: past its capacity the oldest writes go, the newest stay.
#[tokio::test]
async fn the_audit_trail_keeps_the_newest_writes_up_to_its_capacity() {
    let api = TestApi::with_config(kubesim_apiserver::Config {
        audit_capacity: 3,
        ..kubesim_apiserver::Config::default()
    });
    for name in ["a", "b", "c", "d", "e"] {
        api.post(CMS, &configmap(name, json!({}))).await;
    }
    let (status, trail) = api.get("/kubesim/v1/audit?resource=configmaps").await;
    assert_eq!(status, StatusCode::OK, "{trail}");
    let names: Vec<&str> = trail["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["objectRef"]["name"].as_str())
        .collect();
    assert_eq!(names, ["c", "d", "e"]);
}
