//! kubelet-sim inside `kubesim up`, judged by real clients: kubectl (`logs`, `logs -f`,
//! `top`), the Python client's models and k8s-openapi's types. Pods name their node in
//! `spec.nodeName`, so no scheduler is involved.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kubesim_e2e::{Cluster, describe, eventually};

fn phase(cluster: &Cluster, name: &str) -> String {
    let out = cluster.kubectl(&["get", "pod", name, "-o", "jsonpath={.status.phase}"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn create(cluster: &Cluster, yaml: &str) {
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-"], Some(yaml));
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn kubectl_logs_and_logs_follow() {
    let cluster = Cluster::up(&["--no-scheduler"]);
    create(
        &cluster,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: talk}
spec:
  nodeName: kubesim-node-0
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: ["sh", "-c", "echo one; sleep 2; echo two"]
"#,
    );
    eventually(Duration::from_secs(10), "talk Running", || {
        (phase(&cluster, "talk") == "Running").then_some(())
    });
    // Follow: prints lines as they come and ends when the container exits.
    let followed = cluster.kubectl_ok(&["logs", "-f", "talk"]);
    let lines: Vec<&str> = followed.lines().collect();
    assert_eq!(
        lines[1..],
        ["one", "two", "Exited with code 0"],
        "{followed}"
    );
    assert!(lines[0].starts_with("Started container c"), "{followed}");
    eventually(Duration::from_secs(10), "talk Succeeded", || {
        (phase(&cluster, "talk") == "Succeeded").then_some(())
    });
    let tail = cluster.kubectl_ok(&["logs", "talk", "--tail=1", "--timestamps"]);
    assert!(
        tail.ends_with(" Exited with code 0\n") && tail.starts_with("20"),
        "{tail}"
    );
    // A container not started yet has no log: the kubelet's 400 says why.
    create(
        &cluster,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: slow, annotations: {kubesim.io/startup-delay: 1h}}\nspec: {nodeName: kubesim-node-0, containers: [{name: c, image: busybox}]}\n",
    );
    eventually(Duration::from_secs(10), "slow ContainerCreating", || {
        let out = cluster.kubectl_ok(&[
            "get",
            "pod",
            "slow",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ]);
        (out == "ContainerCreating").then_some(())
    });
    let out = cluster.kubectl(&["logs", "slow"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr
                .contains("container \"c\" in pod \"slow\" is waiting to start: ContainerCreating"),
        "{}",
        describe(&out)
    );
    // An unscheduled pod still has no host to ask.
    create(
        &cluster,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: nowhere}\nspec: {containers: [{name: c, image: busybox}]}\n",
    );
    let out = cluster.kubectl(&["logs", "nowhere"]);
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("does not have a host assigned"),
        "{}",
        describe(&out)
    );
}

/// `kubectl exec`, `attach` and `port-forward` reach the API server's subresources, which
/// check the pod and container as upstream's do and then say why nothing can run there.
#[test]
fn kubectl_exec_attach_and_port_forward_say_why_they_cannot_run() {
    let cluster = Cluster::up(&["--no-scheduler"]);
    create(
        &cluster,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  nodeName: kubesim-node-1\n  containers:\n  - {name: nginx, image: nginx}\n",
    );
    eventually(Duration::from_secs(10), "web Running", || {
        (phase(&cluster, "web") == "Running").then_some(())
    });
    let stderr = |args: &[&str]| {
        let out = cluster.kubectl(args);
        assert!(!out.status.success(), "{}", describe(&out));
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    let why = "node kubesim-node-1 is simulated, and its containers run no processes";
    assert_eq!(
        stderr(&["exec", "web", "--", "ls"]),
        format!(
            "Error from server (BadRequest): kubesim cannot exec into container nginx of pod web: {why}"
        )
    );
    assert_eq!(
        stderr(&["exec", "web", "-c", "php", "--", "ls"]),
        "Error from server (BadRequest): container php is not valid for pod web"
    );
    assert!(stderr(&["attach", "web"]).ends_with(&format!(
        "Error from server (BadRequest): kubesim cannot attach to container nginx of pod web: {why}"
    )));
    assert_eq!(
        stderr(&["port-forward", "pod/web", "0:80"]),
        format!("error: error upgrading connection: kubesim cannot port-forward to pod web: {why}")
    );
}

/// `kubectl describe node` lists what the kubelet recorded about its node, as on a real
/// cluster: its start, its conditions, and a cordon.
#[test]
fn kubectl_describe_node_shows_the_kubelets_events() {
    let cluster = Cluster::up(&["--no-scheduler"]);
    let shows = |lines: &[&str]| {
        let out = cluster.kubectl_ok(&["describe", "node", "kubesim-node-0"]);
        let events = out.split_once("Events:").map(|(_, e)| e.to_string())?;
        lines.iter().all(|l| events.contains(l)).then_some(events)
    };
    eventually(
        Duration::from_secs(10),
        "the kubelet's start events",
        || {
            shows(&[
                "kubelet          Starting kubelet.",
                "Node kubesim-node-0 status is now: NodeHasSufficientMemory",
                "Node kubesim-node-0 status is now: NodeHasNoDiskPressure",
                "Node kubesim-node-0 status is now: NodeHasSufficientPID",
                "Updated Node Allocatable limit across pods",
            ])
        },
    );
    cluster.kubectl_ok(&["cordon", "kubesim-node-0"]);
    eventually(Duration::from_secs(10), "NodeNotSchedulable", || {
        shows(&[
            "NodeNotSchedulable  ",
            "Node kubesim-node-0 status is now: NodeNotSchedulable",
        ])
    });
}

#[test]
fn kubectl_top_pods_and_nodes() {
    let cluster = Cluster::up(&["--no-scheduler", "--nodes", "2"]);
    create(
        &cluster,
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: busy
  labels: {app: busy}
  annotations: {kubesim.io/cpu: 250m, kubesim.io/memory: 64Mi}
spec:
  nodeName: kubesim-node-1
  containers: [{name: c, image: nginx}]
"#,
    );
    eventually(Duration::from_secs(10), "busy Running", || {
        (phase(&cluster, "busy") == "Running").then_some(())
    });
    let top = cluster.kubectl_ok(&["top", "pod", "-l", "app=busy"]);
    let row: Vec<&str> = top
        .lines()
        .nth(1)
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(row, ["busy", "250m", "64Mi"], "{top}");
    let nodes = cluster.kubectl_ok(&["top", "node", "--no-headers"]);
    let node1 = nodes
        .lines()
        .find(|l| l.starts_with("kubesim-node-1"))
        .unwrap_or_else(|| panic!("{nodes}"));
    // 250m of the pod plus 50m of the node itself, of 4 CPUs.
    assert_eq!(node1.split_whitespace().nth(1), Some("300m"), "{nodes}");
    assert_eq!(nodes.lines().count(), 2, "{nodes}");
}

#[test]
fn statuses_are_accepted_by_the_python_client_and_k8s_openapi() {
    let cluster = Cluster::up(&["--no-scheduler", "--time-scale", "10"]);
    create(
        &cluster,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  nodeName: kubesim-node-0
  initContainers: [{name: init, image: busybox, command: ["sleep", "1"]}]
  containers:
  - name: web
    image: nginx
    readinessProbe: {httpGet: {port: 80}, periodSeconds: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  nodeName: kubesim-node-1
  containers: [{name: c, image: busybox, command: ["sh", "-c", "exit 3"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: done}
spec:
  nodeName: kubesim-node-2
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: ["sleep", "1"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: oom, annotations: {kubesim.io/memory: 100Mi}}
spec:
  nodeName: kubesim-node-0
  restartPolicy: Never
  containers: [{name: c, image: app, resources: {limits: {memory: 50Mi}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: badconfig, annotations: {kubesim.io/crash-after: soon}}
spec:
  nodeName: kubesim-node-1
  containers: [{name: c, image: app}]
---
apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  nodeName: kubesim-node-2
  containers: [{name: c, image: app, resources: {requests: {cpu: "100"}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: unstarted, annotations: {kubesim.io/startup-delay: 1h}}
spec:
  nodeName: kubesim-node-2
  containers: [{name: c, image: app}]
"#,
    );
    eventually(Duration::from_secs(15), "pods settle", || {
        let settled = phase(&cluster, "web") == "Running"
            && phase(&cluster, "done") == "Succeeded"
            && phase(&cluster, "oom") == "Failed"
            && phase(&cluster, "huge") == "Failed";
        settled.then_some(())
    });
    eventually(Duration::from_secs(15), "config error", || {
        let out = cluster.kubectl_ok(&[
            "get",
            "pod",
            "badconfig",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ]);
        (out == "CreateContainerConfigError").then_some(())
    });
    // Deleted before it started: held (finalizer) so the final status stays to be read.
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        "unstarted",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["kubesim.io/test"]}}"#,
    ]);
    eventually(Duration::from_secs(15), "unstarted created", || {
        let out = cluster.kubectl_ok(&[
            "get",
            "pod",
            "unstarted",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ]);
        (out == "ContainerCreating").then_some(())
    });
    cluster.kubectl_ok(&["delete", "pod", "unstarted", "--wait=false"]);
    eventually(Duration::from_secs(15), "unstarted terminated", || {
        let out = cluster.kubectl_ok(&[
            "get",
            "pod",
            "unstarted",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.terminated.reason}",
        ]);
        (out == "ContainerStatusUnknown").then_some(())
    });
    eventually(Duration::from_secs(15), "crash loop", || {
        let out = cluster.kubectl_ok(&[
            "get",
            "pod",
            "crash",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
        ]);
        (out == "CrashLoopBackOff").then_some(())
    });
    let out = cluster.python("kubelet_status.py", &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(
        seen["pods"]["web"]["containers"]["init"], "terminated:0",
        "{seen}"
    );
    assert_eq!(seen["pods"]["web"]["conditions"]["Ready"], "True", "{seen}");
    assert_eq!(
        seen["pods"]["crash"]["containers"]["c"], "waiting:CrashLoopBackOff",
        "{seen}"
    );
    assert_eq!(seen["pods"]["done"]["phase"], "Succeeded", "{seen}");
    assert_eq!(
        seen["pods"]["oom"]["containers"]["c"], "terminated:137:OOMKilled",
        "{seen}"
    );
    assert_eq!(
        seen["pods"]["badconfig"]["containers"]["c"], "waiting:CreateContainerConfigError",
        "{seen}"
    );
    assert_eq!(
        seen["pods"]["badconfig"]["conditions"]["PodScheduled"], "True",
        "{seen}"
    );
    assert!(seen["pods"]["badconfig"]["podIP"].is_string(), "{seen}");
    assert_eq!(seen["pods"]["huge"]["phase"], "Failed", "{seen}");
    assert_eq!(seen["pods"]["huge"]["reason"], "OutOfcpu", "{seen}");
    assert_eq!(
        seen["pods"]["unstarted"]["containers"]["c"], "terminated:137:ContainerStatusUnknown",
        "{seen}"
    );
    assert_eq!(seen["pods"]["unstarted"]["phase"], "Failed", "{seen}");
    assert!(
        seen["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "Started"),
        "{seen}"
    );
    assert_eq!(seen["nodes"]["kubesim-node-0"]["Ready"], "True", "{seen}");
    assert_eq!(
        seen["leases"],
        serde_json::json!(["kubesim-node-0", "kubesim-node-1", "kubesim-node-2"])
    );

    // Every status decodes into k8s-openapi's Pod (required fields present).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pods: Vec<Pod> = runtime.block_on(async {
        let api: kube::Api<Pod> = kube::Api::namespaced(cluster.client(), "default");
        api.list(&Default::default())
            .await
            .expect("pods decode")
            .items
    });
    assert_eq!(pods.len(), 7);
    let kubectl = cluster.kubectl_ok(&["get", "pods", "--no-headers"]);
    for shown in [
        "CrashLoopBackOff",
        "Completed",
        "OOMKilled",
        "CreateContainerConfigError",
        "OutOfcpu",
    ] {
        assert!(kubectl.contains(shown), "{shown}: {kubectl}");
    }
    // Every Event kubelet-sim wrote decodes, and kubectl describe shows them.
    let events: Vec<k8s_openapi::api::core::v1::Event> = runtime.block_on(async {
        let api: kube::Api<k8s_openapi::api::core::v1::Event> =
            kube::Api::namespaced(cluster.client(), "default");
        api.list(&Default::default())
            .await
            .expect("events decode")
            .items
    });
    assert!(
        events
            .iter()
            .any(|e| e.reason.as_deref() == Some("BackOff")),
        "{events:?}"
    );
    let describe = cluster.kubectl_ok(&["describe", "pod", "web"]);
    assert!(
        describe.contains("Started container web") && describe.contains("kubelet"),
        "{describe}"
    );
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        "unstarted",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
}

#[test]
fn node_faults_by_command() {
    let cluster = Cluster::up(&["--no-scheduler", "--nodes", "2"]);
    let node = |args: &[&str]| {
        let mut all = vec!["kubesim", "node", "--server", cluster.url.as_str()];
        all.extend(args);
        let cli = <kubesim::Cli as clap::Parser>::try_parse_from(&all).expect("node arguments");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime
            .block_on(kubesim::run(cli, std::future::pending()))
            .expect("kubesim node");
    };
    let condition = |name: &str, type_: &str| {
        cluster.kubectl_ok(&[
            "get",
            "node",
            name,
            "-o",
            &format!("jsonpath={{.status.conditions[?(@.type==\"{type_}\")].status}}"),
        ])
    };
    eventually(Duration::from_secs(10), "kubesim-node-1 Ready", || {
        (condition("kubesim-node-1", "Ready") == "True").then_some(())
    });
    node(&["pressure", "kubesim-node-1", "--kind", "memory,disk"]);
    eventually(Duration::from_secs(10), "pressure", || {
        (condition("kubesim-node-1", "MemoryPressure") == "True"
            && condition("kubesim-node-1", "DiskPressure") == "True")
            .then_some(())
    });
    node(&["start", "kubesim-node-1"]);
    eventually(Duration::from_secs(10), "no pressure", || {
        (condition("kubesim-node-1", "MemoryPressure") == "False").then_some(())
    });

    // A restart restarts the node's containers.
    create(
        &cluster,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: app}\nspec: {nodeName: kubesim-node-0, containers: [{name: c, image: nginx}]}\n",
    );
    eventually(Duration::from_secs(10), "app Running", || {
        (phase(&cluster, "app") == "Running").then_some(())
    });
    node(&["restart", "kubesim-node-0"]);
    eventually(Duration::from_secs(10), "restarted", || {
        let n = cluster.kubectl_ok(&[
            "get",
            "pod",
            "app",
            "-o",
            "jsonpath={.status.containerStatuses[0].restartCount}",
        ]);
        (n == "1").then_some(())
    });

    // Stopped heartbeats: the lease is no longer renewed. (The kubelet's watch brings it
    // the stop within a second even on a loaded machine; a renewal already under way
    // may land before.)
    node(&["stop", "kubesim-node-1"]);
    std::thread::sleep(Duration::from_secs(1));
    let renew = || {
        cluster.kubectl_ok(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            "kubesim-node-1",
            "-o",
            "jsonpath={.spec.renewTime}",
        ])
    };
    let before = renew();
    std::thread::sleep(Duration::from_secs(11));
    assert_eq!(renew(), before, "a stopped node renews no lease");
}
