//! The daemon: journal, folded state, scheduler, sessions, connection requests, control socket.
//!
//! One task runs the scheduler and the sessions (a CPE runs one session at a time); the
//! connection-request server and the control socket run beside it and talk to it only through
//! the journal (they append records) and a wake-up notification. Every append goes through
//! [`Agent::append`], which writes the batch durably, then folds exactly the stored records
//! (with their commit times) into the in-memory state — so memory never runs ahead of the disk.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use journal::proto::{self, Record, record::Kind};
use journal::{Journal, OpenOutcome, Options};
use tokio::sync::{Notify, watch};

use super::connection_request::{self as cr, ConnectionRequestServer, CrSettings};
use super::diagnostics;
use super::handler::{AcsRequestHandler, StateSource, TransferSupport};
use super::inform::{DeviceIdentity, build_inform};
use super::notifier::Notifier;
use super::retry::RetryPolicy;
use super::schedule::{next_periodic_at, next_schedule_inform, owed_session_at};
use crate::cwmp::CwmpNamespace;
use crate::cwmp::rpc::inform::event_code as ec;
use crate::datamodel::DataModel;
use crate::datamodel::external::ExternalProvider;
use crate::datamodel::host::{HostSource, LinuxHost};
use crate::http::{ClientCertificate, ErrorKind, SessionConnection, TlsSettings, TransportConfig};
use crate::session::{FailureReason, Outcome, Output, Session, SessionConfig, SessionStart};
use crate::state::boot::{read_boot_id, startup_records};
use crate::state::settings::Settings;
use crate::state::{AgentState, event_raised, record, settings_change_records};

/// Everything the daemon needs, resolved from the config file.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub data_dir: PathBuf,
    /// The control socket; `None` disables it (in-process demos and tests).
    pub control_socket: Option<PathBuf>,
    pub boot_id_file: PathBuf,
    pub device: DeviceIdentity,
    /// Re-read at every start: a firmware upgrade changes the running version.
    pub software_version_file: Option<PathBuf>,
    /// The device's factory settings (canonical values by setting name).
    pub factory_settings: BTreeMap<String, String>,
    /// Shell command that reboots the device. Without one the daemon exits when a reboot is due
    /// and leaves the reboot to its supervisor.
    pub reboot_command: Option<String>,
    /// Shell command that restores the device's factory configuration (FactoryReset).
    pub factory_reset_command: Option<String>,
    /// Shell command applying a firmware image (`{file}`); without one firmware Downloads are
    /// refused.
    pub firmware_apply_command: Option<String>,
    /// Shell command applying a configuration file (`{file}`, `{mode}` = overwrite|alter);
    /// without one the agent applies `Parameter = value` files to its data model itself.
    pub config_apply_command: Option<String>,
    /// Shell command writing the configuration to `{file}` for an Upload; without one the agent
    /// exports its own data model (`Parameter = value` lines).
    pub config_export_command: Option<String>,
    /// Shell command writing the device log to `{file}`; without one the journal's timeline
    /// (secrets masked) is uploaded.
    pub log_export_command: Option<String>,
    /// Where transfers keep their files.
    pub transfer_dir: PathBuf,
    /// Longest a whole session may last.
    pub session_timeout: Duration,
    /// How long the ACS has to answer one POST.
    pub request_timeout: Duration,
    pub get_rpc_methods: bool,
    /// Address the connection-request server listens on.
    pub connection_request_listen: IpAddr,
    /// How often the host's address is re-read to keep ConnectionRequestURL current.
    pub address_check_interval: Duration,
    /// Journal options (tests shrink the live bound).
    pub journal_max_live_bytes: u64,
    /// Where host-backed parameters are read (the real host; tests substitute a fixed one).
    pub host: Arc<dyn HostSource>,
    /// Subtrees of the data model owned by integrators' executables.
    pub externals: Vec<ExternalProvider>,
    /// How often host-backed parameters with notification on are sampled for changes.
    pub notification_sample_interval: Duration,
}

impl DaemonConfig {
    /// Where transfers keep their files (`transfer_dir`, or `<data_dir>/transfers`).
    pub fn transfer_dir(&self) -> PathBuf {
        if self.transfer_dir.as_os_str().is_empty() {
            self.data_dir.join("transfers")
        } else {
            self.transfer_dir.clone()
        }
    }

