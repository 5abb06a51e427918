//! Services with the real kubectl: ClusterIP and NodePort allocation at create, and the
//! Endpoints and EndpointSlices the controllers keep from pod readiness. No scheduler or
//! kubelets: pods are created with `nodeName` and their status written as a kubelet would.

use std::time::Duration;

use kubesim_e2e::{Cluster, describe, eventually};
use serde_json::{Value, json};

fn apply(cluster: &Cluster, yaml: &str) {
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(yaml));
    assert!(out.status.success(), "{}", describe(&out));
}

/// A pod of app `web` on node-1, Running with `ip`, Ready or not.
fn pod(cluster: &Cluster, name: &str, ip: &str, ready: bool) {
    apply(
        cluster,
        &format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: web}}}}\nspec:\n  nodeName: node-1\n  containers: [{{name: c, image: nginx, ports: [{{name: http, containerPort: 8080}}]}}]\n"
        ),
    );
    set_ready(cluster, name, ip, ready);
}

fn set_ready(cluster: &Cluster, name: &str, ip: &str, ready: bool) {
    let status = if ready { "True" } else { "False" };
    let patch = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": status}, {"type": "ContainersReady", "status": status}]}});
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

fn slices(cluster: &Cluster, service: &str) -> Vec<Value> {
    let list = cluster.kubectl_json(&[
        "get",
        "endpointslices",
        "-l",
        &format!("kubernetes.io/service-name={service}"),
    ]);
    list["items"].as_array().cloned().unwrap_or_default()
}

fn addresses(slices: &[Value], ready: bool) -> Vec<String> {
    let mut out: Vec<String> = slices
        .iter()
        .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["conditions"]["ready"].as_bool() == Some(ready))
        .filter_map(|e| e["addresses"][0].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

#[test]
fn services_get_cluster_ips_and_node_ports_from_the_configured_ranges() {
    let cluster = Cluster::up(&[
        "--no-kubelet",
        "--no-scheduler",
        "--service-cluster-ip-range",
        "10.100.0.0/16",
        "--service-node-port-range",
        "31000-31010",
    ]);
    apply(
        &cluster,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
    );
    let svc = cluster.kubectl_json(&["get", "service", "web"]);
    let ip = svc["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ip.starts_with("10.100."), "{svc}");
    assert_eq!(svc["spec"]["clusterIPs"], json!([ip]));

    cluster.kubectl_ok(&["create", "service", "nodeport", "np", "--tcp=80:8080"]);
    let np = cluster.kubectl_json(&["get", "service", "np"]);
    let port = np["spec"]["ports"][0]["nodePort"].as_u64().unwrap_or(0);
    assert!((31000..=31010).contains(&port), "{np}");
    // `kubectl get` shows it as upstream does: 80:3100x/TCP.
    let table = cluster.kubectl_ok(&["get", "service", "np"]);
    assert!(table.contains(&format!("80:{port}/TCP")), "{table}");

    // A requested address that is taken, or outside the range, is refused.
    let taken = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: dup}}\nspec: {{clusterIP: {ip}, ports: [{{port: 80}}]}}\n"
    );
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(&taken));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "failed to allocate IP {ip}: provided IP is already allocated"
        )),
        "{err}"
    );
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some("apiVersion: v1\nkind: Service\nmetadata: {name: far}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}\n"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "provided port is not in the valid range. The range of valid ports is 31000-31010"
        ),
        "{err}"
    );

    // Headless Services get none; a deleted Service's address is free again.
    cluster.kubectl_ok(&["create", "service", "clusterip", "db", "--clusterip=None"]);
    assert_eq!(
        cluster.kubectl_json(&["get", "service", "db"])["spec"]["clusterIP"],
        "None"
    );
    cluster.kubectl_ok(&["delete", "service", "web"]);
    apply(&cluster, &taken);
    assert_eq!(
        cluster.kubectl_json(&["get", "service", "dup"])["spec"]["clusterIP"],
        ip.as_str()
    );
}

