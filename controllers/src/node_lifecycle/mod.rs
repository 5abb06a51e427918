//! The node lifecycle controller: notices nodes that stopped heartbeating, taints nodes
//! in trouble, and evicts the pods that do not tolerate it — as upstream's
//! `pkg/controller/nodelifecycle` with its taint-eviction controller (`tainteviction`).
//!
//! # Expected flow
//!
//! Every monitor period (5 s, or an eighth of the grace period if shorter) one pass
//! observes nodes, their Leases and pods from caches, and:
//!
//! 1. **Registers** nodes it has not seen (event `RegisteredNode` "Node X event:
//!    Registered Node X in Controller") and forgets deleted ones (`RemovingNode`).
//! 2. **Health** ([`health`]): a node whose heartbeats are older than the grace period
//!    (`--node-monitor-grace-period`, 50 s) gets Ready, MemoryPressure, DiskPressure and
//!    PIDPressure `Unknown`; event `NodeNotReady` when it was Ready.
//! 3. **Zones** ([`zones`]): whether `NoExecute` taints may be added, per zone; when every
//!    node is down none are, and existing ones go.
//! 4. Per node:
//!    - **Taints** ([`taints`]): `NoSchedule` from its conditions and `spec.unschedulable`,
//!      `NoExecute` from Ready, each with `timeAdded`.
//!    - **Pods not ready** (`MarkPodsNotReady`): on a node whose Ready is `Unknown` no
//!      kubelet reports, so its pods' Ready condition is set `False` (event `NodeNotReady`
//!      on the pod); on one whose Ready is `False`, pods the controller sees there for
//!      the first time are, as upstream's pod handler does.
//!    - **Taint eviction** ([`eviction`]).
//!
//! Between passes, a node that changes (a cordon, a kubelet's new conditions) gets its
//! `NoSchedule` taints at once, its `NoExecute` ones left to the pass — upstream's
//! `doNoScheduleTaintingPass`, run from its node update handler.
//!
//! Level-triggered throughout: a restart re-derives everything from the objects, except
//! the few timestamps upstream also keeps in memory (when a node was first seen, when the
//! cluster left full disruption).

pub mod eviction;
pub mod health;
pub mod taints;
pub mod zones;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, ObjectReference, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::cache;
use crate::events::{EventType, Recorder};

/// Upstream's `--node-monitor-grace-period` default (50 s since Kubernetes 1.32).
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::from_secs(50);
/// Upstream's `--node-monitor-period`.
const MONITOR_PERIOD: Duration = Duration::from_secs(5);

const LEASE_NAMESPACE: &str = "kube-node-lease";
const COMPONENT: &str = "node-controller";

/// How the controller is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a node may go without a heartbeat before it is `Ready=Unknown`.
    pub grace_period: Duration,
    /// Whether pods are evicted from `NoExecute`-tainted nodes (upstream's
    /// `taint-eviction-controller`, which `--controllers` can leave out).
    pub evict: bool,
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
    eviction_recorder: Recorder,
    nodes: Store<Node>,
    leases: Store<Lease>,
    pods: Store<Pod>,
    config: Config,
}

/// What the controller remembers between passes (upstream keeps the same in memory).
#[derive(Default)]
struct State {
    /// Nodes seen: name → (uid, when first seen).
    known: BTreeMap<String, (String, Timestamp)>,
    zones: zones::Tracker,
    /// When the cluster last left full disruption.
    left_full_disruption: Option<Timestamp>,
    /// Uids of pods already seen on a node.
    seen_pods: HashSet<String>,
    scheduled: eviction::Scheduled,
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client, config: Config) {
    // Every node that changes gets its NoSchedule taints at once, as upstream's node
    // update handler queues it, not at the next monitor pass.
    let (nodes, changes) = cache::with_changes::<Node>(&client);
    let (changed_tx, mut changed) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(changes.for_each(move |node| {
        if let Ok(node) = node {
            let _ = changed_tx.send(node.name_any());
        }
        async {}
    }));
    let ctx = Context {
        recorder: Recorder::new(client.clone(), COMPONENT),
        eviction_recorder: Recorder::new(client.clone(), eviction::COMPONENT),
        nodes,
        leases: cache::spawn(
            Api::<Lease>::namespaced(client.clone(), LEASE_NAMESPACE),
            watcher::Config::default(),
        ),
        pods: cache::spawn(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default().fields("spec.nodeName!="),
        ),
        client,
        config,
    };
    for ready in [
        cache::ready(&ctx.nodes).await,
        cache::ready(&ctx.leases).await,
        cache::ready(&ctx.pods).await,
    ] {
        if ready.is_err() {
            tracing::error!("node lifecycle caches never synced");
            return;
        }
    }
    let period = (ctx.config.grace_period / 8).clamp(Duration::from_millis(100), MONITOR_PERIOD);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut state = State::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => pass(&ctx, &mut state).await,
            Some(name) = changed.recv() => {
                if let Err(err) = no_schedule_taints(&ctx, &name).await {
                    tracing::debug!(error = %err, node = name, "NoSchedule taints; the next pass retries");
                }
            }
        }
    }
}

