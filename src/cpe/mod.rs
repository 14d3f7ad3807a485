//! One device: the per-CPE core. [`Cpe`] holds the state folded from one device's journal and
//! makes every decision the agent makes — which session is due and why, what the Inform
//! carries, how an ACS request is answered, which transfer step comes next, what a boot means —
//! without doing any I/O.
//!
//! # How it is driven (raft-rs's Ready/advance, str0m's poll loop)
//!
//! ```text
//! let mut cpe = Cpe::new(config, host, entropy);
//! for record in journal { cpe.restore(seq, time, &record) }   // fold what is on disk
//! cpe.start(now, boot_id, running_version);                   // a start: boot detection
//! loop {
//!     while let Some(action) = cpe.poll_action(now()) {
//!         match action {
//!             Action::Append(a) => { let stored = journal.append(a.records)?;   // durable
//!                                    cpe.handle(Input::Appended(stored), now()) }
//!             other => edge.start(other),      // send, fetch, run a hook, reboot, …
//!         }
//!     }
//!     // sleep until cpe.poll_timeout() or until an I/O result arrives:
//!     cpe.handle(input, now());
//! }
//! ```
//!
//! * **Inputs** are the current time (every call carries it), randomness (an [`Entropy`] given
//!   at construction: the system's for the daemon, a seeded one for tests and fleet mode), the
//!   journal's read-back of every durable append ([`Input::Appended`]) and the results of the
//!   edge's I/O (an HTTP reply, a download's checkpoint, a hook's exit, a ping's result, an
//!   external provider's answer).
//! * **Outputs** are [`Action`]s: records to append, and I/O for the edge.
//! * **Write-ahead gate**: after handing out [`Action::Append`], the core hands out nothing else
//!   until the matching [`Input::Appended`] arrives — so an action that depends on records
//!   (the response to a SetParameterValues, a firmware apply, a reboot) is never handed out
//!   before they are durable, and the state only ever changes by folding what the journal
//!   stored ("memory never runs ahead of the disk").
//! * The core holds no socket, timer, task, thread or global: a process can hold thousands
//!   (fleet mode). Host values are read through the [`HostSource`] port (cheap reads of /proc
//!   and /sys, or a simulated host); external providers go through [`ExternalMemo`], which
//!   turns each call into an [`Action::External`] and replays the step with its result.

pub mod diagnostics;
pub mod entropy;
pub mod external_memo;
pub mod handler;
pub mod inform;
pub mod notifier;
pub mod reachability;
pub mod retry;
pub mod schedule;
pub mod transfer_lifecycle;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::records::proto::{self, Record, record::Kind};

use crate::config::{Config, SoftwareVersion};
use crate::cwmp::CwmpNamespace;
use crate::cwmp::rpc::inform::event_code as ec;
use crate::datamodel::external::{ExternalCall, ExternalResult};
use crate::datamodel::host::HostSource;
use crate::datamodel::ipping::{PingRequest, PingResult};
use crate::datamodel::{DataModel, DeviceIdentity, View, config_file};
use crate::session::{
    FailureReason, Outcome, Output, Session, SessionConfig, SessionResult, SessionStart,
};
use crate::state::boot::startup_records;
use crate::state::settings::Settings;
use crate::state::{AgentState, event_raised, record, settings_change_records};

pub use entropy::{Entropy, SeededEntropy, SystemEntropy};
pub use external_memo::ExternalMemo;
pub use transfer_lifecycle::{Downloaded, Failure, Job};

use handler::{AcsRequestHandler, TransferSupport};
use notifier::Notifier;
use retry::RetryPolicy;
use schedule::{next_periodic_at, next_schedule_inform, owed_session_at};
use transfer_lifecycle::{Facts, Step};

/// How often the host's address is re-read to keep ConnectionRequestURL current, when the
/// configuration does not say.
pub const DEFAULT_ADDRESS_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// Length of the random part of the connection-request path.
pub const CR_PATH_LEN: usize = 24;

/// A batch to make durable, then feed back as [`Input::Appended`].
#[derive(Debug, Clone, PartialEq)]
pub struct Append {
    pub records: Vec<Record>,
    /// A chaos-test crash point the edge passes just before appending.
    pub crash_before: Option<&'static str>,
    /// A crash point the edge passes right after the batch is durable (before it is folded or
    /// acted on).
    pub crash_after: Option<&'static str>,
}

impl Append {
    fn plain(records: Vec<Record>) -> Append {
        Append {
            records,
            crash_before: None,
            crash_after: None,
        }
    }
}

/// TLS settings the edge applies to a connection (the ACS's, and the transfers').
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsPolicy {
    pub ca_file: Option<PathBuf>,
    /// PEM file with the certificate chain and the private key.
    pub client_certificate: Option<PathBuf>,
    /// Lab setting: no certificate verification (logged on every session).
    pub insecure: bool,
}

/// Where and how a session reaches the ACS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcsEndpoint {
    pub url: String,
    pub username: String,
    pub password: String,
    pub tls: TlsPolicy,
    /// How long the ACS has to answer one POST (also the connect limit).
    pub request_timeout: Duration,
}

/// A transfer job for the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferJob {
    pub transfer_id: String,
    pub job: Job,
    /// The ACS's request: URL, credentials, FileSize, FileType.
    pub accepted: proto::TransferAccepted,
    /// The transfer's own directory.
    pub dir: PathBuf,
    /// Download: the last durable checkpoint (file name in `dir`, bytes), where it resumes.
    pub checkpoint: Option<(String, u64)>,
    /// Download: the unix time its windows close (a ScheduleDownload).
    pub deadline_unix: Option<i64>,
    /// Apply: the downloaded main file.
    pub main_file: PathBuf,
    /// The hook to run (firmware_apply or config_apply), if the device has one.
    pub hook: Option<String>,
    /// config_apply's `{mode}`: `overwrite` or `alter`.
    pub mode: &'static str,
    /// Upload: what to upload.
    pub upload: Option<UploadSource>,
    pub tls: TlsPolicy,
}

/// What an Upload sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadSource {
    /// Run this export hook with `{file}`, then send the file.
    Hook(String),
    /// This text (the agent's own configuration export).
    Text(String),
    /// The journal's timeline, secrets masked (the edge owns the journal).
    JournalTimeline,
    /// A copy of this file (the installed factory configuration).
    File(PathBuf),
}

