//! The garbage collector: deletes objects whose owners are gone, and carries out
//! foreground and orphan deletion, as upstream's `GarbageCollector`.
//!
//! # Expected flow
//!
//! It watches every resource discovery lists (but events) and keeps the ownerReference
//! graph ([`graph::Graph`]). A change to an object queues it, and its owners or
//! dependents where the change matters to them. A worker takes one uid at a time and:
//!
//! 1. observes the node and, for an object with owners, each owner's state — from the
//!    graph, or, when the graph has not seen the owner, from a live GET (the graph lags
//!    the API: a ReplicaSet's new pod may be seen before the ReplicaSet); when an owner
//!    is not solid it reads the object itself again and decides from that (its node may
//!    predate an update that dropped the reference);
//! 2. [`graph::plan`]s the steps in pure code;
//! 3. acts: deletes (with a uid precondition, so a recreated object of the same name is
//!    safe), drops ownerReferences or a finalizer with a resourceVersion precondition.
//!
//! Before it lets an owner go (removes its `orphan` or `foregroundDeletion` finalizer)
//! it lists the owner's possible dependents live: each watch lags the API on its own, so
//! a pod created just before `kubectl delete rs --cascade=orphan` may not be in the graph
//! yet — orphaning without it would leave it dangling, to be deleted. Upstream's informers
//! share that race; here what the live list finds is orphaned too, or (foreground) waited
//! for.
//!
//! # Propagation
//!
//! - **Background** (the default): the owner goes at once; its dependents then dangle and
//!   are deleted.
//! - **Foreground**: the API server marks the owner with the `foregroundDeletion`
//!   finalizer; the collector decides about each dependent — deleted, unless another owner
//!   still holds it, in which case only the reference goes — and removes the finalizer
//!   once no dependent with `blockOwnerDeletion: true` is left.
//! - **Orphan**: the API server adds the `orphan` finalizer; the collector removes the
//!   owner's references from its dependents, then the finalizer.
//!
//! # Caveats
//!
//! Discovery runs at start and again every 30 s, so a new custom resource is collected
//! from then on. Ownership cycles under foreground deletion are not broken as upstream's
//! "unblock" patch does.

pub mod graph;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use graph::{Graph, Node, Owner, Policy, Step, Target};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::mpsc;

/// How often discovery is run again for new resources.
const REDISCOVER: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("discovery failed: {0}")]
    Discovery(#[source] kube::Error),
    #[error("getting {kind} {name} failed: {source}")]
    Get {
        kind: String,
        name: String,
        source: kube::Error,
    },
    #[error("listing {plural} for dependents failed: {source}")]
    ListDependents { plural: String, source: kube::Error },
    #[error("owner kind {0} is not served")]
    UnknownOwnerKind(String),
    #[error("deleting {kind} {name} failed: {source}")]
    Delete {
        kind: String,
        name: String,
        source: kube::Error,
    },
    #[error("updating {kind} {name} failed: {source}")]
    Patch {
        kind: String,
        name: String,
        source: kube::Error,
    },
}

/// State shared by the watchers and the worker.
struct Shared {
    client: Client,
    graph: Mutex<Graph>,
    queued: Mutex<HashSet<String>>,
    queue: mpsc::UnboundedSender<String>,
    discovery: tokio::sync::RwLock<Option<Discovery>>,
    /// Every resource with a watch, and whether it is namespaced.
    watched: Mutex<Vec<(ApiResource, bool)>>,
}

impl Shared {
    fn enqueue(&self, uids: impl IntoIterator<Item = String>) {
        let mut queued = self
            .queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for uid in uids {
            if queued.insert(uid.clone()) {
                let _ = self.queue.send(uid);
            }
        }
    }

    fn enqueue_after(self: &Arc<Self>, uid: String, delay: Duration) {
        let shared = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            shared.enqueue([uid]);
        });
    }

    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Run the collector until the task is dropped.
pub async fn run(client: Client) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        client,
        graph: Mutex::new(Graph::default()),
        queued: Mutex::new(HashSet::new()),
        queue: tx,
        discovery: tokio::sync::RwLock::new(None),
        watched: Mutex::new(Vec::new()),
    });
    tokio::spawn(watch_resources(shared.clone()));
    while let Some(uid) = rx.recv().await {
        shared
            .queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&uid);
        if let Err(err) = process(&shared, &uid).await {
            tracing::warn!(error = %err, uid, "garbage collection failed; retrying");
            shared.enqueue_after(uid, Duration::from_secs(1));
        }
    }
}

