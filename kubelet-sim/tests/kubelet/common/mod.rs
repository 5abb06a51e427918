//! What the tests against a live API server share: an in-process API server on a free
//! port, kubelet-sim against it, and waiting on conditions (never fixed sleeps).
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Node, Pod};
use kube::Api;
use kube::api::{PostParams, WatchEvent, WatchParams};
use kubesim_kubelet::{Config, Kubelet};
use serde_json::{Value, json};

pub struct Sim {
    pub client: kube::Client,
    pub url: String,
    pub endpoint: std::net::SocketAddr,
    /// The runtime the kubelet-sim runs on: dropping it stops kubelet-sim (as killing
    /// the process would).
    pub kubelet: Option<tokio::runtime::Runtime>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(rt) = self.kubelet.take() {
            rt.shutdown_background();
        }
    }
}

/// An API server and kubelet-sim with `nodes` nodes at time scale `scale`.
pub async fn start(nodes: usize, scale: f64) -> Sim {
    start_with(nodes, scale, |_| {}).await
}

pub async fn start_with(nodes: usize, scale: f64, configure: impl FnOnce(&mut Config)) -> Sim {
    let server = kubesim_apiserver::ApiServer::new(kubesim_apiserver::Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(kubesim_apiserver::serve(
        server,
        listener,
        std::future::pending(),
    ));
    let mut config = Config::new(&url, nodes);
    config.time_scale = scale;
    config.lease_renew_interval = Duration::from_millis(300);
    configure(&mut config);
    let (kubelet, endpoint) = kubelet(config);
    let client = kubesim_kubelet::client(&url).unwrap();
    let sim = Sim {
        client,
        url,
        endpoint,
        kubelet: Some(kubelet),
    };
    sim.nodes_ready(nodes).await;
    sim
}

/// kubelet-sim on a runtime of its own.
pub fn kubelet(config: Config) -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let kubelet = std::thread::scope(|s| {
        s.spawn(|| rt.block_on(Kubelet::new(config)))
            .join()
            .unwrap()
    })
    .unwrap();
    let endpoint = kubelet.context.endpoint;
    rt.spawn(kubelet.run());
    (rt, endpoint)
}

/// Wait (up to 30 s) until `f` gives something.
pub async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl Sim {
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub async fn nodes_ready(&self, nodes: usize) {
        let api: Api<Node> = Api::all(self.client.clone());
        let ready = |n: &Node| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        };
        eventually("nodes Ready", || async {
            (api.list(&Default::default())
                .await
                .unwrap()
                .items
                .iter()
                .filter(|n| ready(n))
                .count()
                == nodes)
                .then_some(())
        })
        .await;
    }

    /// Create a pod on `kubesim-node-0` (`spec.nodeName`, as a test binding it itself).
    pub async fn run(&self, pod: Value) -> String {
        self.run_on("kubesim-node-0", pod).await
    }

    pub async fn run_on(&self, node: &str, mut pod: Value) -> String {
        pod["spec"]["nodeName"] = json!(node);
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        let pod: Pod = serde_json::from_value(pod).unwrap();
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .unwrap();
        name
    }

    pub async fn until(&self, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
        let pods = self.pods();
        eventually(what, || async {
            pods.get_opt(name).await.unwrap().filter(|p| check(p))
        })
        .await
    }

    pub async fn gone(&self, name: &str) {
        let pods = self.pods();
        eventually(&format!("{name} gone"), || async {
            pods.get_opt(name).await.unwrap().is_none().then_some(())
        })
        .await;
    }

    /// Every version of the pod seen in a watch from now, with when it was seen, until
    /// `done` says so (or the pod is deleted).
    pub async fn watch(
        &self,
        name: &str,
        done: impl Fn(&Pod) -> bool,
    ) -> Vec<(std::time::Instant, Pod)> {
        let params = WatchParams::default().fields(&format!("metadata.name={name}"));
        let stream = self.pods().watch(&params, "0").await.unwrap();
        futures::pin_mut!(stream);
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let event = tokio::time::timeout_at(deadline, stream.next())
                .await
                .unwrap_or_else(|_| panic!("{name}: watch timed out"));
            match event {
                Some(Ok(WatchEvent::Added(p) | WatchEvent::Modified(p))) => {
                    let stop = done(&p);
                    seen.push((std::time::Instant::now(), p));
                    if stop {
                        return seen;
                    }
                }
                Some(Ok(WatchEvent::Deleted(p))) => {
                    seen.push((std::time::Instant::now(), p));
                    return seen;
                }
                Some(Ok(_)) => {}
                other => panic!("{name}: watch ended: {other:?}"),
            }
        }
    }

    /// The kubelet's Events about a pod: (reason, message, fieldPath).
    pub async fn events(&self, pod: &str) -> Vec<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        api.list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some(pod))
            .collect()
    }

    /// The pod as JSON, exactly as the API server has it.
    pub async fn raw(&self, name: &str) -> Value {
        let req = http::Request::get(format!("/api/v1/namespaces/default/pods/{name}"))
            .body(Vec::new())
            .unwrap();
        serde_json::from_str(&self.client.request_text(req).await.unwrap()).unwrap()
    }

    /// Annotate a Node (a fault: `kubesim.io/stopped`, ...); `None` removes.
    pub async fn annotate_node(&self, node: &str, key: &str, value: Option<&str>) {
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({"metadata": {"annotations": {key: value}}});
        api.patch(
            node,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .unwrap();
    }

    /// GET from the kubelet endpoint: status and body.
    pub async fn kubelet_get(&self, path: &str) -> (u16, String) {
        http_get(&format!("http://{}{path}", self.endpoint)).await
    }
}

pub fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn condition<'a>(p: &'a Pod, t: &str) -> Option<&'a str> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
        .map(|c| c.status.as_str())
}

pub fn container(p: &Pod) -> ContainerStatus {
    p.status
        .as_ref()
        .unwrap()
        .container_statuses
        .as_ref()
        .unwrap()[0]
        .clone()
}

pub fn containers(p: &Pod) -> Vec<ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.clone())
        .unwrap_or_default()
}

pub fn init_containers(p: &Pod) -> Vec<ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.init_container_statuses.clone())
        .unwrap_or_default()
}

/// `running`, `waiting:<reason>`, `terminated:<code>` or `none`.
pub fn state(c: &ContainerStatus) -> String {
    let Some(s) = c.state.as_ref() else {
        return "none".into();
    };
    if s.running.is_some() {
        "running".into()
    } else if let Some(t) = &s.terminated {
        format!("terminated:{}", t.exit_code)
    } else if let Some(w) = &s.waiting {
        format!("waiting:{}", w.reason.as_deref().unwrap_or(""))
    } else {
        "none".into()
    }
}

/// A plain HTTP/1.1 GET: status and body (chunked bodies joined).
pub async fn http_get(url: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        uri.path_and_query().unwrap()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    if !out.to_lowercase().contains("transfer-encoding: chunked") {
        return (status, body);
    }
    let mut text = String::new();
    let mut rest = body.as_str();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || tail.len() < n {
            break;
        }
        text.push_str(&tail[..n]);
        rest = tail.get(n + 2..).unwrap_or("");
    }
    (status, text)
}