/// What the edge must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Append durably, then feed [`Input::Appended`]. Nothing else comes out before that.
    Append(Append),
    /// A session starts: connect to the ACS lazily at the first [`Action::Send`].
    OpenSession(AcsEndpoint),
    /// POST this body (`None`: the empty POST) to the ACS, then feed [`Input::AcsReply`],
    /// [`Input::AcsFailed`], or [`Input::AcsTimeout`] once `deadline_ms` has passed.
    Send {
        body: Option<Vec<u8>>,
        is_inform: bool,
        deadline_ms: u64,
    },
    /// The session is over: close its connection.
    CloseSession,
    /// Start a transfer job; its results come back as [`Input::Transfer`].
    Transfer(TransferJob),
    /// Write the factory configuration durably (old or new content after a power cut); then
    /// feed [`TransferEvent::Finished`].
    WriteFactoryConfiguration { transfer_id: String, text: String },
    /// Delete the transfer directories whose names are not in `keep`.
    RemoveTransferFiles { keep: BTreeSet<String> },
    /// Run the IPPing; feed [`Input::PingFinished`].
    Ping(PingRequest),
    /// Find the local address the host reaches `acs_url` from; feed [`Input::LocalAddress`].
    FindLocalAddress { acs_url: String },
    /// Run an external provider call off the async workers; feed [`Input::External`].
    External(ExternalCall),
    /// FactoryReset: run the hook (if any), read the installed factory configuration, feed
    /// [`Input::FactoryResetDone`].
    FactoryReset { hook: Option<String> },
    /// Reboot the device with the hook (or, without one, stop and leave it to the supervisor).
    /// The core is finished: the process ends.
    Reboot { hook: Option<String> },
}

/// What happened to a transfer job.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferEvent {
    /// Bytes moved (for `print`), not durable.
    Progress {
        done: u64,
        total: Option<u64>,
    },
    /// `file` in the transfer's directory holds `bytes`, fdatasynced.
    Checkpoint {
        file: String,
        bytes: u64,
    },
    Downloaded(Result<Downloaded, Failure>),
    /// An upload, a configuration hook or a factory-configuration write ended.
    Finished(Result<(), Failure>),
    /// The firmware_apply hook ran over every package.
    FirmwareApplied(Result<(), String>),
    /// The text of the file to apply (no config_apply hook) or to install as the factory
    /// configuration.
    ConfigText(Result<String, Failure>),
}

/// What the core is told.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Records the journal made durable, read back in order: (sequence, commit time, record).
    Appended(Vec<(u64, u64, Record)>),
    /// A snapshot was written at `last_seq` (the state is unchanged).
    SnapshotWritten {
        last_seq: u64,
    },
    /// The connection-request listener is bound to this port.
    Listening {
        cr_port: u16,
    },
    /// The ACS knocked (an authenticated connection request: HTTP, UDP or XMPP).
    ConnectionRequest,
    /// What the STUN binding learned (`None`: STUN is off): journaled when it changed.
    NatBinding(Option<crate::connection_request::stun::Mapping>),
    /// The XMPP connection's state changed.
    Xmpp(reachability::XmppReport),
    /// The operator's `inform-now`.
    InformNow,
    LocalAddress(Option<IpAddr>),
    AcsReply {
        status: u16,
        body: Vec<u8>,
        retry_after: Option<Duration>,
    },
    /// The POST failed. `http_status`: the ACS answered with an error status (its answer, not
    /// a broken connection).
    AcsFailed {
        sentence: String,
        retry_after: Option<Duration>,
        http_status: Option<u16>,
    },
    AcsTimeout,
    Transfer {
        transfer_id: String,
        event: TransferEvent,
    },
    External(ExternalCall, ExternalResult),
    PingFinished(PingResult),
    FactoryResetDone {
        /// The installed factory configuration's text, if one is installed.
        factory_configuration: Option<String>,
    },
}

/// What only the running agent knows (shown by `print`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Runtime {
    pub next_inform_at_ms: Option<u64>,
    pub session_active: bool,
    pub connection_request_url: String,
    /// Transfers moving bytes now: id → (bytes done, bytes expected when known).
    pub transfer_progress: BTreeMap<String, (u64, Option<u64>)>,
    /// The XMPP connection (Device.XMPP.Connection.1's Status, JabberID, …).
    pub xmpp: crate::datamodel::XmppLive,
}

/// What the gate waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// A batch the session machine asked for: call `journaled()` when it is durable.
    Session,
    /// Any other batch.
    Plain,
}

/// Start-up runs in steps, each folded before the next is decided.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Startup {
    NotStarted,
    Boot {
        boot_id: String,
        running_version: String,
    },
    Firmware,
    ConnectionRequestPath,
    Done,
}

struct ActiveSession {
    session: Session,
    id: String,
    retry_after: Option<Duration>,
    /// An ACS reply whose answer waits for an external provider (replayed with its result).
    stashed_reply: Option<(u64, u16, Vec<u8>, Option<Duration>)>,
}

/// What the transfer executor is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TransferBusy {
    Job {
        transfer_id: String,
        job: Job,
    },
    /// A builtin configuration waits for an external provider's answer: replay with it.
    Checking {
        transfer_id: String,
        text: String,
    },
    /// An upload's builtin export waits for an external provider.
    Exporting {
        transfer_id: String,
    },
}

/// The reboot in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rebooting {
    No,
    FactoryResetRunning,
    Done,
}

/// One device's core. See the module documentation.
pub struct Cpe {
    config: Arc<Config>,
    identity: DeviceIdentity,
    model: DataModel,
    state: AgentState,
    settings: Settings,
    entropy: Box<dyn Entropy>,
    /// External calls of the ACS request being answered.
    session_memo: ExternalMemo,
    /// External calls of the transfer step under way (a configuration check or export).
    transfer_memo: ExternalMemo,
    /// For reads that never reach a provider (host-backed values, the IPPing inputs): a call
    /// would be answered with a fault, never run.
    scratch_memo: ExternalMemo,
    started_at_ms: u64,
    runtime: Runtime,
    gate: Option<Gate>,
    queue: VecDeque<Action>,
    startup: Startup,
    cr_port: Option<u16>,
    session: Option<ActiveSession>,
    last_periodic_raise_ms: Option<u64>,
    next_address_check_ms: u64,
    address_lookup: bool,
    notifier: Notifier,
    /// An event was raised: a session starts at once, even inside a retry wait.
    start_early: bool,
    /// A connection request arrived during the session under way.
    connection_request_after_session: bool,
    transfer: Option<TransferBusy>,
    /// The transfer whose Applying record this run journaled (its apply is under way).
    applying_in_this_run: Option<String>,
    transfer_dirs: BTreeSet<String>,
    ping_running: bool,
    rebooting: Rebooting,
    wake_at_ms: Option<u64>,
}

impl std::fmt::Debug for Cpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cpe")
            .field("serial", &self.identity.serial_number)
            .field("last_seq", &self.state.last_seq)
            .finish_non_exhaustive()
    }
}

fn unix_secs(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}

/// The device identity of a configuration, with the running software version.
pub fn identity(config: &Config, running_version: &str) -> DeviceIdentity {
    let d = &config.device;
    DeviceIdentity {
        manufacturer: d.manufacturer.clone(),
        oui: d.oui.clone(),
        product_class: d.product_class.clone(),
        serial_number: d.serial_number.clone(),
        model_name: d.model_name.clone(),
        description: d.description.clone(),
        hardware_version: d.hardware_version.clone(),
        software_version: match &d.software_version {
            SoftwareVersion::Fixed(v) if running_version.is_empty() => v.clone(),
            _ => running_version.to_owned(),
        },
    }
}

