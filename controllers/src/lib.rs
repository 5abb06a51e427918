//! kubesim's controller manager: level-triggered reconcilers, as kube-controller-manager.
//!
//! Each controller is a client of the API server over HTTP (kube-rs), reads desired and
//! observed state, and acts on the difference; it is safe to run twice, after a crash, or
//! with a stale cache — optimistic concurrency catches the stale write. One controller per
//! file.

pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod expectations;
pub mod garbage_collector;
pub mod namespace;
pub mod node_lifecycle;
pub mod replicaset;
pub mod serviceaccount;

use std::time::Duration;

use kube::Client;

/// How the controller manager is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API server's URL.
    pub server: String,
    /// Node lifecycle: how long a node may go without renewing its Lease before it is
    /// marked `Ready=Unknown` (`--node-monitor-grace-period`, upstream 50 s since 1.32).
    pub node_monitor_grace_period: Duration,
    /// Which controllers run, as upstream's `--controllers`: `*` for all, a name to
    /// enable one, `-name` to disable one (`*,-deployment`). Default `["*"]`.
    pub controllers: Vec<String>,
}

impl Config {
    pub fn new(server: &str) -> Self {
        Config { server: server.to_string(), node_monitor_grace_period: node_lifecycle::DEFAULT_GRACE_PERIOD, controllers: vec!["*".to_string()] }
    }

    /// Whether `--controllers` selects the controller `name`.
    pub fn enabled(&self, name: &str) -> bool {
        let listed = |entry: &str| self.controllers.iter().any(|c| c.trim() == entry);
        if listed(&format!("-{name}")) {
            return false;
        }
        listed(name) || listed("*")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid API server URL {0:?}")]
    InvalidServer(String),
    #[error("could not build a client: {0}")]
    Client(#[source] kube::Error),
}

/// A kube-rs client for the API server at `server`.
pub fn client(server: &str) -> Result<Client, Error> {
    let url = server.parse().map_err(|_| Error::InvalidServer(server.to_string()))?;
    let mut config = kube::Config::new(url);
    config.read_timeout = Some(Duration::from_secs(300));
    // Writes are recorded under the User-Agent's first word, as upstream's are: the
    // audit trail and managedFields name `kube-controller-manager`.
    let user_agent = concat!("kube-controller-manager/v", env!("CARGO_PKG_VERSION"), " (kubesim)");
    config.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static(user_agent)));
    Client::try_from(config).map_err(Error::Client)
}

/// Run every controller until the task is dropped.
pub async fn run(config: Config) -> Result<(), Error> {
    let client = client(&config.server)?;
    let grace_period = config.node_monitor_grace_period;
    let all: Vec<(&str, futures::future::BoxFuture<'static, ()>)> = vec![
        ("namespace", Box::pin(namespace::run(client.clone()))),
        ("garbagecollector", Box::pin(garbage_collector::run(client.clone()))),
        ("serviceaccount", Box::pin(serviceaccount::run(client.clone()))),
        ("endpoints", Box::pin(endpoints::run(client.clone()))),
        ("endpointslice", Box::pin(endpointslice::run(client.clone()))),
        ("disruption", Box::pin(disruption::run(client.clone()))),
        ("nodelifecycle", Box::pin(node_lifecycle::run(client.clone(), node_lifecycle::Config { grace_period }))),
        (replicaset::NAME, Box::pin(replicaset::run(client.clone()))),
        (deployment::NAME, Box::pin(deployment::run(client.clone()))),
    ];
    let selected = all.into_iter().filter(|(name, _)| config.enabled(name)).map(|(_, run)| run);
    futures::future::join_all(selected).await;
    Ok(())
}
