//! DynamicResources, as far as kubesim has it: its PostFilter. Upstream's plugin
//! allocates ResourceClaims (DRA, on by default since v1.34) and, when a pod cannot be
//! scheduled, first tries to free a claim another pod no longer uses, before
//! DefaultPreemption evicts anything. kubesim serves no `resource.k8s.io` API, so no pod
//! has claims, and the answer is always the one upstream gives such a pod, which every
//! FailedScheduling message of a v1.35 cluster carries:
//! `... no new claims to deallocate, preemption: ...`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::runtime::{Framework, NodeToStatus};
use crate::framework::{
    ClusterEvent, CycleState, Nominating, Plugin, PostFilter, PostFilterResult, Snapshot, Status,
};

pub const NAME: &str = "DynamicResources";
/// Upstream's PostFilter answer for a pod without claims.
pub const NO_CLAIMS: &str = "no new claims to deallocate";

#[derive(Debug, Default)]
pub struct DynamicResources;

impl Plugin for DynamicResources {
    fn name(&self) -> &'static str {
        NAME
    }
    /// It rejects nothing (no Filter), so no event retries a pod on its account.
    fn events_to_register(&self) -> Vec<ClusterEvent> {
        Vec::new()
    }
    fn as_post_filter(self: Arc<Self>) -> Option<Arc<dyn PostFilter>> {
        Some(self)
    }
}

impl PostFilter for DynamicResources {
    fn post_filter(
        &self,
        _framework: &Framework,
        _state: &CycleState,
        _pod: &Pod,
        _snapshot: &Snapshot,
        _statuses: &NodeToStatus,
    ) -> PostFilterResult {
        PostFilterResult {
            nominating: Nominating::Keep,
            victims: Vec::new(),
            clear_nominations: Vec::new(),
            status: Status::unschedulable(NO_CLAIMS),
        }
    }
}
