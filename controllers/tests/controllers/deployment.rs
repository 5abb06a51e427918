//! The Deployment controller (with the ReplicaSet controller) against a live in-process
//! API server. A stand-in kubelet here marks pods Running/Ready by patching `pods/status`,
//! except pods whose image contains "broken", which never become ready.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{eventually, server};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

const REVISION: &str = "deployment.kubernetes.io/revision";

async fn cluster() -> Client {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::replicaset::run(client.clone()));
    tokio::spawn(kubesim_controllers::deployment::run(client.clone()));
    tokio::spawn(fake_kubelet(client.clone()));
    client
}

/// Marks pods Ready shortly after they appear, unless their image is "broken".
async fn fake_kubelet(client: Client) {
    let pods: Api<Pod> = Api::all(client.clone());
    loop {
        if let Ok(list) = pods.list(&ListParams::default()).await {
            for pod in list.items {
                let image = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let ready = pod
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready"));
                if ready || image.contains("broken") || pod.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let now = k8s_openapi::jiff::Timestamp::now().to_string();
                let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
                let api: Api<Pod> =
                    Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
                let _ = api
                    .patch_status(
                        &pod.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&status),
                    )
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn deployment(name: &str, replicas: i32, strategy: Value, extra: Value) -> Deployment {
    let mut spec = json!({
        "replicas": replicas,
        "selector": {"matchLabels": {"app": name}},
        "strategy": strategy,
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"}, "spec": spec})).unwrap()
}

fn rolling(surge: Value, unavailable: Value) -> Value {
    json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}})
}

async fn get(client: &Client, name: &str) -> Deployment {
    Api::<Deployment>::namespaced(client.clone(), "default")
        .get(name)
        .await
        .unwrap()
}

async fn set_image(client: &Client, name: &str, image: &str) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
}

async fn replica_sets(client: &Client, app: &str) -> Vec<ReplicaSet> {
    let api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut list = api
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .unwrap()
        .items;
    list.sort_by_key(|rs| {
        rs.annotations()
            .get(REVISION)
            .and_then(|r| r.parse::<i64>().ok())
            .unwrap_or(0)
    });
    list
}

fn condition(d: &Deployment, type_: &str) -> Option<(String, String, String)> {
    let c = d
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_default(),
        c.message.clone().unwrap_or_default(),
    ))
}

/// What `kubectl rollout status` waits for.
fn rolled_out(d: &Deployment) -> bool {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let s = d.status.clone().unwrap_or_default();
    s.observed_generation >= d.metadata.generation
        && s.updated_replicas.unwrap_or(0) >= want
        && s.replicas.unwrap_or(0) <= s.updated_replicas.unwrap_or(0)
        && s.available_replicas.unwrap_or(0) >= s.updated_replicas.unwrap_or(0)
        && condition(d, "Progressing").is_some_and(|c| c.1 == "NewReplicaSetAvailable")
}

async fn wait_rolled_out(client: &Client, name: &str) -> Deployment {
    eventually(20, "rollout complete", || async {
        let d = get(client, name).await;
        rolled_out(&d).then_some(d)
    })
    .await
}

/// Watch `api` in a task of its own, each event to `handle`, and return once the watch's
/// first list is in: what the test does next, the watch sees.
async fn watch_listed<K>(
    api: Api<K>,
    config: watcher::Config,
    mut handle: impl FnMut(watcher::Event<K>) + Send + 'static,
) where
    K: kube::Resource
        + Clone
        + k8s_openapi::serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + 'static,
{
    let (listed, first_list) = tokio::sync::oneshot::channel();
    let mut listed = Some(listed);
    tokio::spawn(async move {
        let mut stream = watcher(api, config).boxed();
        while let Some(Ok(event)) = stream.next().await {
            let done = matches!(event, watcher::Event::InitDone);
            handle(event);
            if let Some(listed) = listed.take_if(|_| done) {
                let _ = listed.send(());
            }
        }
    });
    let _ = first_list.await;
}

