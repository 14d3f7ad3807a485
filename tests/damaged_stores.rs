//! Damaged journal stores under the binary users install: each store in
//! `tests/fixtures/damaged-stores/` is opened by a real `tr069-client run`, which must set it
//! aside (moved to `journal.damaged-*`, a `JournalRecovered` record saying what was lost), come
//! up, answer `print` and stop cleanly; the store it leaves verifies.
//!
//! The fixtures are stores sled or the journal's own checks refuse: power cuts of the control
//! experiment (no fdatasync; `POWER_CUT_SAVE_DAMAGED`, see `chaos-tests/tests/power_cut.rs`) and
//! bytes flipped or files truncated in a store of the agent's records (`make_fixtures` below).
//! Some of them make sled panic. A binary that unwinds (the one Cargo builds for these tests, and
//! the release profile's) catches that with `catch_unwind`; a binary built with `panic = "abort"`
//! runs sled's open and scan in a forked child whose reported panic is the verdict
//! (`journal/src/isolate.rs`). Both must set every fixture aside:
//! `TR069_CLIENT_BIN=target/release/tr069-client` runs the same checks against a
//! `cargo build --release` binary (`.ci/run` does).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/damaged-stores");

fn binary() -> PathBuf {
    std::env::var_os("TR069_CLIENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tr069-client")))
}

/// Kills the daemon if a check fails while it runs.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(dir: &Path) -> PathBuf {
    let boot = dir.join("boot_id");
    std::fs::write(&boot, "5e1f0000-aaaa-bbbb-cccc-000000000001\n").unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nboot_id_file = {:?}\n\n[connection_request]\nlisten_address = \"127.0.0.1\"\n\n\
             [settings]\nconnection-request-port = 0\n",
            dir.join("data").display().to_string(),
            boot.display().to_string()
        ),
    )
    .unwrap();
    config
}

fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("running tr069-client")
}

/// One fixture through the daemon. Returns the recovery's reason.
fn daemon_sets_aside(fixture: &Path) -> String {
    daemon_sets_aside_after(fixture, Close::Crash).0
}

/// How the store's last run ended, as the next start sees it.
#[derive(Clone, Copy, PartialEq)]
enum Close {
    /// No mark: a crash or power cut (the fixtures as made).
    Crash,
    /// The mark a clean close leaves (`journal/src/open.rs`, `CLEAN_CLOSE`), so an abort build
    /// skips the store check in a child.
    Clean,
}

