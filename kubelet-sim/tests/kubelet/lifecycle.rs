//! kubelet-sim against a live API server (in-process, on a free port): pods name their
//! node in `spec.nodeName`, as a test binding them itself; no scheduler.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::DeleteParams;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_and_renew_leases() {
    let sim = start(2, 1.0).await;
    let node: Node = Api::all(sim.client.clone())
        .get("kubesim-node-1")
        .await
        .unwrap();
    let status = node.status.unwrap();
    let ready = status
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("True", Some("KubeletReady"))
    );
    assert_eq!(status.capacity.unwrap()["pods"].0, "110");
    assert_eq!(
        status
            .daemon_endpoints
            .unwrap()
            .kubelet_endpoint
            .unwrap()
            .port,
        i32::from(sim.endpoint.port())
    );
    assert_eq!(
        node.spec.unwrap().pod_cidr.as_deref(),
        Some("10.244.1.0/24")
    );
    assert_eq!(
        node.metadata.labels.unwrap()["kubernetes.io/hostname"],
        "kubesim-node-1"
    );

    // Renewals are seen through a watch.
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "kube-node-lease");
    let lease = eventually("lease", || async {
        leases.get_opt("kubesim-node-0").await.unwrap()
    })
    .await;
    assert_eq!(
        lease.spec.as_ref().unwrap().holder_identity.as_deref(),
        Some("kubesim-node-0")
    );
    assert_eq!(lease.metadata.owner_references.unwrap()[0].kind, "Node");
    let params = kube::api::WatchParams::default().fields("metadata.name=kubesim-node-0");
    let stream = leases
        .watch(&params, lease.metadata.resource_version.as_deref().unwrap())
        .await
        .unwrap();
    futures::pin_mut!(stream);
    let mut renewals = 0;
    while renewals < 2 {
        if let Some(Ok(kube::api::WatchEvent::Modified(_))) =
            tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .unwrap()
        {
            renewals += 1;
        }
    }
}

