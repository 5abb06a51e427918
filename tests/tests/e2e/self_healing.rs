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
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime
        .block_on(kubesim::run(cli, std::future::pending()))
        .expect("kubesim node");
}

fn ready(cluster: &Cluster, node: &str) -> String {
    cluster.kubectl_ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ])
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
        .filter(|p| {
            p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
        })
        .map(|p: &Value| {
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_stopped_node_goes_unknown_its_pods_move_and_it_recovers() {
    let cluster = Cluster::up(&[
        "--nodes",
        "2",
        "--node-lease-duration-seconds",
        "2",
        "--node-monitor-grace-period",
        "3s",
    ]);
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.status.success(), "{}", describe(&out));
    cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    // Spreading puts pods on both nodes; stop the one with the most.
    let before = running(&cluster);
    let on = |node: &str| before.iter().filter(|(_, n)| n == node).count();
    let (stopped, other) = if on("kubesim-node-0") >= on("kubesim-node-1") {
        ("kubesim-node-0", "kubesim-node-1")
    } else {
        ("kubesim-node-1", "kubesim-node-0")
    };
    assert!(on(stopped) > 0, "{before:?}");

    kubesim_node(&cluster, &["stop", stopped]);
    eventually(WAIT, "the stopped node Ready=Unknown", || {
        (ready(&cluster, stopped) == "Unknown").then_some(())
    });
    eventually(WAIT, "the unreachable taint", || {
        taints(&cluster, stopped)
            .contains("node.kubernetes.io/unreachable")
            .then_some(())
    });
    assert_eq!(
        ready(&cluster, other),
        "True",
        "the other node keeps heartbeating"
    );

    // Evicted after their 1 s toleration, replaced by the ReplicaSet, scheduled on the other node.
    eventually(WAIT, "4 running pods, all on the other node", || {
        let now = running(&cluster);
        (now.len() == 4 && now.iter().all(|(_, node)| node == other)).then_some(())
    });
    let events = cluster.kubectl_ok(&["get", "events", "-A"]);
    assert!(events.contains("TaintManagerEviction"), "{events}");

    kubesim_node(&cluster, &["start", stopped]);
    eventually(WAIT, "the node Ready again", || {
        (ready(&cluster, stopped) == "True").then_some(())
    });
    eventually(WAIT, "the taints gone", || {
        (!taints(&cluster, stopped).contains("node.kubernetes.io/unreachable")).then_some(())
    });
}

const SERVED: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  replicas: 4
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports: [{name: http, containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: api
spec:
  selector: {app: api}
  ports: [{port: 80, targetPort: http}]
"#;

/// The `ready` condition of each EndpointSlice endpoint of Service `api`, by pod name.
fn slice_readiness(cluster: &Cluster) -> Vec<(String, String, bool)> {
    let slices = cluster.kubectl_json(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=api",
    ]);
    let mut out: Vec<(String, String, bool)> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            let pod = e["targetRef"]["name"].as_str().unwrap_or("").to_string();
            (
                pod,
                e["nodeName"].as_str().unwrap_or("").to_string(),
                e["conditions"]["ready"].as_bool() == Some(true),
            )
        })
        .collect();
    out.sort();
    out
}

/// (name, node, Ready) of the api pods.
fn pod_readiness(cluster: &Cluster) -> Vec<(String, String, bool)> {
    let pods = cluster.kubectl_json(&["get", "pods", "-l", "app=api"]);
    let mut out: Vec<(String, String, bool)> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let ready = p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True");
            (
                p["metadata"]["name"].as_str().unwrap_or("").to_string(),
                p["spec"]["nodeName"].as_str().unwrap_or("").to_string(),
                ready,
            )
        })
        .collect();
    out.sort();
    out
}

/// While a node is silent its pods are not ready — the node controller marks them, as no
/// kubelet is there to — and the Service's EndpointSlice says so, so traffic stops going
/// to them long before they are evicted (here the API server's default 300 s).
#[test]
fn a_silent_nodes_pods_leave_the_ready_endpoints() {
    let cluster = Cluster::up(&[
        "--nodes",
        "2",
        "--node-lease-duration-seconds",
        "2",
        "--node-monitor-grace-period",
        "3s",
    ]);
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(SERVED));
    assert!(out.status.success(), "{}", describe(&out));
    cluster.kubectl_ok(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    let before = pod_readiness(&cluster);
    let on = |node: &str| before.iter().filter(|(_, n, _)| n == node).count();
    let (stopped, other) = if on("kubesim-node-0") >= on("kubesim-node-1") {
        ("kubesim-node-0", "kubesim-node-1")
    } else {
        ("kubesim-node-1", "kubesim-node-0")
    };
    eventually(WAIT, "4 ready endpoints", || {
        (slice_readiness(&cluster).iter().filter(|e| e.2).count() == 4).then_some(())
    });

    kubesim_node(&cluster, &["stop", stopped]);
    eventually(WAIT, "the stopped node Ready=Unknown", || {
        (ready(&cluster, stopped) == "Unknown").then_some(())
    });
    // The pods there are marked not ready, and the slice follows; the others stay ready.
    let settled = |cluster: &Cluster| {
        let pods = pod_readiness(cluster);
        let slice = slice_readiness(cluster);
        let pods_ok = pods.len() == 4
            && pods
                .iter()
                .all(|(_, node, ready)| *ready == (node == other));
        let slice_ok = slice.len() == 4
            && slice
                .iter()
                .all(|(_, node, ready)| *ready == (node == other));
        pods_ok && slice_ok
    };
    eventually(
        WAIT,
        "pods on the silent node not ready, in pods and in the slice",
        || settled(&cluster).then_some(()),
    );
    // And they stay so: nothing on the silent node reports them ready again.
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            settled(&cluster),
            "readiness flapped: pods {:?}, slice {:?}",
            pod_readiness(&cluster),
            slice_readiness(&cluster)
        );
    }
    let events = cluster.kubectl_ok(&["get", "events", "--field-selector", "reason=NodeNotReady"]);
    assert!(events.contains("Node is not ready"), "{events}");

    kubesim_node(&cluster, &["start", stopped]);
    eventually(WAIT, "the node Ready again", || {
        (ready(&cluster, stopped) == "True").then_some(())
    });
    eventually(WAIT, "all 4 ready again", || {
        (slice_readiness(&cluster).iter().filter(|e| e.2).count() == 4).then_some(())
    });
}
