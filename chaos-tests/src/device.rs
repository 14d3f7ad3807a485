//! A device under test: the REAL agent binary run as a child process from a TOML config file on
//! a temporary directory (config, boot id, data directory, logs), plus the helpers the
//! end-to-end suites share.
//!
//! Every scenario has an overall time limit and asserts only on what the ACS recorded and on what
//! the CLI (`get`, `print`, `journal timeline`) says — never on timing. On failure the agent's
//! stderr (RUST_LOG=info) is printed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail, ensure};

use crate::{AcsAuth, AcsConfig, ScriptedAcs, SessionEnd, SessionLog};

pub const BOOTSTRAP: &str = "0 BOOTSTRAP";
pub const BOOT: &str = "1 BOOT";
pub const CONNECTION_REQUEST: &str = "6 CONNECTION REQUEST";

/// Overall limit of one test.
pub const LIMIT: Duration = Duration::from_secs(50);
/// Limit of one wait for the ACS or the CLI.
pub const WAIT: Duration = Duration::from_secs(20);

pub const ACS_USER: &str = "cpe-user";
pub const ACS_PASSWORD: &str = "acs-secret-3141";
pub const CR_USER: &str = "acs-user";
pub const CR_PASSWORD: &str = "cr-secret-2718";

// ------------------------------------------------------------------------------------------
// Harness
// ------------------------------------------------------------------------------------------

/// A temporary device: config file, boot id file, data directory, agent logs.
pub struct Device {
    dir: tempfile::TempDir,
    /// The agent binary (`&self.bin` in the suites).
    bin: PathBuf,
    /// TOML appended to every config this device writes (extra sections: hooks, datamodel …).
    extra_toml: std::cell::RefCell<String>,
    /// Runs the simulated firmware (see [`Device::simulate_firmware`]).
    firmware: std::cell::Cell<bool>,
    name: &'static str,
    starts: std::cell::Cell<u32>,
    /// The network namespace the agent runs in (`ip netns exec`), if any.
    netns: std::cell::RefCell<Option<String>>,
    /// `[connection_request] listen_address` (default `127.0.0.1`).
    listen_address: std::cell::RefCell<String>,
}

impl Device {
    pub fn new(name: &'static str, bin: impl Into<PathBuf>) -> Device {
        let dir = tempfile::Builder::new()
            .prefix("agt-")
            .tempdir()
            .expect("creating a temp dir");
        let d = Device {
            dir,
            bin: bin.into(),
            extra_toml: std::cell::RefCell::new(String::new()),
            firmware: std::cell::Cell::new(false),
            name,
            starts: std::cell::Cell::new(0),
            netns: std::cell::RefCell::new(None),
            listen_address: std::cell::RefCell::new("127.0.0.1".to_owned()),
        };
        d.set_boot_id("boot-1");
        d
    }

    /// Makes this a simulated device with firmware (call before `write_config`):
    /// - the running version is the file `version` (starts at 7.14), re-read at every start;
    /// - the `firmware_apply` hook installs an image whose first line is `FIRMWARE <version>`
    ///   (the version becomes active at the next reboot), or `FIRMWARE-BAD <version>` (it installs,
    ///   but the device boots back into the old version); every application is logged in
    ///   `applies.log`; with a file `apply-sleep` holding seconds, it sleeps after installing
    ///   (so a test can kill the agent inside the hook);
    /// - the `reboot` hook activates the installed version and writes a new boot id (logged in
    ///   `reboots.log`); the agent then exits, and the test restarts it, as a supervisor would.
    pub fn simulate_firmware(&self) {
        self.firmware.set(true);
        let dir = self.path();
        std::fs::write(dir.join("version"), "7.14\n").expect("writing version");
        let (apply, reboot) = firmware_simulator(dir).expect("writing the firmware simulator");
        self.add_config(&format!(
            "[hooks]\nfirmware_apply = {}\nreboot = {}\n",
            toml_str(&apply),
            toml_str(&reboot),
        ));
    }

    /// Lines of a log file the simulated device keeps (`applies.log`, `reboots.log`).
    pub fn log_lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Runs the agent inside this network namespace (`ip netns exec NAME`); the CLI still runs
    /// here (the control socket is a file).
    pub fn run_in_netns(&self, name: &str) {
        *self.netns.borrow_mut() = Some(name.to_owned());
    }

    /// The connection-request listener's address in the configs written from now on.
    pub fn set_listen_address(&self, address: &str) {
        *self.listen_address.borrow_mut() = address.to_owned();
    }

