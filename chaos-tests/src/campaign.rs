//! The chaos campaign kit: one full provisioning + firmware-upgrade flow on a simulated device,
//! driven by a careful ACS, run under a [`Supervisor`] that restarts the agent whenever it dies,
//! with process kills, device reboots, named crash points and ACS faults planned from a seed
//! ([`Plan`]); then an invariant checker over what the ACS recorded and what the journal says.
//!
//! # The flow ([`run_flow`])
//!
//! 1. The agent starts on a fresh device: `0 BOOTSTRAP` + `1 BOOT`.
//! 2. The ACS sends SetParameterValues (NTP server, time zone, periodic settings; ParameterKey
//!    `pk-1`) and AddObject `Device.NAT.PortMapping.` (`pk-2`).
//! 3. With the instance number the agent returned, it sends SetParameterValues into the new
//!    instance (`pk-3`), ScheduleInform (`si-1`, 2 s), a configuration `.alter` Download (`cfg-1`,
//!    40 port-forwarding rules: enough that the journal, bounded to the smallest allowed size,
//!    compacts during the flow) and a firmware Download (`fw-1`, a ~200 KB image from the
//!    [`FileServer`], sometimes served slowly so kills land mid-download).
//! 4. The device applies the image and reboots through its hooks; the supervisor restarts the
//!    agent (the reboot hook wrote a new boot id).
//! 5. The flow is complete when every request was answered (or, when the answer was lost, the
//!    journal proves it was applied), both TransferCompletes were acknowledged, the scheduled
//!    inform was delivered, and a final `inform-now` session (GetParameterValues of the
//!    provisioned values) completed cleanly. The agent is then stopped and the journal checked.
//!
//! The ACS does not blindly re-issue requests whose answer was lost (that would apply them twice):
//! like a careful ACS it re-issues only what was not applied, and here "applied" is read from the
//! journal (`journal export`, with the agent stopped). A firmware transfer reported 9010 (the
//! image never ran because a crash fell between journaling `Applying` and the hook — the agent
//! never applies twice) is retried with a new Download, as an ACS would.
//!
//! # The invariants ([`FlowReport::violations`])
//!
//! * `journal verify` passes; the folded state (`journal state`) owes nothing at the end, the
//!   retry count is 0, no transfer or reboot is pending, the journal never had to recover.
//! * Events: `0 BOOTSTRAP` is in every Inform up to and including the first one the ACS accepted
//!   and never again; `1 BOOT` is delivered after every boot; `3 SCHEDULED` + `M ScheduleInform`
//!   are delivered once, not before they were due; `M Download` + `7 TRANSFER COMPLETE` travel
//!   with their TransferComplete; no `M Reboot`. An event the ACS accepted may come again only
//!   when the agent died between the InformResponse and its acknowledgement record (the Inform
//!   was the session's last message and the process died before the next session).
//! * Transfers: every accepted transfer ends in exactly one acknowledged TransferComplete with
//!   its CommandKey, FaultCode 0 (9010 for a firmware attempt only when a crash fell inside it),
//!   StartTime <= CompleteTime, neither the Unknown Time; a TransferComplete is repeated only when
//!   identical to the first and only after the same crash window; no image is applied twice
//!   (`applies.log`).
//! * RetryCount equals the consecutive failed sessions: 0 after a success or a new boot, +1 after
//!   each failure; where the agent died in between, within the bounds the deaths allow (a death
//!   mid-session counts as a failure after a process restart, a reboot resets the count).
//! * The final values (GetParameterValues, the Inform's SoftwareVersion, the periodic settings)
//!   equal those of the same flow without faults ([`Reference`]).
//!
//! Every violation report carries the seed, the plan, the deaths (kills, crash points reached,
//! reboots) and a summary of the ACS exchange, so a run can be replayed (`CHAOS_SEED=<seed>`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, anyhow, bail, ensure};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::Value as Json;
use tr069_client::cwmp::rpc::add_object::AddObject;
use tr069_client::cwmp::rpc::download::{Download, file_type};
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::rpc::inform::event_code as ec;
use tr069_client::cwmp::rpc::schedule_inform::ScheduleInform;
use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
use tr069_client::cwmp::rpc::transfer_complete::TransferComplete;
use tr069_client::cwmp::{Body, ParameterValueStruct, Value};

use crate::device::{CR_PASSWORD, CR_USER, Device, digest_acs, signal_group, signal_process};
use crate::netns::{udp_connection_request, unix_now};
use crate::xmpp_acs::{Answer, XmppAcs};
use crate::{
    AcsConfig, AcsRequest, Exchange, Failure, FileServer, FileServerConfig, Mode, ScriptedAcs,
    SessionEnd, SessionLog,
};

/// Every named crash point of the agent (`crash_point!` in `src/`).
pub const CRASH_POINTS: &[&str] = &[
    "append.after_durable",
    "snapshot.before",
    "snapshot.after",
    "session.before_ack_journaled",
    "session.after_journal_before_send",
    "reboot.before_hook",
    "transfer.after_downloading_journaled",
    "transfer.after_checkpoint",
    "transfer.before_outcome_journaled",
    "transfer.after_applying_journaled",
    "firmware.after_hook",
    "config.before_apply_journaled",
];

/// The version the firmware image installs (the device starts at 7.14).
pub const FIRMWARE_VERSION: &str = "7.15";
const FIRMWARE_SIZE: usize = 200_000;
/// The agent's whole-session limit (`[session] timeout`): small, so a slow ACS makes it give up.
const SESSION_TIMEOUT: &str = "6s";
/// How long a "slow" ACS waits before its InformResponse: beyond [`SESSION_TIMEOUT`].
pub const SLOW_RESPONSE: Duration = Duration::from_secs(8);
/// The journal's live bound (the smallest the config accepts): compaction happens in the flow.
pub const JOURNAL_MAX_LIVE_BYTES: u64 = 16 * 1024;
/// Longest one flow may take before it is reported as stuck (generous: never a timing assert).
const FLOW_LIMIT: Duration = Duration::from_secs(180);
const SCHEDULE_INFORM_DELAY: u32 = 2;
const TICK: Duration = Duration::from_millis(40);
/// Firmware Downloads the ACS issues before it gives up.
const MAX_FIRMWARE_ATTEMPTS: usize = 3;
/// Restarts after which a flow is reported as a restart loop.
const MAX_STARTS: u32 = 40;
/// How long the flow waits for the ACS to notice the dead agent's connection closed.
const CLOSE_GRACE: Duration = Duration::from_secs(3);
/// Longest an XMPP connection request may take, the ACS's login included (generous: a limit on
/// a stuck harness, never a timing assertion).
const XMPP_CR_LIMIT: Duration = Duration::from_secs(30);
/// How long the ACS waits for the answer to its connectionRequest IQ.
const XMPP_ANSWER_WAIT: Duration = Duration::from_secs(10);

const PK_SPV1: &str = "pk-1";
const PK_ADD: &str = "pk-2";
const PK_SPV2: &str = "pk-3";
const SI_KEY: &str = "si-1";
const CFG_KEY: &str = "cfg-1";
const PORT_MAPPING: &str = "Device.NAT.PortMapping.";
/// Port-forwarding rules the `.alter` file installs.
const ALTER_RULES: u32 = 40;

/// What the final session reads back (compared with the fault-free flow).
const FINAL_NAMES: &[&str] = &[
    "Device.ManagementServer.ParameterKey",
    "Device.ManagementServer.PeriodicInformEnable",
    "Device.ManagementServer.PeriodicInformInterval",
    "Device.Time.NTPServer1",
    "Device.Time.NTPServer2",
    "Device.Time.LocalTimeZone",
    "Device.NAT.",
    "Device.DeviceInfo.SoftwareVersion",
];

/// The settings of the folded state compared with the fault-free flow.
const FINAL_SETTINGS: &[&str] = &[
    "enabled",
    "periodic-inform-enabled",
    "periodic-inform-interval",
    "periodic-inform-time",
    "retry-minimum-wait",
    "retry-interval-multiplier",
];

// ------------------------------------------------------------------------------------------
// Plans
// ------------------------------------------------------------------------------------------

/// A SIGKILL at an instant of the flow (measured from its start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kill {
    pub at: Duration,
    /// Also a device reboot: the whole process group dies (hooks included) and the device's
    /// reboot script runs (a new boot id; an installed image becomes active).
    pub device_reboot: bool,
}

/// Abort the agent at a named crash point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashAt {
    pub point: String,
    /// The hit (1-based) of the point within the planted process.
    pub hit: u32,
    /// The start (1-based) whose process gets `TR069_CRASH_AT`.
    pub start: u32,
    /// After the abort the device reboots (new boot id) instead of a plain process restart.
    pub then_reboot: bool,
}

/// How a connection request reaches the agent in a reachability campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrKind {
    /// A signed datagram (three copies, as GenieACS sends) to the agent's STUN/UDP socket.
    Udp,
    /// A connectionRequest IQ through the XMPP server.
    Xmpp,
}

/// The XMPP server of a reachability campaign (prosody on loopback), shared by every flow: each
/// agent logs in as [`XMPP_CPE_USER`] with its own resource, the ACS as [`XMPP_ACS_USER`].
#[derive(Debug, Clone)]
pub struct XmppServer {
    pub addr: SocketAddr,
    pub domain: String,
    /// The CA of the server's certificate (the agent verifies it).
    pub ca_file: PathBuf,
}

/// The XMPP accounts a reachability campaign's server must have (user, password).
pub const XMPP_CPE_USER: (&str, &str) = ("cpe", "cpe-xmpp-secret");
pub const XMPP_ACS_USER: (&str, &str) = ("acs", "acs-xmpp-secret");

/// Which connection-request mechanisms a flow's agent runs (besides HTTP).
#[derive(Debug, Clone)]
pub struct Reach {
    /// The UDP socket (`stun-enabled`; no STUN server answers on loopback, which leaves the
    /// socket taking connection requests all the same).
    pub udp: bool,
    pub xmpp: Option<XmppServer>,
}

/// Everything that goes wrong in one flow.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub label: String,
    /// Serve the firmware image at this rate (bytes/s).
    pub slow_download: Option<u64>,
    /// The firmware apply hook sleeps 1 s after installing (kills land inside the hook).
    pub slow_apply: bool,
    /// Sorted by instant.
    pub kills: Vec<Kill>,
    /// The failure (if any) the ACS answers the n-th session's Inform with (index 0: session 1).
    pub acs_faults: Vec<Option<Failure>>,
    pub crash: Option<CrashAt>,
    /// The connection-request listeners the agent runs (`None`: HTTP only, no request sent).
    pub reach: Option<Reach>,
    /// Connection requests sent at instants of the flow (sorted by instant).
    pub connection_requests: Vec<(Duration, CrKind)>,
}

impl Plan {
    /// The flow without faults.
    pub fn clean(seed: u64) -> Plan {
        Plan {
            seed,
            label: "clean".to_owned(),
            slow_download: None,
            slow_apply: false,
            kills: Vec::new(),
            acs_faults: Vec::new(),
            crash: None,
            reach: None,
            connection_requests: Vec::new(),
        }
    }

    /// One crash point, then a process restart or a device reboot.
    pub fn crash(point: &str, hit: u32, start: u32, then_reboot: bool) -> Plan {
        Plan {
            label: format!(
                "{point}@{hit} start {start} then {}",
                if then_reboot { "reboot" } else { "restart" }
            ),
            crash: Some(CrashAt {
                point: point.to_owned(),
                hit,
                start,
                then_reboot,
            }),
            ..Plan::clean(0)
        }
    }

    /// 1–3 SIGKILLs (about a third of them device reboots) at random instants, a slow firmware
    /// server in 40 % of the seeds, and ACS faults on up to three of the first six sessions in
    /// half of them.
    pub fn random(seed: u64) -> Plan {
        let mut rng = StdRng::seed_from_u64(seed);
        let slow_download = if rng.random_bool(0.4) {
            Some(rng.random_range(60_000..=160_000u64))
        } else {
            None
        };
        let slow_apply = rng.random_bool(0.25);
        // Kills land inside the flow: about 2.5 s, plus the slow download and the slow hook.
        let horizon = 2_500
            + slow_download.map_or(0, |rate| FIRMWARE_SIZE as u64 * 1000 / rate)
            + if slow_apply { 1_000 } else { 0 };
        let n = rng.random_range(1..=3usize);
        let mut kills: Vec<Kill> = (0..n)
            .map(|_| Kill {
                at: Duration::from_millis(rng.random_range(100..=horizon)),
                device_reboot: rng.random_bool(0.3),
            })
            .collect();
        kills.sort_by_key(|k| k.at);
        let mut acs_faults: Vec<Option<Failure>> = Vec::new();
        if rng.random_bool(0.5) {
            acs_faults = vec![None; 6];
            for _ in 0..rng.random_range(1..=3usize) {
                let slot = rng.random_range(0..6usize);
                acs_faults[slot] = Some(random_failure(&mut rng));
            }
            while acs_faults.last().is_some_and(Option::is_none) {
                acs_faults.pop();
            }
        }
        Plan {
            seed,
            label: format!("seed {seed}"),
            slow_download,
            slow_apply,
            kills,
            acs_faults,
            crash: None,
            reach: None,
            connection_requests: Vec::new(),
        }
    }

