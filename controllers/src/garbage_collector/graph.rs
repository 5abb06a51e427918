//! The ownerReference graph and the pure decisions taken on it.
//!
//! As upstream's `GraphBuilder` (`pkg/controller/garbagecollector/graph_builder.go`): one
//! node per object seen in any watch, keyed by uid, with its owners and the reverse edges
//! to its dependents. What to do with one object is decided by [`plan`] from the node and
//! the observed state of its owners, as `attemptToDeleteItem`, `orphanDependents` and
//! `processDeletingDependentsItem` decide.

use std::collections::{HashMap, HashSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::core::ApiResource;

/// The finalizer that makes the garbage collector orphan an object's dependents first.
pub const ORPHAN: &str = "orphan";
/// The finalizer that makes the garbage collector delete an object's dependents first.
pub const FOREGROUND: &str = "foregroundDeletion";

/// Which object a node is.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub resource: ApiResource,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

/// What the graph keeps of one object.
#[derive(Debug, Clone)]
pub struct Node {
    pub target: Target,
    pub owners: Vec<OwnerReference>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl Node {
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Deleting with `foregroundDeletion`: waiting for its dependents to go.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FOREGROUND)
    }
}

/// The ownerReference graph.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// The dependents of `uid` the graph has seen.
    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d))
            .collect()
    }

    /// Dependents that block `uid`'s foreground deletion: `blockOwnerDeletion: true`
    /// references to it.
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents(uid)
            .into_iter()
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion == Some(true))
            })
            .collect()
    }

    /// Add or replace a node; returns the uids whose decisions may have changed.
    pub fn upsert(&mut self, node: Node) -> Vec<String> {
        let uid = node.target.uid.clone();
        let mut affected = vec![uid.clone()];
        let old_owners: Vec<String> = self
            .nodes
            .get(&uid)
            .map(|n| n.owners.iter().map(|o| o.uid.clone()).collect())
            .unwrap_or_default();
        let new_owners: Vec<String> = node.owners.iter().map(|o| o.uid.clone()).collect();
        for owner in old_owners.iter().filter(|o| !new_owners.contains(o)) {
            if let Some(set) = self.dependents.get_mut(owner) {
                set.remove(&uid);
            }
            // An owner waiting for its dependents may now be free to go.
            affected.push(owner.clone());
        }
        for owner in &new_owners {
            self.dependents
                .entry(owner.clone())
                .or_default()
                .insert(uid.clone());
        }
        // A dependent that just started deleting, or changed its block, changes what its
        // foreground owners wait for.
        if node.deleting {
            affected.extend(new_owners);
        }
        self.nodes.insert(uid, node);
        affected
    }

    /// Remove a node; returns the uids whose decisions may have changed: its dependents
    /// (their owner is gone) and its owners (a dependent is gone).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let mut affected: Vec<String> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        if let Some(node) = self.nodes.remove(uid) {
            for owner in &node.owners {
                if let Some(set) = self.dependents.get_mut(&owner.uid) {
                    set.remove(uid);
                    if set.is_empty() && !self.nodes.contains_key(&owner.uid) {
                        self.dependents.remove(&owner.uid);
                    }
                }
                affected.push(owner.uid.clone());
            }
        }
        if self.dependents.get(uid).is_some_and(HashSet::is_empty) {
            self.dependents.remove(uid);
        }
        affected
    }

    /// Uids of the nodes of one resource (for dropping what a relist no longer shows).
    pub fn uids_of(&self, resource: &ApiResource) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, n)| {
                n.target.resource.group == resource.group
                    && n.target.resource.plural == resource.plural
            })
            .map(|(uid, _)| uid.clone())
            .collect()
    }
}

/// What was observed of one owner a dependent names.
#[derive(Debug, Clone, PartialEq)]
pub enum Owner {
    /// It exists and is not waiting for its dependents.
    Solid,
    /// It is gone (or its uid is another object's): the reference dangles.
    Dangling,
    /// It is being deleted in the foreground.
    WaitingForDependents,
}

/// Propagation policy of a delete the collector issues.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    Background,
    Foreground,
    Orphan,
}

/// One write the collector makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Delete `target` with this policy.
    Delete(Target, Policy),
    /// Drop the references to these owner uids from `target`.
    RemoveOwners(Target, Vec<String>),
    /// Remove a finalizer from `target`.
    RemoveFinalizer(Target, &'static str),
    /// Decide about these dependents (by uid) in turn.
    Attempt(Vec<String>),
    /// Nothing to do now; come back when something changes.
    Wait,
}

