//! kube-rs against `kubesim up`: its watcher lists, watches, survives a forced
//! `410 Expired` by relisting, and ends with the server's set.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kubesim_e2e::Cluster;

fn configmap(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn watcher_relists_after_a_forced_410_and_converges() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let client = cluster.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["a", "b"] {
        api.create(&PostParams::default(), &configmap(name))
            .await
            .expect("create");
    }

    // A reflector keeps a store from the watcher's events.
    let (reader, writer) = reflector::store();
    let restarts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = restarts.clone();
    let stream = reflector::reflector(
        writer,
        watcher(api.clone(), watcher::Config::default().any_semantic()),
    )
    .inspect(move |event| {
        if matches!(event, Ok(watcher::Event::Init)) {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    })
    .default_backoff()
    .for_each(|_| async {});
    let task = tokio::spawn(stream);

    let names = |reader: &reflector::Store<ConfigMap>| -> BTreeSet<String> {
        reader
            .state()
            .iter()
            .filter_map(|cm| cm.metadata.name.clone())
            .collect()
    };
    until("the initial list", || {
        names(&reader) == BTreeSet::from(["a".into(), "b".into()])
    })
    .await;
    api.create(&PostParams::default(), &configmap("c"))
        .await
        .expect("create c");
    until("the watched create", || names(&reader).contains("c")).await;

    // A write elsewhere moves the store's revision past the last one the watcher saw;
    // then compact the history and end every watch: the watcher resumes from its last
    // resourceVersion, is told 410 Expired, and must relist.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(client.clone(), "default");
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("elsewhere".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create secret");
    let http = reqwest_free_post(&cluster.url, "/kubesim/v1/compact").await;
    assert!(http.contains("compactedRevision"), "{http}");
    // Changes while it recovers must not be lost.
    api.delete("a", &DeleteParams::default())
        .await
        .expect("delete a");
    api.create(&PostParams::default(), &configmap("d"))
        .await
        .expect("create d");

    let expected: BTreeSet<String> = ["b", "c", "d"].into_iter().map(String::from).collect();
    until("convergence after the relist", || {
        names(&reader) == expected
    })
    .await;
    assert!(
        restarts.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "the watcher relisted"
    );

    let server: BTreeSet<String> = api
        .list(&Default::default())
        .await
        .expect("list")
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    assert_eq!(names(&reader), server);
    task.abort();
}

/// A POST with an empty body over a plain TCP connection (kube-rs has no raw-POST helper
/// that fits, and the test needs nothing more).
async fn reqwest_free_post(url: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}
