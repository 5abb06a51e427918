//! One group-version's OpenAPI v3 document: a path for every collection, object and
//! subresource the group-version serves, each with its operations, and the schemas they
//! refer to — the shape of upstream's `/openapi/v3/apis/<group>/<version>`.
//!
//! What clients read from it:
//! - kubectl's `--validate=strict` (the default of `apply`, `create`, `replace`, `edit`)
//!   looks for the kind's PATCH operation (`x-kubernetes-group-version-kind`) and, if it
//!   lists the `fieldValidation` query parameter, leaves validation to the server and sends
//!   `?fieldValidation=Strict` (cli-runtime `query_param_verifier_v3.go`). The first PATCH
//!   operation of the kind decides, so every one of them lists it.
//! - `kubectl explain` finds the kind through the operations of
//!   `/…/<resource>` and `/…/namespaces/{namespace}/<resource>[/{name}]`, then the schema
//!   whose `x-kubernetes-group-version-kind` names it, and walks `properties`, `allOf`
//!   and `items` from there (kubectl `pkg/explain/v2/templates/plaintext.tmpl`).
//! - client-side `kubectl apply` computes its strategic merge patch from the document when
//!   the PATCH operation accepts `application/strategic-merge-patch+json`. Ours does not
//!   list that type: k8s-openapi's schemas lack the `x-kubernetes-patch-merge-key` marks
//!   a correct patch needs, and without it kubectl uses its compiled-in types, which
//!   carry them — the same patch upstream's document yields.

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use kubesim_apimachinery::ResourceInfo;
use serde_json::{Map, Value, json};

use super::schemas::{Components, DEFINITIONS, Gvk};

/// The patch media types kubesim's PATCH accepts and advertises (see the module doc for
/// why strategic merge patch is not listed).
const PATCH_TYPES: [&str; 2] = [
    "application/json-patch+json",
    "application/merge-patch+json",
];

/// What an operation does, as upstream's `x-kubernetes-action` names it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Get,
    List,
    Post,
    Put,
    Patch,
    Delete,
    DeleteCollection,
    Watch,
    WatchList,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::List => "list",
            Action::Post => "post",
            Action::Put => "put",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::DeleteCollection => "deletecollection",
            Action::Watch => "watch",
            Action::WatchList => "watchlist",
        }
    }

    /// The Kubernetes verb the operation needs served (discovery's `verbs`).
    fn verb(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::List => "list",
            Action::Post => "create",
            Action::Put => "update",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::DeleteCollection => "deletecollection",
            Action::Watch | Action::WatchList => "watch",
        }
    }

    /// The HTTP method, as the key of the path item.
    fn method(self) -> &'static str {
        match self {
            Action::Get | Action::List | Action::Watch | Action::WatchList => "get",
            Action::Post => "post",
            Action::Put => "put",
            Action::Patch => "patch",
            Action::Delete | Action::DeleteCollection => "delete",
        }
    }

    /// The verb prefix of upstream's operationId (`readAppsV1NamespacedDeployment`).
    fn operation_verb(self) -> &'static str {
        match self {
            Action::Get => "read",
            Action::List => "list",
            Action::Post => "create",
            Action::Put => "replace",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::DeleteCollection => "deletecollection",
            Action::Watch => "watch",
            Action::WatchList => "watch",
        }
    }

    fn query_parameters(self) -> &'static [&'static str] {
        match self {
            Action::Get => &[],
            Action::List | Action::Watch | Action::WatchList => &[
                "allowWatchBookmarks",
                "continue",
                "fieldSelector",
                "labelSelector",
                "limit",
                "resourceVersion",
                "resourceVersionMatch",
                "sendInitialEvents",
                "timeoutSeconds",
                "watch",
            ],
            Action::Post | Action::Put => &["dryRun", "fieldManager", "fieldValidation"],
            Action::Patch => &["dryRun", "fieldManager", "fieldValidation", "force"],
            Action::Delete => &[
                "dryRun",
                "gracePeriodSeconds",
                "orphanDependents",
                "propagationPolicy",
            ],
            Action::DeleteCollection => &[
                "continue",
                "dryRun",
                "fieldSelector",
                "gracePeriodSeconds",
                "labelSelector",
                "limit",
                "orphanDependents",
                "propagationPolicy",
                "resourceVersion",
                "resourceVersionMatch",
                "sendInitialEvents",
                "timeoutSeconds",
            ],
        }
    }
}

