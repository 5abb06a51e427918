//! The EndpointSlice controller: a Service's pods as `discovery.k8s.io/v1` EndpointSlices.
//!
//! As upstream's `pkg/controller/endpointslice` with the staging reconciler: for a Service
//! with a selector (not `ExternalName`), every selected pod with an IP becomes an endpoint
//! — terminating pods too — with `conditions` (`serving`: Ready; `ready`: Ready and not
//! terminating, or the Service publishes not-ready addresses; `terminating`), `nodeName`
//! and a `targetRef`. Endpoints are grouped by their resolved ports (pods whose named
//! `targetPort` maps to different numbers land in different slices), at most
//! [`MAX_ENDPOINTS`] per slice.
//!
//! Slices are named by `generateName: <service>-`, owned by the Service (controller
//! reference with `blockOwnerDeletion`, so the garbage collector removes them with it),
//! labelled `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
//! endpointslice-controller.k8s.io` (plus the Service's labels, and
//! `service.kubernetes.io/headless` for headless Services), and annotated with
//! `endpoints.kubernetes.io/last-change-trigger-time`. A Service with no endpoints keeps one
//! empty placeholder slice, as upstream.
//!
//! To keep churn low, an endpoint stays in the slice it is in; new endpoints fill slices
//! with room before a new slice is made. Existing slices are read with a live LIST (by
//! label), so a slice this controller just created is never created twice.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::endpoints::{self, PodMapper};

/// The label naming a slice's Service.
pub const SERVICE_NAME: &str = "kubernetes.io/service-name";
/// The label naming who manages a slice.
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`MANAGED_BY`].
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// Upstream's default `--max-endpoints-per-slice`.
pub const MAX_ENDPOINTS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    CacheNotReady(#[from] crate::cache::NeverReady),
    #[error("listing endpoint slices of {0} failed: {1}")]
    List(String, #[source] kube::Error),
    #[error("writing an endpoint slice of {0} failed: {1}")]
    Write(String, #[source] kube::Error),
}

pub struct Context {
    client: Client,
    services: Store<Service>,
    pods: Store<Pod>,
}

/// Run the controller until the task is dropped.
pub async fn run(client: Client) {
    let (pods, pod_events) = crate::cache::with_changes::<Pod>(&client);
    let controller = Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    );
    let services = controller.store();
    let mapper = PodMapper::new(services.clone(), pods.clone());
    controller
        .watches_stream(pod_events, move |pod| mapper.services_for(&pod))
        .owns(
            Api::<EndpointSlice>::all(client.clone()),
            watcher::Config::default().labels(&format!("{MANAGED_BY}={CONTROLLER_NAME}")),
        )
        .run(
            reconcile,
            error_policy,
            Arc::new(Context {
                client,
                services,
                pods,
            }),
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "endpointslice reconcile");
            }
        })
        .await;
}

/// Ports as a sortable key: what makes two endpoints share a slice.
type PortKey = Vec<(String, i32, String)>;

fn port_key(ports: &[EndpointPort]) -> PortKey {
    let mut key: PortKey = ports
        .iter()
        .map(|p| {
            (
                p.name.clone().unwrap_or_default(),
                p.port.unwrap_or(0),
                p.protocol.clone().unwrap_or_default(),
            )
        })
        .collect();
    key.sort();
    key
}

