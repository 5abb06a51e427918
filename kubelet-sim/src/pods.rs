//! Pods: one watch over every bound pod, one worker per pod of ours.
//!
//! Upstream, each kubelet watches its own pods with the field selector
//! `spec.nodeName=<node>`. With thousands of simulated nodes in one process that would
//! be thousands of watches, so kubelet-sim keeps **one** watch over all pods with
//! `spec.nodeName!=` (bound pods only) and keeps those whose node is one of its own
//! (client-side). The API server still sends each bound pod's events once.
//!
//! A worker (upstream's pod worker, `pkg/kubelet/pod_workers.go`) owns one pod:
//!
//! 1. **Admission** ([`crate::admission`]): a pod that does not fit is rejected —
//!    `Failed`, `OutOfcpu`, "Pod was rejected: ..." — and never started.
//! 2. Its [`PodSim`] is stepped at the simulated times things happen; `pods/status` is
//!    written (merge patch) only when the status changed, or when someone else changed
//!    what the kubelet owns (the node lifecycle controller marking it not Ready): the
//!    kubelet's status manager reconciles the same way. Log lines go to [`crate::logs`],
//!    Events to the [`crate::events`] recorder.
//! 3. On `deletionTimestamp` it runs the termination — preStop, SIGTERM, kill at the
//!    end of the grace period (sooner if a second delete shortens it) — and then
//!    deletes the pod with `gracePeriodSeconds=0`, as the kubelet finalises a deletion.
//!
//! A pod already running when the worker starts (kubelet-sim restarted) is adopted:
//! its containers go on from the status the previous process wrote.
//!
//! While its node is stopped (`kubesim node stop`) a worker writes nothing at all — no
//! status, no Event, no delete — as a dead kubelet; its containers go on in simulated
//! time, and when the node starts again the worker catches up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, PodStatus};
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::Context;
use crate::admission::Rejection;
use crate::events::Record;
use crate::logs::Line;
use crate::node::SimNode;
use crate::sim::{PodSim, SimEvent};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not write the status of pod {pod}: {source}")]
    WriteStatus {
        pod: String,
        #[source]
        source: kube::Error,
    },
    #[error("could not delete pod {pod}: {source}")]
    Delete {
        pod: String,
        #[source]
        source: kube::Error,
    },
}

/// A pod with a worker, as the kubelet endpoint (logs, stats) sees it.
#[derive(Debug, Clone)]
pub struct Running {
    pub node: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub sim: Arc<Mutex<PodSim>>,
}

fn node_of<'a>(ctx: &'a Context, pod: &Pod) -> Option<&'a Arc<SimNode>> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .and_then(|n| ctx.nodes.get(n))
}

/// Watch bound pods and hand ours to their workers, until the process stops.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<Pod> = Api::all(ctx.client.clone());
    let config = watcher::Config::default().fields("spec.nodeName!=");
    // Without managedFields: nothing here reads them, and with thousands of pods they
    // are most of this process's memory.
    let stream = watcher(api, config)
        .modify(|pod| pod.managed_fields_mut().clear())
        .default_backoff();
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
                if let Some(tx) = pod
                    .metadata
                    .uid
                    .as_ref()
                    .and_then(|uid| workers.remove(uid))
                {
                    let _ = tx.send(None);
                }
            }
            Err(e) => tracing::debug!(error = %e, "pod watch"),
        }
        workers.retain(|_, tx| !tx.is_closed());
    }
}

fn dispatch(
    ctx: &Arc<Context>,
    workers: &mut HashMap<String, watch::Sender<Option<Arc<Pod>>>>,
    pod: Pod,
) {
    let Some(uid) = pod.metadata.uid.clone() else {
        return;
    };
    let Some(node) = node_of(ctx, &pod).cloned() else {
        return;
    };
    let pod = Arc::new(pod);
    match workers.get(&uid) {
        Some(tx) if !tx.is_closed() => {
            let _ = tx.send(Some(pod));
        }
        _ => {
            tracing::debug!(pod = %key(&pod), "pod received");
            let span = tracing::debug_span!("pod", pod = %key(&pod), node = %node.name);
            let (tx, rx) = watch::channel(Some(pod));
            workers.insert(uid, tx);
            tokio::spawn(tracing::Instrument::instrument(
                worker(ctx.clone(), node, rx),
                span,
            ));
        }
    }
}

