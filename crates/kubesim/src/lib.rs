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
}

/// Run a `kubesim` command until it is stopped by Ctrl-C or SIGTERM, or `shutdown`
/// resolves.
pub async fn run(cli: Cli, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let stop = async move {
        tokio::select! {
            _ = shutdown_signal() => {},
            _ = shutdown => {},
        }
    };
    match cli.command {
        Command::Up(args) => up(args, stop).await,
        Command::Apiserver(args) => apiserver(args, stop).await,
    }
}

/// Logs to stderr, `RUST_LOG` to filter them.
pub fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,hyper=warn,kube=warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

fn server_config(args: &ServeArgs) -> Config {
    let mut config = Config::default();
    config.storage.history = args.watch_history.max(1);
    config.bookmark_interval = std::time::Duration::from_secs(args.bookmark_interval.max(1));
    config
}

async fn listen(args: &ServeArgs) -> anyhow::Result<TcpListener> {
    TcpListener::bind((args.address, args.port))
        .await
        .with_context(|| format!("could not listen on {}:{}", args.address, args.port))
}

async fn apiserver(args: ServeArgs, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let listener = listen(&args).await?;
    let server = ApiServer::new(server_config(&args));
    kubesim_apiserver::serve(server, listener, stop).await?;
    Ok(())
}

async fn up(args: UpArgs, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    let listener = listen(&args.serve).await?;
    let addr = listener.local_addr()?;
    let server_url = format!("http://{addr}");
    let server: Arc<ApiServer> = ApiServer::new(server_config(&args.serve));
    let path = match args.kubeconfig {
        Some(path) => path,
        None => kubeconfig::default_path(),
    };
    kubeconfig::write(&path, &server_url).with_context(|| format!("could not write kubeconfig {}", path.display()))?;
    let serving = tokio::spawn(kubesim_apiserver::serve(server, listener, stop));

    let controllers = if args.no_controllers {
        None
    } else {
        Some(tokio::spawn(kubesim_controllers::run(kubesim_controllers::Config::new(&server_url))))
    };

    eprintln!("kubesim is up at {server_url}");
    println!("export KUBECONFIG={}", path.display());
    serving.await??;
    if let Some(controllers) = controllers {
        controllers.abort();
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
