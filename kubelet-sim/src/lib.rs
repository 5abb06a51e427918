//! Simulated kubelets: many nodes in one process that register, heartbeat and drive
//! pods through their lifecycle, without running a single container.
//!
//! Toward the API server each simulated node behaves as a kubelet does: it registers a
//! `Node` (capacity, labels, taints, addresses, `nodeInfo`, a `podCIDR`, conditions),
//! renews its `Lease` in `kube-node-lease`, posts node status on change and at least
//! every five minutes, and for the pods bound to it writes `pods/status` as the kubelet
//! would: `Pending` with `ContainerCreating`, `Running` with `startedAt`, the pod IP, the
//! conditions `PodReadyToStartContainers`, `Initialized`, `ContainersReady`, `Ready`;
//! restarts with `CrashLoopBackOff`; `Succeeded`/`Failed`; graceful termination ending in
//! a delete with grace 0.
//!
//! What each container does comes from a small behaviour model ([`behaviour`]): its
//! command (`sleep 5`, `sh -c "exit 3"`) and annotations under `kubesim.io/`. Every
//! simulated delay passes through one [`clock::Clock`] with a time scale. Pods' logs and
//! resource use are served by one HTTP endpoint per process ([`server`]), which the API
//! server proxies for `pods/log` and reads for `metrics.k8s.io`.
//!
//! Parts, one concept each: [`config`] (the node file), [`node`] (registration,
//! heartbeats, faults), [`admission`] (whether a node takes a pod), [`pods`] (the watch
//! and the pod workers), [`sim`] (one pod's state machine, pure), [`events`] (the
//! kubelet's Events), [`logs`], [`server`].

pub mod admission;
pub mod behaviour;
pub mod clock;
pub mod config;
pub mod events;
pub mod logs;
pub mod node;
pub mod node_events;
pub mod pods;
pub mod server;
pub mod sim;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use futures::StreamExt;
use kube::Client;
use parking_lot::Mutex;
use tokio::net::TcpListener;

pub use clock::Clock;
pub use config::{Config, NodeFile, Pool};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid API server URL {0:?}")]
    InvalidServer(String),
    #[error("could not build a client: {0}")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error(transparent)]
    TimeScale(#[from] clock::ScaleError),
    #[error("could not listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Pods with a worker, by uid.
pub type RunningPods = Arc<Mutex<HashMap<String, pods::Running>>>;

/// What every part of a kubelet-sim process shares.
pub struct Context {
    pub client: Client,
    pub clock: Clock,
    pub config: Config,
    /// The simulated nodes, by name; fixed at start.
    pub nodes: HashMap<String, Arc<node::SimNode>>,
    pub logs: logs::Logs,
    /// Where pod workers send the Events they record.
    pub recorder: events::Recorder,
    pub running: RunningPods,
    /// The kubelet endpoint every node reports.
    pub endpoint: SocketAddr,
    /// Lease writes so far (for the benchmark).
    pub lease_writes: AtomicU64,
}

/// A kube-rs client for the API server at `server`.
pub fn client(server: &str) -> Result<Client, Error> {
    let url = server
        .parse()
        .map_err(|_| Error::InvalidServer(server.to_string()))?;
    let mut config = kube::Config::new(url);
    config.read_timeout = Some(Duration::from_secs(300));
    // Writes are recorded under the User-Agent's first word, as upstream's are: the
    // audit trail and managedFields name `kubelet`.
    let user_agent = concat!("kubelet/v", env!("CARGO_PKG_VERSION"), " (kubesim)");
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(user_agent),
    ));
    Client::try_from(config).map_err(Error::Client)
}

/// A started kubelet-sim process.
pub struct Kubelet {
    pub context: Arc<Context>,
}

impl Kubelet {
    /// Bind the kubelet endpoint and build the nodes; nothing is sent yet.
    pub async fn new(config: Config) -> Result<Kubelet, Error> {
        let scale = Clock::check_scale(config.time_scale)?;
        let client = client(&config.server)?;
        let addr = SocketAddr::new(config.address, config.port);
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        let endpoint = listener
            .local_addr()
            .map_err(|source| Error::Listen { addr, source })?;
        let nodes: HashMap<String, Arc<node::SimNode>> = node::build(&config)?
            .into_iter()
            .map(|n| (n.name.clone(), Arc::new(n)))
            .collect();
        // As upstream's per-kubelet limits (a queue of 1,000 events, 50 writes/s), for
        // all of this process's nodes together.
        let count = nodes.len().max(1);
        let qps = config.event_qps.unwrap_or(50.0 * count as f64);
        let recorder = events::Recorder::start(
            client.clone(),
            nodes.clone(),
            count.saturating_mul(1000).min(100_000),
            qps,
        );
        let context = Arc::new(Context {
            client,
            clock: Clock::new(scale),
            config,
            nodes,
            logs: logs::Logs::default(),
            recorder,
            running: RunningPods::default(),
            endpoint,
            lease_writes: AtomicU64::new(0),
        });
        let app = server::router(context.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "kubelet endpoint");
            }
        });
        Ok(Kubelet { context })
    }

    /// Register every node, then heartbeat and drive pods until the task is dropped.
    pub async fn run(self) {
        let ctx = self.context;
        tracing::info!(nodes = ctx.nodes.len(), endpoint = %ctx.endpoint, time_scale = ctx.clock.scale(), "kubelet-sim starting");
        // Faults first: a node stopped before this process started must not write.
        let (listed, nodes_listed) = tokio::sync::oneshot::channel();
        tokio::spawn(node::watch_faults(ctx.clone(), listed));
        let _ = tokio::time::timeout(Duration::from_secs(10), nodes_listed).await;
        tokio::spawn(pods::run(ctx.clone()));
        let mut names: Vec<Arc<node::SimNode>> = ctx.nodes.values().cloned().collect();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        let registrations = futures::stream::iter(names)
            .map(|n| {
                let ctx = ctx.clone();
                async move {
                    loop {
                        match node::register(&ctx, &n).await {
                            Ok(registered) => {
                                tokio::spawn(node::heartbeat(ctx.clone(), n.clone(), registered));
                                return;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "retrying");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                }
            })
            .buffer_unordered(64);
        registrations.collect::<()>().await;
        tracing::info!("kubelet-sim: every node registered");
        std::future::pending::<()>().await;
    }
}

/// Start a kubelet-sim process and run it until the task is dropped.
pub async fn run(config: Config) -> Result<(), Error> {
    Kubelet::new(config).await?.run().await;
    Ok(())
}
