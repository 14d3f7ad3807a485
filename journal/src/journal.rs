//! The journal handle, the committer thread (group commit) and the readers.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use crate::blobs::BlobSyncer;
use crate::error::{Error, Result, io_err};
use crate::frame;
use crate::hwm::HighWaterMark;
use crate::schema::{Frame, Schema};

/// How the journal is configured. `Options::default()` is what the agent runs with.
#[derive(Debug, Clone)]
pub struct Options {
    /// Boot id stamped on every frame (at most 255 bytes). Defaults to the kernel's
    /// `/proc/sys/kernel/random/boot_id`; tests override it.
    pub boot_id: String,
    /// Live data bound in bytes (keys + frames of retained records). When an append leaves more
    /// than this, `AppendAck::needs_snapshot` is set. Default 1 MiB.
    pub max_live_bytes: u64,
    /// How many records before a snapshot are kept for post-mortem when compacting (default 200).
    /// Never more than half of `max_live_bytes` worth, so that compaction always gets under the
    /// bound.
    pub history_records: u64,
    /// sled's page cache, in bytes (default 256 KiB: a router has little RAM).
    pub cache_capacity: u64,
    /// sled's segment size, a power of two (default 64 KiB; sled's default is 512 KiB). Values
    /// larger than about a quarter of it are stored by sled as separate blob files.
    pub segment_size: usize,
    /// DANGEROUS: skip the `fdatasync` of sled's data file after each commit. Appends then
    /// survive a process crash but not a power cut. Exists only for the chaos tests' control
    /// experiment, which must show that losses happen without it.
    pub unsafe_skip_fdatasync: bool,
    /// Write the high-water mark on every commit but do not fdatasync it (saves one fdatasync per
    /// group commit). Silent rollbacks of sled are then still detected after a process crash and
    /// for anything older than the kernel's write-back interval, but not for the last seconds
    /// before a power cut. Default `false`.
    pub lazy_high_water_mark: bool,
}

impl Default for Options {
    fn default() -> Self {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Options {
            boot_id,
            max_live_bytes: 1 << 20,
            history_records: 200,
            cache_capacity: 256 << 10,
            segment_size: 64 << 10,
            unsafe_skip_fdatasync: false,
            lazy_high_water_mark: false,
        }
    }
}

impl Options {
    /// Default options with the given boot id.
    pub fn with_boot_id(boot_id: impl Into<String>) -> Self {
        Options {
            boot_id: boot_id.into(),
            ..Options::default()
        }
    }

    pub(crate) fn sled_config(&self, dir: &Path) -> sled::Config {
        sled::Config::new()
            .path(dir)
            .cache_capacity(self.cache_capacity)
            .segment_size(self.segment_size)
            .use_compression(false)
            .mode(sled::Mode::LowSpace)
            // The journal flushes on every commit itself; sled's timer would only add writes.
            .flush_every_ms(None)
    }
}

/// What a successful append tells the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendAck {
    /// Sequence number of the first record of the batch.
    pub first_seq: u64,
    /// Sequence number of the last record of the batch.
    pub last_seq: u64,
    /// Live bytes after the commit.
    pub live_bytes: u64,
    /// The live data exceeds `Options::max_live_bytes`: the caller should hand in a snapshot.
    pub needs_snapshot: bool,
}

/// One frame as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFrame {
    /// Sequence number (the sled key).
    pub seq: u64,
    /// Wall-clock commit time, unix milliseconds.
    pub time_ms: u64,
    /// Boot id of the writer.
    pub boot_id: String,
    /// The frame's type tag, as appended.
    pub tag: u16,
    /// The payload exactly as appended.
    pub payload: Vec<u8>,
}

impl StoredFrame {
    pub(crate) fn decode(seq: u64, value: &[u8]) -> Result<Self> {
        let f = frame::decode(seq, value).map_err(|source| Error::Frame { seq, source })?;
        Ok(StoredFrame {
            seq,
            time_ms: f.time_ms,
            boot_id: f.boot_id.to_owned(),
            tag: f.tag,
            payload: f.payload.to_vec(),
        })
    }
}

enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<AppendAck>>),
    Blocking(mpsc::SyncSender<Result<AppendAck>>),
}

