//! Cluster events and queueing hints: which changes to the cluster could make a pod that a
//! plugin rejected schedulable (upstream's `ClusterEvent`, `ActionType`,
//! `EnqueueExtensions` and `QueueingHint`).
//!
//! A pod no node fits remembers the plugins that rejected it. When a node or an assigned
//! pod changes, the queue asks only those plugins: each registers the events that can
//! resolve its rejections ([`crate::framework::Plugin::events_to_register`]) and answers,
//! for one concrete change, Queue or Skip ([`crate::framework::Plugin::queueing_hint`]).
//! A node label change thus retries a pod rejected by NodeAffinity, not one rejected only
//! for cpu.

use std::ops::BitOr;

use k8s_openapi::api::core::v1::{Node, Pod};

use super::node_info::is_gated;
use super::resource::pod_requests;

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventResource {
    Node,
    /// Any pod: what plugins register; it matches both kinds below.
    Pod,
    /// A pod bound to a node (incoming events only).
    AssignedPod,
    /// The pending pod itself (incoming events only).
    UnscheduledPod,
    /// Every resource (a plugin that does not say which events help it).
    WildCard,
}

/// What happened, as bits so a plugin registers several at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ActionType(u32);

impl ActionType {
    pub const NONE: ActionType = ActionType(0);
    pub const ADD: ActionType = ActionType(1);
    pub const DELETE: ActionType = ActionType(1 << 1);
    pub const UPDATE_NODE_ALLOCATABLE: ActionType = ActionType(1 << 2);
    pub const UPDATE_NODE_LABEL: ActionType = ActionType(1 << 3);
    /// Taints, or `spec.unschedulable`.
    pub const UPDATE_NODE_TAINT: ActionType = ActionType(1 << 4);
    pub const UPDATE_NODE_CONDITION: ActionType = ActionType(1 << 5);
    pub const UPDATE_NODE_ANNOTATION: ActionType = ActionType(1 << 6);
    pub const UPDATE_POD_LABEL: ActionType = ActionType(1 << 7);
    pub const UPDATE_POD_SCALE_DOWN: ActionType = ActionType(1 << 8);
    pub const UPDATE_POD_TOLERATION: ActionType = ActionType(1 << 9);
    pub const UPDATE_POD_SCHEDULING_GATES_ELIMINATED: ActionType = ActionType(1 << 10);
    /// A pod update none of the above describes.
    pub const UPDATE_POD_OTHER: ActionType = ActionType(1 << 11);
    pub const UPDATE: ActionType = ActionType(((1 << 12) - 1) & !3);
    pub const ALL: ActionType = ActionType((1 << 12) - 1);

    pub fn intersects(self, other: ActionType) -> bool {
        self.0 & other.0 != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for ActionType {
    type Output = ActionType;
    fn bitor(self, rhs: ActionType) -> ActionType {
        ActionType(self.0 | rhs.0)
    }
}

/// A kind of change to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterEvent {
    pub resource: EventResource,
    pub action: ActionType,
}

impl ClusterEvent {
    /// Every event: the default for a plugin that registers none.
    pub const ALL: ClusterEvent = ClusterEvent {
        resource: EventResource::WildCard,
        action: ActionType::ALL,
    };

    pub const fn new(resource: EventResource, action: ActionType) -> Self {
        ClusterEvent { resource, action }
    }

    /// Whether `incoming` is one of the events `self` (a registration) covers.
    pub fn matches(&self, incoming: &ClusterEvent) -> bool {
        let resource = self.resource == EventResource::WildCard
            || self.resource == incoming.resource
            || (self.resource == EventResource::Pod
                && matches!(
                    incoming.resource,
                    EventResource::AssignedPod | EventResource::UnscheduledPod
                ));
        resource && self.action.intersects(incoming.action)
    }
}

/// A plugin's answer for one change: may it make the pod schedulable?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueingHint {
    Queue,
    Skip,
}

impl QueueingHint {
    /// Queue when `may_help`, else Skip.
    pub fn when(may_help: bool) -> Self {
        if may_help {
            QueueingHint::Queue
        } else {
            QueueingHint::Skip
        }
    }
}

/// The objects of an event: before (`None` for an add) and after (`None` for a delete).
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    Node {
        old: Option<&'a Node>,
        new: Option<&'a Node>,
    },
    Pod {
        old: Option<&'a Pod>,
        new: Option<&'a Pod>,
    },
}

impl<'a> Change<'a> {
    /// The node before and after (`None`, `None` for a pod change).
    pub fn nodes(&self) -> (Option<&'a Node>, Option<&'a Node>) {
        match *self {
            Change::Node { old, new } => (old, new),
            Change::Pod { .. } => (None, None),
        }
    }
    /// The pod before and after (`None`, `None` for a node change).
    pub fn pods(&self) -> (Option<&'a Pod>, Option<&'a Pod>) {
        match *self {
            Change::Pod { old, new } => (old, new),
            Change::Node { .. } => (None, None),
        }
    }
}

