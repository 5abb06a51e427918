//! What the real kubectl (v1.35) prints for `kubectl get` against `kubesim up`: the
//! server's Tables, column for column, as a real cluster prints them for the same
//! objects.
//!
//! `--no-controllers` runs no kubelet, scheduler or controllers, so pods stay Pending
//! unless a test writes their status itself (through `/status`, as a kubelet would).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use kubesim_e2e::{Cluster, describe, tool};

/// A table as kubectl prints it: each line cut into cells where two or more spaces
/// separate them (cells themselves hold single spaces, as in `4 (10s ago)`).
fn table(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

/// An AGE cell for something created during the test.
fn is_fresh_age(cell: &str) -> bool {
    cell.strip_suffix('s')
        .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n < 120))
}

/// Rows without their AGE column (at `age`), for exact comparison.
fn without_age(rows: &[Vec<String>], age: usize) -> Vec<Vec<String>> {
    rows.iter()
        .skip(1)
        .map(|row| {
            assert!(
                row.get(age).is_some_and(|a| is_fresh_age(a)),
                "AGE in {row:?}"
            );
            row.iter()
                .enumerate()
                .filter(|(i, _)| *i != age)
                .map(|(_, c)| c.clone())
                .collect()
        })
        .collect()
}

fn strings(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|s| s.to_string()).collect()
}

fn create(cluster: &Cluster, yaml: &str) {
    let out = cluster.kubectl_with_stdin(&["create", "-f", "-", "--validate=false"], Some(yaml));
    assert!(out.status.success(), "{}", describe(&out));
}

fn pod_yaml(name: &str, app: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {app}\nspec:\n  containers:\n  - name: main\n    image: nginx:1.27\n"
    )
}

/// Write a pod's status as its kubelet would.
fn set_pod_status(cluster: &Cluster, name: &str, status: &str) {
    cluster.kubectl_ok(&[
        "patch",
        "pod",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!("{{\"status\":{status}}}"),
    ]);
}

/// Pods in four states: Pending (no kubelet), Running, CrashLoopBackOff after restarts,
/// and Completed.
fn four_pods(cluster: &Cluster) {
    create(cluster, &pod_yaml("pending", "web"));
    create(cluster, &pod_yaml("running", "web"));
    create(cluster, &pod_yaml("crashing", "worker"));
    create(cluster, &pod_yaml("done", "batch"));
    let container =
        r#""name":"main","image":"nginx:1.27","imageID":"docker.io/library/nginx@sha256:1""#;
    set_pod_status(
        cluster,
        "running",
        &format!(
            r#"{{"phase":"Running","podIP":"10.244.1.7","podIPs":[{{"ip":"10.244.1.7"}}],"conditions":[{{"type":"Ready","status":"True"}}],"containerStatuses":[{{{container},"ready":true,"restartCount":0,"state":{{"running":{{"startedAt":"2026-01-01T00:00:00Z"}}}}}}]}}"#
        ),
    );
    // Restarted an hour ago: RESTARTS says when.
    let an_hour_ago = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(3600))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    set_pod_status(
        cluster,
        "crashing",
        &format!(
            r#"{{"phase":"Running","containerStatuses":[{{{container},"ready":false,"restartCount":5,"state":{{"waiting":{{"reason":"CrashLoopBackOff","message":"back-off"}}}},"lastState":{{"terminated":{{"exitCode":1,"reason":"Error","finishedAt":"{}"}}}}}}]}}"#,
            an_hour_ago.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
    );
    set_pod_status(
        cluster,
        "done",
        &format!(
            r#"{{"phase":"Succeeded","containerStatuses":[{{{container},"ready":false,"restartCount":0,"state":{{"terminated":{{"exitCode":0,"reason":"Completed"}}}}}}]}}"#
        ),
    );
}

