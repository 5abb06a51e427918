//! The API server benchmark's phases, run by `kubesim-bench` (`scripts/bench`) and, with
//! tiny counts, by the `bench_smoke` test.
//!
//! Servers run in-process on one dedicated tokio runtime ([`Rig::server_rt`]) and the load
//! on another ([`Rig::client_rt`]), each with its own worker threads, so clients and
//! servers never share a worker. Every HTTP client is a hyper HTTP/1.1 connection over
//! TCP on 127.0.0.1, reused for many requests.
//!
//! This is a measuring tool: setup failures panic with a message; request failures are
//! counted and reported.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use kubesim_apiserver::storage::{Key, Preconditions};
use kubesim_apiserver::{ApiServer, Config};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Where the ConfigMap creates go.
pub const CONFIGMAPS_PATH: &str = "/api/v1/namespaces/default/configmaps";
/// The no-op route the creates are compared with.
pub const NOOP_PATH: &str = "/noop";

// ---------------------------------------------------------------------------------------
// Machine and process facts

/// What the figures were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
}

pub fn machine() -> Machine {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    Machine { nproc, cpu_model }
}

/// This process's resident set size in KiB (`VmRSS` in /proc/self/status), if readable.
pub fn vm_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user + system) used so far by this process's threads whose name starts with
/// `prefix` (the runtimes name theirs `bench-server` and `bench-client`), from /proc.
/// Threads that have exited are not counted, so take differences over a phase in which the
/// runtimes live. Resolution: one clock tick (10 ms).
pub fn threads_cpu(prefix: &str) -> Duration {
    const TICK: Duration = Duration::from_millis(10);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| {
            fields
                .get(n - 3)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        ticks += field(14) + field(15);
    }
    TICK * ticks as u32
}

/// The `p`-th percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------
// Runtimes and servers

/// Two runtimes: one for the servers, one for the load.
pub struct Rig {
    pub server_rt: Runtime,
    pub client_rt: Runtime,
    pub server_threads: usize,
    pub client_threads: usize,
}

impl Rig {
    pub fn new(server_threads: usize, client_threads: usize) -> Rig {
        let runtime = |name: &str, threads: usize| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads.max(1))
                .thread_name(name)
                .enable_all()
                .build()
                .expect("build a tokio runtime")
        };
        Rig {
            server_rt: runtime("bench-server", server_threads),
            client_rt: runtime("bench-client", client_threads),
            server_threads: server_threads.max(1),
            client_threads: client_threads.max(1),
        }
    }

    /// The kubesim API server, served by `kubesim_apiserver::serve` on the server runtime.
    pub fn start_kubesim(&self, config: Config) -> Served {
        let server = ApiServer::new(config);
        let api = server.clone();
        let mut served = self.serve(move |listener, stop| async move {
            kubesim_apiserver::serve(api, listener, stop)
                .await
                .expect("kubesim serves");
        });
        served.server = Some(server);
        served
    }

    /// A tiny axum router with `POST /noop`, served the same way (axum::serve, TCP listener,
    /// graceful shutdown) on the same runtime as kubesim.
    pub fn start_noop(&self) -> Served {
        self.serve(|listener, stop| async move {
            axum::serve(listener, noop_router())
                .with_graceful_shutdown(stop)
                .await
                .expect("no-op serves");
        })
    }

    fn serve<F, Fut>(&self, run: F) -> Served
    where
        F: FnOnce(TcpListener, std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = self
            .server_rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("listener address");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            let _ = stopped.await;
        });
        self.server_rt.spawn(run(listener, shutdown));
        Served {
            addr,
            server: None,
            stop: Some(stop),
        }
    }
}

/// The no-op comparison: read the body, answer 201 with a small JSON body.
pub fn noop_router() -> Router {
    async fn noop(body: Bytes) -> impl IntoResponse {
        let answer = format!("{{\"ok\":true,\"received\":{}}}", body.len());
        (
            StatusCode::CREATED,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            answer,
        )
    }
    Router::new().route(NOOP_PATH, axum::routing::post(noop))
}

/// A running server; stopped when dropped.
pub struct Served {
    pub addr: SocketAddr,
    /// The kubesim server's state, for writing through its storage directly.
    pub server: Option<Arc<ApiServer>>,
    stop: Option<oneshot::Sender<()>>,
}

