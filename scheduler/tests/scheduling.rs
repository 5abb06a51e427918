//! The scheduler against a live in-process API server, with Node objects the tests create
//! (no kubelet): each case a user relies on.

mod common;

use common::{api_server, requests};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_pick_the_node_that_fits_with_explanation_and_event() {
    let mut env = api_server().await;
    env.node("small", "1", "2Gi", json!({})).await;
    env.node("big", "4", "8Gi", json!({})).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "web-1"}, "spec": requests("2", "1Gi")})).await;
    assert_eq!(env.bound("web-1").await, "big");

    // The explanation came in the same write as the bind.
    let pod = env.get_pod("web-1").await;
    let text = pod.metadata.annotations.as_ref().and_then(|a| a.get(kubesim_scheduler::explain::ANNOTATION)).expect("explanation").clone();
    let e: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(e["result"], "Scheduled");
    assert_eq!(e["selectedNode"], "big");
    assert_eq!(e["nodes"], 2);
    assert_eq!(e["feasibleNodes"], 1);
    assert_eq!(e["filtered"], json!([{"node": "small", "plugin": "NodeResourcesFit", "reasons": ["Insufficient cpu"]}]));
    let cond = pod.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!(cond.status, "True");

    let events = env.events("web-1", "Scheduled").await;
    assert_eq!(events[0].message.as_deref(), Some("Successfully assigned default/web-1 to big"));
    assert_eq!(events[0].reporting_component.as_deref(), Some("default-scheduler"));
    assert_eq!(events[0].type_.as_deref(), Some("Normal"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scores_are_explained_per_plugin() {
    let mut env = api_server().await;
    env.node("a", "4", "8Gi", json!({})).await;
    env.node("b", "4", "8Gi", json!({})).await;
    env.pod(json!({"metadata": {"name": "busy"}, "spec": {"nodeName": "a", "containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}]}})).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "p"}, "spec": requests("1", "2Gi")})).await;
    assert_eq!(env.bound("p").await, "b", "LeastAllocated prefers the emptier node");
    let e = env.explanation("p", |_| true).await;
    let best = &e["scores"][0];
    assert_eq!(best["node"], "b");
    // b: cpu (4000-1000)*100/4000 = 75, memory 75 → 75; a: 25.
    assert_eq!(best["plugins"]["NodeResourcesFit"], json!({"raw": 75, "normalized": 75, "weight": 1, "weighted": 75}));
    assert_eq!(e["scores"][1]["plugins"]["NodeResourcesFit"]["raw"], 25);
    assert_eq!(best["plugins"]["TaintToleration"]["weight"], 3);
    let total: i64 = best["plugins"].as_object().unwrap().values().map(|p| p["weighted"].as_i64().unwrap()).sum();
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
    env.pod(json!({"metadata": {"name": "web-1"}, "spec": requests("2", "")})).await;
    let message = env.unschedulable("web-1").await;
    assert_eq!(
        message,
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. \
         preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    );
    let events = env.events("web-1", "FailedScheduling").await;
    assert_eq!(events[0].message.as_deref(), Some(message.as_str()));
    assert_eq!(events[0].type_.as_deref(), Some("Warning"));
    let e = env.explanation("web-1", |e| e["result"] == "Unschedulable").await;
    assert_eq!(e["message"], message);
    assert_eq!(e["filtered"].as_array().unwrap().len(), 3);
    assert_eq!(e["filtered"][0], json!({"node": "cp-1", "plugin": "TaintToleration", "reasons": ["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]}));

    // A fitting node arrives: the pending pod is scheduled right away.
    env.node("roomy", "4", "8Gi", json!({})).await;
    assert_eq!(env.bound("web-1").await, "roomy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_selector_and_node_affinity() {
    let mut env = api_server().await;
    env.node("a", "4", "8Gi", json!({"metadata": {"labels": {"disk": "ssd", "zone": "z1"}}})).await;
    env.node("b", "4", "8Gi", json!({"metadata": {"labels": {"disk": "hdd", "zone": "z2"}}})).await;
    env.node("c", "4", "8Gi", json!({"metadata": {"labels": {"disk": "hdd", "zone": "z3"}}})).await;
    env.start_scheduler(None);
    env.pod(json!({"metadata": {"name": "sel"}, "spec": {"nodeSelector": {"disk": "ssd"}}})).await;
    env.pod(json!({"metadata": {"name": "req"}, "spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
        {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}]}}}}})).await;
    env.pod(json!({"metadata": {"name": "pref"}, "spec": {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution":
        [{"weight": 100, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z3"]}]}}]}}}})).await;
    env.pod(json!({"metadata": {"name": "none"}, "spec": {"nodeSelector": {"disk": "nvme"}}})).await;
    assert_eq!(env.bound("sel").await, "a");
    assert_eq!(env.bound("req").await, "b");
    assert_eq!(env.bound("pref").await, "c");
    let message = env.unschedulable("none").await;
    assert!(message.starts_with("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taints_and_tolerations() {
    let mut env = api_server().await;
    env.node("gpu", "4", "8Gi", json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}})).await;
    env.node("soft", "4", "8Gi", json!({"spec": {"taints": [{"key": "spot", "value": "true", "effect": "PreferNoSchedule"}]}})).await;
    env.node("plain", "4", "8Gi", json!({})).await;
    env.start_scheduler(None);
    // Only the gpu node would be allowed: a selector plus a toleration.
    env.pod(json!({"metadata": {"name": "tolerates"}, "spec": {"nodeSelector": {"kubernetes.io/hostname": "gpu"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}})).await;
    env.pod(json!({"metadata": {"name": "intolerant"}, "spec": {"nodeSelector": {"kubernetes.io/hostname": "gpu"}}})).await;
    assert_eq!(env.bound("tolerates").await, "gpu");
    let m = env.unschedulable("intolerant").await;
    assert!(m.contains("1 node(s) had untolerated taint {dedicated: gpu}"), "{m}");
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
    assert!(m.starts_with("0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."), "{m}");
    assert!(m.ends_with("preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_spread_across_zones() {
    let mut env = api_server().await;
    for (n, z) in [("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b"), ("c1", "c")] {
        env.node(n, "8", "16Gi", json!({"metadata": {"labels": {"topology.kubernetes.io/zone": z}}})).await;
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
    let scheduling: kube::Api<k8s_openapi::api::scheduling::v1::PriorityClass> = kube::Api::all(env.client.clone());
    for (name, value) in [("low", 10), ("mid", 100), ("high", 1000)] {
        let pc = serde_json::from_value(json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value})).unwrap();
        scheduling.create(&Default::default(), &pc).await.unwrap();
    }
    env.start_scheduler(None);
    // n1: low + mid; n2: mid + mid. Each 1 CPU.
    for (name, class) in [("low-1", "low"), ("mid-1", "mid"), ("mid-2", "mid"), ("mid-3", "mid")] {
        let mut spec = requests("1", "");
        spec["priorityClassName"] = json!(class);
        env.pod(json!({"metadata": {"name": name}, "spec": spec})).await;
        env.bound(name).await;
    }
    let low_node = env.get_pod("low-1").await.spec.unwrap().node_name.unwrap();
    let mut spec = requests("1", "");
    spec["priorityClassName"] = json!("high");
    env.pod(json!({"metadata": {"name": "urgent"}, "spec": spec})).await;
    // The low-priority pod is the victim: deleted gracefully (no kubelet here to finish the
    // deletion, so it is Terminating), and the urgent pod is nominated to its node.
    let pods = env.pods();
    common::eventually("low-1 terminating", || async { pods.get_opt("low-1").await.ok().map(|p| p.map_or(true, |p| p.metadata.deletion_timestamp.is_some())).filter(|t| *t) }).await;
    let nominated = common::eventually("urgent nominated", || async {
        pods.get("urgent").await.ok()?.status?.nominated_node_name
    })
    .await;
    assert_eq!(nominated, low_node);
    // The kubelet would now finish the deletion; then the urgent pod is bound there.
    let _ = pods.delete("low-1", &kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
    assert_eq!(env.bound("urgent").await, low_node);
    for name in ["mid-1", "mid-2", "mid-3"] {
        assert!(pods.get_opt(name).await.unwrap().is_some(), "{name} kept");
    }
    let e = env.explanation("urgent", |e| e["result"] == "Scheduled").await;
    assert_eq!(e["selectedNode"], low_node.as_str());
    env.events("low-1", "Preempted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_schedulers_never_double_bind() {
    let mut env = api_server().await;
    for i in 0..4 {
        env.node(&format!("n{i}"), "64", "64Gi", json!({})).await;
    }
    env.start_scheduler(None);
    env.start_scheduler(None);
    let n = 60;
    for i in 0..n {
        env.pod(json!({"metadata": {"name": format!("p{i}")}})).await;
    }
    for i in 0..n {
        env.bound(&format!("p{i}")).await;
    }
    // Each pod was bound once: the audit trail shows one successful binding per pod.
    let audit: serde_json::Value = reqwest_get(&format!("{}/kubesim/v1/audit?resource=pods", env.url)).await;
    let mut binds = std::collections::HashMap::new();
    for ev in audit["items"].as_array().unwrap() {
        if ev["objectRef"]["subresource"] == "binding" && ev["responseStatus"]["code"].as_i64().is_some_and(|c| c < 300) {
            *binds.entry(ev["objectRef"]["name"].as_str().unwrap().to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(binds.len(), n);
    assert!(binds.values().all(|&c| c == 1), "{binds:?}");
}

async fn reqwest_get(url: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes()).await.unwrap();
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
    let addr = kubesim_scheduler::serve_metrics(scheduler.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
    let task = tokio::spawn(scheduler.run());
    env.pod(json!({"metadata": {"name": "quiet"}})).await;
    env.bound("quiet").await;
    let pod = env.get_pod("quiet").await;
    assert!(pod.metadata.annotations.unwrap_or_default().get(kubesim_scheduler::explain::ANNOTATION).is_none());
    let text = common::eventually("metrics", || async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).await.ok()?;
        out.contains("result=\"scheduled\"} 1").then_some(out)
    })
    .await;
    assert!(text.contains("scheduler_pod_scheduling_sli_duration_seconds_count 1"), "{text}");
    assert!(text.contains("scheduler_pending_pods{queue=\"active\"} 0"), "{text}");
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
    env.pod(json!({"metadata": {"name": "p"}, "spec": requests("1", "2Gi")})).await;
    assert_eq!(env.bound("p").await, "a", "MostAllocated bin-packs");
    let e = env.explanation("p", |_| true).await;
    assert!(e["scores"][0]["plugins"].get("NodeResourcesBalancedAllocation").is_none());
    // A pod for another scheduler is left alone.
    env.pod(json!({"metadata": {"name": "other"}, "spec": {"schedulerName": "my-scheduler"}})).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(env.get_pod("other").await.spec.unwrap().node_name.is_none());
}
