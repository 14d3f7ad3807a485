//! What the journal stores — typed frames of bytes — and the little it must know about them.

use std::path::PathBuf;

/// One frame to append: a type tag and a payload, stored exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The frame's type; what each tag means is the caller's [`Schema`]'s business.
    pub tag: u16,
    /// The payload bytes, stored and returned byte-for-byte.
    pub payload: Vec<u8>,
}

/// What a recovery found, handed to [`Schema::recovery_note`] so the caller can word the note
/// the journal appends to the new store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// Why the store was recovered, as a human sentence.
    pub reason: String,
    /// Where the damaged store was moved.
    pub moved_aside_to: PathBuf,
    /// First lost sequence number (inclusive).
    pub lost_from_seq: u64,
    /// Last lost sequence number (inclusive); below `lost_from_seq` when none were lost.
    pub lost_to_seq: u64,
    /// The snapshot the new store was seeded from (0: none could be read).
    pub seeded_from_snapshot_seq: u64,
}

/// The caller's side of the contract: the journal keeps bytes and tags and knows no record type,
/// but it writes and recognises a few frames itself. Handed to [`crate::Journal::open`]; one
/// store must always be opened with the same schema.
pub trait Schema: Send + Sync + 'static {
    /// The tag of snapshot frames: [`crate::Journal::append_snapshot`] takes only these, the
    /// latest one is what [`crate::Journal::latest_snapshot`] returns, and recovery seeds the new
    /// store from it.
    fn snapshot_tag(&self) -> u16;

    /// Whether `payload` is well formed for `tag`. The open-time scan and `verify` treat a frame
    /// that fails as damaged, so appends are checked too: a frame the scan would reject never
    /// gets in.
    fn check(&self, tag: u16, payload: &[u8]) -> Result<(), String>;

    /// The note appended when a damaged store is set aside. It must satisfy
    /// [`Schema::check`], and [`Schema::recovery_range`] must read back the lost range from it.
    fn recovery_note(&self, info: &RecoveryInfo) -> Frame;

    /// For a recovery note, the lost range it names as `(lost_from_seq, lost_to_seq)`; `None` for
    /// any other frame. The scan accepts a gap in the sequence only right before a note naming
    /// exactly that range, and recovery may seed from a run that starts with a note.
    fn recovery_range(&self, tag: u16, payload: &[u8]) -> Option<(u64, u64)>;
}