fn key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.name.as_deref().unwrap_or("")
    )
}

/// What the status manager compares to notice that someone else changed what the
/// kubelet owns: the phase and its conditions' statuses.
fn owned(status: &PodStatus) -> (Option<&str>, Vec<(&str, &str)>) {
    let conditions = status
        .conditions
        .iter()
        .flatten()
        .filter(|c| crate::sim::KUBELET_CONDITIONS.contains(&c.type_.as_str()))
        .map(|c| (c.type_.as_str(), c.status.as_str()))
        .collect();
    (status.phase.as_deref(), conditions)
}

fn revision(pod: &Pod) -> u64 {
    pod.metadata
        .resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

/// The pod's phase in the API server when it is terminal (`Succeeded` or `Failed`).
fn api_terminal_phase(pod: &Pod) -> Option<&'static str> {
    match pod.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Succeeded") => Some("Succeeded"),
        Some("Failed") => Some("Failed"),
        _ => None,
    }
}

/// One pod's worker.
struct Worker {
    ctx: Arc<Context>,
    node: Arc<SimNode>,
    api: Api<Pod>,
    rx: watch::Receiver<Option<Arc<Pod>>>,
    pod: Arc<Pod>,
    name: String,
    uid: String,
    host_ip: String,
    /// The status last written, and the revision that write made.
    written: Option<(PodStatus, u64)>,
}