/// Upstream's `doNoScheduleTaintingPass` for one node that changed: its `NoSchedule`
/// taints as its conditions and `spec.unschedulable` say, its `NoExecute` ones left to
/// the monitor pass. A cordon shows as a taint at once.
async fn no_schedule_taints(ctx: &Context, name: &str) -> Result<(), Error> {
    let Some(node) = ctx
        .nodes
        .get(&kube::runtime::reflector::ObjectRef::new(name))
    else {
        return Ok(());
    };
    if node.metadata.deletion_timestamp.is_some() {
        return Ok(());
    }
    let (current, unschedulable) = taints_and_cordon(&node);
    let desired = taints::desired(
        &current,
        &conditions(&node),
        unschedulable,
        taints::NoExecute::Untouched,
        Timestamp::now(),
    );
    if desired == current {
        return Ok(());
    }
    // With the resourceVersion read: a 409 means a newer node, whose change comes next.
    let patch = json!({"metadata": {"resourceVersion": node.resource_version()}, "spec": {"taints": desired}});
    Api::<Node>::all(ctx.client.clone())
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::Node(name.to_string(), e))?;
    Ok(())
}

/// One monitor pass over every node (`monitorNodeHealth`).
async fn pass(ctx: &Context, state: &mut State) {
    let now = Timestamp::now();
    let nodes = ctx.nodes.state();
    register(ctx, state, &nodes, now);

    // Health first, so zones and taints see this pass's conditions.
    let mut fresh: Vec<Node> = Vec::with_capacity(nodes.len());
    for node in &nodes {
        match update_health(ctx, state, node, now).await {
            Ok(node) => fresh.push(node),
            Err(err) => {
                tracing::warn!(error = %err, node = node.name_any(), "node health update failed; retrying next period")
            }
        }
    }

    let mut by_zone: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for node in fresh
        .iter()
        .filter(|n| !n.labels().contains_key(zones::EXCLUDE_DISRUPTION))
    {
        by_zone
            .entry(zones::zone_key(node))
            .or_default()
            .push(health::ready_status(&conditions(node)) == Some("True"));
    }
    let decision = state.zones.observe(&by_zone, now);
    if decision.fresh_grace_since.is_some() {
        state.left_full_disruption = decision.fresh_grace_since;
    }

    let mut pods_on: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
    for pod in ctx.pods.state() {
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        pods_on.entry(node).or_default().push(pod);
    }
    let scheduled_before = state.scheduled.begin();
    let mut evicted = Vec::new();
    for node in &fresh {
        let no_execute = if decision.untaint_all {
            taints::NoExecute::Remove
        } else if decision.may_taint(&zones::zone_key(node)) {
            taints::NoExecute::Allow
        } else {
            taints::NoExecute::Hold
        };
        let pods = pods_on.remove(&node.name_any()).unwrap_or_default();
        if let Err(err) = reconcile(ctx, state, node, &pods, no_execute, &mut evicted, now).await {
            tracing::warn!(error = %err, node = node.name_any(), "node lifecycle pass failed; retrying next period");
        }
    }
    for key in state.scheduled.cancelled(scheduled_before, &evicted) {
        eviction::record_cancelled(&ctx.eviction_recorder, &key);
    }
    // Forget pods that are gone (or on nodes not seen this pass: seen again, they are new).
    let present: HashSet<String> = ctx.pods.state().iter().filter_map(|p| p.uid()).collect();
    state.seen_pods.retain(|uid| present.contains(uid));
}

/// A node's taints, and whether it is cordoned (`spec.unschedulable`).
fn taints_and_cordon(node: &Node) -> (Vec<Taint>, bool) {
    let spec = node.spec.as_ref();
    (
        spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
        spec.and_then(|s| s.unschedulable).unwrap_or(false),
    )
}

fn conditions(node: &Node) -> Vec<k8s_openapi::api::core::v1::NodeCondition> {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default()
}

/// `classifyNodes`: events for nodes seen for the first time and for nodes gone.
fn register(ctx: &Context, state: &mut State, nodes: &[Arc<Node>], now: Timestamp) {
    for node in nodes {
        let name = node.name_any();
        let uid = node.uid().unwrap_or_default();
        if state
            .known
            .get(&name)
            .is_some_and(|(known, _)| *known == uid)
        {
            continue;
        }
        ctx.recorder.normal(
            &**node,
            "RegisteredNode",
            format!("Node {name} event: Registered Node {name} in Controller"),
        );
        tracing::info!(node = name, "observed a new node");
        state.known.insert(name, (uid, now));
    }
    let names: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
    let gone: Vec<String> = state
        .known
        .keys()
        .filter(|n| !names.contains(*n))
        .cloned()
        .collect();
    for name in gone {
        let uid = state.known.remove(&name).map(|(uid, _)| uid);
        let node = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Node".into()),
            name: Some(name.clone()),
            uid,
            ..Default::default()
        };
        ctx.recorder.record(
            node,
            EventType::Normal,
            "RemovingNode",
            format!("Node {name} event: Removing Node {name} from Controller"),
        );
        tracing::info!(node = name, "observed a node deletion");
    }
}

