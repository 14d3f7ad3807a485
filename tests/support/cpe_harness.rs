//! Drives one per-device core (`cpe::Cpe`) with a fake clock, an in-memory journal, a scripted
//! ACS answering in real CWMP envelopes, and fake I/O results — no socket, file, thread or timer.
//! Shared by `tests/cpe_core.rs` and `benches/cpe_flow.rs`.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::Arc;

use tr069_client::config::{Config, Device, SoftwareVersion};
use tr069_client::cpe::{
    Action, Cpe, DiagnosticResult, Downloaded, Input, Job, SeededEntropy, TransferEvent,
    UploadSource,
};
use tr069_client::cwmp::rpc::add_object::AddObject;
use tr069_client::cwmp::rpc::download::{Download, file_type};
use tr069_client::cwmp::rpc::inform::{Inform, InformResponse};
use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
use tr069_client::cwmp::rpc::transfer_complete::{TransferComplete, TransferCompleteResponse};
use tr069_client::cwmp::{
    Body, CwmpNamespace, Envelope, Header, Limits, ParameterValueStruct, Value,
};
use tr069_client::datamodel::host::StaticHost;
use tr069_client::diagnostics::{
    NsLookupResult, Outcome, PingResult, RouteHop, ServerSelectionResult, Test, TraceRouteResult,
    TransferTestResult, UdpEchoConfig, UdpEchoTestResult,
};
use tr069_client::records::Record;
use tr069_client::state::AgentState;

/// The start of the fake clock (2026-12-01T00:00:00Z).
pub const T0: u64 = 1_796_083_200_000;

/// One session as the fake ACS saw it.
#[derive(Debug, Clone, Default)]
pub struct SeenSession {
    pub inform: Option<Inform>,
    pub transfer_completes: Vec<TransferComplete>,
    /// The CPE's answers to the ACS's requests, in order.
    pub responses: Vec<Body>,
    /// The ACS refused the session (answered 500 to the Inform).
    pub failed: bool,
}

