//! The resource registry: every resource the API server serves, with what routing,
//! discovery and storage need to know about it.
//!
//! One table of built-ins (`builtins`) seeds it; resources can be added at run time
//! (CustomResourceDefinitions will), and everything that reads the registry sees them.

use std::sync::Arc;

use parking_lot::RwLock;

use crate::apply::Builtin;
use crate::status::Qualified;

/// What a resource supports besides its main verbs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Subresources {
    /// `/status`: main-resource writes ignore `.status`, status writes ignore the rest.
    pub status: bool,
    /// `/scale`: an `autoscaling/v1 Scale` view of `spec.replicas`.
    pub scale: bool,
}

/// One served resource at one group/version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group, `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// Lower-case plural, as in the URL: `pods`.
    pub plural: String,
    /// Lower-case singular: `pod`.
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub subresources: Subresources,
    /// Whether `metadata.generation` is kept (set to 1 on create, bumped on spec changes).
    pub has_generation: bool,
    /// The version objects are stored in; requests at other versions are converted.
    pub storage_version: String,
    /// The built-in struct type of its objects at the storage version
    /// (`corev1.ConfigMap`), which field ownership walks; `None` for custom resources.
    /// Kept here because every write needs it and a lookup in the schema table by
    /// group, version and kind is a chain of cold reads.
    pub schema_type: Option<&'static str>,
}