    /// This plan with the `reach` listeners on and 2–6 connection requests (of the kinds
    /// `reach` enables) at random instants up to 2 s after the last kill. They are drawn from a
    /// generator of their own, so the rest of the plan is the seed's [`Plan::random`] one.
    pub fn with_connection_requests(mut self, reach: Reach) -> Plan {
        let mut rng = StdRng::seed_from_u64(self.seed ^ 0x6372_2d72_6561_6368);
        let kinds: Vec<CrKind> = [
            reach.udp.then_some(CrKind::Udp),
            reach.xmpp.as_ref().map(|_| CrKind::Xmpp),
        ]
        .into_iter()
        .flatten()
        .collect();
        let horizon = self.kills.last().map_or(2_500, |k| k.at.as_millis() as u64) + 2_000;
        if !kinds.is_empty() {
            let n = rng.random_range(2..=6usize);
            self.connection_requests = (0..n)
                .map(|_| {
                    (
                        Duration::from_millis(rng.random_range(100..=horizon)),
                        kinds[rng.random_range(0..kinds.len())],
                    )
                })
                .collect();
            self.connection_requests.sort_by_key(|(at, _)| *at);
        }
        self.reach = Some(reach);
        self
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        let kills: Vec<String> = self
            .kills
            .iter()
            .map(|k| {
                format!(
                    "+{:.3}s {}",
                    k.at.as_secs_f64(),
                    if k.device_reboot { "reboot" } else { "kill" }
                )
            })
            .collect();
        let faults: Vec<String> = self
            .acs_faults
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| format!("session {}: {f:?}", i + 1)))
            .collect();
        let crs: Vec<String> = self
            .connection_requests
            .iter()
            .map(|(at, kind)| format!("+{:.3}s {kind:?}", at.as_secs_f64()))
            .collect();
        format!(
            "seed={} label={:?} slow_download={:?} slow_apply={} kills=[{}] acs_faults=[{}] connection_requests=[{}] crash={}",
            self.seed,
            self.label,
            self.slow_download,
            self.slow_apply,
            kills.join(", "),
            faults.join(", "),
            crs.join(", "),
            self.crash.as_ref().map_or_else(
                || "-".to_owned(),
                |c| format!(
                    "{}@{} at start {} then {}",
                    c.point,
                    c.hit,
                    c.start,
                    if c.then_reboot { "reboot" } else { "restart" }
                )
            ),
        )
    }
}

fn random_failure(rng: &mut StdRng) -> Failure {
    match rng.random_range(0..9u32) {
        0 => Failure::Status(401),
        1 => Failure::Unauthorized,
        2 => Failure::Status(500),
        3 => Failure::Status503 {
            retry_after_seconds: 1,
        },
        4 => Failure::CloseMidBody,
        5 => Failure::ResetConnection,
        6 => Failure::Delay(SLOW_RESPONSE),
        7 => Failure::MalformedXml,
        _ => Failure::Fault(8005),
    }
}

/// The failure the ACS really injected into a session (a zero `Delay` is the "no fault" filler).
fn real_failure(s: &SessionLog) -> Option<&Failure> {
    match &s.injected {
        Some(Failure::Delay(d)) if d.is_zero() => None,
        other => other.as_ref(),
    }
}

/// The ACS accepted the Inform (answered it with an InformResponse in time).
fn delivering(s: &SessionLog) -> bool {
    real_failure(s).is_none()
}

// ------------------------------------------------------------------------------------------
// Supervisor
// ------------------------------------------------------------------------------------------

/// Why an agent process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// SIGKILL of the process (a crash).
    Kill,
    /// SIGKILL of the process group, then the device's reboot script (a power cycle).
    DeviceReboot,
    /// Aborted at this crash point.
    Abort(String),
    /// Exited after running the reboot hook (a new boot id).
    RebootHook,
    /// Stopped with SIGTERM by the flow (to read its journal).
    Terminate,
    /// Anything else (never expected).
    Exit(String),
}

/// One end of an agent process.
#[derive(Debug, Clone)]
pub struct Death {
    pub at: SystemTime,
    /// Which start (1-based) died.
    pub start: u32,
    pub cause: Cause,
    /// The next start sees a new boot id.
    pub new_boot: bool,
}

/// Runs the REAL agent like a device's supervisor: restarts it whenever it exits or is killed.
/// Each start gets its own stderr log (`run-<n>.log`, RUST_LOG=info) and crash log
/// (`crash-<n>.log`, every crash point reached); the process runs in its own process group so a
/// device reboot can kill its hooks too. Dropping it kills the process group.
pub struct Supervisor {
    bin: PathBuf,
    dir: PathBuf,
    config: PathBuf,
    socket: PathBuf,
    crash: Option<CrashAt>,
    child: Option<Child>,
    ready: bool,
    starts: u32,
    boot_at_start: String,
    cause: Option<Cause>,
    deaths: Vec<Death>,
    last_pgid: Option<u32>,
    spawned_at: Vec<SystemTime>,
}

impl Supervisor {
    pub fn new(device: &Device, bin: &Path, crash: Option<CrashAt>) -> Supervisor {
        Supervisor {
            bin: bin.to_path_buf(),
            dir: device.path().to_path_buf(),
            config: device.config_path(),
            socket: device.data_dir().join("control.sock"),
            crash,
            child: None,
            ready: false,
            starts: 0,
            boot_at_start: String::new(),
            cause: None,
            deaths: Vec::new(),
            last_pgid: None,
            spawned_at: Vec::new(),
        }
    }

    pub fn alive(&self) -> bool {
        self.child.is_some()
    }

    pub fn starts(&self) -> u32 {
        self.starts
    }

    pub fn deaths(&self) -> &[Death] {
        &self.deaths
    }

