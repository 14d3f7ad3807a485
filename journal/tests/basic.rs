//! Unit-level behaviour of the journal through its public API: framing on disk, reopen,
//! iteration, group commit, snapshots and the compaction bound, payloads and tags kept
//! byte-for-byte, torn tails and recovery from deterministic damage. The frames are those of the
//! tests' own tiny schema (`support`).

mod support;

use std::path::Path;

use journal::{Frame, Journal, OpenOutcome, OpenReport, Options, StoredFrame};
use support::{EVENT, SNAPSHOT, frame_of, note, schema, snapshot};

fn opts() -> Options {
    Options::with_boot_id("boot-A")
}

fn open(dir: impl AsRef<Path>, o: Options) -> journal::Result<(Journal, OpenReport)> {
    Journal::open(dir, o, schema())
}

fn event(i: u64) -> Frame {
    support::event(format!("4 VALUE CHANGE k{i}"))
}

fn all(j: &Journal) -> Vec<StoredFrame> {
    j.iter_from(0).collect::<Result<Vec<_>, _>>().unwrap()
}

/// Opens sled as the journal does, to tamper with the store behind its back.
fn raw_sled(dir: &Path) -> sled::Db {
    journal::testing::raw_sled(dir, 64 << 10)
}

#[test]
fn append_reopen_and_iterate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Created);
    assert_eq!(j.last_seq(), 0);
    let a = j
        .append_blocking(vec![event(1), event(2), event(3)])
        .unwrap();
    assert_eq!((a.first_seq, a.last_seq), (1, 3));
    let b = j.append_blocking(vec![event(4)]).unwrap();
    assert_eq!((b.first_seq, b.last_seq), (4, 4));
    let before = all(&j);
    drop(j);

    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
    assert_eq!(
        (report.first_seq, report.last_seq, report.records),
        (1, 4, 4)
    );
    assert_eq!(report.high_water_mark, Some(4));
    let after = all(&j);
    assert_eq!(before, after);
    for (i, r) in after.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1);
        assert_eq!(r.boot_id, "boot-A");
        assert_eq!(r.tag, EVENT);
        assert_eq!(frame_of(r), event(i as u64 + 1));
        assert_eq!(r.payload, event(i as u64 + 1).payload);
    }
    // One batch shares one commit time.
    assert_eq!(after[0].time_ms, after[2].time_ms);
    assert_eq!(
        j.iter_from(3).map(|r| r.unwrap().seq).collect::<Vec<_>>(),
        vec![3, 4]
    );
    assert_eq!(j.verify().unwrap(), 4);
    // A frame the schema refuses is not appended (nor anything else of its batch).
    assert!(matches!(
        j.append_blocking(vec![
            event(5),
            Frame {
                tag: 0,
                payload: vec![]
            }
        ]),
        Err(journal::Error::InvalidPayload(_))
    ));
    assert_eq!(j.last_seq(), 4);
}

#[test]
fn stored_value_is_the_documented_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (j, _) = open(&dir, opts()).unwrap();
    j.append_blocking(vec![Frame {
        tag: 15,
        payload: vec![0x7a, 0x00],
    }])
    .unwrap();
    let stored = j.get(1).unwrap().unwrap();
    drop(j);
    let db = raw_sled(&dir);
    let v = db.get(1u64.to_be_bytes()).unwrap().unwrap();
    assert_eq!(v[0], 1, "version byte");
    assert_eq!(&v[1..3], &15u16.to_be_bytes(), "tag, as appended");
    assert_eq!(&v[3..11], &stored.time_ms.to_be_bytes());
    assert_eq!(v[11], 6);
    assert_eq!(&v[12..18], b"boot-A");
    assert_eq!(&v[18..22], &2u32.to_be_bytes());
    assert_eq!(&v[22..24], &[0x7a, 0x00], "payload, as appended");
    let mut covered = 1u64.to_be_bytes().to_vec();
    covered.extend_from_slice(&v[..24]);
    assert_eq!(&v[24..], &crc32c::crc32c(&covered).to_be_bytes());
}

