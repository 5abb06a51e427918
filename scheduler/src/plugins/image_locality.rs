//! ImageLocality: prefer nodes that already have the pod's images (from the node's
//! `status.images`), weighted by how widely each image is spread across nodes so pods do
//! not all pile onto the one node that has it.
//!
//! sum = Σ over containers of size × (nodes with the image / all nodes); clamp to
//! [23 MB, 1000 MB × containers]; score = 100 × (sum − 23 MB) / (max − 23 MB).

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::node_info::normalized_image_name;
use crate::framework::{
    CycleState, MAX_NODE_SCORE, NodeInfo, Plugin, PreScore, Score, Snapshot, Status,
};

pub const NAME: &str = "ImageLocality";
const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

#[derive(Debug, Default)]
pub struct ImageLocality;

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_score(self: Arc<Self>) -> Option<Arc<dyn PreScore>> {
        Some(self)
    }
    fn as_score(self: Arc<Self>) -> Option<Arc<dyn Score>> {
        Some(self)
    }
}

/// The pod's images, normalised, with the share of nodes that have each (0 for none),
/// and how many containers it has: computed once per cycle, not per node.
#[derive(Debug, Clone)]
struct State {
    images: Vec<(String, f64)>,
    containers: i64,
}

fn images_of(pod: &Pod, snapshot: &Snapshot) -> State {
    let Some(spec) = pod.spec.as_ref() else {
        return State {
            images: Vec::new(),
            containers: 0,
        };
    };
    let total = snapshot.num_nodes().max(1) as f64;
    let all: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .collect();
    let images = all
        .iter()
        .filter_map(|c| c.image.as_deref())
        .map(|image| {
            let name = normalized_image_name(image);
            let spread = snapshot.image_node_count(&name) as f64 / total;
            (name, spread)
        })
        .collect();
    State {
        images,
        containers: all.len() as i64,
    }
}

impl PreScore for ImageLocality {
    fn pre_score(
        &self,
        cycle: &mut CycleState,
        pod: &Pod,
        _nodes: &[&NodeInfo],
        snapshot: &Snapshot,
    ) -> Status {
        cycle.write(NAME, images_of(pod, snapshot));
        Status::success()
    }
}

impl Score for ImageLocality {
    fn score(
        &self,
        cycle: &CycleState,
        pod: &Pod,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Result<i64, Status> {
        let owned;
        let s = match cycle.read::<State>(NAME) {
            Some(s) => s,
            None => {
                owned = images_of(pod, snapshot);
                &owned
            }
        };
        let mut sum = 0i64;
        if !node.images.is_empty() {
            for (name, spread) in s.images.iter().filter(|(_, spread)| *spread > 0.0) {
                if let Some(&size) = node.images.get(name) {
                    sum = sum.saturating_add((size as f64 * spread) as i64);
                }
            }
        }
        let max = MAX_CONTAINER_THRESHOLD.saturating_mul(s.containers);
        let sum = sum.clamp(MIN_THRESHOLD, max.max(MIN_THRESHOLD));
        if max <= MIN_THRESHOLD {
            return Ok(0);
        }
        Ok(MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{NodeBuilder, PodBuilder, prescore_and_score};

    #[test]
    fn prefers_nodes_with_big_images_spread_by_presence() {
        let snapshot = Snapshot::from_objects(
            vec![
                NodeBuilder::new("has")
                    .image("registry.k8s.io/big:1", 500 * MB)
                    .obj(),
                NodeBuilder::new("small")
                    .image("registry.k8s.io/small", 10 * MB)
                    .obj(),
                NodeBuilder::new("none").obj(),
            ],
            vec![],
        );
        let pod = PodBuilder::new("p").image("registry.k8s.io/big:1").obj();
        // has: 500 MB × 1/3 = 166 MB → 100 × (166 − 23) / (1000 − 23) = 14.
        assert_eq!(
            prescore_and_score(Arc::new(ImageLocality), &pod, &snapshot),
            vec![14, 0, 0]
        );
        // Untagged names are normalised with :latest on both sides.
        let pod = PodBuilder::new("p").image("registry.k8s.io/small").obj();
        assert_eq!(
            prescore_and_score(Arc::new(ImageLocality), &pod, &snapshot),
            vec![0, 0, 0]
        );
    }

    #[test]
    fn init_and_app_containers_add_up_and_the_sum_is_clamped() {
        let snapshot = Snapshot::from_objects(
            vec![
                NodeBuilder::new("both")
                    .image("a:1", 600 * MB)
                    .image("b:1", 600 * MB)
                    .obj(),
                NodeBuilder::new("huge").image("c:1", 5000 * MB).obj(),
            ],
            vec![],
        );
        // both: (600 + 600) × 1/2 = 600 MB of max 2 × 1000 → 100 × (600 − 23) / (2000 − 23) = 29.
        let pod = PodBuilder::new("p").init_image("a:1").image("b:1").obj();
        assert_eq!(
            prescore_and_score(Arc::new(ImageLocality), &pod, &snapshot),
            vec![29, 0]
        );
        // huge: 5000 × 1/2 = 2500 MB, clamped to the 1000 MB of one container → 100.
        let pod = PodBuilder::new("p").image("c:1").obj();
        assert_eq!(
            prescore_and_score(Arc::new(ImageLocality), &pod, &snapshot),
            vec![0, 100]
        );
    }
}
