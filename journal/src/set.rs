//! Many logical journals in one sled database, written by one committer thread: the store of
//! fleet mode (`tr069-client fleet`), where thousands of simulated devices each keep a journal
//! of their own and every one of them goes through the real durability path.
//!
//! A [`JournalSet`] is opened once; each device's journal is a [`SetMember`] of it, opened by
//! a `u32` member id. A member behaves like a [`crate::Journal`] — typed frames appended
//! atomically, durable when acknowledged, read back in order, snapshots and compaction under a
//! live-bytes bound, verified and repaired on open — but every member shares the set's sled
//! database, its committer thread and its fdatasyncs. The single-device [`crate::Journal`] and
//! its on-disk format are untouched by this module.
//!
//! # Layout
//!
//! One sled `Db` in the set's directory, default tree only:
//!
//! | key                                         | value                                   |
//! |---------------------------------------------|-----------------------------------------|
//! | `b'J'` ‖ member id (u32 BE) ‖ seq (u64 BE)  | a frame, byte-for-byte the single-device frame (see the crate docs; its CRC covers the 8-byte sequence key, so a member's frame can be copied into a single-device store unchanged) |
//! | `b'S'` ‖ member id (u32 BE)                 | the member's sidecar (see [`SetMember::put_sidecar`]) |
//! | `b"Mcommit"`                                | the number of the last group commit (u64 BE) |
//!
//! Why key prefixes and not a sled tree per member: sled 0.34 keeps the name → root table of
//! every tree in one meta page, rewritten on tree creations and root splits, so a tree costs more
//! the more trees there are. Measured (`examples/trees_vs_prefixes.rs`, 30 records per member):
//! 2,000 members take about as long either way, 10,000 take 15.1 s and 447 MB as trees against
//! 3.5 s and 129 MB as prefixes.
//!
//! # Durability and group commit
//!
//! Exactly as the single journal's (crate docs): one committer thread takes every queued request
//! of every member, writes them in one sled `Batch` (atomic), flushes, fdatasyncs sled's data
//! file once, fsyncs new blob files, writes the set's high-water mark and only then acknowledges.
//! A group commit of 500 members' appends costs one flush and one fdatasync. After a failed write
//! or sync the whole set refuses appends ([`Error::Poisoned`]).
//!
//! # A member's power cut
//!
//! Dropping a [`SetMember`] (or [`SetMember::cut`]) is a power cut of that device: the appends it
//! queued that no group commit has taken yet are refused and never written; those a commit
//! already took become durable (acknowledged by the group commit, whether or not the device saw
//! the acknowledgement) — what a real device keeps after a power cut. Opening the member again
//! first waits for the commit under way, so a reopened member never sees a record of its previous
//! life appear behind its back.
//!
//! # Loss detection and repair
//!
//! The set's high-water mark (`journal.hwm`, the single journal's two-slot file and lock) holds
//! the number of the last acknowledged group commit; every commit also writes its number into the
//! database. A database whose commit number is below the mark came back from sled's silent
//! rollback: the commits in between are lost, and since the lost commits named their members
//! only inside the lost data, every member gets the schema's recovery note saying so (the
//! [`SetOpenReport::rolled_back`] field reports it). A member whose own records are damaged is
//! repaired when it is opened: its damaged records are copied into a sled tree named
//! `damaged-<id>-<unix seconds>`, the intact run from its latest intact snapshot is kept, and a
//! recovery note names the lost range ([`OpenOutcome::Recovered`]), as the single journal does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::ops::RangeInclusive;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;

use crate::blobs::BlobSyncer;
use crate::error::{Error, Result, io_err};
use crate::frame;
use crate::hwm::{HighWaterMark, Mark};
use crate::journal::{AppendAck, StoredFrame, dir_size};
use crate::open::{OpenOutcome, OpenReport};
use crate::schema::{Frame, RecoveryInfo, Schema};

const RECORD: u8 = b'J';
const SIDECAR: u8 = b'S';
const META_COMMIT: &[u8] = b"Mcommit";
/// Upper bound of requests merged into one commit.
const MAX_GROUP: usize = 4096;
/// The boot id stamped on notes the set writes itself (not on behalf of a device).
const SET_BOOT_ID: &str = "journal-set";

