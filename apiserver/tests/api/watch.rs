//! Watch streams over HTTP: initial state, resuming, bookmarks, selectors, expiry, timeouts.

use crate::common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{TestApi, configmap, rv};
use kubesim_apiserver::Config;
use serde_json::json;

const CMS: &str = "/api/v1/namespaces/default/configmaps";

#[tokio::test]
async fn a_watch_from_no_revision_starts_with_the_current_objects() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({}))).await;
    api.post(CMS, &configmap("b", json!({}))).await;
    let mut watch = api.watch(&format!("{CMS}?watch=true")).await;
    for name in ["a", "b"] {
        let event = watch.next().await;
        assert_eq!(event["type"], "ADDED");
        assert_eq!(event["object"]["metadata"]["name"], name);
        assert_eq!(event["object"]["kind"], "ConfigMap");
    }
    api.patch(
        &format!("{CMS}/a"),
        "application/merge-patch+json",
        &json!({"data": {"x": "1"}}),
    )
    .await;
    let event = watch.next().await;
    assert_eq!(event["type"], "MODIFIED");
    assert_eq!(event["object"]["data"]["x"], "1");
    api.delete(&format!("{CMS}/b")).await;
    let event = watch.next().await;
    assert_eq!(event["type"], "DELETED");
    assert_eq!(event["object"]["metadata"]["name"], "b");
    assert!(
        event["object"]["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|rv| !rv.is_empty())
    );
}

#[tokio::test]
async fn a_watch_from_a_revision_sees_every_later_change_once_in_order() {
    let api = TestApi::new();
    let (_, first) = api.post(CMS, &configmap("c", json!({"n": "0"}))).await;
    for n in 1..=5 {
        api.patch(
            &format!("{CMS}/c"),
            "application/merge-patch+json",
            &json!({"data": {"n": n.to_string()}}),
        )
        .await;
    }
    let mut watch = api
        .watch(&format!("{CMS}?watch=1&resourceVersion={}", rv(&first)))
        .await;
    let mut previous = rv(&first);
    for n in 1..=5 {
        let event = watch.next().await;
        assert_eq!(event["type"], "MODIFIED");
        assert_eq!(event["object"]["data"]["n"], n.to_string());
        let this = rv(&event["object"]);
        assert!(this > previous);
        previous = this;
    }
    assert!(
        watch
            .next_within(Duration::from_millis(200))
            .await
            .is_none(),
        "nothing more"
    );
}

#[tokio::test]
async fn a_watch_from_before_the_history_gets_a_410_error_event() {
    let mut config = Config::default();
    config.storage.history = 3;
    let api = TestApi::with_config(config);
    for i in 0..10 {
        api.post(CMS, &configmap(&format!("c{i}"), json!({}))).await;
    }
    let mut watch = api
        .watch(&format!("{CMS}?watch=true&resourceVersion=2"))
        .await;
    let event = watch.next().await;
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["kind"], "Status");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
    assert!(watch.ends_within(Duration::from_secs(2)).await);
}

