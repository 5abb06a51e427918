//! A watch on the pods and ReplicaSets of one label selector, kept in the background, so
//! an end-to-end test can assert on everything that happened between two kubectl commands
//! (the fewest ready pods, the most pods, every size a ReplicaSet was given) rather than on
//! snapshots that may miss a moment.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use kubesim_e2e::{Cluster, eventually};
use tokio::sync::oneshot;

/// What the watches have seen since they started.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Pods as last seen (name → pod), terminating ones included until they are gone.
    pub pods: BTreeMap<String, Pod>,
    /// The name of every pod ever seen.
    pub ever: BTreeSet<String>,
    /// Every pod ever seen, as it was last seen (deleted ones as they were deleted).
    pub last_seen: BTreeMap<String, Pod>,
    /// Every phase each pod was seen in, in order.
    pub phases: BTreeMap<String, Vec<String>>,
    /// The fewest pods that were Ready and not terminating at any moment.
    pub min_ready: Option<usize>,
    /// The most pods the ReplicaSets were keeping at any moment: of each ReplicaSet's
    /// live pods (neither terminating nor finished), as many as its `spec.replicas`. A
    /// Deployment bounds its ReplicaSets' sizes, not the pods: when it shrinks an old
    /// ReplicaSet and then grows the new one, the ReplicaSet controller's two syncs are
    /// independent, and upstream too may create the new pod before it deletes the old
    /// one, so for a moment there is one pod more than `replicas + maxSurge`.
    pub max_kept: usize,
    /// The most live pods each ReplicaSet (by name) had at any moment.
    pub max_live_by_rs: BTreeMap<String, usize>,
    /// The most distinct `pod-template-hash` labels among the pods (terminating ones
    /// included) at any moment.
    pub max_template_hashes: usize,
    /// Every `spec.replicas` each ReplicaSet had, in order, without repeats.
    pub rs_sizes: BTreeMap<String, Vec<i32>>,
    /// The largest sum of the ReplicaSets' `spec.replicas` at any moment.
    pub max_rs_total: i32,
    rs_current: BTreeMap<String, i32>,
    live_by_rs: BTreeMap<String, usize>,
    pods_synced: bool,
    rs_synced: bool,
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The ReplicaSet that controls `pod`, by name.
fn replica_set_of(pod: &Pod) -> Option<String> {
    pod.metadata
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.kind == "ReplicaSet" && o.controller == Some(true))
        .map(|o| o.name.clone())
}

fn is_live(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Succeeded" | "Failed"))
}

impl Seen {
    fn pods_changed(&mut self) {
        let live: Vec<&Pod> = self.pods.values().filter(|p| is_live(p)).collect();
        let ready = live.iter().filter(|p| is_ready(p)).count();
        self.min_ready = Some(self.min_ready.map_or(ready, |m| m.min(ready)));
        let mut live_by_rs = BTreeMap::<String, usize>::new();
        for owner in live.iter().filter_map(|p| replica_set_of(p)) {
            *live_by_rs.entry(owner).or_default() += 1;
        }
        for (rs, &n) in &live_by_rs {
            let most = self.max_live_by_rs.entry(rs.clone()).or_default();
            *most = (*most).max(n);
        }
        self.live_by_rs = live_by_rs;
        self.count_kept();
        let hashes: BTreeSet<&String> = self
            .pods
            .values()
            .filter_map(|p| p.labels().get("pod-template-hash"))
            .collect();
        self.max_template_hashes = self.max_template_hashes.max(hashes.len());
    }

    fn replica_set(&mut self, rs: &ReplicaSet) {
        let size = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let history = self.rs_sizes.entry(rs.name_any()).or_default();
        if history.last() != Some(&size) {
            history.push(size);
        }
        self.rs_current.insert(rs.name_any(), size);
        self.max_rs_total = self.max_rs_total.max(self.rs_current.values().sum());
        self.count_kept();
    }

    /// The two watches are separate streams: a pod may show before its ReplicaSet's new
    /// size, which this then counts low, never high (the ReplicaSets' own changes arrive
    /// in order, so a shrunk old one is seen before the grown new one).
    fn count_kept(&mut self) {
        let kept: usize = self
            .live_by_rs
            .iter()
            .map(|(rs, &n)| {
                let wanted = self.rs_current.get(rs).copied().unwrap_or(0);
                n.min(usize::try_from(wanted).unwrap_or(0))
            })
            .sum();
        self.max_kept = self.max_kept.max(kept);
    }

