//! The smaller core/v1 kinds: Namespace, ConfigMap, Secret, ServiceAccount, Event, Node,
//! Endpoints, PersistentVolume(Claim), ResourceQuota, LimitRange.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    ConfigMap, Endpoints, Event, LimitRange, Namespace, NamespaceSpec, NamespaceStatus, Node,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeStatus,
    ResourceQuota, ResourceQuotaStatus, Secret, ServiceAccount, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as Q;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubesim_apimachinery::FieldError;
use kubesim_apimachinery::status::FieldErrorType;
use kubesim_apimachinery::validation::{
    self, is_config_map_key, is_dns1123_label, is_dns1123_subdomain, is_label_value,
    is_qualified_name, is_valid_ip, is_valid_port_num,
};
use serde_json::Value;

use super::Strategy;
use super::field::{Errors, IMMUTABLE, Path, json};
use super::meta::{Scope, validate_label_name, validate_label_selector};
use super::podspec::{self, enum_required, is_native_resource, validate_quantity_value};
use super::quantity::Quantity;

/// `core.MaxSecretSize`: the data of a ConfigMap or Secret is at most 1 MiB.
const MAX_SECRET_SIZE: usize = 1024 * 1024;
const IMMUTABLE_WHEN_SET: &str = "field is immutable when `immutable` is set";

fn q(v: &Q) -> Quantity {
    Quantity::parse(&v.0).unwrap_or(Quantity::zero())
}

/// `field.TooLong` for the whole object: upstream passes an empty path.
fn too_long_object(max: usize) -> FieldError {
    FieldError {
        kind: FieldErrorType::TooLong,
        field: String::new(),
        value: None,
        detail: format!("must have at most {max} bytes"),
    }
}

// ---------------------------------------------------------------------------------------------
// Namespace

impl Strategy for Namespace {
    const SCOPE: Scope = Scope::Cluster;
    const NAME_FN: validation::NameFn = validation::name_is_dns_label;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    /// `SetDefaults_Namespace` always labels a namespace with its own name.
    fn default(&mut self, _create: bool) {
        if let Some(name) = self.metadata.name.clone().filter(|n| !n.is_empty()) {
            self.metadata
                .labels
                .get_or_insert_with(BTreeMap::new)
                .insert("kubernetes.io/metadata.name".into(), name);
        }
        let status = self.status.get_or_insert_with(NamespaceStatus::default);
        status.phase.get_or_insert_with(|| "Active".into());
    }

    /// A new namespace is Active and carries the `kubernetes` finalizer.
    fn prepare_for_create(&mut self) {
        self.status = Some(NamespaceStatus {
            phase: Some("Active".into()),
            conditions: None,
        });
        let fins = self
            .spec
            .get_or_insert_with(NamespaceSpec::default)
            .finalizers
            .get_or_insert_with(Vec::new);
        if !fins.iter().any(|f| f == "kubernetes") {
            fins.push("kubernetes".into());
        }
    }