/// One pod's worker, until the pod is gone.
async fn worker(ctx: Arc<Context>, node: Arc<SimNode>, mut rx: watch::Receiver<Option<Arc<Pod>>>) {
    let Some(pod) = rx.borrow_and_update().clone() else {
        return;
    };
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let mut w = Worker {
        api: Api::namespaced(ctx.client.clone(), &namespace),
        host_ip: ctx.endpoint.ip().to_string(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
        written: None,
        ctx,
        node,
        rx,
        pod,
    };
    if w.until_node_runs().await {
        if api_terminal_phase(&w.pod).is_some() {
            // Finished before we saw it (a previous process ran it): only the deletion is left.
            w.finalize_when_deleted().await;
        } else {
            match w.node.admit(&w.pod) {
                Ok(()) => w.run().await,
                Err(rejection) => {
                    w.reject(rejection).await;
                    w.finalize_when_deleted().await;
                }
            }
        }
    }
    w.ctx.running.lock().remove(&w.uid);
    w.ctx.logs.remove_pod(&w.uid);
    w.node.release(&w.uid);
    w.node.release_ip(&w.uid);
}

impl Worker {
    /// Take the newest pod from the watch; `false` when it is gone.
    fn refresh(&mut self) -> bool {
        match self.rx.borrow_and_update().clone() {
            Some(pod) => {
                self.pod = pod;
                true
            }
            None => false,
        }
    }

    /// Wait until the pod changes; `false` when it is gone.
    async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok() && self.refresh()
    }

    /// Wait while the node is stopped; `false` if the pod is gone meanwhile.
    async fn until_node_runs(&mut self) -> bool {
        let mut faults = self.node.faults.subscribe();
        while faults.borrow_and_update().stopped {
            tokio::select! {
                changed = faults.changed() => if changed.is_err() { return false },
                alive = self.changed() => if !alive { return false },
            }
        }
        self.refresh()
    }

    /// The pod's simulation until it is deleted.
    async fn run(&mut self) {
        let ctx = self.ctx.clone();
        let clock = ctx.clock;
        let host_network = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.host_network)
            .unwrap_or(false);
        let Some(pod_ip) = (if host_network {
            Some(self.host_ip.clone())
        } else {
            self.pod_ip().await
        }) else {
            return;
        };
        let mut sim = PodSim::new(&self.pod, clock.now(), self.node.images.lock().clone());
        if let Some(status) = self
            .pod
            .status
            .as_ref()
            .filter(|s| s.container_statuses.is_some())
        {
            sim.adopt(status, &clock, clock.now());
        }
        sim.set_pod_ip(&pod_ip);
        let sim = Arc::new(Mutex::new(sim));
        let running = Running {
            node: self.node.name.clone(),
            namespace: self.api_namespace(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            sim: sim.clone(),
        };
        ctx.running.lock().insert(self.uid.clone(), running);
        let mut restarts = self.node.restarts.subscribe();
        restarts.borrow_and_update();
        loop {
            if self.node.stopped() && !self.until_node_runs().await {
                return;
            }
            let now = clock.now();
            let deleting = self.pod.metadata.deletion_timestamp.is_some();
            // Someone else (the pod GC, a user) set a terminal phase: as the kubelet does, stop
            // the containers and keep that phase, since a pod never leaves a terminal phase.
            let api_terminal = api_terminal_phase(&self.pod);
            let (mut status, next, done, terminal, events) = {
                let mut sim = sim.lock();
                if deleting {
                    let grace = self
                        .pod
                        .metadata
                        .deletion_grace_period_seconds
                        .unwrap_or(30)
                        .max(0)
                        .unsigned_abs();
                    sim.terminate(now, Duration::from_secs(grace));
                } else if api_terminal.is_some() {
                    let grace = self
                        .pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.termination_grace_period_seconds)
                        .unwrap_or(30)
                        .max(0)
                        .unsigned_abs();
                    sim.terminate(now, Duration::from_secs(grace));
                }
                sim.step(now);
                for line in sim.logs.drain(..) {
                    let key = (self.uid.clone(), line.container);
                    ctx.logs.append(
                        key,
                        &line.container_id,
                        Line {
                            time: clock.wall(line.at),
                            text: line.text,
                        },
                        line.ends,
                    );
                }
                // Images this pod pulled are on the node for the next pods.
                let mut images = self.node.images.lock();
                for image in sim
                    .images
                    .iter()
                    .filter(|i| !images.contains(*i))
                    .cloned()
                    .collect::<Vec<_>>()
                {
                    images.insert(image);
                }
                drop(images);
                let events: Vec<SimEvent> = sim.events.drain(..).collect();
                let status = sim.status(&self.pod, &clock, now, &self.host_ip, &pod_ip);
                (
                    status,
                    sim.next_event(now),
                    deleting && sim.all_stopped() && sim.is_terminal(),
                    sim.is_terminal(),
                    events,
                )
            };
            self.record(&events);
            if let Some(phase) = api_terminal
                && status.phase.as_deref() != Some(phase)
            {
                tracing::debug!(
                    from = phase,
                    to = status.phase.as_deref().unwrap_or(""),
                    "keeping the terminal phase set in the API"
                );
                status.phase = Some(phase.to_string());
            }
            if terminal {
                // A finished pod holds no resources on its node.
                self.node.release(&self.uid);
            }
            if !self.write_if_changed(status).await {
                continue;
            }
            if done {
                self.delete().await;
                return;
            }
            let sleep = match next {
                Some(at) => tokio::time::sleep_until(clock.instant(at).into()),
                None => tokio::time::sleep(Duration::from_secs(86_400 * 365)),
            };
            tokio::select! {
                _ = sleep => {}
                alive = self.changed() => if !alive { return },
                changed = restarts.changed() => {
                    if changed.is_ok() {
                        sim.lock().node_restarted(clock.now());
                    } else {
                        restarts = watch::channel(0).1;
                    }
                }
            }
        }
    }

    fn api_namespace(&self) -> String {
        self.pod.metadata.namespace.clone().unwrap_or_default()
    }

    /// An IP for the pod from its node's range. With none free the sandbox cannot be
    /// created (as the host-local IPAM plugin fails): the pod stays `ContainerCreating`
    /// with a `FailedCreatePodSandBox` Event, and tries again when an IP is released
    /// (and every 10 s).
    async fn pod_ip(&mut self) -> Option<String> {
        let adopted = self
            .pod
            .status
            .as_ref()
            .and_then(|s| s.pod_ip.clone())
            .filter(|ip| self.node.reserve_ip(&self.uid, ip));
        if adopted.is_some() {
            return adopted;
        }
        let mut reported = false;
        let node = self.node.clone();
        loop {
            let released = node.ip_released.notified();
            if let Some(ip) = self.node.allocate_ip(&self.uid) {
                return Some(ip);
            }
            if !reported && !self.node.stopped() {
                reported = true;
                let clock = self.ctx.clock;
                let sim = PodSim::new(&self.pod, clock.now(), Default::default());
                let status = sim.status(&self.pod, &clock, clock.now(), &self.host_ip, "");
                self.write_if_changed(status).await;
                let range = self.node.pod_cidr.trim_end_matches("0/24");
                let message = format!(
                    "Failed to create pod sandbox: plugin type=\"host-local\" failed (add): failed to allocate for range 0: no IP addresses available in range set: {range}1-{range}254"
                );
                let event = SimEvent {
                    field_path: None,
                    at: clock.now(),
                    warning: true,
                    reason: "FailedCreatePodSandBox",
                    message,
                    count: 1,
                };
                self.record(&[event]);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                _ = released => {}
                alive = self.changed() => if !alive || self.pod.metadata.deletion_timestamp.is_some() {
                    if alive {
                        self.delete().await;
                    }
                    return None;
                },
            }
        }
    }

    /// Hand the simulation's Events to the recorder.
    fn record(&self, events: &[SimEvent]) {
        for e in events {
            self.record_one(
                e.field_path.clone(),
                e.warning,
                e.reason,
                e.message.clone(),
                self.ctx.clock.wall(e.at),
                e.count,
            );
        }
    }

    fn record_one(
        &self,
        field_path: Option<String>,
        warning: bool,
        reason: &str,
        message: String,
        time: jiff::Timestamp,
        count: u32,
    ) {
        let object = ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            namespace: self.pod.metadata.namespace.clone(),
            name: Some(self.name.clone()),
            uid: Some(self.uid.clone()),
            resource_version: self.pod.metadata.resource_version.clone(),
            field_path,
        };
        let record = Record {
            node: self.node.name.clone(),
            object,
            warning,
            reason: reason.to_string(),
            message,
            time,
            count,
        };
        self.ctx.recorder.record(record);
    }

    /// Write `status` if it differs from what was written, or if what the API server
    /// has of the kubelet's part was changed by someone else since. `false` when the
    /// loop should go round again first (a failed write, the node stopped).
    async fn write_if_changed(&mut self, status: PodStatus) -> bool {
        let drifted = |written: &(PodStatus, u64)| {
            revision(&self.pod) > written.1
                && self.pod.status.as_ref().map(owned) != Some(owned(&written.0))
        };
        if self
            .written
            .as_ref()
            .is_some_and(|w| w.0 == status && !drifted(w))
        {
            return true;
        }
        if self.node.stopped() {
            return false;
        }
        tracing::debug!(
            phase = status.phase.as_deref().unwrap_or(""),
            "writing status"
        );
        let writing = self.ctx.recorder.busy.enter();
        let result =
            write_status(&self.ctx.client, &self.api_namespace(), &self.name, &status).await;
        drop(writing);
        match result {
            Ok(rv) => {
                tracing::debug!(
                    phase = status.phase.as_deref().unwrap_or(""),
                    "status written"
                );
                self.written = Some((status, rv));
                true
            }
            Err(Error::WriteStatus {
                source: kube::Error::Api(s),
                ..
            }) if s.code == 404 => true,
            Err(e) => {
                tracing::warn!(error = %e, "status");
                tokio::time::sleep(Duration::from_millis(500)).await;
                false
            }
        }
    }

    /// The pod did not pass admission: `Failed` with the reason, never started (as
    /// upstream's `rejectPod`, whose status replaces the kubelet's conditions).
    async fn reject(&mut self, rejection: Rejection) {
        let others: Vec<Value> = self
            .pod
            .status
            .iter()
            .flat_map(|s| s.conditions.iter().flatten())
            .filter(|c| !crate::sim::KUBELET_CONDITIONS.contains(&c.type_.as_str()))
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect();
        let status = json!({
            "phase": "Failed",
            "reason": rejection.reason,
            "message": format!("Pod was rejected: {}", rejection.message),
            "qosClass": crate::sim::qos_class(&self.pod),
            "startTime": self.pod.status.as_ref().and_then(|s| s.start_time.clone()).unwrap_or(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())),
            "conditions": if others.is_empty() { Value::Null } else { Value::Array(others) },
        });
        loop {
            if self.node.stopped() && !self.until_node_runs().await {
                return;
            }
            let body = json!({ "status": status });
            match self
                .api
                .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&body))
                .await
            {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 => return,
                Err(e) => {
                    tracing::warn!(error = %e, "status");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        self.record_one(
            None,
            true,
            &rejection.reason,
            rejection.message,
            jiff::Timestamp::now(),
            1,
        );
    }

    /// A finished pod: delete it (grace 0) once its deletion is asked for.
    async fn finalize_when_deleted(&mut self) {
        loop {
            if self.pod.metadata.deletion_timestamp.is_some()
                && (!self.node.stopped() || self.until_node_runs().await)
            {
                self.delete().await;
                return;
            }
            if !self.changed().await {
                return;
            }
        }
    }

    /// Delete the pod with grace 0 (uid precondition), as the kubelet finalises a
    /// deletion, and wait for it to be gone.
    async fn delete(&mut self) {
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..Default::default()
        };
        loop {
            if self.node.stopped() && !self.until_node_runs().await {
                return;
            }
            match self.api.delete(&self.name, &params).await {
                Ok(_) => break,
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => break,
                Err(source) => {
                    tracing::warn!(error = %Error::Delete { pod: self.name.clone(), source }, "delete");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        // Wait for the DELETED event.
        while self.changed().await {}
    }
}

/// A status as the kubelet sends it: conditions carry `lastProbeTime: null`, as Go
/// serializes the zero time (k8s-openapi would leave the field out).
fn status_body(status: &PodStatus) -> Value {
    let mut body = json!({ "status": status });
    if let Some(conditions) = body["status"]["conditions"].as_array_mut() {
        for c in conditions.iter_mut().filter_map(Value::as_object_mut) {
            c.entry("lastProbeTime").or_insert(Value::Null);
        }
    }
    body
}

/// What is read of the pod a status write returns: its revision only (decoding the
/// whole pod, managedFields and all, costs more than the rest of a write).
#[derive(serde::Deserialize)]
struct Written {
    metadata: WrittenMeta,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WrittenMeta {
    resource_version: Option<String>,
}

/// `PATCH pods/<name>/status` (merge patch); the revision it made.
async fn write_status(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    status: &PodStatus,
) -> Result<u64, Error> {
    let error = |source| Error::WriteStatus {
        pod: name.to_string(),
        source,
    };
    let request = kube::core::Request::new(format!("/api/v1/namespaces/{namespace}/pods"))
        .patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(&status_body(status)),
        )
        .map_err(|e| error(kube::Error::BuildRequest(e)))?;
    let written: Written = client.request(request).await.map_err(error)?;
    Ok(written
        .metadata
        .resource_version
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodCondition;

    #[test]
    fn conditions_carry_a_null_last_probe_time() {
        let status = PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let body = status_body(&status);
        assert_eq!(
            body["status"]["conditions"][0]["lastProbeTime"],
            Value::Null
        );
        assert!(
            body["status"]["conditions"][0]
                .as_object()
                .unwrap()
                .contains_key("lastProbeTime")
        );
    }
}
