//! The namespace controller: empties a namespace being deleted, then lets it go.
//!
//! Deleting a namespace marks it `Terminating` and leaves it held by the `kubernetes`
//! entry of `spec.finalizers`. This controller then observes such a namespace, deletes
//! everything in it (every namespaced resource discovery lists), and once nothing is
//! left removes its finalizer through `/finalize`, after which the API server removes the
//! namespace — as upstream's `NamespaceController` with its `namespacedResourcesDeleter`.
//!
//! While it works it keeps upstream's five status conditions, so `kubectl describe ns`
//! tells why a namespace is stuck:
//!
//! | type | True (reason: message) | False (reason: message) |
//! |---|---|---|
//! | `NamespaceDeletionDiscoveryFailure` | `DiscoveryFailed`: the error | `ResourcesDiscovered`: All resources successfully discovered |
//! | `NamespaceDeletionGroupVersionParsingFailure` | `GroupVersionParsingFailed` | `ParsedGroupVersions`: All legacy kube types successfully parsed |
//! | `NamespaceDeletionContentFailure` | `ContentDeletionFailed`: Failed to delete all resource types, N remaining: … | `ContentDeleted`: All content successfully deleted, may be waiting on finalization |
//! | `NamespaceContentRemaining` | `SomeResourcesRemain`: Some resources are remaining: pods. has 2 resource instances | `ContentRemoved`: All content successfully removed |
//! | `NamespaceFinalizersRemaining` | `SomeFinalizerRemain`: Some finalizers are remaining: example.com/x in 1 resource instances | `ContentRemoved`: All content successfully removed |

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

/// The finalizer in `spec.finalizers` this controller owns.
pub const FINALIZER: &str = "kubernetes";

const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
const GV_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// Upstream's condition types, each with its reason and message when all is well.
const CONDITIONS: [(&str, &str, &str); 5] = [
    (
        DISCOVERY_FAILURE,
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        GV_PARSING_FAILURE,
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        CONTENT_FAILURE,
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        CONTENT_REMAINING,
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        FINALIZERS_REMAINING,
        "ContentRemoved",
        "All content successfully removed",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("discovery failed: {0}")]
    Discovery(#[source] kube::Error),
    #[error("deleting the content of namespace {0} failed: {1}")]
    Content(String, String),
    #[error("updating the status of namespace {0} failed: {1}")]
    Status(String, #[source] kube::Error),
    #[error("finalizing namespace {0} failed: {1}")]
    Finalize(String, #[source] kube::Error),
}

pub struct Context {
    client: Client,
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        .run(reconcile, error_policy, Arc::new(Context { client }))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "namespace reconcile");
            }
        })
        .await;
}

/// What deleting the content found.
#[derive(Debug, Default, PartialEq)]
pub struct Content {
    /// `resource.group` → objects still there.
    pub remaining: BTreeMap<String, usize>,
    /// Finalizer → objects still held by it.
    pub finalizers: BTreeMap<String, usize>,
    /// Per resource that failed, the error.
    pub errors: Vec<String>,
    /// Discovery failed: nothing could be looked at.
    pub discovery_error: Option<String>,
}

#[tracing::instrument(skip_all, fields(namespace = %ns.name_any()))]
async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Observe: only a namespace being deleted that still holds our finalizer needs work.
    let held = ns
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
    if ns.metadata.deletion_timestamp.is_none() || !held {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();

    // Act: delete what is left, then compare what remains.
    let content = delete_content(&ctx.client, &name).await;
    let status = ns.status.clone().unwrap_or_default();
    let current = status.conditions.clone().unwrap_or_default();
    let updated = conditions(&current, &content, Timestamp::now());
    if status.phase.as_deref() != Some("Terminating") || updated.is_some() {
        let patch =
            json!({"status": {"phase": "Terminating", "conditions": updated.unwrap_or(current)}});
        let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
        match namespaces
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => return Ok(Action::await_change()),
            Err(e) => return Err(Error::Status(name, e)),
        }
    }
    if let Some(err) = content.discovery_error {
        return Err(Error::Content(name, err));
    }
    if !content.errors.is_empty() {
        return Err(Error::Content(name, content.errors.join(", ")));
    }
    if !content.remaining.is_empty() {
        tracing::info!(remaining = ?content.remaining, "waiting for namespace content to go");
        return Ok(Action::requeue(Duration::from_secs(1)));
    }

    let mut finalized = (*ns).clone();
    if let Some(spec) = finalized.spec.as_mut() {
        spec.finalizers = Some(
            spec.finalizers
                .take()
                .unwrap_or_default()
                .into_iter()
                .filter(|f| f != FINALIZER)
                .collect(),
        );
    }
    finalized.metadata.managed_fields = None;
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    match namespaces
        .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => return Err(Error::Finalize(name, e)),
    }
    tracing::info!("namespace emptied and finalized");
    Ok(Action::await_change())
}

