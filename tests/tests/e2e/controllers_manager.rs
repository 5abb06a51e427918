//! The controller manager as its own process, `kubesim controller-manager --server URL`,
//! against a cluster of API server, scheduler and simulated kubelets: killed mid-rollout
//! and started again it converges to the same end state with no extra pods, as
//! kube-controller-manager does after a crash; and an unknown `--controllers` name stops
//! it from starting, as upstream's validation does.

use crate::controllers_support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use controllers_support::{Observer, surge_only_deployment};
use kubesim_e2e::{Cluster, describe, eventually};

/// The `kubesim` command as a process of its own (tests/src/bin/kubesim-for-tests.rs).
const KUBESIM: &str = env!("CARGO_BIN_EXE_kubesim-for-tests");

struct ControllerManager(Child);

impl ControllerManager {
    fn start(cluster: &Cluster) -> ControllerManager {
        let child = Command::new(KUBESIM)
            .args(["controller-manager", "--server", &cluster.url])
            .env(
                "RUST_LOG",
                std::env::var("KUBESIM_CM_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("kubesim controller-manager");
        ControllerManager(child)
    }

    /// SIGKILL: no chance to finish anything.
    fn kill(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ControllerManager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_controller_manager_killed_mid_rollout_converges_without_extra_pods() {
    let cluster = Cluster::up(&["--no-controllers"]);
    let manager = ControllerManager::start(&cluster);
    let out = cluster.kubectl_with_stdin(
        &["apply", "-f", "-"],
        Some(&surge_only_deployment("web", 5, "500ms")),
    );
    assert!(out.status.success(), "{}", describe(&out));
    cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);

    let observer = Observer::start(&cluster, "default", "app=web");
    cluster.kubectl_ok(&["set", "image", "deployment/web", "nginx=nginx:1.28"]);
    // Mid-rollout: the new ReplicaSet has pods, the old one still has most.
    eventually(Duration::from_secs(30), "the rollout under way", || {
        let seen = observer.seen();
        let new_rs_started = seen
            .rs_sizes
            .values()
            .any(|sizes| sizes.first() == Some(&1));
        new_rs_started.then_some(())
    });
    manager.kill();
    std::thread::sleep(Duration::from_millis(300));
    let _manager = ControllerManager::start(&cluster);

    let out = cluster.kubectl_ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let pods = cluster.kubectl_json(&["get", "pods", "-l", "app=web"]);
    let live: Vec<&serde_json::Value> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .collect();
    assert_eq!(live.len(), 5, "{pods}");
    assert!(
        live.iter()
            .all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.28"),
        "{pods}"
    );
    let seen = observer.seen();
    // Every pod there ever was: the 5 old ones and 5 new ones, no more.
    assert_eq!(seen.ever.len(), 10, "pods ever seen: {:?}", seen.ever);
    assert!(
        seen.max_rs_total <= 6,
        "ReplicaSets asked for {} pods: {:?}",
        seen.max_rs_total,
        seen.rs_sizes
    );
    assert_eq!(
        cluster.kubectl_json(&["get", "rs", "-l", "app=web"])["items"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

/// Upstream's endpoints controller deletes the Endpoints of every Service that goes,
/// hand-written ones of a Service without a selector too, and when it starts, every
/// Endpoints without a Service (but a leader-election record's); Endpoints written for
/// no Service while it runs stay.
#[test]
fn endpoints_go_with_their_service_and_orphans_go_when_the_controllers_start() {
    let cluster = Cluster::up(&["--no-controllers", "--no-kubelet", "--no-scheduler"]);
    let apply = |yaml: &str| {
        let out = cluster.kubectl_with_stdin(&["apply", "-f", "-"], Some(yaml));
        assert!(out.status.success(), "{}", describe(&out));
    };
    let endpoints = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: Endpoints\nmetadata: {{name: {name}, annotations: {{{annotations}}}}}\nsubsets: [{{addresses: [{{ip: 192.0.2.10}}], ports: [{{port: 5432}}]}}]\n"
        )
    };
    let exists = |name: &str| {
        cluster
            .kubectl(&["get", "endpoints", name])
            .status
            .success()
    };
    // Before the controller manager starts: a Service without a selector and its
    // hand-written Endpoints, an orphan, and an orphan holding a leader-election record.
    apply("apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {ports: [{port: 5432}]}\n");
    apply(&endpoints("db", ""));
    apply(&endpoints("orphan", ""));
    apply(&endpoints(
        "old-lock",
        r#"control-plane.alpha.kubernetes.io/leader: '{"holderIdentity":"x"}'"#,
    ));
    let _manager = ControllerManager::start(&cluster);
    eventually(
        Duration::from_secs(20),
        "the orphan deleted at start",
        || (!exists("orphan")).then_some(()),
    );
    assert!(exists("db") && exists("old-lock") && exists("kubernetes"));

    // While it runs: Endpoints for no Service stay; a deleted Service's go.
    apply(&endpoints("written-first", ""));
    cluster.kubectl_ok(&["delete", "service", "db"]);
    eventually(
        Duration::from_secs(10),
        "the deleted Service's endpoints",
        || (!exists("db")).then_some(()),
    );
    assert!(exists("written-first") && exists("old-lock"));
    // Written again under the gone Service's name, they stay too: seen once another
    // Service's deletion has been handled after it.
    apply(&endpoints("db", ""));
    apply(
        "apiVersion: v1\nkind: Service\nmetadata: {name: cache}\nspec: {ports: [{port: 6379}]}\n",
    );
    apply(&endpoints("cache", ""));
    cluster.kubectl_ok(&["delete", "service", "cache"]);
    eventually(Duration::from_secs(10), "cache's endpoints", || {
        (!exists("cache")).then_some(())
    });
    assert!(exists("db"));
}

#[test]
fn an_unknown_controller_name_is_refused() {
    let out = Command::new(KUBESIM)
        .args([
            "controller-manager",
            "--server",
            "http://127.0.0.1:9",
            "--controllers",
            "*,-deployments",
        ])
        .output()
        .expect("kubesim controller-manager");
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"deployments\" is not in the list of known controllers"),
        "{stderr}"
    );
}
