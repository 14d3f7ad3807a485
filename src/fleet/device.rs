//! One simulated device: a tokio task that runs lives (boots) of the real per-device core, each
//! driven by a loop of the daemon's shape (`agent::run`): drain `poll_action`, execute each action,
//! wait for the earliest of its I/O, its connection-request wake-up, its timeout, a power cut or
//! the fleet's shutdown. The pieces of the daemon's edge that fit are the daemon's own
//! (`agent::run::{append, send, InFlight}`, `agent::transfer_jobs`); what differs is the device:
//!
//! * Hooks are never run: a firmware apply records the image's version as the installed one in
//!   the device's sidecar (durable, like a flash write) and the next boot runs it; a reboot or a
//!   power cut ends the life and the next one boots with a new boot id; a factory reset has no
//!   vendor configuration to restore.
//! * Downloads are really fetched (`--downloads fetch`, the default: the daemon's transfer engine
//!   with durable checkpoints into `<data dir>/devices/<serial>/transfers/`) or simulated
//!   (`--downloads simulate`: 200 ms plus FileSize at 10 MB/s, no bytes moved).
//! * ConnectionRequestURL points at the fleet's one listener; IPPing answers at once (4 of 4,
//!   ~10 ms); external providers are refused (fleet templates must not configure them).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::agent::connection_request::CrSettings;
use crate::agent::run::{InFlight, IoDone, append, compact, journal_timeline, now_ms, send};
use crate::agent::transfer_jobs;
use crate::config::Config;
use crate::cpe::transfer_lifecycle::MAIN_FILE;
use crate::cpe::{
    AcsEndpoint, Action, Cpe, Downloaded, Input, Job, SeededEntropy, TransferEvent, UploadSource,
};
use crate::diagnostics::ipping::PingResult;
use crate::records::proto::{self, record::Kind};
use crate::records::{MemberJournal, RecordSet, RecordStore, StoredRecord};
use crate::state::AgentState;

use super::connection_request::Registry;
use super::host::SimulatedHost;
use super::host::mix;
use super::log::{DeviceDeath, DeviceLog};
use super::memory_journal::MemoryJournal;
use super::metrics::Metrics;
use super::power::PowerState;

/// How long a device takes to come back from a reboot the ACS asked for.
const REBOOT_TIME: Duration = Duration::from_secs(3);
/// How long a device whose life failed (its journal refused an append) waits to start again.
const FAILED_LIFE_BACKOFF: Duration = Duration::from_secs(10);

/// Where the devices' journals live.
pub(crate) enum Stores {
    Set(Arc<RecordSet>),
    /// One per device of this shard (by slot).
    Memory(Vec<Arc<MemoryJournal>>),
}

/// What every device task shares.
pub(crate) struct Ctx {
    pub first_index: u32,
    pub serial_prefix: String,
    pub serial_width: usize,
    pub template: Arc<Config>,
    pub stores: Stores,
    pub registry: Arc<Registry>,
    pub cr_port: u16,
    pub cr_advertised: std::net::IpAddr,
    pub metrics: Arc<Metrics>,
    pub power: watch::Receiver<PowerState>,
    pub shutdown: watch::Receiver<bool>,
    pub downloads: Downloads,
    pub seed: u64,
    pub data_dir: PathBuf,
    /// Bounds the journal opens (blocking work) running at once.
    pub open_permits: Semaphore,
    /// Per-device logs for the invariant checks (tests), by slot.
    pub logs: Option<Vec<Mutex<DeviceLog>>>,
}

impl Ctx {
    pub fn serial(&self, index: u32) -> String {
        format!(
            "{}{:0width$}",
            self.serial_prefix,
            index,
            width = self.serial_width
        )
    }

