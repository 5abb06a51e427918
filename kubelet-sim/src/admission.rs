//! Admission: whether a node takes a pod bound to it, as the kubelet's predicate admit
//! handler decides (`pkg/kubelet/lifecycle/predicate.go`) before running anything.
//!
//! The scheduler normally sends only pods that fit, but a pod created with
//! `spec.nodeName` skips it. The kubelet checks, against the pods it already admitted
//! (not terminal): room (`pods`, `cpu`, `memory`, `ephemeral-storage` requests within
//! allocatable), the pod's node selector and required node affinity, free host ports,
//! and `NoExecute` taints the pod does not tolerate. The first failure rejects the pod:
//! it becomes `Failed` with the reason (`OutOfcpu`) and `Pod was rejected: <message>`.
//!
//! Worked example: a node with 4 CPUs running a pod that requests 3500m gets a pod
//! requesting 1 CPU: `OutOfcpu`, "Node didn't have enough resource: cpu, requested: 1000,
//! used: 3500, capacity: 4000".

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, NodeSelectorRequirement, Pod, Taint, Toleration};

use crate::behaviour::parse_quantity;

/// What a pod asks of its node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Requests {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// `(protocol, hostPort)` of every port the pod takes on the node.
    pub host_ports: Vec<(String, i32)>,
}

/// What a node offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocatable {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub pods: i64,
}

/// The node as the kubelet sees it for admission.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub allocatable: Allocatable,
}

/// Why a pod was rejected: the pod's `status.reason` and the message after
/// "Pod was rejected: ".
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: String,
    pub message: String,
}

/// A quantity in whole units (rounded up), or in thousandths for `milli`.
pub fn value(quantity: &str, milli: bool) -> i64 {
    let v = parse_quantity(quantity).unwrap_or(0.0) * if milli { 1000.0 } else { 1.0 };
    // `as` saturates; the quantities here are far below i64::MAX anyway.
    v.ceil() as i64
}

fn container_requests(c: &Container) -> (i64, i64, i64) {
    let resources = c.resources.as_ref();
    let get = |name: &str, milli: bool| {
        // A request not given defaults to the limit (API defaulting).
        let q = resources
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get(name))
            .or_else(|| {
                resources
                    .and_then(|r| r.limits.as_ref())
                    .and_then(|l| l.get(name))
            });
        q.map_or(0, |q| value(&q.0, milli))
    };
    (
        get("cpu", true),
        get("memory", false),
        get("ephemeral-storage", false),
    )
}

/// A pod's effective requests, as upstream's `PodRequests`: the sum over its containers,
/// at least the largest init container's, plus the pod overhead.
pub fn requests(pod: &Pod) -> Requests {
    let Some(spec) = pod.spec.as_ref() else {
        return Requests::default();
    };
    let mut sum = (0i64, 0i64, 0i64);
    for c in &spec.containers {
        let (cpu, mem, eph) = container_requests(c);
        sum = (
            sum.0.saturating_add(cpu),
            sum.1.saturating_add(mem),
            sum.2.saturating_add(eph),
        );
    }
    for c in spec.init_containers.iter().flatten() {
        let (cpu, mem, eph) = container_requests(c);
        sum = (sum.0.max(cpu), sum.1.max(mem), sum.2.max(eph));
    }
    let overhead = |name: &str, milli: bool| {
        spec.overhead
            .as_ref()
            .and_then(|o| o.get(name))
            .map_or(0, |q| value(&q.0, milli))
    };
    let host_ports = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            p.host_port
                .filter(|h| *h > 0)
                .map(|h| (p.protocol.clone().unwrap_or_else(|| "TCP".into()), h))
        })
        .collect();
    Requests {
        milli_cpu: sum.0.saturating_add(overhead("cpu", true)),
        memory: sum.1.saturating_add(overhead("memory", false)),
        ephemeral_storage: sum.2.saturating_add(overhead("ephemeral-storage", false)),
        host_ports,
    }
}

fn requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => {
            matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v > x)
        }
        "Lt" => {
            matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(v), Some(x)) if v < x)
        }
        _ => false,
    }
}

/// The pod's `nodeSelector` and required node affinity against the node, as
/// upstream's `GetRequiredNodeAffinity(pod).Match(node)`.
fn affinity_matches(pod: &Pod, node: &NodeView) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| node.labels.get(k) == Some(v));
    let terms = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|s| &s.node_selector_terms);
    let affinity_ok = terms.is_none_or(|terms| {
        terms.iter().any(|t| {
            let expressions = t.match_expressions.iter().flatten();
            let fields = t.match_fields.iter().flatten();
            let nonempty = t.match_expressions.as_ref().is_some_and(|e| !e.is_empty())
                || t.match_fields.as_ref().is_some_and(|f| !f.is_empty());
            nonempty
                && expressions
                    .clone()
                    .all(|r| requirement_matches(r, node.labels.get(&r.key).map(String::as_str)))
                && fields.clone().all(|r| {
                    requirement_matches(r, (r.key == "metadata.name").then_some(node.name.as_str()))
                })
        })
    });
    selector_ok && affinity_ok
}

