//! Printers for the smaller API groups: leases, endpoint slices, events.k8s.io events,
//! pod disruption budgets, horizontal pod autoscalers, priority classes and storage
//! classes.

use jiff::Timestamp;
use serde_json::Value;

use super::core::{EVENT_COLUMNS, EventFields, event_row};
use super::print::{self, age, array_at, int_at, str_at};
use super::{Column, Printer, docs};

pub fn printer(group: &str, plural: &str) -> Option<Printer> {
    Some(match (group, plural) {
        ("coordination.k8s.io", "leases") => LEASES,
        ("discovery.k8s.io", "endpointslices") => ENDPOINT_SLICES,
        ("events.k8s.io", "events") => EVENTS,
        ("policy", "poddisruptionbudgets") => POD_DISRUPTION_BUDGETS,
        ("autoscaling", "horizontalpodautoscalers") => HORIZONTAL_POD_AUTOSCALERS,
        ("scheduling.k8s.io", "priorityclasses") => PRIORITY_CLASSES,
        ("storage.k8s.io", "storageclasses") => STORAGE_CLASSES,
        _ => return None,
    })
}

const LEASES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Holder", "string", docs::HOLDER_DOC),
        Column::AGE,
    ],
    |lease, now| {
        vec![
            print::name(lease).into(),
            str_at(lease, "/spec/holderIdentity").into(),
            age(lease, now).into(),
        ]
    },
);

// ---------------------------------------------------------------------------------------
// Endpoint slices

const ENDPOINT_SLICES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("AddressType", "string", docs::ADDRESS_TYPE_DOC),
        Column::new("Ports", "string", docs::SLICE_PORTS_DOC),
        Column::new("Endpoints", "string", docs::SLICE_ENDPOINTS_DOC),
        Column::AGE,
    ],
    endpoint_slice_row,
);

fn endpoint_slice_row(slice: &Value, now: Timestamp) -> Vec<Value> {
    // A port by number, else by name, else `*` (all ports).
    let ports: Vec<String> = array_at(slice, "/ports")
        .iter()
        .map(|p| {
            match (
                p.pointer("/port").and_then(Value::as_i64),
                p.pointer("/name").and_then(Value::as_str),
            ) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".to_string(),
            }
        })
        .collect();
    let addresses: Vec<String> = array_at(slice, "/endpoints")
        .iter()
        .flat_map(|e| {
            array_at(e, "/addresses")
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    vec![
        print::name(slice).into(),
        str_at(slice, "/addressType").into(),
        print::list_with_more(&ports, ports.len(), 3, "<unset>").into(),
        print::list_with_more(&addresses, addresses.len(), 3, "<unset>").into(),
        age(slice, now).into(),
    ]
}

// ---------------------------------------------------------------------------------------
// events.k8s.io events: the same table as core events, from the new API's field names.

const EVENTS_V1: EventFields = EventFields {
    regarding: "/regarding",
    message: "/note",
    source: "/deprecatedSource",
    first_timestamp: "/deprecatedFirstTimestamp",
    last_timestamp: "/deprecatedLastTimestamp",
    count: "/deprecatedCount",
    reporting_controller: "/reportingController",
};

const EVENTS: Printer = Printer::new(EVENT_COLUMNS, |event, now| {
    event_row(event, &EVENTS_V1, now)
});

// ---------------------------------------------------------------------------------------
// Pod disruption budgets

const POD_DISRUPTION_BUDGETS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new(
            "Min Available",
            "string",
            "The minimum number of pods that must be available.",
        ),
        Column::new(
            "Max Unavailable",
            "string",
            "The maximum number of pods that may be unavailable.",
        ),
        Column::new(
            "Allowed Disruptions",
            "integer",
            "Calculated number of pods that may be disrupted at this time.",
        ),
        Column::AGE,
    ],
    |pdb, now| {
        let bound = |pointer: &str| match pdb.pointer(pointer) {
            Some(v) if !v.is_null() => print::int_or_string(v),
            _ => "N/A".to_string(),
        };
        vec![
            print::name(pdb).into(),
            bound("/spec/minAvailable").into(),
            bound("/spec/maxUnavailable").into(),
            int_at(pdb, "/status/disruptionsAllowed").into(),
            age(pdb, now).into(),
        ]
    },
);

