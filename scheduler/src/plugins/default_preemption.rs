//! DefaultPreemption (PostFilter): when no node fits a pod, find a node where deleting
//! lower-priority pods would make it fit, and nominate it.
//!
//! Per candidate node (those whose filter failure is `Unschedulable`, not
//! `UnschedulableAndUnresolvable`): remove every pod of lower priority, check the pod
//! fits, then give back ("reprieve") as many of them as still leave room, most important
//! first; the rest are the victims. Among candidates upstream's order picks: the lowest
//! highest-victim priority, then the lowest sum of victim priorities, then the fewest
//! victims, then the latest-started highest-priority victim. The scheduler then sets
//! `status.nominatedNodeName` and deletes the victims gracefully.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::framework::node_info::pod_priority;
use crate::framework::runtime::{Framework, count_reasons};
use crate::framework::{Code, CycleState, NodeInfo, Plugin, PodInfo, PostFilter, PostFilterResult, Snapshot, Status};

pub const NAME: &str = "DefaultPreemption";
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

#[derive(Debug, Default)]
pub struct DefaultPreemption;

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_post_filter(self: Arc<Self>) -> Option<Arc<dyn PostFilter>> {
        Some(self)
    }
}

fn start_time(p: &PodInfo) -> String {
    let status = p.pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0.to_string());
    status.or_else(|| p.pod.metadata.creation_timestamp.as_ref().map(|t| t.0.to_string())).unwrap_or_default()
}

/// More important first: higher priority, then started earlier.
fn more_important(a: &PodInfo, b: &PodInfo) -> std::cmp::Ordering {
    b.priority().cmp(&a.priority()).then_with(|| start_time(a).cmp(&start_time(b)))
}

/// The victims on `node` that make room for `pod`, or None if no removal helps.
fn select_victims(fw: &Framework, state: &CycleState, pod: &Pod, node: &NodeInfo) -> Option<Vec<Arc<PodInfo>>> {
    let mut state = state.clone();
    let mut info = node.clone();
    let prio = pod_priority(pod);
    let mut potential: Vec<Arc<PodInfo>> = info.pods.iter().filter(|p| p.priority() < prio).cloned().collect();
    if potential.is_empty() {
        return None;
    }
    for p in &potential {
        info.remove_pod(&p.key);
        if !fw.run_remove_pod(&mut state, pod, p, &info).is_success() {
            return None;
        }
    }
    if !fw.run_filter(&state, pod, &info).is_success() {
        return None;
    }
    potential.sort_by(|a, b| more_important(a, b));
    let mut victims = Vec::new();
    for p in potential {
        info.add_pod(p.clone());
        let _ = fw.run_add_pod(&mut state, pod, &p, &info);
        if !fw.run_filter(&state, pod, &info).is_success() {
            info.remove_pod(&p.key);
            let _ = fw.run_remove_pod(&mut state, pod, &p, &info);
            victims.push(p);
        }
    }
    Some(victims)
}

/// Upstream's `pickOneNodeForPreemption` (without PDBs).
fn pick(candidates: Vec<(String, Vec<Arc<PodInfo>>)>) -> Option<(String, Vec<Arc<PodInfo>>)> {
    let key = |victims: &[Arc<PodInfo>]| {
        let highest = victims.iter().map(|v| v.priority()).max().unwrap_or(i32::MIN);
        // Sum offset so negative priorities still order correctly.
        let sum: i64 = victims.iter().map(|v| i64::from(v.priority()) + i64::from(i32::MAX) + 1).sum();
        let latest_start_of_highest = victims.iter().filter(|v| v.priority() == highest).map(|v| start_time(v)).min().unwrap_or_default();
        (highest, sum, victims.len(), std::cmp::Reverse(latest_start_of_highest))
    };
    candidates.into_iter().min_by(|a, b| key(&a.1).cmp(&key(&b.1)))
}

fn message(num_all: usize, statuses: &[Status]) -> String {
    format!("preemption: 0/{num_all} nodes are available: {}.", count_reasons(statuses.iter()).join(", "))
}

