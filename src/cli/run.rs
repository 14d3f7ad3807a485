//! `run`: the daemon, configured from the config file.

use anyhow::Context as _;

use crate::agent::{RunEnd, run};
use crate::config::Config;

/// Runs the daemon; how it ended decides the exit status (see [`super::EXIT_REBOOT`]).
pub(super) fn run(config: Config) -> anyhow::Result<RunEnd> {
    // One thread runs the whole edge: the agent's work is small and mostly waiting, a router often
    // has one core, and every worker thread is memory and a thread to wake. Blocking work (the
    // control socket's requests, external providers) goes to tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let end = runtime.block_on(run::run(config))?;
    match end {
        RunEnd::Shutdown => tracing::info!("stopped"),
        RunEnd::Rebooting => tracing::info!("stopped for a reboot"),
    }
    Ok(end)
}
