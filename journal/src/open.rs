//! Opening a store: the verification scan, torn-tail truncation and recovery into a new store.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result, io_err};
use crate::frame;
use crate::hwm::{HighWaterMark, Mark};
use crate::isolate;
use crate::journal::{Journal, Options, Started};
use crate::schema::{RecoveryInfo, Schema};

/// What `Journal::open` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    /// The directory held no store; a new, empty one was created.
    Created,
    /// The store verified completely.
    Clean,
    /// Records after the last good one were damaged and none of them had been acknowledged
    /// (all above the high-water mark): they were removed.
    TailTruncated {
        /// Sequence numbers removed.
        removed: Vec<u64>,
    },
    /// The store was damaged beyond its tail, could not be opened, or had silently lost
    /// acknowledged records. It was moved aside and a new store was seeded from what could be
    /// read; the schema's recovery note at `recovered_seq` says what was lost.
    Recovered {
        /// A human sentence.
        reason: String,
        /// Where the damaged store now is.
        moved_aside_to: PathBuf,
        /// First lost sequence number (inclusive).
        lost_from_seq: u64,
        /// Last lost sequence number (inclusive); below `lost_from_seq` when none were lost.
        lost_to_seq: u64,
        /// The snapshot the new store was seeded from (0: none could be read).
        seeded_from_snapshot_seq: u64,
        /// Sequence number of the recovery note.
        recovered_seq: u64,
    },
}

/// The report `Journal::open` returns beside the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// What happened.
    pub outcome: OpenOutcome,
    /// Number of records in the store after opening.
    pub records: u64,
    /// First retained sequence number (0 when empty).
    pub first_seq: u64,
    /// Last sequence number (0 when empty).
    pub last_seq: u64,
    /// The high-water mark read from disk, if it could be read.
    pub high_water_mark: Option<u64>,
    /// Things worth a log line that did not change the outcome.
    pub notes: Vec<String>,
}

/// Result of scanning a sled tree record by record.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    pub(crate) records: u64,
    pub(crate) first_seq: u64,
    /// Last record of the good, contiguous prefix (0 if none).
    pub(crate) last_good: u64,
    pub(crate) live_bytes: u64,
    /// Latest snapshot within the good prefix.
    pub(crate) latest_snapshot: u64,
    /// Problems found: (seq, reason). The first one ends the good prefix.
    pub(crate) problems: Vec<(u64, String)>,
    /// Keys after the good prefix.
    pub(crate) after_prefix: Vec<u64>,
    /// Whether any record after the prefix is itself intact (so the damage is not a tail).
    pub(crate) intact_after_prefix: bool,
    pub(crate) max_key: u64,
    pub(crate) iter_error: Option<String>,
}

/// Checks every record of `tree` in key order.
pub(crate) fn scan_tree(tree: &sled::Tree, schema: &dyn Schema) -> Scan {
    scan_tree_visiting(tree, schema, &mut |_, _| {})
}

/// A caller's view of the frames `open` reads: see [`Journal::open_visiting`].
pub type Visit<'v> = dyn FnMut(u64, &frame::FrameRef<'_>) + 'v;

/// [`scan_tree`], handing each frame of the good prefix to `visit` as it is checked.
fn scan_tree_visiting(tree: &sled::Tree, schema: &dyn Schema, visit: &mut Visit<'_>) -> Scan {
    let mut s = Scan::default();
    let mut prev: Option<u64> = None;
    for item in tree.iter() {
        let (k, v) = match item {
            Ok(kv) => kv,
            Err(e) => {
                s.iter_error = Some(format!("sled failed while reading the store: {e}"));
                break;
            }
        };
        let seq = match frame::seq_of(&k) {
            Ok(seq) => seq,
            Err(e) => {
                s.iter_error = Some(format!("a key is not a sequence number: {e}"));
                break;
            }
        };
        s.records += 1;
        s.max_key = s.max_key.max(seq);
        if s.first_seq == 0 {
            s.first_seq = seq;
        }
        let checked = check_value(seq, &v, schema).and_then(|f| match prev {
            Some(p) if seq != p + 1 && !accounts_for_gap(schema, &f, p, seq) => {
                Err(format!("gap: record {seq} follows {p}"))
            }
            _ => Ok(f),
        });
        let in_prefix = s.problems.is_empty();
        match checked {
            Ok(f) if in_prefix => {
                s.last_good = seq;
                s.live_bytes += (k.len() + v.len()) as u64;
                if f.tag == schema.snapshot_tag() {
                    s.latest_snapshot = seq;
                }
                visit(seq, &f);
            }
            Ok(_) => {
                s.after_prefix.push(seq);
                s.intact_after_prefix = true;
            }
            Err(reason) => {
                s.after_prefix.push(seq);
                s.problems.push((seq, reason));
            }
        }
        prev = Some(seq);
    }
    s
}

