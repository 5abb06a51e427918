//! Deployments with the real kubectl against a whole `kubesim up` (API server,
//! controller manager, scheduler, simulated kubelets): create, rollout status, history,
//! undo, pause/resume, scale, a stalled rollout, and the events `describe` shows.

use crate::controllers_support;

use std::time::Duration;

use controllers_support::{Observer, history_rows, surge_only_deployment};
use kubesim_e2e::{Cluster, describe, eventually};

fn rollout_status(cluster: &Cluster) -> String {
    cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
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
fn create_roll_out_undo_pause_scale_with_kubectl() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=3",
    ]);
    let out = rollout_status(&cluster);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );

    // Three pods, Running and Ready on nodes, owned by the ReplicaSet web-<hash>.
    let pods = cluster.kubectl_json(&["get", "pods", "-l", "app=web", "-o", "json"]);
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{pods}");
    for pod in &items {
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
        assert!(
            pod["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| !n.is_empty()),
            "{pod}"
        );
        let hash = pod["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(
            pod["metadata"]["ownerReferences"][0]["name"],
            format!("web-{hash}"),
            "{pod}"
        );
    }

    // A second revision, then undo back to the first template as revision 3.
    // As the Kubernetes docs do it: the cause annotated after the change, so it reaches the
    // new ReplicaSet only (annotated before, it may reach the current one first).
    cluster.kubectl_ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    cluster.kubectl_ok(&[
        "annotate",
        "deployment/web",
        "kubernetes.io/change-cause=image 1.28",
    ]);
    rollout_status(&cluster);
    let history = cluster.kubectl_ok(&["rollout", "history", "deployment/web"]);
    let rows = history_rows(&history);
    assert_eq!(
        rows,
        [
            ("1".to_string(), "<none>".to_string()),
            ("2".to_string(), "image 1.28".to_string())
        ],
        "{history}"
    );

    let out = cluster.kubectl_ok(&["rollout", "undo", "deployment/web"]);
    assert!(out.contains("deployment.apps/web rolled back"), "{out}");
    rollout_status(&cluster);
    assert_eq!(image(&cluster), "nginx:1.27");
    let history = cluster.kubectl_ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<String> = history_rows(&history).into_iter().map(|(r, _)| r).collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    let rs = cluster.kubectl_json(&["get", "rs", "-l", "app=web", "-o", "json"]);
    assert_eq!(
        rs["items"].as_array().map(Vec::len),
        Some(2),
        "undo reuses the first ReplicaSet: {rs}"
    );

    // Pause: template changes wait; resume rolls them out.
    cluster.kubectl_ok(&["rollout", "pause", "deployment/web"]);
    cluster.kubectl_ok(&["set", "image", "deployment/web", "nginx=nginx:1.29"]);
    std::thread::sleep(Duration::from_millis(500));
    let rs = cluster.kubectl_json(&["get", "rs", "-l", "app=web", "-o", "json"]);
    assert_eq!(
        rs["items"].as_array().map(Vec::len),
        Some(2),
        "no rollout while paused"
    );
    let undo = cluster.kubectl(&["rollout", "undo", "deployment/web"]);
    assert!(
        !undo.status.success() && describe(&undo).contains("resume it first"),
        "{}",
        describe(&undo)
    );
    cluster.kubectl_ok(&["rollout", "resume", "deployment/web"]);
    rollout_status(&cluster);
    assert_eq!(image(&cluster), "nginx:1.29");

    // Scale.
    cluster.kubectl_ok(&["scale", "deployment/web", "--replicas=5"]);
    rollout_status(&cluster);
    eventually(Duration::from_secs(20), "5 ready", || {
        let d = cluster.kubectl_json(&["get", "deployment", "web", "-o", "json"]);
        (d["status"]["readyReplicas"] == 5).then_some(())
    });

    // The story, as describe and get events tell it.
    let story = cluster.kubectl_ok(&["describe", "deployment", "web"]);
    assert!(
        story.contains("ScalingReplicaSet")
            && story.contains("Scaled up replica set web-")
            && story.contains("from 3 to 5"),
        "{story}"
    );
    assert!(story.contains("NewReplicaSetAvailable"), "{story}");
    let events = cluster.kubectl_ok(&["get", "events"]);
    assert!(
        events.contains("SuccessfulCreate") && events.contains("Created pod: web-"),
        "{events}"
    );
}

