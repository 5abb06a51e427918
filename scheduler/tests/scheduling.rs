//! The scheduler against a live in-process API server, with Node objects the tests create
//! (no kubelet): each case a user relies on.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{api_server, eventually, pending, requests};
use futures::future::BoxFuture;
use kubesim_scheduler::framework::{Bind, BindRequest, Plugin, Status};
use kubesim_scheduler::plugins::default_binder::DefaultBinder;
use kubesim_scheduler::plugins::registry::{Factory, OutOfTree};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_pick_the_node_that_fits_with_explanation_and_event() {
    let mut env = api_server().await;
    env.node("small", "1", "2Gi", json!({})).await;
    env.node("big", "4", "8Gi", json!({})).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "web-1"}, "spec": requests("2", "1Gi")}))
        .await;
    assert_eq!(env.bound("web-1").await, "big");

    // The explanation came in the same write as the bind.
    let pod = env.get_pod("web-1").await;
    let text = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(kubesim_scheduler::explain::ANNOTATION))
        .expect("explanation")
        .clone();
    let e: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(e["result"], "Scheduled");
    assert_eq!(e["selectedNode"], "big");
    assert_eq!(e["nodes"], 2);
    assert_eq!(e["feasibleNodes"], 1);
    assert_eq!(
        e["filtered"],
        json!([{"node": "small", "plugin": "NodeResourcesFit", "reasons": ["Insufficient cpu"]}])
    );
    let cond = pod
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(cond.status, "True");

    let events = env.events("web-1", "Scheduled").await;
    assert_eq!(
        events[0].message.as_deref(),
        Some("Successfully assigned default/web-1 to big")
    );
    assert_eq!(
        events[0].reporting_component.as_deref(),
        Some("default-scheduler")
    );
    assert_eq!(events[0].type_.as_deref(), Some("Normal"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_are_explained_per_plugin() {
    let mut env = api_server().await;
    env.node("a", "4", "8Gi", json!({})).await;
    env.node("b", "4", "8Gi", json!({})).await;
    env.pod(json!({"metadata": {"name": "busy"}, "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}]}})).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "p"}, "spec": requests("1", "2Gi")}))
        .await;
    assert_eq!(
        env.bound("p").await,
        "b",
        "LeastAllocated prefers the emptier node"
    );
    let e = env.explanation("p", |_| true).await;
    let best = &e["scores"][0];
    assert_eq!(best["node"], "b");
    // b: cpu (4000-1000)*100/4000 = 75, memory 75 → 75; a: 25.
    assert_eq!(
        best["plugins"]["NodeResourcesFit"],
        json!({"raw": 75, "normalized": 75, "weight": 1, "weighted": 75})
    );
    assert_eq!(e["scores"][1]["plugins"]["NodeResourcesFit"]["raw"], 25);
    assert_eq!(best["plugins"]["TaintToleration"]["weight"], 3);
    let total: i64 = best["plugins"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p["weighted"].as_i64().unwrap())
        .sum();
    assert_eq!(best["total"], total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pod_gets_upstream_message_event_and_runs_when_a_node_fits() {
    let mut env = api_server().await;
    env.node("small", "1", "2Gi", json!({})).await;
    let taint = json!({"spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}});
    env.node("cp-1", "8", "8Gi", taint.clone()).await;
    env.node("cp-2", "8", "8Gi", taint).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "web-1"}, "spec": requests("2", "")}))
        .await;
    let message = env.unschedulable("web-1").await;
    assert_eq!(
        message,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint(s). \
         no new claims to deallocate, preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let events = env.events("web-1", "FailedScheduling").await;
    assert_eq!(events[0].message.as_deref(), Some(message.as_str()));
    assert_eq!(events[0].type_.as_deref(), Some("Warning"));
    // v1.35 records which generation of the pod the condition is about.
    let pod = env.get_pod("web-1").await;
    let cond = pod
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(cond.observed_generation, pod.metadata.generation);
    assert!(cond.observed_generation.is_some());
    let e = env
        .explanation("web-1", |e| e["result"] == "Unschedulable")
        .await;
    assert_eq!(e["message"], message);
    assert_eq!(e["filtered"].as_array().unwrap().len(), 3);
    assert_eq!(
        e["filtered"][0],
        json!({"node": "cp-1", "plugin": "TaintToleration", "reasons": ["node(s) had untolerated taint(s)"]})
    );

    // A fitting node arrives: the pending pod is scheduled right away.
    env.node("roomy", "4", "8Gi", json!({})).await;
    assert_eq!(env.bound("web-1").await, "roomy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_selector_and_node_affinity() {
    let mut env = api_server().await;
    env.node(
        "a",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"disk": "ssd", "zone": "z1"}}}),
    )
    .await;
    env.node(
        "b",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"disk": "hdd", "zone": "z2"}}}),
    )
    .await;
    env.node(
        "c",
        "4",
        "8Gi",
        json!({"metadata": {"labels": {"disk": "hdd", "zone": "z3"}}}),
    )
    .await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "sel"}, "spec": {"nodeSelector": {"disk": "ssd"}}}))
        .await;
    env.pod(json!({"metadata": {"name": "req"}, "spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}]}}}}})).await;
    env.pod(json!({"metadata": {"name": "pref"}, "spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
        [{"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z3"]}]}}]}}}})).await;
    env.pod(json!({"metadata": {"name": "none"}, "spec": {"nodeSelector": {"disk": "nvme"}}}))
        .await;
    assert_eq!(env.bound("sel").await, "a");
    assert_eq!(env.bound("req").await, "b");
    assert_eq!(env.bound("pref").await, "c");
    let message = env.unschedulable("none").await;
    assert!(
        message.starts_with(
            "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
        ),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_and_tolerations() {
    let mut env = api_server().await;
    env.node(
        "gpu",
        "4",
        "8Gi",
        json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}}),
    )
    .await;
    env.node("soft", "4", "8Gi", json!({"spec": {"taints": [{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]}})).await;
    env.node("plain", "4", "8Gi", json!({})).await;
    env.start_scheduler(None);
    // Only the gpu node would be allowed: a selector plus a toleration.
    env.pod(json!({"metadata": {"name": "tolerates"}, "spec": {"nodeSelector": {"kubernetes.io/hostname": "gpu"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}})).await;
    env.pod(json!({"metadata": {"name": "intolerant"}, "spec": {"nodeSelector": {"kubernetes.io/hostname": "gpu"}}})).await;
    assert_eq!(env.bound("tolerates").await, "gpu");
    let m = env.unschedulable("intolerant").await;
    assert!(m.contains("1 node(s) had untolerated taint(s)"), "{m}");
    // PreferNoSchedule: avoided when another node is as good.
    for i in 0..3 {
        env.pod(json!({"metadata": {"name": format!("p{i}")}, "spec": {"tolerations": [{"key": "dedicated", "operator": "Exists"}]}})).await;
        assert_ne!(env.bound(&format!("p{i}")).await, "soft");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_anti_affinity_spreads_replicas_one_per_node() {
    let mut env = api_server().await;
    for n in ["n1", "n2", "n3"] {
        env.node(n, "4", "8Gi", json!({})).await;
    }
    env.start_scheduler(None);
    let anti = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}]}});
    let mut nodes = Vec::new();
    for i in 0..3 {
        let name = format!("web-{i}");
        env.pod(json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"affinity": anti}})).await;
        nodes.push(env.bound(&name).await);
    }
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    env.pod(json!({"metadata": {"name": "web-3", "labels": {"app": "web"}}, "spec": {"affinity": anti}})).await;
    let m = env.unschedulable("web-3").await;
    assert!(
        m.starts_with("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."),
        "{m}"
    );
    assert!(
        m.ends_with(
            "preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
        ),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_spread_across_zones() {
    let mut env = api_server().await;
    for (n, z) in [
        ("a1", "a"),
        ("a2", "a"),
        ("a3", "a"),
        ("b1", "b"),
        ("c1", "c"),
    ] {
        env.node(
            n,
            "8",
            "16Gi",
            json!({"metadata": {"labels": {"topology.kubernetes.io/zone": z}}}),
        )
        .await;
    }
    env.start_scheduler(None);
    let spread = json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "web"}}}]);
    let mut per_zone = std::collections::BTreeMap::new();
    for i in 0..6 {
        let name = format!("web-{i}");
        env.pod(json!({"metadata": {"name": name, "labels": {"app": "web"}}, "spec": {"topologySpreadConstraints": spread}})).await;
        let node = env.bound(&name).await;
        *per_zone.entry(node[..1].to_string()).or_insert(0) += 1;
    }
    // Three zones, six pods, maxSkew 1: two each (although zone a has three nodes).
    assert_eq!(per_zone.into_values().collect::<Vec<_>>(), [2, 2, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_preemption_evicts_the_right_victim() {
    let mut env = api_server().await;
    env.node("n1", "2", "4Gi", json!({})).await;
    env.node("n2", "2", "4Gi", json!({})).await;
    let scheduling: kube::Api<k8s_openapi::api::scheduling::v1::PriorityClass> =
        kube::Api::all(env.client.clone());
    for (name, value) in [("low", 10), ("mid", 100), ("high", 1000)] {
        let pc = serde_json::from_value(json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value})).unwrap();
        scheduling.create(&Default::default(), &pc).await.unwrap();
    }
    env.start_scheduler(None);
    // n1: low + mid; n2: mid + mid. Each 1 CPU.
    for (name, class) in [
        ("low-1", "low"),
        ("mid-1", "mid"),
        ("mid-2", "mid"),
        ("mid-3", "mid"),
    ] {
        let mut spec = requests("1", "");
        spec["priorityClassName"] = json!(class);
        env.pod(json!({"metadata": {"name": name}, "spec": spec}))
            .await;
        env.bound(name).await;
    }
    let low_node = env.get_pod("low-1").await.spec.unwrap().node_name.unwrap();
    let mut spec = requests("1", "");
    spec["priorityClassName"] = json!("high");
    env.pod(json!({"metadata": {"name": "urgent"}, "spec": spec}))
        .await;
    // The low-priority pod is the victim: deleted gracefully (no kubelet here to finish the
    // deletion, so it is Terminating), and the urgent pod is nominated to its node.
    let pods = env.pods();
    let victim = common::eventually("low-1 terminating", || async {
        pods.get("low-1")
            .await
            .ok()
            .filter(|p| p.metadata.deletion_timestamp.is_some())
    })
    .await;
    let target = victim
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "DisruptionTarget")
        .expect("DisruptionTarget");
    assert_eq!(
        (target.status.as_str(), target.reason.as_deref()),
        ("True", Some("PreemptionByScheduler"))
    );
    assert_eq!(
        target.message.as_deref(),
        Some("default-scheduler: preempting to accommodate a higher priority pod")
    );
    let nominated = common::eventually("urgent nominated", || async {
        pods.get("urgent").await.ok()?.status?.nominated_node_name
    })
    .await;
    assert_eq!(nominated, low_node);
    // The kubelet would now finish the deletion; then the urgent pod is bound there.
    let _ = pods
        .delete(
            "low-1",
            &kube::api::DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(env.bound("urgent").await, low_node);
    for name in ["mid-1", "mid-2", "mid-3"] {
        assert!(pods.get_opt(name).await.unwrap().is_some(), "{name} kept");
    }
    let e = env
        .explanation("urgent", |e| e["result"] == "Scheduled")
        .await;
    assert_eq!(e["selectedNode"], low_node.as_str());
    let uid = env.get_pod("urgent").await.metadata.uid.unwrap();
    let preempted = env.events("low-1", "Preempted").await;
    assert_eq!(
        preempted[0].message.as_deref(),
        Some(format!("Preempted by pod {uid} on node {low_node}").as_str())
    );
    assert_eq!(
        preempted[0]
            .related
            .as_ref()
            .and_then(|r| r.name.as_deref()),
        Some("urgent")
    );
}