fn record_key(id: u32, seq: u64) -> [u8; 13] {
    let mut k = [0u8; 13];
    k[0] = RECORD;
    k[1..5].copy_from_slice(&id.to_be_bytes());
    k[5..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn member_range(id: u32, from_seq: u64) -> RangeInclusive<[u8; 13]> {
    record_key(id, from_seq)..=record_key(id, u64::MAX)
}

fn split_key(k: &[u8]) -> Option<(u32, u64)> {
    if k.len() != 13 || k[0] != RECORD {
        return None;
    }
    let id = u32::from_be_bytes(k[1..5].try_into().ok()?);
    let seq = u64::from_be_bytes(k[5..].try_into().ok()?);
    Some((id, seq))
}

fn sidecar_key(id: u32) -> [u8; 5] {
    let mut k = [0u8; 5];
    k[0] = SIDECAR;
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a set is configured. The per-member bounds apply to each member's journal.
#[derive(Debug, Clone)]
pub struct SetOptions {
    /// Live data bound of each member, in bytes (keys + frames of its retained records): above
    /// it, [`AppendAck::needs_snapshot`] is set. Default 64 KiB (a fleet of 10,000 devices then
    /// keeps at most ~640 MB live).
    pub max_live_bytes: u64,
    /// Records kept before a member's snapshot when it compacts (default 20; never more than
    /// half of `max_live_bytes` worth).
    pub history_records: u64,
    /// sled's page cache for the whole set (default 64 MiB).
    pub cache_capacity: u64,
    /// sled's segment size, a power of two (default 512 KiB, sled's own default).
    pub segment_size: usize,
    /// DANGEROUS: skip the fdatasync of sled's data file after each group commit.
    pub unsafe_skip_fdatasync: bool,
    /// Write the high-water mark on every commit without fdatasyncing it (see
    /// [`crate::Options::lazy_high_water_mark`]).
    pub lazy_high_water_mark: bool,
}

impl Default for SetOptions {
    fn default() -> Self {
        SetOptions {
            max_live_bytes: 64 << 10,
            history_records: 20,
            cache_capacity: 64 << 20,
            segment_size: 512 << 10,
            unsafe_skip_fdatasync: false,
            lazy_high_water_mark: false,
        }
    }
}

impl SetOptions {
    fn sled_config(&self, dir: &Path) -> sled::Config {
        sled::Config::new()
            .path(dir)
            .cache_capacity(self.cache_capacity)
            .segment_size(self.segment_size)
            .use_compression(false)
            .mode(sled::Mode::LowSpace)
            // The committer flushes on every group commit; sled's timer would only add writes.
            .flush_every_ms(None)
    }
}

/// What [`JournalSet::open`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOpenReport {
    /// The directory held no set; a new one was created.
    pub created: bool,
    /// The number of the last group commit in the database (after any repair).
    pub commit: u64,
    /// The high-water mark read from disk, if it could be read.
    pub high_water_mark: Option<u64>,
    /// sled came back with commit `.0` although commit `.1` had been acknowledged: the commits in
    /// between were lost. Every member got a recovery note saying so.
    pub rolled_back: Option<(u64, u64)>,
    /// Things worth a log line that did not change the outcome.
    pub notes: Vec<String>,
}

enum Reply {
    Async(tokio::sync::oneshot::Sender<Result<AppendAck>>),
    Blocking(mpsc::SyncSender<Result<AppendAck>>),
}

impl Reply {
    fn send(self, r: Result<AppendAck>) {
        // A member that gave up waiting (a device whose power was cut) is not an error.
        match self {
            Reply::Async(tx) => drop(tx.send(r)),
            Reply::Blocking(tx) => drop(tx.send(r)),
        }
    }
}

struct Request {
    member: Arc<MemberState>,
    frames: Vec<Frame>,
    snapshot_base: Option<u64>,
    sidecar: Option<Vec<u8>>,
    reply: Reply,
}

enum Msg {
    Append(Request),
    /// Answered once every message queued before it has been committed or refused.
    Barrier(mpsc::SyncSender<()>),
    Stop,
}

/// One open member's counters, shared by its handle and the committer.
struct MemberState {
    id: u32,
    boot_id: String,
    /// Cleared when the member's power is cut: the committer refuses its queued requests.
    alive: AtomicBool,
    first_seq: AtomicU64,
    last_seq: AtomicU64,
    live_bytes: AtomicU64,
    latest_snapshot: AtomicU64,
}

struct SetShared {
    db: sled::Db,
    dir: PathBuf,
    options: SetOptions,
    schema: Arc<dyn Schema>,
    poisoned: Mutex<Option<String>>,
    /// Members open now.
    open: Mutex<HashSet<u32>>,
    commit: AtomicU64,
}

/// Many logical journals in one sled database. See the module documentation.
pub struct JournalSet {
    shared: Arc<SetShared>,
    tx: mpsc::Sender<Msg>,
    committer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for JournalSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalSet")
            .field("dir", &self.shared.dir)
            .field("commit", &self.commit())
            .finish()
    }
}

/// Creates `dir` if missing and makes its entry durable. Returns whether it was created.
fn create_dir_durably(dir: &Path) -> Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    crate::sync_dir(parent)?;
    Ok(true)
}

fn sync_db_file(dir: &Path) -> Result<()> {
    let path = dir.join("db");
    File::open(&path)
        .and_then(|f| f.sync_data())
        .map_err(io_err(&path))
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

fn read_commit(db: &sled::Db) -> Result<u64> {
    Ok(db
        .get(META_COMMIT)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes))
}

