//! The scheduler proper: watches feed the cache and the queue; one loop takes the next
//! pod, runs its profile's framework against the cache, assumes the pod on the chosen node
//! and binds it in the background (upstream's `scheduleOne` with its binding cycle), or
//! records why it could not (`handleSchedulingFailure`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::cache::{Cache, is_terminal};
use crate::explain::{self, Explanation};
use crate::framework::events::{node_update, pod_update};
use crate::framework::node_info::{DisruptionBudget, pod_key};
use crate::framework::runtime::{Cursor, Framework, Outcome};
use crate::framework::{
    ActionType, BindRequest, Change, ClusterEvent, EventResource, Nominating, PodInfo,
};
use crate::metrics::{self, Metrics};
use crate::queue::{Queue, QueuedPod};
use crate::recorder::Recorder;
use crate::trimmed_pod::TrimmedPod;

/// How many binds may be in flight at once (the scheduling loop waits beyond that).
const MAX_BINDS_IN_FLIGHT: usize = 64;

struct State {
    cache: Cache,
    queue: Queue,
    cursor: Cursor,
    /// The pending pods this scheduler is responsible for, as the watch last saw them —
    /// what upstream's informer lookup in `handleSchedulingFailure` reads. A pod bound (by
    /// anyone) or deleted is not here, so a failed bind of it is not retried.
    pending: HashMap<String, Arc<Pod>>,
}

/// One scheduler process: its profiles, cache, queue and metrics.
pub struct Scheduler {
    client: Client,
    frameworks: HashMap<String, Framework>,
    state: Mutex<State>,
    wake: Notify,
    explain: bool,
    pub metrics: Metrics,
    recorder: Recorder,
    priority_classes: Store<PriorityClass>,
    pc_writer: Mutex<Option<reflector::store::Writer<PriorityClass>>>,
    binds: Arc<Semaphore>,
}

/// A pending pod's writes after a failed attempt.
struct Failure {
    pod: Arc<Pod>,
    reason: &'static str,
    message: String,
    /// Write the PodScheduled condition: not for a pod that is gone or bound elsewhere.
    condition: bool,
    nominating: Nominating,
    victims: Vec<Arc<PodInfo>>,
    clear_nominations: Vec<Arc<PodInfo>>,
    explanation: Option<String>,
}

/// The profile a pod asks for.
fn scheduler_name(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME)
}

fn is_assigned(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
}

impl Scheduler {
    pub fn new(client: Client, frameworks: Vec<Framework>, explain: bool) -> Arc<Self> {
        let (store, writer) = reflector::store();
        let instance = format!("default-scheduler-{}", std::process::id());
        let frameworks: HashMap<String, Framework> = frameworks
            .into_iter()
            .map(|f| (f.scheduler_name.clone(), f))
            .collect();
        let metrics = Metrics::new(frameworks.keys().map(String::as_str));
        Arc::new(Scheduler {
            client,
            frameworks,
            state: Mutex::new(State {
                cache: Cache::new(),
                queue: Queue::new(),
                cursor: Cursor::default(),
                pending: HashMap::new(),
            }),
            wake: Notify::new(),
            explain,
            metrics,
            recorder: Recorder::new(crate::config::DEFAULT_SCHEDULER_NAME, &instance),
            priority_classes: store,
            pc_writer: Mutex::new(Some(writer)),
            binds: Arc::new(Semaphore::new(MAX_BINDS_IN_FLIGHT)),
        })
    }

    pub fn metrics_text(&self) -> String {
        let pending = self.state.lock().queue.pending();
        self.metrics.render(pending)
    }

