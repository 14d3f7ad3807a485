//! The agent's records in a journal set (fleet mode: one journal per simulated device in one
//! sled database, see `journal::JournalSet`), and [`RecordStore`], the one interface the edge
//! appends and reads back through, whichever journal it holds.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use journal::{AppendAck, OpenReport, Result, SetOpenReport, SetOptions};

use super::proto::{AgentSnapshot, Record};
use super::schema::RecordSchema;
use super::store::{Journal, StoredRecord, encode_all, snapshot_frame};

/// What the edge needs of a journal: durable appends and snapshots, and reading records back.
/// The daemon's [`Journal`], a fleet device's [`MemberJournal`] and fleet mode's in-memory
/// journal implement it.
pub trait RecordStore: Send + Sync {
    /// Appends a batch atomically; resolves once it is durable.
    fn append(&self, batch: Vec<Record>) -> impl Future<Output = Result<AppendAck>> + Send;
    /// Appends a snapshot of the state folded up to `folded_up_to` and compacts.
    fn append_snapshot(
        &self,
        snapshot: AgentSnapshot,
        folded_up_to: u64,
    ) -> impl Future<Output = Result<AppendAck>> + Send;
    /// The records from `seq` on, in order.
    fn records_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<StoredRecord>> + Send + '_>;
    /// The latest snapshot record, if any.
    fn latest_snapshot_record(&self) -> Result<Option<StoredRecord>>;
}

impl RecordStore for Journal {
    fn append(&self, batch: Vec<Record>) -> impl Future<Output = Result<AppendAck>> + Send {
        Journal::append(self, batch)
    }

    fn append_snapshot(
        &self,
        snapshot: AgentSnapshot,
        folded_up_to: u64,
    ) -> impl Future<Output = Result<AppendAck>> + Send {
        Journal::append_snapshot(self, snapshot, folded_up_to)
    }

    fn records_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<StoredRecord>> + Send + '_> {
        Box::new(self.iter_from(seq))
    }

    fn latest_snapshot_record(&self) -> Result<Option<StoredRecord>> {
        self.latest_snapshot()
    }
}

/// A journal set holding the agent's records: [`journal::JournalSet`] opened with the
/// [`RecordSchema`].
pub struct RecordSet {
    set: journal::JournalSet,
}

impl std::fmt::Debug for RecordSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.set.fmt(f)
    }
}

impl RecordSet {
    /// Opens (or creates) the set in `dir`; see [`journal::JournalSet::open`].
    pub fn open(dir: impl AsRef<Path>, options: SetOptions) -> Result<(RecordSet, SetOpenReport)> {
        let (set, report) = journal::JournalSet::open(dir, options, Arc::new(RecordSchema))?;
        Ok((RecordSet { set }, report))
    }

    /// Opens member `id`'s journal; see [`journal::JournalSet::open_member`].
    pub fn open_member(&self, id: u32, boot_id: &str) -> Result<(MemberJournal, OpenReport)> {
        let (member, report) = self.set.open_member(id, boot_id)?;
        Ok((MemberJournal { member }, report))
    }

    /// Member `id`'s sidecar value.
    pub fn sidecar(&self, id: u32) -> Result<Option<Vec<u8>>> {
        self.set.sidecar(id)
    }

    /// The untyped set underneath.
    pub fn frames(&self) -> &journal::JournalSet {
        &self.set
    }

    /// Stops the committer; see [`journal::JournalSet::close`].
    pub fn close(self) {
        self.set.close();
    }
}

/// One device's journal in a [`RecordSet`]. Dropping it cuts the device's power (see
/// `journal::SetMember`).
#[derive(Debug)]
pub struct MemberJournal {
    member: journal::SetMember,
}

impl MemberJournal {
    /// Appends a batch atomically and returns once it is durable.
    pub async fn append(&self, batch: Vec<Record>) -> Result<AppendAck> {
        self.member.append(encode_all(batch)?).await
    }

    /// Appends a snapshot of the folded state and compacts.
    pub async fn append_snapshot(
        &self,
        snapshot: AgentSnapshot,
        folded_up_to: u64,
    ) -> Result<AppendAck> {
        self.member
            .append_snapshot(snapshot_frame(snapshot)?, folded_up_to)
            .await
    }

    /// The records from `seq` on, decoded.
    pub fn iter_from(&self, seq: u64) -> impl Iterator<Item = Result<StoredRecord>> + Send + '_ {
        self.member
            .iter_from(seq)
            .map(|f| f.and_then(StoredRecord::decode))
    }

    /// The latest snapshot record, if any.
    pub fn latest_snapshot(&self) -> Result<Option<StoredRecord>> {
        self.member
            .latest_snapshot()?
            .map(StoredRecord::decode)
            .transpose()
    }

    /// Sequence number of the last record.
    pub fn last_seq(&self) -> u64 {
        self.member.last_seq()
    }

    /// Re-checks the member's records.
    pub fn verify(&self) -> Result<u64> {
        self.member.verify()
    }

    /// Replaces the device's sidecar durably.
    pub async fn put_sidecar(&self, value: Vec<u8>) -> Result<()> {
        self.member.put_sidecar(value).await
    }

    /// The untyped member underneath.
    pub fn frames(&self) -> &journal::SetMember {
        &self.member
    }
}

impl RecordStore for MemberJournal {
    fn append(&self, batch: Vec<Record>) -> impl Future<Output = Result<AppendAck>> + Send {
        MemberJournal::append(self, batch)
    }

    fn append_snapshot(
        &self,
        snapshot: AgentSnapshot,
        folded_up_to: u64,
    ) -> impl Future<Output = Result<AppendAck>> + Send {
        MemberJournal::append_snapshot(self, snapshot, folded_up_to)
    }

    fn records_from(&self, seq: u64) -> Box<dyn Iterator<Item = Result<StoredRecord>> + Send + '_> {
        Box::new(self.iter_from(seq))
    }

    fn latest_snapshot_record(&self) -> Result<Option<StoredRecord>> {
        self.latest_snapshot()
    }
}
