//! Node lifecycle with the real kubectl: a node whose Lease is not renewed goes
//! `Ready=Unknown`, is tainted unreachable, its pods go not ready and those that tolerate
//! it only briefly are evicted; renewed heartbeats bring it back. `kubectl cordon`,
//! `uncordon` and `drain` (through pods/eviction, honouring a PodDisruptionBudget).
//! No simulated kubelets: the test creates the Node and Lease and plays the kubelet.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kubesim_e2e::{Cluster, describe, eventually};
use serde_json::{Value, json};

fn up() -> Cluster {
    Cluster::up(&[
        "--no-kubelet",
        "--no-scheduler",
        "--controllers",
        "*,-replicaset,-deployment",
        "--node-monitor-grace-period",
        "2s",
    ])
}

fn now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_micros()
    )
}

/// Post the node's status as a kubelet does: Ready with a fresh heartbeat.
fn post_ready(cluster: &Cluster, node: &str) {
    let t = now();
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
        "lastHeartbeatTime": t, "lastTransitionTime": t}]}});
    cluster.kubectl_ok(&[
        "patch",
        "node",
        node,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
}

fn renew(cluster: &Cluster, node: &str) {
    let patch = json!({"spec": {"renewTime": now()}});
    cluster.kubectl_ok(&[
        "patch",
        "lease",
        node,
        "-n",
        "kube-node-lease",
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
}

fn node(cluster: &Cluster, name: &str) {
    let out = cluster.kubectl_with_stdin(
        &["create", "-f", "-"],
        Some(&format!(
            "apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n"
        )),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let lease = format!(
        "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {{name: {name}, namespace: kube-node-lease}}\nspec: {{holderIdentity: {name}, leaseDurationSeconds: 40, renewTime: \"{}\"}}\n",
        now()
    );
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(&lease));
    assert!(out.status.success(), "{}", describe(&out));
    post_ready(cluster, name);
}

/// A Running, Ready pod on `node`; `extra` adds to the spec.
fn pod(cluster: &Cluster, name: &str, node: &str, labels: &str, extra: &str) {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nspec:\n  nodeName: {node}\n  containers: [{{name: c, image: nginx}}]\n{extra}"
    );
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(&yaml));
    assert!(out.status.success(), "{}", describe(&out));
    let patch = json!({"status": {"phase": "Running", "podIP": "10.244.0.9", "conditions": [{"type": "Ready", "status": "True"}]}});
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch.to_string(),
    ]);
}