/// A query parameter's type and description (condensed from upstream's `ListOptions`,
/// `CreateOptions`, `PatchOptions` and `DeleteOptions` docs).
fn query_parameter(name: &str) -> Value {
    let (ty, description) = match name {
        "allowWatchBookmarks" => (
            "boolean",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion.",
        ),
        "continue" => (
            "string",
            "The continue option should be set when retrieving more results from the server.",
        ),
        "fieldSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
        ),
        "labelSelector" => (
            "string",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
        ),
        "limit" => (
            "integer",
            "limit is a maximum number of responses to return for a list call.",
        ),
        "resourceVersion" => (
            "string",
            "resourceVersion sets a constraint on what resource versions a request may be served from. Defaults to unset.",
        ),
        "resourceVersionMatch" => (
            "string",
            "resourceVersionMatch determines how resourceVersion is applied to list calls.",
        ),
        "sendInitialEvents" => (
            "boolean",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection, followed by a BOOKMARK event annotated with \"k8s.io/initial-events-end\": \"true\".",
        ),
        "timeoutSeconds" => (
            "integer",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
        ),
        "watch" => (
            "boolean",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
        ),
        "dryRun" => (
            "string",
            "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        ),
        "fieldManager" => (
            "string",
            "fieldManager is a name associated with the actor or entity that is making these changes. This field is required for apply requests (application/apply-patch) but optional for non-apply patch types (JsonPatch, MergePatch, StrategicMergePatch).",
        ),
        "fieldValidation" => (
            "string",
            "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
        ),
        "force" => (
            "boolean",
            "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
        ),
        "gracePeriodSeconds" => (
            "integer",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately.",
        ),
        "orphanDependents" => (
            "boolean",
            "Deprecated: please use the PropagationPolicy. Should the dependent objects be orphaned.",
        ),
        "propagationPolicy" => (
            "string",
            "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
        ),
        _ => ("string", ""),
    };
    json!({"description": description, "in": "query", "name": name, "schema": {"type": ty, "uniqueItems": true}})
}

fn path_parameter(name: &str, description: &str) -> Value {
    json!({"description": description, "in": "path", "name": name, "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

fn pretty_parameter() -> Value {
    json!({"description": "If 'true', then the output is pretty printed.", "in": "query", "name": "pretty", "schema": {"type": "string", "uniqueItems": true}})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("{DEFINITIONS}{name}")})
}

/// The response or request content of `schema` in each media type.
fn content(media: &[&str], schema: &str) -> Value {
    let map: Map<String, Value> = media
        .iter()
        .map(|m| (m.to_string(), json!({"schema": schema_ref(schema)})))
        .collect();
    Value::Object(map)
}

/// `AppsV1`, `CoreV1`, `CoordinationV1` as in upstream's operation ids.
fn group_version_camel(group: &str, version: &str) -> String {
    let group = if group.is_empty() {
        "core"
    } else {
        group.strip_suffix(".k8s.io").unwrap_or(group)
    };
    let mut out: String = group.split('.').map(capitalize).collect();
    out.push_str(&capitalize(version));
    out
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Assembles the document's paths and schemas.
struct Builder<'a> {
    group: &'a str,
    version: &'a str,
    components: Components,
    paths: Map<String, Value>,
    status: String,
    delete_options: String,
    watch_event: String,
    patch: String,
    /// The verbs of the resource being added: only their operations are described
    /// (`metrics.k8s.io` serves get and list).
    verbs: Vec<&'static str>,
}

/// One operation to add.
struct Op<'a> {
    action: Action,
    /// The kind the operation is about (`x-kubernetes-group-version-kind`).
    gvk: &'a Gvk,
    /// operationId's noun: `NamespacedDeploymentStatus`.
    noun: String,
    description: String,
    request: Option<String>,
    response: String,
}