/// What to do about `node`, given its dependents and (for an object not being deleted)
/// the state of each of its owners, in `node.owners` order.
///
/// - Being deleted with `orphan`: drop its dependents' references to it, then the finalizer.
/// - Being deleted with `foregroundDeletion`: have each dependent decided about (it is
///   deleted unless another owner holds it); once none blocks it, drop the finalizer (the
///   API server then removes the owner).
/// - Otherwise, with owners: if some owner is solid, only drop references to dangling or
///   foreground-deleting owners; if none is solid, delete the object — in the foreground
///   when an owner waits for it and it has dependents of its own, else by the policy its
///   own finalizers ask for.
pub fn plan(graph: &Graph, node: &Node, owners: &[Owner]) -> Vec<Step> {
    let uid = &node.target.uid;
    if node.deleting {
        if node.has_finalizer(ORPHAN) {
            let mut steps: Vec<Step> = graph
                .dependents(uid)
                .into_iter()
                .map(|d| Step::RemoveOwners(d.target.clone(), vec![uid.clone()]))
                .collect();
            steps.push(Step::RemoveFinalizer(node.target.clone(), ORPHAN));
            return steps;
        }
        if node.has_finalizer(FOREGROUND) {
            // Each dependent decides for itself, as upstream's `attemptToDeleteItem`: one
            // that another owner still holds only loses its reference to this one.
            let pending: Vec<String> = graph
                .dependents(uid)
                .into_iter()
                .filter(|d| !d.deleting)
                .map(|d| d.target.uid.clone())
                .collect();
            let mut steps = Vec::new();
            if !pending.is_empty() {
                steps.push(Step::Attempt(pending));
            }
            // Non-blocking dependents are handled too, but not waited for.
            if graph.blocking_dependents(uid).is_empty() {
                steps.push(Step::RemoveFinalizer(node.target.clone(), FOREGROUND));
            }
            if steps.is_empty() {
                steps.push(Step::Wait);
            }
            return steps;
        }
        return vec![Step::Wait];
    }
    if node.owners.is_empty() {
        return vec![Step::Wait];
    }
    let refs_in = |state: Owner| -> Vec<String> {
        node.owners
            .iter()
            .zip(owners)
            .filter(|(_, s)| **s == state)
            .map(|(o, _)| o.uid.clone())
            .collect()
    };
    let (dangling, waiting) = (
        refs_in(Owner::Dangling),
        refs_in(Owner::WaitingForDependents),
    );
    if owners.contains(&Owner::Solid) {
        let drop: Vec<String> = dangling.into_iter().chain(waiting).collect();
        if drop.is_empty() {
            return vec![Step::Wait];
        }
        return vec![Step::RemoveOwners(node.target.clone(), drop)];
    }
    let policy = if !waiting.is_empty() && !graph.dependents(uid).is_empty() {
        Policy::Foreground
    } else if node.has_finalizer(ORPHAN) {
        Policy::Orphan
    } else if node.has_finalizer(FOREGROUND) {
        Policy::Foreground
    } else {
        Policy::Background
    };
    vec![Step::Delete(node.target.clone(), policy)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(uid: &str, owners: &[(&str, bool)]) -> Node {
        let resource = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Pod".into(),
            plural: "pods".into(),
        };
        Node {
            target: Target {
                resource,
                namespace: Some("default".into()),
                name: uid.into(),
                uid: uid.into(),
            },
            owners: owners
                .iter()
                .map(|(o, block)| OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: o.to_string(),
                    uid: o.to_string(),
                    block_owner_deletion: Some(*block),
                    controller: Some(true),
                })
                .collect(),
            deleting: false,
            finalizers: vec![],
        }
    }

    fn deleting(mut n: Node, finalizer: &str) -> Node {
        n.deleting = true;
        n.finalizers = vec![finalizer.to_string()];
        n
    }

    #[test]
    fn dangling_dependents_are_deleted_in_the_background() {
        let g = Graph::default();
        let pod = node("p1", &[("rs", true)]);
        assert_eq!(
            plan(&g, &pod, &[Owner::Dangling]),
            vec![Step::Delete(pod.target.clone(), Policy::Background)]
        );
        assert_eq!(plan(&g, &pod, &[Owner::Solid]), vec![Step::Wait]);
    }

    #[test]
    fn a_solid_owner_keeps_the_dependent_and_dangling_references_are_dropped() {
        let g = Graph::default();
        let pod = node("p1", &[("rs1", true), ("rs2", false)]);
        assert_eq!(
            plan(&g, &pod, &[Owner::Solid, Owner::Dangling]),
            vec![Step::RemoveOwners(pod.target.clone(), vec!["rs2".into()])]
        );
        assert_eq!(
            plan(&g, &pod, &[Owner::WaitingForDependents, Owner::Solid]),
            vec![Step::RemoveOwners(pod.target.clone(), vec!["rs1".into()])]
        );
    }

    #[test]
    fn orphaning_drops_references_then_the_finalizer() {
        let mut g = Graph::default();
        let rs = deleting(node("rs", &[]), ORPHAN);
        g.upsert(rs.clone());
        let pod = node("p1", &[("rs", true)]);
        g.upsert(pod.clone());
        assert_eq!(
            plan(&g, &rs, &[]),
            vec![
                Step::RemoveOwners(pod.target.clone(), vec!["rs".into()]),
                Step::RemoveFinalizer(rs.target.clone(), ORPHAN)
            ]
        );
    }

    #[test]
    fn foreground_waits_for_blocking_dependents_only() {
        let mut g = Graph::default();
        let rs = deleting(node("rs", &[]), FOREGROUND);
        g.upsert(rs.clone());
        let blocking = node("p1", &[("rs", true)]);
        let free = node("p2", &[("rs", false)]);
        g.upsert(blocking.clone());
        g.upsert(free.clone());
        let steps = plan(&g, &rs, &[]);
        assert_eq!(steps.len(), 1, "{steps:?}");
        let Step::Attempt(uids) = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(
            uids.iter().collect::<HashSet<_>>(),
            ["p1".to_string(), "p2".to_string()].iter().collect()
        );
        // A dependent of the waiting owner alone is deleted.
        assert_eq!(
            plan(&g, &blocking, &[Owner::WaitingForDependents]),
            vec![Step::Delete(blocking.target.clone(), Policy::Background)]
        );
        // The blocking dependent is deleting: nothing more to do but wait for it.
        let mut going = blocking.clone();
        going.deleting = true;
        g.upsert(going);
        g.remove("p2");
        assert_eq!(plan(&g, &rs, &[]), vec![Step::Wait]);
        // It is gone: the owner may go.
        let affected = g.remove("p1");
        assert!(affected.contains(&"rs".to_string()));
        assert_eq!(
            plan(&g, &rs, &[]),
            vec![Step::RemoveFinalizer(rs.target.clone(), FOREGROUND)]
        );
    }

    /// Upstream `classifyReferences`: a dependent that another (solid) owner still holds
    /// is not deleted with a foreground-deleting owner; it only loses that reference.
    #[test]
    fn a_dependent_with_another_owner_survives_foreground_deletion() {
        let mut g = Graph::default();
        let rs = deleting(node("rs", &[]), FOREGROUND);
        g.upsert(rs.clone());
        let shared = node("p1", &[("rs", true), ("other", false)]);
        g.upsert(shared.clone());
        assert_eq!(plan(&g, &rs, &[]), vec![Step::Attempt(vec!["p1".into()])]);
        assert_eq!(
            plan(&g, &shared, &[Owner::WaitingForDependents, Owner::Solid]),
            vec![Step::RemoveOwners(shared.target.clone(), vec!["rs".into()])]
        );
        g.upsert(node("p1", &[("other", false)]));
        assert_eq!(
            plan(&g, &rs, &[]),
            vec![Step::RemoveFinalizer(rs.target.clone(), FOREGROUND)]
        );
    }

    #[test]
    fn a_dependent_with_dependents_of_a_waiting_owner_goes_in_the_foreground() {
        let mut g = Graph::default();
        let rs = node("rs", &[("deploy", true)]);
        g.upsert(rs.clone());
        g.upsert(node("p1", &[("rs", true)]));
        assert_eq!(
            plan(&g, &rs, &[Owner::WaitingForDependents]),
            vec![Step::Delete(rs.target.clone(), Policy::Foreground)]
        );
        let orphaning = Node {
            finalizers: vec![ORPHAN.into()],
            ..node("x", &[("deploy", true)])
        };
        assert_eq!(
            plan(&g, &orphaning, &[Owner::Dangling]),
            vec![Step::Delete(orphaning.target.clone(), Policy::Orphan)]
        );
    }

    #[test]
    fn graph_edges_follow_owner_changes() {
        let mut g = Graph::default();
        g.upsert(node("p1", &[("rs", true)]));
        assert_eq!(g.dependents("rs").len(), 1);
        let affected = g.upsert(node("p1", &[]));
        assert!(affected.contains(&"rs".to_string()));
        assert!(g.dependents("rs").is_empty());
        g.upsert(node("p1", &[("rs", true)]));
        let affected = g.remove("rs");
        assert_eq!(affected, vec!["p1".to_string()]);
    }
}
