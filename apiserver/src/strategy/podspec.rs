//! `PodSpec` and `PodTemplateSpec`: defaults (`pkg/apis/core/v1/defaults.go`) and validation
//! (`ValidatePodSpec`, `ValidatePodTemplateSpec`), shared by Pods and every workload template.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, HTTPGetAction, LifecycleHandler, ObjectFieldSelector,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SecurityContext,
    Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::{
    inclusive_range_error, is_config_map_key, is_dns1123_label, is_dns1123_subdomain,
    is_env_var_name, is_http_header_name, is_label_value, is_qualified_name, is_valid_ip,
    is_valid_port_name, is_valid_port_num,
};

use super::field::{Errors, NEGATIVE, Path, json, non_negative};
use super::meta::{
    validate_annotations, validate_label_name, validate_label_selector, validate_labels,
};
use super::quantity::{self, Quantity};

/// `v1.DefaultTerminationGracePeriodSeconds`.
pub const DEFAULT_TERMINATION_GRACE_PERIOD: i64 = 30;
const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";
/// 0644, the default mode of projected files.
const DEFAULT_MODE: i32 = 0o644;

// ---------------------------------------------------------------------------------------------
// Quantities

/// Parses every quantity in the spec (an unparsable one makes the whole body undecodable, as
/// upstream's JSON decoder rejects it) and rewrites it in canonical form; resource lists are
/// also rounded up to milli precision as `SetDefaults_ResourceList` does.
pub fn normalize(spec: &mut PodSpec) -> Result<(), String> {
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        if let Some(r) = c.resources.as_mut() {
            normalize_requirements(r)?;
        }
    }
    for c in spec.ephemeral_containers.iter_mut().flatten() {
        if let Some(r) = c.resources.as_mut() {
            normalize_requirements(r)?;
        }
    }
    if let Some(r) = spec.resources.as_mut() {
        normalize_requirements(r)?;
    }
    normalize_list(&mut spec.overhead)?;
    for v in spec.volumes.iter_mut().flatten() {
        if let Some(q) = v.empty_dir.as_mut().and_then(|e| e.size_limit.as_mut()) {
            q.0 = Quantity::parse(&q.0)?.canonical();
        }
        if let Some(r) = v
            .ephemeral
            .as_mut()
            .and_then(|e| e.volume_claim_template.as_mut())
            .and_then(|t| t.spec.resources.as_mut())
        {
            normalize_list(&mut r.requests)?;
            normalize_list(&mut r.limits)?;
        }
    }
    Ok(())
}

pub fn normalize_requirements(r: &mut ResourceRequirements) -> Result<(), String> {
    normalize_list(&mut r.requests)?;
    normalize_list(&mut r.limits)
}

/// Canonicalizes a `ResourceList` in place.
pub fn normalize_list(list: &mut Option<BTreeMap<String, Q>>) -> Result<(), String> {
    for q in list.iter_mut().flat_map(|m| m.values_mut()) {
        q.0 = quantity::canonical_resource(&q.0)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Defaults

/// `SetDefaults_PodSpec` and the defaults of everything inside a spec. Pod-only defaults
/// (`SetDefaults_Pod`) live in `pod.rs`, as upstream keeps them out of templates.
pub fn default_spec(spec: &mut PodSpec) {
    if spec.dns_policy.as_deref().unwrap_or("").is_empty() {
        spec.dns_policy = Some("ClusterFirst".into());
    }
    if spec.restart_policy.as_deref().unwrap_or("").is_empty() {
        spec.restart_policy = Some("Always".into());
    }
    if spec.security_context.is_none() {
        spec.security_context = Some(PodSecurityContext::default());
    }
    if spec.termination_grace_period_seconds.is_none() {
        spec.termination_grace_period_seconds = Some(DEFAULT_TERMINATION_GRACE_PERIOD);
    }
    if spec.scheduler_name.as_deref().unwrap_or("").is_empty() {
        spec.scheduler_name = Some("default-scheduler".into());
    }
    // The v1 conversion keeps the deprecated `serviceAccount` mirroring `serviceAccountName`.
    if spec.service_account.as_deref().unwrap_or("").is_empty()
        && let Some(sa) = spec.service_account_name.as_ref().filter(|s| !s.is_empty())
    {
        spec.service_account = Some(sa.clone());
    }
    for c in spec
        .containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
    {
        default_container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        default_volume(v);
    }
}

/// `SetDefaults_Container` with its ports, probes, handlers and env.
fn default_container(c: &mut Container) {
    if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
        let image = c.image.as_deref().unwrap_or("");
        c.image_pull_policy = Some(
            if image_tag(image) == "latest" {
                "Always"
            } else {
                "IfNotPresent"
            }
            .into(),
        );
    }
    if c.termination_message_path
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        c.termination_message_path = Some("/dev/termination-log".into());
    }
    if c.termination_message_policy
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        c.termination_message_policy = Some("File".into());
    }
    for p in c.ports.iter_mut().flatten() {
        if p.protocol.as_deref().unwrap_or("").is_empty() {
            p.protocol = Some("TCP".into());
        }
    }
    for probe in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        default_probe(probe);
    }
    if let Some(l) = c.lifecycle.as_mut() {
        for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
            if let Some(g) = h.http_get.as_mut() {
                default_http_get(g);
            }
        }
    }
    for e in c.env.iter_mut().flatten() {
        if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            default_field_selector(f);
        }
    }
}

/// The tag the kubelet would pull: `latest` when none is given and there is no digest
/// (upstream's `parsers.ParseImageName`), so `nginx` and `nginx:latest` pull `Always`.
pub fn image_tag(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let last_segment = name.rsplit('/').next().unwrap_or(name);
    match last_segment.rsplit_once(':') {
        Some((_, tag)) => tag.to_string(),
        None if digest.is_none() => "latest".to_string(),
        None => String::new(),
    }
}

fn default_probe(p: &mut Probe) {
    for (field, default) in [
        (&mut p.timeout_seconds, 1),
        (&mut p.period_seconds, 10),
        (&mut p.success_threshold, 1),
        (&mut p.failure_threshold, 3),
    ] {
        if field.unwrap_or(0) == 0 {
            *field = Some(default);
        }
    }
    if let Some(g) = p.http_get.as_mut() {
        default_http_get(g);
    }
}

fn default_http_get(g: &mut HTTPGetAction) {
    if g.path.as_deref().unwrap_or("").is_empty() {
        g.path = Some("/".into());
    }
    if g.scheme.as_deref().unwrap_or("").is_empty() {
        g.scheme = Some("HTTP".into());
    }
}

fn default_field_selector(f: &mut ObjectFieldSelector) {
    if f.api_version.as_deref().unwrap_or("").is_empty() {
        f.api_version = Some("v1".into());
    }
}

/// `SetDefaults_Volume` (no source means `emptyDir: {}`) and the per-source defaults.
fn default_volume(v: &mut Volume) {
    let json_v = json(&*v);
    let has_source = json_v
        .as_object()
        .is_some_and(|m| m.keys().any(|k| k != "name"));
    if !has_source {
        v.empty_dir = Some(Default::default());
    }
    if let Some(s) = v.secret.as_mut() {
        s.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(s) = v.config_map.as_mut() {
        s.default_mode.get_or_insert(DEFAULT_MODE);
    }
    if let Some(s) = v.downward_api.as_mut() {
        s.default_mode.get_or_insert(DEFAULT_MODE);
        for f in s.items.iter_mut().flatten() {
            if let Some(r) = f.field_ref.as_mut() {
                default_field_selector(r);
            }
        }
    }
    if let Some(s) = v.projected.as_mut() {
        s.default_mode.get_or_insert(DEFAULT_MODE);
        for src in s.sources.iter_mut().flatten() {
            if let Some(t) = src.service_account_token.as_mut() {
                t.expiration_seconds.get_or_insert(3600);
            }
            for f in src
                .downward_api
                .iter_mut()
                .flat_map(|d| d.items.iter_mut().flatten())
            {
                if let Some(r) = f.field_ref.as_mut() {
                    default_field_selector(r);
                }
            }
        }
    }
    if let Some(h) = v.host_path.as_mut() {
        h.type_.get_or_insert_with(String::new);
    }
    if let Some(s) = v
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
    {
        s.spec
            .volume_mode
            .get_or_insert_with(|| "Filesystem".into());
    }
}

/// `SetDefaults_PodTemplateSpec` is just the spec's defaults.
pub fn default_template(t: &mut PodTemplateSpec) {
    default_spec(t.spec.get_or_insert_with(Default::default));
}

// ---------------------------------------------------------------------------------------------
// Validation

/// Where a spec sits decides a few rules (`PodValidationOptions.ResourceIsPod`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Opts {
    pub is_pod: bool,
}

