//! `kubesim`: a mini Kubernetes control plane for learning.
//!
//! `kubesim up` starts a cluster on 127.0.0.1 in well under a second and writes a
//! kubeconfig for kubectl; each component can also run alone against any API server.
//! The binary is `main.rs`; this library is the command line, so end-to-end tests run
//! exactly what a user runs.

pub mod kubeconfig;

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use kubesim_apiserver::{ApiServer, Config};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "kubesim", version, about = "A mini Kubernetes control plane for learning", long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start a whole cluster: the API server and, as they land, every other component,
    /// each talking HTTP to the API server. Writes a kubeconfig for kubectl.
    Up(UpArgs),
    /// Run the API server alone.
    Apiserver(ServeArgs),
    /// Run the scheduler alone against an API server.
    Scheduler(SchedulerArgs),
    /// Run the controller manager alone against an API server.
    ControllerManager(ControllerManagerArgs),
    /// Run simulated kubelets (nodes) alone against an API server.
    Kubelet(KubeletArgs),
    /// Faults for demos: stop or start a simulated node's heartbeats, make it report
    /// pressure, restart it (an annotation on the Node, which kubelet-sim obeys).
    Node(NodeArgs),
}

#[derive(Args)]
pub struct KubeletArgs {
    /// The API server's URL.
    #[arg(long, default_value = "http://127.0.0.1:6443")]
    server: String,
    /// Default-shaped nodes to simulate (when no --config is given).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// A node file (YAML, `pools: [...]`; see docs/kubelet.md).
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    options: KubeletOptions,
}

/// kubelet-sim's options, shared by `kubesim kubelet` and `kubesim up`.
#[derive(Args, Clone)]
pub struct KubeletOptions {
    /// How many times faster than real time simulated delays pass (`sleep 10` with
    /// 10 takes a second).
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Port of the kubelet endpoint (logs, usage) on 127.0.0.1; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    kubelet_port: u16,
    /// The range node pod CIDRs (one /24 each) are cut from.
    #[arg(long, default_value = "10.244.0.0/16")]
    pod_cidr: String,
    /// Each node's `Lease` duration; nodes renew it every quarter of that, as upstream's
    /// kubelet (`--node-lease-duration-seconds`).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(i32).range(1..))]
    node_lease_duration_seconds: i32,
}

impl KubeletOptions {
    fn config(
        &self,
        server: &str,
        nodes: usize,
        file: Option<&PathBuf>,
    ) -> anyhow::Result<kubesim_kubelet::Config> {
        let mut config = kubesim_kubelet::Config::new(server, nodes);
        if let Some(path) = file {
            config.pools = kubesim_kubelet::NodeFile::read(&path.display().to_string())?.pools;
        }
        config.time_scale = self.time_scale;
        config.port = self.kubelet_port;
        config.pod_cidr = self.pod_cidr.clone();
        config.lease_duration_seconds = self.node_lease_duration_seconds;
        config.lease_renew_interval =
            std::time::Duration::from_secs_f64(f64::from(self.node_lease_duration_seconds) / 4.0);
        Ok(config)
    }
}

#[derive(Args)]
pub struct NodeArgs {
    /// The API server's URL.
    #[arg(long, env = "KUBESIM_SERVER", default_value = "http://127.0.0.1:6443")]
    server: String,
    #[command(subcommand)]
    action: NodeAction,
}

#[derive(Subcommand)]
pub enum NodeAction {
    /// Stop the node's heartbeats (Lease and status): it goes NotReady.
    Stop { name: String },
    /// Resume heartbeats and clear pressure.
    Start { name: String },
    /// Make the node report pressure (memory, disk, pid; comma-separated).
    Pressure {
        name: String,
        #[arg(long, default_value = "memory")]
        kind: String,
    },
    /// Restart the node: its pods' containers restart.
    Restart { name: String },
}

#[derive(Args)]
pub struct ControllerManagerArgs {
    /// The API server's URL.
    #[arg(long, default_value = "http://127.0.0.1:6443")]
    server: String,
    #[command(flatten)]
    options: ControllerOptions,
}

/// The controller manager's options, shared by `kubesim controller-manager` and `kubesim up`.
#[derive(Args, Clone)]
pub struct ControllerOptions {
    /// Controllers to run, as kube-controller-manager's flag: `*` for all, `name` to
    /// enable one, `-name` to disable one (e.g. `*,-deployment`), the first entry naming a
    /// controller deciding. Upstream's names or aliases: replicaset-controller
    /// (replicaset), deployment-controller (deployment), endpoints-controller (endpoint),
    /// endpointslice-controller (endpointslice), disruption-controller (disruption),
    /// node-lifecycle-controller (nodelifecycle), taint-eviction-controller,
    /// pod-garbage-collector-controller (podgc), garbage-collector-controller
    /// (garbagecollector), namespace-controller (namespace), serviceaccount-controller
    /// (serviceaccount), root-ca-certificate-publisher-controller (root-ca-cert-publisher).
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
    /// How long a node may go without a heartbeat before it is marked NotReady
    /// (`Ready=Unknown`), e.g. `50s`, `500ms`, `1m`; upstream's default since v1.32.
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    node_monitor_grace_period: std::time::Duration,
    /// Terminated pods kept before the pod garbage collector deletes the oldest; 0 keeps
    /// them all (upstream's `--terminated-pod-gc-threshold`).
    #[arg(long, default_value_t = 12500)]
    terminated_pod_gc_threshold: usize,
}