/// `updateConditions`: the five conditions as `content` says, keeping the transition
/// time of those whose status did not change; `None` if nothing changed.
pub fn conditions(
    current: &[NamespaceCondition],
    content: &Content,
    now: Timestamp,
) -> Option<Vec<NamespaceCondition>> {
    let failing = |type_: &str| -> Option<(&'static str, String)> {
        match type_ {
            DISCOVERY_FAILURE => content
                .discovery_error
                .clone()
                .map(|e| ("DiscoveryFailed", e)),
            CONTENT_FAILURE if !content.errors.is_empty() => {
                let mut errors = content.errors.clone();
                errors.sort();
                Some((
                    "ContentDeletionFailed",
                    format!(
                        "Failed to delete all resource types, {} remaining: {}",
                        errors.len(),
                        errors.join(", ")
                    ),
                ))
            }
            CONTENT_REMAINING if !content.remaining.is_empty() => {
                let items: Vec<String> = content
                    .remaining
                    .iter()
                    .map(|(r, n)| format!("{r} has {n} resource instances"))
                    .collect();
                Some((
                    "SomeResourcesRemain",
                    format!("Some resources are remaining: {}", items.join(", ")),
                ))
            }
            FINALIZERS_REMAINING if !content.finalizers.is_empty() => {
                let items: Vec<String> = content
                    .finalizers
                    .iter()
                    .map(|(f, n)| format!("{f} in {n} resource instances"))
                    .collect();
                Some((
                    "SomeFinalizerRemain",
                    format!("Some finalizers are remaining: {}", items.join(", ")),
                ))
            }
            _ => None,
        }
    };
    let mut out = current.to_vec();
    let mut changed = false;
    for (type_, ok_reason, ok_message) in CONDITIONS {
        let (status, reason, message) = match failing(type_) {
            Some((reason, message)) => ("True", reason.to_string(), message),
            None => ("False", ok_reason.to_string(), ok_message.to_string()),
        };
        match out.iter_mut().find(|c| c.type_ == type_) {
            Some(c)
                if c.status == status
                    && c.reason.as_deref() == Some(reason.as_str())
                    && c.message.as_deref() == Some(message.as_str()) => {}
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = Some(Time(now));
                }
                c.status = status.into();
                c.reason = Some(reason);
                c.message = Some(message);
                changed = true;
            }
            None => {
                out.push(NamespaceCondition {
                    type_: type_.into(),
                    status: status.into(),
                    reason: Some(reason),
                    message: Some(message),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
        }
    }
    changed.then_some(out)
}

/// `deleteAllContent`: delete every object in the namespace, then see what is left. A
/// failing resource does not stop the others.
async fn delete_content(client: &Client, namespace: &str) -> Content {
    let mut content = Content::default();
    let discovery = match Discovery::new(client.clone()).run().await {
        Ok(d) => d,
        Err(err) => {
            content.discovery_error = Some(Error::Discovery(err).to_string());
            return content;
        }
    };
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced
                || !caps.supports_operation(verbs::LIST)
                || !caps.supports_operation(verbs::DELETE)
            {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let gvr = format!(
                "{}/{}, Resource={}",
                resource.group, resource.version, resource.plural
            );
            let result = async {
                if api
                    .list_metadata(&ListParams::default().limit(1))
                    .await?
                    .items
                    .is_empty()
                {
                    return Ok(None);
                }
                api.delete_collection(&DeleteParams::background(), &ListParams::default())
                    .await?;
                api.list_metadata(&ListParams::default()).await.map(Some)
            }
            .await;
            let left = match result {
                Ok(Some(left)) if !left.items.is_empty() => left,
                Ok(_) => continue,
                Err(err) => {
                    content.errors.push(format!("{gvr}: {err}"));
                    continue;
                }
            };
            content.remaining.insert(
                format!("{}.{}", resource.plural, resource.group),
                left.items.len(),
            );
            let mut held = false;
            for item in &left.items {
                for finalizer in item.finalizers() {
                    *content.finalizers.entry(finalizer.clone()).or_default() += 1;
                    held = true;
                }
            }
            // Pods go gracefully (upstream estimates their grace period); anything else
            // still there without a finalizer should have gone.
            let graceful = resource.plural == "pods" && resource.group.is_empty();
            if !held && !graceful {
                content.errors.push(format!(
                    "unexpected items still remain in namespace: {namespace} for gvr: {gvr}"
                ));
            }
        }
    }
    content
}

