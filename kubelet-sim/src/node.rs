//! Nodes: registration, heartbeats (a Lease renewed every 10 s, status on change and at
//! least every 5 min, as upstream's kubelet with `NodeLease`), and faults for demos.
//!
//! Faults are annotations on the Node, which this process obeys (`kubesim node ...`
//! sets them):
//! - `kubesim.io/stopped: "true"` — no more Lease renewals or status posts: the node
//!   lifecycle controller sees it go silent and marks it NotReady/Unknown.
//! - `kubesim.io/pressure: memory,disk,pid` — the conditions MemoryPressure,
//!   DiskPressure, PIDPressure report True.
//! - `kubesim.io/restart: <any new value>` — the node restarts: every running container
//!   on it is gone and starts again as its pod's restartPolicy says.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus,
    NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference, Time};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::watch;

use crate::Context;
use crate::admission::{self, Allocatable, NodeView, Rejection, Requests};
use crate::config::Pool;
use crate::node_events;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
pub const STOPPED: &str = "kubesim.io/stopped";
pub const PRESSURE: &str = "kubesim.io/pressure";
pub const RESTART: &str = "kubesim.io/restart";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not register node {node}: {source}")]
    Register {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not post the status of node {node}: {source}")]
    PostStatus {
        node: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not renew the lease of node {node}: {source}")]
    RenewLease {
        node: String,
        #[source]
        source: kube::Error,
    },
}

/// What the Node's annotations ask of the simulation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub stopped: bool,
    pub memory_pressure: bool,
    pub disk_pressure: bool,
    pub pid_pressure: bool,
    pub restart: Option<String>,
}

impl Faults {
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Faults {
        let get = |k: &str| annotations.and_then(|a| a.get(k)).map(String::as_str);
        let pressure: Vec<&str> = get(PRESSURE)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .collect();
        Faults {
            stopped: get(STOPPED) == Some("true"),
            memory_pressure: pressure.contains(&"memory"),
            disk_pressure: pressure.contains(&"disk"),
            pid_pressure: pressure.contains(&"pid"),
            restart: get(RESTART).map(str::to_string),
        }
    }
}

type LabelsAndTaints = (BTreeMap<String, String>, Vec<Taint>);

/// One simulated node.
#[derive(Debug)]
pub struct SimNode {
    pub name: String,
    pub pool: Pool,
    pub zone: String,
    pub pod_cidr: String,
    net: Ipv4Addr,
    /// Pod IPs in use: last octet → pod uid.
    ips: Mutex<BTreeMap<u8, String>>,
    /// Told when an IP is released (pods waiting for one try again).
    pub ip_released: tokio::sync::Notify,
    pub faults: watch::Sender<Faults>,
    /// Bumped when the node restarts; pod workers watch it.
    pub restarts: watch::Sender<u64>,
    /// Labels and taints of the Node as last seen (admission checks them).
    observed: Mutex<Option<LabelsAndTaints>>,
    /// `spec.unschedulable` as last seen (cordon events); false when the kubelet starts.
    unschedulable: AtomicBool,
    /// Pods admitted and not finished, by uid, with what they requested.
    admitted: Mutex<HashMap<String, Requests>>,
    /// Images pulled on this node.
    pub images: Mutex<HashSet<String>>,
}

impl SimNode {
    pub fn new(name: String, pool: Pool, zone: String, net: Ipv4Addr, pod_cidr: String) -> SimNode {
        SimNode {
            name,
            pool,
            zone,
            pod_cidr,
            net,
            ips: Mutex::new(BTreeMap::new()),
            ip_released: tokio::sync::Notify::new(),
            faults: watch::channel(Faults::default()).0,
            restarts: watch::channel(0).0,
            observed: Mutex::new(None),
            unschedulable: AtomicBool::new(false),
            admitted: Mutex::new(HashMap::new()),
            images: Mutex::new(HashSet::new()),
        }
    }

    /// Whether the node is stopped (`kubesim node stop`): its kubelet writes nothing.
    pub fn stopped(&self) -> bool {
        self.faults.borrow().stopped
    }

    /// The Node as admission sees it: its labels and taints as last observed (those of
    /// its pool until then) and its allocatable resources.
    pub fn view(&self) -> NodeView {
        let (labels, taints) = self
            .observed
            .lock()
            .clone()
            .unwrap_or_else(|| labels_and_taints(self));
        let p = &self.pool;
        NodeView {
            name: self.name.clone(),
            labels,
            taints,
            allocatable: Allocatable {
                milli_cpu: admission::value(&p.cpu, true),
                memory: admission::value(&p.memory, false),
                ephemeral_storage: admission::value(&p.ephemeral_storage, false),
                pods: i64::from(p.pods),
            },
        }
    }