impl JournalSet {
    /// Opens (or creates) the set in `dir`, with `schema` for every member's frames. The
    /// directory is locked for the set's lifetime ([`Error::Locked`] when another holds it).
    pub fn open(
        dir: impl AsRef<Path>,
        options: SetOptions,
        schema: Arc<dyn Schema>,
    ) -> Result<(JournalSet, SetOpenReport)> {
        let dir = dir.as_ref().to_path_buf();
        let created = create_dir_durably(&dir)? || !dir.join("db").exists();
        let (hwm, mark) = HighWaterMark::open(&dir)?;
        let mut notes = Vec::new();
        let mark_value = match mark {
            Mark::Value(v) => Some(v),
            Mark::Missing if created => Some(0),
            Mark::Missing => {
                notes.push("high-water mark file was missing; loss detection starts now".into());
                None
            }
            Mark::Unreadable => {
                notes.push("high-water mark unreadable; loss detection starts now".into());
                None
            }
        };
        if !created && !options.unsafe_skip_fdatasync {
            // What sled reads at open must be what a power cut would leave (open.rs).
            crate::open::make_durable_before_sled(&dir)?;
        }
        let config = options.sled_config(&dir);
        // Only an unwinding build catches this; built with `panic = "abort"`, a set that makes
        // sled panic stops the simulator. The daemon's single journal has its child-process
        // check instead (open.rs, isolate.rs).
        crate::isolate::mark_sled_started();
        let db = match catch_unwind(AssertUnwindSafe(|| crate::open::open_sled_waiting(&config))) {
            Ok(r) => r?,
            Err(p) => return Err(Error::SledPanic(panic_message(p))),
        };
        if created {
            // sled's new files must survive a power cut; it does not sync `conf` itself.
            File::open(dir.join("conf"))
                .and_then(|f| f.sync_all())
                .map_err(io_err(dir.join("conf")))?;
        }
        // Every open: the snapshot file sled's open may have renamed into place (open.rs, the
        // same line there).
        crate::sync_dir(&dir)?;
        let mut commit = read_commit(&db)?;
        let mut rolled_back = None;
        if let Some(hw) = mark_value
            && commit < hw
        {
            tracing::warn!(dir = %dir.display(), found = commit, acknowledged = hw,
                "journal set: acknowledged commits are missing (sled rolled back); noting every member");
            note_rollback(&db, &dir, schema.as_ref(), commit, hw)?;
            rolled_back = Some((commit, hw));
            commit = hw;
        }
        for n in &notes {
            tracing::warn!(dir = %dir.display(), "{n}");
        }
        let db_path = dir.join("db");
        let db_file = File::open(&db_path).map_err(io_err(&db_path))?;
        let mut blobs = BlobSyncer::new(&dir);
        if !options.unsafe_skip_fdatasync {
            blobs.sync_new()?;
            blobs.prune_kept()?;
        }
        let shared = Arc::new(SetShared {
            db,
            dir,
            options,
            schema,
            poisoned: Mutex::new(None),
            open: Mutex::new(HashSet::new()),
            commit: AtomicU64::new(commit),
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
            .name("journal-set-commit".into())
            .spawn(move || committer.run())
            .map_err(io_err("journal-set-commit thread"))?;
        Ok((
            JournalSet {
                shared,
                tx,
                committer: Some(handle),
            },
            SetOpenReport {
                created,
                commit,
                high_water_mark: mark_value,
                rolled_back,
                notes,
            },
        ))
    }

    /// Opens member `id`'s journal, stamping `boot_id` (at most 255 bytes) on what it appends.
    /// Waits for the group commit under way first (see "A member's power cut"), then verifies
    /// the member's records and repairs them if needed. A member already open is refused with
    /// [`Error::Locked`].
    pub fn open_member(&self, id: u32, boot_id: &str) -> Result<(SetMember, OpenReport)> {
        if boot_id.len() > 255 {
            return Err(Error::BootIdTooLong { len: boot_id.len() });
        }
        if !lock(&self.shared.open).insert(id) {
            return Err(Error::Locked {
                path: self.member_path(id),
            });
        }
        match self.open_registered(id, boot_id) {
            Ok(r) => Ok(r),
            Err(e) => {
                lock(&self.shared.open).remove(&id);
                Err(e)
            }
        }
    }

    fn member_path(&self, id: u32) -> PathBuf {
        PathBuf::from(format!("{}#member-{id}", self.shared.dir.display()))
    }

    fn open_registered(&self, id: u32, boot_id: &str) -> Result<(SetMember, OpenReport)> {
        self.barrier()?;
        let sh = &self.shared;
        let schema = sh.schema.as_ref();
        let scan = catch_unwind(AssertUnwindSafe(|| scan_member(&sh.db, id, schema)))
            .map_err(|p| Error::SledPanic(panic_message(p)))?;
        if let Some(e) = &scan.iter_error {
            // sled itself failed to read: the whole database is in question, not one member.
            return Err(Error::Verify {
                seq: scan.last_good,
                reason: e.clone(),
            });
        }
        let (outcome, scan) = if scan.problems.is_empty() {
            let outcome = if scan.records == 0 {
                OpenOutcome::Created
            } else {
                OpenOutcome::Clean
            };
            (outcome, scan)
        } else {
            let outcome = self.repair_member(id, &scan)?;
            let rescan = scan_member(&sh.db, id, schema);
            if !rescan.problems.is_empty() {
                return Err(Error::Recovery(format!(
                    "member {id} did not verify after its repair: {:?}",
                    rescan.problems[0]
                )));
            }
            (outcome, rescan)
        };
        let state = Arc::new(MemberState {
            id,
            boot_id: boot_id.to_owned(),
            alive: AtomicBool::new(true),
            first_seq: AtomicU64::new(scan.first_seq),
            last_seq: AtomicU64::new(scan.last_good),
            live_bytes: AtomicU64::new(scan.live_bytes),
            latest_snapshot: AtomicU64::new(scan.latest_snapshot),
        });
        let report = OpenReport {
            outcome,
            records: scan.records,
            first_seq: scan.first_seq,
            last_seq: scan.last_good,
            high_water_mark: None,
            notes: Vec::new(),
        };
        Ok((
            SetMember {
                set: self.shared.clone(),
                state,
                tx: self.tx.clone(),
            },
            report,
        ))
    }

    /// Keeps the intact run from the member's latest intact snapshot (or its first record),
    /// copies every record of the member into a `damaged-…` tree, removes the rest and appends the
    /// schema's recovery note. Durable before it returns.
    fn repair_member(&self, id: u32, scan: &MemberScan) -> Result<OpenOutcome> {
        let sh = &self.shared;
        let schema = sh.schema.as_ref();
        let reason = match scan.problems.first() {
            Some((seq, why)) => format!("damaged record at {seq}: {why}"),
            None => "damaged records".to_owned(),
        };
        tracing::warn!(member = id, %reason, "journal set: repairing a member");
        let mut salvaged: BTreeMap<u64, (Vec<u8>, u16, bool)> = BTreeMap::new();
        let mut max_key = 0;
        let mut all = Vec::new();
        for item in sh.db.range(member_range(id, 0)) {
            let Ok((k, v)) = item else { break };
            let Some((_, seq)) = split_key(&k) else {
                continue;
            };
            max_key = max_key.max(seq);
            all.push((k.to_vec(), v.to_vec()));
            if let Ok(f) = frame::decode(seq, &v)
                && schema.check(f.tag, f.payload).is_ok()
            {
                let note = schema.recovery_range(f.tag, f.payload).is_some();
                salvaged.insert(seq, (v.to_vec(), f.tag, note));
            }
        }
        let snapshot_tag = schema.snapshot_tag();
        let base = salvaged
            .iter()
            .rev()
            .find(|(_, s)| s.1 == snapshot_tag)
            .map(|(seq, _)| *seq)
            .or_else(|| {
                salvaged
                    .iter()
                    .next()
                    .and_then(|(seq, s)| (*seq == 1 || s.2).then_some(*seq))
            });
        let seed: Vec<u64> = match base {
            Some(base) => (base..)
                .zip(salvaged.range(base..))
                .take_while(|(expect, (seq, _))| expect == *seq)
                .map(|(_, (seq, _))| *seq)
                .collect(),
            None => Vec::new(),
        };
        let seeded_from_snapshot_seq = seed
            .first()
            .filter(|seq| salvaged.get(seq).is_some_and(|s| s.1 == snapshot_tag))
            .copied()
            .unwrap_or(0);
        let seed_end = seed.last().copied().unwrap_or(0);
        let recovered_seq = max_key.max(seed_end) + 1;
        let lost_from_seq = seed_end + 1;
        let lost_to_seq = recovered_seq - 1;
        let secs = crate::now_ms() / 1000;
        let aside = format!("damaged-{id}-{secs}");
        let moved_aside_to = PathBuf::from(format!("{}#{aside}", sh.dir.display()));
        let note = schema.recovery_note(&RecoveryInfo {
            reason: reason.clone(),
            moved_aside_to: moved_aside_to.clone(),
            lost_from_seq,
            lost_to_seq,
            seeded_from_snapshot_seq,
        });
        if let Err(e) = schema.check(note.tag, &note.payload) {
            return Err(Error::Recovery(format!(
                "the schema rejects its own recovery note: {e}"
            )));
        }
        if schema.recovery_range(note.tag, &note.payload) != Some((lost_from_seq, lost_to_seq)) {
            return Err(Error::Recovery(
                "the schema does not read back the lost range from its own recovery note".into(),
            ));
        }
        let aside_tree = sh.db.open_tree(&aside)?;
        let mut copy = sled::Batch::default();
        for (k, v) in &all {
            copy.insert(k.as_slice(), v.as_slice());
        }
        aside_tree.apply_batch(copy)?;
        let keep: HashSet<u64> = seed.iter().copied().collect();
        let mut batch = sled::Batch::default();
        for (k, _) in &all {
            if let Some((_, seq)) = split_key(k)
                && !keep.contains(&seq)
            {
                batch.remove(k.as_slice());
            }
        }
        let value = frame::encode(
            recovered_seq,
            note.tag,
            crate::now_ms(),
            SET_BOOT_ID,
            &note.payload,
        );
        batch.insert(&record_key(id, recovered_seq), value);
        sh.db.apply_batch(batch)?;
        sh.db.flush()?;
        sync_db_file(&sh.dir)?;
        Ok(OpenOutcome::Recovered {
            reason,
            moved_aside_to,
            lost_from_seq,
            lost_to_seq,
            seeded_from_snapshot_seq,
            recovered_seq,
        })
    }

    /// Waits until every request queued so far has been committed or refused.
    fn barrier(&self) -> Result<()> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx.send(Msg::Barrier(tx)).map_err(|_| Error::Closed)?;
        rx.recv().map_err(|_| Error::Closed)
    }

    /// Member `id`'s sidecar value, if it has one (readable whether or not the member is open).
    pub fn sidecar(&self, id: u32) -> Result<Option<Vec<u8>>> {
        Ok(self.shared.db.get(sidecar_key(id))?.map(|v| v.to_vec()))
    }

    /// The ids of every member with at least one record, in order.
    pub fn members(&self) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut from = record_key(0, 0);
        loop {
            let Some(item) = self.shared.db.range(from..).next() else {
                break;
            };
            let (k, _) = item?;
            let Some((id, _)) = split_key(&k) else { break };
            out.push(id);
            match id.checked_add(1) {
                Some(next) => from = record_key(next, 0),
                None => break,
            }
        }
        Ok(out)
    }

