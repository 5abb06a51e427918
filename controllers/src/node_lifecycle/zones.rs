//! Zone disruption states: whether the node controller may taint nodes `NoExecute` (and so
//! have their pods evicted), as upstream's `handleDisruption` and `ComputeZoneState`.
//!
//! Nodes are grouped by zone (`topology.kubernetes.io/region` and `.../zone`; nodes
//! labelled `node.kubernetes.io/exclude-disruption` are left out). A zone is
//!
//! - **FullDisruption** when none of its nodes is Ready;
//! - **PartialDisruption** when more than 2 are not Ready and they are at least 55 %
//!   (`--unhealthy-zone-threshold`);
//! - **Normal** otherwise.
//!
//! What that allows:
//!
//! | state | new `NoExecute` taints |
//! |---|---|
//! | Normal | yes |
//! | PartialDisruption | only in zones of more than 50 nodes (`--large-cluster-size-threshold`), slowly |
//! | FullDisruption, some other zone not | yes (the zone's own nodes are down, not the control plane's view) |
//! | FullDisruption in *every* zone | no, and existing ones are removed: when every node looks down, the fault is more likely the control plane's, and evicting everything would make it worse |
//!
//! When the cluster leaves full disruption every node gets a fresh grace period, as
//! upstream resets its probe timestamps.
//!
//! Upstream also rate-limits tainting in a Normal zone (`--node-eviction-rate`, 0.1 nodes
//! per second) and a large partially disrupted one (0.01); kubesim taints at once.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;

const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
const LABEL_REGION: &str = "topology.kubernetes.io/region";
const LABEL_ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
const LABEL_REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";
/// Nodes with this label are left out of the disruption count.
pub const EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";
/// `--unhealthy-zone-threshold`.
const UNHEALTHY_ZONE_THRESHOLD: f64 = 0.55;
/// `--large-cluster-size-threshold`.
const LARGE_CLUSTER_THRESHOLD: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Normal,
    PartialDisruption,
    FullDisruption,
}

/// `nodetopology.GetZoneKey`: region and zone (beta labels first), `""` without either.
pub fn zone_key(node: &Node) -> String {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let zone = labels
        .get(LABEL_ZONE_BETA)
        .or_else(|| labels.get(LABEL_ZONE))
        .cloned()
        .unwrap_or_default();
    let region = labels
        .get(LABEL_REGION_BETA)
        .or_else(|| labels.get(LABEL_REGION))
        .cloned()
        .unwrap_or_default();
    if zone.is_empty() && region.is_empty() {
        String::new()
    } else {
        format!("{region}:\0:{zone}")
    }
}

/// `ComputeZoneState` from whether each node of the zone is Ready.
pub fn zone_state(ready: &[bool]) -> State {
    let ready_count = ready.iter().filter(|r| **r).count();
    let not_ready = ready.len() - ready_count;
    if ready_count == 0 && not_ready > 0 {
        State::FullDisruption
    } else if not_ready > 2 && not_ready as f64 / ready.len() as f64 >= UNHEALTHY_ZONE_THRESHOLD {
        State::PartialDisruption
    } else {
        State::Normal
    }
}

/// What one pass of the controller may do about `NoExecute` taints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// Zones (by key) in which new `NoExecute` taints may be added.
    pub may_taint: BTreeMap<String, bool>,
    /// Every zone is fully disrupted: remove the controller's `NoExecute` taints.
    pub untaint_all: bool,
    /// The cluster just left full disruption: heartbeats before this count as this.
    pub fresh_grace_since: Option<Timestamp>,
}

impl Decision {
    pub fn may_taint(&self, zone: &str) -> bool {
        self.may_taint.get(zone).copied().unwrap_or(true)
    }
}

/// The zone states seen by the last pass.
#[derive(Debug, Default)]
pub struct Tracker {
    states: BTreeMap<String, State>,
}