    /// Admit a pod (see [`admission`]); an admitted pod holds its requests until
    /// [`SimNode::release`]. Admitting the same pod again is a no-op.
    pub fn admit(&self, pod: &k8s_openapi::api::core::v1::Pod) -> Result<(), Rejection> {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let view = self.view();
        let mut admitted = self.admitted.lock();
        if admitted.contains_key(&uid) {
            return Ok(());
        }
        let others: Vec<&Requests> = admitted.values().collect();
        let requests = admission::admit(pod, &view, &others)?;
        admitted.insert(uid, requests);
        Ok(())
    }

    /// The pod finished or is gone: its resources are free again.
    pub fn release(&self, uid: &str) {
        self.admitted.lock().remove(uid);
    }

    /// A pod IP from the node's /24 (.2 to .254; the same one again for the same pod).
    pub fn allocate_ip(&self, uid: &str) -> Option<String> {
        let mut ips = self.ips.lock();
        let octet = match ips.iter().find(|(_, u)| *u == uid) {
            Some((o, _)) => *o,
            None => {
                let free = (2u8..=254).find(|o| !ips.contains_key(o))?;
                ips.insert(free, uid.to_string());
                free
            }
        };
        let [a, b, c, _] = self.net.octets();
        Some(Ipv4Addr::new(a, b, c, octet).to_string())
    }

    /// Keep the IP a pod already has (adopted from a previous process); `false` if
    /// it is not of this node or taken by another pod.
    pub fn reserve_ip(&self, uid: &str, ip: &str) -> bool {
        let Ok(addr) = ip.parse::<Ipv4Addr>() else {
            return false;
        };
        let [a, b, c, octet] = addr.octets();
        if [a, b, c] != self.net.octets()[..3] || !(2..=254).contains(&octet) {
            return false;
        }
        let mut ips = self.ips.lock();
        match ips.get(&octet) {
            Some(owner) => owner == uid,
            None => {
                ips.insert(octet, uid.to_string());
                true
            }
        }
    }

    pub fn release_ip(&self, uid: &str) {
        self.ips.lock().retain(|_, u| u != uid);
        self.ip_released.notify_waiters();
    }
}

fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    now: &Time,
    previous: Option<&NodeStatus>,
) -> NodeCondition {
    let status = if ok { "True" } else { "False" }.to_string();
    let transition = previous
        .and_then(|p| p.conditions.iter().flatten().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .and_then(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    NodeCondition {
        type_: type_.into(),
        status,
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_heartbeat_time: Some(now.clone()),
        last_transition_time: Some(transition),
    }
}

/// The status a kubelet posts, with upstream's condition reasons and messages.
pub fn status(
    ctx: &Context,
    node: &SimNode,
    faults: &Faults,
    previous: Option<&NodeStatus>,
) -> NodeStatus {
    let now = Time(jiff::Timestamp::now());
    let p = &node.pool;
    let resources: BTreeMap<String, Quantity> = [
        ("cpu", quantity(&p.cpu)),
        ("memory", quantity(&p.memory)),
        ("pods", quantity(&p.pods.to_string())),
        ("ephemeral-storage", quantity(&p.ephemeral_storage)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let conditions = vec![
        if faults.memory_pressure {
            condition(
                "MemoryPressure",
                true,
                "KubeletHasInsufficientMemory",
                "kubelet has insufficient memory available",
                &now,
                previous,
            )
        } else {
            condition(
                "MemoryPressure",
                false,
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
                &now,
                previous,
            )
        },
        if faults.disk_pressure {
            condition(
                "DiskPressure",
                true,
                "KubeletHasDiskPressure",
                "kubelet has disk pressure",
                &now,
                previous,
            )
        } else {
            condition(
                "DiskPressure",
                false,
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure",
                &now,
                previous,
            )
        },
        if faults.pid_pressure {
            condition(
                "PIDPressure",
                true,
                "KubeletHasInsufficientPID",
                "kubelet has insufficient PID available",
                &now,
                previous,
            )
        } else {
            condition(
                "PIDPressure",
                false,
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available",
                &now,
                previous,
            )
        },
        condition(
            "Ready",
            true,
            "KubeletReady",
            "kubelet is posting ready status",
            &now,
            previous,
        ),
    ];
    let id = crate::sim::hex_digest(&node.name);
    NodeStatus {
        capacity: Some(resources.clone()),
        allocatable: Some(resources),
        conditions: Some(conditions),
        addresses: Some(vec![
            NodeAddress {
                type_: "InternalIP".into(),
                address: ctx.endpoint.ip().to_string(),
            },
            NodeAddress {
                type_: "Hostname".into(),
                address: node.name.clone(),
            },
        ]),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint {
                port: i32::from(ctx.endpoint.port()),
            }),
        }),
        node_info: Some(NodeSystemInfo {
            machine_id: id[..32].to_string(),
            system_uuid: format!(
                "{}-{}-{}-{}-{}",
                &id[32..40],
                &id[40..44],
                &id[44..48],
                &id[48..52],
                &id[52..64]
            ),
            boot_id: crate::sim::hex_digest(&format!(
                "{}/{}",
                node.name,
                faults.restart.as_deref().unwrap_or("")
            ))[..32]
                .to_string(),
            kernel_version: "6.8.0-kubesim".into(),
            os_image: "kubesim simulated node".into(),
            container_runtime_version: "containerd://2.0.0".into(),
            kubelet_version: "v1.35.0".into(),
            kube_proxy_version: String::new(),
            operating_system: "linux".into(),
            architecture: "amd64".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The labels and taints a node registers with.
fn labels_and_taints(node: &SimNode) -> LabelsAndTaints {
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), node.name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), "amd64".to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), "amd64".to_string()),
        ("topology.kubernetes.io/zone".to_string(), node.zone.clone()),
        (
            "topology.kubernetes.io/region".to_string(),
            node.pool.region.clone(),
        ),
        ("kubesim.io/node-pool".to_string(), node.pool.name.clone()),
    ]);
    labels.extend(node.pool.labels.clone());
    let taints: Vec<Taint> = node
        .pool
        .taints
        .iter()
        .map(|t| Taint {
            key: t.key.clone(),
            value: t.value.clone(),
            effect: t.effect.clone(),
            time_added: None,
        })
        .collect();
    (labels, taints)
}

