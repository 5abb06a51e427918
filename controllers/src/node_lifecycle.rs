//! The node lifecycle controller: notices nodes that stopped heartbeating, taints them,
//! and evicts the pods that do not tolerate it — as upstream's
//! `pkg/controller/nodelifecycle` with its taint-eviction controller (`tainteviction`).
//!
//! # Expected flow
//!
//! Every monitor period (5 s, or an eighth of the grace period if shorter) it observes
//! nodes, their Leases (`kube-node-lease/<node>`) and pods from caches, and per node:
//!
//! 1. **Health**: the last heartbeat is the later of the Lease's `renewTime` and the Ready
//!    condition's `lastHeartbeatTime` (the node's creation if neither). Older than the grace
//!    period (`--node-monitor-grace-period`, 40 s): the Ready, MemoryPressure, DiskPressure
//!    and PIDPressure conditions go `Unknown` with reason `NodeStatusUnknown`, "Kubelet
//!    stopped posting node status." (`NodeStatusNeverUpdated`, "Kubelet never posted node
//!    status.", for a node that never reported), and an event `NodeNotReady` is recorded.
//! 2. **Pods not ready**: on a node whose Ready is `Unknown`, every pod's Ready condition
//!    is set `False` (`MarkPodsNotReady`), since no kubelet is there to do it.
//! 3. **Taints**: Ready `False` → `node.kubernetes.io/not-ready`, `Unknown` →
//!    `node.kubernetes.io/unreachable`, each both `NoSchedule` and `NoExecute` (with
//!    `timeAdded`); `spec.unschedulable` (cordon) → `node.kubernetes.io/unschedulable:
//!    NoSchedule`. Ready `True` again removes them — recovery is the kubelet posting Ready.
//! 4. **Taint eviction**: a pod on a node with `NoExecute` taints it does not all tolerate
//!    is deleted now; one that tolerates them for `tolerationSeconds` is deleted when the
//!    shortest of those has passed since the taint's `timeAdded` (the API server gives
//!    every pod 300 s for not-ready and unreachable). Event `TaintManagerEviction`.
//!
//! Level-triggered throughout: a restart re-derives everything from the objects.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::events::Recorder;

/// Upstream's `--node-monitor-grace-period`.
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(40);
/// Upstream's `--node-monitor-period`.
const MONITOR_PERIOD: Duration = Duration::from_secs(5);

pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
const LEASE_NAMESPACE: &str = "kube-node-lease";
const COMPONENT: &str = "node-controller";

/// How the controller is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a node may go without a heartbeat before it is `Ready=Unknown`.
    pub grace_period: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("updating node {0} failed: {1}")]
    Node(String, #[source] kube::Error),
    #[error("updating pod {0} failed: {1}")]
    Pod(String, #[source] kube::Error),
}

struct Context {
    client: Client,
    recorder: Recorder,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    config: Config,
}

/// A cache of `K` kept by a background watch.
fn cache<K>(api: Api<K>, config: watcher::Config) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store::<K>();
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    tokio::spawn(stream.for_each(|_| async {}));
    reader
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client, config: Config) {
    let ctx = Context {
        recorder: Recorder::new(client.clone(), COMPONENT),
        nodes: cache(Api::<Node>::all(client.clone()), watcher::Config::default()),
        leases: cache(Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE), watcher::Config::default()),
        pods: cache(Api::<Pod>::all(client.clone()), watcher::Config::default().fields("spec.nodeName!=")),
        client,
        config,
    };
    let period = (ctx.config.grace_period / 8).clamp(Duration::from_millis(100), MONITOR_PERIOD);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for node in ctx.nodes.state() {
            if let Err(err) = reconcile(&node, &ctx).await {
                tracing::warn!(error = %err, node = node.name_any(), "node lifecycle pass failed; retrying next period");
            }
        }
    }
}

#[tracing::instrument(skip_all, fields(node = %node.name_any()))]
async fn reconcile(node: &Node, ctx: &Context) -> Result<(), Error> {
    let name = node.name_any();
    let now = Timestamp::now();
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let rv = node.resource_version();

    // 1. Health.
    let lease = ctx.leases.state().into_iter().find(|l| l.name_any() == name);
    let conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    if let Some(updated) = health(&conditions, lease.as_deref(), node.metadata.creation_timestamp.as_ref(), ctx.config.grace_period, now) {
        let patch = json!({"metadata": {"resourceVersion": rv}, "status": {"conditions": updated}});
        nodes.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| Error::Node(name.clone(), e))?;
        ctx.recorder.normal(node, "NodeNotReady", format!("Node {name} status is now: NodeNotReady"));
        tracing::info!("node stopped posting status: Ready=Unknown");
        return Ok(());
    }
    let ready = ready_status(&conditions);

    // 2. Pods on an unreachable node are not ready.
    let pods: Vec<Arc<Pod>> =
        ctx.pods.state().into_iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())).collect();
    if ready == "Unknown" {
        for pod in pods.iter().filter(|p| pod_ready(p)) {
            mark_pod_not_ready(ctx, pod, now).await?;
        }
    }

    // 3. Taints.
    let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let unschedulable = node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false);
    let desired = taints(&current, &ready, unschedulable, now);
    if desired != current {
        let patch = json!({"metadata": {"resourceVersion": rv}, "spec": {"taints": desired}});
        nodes.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(|e| Error::Node(name.clone(), e))?;
        tracing::info!(ready, "node taints updated");
    }

    // 4. Taint eviction.
    let no_execute: Vec<&Taint> = desired.iter().filter(|t| t.effect == "NoExecute").collect();
    if no_execute.is_empty() {
        return Ok(());
    }
    for pod in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let tolerations = pod.spec.as_ref().and_then(|s| s.tolerations.clone()).unwrap_or_default();
        if let Some(at) = eviction_time(&no_execute, &tolerations, now)
            && at <= now
        {
            evict(ctx, pod).await?;
        }
    }
    Ok(())
}

