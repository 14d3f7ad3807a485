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

mod diagnostic_runs;
pub mod diagnostics;
pub mod entropy;
pub mod external_memo;
pub mod handler;
pub mod inform;
pub mod notifier;
pub mod reachability;
mod reboot;
pub mod retry;
pub mod schedule;
mod scheduler;
mod sessions;
mod startup;
pub mod transfer_lifecycle;
mod transfers;

use std::borrow::Cow;
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
use crate::datamodel::{DataModel, DeviceIdentity, View, config_file};
use crate::diagnostics::{UdpEchoConfig, UdpEchoStats};
use crate::session::{Output, Session, SessionConfig, SessionResult, SessionStart};
use crate::state::boot::startup_records;
use crate::state::settings::Settings;
use crate::state::{AgentState, event_raised, record, settings_change_records};

pub use diagnostics::{DiagnosticRequest, DiagnosticResult};
pub use entropy::{Entropy, SeededEntropy, SystemEntropy};
pub use external_memo::ExternalMemo;
pub use scheduler::{connection_request_url, random_path};
pub use transfer_lifecycle::{Downloaded, Failure, Job};
pub use transfers::check_config;

use handler::{AcsRequestHandler, TransferSupport};
use notifier::Notifier;
use retry::RetryPolicy;
use schedule::{
    HeartbeatPolicy, heartbeat_policy, next_heartbeat_at, next_periodic_at, next_schedule_inform,
    owed_session_at,
};
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
// Actions are handed out one at a time and consumed at once; a transfer job's size is not worth
// a box.
#[allow(clippy::large_enum_variant)]
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
    Transfer(Box<TransferJob>),
    /// Write the factory configuration durably (old or new content after a power cut); then
    /// feed [`TransferEvent::Finished`].
    WriteFactoryConfiguration { transfer_id: String, text: String },
    /// Delete the transfer directories whose names are not in `keep`.
    RemoveTransferFiles { keep: BTreeSet<String> },
    /// Run a diagnostic test; feed [`Input::DiagnosticFinished`].
    RunDiagnostic(Box<DiagnosticRequest>),
    /// Stop the diagnostic test under way (its inputs changed); it still reports, and the core
    /// drops the stale result.
    CancelDiagnostic,
    /// Run the UDP echo responder with this configuration (`None`: stop it); feed its counters
    /// as [`Input::UdpEchoStats`].
    UdpEcho(Option<UdpEchoConfig>),
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
    DiagnosticFinished(Box<DiagnosticResult>),
    UdpEchoStats(UdpEchoStats),
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
    /// The UDP echo responder's counters.
    pub udp_echo: UdpEchoStats,
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
    /// A 14 HEARTBEAT session (not retried, not counted).
    heartbeat: bool,
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
    /// Holds the device's identity (`model.identity`), the one copy the core keeps.
    model: DataModel,
    state: AgentState,
    settings: Settings,
    /// `restore` folded records since `settings` were made from the state (every other change
    /// of the state refreshes them at once).
    settings_stale: bool,
    /// The config's factory settings, shared by every `Settings` this core makes.
    factory_settings: Arc<BTreeMap<String, String>>,
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
    /// The host address, port and path `runtime.connection_request_url` was made from: the
    /// address is looked up again every few minutes and is nearly always the same.
    connection_request_url_of: Option<(IpAddr, u16, String)>,
    notifier: Notifier,
    /// An event was raised: a session starts at once, even inside a retry wait.
    start_early: bool,
    /// Records that raise events, decided but not journaled yet. The scheduler journals them
    /// together with the `SessionStarted` of the session they call for (one durable commit
    /// instead of two: nothing goes out between them), or alone when no session can start.
    raising: Vec<Record>,
    /// A connection request arrived during the session under way.
    connection_request_after_session: bool,
    transfer: Option<TransferBusy>,
    /// The transfer whose Applying record this run journaled (its apply is under way).
    applying_in_this_run: Option<String>,
    transfer_dirs: BTreeSet<String>,
    /// The accepted transfers `transfer_dirs` was made from, by id: most appended records do not
    /// change them, and naming the directories again after each one was a tenth of the core's
    /// work on a quiet flow.
    transfer_dirs_of: Vec<String>,
    /// The diagnostic under way: its object and the generation it was started for.
    diagnostic_running: Option<(&'static str, u64)>,
    /// Per diagnostic object, the journal sequence number of its last change (see
    /// `cpe::diagnostics`).
    diagnostic_generation: BTreeMap<&'static str, u64>,
    /// The UDP echo responder configuration handed to the edge.
    udp_echo: Option<UdpEchoConfig>,
    /// Moves on with every folded record that may change a parameter's value
    /// ([`may_change_parameters`]): what the scheduler derives from parameters at its every step
    /// is read again only when this moved.
    parameters_generation: u64,
    /// The `parameters_generation` `udp_echo` was read at.
    udp_echo_read_at: Option<u64>,
    /// The diagnostic whose DiagnosticsState was `Requested` at a `parameters_generation`.
    requested_diagnostic: Option<(u64, Option<&'static diagnostics::Diagnostic>)>,
    /// When the last heartbeat session started.
    last_heartbeat_ms: Option<u64>,
    /// The heartbeat policy the scheduler last saw, and since when (the agent's start, or the
    /// moment it first saw the policy enabled or changed): no slot before that is "missed".
    heartbeat_seen: (Option<HeartbeatPolicy>, u64),
    rebooting: Rebooting,
    wake_at_ms: Option<u64>,
    /// The boot's first session waits until then (`[session] boot_inform_delay`).
    boot_delay_until_ms: Option<u64>,
}

impl std::fmt::Debug for Cpe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cpe")
            .field("serial", &self.model.identity.serial_number)
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
        let mut model = DataModel::new(identity(&config, ""), host);
        model.externals = config.datamodel.external.clone();
        let factory_settings = Arc::new(config.factory_settings.clone());
        let settings = Settings::new(BTreeMap::new(), Arc::clone(&factory_settings));
        Cpe {
            model,
            state: AgentState::default(),
            settings,
            settings_stale: false,
            factory_settings,
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
            connection_request_url_of: None,
            notifier: Notifier::default(),
            start_early: false,
            raising: Vec::new(),
            connection_request_after_session: false,
            transfer: None,
            applying_in_this_run: None,
            transfer_dirs: BTreeSet::new(),
            transfer_dirs_of: Vec::new(),
            diagnostic_running: None,
            diagnostic_generation: BTreeMap::new(),
            udp_echo: None,
            parameters_generation: 0,
            udp_echo_read_at: None,
            requested_diagnostic: None,
            last_heartbeat_ms: None,
            heartbeat_seen: (None, 0),
            rebooting: Rebooting::No,
            wake_at_ms: None,
            boot_delay_until_ms: None,
            config,
        }
    }

    /// Folds one record read from the journal at open (before [`Cpe::start`]).
    pub fn restore(&mut self, seq: u64, time_ms: u64, record: &Record) {
        self.state.apply(seq, time_ms, record);
        self.parameters_generation += 1;
        self.settings_stale = true;
    }

    /// Folds a whole state at once (a journal already folded elsewhere).
    pub fn restore_state(&mut self, state: AgentState) {
        self.state = state;
        self.parameters_generation += 1;
        self.refresh_settings();
    }

    /// The agent starts in boot `boot_id` running `running_version`: the boot is recorded (a
    /// new boot id owes 1 BOOT, an old one only resumes), firmware applied in an earlier boot is
    /// decided, and a connection-request path is chosen once.
    pub fn start(&mut self, now_ms: u64, boot_id: &str, running_version: &str) {
        self.refresh_settings();
        self.model.identity = identity(&self.config, running_version);
        self.started_at_ms = now_ms;
        self.next_address_check_ms = now_ms;
        self.startup = Startup::Boot {
            boot_id: boot_id.to_owned(),
            running_version: self.model.identity.software_version.clone(),
        };
        self.transfer_dirs = self.live_transfer_dirs();
        self.transfer_dirs_of = self.accepted_transfer_ids().map(str::to_owned).collect();
        self.queue.push_back(Action::RemoveTransferFiles {
            keep: self.transfer_dirs.clone(),
        });
    }

    /// When the boot's first session may start, while the boot delay runs
    /// (`[session] boot_inform_delay`).
    pub fn boot_delay_until(&self) -> Option<u64> {
        self.boot_delay_until_ms
    }

    /// The id of the session under way.
    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.id.as_str())
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
        &self.model.identity
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
                // The ACS asked for this session: the boot delay only spreads unasked ones.
                self.boot_delay_until_ms = None;
                if self.session.is_some() {
                    // The session under way may already have delivered a 6 CONNECTION REQUEST:
                    // this one gets a session of its own, after it (TR-069 §3.2.2).
                    self.connection_request_after_session = true;
                } else {
                    self.raising.push(event_raised(ec::CONNECTION_REQUEST, ""));
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
                self.boot_delay_until_ms = None;
                if self.state.has_owed_events() {
                    self.start_early = true;
                } else {
                    // With nothing owed, an early periodic inform is the event whose meaning is
                    // closest to "the CPE reports in now".
                    self.raising.push(event_raised(ec::PERIODIC, ""));
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
            Input::DiagnosticFinished(result) => self.on_diagnostic_finished(*result),
            Input::UdpEchoStats(stats) => self.runtime.udp_echo = stats,
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
        self.settings = self.effective_settings();
        self.settings_stale = false;
    }

    fn effective_settings(&self) -> Settings {
        Settings::new(
            self.state.settings.clone(),
            Arc::clone(&self.factory_settings),
        )
    }

    fn on_appended(&mut self, records: Vec<(u64, u64, Record)>) {
        let gate = self.gate.take();
        let (mut raised, mut started) = (false, false);
        for (seq, time_ms, record) in records {
            raised |= matches!(record.kind, Some(Kind::EventRaised(_)));
            started |= matches!(record.kind, Some(Kind::SessionStarted(_)));
            if may_change_parameters(&record) {
                self.parameters_generation += 1;
            }
            self.note_diagnostic_changes(seq, &record);
            self.state.apply_owned(seq, time_ms, record);
        }
        // Comparing is cheaper than the copy, and most batches change no setting.
        if *self.settings.journaled() != self.state.settings {
            self.refresh_settings();
        }
        // Events journaled with a session's start are that session's; only events raised on
        // their own call for a session at once.
        if raised && !started {
            self.start_early = true;
        }
        if !self
            .accepted_transfer_ids()
            .eq(self.transfer_dirs_of.iter().map(String::as_str))
        {
            let live = self.live_transfer_dirs();
            if !live.is_superset(&self.transfer_dirs) {
                // Acknowledged or cancelled: their files leave the flash.
                self.queue
                    .push_back(Action::RemoveTransferFiles { keep: live.clone() });
            }
            self.transfer_dirs = live;
            self.transfer_dirs_of = self.accepted_transfer_ids().map(str::to_owned).collect();
        }
        if gate == Some(Gate::Session)
            && let Some(s) = &mut self.session
        {
            s.session.journaled();
        }
    }

    fn accepted_transfer_ids(&self) -> impl Iterator<Item = &str> {
        self.state
            .transfers
            .values()
            .filter_map(|t| t.accepted.as_ref())
            .map(|a| a.transfer_id.as_str())
    }

    fn live_transfer_dirs(&self) -> BTreeSet<String> {
        let dirs = self
            .state
            .transfers
            .values()
            .filter_map(|t| t.accepted.as_ref())
            .map(|a| transfer_lifecycle::dir_name(&a.transfer_id));
        crate::ordering::btree_set(dirs)
    }

    /// The effective settings of the state, when they are up to date (a view borrows them
    /// instead of making a copy); `None` after `restore` folded records and before `start`.
    fn current_settings(&self) -> Option<&Settings> {
        (!self.settings_stale).then_some(&self.settings)
    }

    fn view<'a>(&'a self, now_ms: u64, memo: &'a ExternalMemo) -> View<'a> {
        let settings = match self.current_settings() {
            Some(settings) => Cow::Borrowed(settings),
            None => Cow::Owned(self.effective_settings()),
        };
        let mut view = View::with_settings(
            &self.model,
            &self.state,
            settings,
            &self.runtime.connection_request_url,
            now_ms,
            memo,
        )
        .with_xmpp(&self.runtime.xmpp);
        view.udp_echo = self.runtime.udp_echo;
        view
    }
}

