//! The root CA publisher against a real API server: every namespace gets
//! `kube-root-ca.crt`, a deleted one comes back, a changed one is written back (keeping
//! other annotations), and a namespace being deleted gets nothing new.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use kubesim_controllers::root_ca_publisher::{
    CONFIG_MAP, DATA_KEY, DESCRIPTION, DESCRIPTION_ANNOTATION, ROOT_CA,
};
use serde_json::json;

use crate::common::{eventually, server};

async fn create_namespace(client: &Client, name: &str) {
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}})).unwrap(),
        )
        .await
        .unwrap();
}

/// The bundle of `namespace` once it is as published (and, if given, not the one with
/// uid `not`).
async fn published(client: &Client, namespace: &str, not: Option<&str>) -> ConfigMap {
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    eventually(10, &format!("{CONFIG_MAP} in {namespace}"), || async {
        cms.get_opt(CONFIG_MAP).await.unwrap().filter(|cm| {
            let data = cm.data.clone().unwrap_or_default();
            data.len() == 1
                && data.get(DATA_KEY).map(String::as_str) == Some(ROOT_CA)
                && cm
                    .annotations()
                    .get(DESCRIPTION_ANNOTATION)
                    .map(String::as_str)
                    == Some(DESCRIPTION)
                && not.is_none_or(|uid| cm.uid().as_deref() != Some(uid))
        })
    })
    .await
}

#[tokio::test]
async fn every_namespace_gets_the_root_ca_bundle_and_keeps_it() {
    let (_url, client) = server().await;
    tokio::spawn(kubesim_controllers::root_ca_publisher::run(client.clone()));
    create_namespace(&client, "team-a").await;
    for ns in [
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "team-a",
    ] {
        let cm = published(&client, ns, None).await;
        assert_eq!(
            cm.managed_fields()
                .first()
                .and_then(|m| m.manager.as_deref()),
            Some("kube-controller-manager"),
            "{cm:?}"
        );
    }

    // Deleted, it comes back as a new object.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
    let before = cms.get(CONFIG_MAP).await.unwrap().uid().unwrap_or_default();
    cms.delete(CONFIG_MAP, &DeleteParams::default())
        .await
        .unwrap();
    published(&client, "team-a", Some(&before)).await;

    // Changed, the bundle and the description are written back; an annotation of the
    // user's stays, a data key of theirs goes, as upstream replaces the data.
    let edit = json!({"metadata": {"annotations": {
            DESCRIPTION_ANNOTATION: "", "team": "a"}},
        "data": {DATA_KEY: "not a certificate", "extra": "x"}});
    cms.patch(CONFIG_MAP, &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let restored = published(&client, "team-a", None).await;
    assert_eq!(
        restored.annotations().get("team").map(String::as_str),
        Some("a")
    );

    // A namespace being deleted (no namespace controller here to empty it) gets nothing
    // new.
    Api::<Namespace>::all(client.clone())
        .delete("team-a", &DeleteParams::default())
        .await
        .unwrap();
    cms.delete(CONFIG_MAP, &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(cms.get_opt(CONFIG_MAP).await.unwrap().is_none());
    // The others are untouched.
    published(&client, "default", None).await;
}
