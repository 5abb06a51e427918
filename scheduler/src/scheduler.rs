//! The scheduler proper: watches feed the cache and the queue; one loop takes the next
//! pod, runs its profile's framework against the cache, assumes the pod on the chosen node
//! and binds it in the background (upstream's `scheduleOne` with its binding cycle), or
//! records why it could not.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Event as CoreEvent, EventSource, Node, ObjectReference, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::Client;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{Notify, Semaphore, mpsc};

use crate::cache::{Cache, is_terminal};
use crate::explain::{self, Explanation};
use crate::framework::node_info::pod_key;
use crate::framework::runtime::{Cursor, Framework, Outcome};
use crate::framework::{BindRequest, Code, PodInfo};
use crate::metrics::{self, Metrics};
use crate::queue::Queue;

/// How many binds may be in flight at once (the scheduling loop waits beyond that).
const MAX_BINDS_IN_FLIGHT: usize = 64;

struct State {
    cache: Cache,
    queue: Queue,
    cursor: Cursor,
}

/// One scheduler process: its profiles, cache, queue and metrics.
pub struct Scheduler {
    client: Client,
    frameworks: HashMap<String, Framework>,
    state: Mutex<State>,
    wake: Notify,
    explain: bool,
    pub metrics: Metrics,
    events: mpsc::Sender<CoreEvent>,
    events_rx: Mutex<Option<mpsc::Receiver<CoreEvent>>>,
    priority_classes: Store<PriorityClass>,
    pc_writer: Mutex<Option<reflector::store::Writer<PriorityClass>>>,
    binds: Arc<Semaphore>,
    instance: String,
}

/// A pending pod's write after a failed attempt.
struct Failure {
    pod: Arc<Pod>,
    reason: &'static str,
    message: String,
    nominated: Option<String>,
    victims: Vec<Arc<PodInfo>>,
    explanation: Option<String>,
}

