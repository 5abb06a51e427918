//! kubectl's strategic-merge-patch commands against `kubesim up --no-controllers`:
//! client-side `apply` (a three-way patch with `$setElementOrder` and deletions),
//! `patch`, `set image`, `rollout pause/resume/restart`, `edit` and `taint`.

use std::process::Command;

use kubesim_e2e::{Cluster, describe, tool};
use serde_json::{Value, json};

const MANIFEST: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: c
        image: app:1
        env:
        - name: A
          value: \"1\"
        - name: B
          value: \"2\"
        ports:
        - containerPort: 80
      - name: sidecar
        image: proxy:1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
data:
  mode: blue
";

fn apply(cluster: &Cluster, manifest: &str) -> String {
    apply_with(cluster, manifest, &["--validate=false"])
}

fn apply_with(cluster: &Cluster, manifest: &str, extra: &[&str]) -> String {
    let mut args = vec!["apply", "-f", "-"];
    args.extend(extra);
    let out = cluster.kubectl_with_stdin(&args, Some(manifest));
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn container<'a>(deployment: &'a Value, name: &str) -> &'a Value {
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("container {name} in {deployment}"))
}

#[test]
fn apply_creates_then_patches_to_match_the_manifest() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let out = apply(&cluster, MANIFEST);
    for line in [
        "deployment.apps/web created",
        "service/web created",
        "configmap/web created",
    ] {
        assert!(out.contains(line), "{out}");
    }

    // Image changed, env B removed, a port added.
    let changed = MANIFEST
        .replace("image: app:1", "image: app:2")
        .replace("        - name: B\n          value: \"2\"\n", "")
        .replace(
            "        - containerPort: 80\n",
            "        - containerPort: 80\n        - containerPort: 443\n",
        );
    let out = apply(&cluster, &changed);
    for line in [
        "deployment.apps/web configured",
        "service/web unchanged",
        "configmap/web unchanged",
    ] {
        assert!(out.contains(line), "{out}");
    }
    let deployment = cluster.kubectl_json(&["get", "deploy", "web"]);
    let c = container(&deployment, "c");
    assert_eq!(c["image"], "app:2");
    assert_eq!(c["env"], json!([{"name": "A", "value": "1"}]));
    let ports: Vec<&Value> = c["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| &p["containerPort"])
        .collect();
    assert_eq!(ports, [&json!(80), &json!(443)]);
    assert_eq!(container(&deployment, "sidecar")["image"], "proxy:1");
    let names: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["c", "sidecar"]);
    let last_applied =
        deployment["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .expect("last-applied annotation");
    assert!(
        last_applied.contains("app:2") && !last_applied.contains("\"B\""),
        "{last_applied}"
    );

    let out = apply(&cluster, &changed);
    for line in [
        "deployment.apps/web unchanged",
        "service/web unchanged",
        "configmap/web unchanged",
    ] {
        assert!(out.contains(line), "{out}");
    }

    // Another client's change survives an apply that does not mention it: the three-way
    // patch only touches what the manifest changed since the last apply. This time with
    // kubectl's default (strict) validation: no directive may be left in the object.
    cluster.kubectl_ok(&["label", "deploy", "web", "owner=ops"]);
    let again = changed
        .replace("mode: blue", "mode: green")
        .replace("image: proxy:1", "image: proxy:2");
    let out = apply_with(&cluster, &again, &[]);
    assert!(
        out.contains("configmap/web configured") && out.contains("deployment.apps/web configured"),
        "{out}"
    );
    assert_eq!(
        container(&cluster.kubectl_json(&["get", "deploy", "web"]), "sidecar")["image"],
        "proxy:2"
    );
    assert_eq!(
        cluster.kubectl_json(&["get", "cm", "web"])["data"]["mode"],
        "green"
    );
    assert_eq!(
        cluster.kubectl_json(&["get", "deploy", "web"])["metadata"]["labels"]["owner"],
        "ops"
    );
}