/// The whole progression of a plain pod, as a watch sees it: admitted and creating,
/// then running with every field and condition a kubelet writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_pod_goes_through_its_whole_status() {
    let sim = start(1, 10.0).await;
    let asked = std::time::Instant::now();
    let name = sim.run(json!({"metadata": {"name": "web", "annotations": {"kubesim.io/startup-delay": "3s"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "resources": {"requests": {"cpu": "100m"}}}]}})).await;
    let seen = sim
        .watch(&name, |p| condition(p, "Ready") == Some("True"))
        .await;

    let creating = seen
        .iter()
        .map(|(_, p)| p)
        .find(|p| {
            containers(p)
                .first()
                .is_some_and(|c| state(c) == "waiting:ContainerCreating")
        })
        .expect("ContainerCreating seen");
    assert_eq!(phase(creating), "Pending");
    let c = container(creating);
    assert_eq!(
        (
            c.image_id.as_str(),
            c.container_id.as_deref(),
            c.ready,
            c.started,
            c.restart_count
        ),
        ("", None, false, Some(false), 0)
    );
    assert_eq!(c.image, "docker.io/library/nginx:1.27");
    assert_eq!(
        condition(creating, "PodReadyToStartContainers"),
        Some("True")
    );
    assert_eq!(condition(creating, "Initialized"), Some("True"));
    assert_eq!(condition(creating, "ContainersReady"), Some("False"));
    assert_eq!(
        condition(creating, "PodScheduled"),
        Some("True"),
        "created with spec.nodeName: the kubelet sets PodScheduled"
    );

    let (_, pod) = seen.last().unwrap();
    let s = pod.status.clone().unwrap();
    assert_eq!(phase(pod), "Running");
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodScheduled",
    ] {
        assert_eq!(condition(pod, t), Some("True"), "{t}");
    }
    assert!(s.pod_ip.as_deref().unwrap().starts_with("10.244.0."));
    assert_eq!(s.pod_ips.unwrap()[0].ip, s.pod_ip.clone().unwrap());
    assert_eq!(s.host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(s.qos_class.as_deref(), Some("Burstable"));
    assert!(s.start_time.is_some());
    let c = container(pod);
    assert!(c.ready && c.started == Some(true));
    assert_eq!(c.restart_count, 0);
    assert!(
        c.container_id
            .as_deref()
            .unwrap()
            .starts_with("containerd://")
    );
    assert!(c.image_id.starts_with("docker.io/library/nginx@sha256:"));
    assert!(
        c.state
            .as_ref()
            .unwrap()
            .running
            .as_ref()
            .unwrap()
            .started_at
            .is_some()
    );
    assert_eq!(c.last_state, Some(Default::default()));
    // The start-up delay (3 s at 10x) passed between asking and running. (Measured from
    // the create, not from when the watch showed ContainerCreating: a loaded machine may
    // deliver that event late, never the Ready one early.)
    assert!(seen.last().unwrap().0 - asked >= Duration::from_millis(250));

    // The kubelet's Events, as kubectl describe shows them.
    let events = eventually("kubelet events", || async {
        let events = sim.events(&name).await;
        (events.len() >= 4).then_some(events)
    })
    .await;
    let reasons: Vec<&str> = events.iter().filter_map(|e| e.reason.as_deref()).collect();
    assert_eq!(
        reasons,
        ["Pulling", "Pulled", "Created", "Started"],
        "{events:?}"
    );
    let started = &events[3];
    assert_eq!(started.message.as_deref(), Some("Started container web"));
    assert_eq!(events[2].message.as_deref(), Some("Created container: web"));
    assert_eq!(
        events[0].message.as_deref(),
        Some("Pulling image \"nginx:1.27\"")
    );
    assert!(
        events[1]
            .message
            .as_deref()
            .unwrap()
            .starts_with("Successfully pulled image \"nginx:1.27\" in ")
    );
    assert_eq!(
        started.involved_object.field_path.as_deref(),
        Some("spec.containers{web}")
    );
    assert_eq!(started.involved_object.kind.as_deref(), Some("Pod"));
    assert_eq!(started.involved_object.uid, pod.metadata.uid);
    let source = started.source.clone().unwrap();
    assert_eq!(
        (source.component.as_deref(), source.host.as_deref()),
        (Some("kubelet"), Some("kubesim-node-0"))
    );
    assert_eq!(
        (
            started.reporting_component.as_deref(),
            started.reporting_instance.as_deref()
        ),
        (Some("kubelet"), Some("kubesim-node-0"))
    );
    assert_eq!(
        (started.type_.as_deref(), started.count),
        (Some("Normal"), Some(1))
    );
}

/// Init containers run one at a time, in order, each to completion, before the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_containers_run_in_order() {
    let sim = start(1, 10.0).await;
    let name = sim
        .run(json!({"metadata": {"name": "init"}, "spec": {
            "initContainers": [{"name": "one", "image": "busybox", "command": ["sleep", "2"]}, {"name": "two", "image": "busybox", "command": ["sleep", "2"]}],
            "containers": [{"name": "app", "image": "nginx"}]}}))
        .await;
    let seen = sim.watch(&name, |p| phase(p) == "Running").await;
    let mut order = Vec::new();
    for (_, p) in &seen {
        let init = init_containers(p);
        let snapshot: Vec<String> = init.iter().chain(containers(p).iter()).map(state).collect();
        if snapshot.len() == 3 && order.last() != Some(&snapshot) {
            order.push(snapshot);
        }
        // Never two at once, never the app before both are done.
        if init.len() == 2 && state(&init[1]) == "running" {
            assert_eq!(state(&init[0]), "terminated:0", "{init:?}");
        }
        if containers(p).first().is_some_and(|c| state(c) == "running") {
            assert!(init.iter().all(|c| state(c) == "terminated:0"), "{init:?}");
        }
    }
    let expected = [
        vec![
            "running",
            "waiting:PodInitializing",
            "waiting:PodInitializing",
        ],
        vec!["terminated:0", "running", "waiting:PodInitializing"],
        vec!["terminated:0", "terminated:0", "running"],
    ];
    for step in expected {
        let step: Vec<String> = step.iter().map(|s| s.to_string()).collect();
        assert!(order.contains(&step), "{step:?} not seen in {order:?}");
    }
    let (_, running) = seen.last().unwrap();
    assert_eq!(condition(running, "Initialized"), Some("True"));
}

