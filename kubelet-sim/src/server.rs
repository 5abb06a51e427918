//! The kubelet endpoint: one small HTTP server per process, for every simulated node
//! (all of them report its address as InternalIP and its port as
//! `daemonEndpoints.kubeletEndpoint.Port`, as kwok's nodes do).
//!
//! - `GET /containerLogs/{namespace}/{pod}/{container}` — a container's log, as the
//!   kubelet serves it to the API server's `pods/log` proxy: `follow`, `tailLines`,
//!   `timestamps`, `previous`, `sinceSeconds`, `limitBytes`.
//! - `GET /stats/summary` — CPU and memory in use per node, pod and container, in the
//!   shape of the kubelet's Summary API (`usageNanoCores`, `workingSetBytes`), for every
//!   node of this process at once (`nodes: [...]`); the API server's `metrics.k8s.io`
//!   reads it as metrics-server scrapes kubelets.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Context;
use crate::logs::Line;

/// Node overhead reported on top of its pods' use (system daemons).
const NODE_CPU_MILLIS: u64 = 50;
const NODE_MEMORY_BYTES: u64 = 256 * 1024 * 1024;

pub fn router(ctx: Arc<Context>) -> Router {
    Router::new()
        .route("/containerLogs/{namespace}/{pod}/{container}", get(container_logs))
        .route("/stats/summary", get(summary))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(ctx)
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct LogQuery {
    follow: Option<String>,
    previous: Option<String>,
    timestamps: Option<String>,
    tail_lines: Option<i64>,
    since_seconds: Option<i64>,
    limit_bytes: Option<i64>,
}

fn flag(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("true" | "1" | "True"))
}

fn render(line: &Line, timestamps: bool) -> String {
    if timestamps {
        // RFC 3339 with nanoseconds, as the kubelet prefixes lines.
        format!("{} {}\n", line.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), line.text)
    } else {
        format!("{}\n", line.text)
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

async fn container_logs(
    State(ctx): State<Arc<Context>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let key = (namespace.clone(), pod.clone(), container.clone());
    let previous = flag(&q.previous);
    let Some(snapshot) = ctx.logs.read(&key, previous) else {
        return if previous {
            text(StatusCode::BAD_REQUEST, format!("previous terminated container \"{container}\" in pod \"{pod}\" not found"))
        } else {
            // Known pod, container not started yet: an empty log, as for a waiting container.
            text(StatusCode::OK, String::new())
        };
    };
    let timestamps = flag(&q.timestamps);
    let since = q.since_seconds.filter(|s| *s > 0).map(|s| jiff::Timestamp::now() - jiff::SignedDuration::from_secs(s));
    let mut lines: Vec<Line> = snapshot.lines.into_iter().filter(|l| since.is_none_or(|t| l.time >= t)).collect();
    let seen_total = ctx.logs.since(&key, snapshot.restart, 0).map(|l| l.len()).unwrap_or(0);
    if let Some(tail) = q.tail_lines.filter(|t| *t >= 0) {
        let skip = lines.len().saturating_sub(tail as usize);
        lines.drain(..skip);
    }
    let mut body: String = lines.iter().map(|l| render(l, timestamps)).collect();
    let limit = q.limit_bytes.filter(|l| *l > 0).map(|l| l as usize);
    if let Some(limit) = limit {
        if body.len() > limit {
            let mut cut = limit;
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            body.truncate(cut);
            return text(StatusCode::OK, body);
        }
    }
    if !flag(&q.follow) || previous {
        return text(StatusCode::OK, body);
    }
    // Follow: send what there is, then each new line of this container instance, until
    // it stops (its instance is no longer current or the pod is gone).
    let logs = ctx.logs.clone();
    let restart = snapshot.restart;
    let running = ctx.running.clone();
    let stream = futures::stream::unfold((Some(body), seen_total, snapshot.changed), move |(first, mut offset, mut changed)| {
        let logs = logs.clone();
        let key = key.clone();
        let running = running.clone();
        async move {
            if let Some(first) = first {
                return Some((Ok::<_, std::convert::Infallible>(bytes::Bytes::from(first)), (None, offset, changed)));
            }
            loop {
                changed.borrow_and_update();
                match logs.since(&key, restart, offset) {
                    Some(new) if !new.is_empty() => {
                        offset += new.len();
                        let chunk: String = new.iter().map(|l| render(l, timestamps)).collect();
                        return Some((Ok(bytes::Bytes::from(chunk)), (None, offset, changed)));
                    }
                    Some(_) => {}
                    None => return None,
                }
                if !container_running(&running, &key) {
                    return None;
                }
                if changed.changed().await.is_err() {
                    return None;
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    response
}

fn container_running(running: &crate::RunningPods, key: &crate::logs::Key) -> bool {
    let all = running.lock();
    all.values()
        .find(|r| r.namespace == key.0 && r.name == key.1)
        .is_some_and(|r| r.sim.lock().usage(std::time::Duration::ZERO).iter().any(|(c, _, _)| *c == key.2))
}

/// Usage of every node and pod of this process.
pub fn usage(ctx: &Context) -> Value {
    let now = ctx.clock.now();
    let wall = jiff::Timestamp::now().to_string();
    let mut nodes: BTreeMap<String, (u64, u64, Vec<Value>)> =
        ctx.nodes.keys().map(|n| (n.clone(), (NODE_CPU_MILLIS, NODE_MEMORY_BYTES, Vec::new()))).collect();
    let running: Vec<crate::pods::Running> = ctx.running.lock().values().cloned().collect();
    for pod in running {
        let usage = pod.sim.lock().usage(now);
        let Some(node) = nodes.get_mut(&pod.node) else { continue };
        let containers: Vec<Value> = usage
            .iter()
            .map(|(name, cpu, mem)| {
                node.0 += cpu;
                node.1 += mem;
                json!({"name": name, "cpu": {"time": wall, "usageNanoCores": cpu * 1_000_000}, "memory": {"time": wall, "workingSetBytes": mem}})
            })
            .collect();
        if containers.is_empty() {
            continue;
        }
        node.2.push(json!({"podRef": {"name": pod.name, "namespace": pod.namespace, "uid": pod.uid}, "containers": containers}));
    }
    let nodes: Vec<Value> = nodes
        .into_iter()
        .map(|(name, (cpu, mem, pods))| {
            json!({"nodeName": name, "cpu": {"time": wall, "usageNanoCores": cpu * 1_000_000}, "memory": {"time": wall, "workingSetBytes": mem}, "pods": pods})
        })
        .collect();
    json!({"nodes": nodes})
}

async fn summary(State(ctx): State<Arc<Context>>) -> Response {
    axum::Json(usage(&ctx)).into_response()
}
