//! Discovery: `/api`, `/apis`, `/apis/<group>` and each group-version's resources, in
//! both of upstream's formats, read from the registry so that a resource added at run
//! time appears in both.
//!
//! - **Aggregated** (`apidiscovery.k8s.io/v2 APIGroupDiscoveryList`): everything in two
//!   requests. kubectl asks for it first (`Accept: application/json;g=apidiscovery.k8s.io;
//!   v=v2;as=APIGroupDiscoveryList,application/json`) and tells the formats apart by the
//!   response `Content-Type` (client-go `discovery_client.go`).
//! - **Legacy** (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`): plain
//!   `application/json`, as kopf, the Python client and kube-rs read it.
//!
//! Both are rendered from one model, [`GroupVersion`] with its [`Resource`]s.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use kubesim_apimachinery::{ApiError, ResourceInfo};
use serde_json::{Value, json};

use crate::response::{ErrorResponse, json};
use crate::server::ApiServer;

/// The media type of aggregated discovery, in the `Accept` and `Content-Type` headers.
pub const AGGREGATED_MEDIA_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One resource of a group-version, as discovery describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub kind: String,
    pub verbs: Vec<&'static str>,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Sorted by name.
    pub subresources: Vec<Subresource>,
}

/// A subresource: `status`, `scale`, `log`...
#[derive(Debug, Clone, PartialEq)]
pub struct Subresource {
    pub name: &'static str,
    /// The group and version of the kind it answers with, when not the resource's own
    /// (`deployments/scale` answers `autoscaling/v1 Scale`); empty otherwise, as upstream.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: String,
    pub verbs: &'static [&'static str],
}

/// One served group-version and its resources, sorted by name (upstream installs them
/// in that order).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupVersion {
    pub group: String,
    pub version: String,
    pub resources: Vec<Resource>,
}

impl Resource {
    fn new(r: &ResourceInfo) -> Self {
        let mut subresources = Vec::new();
        let sub = |name, group, version, kind: &str, verbs| Subresource {
            name,
            group,
            version,
            kind: kind.to_string(),
            verbs,
        };
        let core = r.group.is_empty();
        if core && r.plural == "pods" {
            // Served by the pods handlers (binding) or listed for the clients that look for
            // them before using them: `kubectl drain` looks for eviction, `kubectl logs` for log.
            subresources.push(sub("binding", "", "", "Binding", &["create"]));
            subresources.push(sub("eviction", "policy", "v1", "Eviction", &["create"]));
            subresources.push(sub("log", "", "", "Pod", &["get"]));
            // Served with a 400 that says why nothing runs there (handlers/streaming.rs).
            let stream = &["create", "get"];
            subresources.push(sub("attach", "", "", "PodAttachOptions", stream));
            subresources.push(sub("exec", "", "", "PodExecOptions", stream));
            subresources.push(sub("portforward", "", "", "PodPortForwardOptions", stream));
        }
        if core && r.plural == "namespaces" {
            subresources.push(sub("finalize", "", "", "Namespace", &["update"]));
        }
        if r.subresources.scale {
            subresources.push(sub(
                "scale",
                "autoscaling",
                "v1",
                "Scale",
                &["get", "patch", "update"],
            ));
        }
        if r.subresources.status {
            subresources.push(sub("status", "", "", &r.kind, &["get", "patch", "update"]));
        }
        subresources.sort_by_key(|s| s.name);
        Resource {
            plural: r.plural.clone(),
            singular: r.singular.clone(),
            namespaced: r.namespaced,
            kind: r.kind.clone(),
            verbs: r.verbs(),
            short_names: r.short_names.clone(),
            categories: r.categories.clone(),
            subresources,
        }
    }

