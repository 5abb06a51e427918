//! An in-process API server on a free port, a scheduler against it, and object helpers.

#![allow(dead_code)]

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

pub struct Env {
    pub url: String,
    pub client: Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// An API server only.
pub async fn api_server() -> Env {
    let server = kubesim_apiserver::ApiServer::new(kubesim_apiserver::Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = kubesim_apiserver::serve(server, listener, std::future::pending()).await;
    });
    let client = kubesim_scheduler::client(&url).expect("client");
    Env {
        url,
        client,
        tasks: vec![task],
    }
}

/// An API server that holds the scheduler's PATCHes of pod `pod` (and its status) for
/// `delay` before serving them: its writes after a failed attempt then come late, as they
/// can on a busy machine.
pub async fn api_server_delaying_scheduler_patches(pod: &'static str, delay: Duration) -> Env {
    use axum::extract::Request;
    use axum::middleware::Next;
    let server = kubesim_apiserver::ApiServer::new(kubesim_apiserver::Config::default());
    let path = format!("/api/v1/namespaces/default/pods/{pod}");
    let router = server.router().layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let held = req.method() == axum::http::Method::PATCH
                && req.uri().path().trim_end_matches("/status") == path
                && req
                    .headers()
                    .get(axum::http::header::USER_AGENT)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|ua| ua.starts_with("kube-scheduler/"));
            async move {
                if held {
                    tokio::time::sleep(delay).await;
                }
                next.run(req).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let client = kubesim_scheduler::client(&url).expect("client");
    Env {
        url,
        client,
        tasks: vec![task],
    }
}

impl Env {
    /// Start a scheduler with this configuration file text (None: defaults).
    pub fn start_scheduler(&mut self, config_yaml: Option<&str>) {
        let mut config = kubesim_scheduler::Config::new(&self.url);
        config.file = config_yaml.map(|y| kubesim_scheduler::config::parse(y).expect("config"));
        self.tasks.push(tokio::spawn(async move {
            if let Err(e) = kubesim_scheduler::run(config).await {
                panic!("scheduler: {e}");
            }
        }));
    }

    /// Start a scheduler built from `config`; it runs until the Env is dropped.
    pub fn scheduler(
        &mut self,
        config: kubesim_scheduler::Config,
    ) -> std::sync::Arc<kubesim_scheduler::Scheduler> {
        let scheduler = kubesim_scheduler::build(&config).expect("scheduler");
        self.tasks.push(tokio::spawn(scheduler.clone().run()));
        scheduler
    }

    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), "default")
    }

    pub async fn node(&self, name: &str, cpu: &str, memory: &str, extra: Value) -> Node {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let mut body = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": {}});
        merge(&mut body, &extra);
        let node: Node = serde_json::from_value(body).expect("node");
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        nodes
            .create(&PostParams::default(), &node)
            .await
            .expect("create node");
        // Admission adds the not-ready taint to a new node; these nodes are ready.
        nodes
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"taints": taints}})),
            )
            .await
            .expect("node taints");
        let status = json!({"status": {"capacity": {"cpu": cpu, "memory": memory, "pods": "110"}, "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubesim test node"}]}});
        nodes
            .patch_status(name, &PatchParams::default(), &Patch::Merge(status))
            .await
            .expect("node status")
    }

    /// Create a pod from JSON (metadata.name required; namespace default).
    pub async fn pod(&self, body: Value) -> Pod {
        let mut full = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "default"}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        merge(&mut full, &body);
        let pod: Pod = serde_json::from_value(full).expect("pod");
        self.pods()
            .create(&PostParams::default(), &pod)
            .await
            .expect("create pod")
    }

    pub async fn get_pod(&self, name: &str) -> Pod {
        self.pods().get(name).await.expect("get pod")
    }

    /// Wait until the pod is bound; its node.
    pub async fn bound(&self, name: &str) -> String {
        let pods = self.pods();
        eventually(&format!("pod {name} bound"), || async {
            pods.get(name)
                .await
                .ok()
                .and_then(|p| p.spec.and_then(|s| s.node_name))
        })
        .await
    }

    /// Wait for PodScheduled=False on the pod; its message.
    pub async fn unschedulable(&self, name: &str) -> String {
        let pods = self.pods();
        eventually(&format!("pod {name} unschedulable"), || async {
            let p = pods.get(name).await.ok()?;
            let c = p
                .status?
                .conditions?
                .into_iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
            (c.reason.as_deref() == Some("Unschedulable")).then_some(c.message.unwrap_or_default())
        })
        .await
    }

    /// The explanation annotation, parsed, once present (and matching `pred`).
    pub async fn explanation(&self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let pods = self.pods();
        eventually(&format!("explanation on {name}"), || async {
            let p = pods.get(name).await.ok()?;
            let text = p
                .metadata
                .annotations?
                .get(kubesim_scheduler::explain::ANNOTATION)?
                .clone();
            let v: Value = serde_json::from_str(&text).ok()?;
            pred(&v).then_some(v)
        })
        .await
    }

    /// Events about a pod with this reason, once there is one.
    pub async fn events(&self, pod: &str, reason: &str) -> Vec<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), "default");
        eventually(&format!("{reason} event for {pod}"), || async {
            let list = api.list(&ListParams::default()).await.ok()?;
            let found: Vec<Event> = list
                .items
                .into_iter()
                .filter(|e| {
                    e.involved_object.name.as_deref() == Some(pod)
                        && e.reason.as_deref() == Some(reason)
                })
                .collect();
            (!found.is_empty()).then_some(found)
        })
        .await
    }
}

pub fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The scheduler's `scheduler_pending_pods` gauges summed.
pub fn pending(s: &kubesim_scheduler::Scheduler) -> u64 {
    s.metrics_text()
        .lines()
        .filter(|l| l.starts_with("scheduler_pending_pods{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Poll `f` until it returns Some (10 s at most).
pub async fn eventually<T, F, Fut>(what: &str, f: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A container requesting cpu/memory.
pub fn requests(cpu: &str, memory: &str) -> Value {
    let mut r = json!({});
    if !cpu.is_empty() {
        r["cpu"] = json!(cpu);
    }
    if !memory.is_empty() {
        r["memory"] = json!(memory);
    }
    json!({"containers": [{"name": "c", "image": "nginx", "resources": {"requests": r}}]})
}
