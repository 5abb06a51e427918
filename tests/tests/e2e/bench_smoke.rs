//! The benchmark still runs: every phase of `kubesim-bench` with tiny counts.
//! The figures are not checked (this may be a debug build on a busy machine); that every
//! request succeeded and every watcher got every event is.

use std::time::Duration;

use kubesim_e2e::bench;

#[test]
fn every_bench_phase_runs_with_tiny_counts() {
    let machine = bench::machine();
    assert!(machine.nproc >= 1);

    let rss = bench::rss_growth(200);
    assert_eq!(rss.objects, 200);
    assert!(rss.before_kib > 0 && rss.object_bytes > 0, "{rss:?}");

    let rig = bench::Rig::new(1, 1);

    let creates = bench::creates(&rig, &[2], Duration::from_millis(200), 2);
    assert_eq!(creates.len(), 1);
    for run in [&creates[0].noop, &creates[0].kubesim] {
        assert!(run.ok > 0, "{run:?}");
        assert_eq!(run.failures, 0, "{run:?}");
        assert_eq!(
            run.latencies.len() as u64,
            run.ok,
            "pooled over both rounds"
        );
    }
    assert!(creates[0].ratio() > 0.0);
    assert_eq!(creates[0].round_ratios.len(), 2);

    // A buffer smaller than the burst is allowed to close watchers, so give it room.
    let watch = bench::watch_fanout(&rig, 3, 50, 64, Duration::from_secs(20));
    assert_eq!((watch.closed_early, watch.timed_out), (0, 0), "{watch:?}");
    assert_eq!(watch.delivered, 150);
    assert!(watch.rate() > 0.0);

    let list = bench::list_pods(&rig, 30, 2);
    assert_eq!((list.items, list.failures), (30, 0), "{list:?}");
    assert!(list.bytes > 0);
}
