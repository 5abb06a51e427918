//! Fixture builders for plugin tests, as upstream's `st.MakePod().Node("foo").Obj()`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::{Value, json};

use super::{CycleState, NodeInfo, PodInfo, Snapshot};

pub fn q(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn push(v: &mut Value, path: &[&str], item: Value) {
    let mut cur = v;
    for p in path {
        cur = cur
            .as_object_mut()
            .expect("object")
            .entry(p.to_string())
            .or_insert_with(|| json!({}));
    }
    if !cur.is_array() {
        *cur = json!([]);
    }
    cur.as_array_mut().expect("array").push(item);
}

fn set(v: &mut Value, path: &[&str], item: Value) {
    let (last, parents) = path.split_last().expect("path");
    let mut cur = v;
    for p in parents {
        cur = cur
            .as_object_mut()
            .expect("object")
            .entry(p.to_string())
            .or_insert_with(|| json!({}));
    }
    cur[*last] = item;
}

fn req(cpu: &str, mem: &str) -> Value {
    let mut r = json!({});
    if !cpu.is_empty() {
        r["cpu"] = json!(cpu);
    }
    if !mem.is_empty() {
        r["memory"] = json!(mem);
    }
    r
}

fn selector(labels: &[(&str, &str)]) -> Value {
    json!({"matchLabels": labels.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()})
}

#[derive(Clone)]
pub struct PodBuilder(Value);

impl PodBuilder {
    pub fn new(name: &str) -> Self {
        PodBuilder(
            json!({"metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}")}, "spec": {"containers": []}}),
        )
    }
    pub fn namespace(mut self, ns: &str) -> Self {
        self.0["metadata"]["namespace"] = json!(ns);
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        set(&mut self.0, &["metadata", "labels", k], json!(v));
        self
    }
    pub fn node(mut self, node: &str) -> Self {
        self.0["spec"]["nodeName"] = json!(node);
        self
    }
    pub fn priority(mut self, p: i32) -> Self {
        self.0["spec"]["priority"] = json!(p);
        self
    }
    pub fn container_req(mut self, cpu: &str, mem: &str) -> Self {
        let n = self.0["spec"]["containers"].as_array().map_or(0, Vec::len);
        push(
            &mut self.0,
            &["spec", "containers"],
            json!({"name": format!("c{n}"), "image": "nginx", "resources": {"requests": req(cpu, mem)}}),
        );
        self
    }
    /// A container requesting these resources (any names).
    pub fn container_requests(mut self, requests: &[(&str, &str)]) -> Self {
        let n = self.0["spec"]["containers"].as_array().map_or(0, Vec::len);
        let r: serde_json::Map<String, Value> = requests
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        push(
            &mut self.0,
            &["spec", "containers"],
            json!({"name": format!("c{n}"), "image": "nginx", "resources": {"requests": r}}),
        );
        self
    }
    pub fn init_image(mut self, image: &str) -> Self {
        push(
            &mut self.0,
            &["spec", "initContainers"],
            json!({"name": "init", "image": image}),
        );
        self
    }
    /// A spread constraint given as JSON (for the fields `spread` does not set).
    pub fn spread_json(mut self, constraint: Value) -> Self {
        push(
            &mut self.0,
            &["spec", "topologySpreadConstraints"],
            constraint,
        );
        self
    }
    pub fn image(mut self, image: &str) -> Self {
        let n = self.0["spec"]["containers"].as_array().map_or(0, Vec::len);
        push(
            &mut self.0,
            &["spec", "containers"],
            json!({"name": format!("c{n}"), "image": image}),
        );
        self
    }
    pub fn init_req(mut self, cpu: &str, mem: &str) -> Self {
        push(
            &mut self.0,
            &["spec", "initContainers"],
            json!({"name": "init", "image": "busybox", "resources": {"requests": req(cpu, mem)}}),
        );
        self
    }
    pub fn sidecar_req(mut self, cpu: &str) -> Self {
        push(
            &mut self.0,
            &["spec", "initContainers"],
            json!({"name": "side", "image": "envoy", "restartPolicy": "Always", "resources": {"requests": req(cpu, "")}}),
        );
        self
    }
    pub fn overhead(mut self, cpu: &str) -> Self {
        self.0["spec"]["overhead"] = json!({"cpu": cpu});
        self
    }
    pub fn host_port(mut self, port: i32, protocol: &str, ip: &str) -> Self {
        let mut p = json!({"containerPort": port, "hostPort": port, "protocol": protocol});
        if !ip.is_empty() {
            p["hostIP"] = json!(ip);
        }
        push(
            &mut self.0,
            &["spec", "containers"],
            json!({"name": format!("p{port}"), "image": "nginx", "ports": [p]}),
        );
        self
    }
    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        set(&mut self.0, &["spec", "nodeSelector", k], json!(v));
        self
    }
    pub fn toleration(mut self, key: &str, op: &str, value: &str, effect: &str) -> Self {
        let mut t = json!({"key": key, "operator": op});
        if !value.is_empty() {
            t["value"] = json!(value);
        }
        if !effect.is_empty() {
            t["effect"] = json!(effect);
        }
        push(&mut self.0, &["spec", "tolerations"], t);
        self
    }
    /// One required node selector term with one expression (terms are ORed).
    pub fn required_node_affinity(mut self, key: &str, op: &str, values: &[&str]) -> Self {
        push(
            &mut self.0,
            &[
                "spec",
                "affinity",
                "nodeAffinity",
                "requiredDuringSchedulingIgnoredDuringExecution",
                "nodeSelectorTerms",
            ],
            json!({"matchExpressions": [{"key": key, "operator": op, "values": values}]}),
        );
        self
    }
    pub fn preferred_node_affinity(
        mut self,
        weight: i32,
        key: &str,
        op: &str,
        values: &[&str],
    ) -> Self {
        push(
            &mut self.0,
            &[
                "spec",
                "affinity",
                "nodeAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
            ],
            json!({"weight": weight, "preference": {"matchExpressions": [{"key": key, "operator": op, "values": values}]}}),
        );
        self
    }
    pub fn pod_affinity(mut self, topology_key: &str, labels: &[(&str, &str)]) -> Self {
        push(
            &mut self.0,
            &[
                "spec",
                "affinity",
                "podAffinity",
                "requiredDuringSchedulingIgnoredDuringExecution",
            ],
            json!({"topologyKey": topology_key, "labelSelector": selector(labels)}),
        );
        self
    }
    pub fn pod_anti_affinity(mut self, topology_key: &str, labels: &[(&str, &str)]) -> Self {
        push(
            &mut self.0,
            &[
                "spec",
                "affinity",
                "podAntiAffinity",
                "requiredDuringSchedulingIgnoredDuringExecution",
            ],
            json!({"topologyKey": topology_key, "labelSelector": selector(labels)}),
        );
        self
    }
    pub fn preferred_pod_affinity(
        mut self,
        weight: i32,
        topology_key: &str,
        labels: &[(&str, &str)],
    ) -> Self {
        push(
            &mut self.0,
            &[
                "spec",
                "affinity",
                "podAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
            ],
            json!({"weight": weight, "podAffinityTerm": {"topologyKey": topology_key, "labelSelector": selector(labels)}}),
        );
        self
    }
    pub fn preferred_pod_anti_affinity(
        mut self,
        weight: i32,
        topology_key: &str,
        labels: &[(&str, &str)],
    ) -> Self {
        push(
            &mut self.0,
            &[
                "spec",
                "affinity",
                "podAntiAffinity",
                "preferredDuringSchedulingIgnoredDuringExecution",
            ],
            json!({"weight": weight, "podAffinityTerm": {"topologyKey": topology_key, "labelSelector": selector(labels)}}),
        );
        self
    }
    pub fn spread(
        mut self,
        max_skew: i32,
        topology_key: &str,
        when: &str,
        labels: &[(&str, &str)],
    ) -> Self {
        push(
            &mut self.0,
            &["spec", "topologySpreadConstraints"],
            json!({"maxSkew": max_skew, "topologyKey": topology_key, "whenUnsatisfiable": when, "labelSelector": selector(labels)}),
        );
        self
    }
    pub fn created(mut self, rfc3339: &str) -> Self {
        self.0["metadata"]["creationTimestamp"] = json!(rfc3339);
        self
    }
    pub fn scheduling_gate(mut self, name: &str) -> Self {
        push(
            &mut self.0,
            &["spec", "schedulingGates"],
            json!({"name": name}),
        );
        self
    }
    pub fn nominated(mut self, node: &str) -> Self {
        set(&mut self.0, &["status", "nominatedNodeName"], json!(node));
        self
    }
    pub fn obj(mut self) -> Pod {
        if self.0["spec"]["containers"]
            .as_array()
            .is_some_and(Vec::is_empty)
        {
            push(
                &mut self.0,
                &["spec", "containers"],
                json!({"name": "c", "image": "nginx"}),
            );
        }
        serde_json::from_value(self.0).expect("pod")
    }
    pub fn info(self) -> Arc<PodInfo> {
        Arc::new(PodInfo::new(Arc::new(self.obj())))
    }
}

