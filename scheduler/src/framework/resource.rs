//! Resource quantities and a pod's requests, as the scheduler counts them.
//!
//! Upstream's `computePodResourceRequest` (noderesources/fit.go): a pod needs the larger of
//! (a) the sum of its app containers' requests (plus restartable "sidecar" init containers)
//! and (b) the largest single init container's request (plus sidecars started before it),
//! plus `spec.overhead`.
//!
//! Worked example: containers request 100m and 200m CPU, one init container 500m, overhead
//! 10m: max(100m + 200m, 500m) + 10m = 510m.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The CPU a container without a CPU request is counted as for scoring (100m), upstream's
/// `DefaultMilliCPURequest`.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// The memory a container without a memory request is counted as for scoring (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// An amount of each resource: CPU in millicores, memory and storage in bytes, pods in
/// pods, and every other (extended) resource in its own units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    pub allowed_pod_number: i64,
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// From a `resources.requests`/`status.allocatable` map.
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list.into_iter().flatten() {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            "cpu" => self.milli_cpu = milli_value(q),
            "memory" => self.memory = value(q),
            "ephemeral-storage" => self.ephemeral_storage = value(q),
            "pods" => self.allowed_pod_number = value(q),
            other if is_scalar(other) => {
                self.scalar.insert(other.to_string(), value(q));
            }
            _ => {}
        }
    }

    /// Add `other` (saturating: quantities come from users).
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_add(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_add(other.allowed_pod_number);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
    }

    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self
            .ephemeral_storage
            .saturating_sub(other.ephemeral_storage);
        self.allowed_pod_number = self
            .allowed_pod_number
            .saturating_sub(other.allowed_pod_number);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_sub(*v);
        }
    }

    /// Each resource the larger of the two.
    pub fn set_max(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// The amount of `name` (`cpu` in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pod_number,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }
}

/// A resource name looked up once (plugin configuration), so that reading it from a
/// [`Resource`] for every node compares no strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    Cpu,
    Memory,
    EphemeralStorage,
    Pods,
    Other(String),
}

impl Name {
    pub fn new(name: &str) -> Self {
        match name {
            "cpu" => Name::Cpu,
            "memory" => Name::Memory,
            "ephemeral-storage" => Name::EphemeralStorage,
            "pods" => Name::Pods,
            other => Name::Other(other.to_string()),
        }
    }

    /// The amount of this resource in `r` (`cpu` in millicores).
    pub fn of(&self, r: &Resource) -> i64 {
        match self {
            Name::Cpu => r.milli_cpu,
            Name::Memory => r.memory,
            Name::EphemeralStorage => r.ephemeral_storage,
            Name::Pods => r.allowed_pod_number,
            Name::Other(n) => r.scalar.get(n).copied().unwrap_or(0),
        }
    }

    /// cpu, memory and ephemeral storage are scored even when the pod does not ask for
    /// them (upstream's `calculateResourceAllocatableRequest`).
    pub fn always_scored(&self) -> bool {
        matches!(self, Name::Cpu | Name::Memory | Name::EphemeralStorage)
    }
}

/// Resources scheduled by count besides cpu, memory, storage and pods, upstream's
/// `IsScalarResourceName`: extended resources (`example.com/gpu`), hugepages, attachable
/// volumes, and names in the `kubernetes.io/` namespace.
pub fn is_scalar(name: &str) -> bool {
    is_extended(name)
        || name.starts_with("hugepages-")
        || name.starts_with("attachable-volumes-")
        || name.contains("kubernetes.io/")
}

/// Upstream's `IsExtendedResourceName`: a domain-prefixed name outside `kubernetes.io/`
/// that is valid as `requests.<name>` in a quota.
fn is_extended(name: &str) -> bool {
    name.contains('/')
        && !name.contains("kubernetes.io/")
        && !name.starts_with("requests.")
        && kubesim_apimachinery::validation::is_qualified_name(&format!("requests.{name}"))
            .is_empty()
}

/// The quantity in thousandths, rounded up (upstream's `MilliValue`).
pub fn milli_value(q: &Quantity) -> i64 {
    parse_scaled(&q.0, 3)
}

/// The quantity in units, rounded up (upstream's `Value`).
pub fn value(q: &Quantity) -> i64 {
    parse_scaled(&q.0, 0)
}

