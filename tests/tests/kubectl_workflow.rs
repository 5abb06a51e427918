//! Everyday kubectl commands not covered elsewhere: `get all`, `wait`, `delete -f`,
//! `get --raw`.

use kubesim_e2e::{Cluster, describe};

const MANIFEST: &str = "apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

#[test]
fn get_all_wait_delete_from_file_and_raw() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let manifest = cluster.dir.join("app.yaml");
    std::fs::write(&manifest, MANIFEST).expect("write manifest");
    let manifest = manifest.display().to_string();
    let out = cluster.kubectl_ok(&["apply", "-f", &manifest]);
    assert!(
        out.contains("configmap/settings created") && out.contains("deployment.apps/web created"),
        "{out}"
    );

    // `get all` walks the `all` category from discovery.
    let all = cluster.kubectl_ok(&["get", "all"]);
    assert!(
        all.lines().any(|l| l.starts_with("deployment.apps/web")),
        "{all}"
    );
    assert!(
        !all.contains("configmap"),
        "configmaps are not in `all`: {all}"
    );

    // `wait` watches (watch-list) until the condition holds.
    let out = cluster.kubectl_ok(&[
        "wait",
        "--for=jsonpath={.spec.replicas}=1",
        "deployment/web",
        "--timeout=10s",
    ]);
    assert_eq!(out.trim(), "deployment.apps/web condition met");
    let out = cluster.kubectl(&[
        "wait",
        "--for=jsonpath={.spec.replicas}=3",
        "deployment/web",
        "--timeout=1s",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));

    let ready = cluster.kubectl_ok(&["get", "--raw", "/readyz"]);
    assert_eq!(ready, "ok");
    let version = cluster.kubectl_ok(&["version", "-o", "json"]);
    assert!(version.contains("\"gitVersion\": \"v1.35"), "{version}");

    let out = cluster.kubectl_ok(&["delete", "-f", &manifest]);
    assert!(
        out.contains("configmap \"settings\" deleted")
            && out.contains("deployment.apps \"web\" deleted"),
        "{out}"
    );
    let left = cluster.kubectl_ok(&["get", "deployments,configmaps", "-o", "name"]);
    // Only the namespace's own kube-root-ca.crt could remain, and kubesim makes none.
    assert_eq!(left.trim(), "");
}
