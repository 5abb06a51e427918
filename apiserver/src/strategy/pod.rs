//! Pods: `SetDefaults_Pod`, the stateless pod admission plugins, `PrepareForCreate` status
//! (phase Pending, QoS class) and `ValidatePodCreate`/`ValidatePodUpdate`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, Container, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    ObjectFieldSelector, Pod, PodCondition, PodSpec, PodStatus, ProjectedVolumeSource,
    ServiceAccountTokenProjection, Toleration, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::inclusive_range_error;
use serde_json::Value;

use super::Strategy;
use super::field::{Errors, Path, json};
use super::meta::Scope;
use super::podspec::{self, Opts, validate_tolerations};
use super::quantity::Quantity;

/// The fields `ValidatePodUpdate` lets change, as its Forbidden message lists them.
const UPDATABLE_POD_SPEC_FIELDS: [&str; 5] = [
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

const SA_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

impl Strategy for Pod {
    const SCOPE: Scope = Scope::Namespaced;

    /// `PodCondition.lastProbeTime` is a non-pointer time: `kubectl get pod -o yaml`
    /// shows `lastProbeTime: null` on every condition that was never probed.
    fn encode_zero_times(obj: &mut Value) {
        let Some(conditions) = obj
            .pointer_mut("/status/conditions")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        for condition in conditions {
            if let Value::Object(c) = condition {
                c.entry("lastProbeTime").or_insert(Value::Null);
            }
        }
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        match self.spec.as_mut() {
            Some(s) => podspec::normalize(s),
            None => Ok(()),
        }
    }

    fn default(&mut self, create: bool) {
        let mirror = self
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(MIRROR_ANNOTATION));
        let seed = self
            .metadata
            .uid
            .clone()
            .or_else(|| self.metadata.name.clone())
            .unwrap_or_default();
        let spec = self.spec.get_or_insert_with(Default::default);
        podspec::default_spec(spec);
        default_pod(spec);
        if create {
            if !mirror {
                admit_service_account(spec, &seed);
            }
            admit_priority(spec);
        }
        admit_default_tolerations(spec);
        if spec.service_account.as_deref().unwrap_or("").is_empty() {
            spec.service_account.clone_from(&spec.service_account_name);
        }
    }

    fn prepare_for_create(&mut self) {
        // A new pod's status is reset: only the phase and the QoS class are known.
        let spec = self.spec.clone().unwrap_or_default();
        let mut status = PodStatus {
            phase: Some("Pending".into()),
            qos_class: Some(qos_class(&spec).into()),
            ..Default::default()
        };
        if spec
            .scheduling_gates
            .as_ref()
            .is_some_and(|g| !g.is_empty())
        {
            status.conditions = Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("SchedulingGated".into()),
                message: Some("Scheduling is blocked due to non-empty scheduling gates".into()),
                ..Default::default()
            }]);
        }
        self.status = Some(status);
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = validate_metadata_and_spec(self);
        let spec = self.spec.clone().unwrap_or_default();
        let sp = Path::new("spec");
        if spec
            .ephemeral_containers
            .as_ref()
            .is_some_and(|e| !e.is_empty())
        {
            errs.push(FieldError::forbidden(
                sp.child("ephemeralContainers"),
                "cannot be set on create",
            ));
        }
        if !spec.node_name.as_deref().unwrap_or("").is_empty()
            && spec
                .scheduling_gates
                .as_ref()
                .is_some_and(|g| !g.is_empty())
        {
            errs.push(FieldError::forbidden(
                sp.child("nodeName"),
                "cannot be set until all schedulingGates have been cleared",
            ));
        }
        errs
    }

    fn validate_update(&self, old: &Self, _raw: &Value) -> Errors {
        let mut errs = validate_metadata_and_spec(self);
        errs.extend(validate_spec_update(
            &self.spec.clone().unwrap_or_default(),
            &old.spec.clone().unwrap_or_default(),
        ));
        errs
    }
}

