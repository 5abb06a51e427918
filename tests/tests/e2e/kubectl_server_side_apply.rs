//! `kubectl apply --server-side`: ownership, conflicts between managers, and forcing;
//! and the ownership an ordinary write records.

use kubesim_e2e::{Cluster, describe};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: REPLICAS
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

fn manifest(replicas: u32) -> String {
    DEPLOYMENT.replace("REPLICAS", &replicas.to_string())
}

#[test]
fn a_second_manager_conflicts_until_it_forces() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let out =
        cluster.kubectl_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&manifest(2)));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "deployment.apps/web serverside-applied"
    );

    let out = cluster.kubectl_with_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=autoscaler",
            "-f",
            "-",
        ],
        Some(&manifest(5)),
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        ),
        "{stderr}"
    );
    assert_eq!(
        cluster.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2"
    );

    let out = cluster.kubectl_with_stdin(
        &[
            "apply",
            "--server-side",
            "--field-manager=autoscaler",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&manifest(5)),
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        cluster.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    let owners = cluster.kubectl_ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation} {end}",
    ]);
    assert_eq!(owners.trim(), "kubectl:Apply autoscaler:Apply");

    // The first manager no longer owns replicas: applying without it leaves it alone.
    let without = manifest(2).replace("  replicas: 2\n", "");
    let out = cluster.kubectl_with_stdin(&["apply", "--server-side", "-f", "-"], Some(&without));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        cluster.kubectl_ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
}

#[test]
fn kubectl_create_records_the_ownership_a_real_cluster_records() {
    let cluster = Cluster::up(&["--no-controllers"]);
    cluster.kubectl_ok(&["create", "deployment", "nginx", "--image=nginx"]);
    let deployment = cluster.kubectl_json(&["get", "deployment", "nginx", "--show-managed-fields"]);
    let entry = deployment["metadata"]["managedFields"]
        .as_array()
        .and_then(|entries| entries.iter().find(|e| e["manager"] == "kubectl-create"))
        .unwrap_or_else(|| panic!("no kubectl-create entry: {deployment}"));
    assert_eq!(entry["operation"], "Update");
    // As a real cluster records it: the maps, structs and list items the create added are
    // owned themselves (`"."`); spec, template and the containers list are not.
    let upstream: serde_json::Value = serde_json::from_str(include_str!(
        "../../fixtures/kubectl-create-deployment-fieldsV1.json"
    ))
    .expect("the fixture is JSON");
    assert_eq!(entry["fieldsV1"], upstream);
}
