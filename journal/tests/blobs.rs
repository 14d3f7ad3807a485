//! A blob sled removed before the data file pointing past it was durable (`src/blobs.rs`).
//!
//! A power cut can leave the data file `db` as of an earlier commit while keeping sled's later
//! removal of a blob that earlier `db` still points at. The test builds that state by hand: a
//! copy of the store taken after a commit is the durable `db`; the blob sled removed later is
//! then removed from the copy. With the blob's second name in `blobs-kept/` (taken by the
//! journal when it synced the blob) the copy opens clean with every acknowledged record; the
//! control, the same state without the second name, loses them.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use journal::{Journal, OpenOutcome, Options};

use test_tools::copy_dir;

fn opts() -> Options {
    Options {
        segment_size: 64 << 10,
        ..Options::with_boot_id("boot-A")
    }
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A store whose first snapshot (40 KB, so a blob) is followed by three events: 9 records.
/// Returns the blobs after the close.
fn first_life(dir: &Path) -> BTreeSet<String> {
    let (j, _) = Journal::open(dir, opts(), support::schema()).unwrap();
    for i in 0..5 {
        j.append_blocking(vec![support::event(format!("e{i}"))])
            .unwrap();
    }
    j.append_snapshot_blocking(support::snapshot(vec![b'a'; 40_000]), j.last_seq())
        .unwrap();
    for i in 5..8 {
        j.append_blocking(vec![support::event(format!("e{i}"))])
            .unwrap();
    }
    j.close();
    names(&dir.join("blobs"))
}

/// Appends snapshots and events until sled has removed every blob in `first`; returns the
/// number of rounds it took.
fn second_life_until_removed(dir: &Path, first: &BTreeSet<String>) -> u32 {
    let (j, r) = Journal::open(dir, opts(), support::schema()).unwrap();
    assert_eq!(r.outcome, OpenOutcome::Clean);
    for round in 0..40u8 {
        j.append_snapshot_blocking(
            support::snapshot(vec![b'b'.wrapping_add(round); 40_000]),
            j.last_seq(),
        )
        .unwrap();
        for i in 0..300 {
            j.append_blocking(vec![support::event(format!("f{round}-{i}-{:0>100}", i))])
                .unwrap();
        }
        if names(&dir.join("blobs")).is_disjoint(first) {
            j.close();
            return u32::from(round) + 1;
        }
    }
    panic!("sled never removed the first life's blobs");
}

/// The durable state a power cut could leave: `durable` (a copy taken after the first life)
/// with the blobs sled removed during the second life gone as well.
fn cut_state(durable: &Path, live: &Path) {
    let now = names(&live.join("blobs"));
    for blob in names(&durable.join("blobs")) {
        if !now.contains(&blob) {
            std::fs::remove_file(durable.join("blobs").join(&blob)).unwrap();
        }
    }
}

#[test]
fn a_blob_sled_removed_before_the_data_file_was_durable_comes_back() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("j");
    let first = first_life(&live);
    assert!(!first.is_empty(), "the snapshot was not written as a blob");
    assert_eq!(names(&live.join("blobs-kept")), first);
    let durable = tmp.path().join("durable");
    copy_dir(&live, &durable);
    let control = tmp.path().join("control");
    copy_dir(&live, &control);
    std::fs::remove_dir_all(control.join("blobs-kept")).unwrap();

    let rounds = second_life_until_removed(&live, &first);
    println!("sled removed the first life's blobs after {rounds} rounds");
    cut_state(&durable, &live);
    cut_state(&control, &live);
    assert!(names(&durable.join("blobs")).is_disjoint(&first));

    let (j, r) = Journal::open(&durable, opts(), support::schema()).unwrap();
    assert_eq!(r.outcome, OpenOutcome::Clean);
    let seqs: Vec<u64> = j.iter_from(0).map(|f| f.unwrap().seq).collect();
    assert_eq!(seqs, (1..=9).collect::<Vec<_>>());
    assert_eq!(j.verify().unwrap(), 9);
    j.close();

    let (j, r) = Journal::open(&control, opts(), support::schema()).unwrap();
    let OpenOutcome::Recovered { lost_from_seq, .. } = r.outcome else {
        panic!("the control lost nothing: {:?}", r.outcome)
    };
    assert!(lost_from_seq <= 9, "{:?}", r.outcome);
    j.close();
}

#[test]
fn second_names_follow_the_blobs_sled_keeps() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let first = first_life(&dir);
    second_life_until_removed(&dir, &first);
    // What the last commit removed is released at the next one; the close syncs nothing more.
    let (j, _) = Journal::open(&dir, opts(), support::schema()).unwrap();
    j.append_blocking(vec![support::event("last")]).unwrap();
    let blobs = names(&dir.join("blobs"));
    let kept = names(&dir.join("blobs-kept"));
    assert!(
        kept.is_subset(&blobs) && blobs.len() - kept.len() <= 2,
        "blobs {blobs:?}, kept {kept:?}"
    );
    j.close();
    // A second name whose blob is newer than sled's log (written by a commit a cut took back):
    // linked back before sled opens, removed by sled's own clean-up, then pruned.
    let newer = "999999999999";
    std::fs::write(dir.join("blobs-kept").join(newer), b"never acknowledged").unwrap();
    let (j, r) = Journal::open(&dir, opts(), support::schema()).unwrap();
    assert_eq!(r.outcome, OpenOutcome::Clean);
    assert!(!names(&dir.join("blobs")).contains(newer));
    assert!(!names(&dir.join("blobs-kept")).contains(newer));
    j.close();
}