/// `SetDefaults_Pod`: what only a Pod (not a template) gets.
fn default_pod(spec: &mut PodSpec) {
    // Requests default to limits, so a pod with only limits is Guaranteed.
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        if let Some(r) = c.resources.as_mut()
            && let Some(limits) = r.limits.clone()
        {
            let requests = r.requests.get_or_insert_with(BTreeMap::new);
            for (k, v) in limits {
                requests.entry(k).or_insert(v);
            }
        }
    }
    spec.enable_service_links.get_or_insert(true);
    if spec.host_network == Some(true) {
        for c in spec
            .containers
            .iter_mut()
            .chain(spec.init_containers.iter_mut().flatten())
        {
            for p in c.ports.iter_mut().flatten() {
                if p.host_port.unwrap_or(0) == 0 {
                    p.host_port = Some(p.container_port);
                }
            }
        }
    }
}

/// The ServiceAccount admission plugin: the `default` account, and its token projected into
/// every container unless automounting is off. The volume name's random suffix is derived
/// from the pod's uid so that the same pod always gets the same name.
fn admit_service_account(spec: &mut PodSpec, seed: &str) {
    if spec
        .service_account_name
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        spec.service_account_name = Some("default".into());
    }
    if spec.automount_service_account_token == Some(false) {
        return;
    }
    let mounted = |c: &Container| {
        c.volume_mounts
            .iter()
            .flatten()
            .any(|m| m.mount_path == SA_MOUNT_PATH)
    };
    if spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .any(mounted)
    {
        return;
    }
    let name = format!("kube-api-access-{}", random_suffix(seed));
    spec.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: name.clone(),
        projected: Some(ProjectedVolumeSource {
            default_mode: Some(0o644),
            sources: Some(vec![
                VolumeProjection {
                    service_account_token: Some(ServiceAccountTokenProjection {
                        expiration_seconds: Some(3607),
                        path: "token".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                VolumeProjection {
                    config_map: Some(ConfigMapProjection {
                        name: "kube-root-ca.crt".into(),
                        items: Some(vec![KeyToPath {
                            key: "ca.crt".into(),
                            path: "ca.crt".into(),
                            mode: None,
                        }]),
                        optional: None,
                    }),
                    ..Default::default()
                },
                VolumeProjection {
                    downward_api: Some(DownwardAPIProjection {
                        items: Some(vec![DownwardAPIVolumeFile {
                            path: "namespace".into(),
                            field_ref: Some(ObjectFieldSelector {
                                api_version: Some("v1".into()),
                                field_path: "metadata.namespace".into(),
                            }),
                            ..Default::default()
                        }]),
                    }),
                    ..Default::default()
                },
            ]),
        }),
        ..Default::default()
    });
    let mount = VolumeMount {
        name,
        mount_path: SA_MOUNT_PATH.into(),
        read_only: Some(true),
        ..Default::default()
    };
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        c.volume_mounts
            .get_or_insert_with(Vec::new)
            .push(mount.clone());
    }
}

/// Five characters from upstream's `utilrand` alphabet, derived from `seed` (FNV-1a).
fn random_suffix(seed: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..5)
        .map(|i| {
            let idx = ((h >> (i * 12)) % ALPHABET.len() as u64) as usize;
            char::from(ALPHABET[idx])
        })
        .collect()
}

/// The Priority admission plugin for what needs no stored PriorityClass: no class means
/// priority 0; the two built-in system classes have fixed values.
fn admit_priority(spec: &mut PodSpec) {
    let value = match spec.priority_class_name.as_deref().unwrap_or("") {
        "" => Some(0),
        name => super::cluster::system_priority(name),
    };
    if let Some(v) = value {
        spec.priority.get_or_insert(v);
        spec.preemption_policy
            .get_or_insert_with(|| "PreemptLowerPriority".into());
    }
}