impl Scheduler {
    pub fn new(client: Client, frameworks: Vec<Framework>, explain: bool) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(8192);
        let (store, writer) = reflector::store();
        let instance = format!("default-scheduler-{}", std::process::id());
        Arc::new(Scheduler {
            client,
            frameworks: frameworks.into_iter().map(|f| (f.scheduler_name.clone(), f)).collect(),
            state: Mutex::new(State { cache: Cache::new(), queue: Queue::new(), cursor: Cursor::default() }),
            wake: Notify::new(),
            explain,
            metrics: Metrics::default(),
            events: tx,
            events_rx: Mutex::new(Some(rx)),
            priority_classes: store,
            pc_writer: Mutex::new(Some(writer)),
            binds: Arc::new(Semaphore::new(MAX_BINDS_IN_FLIGHT)),
            instance,
        })
    }

    /// The first profile's name (for metrics labels).
    pub fn profile(&self) -> String {
        self.frameworks.keys().next().cloned().unwrap_or_default()
    }

    pub fn metrics_text(&self) -> String {
        let pending = self.state.lock().queue.pending();
        self.metrics.render(&self.profile(), pending)
    }

    /// Watch, and schedule until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let (nodes_ready_tx, nodes_ready) = tokio::sync::oneshot::channel();
        let (pods_ready_tx, pods_ready) = tokio::sync::oneshot::channel();
        tokio::spawn(self.clone().watch_priority_classes());
        tokio::spawn(self.clone().watch_nodes(nodes_ready_tx));
        tokio::spawn(self.clone().watch_pods(pods_ready_tx));
        tokio::spawn(self.clone().write_events());
        let _ = nodes_ready.await;
        let _ = pods_ready.await;
        tracing::info!(profiles = ?self.frameworks.keys().collect::<Vec<_>>(), "scheduler caches synced");
        self.schedule_loop().await;
    }

    async fn watch_priority_classes(self: Arc<Self>) {
        let Some(writer) = self.pc_writer.lock().take() else { return };
        let api: Api<PriorityClass> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff().reflect(writer).applied_objects();
        futures::pin_mut!(stream);
        while let Some(r) = stream.next().await {
            if let Err(e) = r {
                tracing::debug!(error = %e, "priorityclass watch");
            }
        }
    }

    async fn watch_nodes(self: Arc<Self>, ready: tokio::sync::oneshot::Sender<()>) {
        let api: Api<Node> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        let mut ready = Some(ready);
        let mut listed: Vec<Node> = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(n)) => self.on_node(Arc::new(n)),
                Ok(watcher::Event::Delete(n)) => {
                    let mut st = self.state.lock();
                    st.cache.remove_node(n.metadata.name.as_deref().unwrap_or(""));
                }
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(n)) => listed.push(n),
                Ok(watcher::Event::InitDone) => {
                    let nodes = std::mem::take(&mut listed);
                    {
                        let mut st = self.state.lock();
                        let names: HashSet<String> = nodes.iter().filter_map(|n| n.metadata.name.clone()).collect();
                        for gone in st.cache.node_names().into_iter().filter(|n| !names.contains(n)) {
                            st.cache.remove_node(&gone);
                        }
                        for n in nodes {
                            st.cache.upsert_node(Arc::new(n));
                        }
                        st.queue.move_all(Instant::now());
                    }
                    self.wake.notify_one();
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "node watch"),
            }
        }
    }

    async fn watch_pods(self: Arc<Self>, ready: tokio::sync::oneshot::Sender<()>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        let mut ready = Some(ready);
        let mut listed: Vec<Pod> = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(p)) => self.on_pod(p),
                Ok(watcher::Event::Delete(p)) => self.on_pod_delete(&p),
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(p)) => listed.push(p),
                Ok(watcher::Event::InitDone) => {
                    let pods = std::mem::take(&mut listed);
                    let keys: HashSet<String> = pods.iter().map(pod_key).collect();
                    {
                        let mut st = self.state.lock();
                        let gone: Vec<String> = st.cache.pod_keys().into_iter().filter(|k| !keys.contains(k) && !st.cache.is_assumed(k)).collect();
                        for k in gone {
                            st.cache.remove(&k);
                        }
                    }
                    for p in pods {
                        self.on_pod(p);
                    }
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                }
                Err(e) => tracing::warn!(error = %e, "pod watch"),
            }
        }
    }

    /// A node added or changed: a change that could make pods fit retries them.
    fn on_node(&self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut st = self.state.lock();
        let relevant = match st.cache.snapshot.get(&name).and_then(|i| i.node.clone()) {
            None => true,
            Some(old) => {
                let alloc = |n: &Node| n.status.as_ref().and_then(|s| s.allocatable.clone());
                let images = |n: &Node| n.status.as_ref().and_then(|s| s.images.as_ref().map(Vec::len));
                old.spec != node.spec || old.metadata.labels != node.metadata.labels || alloc(&old) != alloc(&node) || images(&old) != images(&node)
            }
        };
        st.cache.upsert_node(node);
        if relevant {
            st.queue.move_all(Instant::now());
            drop(st);
            self.wake.notify_one();
        }
    }

    /// `spec.priority`, resolved from the PriorityClass when the API server left it unset.
    fn resolve_priority(&self, mut pod: Pod) -> Pod {
        if let Some(spec) = pod.spec.as_mut()
            && spec.priority.is_none()
        {
            let class = spec.priority_class_name.as_deref().unwrap_or("");
            let value = if class.is_empty() {
                self.priority_classes.state().iter().find(|pc| pc.global_default == Some(true)).map(|pc| pc.value)
            } else {
                self.priority_classes.get(&ObjectRef::new(class)).map(|pc| pc.value)
            };
            spec.priority = Some(value.unwrap_or(0));
        }
        pod
    }

    fn responsible(&self, pod: &Pod) -> bool {
        let name = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME);
        self.frameworks.contains_key(name)
    }

    fn on_pod(&self, pod: Pod) {
        let pod = Arc::new(self.resolve_priority(pod));
        let key = pod_key(&pod);
        let assigned = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty());
        let mut st = self.state.lock();
        if assigned {
            st.queue.delete(&key);
            let had = st.cache.contains(&key);
            st.cache.add_or_update(pod.clone());
            if had && is_terminal(&pod) {
                st.queue.move_all(Instant::now());
                drop(st);
                self.wake.notify_one();
            }
        } else if self.responsible(&pod) && pod.metadata.deletion_timestamp.is_none() && !is_terminal(&pod) {
            if st.cache.is_assumed(&key) {
                return;
            }
            st.queue.add_or_update(&key, pod, Instant::now());
            drop(st);
            self.wake.notify_one();
        } else {
            st.queue.delete(&key);
        }
    }

    fn on_pod_delete(&self, pod: &Pod) {
        let key = pod_key(pod);
        let mut st = self.state.lock();
        st.queue.delete(&key);
        if st.cache.remove(&key) {
            st.queue.move_all(Instant::now());
            drop(st);
            self.wake.notify_one();
        }
    }

    async fn schedule_loop(self: Arc<Self>) {
        loop {
            let Ok(permit) = self.binds.clone().acquire_owned().await else { return };
            let notified = self.wake.notified();
            let next = {
                let mut st = self.state.lock();
                match st.queue.pop(Instant::now()) {
                    Some(p) => Ok(p),
                    None => Err(st.queue.next_wakeup()),
                }
            };
            match next {
                Ok(qp) => {
                    self.schedule_one(qp, permit);
                    tokio::task::yield_now().await;
                }
                Err(wakeup) => {
                    drop(permit);
                    match wakeup {
                        Some(t) => {
                            tokio::select! {
                                _ = notified => {},
                                _ = tokio::time::sleep_until(t.into()) => {},
                            }
                        }
                        None => notified.await,
                    }
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(pod = %qp.key, attempt = qp.attempts))]
    fn schedule_one(self: &Arc<Self>, qp: crate::queue::QueuedPod, permit: tokio::sync::OwnedSemaphorePermit) {
        let pod = qp.pod.clone();
        let key = qp.key.clone();
        let name = pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME);
        let Some(fw) = self.frameworks.get(name) else {
            self.state.lock().queue.delete(&key);
            return;
        };
        let mut expl = Explanation::new(self.explain, &fw.scheduler_name, qp.attempts);
        let now = Instant::now();
        let mut st = self.state.lock();
        let State { cache, queue, cursor } = &mut *st;
        let (outcome, cycle_state) = fw.schedule(&pod, &cache.snapshot, cursor, &mut expl);
        match outcome {
            Outcome::Scheduled { node } => {
                let mut assumed = (*pod).clone();
                if let Some(spec) = assumed.spec.as_mut() {
                    spec.node_name = Some(node.clone());
                }
                cache.assume(Arc::new(assumed), &node);
                queue.done(&key);
                drop(st);
                expl.result = "Scheduled".into();
                expl.selected_node = Some(node.clone());
                tracing::debug!(%node, "assumed");
                let this = self.clone();
                let binder = fw.binders().first().cloned();
                tokio::spawn(async move {
                    this.bind(pod, node, binder, expl, qp.attempts, qp.first_seen).await;
                    drop(permit);
                });
            }
            Outcome::Unfit(mut fit) => {
                let mut nominated = None;
                let mut victims = Vec::new();
                if fw.has_post_filter() && fit.num_all_nodes > 0 {
                    if let Some(r) = fw.run_post_filter(&cycle_state, &pod, &cache.snapshot, &fit.node_to_status) {
                        if r.status.is_success() {
                            nominated = r.nominated_node.clone();
                            victims = r.victims.clone();
                        } else {
                            fit.post_filter_msg = r.status.message();
                        }
                        expl.preemption = Some(explain::Preemption {
                            nominated_node: r.nominated_node,
                            victims: r.victims.iter().map(|v| v.key.clone()).collect(),
                            message: r.status.message(),
                        });
                    }
                }
                queue.requeue_unschedulable(&key, now);
                drop(st);
                let message = fit.message();
                tracing::debug!(%message, "unschedulable");
                self.metrics.attempt(metrics::Result::Unschedulable);
                expl.result = "Unschedulable".into();
                expl.message = Some(message.clone());
                let explanation = self.explain.then(|| expl.to_json());
                let this = self.clone();
                tokio::spawn(async move {
                    this.record_failure(Failure { pod, reason: "Unschedulable", message, nominated, victims, explanation }).await;
                    drop(permit);
                });
            }
            Outcome::Failed(message) => {
                queue.requeue_backoff(&key, pod.clone(), qp.attempts, now);
                drop(st);
                tracing::warn!(%message, "scheduling error");
                self.metrics.attempt(metrics::Result::Error);
                expl.result = "Error".into();
                expl.message = Some(message.clone());
                let explanation = self.explain.then(|| expl.to_json());
                let this = self.clone();
                tokio::spawn(async move {
                    this.record_failure(Failure { pod, reason: "SchedulerError", message, nominated: None, victims: Vec::new(), explanation }).await;
                    drop(permit);
                });
            }
        }
    }

    async fn bind(self: Arc<Self>, pod: Arc<Pod>, node: String, binder: Option<Arc<dyn crate::framework::Bind>>, expl: Explanation, attempts: u32, first_seen: Instant) {
        let key = pod_key(&pod);
        let mut annotations = BTreeMap::new();
        if self.explain {
            annotations.insert(explain::ANNOTATION.to_string(), expl.to_json());
        }
        let req = BindRequest {
            namespace: pod.metadata.namespace.clone().unwrap_or_else(|| "default".into()),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone(),
            node: node.clone(),
            annotations,
        };
        let status = match binder {
            Some(b) => b.bind(req).await,
            None => crate::framework::Status::error("no bind plugin enabled"),
        };
        if status.is_success() {
            self.metrics.attempt(metrics::Result::Scheduled);
            self.metrics.scheduled(first_seen.elapsed());
            tracing::debug!(pod = %key, %node, "bound");
            let msg = format!("Successfully assigned {key} to {node}");
            self.event(&pod, "Normal", "Scheduled", "Binding", &msg);
            return;
        }
        tracing::info!(pod = %key, %node, reason = %status.message(), "bind failed");
        self.metrics.attempt(metrics::Result::Error);
        {
            let mut st = self.state.lock();
            st.cache.forget(&key);
            // A conflict means the pod changed or was bound elsewhere: the watch will say
            // which; retry after the backoff unless it turns out bound.
            st.queue.requeue_backoff(&key, pod.clone(), attempts, Instant::now());
        }
        self.wake.notify_one();
        if status.code() != Code::Unschedulable {
            self.event(&pod, "Warning", "FailedScheduling", "Scheduling", &format!("Binding rejected: {}", status.message()));
        }
    }

    async fn record_failure(self: Arc<Self>, f: Failure) {
        let ns = f.pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let name = f.pod.metadata.name.clone().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        // Preemption: victims go gracefully, then the preemptor waits for them.
        for v in &f.victims {
            let vns = v.pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
            let vname = v.pod.metadata.name.clone().unwrap_or_default();
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &vns);
            let by = f.nominated.clone().unwrap_or_default();
            let condition = json!({"status": {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                "message": format!("{}: preempting to accommodate a higher priority pod", self.profile()), "lastTransitionTime": now_time()}]}});
            let _ = api.patch_status(&vname, &PatchParams::default(), &Patch::Strategic(condition)).await;
            match api.delete(&vname, &DeleteParams::default()).await {
                Ok(_) => {
                    let msg = format!("Preempted by pod {} on node {by}", f.pod.metadata.uid.as_deref().unwrap_or(""));
                    self.event(&v.pod, "Normal", "Preempted", "Preempting", &msg);
                }
                Err(e) => tracing::info!(victim = %v.key, error = %e, "could not delete preemption victim"),
            }
        }
        let current = f.pod.status.as_ref().and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
        let same = current.is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some(f.reason) && c.message.as_deref() == Some(f.message.as_str()));
        let nominated_now = f.pod.status.as_ref().and_then(|s| s.nominated_node_name.clone());
        if !same || (f.nominated.is_some() && f.nominated != nominated_now) {
            let transition = match current {
                Some(c) if c.status == "False" => c.last_transition_time.as_ref().map(|t| t.0.to_string()).unwrap_or_else(now_time),
                _ => now_time(),
            };
            let mut status = json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": f.reason, "message": f.message,
                "lastProbeTime": null, "lastTransitionTime": transition}]});
            if let Some(n) = &f.nominated {
                status["nominatedNodeName"] = json!(n);
            }
            if let Err(e) = pods.patch_status(&name, &PatchParams::default(), &Patch::Strategic(json!({"status": status}))).await {
                tracing::debug!(error = %e, "could not patch pod status");
            }
        }
        if let Some(text) = f.explanation {
            let patch = json!({"metadata": {"annotations": {explain::ANNOTATION: text}}});
            if let Err(e) = pods.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
                tracing::debug!(error = %e, "could not write the explanation");
            }
        }
        self.event(&f.pod, "Warning", "FailedScheduling", "Scheduling", &f.message);
    }

    /// Queue a core/v1 Event about `pod` (written in the background; dropped when the
    /// writer is far behind).
    fn event(&self, pod: &Pod, type_: &str, reason: &str, action: &str, message: &str) {
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let now = jiff::Timestamp::now();
        let ev = CoreEvent {
            metadata: ObjectMeta { name: Some(format!("{pod_name}.{:x}", now.as_nanosecond())), namespace: Some(ns.clone()), ..Default::default() },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                namespace: Some(ns),
                name: Some(pod_name),
                uid: pod.metadata.uid.clone(),
                resource_version: pod.metadata.resource_version.clone(),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some(type_.into()),
            action: Some(action.into()),
            source: Some(EventSource { component: Some("default-scheduler".into()), host: None }),
            reporting_component: Some("default-scheduler".into()),
            reporting_instance: Some(self.instance.clone()),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            event_time: Some(MicroTime(now)),
            count: Some(1),
            ..Default::default()
        };
        if self.events.try_send(ev).is_err() {
            tracing::debug!("event dropped: writer behind");
        }
    }

    async fn write_events(self: Arc<Self>) {
        let Some(rx) = self.events_rx.lock().take() else { return };
        let client = self.client.clone();
        let stream = tokio_stream_from(rx);
        let _ = stream
            .map(|ev| {
                let client = client.clone();
                async move {
                    let ns = ev.metadata.namespace.clone().unwrap_or_else(|| "default".into());
                    let api: Api<CoreEvent> = Api::namespaced(client, &ns);
                    if let Err(e) = api.create(&PostParams::default(), &ev).await {
                        tracing::debug!(error = %e, "could not write event");
                    }
                }
            })
            .buffer_unordered(8)
            .for_each(|()| async {})
            .await;
    }
}

fn tokio_stream_from<T>(mut rx: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn now_time() -> String {
    jiff::Timestamp::now().to_string()
}