fn ready_condition(cluster: &Cluster, node: &str) -> Value {
    let n = cluster.kubectl_json(&["get", "node", node]);
    n["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default()
}

fn taint_keys(cluster: &Cluster, node: &str) -> Vec<String> {
    let n = cluster.kubectl_json(&["get", "node", node]);
    n["spec"]["taints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}:{}",
                t["key"].as_str().unwrap_or(""),
                t["effect"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Renew `node`'s Lease every 300 ms while `on` is set, as a kubelet does: through one
/// client kept open (a kubectl process per renewal can take a second on a loaded machine,
/// and two of them would let the heartbeat age past the 2 s grace period).
fn heartbeat(cluster: &Cluster, node: &str, on: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let url = cluster.url.clone();
    let node = node.to_string();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let config = kube::Config::new(url.parse().expect("cluster URL"));
            let client = kube::Client::try_from(config).expect("kube client");
            let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
                kube::Api::namespaced(client, "kube-node-lease");
            while on.load(Ordering::SeqCst) {
                let patch = json!({"spec": {"renewTime": now()}});
                if let Err(e) = leases
                    .patch(
                        &node,
                        &kube::api::PatchParams::default(),
                        &kube::api::Patch::Merge(&patch),
                    )
                    .await
                {
                    eprintln!("renewing {node}'s lease: {e}");
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
    })
}

#[test]
fn a_node_that_stops_heartbeating_is_tainted_and_its_pods_evicted_then_recovers() {
    let cluster = up();
    node(&cluster, "node-a");
    let beating = Arc::new(AtomicBool::new(true));
    let beat = heartbeat(&cluster, "node-a", beating.clone());
    // A second node stays up throughout: with every node down the controller would evict
    // nothing (full disruption), as upstream's.
    node(&cluster, "node-z");
    let _other = heartbeat(&cluster, "node-z", Arc::new(AtomicBool::new(true)));
    // One pod tolerates unreachable for 1 s; the other gets the API server's 300 s.
    pod(
        &cluster,
        "brief",
        "node-a",
        "app: a",
        "  tolerations: [{key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 1}]\n",
    );
    pod(&cluster, "patient", "node-a", "app: a", "");
    let tolerations =
        cluster.kubectl_json(&["get", "pod", "patient"])["spec"]["tolerations"].clone();
    assert_eq!(
        tolerations,
        json!([
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
            {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
        ])
    );
    // Heartbeats keep it Ready past the grace period.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(ready_condition(&cluster, "node-a")["status"], "True");
    assert!(taint_keys(&cluster, "node-a").is_empty());

    beating.store(false, Ordering::SeqCst);
    let _ = beat.join();
    let ready = eventually(Duration::from_secs(10), "Ready=Unknown", || {
        let c = ready_condition(&cluster, "node-a");
        (c["status"] == "Unknown").then_some(c)
    });
    assert_eq!(ready["reason"], "NodeStatusUnknown");
    assert_eq!(ready["message"], "Kubelet stopped posting node status.");
    let table = cluster.kubectl_ok(&["get", "nodes"]);
    assert!(table.contains("NotReady"), "{table}");
    eventually(Duration::from_secs(10), "unreachable taints", || {
        let keys = taint_keys(&cluster, "node-a");
        (keys.contains(&"node.kubernetes.io/unreachable:NoExecute".to_string())
            && keys.contains(&"node.kubernetes.io/unreachable:NoSchedule".to_string()))
        .then_some(())
    });
    // The brief pod is evicted (marked for deletion); the patient one is only not ready.
    eventually(Duration::from_secs(10), "brief evicted", || {
        let p = cluster.kubectl(&["get", "pod", "brief", "-o", "json"]);
        let gone = !p.status.success()
            || serde_json::from_slice::<Value>(&p.stdout)
                .map(|v| v["metadata"]["deletionTimestamp"].is_string())
                .unwrap_or(false);
        gone.then_some(())
    });
    let patient = cluster.kubectl_json(&["get", "pod", "patient"]);
    assert!(patient["metadata"]["deletionTimestamp"].is_null());
    let pod_ready = patient["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(pod_ready["status"], "False", "{patient}");
    let events = cluster.kubectl_ok(&["get", "events", "-A"]);
    assert!(events.contains("NodeNotReady"), "{events}");
    assert!(events.contains("TaintManagerEviction"), "{events}");

    // The kubelet comes back: Ready, and the taints go.
    renew(&cluster, "node-a");
    post_ready(&cluster, "node-a");
    let beating = Arc::new(AtomicBool::new(true));
    let beat = heartbeat(&cluster, "node-a", beating.clone());
    eventually(Duration::from_secs(10), "taints removed", || {
        taint_keys(&cluster, "node-a").is_empty().then_some(())
    });
    assert_eq!(ready_condition(&cluster, "node-a")["status"], "True");
    beating.store(false, Ordering::SeqCst);
    let _ = beat.join();
}

#[test]
fn cordon_uncordon_and_drain_with_a_disruption_budget() {
    let cluster = Cluster::up(&[
        "--no-kubelet",
        "--no-scheduler",
        "--controllers",
        "*,-replicaset,-deployment",
    ]);
    node(&cluster, "node-b");
    cluster.kubectl_ok(&["cordon", "node-b"]);
    let n = cluster.kubectl_json(&["get", "node", "node-b"]);
    assert_eq!(n["spec"]["unschedulable"], true);
    eventually(Duration::from_secs(10), "unschedulable taint", || {
        taint_keys(&cluster, "node-b")
            .contains(&"node.kubernetes.io/unschedulable:NoSchedule".to_string())
            .then_some(())
    });
    let table = cluster.kubectl_ok(&["get", "nodes"]);
    assert!(table.contains("SchedulingDisabled"), "{table}");
    cluster.kubectl_ok(&["uncordon", "node-b"]);
    eventually(Duration::from_secs(10), "taint removed", || {
        taint_keys(&cluster, "node-b").is_empty().then_some(())
    });

    // Two db pods, a budget that keeps one: drain evicts one, then waits for the budget.
    pod(&cluster, "db-0", "node-b", "app: db", "");
    pod(&cluster, "db-1", "node-b", "app: db", "");
    let pdb = "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: db}\nspec: {minAvailable: 1, selector: {matchLabels: {app: db}}}\n";
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(pdb));
    assert!(out.status.success(), "{}", describe(&out));
    eventually(Duration::from_secs(10), "budget status", || {
        (cluster.kubectl_json(&["get", "pdb", "db"])["status"]["disruptionsAllowed"] == 1)
            .then_some(())
    });
    // The pods have no controller, hence --force.
    let out = cluster.kubectl(&[
        "drain",
        "node-b",
        "--force",
        "--timeout=4s",
        "--grace-period=0",
    ]);
    let text = describe(&out);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "{text}"
    );
    assert!(text.contains("evicting pod default/db-"), "{text}");
    let left: Vec<Value> = cluster.kubectl_json(&["get", "pods", "-l", "app=db"])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let live = left
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .count();
    assert_eq!(live, 1, "{left:?}");
    assert_eq!(
        cluster.kubectl_json(&["get", "node", "node-b"])["spec"]["unschedulable"],
        true
    );
}
