//! Printers for the core group (`/api/v1`) besides pods: nodes, namespaces, services,
//! endpoints, configmaps, secrets, service accounts, events, volumes and claims,
//! resource quotas. (LimitRanges have no printer upstream: they get the default table.)

use jiff::Timestamp;
use serde_json::Value;

use super::print::{self, age, array_at, int_at, since, str_at, timestamp};
use super::{Column, Printer, docs};

pub fn printer(plural: &str) -> Option<Printer> {
    Some(match plural {
        "nodes" => NODES,
        "namespaces" => NAMESPACES,
        "services" => SERVICES,
        "endpoints" => ENDPOINTS,
        "configmaps" => CONFIGMAPS,
        "secrets" => SECRETS,
        "serviceaccounts" => SERVICE_ACCOUNTS,
        "events" => EVENTS,
        "persistentvolumes" => PERSISTENT_VOLUMES,
        "persistentvolumeclaims" => PERSISTENT_VOLUME_CLAIMS,
        "resourcequotas" => RESOURCE_QUOTAS,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Nodes

const NODES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Status", "string", "The status of the node"),
        Column::new("Roles", "string", "The roles of the node"),
        Column::AGE,
        Column::new("Version", "string", docs::KUBELET_VERSION_DOC),
        Column::wide("Internal-IP", "string", docs::ADDRESSES_DOC),
        Column::wide("External-IP", "string", docs::ADDRESSES_DOC),
        Column::wide("OS-Image", "string", docs::OS_IMAGE_DOC),
        Column::wide("Kernel-Version", "string", docs::KERNEL_VERSION_DOC),
        Column::wide("Container-Runtime", "string", docs::CONTAINER_RUNTIME_DOC),
    ],
    node_row,
);

/// Labels that give a node a role: `node-role.kubernetes.io/<role>` (any value), or
/// the older `kubernetes.io/role: <role>`.
const NODE_ROLE_PREFIX: &str = "node-role.kubernetes.io/";
const NODE_ROLE_LABEL: &str = "kubernetes.io/role";

fn node_row(node: &Value, now: Timestamp) -> Vec<Value> {
    // Only the Ready condition makes the status; the last one listed counts.
    let ready = array_at(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| str_at(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_at(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled");
    }
    let labels = node.pointer("/metadata/labels").and_then(Value::as_object);
    let roles = print::sorted_unique(labels.into_iter().flatten().filter_map(|(key, value)| {
        match key.strip_prefix(NODE_ROLE_PREFIX) {
            Some(role) if !role.is_empty() => Some(role),
            Some(_) => None,
            None if key == NODE_ROLE_LABEL => value.as_str().filter(|v| !v.is_empty()),
            None => None,
        }
    }));
    let address = |kind: &str| {
        array_at(node, "/status/addresses")
            .iter()
            .find(|a| str_at(a, "/type") == kind)
            .map(|a| str_at(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let info_or_unknown = |field: &str| match str_at(node, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        print::name(node).into(),
        status.join(",").into(),
        (if roles.is_empty() {
            "<none>".to_string()
        } else {
            roles
        })
        .into(),
        age(node, now).into(),
        str_at(node, "/status/nodeInfo/kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info_or_unknown("osImage").into(),
        info_or_unknown("kernelVersion").into(),
        info_or_unknown("containerRuntimeVersion").into(),
    ]
}

// ---------------------------------------------------------------------------------------
// Namespaces, configmaps, secrets, service accounts

const NAMESPACES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Status", "string", "The status of the namespace"),
        Column::AGE,
    ],
    |ns, now| {
        vec![
            print::name(ns).into(),
            str_at(ns, "/status/phase").into(),
            age(ns, now).into(),
        ]
    },
);

const CONFIGMAPS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Data", "string", docs::CONFIGMAP_DATA_DOC),
        Column::AGE,
    ],
    |cm, now| {
        let entries = object_len(cm, "/data") + object_len(cm, "/binaryData");
        vec![print::name(cm).into(), entries.into(), age(cm, now).into()]
    },
);

const SECRETS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Type", "string", docs::SECRET_TYPE_DOC),
        Column::new("Data", "string", docs::SECRET_DATA_DOC),
        Column::AGE,
    ],
    |secret, now| {
        vec![
            print::name(secret).into(),
            str_at(secret, "/type").into(),
            object_len(secret, "/data").into(),
            age(secret, now).into(),
        ]
    },
);

const SERVICE_ACCOUNTS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Secrets", "string", docs::SA_SECRETS_DOC),
        Column::AGE,
    ],
    |sa, now| {
        vec![
            print::name(sa).into(),
            array_at(sa, "/secrets").len().into(),
            age(sa, now).into(),
        ]
    },
);