impl Cpe {
    /// A core with an empty state; feed it its journal with [`Cpe::restore`], then
    /// [`Cpe::start`] it.
    pub fn new(config: Arc<Config>, host: Arc<dyn HostSource>, entropy: Box<dyn Entropy>) -> Cpe {
        let identity = identity(&config, "");
        let mut model = DataModel::new(identity.clone(), host);
        model.externals = config.datamodel.external.clone();
        let settings = Settings::new(BTreeMap::new(), config.factory_settings.clone());
        Cpe {
            identity,
            model,
            state: AgentState::default(),
            settings,
            entropy,
            session_memo: ExternalMemo::default(),
            transfer_memo: ExternalMemo::default(),
            scratch_memo: ExternalMemo::default(),
            started_at_ms: 0,
            runtime: Runtime::default(),
            gate: None,
            queue: VecDeque::new(),
            startup: Startup::NotStarted,
            cr_port: None,
            session: None,
            last_periodic_raise_ms: None,
            next_address_check_ms: 0,
            address_lookup: false,
            notifier: Notifier::default(),
            start_early: false,
            connection_request_after_session: false,
            transfer: None,
            applying_in_this_run: None,
            transfer_dirs: BTreeSet::new(),
            ping_running: false,
            rebooting: Rebooting::No,
            wake_at_ms: None,
            config,
        }
    }

    /// Folds one record read from the journal at open (before [`Cpe::start`]).
    pub fn restore(&mut self, seq: u64, time_ms: u64, record: &Record) {
        self.state.apply(seq, time_ms, record);
    }

    /// Folds a whole state at once (a journal already folded elsewhere).
    pub fn restore_state(&mut self, state: AgentState) {
        self.state = state;
        self.refresh_settings();
    }

    /// The agent starts in boot `boot_id` running `running_version`: the boot is recorded (a
    /// new boot id owes 1 BOOT, an old one only resumes), firmware applied in an earlier boot is
    /// decided, and a connection-request path is chosen once.
    pub fn start(&mut self, now_ms: u64, boot_id: &str, running_version: &str) {
        self.refresh_settings();
        self.identity = identity(&self.config, running_version);
        self.model.identity = self.identity.clone();
        self.started_at_ms = now_ms;
        self.next_address_check_ms = now_ms;
        self.startup = Startup::Boot {
            boot_id: boot_id.to_owned(),
            running_version: self.identity.software_version.clone(),
        };
        self.transfer_dirs = self.live_transfer_dirs();
        self.queue.push_back(Action::RemoveTransferFiles {
            keep: self.transfer_dirs.clone(),
        });
    }

    /// Start-up is over: its records are durable.
    pub fn is_started(&self) -> bool {
        self.startup == Startup::Done
    }

