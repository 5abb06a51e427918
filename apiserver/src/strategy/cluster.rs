//! Kinds outside core and apps: coordination Lease, discovery EndpointSlice, events.k8s.io
//! Event, policy PodDisruptionBudget, scheduling PriorityClass, storage StorageClass.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_port_num,
};
use serde_json::Value;

use super::Strategy;
use super::apps::validate_int_or_percent;
use super::field::{Errors, IMMUTABLE, Path, json, non_negative};
use super::meta::{Scope, validate_label_selector};
use super::podspec::enum_required;

impl Strategy for Lease {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let spec = self.spec.clone().unwrap_or_default();
        let sp = Path::new("spec");
        let mut errs = Errors::new();
        if let Some(d) = spec.lease_duration_seconds.filter(|d| *d <= 0) {
            errs.push(FieldError::invalid(
                sp.child("leaseDurationSeconds"),
                d,
                "must be greater than 0",
            ));
        }
        if let Some(t) = spec.lease_transitions {
            errs.extend(non_negative(i64::from(t), &sp.child("leaseTransitions")));
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

impl Strategy for EndpointSlice {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = enum_required(
            Some(&self.address_type),
            &["IPv4", "IPv6", "FQDN"],
            &Path::new("addressType"),
        );
        for (i, ep) in self.endpoints.iter().enumerate() {
            let ap = Path::new("endpoints").index(i).child("addresses");
            if ep.addresses.is_empty() {
                errs.push(FieldError::required(&ap, "must contain at least 1 address"));
            } else if ep.addresses.len() > 100 {
                errs.push(FieldError {
                    kind: kubesim_apimachinery::status::FieldErrorType::TooMany,
                    field: ap.as_str().into(),
                    value: Some(Value::from(ep.addresses.len())),
                    detail: "must have at most 100 items".into(),
                });
            }
            for (j, a) in ep.addresses.iter().enumerate() {
                let p = ap.index(j);
                match self.address_type.as_str() {
                    "IPv4" if a.parse::<std::net::Ipv4Addr>().is_err() => errs.push(
                        FieldError::invalid(&p, a.as_str(), "must be a valid IPv4 address"),
                    ),
                    "IPv6" if a.parse::<std::net::Ipv6Addr>().is_err() => errs.push(
                        FieldError::invalid(&p, a.as_str(), "must be a valid IPv6 address"),
                    ),
                    "FQDN" => errs.extend(
                        is_dns1123_subdomain(a)
                            .into_iter()
                            .map(|m| FieldError::invalid(&p, a.as_str(), m)),
                    ),
                    _ => {}
                }
            }
            if let Some(h) = ep.hostname.as_deref() {
                errs.extend(is_dns1123_label(h).into_iter().map(|m| {
                    FieldError::invalid(Path::new("endpoints").index(i).child("hostname"), h, m)
                }));
            }
        }
        for (i, p) in self.ports.iter().flatten().enumerate() {
            let pp = Path::new("ports").index(i);
            if let Some(n) = p.name.as_deref().filter(|n| !n.is_empty()) {
                errs.extend(
                    is_dns1123_label(n)
                        .into_iter()
                        .map(|m| FieldError::invalid(pp.child("name"), n, m)),
                );
            }
            if let Some(port) = p.port {
                errs.extend(
                    is_valid_port_num(i64::from(port))
                        .into_iter()
                        .map(|m| FieldError::invalid(pp.child("port"), port, m)),
                );
            }
            errs.extend(enum_required(
                p.protocol.as_deref().or(Some("TCP")),
                &["SCTP", "TCP", "UDP"],
                &pp.child("protocol"),
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        if self.address_type != old.address_type {
            errs.push(FieldError::invalid(
                Path::new("addressType"),
                self.address_type.as_str(),
                IMMUTABLE,
            ));
        }
        errs
    }
}

impl Strategy for Event {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    /// `ValidateEventCreate` for events.k8s.io/v1: the new-style fields are required.
    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let ns = self.metadata.namespace.clone().unwrap_or_default();
        let rns = self
            .regarding
            .as_ref()
            .and_then(|r| r.namespace.clone())
            .unwrap_or_default();
        if self.event_time.is_none() {
            errs.push(FieldError::required(Path::new("eventTime"), ""));
        }
        if rns.is_empty() {
            if ns != "default" && ns != "kube-system" && self.event_time.is_some() {
                errs.push(FieldError::invalid(
                    Path::new("regarding").child("namespace"),
                    "",
                    "does not match event.namespace",
                ));
            }
        } else if rns != ns {
            errs.push(FieldError::invalid(
                Path::new("regarding").child("namespace"),
                rns.as_str(),
                "does not match event.namespace",
            ));
        }
        let rc = self.reporting_controller.clone().unwrap_or_default();
        if rc.is_empty() {
            errs.push(FieldError::required(Path::new("reportingController"), ""));
        }
        errs.extend(
            is_qualified_name(&rc)
                .into_iter()
                .map(|m| FieldError::invalid(Path::new("reportingController"), rc.as_str(), m)),
        );
        for (v, f) in [
            (&self.reporting_instance, "reportingInstance"),
            (&self.action, "action"),
            (&self.reason, "reason"),
        ] {
            let v = v.clone().unwrap_or_default();
            if v.is_empty() {
                errs.push(FieldError::required(Path::new(f), ""));
            }
            if v.len() > 128 {
                errs.push(FieldError::invalid(
                    Path::new(f),
                    "",
                    "can have at most 128 characters",
                ));
            }
        }
        if self.note.as_ref().is_some_and(|n| n.len() > 1024) {
            errs.push(FieldError::invalid(
                Path::new("note"),
                "",
                "can have at most 1024 characters",
            ));
        }
        let t = self.type_.clone().unwrap_or_default();
        if t != "Normal" && t != "Warning" {
            errs.push(FieldError::invalid(
                Path::new("type"),
                "",
                format!("has invalid value: {t}"),
            ));
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

impl Strategy for PodDisruptionBudget {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(PodDisruptionBudgetStatus::default());
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let spec = self.spec.clone().unwrap_or_default();
        let sp = Path::new("spec");
        let mut errs = Errors::new();
        if spec.min_available.is_some() && spec.max_unavailable.is_some() {
            errs.push(FieldError::invalid(
                sp.child("minAvailable"),
                json(&spec.min_available),
                "minAvailable and maxUnavailable cannot be both set",
            ));
        }
        for (v, f) in [
            (&spec.min_available, "minAvailable"),
            (&spec.max_unavailable, "maxUnavailable"),
        ] {
            if let Some(v) = v {
                errs.extend(validate_int_or_percent(v, &sp.child(f)));
                if let IntOrString::String(s) = v
                    && s.trim_end_matches('%')
                        .parse::<i64>()
                        .is_ok_and(|n| n > 100)
                {
                    errs.push(FieldError::invalid(
                        sp.child(f),
                        s.as_str(),
                        "must not be greater than 100%",
                    ));
                }
            }
        }
        if let Some(sel) = &spec.selector {
            errs.extend(validate_label_selector(sel, &sp.child("selector")));
        }
        if let Some(p) = spec.unhealthy_pod_eviction_policy.as_deref()
            && p != "IfHealthyBudget"
            && p != "AlwaysAllow"
        {
            errs.push(FieldError::not_supported(
                sp.child("unhealthyPodEvictionPolicy"),
                p,
                &["AlwaysAllow", "IfHealthyBudget"],
            ));
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

/// `scheduling.HighestUserDefinablePriority`.
const HIGHEST_USER_PRIORITY: i32 = 1_000_000_000;

/// The system priority classes (`scheduling.SystemPriorityClasses`): name, value and
/// description. Upstream's API server creates them when it starts and refuses to delete
/// them; only they may use the `system-` prefix.
pub const SYSTEM_PRIORITY_CLASSES: [(&str, i32, &str); 2] = [
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// The value of a system priority class, by name.
pub fn system_priority(name: &str) -> Option<i32> {
    SYSTEM_PRIORITY_CLASSES
        .iter()
        .find(|(system, _, _)| *system == name)
        .map(|(_, value, _)| *value)
}

impl Strategy for PriorityClass {
    const SCOPE: Scope = Scope::Cluster;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn default(&mut self, _create: bool) {
        self.preemption_policy
            .get_or_insert_with(|| "PreemptLowerPriority".into());
    }

    /// Upstream's PriorityClass strategy starts the generation at 1 and never bumps it.
    fn prepare_for_create(&mut self) {
        self.metadata.generation = Some(1);
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let name = self.metadata.name.clone().unwrap_or_default();
        if name.starts_with("system-") {
            let known = system_priority(&name);
            let why = match known {
                None => Some(format!("{name} is not a known system priority class")),
                Some(v) if v != self.value => {
                    Some(format!("value of {name} PriorityClass must be {v}"))
                }
                Some(_) if self.global_default == Some(true) => Some(format!(
                    "globalDefault of {name} PriorityClass must be false"
                )),
                _ => None,
            };
            if let Some(why) = why {
                errs.push(FieldError::forbidden(
                    Path::new("metadata").child("name"),
                    format!("priority class names with 'system-' prefix are reserved for system use only. error: {why}"),
                ));
            }
        } else if self.value > HIGHEST_USER_PRIORITY {
            errs.push(FieldError::forbidden(
                Path::new("value"),
                format!(
                    "maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"
                ),
            ));
        }
        if let Some(p) = self.preemption_policy.as_deref() {
            errs.extend(enum_required(
                Some(p),
                &["PreemptLowerPriority", "Never"],
                &Path::new("preemptionPolicy"),
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        if self.value != old.value {
            errs.push(FieldError::forbidden(
                Path::new("value"),
                "may not be changed in an update.",
            ));
        }
        if self.preemption_policy != old.preemption_policy {
            errs.push(FieldError::invalid(
                Path::new("preemptionPolicy"),
                json(&self.preemption_policy),
                IMMUTABLE,
            ));
        }
        errs
    }
}

impl Strategy for StorageClass {
    const SCOPE: Scope = Scope::Cluster;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    /// `SetDefaults_StorageClass`.
    fn default(&mut self, _create: bool) {
        self.reclaim_policy.get_or_insert_with(|| "Delete".into());
        self.volume_binding_mode
            .get_or_insert_with(|| "Immediate".into());
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let pp = Path::new("provisioner");
        if self.provisioner.is_empty() {
            errs.push(FieldError::required(&pp, ""));
        } else {
            errs.extend(
                is_qualified_name(&self.provisioner.to_lowercase())
                    .into_iter()
                    .map(|m| FieldError::invalid(&pp, self.provisioner.as_str(), m)),
            );
        }
        let mut total = 0;
        for (k, v) in self.parameters.iter().flatten() {
            if k.is_empty() {
                errs.push(FieldError::invalid(
                    Path::new("parameters"),
                    k.as_str(),
                    "field can not be empty.",
                ));
            }
            total += k.len() + v.len();
        }
        if total > 256 * 1024 {
            errs.push(FieldError::too_long(Path::new("parameters"), 256 * 1024));
        }
        if let Some(r) = self.reclaim_policy.as_deref()
            && r != "Delete"
            && r != "Retain"
        {
            errs.push(FieldError::not_supported(
                Path::new("reclaimPolicy"),
                r,
                &["Delete", "Retain"],
            ));
        }
        errs.extend(enum_required(
            self.volume_binding_mode.as_deref(),
            &["Immediate", "WaitForFirstConsumer"],
            &Path::new("volumeBindingMode"),
        ));
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        if self.parameters != old.parameters {
            errs.push(FieldError::forbidden(
                Path::new("parameters"),
                "updates to parameters are forbidden.",
            ));
        }
        if self.provisioner != old.provisioner {
            errs.push(FieldError::forbidden(
                Path::new("provisioner"),
                "updates to provisioner are forbidden.",
            ));
        }
        if self.reclaim_policy != old.reclaim_policy {
            errs.push(FieldError::forbidden(
                Path::new("reclaimPolicy"),
                "updates to reclaimPolicy are forbidden.",
            ));
        }
        if self.volume_binding_mode != old.volume_binding_mode {
            errs.push(FieldError::invalid(
                Path::new("volumeBindingMode"),
                json(&self.volume_binding_mode),
                IMMUTABLE,
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{create, update};
    use serde_json::json;

    #[test]
    fn storage_class_defaults_and_immutability() {
        let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "standard"}, "provisioner": "rancher.io/local-path", "parameters": {"a": "b"}});
        let out = create("storage.k8s.io", "StorageClass", sc.clone()).unwrap_or_default();
        assert_eq!(out["reclaimPolicy"], "Delete");
        assert_eq!(out["volumeBindingMode"], "Immediate");
        let mut new = out;
        new["parameters"] = json!({"a": "c"});
        assert_eq!(
            update("storage.k8s.io", "StorageClass", sc, new),
            Err(vec![
                "parameters: Forbidden: updates to parameters are forbidden.".to_string()
            ])
        );
        let none = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "x"}});
        assert_eq!(
            create("storage.k8s.io", "StorageClass", none),
            Err(vec!["provisioner: Required value".to_string()])
        );
    }

    #[test]
    fn priority_class_rules() {
        let pc = |name: &str, value: i64| json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value});
        let out =
            create("scheduling.k8s.io", "PriorityClass", pc("high", 1000)).unwrap_or_default();
        assert_eq!(out["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(
            create(
                "scheduling.k8s.io",
                "PriorityClass",
                pc("huge", 2_000_000_000)
            ),
            Err(vec![
                "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
                    .to_string()
            ])
        );
        assert_eq!(
            create("scheduling.k8s.io", "PriorityClass", pc("system-mine", 1)),
            Err(vec!["metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class".to_string()])
        );
        let mut changed = out;
        changed["value"] = json!(5);
        assert_eq!(
            update(
                "scheduling.k8s.io",
                "PriorityClass",
                pc("high", 1000),
                changed
            ),
            Err(vec![
                "value: Forbidden: may not be changed in an update.".to_string()
            ])
        );
    }

    #[test]
    fn pdb_lease_slice_event() {
        let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "default"}, "spec": {"minAvailable": 1, "maxUnavailable": "10%"}});
        assert_eq!(
            create("policy", "PodDisruptionBudget", pdb),
            Err(vec!["spec.minAvailable: Invalid value: 1: minAvailable and maxUnavailable cannot be both set".to_string()])
        );
        let ok = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "p", "namespace": "default"}, "spec": {"minAvailable": "50%"}});
        let out = create("policy", "PodDisruptionBudget", ok).unwrap_or_default();
        assert_eq!(out["status"]["disruptionsAllowed"], 0);
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1", "namespace": "kube-node-lease"}, "spec": {"leaseDurationSeconds": 0}});
        assert_eq!(
            create("coordination.k8s.io", "Lease", lease),
            Err(vec![
                "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0".to_string()
            ])
        );
        let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "web-abc", "namespace": "default"},
            "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.300"]}]});
        assert_eq!(
            create("discovery.k8s.io", "EndpointSlice", slice),
            Err(vec!["endpoints[0].addresses[0]: Invalid value: \"10.0.0.300\": must be a valid IPv4 address".to_string()])
        );
        let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
            "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "kubesim/scheduler", "reportingInstance": "s-1",
            "action": "Binding", "reason": "Scheduled", "type": "Normal", "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}});
        assert!(create("events.k8s.io", "Event", ev.clone()).is_ok());
        let mut bad = ev;
        bad["type"] = json!("Info");
        assert_eq!(
            create("events.k8s.io", "Event", bad),
            Err(vec![
                "type: Invalid value: \"\": has invalid value: Info".to_string()
            ])
        );
    }
}
