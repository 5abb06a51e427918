//! Services: `SetDefaults_Service`, cluster-IP normalization and carry-over from the service
//! strategy and REST layer, `dropTypeDependentFields`, and `ValidateService(Update)`.
//! Allocation needs state: it is `crate::allocator`'s, after this strategy.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{ClientIPConfig, Service, ServiceStatus, SessionAffinityConfig};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::{
    self, is_dns1123_label, is_dns1123_subdomain, is_qualified_name, is_valid_ip, is_valid_port_num,
};
use serde_json::Value;

use super::Strategy;
use super::field::{Errors, Path, json};
use super::meta::{Scope, validate_labels};
use super::podspec::port_num_or_name;

/// `v1.DefaultClientIPServiceAffinitySeconds`: three hours.
const DEFAULT_AFFINITY_SECONDS: i32 = 10800;
const MAX_AFFINITY_SECONDS: i32 = 86400;

fn svc_type(s: &Service) -> String {
    s.spec
        .as_ref()
        .and_then(|x| x.type_.clone())
        .unwrap_or_default()
}

/// `ExternallyAccessible`: reachable from outside through node ports or a load balancer.
fn externally_accessible(s: &Service) -> bool {
    let spec = s.spec.clone().unwrap_or_default();
    match spec.type_.as_deref() {
        Some("LoadBalancer" | "NodePort") => true,
        Some("ClusterIP") => spec.external_ips.as_ref().is_some_and(|e| !e.is_empty()),
        _ => false,
    }
}

fn is_headless(s: &Service) -> bool {
    s.spec
        .as_ref()
        .is_some_and(|x| x.cluster_ip.as_deref() == Some("None"))
}

