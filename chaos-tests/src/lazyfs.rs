//! A "lazy" FUSE filesystem for power-cut tests (the idea of Jepsen's lazyfs).
//!
//! SIGKILL of a process keeps the kernel's page cache, so it cannot show what a power cut does to
//! data that was written but never made durable. [`LazyFs`] is a passthrough filesystem over a
//! backing directory that keeps every write in memory until the application makes it durable:
//!
//! * `write` and `truncate` (a size change through `setattr`) go to an in-memory [`Overlay`] per
//!   inode: a map of changed byte ranges plus the pending size change. The backing file is not
//!   touched. Reads merge the overlay over the backing file, so the application sees its writes.
//! * `fsync` and `fdatasync` of a file apply that file's overlay to the backing file (truncation,
//!   then the ranges, then the final size). This is the only way data reaches the backing file.
//! * `close`, `flush`, `sync_file_range(2)` (never sent to a FUSE daemon), `syncfs` and sync(2)
//!   make nothing durable.
//! * Namespace operations (create, mkdir, mknod, symlink, unlink, rmdir, rename) go to the backing
//!   directory at once. By default they are durable immediately (`fsyncdir` does nothing), which
//!   is kinder than POSIX. In **strict mode** (`lazyfs --strict`, [`LazyMount::mount`]`(…, true)`)
//!   each one is durable only once every directory it changed has been fsynced (`fsyncdir`, e.g.
//!   `File::open(dir)?.sync_all()`); fsyncing the file itself does not count. Removed entries and
//!   rename victims are moved to a trash directory instead of being deleted, and every pending
//!   operation is logged in `<backing>.lazyfs/undo.log` (on the real disk, beside the backing
//!   directory), so the next daemon mounted on the same backing directory first undoes, newest
//!   first, what was not durable: creations go to the trash, removals come back, renames are
//!   reversed with their victim restored. Undo is by path: an uncommitted operation below a
//!   directory that was later renamed durably is not undone.
//! * Attribute changes (mode, owner, times) go to the backing file at once.
//!
//! The daemon runs as its own process (`lazyfs [--strict] <backing> <mountpoint>`, the `lazyfs`
//! binary of this package), so a power cut is: SIGKILL the daemon (its overlays, i.e. everything not
//! fsynced, are gone) and the processes using the mount, `umount -l`, and mount a new daemon on the
//! same backing directory. [`LazyMount`] does that for a test. Applying an overlay is not atomic:
//! a cut in the middle of an fsync can leave part of it applied, as on a real disk; nothing has
//! been acknowledged to the application then.
//!
//! Limits: the backing directory must be one filesystem (inodes are keyed by their backing inode
//! number); hard links, device files, xattrs, `fallocate` and POSIX/BSD lock forwarding are not
//! implemented (locks are handled by the kernel locally, which is what a single-host test needs).
//! The backing file is not fsynced itself: the test simulates the cut, the real disk keeps power.
//! The mount uses the kernel's page cache for reads but no write-back cache, so every write
//! reaches the daemon. `LAZYFS_TRACE=<file>` in the daemon's environment appends every write,
//! size change, fsync that applied something, create, remove and rename to that file — the way to
//! find out which unsynced write a loss came from. `LAZYFS_CUT_AFTER_REMOVE=<text>` (and
//! `LAZYFS_CUT_AFTER_REMOVALS=<n>`) makes the daemon exit right after its `n`-th removal of a
//! path containing `<text>`: a cut placed at that instant ([`LazyMount::cut_after_removal`]).

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, FileExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow, WriteFlags,
};

// ------------------------------------------------------------------------------------------
// The overlay: pending (not yet durable) changes of one file
// ------------------------------------------------------------------------------------------

/// The changes to one file that are not durable yet: byte ranges written and size changes, on top
/// of the backing file (whose length was `base_len` when the overlay was started).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Length of the backing file.
    base_len: u64,
    /// Length the application sees.
    len: u64,
    /// Backing bytes at and after this offset were truncated away (reads see zeros unless a range
    /// covers them). At most `base_len`.
    floor: u64,
    /// Written ranges by start offset; never overlapping or touching each other.
    ranges: BTreeMap<u64, Vec<u8>>,
}

impl Overlay {
    /// An empty overlay over a backing file of `base_len` bytes.
    pub fn new(base_len: u64) -> Overlay {
        Overlay {
            base_len,
            len: base_len,
            floor: base_len,
            ranges: BTreeMap::new(),
        }
    }

    /// The file's length as the application sees it.
    pub fn logical_len(&self) -> u64 {
        self.len
    }

    /// Whether applying the overlay would change the backing file.
    pub fn is_dirty(&self) -> bool {
        !self.ranges.is_empty() || self.len != self.base_len || self.floor != self.base_len
    }

    /// Bytes held in written ranges.
    pub fn pending_bytes(&self) -> u64 {
        self.ranges.values().map(|v| v.len() as u64).sum()
    }

