//! HorizontalPodAutoscaler: autoscaling/v2 defaults and validation, and the v1 ↔ v2
//! conversion (v1's `targetCPUUtilizationPercentage` is v2's cpu Utilization metric).

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerStatus, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::name_is_path_segment;
use serde_json::{Value, json};

use super::Strategy;
use super::field::{Errors, Path};
use super::meta::Scope;

/// `autoscaling.DefaultCPUUtilization`.
const DEFAULT_CPU_UTILIZATION: i32 = 80;

impl Strategy for HorizontalPodAutoscaler {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    /// `SetDefaults_HorizontalPodAutoscaler`: one replica minimum, 80% cpu when no metric.
    fn default(&mut self, _create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.min_replicas.get_or_insert(1);
        if spec.metrics.as_ref().is_none_or(|m| m.is_empty()) {
            spec.metrics = Some(vec![cpu_metric(DEFAULT_CPU_UTILIZATION)]);
        }
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(HorizontalPodAutoscalerStatus::default());
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let spec = self.spec.clone().unwrap_or_default();
        let sp = Path::new("spec");
        let mut errs = Errors::new();
        let rp = sp.child("scaleTargetRef");
        for (v, f) in [
            (&spec.scale_target_ref.kind, "kind"),
            (&spec.scale_target_ref.name, "name"),
        ] {
            if v.is_empty() {
                errs.push(FieldError::required(rp.child(f), ""));
            } else {
                errs.extend(
                    name_is_path_segment(v, false)
                        .into_iter()
                        .map(|m| FieldError::invalid(rp.child(f), v.as_str(), m)),
                );
            }
        }
        let min = spec.min_replicas.unwrap_or(1);
        if min < 1 {
            errs.push(FieldError::invalid(
                sp.child("minReplicas"),
                min,
                "must be greater than or equal to 1",
            ));
        }
        if spec.max_replicas < 1 {
            errs.push(FieldError::invalid(
                sp.child("maxReplicas"),
                spec.max_replicas,
                "must be greater than 0",
            ));
        }
        if spec.max_replicas < min {
            errs.push(FieldError::invalid(
                sp.child("maxReplicas"),
                spec.max_replicas,
                "must be greater than or equal to `minReplicas`",
            ));
        }
        for (i, m) in spec.metrics.iter().flatten().enumerate() {
            let mp = sp.child("metrics").index(i);
            const TYPES: [&str; 5] = [
                "ContainerResource",
                "External",
                "Object",
                "Pods",
                "Resource",
            ];
            if m.type_.is_empty() {
                errs.push(FieldError::required(
                    mp.child("type"),
                    "must specify a metric source type",
                ));
            } else if !TYPES.contains(&m.type_.as_str()) {
                errs.push(FieldError::not_supported(
                    mp.child("type"),
                    m.type_.as_str(),
                    &TYPES,
                ));
            }
            if m.type_ == "Resource" {
                match &m.resource {
                    None => errs.push(FieldError::required(
                        mp.child("resource"),
                        "must populate information for the given metric source",
                    )),
                    Some(r) => {
                        if r.name.is_empty() {
                            errs.push(FieldError::required(
                                mp.children(&["resource", "name"]),
                                "must specify a resource name",
                            ));
                        }
                        errs.extend(validate_target(
                            &r.target,
                            &mp.children(&["resource", "target"]),
                        ));
                    }
                }
            }
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

fn validate_target(t: &MetricTarget, p: &Path) -> Errors {
    let mut errs = Errors::new();
    match t.type_.as_str() {
        "" => errs.push(FieldError::required(
            p.child("type"),
            "must specify a metric target type",
        )),
        "Utilization" | "Value" | "AverageValue" => {}
        other => errs.push(FieldError::not_supported(
            p.child("type"),
            other,
            &["AverageValue", "Utilization", "Value"],
        )),
    }
    if let Some(u) = t.average_utilization.filter(|u| *u <= 0) {
        errs.push(FieldError::invalid(
            p.child("averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
    errs
}

fn cpu_metric(utilization: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(utilization),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

/// autoscaling/v1 → v2: the cpu target becomes a Resource metric, its status a current metric.
pub fn v1_to_v2(mut obj: Value) -> Result<Value, String> {
    let m = obj
        .as_object_mut()
        .ok_or("HorizontalPodAutoscaler must be an object")?;
    m.insert("apiVersion".into(), json!("autoscaling/v2"));
    if let Some(spec) = m.get_mut("spec").and_then(Value::as_object_mut)
        && let Some(cpu) = spec.remove("targetCPUUtilizationPercentage")
    {
        spec.insert(
                "metrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]),
            );
    }
    if let Some(status) = m.get_mut("status").and_then(Value::as_object_mut)
        && let Some(cpu) = status.remove("currentCPUUtilizationPercentage")
    {
        status.insert(
                "currentMetrics".into(),
                json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}]),
            );
    }
    Ok(obj)
}

/// autoscaling/v2 → v1: only the cpu Utilization metric has a v1 field; v1 readers get
/// `targetCPUUtilizationPercentage` and `currentCPUUtilizationPercentage` from it.
pub fn v2_to_v1(mut obj: Value) -> Result<Value, String> {
    let m = obj
        .as_object_mut()
        .ok_or("HorizontalPodAutoscaler must be an object")?;
    m.insert("apiVersion".into(), json!("autoscaling/v1"));
    let is_cpu = |x: &Value| x["type"] == "Resource" && x["resource"]["name"] == "cpu";
    if let Some(spec) = m.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = spec
            .remove("metrics")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        spec.remove("behavior");
        let cpu = metrics
            .iter()
            .find(|x| is_cpu(x) && x["resource"]["target"]["type"] == "Utilization")
            .and_then(|x| x["resource"]["target"]["averageUtilization"].as_i64());
        if let Some(cpu) = cpu {
            spec.insert("targetCPUUtilizationPercentage".into(), json!(cpu));
        }
    }
    if let Some(status) = m.get_mut("status").and_then(Value::as_object_mut) {
        let current = status
            .remove("currentMetrics")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        status.remove("conditions");
        if let Some(cpu) = current
            .iter()
            .find(|x| is_cpu(x))
            .and_then(|x| x["resource"]["current"]["averageUtilization"].as_i64())
        {
            status.insert("currentCPUUtilizationPercentage".into(), json!(cpu));
        }
        // v1's currentReplicas is required; v2 omits zero.
        status.entry("currentReplicas").or_insert(json!(0));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::super::convert;
    use super::super::testutil::create;
    use super::*;

    fn hpa_v1() -> Value {
        json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}})
    }

    #[test]
    fn v1_round_trips_through_v2() {
        let v2 =
            convert("autoscaling", "HorizontalPodAutoscaler", hpa_v1(), "v2").unwrap_or_default();
        assert_eq!(v2["apiVersion"], "autoscaling/v2");
        assert_eq!(
            v2["spec"]["metrics"][0]["resource"]["target"],
            json!({"type": "Utilization", "averageUtilization": 50})
        );
        let stored = create("autoscaling", "HorizontalPodAutoscaler", v2).unwrap_or_default();
        assert_eq!(stored["spec"]["minReplicas"], 1);
        let v1 =
            convert("autoscaling", "HorizontalPodAutoscaler", stored, "v1").unwrap_or_default();
        assert_eq!(v1["apiVersion"], "autoscaling/v1");
        assert_eq!(v1["spec"]["targetCPUUtilizationPercentage"], 50);
        assert!(v1["spec"].get("metrics").is_none());
    }

    #[test]
    fn defaults_and_validation() {
        let mut v2 =
            convert("autoscaling", "HorizontalPodAutoscaler", hpa_v1(), "v2").unwrap_or_default();
        v2["spec"].as_object_mut().map(|s| s.remove("metrics"));
        let out = create("autoscaling", "HorizontalPodAutoscaler", v2.clone()).unwrap_or_default();
        assert_eq!(
            out["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"],
            80
        );
        v2["spec"]["minReplicas"] = json!(10);
        assert_eq!(
            create("autoscaling", "HorizontalPodAutoscaler", v2),
            Err(vec!["spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`".to_string()])
        );
    }
}
