//! The scripted ACS on its own, for load runs (`tr069-client fleet` against it, BENCHMARKS.md):
//! GenieACS-like on the wire, answering every Inform and ending each session with 204. Prints its
//! URL, then once a minute the sessions it saw; runs until killed.
//!
//! `cargo run --release -p chaos-tests --bin scripted-acs -- [--listen 127.0.0.1:7557] [--record]`
//! (`--record` keeps every exchange in memory, as the tests do; off by default for long runs).

use std::net::SocketAddr;
use std::time::Duration;

use chaos_tests::{AcsConfig, ScriptedAcs};

fn main() -> anyhow::Result<()> {
    let mut config = AcsConfig {
        record_exchanges: false,
        ..AcsConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => {
                let v = args.next().unwrap_or_default();
                config.listen = v
                    .parse::<SocketAddr>()
                    .map_err(|e| anyhow::anyhow!("--listen {v:?}: {e}"))?;
            }
            "--record" => config.record_exchanges = true,
            other => anyhow::bail!("unknown argument {other:?} (--listen ADDR, --record)"),
        }
    }
    let threads = std::env::var("ACS_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let acs = ScriptedAcs::start(config).await?;
        println!("{}", acs.url());
        let mut last = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let ended = acs.ended_sessions();
            eprintln!(
                "scripted-acs: {ended} sessions ended ({:.1}/s in the last minute)",
                (ended - last) as f64 / 60.0
            );
            last = ended;
        }
    })
}