    /// Number of separate written ranges.
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }

    /// Records a write of `data` at `off`.
    pub fn write(&mut self, off: u64, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let end = off + data.len() as u64;
        // The range that starts at or before `off` and reaches it is extended in place (the common
        // case of appending writes costs no copy of what is already held).
        let host = self
            .ranges
            .range(..=off)
            .next_back()
            .filter(|(s, v)| **s + v.len() as u64 >= off)
            .map(|(s, _)| *s);
        let start = host.unwrap_or(off);
        let mut buf = host
            .and_then(|s| self.ranges.remove(&s))
            .unwrap_or_default();
        let rel = (off - start) as usize;
        if buf.len() < rel + data.len() {
            buf.resize(rel + data.len(), 0);
        }
        buf[rel..rel + data.len()].copy_from_slice(data);
        // Later ranges that the write overlaps or touches are merged in.
        let later: Vec<u64> = self
            .ranges
            .range((
                std::ops::Bound::Excluded(start),
                std::ops::Bound::Included(end),
            ))
            .map(|(s, _)| *s)
            .collect();
        for s in later {
            let v = self.ranges.remove(&s).unwrap_or_default();
            let buf_end = start + buf.len() as u64;
            let v_end = s + v.len() as u64;
            if v_end > buf_end {
                buf.extend_from_slice(&v[(buf_end - s) as usize..]);
            }
        }
        self.ranges.insert(start, buf);
        self.len = self.len.max(end);
    }

    /// Records a size change (truncate or extend) to `len`.
    pub fn set_len(&mut self, len: u64) {
        if len < self.len {
            let dropped: Vec<u64> = self.ranges.range(len..).map(|(s, _)| *s).collect();
            for s in dropped {
                self.ranges.remove(&s);
            }
            if let Some((s, v)) = self.ranges.range_mut(..len).next_back() {
                if *s + v.len() as u64 > len {
                    v.truncate((len - *s) as usize);
                }
            }
            self.floor = self.floor.min(len);
        }
        self.len = len;
    }

    /// Reads up to `size` bytes at `off` as the application sees them. `backing` fills a buffer
    /// from the backing file at an offset (zeros past its end).
    pub fn read(
        &self,
        off: u64,
        size: u32,
        mut backing: impl FnMut(&mut [u8], u64) -> io::Result<()>,
    ) -> io::Result<Vec<u8>> {
        if off >= self.len {
            return Ok(Vec::new());
        }
        let end = off.saturating_add(u64::from(size)).min(self.len);
        let mut buf = vec![0u8; (end - off) as usize];
        let backing_end = end.min(self.floor);
        if off < backing_end {
            backing(&mut buf[..(backing_end - off) as usize], off)?;
        }
        let first = self
            .ranges
            .range(..=off)
            .next_back()
            .map_or(off, |(s, _)| *s);
        for (s, v) in self.ranges.range(first..end) {
            let lo = (*s).max(off);
            let hi = (s + v.len() as u64).min(end);
            if lo < hi {
                buf[(lo - off) as usize..(hi - off) as usize]
                    .copy_from_slice(&v[(lo - s) as usize..(hi - s) as usize]);
            }
        }
        Ok(buf)
    }

    /// Applies the overlay to the backing file: truncation, the written ranges, the final size.
    /// Afterwards the overlay is empty (over a backing file of the logical length).
    pub fn apply(&mut self, file: &File) -> io::Result<()> {
        if self.floor < self.base_len {
            file.set_len(self.floor)?;
        }
        let mut physical = self.floor;
        for (s, v) in &self.ranges {
            file.write_all_at(v, *s)?;
            physical = physical.max(s + v.len() as u64);
        }
        if physical != self.len {
            file.set_len(self.len)?;
        }
        *self = Overlay::new(self.len);
        Ok(())
    }
}

