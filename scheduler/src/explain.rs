//! The explanation annotation: each scheduling attempt's full result, on the pod.
//!
//! kube-scheduler tells only the outcome (an Event, a condition message). kubesim also
//! records, in the annotation [`ANNOTATION`] on the pod, what every plugin said: which
//! filter rejected which node and why, each score plugin's raw, normalised and weighted
//! score per node, and the pick. It is written in the same write as the bind (the
//! Binding's annotations, which the API server copies onto the pod), or with a metadata
//! patch when the pod stays Pending. The JSON is documented in docs/scheduler.md.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::framework::Status;

/// The annotation key.
pub const ANNOTATION: &str = "scheduler.kubesim.io/explanation";
/// At most this many rejected nodes are listed (the message counts them all).
pub const MAX_FILTERED: usize = 50;
/// Every scored node is listed when at most this many were scored: each node of a
/// classroom-sized cluster, so the learner sees all their scores.
pub const ALL_SCORED_UP_TO: usize = 10;
/// Of more, only the best this many (and the pick, if not among them): a row is about
/// 500 bytes, and the explanation travels with every bind and every watch event of the
/// pod, so a large cluster's stays about 2 KB.
pub const MAX_SCORED: usize = 3;

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// Not serialized: whether per-plugin detail is gathered at all.
    #[serde(skip)]
    pub enabled: bool,
    pub scheduler: String,
    /// RFC 3339 time of the attempt.
    pub time: String,
    /// 1 for the first attempt at this pod.
    pub attempt: u32,
    /// `Scheduled`, `Unschedulable` or `Error`.
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_node: Option<String>,
    /// Nodes in the cluster.
    pub nodes: usize,
    /// How many feasible nodes the sampling looked for (`percentageOfNodesToScore`).
    #[serde(skip_serializing_if = "is_zero")]
    pub nodes_to_find: usize,
    /// Nodes run through Filter.
    pub evaluated_nodes: usize,
    /// Nodes that passed every Filter.
    pub feasible_nodes: usize,
    /// The pod's `status.nominatedNodeName`, when it passed Filter and was taken directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominated_node: Option<String>,
    /// A PreFilter plugin that rejected the pod before any node was looked at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_filter: Option<FilteredNode>,
    /// Rejected nodes: which Filter plugin and why (first [`MAX_FILTERED`], by name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filtered: Vec<FilteredNode>,
    #[serde(skip_serializing_if = "is_zero")]
    pub filtered_not_shown: usize,
    /// True when only one node was feasible: upstream then skips scoring.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub scoring_skipped: bool,
    /// Scored nodes, best first (the selected node always among them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scores: Vec<NodeScores>,
    #[serde(skip_serializing_if = "is_zero")]
    pub scores_not_shown: usize,
    /// The PodScheduled condition message when the pod was not scheduled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preemption: Option<Preemption>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FilteredNode {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    pub plugin: String,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeScores {
    pub node: String,
    /// Sum of the weighted scores.
    pub total: i64,
    pub plugins: BTreeMap<String, PluginScore>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PluginScore {
    /// What Score returned.
    pub raw: i64,
    /// After NormalizeScore, 0..=100.
    pub normalized: i64,
    pub weight: i64,
    /// normalized × weight.
    pub weighted: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preemption {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nominated_node: Option<String>,
    /// `namespace/name` of each pod deleted to make room.
    pub victims: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl Explanation {
    pub fn new(enabled: bool, scheduler: &str, attempt: u32) -> Self {
        Explanation {
            enabled,
            scheduler: scheduler.to_string(),
            attempt,
            time: now_millis(),
            ..Default::default()
        }
    }

    pub fn record_filtered(&mut self, statuses: &BTreeMap<String, Status>) {
        if !self.enabled {
            return;
        }
        self.filtered = statuses
            .iter()
            .take(MAX_FILTERED)
            .map(|(node, s)| FilteredNode {
                node: node.clone(),
                plugin: s.plugin().to_string(),
                reasons: s.reasons().to_vec(),
            })
            .collect();
        self.filtered_not_shown = statuses.len().saturating_sub(MAX_FILTERED);
    }

    /// The listed rows (from [`rows_to_show`]) of `scored` nodes.
    pub fn record_scores(&mut self, rows: Vec<NodeScores>, scored: usize) {
        self.scores_not_shown = scored.saturating_sub(rows.len());
        self.scores = rows;
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Now, to the millisecond (`2026-11-22T03:00:00.123Z`).
fn now_millis() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Which scored nodes to list, best first: all of them up to [`ALL_SCORED_UP_TO`], else
/// the best [`MAX_SCORED`] by total (among equal
/// totals the selected node first, then in the order they were evaluated), and the
/// selected one in any case. Only these get rows, so a cycle over thousands of nodes
/// builds a few.
pub fn rows_to_show(totals: &[i64], selected: usize) -> Vec<usize> {
    let order = |a: usize, b: usize| {
        totals[b]
            .cmp(&totals[a])
            .then_with(|| (b == selected).cmp(&(a == selected)))
            .then_with(|| a.cmp(&b))
    };
    // One pass keeping the best few in order: most nodes lose to the last kept at once.
    let keep = if totals.len() <= ALL_SCORED_UP_TO {
        totals.len()
    } else {
        MAX_SCORED
    };
    let mut best: Vec<usize> = Vec::with_capacity(keep + 1);
    for i in 0..totals.len() {
        if best.len() == keep && best.last().is_some_and(|&w| order(i, w).is_ge()) {
            continue;
        }
        let at = best
            .iter()
            .position(|&b| order(i, b).is_lt())
            .unwrap_or(best.len());
        best.insert(at, i);
        best.truncate(keep);
    }
    if selected < totals.len() && !best.contains(&selected) {
        best.push(selected);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_nodes_are_capped_and_counted() {
        let statuses: BTreeMap<String, Status> = (0..60)
            .map(|i| {
                (
                    format!("n{i:02}"),
                    Status::unschedulable("Insufficient cpu").with_plugin("NodeResourcesFit"),
                )
            })
            .collect();
        let mut e = Explanation::new(true, "default-scheduler", 1);
        e.record_filtered(&statuses);
        assert_eq!((e.filtered.len(), e.filtered_not_shown), (MAX_FILTERED, 10));
        assert_eq!(
            e.filtered[0],
            FilteredNode {
                node: "n00".into(),
                plugin: "NodeResourcesFit".into(),
                reasons: vec!["Insufficient cpu".into()]
            }
        );
        let mut off = Explanation::new(false, "default-scheduler", 1);
        off.record_filtered(&statuses);
        assert!(off.filtered.is_empty());
    }

    #[test]
    fn scores_keep_the_best_and_the_selected_node() {
        let mut names: Vec<String> = (0..13).map(|i| format!("n{i:02}")).collect();
        let mut totals: Vec<i64> = (0..13).collect();
        // The selected node ties with the best: it comes first.
        names.push("chosen".into());
        totals.push(12);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let shown = rows_to_show(&totals, 13);
        let order: Vec<&str> = shown.iter().map(|&i| refs[i]).collect();
        assert_eq!(order, ["chosen", "n12", "n11"]);
        assert_eq!(shown.len(), MAX_SCORED);
        // A selected node outside the best is listed too, last.
        let shown = rows_to_show(&totals, 0);
        assert_eq!((shown.len(), shown.last()), (MAX_SCORED + 1, Some(&0)));
        let mut e = Explanation::new(true, "default-scheduler", 1);
        let rows = shown
            .iter()
            .map(|&i| NodeScores {
                node: refs[i].to_string(),
                total: totals[i],
                plugins: BTreeMap::new(),
            })
            .collect();
        e.record_scores(rows, 14);
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["scoresNotShown"], 10);
        // A classroom cluster: every node, best first.
        let small: Vec<i64> = (0..ALL_SCORED_UP_TO as i64).collect();
        let shown = rows_to_show(&small, 0);
        assert_eq!(shown, (0..ALL_SCORED_UP_TO).rev().collect::<Vec<_>>());
        assert!(
            json["time"].as_str().unwrap().ends_with('Z')
                && json["time"].as_str().unwrap().len() <= 24,
            "{}",
            json["time"]
        );
        assert!(json.get("enabled").is_none());
    }
}