/// A failed attempt's writes to its pod (the `PodScheduled: False` condition, the
/// explanation) are made after the scheduling cycle; when a later attempt has bound the
/// pod by then, they are not made, and the pod keeps what its binding wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempts_late_writes_do_not_undo_the_binding() {
    const DELAY: Duration = Duration::from_secs(2);
    let mut env = common::api_server_delaying_scheduler_patches("late", DELAY).await;
    env.node("small", "500m", "4Gi", json!({})).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "late"}, "spec": requests("1", "")}))
        .await;
    // The attempt fails (its writes now held), then a node that fits comes.
    env.events("late", "FailedScheduling").await;
    env.node("big", "2", "4Gi", json!({})).await;
    assert_eq!(env.bound("late").await, "big");
    tokio::time::sleep(DELAY + Duration::from_millis(500)).await;

    let pod = env.get_pod("late").await;
    let scheduled = pod
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .expect("PodScheduled");
    assert_eq!(scheduled.status, "True", "{scheduled:?}");
    let explanation: serde_json::Value = serde_json::from_str(
        &pod.metadata.annotations.unwrap_or_default()[kubesim_scheduler::explain::ANNOTATION],
    )
    .unwrap();
    assert_eq!(explanation["result"], "Scheduled", "{explanation}");
    assert_eq!(explanation["selectedNode"], "big");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_never_double_bind() {
    let mut env = api_server().await;
    for i in 0..4 {
        env.node(&format!("n{i}"), "64", "64Gi", json!({})).await;
    }
    let a = env.scheduler(kubesim_scheduler::Config::new(&env.url));
    let b = env.scheduler(kubesim_scheduler::Config::new(&env.url));
    let n = 60;
    for i in 0..n {
        env.pod(json!({"metadata": {"name": format!("p{i}")}}))
            .await;
    }
    for i in 0..n {
        env.bound(&format!("p{i}")).await;
    }
    // Each pod was bound once: the audit trail shows one successful binding per pod.
    let audit: serde_json::Value =
        reqwest_get(&format!("{}/kubesim/v1/audit?resource=pods", env.url)).await;
    let mut binds = std::collections::HashMap::new();
    for ev in audit["items"].as_array().unwrap() {
        if ev["objectRef"]["subresource"] == "binding"
            && ev["responseStatus"]["code"]
                .as_i64()
                .is_some_and(|c| c < 300)
        {
            *binds
                .entry(ev["objectRef"]["name"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    assert_eq!(binds.len(), n);
    assert!(binds.values().all(|&c| c == 1), "{binds:?}");
    // The loser of each race lets the pod go: nothing stays queued on either side.
    eventually("both queues empty", || async {
        (pending(&a) + pending(&b) == 0).then_some(())
    })
    .await;
}

async fn reqwest_get(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let body = &out[out.find("\r\n\r\n").unwrap() + 4..];
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanation_can_be_turned_off_and_metrics_are_served() {
    let env = api_server().await;
    env.node("n", "4", "8Gi", json!({})).await;
    let mut config = kubesim_scheduler::Config::new(&env.url);
    config.explain = false;
    let scheduler = kubesim_scheduler::build(&config).unwrap();
    let addr = kubesim_scheduler::serve_metrics(scheduler.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let task = tokio::spawn(scheduler.run());
    env.pod(json!({"metadata": {"name": "quiet"}})).await;
    env.bound("quiet").await;
    let pod = env.get_pod("quiet").await;
    assert!(
        pod.metadata
            .annotations
            .unwrap_or_default()
            .get(kubesim_scheduler::explain::ANNOTATION)
            .is_none()
    );
    let text = common::eventually("metrics", || async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        out.contains("result=\"scheduled\"} 1").then_some(out)
    })
    .await;
    assert!(
        text.contains("scheduler_pod_scheduling_sli_duration_seconds_count 1"),
        "{text}"
    );
    assert!(
        text.contains("scheduler_pending_pods{queue=\"active\"} 0"),
        "{text}"
    );
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_file_changes_the_scoring_strategy() {
    let mut env = api_server().await;
    env.node("a", "4", "8Gi", json!({})).await;
    env.node("b", "4", "8Gi", json!({})).await;
    env.pod(json!({"metadata": {"name": "busy"}, "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}]}})).await;
    env.start_scheduler(Some(
        r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    score:
      disabled: [{name: NodeResourcesBalancedAllocation}]
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"#,
    ));
    env.pod(json!({"metadata": {"name": "p"}, "spec": requests("1", "2Gi")}))
        .await;
    assert_eq!(env.bound("p").await, "a", "MostAllocated bin-packs");
    let e = env.explanation("p", |_| true).await;
    assert!(
        e["scores"][0]["plugins"]
            .get("NodeResourcesBalancedAllocation")
            .is_none()
    );
    // A pod for another scheduler is left alone.
    env.pod(json!({"metadata": {"name": "other"}, "spec": {"schedulerName": "my-scheduler"}}))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(env.get_pod("other").await.spec.unwrap().node_name.is_none());
}

/// A Bind plugin for tests: runs `before` (e.g. another scheduler winning the race), then
/// binds as DefaultBinder does — or refuses every bind.
struct TestBinder {
    name: &'static str,
    inner: DefaultBinder,
    client: kube::Client,
    refuse: bool,
}

impl Plugin for TestBinder {
    fn name(&self) -> &'static str {
        self.name
    }
    fn as_bind(self: Arc<Self>) -> Option<Arc<dyn Bind>> {
        Some(self)
    }
}

impl Bind for TestBinder {
    fn bind(&self, req: BindRequest) -> BoxFuture<'static, Status> {
        if self.refuse {
            return Box::pin(async { Status::error("binding refused") });
        }
        // Another scheduler binds the pod to the other node first, and the watch has time
        // to show it before this bind gets its 409 (a second, ample on a loaded machine).
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(self.client.clone(), &req.namespace);
        let other = if req.node == "n1" { "n2" } else { "n1" };
        let theirs = BindRequest {
            node: other.to_string(),
            annotations: Default::default(),
            ..req.clone()
        };
        let body = kubesim_scheduler::plugins::default_binder::binding(&theirs);
        let ours = self.inner.bind(req);
        Box::pin(async move {
            let _ = pods
                .create_subresource::<_, serde_json::Value>(
                    "binding",
                    &theirs.name,
                    &Default::default(),
                    &body,
                )
                .await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            ours.await
        })
    }
}

fn test_binder(env: &common::Env, name: &'static str, refuse: bool) -> kubesim_scheduler::Config {
    let client = env.client.clone();
    let factory: Factory = Arc::new(move |_, _| {
        Ok(Arc::new(TestBinder {
            name,
            inner: DefaultBinder::new(Some(client.clone())),
            client: client.clone(),
            refuse,
        }) as Arc<dyn Plugin>)
    });
    let mut config = kubesim_scheduler::Config::new(&env.url);
    config.out_of_tree = OutOfTree([(name.to_string(), factory)].into());
    config.file = Some(
        kubesim_scheduler::config::parse(&format!("profiles: [{{plugins: {{bind: {{disabled: [{{name: DefaultBinder}}], enabled: [{{name: {name}}}]}}}}}}]"))
            .unwrap(),
    );
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_that_loses_the_bind_race_stops_retrying_the_pod() {
    let mut env = api_server().await;
    env.node("n1", "4", "8Gi", json!({})).await;
    env.node("n2", "4", "8Gi", json!({})).await;
    let s = env.scheduler(test_binder(&env, "RacingBinder", false));
    env.pod(json!({"metadata": {"name": "p"}})).await;
    let failed = env.events("p", "FailedScheduling").await;
    let message = failed[0].message.clone().unwrap_or_default();
    assert!(
        message.starts_with("running Bind plugin \"RacingBinder\": "),
        "{message}"
    );
    assert!(message.contains("is already assigned to node"), "{message}");
    eventually("the loser's queue empty", || async {
        (pending(&s) == 0).then_some(())
    })
    .await;
    // Past the first backoff (1 s) a retry would have failed again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(s.metrics.error_count(), 1, "one failed bind, no retries");
    assert_eq!(pending(&s), 0);
    let pod = env.get_pod("p").await;
    let cond = pod
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(
        cond.status, "True",
        "the winner's binding stands; the loser does not mark it failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_bind_marks_the_pod_with_a_scheduler_error() {
    let mut env = api_server().await;
    env.node("n1", "4", "8Gi", json!({})).await;
    let s = env.scheduler(test_binder(&env, "StubbornBinder", true));
    env.pod(json!({"metadata": {"name": "p"}})).await;
    let pods = env.pods();
    let cond = eventually("SchedulerError condition", || async {
        let p = pods.get("p").await.ok()?;
        p.status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulerError"))
    })
    .await;
    assert_eq!(cond.status, "False");
    assert_eq!(
        cond.message.as_deref(),
        Some("running Bind plugin \"StubbornBinder\": binding refused")
    );
    let events = env.events("p", "FailedScheduling").await;
    assert_eq!(events[0].message, cond.message);
    assert!(s.metrics.error_count() >= 1);
    assert_eq!(env.get_pod("p").await.spec.unwrap().node_name, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_affinity_pod_runs_as_soon_as_its_peer_is_scheduled() {
    let mut env = api_server().await;
    for n in ["n1", "n2", "n3"] {
        env.node(n, "4", "8Gi", json!({})).await;
    }
    env.start_scheduler(None);
    let affinity = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "db"}}}]}});
    env.pod(json!({"metadata": {"name": "web"}, "spec": {"affinity": affinity}}))
        .await;
    let m = env.unschedulable("web").await;
    assert!(
        m.starts_with("0/3 nodes are available: 3 node(s) didn't match pod affinity rules."),
        "{m}"
    );
    // The db pod is scheduled: that assigned pod matching the affinity retries web at
    // once (queueing hint), not after the 5-minute flush.
    env.pod(json!({"metadata": {"name": "db", "labels": {"app": "db"}}}))
        .await;
    let db_node = env.bound("db").await;
    assert_eq!(env.bound("web").await, db_node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_pod_affinity_draws_the_pod_to_its_peer() {
    let mut env = api_server().await;
    for n in ["n1", "n2", "n3"] {
        env.node(n, "4", "8Gi", json!({})).await;
    }
    env.pod(json!({"metadata": {"name": "cache", "labels": {"app": "cache"}}, "spec": {"nodeName": "n2"}})).await;
    env.start_scheduler(None);
    let affinity = json!({"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100,
        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "cache"}}}}]}});
    env.pod(json!({"metadata": {"name": "web"}, "spec": {"affinity": affinity}}))
        .await;
    assert_eq!(env.bound("web").await, "n2");
    let e = env.explanation("web", |_| true).await;
    assert_eq!(
        e["scores"][0]["plugins"]["InterPodAffinity"]["normalized"],
        100
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduling_gates_hold_a_pod_until_the_last_is_removed() {
    let mut env = api_server().await;
    env.node("n1", "4", "8Gi", json!({})).await;
    let s = env.scheduler(kubesim_scheduler::Config::new(&env.url));
    env.pod(json!({"metadata": {"name": "gated"}, "spec": {"schedulingGates": [{"name": "example.com/a"}, {"name": "example.com/b"}]}})).await;
    eventually("gated counted", || async {
        s.metrics_text()
            .contains("scheduler_pending_pods{queue=\"gated\"} 1")
            .then_some(())
    })
    .await;
    let pods = env.pods();
    let cond = env
        .get_pod("gated")
        .await
        .status
        .unwrap()
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "PodScheduled")
        .unwrap();
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_deref()),
        ("False", Some("SchedulingGated"))
    );
    assert_eq!(
        cond.message.as_deref(),
        Some("Scheduling is blocked due to non-empty scheduling gates")
    );
    let patch = |gates: serde_json::Value| {
        kube::api::Patch::Merge(json!({"spec": {"schedulingGates": gates}}))
    };
    pods.patch(
        "gated",
        &Default::default(),
        &patch(json!([{"name": "example.com/b"}])),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        env.get_pod("gated").await.spec.unwrap().node_name,
        None,
        "one gate left"
    );
    pods.patch("gated", &Default::default(), &patch(json!(null)))
        .await
        .unwrap();
    assert_eq!(env.bound("gated").await, "n1");
    assert!(
        s.metrics_text()
            .contains("scheduler_pending_pods{queue=\"gated\"} 0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_make_one_event_with_a_count() {
    let mut env = api_server().await;
    env.node("n1", "4", "8Gi", json!({})).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "p"}, "spec": {"nodeSelector": {"disk": "nvme"}}}))
        .await;
    env.unschedulable("p").await;
    // Each label change of the pod retries it, with the same result.
    let pods = env.pods();
    for i in 1..=2 {
        eventually("the attempt's event", || async {
            let e = env.events("p", "FailedScheduling").await;
            (e.iter().map(|e| e.count.unwrap_or(1)).sum::<i32>() >= i).then_some(())
        })
        .await;
        pods.patch(
            "p",
            &Default::default(),
            &kube::api::Patch::Merge(json!({"metadata": {"labels": {"try": i.to_string()}}})),
        )
        .await
        .unwrap();
    }
    let events = eventually("three attempts in one event", || async {
        let e = env.events("p", "FailedScheduling").await;
        (e.len() == 1 && e[0].count == Some(3)).then_some(e)
    })
    .await;
    assert!(
        events[0].last_timestamp.as_ref().unwrap().0
            >= events[0].first_timestamp.as_ref().unwrap().0
    );
}