/// Reads from `file` at `off` until `buf` is full or the file ends; the rest stays as it was.
fn read_at_most(file: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

// ------------------------------------------------------------------------------------------
// The filesystem
// ------------------------------------------------------------------------------------------

const TTL: Duration = Duration::from_secs(1);

struct Node {
    /// Path relative to the backing root ("" for the root). Stale once `unlinked`.
    path: PathBuf,
    /// Backing descriptor, held while the file is open (and so after an unlink).
    file: Option<File>,
    opens: u32,
    /// Pending changes; `None` when there are none. Kept across close: closing makes nothing
    /// durable.
    overlay: Option<Overlay>,
    unlinked: bool,
}

/// The attribute changes of a `setattr` that lazyfs applies.
struct SetAttr {
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
}

struct DirEntry {
    ino: u64,
    kind: FileType,
    name: OsString,
}

#[derive(Default)]
struct State {
    nodes: HashMap<u64, Node>,
    /// Backing inode number → our inode number.
    by_backing: HashMap<u64, u64>,
    next_ino: u64,
    /// Listings of open directory handles.
    dirs: HashMap<u64, Vec<DirEntry>>,
    next_fh: u64,
    /// Strict mode: namespace changes not yet made durable by an fsync of their directory.
    strict: Option<Strict>,
}

impl State {
    /// The node for a backing object found at `rel`, created if new.
    fn node_for(&mut self, rel: PathBuf, backing_ino: u64) -> u64 {
        if let Some(&ino) = self.by_backing.get(&backing_ino) {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.path = rel;
                return ino;
            }
        }
        self.next_ino += 1;
        let ino = self.next_ino;
        self.nodes.insert(
            ino,
            Node {
                path: rel,
                file: None,
                opens: 0,
                overlay: None,
                unlinked: false,
            },
        );
        self.by_backing.insert(backing_ino, ino);
        ino
    }

    fn node(&mut self, ino: INodeNo) -> io::Result<&mut Node> {
        self.nodes
            .get_mut(&ino.0)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    /// The backing object at `rel` is gone (unlinked, or replaced by a rename).
    fn forget_backing(&mut self, backing_ino: u64) {
        if let Some(ino) = self.by_backing.remove(&backing_ino) {
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.unlinked = true;
                if n.opens == 0 {
                    n.overlay = None;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Strict mode: namespace changes are durable only after an fsync of their directory
// ------------------------------------------------------------------------------------------

/// One line of the undo log (JSON). Paths are relative to the backing root, trash names to the
/// trash directory.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op")]
enum Undo {
    /// `path` was created (file, directory, symlink, node). Undo: move it to the trash.
    Created {
        id: u64,
        path: PathBuf,
        trash: String,
    },
    /// `path` was unlinked or removed; it was moved to the trash. Undo: move it back.
    Removed {
        id: u64,
        path: PathBuf,
        trash: String,
    },
    /// `from` was renamed to `to`; what `to` named before went to the trash (`victim`).
    /// Undo: rename back, restore the victim.
    Renamed {
        id: u64,
        from: PathBuf,
        to: PathBuf,
        victim: Option<String>,
    },
    /// These operations became durable.
    Durable { ids: Vec<u64> },
}

struct PendingOp {
    id: u64,
    /// Our inode numbers of the directories still to be fsynced for it to be durable.
    dirs: Vec<u64>,
    /// Trash entry to delete once it is durable.
    trash: Option<String>,
}

/// The state of strict mode, kept in `<backing>.lazyfs/` beside the backing directory (outside
/// the mount): `undo.log` and `trash/`. The log lives on the real disk, so it survives the
/// SIGKILL of the daemon; the next daemon undoes what was not durable before it mounts.
struct Strict {
    trash_dir: PathBuf,
    log: File,
    pending: Vec<PendingOp>,
    next_id: u64,
}

impl Strict {
    fn state_dir(root: &Path) -> PathBuf {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backing".into());
        root.with_file_name(format!("{name}.lazyfs"))
    }

    /// Rolls back what the previous daemon left not durable, then starts an empty log. Returns
    /// the state and how many operations were undone.
    fn open(root: &Path) -> io::Result<(Strict, usize)> {
        let dir = Self::state_dir(root);
        let trash_dir = dir.join("trash");
        std::fs::create_dir_all(&trash_dir)?;
        let log_path = dir.join("undo.log");
        let mut undone = 0;
        if let Ok(text) = std::fs::read_to_string(&log_path) {
            let records: Vec<Undo> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            let durable: std::collections::HashSet<u64> = records
                .iter()
                .flat_map(|r| match r {
                    Undo::Durable { ids } => ids.clone(),
                    _ => Vec::new(),
                })
                .collect();
            for r in records.iter().rev() {
                let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
                match r {
                    Undo::Created { id, path, trash } if !durable.contains(id) => {
                        if exists(&root.join(path)) {
                            std::fs::rename(root.join(path), trash_dir.join(trash))?;
                        }
                    }
                    Undo::Removed { id, path, trash } if !durable.contains(id) => {
                        let (from, to) = (trash_dir.join(trash), root.join(path));
                        if exists(&from) && !exists(&to) {
                            std::fs::rename(from, to)?;
                        }
                    }
                    Undo::Renamed {
                        id,
                        from,
                        to,
                        victim,
                    } if !durable.contains(id) => {
                        let (from, to) = (root.join(from), root.join(to));
                        if exists(&to) && !exists(&from) {
                            std::fs::rename(&to, &from)?;
                        }
                        if let Some(v) = victim {
                            let v = trash_dir.join(v);
                            if exists(&v) && !exists(&to) {
                                std::fs::rename(v, &to)?;
                            }
                        }
                    }
                    _ => continue,
                }
                undone += 1;
            }
        }
        std::fs::remove_dir_all(&trash_dir)?;
        std::fs::create_dir_all(&trash_dir)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        log.set_len(0)?;
        Ok((
            Strict {
                trash_dir,
                log,
                pending: Vec::new(),
                next_id: 0,
            },
            undone,
        ))
    }

    fn trash_name(&mut self) -> (u64, String) {
        self.next_id += 1;
        (self.next_id, format!("{}", self.next_id))
    }

    fn trash_path(&self, name: &str) -> PathBuf {
        self.trash_dir.join(name)
    }

    /// Records an operation that is done but not durable until `dirs` are fsynced.
    fn record(&mut self, undo: Undo, dirs: &[u64], trash: Option<String>) -> io::Result<()> {
        let id = match &undo {
            Undo::Created { id, .. } | Undo::Removed { id, .. } | Undo::Renamed { id, .. } => *id,
            Undo::Durable { .. } => return Ok(()),
        };
        self.append(&undo)?;
        let mut dirs = dirs.to_vec();
        dirs.dedup();
        self.pending.push(PendingOp { id, dirs, trash });
        Ok(())
    }

    fn append(&mut self, undo: &Undo) -> io::Result<()> {
        let mut line = serde_json::to_vec(undo).map_err(io::Error::other)?;
        line.push(b'\n');
        self.log.write_all(&line)
    }

    /// The directory (our inode `dir`) was fsynced: what was pending only on it is durable.
    fn dir_synced(&mut self, dir: u64) -> io::Result<()> {
        let mut done = Vec::new();
        self.pending.retain_mut(|op| {
            op.dirs.retain(|d| *d != dir);
            if op.dirs.is_empty() {
                done.push((op.id, op.trash.take()));
                false
            } else {
                true
            }
        });
        if done.is_empty() {
            return Ok(());
        }
        for (_, trash) in &done {
            if let Some(t) = trash {
                let p = self.trash_path(t);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if m.is_dir() => std::fs::remove_dir_all(&p)?,
                    Ok(_) => std::fs::remove_file(&p)?,
                    Err(_) => {}
                }
            }
        }
        if self.pending.is_empty() {
            self.log.set_len(0)?;
            Ok(())
        } else {
            let ids = done.into_iter().map(|(id, _)| id).collect();
            self.append(&Undo::Durable { ids })
        }
    }
}

/// The lazy filesystem. Mount it with [`daemon_main`] (the `lazyfs` binary).
pub struct LazyFs {
    root: PathBuf,
    state: Mutex<State>,
    /// `LAZYFS_TRACE=<file>`: every operation that changes something is appended there.
    trace: Option<Mutex<File>>,
    /// Namespace operations the previous daemon left not durable, undone at start (strict mode).
    undone: usize,
    /// `LAZYFS_CUT_AFTER_REMOVE=<text>`: the daemon dies right after removing a path that
    /// contains `<text>` — a power cut at that instant (see [`LazyMount::cut_after_removal`]).
    cut_after_remove: Option<String>,
    /// `LAZYFS_CUT_AFTER_REMOVALS=<n>`: the cut comes at the `n`-th such removal (default 1).
    removals_left: std::sync::atomic::AtomicU64,
}

fn errno_of(e: io::Error) -> Errno {
    Errno::from(e)
}

fn to_time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH
    }
}

fn kind_of(meta: &std::fs::Metadata) -> FileType {
    FileType::from_std(meta.file_type()).unwrap_or(FileType::RegularFile)
}

impl LazyFs {
    /// A lazy filesystem over the directory `root`. In `strict` mode, creates, removals and
    /// renames are durable only once their directory is fsynced: what the previous daemon on the
    /// same backing directory left not durable is undone first (see [`LazyFs::undone`]).
    pub fn new(root: impl Into<PathBuf>, strict: bool) -> io::Result<LazyFs> {
        let root = root.into();
        let meta = std::fs::metadata(&root)?;
        if !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root.display()),
            ));
        }
        let mut state = State {
            next_ino: 1,
            ..State::default()
        };
        state.nodes.insert(
            1,
            Node {
                path: PathBuf::new(),
                file: None,
                opens: 0,
                overlay: None,
                unlinked: false,
            },
        );
        state.by_backing.insert(meta.ino(), 1);
        let mut undone = 0;
        if strict {
            let (s, n) = Strict::open(&root)?;
            state.strict = Some(s);
            undone = n;
        }
        let trace = match std::env::var_os("LAZYFS_TRACE") {
            Some(p) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            )),
            None => None,
        };
        let cut_after_remove = std::env::var("LAZYFS_CUT_AFTER_REMOVE")
            .ok()
            .filter(|p| !p.is_empty());
        let fs = LazyFs {
            root,
            state: Mutex::new(state),
            trace,
            undone,
            cut_after_remove,
            removals_left: std::sync::atomic::AtomicU64::new(
                std::env::var("LAZYFS_CUT_AFTER_REMOVALS")
                    .ok()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
            ),
        };
        fs.trace(format_args!(
            "mount {} (strict: {strict}, undone {undone})",
            fs.root.display()
        ));
        Ok(fs)
    }

    /// Namespace operations undone at start (strict mode).
    pub fn undone(&self) -> usize {
        self.undone
    }

    /// Strict mode: records the creation of `rel` in the directory `parent`.
    fn note_created(&self, st: &mut State, parent: INodeNo, rel: &Path) -> io::Result<()> {
        self.trace(format_args!("create {}", rel.display()));
        if let Some(s) = st.strict.as_mut() {
            let (id, trash) = s.trash_name();
            let path = rel.to_path_buf();
            s.record(Undo::Created { id, path, trash }, &[parent.0], None)?;
        }
        Ok(())
    }

    fn trace(&self, what: std::fmt::Arguments<'_>) {
        if let Some(t) = &self.trace {
            let mut f = t.lock().unwrap_or_else(|p| p.into_inner());
            let _ = writeln!(f, "{what}");
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic in one operation must not take the whole mount down.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn real(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.root.clone()
        } else {
            self.root.join(rel)
        }
    }

    fn child_rel(st: &mut State, parent: INodeNo, name: &OsStr) -> io::Result<PathBuf> {
        let p = st.node(parent)?;
        if p.unlinked {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        Ok(p.path.join(name))
    }

    fn attr_of(ino: u64, meta: &std::fs::Metadata, overlay: Option<&Overlay>) -> FileAttr {
        FileAttr {
            ino: INodeNo(ino),
            size: overlay.map_or(meta.len(), Overlay::logical_len),
            blocks: meta.blocks(),
            atime: to_time(meta.atime(), meta.atime_nsec()),
            mtime: to_time(meta.mtime(), meta.mtime_nsec()),
            ctime: to_time(meta.ctime(), meta.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: kind_of(meta),
            perm: (meta.mode() & 0o7777) as u16,
            nlink: meta.nlink() as u32,
            uid: meta.uid(),
            gid: meta.gid(),
            rdev: meta.rdev() as u32,
            blksize: 4096,
            flags: 0,
        }
    }

    fn getattr_locked(&self, st: &mut State, ino: INodeNo) -> io::Result<FileAttr> {
        let root = self.root.clone();
        let n = st.node(ino)?;
        let meta = match &n.file {
            Some(f) => f.metadata()?,
            None if n.unlinked => return Err(io::Error::from_raw_os_error(libc::ENOENT)),
            None => std::fs::symlink_metadata(root.join(&n.path))?,
        };
        Ok(Self::attr_of(ino.0, &meta, n.overlay.as_ref()))
    }

    /// The node's overlay, started if it has none.
    fn overlay<'a>(&self, n: &'a mut Node) -> io::Result<&'a mut Overlay> {
        if n.overlay.is_none() {
            let len = match &n.file {
                Some(f) => f.metadata()?.len(),
                None => std::fs::metadata(self.real(&n.path))?.len(),
            };
            n.overlay = Some(Overlay::new(len));
        }
        Ok(n.overlay.as_mut().expect("just set"))
    }

    fn entry_reply(&self, st: &mut State, rel: PathBuf) -> io::Result<FileAttr> {
        let meta = std::fs::symlink_metadata(self.real(&rel))?;
        let ino = st.node_for(rel, meta.ino());
        let overlay = st.nodes.get(&ino).and_then(|n| n.overlay.as_ref());
        Ok(Self::attr_of(ino, &meta, overlay))
    }

    fn do_setattr(&self, ino: INodeNo, a: SetAttr) -> io::Result<FileAttr> {
        let mut st = self.state();
        let n = st.node(ino)?;
        let real = self.real(&n.path);
        let SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        } = a;
        if let Some(m) = mode {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&real, std::fs::Permissions::from_mode(m & 0o7777))?;
        }
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::lchown(&real, uid, gid)?;
        }
        if atime.is_some() || mtime.is_some() {
            let when = |t: TimeOrNow| match t {
                TimeOrNow::SpecificTime(t) => t,
                TimeOrNow::Now => SystemTime::now(),
            };
            let mut times = std::fs::FileTimes::new();
            if let Some(t) = atime {
                times = times.set_accessed(when(t));
            }
            if let Some(t) = mtime {
                times = times.set_modified(when(t));
            }
            match &n.file {
                Some(f) => f.set_times(times)?,
                None => File::open(&real)?.set_times(times)?,
            }
        }
        if let Some(len) = size {
            self.trace(format_args!("setlen {} {len}", n.path.display()));
            self.overlay(n)?.set_len(len);
        }
        self.getattr_locked(&mut st, ino)
    }

    fn do_open(&self, ino: INodeNo) -> io::Result<()> {
        let mut st = self.state();
        let n = st.node(ino)?;
        if n.file.is_none() {
            let real = self.real(&n.path);
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&real)
                .or_else(|_| File::open(&real))?;
            n.file = Some(f);
        }
        n.opens += 1;
        Ok(())
    }

    fn do_read(&self, ino: INodeNo, off: u64, size: u32) -> io::Result<Vec<u8>> {
        let mut st = self.state();
        let n = st.node(ino)?;
        let file = n
            .file
            .as_ref()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        match &n.overlay {
            Some(o) => o.read(off, size, |buf, at| read_at_most(file, buf, at).map(|_| ())),
            None => {
                let mut buf = vec![0u8; size as usize];
                let got = read_at_most(file, &mut buf, off)?;
                buf.truncate(got);
                Ok(buf)
            }
        }
    }

    fn do_write(&self, ino: INodeNo, off: u64, data: &[u8]) -> io::Result<()> {
        let mut st = self.state();
        let n = st.node(ino)?;
        if n.file.is_none() {
            return Err(io::Error::from_raw_os_error(libc::EBADF));
        }
        self.trace(format_args!(
            "write {} {off} {}",
            n.path.display(),
            data.len()
        ));
        self.overlay(n)?.write(off, data);
        Ok(())
    }

    fn do_fsync(&self, ino: INodeNo) -> io::Result<()> {
        let mut st = self.state();
        let n = st.node(ino)?;
        let Some(mut overlay) = n.overlay.take() else {
            return Ok(());
        };
        if !overlay.is_dirty() {
            return Ok(());
        }
        self.trace(format_args!(
            "fsync {} {} bytes in {} ranges, len {}",
            n.path.display(),
            overlay.pending_bytes(),
            overlay.ranges(),
            overlay.logical_len()
        ));
        let result = match &n.file {
            Some(f) => overlay.apply(f),
            None => OpenOptions::new()
                .write(true)
                .open(self.real(&n.path))
                .and_then(|f| overlay.apply(&f)),
        };
        if result.is_err() {
            // Keep what was not applied: a failed fsync does not make data durable.
            n.overlay = Some(overlay);
        } else {
            // With the line above, a trace shows whether a cut came in the middle of an fsync.
            self.trace(format_args!("fsync {} done", n.path.display()));
        }
        result
    }

    fn do_release(&self, ino: INodeNo) {
        let mut st = self.state();
        if let Ok(n) = st.node(ino) {
            n.opens = n.opens.saturating_sub(1);
            if n.opens == 0 {
                n.file = None;
                if n.unlinked {
                    n.overlay = None;
                }
            }
        }
    }

    fn do_create(
        &self,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
    ) -> io::Result<FileAttr> {
        let mut st = self.state();
        let rel = Self::child_rel(&mut st, parent, name)?;
        let real = self.real(&rel);
        let mut oo = OpenOptions::new();
        oo.read(true)
            .write(true)
            .create_new(true)
            .mode(mode & !umask & 0o7777);
        let file = match oo.open(&real) {
            Ok(f) => {
                self.note_created(&mut st, parent, &rel)?;
                f
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && flags & libc::O_EXCL == 0 => {
                OpenOptions::new().read(true).write(true).open(&real)?
            }
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        let ino = st.node_for(rel, meta.ino());
        let n = st.node(INodeNo(ino))?;
        if n.file.is_none() {
            n.file = Some(file);
        }
        n.opens += 1;
        if flags & libc::O_TRUNC != 0 {
            self.overlay(n)?.set_len(0);
        }
        let overlay = n.overlay.as_ref();
        Ok(Self::attr_of(ino, &meta, overlay))
    }

    fn do_mknod(
        &self,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
    ) -> io::Result<FileAttr> {
        let mut st = self.state();
        let rel = Self::child_rel(&mut st, parent, name)?;
        let c = std::ffi::CString::new(self.real(&rel).as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let m = (mode & libc::S_IFMT) | (mode & !umask & 0o7777);
        // SAFETY: mknod with a valid C string (regular files, FIFOs and sockets, e.g. a bound
        // Unix socket of the application).
        if unsafe { libc::mknod(c.as_ptr(), m, libc::dev_t::from(rdev)) } != 0 {
            return Err(io::Error::last_os_error());
        }
        self.note_created(&mut st, parent, &rel)?;
        self.entry_reply(&mut st, rel)
    }

    fn do_mkdir(
        &self,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
    ) -> io::Result<FileAttr> {
        let mut st = self.state();
        let rel = Self::child_rel(&mut st, parent, name)?;
        std::fs::DirBuilder::new()
            .mode(mode & !umask & 0o7777)
            .create(self.real(&rel))?;
        self.note_created(&mut st, parent, &rel)?;
        self.entry_reply(&mut st, rel)
    }

    fn do_remove(&self, parent: INodeNo, name: &OsStr, dir: bool) -> io::Result<()> {
        let mut st = self.state();
        let rel = Self::child_rel(&mut st, parent, name)?;
        let real = self.real(&rel);
        let meta = std::fs::symlink_metadata(&real)?;
        if let Some(s) = st.strict.as_mut() {
            // Moved to the trash instead, so that it can come back if not made durable.
            let errno = |n| Err(io::Error::from_raw_os_error(n));
            match (dir, meta.is_dir()) {
                (true, false) => return errno(libc::ENOTDIR),
                (false, true) => return errno(libc::EISDIR),
                (true, true) if std::fs::read_dir(&real)?.next().is_some() => {
                    return errno(libc::ENOTEMPTY);
                }
                _ => {}
            }
            let (id, trash) = s.trash_name();
            std::fs::rename(&real, s.trash_path(&trash))?;
            let undo = Undo::Removed {
                id,
                path: rel.clone(),
                trash: trash.clone(),
            };
            s.record(undo, &[parent.0], Some(trash))?;
        } else if dir {
            std::fs::remove_dir(&real)?;
        } else {
            std::fs::remove_file(&real)?;
        }
        self.trace(format_args!("remove {}", rel.display()));
        if let Some(pattern) = &self.cut_after_remove
            && rel.to_string_lossy().contains(pattern.as_str())
            && self
                .removals_left
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
                <= 1
        {
            self.trace(format_args!("cut after removing {}", rel.display()));
            // The cut: the overlays (every write not fsynced) die with this process; the removal
            // is in the backing directory already, durable unless strict mode rolls it back.
            std::process::exit(i32::from(EXIT_CUT_AFTER_REMOVE));
        }
        if dir || meta.nlink() <= 1 {
            st.forget_backing(meta.ino());
        }
        Ok(())
    }

    fn do_rename(
        &self,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> io::Result<()> {
        if flags.contains(RenameFlags::RENAME_EXCHANGE)
            || flags.contains(RenameFlags::RENAME_WHITEOUT)
        {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let mut st = self.state();
        let from = Self::child_rel(&mut st, parent, name)?;
        let to = Self::child_rel(&mut st, newparent, newname)?;
        let (real_from, real_to) = (self.real(&from), self.real(&to));
        let src = std::fs::symlink_metadata(&real_from)?;
        let victim = std::fs::symlink_metadata(&real_to).ok();
        if victim.is_some() && flags.contains(RenameFlags::RENAME_NOREPLACE) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        match st.strict.as_mut() {
            Some(s) => {
                // What `to` named goes to the trash first, so that it can come back.
                let mut victim_trash = None;
                if let Some(v) = victim.as_ref().filter(|v| v.ino() != src.ino()) {
                    let errno = |n| Err(io::Error::from_raw_os_error(n));
                    match (src.is_dir(), v.is_dir()) {
                        (false, true) => return errno(libc::EISDIR),
                        (true, false) => return errno(libc::ENOTDIR),
                        (true, true) if std::fs::read_dir(&real_to)?.next().is_some() => {
                            return errno(libc::ENOTEMPTY);
                        }
                        _ => {}
                    }
                    let (_, t) = s.trash_name();
                    std::fs::rename(&real_to, s.trash_path(&t))?;
                    victim_trash = Some(t);
                }
                if let Err(e) = std::fs::rename(&real_from, &real_to) {
                    if let Some(t) = &victim_trash {
                        let _ = std::fs::rename(s.trash_path(t), &real_to);
                    }
                    return Err(e);
                }
                let (id, _) = s.trash_name();
                let undo = Undo::Renamed {
                    id,
                    from: from.clone(),
                    to: to.clone(),
                    victim: victim_trash.clone(),
                };
                s.record(undo, &[parent.0, newparent.0], victim_trash)?;
            }
            None => std::fs::rename(&real_from, &real_to)?,
        }
        self.trace(format_args!("rename {} {}", from.display(), to.display()));
        if let Some(v) = victim {
            if v.ino() != src.ino() && (v.is_dir() || v.nlink() <= 1) {
                st.forget_backing(v.ino());
            }
        }
        for n in st.nodes.values_mut() {
            if n.unlinked {
                continue;
            }
            if let Ok(rest) = n.path.strip_prefix(&from) {
                n.path = if rest.as_os_str().is_empty() {
                    to.clone()
                } else {
                    to.join(rest)
                };
            }
        }
        Ok(())
    }

    fn do_symlink(&self, parent: INodeNo, name: &OsStr, target: &Path) -> io::Result<FileAttr> {
        let mut st = self.state();
        let rel = Self::child_rel(&mut st, parent, name)?;
        std::os::unix::fs::symlink(target, self.real(&rel))?;
        self.note_created(&mut st, parent, &rel)?;
        self.entry_reply(&mut st, rel)
    }

    fn do_opendir(&self, ino: INodeNo) -> io::Result<u64> {
        let mut st = self.state();
        let n = st.node(ino)?;
        let rel = n.path.clone();
        let mut list = vec![
            DirEntry {
                ino: ino.0,
                kind: FileType::Directory,
                name: ".".into(),
            },
            DirEntry {
                ino: 1,
                kind: FileType::Directory,
                name: "..".into(),
            },
        ];
        for e in std::fs::read_dir(self.real(&rel))? {
            let e = e?;
            use std::os::unix::fs::DirEntryExt as _;
            let kind = e
                .file_type()
                .ok()
                .and_then(FileType::from_std)
                .unwrap_or(FileType::RegularFile);
            let name = e.file_name();
            let child = st.node_for(rel.join(&name), e.ino());
            list.push(DirEntry {
                ino: child,
                kind,
                name,
            });
        }
        st.next_fh += 1;
        let fh = st.next_fh;
        st.dirs.insert(fh, list);
        Ok(fh)
    }

    fn do_statfs(&self) -> io::Result<libc::statvfs> {
        let c = std::ffi::CString::new(self.root.as_os_str().as_bytes())
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: statvfs fills the zeroed struct we own; the path is a valid C string.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(s)
    }
}

fn reply_entry(reply: ReplyEntry, r: io::Result<FileAttr>) {
    match r {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(errno_of(e)),
    }
}

fn reply_empty(reply: ReplyEmpty, r: io::Result<()>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(errno_of(e)),
    }
}

impl Filesystem for LazyFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.state();
        let r =
            Self::child_rel(&mut st, parent, name).and_then(|rel| self.entry_reply(&mut st, rel));
        reply_entry(reply, r);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let mut st = self.state();
        match self.getattr_locked(&mut st, ino) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let a = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        };
        match self.do_setattr(ino, a) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let r = {
            let mut st = self.state();
            st.node(ino)
                .map(|n| self.real(&n.path))
                .and_then(std::fs::read_link)
        };
        match r {
            Ok(t) => reply.data(t.as_os_str().as_bytes()),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn mknod(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.do_mknod(parent, name, mode, umask, rdev));
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.do_mkdir(parent, name, mode, umask));
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.do_remove(parent, name, false));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(reply, self.do_remove(parent, name, true));
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        reply_entry(reply, self.do_symlink(parent, link_name, target));
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            reply,
            self.do_rename(parent, name, newparent, newname, flags),
        );
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // O_TRUNC arrives as a separate setattr (FUSE_ATOMIC_O_TRUNC is not negotiated).
        match self.do_open(ino) {
            Ok(()) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.do_read(ino, offset, size) {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.do_write(ino, offset, data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2) makes nothing durable.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.do_release(ino);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(reply, self.do_fsync(ino));
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.do_opendir(ino) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.state();
        let Some(list) = st.dirs.get(&fh.0) else {
            reply.error(Errno::EBADF);
            return;
        };
        for (i, e) in list.iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(e.ino), (i + 1) as u64, e.kind, &e.name) {
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.state().dirs.remove(&fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        // Without strict mode namespace changes went to the backing directory at once.
        let mut st = self.state();
        let r = match st.strict.as_mut() {
            Some(s) => s.dir_synced(ino.0),
            None => Ok(()),
        };
        reply_empty(reply, r);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.do_statfs() {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(errno_of(e)),
        }
    }

    fn access(&self, _req: &Request, _ino: INodeNo, _mask: fuser::AccessFlags, reply: ReplyEmpty) {
        reply.ok();
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self.do_create(parent, name, mode, umask, flags) {
            Ok(attr) => reply.created(
                &TTL,
                &attr,
                Generation(0),
                FileHandle(0),
                FopenFlags::empty(),
            ),
            Err(e) => reply.error(errno_of(e)),
        }
    }
}

// ------------------------------------------------------------------------------------------
// The daemon process and the test's handle on it
// ------------------------------------------------------------------------------------------

/// Exit code of the daemon when the kernel refuses the mount (no `/dev/fuse`, not root…).
pub const EXIT_MOUNT_REFUSED: u8 = 77;

/// The daemon's exit status when it cut itself after a removal (`LAZYFS_CUT_AFTER_REMOVE`).
pub const EXIT_CUT_AFTER_REMOVE: u8 = 78;

/// `main` of the `lazyfs` binary: `lazyfs [--strict] <backing-dir> <mountpoint>`. Mounts (in
/// strict mode after undoing what the previous daemon left not durable), prints
/// `READY undone=<n>` on stdout, and serves until unmounted or killed.
pub fn daemon_main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let strict = args.iter().any(|a| a == "--strict");
    let paths: Vec<&OsString> = args.iter().filter(|a| *a != "--strict").collect();
    let [backing, mountpoint] = paths.as_slice() else {
        eprintln!("usage: lazyfs [--strict] <backing-dir> <mountpoint>");
        return ExitCode::from(2);
    };
    let fs = match LazyFs::new(backing, strict) {
        Ok(fs) => fs,
        Err(e) => {
            eprintln!("lazyfs: {}: {e}", Path::new(backing).display());
            return ExitCode::from(2);
        }
    };
    let undone = fs.undone();
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName("lazyfs".into()),
        MountOption::Subtype("lazyfs".into()),
    ];
    let session = match fuser::Session::new(fs, Path::new(mountpoint), &config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "lazyfs: mount on {} refused: {e}",
                Path::new(mountpoint).display()
            );
            return ExitCode::from(EXIT_MOUNT_REFUSED);
        }
    };
    {
        let mut out = io::stdout().lock();
        if writeln!(out, "READY undone={undone}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return ExitCode::from(1);
        }
    }
    match session.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lazyfs: {e}");
            ExitCode::from(1)
        }
    }
}

