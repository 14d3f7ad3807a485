//! The post-mortem report (`journal report --html`) in a real browser: headless Chromium from
//! Debian's packages, driven through chromedriver's WebDriver HTTP API.
//!
//! Two journals: the demo's (`fixtures/demo-data`, made by `DEMO_KEEP_DATA=… cargo run -p
//! chaos-tests --bin demo`) and one a chaos flow writes right here, with SIGKILLs, a device
//! reboot and an ACS fault. For each, the real binary writes the report and its JSON lines, the
//! browser opens the file, and the test checks the rendered page against the journal: every lane
//! is drawn, there are as many session bars, transfer rows, starts and crash marks as the journal
//! has sessions, transfers, starts and crashes; hovering a mark shows its record; clicking it
//! shows exactly what `journal state --at SEQ` prints; the console has no error; the browser made
//! no request but the page's own file. A screenshot of each page is saved under
//! `target/report-browser/` (`REPORT_SCREENSHOT=<file>` also copies the chaos flow's there: the
//! README's picture).
//!
//! Needs `chromium` and `chromedriver` (`apt-get install chromium chromium-driver`); without them
//! it prints one SKIPPED line and passes, except under `TR069_TEST_STRICT=1`, where it fails
//! (test-tools).

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use chaos_tests::Failure;
use chaos_tests::campaign::{Kill, Plan, run_flow};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const AGENT: &str = env!("CARGO_BIN_EXE_agent");
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/report-browser");
    std::fs::create_dir_all(&dir).expect("creating target/report-browser");
    dir
}

/// The agent's CLI.
fn cli(args: &[&str]) -> (String, String) {
    let out = Command::new(AGENT)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("running the agent's CLI");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{args:?}: {}\n{stderr}", out.status);
    (stdout, stderr)
}

/// What the journal says, independently of the report: from `journal export`.
#[derive(Debug, Default)]
struct Truth {
    sessions: usize,
    transfers: usize,
    starts: usize,
    crashes: usize,
    device_boots: usize,
}

