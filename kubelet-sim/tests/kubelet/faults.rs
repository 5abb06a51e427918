//! kubelet-sim's nodes under faults and limits, against a live API server: a stopped
//! node writes nothing, a restarted kubelet-sim adopts its pods, pods that do not fit
//! are rejected, a deleted Node's lease is not recreated.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

/// Upstream's kubelet admission: a pod bound to a node it does not fit on is Failed,
/// never started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_that_do_not_fit_are_rejected() {
    let sim = start(1, 10.0).await;
    let name = sim
        .run(json!({"metadata": {"name": "huge"}, "spec": {"containers": [{"name": "c", "image": "app", "resources": {"requests": {"cpu": "100"}}}]}}))
        .await;
    let pod = sim.until(&name, "rejected", |p| phase(p) == "Failed").await;
    let s = pod.status.clone().unwrap();
    assert_eq!(s.reason.as_deref(), Some("OutOfcpu"));
    assert_eq!(
        s.message.as_deref(),
        Some(
            "Pod was rejected: Node didn't have enough resource: cpu, requested: 100000, used: 0, capacity: 4000"
        )
    );
    assert!(
        s.container_statuses.is_none() && s.pod_ip.is_none(),
        "never started: {s:?}"
    );
    let event = eventually("OutOfcpu event", || async {
        sim.events(&name)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("OutOfcpu"))
    })
    .await;
    assert_eq!(
        event.message.as_deref(),
        Some("Node didn't have enough resource: cpu, requested: 100000, used: 0, capacity: 4000")
    );
    assert_eq!(event.type_.as_deref(), Some("Warning"));

    // Used counts what runs: 3 CPUs taken, 2 more do not fit, 1 does.
    let three = sim.run(json!({"metadata": {"name": "three"}, "spec": {"containers": [{"name": "c", "image": "app", "resources": {"requests": {"cpu": "3"}}}]}})).await;
    sim.until(&three, "Running", |p| phase(p) == "Running")
        .await;
    let two = sim.run(json!({"metadata": {"name": "two"}, "spec": {"containers": [{"name": "c", "image": "app", "resources": {"requests": {"cpu": "2"}}}]}})).await;
    let pod = sim.until(&two, "rejected", |p| phase(p) == "Failed").await;
    assert_eq!(
        pod.status.unwrap().message.as_deref(),
        Some(
            "Pod was rejected: Node didn't have enough resource: cpu, requested: 2000, used: 3000, capacity: 4000"
        )
    );
    let one = sim.run(json!({"metadata": {"name": "one"}, "spec": {"containers": [{"name": "c", "image": "app", "resources": {"requests": {"cpu": "1"}}}]}})).await;
    sim.until(&one, "Running", |p| phase(p) == "Running").await;

    // A node selector the node does not match.
    let elsewhere = sim.run(json!({"metadata": {"name": "elsewhere"}, "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "image": "app"}]}})).await;
    let pod = sim
        .until(&elsewhere, "rejected", |p| phase(p) == "Failed")
        .await;
    let s = pod.status.unwrap();
    assert_eq!(s.reason.as_deref(), Some("NodeAffinity"));
    assert_eq!(
        s.message.as_deref(),
        Some(
            "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
        )
    );

    // A rejected pod is finalised when deleted.
    sim.pods()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    sim.gone(&name).await;
}

/// More pods than the node allows: the 111th is rejected (`OutOfpods`) — and no pod
/// ever gets an empty IP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pods_capacity_is_admitted_first() {
    let sim = start_with(1, 10.0, |c| c.pools[0].pods = 3).await;
    for i in 0..4 {
        sim.run(json!({"metadata": {"name": format!("p{i}")}, "spec": {"containers": [{"name": "c", "image": "app"}]}})).await;
        if i < 3 {
            sim.until(&format!("p{i}"), "Running", |p| phase(p) == "Running")
                .await;
        }
    }
    let pod = sim.until("p3", "rejected", |p| phase(p) == "Failed").await;
    let s = pod.status.unwrap();
    assert_eq!(s.reason.as_deref(), Some("OutOfpods"));
    assert_eq!(
        s.message.as_deref(),
        Some(
            "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"
        )
    );
}

/// A node allowing more pods than its /24 has addresses: the pod past the last address
/// waits in `ContainerCreating` without an IP (never an empty one), with
/// `FailedCreatePodSandBox`, and gets one when another pod leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_past_the_last_ip_wait_for_one() {
    // Events unpaced: this node's 760 others would hold the one looked for 15 s.
    let sim = start_with(1, 10.0, |c| {
        c.pools[0].pods = 300;
        c.event_qps = Some(100_000.0);
    })
    .await;
    let spec = json!({"containers": [{"name": "c", "image": "app:1"}]});
    let pods = sim.pods();
    let creates =
        (0..254).map(|i| sim.run(json!({"metadata": {"name": format!("p{i}")}, "spec": spec})));
    futures::StreamExt::collect::<Vec<_>>(futures::StreamExt::buffer_unordered(
        futures::stream::iter(creates),
        16,
    ))
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let all = loop {
        let list = pods.list(&Default::default()).await.unwrap().items;
        if list.iter().filter(|p| phase(p) == "Running").count() == 253 {
            break list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "253 pods never Running"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let waiting: Vec<_> = all.iter().filter(|p| phase(p) != "Running").collect();
    assert_eq!(waiting.len(), 1);
    let late = waiting[0].metadata.name.clone().unwrap();
    let pod = sim
        .until(&late, "ContainerCreating", |p| !containers(p).is_empty())
        .await;
    let s = pod.status.clone().unwrap();
    assert_eq!(s.pod_ip, None);
    assert_eq!(condition(&pod, "PodReadyToStartContainers"), Some("False"));
    assert_eq!(state(&container(&pod)), "waiting:ContainerCreating");
    assert!(
        all.iter()
            .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref())
            .all(|ip| !ip.is_empty())
    );
    let event = eventually("FailedCreatePodSandBox", || async {
        sim.events(&late)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedCreatePodSandBox"))
    })
    .await;
    assert!(
        event
            .message
            .unwrap()
            .ends_with("no IP addresses available in range set: 10.244.0.1-10.244.0.254")
    );
    // One pod leaves: its address is free again.
    let gone = if late == "p0" { "p1" } else { "p0" };
    pods.delete(gone, &DeleteParams::default()).await.unwrap();
    let pod = sim
        .until(&late, "an IP at last", |p| phase(p) == "Running")
        .await;
    assert!(pod.status.unwrap().pod_ip.unwrap().starts_with("10.244.0."));
}

/// `kubesim node stop`: the node's kubelet is dead. It writes nothing — no pod status
/// (what the node lifecycle controller writes stays), no deletion, no lease — and a
/// new pod gets no status. Started again, it catches up: the status is put right, the
/// pending deletion is finalised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_writes_nothing_until_started() {
    let sim = start(1, 10.0).await;
    let name = sim.run(json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).await;
    let pod = sim
        .until(&name, "Ready", |p| condition(p, "Ready") == Some("True"))
        .await;
    let uid = pod.metadata.uid.clone().unwrap();

    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "kube-node-lease");
    sim.annotate_node("kubesim-node-0", "kubesim.io/stopped", Some("true"))
        .await;
    // Stopped once the lease is no longer renewed (it is every 300 ms) for 1.8 s: a
    // kubelet only stalled by a loaded machine would have renewed by then.
    let renewed = || async {
        leases
            .get("kubesim-node-0")
            .await
            .unwrap()
            .spec
            .unwrap()
            .renew_time
            .unwrap()
            .0
    };
    let mut last = renewed().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let step = Duration::from_millis(600);
    let mut quiet = Duration::ZERO;
    while quiet < 3 * step {
        tokio::time::sleep(step).await;
        let now = renewed().await;
        if now == last {
            quiet += step;
            continue;
        }
        quiet = Duration::ZERO;
        last = now;
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease renewals did not stop"
        );
    }

    // What the node lifecycle controller does to a silent node's pods.
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NodeNotReady"}]}});
    sim.pods()
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    sim.pods()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    let other = sim.run(json!({"metadata": {"name": "later"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).await;
    let before = sim.pods().get(&name).await.unwrap();
    // Simulated time goes on (2 s of it at 10x = 20 s): nothing is written.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = sim.pods().get(&name).await.unwrap();
    assert_eq!(
        after.metadata.resource_version, before.metadata.resource_version,
        "a stopped node wrote the pod"
    );
    assert_eq!(condition(&after, "Ready"), Some("False"));
    assert!(
        after.metadata.deletion_timestamp.is_some(),
        "stays Terminating"
    );
    let later = sim.pods().get(&other).await.unwrap();
    assert!(
        later
            .status
            .as_ref()
            .is_none_or(|s| s.container_statuses.is_none()),
        "a new pod got a status: {:?}",
        later.status
    );
    assert!(sim.events(&other).await.is_empty());
    assert_eq!(renewed().await, last);

    sim.annotate_node("kubesim-node-0", "kubesim.io/stopped", None)
        .await;
    sim.gone(&name).await;
    let later = sim
        .until(&other, "later Ready", |p| {
            condition(p, "Ready") == Some("True")
        })
        .await;
    assert_ne!(later.metadata.uid.as_deref(), Some(uid.as_str()));
    eventually("lease renewed", || async {
        (renewed().await != last).then_some(())
    })
    .await;
}

/// Same test, the other way round: a pod the node lifecycle controller marked not Ready
/// while the node was stopped is Ready again once the node is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_puts_its_pods_status_right() {
    let sim = start(1, 10.0).await;
    let name = sim.run(json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).await;
    sim.until(&name, "Ready", |p| condition(p, "Ready") == Some("True"))
        .await;
    sim.annotate_node("kubesim-node-0", "kubesim.io/stopped", Some("true"))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NodeNotReady"}]}});
    sim.pods()
        .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    sim.annotate_node("kubesim-node-0", "kubesim.io/stopped", None)
        .await;
    sim.until(&name, "Ready again", |p| {
        condition(p, "Ready") == Some("True")
    })
    .await;
}

/// A restarted kubelet-sim adopts the pods the previous one ran: restart counts never
/// go down, a running container keeps running (same `startedAt`, same IP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_kubelet_sim_adopts_its_pods() {
    let mut sim = start(1, 20.0).await;
    let crash = sim.run(json!({"metadata": {"name": "crash"}, "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}})).await;
    let web = sim.run(json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).await;
    let crashing = sim
        .until(&crash, "3 restarts", |p| {
            containers(p).first().is_some_and(|c| c.restart_count >= 3)
        })
        .await;
    let running = sim.until(&web, "Running", |p| phase(p) == "Running").await;
    let restarts = container(&crashing).restart_count;
    let started = container(&running)
        .state
        .unwrap()
        .running
        .unwrap()
        .started_at;

    // Kill kubelet-sim (its runtime), start another against the same API server.
    sim.kubelet.take().unwrap().shutdown_background();
    let config = {
        let mut c = kubesim_kubelet::Config::new(&sim.url, 1);
        c.time_scale = 20.0;
        c.lease_renew_interval = Duration::from_millis(300);
        c
    };
    let (rt, endpoint) = kubelet(config);
    sim.kubelet = Some(rt);
    sim.endpoint = endpoint;

    let bumped = sim
        .until(&crash, "restarted again", |p| {
            containers(p)
                .first()
                .is_some_and(|c| c.restart_count > restarts)
        })
        .await;
    assert!(container(&bumped).restart_count > restarts);
    let web_now = sim.pods().get(&web).await.unwrap();
    let c = container(&web_now);
    assert_eq!(
        c.state.unwrap().running.unwrap().started_at,
        started,
        "adopted, not restarted"
    );
    assert_eq!(c.restart_count, 0);
    assert_eq!(
        web_now.status.as_ref().unwrap().pod_ip,
        running.status.as_ref().unwrap().pod_ip
    );
    // Logs are served again by the new endpoint (of what ran since).
    let (status, _) = sim.kubelet_get("/containerLogs/default/web/c").await;
    assert_eq!(status, 200);
}

/// A time scale out of range is refused with a clear error, not a panic later.
#[tokio::test]
async fn an_absurd_time_scale_is_refused() {
    for scale in [1e20, 1e-18, f64::NAN, 0.0, -1.0] {
        let mut config = kubesim_kubelet::Config::new("http://127.0.0.1:1", 1);
        config.time_scale = scale;
        let error = kubesim_kubelet::Kubelet::new(config)
            .await
            .err()
            .expect("refused");
        assert!(
            error
                .to_string()
                .starts_with(&format!("time scale {scale} is out of range")),
            "{error}"
        );
    }
}

/// A node stopped before kubelet-sim starts writes nothing for its pods either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stopped_before_kubelet_sim_starts_stays_silent() {
    let mut sim = start(1, 10.0).await;
    sim.annotate_node("kubesim-node-0", "kubesim.io/stopped", Some("true"))
        .await;
    sim.kubelet.take().unwrap().shutdown_background();
    let name = sim.run(json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}})).await;
    let mut config = kubesim_kubelet::Config::new(&sim.url, 1);
    config.time_scale = 10.0;
    let (rt, endpoint) = kubelet(config);
    sim.kubelet = Some(rt);
    sim.endpoint = endpoint;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pod = sim.pods().get(&name).await.unwrap();
    assert!(
        pod.status
            .as_ref()
            .is_none_or(|s| s.container_statuses.is_none()),
        "{:?}",
        pod.status
    );
    sim.annotate_node("kubesim-node-0", "kubesim.io/stopped", None)
        .await;
    sim.until(&name, "Running", |p| phase(p) == "Running").await;
}

/// A deleted Node is not re-registered and its lease not recreated (upstream's kubelet
/// registers once; the lease controller will not create a lease without its Node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_nodes_lease_is_not_recreated() {
    let sim = start(2, 1.0).await;
    let nodes: Api<Node> = Api::all(sim.client.clone());
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "kube-node-lease");
    eventually("lease", || async {
        leases.get_opt("kubesim-node-1").await.unwrap()
    })
    .await;
    nodes
        .delete("kubesim-node-1", &DeleteParams::default())
        .await
        .unwrap();
    // No garbage collector runs here: delete the lease as it would.
    leases
        .delete("kubesim-node-1", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        leases.get_opt("kubesim-node-1").await.unwrap().is_none(),
        "lease recreated for a deleted Node"
    );
    assert!(nodes.get_opt("kubesim-node-1").await.unwrap().is_none());
    assert!(leases.get_opt("kubesim-node-0").await.unwrap().is_some());
}