/// Why [`LazyMount::mount`] failed.
#[derive(Debug)]
pub enum MountError {
    /// The environment does not allow a FUSE mount (no `/dev/fuse`, not root): skip the test.
    Unavailable(String),
    /// Anything else: a failure.
    Failed(String),
}

impl std::fmt::Display for MountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MountError::Unavailable(s) => write!(f, "FUSE unavailable: {s}"),
            MountError::Failed(s) => write!(f, "lazyfs mount failed: {s}"),
        }
    }
}

impl std::error::Error for MountError {}

/// A lazyfs mount run by a daemon process, for a test: [`LazyMount::cut`] is the power cut.
pub struct LazyMount {
    bin: PathBuf,
    backing: PathBuf,
    mountpoint: PathBuf,
    strict: bool,
    daemon: Option<Child>,
    undone: usize,
    cut_after_remove: Option<String>,
    cut_after_removals: u64,
}

impl LazyMount {
    /// Mounts `backing` on `mountpoint` (both existing directories) with the daemon binary `bin`.
    /// `strict`: creates, removals and renames are durable only after an fsync of their directory
    /// (the daemon keeps an undo log in `<backing>.lazyfs/`).
    pub fn mount(
        bin: impl Into<PathBuf>,
        backing: impl Into<PathBuf>,
        mountpoint: impl Into<PathBuf>,
        strict: bool,
    ) -> Result<LazyMount, MountError> {
        if !Path::new("/dev/fuse").exists() {
            return Err(MountError::Unavailable("/dev/fuse is missing".into()));
        }
        let mut m = LazyMount {
            bin: bin.into(),
            backing: backing.into(),
            mountpoint: mountpoint.into(),
            strict,
            daemon: None,
            undone: 0,
            cut_after_remove: None,
            cut_after_removals: 1,
        };
        m.start()?;
        Ok(m)
    }