/// Watches the pods of `app` and tracks the fewest ready and the most existing
/// (non-terminating) pods from its first list on; ready once that list is in.
struct PodMonitor {
    min_ready: Arc<AtomicI64>,
    max_pods: Arc<AtomicI64>,
}

async fn monitor(client: &Client, app: &str) -> PodMonitor {
    let m = PodMonitor {
        min_ready: Arc::new(AtomicI64::new(i64::MAX)),
        max_pods: Arc::new(AtomicI64::new(0)),
    };
    let (min_ready, max_pods) = (m.min_ready.clone(), m.max_pods.clone());
    let api: Api<Pod> = Api::namespaced(client.clone(), "default");
    let config = watcher::Config::default().labels(&format!("app={app}"));
    let mut pods: HashMap<String, Pod> = HashMap::new();
    // While a list comes in, the pods seen are only part of them.
    let mut listing = true;
    watch_listed(api, config, move |event| {
        match event {
            watcher::Event::Init => {
                pods.clear();
                listing = true;
            }
            watcher::Event::InitDone => listing = false,
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                pods.insert(p.name_any(), p);
            }
            watcher::Event::Delete(p) => {
                pods.remove(&p.name_any());
            }
        }
        if listing {
            return;
        }
        let live: Vec<&Pod> = pods
            .values()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        let ready = live
            .iter()
            .filter(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
            })
            .count() as i64;
        min_ready.fetch_min(ready, Ordering::SeqCst);
        max_pods.fetch_max(live.len() as i64, Ordering::SeqCst);
    })
    .await;
    m
}