fn object_len(obj: &Value, pointer: &str) -> usize {
    obj.pointer(pointer)
        .and_then(Value::as_object)
        .map_or(0, |m| m.len())
}

// ---------------------------------------------------------------------------------------
// Services and endpoints

const SERVICES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Type", "string", docs::SERVICE_TYPE_DOC),
        Column::new("Cluster-IP", "string", docs::CLUSTER_IP_DOC),
        Column::new("External-IP", "string", docs::EXTERNAL_IPS_DOC),
        Column::new("Port(s)", "string", docs::PORTS_DOC),
        Column::AGE,
        Column::wide("Selector", "string", docs::SELECTOR_DOC),
    ],
    service_row,
);

fn service_row(svc: &Value, now: Timestamp) -> Vec<Value> {
    let cluster_ip = array_at(svc, "/spec/clusterIPs")
        .first()
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let ports: Vec<String> = array_at(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let (port, protocol) = (int_at(p, "/port"), str_at(p, "/protocol"));
            match int_at(p, "/nodePort") {
                node_port if node_port > 0 => format!("{port}:{node_port}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        print::name(svc).into(),
        str_at(svc, "/spec/type").into(),
        cluster_ip.into(),
        service_external_ip(svc).into(),
        ports.into(),
        age(svc, now).into(),
        print::format_labels(svc.pointer("/spec/selector")).into(),
    ]
}

/// Upstream's `getServiceExternalIP`, as the server prints it (wide: load-balancer
/// addresses are never shortened).
fn service_external_ip(svc: &Value) -> String {
    let external_ips: Vec<&str> = array_at(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    match str_at(svc, "/spec/type") {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            let ingress = print::sorted_unique(
                array_at(svc, "/status/loadBalancer/ingress")
                    .iter()
                    .filter_map(|i| match (str_at(i, "/ip"), str_at(i, "/hostname")) {
                        ("", "") => None,
                        ("", hostname) => Some(hostname),
                        (ip, _) => Some(ip),
                    }),
            );
            let mut all: Vec<&str> = ingress.split(',').filter(|s| !s.is_empty()).collect();
            all.extend(external_ips);
            if all.is_empty() {
                "<pending>".into()
            } else {
                all.join(",")
            }
        }
        "ExternalName" => str_at(svc, "/spec/externalName").into(),
        _ => "<unknown>".into(),
    }
}

const ENDPOINTS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Endpoints", "string", docs::SUBSETS_DOC),
        Column::AGE,
    ],
    |ep, now| {
        vec![
            print::name(ep).into(),
            format_endpoints(ep).into(),
            age(ep, now).into(),
        ]
    },
);