    /// The number of the last group commit.
    pub fn commit(&self) -> u64 {
        self.shared.commit.load(Ordering::Acquire)
    }

    /// Bytes the set occupies on disk.
    pub fn disk_bytes(&self) -> Result<u64> {
        dir_size(&self.shared.dir)
    }

    /// The set's directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Stops the committer (after what is queued) and waits for it. Members still open can read
    /// but no longer append ([`Error::Closed`]). Dropping the set does the same.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.tx.send(Msg::Stop);
        if let Some(h) = self.committer.take()
            && h.join().is_err()
        {
            tracing::error!("journal set committer thread panicked");
        }
    }
}

impl Drop for JournalSet {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One member's journal in a [`JournalSet`]. Dropping it cuts the member's power (see the module
/// documentation); since appends are awaited, a member whose owner awaited everything loses
/// nothing.
pub struct SetMember {
    set: Arc<SetShared>,
    state: Arc<MemberState>,
    tx: mpsc::Sender<Msg>,
}

impl std::fmt::Debug for SetMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetMember")
            .field("id", &self.state.id)
            .field("last_seq", &self.last_seq())
            .finish()
    }
}

impl SetMember {
    /// The member id.
    pub fn id(&self) -> u32 {
        self.state.id
    }

    /// The boot id stamped on this member's frames.
    pub fn boot_id(&self) -> &str {
        &self.state.boot_id
    }