    /// Defaults around a data directory (used by tests and the demo).
    pub fn new(data_dir: impl Into<PathBuf>) -> DaemonConfig {
        DaemonConfig {
            data_dir: data_dir.into(),
            control_socket: None,
            boot_id_file: PathBuf::from(crate::state::boot::KERNEL_BOOT_ID),
            device: DeviceIdentity::default(),
            software_version_file: None,
            factory_settings: BTreeMap::new(),
            reboot_command: None,
            factory_reset_command: None,
            firmware_apply_command: None,
            config_apply_command: None,
            config_export_command: None,
            log_export_command: None,
            transfer_dir: PathBuf::new(),
            session_timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            get_rpc_methods: false,
            connection_request_listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            address_check_interval: Duration::from_secs(60),
            journal_max_live_bytes: 1 << 20,
            host: Arc::new(LinuxHost::new()),
            externals: Vec::new(),
            notification_sample_interval: Duration::from_secs(30),
        }
    }
}

/// Why the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Asked to stop (signal, or the caller's shutdown future).
    Shutdown,
    /// A reboot was due: the reboot command ran (or, without one, the supervisor must reboot).
    Rebooting,
}

/// What the daemon's side tasks and the control socket read about the running agent.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    pub next_inform_at_ms: Option<u64>,
    pub session_active: bool,
    pub connection_request_url: String,
    /// Transfers moving bytes now: id → (bytes done, bytes expected when known).
    pub transfer_progress: BTreeMap<String, (u64, Option<u64>)>,
}

/// The running agent's core: its journal and the state folded from it.
pub struct Agent {
    config: DaemonConfig,
    model: DataModel,
    journal: Journal,
    state: Mutex<AgentState>,
    append_lock: tokio::sync::Mutex<()>,
    wake: Notify,
    /// Wakes the transfer worker (a transfer was accepted or cancelled, a boot was observed).
    pub(crate) transfer_wake: Notify,
    /// Set when an event is raised: a session starts at once, even inside a retry wait.
    start_early: AtomicBool,
    started_at_ms: u64,
    runtime: Mutex<Runtime>,
    cr_settings: watch::Sender<CrSettings>,
}

/// Wall-clock time in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave the data half-updated in a way later
    // readers could misread (they hold plain values), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long the daemon waits for a CLI command that holds the journal (it opens the data
/// directory itself when it finds no daemon on the socket, e.g. while the daemon is starting).
const JOURNAL_LOCK_WAIT: Duration = Duration::from_secs(30);