    pub fn state(&self) -> &AgentState {
        &self.state
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub fn identity(&self) -> &DeviceIdentity {
        &self.identity
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The snapshot to write when the journal asks for one, and the sequence number it covers.
    pub fn snapshot(&self) -> (proto::AgentSnapshot, u64) {
        (self.state.to_snapshot(), self.state.last_seq)
    }

    /// When the core next needs [`Cpe::poll_action`] without any input (unix ms); `None`: not
    /// before an input arrives.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.wake_at_ms
    }

    /// Feeds what happened.
    pub fn handle(&mut self, input: Input, now_ms: u64) {
        match input {
            Input::Appended(records) => self.on_appended(records),
            Input::SnapshotWritten { last_seq } => self.state.last_seq = last_seq,
            Input::Listening { cr_port } => {
                self.cr_port = Some(cr_port);
                self.next_address_check_ms = now_ms;
            }
            Input::ConnectionRequest => {
                tracing::info!("connection request accepted");
                if self.session.is_some() {
                    // The session under way may already have delivered a 6 CONNECTION REQUEST:
                    // this one gets a session of its own, after it (TR-069 §3.2.2).
                    self.connection_request_after_session = true;
                } else {
                    self.queue
                        .push_back(raise(vec![event_raised(ec::CONNECTION_REQUEST, "")]));
                }
            }
            Input::NatBinding(mapping) => {
                let records = reachability::nat_binding_records(&self.state, mapping);
                if !records.is_empty() {
                    tracing::info!(?mapping, "the STUN binding changed");
                    self.queue.push_back(raise(records));
                }
            }
            Input::Xmpp(report) => {
                let live = &mut self.runtime.xmpp;
                if live.status != report.status {
                    live.status = report.status;
                    live.last_change_ms = Some(now_ms);
                }
                live.tls_established = report.tls_established;
                if let Some(jid) = &report.jabber_id {
                    live.jabber_id = jid.clone();
                }
                let records = reachability::jabber_id_records(&self.state, &self.settings, &report);
                if !records.is_empty() {
                    self.queue.push_back(raise(records));
                }
            }
            Input::InformNow => {
                if self.state.has_owed_events() {
                    self.start_early = true;
                } else {
                    // With nothing owed, an early periodic inform is the event whose meaning is
                    // closest to "the CPE reports in now".
                    self.queue
                        .push_back(raise(vec![event_raised(ec::PERIODIC, "")]));
                }
            }
            Input::LocalAddress(ip) => self.on_local_address(ip),
            Input::AcsReply {
                status,
                body,
                retry_after,
            } => self.on_acs_reply(now_ms, status, body, retry_after),
            Input::AcsFailed {
                sentence,
                retry_after,
                http_status,
            } => {
                if let Some(s) = &mut self.session {
                    s.retry_after = retry_after;
                    match http_status {
                        // An HTTP status is the ACS's answer, not a broken connection: the
                        // session machine words it ("the ACS answered 503 …").
                        Some(status) => self.on_acs_reply(now_ms, status, Vec::new(), retry_after),
                        None => s.session.on_transport_error(now_ms, sentence),
                    }
                }
            }
            Input::AcsTimeout => {
                if let Some(s) = &mut self.session {
                    s.session.on_timeout(now_ms);
                }
            }
            Input::Transfer { transfer_id, event } => {
                self.on_transfer_event(now_ms, &transfer_id, event)
            }
            Input::External(call, result) => {
                if self.session_memo.waits_for(&call) {
                    self.session_memo.answer(call, result);
                    if let Some(s) = &mut self.session
                        && let Some((at, status, body, retry_after)) = s.stashed_reply.take()
                    {
                        self.on_acs_reply(at, status, body, retry_after);
                    }
                } else if self.transfer_memo.waits_for(&call) {
                    self.transfer_memo.answer(call, result);
                    match self.transfer.take() {
                        Some(TransferBusy::Checking { transfer_id, text }) => {
                            self.apply_configuration_text(now_ms, &transfer_id, Ok(text));
                        }
                        // The upload step runs again and finds its answers in the memo.
                        Some(TransferBusy::Exporting { .. }) | None => {}
                        Some(other) => self.transfer = Some(other),
                    }
                }
            }
            Input::PingFinished(result) => {
                self.ping_running = false;
                tracing::info!(
                    state = result.state,
                    success = result.success_count,
                    failure = result.failure_count,
                    "IPPing diagnostics finished"
                );
                self.queue
                    .push_back(Action::Append(Append::plain(diagnostics::ping_records(
                        &result,
                    ))));
            }
            Input::FactoryResetDone {
                factory_configuration,
            } => self.on_factory_reset_done(now_ms, factory_configuration),
        }
    }

    /// The next action, or `None` when the core waits for an input or for
    /// [`Cpe::poll_timeout`].
    pub fn poll_action(&mut self, now_ms: u64) -> Option<Action> {
        if !self.is_started() {
            let action = self.poll_startup(now_ms);
            if action.is_some() || !self.is_started() {
                return action;
            }
        }
        self.wake_at_ms = None;
        if self.gate.is_some() || self.rebooting == Rebooting::Done && self.queue.is_empty() {
            return None;
        }
        let action = self
            .queue
            .pop_front()
            .or_else(|| self.decide(now_ms))
            // A step may have queued its action instead of returning it.
            .or_else(|| self.queue.pop_front())?;
        Some(self.gated(action))
    }

    /// Start-up's actions only (its records, the removal of stale transfer files); `None` once
    /// start-up is over. The daemon drains it before it runs, so the first Inform of a new boot
    /// is decided before anything else happens.
    pub fn poll_startup(&mut self, now_ms: u64) -> Option<Action> {
        if self.gate.is_some() {
            return None;
        }
        if let Some(action) = self.queue.pop_front() {
            return Some(self.gated(action));
        }
        let action = self.startup_step(now_ms)?;
        Some(self.gated(action))
    }

    fn decide(&mut self, now_ms: u64) -> Option<Action> {
        if let Some(action) = self.session_step(now_ms) {
            return Some(action);
        }
        if let Some(action) = self.transfer_step(now_ms) {
            return Some(action);
        }
        if self.session.is_some() || self.rebooting != Rebooting::No {
            return None;
        }
        self.schedule_step(now_ms)
    }

    fn gated(&mut self, action: Action) -> Action {
        if matches!(action, Action::Append(_)) && self.gate.is_none() {
            self.gate = Some(Gate::Plain);
        }
        action
    }

    fn refresh_settings(&mut self) {
        self.settings = self.state.effective_settings(&self.config.factory_settings);
    }

    fn on_appended(&mut self, records: Vec<(u64, u64, Record)>) {
        let gate = self.gate.take();
        let mut raised = false;
        for (seq, time_ms, record) in &records {
            raised |= matches!(record.kind, Some(Kind::EventRaised(_)));
            self.state.apply(*seq, *time_ms, record);
        }
        self.refresh_settings();
        if raised {
            self.start_early = true;
        }
        let live = self.live_transfer_dirs();
        if !live.is_superset(&self.transfer_dirs) {
            // Acknowledged or cancelled: their files leave the flash.
            self.queue
                .push_back(Action::RemoveTransferFiles { keep: live.clone() });
        }
        self.transfer_dirs = live;
        if gate == Some(Gate::Session)
            && let Some(s) = &mut self.session
        {
            s.session.journaled();
        }
    }

    fn live_transfer_dirs(&self) -> BTreeSet<String> {
        self.state
            .transfers
            .values()
            .filter_map(|t| t.accepted.as_ref())
            .map(|a| transfer_lifecycle::dir_name(&a.transfer_id))
            .collect()
    }

    fn view<'a>(&'a self, now_ms: u64, memo: &'a ExternalMemo) -> View<'a> {
        View::new(
            &self.model,
            &self.state,
            &self.config.factory_settings,
            &self.runtime.connection_request_url,
            now_ms,
            memo,
        )
        .with_xmpp(&self.runtime.xmpp)
    }

    // ---- start-up -------------------------------------------------------------------------

    fn startup_step(&mut self, now_ms: u64) -> Option<Action> {
        match std::mem::replace(&mut self.startup, Startup::Done) {
            Startup::NotStarted => {
                self.startup = Startup::NotStarted;
                None
            }
            Startup::Boot {
                boot_id,
                running_version,
            } => {
                self.startup = Startup::Firmware;
                let mut records = startup_records(&self.state, &boot_id, &running_version);
                records.extend(self.abandoned_reboot_records(&boot_id, now_ms));
                Some(Action::Append(Append::plain(records)))
            }
            Startup::Firmware => {
                self.startup = Startup::ConnectionRequestPath;
                let records = transfer_lifecycle::startup_records(
                    &self.state,
                    &self.identity.software_version,
                    unix_secs(now_ms),
                );
                if records.is_empty() {
                    return self.startup_step(now_ms);
                }
                Some(Action::Append(Append::plain(records)))
            }
            Startup::ConnectionRequestPath => {
                // The connection-request path is part of ConnectionRequestURL: chosen once,
                // journaled.
                if !self.settings.get("connection-request-path").is_empty() {
                    return None;
                }
                let path = random_path(self.entropy.as_mut());
                let records = settings_change_records(
                    &self.settings,
                    "connection-request-path",
                    &path,
                    proto::ChangeSource::Host,
                );
                Some(Action::Append(Append::plain(records)))
            }
            Startup::Done => None,
        }
    }

    /// A reboot still pending in the boot that attempted it: the reboot hook ran and the device
    /// did not reboot. After `reboot_attempts` of those, the agent stops trying and reports what
    /// the reboot was owed for as failed.
    fn abandoned_reboot_records(&self, boot_id: &str, now_ms: u64) -> Vec<Record> {
        let Some(p) = &self.state.pending_reboot else {
            return Vec::new();
        };
        let limit = self.config.hooks.reboot_attempts.max(1);
        if p.attempt_boot_id != boot_id || p.attempts < limit {
            return Vec::new();
        }
        let reason = format!(
            "the reboot hook ran {} time(s) without rebooting the device (the boot id stayed {boot_id}); the agent stopped rebooting",
            p.attempts
        );
        tracing::error!("{reason}");
        let mut records = vec![record(Kind::RebootAbandoned(proto::RebootAbandoned {
            reason: reason.clone(),
            attempts: p.attempts,
        }))];
        if p.firmware {
            for t in self.state.transfers.values() {
                let applied = t
                    .accepted
                    .as_ref()
                    .is_some_and(transfer_lifecycle::is_firmware)
                    && crate::state::stage(t) == proto::TransferStage::Applied;
                if applied {
                    records.push(transfer_lifecycle::completed(
                        t,
                        unix_secs(now_ms),
                        crate::cwmp::FaultCode::FileTransferFailure.code(),
                        format!("the firmware was applied but never activated: {reason}"),
                    ));
                }
            }
        }
        if p.factory_reset {
            records.push(event_raised(ec::BOOTSTRAP, ""));
        }
        if p.reboot_rpc {
            records.push(event_raised(ec::M_REBOOT, &p.command_key));
        }
        records
    }

    // ---- sessions -------------------------------------------------------------------------

    fn endpoint(&self) -> AcsEndpoint {
        AcsEndpoint {
            url: self.settings.acs_url(),
            username: self.settings.username(),
            password: self.settings.password(),
            tls: self.tls_policy(true),
            request_timeout: self.config.session.request_timeout,
        }
    }

    fn tls_policy(&self, with_client_certificate: bool) -> TlsPolicy {
        TlsPolicy {
            ca_file: self.settings.ca_file().map(PathBuf::from),
            client_certificate: self
                .settings
                .client_certificate()
                .filter(|_| with_client_certificate)
                .map(PathBuf::from),
            insecure: self.settings.tls_insecure(),
        }
    }

    fn start_session(&mut self, now_ms: u64) -> Action {
        let id = format!("{:016x}", self.entropy.next_u64());
        let inform = inform::build_inform(
            &self.identity,
            &self.state,
            &self.runtime.connection_request_url,
            now_ms,
        );
        let mut config = SessionConfig::new(self.settings.acs_url());
        config.namespace = CwmpNamespace::Cwmp12;
        config.send_get_rpc_methods = self.config.session.get_rpc_methods;
        config.session_timeout_secs =
            u32::try_from(self.config.session.request_timeout.as_secs()).unwrap_or(30);
        config.max_session_secs =
            u32::try_from(self.config.session.timeout.as_secs()).unwrap_or(u32::MAX);
        let start = SessionStart {
            session_id: id.clone(),
            inform,
            transfer_completes: transfer_lifecycle::owed_transfer_completes(&self.state),
        };
        tracing::info!(session = %id, url = %self.settings.acs_url(), events = ?self.state.inform_events().iter().map(|e| e.event_code.clone()).collect::<Vec<_>>(), "session starting");
        self.session = Some(ActiveSession {
            session: Session::new(config, start, now_ms),
            id,
            retry_after: None,
            stashed_reply: None,
        });
        self.runtime.session_active = true;
        Action::OpenSession(self.endpoint())
    }

    /// The active session's next output.
    fn session_step(&mut self, now_ms: u64) -> Option<Action> {
        let s = self.session.as_mut()?;
        if s.stashed_reply.is_some() {
            return None;
        }
        match s.session.poll_output()? {
            Output::Journal(records) => {
                let acknowledges = records.iter().any(|r| {
                    matches!(
                        r.kind,
                        Some(Kind::InformAcknowledged(_) | Kind::TransferCompleteAcknowledged(_))
                    )
                });
                self.gate = Some(Gate::Session);
                Some(Action::Append(Append {
                    records,
                    // The ACS has answered; its acknowledgement is not yet journaled.
                    crash_before: acknowledges.then_some("session.before_ack_journaled"),
                    // Journaled; the response (or the next request) is not yet sent.
                    crash_after: Some("session.after_journal_before_send"),
                }))
            }
            Output::Send { body, is_inform } => Some(Action::Send {
                body,
                is_inform,
                deadline_ms: s.session.deadline_ms(),
            }),
            Output::Finished(result) => {
                let s = self.session.take()?;
                self.runtime.session_active = false;
                let ended = self.session_ended(now_ms, &s, &result);
                self.queue
                    .push_back(Action::Append(Append::plain(vec![ended])));
                if std::mem::take(&mut self.connection_request_after_session) {
                    self.queue
                        .push_back(raise(vec![event_raised(ec::CONNECTION_REQUEST, "")]));
                }
                Some(Action::CloseSession)
            }
        }
    }

    fn session_ended(&mut self, _now_ms: u64, s: &ActiveSession, result: &SessionResult) -> Record {
        let wait_secs = match result.failure() {
            None => {
                tracing::info!(session = %s.id, "session completed");
                None
            }
            Some(reason) => {
                let retry_after = reason.retry_after().or(s.retry_after);
                let policy = RetryPolicy::new(
                    self.settings.retry_minimum_wait(),
                    self.settings.retry_interval_multiplier(),
                );
                let wait = retry_after.unwrap_or_else(|| {
                    self.entropy
                        .retry_wait(&policy, self.state.retry_count.saturating_add(1))
                });
                let wait_secs = u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                    .unwrap_or(u32::MAX);
                tracing::warn!(session = %s.id, %reason, retry_in_s = wait_secs, "session failed");
                Some(wait_secs)
            }
        };
        result.ended_record(&s.id, wait_secs)
    }

    fn on_acs_reply(
        &mut self,
        now_ms: u64,
        status: u16,
        body: Vec<u8>,
        retry_after: Option<Duration>,
    ) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        // A provider's call inside the answer is replayed with its result: keep the machine as
        // it was before the reply.
        let before = (!self.model.externals.is_empty()).then(|| s.session.clone());
        let mut handler = AcsRequestHandler {
            model: &self.model,
            factory_settings: &self.config.factory_settings,
            connection_request_url: &self.runtime.connection_request_url,
            xmpp: &self.runtime.xmpp,
            state: &self.state,
            transfers: TransferSupport {
                firmware: self.config.hooks.firmware_apply.is_some(),
                oui: self.identity.oui.clone(),
            },
            externals: &self.session_memo,
        };
        s.session
            .on_reply(&mut handler, now_ms, status, &body, retry_after);
        match (self.session_memo.take_missing(), before) {
            (Some(call), Some(before)) => {
                s.session = before;
                s.stashed_reply = Some((now_ms, status, body, retry_after));
                self.queue.push_back(Action::External(call));
            }
            _ => self.session_memo.clear(),
        }
    }