impl Reply {
    fn send(self, r: Result<AppendAck>) {
        // A caller that gave up waiting is not an error of the journal.
        match self {
            Reply::Async(tx) => drop(tx.send(r)),
            Reply::Blocking(tx) => drop(tx.send(r)),
        }
    }
}

struct Request {
    frames: Vec<Frame>,
    /// Set for a snapshot: the sequence number the caller's state was folded up to.
    snapshot_base: Option<u64>,
    reply: Reply,
}

pub(crate) struct Shared {
    pub(crate) db: sled::Db,
    pub(crate) dir: PathBuf,
    pub(crate) options: Options,
    pub(crate) schema: Arc<dyn Schema>,
    pub(crate) first_seq: AtomicU64,
    pub(crate) last_seq: AtomicU64,
    pub(crate) live_bytes: AtomicU64,
    pub(crate) latest_snapshot: AtomicU64,
    poisoned: Mutex<Option<String>>,
}

/// State found by the open-time scan, handed to `Journal::start`.
pub(crate) struct Started {
    pub(crate) first_seq: u64,
    pub(crate) last_seq: u64,
    pub(crate) live_bytes: u64,
    pub(crate) latest_snapshot: u64,
}

/// A durable, append-only, replayable journal of typed frames. See the crate docs.
pub struct Journal {
    shared: Arc<Shared>,
    tx: Option<mpsc::Sender<Request>>,
    committer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.shared.dir)
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

impl Journal {
    pub(crate) fn start(
        db: sled::Db,
        dir: PathBuf,
        options: Options,
        schema: Arc<dyn Schema>,
        hwm: HighWaterMark,
        st: Started,
    ) -> Result<Journal> {
        let db_path = dir.join("db");
        // Any descriptor of the file works for fdatasync; sled's own is private, so keep ours.
        let db_file = File::open(&db_path).map_err(io_err(&db_path))?;
        let mut blobs = BlobSyncer::new(&dir);
        if !options.unsafe_skip_fdatasync {
            // Blobs left by a previous run may never have been synced (crash before the ack).
            blobs.sync_new()?;
            blobs.prune_kept()?;
        }
        let shared = Arc::new(Shared {
            db,
            dir,
            options,
            schema,
            first_seq: AtomicU64::new(st.first_seq),
            last_seq: AtomicU64::new(st.last_seq),
            live_bytes: AtomicU64::new(st.live_bytes),
            latest_snapshot: AtomicU64::new(st.latest_snapshot),
            poisoned: Mutex::new(None),
        });
        let (tx, rx) = mpsc::channel();
        let committer = Committer {
            shared: shared.clone(),
            db_file,
            hwm,
            blobs,
            rx,
        };
        let handle = std::thread::Builder::new()
            .name("journal-commit".into())
            .spawn(move || committer.run())
            .map_err(io_err("journal-commit thread"))?;
        Ok(Journal {
            shared,
            tx: Some(tx),
            committer: Some(handle),
        })
    }

    /// Appends a batch atomically and returns once it is durable. Concurrent callers share one
    /// sled flush and one fdatasync (group commit). Every frame must pass the schema's
    /// [`Schema::check`] ([`Error::InvalidPayload`] otherwise, and nothing is appended).
    ///
    /// Cancellation: once the batch is queued, dropping the future does not withdraw it; it may
    /// still be committed. Await the acknowledgement before any side effect it guards.
    pub async fn append(&self, batch: Vec<Frame>) -> Result<AppendAck> {
        self.check_all(&batch)?;
        self.submit_async(batch, None).await
    }

    /// Blocking `append`, for callers without a runtime (the CLI). Safe to call from any thread,
    /// but it blocks the thread until the commit is durable.
    pub fn append_blocking(&self, batch: Vec<Frame>) -> Result<AppendAck> {
        self.check_all(&batch)?;
        self.submit_blocking(batch, None)
    }

