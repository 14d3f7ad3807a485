//! A whole journal store with damage where the input says (bytes flipped or overwritten, files
//! truncated), opened through the agent's `records::Journal::open_visiting`: the corruption
//! property of `journal/tests/corruption.rs`, fuzzed. Never a panic outside sled (sled's own are caught and
//! mean "damaged"); never silently shorter: either every acknowledged record is there
//! byte-for-byte, or the store was moved aside and the new one holds an intact seed plus a note
//! saying what was lost; whatever `open` leaves reopens cleanly; the records `open_visiting`
//! hands over while it reads are the store's whenever it says they are.
//!
//! Input: 7-byte operations `file, offset (u32 BE), op, value`: op even → XOR the byte with
//! `value`; op odd → truncate the file at `offset`.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use journal::{OpenOutcome, Options};
use libfuzzer_sys::fuzz_target;
use tr069_client::records::proto::{
    AgentSnapshot, EventRaised, ParameterValue, ParametersSet, Setting, record::Kind,
};
use tr069_client::records::{Journal, JOURNAL_RECOVERED_TAG, SNAPSHOT_TAG};

struct Template {
    dir: PathBuf,
    /// Every record ever appended: compaction may bring old ones back after a sled rollback.
    history: BTreeMap<u64, Vec<u8>>,
    last: u64,
    files: Vec<PathBuf>,
    work: PathBuf,
    _tmp: tempfile::TempDir,
}

fn opts() -> Options {
    Options {
        max_live_bytes: 16 << 10,
        history_records: 20,
        ..Options::with_boot_id("fuzz-boot")
    }
}