    fn boot_id(&self) -> String {
        std::fs::read_to_string(self.dir.join("boot_id"))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// Whether the running agent's control socket answers (the CLI may be used).
    pub fn ready(&mut self) -> bool {
        if self.child.is_none() {
            return false;
        }
        if !self.ready {
            self.ready = std::os::unix::net::UnixStream::connect(&self.socket).is_ok();
        }
        self.ready
    }

    /// `agent --config … run` (through `sh` only to switch core dumps off, then `exec`). The
    /// previous process group (hooks the dead agent left running) is waited for first, and the
    /// previous death learns whether this start sees a new boot id.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        ensure!(self.child.is_none(), "the agent is already running");
        self.wait_group_gone().await;
        let boot = self.boot_id();
        if let Some(d) = self.deaths.last_mut() {
            d.new_boot = boot != self.boot_at_start;
        }
        self.starts += 1;
        let n = self.starts;
        let log = std::fs::File::create(self.dir.join(format!("run-{n}.log")))
            .context("creating the agent's log")?;
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("ulimit -c 0 2>/dev/null; exec \"$@\"")
            .arg("agent")
            .arg(&self.bin)
            .arg("--config")
            .arg(&self.config)
            .arg("run")
            .env("RUST_LOG", "info")
            .env("TR069_CRASH_LOG", self.dir.join(format!("crash-{n}.log")))
            .env_remove("TR069_CRASH_AT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        if let Some(c) = &self.crash
            && c.start == n
        {
            cmd.env("TR069_CRASH_AT", format!("{}@{}", c.point, c.hit));
        }
        self.boot_at_start = boot;
        self.spawned_at.push(SystemTime::now());
        let child = cmd.spawn().context("spawning the agent")?;
        self.last_pgid = Some(child.id());
        self.child = Some(child);
        self.ready = false;
        Ok(())
    }

    /// Waits (up to 10 s) until no process of the dead agent's group is left: a hook it started,
    /// or a child it was spawning when it died — until that child execs, it shares the agent's
    /// descriptors, the journal's lock included (seen for about a second under load).
    pub async fn wait_group_gone(&mut self) {
        if self.child.is_some() {
            return;
        }
        if let Some(pgid) = self.last_pgid.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while group_alive(pgid) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Reaps the agent if it ended; returns how.
    pub fn poll(&mut self) -> anyhow::Result<Option<Death>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let Some(status) = child.try_wait().context("waiting for the agent")? else {
            return Ok(None);
        };
        self.child = None;
        self.ready = false;
        let cause = match self.cause.take() {
            Some(c) => c,
            None if status.signal() == Some(6) => Cause::Abort(
                self.abort_point(self.starts)
                    .unwrap_or_else(|| "(unknown point)".to_owned()),
            ),
            None if status.code() == Some(i32::from(tr069_client::cli::EXIT_REBOOT))
                && self.boot_id() != self.boot_at_start =>
            {
                Cause::RebootHook
            }
            None => Cause::Exit(format!("{status}")),
        };
        if matches!(cause, Cause::Abort(_))
            && self
                .crash
                .as_ref()
                .is_some_and(|c| c.then_reboot && c.start == self.starts)
        {
            self.run_reboot_script()?;
        }
        Ok(Some(self.record(cause)))
    }

    fn record(&mut self, cause: Cause) -> Death {
        let death = Death {
            at: SystemTime::now(),
            start: self.starts,
            cause,
            // Settled by the next start (a hook the dead agent started may still reboot).
            new_boot: self.boot_id() != self.boot_at_start,
        };
        self.deaths.push(death.clone());
        death
    }

    /// The crash point a start aborted at, from its log.
    fn abort_point(&self, start: u32) -> Option<String> {
        let log = std::fs::read_to_string(self.dir.join(format!("run-{start}.log"))).ok()?;
        let line = log.lines().rfind(|l| l.contains("crash point "))?;
        let rest = &line[line.find("crash point ")? + "crash point ".len()..];
        Some(rest.split(" (").next()?.to_owned())
    }

    /// SIGKILL now; with `device_reboot`, the whole process group and then the reboot script.
    pub fn kill(&mut self, device_reboot: bool) -> anyhow::Result<Option<Death>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        if device_reboot {
            kill_group(child.id(), libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        self.ready = false;
        self.cause = None;
        if device_reboot {
            self.run_reboot_script()?;
        }
        Ok(Some(self.record(if device_reboot {
            Cause::DeviceReboot
        } else {
            Cause::Kill
        })))
    }

    /// SIGTERM, then SIGKILL if it does not stop within 10 s.
    pub async fn terminate(&mut self) -> anyhow::Result<Option<Death>> {
        let Some(child) = self.child.as_mut() else {
            return Ok(None);
        };
        let pid = child.id();
        signal_process(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().context("waiting for the agent")?.is_some() {
                break;
            }
            if Instant::now() >= deadline {
                kill_group(pid, libc::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.child = None;
        self.ready = false;
        self.cause = None;
        Ok(Some(self.record(Cause::Terminate)))
    }

    /// The simulated device's reboot: activates an installed image, writes a new boot id.
    fn run_reboot_script(&self) -> anyhow::Result<()> {
        let status = Command::new("/bin/sh")
            .arg(self.dir.join("reboot.sh"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running reboot.sh")?;
        ensure!(status.success(), "reboot.sh failed: {status}");
        Ok(())
    }

    /// Which start ran each agent session (`session starting session=<id>` in its log).
    pub fn session_starts(&self) -> BTreeMap<String, u32> {
        let mut out = BTreeMap::new();
        for n in 1..=self.starts {
            let text =
                std::fs::read_to_string(self.dir.join(format!("run-{n}.log"))).unwrap_or_default();
            for line in text.lines().filter(|l| l.contains("session starting")) {
                if let Some(rest) = line.split("session=").nth(1) {
                    let id: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                    out.insert(id, n);
                }
            }
        }
        out
    }

    /// The last start spawned at or before `t` (a fallback when a log lacks a session).
    pub fn start_at(&self, t: SystemTime) -> u32 {
        self.spawned_at.iter().filter(|s| **s <= t).count() as u32
    }

    /// The crash points each start reached, in order.
    pub fn points_reached(&self) -> BTreeMap<u32, Vec<String>> {
        (1..=self.starts)
            .map(|n| {
                let text = std::fs::read_to_string(self.dir.join(format!("crash-{n}.log")))
                    .unwrap_or_default();
                (n, text.lines().map(str::to_owned).collect())
            })
            .collect()
    }

    /// The tails of the last `runs` agent logs.
    pub fn log_tail(&self, runs: u32, chars: usize) -> String {
        let mut out = String::new();
        for n in self.starts.saturating_sub(runs - 1).max(1)..=self.starts {
            let text =
                std::fs::read_to_string(self.dir.join(format!("run-{n}.log"))).unwrap_or_default();
            let tail: String = {
                let all: Vec<char> = text.chars().collect();
                all[all.len().saturating_sub(chars)..].iter().collect()
            };
            let _ = writeln!(out, "---- agent start {n} stderr (tail) ----\n{tail}");
        }
        out
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(child.id(), libc::SIGKILL);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The processes with a file under `dir` open (from `/proc`): `pid cmdline -> file`.
fn holders(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && target.starts_with(dir)
            {
                let cmd = std::fs::read(p.path().join("cmdline"))
                    .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                    .unwrap_or_default();
                out.push(format!("{pid} {} -> {}", cmd.trim(), target.display()));
            }
        }
    }
    out
}

/// Whether any process of the group is still there (`kill -0 -- -PGID`).
fn group_alive(pgid: u32) -> bool {
    signal_group(pgid, 0)
}

/// `kill -SIG -- -PGID`: the agent runs in its own process group (its pid).
fn kill_group(pid: u32, signal: libc::c_int) {
    signal_group(pid, signal);
}

// ------------------------------------------------------------------------------------------
// The flow
// ------------------------------------------------------------------------------------------

/// The kinds of ACS request the invariant checker follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReqKind {
    Spv,
    AddObject,
    ScheduleInform,
    Download,
    Gpv,
}

/// How a tracked request ended.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// The CPE's answer reached the ACS.
    Answered { method: String, body: Option<Body> },
    /// The answer was lost, but the journal holds the request's effect.
    Applied {
        proof: String,
        instance: Option<u32>,
    },
}

/// A request the ACS issues, followed until it is answered or proven applied.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub label: String,
    pub kind: ReqKind,
    pub key: String,
    pub body: Body,
    pub enqueued_at: SystemTime,
    pub resolution: Option<Resolution>,
    /// (session, call index) of lost answers already decided.
    pub decided: BTreeSet<(u64, usize)>,
    pub reissued: u32,
}

/// The final values of a fault-free flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub values: BTreeMap<String, String>,
}

/// What one flow did and what it violated.
#[derive(Debug, Clone, Default)]
pub struct FlowReport {
    pub seed: u64,
    pub label: String,
    pub completed: bool,
    pub violations: Vec<String>,
    /// SIGKILLs executed (device reboots included).
    pub kills: usize,
    pub device_reboots: usize,
    /// Crash points the agent aborted at.
    pub aborts: Vec<String>,
    /// Stops the flow made to read the journal.
    pub inspections: usize,
    /// `journal verify` runs (after every death, and at the end).
    pub verifies: usize,
    /// Sessions the ACS answered with an injected failure.
    pub acs_faults: usize,
    pub sessions: usize,
    pub starts: u32,
    /// Requests re-issued because the journal showed they were never applied.
    pub reissued: u32,
    /// Answers lost but proven applied by the journal.
    pub applied_unanswered: u32,
    /// Firmware Downloads issued.
    pub firmware_attempts: usize,
    pub points_reached: BTreeMap<u32, Vec<String>>,
    pub values: BTreeMap<String, String>,
    /// The connection requests of a reachability flow.
    pub crs: CrCounts,
    pub elapsed: Duration,
    /// Replay information: the plan, the deaths, the ACS exchange, log tails on violation.
    pub details: String,
}

impl FlowReport {
    /// Every crash point reached in any start.
    pub fn all_points(&self) -> BTreeSet<String> {
        self.points_reached.values().flatten().cloned().collect()
    }

    /// One line: `seed 7 ok 6.1s kills=2 …`.
    pub fn line(&self) -> String {
        let crs = &self.crs;
        let crs = if crs.udp_sent + crs.xmpp_sent == 0 {
            String::new()
        } else {
            format!(
                " cr: udp={}/{} xmpp={}/{} served={} cut={} cr_sessions={}",
                crs.udp_accepted,
                crs.udp_sent,
                crs.xmpp_accepted,
                crs.xmpp_sent,
                crs.served,
                crs.cut,
                crs.sessions
            )
        };
        format!(
            "{:<48} {} {:>5.1}s starts={} kills={} reboots={} aborts={} inspections={} acs_faults={} sessions={} reissued={} applied_unanswered={} fw_attempts={}{crs}",
            self.label,
            if self.violations.is_empty() {
                "ok  "
            } else {
                "FAIL"
            },
            self.elapsed.as_secs_f64(),
            self.starts,
            self.kills,
            self.device_reboots,
            self.aborts.len(),
            self.inspections,
            self.acs_faults,
            self.sessions,
            self.reissued,
            self.applied_unanswered,
            self.firmware_attempts,
        )
    }
}

struct Flow<'a> {
    plan: &'a Plan,
    device: Device,
    acs: ScriptedAcs,
    files: FileServer,
    sup: Supervisor,
    t0: Instant,
    t0_sys: SystemTime,
    tracked: Vec<Tracked>,
    phase2: bool,
    fw_keys: Vec<String>,
    final_phase: bool,
    final_gpv: Option<usize>,
    next_kill: usize,
    last_nudge: Option<Instant>,
    last_print: Option<Instant>,
    down_since: Option<Instant>,
    empty_answers: BTreeSet<(u64, usize)>,
    verify_pending: bool,
    verifies: usize,
    notes: Vec<String>,
    violations: Vec<String>,
    /// The next of `plan.connection_requests` to send.
    next_cr: usize,
    crs_sent: Vec<SentCr>,
    /// The agent's UDP connection-request port (fixed across its restarts).
    udp_port: Option<u16>,
    /// What the XMPP server relayed back for each XMPP request (index into `crs_sent`).
    xmpp_answers: XmppAnswers,
}

/// The XMPP requests' answers (index into `crs_sent`, the answer or why none came), filled by
/// the tasks that send them.
type XmppAnswers = Arc<Mutex<Vec<(usize, Result<Answer, String>)>>>;

/// A connection request the flow sent.
#[derive(Debug, Clone)]
struct SentCr {
    kind: CrKind,
    at: SystemTime,
    /// The agent start running when it was sent (it may have been dead).
    start: u32,
}

/// Connection-request counts of a reachability flow (or campaign).
#[derive(Debug, Clone, Copy, Default)]
pub struct CrCounts {
    pub udp_sent: usize,
    pub xmpp_sent: usize,
    /// Accepted by the agent (its log), UDP and XMPP.
    pub udp_accepted: usize,
    pub xmpp_accepted: usize,
    /// Accepted, and a session of the same agent start that began after it carried
    /// `6 CONNECTION REQUEST` to the ACS.
    pub served: usize,
    /// Accepted, but the agent start died before any such session (the request died with it).
    pub cut: usize,
    /// XMPP requests the server or the agent answered with an error (the agent was down or not
    /// yet logged in), or left unanswered.
    pub xmpp_refused: usize,
    /// ACS sessions whose Inform carried `6 CONNECTION REQUEST`.
    pub sessions: usize,
}

impl CrCounts {
    fn add(&mut self, o: &CrCounts) {
        self.udp_sent += o.udp_sent;
        self.xmpp_sent += o.xmpp_sent;
        self.udp_accepted += o.udp_accepted;
        self.xmpp_accepted += o.xmpp_accepted;
        self.served += o.served;
        self.cut += o.cut;
        self.xmpp_refused += o.xmpp_refused;
        self.sessions += o.sessions;
    }
}

impl std::fmt::Display for CrCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connection requests: UDP sent={} accepted={}, XMPP sent={} accepted={} refused={}, served={} cut by a death={}, sessions with 6 CONNECTION REQUEST={}",
            self.udp_sent,
            self.udp_accepted,
            self.xmpp_sent,
            self.xmpp_accepted,
            self.xmpp_refused,
            self.served,
            self.cut,
            self.sessions
        )
    }
}

/// The configuration `.alter` file: an NTP server and a router's worth of port-forwarding rules
/// (instances 11.., created by the file) — about 14 KB of values, so that the journal (bounded
/// to [`JOURNAL_MAX_LIVE_BYTES`]) compacts during the flow.
fn alteration() -> String {
    let mut text =
        String::from("# chaos campaign alteration\nDevice.Time.NTPServer1 = ntp1.alter.example\n");
    for i in 0..ALTER_RULES {
        let n = 11 + i;
        let _ = writeln!(
            text,
            "{PORT_MAPPING}{n}.ExternalPort = {}\n{PORT_MAPPING}{n}.Description = rule {n}: {}",
            10_000 + n,
            "forward to the lab host behind the router, kept by the chaos campaign; ".repeat(3)
        );
    }
    text
}

/// The firmware image: `FIRMWARE <version>` then filler.
fn image(first_line: &str, size: usize) -> Vec<u8> {
    let mut bytes = format!("{first_line}\n").into_bytes();
    let mut x: u32 = 0x2545_f491;
    while bytes.len() < size {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x % 251) as u8);
    }
    bytes
}

fn download(url: &str, key: &str, ft: &str) -> Body {
    Body::Download(Download {
        command_key: key.into(),
        file_type: ft.into(),
        url: url.into(),
        username: String::new(),
        password: String::new(),
        file_size: 0,
        target_file_name: String::new(),
        delay_seconds: 0,
        success_url: String::new(),
        failure_url: String::new(),
    })
}

fn spv(values: Vec<(String, Value)>, key: &str) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: values
            .into_iter()
            .map(|(n, v)| ParameterValueStruct::new(n, v))
            .collect(),
        parameter_key: key.into(),
    })
}

fn fw_key(n: usize) -> String {
    format!("fw-{n}")
}

/// Runs one flow on its own current-thread runtime (call from a plain thread).
pub fn run_flow(bin: &Path, plan: &Plan, reference: Option<&Reference>) -> FlowReport {
    let started = Instant::now();
    let mut report = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(flow(bin, plan, reference)),
        Err(e) => FlowReport {
            violations: vec![format!("harness: cannot build a runtime: {e}")],
            ..FlowReport::default()
        },
    };
    report.seed = plan.seed;
    report.label = plan.label.clone();
    report.elapsed = started.elapsed();
    report
}

/// Runs the plans, `parallel` at a time (each on its own thread, device, ACS and file server);
/// `progress` sees every report as it finishes. Reports come back in plan order.
pub fn run_plans(
    bin: &Path,
    plans: Vec<Plan>,
    parallel: usize,
    reference: Option<&Reference>,
    progress: &(dyn Fn(&FlowReport) + Sync),
) -> Vec<FlowReport> {
    let total = plans.len();
    let queue: Mutex<VecDeque<(usize, Plan)>> = Mutex::new(plans.into_iter().enumerate().collect());
    let done: Mutex<Vec<(usize, FlowReport)>> = Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some((i, plan)) = next else { break };
                    let report = run_flow(bin, &plan, reference);
                    progress(&report);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, report));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

async fn flow(bin: &Path, plan: &Plan, reference: Option<&Reference>) -> FlowReport {
    let mut f = match Flow::setup(bin, plan).await {
        Ok(f) => f,
        Err(e) => {
            return FlowReport {
                violations: vec![format!("harness: setting up the flow: {e:#}")],
                details: plan.describe(),
                ..FlowReport::default()
            };
        }
    };
    let completed = match f.drive().await {
        Ok(done) => done,
        Err(e) => {
            f.violations
                .push(format!("harness: driving the flow: {e:#}"));
            false
        }
    };
    if !completed && f.violations.is_empty() {
        f.violations.push(format!(
            "the flow did not complete within {FLOW_LIMIT:?}: {}",
            f.missing()
        ));
    }
    let mut report = FlowReport {
        completed,
        ..FlowReport::default()
    };
    match f.finish(completed, reference, &mut report).await {
        Ok(()) => {}
        Err(e) => f.violations.push(format!("harness: final checks: {e:#}")),
    }
    report.violations = std::mem::take(&mut f.violations);
    report.details = f.details(&report);
    if let Some(dir) = std::env::var_os("CHAOS_KEEP_DIR") {
        // Post-mortem: the device directory (config, journal, logs, crash logs) is copied.
        let name: String = format!("{}-{}", plan.label, plan.seed)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let dest = PathBuf::from(dir).join(name);
        let _ = std::fs::create_dir_all(&dest);
        let copied = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", f.device.path().display()))
            .arg(&dest)
            .status();
        let _ = writeln!(
            report.details,
            "device directory copied to {} ({copied:?})",
            dest.display()
        );
    }
    report
}

