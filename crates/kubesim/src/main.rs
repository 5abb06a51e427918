//! The `kubesim` command.

use clap::Parser;

// A server that builds and drops many small JSON trees per request spends much of its
// time in the allocator; mimalloc does that work in about half the time of glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = kubesim::Cli::parse();
    kubesim::init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(kubesim::run(cli, std::future::pending()))
}
