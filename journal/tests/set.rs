//! The journal set (many logical journals in one sled database, `src/set.rs`) through its public
//! API: members are independent journals with their own sequence numbers, snapshots and
//! compaction; frames are the single journal's; a group commit carries many members; a member's
//! power cut never leaves a record of its previous life appearing later; sidecars; damage to one
//! member is repaired without touching the others; a rolled-back database is reported and noted;
//! locks, and a reopen right after a close in the same process.

mod support;

use std::path::Path;
use std::sync::Arc;

use journal::{
    Frame, Journal, JournalSet, OpenOutcome, Options, SetMember, SetOptions, StoredFrame,
};
use support::{SNAPSHOT, frame_of, note, schema, snapshot};

fn opts() -> SetOptions {
    SetOptions {
        cache_capacity: 4 << 20,
        segment_size: 64 << 10,
        ..SetOptions::default()
    }
}

fn open(dir: &Path) -> (JournalSet, journal::SetOpenReport) {
    JournalSet::open(dir, opts(), schema()).unwrap()
}

fn event(member: u32, i: u64) -> Frame {
    support::event(format!("m{member}-e{i}"))
}

fn all(m: &SetMember) -> Vec<StoredFrame> {
    m.iter_from(0).collect::<Result<Vec<_>, _>>().unwrap()
}

fn record_key(id: u32, seq: u64) -> Vec<u8> {
    let mut k = vec![b'J'];
    k.extend_from_slice(&id.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Opens sled as the journal does, to tamper with the store behind its back.
fn raw_sled(dir: &Path) -> sled::Db {
    journal::testing::raw_sled(dir, 64 << 10)
}

#[test]
fn members_are_independent_journals_that_survive_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    {
        let (set, report) = open(&dir);
        assert!(report.created);
        let members: Vec<SetMember> = (0..5)
            .map(|id| {
                let (m, r) = set.open_member(id, &format!("boot-{id}")).unwrap();
                assert_eq!(r.outcome, OpenOutcome::Created);
                m
            })
            .collect();
        for i in 0..10u64 {
            for m in &members {
                let ack = m.append_blocking(vec![event(m.id(), i)]).unwrap();
                assert_eq!((ack.first_seq, ack.last_seq), (i + 1, i + 1));
            }
        }
        assert_eq!(set.members().unwrap(), vec![0, 1, 2, 3, 4]);
    }
    let (set, report) = open(&dir);
    assert!(!report.created);
    assert_eq!(report.rolled_back, None);
    assert_eq!(report.commit, 50);
    for id in 0..5 {
        let (m, r) = set.open_member(id, "boot-again").unwrap();
        assert_eq!(r.outcome, OpenOutcome::Clean);
        assert_eq!((r.first_seq, r.last_seq, r.records), (1, 10, 10));
        let recs = all(&m);
        assert_eq!(recs.len(), 10);
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            assert_eq!(frame_of(r), event(id, i as u64));
            assert_eq!(r.boot_id, format!("boot-{id}"));
        }
        assert_eq!(m.verify().unwrap(), 10);
        // Appends continue after the member's own last record.
        assert_eq!(
            m.append_blocking(vec![event(id, 99)]).unwrap().first_seq,
            11
        );
    }
    let (fresh, r) = set.open_member(77, "b").unwrap();
    assert_eq!(r.outcome, OpenOutcome::Created);
    assert_eq!(fresh.last_seq(), 0);
    assert!(all(&fresh).is_empty());
}

#[test]
fn a_members_frames_are_the_single_journals_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let set_dir = tmp.path().join("set");
    let single_dir = tmp.path().join("single");
    let frames = vec![event(3, 1), snapshot("state"), event(3, 2)];
    {
        let (set, _) = open(&set_dir);
        let (m, _) = set.open_member(3, "boot-X").unwrap();
        m.append_blocking(frames.clone()).unwrap();
    }
    // The stored value decodes with the single journal's framing under the plain sequence
    // number, and a single journal seeded with those bytes reads them back unchanged.
    let db = raw_sled(&set_dir);
    {
        let single = raw_sled(&single_dir);
        for seq in 1..=3u64 {
            let v = db.get(record_key(3, seq)).unwrap().unwrap();
            let f = journal::frame::decode(seq, &v).unwrap();
            assert_eq!(f.boot_id, "boot-X");
            assert_eq!(f.tag, frames[seq as usize - 1].tag);
            single.insert(seq.to_be_bytes(), v).unwrap();
        }
        single.flush().unwrap();
    }
    let (j, report) = Journal::open(&single_dir, Options::with_boot_id("b"), schema()).unwrap();
    assert!(
        matches!(report.outcome, OpenOutcome::Clean),
        "{:?}",
        report.outcome
    );
    let read: Vec<Frame> = j.iter_from(1).map(|r| frame_of(&r.unwrap())).collect();
    assert_eq!(read, frames);
}

