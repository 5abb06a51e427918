//! kubesim's scheduler: assigns each pending pod to a node, as kube-scheduler does.
//!
//! A client of the API server like any other: it watches nodes and pods (kube-rs
//! watchers) into its cache, queues every pod with no `spec.nodeName` whose
//! `spec.schedulerName` is one of its profiles (`default-scheduler` by default), and for
//! each runs the scheduling framework — Filter plugins say which nodes may take the pod,
//! Score plugins rank those — then writes the choice with `POST pods/{name}/binding`.
//! A pod no node fits gets `PodScheduled=False` (reason `Unschedulable`) with upstream's
//! message and a `FailedScheduling` Event, and may preempt lower-priority pods.
//!
//! Beyond kube-scheduler, every attempt's full result — per node which filter rejected it
//! and why, per score plugin the raw and normalised scores, the pick — is recorded on the
//! pod in the [`explain::ANNOTATION`] annotation (see docs/scheduler.md).
//!
//! Layout: [`framework`] (extension points, never naming a plugin), [`plugins`] (one per
//! file, [`plugins::registry`]), [`config`] (the KubeSchedulerConfiguration subset),
//! [`queue`], [`cache`], [`scheduler`] (the loop), [`explain`], [`recorder`] (Events),
//! [`metrics`], [`trimmed_pod`] (pods decoded without managedFields).

pub mod cache;
pub mod config;
pub mod explain;
pub mod framework;
pub mod metrics;
pub mod plugins;
pub mod queue;
pub mod recorder;
pub mod scheduler;
pub mod trimmed_pod;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;

pub use scheduler::Scheduler;

/// kube-scheduler's secure port; kubesim serves plain HTTP there.
pub const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:10259";

/// How the scheduler is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API server's URL.
    pub server: String,
    /// A `KubeSchedulerConfiguration` file; `None` for upstream's defaults.
    pub config_file: Option<PathBuf>,
    /// An already parsed configuration (wins over `config_file`).
    pub file: Option<config::File>,
    /// Record the explanation annotation on pods.
    pub explain: bool,
    /// Where to serve `/metrics` and `/healthz`; `None` for nowhere.
    pub metrics_address: Option<SocketAddr>,
    /// Plugins besides the in-tree ones, which the configuration may enable.
    pub out_of_tree: plugins::registry::OutOfTree,
}

impl Config {
    pub fn new(server: &str) -> Self {
        Config {
            server: server.to_string(),
            config_file: None,
            file: None,
            explain: true,
            metrics_address: None,
            out_of_tree: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid API server URL {0:?}")]
    InvalidServer(String),
    #[error("could not build a client: {0}")]
    Client(#[source] kube::Error),
    #[error(transparent)]
    Config(#[from] config::Error),
}

/// A kube-rs client for the API server at `server`.
pub fn client(server: &str) -> Result<Client, Error> {
    let url = server
        .parse()
        .map_err(|_| Error::InvalidServer(server.to_string()))?;
    let mut config = kube::Config::new(url);
    config.read_timeout = Some(Duration::from_secs(300));
    // Writes are recorded under the User-Agent's first word, as upstream's are: the
    // audit trail and managedFields name `kube-scheduler`.
    let user_agent = concat!("kube-scheduler/v", env!("CARGO_PKG_VERSION"), " (kubesim)");
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(user_agent),
    ));
    Client::try_from(config).map_err(Error::Client)
}

/// Build the scheduler from its configuration (without starting it).
pub fn build(config: &Config) -> Result<Arc<Scheduler>, Error> {
    let client = client(&config.server)?;
    let file = match (&config.file, &config.config_file) {
        (Some(f), _) => f.clone(),
        (None, Some(path)) => config::read(path)?,
        (None, None) => config::File::default(),
    };
    let handle = plugins::registry::Handle {
        client: Some(client.clone()),
        out_of_tree: config.out_of_tree.clone(),
    };
    let frameworks = file.frameworks(&handle)?;
    Ok(Scheduler::new(client, frameworks, config.explain))
}

/// Run the scheduler until the task is dropped.
pub async fn run(config: Config) -> Result<(), Error> {
    let (_, task) = spawn(config).await?;
    let _ = task.await;
    Ok(())
}

/// Start the scheduler in the background: the address `/metrics` is served on (the port
/// actually bound, when the configuration asked for port 0), and the running task.
pub async fn spawn(
    config: Config,
) -> Result<(Option<SocketAddr>, tokio::task::JoinHandle<()>), Error> {
    let scheduler = build(&config)?;
    let metrics = match config.metrics_address {
        Some(addr) => serve_metrics(scheduler.clone(), addr).await,
        None => None,
    };
    Ok((metrics, tokio::spawn(scheduler.run())))
}

/// Serve `/metrics` and `/healthz` on `addr` in the background; a port in use is logged,
/// not fatal (several kubesim clusters may run on one machine).
pub async fn serve_metrics(scheduler: Arc<Scheduler>, addr: SocketAddr) -> Option<SocketAddr> {
    use axum::routing::get;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "scheduler metrics not served");
            return None;
        }
    };
    let local = listener.local_addr().ok();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let s = scheduler.clone();
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        s.metrics_text(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "scheduler metrics server stopped");
        }
    });
    local
}