fn check_value<'a>(
    seq: u64,
    v: &'a [u8],
    schema: &dyn Schema,
) -> Result<frame::FrameRef<'a>, String> {
    let f = frame::decode(seq, v).map_err(|e| format!("record {seq}: {e}"))?;
    schema
        .check(f.tag, f.payload)
        .map_err(|e| format!("record {seq} does not decode: {e}"))?;
    Ok(f)
}

/// A gap between `prev` and `seq` is legitimate only where recovery wrote a recovery note that
/// names exactly the lost range.
fn accounts_for_gap(schema: &dyn Schema, f: &frame::FrameRef<'_>, prev: u64, seq: u64) -> bool {
    match schema.recovery_range(f.tag, f.payload) {
        Some((lost_from_seq, lost_to_seq)) => lost_from_seq == prev + 1 && lost_to_seq + 1 == seq,
        None => false,
    }
}

enum Verdict {
    Healthy(sled::Db, Scan),
    Damaged {
        reason: String,
        db: Readable,
        max_key: u64,
    },
}

/// Where the records of a damaged store can still be read from, for the salvage.
enum Readable {
    /// Nowhere: sled would not open the store.
    Nothing,
    /// The store, open in this process.
    Open(sled::Db),
    /// sled opens the store but panicked reading it: salvage in a child process, which a panic
    /// only ends (a `panic = "abort"` build; see `isolate.rs`).
    InChild,
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Errors that say something about the environment, not the store: recovering from them by
/// moving the store aside would destroy a healthy store.
fn is_environmental(e: &sled::Error) -> bool {
    use std::io::ErrorKind::*;
    match e {
        sled::Error::Io(io) => {
            matches!(
                io.kind(),
                PermissionDenied
                    | WouldBlock
                    | OutOfMemory
                    | StorageFull
                    | QuotaExceeded
                    | ResourceBusy
                    | ReadOnlyFilesystem
                    | Interrupted
            ) || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// Opens sled, waiting out its own lock for a moment. The journal's `flock` on the mark is already
/// held, so no other journal can own the store; a busy sled lock can only come from sled threads of
/// a `Db` this process just dropped, which release it shortly after.
fn open_sled(config: &sled::Config) -> sled::Result<sled::Db> {
    isolate::mark_sled_started();
    open_sled_waiting(config)
}

/// `config.open()`, retried for up to 5 s while sled's file lock is busy. Dropping a `Db` does
/// not release the lock at once: sled's I/O threads still hold the store for a moment (a journal
/// set reopened in the same process, or a test reopening a store it just closed, met it as
/// `WouldBlock`). Callers hold the store's own lock first, so the wait can only be for this.
pub(crate) fn open_sled_waiting(config: &sled::Config) -> sled::Result<sled::Db> {
    let mut waited = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && waited < 5000 =>
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
                waited += 10;
            }
            other => return other,
        }
    }
}

/// Before sled opens an existing store: what the last run wrote without syncing (sled's own
/// writes after the last commit, a crash before an fsync) is made durable, so that what sled
/// reads and builds its page-table snapshot from is what a power cut would leave.
/// A blob sled removed before the `db` pointing past it was durable is linked back first
/// (blobs.rs).
pub(crate) fn make_durable_before_sled(dir: &Path) -> Result<()> {
    for name in crate::blobs::restore_kept(dir)? {
        tracing::warn!(dir = %dir.display(), blob = ?name,
            "journal: restored a blob sled removed before the data file pointing past it was durable");
    }
    if dir.join("db").exists() {
        sync_db_file(dir)?;
    }
    let blobs = dir.join("blobs");
    if let Ok(entries) = std::fs::read_dir(&blobs) {
        for entry in entries {
            sync_file(&entry.map_err(io_err(&blobs))?.path())?;
        }
        crate::sync_dir(&blobs)?;
    }
    crate::sync_dir(dir)
}

/// The mark a clean close leaves in the store's directory (`Journal::close`, journal.rs).
pub(crate) const CLEAN_CLOSE: &str = "clean-close";

/// Whether the last run of this store ended with a clean close. Taking the mark removes it, and
/// durably, before sled touches the store: a crash of this run leaves no mark, so the next start
/// checks. Any doubt (the removal or the directory sync failed) counts as "not clean".
fn take_clean_close(dir: &Path) -> bool {
    std::fs::remove_file(dir.join(CLEAN_CLOSE)).is_ok() && crate::sync_dir(dir).is_ok()
}

/// `closed_cleanly`: the last run closed the store (`take_clean_close`). An abort build then
/// skips the check in a child. That check opens sled a second time, and every open of sled
/// 0.34.7 rewrites each free segment of its file (2.6 MiB written to open a journal at its size
/// bound, BENCHMARKS.md "What a start writes"). Damage that appears after a clean close (no
/// power cut in between: bit rot, a bad flash block) and makes sled panic then costs one abort:
/// the mark is gone, and the supervisor's next start checks and sets the store aside.
fn open_and_scan(
    dir: &Path,
    options: &Options,
    schema: &dyn Schema,
    closed_cleanly: bool,
    visit: &mut Visit<'_>,
) -> Result<Verdict> {
    let config = options.sled_config(dir);
    // A build that aborts on panic cannot catch sled's: the same steps run first in a child,
    // whose panic is the verdict (isolate.rs). A child that returned means they do not panic on
    // these bytes, and they run again here for real.
    if cfg!(panic = "abort") && !isolate::sled_started() && !closed_cleanly {
        let run = isolate::in_child(|out| {
            if let Ok(db) = open_sled(&config) {
                out.send(b"opened");
                let _ = scan_tree(&db, schema);
                // Dropping the Db flushes and rewrites sled's files, so the parent would open a
                // store laid out differently from the one the journal pre-filled (27.9 KiB
                // instead of 19.1 KiB written per quiet session, BENCHMARKS.md "Footprint").
                // A reader that ends without closing is a crash sled recovers from.
                std::mem::forget(db);
            }
        })
        .map_err(|e| Error::Recovery(format!("checking the store before opening it: {}", e.0)))?;
        if let Some(message) = run.panicked {
            return Ok(if run.data.is_empty() {
                Verdict::Damaged {
                    reason: format!("sled panicked opening the store: {message}"),
                    db: Readable::Nothing,
                    max_key: 0,
                }
            } else {
                Verdict::Damaged {
                    reason: format!("sled panicked reading the store: {message}"),
                    db: Readable::InChild,
                    max_key: 0,
                }
            });
        }
    }
    let db = match catch_unwind(AssertUnwindSafe(|| open_sled(&config))) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) if is_environmental(&e) => return Err(Error::Sled(e)),
        Ok(Err(e)) => {
            return Ok(Verdict::Damaged {
                reason: format!("sled could not open the store: {e}"),
                db: Readable::Nothing,
                max_key: 0,
            });
        }
        Err(p) => {
            return Ok(Verdict::Damaged {
                reason: format!("sled panicked opening the store: {}", panic_message(p)),
                db: Readable::Nothing,
                max_key: 0,
            });
        }
    };
    // The caller's visitor runs inside the scan but is not sled: a panic of its own is not a
    // damaged store. It is caught apart, the scan goes on without it, and the panic resumes
    // once the scan is over.
    let mut visitor_panic = None;
    let scanned = catch_unwind(AssertUnwindSafe(|| {
        scan_tree_visiting(&db, schema, &mut |seq, f| {
            if visitor_panic.is_none()
                && let Err(p) = catch_unwind(AssertUnwindSafe(|| visit(seq, f)))
            {
                visitor_panic = Some(p);
            }
        })
    }));
    if let Some(p) = visitor_panic {
        std::panic::resume_unwind(p);
    }
    match scanned {
        Ok(scan) => Ok(Verdict::Healthy(db, scan)),
        Err(p) => Ok(Verdict::Damaged {
            reason: format!("sled panicked reading the store: {}", panic_message(p)),
            db: Readable::Open(db),
            max_key: 0,
        }),
    }
}