/// Upstream's `formatEndpoints`: the first three `ip:port`s, then how many more.
fn format_endpoints(ep: &Value) -> String {
    const MAX: usize = 3;
    let subsets = array_at(ep, "/subsets");
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut list = Vec::new();
    let mut count = 0;
    for subset in subsets {
        let addresses: Vec<&str> = array_at(subset, "/addresses")
            .iter()
            .map(|a| str_at(a, "/ip"))
            .collect();
        let ports = array_at(subset, "/ports");
        if ports.is_empty() {
            // A headless service may have no ports.
            count += addresses.len();
            list.extend(addresses.iter().map(|ip| ip.to_string()));
            continue;
        }
        for port in ports {
            count += addresses.len();
            list.extend(
                addresses
                    .iter()
                    .map(|ip| join_host_port(ip, int_at(port, "/port"))),
            );
        }
    }
    list.truncate(MAX);
    let shown = list.join(",");
    if count > MAX {
        format!("{shown} + {} more...", count - MAX)
    } else {
        shown
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

// ---------------------------------------------------------------------------------------
// Events

/// The columns of `kubectl get events`. The object's name comes last, and only with
/// `-o wide`: an event's name says little.
pub const EVENT_COLUMNS: &[Column] = &[
    Column::new("Last Seen", "string", docs::LAST_TIMESTAMP_DOC),
    Column::new("Type", "string", docs::EVENT_TYPE_DOC),
    Column::new("Reason", "string", docs::EVENT_REASON_DOC),
    Column::new("Object", "string", docs::INVOLVED_OBJECT_DOC),
    Column::wide("Subobject", "string", docs::FIELD_PATH_DOC),
    Column::wide("Source", "string", docs::SOURCE_DOC),
    Column::new("Message", "string", docs::MESSAGE_DOC),
    Column::wide("First Seen", "string", docs::FIRST_TIMESTAMP_DOC),
    Column::wide("Count", "string", docs::COUNT_DOC),
    Column {
        priority: 1,
        ..Column::NAME
    },
];

const EVENTS: Printer = Printer::new(EVENT_COLUMNS, |event, now| {
    event_row(event, &CORE_EVENT, now)
});

/// Where an event's fields are: core/v1 and events.k8s.io/v1 name them differently,
/// and upstream prints both from the same internal type.
pub struct EventFields {
    pub regarding: &'static str,
    pub message: &'static str,
    pub source: &'static str,
    pub first_timestamp: &'static str,
    pub last_timestamp: &'static str,
    pub count: &'static str,
    pub reporting_controller: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    regarding: "/involvedObject",
    message: "/message",
    source: "/source",
    first_timestamp: "/firstTimestamp",
    last_timestamp: "/lastTimestamp",
    count: "/count",
    reporting_controller: "/reportingComponent",
};

pub fn event_row(event: &Value, fields: &EventFields, now: Timestamp) -> Vec<Value> {
    let micro_since = |pointer: &str| since(timestamp(event.pointer(pointer)), now);
    let first_seen = match timestamp(event.pointer(fields.first_timestamp)) {
        Some(at) => since(Some(at), now),
        // Events of the new API have only an eventTime.
        None => micro_since("/eventTime"),
    };
    let mut last_seen = match timestamp(event.pointer(fields.last_timestamp)) {
        Some(at) => since(Some(at), now),
        None => first_seen.clone(),
    };
    let mut count = int_at(event, fields.count);
    if event.pointer("/series").is_some_and(Value::is_object) {
        last_seen = micro_since("/series/lastObservedTime");
        count = int_at(event, "/series/count");
    } else if count == 0 {
        // Singleton events of the new API have no count.
        count = 1;
    }
    let regarding = event.pointer(fields.regarding).unwrap_or(&Value::Null);
    let kind = str_at(regarding, "/kind").to_lowercase();
    let target = match str_at(regarding, "/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = first_non_empty(
        str_at(event, &format!("{}/component", fields.source)),
        str_at(event, fields.reporting_controller),
    );
    let host = first_non_empty(
        str_at(event, &format!("{}/host", fields.source)),
        str_at(event, "/reportingInstance"),
    );
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        last_seen.into(),
        str_at(event, "/type").into(),
        str_at(event, "/reason").into(),
        target.into(),
        str_at(regarding, "/fieldPath").into(),
        source.into(),
        str_at(event, fields.message).trim().into(),
        first_seen.into(),
        count.into(),
        print::name(event).into(),
    ]
}

fn first_non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}

// ---------------------------------------------------------------------------------------
// Volumes and claims

const PERSISTENT_VOLUMES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Capacity", "string", docs::PV_CAPACITY_DOC),
        Column::new("Access Modes", "string", docs::PV_ACCESS_MODES_DOC),
        Column::new("Reclaim Policy", "string", docs::PV_RECLAIM_DOC),
        Column::new("Status", "string", docs::PV_PHASE_DOC),
        Column::new("Claim", "string", docs::PV_CLAIM_DOC),
        Column::new("StorageClass", "string", "StorageClass of the pv"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pv",
        ),
        Column::new("Reason", "string", docs::PV_REASON_DOC),
        Column::AGE,
        Column::wide("VolumeMode", "string", docs::PV_VOLUME_MODE_DOC),
    ],
    pv_row,
);

fn pv_row(pv: &Value, now: Timestamp) -> Vec<Value> {
    let claim = match pv.pointer("/spec/claimRef") {
        Some(claim) if claim.is_object() => {
            format!("{}/{}", str_at(claim, "/namespace"), str_at(claim, "/name"))
        }
        _ => String::new(),
    };
    vec![
        print::name(pv).into(),
        quantity(pv.pointer("/spec/capacity/storage")).into(),
        access_modes(array_at(pv, "/spec/accessModes")).into(),
        str_at(pv, "/spec/persistentVolumeReclaimPolicy").into(),
        phase_or_terminating(pv).into(),
        claim.into(),
        storage_class(pv).into(),
        or_unset(str_at(pv, "/spec/volumeAttributesClassName")).into(),
        str_at(pv, "/status/reason").into(),
        age(pv, now).into(),
        or_unset(str_at(pv, "/spec/volumeMode")).into(),
    ]
}