    /// Appends a batch atomically and returns once it is durable (see
    /// [`crate::Journal::append`]; the same cancellation rule holds: once queued, a batch may
    /// still be committed unless the member is cut first).
    pub async fn append(&self, batch: Vec<Frame>) -> Result<AppendAck> {
        self.check_all(&batch)?;
        self.submit_async(batch, None, None).await
    }

    /// Blocking `append`.
    pub fn append_blocking(&self, batch: Vec<Frame>) -> Result<AppendAck> {
        self.check_all(&batch)?;
        self.submit_blocking(batch, None, None)
    }

    /// Appends a snapshot and compacts the member (see [`crate::Journal::append_snapshot`]).
    pub async fn append_snapshot(&self, snapshot: Frame, folded_up_to: u64) -> Result<AppendAck> {
        self.check_snapshot(&snapshot)?;
        self.submit_async(vec![snapshot], Some(folded_up_to), None)
            .await
    }

    /// Blocking `append_snapshot`.
    pub fn append_snapshot_blocking(
        &self,
        snapshot: Frame,
        folded_up_to: u64,
    ) -> Result<AppendAck> {
        self.check_snapshot(&snapshot)?;
        self.submit_blocking(vec![snapshot], Some(folded_up_to), None)
    }

    /// Replaces the member's sidecar — a small value beside its journal, not a record of it —
    /// durably, through the group commit. Fleet mode keeps the simulated device's own state there
    /// (its installed firmware), which a real device keeps in its flash outside the agent's
    /// journal.
    pub async fn put_sidecar(&self, value: Vec<u8>) -> Result<()> {
        self.submit_async(Vec::new(), None, Some(value))
            .await
            .map(|_| ())
    }

