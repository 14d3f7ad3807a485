//! The daemon: one device's core ([`Cpe`]) hosted by a thin tokio loop that owns its journal,
//! executes the core's actions and feeds it their results.
//!
//! Everything the loop starts — an HTTP exchange with the ACS, a transfer job, a hook, a ping, an
//! external provider call — is a future the loop itself owns, so when [`Agent::run`] returns (or
//! its future is dropped) they are gone, and the journal, which only the loop holds, is closed:
//! nothing of the agent outlives it. The connection-request listener and the control socket are
//! tasks that talk to the loop through channels and hold no part of it; the loop stops both
//! before it returns.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use journal::OpenOutcome;
use tokio::sync::{mpsc, oneshot, watch};

use crate::config::{Config, SoftwareVersion};
use crate::control::{ControlBackend, RuntimeInfo};
use crate::cpe::{AcsEndpoint, Action, Append, Cpe, Input, Runtime, SystemEntropy, TransferEvent};
use crate::datamodel::external::{ExternalCall, RunProviders};
use crate::datamodel::host::{HostSource, LinuxHost};
use crate::records::{Journal, Record, RecordStore};
use crate::state::AgentState;
use crate::state::boot::read_boot_id;
use crate::state::settings::Settings;

use super::connection_request::{self as cr, ConnectionRequestServer, CrSettings};
use super::hooks::run_hook;
use super::reachability::Reachability;
use super::transfer_jobs;
use crate::http::{ErrorKind, SessionConnection, TransportConfig};

/// Why the daemon stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Asked to stop (signal, or the caller's shutdown future).
    Shutdown,
    /// A reboot was due: the reboot hook ran (or, without one, the supervisor must reboot).
    Rebooting,
}

/// What the agent reads from the outside world that tests replace.
#[derive(Clone)]
pub struct Ports {
    /// Where host-backed parameters are read (the real host; tests give a fixed one).
    pub host: Arc<dyn HostSource>,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            host: Arc::new(LinuxHost::new()),
        }
    }
}

/// How long opening waits for a CLI command that holds the journal (it opens the data directory
/// itself when it finds no daemon on the socket, e.g. while the daemon is starting).
const JOURNAL_LOCK_WAIT: Duration = Duration::from_secs(30);

/// Wall-clock time in unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A request to the running loop (from the control socket or an in-process caller).
enum Call {
    View(oneshot::Sender<(AgentState, Settings, Runtime)>),
    Append(Vec<Record>, oneshot::Sender<Result<(), String>>),
    Input(Input),
}

/// Talks to a running agent: what the control socket (and a test, or the demo) uses. Holds only
/// a channel: it keeps nothing of the agent alive.
#[derive(Clone)]
pub struct AgentHandle {
    tx: mpsc::Sender<Call>,
}

impl std::fmt::Debug for AgentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentHandle").finish_non_exhaustive()
    }
}

const STOPPED: &str = "the agent is not running";

impl AgentHandle {
    /// The folded state, the effective settings and the runtime view; `None` once the agent
    /// stopped.
    pub async fn view(&self) -> Option<(AgentState, Settings, Runtime)> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Call::View(tx)).await.ok()?;
        rx.await.ok()
    }

    /// The folded state (default once the agent stopped).
    pub async fn state(&self) -> AgentState {
        self.view().await.map(|v| v.0).unwrap_or_default()
    }

    /// Appends records durably through the running agent (which folds them).
    pub async fn append(&self, records: Vec<Record>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Call::Append(records, tx))
            .await
            .map_err(|_| STOPPED.to_owned())?;
        rx.await.map_err(|_| STOPPED.to_owned())?
    }

    /// The operator's `inform-now`.
    pub async fn inform_now(&self) -> Result<(), String> {
        self.tx
            .send(Call::Input(Input::InformNow))
            .await
            .map_err(|_| STOPPED.to_owned())
    }
}