impl<'a> Builder<'a> {
    fn new(group: &'a str, version: &'a str) -> Self {
        let mut components = Components::new();
        // meta/v1 types are served in every group-version; this document's own and the core one.
        let here = |kind: &str| {
            let mut gvks = vec![Gvk::new("", "v1", kind), Gvk::new(group, version, kind)];
            gvks.dedup();
            gvks
        };
        let status = components.meta::<meta::Status>(&[Gvk::new("", "v1", "Status")]);
        let delete_options = components.meta::<meta::DeleteOptions>(&here("DeleteOptions"));
        let watch_event = components.meta::<meta::WatchEvent<()>>(&here("WatchEvent"));
        let patch = components.meta::<meta::Patch>(&[]);
        Builder {
            group,
            version,
            components,
            paths: Map::new(),
            status,
            delete_options,
            watch_event,
            patch,
            verbs: Vec::new(),
        }
    }

    fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    fn add(&mut self, path: String, parameters: Vec<Value>, op: Op<'_>) {
        if !self.verbs.contains(&op.action.verb()) {
            return;
        }
        let mut operation = json!({
            "description": op.description,
            "operationId": format!("{}{}{}", op.action.operation_verb(), group_version_camel(self.group, self.version), op.noun),
            "tags": [format!("{}_{}", if self.group.is_empty() { "core" } else { self.group.strip_suffix(".k8s.io").unwrap_or(self.group) }, self.version)],
            "x-kubernetes-action": op.action.name(),
            "x-kubernetes-group-version-kind": op.gvk.to_json(),
        });
        let query: Vec<Value> = op
            .action
            .query_parameters()
            .iter()
            .map(|p| query_parameter(p))
            .collect();
        if !query.is_empty() {
            operation["parameters"] = Value::Array(query);
        }
        let json_only = ["application/json"];
        if let Some(request) = &op.request {
            let media: &[&str] = if op.action == Action::Patch {
                &PATCH_TYPES
            } else {
                &["*/*"]
            };
            operation["requestBody"] = json!({"content": content(media, request), "required": op.action != Action::Delete});
        }
        let streaming = ["application/json", "application/json;stream=watch"];
        let ok_media: &[&str] =
            if matches!(op.action, Action::List | Action::Watch | Action::WatchList) {
                &streaming
            } else {
                &json_only
            };
        let ok = json!({"content": content(ok_media, &op.response), "description": "OK"});
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        match op.action {
            Action::Post => {
                responses.insert(
                    "201".into(),
                    json!({"content": content(&json_only, &op.response), "description": "Created"}),
                );
                responses.insert("202".into(), json!({"content": content(&json_only, &op.response), "description": "Accepted"}));
            }
            Action::Put | Action::Patch => {
                responses.insert(
                    "201".into(),
                    json!({"content": content(&json_only, &op.response), "description": "Created"}),
                );
            }
            Action::Delete => {
                responses.insert("202".into(), json!({"content": content(&json_only, &op.response), "description": "Accepted"}));
            }
            _ => {}
        }
        responses.insert("401".into(), json!({"description": "Unauthorized"}));
        operation["responses"] = Value::Object(responses);

        let item = self
            .paths
            .entry(path)
            .or_insert_with(|| json!({"parameters": parameters}));
        if let Value::Object(item) = item {
            item.insert(op.action.method().to_string(), operation);
        }
    }