    /// Watch, and schedule until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let (nodes_ready_tx, nodes_ready) = tokio::sync::oneshot::channel();
        let (pods_ready_tx, pods_ready) = tokio::sync::oneshot::channel();
        tokio::spawn(self.clone().watch_priority_classes());
        tokio::spawn(self.clone().watch_disruption_budgets());
        tokio::spawn(self.clone().watch_nodes(nodes_ready_tx));
        tokio::spawn(self.clone().watch_pods(pods_ready_tx));
        let this = self.clone();
        tokio::spawn(async move { this.recorder.run(this.client.clone()).await });
        let _ = nodes_ready.await;
        let _ = pods_ready.await;
        tracing::info!(profiles = ?self.frameworks.keys().collect::<Vec<_>>(), "scheduler caches synced");
        self.schedule_loop().await;
    }

    async fn watch_priority_classes(self: Arc<Self>) {
        let Some(writer) = self.pc_writer.lock().take() else {
            return;
        };
        let api: Api<PriorityClass> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer)
            .applied_objects();
        futures::pin_mut!(stream);
        while let Some(r) = stream.next().await {
            if let Err(e) = r {
                tracing::debug!(error = %e, "priorityclass watch");
            }
        }
    }

    /// PodDisruptionBudgets, for preemption's choice of victims.
    async fn watch_disruption_budgets(self: Arc<Self>) {
        let api: Api<PodDisruptionBudget> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        let key = |p: &PodDisruptionBudget| {
            format!(
                "{}/{}",
                p.metadata.namespace.as_deref().unwrap_or(""),
                p.metadata.name.as_deref().unwrap_or("")
            )
        };
        let mut listed = HashMap::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(p)) => {
                    self.state
                        .lock()
                        .cache
                        .snapshot
                        .pdbs
                        .insert(key(&p), Arc::new(DisruptionBudget::new(&p)));
                }
                Ok(watcher::Event::Delete(p)) => {
                    self.state.lock().cache.snapshot.pdbs.remove(&key(&p));
                }
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(p)) => {
                    listed.insert(key(&p), Arc::new(DisruptionBudget::new(&p)));
                }
                Ok(watcher::Event::InitDone) => {
                    self.state.lock().cache.snapshot.pdbs = std::mem::take(&mut listed)
                }
                Err(e) => tracing::debug!(error = %e, "poddisruptionbudget watch"),
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
                Ok(watcher::Event::Delete(n)) => self.on_node_delete(&n),
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(n)) => listed.push(n),
                Ok(watcher::Event::InitDone) => {
                    let nodes = std::mem::take(&mut listed);
                    {
                        let mut st = self.state.lock();
                        let names: HashSet<String> = nodes
                            .iter()
                            .filter_map(|n| n.metadata.name.clone())
                            .collect();
                        for gone in st
                            .cache
                            .node_names()
                            .into_iter()
                            .filter(|n| !names.contains(n))
                        {
                            st.cache.remove_node(&gone);
                        }
                        for n in nodes {
                            st.cache.upsert_node(Arc::new(n));
                        }
                        // A re-list may hide any change: retry every unschedulable pod.
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
        let api: Api<TrimmedPod> = Api::all(self.client.clone());
        let stream = watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        let mut ready = Some(ready);
        let mut listed: Vec<Pod> = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(TrimmedPod(p))) => self.on_pod(p),
                Ok(watcher::Event::Delete(TrimmedPod(p))) => self.on_pod_delete(&p),
                Ok(watcher::Event::Init) => listed.clear(),
                Ok(watcher::Event::InitApply(TrimmedPod(p))) => listed.push(p),
                Ok(watcher::Event::InitDone) => {
                    let pods = std::mem::take(&mut listed);
                    let keys: HashSet<String> = pods.iter().map(pod_key).collect();
                    {
                        let mut st = self.state.lock();
                        let gone: Vec<String> = st
                            .cache
                            .pod_keys()
                            .into_iter()
                            .filter(|k| !keys.contains(k) && !st.cache.is_assumed(k))
                            .collect();
                        for k in gone {
                            st.cache.remove(&k);
                        }
                        let gone: Vec<String> = st
                            .pending
                            .keys()
                            .filter(|k| !keys.contains(*k))
                            .cloned()
                            .collect();
                        for k in gone {
                            st.pending.remove(&k);
                            st.queue.delete(&k);
                            st.cache.snapshot.nominator.delete(&k);
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

    /// A cluster event: retry the unschedulable pods it may help, as the plugins that
    /// rejected each one judge (queueing hints).
    fn requeue_on(&self, st: &mut State, event: &ClusterEvent, change: &Change<'_>) {
        let frameworks = &self.frameworks;
        let moved = st.queue.move_on_event(Instant::now(), |qp| {
            frameworks.get(scheduler_name(&qp.pod)).is_none_or(|fw| {
                fw.is_worth_requeuing(&qp.pod, &qp.unschedulable_plugins, event, change)
            })
        });
        if moved > 0 {
            tracing::debug!(moved, ?event, "cluster event retries pods");
            self.wake.notify_one();
        }
    }

    /// A node added or changed.
    fn on_node(&self, node: Arc<Node>) {
        let name = node.metadata.name.clone().unwrap_or_default();
        let mut st = self.state.lock();
        let old = st.cache.snapshot.get(&name).and_then(|i| i.node.clone());
        let action = old
            .as_deref()
            .map_or(ActionType::ADD, |old| node_update(old, &node));
        st.cache.upsert_node(node.clone());
        if !action.is_empty() {
            let event = ClusterEvent::new(EventResource::Node, action);
            self.requeue_on(
                &mut st,
                &event,
                &Change::Node {
                    old: old.as_deref(),
                    new: Some(&node),
                },
            );
        }
    }

    fn on_node_delete(&self, node: &Node) {
        let mut st = self.state.lock();
        st.cache
            .remove_node(node.metadata.name.as_deref().unwrap_or(""));
        let event = ClusterEvent::new(EventResource::Node, ActionType::DELETE);
        self.requeue_on(
            &mut st,
            &event,
            &Change::Node {
                old: Some(node),
                new: None,
            },
        );
    }

    /// `spec.priority`, resolved from the PriorityClass when the API server left it unset.
    fn resolve_priority(&self, mut pod: Pod) -> Pod {
        if let Some(spec) = pod.spec.as_mut()
            && spec.priority.is_none()
        {
            let class = spec.priority_class_name.as_deref().unwrap_or("");
            let value = if class.is_empty() {
                self.priority_classes
                    .state()
                    .iter()
                    .find(|pc| pc.global_default == Some(true))
                    .map(|pc| pc.value)
            } else {
                self.priority_classes
                    .get(&ObjectRef::new(class))
                    .map(|pc| pc.value)
            };
            spec.priority = Some(value.unwrap_or(0));
        }
        pod
    }

    fn on_pod(&self, pod: Pod) {
        let pod = Arc::new(self.resolve_priority(pod));
        let key = pod_key(&pod);
        let mut st = self.state.lock();
        if is_assigned(&pod) {
            st.queue.delete(&key);
            st.pending.remove(&key);
            st.cache.snapshot.nominator.delete(&key);
            // Our own assumed pod confirmed is an add, as for upstream's informer.
            let old = if st.cache.is_assumed(&key) {
                None
            } else {
                st.cache.pod(&key)
            };
            if is_terminal(&pod) {
                // A finished pod frees its node: a delete.
                if st.cache.remove(&key) {
                    let event = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
                    self.requeue_on(
                        &mut st,
                        &event,
                        &Change::Pod {
                            old: Some(old.as_deref().unwrap_or(&pod)),
                            new: None,
                        },
                    );
                }
                return;
            }
            st.cache.add_or_update(pod.clone());
            let action = old
                .as_deref()
                .map_or(ActionType::ADD, |old| pod_update(old, &pod));
            let event = ClusterEvent::new(EventResource::AssignedPod, action);
            self.requeue_on(
                &mut st,
                &event,
                &Change::Pod {
                    old: old.as_deref(),
                    new: Some(&pod),
                },
            );
        } else if self.frameworks.contains_key(scheduler_name(&pod))
            && pod.metadata.deletion_timestamp.is_none()
            && !is_terminal(&pod)
        {
            st.pending.insert(key.clone(), pod.clone());
            // A nomination in the status (ours, or another scheduler's) counts; an update
            // without one keeps the nomination this process just made (upstream's
            // `UpdateNominatedPod`).
            if let Some(node) = pod
                .status
                .as_ref()
                .and_then(|s| s.nominated_node_name.as_deref())
                .filter(|n| !n.is_empty())
            {
                st.cache
                    .snapshot
                    .nominator
                    .add(Arc::new(PodInfo::new(pod.clone())), node);
            }
            if st.cache.is_assumed(&key) {
                return;
            }
            st.queue.add_or_update(&key, pod, Instant::now());
            drop(st);
            self.wake.notify_one();
        } else {
            st.queue.delete(&key);
            st.pending.remove(&key);
            st.cache.snapshot.nominator.delete(&key);
        }
    }

    fn on_pod_delete(&self, pod: &Pod) {
        let key = pod_key(pod);
        let mut st = self.state.lock();
        st.queue.delete(&key);
        st.pending.remove(&key);
        st.cache.snapshot.nominator.delete(&key);
        let old = st.cache.pod(&key);
        if st.cache.remove(&key) {
            let event = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
            self.requeue_on(
                &mut st,
                &event,
                &Change::Pod {
                    old: Some(old.as_deref().unwrap_or(pod)),
                    new: None,
                },
            );
        }
    }

    async fn schedule_loop(self: Arc<Self>) {
        loop {
            let Ok(permit) = self.binds.clone().acquire_owned().await else {
                return;
            };
            let notified = self.wake.notified();
            // The pop and the whole scheduling cycle hold the state: no watch event can
            // change the cache or the queue in between.
            let wakeup = {
                let mut st = self.state.lock();
                match st.queue.pop(Instant::now()) {
                    Some(qp) => {
                        self.schedule_one(&mut st, qp, permit);
                        None
                    }
                    None => Some((st.queue.next_wakeup(), permit)),
                }
            };
            match wakeup {
                None => tokio::task::yield_now().await,
                Some((wakeup, permit)) => {
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
    fn schedule_one(
        self: &Arc<Self>,
        st: &mut State,
        qp: QueuedPod,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) {
        let pod = qp.pod.clone();
        let key = qp.key.clone();
        let Some(fw) = self.frameworks.get(scheduler_name(&pod)) else {
            st.queue.delete(&key);
            return;
        };
        let profile = fw.scheduler_name.clone();
        let mut expl = Explanation::new(self.explain, &profile, qp.attempts);
        let now = Instant::now();
        let State {
            cache,
            queue,
            cursor,
            ..
        } = st;
        let (outcome, cycle_state) = fw.schedule(&pod, &cache.snapshot, cursor, &mut expl);
        match outcome {
            Outcome::Scheduled { node } => {
                cache.assume(pod.clone(), &node);
                cache.snapshot.nominator.delete(&key);
                queue.done(&key);
                expl.result = "Scheduled".into();
                expl.selected_node = Some(node.clone());
                tracing::debug!(%node, "assumed");
                let this = self.clone();
                tokio::spawn(async move {
                    this.bind(qp, profile, node, expl).await;
                    drop(permit);
                });
            }
            Outcome::Unfit(mut fit) => {
                // Without PostFilter (or without nodes) a nomination is cleared, as upstream.
                let mut nominating = Nominating::Override(String::new());
                let (mut victims, mut clear_nominations) = (Vec::new(), Vec::new());
                if fw.has_post_filter()
                    && fit.num_all_nodes > 0
                    && let Some(r) =
                        fw.run_post_filter(&cycle_state, &pod, &cache.snapshot, &fit.node_to_status)
                {
                    if !r.status.is_success() {
                        fit.post_filter_msg = r.status.message();
                    }
                    expl.preemption = Some(explain::Preemption {
                        nominated_node: r.nominated_node().map(str::to_string),
                        victims: r.victims.iter().map(|v| v.key.clone()).collect(),
                        message: r.status.message(),
                    });
                    (nominating, victims, clear_nominations) =
                        (r.nominating, r.victims, r.clear_nominations);
                }
                match &nominating {
                    Nominating::Override(node) if !node.is_empty() => cache
                        .snapshot
                        .nominator
                        .add(Arc::new(PodInfo::new(pod.clone())), node),
                    Nominating::Override(_) => cache.snapshot.nominator.delete(&key),
                    Nominating::Keep => {}
                }
                for p in &clear_nominations {
                    cache.snapshot.nominator.delete(&p.key);
                }
                queue.requeue_unschedulable(&key, fit.unschedulable_plugins(), now);
                let message = fit.message();
                tracing::debug!(%message, "unschedulable");
                self.metrics
                    .attempt(&profile, metrics::Result::Unschedulable);
                expl.result = "Unschedulable".into();
                expl.message = Some(message.clone());
                let explanation = self.explain.then(|| expl.to_json());
                let failure = Failure {
                    pod,
                    reason: "Unschedulable",
                    message,
                    condition: true,
                    nominating,
                    victims,
                    clear_nominations,
                    explanation,
                };
                let this = self.clone();
                tokio::spawn(async move {
                    this.record_failure(failure).await;
                    drop(permit);
                });
            }
            Outcome::Failed(message) => {
                queue.requeue_error(&key, now);
                cache.snapshot.nominator.delete(&key);
                tracing::warn!(%message, "scheduling error");
                self.metrics.attempt(&profile, metrics::Result::Error);
                expl.result = "Error".into();
                expl.message = Some(message.clone());
                let explanation = self.explain.then(|| expl.to_json());
                let failure = Failure {
                    pod,
                    reason: "SchedulerError",
                    message,
                    condition: true,
                    nominating: Nominating::Override(String::new()),
                    victims: Vec::new(),
                    clear_nominations: Vec::new(),
                    explanation,
                };
                let this = self.clone();
                tokio::spawn(async move {
                    this.record_failure(failure).await;
                    drop(permit);
                });
            }
        }
    }

    /// The binding cycle: bind, or undo the assumption and handle the failure as upstream's
    /// `handleBindingCycleError` + `handleSchedulingFailure`.
    async fn bind(
        self: Arc<Self>,
        qp: QueuedPod,
        profile: String,
        node: String,
        mut expl: Explanation,
    ) {
        let pod = qp.pod.clone();
        let key = qp.key.clone();
        let mut annotations = BTreeMap::new();
        if self.explain {
            annotations.insert(explain::ANNOTATION.to_string(), expl.to_json());
        }
        let req = BindRequest {
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone(),
            node: node.clone(),
            annotations,
        };
        let Some(fw) = self.frameworks.get(&profile) else {
            return;
        };
        let status = fw.run_bind(req).await;
        if status.is_success() {
            self.metrics.attempt(&profile, metrics::Result::Scheduled);
            self.metrics.scheduled(qp.first_seen.elapsed());
            tracing::debug!(pod = %key, %node, "bound");
            self.recorder.pod_event(
                &pod,
                None,
                "Normal",
                "Scheduled",
                "Binding",
                &format!("Successfully assigned {key} to {node}"),
            );
            return;
        }
        let message = status.message();
        tracing::info!(pod = %key, %node, %message, "bind failed");
        self.metrics.attempt(&profile, metrics::Result::Error);
        let latest = self.forget_failed_bind(qp);
        expl.result = "Error".into();
        expl.selected_node = None;
        expl.message = Some(message.clone());
        let explanation = (self.explain && latest.is_some()).then(|| expl.to_json());
        let failure = Failure {
            condition: latest.is_some(),
            pod: latest.unwrap_or(pod),
            reason: "SchedulerError",
            message,
            nominating: Nominating::Override(String::new()),
            victims: Vec::new(),
            clear_nominations: Vec::new(),
            explanation,
        };
        self.record_failure(failure).await;
    }

    /// After a failed bind: forget the assumed pod, and requeue it if it still exists
    /// unbound — one deleted, or bound by another scheduler (the 409 a losing scheduler
    /// gets), is done with. Returns the pod as the watch last saw it, if pending.
    fn forget_failed_bind(&self, qp: QueuedPod) -> Option<Arc<Pod>> {
        let mut st = self.state.lock();
        // Forgetting the assumed pod frees its room: a delete for the other pods.
        let assumed = st
            .cache
            .is_assumed(&qp.key)
            .then(|| st.cache.pod(&qp.key))
            .flatten();
        st.cache.forget(&qp.key);
        if let Some(old) = &assumed {
            let event = ClusterEvent::new(EventResource::AssignedPod, ActionType::DELETE);
            self.requeue_on(
                &mut st,
                &event,
                &Change::Pod {
                    old: Some(old),
                    new: None,
                },
            );
        }
        st.cache.snapshot.nominator.delete(&qp.key);
        let latest = st.pending.get(&qp.key).cloned();
        if let Some(p) = &latest {
            st.queue
                .requeue_after_bind_failure(qp, p.clone(), Instant::now());
            self.wake.notify_one();
        }
        latest
    }

    async fn record_failure(self: Arc<Self>, f: Failure) {
        let ns = f
            .pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let nominated = match &f.nominating {
            Nominating::Override(n) if !n.is_empty() => n.clone(),
            _ => String::new(),
        };
        // Preemption: victims go gracefully (a victim already going is left alone).
        for v in f
            .victims
            .iter()
            .filter(|v| v.pod.metadata.deletion_timestamp.is_none())
        {
            self.preempt(&f.pod, v, &nominated).await;
        }
        for p in &f.clear_nominations {
            let api: Api<Pod> = Api::namespaced(
                self.client.clone(),
                p.pod.metadata.namespace.as_deref().unwrap_or("default"),
            );
            let patch = json!({"status": {"nominatedNodeName": null}});
            if let Err(e) = api
                .patch_status(
                    p.pod.metadata.name.as_deref().unwrap_or(""),
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await
            {
                tracing::debug!(pod = %p.key, error = %e, "could not clear a nomination");
            }
        }
        self.recorder.pod_event(
            &f.pod,
            None,
            "Warning",
            "FailedScheduling",
            "Scheduling",
            &f.message,
        );
        let status = f.pod.status.as_ref();
        let current = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "PodScheduled"));
        let generation = f.pod.metadata.generation;
        let condition_changed = f.condition
            && !current.is_some_and(|c| {
                c.status == "False"
                    && c.reason.as_deref() == Some(f.reason)
                    && c.message.as_deref() == Some(f.message.as_str())
                    && c.observed_generation == generation
            });
        let nominated_now = status
            .and_then(|s| s.nominated_node_name.clone())
            .unwrap_or_default();
        let nomination_changed =
            matches!(&f.nominating, Nominating::Override(n) if *n != nominated_now);
        // One write: the status and, beside it, the explanation (a pod's status write may
        // change its annotations).
        let mut patch = json!({});
        if condition_changed || nomination_changed {
            let mut status = json!({});
            if condition_changed {
                let transition = match current {
                    Some(c) if c.status == "False" => c
                        .last_transition_time
                        .as_ref()
                        .map(|t| t.0.to_string())
                        .unwrap_or_else(now_time),
                    _ => now_time(),
                };
                status["conditions"] = json!([{"type": "PodScheduled", "status": "False", "reason": f.reason, "message": f.message,
                    "observedGeneration": generation, "lastProbeTime": null, "lastTransitionTime": transition}]);
            }
            if nomination_changed {
                status["nominatedNodeName"] = if nominated.is_empty() {
                    json!(null)
                } else {
                    json!(nominated)
                };
            }
            patch["status"] = status;
        }
        if let Some(text) = f.explanation {
            patch["metadata"] = json!({"annotations": {explain::ANNOTATION: text}});
        }
        if patch.as_object().is_some_and(|p| !p.is_empty()) {
            patch_while_pending(&pods, &f.pod, patch).await;
        }
    }

    /// Evict one victim for `preemptor`: a `DisruptionTarget` condition, a graceful delete,
    /// a `Preempted` Event (upstream's `Evaluator.PreemptPod`).
    async fn preempt(&self, preemptor: &Pod, victim: &PodInfo, node: &str) {
        let vns = victim
            .pod
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let vname = victim.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &vns);
        let condition = json!({"status": {"conditions": [{"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": format!("{}: preempting to accommodate a higher priority pod", scheduler_name(preemptor)),
            "observedGeneration": victim.pod.metadata.generation, "lastTransitionTime": now_time()}]}});
        if let Err(e) = api
            .patch_status(
                &vname,
                &PatchParams::default(),
                &Patch::Strategic(condition),
            )
            .await
        {
            tracing::info!(victim = %victim.key, error = %e, "could not mark the preemption victim");
        }
        match api.delete(&vname, &DeleteParams::default()).await {
            Ok(_) => {
                let msg = format!(
                    "Preempted by pod {} on node {node}",
                    preemptor.metadata.uid.as_deref().unwrap_or("")
                );
                self.recorder.pod_event(
                    &victim.pod,
                    Some(preemptor),
                    "Normal",
                    "Preempted",
                    "Preempting",
                    &msg,
                );
            }
            Err(e) => {
                tracing::info!(victim = %victim.key, error = %e, "could not delete preemption victim")
            }
        }
    }
}

/// Write a failed attempt's outcome to its pod (`patch`, a strategic merge patch of
/// `pods/status`) only while the pod is still pending. The write is made in its own task,
/// after the scheduling cycle, and a later attempt may have bound the pod meanwhile (its
/// binding writes `PodScheduled: True` and its own explanation); upstream makes it before
/// its next cycle starts. So it carries a resourceVersion precondition: first the
/// version the attempt saw; after a conflict, the current one, if the pod still waits.
async fn patch_while_pending(pods: &Api<Pod>, seen: &Pod, mut patch: serde_json::Value) {
    const ATTEMPTS: usize = 3;
    let name = seen.metadata.name.as_deref().unwrap_or_default();
    let pending = |pod: &Pod| !is_assigned(pod) && pod.metadata.deletion_timestamp.is_none();
    let mut version = seen
        .metadata
        .resource_version
        .clone()
        .filter(|_| pending(seen));
    for _ in 0..ATTEMPTS {
        // Without a version to hold the write to, read the pod's.
        let rv = match version.take() {
            Some(rv) => rv,
            None => match pods.get_opt(name).await {
                Ok(Some(pod)) if pending(&pod) => match pod.metadata.resource_version {
                    Some(rv) => rv,
                    None => return,
                },
                Ok(_) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "could not read the pod to record a failure");
                    return;
                }
            },
        };
        patch["metadata"]["resourceVersion"] = json!(rv);
        match pods
            .patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await
        {
            Ok(_) => return,
            // Written since: read it again.
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => {
                tracing::debug!(error = %e, "could not record a failure on the pod");
                return;
            }
        }
    }
}

fn now_time() -> String {
    jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::testing::{NodeBuilder, PodBuilder};

    /// A scheduler with the default profile whose client points nowhere: the state logic
    /// only, no requests are made.
    fn scheduler() -> Arc<Scheduler> {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        let fws = crate::config::File::default()
            .frameworks(&crate::plugins::registry::Handle::default())
            .unwrap();
        Scheduler::new(client, fws, false)
    }

    fn pending_total(s: &Scheduler) -> usize {
        let p = s.state.lock().queue.pending();
        p.active + p.backoff + p.unschedulable + p.gated
    }

    #[tokio::test]
    async fn a_pod_bound_or_deleted_behind_a_failed_bind_is_not_retried() {
        let s = scheduler();
        s.on_node(Arc::new(
            NodeBuilder::new("n").capacity("4", "8Gi", "110").obj(),
        ));
        for name in ["bound-elsewhere", "deleted", "still-pending"] {
            s.on_pod(PodBuilder::new(name).obj());
        }
        let popped: Vec<QueuedPod> = {
            let mut st = s.state.lock();
            std::iter::from_fn(|| st.queue.pop(Instant::now())).collect()
        };
        for qp in &popped {
            let mut st = s.state.lock();
            st.cache.assume(qp.pod.clone(), "n");
            st.queue.done(&qp.key);
        }
        // The watch shows one bound by another scheduler, one deleted, before the binds fail.
        s.on_pod(PodBuilder::new("bound-elsewhere").node("other").obj());
        s.on_pod_delete(&PodBuilder::new("deleted").obj());
        let retried: Vec<bool> = popped
            .into_iter()
            .map(|qp| s.forget_failed_bind(qp).is_some())
            .collect();
        assert_eq!(retried, [false, false, true]);
        assert_eq!(
            pending_total(&s),
            1,
            "only the pod still pending is retried"
        );
        assert!(s.state.lock().queue.contains("default/still-pending"));
    }

    #[tokio::test]
    async fn an_assigned_pod_that_matches_affinity_retries_the_waiting_pod_not_the_others() {
        let s = scheduler();
        s.on_node(Arc::new(
            NodeBuilder::new("n").capacity("1", "8Gi", "110").obj(),
        ));
        s.on_pod(
            PodBuilder::new("needs-db")
                .pod_affinity("kubernetes.io/hostname", &[("app", "db")])
                .obj(),
        );
        s.on_pod(PodBuilder::new("needs-cpu").container_req("2", "").obj());
        {
            let mut st = s.state.lock();
            for _ in 0..2 {
                let qp = st.queue.pop(Instant::now()).unwrap();
                let plugins = if qp.key.ends_with("needs-db") {
                    vec!["InterPodAffinity"]
                } else {
                    vec!["NodeResourcesFit"]
                };
                st.queue
                    .requeue_unschedulable(&qp.key, plugins, Instant::now());
            }
        }
        // A web pod lands: nothing moves. The db pod lands: only the affinity pod moves.
        s.on_pod(PodBuilder::new("web").label("app", "web").node("n").obj());
        assert_eq!(s.state.lock().queue.pending().unschedulable, 2);
        s.on_pod(PodBuilder::new("db").label("app", "db").node("n").obj());
        let mut st = s.state.lock();
        assert_eq!(st.queue.pending().unschedulable, 1);
        assert_eq!(
            st.queue.pop(Instant::now()).unwrap().key,
            "default/needs-db"
        );
    }

    #[tokio::test]
    async fn a_node_label_change_does_not_retry_a_pod_short_of_cpu_but_more_cpu_does() {
        let s = scheduler();
        s.on_node(Arc::new(
            NodeBuilder::new("n").capacity("1", "8Gi", "110").obj(),
        ));
        s.on_pod(PodBuilder::new("big").container_req("2", "").obj());
        {
            let mut st = s.state.lock();
            let qp = st.queue.pop(Instant::now()).unwrap();
            st.queue
                .requeue_unschedulable(&qp.key, vec!["NodeResourcesFit"], Instant::now());
        }
        s.on_node(Arc::new(
            NodeBuilder::new("n")
                .capacity("1", "8Gi", "110")
                .label("zone", "a")
                .obj(),
        ));
        assert_eq!(s.state.lock().queue.pending().unschedulable, 1);
        s.on_node(Arc::new(
            NodeBuilder::new("n")
                .capacity("4", "8Gi", "110")
                .label("zone", "a")
                .obj(),
        ));
        assert_eq!(s.state.lock().queue.pending().unschedulable, 0);
    }

    #[tokio::test]
    async fn gated_pods_count_as_gated_and_enter_the_queue_when_ungated() {
        let s = scheduler();
        s.on_pod(
            PodBuilder::new("g")
                .scheduling_gate("example.com/hold")
                .obj(),
        );
        assert_eq!(s.state.lock().queue.pending().gated, 1);
        assert!(s.state.lock().queue.pop(Instant::now()).is_none());
        s.on_pod(PodBuilder::new("g").obj());
        assert_eq!(
            s.state.lock().queue.pop(Instant::now()).unwrap().key,
            "default/g"
        );
    }
}