/// Like `daemon_sets_aside`; with `Close::Clean` one death at start is allowed (an abort build
/// whose sled panics on the store), and the mark must be gone after it. Returns the reason and
/// whether the first start died.
fn daemon_sets_aside_after(fixture: &Path, close: Close) -> (String, bool) {
    let name = fixture.file_name().unwrap().to_string_lossy().into_owned();
    let tmp = tempfile::tempdir().unwrap();
    let config = write_config(tmp.path());
    let data = tmp.path().join("data");
    test_tools::copy_dir(&fixture.join("journal"), &data.join("journal"));
    let mark = data.join("journal").join("clean-close");
    if close == Close::Clean {
        std::fs::write(&mark, b"").unwrap();
    }
    let log = tmp.path().join("daemon.log");
    let spawn = || {
        Daemon(
            Command::new(binary())
                .arg("--config")
                .arg(&config)
                .arg("run")
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&log)
                        .unwrap(),
                )
                .spawn()
                .expect("starting the daemon"),
        )
    };
    let mut daemon = spawn();
    let mut died = false;
    // The polling below runs `print`, which opens the store itself while no daemon answers: let
    // the daemon take the mark first, so that the start under test is the daemon's.
    while close == Close::Clean && mark.exists() && daemon.0.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();
    // Up: the control socket answers (print --json says daemon_running). No timing assertion:
    // the deadline only stops a hung test.
    let deadline = Instant::now() + Duration::from_secs(120);
    let view: serde_json::Value = loop {
        if let Some(status) = daemon.0.try_wait().unwrap() {
            if close == Close::Clean && !died {
                // The supervisor's restart: the mark must be gone, or this would loop.
                assert!(
                    !mark.exists(),
                    "{name}: died at start ({status}) and left the clean-close mark:\n{}",
                    logs()
                );
                died = true;
                daemon = spawn();
                continue;
            }
            panic!(
                "{name}: the daemon died at start ({status}) instead of setting the store aside:\n{}",
                logs()
            );
        }
        // Ask only once the daemon listens. `print` with no daemon opens the store itself: racing
        // a daemon that aborts at start, it could repair the store and leave its own clean-close
        // mark before the check above sees the death (a CI rehearsal of 2026-12-04 did).
        if std::os::unix::net::UnixStream::connect(data.join("control.sock")).is_err() {
            assert!(
                Instant::now() < deadline,
                "{name}: the daemon never listened:\n{}",
                logs()
            );
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let out = cli(&config, &["print", "--json"]);
        if out.status.success() {
            let view: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("print --json is JSON");
            if view["daemon_running"] == true {
                break view;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the daemon never answered:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let recoveries = view["journal_recoveries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        !recoveries.is_empty(),
        "{name}: the daemon came up without saying the journal was recovered: {view}"
    );
    let reason = recoveries[recoveries.len() - 1]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let aside: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().to_string_lossy().into_owned();
            n.starts_with("journal.damaged-").then_some(n)
        })
        .collect();
    assert_eq!(aside.len(), 1, "{name}: set aside as {aside:?}");
    // Stops cleanly on SIGTERM.
    // SAFETY: kill(2) on the child we spawned and still own.
    assert_eq!(
        unsafe { libc::kill(daemon.0.id() as i32, libc::SIGTERM) },
        0
    );
    let status = daemon.0.wait().unwrap();
    assert!(
        status.success(),
        "{name}: stopped with {status}:\n{}",
        logs()
    );
    // sled's own panics are caught (the panic hook still prints them); no other may happen.
    for line in logs().lines().filter(|l| l.contains("panicked at")) {
        assert!(
            line.contains("/sled-"),
            "{name}: a panic outside sled:\n{}",
            logs()
        );
    }
    let verify = cli(&config, &["journal", "verify"]);
    assert!(
        verify.status.success(),
        "{name}: the store the daemon left does not verify: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    (reason, died)
}

#[test]
fn every_damaged_store_is_set_aside_and_the_daemon_starts() {
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .expect("tests/fixtures/damaged-stores")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("journal").is_dir())
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 5, "fixtures missing: {fixtures:?}");
    let mut panicking = 0;
    for fixture in &fixtures {
        let expected = std::fs::read_to_string(fixture.join("REASON")).unwrap_or_default();
        let reason = daemon_sets_aside(fixture);
        // The fixture was kept for this kind of damage; the daemon must find the same.
        let kind = |r: &str| r.split(':').next().unwrap_or_default().trim().to_owned();
        assert_eq!(
            kind(&reason).split_whitespace().take(3).collect::<Vec<_>>(),
            kind(expected.trim())
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>(),
            "{}: recovered for another reason",
            fixture.display()
        );
        panicking += usize::from(reason.contains("panicked"));
        eprintln!("{}: set aside ({reason})", fixture.display());
    }
    assert!(
        panicking >= 2,
        "no fixture makes sled panic any more: the set proves nothing"
    );
}

