//! SIGKILL test of the journal set: a child process (this binary with `--child`) appends from 32
//! members at once (one task each, snapshots when asked) and prints every acknowledged batch; the
//! parent kills it at random moments, 20 times, and after every kill checks, member by member,
//! that every acknowledged record is there, in order, without gaps (records compacted into a
//! snapshot may be gone, but only below a snapshot).
//!
//! `harness = false`: the binary is both the test and the child it runs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;

use journal::{JournalSet, OpenOutcome, SetOptions};
use support::{EVENT, schema};

const MEMBERS: u32 = 32;

fn opts() -> SetOptions {
    SetOptions {
        history_records: 10,
        max_live_bytes: 4 << 10,
        cache_capacity: 8 << 20,
        segment_size: 64 << 10,
        ..SetOptions::default()
    }
}

fn child(dir: &str) {
    let (set, _) = JournalSet::open(dir, opts(), schema()).unwrap();
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for id in 0..MEMBERS {
            let (m, _) = set.open_member(id, "crash-boot").unwrap();
            let out = out.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0u64.. {
                    let len = 1 + (n + u64::from(id)) % 3;
                    let batch = (0..len)
                        .map(|k| support::event(format!("{id}-{n}-{k}")))
                        .collect();
                    let ack = m.append(batch).await.unwrap();
                    {
                        let mut o = out.lock().unwrap();
                        writeln!(o, "ACK {id} {} {} {n}", ack.first_seq, ack.last_seq).unwrap();
                        o.flush().unwrap();
                    }
                    if ack.needs_snapshot {
                        let snap = support::snapshot(format!("{id} at {n}"));
                        m.append_snapshot(snap, m.last_seq()).await.unwrap();
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
    let dir = tmp.path().join("set");
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0x5e7_c0ffee;
    // member → seq → payload
    let mut acked: BTreeMap<u32, BTreeMap<u64, String>> = BTreeMap::new();
    let mut total_acks = 0;
    for round in 0..20 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let delay = 100 + (seed >> 33) % 400;
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
        for l in lines.lock().unwrap().iter() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.first() == Some(&"ACK") && f.len() == 5 {
                let id: u32 = f[1].parse().unwrap();
                let (first, last): (u64, u64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
                for (k, seq) in (first..=last).enumerate() {
                    acked
                        .entry(id)
                        .or_default()
                        .insert(seq, format!("{id}-{}-{k}", f[4]));
                }
                total_acks += 1;
            }
        }
        let (set, report) = JournalSet::open(&dir, opts(), schema()).unwrap();
        assert_eq!(
            report.rolled_back, None,
            "round {round}: a process crash lost commits"
        );
        for (id, records) in &acked {
            let (m, r) = set.open_member(*id, "check").unwrap();
            assert!(
                matches!(r.outcome, OpenOutcome::Clean),
                "round {round} member {id}: {:?}",
                r.outcome
            );
            m.verify().unwrap();
            let first = m.first_seq();
            let snapshot = m.latest_snapshot().unwrap().map_or(0, |s| s.seq);
            if let Some((&max, _)) = records.iter().next_back() {
                assert!(
                    m.last_seq() >= max,
                    "round {round} member {id}: acknowledged {max}, ends at {}",
                    m.last_seq()
                );
            }
            for (seq, key) in records {
                if *seq < first {
                    assert!(*seq < snapshot, "round {round} member {id}: {seq} gone");
                    continue;
                }
                let f = m
                    .get(*seq)
                    .unwrap()
                    .unwrap_or_else(|| panic!("round {round} member {id}: {seq} missing"));
                assert_eq!(f.tag, EVENT, "round {round} member {id} seq {seq}");
                assert_eq!(
                    f.payload,
                    key.as_bytes(),
                    "round {round} member {id} seq {seq}"
                );
            }
        }
        eprintln!(
            "round {round}: killed after {delay} ms, {total_acks} acks so far, commit {}",
            set.commit()
        );
    }
    assert!(
        total_acks > 200,
        "the child hardly ever got to append ({total_acks} acks)"
    );
    eprintln!("set crash test ok: 20 kills, {total_acks} acknowledged batches all present");
}