#[derive(Clone)]
pub struct NodeBuilder(Value);

impl NodeBuilder {
    pub fn new(name: &str) -> Self {
        NodeBuilder(
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": {}, "status": {}}),
        )
    }
    pub fn capacity(mut self, cpu: &str, mem: &str, pods: &str) -> Self {
        let r = json!({"cpu": cpu, "memory": mem, "pods": pods});
        self.0["status"]["capacity"] = r.clone();
        self.0["status"]["allocatable"] = r;
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0["metadata"]["labels"][k] = json!(v);
        self
    }
    /// One more resource in capacity and allocatable.
    pub fn resource(mut self, name: &str, quantity: &str) -> Self {
        for field in ["capacity", "allocatable"] {
            set(&mut self.0, &["status", field, name], json!(quantity));
        }
        self
    }
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        push(
            &mut self.0,
            &["spec", "taints"],
            json!({"key": key, "value": value, "effect": effect}),
        );
        self
    }
    pub fn unschedulable(mut self) -> Self {
        self.0["spec"]["unschedulable"] = json!(true);
        self
    }
    pub fn image(mut self, name: &str, size: i64) -> Self {
        push(
            &mut self.0,
            &["status", "images"],
            json!({"names": [name], "sizeBytes": size}),
        );
        self
    }
    pub fn obj(self) -> Node {
        serde_json::from_value(self.0).expect("node")
    }
    pub fn info(self) -> NodeInfo {
        NodeInfo::with_node(Arc::new(self.obj()))
    }
}