#[test]
fn damage_after_a_clean_close_costs_at_most_one_abort_never_a_loop() {
    // After a clean close an abort build skips the store check in a child (it would open sled a
    // second time). Damage that appears after that close and makes sled panic then aborts one
    // start; that start took the mark first, so the next one checks and sets the store aside.
    let unwinding = std::env::var_os("TR069_CLIENT_BIN").is_none();
    let mut deaths = 0;
    for name in [
        "flip-sled-panic-open",
        "flip-sled-panic-read",
        "flip-sled-refused",
        "truncate-rolled-back",
    ] {
        let fixture = Path::new(FIXTURES).join(name);
        let (reason, died) = daemon_sets_aside_after(&fixture, Close::Clean);
        if unwinding {
            assert!(
                !died,
                "{name}: a start died, but this build catches sled's panics"
            );
        } else {
            // The release binary skipped the check, so exactly the stores sled panics on cost it
            // one start.
            assert_eq!(
                died,
                reason.contains("panicked"),
                "{name}: set aside for {reason}"
            );
        }
        deaths += usize::from(died);
        eprintln!("{name}: set aside ({reason}), first start died: {died}");
    }
    if !unwinding {
        assert!(deaths >= 2, "no fixture tested the skipped check");
    }
}

/// `journal report` on a damaged data directory: the store is set aside, the report is written
/// and says so — in its JSON lines (`set_aside` with the reason and where the store went) and in
/// the page's data — and what was kept still renders.
#[test]
fn the_report_of_a_damaged_store_says_what_was_set_aside() {
    for name in ["flip-sled-panic-open", "truncate-rolled-back"] {
        let fixture = Path::new(FIXTURES).join(name);
        let tmp = tempfile::tempdir().unwrap();
        let config = write_config(tmp.path());
        test_tools::copy_dir(
            &fixture.join("journal"),
            &tmp.path().join("data").join("journal"),
        );
        let html = tmp.path().join("report.html");
        let jsonl = tmp.path().join("report.jsonl");
        // The router's build (default features, as CI's release binary) has no page: it says
        // so, names the feature, and leaves the store alone for the JSON-lines run below.
        let has_page = binary_has_feature("html-report");
        if !has_page {
            let out = cli(
                &config,
                &["journal", "report", "--html", html.to_str().unwrap()],
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && stderr.contains("feature `html-report`"),
                "{name}: --html in a build without the page: {stderr}"
            );
            assert!(!html.exists(), "{name}: a page was written");
        }
        let mut args = vec!["journal", "report", "--jsonl", jsonl.to_str().unwrap()];
        if has_page {
            args.extend(["--html", html.to_str().unwrap()]);
        }
        let out = cli(&config, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name}: journal report failed: {stderr}"
        );
        assert!(
            stderr.contains("the damaged store was set aside at"),
            "{name}: no note on stderr: {stderr}"
        );
        let lines = std::fs::read_to_string(&jsonl).unwrap();
        let head: serde_json::Value =
            serde_json::from_str(lines.lines().next().expect("a report line")).unwrap();
        assert_eq!(head["lane"], "report", "{name}: {head}");
        let aside = &head["set_aside"];
        assert!(
            aside["reason"].as_str().is_some_and(|r| !r.is_empty()),
            "{name}: no reason in {head}"
        );
        let moved = aside["moved_aside_to"].as_str().unwrap_or_default();
        assert!(
            moved.contains("journal.damaged-") && Path::new(moved).exists(),
            "{name}: set aside to {moved:?}"
        );
        if has_page {
            let page = std::fs::read_to_string(&html).unwrap();
            assert!(
                page.len() > 1000 && page.contains("D.set_aside"),
                "{name}: no banner code"
            );
        }
    }
}

/// Whether the binary under test was built with a cargo feature (`--version` lists them).
fn binary_has_feature(feature: &str) -> bool {
    let out = Command::new(binary()).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.strip_prefix("features:"))
        .any(|l| l.split_whitespace().any(|f| f == feature))
}

