//! kubelet-sim benchmark: `scripts/bench kubelet` (release build).
//!
//! One process: an in-process API server (its own runtime) and kubelet-sim with N nodes
//! (default 5,000; another runtime). Measures the time until every node is registered
//! and Ready, process RSS, Lease writes/s sustained, then creates pods already bound
//! (`spec.nodeName`) at a fixed rate (default 1,000/s) and reports, from a watch, the
//! latency from each create until the pod is seen `Running` (p50/p99), at zero
//! simulated delay. Options: `--nodes N --pods N --rate N --lease-window S --event-qps N`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;
use kube::api::{PostParams, WatchEvent, WatchParams};
use serde_json::json;

// As the `kubesim` binary: mimalloc, not glibc's allocator (the API server's create
// path spends much of its time allocating).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Per thread name: seconds on a CPU, and seconds runnable but waiting for one (the
/// machine's other load), from `/proc/self/task/*/schedstat`.
fn cpu_by_thread() -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut out: std::collections::BTreeMap<String, (f64, f64)> = Default::default();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm"))
            .unwrap_or_default()
            .trim()
            .to_string();
        let sched = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let ns: Vec<f64> = sched
            .split_whitespace()
            .filter_map(|f| f.parse::<f64>().ok())
            .collect();
        let entry = out.entry(name).or_default();
        entry.0 += ns.first().copied().unwrap_or(0.0) / 1e9;
        entry.1 += ns.get(1).copied().unwrap_or(0.0) / 1e9;
    }
    out
}

