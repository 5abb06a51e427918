//! `kubesim-bench`: the API server benchmark (`scripts/bench`). See docs/benchmarks.md.
//!
//! Phases, in this order (memory first, so it is measured in a fresh process):
//! 4. RSS growth over 100,000 small ConfigMaps created through the create path;
//! 1. creates/s over HTTP against a no-op axum route, 16 and 64 keep-alive connections,
//!    in interleaved rounds;
//! 2. watch fan-out: 100 HTTP watchers, 20,000 updates written through storage;
//! 3. `GET /api/v1/pods` over 10,000 pods, 20 runs.

use std::time::Duration;

use clap::Parser;
use kubesim_e2e::bench;

// The allocator `kubesim` itself uses (crates/kubesim/src/main.rs), so the figures are
// those of the shipped binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "kubesim-bench",
    about = "Benchmark the kubesim API server in-process"
)]
struct Args {
    /// Small counts, for a smoke run of a few seconds.
    #[arg(long)]
    quick: bool,
    /// Worker threads of the servers' tokio runtime.
    #[arg(long, default_value_t = 1)]
    server_threads: usize,
    /// Worker threads of the load's tokio runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Connection counts for the create phase (comma-separated).
    #[arg(long, value_delimiter = ',')]
    connections: Option<Vec<usize>>,
    /// Seconds of load each create target gets per connection count, over all rounds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Rounds the create phase splits each target's time into, alternating the no-op
    /// route and kubesim.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Watchers in the fan-out phase.
    #[arg(long)]
    watchers: Option<usize>,
    /// Events written in the fan-out phase.
    #[arg(long)]
    events: Option<u64>,
    /// The storage's event history in the fan-out phase — how far a watcher may fall
    /// behind before it is closed (default: the server's default, raised to the event
    /// count when it is smaller, so a burst does not close watchers).
    #[arg(long)]
    watch_history: Option<usize>,
    /// Pods in the LIST phase.
    #[arg(long)]
    pods: Option<usize>,
    /// LIST requests timed.
    #[arg(long)]
    list_runs: Option<usize>,
    /// ConfigMaps created in the memory phase.
    #[arg(long)]
    objects: Option<usize>,
    /// Run only these phases (comma-separated: rss, creates, watch, list).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<String>>,
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args = Args::parse();
    let q = args.quick;
    let connections = args
        .connections
        .clone()
        .unwrap_or_else(|| if q { vec![4, 16] } else { vec![16, 64] });
    let seconds = Duration::from_secs_f64(args.seconds.unwrap_or(if q { 0.3 } else { 5.0 }));
    let watchers = args.watchers.unwrap_or(if q { 10 } else { 100 });
    let events = args.events.unwrap_or(if q { 500 } else { 20_000 });
    let default_history = kubesim_apiserver::Config::default().storage.history;
    let history = args
        .watch_history
        .unwrap_or(default_history.max(events as usize));
    let pods = args.pods.unwrap_or(if q { 500 } else { 10_000 });
    let list_runs = args.list_runs.unwrap_or(if q { 5 } else { 20 });
    let objects = args.objects.unwrap_or(if q { 5_000 } else { 100_000 });
    let run = |phase: &str| {
        args.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|p| p == phase))
    };

    let machine = bench::machine();
    println!(
        "kubesim-bench{}",
        if q {
            " --quick (smoke counts; figures not meaningful)"
        } else {
            ""
        }
    );
    println!(
        "machine: {} CPUs (nproc), {}",
        machine.nproc, machine.cpu_model
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at start (1, 5, 15 min): {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "runtimes: server {} worker thread(s), load {} worker thread(s), separate runtimes; watch writer on its own OS thread",
        args.server_threads, args.client_threads
    );
    if cfg!(debug_assertions) {
        println!("WARNING: debug build; run with --release for real figures");
    }
    println!();

    // Memory first, before the runtimes exist and before other phases leave freed memory
    // for the allocator to reuse.
    let rss = run("rss").then(|| bench::rss_growth(objects));
    let rig = bench::Rig::new(args.server_threads, args.client_threads);

    let mut failed = false;
    if run("creates") {
        println!(
            "== creates/s over HTTP: POST {} vs POST {} (no-op axum), {:.1} s each in {} interleaved rounds",
            bench::CONFIGMAPS_PATH,
            bench::NOOP_PATH,
            seconds.as_secs_f64(),
            args.rounds
        );
        println!(
            "{:<12} {:>5} {:>10} {:>9} {:>12} {:>10} {:>10} {:>11} {:>11} {:>12}",
            "target",
            "conns",
            "requests",
            "failures",
            "rate",
            "p50",
            "p99",
            "server CPU",
            "client CPU",
            "server CPU/req"
        );
        for cmp in bench::creates(&rig, &connections, seconds, args.rounds) {
            for r in [&cmp.noop, &cmp.kubesim] {
                println!(
                    "{:<12} {:>5} {:>10} {:>9} {:>10.0}/s {:>10} {:>10} {:>10.0}% {:>10.0}% {:>9.1} µs",
                    r.target,
                    r.connections,
                    r.ok,
                    r.failures,
                    r.rate(),
                    ms(r.p50),
                    ms(r.p99),
                    r.server_cpu_share() * 100.0,
                    r.client_cpu_share() * 100.0,
                    r.server_cpu_per_request().as_secs_f64() * 1e6
                );
                if let Some(f) = &r.first_failure {
                    println!("  first failure: {f}");
                }
                failed |= r.failures > 0;
            }
            let rounds: Vec<String> = cmp
                .round_ratios
                .iter()
                .map(|r| format!("{:.1}%", r * 100.0))
                .collect();
            println!(
                "{:<12} {:>5} kubesim / no-op = {:.1}% (goal >= 50%); by round {}",
                "ratio",
                cmp.kubesim.connections,
                cmp.ratio() * 100.0,
                rounds.join(", ")
            );
        }
        println!();
    }

    if run("watch") {
        println!(
            "== watch fan-out: {watchers} HTTP watchers, {events} updates written through storage, watch history {history} (server default {default_history})"
        );
        let w = bench::watch_fanout(&rig, watchers, events, history, Duration::from_secs(300));
        println!("{:<36} {:>14}", "events delivered", w.delivered);
        println!(
            "{:<36} {:>14}",
            "watchers closed early (lagging)", w.closed_early
        );
        println!("{:<36} {:>14}", "watchers timed out", w.timed_out);
        println!(
            "{:<36} {:>14}",
            "writer: all writes made after",
            ms(w.write_time)
        );
        println!(
            "{:<36} {:>14}",
            "first watcher had every event after",
            ms(w.first_done)
        );
        println!(
            "{:<36} {:>14}",
            "last watcher had every event after",
            ms(w.last_done)
        );
        if w.closed_early > 0 || w.timed_out > 0 {
            println!(
                "{:<36} {:>14} (watchers were closed: raise --watch-history)",
                "delivered events/s", "n/a"
            );
        } else {
            println!(
                "{:<36} {:>12.0}/s (goal >= 500000/s)",
                "delivered events/s",
                w.rate()
            );
        }
        failed |= w.closed_early > 0 || w.timed_out > 0;
        println!();
    }

    if run("list") {
        println!(
            "== LIST: GET /api/v1/pods over {pods} pods, {list_runs} runs, one keep-alive connection"
        );
        let l = bench::list_pods(&rig, pods, list_runs);
        println!("{:<36} {:>14}", "items in answer", l.items);
        println!("{:<36} {:>11.2} MB", "response size", l.bytes as f64 / 1e6);
        println!("{:<36} {:>14}", "p50", ms(l.p50));
        println!("{:<36} {:>14}", "p99 (nearest rank)", ms(l.p99));
        println!(
            "{:<36} {:>14}",
            "min / max",
            format!("{} / {}", ms(l.min), ms(l.max))
        );
        println!("{:<36} {:>14}", "failures", l.failures);
        failed |= l.failures > 0 || l.items != pods;
        println!();
    }

    if let Some(r) = rss {
        println!(
            "== memory: VmRSS around {objects} ConfigMaps created through the create path (first phase, fresh process)"
        );
        println!(
            "{:<36} {:>11.1} MiB",
            "VmRSS before",
            r.before_kib as f64 / 1024.0
        );
        println!(
            "{:<36} {:>11.1} MiB",
            "VmRSS after",
            r.after_kib as f64 / 1024.0
        );
        println!(
            "{:<36} {:>11.1} MiB",
            "growth",
            r.after_kib.saturating_sub(r.before_kib) as f64 / 1024.0
        );
        println!("{:<36} {:>12.0} B", "per object", r.per_object_bytes());
        println!(
            "{:<36} {:>12} B",
            "one object's serialized JSON", r.object_bytes
        );
        println!(
            "{:<36} {:>14}",
            "non-empty JSON maps in one object", r.object_maps
        );
        println!("one stored object: {}", r.sample);
        println!();
    }

    if failed {
        println!("FAILED: some requests failed or watchers were closed (see above)");
        std::process::exit(1);
    }
}