/// `ValidatePodTemplateSpec`.
pub fn validate_template(t: &PodTemplateSpec, path: &Path) -> Errors {
    let mut errs = Errors::new();
    let meta = t.metadata.clone().unwrap_or_default();
    let mp = path.child("metadata");
    if let Some(l) = &meta.labels {
        errs.extend(validate_labels(l, &mp.child("labels")));
    }
    if let Some(a) = &meta.annotations {
        errs.extend(validate_annotations(a, &mp.child("annotations")));
    }
    let spec = t.spec.clone().unwrap_or_default();
    errs.extend(validate_spec(
        &spec,
        &ObjectMeta::default(),
        &path.child("spec"),
        Opts::default(),
    ));
    if spec
        .ephemeral_containers
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        errs.push(FieldError::forbidden(
            path.children(&["spec", "ephemeralContainers"]),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// `ValidatePodSpec`, in upstream's order.
pub fn validate_spec(spec: &PodSpec, _meta: &ObjectMeta, path: &Path, opts: Opts) -> Errors {
    let mut errs = Errors::new();
    let grace = spec.termination_grace_period_seconds;
    if grace.is_none() {
        errs.push(FieldError::required(
            path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let volumes = validate_volumes(
        spec.volumes.as_deref().unwrap_or(&[]),
        &path.child("volumes"),
        &mut errs,
    );
    let restart = spec.restart_policy.as_deref().unwrap_or("");
    errs.extend(validate_containers(
        &spec.containers,
        &volumes,
        grace,
        &path.child("containers"),
    ));
    errs.extend(validate_init_containers(
        spec.init_containers.as_deref().unwrap_or(&[]),
        &spec.containers,
        &volumes,
        grace,
        &path.child("initContainers"),
    ));
    let _ = restart;
    errs.extend(validate_host_network(spec, path, opts));
    errs.extend(enum_required(
        spec.restart_policy.as_deref(),
        &["Always", "OnFailure", "Never"],
        &path.child("restartPolicy"),
    ));
    errs.extend(enum_required(
        spec.dns_policy.as_deref(),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        &path.child("dnsPolicy"),
    ));
    if let Some(ns) = &spec.node_selector {
        errs.extend(validate_labels(ns, &path.child("nodeSelector")));
    }
    if let Some(sc) = &spec.security_context {
        errs.extend(validate_pod_security_context(
            sc,
            &path.child("securityContext"),
        ));
    }
    if let Some(a) = &spec.affinity {
        errs.extend(validate_affinity(a, &path.child("affinity")));
    }
    errs.extend(validate_dns_config(spec, &path.child("dnsConfig")));
    for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
        let p = path.child("readinessGates").index(i).child("conditionType");
        errs.extend(
            is_qualified_name(&g.condition_type)
                .into_iter()
                .map(|m| FieldError::invalid(&p, g.condition_type.as_str(), m)),
        );
    }
    let mut seen_gates = BTreeSet::new();
    for (i, g) in spec.scheduling_gates.iter().flatten().enumerate() {
        let p = path.child("schedulingGates").index(i);
        errs.extend(
            is_qualified_name(&g.name)
                .into_iter()
                .map(|m| FieldError::invalid(&p, g.name.as_str(), m)),
        );
        if !seen_gates.insert(g.name.as_str()) {
            errs.push(FieldError::duplicate(&p, g.name.as_str()));
        }
    }
    errs.extend(validate_topology_spread(
        spec,
        &path.child("topologySpreadConstraints"),
    ));
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        errs.extend(
            is_dns1123_subdomain(sa)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("serviceAccountName"), sa, m)),
        );
    }
    if let Some(n) = spec.node_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(
            is_dns1123_subdomain(n)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("nodeName"), n, m)),
        );
    }
    if let Some(ads) = spec.active_deadline_seconds
        && !(1..=i64::from(i32::MAX)).contains(&ads)
    {
        errs.push(FieldError::invalid(
            path.child("activeDeadlineSeconds"),
            ads,
            inclusive_range_error(1, i64::from(i32::MAX)),
        ));
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(
                is_dns1123_label(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(path.child(field), v, m)),
            );
        }
    }
    if let Some(t) = &spec.tolerations {
        errs.extend(validate_tolerations(t, &path.child("tolerations")));
    }
    for (i, ha) in spec.host_aliases.iter().flatten().enumerate() {
        let p = path.child("hostAliases").index(i);
        let ip = ha.ip.as_str();
        errs.extend(
            is_valid_ip(ip)
                .into_iter()
                .map(|m| FieldError::invalid(p.child("ip"), ip, m)),
        );
        for (j, h) in ha.hostnames.iter().flatten().enumerate() {
            let hp = p.child("hostnames").index(j);
            errs.extend(
                is_dns1123_subdomain(h)
                    .into_iter()
                    .map(|m| FieldError::invalid(&hp, h.as_str(), m)),
            );
        }
    }
    if let Some(pc) = spec
        .priority_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        errs.extend(
            is_dns1123_subdomain(pc)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("priorityClassName"), pc, m)),
        );
    }
    if let Some(rc) = spec.runtime_class_name.as_deref() {
        errs.extend(
            is_dns1123_subdomain(rc)
                .into_iter()
                .map(|m| FieldError::invalid(path.child("runtimeClassName"), rc, m)),
        );
    }
    if let Some(pp) = spec.preemption_policy.as_deref() {
        errs.extend(enum_required(
            Some(pp),
            &["PreemptLowerPriority", "Never"],
            &path.child("preemptionPolicy"),
        ));
    }
    if let Some(os) = &spec.os {
        if os.name.is_empty() {
            errs.push(FieldError::required(path.children(&["os", "name"]), ""));
        } else if os.name != "linux" && os.name != "windows" {
            errs.push(FieldError::not_supported(
                path.children(&["os", "name"]),
                os.name.as_str(),
                &["linux", "windows"],
            ));
        }
    }
    errs
}

/// The `switch` upstream writes for enum fields: empty is `Required`, unknown `NotSupported`.
pub fn enum_required(v: Option<&str>, valid: &[&str], path: &Path) -> Errors {
    match v.unwrap_or("") {
        "" => vec![FieldError::required(path, "")],
        x if valid.contains(&x) => Vec::new(),
        x => vec![FieldError::not_supported(path, x, valid)],
    }
}

/// `ValidateVolumes`: returns the names of the valid volumes (mounts are checked against them).
fn validate_volumes(
    volumes: &[Volume],
    path: &Path,
    errs: &mut Errors,
) -> BTreeMap<String, Volume> {
    let mut valid = BTreeMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let p = path.index(i);
        let np = p.child("name");
        let mut el = validate_volume_source(v, &p);
        if v.name.is_empty() {
            el.push(FieldError::required(&np, ""));
        } else {
            el.extend(
                is_dns1123_label(&v.name)
                    .into_iter()
                    .map(|m| FieldError::invalid(&np, v.name.as_str(), m)),
            );
        }
        if valid.contains_key(&v.name) {
            el.push(FieldError::duplicate(&np, v.name.as_str()));
        }
        if el.is_empty() {
            valid.insert(v.name.clone(), v.clone());
        } else {
            errs.extend(el);
        }
    }
    valid
}

