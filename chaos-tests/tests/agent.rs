//! End-to-end: the REAL agent binary (`CARGO_BIN_EXE_agent`, the tr069-client `main`) run as a
//! child process from a TOML config file, against the scripted ACS on loopback.
//!
//! Every test has an overall time limit and asserts only on what the ACS recorded and on what the
//! CLI (`get`, `print`, `journal timeline`) says — never on timing. On failure the agent's stderr
//! (RUST_LOG=info) is printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail, ensure};
use chaos_tests::{
    AcsAuth, AcsConfig, Failure, ScriptedAcs, SessionEnd, SessionLog, TlsIdentity, test_pki,
};

/// Overall limit of one test.
const LIMIT: Duration = Duration::from_secs(50);
/// Limit of one wait for the ACS or the CLI.
const WAIT: Duration = Duration::from_secs(20);

const ACS_USER: &str = "cpe-user";
const ACS_PASSWORD: &str = "acs-secret-3141";
const CR_USER: &str = "acs-user";
const CR_PASSWORD: &str = "cr-secret-2718";

const BOOTSTRAP: &str = "0 BOOTSTRAP";
const BOOT: &str = "1 BOOT";
const CONNECTION_REQUEST: &str = "6 CONNECTION REQUEST";

// ------------------------------------------------------------------------------------------
// Harness
// ------------------------------------------------------------------------------------------

/// A temporary device: config file, boot id file, data directory, agent logs.
struct Device {
    dir: tempfile::TempDir,
    name: &'static str,
    starts: std::cell::Cell<u32>,
}

