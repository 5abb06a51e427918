//! The node lifecycle controller against a live in-process API server, with nodes and
//! Leases written by the test in place of kubelets: a node that stops heartbeating goes
//! `Unknown`, is tainted, its pods are marked not ready and evicted (with the
//! `DisruptionTarget` condition) or, when the taint goes first, their eviction cancelled;
//! pressure conditions taint `NoSchedule`; and with every node down nothing is evicted.

#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::{eventually, server};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// The grace period: ten times the keep-alive beat, so that a stall of a loaded machine
/// does not make a live node look silent.
const GRACE: Duration = Duration::from_secs(2);

async fn start(client: &Client) {
    let config = kubesim_controllers::node_lifecycle::Config {
        grace_period: GRACE,
        evict: true,
    };
    tokio::spawn(kubesim_controllers::node_lifecycle::run(
        client.clone(),
        config,
    ));
}

/// A Ready node in `zone` with its Lease, heartbeating now.
async fn node(client: &Client, name: &str, zone: &str, extra_conditions: Value) {
    let nodes: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}}}),
    )
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    heartbeat(client, name, extra_conditions).await;
}

/// What a kubelet does every few seconds: renew the Lease, post Ready.
async fn heartbeat(client: &Client, name: &str, extra_conditions: Value) {
    let now = Timestamp::now().to_string();
    let mut conditions = vec![
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now, "lastTransitionTime": now}),
    ];
    conditions.extend(extra_conditions.as_array().cloned().unwrap_or_default());
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": conditions}})),
        )
        .await
        .unwrap();
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
        "spec": {"holderIdentity": name, "leaseDurationSeconds": 1, "renewTime": Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()}});
    leases
        .patch(
            name,
            &PatchParams::apply("test-kubelet").force(),
            &Patch::Apply(lease),
        )
        .await
        .unwrap();
}

/// Keep `name` heartbeating in the background.
fn keep_alive(client: &Client, name: &str) -> tokio::task::JoinHandle<()> {
    let (client, name) = (client.clone(), name.to_string());
    tokio::spawn(async move {
        loop {
            heartbeat(&client, &name, json!([])).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// Tolerating unreachable for 0 s: evicted as soon as the taint is there (the API server
/// gives pods without one 300 s).
fn no_patience() -> Value {
    json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 0}])
}

/// A Ready pod on `node`, held by a finalizer so a delete leaves it visible.
async fn pod(client: &Client, name: &str, node: &str, tolerations: Value) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "finalizers": ["example.com/hold"]},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx"}], "tolerations": tolerations}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let now = Timestamp::now().to_string();
    let status = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status))
        .await
        .unwrap();
}

fn condition(pod: &Pod, type_: &str) -> Option<(String, String, String)> {
    let c = pod
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

fn taints(node: &Node) -> Vec<(String, String)> {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|t| (t.key, t.effect))
        .collect()
}