impl SeenSession {
    pub fn events(&self) -> Vec<String> {
        self.inform
            .as_ref()
            .map(|i| {
                i.event
                    .iter()
                    .map(|e| {
                        if e.command_key.is_empty() {
                            e.event_code.clone()
                        } else {
                            format!("{} {}", e.event_code, e.command_key)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What the simulated device does when the core asks for a reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootBehaviour {
    /// Reboots: a new boot id, and the firmware the apply hook installed now runs.
    Reboots,
    /// The hook returns but nothing happens: the agent restarts in the same boot.
    NeverReboots,
}

pub struct Harness {
    pub config: Arc<Config>,
    pub cpe: Cpe,
    /// The durable journal: (seq, time, record).
    pub journal: Vec<(u64, u64, Record)>,
    pub now: u64,
    pub boot: u32,
    pub running_version: String,
    /// The version the firmware apply installed (runs after the next real reboot).
    pub installed_version: Option<String>,
    pub firmware_applies: u32,
    pub reboot_hook_runs: u32,
    pub reboots: RebootBehaviour,
    /// ACS requests to send in the next session, after the Inform.
    pub acs_queue: VecDeque<Body>,
    /// Fail the next N sessions with HTTP 500.
    pub fail_sessions: u32,
    pub sessions: Vec<SeenSession>,
    /// What the next firmware download "contains": the version it installs.
    pub next_image_version: String,
    /// Inputs to deliver the next time the core waits (connection requests, results).
    pub pending_inputs: VecDeque<Input>,
    /// How late the fake clock wakes the core after its timeout.
    pub lateness_ms: u64,
    /// Connection requests that arrive while the next Inform is being answered.
    pub connection_requests_during_next_inform: u32,
    /// Crash the process (a restart in the same boot) once the journal holds this many records.
    pub crash_after_records: Option<usize>,
    pub crashes: u32,
    /// Every diagnostic test the core asked for, in order.
    pub diagnostics_run: Vec<Test>,
    /// Tests cancelled by the core.
    pub diagnostics_cancelled: u32,
    /// Hold test results back until released (a test "in progress").
    pub hold_diagnostics: bool,
    /// Results held back: (generation, outcome).
    pub held_results: Vec<(u64, Outcome)>,
    /// The UDP echo responder configuration the core asked for last.
    pub udp_echo: Option<UdpEchoConfig>,
    /// Every start of the agent: (fake time, boot number).
    pub starts: Vec<(u64, u32)>,
    /// What the host answers when the core looks its address up.
    pub local_address: std::net::IpAddr,
    /// How many times the core looked the host's address up.
    pub address_lookups: u32,
    /// Whether the fake ACS decodes and keeps every message the CPE sends (`sessions`). The
    /// bench turns it off: the ACS then only reads which RPC the CPE sent, so the figure is the
    /// core's work, not the fake ACS's.
    pub keep_messages: bool,
    /// Replay this recorded conversation instead of encoding the ACS's answers (only with
    /// `keep_messages` off): what a bench uses, since in the field the ACS's bytes come off the
    /// network and encoding them is not the CPE core's work.
    pub acs_replay: Option<Arc<AcsRecording>>,
    /// Record the ACS's answers here (see [`AcsRecording`]).
    pub acs_recording: Option<AcsRecording>,
    in_session: bool,
    last_request_id: u64,
    seed: u64,
}

/// What the fake ACS answered in one run, in order: each answer with the RPC the CPE had just
/// sent (`""` for the empty POST). Replaying it checks that the CPE sends the same RPCs in the
/// same order, so a replay cannot drift from the conversation it stands for.
#[derive(Debug, Clone, Default)]
pub struct AcsRecording {
    replies: Vec<RecordedReply>,
}

#[derive(Debug, Clone)]
struct RecordedReply {
    after: String,
    status: u16,
    body: Vec<u8>,
}

impl AcsRecording {
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// The fake ACS's answers in one `provisioning_and_firmware_flow` of a core seeded `seed`.
    pub fn of_provisioning_and_firmware_flow(
        config: impl Into<Arc<Config>>,
        seed: u64,
    ) -> Arc<AcsRecording> {
        let mut h = Harness::new(config, seed);
        h.keep_messages = false;
        h.acs_recording = Some(AcsRecording::default());
        h.provisioning_and_firmware_flow();
        assert_eq!(h.firmware_applies, 1);
        Arc::new(h.acs_recording.take().unwrap_or_default())
    }
}

/// The RPC element a CPE envelope carries (`Inform`, `SetParameterValuesResponse`, …): the local
/// name of the first element inside the SOAP Body.
fn rpc_name(body: &[u8]) -> &str {
    // Bytes up to the Body's first element only: the bench replays an answer after every
    // message, and validating and searching each whole message as text was 3 % of a flow.
    const BODY: &[u8] = b":Body>";
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(BODY));
    let after_body = FINDER
        .find(body)
        .map(|i| &body[i + BODY.len()..])
        .expect("the CPE sent a SOAP Body");
    let tag = after_body
        .trim_ascii_start()
        .strip_prefix(b"<")
        .expect("the Body holds an element");
    let end = tag
        .iter()
        .position(|&c| c == b'>' || c == b'/' || c.is_ascii_whitespace())
        .expect("the element's name ends");
    let name = std::str::from_utf8(&tag[..end]).expect("the CPE sent a UTF-8 name");
    name.rsplit(':').next().unwrap_or(name)
}

fn host() -> Arc<StaticHost> {
    Arc::new(StaticHost {
        uptime_secs: 100,
        memory_kib: (65_536, 30_000),
        cpu_usage_percent: 3,
        time_synchronized: Some(true),
        ..Default::default()
    })
}

pub fn config() -> Config {
    let mut c = Config::default().with_data_dir("/nonexistent/sim");
    c.device = Device {
        manufacturer: "Sim".into(),
        oui: "00000C".into(),
        product_class: "SimRouter".into(),
        serial_number: "SIM0001".into(),
        software_version: SoftwareVersion::Fixed("1.0".into()),
        ..Default::default()
    };
    c.hooks.firmware_apply = Some("apply {file}".into());
    c.hooks.reboot = Some("reboot".into());
    for (k, v) in [
        ("enabled", "true"),
        ("acs-url", "http://acs.example/cwmp"),
        ("periodic-inform-interval", "3600"),
        ("connection-request-username", "acs"),
        ("connection-request-password", "secret"),
    ] {
        c.factory_settings.insert(k.into(), v.into());
    }
    c
}

impl Harness {
    /// A harness whose core starts now. `config` may be shared (`Arc<Config>`): a bench that
    /// makes one harness per flow need not build the same configuration every time.
    pub fn new(config: impl Into<Arc<Config>>, seed: u64) -> Harness {
        let config = config.into();
        // The first start's core, made here rather than by `start` so that a harness does not
        // make (and drop) a core it never uses: the bench counts every instruction of this.
        let seed = seed.wrapping_add(1);
        let cpe = Cpe::new(config.clone(), host(), Box::new(SeededEntropy::new(seed)));
        let mut h = Harness {
            config,
            cpe,
            journal: Vec::new(),
            now: T0,
            boot: 1,
            running_version: "1.0".into(),
            installed_version: None,
            firmware_applies: 0,
            reboot_hook_runs: 0,
            reboots: RebootBehaviour::Reboots,
            acs_queue: VecDeque::new(),
            fail_sessions: 0,
            sessions: Vec::new(),
            next_image_version: "2.0".into(),
            pending_inputs: VecDeque::new(),
            lateness_ms: 0,
            connection_requests_during_next_inform: 0,
            crash_after_records: None,
            crashes: 0,
            diagnostics_run: Vec::new(),
            diagnostics_cancelled: 0,
            hold_diagnostics: false,
            held_results: Vec::new(),
            udp_echo: None,
            starts: Vec::new(),
            local_address: [192, 0, 2, 10].into(),
            address_lookups: 0,
            keep_messages: true,
            acs_replay: None,
            acs_recording: None,
            in_session: false,
            last_request_id: 0,
            seed,
        };
        h.boot_core();
        h
    }

    fn boot_id(&self) -> String {
        format!("boot-{}", self.boot)
    }

    /// A harness whose fake ACS replays `recording` (see [`AcsRecording`]).
    pub fn replaying(
        config: impl Into<Arc<Config>>,
        seed: u64,
        recording: Arc<AcsRecording>,
    ) -> Harness {
        let mut h = Harness::new(config, seed);
        h.keep_messages = false;
        h.acs_replay = Some(recording);
        h
    }

    /// A process start (after a crash, a restart or a reboot): a fresh core folds the journal.
    fn start(&mut self) {
        self.seed = self.seed.wrapping_add(1);
        self.cpe = Cpe::new(
            self.config.clone(),
            host(),
            Box::new(SeededEntropy::new(self.seed)),
        );
        self.boot_core();
    }

    /// Starts the fresh core in `self.cpe`: it folds the journal, starts and listens.
    fn boot_core(&mut self) {
        for (seq, time, record) in &self.journal {
            self.cpe.restore(*seq, *time, record);
        }
        let boot_id = self.boot_id();
        self.cpe.start(self.now, &boot_id, &self.running_version);
        self.starts.push((self.now, self.boot));
        self.cpe
            .handle(Input::Listening { cr_port: 7547 }, self.now);
        self.in_session = false;
    }

    pub fn state(&self) -> &AgentState {
        self.cpe.state()
    }

    fn append(&mut self, records: Vec<Record>) {
        let first = self.journal.last().map_or(1, |r| r.0 + 1);
        let stored: Vec<(u64, u64, Record)> = records
            .into_iter()
            .enumerate()
            .map(|(i, r)| (first + i as u64, self.now, r))
            .collect();
        self.journal.extend(stored.iter().cloned());
        self.cpe.handle(Input::Appended(stored), self.now);
    }

    fn decode(body: &[u8]) -> Envelope {
        Envelope::decode(body, &Limits::default()).expect("the CPE sent a valid envelope")
    }

    fn reply(&mut self, after: &str, body: Option<Body>) {
        self.last_request_id += 1;
        let (status, bytes) = match body {
            Some(b) => (200, acs_envelope(self.last_request_id, b)),
            None => (204, Vec::new()),
        };
        if let Some(recording) = &mut self.acs_recording {
            recording.replies.push(RecordedReply {
                after: after.to_owned(),
                status,
                body: bytes.clone(),
            });
        }
        self.cpe.handle(
            Input::AcsReply {
                status,
                body: bytes,
                retry_after: None,
            },
            self.now,
        );
    }

    /// The next answer of the recorded conversation, after the CPE sent `after`.
    fn replay(&mut self, replay: &AcsRecording, after: &str) {
        let index = self.last_request_id as usize;
        let recorded = replay
            .replies
            .get(index)
            .expect("the CPE sent more messages than the recorded conversation");
        assert_eq!(
            recorded.after, after,
            "message {index}: the CPE's conversation differs from the recording"
        );
        self.last_request_id += 1;
        self.cpe.handle(
            Input::AcsReply {
                status: recorded.status,
                body: recorded.body.clone(),
                retry_after: None,
            },
            self.now,
        );
    }

    /// The fake ACS answers one POST.
    fn on_send(&mut self, body: Option<Vec<u8>>) {
        if let Some(replay) = self.acs_replay.clone() {
            assert!(
                !self.keep_messages
                    && self.fail_sessions == 0
                    && self.connection_requests_during_next_inform == 0,
                "a replayed conversation keeps no messages, fails no session and takes no \
                 connection request during an Inform: it only answers as recorded"
            );
            let after = body.as_deref().map_or("", rpc_name);
            return self.replay(&replay, after);
        }
        let Some(body) = body else {
            // The empty POST: the ACS's turn.
            let next = self.acs_queue.pop_front();
            return self.reply("", next);
        };
        if !self.keep_messages {
            assert!(
                self.fail_sessions == 0 && self.connection_requests_during_next_inform == 0,
                "failing sessions and connection requests during an Inform need keep_messages"
            );
            let sent = rpc_name(&body);
            return match sent {
                "Inform" => self.reply(sent, Some(InformResponse { max_envelopes: 1 }.into())),
                "TransferComplete" => self.reply(sent, Some(TransferCompleteResponse.into())),
                _ => {
                    let next = self.acs_queue.pop_front();
                    self.reply(sent, next)
                }
            };
        }
        let envelope = Self::decode(&body);
        match envelope.body {
            Body::Inform(inform) => {
                let failed = self.fail_sessions > 0;
                self.sessions.push(SeenSession {
                    inform: Some(inform),
                    failed,
                    ..Default::default()
                });
                for _ in 0..std::mem::take(&mut self.connection_requests_during_next_inform) {
                    self.cpe.handle(Input::ConnectionRequest, self.now);
                }
                if failed {
                    self.fail_sessions -= 1;
                    self.cpe.handle(
                        Input::AcsReply {
                            status: 500,
                            body: Vec::new(),
                            retry_after: None,
                        },
                        self.now,
                    );
                } else {
                    self.reply("Inform", Some(InformResponse { max_envelopes: 1 }.into()));
                }
            }
            Body::TransferComplete(tc) => {
                if let Some(s) = self.sessions.last_mut() {
                    s.transfer_completes.push(tc);
                }
                self.reply("TransferComplete", Some(TransferCompleteResponse.into()));
            }
            other => {
                let sent = other.name();
                if let Some(s) = self.sessions.last_mut() {
                    s.responses.push(other);
                }
                let next = self.acs_queue.pop_front();
                self.reply(sent, next);
            }
        }
    }

    fn on_transfer(&mut self, job: tr069_client::cpe::TransferJob) {
        let id = job.transfer_id.clone();
        let event = |e| Input::Transfer {
            transfer_id: id.clone(),
            event: e,
        };
        match job.job {
            Job::Download => {
                self.pending_inputs
                    .push_back(event(TransferEvent::Checkpoint {
                        file: "download".into(),
                        bytes: 1 << 20,
                    }));
                self.pending_inputs
                    .push_back(event(TransferEvent::Downloaded(Ok(Downloaded {
                        path: job.dir.join("download"),
                        size: 2 << 20,
                        sha256: "00".repeat(32),
                    }))));
            }
            Job::Upload => {
                assert!(job.upload.is_some());
                let ok = !matches!(job.upload, Some(UploadSource::Text(ref t)) if t.is_empty());
                self.pending_inputs
                    .push_back(event(TransferEvent::Finished(if ok {
                        Ok(())
                    } else {
                        Err((9011, "empty".into()))
                    })));
            }
            Job::ApplyFirmware => {
                self.firmware_applies += 1;
                self.installed_version = Some(self.next_image_version.clone());
                self.pending_inputs
                    .push_back(event(TransferEvent::FirmwareApplied(Ok(()))));
            }
            Job::ApplyConfiguration | Job::InstallFactoryConfiguration => self
                .pending_inputs
                .push_back(event(TransferEvent::ConfigText(Ok(
                    "Device.Time.NTPServer1 = ntp.example\n".into(),
                )))),
        }
    }

    fn reboot(&mut self) {
        self.reboot_hook_runs += 1;
        self.pending_inputs.clear();
        if self.reboots == RebootBehaviour::Reboots {
            self.boot += 1;
            if let Some(v) = self.installed_version.take() {
                self.running_version = v;
            }
        }
        self.start();
    }

    /// Runs every action the core has now; `false` when it waits.
    fn pump(&mut self) -> bool {
        let mut acted = false;
        while let Some(action) = self.cpe.poll_action(self.now) {
            acted = true;
            match action {
                Action::Append(a) => {
                    self.append(a.records);
                    if self
                        .crash_after_records
                        .is_some_and(|n| self.journal.len() >= n)
                    {
                        self.crash_after_records = None;
                        self.crashes += 1;
                        self.pending_inputs.clear();
                        self.start();
                        return true;
                    }
                }
                Action::OpenSession(_) => self.in_session = true,
                Action::Send { body, .. } => self.on_send(body),
                Action::CloseSession => self.in_session = false,
                Action::Transfer(job) => self.on_transfer(*job),
                Action::WriteFactoryConfiguration { transfer_id, .. } => {
                    self.pending_inputs.push_back(Input::Transfer {
                        transfer_id,
                        event: TransferEvent::Finished(Ok(())),
                    })
                }
                Action::RemoveTransferFiles { .. } => {}
                Action::RunDiagnostic(request) => {
                    let outcome = fake_outcome(&request.test);
                    self.diagnostics_run.push(request.test.clone());
                    if self.hold_diagnostics {
                        self.held_results.push((request.generation, outcome));
                    } else {
                        self.pending_inputs
                            .push_back(Input::DiagnosticFinished(Box::new(DiagnosticResult {
                                generation: request.generation,
                                outcome: Some(outcome),
                            })));
                    }
                }
                Action::CancelDiagnostic => {
                    self.diagnostics_cancelled += 1;
                    for (generation, _) in std::mem::take(&mut self.held_results) {
                        self.pending_inputs
                            .push_back(Input::DiagnosticFinished(Box::new(DiagnosticResult {
                                generation,
                                outcome: None,
                            })));
                    }
                }
                Action::UdpEcho(config) => self.udp_echo = config,
                Action::FindLocalAddress { .. } => {
                    self.address_lookups += 1;
                    self.pending_inputs
                        .push_back(Input::LocalAddress(Some(self.local_address)))
                }
                Action::External(call) => self.pending_inputs.push_back(Input::External(
                    call,
                    Err(tr069_client::cwmp::Fault::with_string(
                        tr069_client::cwmp::FaultCode::InternalError,
                        "no providers in the harness",
                    )),
                )),
                Action::FactoryReset { .. } => {
                    self.pending_inputs.push_back(Input::FactoryResetDone {
                        factory_configuration: None,
                    })
                }
                Action::Reboot { .. } => {
                    self.reboot();
                    return true;
                }
            }
        }
        acted
    }

    /// Runs until the core waits for the clock, then moves the clock to its timeout (at most
    /// `limit_ms` ahead). Returns whether the clock reached the limit.
    pub fn run_until(&mut self, limit: u64) {
        while self.now < limit {
            loop {
                let acted = self.pump();
                if let Some(input) = self.pending_inputs.pop_front() {
                    self.cpe.handle(input, self.now);
                    continue;
                }
                if !acted {
                    break;
                }
            }
            match self.cpe.poll_timeout() {
                Some(at) if at > self.now => self.now = (at + self.lateness_ms).min(limit),
                Some(_) => self.now += 1,
                None => self.now = limit,
            }
        }
    }

    /// Runs for `ms` of fake time.
    pub fn run_for(&mut self, ms: u64) {
        let limit = self.now + ms;
        self.run_until(limit);
    }

    /// The agent process restarts in the same boot (a fresh core folds the journal).
    pub fn restart(&mut self) {
        self.start();
    }

    /// A connection request arrives now.
    pub fn connection_request(&mut self) {
        self.cpe.handle(Input::ConnectionRequest, self.now);
    }

    /// The held-back diagnostic results arrive.
    pub fn release_diagnostics(&mut self) {
        for (generation, outcome) in std::mem::take(&mut self.held_results) {
            self.pending_inputs
                .push_back(Input::DiagnosticFinished(Box::new(DiagnosticResult {
                    generation,
                    outcome: Some(outcome),
                })));
        }
    }
}

/// What the simulated network answers to a test.
pub fn fake_outcome(test: &Test) -> Outcome {
    match test {
        Test::TraceRoute(_) => Outcome::TraceRoute(TraceRouteResult {
            state: "Complete",
            ip_address_used: "192.0.2.10".into(),
            response_time_ms: 3,
            hops: vec![
                RouteHop {
                    host: "192.0.2.1".into(),
                    address: "192.0.2.1".into(),
                    error_code: 0,
                    rtts_ms: vec![1, 1, 2],
                },
                RouteHop {
                    host: "198.51.100.7".into(),
                    address: "198.51.100.7".into(),
                    error_code: 3,
                    rtts_ms: vec![3, 3, 4],
                },
            ],
        }),
        Test::Download(_) | Test::Upload(_) => {
            let r = TransferTestResult {
                state: "Error_NoResponse",
                ip_address_used: String::new(),
                connections: Vec::new(),
                total: None,
                per_connection: false,
            };
            if matches!(test, Test::Download(_)) {
                Outcome::Download(r)
            } else {
                Outcome::Upload(r)
            }
        }
        Test::NsLookup(_) => Outcome::NsLookup(NsLookupResult {
            state: "Complete",
            success_count: 0,
            results: Vec::new(),
        }),
        Test::ServerSelection(_) => Outcome::ServerSelection(ServerSelectionResult {
            state: "Completed",
            fastest_host: "192.0.2.1".into(),
            minimum_us: 900,
            average_us: 1000,
            maximum_us: 1100,
            ip_address_used: "192.0.2.10".into(),
        }),
        Test::UdpEcho(_) => Outcome::UdpEcho(UdpEchoTestResult {
            state: "Completed",
            ip_address_used: "192.0.2.10".into(),
            success_count: 1,
            failure_count: 0,
            average_us: 500,
            minimum_us: 500,
            maximum_us: 500,
            packets: Vec::new(),
        }),
        Test::IpPing(_) => Outcome::IpPing(PingResult {
            state: "Complete",
            success_count: 4,
            failure_count: 0,
            average_ms: 1,
            minimum_ms: 1,
            maximum_ms: 2,
            average_us: 1_200,
            minimum_us: 800,
            maximum_us: 2_100,
            ip_address_used: "192.0.2.10".into(),
        }),
    }
}

pub fn spv(key: &str, pairs: &[(&str, &str)]) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: pairs
            .iter()
            .map(|(n, v)| ParameterValueStruct::new(*n, Value::untyped(*v)))
            .collect(),
        parameter_key: key.into(),
    })
}

pub fn firmware_download(key: &str) -> Body {
    Body::Download(Download {
        command_key: key.into(),
        file_type: file_type::FIRMWARE_UPGRADE_IMAGE.into(),
        url: "http://files.example/fw-2.0.bin".into(),
        username: String::new(),
        password: String::new(),
        file_size: 0,
        target_file_name: String::new(),
        delay_seconds: 0,
        success_url: String::new(),
        failure_url: String::new(),
    })
}

/// The envelope the fake ACS sends as its `id`-th message.
pub fn acs_envelope(id: u64, body: Body) -> Vec<u8> {
    Envelope::new(
        CwmpNamespace::Cwmp12,
        Header::with_id(format!("acs-{id}")),
        body,
    )
    .encode()
    .into_bytes()
}

/// What the ACS asks in the provisioning session of `provisioning_and_firmware_flow`, in order:
/// set a value, add a port mapping, set its values, download a firmware image.
pub fn provisioning_requests() -> [Body; 4] {
    [
        spv("p1", &[("Device.Time.NTPServer1", "pool.ntp.org")]),
        Body::AddObject(AddObject {
            object_name: "Device.NAT.PortMapping.".into(),
            parameter_key: "p2".into(),
        }),
        spv(
            "p3",
            &[
                ("Device.NAT.PortMapping.1.Enable", "true"),
                ("Device.NAT.PortMapping.1.ExternalPort", "8443"),
            ],
        ),
        firmware_download("fw-2.0"),
    ]
}

impl Harness {
    /// The provisioning + firmware flow: the BOOTSTRAP session; a connection request whose
    /// session sets values, adds a port mapping, sets its values and downloads a firmware image;
    /// the transfer's stages, the apply, the reboot, and the session reporting the upgrade.
    /// With `acs_replay` set, the recording stands for the ACS's requests too.
    pub fn provisioning_and_firmware_flow(&mut self) {
        self.run_for(1_000);
        if self.acs_replay.is_none() {
            self.acs_queue.extend(provisioning_requests());
        }
        self.connection_request();
        self.run_for(10 * 60_000);
    }
}