/// `validateVolumeSource`: exactly one source, and the common sources' required fields.
fn validate_volume_source(v: &Volume, p: &Path) -> Errors {
    let mut errs = Errors::new();
    let set: Vec<String> = json(v)
        .as_object()
        .map(|m| m.keys().filter(|k| *k != "name").cloned().collect())
        .unwrap_or_default();
    for extra in set.iter().skip(1) {
        errs.push(FieldError::forbidden(
            p.child(extra),
            "may not specify more than 1 volume type",
        ));
    }
    if set.is_empty() {
        errs.push(FieldError::required(p, "must specify a volume type"));
        return errs;
    }
    if let Some(h) = &v.host_path {
        if h.path.is_empty() {
            errs.push(FieldError::required(p.children(&["hostPath", "path"]), ""));
        } else if let Some(t) = h.type_.as_deref() {
            const TYPES: [&str; 7] = [
                "",
                "DirectoryOrCreate",
                "Directory",
                "FileOrCreate",
                "File",
                "Socket",
                "CharDevice",
            ];
            if !TYPES.contains(&t) && t != "BlockDevice" {
                errs.push(FieldError::not_supported(
                    p.children(&["hostPath", "type"]),
                    t,
                    &[
                        "",
                        "BlockDevice",
                        "CharDevice",
                        "Directory",
                        "DirectoryOrCreate",
                        "File",
                        "FileOrCreate",
                        "Socket",
                    ],
                ));
            }
        }
    }
    if let Some(s) = &v.secret {
        let sp = p.child("secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(sp.child("secretName"), ""));
        }
        errs.extend(file_mode(s.default_mode, &sp.child("defaultMode")));
        for (i, kp) in s.items.iter().flatten().enumerate() {
            errs.extend(validate_key_to_path(
                &kp.key,
                &kp.path,
                kp.mode,
                &sp.child("items").index(i),
            ));
        }
    }
    if let Some(c) = &v.config_map {
        let cp = p.child("configMap");
        if c.name.is_empty() {
            errs.push(FieldError::required(cp.child("name"), ""));
        }
        errs.extend(file_mode(c.default_mode, &cp.child("defaultMode")));
        for (i, kp) in c.items.iter().flatten().enumerate() {
            errs.extend(validate_key_to_path(
                &kp.key,
                &kp.path,
                kp.mode,
                &cp.child("items").index(i),
            ));
        }
    }
    if let Some(c) = &v.persistent_volume_claim
        && c.claim_name.is_empty()
    {
        errs.push(FieldError::required(
            p.children(&["persistentVolumeClaim", "claimName"]),
            "",
        ));
    }
    if let Some(e) = &v.empty_dir
        && e.size_limit
            .as_ref()
            .and_then(|q| Quantity::parse(&q.0).ok())
            .is_some_and(|q| q.is_negative())
    {
        errs.push(FieldError::forbidden(
            p.children(&["emptyDir", "sizeLimit"]),
            "SizeLimit field must be a valid resource quantity",
        ));
    }
    if let Some(n) = &v.nfs {
        let np = p.child("nfs");
        if n.server.is_empty() {
            errs.push(FieldError::required(np.child("server"), ""));
        }
        if n.path.is_empty() {
            errs.push(FieldError::required(np.child("path"), ""));
        }
        if !n.path.starts_with('/') {
            errs.push(FieldError::invalid(
                np.child("path"),
                n.path.as_str(),
                "must be an absolute path",
            ));
        }
    }
    if let Some(c) = &v.csi
        && c.driver.is_empty()
    {
        errs.push(FieldError::required(p.children(&["csi", "driver"]), ""));
    }
    if let Some(d) = &v.downward_api {
        let dp = p.child("downwardAPI");
        errs.extend(file_mode(d.default_mode, &dp.child("defaultMode")));
        for f in d.items.iter().flatten() {
            if f.path.is_empty() {
                errs.push(FieldError::required(dp.child("path"), ""));
            }
            if f.field_ref.is_none() && f.resource_field_ref.is_none() {
                errs.push(FieldError::required(
                    &dp,
                    "one of fieldRef and resourceFieldRef is required",
                ));
            }
            errs.extend(file_mode(f.mode, &dp.child("mode")));
        }
    }
    if let Some(pr) = &v.projected {
        let pp = p.child("projected");
        errs.extend(file_mode(pr.default_mode, &pp.child("defaultMode")));
        for (i, src) in pr.sources.iter().flatten().enumerate() {
            let sp = pp.child("sources").index(i);
            let kinds = json(src).as_object().map(|m| m.len()).unwrap_or(0);
            if kinds > 1 {
                errs.push(FieldError::forbidden(
                    &sp,
                    "may not specify more than 1 volume type per source",
                ));
            }
            if kinds == 0 {
                errs.push(FieldError::required(
                    &sp,
                    "must specify exactly 1 volume type",
                ));
            }
            if let Some(s) = &src.secret
                && s.name.is_empty()
            {
                errs.push(FieldError::required(sp.children(&["secret", "name"]), ""));
            }
            if let Some(c) = &src.config_map
                && c.name.is_empty()
            {
                errs.push(FieldError::required(
                    sp.children(&["configMap", "name"]),
                    "",
                ));
            }
            if let Some(t) = &src.service_account_token {
                let tp = sp.child("serviceAccountToken");
                if t.expiration_seconds.unwrap_or(3600) < 600 {
                    errs.push(FieldError::invalid(
                        tp.child("expirationSeconds"),
                        t.expiration_seconds.unwrap_or(0),
                        "may not specify a duration less than 10 minutes",
                    ));
                }
                if t.path.is_empty() {
                    errs.push(FieldError::required(tp.child("path"), ""));
                }
            }
        }
    }
    if let Some(e) = &v.ephemeral
        && e.volume_claim_template.is_none()
    {
        errs.push(FieldError::required(
            p.children(&["ephemeral", "volumeClaimTemplate"]),
            "",
        ));
    }
    errs
}

fn file_mode(mode: Option<i32>, p: &Path) -> Errors {
    match mode {
        Some(m) if !(0..=0o777).contains(&m) => vec![FieldError::invalid(p, m, FILE_MODE_ERROR)],
        _ => Vec::new(),
    }
}

fn validate_key_to_path(key: &str, path_v: &str, mode: Option<i32>, p: &Path) -> Errors {
    let mut errs = Errors::new();
    if key.is_empty() {
        errs.push(FieldError::required(p.child("key"), ""));
    }
    if path_v.is_empty() {
        errs.push(FieldError::required(p.child("path"), ""));
    }
    errs.extend(local_descending_path(path_v, &p.child("path")));
    errs.extend(file_mode(mode, &p.child("mode")));
    errs
}

/// `validateLocalDescendingPath`: relative, without `..` elements.
fn local_descending_path(v: &str, p: &Path) -> Errors {
    let mut errs = Errors::new();
    if v.starts_with('/') {
        errs.push(FieldError::invalid(p, v, "must be a relative path"));
    }
    if v.split(['/', '\\']).any(|part| part == "..") {
        errs.push(FieldError::invalid(p, v, "must not contain '..'"));
    }
    errs
}