#[test]
fn a_rollout_that_never_becomes_ready_exceeds_its_deadline() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    rollout_status(&cluster);
    // kubelet-sim: a readiness probe that never succeeds.
    let patch = r#"{"spec":{"progressDeadlineSeconds":2,"template":{"metadata":{"annotations":{"kubesim.io/ready-after":"never"}},
        "spec":{"containers":[{"name":"nginx","readinessProbe":{"httpGet":{"path":"/","port":80}}}]}}}}"#;
    cluster.kubectl_ok(&["patch", "deployment/web", "-p", patch]);
    let out = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(
        !out.status.success() && describe(&out).contains("exceeded its progress deadline"),
        "{}",
        describe(&out)
    );
    // The old pods kept serving (maxUnavailable 25% of 2 rounds down to 0).
    let d = cluster.kubectl_json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(d["status"]["availableReplicas"], 2, "{d}");
}

/// maxSurge 1, maxUnavailable 0 on the whole stack: a watch never sees fewer than 3
/// ready pods nor the ReplicaSets keeping more than 4 pods (nor one with more pods than it
/// was asked for), and the history has exactly two revisions.
#[test]
fn a_surge_only_rolling_update_keeps_every_replica_ready() {
    let cluster = Cluster::up(&[]);
    let out = cluster.kubectl_with_stdin(
        &["apply", "-f", "-"],
        Some(&surge_only_deployment("web", 3, "300ms")),
    );
    assert!(out.status.success(), "{}", describe(&out));
    rollout_status(&cluster);

    let observer = Observer::start(&cluster, "default", "app=web");
    cluster.kubectl_ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    let out = rollout_status(&cluster);
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}"
    );
    let seen = observer.seen();
    assert_eq!(
        seen.min_ready,
        Some(3),
        "ready pods dropped below 3: {seen:?}"
    );
    assert!(
        seen.max_kept <= 4,
        "the ReplicaSets kept more than replicas + maxSurge pods: {}",
        seen.max_kept
    );
    assert_eq!(seen.overshoot(), None, "{seen:?}");
    assert!(
        seen.max_rs_total <= 4,
        "ReplicaSets asked for {} pods: {:?}",
        seen.max_rs_total,
        seen.rs_sizes
    );

    let history = cluster.kubectl_ok(&["rollout", "history", "deployment/web"]);
    assert_eq!(
        history_rows(&history),
        [
            ("1".to_string(), "<none>".to_string()),
            ("2".to_string(), "<none>".to_string())
        ],
        "{history}"
    );
}

/// `kubectl create deployment --replicas=4` keeps the default strategy (maxSurge and
/// maxUnavailable 25%: 1 and 1). Through a new image the old ReplicaSet only shrinks and
/// the ReplicaSets never ask for more than replicas + maxSurge = 5 pods.
#[test]
fn a_default_rolling_update_never_scales_the_old_replica_set_up() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_ok(&[
        "create",
        "deployment",
        "r1",
        "--image=nginx",
        "--replicas=4",
    ]);
    cluster.kubectl_ok(&["rollout", "status", "deployment/r1", "--timeout=60s"]);
    let old = cluster.kubectl_ok(&[
        "get",
        "rs",
        "-l",
        "app=r1",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);

    let observer = Observer::start(&cluster, "default", "app=r1");
    for image in ["nginx:2", "nginx:3"] {
        cluster.kubectl_ok(&["set", "image", "deployment/r1", &format!("nginx={image}")]);
        cluster.kubectl_ok(&["rollout", "status", "deployment/r1", "--timeout=60s"]);
    }
    let seen = observer.seen();
    let sizes = seen.rs_sizes.get(&old).cloned().unwrap_or_default();
    assert!(
        sizes.first() == Some(&4) && sizes.windows(2).all(|w| w[1] < w[0]),
        "old ReplicaSet {old} was sized {sizes:?}: {:?}",
        seen.rs_sizes
    );
    assert!(
        seen.max_rs_total <= 5,
        "ReplicaSets asked for {} pods: {:?}",
        seen.max_rs_total,
        seen.rs_sizes
    );
    assert!(
        seen.max_kept <= 5,
        "the ReplicaSets kept {} pods at once",
        seen.max_kept
    );
    assert_eq!(seen.overshoot(), None, "{:?}", seen.rs_sizes);
    // At least 3 (replicas - maxUnavailable) stayed ready throughout.
    assert!(
        seen.min_ready.is_some_and(|n| n >= 3),
        "ready pods dropped to {:?}",
        seen.min_ready
    );
    let events = cluster.kubectl_ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=ScalingReplicaSet",
        "-o",
        "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
    ]);
    let ups: Vec<&str> = events
        .lines()
        .filter(|l| l.starts_with(&format!("Scaled up replica set {old} ")))
        .collect();
    assert_eq!(
        ups,
        [format!("Scaled up replica set {old} from 0 to 4")],
        "{events}"
    );
}