impl Journal {
    /// Opens (or creates) the journal in `dir` and verifies it, with `schema` saying which frames
    /// are snapshots and recovery notes and which payloads are well formed. Never panics on a
    /// damaged store and never resets one silently: see `OpenOutcome` and the crate docs on
    /// recovery.
    pub fn open(
        dir: impl AsRef<Path>,
        options: Options,
        schema: Arc<dyn Schema>,
    ) -> Result<(Journal, OpenReport)> {
        Journal::open_visiting(dir, options, schema, &mut |_, _| {})
            .map(|(journal, report, _)| (journal, report))
    }

    /// [`Journal::open`], handing `visit` every frame of the store, in sequence order, as the
    /// open reads and checks it: a caller that reads the whole store at start (to fold it)
    /// does so without a second pass over sled, which cost as much again as the open itself
    /// (BENCHMARKS.md, "Footprint").
    ///
    /// The third value says whether the frames visited are exactly the store's after the open
    /// (`true`: created, clean, or a torn unacknowledged tail cut off — the visited prefix is
    /// what remains). `false` when the open set the store aside and started a new one: what was
    /// visited, if anything, is not what the journal holds, and the caller reads it again.
    pub fn open_visiting(
        dir: impl AsRef<Path>,
        options: Options,
        schema: Arc<dyn Schema>,
        visit: &mut Visit<'_>,
    ) -> Result<(Journal, OpenReport, bool)> {
        let (journal, report) = Journal::open_inner(dir.as_ref(), options, schema, visit)?;
        let whole = matches!(
            report.outcome,
            OpenOutcome::Created | OpenOutcome::Clean | OpenOutcome::TailTruncated { .. }
        );
        Ok((journal, report, whole))
    }

