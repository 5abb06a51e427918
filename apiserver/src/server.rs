//! The API server: its configuration, shared state and HTTP router.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use kubesim_apimachinery::Registry;
use serde_json::json;
use tokio::net::TcpListener;

use crate::audit::Audit;
use crate::storage::{MemoryStorage, Storage, memory};
use crate::{handlers, openapi, system};

/// How the API server is set up.
#[derive(Debug, Clone)]
pub struct Config {
    pub storage: memory::Config,
    /// How often a watch that allows bookmarks gets one (upstream: about a minute).
    pub bookmark_interval: Duration,
    /// Writes the audit trail keeps.
    pub audit_capacity: usize,
    /// Where Services get their ClusterIPs and node ports.
    pub services: crate::allocator::Config,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            storage: memory::Config::default(),
            bookmark_interval: Duration::from_secs(60),
            audit_capacity: 10_000,
            services: crate::allocator::Config::default(),
        }
    }
}

/// Everything a request handler reaches.
pub struct ApiServer {
    pub config: Config,
    pub registry: Registry,
    pub storage: Arc<dyn Storage>,
    pub audit: Audit,
    /// Flips to true when the server stops, to end open watches.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// OpenAPI v3 documents, generated on first request.
    pub openapi: openapi::Cache,
    /// ClusterIP and NodePort allocation for Services.
    pub allocator: crate::allocator::Allocator,
}

/// The namespaces every cluster starts with.
pub const INITIAL_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

impl ApiServer {
    /// A server with the built-in resources and the initial namespaces.
    pub fn new(config: Config) -> Arc<Self> {
        let storage = Arc::new(MemoryStorage::new(config.storage));
        let allocator = crate::allocator::Allocator::new(config.services);
        let server = Arc::new(ApiServer {
            audit: Audit::new(config.audit_capacity),
            stopping: tokio::sync::watch::Sender::new(false),
            config,
            registry: Registry::with_builtins(),
            storage,
            openapi: openapi::Cache::default(),
            allocator,
        });
        for name in INITIAL_NAMESPACES {
            let namespace =
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            if let Err(err) = handlers::write::create_internal(&server, "namespaces", namespace) {
                tracing::error!(namespace = name, error = %err, "could not create initial namespace");
            }
        }
        // Upstream's post-start hook `scheduling/bootstrap-system-priority-classes`.
        for (name, value, description) in crate::strategy::SYSTEM_PRIORITY_CLASSES {
            let class = json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": name}, "value": value, "description": description});
            let created = handlers::write::create_internal(
                &server,
                "priorityclasses.scheduling.k8s.io",
                class,
            );
            if let Err(err) = created {
                tracing::error!(priority_class = name, error = %err, "could not create system priority class");
            }
        }
        server
    }

    /// The HTTP routes: fixed system endpoints, and every API path by the registry.
    pub fn router(self: &Arc<Self>) -> Router {
        system::health_routes(Router::new())
            .route("/version", get(system::version))
            .route("/openapi/v3", get(openapi::root))
            .route("/openapi/v3/{*group_version}", get(openapi::group_version))
            .route("/openapi/v2", get(openapi::v2))
            .route("/kubesim/v1/audit", get(crate::audit::list))
            .route("/kubesim/v1/compact", axum::routing::post(system::compact))
            .fallback(handlers::dispatch)
            .with_state(self.clone())
    }
}

/// How long requests in flight may take to finish once shutdown begins. A watcher whose
/// client has stopped reading would otherwise hold its connection open for ever.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Serve until `shutdown` resolves; open watches end then, as upstream closes them, and
/// connections still open [`SHUTDOWN_GRACE`] later are dropped.
pub async fn serve(
    server: Arc<ApiServer>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let addr: Option<SocketAddr> = listener.local_addr().ok();
    tracing::info!(?addr, "API server listening");
    let router = server.router();
    if let Some(addr) = addr {
        tokio::spawn(crate::kubernetes_service::run(server.clone(), addr));
    }
    let mut stopping = server.stopping.subscribe();
    let stop = async move {
        shutdown.await;
        server.stopping.send_replace(true);
    };
    let graceful = axum::serve(listener, router)
        .with_graceful_shutdown(stop)
        .into_future();
    let deadline = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        served = graceful => served,
        () = deadline => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still in flight after the shutdown grace period; closing their connections");
            Ok(())
        }
    }
}