    /// Blocking `put_sidecar`.
    pub fn put_sidecar_blocking(&self, value: Vec<u8>) -> Result<()> {
        self.submit_blocking(Vec::new(), None, Some(value))
            .map(|_| ())
    }

    /// The member's sidecar value, if any.
    pub fn sidecar(&self) -> Result<Option<Vec<u8>>> {
        Ok(self
            .set
            .db
            .get(sidecar_key(self.state.id))?
            .map(|v| v.to_vec()))
    }

    fn check_all(&self, batch: &[Frame]) -> Result<()> {
        for f in batch {
            self.set
                .schema
                .check(f.tag, &f.payload)
                .map_err(|e| Error::InvalidPayload(format!("frame with tag {}: {e}", f.tag)))?;
        }
        Ok(())
    }

    fn check_snapshot(&self, snapshot: &Frame) -> Result<()> {
        let want = self.set.schema.snapshot_tag();
        if snapshot.tag != want {
            return Err(Error::InvalidPayload(format!(
                "a snapshot must have tag {want}, not {}",
                snapshot.tag
            )));
        }
        self.check_all(std::slice::from_ref(snapshot))
    }

    fn request(
        &self,
        frames: Vec<Frame>,
        snapshot_base: Option<u64>,
        sidecar: Option<Vec<u8>>,
        reply: Reply,
    ) -> Msg {
        Msg::Append(Request {
            member: self.state.clone(),
            frames,
            snapshot_base,
            sidecar,
            reply,
        })
    }

    async fn submit_async(
        &self,
        frames: Vec<Frame>,
        snapshot_base: Option<u64>,
        sidecar: Option<Vec<u8>>,
    ) -> Result<AppendAck> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.tx
            .send(self.request(frames, snapshot_base, sidecar, Reply::Async(tx)))
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    fn submit_blocking(
        &self,
        frames: Vec<Frame>,
        snapshot_base: Option<u64>,
        sidecar: Option<Vec<u8>>,
    ) -> Result<AppendAck> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx
            .send(self.request(frames, snapshot_base, sidecar, Reply::Blocking(tx)))
            .map_err(|_| Error::Closed)?;
        rx.recv().map_err(|_| Error::Closed)?
    }

    /// Iterates the member's frames from `seq` on (inclusive), in order, each checked.
    pub fn iter_from(&self, seq: u64) -> SetIter {
        SetIter {
            inner: self.set.db.range(member_range(self.state.id, seq)),
        }
    }

    /// The frame stored under `seq`, if any.
    pub fn get(&self, seq: u64) -> Result<Option<StoredFrame>> {
        match self.set.db.get(record_key(self.state.id, seq))? {
            Some(v) => Ok(Some(StoredFrame::decode(seq, &v)?)),
            None => Ok(None),
        }
    }

    /// The latest snapshot frame, if any.
    pub fn latest_snapshot(&self) -> Result<Option<StoredFrame>> {
        match self.state.latest_snapshot.load(Ordering::Acquire) {
            0 => Ok(None),
            seq => self.get(seq),
        }
    }

    /// Sequence number of the last record (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.state.last_seq.load(Ordering::Acquire)
    }

    /// Sequence number of the first retained record (0 when empty).
    pub fn first_seq(&self) -> u64 {
        self.state.first_seq.load(Ordering::Acquire)
    }

    /// Bytes of live data of this member.
    pub fn live_bytes(&self) -> u64 {
        self.state.live_bytes.load(Ordering::Acquire)
    }

    /// Re-checks the member's records (CRC, schema, contiguity). Returns how many were checked.
    pub fn verify(&self) -> Result<u64> {
        let scan = scan_member(&self.set.db, self.state.id, self.set.schema.as_ref());
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

    /// Cuts the member's power: what it queued and no commit took is never written.
    pub fn cut(self) {}
}

impl Drop for SetMember {
    fn drop(&mut self) {
        self.state.alive.store(false, Ordering::Release);
        lock(&self.set.open).remove(&self.state.id);
    }
}

/// Iterator returned by [`SetMember::iter_from`].
pub struct SetIter {
    inner: sled::Iter,
}

impl Iterator for SetIter {
    type Item = Result<StoredFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.inner.next()?;
        Some(item.map_err(Error::from).and_then(|(k, v)| {
            let (_, seq) = split_key(&k).ok_or(Error::Frame {
                seq: 0,
                source: crate::error::FrameError::Key(k.len()),
            })?;
            StoredFrame::decode(seq, &v)
        }))
    }
}

/// What a scan of one member found.
#[derive(Debug, Default)]
struct MemberScan {
    records: u64,
    first_seq: u64,
    last_good: u64,
    live_bytes: u64,
    latest_snapshot: u64,
    problems: Vec<(u64, String)>,
    iter_error: Option<String>,
}