#[test]
fn one_group_commit_carries_many_members() {
    let tmp = tempfile::tempdir().unwrap();
    let (set, _) = open(&tmp.path().join("set"));
    let members: Vec<Arc<SetMember>> = (0..64)
        .map(|id| Arc::new(set.open_member(id, "b").unwrap().0))
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    let appends = 64 * 20;
    rt.block_on(async {
        let mut tasks = Vec::new();
        for m in &members {
            let m = m.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20u64 {
                    let ack = m.append(vec![event(m.id(), i)]).await.unwrap();
                    assert_eq!(ack.first_seq, i + 1, "each member numbers its own records");
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    // Every commit is counted once whatever it carried; with 64 appenders queueing while a
    // commit is written, commits carry more than one member's append.
    let commits = set.commit();
    println!("{appends} appends in {commits} group commits");
    assert!(commits <= appends);
    for m in &members {
        assert_eq!(m.verify().unwrap(), 20);
        let recs = all(m);
        assert_eq!(frame_of(&recs[19]), event(m.id(), 19));
    }
}

#[test]
fn snapshots_compact_one_member_and_leave_the_others_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let o = SetOptions {
        history_records: 3,
        max_live_bytes: 1_000,
        ..opts()
    };
    let (set, _) = JournalSet::open(&dir, o.clone(), schema()).unwrap();
    let (a, _) = set.open_member(1, "b").unwrap();
    let (b, _) = set.open_member(2, "b").unwrap();
    let mut needed = false;
    for i in 0..40u64 {
        needed |= a.append_blocking(vec![event(1, i)]).unwrap().needs_snapshot;
        b.append_blocking(vec![event(2, i)]).unwrap();
    }
    assert!(needed, "the live bound asks for a snapshot");
    // A snapshot that missed an append is refused.
    assert!(matches!(
        a.append_snapshot_blocking(snapshot("stale"), 39),
        Err(journal::Error::SnapshotStale { .. })
    ));
    let ack = a
        .append_snapshot_blocking(snapshot("state-40"), 40)
        .unwrap();
    assert_eq!(ack.last_seq, 41);
    assert!(!ack.needs_snapshot, "{ack:?}");
    let recs = all(&a);
    assert_eq!(
        recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![38, 39, 40, 41],
        "three records of history before the snapshot"
    );
    assert_eq!(a.first_seq(), 38);
    assert_eq!(a.latest_snapshot().unwrap().unwrap().tag, SNAPSHOT);
    assert_eq!(all(&b).len(), 40, "the other member is untouched");
    drop((a, b));
    drop(set);
    let (set, _) = JournalSet::open(&dir, o, schema()).unwrap();
    let (a, r) = set.open_member(1, "b").unwrap();
    assert_eq!(r.outcome, OpenOutcome::Clean);
    assert_eq!((r.first_seq, r.last_seq), (38, 41));
    assert_eq!(a.latest_snapshot().unwrap().unwrap().seq, 41);
    assert_eq!(a.live_bytes(), {
        let db_bytes: u64 = all(&a)
            .iter()
            .map(|f| {
                13 + journal::frame::encode(f.seq, f.tag, f.time_ms, &f.boot_id, &f.payload).len()
                    as u64
            })
            .sum();
        db_bytes
    });
}

#[test]
fn a_cut_member_never_sees_its_previous_life_append_later() {
    // Appends race with the cut; whatever the order, after reopening: the acknowledged records
    // are there, the member's records are contiguous from 1, and nothing appears afterwards.
    let tmp = tempfile::tempdir().unwrap();
    let (set, _) = open(&tmp.path().join("set"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let mut acked = 0u64;
    let mut refused = 0u64;
    for round in 0..60u64 {
        let (m, _) = set.open_member(9, &format!("boot-{round}")).unwrap();
        let base = m.last_seq();
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        rt.block_on(async {
            // The task owns the member: aborting it drops the member mid-append, as fleet mode
            // cuts a device's power.
            let task = tokio::spawn(async move {
                for i in 0..1000u64 {
                    match m.append(vec![event(9, round * 1000 + i)]).await {
                        Ok(a) => drop(tx.send(a.last_seq)),
                        Err(e) => panic!("{e}"),
                    }
                }
            });
            tokio::time::sleep(std::time::Duration::from_micros(300 * (round % 7))).await;
            task.abort();
            let _ = task.await;
        });
        let acks: Vec<u64> = rx.try_iter().collect();
        if let Some(last) = acks.last() {
            acked = acked.max(*last);
        }
        refused += 1;
        let (m, r) = set.open_member(9, "check").unwrap();
        assert_ne!(
            std::mem::discriminant(&r.outcome),
            std::mem::discriminant(&OpenOutcome::Recovered {
                reason: String::new(),
                moved_aside_to: Default::default(),
                lost_from_seq: 0,
                lost_to_seq: 0,
                seeded_from_snapshot_seq: 0,
                recovered_seq: 0
            })
        );
        assert!(m.last_seq() >= acked, "an acknowledged record is gone");
        assert!(m.last_seq() >= base);
        let recs = all(&m);
        assert_eq!(
            recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (1..=m.last_seq()).collect::<Vec<_>>()
        );
        let seen = m.last_seq();
        // A commit barrier later: nothing of the cut life appeared.
        drop(m);
        let (m, _) = set.open_member(9, "check-2").unwrap();
        assert_eq!(m.last_seq(), seen, "a record appeared after the reopen");
        drop(m);
    }
    println!("{refused} cuts, last acknowledged record {acked}");
}

#[test]
fn sidecars_are_durable_and_readable_without_opening_the_member() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    {
        let (set, _) = open(&dir);
        let (m, _) = set.open_member(5, "b").unwrap();
        assert_eq!(m.sidecar().unwrap(), None);
        m.put_sidecar_blocking(b"fw=7.14".to_vec()).unwrap();
        m.append_blocking(vec![event(5, 0)]).unwrap();
        m.put_sidecar_blocking(b"fw=7.15".to_vec()).unwrap();
        assert_eq!(m.last_seq(), 1, "a sidecar is not a record");
    }
    let (set, _) = open(&dir);
    assert_eq!(set.sidecar(5).unwrap().as_deref(), Some(&b"fw=7.15"[..]));
    assert_eq!(set.sidecar(6).unwrap(), None);
    let (m, r) = set.open_member(5, "b").unwrap();
    assert_eq!(r.outcome, OpenOutcome::Clean);
    assert_eq!(m.verify().unwrap(), 1);
}

#[test]
fn a_damaged_member_is_repaired_from_its_snapshot_and_the_others_stay_clean() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    {
        let (set, _) = open(&dir);
        for id in [1, 2] {
            let (m, _) = set.open_member(id, "b").unwrap();
            for i in 0..5 {
                m.append_blocking(vec![event(id, i)]).unwrap();
            }
            m.append_snapshot_blocking(snapshot("s6"), 5).unwrap();
            for i in 6..10 {
                m.append_blocking(vec![event(id, i)]).unwrap();
            }
        }
    }
    {
        // Member 1: record 8 flipped (its CRC no longer matches).
        let db = raw_sled(&dir);
        let k = record_key(1, 8);
        let mut v = db.get(&k).unwrap().unwrap().to_vec();
        let last = v.len() - 6;
        v[last] ^= 0xff;
        db.insert(k, v).unwrap();
        db.flush().unwrap();
    }
    let (set, _) = open(&dir);
    let (m, r) = set.open_member(1, "b").unwrap();
    let OpenOutcome::Recovered {
        lost_from_seq,
        lost_to_seq,
        seeded_from_snapshot_seq,
        recovered_seq,
        moved_aside_to,
        ..
    } = r.outcome
    else {
        panic!("expected a repair, got {:?}", r.outcome)
    };
    assert_eq!(
        (
            lost_from_seq,
            lost_to_seq,
            seeded_from_snapshot_seq,
            recovered_seq
        ),
        (8, 10, 6, 11)
    );
    assert!(moved_aside_to.to_string_lossy().contains("#damaged-1-"));
    let recs = all(&m);
    assert_eq!(
        recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        vec![6, 7, 11],
        "the repair keeps the intact run from the latest intact snapshot"
    );
    let n = note(&recs[2]).unwrap();
    assert_eq!((n.lost_from_seq, n.lost_to_seq), (8, 10));
    m.verify().unwrap();
    assert_eq!(m.append_blocking(vec![event(1, 12)]).unwrap().first_seq, 12);
    let (other, r2) = set.open_member(2, "b").unwrap();
    assert_eq!(r2.outcome, OpenOutcome::Clean);
    assert_eq!(other.verify().unwrap(), 10);
    drop((m, other));
    drop(set);
    // The damaged copy was kept, and the repair holds.
    let db = raw_sled(&dir);
    assert!(
        db.tree_names()
            .iter()
            .any(|t| String::from_utf8_lossy(t).starts_with("damaged-1-"))
    );
    drop(db);
    let (set, _) = open(&dir);
    assert_eq!(
        set.open_member(1, "b").unwrap().1.outcome,
        OpenOutcome::Clean
    );
}

#[test]
fn a_rolled_back_database_is_reported_and_every_member_noted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    {
        let (set, _) = open(&dir);
        for id in [1, 2] {
            let (m, _) = set.open_member(id, "b").unwrap();
            for i in 0..3 {
                m.append_blocking(vec![event(id, i)]).unwrap();
            }
        }
        assert_eq!(set.commit(), 6);
    }
    {
        // What sled does after damage to its log: an earlier, consistent state — the last two
        // commits (member 2's records 2 and 3) are gone, commit counter included.
        let db = raw_sled(&dir);
        db.remove(record_key(2, 3)).unwrap();
        db.remove(record_key(2, 2)).unwrap();
        db.insert(b"Mcommit", &4u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let (set, report) = open(&dir);
    assert_eq!(report.rolled_back, Some((4, 6)));
    assert_eq!(report.commit, 6);
    for (id, last) in [(1, 3), (2, 1)] {
        let (m, r) = set.open_member(id, "b").unwrap();
        assert_eq!(r.outcome, OpenOutcome::Clean);
        let recs = all(&m);
        let n = note(recs.last().unwrap()).expect("a recovery note ends the member");
        assert_eq!(n.lost_from_seq, last + 1);
        assert!(n.reason.contains("rolled back"), "{}", n.reason);
        m.verify().unwrap();
    }
    drop(set);
    let (_set, report) = open(&dir);
    assert_eq!(report.rolled_back, None, "reported once");
}

#[test]
fn locks_a_set_and_each_open_member() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    let (set, _) = open(&dir);
    assert!(matches!(
        JournalSet::open(&dir, opts(), schema()),
        Err(journal::Error::Locked { .. })
    ));
    let (m, _) = set.open_member(4, "b").unwrap();
    assert!(matches!(
        set.open_member(4, "b"),
        Err(journal::Error::Locked { .. })
    ));
    drop(m);
    let (_m, _) = set.open_member(4, "b").unwrap();
    assert!(matches!(
        set.open_member(4, &"x".repeat(256)),
        Err(journal::Error::BootIdTooLong { .. })
    ));
}

#[test]
fn a_closed_set_refuses_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let (set, _) = open(&tmp.path().join("set"));
    let (m, _) = set.open_member(1, "b").unwrap();
    m.append_blocking(vec![event(1, 0)]).unwrap();
    set.close();
    assert!(matches!(
        m.append_blocking(vec![event(1, 1)]),
        Err(journal::Error::Closed)
    ));
    assert_eq!(all(&m).len(), 1, "reads still work");
}

#[test]
fn a_set_reopened_at_once_in_the_same_process_opens() {
    // sled's I/O threads hold the store's lock for a moment after the set is dropped; a stopped
    // fleet's set is read back in the same process (`fleet::read_device_state`), so the open
    // must wait that out, not fail.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    for round in 0..30u64 {
        let (set, _) = open(&dir);
        let (m, _) = set.open_member(1, "b").unwrap();
        let ack = m.append_blocking(vec![event(1, round)]).unwrap();
        assert_eq!(ack.last_seq, round + 1);
        drop(m);
        drop(set);
    }
}

#[test]
fn a_members_blob_survives_sled_removing_it_before_the_data_file_is_durable() {
    // The set shares the single journal's blob handling (src/blobs.rs, tests/blobs.rs): each
    // blob has a second name in blobs-kept/, and an open links it back if the blob is gone.
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .map(|r| {
                r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("set");
    {
        let (set, _) = open(&dir);
        let (m, _) = set.open_member(1, "b").unwrap();
        m.append_blocking(vec![event(1, 0)]).unwrap();
        m.append_snapshot_blocking(snapshot("s".repeat(40_000)), 1)
            .unwrap();
        m.append_blocking(vec![event(1, 2)]).unwrap();
        let blobs = names(&dir.join("blobs"));
        assert!(!blobs.is_empty(), "the snapshot was not written as a blob");
        assert_eq!(names(&dir.join("blobs-kept")), blobs);
    }
    // What a cut leaves if sled's removal of the blob reached the disk before a `db` pointing
    // past it did.
    std::fs::remove_dir_all(dir.join("blobs")).unwrap();
    std::fs::create_dir(dir.join("blobs")).unwrap();
    let (set, _) = open(&dir);
    let (m, r) = set.open_member(1, "b").unwrap();
    assert_eq!(r.outcome, OpenOutcome::Clean);
    assert_eq!(
        all(&m).iter().map(|f| f.seq).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(m.verify().unwrap(), 3);
}