const PERSISTENT_VOLUME_CLAIMS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Status", "string", docs::PVC_PHASE_DOC),
        Column::new("Volume", "string", docs::PVC_VOLUME_NAME_DOC),
        Column::new("Capacity", "string", docs::PVC_CAPACITY_DOC),
        Column::new("Access Modes", "string", docs::PVC_ACCESS_MODES_DOC),
        Column::new("StorageClass", "string", "StorageClass of the pvc"),
        Column::new(
            "VolumeAttributesClass",
            "string",
            "VolumeAttributesClass of the pvc",
        ),
        Column::AGE,
        Column::wide("VolumeMode", "string", docs::PVC_VOLUME_MODE_DOC),
    ],
    pvc_row,
);

fn pvc_row(pvc: &Value, now: Timestamp) -> Vec<Value> {
    let volume = str_at(pvc, "/spec/volumeName");
    // Capacity and access modes are the bound volume's, so only shown once bound.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(pvc.pointer("/status/capacity/storage")),
            access_modes(array_at(pvc, "/status/accessModes")),
        )
    };
    vec![
        print::name(pvc).into(),
        phase_or_terminating(pvc).into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class(pvc).into(),
        or_unset(str_at(pvc, "/spec/volumeAttributesClassName")).into(),
        age(pvc, now).into(),
        or_unset(str_at(pvc, "/spec/volumeMode")).into(),
    ]
}

fn phase_or_terminating(obj: &Value) -> String {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        "Terminating".into()
    } else {
        str_at(obj, "/status/phase").into()
    }
}

/// The class of a volume or claim: the old beta annotation wins over the field.
fn storage_class(obj: &Value) -> &str {
    match obj
        .pointer("/metadata/annotations/volume.beta.kubernetes.io~1storage-class")
        .and_then(Value::as_str)
    {
        Some(class) => class,
        None => str_at(obj, "/spec/storageClassName"),
    }
}

/// Upstream's `GetAccessModesAsString`: `RWO,ROX,RWX,RWOP`, in that order, once each.
fn access_modes(modes: &[Value]) -> String {
    let has = |mode: &str| modes.iter().any(|m| m.as_str() == Some(mode));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// A stored quantity as `Quantity.String()` prints it (stored quantities are already in
/// canonical form); a missing one is zero.
fn quantity(value: Option<&Value>) -> String {
    match value.and_then(Value::as_str) {
        Some(q) if !q.is_empty() => q.to_string(),
        _ => "0".into(),
    }
}

fn or_unset(s: &str) -> String {
    if s.is_empty() {
        "<unset>".into()
    } else {
        s.into()
    }
}

// ---------------------------------------------------------------------------------------
// Resource quotas

const RESOURCE_QUOTAS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new(
            "Request",
            "string",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        Column::new(
            "Limit",
            "string",
            "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
        ),
        Column::AGE,
    ],
    quota_row,
);

