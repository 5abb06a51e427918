//! DefaultPreemption (PostFilter): when no node fits a pod, find a node where deleting
//! lower-priority pods would make it fit, and nominate it — upstream's
//! `defaultpreemption` with its `preemption.Evaluator`.
//!
//! 1. The pod must be eligible: not `preemptionPolicy: Never`, and no victim of its last
//!    preemption still terminating on its nominated node.
//! 2. Candidates are the nodes whose rejection was `Unschedulable` (not
//!    `UnschedulableAndUnresolvable`), tried from a random offset until enough are found
//!    (`max(10 % of them, 100)`, as `minCandidateNodesPercentage`/`Absolute`).
//! 3. On each: remove every lower-priority pod; the pod must then fit (counting pods
//!    nominated there); give the removed pods back ("reprieve"), those whose eviction would
//!    violate a PodDisruptionBudget first, most important first, as long as the pod still
//!    fits. The rest are the victims.
//! 4. The node: fewest PDB violations, then lowest highest-victim priority, lowest sum of
//!    priorities, fewest victims, latest start of the highest-priority victims.
//!
//! The scheduler then sets `status.nominatedNodeName`, clears lower-priority pods'
//! nominations to that node, and deletes the victims gracefully.
//!
//! Worked example: node n1 (2 CPUs) runs `low` (priority 1, 1 CPU) and `mid` (5, 1 CPU);
//! a pod of priority 10 asks 1 CPU. Without both it fits; giving `mid` back (more
//! important) it still fits; giving `low` back it does not: the victim is `low`.

use std::cmp::Reverse;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;

use crate::framework::node_info::{DisruptionBudget, pod_priority};
use crate::framework::runtime::{FitError, Framework, NodeToStatus};
use crate::framework::{
    Code, CycleState, NodeInfo, Nominating, Plugin, PodInfo, PostFilter, PostFilterResult,
    Snapshot, Status,
};

pub const NAME: &str = "DefaultPreemption";
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";

/// `DefaultPreemptionArgs`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Args {
    #[serde(default = "default_percentage")]
    pub min_candidate_nodes_percentage: i32,
    #[serde(default = "default_absolute")]
    pub min_candidate_nodes_absolute: i32,
}

fn default_percentage() -> i32 {
    10
}

fn default_absolute() -> i32 {
    100
}

impl Default for Args {
    fn default() -> Self {
        Args {
            min_candidate_nodes_percentage: default_percentage(),
            min_candidate_nodes_absolute: default_absolute(),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Error {
    #[error(
        "minCandidateNodesPercentage must be 0..=100 and minCandidateNodesAbsolute at least 0, not both 0"
    )]
    InvalidArgs,
}

#[derive(Debug, Default)]
pub struct DefaultPreemption {
    args: Args,
}

impl DefaultPreemption {
    pub fn new(args: Args) -> Result<Self, Error> {
        let (p, a) = (
            args.min_candidate_nodes_percentage,
            args.min_candidate_nodes_absolute,
        );
        if !(0..=100).contains(&p) || a < 0 || (p == 0 && a == 0) {
            return Err(Error::InvalidArgs);
        }
        Ok(DefaultPreemption { args })
    }

    /// How many candidates to find among `n` potential nodes.
    fn num_candidates(&self, n: usize) -> usize {
        let pct = usize::try_from(self.args.min_candidate_nodes_percentage).unwrap_or(0);
        let abs = usize::try_from(self.args.min_candidate_nodes_absolute).unwrap_or(0);
        (n.saturating_mul(pct) / 100).max(abs).min(n)
    }
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_post_filter(self: Arc<Self>) -> Option<Arc<dyn PostFilter>> {
        Some(self)
    }
}

/// When the pod started, upstream's `GetPodStartTime`: a pod not started yet (assumed or
/// just bound) counts as starting now, the latest.
fn start_time(p: &PodInfo, now: i128) -> i128 {
    p.pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or(now, |t| t.0.as_nanosecond())
}

/// Upstream's `MoreImportantPod`: higher priority, then started earlier.
fn more_important(a: &PodInfo, b: &PodInfo, now: i128) -> std::cmp::Ordering {
    b.priority()
        .cmp(&a.priority())
        .then_with(|| start_time(a, now).cmp(&start_time(b, now)))
}

/// A pod being deleted because the scheduler preempted it.
fn terminating_by_preemption(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_some()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| {
                c.type_ == "DisruptionTarget"
                    && c.status == "True"
                    && c.reason.as_deref() == Some("PreemptionByScheduler")
            })
}