#[test]
fn concurrent_appenders_share_commits_and_get_contiguous_sequence_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, _) = open(tmp.path().join("j"), opts()).unwrap();
    let j = std::sync::Arc::new(j);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let acks = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in 0..16u64 {
            let j = j.clone();
            tasks.push(tokio::spawn(async move {
                let mut acks = Vec::new();
                for i in 0..25u64 {
                    let batch = vec![event(t * 1000 + i), event(t * 1000 + i)];
                    acks.push((t * 1000 + i, j.append(batch).await.unwrap()));
                }
                acks
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let mut seqs: Vec<u64> = acks
        .iter()
        .flat_map(|(_, a)| [a.first_seq, a.last_seq])
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=800).collect::<Vec<_>>());
    for (key, ack) in &acks {
        assert_eq!(ack.last_seq, ack.first_seq + 1, "a batch is contiguous");
        let r = j.get(ack.first_seq).unwrap().unwrap();
        assert_eq!(frame_of(&r), event(*key));
    }
    assert_eq!(j.verify().unwrap(), 800);
}

#[test]
fn snapshot_compacts_and_keeps_recent_history() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (j, _) = open(
        &dir,
        Options {
            history_records: 10,
            ..opts()
        },
    )
    .unwrap();
    for i in 0..50 {
        j.append_blocking(vec![event(i)]).unwrap();
    }
    let stale = j.append_snapshot_blocking(snapshot(""), 49);
    assert!(matches!(
        stale,
        Err(journal::Error::SnapshotStale {
            based_on: 49,
            last_seq: 50
        })
    ));
    // Only a frame with the schema's snapshot tag is a snapshot.
    assert!(matches!(
        j.append_snapshot_blocking(event(0), 50),
        Err(journal::Error::InvalidPayload(_))
    ));
    let snap = snapshot("retry_count 3");
    let ack = j.append_snapshot_blocking(snap.clone(), 50).unwrap();
    assert_eq!(ack.last_seq, 51);
    assert_eq!(
        j.first_seq(),
        41,
        "10 records of history kept before the snapshot"
    );
    let latest = j.latest_snapshot().unwrap().unwrap();
    assert_eq!(latest.seq, 51);
    assert_eq!(frame_of(&latest), snap);
    j.append_blocking(vec![event(99)]).unwrap();
    let tail: Vec<u64> = j
        .iter_from(latest.seq + 1)
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(tail, vec![52]);
    let live = j.live_bytes();
    drop(j);
    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
    assert_eq!(
        (report.first_seq, report.last_seq, report.records),
        (41, 52, 12)
    );
    assert_eq!(
        j.live_bytes(),
        live,
        "live bytes recomputed on open match the running count"
    );
    assert_eq!(j.latest_snapshot().unwrap().unwrap().seq, 51);
}

#[test]
fn live_data_stays_under_the_bound_when_the_caller_snapshots_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let max = 8 << 10;
    let o = Options {
        max_live_bytes: max,
        history_records: 20,
        ..opts()
    };
    let (j, _) = open(tmp.path().join("j"), o).unwrap();
    let mut snapshots = 0;
    let mut biggest_record = 0;
    for i in 0..2000u64 {
        let ack = j.append_blocking(vec![event(i)]).unwrap();
        biggest_record =
            biggest_record.max(j.get(ack.last_seq).unwrap().unwrap().payload.len() as u64 + 64);
        assert!(
            ack.live_bytes <= max + biggest_record,
            "live {} over bound",
            ack.live_bytes
        );
        if ack.needs_snapshot {
            let folded = snapshot(format!("retry_count {i}"));
            let s = j.append_snapshot_blocking(folded, ack.last_seq).unwrap();
            assert!(!s.needs_snapshot);
            assert!(s.live_bytes <= max / 2 + 200);
            snapshots += 1;
        }
    }
    assert!(
        snapshots > 5,
        "the bound was reached repeatedly ({snapshots})"
    );
    assert!(j.last_seq() - j.first_seq() < 200);
    j.verify().unwrap();
}

