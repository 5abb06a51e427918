//! The endpoints controller: a Service's `Endpoints` list the pods behind it.
//!
//! As upstream's `pkg/controller/endpoint` `syncService`: for a Service with a selector
//! (not `ExternalName`), every pod it selects that has an IP and is not finished becomes an
//! address — in `addresses` when Ready (or the Service publishes not-ready addresses), else
//! in `notReadyAddresses` — with its `nodeName` and a `targetRef`; terminating pods are left
//! out unless the Service publishes not-ready addresses. Each Service port is resolved
//! against the pod (`targetPort` by number, or by container port name). The Endpoints
//! object has the Service's name and labels (plus `service.kubernetes.io/headless` for
//! headless Services, and `endpoints.kubernetes.io/managed-by: endpoint-controller`) and
//! the `endpoints.kubernetes.io/last-change-trigger-time` annotation. A Service without
//! a selector has its Endpoints written by people. A Service that goes takes its
//! Endpoints with it, whoever wrote them, and Endpoints without a Service when the
//! controller starts are deleted ([`Orphans`]), as upstream's.
//!
//! The module also holds what the EndpointSlice controller shares: which pods back a
//! Service, pod readiness, port resolution and the pod → Service mapping.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Pod, Service,
    ServicePort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

/// The annotation naming when the pods or Service last changed in a way the endpoints show.
pub const TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";
/// The label headless Services' endpoints carry.
pub const HEADLESS: &str = "service.kubernetes.io/headless";
/// The label naming who manages an Endpoints object (`LabelManagedBy`), and our name in it.
pub const MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpoint-controller";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    CacheNotReady(#[from] crate::cache::NeverReady),
    #[error("writing endpoints {0} failed: {1}")]
    Write(String, #[source] kube::Error),
    #[error("deleting endpoints {0} failed: {1}")]
    Delete(String, #[source] kube::Error),
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
    let controller = controller
        .watches_stream(pod_events, move |pod| mapper.services_for(&pod))
        .watches(
            Api::<Endpoints>::all(client.clone()),
            watcher::Config::default(),
            |ep| {
                Some(
                    ObjectRef::<Service>::new(&ep.name_any())
                        .within(&ep.namespace().unwrap_or_default()),
                )
            },
        )
        .run(
            reconcile,
            error_policy,
            Arc::new(Context {
                client: client.clone(),
                services,
                pods,
            }),
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "endpoints reconcile");
            }
        });
    // A deleted Service is no longer in the cache, so the loop above never sees it: a
    // second loop keyed by Endpoints removes those whose Service is gone, as upstream's
    // deletion path and `checkLeftoverEndpoints` do.
    let orphans = Orphans::default();
    orphans.mark_at_start(&client).await;
    let leftovers = Controller::new(
        Api::<Endpoints>::all(client.clone()),
        watcher::Config::default(),
    );
    let deletions = service_deletions(&client, leftovers.store(), orphans.clone());
    let leftovers = leftovers
        .watches_stream(deletions, |svc| {
            Some(
                ObjectRef::<Endpoints>::new(&svc.name_any())
                    .within(&svc.namespace().unwrap_or_default()),
            )
        })
        .run(
            remove_leftover,
            |_, _, _| Action::requeue(Duration::from_secs(1)),
            Arc::new(Leftovers { client, orphans }),
        )
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "endpoints leftover check");
            }
        });
    futures::join!(controller, leftovers);
}

/// The Endpoints (namespace, name) that go when their Service is gone, whoever wrote
/// them: those of a Service seen deleted, and those found without a Service when the
/// controller starts. Upstream's endpoints controller deletes the Endpoints of every
/// Service that goes, selector or not, and at start every Endpoints without a Service
/// but a leader-election record; Endpoints written for a Service that does not exist
/// yet are left alone while it runs. Ours (with the trigger-time annotation) go
/// whenever their Service is gone. Each is noted with its uid, so Endpoints written
/// again under the same name after the Service went are not taken for it.
#[derive(Clone, Default)]
struct Orphans(Arc<parking_lot::Mutex<HashMap<(String, String), String>>>);