    fn log(&self, index: u32, f: impl FnOnce(&mut DeviceLog)) {
        if let Some(logs) = &self.logs
            && let Some(l) = logs.get((index - self.first_index) as usize)
        {
            f(&mut l.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }
}

/// The device's own durable state outside the agent's journal (kept in the member's sidecar):
/// what a router keeps in flash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceState {
    pub boot: u32,
    pub running: String,
    /// An applied image that runs from the next boot.
    pub installed: Option<String>,
    pub booted_at_ms: u64,
}

impl DeviceState {
    fn encode(&self) -> Vec<u8> {
        format!(
            "boot={}\nrunning={}\ninstalled={}\nbooted_at_ms={}\n",
            self.boot,
            self.running,
            self.installed.as_deref().unwrap_or(""),
            self.booted_at_ms
        )
        .into_bytes()
    }

    fn decode(bytes: &[u8]) -> Option<DeviceState> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut s = DeviceState {
            boot: 0,
            running: String::new(),
            installed: None,
            booted_at_ms: 0,
        };
        for line in text.lines() {
            let (k, v) = line.split_once('=')?;
            match k {
                "boot" => s.boot = v.parse().ok()?,
                "running" => s.running = v.to_owned(),
                "installed" => s.installed = Some(v.to_owned()).filter(|v| !v.is_empty()),
                "booted_at_ms" => s.booted_at_ms = v.parse().ok()?,
                _ => {}
            }
        }
        Some(s)
    }
}

/// A device's journal, wherever the fleet keeps it.
enum DeviceJournal {
    Set(MemberJournal),
    Memory(Arc<MemoryJournal>),
}

impl RecordStore for DeviceJournal {
    async fn append(&self, batch: Vec<proto::Record>) -> journal::Result<journal::AppendAck> {
        match self {
            DeviceJournal::Set(j) => j.append(batch).await,
            DeviceJournal::Memory(j) => RecordStore::append(j.as_ref(), batch).await,
        }
    }

    async fn append_snapshot(
        &self,
        snapshot: proto::AgentSnapshot,
        folded_up_to: u64,
    ) -> journal::Result<journal::AppendAck> {
        match self {
            DeviceJournal::Set(j) => j.append_snapshot(snapshot, folded_up_to).await,
            DeviceJournal::Memory(j) => j.append_snapshot(snapshot, folded_up_to).await,
        }
    }

    fn records_from(
        &self,
        seq: u64,
    ) -> Box<dyn Iterator<Item = journal::Result<StoredRecord>> + Send + '_> {
        match self {
            DeviceJournal::Set(j) => j.records_from(seq),
            DeviceJournal::Memory(j) => j.records_from(seq),
        }
    }

    fn latest_snapshot_record(&self) -> journal::Result<Option<StoredRecord>> {
        match self {
            DeviceJournal::Set(j) => j.latest_snapshot_record(),
            DeviceJournal::Memory(j) => j.latest_snapshot_record(),
        }
    }
}

impl DeviceJournal {
    async fn put_sidecar(&self, state: &DeviceState) -> anyhow::Result<()> {
        match self {
            DeviceJournal::Set(j) => j
                .put_sidecar(state.encode())
                .await
                .context("writing the device's state"),
            DeviceJournal::Memory(j) => {
                j.put_sidecar(state.encode());
                Ok(())
            }
        }
    }
}

/// `AgentState = fold(journal)`, from the latest snapshot on.
pub(crate) fn fold(journal: &impl RecordStore) -> journal::Result<AgentState> {
    let mut state = AgentState::default();
    let mut from = 1;
    if let Some(snap) = journal.latest_snapshot_record()? {
        state.apply(snap.seq, snap.time_ms, &snap.record);
        from = snap.seq + 1;
    }
    for stored in journal.records_from(from) {
        let stored = stored?;
        state.apply(stored.seq, stored.time_ms, &stored.record);
    }
    Ok(state)
}

/// Whether transfers really move bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downloads {
    /// The daemon's transfer engine: real fetches (with durable checkpoints) and uploads.
    Fetch,
    /// No bytes move: a download "takes" 200 ms plus FileSize at 10 MB/s.
    Simulate,
}

/// Resolves once the fleet shuts down (or is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// How one life of the device ended.
enum LifeEnd {
    Reboot,
    PowerCut,
    Shutdown,
}