#[tokio::test]
async fn compaction_ends_watches_and_expires_their_revisions() {
    let api = TestApi::new();
    let (_, cm) = api.post(CMS, &configmap("a", json!({}))).await;
    let mut watch = api
        .watch(&format!("{CMS}?watch=true&resourceVersion={}", rv(&cm)))
        .await;
    let (status, _) = api
        .send(
            axum::http::Method::POST,
            "/kubesim/v1/compact",
            "application/json",
            Vec::new(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(watch.ends_within(Duration::from_secs(2)).await);
    let mut resumed = api
        .watch(&format!("{CMS}?watch=true&resourceVersion={}", rv(&cm) - 1))
        .await;
    assert_eq!(resumed.next().await["object"]["code"], 410);
}

#[tokio::test]
async fn watch_list_sends_initial_events_then_a_bookmark() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({}))).await;
    let (_, last) = api.post(CMS, &configmap("b", json!({}))).await;
    let mut watch = api
        .watch(&format!("{CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&resourceVersion="))
        .await;
    assert_eq!(watch.next().await["type"], "ADDED");
    assert_eq!(watch.next().await["type"], "ADDED");
    let bookmark = watch.next().await;
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(bookmark["object"]["kind"], "ConfigMap");
    assert_eq!(bookmark["object"]["apiVersion"], "v1");
    assert_eq!(
        bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );
    assert_eq!(
        bookmark["object"]["metadata"]["resourceVersion"],
        last["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn send_initial_events_without_not_older_than_is_invalid() {
    let api = TestApi::new();
    let (status, err) = api
        .get(&format!("{CMS}?watch=true&sendInitialEvents=true"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["details"]["kind"], "ListOptions");
}

#[tokio::test]
async fn bookmarks_come_periodically_when_allowed() {
    let mut config = Config::default();
    config.bookmark_interval = Duration::from_millis(100);
    let api = TestApi::with_config(config);
    let (_, cm) = api.post(CMS, &configmap("a", json!({}))).await;
    let mut watch = api
        .watch(&format!(
            "{CMS}?watch=true&allowWatchBookmarks=true&resourceVersion={}",
            rv(&cm)
        ))
        .await;
    let bookmark = watch.next().await;
    assert_eq!(bookmark["type"], "BOOKMARK");
    assert_eq!(
        bookmark["object"]["metadata"]["resourceVersion"],
        cm["metadata"]["resourceVersion"]
    );
    // Without allowWatchBookmarks, none.
    let mut plain = api
        .watch(&format!("{CMS}?watch=true&resourceVersion={}", rv(&cm)))
        .await;
    assert!(
        plain
            .next_within(Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn timeout_seconds_ends_the_stream_cleanly() {
    let api = TestApi::new();
    let started = std::time::Instant::now();
    let mut watch = api
        .watch(&format!("{CMS}?watch=true&timeoutSeconds=1"))
        .await;
    assert!(watch.ends_within(Duration::from_secs(3)).await);
    // Ended by the timeout, not at once.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_selector_watch_sees_objects_enter_and_leave_the_selection() {
    let api = TestApi::new();
    let (_, cm) = api.post(CMS, &configmap("a", json!({}))).await;
    let mut watch = api
        .watch(&format!(
            "{CMS}?watch=true&labelSelector=app%3Dweb&resourceVersion={}",
            rv(&cm)
        ))
        .await;
    let label = |value: serde_json::Value| json!({"metadata": {"labels": {"app": value}}});
    api.patch(
        &format!("{CMS}/a"),
        "application/merge-patch+json",
        &label(json!("web")),
    )
    .await;
    assert_eq!(watch.next().await["type"], "ADDED");
    api.patch(
        &format!("{CMS}/a"),
        "application/merge-patch+json",
        &json!({"data": {"x": "1"}}),
    )
    .await;
    assert_eq!(watch.next().await["type"], "MODIFIED");
    api.patch(
        &format!("{CMS}/a"),
        "application/merge-patch+json",
        &label(json!("db")),
    )
    .await;
    assert_eq!(watch.next().await["type"], "DELETED");
    api.post(CMS, &configmap("other", json!({}))).await;
    assert!(
        watch
            .next_within(Duration::from_millis(200))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_namespaced_watch_sees_only_its_namespace() {
    let api = TestApi::new();
    let mut watch = api.watch(&format!("{CMS}?watch=true")).await;
    api.post(
        "/api/v1/namespaces/kube-system/configmaps",
        &configmap("elsewhere", json!({})),
    )
    .await;
    api.post(CMS, &configmap("here", json!({}))).await;
    assert_eq!(watch.next().await["object"]["metadata"]["name"], "here");
    let mut everywhere = api.watch("/api/v1/configmaps?watch=true").await;
    assert_eq!(
        everywhere.next().await["object"]["metadata"]["name"],
        "here"
    );
    assert_eq!(
        everywhere.next().await["object"]["metadata"]["name"],
        "elsewhere"
    );
}

#[tokio::test]
async fn the_legacy_watch_path_watches_one_object() {
    let api = TestApi::new();
    api.post(CMS, &configmap("a", json!({}))).await;
    api.post(CMS, &configmap("b", json!({}))).await;
    let mut watch = api
        .watch("/api/v1/watch/namespaces/default/configmaps/b")
        .await;
    assert_eq!(watch.next().await["object"]["metadata"]["name"], "b");
    assert!(
        watch
            .next_within(Duration::from_millis(200))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_closed() {
    let mut config = Config::default();
    config.storage.history = 4;
    let api = TestApi::with_config(config);
    let (_, cm) = api.post(CMS, &configmap("a", json!({}))).await;
    let mut watch = api
        .watch(&format!("{CMS}?watch=true&resourceVersion={}", rv(&cm)))
        .await;
    // Nobody reads while many events happen.
    for i in 0..200 {
        api.patch(
            &format!("{CMS}/a"),
            "application/merge-patch+json",
            &json!({"data": {"n": i.to_string()}}),
        )
        .await;
    }
    let mut seen = Vec::new();
    while let Some(event) = watch.next_within(Duration::from_secs(2)).await {
        seen.push(rv(&event["object"]));
    }
    // Whatever arrived is in order with no gaps; the stream then ended (it did not
    // merely stall).
    assert!(
        watch.ends_within(Duration::from_millis(100)).await,
        "the watch stalled instead of ending"
    );
    assert!(
        seen.len() < 200,
        "the watcher was closed before seeing everything: {}",
        seen.len()
    );
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
}

/// A watcher whose client has stopped reading cannot hold the server open: shutdown
/// closes its connection after the grace period.
#[tokio::test]
async fn shutdown_ends_a_watch_whose_client_stopped_reading() {
    use tokio::io::AsyncWriteExt;
    let server = kubesim_apiserver::ApiServer::new(Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(kubesim_apiserver::serve(
        server.clone(),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));
    let mut client = tokio::net::TcpStream::connect(addr).await.expect("connect");
    client.write_all(b"GET /api/v1/namespaces/default/configmaps?watch=true HTTP/1.1\r\nHost: kubesim\r\n\r\n").await.expect("request");
    // Far more than the socket buffers hold, so the server's writes block.
    let payload = "x".repeat(64 * 1024);
    for i in 0..300 {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("big-{i}"), "namespace": "default"}, "data": {"payload": payload}});
        kubesim_apiserver::handlers::write::create_internal(&server, "configmaps", cm)
            .expect("create");
        tokio::task::yield_now().await;
    }
    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(20), serving).await;
    assert!(
        served.is_ok(),
        "the server kept running with a stalled watcher"
    );
    drop(client);
}
