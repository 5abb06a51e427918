//! kubesim's controller manager: level-triggered reconcilers, as kube-controller-manager.
//!
//! Each controller is a client of the API server over HTTP (kube-rs), reads desired and
//! observed state, and acts on the difference; it is safe to run twice, after a crash, or
//! with a stale cache — optimistic concurrency catches the stale write. One controller per
//! file.

pub mod namespace;

use std::time::Duration;

use kube::Client;

/// How the controller manager is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API server's URL.
    pub server: String,
}

impl Config {
    pub fn new(server: &str) -> Self {
        Config { server: server.to_string() }
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
    Client::try_from(config).map_err(Error::Client)
}

/// Run every controller until the task is dropped.
pub async fn run(config: Config) -> Result<(), Error> {
    let client = client(&config.server)?;
    namespace::run(client).await;
    Ok(())
}
