//! The real kubectl (v1.35) reading kubesim's discovery and OpenAPI: `api-resources`,
//! `explain`, default (`--validate=strict`) creates and applies, and the server-side field
//! validation they rely on.

use kubesim_e2e::{Cluster, describe};

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
";

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: nginx
    image: nginx:1.27
";

#[test]
fn api_resources_lists_every_resource() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let out = cluster.kubectl_ok(&["api-resources", "--no-headers"]);
    // NAME [SHORTNAMES] APIVERSION NAMESPACED KIND
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let row = |name: &str, version: &str| {
        rows.iter()
            .find(|r| r[0] == name && r.contains(&version))
            .cloned()
    };
    for info in kubesim_apimachinery_builtins() {
        // kubectl lists each group at its preferred version only.
        if info.group == "autoscaling" && info.version == "v1" {
            continue;
        }
        let api_version = if info.group.is_empty() {
            info.version.clone()
        } else {
            format!("{}/{}", info.group, info.version)
        };
        let found = row(&info.plural, &api_version)
            .unwrap_or_else(|| panic!("{} {api_version} missing from:\n{out}", info.plural));
        let mut expected = vec![info.plural.clone()];
        if !info.short_names.is_empty() {
            expected.push(info.short_names.join(","));
        }
        expected.extend([api_version, info.namespaced.to_string(), info.kind.clone()]);
        assert_eq!(found, expected, "{out}");
    }
    let namespaced = cluster.kubectl_ok(&["api-resources", "--namespaced=false", "-o", "name"]);
    assert!(namespaced.lines().any(|l| l == "nodes"), "{namespaced}");
    assert!(!namespaced.lines().any(|l| l == "pods"), "{namespaced}");
}

/// The built-in resources, as the registry has them.
fn kubesim_apimachinery_builtins() -> Vec<kubesim_apimachinery::ResourceInfo> {
    kubesim_apimachinery::registry::builtins()
}

#[test]
fn explain_prints_upstream_documentation() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let out = cluster.kubectl_ok(&["explain", "deployment.spec.strategy"]);
    for expected in [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
        "FIELD: strategy <DeploymentStrategy>",
        "The deployment strategy to use to replace existing pods with new ones.",
        "rollingUpdate\t<RollingUpdateDeployment>",
        "type\t<string>",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
    let out = cluster.kubectl_ok(&["explain", "pod.spec.containers"]);
    for expected in [
        "KIND:       Pod",
        "VERSION:    v1",
        "FIELD: containers <[]Container>",
        "List of containers belonging to the pod.",
        "image\t<string>",
        "name\t<string> -required-",
        "resources\t<ResourceRequirements>",
    ] {
        assert!(out.contains(expected), "{expected:?} in:\n{out}");
    }
    let out = cluster.kubectl_ok(&["explain", "hpa.spec.metrics"]);
    assert!(
        out.contains("GROUP:      autoscaling") && out.contains("VERSION:    v2"),
        "{out}"
    );
    let out = cluster.kubectl(&["explain", "pod.spec.nope"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("field \"nope\" does not exist"),
        "{}",
        describe(&out)
    );
}

#[test]
fn create_and_apply_validate_on_the_server() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(POD));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "pod/web created"
    );

    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "deployment.apps/web created"
    );
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(DEPLOYMENT));
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "deployment.apps/web unchanged"
    );

    // A typo fails under the default validation with upstream's message...
    let typo = DEPLOYMENT
        .replace("name: web\n", "name: typo\n")
        .replace("replicas: 2", "replica: 2");
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(&typo));
    assert!(!out.status.success(), "{}", describe(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (BadRequest): error when creating \"STDIN\": Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.replica\""
    );
    // ...is a warning with --validate=warn, and silently dropped with --validate=false.
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-", "--validate=warn"], Some(&typo));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Warning: unknown field \"spec.replica\""),
        "{}",
        describe(&out)
    );
    cluster.kubectl_ok(&["delete", "deployment", "typo"]);
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-", "--validate=false"], Some(&typo));
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Warning"),
        "{}",
        describe(&out)
    );
}

#[test]
fn raw_openapi_lists_group_versions() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let root: serde_json::Value =
        serde_json::from_str(&cluster.kubectl_ok(&["get", "--raw", "/openapi/v3"])).expect("JSON");
    let paths = root["paths"].as_object().expect("paths");
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/autoscaling/v2",
    ] {
        assert!(paths.contains_key(gv), "{gv} in {paths:?}");
    }
}