/// The version a firmware image installs: its file name (TargetFileName, else the URL's last
/// path segment) without an extension such as `.bin` (one that contains a letter).
pub(crate) fn firmware_version(a: &proto::TransferAccepted) -> String {
    let name = if a.target_file_name.is_empty() {
        let path = a.url.split(['?', '#']).next().unwrap_or("");
        path.rsplit('/').next().unwrap_or("").to_owned()
    } else {
        a.target_file_name.clone()
    };
    let stem = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.chars().any(|c| c.is_ascii_alphabetic()) => {
            stem.to_owned()
        }
        _ => name,
    };
    if stem.is_empty() {
        "unknown".to_owned()
    } else {
        stem
    }
}

/// The device's configuration: the template with its identity, credentials and data directory.
fn device_config(ctx: &Ctx, index: u32, serial: &str) -> Config {
    let mut c = (*ctx.template).clone();
    c.device.serial_number = serial.to_owned();
    c = c.with_data_dir(ctx.data_dir.join("devices").join(serial));
    for value in c.factory_settings.values_mut() {
        if value.contains('{') {
            *value = value
                .replace("{serial}", serial)
                .replace("{index}", &index.to_string());
        }
    }
    c
}

fn cr_settings(cpe: &Cpe) -> CrSettings {
    let s = cpe.settings();
    CrSettings {
        username: s.connection_request_username(),
        password: s.connection_request_password(),
        enabled: s.enabled(),
    }
}

fn is_victim(power: &PowerState, index: u32) -> bool {
    power.victims.contains(&index)
}

/// Runs device `index` until the fleet shuts down: first waits `start_after` (its arrival
/// phase), then lives boot after boot.
pub(crate) async fn run(ctx: Arc<Ctx>, index: u32, start_after: Duration, boot_storm: bool) {
    let serial = ctx.serial(index);
    let config = Arc::new(device_config(&ctx, index, &serial));
    let mut power = ctx.power.clone();
    let mut shutdown = ctx.shutdown.clone();
    power.mark_unchanged();
    let mut new_boot = boot_storm;
    // The arrival phase: the device is off until then.
    let start = tokio::time::Instant::now() + start_after;
    match stay_off(&mut power, &mut shutdown, index, start).await {
        Some(cut) => new_boot |= cut,
        None => return,
    }
    loop {
        let end = life(
            &ctx,
            index,
            &serial,
            &config,
            new_boot,
            &mut power,
            &mut shutdown,
        )
        .await;
        match end {
            Ok(LifeEnd::Shutdown) => return,
            Ok(LifeEnd::Reboot) => {
                Metrics::add(&ctx.metrics.reboots, 1);
                new_boot = true;
                let up_at = tokio::time::Instant::now() + REBOOT_TIME;
                if stay_off(&mut power, &mut shutdown, index, up_at)
                    .await
                    .is_none()
                {
                    return;
                }
            }
            Ok(LifeEnd::PowerCut) => {
                Metrics::add(&ctx.metrics.power_cuts, 1);
                new_boot = true;
                let back_at = power.borrow().back_at;
                if stay_off(&mut power, &mut shutdown, index, back_at)
                    .await
                    .is_none()
                {
                    return;
                }
            }
            Err(e) => {
                Metrics::add(&ctx.metrics.errors, 1);
                tracing::warn!(serial = %serial, error = %format!("{e:#}"), "device life failed; starting again");
                let again_at = tokio::time::Instant::now() + FAILED_LIFE_BACKOFF;
                match stay_off(&mut power, &mut shutdown, index, again_at).await {
                    Some(cut) => new_boot = cut,
                    None => return,
                }
            }
        }
    }
}

/// The device is off (not started yet, rebooting, waiting after a failed life) until `until`. A
/// power cut meanwhile keeps it off until the power returns: it cannot boot in the dark, and the
/// ACS must not see Informs from it then. Returns whether a cut fell on it (its next start is a
/// new boot), `None` when the fleet shuts down.
async fn stay_off(
    power: &mut watch::Receiver<PowerState>,
    shutdown: &mut watch::Receiver<bool>,
    index: u32,
    mut until: tokio::time::Instant,
) -> Option<bool> {
    let mut cut = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return Some(cut),
            () = stopped(shutdown) => return None,
            Ok(()) = power.changed() => {
                let p = power.borrow_and_update().clone();
                if is_victim(&p, index) {
                    cut = true;
                    until = until.max(p.back_at);
                }
            }
        }
    }
}

