//! The service account controller: every active namespace has a `default` ServiceAccount.
//!
//! As upstream's `ServiceAccountsController` (`pkg/controller/serviceaccount`): it
//! observes namespaces and their service accounts, and creates `default` where it is
//! missing — also after someone deletes it. Namespaces being deleted are left alone.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

/// The service account every namespace gets.
pub const DEFAULT: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating the default service account in {0} failed: {1}")]
    Create(String, #[source] kube::Error),
}

pub struct Context {
    client: Client,
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let accounts: Api<ServiceAccount> = Api::all(client.clone());
    Controller::new(namespaces, watcher::Config::default())
        // A deleted `default` wakes its namespace.
        .watches(
            accounts,
            watcher::Config::default().fields("metadata.name=default"),
            |sa| sa.namespace().map(|ns| ObjectRef::<Namespace>::new(&ns)),
        )
        .run(reconcile, error_policy, Arc::new(Context { client }))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "serviceaccount reconcile");
            }
        })
        .await;
}

#[tracing::instrument(skip_all, fields(namespace = %ns.name_any()))]
async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Observe: a namespace on its way out gets nothing new.
    let terminating = ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    if ns.metadata.deletion_timestamp.is_some() || terminating {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let accounts: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &name);
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT.into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    // Compare and act in one: a create that finds it there is the no-op case.
    match accounts.create(&PostParams::default(), &sa).await {
        Ok(_) => tracing::info!("created the default service account"),
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        // The namespace started terminating meanwhile (403) or went (404).
        Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => {}
        Err(err) => return Err(Error::Create(name, err)),
    }
    Ok(Action::await_change())
}

fn error_policy(_ns: Arc<Namespace>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "serviceaccount reconcile failed; retrying");
    Action::requeue(Duration::from_secs(2))
}