/// Upstream's `filterPodsWithPDBViolation`: split `pods` (order kept) into those whose
/// eviction would take a budget below zero, and the others.
fn split_by_pdb_violation<'a>(
    pods: Vec<Arc<PodInfo>>,
    pdbs: impl Iterator<Item = &'a DisruptionBudget>,
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut budgets: Vec<(&DisruptionBudget, i32)> =
        pdbs.map(|b| (b, b.disruptions_allowed)).collect();
    let (mut violating, mut ok) = (Vec::new(), Vec::new());
    for p in pods {
        let name = p.pod.metadata.name.as_deref().unwrap_or("");
        let mut violated = false;
        for (budget, allowed) in budgets.iter_mut() {
            // A pod the API server already counted as disrupted does not use the budget.
            if !budget.covers(&p.pod) || budget.disrupted_pods.contains(name) {
                continue;
            }
            *allowed -= 1;
            violated |= *allowed < 0;
        }
        if violated {
            violating.push(p)
        } else {
            ok.push(p)
        }
    }
    (violating, ok)
}

/// One candidate node: its victims (most important first) and how many of them violate a
/// budget.
struct Candidate {
    node: String,
    victims: Vec<Arc<PodInfo>>,
    pdb_violations: usize,
}

/// Upstream's `SelectVictimsOnNode`: the fewest victims on `node` that make room for
/// `pod`, or the status saying why no eviction there helps.
fn select_victims(
    fw: &Framework,
    state: &CycleState,
    pod: &Pod,
    node: &NodeInfo,
    snapshot: &Snapshot,
    now: i128,
) -> Result<Candidate, Status> {
    let prio = pod_priority(pod);
    let mut potential: Vec<Arc<PodInfo>> = node
        .pods
        .iter()
        .filter(|p| p.priority() < prio)
        .cloned()
        .collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    let mut state = state.clone();
    let mut info = node.clone();
    for p in &potential {
        info.remove_pod(&p.key);
        let s = fw.run_remove_pod(&mut state, pod, p, &info);
        if !s.is_success() {
            return Err(Status::error(s.message()));
        }
    }
    let s = fw.run_filter_with_nominated(&state, pod, &info, snapshot);
    if !s.is_success() {
        return Err(s);
    }
    potential.sort_by(|a, b| more_important(a, b, now));
    let (violating, non_violating) =
        split_by_pdb_violation(potential, snapshot.pdbs.values().map(|b| b.as_ref()));
    let groups = usize::from(!violating.is_empty()) + usize::from(!non_violating.is_empty());
    let mut victims = Vec::new();
    let mut pdb_violations = 0;
    for (is_violating, p) in violating
        .into_iter()
        .map(|p| (true, p))
        .chain(non_violating.into_iter().map(|p| (false, p)))
    {
        info.add_pod(p.clone());
        let s = fw.run_add_pod(&mut state, pod, &p, &info);
        if !s.is_success() {
            return Err(Status::error(s.message()));
        }
        if !fw
            .run_filter_with_nominated(&state, pod, &info, snapshot)
            .is_success()
        {
            info.remove_pod(&p.key);
            let s = fw.run_remove_pod(&mut state, pod, &p, &info);
            if !s.is_success() {
                return Err(Status::error(s.message()));
            }
            pdb_violations += usize::from(is_violating);
            victims.push(p);
        }
    }
    if victims.is_empty() {
        return Err(Status::error(format!(
            "expected at least one victim pod on node {:?}",
            node.name
        )));
    }
    if groups == 2 {
        victims.sort_by(|a, b| more_important(a, b, now));
    }
    Ok(Candidate {
        node: node.name.clone(),
        victims,
        pdb_violations,
    })
}

