use super::*;
use serde_json::json;
use std::collections::HashSet;

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
    let c = s
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
        .unwrap();
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
fn plain_pod_goes_pending_then_running_and_ready() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/startup-delay": "2s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    let s = status_at(&mut sim, &p, secs(1));
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        c.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("ContainerCreating")
    );
    assert_eq!(c.image, "docker.io/library/nginx:1.27");
    assert_eq!(c.image_id, "");
    assert_eq!(
        condition(&s, "Ready"),
        ("False".into(), Some("ContainersNotReady".into()))
    );
    assert_eq!(condition(&s, "PodReadyToStartContainers").0, "True");
    assert_eq!(condition(&s, "PodScheduled").0, "True");
    assert_eq!(sim.next_event(secs(0)), Some(secs(2)));

    let s = status_at(&mut sim, &p, secs(2));
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert!(c.ready && c.started == Some(true));
    assert_eq!(sim.next_event(secs(2)), None);
    assert!(c.image_id.starts_with("docker.io/library/nginx@sha256:"));
    assert!(
        c.container_id
            .as_deref()
            .unwrap()
            .starts_with("containerd://")
    );
    assert_eq!(condition(&s, "Ready").0, "True");
    assert_eq!(condition(&s, "ContainersReady").0, "True");
    let types: Vec<&str> = s
        .conditions
        .iter()
        .flatten()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
}

#[test]
fn init_containers_run_in_order_first() {
    let p = pod(json!({"spec": {
        "initContainers": [{"name": "a", "image": "busybox", "command": ["sleep", "2"]}, {"name": "b", "image": "busybox", "command": ["sleep", "3"]}],
        "containers": [{"name": "web", "image": "nginx"}]}}));
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    let s = status_at(&mut sim, &p, secs(1));
    let init = s.init_container_statuses.clone().unwrap();
    assert_eq!((state(&init[0]), state(&init[1])), ("running", "waiting"));
    assert_eq!(
        condition(&s, "Initialized"),
        ("False".into(), Some("ContainersNotInitialized".into()))
    );
    assert_eq!(
        s.conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Initialized")
            .unwrap()
            .message
            .as_deref(),
        Some("containers with incomplete status: [a b]")
    );
    assert_eq!(
        s.container_statuses.as_ref().unwrap()[0]
            .state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("PodInitializing")
    );
    let s = status_at(&mut sim, &p, secs(3));
    let init = s.init_container_statuses.clone().unwrap();
    assert_eq!(
        (state(&init[0]), state(&init[1])),
        ("terminated", "running")
    );
    assert!(init[0].ready);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let s = status_at(&mut sim, &p, secs(5));
    assert_eq!(condition(&s, "Initialized").0, "True");
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(state(&s.container_statuses.as_ref().unwrap()[0]), "running");
}

#[test]
fn readiness_probe_gates_ready() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/ready-after": "12s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx",
            "readinessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10, "successThreshold": 2, "httpGet": {"port": 80}}}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
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
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/liveness-fail-after": "10s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx",
            "livenessProbe": {"periodSeconds": 5, "failureThreshold": 2, "exec": {"command": ["true"]}}}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    // Probes at 0, 5, 10 (first failure), 15 (second: killed); restarted at once.
    let s = status_at(&mut sim, &p, secs(14));
    assert_eq!(s.container_statuses.as_ref().unwrap()[0].restart_count, 0);
    let s = status_at(&mut sim, &p, secs(15));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 1);
    assert_eq!(state(c), "running");
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (137, Some("Error"))
    );
}