/// Makes the flipped-byte and truncated-file fixtures (the power-cut ones come from
/// `POWER_CUT_SAVE_DAMAGED`): `DAMAGED_STORES_OUT=<dir> cargo test --test damaged_stores
/// make_fixtures -- --ignored`. Keeps the first stores of each kind of damage.
#[test]
#[ignore]
fn make_fixtures() {
    use journal::{OpenOutcome, Options};
    use tr069_client::records::Journal;
    use tr069_client::records::proto::{
        AgentSnapshot, EventRaised, ParameterValue, ParametersSet, Setting,
    };

    let out = PathBuf::from(std::env::var("DAMAGED_STORES_OUT").expect("DAMAGED_STORES_OUT"));
    let opts = || Options {
        max_live_bytes: 16 << 10,
        history_records: 20,
        ..Options::with_boot_id("5e1f0000-aaaa-bbbb-cccc-000000000000")
    };
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    let (j, _) = Journal::open(&template, opts()).unwrap();
    for i in 0..300u64 {
        let record = if i % 5 == 0 {
            ParametersSet {
                values: vec![ParameterValue {
                    name: format!("Device.NAT.PortMapping.{i}.Description"),
                    value: "x".repeat((i % 60) as usize),
                    xsd_type: "xsd:string".into(),
                }],
                parameter_key: format!("pk{i}"),
                ..Default::default()
            }
            .into()
        } else {
            EventRaised {
                code: "4 VALUE CHANGE".into(),
                command_key: String::new(),
            }
            .into()
        };
        let ack = j.append_blocking(vec![record]).unwrap();
        if ack.needs_snapshot || i == 290 {
            let mut snapshot = AgentSnapshot::default();
            if i == 290 {
                for p in 0..200 {
                    snapshot.settings.insert(
                        format!("x-{p}"),
                        Setting {
                            value: "v".repeat(40),
                            secret: false,
                        },
                    );
                }
            }
            j.append_snapshot_blocking(snapshot, ack.last_seq).unwrap();
        }
    }
    j.close();
    // A damaged store is what a crash or power cut leaves: no clean-close mark.
    std::fs::remove_file(template.join("clean-close")).unwrap();
    let mut files = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if !p.ends_with("journal.hwm") && std::fs::metadata(&p).unwrap().len() > 0 {
                out.push(p);
            }
        }
    }
    walk(&template, &mut files);
    files.sort();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !info.location().is_some_and(|l| l.file().contains("/sled-")) {
            default_hook(info);
        }
    }));
    let mut state: u64 = 0x5eed_0002;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut kept: BTreeMap<String, u32> = BTreeMap::new();
    for iter in 0..400 {
        let dir = tmp.path().join(format!("j{iter}"));
        test_tools::copy_dir(&template, &dir);
        let f = &files[(next() % files.len() as u64) as usize];
        let target = dir.join(f.strip_prefix(&template).unwrap());
        let mut bytes = std::fs::read(&target).unwrap();
        let what = if next() % 10 < 6 {
            for _ in 0..1 + next() % 4 {
                let off = (next() % bytes.len() as u64) as usize;
                bytes[off] ^= 1 << (next() % 8);
            }
            "flip"
        } else {
            bytes.truncate((next() % bytes.len() as u64) as usize);
            "truncate"
        };
        std::fs::write(&target, &bytes).unwrap();
        let copy = tmp.path().join(format!("c{iter}"));
        test_tools::copy_dir(&dir, &copy);
        let (j, report) = Journal::open(&dir, opts()).unwrap();
        j.close();
        let OpenOutcome::Recovered { reason, .. } = report.outcome else {
            continue;
        };
        let kind = if reason.contains("panicked opening") {
            "sled-panic-open"
        } else if reason.contains("panicked reading") {
            "sled-panic-read"
        } else if reason.contains("could not open") {
            "sled-refused"
        } else if reason.contains("damaged record") {
            "checksum"
        } else {
            "rolled-back"
        };
        let n = kept.entry(kind.to_owned()).or_default();
        if *n >= 2 {
            continue;
        }
        *n += 1;
        let name = format!("{kind}-{what}-{n}");
        let dest = out.join(&name);
        test_tools::copy_dir(&copy, &dest.join("journal"));
        std::fs::write(dest.join("REASON"), format!("{reason}\n")).unwrap();
        eprintln!("{name}: {reason}");
    }
    eprintln!("kept: {kept:?}");
}
