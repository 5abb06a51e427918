//! apps/v1 workloads: Deployment, ReplicaSet, StatefulSet, DaemonSet, ControllerRevision —
//! `pkg/apis/apps/v1/defaults.go`, `pkg/apis/apps/validation`, `pkg/registry/apps/*/strategy.go`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, DaemonSetStatus, DaemonSetUpdateStrategy, Deployment,
    DeploymentStatus, DeploymentStrategy, ReplicaSet, ReplicaSetStatus, RollingUpdateDaemonSet,
    RollingUpdateDeployment, RollingUpdateStatefulSetStrategy, StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetStatus, StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::validation::{is_dns1035_label, is_valid_percent};
use serde_json::Value;

use super::Strategy;
use super::field::{Errors, IMMUTABLE, Path, json, non_negative};
use super::meta::{Scope, selector_is_empty, selector_matches, validate_label_selector};
use super::podspec;

/// Whether the body as sent has a value at `path` (Go tells a nil pointer from an empty one).
pub fn has(raw: &Value, path: &[&str]) -> bool {
    path.iter().try_fold(raw, |v, k| v.get(*k)).is_some()
}

/// The value an error prints for an int-or-string.
fn ios_value(v: &IntOrString) -> Value {
    match v {
        IntOrString::Int(i) => Value::from(*i),
        IntOrString::String(s) => Value::from(s.as_str()),
    }
}

/// `ValidatePositiveIntOrPercent`.
pub fn validate_int_or_percent(v: &IntOrString, p: &Path) -> Errors {
    match v {
        IntOrString::String(s) => is_valid_percent(s)
            .into_iter()
            .map(|m| FieldError::invalid(p, s.as_str(), m))
            .collect(),
        IntOrString::Int(i) => non_negative(i64::from(*i), p),
    }
}

/// `getIntOrPercentValue`: the number, whether absolute or a percent.
fn int_or_percent_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => s.trim_end_matches('%').parse().unwrap_or(0),
    }
}

/// `IsNotMoreThan100Percent`.
fn not_more_than_100(v: &IntOrString, p: &Path) -> Errors {
    match v {
        IntOrString::String(s)
            if is_valid_percent(s).is_empty() && int_or_percent_value(v) > 100 =>
        {
            vec![FieldError::invalid(
                p,
                s.as_str(),
                "must not be greater than 100%",
            )]
        }
        _ => Vec::new(),
    }
}

/// The selector checks every controller shares: present, well-formed, not empty.
fn validate_selector(raw: &Value, sel: &LabelSelector, path: &Path, word: &str) -> Errors {
    if !has(raw, &["spec", "selector"]) {
        return vec![FieldError::required(path, "")];
    }
    let mut errs = validate_label_selector(sel, path);
    if selector_is_empty(sel) {
        errs.push(FieldError::invalid(
            path,
            json(sel),
            format!("empty selector is invalid for {word}"),
        ));
    }
    errs
}

/// `ValidatePodTemplateSpecForReplicaSet` (and its StatefulSet/DaemonSet twins): the selector
/// must select the template's labels, pods must always restart, no deadline.
fn validate_controller_template(
    t: &PodTemplateSpec,
    sel: &LabelSelector,
    path: &Path,
    kind: &str,
) -> Errors {
    let mut errs = Errors::new();
    let labels = t
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    match selector_matches(sel, &labels) {
        None => errs.push(FieldError::invalid(
            path.parent_selector(),
            json(sel),
            "invalid label selector",
        )),
        Some(false) if !selector_is_empty(sel) => errs.push(FieldError::invalid(
            path.children(&["metadata", "labels"]),
            json(&labels),
            "`selector` does not match template `labels`",
        )),
        _ => {}
    }
    errs.extend(podspec::validate_template(t, path));
    let spec = t.spec.clone().unwrap_or_default();
    let restart = spec.restart_policy.as_deref().unwrap_or("");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            path.children(&["spec", "restartPolicy"]),
            restart,
            &["Always"],
        ));
    }
    if spec.active_deadline_seconds.is_some() {
        errs.push(FieldError::forbidden(
            path.children(&["spec", "activeDeadlineSeconds"]),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    errs
}

impl Path {
    /// `spec.template` → `spec.selector`, for the invalid-selector error.
    fn parent_selector(&self) -> Path {
        let s = self.as_str();
        Path::new(s.strip_suffix(".template").unwrap_or(s)).child("selector")
    }
}

fn selector_immutable(new: &LabelSelector, old: &LabelSelector) -> Errors {
    if new == old {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            Path::new("spec").child("selector"),
            json(new),
            IMMUTABLE,
        )]
    }
}