#[test]
fn crash_loop_backs_off_10s_doubling() {
    let p = pod(
        json!({"spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    // Crash 1 at 0 → restart at once; crash 2 at 0 → back-off 10s; crash 3 at 10 → 20s; crash 4 at 30.
    let s = status_at(&mut sim, &p, secs(0));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 1);
    let waiting = c.state.as_ref().unwrap().waiting.as_ref().unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    assert_eq!(
        waiting.message.as_deref(),
        Some("back-off 10s restarting failed container=c pod=p_default(u1)")
    );
    assert_eq!(
        c.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        3
    );
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(sim.next_event(secs(0)), Some(secs(10)));
    let s = status_at(&mut sim, &p, secs(10));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 2);
    assert!(
        c.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .message
            .as_deref()
            .unwrap()
            .starts_with("back-off 20s")
    );
    assert_eq!(sim.next_event(secs(10)), Some(secs(30)));
}

#[test]
fn sleep_2_with_restart_never_succeeds() {
    let p = pod(
        json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "2"]}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    assert_eq!(
        status_at(&mut sim, &p, secs(1)).phase.as_deref(),
        Some("Running")
    );
    let s = status_at(&mut sim, &p, secs(2));
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));
    let t = s.container_statuses.as_ref().unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(
        condition(&s, "Ready"),
        ("False".into(), Some("PodCompleted".into()))
    );
    assert_eq!(condition(&s, "PodReadyToStartContainers").0, "False");
    assert!(sim.is_terminal());
}

#[test]
fn exit_3_fails_and_on_failure_restarts() {
    let never = pod(
        json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}),
    );
    let mut sim = PodSim::new(&never, secs(0), HashSet::new());
    let s = status_at(&mut sim, &never, secs(0));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(
        s.container_statuses.as_ref().unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap()
            .exit_code,
        3
    );
    assert_eq!(condition(&s, "Ready").1.as_deref(), Some("PodFailed"));
    let on_failure = pod(
        json!({"spec": {"restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}),
    );
    let mut sim = PodSim::new(&on_failure, secs(0), HashSet::new());
    assert_eq!(
        status_at(&mut sim, &on_failure, secs(0)).phase.as_deref(),
        Some("Running")
    );
}

#[test]
fn memory_growth_past_the_limit_is_oom_killed() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/memory": "10Mi", "kubesim.io/memory-growth": "10Mi"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "app", "resources": {"limits": {"memory": "50Mi"}}}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(2));
    assert_eq!(sim.usage(secs(2))[0].2, 30 * 1024 * 1024);
    let s = status_at(&mut sim, &p, secs(4));
    let t = s.container_statuses.as_ref().unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.qos_class.as_deref(), Some("Burstable"));
}