#[test]
fn payloads_and_unknown_tags_survive_byte_for_byte_even_through_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    // What the journal is handed is what it returns: it decodes nothing, so payload bytes of any
    // shape (here: protobuf encodings of an older and a newer record schema) and tags it has no
    // name for come back as they went in.
    let frames = vec![
        Frame {
            tag: 4,
            payload: vec![
                0x22, 0x1c, 0x0a, 0x02, b's', b'1', 0x10, 0x02, 0x1a, 0x14, b't', b'h', b'e', b' ',
                b'A', b'C', b'S', b' ', b'a', b'n', b's', b'w', b'e', b'r', b'e', b'd', b' ', b'5',
                b'0', b'3',
            ],
        },
        Frame {
            tag: 1,
            payload: vec![0x0a, 0x08, 0x0a, 0x06, b'1', b' ', b'B', b'O', b'O', b'T'],
        },
        Frame {
            tag: 1,
            payload: [
                &[0x0a, 0x1e, 0x0a, 0x0a][..],
                b"2 PERIODIC",
                &[0x92, 0x03, 0x0f],
                b"from the future",
            ]
            .concat(),
        },
        Frame {
            tag: 99,
            payload: vec![0x9a, 0x06, 0x03, 0x0a, 0x01, b'x'],
        },
    ];
    {
        let (j, _) = open(&dir, opts()).unwrap();
        j.append_blocking(frames.clone()).unwrap();
    }
    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
    let recs = all(&j);
    assert_eq!(recs.iter().map(frame_of).collect::<Vec<_>>(), frames);
    assert_eq!((recs[3].tag, &recs[3].payload), (99, &frames[3].payload));
    // Recovery copies frames byte-for-byte, so they survive it too.
    drop(j);
    {
        let db = raw_sled(&dir);
        db.insert(2u64.to_be_bytes(), b"garbage".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let (j, report) = open(&dir, opts()).unwrap();
    assert!(matches!(
        report.outcome,
        OpenOutcome::Recovered {
            lost_from_seq: 2,
            ..
        }
    ));
    assert_eq!(frame_of(&all(&j)[0]), frames[0]);
}

#[test]
fn a_payload_the_schema_rejects_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let (j, _) = open(&dir, opts()).unwrap();
        for i in 0..5 {
            j.append_blocking(vec![event(i)]).unwrap();
        }
    }
    {
        // A well-formed frame (its checksum matches) whose payload the schema refuses.
        let db = raw_sled(&dir);
        let value = journal::frame::encode(3, 0, 0, "boot-A", b"");
        db.insert(3u64.to_be_bytes(), value).unwrap();
        db.flush().unwrap();
    }
    let (j, report) = open(&dir, opts()).unwrap();
    let OpenOutcome::Recovered {
        reason,
        lost_from_seq,
        lost_to_seq,
        ..
    } = &report.outcome
    else {
        panic!("expected recovery, got {:?}", report.outcome)
    };
    assert!(reason.contains("record 3 does not decode"), "{reason}");
    assert_eq!((*lost_from_seq, *lost_to_seq), (3, 5));
    j.verify().unwrap();
}

#[test]
fn unacknowledged_damaged_tail_is_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let (j, _) = open(&dir, opts()).unwrap();
        for i in 0..10 {
            j.append_blocking(vec![event(i)]).unwrap();
        }
    }
    {
        // A frame above the high-water mark that never completed.
        let db = raw_sled(&dir);
        db.insert(11u64.to_be_bytes(), b"torn".to_vec()).unwrap();
        db.insert(12u64.to_be_bytes(), vec![1, 0]).unwrap();
        db.flush().unwrap();
    }
    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(
        report.outcome,
        OpenOutcome::TailTruncated {
            removed: vec![11, 12]
        }
    );
    assert_eq!(j.last_seq(), 10);
    assert_eq!(j.append_blocking(vec![event(10)]).unwrap().first_seq, 11);
    drop(j);
    let (_j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
}

#[test]
fn silent_loss_of_acknowledged_records_is_reported_never_hidden() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let (j, _) = open(&dir, opts()).unwrap();
        for i in 0..10 {
            j.append_blocking(vec![event(i)]).unwrap();
        }
    }
    {
        // What sled does when its log is damaged: come back with an earlier, consistent state.
        let db = raw_sled(&dir);
        for s in 8..=10u64 {
            db.remove(s.to_be_bytes()).unwrap();
        }
        db.flush().unwrap();
    }
    let (j, report) = open(&dir, opts()).unwrap();
    let OpenOutcome::Recovered {
        lost_from_seq,
        lost_to_seq,
        recovered_seq,
        moved_aside_to,
        ..
    } = report.outcome
    else {
        panic!("expected recovery, got {:?}", report.outcome)
    };
    assert_eq!((lost_from_seq, lost_to_seq, recovered_seq), (8, 10, 11));
    assert!(moved_aside_to.join("db").exists());
    assert!(
        moved_aside_to
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("j.damaged-")
    );
    let recs = all(&j);
    assert_eq!(
        recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5, 6, 7, 11]
    );
    let Some(r) = note(&recs[7]) else { panic!() };
    assert_eq!(
        (r.lost_from_seq, r.lost_to_seq, r.seeded_from_snapshot_seq),
        (8, 10, 0)
    );
    assert!(r.reason.contains("8..=10"), "{}", r.reason);
    j.verify().unwrap();
    // Appends continue above every number ever acknowledged.
    assert_eq!(j.append_blocking(vec![event(0)]).unwrap().first_seq, 12);
    drop(j);
    let (_j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
}

