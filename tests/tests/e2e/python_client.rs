//! The official Python `kubernetes` client against `kubesim up`.

use kubesim_e2e::{Cluster, describe};

/// 8 threads × 200 read-modify-write increments with retry on 409 end at exactly 1,600,
/// and a watch from a mid-run resourceVersion sees every later change once, in order.
#[test]
fn concurrent_increments_and_a_mid_run_watch() {
    let cluster = Cluster::up(&[]);
    let out = cluster.python("counter.py", &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    assert_eq!(summary["final"], "1600");
    assert_eq!(summary["watched"], 800);
    eprintln!("python client: {summary}");
}