#[test]
fn termination_honours_pre_stop_and_grace() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/stop-delay": "2s"}},
        "spec": {"containers": [{"name": "c", "image": "app", "lifecycle": {"preStop": {"exec": {"command": ["sleep", "3"]}}}}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(1));
    sim.terminate(secs(10), secs(30));
    let s = status_at(&mut sim, &p, secs(14));
    assert_eq!(state(&s.container_statuses.as_ref().unwrap()[0]), "running");
    // Upstream keeps probing readiness while a pod terminates: still Ready until it exits.
    assert!(s.container_statuses.as_ref().unwrap()[0].ready);
    assert_eq!(condition(&s, "Ready").0, "True");
    let s = status_at(&mut sim, &p, secs(15));
    let t = s.container_statuses.as_ref().unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(t.exit_code, 0);
    assert!(sim.all_stopped());
    assert_eq!(s.phase.as_deref(), Some("Succeeded"));

    // A grace period shorter than preStop and stop: the hook is cut at 1 s, SIGTERM
    // follows, and the kill comes 2 s later (upstream's minimum), at 13 s.
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/stop-delay": "5s"}},
        "spec": {"containers": [{"name": "c", "image": "app", "lifecycle": {"preStop": {"exec": {"command": ["sleep", "3"]}}}}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(1));
    sim.terminate(secs(10), secs(1));
    assert_eq!(
        state(
            &status_at(&mut sim, &p, secs(12))
                .container_statuses
                .unwrap()[0]
        ),
        "running"
    );
    let s = status_at(&mut sim, &p, secs(13));
    let t = s.container_statuses.as_ref().unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(t.exit_code, 137);
    assert_eq!(s.phase.as_deref(), Some("Failed"));
}

#[test]
fn active_deadline_fails_the_pod() {
    let p = pod(
        json!({"spec": {"activeDeadlineSeconds": 5, "containers": [{"name": "c", "image": "app"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    assert_eq!(sim.next_event(secs(0)), Some(secs(5)));
    let s = status_at(&mut sim, &p, secs(6));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.reason.as_deref(), Some("DeadlineExceeded"));
}

#[test]
fn node_restart_restarts_containers() {
    let p = pod(json!({"spec": {"containers": [{"name": "c", "image": "app"}]}}));
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(1));
    sim.node_restarted(secs(2));
    let s = status_at(&mut sim, &p, secs(2));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.restart_count, 1);
    assert_eq!(
        c.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Unknown")
    );
}

#[test]
fn logs_record_start_output_and_exit() {
    let p = pod(
        json!({"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hello; sleep 1; exit 2"]}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(5));
    let texts: Vec<&str> = sim.logs.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Started container c (image docker.io/library/busybox:latest)",
            "hello",
            "Exited with code 2"
        ]
    );
}

#[test]
fn images_are_reported_as_the_runtime_does() {
    assert_eq!(image_ref("nginx"), "docker.io/library/nginx:latest");
    assert_eq!(image_ref("bitnami/redis:7"), "docker.io/bitnami/redis:7");
    assert_eq!(
        image_ref("registry.k8s.io/pause:3.10"),
        "registry.k8s.io/pause:3.10"
    );
    assert_eq!(image_ref("localhost:5000/app"), "localhost:5000/app:latest");
}

fn events(sim: &mut PodSim) -> Vec<(String, String, u32)> {
    sim.events
        .drain(..)
        .map(|e| (e.reason.to_string(), e.message, e.count))
        .collect()
}

fn waiting(s: &ContainerStatus) -> (String, Option<String>) {
    let w = s.state.as_ref().unwrap().waiting.as_ref().unwrap();
    (w.reason.clone().unwrap(), w.message.clone())
}

#[test]
fn crash_loop_back_off_resets_after_ten_minutes_of_running() {
    // Crashes after 5 s each run: restarts at 5 (at once), then waits 10, 20, 40 s.
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/crash-after": "5s"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    let mut starts = Vec::new();
    let mut t = secs(0);
    while starts.len() < 5 {
        sim.step(t);
        let s = sim.status(&p, &Clock::new(1.0), t, "h", "ip");
        let c = &s.container_statuses.unwrap()[0];
        if state(c) == "running" && starts.last().is_none_or(|(n, _)| *n != c.restart_count) {
            starts.push((c.restart_count, t.as_secs()));
        }
        t += secs(1);
    }
    assert_eq!(starts, vec![(0, 0), (1, 5), (2, 20), (3, 45), (4, 90)]);

    // A container that runs 11 minutes before crashing is restarted at once again.
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/crash-after": "11m"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    for minutes in [11, 22, 33] {
        let s = status_at(&mut sim, &p, secs(minutes * 60));
        assert_eq!(
            state(&s.container_statuses.unwrap()[0]),
            "running",
            "restarted at once at {minutes} min"
        );
    }
}

#[test]
fn starting_records_the_kubelets_events() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/startup-delay": "1500ms"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    assert_eq!(
        events(&mut sim),
        vec![("Pulling".into(), "Pulling image \"nginx\"".into(), 1)]
    );
    sim.step(secs(2));
    let got = events(&mut sim);
    let reasons: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(reasons, ["Pulled", "Created", "Started"]);
    assert!(
        got[0].1.starts_with(
            "Successfully pulled image \"nginx\" in 1.5s (1.5s including waiting). Image size: "
        ),
        "{}",
        got[0].1
    );
    assert_eq!(got[1].1, "Created container: web");
    assert_eq!(got[2].1, "Started container web");
    assert_eq!(sim.events.len(), 0);

    // A tagged image (IfNotPresent) already on the node is not pulled.
    let p = pod(json!({"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}));
    let mut sim = PodSim::new(&p, secs(0), HashSet::from(["nginx:1.27".to_string()]));
    sim.step(secs(0));
    let got = events(&mut sim);
    assert_eq!(got[0], ("Pulled".into(), "Container image \"nginx:1.27\" already present on machine and can be accessed by the pod".into(), 1));
}

#[test]
fn probe_failures_are_unhealthy_events_and_liveness_kills() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/ready-after": "25s", "kubesim.io/liveness-fail-after": "60s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx",
            "readinessProbe": {"periodSeconds": 10, "httpGet": {"port": 80}},
            "livenessProbe": {"periodSeconds": 10, "failureThreshold": 3, "tcpSocket": {"port": 8080}}}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.set_pod_ip("10.244.0.7");
    sim.step(secs(0));
    events(&mut sim);
    // Readiness probes at 0, 10, 20 fail; at 30 it succeeds.
    sim.step(secs(100));
    let got = events(&mut sim);
    assert!(
        got.contains(&(
            "Unhealthy".into(),
            "Readiness probe failed: HTTP probe failed with statuscode: 503".into(),
            3
        )),
        "{got:?}"
    );
    // Liveness fails at 60, 70, 80: killed at 80 and restarted.
    assert!(
        got.contains(&(
            "Unhealthy".into(),
            "Liveness probe failed: dial tcp 10.244.0.7:8080: connect: connection refused".into(),
            3
        )),
        "{got:?}"
    );
    assert!(
        got.contains(&(
            "Killing".into(),
            "Container web failed liveness probe, will be restarted".into(),
            1
        )),
        "{got:?}"
    );
    let texts: Vec<&str> = sim.logs.iter().map(|l| l.text.as_str()).collect();
    assert!(
        texts.contains(&"Readiness probe failed: HTTP probe failed with statuscode: 503")
            && texts.contains(&"Readiness probe succeeded"),
        "{texts:?}"
    );
}