    fn open_inner(
        dir: &Path,
        options: Options,
        schema: Arc<dyn Schema>,
        visit: &mut Visit<'_>,
    ) -> Result<(Journal, OpenReport)> {
        let dir = dir.to_path_buf();
        if options.boot_id.len() > 255 {
            return Err(Error::BootIdTooLong {
                len: options.boot_id.len(),
            });
        }
        let mut notes = Vec::new();
        let building = sibling(&dir, "recovering");
        if !dir.exists() && building.join("journal.hwm").exists() {
            // A crash between the two renames of a recovery: finish it.
            std::fs::rename(&building, &dir).map_err(io_err(&building))?;
            sync_parent(&dir)?;
            notes.push(format!(
                "finished an interrupted recovery from {}",
                building.display()
            ));
        }
        let created = create_dir_durably(&dir)? || !dir.join("db").exists();
        let (hwm, mark) = HighWaterMark::open(&dir)?;
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
        for n in &notes {
            tracing::warn!(dir = %dir.display(), "{n}");
        }
        let hw = mark_value.unwrap_or(0);
        // After the high-water mark's lock: no other process is opening this store.
        let closed_cleanly = !created && take_clean_close(&dir);
        if !created && !options.unsafe_skip_fdatasync {
            make_durable_before_sled(&dir)?;
        }
        let (db, scan) =
            match open_and_scan(&dir, &options, schema.as_ref(), closed_cleanly, visit)? {
                Verdict::Healthy(db, scan) => (db, scan),
                Verdict::Damaged {
                    reason,
                    db,
                    max_key,
                } => {
                    return recover(&dir, &options, schema, hwm, hw, reason, db, max_key, notes);
                }
            };
        if let Some(reason) = scan.iter_error.clone() {
            return recover(
                &dir,
                &options,
                schema,
                hwm,
                hw,
                reason,
                Readable::Open(db),
                scan.max_key,
                notes,
            );
        }
        let problems_only_in_unacknowledged_tail = !scan.problems.is_empty()
            && !scan.intact_after_prefix
            && scan.last_good >= hw
            && scan.after_prefix.iter().all(|&s| s > hw);
        let outcome = if scan.problems.is_empty() {
            if scan.last_good < hw {
                let reason = format!(
                    "acknowledged records {}..={} are missing: the store ends at {} (sled recovered \
                     silently to an earlier state)",
                    scan.last_good + 1,
                    hw,
                    scan.last_good
                );
                return recover(
                    &dir,
                    &options,
                    schema,
                    hwm,
                    hw,
                    reason,
                    Readable::Open(db),
                    scan.max_key,
                    notes,
                );
            }
            if created {
                OpenOutcome::Created
            } else {
                OpenOutcome::Clean
            }
        } else if problems_only_in_unacknowledged_tail {
            let removed = scan.after_prefix.clone();
            tracing::warn!(
                dir = %dir.display(),
                first_problem = %scan.problems[0].1,
                removed = ?removed,
                "journal: truncating a torn tail of unacknowledged records"
            );
            let mut batch = sled::Batch::default();
            for s in &removed {
                batch.remove(&frame::key(*s));
            }
            db.apply_batch(batch)?;
            db.flush()?;
            sync_db_file(&dir)?;
            OpenOutcome::TailTruncated { removed }
        } else {
            let (seq, problem) = scan.problems[0].clone();
            let reason = format!("damaged record at {seq}: {problem}");
            return recover(
                &dir,
                &options,
                schema,
                hwm,
                hw,
                reason,
                Readable::Open(db),
                scan.max_key,
                notes,
            );
        };
        let records = scan.records - scan.after_prefix.len() as u64;
        let first_seq = if records == 0 { 0 } else { scan.first_seq };
        let report = OpenReport {
            outcome,
            records,
            first_seq,
            last_seq: scan.last_good,
            high_water_mark: mark_value,
            notes,
        };
        if created {
            // sled created files (db, conf, blobs/); their directory entries must survive a
            // power cut, and sled does not sync `conf` itself.
            sync_file(&dir.join("conf"))?;
        }
        // Every open, before anything is acknowledged: sled's open writes a new page-table
        // snapshot when the log went past the last one (`snap.<lsn>.generating`, fsynced,
        // renamed to `snap.<lsn>`, the older one removed) and rewrites the segments it then
        // counts as free, but never syncs the directory, so a power cut could take the new
        // snapshot back while keeping those rewrites. The snapshot only covers durable data
        // (`make_durable_before_sled`), so keeping it is safe.
        // chaos-tests/tests/power_cut.rs, `a_power_cut_after_an_open_keeps_the_snapshot_files_…`.
        crate::sync_dir(&dir)?;
        let started = Started {
            first_seq,
            last_seq: scan.last_good,
            live_bytes: scan.live_bytes,
            latest_snapshot: scan.latest_snapshot,
        };
        let journal = Journal::start(db, dir, options, schema, hwm, started)?;
        Ok((journal, report))
    }
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(path))
}