    /// The scheduler: what is due when no session runs.
    fn schedule_step(&mut self, now_ms: u64) -> Option<Action> {
        if let Some(pending) = self.state.pending_reboot.clone()
            && self.applying_in_this_run.is_none()
        {
            return Some(self.begin_reboot(pending.factory_reset));
        }
        let interval_ms = u64::try_from(
            self.config
                .datamodel
                .notification_sample_interval
                .as_millis(),
        )
        .unwrap_or(u64::MAX);
        let mut notifier = std::mem::take(&mut self.notifier);
        let sampled = {
            let view = || self.view(now_ms, &self.scratch_memo);
            notifier.tick(&self.state, &self.settings, now_ms, interval_ms, view)
        };
        self.notifier = notifier;
        self.scratch_memo.clear();
        if let Some(records) = sampled {
            return Some(Action::Append(Append::plain(records)));
        }
        if diagnostics::ping_requested(&self.state) && !self.ping_running {
            self.ping_running = true;
            let request = diagnostics::ping_request(&self.view(now_ms, &self.scratch_memo));
            self.scratch_memo.clear();
            tracing::info!(host = %request.host, repetitions = request.repetitions, "IPPing diagnostics starting");
            return Some(Action::Ping(request));
        }
        if now_ms >= self.next_address_check_ms && !self.address_lookup && self.cr_port.is_some() {
            self.address_lookup = true;
            self.next_address_check_ms = now_ms.saturating_add(
                u64::try_from(
                    self.config
                        .connection_request
                        .address_check_interval
                        .as_millis(),
                )
                .unwrap_or(u64::MAX),
            );
            return Some(Action::FindLocalAddress {
                acs_url: self.settings.acs_url(),
            });
        }

        let running = self.settings.enabled() && !self.settings.acs_url().is_empty();
        let other_wake = earliest(
            self.cr_port.map(|_| self.next_address_check_ms),
            self.notifier.wake_at(&self.state, &self.settings),
        );
        // When the next session starts (what `print` shows as next-inform).
        let mut wake_at = None;
        if running {
            if let Some((due, key)) = next_schedule_inform(&self.state) {
                if due <= now_ms {
                    return Some(Action::Append(Append::plain(vec![
                        record(Kind::ScheduleInformFired(proto::ScheduleInformFired {
                            command_key: key.clone(),
                        })),
                        event_raised(ec::SCHEDULED, ""),
                        event_raised(ec::M_SCHEDULE_INFORM, &key),
                    ])));
                }
                wake_at = earliest(wake_at, Some(due));
            }
            let base_ms = self
                .last_periodic_raise_ms
                .map_or(self.started_at_ms, |t| t.max(self.started_at_ms));
            // With a PeriodicInformTime the slots are fixed: the next one is the first after the
            // last raise (not after now, or a wake-up a millisecond late would skip its slot).
            let not_before = self
                .last_periodic_raise_ms
                .map_or(self.started_at_ms, |t| t.saturating_add(1));
            if let Some(due) = next_periodic_at(&self.state, &self.settings, not_before, base_ms) {
                let due = match (
                    self.settings.periodic_inform_time(),
                    self.last_periodic_raise_ms,
                ) {
                    (None, Some(raised)) => {
                        due.max(raised + self.settings.periodic_inform_interval() * 1000)
                    }
                    _ => due,
                };
                if due <= now_ms && self.last_periodic_raise_ms.is_none_or(|t| t < due) {
                    self.last_periodic_raise_ms = Some(now_ms);
                    return Some(raise(vec![event_raised(ec::PERIODIC, "")]));
                }
                wake_at = earliest(wake_at, Some(due.max(now_ms + 1)));
            }
            // The Inform carries ConnectionRequestURL: the first one waits for the address.
            let url_pending = self.address_lookup && self.runtime.connection_request_url.is_empty();
            if let Some(at) = owed_session_at(&self.state, now_ms).filter(|_| !url_pending) {
                if at <= now_ms || self.start_early {
                    self.start_early = false;
                    return Some(self.start_session(now_ms));
                }
                wake_at = earliest(wake_at, Some(at));
            }
        }
        self.start_early = false;
        self.runtime.next_inform_at_ms = wake_at.filter(|_| running);
        self.wake_at_ms = earliest(self.wake_at_ms, earliest(wake_at, other_wake));
        None
    }

