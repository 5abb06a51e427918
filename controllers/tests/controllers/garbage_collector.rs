//! The garbage collector against a live API server: background, foreground and orphan.

use crate::common;

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use common::{eventually, server};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ServiceAccount};
use kube::api::{Api, DeleteParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

async fn replicaset(client: &Client, name: &str) -> ReplicaSet {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    api.create(&PostParams::default(), &rs).await.unwrap()
}

async fn owned_pod(client: &Client, name: &str, owner: &ReplicaSet, block: bool) -> Pod {
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "ownerReferences": [{
            "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner.name_any(), "uid": owner.uid().unwrap(),
            "controller": true, "blockOwnerDeletion": block}]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &pod).await.unwrap()
}

async fn gone<K>(api: &Api<K>, name: &str) -> Option<()>
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_opt(name).await.unwrap().is_none().then_some(())
}

#[tokio::test]
async fn background_deletion_removes_dependents() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::garbage_collector::run(client.clone()));
    let rs = replicaset(&client, "bg").await;
    owned_pod(&client, "bg-1", &rs, true).await;
    owned_pod(&client, "bg-2", &rs, true).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    sets.delete("bg", &DeleteParams::background())
        .await
        .unwrap();
    eventually(10, "pods collected", || async {
        (gone(&pods, "bg-1").await.is_some() && gone(&pods, "bg-2").await.is_some()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn dependents_of_an_owner_that_never_existed_are_collected_but_not_of_a_live_one() {
    let (_url, client) = server().await;
    let rs = replicaset(&client, "live").await;
    owned_pod(&client, "kept", &rs, false).await;
    // A dangling reference: same name, another uid.
    let mut ghost = rs.clone();
    ghost.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
    owned_pod(&client, "orphaned", &ghost, false).await;
    tokio::spawn(kubesim_controllers::garbage_collector::run(client.clone()));
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(10, "dangling pod collected", || gone(&pods, "orphaned")).await;
    assert!(pods.get_opt("kept").await.unwrap().is_some());
}

/// Delete `owner` in the foreground while its blocking dependent `dependent` is held by
/// a finalizer: the dependent is asked to go, the owner waits with its finalizer; let
/// go, the dependent goes and then the owner.
async fn foreground_deletion_waits_for(client: &Client, owner: &str, dependent: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let hold =
        |finalizers| kube::api::Patch::Merge(json!({"metadata": {"finalizers": finalizers}}));
    pods.patch(
        dependent,
        &Default::default(),
        &hold(json!(["example.com/hold"])),
    )
    .await
    .unwrap();
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    sets.delete(owner, &DeleteParams::foreground())
        .await
        .unwrap();
    eventually(10, "dependent marked for deletion", || async {
        pods.get(dependent)
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = sets.get_opt(owner).await.unwrap();
    let held = held.expect("the owner went before its blocking dependent");
    assert!(held.metadata.deletion_timestamp.is_some());
    assert!(
        held.finalizers()
            .contains(&"foregroundDeletion".to_string())
    );
    pods.patch(dependent, &Default::default(), &hold(Value::Null))
        .await
        .unwrap();
    eventually(10, "owner removed", || gone(&sets, owner)).await;
}

#[tokio::test]
async fn foreground_deletion_waits_for_blocking_dependents() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::garbage_collector::run(client.clone()));
    let rs = replicaset(&client, "fg").await;
    owned_pod(&client, "fg-1", &rs, true).await;
    foreground_deletion_waits_for(&client, "fg", "fg-1").await;
}

/// A dependent that another owner still holds survives its foreground-deleted owner and
/// only loses the reference to it (upstream `attemptToDeleteItem` with a solid owner).
#[tokio::test]
async fn foreground_deletion_keeps_a_dependent_another_owner_holds() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::garbage_collector::run(client.clone()));
    let rs = replicaset(&client, "fg-multi").await;
    let keeper = replicaset(&client, "keeper").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "shared", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "fg-multi", "uid": rs.uid().unwrap(), "controller": true, "blockOwnerDeletion": true},
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "keeper", "uid": keeper.uid().unwrap()}]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    owned_pod(&client, "only-mine", &rs, true).await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    sets.delete("fg-multi", &DeleteParams::foreground())
        .await
        .unwrap();
    eventually(10, "owner removed", || gone(&sets, "fg-multi")).await;
    eventually(10, "its only dependent collected", || {
        gone(&pods, "only-mine")
    })
    .await;
    let shared = pods.get("shared").await.unwrap();
    assert!(
        shared.metadata.deletion_timestamp.is_none(),
        "a dependent with another owner was deleted"
    );
    let owners: Vec<String> = shared
        .owner_references()
        .iter()
        .map(|o| o.name.clone())
        .collect();
    assert_eq!(owners, ["keeper"]);
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents_without_the_reference() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::garbage_collector::run(client.clone()));
    let rs = replicaset(&client, "or").await;
    owned_pod(&client, "or-1", &rs, true).await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.delete("or", &DeleteParams::orphan()).await.unwrap();
    eventually(10, "owner removed", || gone(&sets, "or")).await;
    let pod = pods.get("or-1").await.unwrap();
    assert!(
        pod.owner_references().is_empty(),
        "{:?}",
        pod.owner_references()
    );
    assert!(pod.metadata.deletion_timestamp.is_none());
}