#[test]
fn get_pods_in_every_layout() {
    let cluster = Cluster::up(&["--no-controllers"]);
    four_pods(&cluster);

    let out = table(&cluster.kubectl_ok(&["get", "pods"]));
    assert_eq!(
        out[0],
        strings(&["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
    );
    assert_eq!(
        without_age(&out, 4),
        [
            strings(&["crashing", "0/1", "CrashLoopBackOff", "5 (60m ago)"]),
            strings(&["done", "0/1", "Completed", "0"]),
            strings(&["pending", "0/1", "Pending", "0"]),
            strings(&["running", "1/1", "Running", "0"]),
        ]
    );

    let wide = table(&cluster.kubectl_ok(&["get", "pods", "-o", "wide"]));
    assert_eq!(
        wide[0],
        strings(&[
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ])
    );
    assert_eq!(
        without_age(&wide, 4)[3],
        strings(&[
            "running",
            "1/1",
            "Running",
            "0",
            "10.244.1.7",
            "<none>",
            "<none>",
            "<none>"
        ])
    );
    assert_eq!(
        without_age(&wide, 4)[2],
        strings(&[
            "pending", "0/1", "Pending", "0", "<none>", "<none>", "<none>", "<none>"
        ])
    );

    let one = table(&cluster.kubectl_ok(&["get", "pod", "running"]));
    assert_eq!(
        without_age(&one, 4),
        [strings(&["running", "1/1", "Running", "0"])]
    );

    // Across namespaces: kubectl adds NAMESPACE from each row's metadata.
    cluster.kubectl_ok(&["create", "namespace", "team"]);
    let out = cluster.kubectl_with_stdin(
        &["-n", "team", "create", "-f", "-", "--validate=false"],
        Some(&pod_yaml("api", "api")),
    );
    assert!(out.status.success(), "{}", describe(&out));
    let all = table(&cluster.kubectl_ok(&["get", "pods", "-A"]));
    assert_eq!(
        all[0],
        strings(&["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"])
    );
    let names: Vec<(&str, &str)> = all[1..]
        .iter()
        .map(|r| (r[0].as_str(), r[1].as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("default", "crashing"),
            ("default", "done"),
            ("default", "pending"),
            ("default", "running"),
            ("team", "api")
        ]
    );

    // Labels come from the rows' PartialObjectMetadata.
    let labels = table(&cluster.kubectl_ok(&["get", "pods", "--show-labels"]));
    assert_eq!(
        labels[0],
        strings(&["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"])
    );
    assert_eq!(labels[1].last().map(String::as_str), Some("app=worker"));
    let app = table(&cluster.kubectl_ok(&["get", "pods", "-L", "app", "-l", "app=web"]));
    assert_eq!(
        app[0],
        strings(&["NAME", "READY", "STATUS", "RESTARTS", "AGE", "APP"])
    );
    assert_eq!(
        without_age(&app, 4),
        [
            strings(&["pending", "0/1", "Pending", "0", "web"]),
            strings(&["running", "1/1", "Running", "0", "web"])
        ]
    );

    // --sort-by asks for whole objects (includeObject=Object) and sorts on them.
    let by_name = table(&cluster.kubectl_ok(&["get", "pods", "--sort-by=.metadata.name", "-A"]));
    let order: Vec<&str> = by_name[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(order, ["api", "crashing", "done", "pending", "running"]);

    let none = cluster.kubectl(&["get", "pods", "-n", "empty-namespace"]);
    assert!(
        String::from_utf8_lossy(&none.stderr)
            .contains("No resources found in empty-namespace namespace."),
        "{}",
        describe(&none)
    );
}

#[test]
fn get_several_kinds_at_once() {
    let cluster = Cluster::up(&["--no-controllers"]);
    cluster.kubectl_ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=3",
    ]);
    cluster.kubectl_ok(&["create", "service", "clusterip", "web", "--tcp=80:8080"]);
    cluster.kubectl_ok(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=a=1",
        "--from-literal=b=2",
    ]);
    let out = cluster.kubectl_ok(&["get", "deploy,svc,cm"]);
    let blocks: Vec<Vec<Vec<String>>> = out.split("\n\n").map(table).collect();
    assert_eq!(blocks.len(), 3, "{out}");

    assert_eq!(
        blocks[0][0],
        strings(&["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
    );
    // No controllers: nothing is ready or up to date yet.
    assert_eq!(
        without_age(&blocks[0], 4),
        [strings(&["deployment.apps/web", "0/3", "0", "0"])]
    );

    assert_eq!(
        blocks[1][0],
        strings(&[
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ])
    );
    let web = blocks[1]
        .iter()
        .find(|r| r[0] == "service/web")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (web[1].as_str(), web[3].as_str(), web[4].as_str()),
        ("ClusterIP", "<none>", "80/TCP"),
        "{web:?}"
    );
    // CLUSTER-IP is the service's first cluster IP, or <none> when it has none.
    let ip = cluster.kubectl_ok(&[
        "get",
        "service",
        "web",
        "-o",
        "jsonpath={.spec.clusterIPs[0]}",
    ]);
    assert_eq!(
        web[2],
        if ip.is_empty() { "<none>" } else { ip.as_str() },
        "{web:?}"
    );

    assert_eq!(blocks[2][0], strings(&["NAME", "DATA", "AGE"]));
    let settings = blocks[2]
        .iter()
        .find(|r| r[0] == "configmap/settings")
        .cloned()
        .unwrap_or_default();
    assert_eq!(settings[1], "2");

    let wide = table(&cluster.kubectl_ok(&["get", "deploy", "-o", "wide"]));
    assert_eq!(
        wide[0],
        strings(&[
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ])
    );
    assert_eq!(
        without_age(&wide, 4),
        [strings(&[
            "web",
            "0/3",
            "0",
            "0",
            "nginx",
            "nginx:1.27",
            "app=web"
        ])]
    );

    cluster.kubectl_ok(&["create", "secret", "generic", "token", "--from-literal=t=x"]);
    let secrets = table(&cluster.kubectl_ok(&["get", "secrets"]));
    assert_eq!(secrets[0], strings(&["NAME", "TYPE", "DATA", "AGE"]));
    assert_eq!(
        without_age(&secrets, 3),
        [strings(&["token", "Opaque", "1"])]
    );

    let namespaces = table(&cluster.kubectl_ok(&["get", "namespaces"]));
    assert_eq!(namespaces[0], strings(&["NAME", "STATUS", "AGE"]));
    assert!(
        namespaces
            .iter()
            .any(|r| r[..2] == strings(&["kube-system", "Active"])),
        "{namespaces:?}"
    );
}

#[test]
fn get_nodes() {
    let cluster = Cluster::up(&["--no-controllers", "--no-kubelet"]);
    create(
        &cluster,
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-1\n  labels:\n    node-role.kubernetes.io/control-plane: \"\"\n",
    );
    create(
        &cluster,
        "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-2\n",
    );
    let before = table(&cluster.kubectl_ok(&["get", "nodes"]));
    assert_eq!(
        before[0],
        strings(&["NAME", "STATUS", "ROLES", "AGE", "VERSION"])
    );
    // A node no kubelet has reported on yet: Unknown, no version (an empty cell).
    assert_eq!(
        before[1][..3],
        strings(&["node-1", "Unknown", "control-plane"])
    );

    let status = r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}],
        "addresses":[{"type":"InternalIP","address":"172.18.0.2"},{"type":"Hostname","address":"node-1"}],
        "nodeInfo":{"kubeletVersion":"v1.35.0","osImage":"Debian GNU/Linux 12 (bookworm)","kernelVersion":"6.1.0","containerRuntimeVersion":"containerd://2.1.0",
            "machineID":"","systemUUID":"","bootID":"","kubeProxyVersion":"","operatingSystem":"linux","architecture":"amd64"}}}"#;
    for node in ["node-1", "node-2"] {
        cluster.kubectl_ok(&[
            "patch",
            "node",
            node,
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ]);
    }
    // What `kubectl cordon` does (a merge patch here, so as not to depend on strategic merge).
    cluster.kubectl_ok(&[
        "patch",
        "node",
        "node-2",
        "--type=merge",
        "-p",
        r#"{"spec":{"unschedulable":true}}"#,
    ]);
    let nodes = table(&cluster.kubectl_ok(&["get", "nodes"]));
    assert_eq!(
        without_age(&nodes, 3),
        [
            strings(&["node-1", "Ready", "control-plane", "v1.35.0"]),
            strings(&["node-2", "Ready,SchedulingDisabled", "<none>", "v1.35.0"])
        ]
    );
    let wide = table(&cluster.kubectl_ok(&["get", "nodes", "-o", "wide"]));
    assert_eq!(
        wide[0],
        strings(&[
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ])
    );
    assert_eq!(
        without_age(&wide, 3)[0],
        strings(&[
            "node-1",
            "Ready",
            "control-plane",
            "v1.35.0",
            "172.18.0.2",
            "<none>",
            "Debian GNU/Linux 12 (bookworm)",
            "6.1.0",
            "containerd://2.1.0"
        ])
    );
}

