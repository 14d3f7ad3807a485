//! The typed journal: the schema-agnostic `journal::Journal` with the agent's records going in
//! and decoded records coming out.

use std::path::Path;
use std::sync::Arc;

use journal::{AppendAck, Error, Frame, OpenReport, Options, Result, StoredFrame};
use prost::Message;

use super::proto::{AgentSnapshot, Record};
use super::schema::RecordSchema;
use super::tags::{kind_tag, payload_tag};

/// One record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// Sequence number (the sled key).
    pub seq: u64,
    /// Wall-clock commit time, unix milliseconds.
    pub time_ms: u64,
    /// Boot id of the writer.
    pub boot_id: String,
    /// Record type tag (oneof field number of `Record.kind`).
    pub tag: u16,
    /// The decoded record. `kind` is `None` for a record type this build does not know.
    pub record: Record,
    /// The payload exactly as stored. Fields unknown to this build are only here.
    pub payload: Vec<u8>,
}

impl StoredRecord {
    /// Decodes a stored frame's payload as a `Record`.
    pub fn decode(frame: StoredFrame) -> Result<StoredRecord> {
        let record = Record::decode(frame.payload.as_slice()).map_err(|e| Error::Decode {
            seq: frame.seq,
            source: Box::new(e),
        })?;
        Ok(StoredRecord {
            seq: frame.seq,
            time_ms: frame.time_ms,
            boot_id: frame.boot_id,
            tag: frame.tag,
            record,
            payload: frame.payload,
        })
    }
}

/// The journal of the agent's records: [`journal::Journal`] opened with the [`RecordSchema`].
/// Durability, group commit, compaction and recovery are the journal crate's (see its docs).
pub struct Journal {
    frames: journal::Journal,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.frames.fmt(f)
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and verifies it; see [`journal::Journal::open`].
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<(Journal, OpenReport)> {
        let (frames, report) = journal::Journal::open(dir, options, Arc::new(RecordSchema))?;
        Ok((Journal { frames }, report))
    }

    /// [`Journal::open`], handing `visit` every record of the store — sequence number, commit
    /// time, record — in order while the open reads it (see
    /// [`journal::Journal::open_visiting`]). The `bool` is whether the records visited are
    /// exactly the journal's; when it is `false`, read them again with [`Journal::iter_from`].
    pub fn open_visiting(
        dir: impl AsRef<Path>,
        options: Options,
        visit: &mut dyn FnMut(u64, u64, Record),
    ) -> Result<(Journal, OpenReport, bool)> {
        // The open checked that every payload it hands over decodes; should one not, the
        // visit stops there and the caller reads the journal again.
        let mut undecodable = false;
        let (frames, report, whole) = journal::Journal::open_visiting(
            dir,
            options,
            Arc::new(RecordSchema),
            &mut |seq, frame| {
                if undecodable {
                    return;
                }
                match Record::decode(frame.payload) {
                    Ok(record) => visit(seq, frame.time_ms, record),
                    Err(_) => undecodable = true,
                }
            },
        )?;
        Ok((Journal { frames }, report, whole && !undecodable))
    }

    /// Appends a batch atomically and returns once it is durable; see
    /// [`journal::Journal::append`]. A record with no kind is refused.
    pub async fn append(&self, batch: Vec<Record>) -> Result<AppendAck> {
        self.frames.append(encode_all(batch)?).await
    }

    /// Blocking `append`, for callers without a runtime (the CLI).
    pub fn append_blocking(&self, batch: Vec<Record>) -> Result<AppendAck> {
        self.frames.append_blocking(encode_all(batch)?)
    }

    /// Appends payloads that are already prost-encoded `Record`s (e.g. written by a newer schema,
    /// or imported). They are stored byte-for-byte; each must decode as a `Record` and carry one
    /// top-level field (the record kind, possibly unknown to this build).
    pub fn append_raw_blocking(&self, payloads: Vec<Vec<u8>>) -> Result<AppendAck> {
        let mut frames = Vec::with_capacity(payloads.len());
        for payload in payloads {
            Record::decode(payload.as_slice())
                .map_err(|e| Error::InvalidPayload(format!("not a Record: {e}")))?;
            let tag = payload_tag(&payload).ok_or_else(no_kind)?;
            let tag = u16::try_from(tag)
                .map_err(|_| Error::InvalidPayload(format!("record tag {tag} above 65535")))?;
            if tag == 0 {
                return Err(no_kind());
            }
            frames.push(Frame { tag, payload });
        }
        self.frames.append_blocking(frames)
    }

