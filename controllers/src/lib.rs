//! kubesim's controller manager: level-triggered reconcilers, as kube-controller-manager.
//!
//! Each controller is a client of the API server over HTTP (kube-rs), reads desired and
//! observed state, and acts on the difference; it is safe to run twice, after a crash, or
//! with a stale cache — optimistic concurrency catches the stale write. One controller per
//! file.

pub mod cache;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod events;
pub mod expectations;
pub mod garbage_collector;
pub mod namespace;
pub mod node_lifecycle;
pub mod per_namespace;
pub mod podgc;
pub mod replicaset;
pub mod root_ca_publisher;
pub mod serviceaccount;

use std::time::Duration;

use kube::Client;

/// The controllers, as upstream's `--controllers` knows them: canonical name and alias.
pub const CONTROLLERS: &[(&str, Option<&str>)] = &[
    ("namespace-controller", Some("namespace")),
    ("garbage-collector-controller", Some("garbagecollector")),
    ("serviceaccount-controller", Some("serviceaccount")),
    (
        "root-ca-certificate-publisher-controller",
        Some("root-ca-cert-publisher"),
    ),
    ("endpoints-controller", Some("endpoint")),
    ("endpointslice-controller", Some("endpointslice")),
    ("disruption-controller", Some("disruption")),
    ("node-lifecycle-controller", Some("nodelifecycle")),
    ("taint-eviction-controller", None),
    (podgc::NAME, Some(podgc::ALIAS)),
    ("replicaset-controller", Some(replicaset::NAME)),
    ("deployment-controller", Some(deployment::NAME)),
];

/// How the controller manager is set up.
#[derive(Debug, Clone)]
pub struct Config {
    /// The API server's URL.
    pub server: String,
    /// Node lifecycle: how long a node may go without renewing its Lease before it is
    /// marked `Ready=Unknown` (`--node-monitor-grace-period`, upstream 50 s since 1.32).
    pub node_monitor_grace_period: Duration,
    /// Which controllers run, as upstream's `--controllers`: `*` for all, a name to
    /// enable one, `-name` to disable one (`*,-deployment`), the first entry naming a
    /// controller deciding. Names are the canonical ones (`replicaset-controller`) or
    /// their aliases (`replicaset`), see [`CONTROLLERS`]. Default `["*"]`.
    pub controllers: Vec<String>,
    /// The pod garbage collector's timing and `--terminated-pod-gc-threshold`.
    pub pod_gc: podgc::Config,
}

impl Config {
    pub fn new(server: &str) -> Self {
        Config {
            server: server.to_string(),
            node_monitor_grace_period: node_lifecycle::DEFAULT_GRACE_PERIOD,
            controllers: vec!["*".to_string()],
            pod_gc: podgc::Config::default(),
        }
    }

    /// `--controllers` entries must name known controllers, as upstream's validation
    /// requires ("\"x\" is not in the list of known controllers").
    pub fn validate(&self) -> Result<(), Error> {
        for entry in &self.controllers {
            let entry = entry.trim();
            let name = entry.strip_prefix('-').unwrap_or(entry);
            if entry != "*" && canonical(name).is_none() {
                return Err(Error::UnknownController(name.to_string()));
            }
        }
        Ok(())
    }

    /// Whether `--controllers` selects the controller `name` (canonical or alias), as
    /// upstream's `IsControllerEnabled`: the first entry naming it decides, else `*`.
    pub fn enabled(&self, name: &str) -> bool {
        let Some(name) = canonical(name) else {
            return false;
        };
        let mut star = false;
        for entry in self.controllers.iter().map(|c| c.trim()) {
            if entry == "*" {
                star = true;
            } else if let Some(disabled) = entry.strip_prefix('-') {
                if canonical(disabled) == Some(name) {
                    return false;
                }
            } else if canonical(entry) == Some(name) {
                return true;
            }
        }
        star
    }
}

/// The canonical name of a controller named by its canonical name or alias.
fn canonical(name: &str) -> Option<&'static str> {
    CONTROLLERS
        .iter()
        .find(|(canonical, alias)| *canonical == name || *alias == Some(name))
        .map(|(canonical, _)| *canonical)
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid API server URL {0:?}")]
    InvalidServer(String),
    #[error("could not build a client: {0}")]
    Client(#[source] kube::Error),
    #[error("{0:?} is not in the list of known controllers")]
    UnknownController(String),
}