fn names(cluster: &Cluster, kind: &str, app: &str) -> Vec<String> {
    let list = cluster.kubectl_json(&["get", kind, "-l", &format!("app={app}")]);
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

/// `kubectl delete deployment` on the whole stack, with each cascade: background (the
/// Deployment goes, then its ReplicaSet and pods), foreground (kubectl returns once the
/// Deployment is gone, which is after its ReplicaSet and pods — except a pod another
/// owner still holds, which only loses the reference) and orphan (the ReplicaSet and pods
/// stay, unowned ReplicaSet, still-owned pods).
#[test]
fn kubectl_delete_deployment_cascades() {
    let cluster = Cluster::up(&[]);
    for app in ["bg", "fg", "or"] {
        cluster.kubectl_ok(&[
            "create",
            "deployment",
            app,
            "--image=nginx:1.27",
            "--replicas=2",
        ]);
    }
    for app in ["bg", "fg", "or"] {
        cluster.kubectl_ok(&[
            "rollout",
            "status",
            &format!("deployment/{app}"),
            "--timeout=60s",
        ]);
    }

    cluster.kubectl_ok(&["delete", "deployment", "bg"]);
    eventually(
        Duration::from_secs(30),
        "bg ReplicaSet and pods collected",
        || {
            (names(&cluster, "rs", "bg").is_empty() && names(&cluster, "pods", "bg").is_empty())
                .then_some(())
        },
    );

    // One fg pod is also owned by a ConfigMap.
    cluster.kubectl_ok(&["create", "configmap", "keeper"]);
    let keeper_uid = cluster.kubectl_json(&["get", "configmap", "keeper"])["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let shared = names(&cluster, "pods", "fg")[0].clone();
    let add = serde_json::json!([{"op": "add", "path": "/metadata/ownerReferences/-",
        "value": {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": keeper_uid}}]);
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        &shared,
        "--type=json",
        "-p",
        &add.to_string(),
    ]);
    cluster.kubectl_ok(&[
        "delete",
        "deployment",
        "fg",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert!(
        !cluster
            .kubectl(&["get", "deployment", "fg"])
            .status
            .success(),
        "kubectl returned before the Deployment went"
    );
    assert!(
        names(&cluster, "rs", "fg").is_empty(),
        "the ReplicaSet went before its owner"
    );
    let left = cluster.kubectl_json(&["get", "pods", "-l", "app=fg"]);
    let left: Vec<&serde_json::Value> = left["items"].as_array().into_iter().flatten().collect();
    assert_eq!(
        left.len(),
        1,
        "only the pod the ConfigMap holds stays: {left:?}"
    );
    assert_eq!(left[0]["metadata"]["name"], shared.as_str());
    assert!(
        left[0]["metadata"]["deletionTimestamp"].is_null(),
        "{:?}",
        left[0]
    );
    assert_eq!(
        left[0]["metadata"]["ownerReferences"],
        serde_json::json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": keeper_uid}])
    );

    let rs = names(&cluster, "rs", "or");
    cluster.kubectl_ok(&["delete", "deployment", "or", "--cascade=orphan"]);
    assert!(
        !cluster
            .kubectl(&["get", "deployment", "or"])
            .status
            .success()
    );
    assert_eq!(names(&cluster, "rs", "or"), rs);
    let orphan = cluster.kubectl_json(&["get", "rs", &rs[0]]);
    assert!(
        orphan["metadata"]["ownerReferences"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{orphan}"
    );
    // Its pods keep running, still the ReplicaSet's.
    std::thread::sleep(Duration::from_millis(500));
    let pods = cluster.kubectl_json(&["get", "pods", "-l", "app=or"]);
    let pods = pods["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(pods.len(), 2);
    for pod in pods {
        assert!(pod["metadata"]["deletionTimestamp"].is_null(), "{pod}");
        assert_eq!(
            pod["metadata"]["ownerReferences"][0]["name"],
            rs[0].as_str()
        );
    }
}

/// Pods the API server refuses — an image with a leading space passes the Deployment's
/// validation but not the pod's, as upstream — show in `kubectl describe` as the
/// ReplicaSet's `FailedCreate` events and as `ReplicaFailure` on the ReplicaSet and the
/// Deployment (the bare error as message); fixing the image clears it.
#[test]
fn refused_pods_show_as_replica_failure() {
    let cluster = Cluster::up(&[]);
    let bad = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: bad}}\n    spec: {containers: [{name: nginx, image: \" nginx\"}]}\n";
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(bad));
    assert!(out.status.success(), "{}", describe(&out));
    let condition = |d: &serde_json::Value| -> Option<(String, String, String)> {
        let c = d["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "ReplicaFailure")?
            .clone();
        Some((
            c["status"].as_str()?.to_string(),
            c["reason"].as_str()?.to_string(),
            c["message"].as_str()?.to_string(),
        ))
    };
    let (status, reason, message) = eventually(
        Duration::from_secs(30),
        "ReplicaFailure on the Deployment",
        || condition(&cluster.kubectl_json(&["get", "deployment", "bad"])),
    );
    assert_eq!((status.as_str(), reason.as_str()), ("True", "FailedCreate"));
    assert!(
        message.starts_with("Pod \"bad-")
            && message.contains("spec.containers[0].image")
            && message.contains("must not have leading or trailing whitespace"),
        "{message}"
    );
    let rs = cluster.kubectl_ok(&[
        "get",
        "rs",
        "-l",
        "app=bad",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert_eq!(
        condition(&cluster.kubectl_json(&["get", "rs", &rs])).map(|c| c.2),
        Some(message.clone())
    );
    let story = eventually(Duration::from_secs(10), "the FailedCreate event", || {
        let story = cluster.kubectl_ok(&["describe", "rs", &rs]);
        story.contains("FailedCreate").then_some(story)
    });
    assert!(story.contains("Error creating: Pod \"bad-"), "{story}");

    cluster.kubectl_ok(&["set", "image", "deployment/bad", "nginx=nginx:1.27"]);
    cluster.kubectl_ok(&["rollout", "status", "deployment/bad", "--timeout=60s"]);
    eventually(Duration::from_secs(30), "ReplicaFailure cleared", || {
        condition(&cluster.kubectl_json(&["get", "deployment", "bad"]))
            .is_none()
            .then_some(())
    });
}

const RECREATE: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
spec:
  replicas: 3
  strategy: {type: Recreate}
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
      annotations: {kubesim.io/stop-delay: 300ms}
    spec:
      containers:
      - name: postgres
        image: postgres:16
"#;

/// Recreate on the whole stack: every old pod is gone — terminated, not just terminating —
/// before the first new one exists, as a watch sees it.
#[test]
fn recreate_never_runs_old_and_new_pods_together() {
    let cluster = Cluster::up(&[]);
    let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(RECREATE));
    assert!(out.status.success(), "{}", describe(&out));
    cluster.kubectl_ok(&["rollout", "status", "deployment/db", "--timeout=60s"]);
    let observer = Observer::start(&cluster, "default", "app=db");
    cluster.kubectl_ok(&["set", "image", "deployment/db", "postgres=postgres:17"]);
    let out = cluster.kubectl_ok(&["rollout", "status", "deployment/db", "--timeout=60s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let seen = observer.seen();
    assert_eq!(
        seen.max_template_hashes, 1,
        "old and new pods existed together: {:?}",
        seen.ever
    );
    assert_eq!(seen.ever.len(), 6, "{:?}", seen.ever);
    let history = cluster.kubectl_ok(&["rollout", "history", "deployment/db"]);
    assert_eq!(history_rows(&history).len(), 2, "{history}");
}
