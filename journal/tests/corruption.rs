//! Random damage to sled's files: flipped bytes and truncated files, seeded, many iterations.
//!
//! Every time, `open` must not panic and must not come back silently empty or silently shorter:
//! either the store opens, verifies, and holds exactly the acknowledged records (byte-for-byte),
//! or it was moved aside and the new journal holds a byte-for-byte copy of an intact seed followed
//! by a recovery note that says what was lost.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use journal::{Frame, Journal, OpenOutcome, Options};
use support::{SNAPSHOT, schema};
use test_tools::copy_dir;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // SplitMix64: deterministic and good enough to pick offsets.
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

fn opts() -> Options {
    Options {
        history_records: 30,
        max_live_bytes: 24 << 10,
        ..Options::with_boot_id("boot-C")
    }
}

fn sled_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            sled_files(&e.path(), out);
        } else if e.file_name() != "journal.hwm" && e.metadata().unwrap().len() > 0 {
            out.push(e.path());
        }
    }
}

/// Builds the template store: several snapshots/compactions, one large snapshot (a sled blob),
/// then records after the last snapshot. Returns seq → payload of every record ever appended
/// (sled may bring compacted ones back when it rolls back) and how many are retained.
fn build_template(dir: &Path) -> (BTreeMap<u64, Vec<u8>>, usize) {
    let mut history = BTreeMap::new();
    let (j, _) = Journal::open(dir, opts(), schema()).unwrap();
    for i in 0..600u64 {
        // Sizes like the agent's records: a parameter change now and then, value-change events.
        let rec: Frame = if i % 7 == 0 {
            Frame {
                tag: 8,
                payload: format!(
                    "Device.X.{i}={} xsd:string pk{i}",
                    "v".repeat((i % 50) as usize)
                )
                .into_bytes(),
            }
        } else {
            support::event(format!("4 VALUE CHANGE c{i}"))
        };
        history.insert(j.last_seq() + 1, rec.payload.clone());
        let ack = j.append_blocking(vec![rec]).unwrap();
        if ack.needs_snapshot || i == 590 {
            let mut state = format!("retry_count {i}\n");
            if i == 590 {
                // Big enough for sled to store it as a blob file.
                for p in 0..400 {
                    state.push_str(&format!("Device.Big.{p}={} xsd:string\n", "x".repeat(40)));
                }
            }
            let snap = support::snapshot(state);
            history.insert(ack.last_seq + 1, snap.payload.clone());
            j.append_snapshot_blocking(snap, ack.last_seq).unwrap();
        }
    }
    let retained = j.iter_from(0).count();
    j.close();
    (history, retained)
}