#[test]
fn damage_before_the_tail_recovers_from_the_latest_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let (j, _) = open(
            &dir,
            Options {
                history_records: 5,
                ..opts()
            },
        )
        .unwrap();
        for i in 0..20 {
            j.append_blocking(vec![event(i)]).unwrap();
        }
        j.append_snapshot_blocking(snapshot("retry_count 7"), 20)
            .unwrap();
        for i in 0..3 {
            j.append_blocking(vec![event(i)]).unwrap();
        }
    }
    {
        let db = raw_sled(&dir);
        let mut v = db.get(17u64.to_be_bytes()).unwrap().unwrap().to_vec();
        v[5] ^= 0x40;
        db.insert(17u64.to_be_bytes(), v).unwrap();
        db.flush().unwrap();
    }
    let (j, report) = open(&dir, opts()).unwrap();
    let OpenOutcome::Recovered {
        lost_from_seq,
        lost_to_seq,
        seeded_from_snapshot_seq,
        recovered_seq,
        ..
    } = report.outcome
    else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(seeded_from_snapshot_seq, 21);
    assert_eq!(recovered_seq, 25);
    assert!(
        lost_to_seq < lost_from_seq,
        "nothing after the snapshot was lost"
    );
    assert_eq!(
        all(&j).iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![21, 22, 23, 24, 25]
    );
    assert_eq!(j.latest_snapshot().unwrap().unwrap().seq, 21);
    assert_eq!(all(&j)[0].tag, SNAPSHOT);
}

#[test]
fn a_locked_store_is_an_error_not_a_recovery() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (_j, _) = open(&dir, opts()).unwrap();
    assert!(matches!(
        open(&dir, opts()),
        Err(journal::Error::Locked { .. })
    ));
    assert!(
        !tmp.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("damaged"))
    );
}

#[test]
fn a_recovery_interrupted_between_its_two_renames_is_finished_on_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let (j, _) = open(&dir, opts()).unwrap();
        j.append_blocking(vec![event(1)]).unwrap();
    }
    // The state after "damaged store renamed aside" and before "new store renamed in".
    std::fs::rename(&dir, tmp.path().join("j.recovering")).unwrap();
    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("interrupted recovery"))
    );
    assert_eq!(j.last_seq(), 1);
}

#[test]
fn an_existing_empty_directory_is_a_new_store() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, report) = open(tmp.path(), opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Created);
    assert!(report.notes.is_empty(), "{:?}", report.notes);
    assert!(j.disk_bytes().unwrap() > 0);
}

#[test]
fn a_clean_close_leaves_a_mark_the_next_open_takes_before_sled_runs() {
    // The mark lets a `panic = "abort"` build skip the store check in a child (open.rs). It must
    // exist only between a clean close and the next open: a crash while open leaves none.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let mark = dir.join("clean-close");
    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Created);
    assert!(!mark.exists(), "a new store has no mark while open");
    j.append_blocking(vec![event(1)]).unwrap();
    j.close();
    assert!(mark.exists(), "a clean close leaves the mark");

    let (j, report) = open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
    assert!(!mark.exists(), "the open took the mark");
    assert_eq!(all(&j).len(), 1);
    drop(j);
    assert!(mark.exists(), "dropping is a clean close too");

    // What the mark guards is unchanged by it: a store tampered with after a clean close is
    // still verified and recovered.
    let db = raw_sled(&dir);
    db.insert(journal::frame::key(1), b"not a frame".to_vec())
        .unwrap();
    db.flush().unwrap();
    drop(db);
    let (j, report) = open(&dir, opts()).unwrap();
    assert!(
        matches!(report.outcome, OpenOutcome::Recovered { .. }),
        "{:?}",
        report.outcome
    );
    assert!(!mark.exists());
    j.close();
}
