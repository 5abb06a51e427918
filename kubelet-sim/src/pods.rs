//! Pods: one watch over every bound pod, one worker per pod of ours.
//!
//! Upstream, each kubelet watches its own pods with the field selector
//! `spec.nodeName=<node>`. With thousands of simulated nodes in one process that would
//! be thousands of watches, so kubelet-sim keeps **one** watch over all pods with
//! `spec.nodeName!=` (bound pods only) and keeps those whose node is one of its own
//! (client-side). The API server still sends each bound pod's events once.
//!
//! A worker (upstream's pod worker, `pkg/kubelet/pod_workers.go`) owns one pod's
//! [`PodSim`]: it steps it at the simulated times things happen, writes `pods/status`
//! only when the status changed, and on `deletionTimestamp` runs the termination —
//! preStop, SIGTERM, kill at the end of the grace period — and then deletes the pod with
//! `gracePeriodSeconds=0`, as the kubelet finalises a deletion.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodStatus};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use kube::Api;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::watch;

use crate::Context;
use crate::logs::Line;
use crate::node::SimNode;
use crate::sim::PodSim;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not write the status of pod {pod}: {source}")]
    WriteStatus { pod: String, #[source] source: kube::Error },
    #[error("could not delete pod {pod}: {source}")]
    Delete { pod: String, #[source] source: kube::Error },
}

/// A running pod as the stats endpoint sees it.
#[derive(Debug, Clone)]
pub struct Running {
    pub node: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub sim: Arc<Mutex<PodSim>>,
}

fn node_of<'a>(ctx: &'a Context, pod: &Pod) -> Option<&'a Arc<SimNode>> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).and_then(|n| ctx.nodes.get(n))
}

/// Watch bound pods and hand ours to their workers, until the process stops.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    let stream = watcher(api, config).default_backoff();
    futures::pin_mut!(stream);
    let mut workers: HashMap<String, watch::Sender<Option<Arc<Pod>>>> = HashMap::new();
    let mut seen: Option<Vec<String>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => seen = Some(Vec::new()),
            Ok(watcher::Event::InitApply(pod)) => {
                if let Some(seen) = seen.as_mut() {
                    seen.extend(pod.metadata.uid.clone());
                }
                dispatch(&ctx, &mut workers, pod);
            }
            Ok(watcher::Event::InitDone) => {
                // Pods gone while we were not watching.
                if let Some(seen) = seen.take() {
                    workers.retain(|uid, tx| {
                        let keep = seen.contains(uid);
                        if !keep {
                            let _ = tx.send(None);
                        }
                        keep
                    });
                }
            }
            Ok(watcher::Event::Apply(pod)) => dispatch(&ctx, &mut workers, pod),
            Ok(watcher::Event::Delete(pod)) => {
                if let Some(tx) = pod.metadata.uid.as_ref().and_then(|uid| workers.remove(uid)) {
                    let _ = tx.send(None);
                }
            }
            Err(e) => tracing::debug!(error = %e, "pod watch"),
        }
        workers.retain(|_, tx| !tx.is_closed());
    }
}

fn dispatch(ctx: &Arc<Context>, workers: &mut HashMap<String, watch::Sender<Option<Arc<Pod>>>>, pod: Pod) {
    let Some(uid) = pod.metadata.uid.clone() else { return };
    if node_of(ctx, &pod).is_none() {
        return;
    }
    let pod = Arc::new(pod);
    match workers.get(&uid) {
        Some(tx) if !tx.is_closed() => {
            let _ = tx.send(Some(pod));
        }
        _ => {
            let span = tracing::debug_span!("pod", pod = %key(&pod));
            let (tx, rx) = watch::channel(Some(pod));
            workers.insert(uid, tx);
            tokio::spawn(tracing::Instrument::instrument(worker(ctx.clone(), rx), span));
        }
    }
}

fn key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