impl Served {
    pub fn api(&self) -> &Arc<ApiServer> {
        self.server.as_ref().expect("a kubesim server")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------
// HTTP client

type Sender = SendRequest<Full<Bytes>>;

/// One keep-alive HTTP/1.1 connection.
pub async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("nodelay: {e}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn request(method: &str, addr: SocketAddr, path: &str, body: Bytes) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(body))
        .expect("a well-formed request")
}

/// Send a request and read the whole answer: status and body.
pub async fn send(
    sender: &mut Sender,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection not ready: {e}"))?;
    let response = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// A small ConfigMap, as the creates POST it.
pub fn configmap_body(name: &str) -> Bytes {
    Bytes::from(format!(
        "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{name}\"}},\"data\":{{\"key\":\"value\"}}}}"
    ))
}

// ---------------------------------------------------------------------------------------
// Phase 1: creates/s against a no-op route

/// One timed run of POSTs over keep-alive connections.
#[derive(Debug, Clone, Default)]
pub struct PostRun {
    pub target: String,
    pub connections: usize,
    /// Requests answered 201.
    pub ok: u64,
    /// Requests answered anything else, or that failed on the wire.
    pub failures: u64,
    pub first_failure: Option<String>,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// CPU time the server runtime's and the load runtime's threads used during the run.
    pub server_cpu: Duration,
    pub client_cpu: Duration,
    /// Every successful request's latency, sorted.
    pub latencies: Vec<Duration>,
}

impl PostRun {
    /// Runs of the same target pooled: requests, time and CPU added, latencies merged.
    pub fn pooled(runs: &[PostRun]) -> PostRun {
        let mut pooled = PostRun {
            target: runs.first().map(|r| r.target.clone()).unwrap_or_default(),
            connections: runs.first().map_or(0, |r| r.connections),
            ..PostRun::default()
        };
        for run in runs {
            pooled.ok += run.ok;
            pooled.failures += run.failures;
            if pooled.first_failure.is_none() {
                pooled.first_failure = run.first_failure.clone();
            }
            pooled.elapsed += run.elapsed;
            pooled.server_cpu += run.server_cpu;
            pooled.client_cpu += run.client_cpu;
            pooled.latencies.extend(&run.latencies);
        }
        pooled.latencies.sort_unstable();
        pooled.p50 = percentile(&pooled.latencies, 50.0);
        pooled.p99 = percentile(&pooled.latencies, 99.0);
        pooled
    }

    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Server CPU time per successful request.
    pub fn server_cpu_per_request(&self) -> Duration {
        self.server_cpu / (self.ok.max(1) as u32)
    }

    /// Busy share of one core, over the run.
    pub fn server_cpu_share(&self) -> f64 {
        self.server_cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn client_cpu_share(&self) -> f64 {
        self.client_cpu.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `connections` clients POSTing a small ConfigMap with a unique name to `path` for
/// `duration`, each over one keep-alive connection; every status must be 201.
pub fn post_load(
    rig: &Rig,
    target: &str,
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> PostRun {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let path = path.to_string();
    rig.client_rt.block_on(async move {
        let mut senders = Vec::with_capacity(connections);
        for _ in 0..connections {
            senders.push(connect(addr).await.expect("connect a bench client"));
        }
        let (server_cpu, client_cpu) = (threads_cpu("bench-server"), threads_cpu("bench-client"));
        let start = Instant::now();
        let deadline = start + duration;
        let mut tasks = Vec::with_capacity(connections);
        for (c, mut sender) in senders.into_iter().enumerate() {
            let path = path.clone();
            tasks.push(tokio::spawn(async move {
                let (mut ok, mut failures, mut first_failure) = (0u64, 0u64, None);
                let mut latencies = Vec::with_capacity(1 << 14);
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let name = format!("bench-{run}-{c}-{i}");
                    i += 1;
                    let sent = Instant::now();
                    match send(
                        &mut sender,
                        request("POST", addr, &path, configmap_body(&name)),
                    )
                    .await
                    {
                        Ok((StatusCode::CREATED, _)) => {
                            ok += 1;
                            latencies.push(sent.elapsed());
                        }
                        Ok((status, body)) => {
                            failures += 1;
                            first_failure.get_or_insert_with(|| {
                                format!(
                                    "{status}: {}",
                                    String::from_utf8_lossy(&body[..body.len().min(200)])
                                )
                            });
                        }
                        Err(err) => {
                            failures += 1;
                            first_failure.get_or_insert(err);
                            // The connection is gone; open another.
                            match connect(addr).await {
                                Ok(fresh) => sender = fresh,
                                Err(_) => break,
                            }
                        }
                    }
                }
                (ok, failures, first_failure, latencies)
            }));
        }
        let mut run = PostRun {
            target: target.to_string(),
            connections,
            ..PostRun::default()
        };
        let mut latencies = Vec::new();
        for task in tasks {
            let (ok, failures, first_failure, lat) = task.await.expect("a bench client task");
            run.ok += ok;
            run.failures += failures;
            if run.first_failure.is_none() {
                run.first_failure = first_failure;
            }
            latencies.extend(lat);
        }
        run.elapsed = start.elapsed();
        run.server_cpu = threads_cpu("bench-server").saturating_sub(server_cpu);
        run.client_cpu = threads_cpu("bench-client").saturating_sub(client_cpu);
        latencies.sort_unstable();
        run.p50 = percentile(&latencies, 50.0);
        run.p99 = percentile(&latencies, 99.0);
        run.latencies = latencies;
        run
    })
}

/// kubesim creates and the no-op route, in the same run, for each connection count.
#[derive(Debug, Clone)]
pub struct CreateComparison {
    /// Each target's rounds pooled.
    pub noop: PostRun,
    pub kubesim: PostRun,
    /// kubesim's rate over the no-op route's, round by round.
    pub round_ratios: Vec<f64>,
}

impl CreateComparison {
    /// The pooled rates' ratio.
    pub fn ratio(&self) -> f64 {
        self.kubesim.rate() / self.noop.rate().max(1e-9)
    }
}

/// Phase 1. Both servers run side by side on the server runtime. For each connection
/// count, `rounds` rounds each load the no-op route and kubesim for `duration / rounds`,
/// in turn and alternating which goes first: on a machine whose speed drifts over
/// seconds (a VM), interleaved rounds compare the two under the same conditions, where
/// one long run of each would compare two moments. After a short warm-up of both.
pub fn creates(
    rig: &Rig,
    connection_counts: &[usize],
    duration: Duration,
    rounds: usize,
) -> Vec<CreateComparison> {
    let rounds = rounds.max(1);
    let kubesim = rig.start_kubesim(Config::default());
    let noop = rig.start_noop();
    let warm = (duration / 10).min(Duration::from_millis(500));
    post_load(rig, "warm-up", noop.addr, NOOP_PATH, 4, warm);
    post_load(rig, "warm-up", kubesim.addr, CONFIGMAPS_PATH, 4, warm);
    let each = duration / rounds as u32;
    connection_counts
        .iter()
        .map(|&c| {
            let (mut noops, mut kubesims) = (Vec::new(), Vec::new());
            for round in 0..rounds {
                let load_noop = || post_load(rig, "no-op axum", noop.addr, NOOP_PATH, c, each);
                let load_kubesim =
                    || post_load(rig, "kubesim", kubesim.addr, CONFIGMAPS_PATH, c, each);
                if round % 2 == 0 {
                    noops.push(load_noop());
                    kubesims.push(load_kubesim());
                } else {
                    kubesims.push(load_kubesim());
                    noops.push(load_noop());
                }
            }
            CreateComparison {
                round_ratios: noops
                    .iter()
                    .zip(&kubesims)
                    .map(|(n, k)| k.rate() / n.rate().max(1e-9))
                    .collect(),
                noop: PostRun::pooled(&noops),
                kubesim: PostRun::pooled(&kubesims),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Phase 2: watch fan-out

#[derive(Debug, Clone)]
pub struct WatchRun {
    pub watchers: usize,
    pub events: u64,
    /// The storage's per-resource event history: how far a watcher may fall behind.
    pub history: usize,
    /// Events received, over all watchers.
    pub delivered: u64,
    /// Watchers whose stream ended before they had every event (closed for lagging).
    pub closed_early: usize,
    /// Watchers still short of every event when the phase gave up waiting.
    pub timed_out: usize,
    /// How long the writer took to make every write.
    pub write_time: Duration,
    /// From the first write until the first and the last watcher had every event.
    pub first_done: Duration,
    pub last_done: Duration,
}

impl WatchRun {
    /// Delivered events per second: watchers × events / time until every watcher has all.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.last_done.as_secs_f64().max(1e-9)
    }
}

fn watched_configmap(i: u64) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "watched", "namespace": "default"},
        "data": {"counter": i.to_string()},
    })
}

/// Phase 2. `watchers` HTTP watches of the default namespace's ConfigMaps from the current
/// revision; a writer thread then makes `events` updates through the server's storage
/// directly; each watcher counts the lines of its stream.
pub fn watch_fanout(
    rig: &Rig,
    watchers: usize,
    events: u64,
    history: usize,
    give_up: Duration,
) -> WatchRun {
    let mut config = Config::default();
    config.storage.history = history;
    let served = rig.start_kubesim(config);
    let api = served.api().clone();
    let key = Key {
        resource: "configmaps".into(),
        namespace: "default".into(),
        name: "watched".into(),
    };
    let created = api
        .storage
        .create(&key, watched_configmap(0).into())
        .expect("create the watched ConfigMap");
    let path = format!(
        "{CONFIGMAPS_PATH}?watch=true&resourceVersion={}",
        created.resource_version
    );
    let addr = served.addr;

    rig.client_rt.block_on(async move {
        let (start_tx, start_rx) = tokio::sync::watch::channel::<Option<Instant>>(None);
        let mut tasks = Vec::with_capacity(watchers);
        let mut ready = Vec::with_capacity(watchers);
        for _ in 0..watchers {
            let mut sender = connect(addr).await.expect("connect a watcher");
            let path = path.clone();
            let start_rx = start_rx.clone();
            let (ready_tx, ready_rx) = oneshot::channel::<()>();
            ready.push(ready_rx);
            tasks.push(tokio::spawn(async move {
                sender.ready().await.expect("watch connection ready");
                let response = sender
                    .send_request(request("GET", addr, &path, Bytes::new()))
                    .await
                    .expect("watch request");
                assert_eq!(response.status(), StatusCode::OK, "watch status");
                // The server subscribes before it answers: from here no event is missed.
                let _ = ready_tx.send(());
                let mut body = response.into_body();
                let mut count = 0u64;
                let mut done_at = None;
                let mut first = true;
                while let Some(frame) = body.frame().await {
                    let Ok(frame) = frame else { break };
                    let Some(data) = frame.data_ref() else {
                        continue;
                    };
                    if first {
                        assert!(
                            data.starts_with(b"{\"type\":\"MODIFIED\""),
                            "first watch event: {:?}",
                            &data[..data.len().min(80)]
                        );
                        first = false;
                    }
                    count += data.iter().filter(|&&b| b == b'\n').count() as u64;
                    if count >= events {
                        done_at = Some(Instant::now());
                        break;
                    }
                }
                let start = start_rx.borrow().unwrap_or_else(Instant::now);
                (count, done_at.map(|t| t.saturating_duration_since(start)))
            }));
        }
        for r in ready {
            r.await.expect("every watcher started");
        }

        let writer_api = api.clone();
        let start = Instant::now();
        start_tx.send_replace(Some(start));
        let writer = std::thread::spawn(move || {
            for i in 1..=events {
                writer_api
                    .storage
                    .update(&key, watched_configmap(i), &Preconditions::default())
                    .expect("update");
            }
            start.elapsed()
        });

        let mut run = WatchRun {
            watchers,
            events,
            history,
            delivered: 0,
            closed_early: 0,
            timed_out: 0,
            write_time: Duration::ZERO,
            first_done: Duration::MAX,
            last_done: Duration::ZERO,
        };
        let give_up_at = tokio::time::Instant::now() + give_up;
        for mut task in tasks {
            match tokio::time::timeout_at(give_up_at, &mut task).await {
                Ok(joined) => {
                    let (count, done) = joined.expect("a watcher task");
                    run.delivered += count.min(events);
                    match done {
                        Some(t) => {
                            run.first_done = run.first_done.min(t);
                            run.last_done = run.last_done.max(t);
                        }
                        None => run.closed_early += 1,
                    }
                }
                Err(_) => {
                    task.abort();
                    run.timed_out += 1;
                }
            }
        }
        run.write_time =
            tokio::task::spawn_blocking(move || writer.join().expect("the writer thread"))
                .await
                .expect("join the writer");
        if run.first_done == Duration::MAX {
            run.first_done = Duration::ZERO;
        }
        run
    })
}

// ---------------------------------------------------------------------------------------
// Phase 3: LIST of many pods

#[derive(Debug, Clone)]
pub struct ListRun {
    pub pods: usize,
    pub runs: usize,
    /// Items in the first answer, to check the list is whole.
    pub items: usize,
    pub bytes: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub min: Duration,
    pub max: Duration,
    pub failures: u64,
}

/// A small pod, as a kubectl user would write it.
pub fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "bench"}},
        "spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]},
    })
}