impl Device {
    fn new(name: &'static str) -> Device {
        let dir = tempfile::Builder::new()
            .prefix("agt-")
            .tempdir()
            .expect("creating a temp dir");
        let d = Device {
            dir,
            name,
            starts: std::cell::Cell::new(0),
        };
        d.set_boot_id("boot-1");
        d
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config_path(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    fn serial(&self) -> String {
        format!("SN-{}", self.name.len() * 7919)
    }

    /// Writes a new boot id (a device reboot when it differs from the last one).
    fn set_boot_id(&self, id: &str) {
        std::fs::write(self.path().join("boot_id"), format!("{id}\n")).expect("writing boot id");
    }

    /// Writes config.toml with these factory settings on top of the common ones.
    fn write_config(&self, acs_url: &str, extra: &[(&str, &str)]) {
        let mut settings: Vec<(String, String)> = [
            ("enabled", "yes"),
            ("acs-url", acs_url),
            ("username", ACS_USER),
            ("password", ACS_PASSWORD),
            ("periodic-inform-interval", "1d"),
            ("connection-request-username", CR_USER),
            ("connection-request-password", CR_PASSWORD),
            ("connection-request-port", "0"),
            ("retry-minimum-wait", "1"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        for (k, v) in extra {
            settings.retain(|(name, _)| name != k);
            settings.push(((*k).to_owned(), (*v).to_owned()));
        }
        let mut text = format!(
            "data_dir = {}\nboot_id_file = {}\n\n[device]\nmanufacturer = \"Example Networks\"\n\
             oui = \"00000C\"\nproduct_class = \"TestRouter\"\nserial_number = {}\n\
             software_version = \"7.14\"\n\n[session]\ntimeout = \"30s\"\n\n\
             [connection_request]\nlisten_address = \"127.0.0.1\"\n\n[settings]\n",
            toml_str(&self.data_dir().to_string_lossy()),
            toml_str(&self.path().join("boot_id").to_string_lossy()),
            toml_str(&self.serial()),
        );
        for (k, v) in settings {
            text.push_str(&format!("{k} = {}\n", toml_str(&v)));
        }
        std::fs::write(self.config_path(), text).expect("writing config.toml");
    }

    /// Starts the agent and waits for its control socket (see [`AgentProcess::wait_ready`]).
    async fn start(&self) -> anyhow::Result<AgentProcess> {
        let mut agent = self.spawn()?;
        agent.wait_ready(self).await?;
        Ok(agent)
    }

    /// Starts `agent --config … run`, stderr to `agent-<n>.log`.
    fn spawn(&self) -> anyhow::Result<AgentProcess> {
        let n = self.starts.get() + 1;
        self.starts.set(n);
        let log_path = self.path().join(format!("agent-{n}.log"));
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(env!("CARGO_BIN_EXE_agent"))
            .arg("--config")
            .arg(self.config_path())
            .arg("run")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("spawning the agent")?;
        Ok(AgentProcess { child: Some(child) })
    }

    /// Runs the CLI against this device's config; returns (exit code, stdout, stderr).
    async fn cli(&self, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
        let out = tokio::time::timeout(
            WAIT,
            tokio::process::Command::new(env!("CARGO_BIN_EXE_agent"))
                .arg("--config")
                .arg(self.config_path())
                .args(args)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .map_err(|_| anyhow!("CLI {args:?} did not finish"))??;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// `get NAME` (must succeed), trimmed.
    async fn get(&self, name: &str) -> anyhow::Result<String> {
        let (code, out, err) = self.cli(&["get", name]).await?;
        ensure!(code == 0, "get {name} exited {code}: {err}");
        Ok(out.trim().to_owned())
    }

    /// Polls `get NAME` until `pred` holds; returns the value.
    async fn wait_get(&self, name: &str, pred: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            match self.get(name).await {
                Ok(v) if pred(&v) => return Ok(v),
                Ok(v) => last = v,
                Err(e) => last = format!("error: {e:#}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("`get {name}` never matched; last {last:?}")
    }

    /// Every agent log of this device, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts.get() {
            let text = std::fs::read_to_string(self.path().join(format!("agent-{n}.log")))
                .unwrap_or_default();
            let tail: String = {
                let chars: Vec<char> = text.chars().collect();
                chars[chars.len().saturating_sub(6000)..].iter().collect()
            };
            out.push_str(&format!("---- agent run {n} stderr (tail) ----\n{tail}\n"));
        }
        out
    }
}

/// Runs a scenario with the overall limit; panics with the agent logs when it fails.
async fn scenario<F>(device: &Device, body: F)
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let result = match tokio::time::timeout(LIMIT, body).await {
        Ok(r) => r,
        Err(_) => Err(anyhow!("scenario timed out after {LIMIT:?}")),
    };
    if let Err(e) = result {
        panic!("{}: {e:#}\n{}", device.name, device.logs());
    }
}

/// The running agent; killed (SIGKILL) and reaped when dropped.
struct AgentProcess {
    child: Option<Child>,
}

impl AgentProcess {
    /// kill -9 and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the daemon's control socket accepts connections. The CLI must not run before
    /// that: with nothing listening it opens the journal itself, and a daemon starting meanwhile
    /// finds the journal locked and exits.
    async fn wait_ready(&mut self, device: &Device) -> anyhow::Result<()> {
        let socket = device.data_dir().join("control.sock");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("the agent exited before its control socket answered: {status}");
            }
            if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return Ok(());
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the control socket {} never answered",
                socket.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait for the exit (SIGKILL after a while).
    async fn terminate(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait()? {
                ensure!(
                    status.success(),
                    "the agent exited with {status} on SIGTERM"
                );
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the agent did not stop on SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn digest_acs() -> AcsConfig {
    AcsConfig {
        auth: AcsAuth::Digest {
            username: ACS_USER.into(),
            password: ACS_PASSWORD.into(),
        },
        ..AcsConfig::default()
    }
}

/// Waits for an ended session after the first `after` sessions that satisfies `pred`.
async fn wait_session(
    acs: &ScriptedAcs,
    after: usize,
    what: &str,
    pred: impl Fn(&SessionLog) -> bool,
) -> anyhow::Result<SessionLog> {
    acs.wait_for_session(after, WAIT, what, pred).await
}

fn completed(s: &SessionLog) -> bool {
    s.end == SessionEnd::Completed
}

/// Asserts the session ended with the ACS's 204 (the exchange is recorded).
fn assert_completed_with_204(acs: &ScriptedAcs, s: &SessionLog) -> anyhow::Result<()> {
    ensure!(completed(s), "session {} ended {:?}", s.number, s.end);
    let last = acs
        .exchanges()
        .into_iter()
        .rfind(|e| e.session == Some(s.number))
        .context("no exchange recorded for the session")?;
    ensure!(
        last.status == Some(204),
        "the session's last answer was {:?}, not 204",
        last.status
    );
    Ok(())
}

/// The first session: BOOTSTRAP + BOOT, identity and forced parameters, completed.
async fn check_bootstrap(acs: &ScriptedAcs, device: &Device) -> anyhow::Result<SessionLog> {
    let s = wait_session(acs, 0, "the BOOTSTRAP session", |_| true).await?;
    ensure!(s.number == 1, "first session is #{}", s.number);
    ensure!(
        s.event_codes() == [BOOTSTRAP, BOOT],
        "events {:?}",
        s.event_codes()
    );
    ensure!(s.retry_count() == 0, "RetryCount {}", s.retry_count());
    let id = &s.inform.device_id;
    ensure!(id.manufacturer == "Example Networks", "DeviceId {id:?}");
    ensure!(id.oui == "00000C", "DeviceId {id:?}");
    ensure!(id.product_class == "TestRouter", "DeviceId {id:?}");
    ensure!(id.serial_number == device.serial(), "DeviceId {id:?}");
    ensure!(
        s.parameter("Device.RootDataModelVersion")
            .is_some_and(|v| !v.is_empty()),
        "no RootDataModelVersion"
    );
    ensure!(
        s.parameter("Device.DeviceInfo.SoftwareVersion") == Some("7.14"),
        "SoftwareVersion {:?}",
        s.parameter("Device.DeviceInfo.SoftwareVersion")
    );
    ensure!(
        s.parameter("Device.ManagementServer.ParameterKey")
            .is_some(),
        "no ParameterKey"
    );
    let cr_url = s
        .parameter("Device.ManagementServer.ConnectionRequestURL")
        .context("no ConnectionRequestURL")?;
    ensure!(
        cr_url.starts_with("http://127.0.0.1:"),
        "ConnectionRequestURL {cr_url:?}"
    );
    assert_completed_with_204(acs, &s)?;
    Ok(s)
}

fn authorization_schemes(acs: &ScriptedAcs) -> Vec<String> {
    acs.exchanges()
        .iter()
        .filter_map(|e| e.header("authorization"))
        .map(|a| a.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_over_http_with_digest() {
    let device = Device::new("bootstrap_over_http_with_digest");
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        let schemes = authorization_schemes(&acs);
        ensure!(
            !schemes.is_empty() && schemes.iter().all(|s| s.eq_ignore_ascii_case("digest")),
            "Authorization schemes {schemes:?}"
        );
        ensure!(
            device.wait_get("retry-count", |v| v == "0").await? == "0",
            "retry-count"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth() {
    let device = Device::new("basic_auth");
    scenario(&device, async {
        let acs = ScriptedAcs::start(AcsConfig {
            auth: AcsAuth::Basic {
                username: ACS_USER.into(),
                password: ACS_PASSWORD.into(),
            },
            ..AcsConfig::default()
        })
        .await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        let schemes = authorization_schemes(&acs);
        ensure!(
            !schemes.is_empty() && schemes.iter().all(|s| s.eq_ignore_ascii_case("basic")),
            "Authorization schemes {schemes:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_private_ca_and_client_certificate() {
    let device = Device::new("https_with_private_ca_and_client_certificate");
    scenario(&device, async {
        let pki = test_pki(device.path().join("pki"))?;
        let identity: TlsIdentity = pki.server_identity_requiring_client_cert();
        let acs = ScriptedAcs::start(AcsConfig {
            tls: Some(identity),
            ..digest_acs()
        })
        .await?;
        ensure!(acs.url().starts_with("https://"), "ACS URL {}", acs.url());
        // One PEM file: the client's certificate chain, then its key.
        let client_pem = device.path().join("client-bundle.pem");
        std::fs::write(
            &client_pem,
            format!("{}{}", pki.client_cert_pem, pki.client_key_pem),
        )?;
        let client_pem = client_pem.to_string_lossy().into_owned();
        let ca = pki.ca_cert_pem_path.to_string_lossy().into_owned();

        // Positive: the private CA is trusted, the client certificate is presented.
        device.write_config(
            &acs.url(),
            &[("ca-file", &ca), ("client-certificate", &client_pem)],
        );
        let mut agent = device.start().await?;
        let s = check_bootstrap(&acs, &device).await?;
        let exchanges: Vec<_> = acs
            .exchanges()
            .into_iter()
            .filter(|e| e.session == Some(s.number))
            .collect();
        ensure!(!exchanges.is_empty(), "no exchanges for the session");
        ensure!(
            exchanges.iter().all(|e| e.tls && e.client_certificate),
            "not all exchanges were TLS with a client certificate: {:?}",
            exchanges
                .iter()
                .map(|e| (e.tls, e.client_certificate))
                .collect::<Vec<_>>()
        );
        agent.kill();

        // Negative: a fresh device without ca-file does not trust the ACS.
        let untrusting = Device::new("https_without_ca_file");
        untrusting.write_config(&acs.url(), &[("client-certificate", &client_pem)]);
        let sessions_before = acs.sessions().len();
        let result = async {
            let _agent = untrusting.start().await?;
            let err = untrusting
                .wait_get("last-session-error", |v| !v.is_empty())
                .await?;
            ensure!(
                err.contains("not trusted (unknown issuer)"),
                "last-session-error {err:?}"
            );
            let (code, json, stderr) = untrusting.cli(&["print", "--json"]).await?;
            ensure!(code == 0, "print --json exited {code}: {stderr}");
            let view: serde_json::Value = serde_json::from_str(&json)?;
            ensure!(
                view["daemon_running"] == serde_json::json!(true),
                "print --json: {json}"
            );
            ensure!(
                view["last_session_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("unknown issuer")),
                "print --json: {json}"
            );
            // It keeps retrying, counting the failures.
            untrusting
                .wait_get("retry-count", |v| v.parse::<u32>().is_ok_and(|n| n >= 2))
                .await?;
            ensure!(
                acs.sessions().len() == sessions_before,
                "an untrusting agent reached the ACS"
            );
            Ok(())
        }
        .await;
        result.map_err(|e| e.context(untrusting.logs()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sessions_keep_events_and_count_retries() {
    let device = Device::new("failed_sessions_keep_events_and_count_retries");
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        acs.fail_next_sessions(2, Failure::Status(500));
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        let sessions = acs.wait_for(WAIT, |all| all.iter().any(completed)).await?;
        ensure!(sessions.len() == 3, "sessions: {sessions:#?}");
        for (i, s) in sessions.iter().enumerate() {
            ensure!(
                s.event_codes() == [BOOTSTRAP, BOOT],
                "session {} events {:?}",
                s.number,
                s.event_codes()
            );
            ensure!(
                s.retry_count() == i as u32,
                "session {} RetryCount {} (expected {i})",
                s.number,
                s.retry_count()
            );
        }
        ensure!(
            sessions[0].end == SessionEnd::Failed(Failure::Status(500))
                && sessions[1].end == SessionEnd::Failed(Failure::Status(500)),
            "the first two sessions: {:?}, {:?}",
            sessions[0].end,
            sessions[1].end
        );
        assert_completed_with_204(&acs, &sessions[2])?;
        device.wait_get("retry-count", |v| v == "0").await?;
        device.wait_get("last-session-error", str::is_empty).await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_restart_resumes_without_boot() {
    let device = Device::new("process_restart_resumes_without_boot");
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let mut agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        // Let the session's end reach the journal before the crash.
        device.wait_get("retry-count", |v| v == "0").await?;
        agent.kill();

        // (a) Same boot id: only the process restarted; nothing is owed.
        let mut agent = device.start().await?;
        let (code, print, err) = device.cli(&["print", "--json"]).await?;
        ensure!(code == 0, "print --json: {err}");
        let view: serde_json::Value = serde_json::from_str(&print)?;
        ensure!(
            view["daemon_running"] == serde_json::json!(true),
            "print --json did not come from the daemon: {print}"
        );
        ensure!(
            view["owed_events"].as_array().is_some_and(Vec::is_empty),
            "events owed after a process restart: {print}"
        );
        // Give a wrongly owed session the chance to happen.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sessions = acs.sessions();
        ensure!(
            sessions.len() == 1,
            "a session after a process restart: {:?}",
            sessions
                .iter()
                .map(SessionLog::event_codes)
                .collect::<Vec<_>>()
        );
        agent.terminate().await?;
        let (code, timeline, err) = device.cli(&["journal", "timeline"]).await?;
        ensure!(code == 0, "journal timeline exited {code}: {err}");
        ensure!(
            timeline.contains("restart within boot boot-1"),
            "no not-new-boot BootObserved in the timeline:\n{timeline}"
        );

        // (b) A new boot id: the device rebooted; 1 BOOT is owed, BOOTSTRAP is not.
        device.set_boot_id("boot-2");
        let _agent = device.start().await?;
        let s = wait_session(&acs, 1, "the BOOT session", |_| true).await?;
        ensure!(s.has_event(BOOT), "events {:?}", s.event_codes());
        ensure!(!s.has_event(BOOTSTRAP), "events {:?}", s.event_codes());
        assert_completed_with_204(&acs, &s)?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_crash_before_delivery() {
    let device = Device::new("events_survive_a_crash_before_delivery");
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        acs.fail_next_sessions(100, Failure::Status(500));
        device.write_config(&acs.url(), &[]);
        let mut agent = device.start().await?;
        acs.wait_for_sessions(1, WAIT).await?;
        agent.kill();
        acs.clear_failures();
        let failed = acs.sessions().len();
        ensure!(
            acs.sessions()
                .iter()
                .all(|s| matches!(s.end, SessionEnd::Failed(_))),
            "sessions before the crash: {:?}",
            acs.sessions()
        );

        let _agent = device.start().await?;
        let s = wait_session(&acs, failed, "the session after the crash", completed).await?;
        ensure!(
            s.has_event(BOOTSTRAP) && s.has_event(BOOT),
            "events lost in the crash: {:?}",
            s.event_codes()
        );
        ensure!(s.retry_count() >= 1, "RetryCount {}", s.retry_count());
        device.wait_get("retry-count", |v| v == "0").await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_request_starts_a_session() {
    let device = Device::new("connection_request_starts_a_session");
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        let first = check_bootstrap(&acs, &device).await?;
        let url = first
            .parameter("Device.ManagementServer.ConnectionRequestURL")
            .context("ConnectionRequestURL")?
            .to_owned();

        // Wrong password: refused, no session.
        let status = acs.connection_request(&url, CR_USER, "wrong").await?;
        ensure!(status == 401, "wrong password answered {status}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ensure!(
            acs.sessions().len() == 1,
            "a session after a refused connection request: {:?}",
            acs.sessions()
                .iter()
                .map(SessionLog::event_codes)
                .collect::<Vec<_>>()
        );

        // Right credentials: 200 and a session with 6 CONNECTION REQUEST.
        let status = acs.connection_request(&url, CR_USER, CR_PASSWORD).await?;
        ensure!(status == 200, "connection request answered {status}");
        let s = wait_session(&acs, 1, "the connection-request session", |_| true).await?;
        ensure!(
            s.event_codes() == [CONNECTION_REQUEST],
            "events {:?}",
            s.event_codes()
        );
        assert_completed_with_204(&acs, &s)?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_cli_against_the_running_daemon() {
    let device = Device::new("operator_cli_against_the_running_daemon");
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;

        let (code, out, err) = device.cli(&["set", "periodic-inform-interval=1h"]).await?;
        ensure!(code == 0, "set exited {code}: {out}{err}");

        let (code, print, err) = device.cli(&["print"]).await?;
        ensure!(code == 0, "print exited {code}: {err}");
        ensure!(
            print.contains("daemon=running"),
            "print did not come from the daemon:\n{print}"
        );
        ensure!(
            print.contains("periodic-inform-interval=1h"),
            "print:\n{print}"
        );
        ensure!(print.contains("status=running"), "print:\n{print}");
        ensure!(print.contains("password=***"), "print:\n{print}");
        ensure!(
            !print.contains(ACS_PASSWORD) && !print.contains(CR_PASSWORD),
            "print shows a password:\n{print}"
        );
        ensure!(
            device.get("periodic-inform-interval").await? == "1h",
            "get periodic-inform-interval"
        );

        let (code, out, err) = device
            .cli(&["set", "periodic-inform-interval=soon"])
            .await?;
        ensure!(code == 2, "invalid set exited {code}: {out}{err}");
        ensure!(
            err.contains("periodic-inform-interval"),
            "the error does not name the setting: {err}"
        );
        ensure!(
            device.get("periodic-inform-interval").await? == "1h",
            "a refused set changed the value"
        );
        Ok(())
    })
    .await;
}

/// A CLI command run while the daemon starts (e.g. `print` falling back to the journal because
/// the control socket is not up yet) holds the journal for a moment; the daemon waits for the
/// lock instead of exiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_start_survives_a_cli_holding_the_journal() {
    let device = Device::new("daemon_start_survives_a_cli_holding_the_journal");
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        // What the offline CLI does: open the journal (read-write, locked) for a moment.
        let dir = device.data_dir().join("journal");
        std::fs::create_dir_all(&dir)?;
        let (held, _) = journal::Journal::open(&dir, journal::Options::with_boot_id("boot-1"))?;
        let mut agent = device.spawn()?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        held.close();
        agent.wait_ready(&device).await?;
        check_bootstrap(&acs, &device).await?;
        Ok(())
    })
    .await;
}
