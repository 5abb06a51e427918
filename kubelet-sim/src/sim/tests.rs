use super::*;
use serde_json::json;

fn pod(v: serde_json::Value) -> Pod {
    let mut v = v;
    v["metadata"]["name"] = json!("p");
    v["metadata"]["namespace"] = json!("default");
    v["metadata"]["uid"] = json!("u1");
    serde_json::from_value(v).unwrap()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn status_at(sim: &mut PodSim, p: &Pod, t: Duration) -> PodStatus {
    sim.step(t);
    sim.status(p, &Clock::new(1.0), t, "10.0.0.1", "10.244.0.5")
}

fn condition(s: &PodStatus, type_: &str) -> (String, Option<String>) {
    let c = s.conditions.iter().flatten().find(|c| c.type_ == type_).unwrap();
    (c.status.clone(), c.reason.clone())
}

fn state(s: &ContainerStatus) -> &'static str {
    let st = s.state.as_ref().unwrap();
    if st.running.is_some() {
        "running"
    } else if st.terminated.is_some() {
        "terminated"
    } else {
        "waiting"
    }
}

#[test]
fn backoff_doubles_from_10s_to_5m() {
    let got: Vec<u64> = (0..8).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(got, vec![0, 10, 20, 40, 80, 160, 300, 300]);
}

