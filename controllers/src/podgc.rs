//! The pod garbage collector: deletes pods nothing else will ever finish, as upstream's
//! `PodGCController` (`pkg/controller/podgc/gc_controller.go`).
//!
//! Every 20 s (`period`) it observes pods and nodes from caches and, in upstream's order:
//!
//! 1. **Terminated pods** (`Succeeded`/`Failed`) beyond `--terminated-pod-gc-threshold`
//!    (12 500; 0 disables): the oldest go, evicted ones (`reason: Evicted`) first.
//! 2. **Terminating pods on out-of-service nodes**: a pod being deleted on a node that is
//!    not Ready and carries the `node.kubernetes.io/out-of-service` taint (an operator's
//!    "this node is gone for good") is forced out.
//! 3. **Orphaned pods**: a pod bound to a node that does not exist. A node missing from
//!    the cache is first quarantined for 40 s (`quarantine`: the cache may lag a new
//!    node), then looked up live; still gone, its pods get `DisruptionTarget=True`
//!    (reason `DeletionByPodGC`, "PodGC: node no longer exists").
//! 4. **Unscheduled terminating pods**: being deleted but never bound to a node.
//!
//! Forcing a pod out is upstream's `markFailedAndDeletePod`: a pod not yet finished is
//! patched to phase `Failed` (with the condition, if any) — no kubelet will ever do it —
//! then deleted with grace period 0. Every write is bound to the pod's uid.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, PodCondition};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::time::Instant;

use crate::cache;
use crate::node_lifecycle::eviction::disruption_target;

/// The name `--controllers` knows this controller by, and its alias.
pub const NAME: &str = "pod-garbage-collector-controller";
pub const ALIAS: &str = "podgc";
/// Upstream's `--terminated-pod-gc-threshold` default.
pub const DEFAULT_TERMINATED_THRESHOLD: usize = 12_500;
/// The taint an operator puts on a node that is shut down for good.
pub const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

/// How the collector is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// How often it looks (upstream `gcCheckPeriod`, 20 s).
    pub period: Duration,
    /// How long a node must be missing from the cache before it is looked up live
    /// (upstream `quarantineTime`, 40 s).
    pub quarantine: Duration,
    /// Terminated pods kept before the oldest are deleted; 0 keeps them all.
    pub terminated_threshold: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            period: Duration::from_secs(20),
            quarantine: Duration::from_secs(40),
            terminated_threshold: DEFAULT_TERMINATED_THRESHOLD,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("looking up node {0} failed: {1}")]
    GetNode(String, #[source] kube::Error),
    #[error("deleting pod {0} failed: {1}")]
    DeletePod(String, #[source] kube::Error),
}

struct Context {
    client: Client,
    pods: Store<Pod>,
    nodes: Store<Node>,
    config: Config,
}

/// Run the collector until the task is dropped.
pub async fn run(client: Client, config: Config) {
    let ctx = Context {
        pods: cache::spawn(Api::all(client.clone()), watcher::Config::default()),
        nodes: cache::spawn(Api::all(client.clone()), watcher::Config::default()),
        client,
        config,
    };
    if cache::ready(&ctx.pods).await.is_err() || cache::ready(&ctx.nodes).await.is_err() {
        tracing::error!("pod garbage collector caches never synced");
        return;
    }
    let mut ticker = tokio::time::interval(ctx.config.period.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Nodes missing from the cache, and since which pass.
    let mut missing: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        let pass = ticker.tick().await;
        gc(&ctx, &mut missing, pass).await;
    }
}

/// One pass (`gc`), scheduled at `pass`.
async fn gc(ctx: &Context, missing: &mut BTreeMap<String, Instant>, pass: Instant) {
    let pods = ctx.pods.state();
    let nodes = ctx.nodes.state();
    let now = Timestamp::now();
    let mut doomed: Vec<(Arc<Pod>, Option<PodCondition>)> = Vec::new();
    doomed.extend(
        terminated_to_delete(&pods, ctx.config.terminated_threshold)
            .into_iter()
            .map(|p| (p, None)),
    );
    doomed.extend(
        terminating_out_of_service(&pods, &nodes)
            .into_iter()
            .map(|p| (p, None)),
    );
    for node in orphan_nodes_due(&pods, &nodes, missing, ctx.config.quarantine, pass) {
        match Api::<Node>::all(ctx.client.clone()).get_opt(&node).await {
            Ok(Some(_)) => {
                missing.remove(&node);
            }
            Ok(None) => {
                let condition =
                    disruption_target("DeletionByPodGC", "PodGC: node no longer exists", now);
                let orphans = pods.iter().filter(|p| node_name(p) == node);
                doomed.extend(orphans.map(|p| (p.clone(), Some(condition.clone()))));
            }
            Err(err) => {
                tracing::warn!(error = %Error::GetNode(node, err), "pod garbage collection")
            }
        }
    }
    doomed.extend(
        pods.iter()
            .filter(|p| p.metadata.deletion_timestamp.is_some() && node_name(p).is_empty())
            .map(|p| (p.clone(), None)),
    );

    let mut done = HashSet::new();
    for (pod, condition) in doomed {
        if !done.insert(pod.uid()) {
            continue;
        }
        if let Err(err) = mark_failed_and_delete(&ctx.client, &pod, condition).await {
            tracing::warn!(error = %err, "pod garbage collection failed; retrying next period");
        }
    }
}

fn node_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .unwrap_or("")
}