// ---------------------------------------------------------------------------------------------
// Deployment

impl Strategy for Deployment {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        match self.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            Some(s) => podspec::normalize(s),
            None => Ok(()),
        }
    }

    /// `SetDefaults_Deployment`.
    fn default(&mut self, _create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.replicas.get_or_insert(1);
        let strategy = spec
            .strategy
            .get_or_insert_with(DeploymentStrategy::default);
        if strategy.type_.as_deref().unwrap_or("").is_empty() {
            strategy.type_ = Some("RollingUpdate".into());
        }
        if strategy.type_.as_deref() == Some("RollingUpdate") {
            let ru = strategy
                .rolling_update
                .get_or_insert_with(RollingUpdateDeployment::default);
            ru.max_unavailable
                .get_or_insert_with(|| IntOrString::String("25%".into()));
            ru.max_surge
                .get_or_insert_with(|| IntOrString::String("25%".into()));
        }
        spec.revision_history_limit.get_or_insert(10);
        spec.progress_deadline_seconds.get_or_insert(600);
        podspec::default_template(&mut spec.template);
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(DeploymentStatus::default());
    }

    fn validate(&self, raw: &Value) -> Errors {
        validate_deployment_spec(self, raw)
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = validate_deployment_spec(self, raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        errs.extend(selector_immutable(&n.selector, &o.selector));
        errs
    }
}

