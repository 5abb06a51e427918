//! Deployments with the real kubectl against a whole `kubesim up` (API server,
//! controller manager, scheduler, simulated kubelets): create, rollout status, history,
//! undo, pause/resume, scale, a stalled rollout, and the events `describe` shows.

use std::time::Duration;

use kubesim_e2e::{Cluster, describe, eventually};

fn rollout_status(cluster: &Cluster) -> String {
    cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"])
}

fn image(cluster: &Cluster) -> String {
    cluster.kubectl_ok(&["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"])
}

#[test]
fn create_roll_out_undo_pause_scale_with_kubectl() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_ok(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=3"]);
    let out = rollout_status(&cluster);
    assert!(out.contains("deployment \"web\" successfully rolled out"), "{out}");

    // Three pods, Running and Ready on nodes, owned by the ReplicaSet web-<hash>.
    let pods = cluster.kubectl_json(&["get", "pods", "-l", "app=web", "-o", "json"]);
    let items = pods["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{pods}");
    for pod in &items {
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
        assert!(pod["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()), "{pod}");
        let hash = pod["metadata"]["labels"]["pod-template-hash"].as_str().unwrap_or_default();
        assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], format!("web-{hash}"), "{pod}");
    }

    // A second revision, then undo back to the first template as revision 3.
    cluster.kubectl_ok(&["annotate", "deployment/web", "kubernetes.io/change-cause=image 1.28"]);
    cluster.kubectl_ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    rollout_status(&cluster);
    let history = cluster.kubectl_ok(&["rollout", "history", "deployment/web"]);
    assert!(history.contains("1 ") && history.contains("2         image 1.28"), "{history}");

    let out = cluster.kubectl_ok(&["rollout", "undo", "deployment/web"]);
    assert!(out.contains("deployment.apps/web rolled back"), "{out}");
    rollout_status(&cluster);
    assert_eq!(image(&cluster), "nginx:1.27");
    let history = cluster.kubectl_ok(&["rollout", "history", "deployment/web"]);
    let revisions: Vec<&str> = history.lines().skip(2).filter_map(|l| l.split_whitespace().next()).collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    let rs = cluster.kubectl_json(&["get", "rs", "-l", "app=web", "-o", "json"]);
    assert_eq!(rs["items"].as_array().map(Vec::len), Some(2), "undo reuses the first ReplicaSet: {rs}");

    // Pause: template changes wait; resume rolls them out.
    cluster.kubectl_ok(&["rollout", "pause", "deployment/web"]);
    cluster.kubectl_ok(&["set", "image", "deployment/web", "nginx=nginx:1.29"]);
    std::thread::sleep(Duration::from_millis(500));
    let rs = cluster.kubectl_json(&["get", "rs", "-l", "app=web", "-o", "json"]);
    assert_eq!(rs["items"].as_array().map(Vec::len), Some(2), "no rollout while paused");
    let undo = cluster.kubectl(&["rollout", "undo", "deployment/web"]);
    assert!(!undo.status.success() && describe(&undo).contains("resume it first"), "{}", describe(&undo));
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
    assert!(story.contains("ScalingReplicaSet") && story.contains("Scaled up replica set web-") && story.contains("from 3 to 5"), "{story}");
    assert!(story.contains("NewReplicaSetAvailable"), "{story}");
    let events = cluster.kubectl_ok(&["get", "events"]);
    assert!(events.contains("SuccessfulCreate") && events.contains("Created pod: web-"), "{events}");
}

#[test]
fn a_rollout_that_never_becomes_ready_exceeds_its_deadline() {
    let cluster = Cluster::up(&[]);
    cluster.kubectl_ok(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"]);
    rollout_status(&cluster);
    // kubelet-sim: a readiness probe that never succeeds.
    let patch = r#"{"spec":{"progressDeadlineSeconds":2,"template":{"metadata":{"annotations":{"kubesim.io/ready-after":"never"}},
        "spec":{"containers":[{"name":"nginx","readinessProbe":{"httpGet":{"path":"/","port":80}}}]}}}}"#;
    cluster.kubectl_ok(&["patch", "deployment/web", "-p", patch]);
    let out = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"]);
    assert!(!out.status.success() && describe(&out).contains("exceeded its progress deadline"), "{}", describe(&out));
    // The old pods kept serving (maxUnavailable 25% of 2 rounds down to 0).
    let d = cluster.kubectl_json(&["get", "deployment", "web", "-o", "json"]);
    assert_eq!(d["status"]["availableReplicas"], 2, "{d}");
}
