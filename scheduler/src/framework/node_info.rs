//! What the scheduler knows of a node: the Node object, the pods assigned (or assumed) to
//! it, and their sums — upstream's `framework.NodeInfo` — and the snapshot of all of them a
//! scheduling cycle reads.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kubesim_apimachinery::selector::LabelSelector;

use super::resource::{self, Resource};

/// A pod with what the plugins ask of it again and again, computed once.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    /// `namespace/name`.
    pub key: String,
    pub requests: Resource,
    pub non_zero_requests: Resource,
    /// Host ports: (protocol, hostIP, port).
    pub host_ports: Vec<(String, String, i32)>,
    /// Has any pod (anti-)affinity term.
    pub has_affinity: bool,
    /// Has a required anti-affinity term.
    pub has_required_anti_affinity: bool,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> Self {
        let key = pod_key(&pod);
        let requests = resource::pod_requests(&pod, false);
        let non_zero_requests = resource::pod_requests(&pod, true);
        let host_ports = host_ports(&pod);
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let has_affinity =
            affinity.is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some());
        let has_required_anti_affinity = affinity
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .and_then(|a| {
                a.required_during_scheduling_ignored_during_execution
                    .as_ref()
            })
            .is_some_and(|t| !t.is_empty());
        PodInfo {
            pod,
            key,
            requests,
            non_zero_requests,
            host_ports,
            has_affinity,
            has_required_anti_affinity,
        }
    }

    pub fn priority(&self) -> i32 {
        pod_priority(&self.pod)
    }
}

/// `namespace/name` of a pod.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or("default"),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// Whether the pod waits for its `spec.schedulingGates` to be removed.
pub fn is_gated(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduling_gates.as_ref())
        .is_some_and(|g| !g.is_empty())
}

/// `spec.priority`, 0 when unset (the admission plugin resolves PriorityClass names).
pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// The host ports a pod asks for, upstream's `GetHostPorts`: those of its sidecars
/// (restartable init containers; other init containers have exited before the app
/// starts) and app containers with hostPort > 0; hostIP defaults to 0.0.0.0, protocol to
/// TCP.
pub fn host_ports(pod: &Pod) -> Vec<(String, String, i32)> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    let sidecars = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    sidecars
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter(|p| p.host_port.is_some_and(|h| h > 0))
        .map(|p| {
            let ip = p
                .host_ip
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "0.0.0.0".to_string());
            (
                p.protocol.clone().unwrap_or_else(|| "TCP".to_string()),
                ip,
                p.host_port.unwrap_or(0),
            )
        })
        .collect()
}

/// A node and the pods on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// `None` while pods name a node the scheduler has not seen (or that was deleted).
    pub node: Option<Arc<Node>>,
    /// `spec.unschedulable`, and whether the node has taints at all: kept here rather
    /// than behind the Node pointer.
    pub unschedulable: bool,
    pub tainted: bool,
    pub pods: Vec<Arc<PodInfo>>,
    pub allocatable: Resource,
    pub requested: Resource,
    pub non_zero_requested: Resource,
    /// Image name (every name the node reports, normalised with a tag) → size in bytes.
    pub images: HashMap<String, i64>,
    pub name: String,
    pub used_ports: Vec<(String, String, i32)>,
    pub pods_with_affinity: usize,
    pub pods_with_required_anti_affinity: usize,
}

impl NodeInfo {
    pub fn new(name: &str) -> Self {
        NodeInfo {
            name: name.to_string(),
            node: None,
            pods: Vec::new(),
            allocatable: Resource::default(),
            requested: Resource::default(),
            non_zero_requested: Resource::default(),
            used_ports: Vec::new(),
            pods_with_affinity: 0,
            pods_with_required_anti_affinity: 0,
            images: HashMap::new(),
            unschedulable: false,
            tainted: false,
        }
    }

    /// A node info for `node` with no pods.
    pub fn with_node(node: Arc<Node>) -> Self {
        let mut info = NodeInfo::new(node.metadata.name.as_deref().unwrap_or(""));
        info.set_node(node);
        info
    }

