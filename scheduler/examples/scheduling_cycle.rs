//! The scheduling cycle alone, without API server or HTTP: SchedulingBasic's cluster (5,000
//! nodes, 1,000 pods on them) in the cache, then pods scheduled and assumed one after
//! another, as the scheduler's loop does. Prints µs per cycle — what `scheduling_basic`
//! cannot separate from the API server's share.
//!
//! `cargo run --release -p kubesim-scheduler --example scheduling_cycle -- [nodes] [existing] [pods]`

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Node, Pod};
use kubesim_scheduler::cache::Cache;
use kubesim_scheduler::explain::Explanation;
use kubesim_scheduler::framework::runtime::{Cursor, Outcome};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn node(i: usize) -> Node {
    let name = format!("node-{i}");
    let r = json!({"cpu": "4", "memory": "32Gi", "pods": "110"});
    serde_json::from_value(json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": format!("zone-{}", i % 3)}},
        "spec": {}, "status": {"capacity": r, "allocatable": r}}))
    .expect("node")
}

fn pod(name: &str, node: Option<&str>) -> Pod {
    let mut p = json!({"metadata": {"name": name, "namespace": "default", "uid": name},
        "spec": {"priority": 0, "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}});
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    serde_json::from_value(p).expect("pod")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (nodes, existing, pods) = (
        args.first().copied().unwrap_or(5000),
        args.get(1).copied().unwrap_or(1000),
        args.get(2).copied().unwrap_or(5000),
    );
    println!("{nodes} nodes, {existing} pods on them, {pods} pods scheduled");
    println!("| sampling | explanation | µs per cycle |");
    println!("|---|---|---:|");
    for (label, pct, explain) in [
        ("default (adaptive)", None, true),
        ("default (adaptive)", None, false),
        ("100 %", Some(100), true),
        ("100 %", Some(100), false),
    ] {
        let file = kubesim_scheduler::config::File {
            percentage_of_nodes_to_score: pct,
            ..Default::default()
        };
        let fw = file.frameworks(&Default::default())?.remove(0);
        let mut cache = Cache::new();
        for i in 0..nodes {
            cache.upsert_node(Arc::new(node(i)));
        }
        for i in 0..existing {
            cache.add_or_update(Arc::new(pod(
                &format!("existing-{i}"),
                Some(&format!("node-{}", i % nodes.max(1))),
            )));
        }
        let queue: Vec<Arc<Pod>> = (0..pods)
            .map(|i| Arc::new(pod(&format!("p-{i}"), None)))
            .collect();
        let mut cursor = Cursor::seeded(1);
        let start = Instant::now();
        for p in queue {
            let mut expl = Explanation::new(explain, &fw.scheduler_name, 1);
            if let (Outcome::Scheduled { node }, _) =
                fw.schedule(&p, &cache.snapshot, &mut cursor, &mut expl)
            {
                if explain {
                    std::hint::black_box(expl.to_json());
                }
                cache.assume(p, &node);
            }
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / pods.max(1) as f64;
        println!(
            "| {label} | {} | {per:.1} |",
            if explain { "on" } else { "off" }
        );
    }
    Ok(())
}