/// `kubectl get priorityclasses` on a new cluster lists the two system classes, as a
/// real cluster's does, and `kubectl delete` of one is refused with upstream's words.
#[test]
fn get_priority_classes() {
    let cluster = Cluster::up(&["--no-controllers", "--no-scheduler", "--no-kubelet"]);
    let rows = table(&cluster.kubectl_ok(&["get", "pc"]));
    assert_eq!(
        rows[0],
        strings(&["NAME", "VALUE", "GLOBAL-DEFAULT", "AGE", "PREEMPTIONPOLICY"])
    );
    assert_eq!(
        without_age(&rows, 3),
        [
            strings(&[
                "system-cluster-critical",
                "2000000000",
                "false",
                "PreemptLowerPriority"
            ]),
            strings(&[
                "system-node-critical",
                "2000001000",
                "false",
                "PreemptLowerPriority"
            ]),
        ]
    );
    let out = cluster.kubectl(&["delete", "pc", "system-node-critical"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "Error from server (Forbidden): priorityclasses.scheduling.k8s.io \"system-node-critical\" is forbidden: this is a system priority class and cannot be deleted"
    );
}

#[test]
fn get_events() {
    // Without kubelets, whose own events about their nodes would be listed too.
    let cluster = Cluster::up(&["--no-controllers", "--no-kubelet"]);
    create(&cluster, &pod_yaml("web", "web"));
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // The event a kubelet records when it finds the image already pulled.
    let event = format!(
        r#"apiVersion: v1
kind: Event
metadata:
  name: web.1
involvedObject:
  apiVersion: v1
  kind: Pod
  name: web
  namespace: default
  fieldPath: spec.containers{{main}}
reason: Pulled
type: Normal
message: Container image "nginx:1.27" already present on machine
source:
  component: kubelet
  host: node-1
firstTimestamp: "{now}"
lastTimestamp: "{now}"
count: 1
"#
    );
    create(&cluster, &event);
    let events = table(&cluster.kubectl_ok(&["get", "events"]));
    assert_eq!(
        events[0],
        strings(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"])
    );
    assert!(is_fresh_age(&events[1][0]), "{events:?}");
    assert_eq!(
        events[1][1..],
        strings(&[
            "Normal",
            "Pulled",
            "pod/web",
            "Container image \"nginx:1.27\" already present on machine"
        ])
    );
    let wide = table(&cluster.kubectl_ok(&["get", "events", "-o", "wide"]));
    assert_eq!(
        wide[0],
        strings(&[
            "LAST SEEN",
            "TYPE",
            "REASON",
            "OBJECT",
            "SUBOBJECT",
            "SOURCE",
            "MESSAGE",
            "FIRST SEEN",
            "COUNT",
            "NAME"
        ])
    );
    assert_eq!(
        wide[1][4..6],
        strings(&["spec.containers{main}", "kubelet, node-1"])
    );
    assert_eq!(wide[1][8..], strings(&["1", "web.1"]));
}

/// Lines of a running `kubectl get -w`, as they come.
struct Watcher {
    child: std::process::Child,
    lines: Receiver<String>,
}

impl Watcher {
    fn start(cluster: &Cluster, args: &[&str]) -> Watcher {
        let mut child = Command::new(tool("KUBESIM_KUBECTL", ".tools/bin/kubectl"))
            .args(args)
            .env("KUBECONFIG", &cluster.kubeconfig)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl get -w");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Watcher { child, lines }
    }

    fn next(&self) -> Vec<String> {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a line from kubectl get -w");
        table(&line).into_iter().next().unwrap_or_default()
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn get_pods_watch() {
    // Only the test changes the pods: no scheduler marks them unschedulable, no kubelet runs them.
    let cluster = Cluster::up(&["--no-controllers", "--no-kubelet", "--no-scheduler"]);
    create(&cluster, &pod_yaml("first", "web"));
    let watcher = Watcher::start(&cluster, &["get", "pods", "-w"]);
    assert_eq!(
        watcher.next(),
        strings(&["NAME", "READY", "STATUS", "RESTARTS", "AGE"])
    );
    let first = watcher.next();
    assert_eq!(first[..4], strings(&["first", "0/1", "Pending", "0"]));

    // Each change is one more row; the header is not repeated.
    create(&cluster, &pod_yaml("second", "web"));
    let second = watcher.next();
    assert_eq!(second[..4], strings(&["second", "0/1", "Pending", "0"]));
    assert!(is_fresh_age(&second[4]), "{second:?}");
    set_pod_status(
        &cluster,
        "second",
        r#"{"phase":"Running","containerStatuses":[{"name":"main","image":"nginx:1.27","imageID":"","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ContainerCreating"}}}]}"#,
    );
    assert_eq!(
        watcher.next()[..4],
        strings(&["second", "0/1", "ContainerCreating", "0"])
    );
    // A pod on no node goes at once, but as upstream deletes pods: marked (a row saying
    // Terminating), then removed (the deleted object, still Terminating).
    cluster.kubectl_ok(&["delete", "pod", "first", "--wait=false"]);
    assert_eq!(
        watcher.next()[..4],
        strings(&["first", "0/1", "Terminating", "0"])
    );
    assert_eq!(
        watcher.next()[..4],
        strings(&["first", "0/1", "Terminating", "0"])
    );
}
