//! `components.schemas` of a group-version document: the schema of every kind it serves,
//! generated from k8s-openapi's types through `schemars` (upstream's names, such as
//! `io.k8s.api.core.v1.Pod`, and its doc comments as descriptions), each kind marked with
//! `x-kubernetes-group-version-kind` as upstream marks it — `kubectl explain` finds a
//! kind's schema by that mark.

use std::collections::BTreeSet;

use k8s_openapi::Resource;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use kubesim_apimachinery::ResourceInfo;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value, json};

/// The schemas `/openapi/v3` documents are assembled from.
pub const DEFINITIONS: &str = "#/components/schemas/";

/// Adds a type's schema (and every schema it refers to) to the generator; returns its name.
type AddFn = fn(&mut SchemaGenerator) -> String;

/// A built-in kind and the k8s-openapi type that describes it.
struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    add: AddFn,
}

fn add<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

const fn builtin<T: Resource + JsonSchema>() -> Builtin {
    Builtin {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        add: add::<T>,
    }
}

/// Every kind a built-in resource or subresource answers with. A kind missing here (a
/// custom resource) gets an open object schema instead; see [`untyped_kind`].
const BUILTINS: &[Builtin] = {
    use k8s_openapi::api::{
        apps::v1 as apps, authentication::v1 as authentication, authorization::v1 as authorization,
        autoscaling::v1 as autoscalingv1, autoscaling::v2 as autoscalingv2, batch::v1 as batch,
        coordination::v1 as coordination, core::v1 as core, discovery::v1 as discovery,
        events::v1 as events, policy::v1 as policy, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    &[
        builtin::<core::Binding>(),
        builtin::<core::ConfigMap>(),
        builtin::<core::Endpoints>(),
        builtin::<core::Event>(),
        builtin::<core::LimitRange>(),
        builtin::<core::Namespace>(),
        builtin::<core::Node>(),
        builtin::<core::PersistentVolume>(),
        builtin::<core::PersistentVolumeClaim>(),
        builtin::<core::Pod>(),
        builtin::<core::ResourceQuota>(),
        builtin::<core::Secret>(),
        builtin::<core::Service>(),
        builtin::<core::ServiceAccount>(),
        builtin::<apps::ControllerRevision>(),
        builtin::<apps::DaemonSet>(),
        builtin::<apps::Deployment>(),
        builtin::<apps::ReplicaSet>(),
        builtin::<apps::StatefulSet>(),
        builtin::<autoscalingv1::HorizontalPodAutoscaler>(),
        builtin::<autoscalingv1::Scale>(),
        builtin::<autoscalingv2::HorizontalPodAutoscaler>(),
        builtin::<batch::CronJob>(),
        builtin::<batch::Job>(),
        builtin::<coordination::Lease>(),
        builtin::<discovery::EndpointSlice>(),
        builtin::<events::Event>(),
        builtin::<policy::Eviction>(),
        builtin::<policy::PodDisruptionBudget>(),
        builtin::<scheduling::PriorityClass>(),
        builtin::<storage::StorageClass>(),
        builtin::<apiextensions::CustomResourceDefinition>(),
        builtin::<authentication::SelfSubjectReview>(),
        builtin::<authorization::LocalSubjectAccessReview>(),
        builtin::<authorization::SelfSubjectAccessReview>(),
        builtin::<authorization::SelfSubjectRulesReview>(),
        builtin::<authorization::SubjectAccessReview>(),
    ]
};

/// A kind a document describes: a resource's kind, its list, or a subresource's kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        Gvk {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
        }
    }

    /// The `x-kubernetes-group-version-kind` object.
    pub fn to_json(&self) -> Value {
        json!({"group": self.group, "kind": self.kind, "version": self.version})
    }
}

/// Builds the schemas of one document.
pub struct Components {
    generator: SchemaGenerator,
    /// Hand-assembled schemas (lists, custom resources), by name.
    extra: Map<String, Value>,
    /// The kinds each schema is served as, by schema name.
    gvks: Vec<(String, Gvk)>,
}

impl Default for Components {
    fn default() -> Self {
        Self::new()
    }
}

impl Components {
    pub fn new() -> Self {
        // OpenAPI 3.0 settings put definitions under `components/schemas` and turn a `$ref`
        // with a description beside it into `allOf: [{$ref}]`, exactly upstream's shape.
        let settings = SchemaSettings::openapi3();
        Components {
            generator: settings.into_generator(),
            extra: Map::new(),
            gvks: Vec::new(),
        }
    }

    /// The schema of `gvk` (a built-in kind's type, or an open object for other kinds);
    /// returns its name.
    pub fn kind(&mut self, gvk: &Gvk) -> String {
        let name = match BUILTINS
            .iter()
            .find(|b| b.group == gvk.group && b.version == gvk.version && b.kind == gvk.kind)
        {
            Some(b) => (b.add)(&mut self.generator),
            None => {
                let name = untyped_name(gvk);
                self.extra.insert(name.clone(), untyped_kind(gvk));
                add::<meta::ObjectMeta>(&mut self.generator);
                name
            }
        };
        self.gvks.push((name.clone(), gvk.clone()));
        name
    }