#[tokio::test]
async fn rolling_update_respects_surge_and_unavailability() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("web", 3, rolling(json!(1), json!(0)), json!({}));
    d.metadata.annotations = Some(
        [(
            "kubernetes.io/change-cause".to_string(),
            "first".to_string(),
        )]
        .into(),
    );
    api.create(&PostParams::default(), &d).await.unwrap();
    let d = wait_rolled_out(&client, "web").await;
    assert_eq!(
        condition(&d, "Available").map(|c| (c.0, c.1)),
        Some(("True".into(), "MinimumReplicasAvailable".into()))
    );
    assert_eq!(d.annotations().get(REVISION).map(String::as_str), Some("1"));

    let rss = replica_sets(&client, "web").await;
    assert_eq!(rss.len(), 1);
    let first = rss[0].clone();
    let hash = first.labels().get("pod-template-hash").cloned().unwrap();
    assert_eq!(first.name_any(), format!("web-{hash}"));
    let spec = first.spec.clone().unwrap();
    assert_eq!(
        spec.selector.match_labels.unwrap().get("pod-template-hash"),
        Some(&hash)
    );
    assert_eq!(
        spec.template
            .unwrap()
            .metadata
            .unwrap()
            .labels
            .unwrap()
            .get("pod-template-hash"),
        Some(&hash)
    );
    let a = first.annotations();
    assert_eq!(a.get(REVISION).map(String::as_str), Some("1"));
    assert_eq!(
        a.get("deployment.kubernetes.io/desired-replicas")
            .map(String::as_str),
        Some("3")
    );
    assert_eq!(
        a.get("deployment.kubernetes.io/max-replicas")
            .map(String::as_str),
        Some("4")
    );
    assert_eq!(
        a.get("kubernetes.io/change-cause").map(String::as_str),
        Some("first")
    );
    assert_eq!(first.owner_references()[0].kind, "Deployment");
    assert_eq!(first.owner_references()[0].block_owner_deletion, Some(true));

    // Roll out a new image: never fewer than 3 ready, never more than 4 pods.
    let m = monitor(&client, "web").await;
    set_image(&client, "web", "nginx:2").await;
    let d = eventually(20, "rollout of nginx:2", || async {
        let d = get(&client, "web").await;
        (d.annotations().get(REVISION).map(String::as_str) == Some("2") && rolled_out(&d))
            .then_some(d)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        m.min_ready.load(Ordering::SeqCst) >= 3,
        "ready pods dropped to {}",
        m.min_ready.load(Ordering::SeqCst)
    );
    assert!(
        m.max_pods.load(Ordering::SeqCst) <= 4,
        "pods rose to {}",
        m.max_pods.load(Ordering::SeqCst)
    );
    assert_eq!(
        condition(&d, "Progressing").map(|c| c.2),
        Some(format!(
            "ReplicaSet \"{}\" has successfully progressed.",
            replica_sets(&client, "web").await[1].name_any()
        ))
    );

    let rss = replica_sets(&client, "web").await;
    assert_eq!(rss.len(), 2);
    assert_eq!(rss[0].name_any(), first.name_any());
    assert_eq!(rss[0].spec.as_ref().and_then(|s| s.replicas), Some(0));
    assert_eq!(rss[1].spec.as_ref().and_then(|s| s.replicas), Some(3));

    // The story, as `kubectl describe deployment` tells it.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let new_name = rss[1].name_any();
    eventually(10, "scaling events", || async {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=web"))
            .await
            .unwrap();
        let messages: Vec<String> = list
            .items
            .iter()
            .filter(|e| {
                e.reason.as_deref() == Some("ScalingReplicaSet")
                    && e.involved_object.kind.as_deref() == Some("Deployment")
            })
            .filter_map(|e| e.message.clone())
            .collect();
        let want = [
            format!("Scaled up replica set {} from 0 to 3", first.name_any()),
            format!("Scaled up replica set {new_name} from 0 to 1"),
            format!("Scaled down replica set {} from 3 to 2", first.name_any()),
            format!("Scaled down replica set {} from 1 to 0", first.name_any()),
        ];
        want.iter().all(|w| messages.contains(w)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn recreate_removes_old_pods_before_creating_new_ones() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("db", 2, json!({"type": "Recreate"}), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&client, "db").await;

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mixed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = mixed.clone();
    let mut seen: HashMap<String, Pod> = HashMap::new();
    let config = watcher::Config::default().labels("app=db");
    watch_listed(pods.clone(), config, move |event| {
        match event {
            watcher::Event::Init => seen.clear(),
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                seen.insert(p.name_any(), p);
            }
            watcher::Event::Delete(p) => {
                seen.remove(&p.name_any());
            }
            watcher::Event::InitDone => {}
        }
        let hashes: std::collections::BTreeSet<String> = seen
            .values()
            .filter_map(|p| p.labels().get("pod-template-hash").cloned())
            .collect();
        if hashes.len() > 1 {
            flag.store(true, Ordering::SeqCst);
        }
    })
    .await;
    set_image(&client, "db", "nginx:2").await;
    eventually(20, "recreated", || async {
        let d = get(&client, "db").await;
        (d.annotations().get(REVISION).map(String::as_str) == Some("2") && rolled_out(&d))
            .then_some(())
    })
    .await;
    assert!(
        !mixed.load(Ordering::SeqCst),
        "old and new pods existed together"
    );
}

#[tokio::test]
async fn pause_holds_the_rollout_and_resume_continues() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("paused", 2, rolling(json!("25%"), json!("25%")), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&client, "paused").await;

    api.patch(
        "paused",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": true}})),
    )
    .await
    .unwrap();
    eventually(10, "paused condition", || async {
        let d = get(&client, "paused").await;
        (condition(&d, "Progressing")
            == Some((
                "Unknown".into(),
                "DeploymentPaused".into(),
                "Deployment is paused".into(),
            )))
        .then_some(())
    })
    .await;
    set_image(&client, "paused", "nginx:2").await;
    // Scaling still works while paused.
    api.patch(
        "paused",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 3}})),
    )
    .await
    .unwrap();
    eventually(10, "scaled while paused", || async {
        let rss = replica_sets(&client, "paused").await;
        (rss.len() == 1 && rss[0].spec.as_ref().and_then(|s| s.replicas) == Some(3)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        replica_sets(&client, "paused").await.len(),
        1,
        "no rollout while paused"
    );

    api.patch(
        "paused",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"paused": false}})),
    )
    .await
    .unwrap();
    eventually(20, "rollout after resume", || async {
        let d = get(&client, "paused").await;
        (d.annotations().get(REVISION).map(String::as_str) == Some("2") && rolled_out(&d))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = deployment(
        "stuck",
        2,
        rolling(json!(1), json!(0)),
        json!({"progressDeadlineSeconds": 2}),
    );
    api.create(&PostParams::default(), &d).await.unwrap();
    wait_rolled_out(&client, "stuck").await;
    set_image(&client, "stuck", "nginx:broken").await;
    let d = eventually(15, "deadline exceeded", || async {
        let d = get(&client, "stuck").await;
        condition(&d, "Progressing")
            .filter(|c| c.1 == "ProgressDeadlineExceeded")
            .map(|c| (d, c))
    })
    .await;
    let new_rs = replica_sets(&client, "stuck").await.pop().unwrap();
    assert_eq!(
        d.1,
        (
            "False".into(),
            "ProgressDeadlineExceeded".into(),
            format!(
                "ReplicaSet \"{}\" has timed out progressing.",
                new_rs.name_any()
            )
        )
    );
    // maxUnavailable 0: the old pods stay.
    let dep = d.0;
    assert_eq!(
        dep.status.as_ref().and_then(|s| s.available_replicas),
        Some(2)
    );
}

/// `kubectl rollout undo` patches the template back from the old ReplicaSet; the
/// controller reuses that ReplicaSet and renumbers it.
#[tokio::test]
async fn undo_reuses_the_old_replica_set_with_a_new_revision() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("undo", 2, rolling(json!(1), json!(0)), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&client, "undo").await;
    set_image(&client, "undo", "nginx:2").await;
    eventually(20, "revision 2", || async {
        let d = get(&client, "undo").await;
        (d.annotations().get(REVISION).map(String::as_str) == Some("2") && rolled_out(&d))
            .then_some(())
    })
    .await;

    let first = replica_sets(&client, "undo").await[0].clone();
    let mut template = first.spec.clone().unwrap().template.unwrap();
    template
        .metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .remove("pod-template-hash");
    let patch = json!([{"op": "replace", "path": "/spec/template", "value": template}]);
    api.patch(
        "undo",
        &PatchParams::default(),
        &Patch::<()>::Json(serde_json::from_value(patch).unwrap()),
    )
    .await
    .unwrap();

    eventually(20, "revision 3", || async {
        let d = get(&client, "undo").await;
        (d.annotations().get(REVISION).map(String::as_str) == Some("3") && rolled_out(&d))
            .then_some(())
    })
    .await;
    let rss = replica_sets(&client, "undo").await;
    assert_eq!(rss.len(), 2, "no third ReplicaSet");
    let reused = rss
        .iter()
        .find(|rs| rs.name_any() == first.name_any())
        .unwrap();
    assert_eq!(
        reused.annotations().get(REVISION).map(String::as_str),
        Some("3")
    );
    assert_eq!(
        reused
            .annotations()
            .get("deployment.kubernetes.io/revision-history")
            .map(String::as_str),
        Some("1")
    );
    assert_eq!(reused.spec.as_ref().and_then(|s| s.replicas), Some(2));
}

