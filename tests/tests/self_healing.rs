//! Self-healing on a whole `kubesim up`, driven as an educator demos it: a simulated node
//! stops heartbeating (`kubesim node stop`), the node lifecycle controller marks it
//! `Ready=Unknown` and taints it unreachable, its pods are evicted once their toleration
//! runs out and replaced on the other node; heartbeats resume and the node is Ready again.

use std::time::Duration;

use kubesim_e2e::{Cluster, describe, eventually};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

// Tolerations shortened from the 300 s default the API server adds, so the demo is quick.
const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 1}
"#;

fn kubesim_node(cluster: &Cluster, args: &[&str]) {
    let mut all = vec!["kubesim", "node", "--server", cluster.url.as_str()];
    all.extend(args);
    let cli = <kubesim::Cli as clap::Parser>::try_parse_from(&all).expect("node arguments");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(kubesim::run(cli, std::future::pending())).expect("kubesim node");
}

fn ready(cluster: &Cluster, node: &str) -> String {
    cluster.kubectl_ok(&["get", "node", node, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"])
}

fn taints(cluster: &Cluster, node: &str) -> String {
    cluster.kubectl_ok(&["get", "node", node, "-o", "jsonpath={.spec.taints[*].key}"])
}

/// (name, node) of the web pods that are Running and not being deleted.
fn running(cluster: &Cluster) -> Vec<(String, String)> {
    let pods = cluster.kubectl_json(&["get", "pods", "-l", "app=web"]);
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null())
        .map(|p: &Value| (p["metadata"]["name"].as_str().unwrap_or("").to_string(), p["spec"]["nodeName"].as_str().unwrap_or("").to_string()))
        .collect()
}

#[test]
fn a_stopped_node_goes_unknown_its_pods_move_and_it_recovers() {
    let cluster = Cluster::up(&["--nodes", "2", "--node-lease-duration-seconds", "2", "--node-monitor-grace-period", "3s"]);
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.status.success(), "{}", describe(&out));
    cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    // Spreading puts pods on both nodes; stop the one with the most.
    let before = running(&cluster);
    let on = |node: &str| before.iter().filter(|(_, n)| n == node).count();
    let (stopped, other) = if on("kubesim-node-0") >= on("kubesim-node-1") { ("kubesim-node-0", "kubesim-node-1") } else { ("kubesim-node-1", "kubesim-node-0") };
    assert!(on(stopped) > 0, "{before:?}");

    kubesim_node(&cluster, &["stop", stopped]);
    eventually(WAIT, "the stopped node Ready=Unknown", || (ready(&cluster, stopped) == "Unknown").then_some(()));
    eventually(WAIT, "the unreachable taint", || taints(&cluster, stopped).contains("node.kubernetes.io/unreachable").then_some(()));
    assert_eq!(ready(&cluster, other), "True", "the other node keeps heartbeating");

    // Evicted after their 1 s toleration, replaced by the ReplicaSet, scheduled on the other node.
    eventually(WAIT, "4 running pods, all on the other node", || {
        let now = running(&cluster);
        (now.len() == 4 && now.iter().all(|(_, node)| node == other)).then_some(())
    });
    let events = cluster.kubectl_ok(&["get", "events", "-A"]);
    assert!(events.contains("TaintManagerEviction"), "{events}");

    kubesim_node(&cluster, &["start", stopped]);
    eventually(WAIT, "the node Ready again", || (ready(&cluster, stopped) == "True").then_some(()));
    eventually(WAIT, "the taints gone", || (!taints(&cluster, stopped).contains("node.kubernetes.io/unreachable")).then_some(()));
}