async fn open_journal_waiting_for_lock(
    dir: PathBuf,
    options: Options,
) -> anyhow::Result<(Journal, journal::OpenReport)> {
    let deadline = tokio::time::Instant::now() + JOURNAL_LOCK_WAIT;
    loop {
        let (d, o) = (dir.clone(), options.clone());
        match tokio::task::spawn_blocking(move || Journal::open(d, o))
            .await
            .context("opening the journal")?
        {
            Err(journal::Error::Locked { .. }) if tokio::time::Instant::now() < deadline => {
                tracing::info!("the journal is held by another process (a CLI command?): waiting");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other.context("opening the journal"),
        }
    }
}

impl StateSource for Agent {
    fn current_state(&self) -> AgentState {
        self.state()
    }
}

impl Agent {
    /// Opens the journal, folds it, and records this start (boot detection).
    pub async fn open(config: DaemonConfig) -> anyhow::Result<Arc<Agent>> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        let boot_id = read_boot_id(&config.boot_id_file).with_context(|| {
            format!("reading the boot id from {}", config.boot_id_file.display())
        })?;
        let mut device = config.device.clone();
        if let Some(path) = &config.software_version_file {
            device.software_version = std::fs::read_to_string(path)
                .with_context(|| format!("reading the software version from {}", path.display()))?
                .trim()
                .to_owned();
        }
        let options = Options {
            max_live_bytes: config.journal_max_live_bytes,
            ..Options::with_boot_id(boot_id.clone())
        };
        let dir = config.data_dir.join("journal");
        let (journal, report) = open_journal_waiting_for_lock(dir, options).await?;
        match &report.outcome {
            OpenOutcome::Created | OpenOutcome::Clean => {
                tracing::info!(records = journal.last_seq(), "journal opened")
            }
            other => tracing::warn!(outcome = ?other, "journal opened after repair"),
        }
        let state = AgentState::from_journal(&journal).context("reading the journal")?;
        let (cr_settings, _) = watch::channel(CrSettings::default());
        let mut model = DataModel::new(device.clone(), config.host.clone());
        model.externals = config.externals.clone();
        let agent = Arc::new(Agent {
            model,
            config: DaemonConfig { device, ..config },
            journal,
            state: Mutex::new(state),
            append_lock: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
            transfer_wake: Notify::new(),
            start_early: AtomicBool::new(false),
            started_at_ms: now_ms(),
            runtime: Mutex::new(Runtime::default()),
            cr_settings,
        });
        let startup = {
            let state = lock(&agent.state);
            startup_records(&state, &boot_id, &agent.config.device.software_version)
        };
        agent.append(startup).await?;
        let firmware = {
            let state = lock(&agent.state);
            let running = if state.software_version.is_empty() {
                agent.config.device.software_version.clone()
            } else {
                state.software_version.clone()
            };
            super::transfers::startup_records(&state, &running)
        };
        agent.append(firmware).await?;
        // The connection-request path is part of ConnectionRequestURL: chosen once, journaled.
        if agent.settings().get("connection-request-path").is_empty() {
            let settings = agent.settings();
            agent
                .append(settings_change_records(
                    &settings,
                    "connection-request-path",
                    &cr::random_path(),
                    proto::ChangeSource::Host,
                ))
                .await?;
        }
        agent.publish_cr_settings();
        Ok(agent)
    }

    /// The device identity (with the running software version).
    pub fn device(&self) -> &DeviceIdentity {
        &self.config.device
    }

    /// The daemon's configuration.
    pub fn config(&self) -> &DaemonConfig {
        &self.config
    }

    /// The journal's human-readable timeline (secrets masked), oldest first.
    pub fn journal_timeline(&self) -> anyhow::Result<String> {
        let mut out = String::new();
        for stored in self.journal.iter_from(1) {
            out.push_str(&journal::summary(&stored?));
            out.push('\n');
        }
        Ok(out)
    }

    /// The data model over this agent's providers.
    pub fn model(&self) -> &DataModel {
        &self.model
    }

    /// A copy of the folded state.
    pub fn state(&self) -> AgentState {
        lock(&self.state).clone()
    }

    /// The effective settings.
    pub fn settings(&self) -> Settings {
        lock(&self.state).effective_settings(&self.config.factory_settings)
    }

    pub fn factory_settings(&self) -> &BTreeMap<String, String> {
        &self.config.factory_settings
    }

    pub fn runtime(&self) -> Runtime {
        lock(&self.runtime).clone()
    }

    /// Appends one batch durably, then folds the stored records into the state. Snapshots and
    /// compacts when the journal says its live data outgrew the bound.
    pub async fn append(&self, records: Vec<Record>) -> anyhow::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let raises_event = records
            .iter()
            .any(|r| matches!(r.kind, Some(Kind::EventRaised(_))));
        let _guard = self.append_lock.lock().await;
        let ack = self
            .journal
            .append(records)
            .await
            .context("appending to the journal")?;
        // Durable, not yet folded nor acted on.
        crate::crash_point!("append.after_durable");
        {
            let mut state = lock(&self.state);
            for stored in self
                .journal
                .iter_from(ack.first_seq)
                .take_while(|r| r.as_ref().map_or(true, |r| r.seq <= ack.last_seq))
            {
                let stored = stored.context("reading back appended records")?;
                state.apply(stored.seq, stored.time_ms, &stored.record);
            }
        }
        if ack.needs_snapshot {
            crate::crash_point!("snapshot.before");
            let (snapshot, up_to) = {
                let state = lock(&self.state);
                (state.to_snapshot(), state.last_seq)
            };
            let snap_ack = self
                .journal
                .append_snapshot(snapshot, up_to)
                .await
                .context("writing a snapshot")?;
            crate::crash_point!("snapshot.after");
            lock(&self.state).last_seq = snap_ack.last_seq;
            tracing::info!(
                seq = snap_ack.last_seq,
                live_bytes = snap_ack.live_bytes,
                "journal compacted"
            );
        }
        if raises_event {
            self.start_early.store(true, Ordering::SeqCst);
        }
        self.publish_cr_settings();
        self.wake.notify_one();
        self.transfer_wake.notify_one();
        Ok(())
    }

    /// Raises an event (owed until an InformResponse) and starts a session for it.
    pub async fn raise_event(&self, code: &str, command_key: &str) -> anyhow::Result<()> {
        self.append(vec![event_raised(code, command_key)]).await
    }

    /// The operator's `inform-now`: a session starts at once, carrying whatever is owed; with
    /// nothing owed it is an early periodic inform (`2 PERIODIC`), the event whose meaning is
    /// closest to "the CPE reports in now".
    pub async fn inform_now(&self) -> anyhow::Result<()> {
        if self.state().has_owed_events() {
            self.start_early.store(true, Ordering::SeqCst);
            self.wake();
            Ok(())
        } else {
            self.raise_event(ec::PERIODIC, "").await
        }
    }

    /// Wakes the scheduler (a setting changed, the operator asked for a session).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn publish_cr_settings(&self) {
        let settings = self.settings();
        let next = CrSettings {
            username: settings.connection_request_username(),
            password: settings.connection_request_password(),
            enabled: settings.enabled(),
        };
        self.cr_settings.send_if_modified(|current| {
            let changed = *current != next;
            *current = next;
            changed
        });
    }

    pub(crate) fn set_runtime(&self, f: impl FnOnce(&mut Runtime)) {
        f(&mut lock(&self.runtime));
    }
}