fn sync_db_file(dir: &Path) -> Result<()> {
    let path = dir.join("db");
    std::fs::File::open(&path)
        .and_then(|f| f.sync_data())
        .map_err(io_err(&path))
}

/// Creates `dir` if missing and makes its entry durable (fsync of the parent). Returns whether
/// it was created.
fn create_dir_durably(dir: &Path) -> Result<bool> {
    if dir.is_dir() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    if let Some(parent) = dir.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        crate::sync_dir(parent)?;
    }
    Ok(true)
}

/// One intact record read back from a damaged store.
struct Salvaged {
    value: Vec<u8>,
    tag: u16,
    recovery_note: bool,
}

fn salvage(db: &sled::Db, schema: &dyn Schema) -> (BTreeMap<u64, Salvaged>, u64) {
    let mut out = BTreeMap::new();
    let mut max_key = 0;
    for item in db.iter() {
        // After a read error sled's iterator cannot be trusted to continue.
        let Ok((k, v)) = item else { break };
        let Ok(seq) = frame::seq_of(&k) else { continue };
        max_key = max_key.max(seq);
        if let Ok(f) = frame::decode(seq, &v) {
            if schema.check(f.tag, f.payload).is_ok() {
                out.insert(
                    seq,
                    Salvaged {
                        value: v.to_vec(),
                        tag: f.tag,
                        recovery_note: schema.recovery_range(f.tag, f.payload).is_some(),
                    },
                );
            }
        }
    }
    (out, max_key)
}