/// Whether a NoExecute taint of the node is not tolerated by the pod.
fn untolerated_no_execute(pod: &Pod, taints: &[Taint]) -> bool {
    let tolerations = pod
        .spec
        .as_ref()
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    // Upstream's `ToleratesTaint`.
    let tolerates = |t: &Toleration, taint: &Taint| {
        t.effect
            .as_deref()
            .is_none_or(|e| e.is_empty() || e == taint.effect)
            && t.key
                .as_deref()
                .is_none_or(|k| k.is_empty() || k == taint.key)
            && match t.operator.as_deref() {
                None | Some("" | "Equal") => {
                    t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
                }
                Some("Exists") => true,
                Some(_) => false,
            }
    };
    taints
        .iter()
        .filter(|t| t.effect == "NoExecute")
        .any(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

/// Admit `pod` to `node`, which runs `others` (admitted, not terminal) — or say why not.
pub fn admit(pod: &Pod, node: &NodeView, others: &[&Requests]) -> Result<Requests, Rejection> {
    let wanted = requests(pod);
    let a = &node.allocatable;
    let insufficient = |resource: &str, requested: i64, used: i64, capacity: i64| Rejection {
        reason: format!("OutOf{resource}"),
        message: format!(
            "Node didn't have enough resource: {resource}, requested: {requested}, used: {used}, capacity: {capacity}"
        ),
    };
    let pods = i64::try_from(others.len()).unwrap_or(i64::MAX);
    if pods.saturating_add(1) > a.pods {
        return Err(insufficient("pods", 1, pods, a.pods));
    }
    let fits = |resource: &str, get: fn(&Requests) -> i64, capacity: i64| {
        let (requested, used) = (
            get(&wanted),
            others
                .iter()
                .fold(0i64, |sum, r| sum.saturating_add(get(r))),
        );
        if requested > 0 && requested > capacity.saturating_sub(used) {
            Err(insufficient(resource, requested, used, capacity))
        } else {
            Ok(())
        }
    };
    fits("cpu", |r| r.milli_cpu, a.milli_cpu)?;
    fits("memory", |r| r.memory, a.memory)?;
    fits(
        "ephemeral-storage",
        |r| r.ephemeral_storage,
        a.ephemeral_storage,
    )?;
    let predicate = |name: &str, why: &str| Rejection {
        reason: name.to_string(),
        message: format!("Predicate {name} failed: {why}"),
    };
    if !affinity_matches(pod, node) {
        return Err(predicate(
            "NodeAffinity",
            "node(s) didn't match Pod's node affinity/selector",
        ));
    }
    if wanted
        .host_ports
        .iter()
        .any(|p| others.iter().any(|o| o.host_ports.contains(p)))
    {
        return Err(predicate(
            "NodePorts",
            "node(s) didn't have free ports for the requested pod ports",
        ));
    }
    if untolerated_no_execute(pod, &node.taints) {
        return Err(predicate(
            "TaintToleration",
            "node(s) had taints that the pod didn't tolerate",
        ));
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> NodeView {
        NodeView {
            name: "n".into(),
            labels: BTreeMap::from([("zone".to_string(), "a".to_string())]),
            taints: Vec::new(),
            allocatable: Allocatable {
                milli_cpu: 4000,
                memory: 16 << 30,
                ephemeral_storage: 100 << 30,
                pods: 2,
            },
        }
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).unwrap()
    }

    fn one(cpu: &str) -> Pod {
        pod(json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}))
    }

    #[test]
    fn resources_are_checked_against_what_runs() {
        let running = requests(&one("3500m"));
        assert_eq!(running.milli_cpu, 3500);
        assert_eq!(
            admit(&one("1"), &node(), &[&running]),
            Err(Rejection {
                reason: "OutOfcpu".into(),
                message: "Node didn't have enough resource: cpu, requested: 1000, used: 3500, capacity: 4000".into()
            })
        );
        assert!(admit(&one("500m"), &node(), &[&running]).is_ok());
        let full = [&running, &running];
        assert_eq!(
            admit(&one("1m"), &node(), &full).unwrap_err().reason,
            "OutOfpods"
        );
        let memory = pod(
            json!({"containers": [{"name": "c", "resources": {"limits": {"memory": "20Gi"}}}]}),
        );
        assert_eq!(
            admit(&memory, &node(), &[]).unwrap_err().reason,
            "OutOfmemory"
        );
        // Init containers count by their largest, not their sum.
        let init = pod(
            json!({"initContainers": [{"name": "i", "resources": {"requests": {"cpu": "3"}}}], "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}),
        );
        assert_eq!(requests(&init).milli_cpu, 3000);
    }

    #[test]
    fn selectors_ports_and_taints() {
        let elsewhere = pod(json!({"nodeSelector": {"zone": "b"}, "containers": [{"name": "c"}]}));
        let rejected = admit(&elsewhere, &node(), &[]).unwrap_err();
        assert_eq!(rejected.reason, "NodeAffinity");
        assert_eq!(
            rejected.message,
            "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
        );
        let affinity = pod(
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n"]}]}]}}}, "containers": [{"name": "c"}]}),
        );
        assert!(admit(&affinity, &node(), &[]).is_ok());
        let port = pod(
            json!({"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
        );
        let taken = requests(&port);
        assert_eq!(
            admit(&port, &node(), &[&taken]).unwrap_err().reason,
            "NodePorts"
        );
        let mut tainted = node();
        tainted.taints = vec![Taint {
            key: "k".into(),
            value: Some("v".into()),
            effect: "NoExecute".into(),
            time_added: None,
        }];
        assert_eq!(
            admit(&one("1m"), &tainted, &[]).unwrap_err().reason,
            "TaintToleration"
        );
        let tolerates = pod(
            json!({"tolerations": [{"key": "k", "operator": "Exists"}], "containers": [{"name": "c"}]}),
        );
        assert!(admit(&tolerates, &tainted, &[]).is_ok());
        tainted.taints[0].effect = "NoSchedule".into();
        assert!(
            admit(&one("1m"), &tainted, &[]).is_ok(),
            "the kubelet only minds NoExecute"
        );
    }
}
