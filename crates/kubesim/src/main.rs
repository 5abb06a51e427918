//! `kubesim`: a mini Kubernetes control plane for learning.
//!
//! `kubesim up` starts a cluster on 127.0.0.1 in well under a second and writes a
//! kubeconfig for kubectl; each component can also run alone against any API server.

mod kubeconfig;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use kubesim_apiserver::{ApiServer, Config};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "kubesim", version, about = "A mini Kubernetes control plane for learning", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a whole cluster: the API server and, as they land, every other component,
    /// each talking HTTP to the API server. Writes a kubeconfig for kubectl.
    Up(UpArgs),
    /// Run the API server alone.
    Apiserver(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
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
struct UpArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Where to write the kubeconfig [default: the user's cache dir, else ./kubesim.kubeconfig]
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Do not start the controller manager.
    #[arg(long)]
    no_controllers: bool,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,hyper=warn,kube=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => up(args).await,
            Command::Apiserver(args) => apiserver(args).await,
        }
    })
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

async fn apiserver(args: ServeArgs) -> anyhow::Result<()> {
    let listener = listen(&args).await?;
    let server = ApiServer::new(server_config(&args));
    kubesim_apiserver::serve(server, listener, shutdown_signal()).await?;
    Ok(())
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let listener = listen(&args.serve).await?;
    let addr = listener.local_addr()?;
    let server_url = format!("http://{addr}");
    let server: Arc<ApiServer> = ApiServer::new(server_config(&args.serve));
    let path = match args.kubeconfig {
        Some(path) => path,
        None => kubeconfig::default_path(),
    };
    kubeconfig::write(&path, &server_url).with_context(|| format!("could not write kubeconfig {}", path.display()))?;
    let serving = tokio::spawn(kubesim_apiserver::serve(server, listener, shutdown_signal()));

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