    /// Appends a snapshot of the caller's folded state (a frame with the schema's snapshot tag)
    /// and compacts: records before it are removed except the most recent
    /// `Options::history_records` (bounded to half the live budget). `folded_up_to` is the last
    /// sequence number the state includes; if anything was appended after it, the snapshot is
    /// refused with `Error::SnapshotStale` and nothing changes.
    pub async fn append_snapshot(&self, snapshot: Frame, folded_up_to: u64) -> Result<AppendAck> {
        self.check_snapshot(&snapshot)?;
        self.submit_async(vec![snapshot], Some(folded_up_to)).await
    }

    /// Blocking `append_snapshot`.
    pub fn append_snapshot_blocking(
        &self,
        snapshot: Frame,
        folded_up_to: u64,
    ) -> Result<AppendAck> {
        self.check_snapshot(&snapshot)?;
        self.submit_blocking(vec![snapshot], Some(folded_up_to))
    }

    fn check_all(&self, batch: &[Frame]) -> Result<()> {
        for f in batch {
            self.shared
                .schema
                .check(f.tag, &f.payload)
                .map_err(|e| Error::InvalidPayload(format!("frame with tag {}: {e}", f.tag)))?;
        }
        Ok(())
    }

    fn check_snapshot(&self, snapshot: &Frame) -> Result<()> {
        let want = self.shared.schema.snapshot_tag();
        if snapshot.tag != want {
            return Err(Error::InvalidPayload(format!(
                "a snapshot must have tag {want}, not {}",
                snapshot.tag
            )));
        }
        self.check_all(std::slice::from_ref(snapshot))
    }

    async fn submit_async(
        &self,
        frames: Vec<Frame>,
        snapshot_base: Option<u64>,
    ) -> Result<AppendAck> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Request {
            frames,
            snapshot_base,
            reply: Reply::Async(tx),
        })?;
        rx.await.map_err(|_| Error::Closed)?
    }

    fn submit_blocking(&self, frames: Vec<Frame>, snapshot_base: Option<u64>) -> Result<AppendAck> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Request {
            frames,
            snapshot_base,
            reply: Reply::Blocking(tx),
        })?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    fn send(&self, req: Request) -> Result<()> {
        let tx = self.tx.as_ref().ok_or(Error::Closed)?;
        tx.send(req).map_err(|_| Error::Closed)
    }

    /// Iterates the frames from `seq` on (inclusive), in order. Every item's framing and CRC is
    /// checked; a damaged frame is yielded as an error. Payloads are the caller's to decode.
    pub fn iter_from(&self, seq: u64) -> Iter {
        Iter {
            inner: self.shared.db.range(frame::key(seq)..),
        }
    }

    /// The frame stored under `seq`, if any.
    pub fn get(&self, seq: u64) -> Result<Option<StoredFrame>> {
        match self.shared.db.get(frame::key(seq))? {
            Some(v) => Ok(Some(StoredFrame::decode(seq, &v)?)),
            None => Ok(None),
        }
    }

    /// Sequence number of the last record (0 when the journal is empty).
    pub fn last_seq(&self) -> u64 {
        self.shared.last_seq.load(Ordering::Acquire)
    }

    /// Sequence number of the first retained record (0 when the journal is empty).
    pub fn first_seq(&self) -> u64 {
        self.shared.first_seq.load(Ordering::Acquire)
    }

    /// The latest snapshot frame, if any. Fold from it, then `iter_from(seq + 1)`.
    pub fn latest_snapshot(&self) -> Result<Option<StoredFrame>> {
        match self.shared.latest_snapshot.load(Ordering::Acquire) {
            0 => Ok(None),
            seq => self.get(seq),
        }
    }

    /// Bytes of live data: keys and frames of every retained record.
    pub fn live_bytes(&self) -> u64 {
        self.shared.live_bytes.load(Ordering::Acquire)
    }

    /// Bytes the store occupies on disk (all files under the directory), which is larger than the
    /// live data: sled keeps segments, a page table snapshot and free space.
    pub fn disk_bytes(&self) -> Result<u64> {
        dir_size(&self.shared.dir)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Re-checks the whole store: every frame's CRC, the schema's [`Schema::check`] of its
    /// payload, and sequence contiguity from the first retained record (a gap is allowed only
    /// where a recovery note accounts for it exactly, see [`Schema::recovery_range`]). Returns
    /// the number of records checked.
    pub fn verify(&self) -> Result<u64> {
        let scan = crate::open::scan_tree(&self.shared.db, self.shared.schema.as_ref());
        if let Some(e) = scan.iter_error {
            return Err(Error::Verify {
                seq: scan.last_good,
                reason: e,
            });
        }
        if let Some((seq, reason)) = scan.problems.into_iter().next() {
            return Err(Error::Verify { seq, reason });
        }
        Ok(scan.records)
    }

    /// Stops the committer and closes sled, waiting for both, and leaves the clean-close mark
    /// when every commit went well (see the crate docs on recovery). Dropping the journal does
    /// the same.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.tx = None;
        if let Some(h) = self.committer.take() {
            if h.join().is_err() {
                tracing::error!("journal committer thread panicked");
            } else {
                self.mark_clean_close();
            }
        }
    }

    /// Leaves the mark that lets the next open skip the store check in a child (open.rs,
    /// `take_clean_close`): only when every commit went well and sled has flushed. A mark that
    /// is wrong anyway — a power cut while sled's files are still being written after it —
    /// costs at most one abort at the next start, which takes the mark before sled runs.
    fn mark_clean_close(&self) {
        let poisoned = self.shared.poisoned.lock().map_or(true, |p| p.is_some());
        if poisoned || self.shared.db.flush().is_err() {
            return;
        }
        let mark = self.shared.dir.join(crate::open::CLEAN_CLOSE);
        if File::create(&mark).and_then(|f| f.sync_all()).is_ok() {
            let _ = crate::sync_dir(&self.shared.dir);
        }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Iterator returned by `Journal::iter_from`.
pub struct Iter {
    inner: sled::Iter,
}

impl Iterator for Iter {
    type Item = Result<StoredFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        Some(item.map_err(Error::from).and_then(|(k, v)| {
            let seq = frame::seq_of(&k).map_err(|source| Error::Frame { seq: 0, source })?;
            StoredFrame::decode(seq, &v)
        }))
    }
}