impl Orphans {
    fn key(namespace: Option<String>, name: String) -> (String, String) {
        (namespace.unwrap_or_default(), name)
    }

    /// `checkLeftoverEndpoints`: best effort, as upstream's (a failed list is logged).
    async fn mark_at_start(&self, client: &Client) {
        let params = kube::api::ListParams::default();
        let services = Api::<Service>::all(client.clone());
        let endpoints = Api::<Endpoints>::all(client.clone());
        // Services first: an Endpoints listed without its Service is checked again
        // (with a fresh read of the Service) before it is deleted.
        let listed = async {
            Ok::<_, kube::Error>((
                services.list(&params).await?,
                endpoints.list(&params).await?,
            ))
        };
        let (services, endpoints) = match listed.await {
            Ok(lists) => lists,
            Err(err) => {
                tracing::warn!(error = %err, "could not list endpoints; orphaned endpoints will not be cleaned up");
                return;
            }
        };
        let services: HashSet<_> = services
            .into_iter()
            .map(|s| Orphans::key(s.namespace(), s.name_any()))
            .collect();
        let mut orphans = self.0.lock();
        for ep in endpoints {
            let key = Orphans::key(ep.namespace(), ep.name_any());
            if !ep.annotations().contains_key(LEADER_ELECTION) && !services.contains(&key) {
                orphans.insert(key, ep.uid().unwrap_or_default());
            }
        }
    }
}

/// The annotation of the Endpoints old leader elections kept their record in, which the
/// check at start leaves alone.
const LEADER_ELECTION: &str = "control-plane.alpha.kubernetes.io/leader";

/// Deleted Services, noting those that leave Endpoints behind as [`Orphans`].
fn service_deletions(
    client: &Client,
    endpoints: Store<Endpoints>,
    orphans: Orphans,
) -> impl futures::Stream<Item = Result<Service, watcher::Error>> + Send + 'static {
    crate::cache::watch(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .filter_map(move |event| {
        let deleted = match event {
            Ok(watcher::Event::Delete(svc)) => {
                let key = Orphans::key(svc.namespace(), svc.name_any());
                let left = ObjectRef::<Endpoints>::new(&key.1).within(&key.0);
                if let Some(uid) = endpoints.get(&left).and_then(|ep| ep.uid()) {
                    orphans.0.lock().insert(key, uid);
                }
                Some(Ok(svc))
            }
            Ok(_) => None,
            Err(err) => Some(Err(err)),
        };
        std::future::ready(deleted)
    })
}

struct Leftovers {
    client: Client,
    orphans: Orphans,
}

/// Delete Endpoints whose Service is gone: ours, and [`Orphans`].
async fn remove_leftover(ep: Arc<Endpoints>, ctx: Arc<Leftovers>) -> Result<Action, Error> {
    let name = ep.name_any();
    let namespace = ep.namespace().unwrap_or_default();
    let key = (namespace.clone(), name.clone());
    let orphaned = {
        let mut orphans = ctx.orphans.0.lock();
        match orphans.get(&key) {
            Some(uid) if Some(uid) == ep.uid().as_ref() => true,
            // Written again after its Service went: not the one left behind.
            Some(_) => {
                orphans.remove(&key);
                false
            }
            None => false,
        }
    };
    if !orphaned && !ep.annotations().contains_key(TRIGGER_TIME) {
        return Ok(Action::await_change());
    }
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    let service = services
        .get_opt(&name)
        .await
        .map_err(|e| Error::Delete(name.clone(), e))?;
    if service.is_some() {
        ctx.orphans.0.lock().remove(&key);
        return Ok(Action::await_change());
    }
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: ep.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&name, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(err) => return Err(Error::Delete(name, err)),
    }
    ctx.orphans.0.lock().remove(&key);
    Ok(Action::await_change())
}

/// Maps a pod to the Services selecting it now and those that selected it before (so a
/// pod whose labels change leaves its old Service's endpoints).
pub(crate) struct PodMapper {
    services: Store<Service>,
    pods: Store<Pod>,
    last: Mutex<HashMap<String, HashSet<ObjectRef<Service>>>>,
}

