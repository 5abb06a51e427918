//! Benchmark modelled on upstream's scheduler_perf `SchedulingBasic`: 5,000 nodes, 1,000
//! pods already on them, then 10,000 pods measured — pods/s from the first create to the
//! last successful bind — over HTTP against an in-process kubesim API server, default
//! plugins; once with default sampling (percentageOfNodesToScore unset) and once at 100 %.
//!
//! `cargo run --release -p kubesim-scheduler --example scheduling_basic -- [nodes] [existing] [measured] [runs]`
//! (scripts/bench-scheduler); `runs` picks some of `default`, `100`, `off` (comma-separated;
//! all three by default).

use std::sync::Arc;
use std::time::{Duration, Instant};

// The allocator `kubesim up` runs with (crates/kubesim): the benchmark measures that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

const CONCURRENCY: usize = 32;

fn pod(name: &str, node: Option<&str>) -> Pod {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}});
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    serde_json::from_value(p).expect("pod")
}

/// pods/s, the measured time, and the CPU time the whole process (API server, scheduler,
/// client) used meanwhile.
async fn run(
    nodes: usize,
    existing: usize,
    measured: usize,
    percentage: Option<i32>,
    explain: bool,
) -> anyhow::Result<(f64, Duration, Duration)> {
    let server = kubesim_apiserver::ApiServer::new(kubesim_apiserver::Config::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(kubesim_apiserver::serve(server, listener, async move {
        let _ = stop_rx.await;
    }));
    let client = kubesim_scheduler::client(&url)?;
    let node_api: Api<Node> = Api::all(client.clone());
    futures::stream::iter(0..nodes)
        .map(|i| {
            let api = node_api.clone();
            async move {
                let name = format!("node-{i}");
                let n: Node = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": format!("zone-{}", i % 3)}}}))?;
                api.create(&PostParams::default(), &n).await?;
                api.patch(&name, &PatchParams::default(), &Patch::Merge(json!({"spec": {"taints": []}}))).await?;
                let r = json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
                let status = json!({"status": {"capacity": r, "allocatable": r, "conditions": [{"type": "Ready", "status": "True"}]}});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(status)).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create_pods(
        &pods,
        (0..existing).map(|i| {
            pod(
                &format!("existing-{i}"),
                Some(&format!("node-{}", i % nodes.max(1))),
            )
        }),
    )
    .await?;

    let mut config = kubesim_scheduler::Config::new(&url);
    config.explain = explain;
    config.file = Some(kubesim_scheduler::config::File {
        percentage_of_nodes_to_score: percentage,
        ..Default::default()
    });
    let scheduler = kubesim_scheduler::build(&config)?;
    let task = tokio::spawn(scheduler.clone().run());
    // Warm up: one pod through, so the caches are synced.
    create_pods(&pods, std::iter::once(pod("warm-up", None))).await?;
    wait_for(&scheduler, 1).await;

    // A mark for profilers to attach to the measured part only.
    eprintln!("measuring: {measured} pods");
    let start = Instant::now();
    let cpu_start = cpu_time();
    create_pods(
        &pods,
        (0..measured).map(|i| pod(&format!("measured-{i}"), None)),
    )
    .await?;
    wait_for(&scheduler, 1 + measured as u64).await;
    let took = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_start);
    task.abort();
    let _ = stop_tx.send(());
    let _ = serving.await;
    Ok((measured as f64 / took.as_secs_f64(), took, cpu))
}

/// This process's CPU time so far (user + system, all threads), from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) end with ')'.
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Create the pods, 32 at a time. The answers are not decoded: the load generator's
/// work is not what is measured, and it shares the 2 cores with what is.
async fn create_pods(api: &Api<Pod>, pods: impl Iterator<Item = Pod>) -> anyhow::Result<()> {
    let client = api.clone().into_client();
    futures::stream::iter(pods)
        .map(|p| {
            let client = client.clone();
            async move {
                let url = <Pod as kube::Resource>::url_path(&(), p.metadata.namespace.as_deref());
                let request = kube::core::Request::new(url)
                    .create(&PostParams::default(), serde_json::to_vec(&p)?)?;
                client.request_text(request).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<Vec<()>>>()?;
    Ok(())
}

async fn wait_for(s: &Arc<kubesim_scheduler::Scheduler>, n: u64) {
    while s.metrics.scheduled_count() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = argv.iter().take(3).filter_map(|a| a.parse().ok()).collect();
    let runs: Vec<String> = argv
        .get(3)
        .map(|r| r.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    let nodes = args.first().copied().unwrap_or(5000);
    let existing = args.get(1).copied().unwrap_or(1000);
    let measured = args.get(2).copied().unwrap_or(10_000);
    println!(
        "SchedulingBasic: {nodes} nodes, {existing} existing pods, {measured} measured pods; one process, 2 tokio workers"
    );
    println!("| sampling | explanation | time | pods/s | CPU (all threads) | CPU per pod |");
    println!("|---|---|---:|---:|---:|---:|");
    for (which, label, pct, explain) in [
        ("default", "default (adaptive)", None, true),
        ("100", "100 %", Some(100), true),
        ("off", "default (adaptive)", None, false),
    ] {
        if !runs.is_empty() && !runs.iter().any(|r| r == which) {
            continue;
        }
        let (rate, took, cpu) = run(nodes, existing, measured, pct, explain).await?;
        let per_pod = cpu.as_secs_f64() * 1e6 / measured.max(1) as f64;
        println!(
            "| {label} | {} | {:.2} s | {:.0} | {:.2} s | {per_pod:.0} µs |",
            if explain { "on" } else { "off" },
            took.as_secs_f64(),
            rate,
            cpu.as_secs_f64()
        );
    }
    Ok(())
}
