//! The real kubectl (v1.35) against `kubesim up`: what a user types, what they see, and
//! what the server then holds.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use kubesim_e2e::{Cluster, describe, eventually, tool};

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  containers:
  - name: nginx
    image: nginx:1.27
";

#[test]
fn create_get_patch_label_annotate_delete() {
    // The pod changes only by the test's writes (its resourceVersions are compared).
    let cluster = Cluster::up(&["--no-kubelet", "--no-scheduler"]);
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-", "--validate=false"], Some(POD));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "pod/web created"
    );

    let yaml = cluster.kubectl_ok(&["get", "pod", "web", "-o", "yaml"]);
    assert!(yaml.contains("name: web"), "{yaml}");
    assert!(yaml.contains("namespace: default"), "{yaml}");
    assert!(yaml.contains("uid: "), "{yaml}");
    assert!(yaml.contains("resourceVersion: "), "{yaml}");

    assert_eq!(
        cluster
            .kubectl_ok(&[
                "patch",
                "pod",
                "web",
                "--type=merge",
                "-p",
                r#"{"metadata":{"labels":{"tier":"front"}}}"#
            ])
            .trim(),
        "pod/web patched"
    );
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/metadata/annotations","value":{"from":"json-patch"}}]"#,
    ]);
    assert_eq!(
        cluster
            .kubectl_ok(&["label", "pod", "web", "env=dev"])
            .trim(),
        "pod/web labeled"
    );
    assert_eq!(
        cluster
            .kubectl_ok(&["annotate", "pod", "web", "note=hello"])
            .trim(),
        "pod/web annotated"
    );

    let pod = cluster.kubectl_json(&["get", "pod", "web"]);
    assert_eq!(
        pod["metadata"]["labels"],
        serde_json::json!({"app": "web", "tier": "front", "env": "dev"})
    );
    assert_eq!(
        pod["metadata"]["annotations"],
        serde_json::json!({"from": "json-patch", "note": "hello"})
    );

    // A failing JSON patch test changes nothing and says why.
    let out = cluster.kubectl(&[
        "patch",
        "pod",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"test","path":"/metadata/labels/app","value":"db"}]"#,
    ]);
    assert!(!out.status.success());
    assert_eq!(
        cluster.kubectl_json(&["get", "pod", "web"])["metadata"]["resourceVersion"],
        pod["metadata"]["resourceVersion"]
    );

    let listed = cluster.kubectl_ok(&["get", "pods", "-l", "env=dev", "-o", "name"]);
    assert_eq!(listed.trim(), "pod/web");

    let out = cluster.kubectl_ok(&["delete", "pod", "web"]);
    assert!(out.contains("pod \"web\" deleted"), "{out}");
    let out = cluster.kubectl(&["get", "pod", "web"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pods \"web\" not found"),
        "{}",
        describe(&out)
    );
}

#[test]
fn get_watch_sees_a_change() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_with_stdin(&["create", "-f", "-", "--validate=false"], Some(POD));
    let mut watcher = Command::new(tool("KUBESIM_KUBECTL", ".tools/bin/kubectl"))
        .args([
            "get",
            "pod",
            "web",
            "-w",
            "-o",
            "jsonpath={.metadata.labels.stage}{\"\\n\"}",
        ])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let stdout = watcher.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    // The first line is the current state (no label yet).
    assert_eq!(
        lines_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("initial line"),
        ""
    );
    cluster.kubectl_ok(&["label", "pod", "web", "stage=two"]);
    // The scheduler and the kubelet write the pod too (binding, status); those changes
    // come before or after the label's, each a line without the label.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines_rx.recv_timeout(left).expect("the change");
        if !line.is_empty() {
            break line;
        }
    };
    let _ = watcher.kill();
    let _ = watcher.wait();
    assert_eq!(seen, "two");
}

#[test]
fn server_errors_reach_the_user_as_upstream_prints_them() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_ok(&[
        "create",
        "configmap",
        "exists",
        "--from-literal=a=b",
        "-o",
        "name",
    ]);
    let out = cluster.kubectl(&["create", "configmap", "exists", "--from-literal=a=b"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("configmaps \"exists\" already exists"),
        "{}",
        describe(&out)
    );
    let out = cluster.kubectl(&["get", "configmap", "x"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("configmaps \"x\" not found"),
        "{}",
        describe(&out)
    );
    // kubectl 1.35 asks for the namespace after a NotFound and reports the missing one.
    let out = cluster.kubectl(&["get", "configmap", "-n", "nowhere", "x"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("namespaces \"nowhere\" not found"),
        "{}",
        describe(&out)
    );
}

/// `kubectl replace` of a missing object PUTs it: a Lease is created, as upstream's
/// lease strategy allows, and a ConfigMap is not found.
#[test]
fn replace_creates_a_missing_lease_but_not_a_configmap() {
    let cluster = Cluster::up(&["--no-kubelet", "--no-scheduler", "--no-controllers"]);
    let lease = "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: holder}\nspec: {holderIdentity: me}\n";
    let out = cluster.kubectl_with_stdin(&["replace", "-f", "-"], Some(lease));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("lease.coordination.k8s.io/holder replaced"),
        "{}",
        describe(&out)
    );
    let got = cluster.kubectl_json(&["get", "lease", "holder"]);
    assert_eq!(got["spec"]["holderIdentity"], "me");

    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: missing}\n";
    let out = cluster.kubectl_with_stdin(&["replace", "-f", "-"], Some(cm));
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("configmaps \"missing\" not found"),
        "{}",
        describe(&out)
    );
}

#[test]
fn deleting_a_namespace_deletes_its_contents() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_ok(&["create", "namespace", "team"]);
    cluster.kubectl_ok(&[
        "-n",
        "team",
        "create",
        "configmap",
        "settings",
        "--from-literal=a=b",
    ]);
    cluster.kubectl_with_stdin(
        &["-n", "team", "create", "-f", "-", "--validate=false"],
        Some(POD),
    );
    let out = cluster.kubectl_ok(&["delete", "namespace", "team", "--timeout=20s"]);
    assert!(out.contains("namespace \"team\" deleted"), "{out}");
    eventually(Duration::from_secs(20), "the namespace to go", || {
        let out = cluster.kubectl(&["get", "namespace", "team"]);
        (!out.status.success()).then_some(())
    });
    let left = cluster.kubectl_ok(&["get", "configmaps,pods", "-n", "team", "-o", "name"]);
    assert_eq!(left.trim(), "");
}

/// `kubectl create deployment` goes through client-go's typed client, which sends
/// protobuf; the server decodes it and applies upstream's defaults.
#[test]
fn typed_creates_in_protobuf_get_upstream_defaults() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let out = cluster.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    assert_eq!(out.trim(), "deployment.apps/web created");
    let deployment = cluster.kubectl_json(&["get", "deployment", "web"]);
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        "25%"
    );
    assert_eq!(deployment["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(deployment["metadata"]["generation"], 1);
    let out = cluster.kubectl_ok(&["scale", "deployment", "web", "--replicas=4"]);
    assert_eq!(out.trim(), "deployment.apps/web scaled");
    let deployment = cluster.kubectl_json(&["get", "deployment", "web"]);
    assert_eq!(deployment["spec"]["replicas"], 4);
    assert_eq!(deployment["metadata"]["generation"], 2);
}