/// Discover resources and keep one watch per resource; rediscover periodically.
async fn watch_resources(shared: Arc<Shared>) {
    let mut watched: HashSet<(String, String)> = HashSet::new();
    loop {
        match Discovery::new(shared.client.clone()).run().await {
            Ok(discovery) => {
                for group in discovery.groups() {
                    for (resource, caps) in group.recommended_resources() {
                        let ignored = resource.plural == "events"
                            && matches!(resource.group.as_str(), "" | "events.k8s.io");
                        let usable = [verbs::LIST, verbs::WATCH, verbs::DELETE]
                            .iter()
                            .all(|v| caps.supports_operation(v));
                        if ignored
                            || !usable
                            || !watched.insert((resource.group.clone(), resource.plural.clone()))
                        {
                            continue;
                        }
                        let namespaced = caps.scope == Scope::Namespaced;
                        shared
                            .watched
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push((resource.clone(), namespaced));
                        tokio::spawn(watch_one(shared.clone(), resource, namespaced));
                    }
                }
                *shared.discovery.write().await = Some(discovery);
            }
            Err(err) => tracing::warn!(error = %err, "garbage collector discovery failed"),
        }
        tokio::time::sleep(REDISCOVER).await;
    }
}

/// Feed one resource's watch into the graph.
async fn watch_one(shared: Arc<Shared>, resource: ApiResource, namespaced: bool) {
    let api: Api<DynamicObject> = Api::all_with(shared.client.clone(), &resource);
    let mut stream = crate::cache::watch(api, watcher::Config::default()).boxed();
    let mut relisted: HashSet<String> = HashSet::new();
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::debug!(error = %err, resource = resource.plural, "garbage collector watch error");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let affected = match event {
            watcher::Event::Apply(obj) => {
                shared.graph().upsert(node_of(&resource, namespaced, &obj))
            }
            watcher::Event::Delete(obj) => shared.graph().remove(&obj.uid().unwrap_or_default()),
            watcher::Event::Init => {
                relisted.clear();
                Vec::new()
            }
            watcher::Event::InitApply(obj) => {
                relisted.insert(obj.uid().unwrap_or_default());
                shared.graph().upsert(node_of(&resource, namespaced, &obj))
            }
            // Objects the relist no longer shows were deleted while we were away.
            watcher::Event::InitDone => {
                let mut graph = shared.graph();
                let stale: Vec<String> = graph
                    .uids_of(&resource)
                    .into_iter()
                    .filter(|u| !relisted.contains(u))
                    .collect();
                stale.iter().flat_map(|uid| graph.remove(uid)).collect()
            }
        };
        shared.enqueue(affected);
    }
}

fn node_of(resource: &ApiResource, namespaced: bool, obj: &DynamicObject) -> Node {
    Node {
        target: Target {
            resource: resource.clone(),
            namespace: if namespaced { obj.namespace() } else { None },
            name: obj.name_any(),
            uid: obj.uid().unwrap_or_default(),
        },
        owners: obj.owner_references().to_vec(),
        deleting: obj.metadata.deletion_timestamp.is_some(),
        finalizers: obj.finalizers().to_vec(),
    }
}

/// Observe, plan and act for one object.
#[tracing::instrument(skip(shared))]
async fn process(shared: &Arc<Shared>, uid: &str) -> Result<(), Error> {
    let Some(mut node) = shared.graph().get(uid).cloned() else {
        return Ok(());
    };
    let mut owners = observe_owners(shared, &node).await?;
    // The graph's node may be older than the object: each watch lags on its own, so an
    // owner's DELETED event can come before its dependent's update that dropped the
    // reference (orphaning). Before acting on a reference, decide from the latest object,
    // as upstream's `attemptToDeleteItem` does.
    if owners.iter().any(|o| *o != Owner::Solid) {
        let Some(latest) = latest(shared, &node).await? else {
            // Gone, or another object has the name: its watch event will say.
            return Ok(());
        };
        if latest.owners != node.owners || latest.deleting != node.deleting {
            node = latest;
            owners = observe_owners(shared, &node).await?;
        }
    }
    // The plan, and when it lets the owner go the dependents it knew of, from one look at
    // the graph: a dependent the graph gains meanwhile is one the plan did not count.
    let (mut steps, released) = {
        let graph = shared.graph();
        let steps = graph::plan(&graph, &node, &owners);
        let released = releases_owner(&steps, uid).map(|finalizer| {
            let planned: HashSet<String> = graph
                .dependents(uid)
                .into_iter()
                .map(|d| d.target.uid.clone())
                .collect();
            (finalizer, planned)
        });
        (steps, released)
    };
    if let Some((finalizer, planned)) = released {
        let unseen = unseen_dependents(shared, &node, &planned).await?;
        if finalizer == graph::ORPHAN {
            let drops = unseen
                .into_iter()
                .map(|(target, _)| Step::RemoveOwners(target, vec![uid.to_string()]));
            steps.splice(0..0, drops);
        } else if unseen.iter().any(|(_, blocking)| *blocking) {
            // Their watch will bring them; the owner is decided about again then.
            tracing::debug!(
                uid,
                "dependents not yet seen by the graph; waiting for them"
            );
            shared.enqueue_after(uid.to_string(), Duration::from_millis(200));
            return Ok(());
        }
    }
    for step in steps {
        act(shared, step).await?;
    }
    Ok(())
}