/// Upstream's `pickOneNodeForPreemption`; ties go to the first candidate.
fn pick(candidates: Vec<Candidate>, now: i128) -> Option<Candidate> {
    let key = |c: &Candidate| {
        let highest = c.victims.first().map_or(i32::MIN, |v| v.priority());
        // Offset by 2^31 so negative priorities still sum in order.
        let sum: i64 = c
            .victims
            .iter()
            .map(|v| i64::from(v.priority()) + i64::from(i32::MAX) + 1)
            .sum();
        let earliest_of_highest = c
            .victims
            .iter()
            .filter(|v| v.priority() == highest)
            .map(|v| start_time(v, now))
            .min()
            .unwrap_or(i128::MIN);
        (
            c.pdb_violations,
            highest,
            sum,
            c.victims.len(),
            Reverse(earliest_of_highest),
        )
    };
    candidates.into_iter().min_by(|a, b| key(a).cmp(&key(b)))
}

/// A failed preemption: the message (`preemption: ...`) and whether to clear the pod's
/// nomination.
fn failure(message: String, nominating: Nominating) -> PostFilterResult {
    PostFilterResult {
        nominating,
        victims: Vec::new(),
        clear_nominations: Vec::new(),
        status: Status::new(Code::Unschedulable, [format!("preemption: {message}")]),
    }
}

/// A pseudo-random offset in `0..n` (upstream picks it with `rand.Int31n`).
fn random_offset(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    usize::try_from(nanos).unwrap_or(0) % n.max(1)
}

impl DefaultPreemption {
    /// Upstream's `PodEligibleToPreemptOthers`: the reason the pod may not preempt.
    fn not_eligible(
        &self,
        pod: &Pod,
        snapshot: &Snapshot,
        statuses: &NodeToStatus,
    ) -> Option<&'static str> {
        if pod
            .spec
            .as_ref()
            .and_then(|s| s.preemption_policy.as_deref())
            == Some("Never")
        {
            return Some("not eligible due to preemptionPolicy=Never.");
        }
        let nominated = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())?;
        // The nominated node cannot take the pod whatever is evicted: preempt again elsewhere.
        if statuses
            .get(nominated)
            .is_none_or(|s| s.code() == Code::UnschedulableAndUnresolvable)
        {
            return None;
        }
        let prio = pod_priority(pod);
        let node = snapshot.get(nominated)?;
        node.pods
            .iter()
            .any(|p| p.priority() < prio && terminating_by_preemption(&p.pod))
            .then_some("not eligible due to a terminating pod on the nominated node.")
    }
}