#[test]
fn random_damage_is_detected_and_never_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    let (expected, retained) = build_template(&template);
    let last = *expected.keys().last().unwrap();
    let mut files = Vec::new();
    sled_files(&template, &mut files);
    files.sort();
    assert!(files.iter().any(|f| f.ends_with("db")));
    // Fixed seed; JOURNAL_CORRUPTION_SEED explores others.
    let seed = std::env::var("JOURNAL_CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0001);
    let mut rng = Rng(seed);
    let mut tally: BTreeMap<&'static str, u32> = BTreeMap::new();
    // sled's panics are caught by the journal; keep their messages out of the test output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|l| l.file().contains("/sled-")) {
            default_hook(info);
        }
    }));
    for iter in 0..160 {
        let dir = tmp.path().join(format!("j{iter}"));
        copy_dir(&template, &dir);
        let f = &files[rng.below(files.len() as u64) as usize];
        let target = dir.join(f.strip_prefix(&template).unwrap());
        let mut bytes = std::fs::read(&target).unwrap();
        let what = if rng.below(10) < 6 {
            let n = 1 + rng.below(4);
            for _ in 0..n {
                let off = rng.below(bytes.len() as u64) as usize;
                bytes[off] ^= 1 << rng.below(8);
            }
            format!("flipped {n} byte(s) in {}", f.display())
        } else {
            let len = rng.below(bytes.len() as u64) as usize;
            bytes.truncate(len);
            format!("truncated {} to {len}", f.display())
        };
        std::fs::write(&target, &bytes).unwrap();

        // Opened visiting: what the open hands over while it reads must be the store it leaves
        // whenever it says so (the daemon folds its state from it).
        let mut visited = Vec::new();
        let opened = Journal::open_visiting(&dir, opts(), schema(), &mut |seq, f| {
            visited.push((seq, f.time_ms, f.payload.to_vec()))
        });
        let (j, report, whole) = opened.unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
        let recs: Vec<_> = j
            .iter_from(0)
            .map(|r| r.unwrap_or_else(|e| panic!("{what}: {e}")))
            .collect();
        if whole {
            let stored: Vec<_> = recs
                .iter()
                .map(|r| (r.seq, r.time_ms, r.payload.clone()))
                .collect();
            assert!(
                visited == stored,
                "{what}: the frames visited are not the store's"
            );
        } else {
            assert!(
                matches!(report.outcome, OpenOutcome::Recovered { .. }),
                "{what}: {:?} but not the whole store visited",
                report.outcome
            );
        }
        j.verify().unwrap_or_else(|e| panic!("{what}: verify: {e}"));
        match &report.outcome {
            OpenOutcome::Clean | OpenOutcome::TailTruncated { .. } => {
                *tally.entry("intact").or_default() += 1;
                assert_eq!(
                    j.last_seq(),
                    last,
                    "{what}: acknowledged records silently missing"
                );
                for r in &recs {
                    assert_eq!(
                        expected.get(&r.seq),
                        Some(&r.payload),
                        "{what}: record {} differs",
                        r.seq
                    );
                }
                assert!(
                    recs.len() >= retained,
                    "{what}: {} of {retained}",
                    recs.len()
                );
            }
            OpenOutcome::Recovered {
                reason,
                moved_aside_to,
                recovered_seq,
                lost_from_seq,
                lost_to_seq,
                seeded_from_snapshot_seq,
                ..
            } => {
                let kind = if reason.contains("silently") {
                    "recovered: sled rolled back below the high-water mark"
                } else if reason.contains("panicked") {
                    "recovered: sled panicked"
                } else if reason.contains("could not open") {
                    "recovered: sled refused to open"
                } else if reason.contains("damaged record") {
                    "recovered: journal checksum/decoding caught it"
                } else {
                    "recovered: other"
                };
                *tally.entry(kind).or_default() += 1;
                assert!(moved_aside_to.exists(), "{what}");
                let (last_rec, seed) = recs.split_last().unwrap();
                assert_eq!(last_rec.seq, *recovered_seq);
                assert!(*recovered_seq > last, "{what}: sequence numbers reused");
                let Some(r) = support::note(last_rec) else {
                    panic!("{what}: last record is not the recovery note")
                };
                assert_eq!(
                    (r.lost_from_seq, r.lost_to_seq, r.seeded_from_snapshot_seq),
                    (*lost_from_seq, *lost_to_seq, *seeded_from_snapshot_seq)
                );
                for s in seed {
                    assert_eq!(
                        expected.get(&s.seq),
                        Some(&s.payload),
                        "{what}: seed {} differs",
                        s.seq
                    );
                }
                if *seeded_from_snapshot_seq != 0 {
                    assert_eq!(seed[0].seq, *seeded_from_snapshot_seq);
                    assert_eq!(seed[0].tag, SNAPSHOT);
                }
                if seed.last().map_or(0, |s| s.seq) < last {
                    assert!(r.lost_to_seq >= last, "{what}: loss not reported");
                }
            }
            OpenOutcome::Created => panic!("{what}: store silently replaced by an empty one"),
        }
        j.close();
        // The result of any open is itself a healthy store.
        let (_j, again) = Journal::open(&dir, opts(), schema()).unwrap();
        assert_eq!(again.outcome, OpenOutcome::Clean, "{what}");
    }
    eprintln!("outcomes over 160 damaged copies: {tally:?}");
}
