//! How a kubelet-sim process is set up: the API server, the node pools (a YAML node
//! file), the time scale, heartbeat intervals and the kubelet endpoint.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not read the node file {path}: {source}")]
    ReadNodeFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid node file: {0}")]
    ParseNodeFile(#[source] serde_yaml_ng::Error),
    #[error("invalid pod CIDR {0:?}: expected an IPv4 range of /8 to /24, e.g. 10.244.0.0/16")]
    PodCidr(String),
    #[error("pod CIDR {cidr} has room for {room} nodes (one /24 each), not {nodes}")]
    PodCidrTooSmall {
        cidr: String,
        room: usize,
        nodes: usize,
    },
}

/// A taint, as in `Node.spec.taints`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: String,
}

/// A pool of identical nodes: `count` nodes named `<name>-<i>`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Pool {
    pub name: String,
    #[serde(default = "one")]
    pub count: usize,
    #[serde(default = "default_cpu")]
    pub cpu: String,
    #[serde(default = "default_memory")]
    pub memory: String,
    #[serde(default = "default_pods")]
    pub pods: u32,
    #[serde(default = "default_storage")]
    pub ephemeral_storage: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
    /// Zones, assigned round-robin (`topology.kubernetes.io/zone`).
    #[serde(default = "default_zones")]
    pub zones: Vec<String>,
    #[serde(default = "default_region")]
    pub region: String,
}

/// The default pool's name, and so its nodes' name prefix.
pub const DEFAULT_POOL: &str = "kubesim-node";

fn one() -> usize {
    1
}
fn default_cpu() -> String {
    "4".into()
}
fn default_memory() -> String {
    "16Gi".into()
}
fn default_pods() -> u32 {
    110
}
fn default_storage() -> String {
    "100Gi".into()
}
fn default_zones() -> Vec<String> {
    vec!["zone-a".into(), "zone-b".into(), "zone-c".into()]
}
fn default_region() -> String {
    "region-1".into()
}

impl Pool {
    /// `count` nodes of the default shape (4 CPUs, 16 GiB, 110 pods) named
    /// `kubesim-node-<i>` (a prefix of its own, as kwok's `kwok-node-<i>`, so that Nodes
    /// made by hand are never taken over).
    pub fn default_nodes(count: usize) -> Pool {
        Pool {
            name: DEFAULT_POOL.into(),
            count,
            cpu: default_cpu(),
            memory: default_memory(),
            pods: default_pods(),
            ephemeral_storage: default_storage(),
            labels: BTreeMap::new(),
            taints: Vec::new(),
            zones: default_zones(),
            region: default_region(),
        }
    }
}

/// The node file: `pools: [...]`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub pools: Vec<Pool>,
}

impl NodeFile {
    pub fn parse(yaml: &str) -> Result<NodeFile, Error> {
        serde_yaml_ng::from_str(yaml).map_err(Error::ParseNodeFile)
    }

    pub fn read(path: &str) -> Result<NodeFile, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadNodeFile {
            path: path.into(),
            source,
        })?;
        NodeFile::parse(&text)
    }
}

/// A kubelet-sim process.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API server's URL.
    pub server: String,
    pub pools: Vec<Pool>,
    /// How many times faster than real time simulated delays pass.
    pub time_scale: f64,
    /// `Lease.spec.leaseDurationSeconds` (upstream: 40).
    pub lease_duration_seconds: i32,
    /// How often each node renews its Lease (upstream: 10 s).
    pub lease_renew_interval: Duration,
    /// How often node status is posted when nothing changed (upstream: 5 min).
    pub status_report_interval: Duration,
    /// The address the kubelet endpoint (logs, stats) listens on, reported as every
    /// node's InternalIP.
    pub address: IpAddr,
    /// Its port; 0 picks a free one.
    pub port: u16,
    /// The range node pod CIDRs (one /24 each) are cut from.
    pub pod_cidr: String,
    /// Event writes per second for the whole process (default: 50 per node, as
    /// upstream's `eventRecordQPS`).
    pub event_qps: Option<f64>,
}

impl Config {
    /// `nodes` default-shaped nodes against `server`.
    pub fn new(server: &str, nodes: usize) -> Config {
        Config {
            server: server.to_string(),
            pools: vec![Pool::default_nodes(nodes)],
            time_scale: 1.0,
            lease_duration_seconds: 40,
            lease_renew_interval: Duration::from_secs(10),
            status_report_interval: Duration::from_secs(300),
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            pod_cidr: "10.244.0.0/16".into(),
            event_qps: None,
        }
    }

    pub fn node_count(&self) -> usize {
        self.pools.iter().map(|p| p.count).sum()
    }
}

/// The `i`-th /24 of `cidr`: `10.244.0.0/16`, 3 → `10.244.3.0/24`.
pub fn node_cidr(cidr: &str, i: usize) -> Result<(Ipv4Addr, String), Error> {
    let bad = || Error::PodCidr(cidr.to_string());
    let (addr, bits) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    if !(8..=24).contains(&bits) {
        return Err(bad());
    }
    let room = 1usize << (24 - bits);
    if i >= room {
        return Err(Error::PodCidrTooSmall {
            cidr: cidr.into(),
            room,
            nodes: i + 1,
        });
    }
    let base = u32::from(addr) & (u32::MAX << (32 - bits));
    let net = Ipv4Addr::from(base + ((i as u32) << 8));
    Ok((net, format!("{net}/24")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_file_pools() {
        let file = NodeFile::parse(
            "pools:\n- name: big\n  count: 2\n  cpu: \"16\"\n  memory: 64Gi\n  labels: {tier: db}\n  taints: [{key: dedicated, value: db, effect: NoSchedule}]\n  zones: [eu-1a]\n- name: small\n",
        )
        .unwrap();
        assert_eq!(file.pools.len(), 2);
        assert_eq!(file.pools[0].count, 2);
        assert_eq!(file.pools[0].taints[0].effect, "NoSchedule");
        assert_eq!(file.pools[1].cpu, "4");
        assert!(NodeFile::parse("pools:\n- name: x\n  cpus: 3\n").is_err());
    }

    #[test]
    fn each_node_gets_a_slash_24() {
        assert_eq!(node_cidr("10.244.0.0/16", 3).unwrap().1, "10.244.3.0/24");
        assert_eq!(node_cidr("10.0.0.0/8", 300).unwrap().1, "10.1.44.0/24");
        assert!(matches!(
            node_cidr("10.244.0.0/16", 256),
            Err(Error::PodCidrTooSmall { .. })
        ));
        assert!(node_cidr("nope", 0).is_err());
    }
}
