//! A durable, append-only, replayable journal of typed frames on sled.
//!
//! The journal is the agent's single source of truth: the agent's state is a fold over it. This
//! crate knows typed byte frames, not what they mean: it names no record type. A caller appends
//! [`Frame`]s — a `u16` type tag and a payload of bytes — and reads back [`StoredFrame`]s with
//! the payload exactly as appended, its sequence number, commit time and the writer's boot id.
//! Encoding and decoding payloads is the caller's job.
//!
//! The few frames the journal must recognise or write itself come from the caller's [`Schema`],
//! handed to [`Journal::open`]: which tag is a snapshot, whether a payload is well formed (checked
//! on append, on open and by `verify`), and the recovery note — how to word one from a
//! [`RecoveryInfo`] and how to read its lost range back. One store must always be opened with the
//! same schema.
//!
//! # Framing
//!
//! Each record is one sled entry. The key is the record's sequence number as a `u64`
//! big-endian (so sled's byte order is numeric order); sequence numbers start at 1 and are never
//! reused. The value is a frame (all integers big-endian):
//!
//! ```text
//! offset  size  field
//! 0       1     version = 1
//! 1       2     tag: the frame's type, as appended (its meaning is the schema's)
//! 3       8     time: wall clock at commit, unix milliseconds
//! 11      1     n = length of the boot id
//! 12      n     boot id (UTF-8), the kernel boot id of the writer
//! 12+n    4     m = payload length
//! 16+n    m     payload: exactly as appended
//! 16+n+m  4     CRC32C over key (8 bytes) ‖ bytes 0..16+n+m of the value
//! ```
//!
//! The checksum is verified before anything else in the frame is trusted; it covers the key so
//! a value that appears under another key is caught as well. A new layout gets a new version
//! byte.
//!
//! # Durability
//!
//! [`Journal::append`] returns only when the records are durable. sled 0.34.7's `Db::flush()`
//! only calls `sync_file_range(2)` (measured with strace), which survives a process crash but not
//! a power cut; so after every flush the journal fsyncs every new sled blob file and `blobs/`
//! (sled writes any log message over ~16 KiB as a blob, rewritten tree nodes included), *then*
//! calls `fdatasync` on sled's data file (`<dir>/db`, through a descriptor it keeps open) — a
//! durable `db` never points at a blob a power cut can take back. sled removes a replaced blob
//! inside its flush, before that `fdatasync`, and the filesystem may make the removal durable
//! first; so every blob also gets a second name in `blobs-kept/` (a hard link, synced with the
//! blob) that is removed only after a `db` sync following sled's removal, and an open links a
//! kept blob back before sled reads the store (`src/blobs.rs`, `tests/blobs.rs`;
//! `tests/fsync_trace.rs` checks the order under strace). Directories are fsynced when files
//! are created (the store directory and its parent when created, the directory after sled
//! created its files), and at every open the store is made durable before sled reads it and its
//! directory synced after sled wrote its page-table snapshot. The extra fdatasync can only be
//! turned off through [`Options::unsafe_skip_fdatasync`], which exists for a chaos-test control
//! experiment.
//!
//! # Group commit
//!
//! One committer thread owns writing. Appenders (async [`Journal::append`] or
//! [`Journal::append_blocking`]) queue their batch and wait; the committer takes everything queued,
//! assigns sequence numbers, writes it all in one sled `Batch` (`apply_batch` is atomic, so a
//! caller's batch is all there or not at all after a crash; a lone record is one plain insert,
//! atomic by itself, which saves the batch's manifest write), flushes, fdatasyncs, updates the
//! high-water mark and acknowledges every waiter. Concurrent appenders thus share one flush and one
//! fdatasync. After a failed write or sync the journal refuses further appends
//! ([`Error::Poisoned`]): after a failed fsync, retrying could acknowledge data the kernel dropped.
//!
//! # High-water mark
//!
//! sled recovers from a damaged log by replaying up to the first bad entry — i.e. it can come back
//! silently with an earlier state, dropping acknowledged records. To tell that apart from a
//! healthy store, each group commit writes the last acknowledged sequence number to a small file
//! (`journal.hwm`, two checksummed slots) after the data is durable, and fdatasyncs it. That costs
//! one extra fdatasync and one block write per group commit (a 512-byte sector where the
//! filesystem takes `O_DIRECT`, see BENCHMARKS.md "Footprint"); the cheaper
//! [`Options::lazy_high_water_mark`] skips the fdatasync and still catches rollbacks after process
//! crashes and for anything older than the kernel's write-back delay. On open, a store whose last
//! intact record is below the mark has lost acknowledged records, and that is reported as loss.
//!
//! # Snapshots and compaction
//!
//! The caller folds the journal into its state and hands in a snapshot, a frame with the schema's
//! [`Schema::snapshot_tag`] ([`Journal::append_snapshot`], which names the last sequence number
//! the state includes, so a snapshot that missed a concurrent append is refused). In the same sled batch the journal appends
//! it and removes the records before it except the most recent [`Options::history_records`]
//! (default 200, and at most half of the live budget) kept for post-mortem. Readers fold from
//! [`Journal::latest_snapshot`] and then [`Journal::iter_from`]`(snapshot_seq + 1)`. Live data
//! (keys + frames of retained records, [`Journal::live_bytes`]) is kept under
//! [`Options::max_live_bytes`] (default 1 MiB): when an append leaves more,
//! [`AppendAck::needs_snapshot`] tells the caller to snapshot. sled's files are larger than the
//! live data (segments, page-table snapshots, free space); sled is configured for small flash: a
//! 256 KiB cache, 64 KiB segments, no compression, `LowSpace` mode, and no periodic flush thread
//! (the journal flushes on every commit).
//!
//! # Verification and recovery
//!
//! [`Journal::open`] scans the whole store: every frame's checksum, its payload's
//! [`Schema::check`] and sequence contiguity from the first retained record (a gap is allowed only
//! right before a recovery note that names exactly that range, see [`Schema::recovery_range`]). It never panics on a damaged store
//! (sled's panics are caught) and never resets one silently. [`Journal::open_visiting`] hands a
//! caller that reads the whole store at start each frame as the scan checks it, so the store is
//! read once. The [`OpenReport`] says what happened:
//!
//! * [`OpenOutcome::Created`] / [`OpenOutcome::Clean`].
//! * [`OpenOutcome::TailTruncated`]: damaged records after the last good one, none of them
//!   acknowledged (all above the high-water mark), were removed and logged with `tracing::warn!`.
//! * [`OpenOutcome::Recovered`]: anything else — damage before the tail or to acknowledged
//!   records, sled refusing to open the store, sled panicking, or the store ending below the
//!   high-water mark. A new store is built in `<dir>.recovering`, then the damaged directory is
//!   renamed to `<dir>.damaged-<unix seconds>` (`-<n>` appended if taken) and the new one renamed
//!   to `<dir>` (a crash between the two renames is finished by the next `open`). The new store is
//!   seeded byte-for-byte with the latest intact
//!   snapshot and the contiguous intact records after it (or, with no snapshot, the intact run from
//!   sequence 1), and the schema's recovery note ([`Schema::recovery_note`]) is appended naming
//!   the reason, where the damaged store went, the lost sequence range and the snapshot used. Its sequence number is above every
//!   number ever acknowledged, so numbers are never reused.
//!
//! Environmental errors (permission denied, disk full, the store locked by another process) are
//! returned as errors and never trigger recovery.
//!
//! A sled panic while opening, scanning or salvaging counts as damage. An unwinding build catches
//! it in-process; a build with `panic = "abort"` runs those steps first in a forked child and
//! takes only a panic the child reported as the verdict (`isolate.rs`): a child that was killed
//! or ended any other way is an environmental error. It skips that check when the store was
//! closed cleanly: [`Journal::close`] (and dropping a `Journal`) leaves a `clean-close` mark after
//! sled's flush, and `open` removes it, durably, before sled runs — so a crash leaves no mark,
//! and damage that appears after a clean close costs at most one aborted start.
//!
//! What sled 0.34.7 does with damaged files (measured by `tests/corruption.rs`: 160 seeded byte
//! flips or truncations of sled's files per run, five seeds): in about 70% of the cases sled
//! opens *without any error* and serves an earlier state — its log replay stops at the first bad
//! entry, so acknowledged records vanish, and compacted ones can even come back. About 20% are
//! refused by `sled::open` (`Corruption`/I/O errors), a few percent make sled panic (caught), and
//! the rest hit bytes sled never reads again. The journal's own checksums almost never fire on
//! such damage (sled checksums its log too); the high-water mark is what turns sled's silent
//! rollbacks into reported loss.
//!
//! # Many journals in one store
//!
//! [`JournalSet`] hosts many logical journals ([`SetMember`]s, one per simulated device in
//! fleet mode) in one sled database with one committer thread and one fdatasync per group
//! commit; see the `set` module's documentation. It leaves [`Journal`] and its format unchanged.

