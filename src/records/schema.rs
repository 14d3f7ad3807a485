//! The records' side of the journal's contract: which frame is a snapshot, which payloads are
//! well formed, and the `JournalRecovered` note the journal writes when it sets a damaged store
//! aside.

use journal::{Frame, RecoveryInfo};
use prost::Message;

use super::proto::{JournalRecovered, Record, record::Kind};
use super::tags::{JOURNAL_RECOVERED_TAG, SNAPSHOT_TAG, kind_tag};

/// The agent's record schema, as [`journal::Schema`]: every payload is a prost-encoded [`Record`]
/// and every tag the oneof field number of its kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordSchema;

impl journal::Schema for RecordSchema {
    fn snapshot_tag(&self) -> u16 {
        SNAPSHOT_TAG
    }

    /// Any payload that decodes as a `Record`, including kinds and fields this build does not
    /// know (a newer agent wrote them; they are kept byte-for-byte).
    fn check(&self, _tag: u16, payload: &[u8]) -> Result<(), String> {
        Record::decode(payload)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn recovery_note(&self, info: &RecoveryInfo) -> Frame {
        let record = Record::from(JournalRecovered {
            reason: info.reason.clone(),
            moved_aside_to: info.moved_aside_to.display().to_string(),
            lost_from_seq: info.lost_from_seq,
            lost_to_seq: info.lost_to_seq,
            seeded_from_snapshot_seq: info.seeded_from_snapshot_seq,
        });
        Frame {
            tag: record.kind.as_ref().map_or(JOURNAL_RECOVERED_TAG, kind_tag),
            payload: record.encode_to_vec(),
        }
    }

    fn recovery_range(&self, _tag: u16, payload: &[u8]) -> Option<(u64, u64)> {
        match Record::decode(payload).ok()?.kind {
            Some(Kind::JournalRecovered(r)) => Some((r.lost_from_seq, r.lost_to_seq)),
            _ => None,
        }
    }
}