impl ResourceInfo {
    /// `v1` for core, `apps/v1` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The key objects of this resource are stored under, shared by all its versions:
    /// `pods`, `deployments.apps`.
    pub fn storage_key(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `PodList`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The URL prefix of the group/version: `/api/v1` or `/apis/apps/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// The verbs discovery advertises.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.group == METRICS_GROUP {
            return vec!["get", "list"];
        }
        if is_review(self) {
            return vec!["create"];
        }
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

impl Qualified for ResourceInfo {
    fn group(&self) -> &str {
        &self.group
    }
    fn resource(&self) -> &str {
        &self.plural
    }
    fn kind(&self) -> &str {
        &self.kind
    }
}

/// All served resources. Cheap to clone; clones share the same table.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    table: Arc<RwLock<Table>>,
}

#[derive(Debug, Default)]
struct Table {
    /// In registration order.
    resources: Vec<Arc<ResourceInfo>>,
    /// The same by plural: every request looks its resource up, and a scan of the whole
    /// list compared strings of ~40 scattered entries.
    by_plural: foldhash::HashMap<String, Vec<Arc<ResourceInfo>>>,
}

impl Registry {
    /// A registry holding the built-in resources.
    pub fn with_builtins() -> Self {
        let registry = Registry::default();
        for info in builtins().into_iter().chain(metrics()).chain(reviews()) {
            registry.add(info);
        }
        registry
    }

    /// Serve a resource from now on; replaces one with the same group/version/plural.
    pub fn add(&self, info: ResourceInfo) {
        let info = Arc::new(info);
        let mut table = self.table.write();
        let same = |r: &Arc<ResourceInfo>| {
            r.group == info.group && r.version == info.version && r.plural == info.plural
        };
        table.resources.retain(|r| !same(r));
        table.resources.push(info.clone());
        let namesakes = table.by_plural.entry(info.plural.clone()).or_default();
        namesakes.retain(|r| !same(r));
        namesakes.push(info);
    }

    /// Stop serving a resource (a deleted CustomResourceDefinition).
    pub fn remove(&self, group: &str, version: &str, plural: &str) {
        let mut table = self.table.write();
        let same =
            |r: &Arc<ResourceInfo>| r.group == group && r.version == version && r.plural == plural;
        table.resources.retain(|r| !same(r));
        if let Some(namesakes) = table.by_plural.get_mut(plural) {
            namesakes.retain(|r| !same(r));
            if namesakes.is_empty() {
                table.by_plural.remove(plural);
            }
        }
    }

    /// The resource at `group`/`version` named `plural`.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceInfo>> {
        self.table
            .read()
            .by_plural
            .get(plural)?
            .iter()
            .find(|r| r.version == version && r.group == group)
            .cloned()
    }

    /// The resource serving `kind` at `group`/`version`.
    pub fn by_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceInfo>> {
        self.table
            .read()
            .resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Every served resource, in registration order.
    pub fn all(&self) -> Vec<Arc<ResourceInfo>> {
        self.table.read().resources.clone()
    }

    /// Whether any version of `group` is served.
    pub fn serves_group_version(&self, group: &str, version: &str) -> bool {
        self.table
            .read()
            .resources
            .iter()
            .any(|r| r.group == group && r.version == version)
    }
}

/// One row of the built-in table: group, version, kind, plural, namespaced, short names,
/// in category `all`, status, scale, generation.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
    bool,
    bool,
);

#[rustfmt::skip]
const BUILTINS: &[Row] = &[
    // group, version, kind, plural, namespaced, short names, all, status, scale, generation
    ("", "v1", "Namespace", "namespaces", false, &["ns"], false, true, false, false),
    ("", "v1", "Pod", "pods", true, &["po"], true, true, false, true),
    ("", "v1", "Node", "nodes", false, &["no"], false, true, false, false),
    ("", "v1", "Service", "services", true, &["svc"], true, true, false, false),
    ("", "v1", "Endpoints", "endpoints", true, &["ep"], false, false, false, false),
    ("", "v1", "ConfigMap", "configmaps", true, &["cm"], false, false, false, false),
    ("", "v1", "Secret", "secrets", true, &[], false, false, false, false),
    ("", "v1", "ServiceAccount", "serviceaccounts", true, &["sa"], false, false, false, false),
    ("", "v1", "Event", "events", true, &["ev"], false, false, false, false),
    ("", "v1", "PersistentVolume", "persistentvolumes", false, &["pv"], false, true, false, false),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &["pvc"], false, true, false, false),
    ("", "v1", "ResourceQuota", "resourcequotas", true, &["quota"], false, true, false, false),
    ("", "v1", "LimitRange", "limitranges", true, &["limits"], false, false, false, false),
    ("apps", "v1", "Deployment", "deployments", true, &["deploy"], true, true, true, true),
    ("apps", "v1", "ReplicaSet", "replicasets", true, &["rs"], true, true, true, true),
    ("apps", "v1", "StatefulSet", "statefulsets", true, &["sts"], true, true, true, true),
    ("apps", "v1", "DaemonSet", "daemonsets", true, &["ds"], true, true, false, true),
    ("apps", "v1", "ControllerRevision", "controllerrevisions", true, &[], false, false, false, false),
    ("batch", "v1", "Job", "jobs", true, &[], true, true, false, true),
    ("batch", "v1", "CronJob", "cronjobs", true, &["cj"], true, true, false, true),
    ("coordination.k8s.io", "v1", "Lease", "leases", true, &[], false, false, false, false),
    ("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, &[], false, false, false, false),
    ("events.k8s.io", "v1", "Event", "events", true, &["ev"], false, false, false, false),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &["pdb"], false, true, false, true),
    ("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true, true, false, true),
    ("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, &["hpa"], true, true, false, true),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, &["pc"], false, false, false, false),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", false, &["sc"], false, false, false, false),
];

/// The resource metrics API (upstream: the metrics-server add-on behind API
/// aggregation), read-only and not stored: the API server asks the kubelets.
pub const METRICS_GROUP: &str = "metrics.k8s.io";

/// `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics.
pub fn metrics() -> Vec<ResourceInfo> {
    [
        ("NodeMetrics", "nodes", false),
        ("PodMetrics", "pods", true),
    ]
    .into_iter()
    .map(|(kind, plural, namespaced)| ResourceInfo {
        group: METRICS_GROUP.into(),
        version: "v1beta1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: String::new(),
        namespaced,
        short_names: Vec::new(),
        categories: Vec::new(),
        subresources: Subresources::default(),
        has_generation: false,
        storage_version: "v1beta1".into(),
        schema_type: None,
    })
    .collect()
}

/// The review APIs: a client asks a question by creating one and reads the answer in
/// its `status`; nothing is stored. `authorization.k8s.io/v1` answers "may I" (`kubectl
/// auth can-i`), `authentication.k8s.io/v1` "who am I" (`kubectl auth whoami`).
pub const REVIEW_GROUPS: [&str; 2] = ["authorization.k8s.io", "authentication.k8s.io"];

/// Whether a resource is one of the review APIs (create-only, never stored).
pub fn is_review(info: &ResourceInfo) -> bool {
    REVIEW_GROUPS.contains(&info.group.as_str())
}

/// The review resources, as upstream serves them.
pub fn reviews() -> Vec<ResourceInfo> {
    [
        (
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
        ),
        (
            "authorization.k8s.io",
            "SelfSubjectRulesReview",
            "selfsubjectrulesreviews",
            false,
        ),
        (
            "authorization.k8s.io",
            "SubjectAccessReview",
            "subjectaccessreviews",
            false,
        ),
        (
            "authorization.k8s.io",
            "LocalSubjectAccessReview",
            "localsubjectaccessreviews",
            true,
        ),
        (
            "authentication.k8s.io",
            "SelfSubjectReview",
            "selfsubjectreviews",
            false,
        ),
    ]
    .into_iter()
    .map(|(group, kind, plural, namespaced)| ResourceInfo {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        namespaced,
        short_names: Vec::new(),
        categories: Vec::new(),
        subresources: Subresources::default(),
        has_generation: false,
        storage_version: "v1".into(),
        schema_type: None,
    })
    .collect()
}

/// The warning every request to a deprecated resource gets, as upstream's handlers add
/// it for a kind marked deprecated at the server's version (`<apiVersion> <Kind> is
/// deprecated in v1.X+; use <replacement>`). Of what kubesim serves at v1.35, only core
/// v1 Endpoints is (since v1.33, in favour of EndpointSlice).
pub fn deprecation_warning(info: &ResourceInfo) -> Option<&'static str> {
    (info.group.is_empty() && info.version == "v1" && info.plural == "endpoints")
        .then_some("v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice")
}

/// Whether a resource is one of the built-ins (rather than a custom resource).
pub fn is_builtin(info: &ResourceInfo) -> bool {
    BUILTINS
        .iter()
        .any(|row| row.0 == info.group && row.3 == info.plural)
}

/// The built-in resources kubesim serves.
pub fn builtins() -> Vec<ResourceInfo> {
    BUILTINS
        .iter()
        .map(
            |&(group, version, kind, plural, namespaced, short, all, status, scale, generation)| {
                let storage_version = if group == "autoscaling" {
                    "v2"
                } else {
                    version
                };
                ResourceInfo {
                    group: group.into(),
                    version: version.into(),
                    kind: kind.into(),
                    plural: plural.into(),
                    singular: kind.to_lowercase(),
                    namespaced,
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    categories: if all { vec!["all".into()] } else { Vec::new() },
                    subresources: Subresources { status, scale },
                    has_generation: generation,
                    // HorizontalPodAutoscalers are stored as autoscaling/v2, as upstream does.
                    storage_version: storage_version.into(),
                    schema_type: Builtin::root(group, storage_version, kind),
                }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_know_their_schema_type_at_the_storage_version() {
        let registry = Registry::with_builtins();
        let type_of = |g, v, p| registry.get(g, v, p).and_then(|r| r.schema_type);
        assert_eq!(type_of("", "v1", "configmaps"), Some("corev1.ConfigMap"));
        assert_eq!(
            type_of("apps", "v1", "deployments"),
            Some("appsv1.Deployment")
        );
        // autoscaling/v1 requests are stored, and owned, as v2.
        assert_eq!(
            type_of("autoscaling", "v1", "horizontalpodautoscalers"),
            Some("autoscalingv2.HorizontalPodAutoscaler")
        );
        assert_eq!(type_of(METRICS_GROUP, "v1beta1", "pods"), None);
    }

    #[test]
    fn builtins_are_routable_by_group_version_and_plural() {
        let registry = Registry::with_builtins();
        let deployments = registry
            .get("apps", "v1", "deployments")
            .expect("deployments");
        assert_eq!(deployments.kind, "Deployment");
        assert_eq!(deployments.api_version(), "apps/v1");
        assert_eq!(deployments.storage_key(), "deployments.apps");
        assert!(deployments.subresources.scale);
        assert_eq!(
            registry.get("", "v1", "pods").map(|p| p.storage_key()),
            Some("pods".into())
        );
        assert!(registry.get("apps", "v1", "pods").is_none());
        let v1 = registry
            .get("autoscaling", "v1", "horizontalpodautoscalers")
            .expect("hpa v1");
        let v2 = registry
            .get("autoscaling", "v2", "horizontalpodautoscalers")
            .expect("hpa v2");
        assert_eq!(v1.storage_key(), v2.storage_key());
    }

    #[test]
    fn resources_can_be_added_at_run_time() {
        let registry = Registry::with_builtins();
        let copy = registry.clone();
        copy.add(ResourceInfo {
            group: "example.com".into(),
            version: "v1".into(),
            kind: "Widget".into(),
            plural: "widgets".into(),
            singular: "widget".into(),
            namespaced: true,
            short_names: vec![],
            categories: vec![],
            subresources: Subresources::default(),
            has_generation: true,
            storage_version: "v1".into(),
            schema_type: None,
        });
        assert!(registry.get("example.com", "v1", "widgets").is_some());
        assert!(registry.serves_group_version("example.com", "v1"));
        // Added again, it replaces the first; removed, it is gone from every lookup.
        let mut namespaced_no_more =
            (*registry.get("example.com", "v1", "widgets").unwrap()).clone();
        namespaced_no_more.namespaced = false;
        registry.add(namespaced_no_more);
        let widgets = registry
            .get("example.com", "v1", "widgets")
            .expect("widgets");
        assert!(!widgets.namespaced);
        assert_eq!(
            registry
                .all()
                .iter()
                .filter(|r| r.plural == "widgets")
                .count(),
            1
        );
        registry.remove("example.com", "v1", "widgets");
        assert!(registry.get("example.com", "v1", "widgets").is_none());
        assert!(!registry.serves_group_version("example.com", "v1"));
        assert!(registry.all().iter().all(|r| r.plural != "widgets"));
    }
}
