//! Everyday kubectl commands not covered elsewhere: `get all`, `wait`, `delete -f`,
//! `get --raw`, `auth can-i`, `auth whoami`, and the `kubernetes` Service every cluster
//! starts with.

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
    let verbose = cluster.kubectl_ok(&["get", "--raw", "/readyz?verbose"]);
    assert!(
        verbose.starts_with("[+]ping ok\n") && verbose.ends_with("readyz check passed\n"),
        "{verbose}"
    );
    let version = cluster.kubectl_ok(&["version", "-o", "json"]);
    assert!(version.contains("\"gitVersion\": \"v1.35"), "{version}");

    let out = cluster.kubectl_ok(&["delete", "-f", &manifest]);
    assert!(
        out.contains("configmap \"settings\" deleted")
            && out.contains("deployment.apps \"web\" deleted"),
        "{out}"
    );
    let left = cluster.kubectl_ok(&["get", "deployments,configmaps", "-o", "name"]);
    // Nothing remains (without controllers there is no kube-root-ca.crt either).
    assert_eq!(left.trim(), "");
}

#[test]
fn auth_can_i_and_whoami_answer_as_a_cluster_without_authorization() {
    // kubesim authorizes everything (as `--authorization-mode=AlwaysAllow`), and every
    // request is its one administrator.
    let cluster = Cluster::up(&["--no-controllers", "--no-scheduler", "--no-kubelet"]);
    assert_eq!(
        cluster
            .kubectl_ok(&["auth", "can-i", "create", "pods"])
            .trim(),
        "yes"
    );
    assert_eq!(
        cluster
            .kubectl_ok(&["auth", "can-i", "delete", "nodes", "--all-namespaces"])
            .trim(),
        "yes"
    );
    let rules = cluster.kubectl_ok(&["auth", "can-i", "--list"]);
    let first: Vec<&str> = rules
        .lines()
        .nth(1)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(first, ["*.*", "[]", "[]", "[*]"], "{rules}");
    let whoami = cluster.kubectl_json(&["auth", "whoami"]);
    assert_eq!(whoami["kind"], "SelfSubjectReview");
    assert_eq!(whoami["status"]["userInfo"]["username"], "kubesim-admin");
    assert_eq!(
        whoami["status"]["userInfo"]["groups"],
        serde_json::json!(["system:masters", "system:authenticated"])
    );
    // The reviews are create-only and listed so, as upstream's.
    let resources = cluster.kubectl_ok(&["api-resources", "--verbs=create", "-o", "name"]);
    for review in [
        "selfsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectrulesreviews.authorization.k8s.io",
        "subjectaccessreviews.authorization.k8s.io",
        "localsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectreviews.authentication.k8s.io",
    ] {
        assert!(
            resources.lines().any(|l| l == review),
            "{review}: {resources}"
        );
    }
    let listable = cluster.kubectl_ok(&["api-resources", "--verbs=list", "-o", "name"]);
    assert!(!listable.contains("review"), "{listable}");
}

#[test]
fn the_kubernetes_service_names_the_api_server_and_comes_back_when_deleted() {
    let cluster = Cluster::up(&["--no-controllers", "--no-scheduler", "--no-kubelet"]);
    let port: u64 = cluster
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the cluster's port");
    // What `kubectl get svc` shows on a fresh cluster.
    let services = cluster.kubectl_ok(&["get", "services"]);
    let row: Vec<&str> = services
        .lines()
        .nth(1)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    assert_eq!(
        row[..5],
        ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"],
        "{services}"
    );
    let svc = cluster.kubectl_json(&["get", "service", "kubernetes", "--show-managed-fields"]);
    assert_eq!(
        svc["metadata"]["labels"],
        serde_json::json!({"component": "apiserver", "provider": "kubernetes"})
    );
    assert_eq!(
        svc["spec"]["ports"],
        serde_json::json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}])
    );
    assert_eq!(svc["spec"]["ipFamilyPolicy"], "SingleStack");
    assert!(svc["spec"].get("selector").is_none(), "{svc}");
    assert_eq!(
        svc["metadata"]["managedFields"][0]["manager"],
        "kube-apiserver"
    );
    // Its endpoints are the API server's own address, in both APIs; v1 Endpoints are
    // deprecated, and kubectl says so as it does against any v1.33+ server.
    let out = cluster.kubectl(&["get", "endpoints"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Warning: v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
    );
    let endpoints = cluster.kubectl_json(&["get", "endpoints", "kubernetes"]);
    assert_eq!(
        endpoints["subsets"],
        serde_json::json!([{"addresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}])
    );
    assert_eq!(
        endpoints["metadata"]["labels"]["endpointslice.kubernetes.io/skip-mirror"],
        "true"
    );
    let slice = cluster.kubectl_json(&["get", "endpointslices.discovery.k8s.io", "kubernetes"]);
    assert_eq!(
        slice["metadata"]["labels"]["kubernetes.io/service-name"],
        "kubernetes"
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["endpoints"],
        serde_json::json!([{"addresses": ["127.0.0.1"], "conditions": {"ready": true}}])
    );
    // Deleted, it is created again (upstream's controller checks every 10 s).
    let uid = svc["metadata"]["uid"].clone();
    cluster.kubectl_ok(&["delete", "service", "kubernetes"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = cluster.kubectl(&["get", "service", "kubernetes", "-o", "json"]);
        if out.status.success() {
            let again: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("the service as JSON");
            assert_ne!(again["metadata"]["uid"], uid);
            assert_eq!(again["spec"]["clusterIP"], "10.96.0.1");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the kubernetes service did not come back: {}",
            describe(&out)
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
