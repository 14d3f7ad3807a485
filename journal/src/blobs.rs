//! sled's blob files, made as durable as the data file that points at them.
//!
//! sled writes any log message over its blob threshold (a quarter of a segment: a snapshot, a
//! rewritten tree node of large records) to its own file, `blobs/<lsn>`, and never syncs the
//! file or the directory. Two hazards follow, and this module closes both.
//!
//! **A new blob the durable `db` points at.** Every commit syncs the blobs created since the last
//! one, and `blobs/`, *before* `db` (see [`BlobSyncer::sync_commit`]).
//!
//! **A replaced blob the durable `db` still points at.** sled removes (`unlink`s) a blob when the
//! segment holding the pointer that replaced it turns inactive (sled 0.34.7,
//! `pagecache/segment.rs`, `active_to_inactive`), inside one of its flushes, before the
//! journal's `fdatasync` of `db`; and nothing orders an `unlink` after a later `fdatasync` of
//! another file: the filesystem may commit the removal on its own (ext4 commits its journal
//! every five seconds, or when any other file is synced). If the durable `db` still pointed at
//! the blob, a power cut there loses the records in it — the blob was a tree node, so
//! neighbouring records go with it (`tests/blobs.rs` builds that state). sled deactivates a
//! segment only once its stable point is a whole segment past it (`stabilize`), and the journal
//! syncs `db` after every flush, so the replacing pointer is normally durable long before: the
//! window needs one commit to write more than a segment of log after the replacement. 150
//! random power cuts with removals durable at once (`POWER_CUT_STRICT=0`, before and after this
//! module) and 110 cuts placed right after sled's 1st to 40th blob removal, with commits of up
//! to 40 records of 9 KB (`chaos-tests/tests/power_cut.rs`), never left a durable `db` pointing
//! at a removed blob. The second names below are cheap insurance for that window.
//!
//! Each blob gets a second name, a hard link in `blobs-kept/` (a copy where the filesystem has
//! no hard links), made and synced in the same step that syncs the new blob, before any `db`
//! that points at it is durable. The second name is removed only after a `db` sync that
//! followed sled's removal of the first: from then on the durable `db` points past the blob. At
//! open, before sled reads the store, a kept blob whose `blobs/` name is gone is linked back
//! ([`restore_kept`]).
//!
//! A blob restored that the durable `db` no longer needed (a cut between sled's removal and the
//! release of the second name, where the `db` already pointed past it — by the above, the usual
//! case) stays on disk unreferenced: sled's own clean-up at open only removes blobs newer than
//! its log. That costs one blob's space per such cut; losing a blob costs acknowledged records.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::{Result, io_err};

/// The directory of the second names, beside sled's `blobs/` in the store's directory.
pub(crate) const KEPT_DIR: &str = "blobs-kept";

/// Keeps sled's blob files durable and their second names in step (see the module docs).
pub(crate) struct BlobSyncer {
    blobs: PathBuf,
    kept: PathBuf,
    /// Blobs synced and kept, as of the last listing.
    synced: HashSet<OsString>,
    /// Blobs sled removed that still have a second name, released after the next `db` sync.
    removed: Vec<OsString>,
    /// Whether `blobs-kept/` exists (made on the first blob).
    kept_exists: bool,
}

impl BlobSyncer {
    /// For the store in `store_dir`.
    pub(crate) fn new(store_dir: &Path) -> Self {
        let kept = store_dir.join(KEPT_DIR);
        BlobSyncer {
            blobs: store_dir.join("blobs"),
            kept_exists: kept.is_dir(),
            kept,
            synced: HashSet::new(),
            removed: Vec::new(),
        }
    }