/// Readiness gates Ready: False until the probe's initial delay passed, then True; a
/// never-ready container stays False, with `Unhealthy` Events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_probe_gates_ready() {
    let sim = start(1, 10.0).await;
    let probe = json!({"httpGet": {"port": 80}, "initialDelaySeconds": 5, "periodSeconds": 1});
    let gated = sim.run(json!({"metadata": {"name": "gated"}, "spec": {"containers": [{"name": "web", "image": "nginx", "readinessProbe": probe}]}})).await;
    let never = sim
        .run(json!({"metadata": {"name": "never", "annotations": {"kubesim.io/ready-after": "never"}},
            "spec": {"containers": [{"name": "web", "image": "nginx", "readinessProbe": probe}]}}))
        .await;
    let seen = sim
        .watch(&gated, |p| condition(p, "Ready") == Some("True"))
        .await;
    let running = seen
        .iter()
        .find(|(_, p)| phase(p) == "Running")
        .expect("Running seen");
    assert_eq!(
        condition(&running.1, "Ready"),
        Some("False"),
        "Running but not ready before the initial delay"
    );
    assert!(container(&running.1).started == Some(true) && !container(&running.1).ready);
    // 5 s at 10x: half a second at least between Running and Ready.
    assert!(
        seen.last().unwrap().0 - running.0 >= Duration::from_millis(400),
        "{:?}",
        seen.last().unwrap().0 - running.0
    );

    let pod = sim
        .until(&never, "never Running", |p| phase(p) == "Running")
        .await;
    assert_eq!(condition(&pod, "Ready"), Some("False"));
    let unhealthy = eventually("Unhealthy events", || async {
        sim.events(&never)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("Unhealthy") && e.count.unwrap_or(0) >= 2)
    })
    .await;
    assert_eq!(
        unhealthy.message.as_deref(),
        Some("Readiness probe failed: HTTP probe failed with statuscode: 503")
    );
    assert_eq!(unhealthy.type_.as_deref(), Some("Warning"));
    let pod = sim.pods().get(&never).await.unwrap();
    assert_eq!(condition(&pod, "Ready"), Some("False"));
    let c = container(&pod);
    assert_eq!((c.ready, c.restart_count), (false, 0));
}

