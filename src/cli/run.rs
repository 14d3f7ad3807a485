//! `run`: the daemon, configured from the config file.

use anyhow::Context as _;

use crate::agent::{RunEnd, run};
use crate::config::Config;

pub(super) fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let end = runtime.block_on(run::run(config))?;
    match end {
        RunEnd::Shutdown => tracing::info!("stopped"),
        RunEnd::Rebooting => tracing::info!("stopped for a reboot"),
    }
    Ok(())
}