/// The DefaultTolerationSeconds admission plugin: tolerate `not-ready` and `unreachable`
/// NoExecute taints for 300s unless the pod already tolerates them.
fn admit_default_tolerations(spec: &mut PodSpec) {
    let tolerates = |key: &str, ts: &[Toleration]| {
        ts.iter().any(|t| {
            let k = t.key.as_deref().unwrap_or("");
            let e = t.effect.as_deref().unwrap_or("");
            (k == key || k.is_empty()) && (e == "NoExecute" || e.is_empty())
        })
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let ts = spec.tolerations.get_or_insert_with(Vec::new);
        if !tolerates(key, ts) {
            ts.push(Toleration {
                key: Some(key.into()),
                operator: Some("Exists".into()),
                effect: Some("NoExecute".into()),
                toleration_seconds: Some(300),
                value: None,
            });
        }
    }
}

/// `qos.ComputePodQOS`: Guaranteed when every container limits cpu and memory and requests
/// equal limits; BestEffort when nothing is requested or limited; else Burstable.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    let mut requests: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Quantity> = BTreeMap::new();
    let mut guaranteed = true;
    let parse =
        |q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity| Quantity::parse(&q.0).ok();
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        let Some(r) = &c.resources else {
            guaranteed = false;
            continue;
        };
        for (name, q) in r.requests.iter().flatten() {
            if let (Some(key), Some(v)) = (qos_resource(name), parse(q))
                && v > Quantity::zero()
            {
                let e = requests.entry(key).or_insert(Quantity::zero());
                *e = e.add(&v);
            }
        }
        let mut found = (false, false);
        for (name, q) in r.limits.iter().flatten() {
            if let (Some(key), Some(v)) = (qos_resource(name), parse(q))
                && v > Quantity::zero()
            {
                if key == "cpu" {
                    found.0 = true;
                } else {
                    found.1 = true;
                }
                let e = limits.entry(key).or_insert(Quantity::zero());
                *e = e.add(&v);
            }
        }
        if found != (true, true) {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.iter().all(|(k, v)| limits.get(k) == Some(v))
        && requests.len() == limits.len()
    {
        return "Guaranteed";
    }
    "Burstable"
}

fn qos_resource(name: &str) -> Option<&'static str> {
    match name {
        "cpu" => Some("cpu"),
        "memory" => Some("memory"),
        _ => None,
    }
}