/// The control plane's view of the running agent. Called on tokio's blocking pool (the control
/// socket runs `control::handle` there), so it blocks on the channel.
impl ControlBackend for AgentHandle {
    fn state(&self) -> (AgentState, Settings) {
        let (tx, rx) = oneshot::channel();
        match self
            .tx
            .blocking_send(Call::View(tx))
            .ok()
            .and_then(|()| rx.blocking_recv().ok())
        {
            Some((state, settings, _)) => (state, settings),
            None => (AgentState::default(), Settings::default()),
        }
    }

    fn append(&self, records: Vec<Record>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .blocking_send(Call::Append(records, tx))
            .map_err(|_| STOPPED.to_owned())?;
        rx.blocking_recv().map_err(|_| STOPPED.to_owned())?
    }

    fn runtime(&self) -> RuntimeInfo {
        let (tx, rx) = oneshot::channel();
        let runtime = self
            .tx
            .blocking_send(Call::View(tx))
            .ok()
            .and_then(|()| rx.blocking_recv().ok())
            .map(|v| v.2)
            .unwrap_or_default();
        RuntimeInfo {
            next_inform_at_ms: runtime.next_inform_at_ms,
            session_active: runtime.session_active,
            connection_request_url: Some(runtime.connection_request_url).filter(|u| !u.is_empty()),
            transfer_progress: runtime.transfer_progress,
        }
    }

    fn inform_now(&self) -> Result<(), String> {
        self.tx
            .blocking_send(Call::Input(Input::InformNow))
            .map_err(|_| STOPPED.to_owned())
    }
}

/// An opened agent: its journal, and its core with the journal folded in and this start
/// recorded. [`Agent::run`] runs it.
pub struct Agent {
    config: Arc<Config>,
    cpe: Cpe,
    journal: Journal,
    /// The journal asked for a snapshot during start-up (written once nothing is in flight).
    snapshot_due: bool,
    calls_tx: mpsc::Sender<Call>,
    calls_rx: mpsc::Receiver<Call>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").field("cpe", &self.cpe).finish()
    }
}