impl PodMapper {
    pub(crate) fn new(services: Store<Service>, pods: Store<Pod>) -> Self {
        PodMapper {
            services,
            pods,
            last: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn services_for(&self, pod: &Pod) -> Vec<ObjectRef<Service>> {
        let namespace = pod.namespace().unwrap_or_default();
        let now: HashSet<ObjectRef<Service>> = self
            .services
            .state()
            .iter()
            .filter(|s| s.namespace().as_deref() == Some(namespace.as_str()) && selects(s, pod))
            .map(|s| ObjectRef::from_obj(s.as_ref()))
            .collect();
        let uid = pod.uid().unwrap_or_default();
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = last.insert(uid, now.clone());
        // Forget pods that are gone, now and then.
        if last.len() > 2 * self.pods.len() + 1024 {
            let live: HashSet<String> = self.pods.state().iter().filter_map(|p| p.uid()).collect();
            last.retain(|uid, _| live.contains(uid));
        }
        now.into_iter()
            .chain(before.into_iter().flatten())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    }
}

/// The Service's selector, if it manages endpoints: a non-empty selector, not ExternalName.
pub(crate) fn managed_selector(svc: &Service) -> Option<&BTreeMap<String, String>> {
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector.as_ref().filter(|s| !s.is_empty())
}

fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(selector) = managed_selector(svc) else {
        return false;
    };
    let labels = pod.labels();
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The pods that back `svc`: selected, with an IP, not finished, sorted by name.
/// Terminating ones are kept only if `include_terminating`
/// (`ShouldPodBeInEndpoints`).
pub(crate) fn backing_pods(
    pods: &Store<Pod>,
    svc: &Service,
    include_terminating: bool,
) -> Vec<Arc<Pod>> {
    let namespace = svc.namespace().unwrap_or_default();
    let mut out: Vec<Arc<Pod>> = pods
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == Some(namespace.as_str()) && selects(svc, p))
        .filter(|p| {
            let status = p.status.as_ref();
            let ip = status.and_then(|s| s.pod_ip.as_deref()).unwrap_or("");
            let finished = matches!(
                status.and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            );
            !ip.is_empty()
                && !finished
                && (include_terminating || p.metadata.deletion_timestamp.is_none())
        })
        .collect();
    out.sort_by_key(|p| p.name_any());
    out
}

/// `podutil.IsPodReady`: the Ready condition is True.
pub(crate) fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The Service's ports, and whether it publishes the addresses of pods not ready
/// (`spec.publishNotReadyAddresses`).
pub(crate) fn ports_and_publishing(svc: &Service) -> (Vec<ServicePort>, bool) {
    let spec = svc.spec.as_ref();
    (
        spec.and_then(|s| s.ports.clone()).unwrap_or_default(),
        spec.and_then(|s| s.publish_not_ready_addresses)
            .unwrap_or(false),
    )
}

/// `podutil.FindPort`: the pod's port for a Service port.
pub(crate) fn find_port(pod: &Pod, port: &ServicePort) -> Option<i32> {
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec
                .as_ref()?
                .containers
                .iter()
                .flat_map(|c| c.ports.iter().flatten())
                .find_map(|cp| {
                    (cp.name.as_deref() == Some(name.as_str())
                        && cp.protocol.as_deref().unwrap_or("TCP") == protocol)
                        .then_some(cp.container_port)
                })
        }
    }
}

/// The Service is headless (`clusterIP: None`).
pub(crate) fn headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// The hostname a pod has in a headless Service's DNS, as upstream sets it.
pub(crate) fn hostname(pod: &Pod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.clone().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == Some(svc.name_any().as_str())).then_some(host)
}

/// When the Service or its pods last changed, for [`TRIGGER_TIME`]: the latest of the
/// Service's creation and each pod's creation or last Ready transition.
pub(crate) fn trigger_time(svc: &Service, pods: &[Arc<Pod>]) -> Option<Time> {
    let mut times: Vec<&Time> = svc.metadata.creation_timestamp.iter().collect();
    for p in pods {
        times.extend(p.metadata.creation_timestamp.iter());
        let ready = p
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
        times.extend(ready.and_then(|c| c.last_transition_time.as_ref()));
    }
    times.into_iter().max_by_key(|t| t.0).cloned()
}