/// Checks every record of member `id` in order: CRC and framing, the schema's check, and
/// contiguity (a gap only right before a recovery note naming exactly that range).
fn scan_member(db: &sled::Db, id: u32, schema: &dyn Schema) -> MemberScan {
    let mut s = MemberScan::default();
    let mut prev: Option<u64> = None;
    for item in db.range(member_range(id, 0)) {
        let (k, v) = match item {
            Ok(kv) => kv,
            Err(e) => {
                s.iter_error = Some(format!("sled failed while reading the store: {e}"));
                break;
            }
        };
        let Some((_, seq)) = split_key(&k) else {
            s.iter_error = Some(format!("a key of member {id} is malformed"));
            break;
        };
        s.records += 1;
        if s.first_seq == 0 {
            s.first_seq = seq;
        }
        let checked = frame::decode(seq, &v)
            .map_err(|e| format!("record {seq}: {e}"))
            .and_then(|f| {
                schema
                    .check(f.tag, f.payload)
                    .map_err(|e| format!("record {seq} does not decode: {e}"))?;
                match prev {
                    Some(p)
                        if seq != p + 1
                            && schema.recovery_range(f.tag, f.payload)
                                != Some((p + 1, seq - 1)) =>
                    {
                        Err(format!("gap: record {seq} follows {p}"))
                    }
                    _ => Ok(f),
                }
            });
        match checked {
            Ok(f) if s.problems.is_empty() => {
                s.last_good = seq;
                s.live_bytes += (k.len() + v.len()) as u64;
                if f.tag == schema.snapshot_tag() {
                    s.latest_snapshot = seq;
                }
            }
            Ok(_) => {}
            Err(reason) => s.problems.push((seq, reason)),
        }
        prev = Some(seq);
    }
    s
}

/// After a rollback: every member present gets a recovery note (appended after its last
/// record) saying that commits were lost, and the commit number is brought up to the mark.
fn note_rollback(
    db: &sled::Db,
    dir: &Path,
    schema: &dyn Schema,
    found: u64,
    hw: u64,
) -> Result<()> {
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    for item in db.range(record_key(0, 0)..=record_key(u32::MAX, u64::MAX)) {
        let (k, _) = item?;
        if let Some((id, seq)) = split_key(&k) {
            let e = last.entry(id).or_insert(0);
            *e = (*e).max(seq);
        }
    }
    let mut batch = sled::Batch::default();
    let now = crate::now_ms();
    for (id, seq) in last {
        let note = schema.recovery_note(&RecoveryInfo {
            reason: format!(
                "the journal set came back at group commit {found} although commit {hw} had \
                 been acknowledged (sled rolled back silently); records of this member \
                 acknowledged after seq {seq} may be lost"
            ),
            moved_aside_to: dir.to_path_buf(),
            lost_from_seq: seq + 1,
            lost_to_seq: seq,
            seeded_from_snapshot_seq: 0,
        });
        batch.insert(
            &record_key(id, seq + 1),
            frame::encode(seq + 1, note.tag, now, SET_BOOT_ID, &note.payload),
        );
    }
    batch.insert(META_COMMIT, &hw.to_be_bytes());
    db.apply_batch(batch)?;
    db.flush()?;
    sync_db_file(dir)
}

fn sort(
    m: Msg,
    group: &mut Vec<Request>,
    barriers: &mut Vec<mpsc::SyncSender<()>>,
    stop: &mut bool,
) {
    match m {
        Msg::Append(r) => group.push(r),
        Msg::Barrier(b) => barriers.push(b),
        Msg::Stop => *stop = true,
    }
}

struct Committer {
    shared: Arc<SetShared>,
    db_file: File,
    hwm: HighWaterMark,
    blobs: BlobSyncer,
    rx: mpsc::Receiver<Msg>,
}

/// A member's counters while a group is assembled.
#[derive(Clone, Copy)]
struct Local {
    next: u64,
    first: u64,
    live: u64,
    snapshot: u64,
}