/// Opens the journal and folds it in one pass over the store (`AgentState::open_and_fold`),
/// waiting while another process (a CLI command) holds it.
async fn open_and_fold_waiting_for_lock(
    dir: PathBuf,
    options: journal::Options,
) -> anyhow::Result<(Journal, journal::OpenReport, AgentState)> {
    let deadline = tokio::time::Instant::now() + JOURNAL_LOCK_WAIT;
    loop {
        let (d, o) = (dir.clone(), options.clone());
        match tokio::task::spawn_blocking(move || AgentState::open_and_fold(d, o))
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

pub(crate) type IoFuture = Pin<Box<dyn Future<Output = IoDone> + Send>>;

/// The I/O the loop has started and owns. Dropping it cancels all of it. A handful at most run
/// at once (one HTTP exchange, one transfer job, a ping, a provider call), so polling each on
/// every wake-up costs less than a dependency.
#[derive(Default)]
pub(crate) struct InFlight(Vec<IoFuture>);

impl InFlight {
    pub(crate) fn push(&mut self, f: IoFuture) {
        self.0.push(f);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next finished future's output; `None` at once when nothing is in flight.
    pub(crate) async fn next(&mut self) -> Option<IoDone> {
        if self.0.is_empty() {
            return None;
        }
        std::future::poll_fn(|cx| {
            for i in 0..self.0.len() {
                if let std::task::Poll::Ready(done) = self.0[i].as_mut().poll(cx) {
                    drop(self.0.swap_remove(i));
                    return std::task::Poll::Ready(Some(done));
                }
            }
            std::task::Poll::Pending
        })
        .await
    }
}

/// What a finished I/O future hands back to the loop.
// One value at a time passes through the loop; boxing the connection would cost an allocation
// per POST for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum IoDone {
    /// The session's connection (to reuse) and the reply to feed.
    Session(Option<Box<SessionConnection>>, Input),
    /// A result to feed.
    Input(Input),
    /// Nothing: the job reported through the events channel.
    Reported,
}

impl Agent {
    /// Opens the journal, folds it, and records this start (boot detection, firmware outcomes).
    pub async fn open(config: Config, ports: Ports) -> anyhow::Result<Agent> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        let boot_id = read_boot_id(&config.boot_id_file).with_context(|| {
            format!("reading the boot id from {}", config.boot_id_file.display())
        })?;
        let running_version = match &config.device.software_version {
            SoftwareVersion::Fixed(v) => v.clone(),
            SoftwareVersion::File(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading the software version from {}", path.display()))?
                .trim()
                .to_owned(),
        };
        let (journal, report, state) =
            open_and_fold_waiting_for_lock(config.journal_dir(), config.journal_options(&boot_id))
                .await?;
        match &report.outcome {
            OpenOutcome::Created | OpenOutcome::Clean => {
                tracing::info!(records = journal.last_seq(), "journal opened")
            }
            other => tracing::warn!(outcome = ?other, "journal opened after repair"),
        }
        let config = Arc::new(config);
        let mut cpe = Cpe::new(config.clone(), ports.host, Box::new(SystemEntropy));
        cpe.restore_state(state);
        cpe.start(now_ms(), &boot_id, &running_version);
        // Start-up's records are durable before `open` returns (the first Inform of a new boot
        // is decided here, before any session).
        let mut snapshot_due = false;
        while let Some(action) = cpe.poll_startup(now_ms()) {
            match action {
                Action::Append(a) => snapshot_due |= append(&journal, &mut cpe, a).await?,
                Action::RemoveTransferFiles { keep } => {
                    transfer_jobs::remove_transfer_files(&config.transfer_dir(), &keep)
                }
                other => anyhow::bail!("unexpected action during start-up: {other:?}"),
            }
        }
        let (calls_tx, calls_rx) = mpsc::channel(16);
        Ok(Agent {
            config,
            cpe,
            journal,
            snapshot_due,
            calls_tx,
            calls_rx,
        })
    }

    /// A handle to the agent (usable while [`Agent::run`] runs).
    pub fn handle(&self) -> AgentHandle {
        AgentHandle {
            tx: self.calls_tx.clone(),
        }
    }

    /// The folded state (before the agent runs; afterwards use [`AgentHandle::view`]).
    pub fn state(&self) -> &AgentState {
        self.cpe.state()
    }

    /// The effective settings.
    pub fn settings(&self) -> &Settings {
        self.cpe.settings()
    }

    /// Runs the agent until `shutdown` completes or a reboot is due. Returns only when nothing
    /// of the agent runs any more and its journal is closed.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<RunEnd> {
        let Agent {
            config,
            mut cpe,
            mut journal,
            mut snapshot_due,
            calls_tx,
            mut calls_rx,
        } = self;
        let settings = cpe.settings().clone();
        let mut server_config = cr::ServerConfig::new(settings.get("connection-request-path"));
        server_config.listen = SocketAddr::new(
            config.connection_request.listen_address,
            settings.connection_request_port(),
        );
        server_config.rate_limit = config.connection_request.limits.clone();
        if settings.connection_request_username().is_empty() {
            tracing::warn!(
                "connection-request-username is empty: every connection request will be refused (401)"
            );
        }
        let (cr_tx, cr_settings_rx) = watch::channel(cr_settings(&cpe));
        let (cr_handle, mut cr_rx) = ConnectionRequestServer::bind(server_config, cr_settings_rx)
            .await
            .context("starting the connection-request server")?;
        cpe.handle(
            Input::Listening {
                cr_port: cr_handle.local_addr().port(),
            },
            now_ms(),
        );
        // UDP (STUN) and XMPP connection requests: listeners beside the HTTP one.
        let (reach, mut reach_rx, mut reach_wake_rx) = Reachability::start(&cpe);
        let control = ControlTask::start(
            config.control_socket.clone(),
            AgentHandle {
                tx: calls_tx.clone(),
            },
        );
        // Only the handles given out keep the channel open; the loop's own sender must not.
        drop(calls_tx);
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<Input>();
        let mut io = InFlight::default();
        let mut conn: Option<Box<SessionConnection>> = None;
        let mut endpoint: Option<AcsEndpoint> = None;
        // Stops the diagnostic under way; the UDP echo responder's configuration.
        let mut diagnostic_cancel: Option<oneshot::Sender<()>> = None;
        let mut udp_echo: Option<watch::Sender<Option<crate::diagnostics::UdpEchoConfig>>> = None;
        let mut shutdown = std::pin::pin!(shutdown);

        let end: anyhow::Result<RunEnd> = 'run: loop {
            while let Some(action) = cpe.poll_action(now_ms()) {
                match action {
                    Action::Append(a) => match append(&journal, &mut cpe, a).await {
                        Ok(due) => snapshot_due |= due,
                        Err(e) => break 'run Err(e),
                    },
                    Action::OpenSession(ep) => {
                        if ep.tls.insecure {
                            tracing::warn!(
                                "tls-insecure is set: the ACS's certificate is NOT verified"
                            );
                        }
                        endpoint = Some(ep);
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
                        if let Some(c) = conn.take() {
                            c.close().await;
                        }
                    }
                    Action::Transfer(job) => {
                        let timeline =
                            matches!(job.upload, Some(crate::cpe::UploadSource::JournalTimeline))
                                .then(|| journal_timeline(&journal));
                        let tx = events_tx.clone();
                        io.push(Box::pin(async move {
                            transfer_jobs::run(*job, tx, timeline).await;
                            IoDone::Reported
                        }));
                    }
                    Action::WriteFactoryConfiguration { transfer_id, text } => {
                        let path = config
                            .data_dir
                            .join(crate::cpe::transfer_lifecycle::FACTORY_CONFIG_FILE);
                        io.push(Box::pin(async move {
                            let result =
                                transfer_jobs::write_factory_configuration(path, text).await;
                            IoDone::Input(Input::Transfer {
                                transfer_id,
                                event: TransferEvent::Finished(result),
                            })
                        }));
                    }
                    Action::RemoveTransferFiles { keep } => {
                        transfer_jobs::remove_transfer_files(&config.transfer_dir(), &keep)
                    }
                    Action::RunDiagnostic(request) => {
                        let (cancel, cancelled) = oneshot::channel::<()>();
                        diagnostic_cancel = Some(cancel);
                        io.push(Box::pin(run_diagnostic(request, cancelled)));
                    }
                    Action::CancelDiagnostic => {
                        if let Some(cancel) = diagnostic_cancel.take() {
                            let _ = cancel.send(());
                        }
                    }
                    Action::UdpEcho(wanted) => match (&udp_echo, wanted) {
                        (Some(running), wanted) => {
                            let stop = wanted.is_none();
                            let _ = running.send(wanted);
                            if stop {
                                udp_echo = None;
                            }
                        }
                        (None, Some(config)) => {
                            let (tx, rx) = watch::channel(Some(config));
                            udp_echo = Some(tx);
                            let events = events_tx.clone();
                            io.push(Box::pin(async move {
                                crate::diagnostics::udp_echo::serve(rx, move |stats| {
                                    let _ = events.send(Input::UdpEchoStats(stats));
                                })
                                .await;
                                IoDone::Reported
                            }));
                        }
                        (None, None) => {}
                    },
                    Action::FindLocalAddress { acs_url } => io.push(Box::pin(async move {
                        IoDone::Input(Input::LocalAddress(local_address_toward(&acs_url).await))
                    })),
                    Action::External(call) => {
                        let providers = config.datamodel.external.clone();
                        io.push(Box::pin(external_call(providers, call)));
                    }
                    Action::FactoryReset { hook } => {
                        let path = config
                            .data_dir
                            .join(crate::cpe::transfer_lifecycle::FACTORY_CONFIG_FILE);
                        io.push(Box::pin(async move {
                            if let Some(hook) = hook {
                                let _ = run_hook("factory_reset", &hook, None, "").await;
                            }
                            IoDone::Input(Input::FactoryResetDone {
                                factory_configuration: tokio::fs::read_to_string(&path).await.ok(),
                            })
                        }));
                    }
                    Action::Reboot { hook } => {
                        match hook {
                            Some(hook) => {
                                tracing::info!("rebooting the device");
                                let _ = run_hook("reboot", &hook, None, "").await;
                            }
                            None => tracing::warn!(
                                "a reboot is due but no reboot command is configured: exiting so the supervisor reboots the device"
                            ),
                        }
                        break 'run Ok(RunEnd::Rebooting);
                    }
                }
            }
            let credentials = cr_settings(&cpe);
            cr_tx.send_if_modified(|current| {
                let changed = *current != credentials;
                *current = credentials;
                changed
            });
            reach.update(&cpe);
            // Compaction waits for a moment when nothing is in flight (no ACS exchange, no
            // transfer), so a boot's first Inform does not wait for it.
            if snapshot_due && io.is_empty() {
                snapshot_due = false;
                if let Err(e) = compact(&journal, &mut cpe).await {
                    break 'run Err(e);
                }
                continue 'run;
            }
            let timeout = cpe.poll_timeout();
            let sleep = async move {
                match timeout {
                    Some(at) => {
                        let ms = at.saturating_sub(now_ms()).max(1);
                        tokio::time::sleep(Duration::from_millis(ms)).await
                    }
                    // Nothing is due until an input arrives: no timer at all.
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = &mut shutdown => break 'run Ok(RunEnd::Shutdown),
                Some(done) = io.next() => match done {
                    IoDone::Session(c, input) => {
                        conn = c;
                        cpe.handle(input, now_ms());
                    }
                    IoDone::Input(input) => cpe.handle(input, now_ms()),
                    IoDone::Reported => {}
                },
                Some(input) = events_rx.recv() => cpe.handle(input, now_ms()),
                Some(_) = cr_rx.recv() => cpe.handle(Input::ConnectionRequest, now_ms()),
                Some(()) = reach_wake_rx.recv() => cpe.handle(Input::ConnectionRequest, now_ms()),
                Some(input) = reach_rx.recv() => cpe.handle(input, now_ms()),
                Some(call) = calls_rx.recv() => {
                    match answer(call, &mut journal, &mut cpe).await {
                        Ok(due) => snapshot_due |= due,
                        Err(e) => break 'run Err(e),
                    }
                }
                () = sleep => {}
            }
        };
        // In-flight I/O stops here (hooks and pings are killed with their futures).
        drop(io);
        // A clean stop is journaled, so that a start without one reads as the crash it was.
        let stop = match &end {
            Ok(RunEnd::Shutdown) => Some("shutdown"),
            Ok(RunEnd::Rebooting) => Some("reboot"),
            _ => None,
        };
        if let Some(reason) = stop {
            if let Err(e) = journal
                .append(vec![crate::state::boot::stopped_record(reason)])
                .await
            {
                tracing::warn!(error = %e, "could not journal the clean stop");
            }
        }
        if let Some(c) = conn.take() {
            c.close().await;
        }
        control.stop().await;
        cr_handle.shutdown().await;
        reach.shutdown().await;
        drop(calls_rx);
        journal.close();
        end
    }
}

fn cr_settings(cpe: &Cpe) -> CrSettings {
    let s = cpe.settings();
    CrSettings {
        username: s.connection_request_username(),
        password: s.connection_request_password(),
        enabled: s.enabled(),
    }
}

/// Appends one batch durably, then feeds the stored records to the core. Returns whether the
/// journal asks for a snapshot (see [`compact`]); the caller chooses when to write it.
pub(crate) async fn append(
    journal: &impl RecordStore,
    cpe: &mut Cpe,
    a: Append,
) -> anyhow::Result<bool> {
    if let Some(point) = a.crash_before {
        crash(point);
    }
    let ack = journal
        .append(a.records)
        .await
        .context("appending to the journal")?;
    // Durable, not yet folded nor acted on.
    crate::crash_point!("append.after_durable");
    let mut stored = Vec::new();
    for r in journal
        .records_from(ack.first_seq)
        .take_while(|r| r.as_ref().map_or(true, |r| r.seq <= ack.last_seq))
    {
        let r = r.context("reading back appended records")?;
        stored.push((r.seq, r.time_ms, r.record));
    }
    cpe.handle(Input::Appended(stored), now_ms());
    if let Some(point) = a.crash_after {
        crash(point);
    }
    Ok(ack.needs_snapshot)
}

/// Writes a snapshot of the folded state and lets the journal drop the records it covers.
///
/// With the journal at its size bound this costs a few hundred milliseconds (sled removes every
/// covered record), so the daemon does it when nothing is in flight rather than between a boot's
/// records and its first Inform (BENCHMARKS.md, "exec → first Inform"). The records stay durable
/// until then; only the bound is exceeded by a session's worth for a while.
pub(crate) async fn compact(journal: &impl RecordStore, cpe: &mut Cpe) -> anyhow::Result<()> {
    crate::crash_point!("snapshot.before");
    let (snapshot, up_to) = cpe.snapshot();
    let snap = journal
        .append_snapshot(snapshot, up_to)
        .await
        .context("writing a snapshot")?;
    crate::crash_point!("snapshot.after");
    cpe.handle(
        Input::SnapshotWritten {
            last_seq: snap.last_seq,
        },
        now_ms(),
    );
    tracing::info!(
        seq = snap.last_seq,
        live_bytes = snap.live_bytes,
        "journal compacted"
    );
    Ok(())
}

/// A named crash point chosen by the core (see `crash`).
fn crash(point: &str) {
    #[cfg(feature = "failpoints")]
    crate::crash::hit(point);
    #[cfg(not(feature = "failpoints"))]
    let _ = point;
}

/// Answers a control-socket call; `true` when the journal asks for a snapshot.
async fn answer(call: Call, journal: &mut Journal, cpe: &mut Cpe) -> anyhow::Result<bool> {
    match call {
        Call::View(reply) => {
            let _ = reply.send((
                cpe.state().clone(),
                cpe.settings().clone(),
                cpe.runtime().clone(),
            ));
        }
        Call::Append(records, reply) => {
            let result = append(
                journal,
                cpe,
                Append {
                    records,
                    crash_before: None,
                    crash_after: None,
                },
            )
            .await;
            let failed = result.as_ref().err().map(|e| format!("{e:#}"));
            let _ = reply.send(match &failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            });
            return result;
        }
        Call::Input(input) => cpe.handle(input, now_ms()),
    }
    Ok(false)
}