    /// Finalizers change only through `/finalize`, status only through `/status`.
    fn prepare_for_update(&mut self, old: &Self) {
        self.spec.clone_from(&old.spec);
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let p = Path::new("spec").child("finalizers");
        for (i, f) in self
            .spec
            .iter()
            .flat_map(|s| s.finalizers.iter().flatten())
            .enumerate()
        {
            let fp = p.index(i);
            errs.extend(validate_label_name(f, &fp));
            if !f.contains('/') && f != "kubernetes" {
                errs.push(FieldError::invalid(
                    &fp,
                    f.as_str(),
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            }
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

// ---------------------------------------------------------------------------------------------
// ConfigMap and Secret

impl Strategy for ConfigMap {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let mut total = 0;
        for (k, v) in self.data.iter().flatten() {
            let p = Path::new("data").key(k);
            errs.extend(
                is_config_map_key(k)
                    .into_iter()
                    .map(|m| FieldError::invalid(&p, k.as_str(), m)),
            );
            if self.binary_data.as_ref().is_some_and(|b| b.contains_key(k)) {
                errs.push(FieldError::invalid(
                    &p,
                    k.as_str(),
                    "duplicate of key present in binaryData",
                ));
            }
            total += v.len();
        }
        for (k, v) in self.binary_data.iter().flatten() {
            let p = Path::new("binaryData").key(k);
            errs.extend(
                is_config_map_key(k)
                    .into_iter()
                    .map(|m| FieldError::invalid(&p, k.as_str(), m)),
            );
            total += v.0.len();
        }
        if total > MAX_SECRET_SIZE {
            errs.push(too_long_object(MAX_SECRET_SIZE));
        }
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = Errors::new();
        if old.immutable == Some(true) {
            if self.immutable != Some(true) {
                errs.push(FieldError::forbidden(
                    Path::new("immutable"),
                    IMMUTABLE_WHEN_SET,
                ));
            }
            if self.data != old.data {
                errs.push(FieldError::forbidden(Path::new("data"), IMMUTABLE_WHEN_SET));
            }
            if self.binary_data != old.binary_data {
                errs.push(FieldError::forbidden(
                    Path::new("binaryData"),
                    IMMUTABLE_WHEN_SET,
                ));
            }
        }
        errs.extend(self.validate(raw));
        errs
    }
}

impl Strategy for Secret {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    /// `SetDefaults_Secret` (type Opaque) and the v1 conversion folding `stringData` into `data`.
    fn default(&mut self, _create: bool) {
        if self.type_.as_deref().unwrap_or("").is_empty() {
            self.type_ = Some("Opaque".into());
        }
        if let Some(sd) = self.string_data.take() {
            let data = self.data.get_or_insert_with(BTreeMap::new);
            for (k, v) in sd {
                data.insert(k, ByteString(v.into_bytes()));
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let dp = Path::new("data");
        let mut total = 0;
        for (k, v) in self.data.iter().flatten() {
            errs.extend(
                is_config_map_key(k)
                    .into_iter()
                    .map(|m| FieldError::invalid(dp.key(k), k.as_str(), m)),
            );
            total += v.0.len();
        }
        if total > MAX_SECRET_SIZE {
            errs.push(FieldError::too_long(&dp, MAX_SECRET_SIZE));
        }
        let has = |k: &str| self.data.as_ref().is_some_and(|d| d.contains_key(k));
        match self.type_.as_deref().unwrap_or("") {
            "kubernetes.io/service-account-token" => {
                let key = "kubernetes.io/service-account.name";
                if self
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(key))
                    .is_none_or(|v| v.is_empty())
                {
                    errs.push(FieldError::required(
                        Path::new("metadata").child("annotations").key(key),
                        "",
                    ));
                }
            }
            "kubernetes.io/dockercfg" if !has(".dockercfg") => {
                errs.push(FieldError::required(dp.key(".dockercfg"), ""));
            }
            "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
                errs.push(FieldError::required(dp.key(".dockerconfigjson"), ""));
            }
            "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
                errs.push(FieldError::required(dp.key("username"), ""));
                errs.push(FieldError::required(dp.key("password"), ""));
            }
            "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
                errs.push(FieldError::required(dp.key("ssh-privatekey"), ""));
            }
            "kubernetes.io/tls" => {
                for k in ["tls.crt", "tls.key"] {
                    if !has(k) {
                        errs.push(FieldError::required(dp.key(k), ""));
                    }
                }
            }
            _ => {}
        }
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = Errors::new();
        if self.type_ != old.type_ {
            errs.push(FieldError::invalid(
                Path::new("type"),
                self.type_.clone().unwrap_or_default(),
                IMMUTABLE,
            ));
        }
        if old.immutable == Some(true) {
            if self.immutable != Some(true) {
                errs.push(FieldError::forbidden(
                    Path::new("immutable"),
                    IMMUTABLE_WHEN_SET,
                ));
            }
            if self.data != old.data {
                errs.push(FieldError::forbidden(Path::new("data"), IMMUTABLE_WHEN_SET));
            }
        }
        errs.extend(self.validate(raw));
        errs
    }
}

impl Strategy for ServiceAccount {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn validate(&self, _raw: &Value) -> Errors {
        Errors::new()
    }

    fn validate_update(&self, _old: &Self, _raw: &Value) -> Errors {
        Errors::new()
    }
}

// ---------------------------------------------------------------------------------------------
// Event (core/v1)

impl Strategy for Event {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    /// `legacyValidateEvent` for a v1 request.
    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let ns = self.metadata.namespace.clone().unwrap_or_default();
        let ins = self.involved_object.namespace.clone().unwrap_or_default();
        let ip = Path::new("involvedObject").child("namespace");
        const MISMATCH: &str = "does not match event.namespace";
        if self.event_time.is_none() {
            if ins.is_empty() {
                if !ns.is_empty() && ns != "default" {
                    errs.push(FieldError::invalid(&ip, ins.as_str(), MISMATCH));
                }
            } else if ns != ins {
                errs.push(FieldError::invalid(&ip, ins.as_str(), MISMATCH));
            }
        } else {
            if ins.is_empty() && ns != "default" && ns != "kube-system" {
                errs.push(FieldError::invalid(&ip, ins.as_str(), MISMATCH));
            }
            let rc = self.reporting_component.clone().unwrap_or_default();
            if rc.is_empty() {
                errs.push(FieldError::required(Path::new("reportingComponent"), ""));
            }
            errs.extend(
                is_qualified_name(&rc)
                    .into_iter()
                    .map(|m| FieldError::invalid(Path::new("reportingComponent"), rc.as_str(), m)),
            );
            for (v, f, max) in [
                (&self.reporting_instance, "reportingInstance", 128),
                (&self.action, "action", 128),
                (&self.reason, "reason", 128),
            ] {
                let v = v.clone().unwrap_or_default();
                if v.is_empty() {
                    errs.push(FieldError::required(Path::new(f), ""));
                }
                if v.len() > max {
                    errs.push(FieldError::invalid(
                        Path::new(f),
                        "",
                        format!("can have at most {max} characters"),
                    ));
                }
            }
            if self.message.as_ref().is_some_and(|m| m.len() > 1024) {
                errs.push(FieldError::invalid(
                    Path::new("message"),
                    "",
                    "can have at most 1024 characters",
                ));
            }
        }
        errs.extend(
            is_dns1123_subdomain(&ns)
                .into_iter()
                .map(|m| FieldError::invalid(Path::new("namespace"), ns.as_str(), m)),
        );
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

// ---------------------------------------------------------------------------------------------
// Node

impl Strategy for Node {
    const SCOPE: Scope = Scope::Cluster;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        if let Some(s) = self.status.as_mut() {
            podspec::normalize_list(&mut s.capacity)?;
            podspec::normalize_list(&mut s.allocatable)?;
        }
        Ok(())
    }

    /// `SetDefaults_NodeStatus` (allocatable defaults to capacity) and, on create, the
    /// TaintNodesByCondition admission plugin's `not-ready` taint.
    fn default(&mut self, create: bool) {
        if let Some(s) = self.status.as_mut()
            && s.allocatable.is_none()
        {
            s.allocatable.clone_from(&s.capacity);
        }
        if create {
            let taints = self
                .spec
                .get_or_insert_with(Default::default)
                .taints
                .get_or_insert_with(Vec::new);
            let key = "node.kubernetes.io/not-ready";
            if !taints
                .iter()
                .any(|t| t.key == key && t.effect == "NoSchedule")
            {
                taints.push(Taint {
                    key: key.into(),
                    effect: "NoSchedule".into(),
                    time_added: None,
                    value: None,
                });
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        let p = Path::new("metadata").child("taints");
        let mut seen = std::collections::BTreeSet::new();
        for (i, t) in self
            .spec
            .iter()
            .flat_map(|s| s.taints.iter().flatten())
            .enumerate()
        {
            let tp = p.index(i);
            errs.extend(validate_label_name(&t.key, &tp.child("key")));
            let v = t.value.clone().unwrap_or_default();
            let msgs = is_label_value(&v);
            if !msgs.is_empty() {
                errs.push(FieldError::invalid(
                    tp.child("value"),
                    v.as_str(),
                    msgs.join(";"),
                ));
            }
            errs.extend(enum_required(
                Some(&t.effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
                &tp.child("effect"),
            ));
            if !seen.insert((t.key.clone(), t.effect.clone())) {
                let mut e = FieldError::duplicate(&tp, json(t));
                e.detail = "taints must be unique by key and effect pair".into();
                errs.push(e);
            }
        }
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        if o.pod_cidrs.as_ref().is_some_and(|c| !c.is_empty()) && n.pod_cidrs != o.pod_cidrs {
            errs.push(FieldError::forbidden(
                Path::new("spec").child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        if o.provider_id.as_deref().is_some_and(|p| !p.is_empty()) && n.provider_id != o.provider_id
        {
            errs.push(FieldError::forbidden(
                Path::new("spec").child("providerID"),
                "node updates may not change providerID except from \"\" to valid",
            ));
        }
        errs
    }
}

// ---------------------------------------------------------------------------------------------
// Endpoints

impl Strategy for Endpoints {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn default(&mut self, _create: bool) {
        for p in self
            .subsets
            .iter_mut()
            .flatten()
            .flat_map(|s| s.ports.iter_mut().flatten())
        {
            if p.protocol.as_deref().unwrap_or("").is_empty() {
                p.protocol = Some("TCP".into());
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        for (i, s) in self.subsets.iter().flatten().enumerate() {
            let sp = Path::new("subsets").index(i);
            let no_addrs = s.addresses.as_ref().is_none_or(|a| a.is_empty())
                && s.not_ready_addresses.as_ref().is_none_or(|a| a.is_empty());
            if no_addrs && s.ports.as_ref().is_some_and(|p| !p.is_empty()) {
                errs.push(FieldError::required(
                    &sp,
                    "must specify `addresses` or `notReadyAddresses`",
                ));
            }
            for (list, name) in [
                (&s.addresses, "addresses"),
                (&s.not_ready_addresses, "notReadyAddresses"),
            ] {
                for (j, a) in list.iter().flatten().enumerate() {
                    let ap = sp.child(name).index(j);
                    errs.extend(
                        is_valid_ip(&a.ip)
                            .into_iter()
                            .map(|m| FieldError::invalid(ap.child("ip"), a.ip.as_str(), m)),
                    );
                    if let Some(h) = a.hostname.as_deref().filter(|h| !h.is_empty()) {
                        errs.extend(
                            is_dns1123_label(h)
                                .into_iter()
                                .map(|m| FieldError::invalid(ap.child("hostname"), h, m)),
                        );
                    }
                }
            }
            let ports = s.ports.clone().unwrap_or_default();
            for (j, port) in ports.iter().enumerate() {
                let pp = sp.child("ports").index(j);
                let name = port.name.clone().unwrap_or_default();
                if ports.len() > 1 && name.is_empty() {
                    errs.push(FieldError::required(pp.child("name"), ""));
                } else if !name.is_empty() {
                    errs.extend(
                        is_dns1123_label(&name)
                            .into_iter()
                            .map(|m| FieldError::invalid(pp.child("name"), name.as_str(), m)),
                    );
                }
                errs.extend(
                    is_valid_port_num(i64::from(port.port))
                        .into_iter()
                        .map(|m| FieldError::invalid(pp.child("port"), port.port, m)),
                );
                errs.extend(enum_required(
                    port.protocol.as_deref(),
                    &["SCTP", "TCP", "UDP"],
                    &pp.child("protocol"),
                ));
            }
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

// ---------------------------------------------------------------------------------------------
// PersistentVolume and PersistentVolumeClaim

const ACCESS_MODES: [&str; 4] = [
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOnce",
    "ReadWriteOncePod",
];

fn validate_access_modes(modes: &[String], p: &Path, required_msg: &str) -> Errors {
    let mut errs = Errors::new();
    if modes.is_empty() {
        errs.push(FieldError::required(p, required_msg));
    }
    for m in modes {
        if !ACCESS_MODES.contains(&m.as_str()) {
            errs.push(FieldError::not_supported(p, m.as_str(), &ACCESS_MODES));
        }
    }
    if modes.iter().any(|m| m == "ReadWriteOncePod")
        && modes
            .iter()
            .any(|m| m != "ReadWriteOncePod" && ACCESS_MODES.contains(&m.as_str()))
    {
        errs.push(FieldError::forbidden(
            p,
            "may not use ReadWriteOncePod with other access modes",
        ));
    }
    errs
}

fn add_finalizer(meta: &mut ObjectMeta, f: &str) {
    let fins = meta.finalizers.get_or_insert_with(Vec::new);
    if !fins.iter().any(|x| x == f) {
        fins.push(f.into());
    }
}

impl Strategy for PersistentVolume {
    const SCOPE: Scope = Scope::Cluster;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        match self.spec.as_mut() {
            Some(s) => podspec::normalize_list(&mut s.capacity),
            None => Ok(()),
        }
    }

    /// `SetDefaults_PersistentVolume` and StorageObjectInUseProtection's finalizer.
    fn default(&mut self, create: bool) {
        let spec = self.spec.get_or_insert_with(Default::default);
        spec.persistent_volume_reclaim_policy
            .get_or_insert_with(|| "Retain".into());
        spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
        if create {
            add_finalizer(&mut self.metadata, "kubernetes.io/pv-protection");
        }
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(PersistentVolumeStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        });
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let spec = self.spec.clone().unwrap_or_default();
        let sp = Path::new("spec");
        let mut errs = validate_access_modes(
            spec.access_modes.as_deref().unwrap_or(&[]),
            &sp.child("accessModes"),
            "",
        );
        let cap = spec.capacity.clone().unwrap_or_default();
        if cap.is_empty() {
            errs.push(FieldError::required(sp.child("capacity"), ""));
        } else if !cap.contains_key("storage") || cap.len() > 1 {
            errs.push(FieldError::not_supported(
                sp.child("capacity"),
                json(&cap.keys().collect::<Vec<_>>()),
                &["storage"],
            ));
        }
        for (k, v) in &cap {
            errs.extend(validate_quantity_value(
                k,
                &q(v),
                &sp.child("capacity").key(k),
            ));
        }
        errs.extend(enum_required(
            spec.persistent_volume_reclaim_policy.as_deref(),
            &["Delete", "Recycle", "Retain"],
            &sp.child("persistentVolumeReclaimPolicy"),
        ));
        let sources = json(&spec)
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| PV_SOURCES.contains(&k.as_str()))
                    .count()
            })
            .unwrap_or(0);
        if sources == 0 {
            errs.push(FieldError::required(&sp, "must specify a volume type"));
        } else if sources > 1 {
            errs.push(FieldError::forbidden(
                &sp,
                "may not specify more than 1 volume type",
            ));
        }
        if let Some(h) = &spec.host_path
            && h.path.is_empty()
        {
            errs.push(FieldError::required(sp.children(&["hostPath", "path"]), ""));
        }
        if let Some(sc) = spec.storage_class_name.as_deref().filter(|s| !s.is_empty()) {
            errs.extend(
                is_dns1123_subdomain(sc)
                    .into_iter()
                    .map(|m| FieldError::invalid(sp.child("storageClassName"), sc, m)),
            );
        }
        errs
    }

    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        if n.volume_mode != o.volume_mode {
            errs.push(FieldError::invalid(
                Path::new("volumeMode"),
                json(&n.volume_mode),
                IMMUTABLE,
            ));
        }
        errs
    }
}

const PV_SOURCES: [&str; 20] = [
    "awsElasticBlockStore",
    "azureDisk",
    "azureFile",
    "cephfs",
    "cinder",
    "csi",
    "fc",
    "flexVolume",
    "flocker",
    "gcePersistentDisk",
    "glusterfs",
    "hostPath",
    "iscsi",
    "local",
    "nfs",
    "photonPersistentDisk",
    "portworxVolume",
    "quobyte",
    "rbd",
    "scaleIO",
];

impl Strategy for PersistentVolumeClaim {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        if let Some(r) = self.spec.as_mut().and_then(|s| s.resources.as_mut()) {
            podspec::normalize_list(&mut r.requests)?;
            podspec::normalize_list(&mut r.limits)?;
        }
        Ok(())
    }

    /// `SetDefaults_PersistentVolumeClaim(Spec)` and StorageObjectInUseProtection.
    fn default(&mut self, create: bool) {
        self.spec
            .get_or_insert_with(Default::default)
            .volume_mode
            .get_or_insert_with(|| "Filesystem".into());
        if create {
            add_finalizer(&mut self.metadata, "kubernetes.io/pvc-protection");
        }
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(k8s_openapi::api::core::v1::PersistentVolumeClaimStatus {
            phase: Some("Pending".into()),
            ..Default::default()
        });
    }

    fn validate(&self, _raw: &Value) -> Errors {
        validate_pvc_spec(&self.spec.clone().unwrap_or_default(), &Path::new("spec"))
    }

    /// `ValidatePersistentVolumeClaimUpdate`: the spec is fixed but for a growing storage
    /// request and a first `volumeName`.
    fn validate_update(&self, old: &Self, raw: &Value) -> Errors {
        let mut errs = self.validate(raw);
        let (n, o) = (
            self.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        let storage = |s: &PersistentVolumeClaimSpec| {
            s.resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage"))
                .map(q)
        };
        let (mut nc, mut oc) = (n.clone(), o.clone());
        if o.volume_name.as_deref().unwrap_or("").is_empty() {
            oc.volume_name.clone_from(&nc.volume_name);
        }
        let bound = self.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        if bound {
            if let (Some(nr), Some(or)) = (
                nc.resources.as_mut().and_then(|r| r.requests.as_mut()),
                o.resources.as_ref().and_then(|r| r.requests.as_ref()),
            ) && let Some(v) = or.get("storage")
            {
                nr.insert("storage".into(), v.clone());
            }
            nc.volume_attributes_class_name
                .clone_from(&oc.volume_attributes_class_name);
        }
        if nc != oc {
            errs.push(FieldError::forbidden(
                Path::new("spec"),
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
            ));
        }
        if let (Some(ns), Some(os)) = (storage(&n), storage(&o))
            && ns < os
        {
            errs.push(FieldError::forbidden(
                Path::new("spec").children(&["resources", "requests", "storage"]),
                "field can not be less than previous value",
            ));
        }
        errs
    }
}

/// `ValidatePersistentVolumeClaimSpec`.
pub fn validate_pvc_spec(spec: &PersistentVolumeClaimSpec, sp: &Path) -> Errors {
    let mut errs = validate_access_modes(
        spec.access_modes.as_deref().unwrap_or(&[]),
        &sp.child("accessModes"),
        "at least 1 access mode is required",
    );
    if let Some(sel) = &spec.selector {
        errs.extend(validate_label_selector(sel, &sp.child("selector")));
    }
    let rp = sp.child("resources").key("storage");
    match spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
    {
        None => errs.push(FieldError::required(&rp, "")),
        Some(v) if q(v) <= Quantity::zero() => errs.push(FieldError::invalid(
            &rp,
            q(v).canonical(),
            "must be greater than zero",
        )),
        _ => {}
    }
    if let Some(sc) = spec.storage_class_name.as_deref().filter(|s| !s.is_empty()) {
        errs.extend(
            is_dns1123_subdomain(sc)
                .into_iter()
                .map(|m| FieldError::invalid(sp.child("storageClassName"), sc, m)),
        );
    }
    if let Some(vm) = spec.volume_mode.as_deref()
        && vm != "Block"
        && vm != "Filesystem"
    {
        errs.push(FieldError::not_supported(
            sp.child("volumeMode"),
            vm,
            &["Block", "Filesystem"],
        ));
    }
    errs
}

// ---------------------------------------------------------------------------------------------
// ResourceQuota and LimitRange

const QUOTA_SCOPES: [&str; 6] = [
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
];

/// `ValidateResourceQuotaResourceName`.
fn validate_quota_resource_name(name: &str, p: &Path) -> Errors {
    let mut errs: Errors = is_qualified_name(name)
        .into_iter()
        .map(|m| FieldError::invalid(p, name, m))
        .collect();
    if errs.is_empty() && !name.contains('/') && !is_standard_quota_resource(name) {
        errs.push(FieldError::invalid(
            p,
            name,
            "must be a standard resource for quota",
        ));
    }
    errs
}

fn is_standard_quota_resource(name: &str) -> bool {
    const NAMES: [&str; 20] = [
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    ];
    NAMES.contains(&name)
        || name.starts_with("hugepages-")
        || name.starts_with("requests.hugepages-")
        || name.starts_with("count/")
}

impl Strategy for ResourceQuota {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        if let Some(s) = self.spec.as_mut() {
            podspec::normalize_list(&mut s.hard)?;
        }
        if let Some(s) = self.status.as_mut() {
            podspec::normalize_list(&mut s.hard)?;
            podspec::normalize_list(&mut s.used)?;
        }
        Ok(())
    }

    fn prepare_for_create(&mut self) {
        self.status = Some(ResourceQuotaStatus::default());
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let spec = self.spec.clone().unwrap_or_default();
        let sp = Path::new("spec");
        let mut errs = Errors::new();
        for (k, v) in spec.hard.iter().flatten() {
            let p = sp.child("hard").key(k);
            errs.extend(validate_quota_resource_name(k, &p));
            errs.extend(validate_quantity_value(k, &q(v), &p));
        }
        let scopes = spec.scopes.clone().unwrap_or_default();
        for s in &scopes {
            if !QUOTA_SCOPES.contains(&s.as_str()) {
                errs.push(FieldError::invalid(
                    sp.child("scopes"),
                    json(&scopes),
                    "unsupported scope",
                ));
            }
        }
        let has = |s: &str| scopes.iter().any(|x| x == s);
        if (has("BestEffort") && has("NotBestEffort"))
            || (has("Terminating") && has("NotTerminating"))
        {
            errs.push(FieldError::invalid(
                sp.child("scopes"),
                json(&scopes),
                "conflicting scopes",
            ));
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

impl Strategy for LimitRange {
    const SCOPE: Scope = Scope::Namespaced;

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn normalize(&mut self) -> Result<(), String> {
        for l in self.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
            for list in [
                &mut l.default,
                &mut l.default_request,
                &mut l.max,
                &mut l.min,
                &mut l.max_limit_request_ratio,
            ] {
                podspec::normalize_list(list)?;
            }
        }
        Ok(())
    }

    /// `SetDefaults_LimitRangeItem`: a Container's max is its default limit, and the default
    /// limit (or max) its default request.
    fn default(&mut self, _create: bool) {
        for l in self.spec.iter_mut().flat_map(|s| s.limits.iter_mut()) {
            if l.type_ != "Container" {
                continue;
            }
            for (k, v) in l.max.clone().unwrap_or_default() {
                l.default
                    .get_or_insert_with(BTreeMap::new)
                    .entry(k)
                    .or_insert(v);
            }
            for (k, v) in l.default.clone().unwrap_or_default() {
                l.default_request
                    .get_or_insert_with(BTreeMap::new)
                    .entry(k)
                    .or_insert(v);
            }
        }
    }

    fn validate(&self, _raw: &Value) -> Errors {
        let mut errs = Errors::new();
        for (i, l) in self.spec.iter().flat_map(|s| s.limits.iter()).enumerate() {
            let lp = Path::new("spec").child("limits").index(i);
            errs.extend(enum_required(
                Some(&l.type_),
                &["Container", "Pod", "PersistentVolumeClaim"],
                &lp.child("type"),
            ));
            let empty = BTreeMap::new();
            let (min, max) = (
                l.min.as_ref().unwrap_or(&empty),
                l.max.as_ref().unwrap_or(&empty),
            );
            let (def, def_req) = (
                l.default.as_ref().unwrap_or(&empty),
                l.default_request.as_ref().unwrap_or(&empty),
            );
            for (field, list) in [
                ("min", min),
                ("max", max),
                ("default", def),
                ("defaultRequest", def_req),
            ] {
                for (k, v) in list {
                    let p = lp.child(field).key(k);
                    if !is_native_resource(k) && k.contains('/') && is_qualified_name(k).is_empty()
                    {
                        continue;
                    }
                    errs.extend(validate_quantity_value(k, &q(v), &p));
                }
            }
            for (k, mn) in min {
                if let Some(mx) = max.get(k)
                    && q(mn) > q(mx)
                {
                    errs.push(FieldError::invalid(
                        lp.child("min").key(k),
                        q(mn).canonical(),
                        format!(
                            "min value {} is greater than max value {}",
                            q(mn).canonical(),
                            q(mx).canonical()
                        ),
                    ));
                }
            }
            for (field, list) in [("default", def), ("defaultRequest", def_req)] {
                for (k, v) in list {
                    let word = if field == "default" {
                        "default"
                    } else {
                        "default request"
                    };
                    if let Some(mx) = max.get(k).filter(|mx| q(v) > q(mx)) {
                        errs.push(FieldError::invalid(
                            lp.child(field).key(k),
                            q(v).canonical(),
                            format!(
                                "{word} value {} is greater than max value {}",
                                q(v).canonical(),
                                q(mx).canonical()
                            ),
                        ));
                    }
                    if let Some(mn) = min.get(k).filter(|mn| q(mn) > q(v)) {
                        errs.push(FieldError::invalid(
                            lp.child(field).key(k),
                            q(v).canonical(),
                            format!(
                                "min value {} is greater than {word} value {}",
                                q(mn).canonical(),
                                q(v).canonical()
                            ),
                        ));
                    }
                }
            }
            for (k, v) in def_req {
                if let Some(d) = def.get(k).filter(|d| q(v) > q(d)) {
                    errs.push(FieldError::invalid(
                        lp.child("defaultRequest").key(k),
                        q(v).canonical(),
                        format!(
                            "default request value {} is greater than default limit value {}",
                            q(v).canonical(),
                            q(d).canonical()
                        ),
                    ));
                }
            }
        }
        errs
    }

    fn validate_update(&self, _old: &Self, raw: &Value) -> Errors {
        self.validate(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{create, update};
    use serde_json::json;

    #[test]
    fn namespace_defaults_and_name() {
        let out = create(
            "",
            "Namespace",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}),
        )
        .unwrap_or_default();
        assert_eq!(
            out["metadata"]["labels"],
            json!({"kubernetes.io/metadata.name": "team-a"})
        );
        assert_eq!(out["spec"], json!({"finalizers": ["kubernetes"]}));
        assert_eq!(out["status"], json!({"phase": "Active"}));
        assert_eq!(
            create(
                "",
                "Namespace",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a.b"}})
            ),
            Err(vec![
                "metadata.name: Invalid value: \"a.b\": must not contain dots".to_string()
            ])
        );
    }

    #[test]
    fn configmap_keys_and_immutability() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"a b": "x", "ok": "y"}, "binaryData": {"ok": "eQ=="}});
        let e = create("", "ConfigMap", cm).err().unwrap_or_default();
        assert_eq!(e.len(), 2);
        assert!(
            e[0].starts_with(
                "data[a b]: Invalid value: \"a b\": a valid config key must consist of"
            )
        );
        assert_eq!(
            e[1],
            "data[ok]: Invalid value: \"ok\": duplicate of key present in binaryData"
        );
        let old = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": {"k": "v"}, "immutable": true});
        let mut new = old.clone();
        new["data"]["k"] = json!("w");
        assert_eq!(
            update("", "ConfigMap", old, new),
            Err(vec![
                "data: Forbidden: field is immutable when `immutable` is set".to_string()
            ])
        );
    }

    #[test]
    fn secret_defaults_string_data_and_type_rules() {
        let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "stringData": {"user": "admin"}});
        let out = create("", "Secret", s.clone()).unwrap_or_default();
        assert_eq!(out["type"], "Opaque");
        assert_eq!(out["data"], json!({"user": "YWRtaW4="}));
        assert!(out.get("stringData").is_none());
        let tls = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="}});
        assert_eq!(
            create("", "Secret", tls),
            Err(vec!["data[tls.key]: Required value".to_string()])
        );
        let mut retype = out;
        retype["type"] = json!("kubernetes.io/basic-auth");
        retype["data"] = json!({"username": "YQ=="});
        assert_eq!(
            update("", "Secret", s, retype),
            Err(vec![
                "type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable".to_string()
            ])
        );
    }

    #[test]
    fn event_namespace_consistency() {
        let ev = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e.1", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "other"}});
        assert_eq!(create("", "Event", ev), Err(vec!["involvedObject.namespace: Invalid value: \"other\": does not match event.namespace".to_string()]));
        let ok = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e.1", "namespace": "default"}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"}, "reason": "Started"});
        assert!(create("", "Event", ok).is_ok());
    }

    #[test]
    fn node_gets_not_ready_taint_and_allocatable() {
        let n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "status": {"capacity": {"cpu": "4", "memory": "8192Mi"}}});
        let out = create("", "Node", n).unwrap_or_default();
        assert_eq!(
            out["spec"]["taints"],
            json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}])
        );
        assert_eq!(
            out["status"]["allocatable"],
            json!({"cpu": "4", "memory": "8Gi"})
        );
        let bad = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "effect": "Sometimes"}]}});
        let e = create("", "Node", bad).err().unwrap_or_default();
        assert_eq!(
            e,
            vec![
                "metadata.taints[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
            ]
        );
    }

    #[test]
    fn endpoints_rules() {
        let ep = json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "10.0.0.x"}], "ports": [{"port": 80}, {"port": 81}]}]});
        assert_eq!(
            create("", "Endpoints", ep),
            Err(vec![
                "subsets[0].addresses[0].ip: Invalid value: \"10.0.0.x\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)".to_string(),
                "subsets[0].ports[0].name: Required value".to_string(),
                "subsets[0].ports[1].name: Required value".to_string(),
            ])
        );
    }

    #[test]
    fn pv_and_pvc() {
        let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv1"},
            "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}, "hostPath": {"path": "/data"}}});
        let out = create("", "PersistentVolume", pv).unwrap_or_default();
        assert_eq!(out["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(out["spec"]["volumeMode"], "Filesystem");
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["kubernetes.io/pv-protection"])
        );
        assert_eq!(out["status"], json!({"phase": "Pending"}));
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"}, "spec": {}});
        assert_eq!(
            create("", "PersistentVolumeClaim", pvc),
            Err(vec![
                "spec.accessModes: Required value: at least 1 access mode is required".to_string(),
                "spec.resources[storage]: Required value".to_string(),
            ])
        );
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}});
        let out = create("", "PersistentVolumeClaim", pvc.clone()).unwrap_or_default();
        assert_eq!(
            out["metadata"]["finalizers"],
            json!(["kubernetes.io/pvc-protection"])
        );
        assert_eq!(out["spec"]["volumeMode"], "Filesystem");
        assert_eq!(out["status"], json!({"phase": "Pending"}));
        let mut change = out;
        change["spec"]["accessModes"] = json!(["ReadWriteMany"]);
        assert_eq!(
            update("", "PersistentVolumeClaim", pvc, change),
            Err(vec!["spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims".to_string()])
        );
    }

    #[test]
    fn quota_and_limit_range() {
        let rq = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "default"},
            "spec": {"hard": {"pods": "10", "gpus": "1", "requests.cpu": "-1"}}});
        assert_eq!(
            create("", "ResourceQuota", rq),
            Err(vec![
                "spec.hard[gpus]: Invalid value: \"gpus\": must be a standard resource for quota".to_string(),
                "spec.hard[requests.cpu]: Invalid value: \"-1\": must be greater than or equal to 0".to_string(),
            ])
        );
        let lr = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "default"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}, "min": {"cpu": "2"}}]}});
        let e = create("", "LimitRange", lr).err().unwrap_or_default();
        assert_eq!(
            e[0],
            "spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1"
        );
        let lr = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l", "namespace": "default"},
            "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}});
        let out = create("", "LimitRange", lr).unwrap_or_default();
        assert_eq!(out["spec"]["limits"][0]["default"], json!({"cpu": "1"}));
        assert_eq!(
            out["spec"]["limits"][0]["defaultRequest"],
            json!({"cpu": "1"})
        );
    }
}