/// Whether folding `record` may change what a parameter reads. Every kind is named, so a new
/// record kind is a decision here, not a silent "no".
fn may_change_parameters(record: &Record) -> bool {
    let Some(kind) = &record.kind else {
        return false;
    };
    match kind {
        Kind::ParametersSet(_)
        | Kind::ObjectAdded(_)
        | Kind::ObjectDeleted(_)
        | Kind::AttributesSet(_)
        | Kind::SettingsChanged(_)
        | Kind::FactoryResetDone(_)
        | Kind::ValueChanged(_)
        | Kind::DiagnosticsCompleted(_)
        | Kind::ConfigReset(_)
        | Kind::JournalRecovered(_)
        | Kind::Snapshot(_)
        | Kind::ConfigurationApplied(_) => true,
        Kind::EventRaised(_)
        | Kind::InformAcknowledged(_)
        | Kind::SessionStarted(_)
        | Kind::SessionEnded(_)
        | Kind::TransferAccepted(_)
        | Kind::TransferStageChanged(_)
        | Kind::TransferCompleteAcknowledged(_)
        | Kind::RebootRequested(_)
        | Kind::BootObserved(_)
        | Kind::ScheduleInformRequested(_)
        | Kind::ScheduleInformFired(_)
        | Kind::RebootAttempted(_)
        | Kind::RebootAbandoned(_)
        | Kind::AgentStopped(_) => false,
    }
}

/// A batch that raises events (a session follows at once).
fn raise(records: Vec<Record>) -> Action {
    Action::Append(Append::plain(records))
}

impl TlsPolicy {
    /// The HTTP layer's settings for this policy.
    pub fn settings(&self) -> crate::http::TlsSettings {
        crate::http::TlsSettings {
            ca_file: self.ca_file.clone(),
            client_certificate: self.client_certificate.clone().map(|pem| {
                crate::http::ClientCertificate {
                    cert_chain_pem: pem.clone(),
                    private_key_pem: pem,
                }
            }),
            insecure: self.insecure,
        }
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