/// The finalizer `steps` remove from object `uid` to let it go, if any.
fn releases_owner(steps: &[Step], uid: &str) -> Option<&'static str> {
    steps.iter().find_map(|step| match step {
        Step::RemoveFinalizer(target, finalizer) if target.uid == uid => Some(*finalizer),
        _ => None,
    })
}

/// Dependents of `owner` the API has that the plan did not know of (not in `planned`),
/// each with whether it blocks the owner's deletion; listed live from every watched
/// resource where a dependent can be (a namespaced owner's dependents are in its
/// namespace).
async fn unseen_dependents(
    shared: &Shared,
    owner: &Node,
    planned: &HashSet<String>,
) -> Result<Vec<(Target, bool)>, Error> {
    let watched = shared
        .watched
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let mut unseen = Vec::new();
    for (resource, namespaced) in watched {
        let api: Api<DynamicObject> = match (&owner.target.namespace, namespaced) {
            (Some(_), false) => continue,
            (Some(ns), true) => Api::namespaced_with(shared.client.clone(), ns, &resource),
            (None, _) => Api::all_with(shared.client.clone(), &resource),
        };
        let list = api
            .list_metadata(&kube::api::ListParams::default())
            .await
            .map_err(|source| Error::ListDependents {
                plural: resource.plural.clone(),
                source,
            })?;
        for obj in list.items {
            let Some(reference) = obj
                .owner_references()
                .iter()
                .find(|o| o.uid == owner.target.uid)
            else {
                continue;
            };
            let uid = obj.uid().unwrap_or_default();
            if planned.contains(&uid) {
                continue;
            }
            let target = Target {
                resource: resource.clone(),
                namespace: if namespaced { obj.namespace() } else { None },
                name: obj.name_any(),
                uid,
            };
            unseen.push((target, reference.block_owner_deletion == Some(true)));
        }
    }
    Ok(unseen)
}

/// The state of each owner of `node`, in order; none for an object being deleted (its
/// owners no longer matter).
async fn observe_owners(shared: &Shared, node: &Node) -> Result<Vec<Owner>, Error> {
    let mut owners = Vec::with_capacity(node.owners.len());
    if !node.deleting {
        for owner in &node.owners {
            owners.push(observe_owner(shared, node, owner).await?);
        }
    }
    Ok(owners)
}

/// `node` as the API has it now; `None` when it is gone or its name is another object's.
async fn latest(shared: &Shared, node: &Node) -> Result<Option<Node>, Error> {
    let target = &node.target;
    let found = api_for(&shared.client, target)
        .get_opt(&target.name)
        .await
        .map_err(|source| Error::Get {
            kind: target.resource.kind.clone(),
            name: target.name.clone(),
            source,
        })?;
    Ok(found
        .filter(|obj| obj.uid().as_deref() == Some(target.uid.as_str()))
        .map(|obj| node_of(&target.resource, target.namespace.is_some(), &obj)))
}

/// The state of one owner: from the graph when it has seen it, else from the API.
async fn observe_owner(
    shared: &Shared,
    node: &Node,
    owner: &OwnerReference,
) -> Result<Owner, Error> {
    let seen = shared
        .graph()
        .get(&owner.uid)
        .map(Node::deleting_dependents);
    if let Some(waiting) = seen {
        return Ok(if waiting {
            Owner::WaitingForDependents
        } else {
            Owner::Solid
        });
    }
    let resource = resolve(shared, &owner.api_version, &owner.kind).await?;
    let api: Api<DynamicObject> = match (&resource.1, &node.target.namespace) {
        (Scope::Namespaced, Some(ns)) => {
            Api::namespaced_with(shared.client.clone(), ns, &resource.0)
        }
        // A namespaced owner of a cluster-scoped object cannot exist.
        (Scope::Namespaced, None) => return Ok(Owner::Dangling),
        (Scope::Cluster, _) => Api::all_with(shared.client.clone(), &resource.0),
    };
    let found = api
        .get_opt(&owner.name)
        .await
        .map_err(|source| Error::Get {
            kind: owner.kind.clone(),
            name: owner.name.clone(),
            source,
        })?;
    Ok(match found {
        Some(obj) if obj.uid().as_deref() == Some(owner.uid.as_str()) => {
            let waiting = obj.metadata.deletion_timestamp.is_some()
                && obj.finalizers().iter().any(|f| f == graph::FOREGROUND);
            if waiting {
                Owner::WaitingForDependents
            } else {
                Owner::Solid
            }
        }
        _ => Owner::Dangling,
    })
}

