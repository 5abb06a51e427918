//! Deletion (finalizers, graceful pods, namespaces), subresources (status, scale,
//! binding) and discovery over HTTP.

use crate::common;

use axum::http::StatusCode;
use common::{TestApi, configmap, names, pod, rv};
use serde_json::{Value, json};

const CMS: &str = "/api/v1/namespaces/default/configmaps";
const PODS: &str = "/api/v1/namespaces/default/pods";
const DEPLOYS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn deployment(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    })
}

#[tokio::test]
async fn delete_without_finalizers_removes_the_object() {
    let api = TestApi::new();
    let (_, cm) = api.post(CMS, &configmap("a", json!({}))).await;
    let (status, body) = api.delete(&format!("{CMS}/a")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ConfigMaps answer with a success Status, carrying the uid.
    assert_eq!(body["kind"], "Status");
    assert_eq!(body["status"], "Success");
    assert_eq!(body["details"]["uid"], cm["metadata"]["uid"]);
    assert_eq!(api.get(&format!("{CMS}/a")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.delete(&format!("{CMS}/a")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn finalizers_hold_a_deleted_object_until_they_are_removed() {
    let api = TestApi::new();
    let mut cm = configmap("held", json!({}));
    cm["metadata"]["finalizers"] = json!(["example.com/hold"]);
    api.post(CMS, &cm).await;
    let (status, marked) = api.delete(&format!("{CMS}/held")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        marked["metadata"]["deletionTimestamp"].is_string(),
        "{marked}"
    );
    assert_eq!(marked["metadata"]["deletionGracePeriodSeconds"], 0);
    let (status, still) = api.get(&format!("{CMS}/held")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(still["metadata"]["finalizers"], json!(["example.com/hold"]));
    // A finalizer may not be added to an object being deleted.
    let (status, err) = api
        .patch(
            &format!("{CMS}/held"),
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": ["example.com/hold", "example.com/late"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(
        api.get(&format!("{CMS}/held")).await.1["metadata"]["finalizers"],
        json!(["example.com/hold"])
    );
    // New content may still be removed, not added back... and the deletion stays.
    let (status, _) = api
        .patch(
            &format!("{CMS}/held"),
            "application/merge-patch+json",
            &json!({"metadata": {"finalizers": null}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("{CMS}/held")).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Held by a finalizer, a deleted object with a generation gets the next one, once
/// (upstream's `markAsDeleting`); an object without one (a ConfigMap) gets none.
#[tokio::test]
async fn marking_for_deletion_moves_a_set_generation_once() {
    let api = TestApi::new();
    let mut held = deployment("held", 1);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let (_, created) = api.post(DEPLOYS, &held).await;
    assert_eq!(created["metadata"]["generation"], 1);
    let (status, marked) = api.delete(&format!("{DEPLOYS}/held")).await;
    assert_eq!(status, StatusCode::OK, "{marked}");
    assert_eq!(marked["metadata"]["generation"], 2, "{marked}");
    let (_, again) = api.delete(&format!("{DEPLOYS}/held")).await;
    assert_eq!(again["metadata"]["generation"], 2, "{again}");

    let mut cm = configmap("held", json!({}));
    cm["metadata"]["finalizers"] = json!(["example.com/hold"]);
    api.post(CMS, &cm).await;
    let (_, marked) = api.delete(&format!("{CMS}/held")).await;
    assert!(marked["metadata"].get("generation").is_none(), "{marked}");
}

#[tokio::test]
async fn propagation_policies_add_the_garbage_collector_finalizers() {
    let api = TestApi::new();
    api.post(CMS, &configmap("fg", json!({}))).await;
    let (_, marked) = api.delete_with(&format!("{CMS}/fg"), &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"})).await;
    assert_eq!(
        marked["metadata"]["finalizers"],
        json!(["foregroundDeletion"]),
        "{marked}"
    );
    api.post(CMS, &configmap("or", json!({}))).await;
    let (_, marked) = api
        .delete(&format!("{CMS}/or?propagationPolicy=Orphan"))
        .await;
    assert_eq!(
        marked["metadata"]["finalizers"],
        json!(["orphan"]),
        "{marked}"
    );
    api.post(CMS, &configmap("bad", json!({}))).await;
    let (status, err) = api
        .delete(&format!("{CMS}/bad?propagationPolicy=Sideways"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(api.get(&format!("{CMS}/bad")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_pending_deletion_asking_for_its_dependents_is_202_accepted() {
    let api = TestApi::new();
    // Upstream's one 202: not deleted at once, with the deprecated `orphanDependents: false`.
    let mut held = configmap("held", json!({}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    api.post(CMS, &held).await;
    let options = json!({"kind": "DeleteOptions", "apiVersion": "v1", "orphanDependents": false});
    let (status, body) = api.delete_with(&format!("{CMS}/held"), &options).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(body["metadata"]["deletionTimestamp"].is_string(), "{body}");
    // Deleted at once, or pending without it: 200, as every client expects.
    api.post(CMS, &configmap("gone", json!({}))).await;
    let (status, _) = api.delete_with(&format!("{CMS}/gone"), &options).await;
    assert_eq!(status, StatusCode::OK);
    api.post(CMS, &held.clone()).await;
    let mut other = held.clone();
    other["metadata"]["name"] = json!("held-2");
    api.post(CMS, &other).await;
    let (status, _) = api.delete(&format!("{CMS}/held-2")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn delete_preconditions_are_checked() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({}))).await;
    let (status, err) = api
        .delete_with(
            &format!("{CMS}/a"),
            &json!({"preconditions": {"uid": "not-the-uid"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    // Upstream's message is etcd3's storage error, key and all.
    let uid = api.get(&format!("{CMS}/a")).await.1["metadata"]["uid"].clone();
    assert_eq!(
        err["message"],
        format!(
            "Operation cannot be fulfilled on configmaps \"a\": StorageError: invalid object, Code: 4, Key: /registry/configmaps/default/a, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: not-the-uid, UID in object meta: {}",
            uid.as_str().unwrap_or_default()
        )
    );
    assert_eq!(err["reason"], "Conflict");
    assert_eq!(api.get(&format!("{CMS}/a")).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_pod_on_a_node_terminates_gracefully() {
    let api = TestApi::new();
    let mut bound = pod("bound");
    bound["spec"]["nodeName"] = json!("node-1");
    api.post(PODS, &bound).await;
    let (status, terminating) = api.delete(&format!("{PODS}/bound")).await;
    assert_eq!(status, StatusCode::OK);
    // Pods answer with the pod itself.
    assert_eq!(terminating["kind"], "Pod");
    assert_eq!(
        terminating["metadata"]["deletionGracePeriodSeconds"], 30,
        "{terminating}"
    );
    assert!(terminating["metadata"]["deletionTimestamp"].is_string());
    // Marked for deletion, its generation moves on, as upstream's `BeforeDelete` does.
    assert_eq!(terminating["metadata"]["generation"], 2, "{terminating}");
    assert_eq!(api.get(&format!("{PODS}/bound")).await.0, StatusCode::OK);
    // A second delete may shorten the grace period, not lengthen it, and does not move
    // the generation again.
    let (status, shorter) = api
        .delete(&format!("{PODS}/bound?gracePeriodSeconds=10"))
        .await;
    assert_eq!(status, StatusCode::OK, "{shorter}");
    assert_eq!(shorter["metadata"]["deletionGracePeriodSeconds"], 10);
    // Shortened, the deletion still counts from when it began.
    let at = |obj: &Value| -> jiff::Timestamp {
        obj["metadata"]["deletionTimestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("deletionTimestamp")
    };
    assert_eq!(
        at(&terminating).duration_since(at(&shorter)),
        jiff::SignedDuration::from_secs(20)
    );
    assert_eq!(shorter["metadata"]["generation"], 2);
    let (_, longer) = api
        .delete(&format!("{PODS}/bound?gracePeriodSeconds=60"))
        .await;
    assert_eq!(
        longer["metadata"]["deletionGracePeriodSeconds"], 10,
        "{longer}"
    );
    assert_eq!(
        longer["metadata"]["deletionTimestamp"],
        shorter["metadata"]["deletionTimestamp"]
    );
    // The kubelet's final delete, with no grace left.
    let (status, _) = api
        .delete(&format!("{PODS}/bound?gracePeriodSeconds=0"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        api.get(&format!("{PODS}/bound")).await.0,
        StatusCode::NOT_FOUND
    );

    // A pod no node has taken has nothing to stop: it goes at once — marked first, with
    // no grace, as upstream's graceful deletion writes it, then removed: a watcher sees
    // it terminating, then deleted.
    let (_, pending) = api.post(PODS, &pod("pending")).await;
    let mut watch = api
        .watch(&format!(
            "{PODS}?watch=true&fieldSelector=metadata.name%3Dpending&resourceVersion={}",
            rv(&pending)
        ))
        .await;
    let (status, deleted) = api.delete(&format!("{PODS}/pending")).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(
        api.get(&format!("{PODS}/pending")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        deleted["metadata"]["deletionGracePeriodSeconds"], 0,
        "{deleted}"
    );
    assert!(
        deleted["metadata"]["deletionTimestamp"].is_string(),
        "{deleted}"
    );
    assert_eq!(deleted["metadata"]["generation"], 2, "{deleted}");
    let marked = watch.next().await;
    assert_eq!(marked["type"], "MODIFIED", "{marked}");
    assert_eq!(
        marked["object"]["metadata"]["deletionGracePeriodSeconds"],
        0
    );
    let gone = watch.next().await;
    assert_eq!(gone["type"], "DELETED", "{gone}");
    assert_eq!(gone["object"], deleted);
}

#[tokio::test]
async fn delete_collection_deletes_what_the_selector_selects() {
    let api = TestApi::new();
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut cm = configmap(name, json!({}));
        cm["metadata"]["labels"] = json!({"app": app});
        api.post(CMS, &cm).await;
    }
    let mut held = configmap("held", json!({}));
    held["metadata"]["labels"] = json!({"app": "x"});
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    api.post(CMS, &held).await;
    let (status, body) = api.delete(&format!("{CMS}?labelSelector=app%3Dx")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The answer lists what was deleted, as upstream's `DeleteCollection` does.
    assert_eq!(body["kind"], "ConfigMapList", "{body}");
    assert_eq!(names(&body), ["a", "b", "held"]);
    let (_, left) = api.get(CMS).await;
    // What a finalizer holds is only marked.
    assert_eq!(names(&left), ["c", "held"]);
    let (_, marked) = api.get(&format!("{CMS}/held")).await;
    assert!(
        marked["metadata"]["deletionTimestamp"].is_string(),
        "{marked}"
    );
}

#[tokio::test]
async fn status_and_main_resource_writes_change_only_their_part() {
    let api = TestApi::new();
    let (_, created) = api.post(DEPLOYS, &deployment("web", 1)).await;
    // A main-resource write ignores status.
    let mut with_status = created.clone();
    with_status["status"] = json!({"replicas": 5});
    with_status["spec"]["replicas"] = json!(2);
    let (status, updated) = api.put(&format!("{DEPLOYS}/web"), &with_status).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["spec"]["replicas"], 2);
    assert!(updated["status"].get("replicas").is_none(), "{updated}");
    // A spec change bumps generation.
    assert_eq!(updated["metadata"]["generation"], 2);
    // A status write ignores the spec and leaves generation alone.
    let mut status_write = updated.clone();
    status_write["status"] = json!({"replicas": 2, "observedGeneration": 2});
    status_write["spec"]["replicas"] = json!(7);
    let (status, written) = api
        .put(&format!("{DEPLOYS}/web/status"), &status_write)
        .await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert_eq!(written["status"]["replicas"], 2);
    assert_eq!(written["spec"]["replicas"], 2);
    assert_eq!(written["metadata"]["generation"], 2);
    let (_, patched) = api
        .patch(
            &format!("{DEPLOYS}/web/status"),
            "application/merge-patch+json",
            &json!({"status": {"readyReplicas": 2}}),
        )
        .await;
    assert_eq!(patched["status"]["readyReplicas"], 2);
    // Metadata may change with the status, but for what the kind's status strategy
    // protects: a Deployment's labels.
    let (status, patched) = api
        .patch(
            &format!("{DEPLOYS}/web/status"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"via": "status"}, "annotations": {"note": "via status"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(
        patched["metadata"]["labels"].get("via").is_none(),
        "{patched}"
    );
    assert_eq!(patched["metadata"]["annotations"]["note"], "via status");
    let status_fields = patched["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["subresource"] == "status")
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or_default();
    assert!(
        status_fields["f:metadata"]["f:annotations"]
            .get("f:note")
            .is_some(),
        "{status_fields}"
    );
    assert!(
        status_fields["f:metadata"].get("f:labels").is_none(),
        "{status_fields}"
    );
    // A label change is not a spec change.
    let (_, relabelled) = api
        .patch(
            &format!("{DEPLOYS}/web"),
            "application/merge-patch+json",
            &json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .await;
    assert_eq!(relabelled["metadata"]["generation"], 2);
}

/// A pod's `/status` write may change its labels, annotations and finalizers, as
/// upstream's pod status strategy lets it, but not its spec or ownerReferences.
#[tokio::test]
async fn a_pod_status_write_changes_metadata_but_not_spec_or_owners() {
    let api = TestApi::new();
    let mut owned = pod("owned");
    owned["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": "1111"}]);
    let (_, created) = api.post(PODS, &owned).await;
    let mut write = created.clone();
    write["metadata"]["labels"] = json!({"tier": "web"});
    write["metadata"]["annotations"] = json!({"note": "from the kubelet"});
    write["metadata"]["ownerReferences"] = json!([]);
    write["spec"]["activeDeadlineSeconds"] = json!(5);
    write["status"] = json!({"phase": "Running"});
    let (status, written) = api.put(&format!("{PODS}/owned/status"), &write).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert_eq!(written["status"]["phase"], "Running");
    assert_eq!(written["metadata"]["labels"], json!({"tier": "web"}));
    assert_eq!(
        written["metadata"]["annotations"]["note"],
        "from the kubelet"
    );
    assert_eq!(
        written["metadata"]["ownerReferences"],
        created["metadata"]["ownerReferences"]
    );
    assert!(
        written["spec"].get("activeDeadlineSeconds").is_none(),
        "{written}"
    );
    assert_eq!(
        written["metadata"]["generation"],
        created["metadata"]["generation"]
    );
    // The writer owns what it changed through the status, metadata included, and
    // nothing the strategy reset.
    let entry = written["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["subresource"] == "status")
        .cloned()
        .unwrap_or_default();
    let fields = &entry["fieldsV1"];
    assert_eq!(entry["operation"], "Update", "{written}");
    assert!(
        fields["f:metadata"]["f:labels"].get("f:tier").is_some(),
        "{entry}"
    );
    assert!(
        fields["f:metadata"]["f:annotations"]
            .get("f:note")
            .is_some(),
        "{entry}"
    );
    assert!(fields["f:status"].get("f:phase").is_some(), "{entry}");
    assert!(fields.get("f:spec").is_none(), "{entry}");
    assert!(
        fields["f:metadata"].get("f:ownerReferences").is_none(),
        "{entry}"
    );

    // Being deleted, its finalizers may go through the status, no new one may come.
    let mut held = pod("held");
    held["metadata"]["finalizers"] = json!(["example.com/a"]);
    held["spec"]["nodeName"] = json!("node-1");
    api.post(PODS, &held).await;
    let (_, marked) = api.delete(&format!("{PODS}/held")).await;
    let mut more = marked.clone();
    more["metadata"]["finalizers"] = json!(["example.com/a", "example.com/b"]);
    let (status, err) = api.put(&format!("{PODS}/held/status"), &more).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let mut fewer = marked.clone();
    fewer["metadata"]["finalizers"] = json!([]);
    let (status, written) = api.put(&format!("{PODS}/held/status"), &fewer).await;
    assert_eq!(status, StatusCode::OK, "{written}");
    assert!(written["metadata"].get("finalizers").is_none(), "{written}");
}

#[tokio::test]
async fn scale_reads_and_writes_replicas() {
    let api = TestApi::new();
    api.post(DEPLOYS, &deployment("web", 3)).await;
    let (status, scale) = api.get(&format!("{DEPLOYS}/web/scale")).await;
    assert_eq!(status, StatusCode::OK, "{scale}");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");
    let (status, scaled) = api
        .patch(
            &format!("{DEPLOYS}/web/scale"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{scaled}");
    assert_eq!(scaled["spec"]["replicas"], 5);
    let (_, deploy) = api.get(&format!("{DEPLOYS}/web")).await;
    assert_eq!(deploy["spec"]["replicas"], 5);
    assert_eq!(deploy["metadata"]["generation"], 2);
    let mut put = scaled.clone();
    put["spec"]["replicas"] = json!(1);
    let (status, _) = api.put(&format!("{DEPLOYS}/web/scale"), &put).await;
    assert_eq!(status, StatusCode::OK);
    // The Scale's resourceVersion is the object's: a stale one conflicts.
    put["spec"]["replicas"] = json!(4);
    let (status, err) = api.put(&format!("{DEPLOYS}/web/scale"), &put).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(
        api.get(&format!("{DEPLOYS}/web")).await.1["spec"]["replicas"],
        1
    );
    let (status, err) = api
        .patch(
            &format!("{DEPLOYS}/web/scale"),
            "application/merge-patch+json",
            &json!({"spec": {"replicas": -1}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    // ConfigMaps have no scale.
    api.post(CMS, &configmap("a", json!({}))).await;
    assert_eq!(
        api.get(&format!("{CMS}/a/scale")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn binding_assigns_a_pod_to_a_node_once() {
    let api = TestApi::new();
    api.post(PODS, &pod("p")).await;
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "node-1"}});
    let (status, body) = api.post(&format!("{PODS}/p/binding"), &binding).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "Success");
    let (_, bound) = api.get(&format!("{PODS}/p")).await;
    assert_eq!(bound["spec"]["nodeName"], "node-1");
    let conditions = bound["status"]["conditions"]
        .as_array()
        .expect("conditions");
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "PodScheduled" && c["status"] == "True"),
        "{bound}"
    );
    let mut again = binding.clone();
    again["target"]["name"] = json!("node-2");
    let (status, err) = api.post(&format!("{PODS}/p/binding"), &again).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        err["message"],
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"node-1\""
    );
}

#[tokio::test]
async fn a_pod_with_scheduling_gates_cannot_be_bound() {
    let api = TestApi::new();
    let mut gated = pod("g");
    gated["spec"]["schedulingGates"] = json!([{"name": "example.com/wait"}]);
    let (status, body) = api.post(PODS, &gated).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "g"}, "target": {"kind": "Node", "name": "node-1"}});
    let (status, err) = api.post(&format!("{PODS}/g/binding"), &binding).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(
        err["message"],
        "Operation cannot be fulfilled on pods/binding \"g\": pod g has non-empty .spec.schedulingGates"
    );
    let (_, unbound) = api.get(&format!("{PODS}/g")).await;
    assert!(unbound["spec"]["nodeName"].is_null(), "{unbound}");
}

#[tokio::test]
async fn a_deleted_namespace_terminates_until_finalized() {
    let api = TestApi::new();
    let (status, _) = api
        .post(
            "/api/v1/namespaces",
            &json!({"metadata": {"name": "team"}, "spec": {"finalizers": ["kubernetes"]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    api.post(
        "/api/v1/namespaces/team/configmaps",
        &configmap("a", json!({})),
    )
    .await;
    let (status, ns) = api.delete("/api/v1/namespaces/team").await;
    assert_eq!(status, StatusCode::OK, "{ns}");
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert!(ns["metadata"]["deletionTimestamp"].is_string());
    // Nothing new may be made in it.
    let (status, err) = api
        .post(
            "/api/v1/namespaces/team/configmaps",
            &configmap("b", json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    assert_eq!(
        err["message"],
        "configmaps \"b\" is forbidden: unable to create new content in namespace team because it is being terminated"
    );
    assert_eq!(
        err["details"]["causes"],
        json!([{"reason": "NamespaceTerminating", "message": "namespace team is being terminated", "field": "metadata.namespace"}])
    );
    // The namespace controller removes its finalizer once the content is gone.
    let (_, current) = api.get("/api/v1/namespaces/team").await;
    let mut finalized = current.clone();
    finalized["spec"]["finalizers"] = json!([]);
    let (status, body) = api
        .put("/api/v1/namespaces/team/finalize", &finalized)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        api.get("/api/v1/namespaces/team").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_system_namespaces_may_not_be_deleted() {
    let api = TestApi::new();
    let (status, err) = api.delete("/api/v1/namespaces/default").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        err["message"],
        "namespaces \"default\" is forbidden: this namespace may not be deleted"
    );
}

#[tokio::test]
async fn discovery_lists_resources_from_the_registry() {
    let api = TestApi::new();
    let (_, versions) = api.get("/api").await;
    assert_eq!(versions["kind"], "APIVersions");
    assert_eq!(versions["versions"], json!(["v1"]));
    let (_, groups) = api.get("/apis").await;
    assert_eq!(groups["kind"], "APIGroupList");
    let autoscaling = groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|g| g["name"] == "autoscaling")
        .expect("autoscaling");
    assert_eq!(autoscaling["preferredVersion"]["version"], "v2");
    let (_, core) = api.get("/api/v1").await;
    assert_eq!(core["kind"], "APIResourceList");
    let resources = core["resources"].as_array().expect("resources");
    let pods = resources
        .iter()
        .find(|r| r["name"] == "pods")
        .expect("pods");
    assert_eq!(pods["singularName"], "pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert!(resources.iter().any(|r| r["name"] == "pods/status"));
    let (_, apps) = api.get("/apis/apps/v1").await;
    let scale = apps["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["name"] == "deployments/scale")
        .expect("scale");
    assert_eq!(
        (
            scale["group"].as_str(),
            scale["version"].as_str(),
            scale["kind"].as_str()
        ),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );
}

#[tokio::test]
async fn horizontal_pod_autoscalers_are_served_at_both_versions() {
    let api = TestApi::new();
    let hpa = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5},
    });
    let (status, created) = api
        .post(
            "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers",
            &hpa,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, v1) = api
        .get("/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers/web")
        .await;
    assert_eq!(status, StatusCode::OK, "{v1}");
    assert_eq!(v1["apiVersion"], "autoscaling/v1");
    assert_eq!(rv(&v1), rv(&created));
}

/// `PodCondition.lastProbeTime` is a non-pointer time upstream, so a condition never
/// probed reads `lastProbeTime: null`, as `kubectl get pod -o yaml` shows it.
#[tokio::test]
async fn pod_conditions_carry_a_null_last_probe_time() {
    let api = TestApi::new();
    api.post(PODS, &pod("p")).await;
    let status = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
    let (code, written) = api
        .patch(
            &format!("{PODS}/p/status"),
            "application/merge-patch+json",
            &status,
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{written}");
    let (_, stored) = api.get(&format!("{PODS}/p")).await;
    let condition = &stored["status"]["conditions"][0];
    assert_eq!(
        condition.get("lastProbeTime"),
        Some(&serde_json::Value::Null),
        "{stored}"
    );
    // Written again as read, nothing changes.
    let (_, again) = api
        .patch(
            &format!("{PODS}/p/status"),
            "application/merge-patch+json",
            &json!({"status": stored["status"]}),
        )
        .await;
    assert_eq!(
        again["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );
}