/// The Node object a kubelet registers, with its first status (as upstream's
/// `initialNode`), so it is Ready from its first revision.
pub fn object(ctx: &Context, node: &SimNode) -> Node {
    let (labels, taints) = labels_and_taints(node);
    Node {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            labels: Some(labels),
            annotations: Some(BTreeMap::from([(
                "node.alpha.kubernetes.io/ttl".to_string(),
                "0".to_string(),
            )])),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            pod_cidr: Some(node.pod_cidr.clone()),
            pod_cidrs: Some(vec![node.pod_cidr.clone()]),
            taints: (!taints.is_empty()).then_some(taints),
            ..Default::default()
        }),
        status: Some(status(ctx, node, &Faults::default(), None)),
    }
}

/// Register the node (or adopt an existing Node of that name) and post its status.
pub async fn register(ctx: &Context, node: &SimNode) -> Result<Node, Error> {
    // Events (the node's own among them) wait for registrations, as for pod statuses.
    let _writing = ctx.recorder.busy.enter();
    let api: Api<Node> = Api::all(ctx.client.clone());
    let (existing, created) = match api.create(&PostParams::default(), &object(ctx, node)).await {
        Ok(n) => (n, true),
        Err(kube::Error::Api(s)) if s.code == 409 => (
            api.get(&node.name)
                .await
                .map_err(|source| Error::Register {
                    node: node.name.clone(),
                    source,
                })?,
            false,
        ),
        Err(source) => {
            return Err(Error::Register {
                node: node.name.clone(),
                source,
            });
        }
    };
    node.faults.send_replace(Faults::from_annotations(
        existing.metadata.annotations.as_ref(),
    ));
    node_events::starting(ctx, &node.name);
    // A new Node carries its first status already; a stopped node's kubelet is down and
    // posts nothing until started.
    let registered = if created || node.stopped() {
        if created && let Some(first) = &existing.status {
            node_events::status_changed(ctx, &node.name, None, first);
        }
        existing
    } else {
        post_status(ctx, node, existing.status.as_ref()).await?
    };
    node_events::allocatable_enforced(ctx, &node.name);
    Ok(registered)
}

async fn post_status(
    ctx: &Context,
    node: &SimNode,
    previous: Option<&NodeStatus>,
) -> Result<Node, Error> {
    let api: Api<Node> = Api::all(ctx.client.clone());
    let faults = node.faults.borrow().clone();
    let posted = status(ctx, node, &faults, previous);
    let body = json!({ "status": &posted });
    let written = api
        .patch_status(&node.name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map_err(|source| Error::PostStatus {
            node: node.name.clone(),
            source,
        })?;
    node_events::status_changed(ctx, &node.name, previous, &posted);
    Ok(written)
}

fn lease(ctx: &Context, node: &SimNode, uid: Option<String>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node.name.clone()),
            namespace: Some(LEASE_NAMESPACE.into()),
            owner_references: uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "Node".into(),
                    name: node.name.clone(),
                    uid,
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node.name.clone()),
            lease_duration_seconds: Some(ctx.config.lease_duration_seconds),
            renew_time: Some(MicroTime(jiff::Timestamp::now())),
            ..Default::default()
        }),
    }
}

