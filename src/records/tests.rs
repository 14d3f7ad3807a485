//! The typed journal end to end: records in, the same frames on disk as always, records out.

use std::path::Path;

use journal::{OpenOutcome, Options};
use prost::Message;

use super::proto::*;
use super::{Journal, Record, StoredRecord};

fn opts() -> Options {
    Options::with_boot_id("boot-A")
}

fn all(j: &Journal) -> Vec<StoredRecord> {
    j.iter_from(0).collect::<Result<Vec<_>, _>>().unwrap()
}

/// Opens sled as the journal does, to tamper with the store behind its back.
fn raw_sled(dir: &Path) -> sled::Db {
    journal::testing::raw_sled(dir, 64 << 10)
}

fn event(i: u64) -> Record {
    EventRaised {
        code: "4 VALUE CHANGE".into(),
        command_key: format!("k{i}"),
    }
    .into()
}

#[test]
fn a_record_is_stored_as_its_kind_tag_and_its_prost_encoding() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let (j, _) = Journal::open(&dir, opts()).unwrap();
    j.append_blocking(vec![FactoryResetDone {}.into(), event(1)])
        .unwrap();
    let recs = all(&j);
    assert_eq!(recs[1].record, event(1));
    assert_eq!(recs[1].payload, event(1).encode_to_vec());
    assert_eq!(recs[1].tag, 1);
    let stored = recs[0].clone();
    assert!(j.append_blocking(vec![Record { kind: None }]).is_err());
    drop(j);
    let db = raw_sled(&dir);
    let v = db.get(1u64.to_be_bytes()).unwrap().unwrap();
    assert_eq!(v[0], 1, "version byte");
    assert_eq!(
        &v[1..3],
        &15u16.to_be_bytes(),
        "tag = oneof number of FactoryResetDone"
    );
    assert_eq!(&v[3..11], &stored.time_ms.to_be_bytes());
    assert_eq!(v[11], 6);
    assert_eq!(&v[12..18], b"boot-A");
    assert_eq!(&v[18..22], &2u32.to_be_bytes());
    assert_eq!(&v[22..24], &[0x7a, 0x00], "payload: field 15, length 0");
    assert_eq!(v.len(), 28);
}

#[test]
fn snapshots_are_snapshot_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open(tmp.path().join("j"), opts()).unwrap();
    j.append_blocking(vec![event(1)]).unwrap();
    let snap = AgentSnapshot {
        retry_count: 3,
        ..Default::default()
    };
    let ack = j.append_snapshot_blocking(snap.clone(), 1).unwrap();
    let latest = j.latest_snapshot().unwrap().unwrap();
    assert_eq!(
        (latest.seq, latest.tag),
        (ack.last_seq, super::SNAPSHOT_TAG)
    );
    assert_eq!(latest.record, Record::from(snap));
}

/// The schema as an older agent knew it: SessionEnded without retry_after_seconds/http_status.
#[derive(Clone, PartialEq, prost::Message)]
struct OldRecord {
    #[prost(oneof = "OldKind", tags = "4")]
    kind: Option<OldKind>,
}
#[derive(Clone, PartialEq, prost::Oneof)]
enum OldKind {
    #[prost(message, tag = "4")]
    SessionEnded(OldSessionEnded),
}
#[derive(Clone, PartialEq, prost::Message)]
struct OldSessionEnded {
    #[prost(string, tag = "1")]
    session_id: String,
    #[prost(int32, tag = "2")]
    outcome: i32,
    #[prost(string, tag = "3")]
    reason: String,
}

/// A newer agent's schema: EventRaised with an extra field, and a record type this build lacks.
#[derive(Clone, PartialEq, prost::Message)]
struct NewRecord {
    #[prost(oneof = "NewKind", tags = "1, 99")]
    kind: Option<NewKind>,
}
#[derive(Clone, PartialEq, prost::Oneof)]
enum NewKind {
    #[prost(message, tag = "1")]
    EventRaised(NewEventRaised),
    #[prost(message, tag = "99")]
    Future(NewEventRaised),
}
#[derive(Clone, PartialEq, prost::Message)]
struct NewEventRaised {
    #[prost(string, tag = "1")]
    code: String,
    #[prost(string, tag = "2")]
    command_key: String,
    #[prost(string, tag = "50")]
    added_later: String,
}