/// A failing liveness probe kills the container (137), which restarts: restartCount
/// goes up, lastState says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_failure_restarts_the_container() {
    let sim = start(1, 20.0).await;
    let name = sim
        .run(json!({"metadata": {"name": "sick", "annotations": {"kubesim.io/liveness-fail-after": "5s"}},
            "spec": {"containers": [{"name": "web", "image": "nginx", "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 2, "failureThreshold": 2}}]}}))
        .await;
    let pod = sim
        .until(&name, "restarted", |p| {
            containers(p)
                .first()
                .is_some_and(|c| c.restart_count >= 1 && state(c) == "running")
        })
        .await;
    let c = container(&pod);
    let last = c.last_state.unwrap().terminated.unwrap();
    assert_eq!(
        (last.exit_code, last.reason.as_deref()),
        (137, Some("Error"))
    );
    assert_ne!(last.container_id, c.container_id);
    let events = eventually("Killing event", || async {
        let events = sim.events(&name).await;
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("Killing"))
            .then_some(events)
    })
    .await;
    let killing = events
        .iter()
        .find(|e| e.reason.as_deref() == Some("Killing"))
        .unwrap();
    assert_eq!(
        killing.message.as_deref(),
        Some("Container web failed liveness probe, will be restarted")
    );
    assert!(
        events
            .iter()
            .any(|e| e.message.as_deref() == Some("Liveness probe failed: ")),
        "{events:?}"
    );
}

/// CrashLoopBackOff: restarts at once, then after 10 s, 20 s, 40 s (simulated), with
/// upstream's waiting message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_back_off_doubles() {
    let scale = 20.0;
    let sim = start(1, scale).await;
    let name = sim.run(json!({"metadata": {"name": "crash"}, "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}})).await;
    let seen = sim
        .watch(&name, |p| {
            containers(p).first().is_some_and(|c| c.restart_count >= 4)
        })
        .await;
    // When each restart was first seen, and the back-off each waiting state announced.
    let mut restarts: Vec<(i32, Instant)> = Vec::new();
    let mut messages = Vec::new();
    for (at, p) in &seen {
        let Some(c) = containers(p).first().cloned() else {
            continue;
        };
        if restarts.last().is_none_or(|(n, _)| *n != c.restart_count) {
            restarts.push((c.restart_count, *at));
        }
        if let Some(message) = c.state.and_then(|s| s.waiting).and_then(|w| w.message) {
            if messages.last() != Some(&message) {
                messages.push(message);
            }
        }
        assert_eq!(phase(p), "Running", "a crash-looping pod is Running");
    }
    let uid = seen[0].1.metadata.uid.clone().unwrap();
    let expected: Vec<String> = ["10s", "20s", "40s"]
        .iter()
        .map(|d| format!("back-off {d} restarting failed container=c pod=crash_default({uid})"))
        .collect();
    assert_eq!(messages[..3], expected[..], "{messages:?}");
    let counts: Vec<i32> = restarts.iter().map(|(n, _)| *n).collect();
    assert_eq!(counts[counts.len() - 4..], [1, 2, 3, 4], "{counts:?}");
    // Intervals between restarts 1→2, 2→3, 3→4: 10, 20, 40 simulated seconds (0.5, 1, 2
    // real ones), give or take how late a watch event arrives (up to 0.1 s early for a
    // late first one, 0.5 s late on a loaded machine).
    let tail = &restarts[restarts.len() - 4..];
    for (pair, expected) in tail.windows(2).zip([10.0, 20.0, 40.0]) {
        let real = (pair[1].1 - pair[0].1).as_secs_f64();
        let wanted = expected / scale;
        assert!(
            real >= wanted - 0.1 && real <= wanted + 0.5,
            "back-off {:.1}s simulated, expected {expected}s",
            real * scale
        );
    }
    let waiting = container(&seen.last().unwrap().1);
    assert_eq!(waiting.last_state.unwrap().terminated.unwrap().exit_code, 3);
    let backoff = eventually("BackOff event", || async {
        sim.events(&name)
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("BackOff"))
    })
    .await;
    assert_eq!(
        backoff.message.unwrap(),
        format!("Back-off restarting failed container c in pod crash_default({uid})")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_and_exit_codes_end_the_pod() {
    let sim = start(1, 10.0).await;
    let ok = sim.run(json!({"metadata": {"name": "ok"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "2"]}]}})).await;
    let bad = sim.run(json!({"metadata": {"name": "bad"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}})).await;
    let pod = sim
        .until(&ok, "Succeeded", |p| phase(p) == "Succeeded")
        .await;
    let t = container(&pod).state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    let pod = sim.until(&bad, "Failed", |p| phase(p) == "Failed").await;
    let t = container(&pod).state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));
    assert_eq!(condition(&pod, "Ready"), Some("False"));
}

/// Memory growing past the container's limit: OOMKilled, exit 137.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_past_the_limit_is_oom_killed() {
    let sim = start(1, 10.0).await;
    let name = sim
        .run(json!({"metadata": {"name": "hog", "annotations": {"kubesim.io/memory": "10Mi", "kubesim.io/memory-growth": "20Mi"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "app", "resources": {"limits": {"memory": "50Mi"}}}]}}))
        .await;
    let pod = sim.until(&name, "Failed", |p| phase(p) == "Failed").await;
    let t = container(&pod).state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
}