pub(crate) fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.namespace(),
        name: Some(pod.name_any()),
        uid: pod.uid(),
        ..ObjectReference::default()
    }
}

/// The subsets upstream computes: one per distinct port set, addresses sorted
/// (`RepackSubsets`).
fn subsets(svc: &Service, pods: &[Arc<Pod>]) -> Vec<EndpointSubset> {
    let (service_ports, publish_not_ready) = ports_and_publishing(svc);
    // Port set (as a sortable key) → (ports, ready addresses, not-ready addresses).
    let mut groups: BTreeMap<
        Vec<(String, i32, String)>,
        (
            Vec<EndpointPort>,
            Vec<EndpointAddress>,
            Vec<EndpointAddress>,
        ),
    > = BTreeMap::new();
    for pod in pods {
        let ip = pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .unwrap_or_default();
        let address = EndpointAddress {
            ip,
            hostname: hostname(pod, svc),
            node_name: pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .filter(|n| !n.is_empty()),
            target_ref: Some(target_ref(pod)),
        };
        let mut ports: Vec<EndpointPort> = service_ports
            .iter()
            .filter_map(|sp| {
                find_port(pod, sp).map(|port| EndpointPort {
                    name: sp.name.clone().filter(|n| !n.is_empty()),
                    port,
                    protocol: sp.protocol.clone(),
                    app_protocol: sp.app_protocol.clone(),
                })
            })
            .collect();
        // A pod with none of the ports is no endpoint, unless the headless Service has none.
        if ports.is_empty() && !(service_ports.is_empty() && headless(svc)) {
            continue;
        }
        ports.sort_by(|a, b| (a.name.clone(), a.port).cmp(&(b.name.clone(), b.port)));
        let key: Vec<(String, i32, String)> = ports
            .iter()
            .map(|p| {
                (
                    p.name.clone().unwrap_or_default(),
                    p.port,
                    p.protocol.clone().unwrap_or_default(),
                )
            })
            .collect();
        let group = groups
            .entry(key)
            .or_insert_with(|| (ports, Vec::new(), Vec::new()));
        if publish_not_ready || pod_ready(pod) {
            group.1.push(address);
        } else {
            group.2.push(address);
        }
    }
    groups
        .into_values()
        .map(|(ports, mut ready, mut not_ready)| {
            ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            not_ready.sort_by(|a, b| a.ip.cmp(&b.ip));
            EndpointSubset {
                addresses: Some(ready).filter(|a| !a.is_empty()),
                not_ready_addresses: Some(not_ready).filter(|a| !a.is_empty()),
                ports: Some(ports).filter(|p| !p.is_empty()),
            }
        })
        .collect()
}

