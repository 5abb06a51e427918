//! ClusterIP and NodePort allocation for Services, as upstream's Service REST storage
//! (`pkg/registry/core/service/ipallocator`, `portallocator`) does it.
//!
//! # Contract
//!
//! [`Allocator::allocate`] runs on every create and update of a Service, after the
//! strategy (defaults, validation) and before the storage write. It:
//!
//! - gives a Service without `spec.clusterIP` (and not `ExternalName`, not headless
//!   `None`) a free address of `--service-cluster-ip-range`, and fills `clusterIPs`;
//! - gives every port of a `NodePort` Service (and a `LoadBalancer` one unless
//!   `allocateLoadBalancerNodePorts: false`) without a `nodePort` a free port of
//!   `--service-node-port-range`, and a `LoadBalancer` with `externalTrafficPolicy: Local`
//!   a `healthCheckNodePort`;
//! - refuses a requested address or port outside its range or held by another Service
//!   with upstream's `422 Invalid` messages.
//!
//! What is allocated is what the stored Services hold: the allocator scans them under a
//! lock it keeps until the write is done (the returned [`Guard`]), so two creates never
//! get the same address, and a deleted Service's address is free at once.
//!
//! Dynamic addresses come from the upper part of the range first, leaving the lower part
//! for addresses people pick, as upstream's `ServiceIPStaticSubrange`: the lower band is
//! `min(max(16, size/16), 256)` addresses. For 10.96.0.0/12 that is 10.96.0.0–10.96.0.255
//! (10.96.0.1 is the `kubernetes` Service's by convention, 10.96.0.10 kube-dns's).

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::str::FromStr;

use kubesim_apimachinery::{ApiError, FieldError, ResourceInfo};
use parking_lot::{Mutex, MutexGuard};
use serde_json::{Value, json};

use crate::storage::Storage;

/// An IPv4 CIDR range such as `10.96.0.0/12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// Addresses usable for Services: all but the network and broadcast addresses.
    fn size(&self) -> u64 {
        (1u64 << (32 - u32::from(self.prefix))).saturating_sub(2)
    }

    /// The first usable address: the `kubernetes` Service's (10.96.0.1).
    pub fn first(&self) -> Ipv4Addr {
        self.nth(0)
    }

    /// The `i`-th usable address (0-based, after the network address).
    fn nth(&self, i: u64) -> Ipv4Addr {
        Ipv4Addr::from(
            self.base
                .wrapping_add(u32::try_from(i + 1).unwrap_or(u32::MAX)),
        )
    }

    /// The offset of `ip` among usable addresses, if it is one.
    fn offset(&self, ip: Ipv4Addr) -> Option<u64> {
        let ip = u32::from(ip);
        let mask = if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        };
        if ip & mask != self.base {
            return None;
        }
        let off = u64::from(ip - self.base);
        (off >= 1 && off <= self.size()).then(|| off - 1)
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not a CIDR (address/prefix)"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("{ip:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("{prefix:?} is not a prefix length"))?;
        if !(1..=30).contains(&prefix) {
            return Err(format!("prefix length {prefix} must be between 1 and 30"));
        }
        let mask = u32::MAX << (32 - u32::from(prefix));
        Ok(Cidr {
            base: u32::from(ip) & mask,
            prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// An inclusive port range such as `30000-32767`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s
            .split_once('-')
            .ok_or_else(|| format!("{s:?} is not a port range (first-last)"))?;
        let first: u16 = a
            .trim()
            .parse()
            .map_err(|_| format!("{a:?} is not a port"))?;
        let last: u16 = b
            .trim()
            .parse()
            .map_err(|_| format!("{b:?} is not a port"))?;
        if first == 0 || last < first {
            return Err(format!("{s:?} is not a valid port range"));
        }
        Ok(PortRange { first, last })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// The ranges Services get addresses and node ports from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `--service-cluster-ip-range`, upstream's default 10.96.0.0/12.
    pub cluster_ip_range: Cidr,
    /// `--service-node-port-range`, upstream's default 30000-32767.
    pub node_port_range: PortRange,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cluster_ip_range: Cidr {
                base: u32::from(Ipv4Addr::new(10, 96, 0, 0)),
                prefix: 12,
            },
            node_port_range: PortRange {
                first: 30000,
                last: 32767,
            },
        }
    }
}

