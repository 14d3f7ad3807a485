//! Typed errors of the journal.

use std::path::PathBuf;

/// Why a stored frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The value is shorter than the fixed part of a frame.
    #[error("frame is {len} bytes, shorter than the fixed header")]
    TooShort {
        /// Length of the stored value.
        len: usize,
    },
    /// The CRC32C stored in the frame does not match the bytes.
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The checksum found in the frame.
        stored: u32,
        /// The checksum computed over the frame.
        computed: u32,
    },
    /// The version byte is not one this build understands.
    #[error("unknown frame version {0}")]
    UnknownVersion(u8),
    /// The length fields disagree with the value's length.
    #[error("frame length fields disagree with its size")]
    Length,
    /// The boot id is not UTF-8.
    #[error("boot id is not UTF-8")]
    BootId,
    /// The sled key is not an 8-byte big-endian sequence number.
    #[error("key is {0} bytes, not 8")]
    Key(usize),
}

/// Everything that can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system I/O error on a file the journal manages.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error reported by sled.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// sled panicked; the panic was caught so the caller can decide what to do.
    #[error("sled panicked: {0}")]
    SledPanic(String),
    /// A stored frame is damaged.
    #[error("record {seq}: {source}")]
    Frame {
        /// Sequence number of the record.
        seq: u64,
        /// What is wrong with it.
        #[source]
        source: FrameError,
    },
    /// A stored payload does not decode in the caller's schema. The journal itself never
    /// decodes payloads; a typed layer over it reports its decoding errors with this.
    #[error("record {seq} does not decode: {source}")]
    Decode {
        /// Sequence number of the record.
        seq: u64,
        /// The schema's decoding error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `verify` found a problem that is not about one frame (gaps, order).
    #[error("verification failed at record {seq}: {reason}")]
    Verify {
        /// Sequence number where the problem was found.
        seq: u64,
        /// A human sentence.
        reason: String,
    },
    /// Another process (or another `Journal` in this one) has the directory open.
    #[error("journal {path} is locked by another user")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A frame to append is refused by the schema (see `Schema::check`), or a snapshot does not
    /// carry the schema's snapshot tag.
    #[error("invalid payload: {0}")]
    InvalidPayload(String),
    /// The configured boot id does not fit a frame.
    #[error("boot id is {len} bytes; frames hold at most 255")]
    BootIdTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A snapshot was built on a state that is no longer the journal's last record.
    #[error("snapshot was folded up to record {based_on} but the journal is at {last_seq}")]
    SnapshotStale {
        /// The sequence number the caller folded up to.
        based_on: u64,
        /// The journal's last sequence number when the snapshot was committed.
        last_seq: u64,
    },
    /// A write or sync failed earlier. After a failed fsync the kernel may have dropped the dirty
    /// pages, so retrying could acknowledge data that is not on disk: the journal refuses all
    /// further appends until it is reopened (which verifies what is really stored).
    #[error("journal refuses appends after an earlier storage failure: {0}")]
    Poisoned(String),
    /// The journal's committer has stopped.
    #[error("journal is closed")]
    Closed,
    /// Recovery itself failed; the damaged store was left where it was (or as reported).
    #[error("recovery failed: {0}")]
    Recovery(String),
}

/// Result alias of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
