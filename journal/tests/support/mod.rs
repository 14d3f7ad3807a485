//! A tiny schema for the journal's own tests and benchmarks. The journal names no record type,
//! so its tests bring their own: events whose payload is any bytes, snapshots, and a recovery
//! note in plain text.

#![allow(dead_code)]

use std::sync::Arc;

use journal::{Frame, RecoveryInfo, Schema, StoredFrame};

/// An event: the payload is any bytes (a key, in most tests).
pub const EVENT: u16 = 1;
/// A snapshot: the payload is any bytes.
pub const SNAPSHOT: u16 = 2;
/// The recovery note: `"<lost_from> <lost_to> <seeded_from>\n<moved aside to>\n<reason>"`.
pub const RECOVERED: u16 = 3;

#[derive(Debug)]
pub struct TestSchema;

impl Schema for TestSchema {
    fn snapshot_tag(&self) -> u16 {
        SNAPSHOT
    }

    fn check(&self, tag: u16, payload: &[u8]) -> Result<(), String> {
        match tag {
            0 => Err("tag 0 is no frame type".into()),
            RECOVERED => parse_note(payload)
                .map(|_| ())
                .ok_or_else(|| "malformed recovery note".into()),
            _ => Ok(()),
        }
    }

    fn recovery_note(&self, info: &RecoveryInfo) -> Frame {
        Frame {
            tag: RECOVERED,
            payload: format!(
                "{} {} {}\n{}\n{}",
                info.lost_from_seq,
                info.lost_to_seq,
                info.seeded_from_snapshot_seq,
                info.moved_aside_to.display(),
                info.reason
            )
            .into_bytes(),
        }
    }

    fn recovery_range(&self, tag: u16, payload: &[u8]) -> Option<(u64, u64)> {
        if tag != RECOVERED {
            return None;
        }
        parse_note(payload).map(|n| (n.lost_from_seq, n.lost_to_seq))
    }
}

pub fn schema() -> Arc<dyn Schema> {
    Arc::new(TestSchema)
}

/// A recovery note read back.
#[derive(Debug, PartialEq, Eq)]
pub struct Note {
    pub lost_from_seq: u64,
    pub lost_to_seq: u64,
    pub seeded_from_snapshot_seq: u64,
    pub moved_aside_to: String,
    pub reason: String,
}

pub fn parse_note(payload: &[u8]) -> Option<Note> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut lines = text.splitn(3, '\n');
    let nums: Vec<u64> = lines
        .next()?
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [lost_from_seq, lost_to_seq, seeded_from_snapshot_seq] = nums[..] else {
        return None;
    };
    Some(Note {
        lost_from_seq,
        lost_to_seq,
        seeded_from_snapshot_seq,
        moved_aside_to: lines.next()?.to_owned(),
        reason: lines.next()?.to_owned(),
    })
}

/// The note in a stored frame, if it is one.
pub fn note(f: &StoredFrame) -> Option<Note> {
    (f.tag == RECOVERED)
        .then(|| parse_note(&f.payload))
        .flatten()
}

pub fn event(key: impl AsRef<[u8]>) -> Frame {
    Frame {
        tag: EVENT,
        payload: key.as_ref().to_vec(),
    }
}

pub fn snapshot(state: impl AsRef<[u8]>) -> Frame {
    Frame {
        tag: SNAPSHOT,
        payload: state.as_ref().to_vec(),
    }
}

/// The frame a stored one was appended as.
pub fn frame_of(f: &StoredFrame) -> Frame {
    Frame {
        tag: f.tag,
        payload: f.payload.clone(),
    }
}