pub(crate) fn dir_size(dir: &Path) -> Result<u64> {
    let mut seen = std::collections::HashSet::new();
    dir_size_counting_once(dir, &mut seen)
}

/// A file with several names (a blob and its second name, blobs.rs) is counted once.
fn dir_size_counting_once(
    dir: &Path,
    seen: &mut std::collections::HashSet<(u64, u64)>,
) -> Result<u64> {
    use std::os::unix::fs::MetadataExt as _;
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let meta = entry.metadata().map_err(io_err(entry.path()))?;
        if meta.is_dir() {
            total += dir_size_counting_once(&entry.path(), seen)?;
        } else if meta.nlink() < 2 || seen.insert((meta.dev(), meta.ino())) {
            total += meta.len();
        }
    }
    Ok(total)
}

struct Committer {
    shared: Arc<Shared>,
    db_file: File,
    hwm: HighWaterMark,
    blobs: BlobSyncer,
    rx: mpsc::Receiver<Request>,
}

/// Writes zeros to `path` over `[from, to)` a page at a time: a write of one page gets a page of
/// cache, so sled's next small write there dirties (and `write_bytes` counts) 4 KiB, not a large
/// folio. (Writing around the page cache with `O_DIRECT` made sled lose its store after power cuts
/// on the FUSE test filesystem far more often: chaos-tests/tests/power_cut.rs.)
fn zero_fill(path: &Path, from: u64, to: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    const PAGE: u64 = 4096;
    let zeros = [0u8; PAGE as usize];
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    let mut at = from;
    while at < to {
        let n = (PAGE - at % PAGE).min(to - at);
        file.write_all_at(&zeros[..n as usize], at)?;
        at += n;
    }
    Ok(())
}

/// What one commit writes to sled.
#[derive(Default)]
struct Writes {
    inserts: Vec<([u8; 8], Vec<u8>)>,
    removals: Vec<[u8; 8]>,
}

/// Upper bound of requests merged into one commit, so one sled batch stays reasonably small.
const MAX_GROUP: usize = 1024;