    /// Appends a snapshot of the folded state and compacts; see
    /// [`journal::Journal::append_snapshot`].
    pub async fn append_snapshot(
        &self,
        snapshot: AgentSnapshot,
        folded_up_to: u64,
    ) -> Result<AppendAck> {
        self.frames
            .append_snapshot(snapshot_frame(snapshot)?, folded_up_to)
            .await
    }

    /// Blocking `append_snapshot`.
    pub fn append_snapshot_blocking(
        &self,
        snapshot: AgentSnapshot,
        folded_up_to: u64,
    ) -> Result<AppendAck> {
        self.frames
            .append_snapshot_blocking(snapshot_frame(snapshot)?, folded_up_to)
    }

    /// Iterates the records from `seq` on (inclusive), in order. Every item is checked (CRC,
    /// framing, decoding); a damaged record is yielded as an error.
    pub fn iter_from(&self, seq: u64) -> Iter {
        Iter {
            frames: self.frames.iter_from(seq),
        }
    }

    /// The record stored under `seq`, if any.
    pub fn get(&self, seq: u64) -> Result<Option<StoredRecord>> {
        self.frames.get(seq)?.map(StoredRecord::decode).transpose()
    }

    /// The latest snapshot record, if any. Fold from it, then `iter_from(seq + 1)`.
    pub fn latest_snapshot(&self) -> Result<Option<StoredRecord>> {
        self.frames
            .latest_snapshot()?
            .map(StoredRecord::decode)
            .transpose()
    }

    /// Sequence number of the last record (0 when the journal is empty).
    pub fn last_seq(&self) -> u64 {
        self.frames.last_seq()
    }

    /// Sequence number of the first retained record (0 when the journal is empty).
    pub fn first_seq(&self) -> u64 {
        self.frames.first_seq()
    }

    /// Bytes of live data: keys and frames of every retained record.
    pub fn live_bytes(&self) -> u64 {
        self.frames.live_bytes()
    }

    /// Bytes the store occupies on disk.
    pub fn disk_bytes(&self) -> Result<u64> {
        self.frames.disk_bytes()
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.frames.dir()
    }

    /// Re-checks the whole store; see [`journal::Journal::verify`].
    pub fn verify(&self) -> Result<u64> {
        self.frames.verify()
    }

    /// Writes every record from `seq` on as JSON lines (see [`super::export_json`]; secrets
    /// masked). Returns the number of lines written.
    pub fn export_jsonl<W: std::io::Write>(&self, seq: u64, mut out: W) -> Result<u64> {
        let mut n = 0;
        for rec in self.iter_from(seq) {
            let line = super::export_json(&rec?);
            writeln!(out, "{line}").map_err(|source| Error::Io {
                path: "export output".into(),
                source,
            })?;
            n += 1;
        }
        Ok(n)
    }

    /// The untyped journal underneath.
    pub fn frames(&self) -> &journal::Journal {
        &self.frames
    }

    /// Stops the committer and closes sled, waiting for both. Dropping the journal does the same.
    pub fn close(self) {
        self.frames.close();
    }
}

fn no_kind() -> Error {
    Error::InvalidPayload("record has no kind".into())
}

fn encode(record: &Record) -> Result<Frame> {
    let tag = record.kind.as_ref().map(kind_tag).ok_or_else(no_kind)?;
    Ok(Frame {
        tag,
        payload: record.encode_to_vec(),
    })
}

pub(super) fn encode_all(batch: Vec<Record>) -> Result<Vec<Frame>> {
    batch.iter().map(encode).collect()
}

pub(super) fn snapshot_frame(snapshot: AgentSnapshot) -> Result<Frame> {
    encode(&snapshot.into())
}

/// Iterator returned by [`Journal::iter_from`].
pub struct Iter {
    frames: journal::Iter,
}

impl Iterator for Iter {
    type Item = Result<StoredRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.frames.next()?.and_then(StoredRecord::decode))
    }
}