async fn events(client: &Client, reason: &str) -> Vec<(String, String)> {
    let api: Api<Event> = Api::all(client.clone());
    let list = api.list(&ListParams::default()).await.unwrap();
    list.items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some(reason))
        .map(|e| {
            (
                e.source.and_then(|s| s.component).unwrap_or_default(),
                e.message.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_silent_node_is_tainted_and_its_pods_marked_not_ready_and_evicted() {
    let (_url, client) = server().await;
    node(&client, "n1", "a", json!([])).await;
    node(&client, "n2", "b", json!([])).await;
    let _alive = keep_alive(&client, "n2");
    pod(&client, "intolerant", "n1", no_patience()).await;
    start(&client).await;

    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let n1 = eventually(10, "n1 tainted unreachable", || async {
        let n = nodes.get("n1").await.unwrap();
        (taints(&n).len() == 2).then_some(n)
    })
    .await;
    let ready = n1
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .cloned()
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("Unknown", Some("NodeStatusUnknown"))
    );
    let unreachable = "node.kubernetes.io/unreachable".to_string();
    assert_eq!(
        taints(&n1),
        [
            (unreachable.clone(), "NoSchedule".to_string()),
            (unreachable, "NoExecute".to_string())
        ]
    );
    assert!(
        n1.spec
            .unwrap()
            .taints
            .unwrap()
            .iter()
            .all(|t| t.time_added.is_some()),
        "every taint the controller adds has timeAdded"
    );

    // Not tolerating the taint (for more than 0 s): DisruptionTarget, then deleted.
    let evicted = eventually(10, "pod evicted", || async {
        let p = pods.get("intolerant").await.unwrap();
        p.metadata.deletion_timestamp.is_some().then_some(p)
    })
    .await;
    assert_eq!(
        condition(&evicted, "DisruptionTarget"),
        Some((
            "True".into(),
            "DeletionByTaintManager".into(),
            "Taint manager: deleting due to NoExecute taint".into()
        ))
    );
    assert_eq!(
        condition(&evicted, "Ready").map(|c| c.0),
        Some("False".into())
    );
    assert!(
        taints(&nodes.get("n2").await.unwrap()).is_empty(),
        "the live node is untouched"
    );
    eventually(10, "events", || async {
        let registered = events(&client, "RegisteredNode").await;
        let evictions = events(&client, "TaintManagerEviction").await;
        let not_ready = events(&client, "NodeNotReady").await;
        (registered.contains(&(
            "node-controller".into(),
            "Node n1 event: Registered Node n1 in Controller".into(),
        )) && evictions.contains(&(
            "taint-eviction-controller".into(),
            "Marking for deletion Pod default/intolerant".into(),
        )) && not_ready.contains(&(
            "node-controller".into(),
            "Node n1 status is now: NodeNotReady".into(),
        )) && not_ready.contains(&("node-controller".into(), "Node is not ready".into())))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_eviction_waiting_for_its_toleration_is_cancelled_when_the_node_recovers() {
    let (_url, client) = server().await;
    node(&client, "n1", "a", json!([])).await;
    node(&client, "n2", "b", json!([])).await;
    let _alive = keep_alive(&client, "n2");
    let toleration = json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
    pod(&client, "patient", "n1", toleration).await;
    start(&client).await;

    let nodes: Api<Node> = Api::all(client.clone());
    eventually(10, "n1 tainted", || async {
        (taints(&nodes.get("n1").await.unwrap()).len() == 2).then_some(())
    })
    .await;
    let _back = keep_alive(&client, "n1");
    eventually(10, "n1 untainted", || async {
        taints(&nodes.get("n1").await.unwrap())
            .is_empty()
            .then_some(())
    })
    .await;
    eventually(10, "cancel event", || async {
        events(&client, "TaintManagerEviction")
            .await
            .contains(&(
                "taint-eviction-controller".into(),
                "Cancelling deletion of Pod default/patient".into(),
            ))
            .then_some(())
    })
    .await;
    let pod = Api::<Pod>::namespaced(client.clone(), "default")
        .get("patient")
        .await
        .unwrap();
    assert!(pod.metadata.deletion_timestamp.is_none());
}

#[tokio::test]
async fn pressure_and_cordon_taint_no_schedule() {
    let (_url, client) = server().await;
    node(&client, "n1", "a", json!([{"type": "MemoryPressure", "status": "True"}, {"type": "PIDPressure", "status": "True"}])).await;
    start(&client).await;
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    let want: Vec<(String, String)> = ["memory-pressure", "pid-pressure", "unschedulable"]
        .iter()
        .map(|k| (format!("node.kubernetes.io/{k}"), "NoSchedule".to_string()))
        .collect();
    eventually(10, "pressure taints", || async {
        let mut got = taints(&nodes.get("n1").await.unwrap());
        got.sort();
        (got == want).then_some(())
    })
    .await;
}

/// Every zone fully disrupted: the control plane more likely lost the nodes than the nodes
/// died, so nothing is tainted `NoExecute` and nothing is evicted.
#[tokio::test]
async fn with_every_node_down_nothing_is_evicted() {
    let (_url, client) = server().await;
    node(&client, "n1", "a", json!([])).await;
    node(&client, "n2", "b", json!([])).await;
    pod(&client, "p1", "n1", no_patience()).await;
    start(&client).await;
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(10, "both unreachable", || async {
        let all = nodes.list(&ListParams::default()).await.unwrap().items;
        all.iter()
            .all(|n| {
                taints(n)
                    == [(
                        "node.kubernetes.io/unreachable".to_string(),
                        "NoSchedule".to_string(),
                    )]
            })
            .then_some(())
    })
    .await;
    eventually(10, "pod marked not ready", || async {
        (condition(&pods.get("p1").await.unwrap(), "Ready").map(|c| c.0) == Some("False".into()))
            .then_some(())
    })
    .await;
    tokio::time::sleep(GRACE * 2).await;
    let p = pods.get("p1").await.unwrap();
    assert!(
        p.metadata.deletion_timestamp.is_none(),
        "evicted while every node was down"
    );
    assert!(
        nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .iter()
            .all(|n| taints(n).len() == 1)
    );

    // One node back: normal operation, the other node is tainted and its pod evicted.
    let _back = keep_alive(&client, "n2");
    eventually(15, "pod evicted after the cluster recovers", || async {
        pods.get("p1")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .map(|_| ())
    })
    .await;
}

/// A node's NoSchedule taints follow its changes at once, as upstream's node update
/// handler runs the NoSchedule pass, not at the next monitor pass (5 s with this
/// grace period): three cordons and uncordons, each seen tainted and untainted within a
/// second and a half, which three waits for a 5 s period would almost never all be.
#[tokio::test]
async fn a_cordon_is_tainted_at_once_not_at_the_next_monitor_pass() {
    let (_url, client) = server().await;
    let config = kubesim_controllers::node_lifecycle::Config {
        grace_period: Duration::from_secs(60),
        evict: true,
    };
    node(&client, "n1", "z", json!([])).await;
    tokio::spawn(kubesim_controllers::node_lifecycle::run(
        client.clone(),
        config,
    ));
    let nodes: Api<Node> = Api::all(client.clone());
    let has_cordon_taint = || async {
        nodes
            .get("n1")
            .await
            .unwrap()
            .spec
            .and_then(|s| s.taints)
            .unwrap_or_default()
            .iter()
            .any(|t| t.key == "node.kubernetes.io/unschedulable" && t.effect == "NoSchedule")
    };
    // Ready: the not-ready taint the API server added at creation goes.
    eventually(10, "the not-ready taint removed", || async {
        let taints = nodes.get("n1").await.unwrap().spec.and_then(|s| s.taints);
        taints.unwrap_or_default().is_empty().then_some(())
    })
    .await;
    for _ in 0..3 {
        for cordon in [true, false] {
            nodes
                .patch(
                    "n1",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"unschedulable": cordon}})),
                )
                .await
                .unwrap();
            let asked = tokio::time::Instant::now();
            while has_cordon_taint().await != cordon {
                assert!(
                    asked.elapsed() < Duration::from_millis(1500),
                    "cordon {cordon}: taint not updated within 1.5 s"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}