impl Committer {
    fn run(mut self) {
        let mut stop = false;
        while !stop {
            let Ok(first) = self.rx.recv() else { break };
            let mut group = Vec::new();
            let mut barriers = Vec::new();
            sort(first, &mut group, &mut barriers, &mut stop);
            while !stop && group.len() < MAX_GROUP {
                match self.rx.try_recv() {
                    Ok(m) => sort(m, &mut group, &mut barriers, &mut stop),
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.commit(group);
            }
            for b in barriers {
                let _ = b.send(());
            }
        }
        // Whatever is still queued is refused (its senders see the channel close).
    }

    fn poisoned(&self) -> Option<String> {
        lock(&self.shared.poisoned).clone()
    }

    fn poison(&self, why: &Error) {
        tracing::error!(error = %why, "journal set commit failed; refusing further appends");
        *lock(&self.shared.poisoned) = Some(why.to_string());
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
        let snapshot_tag = sh.schema.snapshot_tag();
        let mut batch = sled::Batch::default();
        let mut locals: HashMap<u32, Local> = HashMap::new();
        let mut accepted: Vec<(Reply, Arc<MemberState>, u64, u64)> = Vec::new();
        for req in group {
            let m = req.member.clone();
            if !m.alive.load(Ordering::Acquire) {
                // The device's power was cut before any commit took this.
                req.reply.send(Err(Error::Closed));
                continue;
            }
            let l = locals.entry(m.id).or_insert_with(|| Local {
                next: m.last_seq.load(Ordering::Acquire) + 1,
                first: m.first_seq.load(Ordering::Acquire),
                live: m.live_bytes.load(Ordering::Acquire),
                snapshot: m.latest_snapshot.load(Ordering::Acquire),
            });
            if let Some(base) = req.snapshot_base
                && base != l.next - 1
            {
                req.reply.send(Err(Error::SnapshotStale {
                    based_on: base,
                    last_seq: l.next - 1,
                }));
                continue;
            }
            let start = l.next;
            for f in &req.frames {
                let value = frame::encode(l.next, f.tag, time_ms, &m.boot_id, &f.payload);
                l.live += 13 + value.len() as u64;
                if f.tag == snapshot_tag {
                    l.snapshot = l.next;
                }
                batch.insert(&record_key(m.id, l.next), value);
                l.next += 1;
            }
            if l.first == 0 && l.next > start {
                l.first = start;
            }
            if req.snapshot_base.is_some() {
                match self.compaction(m.id, l.next - 1) {
                    Ok((removed, removed_bytes, new_first)) => {
                        for k in removed {
                            batch.remove(&record_key(m.id, k));
                        }
                        l.live -= removed_bytes;
                        l.first = new_first;
                    }
                    Err(e) => {
                        self.poison(&e);
                        req.reply.send(Err(e));
                        for (reply, ..) in accepted {
                            reply.send(Err(Error::Poisoned("compaction read failed".into())));
                        }
                        return;
                    }
                }
            }
            if let Some(value) = req.sidecar {
                batch.insert(&sidecar_key(m.id), value);
            }
            accepted.push((req.reply, m, start, l.next - 1));
        }
        if accepted.is_empty() {
            return;
        }
        let commit = sh.commit.load(Ordering::Acquire) + 1;
        batch.insert(META_COMMIT, &commit.to_be_bytes());
        match self.write(batch, commit) {
            Ok(()) => {
                sh.commit.store(commit, Ordering::Release);
                for (_, m, _, _) in &accepted {
                    if let Some(l) = locals.get(&m.id) {
                        m.first_seq.store(l.first, Ordering::Release);
                        m.live_bytes.store(l.live, Ordering::Release);
                        m.latest_snapshot.store(l.snapshot, Ordering::Release);
                        m.last_seq.store(l.next - 1, Ordering::Release);
                    }
                }
                for (reply, m, first, last) in accepted {
                    let live = locals.get(&m.id).map_or(0, |l| l.live);
                    reply.send(Ok(AppendAck {
                        first_seq: first,
                        last_seq: last,
                        live_bytes: live,
                        needs_snapshot: live > opts.max_live_bytes,
                    }));
                }
            }
            Err(e) => {
                self.poison(&e);
                let msg = e.to_string();
                for (reply, ..) in accepted {
                    reply.send(Err(Error::Poisoned(msg.clone())));
                }
            }
        }
    }

    /// Which of member `id`'s records before its snapshot at `snap_seq` to remove (as the single
    /// journal's compaction).
    fn compaction(&self, id: u32, snap_seq: u64) -> Result<(Vec<u64>, u64, u64)> {
        let opts = &self.shared.options;
        let budget = opts.max_live_bytes / 2;
        let mut kept = 0u64;
        let mut kept_bytes = 0u64;
        let mut new_first = snap_seq;
        let mut removed = Vec::new();
        let mut removed_bytes = 0;
        for item in self
            .shared
            .db
            .range(record_key(id, 0)..record_key(id, snap_seq))
            .rev()
        {
            let (k, v) = item?;
            let Some((_, seq)) = split_key(&k) else {
                continue;
            };
            let size = (k.len() + v.len()) as u64;
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

    fn write(&mut self, batch: sled::Batch, commit: u64) -> Result<()> {
        let opts = &self.shared.options;
        self.shared.db.apply_batch(batch)?;
        self.shared.db.flush()?;
        if !opts.unsafe_skip_fdatasync {
            // sled's flush is only sync_file_range(2): see the single journal's `write`.
            self.blobs
                .sync_commit(&self.db_file, &self.shared.dir.join("db"))?;
        }
        self.hwm.store(commit, !opts.lazy_high_water_mark)?;
        Ok(())
    }
}
