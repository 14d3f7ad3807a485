//! Under strace, every acknowledged append is preceded by an fdatasync of sled's data file (and
//! of the high-water mark), and with `Options::unsafe_skip_fdatasync` it is not (the control).
//! With records large enough for sled's blob files, each new blob file and the `blobs/`
//! directory are synced *before* the data file that may point at them, and so is each blob's
//! second name in `blobs-kept/` (`src/blobs.rs`), which is removed only after a `db` sync.
//!
//! `harness = false`: the binary is both the test and the child it traces. Skipped, with one
//! printed line, when strace is not installed or may not trace; under `TR069_TEST_STRICT=1` (CI)
//! that is a failure instead.

mod support;

use std::process::Command;

use journal::{Journal, Options};

const APPENDS: usize = 20;

fn child(dir: &str, mode: &str) {
    let o = Options {
        unsafe_skip_fdatasync: mode == "unsafe",
        ..Options::with_boot_id("trace")
    };
    let (j, _) = Journal::open(dir, o, support::schema()).unwrap();
    println!("OPENED");
    for i in 0..APPENDS {
        // Above sled's blob threshold (a quarter of its 64 KiB segment): a blob file per record.
        let key = if mode == "blobs" {
            format!("{i}-{}", "b".repeat(20_000))
        } else {
            i.to_string()
        };
        let ack = j.append_blocking(vec![support::event(key)]).unwrap();
        println!("ACK {}", ack.last_seq);
    }
}

struct Counts {
    acks: usize,
    acks_after_db_sync: usize,
    acks_after_hwm_sync: usize,
    sync_file_range_on_db: usize,
    /// Acknowledgements whose commit synced a new blob file.
    acks_with_new_blob: usize,
    /// Of those, the ones whose blob files and `blobs/` were all synced before `db`.
    acks_with_blobs_synced_before_db: usize,
    /// Of those, the ones that linked the blob into `blobs-kept/` and synced it before `db`.
    acks_with_second_name_before_db: usize,
    /// Second names removed in a commit before its `db` sync (must stay 0).
    second_names_removed_before_db: usize,
}