/// Which scheduling-relevant parts of a node changed (upstream's
/// `NodeSchedulingPropertiesChange`); [`ActionType::NONE`] for a heartbeat.
pub fn node_update(old: &Node, new: &Node) -> ActionType {
    let mut action = ActionType::NONE;
    let spec = |n: &Node| n.spec.clone().unwrap_or_default();
    let (os, ns) = (spec(old), spec(new));
    let status = |n: &Node| {
        n.status
            .as_ref()
            .map(|s| (s.allocatable.clone(), conditions(n)))
    };
    if os.unschedulable.unwrap_or(false) != ns.unschedulable.unwrap_or(false)
        || os.taints != ns.taints
    {
        action = action | ActionType::UPDATE_NODE_TAINT;
    }
    let (oa, oc) = status(old).unwrap_or_default();
    let (na, nc) = status(new).unwrap_or_default();
    if oa != na {
        action = action | ActionType::UPDATE_NODE_ALLOCATABLE;
    }
    if old.metadata.labels != new.metadata.labels {
        action = action | ActionType::UPDATE_NODE_LABEL;
    }
    if oc != nc {
        action = action | ActionType::UPDATE_NODE_CONDITION;
    }
    if old.metadata.annotations != new.metadata.annotations {
        action = action | ActionType::UPDATE_NODE_ANNOTATION;
    }
    action
}

/// Condition types and statuses, without the heartbeat times.
fn conditions(n: &Node) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .map(|c| (c.type_.clone(), c.status.clone()))
        .collect();
    v.sort();
    v
}

/// Which scheduling-relevant parts of a pod changed (upstream's
/// `PodSchedulingPropertiesChange`); [`ActionType::UPDATE_POD_OTHER`] when none did.
pub fn pod_update(old: &Pod, new: &Pod) -> ActionType {
    let mut action = ActionType::NONE;
    if old.metadata.labels != new.metadata.labels {
        action = action | ActionType::UPDATE_POD_LABEL;
    }
    let (o, n) = (pod_requests(old, false), pod_requests(new, false));
    let scaled_down = n.milli_cpu < o.milli_cpu
        || n.memory < o.memory
        || n.ephemeral_storage < o.ephemeral_storage
        || o.scalar
            .iter()
            .any(|(k, v)| n.scalar.get(k).copied().unwrap_or(0) < *v);
    if scaled_down {
        action = action | ActionType::UPDATE_POD_SCALE_DOWN;
    }
    let tolerations = |p: &Pod| p.spec.as_ref().and_then(|s| s.tolerations.clone());
    if tolerations(old) != tolerations(new) {
        action = action | ActionType::UPDATE_POD_TOLERATION;
    }
    if is_gated(old) && !is_gated(new) {
        action = action | ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED;
    }
    if action.is_empty() {
        ActionType::UPDATE_POD_OTHER
    } else {
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn registrations_match_more_specific_incoming_events() {
        let pod_add_delete =
            ClusterEvent::new(EventResource::Pod, ActionType::ADD | ActionType::DELETE);
        assert!(pod_add_delete.matches(&ClusterEvent::new(
            EventResource::AssignedPod,
            ActionType::DELETE
        )));
        assert!(!pod_add_delete.matches(&ClusterEvent::new(
            EventResource::AssignedPod,
            ActionType::UPDATE_POD_LABEL
        )));
        assert!(!pod_add_delete.matches(&ClusterEvent::new(EventResource::Node, ActionType::ADD)));
        assert!(ClusterEvent::ALL.matches(&ClusterEvent::new(
            EventResource::Node,
            ActionType::UPDATE_NODE_CONDITION
        )));
    }

    #[test]
    fn node_updates_are_classified() {
        let base = NodeBuilder::new("n").capacity("4", "8Gi", "110");
        assert_eq!(
            node_update(&base.clone().obj(), &base.clone().obj()),
            ActionType::NONE
        );
        assert_eq!(
            node_update(&base.clone().obj(), &base.clone().label("zone", "a").obj()),
            ActionType::UPDATE_NODE_LABEL
        );
        assert_eq!(
            node_update(&base.clone().obj(), &base.clone().unschedulable().obj()),
            ActionType::UPDATE_NODE_TAINT
        );
        assert_eq!(
            node_update(
                &base.clone().obj(),
                &NodeBuilder::new("n").capacity("8", "8Gi", "110").obj()
            ),
            ActionType::UPDATE_NODE_ALLOCATABLE
        );
    }

    #[test]
    fn pod_updates_are_classified() {
        let p = PodBuilder::new("p").container_req("1", "");
        assert_eq!(
            pod_update(&p.clone().obj(), &p.clone().obj()),
            ActionType::UPDATE_POD_OTHER
        );
        assert_eq!(
            pod_update(&p.clone().obj(), &p.clone().label("a", "b").obj()),
            ActionType::UPDATE_POD_LABEL
        );
        assert_eq!(
            pod_update(
                &p.clone().obj(),
                &PodBuilder::new("p").container_req("500m", "").obj()
            ),
            ActionType::UPDATE_POD_SCALE_DOWN
        );
        let gated = PodBuilder::new("g").scheduling_gate("x").obj();
        assert_eq!(
            pod_update(&gated, &PodBuilder::new("g").obj()),
            ActionType::UPDATE_POD_SCHEDULING_GATES_ELIMINATED
        );
    }
}