impl<'a> Flow<'a> {
    async fn setup(bin: &Path, plan: &'a Plan) -> anyhow::Result<Flow<'a>> {
        let files = FileServer::start(FileServerConfig::default()).await?;
        let acs = ScriptedAcs::start(AcsConfig {
            // A careful ACS: a request whose answer was lost is re-issued only when the device
            // did not apply it (decided from the journal), never blindly.
            requeue_unanswered: false,
            ..digest_acs()
        })
        .await?;
        let device = Device::new("chaos-flow", bin);
        device.simulate_firmware();
        // CHAOS_JOURNAL_MAX_LIVE_BYTES: a larger bound keeps the whole flow in the journal (the
        // post-mortem report's browser test shows its kills, which a compaction would fold away).
        let max_live_bytes = std::env::var("CHAOS_JOURNAL_MAX_LIVE_BYTES")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(JOURNAL_MAX_LIVE_BYTES);
        device.add_config(&format!("[journal]\nmax_live_bytes = {max_live_bytes}\n"));
        let mut udp_port = None;
        let mut settings: Vec<(String, String)> = Vec::new();
        if let Some(reach) = &plan.reach {
            if reach.udp {
                // A port free now, kept across restarts (the ACS sends to one address).
                let port = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
                    .local_addr()?
                    .port();
                udp_port = Some(port);
                settings.push(("stun-enabled".into(), "yes".into()));
                settings.push(("udp-connection-request-port".into(), port.to_string()));
            }
            if let Some(x) = &reach.xmpp {
                for (k, v) in [
                    ("xmpp-enabled", "yes".to_owned()),
                    ("xmpp-username", XMPP_CPE_USER.0.to_owned()),
                    ("xmpp-password", XMPP_CPE_USER.1.to_owned()),
                    ("xmpp-domain", x.domain.clone()),
                    ("xmpp-resource", xmpp_resource(plan.seed)),
                    ("xmpp-server-address", x.addr.ip().to_string()),
                    ("xmpp-server-port", x.addr.port().to_string()),
                    ("ca-file", x.ca_file.to_string_lossy().into_owned()),
                    (
                        "connection-request-allowed-jabber-ids",
                        format!("{}@{}", XMPP_ACS_USER.0, x.domain),
                    ),
                    ("xmpp-server-retry-initial-interval", "1".to_owned()),
                    ("xmpp-server-retry-max-interval", "2".to_owned()),
                ] {
                    settings.push((k.to_owned(), v));
                }
            }
        }
        let settings: Vec<(&str, &str)> = settings
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        device.write_config(&acs.url(), &settings);
        let config = std::fs::read_to_string(device.config_path())?;
        let patched = config.replace(
            "[session]\ntimeout = \"30s\"",
            &format!("[session]\ntimeout = \"{SESSION_TIMEOUT}\""),
        );
        ensure!(
            patched != config,
            "config.toml has no [session] timeout to shorten"
        );
        std::fs::write(device.config_path(), patched)?;

        for f in &plan.acs_faults {
            acs.fail_next_sessions(1, f.clone().unwrap_or(Failure::Delay(Duration::ZERO)));
        }
        let fw_path = "/fw-7.15.bin";
        files.add_file(
            fw_path,
            image(&format!("FIRMWARE {FIRMWARE_VERSION}"), FIRMWARE_SIZE),
        );
        if plan.slow_apply {
            std::fs::write(device.path().join("apply-sleep"), "1")?;
        }
        if let Some(rate) = plan.slow_download {
            files.set_mode(
                fw_path,
                Mode::Slow {
                    bytes_per_sec: rate,
                },
            );
        }
        files.add_file("/chaos.alter", alteration().into_bytes());
        let sup = Supervisor::new(&device, bin, plan.crash.clone());
        let mut f = Flow {
            plan,
            device,
            acs,
            files,
            sup,
            t0: Instant::now(),
            t0_sys: SystemTime::now(),
            tracked: Vec::new(),
            phase2: false,
            fw_keys: Vec::new(),
            final_phase: false,
            final_gpv: None,
            next_kill: 0,
            last_nudge: None,
            last_print: None,
            down_since: None,
            empty_answers: BTreeSet::new(),
            verify_pending: false,
            verifies: 0,
            notes: Vec::new(),
            violations: Vec::new(),
            next_cr: 0,
            crs_sent: Vec::new(),
            udp_port,
            xmpp_answers: Arc::new(Mutex::new(Vec::new())),
        };
        f.issue(
            "spv1",
            ReqKind::Spv,
            PK_SPV1,
            spv(
                vec![
                    (
                        "Device.Time.NTPServer2".into(),
                        Value::string("ntp2.chaos.example"),
                    ),
                    (
                        "Device.Time.LocalTimeZone".into(),
                        Value::string("CET-1CEST,M3.5.0,M10.5.0/3"),
                    ),
                    (
                        "Device.ManagementServer.PeriodicInformEnable".into(),
                        Value::boolean(true),
                    ),
                    (
                        "Device.ManagementServer.PeriodicInformInterval".into(),
                        Value::unsigned_int(3600),
                    ),
                ],
                PK_SPV1,
            ),
        );
        f.issue(
            "add",
            ReqKind::AddObject,
            PK_ADD,
            Body::AddObject(AddObject {
                object_name: PORT_MAPPING.into(),
                parameter_key: PK_ADD.into(),
            }),
        );
        Ok(f)
    }

    fn issue(&mut self, label: &str, kind: ReqKind, key: &str, body: Body) -> usize {
        self.acs.enqueue(body.clone());
        self.tracked.push(Tracked {
            label: label.to_owned(),
            kind,
            key: key.to_owned(),
            body,
            enqueued_at: SystemTime::now(),
            resolution: None,
            decided: BTreeSet::new(),
            reissued: 0,
        });
        self.tracked.len() - 1
    }

    fn offset(&self, t: SystemTime) -> f64 {
        t.duration_since(self.t0_sys)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// Runs until the flow is complete (true) or the limit passes (false).
    async fn drive(&mut self) -> anyhow::Result<bool> {
        self.sup.start().await?;
        loop {
            ensure!(
                self.sup.starts() <= MAX_STARTS,
                "the agent was started {} times: a restart loop",
                self.sup.starts()
            );
            if self.t0.elapsed() > FLOW_LIMIT {
                return Ok(false);
            }
            if let Some(d) = self.sup.poll()? {
                self.verify_pending = true;
                if let Cause::Exit(why) = &d.cause {
                    self.violations.push(format!(
                        "the agent (start {}) exited unexpectedly: {why}",
                        d.start
                    ));
                }
                self.down_since = Some(Instant::now());
            }
            self.send_connection_requests();
            if !self.final_phase
                && let Some(k) = self.plan.kills.get(self.next_kill).copied()
                && self.t0.elapsed() >= k.at
                && self.sup.alive()
            {
                self.sup.kill(k.device_reboot)?;
                self.verify_pending = true;
                self.next_kill += 1;
                self.down_since = Some(Instant::now());
            }
            let sessions = self.acs.sessions();
            self.scan(&sessions);
            let lost = self.lost_answers(&sessions);
            if !self.sup.alive() {
                let open_with_calls = sessions.iter().any(|s| {
                    s.end == SessionEnd::Open && s.acs_calls.iter().any(|c| c.answer.is_none())
                });
                if open_with_calls && self.down_since.is_some_and(|t| t.elapsed() < CLOSE_GRACE) {
                    tokio::time::sleep(TICK).await;
                    continue;
                }
                // The journal is read only once nothing of the dead agent is left.
                self.sup.wait_group_gone().await;
                // An agent killed before it ever created its journal (a kill in the first
                // ~0.1 s, under load) wrote and acknowledged nothing: there is nothing to verify.
                // (`journal verify` looks for the sled store, `journal/db`.)
                let never_created = self.verifies == 0
                    && !self.device.data_dir().join("journal").join("db").exists();
                if self.verify_pending && never_created {
                    self.verify_pending = false;
                }
                if self.verify_pending {
                    // Every death leaves a journal that verifies clean.
                    self.verify_pending = false;
                    self.verifies += 1;
                    let (code, out, err) = self.device.cli(&["journal", "verify"]).await?;
                    if code != 0 {
                        let after = self.sup.deaths().last().map_or_else(String::new, |d| {
                            format!(" after start {} ended ({:?})", d.start, d.cause)
                        });
                        let holders = if err.contains("locked") {
                            format!(
                                " [processes holding files of the data directory: {}]",
                                holders(&self.device.data_dir()).join("; ")
                            )
                        } else {
                            String::new()
                        };
                        self.violations.push(format!(
                            "journal verify exited {code}{after}: {}{}{holders}",
                            out.trim(),
                            err.trim()
                        ));
                    }
                }
                if !lost.is_empty() {
                    self.decide_lost(&lost).await?;
                }
                self.sup.start().await?;
                self.down_since = None;
                continue;
            }
            if !lost.is_empty() {
                // Read the journal to decide: the agent must be stopped for that.
                self.sup.terminate().await?;
                self.verify_pending = true;
                self.down_since = Some(Instant::now());
                continue;
            }
            self.advance(&sessions)?;
            if self.final_done(&sessions).await? {
                return Ok(true);
            }
            self.nudge().await;
            tokio::time::sleep(TICK).await;
        }
    }

    /// Records the answers the ACS received.
    fn scan(&mut self, sessions: &[SessionLog]) {
        for s in sessions {
            for (idx, call) in s.acs_calls.iter().enumerate() {
                let AcsRequest::Body(body) = &call.request else {
                    continue;
                };
                let Some(t) = self.tracked.iter_mut().find(|t| &t.body == body) else {
                    continue;
                };
                let Some(a) = &call.answer else {
                    continue;
                };
                if a.method.is_empty() {
                    if self.empty_answers.insert((s.number, idx)) {
                        self.violations.push(format!(
                            "session #{}: the CPE answered {} ({}) with an empty POST",
                            s.number, t.label, call.method
                        ));
                    }
                } else if t.resolution.is_none() {
                    t.resolution = Some(Resolution::Answered {
                        method: a.method.clone(),
                        body: a.body.clone(),
                    });
                }
            }
        }
    }

    /// Requests issued in sessions that ended without their answer, not yet decided.
    fn lost_answers(&self, sessions: &[SessionLog]) -> Vec<(usize, u64, usize)> {
        let mut out = Vec::new();
        for s in sessions.iter().filter(|s| s.end != SessionEnd::Open) {
            for (idx, call) in s.acs_calls.iter().enumerate() {
                if call.answer.is_some() {
                    continue;
                }
                let AcsRequest::Body(body) = &call.request else {
                    continue;
                };
                if let Some(ti) = self.tracked.iter().position(|t| &t.body == body) {
                    let t = &self.tracked[ti];
                    if t.resolution.is_none() && !t.decided.contains(&(s.number, idx)) {
                        out.push((ti, s.number, idx));
                    }
                }
            }
        }
        out
    }

    /// With the agent stopped: a lost answer's request was applied (journal) or is re-issued.
    async fn decide_lost(&mut self, lost: &[(usize, u64, usize)]) -> anyhow::Result<()> {
        let records = journal_records(&self.device).await?;
        for &(ti, session, idx) in lost {
            let t = &mut self.tracked[ti];
            t.decided.insert((session, idx));
            if t.resolution.is_some() {
                continue;
            }
            match applied(&records, t.kind, &t.key) {
                Some((proof, instance)) => {
                    self.notes.push(format!(
                        "{} ({}): answer lost in session #{session}, applied per journal {proof}",
                        t.label, t.key
                    ));
                    t.resolution = Some(Resolution::Applied { proof, instance });
                }
                None => {
                    self.notes.push(format!(
                        "{} ({}): answer lost in session #{session}, not in the journal: re-issued",
                        t.label, t.key
                    ));
                    t.reissued += 1;
                    self.acs.enqueue(t.body.clone());
                }
            }
        }
        Ok(())
    }

    fn resolved(&self, label: &str) -> Option<&Resolution> {
        self.tracked
            .iter()
            .find(|t| t.label == label)
            .and_then(|t| t.resolution.as_ref())
    }

    /// Phase changes: the second batch once the instance is known; firmware retries; the
    /// final phase once everything is done.
    fn advance(&mut self, sessions: &[SessionLog]) -> anyhow::Result<()> {
        if !self.phase2 && self.resolved("spv1").is_some() {
            let instance = match self.resolved("add") {
                None => None,
                Some(Resolution::Answered {
                    body: Some(Body::AddObjectResponse(r)),
                    ..
                }) => Some(r.instance_number),
                Some(Resolution::Applied {
                    instance: Some(n), ..
                }) => Some(*n),
                Some(other) => bail!("AddObject ended {other:?}: cannot go on"),
            };
            if let Some(n) = instance {
                self.phase2 = true;
                let p = |leaf: &str| format!("{PORT_MAPPING}{n}.{leaf}");
                let body = spv(
                    vec![
                        (p("ExternalPort"), Value::unsigned_int(8080)),
                        (p("InternalPort"), Value::unsigned_int(80)),
                        (p("Protocol"), Value::string("TCP")),
                        (p("InternalClient"), Value::string("192.168.88.10")),
                        (p("Description"), Value::string("chaos web")),
                        (p("Enable"), Value::boolean(true)),
                    ],
                    PK_SPV2,
                );
                self.issue("spv2", ReqKind::Spv, PK_SPV2, body);
                self.issue(
                    "si",
                    ReqKind::ScheduleInform,
                    SI_KEY,
                    Body::ScheduleInform(ScheduleInform {
                        delay_seconds: SCHEDULE_INFORM_DELAY,
                        command_key: SI_KEY.into(),
                    }),
                );
                let url = self.files.url("/chaos.alter");
                self.issue(
                    "cfg",
                    ReqKind::Download,
                    CFG_KEY,
                    download(&url, CFG_KEY, file_type::VENDOR_CONFIGURATION_FILE),
                );
                self.issue_firmware();
            }
        }
        if !self.phase2 {
            return Ok(());
        }
        // A firmware attempt reported 9010 (the image never ran): the ACS tries again.
        if let Some(last) = self.fw_keys.last().cloned()
            && let Some(tc) = acked_tc(sessions, &last)
            && tc.fault_struct.fault_code != 0
            && self.fw_keys.len() < MAX_FIRMWARE_ATTEMPTS
        {
            self.notes.push(format!(
                "{last} reported {} ({}): the ACS retries the upgrade",
                tc.fault_struct.fault_code, tc.fault_struct.fault_string
            ));
            self.issue_firmware();
        }
        if !self.final_phase
            && self.tracked.iter().all(|t| t.resolution.is_some())
            && self
                .fw_keys
                .last()
                .and_then(|k| acked_tc(sessions, k))
                .is_some_and(|tc| tc.fault_struct.fault_code == 0)
            && acked_tc(sessions, CFG_KEY).is_some()
            && sessions.iter().any(|s| {
                delivering(s)
                    && s.inform
                        .event
                        .iter()
                        .any(|e| e.event_code == ec::M_SCHEDULE_INFORM && e.command_key == SI_KEY)
            })
        {
            self.final_phase = true;
            self.acs.clear_failures();
        }
        Ok(())
    }

    fn issue_firmware(&mut self) {
        let key = fw_key(self.fw_keys.len() + 1);
        let url = self.files.url("/fw-7.15.bin");
        self.issue(
            &key,
            ReqKind::Download,
            &key,
            download(&url, &key, file_type::FIRMWARE_UPGRADE_IMAGE),
        );
        self.fw_keys.push(key);
    }

    /// The running agent's `print --json`.
    async fn print(&self) -> anyhow::Result<Json> {
        let (code, out, err) = self.device.cli(&["print", "--json"]).await?;
        ensure!(code == 0, "print exited {code}: {err}");
        serde_json::from_str(&out).context("print --json is not JSON")
    }

    /// The final phase: once the agent owes no transfer, schedule or reboot, a last session
    /// reads the values back; the flow is done when it completed and nothing is owed.
    async fn final_done(&mut self, sessions: &[SessionLog]) -> anyhow::Result<bool> {
        if !self.final_phase || !self.sup.ready() {
            return Ok(false);
        }
        if self
            .last_print
            .is_some_and(|t| t.elapsed() < Duration::from_millis(300))
        {
            return Ok(false);
        }
        match self.final_gpv {
            None => {
                self.last_print = Some(Instant::now());
                let Ok(view) = self.print().await else {
                    return Ok(false);
                };
                let empty = |k: &str| view[k].as_array().is_none_or(Vec::is_empty);
                if empty("pending_transfers")
                    && empty("pending_schedule_informs")
                    && view["pending_reboot"].is_null()
                {
                    let body = Body::GetParameterValues(GetParameterValues {
                        parameter_names: FINAL_NAMES.iter().map(|n| (*n).to_owned()).collect(),
                    });
                    self.final_gpv = Some(self.issue("gpv", ReqKind::Gpv, "", body));
                }
                Ok(false)
            }
            Some(gi) => {
                let body = self.tracked[gi].body.clone();
                let done = sessions.iter().any(|s| {
                    s.end == SessionEnd::Completed
                        && delivering(s)
                        && s.acs_calls.iter().any(|c| {
                            c.request == AcsRequest::Body(body.clone())
                                && c.answer.as_ref().is_some_and(|a| !a.method.is_empty())
                        })
                });
                if !done || self.crs_pending(sessions) {
                    return Ok(false);
                }
                self.last_print = Some(Instant::now());
                let Ok(view) = self.print().await else {
                    return Ok(false);
                };
                let idle = view["owed_events"].as_array().is_none_or(Vec::is_empty)
                    && view["session_active"] != Json::Bool(true)
                    && !sessions.iter().any(|s| s.end == SessionEnd::Open);
                Ok(idle)
            }
        }
    }

    /// Sends the planned connection requests whose instant has come, whether the agent runs or
    /// not (a request to a dead agent is lost, as on a real network); none in the final phase.
    /// An XMPP request runs as a task of its own (the ACS logs in, asks, reads the answer), so
    /// the flow's kills keep their instants.
    fn send_connection_requests(&mut self) {
        let plan: &'a Plan = self.plan;
        let Some(reach) = &plan.reach else {
            return;
        };
        while !self.final_phase
            && let Some(&(at, kind)) = plan.connection_requests.get(self.next_cr)
            && self.t0.elapsed() >= at
        {
            self.next_cr += 1;
            let index = self.crs_sent.len();
            self.crs_sent.push(SentCr {
                kind,
                at: SystemTime::now(),
                start: self.sup.starts(),
            });
            match (kind, self.udp_port, &reach.xmpp) {
                (CrKind::Udp, Some(port), _) => {
                    let to = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
                    let id = 1000 + u32::try_from(index).unwrap_or(0);
                    let datagram = udp_connection_request(to, unix_now(), id, CR_USER, CR_PASSWORD);
                    match std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) {
                        Ok(socket) => {
                            for _ in 0..3 {
                                let _ = socket.send_to(&datagram, to);
                            }
                        }
                        Err(e) => self
                            .violations
                            .push(format!("harness: no UDP socket to send from: {e}")),
                    }
                }
                (CrKind::Xmpp, _, Some(x)) => {
                    let x = x.clone();
                    let answers = Arc::clone(&self.xmpp_answers);
                    let to = format!(
                        "{}@{}/{}",
                        XMPP_CPE_USER.0,
                        x.domain,
                        xmpp_resource(plan.seed)
                    );
                    let resource = format!("acs-{}-{index}", plan.seed);
                    tokio::spawn(async move {
                        let asked = tokio::time::timeout(XMPP_CR_LIMIT, async {
                            let tcp = tokio::net::TcpStream::connect(x.addr).await?.into_std()?;
                            let mut acs = XmppAcs::login_as(
                                tcp,
                                &x.domain,
                                XMPP_ACS_USER.0,
                                XMPP_ACS_USER.1,
                                &resource,
                            )
                            .await?;
                            acs.connection_request(&to, CR_USER, CR_PASSWORD, XMPP_ANSWER_WAIT)
                                .await
                        })
                        .await;
                        let answer = match asked {
                            Ok(Ok(a)) => Ok(a),
                            Ok(Err(e)) => Err(format!("{e:#}")),
                            Err(_) => Err(format!("nothing within {XMPP_CR_LIMIT:?}")),
                        };
                        answers
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((index, answer));
                    });
                }
                _ => {}
            }
        }
    }

    /// An XMPP request still waits for its answer, or the running agent accepted a connection
    /// request that no session of it has carried yet: the flow is not over.
    fn crs_pending(&self, sessions: &[SessionLog]) -> bool {
        if self.plan.reach.is_none() {
            return false;
        }
        let xmpp_sent = self
            .crs_sent
            .iter()
            .filter(|c| c.kind == CrKind::Xmpp)
            .count();
        if self
            .xmpp_answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
            < xmpp_sent
        {
            return true;
        }
        let carried: BTreeSet<String> = sessions
            .iter()
            .filter(|s| has_event(s, ec::CONNECTION_REQUEST, None))
            .map(stem)
            .collect();
        let lines = cr_lines(self.device.path(), self.sup.starts());
        lines
            .iter()
            .rposition(|l| matches!(l, CrLine::Accepted(_)))
            .is_some_and(|i| {
                !lines[i + 1..].iter().any(
                    |l| matches!(l, CrLine::Session { id, .. } if carried.contains(id.as_str())),
                )
            })
    }

    /// The connection-request invariants, from the agents' logs (what each start accepted and
    /// the sessions it started after, in order) and what the ACS saw:
    ///
    /// * an accepted request is followed, in the same agent start, by a session whose Inform
    ///   carried `6 CONNECTION REQUEST` to the ACS (several requests may share one) — unless the
    ///   start died first (the request died with it: counted as cut). A start that ran two
    ///   sessions after the acceptance without carrying it is a violation whatever happened
    ///   next (the first may have been built just before the request came in; the one after
    ///   it may not);
    /// * no session carries `6 CONNECTION REQUEST` before any request was accepted;
    /// * UDP: the three copies of a message, or a replay, are accepted once at most;
    /// * XMPP: every IQ result the ACS received is an acceptance the agent logged, and right
    ///   credentials are never answered `not-authorized`.
    fn check_connection_requests(
        &self,
        sessions: &[SessionLog],
        counts: &mut CrCounts,
    ) -> Vec<String> {
        let mut v = Vec::new();
        if self.plan.reach.is_none() {
            return v;
        }
        for c in &self.crs_sent {
            match c.kind {
                CrKind::Udp => counts.udp_sent += 1,
                CrKind::Xmpp => counts.xmpp_sent += 1,
            }
        }
        // Agent session id → whether an Inform of it the ACS saw carried the event.
        let mut seen: BTreeMap<String, bool> = BTreeMap::new();
        for s in sessions {
            *seen.entry(stem(s)).or_default() |= has_event(s, ec::CONNECTION_REQUEST, None);
        }
        counts.sessions = sessions
            .iter()
            .filter(|s| has_event(s, ec::CONNECTION_REQUEST, None))
            .count();
        let starts = self.sup.starts();
        let mut accepted_earlier = false;
        for n in 1..=starts {
            let lines = cr_lines(self.device.path(), n);
            let mut accepted_here = false;
            for (i, line) in lines.iter().enumerate() {
                match line {
                    CrLine::Accepted(kind) => {
                        accepted_here = true;
                        match kind {
                            CrKind::Udp => counts.udp_accepted += 1,
                            CrKind::Xmpp => counts.xmpp_accepted += 1,
                        }
                        let after: Vec<Option<bool>> = lines[i + 1..]
                            .iter()
                            .filter_map(|l| match l {
                                CrLine::Session { id, .. } => Some(seen.get(id).copied()),
                                CrLine::Accepted(_) => None,
                            })
                            .collect();
                        if after.contains(&Some(true)) {
                            counts.served += 1;
                            continue;
                        }
                        let seen_after = after.iter().filter(|s| s.is_some()).count();
                        if seen_after >= 2 {
                            v.push(format!(
                                "start {n}: a {kind:?} connection request was accepted, and none of the {seen_after} sessions the start ran after it carried 6 CONNECTION REQUEST"
                            ));
                        } else if n < starts {
                            counts.cut += 1;
                        } else {
                            v.push(format!(
                                "start {n} (the last): an accepted {kind:?} connection request never led to a session with 6 CONNECTION REQUEST"
                            ));
                        }
                    }
                    CrLine::Session { id, cr } => {
                        if (*cr || seen.get(id) == Some(&true))
                            && !accepted_here
                            && !accepted_earlier
                        {
                            v.push(format!(
                                "start {n}: session {id} carried 6 CONNECTION REQUEST, but no connection request had been accepted"
                            ));
                        }
                    }
                }
            }
            accepted_earlier |= accepted_here;
        }
        if counts.udp_accepted > counts.udp_sent {
            v.push(format!(
                "{} UDP connection requests accepted for {} messages sent (copies or replays accepted)",
                counts.udp_accepted, counts.udp_sent
            ));
        }
        let answers = self
            .xmpp_answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let results = answers
            .iter()
            .filter(|(_, a)| matches!(a, Ok(Answer::Result)))
            .count();
        counts.xmpp_refused = counts.xmpp_sent.saturating_sub(results);
        if results > counts.xmpp_accepted {
            v.push(format!(
                "the ACS got {results} XMPP results, but the agent logged {} acceptances",
                counts.xmpp_accepted
            ));
        }
        for (index, answer) in &answers {
            if let Ok(Answer::Error(condition)) = answer
                && condition == "not-authorized"
            {
                let at = self.crs_sent.get(*index).map_or(0.0, |c| self.offset(c.at));
                v.push(format!(
                    "XMPP connection request #{index} (+{at:.3}s) with the right credentials was answered not-authorized"
                ));
            }
        }
        v
    }

    /// Starts a session (`inform-now`) when requests wait and the link has been quiet.
    async fn nudge(&mut self) {
        if self.acs.queued() == 0 || !self.sup.ready() {
            return;
        }
        if self
            .last_nudge
            .is_some_and(|t| t.elapsed() < Duration::from_millis(1500))
        {
            return;
        }
        let quiet = self.acs.exchanges().last().is_none_or(|e| {
            e.answered_at
                .elapsed()
                .is_ok_and(|d| d > Duration::from_millis(400))
        });
        if !quiet {
            return;
        }
        self.last_nudge = Some(Instant::now());
        let _ = self.device.cli(&["inform-now"]).await;
    }

    /// What the flow still waits for (for the "did not complete" report).
    fn missing(&self) -> String {
        let sessions = self.acs.sessions();
        let mut out = Vec::new();
        for t in &self.tracked {
            if t.resolution.is_none() {
                out.push(format!("{} unanswered", t.label));
            }
        }
        if !self.phase2 {
            out.push("phase 2 not reached".to_owned());
        }
        for k in self.fw_keys.iter().map(String::as_str).chain([CFG_KEY]) {
            if acked_tc(&sessions, k).is_none() {
                out.push(format!("no acknowledged TransferComplete for {k}"));
            }
        }
        if self.crs_pending(&sessions) {
            out.push(
                "a connection request the running agent accepted has no session yet (or an XMPP request no answer)"
                    .to_owned(),
            );
        }
        if !self.final_phase {
            out.push("final phase not reached".to_owned());
        } else if self.final_gpv.is_none() {
            out.push("the agent still owes transfers, schedules or a reboot".to_owned());
        } else {
            out.push("the final session did not complete cleanly".to_owned());
        }
        out.join("; ")
    }

    /// Stops the agent and checks every invariant.
    async fn finish(
        &mut self,
        completed: bool,
        reference: Option<&Reference>,
        report: &mut FlowReport,
    ) -> anyhow::Result<()> {
        let _ = self.sup.poll()?;
        self.sup.terminate().await?;
        self.sup.wait_group_gone().await;
        let sessions = self.acs.sessions();
        let exchanges = self.acs.exchanges();
        let deaths: Vec<Death> = self.sup.deaths().to_vec();
        report.kills = deaths
            .iter()
            .filter(|d| matches!(d.cause, Cause::Kill | Cause::DeviceReboot))
            .count();
        report.device_reboots = deaths
            .iter()
            .filter(|d| d.cause == Cause::DeviceReboot)
            .count();
        report.aborts = deaths
            .iter()
            .filter_map(|d| match &d.cause {
                Cause::Abort(p) => Some(p.clone()),
                _ => None,
            })
            .collect();
        report.inspections = deaths
            .iter()
            .filter(|d| d.cause == Cause::Terminate)
            .count()
            .saturating_sub(1);
        report.acs_faults = sessions.iter().filter(|s| !delivering(s)).count();
        report.sessions = sessions.len();
        report.starts = self.sup.starts();
        report.verifies = self.verifies + usize::from(completed);
        report.reissued = self.tracked.iter().map(|t| t.reissued).sum();
        report.applied_unanswered = self
            .tracked
            .iter()
            .filter(|t| matches!(t.resolution, Some(Resolution::Applied { .. })))
            .count() as u32;
        report.firmware_attempts = self.fw_keys.len();
        report.points_reached = self.sup.points_reached();
        if !completed {
            return Ok(());
        }

        let (code, out, err) = self.device.cli(&["journal", "verify"]).await?;
        if code != 0 {
            self.violations.push(format!(
                "journal verify exited {code}: {}{}",
                out.trim(),
                err.trim()
            ));
        }
        let (code, out, err) = self.device.cli(&["journal", "state"]).await?;
        ensure!(code == 0, "journal state exited {code}: {err}");
        let state: Json = serde_json::from_str(&out).context("journal state is not JSON")?;

        let by_id = self.sup.session_starts();
        let session_start: BTreeMap<u64, u32> = sessions
            .iter()
            .map(|s| {
                let start = by_id
                    .get(&stem(s))
                    .copied()
                    .unwrap_or_else(|| self.sup.start_at(s.started_at));
                (s.number, start)
            })
            .collect();
        let ev = Evidence {
            sessions: &sessions,
            session_start,
            exchanges: &exchanges,
            deaths: &deaths,
            tracked: &self.tracked,
            fw_keys: &self.fw_keys,
            applies: self.device.log_lines("applies.log"),
            state: &state,
        };
        let mut v = ev.check();
        let mut crs = CrCounts::default();
        v.extend(self.check_connection_requests(&sessions, &mut crs));
        report.crs = crs;
        let values = final_values(&sessions, &self.tracked, self.final_gpv, &state);
        if let Some(r) = reference {
            v.extend(compare_values(&r.values, &values));
        }
        report.values = values;
        self.violations.extend(v);
        Ok(())
    }

    /// Replay information.
    fn details(&self, report: &FlowReport) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "replay: {}\n  {}",
            if self.plan.crash.is_some() {
                format!("Plan::crash for {}", self.plan.label)
            } else {
                format!("CHAOS_SEED={}", self.plan.seed)
            },
            self.plan.describe()
        );
        let _ = writeln!(
            out,
            "deaths (with the last crash points the dying start passed):"
        );
        for d in self.sup.deaths() {
            let last: Vec<&str> = report
                .points_reached
                .get(&d.start)
                .map(|p| p.iter().rev().take(3).rev().map(String::as_str).collect())
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  +{:.3}s start {} {:?}{} after [{}]",
                self.offset(d.at),
                d.start,
                d.cause,
                if d.new_boot { " (new boot)" } else { "" },
                last.join(" > ")
            );
        }
        let _ = writeln!(out, "crash points reached:");
        for (start, points) in &report.points_reached {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for p in points {
                *counts.entry(p.as_str()).or_default() += 1;
            }
            let list: Vec<String> = counts.iter().map(|(p, n)| format!("{p}×{n}")).collect();
            let _ = writeln!(out, "  start {start}: {}", list.join(", "));
        }
        let _ = writeln!(out, "ACS sessions (start = the agent start that ran it):");
        let by_id = self.sup.session_starts();
        for s in self.acs.sessions() {
            let start = by_id
                .get(&stem(&s))
                .map_or_else(|| "?".to_owned(), u32::to_string);
            let _ = writeln!(out, "  start={start} {}", self.session_line(&s));
        }
        let _ = writeln!(out, "requests:");
        for t in &self.tracked {
            let how = match &t.resolution {
                None => "unresolved".to_owned(),
                Some(Resolution::Answered { method, .. }) => format!("answered {method}"),
                Some(Resolution::Applied { proof, instance }) => {
                    format!("answer lost, applied per journal {proof} (instance {instance:?})")
                }
            };
            let _ = writeln!(
                out,
                "  {} ({}): {how}; re-issued {} time(s)",
                t.label, t.key, t.reissued
            );
        }
        if !self.crs_sent.is_empty() {
            let _ = writeln!(out, "connection requests sent:");
            let answers = self
                .xmpp_answers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            for (i, c) in self.crs_sent.iter().enumerate() {
                let answer = answers
                    .iter()
                    .find(|(index, _)| *index == i)
                    .map_or_else(String::new, |(_, a)| format!(", answered {a:?}"));
                let _ = writeln!(
                    out,
                    "  +{:.3}s {:?} (start {} the latest){answer}",
                    self.offset(c.at),
                    c.kind,
                    c.start
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "notes:");
            for n in &self.notes {
                let _ = writeln!(out, "  {n}");
            }
        }
        if !self.violations.is_empty() {
            out.push_str(&self.sup.log_tail(2, 4000));
        }
        out
    }

    fn session_line(&self, s: &SessionLog) -> String {
        let events: Vec<String> = s
            .inform
            .event
            .iter()
            .map(|e| {
                if e.command_key.is_empty() {
                    e.event_code.clone()
                } else {
                    format!("{} {}", e.event_code, e.command_key)
                }
            })
            .collect();
        let cpe: Vec<String> = s
            .cpe_calls
            .iter()
            .map(|c| match &c.body {
                Some(Body::TransferComplete(tc)) => format!(
                    "TC({} {} {}..{})->{}",
                    tc.command_key,
                    tc.fault_struct.fault_code,
                    tc.start_time,
                    tc.complete_time,
                    c.answer
                ),
                _ => format!("{}->{}", c.method, c.answer),
            })
            .collect();
        let acs: Vec<String> = s
            .acs_calls
            .iter()
            .map(|c| {
                let label = match &c.request {
                    AcsRequest::Body(b) => self
                        .tracked
                        .iter()
                        .find(|t| &t.body == b)
                        .map_or_else(|| c.method.clone(), |t| t.label.clone()),
                    AcsRequest::Raw { method, .. } => method.clone(),
                };
                let answer = c.answer.as_ref().map_or("(no answer)".to_owned(), |a| {
                    if a.method.is_empty() {
                        "(empty POST)".to_owned()
                    } else {
                        a.method.clone()
                    }
                });
                format!("{label}->{answer}")
            })
            .collect();
        format!(
            "#{} +{:.3}s id={} rc={} events=[{}] injected={} end={:?} cpe=[{}] acs=[{}]",
            s.number,
            self.offset(s.started_at),
            stem(s),
            s.retry_count(),
            events.join(", "),
            real_failure(s).map_or("-".to_owned(), |f| format!("{f:?}")),
            s.end,
            cpe.join(", "),
            acs.join(", ")
        )
    }
}