/// One pod's worker, until the pod is gone.
async fn worker(ctx: Arc<Context>, mut rx: watch::Receiver<Option<Arc<Pod>>>) {
    let Some(mut pod) = rx.borrow_and_update().clone() else { return };
    let Some(node) = node_of(&ctx, &pod).cloned() else { return };
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let name = pod.metadata.name.clone().unwrap_or_default();
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), &namespace);
    let host_ip = ctx.endpoint.ip().to_string();
    let host_network = pod.spec.as_ref().and_then(|s| s.host_network).unwrap_or(false);
    let pod_ip = if host_network { Some(host_ip.clone()) } else { node.allocate_ip(&uid) };
    let pod_ip = pod_ip.unwrap_or_default();
    let clock = ctx.clock;

    let sim = match PodSim::new(&pod, clock.now()) {
        Ok(sim) => sim,
        Err(e) => {
            // As a kubelet with a container it cannot configure.
            let status = config_error_status(&pod, &e.to_string());
            let _ = write_status(&api, &name, &status).await;
            wait_gone_or_delete(&ctx, &api, &mut rx, &name, &uid).await;
            node.release_ip(&uid);
            return;
        }
    };
    let sim = Arc::new(Mutex::new(sim));
    ctx.running.lock().insert(uid.clone(), Running { node: node.name.clone(), namespace: namespace.clone(), name: name.clone(), uid: uid.clone(), sim: sim.clone() });
    let mut restarts = node.restarts.subscribe();
    restarts.borrow_and_update();

    // The first status: admitted, nothing started yet.
    let already_terminal = matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"));
    let mut written: Option<PodStatus> = None;
    if !already_terminal {
        let status = sim.lock().status(&pod, &clock, clock.now(), &host_ip, &pod_ip);
        if write_status(&api, &name, &status).await.is_ok() {
            written = Some(status);
        }
    }
    loop {
        let now = clock.now();
        let deleting = pod.metadata.deletion_timestamp.is_some();
        let (status, next, done) = {
            let mut sim = sim.lock();
            if deleting && !sim.terminating {
                let grace = pod.metadata.deletion_grace_period_seconds.unwrap_or(30).max(0) as u64;
                sim.terminate(now, Duration::from_secs(grace));
            }
            sim.step(now);
            for event in sim.logs.drain(..) {
                ctx.logs.append(
                    (namespace.clone(), name.clone(), event.container),
                    event.restart,
                    Line { time: clock.wall(event.at), text: event.text },
                );
            }
            let status = sim.status(&pod, &clock, now, &host_ip, &pod_ip);
            let done = deleting && sim.all_stopped();
            (status, sim.next_event(now), done)
        };
        if !already_terminal && written.as_ref() != Some(&status) {
            match write_status(&api, &name, &status).await {
                Ok(()) => written = Some(status),
                Err(Error::WriteStatus { source: kube::Error::Api(s), .. }) if s.code == 404 => break,
                Err(e) => {
                    tracing::warn!(error = %e, "status");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        if done || deleting && already_terminal {
            let params = DeleteParams { grace_period_seconds: Some(0), preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }), ..Default::default() };
            match api.delete(&name, &params).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(source) => {
                    tracing::warn!(error = %Error::Delete { pod: name.clone(), source }, "delete");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            // Wait for the DELETED event.
            while rx.changed().await.is_ok() {
                if rx.borrow().is_none() {
                    break;
                }
            }
            break;
        }
        let sleep = match next {
            Some(at) => tokio::time::sleep_until(clock.instant(at).into()),
            None => tokio::time::sleep(Duration::from_secs(86_400 * 365)),
        };
        tokio::select! {
            _ = sleep => {}
            changed = rx.changed() => {
                if changed.is_err() {
                    break;
                }
                match rx.borrow_and_update().clone() {
                    Some(p) => pod = p,
                    None => break,
                }
            }
            changed = restarts.changed() => {
                if changed.is_ok() {
                    sim.lock().node_restarted(clock.now());
                } else {
                    // The node is gone from this process; keep simulating.
                    restarts = watch::channel(0).1;
                }
            }
        }
    }
    ctx.running.lock().remove(&uid);
    ctx.logs.remove_pod(&namespace, &name);
    node.release_ip(&uid);
}

async fn write_status(api: &Api<Pod>, name: &str, status: &PodStatus) -> Result<(), Error> {
    let body = json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
        .map(|_| ())
        .map_err(|source| Error::WriteStatus { pod: name.to_string(), source })
}

/// A pod whose behaviour annotations do not parse: its containers wait with
/// `CreateContainerConfigError`, as for a container the kubelet cannot configure.
fn config_error_status(pod: &Pod, message: &str) -> PodStatus {
    let statuses = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .map(|c| ContainerStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            image_id: String::new(),
            ready: false,
            restart_count: 0,
            started: Some(false),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some("CreateContainerConfigError".into()), message: Some(message.to_string()) }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    PodStatus { phase: Some("Pending".into()), container_statuses: Some(statuses), ..pod.status.clone().unwrap_or_default() }
}

async fn wait_gone_or_delete(ctx: &Context, api: &Api<Pod>, rx: &mut watch::Receiver<Option<Arc<Pod>>>, name: &str, uid: &str) {
    let _ = ctx;
    loop {
        let deleting = rx.borrow().as_ref().map(|p| p.metadata.deletion_timestamp.is_some());
        match deleting {
            None => return,
            Some(true) => {
                let params = DeleteParams { grace_period_seconds: Some(0), preconditions: Some(Preconditions { uid: Some(uid.to_string()), resource_version: None }), ..Default::default() };
                let _ = api.delete(name, &params).await;
                return;
            }
            Some(false) => {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }
}
