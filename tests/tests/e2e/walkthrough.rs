//! The "Level 1" walkthrough a web developer does on a first cluster, with the real kubectl
//! against a whole `kubesim up` (API server, scheduler, simulated kubelets, controllers):
//! a ConfigMap, a Deployment of 3 replicas with a readiness probe and resource requests,
//! and a Service; the rollout completes, the pods run on nodes, the Service's
//! EndpointSlice lists their 3 ready addresses, and a deleted pod is replaced.

use std::time::Duration;

use kubesim_e2e::{Cluster, describe, eventually};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  DJANGO_SETTINGS_MODULE: mysite.settings
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: django
        image: python:3.12
        ports:
        - {name: http, containerPort: 8000}
        envFrom:
        - configMapRef: {name: web-config}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
        readinessProbe:
          httpGet: {path: /healthz, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
"#;

fn web_pods(cluster: &Cluster) -> Vec<Value> {
    cluster.kubectl_json(&["get", "pods", "-l", "app=web"])["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The ready addresses of the Service's EndpointSlices, sorted.
fn ready_addresses(cluster: &Cluster) -> Vec<String> {
    let slices = cluster.kubectl_json(&[
        "get",
        "endpointslices",
        "-l",
        "kubernetes.io/service-name=web",
    ]);
    let mut addresses: Vec<String> = slices["items"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|slice| slice["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|endpoint| endpoint["conditions"]["ready"] == true)
        .flat_map(|endpoint| {
            endpoint["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|address| address.as_str().map(str::to_string))
        .collect();
    addresses.sort();
    addresses
}

#[test]
fn configmap_deployment_service_rollout_endpoints_and_self_healing() {
    let cluster = Cluster::up(&[]);
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(APP));
    assert!(out.status.success(), "{}", describe(&out));
    let out = cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );

    // Three pods Running and Ready, each on a simulated node with an IP from its pod CIDR.
    let pods = web_pods(&cluster);
    assert_eq!(pods.len(), 3, "{pods:?}");
    let mut pod_ips = Vec::new();
    for pod in &pods {
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
        assert!(
            pod["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| n.starts_with("kubesim-node-")),
            "{pod}"
        );
        let ready = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready");
        assert_eq!(
            ready.map(|c| c["status"].clone()),
            Some(Value::from("True")),
            "{pod}"
        );
        pod_ips.push(
            pod["status"]["podIP"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    pod_ips.sort();

    // The Service has a ClusterIP, and its EndpointSlice lists exactly the three pods, ready.
    let service = cluster.kubectl_json(&["get", "service", "web"]);
    assert!(
        service["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.")),
        "{service}"
    );
    eventually(WAIT, "the EndpointSlice to list the 3 pods, ready", || {
        (ready_addresses(&cluster) == pod_ips).then_some(())
    });

    // Delete a pod: the ReplicaSet replaces it, the slice follows.
    let victim = pods[0]["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    cluster.kubectl_ok(&["delete", "pod", &victim, "--wait=false"]);
    eventually(WAIT, "a replacement pod, Running", || {
        let pods = web_pods(&cluster);
        let replaced = pods.len() == 3
            && pods.iter().all(|p| {
                p["metadata"]["name"] != victim.as_str() && p["status"]["phase"] == "Running"
            });
        replaced.then_some(())
    });
    cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    eventually(WAIT, "3 ready addresses again", || {
        (ready_addresses(&cluster).len() == 3).then_some(())
    });
    let events = cluster.kubectl_ok(&["get", "events"]);
    for reason in ["Scheduled", "SuccessfulCreate", "ScalingReplicaSet"] {
        assert!(events.contains(reason), "{reason} in {events}");
    }
}