/// `salvage` in a child process (see `isolate.rs`): each intact record comes back as one
/// message (seq, tag, recovery-note flag, frame), then the highest key. A panic loses the
/// salvage, as `catch_unwind` does in an unwinding build; a child that ended without a verdict
/// fails the open and changes nothing.
fn salvage_in_child(
    config: &sled::Config,
    schema: &dyn Schema,
    notes: &mut Vec<String>,
) -> Result<(BTreeMap<u64, Salvaged>, u64)> {
    let run = isolate::in_child(|out| {
        let Ok(db) = open_sled(config) else { return };
        let (salvaged, max_key) = salvage(&db, schema);
        // As in the check above: the child only reads, so it leaves without sled's closing flush.
        std::mem::forget(db);
        for (seq, s) in &salvaged {
            let mut m = Vec::with_capacity(11 + s.value.len());
            m.extend_from_slice(&seq.to_be_bytes());
            m.extend_from_slice(&s.tag.to_be_bytes());
            m.push(u8::from(s.recovery_note));
            m.extend_from_slice(&s.value);
            out.send(&m);
        }
        out.send(&max_key.to_be_bytes());
    })
    .map_err(|e| Error::Recovery(format!("salvaging the damaged store: {}", e.0)))?;
    if let Some(message) = run.panicked {
        notes.push(format!("sled panicked while salvaging: {message}"));
        return Ok((BTreeMap::new(), 0));
    }
    let mut out = BTreeMap::new();
    let Some((last, records)) = run.data.split_last() else {
        // sled refused the store in the child: nothing to salvage.
        return Ok((out, 0));
    };
    let word = |b: &[u8]| -> Option<u64> { Some(u64::from_be_bytes(b.get(..8)?.try_into().ok()?)) };
    let max_key = word(last).ok_or_else(|| Error::Recovery("salvage report malformed".into()))?;
    for m in records {
        let (Some(seq), Some(&[t0, t1, note])) = (word(m), m.get(8..11)) else {
            return Err(Error::Recovery("salvage report malformed".into()));
        };
        out.insert(
            seq,
            Salvaged {
                value: m[11..].to_vec(),
                tag: u16::from_be_bytes([t0, t1]),
                recovery_note: note != 0,
            },
        );
    }
    Ok((out, max_key))
}