fn phase(pod: &Pod) -> Option<&str> {
    pod.status.as_ref().and_then(|s| s.phase.as_deref())
}

/// `isPodTerminated`: Succeeded or Failed.
fn is_terminated(pod: &Pod) -> bool {
    matches!(phase(pod), Some("Succeeded" | "Failed"))
}

/// `gcTerminated`: the terminated pods beyond `threshold`, evicted ones first, then the
/// oldest, then by name (`byEvictionAndCreationTimestamp`).
pub fn terminated_to_delete(pods: &[Arc<Pod>], threshold: usize) -> Vec<Arc<Pod>> {
    if threshold == 0 {
        return Vec::new();
    }
    let mut terminated: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_terminated(p)).collect();
    let Some(count) = terminated.len().checked_sub(threshold).filter(|n| *n > 0) else {
        return Vec::new();
    };
    let evicted = |p: &Pod| {
        phase(p) == Some("Failed")
            && p.status.as_ref().and_then(|s| s.reason.as_deref()) == Some("Evicted")
    };
    terminated.sort_by_key(|p| {
        (
            !evicted(p),
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.name_any(),
        )
    });
    terminated.into_iter().take(count).cloned().collect()
}

/// `gcTerminating`: pods being deleted on a node that is not Ready and is tainted
/// out-of-service.
pub fn terminating_out_of_service(pods: &[Arc<Pod>], nodes: &[Arc<Node>]) -> Vec<Arc<Pod>> {
    let out_of_service: HashSet<String> = nodes
        .iter()
        .filter(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
            let tainted = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.as_ref())
                .is_some_and(|t| t.iter().any(|t| t.key == OUT_OF_SERVICE));
            !ready && tainted
        })
        .map(|n| n.name_any())
        .collect();
    let mut found: Vec<Arc<Pod>> = pods
        .iter()
        .filter(|p| {
            p.metadata.deletion_timestamp.is_some() && out_of_service.contains(node_name(p))
        })
        .cloned()
        .collect();
    found.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.name_any(),
        )
    });
    found
}

/// Nodes pods are bound to that the cache does not have: start their quarantine, forget
/// those back or no longer referenced, and return those whose quarantine is over.
///
/// Times are the passes' scheduled instants, not when each pass happened to read the
/// clock: a node first missed at one pass is due exactly at the pass `quarantine` later
/// (the second after it, with upstream's 20 s and 40 s), never one pass later because
/// the clock was read a little earlier in that pass than in the first.
pub fn orphan_nodes_due(
    pods: &[Arc<Pod>],
    nodes: &[Arc<Node>],
    missing: &mut BTreeMap<String, Instant>,
    quarantine: Duration,
    now: Instant,
) -> Vec<String> {
    let existing: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
    let referenced: HashSet<&str> = pods
        .iter()
        .map(|p| node_name(p))
        .filter(|n| !n.is_empty() && !existing.contains(*n))
        .collect();
    missing.retain(|node, _| referenced.contains(node.as_str()));
    for node in &referenced {
        missing.entry((*node).to_string()).or_insert(now);
    }
    missing
        .iter()
        .filter(|(_, since)| now.saturating_duration_since(**since) >= quarantine)
        .map(|(node, _)| node.clone())
        .collect()
}

