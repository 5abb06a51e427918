//! The `kubernetes` Service in `default`, which every cluster has: the API server's own
//! address for clients inside the cluster, as upstream's kube-apiserver keeps it
//! (`pkg/controlplane/controller/kubernetesservice` and the endpoints reconciler).
//!
//! - Service `default/kubernetes`: the first address of the service range (10.96.0.1),
//!   port 443 named `https` to the server's own port, no selector, labels
//!   `component: apiserver` and `provider: kubernetes`.
//! - Endpoints and EndpointSlice `default/kubernetes`: the server's address and port,
//!   written by the server itself (the Endpoints labelled
//!   `endpointslice.kubernetes.io/skip-mirror`, the slice `kubernetes.io/service-name`).
//!
//! Checked at start and every [`INTERVAL`] after: one that was deleted comes back, as
//! upstream's controller re-creates it, and one that exists is left alone. Upstream leaves
//! an existing Service alone too, but its endpoint reconciler also rewrites the Endpoints
//! and EndpointSlice when someone edits their addresses, ports or labels; kubesim only
//! re-creates them (an edit lasts until they are deleted: the server has no internal update
//! path, and nothing in kubesim routes traffic by them). kubesim's address is a loopback
//! one (upstream refuses those in Endpoints written through the API; the server writes its
//! own here, and it is the address that answers).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::{Value, json};

use crate::server::ApiServer;
use crate::storage::Key;

pub const NAMESPACE: &str = "default";
pub const NAME: &str = "kubernetes";

/// How often the objects are checked (upstream's `--endpoint-reconciler` interval: 10 s).
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Keep the Service and its endpoints until the server stops.
pub async fn run(server: std::sync::Arc<ApiServer>, addr: SocketAddr) {
    let mut stopping = server.stopping.subscribe();
    loop {
        ensure(&server, addr);
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            _ = stopping.wait_for(|stopping| *stopping) => return,
        }
    }
}

/// Create whichever of the three objects is missing.
pub fn ensure(server: &ApiServer, addr: SocketAddr) {
    // A server listening on every address is reached on this machine at 127.0.0.1.
    let ip = match addr.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let cluster_ip = server.config.services.cluster_ip_range.first();
    let objects = [
        ("services", service(&cluster_ip.to_string(), addr.port())),
        ("endpoints", endpoints(&ip.to_string(), addr.port())),
        (
            "endpointslices.discovery.k8s.io",
            endpoint_slice(&ip, addr.port()),
        ),
    ];
    for (resource, object) in objects {
        let key = Key {
            resource: resource.into(),
            namespace: NAMESPACE.into(),
            name: NAME.into(),
        };
        if server.storage.get(&key).is_some() {
            continue;
        }
        match crate::handlers::write::create_internal(server, resource, object) {
            Ok(_) => tracing::debug!(resource, "created the kubernetes service's object"),
            // Created meanwhile, or a name or address taken by someone: try again later.
            Err(err) => {
                tracing::warn!(resource, error = %err.message(), "could not create the kubernetes service's object")
            }
        }
    }
}

fn service(cluster_ip: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "ipFamilyPolicy": "SingleStack",
            "sessionAffinity": "None",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
        },
    })
}

fn endpoints(ip: &str, port: u16) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{
            "addresses": [{"ip": ip}],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        }],
    })
}

fn endpoint_slice(ip: &IpAddr, port: u16) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"kubernetes.io/service-name": NAME},
        },
        "addressType": if ip.is_ipv4() { "IPv4" } else { "IPv6" },
        "endpoints": [{"addresses": [ip.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Config;
    use crate::storage::Preconditions;

    fn key(resource: &str) -> Key {
        Key {
            resource: resource.into(),
            namespace: NAMESPACE.into(),
            name: NAME.into(),
        }
    }

    #[test]
    fn ensure_creates_what_is_missing_and_leaves_what_exists() {
        let server = ApiServer::new(Config::default());
        let addr: SocketAddr = "0.0.0.0:6443".parse().expect("address");
        ensure(&server, addr);
        let service = server.storage.get(&key("services")).expect("the service");
        let value = service.value();
        assert_eq!(value["spec"]["clusterIP"], "10.96.0.1");
        assert_eq!(value["spec"]["ports"][0]["targetPort"], 6443);
        let endpoints = server.storage.get(&key("endpoints")).expect("endpoints");
        // Listening on every address, it is reached at 127.0.0.1.
        assert_eq!(
            endpoints.value()["subsets"][0]["addresses"][0]["ip"],
            "127.0.0.1"
        );
        let slice_key = key("endpointslices.discovery.k8s.io");
        assert!(server.storage.get(&slice_key).is_some());

        // Nothing is rewritten while it exists; a deleted one is created again.
        let revision = server.storage.revision();
        ensure(&server, addr);
        assert_eq!(server.storage.revision(), revision);
        server
            .storage
            .delete(&key("services"), &Preconditions::default())
            .expect("delete");
        ensure(&server, addr);
        let again = server.storage.get(&key("services")).expect("created again");
        assert_ne!(again.attrs.uid, service.attrs.uid);
        assert_eq!(again.value()["spec"]["clusterIP"], "10.96.0.1");
    }
}