fn cpu_since(before: &std::collections::BTreeMap<String, (f64, f64)>) -> String {
    cpu_by_thread()
        .into_iter()
        .map(|(n, (run, wait))| {
            let (r0, w0) = before.get(&n).copied().unwrap_or_default();
            (n, run - r0, wait - w0)
        })
        .filter(|(_, run, wait)| *run + *wait >= 0.05)
        .map(|(n, run, wait)| format!("{n} {run:.1}s on CPU + {wait:.1}s waiting for one"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    // Quiet unless RUST_LOG asks.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let nodes = arg("--nodes", 5000) as usize;
    let pods = arg("--pods", 5000) as usize;
    let rate = arg("--rate", 1000).max(1);
    let lease_window = Duration::from_secs(arg("--lease-window", 20));
    // Event writes/s for the whole process; 0: the default (50 per node).
    let event_qps = arg("--event-qps", 0);

    // The API server on its own runtime (one worker), as a separate process would be.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("api")
        .enable_all()
        .build()?;
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let mut config = kubesim_apiserver::Config::default();
    config.storage.history = 100_000;
    let server = kubesim_apiserver::ApiServer::new(config);
    server_rt.spawn(kubesim_apiserver::serve(
        server,
        listener,
        std::future::pending(),
    ));
    let rss_server = rss_mib();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("kubelet")
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = kubesim_kubelet::client(&url)?;
        let mut config = kubesim_kubelet::Config::new(&url, nodes);
        config.pod_cidr = "10.0.0.0/8".into();
        config.event_qps = (event_qps > 0).then_some(event_qps as f64);
        let kubelet = kubesim_kubelet::Kubelet::new(config).await?;
        let ctx = kubelet.context.clone();
        let started = Instant::now();
        tokio::spawn(kubelet.run());

        // Time to all Ready: watch Nodes until each has Ready=True.
        let node_api: Api<Node> = Api::all(client.clone());
        let mut ready = std::collections::HashSet::new();
        let stream = node_api.watch(&WatchParams::default(), "0").await?;
        futures::pin_mut!(stream);
        while ready.len() < nodes {
            match stream.next().await {
                Some(Ok(WatchEvent::Added(n) | WatchEvent::Modified(n))) => {
                    let is_ready = n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                    if is_ready {
                        ready.insert(n.metadata.name.unwrap_or_default());
                    }
                }
                Some(_) => {}
                None => anyhow::bail!("node watch ended"),
            }
        }
        let all_ready = started.elapsed();
        println!("nodes:                   {nodes}");
        println!("time to all Ready:       {:.2} s", all_ready.as_secs_f64());

        // Lease writes sustained.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = ctx.lease_writes.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(lease_window).await;
        let after = ctx.lease_writes.load(std::sync::atomic::Ordering::Relaxed);
        println!("lease writes/s:          {:.0} (over {} s; {} nodes / 10 s = {})", (after - before) as f64 / lease_window.as_secs_f64(), lease_window.as_secs(), nodes, nodes / 10);
        println!("RSS (process):           {:.0} MiB (API server alone before kubelet-sim: {:.0} MiB)", rss_mib(), rss_server);

        // Pods bound at `rate`/s; latency until seen Running in a watch.
        let pod_api: Api<Pod> = Api::namespaced(client.clone(), "default");
        let rv = pod_api.list(&Default::default()).await?.metadata.resource_version.unwrap_or_default();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Instant)>();
        let watcher = {
            let pod_api = pod_api.clone();
            tokio::spawn(async move {
                let mut sent: HashMap<String, Instant> = HashMap::new();
                let mut latencies = Vec::new();
                let mut running_seen = std::collections::HashSet::new();
                let stream = pod_api.watch(&WatchParams::default(), &rv).await.expect("pod watch");
                futures::pin_mut!(stream);
                while latencies.len() < pods {
                    let Some(Ok(event)) = stream.next().await else { break };
                    let seen = Instant::now();
                    while let Ok((name, at)) = rx.try_recv() {
                        sent.insert(name, at);
                    }
                    if let WatchEvent::Added(p) | WatchEvent::Modified(p) = event {
                        let name = p.metadata.name.unwrap_or_default();
                        if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running") && running_seen.insert(name.clone()) {
                            tracing::debug!(target: "bench", pod = %name, "running seen");
                            if let Some(at) = sent.get(&name) {
                                latencies.push(seen - *at);
                            } else {
                                latencies.push(Duration::ZERO);
                            }
                        }
                    }
                }
                latencies
            })
        };
        let cpu_before = cpu_by_thread();
        let interval = Duration::from_secs_f64(1.0 / rate as f64);
        let begin = Instant::now();
        let mut creates = futures::stream::FuturesUnordered::new();
        for i in 0..pods {
            let due = begin + interval * i as u32;
            tokio::time::sleep_until(due.into()).await;
            let name = format!("bench-{i}");
            let pod: Pod = serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name},
                "spec": {"nodeName": format!("kubesim-node-{}", i % nodes), "containers": [{"name": "c", "image": "nginx"}]}
            }))?;
            tracing::debug!(target: "bench", pod = %name, "create");
            let _ = tx.send((name, Instant::now()));
            let api = pod_api.clone();
            creates.push(tokio::spawn(async move { api.create(&PostParams::default(), &pod).await.map(|_| ()) }));
            while let Some(Some(done)) = futures::FutureExt::now_or_never(creates.next()) {
                done??;
            }
        }
        while let Some(done) = creates.next().await {
            done??;
        }
        let offered = begin.elapsed();
        let mut latencies = watcher.await?;
        let all_running = begin.elapsed();
        latencies.sort();
        println!("pods:                    {pods} bound at {rate}/s (offered in {:.2} s)", offered.as_secs_f64());
        println!("all Running (watch):     {:.2} s after the first create", all_running.as_secs_f64());
        println!("startup latency p50:     {:.1} ms", percentile(&latencies, 0.50).as_secs_f64() * 1000.0);
        println!("startup latency p99:     {:.1} ms", percentile(&latencies, 0.99).as_secs_f64() * 1000.0);
        println!("startup latency max:     {:.1} ms", latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0);
        println!("RSS (process, end):      {:.0} MiB", rss_mib());
        println!("threads during the pods:  {}", cpu_since(&cpu_before));
        println!("events written/dropped:  {}/{}", ctx.recorder.written.load(std::sync::atomic::Ordering::Relaxed), ctx.recorder.dropped.load(std::sync::atomic::Ordering::Relaxed));
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}