fn files_of(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("listing the template") {
        let e = e.expect("entry");
        let path = e.path();
        if path.is_dir() {
            files_of(&path, base, out);
        } else if e.file_name() != "journal.hwm" {
            out.push(path.strip_prefix(base).expect("inside").to_path_buf());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating the copy");
    for e in std::fs::read_dir(from).expect("listing") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            // libFuzzer's timeout timer (SIGALRM once a second) can interrupt the copy's
            // `copy_file_range`, and `fs::copy` hands the EINTR back (run of 2026-12-04 20:44:
            // a harness panic after 21,377 inputs, not a finding in the agent).
            loop {
                match std::fs::copy(e.path(), &target) {
                    Ok(_) => break,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => panic!("copying {}: {err}", e.path().display()),
                }
            }
        }
    }
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // sled's own panics are caught by the journal and mean "damaged store"; any other panic
        // is a finding.
        std::panic::set_hook(Box::new(|info| {
            if info.location().is_some_and(|l| l.file().contains("/sled-")) {
                return;
            }
            eprintln!("{info}");
            std::process::abort();
        }));
        let tmp = if Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let dir = tmp.path().join("template");
        let mut history = BTreeMap::new();
        let (j, _) = Journal::open(&dir, opts()).expect("creating the template");
        for i in 0..300u64 {
            let record = if i % 5 == 0 {
                ParametersSet {
                    values: vec![ParameterValue {
                        name: format!("Device.NAT.PortMapping.{i}.Description"),
                        value: "x".repeat((i % 60) as usize),
                        xsd_type: "xsd:string".into(),
                    }],
                    parameter_key: format!("pk{i}"),
                    ..Default::default()
                }
                .into()
            } else {
                EventRaised {
                    code: "4 VALUE CHANGE".into(),
                    command_key: format!("c{i}"),
                }
                .into()
            };
            let payload = prost::Message::encode_to_vec(&record);
            history.insert(j.last_seq() + 1, payload);
            let ack = j.append_blocking(vec![record]).expect("append");
            if ack.needs_snapshot || i == 290 {
                let mut snapshot = AgentSnapshot {
                    retry_count: i as u32,
                    ..Default::default()
                };
                if i == 290 {
                    // Large enough for sled to keep it in a blob file.
                    for p in 0..200 {
                        snapshot.settings.insert(
                            format!("x-{p}"),
                            Setting {
                                value: "v".repeat(40),
                                secret: false,
                            },
                        );
                    }
                }
                let snap_payload = prost::Message::encode_to_vec(
                    &tr069_client::records::Record::from(snapshot.clone()),
                );
                history.insert(ack.last_seq + 1, snap_payload);
                j.append_snapshot_blocking(snapshot, ack.last_seq)
                    .expect("snapshot");
            }
        }
        let last = j.last_seq();
        j.close();
        let mut files = Vec::new();
        files_of(&dir, &dir, &mut files);
        files.sort();
        let work = tmp.path().join("work");
        Template {
            dir,
            history,
            last,
            files,
            work,
            _tmp: tmp,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let t = template();
    let _ = std::fs::remove_dir_all(&t.work);
    let parent = t.work.with_extension("parent");
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).expect("work parent");
    let dir = parent.join("journal");
    copy_dir(&t.dir, &dir);
    let mut what = Vec::new();
    for op in data.chunks_exact(7).take(8) {
        let file = &t.files[usize::from(op[0]) % t.files.len()];
        let path = dir.join(file);
        let Ok(mut bytes) = std::fs::read(&path) else { continue };
        if bytes.is_empty() {
            continue;
        }
        let offset = u32::from_be_bytes([op[1], op[2], op[3], op[4]]) as usize % bytes.len();
        if op[5] % 2 == 0 {
            bytes[offset] ^= op[6].max(1);
            what.push(format!("xor {:#04x} at {offset} of {}", op[6].max(1), file.display()));
        } else {
            bytes.truncate(offset);
            what.push(format!("truncate {} at {offset}", file.display()));
        }
        std::fs::write(&path, &bytes).expect("damaging");
    }
    // Opened as the daemon opens it, visiting: the records handed over while the open reads
    // the store are what it leaves, whenever the open says so (the daemon's state is their fold).
    let mut visited = Vec::new();
    let (j, report, whole) = Journal::open_visiting(&dir, opts(), &mut |seq, time_ms, record| {
        visited.push((seq, time_ms, record))
    })
    .unwrap_or_else(|e| panic!("{what:?}: open failed: {e}"));
    let recs: Vec<_> = j
        .iter_from(0)
        .map(|r| r.unwrap_or_else(|e| panic!("{what:?}: reading back: {e}")))
        .collect();
    if whole {
        let stored: Vec<_> = recs.iter().map(|r| (r.seq, r.time_ms, r.record.clone())).collect();
        assert!(visited == stored, "{what:?}: the records visited are not the store's");
    } else {
        assert!(
            matches!(report.outcome, OpenOutcome::Recovered { .. }),
            "{what:?}: {:?} without the whole store visited",
            report.outcome
        );
    }
    j.verify().unwrap_or_else(|e| panic!("{what:?}: verify: {e}"));
    match &report.outcome {
        OpenOutcome::Clean | OpenOutcome::TailTruncated { .. } => {
            assert_eq!(j.last_seq(), t.last, "{what:?}: acknowledged records silently missing");
            for r in &recs {
                assert_eq!(t.history.get(&r.seq), Some(&r.payload), "{what:?}: record {} differs", r.seq);
            }
        }
        OpenOutcome::Recovered {
            moved_aside_to,
            recovered_seq,
            lost_from_seq,
            lost_to_seq,
            seeded_from_snapshot_seq,
            ..
        } => {
            assert!(moved_aside_to.exists(), "{what:?}: nothing set aside");
            let (last, seed) = recs.split_last().expect("the recovery note");
            assert_eq!(last.seq, *recovered_seq);
            assert_eq!(last.tag, JOURNAL_RECOVERED_TAG);
            assert!(*recovered_seq > t.last, "{what:?}: sequence numbers reused");
            match &last.record.kind {
                Some(Kind::JournalRecovered(n)) => assert_eq!(
                    (n.lost_from_seq, n.lost_to_seq, n.seeded_from_snapshot_seq),
                    (*lost_from_seq, *lost_to_seq, *seeded_from_snapshot_seq)
                ),
                other => panic!("{what:?}: last record is {other:?}"),
            }
            for s in seed {
                assert_eq!(t.history.get(&s.seq), Some(&s.payload), "{what:?}: seed {} differs", s.seq);
            }
            if *seeded_from_snapshot_seq != 0 {
                assert_eq!(seed[0].tag, SNAPSHOT_TAG);
            }
            if seed.last().map_or(0, |s| s.seq) < t.last {
                assert!(*lost_to_seq >= t.last, "{what:?}: loss not reported");
            }
        }
        OpenOutcome::Created => panic!("{what:?}: store silently replaced by an empty one"),
    }
    j.close();
    let (j, again) = Journal::open(&dir, opts()).expect("reopening");
    assert_eq!(again.outcome, OpenOutcome::Clean, "{what:?}");
    j.close();
    let _ = std::fs::remove_dir_all(&parent);
});