/// `validateContainers`: regular containers.
fn validate_containers(
    cs: &[Container],
    vols: &BTreeMap<String, Volume>,
    grace: Option<i64>,
    path: &Path,
) -> Errors {
    let mut errs = Errors::new();
    if cs.is_empty() {
        errs.push(FieldError::required(path, ""));
        return errs;
    }
    let mut names = BTreeSet::new();
    for (i, c) in cs.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, vols, &p));
        if !names.insert(c.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        }
        errs.extend(validate_lifecycle_and_probes(c, grace, &p));
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    errs.extend(host_port_conflicts(cs, path));
    errs
}

/// A running container's lifecycle hooks and probes (regular and sidecar containers).
fn validate_lifecycle_and_probes(c: &Container, grace: Option<i64>, p: &Path) -> Errors {
    let mut errs = Errors::new();
    if let Some(l) = &c.lifecycle {
        errs.extend(validate_lifecycle(
            l.post_start.as_ref(),
            l.pre_stop.as_ref(),
            grace,
            &p.child("lifecycle"),
        ));
    }
    for (probe, kind, field) in [
        (&c.liveness_probe, ProbeKind::Liveness, "livenessProbe"),
        (&c.readiness_probe, ProbeKind::Readiness, "readinessProbe"),
        (&c.startup_probe, ProbeKind::Startup, "startupProbe"),
    ] {
        errs.extend(validate_probe(probe.as_ref(), kind, &p.child(field)));
    }
    errs
}

/// `validateInitContainers`: names unique across init and regular containers; probes and
/// lifecycle only for restartable (sidecar) init containers.
fn validate_init_containers(
    cs: &[Container],
    regular: &[Container],
    vols: &BTreeMap<String, Volume>,
    grace: Option<i64>,
    path: &Path,
) -> Errors {
    let mut errs = Errors::new();
    let mut names: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, c) in cs.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(c, vols, &p));
        let mut restart_always = false;
        if let Some(rp) = c.restart_policy.as_deref() {
            if rp == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(
                    p.child("restartPolicy"),
                    rp,
                    &["Always"],
                ));
            }
        }
        if names.contains(c.name.as_str()) {
            errs.push(FieldError::duplicate(p.child("name"), c.name.as_str()));
        } else if !c.name.is_empty() {
            names.insert(c.name.as_str());
        }
        errs.extend(host_port_conflicts(std::slice::from_ref(c), path));
        if restart_always {
            errs.extend(validate_lifecycle_and_probes(c, grace, &p));
        } else {
            const WHY: &str = "may not be set for init containers without restartPolicy=Always";
            if c.lifecycle.is_some() {
                errs.push(FieldError::forbidden(p.child("lifecycle"), WHY));
            }
            for (set, name) in [
                (c.liveness_probe.is_some(), "livenessProbe"),
                (c.readiness_probe.is_some(), "readinessProbe"),
                (c.startup_probe.is_some(), "startupProbe"),
            ] {
                if set {
                    errs.push(FieldError::forbidden(p.child(name), WHY));
                }
            }
        }
    }
    errs
}

/// `validateContainerCommon`.
fn validate_container_common(c: &Container, vols: &BTreeMap<String, Volume>, p: &Path) -> Errors {
    let mut errs = Errors::new();
    let np = p.child("name");
    if c.name.is_empty() {
        errs.push(FieldError::required(&np, ""));
    } else {
        errs.extend(
            is_dns1123_label(&c.name)
                .into_iter()
                .map(|m| FieldError::invalid(&np, c.name.as_str(), m)),
        );
    }
    if c.image.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::required(p.child("image"), ""));
    }
    errs.extend(enum_required(
        c.termination_message_policy.as_deref(),
        &["File", "FallbackToLogsOnError"],
        &p.child("terminationMessagePolicy"),
    ));
    errs.extend(validate_ports(c, &p.child("ports")));
    errs.extend(validate_env(
        c.env.as_deref().unwrap_or(&[]),
        &p.child("env"),
    ));
    for (i, ef) in c.env_from.iter().flatten().enumerate() {
        let ep = p.child("envFrom").index(i);
        let n = usize::from(ef.config_map_ref.is_some()) + usize::from(ef.secret_ref.is_some());
        if n == 0 {
            errs.push(FieldError::invalid(
                &ep,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                &ep,
                "",
                "may not have more than one field specified at a time",
            ));
        }
        if let Some(prefix) = ef.prefix.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(
                is_env_var_name(prefix)
                    .into_iter()
                    .map(|m| FieldError::invalid(ep.child("prefix"), prefix, m)),
            );
        }
    }
    errs.extend(validate_mounts(
        c.volume_mounts.as_deref().unwrap_or(&[]),
        vols,
        &p.child("volumeMounts"),
    ));
    errs.extend(enum_required(
        c.image_pull_policy.as_deref(),
        &["Always", "IfNotPresent", "Never"],
        &p.child("imagePullPolicy"),
    ));
    if let Some(r) = &c.resources {
        errs.extend(validate_resources(r, &p.child("resources")));
    }
    if let Some(sc) = &c.security_context {
        errs.extend(validate_security_context(sc, &p.child("securityContext")));
    }
    errs
}

fn validate_ports(c: &Container, path: &Path) -> Errors {
    let mut errs = Errors::new();
    let mut names = BTreeSet::new();
    for (i, port) in c.ports.iter().flatten().enumerate() {
        let p = path.index(i);
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(
                    msgs.into_iter()
                        .map(|m| FieldError::invalid(p.child("name"), name, m)),
                );
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(p.child("containerPort"), ""));
        } else {
            let cp = i64::from(port.container_port);
            errs.extend(
                is_valid_port_num(cp)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("containerPort"), cp, m)),
            );
        }
        if let Some(hp) = port.host_port.filter(|h| *h != 0) {
            let hp = i64::from(hp);
            errs.extend(
                is_valid_port_num(hp)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("hostPort"), hp, m)),
            );
        }
        match port.protocol.as_deref().unwrap_or("") {
            "" => errs.push(FieldError::required(p.child("protocol"), "")),
            "TCP" | "UDP" | "SCTP" => {}
            other => errs.push(FieldError::not_supported(
                p.child("protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
    }
    errs
}

/// `AccumulateUniqueHostPorts`: `protocol/hostIP/port` may appear once.
fn host_port_conflicts(cs: &[Container], path: &Path) -> Errors {
    let mut errs = Errors::new();
    let mut seen = BTreeSet::new();
    for (ci, c) in cs.iter().enumerate() {
        for (pi, port) in c.ports.iter().flatten().enumerate() {
            let hp = port.host_port.unwrap_or(0);
            if hp == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{hp}",
                port.protocol.as_deref().unwrap_or(""),
                port.host_ip.as_deref().unwrap_or("")
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    path.index(ci).child("ports").index(pi).child("hostPort"),
                    key,
                ));
            }
        }
    }
    errs
}

const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
/// Paths `ConvertDownwardAPIFieldLabel` knows, valid or not for env.
const KNOWN_FIELD_PATHS: [&str; 14] = [
    "metadata.annotations",
    "metadata.labels",
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.serviceAccountName",
    "spec.schedulerName",
    "status.phase",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `ValidateEnv` with the relaxed name rule (GA) and `validateEnvVarValueFrom`.
fn validate_env(vars: &[EnvVar], path: &Path) -> Errors {
    let mut errs = Errors::new();
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        } else {
            errs.extend(
                is_env_var_name(&ev.name)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("name"), ev.name.as_str(), m)),
            );
        }
        let Some(from) = &ev.value_from else { continue };
        let vp = p.child("valueFrom");
        let mut n = 0;
        if let Some(f) = &from.field_ref {
            n += 1;
            errs.extend(validate_field_ref(f, &vp.child("fieldRef")));
        }
        if let Some(r) = &from.resource_field_ref {
            n += 1;
            if r.resource.is_empty() {
                errs.push(FieldError::required(
                    vp.children(&["resourceFieldRef", "resource"]),
                    "",
                ));
            }
        }
        for (sel, field) in [
            (
                from.config_map_key_ref.as_ref().map(|s| (&s.name, &s.key)),
                "configMapKeyRef",
            ),
            (
                from.secret_key_ref.as_ref().map(|s| (&s.name, &s.key)),
                "secretKeyRef",
            ),
        ] {
            let Some((name, key)) = sel else { continue };
            n += 1;
            let sp = vp.child(field);
            errs.extend(
                is_dns1123_subdomain(name)
                    .into_iter()
                    .map(|m| FieldError::invalid(sp.child("name"), name.as_str(), m)),
            );
            if key.is_empty() {
                errs.push(FieldError::required(sp.child("key"), ""));
            } else {
                errs.extend(
                    is_config_map_key(key)
                        .into_iter()
                        .map(|m| FieldError::invalid(sp.child("key"), key.as_str(), m)),
                );
            }
        }
        if from.file_key_ref.is_some() {
            n += 1;
        }
        if n == 0 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if !ev.value.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                &vp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

