//! OpenAPI v3 over HTTP: the root, group-version documents with their caching headers,
//! and `fieldValidation` on writes.

use crate::common;

use axum::http::{Method, StatusCode};
use common::{TestApi, configmap};
use serde_json::{Value, json};

#[tokio::test]
async fn root_lists_every_group_version_with_a_hash() {
    let api = TestApi::new();
    let (status, headers, body) = api.get_with("/openapi/v3", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let paths = body["paths"].as_object().expect("paths");
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/autoscaling/v1",
        "apis/autoscaling/v2",
        "apis/policy/v1",
    ] {
        let url = paths[gv]["serverRelativeURL"]
            .as_str()
            .unwrap_or_else(|| panic!("{gv}"));
        assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
    }
}

async fn document_url(api: &TestApi, gv: &str) -> String {
    let (_, _, root) = api.get_with("/openapi/v3", &[]).await;
    root["paths"][gv]["serverRelativeURL"]
        .as_str()
        .expect("url")
        .to_string()
}

#[tokio::test]
async fn documents_are_immutable_under_their_hash() {
    let api = TestApi::new();
    let url = document_url(&api, "apis/apps/v1").await;
    let (status, headers, doc) = api.get_with(&url, &[("accept", "application/json")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "public, immutable");
    assert!(headers.contains_key("expires"));
    let etag = headers["etag"].to_str().expect("etag").to_string();
    assert_eq!(doc["openapi"], "3.0.0");

    // Without the hash: the same document, not marked immutable.
    let (status, headers, _) = api.get_with("/openapi/v3/apis/apps/v1", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key("cache-control"));
    // A client that has it gets 304.
    let (status, _, _) = api.get_with(&url, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    // An old hash is sent to the current one.
    let (status, headers, _) = api
        .get_with("/openapi/v3/apis/apps/v1?hash=0123", &[])
        .await;
    assert_eq!(status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(headers["location"], url.as_str());
    // Not served.
    let (status, _, _) = api.get_with("/openapi/v3/apis/nope/v1", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = api
        .get_with(
            "/openapi/v3/apis/apps/v1",
            &[(
                "accept",
                "application/com.github.proto-openapi.spec.v3@v1.0+protobuf",
            )],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
}

#[tokio::test]
async fn documents_describe_kinds_and_patch_operations() {
    let api = TestApi::new();
    let (_, _, doc) = api.get_with("/openapi/v3/api/v1", &[]).await;
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "", "kind": "ConfigMap", "version": "v1"})
    );
    let params = patch["parameters"].as_array().expect("parameters");
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    let pod = &doc["components"]["schemas"]["io.k8s.api.core.v1.Pod"];
    assert_eq!(
        pod["x-kubernetes-group-version-kind"],
        json!([{"group": "", "kind": "Pod", "version": "v1"}])
    );
    let containers =
        &doc["components"]["schemas"]["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["type"], "array");
    assert!(
        containers["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("List of containers belonging to the pod."))
    );
}

#[tokio::test]
async fn openapi_v2_is_not_served() {
    let api = TestApi::new();
    let (status, _, body) = api
        .get_with(
            "/openapi/v2",
            &[(
                "accept",
                "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
            )],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["kind"], "Status");
}

fn deployment(spec_extra: Value) -> Value {
    let mut spec = json!({
        "replicas": 1,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
    });
    if let (Value::Object(s), Value::Object(extra)) = (&mut spec, spec_extra) {
        s.extend(extra);
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": spec})
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields() {
    let api = TestApi::new();
    let body = deployment(json!({"replica": 3})).to_string().into_bytes();
    let (status, _, err) = api
        .send_with_headers(
            Method::POST,
            "/apis/apps/v1/namespaces/default/deployments?fieldValidation=Strict",
            "application/json",
            body,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["reason"], "BadRequest");
    assert_eq!(
        err["message"],
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replica\""
    );
    // Duplicates, from the raw body, in body order with the unknown fields.
    let raw = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"k":"1","k":"2"},"datta":{}}"#.to_vec();
    let (status, _, err) = api
        .send_with_headers(
            Method::POST,
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
            "application/json",
            raw,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: duplicate field \"data.k\", unknown field \"datta\""
    );
}

#[tokio::test]
async fn warn_is_the_default_and_ignore_is_silent() {
    let api = TestApi::new();
    let body = deployment(json!({"replica": 3, "foo": {"bar": 1}}))
        .to_string()
        .into_bytes();
    let (status, headers, created) = api
        .send_with_headers(
            Method::POST,
            "/apis/apps/v1/namespaces/default/deployments",
            "application/json",
            body,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let warnings: Vec<&str> = headers
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    // In body order (serde_json writes keys sorted); an unknown object is one finding.
    assert_eq!(
        warnings,
        [
            "299 - \"unknown field \\\"spec.foo\\\"\"",
            "299 - \"unknown field \\\"spec.replica\\\"\""
        ]
    );
    assert!(
        created["spec"].get("replica").is_none(),
        "unknown fields are dropped"
    );

    let cm = configmap("quiet", json!({"a": "1"}));
    let mut cm_extra = cm.clone();
    cm_extra["extra"] = json!(true);
    let (status, headers, _) = api
        .send_with_headers(
            Method::POST,
            "/api/v1/namespaces/default/configmaps?fieldValidation=Ignore",
            "application/json",
            cm_extra.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!headers.contains_key("warning"));

    // A create learns of unknown fields from the kind's own decode; a generated name,
    // dry run or not, warns the same, and a clean body does not warn.
    for query in ["", "?dryRun=All"] {
        let mut generated = cm_extra.clone();
        generated["metadata"] = json!({"generateName": "gen-"});
        let (status, headers, created) = api
            .send_with_headers(
                Method::POST,
                &format!("/api/v1/namespaces/default/configmaps{query}"),
                "application/json",
                generated.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(headers["warning"], "299 - \"unknown field \\\"extra\\\"\"");
        assert!(created.get("extra").is_none(), "{created}");
    }
    let (status, headers, _) = api
        .send_with_headers(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            "application/json",
            configmap("clean", json!({"a": "1"}))
                .to_string()
                .into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(!headers.contains_key("warning"));
    // A status sent with a create is a known field, which the create then drops: no
    // warning for it, and the warning of an unknown field beside it.
    for (name, status_extra, expected) in [
        ("with-status", json!({}), None),
        (
            "with-status-and-more",
            json!({"replicaz": 1}),
            Some("299 - \"unknown field \\\"status.replicaz\\\"\""),
        ),
    ] {
        let mut with_status = deployment(json!({}));
        with_status["metadata"]["name"] = json!(name);
        with_status["status"] = json!({"replicas": 3, "readyReplicas": 2});
        if let (Some(status), Value::Object(extra)) =
            (with_status["status"].as_object_mut(), status_extra.clone())
        {
            status.extend(extra);
        }
        let (status, headers, created) = api
            .send_with_headers(
                Method::POST,
                "/apis/apps/v1/namespaces/default/deployments",
                "application/json",
                with_status.to_string().into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(
            headers.get("warning").and_then(|v| v.to_str().ok()),
            expected,
            "{name}"
        );
        assert!(created["status"].get("replicas").is_none(), "{created}");
    }

    // Update and patch check too.
    let (status, headers, _) = api
        .send_with_headers(
            Method::PUT,
            "/api/v1/namespaces/default/configmaps/quiet",
            "application/json",
            cm_extra.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["warning"], "299 - \"unknown field \\\"extra\\\"\"");
    let patch = json!({"data": {"b": "2"}, "dataa": {}})
        .to_string()
        .into_bytes();
    let (status, _, err) = api
        .send_with_headers(
            Method::PATCH,
            "/api/v1/namespaces/default/configmaps/quiet?fieldValidation=Strict",
            "application/merge-patch+json",
            patch,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err["message"],
        "strict decoding error: unknown field \"dataa\""
    );

    let (status, _, err) = api
        .send_with_headers(
            Method::POST,
            "/api/v1/namespaces/default/configmaps?fieldValidation=strict",
            "application/json",
            cm.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
}

#[tokio::test]
async fn every_request_to_v1_endpoints_warns_that_it_is_deprecated() {
    let api = TestApi::new();
    let deprecated =
        "299 - \"v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice\"";
    let warnings = |headers: &axum::http::HeaderMap| -> Vec<String> {
        headers
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    };
    // With an unknown field too: the deprecation comes first, as upstream adds it before
    // handling the request.
    let body = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "10.244.0.5"}], "ports": [{"port": 80}]}], "extra": 1});
    let (status, headers, _) = api
        .send_with_headers(
            Method::POST,
            "/api/v1/namespaces/default/endpoints",
            "application/json",
            body.to_string().into_bytes(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        warnings(&headers),
        [deprecated, "299 - \"unknown field \\\"extra\\\"\""]
    );
    for (method, uri) in [
        (Method::GET, "/api/v1/namespaces/default/endpoints/web"),
        (Method::GET, "/api/v1/endpoints"),
        // Errors warn as well.
        (Method::GET, "/api/v1/namespaces/default/endpoints/missing"),
        (Method::DELETE, "/api/v1/namespaces/default/endpoints/web"),
    ] {
        let (_, headers, _) = api
            .send_with_headers(method.clone(), uri, "application/json", Vec::new())
            .await;
        assert_eq!(warnings(&headers), [deprecated], "{method} {uri}");
    }
    // Its replacement does not warn.
    let (status, headers, _) = api
        .send_with_headers(
            Method::GET,
            "/apis/discovery.k8s.io/v1/endpointslices",
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(warnings(&headers).is_empty());
}
