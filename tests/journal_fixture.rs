//! Journals written by the code before the per-device core redesign still open, read and fold to
//! the same state after it. The fixtures under `tests/fixtures/journal-before-core/` were made by
//! commit 3ac832a (the demo's data directory: a full provisioning + firmware history; and one
//! compacted past a snapshot), and the `.golden` files are what that build printed for them.
//! Nothing here may be regenerated with today's code: a difference is a format break.

use std::path::{Path, PathBuf};
use std::process::Command;

use prost::Message as _;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/journal-before-core"
);

/// A writable copy of a fixture's data directory (opening a store may touch its files).
fn copy_of(fixture: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    test_tools::copy_dir(
        &Path::new(FIXTURES).join(fixture).join("journal"),
        &data.join("journal"),
    );
    (tmp, data)
}

fn golden(fixture: &str, name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(fixture).join(name)).unwrap()
}

fn cli(data: &Path, args: &[&str]) -> String {
    // An empty config file: every default, as the goldens were made.
    let config = data.join("config.toml");
    std::fs::write(&config, "").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tr069-client"))
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(data)
        .arg("journal")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "journal {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Fields `journal state` gained after the fixtures were made: additions to the JSON, which a
/// reader of the old output never sees. Nothing else may differ.
const FIELDS_ADDED_SINCE: &[&str] = &["connection_requests_refused"];

/// Settings (or setting-name prefixes) added after the fixtures were made.
const SETTINGS_ADDED_SINCE: &[&str] = &[
    "stun-",
    "xmpp-",
    "udp-connection-request-port",
    "connection-request-allowed-jabber-ids",
    "connection-request-xmpp-connection",
];

fn same_output(args: &[&str], got: &str, want: &str) -> bool {
    if args[0] != "state" {
        return got == want;
    }
    let (Ok(mut got), Ok(want)) = (
        serde_json::from_str::<serde_json::Value>(got),
        serde_json::from_str::<serde_json::Value>(want),
    ) else {
        return false;
    };
    if let Some(map) = got.as_object_mut() {
        for field in FIELDS_ADDED_SINCE {
            if want.get(field).is_none() {
                map.remove(*field);
            }
        }
    }
    // Settings added since (STUN/UDP and XMPP connection requests) show with their defaults.
    if let (Some(settings), Some(old)) = (
        got.get_mut("settings").and_then(|s| s.as_object_mut()),
        want.get("settings").and_then(|s| s.as_object()),
    ) {
        settings.retain(|name, _| {
            old.contains_key(name) || !SETTINGS_ADDED_SINCE.iter().any(|p| name.starts_with(p))
        });
    }
    got == want
}

fn check_cli(fixture: &str) {
    for (args, file) in [
        (&["export"][..], "export.golden"),
        (&["timeline"][..], "timeline.golden"),
        (&["state"][..], "state.golden"),
        (&["state", "--at", "40"][..], "stateat40.golden"),
    ] {
        let (_tmp, data) = copy_of(fixture);
        let got = cli(&data, args);
        let want = golden(fixture, file);
        assert!(
            same_output(args, &got, &want),
            "{fixture}: `journal {}` differs from the pre-redesign output\n--- want\n{want}\n--- got\n{got}",
            args.join(" ")
        );
    }
}

fn check_fold(fixture: &str) {
    let (_tmp, data) = copy_of(fixture);
    let (journal, _) = tr069_client::records::Journal::open(
        data.join("journal"),
        journal::Options::with_boot_id("fixture-check"),
    )
    .unwrap();
    let state = tr069_client::state::AgentState::from_journal(&journal).unwrap();
    let hex: String = state
        .to_snapshot()
        .encode_to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex,
        golden(fixture, "snapshot.hex.golden").trim(),
        "{fixture}: the folded state differs from the one the pre-redesign build folded"
    );
}

#[test]
fn the_demo_journal_reads_and_folds_as_before() {
    check_cli("demo");
    check_fold("demo");
}

#[test]
fn a_compacted_journal_reads_and_folds_as_before() {
    check_cli("compacted");
    check_fold("compacted");
}
