//! Pods as the scheduler watches them: decoded without `metadata.managedFields`.
//!
//! The scheduler never reads who manages which field, yet managedFields are a large part
//! of every pod event (a created pod's lists every field it was created with), and
//! decoding then dropping them was a sizeable share of the scheduler's CPU. Upstream's
//! informers trim them after decoding (client-go's `TransformStripManagedFields`); here
//! the decoder skips them without building them at all.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};
use serde::{Deserialize, Deserializer};

/// A [`Pod`] whose `metadata.managedFields` was skipped while decoding.
#[derive(Clone, Debug, Default)]
pub struct TrimmedPod(pub Pod);

impl<'de> Deserialize<'de> for TrimmedPod {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Fields {
            #[serde(default, with = "MetadataWithoutManagedFields")]
            metadata: ObjectMeta,
            #[serde(default)]
            spec: Option<PodSpec>,
            #[serde(default)]
            status: Option<PodStatus>,
        }
        let f = Fields::deserialize(deserializer)?;
        Ok(TrimmedPod(Pod {
            metadata: f.metadata,
            spec: f.spec,
            status: f.status,
        }))
    }
}

/// `ObjectMeta`'s fields, managedFields left out: serde skips that key unread. Listing
/// the fields here (a remote derive) makes a field added to `ObjectMeta` a compile error
/// rather than a field silently lost.
#[derive(Deserialize)]
#[serde(remote = "ObjectMeta", rename_all = "camelCase")]
struct MetadataWithoutManagedFields {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip)]
    managed_fields: Option<Vec<ManagedFieldsEntry>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl k8s_openapi::Resource for TrimmedPod {
    const API_VERSION: &'static str = <Pod as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Pod as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Pod as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Pod as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Pod as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Pod as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for TrimmedPod {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.0.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.0.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_but_managed_fields_is_decoded() {
        let json = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7", "generation": 1,
                "labels": {"app": "web"}, "annotations": {"a": "b"}, "finalizers": ["f"],
                "creationTimestamp": "2026-12-04T20:00:00Z", "deletionTimestamp": null, "generateName": "web-",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u0", "controller": true}],
                "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
            },
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running"}
        });
        let full: Pod = serde_json::from_value(json.clone()).unwrap();
        let trimmed: TrimmedPod = serde_json::from_value(json).unwrap();
        let mut expected = full;
        expected.metadata.managed_fields = None;
        assert_eq!(trimmed.0, expected);
    }
}
