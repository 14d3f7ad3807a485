//! SIGKILL test: a child process (this binary with `--child`) appends in a loop from four tasks
//! and prints every acknowledged batch; the parent kills it at random moments, 30 times, and after
//! every kill checks that every acknowledged record is there, in order, with no gaps (records
//! folded into a snapshot by compaction may be gone, but only below a snapshot).
//!
//! `harness = false`: the binary is both the test and the child it runs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;

use journal::{Journal, OpenOutcome, Options};
use support::{EVENT, schema};

fn opts() -> Options {
    Options {
        history_records: 50,
        max_live_bytes: 32 << 10,
        ..Options::with_boot_id("crash-boot")
    }
}

fn child(dir: &str) {
    let (j, _) = Journal::open(dir, opts(), schema()).unwrap();
    let j = Arc::new(j);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    // Appenders hold it shared; the snapshotter exclusively, so its fold is current — as the
    // agent does it.
    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for task in 0..4u64 {
            let j = j.clone();
            let out = out.clone();
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let len = 1 + (n + task) % 3;
                    let batch = (0..len)
                        .map(|k| support::event(format!("{task}-{n}-{k}")))
                        .collect();
                    let ack = {
                        let _shared = gate.read().await;
                        j.append(batch).await.unwrap()
                    };
                    {
                        let mut o = out.lock().unwrap();
                        writeln!(o, "ACK {} {} {task} {n}", ack.first_seq, ack.last_seq).unwrap();
                        o.flush().unwrap();
                    }
                    if ack.needs_snapshot && task == 0 {
                        let _exclusive = gate.write().await;
                        let snap = support::snapshot(format!("retry_count {n}"));
                        let s = j.append_snapshot(snap, j.last_seq()).await.unwrap();
                        let mut o = out.lock().unwrap();
                        writeln!(o, "SNAP {}", s.last_seq).unwrap();
                        o.flush().unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2]);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0xc0ffee;
    let mut acked: BTreeMap<u64, String> = BTreeMap::new();
    let mut total_acks = 0;
    for round in 0..30 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = 80 + (seed >> 33) % 400;
        let mut c = Command::new(&exe)
            .arg("--child")
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = c.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stdout).lines() {
                    match l {
                        Ok(l) => lines.lock().unwrap().push(l),
                        Err(_) => break,
                    }
                }
            })
        };
        std::thread::sleep(Duration::from_millis(delay));
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        reader.join().unwrap();
        let lines = lines.lock().unwrap();
        for l in lines.iter() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.first() == Some(&"ACK") {
                let (first, last): (u64, u64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
                for (k, seq) in (first..=last).enumerate() {
                    acked.insert(seq, format!("{}-{}-{k}", f[3], f[4]));
                }
                total_acks += 1;
            }
        }
        let (j, report) = Journal::open(&dir, opts(), schema()).unwrap();
        assert!(
            matches!(report.outcome, OpenOutcome::Clean | OpenOutcome::Created),
            "round {round}: a process crash must not damage the store: {:?}",
            report.outcome
        );
        j.verify().unwrap();
        let first = j.first_seq();
        let snapshot = j.latest_snapshot().unwrap().map_or(0, |s| s.seq);
        if let Some((&max, _)) = acked.iter().next_back() {
            assert!(
                j.last_seq() >= max,
                "round {round}: acknowledged {max} but journal ends at {}",
                j.last_seq()
            );
        }
        for (seq, key) in &acked {
            if *seq < first {
                assert!(
                    *seq < snapshot,
                    "round {round}: {seq} gone without a snapshot after it"
                );
                continue;
            }
            let r = j
                .get(*seq)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acknowledged {seq} missing"));
            match r.tag {
                EVENT => assert_eq!(r.payload, key.as_bytes(), "round {round} seq {seq}"),
                other => panic!("round {round}: seq {seq} holds a frame with tag {other}"),
            }
        }
        eprintln!(
            "round {round}: killed after {delay} ms, {} acks so far, journal {}..={}",
            total_acks,
            first,
            j.last_seq()
        );
    }
    assert!(
        total_acks > 100,
        "the child hardly ever got to append ({total_acks} acks)"
    );
    eprintln!("crash test ok: 30 kills, {total_acks} acknowledged batches all present");
}