/// Moves the damaged store aside and builds a new one from what can still be trusted.
#[allow(clippy::too_many_arguments)]
fn recover(
    dir: &Path,
    options: &Options,
    schema: Arc<dyn Schema>,
    hwm: HighWaterMark,
    hw: u64,
    reason: String,
    db: Readable,
    scan_max_key: u64,
    mut notes: Vec<String>,
) -> Result<(Journal, OpenReport)> {
    tracing::warn!(dir = %dir.display(), %reason, "journal damaged; recovering into a new store");
    let (salvaged, salvage_max) = match db {
        Readable::Open(db) => {
            let r = catch_unwind(AssertUnwindSafe(|| salvage(&db, schema.as_ref())))
                .unwrap_or_else(|p| {
                    notes.push(format!(
                        "sled panicked while salvaging: {}",
                        panic_message(p)
                    ));
                    (BTreeMap::new(), 0)
                });
            // sled must be closed (its threads joined, its lock released) before the move.
            drop(db);
            r
        }
        Readable::InChild => {
            salvage_in_child(&options.sled_config(dir), schema.as_ref(), &mut notes)?
        }
        Readable::Nothing => (BTreeMap::new(), 0),
    };
    // Seed: the latest intact snapshot and the contiguous intact records after it; without a
    // snapshot, a contiguous run from the store's beginning (seq 1, or a previous recovery).
    let snapshot_tag = schema.snapshot_tag();
    let base = salvaged
        .iter()
        .rev()
        .find(|(_, s)| s.tag == snapshot_tag)
        .map(|(seq, _)| *seq)
        .or_else(|| {
            salvaged
                .iter()
                .next()
                .and_then(|(seq, s)| (*seq == 1 || s.recovery_note).then_some(*seq))
        });
    let mut seed: Vec<(u64, &Salvaged)> = Vec::new();
    if let Some(base) = base {
        seed = (base..)
            .zip(salvaged.range(base..))
            .take_while(|(expect, (seq, _))| expect == *seq)
            .map(|(_, (seq, s))| (*seq, s))
            .collect();
    }
    let seeded_from_snapshot_seq = seed
        .first()
        .filter(|(_, s)| s.tag == snapshot_tag)
        .map_or(0, |(seq, _)| *seq);
    let seed_end = seed.last().map_or(0, |(seq, _)| *seq);
    let highest_known = hw.max(salvage_max).max(scan_max_key).max(seed_end);
    let recovered_seq = highest_known + 1;
    let lost_from_seq = seed_end + 1;
    let lost_to_seq = recovered_seq - 1;

    // The new store is built complete in `<dir>.recovering`, then swapped in with two renames,
    // so a crash during recovery never leaves a half-built store where the journal is expected:
    // before the first rename the damaged store is still in place (and is recovered again);
    // between the renames `open` finds only `<dir>.recovering` and finishes the swap.
    let building = sibling(dir, "recovering");
    if building.exists() {
        std::fs::remove_dir_all(&building).map_err(io_err(&building))?;
    }
    let moved_aside_to = aside_name(dir);
    let note = schema.recovery_note(&RecoveryInfo {
        reason: reason.clone(),
        moved_aside_to: moved_aside_to.clone(),
        lost_from_seq,
        lost_to_seq,
        seeded_from_snapshot_seq,
    });
    // A note the schema would not accept or not recognise would make the rebuilt store fail its
    // own verification; refuse before anything is moved.
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
    let value = frame::encode(
        recovered_seq,
        note.tag,
        crate::now_ms(),
        &options.boot_id,
        &note.payload,
    );
    {
        create_dir_durably(&building)?;
        let (mut new_hwm, _) = HighWaterMark::open(&building)?;
        let db = open_sled(&options.sled_config(&building))?;
        let mut batch = sled::Batch::default();
        // Frames are copied byte-for-byte: payload fields unknown to this build survive.
        for (seq, s) in &seed {
            batch.insert(&frame::key(*seq), s.value.as_slice());
        }
        batch.insert(&frame::key(recovered_seq), value);
        db.apply_batch(batch)?;
        db.flush()?;
        sync_db_file(&building)?;
        sync_file(&building.join("conf"))?;
        crate::sync_dir(&building)?;
        new_hwm.store(recovered_seq, true)?;
    }
    drop(hwm);
    std::fs::rename(dir, &moved_aside_to).map_err(io_err(dir))?;
    std::fs::rename(&building, dir).map_err(io_err(&building))?;
    sync_parent(dir)?;
    let (journal, report) = Journal::open(dir, options.clone(), schema)?;
    if report.outcome != OpenOutcome::Clean {
        return Err(Error::Recovery(format!(
            "the rebuilt store did not verify cleanly: {:?}",
            report.outcome
        )));
    }
    notes.extend(report.notes);
    let outcome = OpenOutcome::Recovered {
        reason,
        moved_aside_to,
        lost_from_seq,
        lost_to_seq,
        seeded_from_snapshot_seq,
        recovered_seq,
    };
    tracing::warn!(?outcome, "journal recovered");
    Ok((
        journal,
        OpenReport {
            outcome,
            high_water_mark: Some(hw),
            notes,
            ..report
        },
    ))
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "journal".into());
    dir.with_file_name(format!("{name}.{suffix}"))
}

/// `<dir>.damaged-<unix seconds>`, with `-<n>` appended if that exists.
fn aside_name(dir: &Path) -> PathBuf {
    let base = sibling(dir, &format!("damaged-{}", crate::now_ms() / 1000));
    let mut target = base.clone();
    let mut n = 1;
    while target.exists() {
        target = PathBuf::from(format!("{}-{n}", base.display()));
        n += 1;
    }
    target
}

fn sync_parent(dir: &Path) -> Result<()> {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => crate::sync_dir(p),
        _ => crate::sync_dir(Path::new(".")),
    }
}
