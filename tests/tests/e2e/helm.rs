//! Helm 4 (which installs with server-side apply) against `kubesim up`.

use std::process::Command;

use kubesim_e2e::{Cluster, describe, tool};

fn helm(cluster: &Cluster, args: &[&str]) -> String {
    let out = Command::new(tool("KUBESIM_HELM", ".tools/bin/helm"))
        .args(args)
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("HELM_CACHE_HOME", cluster.dir.join("helm-cache"))
        .env("HELM_CONFIG_HOME", cluster.dir.join("helm-config"))
        .env("HELM_DATA_HOME", cluster.dir.join("helm-data"))
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}",
        describe(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn chart() -> String {
    format!("{}/charts/web", env!("CARGO_MANIFEST_DIR"))
}

fn image(cluster: &Cluster) -> String {
    cluster.kubectl_ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ])
}

#[test]
fn install_list_upgrade_rollback_uninstall() {
    let cluster = Cluster::up(&[]);
    let chart = chart();
    let out = helm(&cluster, &["install", "web", &chart]);
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert_eq!(image(&cluster), "nginx:1.27");
    let objects = cluster.kubectl_ok(&["get", "deployment,service,configmap", "-o", "name"]);
    for name in ["deployment.apps/web", "service/web", "configmap/web-config"] {
        assert!(objects.contains(name), "{name} in {objects}");
    }
    // Installed with server-side apply: helm owns the fields it applied; the only other
    // writer is the deployment controller (status, revision), as on a real cluster.
    let managed = cluster.kubectl_json(&["get", "deployment", "web", "--show-managed-fields"]);
    let entries: Vec<(String, String)> = managed["metadata"]["managedFields"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| {
                    (
                        e["manager"].as_str().unwrap_or("").to_string(),
                        e["operation"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let is =
        |(manager, operation): &(String, String), m: &str, o: &str| manager == m && operation == o;
    assert!(
        entries.iter().any(|e| is(e, "helm", "Apply")),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| is(e, "helm", "Apply") || is(e, "kube-controller-manager", "Update")),
        "{entries:?}"
    );

    let list = helm(&cluster, &["list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with("web") && l.contains("deployed") && l.contains("web-0.1.0")),
        "{list}"
    );

    let out = helm(
        &cluster,
        &[
            "upgrade",
            "web",
            &chart,
            "--set",
            "image=nginx:1.28",
            "--set",
            "greeting=bonjour",
        ],
    );
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert_eq!(image(&cluster), "nginx:1.28");
    assert_eq!(
        cluster.kubectl_ok(&[
            "get",
            "configmap",
            "web-config",
            "-o",
            "jsonpath={.data.greeting}"
        ]),
        "bonjour"
    );

    let out = helm(&cluster, &["rollback", "web", "1"]);
    assert!(out.contains("Rollback was a success"), "{out}");
    assert_eq!(image(&cluster), "nginx:1.27");
    let history = helm(&cluster, &["history", "web"]);
    assert!(history.contains("Rollback to 1"), "{history}");

    // Release records are Secrets, as Helm stores them.
    let secrets = cluster.kubectl_ok(&["get", "secrets", "-l", "owner=helm,name=web", "-o", "jsonpath={range .items[*]}{.metadata.name} {.type} {.metadata.labels.status}{\"\\n\"}{end}"]);
    assert_eq!(
        secrets.lines().collect::<Vec<_>>(),
        [
            "sh.helm.release.v1.web.v1 helm.sh/release.v1 superseded",
            "sh.helm.release.v1.web.v2 helm.sh/release.v1 superseded",
            "sh.helm.release.v1.web.v3 helm.sh/release.v1 deployed",
        ]
    );

    let out = helm(&cluster, &["uninstall", "web"]);
    assert!(out.contains("release \"web\" uninstalled"), "{out}");
    let left = cluster.kubectl_ok(&["get", "deployment,service,configmap,secret", "-o", "name"]);
    assert_eq!(
        left.trim(),
        "service/kubernetes\nconfigmap/kube-root-ca.crt",
        "everything of the release is gone; the cluster's own Service and CA bundle stay"
    );
}