/// Held until the Service is written, so no other write allocates meanwhile.
pub type Guard<'a> = MutexGuard<'a, ()>;

/// The Service address and port allocator.
#[derive(Debug, Default)]
pub struct Allocator {
    config: Config,
    lock: Mutex<()>,
}

impl Allocator {
    pub fn new(config: Config) -> Self {
        Allocator {
            config,
            lock: Mutex::new(()),
        }
    }

    /// Fill `obj`'s missing ClusterIP and node ports, and check the requested ones. Does
    /// nothing (and takes no lock) for other resources.
    pub fn allocate<'a>(
        &'a self,
        storage: &dyn Storage,
        info: &ResourceInfo,
        obj: &mut Value,
    ) -> Result<Option<Guard<'a>>, ApiError> {
        if !(info.group.is_empty() && info.plural == "services") {
            return Ok(None);
        }
        let guard = self.lock.lock();
        let namespace = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let (services, _) = storage.list("services", None);
        let mut used = Used::default();
        for svc in &services {
            if *svc.attrs.namespace == *namespace && *svc.attrs.name == *name {
                continue;
            }
            used.add(&svc.value());
        }
        let errors = assign(&self.config, &used, obj, &mut random);
        if !errors.is_empty() {
            return Err(ApiError::invalid(info, &name, &errors));
        }
        Ok(Some(guard))
    }
}

/// Addresses and node ports other Services hold.
#[derive(Debug, Default)]
struct Used {
    ips: HashSet<Ipv4Addr>,
    ports: HashSet<u16>,
}

impl Used {
    fn add(&mut self, svc: &Value) {
        let spec = &svc["spec"];
        for ip in spec["clusterIPs"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(std::iter::once(&spec["clusterIP"]))
        {
            if let Some(ip) = ip.as_str().and_then(|s| s.parse().ok()) {
                self.ips.insert(ip);
            }
        }
        for p in spec["ports"].as_array().into_iter().flatten() {
            if let Some(np) = p["nodePort"]
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .filter(|n| *n != 0)
            {
                self.ports.insert(np);
            }
        }
        if let Some(hc) = spec["healthCheckNodePort"]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0)
        {
            self.ports.insert(hc);
        }
    }
}

fn random(bound: u64) -> u64 {
    if bound == 0 {
        0
    } else {
        (uuid::Uuid::new_v4().as_u128() % u128::from(bound)) as u64
    }
}