/// The owner reference a controller puts on what it creates or adopts, as upstream's
/// `metav1.NewControllerRef`: `controller` and `blockOwnerDeletion` both true, so a
/// foreground deletion of the owner waits for it. (kube-rs's `controller_owner_ref`
/// leaves `blockOwnerDeletion` unset.)
pub fn controller_ref<K: kube::Resource<DynamicType = ()>>(
    owner: &K,
) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
    let mut reference = owner.controller_owner_ref(&())?;
    reference.block_owner_deletion = Some(true);
    Some(reference)
}

/// A kube-rs client for the API server at `server`.
pub fn client(server: &str) -> Result<Client, Error> {
    let url = server
        .parse()
        .map_err(|_| Error::InvalidServer(server.to_string()))?;
    let mut config = kube::Config::new(url);
    config.read_timeout = Some(Duration::from_secs(300));
    // Writes are recorded under the User-Agent's first word, as upstream's are: the
    // audit trail and managedFields name `kube-controller-manager`.
    let user_agent = concat!(
        "kube-controller-manager/v",
        env!("CARGO_PKG_VERSION"),
        " (kubesim)"
    );
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(user_agent),
    ));
    Client::try_from(config).map_err(Error::Client)
}

/// Run the selected controllers until the task is dropped; an unknown name in
/// `--controllers` is an error, as upstream refuses to start.
pub async fn run(config: Config) -> Result<(), Error> {
    config.validate()?;
    let client = client(&config.server)?;
    let node_lifecycle = node_lifecycle::Config {
        grace_period: config.node_monitor_grace_period,
        evict: config.enabled("taint-eviction-controller"),
    };
    let all: Vec<(&str, futures::future::BoxFuture<'static, ()>)> = vec![
        ("namespace", Box::pin(namespace::run(client.clone()))),
        (
            "garbagecollector",
            Box::pin(garbage_collector::run(client.clone())),
        ),
        (
            "serviceaccount",
            Box::pin(serviceaccount::run(client.clone())),
        ),
        (
            "root-ca-cert-publisher",
            Box::pin(root_ca_publisher::run(client.clone())),
        ),
        ("endpoint", Box::pin(endpoints::run(client.clone()))),
        (
            "endpointslice",
            Box::pin(endpointslice::run(client.clone())),
        ),
        ("disruption", Box::pin(disruption::run(client.clone()))),
        (
            "nodelifecycle",
            Box::pin(node_lifecycle::run(client.clone(), node_lifecycle)),
        ),
        (
            podgc::ALIAS,
            Box::pin(podgc::run(client.clone(), config.pod_gc.clone())),
        ),
        (replicaset::NAME, Box::pin(replicaset::run(client.clone()))),
        (deployment::NAME, Box::pin(deployment::run(client.clone()))),
    ];
    let selected = all
        .into_iter()
        .filter(|(name, _)| config.enabled(name))
        .map(|(_, run)| run);
    futures::future::join_all(selected).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(controllers: &[&str]) -> Config {
        Config {
            controllers: controllers.iter().map(|s| s.to_string()).collect(),
            ..Config::new("http://127.0.0.1:1")
        }
    }

    #[test]
    fn controllers_are_selected_as_upstream() {
        let all = config(&["*"]);
        assert!(CONTROLLERS.iter().all(|(name, _)| all.enabled(name)));
        let c = config(&["*", "-deployment", "-podgc"]);
        assert!(c.enabled("replicaset") && c.enabled("replicaset-controller"));
        assert!(
            !c.enabled("deployment")
                && !c.enabled("deployment-controller")
                && !c.enabled("pod-garbage-collector-controller")
        );
        // Without `*` only the named ones; the first entry naming a controller decides.
        let c = config(&["replicaset", "-replicaset-controller"]);
        assert!(c.enabled("replicaset") && !c.enabled("deployment"));
        let c = config(&["-endpoint", "*", "endpoints-controller"]);
        assert!(!c.enabled("endpoint"));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn an_unknown_controller_is_refused() {
        let err = config(&["*", "-deployments"]).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"deployments\" is not in the list of known controllers"
        );
        assert!(
            config(&["endpoints"]).validate().is_err(),
            "upstream's alias is `endpoint`"
        );
        assert!(
            config(&[
                "taint-eviction-controller",
                "podgc",
                "nodelifecycle",
                "garbagecollector"
            ])
            .validate()
            .is_ok()
        );
    }
}
