//! The `kubesim` command.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = kubesim::Cli::parse();
    kubesim::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(kubesim::run(cli, std::future::pending()))
}