    /// Every path of one resource: collection, object, subresources, watch.
    fn resource(&mut self, info: &ResourceInfo) {
        self.verbs = info.verbs();
        let gvk = Gvk::new(&info.group, &info.version, &info.kind);
        let kind_schema = self.components.kind(&gvk);
        // Only a resource that lists has a list kind (the reviews have none).
        let list_schema = if self.verbs.contains(&"list") {
            self.components.list(info, &kind_schema)
        } else {
            String::new()
        };
        let kind = &info.kind;
        let prefix = self.prefix();
        let (scope, scoped, mut base_params) = if info.namespaced {
            (
                format!("{prefix}/namespaces/{{namespace}}/{}", info.plural),
                format!("Namespaced{kind}"),
                vec![path_parameter(
                    "namespace",
                    "object name and auth scope, such as for teams and projects",
                )],
            )
        } else {
            (
                format!("{prefix}/{}", info.plural),
                kind.clone(),
                Vec::new(),
            )
        };
        base_params.push(pretty_parameter());
        let mut named_params = vec![path_parameter("name", &format!("name of the {kind}"))];
        named_params.extend(base_params.iter().cloned());

        let op = |action: Action,
                  noun: &str,
                  description: String,
                  request: Option<&str>,
                  response: &str| Op {
            action,
            gvk: &gvk,
            noun: noun.to_string(),
            description,
            request: request.map(str::to_string),
            response: response.to_string(),
        };
        let (status, delete_options, watch_event, patch) = (
            self.status.clone(),
            self.delete_options.clone(),
            self.watch_event.clone(),
            self.patch.clone(),
        );

        // The collection.
        self.add(
            scope.clone(),
            base_params.clone(),
            op(
                Action::List,
                &scoped,
                format!("list or watch objects of kind {kind}"),
                None,
                &list_schema,
            ),
        );
        self.add(
            scope.clone(),
            base_params.clone(),
            op(
                Action::Post,
                &scoped,
                format!("create a {kind}"),
                Some(&kind_schema),
                &kind_schema,
            ),
        );
        self.add(
            scope.clone(),
            base_params.clone(),
            op(
                Action::DeleteCollection,
                &format!("Collection{scoped}"),
                format!("delete collection of {kind}"),
                Some(&delete_options),
                &status,
            ),
        );
        // One object.
        let named = format!("{scope}/{{name}}");
        self.add(
            named.clone(),
            named_params.clone(),
            op(
                Action::Get,
                &scoped,
                format!("read the specified {kind}"),
                None,
                &kind_schema,
            ),
        );
        self.add(
            named.clone(),
            named_params.clone(),
            op(
                Action::Put,
                &scoped,
                format!("replace the specified {kind}"),
                Some(&kind_schema),
                &kind_schema,
            ),
        );
        self.add(
            named.clone(),
            named_params.clone(),
            op(
                Action::Patch,
                &scoped,
                format!("partially update the specified {kind}"),
                Some(&patch),
                &kind_schema,
            ),
        );
        self.add(
            named.clone(),
            named_params.clone(),
            op(
                Action::Delete,
                &scoped,
                format!("delete a {kind}"),
                Some(&delete_options),
                &kind_schema,
            ),
        );
        // Across namespaces.
        if info.namespaced {
            self.add(
                format!("{prefix}/{}", info.plural),
                vec![pretty_parameter()],
                op(
                    Action::List,
                    &format!("{kind}ForAllNamespaces"),
                    format!("list or watch objects of kind {kind}"),
                    None,
                    &list_schema,
                ),
            );
        }
        // The deprecated `/watch/` paths.
        let watch_scope = scope.replacen(&prefix, &format!("{prefix}/watch"), 1);
        self.add(watch_scope.clone(), base_params.clone(), op(Action::WatchList, &format!("{scoped}List"), format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."), None, &watch_event));
        self.add(format!("{watch_scope}/{{name}}"), named_params.clone(), op(Action::Watch, &scoped, format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtered to a single item with the 'fieldSelector' parameter."), None, &watch_event));

        // Subresources.
        if info.subresources.status {
            let path = format!("{named}/status");
            let noun = format!("{scoped}Status");
            self.add(
                path.clone(),
                named_params.clone(),
                op(
                    Action::Get,
                    &noun,
                    format!("read status of the specified {kind}"),
                    None,
                    &kind_schema,
                ),
            );
            self.add(
                path.clone(),
                named_params.clone(),
                op(
                    Action::Put,
                    &noun,
                    format!("replace status of the specified {kind}"),
                    Some(&kind_schema),
                    &kind_schema,
                ),
            );
            self.add(
                path,
                named_params.clone(),
                op(
                    Action::Patch,
                    &noun,
                    format!("partially update status of the specified {kind}"),
                    Some(&patch),
                    &kind_schema,
                ),
            );
        }
        if info.subresources.scale {
            let scale_gvk = Gvk::new("autoscaling", "v1", "Scale");
            let scale = self.components.kind(&scale_gvk);
            let path = format!("{named}/scale");
            let noun = format!("{scoped}Scale");
            for (action, description, request) in [
                (
                    Action::Get,
                    format!("read scale of the specified {kind}"),
                    None,
                ),
                (
                    Action::Put,
                    format!("replace scale of the specified {kind}"),
                    Some(scale.clone()),
                ),
                (
                    Action::Patch,
                    format!("partially update scale of the specified {kind}"),
                    Some(patch.clone()),
                ),
            ] {
                let op = Op {
                    action,
                    gvk: &scale_gvk,
                    noun: noun.clone(),
                    description,
                    request,
                    response: scale.clone(),
                };
                self.add(path.clone(), named_params.clone(), op);
            }
        }
        if info.group.is_empty() && info.plural == "pods" {
            let binding_gvk = Gvk::new("", "v1", "Binding");
            let binding = self.components.kind(&binding_gvk);
            let op = Op {
                action: Action::Post,
                gvk: &binding_gvk,
                noun: format!("{scoped}Binding"),
                description: "create binding of a Pod".into(),
                request: Some(binding.clone()),
                response: binding,
            };
            self.add(format!("{named}/binding"), named_params.clone(), op);
            let eviction_gvk = Gvk::new("policy", "v1", "Eviction");
            let eviction = self.components.kind(&eviction_gvk);
            let op = Op {
                action: Action::Post,
                gvk: &eviction_gvk,
                noun: format!("{scoped}Eviction"),
                description: "create eviction of a Pod".into(),
                request: Some(eviction.clone()),
                response: eviction,
            };
            self.add(format!("{named}/eviction"), named_params.clone(), op);
            self.log(&format!("{named}/log"), &named_params, &gvk, &scoped);
        }
        if info.group.is_empty() && info.plural == "namespaces" {
            let op = op(
                Action::Put,
                &format!("{scoped}Finalize"),
                "replace finalize of the specified Namespace".into(),
                Some(&kind_schema),
                &kind_schema,
            );
            self.add(format!("{named}/finalize"), named_params, op);
        }
    }

    /// `pods/{name}/log`: plain text, upstream's only non-JSON GET.
    fn log(&mut self, path: &str, params: &[Value], gvk: &Gvk, scoped: &str) {
        let query: Vec<Value> = [
            ("container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod."),
            ("follow", "boolean", "Follow the log stream of the pod. Defaults to false."),
            ("previous", "boolean", "Return previous terminated container logs. Defaults to false."),
            ("sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs."),
            ("tailLines", "integer", "If set, the number of lines from the end of the logs to show."),
            ("timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false."),
        ]
        .iter()
        .map(|(name, ty, description)| json!({"description": description, "in": "query", "name": name, "schema": {"type": ty, "uniqueItems": true}}))
        .collect();
        let operation = json!({
            "description": "read log of the specified Pod",
            "operationId": format!("read{}{scoped}Log", group_version_camel(self.group, self.version)),
            "parameters": query,
            "responses": {"200": {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "OK"}, "401": {"description": "Unauthorized"}},
            "tags": [format!("core_{}", self.version)],
            "x-kubernetes-action": "get",
            "x-kubernetes-group-version-kind": gvk.to_json(),
        });
        self.paths.insert(
            path.to_string(),
            json!({"get": operation, "parameters": params}),
        );
    }

    fn finish(mut self) -> Value {
        let resources = self.components.list_resources();
        let prefix = self.prefix();
        self.paths.insert(
            format!("{prefix}/"),
            json!({"get": {
                "description": "get available resources",
                "operationId": format!("get{}APIResources", group_version_camel(self.group, self.version)),
                "responses": {"200": {"content": content(&["application/json"], &resources), "description": "OK"}, "401": {"description": "Unauthorized"}},
                "tags": [format!("{}_{}", if self.group.is_empty() { "core" } else { self.group.strip_suffix(".k8s.io").unwrap_or(self.group) }, self.version)],
            }}),
        );
        json!({
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": crate::system::KUBERNETES_VERSION},
            "paths": self.paths,
            "components": {"schemas": self.components.finish()},
        })
    }
}

impl Components {
    /// `APIResourceList`, the answer of the group-version's own path.
    fn list_resources(&mut self) -> String {
        self.meta::<meta::APIResourceList>(&[Gvk::new("", "v1", "APIResourceList")])
    }
}

/// The document of `group`/`version`, serving `resources` (all of that group-version).
pub fn document(group: &str, version: &str, resources: &[ResourceInfo]) -> Value {
    let mut builder = Builder::new(group, version);
    for info in resources {
        builder.resource(info);
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubesim_apimachinery::registry::builtins;

    fn doc(group: &str, version: &str) -> Value {
        let resources: Vec<ResourceInfo> = builtins()
            .into_iter()
            .filter(|r| r.group == group && r.version == version)
            .collect();
        document(group, version, &resources)
    }

    #[test]
    fn only_the_verbs_served_are_described() {
        use kubesim_apimachinery::registry::metrics;
        let resources: Vec<ResourceInfo> = metrics();
        let doc = document("metrics.k8s.io", "v1beta1", &resources);
        let paths = doc["paths"].as_object().expect("paths");
        let mut actions: Vec<&str> = paths
            .values()
            .filter_map(Value::as_object)
            .flat_map(|item| item.values())
            .filter_map(|op| op["x-kubernetes-action"].as_str())
            .collect();
        actions.sort_unstable();
        actions.dedup();
        assert_eq!(actions, ["get", "list"]);
        assert!(
            paths.contains_key("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/{name}"),
            "{:?}",
            paths.keys()
        );
        assert!(!paths.keys().any(|p| p.contains("/watch/")));
    }

    #[test]
    fn every_patch_operation_takes_field_validation() {
        let apps = doc("apps", "v1");
        let paths = apps["paths"].as_object().expect("paths");
        let mut patches = 0;
        for (path, item) in paths {
            if let Some(patch) = item.get("patch") {
                patches += 1;
                let params = patch["parameters"].as_array().expect("parameters");
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"),
                    "{path}"
                );
                assert!(
                    patch["x-kubernetes-group-version-kind"].is_object(),
                    "{path}"
                );
            }
        }
        assert_eq!(
            patches,
            5 + 4 + 3,
            "objects, status and scale of the apps/v1 resources"
        );
        let deployment = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            deployment["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert_eq!(deployment["operationId"], "patchAppsV1NamespacedDeployment");
        let scale =
            &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"];
        assert_eq!(scale["x-kubernetes-group-version-kind"]["kind"], "Scale");
    }

    #[test]
    fn core_paths_and_schemas() {
        let core = doc("", "v1");
        let paths = core["paths"].as_object().expect("paths");
        assert!(paths.contains_key("/api/v1/namespaces/{namespace}/pods/{name}/eviction"));
        assert!(paths.contains_key("/api/v1/nodes/{name}"));
        assert!(paths.contains_key("/api/v1/pods"));
        let schemas = &core["components"]["schemas"];
        assert_eq!(
            schemas["io.k8s.api.core.v1.PodList"]["x-kubernetes-group-version-kind"][0]["kind"],
            "PodList"
        );
        assert_eq!(
            schemas["io.k8s.api.policy.v1.Eviction"]["x-kubernetes-group-version-kind"][0]["group"],
            "policy"
        );
        assert!(
            schemas["io.k8s.api.core.v1.Container"]["properties"]["image"]["description"]
                .is_string()
        );
    }
}