/// The journal's human-readable timeline (secrets masked), oldest first.
pub(crate) fn journal_timeline(journal: &impl RecordStore) -> String {
    let mut out = String::new();
    for stored in journal.records_from(1) {
        match stored {
            Ok(r) => {
                out.push_str(&crate::records::summary(&r));
                out.push('\n');
            }
            Err(e) => {
                out.push_str(&format!("(unreadable record: {e})\n"));
                break;
            }
        }
    }
    out
}

/// One POST of the session, on the session's connection (opened at the first).
pub(crate) async fn send(
    conn: Option<Box<SessionConnection>>,
    endpoint: AcsEndpoint,
    body: Option<Vec<u8>>,
    is_inform: bool,
    deadline_ms: u64,
) -> IoDone {
    let mut conn = match conn {
        Some(c) => c,
        None => {
            let mut tc = TransportConfig::new(endpoint.url.clone());
            if !endpoint.username.is_empty() {
                tc = tc.with_credentials(endpoint.username.clone(), endpoint.password.clone());
            }
            tc.tls = transfer_jobs::tls_settings(&endpoint.tls);
            tc.request_timeout = endpoint.request_timeout;
            match tokio::time::timeout(endpoint.request_timeout, SessionConnection::open(&tc)).await
            {
                Ok(Ok(c)) => Box::new(c),
                Ok(Err(e)) => {
                    return IoDone::Session(
                        None,
                        Input::AcsFailed {
                            sentence: e.to_string(),
                            retry_after: e.retry_after(),
                            http_status: None,
                        },
                    );
                }
                Err(_) => return IoDone::Session(None, Input::AcsTimeout),
            }
        }
    };
    let remaining = deadline_ms.saturating_sub(now_ms()).max(1);
    let input = match tokio::time::timeout(
        Duration::from_millis(remaining),
        conn.post(body.map(bytes::Bytes::from), is_inform),
    )
    .await
    {
        Ok(Ok(reply)) => Input::AcsReply {
            status: reply.status,
            body: reply.body.to_vec(),
            retry_after: reply.retry_after,
        },
        Ok(Err(e)) => Input::AcsFailed {
            sentence: e.to_string(),
            retry_after: e.retry_after(),
            http_status: match e.kind() {
                ErrorKind::Http(status) => Some(status),
                _ => None,
            },
        },
        Err(_) => Input::AcsTimeout,
    };
    IoDone::Session(Some(conn), input)
}