fn truth(base: &[&str]) -> Truth {
    let (export, _) = cli(&[base, &["journal", "export"]].concat());
    let mut t = Truth::default();
    let mut transfers = BTreeSet::new();
    let mut clean_since_start = true;
    for line in export.lines() {
        let v: Value = serde_json::from_str(line).expect("export line");
        match v["type"].as_str().unwrap_or_default() {
            "SessionStarted" => t.sessions += 1,
            "TransferAccepted" => {
                transfers.insert(
                    v["record"]["transfer_id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            "BootObserved" => {
                if t.starts > 0 && !clean_since_start {
                    t.crashes += 1;
                }
                t.starts += 1;
                t.device_boots += usize::from(v["record"]["new_boot"] == true);
                clean_since_start = false;
            }
            "AgentStopped" | "RebootAttempted" => clean_since_start = true,
            _ => {}
        }
    }
    t.transfers = transfers.len();
    t
}

// ---- a minimal WebDriver client ----

struct Driver {
    process: Child,
    port: u16,
    rt: tokio::runtime::Runtime,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Driver {
    fn start(profile: &Path) -> Driver {
        let port = free_port();
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut d = Driver {
            process,
            port,
            rt,
            session: String::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while d
            .raw("GET", "/status", None)
            .map(|v| v["value"]["ready"] == true)
            != Ok(true)
        {
            assert!(Instant::now() < deadline, "chromedriver never became ready");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--window-size=1280,760",
                         format!("--user-data-dir={}", profile.display())]
            },
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"}
        }}});
        let v = d.call("POST", "/session", Some(caps));
        d.session = v["sessionId"]
            .as_str()
            .expect("a WebDriver session id")
            .to_owned();
        d
    }

    fn raw(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let port = self.port;
        let method = http::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let path = path.to_owned();
        self.rt.block_on(async move {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map_err(|e| e.to_string())?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let body = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
            let req = http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", format!("127.0.0.1:{port}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| e.to_string())?;
            let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
            let bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        })
    }

    /// A WebDriver command; a WebDriver error fails the test.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let v = self
            .raw(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        if v["value"]["error"].is_string() {
            panic!("{method} {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    fn script(&self, js: &str) -> Value {
        self.call(
            "POST",
            &self.s("/execute/sync"),
            Some(json!({"script": js, "args": []})),
        )
    }

    fn element(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            &self.s("/element"),
            Some(json!({"using": "css selector", "value": css})),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    fn logs(&self, kind: &str) -> Vec<Value> {
        self.call("POST", &self.s("/se/log"), Some(json!({ "type": kind })))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Opens `page` and checks it against the journal behind `base` (CLI arguments naming it).
fn check_page(driver: &Driver, page: &Path, base: &[&str], name: &str) {
    let expected = truth(base);
    let url = format!("file://{}", page.display());
    driver.call("POST", &driver.s("/url"), Some(json!({ "url": url })));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = driver.script("return document.body.getAttribute('data-ready');");
        if ready == "yes" {
            break;
        }
        assert!(
            ready.is_null() && Instant::now() < deadline,
            "{name}: the page did not render: data-ready={ready}, {}",
            driver.script("return document.getElementById('meta').textContent;")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let lanes = driver.script(
        "return [...document.querySelectorAll('g.lane')].map(g => g.getAttribute('data-lane'));",
    );
    assert_eq!(
        lanes,
        json!([
            "starts",
            "sessions",
            "events",
            "transfers",
            "changes",
            "journal"
        ]),
        "{name}"
    );
    let count = |css: &str| {
        driver
            .script(&format!(
                "return document.querySelectorAll('{css}').length;"
            ))
            .as_u64()
            .unwrap_or(0) as usize
    };
    assert!(
        expected.sessions > 0,
        "{name}: the journal has no session: {expected:?}"
    );
    assert_eq!(count("rect.session"), expected.sessions, "{name}: sessions");
    assert_eq!(count("g.transfer"), expected.transfers, "{name}: transfers");
    assert_eq!(count("rect.start"), expected.starts, "{name}: starts");
    assert_eq!(
        count("rect.start.boot"),
        expected.device_boots,
        "{name}: device boots"
    );
    assert_eq!(count("path.crash"), expected.crashes, "{name}: crashes");
    assert!(count(".event") > 0, "{name}: no event drawn");

    // Hover a session: the tooltip shows its record.
    // The pointer moves just inside the left end of the first session bar (its right end
    // carries the session-end mark), in viewport coordinates (chromedriver 156 refuses an
    // element origin inside an SVG).
    let at = driver.script(
        "const r = document.querySelector('rect.session').getBoundingClientRect(); \
         return [Math.floor(r.x + Math.max(1, Math.min(3, r.width / 4))), \
                 Math.round(r.y + r.height / 2)];",
    );
    driver.call(
        "POST",
        &driver.s("/actions"),
        Some(json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [{"type": "pointerMove", "origin": "viewport", "x": at[0], "y": at[1]}]}]})),
    );
    let tip = driver.script(
        "const t = document.getElementById('tip'); return [t.style.display, t.textContent];",
    );
    assert_eq!(tip[0], "block", "{name}: no tooltip on hover");
    // A short session's bar is under its end mark: either record of the session is right.
    let tip_text = tip[1].as_str().unwrap_or_default();
    assert!(
        tip_text.contains("\"type\": \"SessionStarted\"")
            || tip_text.contains("\"type\": \"SessionEnded\""),
        "{name}: the tooltip does not show the record: {tip}"
    );
    // Click the last session's end: the side panel shows `journal state --at SEQ`.
    let end = driver.element("rect.session-end:last-of-type");
    driver.call(
        "POST",
        &driver.s(&format!("/element/{end}/click")),
        Some(json!({})),
    );
    let shown = driver.script(
        "const p = document.getElementById('state-at'); return p ? [p.getAttribute('data-seq'), p.textContent] : null;",
    );
    let seq = shown[0]
        .as_str()
        .expect("a state panel after the click")
        .to_owned();
    let shown: Value =
        serde_json::from_str(shown[1].as_str().unwrap_or_default()).expect("the panel holds JSON");
    let (printed, _) = cli(&[base, &["journal", "state", "--at", &seq]].concat());
    let printed: Value = serde_json::from_str(&printed).expect("journal state prints JSON");
    assert_eq!(
        shown, printed,
        "{name}: the page's state at #{seq} differs from `journal state --at {seq}`"
    );

    // Nothing went wrong and nothing was fetched.
    let errors: Vec<Value> = driver
        .logs("browser")
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "{name}: console errors: {errors:?}");
    let requests: Vec<String> = driver
        .logs("performance")
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
        .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
        // The browser's own start page (chrome://new-tab-page…) logs requests too: only those
        // made for the report's document count.
        .filter(|m| {
            m["message"]["params"]["documentURL"] == url.as_str()
                || m["message"]["params"]["request"]["url"] == url.as_str()
        })
        .filter_map(|m| {
            m["message"]["params"]["request"]["url"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(
        requests.iter().all(|u| *u == url),
        "{name}: the page made requests: {requests:?}"
    );
    let resources = driver.script("return performance.getEntriesByType('resource').length;");
    assert_eq!(resources, 0, "{name}: resources were loaded");

    // Fit, then a screenshot.
    driver.script("document.getElementById('fit').click(); window.scrollTo(0, 0); return 0;");
    let png = driver.call("GET", &driver.s("/screenshot"), None);
    let png = base64::engine::general_purpose::STANDARD
        .decode(png.as_str().unwrap_or_default())
        .expect("screenshot is base64");
    let shot = out_dir().join(format!("{name}.png"));
    std::fs::write(&shot, &png).expect("saving the screenshot");
    eprintln!(
        "{name}: {} sessions, {} transfers, {} starts ({} crashes) rendered as in the journal; state at #{seq} matches; screenshot {} ({} bytes)",
        expected.sessions,
        expected.transfers,
        expected.starts,
        expected.crashes,
        shot.display(),
        png.len()
    );
}

fn report(base: &[&str], name: &str) -> PathBuf {
    let page = out_dir().join(format!("{name}.html"));
    let jsonl = out_dir().join(format!("{name}.jsonl"));
    let (_, stderr) = cli(&[
        base,
        &[
            "journal",
            "report",
            "--html",
            page.to_str().expect("utf-8 path"),
            "--jsonl",
            jsonl.to_str().expect("utf-8 path"),
        ],
    ]
    .concat());
    eprintln!("{name}: {}", stderr.trim());
    let size = std::fs::metadata(&page).expect("the page").len();
    assert!(size <= 1_000_000, "{name}: {size} bytes");
    page
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

#[test]
fn the_report_renders_the_journal_in_chromium() {
    if !test_tools::require(
        Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
        format!(
            "{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        ),
    ) {
        return;
    }
    let tmp = tempfile::tempdir().expect("temp dir");

    // The demo's journal (a copy: opening it may repair it).
    let demo = tmp.path().join("demo-data");
    copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/demo-data"),
        &demo,
    );
    let demo_base = ["--data-dir", demo.to_str().expect("utf-8 path")];
    let demo_page = report(&demo_base, "demo");

    // A chaos flow with kills, a device reboot and an ACS fault; its device directory is kept.
    let keep = tmp.path().join("chaos");
    // SAFETY: this file holds one test, so no other thread reads the environment now.
    unsafe { std::env::set_var("CHAOS_KEEP_DIR", &keep) };
    // No compaction during the flow: the report shows every session, kill and restart.
    // SAFETY: as above.
    unsafe { std::env::set_var("CHAOS_JOURNAL_MAX_LIVE_BYTES", "4194304") };
    let plan = Plan {
        seed: 4242,
        label: "report".to_owned(),
        slow_download: Some(80_000),
        slow_apply: true,
        kills: vec![
            Kill {
                at: Duration::from_millis(900),
                device_reboot: false,
            },
            Kill {
                at: Duration::from_millis(2_600),
                device_reboot: true,
            },
        ],
        acs_faults: vec![None, Some(Failure::Status(500))],
        ..Plan::clean(4242)
    };
    let flow = run_flow(Path::new(AGENT), &plan, None);
    assert!(
        flow.completed,
        "the chaos flow did not complete: {:?}\n{}",
        flow.violations, flow.details
    );
    let device = std::fs::read_dir(&keep)
        .expect("the kept device directory")
        .next()
        .expect("one flow")
        .expect("entry")
        .path();
    // The kept config.toml names the flow's own (deleted) directory: the copy's data wins.
    let config = device.join("config.toml");
    let data = device.join("data");
    let chaos_base = [
        "--config",
        config.to_str().expect("utf-8 path"),
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ];
    let chaos_page = report(&chaos_base, "chaos");
    assert!(
        truth(&chaos_base).crashes > 0,
        "the flow's kills left no crash in the journal"
    );

    let profile = tmp.path().join("chromium-profile");
    let driver = Driver::start(&profile);
    check_page(&driver, &demo_page, &demo_base, "demo");
    check_page(&driver, &chaos_page, &chaos_base, "chaos");
    if let Some(dest) = std::env::var_os("REPORT_SCREENSHOT") {
        std::fs::copy(out_dir().join("chaos.png"), &dest).expect("copying the screenshot");
    }
}