fn validate_field_ref(f: &ObjectFieldSelector, p: &Path) -> Errors {
    if f.api_version.as_deref().unwrap_or("").is_empty() {
        return vec![FieldError::required(p.child("apiVersion"), "")];
    }
    if f.field_path.is_empty() {
        return vec![FieldError::required(p.child("fieldPath"), "")];
    }
    let fp = f.field_path.as_str();
    // `metadata.labels['key']` and `metadata.annotations['key']` select one entry.
    if let Some((base, rest)) = fp.split_once("['")
        && (base == "metadata.labels" || base == "metadata.annotations")
        && rest.ends_with("']")
    {
        let key = &rest[..rest.len() - 2];
        let errs: Errors = if base == "metadata.labels" {
            validate_label_name(key, &p.child("fieldPath"))
        } else {
            is_qualified_name(&key.to_lowercase())
                .into_iter()
                .map(|m| FieldError::invalid(p.child("fieldPath"), key, m))
                .collect()
        };
        return errs;
    }
    if !KNOWN_FIELD_PATHS.contains(&fp) {
        return vec![FieldError::invalid(
            p.child("fieldPath"),
            fp,
            format!("error converting fieldPath: field label not supported: {fp}"),
        )];
    }
    if !ENV_FIELD_PATHS.contains(&fp) {
        return vec![FieldError::not_supported(
            p.child("fieldPath"),
            fp,
            &ENV_FIELD_PATHS,
        )];
    }
    Vec::new()
}

/// `ValidateVolumeMounts`.
fn validate_mounts(mounts: &[VolumeMount], vols: &BTreeMap<String, Volume>, path: &Path) -> Errors {
    let mut errs = Errors::new();
    let mut points = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        if !vols.contains_key(&m.name) {
            errs.push(FieldError::not_found(p.child("name"), m.name.as_str()));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(p.child("mountPath"), ""));
        }
        if !points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                p.child("mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
        if let Some(sp) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(local_descending_path(sp, &path.child("subPath")));
        }
        if let Some(spe) = m.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
            if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
                errs.push(FieldError::invalid(
                    p.child("subPathExpr"),
                    spe,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(local_descending_path(spe, &path.child("subPathExpr")));
        }
        if let Some(mp) = m.mount_propagation.as_deref()
            && !["None", "HostToContainer", "Bidirectional"].contains(&mp)
        {
            errs.push(FieldError::not_supported(
                path.child("mountPropagation"),
                mp,
                &["Bidirectional", "HostToContainer", "None"],
            ));
        }
    }
    errs
}

const STANDARD_CONTAINER_RESOURCES: [&str; 3] = ["cpu", "memory", "ephemeral-storage"];
const STANDARD_RESOURCES: [&str; 22] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "services",
    "replicationcontrollers",
    "resourcequotas",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
    "count/pods",
    "count/services",
];