/// Runs the daemon until SIGTERM/SIGINT or a reboot.
pub async fn run(config: DaemonConfig) -> anyhow::Result<RunEnd> {
    run_until(config, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Runs the daemon until `shutdown` completes or a reboot is due.
pub async fn run_until(
    config: DaemonConfig,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<RunEnd> {
    let agent = Agent::open(config).await?;
    run_agent(agent, shutdown).await
}

/// Runs an opened agent (the scheduler plus the connection-request server).
pub async fn run_agent(
    agent: Arc<Agent>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<RunEnd> {
    let settings = agent.settings();
    let mut server_config = cr::ServerConfig::new(settings.get("connection-request-path"));
    server_config.listen = SocketAddr::new(
        agent.config.connection_request_listen,
        settings.connection_request_port(),
    );
    let (cr_handle, mut cr_rx) =
        ConnectionRequestServer::bind(server_config, agent.cr_settings.subscribe())
            .await
            .context("starting the connection-request server")?;
    let cr_port = cr_handle.local_addr().port();
    update_connection_request_url(&agent, cr_port, false).await?;

    // Connection requests are turned into events by their own task: awaiting an append inside
    // the select below could wait for the append lock held by the (then unpolled) scheduler.
    let cr_agent = agent.clone();
    // Side tasks hold the agent; they stop with this future, however it ends (even when the
    // caller drops it, as the demo does to simulate a crash).
    let mut side_tasks = AbortOnDrop(Vec::new());
    side_tasks.0.push(tokio::spawn(async move {
        while let Some(request) = cr_rx.recv().await {
            tracing::info!(from = %request.from, "connection request accepted");
            if let Err(e) = cr_agent.raise_event(ec::CONNECTION_REQUEST, "").await {
                tracing::error!(error = %e, "could not journal a connection request");
            }
        }
    }));
    if let Some(path) = agent.config.control_socket.clone() {
        side_tasks
            .0
            .push(tokio::spawn(crate::control::agent_backend::serve(
                agent.clone(),
                path,
            )));
    }
    let transfer_agent = agent.clone();
    side_tasks.0.push(tokio::spawn(async move {
        if let Err(e) = super::transfers::worker(transfer_agent).await {
            tracing::error!(error = %format!("{e:#}"), "the transfer worker stopped");
        }
    }));
    let end = tokio::select! {
        end = scheduler(agent.clone(), cr_port) => end,
        _ = shutdown => Ok(RunEnd::Shutdown),
    };
    drop(side_tasks);
    cr_handle.shutdown().await;
    end
}

/// Aborts the tasks when dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Finds the address the host reaches the ACS from and publishes ConnectionRequestURL; when it
/// changed after start-up (`notify`), the ACS is told with a VALUE CHANGE (the parameter is
/// active-notified by default).
async fn update_connection_request_url(
    agent: &Agent,
    port: u16,
    notify: bool,
) -> anyhow::Result<()> {
    let settings = agent.settings();
    let ip = acs_socket_addr(&settings.acs_url())
        .await
        .and_then(|addr| cr::primary_local_ip(addr).ok())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let url = cr::connection_request_url(ip, port, &settings.get("connection-request-path"));
    let previous = agent.runtime().connection_request_url;
    if previous == url {
        return Ok(());
    }
    agent.set_runtime(|r| r.connection_request_url = url.clone());
    if notify && !previous.is_empty() {
        tracing::info!(%url, "the host's address changed: ConnectionRequestURL updated");
        agent
            .append(vec![
                record(Kind::ValueChanged(proto::ValueChanged {
                    name: "Device.ManagementServer.ConnectionRequestURL".to_owned(),
                    value: url,
                    notification: 2,
                })),
                event_raised(ec::VALUE_CHANGE, ""),
            ])
            .await?;
    }
    Ok(())
}

async fn acs_socket_addr(acs_url: &str) -> Option<SocketAddr> {
    let uri: http::Uri = acs_url.parse().ok()?;
    let https = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("https"));
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    tokio::net::lookup_host((host, port)).await.ok()?.next()
}

async fn scheduler(agent: Arc<Agent>, cr_port: u16) -> anyhow::Result<RunEnd> {
    let mut last_periodic_raise_ms: Option<u64> = None;
    let mut next_address_check = now_ms() + agent.config.address_check_interval.as_millis() as u64;
    let mut notifier = Notifier::default();
    loop {
        let now = now_ms();
        let state = agent.state();
        let settings = agent.settings();

        if let Some(pending) = state.pending_reboot.clone() {
            return reboot(&agent, pending.factory_reset).await;
        }
        if let Some(wake) = notifier.tick(&agent, &state, &settings, now).await? {
            if wake <= now {
                continue;
            }
        }
        if diagnostics::ping_requested(&state) {
            diagnostics::run_ping(&agent).await?;
            continue;
        }
        if now >= next_address_check {
            next_address_check = now + agent.config.address_check_interval.as_millis() as u64;
            update_connection_request_url(&agent, cr_port, true).await?;
            continue;
        }

        let running = settings.enabled() && !settings.acs_url().is_empty();
        let mut wake_at = earliest(Some(next_address_check), notifier.wake_at(&settings));
        if running {
            if let Some((due, key)) = next_schedule_inform(&state) {
                if due <= now {
                    agent
                        .append(vec![
                            record(Kind::ScheduleInformFired(proto::ScheduleInformFired {
                                command_key: key.clone(),
                            })),
                            event_raised(ec::SCHEDULED, ""),
                            event_raised(ec::M_SCHEDULE_INFORM, &key),
                        ])
                        .await?;
                    continue;
                }
                wake_at = earliest(wake_at, Some(due));
            }
            let base_ms =
                last_periodic_raise_ms.map_or(agent.started_at_ms, |t| t.max(agent.started_at_ms));
            if let Some(due) = next_periodic_at(&state, &settings, now, base_ms) {
                let due = match (settings.periodic_inform_time(), last_periodic_raise_ms) {
                    (None, Some(raised)) => {
                        due.max(raised + settings.periodic_inform_interval() * 1000)
                    }
                    _ => due,
                };
                if due <= now && last_periodic_raise_ms.is_none_or(|t| t < due) {
                    last_periodic_raise_ms = Some(now);
                    agent.raise_event(ec::PERIODIC, "").await?;
                    continue;
                }
                wake_at = earliest(wake_at, Some(due.max(now + 1)));
            }
            let early = agent.start_early.load(Ordering::SeqCst);
            if let Some(at) = owed_session_at(&state, now) {
                if at <= now || early {
                    agent.start_early.store(false, Ordering::SeqCst);
                    run_session(&agent).await?;
                    continue;
                }
                wake_at = earliest(wake_at, Some(at));
            }
        }
        agent.start_early.store(false, Ordering::SeqCst);
        agent.set_runtime(|r| r.next_inform_at_ms = wake_at.filter(|_| running));
        let sleep_ms = wake_at
            .map_or(60_000, |t| t.saturating_sub(now_ms()))
            .max(1);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
            _ = agent.wake.notified() => {}
        }
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn transport_config(agent: &Agent, settings: &Settings) -> TransportConfig {
    let mut tc = TransportConfig::new(settings.acs_url());
    let username = settings.username();
    if !username.is_empty() {
        tc = tc.with_credentials(username, settings.password());
    }
    tc.tls = TlsSettings {
        ca_file: settings.ca_file().map(PathBuf::from),
        client_certificate: settings.client_certificate().map(|pem| ClientCertificate {
            cert_chain_pem: PathBuf::from(&pem),
            private_key_pem: PathBuf::from(pem),
        }),
        insecure: settings.tls_insecure(),
    };
    tc.request_timeout = agent.config.request_timeout;
    tc
}

/// Runs one session to its end and journals how it ended.
async fn run_session(agent: &Agent) -> anyhow::Result<()> {
    let state = agent.state();
    let settings = agent.settings();
    let now = now_ms();
    let session_id = format!("{:016x}", rand::random::<u64>());
    let runtime = agent.runtime();
    let inform = build_inform(
        &agent.config.device,
        &state,
        &runtime.connection_request_url,
        now,
    );
    let mut config = SessionConfig::new(settings.acs_url());
    config.namespace = CwmpNamespace::Cwmp12;
    config.send_get_rpc_methods = agent.config.get_rpc_methods;
    config.session_timeout_secs =
        u32::try_from(agent.config.request_timeout.as_secs()).unwrap_or(30);
    config.max_session_secs =
        u32::try_from(agent.config.session_timeout.as_secs()).unwrap_or(u32::MAX);
    let start = SessionStart {
        session_id: session_id.clone(),
        inform,
        transfer_completes: super::transfers::owed_transfer_completes(&state),
    };
    let mut session = Session::new(config, start, now);
    let transport = transport_config(agent, &settings);
    let mut handler = AcsRequestHandler {
        model: &agent.model,
        factory_settings: &agent.config.factory_settings,
        connection_request_url: runtime.connection_request_url.clone(),
        state: agent,
        transfers: TransferSupport {
            firmware: agent.config.firmware_apply_command.is_some(),
            oui: agent.config.device.oui.clone(),
        },
    };
    let mut conn: Option<SessionConnection> = None;
    let mut retry_after: Option<Duration> = None;
    agent.set_runtime(|r| r.session_active = true);
    tracing::info!(session = %session_id, url = %settings.acs_url(), events = ?state.inform_events().iter().map(|e| e.event_code.clone()).collect::<Vec<_>>(), "session starting");

    let result = loop {
        let Some(output) = session.poll_output() else {
            // The machine always ends in Finished; treat silence as an internal error.
            break None;
        };
        match output {
            Output::Journal(records) => {
                let acknowledges = records.iter().any(|r| {
                    matches!(
                        r.kind,
                        Some(Kind::InformAcknowledged(_) | Kind::TransferCompleteAcknowledged(_))
                    )
                });
                if acknowledges {
                    // The ACS has answered; its acknowledgement is not yet journaled.
                    crate::crash_point!("session.before_ack_journaled");
                }
                agent.append(records).await?;
                // Journaled; the response (or the next request) is not yet sent.
                crate::crash_point!("session.after_journal_before_send");
                session.journaled();
            }
            Output::Send { body, is_inform } => {
                if conn.is_none() {
                    match tokio::time::timeout(
                        agent.config.request_timeout,
                        SessionConnection::open(&transport),
                    )
                    .await
                    {
                        Ok(Ok(c)) => conn = Some(c),
                        Ok(Err(e)) => {
                            retry_after = e.retry_after();
                            session.on_transport_error(now_ms(), e.to_string());
                            continue;
                        }
                        Err(_) => {
                            session.on_timeout(now_ms());
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                let remaining = session.deadline_ms().saturating_sub(now_ms()).max(1);
                match tokio::time::timeout(
                    Duration::from_millis(remaining),
                    c.post(body.map(Bytes::from), is_inform),
                )
                .await
                {
                    Ok(Ok(reply)) => session.on_reply(
                        &mut handler,
                        now_ms(),
                        reply.status,
                        &reply.body,
                        reply.retry_after,
                    ),
                    Ok(Err(e)) => {
                        retry_after = e.retry_after();
                        match e.kind() {
                            // An HTTP status is the ACS's answer, not a broken connection: the
                            // session machine words it ("the ACS answered 503 …").
                            ErrorKind::Http(status) => session.on_reply(
                                &mut handler,
                                now_ms(),
                                status,
                                b"",
                                e.retry_after(),
                            ),
                            _ => session.on_transport_error(now_ms(), e.to_string()),
                        }
                    }
                    Err(_) => session.on_timeout(now_ms()),
                }
            }
            Output::Finished(result) => break Some(result),
        }
    };
    if let Some(c) = conn {
        c.close().await;
    }
    agent.set_runtime(|r| r.session_active = false);

    let result = result.unwrap_or_else(|| crate::session::SessionResult {
        outcome: Outcome::Failed(FailureReason::Internal(
            "the session ended without an outcome".to_owned(),
        )),
        acs_methods: None,
        namespace: None,
        use_cwmp_version: None,
    });
    let wait_secs = match result.failure() {
        None => {
            tracing::info!(session = %session_id, "session completed");
            None
        }
        Some(reason) => {
            let retry_after = reason.retry_after().or(retry_after);
            let policy = RetryPolicy::new(
                settings.retry_minimum_wait(),
                settings.retry_interval_multiplier(),
            );
            let wait =
                retry_after.unwrap_or_else(|| policy.wait(state.retry_count.saturating_add(1)));
            let wait_secs = u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                .unwrap_or(u32::MAX);
            tracing::warn!(session = %session_id, %reason, retry_in_s = wait_secs, "session failed");
            Some(wait_secs)
        }
    };
    agent
        .append(vec![result.ended_record(&session_id, wait_secs)])
        .await
}

/// Performs a reboot the ACS asked for (after the session that asked ended).
async fn reboot(agent: &Agent, factory_reset: bool) -> anyhow::Result<RunEnd> {
    crate::crash_point!("reboot.before_hook");
    if factory_reset {
        if let Some(cmd) = &agent.config.factory_reset_command {
            run_hook("factory-reset", cmd).await;
        }
        let mut records = vec![record(Kind::FactoryResetDone(proto::FactoryResetDone {}))];
        records.extend(factory_configuration_records(agent));
        agent.append(records).await?;
    }
    match &agent.config.reboot_command {
        Some(cmd) => {
            tracing::info!("rebooting the device");
            run_hook("reboot", cmd).await;
        }
        None => tracing::warn!(
            "a reboot is due but no reboot command is configured: exiting so the supervisor reboots the device"
        ),
    }
    Ok(RunEnd::Rebooting)
}

/// The factory configuration a vendor-file Download installed, applied over the reset state
/// (with the reset, in one batch). A file that no longer checks is logged and skipped: the
/// device then comes back with the built-in defaults.
fn factory_configuration_records(agent: &Agent) -> Vec<Record> {
    let path = agent
        .config
        .data_dir
        .join(super::transfers::FACTORY_CONFIG_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    let parsed = match crate::datamodel::config_file::parse(&text) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "the factory configuration is invalid; ignored");
            return Vec::new();
        }
    };
    let mut reset = agent.state();
    reset.apply(
        reset.last_seq + 1,
        now_ms(),
        &record(Kind::FactoryResetDone(proto::FactoryResetDone {})),
    );
    match super::transfers::check_config(agent, &reset, &parsed) {
        Ok(values) => vec![record(Kind::ConfigurationApplied(
            proto::ConfigurationApplied {
                values,
                replace: true,
                transfer_id: String::new(),
            },
        ))],
        Err((_, why)) => {
            tracing::error!(file = %path.display(), %why, "the factory configuration does not fit the data model; ignored");
            Vec::new()
        }
    }
}

async fn run_hook(name: &str, command: &str) {
    match tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .status()
        .await
    {
        Ok(status) if status.success() => tracing::info!(hook = name, "hook ran"),
        Ok(status) => tracing::error!(hook = name, %status, "hook failed"),
        Err(e) => tracing::error!(hook = name, error = %e, "hook could not be started"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn acs_address_from_the_url() {
        assert_eq!(
            acs_socket_addr("http://127.0.0.1:7547/acs").await,
            Some(SocketAddr::from(([127, 0, 0, 1], 7547)))
        );
        assert_eq!(
            acs_socket_addr("https://127.0.0.1/acs").await,
            Some(SocketAddr::from(([127, 0, 0, 1], 443)))
        );
        assert_eq!(
            acs_socket_addr("http://[::1]/")
                .await
                .map(|a| (a.ip().is_loopback(), a.port())),
            Some((true, 80))
        );
        assert_eq!(acs_socket_addr("not a url").await, None);
        assert_eq!(acs_socket_addr("").await, None);
    }

    #[test]
    fn earliest_of_optional_times() {
        assert_eq!(earliest(Some(5), Some(3)), Some(3));
        assert_eq!(earliest(None, Some(3)), Some(3));
        assert_eq!(earliest(Some(5), None), Some(5));
        assert_eq!(earliest(None, None), None);
    }
}