/// Renew the node's Lease: update the one we hold, as upstream's lease controller does
/// (its uid makes the PUT conditional: a Lease deleted meanwhile is refused with 409, not
/// recreated, though a PUT may create a Lease); create it when missing — owned by the
/// Node, and not at all while the Node does not exist (upstream's `setNodeOwnerFunc`
/// fails, so the lease is not created: a kubelet whose Node was deleted does not
/// re-register, and its lease stays gone); after a conflict, read it again. `registered`: the uid of the Node just registered, when
/// the lease is first created (one request instead of three).
async fn renew(
    ctx: &Context,
    node: &SimNode,
    held: &mut Option<Lease>,
    registered: &mut Option<String>,
) -> Result<(), Error> {
    let api: Api<Lease> = Api::namespaced(ctx.client.clone(), LEASE_NAMESPACE);
    let err = |source| Error::RenewLease {
        node: node.name.clone(),
        source,
    };
    if held.is_none() {
        let existing = match registered.take() {
            Some(uid) => match api
                .create(&PostParams::default(), &lease(ctx, node, Some(uid)))
                .await
            {
                Ok(created) => {
                    *held = Some(created);
                    ctx.lease_writes
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(());
                }
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    api.get_opt(&node.name).await.map_err(err)?
                }
                Err(e) => return Err(err(e)),
            },
            None => api.get_opt(&node.name).await.map_err(err)?,
        };
        match existing {
            Some(existing) => *held = Some(existing),
            None => {
                let owner = Api::<Node>::all(ctx.client.clone())
                    .get_opt(&node.name)
                    .await
                    .map_err(err)?
                    .and_then(|n| n.metadata.uid);
                let Some(uid) = owner else { return Ok(()) };
                let created = match api
                    .create(&PostParams::default(), &lease(ctx, node, Some(uid)))
                    .await
                {
                    Err(kube::Error::Api(s)) if s.code == 409 => api.get(&node.name).await,
                    other => other,
                };
                *held = Some(created.map_err(err)?);
                ctx.lease_writes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Ok(());
            }
        }
    }
    let Some(mut lease) = held.take() else {
        return Ok(());
    };
    if let Some(spec) = lease.spec.as_mut() {
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        spec.holder_identity = Some(node.name.clone());
    }
    let result = api
        .replace(&node.name, &PostParams::default(), &lease)
        .await;
    match result {
        Ok(lease) => {
            *held = Some(lease);
            ctx.lease_writes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(err(e)),
    }
}

/// A node's heartbeats, until the process stops.
pub async fn heartbeat(ctx: Arc<Context>, node: Arc<SimNode>, registered: Node) {
    let mut last_status = registered.status.clone();
    let mut owner = registered.metadata.uid.clone();
    let mut held: Option<Lease> = None;
    let mut faults_rx = node.faults.subscribe();
    let mut faults = faults_rx.borrow_and_update().clone();
    let mut last_post = tokio::time::Instant::now();
    // Spread renewals over the interval.
    let offset = ctx
        .config
        .lease_renew_interval
        .mul_f64((crate::sim::hex_digest(&node.name).as_bytes()[0] as f64) / 256.0);
    let mut ticks = tokio::time::interval_at(
        tokio::time::Instant::now() + offset,
        ctx.config.lease_renew_interval,
    );
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    if !faults.stopped
        && let Err(e) = renew(&ctx, &node, &mut held, &mut owner).await
    {
        tracing::warn!(error = %e, "lease");
    }
    loop {
        let post;
        let mut rebooted = false;
        tokio::select! {
            _ = ticks.tick() => {
                if faults.stopped {
                    continue;
                }
                if let Err(e) = renew(&ctx, &node, &mut held, &mut owner).await {
                    tracing::warn!(error = %e, "lease");
                }
                post = last_post.elapsed() >= ctx.config.status_report_interval;
            }
            changed = faults_rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let new = faults_rx.borrow_and_update().clone();
                rebooted = new.restart.is_some() && new.restart != faults.restart;
                if rebooted {
                    tracing::info!(node = %node.name, "node restarts");
                    node.restarts.send_modify(|n| *n += 1);
                    // Its kubelet starts again; the new boot id says `Rebooted`.
                    node_events::starting(&ctx, &node.name);
                }
                let resumed = faults.stopped && !new.stopped;
                post = !new.stopped && (resumed || new != faults);
                faults = new;
                if resumed {
                    held = None;
                    let _ = renew(&ctx, &node, &mut held, &mut owner).await;
                    // Its status as the API has it now (the node controller may have
                    // marked it Unknown meanwhile), as upstream's kubelet reads its Node
                    // before it sets the status: what changes is told as events.
                    if let Ok(current) = Api::<Node>::all(ctx.client.clone()).get(&node.name).await {
                        last_status = current.status;
                    }
                }
            }
        }
        if post {
            match post_status(&ctx, &node, last_status.as_ref()).await {
                Ok(n) => {
                    last_status = n.status;
                    last_post = tokio::time::Instant::now();
                }
                Err(e) => tracing::warn!(error = %e, "node status"),
            }
        }
        if rebooted {
            node_events::allocatable_enforced(&ctx, &node.name);
        }
    }
}