    /// Adds TOML (whole sections) to the configs written from now on.
    pub fn add_config(&self, toml: &str) {
        let mut extra = self.extra_toml.borrow_mut();
        extra.push_str(toml);
        extra.push('\n');
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path().join("data")
    }

    pub fn serial(&self) -> String {
        format!("SN-{}", self.name.len() * 7919)
    }

    /// Writes a new boot id (a device reboot when it differs from the last one).
    pub fn set_boot_id(&self, id: &str) {
        std::fs::write(self.path().join("boot_id"), format!("{id}\n")).expect("writing boot id");
    }

    /// Writes config.toml with these factory settings on top of the common ones.
    pub fn write_config(&self, acs_url: &str, extra: &[(&str, &str)]) {
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
             {}\n\n[session]\ntimeout = \"30s\"\n\n\
             [connection_request]\nlisten_address = {}\n\n[settings]\n",
            toml_str(&self.data_dir().to_string_lossy()),
            toml_str(&self.path().join("boot_id").to_string_lossy()),
            toml_str(&self.serial()),
            if self.firmware.get() {
                format!(
                    "software_version_file = {}",
                    toml_str(&self.path().join("version").to_string_lossy())
                )
            } else {
                "software_version = \"7.14\"".to_owned()
            },
            toml_str(&self.listen_address.borrow()),
        );
        for (k, v) in settings {
            text.push_str(&format!("{k} = {}\n", toml_str(&v)));
        }
        text.push('\n');
        text.push_str(&self.extra_toml.borrow());
        std::fs::write(self.config_path(), text).expect("writing config.toml");
    }

    /// Starts the agent and waits for its control socket (see [`AgentProcess::wait_ready`]).
    pub async fn start(&self) -> anyhow::Result<AgentProcess> {
        let mut agent = self.spawn()?;
        agent.wait_ready(self).await?;
        Ok(agent)
    }

    /// Starts `agent --config … run`, stderr to `agent-<n>.log`.
    pub fn spawn(&self) -> anyhow::Result<AgentProcess> {
        let n = self.starts.get() + 1;
        self.starts.set(n);
        let log_path = self.path().join(format!("agent-{n}.log"));
        let log = std::fs::File::create(&log_path)?;
        let mut command = match &*self.netns.borrow() {
            Some(ns) => {
                // `ip netns exec` execs the agent: the child is the agent itself.
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        let child = command
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
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
        let out = tokio::time::timeout(
            WAIT,
            tokio::process::Command::new(&self.bin)
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
    pub async fn get(&self, name: &str) -> anyhow::Result<String> {
        let (code, out, err) = self.cli(&["get", name]).await?;
        ensure!(code == 0, "get {name} exited {code}: {err}");
        Ok(out.trim().to_owned())
    }

    /// Polls `get NAME` until `pred` holds; returns the value.
    pub async fn wait_get(
        &self,
        name: &str,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
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
    pub fn logs(&self) -> String {
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
pub async fn scenario<F>(device: &Device, body: F)
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

/// kill(2) of process `pid`; whether the signal was sent. In-process rather than `kill(1)`, which
/// a minimal system may lack (procps).
pub fn signal_process(pid: u32, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) takes plain integers and touches none of this process's memory.
    i32::try_from(pid).is_ok_and(|pid| unsafe { libc::kill(pid, signal) } == 0)
}

/// kill(2) of every process in group `pgid` (signal 0: whether any is left).
pub fn signal_group(pgid: u32, signal: libc::c_int) -> bool {
    // SAFETY: as in `signal_process`; a negative pid names the process group.
    i32::try_from(pgid).is_ok_and(|pgid| unsafe { libc::kill(-pgid, signal) } == 0)
}

/// The running agent; killed (SIGKILL) and reaped when dropped.
pub struct AgentProcess {
    child: Option<Child>,
}

impl AgentProcess {
    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// kill -9 and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the daemon's control socket accepts connections. The CLI must not run before
    /// that: with nothing listening it opens the journal itself, and a daemon starting meanwhile
    /// finds the journal locked and exits.
    pub async fn wait_ready(&mut self, device: &Device) -> anyhow::Result<()> {
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

    /// Waits for the agent to exit on its own (a reboot); returns whether it exited with the
    /// daemon's reboot status ([`tr069_client::cli::EXIT_REBOOT`]), as a supervisor expects.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let Some(child) = self.child.as_mut() else {
            bail!("the agent is not running");
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                self.child = None;
                return Ok(status.code() == Some(i32::from(tr069_client::cli::EXIT_REBOOT)));
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the agent did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then wait for the exit (SIGKILL after a while).
    pub async fn terminate(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal_process(child.id(), libc::SIGTERM);
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

/// Writes the simulated device's firmware hooks into `dir` (see [`Device::simulate_firmware`])
/// and returns the `(firmware_apply, reboot)` commands. The boot id lives in `dir/boot_id`, the
/// running version in `dir/version`.
pub fn firmware_simulator(dir: &Path) -> std::io::Result<(String, String)> {
    let apply = r#"#!/bin/sh
set -e
D="$(dirname "$0")"
echo "$1" >> "$D/applies.log"
line=$(head -n 1 "$1")
case "$line" in
  "FIRMWARE-BAD "*) : ;;
  "FIRMWARE "*) echo "${line#FIRMWARE }" > "$D/next-version" ;;
  *) echo "not a firmware image: $line" >&2; exit 3 ;;
esac
if [ -f "$D/apply-sleep" ]; then sleep "$(cat "$D/apply-sleep")"; fi
"#;
    let reboot = r#"#!/bin/sh
D="$(dirname "$0")"
if [ -f "$D/next-version" ]; then mv "$D/next-version" "$D/version"; fi
n=$(cat "$D/boots" 2>/dev/null || echo 1)
n=$((n + 1))
echo "$n" > "$D/boots"
echo "boot-$n" > "$D/boot_id"
echo "reboot $n" >> "$D/reboots.log"
"#;
    std::fs::write(dir.join("fw-apply.sh"), apply)?;
    std::fs::write(dir.join("reboot.sh"), reboot)?;
    Ok((
        format!("sh {}/fw-apply.sh {{file}}", dir.display()),
        format!("sh {}/reboot.sh", dir.display()),
    ))
}

pub fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn digest_acs() -> AcsConfig {
    AcsConfig {
        auth: AcsAuth::Digest {
            username: ACS_USER.into(),
            password: ACS_PASSWORD.into(),
        },
        ..AcsConfig::default()
    }
}

/// Waits for an ended session after the first `after` sessions that satisfies `pred`.
pub async fn wait_session(
    acs: &ScriptedAcs,
    after: usize,
    what: &str,
    pred: impl Fn(&SessionLog) -> bool,
) -> anyhow::Result<SessionLog> {
    acs.wait_for_session(after, WAIT, what, pred).await
}

pub fn completed(s: &SessionLog) -> bool {
    s.end == SessionEnd::Completed
}

/// Asserts the session ended with the ACS's 204 (the exchange is recorded).
pub fn assert_completed_with_204(acs: &ScriptedAcs, s: &SessionLog) -> anyhow::Result<()> {
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
pub async fn check_bootstrap(acs: &ScriptedAcs, device: &Device) -> anyhow::Result<SessionLog> {
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

/// The agent's answer to a GetParameterValues the ACS sends in an `inform-now` session, as
/// (name, value) pairs.
pub async fn get_values(
    acs: &ScriptedAcs,
    device: &Device,
    names: &[&str],
) -> anyhow::Result<Vec<(String, String)>> {
    use tr069_client::cwmp::Body;
    use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
    let request = GetParameterValues {
        parameter_names: names.iter().map(|n| (*n).to_owned()).collect(),
    };
    // A session already under way (a VALUE CHANGE, a periodic one) takes the queued request
    // before the `inform-now` session starts, so the search starts at the first session that
    // has not ended and looks for the session that carried this very request.
    let from = {
        let sessions = acs.sessions();
        sessions
            .iter()
            .position(|s| !s.is_ended())
            .unwrap_or(sessions.len())
    };
    acs.enqueue(Body::GetParameterValues(request.clone()));
    let (code, out, err) = device.cli(&["inform-now"]).await?;
    ensure!(code == 0, "inform-now exited {code}: {out}{err}");
    let is_ours = |c: &crate::AcsCall| match &c.request {
        crate::AcsRequest::Body(Body::GetParameterValues(r)) => *r == request,
        _ => false,
    };
    let s = acs
        .wait_for_session(from, WAIT, "the GetParameterValues session", |s| {
            s.acs_calls.iter().any(is_ours)
        })
        .await?;
    let call = s
        .acs_calls
        .iter()
        .find(|c| is_ours(c))
        .context("the GetParameterValues call")?;
    match call.answer.as_ref().and_then(|a| a.body.clone()) {
        Some(Body::GetParameterValuesResponse(r)) => Ok(r
            .parameter_list
            .into_iter()
            .map(|p| (p.name, p.value.text))
            .collect()),
        other => bail!("GetParameterValues answered {other:?}"),
    }
}
