//! The scripted ACS on its own, for load runs (`tr069-client fleet` against it, BENCHMARKS.md):
//! GenieACS-like on the wire, answering every Inform and ending each session with 204. Prints its
//! URL, then once a minute the sessions it saw; runs until killed.
//!
//! `cargo run --release -p chaos-tests --bin scripted-acs -- [--listen 127.0.0.1:7557] [--record]
//! [--print-sessions]` (`--record` keeps every exchange in memory, as the tests do; off by default
//! for long runs). `--print-sessions` prints one line per session as its Inform arrives,
//! `session N serial=SN events=1 BOOT,0 BOOTSTRAP`, for scripts that watch a real agent (the
//! Debian package's test, packaging/debian/test.sh).

use std::net::SocketAddr;
use std::time::Duration;

use chaos_tests::{AcsConfig, ScriptedAcs};

fn main() -> anyhow::Result<()> {
    let mut config = AcsConfig {
        record_exchanges: false,
        ..AcsConfig::default()
    };
    let mut print_sessions = false;
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
            "--print-sessions" => print_sessions = true,
            other => anyhow::bail!(
                "unknown argument {other:?} (--listen ADDR, --record, --print-sessions)"
            ),
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
        let acs = std::sync::Arc::new(ScriptedAcs::start(config).await?);
        println!("{}", acs.url());
        if print_sessions {
            // Polled, not hooked into the ACS: a watching script needs the line within a second,
            // and the sessions list is the same one the tests read.
            let acs = std::sync::Arc::clone(&acs);
            tokio::spawn(async move {
                let mut printed = 0;
                loop {
                    let sessions = acs.sessions();
                    for s in sessions.iter().skip(printed) {
                        println!(
                            "session {} serial={} events={}",
                            s.number,
                            s.inform.device_id.serial_number,
                            s.event_codes().join(",")
                        );
                    }
                    printed = sessions.len();
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
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