/// The allocation itself, in pure code: `pick(n)` chooses a starting point in `0..n`.
fn assign(
    config: &Config,
    used: &Used,
    obj: &mut Value,
    pick: &mut dyn FnMut(u64) -> u64,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return errors;
    };
    let svc_type = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();

    // ClusterIP.
    if svc_type != "ExternalName" {
        let requested = spec
            .get("clusterIP")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ips_value = spec.get("clusterIPs").cloned().unwrap_or_else(|| json!([]));
        if requested.is_empty() {
            match free_ip(&config.cluster_ip_range, &used.ips, pick) {
                Some(ip) => {
                    spec.insert("clusterIP".into(), json!(ip.to_string()));
                    spec.insert("clusterIPs".into(), json!([ip.to_string()]));
                }
                None => errors.push(FieldError::invalid(
                    "spec.clusterIPs",
                    ips_value,
                    "failed to allocate a serviceIP: range is full",
                )),
            }
        } else if requested != "None" {
            match requested.parse::<Ipv4Addr>() {
                Ok(ip) if config.cluster_ip_range.offset(ip).is_none() => errors.push(FieldError::invalid(
                    "spec.clusterIPs",
                    ips_value,
                    format!(
                        "failed to allocate IP {requested}: the provided IP ({requested}) is not in the valid range. The range of valid IPs is {}",
                        config.cluster_ip_range
                    ),
                )),
                Ok(ip) if used.ips.contains(&ip) => errors.push(FieldError::invalid(
                    "spec.clusterIPs",
                    ips_value,
                    format!("failed to allocate IP {requested}: provided IP is already allocated"),
                )),
                _ => {}
            }
        }
    }

    // Node ports.
    let lb_ports = spec
        .get("allocateLoadBalancerNodePorts")
        .and_then(Value::as_bool)
        != Some(false);
    let wants_node_ports = svc_type == "NodePort" || (svc_type == "LoadBalancer" && lb_ports);
    let mut taken: HashSet<u16> = used.ports.clone();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        // Requested ports first, so a free pick never lands on one.
        for (i, p) in ports.iter().enumerate() {
            let Some(np) = p["nodePort"].as_u64().filter(|n| *n != 0) else {
                continue;
            };
            let np = u16::try_from(np).unwrap_or(0);
            let range = config.node_port_range;
            if np < range.first || np > range.last {
                errors.push(FieldError::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    np,
                    format!("provided port is not in the valid range. The range of valid ports is {range}"),
                ));
            } else if used.ports.contains(&np) {
                errors.push(FieldError::invalid(
                    format!("spec.ports[{i}].nodePort"),
                    np,
                    "provided port is already allocated",
                ));
            }
            taken.insert(np);
        }
        if wants_node_ports {
            for p in ports.iter_mut() {
                if p["nodePort"].as_u64().unwrap_or(0) != 0 {
                    continue;
                }
                let port = p["port"].as_u64();
                let np = match free_port(&config.node_port_range, &taken, pick) {
                    Some(np) => np,
                    None => {
                        errors.push(FieldError::invalid(
                            "spec.ports",
                            json!(port),
                            "failed to allocate a nodePort: range is full",
                        ));
                        break;
                    }
                };
                taken.insert(np);
                if let Some(m) = p.as_object_mut() {
                    m.insert("nodePort".into(), json!(np));
                }
            }
        }
    }
    let needs_health_check = svc_type == "LoadBalancer"
        && spec.get("externalTrafficPolicy").and_then(Value::as_str) == Some("Local");
    if needs_health_check
        && spec
            .get("healthCheckNodePort")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            == 0
    {
        if let Some(np) = free_port(&config.node_port_range, &taken, pick) {
            spec.insert("healthCheckNodePort".into(), json!(np));
        }
    }
    errors
}

/// A free address: from the upper band first, then the lower.
fn free_ip(
    range: &Cidr,
    used: &HashSet<Ipv4Addr>,
    pick: &mut dyn FnMut(u64) -> u64,
) -> Option<Ipv4Addr> {
    let size = range.size();
    let lower = (size / 16).clamp(16, 256).min(size);
    let bands = [(lower, size), (0, lower)];
    for (start, end) in bands {
        let n = end - start;
        if n == 0 {
            continue;
        }
        let first = pick(n);
        // Walk from a random start; give up on a band after a bounded number of probes
        // when it is huge and nearly full (it never is in practice).
        for step in 0..n.min(1 << 20) {
            let ip = range.nth(start + (first + step) % n);
            if !used.contains(&ip) {
                return Some(ip);
            }
        }
    }
    None
}