/// Graceful deletion: a container that ignores SIGTERM is killed when the grace period
/// ends (137); Ready stays True meanwhile; the pod is gone after, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_deletion_kills_at_the_end_of_the_grace_period() {
    let scale = 10.0;
    let sim = start(1, scale).await;
    let name = sim
        .run(json!({"metadata": {"name": "stubborn", "annotations": {"kubesim.io/stop-delay": "never"}},
            "spec": {"terminationGracePeriodSeconds": 10, "containers": [{"name": "c", "image": "app"}]}}))
        .await;
    sim.until(&name, "Ready", |p| condition(p, "Ready") == Some("True"))
        .await;
    let watch = sim.watch(&name, |_| false);
    let deleted = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let at = Instant::now();
        sim.pods()
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
        at
    };
    let (seen, deleted_at) = tokio::join!(watch, deleted);
    let (gone_at, last) = seen.last().unwrap();
    // 10 s of grace at 10x: a second, not less.
    assert!(
        *gone_at - deleted_at >= Duration::from_millis(900),
        "gone after {:?}",
        *gone_at - deleted_at
    );
    let terminating: Vec<_> = seen
        .iter()
        .filter(|(_, p)| p.metadata.deletion_timestamp.is_some())
        .map(|(_, p)| p)
        .collect();
    assert!(
        terminating
            .iter()
            .any(|p| condition(p, "Ready") == Some("True") && state(&container(p)) == "running"),
        "Ready while terminating"
    );
    let final_status = seen
        .iter()
        .rev()
        .map(|(_, p)| p)
        .find(|p| state(&container(p)).starts_with("terminated"))
        .expect("final status written");
    let t = container(final_status).state.unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("Error")));
    assert_eq!(phase(final_status), "Failed");
    assert!(last.metadata.deletion_timestamp.is_some());
    let events = sim.events(&name).await;
    assert!(
        events.iter().any(|e| e.reason.as_deref() == Some("Killing")
            && e.message.as_deref() == Some("Stopping container c")),
        "{events:?}"
    );
}

/// A second delete with a shorter grace period shortens it, as upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_delete_with_a_shorter_grace_period_is_honoured() {
    let sim = start(1, 1.0).await;
    let name = sim
        .run(json!({"metadata": {"name": "slow", "annotations": {"kubesim.io/stop-delay": "never"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}}))
        .await;
    sim.until(&name, "Running", |p| phase(p) == "Running").await;
    let start = Instant::now();
    sim.pods()
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    sim.pods()
        .delete(
            &name,
            &DeleteParams {
                grace_period_seconds: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    sim.gone(&name).await;
    // Killed 2 s (upstream's minimum) after the second delete, not 30 s after the first.
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(20),
        "gone after {took:?}"
    );
}

/// A pod deleted while its container is still being created: the container never ran,
/// its status is ContainerStatusUnknown (137) and the pod Failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_before_it_started() {
    let sim = start(1, 1.0).await;
    let name = sim.run(json!({"metadata": {"name": "late", "annotations": {"kubesim.io/startup-delay": "1h"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}})).await;
    sim.until(&name, "ContainerCreating", |p| {
        containers(p)
            .first()
            .is_some_and(|c| state(c) == "waiting:ContainerCreating")
    })
    .await;
    let watch = sim.watch(&name, |_| false);
    let delete = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sim.pods()
            .delete(&name, &DeleteParams::default())
            .await
            .unwrap();
    };
    let (seen, ()) = tokio::join!(watch, delete);
    let last_status = seen
        .iter()
        .rev()
        .map(|(_, p)| p)
        .find(|p| phase(p) != "Pending")
        .expect("a final status");
    assert_eq!(phase(last_status), "Failed");
    let t = container(last_status).state.unwrap().terminated.unwrap();
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (137, Some("ContainerStatusUnknown"))
    );
    assert_eq!(
        t.message.as_deref(),
        Some("The container could not be located when the pod was terminated")
    );
}