/// The endpoints a Service should have, grouped by port set.
fn desired(
    svc: &Service,
    pods: &[Arc<Pod>],
) -> BTreeMap<PortKey, (Vec<EndpointPort>, Vec<Endpoint>)> {
    let (service_ports, publish_not_ready) = endpoints::ports_and_publishing(svc);
    let mut groups: BTreeMap<PortKey, (Vec<EndpointPort>, Vec<Endpoint>)> = BTreeMap::new();
    for pod in pods {
        let ports: Vec<EndpointPort> = service_ports
            .iter()
            .filter_map(|sp| {
                endpoints::find_port(pod, sp).map(|port| EndpointPort {
                    name: Some(sp.name.clone().unwrap_or_default()),
                    port: Some(port),
                    protocol: sp.protocol.clone(),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        if ports.is_empty() && !service_ports.is_empty() {
            continue;
        }
        let serving = endpoints::pod_ready(pod);
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let endpoint = Endpoint {
            addresses: vec![
                pod.status
                    .as_ref()
                    .and_then(|s| s.pod_ip.clone())
                    .unwrap_or_default(),
            ],
            conditions: Some(EndpointConditions {
                ready: Some(publish_not_ready || (serving && !terminating)),
                serving: Some(serving),
                terminating: Some(terminating),
            }),
            hostname: endpoints::hostname(pod, svc),
            node_name: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            target_ref: Some(endpoints::target_ref(pod)),
            ..Endpoint::default()
        };
        groups
            .entry(port_key(&ports))
            .or_insert_with(|| (ports, Vec::new()))
            .1
            .push(endpoint);
    }
    groups
}

fn endpoint_uid(e: &Endpoint) -> String {
    e.target_ref
        .as_ref()
        .and_then(|r| r.uid.clone())
        .unwrap_or_default()
}

/// One slice as it should be: an existing one (to update, if changed) or a new one.
#[derive(Debug, Clone, PartialEq)]
struct Planned {
    existing: Option<String>,
    ports: Vec<EndpointPort>,
    endpoints: Vec<Endpoint>,
}

/// Place desired endpoints into slices: an endpoint stays where it is; new ones fill
/// slices with room, then new slices. Returns the slices to keep/write and the names of
/// those to delete. A Service with no endpoints keeps one placeholder slice.
fn place(
    desired: BTreeMap<PortKey, (Vec<EndpointPort>, Vec<Endpoint>)>,
    existing: &[EndpointSlice],
) -> (Vec<Planned>, Vec<String>) {
    let mut planned = Vec::new();
    let mut delete = Vec::new();
    let mut claimed: HashSet<String> = HashSet::new();
    for (key, (ports, endpoints)) in &desired {
        let by_uid: BTreeMap<String, &Endpoint> =
            endpoints.iter().map(|e| (endpoint_uid(e), e)).collect();
        let mut placed: HashSet<String> = HashSet::new();
        let mut slices: Vec<Planned> = Vec::new();
        let mut changed: Vec<bool> = Vec::new();
        for slice in existing
            .iter()
            .filter(|s| port_key(s.ports.as_deref().unwrap_or(&[])) == *key)
        {
            let kept: Vec<Endpoint> = slice
                .endpoints
                .iter()
                .filter_map(|e| {
                    let uid = endpoint_uid(e);
                    let fresh = by_uid.get(&uid)?;
                    placed.insert(uid).then(|| (*fresh).clone())
                })
                .collect();
            claimed.insert(slice.name_any());
            changed.push(kept.len() != slice.endpoints.len());
            slices.push(Planned {
                existing: Some(slice.name_any()),
                ports: ports.clone(),
                endpoints: kept,
            });
        }
        let mut rest = endpoints
            .iter()
            .filter(|e| !placed.contains(&endpoint_uid(e)))
            .cloned()
            .peekable();
        // Slices that must be written anyway (they lost endpoints) are filled first, as
        // upstream's reconciler does, to write as few slices as possible.
        let order: Vec<usize> = (0..slices.len())
            .filter(|i| changed[*i])
            .chain((0..slices.len()).filter(|i| !changed[*i]))
            .collect();
        for i in order {
            let Some(slice) = slices.get_mut(i) else {
                continue;
            };
            while slice.endpoints.len() < MAX_ENDPOINTS {
                match rest.next() {
                    Some(e) => slice.endpoints.push(e),
                    None => break,
                }
            }
        }
        while rest.peek().is_some() {
            let chunk: Vec<Endpoint> = rest.by_ref().take(MAX_ENDPOINTS).collect();
            slices.push(Planned {
                existing: None,
                ports: ports.clone(),
                endpoints: chunk,
            });
        }
        for slice in slices {
            if slice.endpoints.is_empty() {
                delete.extend(slice.existing);
            } else {
                planned.push(slice);
            }
        }
    }
    let unclaimed = existing
        .iter()
        .map(|s| s.name_any())
        .filter(|n| !claimed.contains(n));
    delete.extend(unclaimed);
    if planned.is_empty() {
        // The placeholder: reuse an empty slice without ports if there is one.
        let reuse = existing
            .iter()
            .find(|s| s.endpoints.is_empty() && s.ports.as_ref().is_none_or(Vec::is_empty))
            .map(|s| s.name_any());
        delete.retain(|n| Some(n) != reuse.as_ref());
        planned.push(Planned {
            existing: reuse,
            ports: Vec::new(),
            endpoints: Vec::new(),
        });
    }
    delete.sort();
    delete.dedup();
    (planned, delete)
}

#[tracing::instrument(skip_all, fields(service = %svc.name_any(), namespace = svc.namespace()))]
async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    crate::cache::ready(&ctx.pods).await?;
    // Observe: a Service that went takes its slices along through the garbage collector.
    let live = ctx
        .services
        .get(&ObjectRef::from_obj(svc.as_ref()))
        .is_some_and(|s| s.uid() == svc.uid());
    if !live
        || svc.metadata.deletion_timestamp.is_some()
        || endpoints::managed_selector(&svc).is_none()
    {
        return Ok(Action::await_change());
    }
    let name = svc.name_any();
    let namespace = svc.namespace().unwrap_or_default();
    let api: Api<EndpointSlice> = Api::namespaced(ctx.client.clone(), &namespace);
    let selector = format!("{SERVICE_NAME}={name},{MANAGED_BY}={CONTROLLER_NAME}");
    let existing = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| Error::List(name.clone(), e))?
        .items;

    // Compare in pure code.
    let pods = endpoints::backing_pods(&ctx.pods, &svc, true);
    let (planned, delete) = place(desired(&svc, &pods), &existing);
    let labels = labels_for(&svc);
    let trigger = endpoints::trigger_time(&svc, &pods);

    // Act: delete emptied slices, write changed ones, create new ones.
    for gone in delete {
        match api.delete(&gone, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(Error::Write(name.clone(), e)),
        }
    }
    for slice in planned {
        let current = slice
            .existing
            .as_ref()
            .and_then(|n| existing.iter().find(|s| s.name_any() == *n));
        if let Some(current) = current {
            let same = current.endpoints == slice.endpoints
                && current.ports.clone().unwrap_or_default() == slice.ports
                && *current.labels() == labels;
            if same {
                continue;
            }
        }
        let mut annotations = current.map(|c| c.annotations().clone()).unwrap_or_default();
        if let Some(t) = &trigger {
            annotations.insert(endpoints::TRIGGER_TIME.into(), t.0.to_string());
        }
        let object = EndpointSlice {
            metadata: ObjectMeta {
                name: slice.existing.clone(),
                generate_name: Some(format!("{name}-")),
                namespace: Some(namespace.clone()),
                labels: Some(labels.clone()),
                annotations: Some(annotations).filter(|a| !a.is_empty()),
                owner_references: Some(vec![owner_reference(&svc)]),
                resource_version: current.and_then(|c| c.resource_version()),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            endpoints: slice.endpoints,
            ports: Some(slice.ports).filter(|p| !p.is_empty()),
        };
        let written = match &slice.existing {
            Some(existing) => api.replace(existing, &PostParams::default(), &object).await,
            None => api.create(&PostParams::default(), &object).await,
        };
        match written {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 || e.code == 404 => {
                return Ok(Action::requeue(Duration::from_millis(100)));
            }
            Err(e) => return Err(Error::Write(name.clone(), e)),
        }
    }
    Ok(Action::await_change())
}

fn labels_for(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.labels().clone();
    labels.insert(SERVICE_NAME.into(), svc.name_any());
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    if endpoints::headless(svc) {
        labels.insert(endpoints::HEADLESS.into(), String::new());
    } else {
        labels.remove(endpoints::HEADLESS);
    }
    labels
}

fn owner_reference(svc: &Service) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Service".into(),
        name: svc.name_any(),
        uid: svc.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn error_policy(_svc: Arc<Service>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "endpointslice reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ip: &str, ready: bool, port: i32) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
                "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": port}]}]},
                "status": {"podIP": ip, "phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
            }))
            .unwrap(),
        )
    }

    fn svc() -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}]}}))
        .unwrap()
    }

    fn slice(name: &str, ports: Vec<EndpointPort>, endpoints: Vec<Endpoint>) -> EndpointSlice {
        EndpointSlice {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            address_type: "IPv4".into(),
            endpoints,
            ports: Some(ports),
        }
    }

    #[test]
    fn conditions_follow_readiness_and_termination() {
        let mut terminating = (*pod("c", "10.0.0.3", true, 8080)).clone();
        terminating.metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
            ));
        let got = desired(
            &svc(),
            &[
                pod("a", "10.0.0.1", true, 8080),
                pod("b", "10.0.0.2", false, 8080),
                Arc::new(terminating),
            ],
        );
        let (ports, eps) = got.values().next().unwrap();
        assert_eq!(ports[0].port, Some(8080));
        let conds: Vec<_> = eps
            .iter()
            .map(|e| e.conditions.clone().unwrap())
            .map(|c| (c.ready, c.serving, c.terminating))
            .collect();
        assert_eq!(
            conds,
            vec![
                (Some(true), Some(true), Some(false)),
                (Some(false), Some(false), Some(false)),
                (Some(false), Some(true), Some(true))
            ]
        );
    }

    #[test]
    fn pods_with_different_ports_get_different_slices() {
        let got = desired(
            &svc(),
            &[
                pod("a", "10.0.0.1", true, 8080),
                pod("b", "10.0.0.2", true, 9090),
            ],
        );
        assert_eq!(got.len(), 2);
        let (planned, delete) = place(got, &[]);
        assert_eq!(planned.len(), 2);
        assert!(delete.is_empty());
    }

    #[test]
    fn endpoints_stay_in_their_slice_and_new_ones_fill_room() {
        let pods: Vec<Arc<Pod>> = (0..150)
            .map(|i| {
                pod(
                    &format!("p{i:03}"),
                    &format!("10.0.{}.{}", i / 200, i % 200),
                    true,
                    8080,
                )
            })
            .collect();
        let (planned, _) = place(desired(&svc(), &pods), &[]);
        assert_eq!(
            planned
                .iter()
                .map(|p| p.endpoints.len())
                .collect::<Vec<_>>(),
            vec![100, 50]
        );
        // Existing: slice "b" has p120 and p001; "a" is empty of desired endpoints.
        let d = desired(&svc(), &pods[..3]);
        let (ports, eps) = d.values().next().unwrap().clone();
        let stale = Endpoint {
            addresses: vec!["10.9.9.9".into()],
            target_ref: Some(endpoints::target_ref(&pod("gone", "1.1.1.1", true, 1))),
            ..Endpoint::default()
        };
        let existing = vec![
            slice("web-a", ports.clone(), vec![stale]),
            slice("web-b", ports, vec![eps[1].clone()]),
        ];
        // web-a lost its endpoint and must be written anyway: the new ones go there, and
        // web-b, unchanged, is not written.
        let (planned, delete) = place(d, &[existing[1].clone(), existing[0].clone()]);
        assert!(delete.is_empty(), "{delete:?}");
        let by_name: Vec<(Option<&str>, Vec<String>)> = planned
            .iter()
            .map(|p| {
                (
                    p.existing.as_deref(),
                    p.endpoints.iter().map(endpoint_uid).collect(),
                )
            })
            .collect();
        assert_eq!(
            by_name,
            vec![
                (Some("web-b"), vec!["uid-p001".to_string()]),
                (
                    Some("web-a"),
                    vec!["uid-p000".to_string(), "uid-p002".to_string()]
                )
            ]
        );
        // A slice left empty is deleted.
        let only = desired(&svc(), &pods[1..2]);
        let (planned, delete) = place(only, &existing);
        assert_eq!(delete, vec!["web-a".to_string()]);
        assert_eq!(planned.len(), 1);
    }

    #[test]
    fn no_endpoints_leaves_one_placeholder() {
        let (planned, delete) = place(BTreeMap::new(), &[]);
        assert_eq!(
            planned,
            vec![Planned {
                existing: None,
                ports: vec![],
                endpoints: vec![]
            }]
        );
        assert!(delete.is_empty());
        let existing = vec![
            slice("web-a", vec![], vec![]),
            slice(
                "web-b",
                vec![EndpointPort {
                    port: Some(80),
                    ..EndpointPort::default()
                }],
                vec![],
            ),
        ];
        let (planned, delete) = place(BTreeMap::new(), &existing);
        assert_eq!(planned[0].existing.as_deref(), Some("web-a"));
        assert_eq!(delete, vec!["web-b".to_string()]);
    }
}