/// Watch every Node; pass the fault annotations of ours to their heartbeats, and keep
/// their labels and taints for admission.
/// `listed` is told once the Nodes that exist were all seen (so that no pod worker
/// writes for a node stopped before this process started).
pub async fn watch_faults(ctx: Arc<Context>, listed: tokio::sync::oneshot::Sender<()>) {
    let api: Api<Node> = Api::all(ctx.client.clone());
    let stream = watcher(api, watcher::Config::default()).default_backoff();
    futures::pin_mut!(stream);
    let mut listed = Some(listed);
    while let Some(event) = stream.next().await {
        let nodes: Vec<Node> = match event {
            Ok(watcher::Event::Apply(n)) | Ok(watcher::Event::InitApply(n)) => vec![n],
            Ok(watcher::Event::InitDone) => {
                if let Some(listed) = listed.take() {
                    let _ = listed.send(());
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!(error = %e, "node watch");
                continue;
            }
        };
        for n in nodes {
            let Some(sim) = n
                .metadata
                .name
                .as_deref()
                .and_then(|name| ctx.nodes.get(name))
            else {
                continue;
            };
            let taints = n
                .spec
                .as_ref()
                .and_then(|s| s.taints.clone())
                .unwrap_or_default();
            *sim.observed.lock() = Some((n.metadata.labels.clone().unwrap_or_default(), taints));
            let unschedulable = n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
            if sim.unschedulable.swap(unschedulable, Ordering::Relaxed) != unschedulable {
                node_events::schedulable_changed(&ctx, &sim.name, unschedulable);
            }
            let faults = Faults::from_annotations(n.metadata.annotations.as_ref());
            sim.faults.send_if_modified(|f| {
                if *f == faults {
                    false
                } else {
                    *f = faults;
                    true
                }
            });
        }
    }
}

/// Build the nodes of every pool: names `<pool>-<i>`, zones round-robin, one /24 each.
pub fn build(config: &crate::Config) -> Result<Vec<SimNode>, crate::config::Error> {
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for pool in &config.pools {
        for i in 0..pool.count {
            let name = format!("{}-{i}", pool.name);
            if !names.insert(name.clone()) {
                continue;
            }
            let zone = pool
                .zones
                .get(i % pool.zones.len().max(1))
                .cloned()
                .unwrap_or_default();
            let (net, cidr) = crate::config::node_cidr(&config.pod_cidr, out.len())?;
            out.push(SimNode::new(name, pool.clone(), zone, net, cidr));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_from_annotations() {
        let a = BTreeMap::from([
            (STOPPED.to_string(), "true".to_string()),
            (PRESSURE.to_string(), "memory, pid".to_string()),
        ]);
        let f = Faults::from_annotations(Some(&a));
        assert!(f.stopped && f.memory_pressure && f.pid_pressure && !f.disk_pressure);
        assert_eq!(Faults::from_annotations(None), Faults::default());
    }

    #[test]
    fn pod_ips_come_from_the_node_cidr() {
        let node = SimNode::new(
            "n".into(),
            Pool::default_nodes(1),
            "z".into(),
            Ipv4Addr::new(10, 244, 3, 0),
            "10.244.3.0/24".into(),
        );
        assert_eq!(node.allocate_ip("a").as_deref(), Some("10.244.3.2"));
        assert_eq!(node.allocate_ip("b").as_deref(), Some("10.244.3.3"));
        assert_eq!(node.allocate_ip("a").as_deref(), Some("10.244.3.2"));
        node.release_ip("a");
        assert_eq!(node.allocate_ip("c").as_deref(), Some("10.244.3.2"));
    }
}