/// Opens the device's journal and reads its own state; a new boot (or the first ever) bumps the
/// boot and activates an installed image, durably, before the agent starts.
async fn open_device(
    ctx: &Ctx,
    index: u32,
    serial: &str,
    config: &Config,
    new_boot: bool,
) -> anyhow::Result<(DeviceJournal, DeviceState, bool, AgentState)> {
    let _permit = ctx.open_permits.acquire().await.ok();
    let stored = match &ctx.stores {
        Stores::Set(set) => set
            .sidecar(index)
            .context("reading the device's state")?
            .and_then(|b| DeviceState::decode(&b)),
        Stores::Memory(m) => m[(index - ctx.first_index) as usize]
            .sidecar()
            .and_then(|b| DeviceState::decode(&b)),
    };
    let boots = new_boot || stored.is_none();
    let mut dev = stored.unwrap_or_else(|| DeviceState {
        boot: 0,
        running: config
            .device
            .current_software_version()
            .unwrap_or_else(|_| "1.0".to_owned()),
        installed: None,
        booted_at_ms: now_ms(),
    });
    if boots {
        dev.boot += 1;
        if let Some(v) = dev.installed.take() {
            dev.running = v;
        }
        dev.booted_at_ms = now_ms();
    }
    let boot_id = format!("{serial}-boot{}", dev.boot);
    let (journal, state) = match &ctx.stores {
        Stores::Set(set) => {
            let set = set.clone();
            let boot_id = boot_id.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let (member, report) = set
                    .open_member(index, &boot_id)
                    .context("opening the device's journal")?;
                if let journal::OpenOutcome::Recovered { reason, .. } = &report.outcome {
                    tracing::warn!(member = index, %reason, "device journal repaired");
                }
                let journal = DeviceJournal::Set(member);
                let state = fold(&journal).context("reading the device's journal")?;
                Ok((journal, state))
            })
            .await
            .context("opening the device's journal")??
        }
        Stores::Memory(m) => {
            let j = m[(index - ctx.first_index) as usize].clone();
            j.set_boot_id(&boot_id);
            let journal = DeviceJournal::Memory(j);
            let state = fold(&journal).context("reading the device's journal")?;
            (journal, state)
        }
    };
    if boots {
        journal.put_sidecar(&dev).await?;
    }
    Ok((journal, dev, boots, state))
}

