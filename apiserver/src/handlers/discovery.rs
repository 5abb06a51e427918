//! Legacy discovery: `/api`, `/apis`, `/apis/<group>`, and each group/version's
//! `APIResourceList`, all read from the registry so a resource added at run time appears.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use kubesim_apimachinery::{ApiError, ResourceInfo};
use serde_json::{Value, json};

use crate::response::{ErrorResponse, json};
use crate::server::ApiServer;

/// `/api`.
pub fn core_versions(headers: &HeaderMap) -> Response {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1:6443");
    json(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
        }),
    )
}

/// Each named group's versions, preferred (newest) first, in registration order of groups.
fn group_versions(server: &ApiServer) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for r in server.registry.all() {
        if r.group.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version.clone()),
            Some(_) => {}
            None => groups.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    for (_, versions) in &mut groups {
        versions.sort_by(|a, b| version_priority(b).cmp(&version_priority(a)));
    }
    groups
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

fn api_group(name: &str, versions: &[String]) -> Value {
    let entries: Vec<Value> = versions.iter().map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v})).collect();
    json!({"name": name, "versions": entries, "preferredVersion": entries.first().cloned().unwrap_or(Value::Null)})
}

/// `/apis`.
pub fn groups(server: &ApiServer) -> Response {
    let groups: Vec<Value> = group_versions(server).iter().map(|(g, v)| api_group(g, v)).collect();
    json(StatusCode::OK, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
}

/// `/apis/<group>`.
pub fn group(server: &ApiServer, name: &str) -> Response {
    match group_versions(server).iter().find(|(g, _)| g == name) {
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
    let mut resources = Vec::new();
    let served: Vec<Arc<ResourceInfo>> = server.registry.all().into_iter().filter(|r| r.group == group && r.version == version).collect();
    for r in &served {
        resources.push(resource_entry(r));
        resources.extend(subresource_entries(r));
    }
    let group_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    json(StatusCode::OK, &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

fn resource_entry(r: &ResourceInfo) -> Value {
    let mut entry = json!({
        "name": r.plural,
        "singularName": r.singular,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": r.verbs(),
    });
    if !r.short_names.is_empty() {
        entry["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        entry["categories"] = json!(r.categories);
    }
    entry
}

/// `pods/status`, `deployments/scale`, ... with the kind each answers with.
fn subresource_entries(r: &ResourceInfo) -> Vec<Value> {
    let mut subs: BTreeMap<&str, Value> = BTreeMap::new();
    let sub = |name: &str, kind: &str, verbs: &[&str]| {
        json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs})
    };
    if r.subresources.status {
        subs.insert("status", sub("status", &r.kind, &["get", "patch", "update"]));
    }
    if r.subresources.scale {
        let mut scale = sub("scale", "Scale", &["get", "patch", "update"]);
        scale["group"] = json!("autoscaling");
        scale["version"] = json!("v1");
        subs.insert("scale", scale);
    }
    if r.group.is_empty() && r.plural == "pods" {
        subs.insert("binding", sub("binding", "Binding", &["create"]));
    }
    if r.group.is_empty() && r.plural == "namespaces" {
        subs.insert("finalize", sub("finalize", "Namespace", &["update"]));
    }
    subs.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ga_versions_are_preferred() {
        let mut versions = vec!["v1", "v2beta1", "v2", "v1alpha1"];
        versions.sort_by(|a, b| version_priority(b).cmp(&version_priority(a)));
        assert_eq!(versions, ["v2", "v1", "v2beta1", "v1alpha1"]);
    }
}