fn trace(mode: &str) -> Option<Counts> {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("strace.log");
    let dir = tmp.path().join("j");
    let out = Command::new("strace")
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&log)
        .args([
            "-e",
            "trace=fdatasync,fsync,sync_file_range,write,link,linkat,unlink,unlinkat",
        ])
        .arg(std::env::current_exe().unwrap())
        .args(["--child"])
        .arg(&dir)
        .arg(mode)
        .output()
        .unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("ptrace") || err.contains("Operation not permitted") {
            test_tools::skip(format_args!("strace cannot trace here: {}", err.trim()));
            return None;
        }
        panic!("traced child failed: {err}");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let mut c = Counts {
        acks: 0,
        acks_after_db_sync: 0,
        acks_after_hwm_sync: 0,
        sync_file_range_on_db: 0,
        acks_with_new_blob: 0,
        acks_with_blobs_synced_before_db: 0,
        acks_with_second_name_before_db: 0,
        second_names_removed_before_db: 0,
    };
    let (mut opened, mut db_synced, mut hwm_synced) = (false, false, false);
    // In the current commit: a blob file synced, and whether every blob sync (files and the
    // directory) came before `db`'s.
    let (mut blob_synced, mut blob_dir_synced_before_db, mut blob_sync_after_db) =
        (false, false, false);
    let (mut linked_before_db, mut kept_synced_before_db) = (false, false);
    let db = format!("{}>", dir.join("db").display());
    let hwm = format!("{}>", dir.join("journal.hwm").display());
    let blobs_dir = format!("{}>", dir.join("blobs").display());
    let blob_file = format!("{}/", dir.join("blobs").display());
    let kept_dir = format!("{}>", dir.join("blobs-kept").display());
    let kept_file = format!("{}/", dir.join("blobs-kept").display());
    for line in text.lines() {
        let is_sync = line.contains("fdatasync(") || line.contains("fsync(");
        let ok = line.trim_end().ends_with("= 0");
        if line.contains("write(1") && line.contains("\"OPENED") {
            opened = true;
            db_synced = false;
            hwm_synced = false;
        } else if line.contains("write(1") && line.contains("\"ACK ") && opened {
            c.acks += 1;
            c.acks_after_db_sync += usize::from(db_synced);
            c.acks_after_hwm_sync += usize::from(hwm_synced);
            if blob_synced {
                c.acks_with_new_blob += 1;
                c.acks_with_blobs_synced_before_db +=
                    usize::from(blob_dir_synced_before_db && !blob_sync_after_db);
                c.acks_with_second_name_before_db +=
                    usize::from(linked_before_db && kept_synced_before_db);
            }
            db_synced = false;
            hwm_synced = false;
            (blob_synced, blob_dir_synced_before_db, blob_sync_after_db) = (false, false, false);
            (linked_before_db, kept_synced_before_db) = (false, false);
        } else if line.contains("link")
            && !line.contains("unlink")
            && ok
            && opened
            && line.contains(&kept_file)
        {
            linked_before_db |= !db_synced;
        } else if line.contains("unlink") && ok && opened && line.contains(&kept_file) {
            c.second_names_removed_before_db += usize::from(!db_synced);
        } else if is_sync && ok && opened && line.contains(&kept_dir) {
            kept_synced_before_db |= !db_synced;
        } else if is_sync && ok && opened && line.contains(&blob_file) {
            blob_synced = true;
            blob_sync_after_db |= db_synced;
        } else if is_sync && ok && opened && line.contains(&blobs_dir) {
            // A directory sync after `db` is allowed: it makes sled's removals durable.
            blob_dir_synced_before_db |= !db_synced;
        } else if is_sync && ok && line.contains(&db) {
            db_synced = true;
        } else if is_sync && ok && line.contains(&hwm) {
            hwm_synced = true;
        } else if line.contains("sync_file_range(") && line.contains(&db) {
            c.sync_file_range_on_db += 1;
        }
    }
    Some(c)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2], &args[3]);
        return;
    }
    if !test_tools::require_tool("strace", "apt-get install strace") {
        return;
    }
    let Some(safe) = trace("safe") else { return };
    assert_eq!(safe.acks, APPENDS);
    assert_eq!(
        safe.acks_after_db_sync, APPENDS,
        "an append was acknowledged without fdatasync of db"
    );
    assert_eq!(
        safe.acks_after_hwm_sync, APPENDS,
        "an append was acknowledged before the mark was synced"
    );
    assert!(
        safe.sync_file_range_on_db >= APPENDS,
        "sled's flush is expected to use sync_file_range"
    );
    let Some(blobs) = trace("blobs") else { return };
    assert_eq!(blobs.acks, APPENDS);
    assert_eq!(blobs.acks_after_db_sync, APPENDS);
    assert!(
        blobs.acks_with_new_blob > 0,
        "no commit wrote a blob file, so the order was not checked"
    );
    assert_eq!(
        blobs.acks_with_blobs_synced_before_db, blobs.acks_with_new_blob,
        "a commit synced `db` before its new blob files and their directory entry"
    );
    assert_eq!(
        blobs.acks_with_second_name_before_db, blobs.acks_with_new_blob,
        "a commit synced `db` before its new blobs' second names in blobs-kept/"
    );
    assert_eq!(
        blobs.second_names_removed_before_db, 0,
        "a blob's second name was removed before the commit's `db` sync"
    );
    let Some(control) = trace("unsafe") else {
        return;
    };
    assert_eq!(control.acks, APPENDS);
    assert_eq!(
        control.acks_after_db_sync, 0,
        "the control must not fdatasync the db"
    );
    eprintln!(
        "fsync_trace ok: {} acks each after fdatasync(db) and fdatasync(hwm); {} of {} commits \
         with a new blob synced it and blobs/ before db, {} its second name; control: {} of {} \
         after a db sync",
        safe.acks,
        blobs.acks_with_blobs_synced_before_db,
        blobs.acks_with_new_blob,
        blobs.acks_with_second_name_before_db,
        control.acks_after_db_sync,
        control.acks
    );
}