/// What the connection-request check reads in an agent's log, in order.
enum CrLine {
    /// `UDP connection request accepted` / `XMPP connection request accepted`.
    Accepted(CrKind),
    /// `session starting session=<id> … events=[…]`; `cr`: the events had
    /// `6 CONNECTION REQUEST`.
    Session { id: String, cr: bool },
}

/// The connection-request lines of start `n`'s log (`run-<n>.log` in the device directory).
fn cr_lines(dir: &Path, n: u32) -> Vec<CrLine> {
    let text = std::fs::read_to_string(dir.join(format!("run-{n}.log"))).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            if line.contains("UDP connection request accepted") {
                Some(CrLine::Accepted(CrKind::Udp))
            } else if line.contains("XMPP connection request accepted") {
                Some(CrLine::Accepted(CrKind::Xmpp))
            } else if line.contains("session starting") {
                let rest = line.split("session=").nth(1)?;
                Some(CrLine::Session {
                    id: rest.chars().take_while(|c| !c.is_whitespace()).collect(),
                    cr: line.contains(ec::CONNECTION_REQUEST),
                })
            } else {
                None
            }
        })
        .collect()
}

/// The XMPP resource of a flow's agent (one account, a resource per flow).
pub fn xmpp_resource(seed: u64) -> String {
    format!("cwmp-{seed}")
}

