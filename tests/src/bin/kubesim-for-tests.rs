//! The `kubesim` command, built again inside this crate so that its tests can run it as a
//! separate process through `CARGO_BIN_EXE_kubesim-for-tests`: cargo builds it with the
//! test build's features and keeps it current, where a `cargo build -p kubesim` from a
//! test would resolve features anew and build the whole dependency graph a second time.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = kubesim::Cli::parse();
    kubesim::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(kubesim::run(cli, std::future::pending()))
}