impl Strategy for Service {
    const SCOPE: Scope = Scope::Namespaced;
    const NAME_FN: validation::NameFn = validation::name_is_dns1035_label;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    /// `SetDefaults_Service`, plus the IP-family fields the REST layer fills for a
    /// single-stack IPv4 cluster.
    fn default(&mut self, _create: bool) {
        {
            let spec = self.spec.get_or_insert_with(Default::default);
            if spec.session_affinity.as_deref().unwrap_or("").is_empty() {
                spec.session_affinity = Some("None".into());
            }
            match spec.session_affinity.as_deref() {
                Some("None") => spec.session_affinity_config = None,
                Some("ClientIP") => {
                    let has = spec
                        .session_affinity_config
                        .as_ref()
                        .and_then(|c| c.client_ip.as_ref())
                        .and_then(|c| c.timeout_seconds)
                        .is_some();
                    if !has {
                        spec.session_affinity_config = Some(SessionAffinityConfig {
                            client_ip: Some(ClientIPConfig {
                                timeout_seconds: Some(DEFAULT_AFFINITY_SECONDS),
                            }),
                        });
                    }
                }
                _ => {}
            }
            if spec.type_.as_deref().unwrap_or("").is_empty() {
                spec.type_ = Some("ClusterIP".into());
            }
            for p in spec.ports.iter_mut().flatten() {
                if p.protocol.as_deref().unwrap_or("").is_empty() {
                    p.protocol = Some("TCP".into());
                }
                let unset = matches!(&p.target_port, None | Some(IntOrString::Int(0)))
                    || matches!(&p.target_port, Some(IntOrString::String(s)) if s.is_empty());
                if unset {
                    p.target_port = Some(IntOrString::Int(p.port));
                }
            }
        }
        let accessible = externally_accessible(self);
        let Some(spec) = self.spec.as_mut() else {
            return;
        };
        if accessible
            && spec
                .external_traffic_policy
                .as_deref()
                .unwrap_or("")
                .is_empty()
        {
            spec.external_traffic_policy = Some("Cluster".into());
        }
        let t = spec.type_.clone().unwrap_or_default();
        if spec.internal_traffic_policy.is_none()
            && matches!(t.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP")
        {
            spec.internal_traffic_policy = Some("Cluster".into());
        }
        if t == "LoadBalancer" {
            spec.allocate_load_balancer_node_ports.get_or_insert(true);
        }
        // `NormalizeClusterIPs`: clusterIP and clusterIPs[0] say the same thing.
        let ip = spec.cluster_ip.clone().unwrap_or_default();
        if !ip.is_empty() && spec.cluster_ips.as_ref().is_none_or(|v| v.is_empty()) {
            spec.cluster_ips = Some(vec![ip]);
        } else if ip.is_empty()
            && let Some(first) = spec.cluster_ips.as_ref().and_then(|v| v.first())
        {
            spec.cluster_ip = Some(first.clone());
        }
        if t != "ExternalName" {
            if spec.ip_family_policy.is_none() {
                let selectorless_headless = spec.cluster_ip.as_deref() == Some("None")
                    && spec.selector.as_ref().is_none_or(|s| s.is_empty());
                spec.ip_family_policy = Some(
                    if selectorless_headless {
                        "RequireDualStack"
                    } else {
                        "SingleStack"
                    }
                    .into(),
                );
            }
            if spec.ip_families.as_ref().is_none_or(|f| f.is_empty()) {
                spec.ip_families = Some(vec!["IPv4".into()]);
            }
        }
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(ServiceStatus {
            load_balancer: Some(Default::default()),
            conditions: None,
        });
    }

    /// The REST update keeps allocated values a replace leaves out (`patchAllocatedValues`).
    fn prepare_for_update(&mut self, old: &Self) {
        let (Some(new), Some(o)) = (self.spec.as_mut(), old.spec.as_ref()) else {
            return;
        };
        drop_type_dependent_fields(new, o);
        let both_not_external = new.type_.as_deref() != Some("ExternalName")
            && o.type_.as_deref() != Some("ExternalName");
        if both_not_external
            && new.cluster_ip.as_deref().unwrap_or("").is_empty()
            && new.cluster_ips.as_ref().is_none_or(|v| v.is_empty())
        {
            new.cluster_ip.clone_from(&o.cluster_ip);
            new.cluster_ips.clone_from(&o.cluster_ips);
        }
        if matches!(new.type_.as_deref(), Some("NodePort" | "LoadBalancer")) {
            for p in new.ports.iter_mut().flatten() {
                if p.node_port.unwrap_or(0) == 0
                    && let Some(op) = o
                        .ports
                        .iter()
                        .flatten()
                        .find(|op| op.port == p.port && op.protocol == p.protocol)
                {
                    p.node_port = op.node_port;
                }
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        validate_service(self)
    }

    fn validate_update(&self, old: &Self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        let either_external = n.type_.as_deref() == Some("ExternalName")
            || o.type_.as_deref() == Some("ExternalName");
        let (nips, oips) = (
            n.cluster_ips.clone().unwrap_or_default(),
            o.cluster_ips.clone().unwrap_or_default(),
        );
        if !either_external && !oips.is_empty() {
            let p = Path::new("spec").child("clusterIPs").index(0);
            match nips.first() {
                None => errs.push(FieldError::invalid(
                    &p,
                    json(&nips),
                    "primary clusterIP can not be unset",
                )),
                Some(first) if Some(first) != oips.first() => errs.push(FieldError::invalid(
                    &p,
                    json(&nips),
                    "may not change once set",
                )),
                _ => {}
            }
        }
        errs.extend(validate_service(self));
        errs
    }
}

/// `dropTypeDependentFields`: a type change that leaves the values the old type needed
/// as they were drops them (a NodePort Service turned ClusterIP loses its node ports, an
/// ExternalName one its cluster IPs), so a plain `kubectl edit` of the type works.
fn drop_type_dependent_fields(
    new: &mut k8s_openapi::api::core::v1::ServiceSpec,
    old: &k8s_openapi::api::core::v1::ServiceSpec,
) {
    let needs_node_ports = |t: Option<&str>| matches!(t, Some("NodePort" | "LoadBalancer"));
    let (nt, ot) = (new.type_.as_deref(), old.type_.as_deref());
    if nt == Some("ExternalName")
        && ot != Some("ExternalName")
        && new.cluster_ips == old.cluster_ips
    {
        new.cluster_ip = None;
        new.cluster_ips = None;
        new.ip_families = None;
        new.ip_family_policy = None;
    }
    let node_ports = |s: &k8s_openapi::api::core::v1::ServiceSpec| {
        s.ports
            .iter()
            .flatten()
            .map(|p| p.node_port)
            .collect::<Vec<_>>()
    };
    if needs_node_ports(ot) && !needs_node_ports(nt) && node_ports(new) == node_ports(old) {
        for p in new.ports.iter_mut().flatten() {
            p.node_port = None;
        }
    }
    if ot == Some("LoadBalancer")
        && nt != Some("LoadBalancer")
        && new.health_check_node_port == old.health_check_node_port
    {
        new.health_check_node_port = None;
    }
}

/// `ValidateService`.
fn validate_service(s: &Service) -> Errors {
    let mut errs = Errors::new();
    let spec = s.spec.clone().unwrap_or_default();
    let sp = Path::new("spec");
    let t = svc_type(s);
    let headless = is_headless(s);
    let ports = spec.ports.clone().unwrap_or_default();
    if ports.is_empty() && !headless && t != "ExternalName" {
        errs.push(FieldError::required(sp.child("ports"), ""));
    }
    match t.as_str() {
        "LoadBalancer" | "NodePort" if headless => {
            errs.push(FieldError::invalid(
                sp.child("clusterIPs").index(0),
                "None",
                format!("may not be set to 'None' for {t} services"),
            ));
        }
        "ExternalName" => {
            if spec.cluster_ips.as_ref().is_some_and(|v| !v.is_empty()) {
                errs.push(FieldError::forbidden(
                    sp.child("clusterIPs"),
                    "may not be set for ExternalName services",
                ));
            }
            let name = spec.external_name.clone().unwrap_or_default();
            let clean = name.strip_suffix('.').unwrap_or(&name);
            if name.is_empty() {
                errs.push(FieldError::required(sp.child("externalName"), ""));
            } else {
                errs.extend(
                    is_dns1123_subdomain(clean)
                        .into_iter()
                        .map(|m| FieldError::invalid(sp.child("externalName"), clean, m)),
                );
            }
        }
        _ => {}
    }
    for (i, ip) in spec.cluster_ips.iter().flatten().enumerate() {
        if ip != "None" {
            errs.extend(
                is_valid_ip(ip)
                    .into_iter()
                    .map(|m| FieldError::invalid(sp.child("clusterIPs").index(i), ip.as_str(), m)),
            );
        } else if i > 0 {
            errs.push(FieldError::invalid(
                sp.child("clusterIPs").index(i),
                "None",
                "'None' must be the first and only value",
            ));
        }
    }
    let mut names = BTreeSet::new();
    let require_name = ports.len() > 1;
    for (i, p) in ports.iter().enumerate() {
        let pp = sp.child("ports").index(i);
        let name = p.name.clone().unwrap_or_default();
        if require_name && name.is_empty() {
            errs.push(FieldError::required(pp.child("name"), ""));
        } else if !name.is_empty() {
            errs.extend(
                is_dns1123_label(&name)
                    .into_iter()
                    .map(|m| FieldError::invalid(pp.child("name"), name.as_str(), m)),
            );
            if !names.insert(name.clone()) {
                errs.push(FieldError::duplicate(pp.child("name"), name.as_str()));
            }
        }
        errs.extend(
            is_valid_port_num(i64::from(p.port))
                .into_iter()
                .map(|m| FieldError::invalid(pp.child("port"), p.port, m)),
        );
        match p.protocol.as_deref().unwrap_or("") {
            "" => errs.push(FieldError::required(pp.child("protocol"), "")),
            "TCP" | "UDP" | "SCTP" => {}
            other => errs.push(FieldError::not_supported(
                pp.child("protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
        if let Some(tp) = &p.target_port {
            errs.extend(port_num_or_name(tp, &pp.child("targetPort")));
        }
        if let Some(ap) = p.app_protocol.as_deref() {
            errs.extend(
                is_qualified_name(ap)
                    .into_iter()
                    .map(|m| FieldError::invalid(pp.child("appProtocol"), ap, m)),
            );
        }
    }
    match spec.session_affinity.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(sp.child("sessionAffinity"), "")),
        "None" => {
            if let Some(c) = &spec.session_affinity_config {
                errs.push(FieldError::invalid(
                    sp.child("sessionAffinityConfig"),
                    json(c),
                    "must not be set when session affinity is None",
                ));
            }
        }
        "ClientIP" => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            if let Some(secs) = timeout.filter(|s| *s <= 0 || *s > MAX_AFFINITY_SECONDS) {
                errs.push(FieldError::invalid(
                    sp.children(&["sessionAffinityConfig", "clientIP", "timeoutSeconds"]),
                    secs,
                    format!("must be greater than 0 and less than {MAX_AFFINITY_SECONDS}"),
                ));
            }
        }
        other => errs.push(FieldError::not_supported(
            sp.child("sessionAffinity"),
            other,
            &["ClientIP", "None"],
        )),
    }
    match t.as_str() {
        "" => errs.push(FieldError::required(sp.child("type"), "")),
        "ClusterIP" | "ExternalName" | "LoadBalancer" | "NodePort" => {}
        other => errs.push(FieldError::not_supported(
            sp.child("type"),
            other,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        )),
    }
    let mut node_ports = BTreeSet::new();
    let mut port_keys = BTreeSet::new();
    for (i, p) in ports.iter().enumerate() {
        let pp = sp.child("ports").index(i);
        let np = p.node_port.unwrap_or(0);
        if t == "ClusterIP" && np != 0 {
            errs.push(FieldError::forbidden(
                pp.child("nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if np != 0 {
            errs.extend(
                is_valid_port_num(i64::from(np))
                    .into_iter()
                    .map(|m| FieldError::invalid(pp.child("nodePort"), np, m)),
            );
            let key = (p.protocol.clone().unwrap_or_default(), np);
            if !node_ports.insert(key.clone()) {
                errs.push(FieldError::duplicate(pp.child("nodePort"), np));
            }
        }
        let key = (p.protocol.clone().unwrap_or_default(), p.port);
        if !port_keys.insert(key.clone()) {
            errs.push(FieldError::duplicate(
                &pp,
                serde_json::json!({"protocol": key.0, "port": key.1}),
            ));
        }
    }
    if let Some(sel) = &spec.selector {
        errs.extend(validate_labels(sel, &sp.child("selector")));
    }
    match spec.internal_traffic_policy.as_deref() {
        None if matches!(t.as_str(), "NodePort" | "LoadBalancer" | "ClusterIP") => {
            errs.push(FieldError::required(sp.child("internalTrafficPolicy"), ""));
        }
        Some(p) if p != "Cluster" && p != "Local" => {
            errs.push(FieldError::not_supported(
                sp.child("internalTrafficPolicy"),
                p,
                &["Cluster", "Local"],
            ));
        }
        _ => {}
    }
    let etp = spec.external_traffic_policy.clone().unwrap_or_default();
    if !externally_accessible(s) {
        if !etp.is_empty() {
            errs.push(FieldError::invalid(
                sp.child("externalTrafficPolicy"),
                etp.as_str(),
                "may only be set for externally-accessible services",
            ));
        }
    } else if etp.is_empty() {
        errs.push(FieldError::required(sp.child("externalTrafficPolicy"), ""));
    } else if etp != "Cluster" && etp != "Local" {
        errs.push(FieldError::not_supported(
            sp.child("externalTrafficPolicy"),
            etp.as_str(),
            &["Cluster", "Local"],
        ));
    }
    if let Some(p) = spec.ip_family_policy.as_deref()
        && !["SingleStack", "PreferDualStack", "RequireDualStack"].contains(&p)
    {
        errs.push(FieldError::not_supported(
            sp.child("ipFamilyPolicy"),
            p,
            &["PreferDualStack", "RequireDualStack", "SingleStack"],
        ));
    }
    for (i, f) in spec.ip_families.iter().flatten().enumerate() {
        if f != "IPv4" && f != "IPv6" {
            errs.push(FieldError::not_supported(
                sp.child("ipFamilies").index(i),
                f.as_str(),
                &["IPv4", "IPv6"],
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{create, update};
    use serde_json::{Value, json};

    fn svc(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn defaults() {
        let out = create(
            "",
            "Service",
            svc(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]})),
        )
        .unwrap_or_default();
        let s = &out["spec"];
        assert_eq!(s["type"], "ClusterIP");
        assert_eq!(s["sessionAffinity"], "None");
        assert_eq!(
            s["ports"],
            json!([{"port": 80, "protocol": "TCP", "targetPort": 80}])
        );
        assert_eq!(s["internalTrafficPolicy"], "Cluster");
        assert_eq!(s["ipFamilyPolicy"], "SingleStack");
        assert_eq!(s["ipFamilies"], json!(["IPv4"]));
        assert!(s.get("clusterIP").is_none());
        assert!(s.get("externalTrafficPolicy").is_none());
        assert_eq!(out["status"], json!({"loadBalancer": {}}));
        let out = create("", "Service", svc(json!({"type": "LoadBalancer", "sessionAffinity": "ClientIP", "ports": [{"port": 80, "targetPort": "http"}]}))).unwrap_or_default();
        let s = &out["spec"];
        assert_eq!(s["externalTrafficPolicy"], "Cluster");
        assert_eq!(s["allocateLoadBalancerNodePorts"], true);
        assert_eq!(
            s["sessionAffinityConfig"],
            json!({"clientIP": {"timeoutSeconds": 10800}})
        );
        assert_eq!(s["ports"][0]["targetPort"], "http");
    }

    #[test]
    fn name_is_dns1035() {
        let mut o = svc(json!({"ports": [{"port": 80}]}));
        o["metadata"]["name"] = json!("1web");
        let e = create("", "Service", o).err().unwrap_or_default();
        assert!(
            e[0].starts_with("metadata.name: Invalid value: \"1web\": a DNS-1035 label"),
            "{e:?}"
        );
    }

    #[test]
    fn ports_and_types() {
        assert_eq!(
            create("", "Service", svc(json!({}))),
            Err(vec!["spec.ports: Required value".to_string()])
        );
        assert_eq!(
            create("", "Service", svc(json!({"type": "Fancy", "ports": [{"port": 80}, {"port": 0, "name": "b", "protocol": "HTTP"}]}))),
            Err(vec![
                "spec.ports[0].name: Required value".to_string(),
                "spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive".to_string(),
                "spec.ports[1].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"".to_string(),
                // targetPort defaults to port, so a bad port makes a bad targetPort too, as upstream.
                "spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive".to_string(),
                "spec.type: Unsupported value: \"Fancy\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"".to_string(),
            ])
        );
        assert_eq!(
            create(
                "",
                "Service",
                svc(
                    json!({"ports": [{"port": 80, "name": "a", "nodePort": 30080}, {"port": 80, "name": "a"}]})
                )
            ),
            Err(vec![
                "spec.ports[1].name: Duplicate value: \"a\"".to_string(),
                "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
                    .to_string(),
                "spec.ports[1]: Duplicate value: {\"port\":80,\"protocol\":\"TCP\"}".to_string(),
            ])
        );
        let headless = create(
            "",
            "Service",
            svc(json!({"clusterIP": "None", "selector": {"app": "db"}})),
        )
        .unwrap_or_default();
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        let ext = create(
            "",
            "Service",
            svc(json!({"type": "ExternalName", "externalName": "example.com"})),
        )
        .unwrap_or_default();
        assert!(ext["spec"].get("ipFamilies").is_none());
    }

    #[test]
    fn cluster_ip_is_kept_and_immutable() {
        let old = svc(json!({"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}));
        let stored = create("", "Service", old.clone()).unwrap_or_default();
        let mut replace = stored.clone();
        replace["spec"].as_object_mut().map(|m| {
            m.remove("clusterIP");
            m.remove("clusterIPs")
        });
        let out = update("", "Service", old.clone(), replace).unwrap_or_default();
        assert_eq!(out["spec"]["clusterIP"], "10.96.0.10");
        let mut change = stored;
        change["spec"]["clusterIP"] = json!("None");
        change["spec"]["clusterIPs"] = json!(["None"]);
        assert_eq!(
            update("", "Service", old, change),
            Err(vec![
                "spec.clusterIPs[0]: Invalid value: [\"None\"]: may not change once set"
                    .to_string()
            ])
        );
    }

    #[test]
    fn a_type_change_drops_what_the_old_type_needed() {
        let old = svc(
            json!({"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 80, "nodePort": 30080}]}),
        );
        let mut to_cluster_ip = create("", "Service", old.clone()).unwrap_or_default();
        to_cluster_ip["spec"]["type"] = json!("ClusterIP");
        to_cluster_ip["spec"]
            .as_object_mut()
            .map(|m| m.remove("externalTrafficPolicy"));
        let out = update("", "Service", old.clone(), to_cluster_ip).unwrap_or_default();
        assert!(out["spec"]["ports"][0].get("nodePort").is_none(), "{out}");
        let mut to_external = create("", "Service", old.clone()).unwrap_or_default();
        to_external["spec"]["type"] = json!("ExternalName");
        to_external["spec"]["externalName"] = json!("example.com");
        to_external["spec"]
            .as_object_mut()
            .map(|m| m.remove("externalTrafficPolicy"));
        let out = update("", "Service", old, to_external).unwrap_or_default();
        assert!(out["spec"].get("clusterIP").is_none(), "{out}");
    }
}
