//! The pod garbage collector on the whole stack with the real kubectl: after `kubectl
//! delete node`, the pods bound to it are failed with `DisruptionTarget`
//! (`DeletionByPodGC`) and force-deleted once the node has been missing for the 40 s
//! quarantine — upstream's timing, so this test takes about a minute (the pod GC also only
//! looks every 20 s) — and their ReplicaSet replaces them on the nodes that are left.

use crate::controllers_support;

use std::time::Duration;

use controllers_support::Observer;
use kubesim_e2e::{Cluster, describe, eventually};

#[test]
fn pods_of_a_deleted_node_are_garbage_collected_and_replaced() {
    let cluster = Cluster::up(&["--nodes", "2"]);
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 4\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: nginx, image: nginx:1.27}]}\n";
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(deployment));
    assert!(out.status.success(), "{}", describe(&out));
    cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let observer = Observer::start(&cluster, "default", "app=web");
    let pods = observer.seen().pods;
    let node = |p: &k8s_openapi::api::core::v1::Pod| {
        p.spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default()
    };
    // The node with more of the pods (a node that registered late may have none).
    let on = |n: &str| pods.values().filter(|p| node(p) == n).count();
    let (gone_node, other) = if on("kubesim-node-0") >= on("kubesim-node-1") {
        ("kubesim-node-0", "kubesim-node-1")
    } else {
        ("kubesim-node-1", "kubesim-node-0")
    };
    let doomed: Vec<String> = pods
        .values()
        .filter(|p| node(p) == gone_node)
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect();
    assert!(!doomed.is_empty(), "no pod on a node: {:?}", pods.keys());

    // As soon as possible: the pod GC looks every 20 s from the start, so the node is
    // noticed missing at its next look and taken for gone at the first look 40 s later
    // (about 60 s after the cluster started).
    cluster.kubectl_ok(&["delete", "node", gone_node]);
    // Quarantined first: nothing happens to them for a while.
    std::thread::sleep(Duration::from_secs(5));
    assert!(doomed.iter().all(|name| {
        observer
            .seen()
            .pods
            .get(name)
            .is_some_and(|p| p.metadata.deletion_timestamp.is_none())
    }));

    eventually(
        Duration::from_secs(100),
        "the orphans collected and replaced",
        || {
            let seen = observer.seen();
            let gone = doomed.iter().all(|name| !seen.pods.contains_key(name));
            let replaced = seen
                .pods
                .values()
                .filter(|p| p.metadata.deletion_timestamp.is_none() && node(p) == other)
                .count()
                == 4;
            (gone && replaced).then_some(())
        },
    );
    // On the way out each was failed with the condition, as the watch saw.
    let seen = observer.seen();
    for name in &doomed {
        assert!(
            seen.phases
                .get(name)
                .is_some_and(|p| p.iter().any(|p| p == "Failed")),
            "{name}: {:?}",
            seen.phases.get(name)
        );
        let pod = seen.last_seen.get(name).expect("seen");
        let status = pod.status.clone().unwrap_or_default();
        let condition = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "DisruptionTarget")
            .expect("DisruptionTarget");
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_deref()),
            ("True", Some("DeletionByPodGC"))
        );
        assert_eq!(
            condition.message.as_deref(),
            Some("PodGC: node no longer exists")
        );
    }
}