    /// Legacy `APIResource`s: the resource, then each `<plural>/<subresource>`.
    fn legacy(&self) -> Vec<Value> {
        let mut entry = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
        });
        if !self.short_names.is_empty() {
            entry["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            entry["categories"] = json!(self.categories);
        }
        let mut out = vec![entry];
        for s in &self.subresources {
            let mut sub = json!({
                "name": format!("{}/{}", self.plural, s.name),
                "singularName": "",
                "namespaced": self.namespaced,
                "kind": s.kind,
                "verbs": s.verbs,
            });
            if !s.group.is_empty() || !s.version.is_empty() {
                sub["group"] = json!(s.group);
                sub["version"] = json!(s.version);
            }
            out.push(sub);
        }
        out
    }

    /// An aggregated `APIResourceDiscovery`.
    fn aggregated(&self) -> Value {
        let mut entry = json!({
            "resource": self.plural,
            "responseKind": {"group": "", "version": "", "kind": self.kind},
            "scope": if self.namespaced { "Namespaced" } else { "Cluster" },
            "singularResource": self.singular,
            "verbs": self.verbs,
        });
        if !self.short_names.is_empty() {
            entry["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            entry["categories"] = json!(self.categories);
        }
        if !self.subresources.is_empty() {
            let subs: Vec<Value> = self
                .subresources
                .iter()
                .map(|s| {
                    json!({
                        "subresource": s.name,
                        "responseKind": {"group": s.group, "version": s.version, "kind": s.kind},
                        "verbs": s.verbs,
                    })
                })
                .collect();
            entry["subresources"] = Value::Array(subs);
        }
        entry
    }
}

/// Every served group-version: the core group's first, then the named groups in
/// registration order, each group's versions preferred (newest GA) first.
pub fn served(server: &ApiServer) -> Vec<GroupVersion> {
    let all = server.registry.all();
    let mut out: Vec<GroupVersion> = Vec::new();
    for r in all
        .iter()
        .filter(|r| r.group.is_empty())
        .chain(all.iter().filter(|r| !r.group.is_empty()))
    {
        let resource = Resource::new(r);
        match out
            .iter_mut()
            .find(|gv| gv.group == r.group && gv.version == r.version)
        {
            Some(gv) => gv.resources.push(resource),
            None => out.push(GroupVersion {
                group: r.group.clone(),
                version: r.version.clone(),
                resources: vec![resource],
            }),
        }
    }
    for gv in &mut out {
        gv.resources.sort_by(|a, b| a.plural.cmp(&b.plural));
    }
    // Stable: groups keep their first-seen order, versions within a group go newest first.
    let order: Vec<String> =
        out.iter()
            .map(|gv| gv.group.clone())
            .fold(Vec::new(), |mut seen, g| {
                if !seen.contains(&g) {
                    seen.push(g);
                }
                seen
            });
    out.sort_by(|a, b| {
        let rank = |g: &str| order.iter().position(|x| x == g).unwrap_or(usize::MAX);
        rank(&a.group)
            .cmp(&rank(&b.group))
            .then_with(|| version_priority(&b.version).cmp(&version_priority(&a.version)))
    });
    out
}

/// Kubernetes version order: GA over beta over alpha, then by number.
fn version_priority(version: &str) -> (u8, u32, u32) {
    let rest = version.trim_start_matches('v');
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stability, minor) = if let Some(n) = tail.strip_prefix("beta") {
        (1, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (0, n.parse().unwrap_or(0))
    } else {
        (2, 0)
    };
    (stability, major, minor)
}

/// Whether the client prefers aggregated discovery: the first clause of its `Accept`
/// that this server can answer decides, as upstream's content negotiation does.
pub fn wants_aggregated(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    for clause in accept.split(',') {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let params: Vec<(&str, &str)> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let param = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        if media == "application/json"
            && param("g") == Some("apidiscovery.k8s.io")
            && param("as") == Some("APIGroupDiscoveryList")
        {
            if param("v") == Some("v2") {
                return true;
            }
            // Another version of the aggregated format (v2beta1, gone in 1.33): not ours.
            continue;
        }
        if matches!(media, "application/json" | "application/*" | "*/*") && param("as").is_none() {
            return false;
        }
    }
    false
}