    fn on_local_address(&mut self, ip: Option<IpAddr>) {
        self.address_lookup = false;
        let Some(port) = self.cr_port else { return };
        let ip = ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let url = connection_request_url(ip, port, &self.settings.get("connection-request-path"));
        let previous = std::mem::replace(&mut self.runtime.connection_request_url, url.clone());
        if previous != url && !previous.is_empty() {
            // ConnectionRequestURL is active-notified by default: the ACS must hear of it.
            tracing::info!(%url, "the host's address changed: ConnectionRequestURL updated");
            self.queue.push_back(raise(vec![
                record(Kind::ValueChanged(proto::ValueChanged {
                    name: "Device.ManagementServer.ConnectionRequestURL".to_owned(),
                    value: url,
                    notification: 2,
                })),
                event_raised(ec::VALUE_CHANGE, ""),
            ]));
        }
    }

    // ---- reboots ------------------------------------------------------------------------

    fn begin_reboot(&mut self, factory_reset: bool) -> Action {
        let attempt = record(Kind::RebootAttempted(proto::RebootAttempted {
            boot_id: self.state.boot_id.clone(),
        }));
        if factory_reset {
            self.rebooting = Rebooting::FactoryResetRunning;
            self.queue.push_back(Action::FactoryReset {
                hook: self.config.hooks.factory_reset.clone(),
            });
        } else {
            self.rebooting = Rebooting::Done;
            self.queue.push_back(Action::Reboot {
                hook: self.config.hooks.reboot.clone(),
            });
        }
        Action::Append(Append {
            records: vec![attempt],
            crash_before: None,
            crash_after: Some("reboot.before_hook"),
        })
    }

    fn on_factory_reset_done(&mut self, now_ms: u64, factory_configuration: Option<String>) {
        let mut records = vec![record(Kind::FactoryResetDone(proto::FactoryResetDone {}))];
        if let Some(text) = factory_configuration {
            records.extend(self.factory_configuration_records(now_ms, &text));
        }
        self.queue.push_back(Action::Append(Append::plain(records)));
        self.rebooting = Rebooting::Done;
        self.queue.push_back(Action::Reboot {
            hook: self.config.hooks.reboot.clone(),
        });
    }

