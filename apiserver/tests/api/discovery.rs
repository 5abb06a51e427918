//! Discovery over HTTP: aggregated (apidiscovery.k8s.io/v2) and legacy, from one registry.

use crate::common;

use axum::http::StatusCode;
use common::TestApi;
use serde_json::{Value, json};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
/// What kubectl 1.35 sends.
const KUBECTL_ACCEPT: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

fn resource<'a>(list: &'a Value, version: &str, name: &str) -> &'a Value {
    let versions = list["items"][0]["versions"].as_array().expect("versions");
    let v = versions
        .iter()
        .find(|v| v["version"] == version)
        .expect("version");
    v["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == name)
        .unwrap_or_else(|| panic!("{name}"))
}

#[tokio::test]
async fn core_group_in_aggregated_format() {
    let api = TestApi::new();
    let (status, headers, body) = api.get_with("/api", &[("accept", KUBECTL_ACCEPT)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], AGGREGATED);
    assert_eq!(body["kind"], "APIGroupDiscoveryList");
    assert_eq!(body["apiVersion"], "apidiscovery.k8s.io/v2");
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert!(
        items[0]["metadata"].get("name").is_none(),
        "the core group's name is empty"
    );
    assert_eq!(items[0]["versions"][0]["version"], "v1");
    assert_eq!(items[0]["versions"][0]["freshness"], "Current");

    let pods = resource(&body, "v1", "pods");
    assert_eq!(
        pods["responseKind"],
        json!({"group": "", "version": "", "kind": "Pod"})
    );
    assert_eq!(pods["scope"], "Namespaced");
    assert_eq!(pods["singularResource"], "pod");
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    assert_eq!(
        pods["verbs"],
        json!([
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch"
        ])
    );
    let subs: Vec<&str> = pods["subresources"]
        .as_array()
        .expect("subresources")
        .iter()
        .filter_map(|s| s["subresource"].as_str())
        .collect();
    assert_eq!(
        subs,
        [
            "attach",
            "binding",
            "eviction",
            "exec",
            "log",
            "portforward",
            "status"
        ]
    );
    let sub = |name: &str| {
        pods["subresources"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["subresource"] == name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        sub("eviction"),
        json!({"subresource": "eviction", "responseKind": {"group": "policy", "version": "v1", "kind": "Eviction"}, "verbs": ["create"]})
    );
    assert_eq!(
        sub("log"),
        json!({"subresource": "log", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get"]})
    );
    assert_eq!(resource(&body, "v1", "nodes")["scope"], "Cluster");
}

#[tokio::test]
async fn named_groups_in_aggregated_format() {
    let api = TestApi::new();
    let (status, headers, body) = api.get_with("/apis", &[("accept", KUBECTL_ACCEPT)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], AGGREGATED);
    let items = body["items"].as_array().expect("items");
    let apps = items
        .iter()
        .find(|g| g["metadata"]["name"] == "apps")
        .expect("apps");
    let deployments = apps["versions"][0]["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["resource"] == "deployments")
        .expect("deployments");
    assert_eq!(deployments["responseKind"]["kind"], "Deployment");
    let scale = deployments["subresources"]
        .as_array()
        .and_then(|s| s.iter().find(|x| x["subresource"] == "scale"))
        .expect("scale");
    assert_eq!(
        scale["responseKind"],
        json!({"group": "autoscaling", "version": "v1", "kind": "Scale"})
    );
    // Versions preferred first: autoscaling/v2 before v1.
    let autoscaling = items
        .iter()
        .find(|g| g["metadata"]["name"] == "autoscaling")
        .expect("autoscaling");
    let versions: Vec<&str> = autoscaling["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_str())
        .collect();
    assert_eq!(versions, ["v2", "v1"]);
    assert!(
        items.iter().all(|g| g["metadata"]["name"] != ""),
        "no core group under /apis"
    );
}

#[tokio::test]
async fn plain_json_gets_the_legacy_formats() {
    let api = TestApi::new();
    let (_, headers, body) = api
        .get_with("/api", &[("accept", "application/json")])
        .await;
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["kind"], "APIVersions");
    let (_, headers, body) = api.get_with("/apis", &[]).await;
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["kind"], "APIGroupList");
    let (_, body) = api.get("/api/v1").await;
    let names: Vec<&str> = body["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for name in [
        "pods",
        "pods/binding",
        "pods/eviction",
        "pods/log",
        "pods/status",
        "namespaces/finalize",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    let eviction = body["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|x| x["name"] == "pods/eviction"))
        .expect("eviction");
    assert_eq!(
        (
            eviction["group"].as_str(),
            eviction["version"].as_str(),
            eviction["kind"].as_str()
        ),
        (Some("policy"), Some("v1"), Some("Eviction"))
    );
}

#[tokio::test]
async fn both_formats_show_resources_added_at_run_time() {
    let api = TestApi::new();
    api.server.registry.add(common::widgets(true));
    let (_, _, body) = api.get_with("/apis", &[("accept", KUBECTL_ACCEPT)]).await;
    let group = body["items"]
        .as_array()
        .and_then(|i| i.iter().find(|g| g["metadata"]["name"] == "example.com"))
        .cloned()
        .expect("example.com");
    assert_eq!(
        group["versions"][0]["resources"][0]["shortNames"],
        json!(["wd"])
    );
    let (_, body) = api.get("/apis/example.com/v1").await;
    assert_eq!(body["resources"][0]["name"], "widgets");
    assert_eq!(body["resources"][1]["name"], "widgets/status");
}

/// Every resource the API server promises (its first issue's list) is served, with its
/// scope, at the group/version a client asks for it.
#[tokio::test]
async fn the_built_in_resources_are_served() {
    let api = TestApi::new();
    let expected: &[(&str, &[(&str, bool)])] = &[
        (
            "/api/v1",
            &[
                ("namespaces", false),
                ("pods", true),
                ("nodes", false),
                ("services", true),
                ("endpoints", true),
                ("configmaps", true),
                ("secrets", true),
                ("serviceaccounts", true),
                ("events", true),
                ("persistentvolumes", false),
                ("persistentvolumeclaims", true),
                ("resourcequotas", true),
                ("limitranges", true),
            ],
        ),
        (
            "/apis/apps/v1",
            &[
                ("deployments", true),
                ("replicasets", true),
                ("statefulsets", true),
                ("daemonsets", true),
                ("controllerrevisions", true),
            ],
        ),
        ("/apis/batch/v1", &[("jobs", true), ("cronjobs", true)]),
        ("/apis/coordination.k8s.io/v1", &[("leases", true)]),
        ("/apis/discovery.k8s.io/v1", &[("endpointslices", true)]),
        ("/apis/events.k8s.io/v1", &[("events", true)]),
        ("/apis/policy/v1", &[("poddisruptionbudgets", true)]),
        (
            "/apis/autoscaling/v1",
            &[("horizontalpodautoscalers", true)],
        ),
        (
            "/apis/autoscaling/v2",
            &[("horizontalpodautoscalers", true)],
        ),
        ("/apis/scheduling.k8s.io/v1", &[("priorityclasses", false)]),
        ("/apis/storage.k8s.io/v1", &[("storageclasses", false)]),
    ];
    for (group_version, resources) in expected {
        let (status, list) = api.get(group_version).await;
        assert_eq!(status, StatusCode::OK, "{group_version}: {list}");
        for (plural, namespaced) in *resources {
            let found = list["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["name"] == *plural);
            let found = found.unwrap_or_else(|| panic!("{group_version} has no {plural}"));
            assert_eq!(found["namespaced"], *namespaced, "{group_version} {plural}");
            assert!(
                found["verbs"]
                    .as_array()
                    .is_some_and(|v| v.iter().any(|v| v == "watch")),
                "{group_version} {plural}: {found}"
            );
        }
    }
}