#[test]
fn patch_set_image_and_rollout_send_strategic_merge_patches() {
    let cluster = Cluster::up(&["--no-controllers"]);
    apply(&cluster, MANIFEST);

    // `kubectl patch` defaults to a strategic merge patch: the other container stays.
    let out = cluster.kubectl_ok(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"x"}]}}}}"#,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    let deployment = cluster.kubectl_json(&["get", "deploy", "web"]);
    assert_eq!(container(&deployment, "c")["image"], "x");
    assert_eq!(
        container(&deployment, "c")["env"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(container(&deployment, "sidecar")["image"], "proxy:1");

    let out = cluster.kubectl_ok(&["set", "image", "deploy/web", "sidecar=proxy:2"]);
    assert_eq!(out.trim(), "deployment.apps/web image updated");
    let deployment = cluster.kubectl_json(&["get", "deploy", "web"]);
    assert_eq!(
        (
            container(&deployment, "c")["image"].clone(),
            container(&deployment, "sidecar")["image"].clone()
        ),
        (json!("x"), json!("proxy:2"))
    );

    assert_eq!(
        cluster
            .kubectl_ok(&["rollout", "pause", "deploy/web"])
            .trim(),
        "deployment.apps/web paused"
    );
    assert_eq!(
        cluster.kubectl_json(&["get", "deploy", "web"])["spec"]["paused"],
        true
    );
    assert_eq!(
        cluster
            .kubectl_ok(&["rollout", "resume", "deploy/web"])
            .trim(),
        "deployment.apps/web resumed"
    );
    assert!(cluster.kubectl_json(&["get", "deploy", "web"])["spec"]["paused"] != true);
    assert_eq!(
        cluster
            .kubectl_ok(&["rollout", "restart", "deploy/web"])
            .trim(),
        "deployment.apps/web restarted"
    );
    let deployment = cluster.kubectl_json(&["get", "deploy", "web"]);
    assert!(deployment["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"].is_string(), "{deployment}");
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[test]
fn edit_sends_the_change_as_a_strategic_merge_patch() {
    let cluster = Cluster::up(&["--no-controllers"]);
    apply(&cluster, MANIFEST);
    // kubectl runs the editor through a shell with the file appended.
    let out = Command::new(tool("KUBESIM_KUBECTL", ".tools/bin/kubectl"))
        .args(["edit", "configmap", "web"])
        .env("KUBECONFIG", &cluster.kubeconfig)
        .env("KUBE_EDITOR", "sed -i s/mode:\\ blue/mode:\\ red/")
        .output()
        .expect("kubectl edit");
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "configmap/web edited"
    );
    assert_eq!(
        cluster.kubectl_json(&["get", "cm", "web"])["data"]["mode"],
        "red"
    );
}

#[test]
fn taint_and_untaint_a_node() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let node = "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nspec:\n  taints:\n  - key: existing\n    effect: NoSchedule\n";
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-", "--validate=false"], Some(node));
    assert!(out.status.success(), "{}", describe(&out));

    assert_eq!(
        cluster
            .kubectl_ok(&["taint", "nodes", "n1", "dedicated=db:NoExecute"])
            .trim(),
        "node/n1 tainted"
    );
    let keys = |cluster: &Cluster| -> Vec<String> {
        let node = cluster.kubectl_json(&["get", "node", "n1"]);
        node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["key"].as_str().map(String::from))
            .collect()
    };
    // kubectl sends the whole new list (taints have no merge strategy), new taint first;
    // the server's own `node.kubernetes.io/not-ready` taint, set at creation, stays.
    let tainted = keys(&cluster);
    assert_eq!(
        tainted.first().map(String::as_str),
        Some("dedicated"),
        "{tainted:?}"
    );
    assert!(tainted.iter().any(|k| k == "existing"), "{tainted:?}");

    assert_eq!(
        cluster
            .kubectl_ok(&["taint", "nodes", "n1", "existing:NoSchedule-"])
            .trim(),
        "node/n1 untainted"
    );
    let untainted = keys(&cluster);
    assert_eq!(
        untainted,
        tainted
            .iter()
            .filter(|k| *k != "existing")
            .cloned()
            .collect::<Vec<_>>()
    );

    // A taint that is already there is refused by kubectl without a request.
    let out = cluster.kubectl(&["taint", "nodes", "n1", "dedicated=db:NoExecute"]);
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn diff_shows_only_what_the_manifest_changes() {
    let cluster = Cluster::up(&["--no-controllers"]);
    // Created without `apply`: no last-applied annotation, so kubectl's patch carries
    // `annotations: {}`, which upstream's encoder leaves out of what it would store.
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(MANIFEST));
    assert!(out.status.success(), "{}", describe(&out));
    // Values Go leaves out when empty (`args: []`, `hostNetwork: false`) are no change.
    let changed = MANIFEST
        .replace("image: app:1", "image: app:2\n        args: []")
        .replace(
            "    spec:\n      containers:",
            "    spec:\n      hostNetwork: false\n      containers:",
        )
        .replace("mode: blue", "mode: red");
    let out = cluster.kubectl_with_stdin(&["diff", "-f", "-"], Some(&changed));
    // kubectl diff exits 1 when there are differences.
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let diff = String::from_utf8_lossy(&out.stdout);
    let changes: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(
        changes,
        [
            "-  generation: 1",
            "+  generation: 2",
            "-        image: app:1",
            "+        image: app:2",
            "-  mode: blue",
            "+  mode: red",
        ],
        "{diff}"
    );
}