    /// Syncs the blobs created since the last call and gives each its second name; notes the
    /// ones sled removed since.
    pub(crate) fn sync_new(&mut self) -> Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(&self.blobs)(e)),
        };
        let mut present = HashSet::with_capacity(self.synced.len() + 1);
        let mut created = false;
        for entry in entries {
            let entry = entry.map_err(io_err(&self.blobs))?;
            let name = entry.file_name();
            if !self.synced.contains(&name) {
                let path = entry.path();
                match File::open(&path).and_then(|f| f.sync_all()) {
                    Ok(()) => {}
                    // Removed by sled since the listing: made and replaced after the last
                    // durable `db`, so no durable `db` points at it.
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(io_err(&path)(e)),
                }
                self.keep(&name, &path)?;
                created = true;
            }
            present.insert(name);
        }
        if created {
            crate::sync_dir(&self.blobs)?;
            crate::sync_dir(&self.kept)?;
        }
        self.removed.extend(
            self.synced
                .iter()
                .filter(|n| !present.contains(*n))
                .cloned(),
        );
        self.synced = present;
        Ok(())
    }

    /// Gives a blob its second name.
    fn keep(&mut self, name: &OsString, path: &Path) -> Result<()> {
        if !self.kept_exists {
            match std::fs::create_dir(&self.kept) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_err(&self.kept)(e)),
            }
            // The directory's own entry, in the store's directory.
            if let Some(store) = self.kept.parent() {
                crate::sync_dir(store)?;
            }
            self.kept_exists = true;
        }
        let second = self.kept.join(name);
        match link_or_copy(path, &second) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
            // Removed by sled since it was synced: see `sync_new`.
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&second)(e)),
        }
    }

    /// Makes a commit durable after sled's flush, in the one order that is safe: this commit's
    /// new blobs, their second names and both directories, then the data file `db` (through
    /// `db_file`, a descriptor kept open on `db_path`), then the release of the second names of
    /// the blobs sled removed before `db` was synced.
    ///
    /// New blobs *before* `db`: once `db` is durable it may point at them (a rewritten root
    /// node, say). Synced after `db`, a power cut between the two left a durable tree whose root
    /// was in a blob the cut took back; sled then could not read the store ("cannot find pid
    /// 3") and every acknowledged record was set aside (the power-cut campaign under load, about
    /// one cut in 150, LAZYFS_TRACE showing the cut after `db`'s sync). Releases *after* `db`,
    /// and only of removals seen *before* it: until then the durable `db` may point at them.
    /// `tests/fsync_trace.rs` checks the order under strace.
    pub(crate) fn sync_commit(&mut self, db_file: &File, db_path: &Path) -> Result<()> {
        self.sync_new()?;
        db_file.sync_data().map_err(io_err(db_path))?;
        self.release_removed()
    }

    /// Removes the second names of the blobs sled removed, once a `db` sync followed.
    fn release_removed(&mut self) -> Result<()> {
        if self.removed.is_empty() {
            return Ok(());
        }
        for name in self.removed.drain(..) {
            let second = self.kept.join(&name);
            match std::fs::remove_file(&second) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(&second)(e)),
            }
        }
        // sled's removals, then ours: neither needs to be durable for safety, but an entry left
        // behind by a cut would come back at the next open as an unreferenced blob.
        crate::sync_dir(&self.blobs)?;
        crate::sync_dir(&self.kept)
    }

    /// After sled opened the store: second names whose blob sled no longer has (its clean-up of
    /// blobs newer than its log removed them at open) are removed. Call after the first
    /// [`BlobSyncer::sync_new`].
    pub(crate) fn prune_kept(&mut self) -> Result<()> {
        if !self.kept_exists {
            return Ok(());
        }
        let entries = std::fs::read_dir(&self.kept).map_err(io_err(&self.kept))?;
        let mut pruned = false;
        for entry in entries {
            let entry = entry.map_err(io_err(&self.kept))?;
            if !self.synced.contains(&entry.file_name()) {
                let path = entry.path();
                match std::fs::remove_file(&path) {
                    Ok(()) => pruned = true,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(&path)(e)),
                }
            }
        }
        if pruned {
            crate::sync_dir(&self.kept)?;
        }
        Ok(())
    }
}

/// Before sled opens a store: every kept blob whose `blobs/` name is gone is linked back, and
/// `blobs/` synced. Returns the names restored.
pub(crate) fn restore_kept(store_dir: &Path) -> Result<Vec<OsString>> {
    let kept = store_dir.join(KEPT_DIR);
    let entries = match std::fs::read_dir(&kept) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&kept)(e)),
    };
    let blobs = store_dir.join("blobs");
    let mut restored = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err(&kept))?;
        let name = entry.file_name();
        let first = blobs.join(&name);
        if first.exists() {
            continue;
        }
        std::fs::create_dir_all(&blobs).map_err(io_err(&blobs))?;
        link_or_copy(&entry.path(), &first).map_err(io_err(&first))?;
        restored.push(name);
    }
    if !restored.is_empty() {
        crate::sync_dir(&blobs)?;
    }
    Ok(restored)
}

/// A second name for `from` at `to`: a hard link, or where the filesystem has none (vfat, some
/// FUSE layers such as the chaos tests' lazyfs) a synced copy, which protects as well at the
/// cost of the blob's size.
fn link_or_copy(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(from, to) {
        Err(e)
            if e.kind() == ErrorKind::Unsupported
                || matches!(
                    e.raw_os_error(),
                    Some(
                        libc::ENOSYS | libc::EPERM | libc::EOPNOTSUPP | libc::EXDEV | libc::EMLINK
                    )
                ) =>
        {
            std::fs::copy(from, to)?;
            File::open(to)?.sync_all()
        }
        other => other,
    }
}