#[tracing::instrument(skip_all, fields(service = %svc.name_any(), namespace = svc.namespace()))]
async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Not before the pod cache has listed: an empty one would empty the Endpoints.
    crate::cache::ready(&ctx.pods).await?;
    let name = svc.name_any();
    let namespace = svc.namespace().unwrap_or_default();
    let api: Api<Endpoints> = Api::namespaced(ctx.client.clone(), &namespace);
    // Observe: a Service that went takes its Endpoints along; one without a selector
    // leaves them to people.
    let live = ctx
        .services
        .get(&ObjectRef::from_obj(svc.as_ref()))
        .is_some_and(|s| s.uid() == svc.uid());
    if !live || svc.metadata.deletion_timestamp.is_some() {
        return match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(Action::await_change()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(Action::await_change()),
            Err(err) => Err(Error::Delete(name, err)),
        };
    }
    if managed_selector(&svc).is_none() {
        return Ok(Action::await_change());
    }

    // Compare: the desired subsets and labels against what is stored.
    // `ShouldPodBeInEndpoints`: terminating pods stay only when not-ready addresses are
    // published.
    let publish_not_ready = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let pods = backing_pods(&ctx.pods, &svc, publish_not_ready);
    let desired_subsets = subsets(&svc, &pods);
    let mut labels = svc.labels().clone();
    if headless(&svc) {
        labels.insert(HEADLESS.into(), String::new());
    } else {
        labels.remove(HEADLESS);
    }
    labels.insert(MANAGED_BY.into(), CONTROLLER_NAME.into());
    let current = api
        .get_opt(&name)
        .await
        .map_err(|e| Error::Write(name.clone(), e))?;
    if let Some(current) = &current {
        let same_subsets = current.subsets.clone().unwrap_or_default() == desired_subsets;
        if same_subsets && *current.labels() == labels {
            return Ok(Action::await_change());
        }
    }

    // Act: create or replace.
    let mut annotations = current
        .as_ref()
        .map(|c| c.annotations().clone())
        .unwrap_or_default();
    match trigger_time(&svc, &pods) {
        Some(t) => annotations.insert(TRIGGER_TIME.into(), t.0.to_string()),
        None => annotations.remove(TRIGGER_TIME),
    };
    let endpoints = Endpoints {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace),
            labels: Some(labels),
            annotations: Some(annotations).filter(|a| !a.is_empty()),
            resource_version: current.as_ref().and_then(|c| c.resource_version()),
            ..ObjectMeta::default()
        },
        subsets: Some(desired_subsets).filter(|s| !s.is_empty()),
    };
    let written = match current {
        Some(_) => api.replace(&name, &PostParams::default(), &endpoints).await,
        None => api.create(&PostParams::default(), &endpoints).await,
    };
    match written {
        Ok(_) => {
            tracing::debug!(pods = pods.len(), "endpoints written");
            Ok(Action::await_change())
        }
        // A stale read or a racing create: the next pass sees the fresh object.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            Ok(Action::requeue(Duration::from_millis(100)))
        }
        Err(err) => Err(Error::Write(name, err)),
    }
}

fn error_policy(_svc: Arc<Service>, err: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "endpoints reconcile failed; retrying");
    Action::requeue(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ip: &str, ready: bool) -> Arc<Pod> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
                "spec": {"nodeName": "node-1", "containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]},
                "status": {"podIP": ip, "phase": "Running", "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
            }))
            .unwrap(),
        )
    }

    fn svc(ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"selector": {"app": "web"}, "ports": ports}})).unwrap()
    }

    #[test]
    fn ready_and_not_ready_addresses_with_resolved_ports() {
        let s = svc(json!([{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}]));
        let got = subsets(
            &s,
            &[pod("b", "10.0.0.2", false), pod("a", "10.0.0.1", true)],
        );
        assert_eq!(got.len(), 1);
        let ready: Vec<_> = got[0]
            .addresses
            .iter()
            .flatten()
            .map(|a| a.ip.clone())
            .collect();
        let not_ready: Vec<_> = got[0]
            .not_ready_addresses
            .iter()
            .flatten()
            .map(|a| a.ip.clone())
            .collect();
        assert_eq!(
            (ready, not_ready),
            (vec!["10.0.0.1".to_string()], vec!["10.0.0.2".to_string()])
        );
        assert_eq!(got[0].ports.as_ref().unwrap()[0].port, 8080);
        let a = &got[0].addresses.as_ref().unwrap()[0];
        assert_eq!(a.node_name.as_deref(), Some("node-1"));
        assert_eq!(a.target_ref.as_ref().unwrap().name.as_deref(), Some("a"));
    }

    #[test]
    fn a_named_port_the_pod_lacks_leaves_it_out() {
        let s = svc(json!([{"port": 80, "targetPort": "metrics", "protocol": "TCP"}]));
        assert!(subsets(&s, &[pod("a", "10.0.0.1", true)]).is_empty());
        let s = svc(json!([{"port": 80, "targetPort": 9000, "protocol": "TCP"}]));
        assert_eq!(
            subsets(&s, &[pod("a", "10.0.0.1", true)])[0]
                .ports
                .as_ref()
                .unwrap()[0]
                .port,
            9000
        );
    }
}
