//! Garbage collection with the real kubectl: `kubectl delete --cascade=background|
//! foreground|orphan` of a ReplicaSet whose pods name it in their ownerReferences. The
//! ReplicaSet controller is left out so the pods are only ours.

use std::time::Duration;

use kubesim_e2e::{Cluster, describe, eventually};
use serde_json::Value;

fn up() -> Cluster {
    Cluster::up(&[
        "--no-kubelet",
        "--no-scheduler",
        "--controllers",
        "*,-replicaset,-deployment",
    ])
}

/// A ReplicaSet `name` and `pods` pods it owns (with blockOwnerDeletion); returns its uid.
fn replicaset_with_pods(cluster: &Cluster, name: &str, pods: usize, pod_finalizer: bool) -> String {
    let rs = format!(
        "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: {name}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: c, image: nginx}}]}}\n"
    );
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(&rs));
    assert!(out.status.success(), "{}", describe(&out));
    let uid = cluster.kubectl_json(&["get", "rs", name])["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    for i in 0..pods {
        let finalizers = if pod_finalizer {
            "finalizers: [example.com/hold], "
        } else {
            ""
        };
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-{i}, {finalizers}labels: {{app: {name}}}, ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: {name}, uid: {uid}, controller: true, blockOwnerDeletion: true}}]}}\nspec: {{containers: [{{name: c, image: nginx}}]}}\n"
        );
        let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(&pod));
        assert!(out.status.success(), "{}", describe(&out));
    }
    uid
}

fn pods(cluster: &Cluster, app: &str) -> Vec<Value> {
    cluster.kubectl_json(&["get", "pods", "-l", &format!("app={app}")])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn kubectl_delete_cascades_background_foreground_and_orphan() {
    let cluster = up();

    // Background (kubectl's default): the owner goes, then its pods.
    replicaset_with_pods(&cluster, "bg", 2, false);
    cluster.kubectl_ok(&["delete", "rs", "bg"]);
    eventually(Duration::from_secs(10), "bg pods collected", || {
        pods(&cluster, "bg").is_empty().then_some(())
    });

    // Foreground: the owner stays, marked, until its blocking dependents are gone.
    replicaset_with_pods(&cluster, "fg", 1, true);
    cluster.kubectl_ok(&["delete", "rs", "fg", "--cascade=foreground", "--wait=false"]);
    eventually(
        Duration::from_secs(10),
        "dependent marked for deletion",
        || {
            pods(&cluster, "fg")
                .first()
                .and_then(|p| p["metadata"]["deletionTimestamp"].as_str().map(|_| ()))
        },
    );
    let owner = cluster.kubectl_json(&["get", "rs", "fg"]);
    assert!(
        owner["metadata"]["deletionTimestamp"].is_string(),
        "{owner}"
    );
    assert_eq!(
        owner["metadata"]["finalizers"],
        serde_json::json!(["foregroundDeletion"]),
        "{owner}"
    );
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        "fg-0",
        "--type=json",
        "-p",
        r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#,
    ]);
    eventually(
        Duration::from_secs(10),
        "owner gone after its dependent",
        || (!cluster.kubectl(&["get", "rs", "fg"]).status.success()).then_some(()),
    );

    // Orphan: the owner goes, its pods stay without the reference.
    replicaset_with_pods(&cluster, "or", 2, false);
    cluster.kubectl_ok(&["delete", "rs", "or", "--cascade=orphan"]);
    assert!(!cluster.kubectl(&["get", "rs", "or"]).status.success());
    let left = pods(&cluster, "or");
    assert_eq!(left.len(), 2);
    for pod in left {
        assert!(
            pod["metadata"]["ownerReferences"]
                .as_array()
                .is_none_or(Vec::is_empty),
            "{pod}"
        );
        assert!(pod["metadata"]["deletionTimestamp"].is_null());
    }
}

#[test]
fn every_namespace_gets_a_default_service_account() {
    let cluster = up();
    cluster.kubectl_ok(&["create", "namespace", "team-a"]);
    eventually(Duration::from_secs(10), "default service account", || {
        cluster
            .kubectl(&["get", "serviceaccount", "default", "-n", "team-a"])
            .status
            .success()
            .then_some(())
    });
    let all = cluster.kubectl_ok(&["get", "serviceaccounts", "-A"]);
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "team-a",
    ] {
        assert!(
            all.lines()
                .any(|l| l.starts_with(ns) && l.contains("default")),
            "{ns}: {all}"
        );
    }
}

