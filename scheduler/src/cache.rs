//! The scheduler's cache: every node and the pods assigned to it, from the watches, plus
//! pods *assumed* on a node between the decision and the bind's confirmation, so the next
//! decisions already count them (upstream's `schedulerCache`). A bind that fails forgets
//! the assumption; the watch showing the pod bound confirms it.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::framework::node_info::pod_key;
use crate::framework::{PodInfo, Snapshot};

#[derive(Debug, Clone)]
struct Placed {
    node: String,
    assumed: bool,
}

#[derive(Debug, Default)]
pub struct Cache {
    pub snapshot: Snapshot,
    pods: HashMap<String, Placed>,
}

/// A pod that has finished (Succeeded/Failed) no longer uses its node.
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

impl Cache {
    pub fn new() -> Self {
        Cache::default()
    }

    pub fn upsert_node(&mut self, node: Arc<Node>) {
        self.snapshot.upsert_node(node);
    }

    pub fn remove_node(&mut self, name: &str) {
        self.snapshot.remove_node(name);
    }

    pub fn node_names(&self) -> Vec<String> {
        self.snapshot.nodes().map(|n| n.name.clone()).collect()
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.pods.contains_key(key)
    }

    pub fn pod_keys(&self) -> Vec<String> {
        self.pods.keys().cloned().collect()
    }

    /// The pod as the cache counts it (confirmed or assumed).
    pub fn pod(&self, key: &str) -> Option<Arc<Pod>> {
        let placed = self.pods.get(key)?;
        self.snapshot
            .get_any(&placed.node)?
            .pods
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.pod.clone())
    }

    /// Count `pod` on `node` before the API says so. (Unlike upstream, the pod object is
    /// not copied to set `spec.nodeName`: the cache knows the node, nothing reads it.)
    pub fn assume(&mut self, pod: Arc<Pod>, node: &str) {
        let key = pod_key(&pod);
        self.remove(&key);
        self.snapshot.add_pod(node, Arc::new(PodInfo::new(pod)));
        self.pods.insert(
            key,
            Placed {
                node: node.to_string(),
                assumed: true,
            },
        );
    }

    /// The bind failed: un-count the pod.
    pub fn forget(&mut self, key: &str) {
        if self.is_assumed(key) {
            self.remove(key);
        }
    }

    /// An assigned pod from the watch (add or update); confirms an assumed one.
    pub fn add_or_update(&mut self, pod: Arc<Pod>) {
        let key = pod_key(&pod);
        if is_terminal(&pod) {
            self.remove(&key);
            return;
        }
        let Some(node) = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
        else {
            return;
        };
        // Confirming our own assumption on that node: the requests were computed then (a
        // pod's resources do not change on binding).
        let reused = match self.pods.get(&key) {
            Some(p) if p.assumed && p.node == node => self
                .snapshot
                .get_any(&node)
                .and_then(|n| n.pods.iter().find(|p| p.key == key))
                .map(|p| PodInfo {
                    pod: pod.clone(),
                    ..(**p).clone()
                }),
            _ => None,
        };
        self.remove(&key);
        let info = reused.unwrap_or_else(|| PodInfo::new(pod));
        self.snapshot.add_pod(&node, Arc::new(info));
        self.pods.insert(
            key,
            Placed {
                node,
                assumed: false,
            },
        );
    }

    /// Returns whether the pod was in the cache.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.pods.remove(key) {
            Some(p) => {
                self.snapshot.remove_pod(&p.node, key);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{NodeBuilder, PodBuilder};

    #[test]
    fn assume_confirm_forget() {
        let mut c = Cache::new();
        c.upsert_node(Arc::new(
            NodeBuilder::new("n").capacity("4", "8Gi", "10").obj(),
        ));
        let pod = Arc::new(PodBuilder::new("p").container_req("1", "").node("n").obj());
        c.assume(pod.clone(), "n");
        assert!(c.is_assumed("default/p"));
        assert_eq!(c.snapshot.get("n").unwrap().requested.milli_cpu, 1000);
        c.forget("default/p");
        assert_eq!(c.snapshot.get("n").unwrap().requested.milli_cpu, 0);
        c.assume(pod.clone(), "n");
        c.add_or_update(pod);
        assert!(!c.is_assumed("default/p"));
        c.forget("default/p");
        assert_eq!(
            c.snapshot.get("n").unwrap().pods.len(),
            1,
            "a confirmed pod is not forgotten"
        );
        let done = Arc::new(
            serde_json::from_value::<Pod>(
                serde_json::json!({"metadata": {"name": "p", "namespace": "default"},
            "spec": {"nodeName": "n", "containers": []}, "status": {"phase": "Succeeded"}}),
            )
            .unwrap(),
        );
        c.add_or_update(done);
        assert_eq!(
            c.snapshot.get("n").unwrap().pods.len(),
            0,
            "a finished pod frees its node"
        );
    }
}