// ------------------------------------------------------------------------------------------
// Journal oracle
// ------------------------------------------------------------------------------------------

/// `journal export` (the agent must be stopped): one JSON object per record.
async fn journal_records(device: &Device) -> anyhow::Result<Vec<Json>> {
    let (code, out, err) = device.cli(&["journal", "export"]).await?;
    ensure!(code == 0, "journal export exited {code}: {err}");
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("bad export line {l:?}")))
        .collect()
}

/// Whether `v` holds `field: value` at any depth.
fn json_has(v: &Json, field: &str, value: &str) -> bool {
    match v {
        Json::Object(m) => m
            .iter()
            .any(|(k, x)| (k == field && x.as_str() == Some(value)) || json_has(x, field, value)),
        Json::Array(a) => a.iter().any(|x| json_has(x, field, value)),
        _ => false,
    }
}

/// Whether the journal holds the effect of a request (its unique ParameterKey or CommandKey in a
/// record, or in the snapshot that folded it): `(proof, the AddObject's instance)`.
fn applied(records: &[Json], kind: ReqKind, key: &str) -> Option<(String, Option<u32>)> {
    let field = match kind {
        ReqKind::Spv | ReqKind::AddObject => "parameter_key",
        ReqKind::ScheduleInform | ReqKind::Download => "command_key",
        ReqKind::Gpv => return None,
    };
    let rec = records
        .iter()
        .find(|r| json_has(&r["record"], field, key))?;
    let proof = format!(
        "#{} {}",
        rec["seq"].as_u64().unwrap_or(0),
        rec["type"].as_str().unwrap_or("?")
    );
    let instance = if kind == ReqKind::AddObject {
        records
            .iter()
            .find(|r| {
                r["type"].as_str() == Some("ObjectAdded")
                    && r["record"]["parameter_key"].as_str() == Some(key)
            })
            .and_then(|r| r["record"]["instance_number"].as_u64())
            .or_else(|| {
                // Folded into the snapshot: the table's newest instance.
                rec["record"]["object_instances"][PORT_MAPPING]["instances"]
                    .as_array()
                    .and_then(|a| a.iter().filter_map(Json::as_u64).max())
            })
            .and_then(|n| u32::try_from(n).ok())
    } else {
        None
    };
    Some((proof, instance))
}