impl ControllerOptions {
    /// The controller manager's configuration; unknown controller names are an error.
    fn config(&self, server: &str) -> anyhow::Result<kubesim_controllers::Config> {
        let mut config = kubesim_controllers::Config::new(server);
        config.controllers = self.controllers.clone();
        config.node_monitor_grace_period = self.node_monitor_grace_period;
        config.pod_gc.terminated_threshold = self.terminated_pod_gc_threshold;
        config.validate()?;
        Ok(config)
    }
}

/// A Go-style duration with one unit: `40s`, `500ms`, `2m`, `1h`.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {s:?}"))?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration {s:?}: unit must be ms, s, m or h"
            ));
        }
    };
    std::time::Duration::try_from_secs_f64(seconds)
        .map_err(|e| format!("invalid duration {s:?}: {e}"))
}

#[derive(Args)]
pub struct SchedulerArgs {
    /// The API server's URL.
    #[arg(long, default_value = "http://127.0.0.1:6443")]
    server: String,
    #[command(flatten)]
    options: SchedulerOptions,
}

/// The scheduler's options, shared by `kubesim scheduler` and `kubesim up`.
#[derive(Args, Clone)]
pub struct SchedulerOptions {
    /// A KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) file.
    #[arg(long = "scheduler-config", visible_alias = "config")]
    scheduler_config: Option<PathBuf>,
    /// Where the scheduler serves /metrics and /healthz (plain HTTP); 0 disables.
    #[arg(long = "scheduler-metrics-address", default_value = kubesim_scheduler::DEFAULT_METRICS_ADDRESS)]
    scheduler_metrics_address: String,
    /// Do not record the scheduler's explanation annotation on pods.
    #[arg(long)]
    no_scheduler_explanation: bool,
}

