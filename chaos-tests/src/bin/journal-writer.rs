//! Power-cut workload (see `tests/power_cut.rs`): `journal-writer <dir> <tag> [--skip-fdatasync]`
//! opens the journal in `<dir>` and appends batches of 1–3 `EventRaised` records from three
//! threads, forever. After every `append` returns (acknowledged durable) it prints
//! `ACK <first_seq> <last_seq> <base>` on stdout, where record `k` of the batch has the
//! `command_key` `workload::record_key(base, k)`; it snapshots when the journal asks for it
//! (`SNAP <seq>`). It prints `OPEN …` once the journal is open and `ERR …` when an append fails
//! (after a cut). The test reads stdout through a pipe, so what was printed survives SIGKILL.
//! `POWER_CUT_BATCH=<n>` makes every batch `n` records long; `POWER_CUT_LARGE_EVERY` and
//! `POWER_CUT_NO_BLOBS` choose the large records (`workload::record_key`).

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, RwLock};

use chaos_tests::lazyfs::workload;
use tr069_client::records::Journal;
use tr069_client::records::proto::{AgentSnapshot, EventRaised};

fn say(out: &Mutex<std::io::Stdout>, line: &str) {
    let out = out.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = out.lock();
    // A closed pipe means the test is gone; nothing left to do but stop.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let skip = args.iter().any(|a| a == "--skip-fdatasync");
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [dir, tag] = positional.as_slice() else {
        eprintln!("usage: journal-writer <dir> <tag> [--skip-fdatasync]");
        return ExitCode::from(2);
    };
    // `POWER_CUT_BATCH=<n>`: every batch has `n` records (default 1–3).
    let batch_size: Option<u64> = std::env::var("POWER_CUT_BATCH")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let (j, report) = match Journal::open(dir, workload::options(skip)) {
        Ok(x) => x,
        Err(e) => {
            say(&out, &format!("ERR open: {e}"));
            return ExitCode::from(1);
        }
    };
    say(
        &out,
        &format!("OPEN last={} {:?}", report.last_seq, report.outcome),
    );
    let j = Arc::new(j);
    // Appenders hold it shared, the snapshotter exclusively, so its `last_seq` is current.
    let gate = Arc::new(RwLock::new(()));
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let (j, gate, out, tag) = (j.clone(), gate.clone(), out.clone(), tag.to_string());
            std::thread::spawn(move || {
                for n in 0u64.. {
                    let base = format!("{tag}.{t}.{n}");
                    let batch = (0..batch_size.unwrap_or(1 + (n + t) % 3))
                        .map(|k| {
                            EventRaised {
                                code: "PC".into(),
                                command_key: workload::record_key(&base, k),
                            }
                            .into()
                        })
                        .collect();
                    let ack = {
                        let _shared = gate.read().unwrap_or_else(|p| p.into_inner());
                        j.append_blocking(batch)
                    };
                    let ack = match ack {
                        Ok(a) => a,
                        Err(e) => return say(&out, &format!("ERR append: {e}")),
                    };
                    say(
                        &out,
                        &format!("ACK {} {} {base}", ack.first_seq, ack.last_seq),
                    );
                    if ack.needs_snapshot && t == 0 {
                        let _exclusive = gate.write().unwrap_or_else(|p| p.into_inner());
                        let snap = AgentSnapshot {
                            retry_count: n as u32,
                            ..Default::default()
                        };
                        match j.append_snapshot_blocking(snap, j.last_seq()) {
                            Ok(s) => say(&out, &format!("SNAP {}", s.last_seq)),
                            Err(e) => return say(&out, &format!("ERR snapshot: {e}")),
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    ExitCode::from(1)
}