// ------------------------------------------------------------------------------------------
// Invariants
// ------------------------------------------------------------------------------------------

/// The Inform's cwmp:ID without its message counter: the agent's session id.
pub fn stem(s: &SessionLog) -> String {
    let id = s.inform_header.id.clone().unwrap_or_default();
    match id.rsplit_once('.') {
        Some((stem, _)) => stem.to_owned(),
        None => id,
    }
}

fn has_event(s: &SessionLog, code: &str, key: Option<&str>) -> bool {
    s.inform
        .event
        .iter()
        .any(|e| e.event_code == code && key.is_none_or(|k| e.command_key == k))
}

/// TransferCompletes a session carried, with the exchange that carried each and its answer.
fn tcs_of(s: &SessionLog) -> Vec<(&TransferComplete, Option<&str>, &str)> {
    s.cpe_calls
        .iter()
        .filter_map(|c| match &c.body {
            Some(Body::TransferComplete(tc)) => Some((tc, c.id.as_deref(), c.answer.as_str())),
            _ => None,
        })
        .collect()
}

/// The first TransferComplete for `key` the ACS acknowledged.
fn acked_tc(sessions: &[SessionLog], key: &str) -> Option<TransferComplete> {
    sessions
        .iter()
        .flat_map(tcs_of)
        .find(|(tc, _, answer)| tc.command_key == key && *answer == "TransferCompleteResponse")
        .map(|(tc, _, _)| tc.clone())
}

fn final_values(
    sessions: &[SessionLog],
    tracked: &[Tracked],
    final_gpv: Option<usize>,
    state: &Json,
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    if let Some(Resolution::Answered {
        body: Some(Body::GetParameterValuesResponse(r)),
        ..
    }) = final_gpv.and_then(|i| tracked[i].resolution.as_ref())
    {
        for p in &r.parameter_list {
            values.insert(p.name.clone(), p.value.text.clone());
        }
    }
    if let Some(s) = sessions.iter().rev().find(|s| delivering(s)) {
        values.insert(
            "Inform:Device.DeviceInfo.SoftwareVersion".to_owned(),
            s.parameter("Device.DeviceInfo.SoftwareVersion")
                .unwrap_or_default()
                .to_owned(),
        );
    }
    for name in FINAL_SETTINGS {
        values.insert(
            format!("setting:{name}"),
            state["settings"][*name].as_str().unwrap_or("").to_owned(),
        );
    }
    values.insert(
        "state:software_version".to_owned(),
        state["software_version"].as_str().unwrap_or("").to_owned(),
    );
    values
}

fn compare_values(
    reference: &BTreeMap<String, String>,
    values: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = reference.keys().chain(values.keys()).collect();
    for k in keys {
        let (a, b) = (reference.get(k), values.get(k));
        if a != b {
            out.push(format!(
                "final value {k}: {b:?}, the fault-free flow has {a:?}"
            ));
        }
    }
    out
}

/// What the invariant checker reads about one device: what its ACS saw (its sessions and their
/// exchanges), how its agent starts ended, the requests the ACS issued to it, the firmware it
/// applied and its final journal state (`journal state` JSON). Fleet mode checks every device of
/// a power cut with it (chaos-tests/tests/fleet_power_cut.rs).
pub struct Evidence<'a> {
    /// The device's sessions, in order.
    pub sessions: &'a [SessionLog],
    /// ACS session number → the agent start that ran it.
    pub session_start: BTreeMap<u64, u32>,
    /// The exchanges of those sessions (others are ignored).
    pub exchanges: &'a [Exchange],
    pub deaths: &'a [Death],
    pub tracked: &'a [Tracked],
    /// The CommandKeys of firmware Downloads.
    pub fw_keys: &'a [String],
    /// One line per image applied.
    pub applies: Vec<String>,
    pub state: &'a Json,
}

/// A CWMP session of the agent: the ACS sessions its Inform opened (several when it re-sent the
/// Inform on a new connection).
struct Group<'a> {
    stem: String,
    sessions: Vec<&'a SessionLog>,
}

impl Group<'_> {
    fn retry(&self) -> u32 {
        self.sessions[0].retry_count()
    }

    /// The agent saw it succeed (the ACS's 204, no injected failure).
    fn succeeded(&self) -> bool {
        self.sessions
            .last()
            .is_some_and(|s| s.end == SessionEnd::Completed && delivering(s))
    }
}