/// `kubectl get configmaps` in a new namespace shows its `kube-root-ca.crt` (one data
/// key), as a real cluster's does, and `describe` its description.
#[test]
fn every_namespace_gets_the_root_ca_bundle() {
    let cluster = up();
    cluster.kubectl_ok(&["create", "namespace", "team-b"]);
    let table = eventually(Duration::from_secs(10), "kube-root-ca.crt", || {
        let out = cluster.kubectl(&["get", "configmaps", "-n", "team-b"]);
        let table = String::from_utf8_lossy(&out.stdout).to_string();
        table.contains("kube-root-ca.crt").then_some(table)
    });
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["NAME", "DATA", "AGE"], "{table}");
    assert_eq!(rows.len(), 2, "{table}");
    assert_eq!(rows[1][..2], ["kube-root-ca.crt", "1"], "{table}");
    let described =
        cluster.kubectl_ok(&["describe", "configmap", "kube-root-ca.crt", "-n", "team-b"]);
    assert!(
        described.contains("kubernetes.io/description:")
            && described
                .contains("Contains a CA bundle that can be used to verify the kube-apiserver")
            && described.contains("ca.crt:")
            && described.contains("-----BEGIN CERTIFICATE-----"),
        "{described}"
    );
}

/// Deleting a namespace: `Terminating`, its content deleted, and while something holds
/// on (here a finalizer) the conditions say what, as upstream's namespace controller
/// writes them; once it is let go the namespace goes.
#[test]
fn a_deleted_namespace_is_terminating_until_its_content_is_gone() {
    let cluster = up();
    cluster.kubectl_ok(&["create", "namespace", "team-b"]);
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, namespace: team-b, finalizers: [example.com/hold]}\n";
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(cm));
    assert!(out.status.success(), "{}", describe(&out));
    cluster.kubectl_ok(&["create", "configmap", "free", "-n", "team-b"]);
    cluster.kubectl_ok(&["delete", "namespace", "team-b", "--wait=false"]);

    let condition = |ns: &Value, type_: &str| -> (String, String, String) {
        let c = ns["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
            .cloned()
            .unwrap_or_default();
        let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
        (s("status"), s("reason"), s("message"))
    };
    let ns = eventually(Duration::from_secs(10), "conditions", || {
        let ns = cluster.kubectl_json(&["get", "namespace", "team-b"]);
        (condition(&ns, "NamespaceFinalizersRemaining").0 == "True").then_some(ns)
    });
    assert_eq!(ns["status"]["phase"], "Terminating");
    assert_eq!(
        condition(&ns, "NamespaceContentRemaining"),
        (
            "True".into(),
            "SomeResourcesRemain".into(),
            "Some resources are remaining: configmaps. has 1 resource instances".into()
        )
    );
    assert_eq!(
        condition(&ns, "NamespaceFinalizersRemaining"),
        (
            "True".into(),
            "SomeFinalizerRemain".into(),
            "Some finalizers are remaining: example.com/hold in 1 resource instances".into()
        )
    );
    assert_eq!(
        condition(&ns, "NamespaceDeletionDiscoveryFailure"),
        (
            "False".into(),
            "ResourcesDiscovered".into(),
            "All resources successfully discovered".into()
        )
    );
    assert_eq!(condition(&ns, "NamespaceDeletionContentFailure").0, "False");
    assert!(
        !cluster
            .kubectl(&["get", "configmap", "free", "-n", "team-b"])
            .status
            .success(),
        "the rest is deleted"
    );
    let table = cluster.kubectl_ok(&["get", "namespace", "team-b"]);
    assert!(table.contains("Terminating"), "{table}");

    cluster.kubectl_ok(&[
        "patch",
        "configmap",
        "held",
        "-n",
        "team-b",
        "--type=json",
        "-p",
        r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#,
    ]);
    eventually(Duration::from_secs(15), "namespace gone", || {
        (!cluster
            .kubectl(&["get", "namespace", "team-b"])
            .status
            .success())
        .then_some(())
    });
}