fn error_policy(_ns: Arc<Namespace>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "namespace reconcile failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn get<'a>(conditions: &'a [NamespaceCondition], type_: &str) -> (&'a str, &'a str, &'a str) {
        let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
        (
            c.status.as_str(),
            c.reason.as_deref().unwrap_or(""),
            c.message.as_deref().unwrap_or(""),
        )
    }

    #[test]
    fn conditions_tell_what_remains_with_upstream_wording() {
        let content = Content {
            remaining: [
                ("pods.".to_string(), 2),
                ("widgets.example.com".to_string(), 1),
            ]
            .into(),
            finalizers: [("example.com/hold".to_string(), 1)].into(),
            ..Default::default()
        };
        let c = conditions(&[], &content, ts(0)).unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(
            get(&c, CONTENT_REMAINING),
            (
                "True",
                "SomeResourcesRemain",
                "Some resources are remaining: pods. has 2 resource instances, widgets.example.com has 1 resource instances"
            )
        );
        assert_eq!(
            get(&c, FINALIZERS_REMAINING),
            (
                "True",
                "SomeFinalizerRemain",
                "Some finalizers are remaining: example.com/hold in 1 resource instances"
            )
        );
        assert_eq!(
            get(&c, DISCOVERY_FAILURE),
            (
                "False",
                "ResourcesDiscovered",
                "All resources successfully discovered"
            )
        );
        assert_eq!(
            get(&c, CONTENT_FAILURE),
            (
                "False",
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization"
            )
        );
        // Unchanged: nothing to write. Emptied: the transition time moves.
        assert!(conditions(&c, &content, ts(5)).is_none());
        let done = conditions(&c, &Content::default(), ts(9)).unwrap();
        assert_eq!(
            get(&done, CONTENT_REMAINING),
            (
                "False",
                "ContentRemoved",
                "All content successfully removed"
            )
        );
        let remaining = done.iter().find(|x| x.type_ == CONTENT_REMAINING).unwrap();
        assert_eq!(remaining.last_transition_time, Some(Time(ts(9))));
        let discovered = done.iter().find(|x| x.type_ == DISCOVERY_FAILURE).unwrap();
        assert_eq!(discovered.last_transition_time, Some(Time(ts(0))));
    }

    #[test]
    fn failures_are_reported_sorted() {
        let content = Content {
            errors: vec!["b failed".into(), "a failed".into()],
            ..Default::default()
        };
        let c = conditions(&[], &content, ts(0)).unwrap();
        assert_eq!(
            get(&c, CONTENT_FAILURE),
            (
                "True",
                "ContentDeletionFailed",
                "Failed to delete all resource types, 2 remaining: a failed, b failed"
            )
        );
        let c = conditions(
            &[],
            &Content {
                discovery_error: Some("boom".into()),
                ..Default::default()
            },
            ts(0),
        )
        .unwrap();
        assert_eq!(
            get(&c, DISCOVERY_FAILURE),
            ("True", "DiscoveryFailed", "boom")
        );
    }
}