// ---------------------------------------------------------------------------------------
// Horizontal pod autoscalers (printed from the stored autoscaling/v2 form)

const HORIZONTAL_POD_AUTOSCALERS: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Reference", "string", docs::HPA_REF_DOC),
        Column::new("Targets", "string", docs::HPA_METRICS_DOC),
        Column::new("MinPods", "string", docs::HPA_MIN_DOC),
        Column::new("MaxPods", "string", docs::HPA_MAX_DOC),
        Column::new("Replicas", "string", docs::HPA_CURRENT_DOC),
        Column::AGE,
    ],
    hpa_row,
);

fn hpa_row(hpa: &Value, now: Timestamp) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        str_at(hpa, "/spec/scaleTargetRef/kind"),
        str_at(hpa, "/spec/scaleTargetRef/name")
    );
    let min_pods = match hpa.pointer("/spec/minReplicas").and_then(Value::as_i64) {
        Some(min) => min.to_string(),
        None => "<unset>".into(),
    };
    vec![
        print::name(hpa).into(),
        reference.into(),
        hpa_metrics(
            array_at(hpa, "/spec/metrics"),
            array_at(hpa, "/status/currentMetrics"),
        )
        .into(),
        min_pods.into(),
        int_at(hpa, "/spec/maxReplicas").into(),
        int_at(hpa, "/status/currentReplicas").into(),
        age(hpa, now).into(),
    ]
}

/// Upstream's `formatHPAMetrics`: `current/target` per metric (its status is the one at
/// the same index), the first two, then how many more. E.g. a CPU utilization target
/// of 50% at 12% reads `cpu: 12%/50%`; before the first measurement, `cpu: <unknown>/50%`.
fn hpa_metrics(specs: &[Value], statuses: &[Value]) -> String {
    const MAX: usize = 2;
    if specs.is_empty() {
        return "<none>".into();
    }
    let list: Vec<String> = specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let status = statuses.get(i).unwrap_or(&Value::Null);
            // A quantity as Go's `*Quantity.String()` prints it: `<nil>` when unset.
            let quantity = |v: &Value, pointer: &str| {
                v.pointer(pointer)
                    .and_then(Value::as_str)
                    .unwrap_or("<nil>")
                    .to_string()
            };
            let current = |pointer: &str| match status.pointer(pointer) {
                Some(v) if !v.is_null() => v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string()),
                _ => "<unknown>".to_string(),
            };
            let has_status = |source: &str| {
                status
                    .pointer(&format!("/{source}"))
                    .is_some_and(Value::is_object)
            };
            match str_at(spec, "/type") {
                source @ ("External" | "Object") => {
                    let key = if source == "External" {
                        "external"
                    } else {
                        "object"
                    };
                    if spec
                        .pointer(&format!("/{key}/target/averageValue"))
                        .is_some_and(|v| !v.is_null())
                    {
                        let cur = current(&format!("/{key}/current/averageValue"));
                        format!(
                            "{cur}/{} (avg)",
                            quantity(spec, &format!("/{key}/target/averageValue"))
                        )
                    } else {
                        let cur = if has_status(key) {
                            quantity(status, &format!("/{key}/current/value"))
                        } else {
                            "<unknown>".into()
                        };
                        format!("{cur}/{}", quantity(spec, &format!("/{key}/target/value")))
                    }
                }
                "Pods" => {
                    let cur = if has_status("pods") {
                        quantity(status, "/pods/current/averageValue")
                    } else {
                        "<unknown>".into()
                    };
                    format!("{cur}/{}", quantity(spec, "/pods/target/averageValue"))
                }
                source @ ("Resource" | "ContainerResource") => {
                    let key = if source == "Resource" {
                        "resource"
                    } else {
                        "containerResource"
                    };
                    let name = str_at(spec, &format!("/{key}/name"));
                    if spec
                        .pointer(&format!("/{key}/target/averageValue"))
                        .is_some_and(|v| !v.is_null())
                    {
                        let cur = if has_status(key) {
                            quantity(status, &format!("/{key}/current/averageValue"))
                        } else {
                            "<unknown>".into()
                        };
                        format!(
                            "{name}: {cur}/{}",
                            quantity(spec, &format!("/{key}/target/averageValue"))
                        )
                    } else {
                        let cur = match status
                            .pointer(&format!("/{key}/current/averageUtilization"))
                            .and_then(Value::as_i64)
                        {
                            Some(u) => format!("{u}%"),
                            None => "<unknown>".into(),
                        };
                        let target = match spec
                            .pointer(&format!("/{key}/target/averageUtilization"))
                            .and_then(Value::as_i64)
                        {
                            Some(u) => format!("{u}%"),
                            None => "<auto>".into(),
                        };
                        format!("{name}: {cur}/{target}")
                    }
                }
                _ => "<unknown type>".into(),
            }
        })
        .collect();
    let shown = list
        .iter()
        .take(MAX)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > MAX {
        format!("{shown} + {} more...", list.len() - MAX)
    } else {
        shown
    }
}