/// Phase 3. Create `pods` pods through the server's create path (defaults and validation
/// included, no HTTP), then time `GET /api/v1/pods` over one keep-alive connection `runs` times.
pub fn list_pods(rig: &Rig, pods: usize, runs: usize) -> ListRun {
    let served = rig.start_kubesim(Config::default());
    let api = served.api().clone();
    for i in 0..pods {
        kubesim_apiserver::handlers::write::create_internal(
            &api,
            "pods",
            pod(&format!("pod-{i:05}")),
        )
        .expect("create a pod");
    }
    let addr = served.addr;
    rig.client_rt.block_on(async move {
        let mut sender = connect(addr).await.expect("connect the lister");
        let mut run = ListRun {
            pods,
            runs,
            items: 0,
            bytes: 0,
            p50: Duration::ZERO,
            p99: Duration::ZERO,
            min: Duration::ZERO,
            max: Duration::ZERO,
            failures: 0,
        };
        let mut times = Vec::with_capacity(runs);
        for r in 0..runs {
            let started = Instant::now();
            match send(
                &mut sender,
                request("GET", addr, "/api/v1/pods", Bytes::new()),
            )
            .await
            {
                Ok((StatusCode::OK, body)) => {
                    times.push(started.elapsed());
                    run.bytes = body.len();
                    if r == 0 {
                        let list: Value =
                            serde_json::from_slice(&body).expect("the pod list is JSON");
                        run.items = list["items"].as_array().map_or(0, Vec::len);
                    }
                }
                Ok(_) | Err(_) => {
                    run.failures += 1;
                    sender = connect(addr).await.expect("reconnect the lister");
                }
            }
        }
        times.sort_unstable();
        run.p50 = percentile(&times, 50.0);
        run.p99 = percentile(&times, 99.0);
        run.min = times.first().copied().unwrap_or_default();
        run.max = times.last().copied().unwrap_or_default();
        run
    })
}