/// Parse a Kubernetes quantity and return it times 10^scale, rounded up. A malformed
/// quantity (the API server validates them) counts as 0.
fn parse_scaled(s: &str, scale: i32) -> i64 {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let Ok(mut n) = num.parse::<f64>() else {
        return 0;
    };
    let (base2, exp10): (Option<i32>, i32) = match suffix {
        "" => (None, 0),
        "n" => (None, -9),
        "u" => (None, -6),
        "m" => (None, -3),
        "k" => (None, 3),
        "M" => (None, 6),
        "G" => (None, 9),
        "T" => (None, 12),
        "P" => (None, 15),
        "E" => (None, 18),
        "Ki" => (Some(10), 0),
        "Mi" => (Some(20), 0),
        "Gi" => (Some(30), 0),
        "Ti" => (Some(40), 0),
        "Pi" => (Some(50), 0),
        "Ei" => (Some(60), 0),
        e if e.starts_with(['e', 'E']) => (None, e[1..].parse::<i32>().unwrap_or(0)),
        _ => return 0,
    };
    if let Some(p) = base2 {
        n *= 2f64.powi(p);
    }
    n *= 10f64.powi(exp10.saturating_add(scale));
    if n.is_infinite() {
        return if n > 0.0 { i64::MAX } else { i64::MIN };
    }
    // Guard float noise (0.1 * 1000 = 100.00000000000001) before rounding up.
    let v = (n - n.abs() * 1e-14).ceil();
    if v >= i64::MAX as f64 {
        i64::MAX
    } else if v <= i64::MIN as f64 {
        i64::MIN
    } else {
        v as i64
    }
}

fn container_requests(c: &Container) -> Resource {
    Resource::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// What the pod needs on a node (see the module doc), `allowed_pod_number` 0. With
/// `non_zero`, containers without a CPU or memory request count as the defaults, as
/// scoring does (`GetNonzeroRequests`).
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else {
        return Resource::default();
    };
    let adjust = |mut r: Resource, c: &Container| {
        if non_zero {
            let has = |n: &str| {
                c.resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .is_some_and(|m| m.contains_key(n))
            };
            if !has("cpu") {
                r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
            }
            if !has("memory") {
                r.memory = DEFAULT_MEMORY_REQUEST;
            }
        }
        r
    };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&adjust(container_requests(c), c));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let r = adjust(container_requests(c), c);
        if is_sidecar(c) {
            sidecars.add(&r);
            reqs.add(&r);
        } else {
            let mut with_sidecars = r;
            with_sidecars.add(&sidecars);
            init_max.set_max(&with_sidecars);
        }
    }
    reqs.set_max(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add(&Resource::from_list(Some(overhead)));
    }
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{PodBuilder, q};

    #[test]
    fn quantities() {
        let cases = [
            ("1e2147483647", i64::MAX, i64::MAX),
            ("100m", 100, 1),
            ("1", 1000, 1),
            ("1.5", 1500, 2),
            ("1Ki", 1_024_000, 1024),
            ("1Gi", 1_073_741_824_000, 1_073_741_824),
            ("2k", 2_000_000, 2000),
            ("1e3", 1_000_000, 1000),
            ("0.1", 100, 1),
            ("1n", 1, 1),
        ];
        for (s, milli, v) in cases {
            assert_eq!(milli_value(&q(s)), milli, "{s} milli");
            assert_eq!(value(&q(s)), v, "{s} value");
        }
    }

    #[test]
    fn pod_requests_take_the_larger_of_containers_and_init_containers_plus_overhead() {
        let pod = PodBuilder::new("p")
            .container_req("100m", "")
            .container_req("200m", "")
            .init_req("500m", "1Gi")
            .overhead("10m")
            .obj();
        let r = pod_requests(&pod, false);
        assert_eq!(r.milli_cpu, 510);
        assert_eq!(r.memory, 1 << 30);
        // Non-zero: the two app containers without memory count 200Mi each.
        let r = pod_requests(&pod, true);
        assert_eq!(r.memory, 1 << 30);
        let best_effort = PodBuilder::new("b").container_req("", "").obj();
        assert_eq!(pod_requests(&best_effort, true).milli_cpu, 100);
        assert_eq!(pod_requests(&best_effort, false).milli_cpu, 0);
    }

    #[test]
    fn scalar_resources_as_upstream() {
        for (name, want) in [
            ("example.com/gpu", true),
            ("hugepages-2Mi", true),
            ("attachable-volumes-aws-ebs", true),
            ("kubernetes.io/batteries", true),
            ("requests.example.com/gpu", false),
            ("cpu", false),
            ("pods", false),
            ("bad_domain!/x", false),
        ] {
            assert_eq!(is_scalar(name), want, "{name}");
        }
    }

    #[test]
    fn sums_saturate() {
        let mut r = Resource {
            milli_cpu: i64::MAX - 1,
            ..Default::default()
        };
        r.add(&Resource {
            milli_cpu: 10,
            scalar: [("example.com/gpu".to_string(), i64::MAX)].into(),
            ..Default::default()
        });
        r.add(&Resource {
            scalar: [("example.com/gpu".to_string(), 1)].into(),
            ..Default::default()
        });
        assert_eq!(
            (r.milli_cpu, r.scalar["example.com/gpu"]),
            (i64::MAX, i64::MAX)
        );
    }

    #[test]
    fn sidecars_add_to_the_app_containers() {
        let pod = PodBuilder::new("p")
            .container_req("100m", "")
            .sidecar_req("50m")
            .init_req("120m", "")
            .obj();
        // max(100 + 50, 120 + 50) = 170
        assert_eq!(pod_requests(&pod, false).milli_cpu, 170);
    }
}
