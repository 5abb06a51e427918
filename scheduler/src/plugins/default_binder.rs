//! DefaultBinder: `POST /api/v1/namespaces/{ns}/pods/{name}/binding` with a `Binding`
//! naming the node — the one write that assigns a pod. The API server answers 409 when the
//! pod is already bound (another scheduler won) or being deleted.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, PostParams};

use crate::framework::{Bind, BindRequest, Plugin, Status};

pub const NAME: &str = "DefaultBinder";

pub struct DefaultBinder {
    client: Option<Client>,
}

impl DefaultBinder {
    /// Without a client every bind fails (for offline use of the framework).
    pub fn new(client: Option<Client>) -> Self {
        DefaultBinder { client }
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_bind(self: Arc<Self>) -> Option<Arc<dyn Bind>> {
        Some(self)
    }
}

/// The Binding object for a request.
pub fn binding(req: &BindRequest) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: Some(req.name.clone()),
            namespace: Some(req.namespace.clone()),
            uid: req.uid.clone(),
            annotations: (!req.annotations.is_empty()).then(|| {
                req.annotations
                    .clone()
                    .into_iter()
                    .collect::<BTreeMap<_, _>>()
            }),
            ..Default::default()
        },
        target: ObjectReference {
            kind: Some("Node".into()),
            name: Some(req.node.clone()),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binding_names_pod_uid_node_and_annotations() {
        let req = BindRequest {
            namespace: "prod".into(),
            name: "web-1".into(),
            uid: Some("u-1".into()),
            node: "node-2".into(),
            annotations: [("a".to_string(), "b".to_string())].into(),
        };
        let body = serde_json::to_value(binding(&req)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web-1", "namespace": "prod", "uid": "u-1", "annotations": {"a": "b"}},
                "target": {"kind": "Node", "name": "node-2"}})
        );
        let req = BindRequest {
            annotations: BTreeMap::new(),
            ..req
        };
        assert!(
            serde_json::to_value(binding(&req)).unwrap()["metadata"]
                .get("annotations")
                .is_none()
        );
    }
}

impl Bind for DefaultBinder {
    fn bind(&self, req: BindRequest) -> BoxFuture<'static, Status> {
        let client = self.client.clone();
        Box::pin(async move {
            let Some(client) = client else {
                return Status::error("no API client");
            };
            let pods: Api<Pod> = Api::namespaced(client, &req.namespace);
            let body = binding(&req);
            match pods
                .create_subresource::<Binding, serde_json::Value>(
                    "binding",
                    &req.name,
                    &PostParams::default(),
                    &body,
                )
                .await
            {
                Ok(_) => Status::success(),
                // The API's own message, as upstream's `err.Error()` of a StatusError.
                Err(kube::Error::Api(e)) => Status::error(e.message),
                Err(e) => Status::error(e.to_string()),
            }
        })
    }
}