#[test]
fn evolution_old_records_read_and_unknown_fields_survive_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let old = OldRecord {
        kind: Some(OldKind::SessionEnded(OldSessionEnded {
            session_id: "s1".into(),
            outcome: 2,
            reason: "the ACS answered 503".into(),
        })),
    }
    .encode_to_vec();
    // Frozen bytes of an EventRaised{"1 BOOT", ""} as written by the first schema.
    let golden: Vec<u8> = vec![0x0a, 0x08, 0x0a, 0x06, b'1', b' ', b'B', b'O', b'O', b'T'];
    let newer = NewRecord {
        kind: Some(NewKind::EventRaised(NewEventRaised {
            code: "2 PERIODIC".into(),
            command_key: "".into(),
            added_later: "from the future".into(),
        })),
    }
    .encode_to_vec();
    let future = NewRecord {
        kind: Some(NewKind::Future(NewEventRaised {
            code: "x".into(),
            ..Default::default()
        })),
    }
    .encode_to_vec();
    {
        let (j, _) = Journal::open(&dir, opts()).unwrap();
        j.append_raw_blocking(vec![
            old.clone(),
            golden.clone(),
            newer.clone(),
            future.clone(),
        ])
        .unwrap();
        // Not a Record, or a Record with no kind: refused.
        assert!(j.append_raw_blocking(vec![vec![0xff]]).is_err());
        assert!(j.append_raw_blocking(vec![vec![]]).is_err());
        assert_eq!(j.last_seq(), 4);
    }
    let (j, report) = Journal::open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
    let recs = all(&j);
    assert_eq!(
        recs[0].record,
        Record::from(SessionEnded {
            session_id: "s1".into(),
            outcome: SessionOutcome::Failed as i32,
            reason: "the ACS answered 503".into(),
            retry_after_seconds: None,
            http_status: None,
            heartbeat: false,
        })
    );
    assert_eq!(
        recs[1].record,
        Record::from(EventRaised {
            code: "1 BOOT".into(),
            command_key: "".into()
        })
    );
    // Decoding drops the unknown field, but the stored payload keeps it.
    assert_eq!(
        recs[2].record,
        Record::from(EventRaised {
            code: "2 PERIODIC".into(),
            command_key: "".into()
        })
    );
    assert_ne!(recs[2].record.encode_to_vec(), newer);
    assert_eq!(recs[2].payload, newer);
    // An unknown record type is kept, tagged, and readable as "no kind".
    assert_eq!((recs[3].tag, recs[3].record.kind.is_none()), (99, true));
    assert_eq!(recs[3].payload, future);
    assert!(super::export_json(&recs[3]).contains(r#""type":"Unknown""#));
    for (r, p) in recs.iter().zip([&old, &golden, &newer, &future]) {
        assert_eq!(&r.payload, p);
    }
    // The raw payload still carries the newer field for a newer reader.
    let back = NewRecord::decode(recs[2].payload.as_slice()).unwrap();
    assert!(
        matches!(back.kind, Some(NewKind::EventRaised(e)) if e.added_later == "from the future")
    );
    // Recovery copies frames byte-for-byte, so the unknown field survives it too.
    drop(j);
    {
        let db = raw_sled(&dir);
        db.insert(2u64.to_be_bytes(), b"garbage".to_vec()).unwrap();
        db.flush().unwrap();
    }
    let (j, report) = Journal::open(&dir, opts()).unwrap();
    assert!(matches!(
        report.outcome,
        OpenOutcome::Recovered {
            lost_from_seq: 2,
            ..
        }
    ));
    assert_eq!(all(&j)[0].payload, old);
}

#[test]
fn a_recovery_is_journaled_as_a_journal_recovered_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    {
        let (j, _) = Journal::open(&dir, opts()).unwrap();
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
    let (j, report) = Journal::open(&dir, opts()).unwrap();
    let OpenOutcome::Recovered {
        recovered_seq,
        moved_aside_to,
        ..
    } = report.outcome
    else {
        panic!("expected recovery, got {:?}", report.outcome)
    };
    let recs = all(&j);
    let note = &recs[7];
    assert_eq!(
        (note.seq, note.tag),
        (recovered_seq, super::JOURNAL_RECOVERED_TAG)
    );
    let Some(record::Kind::JournalRecovered(r)) = &note.record.kind else {
        panic!("{:?}", note.record)
    };
    assert_eq!(
        (r.lost_from_seq, r.lost_to_seq, r.seeded_from_snapshot_seq),
        (8, 10, 0)
    );
    assert!(r.reason.contains("8..=10"), "{}", r.reason);
    assert_eq!(r.moved_aside_to, moved_aside_to.display().to_string());
    assert_eq!(note.payload, note.record.encode_to_vec());
    assert!(
        super::summary(note).contains("journal recovered"),
        "{}",
        super::summary(note)
    );
    j.verify().unwrap();
    drop(j);
    let (_j, report) = Journal::open(&dir, opts()).unwrap();
    assert_eq!(report.outcome, OpenOutcome::Clean);
}

#[test]
fn export_writes_one_parseable_masked_line_per_record() {
    let tmp = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open(tmp.path().join("j"), opts()).unwrap();
    j.append_blocking(vec![
        SettingsChanged {
            key: "acs_password".into(),
            value: "s3cret".into(),
            secret: true,
            ..Default::default()
        }
        .into(),
        SessionEnded {
            session_id: "1".into(),
            outcome: 1,
            reason: "ok".into(),
            ..Default::default()
        }
        .into(),
    ])
    .unwrap();
    let mut out = Vec::new();
    assert_eq!(j.export_jsonl(0, &mut out).unwrap(), 2);
    let lines: Vec<String> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert!(!l.contains("s3cret"));
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["boot_id"], "boot-A");
    }
    assert!(lines[1].contains(r#""outcome":"succeeded""#));
}