    /// The factory configuration a vendor-file Download installed, applied over the reset state
    /// (with the reset, in one batch). A file that no longer checks is logged and skipped: the
    /// device then comes back with the built-in defaults.
    fn factory_configuration_records(&self, now_ms: u64, text: &str) -> Vec<Record> {
        let parsed = match config_file::parse(text) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "the factory configuration is invalid; ignored");
                return Vec::new();
            }
        };
        let mut reset = self.state.clone();
        reset.apply(
            reset.last_seq + 1,
            now_ms,
            &record(Kind::FactoryResetDone(proto::FactoryResetDone {})),
        );
        let view = View::new(
            &self.model,
            &reset,
            &self.config.factory_settings,
            &self.runtime.connection_request_url,
            now_ms,
            &self.scratch_memo,
        );
        let checked = check_config(&view, &parsed);
        self.scratch_memo.clear();
        match checked {
            Ok(values) => vec![record(Kind::ConfigurationApplied(
                proto::ConfigurationApplied {
                    values,
                    replace: true,
                    transfer_id: String::new(),
                },
            ))],
            Err((_, why)) => {
                tracing::error!(%why, "the factory configuration does not fit the data model; ignored");
                Vec::new()
            }
        }
    }

    // ---- transfers ----------------------------------------------------------------------

    fn transfer_step(&mut self, now_ms: u64) -> Option<Action> {
        if self.transfer.is_some() {
            return None;
        }
        let now_unix = unix_secs(now_ms);
        let facts = Facts {
            now_unix,
            boot_id: &self.state.boot_id,
            running_version: &self.identity.software_version,
            reboot_pending: self.state.pending_reboot.is_some(),
            applying_in_this_run: false,
        };
        let mut wake: Option<i64> = None;
        let mut chosen = None;
        for t in transfer_lifecycle::in_order(&self.state) {
            let id = t
                .accepted
                .as_ref()
                .map(|a| a.transfer_id.clone())
                .unwrap_or_default();
            let facts = Facts {
                applying_in_this_run: self.applying_in_this_run.as_deref() == Some(id.as_str()),
                ..facts.clone()
            };
            match transfer_lifecycle::next_step(t, &facts) {
                Step::Idle => {}
                Step::WaitUntil(at) => wake = Some(wake.map_or(at, |w| w.min(at))),
                step => {
                    chosen = Some((t.clone(), step));
                    break;
                }
            }
        }
        let Some((t, step)) = chosen else {
            if let Some(at) = wake {
                let at_ms = u64::try_from(at).unwrap_or(0).saturating_mul(1000);
                self.wake_at_ms = earliest(self.wake_at_ms, Some(at_ms.max(now_ms + 1)));
            }
            return None;
        };
        let id = t
            .accepted
            .as_ref()
            .map(|a| a.transfer_id.clone())
            .unwrap_or_default();
        match step {
            Step::Journal(records) => {
                let stage_after = records.iter().find_map(|r| match &r.kind {
                    Some(Kind::TransferStageChanged(s)) => {
                        proto::TransferStage::try_from(s.stage).ok()
                    }
                    _ => None,
                });
                let crash_after = match stage_after {
                    Some(proto::TransferStage::Downloading) => {
                        Some("transfer.after_downloading_journaled")
                    }
                    Some(proto::TransferStage::Applying) => {
                        self.applying_in_this_run = Some(id.clone());
                        Some("transfer.after_applying_journaled")
                    }
                    _ => None,
                };
                if matches!(
                    stage_after,
                    Some(proto::TransferStage::Completed | proto::TransferStage::Applied)
                ) && self.applying_in_this_run.as_deref() == Some(id.as_str())
                {
                    self.applying_in_this_run = None;
                }
                Some(Action::Append(Append {
                    records,
                    crash_before: None,
                    crash_after,
                }))
            }
            Step::Start(job) => self.start_transfer_job(now_ms, &t, job),
            Step::WaitUntil(_) | Step::Idle => None,
        }
    }

    fn start_transfer_job(
        &mut self,
        now_ms: u64,
        t: &proto::TransferState,
        job: Job,
    ) -> Option<Action> {
        let a = t.accepted.clone()?;
        let last = t.last_stage.clone().unwrap_or_default();
        let dir = transfer_lifecycle::transfer_dir(&self.config.transfer_dir(), &a.transfer_id);
        let mut transfer = TransferJob {
            transfer_id: a.transfer_id.clone(),
            job: job.clone(),
            dir: dir.clone(),
            checkpoint: None,
            deadline_unix: transfer_lifecycle::last_window_end(&a),
            main_file: PathBuf::from(&last.path),
            hook: None,
            mode: "overwrite",
            upload: None,
            tls: self.tls_policy(false),
            accepted: a.clone(),
        };
        match job {
            Job::Download => {
                transfer.checkpoint = Some((last.path.clone(), last.bytes_done));
            }
            Job::Upload => match self.upload_source(now_ms, &a)? {
                Ok(source) => transfer.upload = Some(source),
                Err((code, why)) => {
                    return Some(Action::Append(Append::plain(vec![
                        transfer_lifecycle::completed(t, unix_secs(now_ms), code, why),
                    ])));
                }
            },
            Job::ApplyFirmware => {
                let Some(hook) = self.config.hooks.firmware_apply.clone() else {
                    return Some(Action::Append(Append::plain(vec![
                        transfer_lifecycle::completed(
                            t,
                            unix_secs(now_ms),
                            crate::cwmp::FaultCode::RequestDenied.code(),
                            "no firmware_apply hook is configured",
                        ),
                    ])));
                };
                transfer.hook = Some(hook);
            }
            Job::ApplyConfiguration => {
                transfer.hook = self.config.hooks.config_apply.clone();
                transfer.mode = if transfer_lifecycle::is_alteration(&a) {
                    "alter"
                } else {
                    "overwrite"
                };
            }
            Job::InstallFactoryConfiguration => {}
        }
        self.transfer = Some(TransferBusy::Job {
            transfer_id: a.transfer_id.clone(),
            job,
        });
        Some(Action::Transfer(transfer))
    }

    /// What an Upload sends (or why it cannot be produced); `None` while the builtin export
    /// waits for an external provider.
    fn upload_source(
        &mut self,
        now_ms: u64,
        a: &proto::TransferAccepted,
    ) -> Option<Result<UploadSource, Failure>> {
        use crate::cwmp::rpc::upload::file_type as upload_type;
        if a.file_type == upload_type::VENDOR_CONFIGURATION_FILE {
            if let Some(hook) = self.config.hooks.config_export.clone() {
                return Some(Ok(UploadSource::Hook(hook)));
            }
            let exported = config_file::export(
                &self.view(now_ms, &self.transfer_memo),
                &format!(
                    "tr069-client configuration of {} {}",
                    self.identity.product_class, self.identity.serial_number
                ),
            );
            if let Some(call) = self.transfer_memo.take_missing() {
                self.transfer = Some(TransferBusy::Exporting {
                    transfer_id: a.transfer_id.clone(),
                });
                self.queue.push_back(Action::External(call));
                return None;
            }
            self.transfer_memo.clear();
            return Some(
                exported
                    .map(UploadSource::Text)
                    .map_err(|f| (crate::cwmp::FaultCode::UploadFailure.code(), f.string)),
            );
        }
        if a.file_type == upload_type::VENDOR_LOG_FILE {
            return Some(Ok(match self.config.hooks.log_export.clone() {
                Some(hook) => UploadSource::Hook(hook),
                None => UploadSource::JournalTimeline,
            }));
        }
        if a.file_type == transfer_lifecycle::factory_configuration_type(&self.identity.oui) {
            return Some(Ok(UploadSource::File(
                self.config
                    .data_dir
                    .join(transfer_lifecycle::FACTORY_CONFIG_FILE),
            )));
        }
        Some(Err((
            crate::cwmp::FaultCode::UploadFailure.code(),
            format!("FileType {:?} cannot be uploaded", a.file_type),
        )))
    }

    fn transfer_state(&self, id: &str) -> Option<proto::TransferState> {
        self.state.transfers.get(id).cloned()
    }

    fn on_transfer_event(&mut self, now_ms: u64, id: &str, event: TransferEvent) {
        let now_unix = unix_secs(now_ms);
        let Some(t) = self.transfer_state(id) else {
            // Acknowledged or cancelled meanwhile: nothing is owed for it any more.
            if !matches!(
                event,
                TransferEvent::Progress { .. } | TransferEvent::Checkpoint { .. }
            ) {
                self.transfer = None;
            }
            return;
        };
        match event {
            TransferEvent::Progress { done, total } => {
                self.runtime
                    .transfer_progress
                    .insert(id.to_owned(), (done, total));
            }
            TransferEvent::Checkpoint { file, bytes } => {
                self.queue.push_back(Action::Append(Append {
                    records: vec![transfer_lifecycle::on_checkpoint(&t, &file, bytes)],
                    crash_before: None,
                    crash_after: Some("transfer.after_checkpoint"),
                }));
            }
            TransferEvent::Downloaded(result) => {
                self.finish_transfer_job(id);
                if let Err((code, why)) = &result {
                    tracing::warn!(transfer = %id, code, %why, "transfer failed");
                }
                self.queue.push_back(Action::Append(Append {
                    records: vec![transfer_lifecycle::on_download_finished(
                        &t, result, now_unix,
                    )],
                    crash_before: Some("transfer.before_outcome_journaled"),
                    crash_after: None,
                }));
            }
            TransferEvent::Finished(result) => {
                self.finish_transfer_job(id);
                if let Err((code, why)) = &result {
                    tracing::warn!(transfer = %id, code, %why, "transfer failed");
                }
                self.applying_in_this_run = None;
                self.queue.push_back(Action::Append(Append {
                    records: vec![transfer_lifecycle::on_finished(&t, result, now_unix)],
                    crash_before: Some("transfer.before_outcome_journaled"),
                    crash_after: None,
                }));
            }
            TransferEvent::FirmwareApplied(result) => {
                self.finish_transfer_job(id);
                self.applying_in_this_run = None;
                self.queue.push_back(Action::Append(Append::plain(
                    transfer_lifecycle::on_firmware_applied(&t, result, now_unix),
                )));
            }
            TransferEvent::ConfigText(text) => {
                self.finish_transfer_job(id);
                self.apply_configuration_text(now_ms, id, text);
            }
        }
    }

    fn finish_transfer_job(&mut self, id: &str) {
        self.transfer = None;
        self.runtime.transfer_progress.remove(id);
    }

    /// A configuration file's text arrived (no config_apply hook), or a factory configuration's.
    fn apply_configuration_text(&mut self, now_ms: u64, id: &str, text: Result<String, Failure>) {
        let now_unix = unix_secs(now_ms);
        let Some(t) = self.transfer_state(id) else {
            return;
        };
        let Some(a) = t.accepted.clone() else { return };
        let failed = |t: &proto::TransferState, (code, why): Failure| {
            Action::Append(Append::plain(vec![transfer_lifecycle::completed(
                t, now_unix, code, why,
            )]))
        };
        let text = match text {
            Ok(text) => text,
            Err(f) => {
                self.applying_in_this_run = None;
                self.queue.push_back(failed(&t, f));
                return;
            }
        };
        let corrupted = crate::cwmp::FaultCode::FileCorrupted.code();
        if a.file_type == transfer_lifecycle::factory_configuration_type(&self.identity.oui) {
            self.applying_in_this_run = None;
            match config_file::parse(&text) {
                Ok(_) => {
                    self.transfer = Some(TransferBusy::Job {
                        transfer_id: id.to_owned(),
                        job: Job::InstallFactoryConfiguration,
                    });
                    self.queue.push_back(Action::WriteFactoryConfiguration {
                        transfer_id: id.to_owned(),
                        text,
                    });
                }
                Err(e) => self.queue.push_back(failed(
                    &t,
                    (
                        corrupted,
                        format!("the factory configuration is invalid: {e}"),
                    ),
                )),
            }
            return;
        }
        let parsed = match config_file::parse(&text) {
            Ok(p) => p,
            Err(e) => {
                self.applying_in_this_run = None;
                self.queue.push_back(failed(
                    &t,
                    (corrupted, format!("the configuration file is invalid: {e}")),
                ));
                return;
            }
        };
        let checked = check_config(&self.view(now_ms, &self.transfer_memo), &parsed);
        if let Some(call) = self.transfer_memo.take_missing() {
            self.transfer = Some(TransferBusy::Checking {
                transfer_id: id.to_owned(),
                text,
            });
            self.queue.push_back(Action::External(call));
            return;
        }
        self.transfer_memo.clear();
        self.applying_in_this_run = None;
        let records = match checked {
            Ok(values) => vec![
                record(Kind::ConfigurationApplied(proto::ConfigurationApplied {
                    values,
                    replace: !transfer_lifecycle::is_alteration(&a),
                    transfer_id: id.to_owned(),
                })),
                transfer_lifecycle::completed(&t, now_unix, 0, ""),
            ],
            Err(f) => vec![transfer_lifecycle::completed(&t, now_unix, f.0, f.1)],
        };
        // The values and the completion are one batch: a crash cannot apply without completing.
        self.queue.push_back(Action::Append(Append {
            records,
            crash_before: Some("config.before_apply_journaled"),
            crash_after: None,
        }));
    }
}