// ---------------------------------------------------------------------------------------
// Priority classes and storage classes

const PRIORITY_CLASSES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Value", "integer", docs::PC_VALUE_DOC),
        Column::new("Global-Default", "boolean", docs::PC_GLOBAL_DEFAULT_DOC),
        Column::AGE,
        // Not marked wide upstream, so kubectl always shows it.
        Column::new("PreemptionPolicy", "string", docs::PC_PREEMPTION_DOC),
    ],
    |pc, now| {
        vec![
            print::name(pc).into(),
            int_at(pc, "/value").into(),
            pc.pointer("/globalDefault")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .into(),
            age(pc, now).into(),
            str_at(pc, "/preemptionPolicy").into(),
        ]
    },
);

/// The annotations that make a storage class the cluster's default.
const DEFAULT_CLASS_ANNOTATIONS: [&str; 2] = [
    "/metadata/annotations/storageclass.kubernetes.io~1is-default-class",
    "/metadata/annotations/storageclass.beta.kubernetes.io~1is-default-class",
];

const STORAGE_CLASSES: Printer = Printer::new(
    &[
        Column::NAME,
        Column::new("Provisioner", "string", docs::SC_PROVISIONER_DOC),
        Column::new("ReclaimPolicy", "string", docs::SC_RECLAIM_DOC),
        Column::new("VolumeBindingMode", "string", docs::SC_BINDING_MODE_DOC),
        Column::new("AllowVolumeExpansion", "string", docs::SC_EXPANSION_DOC),
        Column::AGE,
    ],
    |sc, now| {
        let is_default = DEFAULT_CLASS_ANNOTATIONS
            .iter()
            .any(|a| sc.pointer(a).and_then(Value::as_str) == Some("true"));
        let name = if is_default {
            format!("{} (default)", print::name(sc))
        } else {
            print::name(sc).to_string()
        };
        let or = |pointer: &str, default: &str| match str_at(sc, pointer) {
            "" => default.to_string(),
            v => v.to_string(),
        };
        vec![
            name.into(),
            str_at(sc, "/provisioner").into(),
            or("/reclaimPolicy", "Delete").into(),
            or("/volumeBindingMode", "Immediate").into(),
            sc.pointer("/allowVolumeExpansion")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .into(),
            age(sc, now).into(),
        ]
    },
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().expect("time")
    }

    fn meta(name: &str) -> Value {
        json!({"name": name, "creationTimestamp": "2026-03-01T11:00:00Z"})
    }

    #[test]
    fn leases_and_endpoint_slices() {
        let lease = json!({"metadata": meta("node-1"), "spec": {"holderIdentity": "node-1"}});
        assert_eq!(
            (LEASES.row)(&lease, now()),
            vec![json!("node-1"), json!("node-1"), json!("60m")]
        );
        let slice = json!({"metadata": meta("web-abc"), "addressType": "IPv4",
            "ports": [{"port": 80, "name": "http"}, {"name": "metrics"}, {}, {"port": 9090}],
            "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]});
        assert_eq!(
            endpoint_slice_row(&slice, now()),
            vec![
                json!("web-abc"),
                json!("IPv4"),
                json!("80,metrics,* + 1 more..."),
                json!("10.0.0.1,10.0.0.2,10.0.0.3 + 1 more..."),
                json!("60m")
            ]
        );
        let empty = endpoint_slice_row(
            &json!({"metadata": meta("e"), "addressType": "IPv4"}),
            now(),
        );
        assert_eq!(
            (&empty[2], &empty[3]),
            (&json!("<unset>"), &json!("<unset>"))
        );
    }

    #[test]
    fn events_of_the_new_api() {
        let event = json!({"metadata": meta("web.1"), "regarding": {"kind": "Pod", "name": "web"}, "note": "Created pod", "reason": "Created",
            "type": "Normal", "eventTime": "2026-03-01T11:59:00.000000Z", "reportingController": "kubelet", "reportingInstance": "node-1"});
        let row = (EVENTS.row)(&event, now());
        assert_eq!(
            &row[..7],
            &[
                json!("60s"),
                json!("Normal"),
                json!("Created"),
                json!("pod/web"),
                json!(""),
                json!("kubelet, node-1"),
                json!("Created pod")
            ]
        );
    }

    #[test]
    fn pod_disruption_budgets() {
        let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            (POD_DISRUPTION_BUDGETS.row)(&pdb, now()),
            vec![
                json!("web"),
                json!("2"),
                json!("N/A"),
                json!(1),
                json!("60m")
            ]
        );
        let pct = json!({"metadata": meta("db"), "spec": {"maxUnavailable": "25%"}});
        assert_eq!(
            (POD_DISRUPTION_BUDGETS.row)(&pct, now())[1..4],
            [json!("N/A"), json!("25%"), json!(0)]
        );
    }

    #[test]
    fn horizontal_pod_autoscalers() {
        let hpa = json!({"metadata": meta("web"),
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": 2, "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]}});
        assert_eq!(
            hpa_row(&hpa, now()),
            vec![
                json!("web"),
                json!("Deployment/web"),
                json!("cpu: 12%/50%"),
                json!("1"),
                json!(10),
                json!(2),
                json!("60m")
            ]
        );
        let metrics = json!([
            {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "100Mi"}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}},
            {"type": "External", "external": {"metric": {"name": "queue"}, "target": {"type": "Value", "value": "30"}}},
        ]);
        let specs = metrics.as_array().cloned().unwrap_or_default();
        assert_eq!(
            hpa_metrics(&specs, &[]),
            "memory: <unknown>/100Mi, <unknown>/10 + 1 more..."
        );
        assert_eq!(
            hpa_metrics(
                &specs[2..],
                &[json!({"type": "External", "external": {"current": {"value": "7"}}})]
            ),
            "7/30"
        );
        assert_eq!(hpa_metrics(&[], &[]), "<none>");
        let auto = json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization"}}}]);
        assert_eq!(
            hpa_metrics(auto.as_array().map(Vec::as_slice).unwrap_or_default(), &[]),
            "cpu: <unknown>/<auto>"
        );
        let bare = hpa_row(
            &json!({"metadata": meta("x"), "spec": {"maxReplicas": 3}}),
            now(),
        );
        assert_eq!(
            &bare[1..6],
            &[
                json!("/"),
                json!("<none>"),
                json!("<unset>"),
                json!(3),
                json!(0)
            ]
        );
    }

    #[test]
    fn priority_and_storage_classes() {
        let pc = json!({"metadata": meta("high"), "value": 1000, "preemptionPolicy": "PreemptLowerPriority"});
        assert_eq!(
            (PRIORITY_CLASSES.row)(&pc, now()),
            vec![
                json!("high"),
                json!(1000),
                json!(false),
                json!("60m"),
                json!("PreemptLowerPriority")
            ]
        );
        let mut sc = json!({"metadata": meta("standard"), "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
        sc["metadata"]["annotations"] =
            json!({"storageclass.kubernetes.io/is-default-class": "true"});
        assert_eq!(
            (STORAGE_CLASSES.row)(&sc, now()),
            vec![
                json!("standard (default)"),
                json!("rancher.io/local-path"),
                json!("Delete"),
                json!("WaitForFirstConsumer"),
                json!(false),
                json!("60m")
            ]
        );
        let plain = json!({"metadata": meta("slow"), "provisioner": "x", "reclaimPolicy": "Retain", "allowVolumeExpansion": true});
        assert_eq!(
            &(STORAGE_CLASSES.row)(&plain, now())[..5],
            &[
                json!("slow"),
                json!("x"),
                json!("Retain"),
                json!("Immediate"),
                json!(true)
            ]
        );
    }
}
