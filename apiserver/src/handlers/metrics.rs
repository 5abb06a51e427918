//! `metrics.k8s.io/v1beta1`: NodeMetrics and PodMetrics, read from the kubelets.
//!
//! Upstream this API is not the API server's: it is the **metrics-server** add-on,
//! registered through API aggregation (an `APIService` for `v1beta1.metrics.k8s.io`),
//! which scrapes every kubelet's resource metrics and serves the latest. kubesim
//! serves the same group and kinds from the API server itself, reading usage from each
//! node's kubelet endpoint (`InternalIP:kubeletEndpoint.Port`, `GET /stats/summary`;
//! kubelet-sim answers for all its nodes at once) on every request, so that
//! `kubectl top nodes/pods` and, later, a HorizontalPodAutoscaler work. get and list,
//! in one namespace or all, with label selectors (on the node's or the pod's labels,
//! as metrics-server filters). Nodes and pods no kubelet reports are absent, as with
//! metrics-server before its first scrape.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::http::{Method, StatusCode};
use kubesim_apimachinery::ApiError;
use kubesim_apimachinery::selector::LabelSelector;
use serde_json::{Value, json};

use super::Request;
use crate::response::{Result, json as json_response};

pub const GROUP: &str = "metrics.k8s.io";
const API_VERSION: &str = "metrics.k8s.io/v1beta1";
/// The window metrics are reported over (metrics-server's resolution).
const WINDOW: &str = "10s";

/// Usage of one node or container: CPU in nanocores, memory in bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    nano_cores: u64,
    bytes: u64,
}

impl Usage {
    fn from(v: &Value) -> Usage {
        Usage {
            nano_cores: v["cpu"]["usageNanoCores"].as_u64().unwrap_or(0),
            bytes: v["memory"]["workingSetBytes"].as_u64().unwrap_or(0),
        }
    }

    /// As metrics-server renders it: `123456789n`, `65536Ki`.
    fn render(self) -> Value {
        json!({"cpu": format!("{}n", self.nano_cores), "memory": format!("{}Ki", self.bytes / 1024)})
    }
}

struct Scraped {
    nodes: HashMap<String, (Usage, String)>,
    /// (namespace, name) → containers.
    pods: HashMap<(String, String), (Vec<(String, Usage)>, String)>,
}

/// Ask each distinct kubelet endpoint once.
async fn scrape(req: &Request) -> Scraped {
    let (nodes, _) = req.server.storage.list("nodes", None);
    let mut endpoints: Vec<SocketAddr> = nodes
        .iter()
        .filter_map(|n| super::log::node_endpoint(&n.value()))
        .collect();
    endpoints.sort();
    endpoints.dedup();
    let mut out = Scraped {
        nodes: HashMap::new(),
        pods: HashMap::new(),
    };
    for addr in endpoints {
        let Ok(response) = super::log::kubelet_get(addr, "/stats/summary").await else {
            continue;
        };
        if !response.status().is_success() {
            continue;
        }
        let Ok(body) = http_body_util::BodyExt::collect(response.into_body()).await else {
            continue;
        };
        let Ok(summary) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
            continue;
        };
        for node in summary["nodes"].as_array().into_iter().flatten() {
            let Some(name) = node["nodeName"].as_str() else {
                continue;
            };
            let time = node["cpu"]["time"].as_str().unwrap_or("").to_string();
            out.nodes
                .insert(name.to_string(), (Usage::from(node), time.clone()));
            for pod in node["pods"].as_array().into_iter().flatten() {
                let (Some(ns), Some(pod_name)) = (
                    pod["podRef"]["namespace"].as_str(),
                    pod["podRef"]["name"].as_str(),
                ) else {
                    continue;
                };
                let containers = pod["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|c| Some((c["name"].as_str()?.to_string(), Usage::from(c))))
                    .collect();
                out.pods.insert(
                    (ns.to_string(), pod_name.to_string()),
                    (containers, time.clone()),
                );
            }
        }
    }
    out
}

fn metadata(obj: &Value, namespaced: bool) -> Value {
    let m = &obj["metadata"];
    let mut out =
        json!({"name": m["name"], "creationTimestamp": jiff::Timestamp::now().to_string()});
    if namespaced {
        out["namespace"] = m["namespace"].clone();
    }
    if let Some(labels) = m.get("labels").filter(|l| l.is_object()) {
        out["labels"] = labels.clone();
    }
    out
}

fn node_metrics(node: &Value, usage: Usage, time: &str) -> Value {
    json!({"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": metadata(node, false), "timestamp": time, "window": WINDOW, "usage": usage.render()})
}

fn pod_metrics(pod: &Value, containers: &[(String, Usage)], time: &str) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, u)| json!({"name": name, "usage": u.render()}))
        .collect();
    json!({"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": metadata(pod, true), "timestamp": time, "window": WINDOW, "containers": containers})
}

/// Every request to `metrics.k8s.io`.
pub async fn handle(req: Request, method: &Method) -> Result {
    let info = req.info().clone();
    if method != Method::GET || req.target.subresource.is_some() {
        return Err(
            ApiError::method_not_supported(info.as_ref(), &method.as_str().to_lowercase()).into(),
        );
    }
    if req.query.flag("watch")?.unwrap_or(false) || req.target.watch_prefix {
        return Err(ApiError::method_not_supported(info.as_ref(), "watch").into());
    }
    let selector = LabelSelector::parse(req.query.get("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let scraped = scrape(&req).await;
    let items: Vec<Value> = if info.plural == "nodes" {
        let (nodes, _) = req.server.storage.list("nodes", None);
        nodes
            .iter()
            .filter(|n| {
                req.target
                    .name
                    .as_deref()
                    .is_none_or(|name| &*n.attrs.name == name)
            })
            .filter(|n| selector.matches_with(|key| n.attrs.label(key)))
            .filter_map(|n| {
                let (usage, time) = scraped.nodes.get(&*n.attrs.name)?;
                Some(node_metrics(&n.value(), *usage, time))
            })
            .collect()
    } else {
        let (pods, _) = req
            .server
            .storage
            .list("pods", req.target.namespace.as_deref());
        pods.iter()
            .filter(|p| {
                req.target
                    .name
                    .as_deref()
                    .is_none_or(|name| &*p.attrs.name == name)
            })
            .filter(|p| selector.matches_with(|key| p.attrs.label(key)))
            .filter_map(|p| {
                let key = (p.attrs.namespace.to_string(), p.attrs.name.to_string());
                let (containers, time) = scraped.pods.get(&key)?;
                Some(pod_metrics(&p.value(), containers, time))
            })
            .collect()
    };
    if let Some(name) = req.target.name.as_deref() {
        return match items.into_iter().next() {
            Some(item) => Ok(json_response(StatusCode::OK, &item)),
            None => Err(ApiError::not_found(info.as_ref(), name).into()),
        };
    }
    let list = json!({
        "kind": format!("{}List", info.kind),
        "apiVersion": API_VERSION,
        "metadata": {"resourceVersion": req.server.storage.revision().to_string()},
        "items": items,
    });
    Ok(json_response(StatusCode::OK, &list))
}