#[test]
fn endpoints_and_endpoint_slices_follow_pod_readiness() {
    let cluster = Cluster::up(&["--no-kubelet", "--no-scheduler"]);
    apply(
        &cluster,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, labels: {tier: front}}\nspec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: http}]}\n",
    );
    // No pods yet: one empty placeholder slice.
    let placeholder = eventually(Duration::from_secs(10), "placeholder slice", || {
        let s = slices(&cluster, "web");
        (s.len() == 1).then_some(s)
    });
    assert!(
        placeholder[0]["endpoints"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{placeholder:?}"
    );

    pod(&cluster, "web-1", "10.244.1.5", true);
    pod(&cluster, "web-2", "10.244.1.6", true);
    pod(&cluster, "web-3", "10.244.1.7", false);
    let s = eventually(Duration::from_secs(10), "3 endpoints", || {
        let s = slices(&cluster, "web");
        (addresses(&s, true).len() == 2 && addresses(&s, false).len() == 1).then_some(s)
    });
    assert_eq!(s.len(), 1, "{s:?}");
    let slice = &s[0];
    let name = slice["metadata"]["name"].as_str().unwrap_or_default();
    assert!(
        name.starts_with("web-") && name.len() == "web-".len() + 5,
        "{name}"
    );
    assert_eq!(
        slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"],
        "endpointslice-controller.k8s.io"
    );
    assert_eq!(slice["metadata"]["labels"]["tier"], "front");
    assert_eq!(slice["metadata"]["ownerReferences"][0]["kind"], "Service");
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    let ep = slice["endpoints"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["targetRef"]["name"] == "web-1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ep["nodeName"], "node-1");
    assert_eq!(
        ep["conditions"],
        json!({"ready": true, "serving": true, "terminating": false})
    );
    assert!(
        slice["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
            .is_string()
    );

    // Endpoints: ready and not-ready addresses.
    let endpoints = eventually(Duration::from_secs(10), "endpoints", || {
        let ep = cluster.kubectl_json(&["get", "endpoints", "web"]);
        (ep["subsets"][0]["notReadyAddresses"]
            .as_array()
            .map(Vec::len)
            == Some(1))
        .then_some(ep)
    });
    let ready: Vec<&str> = endpoints["subsets"][0]["addresses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["ip"].as_str())
        .collect();
    assert_eq!(ready, ["10.244.1.5", "10.244.1.6"], "{endpoints}");
    assert_eq!(
        endpoints["subsets"][0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
    );
    assert!(
        endpoints["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"]
            .is_string()
    );
    assert_eq!(
        endpoints["metadata"]["labels"],
        json!({"tier": "front", "endpoints.kubernetes.io/managed-by": "endpoint-controller"}),
        "{endpoints}"
    );
    let table = cluster.kubectl_ok(&["get", "endpointslices"]);
    assert!(
        table.contains("10.244.1.5,10.244.1.6,10.244.1.7"),
        "{table}"
    );

    // Readiness changes and pods leaving the selector show up.
    set_ready(&cluster, "web-3", "10.244.1.7", true);
    cluster.kubectl_ok(&["label", "pod", "web-1", "app=other", "--overwrite"]);
    eventually(Duration::from_secs(10), "updated slice", || {
        let s = slices(&cluster, "web");
        (addresses(&s, true) == ["10.244.1.6", "10.244.1.7"] && addresses(&s, false).is_empty())
            .then_some(())
    });
    eventually(Duration::from_secs(10), "updated endpoints", || {
        let ep = cluster.kubectl_json(&["get", "endpoints", "web"]);
        let ips: Vec<&str> = ep["subsets"][0]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["ip"].as_str())
            .collect();
        (ips == ["10.244.1.6", "10.244.1.7"]).then_some(())
    });

    // A headless Service gets labelled endpoints too; deleting a Service takes its
    // endpoints and (through the garbage collector) its slices.
    apply(
        &cluster,
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {clusterIP: None, selector: {app: web}, ports: [{port: 5432}]}\n",
    );
    eventually(Duration::from_secs(10), "headless endpoints", || {
        let s = slices(&cluster, "db");
        (addresses(&s, true).len() == 2
            && s[0]["metadata"]["labels"]["service.kubernetes.io/headless"] == "")
            .then_some(())
    });
    cluster.kubectl_ok(&["delete", "service", "web"]);
    eventually(Duration::from_secs(10), "slices and endpoints gone", || {
        let gone = !cluster
            .kubectl(&["get", "endpoints", "web"])
            .status
            .success();
        (gone && slices(&cluster, "web").is_empty()).then_some(())
    });
}

/// A terminating pod leaves a Service's Endpoints, unless the Service publishes
/// not-ready addresses (upstream `ShouldPodBeInEndpoints`), e.g. for a StatefulSet's peers.
#[test]
fn terminating_pods_stay_in_endpoints_only_when_not_ready_addresses_are_published() {
    let cluster = Cluster::up(&["--no-kubelet", "--no-scheduler"]);
    apply(
        &cluster,
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}, ports: [{port: 80}]}\n",
    );
    apply(
        &cluster,
        "apiVersion: v1\nkind: Service\nmetadata: {name: peers}\nspec: {selector: {app: web}, publishNotReadyAddresses: true, clusterIP: None, ports: [{port: 80}]}\n",
    );
    pod(&cluster, "web-0", "10.244.1.7", true);
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        "web-0",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    let ips = |name: &str| -> Vec<String> {
        let ep = cluster.kubectl_json(&["get", "endpoints", name]);
        ep["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["ip"].as_str().map(str::to_string))
            .collect()
    };
    eventually(Duration::from_secs(10), "both list the pod", || {
        (ips("web") == ["10.244.1.7"] && ips("peers") == ["10.244.1.7"]).then_some(())
    });
    cluster.kubectl_ok(&["delete", "pod", "web-0", "--wait=false"]);
    eventually(
        Duration::from_secs(10),
        "the terminating pod leaves web",
        || ips("web").is_empty().then_some(()),
    );
    assert_eq!(ips("peers"), ["10.244.1.7"]);
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        "web-0",
        "--type=json",
        "-p",
        r#"[{"op": "remove", "path": "/metadata/finalizers"}]"#,
    ]);
}
