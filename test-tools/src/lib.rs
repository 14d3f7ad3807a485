//! Tests that need something the machine may lack (a system tool such as `xmllint`, `ping`,
//! `strace` or `python3`; a FUSE mount; root) go through this crate, so that:
//!
//! * on a developer's machine without the tool, the test prints ONE line,
//!   `SKIPPED <test binary>::<test>: <why>`, and passes — `cargo test --workspace` works with
//!   only the Rust toolchain installed;
//! * with `TR069_TEST_STRICT=1` (set by `.ci/run`), the same situation panics with that line
//!   instead, so CI can never pass by silently skipping.
//!
//! ```no_run
//! fn validates_with_xmllint() {
//!     if !test_tools::require_tool("xmllint", "apt-get install libxml2-utils") {
//!         return;
//!     }
//!     // ... run xmllint ...
//! }
//!
//! fn mounts_fuse(mount: impl FnOnce() -> Result<(), String>) {
//!     // Something found out only while running (the kernel refused a mount, ptrace denied, ...):
//!     if let Err(why) = mount() {
//!         return test_tools::skip(format!("cannot mount FUSE here: {why}"));
//!     }
//!     // ... use the mount ...
//! }
//! ```
//!
//! The line goes straight to the process's stderr, past libtest's output capture, so it shows
//! in a normal `cargo test` run without `--nocapture`.

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// The environment variable that turns every skip into a failure when set to `1`.
pub const STRICT_VAR: &str = "TR069_TEST_STRICT";

/// Whether skips are failures (`TR069_TEST_STRICT=1`).
pub fn strict() -> bool {
    std::env::var_os(STRICT_VAR).is_some_and(|v| v == "1")
}

/// Skips the running test: prints `SKIPPED <test>: <why>` — or, under `TR069_TEST_STRICT=1`,
/// panics with that text. The caller returns right after.
#[track_caller]
pub fn skip(why: impl Display) {
    let line = skip_message(&current_test(), &why.to_string());
    // Not eprintln!: libtest captures that and shows it only for failing tests.
    skip_line(strict(), &line, &mut std::io::stderr().lock());
}

/// `true` when `met`; otherwise skips the test (see [`skip`]) and returns `false`, and the caller
/// returns.
#[track_caller]
pub fn require(met: bool, why: impl Display) -> bool {
    if !met {
        skip(why);
    }
    met
}

/// `true` when the executable `tool` is on `PATH`; otherwise skips the test (see [`skip`]) with
/// `<tool> not found on PATH (<install_hint>)` and returns `false`, and the caller returns.
#[track_caller]
pub fn require_tool(tool: &str, install_hint: &str) -> bool {
    require(
        find_tool(tool).is_some(),
        format_args!("{tool} not found on PATH ({install_hint})"),
    )
}

/// `true` when `ping` is installed and may ping the loopback address (an unprivileged user may
/// lack the raw or ICMP-datagram socket it needs); otherwise skips the test (see [`skip`]) and
/// returns `false`, and the caller returns.
#[track_caller]
pub fn require_ping() -> bool {
    if !require_tool("ping", "apt-get install iputils-ping") {
        return false;
    }
    let probe = std::process::Command::new("ping")
        .args(["-c", "1", "-W", "2", "-n", "127.0.0.1"])
        .env("LC_ALL", "C")
        .output();
    match probe {
        Ok(out) if out.status.success() => true,
        Ok(out) => require(
            false,
            format_args!(
                "`ping -c 1 127.0.0.1` fails here (exit status {}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ),
        Err(e) => require(false, format_args!("cannot run ping: {e}")),
    }
}

/// The first executable file named `tool` in a `PATH` directory.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// `<test binary>::<test>`, e.g. `xsd_harness::valid_inform_1_0`: libtest runs each test on a
/// thread named after it; a `harness = false` binary is named by its executable alone.
pub fn current_test() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    test_name(&exe, std::thread::current().name())
}

fn test_name(exe: &Path, thread: Option<&str>) -> String {
    let stem = exe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Cargo names test executables `<crate>-<16 hex digits>`.
    let binary = match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => stem,
    };
    match thread {
        Some(test) if test != "main" && !binary.is_empty() => format!("{binary}::{test}"),
        Some(test) if test != "main" => test.to_owned(),
        _ => binary,
    }
}

fn skip_message(test: &str, why: &str) -> String {
    format!("SKIPPED {test}: {why}")
}

#[track_caller]
fn skip_line(strict: bool, line: &str, out: &mut dyn std::io::Write) {
    if strict {
        panic!("{line} [{STRICT_VAR}=1: a skipped test is a failure; install what it needs]");
    }
    // One write, so the line is not split by libtest's own output from other threads.
    let _ = out.write_all(format!("{line}\n").as_bytes());
}

/// Copies a directory tree as it is now: a store, a fixture or a data directory, for a test to
/// open, damage or compare without touching the original. Regular files and directories are
/// copied; anything else (a daemon's control socket left in a data directory) is skipped.
/// Panics on any I/O error: it is for tests.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .unwrap_or_else(|e| panic!("cannot stat {}: {e}", entry.path().display()));
        if kind.is_dir() {
            copy_dir(&entry.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).unwrap_or_else(|e| {
                panic!(
                    "cannot copy {} to {}: {e}",
                    entry.path().display(),
                    target.display()
                )
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_test_binary_and_the_test() {
        let exe = Path::new("/t/target/debug/deps/xsd_harness-0123456789abcdef");
        assert_eq!(
            test_name(exe, Some("valid_inform_1_0")),
            "xsd_harness::valid_inform_1_0"
        );
        assert_eq!(
            test_name(
                Path::new("/t/deps/tr069_client-fedcba9876543210"),
                Some("datamodel::ipping::tests::pings_the_loopback_address")
            ),
            "tr069_client::datamodel::ipping::tests::pings_the_loopback_address"
        );
        // harness = false: the main thread.
        assert_eq!(
            test_name(
                Path::new("/t/deps/fsync_trace-00112233aabbccdd"),
                Some("main")
            ),
            "fsync_trace"
        );
        // Not a cargo-hashed name: kept whole.
        assert_eq!(test_name(Path::new("/usr/bin/my-tool"), None), "my-tool");
    }

    #[test]
    fn the_line_says_what_and_why() {
        assert_eq!(
            skip_message(
                "xsd_harness::x",
                "xmllint not found on PATH (apt-get install libxml2-utils)"
            ),
            "SKIPPED xsd_harness::x: xmllint not found on PATH (apt-get install libxml2-utils)"
        );
    }

    #[test]
    fn lenient_mode_prints_one_line_and_returns() {
        let mut out = Vec::new();
        skip_line(false, "SKIPPED a::b: no tool", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "SKIPPED a::b: no tool\n");
    }

    #[test]
    #[should_panic(expected = "SKIPPED a::b: no tool [TR069_TEST_STRICT=1")]
    fn strict_mode_panics_with_the_line() {
        skip_line(true, "SKIPPED a::b: no tool", &mut Vec::new());
    }

    #[test]
    fn finds_a_tool_on_path_and_not_a_missing_one() {
        // `sh` is on every Unix PATH; the project only targets Linux.
        assert!(find_tool("sh").is_some());
        assert!(find_tool("no-such-tool-for-tr069-tests").is_none());
        assert!(require_tool("sh", "always there"));
    }
}