impl SchedulerOptions {
    fn config(&self, server: &str) -> anyhow::Result<kubesim_scheduler::Config> {
        let mut config = kubesim_scheduler::Config::new(server);
        config.config_file = self.scheduler_config.clone();
        config.explain = !self.no_scheduler_explanation;
        config.metrics_address = match self.scheduler_metrics_address.as_str() {
            "0" | "" => None,
            a => Some(
                a.parse()
                    .with_context(|| format!("invalid scheduler metrics address {a:?}"))?,
            ),
        };
        // Read the file now, so a bad one fails the command rather than a background task.
        if let Some(path) = &config.config_file {
            config.file = Some(kubesim_scheduler::config::read(path)?);
        }
        Ok(config)
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    address: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Events kept per resource for watches resuming from a resourceVersion.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
    /// Seconds between bookmarks on watches that allow them.
    #[arg(long, default_value_t = 60)]
    bookmark_interval: u64,
    /// The range Services' ClusterIPs are allocated from.
    #[arg(long, default_value = "10.96.0.0/12")]
    service_cluster_ip_range: kubesim_apiserver::allocator::Cidr,
    /// The range Services' node ports are allocated from.
    #[arg(long, default_value = "30000-32767")]
    service_node_port_range: kubesim_apiserver::allocator::PortRange,
}

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Where to write the kubeconfig [default: the user's cache dir, else ./kubesim.kubeconfig]
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Do not start the controller manager.
    #[arg(long)]
    no_controllers: bool,
    #[command(flatten)]
    controller_options: ControllerOptions,
    /// Do not start the scheduler.
    #[arg(long)]
    no_scheduler: bool,
    #[command(flatten)]
    scheduler: SchedulerOptions,
    /// Do not start the simulated kubelets.
    #[arg(long)]
    no_kubelet: bool,
    /// Default-shaped simulated nodes (when no --node-config is given).
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// A node file (YAML, `pools: [...]`; see docs/kubelet.md).
    #[arg(long)]
    node_config: Option<PathBuf>,
    #[command(flatten)]
    kubelet: KubeletOptions,
}

/// Run a `kubesim` command until it is stopped by Ctrl-C or SIGTERM, or `shutdown`
/// resolves.
pub async fn run(
    cli: Cli,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = async move {
        tokio::select! {
            _ = shutdown_signal() => {},
            _ = shutdown => {},
        }
    };
    match cli.command {
        Command::Up(args) => up(args, stop).await,
        Command::Apiserver(args) => apiserver(args, stop).await,
        Command::Scheduler(args) => scheduler(args, stop).await,
        Command::ControllerManager(args) => controller_manager(args, stop).await,
        Command::Kubelet(args) => kubelet(args, stop).await,
        Command::Node(args) => node(args).await,
    }
}

/// Logs to stderr, `RUST_LOG` to filter them.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hyper=warn,kube=warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

fn server_config(args: &ServeArgs) -> Config {
    let mut config = Config::default();
    config.storage.history = args.watch_history.max(1);
    config.bookmark_interval = std::time::Duration::from_secs(args.bookmark_interval.max(1));
    config.services = kubesim_apiserver::allocator::Config {
        cluster_ip_range: args.service_cluster_ip_range,
        node_port_range: args.service_node_port_range,
    };
    config
}

async fn listen(args: &ServeArgs) -> anyhow::Result<TcpListener> {
    TcpListener::bind((args.address, args.port))
        .await
        .with_context(|| format!("could not listen on {}:{}", args.address, args.port))
}

async fn apiserver(
    args: ServeArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = listen(&args).await?;
    // The one line that says where it is (`--port 0` picks the port).
    let addr = listener.local_addr()?;
    let server = ApiServer::new(server_config(&args));
    eprintln!("kubesim API server at http://{addr}");
    kubesim_apiserver::serve(server, listener, stop).await?;
    Ok(())
}

async fn scheduler(
    args: SchedulerArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = args.options.config(&args.server)?;
    let (metrics, task) = kubesim_scheduler::spawn(config).await?;
    if let Some(addr) = metrics {
        eprintln!("scheduler metrics at http://{addr}/metrics");
    }
    tokio::select! {
        _ = task => {},
        _ = stop => {},
    }
    Ok(())
}

async fn controller_manager(
    args: ControllerManagerArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = args.options.config(&args.server)?;
    tokio::select! {
        r = kubesim_controllers::run(config) => r?,
        _ = stop => {},
    }
    Ok(())
}

async fn kubelet(
    args: KubeletArgs,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let config = args
        .options
        .config(&args.server, args.nodes, args.config.as_ref())?;
    let kubelet = kubesim_kubelet::Kubelet::new(config).await?;
    eprintln!("kubelet endpoint at http://{}", kubelet.context.endpoint);
    tokio::select! {
        _ = kubelet.run() => {},
        _ = stop => {},
    }
    Ok(())
}

async fn node(args: NodeArgs) -> anyhow::Result<()> {
    use kubesim_kubelet::node::{PRESSURE, RESTART, STOPPED};
    let (name, annotations) = match &args.action {
        NodeAction::Stop { name } => (name, serde_json::json!({STOPPED: "true"})),
        NodeAction::Start { name } => (name, serde_json::json!({STOPPED: null, PRESSURE: null})),
        NodeAction::Pressure { name, kind } => (name, serde_json::json!({PRESSURE: kind})),
        NodeAction::Restart { name } => {
            let token = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            (name, serde_json::json!({RESTART: token.to_string()}))
        }
    };
    let client = kubesim_kubelet::client(&args.server)?;
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
    let patch = serde_json::json!({"metadata": {"annotations": annotations}});
    nodes
        .patch(
            name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .with_context(|| format!("could not annotate node {name}"))?;
    println!("node/{name} annotated");
    Ok(())
}

async fn up(args: UpArgs, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    // Bad options are refused before anything starts.
    let controllers_config = args.controller_options.config("")?;
    let listener = listen(&args.serve).await?;
    let addr = listener.local_addr()?;
    let server_url = format!("http://{addr}");
    let server: Arc<ApiServer> = ApiServer::new(server_config(&args.serve));
    let path = match args.kubeconfig {
        Some(path) => path,
        None => kubeconfig::default_path(),
    };
    kubeconfig::write(&path, &server_url)
        .with_context(|| format!("could not write kubeconfig {}", path.display()))?;
    let serving = tokio::spawn(kubesim_apiserver::serve(server, listener, stop));

    let controllers = if args.no_controllers {
        None
    } else {
        Some(tokio::spawn(kubesim_controllers::run(
            kubesim_controllers::Config {
                server: server_url.clone(),
                ..controllers_config
            },
        )))
    };

    let scheduler = if args.no_scheduler {
        None
    } else {
        let config = args.scheduler.config(&server_url)?;
        // The address actually bound (a port taken is logged and left out).
        let (metrics, task) = kubesim_scheduler::spawn(config).await?;
        if let Some(addr) = metrics {
            eprintln!("scheduler metrics at http://{addr}/metrics");
        }
        Some(task)
    };

    let kubelet = if args.no_kubelet {
        None
    } else {
        let config = args
            .kubelet
            .config(&server_url, args.nodes, args.node_config.as_ref())?;
        let kubelet = kubesim_kubelet::Kubelet::new(config).await?;
        Some(tokio::spawn(kubelet.run()))
    };

    eprintln!("kubesim is up at {server_url}");
    println!("export KUBECONFIG={}", path.display());
    serving.await??;
    if let Some(controllers) = controllers {
        controllers.abort();
    }
    if let Some(scheduler) = scheduler {
        scheduler.abort();
    }
    if let Some(kubelet) = kubelet {
        kubelet.abort();
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