/// Runs a diagnostic test until it ends or is cancelled.
async fn run_diagnostic(
    request: Box<crate::cpe::DiagnosticRequest>,
    cancelled: oneshot::Receiver<()>,
) -> IoDone {
    let limits = crate::diagnostics::Limits {
        connect_timeout: transfer_jobs::CONNECT_TIMEOUT,
        idle_timeout: transfer_jobs::IDLE_TIMEOUT,
    };
    let generation = request.generation;
    let cancel = async {
        // A dropped sender is not a cancellation.
        if cancelled.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let outcome = tokio::select! {
        outcome = crate::diagnostics::run(&request.test, limits) => Some(outcome),
        () = cancel => None,
    };
    IoDone::Input(Input::DiagnosticFinished(Box::new(
        crate::cpe::DiagnosticResult {
            generation,
            outcome,
        },
    )))
}

/// Runs an external provider call on the blocking pool.
async fn external_call(
    providers: Vec<crate::datamodel::external::ExternalProvider>,
    call: ExternalCall,
) -> IoDone {
    let c = call.clone();
    let result = tokio::task::spawn_blocking(move || {
        use crate::datamodel::external::ExternalCalls as _;
        RunProviders.call(&providers, c)
    })
    .await
    .unwrap_or_else(|e| {
        Err(crate::cwmp::Fault::with_string(
            crate::cwmp::FaultCode::InternalError,
            format!("the external provider call failed: {e}"),
        ))
    });
    IoDone::Input(Input::External(call, result))
}

/// The local address the host reaches the ACS from.
pub(crate) async fn local_address_toward(acs_url: &str) -> Option<std::net::IpAddr> {
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
    let addr = tokio::net::lookup_host((host, port)).await.ok()?.next()?;
    cr::primary_local_ip(addr).ok()
}

/// The control socket's task: stopped (and its socket file removed) before the loop returns.
struct ControlTask(Option<tokio::task::JoinHandle<()>>);

impl ControlTask {
    fn start(path: PathBuf, handle: AgentHandle) -> ControlTask {
        let backend: Arc<dyn ControlBackend + Send + Sync> = Arc::new(handle);
        tracing::info!(socket = %path.display(), "control socket listening");
        ControlTask(Some(tokio::spawn(async move {
            if let Err(e) = crate::control::socket::run(path.clone(), backend).await {
                tracing::error!(socket = %path.display(), "control socket failed: {e}");
            }
        })))
    }

    async fn stop(mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for ControlTask {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Runs the daemon until SIGTERM/SIGINT or a reboot.
pub async fn run(config: Config) -> anyhow::Result<RunEnd> {
    let agent = Agent::open(config, Ports::default()).await?;
    agent.run(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ControlRequest, ControlResponse, socket};

    fn test_config(dir: &std::path::Path) -> Config {
        let boot = dir.join("boot_id");
        std::fs::write(&boot, "boot-1\n").unwrap();
        let mut config = Config::default().with_data_dir(dir.join("data"));
        config.boot_id_file = boot;
        config.connection_request.listen_address = std::net::Ipv4Addr::LOCALHOST.into();
        for (k, v) in [
            ("enabled", "true"),
            // Nothing listens there: sessions fail at once and are retried.
            ("acs-url", "http://127.0.0.1:9/acs"),
            ("connection-request-port", "0"),
        ] {
            config.factory_settings.insert(k.into(), v.into());
        }
        config
    }

    /// After `run` returns nothing holds the journal: it opens again at once, without waiting.
    fn reopens_at_once(config: &Config) {
        match crate::records::Journal::open(
            config.journal_dir(),
            journal::Options::with_boot_id("check"),
        ) {
            Ok((j, _)) => j.close(),
            Err(e) => panic!("the journal is still held after the agent stopped: {e}"),
        }
    }

    async fn wait_for_socket(path: &std::path::Path) {
        for _ in 0..200 {
            if path.exists() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no control socket at {}", path.display());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_holds_the_journal_once_run_returns() {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        let agent = Agent::open(config.clone(), Ports::default()).await.unwrap();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(agent.run(async move {
            let _ = stop_rx.await;
        }));
        wait_for_socket(&config.control_socket).await;
        // A control connection stays open while the agent stops, and a set is in flight.
        let path = config.control_socket.clone();
        let cli = tokio::task::spawn_blocking(move || {
            let set = socket::request(
                &path,
                &ControlRequest::Set {
                    items: vec![("periodic-inform-interval".into(), "1h".into())],
                },
            );
            let print = socket::request(&path, &ControlRequest::Print);
            (set, print)
        });
        let (set, print) = cli.await.unwrap();
        assert!(matches!(set, Ok(ControlResponse::Ok { .. })), "{set:?}");
        let Ok(ControlResponse::View { view }) = print else {
            panic!("{print:?}")
        };
        assert!(view.daemon_running);
        assert_eq!(view.settings["periodic-inform-interval"], "1h");
        let _idle = std::os::unix::net::UnixStream::connect(&config.control_socket).unwrap();
        let _ = stop_tx.send(());
        let end = task.await.unwrap().unwrap();
        assert_eq!(end, RunEnd::Shutdown);
        reopens_at_once(&config);
        assert!(
            !config.control_socket.exists(),
            "the socket file is removed"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_holds_the_journal_once_a_dropped_run_is_gone() {
        // The demo "crashes" the agent by aborting its task; the next open must not find the
        // journal locked.
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        for _ in 0..3 {
            let agent = Agent::open(config.clone(), Ports::default()).await.unwrap();
            let task = tokio::spawn(agent.run(std::future::pending()));
            tokio::time::sleep(Duration::from_millis(50)).await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
            reopens_at_once(&config);
        }
    }

    #[tokio::test]
    async fn acs_address_from_the_url() {
        assert!(
            local_address_toward("http://127.0.0.1:7547/acs")
                .await
                .is_some_and(|ip| ip.is_loopback())
        );
        assert_eq!(local_address_toward("not a url").await, None);
        assert_eq!(local_address_toward("").await, None);
    }
}