    /// The mounted directory.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// The backing directory.
    pub fn backing(&self) -> &Path {
        &self.backing
    }

    /// Strict mode: namespace operations the last (re)mount undid because they had not been made
    /// durable before the cut.
    pub fn undone(&self) -> usize {
        self.undone
    }

    /// From the next [`LazyMount::remount`] on: the daemon cuts the power itself right after
    /// it removes a path containing `pattern` (`None`: never). Without strict mode the removal
    /// stays, as when a filesystem commits its metadata journal on its own; see
    /// [`LazyMount::daemon_cut_itself`].
    pub fn cut_after_removal(&mut self, pattern: Option<&str>, nth: u64) {
        self.cut_after_remove = pattern.map(str::to_owned);
        self.cut_after_removals = nth.max(1);
    }

    /// Whether the daemon has cut itself (`cut_after_removal`). The mount is dead then; call
    /// [`LazyMount::cut`] to kill its users and detach it.
    pub fn daemon_cut_itself(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(|d| {
            matches!(d.try_wait(), Ok(Some(status))
                if status.code() == Some(i32::from(EXIT_CUT_AFTER_REMOVE)))
        })
    }

    fn start(&mut self) -> Result<(), MountError> {
        let mut cmd = Command::new(&self.bin);
        if self.strict {
            cmd.arg("--strict");
        }
        match &self.cut_after_remove {
            Some(pattern) => cmd.env("LAZYFS_CUT_AFTER_REMOVE", pattern),
            None => cmd.env_remove("LAZYFS_CUT_AFTER_REMOVE"),
        };
        cmd.env(
            "LAZYFS_CUT_AFTER_REMOVALS",
            self.cut_after_removals.to_string(),
        );
        let mut child = cmd
            .arg(&self.backing)
            .arg(&self.mountpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| MountError::Failed(format!("spawning {}: {e}", self.bin.display())))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.starts_with("READY") => {
                self.undone = line
                    .trim()
                    .strip_prefix("READY undone=")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                self.daemon = Some(child);
                Ok(())
            }
            other => {
                let _ = child.kill();
                let status = child.wait().ok();
                let code = status.and_then(|s| s.code());
                let why = format!("daemon said {other:?}, exit status {status:?}");
                if code == Some(i32::from(EXIT_MOUNT_REFUSED)) {
                    Err(MountError::Unavailable(why))
                } else {
                    Err(MountError::Failed(why))
                }
            }
        }
    }

    /// The power cut: SIGKILL the daemon (every write not yet fsynced is lost with it), then the
    /// given processes that were using the mount, reap them all, and detach the dead mount
    /// (`umount -l`). The mountpoint is then an empty directory until [`LazyMount::remount`].
    pub fn cut(&mut self, users: &mut [&mut Child]) {
        self.cut_with(|| {
            for u in users.iter_mut() {
                let _ = u.kill();
            }
            for u in users.iter_mut() {
                let _ = u.wait();
            }
        });
    }

    /// [`LazyMount::cut`] with a closure that kills (and reaps) the processes using the mount,
    /// called after the daemon is dead and before the mount is detached.
    pub fn cut_with(&mut self, kill_users: impl FnOnce()) {
        if let Some(mut d) = self.daemon.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
        kill_users();
        self.detach();
    }

    fn detach(&self) {
        let Ok(c) = std::ffi::CString::new(self.mountpoint.as_os_str().as_bytes()) else {
            return;
        };
        // SAFETY: umount2 with a valid C string; failure (not mounted) is ignored.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }

    /// Mounts a new daemon on the same backing directory after a [`LazyMount::cut`].
    pub fn remount(&mut self) -> Result<(), MountError> {
        if self.daemon.is_some() {
            self.cut(&mut []);
        }
        self.start()
    }
}

