//! Under strace, every acknowledged append is preceded by an fdatasync of sled's data file (and
//! of the high-water mark), and with `Options::unsafe_skip_fdatasync` it is not (the control).
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
        let ack = j
            .append_blocking(vec![support::event(i.to_string())])
            .unwrap();
        println!("ACK {}", ack.last_seq);
    }
}

struct Counts {
    acks: usize,
    acks_after_db_sync: usize,
    acks_after_hwm_sync: usize,
    sync_file_range_on_db: usize,
}

fn trace(mode: &str) -> Option<Counts> {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("strace.log");
    let dir = tmp.path().join("j");
    let out = Command::new("strace")
        .args(["-f", "-y", "-qq", "-o"])
        .arg(&log)
        .args(["-e", "trace=fdatasync,fsync,sync_file_range,write"])
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
    };
    let (mut opened, mut db_synced, mut hwm_synced) = (false, false, false);
    let db = format!("{}>", dir.join("db").display());
    let hwm = format!("{}>", dir.join("journal.hwm").display());
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
            db_synced = false;
            hwm_synced = false;
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
    let Some(control) = trace("unsafe") else {
        return;
    };
    assert_eq!(control.acks, APPENDS);
    assert_eq!(
        control.acks_after_db_sync, 0,
        "the control must not fdatasync the db"
    );
    eprintln!(
        "fsync_trace ok: {} acks each after fdatasync(db) and fdatasync(hwm); control: {} of {} after a db sync",
        safe.acks, control.acks_after_db_sync, control.acks
    );
}