impl PostFilter for DefaultPreemption {
    fn post_filter(
        &self,
        fw: &Framework,
        state: &CycleState,
        pod: &Pod,
        snapshot: &Snapshot,
        statuses: &NodeToStatus,
    ) -> PostFilterResult {
        if let Some(reason) = self.not_eligible(pod, snapshot, statuses) {
            return failure(reason.to_string(), Nominating::Keep);
        }
        let now = jiff::Timestamp::now().as_nanosecond();
        let all: Vec<&NodeInfo> = snapshot.nodes().collect();
        let potential: Vec<&NodeInfo> = all
            .iter()
            .copied()
            .filter(|n| {
                statuses
                    .get(&n.name)
                    .is_some_and(|s| s.code() == Code::Unschedulable)
            })
            .collect();
        let mut failed = NodeToStatus {
            explicit: Default::default(),
            absent: Some(Status::unresolvable(NOT_HELPFUL)),
        };
        let (mut ok, mut violating) = (Vec::new(), Vec::new());
        let wanted = self.num_candidates(potential.len());
        let offset = random_offset(potential.len());
        for i in 0..potential.len() {
            let node = potential[(offset + i) % potential.len()];
            match select_victims(fw, state, pod, node, snapshot, now) {
                Ok(c) if c.pdb_violations == 0 => ok.push(c),
                Ok(c) => violating.push(c),
                Err(s) => {
                    failed.explicit.insert(node.name.clone(), s);
                }
            }
            if !ok.is_empty() && ok.len() + violating.len() >= wanted {
                break;
            }
        }
        ok.extend(violating);
        let Some(best) = pick(ok, now) else {
            // Clear a nomination the pod may have from an earlier preemption.
            let fit = FitError {
                num_all_nodes: all.len(),
                node_to_status: failed,
                ..Default::default()
            };
            return failure(fit.message(), Nominating::Override(String::new()));
        };
        let prio = pod_priority(pod);
        // Lower-priority pods nominated there may no longer fit: let them look again.
        let clear_nominations = snapshot
            .nominator
            .pods_on(&best.node)
            .iter()
            .filter(|p| p.priority() < prio)
            .cloned()
            .collect();
        PostFilterResult {
            nominating: Nominating::Override(best.node),
            victims: best.victims,
            clear_nominations,
            status: Status::success(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Profile;
    use crate::explain::Explanation;
    use crate::framework::runtime::{Cursor, Outcome};
    use crate::framework::testing::{NodeBuilder, PodBuilder};
    use crate::plugins::registry::Handle;
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;

    fn preempt_in(snapshot: &Snapshot, pod: Pod) -> PostFilterResult {
        let fw = Profile::default()
            .framework(&Handle::default(), None)
            .unwrap();
        let mut expl = Explanation::default();
        let (outcome, state) = fw.schedule(&pod, snapshot, &mut Cursor::seeded(1), &mut expl);
        let Outcome::Unfit(fit) = outcome else {
            panic!("expected no fit")
        };
        fw.run_post_filter(&state, &pod, snapshot, &fit.node_to_status)
            .unwrap()
    }

    fn preempt(nodes: Vec<NodeBuilder>, existing: Vec<Pod>, pod: Pod) -> PostFilterResult {
        preempt_in(
            &Snapshot::from_objects(nodes.into_iter().map(NodeBuilder::obj).collect(), existing),
            pod,
        )
    }

    fn victims(r: &PostFilterResult) -> Vec<String> {
        let mut v: Vec<String> = r.victims.iter().map(|v| v.key.clone()).collect();
        v.sort();
        v
    }

    fn pdb(name: &str, app: &str, allowed: i32) -> PodDisruptionBudget {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": app}}}, "status": {"disruptionsAllowed": allowed,
            "currentHealthy": 1, "desiredHealthy": 1, "expectedPods": 1}}))
        .unwrap()
    }

    #[test]
    fn evicts_the_lowest_priority_pod_that_makes_room() {
        let nodes = vec![
            NodeBuilder::new("n1").capacity("2", "4Gi", "10"),
            NodeBuilder::new("n2").capacity("2", "4Gi", "10"),
        ];
        let existing = vec![
            PodBuilder::new("low")
                .priority(1)
                .node("n1")
                .container_req("1", "")
                .obj(),
            PodBuilder::new("mid")
                .priority(5)
                .node("n1")
                .container_req("1", "")
                .obj(),
            PodBuilder::new("high")
                .priority(50)
                .node("n2")
                .container_req("2", "")
                .obj(),
        ];
        let r = preempt(
            nodes,
            existing,
            PodBuilder::new("p")
                .priority(10)
                .container_req("1", "")
                .obj(),
        );
        assert!(r.status.is_success());
        assert_eq!(r.nominated_node(), Some("n1"));
        assert_eq!(victims(&r), ["default/low"], "the reprieve keeps mid");
    }

    #[test]
    fn picks_the_node_with_the_lowest_priority_victims() {
        let nodes = vec![
            NodeBuilder::new("n1").capacity("1", "4Gi", "10"),
            NodeBuilder::new("n2").capacity("1", "4Gi", "10"),
        ];
        let existing = vec![
            PodBuilder::new("a")
                .priority(5)
                .node("n1")
                .container_req("1", "")
                .obj(),
            PodBuilder::new("b")
                .priority(3)
                .node("n2")
                .container_req("1", "")
                .obj(),
        ];
        let r = preempt(
            nodes,
            existing,
            PodBuilder::new("p")
                .priority(10)
                .container_req("1", "")
                .obj(),
        );
        assert_eq!(r.nominated_node(), Some("n2"));
        assert_eq!(victims(&r), ["default/b"]);
    }

    #[test]
    fn a_node_whose_victims_violate_a_budget_is_avoided() {
        // b has the lower priority, but its budget allows no disruption.
        let nodes = vec![
            NodeBuilder::new("n1").capacity("1", "4Gi", "10"),
            NodeBuilder::new("n2").capacity("1", "4Gi", "10"),
        ];
        let existing = vec![
            PodBuilder::new("a")
                .label("app", "a")
                .priority(5)
                .node("n1")
                .container_req("1", "")
                .obj(),
            PodBuilder::new("b")
                .label("app", "b")
                .priority(3)
                .node("n2")
                .container_req("1", "")
                .obj(),
        ];
        let mut snapshot =
            Snapshot::from_objects(nodes.into_iter().map(NodeBuilder::obj).collect(), existing);
        snapshot.pdbs.insert(
            "default/b".into(),
            Arc::new(DisruptionBudget::new(&pdb("b", "b", 0))),
        );
        let r = preempt_in(
            &snapshot,
            PodBuilder::new("p")
                .priority(10)
                .container_req("1", "")
                .obj(),
        );
        assert_eq!(r.nominated_node(), Some("n1"));
        // With room in the budget, b is the victim again.
        snapshot.pdbs.insert(
            "default/b".into(),
            Arc::new(DisruptionBudget::new(&pdb("b", "b", 1))),
        );
        let r = preempt_in(
            &snapshot,
            PodBuilder::new("p")
                .priority(10)
                .container_req("1", "")
                .obj(),
        );
        assert_eq!(r.nominated_node(), Some("n2"));
    }

    #[test]
    fn budget_violating_victims_are_reprieved_first() {
        // Either pod alone makes room: the one under a budget is given back.
        let existing = vec![
            PodBuilder::new("guarded")
                .label("app", "g")
                .priority(1)
                .node("n1")
                .container_req("1", "")
                .obj(),
            PodBuilder::new("free")
                .priority(1)
                .node("n1")
                .container_req("1", "")
                .obj(),
        ];
        let mut snapshot = Snapshot::from_objects(
            vec![NodeBuilder::new("n1").capacity("2", "4Gi", "10").obj()],
            existing,
        );
        snapshot.pdbs.insert(
            "default/g".into(),
            Arc::new(DisruptionBudget::new(&pdb("g", "g", 0))),
        );
        let r = preempt_in(
            &snapshot,
            PodBuilder::new("p")
                .priority(10)
                .container_req("1", "")
                .obj(),
        );
        assert_eq!(victims(&r), ["default/free"]);
    }

    #[test]
    fn no_lower_priority_pods_means_no_victims() {
        let nodes = vec![
            NodeBuilder::new("n1").capacity("1", "4Gi", "10"),
            NodeBuilder::new("big")
                .capacity("1", "4Gi", "10")
                .taint("x", "y", "NoSchedule"),
        ];
        let existing = vec![
            PodBuilder::new("a")
                .priority(50)
                .node("n1")
                .container_req("1", "")
                .obj(),
        ];
        let r = preempt(
            nodes,
            existing,
            PodBuilder::new("p")
                .priority(10)
                .container_req("1", "")
                .obj(),
        );
        assert!(!r.status.is_success());
        assert_eq!(
            r.nominating,
            Nominating::Override(String::new()),
            "a failed preemption clears the nomination"
        );
        assert_eq!(
            r.status.message(),
            "no new claims to deallocate, preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn when_evicting_does_not_help_the_filter_says_why() {
        // Evicting low frees 1 CPU; the pod wants 2 and high (more important) keeps 1.
        let nodes = vec![NodeBuilder::new("n1").capacity("2", "4Gi", "10")];
        let existing = vec![
            PodBuilder::new("low")
                .priority(1)
                .node("n1")
                .container_req("1", "")
                .obj(),
            PodBuilder::new("high")
                .priority(50)
                .node("n1")
                .container_req("1", "")
                .obj(),
        ];
        let r = preempt(
            nodes,
            existing,
            PodBuilder::new("p")
                .priority(10)
                .container_req("2", "")
                .obj(),
        );
        assert_eq!(
            r.status.message(),
            "no new claims to deallocate, preemption: 0/1 nodes are available: 1 Insufficient cpu."
        );
    }

    #[test]
    fn preemption_policy_never() {
        let nodes = vec![NodeBuilder::new("n1").capacity("1", "4Gi", "10")];
        let existing = vec![
            PodBuilder::new("a")
                .priority(1)
                .node("n1")
                .container_req("1", "")
                .obj(),
        ];
        let mut pod = PodBuilder::new("p")
            .priority(10)
            .container_req("1", "")
            .obj();
        pod.spec.as_mut().unwrap().preemption_policy = Some("Never".into());
        let r = preempt(nodes, existing, pod);
        assert_eq!(
            r.status.message(),
            "no new claims to deallocate, preemption: not eligible due to preemptionPolicy=Never."
        );
        assert_eq!(r.nominating, Nominating::Keep);
    }

    #[test]
    fn a_victim_still_terminating_on_the_nominated_node_blocks_more_preemption() {
        let mut victim = PodBuilder::new("low")
            .priority(1)
            .node("n1")
            .container_req("1", "")
            .obj();
        victim.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        victim.status = serde_json::from_value(serde_json::json!({"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"}]})).unwrap();
        let nodes = vec![NodeBuilder::new("n1").capacity("1", "4Gi", "10")];
        let pod = PodBuilder::new("p")
            .priority(10)
            .container_req("1", "")
            .nominated("n1")
            .obj();
        let r = preempt(nodes, vec![victim], pod);
        assert_eq!(
            r.status.message(),
            "no new claims to deallocate, preemption: not eligible due to a terminating pod on the nominated node."
        );
        assert_eq!(r.nominating, Nominating::Keep);
    }

    #[test]
    fn a_pod_without_a_start_time_counts_as_the_latest_started() {
        let now = jiff::Timestamp::now().as_nanosecond();
        let started = PodBuilder::new("s").priority(1).info();
        let mut s = (*started.pod).clone();
        s.status = serde_json::from_value(serde_json::json!({"startTime": "2020-01-01T00:00:00Z"}))
            .unwrap();
        let started = Arc::new(PodInfo::new(Arc::new(s)));
        let not_started = PodBuilder::new("n").priority(1).info();
        assert_eq!(
            more_important(&started, &not_started, now),
            std::cmp::Ordering::Less,
            "the started pod is more important"
        );
        assert_eq!(start_time(&not_started, now), now);
    }

    #[test]
    fn candidate_counts() {
        let p = DefaultPreemption::new(Args::default()).unwrap();
        assert_eq!((p.num_candidates(50), p.num_candidates(5000)), (50, 500));
        assert!(
            DefaultPreemption::new(Args {
                min_candidate_nodes_percentage: 0,
                min_candidate_nodes_absolute: 0
            })
            .is_err()
        );
    }
}