/// `markFailedAndDeletePodWithCondition`.
async fn mark_failed_and_delete(
    client: &Client,
    pod: &Pod,
    condition: Option<PodCondition>,
) -> Result<(), Error> {
    let name = pod.name_any();
    let namespace = pod.namespace().unwrap_or_default();
    let key = format!("{namespace}/{name}");
    let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    tracing::info!(
        pod = key,
        node = node_name(pod),
        "pod garbage collector force-deleting pod"
    );
    if !is_terminated(pod) {
        let mut status = json!({"phase": "Failed"});
        if let Some(condition) = &condition {
            status["conditions"] = json!([condition]);
        }
        let patch = json!({"metadata": {"uid": pod.uid()}, "status": status});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => return Ok(()),
            Err(e) => return Err(Error::DeletePod(key, e)),
        }
    }
    let params = DeleteParams {
        grace_period_seconds: Some(0),
        preconditions: Some(Preconditions {
            uid: pod.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
        Err(e) => Err(Error::DeletePod(key, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn pod(name: &str, node: &str, phase: &str, created: i64) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "uid": name, "creationTimestamp": ts(created).to_string()},
                "spec": {"nodeName": node, "containers": []},
                "status": {"phase": phase}
            }))
            .unwrap(),
        )
    }

    fn names(pods: &[Arc<Pod>]) -> Vec<String> {
        pods.iter().map(|p| p.name_any()).collect()
    }

    #[test]
    fn the_oldest_terminated_pods_beyond_the_threshold_go_evicted_first() {
        let mut evicted = (*pod("evicted", "n", "Failed", 9)).clone();
        evicted.status.get_or_insert_default().reason = Some("Evicted".into());
        let pods = vec![
            pod("new", "n", "Succeeded", 5),
            pod("old", "n", "Failed", 1),
            pod("running", "n", "Running", 0),
            Arc::new(evicted),
        ];
        assert_eq!(names(&terminated_to_delete(&pods, 1)), ["evicted", "old"]);
        assert_eq!(names(&terminated_to_delete(&pods, 2)), ["evicted"]);
        assert!(terminated_to_delete(&pods, 3).is_empty());
        assert!(terminated_to_delete(&pods, 0).is_empty(), "0 disables");
    }

    #[test]
    fn only_terminating_pods_on_not_ready_out_of_service_nodes() {
        let node = |name: &str, ready: &str, taint: bool| -> Arc<Node> {
            let taints = if taint {
                json!([{"key": OUT_OF_SERVICE, "value": "nodeshutdown", "effect": "NoExecute"}])
            } else {
                json!([])
            };
            Arc::new(
                serde_json::from_value(
                    json!({"metadata": {"name": name}, "spec": {"taints": taints},
                    "status": {"conditions": [{"type": "Ready", "status": ready}]}}),
                )
                .unwrap(),
            )
        };
        let deleting = |name: &str, node: &str| {
            let mut p = (*pod(name, node, "Running", 0)).clone();
            p.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(ts(1)));
            Arc::new(p)
        };
        let nodes = vec![
            node("gone", "False", true),
            node("ready", "True", true),
            node("untainted", "Unknown", false),
        ];
        let pods = vec![
            deleting("a", "gone"),
            pod("b", "gone", "Running", 0),
            deleting("c", "ready"),
            deleting("d", "untainted"),
        ];
        assert_eq!(names(&terminating_out_of_service(&pods, &nodes)), ["a"]);
    }

    #[test]
    fn missing_nodes_are_quarantined_first() {
        let pods = vec![pod("a", "ghost", "Running", 0), pod("b", "", "Pending", 0)];
        let mut missing = BTreeMap::new();
        let q = Duration::from_secs(40);
        let start = Instant::now();
        let at = |secs| start + Duration::from_secs(secs);
        assert!(orphan_nodes_due(&pods, &[], &mut missing, q, at(0)).is_empty());
        assert!(orphan_nodes_due(&pods, &[], &mut missing, q, at(20)).is_empty());
        // Two 20 s passes later: due, to the nanosecond.
        assert_eq!(
            orphan_nodes_due(&pods, &[], &mut missing, q, at(40)),
            ["ghost"]
        );
        // The node shows up: forgotten.
        let node: Arc<Node> =
            Arc::new(serde_json::from_value(json!({"metadata": {"name": "ghost"}})).unwrap());
        assert!(orphan_nodes_due(&pods, &[node], &mut missing, q, at(60)).is_empty());
        assert!(missing.is_empty());
    }
}
