//! What the controllers that keep one object of theirs in every namespace share (the
//! `default` ServiceAccount, the `kube-root-ca.crt` ConfigMap), as upstream's two
//! controllers are built alike: namespaces are the primary resource, and a change to the
//! object of that name in a namespace wakes the namespace.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};

/// What every reconcile gets.
pub struct Context {
    pub client: Client,
}

/// Run `reconcile` for every namespace, woken also by changes to the `K` named `name` in
/// it, until the task is dropped. A failed reconcile is retried after `retry`.
pub async fn run<K, R, Fut, E>(
    client: Client,
    name: &'static str,
    controller: &'static str,
    retry: Duration,
    reconcile: R,
) where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    R: FnMut(Arc<Namespace>, Arc<Context>) -> Fut,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: std::error::Error + Send + Sync + 'static,
{
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let owned: Api<K> = Api::all(client.clone());
    let error_policy = move |_ns: Arc<Namespace>, err: &E, _ctx: Arc<Context>| {
        tracing::warn!(error = %err, controller, "reconcile failed; retrying");
        Action::requeue(retry)
    };
    Controller::new(namespaces, watcher::Config::default())
        .watches(
            owned,
            watcher::Config::default().fields(&format!("metadata.name={name}")),
            |object| {
                object
                    .namespace()
                    .map(|ns| ObjectRef::<Namespace>::new(&ns))
            },
        )
        .run(reconcile, error_policy, Arc::new(Context { client }))
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, controller, "reconcile");
            }
        })
        .await;
}

/// Whether `ns` is on its way out: it gets nothing new.
pub fn terminating(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}