#[allow(clippy::too_many_arguments)]
async fn life(
    ctx: &Ctx,
    index: u32,
    serial: &str,
    config: &Arc<Config>,
    new_boot: bool,
    power: &mut watch::Receiver<PowerState>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<LifeEnd> {
    let m = &ctx.metrics;
    let (journal, mut dev, booted, state) =
        open_device(ctx, index, serial, config, new_boot).await?;
    let boot_id = format!("{serial}-boot{}", dev.boot);
    let seed = mix(ctx.seed ^ mix(u64::from(index)) ^ (u64::from(dev.boot) << 40));
    let host = Arc::new(SimulatedHost::new(index, dev.booted_at_ms));
    let mut cpe = Cpe::new(config.clone(), host, Box::new(SeededEntropy::new(seed)));
    cpe.restore_state(state);
    cpe.start(now_ms(), &boot_id, &dev.running);
    if booted {
        Metrics::add(&m.boots, 1);
    }
    let start_no = {
        let mut n = 0;
        ctx.log(index, |l| {
            l.starts += 1;
            n = l.starts;
        });
        n
    };
    while let Some(action) = cpe.poll_startup(now_ms()) {
        match action {
            Action::Append(a) => {
                // A simulated device's journal is small; it compacts at once.
                if append(&journal, &mut cpe, a).await? {
                    compact(&journal, &mut cpe).await?;
                }
                Metrics::add(&m.journal_appends, 1);
            }
            Action::RemoveTransferFiles { keep } => {
                transfer_jobs::remove_transfer_files(&config.transfer_dir(), &keep)
            }
            other => anyhow::bail!("unexpected action during start-up: {other:?}"),
        }
    }
    ctx.log(index, |l| l.state = Some(cpe.state().clone()));
    let path = cpe.settings().get("connection-request-path");
    let mut credentials = cr_settings(&cpe);
    let mut cr_rx = ctx.registry.register(&path, credentials.clone());
    let _unregister = Unregister(&ctx.registry, path.clone());
    cpe.handle(
        Input::Listening {
            cr_port: ctx.cr_port,
        },
        now_ms(),
    );
    Metrics::add(&m.devices_up, 1);
    let _down = DeviceUp(&m.devices_up);

    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Input>();
    let mut io = InFlight::default();
    let mut conn = None;
    let mut endpoint: Option<AcsEndpoint> = None;
    let mut session_open: Option<Instant> = None;
    let open_session = SessionGuard(m, &mut session_open);

    let end = 'life: loop {
        while let Some(action) = cpe.poll_action(now_ms()) {
            match action {
                Action::Append(a) => {
                    for r in &a.records {
                        match &r.kind {
                            Some(Kind::SessionEnded(s)) => {
                                if s.outcome == proto::SessionOutcome::Succeeded as i32 {
                                    Metrics::add(&m.sessions_ok, 1);
                                } else {
                                    Metrics::add(&m.sessions_failed, 1);
                                }
                            }
                            Some(Kind::TransferCompleteAcknowledged(_)) => {
                                Metrics::add(&m.transfers_completed, 1)
                            }
                            _ => {}
                        }
                    }
                    if append(&journal, &mut cpe, a).await? {
                        compact(&journal, &mut cpe).await?;
                    }
                    Metrics::add(&m.journal_appends, 1);
                    ctx.log(index, |l| l.state = Some(cpe.state().clone()));
                }
                Action::OpenSession(ep) => {
                    endpoint = Some(ep);
                    m.session_started();
                    *open_session.1 = Some(Instant::now());
                    if let Some(id) = cpe.session_id() {
                        let id = id.to_owned();
                        ctx.log(index, |l| l.session_starts.push((id, start_no)));
                    }
                }
                Action::Send {
                    body,
                    is_inform,
                    deadline_ms,
                } => {
                    let Some(ep) = endpoint.clone() else {
                        cpe.handle(
                            Input::AcsFailed {
                                sentence: "no session is open".into(),
                                retry_after: None,
                                http_status: None,
                            },
                            now_ms(),
                        );
                        continue;
                    };
                    Metrics::add(&m.acs_posts, 1);
                    if is_inform {
                        m.inform_sent();
                    }
                    io.push(Box::pin(send(
                        conn.take(),
                        ep,
                        body,
                        is_inform,
                        deadline_ms,
                    )));
                }
                Action::CloseSession => {
                    endpoint = None;
                    if let Some(started) = open_session.1.take() {
                        m.session_closed(started.elapsed());
                    }
                    if let Some(c) = conn.take() {
                        c.close().await;
                    }
                }
                Action::Transfer(job) => {
                    transfer(
                        ctx, index, &journal, &mut dev, &mut cpe, &mut io, &events_tx, *job,
                    )
                    .await?;
                }
                Action::WriteFactoryConfiguration { transfer_id, .. } => {
                    // Simulated devices keep no vendor configuration across a factory reset.
                    cpe.handle(
                        Input::Transfer {
                            transfer_id,
                            event: TransferEvent::Finished(Ok(())),
                        },
                        now_ms(),
                    );
                }
                Action::RemoveTransferFiles { keep } => {
                    if ctx.downloads == Downloads::Fetch {
                        transfer_jobs::remove_transfer_files(&config.transfer_dir(), &keep)
                    }
                }
                // A simulated device has no network of its own to test: IPPing answers from a
                // simulated path (10 ms per echo), every other test ends in Error_Other; the
                // ACS still sees the whole Requested → result → 8 DIAGNOSTICS COMPLETE cycle.
                Action::RunDiagnostic(request) => io.push(Box::pin(async move {
                    let outcome = match &request.test {
                        crate::diagnostics::Test::IpPing(ping) => {
                            let n = ping.repetitions.max(1);
                            tokio::time::sleep(Duration::from_millis(10 * u64::from(n))).await;
                            crate::diagnostics::Outcome::IpPing(PingResult {
                                state: "Complete",
                                success_count: n,
                                failure_count: 0,
                                average_ms: 10,
                                minimum_ms: 8,
                                maximum_ms: 13,
                                average_us: 10_000,
                                minimum_us: 8_000,
                                maximum_us: 13_000,
                                ip_address_used: String::new(),
                            })
                        }
                        other => crate::diagnostics::Outcome::error(other, "Error_Other"),
                    };
                    IoDone::Input(Input::DiagnosticFinished(Box::new(
                        crate::cpe::DiagnosticResult {
                            generation: request.generation,
                            outcome: Some(outcome),
                        },
                    )))
                })),
                // Nothing runs in the background to cancel; the result is dropped by the core.
                Action::CancelDiagnostic => {}
                // No UDP echo responder per simulated device.
                Action::UdpEcho(_) => {}
                Action::FindLocalAddress { .. } => {
                    cpe.handle(Input::LocalAddress(Some(ctx.cr_advertised)), now_ms())
                }
                Action::External(call) => cpe.handle(
                    Input::External(
                        call,
                        Err(crate::cwmp::Fault::with_string(
                            crate::cwmp::FaultCode::InternalError,
                            "fleet devices have no external providers",
                        )),
                    ),
                    now_ms(),
                ),
                Action::FactoryReset { .. } => cpe.handle(
                    Input::FactoryResetDone {
                        factory_configuration: None,
                    },
                    now_ms(),
                ),
                Action::Reboot { .. } => break 'life LifeEnd::Reboot,
            }
        }
        let now_credentials = cr_settings(&cpe);
        if now_credentials != credentials {
            ctx.registry.update(&path, &now_credentials);
            credentials = now_credentials;
        }
        let timeout = cpe.poll_timeout();
        let sleep = async move {
            match timeout {
                Some(at) => {
                    let ms = at.saturating_sub(now_ms()).max(1);
                    tokio::time::sleep(Duration::from_millis(ms)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = stopped(shutdown) => break 'life LifeEnd::Shutdown,
            Ok(()) = power.changed() => {
                let p = power.borrow_and_update().clone();
                if is_victim(&p, index) {
                    break 'life LifeEnd::PowerCut;
                }
            }
            Some(done) = io.next() => match done {
                IoDone::Session(c, input) => {
                    conn = c;
                    cpe.handle(input, now_ms());
                }
                IoDone::Input(input) => cpe.handle(input, now_ms()),
                IoDone::Reported => {}
            },
            Some(input) = events_rx.recv() => cpe.handle(input, now_ms()),
            Some(()) = cr_rx.recv() => {
                Metrics::add(&m.connection_requests, 1);
                cpe.handle(Input::ConnectionRequest, now_ms());
            }
            () = sleep => {}
        }
    };
    let cause = match end {
        LifeEnd::Reboot => Some("reboot"),
        LifeEnd::PowerCut => Some("power cut"),
        LifeEnd::Shutdown => None,
    };
    if let Some(cause) = cause {
        ctx.log(index, |l| {
            l.deaths.push(DeviceDeath {
                start: start_no,
                cause,
                new_boot: true,
                at_ms: now_ms(),
            })
        });
    }
    drop(io);
    match end {
        // The power is gone: no FIN, no goodbye; the journal member is cut with `journal`.
        LifeEnd::PowerCut => drop(conn),
        _ => {
            if let Some(c) = conn.take() {
                c.close().await;
            }
        }
    }
    drop(journal);
    Ok(end)
}

/// Runs a transfer job: the daemon's transfer engine for real fetches and uploads, the
/// simulated device for applies (and everything under `--downloads simulate`).
#[allow(clippy::too_many_arguments)]
async fn transfer(
    ctx: &Ctx,
    index: u32,
    journal: &DeviceJournal,
    dev: &mut DeviceState,
    cpe: &mut Cpe,
    io: &mut InFlight,
    events_tx: &mpsc::UnboundedSender<Input>,
    job: crate::cpe::TransferJob,
) -> anyhow::Result<()> {
    let id = job.transfer_id.clone();
    let report = |event| Input::Transfer {
        transfer_id: id.clone(),
        event,
    };
    match (&job.job, ctx.downloads) {
        (Job::ApplyFirmware, _) => {
            let version = firmware_version(&job.accepted);
            dev.installed = Some(version.clone());
            // Durable before the apply is reported, as a real image write is.
            journal.put_sidecar(dev).await?;
            Metrics::add(&ctx.metrics.firmware_applied, 1);
            ctx.log(index, |l| l.applies.push(format!("{id} {version}")));
            cpe.handle(report(TransferEvent::FirmwareApplied(Ok(()))), now_ms());
        }
        (_, Downloads::Fetch) => {
            let timeline = matches!(job.upload, Some(UploadSource::JournalTimeline))
                .then(|| journal_timeline(journal));
            let tx = events_tx.clone();
            io.push(Box::pin(async move {
                transfer_jobs::run(job, tx, timeline).await;
                IoDone::Reported
            }));
        }
        (Job::Download, Downloads::Simulate) => {
            let size = job.accepted.file_size;
            let path = job.dir.join(MAIN_FILE);
            let input = report(TransferEvent::Downloaded(Ok(Downloaded {
                path,
                size,
                sha256: "0".repeat(64),
            })));
            io.push(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(200 + size / 10_000)).await;
                IoDone::Input(input)
            }));
        }
        (Job::Upload, Downloads::Simulate) => {
            cpe.handle(report(TransferEvent::Finished(Ok(()))), now_ms())
        }
        (Job::ApplyConfiguration | Job::InstallFactoryConfiguration, Downloads::Simulate) => cpe
            .handle(
                report(TransferEvent::ConfigText(Ok(String::new()))),
                now_ms(),
            ),
    }
    Ok(())
}