impl Drop for LazyMount {
    fn drop(&mut self) {
        self.cut(&mut []);
    }
}

// ------------------------------------------------------------------------------------------
// The journal workload run on the mount (the `journal-writer` binary and the power-cut campaign)
// ------------------------------------------------------------------------------------------

/// What the `journal-writer` binary appends and the power-cut campaign checks.
pub mod workload {
    /// Journal options of the writer and the checker: a small live budget, so snapshots and
    /// compaction happen within a short run.
    pub fn options(skip_fdatasync: bool) -> journal::Options {
        journal::Options {
            max_live_bytes: 128 << 10,
            history_records: 64,
            unsafe_skip_fdatasync: skip_fdatasync,
            ..journal::Options::with_boot_id("power-cut")
        }
    }

    /// Padding of a large record: above the journal's own "large value" threshold (8 KiB with
    /// the default 64 KiB segments). sled writes a log message above a quarter segment (~16 KiB)
    /// to a separate blob file; that happens when a tree node holding two such records is
    /// rewritten, in whatever later commit triggers it.
    pub const BLOB_PAD: usize = 9000;

    /// The `command_key` of record `k` of the batch named `base`. One batch in 32 starts with a
    /// large record (one in `n` with `POWER_CUT_LARGE_EVERY=<n>`; every record with `1`; none
    /// with `POWER_CUT_NO_BLOBS` set).
    pub fn record_key(base: &str, k: u64) -> String {
        let h = base.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let every = std::env::var("POWER_CUT_LARGE_EVERY")
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(32);
        if (k == 0 || every == 1)
            && h % every == 0
            && std::env::var_os("POWER_CUT_NO_BLOBS").is_none()
        {
            format!("{base}.{k}:{}", "b".repeat(BLOB_PAD))
        } else {
            format!("{base}.{k}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overlay against a plain byte vector: random writes and truncations, reads after each
    /// step, and applying it to a real file at random points.
    #[test]
    fn overlay_matches_model() {
        let dir = tempfile::tempdir().unwrap();
        for seed in 1..40u64 {
            let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let mut next = |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let path = dir.path().join(format!("f{seed}"));
            let initial: Vec<u8> = (0..next(300)).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &initial).unwrap();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            let mut model = initial.clone();
            let mut o = Overlay::new(initial.len() as u64);
            for step in 0..200u64 {
                match next(10) {
                    0 => {
                        let len = next(400) as usize;
                        model.resize(len, 0);
                        o.set_len(len as u64);
                    }
                    1 => {
                        o.apply(&file).unwrap();
                        assert_eq!(
                            std::fs::read(&path).unwrap(),
                            model,
                            "seed {seed} step {step}"
                        );
                        assert!(!o.is_dirty());
                    }
                    _ => {
                        let off = next(350) as usize;
                        let len = 1 + next(60) as usize;
                        let data: Vec<u8> = (0..len).map(|_| next(256) as u8).collect();
                        if model.len() < off + len {
                            model.resize(off + len, 0);
                        }
                        model[off..off + len].copy_from_slice(&data);
                        o.write(off as u64, &data);
                    }
                }
                assert_eq!(o.logical_len(), model.len() as u64);
                let off = next(420);
                let size = next(200) as u32;
                let got = o
                    .read(off, size, |buf, at| {
                        read_at_most(&file, buf, at).map(|_| ())
                    })
                    .unwrap();
                let lo = (off as usize).min(model.len());
                let hi = (off as usize + size as usize).min(model.len());
                assert_eq!(
                    got,
                    &model[lo..hi],
                    "seed {seed} step {step} read {off}+{size}"
                );
                // Ranges never overlap or touch.
                let mut prev_end = None;
                for (s, v) in &o.ranges {
                    if let Some(e) = prev_end {
                        assert!(*s > e, "seed {seed} step {step}: ranges touch");
                    }
                    prev_end = Some(s + v.len() as u64);
                }
            }
            o.apply(&file).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), model, "seed {seed} final");
        }
    }

    #[test]
    fn appending_writes_stay_one_range() {
        let mut o = Overlay::new(0);
        for i in 0..1000u64 {
            o.write(i * 100, &[7u8; 100]);
        }
        assert_eq!(o.ranges(), 1);
        assert_eq!(o.pending_bytes(), 100_000);
    }
}