/// A batch that raises events (a session follows at once).
fn raise(records: Vec<Record>) -> Action {
    Action::Append(Append::plain(records))
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Checks `Parameter = value` pairs against the data model, as one SetParameterValues would.
pub fn check_config(
    view: &View,
    parsed: &[(String, String)],
) -> Result<Vec<proto::ParameterValue>, Failure> {
    let checked = config_file::check(view, parsed).map_err(|f| {
        let detail: Vec<String> = f
            .set_parameter_values_faults
            .iter()
            .map(|p| format!("{} ({})", p.parameter_name, p.fault_string))
            .collect();
        (
            crate::cwmp::FaultCode::FileTransferFailure.code(),
            format!(
                "the configuration was not applied: {}",
                if detail.is_empty() {
                    f.string
                } else {
                    detail.join("; ")
                }
            ),
        )
    })?;
    Ok(checked
        .into_iter()
        .map(|(name, value, xsd_type)| proto::ParameterValue {
            name,
            value,
            xsd_type,
        })
        .collect())
}

/// `ManagementServer.ConnectionRequestURL`: `http://host:port/path`, IPv6 literals in brackets.
pub fn connection_request_url(host: IpAddr, port: u16, path: &str) -> String {
    let slash = if path.starts_with('/') { "" } else { "/" };
    match host {
        IpAddr::V4(v4) => format!("http://{v4}:{port}{slash}{path}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("http://{v4}:{port}{slash}{path}"),
            None => format!("http://[{v6}]:{port}{slash}{path}"),
        },
    }
}

/// A random connection-request path: `/` and [`CR_PATH_LEN`] characters of `[A-Za-z0-9]`
/// (~142 bits).
pub fn random_path(entropy: &mut dyn Entropy) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut path = String::with_capacity(CR_PATH_LEN + 1);
    path.push('/');
    while path.len() <= CR_PATH_LEN {
        // Rejection sampling keeps every character equally likely.
        let byte = (entropy.next_u64() & 0xff) as usize;
        if byte < 248 {
            path.push(char::from(ALPHABET[byte % ALPHABET.len()]));
        }
    }
    path
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Cpe>();
}

impl Outcome {
    /// Whether this outcome is a failure the retry policy applies to.
    pub fn is_failure(&self) -> bool {
        matches!(self, Outcome::Failed(_))
    }
}

impl From<FailureReason> for SessionResult {
    fn from(reason: FailureReason) -> SessionResult {
        SessionResult {
            outcome: Outcome::Failed(reason),
            acs_methods: None,
            namespace: None,
            use_cwmp_version: None,
        }
    }
}