/// A node info with pods on it.
pub fn node_with(node: NodeBuilder, pods: Vec<Pod>) -> NodeInfo {
    let mut info = node.info();
    for p in pods {
        info.add_pod(Arc::new(PodInfo::new(Arc::new(p))));
    }
    info
}

/// Run a PreFilter (when the plugin has one) and a Filter on each node of a snapshot.
pub fn prefilter_and_filter<P: super::Plugin>(
    plugin: Arc<P>,
    pod: &Pod,
    snapshot: &Snapshot,
) -> Vec<super::Status> {
    let mut state = CycleState::new();
    if let Some(pf) = plugin.clone().as_pre_filter() {
        let s = pf.pre_filter(&mut state, pod, snapshot);
        if s.is_skip() {
            return snapshot.nodes().map(|_| super::Status::success()).collect();
        }
        if !s.is_success() {
            return snapshot.nodes().map(|_| s.clone()).collect();
        }
    }
    let f = plugin.as_filter().expect("filter");
    snapshot.nodes().map(|n| f.filter(&state, pod, n)).collect()
}

/// PreScore (if any), Score and NormalizeScore over every node of a snapshot, in order.
pub fn prescore_and_score<P: super::Plugin>(
    plugin: Arc<P>,
    pod: &Pod,
    snapshot: &Snapshot,
) -> Vec<i64> {
    let mut state = CycleState::new();
    if let Some(pf) = plugin.clone().as_pre_filter() {
        let _ = pf.pre_filter(&mut state, pod, snapshot);
    }
    let nodes: Vec<&NodeInfo> = snapshot.nodes().collect();
    if let Some(ps) = plugin.clone().as_pre_score() {
        let s = ps.pre_score(&mut state, pod, &nodes, snapshot);
        if s.is_skip() {
            return nodes.iter().map(|_| 0).collect();
        }
    }
    let sc = plugin.as_score().expect("score");
    let mut scores: Vec<super::NodeScore<'_>> = nodes
        .iter()
        .map(|n| super::NodeScore {
            name: &n.name,
            score: sc.score(&state, pod, n, snapshot).expect("score"),
        })
        .collect();
    let _ = sc.normalize_score(&state, pod, &mut scores);
    scores.into_iter().map(|s| s.score).collect()
}