/// `ValidateDeploymentSpec`.
fn validate_deployment_spec(d: &Deployment, raw: &Value) -> Errors {
    let spec = d.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = non_negative(i64::from(spec.replicas.unwrap_or(0)), &p.child("replicas"));
    errs.extend(validate_selector(
        raw,
        &spec.selector,
        &p.child("selector"),
        "deployment",
    ));
    errs.extend(validate_controller_template(
        &spec.template,
        &spec.selector,
        &p.child("template"),
        "ReplicaSet",
    ));
    let strategy = spec.strategy.clone().unwrap_or_default();
    let sp = p.child("strategy");
    match strategy.type_.as_deref().unwrap_or("") {
        "Recreate" => {
            if strategy.rolling_update.is_some() {
                errs.push(FieldError::forbidden(
                    sp.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match &strategy.rolling_update {
            None => errs.push(FieldError::required(
                sp.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(ru) => errs.extend(validate_rolling_update(
                ru.max_unavailable.as_ref(),
                ru.max_surge.as_ref(),
                &sp.child("rollingUpdate"),
            )),
        },
        other => errs.push(FieldError::not_supported(
            sp.child("type"),
            other,
            &["Recreate", "RollingUpdate"],
        )),
    }
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    errs.extend(non_negative(
        i64::from(min_ready),
        &p.child("minReadySeconds"),
    ));
    if let Some(r) = spec.revision_history_limit {
        errs.extend(non_negative(i64::from(r), &p.child("revisionHistoryLimit")));
    }
    if let Some(pd) = spec.progress_deadline_seconds {
        errs.extend(non_negative(
            i64::from(pd),
            &p.child("progressDeadlineSeconds"),
        ));
        if pd <= min_ready {
            errs.push(FieldError::invalid(
                p.child("progressDeadlineSeconds"),
                pd,
                "must be greater than minReadySeconds",
            ));
        }
    }
    errs
}

/// `ValidateRollingUpdateDeployment` (DaemonSets share its shape).
fn validate_rolling_update(
    max_unavailable: Option<&IntOrString>,
    max_surge: Option<&IntOrString>,
    p: &Path,
) -> Errors {
    let zero = IntOrString::Int(0);
    let mu = max_unavailable.unwrap_or(&zero);
    let ms = max_surge.unwrap_or(&zero);
    let mut errs = validate_int_or_percent(mu, &p.child("maxUnavailable"));
    errs.extend(validate_int_or_percent(ms, &p.child("maxSurge")));
    if int_or_percent_value(mu) == 0 && int_or_percent_value(ms) == 0 {
        errs.push(FieldError::invalid(
            p.child("maxUnavailable"),
            ios_value(mu),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
    errs.extend(not_more_than_100(mu, &p.child("maxUnavailable")));
    errs
}

// ---------------------------------------------------------------------------------------------
// ReplicaSet

impl Strategy for ReplicaSet {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        match self
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.spec.as_mut())
        {
            Some(s) => podspec::normalize(s),
            None => Ok(()),
        }
    }

    fn default(&mut self, _create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.replicas.get_or_insert(1);
        podspec::default_template(spec.template.get_or_insert_with(Default::default));
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(ReplicaSetStatus::default());
    }

    fn validate(&self, raw: &Value) -> Errors {
        validate_replica_set_spec(self, raw)
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = validate_replica_set_spec(self, raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        errs.extend(selector_immutable(&n.selector, &o.selector));
        errs
    }
}

/// `ValidateReplicaSetSpec` (its empty-selector message says "deployment", as upstream's does).
fn validate_replica_set_spec(rs: &ReplicaSet, raw: &Value) -> Errors {
    let spec = rs.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = non_negative(i64::from(spec.replicas.unwrap_or(0)), &p.child("replicas"));
    errs.extend(non_negative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &p.child("minReadySeconds"),
    ));
    errs.extend(validate_selector(
        raw,
        &spec.selector,
        &p.child("selector"),
        "deployment",
    ));
    errs.extend(validate_controller_template(
        &spec.template.unwrap_or_default(),
        &spec.selector,
        &p.child("template"),
        "ReplicaSet",
    ));
    errs
}

// ---------------------------------------------------------------------------------------------
// StatefulSet

impl Strategy for StatefulSet {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        let Some(spec) = self.spec.as_mut() else {
            return Ok(());
        };
        for pvc in spec.volume_claim_templates.iter_mut().flatten() {
            if let Some(r) = pvc.spec.as_mut().and_then(|s| s.resources.as_mut()) {
                podspec::normalize_list(&mut r.requests)?;
                podspec::normalize_list(&mut r.limits)?;
            }
        }
        match spec.template.spec.as_mut() {
            Some(s) => podspec::normalize(s),
            None => Ok(()),
        }
    }

    /// `SetDefaults_StatefulSet`.
    fn default(&mut self, _create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        if spec
            .pod_management_policy
            .as_deref()
            .unwrap_or("")
            .is_empty()
        {
            spec.pod_management_policy = Some("OrderedReady".into());
        }
        let us = spec
            .update_strategy
            .get_or_insert_with(StatefulSetUpdateStrategy::default);
        if us.type_.as_deref().unwrap_or("").is_empty() {
            us.type_ = Some("RollingUpdate".into());
            us.rolling_update
                .get_or_insert_with(RollingUpdateStatefulSetStrategy::default);
        }
        if us.type_.as_deref() == Some("RollingUpdate")
            && let Some(ru) = us.rolling_update.as_mut()
        {
            ru.partition.get_or_insert(0);
        }
        let rp = spec
            .persistent_volume_claim_retention_policy
            .get_or_insert_with(StatefulSetPersistentVolumeClaimRetentionPolicy::default);
        rp.when_deleted.get_or_insert_with(|| "Retain".into());
        rp.when_scaled.get_or_insert_with(|| "Retain".into());
        spec.replicas.get_or_insert(1);
        spec.revision_history_limit.get_or_insert(10);
        for pvc in spec.volume_claim_templates.iter_mut().flatten() {
            default_pvc_template(pvc);
        }
        podspec::default_template(&mut spec.template);
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(StatefulSetStatus::default());
    }

    fn validate(&self, raw: &Value) -> Errors {
        validate_stateful_set_spec(self, raw)
    }

    /// `ValidateStatefulSetUpdate`: only some spec fields may change.
    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = validate_stateful_set_spec(self, raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        let mut munged = n.clone();
        munged.replicas = o.replicas;
        munged.ordinals.clone_from(&o.ordinals);
        munged.template.clone_from(&o.template);
        munged.update_strategy.clone_from(&o.update_strategy);
        munged.revision_history_limit = o.revision_history_limit;
        munged
            .persistent_volume_claim_retention_policy
            .clone_from(&o.persistent_volume_claim_retention_policy);
        munged.min_ready_seconds = o.min_ready_seconds;
        if munged != o {
            errs.push(FieldError::forbidden(
                Path::new("spec"),
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
        errs
    }
}

/// `SetDefaults_PersistentVolumeClaim` for claim templates: Filesystem mode, Pending status.
pub fn default_pvc_template(pvc: &mut PersistentVolumeClaim) {
    let spec = pvc.spec.get_or_insert_with(Default::default);
    spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
    let status = pvc.status.get_or_insert_with(Default::default);
    status.phase.get_or_insert_with(|| "Pending".into());
}

/// `ValidateStatefulSetSpec`.
fn validate_stateful_set_spec(sts: &StatefulSet, raw: &Value) -> Errors {
    let spec = sts.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Errors::new();
    match spec.pod_management_policy.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(p.child("podManagementPolicy"), "")),
        "OrderedReady" | "Parallel" => {}
        other => errs.push(FieldError::invalid(
            p.child("podManagementPolicy"),
            other,
            "must be 'OrderedReady' or 'Parallel'",
        )),
    }
    let us = spec.update_strategy.clone().unwrap_or_default();
    let usp = p.child("updateStrategy");
    match us.type_.as_deref().unwrap_or("") {
        "" => errs.push(FieldError::required(&usp, "")),
        "OnDelete" => {
            if let Some(ru) = &us.rolling_update {
                errs.push(FieldError::invalid(
                    usp.child("rollingUpdate"),
                    json(ru),
                    "only allowed for updateStrategy 'RollingUpdate'",
                ));
            }
        }
        "RollingUpdate" => {
            if let Some(ru) = &us.rolling_update {
                let rp = usp.child("rollingUpdate");
                if let Some(part) = ru.partition {
                    errs.extend(non_negative(i64::from(part), &rp.child("partition")));
                }
                if let Some(mu) = &ru.max_unavailable {
                    errs.extend(validate_int_or_percent(mu, &rp.child("maxUnavailable")));
                    if int_or_percent_value(mu) == 0 {
                        errs.push(FieldError::invalid(
                            rp.child("maxUnavailable"),
                            ios_value(mu),
                            "must be greater than 0",
                        ));
                    }
                    errs.extend(not_more_than_100(mu, &rp.child("maxUnavailable")));
                }
            }
        }
        _ => errs.push(FieldError::invalid(
            &usp,
            json(&us),
            "must be 'RollingUpdate' or 'OnDelete'",
        )),
    }
    if let Some(rp) = &spec.persistent_volume_claim_retention_policy {
        let pp = p.child("persistentVolumeClaimRetentionPolicy");
        for (v, f) in [
            (&rp.when_deleted, "whenDeleted"),
            (&rp.when_scaled, "whenScaled"),
        ] {
            let v = v.as_deref().unwrap_or("");
            if v != "Retain" && v != "Delete" {
                errs.push(FieldError::not_supported(
                    pp.child(f),
                    v,
                    &["Retain", "Delete"],
                ));
            }
        }
    }
    if let Some(r) = spec.revision_history_limit {
        errs.extend(non_negative(i64::from(r), &p.child("revisionHistoryLimit")));
    }
    errs.extend(non_negative(
        i64::from(spec.replicas.unwrap_or(0)),
        &p.child("replicas"),
    ));
    errs.extend(non_negative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &p.child("minReadySeconds"),
    ));
    if let Some(start) = spec.ordinals.as_ref().and_then(|o| o.start) {
        errs.extend(non_negative(
            i64::from(start),
            &p.children(&["ordinals", "start"]),
        ));
    }
    if let Some(svc) = spec.service_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(
            is_dns1035_label(svc)
                .into_iter()
                .map(|m| FieldError::invalid(p.child("serviceName"), svc, m)),
        );
    }
    errs.extend(validate_selector(
        raw,
        &spec.selector,
        &p.child("selector"),
        "statefulset",
    ));
    errs.extend(validate_controller_template(
        &spec.template,
        &spec.selector,
        &p.child("template"),
        "StatefulSet",
    ));
    for (i, pvc) in spec.volume_claim_templates.iter().flatten().enumerate() {
        let vp = p.child("volumeClaimTemplates").index(i);
        if pvc.metadata.name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(vp.children(&["metadata", "name"]), ""));
        }
        let s = pvc.spec.clone().unwrap_or_default();
        if s.access_modes.as_ref().is_none_or(|m| m.is_empty()) {
            errs.push(FieldError::required(
                vp.children(&["spec", "accessModes"]),
                "at least 1 access mode is required",
            ));
        }
        let has_storage = s
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .is_some_and(|r| r.contains_key("storage"));
        if !has_storage {
            errs.push(FieldError::required(
                vp.children(&["spec", "resources"]).key("storage"),
                "",
            ));
        }
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// DaemonSet

impl Strategy for DaemonSet {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        match self.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            Some(s) => podspec::normalize(s),
            None => Ok(()),
        }
    }

    /// `SetDefaults_DaemonSet`.
    fn default(&mut self, _create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        let us = spec
            .update_strategy
            .get_or_insert_with(DaemonSetUpdateStrategy::default);
        if us.type_.as_deref().unwrap_or("").is_empty() {
            us.type_ = Some("RollingUpdate".into());
        }
        if us.type_.as_deref() == Some("RollingUpdate") {
            let ru = us
                .rolling_update
                .get_or_insert_with(RollingUpdateDaemonSet::default);
            ru.max_unavailable.get_or_insert(IntOrString::Int(1));
            ru.max_surge.get_or_insert(IntOrString::Int(0));
        }
        spec.revision_history_limit.get_or_insert(10);
        podspec::default_template(&mut spec.template);
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(DaemonSetStatus::default());
    }

    fn validate(&self, raw: &Value) -> Errors {
        validate_daemon_set_spec(self, raw)
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = validate_daemon_set_spec(self, raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        errs.extend(selector_immutable(&n.selector, &o.selector));
        errs
    }
}

/// `ValidateDaemonSetSpec`.
fn validate_daemon_set_spec(ds: &DaemonSet, raw: &Value) -> Errors {
    let spec = ds.spec.clone().unwrap_or_default();
    let p = Path::new("spec");
    let mut errs = Errors::new();
    let sel = &spec.selector;
    if !has(raw, &["spec", "selector"]) {
        errs.push(FieldError::required(p.child("selector"), ""));
    } else {
        errs.extend(validate_label_selector(sel, &p.child("selector")));
        let labels: BTreeMap<String, String> = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        if selector_matches(sel, &labels) == Some(false) {
            errs.push(FieldError::invalid(
                p.children(&["template", "metadata", "labels"]),
                json(&labels),
                "`selector` does not match template `labels`",
            ));
        }
        if selector_is_empty(sel) {
            errs.push(FieldError::invalid(
                p.child("selector"),
                json(sel),
                "empty selector is invalid for daemonset",
            ));
        }
    }
    let tp = p.child("template");
    errs.extend(podspec::validate_template(&spec.template, &tp));
    let tspec = spec.template.spec.clone().unwrap_or_default();
    let restart = tspec.restart_policy.as_deref().unwrap_or("");
    if restart != "Always" {
        errs.push(FieldError::not_supported(
            tp.children(&["spec", "restartPolicy"]),
            restart,
            &["Always"],
        ));
    }
    if let Some(ads) = tspec.active_deadline_seconds {
        errs.push(FieldError::invalid(
            tp.children(&["spec", "activeDeadlineSeconds"]),
            ads,
            "activeDeadlineSeconds in DaemonSet is not Supported",
        ));
    }
    errs.extend(non_negative(
        i64::from(spec.min_ready_seconds.unwrap_or(0)),
        &p.child("minReadySeconds"),
    ));
    let us = spec.update_strategy.clone().unwrap_or_default();
    let usp = p.child("updateStrategy");
    match us.type_.as_deref().unwrap_or("") {
        "OnDelete" => {}
        "RollingUpdate" => match &us.rolling_update {
            None => errs.push(FieldError::required(usp.child("rollingUpdate"), "")),
            Some(ru) => errs.extend(validate_rolling_update(
                ru.max_unavailable.as_ref(),
                ru.max_surge.as_ref(),
                &usp.child("rollingUpdate"),
            )),
        },
        other => errs.push(FieldError::not_supported(
            usp.child("type"),
            other,
            &["OnDelete", "RollingUpdate"],
        )),
    }
    if let Some(r) = spec.revision_history_limit {
        errs.extend(non_negative(i64::from(r), &p.child("revisionHistoryLimit")));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// ControllerRevision

impl Strategy for ControllerRevision {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        if self.data.is_none() {
            errs.push(FieldError::required(Path::new("data"), "data is mandatory"));
        }
        errs.extend(non_negative(self.revision, &Path::new("revision")));
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        if self.data != old.data {
            errs.push(FieldError::invalid(
                Path::new("data"),
                json(&self.data),
                IMMUTABLE,
            ));
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{create, update};
    use serde_json::{Value, json};

    fn deploy(spec: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
    }

    fn web_spec() -> Value {
        json!({"selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}})
    }

    #[test]
    fn deployment_defaults() {
        let out = create("apps", "Deployment", deploy(web_spec()));
        assert!(out.is_ok(), "{out:?}");
        let out = out.unwrap_or_default();
        let s = &out["spec"];
        assert_eq!(s["replicas"], 1);
        assert_eq!(
            s["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        );
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(s["progressDeadlineSeconds"], 600);
        let t = &s["template"]["spec"];
        assert_eq!(t["restartPolicy"], "Always");
        assert_eq!(t["dnsPolicy"], "ClusterFirst");
        assert_eq!(t["containers"][0]["imagePullPolicy"], "IfNotPresent");
        // Pod-only defaults stay out of templates.
        assert!(t.get("enableServiceLinks").is_none());
        assert!(t.get("tolerations").is_none());
        assert_eq!(out["status"], json!({}));
    }

    #[test]
    fn deployment_selector_rules() {
        let mut no_sel = web_spec();
        no_sel.as_object_mut().map(|m| m.remove("selector"));
        let e = create("apps", "Deployment", deploy(no_sel))
            .err()
            .unwrap_or_default();
        assert_eq!(e[0], "spec.selector: Required value");
        let mut mismatch = web_spec();
        mismatch["selector"] = json!({"matchLabels": {"app": "db"}});
        assert_eq!(
            create("apps", "Deployment", deploy(mismatch)),
            Err(vec!["spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`".to_string()])
        );
        let mut empty = web_spec();
        empty["selector"] = json!({});
        assert_eq!(
            create("apps", "Deployment", deploy(empty)),
            Err(vec![
                "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
                    .to_string()
            ])
        );
    }

    #[test]
    fn deployment_numbers_and_strategy() {
        let mut s = web_spec();
        s["replicas"] = json!(-1);
        s["strategy"] = json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}});
        assert_eq!(
            create("apps", "Deployment", deploy(s)),
            Err(vec![
                "spec.replicas: Invalid value: -1: must be greater than or equal to 0".to_string(),
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"0%\": may not be 0 when `maxSurge` is 0".to_string(),
            ])
        );
        let mut s = web_spec();
        s["strategy"] = json!({"type": "Recreate", "rollingUpdate": {}});
        assert_eq!(
            create("apps", "Deployment", deploy(s)),
            Err(vec!["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'".to_string()])
        );
        let mut s = web_spec();
        s["strategy"] = json!({"rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}});
        let e = create("apps", "Deployment", deploy(s))
            .err()
            .unwrap_or_default();
        assert_eq!(e.len(), 2);
        assert!(e[0].starts_with(
            "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string"
        ));
        assert_eq!(
            e[1],
            "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%"
        );
        let mut s = web_spec();
        s["template"]["spec"]["restartPolicy"] = json!("Never");
        s["progressDeadlineSeconds"] = json!(5);
        s["minReadySeconds"] = json!(10);
        assert_eq!(
            create("apps", "Deployment", deploy(s)),
            Err(vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"".to_string(),
                "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds".to_string(),
            ])
        );
    }

    #[test]
    fn deployment_selector_immutable() {
        let old = deploy(web_spec());
        let stored = create("apps", "Deployment", old.clone()).unwrap_or_default();
        let mut new = stored.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "web", "tier": "x"}});
        new["spec"]["template"]["metadata"]["labels"] = json!({"app": "web", "tier": "x"});
        assert_eq!(
            update("apps", "Deployment", old.clone(), new),
            Err(vec!["spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\",\"tier\":\"x\"}}: field is immutable".to_string()])
        );
        let mut scale = stored;
        scale["spec"]["replicas"] = json!(3);
        assert_eq!(
            update("apps", "Deployment", old, scale).map(|o| o["spec"]["replicas"].clone()),
            Ok(json!(3))
        );
    }

    #[test]
    fn replica_set_defaults_and_rules() {
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default"}, "spec": web_spec()});
        let out = create("apps", "ReplicaSet", rs).unwrap_or_default();
        assert_eq!(out["spec"]["replicas"], 1);
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs", "namespace": "default"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "c", "image": "x"}]}}}});
        assert_eq!(
            create("apps", "ReplicaSet", rs),
            Err(vec![
                "spec.selector: Invalid value: {}: empty selector is invalid for deployment"
                    .to_string()
            ])
        );
    }

    #[test]
    fn stateful_set_defaults_and_update_rules() {
        let mut spec = web_spec();
        spec["serviceName"] = json!("web");
        spec["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"}, "spec": spec});
        let out = create("apps", "StatefulSet", sts.clone());
        assert!(out.is_ok(), "{out:?}");
        let out = out.unwrap_or_default();
        let s = &out["spec"];
        assert_eq!(s["podManagementPolicy"], "OrderedReady");
        assert_eq!(
            s["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        );
        assert_eq!(
            s["persistentVolumeClaimRetentionPolicy"],
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
        );
        assert_eq!(s["replicas"], 1);
        assert_eq!(s["revisionHistoryLimit"], 10);
        assert_eq!(
            s["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(
            s["volumeClaimTemplates"][0]["status"],
            json!({"phase": "Pending"})
        );
        let mut new = out.clone();
        new["spec"]["serviceName"] = json!("other");
        assert_eq!(
            update("apps", "StatefulSet", sts.clone(), new),
            Err(vec!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".to_string()])
        );
        let mut scale = out;
        scale["spec"]["replicas"] = json!(3);
        assert!(update("apps", "StatefulSet", sts, scale).is_ok());
    }

    #[test]
    fn stateful_set_enums() {
        let mut spec = web_spec();
        spec["podManagementPolicy"] = json!("Fast");
        spec["updateStrategy"] = json!({"type": "OnDelete", "rollingUpdate": {"partition": 1}});
        let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"}, "spec": spec});
        assert_eq!(
            create("apps", "StatefulSet", sts),
            Err(vec![
                "spec.podManagementPolicy: Invalid value: \"Fast\": must be 'OrderedReady' or 'Parallel'".to_string(),
                "spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":1}: only allowed for updateStrategy 'RollingUpdate'".to_string(),
            ])
        );
    }

    #[test]
    fn daemon_set_defaults_and_rules() {
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"}, "spec": web_spec()});
        let out = create("apps", "DaemonSet", ds).unwrap_or_default();
        assert_eq!(
            out["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        );
        assert_eq!(out["spec"]["revisionHistoryLimit"], 10);
        let mut spec = web_spec();
        spec["selector"] = json!({"matchLabels": {"app": "x"}});
        spec["updateStrategy"] = json!({"type": "Sometimes"});
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"}, "spec": spec});
        assert_eq!(
            create("apps", "DaemonSet", ds),
            Err(vec![
                "spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: `selector` does not match template `labels`".to_string(),
                "spec.updateStrategy.type: Unsupported value: \"Sometimes\": supported values: \"OnDelete\", \"RollingUpdate\"".to_string(),
            ])
        );
    }

    #[test]
    fn controller_revision_rules() {
        let cr = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-1", "namespace": "default"}, "revision": -1});
        assert_eq!(
            create("apps", "ControllerRevision", cr),
            Err(vec![
                "data: Required value: data is mandatory".to_string(),
                "revision: Invalid value: -1: must be greater than or equal to 0".to_string(),
            ])
        );
        let cr = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "web-1", "namespace": "default"}, "revision": 1, "data": {"a": 1}});
        let mut changed = create("apps", "ControllerRevision", cr.clone()).unwrap_or_default();
        changed["data"] = json!({"a": 2});
        assert_eq!(
            update("apps", "ControllerRevision", cr, changed),
            Err(vec![
                "data: Invalid value: {\"a\":2}: field is immutable".to_string()
            ])
        );
    }
}