impl PostFilter for DefaultPreemption {
    fn post_filter(&self, fw: &Framework, state: &CycleState, pod: &Pod, snapshot: &Snapshot, statuses: &BTreeMap<String, Status>) -> PostFilterResult {
        let fail = |msg: String| PostFilterResult { nominated_node: None, victims: Vec::new(), status: Status::new(Code::Unschedulable, [msg]) };
        if pod.spec.as_ref().and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
            return fail("preemption: not eligible due to preemptionPolicy=Never.".into());
        }
        let num_all = snapshot.num_nodes();
        let mut outcomes: Vec<Status> = Vec::new();
        let mut candidates = Vec::new();
        for node in snapshot.nodes() {
            match statuses.get(&node.name) {
                Some(s) if s.code() == Code::Unschedulable => match select_victims(fw, state, pod, node) {
                    Some(v) => candidates.push((node.name.clone(), v)),
                    None => outcomes.push(Status::unschedulable(NO_VICTIMS)),
                },
                _ => outcomes.push(Status::unresolvable(NOT_HELPFUL)),
            }
        }
        match pick(candidates) {
            Some((node, victims)) => PostFilterResult { nominated_node: Some(node), victims, status: Status::success() },
            None => fail(message(num_all, &outcomes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::framework::runtime::{Cursor, Outcome};
    use crate::framework::testing::{NodeBuilder, PodBuilder};
    use crate::explain::Explanation;
    use crate::plugins::registry::Handle;

    fn preempt(nodes: Vec<NodeBuilder>, existing: Vec<Pod>, pod: Pod) -> PostFilterResult {
        let fw = Profile::default().framework(&Handle::default(), None).unwrap();
        let snapshot = Snapshot::from_objects(nodes.into_iter().map(NodeBuilder::obj).collect(), existing);
        let mut expl = Explanation::default();
        let (outcome, state) = fw.schedule(&pod, &snapshot, &mut Cursor::seeded(1), &mut expl);
        let Outcome::Unfit(fit) = outcome else { panic!("expected no fit") };
        fw.run_post_filter(&state, &pod, &snapshot, &fit.node_to_status).unwrap()
    }

    fn victims(r: &PostFilterResult) -> Vec<String> {
        let mut v: Vec<String> = r.victims.iter().map(|v| v.key.clone()).collect();
        v.sort();
        v
    }

    #[test]
    fn evicts_the_lowest_priority_pod_that_makes_room() {
        let nodes = vec![NodeBuilder::new("n1").capacity("2", "4Gi", "10"), NodeBuilder::new("n2").capacity("2", "4Gi", "10")];
        let existing = vec![
            PodBuilder::new("low").priority(1).node("n1").container_req("1", "").obj(),
            PodBuilder::new("mid").priority(5).node("n1").container_req("1", "").obj(),
            PodBuilder::new("high").priority(50).node("n2").container_req("2", "").obj(),
        ];
        let r = preempt(nodes, existing, PodBuilder::new("p").priority(10).container_req("1", "").obj());
        assert!(r.status.is_success());
        assert_eq!(r.nominated_node.as_deref(), Some("n1"));
        assert_eq!(victims(&r), ["default/low"], "the reprieve keeps mid");
    }

    #[test]
    fn picks_the_node_with_the_lowest_priority_victims() {
        let nodes = vec![NodeBuilder::new("n1").capacity("1", "4Gi", "10"), NodeBuilder::new("n2").capacity("1", "4Gi", "10")];
        let existing = vec![
            PodBuilder::new("a").priority(5).node("n1").container_req("1", "").obj(),
            PodBuilder::new("b").priority(3).node("n2").container_req("1", "").obj(),
        ];
        let r = preempt(nodes, existing, PodBuilder::new("p").priority(10).container_req("1", "").obj());
        assert_eq!(r.nominated_node.as_deref(), Some("n2"));
        assert_eq!(victims(&r), ["default/b"]);
    }

    #[test]
    fn no_lower_priority_pods_means_no_victims() {
        let nodes = vec![NodeBuilder::new("n1").capacity("1", "4Gi", "10"), NodeBuilder::new("big").capacity("1", "4Gi", "10").taint("x", "y", "NoSchedule")];
        let existing = vec![PodBuilder::new("a").priority(50).node("n1").container_req("1", "").obj()];
        let r = preempt(nodes, existing, PodBuilder::new("p").priority(10).container_req("1", "").obj());
        assert!(!r.status.is_success());
        assert_eq!(
            r.status.message(),
            "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn preemption_policy_never() {
        let nodes = vec![NodeBuilder::new("n1").capacity("1", "4Gi", "10")];
        let existing = vec![PodBuilder::new("a").priority(1).node("n1").container_req("1", "").obj()];
        let mut pod = PodBuilder::new("p").priority(10).container_req("1", "").obj();
        pod.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        let r = preempt(nodes, existing, pod);
        assert_eq!(r.status.message(), "preemption: not eligible due to preemptionPolicy=Never.");
    }
}