    /// Whether some ReplicaSet had more live pods than the most it was ever asked for:
    /// the ReplicaSet controller overshooting. Names it with its figures.
    pub fn overshoot(&self) -> Option<String> {
        self.max_live_by_rs.iter().find_map(|(rs, &live)| {
            let asked = self.rs_sizes.get(rs)?.iter().copied().max().unwrap_or(0);
            (live > usize::try_from(asked).unwrap_or(0))
                .then(|| format!("ReplicaSet {rs} had {live} live pods, asked for at most {asked}"))
        })
    }
}

/// The background watches; stopped when dropped.
pub struct Observer {
    seen: Arc<Mutex<Seen>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Observer {
    /// Watch pods and ReplicaSets matching `labels` in `namespace`; returns once both
    /// initial lists are in.
    pub fn start(cluster: &Cluster, namespace: &str, labels: &str) -> Observer {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop, stopped) = oneshot::channel::<()>();
        let (url, namespace, labels, state) = (
            cluster.url.clone(),
            namespace.to_string(),
            labels.to_string(),
            seen.clone(),
        );
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let client = Client::try_from(kube::Config::new(url.parse().expect("cluster URL")))
                    .expect("kube client");
                tokio::select! {
                    _ = watch_pods(client.clone(), &namespace, &labels, state.clone()) => {},
                    _ = watch_replica_sets(client, &namespace, &labels, state) => {},
                    _ = stopped => {},
                }
            });
        });
        let observer = Observer {
            seen,
            stop: Some(stop),
            thread: Some(thread),
        };
        eventually(Duration::from_secs(10), "the watches to list", || {
            let s = observer
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (s.pods_synced && s.rs_synced).then_some(())
        });
        observer
    }

    pub fn seen(&self) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn watch_pods(client: Client, namespace: &str, labels: &str, seen: Arc<Mutex<Seen>>) {
    let api: Api<Pod> = Api::namespaced(client, namespace);
    let mut stream = watcher(api, watcher::Config::default().labels(labels)).boxed();
    while let Some(event) = stream.next().await {
        let Ok(event) = event else { continue };
        let mut s = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                s.ever.insert(p.name_any());
                let phase = p
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.clone())
                    .unwrap_or_default();
                let phases = s.phases.entry(p.name_any()).or_default();
                if phases.last() != Some(&phase) {
                    phases.push(phase);
                }
                s.last_seen.insert(p.name_any(), p.clone());
                s.pods.insert(p.name_any(), p);
            }
            watcher::Event::Delete(p) => {
                s.pods.remove(&p.name_any());
                s.last_seen.insert(p.name_any(), p);
            }
            watcher::Event::InitDone => s.pods_synced = true,
            watcher::Event::Init => {}
        }
        if s.pods_synced {
            s.pods_changed();
        }
    }
}

async fn watch_replica_sets(client: Client, namespace: &str, labels: &str, seen: Arc<Mutex<Seen>>) {
    let api: Api<ReplicaSet> = Api::namespaced(client, namespace);
    let mut stream = watcher(api, watcher::Config::default().labels(labels)).boxed();
    while let Some(event) = stream.next().await {
        let Ok(event) = event else { continue };
        let mut s = seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match event {
            watcher::Event::Apply(rs) | watcher::Event::InitApply(rs) => s.replica_set(&rs),
            watcher::Event::Delete(rs) => {
                s.rs_current.remove(&rs.name_any());
            }
            watcher::Event::InitDone => s.rs_synced = true,
            watcher::Event::Init => {}
        }
    }
}

/// `kubectl rollout history`'s table as (revision, change-cause) rows.
pub fn history_rows(history: &str) -> Vec<(String, String)> {
    history
        .lines()
        .skip_while(|l| !l.starts_with("REVISION"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (revision, cause) = l
                .trim()
                .split_once(char::is_whitespace)
                .unwrap_or((l.trim(), ""));
            (revision.to_string(), cause.trim().to_string())
        })
        .collect()
}

/// A Deployment `name` (label `app: name`) of `replicas` nginx pods rolled out with
/// maxSurge 1 / maxUnavailable 0, each pod taking `startup_delay` to start in kubelet-sim.
pub fn surge_only_deployment(name: &str, replicas: u32, startup_delay: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{kubesim.io/startup-delay: {startup_delay}}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
"
    )
}