    pub fn set_node(&mut self, node: Arc<Node>) {
        let spec = node.spec.as_ref();
        self.unschedulable = spec.and_then(|s| s.unschedulable).unwrap_or(false);
        self.tainted = spec
            .and_then(|s| s.taints.as_ref())
            .is_some_and(|t| !t.is_empty());
        let status = node.status.as_ref();
        self.allocatable = Resource::from_list(status.and_then(|s| s.allocatable.as_ref()));
        self.images.clear();
        for image in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            for name in image.names.iter().flatten() {
                self.images
                    .insert(normalized_image_name(name), image.size_bytes.unwrap_or(0));
            }
        }
        self.node = Some(node);
    }

    pub fn labels(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        self.node.as_ref().and_then(|n| n.metadata.labels.as_ref())
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels().and_then(|l| l.get(key)).map(String::as_str)
    }

    pub fn add_pod(&mut self, pod: Arc<PodInfo>) {
        self.requested.add(&pod.requests);
        self.requested.allowed_pod_number = self.requested.allowed_pod_number.saturating_add(1);
        self.non_zero_requested.add(&pod.non_zero_requests);
        self.non_zero_requested.allowed_pod_number =
            self.non_zero_requested.allowed_pod_number.saturating_add(1);
        self.used_ports.extend(pod.host_ports.iter().cloned());
        if pod.has_affinity {
            self.pods_with_affinity += 1;
        }
        if pod.has_required_anti_affinity {
            self.pods_with_required_anti_affinity += 1;
        }
        self.pods.push(pod);
    }

    /// Remove the pod with `key`; false if it is not here.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(i) = self.pods.iter().position(|p| p.key == key) else {
            return false;
        };
        let pod = self.pods.swap_remove(i);
        self.requested.sub(&pod.requests);
        self.requested.allowed_pod_number = self.requested.allowed_pod_number.saturating_sub(1);
        self.non_zero_requested.sub(&pod.non_zero_requests);
        self.non_zero_requested.allowed_pod_number =
            self.non_zero_requested.allowed_pod_number.saturating_sub(1);
        for port in &pod.host_ports {
            if let Some(j) = self.used_ports.iter().position(|p| p == port) {
                self.used_ports.swap_remove(j);
            }
        }
        if pod.has_affinity {
            self.pods_with_affinity -= 1;
        }
        if pod.has_required_anti_affinity {
            self.pods_with_required_anti_affinity -= 1;
        }
        true
    }
}

/// `nginx` → `nginx:latest`, as upstream's `normalizedImageName`.
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Pods that preemption nominated to a node and that are not bound yet: upstream's
/// `PodNominator`. Other pods' cycles count those of equal or higher priority as if they
/// ran there, so they do not take the room made for them.
#[derive(Debug, Clone, Default)]
pub struct Nominator {
    by_node: HashMap<String, Vec<Arc<PodInfo>>>,
    node_of: HashMap<String, String>,
}

impl Nominator {
    pub fn is_empty(&self) -> bool {
        self.node_of.is_empty()
    }

    /// Nominate `pod` to `node` (replacing an earlier nomination).
    pub fn add(&mut self, pod: Arc<PodInfo>, node: &str) {
        self.delete(&pod.key);
        self.node_of.insert(pod.key.clone(), node.to_string());
        self.by_node.entry(node.to_string()).or_default().push(pod);
    }

    pub fn delete(&mut self, key: &str) {
        let Some(node) = self.node_of.remove(key) else {
            return;
        };
        if let Some(pods) = self.by_node.get_mut(&node) {
            pods.retain(|p| p.key != key);
            if pods.is_empty() {
                self.by_node.remove(&node);
            }
        }
    }

    /// The pods nominated to `node`.
    pub fn pods_on(&self, node: &str) -> &[Arc<PodInfo>] {
        self.by_node.get(node).map_or(&[], Vec::as_slice)
    }

    /// The node `key` is nominated to.
    pub fn node_of(&self, key: &str) -> Option<&str> {
        self.node_of.get(key).map(String::as_str)
    }
}

/// A PodDisruptionBudget as preemption reads it.
#[derive(Debug, Clone)]
pub struct DisruptionBudget {
    pub namespace: String,
    /// `None` for a missing or empty selector, which selects no pod.
    pub selector: Option<LabelSelector>,
    pub disruptions_allowed: i32,
    /// Pods the API server has already counted as disrupted (`status.disruptedPods`).
    pub disrupted_pods: HashSet<String>,
}

impl DisruptionBudget {
    pub fn new(pdb: &PodDisruptionBudget) -> Self {
        let selector = pdb
            .spec
            .as_ref()
            .and_then(|s| s.selector.as_ref())
            .and_then(|s| LabelSelector::from_structured(s).ok())
            .filter(|s| !s.is_empty() && !s.is_nothing());
        let status = pdb.status.as_ref();
        DisruptionBudget {
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            selector,
            disruptions_allowed: status.map_or(0, |s| s.disruptions_allowed),
            disrupted_pods: status
                .and_then(|s| s.disrupted_pods.as_ref())
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// Whether the budget covers `pod` (same namespace, labels selected).
    pub fn covers(&self, pod: &Pod) -> bool {
        let labels = pod.metadata.labels.as_ref().filter(|l| !l.is_empty());
        match (&self.selector, labels) {
            (Some(sel), Some(labels)) => {
                pod.metadata.namespace.as_deref().unwrap_or("default") == self.namespace
                    && sel.matches_labels(labels)
            }
            _ => false,
        }
    }
}

/// Every node the scheduler knows, in a stable order, as one cycle sees them, with the
/// pods nominated to them and the disruption budgets preemption respects.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub nominator: Nominator,
    /// PodDisruptionBudgets by `namespace/name`.
    pub pdbs: HashMap<String, Arc<DisruptionBudget>>,
    nodes: Vec<NodeInfo>,
    index: HashMap<String, usize>,
    /// How many nodes have each image (for ImageLocality's spread factor).
    image_nodes: HashMap<String, usize>,
    /// How many nodes there are with a Node object.
    live_nodes: usize,
    /// Names of nodes with pods that have (anti-)affinity.
    affinity_nodes: BTreeSet<usize>,
}

impl Snapshot {
    pub fn new() -> Self {
        Snapshot::default()
    }