/// `validatePodMetadataAndSpec`.
fn validate_metadata_and_spec(pod: &Pod) -> Errors {
    let spec = pod.spec.clone().unwrap_or_default();
    let sp = Path::new("spec");
    let mut errs = Errors::new();
    if let Some(v) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(MIRROR_ANNOTATION))
        && spec.node_name.as_deref().unwrap_or("").is_empty()
    {
        errs.push(FieldError::invalid(
            Path::new("metadata")
                .child("annotations")
                .key(MIRROR_ANNOTATION),
            v.as_str(),
            "must set spec.nodeName if mirror pod annotation is set",
        ));
    }
    errs.extend(podspec::validate_spec(
        &spec,
        &pod.metadata,
        &sp,
        Opts { is_pod: true },
    ));
    if spec
        .service_account_name
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        for (vi, v) in spec.volumes.iter().flatten().enumerate() {
            for (si, s) in v
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
                .enumerate()
            {
                if s.service_account_token.is_some() {
                    errs.push(FieldError::forbidden(
                        sp.child("volumes")
                            .index(vi)
                            .child("projected")
                            .child("sources")
                            .index(si)
                            .child("serviceAccountToken"),
                        "must not be specified when serviceAccountName is not set",
                    ));
                }
            }
        }
    }
    for (list, name) in [
        (&spec.containers, "containers"),
        (
            spec.init_containers.as_ref().unwrap_or(&Vec::new()),
            "initContainers",
        ),
    ] {
        for (i, c) in list.iter().enumerate() {
            let image = c.image.as_deref().unwrap_or("");
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    sp.child(name).index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    errs
}

/// `ValidatePodUpdate` (after the metadata/spec checks): only images, a shrinking
/// activeDeadlineSeconds, added tolerations and removed scheduling gates may change.
fn validate_spec_update(new: &PodSpec, old: &PodSpec) -> Errors {
    let mut errs = Errors::new();
    let sp = Path::new("spec");
    let empty = Vec::new();
    for (n, o, name) in [
        (&new.containers, &old.containers, "containers"),
        (
            new.init_containers.as_ref().unwrap_or(&empty),
            old.init_containers.as_ref().unwrap_or(&empty),
            "initContainers",
        ),
    ] {
        if n.len() != o.len() {
            errs.push(FieldError::forbidden(
                sp.child(name),
                "pod updates may not add or remove containers",
            ));
            return errs;
        }
        for (i, c) in n.iter().enumerate() {
            let image = c.image.as_deref().unwrap_or("");
            if image.is_empty() {
                errs.push(FieldError::required(
                    sp.child(name).index(i).child("image"),
                    "",
                ));
            }
        }
    }
    let adp = sp.child("activeDeadlineSeconds");
    match (new.active_deadline_seconds, old.active_deadline_seconds) {
        (Some(n), _) if !(0..=i64::from(i32::MAX)).contains(&n) => {
            errs.push(FieldError::invalid(
                &adp,
                n,
                inclusive_range_error(0, i64::from(i32::MAX)),
            ));
            return errs;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                &adp,
                n,
                "must be less than or equal to previous value",
            ));
            return errs;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &adp,
            Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    errs.extend(validate_only_added_tolerations(
        new.tolerations.as_deref().unwrap_or(&[]),
        old.tolerations.as_deref().unwrap_or(&[]),
        &sp.child("tolerations"),
    ));
    let old_gates: Vec<&str> = old
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.as_str())
        .collect();
    for (i, g) in new.scheduling_gates.iter().flatten().enumerate() {
        if !old_gates.contains(&g.name.as_str()) {
            errs.push(FieldError::forbidden(
                sp.child("schedulingGates").index(i).child("name"),
                format!(
                    "only deletion is allowed, but found new scheduling gate '{}'",
                    g.name
                ),
            ));
        }
    }
    if new == old {
        return errs;
    }
    // Put back what may change, then anything still different is forbidden.
    let mut munged = new.clone();
    for (c, o) in munged.containers.iter_mut().zip(&old.containers) {
        c.image.clone_from(&o.image);
    }
    for (c, o) in munged
        .init_containers
        .iter_mut()
        .flatten()
        .zip(old.init_containers.iter().flatten())
    {
        c.image.clone_from(&o.image);
    }
    munged.active_deadline_seconds = old.active_deadline_seconds;
    munged.scheduling_gates.clone_from(&old.scheduling_gates);
    munged.tolerations.clone_from(&old.tolerations);
    if old.termination_grace_period_seconds.is_some_and(|g| g < 0)
        && munged.termination_grace_period_seconds == Some(1)
    {
        munged.termination_grace_period_seconds = old.termination_grace_period_seconds;
    }
    if munged != *old {
        errs.push(FieldError::forbidden(
            &sp,
            format!(
                "pod updates may not change fields other than {}\n{}",
                UPDATABLE_POD_SPEC_FIELDS.join(","),
                spec_diff(old, &munged)
            ),
        ));
    }
    errs
}