/// The aggregated `APIGroupDiscoveryList` of the given groups.
fn aggregated(groups: &[(&str, Vec<&GroupVersion>)]) -> Response {
    let items: Vec<Value> = groups
        .iter()
        .map(|(name, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .map(|gv| {
                    json!({
                        "version": gv.version,
                        "resources": gv.resources.iter().map(Resource::aggregated).collect::<Vec<_>>(),
                        "freshness": "Current",
                    })
                })
                .collect();
            // Go's ObjectMeta encodes a zero creationTimestamp as null; the core group's
            // empty name is omitted.
            let mut metadata = json!({"creationTimestamp": null});
            if !name.is_empty() {
                metadata["name"] = json!(name);
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items});
    let mut response = json(StatusCode::OK, &body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(AGGREGATED_MEDIA_TYPE),
    );
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    response
}

/// Named groups with their versions, preferred first.
fn named_groups(served: &[GroupVersion]) -> Vec<(&str, Vec<&GroupVersion>)> {
    let mut groups: Vec<(&str, Vec<&GroupVersion>)> = Vec::new();
    for gv in served.iter().filter(|gv| !gv.group.is_empty()) {
        match groups.iter_mut().find(|(g, _)| *g == gv.group) {
            Some((_, versions)) => versions.push(gv),
            None => groups.push((&gv.group, vec![gv])),
        }
    }
    groups
}

/// `/api`.
pub fn core_versions(server: &ApiServer, headers: &HeaderMap) -> Response {
    if wants_aggregated(headers) {
        let served = served(server);
        let core: Vec<&GroupVersion> = served.iter().filter(|gv| gv.group.is_empty()).collect();
        return aggregated(&[("", core)]);
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:6443");
    json(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }),
    )
}

fn api_group(name: &str, versions: &[&GroupVersion]) -> Value {
    let entries: Vec<Value> = versions
        .iter()
        .map(|gv| json!({"groupVersion": format!("{name}/{}", gv.version), "version": gv.version}))
        .collect();
    json!({"name": name, "versions": entries, "preferredVersion": entries.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis`.
pub fn groups(server: &ApiServer, headers: &HeaderMap) -> Response {
    let served = served(server);
    let groups = named_groups(&served);
    if wants_aggregated(headers) {
        return aggregated(&groups);
    }
    let list: Vec<Value> = groups.iter().map(|(g, v)| api_group(g, v)).collect();
    json(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": list}),
    )
}

/// `/apis/<group>`.
pub fn group(server: &ApiServer, name: &str) -> Response {
    let served = served(server);
    match named_groups(&served).iter().find(|(g, _)| *g == name) {
        Some((g, versions)) => {
            let mut body = api_group(g, versions);
            body["kind"] = json!("APIGroup");
            body["apiVersion"] = json!("v1");
            json(StatusCode::OK, &body)
        }
        None => ErrorResponse(ApiError::path_not_found()).into_response(),
    }
}

/// `/api/v1`, `/apis/<group>/<version>`.
pub fn resources(server: &Arc<ApiServer>, group: &str, version: &str) -> Response {
    let served = served(server);
    let Some(gv) = served
        .iter()
        .find(|gv| gv.group == group && gv.version == version)
    else {
        return ErrorResponse(ApiError::path_not_found()).into_response();
    };
    let resources: Vec<Value> = gv.resources.iter().flat_map(Resource::legacy).collect();
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let body = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources});
    crate::response::json_bytes(StatusCode::OK, Bytes::from(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga_versions_are_preferred() {
        let mut versions = vec!["v1", "v2beta1", "v2", "v1alpha1"];
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(versions, ["v2", "v1", "v2beta1", "v1alpha1"]);
    }

    fn accept(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn negotiates_like_upstream() {
        // kubectl 1.35, with and without the peer profile it may add first.
        assert!(wants_aggregated(&accept(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(wants_aggregated(&accept(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(&accept("application/json")));
        assert!(!wants_aggregated(&accept(
            "application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )));
        assert!(!wants_aggregated(&accept(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_aggregated(&HeaderMap::new()));
    }
}