    /// A snapshot of these nodes and pods (pods name their node in `spec.nodeName`).
    pub fn from_objects(nodes: Vec<Node>, pods: Vec<Pod>) -> Self {
        let mut s = Snapshot::new();
        for n in nodes {
            s.upsert_node(Arc::new(n));
        }
        for p in pods {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default();
            s.add_pod(&node, Arc::new(PodInfo::new(Arc::new(p))));
        }
        s
    }

    /// Every node with a Node object.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.iter().filter(|n| n.node.is_some())
    }

    /// The node infos by position (including placeholders without a Node).
    pub fn all(&self) -> &[NodeInfo] {
        &self.nodes
    }

    pub fn num_nodes(&self) -> usize {
        self.live_nodes
    }

    pub fn get(&self, name: &str) -> Option<&NodeInfo> {
        self.index
            .get(name)
            .map(|&i| &self.nodes[i])
            .filter(|n| n.node.is_some())
    }

    /// The node info, also when only pods name the node (no Node object).
    pub fn get_any(&self, name: &str) -> Option<&NodeInfo> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut NodeInfo> {
        self.index.get(name).map(|&i| &mut self.nodes[i])
    }

    /// Nodes with pods that have pod (anti-)affinity terms.
    pub fn nodes_with_affinity_pods(&self) -> impl Iterator<Item = &NodeInfo> {
        self.affinity_nodes
            .iter()
            .map(|&i| &self.nodes[i])
            .filter(|n| n.node.is_some())
    }

    pub fn image_node_count(&self, image: &str) -> usize {
        self.image_nodes.get(image).copied().unwrap_or(0)
    }

    fn slot(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        self.nodes.push(NodeInfo::new(name));
        let i = self.nodes.len() - 1;
        self.index.insert(name.to_string(), i);
        i
    }

    pub fn upsert_node(&mut self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let i = self.slot(&name);
        let info = &mut self.nodes[i];
        if info.node.is_none() {
            self.live_nodes += 1;
        }
        for image in info.images.keys() {
            if let Some(c) = self.image_nodes.get_mut(image) {
                *c = c.saturating_sub(1);
            }
        }
        info.set_node(node);
        for image in info.images.keys() {
            *self.image_nodes.entry(image.clone()).or_default() += 1;
        }
    }

    pub fn remove_node(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        let info = &mut self.nodes[i];
        if info.node.take().is_some() {
            self.live_nodes -= 1;
        }
        for image in info.images.keys() {
            if let Some(c) = self.image_nodes.get_mut(image) {
                *c = c.saturating_sub(1);
            }
        }
        info.images.clear();
        self.compact(name);
    }

    /// Drop a placeholder that has neither Node nor pods, keeping positions of the rest.
    fn compact(&mut self, name: &str) {
        let Some(&i) = self.index.get(name) else {
            return;
        };
        if self.nodes[i].node.is_some() || !self.nodes[i].pods.is_empty() {
            return;
        }
        self.index.remove(name);
        self.nodes.swap_remove(i);
        self.affinity_nodes.remove(&i);
        if i < self.nodes.len() {
            let moved = self.nodes[i].name.clone();
            self.index.insert(moved, i);
            let old = self.nodes.len();
            if self.affinity_nodes.remove(&old) {
                self.affinity_nodes.insert(i);
            }
        }
    }

    pub fn add_pod(&mut self, node: &str, pod: Arc<PodInfo>) {
        let i = self.slot(node);
        self.nodes[i].add_pod(pod);
        if self.nodes[i].pods_with_affinity > 0 {
            self.affinity_nodes.insert(i);
        }
    }

    pub fn remove_pod(&mut self, node: &str, key: &str) {
        let Some(&i) = self.index.get(node) else {
            return;
        };
        self.nodes[i].remove_pod(key);
        if self.nodes[i].pods_with_affinity == 0 {
            self.affinity_nodes.remove(&i);
        }
        self.compact(node);
    }
}