#![warn(missing_docs)]

mod blobs;
mod error;
pub mod frame;
mod hwm;
mod isolate;
mod journal;
mod open;
mod schema;
mod set;

pub use error::{Error, FrameError, Result};

/// For tests that tamper with a store behind the journal's back; not part of the API.
#[doc(hidden)]
pub mod testing {
    use std::path::Path;

    /// Opens the sled database in `dir` as the journal does (`segment_size` must be the one the
    /// store was made with), waiting out the lock a journal closed a moment ago still holds.
    pub fn raw_sled(dir: &Path, segment_size: usize) -> sled::Db {
        let options = crate::journal::Options {
            segment_size,
            ..crate::journal::Options::default()
        };
        match crate::open::open_sled_waiting(&options.sled_config(dir)) {
            Ok(db) => db,
            Err(e) => panic!("opening {} with sled: {e}", dir.display()),
        }
    }
}
pub use journal::{AppendAck, Iter, Journal, Options, StoredFrame};
pub use open::{OpenOutcome, OpenReport, Visit};
pub use schema::{Frame, RecoveryInfo, Schema};
pub use set::{JournalSet, SetIter, SetMember, SetOpenReport, SetOptions};

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// fsync of a directory: makes the creation, removal or rename of its entries durable.
pub(crate) fn sync_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(error::io_err(dir))
}