#[tokio::test]
async fn revision_history_limit_deletes_the_oldest() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment(
            "hist",
            1,
            rolling(json!(1), json!(0)),
            json!({"revisionHistoryLimit": 1}),
        ),
    )
    .await
    .unwrap();
    wait_rolled_out(&client, "hist").await;
    for (i, image) in ["nginx:2", "nginx:3"].iter().enumerate() {
        set_image(&client, "hist", image).await;
        let want = (i + 2).to_string();
        eventually(20, "rolled out", || async {
            let d = get(&client, "hist").await;
            (d.annotations().get(REVISION) == Some(&want) && rolled_out(&d)).then_some(())
        })
        .await;
    }
    eventually(10, "history trimmed", || async {
        let revisions: Vec<String> = replica_sets(&client, "hist")
            .await
            .iter()
            .filter_map(|rs| rs.annotations().get(REVISION).cloned())
            .collect();
        (revisions == ["2", "3"]).then_some(())
    })
    .await;
}

/// Upstream's example: 10 replicas, maxSurge 3, maxUnavailable 2, stuck mid-rollout at
/// 8 old + 5 new; scaling to 15 adds 3 to the old and 2 to the new.
#[tokio::test]
async fn scaling_mid_rollout_is_proportional() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("prop", 10, rolling(json!(3), json!(2)), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&client, "prop").await;
    set_image(&client, "prop", "nginx:broken").await;
    let sizes = |rss: &[ReplicaSet]| {
        rss.iter()
            .map(|rs| rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0))
            .collect::<Vec<_>>()
    };
    eventually(20, "8 old + 5 new", || async {
        (sizes(&replica_sets(&client, "prop").await) == [8, 5]).then_some(())
    })
    .await;
    api.patch(
        "prop",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 15}})),
    )
    .await
    .unwrap();
    eventually(20, "11 old + 7 new", || async {
        (sizes(&replica_sets(&client, "prop").await) == [11, 7]).then_some(())
    })
    .await;
}