/// `used/hard` per resource, sorted by name; `limits.*` in their own column.
fn quota_row(quota: &Value, now: Timestamp) -> Vec<Value> {
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    // serde_json's map is sorted by key, as upstream sorts resource names.
    for (resource, hard) in quota
        .pointer("/status/hard")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let used = quantity(quota.pointer(&format!(
            "/status/used/{}",
            resource.replace('~', "~0").replace('/', "~1")
        )));
        let entry = format!("{resource}: {used}/{}", quantity(Some(hard)));
        match resource.split_once('.') {
            Some(("limits", _)) => limits.push(entry),
            _ => requests.push(entry),
        }
    }
    vec![
        print::name(quota).into(),
        requests.join(", ").into(),
        limits.join(", ").into(),
        age(quota, now).into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().expect("time")
    }

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": "2026-03-01T10:00:00Z"})
    }

    #[test]
    fn nodes() {
        let node = json!({
            "metadata": {"name": "n1", "creationTimestamp": "2026-02-20T12:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/": "x", "kubernetes.io/role": "worker", "zone": "a"}},
            "spec": {"unschedulable": true},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
                "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.1"}],
                "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "Debian", "kernelVersion": "", "containerRuntimeVersion": "containerd://2.0"},
            },
        });
        assert_eq!(
            node_row(&node, now()),
            vec![
                json!("n1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,worker"),
                json!("9d"),
                json!("v1.35.0"),
                json!("10.0.0.1"),
                json!("<none>"),
                json!("Debian"),
                json!("<unknown>"),
                json!("containerd://2.0"),
            ]
        );
        let bare = node_row(
            &json!({"metadata": meta("n2"), "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}),
            now(),
        );
        assert_eq!((&bare[1], &bare[2]), (&json!("NotReady"), &json!("<none>")));
        assert_eq!(
            node_row(&json!({"metadata": meta("n3")}), now())[1],
            "Unknown"
        );
    }

    #[test]
    fn services() {
        let svc = |spec: Value, status: Value| json!({"metadata": meta("web"), "spec": spec, "status": status});
        let cluster_ip = svc(
            json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "selector": {"app": "web"},
                "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}),
            json!({}),
        );
        assert_eq!(
            service_row(&cluster_ip, now()),
            vec![
                json!("web"),
                json!("ClusterIP"),
                json!("10.96.0.10"),
                json!("<none>"),
                json!("80/TCP,53/UDP"),
                json!("120m"),
                json!("app=web")
            ]
        );
        let node_port = svc(
            json!({"type": "NodePort", "clusterIPs": ["10.96.0.11"], "externalIPs": ["1.2.3.4"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
            json!({}),
        );
        let row = service_row(&node_port, now());
        assert_eq!(
            (&row[3], &row[4], &row[6]),
            (&json!("1.2.3.4"), &json!("80:30080/TCP"), &json!("<none>"))
        );
        let pending = svc(
            json!({"type": "LoadBalancer", "clusterIPs": ["10.96.0.12"], "ports": []}),
            json!({"loadBalancer": {}}),
        );
        assert_eq!(
            (
                &service_row(&pending, now())[3],
                &service_row(&pending, now())[4]
            ),
            (&json!("<pending>"), &json!("<none>"))
        );
        let lb = svc(
            json!({"type": "LoadBalancer", "externalIPs": ["9.9.9.9"]}),
            json!({"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}, {"ip": "1.1.1.1"}]}}),
        );
        assert_eq!(
            service_row(&lb, now())[3],
            "1.1.1.1,5.6.7.8,lb.example.com,9.9.9.9"
        );
        assert_eq!(service_row(&lb, now())[2], "<none>");
        let external = svc(
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
            json!({}),
        );
        assert_eq!(service_row(&external, now())[3], "db.example.com");
        let headless = svc(
            json!({"type": "ClusterIP", "clusterIPs": ["None"]}),
            json!({}),
        );
        assert_eq!(service_row(&headless, now())[2], "None");
    }

    #[test]
    fn endpoints() {
        let ep = |subsets: Value| format_endpoints(&json!({"subsets": subsets}));
        assert_eq!(ep(json!([])), "<none>");
        assert_eq!(
            ep(json!([{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}])),
            "10.0.0.1:80"
        );
        assert_eq!(
            ep(json!([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}])),
            "[fd00::1]:80"
        );
        assert_eq!(
            ep(json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]}])),
            "10.0.0.1,10.0.0.2"
        );
        assert_eq!(
            ep(
                json!([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "10.0.0.3"}], "ports": [{"port": 80}, {"port": 443}]}])
            ),
            "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 3 more..."
        );
        assert_eq!(
            ep(json!([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}])),
            ""
        );
    }

    #[test]
    fn configmaps_secrets_namespaces_service_accounts() {
        let cm = json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(
            (CONFIGMAPS.row)(&cm, now()),
            vec![json!("cfg"), json!(3), json!("120m")]
        );
        assert_eq!(
            (CONFIGMAPS.row)(&json!({"metadata": meta("empty")}), now())[1],
            0
        );
        let secret =
            json!({"metadata": meta("s"), "type": "Opaque", "data": {"password": "cGFzcw=="}});
        assert_eq!(
            (SECRETS.row)(&secret, now()),
            vec![json!("s"), json!("Opaque"), json!(1), json!("120m")]
        );
        let ns = json!({"metadata": meta("dev"), "status": {"phase": "Terminating"}});
        assert_eq!(
            (NAMESPACES.row)(&ns, now()),
            vec![json!("dev"), json!("Terminating"), json!("120m")]
        );
        let sa = json!({"metadata": meta("default")});
        assert_eq!(
            (SERVICE_ACCOUNTS.row)(&sa, now()),
            vec![json!("default"), json!(0), json!("120m")]
        );
    }

    #[test]
    fn events() {
        let event = json!({
            "metadata": {"name": "web.17a", "creationTimestamp": "2026-03-01T11:50:00Z"},
            "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{nginx}"},
            "reason": "Pulled", "type": "Normal", "message": " Successfully pulled image \n",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2026-03-01T11:50:00Z", "lastTimestamp": "2026-03-01T11:58:00Z", "count": 3,
        });
        assert_eq!(
            (EVENTS.row)(&event, now()),
            vec![
                json!("2m"),
                json!("Normal"),
                json!("Pulled"),
                json!("pod/web"),
                json!("spec.containers{nginx}"),
                json!("kubelet, node-1"),
                json!("Successfully pulled image"),
                json!("10m"),
                json!(3),
                json!("web.17a"),
            ]
        );
        // An event of the new API, written through core/v1: eventTime, no count, a reporting controller.
        let new = json!({
            "metadata": {"name": "x"}, "involvedObject": {"kind": "Node"}, "reason": "Registered", "type": "Normal",
            "eventTime": "2026-03-01T11:59:30.123456Z", "reportingComponent": "scheduler", "reportingInstance": "s-1",
        });
        let row = (EVENTS.row)(&new, now());
        // Sub-second times count whole seconds elapsed, as Go truncates.
        assert_eq!(
            (&row[0], &row[3], &row[5], &row[7], &row[8]),
            (
                &json!("29s"),
                &json!("node"),
                &json!("scheduler, s-1"),
                &json!("29s"),
                &json!(1)
            )
        );
        let series = json!({"metadata": {"name": "y"}, "eventTime": "2026-03-01T11:00:00.000000Z", "series": {"count": 7, "lastObservedTime": "2026-03-01T11:59:00.000000Z"}});
        let row = (EVENTS.row)(&series, now());
        assert_eq!(
            (&row[0], &row[7], &row[8]),
            (&json!("60s"), &json!("60m"), &json!(7))
        );
    }

    #[test]
    fn volumes_and_claims() {
        let pv = json!({
            "metadata": meta("pv1"),
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                "claimRef": {"namespace": "default", "name": "data"}, "storageClassName": "fast", "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"},
        });
        assert_eq!(
            pv_row(&pv, now()),
            vec![
                json!("pv1"),
                json!("10Gi"),
                json!("RWO,RWX"),
                json!("Retain"),
                json!("Bound"),
                json!("default/data"),
                json!("fast"),
                json!("<unset>"),
                json!(""),
                json!("120m"),
                json!("Filesystem")
            ]
        );
        let pending = json!({"metadata": meta("data"), "spec": {"resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "standard"}, "status": {"phase": "Pending"}});
        assert_eq!(
            pvc_row(&pending, now()),
            vec![
                json!("data"),
                json!("Pending"),
                json!(""),
                json!(""),
                json!(""),
                json!("standard"),
                json!("<unset>"),
                json!("120m"),
                json!("<unset>")
            ]
        );
        let mut bound = json!({"metadata": meta("data"), "spec": {"volumeName": "pv1", "volumeMode": "Block"},
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOncePod"]}});
        bound["metadata"]["annotations"] =
            json!({"volume.beta.kubernetes.io/storage-class": "legacy"});
        bound["metadata"]["deletionTimestamp"] = json!("2026-03-01T11:00:00Z");
        let row = pvc_row(&bound, now());
        assert_eq!(
            &row[1..6],
            &[
                json!("Terminating"),
                json!("pv1"),
                json!("10Gi"),
                json!("RWOP"),
                json!("legacy")
            ]
        );
    }

    #[test]
    fn resource_quotas() {
        let quota = json!({"metadata": meta("q"), "status": {
            "hard": {"pods": "10", "requests.cpu": "1", "limits.memory": "2Gi", "limits.cpu": "2"},
            "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"},
        }});
        assert_eq!(
            quota_row(&quota, now()),
            vec![
                json!("q"),
                json!("pods: 3/10, requests.cpu: 500m/1"),
                json!("limits.cpu: 1/2, limits.memory: 0/2Gi"),
                json!("120m")
            ]
        );
    }
}