/// A readable stand-in for upstream's `cmp.Diff` of the two specs: the top-level fields that
/// differ, old (`-`) and new (`+`).
fn spec_diff(old: &PodSpec, new: &PodSpec) -> String {
    let (o, n) = (json(old), json(new));
    let empty = serde_json::Map::new();
    let (om, nm) = (
        o.as_object().unwrap_or(&empty),
        n.as_object().unwrap_or(&empty),
    );
    let mut keys: Vec<&String> = om.keys().chain(nm.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut out = String::from("  v1.PodSpec{\n");
    for k in keys {
        let (a, b) = (om.get(k), nm.get(k));
        if a != b {
            if let Some(a) = a {
                out.push_str(&format!("- \t{k}: {a},\n"));
            }
            if let Some(b) = b {
                out.push_str(&format!("+ \t{k}: {b},\n"));
            }
        }
    }
    out.push_str("  }\n");
    out
}

/// `validateOnlyAddedTolerations`: existing tolerations stay, except their seconds.
fn validate_only_added_tolerations(new: &[Toleration], old: &[Toleration], p: &Path) -> Errors {
    for o in old {
        let found = new.iter().any(|n| {
            let mut o = o.clone();
            o.toleration_seconds = n.toleration_seconds;
            o == *n
        });
        if !found {
            return vec![FieldError::forbidden(
                p,
                "existing toleration can not be modified except its tolerationSeconds",
            )];
        }
    }
    validate_tolerations(new, p)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{create, update};
    use super::*;
    use serde_json::json;

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default", "uid": "u-1"}, "spec": spec})
    }

    #[test]
    fn create_applies_defaults_admission_and_status() {
        let out = create(
            "",
            "Pod",
            pod(json!({"containers": [{"name": "nginx", "image": "nginx"}]})),
        )
        .unwrap_or_default();
        let spec = &out["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["securityContext"], json!({}));
        assert_eq!(spec["enableServiceLinks"], true);
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["serviceAccount"], "default");
        assert_eq!(spec["priority"], 0);
        assert_eq!(spec["preemptionPolicy"], "PreemptLowerPriority");
        assert_eq!(
            spec["tolerations"],
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ])
        );
        let c = &spec["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        let vol = spec["volumes"][0]["name"].as_str().unwrap_or("");
        assert!(
            vol.starts_with("kube-api-access-") && vol.len() == 21,
            "{vol}"
        );
        assert_eq!(
            c["volumeMounts"][0],
            json!({"name": vol, "mountPath": SA_MOUNT_PATH, "readOnly": true})
        );
        assert_eq!(
            out["status"],
            json!({"phase": "Pending", "qosClass": "BestEffort"})
        );
    }

    #[test]
    fn existing_tolerations_and_opt_outs_are_kept() {
        let out = create(
            "",
            "Pod",
            pod(json!({"automountServiceAccountToken": false, "tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "c", "image": "busybox:1.36"}]})),
        )
        .unwrap_or_default();
        assert_eq!(out["spec"]["tolerations"], json!([{"operator": "Exists"}]));
        assert!(out["spec"].get("volumes").is_none());
        assert_eq!(
            out["spec"]["containers"][0]["imagePullPolicy"],
            "IfNotPresent"
        );
    }

    #[test]
    fn qos_classes() {
        let table = [
            (json!({}), "BestEffort"),
            (
                json!({"limits": {"cpu": "1", "memory": "1Gi"}}),
                "Guaranteed",
            ),
            (
                json!({"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"}}),
                "Burstable",
            ),
            (json!({"requests": {"cpu": "100m"}}), "Burstable"),
            (
                json!({"requests": {"example.com/gpu": "1"}, "limits": {"example.com/gpu": "1"}}),
                "BestEffort",
            ),
        ];
        for (resources, want) in table {
            let out = create(
                "",
                "Pod",
                pod(json!({"containers": [{"name": "c", "image": "x", "resources": resources}]})),
            )
            .unwrap_or_default();
            assert_eq!(out["status"]["qosClass"], want, "{resources}");
        }
        let out = create("", "Pod", pod(json!({"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "0.5", "memory": "128Mi"}}}]}))).unwrap_or_default();
        assert_eq!(
            out["spec"]["containers"][0]["resources"]["requests"],
            json!({"cpu": "500m", "memory": "128Mi"})
        );
    }

    #[test]
    fn scheduling_gates_add_condition() {
        let out = create("", "Pod", pod(json!({"schedulingGates": [{"name": "example.com/wait"}], "containers": [{"name": "c", "image": "x"}]}))).unwrap_or_default();
        assert_eq!(out["status"]["conditions"][0]["reason"], "SchedulingGated");
        let e = create("", "Pod", pod(json!({"nodeName": "n1", "schedulingGates": [{"name": "g"}], "containers": [{"name": "c", "image": "x"}]}))).err().unwrap_or_default();
        assert_eq!(
            e,
            vec![
                "spec.nodeName: Forbidden: cannot be set until all schedulingGates have been cleared"
            ]
        );
    }

    #[test]
    fn create_rejections() {
        let e = create("", "Pod", pod(json!({"containers": [{"name": "c", "image": " x"}], "ephemeralContainers": [{"name": "d", "image": "x"}]}))).err().unwrap_or_default();
        assert_eq!(
            e,
            vec![
                "spec.containers[0].image: Invalid value: \" x\": must not have leading or trailing whitespace",
                "spec.ephemeralContainers: Forbidden: cannot be set on create",
            ]
        );
        let e = create("", "Pod", pod(json!({"containers": [{"name": "c", "image": "x", "resources": {"limits": {"cpu": "x"}}}]}))).err().unwrap_or_default();
        assert_eq!(
            e,
            vec![
                "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            ]
        );
    }

    #[test]
    fn update_allows_image_deadline_and_added_tolerations() {
        let old = pod(
            json!({"activeDeadlineSeconds": 100, "tolerations": [{"key": "k", "operator": "Equal", "value": "a"}],
            "containers": [{"name": "c", "image": "nginx:1"}]}),
        );
        let stored = create("", "Pod", old.clone());
        assert!(stored.is_ok(), "{stored:?}");
        let stored = stored.unwrap_or_default();
        let mut new = stored.clone();
        new["spec"]["containers"][0]["image"] = json!("nginx:2");
        new["spec"]["activeDeadlineSeconds"] = json!(50);
        if let Some(t) = new["spec"]["tolerations"].as_array_mut() {
            t.push(json!({"key": "k2", "operator": "Exists"}));
        }
        let out = update("", "Pod", old.clone(), new).unwrap_or_default();
        assert_eq!(out["spec"]["containers"][0]["image"], "nginx:2");
        assert_eq!(out["spec"]["activeDeadlineSeconds"], 50);
        let tolerations = out["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            tolerations.last().map(|t| &t["key"]),
            Some(&json!("k2")),
            "{out}"
        );

        let mut grow = stored.clone();
        grow["spec"]["activeDeadlineSeconds"] = json!(200);
        assert_eq!(
            update("", "Pod", old.clone(), grow),
            Err(vec!["spec.activeDeadlineSeconds: Invalid value: 200: must be less than or equal to previous value".to_string()])
        );
        let mut drop_tol = stored.clone();
        drop_tol["spec"]["tolerations"] = json!([{"key": "k", "operator": "Equal", "value": "b"}]);
        let e = update("", "Pod", old.clone(), drop_tol)
            .err()
            .unwrap_or_default();
        assert_eq!(
            e[0],
            "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
        );
    }

    #[test]
    fn update_of_other_fields_is_forbidden() {
        let old = pod(json!({"containers": [{"name": "c", "image": "nginx"}]}));
        let stored = create("", "Pod", old.clone()).unwrap_or_default();
        let mut new = stored.clone();
        new["spec"]["containers"][0]["ports"] = json!([{"containerPort": 80}]);
        let e = update("", "Pod", old.clone(), new)
            .err()
            .unwrap_or_default();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"), "{}", e[0]);
        let mut more = stored.clone();
        if let Some(c) = more["spec"]["containers"].as_array_mut() {
            c.push(json!({"name": "d", "image": "x"}));
        }
        assert_eq!(
            update("", "Pod", old, more),
            Err(vec![
                "spec.containers: Forbidden: pod updates may not add or remove containers"
                    .to_string()
            ])
        );
    }

    #[test]
    fn update_keeps_name_immutable() {
        let old = pod(json!({"containers": [{"name": "c", "image": "nginx"}]}));
        let stored = create("", "Pod", old.clone()).unwrap_or_default();
        let mut new = stored.clone();
        new["metadata"]["name"] = json!("other");
        assert_eq!(
            update("", "Pod", old, new),
            Err(vec![
                "metadata.name: Invalid value: \"other\": field is immutable".to_string()
            ])
        );
    }
}