// ---------------------------------------------------------------------------------------
// Phase 4: memory per object

#[derive(Debug, Clone)]
pub struct RssRun {
    pub objects: usize,
    pub before_kib: u64,
    pub after_kib: u64,
    /// The serialized size of one stored ConfigMap.
    pub object_bytes: usize,
    /// Non-empty JSON maps in one stored ConfigMap: each is a separate BTreeMap allocation
    /// in `serde_json::Value` (a leaf node holds up to 11 entries, whatever it uses).
    pub object_maps: usize,
    /// One stored ConfigMap, as served.
    pub sample: String,
}

/// Non-empty JSON objects in a value, itself included.
pub fn count_maps(value: &Value) -> usize {
    match value {
        Value::Object(map) => {
            usize::from(!map.is_empty()) + map.values().map(count_maps).sum::<usize>()
        }
        Value::Array(items) => items.iter().map(count_maps).sum(),
        _ => 0,
    }
}

impl RssRun {
    pub fn per_object_bytes(&self) -> f64 {
        (self.after_kib.saturating_sub(self.before_kib) * 1024) as f64 / self.objects.max(1) as f64
    }
}

/// Phase 4. VmRSS before and after creating `objects` small ConfigMaps through the server's
/// create path (`create_internal`: namespace check, metadata, strategy, storage, audit).
/// Best run first in a fresh process, so freed memory of other phases is not reused.
pub fn rss_growth(objects: usize) -> RssRun {
    let api = ApiServer::new(Config::default());
    let before_kib = vm_rss_kib().expect("VmRSS in /proc/self/status");
    let mut last = None;
    for i in 0..objects {
        let cm = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("rss-{i:06}"), "namespace": "default"},
            "data": {"key": "value"},
        });
        let created = kubesim_apiserver::handlers::write::create_internal(&api, "configmaps", cm)
            .expect("create a ConfigMap");
        last = Some(created);
    }
    let after_kib = vm_rss_kib().expect("VmRSS in /proc/self/status");
    // Keep the server (and its objects) alive until after the measurement.
    drop(api);
    let (object_bytes, object_maps, sample) = last.map_or((0, 0, String::new()), |o| {
        (
            o.bytes.len(),
            count_maps(&o.value()),
            String::from_utf8_lossy(&o.bytes).into_owned(),
        )
    });
    RssRun {
        objects,
        before_kib,
        after_kib,
        object_bytes,
        object_maps,
        sample,
    }
}