/// Both controllers killed mid-rollout and restarted with empty caches converge to the
/// same end state, and no pod beyond the rollout's own is ever created.
#[tokio::test]
async fn controllers_restarted_mid_rollout_converge_without_extra_pods() {
    let (_url, client) = server().await;
    tokio::spawn(fake_kubelet(client.clone()));
    let start = |client: &Client| {
        (
            tokio::spawn(kubesim_controllers::replicaset::run(client.clone())),
            tokio::spawn(kubesim_controllers::deployment::run(client.clone())),
        )
    };
    let (rs_task, d_task) = start(&client);
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("restart", 5, rolling(json!(1), json!(0)), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&client, "restart").await;

    // Count every pod ever created from here on.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let created = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let seen = created.clone();
    let config = watcher::Config::default().labels("app=restart");
    watch_listed(pods.clone(), config, move |event| {
        if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = event {
            seen.lock().unwrap().insert(p.name_any());
        }
    })
    .await;

    set_image(&client, "restart", "nginx:2").await;
    eventually(10, "new ReplicaSet scaling", || async {
        (replica_sets(&client, "restart").await.len() == 2).then_some(())
    })
    .await;
    rs_task.abort();
    d_task.abort();
    let _ = (rs_task.await, d_task.await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _restarted = start(&client);

    let d = eventually(30, "rollout complete after restart", || async {
        let d = get(&client, "restart").await;
        (d.annotations().get(REVISION).map(String::as_str) == Some("2") && rolled_out(&d))
            .then_some(d)
    })
    .await;
    assert_eq!(d.status.as_ref().and_then(|s| s.replicas), Some(5));
    let live: Vec<Pod> = pods
        .list(&ListParams::default().labels("app=restart"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    assert_eq!(live.len(), 5);
    assert_eq!(replica_sets(&client, "restart").await.len(), 2);
    // 5 old + 5 new, nothing more.
    assert_eq!(
        created.lock().unwrap().len(),
        10,
        "pods ever seen: {:?}",
        created.lock().unwrap()
    );
}

/// `kubectl create deployment r1 --replicas=4` then a new image, default strategy (25%:
/// maxSurge 1, maxUnavailable 1). The old ReplicaSet only ever shrinks and the
/// ReplicaSets never ask for more than replicas + maxSurge = 5 pods, even while the old
/// one's cached `availableReplicas` lags its just-lowered `spec.replicas`.
#[tokio::test]
async fn an_old_replica_set_is_never_scaled_back_up() {
    let client = cluster().await;
    let api: Api<Deployment> = Api::namespaced(client.clone(), "default");
    api.create(
        &PostParams::default(),
        &deployment("r1", 4, json!({"type": "RollingUpdate"}), json!({})),
    )
    .await
    .unwrap();
    wait_rolled_out(&client, "r1").await;
    let old_name = replica_sets(&client, "r1").await[0].name_any();

    // Every spec.replicas the ReplicaSets ever had, in order.
    let sizes: Arc<std::sync::Mutex<HashMap<String, Vec<i32>>>> = Arc::default();
    let most = Arc::new(AtomicI64::new(0));
    let (seen, max_total) = (sizes.clone(), most.clone());
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut current: HashMap<String, i32> = HashMap::new();
    let config = watcher::Config::default().labels("app=r1");
    watch_listed(rs_api, config, move |event| {
        if let watcher::Event::Apply(rs) | watcher::Event::InitApply(rs) = event {
            let size = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0);
            current.insert(rs.name_any(), size);
            let mut seen = seen.lock().unwrap();
            let history = seen.entry(rs.name_any()).or_default();
            if history.last() != Some(&size) {
                history.push(size);
            }
            max_total.fetch_max(i64::from(current.values().sum::<i32>()), Ordering::SeqCst);
        }
    })
    .await;
    for image in ["nginx:2", "nginx:3"] {
        set_image(&client, "r1", image).await;
        eventually(20, "rolled out", || async {
            let d = get(&client, "r1").await;
            let rss = replica_sets(&client, "r1").await;
            (rolled_out(&d)
                && rss.last().is_some_and(|rs| {
                    rs.spec
                        .as_ref()
                        .and_then(|s| s.template.as_ref())
                        .is_some_and(|t| serde_json::to_string(t).unwrap().contains(image))
                }))
            .then_some(())
        })
        .await;
    }
    let sizes = sizes.lock().unwrap().clone();
    let old = &sizes[&old_name];
    assert!(
        old.windows(2).all(|w| w[1] < w[0]),
        "old ReplicaSet sizes: {old:?} (all: {sizes:?})"
    );
    assert!(
        most.load(Ordering::SeqCst) <= 5,
        "the ReplicaSets asked for {} pods: {sizes:?}",
        most.load(Ordering::SeqCst)
    );
}

/// A scale computed from a stale cached ReplicaSet conflicts instead of overwriting a
/// newer one, and records no `ScalingReplicaSet` event (upstream's update carries the
/// resourceVersion).
#[tokio::test]
async fn a_scale_from_a_stale_cache_conflicts_and_records_nothing() {
    let (_url, client) = server().await;
    let d = deployment("stale", 2, rolling(json!(1), json!(0)), json!({}));
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "stale-1"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "stale"}},
                 "template": {"metadata": {"labels": {"app": "stale"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
    }))
    .unwrap();
    let cached = rs_api.create(&PostParams::default(), &rs).await.unwrap();
    // Someone writes after our cache saw it.
    rs_api
        .patch(
            "stale-1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"touched": "yes"}}})),
        )
        .await
        .unwrap();

    let ctx = kubesim_controllers::deployment::Context {
        client: client.clone(),
        replica_sets: kube::runtime::reflector::store().0,
        pods: kube::runtime::reflector::store().0,
        recorder: kubesim_controllers::events::Recorder::new(
            client.clone(),
            "deployment-controller",
        ),
    };
    let result =
        kubesim_controllers::deployment::sync::scale_replica_set(&ctx, &cached, 5, &d).await;
    assert!(
        matches!(&result, Err(kubesim_controllers::deployment::Error::UpdateReplicaSet(_, kube::Error::Api(e))) if e.code == 409),
        "{result:?}"
    );
    assert_eq!(
        rs_api.get("stale-1").await.unwrap().spec.unwrap().replicas,
        Some(2)
    );
    // With fresh data it goes through, with its event.
    let fresh = rs_api.get("stale-1").await.unwrap();
    kubesim_controllers::deployment::sync::scale_replica_set(&ctx, &fresh, 5, &d)
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let messages = eventually(10, "the scaling event", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        let messages: Vec<String> = list
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("ScalingReplicaSet"))
            .filter_map(|e| e.message)
            .collect();
        (!messages.is_empty()).then_some(messages)
    })
    .await;
    assert_eq!(messages, ["Scaled up replica set stale-1 from 2 to 5"]);
}