impl Committer {
    fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match self.rx.try_recv() {
                    Ok(r) => group.push(r),
                    Err(_) => break,
                }
            }
            self.commit(group);
        }
    }

    fn poisoned(&self) -> Option<String> {
        match self.shared.poisoned.lock() {
            Ok(p) => p.clone(),
            Err(_) => Some("poison lock".into()),
        }
    }

    fn poison(&self, why: &Error) {
        tracing::error!(error = %why, "journal commit failed; refusing further appends");
        if let Ok(mut p) = self.shared.poisoned.lock() {
            *p = Some(why.to_string());
        }
    }

    fn commit(&mut self, group: Vec<Request>) {
        if let Some(p) = self.poisoned() {
            for r in group {
                r.reply.send(Err(Error::Poisoned(p.clone())));
            }
            return;
        }
        let sh = self.shared.clone();
        let opts = &sh.options;
        let time_ms = crate::now_ms();
        let mut writes = Writes::default();
        let mut next = sh.last_seq.load(Ordering::Acquire) + 1;
        let mut first_seq = sh.first_seq.load(Ordering::Acquire);
        let mut live = sh.live_bytes.load(Ordering::Acquire);
        let mut latest_snapshot = sh.latest_snapshot.load(Ordering::Acquire);
        let snapshot_tag = sh.schema.snapshot_tag();
        let mut accepted: Vec<(Reply, u64, u64)> = Vec::with_capacity(group.len());
        for req in group {
            if let Some(base) = req.snapshot_base {
                if base != next - 1 {
                    req.reply.send(Err(Error::SnapshotStale {
                        based_on: base,
                        last_seq: next - 1,
                    }));
                    continue;
                }
            }
            let start = next;
            for f in &req.frames {
                let value = frame::encode(next, f.tag, time_ms, &opts.boot_id, &f.payload);
                live += 8 + value.len() as u64;
                if f.tag == snapshot_tag {
                    latest_snapshot = next;
                }
                writes.inserts.push((frame::key(next), value));
                next += 1;
            }
            if first_seq == 0 && next > start {
                first_seq = start;
            }
            if req.snapshot_base.is_some() {
                // The removals go into the same sled batch as the snapshot: either the snapshot
                // is there and the old records are gone, or nothing happened.
                match self.compaction(next - 1) {
                    Ok((removed, removed_bytes, new_first)) => {
                        writes.removals.extend(removed.into_iter().map(frame::key));
                        live -= removed_bytes;
                        first_seq = new_first;
                    }
                    Err(e) => {
                        self.poison(&e);
                        req.reply.send(Err(e));
                        for (reply, _, _) in accepted {
                            reply.send(Err(Error::Poisoned("compaction read failed".into())));
                        }
                        return;
                    }
                }
            }
            accepted.push((req.reply, start, next - 1));
        }
        if accepted.is_empty() {
            return;
        }
        let last = next - 1;
        match self.write(writes, last) {
            Ok(()) => {
                sh.first_seq.store(first_seq, Ordering::Release);
                sh.live_bytes.store(live, Ordering::Release);
                sh.latest_snapshot.store(latest_snapshot, Ordering::Release);
                sh.last_seq.store(last, Ordering::Release);
                let needs_snapshot = live > opts.max_live_bytes;
                for (reply, first, last) in accepted {
                    reply.send(Ok(AppendAck {
                        first_seq: first,
                        last_seq: last,
                        live_bytes: live,
                        needs_snapshot,
                    }));
                }
            }
            Err(e) => {
                self.poison(&e);
                let msg = e.to_string();
                for (reply, _, _) in accepted {
                    reply.send(Err(Error::Poisoned(msg.clone())));
                }
                return;
            }
        }
        if !opts.unsafe_skip_fdatasync {
            self.extend_segment();
        }
    }

    /// Fills sled's data file with zeros up to the end of the segment it is writing in.
    ///
    /// sled appends its log to `db` in small writes; each one that grows the file changes its size,
    /// so the fdatasync after it must commit the inode too (on ext4 a jbd2 transaction: ~12 KiB
    /// more per commit, measured, see BENCHMARKS.md "Footprint"). With the segment's rest already
    /// written, sled's writes are overwrites and an fdatasync sends only the data. Zeros are what
    /// sled itself writes into the free part of a segment (its `Corrupted` marker, where its log
    /// replay stops), and the length stays inside the segment sled counted, so sled reads the file
    /// as before. Not needed for durability: a failure is logged and otherwise ignored, and the
    /// zeros are made durable by the next commit's fdatasync.
    ///
    fn extend_segment(&mut self) {
        let segment = self.shared.options.segment_size as u64;
        let len = match self.db_file.metadata() {
            Ok(m) => m.len(),
            Err(e) => return tracing::debug!("journal: cannot stat sled's data file: {e}"),
        };
        if segment == 0 || len % segment == 0 {
            return;
        }
        let end = len.div_ceil(segment) * segment;
        let path = self.shared.dir.join("db");
        if let Err(e) = zero_fill(&path, len, end) {
            tracing::warn!(path = %path.display(), "journal: could not extend sled's data file: {e}");
        }
    }

    /// Which records before the snapshot at `snap_seq` to remove: all but the most recent
    /// `history_records`, keeping at most half the live budget of them.
    fn compaction(&self, snap_seq: u64) -> Result<(Vec<u64>, u64, u64)> {
        let opts = &self.shared.options;
        let budget = opts.max_live_bytes / 2;
        let mut kept = 0u64;
        let mut kept_bytes = 0u64;
        let mut new_first = snap_seq;
        let mut removed = Vec::new();
        let mut removed_bytes = 0;
        // Read forward, decided newest first. Never a reverse sled iterator: sled 0.34.7's
        // `Iter::next_back` carries a 1 MiB constant key of 0xFF bytes (`high_key` in its
        // iter.rs), which is 1 MiB of the router's flash whenever it is linked (BENCHMARKS.md
        // "Footprint").
        let mut before = Vec::new();
        for item in self.shared.db.range(..frame::key(snap_seq)) {
            let (k, v) = item?;
            let seq = frame::seq_of(&k).map_err(|source| Error::Frame { seq: 0, source })?;
            before.push((seq, (k.len() + v.len()) as u64));
        }
        for (seq, size) in before.into_iter().rev() {
            if removed.is_empty() && kept < opts.history_records && kept_bytes + size <= budget {
                kept += 1;
                kept_bytes += size;
                new_first = seq;
            } else {
                removed.push(seq);
                removed_bytes += size;
            }
        }
        Ok((removed, removed_bytes, new_first))
    }

    fn write(&mut self, writes: Writes, last: u64) -> Result<()> {
        let opts = &self.shared.options;
        let Writes {
            mut inserts,
            removals,
        } = writes;
        if inserts.len() == 1
            && removals.is_empty()
            && let Some((key, value)) = inserts.pop()
        {
            // One record is atomic by itself. sled writes a batch's manifest in a log write of
            // its own before the records (one more block per commit, measured), so a lone record
            // is inserted directly.
            self.shared.db.insert(key, value)?;
        } else {
            let mut batch = sled::Batch::default();
            for (key, value) in inserts {
                batch.insert(&key, value);
            }
            for key in removals {
                batch.remove(&key);
            }
            self.shared.db.apply_batch(batch)?;
        }
        self.shared.db.flush()?;
        if !opts.unsafe_skip_fdatasync {
            // Measured on sled 0.34.7 / Linux: `Db::flush` only calls sync_file_range(2), which
            // starts and waits for write-back but neither commits file metadata nor flushes the
            // device's volatile cache. That survives a process crash, not a power cut, so the
            // journal fdatasyncs the data file itself before it acknowledges anything.
            //
            // Blobs at every commit, not only those holding large values: sled writes ANY log
            // message over ~16 KiB as a blob file, rewritten tree nodes included, so a batch of
            // small records can be acknowledged by a `db` that points into an unsynced blob.
            // Found by the power-cut campaign (chaos-tests/tests/power_cut.rs): acknowledged
            // records lost in half of the 20-cut runs before this, none in 800 cuts after.
            self.blobs
                .sync_commit(&self.db_file, &self.shared.dir.join("db"))?;
        }
        // The mark is written only after the data is durable, so it never claims more than what
        // is on disk.
        self.hwm.store(last, !opts.lazy_high_water_mark)?;
        Ok(())
    }
}