/// A pod someone else marked `Failed` (the pod garbage collector does, as does a user
/// with `kubectl patch --subresource=status`) stays `Failed`: the kubelet stops its
/// containers and never writes a running phase again, as upstream's
/// "pods are not allowed to transition out of terminal phases".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_marked_failed_by_someone_else_stays_failed() {
    let sim = start(1, 10.0).await;
    let name = sim.run(json!({"metadata": {"name": "marked"}, "spec": {"terminationGracePeriodSeconds": 5, "containers": [{"name": "c", "image": "app"}]}})).await;
    sim.until(&name, "Ready", |p| condition(p, "Ready") == Some("True"))
        .await;
    let watch = sim.watch(&name, |p| {
        containers(p)
            .first()
            .is_some_and(|c| state(c).starts_with("terminated"))
    });
    let mark = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let patch = json!({"status": {"phase": "Failed", "conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC", "message": "PodGC: node no longer exists"}]}});
        sim.pods()
            .patch_status(
                &name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Strategic(patch),
            )
            .await
            .unwrap();
    };
    let (seen, ()) = tokio::join!(watch, mark);
    let after_mark: Vec<&k8s_openapi::api::core::v1::Pod> = seen
        .iter()
        .map(|(_, p)| p)
        .skip_while(|p| phase(p) != "Failed")
        .collect();
    assert!(!after_mark.is_empty(), "the Failed phase seen");
    assert!(
        after_mark.iter().all(|p| phase(p) == "Failed"),
        "phases after Failed: {:?}",
        after_mark.iter().map(|p| phase(p)).collect::<Vec<_>>()
    );
    let last = after_mark.last().unwrap();
    assert!(
        state(&container(last)).starts_with("terminated"),
        "{:?}",
        container(last)
    );
    assert_eq!(condition(last, "Ready"), Some("False"));
    assert_eq!(
        condition(last, "DisruptionTarget"),
        Some("True"),
        "the other writer's condition is kept"
    );
    // And it stays so.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(phase(&sim.pods().get(&name).await.unwrap()), "Failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_stats_are_served_by_the_kubelet_endpoint() {
    let sim = start(1, 1.0).await;
    let name = sim
        .run(json!({"metadata": {"name": "talk", "annotations": {"kubesim.io/cpu": "250m", "kubesim.io/memory": "64Mi"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hello; sleep 3600"]}]}}))
        .await;
    sim.until(&name, "Running", |p| phase(p) == "Running").await;
    let body = eventually("log", || async {
        let (_, text) = sim.kubelet_get("/containerLogs/default/talk/c").await;
        text.contains("hello").then_some(text)
    })
    .await;
    assert!(body.starts_with("Started container c"), "{body}");
    // sinceTime after every line: nothing; sinceSeconds past the calendar: everything.
    let (status, text) = sim
        .kubelet_get("/containerLogs/default/talk/c?sinceTime=2999-01-01T00:00:00Z")
        .await;
    assert_eq!((status, text.as_str()), (200, ""));
    let (status, text) = sim
        .kubelet_get("/containerLogs/default/talk/c?sinceSeconds=9223372036854775807")
        .await;
    assert_eq!((status, text), (200, body.clone()));
    let (status, text) = sim
        .kubelet_get("/containerLogs/default/talk/c?sinceTime=yesterday")
        .await;
    assert_eq!(status, 400, "{text}");
    let (status, text) = sim
        .kubelet_get("/containerLogs/default/talk/c?previous=true")
        .await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "previous terminated container \"c\" in pod \"talk\" not found"
        )
    );
    let (_, stats) = sim.kubelet_get("/stats/summary").await;
    let stats: Value = serde_json::from_str(&stats).unwrap();
    let pod = &stats["nodes"][0]["pods"][0];
    assert_eq!(pod["podRef"]["name"], "talk");
    assert_eq!(
        pod["containers"][0]["cpu"]["usageNanoCores"],
        250_000_000u64
    );
    assert_eq!(
        pod["containers"][0]["memory"]["workingSetBytes"],
        64 * 1024 * 1024
    );

    // A container still being created has no log: upstream's 400 says why.
    let name = sim.run(json!({"metadata": {"name": "slow", "annotations": {"kubesim.io/startup-delay": "1h"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}})).await;
    sim.until(&name, "ContainerCreating", |p| !containers(p).is_empty())
        .await;
    let (status, text) = sim.kubelet_get("/containerLogs/default/slow/c").await;
    assert_eq!(
        (status, text.as_str()),
        (
            400,
            "container \"c\" in pod \"slow\" is waiting to start: ContainerCreating"
        )
    );
}

/// `logs -f` ends with the container's last line, never before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_a_log_ends_with_its_last_line() {
    let sim = start(1, 10.0).await;
    for i in 0..5 {
        let name = sim
            .run(json!({"metadata": {"name": format!("short-{i}")}, "spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo one; sleep 1; echo two"]}]}}))
            .await;
        sim.until(&name, "Running", |p| phase(p) == "Running").await;
        let (status, text) = sim
            .kubelet_get(&format!("/containerLogs/default/{name}/c?follow=true"))
            .await;
        assert_eq!(status, 200);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1..], ["one", "two", "Exited with code 0"], "{text}");
    }
}
