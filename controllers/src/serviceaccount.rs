//! The service account controller: every active namespace has a `default` ServiceAccount.
//!
//! As upstream's `ServiceAccountsController` (`pkg/controller/serviceaccount`): it
//! observes namespaces and their service accounts, and creates `default` where it is
//! missing — also after someone deletes it. Namespaces being deleted are left alone.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};

use crate::per_namespace::{self, Context};

/// The service account every namespace gets.
pub const DEFAULT: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating the default service account in {0} failed: {1}")]
    Create(String, #[source] kube::Error),
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    per_namespace::run::<ServiceAccount, _, _, _>(
        client,
        DEFAULT,
        "serviceaccount-controller",
        Duration::from_secs(2),
        reconcile,
    )
    .await;
}

#[tracing::instrument(skip_all, fields(namespace = %ns.name_any()))]
async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Observe: a namespace on its way out gets nothing new.
    if per_namespace::terminating(&ns) {
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