/// The resource and scope serving `apiVersion`/`kind`, rediscovering once if unknown.
async fn resolve(
    shared: &Shared,
    api_version: &str,
    kind: &str,
) -> Result<(ApiResource, Scope), Error> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    if let Some(d) = shared.discovery.read().await.as_ref()
        && let Some((ar, caps)) = d.resolve_gvk(&gvk)
    {
        return Ok((ar, caps.scope));
    }
    let discovery = Discovery::new(shared.client.clone())
        .run()
        .await
        .map_err(Error::Discovery)?;
    let found = discovery
        .resolve_gvk(&gvk)
        .map(|(ar, caps)| (ar, caps.scope));
    *shared.discovery.write().await = Some(discovery);
    found.ok_or_else(|| Error::UnknownOwnerKind(format!("{api_version}/{kind}")))
}

fn api_for(client: &Client, target: &Target) -> Api<DynamicObject> {
    match &target.namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &target.resource),
        None => Api::all_with(client.clone(), &target.resource),
    }
}

async fn act(shared: &Arc<Shared>, step: Step) -> Result<(), Error> {
    let client = &shared.client;
    match step {
        Step::Wait => Ok(()),
        Step::Attempt(uids) => {
            shared.enqueue(uids);
            Ok(())
        }
        Step::Delete(target, policy) => {
            let params = DeleteParams {
                propagation_policy: Some(match policy {
                    Policy::Background => PropagationPolicy::Background,
                    Policy::Foreground => PropagationPolicy::Foreground,
                    Policy::Orphan => PropagationPolicy::Orphan,
                }),
                preconditions: Some(Preconditions {
                    uid: Some(target.uid.clone()),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            tracing::info!(kind = target.resource.kind, name = target.name, namespace = ?target.namespace, ?policy, "deleting object");
            match api_for(client, &target).delete(&target.name, &params).await {
                Ok(_) => Ok(()),
                // Gone already, or a new object now has the name.
                Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
                Err(source) => Err(Error::Delete {
                    kind: target.resource.kind,
                    name: target.name,
                    source,
                }),
            }
        }
        Step::RemoveOwners(target, uids) => {
            let api = api_for(client, &target);
            let patch_error = |source| Error::Patch {
                kind: target.resource.kind.clone(),
                name: target.name.clone(),
                source,
            };
            let Some(current) = api.get_opt(&target.name).await.map_err(patch_error)? else {
                return Ok(());
            };
            if current.uid().as_deref() != Some(target.uid.as_str()) {
                return Ok(());
            }
            let kept: Vec<&OwnerReference> = current
                .owner_references()
                .iter()
                .filter(|o| !uids.contains(&o.uid))
                .collect();
            if kept.len() == current.owner_references().len() {
                return Ok(());
            }
            let patch = json!({"metadata": {"ownerReferences": kept, "resourceVersion": current.resource_version()}});
            tracing::info!(kind = target.resource.kind, name = target.name, removed = ?uids, "removing owner references");
            match api
                .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(source) => Err(patch_error(source)),
            }
        }
        Step::RemoveFinalizer(target, finalizer) => {
            let api = api_for(client, &target);
            let patch_error = |source| Error::Patch {
                kind: target.resource.kind.clone(),
                name: target.name.clone(),
                source,
            };
            let Some(current) = api.get_opt(&target.name).await.map_err(patch_error)? else {
                return Ok(());
            };
            if current.uid().as_deref() != Some(target.uid.as_str())
                || !current.finalizers().iter().any(|f| f == finalizer)
            {
                return Ok(());
            }
            let kept: Vec<&String> = current
                .finalizers()
                .iter()
                .filter(|f| *f != finalizer)
                .collect();
            let patch = json!({"metadata": {"finalizers": kept, "resourceVersion": current.resource_version()}});
            tracing::info!(
                kind = target.resource.kind,
                name = target.name,
                finalizer,
                "removing finalizer"
            );
            match api
                .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                Err(source) => Err(patch_error(source)),
            }
        }
    }
}