#[test]
fn plain_pod_goes_pending_then_running_and_ready() {
    let p = pod(json!({"metadata": {"annotations": {"kubesim.io/startup-delay": "2s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    let s = status_at(&mut sim, &p, secs(1));
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("ContainerCreating"));
    assert_eq!(c.image, "docker.io/library/nginx:1.27");
    assert_eq!(c.image_id, "");
    assert_eq!(condition(&s, "Ready"), ("False".into(), Some("ContainersNotReady".into())));
    assert_eq!(condition(&s, "PodReadyToStartContainers").0, "True");
    assert_eq!(condition(&s, "PodScheduled").0, "True");
    assert_eq!(sim.next_event(secs(0)), Some(secs(2)));

    let s = status_at(&mut sim, &p, secs(2));
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert!(c.ready && c.started == Some(true));
    assert_eq!(sim.next_event(secs(2)), None);
    assert!(c.image_id.starts_with("docker.io/library/nginx@sha256:"));
    assert!(c.container_id.as_deref().unwrap().starts_with("containerd://"));
    assert_eq!(condition(&s, "Ready").0, "True");
    assert_eq!(condition(&s, "ContainersReady").0, "True");
    let types: Vec<&str> = s.conditions.iter().flatten().map(|c| c.type_.as_str()).collect();
    assert_eq!(types, ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]);
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
}

#[test]
fn init_containers_run_in_order_first() {
    let p = pod(json!({"spec": {
        "initContainers": [{"name": "a", "image": "busybox", "command": ["sleep", "2"]}, {"name": "b", "image": "busybox", "command": ["sleep", "3"]}],
        "containers": [{"name": "web", "image": "nginx"}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    let s = status_at(&mut sim, &p, secs(1));
    let init = s.init_container_statuses.clone().unwrap();
    assert_eq!((state(&init[0]), state(&init[1])), ("running", "waiting"));
    assert_eq!(condition(&s, "Initialized"), ("False".into(), Some("ContainersNotInitialized".into())));
    assert_eq!(
        s.conditions.iter().flatten().find(|c| c.type_ == "Initialized").unwrap().message.as_deref(),
        Some("containers with incomplete status: [a b]")
    );
    assert_eq!(s.container_statuses.as_ref().unwrap()[0].state.as_ref().unwrap().waiting.as_ref().unwrap().reason.as_deref(), Some("PodInitializing"));
    let s = status_at(&mut sim, &p, secs(3));
    let init = s.init_container_statuses.clone().unwrap();
    assert_eq!((state(&init[0]), state(&init[1])), ("terminated", "running"));
    assert!(init[0].ready);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let s = status_at(&mut sim, &p, secs(5));
    assert_eq!(condition(&s, "Initialized").0, "True");
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(state(&s.container_statuses.as_ref().unwrap()[0]), "running");
}

#[test]
fn readiness_probe_gates_ready() {
    let p = pod(json!({"metadata": {"annotations": {"kubesim.io/ready-after": "12s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx",
            "readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10, "successThreshold": 2, "httpGet": {"port": 80}}}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    let s = status_at(&mut sim, &p, secs(24));
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert!(!s.container_statuses.as_ref().unwrap()[0].ready);
    assert_eq!(condition(&s, "Ready").0, "False");
    let s = status_at(&mut sim, &p, secs(25));
    assert!(s.container_statuses.as_ref().unwrap()[0].ready);
    assert_eq!(condition(&s, "Ready").0, "True");
}

#[test]
fn liveness_failure_restarts_the_container() {
    let p = pod(json!({"metadata": {"annotations": {"kubesim.io/liveness-fail-after": "10s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx",
            "livenessProbe": {"periodSeconds": 5, "failureThreshold": 2, "exec": {"command": ["true"]}}}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    // Probes at 0, 5, 10 (first failure), 15 (second: killed); restarted at once.
    let s = status_at(&mut sim, &p, secs(14));
    assert_eq!(s.container_statuses.as_ref().unwrap()[0].restart_count, 0);
    let s = status_at(&mut sim, &p, secs(15));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 1);
    assert_eq!(state(c), "running");
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.exit_code, last.reason.as_deref()), (137, Some("Error")));
}

#[test]
fn crash_loop_backs_off_10s_doubling() {
    let p = pod(json!({"spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    // Crash 1 at 0 → restart at once; crash 2 at 0 → back-off 10s; crash 3 at 10 → 20s; crash 4 at 30.
    let s = status_at(&mut sim, &p, secs(0));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 1);
    let waiting = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(waiting.message.as_deref(), Some("back-off 10s restarting failed container=c pod=p_default(u1)"));
    assert_eq!(c.last_state.as_ref().unwrap().terminated.as_ref().unwrap().exit_code, 3);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(sim.next_event(secs(0)), Some(secs(10)));
    let s = status_at(&mut sim, &p, secs(10));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 2);
    assert!(c.state.as_ref().unwrap().waiting.as_ref().unwrap().message.as_deref().unwrap().starts_with("back-off 20s"));
    assert_eq!(sim.next_event(secs(10)), Some(secs(30)));
}

#[test]
fn sleep_2_with_restart_never_succeeds() {
    let p = pod(json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "2"]}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    assert_eq!(status_at(&mut sim, &p, secs(1)).phase.as_deref(), Some("Running"));
    let s = status_at(&mut sim, &p, secs(2));
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    let t = s.container_statuses.as_ref().unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(condition(&s, "Ready"), ("False".into(), Some("PodCompleted".into())));
    assert_eq!(condition(&s, "PodReadyToStartContainers").0, "False");
    assert!(sim.is_terminal());
}

#[test]
fn exit_3_fails_and_on_failure_restarts() {
    let never = pod(json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}));
    let mut sim = PodSim::new(&never, secs(0)).unwrap();
    let s = status_at(&mut sim, &never, secs(0));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.container_statuses.as_ref().unwrap()[0].state.clone().unwrap().terminated.unwrap().exit_code, 3);
    assert_eq!(condition(&s, "Ready").1.as_deref(), Some("PodFailed"));
    let on_failure = pod(json!({"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}));
    let mut sim = PodSim::new(&on_failure, secs(0)).unwrap();
    assert_eq!(status_at(&mut sim, &on_failure, secs(0)).phase.as_deref(), Some("Running"));
}

#[test]
fn memory_growth_past_the_limit_is_oom_killed() {
    let p = pod(json!({"metadata": {"annotations": {"kubesim.io/memory": "10Mi", "kubesim.io/memory-growth": "10Mi"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "app", "resources": {"limits": {"memory": "50Mi"}}}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    sim.step(secs(2));
    assert_eq!(sim.usage(secs(2))[0].2, 30 * 1024 * 1024);
    let s = status_at(&mut sim, &p, secs(4));
    let t = s.container_statuses.as_ref().unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.qos_class.as_deref(), Some("Burstable"));
}

#[test]
fn termination_honours_pre_stop_and_grace() {
    let p = pod(json!({"metadata": {"annotations": {"kubesim.io/stop-delay": "2s"}},
        "spec": {"containers": [{"name": "c", "image": "app", "lifecycle": {"preStop": {"exec": {"command": ["sleep", "3"]}}}}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    sim.step(secs(1));
    sim.terminate(secs(10), secs(30));
    let s = status_at(&mut sim, &p, secs(14));
    assert_eq!(state(&s.container_statuses.as_ref().unwrap()[0]), "running");
    assert!(!s.container_statuses.as_ref().unwrap()[0].ready);
    let s = status_at(&mut sim, &p, secs(15));
    let t = s.container_statuses.as_ref().unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!(t.exit_code, 0);
    assert!(sim.all_stopped());
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));

    // A grace period shorter than the stop: killed when it runs out.
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    sim.step(secs(1));
    sim.terminate(secs(10), secs(1));
    let s = status_at(&mut sim, &p, secs(11));
    let t = s.container_statuses.as_ref().unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!(t.exit_code, 137);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
}

#[test]
fn active_deadline_fails_the_pod() {
    let p = pod(json!({"spec": {"activeDeadlineSeconds": 5, "containers": [{"name": "c", "image": "app"}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    assert_eq!(sim.next_event(secs(0)), Some(secs(5)));
    let s = status_at(&mut sim, &p, secs(6));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.reason.as_deref(), Some("DeadlineExceeded"));
}

#[test]
fn node_restart_restarts_containers() {
    let p = pod(json!({"spec": {"containers": [{"name": "c", "image": "app"}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    sim.step(secs(1));
    sim.node_restarted(secs(2));
    let s = status_at(&mut sim, &p, secs(2));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 1);
    assert_eq!(c.last_state.as_ref().unwrap().terminated.as_ref().unwrap().reason.as_deref(), Some("Unknown"));
}

#[test]
fn logs_record_start_output_and_exit() {
    let p = pod(json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hello; sleep 1; exit 2"]}]}}));
    let mut sim = PodSim::new(&p, secs(0)).unwrap();
    sim.step(secs(5));
    let texts: Vec<&str> = sim.logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["Started container c (image docker.io/library/busybox:latest)", "hello", "Exited with code 2"]);
}

#[test]
fn images_are_reported_as_the_runtime_does() {
    assert_eq!(image_ref("nginx"), "docker.io/library/nginx:latest");
    assert_eq!(image_ref("bitnami/redis:7"), "docker.io/bitnami/redis:7");
    assert_eq!(image_ref("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
    assert_eq!(image_ref("localhost:5000/app"), "localhost:5000/app:latest");
}
