//! The root CA certificate publisher: every namespace has a `kube-root-ca.crt` ConfigMap
//! holding the cluster's CA bundle, which pods' service account volumes project.
//!
//! As upstream's `rootcacertpublisher.Publisher`: it observes namespaces and ConfigMaps
//! named `kube-root-ca.crt`; where one is missing it creates it, and where its `ca.crt`
//! data or its description annotation differ it writes them back (other data goes, other
//! annotations stay). A namespace being deleted gets nothing new.
//!
//! kubesim serves plain HTTP and signs nothing, so the bundle is a fixed self-signed CA
//! named `kubernetes` (as kubeadm names its CA) whose key was thrown away: the ConfigMap
//! is there, with a real certificate in upstream's shape, but nothing it verifies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::runtime::controller::Action;
use kube::{Client, ResourceExt};

use crate::per_namespace::{self, Context};

/// The ConfigMap every namespace gets.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// Its one data key.
pub const DATA_KEY: &str = "ca.crt";
/// The annotation that says what it is for, with upstream's text.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the \
kube-apiserver when using internal endpoints such as the internal service IP or \
kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes \
clusters.";
/// The bundle published (PEM).
pub const ROOT_CA: &str = include_str!("root_ca.crt");

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading {CONFIG_MAP} in {0} failed: {1}")]
    Get(String, #[source] kube::Error),
    #[error("writing {CONFIG_MAP} in {0} failed: {1}")]
    Write(String, #[source] kube::Error),
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    per_namespace::run::<ConfigMap, _, _, _>(
        client,
        CONFIG_MAP,
        "root-ca-certificate-publisher-controller",
        Duration::from_secs(1),
        reconcile,
    )
    .await;
}

/// The ConfigMap's data as it should be.
fn wanted_data() -> BTreeMap<String, String> {
    BTreeMap::from([(DATA_KEY.to_string(), ROOT_CA.to_string())])
}

#[tracing::instrument(skip_all, fields(namespace = %ns.name_any()))]
async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Observe.
    if per_namespace::terminating(&ns) {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    let config_maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &name);
    let current = config_maps
        .get_opt(CONFIG_MAP)
        .await
        .map_err(|err| Error::Get(name.clone(), err))?;

    // Compare with desired, act.
    let Some(mut cm) = current else {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(CONFIG_MAP.into()),
                annotations: Some(BTreeMap::from([(
                    DESCRIPTION_ANNOTATION.to_string(),
                    DESCRIPTION.to_string(),
                )])),
                ..ObjectMeta::default()
            },
            data: Some(wanted_data()),
            ..ConfigMap::default()
        };
        return match config_maps.create(&PostParams::default(), &cm).await {
            Ok(_) => {
                tracing::info!("published the root CA bundle");
                Ok(Action::await_change())
            }
            // Created meanwhile: its event brings the namespace back.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Action::await_change()),
            // The namespace started terminating (403) or went (404): not retried, as
            // upstream.
            Err(kube::Error::Api(e)) if e.code == 403 || e.code == 404 => {
                Ok(Action::await_change())
            }
            Err(err) => Err(Error::Write(name, err)),
        };
    };
    let described = cm
        .annotations()
        .get(DESCRIPTION_ANNOTATION)
        .is_some_and(|d| !d.is_empty());
    if cm.data.as_ref() == Some(&wanted_data()) && described {
        return Ok(Action::await_change());
    }
    cm.data = Some(wanted_data());
    cm.annotations_mut()
        .insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
    // An update with the resourceVersion read: a concurrent writer makes it a 409,
    // retried by the error policy against the fresh object.
    config_maps
        .replace(CONFIG_MAP, &PostParams::default(), &cm)
        .await
        .map_err(|err| Error::Write(name, err))?;
    tracing::info!("restored the root CA bundle");
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_one_pem_certificate() {
        assert!(ROOT_CA.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(ROOT_CA.ends_with("-----END CERTIFICATE-----\n"));
        assert_eq!(ROOT_CA.matches("BEGIN").count(), 1);
    }
}