fn free_port(
    range: &PortRange,
    taken: &HashSet<u16>,
    pick: &mut dyn FnMut(u64) -> u64,
) -> Option<u16> {
    let n = u64::from(range.last - range.first) + 1;
    let first = pick(n);
    (0..n)
        .map(|step| range.first + u16::try_from((first + step) % n).unwrap_or(0))
        .find(|p| !taken.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(spec: Value) -> Value {
        json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn run(used: &Used, obj: &mut Value) -> Vec<String> {
        let mut zero = |_| 0;
        assign(&Config::default(), used, obj, &mut zero)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn parses_ranges() {
        let c: Cidr = "10.96.0.0/12".parse().unwrap();
        assert_eq!(c, Config::default().cluster_ip_range);
        assert_eq!(c.size(), (1 << 20) - 2);
        assert_eq!(c.nth(0), Ipv4Addr::new(10, 96, 0, 1));
        assert_eq!(
            c.offset(Ipv4Addr::new(10, 111, 255, 254)),
            Some(c.size() - 1)
        );
        assert_eq!(c.offset(Ipv4Addr::new(10, 111, 255, 255)), None);
        assert_eq!(c.offset(Ipv4Addr::new(10, 112, 0, 1)), None);
        assert_eq!(
            "30000-32767".parse::<PortRange>().unwrap(),
            Config::default().node_port_range
        );
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("5-1".parse::<PortRange>().is_err());
    }

    #[test]
    fn dynamic_addresses_come_from_the_upper_band() {
        let mut obj = svc(json!({"type": "ClusterIP", "ports": [{"port": 80, "protocol": "TCP"}]}));
        assert!(run(&Used::default(), &mut obj).is_empty());
        // Lower band is 256 addresses: the first dynamic one is the 257th usable.
        assert_eq!(obj["spec"]["clusterIP"], "10.96.1.1");
        assert_eq!(obj["spec"]["clusterIPs"], json!(["10.96.1.1"]));
        let mut used = Used::default();
        used.ips.insert(Ipv4Addr::new(10, 96, 1, 1));
        let mut obj = svc(json!({"ports": [{"port": 80}]}));
        run(&used, &mut obj);
        assert_eq!(obj["spec"]["clusterIP"], "10.96.1.2");
    }

    #[test]
    fn headless_and_external_name_get_no_address() {
        let mut obj = svc(json!({"clusterIP": "None", "clusterIPs": ["None"]}));
        assert!(run(&Used::default(), &mut obj).is_empty());
        assert_eq!(obj["spec"]["clusterIP"], "None");
        let mut obj = svc(json!({"type": "ExternalName", "externalName": "example.com"}));
        run(&Used::default(), &mut obj);
        assert!(obj["spec"].get("clusterIP").is_none());
    }

    #[test]
    fn requested_addresses_are_checked() {
        let mut used = Used::default();
        used.ips.insert(Ipv4Addr::new(10, 96, 0, 10));
        let mut obj = svc(json!({"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"]}));
        assert_eq!(
            run(&used, &mut obj),
            vec![
                "spec.clusterIPs: Invalid value: [\"10.96.0.10\"]: failed to allocate IP 10.96.0.10: provided IP is already allocated"
            ]
        );
        let mut obj = svc(json!({"clusterIP": "192.168.0.1", "clusterIPs": ["192.168.0.1"]}));
        assert_eq!(
            run(&used, &mut obj),
            vec![
                "spec.clusterIPs: Invalid value: [\"192.168.0.1\"]: failed to allocate IP 192.168.0.1: the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
            ]
        );
        let mut obj = svc(json!({"clusterIP": "10.96.0.11", "clusterIPs": ["10.96.0.11"]}));
        assert!(run(&used, &mut obj).is_empty());
    }

    #[test]
    fn node_ports_are_allocated_and_checked() {
        let mut used = Used::default();
        used.ports.insert(30000);
        let mut obj = svc(
            json!({"type": "NodePort", "ports": [{"name": "a", "port": 80, "protocol": "TCP"}, {"name": "b", "port": 443, "protocol": "TCP", "nodePort": 30001}]}),
        );
        assert!(run(&used, &mut obj).is_empty());
        assert_eq!(obj["spec"]["ports"][0]["nodePort"], 30002);
        assert_eq!(obj["spec"]["ports"][1]["nodePort"], 30001);
        let mut obj = svc(
            json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": 30000}, {"port": 81, "nodePort": 80}]}),
        );
        assert_eq!(
            run(&used, &mut obj),
            vec![
                "spec.ports[0].nodePort: Invalid value: 30000: provided port is already allocated",
                "spec.ports[1].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767",
            ]
        );
        let mut obj = svc(
            json!({"type": "LoadBalancer", "allocateLoadBalancerNodePorts": false, "ports": [{"port": 80}]}),
        );
        run(&used, &mut obj);
        assert!(obj["spec"]["ports"][0].get("nodePort").is_none());
        let mut obj = svc(
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local", "ports": [{"port": 80}]}),
        );
        run(&used, &mut obj);
        assert_eq!(obj["spec"]["ports"][0]["nodePort"], 30001);
        assert_eq!(obj["spec"]["healthCheckNodePort"], 30002);
    }
}