fn is_hugepages(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

/// Native resources are unprefixed or in `kubernetes.io`; only they may be overcommitted.
pub fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `validateResourceName` + `validateContainerResourceName`.
fn validate_container_resource_name(name: &str, p: &Path) -> Errors {
    let mut errs: Errors = is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(p, name, m))
        .collect();
    if !errs.is_empty() {
        return errs;
    }
    if !name.contains('/') {
        if !STANDARD_RESOURCES.contains(&name) && !is_hugepages(name) {
            errs.push(FieldError::invalid(
                p,
                name,
                "must be a standard resource type or fully qualified",
            ));
        }
        if !STANDARD_CONTAINER_RESOURCES.contains(&name) && !name.starts_with("hugepages-") {
            errs.push(FieldError::invalid(
                p,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native_resource(name)
        && (name.starts_with("requests.")
            || !is_qualified_name(&format!("requests.{name}")).is_empty())
    {
        errs.push(FieldError::invalid(
            p,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// `ValidateContainerResourceRequirements`: names, non-negative values, integer extended
/// resources, and `requests <= limits` (equal for resources that cannot be overcommitted).
pub fn validate_resources(r: &ResourceRequirements, path: &Path) -> Errors {
    let mut errs = Errors::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let parse = |q: &Q| Quantity::parse(&q.0).unwrap_or(Quantity::zero());
    let empty = BTreeMap::new();
    let limits = r.limits.as_ref().unwrap_or(&empty);
    for (name, q) in limits {
        let p = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        errs.extend(validate_quantity_value(name, &parse(q), &p));
    }
    for (name, q) in r.requests.iter().flatten() {
        let p = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        let req = parse(q);
        errs.extend(validate_quantity_value(name, &req, &p));
        let overcommit = is_native_resource(name) && !is_hugepages(name);
        match limits.get(name) {
            Some(l) => {
                let lim = parse(l);
                if req != lim && !overcommit {
                    errs.push(FieldError::invalid(
                        &req_path,
                        req.canonical(),
                        format!("must be equal to {name} limit of {}", lim.canonical()),
                    ));
                } else if req > lim {
                    errs.push(FieldError::invalid(
                        &req_path,
                        req.canonical(),
                        format!(
                            "must be less than or equal to {name} limit of {}",
                            lim.canonical()
                        ),
                    ));
                }
            }
            None if !overcommit => {
                errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
    }
    errs
}

/// `ValidateResourceQuantityValue`.
pub fn validate_quantity_value(name: &str, q: &Quantity, p: &Path) -> Errors {
    let mut errs = Errors::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(p, q.canonical(), NEGATIVE));
    }
    if !is_native_resource(name) && q.milli_value() % 1000 != 0 {
        errs.push(FieldError::invalid(p, q.canonical(), "must be an integer"));
    }
    errs
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

fn validate_probe(probe: Option<&Probe>, kind: ProbeKind, p: &Path) -> Errors {
    let Some(probe) = probe else {
        return Vec::new();
    };
    let mut errs = validate_handler(
        &Handler {
            exec: probe
                .exec
                .as_ref()
                .map(|e| e.command.as_ref().is_some_and(|c| !c.is_empty())),
            http_get: probe.http_get.as_ref(),
            tcp_port: probe.tcp_socket.as_ref().map(|t| &t.port),
            grpc_port: probe.grpc.as_ref().map(|g| g.port),
            sleep: None,
        },
        None,
        p,
    );
    for (v, f) in [
        (probe.initial_delay_seconds, "initialDelaySeconds"),
        (probe.timeout_seconds, "timeoutSeconds"),
        (probe.period_seconds, "periodSeconds"),
        (probe.success_threshold, "successThreshold"),
        (probe.failure_threshold, "failureThreshold"),
    ] {
        errs.extend(non_negative(i64::from(v.unwrap_or(0)), &p.child(f)));
    }
    if let Some(t) = probe.termination_grace_period_seconds.filter(|t| *t <= 0) {
        errs.push(FieldError::invalid(
            p.child("terminationGracePeriodSeconds"),
            t,
            "must be greater than 0",
        ));
    }
    match kind {
        ProbeKind::Liveness | ProbeKind::Startup => {
            let st = probe.success_threshold.unwrap_or(0);
            if st != 1 {
                errs.push(FieldError::invalid(
                    p.child("successThreshold"),
                    st,
                    "must be 1",
                ));
            }
        }
        ProbeKind::Readiness => {
            if let Some(t) = probe.termination_grace_period_seconds {
                errs.push(FieldError::invalid(
                    p.child("terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            }
        }
    }
    errs
}

/// The handler shapes probes and lifecycle hooks share (`commonHandler`); `exec` carries
/// whether a command was given.
struct Handler<'a> {
    exec: Option<bool>,
    http_get: Option<&'a HTTPGetAction>,
    tcp_port: Option<&'a IntOrString>,
    grpc_port: Option<i32>,
    sleep: Option<i64>,
}

fn validate_handler(h: &Handler<'_>, grace: Option<i64>, p: &Path) -> Errors {
    let mut errs = Errors::new();
    let mut n = 0;
    // Only the first handler given counts; each further one is Forbidden.
    let mut take = |name: &str, errs: &mut Errors| -> bool {
        if n > 0 {
            errs.push(FieldError::forbidden(
                p.child(name),
                "may not specify more than 1 handler type",
            ));
            return false;
        }
        n += 1;
        true
    };
    if let Some(has_command) = h.exec
        && take("exec", &mut errs)
        && !has_command
    {
        errs.push(FieldError::required(p.children(&["exec", "command"]), ""));
    }
    if let Some(g) = h.http_get
        && take("httpGet", &mut errs)
    {
        let gp = p.child("httpGet");
        if g.path.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(gp.child("path"), ""));
        }
        errs.extend(port_num_or_name(&g.port, &gp.child("port")));
        let scheme = g.scheme.as_deref().unwrap_or("");
        if scheme != "HTTP" && scheme != "HTTPS" {
            errs.push(FieldError::not_supported(
                gp.child("scheme"),
                scheme,
                &["HTTP", "HTTPS"],
            ));
        }
        for hdr in g.http_headers.iter().flatten() {
            errs.extend(
                is_http_header_name(&hdr.name)
                    .into_iter()
                    .map(|m| FieldError::invalid(gp.child("httpHeaders"), hdr.name.as_str(), m)),
            );
        }
    }
    if let Some(port) = h.tcp_port
        && take("tcpSocket", &mut errs)
    {
        errs.extend(port_num_or_name(port, &p.children(&["tcpSocket", "port"])));
    }
    if let Some(port) = h.grpc_port
        && take("grpc", &mut errs)
    {
        errs.extend(port_num_or_name(
            &IntOrString::Int(port),
            &p.children(&["grpc", "port"]),
        ));
    }
    if let Some(secs) = h.sleep
        && take("sleep", &mut errs)
        && let Some(g) = grace
        && (secs < 0 || secs > g)
    {
        errs.push(FieldError::invalid(
            p.child("sleep"),
            secs,
            format!("must be non-negative and less than terminationGracePeriodSeconds ({g})"),
        ));
    }
    if n == 0 {
        errs.push(FieldError::required(p, "must specify a handler type"));
    }
    errs
}

fn validate_lifecycle(
    post: Option<&LifecycleHandler>,
    pre: Option<&LifecycleHandler>,
    grace: Option<i64>,
    p: &Path,
) -> Errors {
    let mut errs = Errors::new();
    for (h, name) in [(post, "postStart"), (pre, "preStop")] {
        if let Some(h) = h {
            errs.extend(validate_handler(
                &Handler {
                    exec: h
                        .exec
                        .as_ref()
                        .map(|e| e.command.as_ref().is_some_and(|c| !c.is_empty())),
                    http_get: h.http_get.as_ref(),
                    tcp_port: h.tcp_socket.as_ref().map(|t| &t.port),
                    grpc_port: None,
                    sleep: h.sleep.as_ref().map(|s| s.seconds),
                },
                grace,
                &p.child(name),
            ));
        }
    }
    errs
}

/// `ValidatePortNumOrName`.
pub fn port_num_or_name(port: &IntOrString, p: &Path) -> Errors {
    match port {
        IntOrString::Int(n) => is_valid_port_num(i64::from(*n))
            .into_iter()
            .map(|m| FieldError::invalid(p, *n, m))
            .collect(),
        IntOrString::String(s) => is_valid_port_name(s)
            .into_iter()
            .map(|m| FieldError::invalid(p, s.as_str(), m))
            .collect(),
    }
}

/// hostNetwork pods must expose their container ports on the host as the same number.
fn validate_host_network(spec: &PodSpec, path: &Path, opts: Opts) -> Errors {
    let mut errs = Errors::new();
    if spec.host_network != Some(true) {
        return errs;
    }
    for (i, c) in spec.containers.iter().enumerate() {
        for (j, port) in c.ports.iter().flatten().enumerate() {
            let hp = port.host_port.unwrap_or(0);
            if (opts.is_pod || hp != 0) && hp != port.container_port {
                errs.push(FieldError::invalid(
                    path.child("containers")
                        .index(i)
                        .child("ports")
                        .index(j)
                        .child("hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
    errs
}

const ID_MAX: i64 = 0xffff_ffff;

fn id_range(v: Option<i64>, p: &Path) -> Errors {
    match v {
        Some(x) if !(0..=ID_MAX).contains(&x) => {
            vec![FieldError::invalid(p, x, inclusive_range_error(0, ID_MAX))]
        }
        _ => Vec::new(),
    }
}

fn validate_pod_security_context(sc: &PodSecurityContext, p: &Path) -> Errors {
    let mut errs = Errors::new();
    errs.extend(id_range(sc.fs_group, &p.child("fsGroup")));
    errs.extend(id_range(sc.run_as_user, &p.child("runAsUser")));
    errs.extend(id_range(sc.run_as_group, &p.child("runAsGroup")));
    for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
        errs.extend(id_range(Some(*g), &p.child("supplementalGroups").index(i)));
    }
    if let Some(pol) = sc.fs_group_change_policy.as_deref()
        && pol != "OnRootMismatch"
        && pol != "Always"
    {
        errs.push(FieldError::not_supported(
            p.child("fsGroupChangePolicy"),
            pol,
            &["Always", "OnRootMismatch"],
        ));
    }
    if let Some(sp) = &sc.seccomp_profile {
        errs.extend(enum_required(
            Some(sp.type_.as_str()),
            &["Localhost", "RuntimeDefault", "Unconfined"],
            &p.children(&["seccompProfile", "type"]),
        ));
    }
    errs
}

fn validate_security_context(sc: &SecurityContext, p: &Path) -> Errors {
    let mut errs = Errors::new();
    errs.extend(id_range(sc.run_as_user, &p.child("runAsUser")));
    errs.extend(id_range(sc.run_as_group, &p.child("runAsGroup")));
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                p,
                json(sc),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        if sc.capabilities.as_ref().is_some_and(|c| {
            c.add
                .iter()
                .flatten()
                .any(|a| a == "SYS_ADMIN" || a == "CAP_SYS_ADMIN")
        }) {
            errs.push(FieldError::invalid(p, json(sc), "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"));
        }
    }
    if let Some(pm) = sc.proc_mount.as_deref()
        && pm != "Default"
        && pm != "Unmasked"
    {
        errs.push(FieldError::not_supported(
            p.child("procMount"),
            pm,
            &["Default", "Unmasked"],
        ));
    }
    errs
}

fn validate_affinity(a: &Affinity, p: &Path) -> Errors {
    let mut errs = Errors::new();
    if let Some(na) = &a.node_affinity {
        let np = p.child("nodeAffinity");
        if let Some(req) = &na.required_during_scheduling_ignored_during_execution {
            let rp = np.child("requiredDuringSchedulingIgnoredDuringExecution");
            if req.node_selector_terms.is_empty() {
                errs.push(FieldError::required(
                    rp.child("nodeSelectorTerms"),
                    "must have at least one node selector term",
                ));
            }
            for (i, t) in req.node_selector_terms.iter().enumerate() {
                for (j, r) in t.match_expressions.iter().flatten().enumerate() {
                    let ep = rp
                        .child("nodeSelectorTerms")
                        .index(i)
                        .child("matchExpressions")
                        .index(j);
                    errs.extend(validate_node_selector_requirement(
                        &r.key,
                        &r.operator,
                        r.values.as_deref().unwrap_or(&[]),
                        &ep,
                    ));
                }
            }
        }
        for (i, t) in na
            .preferred_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
            .enumerate()
        {
            let tp = np
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            if !(1..=100).contains(&t.weight) {
                errs.push(FieldError::invalid(
                    tp.child("weight"),
                    t.weight,
                    "must be in the range 1-100",
                ));
            }
        }
    }
    let pod_terms = [
        (
            a.pod_affinity.as_ref().map(|x| {
                (
                    &x.required_during_scheduling_ignored_during_execution,
                    &x.preferred_during_scheduling_ignored_during_execution,
                )
            }),
            "podAffinity",
        ),
        (
            a.pod_anti_affinity.as_ref().map(|x| {
                (
                    &x.required_during_scheduling_ignored_during_execution,
                    &x.preferred_during_scheduling_ignored_during_execution,
                )
            }),
            "podAntiAffinity",
        ),
    ];
    for (terms, name) in pod_terms {
        let Some((req, pref)) = terms else { continue };
        let ap = p.child(name);
        for (i, t) in req.iter().flatten().enumerate() {
            errs.extend(validate_pod_affinity_term(
                t,
                &ap.child("requiredDuringSchedulingIgnoredDuringExecution")
                    .index(i),
            ));
        }
        for (i, w) in pref.iter().flatten().enumerate() {
            let wp = ap
                .child("preferredDuringSchedulingIgnoredDuringExecution")
                .index(i);
            if !(1..=100).contains(&w.weight) {
                errs.push(FieldError::invalid(
                    wp.child("weight"),
                    w.weight,
                    "must be in the range 1-100",
                ));
            }
            errs.extend(validate_pod_affinity_term(
                &w.pod_affinity_term,
                &wp.child("podAffinityTerm"),
            ));
        }
    }
    errs
}

fn validate_pod_affinity_term(t: &k8s_openapi::api::core::v1::PodAffinityTerm, p: &Path) -> Errors {
    let mut errs = Errors::new();
    if let Some(s) = &t.label_selector {
        errs.extend(validate_label_selector(s, &p.child("labelSelector")));
    }
    for ns in t.namespaces.iter().flatten() {
        errs.extend(
            is_dns1123_label(ns)
                .into_iter()
                .map(|m| FieldError::invalid(p.child("namespace"), ns.as_str(), m)),
        );
    }
    if t.topology_key.is_empty() {
        errs.push(FieldError::required(
            p.child("topologyKey"),
            "can not be empty",
        ));
    }
    errs.extend(validate_label_name(
        &t.topology_key,
        &p.child("topologyKey"),
    ));
    errs
}

fn validate_node_selector_requirement(key: &str, op: &str, values: &[String], p: &Path) -> Errors {
    let mut errs = Errors::new();
    match op {
        "In" | "NotIn" => {
            if values.is_empty() {
                errs.push(FieldError::required(
                    p.child("values"),
                    "must be specified when `operator` is 'In' or 'NotIn'",
                ));
            }
        }
        "Exists" | "DoesNotExist" => {
            if !values.is_empty() {
                errs.push(FieldError::forbidden(
                    p.child("values"),
                    "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                ));
            }
        }
        "Gt" | "Lt" => {
            if values.len() != 1 {
                errs.push(FieldError::required(
                    p.child("values"),
                    "must be specified single value when `operator` is 'Lt' or 'Gt'",
                ));
            }
        }
        other => errs.push(FieldError::invalid(
            p.child("operator"),
            other,
            "not a valid selector operator",
        )),
    }
    errs.extend(validate_label_name(key, &p.child("key")));
    errs
}

fn validate_dns_config(spec: &PodSpec, p: &Path) -> Errors {
    let mut errs = Errors::new();
    if spec.dns_policy.as_deref() == Some("None") {
        match &spec.dns_config {
            None => {
                return vec![FieldError::required(
                    p,
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                )];
            }
            Some(c) if c.nameservers.as_ref().is_none_or(|n| n.is_empty()) => {
                return vec![FieldError::required(
                    p.child("nameservers"),
                    "must provide at least one DNS nameserver when `dnsPolicy` is None",
                )];
            }
            _ => {}
        }
    }
    if let Some(c) = &spec.dns_config {
        let ns = c.nameservers.as_deref().unwrap_or(&[]);
        if ns.len() > 3 {
            errs.push(FieldError::invalid(
                p.child("nameservers"),
                json(&ns),
                "must not have more than 3 nameservers",
            ));
        }
        for (i, n) in ns.iter().enumerate() {
            errs.extend(
                is_valid_ip(n)
                    .into_iter()
                    .map(|m| FieldError::invalid(p.child("nameservers").index(i), n.as_str(), m)),
            );
        }
        for (i, o) in c.options.iter().flatten().enumerate() {
            if o.name.as_deref().unwrap_or("").is_empty() {
                errs.push(FieldError::required(
                    p.child("options").index(i),
                    "must not be empty",
                ));
            }
        }
    }
    errs
}

fn validate_topology_spread(spec: &PodSpec, path: &Path) -> Errors {
    let mut errs = Errors::new();
    let mut seen = BTreeSet::new();
    for (i, c) in spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .enumerate()
    {
        let p = path.index(i);
        if c.max_skew <= 0 {
            errs.push(FieldError::invalid(
                p.child("maxSkew"),
                c.max_skew,
                "must be greater than zero",
            ));
        }
        if c.topology_key.is_empty() {
            errs.push(FieldError::required(
                p.child("topologyKey"),
                "can not be empty",
            ));
        } else {
            errs.extend(validate_label_name(
                &c.topology_key,
                &p.child("topologyKey"),
            ));
        }
        match c.when_unsatisfiable.as_str() {
            "DoNotSchedule" | "ScheduleAnyway" => {}
            w => errs.push(FieldError::not_supported(
                p.child("whenUnsatisfiable"),
                w,
                &["DoNotSchedule", "ScheduleAnyway"],
            )),
        }
        if !seen.insert((c.topology_key.clone(), c.when_unsatisfiable.clone())) {
            errs.push(FieldError::duplicate(
                &p,
                format!("{{{}, {}}}", c.topology_key, c.when_unsatisfiable),
            ));
        }
        if let Some(s) = &c.label_selector {
            errs.extend(validate_label_selector(s, &p.child("labelSelector")));
        }
    }
    errs
}

/// `ValidateTolerations`.
pub fn validate_tolerations(ts: &[Toleration], path: &Path) -> Errors {
    let mut errs = Errors::new();
    for (i, t) in ts.iter().enumerate() {
        let p = path.index(i);
        let key = t.key.as_deref().unwrap_or("");
        let op = t.operator.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &p.child("key")));
        }
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match op {
            "Equal" | "" => {
                let msgs = is_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        p.child("operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        p.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(&effect)
        {
            errs.push(FieldError::not_supported(
                p.child("effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json as j;

    fn spec(v: serde_json::Value) -> PodSpec {
        let mut s: PodSpec = serde_json::from_value(v).unwrap_or_default();
        default_spec(&mut s);
        s
    }

    fn errs(v: serde_json::Value) -> Vec<String> {
        validate_spec(
            &spec(v),
            &ObjectMeta::default(),
            &Path::new("spec"),
            Opts { is_pod: true },
        )
        .iter()
        .map(ToString::to_string)
        .collect()
    }

    #[test]
    fn defaults_fill_spec_and_containers() {
        let s = spec(
            j!({"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
            "livenessProbe": {"httpGet": {"port": 80}}, "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}],
            "volumes": [{"name": "v"}, {"name": "s", "secret": {"secretName": "x"}}]}),
        );
        let v = json(&s);
        assert_eq!(v["dnsPolicy"], "ClusterFirst");
        assert_eq!(v["restartPolicy"], "Always");
        assert_eq!(v["terminationGracePeriodSeconds"], 30);
        assert_eq!(v["schedulerName"], "default-scheduler");
        assert_eq!(v["securityContext"], j!({}));
        let c = &v["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(
            c["livenessProbe"],
            j!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
        assert_eq!(v["volumes"][0], j!({"name": "v", "emptyDir": {}}));
        assert_eq!(v["volumes"][1]["secret"]["defaultMode"], 420);
    }

    #[test]
    fn image_pull_policy_by_tag() {
        let table = [
            ("nginx", "latest"),
            ("nginx:latest", "latest"),
            ("nginx:1.25", "1.25"),
            ("registry:5000/app", "latest"),
            ("registry:5000/app:v1", "v1"),
            ("nginx@sha256:abc", ""),
            ("nginx:latest@sha256:abc", "latest"),
        ];
        for (image, tag) in table {
            assert_eq!(image_tag(image), tag, "{image}");
        }
        let s = spec(j!({"containers": [{"name": "c", "image": "nginx:1.25"}]}));
        assert_eq!(
            s.containers[0].image_pull_policy.as_deref(),
            Some("IfNotPresent")
        );
    }

    #[test]
    fn containers_required_and_named() {
        assert_eq!(
            errs(j!({"containers": []})),
            vec!["spec.containers: Required value"]
        );
        assert_eq!(
            errs(j!({"containers": [{"name": "", "image": "x"}]})),
            vec!["spec.containers[0].name: Required value"]
        );
        assert_eq!(
            errs(j!({"containers": [{"name": "c"}]})),
            vec!["spec.containers[0].image: Required value"]
        );
        let e = errs(j!({"containers": [{"name": "Web", "image": "x"}]}));
        assert!(
            e[0].starts_with(
                "spec.containers[0].name: Invalid value: \"Web\": a lowercase RFC 1123 label"
            ),
            "{e:?}"
        );
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "a", "image": "y"}]})
            ),
            vec!["spec.initContainers[0].name: Duplicate value: \"a\""]
        );
        assert_eq!(
            errs(j!({"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]})),
            vec!["spec.containers[1].name: Duplicate value: \"a\""]
        );
    }

    #[test]
    fn ports_rules() {
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 70000, "protocol": "HTTP"}, {"containerPort": 0}]}]})
            ),
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[1].containerPort: Required value",
            ]
        );
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}]}]})
            ),
            vec!["spec.containers[0].ports[1].name: Duplicate value: \"web\""]
        );
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 8080}]}]})
            ),
            vec!["spec.containers[0].ports[1].hostPort: Duplicate value: \"TCP//8080\""]
        );
    }

    #[test]
    fn enums_for_policies() {
        assert_eq!(
            errs(j!({"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "x"}]})),
            vec![
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
            ]
        );
        assert_eq!(
            errs(j!({"dnsPolicy": "Google", "containers": [{"name": "a", "image": "x"}]})),
            vec![
                "spec.dnsPolicy: Unsupported value: \"Google\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""
            ]
        );
        assert_eq!(
            errs(j!({"containers": [{"name": "a", "image": "x", "imagePullPolicy": "Sometimes"}]})),
            vec![
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
            ]
        );
    }

    #[test]
    fn resources_requests_within_limits() {
        let mut s = spec(
            j!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "2", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}]}),
        );
        assert!(normalize(&mut s).is_ok());
        let e: Vec<String> = validate_spec(
            &s,
            &ObjectMeta::default(),
            &Path::new("spec"),
            Opts::default(),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            e,
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"
            ]
        );
        assert_eq!(
            errs(j!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"gpu": "1", "example.com/dev": "1"}}}]})),
            vec![
                "spec.containers[0].resources.requests[example.com/dev]: Required value: Limit must be set for non overcommitable resources".replace("requests[example.com/dev]: Required", "limits: Required"),
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified".to_string(),
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a standard resource for containers".to_string(),
            ]
        );
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "-1"}}}]})
            ),
            vec![
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"
            ]
        );
    }

    #[test]
    fn quantities_normalize_or_fail_decode() {
        let mut s = spec(
            j!({"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}}}]}),
        );
        assert!(normalize(&mut s).is_ok());
        let v = json(&s);
        assert_eq!(
            v["containers"][0]["resources"]["limits"],
            j!({"cpu": "500m", "memory": "1Gi"})
        );
        let mut bad = spec(
            j!({"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "lots"}}}]}),
        );
        assert_eq!(normalize(&mut bad), Err(quantity::FORMAT_ERROR.to_string()));
    }

    #[test]
    fn volumes_and_mounts() {
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}, {"name": "v", "mountPath": "/d"}]}],
                "volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]})
            ),
            vec![
                "spec.volumes[1].name: Duplicate value: \"v\"",
                "spec.containers[0].volumeMounts[0].name: Not found: \"data\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be unique",
            ]
        );
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x"}], "volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "s", "secret": {}}]})
            ),
            vec![
                "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[1].secret.secretName: Required value",
            ]
        );
    }

    #[test]
    fn probes_and_init_containers() {
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x", "livenessProbe": {"successThreshold": 2, "exec": {"command": ["true"]}}, "readinessProbe": {}}]})
            ),
            vec![
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
            ]
        );
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["x"]}}}]})
            ),
            vec![
                "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"
            ]
        );
        assert_eq!(
            errs(j!({"containers": [{"name": "a", "image": "x", "restartPolicy": "Always"}]})),
            vec![
                "spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"
            ]
        );
    }

    #[test]
    fn env_rules() {
        assert_eq!(
            errs(
                j!({"containers": [{"name": "a", "image": "x", "env": [{"name": ""}, {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "spec.restartPolicy"}}}, {"name": "B", "valueFrom": {}}]}]})
            ),
            vec![
                "spec.containers[0].env[0].name: Required value",
                "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath: Unsupported value: \"spec.restartPolicy\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"",
                "spec.containers[0].env[2].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ]
        );
    }

    #[test]
    fn tolerations_rules() {
        let t: Vec<Toleration> = serde_json::from_value(j!([{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Exists", "value": "v"}, {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}])).unwrap_or_default();
        let e: Vec<String> = validate_tolerations(&t, &Path::new("spec").child("tolerations"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            e,
            vec![
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
                "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
            ]
        );
    }

    #[test]
    fn host_network_ports_and_deadline() {
        assert_eq!(
            errs(
                j!({"hostNetwork": true, "activeDeadlineSeconds": 0, "containers": [{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 81}]}]})
            ),
            vec![
                "spec.containers[0].ports[0].hostPort: Invalid value: 81: must match `containerPort` when `hostNetwork` is true",
                "spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive",
            ]
        );
    }

    #[test]
    fn template_validation_checks_labels() {
        let t: PodTemplateSpec = serde_json::from_value(j!({"metadata": {"labels": {"a": "-x"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}})).unwrap_or_default();
        let mut t = t;
        default_template(&mut t);
        let e: Vec<String> = validate_template(&t, &Path::new("spec").child("template"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("spec.template.metadata.labels: Invalid value: \"-x\""));
    }
}
