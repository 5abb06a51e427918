//! kubelet-sim against a live API server (in-process, on a free port): the test binds
//! pods itself through `pods/binding`; no scheduler.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use kubesim_kubelet::{Config, Kubelet};
use serde_json::{Value, json};

struct Sim {
    client: kube::Client,
    endpoint: std::net::SocketAddr,
}

async fn start(nodes: usize, scale: f64) -> Sim {
    let server = kubesim_apiserver::ApiServer::new(kubesim_apiserver::Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(kubesim_apiserver::serve(server, listener, std::future::pending()));
    let mut config = Config::new(&url, nodes);
    config.time_scale = scale;
    config.lease_renew_interval = Duration::from_millis(300);
    let kubelet = Kubelet::new(config).await.unwrap();
    let endpoint = kubelet.context.endpoint;
    tokio::spawn(kubelet.run());
    let client = kubesim_kubelet::client(&url).unwrap();
    let nodes_api: Api<Node> = Api::all(client.clone());
    let ready = |n: &Node| n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    eventually("nodes Ready", || async { (nodes_api.list(&Default::default()).await.unwrap().items.iter().filter(|n| ready(n)).count() == nodes).then_some(()) }).await;
    Sim { client, endpoint }
}

async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, mut f: impl FnMut() -> F) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Sim {
    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    /// Create a pod and bind it to `kubesim-node-0`, as the scheduler would.
    async fn run(&self, pod: Value) -> String {
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let pod: Pod = serde_json::from_value(pod).unwrap();
        self.pods().create(&PostParams::default(), &pod).await.unwrap();
        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": "kubesim-node-0"}});
        let req = http_post(&format!("/api/v1/namespaces/default/pods/{name}/binding"), binding);
        self.client.request_text(req).await.unwrap();
        name
    }

    async fn until(&self, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
        let pods = self.pods();
        eventually(what, || async { pods.get_opt(name).await.unwrap().filter(|p| check(p)) }).await
    }
}

fn http_post(path: &str, body: Value) -> axum::http::Request<Vec<u8>> {
    axum::http::Request::post(path).header("content-type", "application/json").body(serde_json::to_vec(&body).unwrap()).unwrap()
}

fn phase(p: &Pod) -> &str {
    p.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn condition<'a>(p: &'a Pod, t: &str) -> Option<&'a str> {
    p.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == t).map(|c| c.status.as_str())
}