impl Evidence<'_> {
    /// Every invariant the evidence violates (empty: none).
    pub fn check(&self) -> Vec<String> {
        let mut v = Vec::new();
        self.check_state(&mut v);
        self.check_requests(&mut v);
        self.check_bootstrap_and_boot(&mut v);
        self.check_schedule_inform(&mut v);
        self.check_transfers(&mut v);
        self.check_retry_counts(&mut v);
        for s in self.sessions {
            if has_event(s, ec::M_REBOOT, None) {
                v.push(format!(
                    "session #{}: M Reboot, but nobody asked for a reboot",
                    s.number
                ));
            }
        }
        v
    }

    /// The agent start (1-based) that ran a session (from the agents' logs; never by timing:
    /// the ACS may read a dead agent's last message after the death).
    fn start_of(&self, s: &SessionLog) -> u32 {
        self.session_start.get(&s.number).copied().unwrap_or(0)
    }

    /// The deaths of the starts `from..to`: those between a session of start `from` and one of
    /// start `to`.
    fn deaths_between(&self, from: u32, to: u32) -> Vec<&Death> {
        self.deaths
            .iter()
            .filter(|d| d.start >= from && d.start < to)
            .collect()
    }

    /// The exchange at `index` was the last of its session and the agent process died before
    /// its next session: the acknowledgement the agent journals before its next message may be
    /// missing.
    ///
    /// So is a session the ACS began only after the start that sent its Inform had died: the
    /// Inform was still in the socket when the process was killed, the ACS answered a dead
    /// process, and nothing of the answer can have reached the journal. (A death's time is taken
    /// after the process is reaped, so it is never earlier than the death.) Seen once under load:
    /// killed at +1.055 s, its session begun at +1.063 s, its BOOT rightly delivered again.
    fn crash_window(&self, s: &SessionLog, index: Option<usize>) -> bool {
        let start = self.start_of(s);
        if self
            .deaths
            .iter()
            .any(|d| d.start == start && d.at <= s.started_at)
        {
            return true;
        }
        let Some(index) = index else { return false };
        let last = !self
            .exchanges
            .iter()
            .any(|e| e.session == Some(s.number) && e.index > index);
        // The device's next session (in a fleet, the ACS numbers every device's sessions).
        let died = self
            .sessions
            .iter()
            .skip_while(|x| x.number != s.number)
            .nth(1)
            .is_none_or(|next| self.start_of(next) > self.start_of(s));
        last && died
    }

    fn inform_exchange(&self, s: &SessionLog) -> Option<usize> {
        self.exchanges
            .iter()
            .find(|e| e.session == Some(s.number) && e.request_method.as_deref() == Some("Inform"))
            .map(|e| e.index)
    }

    fn tc_exchange(&self, s: &SessionLog, id: Option<&str>) -> Option<usize> {
        self.exchanges
            .iter()
            .find(|e| {
                e.session == Some(s.number)
                    && e.request_method.as_deref() == Some("TransferComplete")
                    && e.request_id.as_deref() == id
            })
            .map(|e| e.index)
    }

    fn check_state(&self, v: &mut Vec<String>) {
        let st = self.state;
        let nonempty = |k: &str| st[k].as_array().is_some_and(|a| !a.is_empty());
        for k in [
            "owed_events",
            "pending_transfers",
            "pending_schedule_informs",
            "journal_recoveries",
        ] {
            if nonempty(k) {
                v.push(format!("journal state at the end: {k} = {}", st[k]));
            }
        }
        if !st["pending_reboot"].is_null() {
            v.push(format!(
                "journal state at the end: pending_reboot = {}",
                st["pending_reboot"]
            ));
        }
        if st["retry_count"].as_u64() != Some(0) {
            v.push(format!(
                "journal state at the end: retry_count = {}",
                st["retry_count"]
            ));
        }
    }

    fn check_requests(&self, v: &mut Vec<String>) {
        for t in self.tracked {
            let expected = match t.kind {
                ReqKind::Spv => "SetParameterValuesResponse",
                ReqKind::AddObject => "AddObjectResponse",
                ReqKind::ScheduleInform => "ScheduleInformResponse",
                ReqKind::Download => "DownloadResponse",
                ReqKind::Gpv => "GetParameterValuesResponse",
            };
            match &t.resolution {
                None => v.push(format!("{} ({}) was never answered", t.label, t.key)),
                Some(Resolution::Answered { method, body }) => {
                    if method != expected {
                        v.push(format!(
                            "{} ({}) was answered {method}: {body:?}",
                            t.label, t.key
                        ));
                    } else if let Some(Body::DownloadResponse(r)) = body
                        && r.status != 1
                    {
                        v.push(format!(
                            "{} ({}): DownloadResponse Status {} (the transfer runs after the session: 1)",
                            t.label, t.key, r.status
                        ));
                    }
                }
                Some(Resolution::Applied { .. }) => {}
            }
        }
    }

    /// A single event: after a session the ACS accepted carried it, it may come again only
    /// after the crash window of that session (or, `BOOT`, after a new boot).
    fn once(&self, code: &str, key: Option<&str>, new_boot_resets: bool, v: &mut Vec<String>) {
        let mut delivered: Option<(&SessionLog, bool)> = None;
        for s in self.sessions {
            if let Some((prev, _)) = delivered
                && new_boot_resets
                && self
                    .deaths_between(self.start_of(prev), self.start_of(s))
                    .iter()
                    .any(|d| d.new_boot)
            {
                delivered = None;
            }
            if !has_event(s, code, key) {
                continue;
            }
            if let Some((prev, window)) = delivered
                && !window
            {
                v.push(format!(
                    "session #{}: {code}{} delivered again (the ACS accepted it in #{} and no crash fell before its acknowledgement)",
                    s.number,
                    key.map(|k| format!(" {k}")).unwrap_or_default(),
                    prev.number
                ));
            }
            delivered = if delivering(s) {
                Some((s, self.crash_window(s, self.inform_exchange(s))))
            } else {
                // Not accepted: still owed (a legitimate repeat, or one already reported).
                None
            };
        }
    }

    fn check_bootstrap_and_boot(&self, v: &mut Vec<String>) {
        let Some(first) = self.sessions.iter().position(delivering) else {
            v.push("the ACS never accepted an Inform".to_owned());
            return;
        };
        for s in &self.sessions[..=first] {
            if !has_event(s, ec::BOOTSTRAP, None) {
                v.push(format!(
                    "session #{}: no 0 BOOTSTRAP before the ACS accepted one",
                    s.number
                ));
            }
        }
        if !has_event(&self.sessions[first], ec::BOOT, None) {
            v.push(format!(
                "session #{}: the first accepted Inform has no 1 BOOT",
                self.sessions[first].number
            ));
        }
        self.once(ec::BOOTSTRAP, None, false, v);
        self.once(ec::BOOT, None, true, v);
        if let Some(last_boot) = self
            .deaths
            .iter()
            .filter(|d| d.new_boot)
            .map(|d| d.start)
            .max()
            && !self.sessions.iter().any(|s| {
                delivering(s) && self.start_of(s) > last_boot && has_event(s, ec::BOOT, None)
            })
        {
            v.push("no 1 BOOT was delivered after the last reboot".to_owned());
        }
    }

    fn check_schedule_inform(&self, v: &mut Vec<String>) {
        let Some(si) = self
            .tracked
            .iter()
            .find(|t| t.kind == ReqKind::ScheduleInform)
        else {
            return;
        };
        self.once(ec::SCHEDULED, None, false, v);
        self.once(ec::M_SCHEDULE_INFORM, Some(SI_KEY), false, v);
        let earliest = si.enqueued_at + Duration::from_secs(u64::from(SCHEDULE_INFORM_DELAY) - 1);
        match self.sessions.iter().find(|s| {
            delivering(s)
                && has_event(s, ec::M_SCHEDULE_INFORM, Some(SI_KEY))
                && has_event(s, ec::SCHEDULED, None)
        }) {
            None => v.push(format!(
                "3 SCHEDULED + M ScheduleInform {SI_KEY} were never delivered"
            )),
            Some(s) if s.started_at < earliest => v.push(format!(
                "session #{}: M ScheduleInform {SI_KEY} before it was due",
                s.number
            )),
            Some(_) => {}
        }
    }

    fn check_transfers(&self, v: &mut Vec<String>) {
        let downloads: Vec<&Tracked> = self
            .tracked
            .iter()
            .filter(|t| t.kind == ReqKind::Download)
            .collect();
        let keys: BTreeSet<&str> = downloads.iter().map(|t| t.key.as_str()).collect();
        for s in self.sessions {
            for (tc, _, _) in tcs_of(s) {
                if !keys.contains(tc.command_key.as_str()) {
                    v.push(format!(
                        "session #{}: TransferComplete for an unknown CommandKey {:?}",
                        s.number, tc.command_key
                    ));
                }
            }
        }
        let mut fw_ok = 0;
        for t in &downloads {
            let firmware = self.fw_keys.contains(&t.key);
            self.transfer(t, firmware, v, &mut fw_ok);
        }
        // Firmware is applied at most once per transfer, and each success was applied.
        let mut seen = BTreeSet::new();
        for line in &self.applies {
            if !seen.insert(line) {
                v.push(format!("the image {line} was applied twice"));
            }
        }
        if self.applies.len() > self.fw_keys.len() {
            v.push(format!(
                "{} firmware applications for {} firmware transfers: {:?}",
                self.applies.len(),
                self.fw_keys.len(),
                self.applies
            ));
        }
        if self.applies.len() < fw_ok {
            v.push(format!(
                "{fw_ok} firmware transfers reported success but the image was applied {} times",
                self.applies.len()
            ));
        }
    }

    fn transfer(&self, t: &Tracked, firmware: bool, v: &mut Vec<String>, fw_ok: &mut usize) {
        let key = t.key.as_str();
        let mut first: Option<TransferComplete> = None;
        let mut first_session: Option<&SessionLog> = None;
        // (session of the acknowledgement, whether a crash fell before it was journaled)
        let mut acked: Option<(u64, bool)> = None;
        let mut last_answer = "";
        for s in self.sessions {
            let carries = has_event(s, ec::M_DOWNLOAD, Some(key));
            if carries && let Some((n, window)) = acked {
                if window {
                    acked = None;
                } else {
                    v.push(format!(
                        "session #{}: M Download {key} again after the ACS acknowledged its TransferComplete in #{n}",
                        s.number
                    ));
                }
            }
            for (tc, id, answer) in tcs_of(s) {
                if tc.command_key != key {
                    continue;
                }
                if !carries || !has_event(s, ec::TRANSFER_COMPLETE, None) {
                    v.push(format!(
                        "session #{}: TransferComplete {key} without 7 TRANSFER COMPLETE + M Download {key} in the Inform",
                        s.number
                    ));
                }
                if let Some((n, false)) = acked {
                    v.push(format!(
                        "session #{}: TransferComplete {key} repeated although #{n} acknowledged it and no crash fell before the acknowledgement record",
                        s.number
                    ));
                }
                match &first {
                    Some(f) if f != tc => v.push(format!(
                        "session #{}: repeated TransferComplete {key} differs from the first: {tc:?} vs {f:?}",
                        s.number
                    )),
                    Some(_) => {}
                    None => {
                        first = Some(tc.clone());
                        first_session = Some(s);
                    }
                }
                last_answer = answer;
                if answer == "TransferCompleteResponse" {
                    acked = Some((s.number, self.crash_window(s, self.tc_exchange(s, id))));
                }
            }
        }
        let Some(tc) = first else {
            v.push(format!("no TransferComplete for {key}"));
            return;
        };
        if last_answer != "TransferCompleteResponse" {
            v.push(format!(
                "the last TransferComplete for {key} was answered {last_answer:?}"
            ));
        }
        let (start, complete) = (&tc.start_time, &tc.complete_time);
        if start.is_unknown()
            || complete.is_unknown()
            || start.unix_millis() > complete.unix_millis()
        {
            v.push(format!(
                "TransferComplete {key}: StartTime {start} CompleteTime {complete}"
            ));
        }
        match tc.fault_struct.fault_code {
            0 => {
                if firmware {
                    *fw_ok += 1;
                }
            }
            9010 if firmware => {
                // Only when a crash fell inside the attempt (between Applying and the hook):
                // a death other than the firmware reboot between the Download and the report.
                let issued = self
                    .sessions
                    .iter()
                    .find(|s| {
                        s.acs_calls
                            .iter()
                            .any(|c| c.request == AcsRequest::Body(t.body.clone()))
                    })
                    .map_or(1, |s| self.start_of(s));
                let reported = first_session.map_or(u32::MAX, |s| self.start_of(s));
                if !self
                    .deaths_between(issued, reported)
                    .iter()
                    .any(|d| d.cause != Cause::RebootHook)
                {
                    v.push(format!(
                        "TransferComplete {key}: 9010 ({}) although the agent never died during the transfer",
                        tc.fault_struct.fault_string
                    ));
                }
            }
            code => v.push(format!(
                "TransferComplete {key}: FaultCode {code} ({})",
                tc.fault_struct.fault_string
            )),
        }
    }

    fn groups(&self) -> Vec<Group<'_>> {
        let mut groups: Vec<Group<'_>> = Vec::new();
        for s in self.sessions {
            let id = stem(s);
            match groups.iter_mut().find(|g| g.stem == id) {
                Some(g) => g.sessions.push(s),
                None => groups.push(Group {
                    stem: id,
                    sessions: vec![s],
                }),
            }
        }
        groups
    }

    fn check_retry_counts(&self, v: &mut Vec<String>) {
        let groups = self.groups();
        let mut prev: Option<&Group<'_>> = None;
        for g in &groups {
            let r = g.retry();
            if g.sessions.iter().any(|s| s.retry_count() != r) {
                v.push(format!(
                    "sessions {:?} of one agent session carry different RetryCounts",
                    g.sessions.iter().map(|s| s.number).collect::<Vec<_>>()
                ));
            }
            let from = prev.map_or(1, |p| self.start_of(p.sessions[0]));
            let deaths = self.deaths_between(from, self.start_of(g.sessions[0]));
            let allowed: RangeInclusive<u32> = match (prev, deaths.is_empty()) {
                (None, true) => 0..=0,
                (Some(p), true) if p.succeeded() => 0..=0,
                (Some(p), true) => p.retry() + 1..=p.retry() + 1,
                (_, false) => match deaths.iter().rposition(|d| d.new_boot) {
                    // A reboot resets the count; each later process death may have cut a
                    // session the ACS never saw.
                    Some(i) => 0..=(deaths.len() - i - 1) as u32,
                    None => {
                        let k = deaths.len() as u32;
                        match prev {
                            None => 0..=k,
                            Some(p) if p.succeeded() => 0..=p.retry() + 1 + k,
                            Some(p) => p.retry() + 1..=p.retry() + 1 + k,
                        }
                    }
                },
            };
            if !allowed.contains(&r) {
                v.push(format!(
                    "session #{}: RetryCount {r}, expected {}..={} (previous agent session {} with RetryCount {} {}, {} death(s) in between)",
                    g.sessions[0].number,
                    allowed.start(),
                    allowed.end(),
                    prev.map_or("-".to_owned(), |p| format!("#{}", p.sessions[0].number)),
                    prev.map_or(0, Group::retry),
                    prev.map_or("", |p| if p.succeeded() { "succeeded" } else { "failed" }),
                    deaths.len()
                ));
            }
            prev = Some(g);
        }
    }
}

// ------------------------------------------------------------------------------------------
// Campaign helpers
// ------------------------------------------------------------------------------------------

/// Runs the fault-free flow; its final values are the reference of every other run.
pub fn baseline(bin: &Path) -> anyhow::Result<(Reference, FlowReport)> {
    let report = run_flow(bin, &Plan::clean(0), None);
    if !report.violations.is_empty() {
        bail!(
            "the fault-free flow failed:\n{}\n{}",
            report.violations.join("\n"),
            report.details
        );
    }
    let values = report.values.clone();
    if values.is_empty() {
        return Err(anyhow!("the fault-free flow read no values back"));
    }
    Ok((Reference { values }, report))
}

/// Totals over a campaign.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub runs: usize,
    pub completed: usize,
    pub kills: usize,
    pub device_reboots: usize,
    pub aborts: usize,
    pub inspections: usize,
    pub acs_faults: usize,
    pub sessions: usize,
    pub reissued: u32,
    pub applied_unanswered: u32,
    pub firmware_retries: usize,
    pub verifies: usize,
    pub violations: usize,
    pub failed_runs: usize,
    pub crs: CrCounts,
}

impl Summary {
    pub fn of(reports: &[FlowReport]) -> Summary {
        let mut s = Summary {
            runs: reports.len(),
            ..Summary::default()
        };
        for r in reports {
            s.completed += usize::from(r.completed);
            s.kills += r.kills;
            s.device_reboots += r.device_reboots;
            s.aborts += r.aborts.len();
            s.inspections += r.inspections;
            s.acs_faults += r.acs_faults;
            s.sessions += r.sessions;
            s.reissued += r.reissued;
            s.applied_unanswered += r.applied_unanswered;
            s.firmware_retries += r.firmware_attempts.saturating_sub(1);
            s.verifies += r.verifies;
            s.violations += r.violations.len();
            s.failed_runs += usize::from(!r.violations.is_empty());
            s.crs.add(&r.crs);
        }
        s
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "runs={} completed={} kills={} (device reboots {}) crash-point aborts={} journal inspections={} ACS faults={} sessions={} re-issued requests={} lost answers proven applied={} firmware retries={} journal verifies={} violations={} (in {} runs)",
            self.runs,
            self.completed,
            self.kills,
            self.device_reboots,
            self.aborts,
            self.inspections,
            self.acs_faults,
            self.sessions,
            self.reissued,
            self.applied_unanswered,
            self.firmware_retries,
            self.verifies,
            self.violations,
            self.failed_runs
        )?;
        if self.crs.udp_sent + self.crs.xmpp_sent > 0 {
            write!(f, "; {}", self.crs)?;
        }
        Ok(())
    }
}

/// The violations of every failed run, with its replay information.
pub fn failures(reports: &[FlowReport]) -> String {
    let mut out = String::new();
    for r in reports.iter().filter(|r| !r.violations.is_empty()) {
        let _ = writeln!(out, "==== {} (seed {}) ====", r.label, r.seed);
        for v in &r.violations {
            let _ = writeln!(out, "VIOLATION: {v}");
        }
        out.push_str(&r.details);
    }
    out
}

/// `name` from the environment, parsed, or `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}