/// The Ready condition's status, `Unknown` when absent.
fn ready_status(conditions: &[NodeCondition]) -> String {
    conditions.iter().find(|c| c.type_ == "Ready").map(|c| c.status.clone()).unwrap_or_else(|| "Unknown".into())
}

/// The node's conditions after a missed heartbeat, or `None` if nothing changes.
fn health(conditions: &[NodeCondition], lease: Option<&Lease>, created: Option<&Time>, grace: Duration, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let ready = conditions.iter().find(|c| c.type_ == "Ready");
    let heartbeat = [
        lease.and_then(|l| l.spec.as_ref()).and_then(|s| s.renew_time.as_ref()).map(|t| t.0),
        ready.and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0),
        created.map(|t| t.0),
    ]
    .into_iter()
    .flatten()
    .max()?;
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    if now.duration_since(heartbeat) <= grace {
        return None;
    }
    let (reason, message) = if ready.is_some() {
        ("NodeStatusUnknown", "Kubelet stopped posting node status.")
    } else {
        ("NodeStatusNeverUpdated", "Kubelet never posted node status.")
    };
    let mut out = conditions.to_vec();
    let mut changed = false;
    for type_ in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        match out.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == "Unknown" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = Some(reason.into());
                c.message = Some(message.into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            None => {
                out.push(NodeCondition {
                    type_: type_.into(),
                    status: "Unknown".into(),
                    reason: Some(reason.into()),
                    message: Some(message.into()),
                    last_heartbeat_time: Some(Time(heartbeat)),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

/// The taints the node should carry: ours as its Ready status and `unschedulable` say
/// (keeping `timeAdded` of ones already there), everyone else's untouched.
fn taints(current: &[Taint], ready: &str, unschedulable: bool, now: Timestamp) -> Vec<Taint> {
    let ours = |t: &Taint| matches!(t.key.as_str(), TAINT_NOT_READY | TAINT_UNREACHABLE | TAINT_UNSCHEDULABLE);
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    match ready {
        "False" => wanted.extend([(TAINT_NOT_READY, "NoSchedule"), (TAINT_NOT_READY, "NoExecute")]),
        "True" => {}
        _ => wanted.extend([(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")]),
    }
    if unschedulable {
        wanted.push((TAINT_UNSCHEDULABLE, "NoSchedule"));
    }
    let mut out: Vec<Taint> = current.iter().filter(|t| !ours(t) || wanted.contains(&(t.key.as_str(), t.effect.as_str()))).cloned().collect();
    for (key, effect) in wanted {
        if !out.iter().any(|t| t.key == key && t.effect == effect) {
            out.push(Taint {
                key: key.into(),
                effect: effect.into(),
                time_added: (effect == "NoExecute").then_some(Time(now)),
                value: None,
            });
        }
    }
    out
}

/// `Toleration.ToleratesTaint`.
fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    let effect_ok = t.effect.as_deref().is_none_or(|e| e.is_empty() || e == taint.effect);
    let key = t.key.as_deref().unwrap_or("");
    let key_ok = key.is_empty() || key == taint.key;
    let op_ok = match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        _ => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
    };
    effect_ok && key_ok && op_ok && (!key.is_empty() || t.operator.as_deref() == Some("Exists"))
}

/// When the pod must go: now if some taint is not tolerated, else the earliest
/// `timeAdded + tolerationSeconds` over the taints; `None` if it tolerates them forever.
fn eviction_time(taints: &[&Taint], tolerations: &[Toleration], now: Timestamp) -> Option<Timestamp> {
    let mut at: Option<Timestamp> = None;
    for taint in taints {
        let matching: Vec<&Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if matching.is_empty() {
            return Some(now);
        }
        // Among matching tolerations the shortest bound counts; one without a bound is forever.
        let seconds = matching.iter().filter_map(|t| t.toleration_seconds).min();
        let Some(seconds) = seconds else { continue };
        let added = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        let due = added.checked_add(SignedDuration::from_secs(seconds.max(0))).unwrap_or(added);
        at = Some(at.map_or(due, |a| a.min(due)));
    }
    at
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `MarkPodsNotReady` for one pod.
async fn mark_pod_not_ready(ctx: &Context, pod: &Pod, now: Timestamp) -> Result<(), Error> {
    let name = pod.name_any();
    let namespace = pod.namespace().unwrap_or_default();
    let mut conditions = pod.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    for c in conditions.iter_mut().filter(|c| c.type_ == "Ready") {
        c.status = "False".into();
        c.last_transition_time = Some(Time(now));
    }
    let patch = json!({"metadata": {"resourceVersion": pod.resource_version()}, "status": {"conditions": conditions}});
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    match api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => {
            ctx.recorder.warning(pod, "NodeNotReady", "Node is not ready");
            Ok(())
        }
        // Changed or gone meanwhile: the next period sees it afresh.
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
        Err(e) => Err(Error::Pod(format!("{namespace}/{name}"), e)),
    }
}

/// Taint-based eviction: delete the pod.
async fn evict(ctx: &Context, pod: &Pod) -> Result<(), Error> {
    let name = pod.name_any();
    let namespace = pod.namespace().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams { preconditions: Some(Preconditions { uid: pod.uid(), resource_version: None }), ..DeleteParams::default() };
    ctx.recorder.normal(pod, "TaintManagerEviction", format!("Marking for deletion Pod {namespace}/{name}"));
    tracing::info!(pod = name, namespace, "evicting pod from tainted node");
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
        Err(e) => Err(Error::Pod(format!("{namespace}/{name}"), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn ready(heartbeat: i64) -> NodeCondition {
        NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            last_heartbeat_time: Some(Time(ts(heartbeat))),
            last_transition_time: Some(Time(ts(0))),
            message: None,
        }
    }

    fn lease(renew: i64) -> Lease {
        Lease { spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec { renew_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(ts(renew))), ..Default::default() }), ..Default::default() }
    }

    #[test]
    fn a_node_is_unknown_once_lease_and_heartbeat_are_older_than_the_grace_period() {
        let grace = Duration::from_secs(40);
        assert!(health(&[ready(0)], Some(&lease(30)), None, grace, ts(60)).is_none());
        let out = health(&[ready(0)], Some(&lease(10)), None, grace, ts(60)).unwrap();
        let r = out.iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!((r.status.as_str(), r.reason.as_deref()), ("Unknown", Some("NodeStatusUnknown")));
        assert_eq!(r.message.as_deref(), Some("Kubelet stopped posting node status."));
        assert_eq!(out.len(), 4);
        // Already Unknown everywhere: nothing to write.
        assert!(health(&out, Some(&lease(10)), None, grace, ts(70)).is_none());
        let never = health(&[], None, Some(&Time(ts(0))), grace, ts(60)).unwrap();
        assert_eq!(never[0].reason.as_deref(), Some("NodeStatusNeverUpdated"));
    }

    #[test]
    fn taints_follow_readiness_and_cordon() {
        let t = taints(&[], "Unknown", false, ts(5));
        assert_eq!(t.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect::<Vec<_>>(), vec![(TAINT_UNREACHABLE, "NoSchedule"), (TAINT_UNREACHABLE, "NoExecute")]);
        assert_eq!(t[1].time_added, Some(Time(ts(5))));
        // Kept as is later, then swapped for not-ready, then gone.
        assert_eq!(taints(&t, "Unknown", false, ts(9)), t);
        let nr = taints(&t, "False", false, ts(9));
        assert!(nr.iter().all(|t| t.key == TAINT_NOT_READY));
        let user = Taint { key: "dedicated".into(), effect: "NoSchedule".into(), value: Some("gpu".into()), time_added: None };
        let back = taints(&[nr, vec![user.clone()]].concat(), "True", true, ts(10));
        assert_eq!(back, vec![user, Taint { key: TAINT_UNSCHEDULABLE.into(), effect: "NoSchedule".into(), value: None, time_added: None }]);
    }

    #[test]
    fn eviction_waits_for_the_shortest_toleration() {
        let taint = Taint { key: TAINT_UNREACHABLE.into(), effect: "NoExecute".into(), value: None, time_added: Some(Time(ts(0))) };
        let tol = |secs: Option<i64>| Toleration { key: Some(TAINT_UNREACHABLE.into()), operator: Some("Exists".into()), effect: Some("NoExecute".into()), toleration_seconds: secs, value: None };
        assert_eq!(eviction_time(&[&taint], &[], ts(3)), Some(ts(3)));
        assert_eq!(eviction_time(&[&taint], &[tol(Some(300))], ts(3)), Some(ts(300)));
        assert_eq!(eviction_time(&[&taint], &[tol(Some(300)), tol(Some(5))], ts(3)), Some(ts(5)));
        assert_eq!(eviction_time(&[&taint], &[tol(None)], ts(3)), None);
        let other = Toleration { key: Some("other".into()), operator: Some("Exists".into()), ..Default::default() };
        assert_eq!(eviction_time(&[&taint], &[other], ts(3)), Some(ts(3)));
        let wildcard = Toleration { operator: Some("Exists".into()), ..Default::default() };
        assert_eq!(eviction_time(&[&taint], &[wildcard], ts(3)), None);
    }
}