/// Mark a node whose heartbeats are too old `Unknown`; the node as it is now.
async fn update_health(
    ctx: &Context,
    state: &State,
    node: &Node,
    now: Timestamp,
) -> Result<Node, Error> {
    let name = node.name_any();
    let lease = ctx
        .leases
        .state()
        .into_iter()
        .find(|l| l.name_any() == name);
    let first_seen = state.known.get(&name).map(|(_, at)| *at);
    let beats = health::Heartbeats {
        lease: lease.as_deref(),
        created: node.metadata.creation_timestamp.as_ref().map(|t| t.0),
        floor: first_seen.max(state.left_full_disruption),
    };
    let before = conditions(node);
    let Some(updated) = health::stale_conditions(&before, &beats, ctx.config.grace_period, now)
    else {
        return Ok(node.clone());
    };
    let patch = json!({"metadata": {"resourceVersion": node.resource_version()}, "status": {"conditions": updated}});
    let nodes: Api<Node> = Api::all(ctx.client.clone());
    let written = nodes
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| Error::Node(name.clone(), e))?;
    tracing::info!("node stopped posting status: Ready=Unknown");
    // `RecordNodeStatusChange`, only for a node that was Ready.
    if health::ready_status(&before) == Some("True") {
        ctx.recorder.normal(
            node,
            "NodeNotReady",
            format!("Node {name} status is now: NodeNotReady"),
        );
    }
    Ok(written)
}

#[tracing::instrument(skip_all, fields(node = %node.name_any()))]
async fn reconcile(
    ctx: &Context,
    state: &mut State,
    node: &Node,
    pods: &[Arc<Pod>],
    no_execute: taints::NoExecute,
    evicted: &mut Vec<String>,
    now: Timestamp,
) -> Result<(), Error> {
    let name = node.name_any();
    let conditions = conditions(node);
    let ready = health::ready_status(&conditions).map(str::to_string);

    // Compare: taints, and which pods go now or later, in pure code.
    let (current, unschedulable) = taints_and_cordon(node);
    let desired = taints::desired(&current, &conditions, unschedulable, no_execute, now);
    let no_execute_taints: Vec<&Taint> =
        desired.iter().filter(|t| t.effect == "NoExecute").collect();
    let mut due = Vec::new();
    for pod in pods
        .iter()
        .filter(|p| ctx.config.evict && p.metadata.deletion_timestamp.is_none())
    {
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.clone())
            .unwrap_or_default();
        match eviction::eviction_time(&no_execute_taints, &tolerations, now) {
            Some(at) if at <= now => due.push(pod.clone()),
            Some(_) => state.scheduled.schedule(pod),
            None => {}
        }
    }
    let newly_seen: Vec<bool> = pods
        .iter()
        .map(|p| p.uid().is_some_and(|uid| state.seen_pods.insert(uid)))
        .collect();

    // Act: taints, then pods.
    if desired != current {
        let patch = json!({"metadata": {"resourceVersion": node.resource_version()}, "spec": {"taints": desired}});
        let nodes: Api<Node> = Api::all(ctx.client.clone());
        nodes
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::Node(name.clone(), e))?;
        tracing::info!(ready, taints = ?desired.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(), "node taints updated");
    }
    for (pod, new) in pods.iter().zip(newly_seen) {
        let mark = match ready.as_deref() {
            Some("Unknown") => true,
            Some("False") => new,
            _ => false,
        };
        if mark && pod_ready(pod) {
            mark_pod_not_ready(ctx, pod, now).await?;
        }
    }
    for pod in due {
        evicted.push(eviction::key(&pod));
        eviction::evict(&ctx.client, &ctx.eviction_recorder, &pod, now)
            .await
            .map_err(|e| Error::Pod(eviction::key(&pod), e))?;
    }
    Ok(())
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// `MarkPodsNotReady` for one pod: its Ready condition `False`, as the kubelet would
/// if it could.
async fn mark_pod_not_ready(ctx: &Context, pod: &Pod, now: Timestamp) -> Result<(), Error> {
    let name = pod.name_any();
    let namespace = pod.namespace().unwrap_or_default();
    let mut conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    for c in conditions.iter_mut().filter(|c| c.type_ == "Ready") {
        c.status = "False".into();
        c.last_transition_time = Some(Time(now));
    }
    let patch = json!({"metadata": {"resourceVersion": pod.resource_version()}, "status": {"conditions": conditions}});
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    match api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            ctx.recorder
                .warning(pod, "NodeNotReady", "Node is not ready");
            tracing::info!(pod = format!("{namespace}/{name}"), "marked pod not ready");
            Ok(())
        }
        // Changed or gone meanwhile: the next period sees it afresh.
        Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => Ok(()),
        Err(e) => Err(Error::Pod(format!("{namespace}/{name}"), e)),
    }
}