    /// `<Kind>List` for a resource whose items are the schema `item`.
    pub fn list(&mut self, info: &ResourceInfo, item: &str) -> String {
        let list_meta = add::<meta::ListMeta>(&mut self.generator);
        let name = format!("{item}List");
        self.extra
            .insert(name.clone(), list_schema(info, item, &list_meta));
        self.gvks.push((
            name.clone(),
            Gvk::new(&info.group, &info.version, &info.list_kind()),
        ));
        name
    }

    /// A meta/v1 type (`Status`, `DeleteOptions`, `WatchEvent`, `Patch`) served as `gvks`.
    pub fn meta<T: JsonSchema>(&mut self, gvks: &[Gvk]) -> String {
        let name = add::<T>(&mut self.generator);
        self.gvks
            .extend(gvks.iter().map(|g| (name.clone(), g.clone())));
        name
    }

    /// Every schema, transformed to OpenAPI 3.0 and marked with its kinds.
    pub fn finish(mut self) -> Map<String, Value> {
        let mut schemas = self.generator.take_definitions(true);
        schemas.extend(self.extra);
        let mut marks: Vec<(String, Gvk)> = self.gvks;
        marks.sort();
        marks.dedup();
        for (name, gvk) in marks {
            if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
                let entry = schema
                    .entry("x-kubernetes-group-version-kind")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(list) = entry {
                    list.push(gvk.to_json());
                }
            }
        }
        for schema in schemas.values_mut() {
            upstream_required(schema);
        }
        schemas
    }
}

/// k8s-openapi marks `metadata` of every kind as required, which upstream's documents do
/// not (kubectl explain would print `-required-` beside it); drop that one entry.
fn upstream_required(schema: &mut Value) {
    let Some(Value::Object(props)) = schema.get("properties") else {
        return;
    };
    let has_kind_fields = props.contains_key("apiVersion")
        && props.contains_key("kind")
        && props.contains_key("metadata");
    if !has_kind_fields {
        return;
    }
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r != "metadata");
        if required.is_empty()
            && let Value::Object(map) = schema
        {
            map.remove("required");
        }
    }
}

/// `<Kind>List`, as upstream's list types read (k8s-openapi has one generic `List<T>`
/// without a schema): `items` of the kind, `metadata` a ListMeta.
fn list_schema(info: &ResourceInfo, item: &str, list_meta: &str) -> Value {
    json!({
        "description": format!("{} is a list of {}.", info.list_kind(), info.kind),
        "type": "object",
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": {
                "allOf": [{"$ref": format!("{DEFINITIONS}{list_meta}")}],
                "default": {},
                "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            },
            "items": {
                "description": format!("List of {}.", info.plural),
                "type": "array",
                "items": {"allOf": [{"$ref": format!("{DEFINITIONS}{item}")}], "default": {}},
            },
        },
        "required": ["items"],
    })
}

/// A custom resource's schema name, as upstream names them: the group reversed, then the
/// version and kind (`com.example.v1.Widget` for `example.com/v1 Widget`).
fn untyped_name(gvk: &Gvk) -> String {
    let reversed: Vec<&str> = gvk
        .group
        .split('.')
        .rev()
        .filter(|s| !s.is_empty())
        .collect();
    let mut parts = reversed;
    parts.push(&gvk.version);
    parts.push(&gvk.kind);
    parts.join(".")
}

/// A kind without a known structure (a custom resource): `metadata` is an ObjectMeta and
/// every other field is kept as sent, as upstream documents a CRD without a schema.
fn untyped_kind(gvk: &Gvk) -> Value {
    json!({
        "description": format!("{} of {}/{}", gvk.kind, gvk.group, gvk.version),
        "type": "object",
        "properties": {
            "apiVersion": {"description": API_VERSION_DOC, "type": "string"},
            "kind": {"description": KIND_DOC, "type": "string"},
            "metadata": {
                "allOf": [{"$ref": format!("{DEFINITIONS}{}", meta::ObjectMeta::schema_name())}],
                "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            },
        },
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

const API_VERSION_DOC: &str = "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources";
const KIND_DOC: &str = "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds";

/// Every served group-version, as `DeleteOptions` and `WatchEvent` are marked with them.
pub fn served_group_versions(all: &[std::sync::Arc<ResourceInfo>]) -> BTreeSet<(String, String)> {
    all.iter()
        .map(|r| (r.group.clone(), r.version.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_carry_upstream_names_docs_and_gvk() {
        let mut components = Components::new();
        let name = components.kind(&Gvk::new("apps", "v1", "Deployment"));
        assert_eq!(name, "io.k8s.api.apps.v1.Deployment");
        let schemas = components.finish();
        let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"],
            json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
        );
        assert!(
            deployment.get("required").is_none(),
            "metadata is not required upstream"
        );
        let strategy = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["strategy"];
        assert_eq!(
            strategy["allOf"],
            json!([{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}])
        );
        assert_eq!(
            strategy["description"],
            "The deployment strategy to use to replace existing pods with new ones."
        );
        assert!(schemas.contains_key("io.k8s.api.core.v1.Container"));
        assert!(schemas.contains_key("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    }

    #[test]
    fn custom_resources_get_open_schemas() {
        let mut components = Components::new();
        let name = components.kind(&Gvk::new("example.com", "v1", "Widget"));
        assert_eq!(name, "com.example.v1.Widget");
        let schemas = components.finish();
        assert_eq!(schemas[&name]["x-kubernetes-preserve-unknown-fields"], true);
    }
}