/// How long the collector's own pod requests wait in the tests of a lagging graph.
const POD_DELAY: Duration = Duration::from_secs(2);

/// Which of the collector's requests for all pods wait [`POD_DELAY`] first.
#[derive(Clone, Copy, PartialEq)]
enum SlowPods {
    /// The LIST its pod watch starts with: the graph lags the API for pods, as on a busy
    /// machine, while everything else is seen at once.
    List,
    /// The WATCH after it: pods are listed at once, their changes seen late.
    Watch,
}

fn client_with_slow_pods(url: &str, which: SlowPods) -> Client {
    #[derive(Clone)]
    struct Slow<S>(Arc<tokio::sync::Mutex<S>>, SlowPods);
    impl<S, B> tower::Service<http::Request<B>> for Slow<S>
    where
        S: tower::Service<http::Request<B>> + Send + 'static,
        S::Future: Send,
        B: Send + 'static,
    {
        type Response = S::Response;
        type Error = S::Error;
        type Future = futures::future::BoxFuture<'static, Result<S::Response, S::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: http::Request<B>) -> Self::Future {
            let inner = self.0.clone();
            let watch = req.uri().query().unwrap_or_default().contains("watch=true");
            let slow = req.uri().path() == "/api/v1/pods" && watch == (self.1 == SlowPods::Watch);
            Box::pin(async move {
                if slow {
                    tokio::time::sleep(POD_DELAY).await;
                }
                let call = {
                    let mut inner = inner.lock().await;
                    tower::ServiceExt::ready(&mut *inner).await?.call(req)
                };
                call.await
            })
        }
    }
    let config = kube::Config::new(url.parse().unwrap());
    kube::client::ClientBuilder::try_from(config)
        .unwrap()
        .with_layer(&tower::layer::layer_fn(move |svc| {
            Slow(Arc::new(tokio::sync::Mutex::new(svc)), which)
        }))
        .build()
}