fn container(p: &Pod) -> k8s_openapi::api::core::v1::ContainerStatus {
    p.status.as_ref().unwrap().container_statuses.as_ref().unwrap()[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_and_renew_leases() {
    let sim = start(2, 1.0).await;
    let node: Node = Api::all(sim.client.clone()).get("kubesim-node-1").await.unwrap();
    let status = node.status.unwrap();
    let ready = status.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("True", Some("KubeletReady")));
    assert_eq!(status.capacity.unwrap()["pods"].0, "110");
    assert_eq!(status.daemon_endpoints.unwrap().kubelet_endpoint.unwrap().port, i32::from(sim.endpoint.port()));
    assert_eq!(node.spec.unwrap().pod_cidr.as_deref(), Some("10.244.1.0/24"));
    assert_eq!(node.metadata.labels.unwrap()["kubernetes.io/hostname"], "kubesim-node-1");

    // Renewals are seen through a watch.
    let leases: Api<Lease> = Api::namespaced(sim.client.clone(), "kube-node-lease");
    let lease = eventually("lease", || async { leases.get_opt("kubesim-node-0").await.unwrap() }).await;
    assert_eq!(lease.spec.as_ref().unwrap().holder_identity.as_deref(), Some("kubesim-node-0"));
    let params = kube::api::WatchParams::default().fields("metadata.name=kubesim-node-0");
    let stream = leases.watch(&params, lease.metadata.resource_version.as_deref().unwrap()).await.unwrap();
    futures::pin_mut!(stream);
    let mut renewals = 0;
    while renewals < 2 {
        if let Some(Ok(kube::api::WatchEvent::Modified(_))) = tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap() {
            renewals += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_pod_becomes_running_and_ready() {
    let sim = start(1, 1.0).await;
    let name = sim.run(json!({"metadata": {"name": "web", "annotations": {"kubesim.io/startup-delay": "300ms"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}})).await;
    let pending = sim.until(&name, "ContainerCreating", |p| phase(p) == "Pending" && p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).is_some()).await;
    assert_eq!(container(&pending).state.unwrap().waiting.unwrap().reason.as_deref(), Some("ContainerCreating"));
    let pod = sim.until(&name, "Running", |p| phase(p) == "Running").await;
    let s = pod.status.clone().unwrap();
    assert_eq!(condition(&pod, "Ready"), Some("True"));
    assert_eq!(condition(&pod, "PodScheduled"), Some("True"));
    assert_eq!(condition(&pod, "PodReadyToStartContainers"), Some("True"));
    assert!(s.pod_ip.as_deref().unwrap().starts_with("10.244.0."));
    assert_eq!(s.host_ip.as_deref(), Some("127.0.0.1"));
    assert!(s.start_time.is_some());
    let c = container(&pod);
    assert!(c.ready && c.started == Some(true) && c.state.unwrap().running.unwrap().started_at.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_and_exit_codes_end_the_pod() {
    let sim = start(1, 10.0).await;
    let ok = sim.run(json!({"metadata": {"name": "ok"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "2"]}]}})).await;
    let bad = sim.run(json!({"metadata": {"name": "bad"}, "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]}})).await;
    let pod = sim.until(&ok, "Succeeded", |p| phase(p) == "Succeeded").await;
    assert_eq!(container(&pod).state.unwrap().terminated.unwrap().exit_code, 0);
    let pod = sim.until(&bad, "Failed", |p| phase(p) == "Failed").await;
    assert_eq!(container(&pod).state.unwrap().terminated.unwrap().exit_code, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_deletion_waits_for_the_stop_then_deletes() {
    let sim = start(1, 1.0).await;
    let name = sim.run(json!({"metadata": {"name": "slow", "annotations": {"kubesim.io/stop-delay": "1s"}}, "spec": {"containers": [{"name": "c", "image": "app"}]}})).await;
    sim.until(&name, "Running", |p| phase(p) == "Running").await;
    let started = std::time::Instant::now();
    sim.pods().delete(&name, &DeleteParams::default()).await.unwrap();
    let terminating = sim.pods().get(&name).await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    let pods = sim.pods();
    eventually("pod gone", || async { pods.get_opt(&name).await.unwrap().is_none().then_some(()) }).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "gone after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_stats_are_served_by_the_kubelet_endpoint() {
    let sim = start(1, 1.0).await;
    let name = sim.run(json!({"metadata": {"name": "talk", "annotations": {"kubesim.io/cpu": "250m", "kubesim.io/memory": "64Mi"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo hello; sleep 3600"]}]}})).await;
    sim.until(&name, "Running", |p| phase(p) == "Running").await;
    let base = format!("http://{}", sim.endpoint);
    let body = eventually("log", || async {
        let text = reqwest_get(&format!("{base}/containerLogs/default/talk/c")).await;
        text.contains("hello").then_some(text)
    })
    .await;
    assert!(body.starts_with("Started container c"), "{body}");
    let stats: Value = serde_json::from_str(&reqwest_get(&format!("{base}/stats/summary")).await).unwrap();
    let pod = &stats["nodes"][0]["pods"][0];
    assert_eq!(pod["podRef"]["name"], "talk");
    assert_eq!(pod["containers"][0]["cpu"]["usageNanoCores"], 250_000_000u64);
    assert_eq!(pod["containers"][0]["memory"]["workingSetBytes"], 64 * 1024 * 1024);
}

async fn reqwest_get(url: &str) -> String {
    let uri: axum::http::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!("GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n", uri.path_and_query().unwrap());
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    // Chunked or not: keep only the text lines.
    if out.to_lowercase().contains("transfer-encoding: chunked") {
        let mut text = String::new();
        let mut rest = body.as_str();
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            text.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        text
    } else {
        body
    }
}
