//! The namespace controller: empties a namespace being deleted, then lets it go.
//!
//! Deleting a namespace marks it `Terminating` and leaves it held by the `kubernetes`
//! entry of `spec.finalizers`. This controller then observes such a namespace, deletes
//! everything in it (every namespaced resource discovery lists), and once nothing is
//! left removes its finalizer through `/finalize`, after which the API server removes the
//! namespace — as upstream's `NamespaceController` does.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::{Discovery, Scope, verbs};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

/// The finalizer in `spec.finalizers` this controller owns.
pub const FINALIZER: &str = "kubernetes";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("discovery failed: {0}")]
    Discovery(#[source] kube::Error),
    #[error("deleting {resource} in {namespace} failed: {source}")]
    DeleteContent { resource: String, namespace: String, source: kube::Error },
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

#[tracing::instrument(skip_all, fields(namespace = %ns.name_any()))]
async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Observe: only a namespace being deleted that still holds our finalizer needs work.
    let held = ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).is_some_and(|f| f.iter().any(|x| x == FINALIZER));
    if ns.metadata.deletion_timestamp.is_none() || !held {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();

    // Compare and act: delete what is left; come back while anything remains.
    let remaining = delete_content(&ctx.client, &name).await?;
    if remaining > 0 {
        tracing::info!(remaining, "waiting for namespace content to go");
        return Ok(Action::requeue(Duration::from_secs(1)));
    }

    let mut finalized = (*ns).clone();
    if let Some(spec) = finalized.spec.as_mut() {
        spec.finalizers = Some(spec.finalizers.take().unwrap_or_default().into_iter().filter(|f| f != FINALIZER).collect());
    }
    finalized.metadata.managed_fields = None;
    let namespaces: Api<Namespace> = Api::all(ctx.client.clone());
    namespaces
        .replace_subresource("finalize", &name, &PostParams::default(), &finalized)
        .await
        .map_err(|e| Error::Finalize(name.clone(), e))?;
    tracing::info!("namespace emptied and finalized");
    Ok(Action::await_change())
}

/// Delete every object in the namespace; returns how many were still there.
async fn delete_content(client: &Client, namespace: &str) -> Result<usize, Error> {
    let discovery = Discovery::new(client.clone()).run().await.map_err(Error::Discovery)?;
    let mut remaining = 0;
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if caps.scope != Scope::Namespaced || !caps.supports_operation(verbs::LIST) || !caps.supports_operation(verbs::DELETE) {
                continue;
            }
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
            let delete_error = |source| Error::DeleteContent { resource: resource.plural.clone(), namespace: namespace.to_string(), source };
            let objects = api.list_metadata(&ListParams::default()).await.map_err(delete_error)?;
            if objects.items.is_empty() {
                continue;
            }
            remaining += objects.items.len();
            api.delete_collection(&DeleteParams::background(), &ListParams::default()).await.map_err(delete_error)?;
        }
    }
    Ok(remaining)
}

fn error_policy(_ns: Arc<Namespace>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "namespace reconcile failed; retrying");
    Action::requeue(Duration::from_secs(2))
}