/// A collector whose pod watch has not listed yet; returns once its other watches run.
async fn collector_behind_on_pods(url: &str, client: &Client) {
    tokio::spawn(kubesim_controllers::garbage_collector::run(
        client_with_slow_pods(url, SlowPods::List),
    ));
    let mut ghost = replicaset(client, "ghost").await;
    ghost.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "dangling", "ownerReferences": [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ghost", "uid": ghost.uid().unwrap()}]}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    eventually(10, "collector watching", || gone(&cms, "dangling")).await;
}

/// Dependents the collector has not seen yet when their owner is deleted with `orphan`
/// (created just before, and its pod watch behind) are orphaned too: kept, without the
/// reference — not collected later as dangling.
#[tokio::test]
async fn orphan_deletion_keeps_dependents_the_collector_has_not_seen_yet() {
    let (url, client) = server().await;
    collector_behind_on_pods(&url, &client).await;
    let rs = replicaset(&client, "quick").await;
    owned_pod(&client, "quick-1", &rs, true).await;
    owned_pod(&client, "quick-2", &rs, false).await;
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.delete("quick", &DeleteParams::orphan()).await.unwrap();
    eventually(10, "owner removed", || gone(&sets, "quick")).await;
    // The pod watch lists; a dangling pod would be deleted right after.
    tokio::time::sleep(POD_DELAY + Duration::from_millis(500)).await;
    for name in ["quick-1", "quick-2"] {
        let pod = pods.get_opt(name).await.unwrap();
        let pod = pod.unwrap_or_else(|| panic!("{name} was collected"));
        assert!(
            pod.metadata.deletion_timestamp.is_none(),
            "{name} is being deleted"
        );
        assert!(
            pod.owner_references().is_empty(),
            "{name}: {:?}",
            pod.owner_references()
        );
    }
}

/// Orphaned dependents whose update (the reference dropped) the collector sees only
/// after its owner's DELETED event are kept: it decides from the latest object, not from
/// the reference its graph still holds.
#[tokio::test]
async fn orphaned_dependents_seen_late_without_their_reference_are_kept() {
    let (url, client) = server().await;
    let rs = replicaset(&client, "late").await;
    owned_pod(&client, "late-1", &rs, true).await;
    owned_pod(&client, "late-2", &rs, false).await;
    let mut ghost = rs.clone();
    ghost.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
    owned_pod(&client, "dangling", &ghost, false).await;
    tokio::spawn(kubesim_controllers::garbage_collector::run(
        client_with_slow_pods(&url, SlowPods::Watch),
    ));
    // Collected from the pod LIST: the graph holds the pods, their watch is not yet on.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(10, "pods listed", || gone(&pods, "dangling")).await;

    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    sets.delete("late", &DeleteParams::orphan()).await.unwrap();
    eventually(10, "owner removed", || gone(&sets, "late")).await;
    // The pod watch starts and brings the updates; a stale decision would follow them.
    tokio::time::sleep(POD_DELAY + Duration::from_millis(500)).await;
    for name in ["late-1", "late-2"] {
        let pod = pods.get_opt(name).await.unwrap();
        let pod = pod.unwrap_or_else(|| panic!("{name} was collected"));
        assert!(
            pod.metadata.deletion_timestamp.is_none(),
            "{name} is being deleted"
        );
        assert!(pod.owner_references().is_empty(), "{name}");
    }
}

/// An owner deleted in the foreground waits for a blocking dependent the collector has
/// not seen yet, instead of going first.
#[tokio::test]
async fn foreground_deletion_waits_for_dependents_the_collector_has_not_seen_yet() {
    let (url, client) = server().await;
    collector_behind_on_pods(&url, &client).await;
    let rs = replicaset(&client, "quick-fg").await;
    owned_pod(&client, "quick-fg-1", &rs, true).await;
    foreground_deletion_waits_for(&client, "quick-fg", "quick-fg-1").await;
}

#[tokio::test]
async fn non_pod_dependents_are_collected_too() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::garbage_collector::run(client.clone()));
    let rs = replicaset(&client, "cm-owner").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "owned", "ownerReferences": [{
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cm-owner", "uid": rs.uid().unwrap()}]}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    Api::<ReplicaSet>::namespaced(client.clone(), "default")
        .delete("cm-owner", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "configmap collected", || gone(&cms, "owned")).await;
}

#[tokio::test]
async fn every_namespace_gets_a_default_service_account() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::serviceaccount::run(client.clone()));
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "team-a"}})).unwrap(),
        )
        .await
        .unwrap();
    for ns in ["default", "kube-system", "team-a"] {
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
        eventually(10, "default service account", || async {
            sas.get_opt("default").await.unwrap().map(|_| ())
        })
        .await;
    }
    // Deleted, it comes back.
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "team-a");
    let before = sas.get("default").await.unwrap().uid();
    sas.delete("default", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "recreated", || async {
        sas.get_opt("default")
            .await
            .unwrap()
            .filter(|s| s.uid() != before)
            .map(|_| ())
    })
    .await;
}