#[test]
fn a_never_ready_container_keeps_failing_its_probe() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/ready-after": "never"}},
        "spec": {"containers": [{"name": "web", "image": "nginx", "readinessProbe": {"periodSeconds": 5, "exec": {"command": ["true"]}}}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(0));
    assert_eq!(sim.next_event(secs(0)), Some(secs(5)));
    sim.step(secs(3600));
    let unhealthy: u32 = events(&mut sim)
        .iter()
        .filter(|e| e.0 == "Unhealthy")
        .map(|e| e.2)
        .sum();
    assert_eq!(unhealthy, 721);
    assert_eq!(sim.next_event(secs(3600)), Some(secs(3605)));
}

#[test]
fn crash_loop_events_say_back_off() {
    let p = pod(
        json!({"spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(0));
    let got = events(&mut sim);
    assert!(
        got.contains(&(
            "BackOff".into(),
            "Back-off restarting failed container c in pod p_default(u1)".into(),
            1
        )),
        "{got:?}"
    );
}

#[test]
fn deleted_while_creating_is_failed_with_status_unknown() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/startup-delay": "1m"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.terminate(secs(5), secs(30));
    let s = status_at(&mut sim, &p, secs(5));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let t = s.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (137, Some(STATUS_UNKNOWN))
    );
    assert_eq!(
        t.message.as_deref(),
        Some("The container could not be located when the pod was terminated")
    );
    assert!(sim.all_stopped() && sim.is_terminal());
}

#[test]
fn deleted_in_back_off_shows_its_last_exit() {
    let p = pod(
        json!({"spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.step(secs(5));
    sim.terminate(secs(5), secs(30));
    let s = status_at(&mut sim, &p, secs(5));
    let c = &s.container_statuses.unwrap()[0];
    assert_eq!(
        c.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        3
    );
    assert_eq!(s.phase.as_deref(), Some("Failed"));
}

#[test]
fn a_second_delete_with_a_shorter_grace_kills_sooner() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/stop-delay": "never"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    sim.terminate(secs(10), secs(30));
    assert_eq!(sim.next_event(secs(10)), Some(secs(40)));
    sim.terminate(secs(12), secs(3));
    assert_eq!(sim.next_event(secs(12)), Some(secs(15)));
    // A longer one does not lengthen it.
    sim.terminate(secs(13), secs(60));
    let s = status_at(&mut sim, &p, secs(15));
    assert_eq!(
        s.container_statuses.unwrap()[0]
            .state
            .clone()
            .unwrap()
            .terminated
            .unwrap()
            .exit_code,
        137
    );
    let got = events(&mut sim);
    assert!(
        got.contains(&("Killing".into(), "Stopping container c".into(), 1)),
        "{got:?}"
    );
}

#[test]
fn pod_scheduled_is_the_kubelets_too() {
    let p = pod(
        json!({"spec": {"containers": [{"name": "c", "image": "app"}]},
        "status": {"conditions": [{"type": "DisruptionTarget", "status": "True"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    let s = status_at(&mut sim, &p, secs(0));
    let types: Vec<&str> = s
        .conditions
        .iter()
        .flatten()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(
        types,
        [
            "DisruptionTarget",
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    assert_eq!(condition(&s, "PodScheduled").0, "True");
}

#[test]
fn a_bad_annotation_is_a_create_container_config_error_with_a_full_status() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/crash-after.bad": "soon"}},
        "spec": {"containers": [{"name": "bad", "image": "app"}, {"name": "good", "image": "app"}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    let s = status_at(&mut sim, &p, secs(1));
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let statuses = s.container_statuses.clone().unwrap();
    let (reason, message) = waiting(&statuses[0]);
    assert_eq!(reason, "CreateContainerConfigError");
    assert!(message.unwrap().contains("kubesim.io/crash-after"));
    assert_eq!(state(&statuses[1]), "running");
    assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.5"));
    assert!(s.start_time.is_some() && s.host_ip.is_some());
    assert_eq!(condition(&s, "PodReadyToStartContainers").0, "True");
    assert_eq!(
        condition(&s, "Ready"),
        ("False".into(), Some("ContainersNotReady".into()))
    );
    let got = events(&mut sim);
    assert!(got.iter().any(|e| e.0 == "Failed" && e.1.starts_with("Error: annotation kubesim.io/crash-after")), "{got:?}");
}

#[test]
fn absurd_values_never_panic() {
    for annotations in [
        json!({"kubesim.io/startup-delay": "never"}),
        json!({"kubesim.io/crash-after": "100000000000000000000"}),
        json!({"kubesim.io/memory-growth": "1n", "kubesim.io/memory": "1"}),
    ] {
        let p = pod(
            json!({"metadata": {"annotations": annotations}, "spec": {"activeDeadlineSeconds": i64::MAX, "containers": [{"name": "c", "image": "app",
            "command": ["sleep", "1e300"], "resources": {"limits": {"memory": "8Ei"}},
            "livenessProbe": {"periodSeconds": i32::MAX, "initialDelaySeconds": i32::MAX, "exec": {"command": ["x"]}}}]}}),
        );
        let mut sim = PodSim::new(&p, secs(0), HashSet::new());
        for t in [secs(0), secs(1_000_000), Duration::from_secs(u64::MAX / 4)] {
            let _ = status_at(&mut sim, &p, t);
            let _ = sim.next_event(t);
        }
        sim.terminate(secs(1), Duration::from_secs(u64::MAX / 2));
        let _ = status_at(&mut sim, &p, secs(2));
    }
}

#[test]
fn an_adopted_pod_keeps_its_restart_count_and_start() {
    let clock = Clock::new(1.0);
    let p = pod(
        json!({"spec": {"containers": [{"name": "c", "image": "app", "command": ["sleep", "100"]}]}}),
    );
    let now = clock.now();
    let started = clock.wall(now - secs(40));
    let status: PodStatus = serde_json::from_value(json!({"phase": "Running", "startTime": clock.wall(now - secs(60)).to_string(),
        "podIP": "10.244.0.5",
        "containerStatuses": [{"name": "c", "image": "app", "imageID": "x", "ready": true, "restartCount": 3, "containerID": "containerd://abc",
            "state": {"running": {"startedAt": started.to_string()}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "containerd://old"}}}]})).unwrap();
    let mut sim = PodSim::new(&p, now, HashSet::new());
    sim.adopt(&status, &clock, now);
    assert!(sim.events.is_empty() && sim.logs.is_empty());
    sim.step(now);
    let s = sim.status(&p, &clock, now, "h", "10.244.0.5");
    let c = &s.container_statuses.unwrap()[0];
    assert_eq!(
        (c.restart_count, c.container_id.as_deref()),
        (3, Some("containerd://abc"))
    );
    assert_eq!(
        c.state
            .as_ref()
            .unwrap()
            .running
            .as_ref()
            .unwrap()
            .started_at
            .as_ref()
            .unwrap()
            .0
            .as_second(),
        started.as_second()
    );
    assert_eq!(
        c.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
    // `sleep 100` started 40 s ago: it exits in 60 s.
    assert_eq!(sim.next_event(now).map(|t| (t - now).as_secs()), Some(60));
    assert_eq!(sim.start, clock.at_wall(clock.wall(now - secs(60))));
}

#[test]
fn logs_follow_the_instance_the_status_names() {
    let p = pod(
        json!({"metadata": {"annotations": {"kubesim.io/startup-delay": "1s"}}, "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}}),
    );
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    assert_eq!(
        sim.log_instance("c", false),
        Err("container \"c\" in pod \"p\" is waiting to start: ContainerCreating".into())
    );
    assert_eq!(
        sim.log_instance("c", true),
        Err("previous terminated container \"c\" in pod \"p\" not found".into())
    );
    assert_eq!(
        sim.log_instance("x", false),
        Err("container \"x\" in pod \"p\" is not available".into())
    );
    // Runs at 1 and exits; again at once and exits; now in back-off.
    sim.step(secs(2));
    let last = sim.containers[0].last.clone().unwrap().container_id;
    // In back-off, both the current and the previous log are the last exited instance.
    assert_eq!(sim.log_instance("c", false), Ok(last.clone()));
    assert_eq!(sim.log_instance("c", true), Ok(last));
}

/// v1.35's kubelet says which generation of the pod its status describes: the status's
/// `observedGeneration` and each of its own conditions' (PodObservedGenerationTracking,
/// GA); conditions others own keep theirs.
#[test]
fn status_and_kubelet_conditions_carry_the_observed_generation() {
    let mut p = pod(json!({
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
        "status": {"conditions": [
            {"type": "PodScheduled", "status": "True", "observedGeneration": 1},
            {"type": "DisruptionTarget", "status": "True", "observedGeneration": 1}]}}));
    p.metadata.generation = Some(2);
    let mut sim = PodSim::new(&p, secs(0), HashSet::new());
    let s = status_at(&mut sim, &p, secs(1));
    assert_eq!(s.observed_generation, Some(2));
    let generations: Vec<(&str, Option<i64>)> = s
        .conditions
        .iter()
        .flatten()
        .map(|c| (c.type_.as_str(), c.observed_generation))
        .collect();
    assert_eq!(
        generations,
        [
            ("DisruptionTarget", Some(1)),
            ("PodReadyToStartContainers", Some(2)),
            ("Initialized", Some(2)),
            ("Ready", Some(2)),
            ("ContainersReady", Some(2)),
            ("PodScheduled", Some(2)),
        ]
    );
}