impl Tracker {
    /// Record this pass's zones (zone key → whether each of its nodes is Ready) and decide.
    pub fn observe(&mut self, zones: &BTreeMap<String, Vec<bool>>, now: Timestamp) -> Decision {
        let new: BTreeMap<String, State> = zones
            .iter()
            .map(|(zone, ready)| (zone.clone(), zone_state(ready)))
            .collect();
        let all_down = !new.is_empty() && new.values().all(|s| *s == State::FullDisruption);
        let were_down =
            !self.states.is_empty() && self.states.values().all(|s| *s == State::FullDisruption);
        for (zone, state) in &new {
            if self.states.get(zone) != Some(state) {
                tracing::info!(zone = zone.replace('\0', ""), ?state, "zone changed state");
            }
        }
        let mut decision = Decision::default();
        if all_down {
            if !were_down {
                tracing::warn!(
                    "every node is not Ready: entering full disruption mode, no pod is evicted"
                );
            }
            decision.untaint_all = true;
            decision.may_taint = new.keys().map(|z| (z.clone(), false)).collect();
        } else {
            if were_down {
                tracing::info!("some nodes are Ready: leaving full disruption mode");
                decision.fresh_grace_since = Some(now);
            }
            decision.may_taint = new
                .iter()
                .map(|(zone, state)| {
                    let size = zones.get(zone).map_or(0, Vec::len);
                    (
                        zone.clone(),
                        *state != State::PartialDisruption || size > LARGE_CLUSTER_THRESHOLD,
                    )
                })
                .collect();
        }
        self.states = new;
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    #[test]
    fn zone_states_follow_upstream_thresholds() {
        assert_eq!(zone_state(&[false]), State::FullDisruption);
        assert_eq!(zone_state(&[true, false]), State::Normal);
        assert_eq!(
            zone_state(&[true, false, false]),
            State::Normal,
            "not more than 2 down"
        );
        assert_eq!(
            zone_state(&[true, true, false, false, false]),
            State::PartialDisruption,
            "3 of 5 = 60 %"
        );
        assert_eq!(
            zone_state(&[true, true, true, false, false, false]),
            State::Normal,
            "3 of 6 = 50 %"
        );
        assert_eq!(zone_state(&[]), State::Normal);
    }

    #[test]
    fn zone_keys_join_region_and_zone() {
        let node: Node = serde_json::from_value(
            serde_json::json!({"metadata": {"labels": {LABEL_ZONE: "a", LABEL_REGION: "r"}}}),
        )
        .unwrap();
        assert_eq!(zone_key(&node), "r:\0:a");
        assert_eq!(zone_key(&Node::default()), "");
    }

    #[test]
    fn every_zone_down_stops_tainting_until_one_node_is_back() {
        let mut t = Tracker::default();
        let zones = |a: &[bool], b: &[bool]| {
            BTreeMap::from([("a".to_string(), a.to_vec()), ("b".to_string(), b.to_vec())])
        };
        // One zone down, the other up: the down zone's node may be tainted.
        let d = t.observe(&zones(&[false], &[true]), ts(0));
        assert!(d.may_taint("a") && !d.untaint_all && d.fresh_grace_since.is_none());
        // Both down: nothing tainted, existing taints go.
        let d = t.observe(&zones(&[false], &[false]), ts(1));
        assert!(!d.may_taint("a") && !d.may_taint("b") && d.untaint_all);
        let d = t.observe(&zones(&[false], &[false]), ts(2));
        assert!(d.untaint_all);
        // One back: normal again, with a fresh grace period for everyone.
        let d = t.observe(&zones(&[false], &[true]), ts(3));
        assert!(d.may_taint("a") && !d.untaint_all);
        assert_eq!(d.fresh_grace_since, Some(ts(3)));
        assert_eq!(
            t.observe(&zones(&[false], &[true]), ts(4))
                .fresh_grace_since,
            None
        );
    }

    #[test]
    fn a_small_partially_disrupted_zone_is_not_tainted() {
        let mut t = Tracker::default();
        let zones = BTreeMap::from([
            ("a".to_string(), vec![true, false, false, false]),
            ("b".to_string(), vec![true]),
        ]);
        let d = t.observe(&zones, ts(0));
        assert!(!d.may_taint("a") && d.may_taint("b") && !d.untaint_all);
        let mut big = vec![false; 40];
        big.extend([true; 11]);
        let d = t.observe(&BTreeMap::from([("a".to_string(), big)]), ts(1));
        assert!(
            d.may_taint("a"),
            "a zone of more than 50 nodes keeps evicting, slowly upstream"
        );
    }
}