/// Keeps the in-flight gauge right when a life ends inside a session.
struct SessionGuard<'a>(&'a Metrics, &'a mut Option<Instant>);

impl Drop for SessionGuard<'_> {
    fn drop(&mut self) {
        if self.1.take().is_some() {
            self.0.session_abandoned();
        }
    }
}

struct Unregister<'a>(&'a Registry, String);

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.0.unregister(&self.1);
    }
}

struct DeviceUp<'a>(&'a std::sync::atomic::AtomicU64);

impl Drop for DeviceUp<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(url: &str, target: &str) -> proto::TransferAccepted {
        proto::TransferAccepted {
            url: url.into(),
            target_file_name: target.into(),
            ..Default::default()
        }
    }

    #[test]
    fn firmware_versions_come_from_the_file_name() {
        assert_eq!(
            firmware_version(&accepted("http://fs/fw-2.0.bin?x=1", "")),
            "fw-2.0"
        );
        assert_eq!(firmware_version(&accepted("http://fs/7.15", "")), "7.15");
        assert_eq!(
            firmware_version(&accepted("http://fs/a.bin", "routeros-7.16.npk")),
            "routeros-7.16"
        );
        assert_eq!(firmware_version(&accepted("http://fs/", "")), "unknown");
    }

    #[test]
    fn device_state_round_trips() {
        let s = DeviceState {
            boot: 3,
            running: "fw-2.0".into(),
            installed: Some("fw-3.0".into()),
            booted_at_ms: 17,
        };
        assert_eq!(DeviceState::decode(&s.encode()), Some(s.clone()));
        let none = DeviceState {
            installed: None,
            ..s
        };
        assert_eq!(DeviceState::decode(&none.encode()), Some(none));
        assert_eq!(DeviceState::decode(b"garbage"), None);
    }
}
