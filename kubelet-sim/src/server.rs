//! The kubelet endpoint: one small HTTP server per process, for every simulated node
//! (all of them report its address as InternalIP and its port as
//! `daemonEndpoints.kubeletEndpoint.Port`, as kwok's nodes do).
//!
//! - `GET /containerLogs/{namespace}/{pod}/{container}` — a container's log, as the
//!   kubelet serves it to the API server's `pods/log` proxy: `follow`, `tailLines`,
//!   `timestamps`, `previous`, `sinceSeconds`, `sinceTime`, `limitBytes`.
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
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(container_logs),
        )
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
    since_time: Option<String>,
    limit_bytes: Option<i64>,
}

fn flag(v: &Option<String>) -> bool {
    matches!(v.as_deref(), Some("true" | "1" | "True"))
}

fn render(line: &Line, timestamps: bool) -> String {
    if timestamps {
        // RFC 3339 with nanoseconds, as the kubelet prefixes lines.
        format!(
            "{} {}\n",
            line.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            line.text
        )
    } else {
        format!("{}\n", line.text)
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// The oldest line wanted: `sinceSeconds` before now, or `sinceTime` (RFC 3339). A
/// `sinceSeconds` reaching before the calendar starts means every line.
fn since(q: &LogQuery) -> Result<Option<jiff::Timestamp>, String> {
    if let Some(time) = q.since_time.as_deref() {
        return time
            .parse::<jiff::Timestamp>()
            .map(Some)
            .map_err(|e| format!("invalid sinceTime {time:?}: {e}"));
    }
    Ok(q.since_seconds.filter(|s| *s > 0).and_then(|s| {
        jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(s))
            .ok()
    }))
}

/// `GET /containerLogs/{namespace}/{pod}/{container}`: as the kubelet's
/// `GetKubeletContainerLogs`, the instance is chosen from the container's status (the
/// running one, else the last exited; `previous`: the one before), and a container that
/// never ran is a 400 saying why (`... is waiting to start: ContainerCreating`).
async fn container_logs(
    State(ctx): State<Arc<Context>>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(q): Query<LogQuery>,
) -> Response {
    let found = ctx
        .running
        .lock()
        .values()
        .find(|r| r.namespace == namespace && r.name == pod)
        .cloned();
    let Some(running) = found else {
        return text(StatusCode::NOT_FOUND, format!("pod {pod:?} does not exist"));
    };
    let previous = flag(&q.previous);
    let id = match running.sim.lock().log_instance(&container, previous) {
        Ok(id) => id,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let since = match since(&q) {
        Ok(since) => since,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let key = (running.uid.clone(), container.clone());
    let Some(snapshot) = ctx.logs.read(&key, &id, 0) else {
        // Started, nothing printed yet.
        return text(StatusCode::OK, String::new());
    };
    let timestamps = flag(&q.timestamps);
    let mut lines: Vec<Line> = snapshot
        .lines
        .into_iter()
        .filter(|l| since.is_none_or(|t| l.time >= t))
        .collect();
    if let Some(tail) = q.tail_lines.filter(|t| *t >= 0) {
        let skip = lines
            .len()
            .saturating_sub(usize::try_from(tail).unwrap_or(usize::MAX));
        lines.drain(..skip);
    }
    let mut body: String = lines.iter().map(|l| render(l, timestamps)).collect();
    if let Some(limit) = q
        .limit_bytes
        .filter(|l| *l > 0)
        .map(|l| usize::try_from(l).unwrap_or(usize::MAX))
        && body.len() > limit
    {
        let mut cut = limit;
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body.truncate(cut);
        return text(StatusCode::OK, body);
    }
    if !flag(&q.follow) || previous || snapshot.ended {
        return text(StatusCode::OK, body);
    }
    // Follow: send what there is, then each new line of this instance, until its last.
    let logs = ctx.logs.clone();
    let state = (Some(body), snapshot.end, snapshot.changed);
    let stream = futures::stream::unfold(state, move |(first, offset, mut changed)| {
        let (logs, key, id) = (logs.clone(), key.clone(), id.clone());
        async move {
            if let Some(first) = first {
                return Some((
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from(first)),
                    (None, offset, changed),
                ));
            }
            loop {
                changed.borrow_and_update();
                let snapshot = logs.read(&key, &id, offset)?;
                if !snapshot.lines.is_empty() {
                    let chunk: String = snapshot
                        .lines
                        .iter()
                        .map(|l| render(l, timestamps))
                        .collect();
                    return Some((Ok(bytes::Bytes::from(chunk)), (None, snapshot.end, changed)));
                }
                if snapshot.ended || changed.changed().await.is_err() {
                    return None;
                }
            }
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    response
}

/// Usage of every node and pod of this process.
pub fn usage(ctx: &Context) -> Value {
    let now = ctx.clock.now();
    let wall = jiff::Timestamp::now().to_string();
    let mut nodes: BTreeMap<String, (u64, u64, Vec<Value>)> = ctx
        .nodes
        .keys()
        .map(|n| (n.clone(), (NODE_CPU_MILLIS, NODE_MEMORY_BYTES, Vec::new())))
        .collect();
    let running: Vec<crate::pods::Running> = ctx.running.lock().values().cloned().collect();
    for pod in running {
        let usage = pod.sim.lock().usage(now);
        let Some(node) = nodes.get_mut(&pod.node) else {
            continue;
        };
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
