//! The `tr069-client` binary's operator commands, run for real on a temporary data directory
//! (no daemon runs, so every command opens the journal itself).

use std::path::PathBuf;
use std::process::{Command, Output};

struct Env {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Env {
    fn new() -> Env {
        Env::with_extra("")
    }

    fn with_extra(extra: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let boot = dir.path().join("boot_id");
        std::fs::write(&boot, "0f3c2a1b-1111-2222-3333-444455556666\n").expect("boot id");
        let config = dir.path().join("config.toml");
        let text = format!(
            "data_dir = {:?}\nboot_id_file = {:?}\n{extra}",
            dir.path().join("data").display().to_string(),
            boot.display().to_string()
        );
        std::fs::write(&config, text).expect("config");
        Env { dir, config }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tr069-client"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .expect("run tr069-client")
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 stdout")
    }

    /// Runs and expects exit code `code`; returns stderr.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

#[test]
fn set_print_get_and_masking() {
    let env = Env::new();
    // Reading a fresh data directory shows the defaults and creates nothing.
    let text = env.ok(&["print"]);
    assert!(
        text.starts_with("Flags: X - disabled\n 0 X  enabled=no"),
        "{text}"
    );
    assert!(text.contains("status=disabled"), "{text}");
    assert!(!env.data_dir().join("journal").exists());

    env.ok(&[
        "set",
        "acs-url=https://acs.example.com:7547/cwmp",
        "enabled=yes",
        "periodic-inform-interval=1h",
        "password=hunter2",
        "username=cpe user",
    ]);
    let text = env.ok(&["print"]);
    assert!(
        text.contains("enabled=yes acs-url=https://acs.example.com:7547/cwmp"),
        "{text}"
    );
    assert!(text.contains("periodic-inform-interval=1h"), "{text}");
    assert!(text.contains("password=***"), "{text}");
    assert!(text.contains("username=\"cpe user\""), "{text}");
    assert!(
        text.contains("status=running last-session-error=\"\" retry-count=0"),
        "{text}"
    );
    assert!(
        text.contains(r#"owed-events="0 BOOTSTRAP""#),
        "a new ACS URL owes BOOTSTRAP: {text}"
    );
    assert!(text.contains("daemon=not-running"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    for line in text.lines() {
        assert!(line.chars().count() <= 100, "line too long: {line}");
    }

    assert_eq!(env.ok(&["get", "password"]), "***\n");
    assert_eq!(env.ok(&["get", "periodic-inform-interval"]), "1h\n");
    assert_eq!(env.ok(&["get", "retry-count"]), "0\n");
    assert_eq!(env.ok(&["get", "status"]), "running\n");
    assert_eq!(env.ok(&["get", "last-session-error"]), "\n");

    let json: serde_json::Value =
        serde_json::from_str(&env.ok(&["print", "--json"])).expect("print --json is JSON");
    assert_eq!(json["settings"]["periodic-inform-interval"], "1h");
    assert_eq!(json["settings"]["password"], "***");
    assert_eq!(json["status"], "running");
    assert_eq!(json["owed_events"][0]["code"], "0 BOOTSTRAP");

    let export = env.ok(&["journal", "export", "--json"]);
    assert!(!export.contains("hunter2"), "{export}");
    let mut lines = 0;
    for line in export.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["seq"].is_u64(), "{line}");
        lines += 1;
    }
    assert_eq!(
        lines, 6,
        "5 settings and the BOOTSTRAP, in one batch: {export}"
    );

    // Setting the same values again changes nothing.
    assert_eq!(
        env.ok(&["set", "enabled=true", "periodic-inform-interval=3600"]),
        "nothing changed\n"
    );
    assert_eq!(env.ok(&["journal", "export"]).lines().count(), 6);
}

#[test]
fn bad_input_exits_2_and_names_the_setting_and_form() {
    let env = Env::new();
    env.ok(&["set", "enabled=yes"]);
    let err = env.fails(
        &[
            "set",
            "acs-url=https://acs/",
            "periodic-inform-interval=soon",
        ],
        2,
    );
    assert!(err.contains(r#"invalid value "soon" for periodic-inform-interval: expected a duration such as 30s, 15m, 1h, 1d or 1h30m"#), "{err}");
    // All or nothing: the valid item was not applied either.
    assert_eq!(env.ok(&["get", "acs-url"]), "\n");

    let err = env.fails(&["set", "enabled=maybe"], 2);
    assert!(
        err.contains("enabled") && err.contains("yes or no"),
        "{err}"
    );
    let err = env.fails(&["set", "password=\u{1}bad"], 2);
    assert!(
        err.contains("password") && !err.contains("bad"),
        "secret not echoed: {err}"
    );
    let err = env.fails(&["set", "colour=red"], 2);
    assert!(
        err.contains(r#"unknown setting "colour""#) && err.contains("acs-url"),
        "{err}"
    );
    let err = env.fails(&["set", "enabled"], 2);
    assert!(err.contains("name=value"), "{err}");
    let err = env.fails(&["get", "colour"], 2);
    assert!(
        err.contains("unknown property") && err.contains("retry-count"),
        "{err}"
    );
    let err = env.fails(&["set", "retry-count=3"], 2);
    assert!(err.contains("read-only"), "{err}");
    env.fails(&["frobnicate"], 2);
}

#[test]
fn reset_timeline_state_verify() {
    let env = Env::new();
    env.ok(&["set", "enabled=yes"]); // #1
    env.ok(&["set", "acs-url=https://acs.example.com/"]); // #2, #3 (BOOTSTRAP)
    env.ok(&["set", "periodic-inform-interval=15m"]); // #4
    env.ok(&["reset-tr069-config"]); // #5 ConfigReset, #6 BOOTSTRAP

    let text = env.ok(&["print"]);
    assert!(
        text.contains("enabled=no acs-url=\"\""),
        "defaults after reset: {text}"
    );
    assert!(text.contains("periodic-inform-interval=1d"), "{text}");
    assert!(text.contains(r#"owed-events="0 BOOTSTRAP""#), "{text}");

    let timeline = env.ok(&["journal", "timeline"]);
    let lines: Vec<&str> = timeline.lines().collect();
    assert_eq!(lines.len(), 6, "{timeline}");
    assert!(
        lines[4].contains("     5 0f3c2a1b"),
        "seq and boot id prefix: {}",
        lines[4]
    );
    assert!(lines[4].to_lowercase().contains("reset"), "{}", lines[4]);
    assert!(lines[5].contains("0 BOOTSTRAP"), "{}", lines[5]);
    assert!(
        lines[0].starts_with("20") && lines[0].contains('T'),
        "time first: {}",
        lines[0]
    );

    let at2: serde_json::Value =
        serde_json::from_str(&env.ok(&["journal", "state", "--at", "2"])).unwrap();
    assert_eq!(at2["settings"]["enabled"], "yes");
    assert_eq!(at2["settings"]["acs-url"], "https://acs.example.com/");
    assert_eq!(at2["settings"]["periodic-inform-interval"], "1d");
    assert_eq!(at2["last_seq"], 2);
    assert_eq!(
        at2["owed_events"].as_array().unwrap().len(),
        0,
        "BOOTSTRAP is #3: {at2}"
    );
    let at4: serde_json::Value =
        serde_json::from_str(&env.ok(&["journal", "state", "--at", "4"])).unwrap();
    assert_eq!(at4["settings"]["periodic-inform-interval"], "15m");
    assert_eq!(at4["owed_events"][0]["code"], "0 BOOTSTRAP");
    let now: serde_json::Value = serde_json::from_str(&env.ok(&["journal", "state"])).unwrap();
    assert_eq!(now["settings"]["enabled"], "no");
    let future: serde_json::Value =
        serde_json::from_str(&env.ok(&["journal", "state", "--at", "2999-01-01T00:00:00Z"]))
            .unwrap();
    assert_eq!(future["last_seq"], 6);
    let err = env.fails(&["journal", "state", "--at", "yesterday"], 2);
    assert!(err.contains("--at") && err.contains("RFC 3339"), "{err}");

    let verify = env.ok(&["journal", "verify"]);
    assert!(verify.contains("6 records"), "{verify}");

    // The journal commands work on a copy of the data directory.
    let copy = env.dir.path().join("copy");
    test_tools::copy_dir(&env.data_dir(), &copy);
    let copied = env.ok(&["--data-dir", copy.to_str().unwrap(), "journal", "timeline"]);
    assert_eq!(copied, timeline);
    // A missing data directory is an error, not a new empty journal.
    let missing = env.dir.path().join("nothing-here");
    let err = env.fails(
        &["--data-dir", missing.to_str().unwrap(), "journal", "verify"],
        1,
    );
    assert!(err.contains("no journal"), "{err}");
    assert!(!missing.exists());
}

#[test]
fn inform_now_needs_a_daemon() {
    let env = Env::new();
    let err = env.fails(&["inform-now"], 1);
    assert!(err.contains("no daemon is running"), "{err}");
}

#[test]
fn factory_settings_come_from_the_config_file() {
    let env = Env::with_extra(
        "[settings]\nperiodic-inform-interval = \"2h\"\nacs-url = \"https://factory.example.com/\"\n",
    );
    assert_eq!(env.ok(&["get", "periodic-inform-interval"]), "2h\n");
    env.ok(&["set", "periodic-inform-interval=30m"]);
    assert_eq!(env.ok(&["get", "periodic-inform-interval"]), "30m\n");
    env.ok(&["reset-tr069-config"]);
    assert_eq!(env.ok(&["get", "periodic-inform-interval"]), "2h\n");
    assert_eq!(
        env.ok(&["get", "acs-url"]),
        "https://factory.example.com/\n"
    );

    let bad = Env::with_extra("[settings]\nperiodic-inform-interval = \"soon\"\n");
    let err = bad.fails(&["print"], 1);
    assert!(
        err.contains("config.toml")
            && err.contains("settings.periodic-inform-interval")
            && err.contains("30s"),
        "{err}"
    );
}

#[test]
fn rust_log_takes_targets_and_a_bad_one_is_named_with_the_accepted_form() {
    let env = Env::new();
    let run = |rust_log: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_tr069-client"))
            .arg("--config")
            .arg(&env.config)
            .arg("print")
            .env("RUST_LOG", rust_log)
            .output()
            .expect("run tr069-client");
        assert!(
            out.status.success(),
            "RUST_LOG={rust_log:?}: {}",
            out.status
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // `print` logs at debug whether a daemon answers; the default (warn) hides it.
    let quiet = env.run(&["print"]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("DEBUG"));
    assert!(run("warn,tr069_client=debug").contains("DEBUG"));
    assert!(!run("debug,tr069_client=info").contains("DEBUG"));
    let refused = run("tr069_client=loud");
    assert!(
        refused.contains("RUST_LOG=\"tr069_client=loud\" is not understood"),
        "{refused}"
    );
    assert!(refused.contains("`level` or `target=level`"), "{refused}");
}

#[test]
fn rust_log_reaches_what_dependencies_log_through_the_log_crate() {
    // sled logs through `log`, bridged into tracing at the filter's most verbose level: a
    // target's own directive must still open the bridge that far, and nothing more. (Debug, not
    // trace: release builds compile dependencies' `log` trace out, Cargo.toml.)
    let env = Env::new();
    env.ok(&["set", "periodic-inform-interval=30m"]);
    let verify = |rust_log: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tr069-client"));
        cmd.arg("--config")
            .arg(&env.config)
            .args(["journal", "verify"]);
        match rust_log {
            Some(spec) => cmd.env("RUST_LOG", spec),
            None => cmd.env_remove("RUST_LOG"),
        };
        let out = cmd.output().expect("run tr069-client");
        assert!(
            out.status.success(),
            "RUST_LOG={rust_log:?}: {}",
            out.status
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let debug = verify(Some("warn,sled=debug"));
    assert!(debug.contains("DEBUG"), "no sled debug line: {debug}");
    let info = verify(Some("warn,sled=info"));
    assert!(!info.contains("DEBUG") && !info.contains("TRACE"), "{info}");
    let quiet = verify(None);
    assert!(
        !quiet.contains("DEBUG") && !quiet.contains("TRACE"),
        "{quiet}"
    );
}
