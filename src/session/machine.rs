//! [`Session`]: the state machine itself.
//!
//! Internally the machine keeps a queue of steps (journal a batch, send a message, finish) and
//! hands them out one at a time through [`Session::poll_output`]. Two gates hold the queue:
//! an outstanding journal batch (released by [`Session::journaled`]) and an outstanding HTTP
//! request (released by a reply, a transport error or a timeout). Because the InformResponse's
//! `InformAcknowledged` record, a TransferCompleteResponse's acknowledgement and a handler's
//! records are queued *before* the message that follows them, nothing is ever sent ahead of the
//! records it depends on.

use std::collections::VecDeque;
use std::time::Duration;

use crate::records::proto::record::Kind;
use crate::records::proto::{
    EventRef, InformAcknowledged, Record, SessionStarted, TransferCompleteAcknowledged,
};
use crate::state::record;

use crate::cwmp::rpc::get_rpc_methods::GetRpcMethods;
use crate::cwmp::rpc::inform::EventStruct;
use crate::cwmp::xml::XmlError;
use crate::cwmp::{
    Body, CwmpNamespace, DecodeError, DecodeErrorKind, Envelope, Fault, FaultCode, Header,
};

use super::{
    FailureReason, Handled, Outcome, Output, OwedTransferComplete, RequestHandler, SessionConfig,
    SessionResult, SessionStart,
};

/// TR-069 §3.4.2 (digest §1.3): the CPE waits at least 30 s for an HTTP response.
const MIN_SESSION_TIMEOUT_SECS: u32 = 30;

/// Methods only a CPE calls. An ACS sending one of them is answered with fault 9000 by the
/// session itself; the agent's handler never sees them. (GetRPCMethods goes both ways and is
/// handed to the handler.)
const CPE_ONLY_METHODS: &[&str] = &[
    "Inform",
    "TransferComplete",
    "AutonomousTransferComplete",
    "RequestDownload",
    "Kicked",
    "DUStateChangeComplete",
    "AutonomousDUStateChangeComplete",
];

/// The CPE side of one CWMP session. See the [module documentation](super) for the protocol and
/// for how the edge drives it.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    session_id: String,
    /// The Inform's events: delivered when the InformResponse arrives.
    events: Vec<EventStruct>,
    transfers: Vec<OwedTransferComplete>,
    /// The CPE's own requests not sent yet, in order.
    pending: VecDeque<CpeRequest>,
    /// Set by an 8005 "Retry request" to a CPE request: send no more CPE requests this session.
    cpe_requests_stopped: bool,
    /// The session namespace: the config's until the InformResponse, then the ACS's.
    namespace: CwmpNamespace,
    informed: bool,
    use_cwmp_version: Option<String>,
    /// The last ACS message said `HoldRequests=true`.
    hold_requests: bool,
    acs_methods: Option<Vec<String>>,
    /// Counter behind the CPE's cwmp:IDs.
    next_id: u64,
    started_ms: u64,
    /// When the last message from the ACS arrived (or the session started): the idle timer.
    last_heard_ms: u64,
    queue: VecDeque<Step>,
    /// A Journal output was handed out and `journaled()` has not been called yet.
    journaling: bool,
    /// A Send output was handed out; what its reply must be.
    in_flight: Option<Expect>,
    /// A Finish step is queued or was handed out: every later input is ignored.
    over: bool,
}

#[derive(Debug, Clone)]
enum Step {
    Journal(Vec<Record>),
    Send {
        body: Option<Vec<u8>>,
        is_inform: bool,
        expect: Expect,
    },
    Finish(SessionResult),
}

/// A request the CPE makes after the InformResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CpeRequest {
    /// Index into `Session::transfers`.
    TransferComplete(usize),
    GetRpcMethods,
}

impl CpeRequest {
    fn name(self) -> &'static str {
        match self {
            CpeRequest::TransferComplete(_) => "TransferComplete",
            CpeRequest::GetRpcMethods => "GetRPCMethods",
        }
    }
}

/// What the reply to the outstanding POST must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The Inform is outstanding: InformResponse (or a fault).
    InformResponse,
    /// A CPE request is outstanding: its response (or a fault).
    CpeResponse(CpeRequest),
    /// The empty POST or a response to an ACS request is outstanding: the ACS's next request,
    /// or an empty response ending the session. `after` names what was sent.
    AcsMessage { after: &'static str },
}

/// The HTTP reply, sorted.
enum Reply {
    /// 204, a 200 with a blank body, or an envelope with an empty SOAP Body.
    Empty,
    Message(Envelope),
    Undecodable(DecodeError),
}

impl Session {
    /// Starts a session at `now_ms` (Unix milliseconds). The first output journals
    /// `SessionStarted`; the Inform follows once that is durable.
    pub fn new(config: SessionConfig, start: SessionStart, now_ms: u64) -> Session {
        let SessionStart {
            session_id,
            mut inform,
            transfer_completes,
            raised,
        } = start;
        inform.max_envelopes = 1;
        let mut pending: VecDeque<CpeRequest> = (0..transfer_completes.len())
            .map(CpeRequest::TransferComplete)
            .collect();
        if config.send_get_rpc_methods {
            pending.push_back(CpeRequest::GetRpcMethods);
        }
        let mut session = Session {
            namespace: config.namespace,
            session_id,
            events: inform.event.clone(),
            transfers: transfer_completes,
            pending,
            cpe_requests_stopped: false,
            informed: false,
            use_cwmp_version: None,
            hold_requests: false,
            acs_methods: None,
            next_id: 0,
            started_ms: now_ms,
            last_heard_ms: now_ms,
            queue: VecDeque::new(),
            journaling: false,
            in_flight: None,
            over: false,
            config,
        };
        let mut first = raised;
        first.push(record(Kind::SessionStarted(SessionStarted {
            session_id: session.session_id.clone(),
            acs_url: session.config.acs_url.clone(),
            retry_count: inform.retry_count,
            event_codes: session
                .events
                .iter()
                .map(|e| e.event_code.clone())
                .collect(),
        })));
        session.queue.push_back(Step::Journal(first));
        let header = Header {
            id: Some(session.fresh_id()),
            session_timeout: Some(session.session_timeout_secs()),
            supported_cwmp_versions: session.config.supported_cwmp_versions.clone(),
            ..Header::default()
        };
        let body = Envelope::new(session.namespace, header, inform)
            .encode()
            .into_bytes();
        session.queue.push_back(Step::Send {
            body: Some(body),
            is_inform: true,
            expect: Expect::InformResponse,
        });
        session
    }

    /// The next thing to do, or `None` while the machine waits: for [`Session::journaled`] after
    /// a Journal, for a reply after a Send, or forever after Finished.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.journaling || self.in_flight.is_some() {
            return None;
        }
        match self.queue.pop_front()? {
            Step::Journal(records) => {
                self.journaling = true;
                Some(Output::Journal(records))
            }
            Step::Send {
                body,
                is_inform,
                expect,
            } => {
                self.in_flight = Some(expect);
                Some(Output::Send { body, is_inform })
            }
            Step::Finish(result) => Some(Output::Finished(result)),
        }
    }

    /// The last [`Output::Journal`] batch is durable: the machine may go on. Ignored when no
    /// batch is outstanding.
    pub fn journaled(&mut self) {
        self.journaling = false;
    }

    /// The ACS answered the last [`Output::Send`] with HTTP `status` and `body` (`retry_after`:
    /// its `Retry-After` header, if any). ACS requests in the reply are answered through
    /// `handler`.
    pub fn on_reply(
        &mut self,
        handler: &mut dyn RequestHandler,
        now_ms: u64,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) {
        if self.over {
            return;
        }
        let Some(expect) = self.in_flight.take() else {
            return self.fail(FailureReason::Internal(
                "an HTTP reply was delivered while no message to the ACS was outstanding".into(),
            ));
        };
        if let Some(timeout) = self.timeout_at(now_ms) {
            return self.fail(timeout);
        }
        self.last_heard_ms = now_ms;
        let reply = match self.read_reply(status, body, retry_after) {
            Ok(reply) => reply,
            Err(failure) => return self.fail(failure),
        };
        match expect {
            Expect::InformResponse => self.on_inform_reply(reply),
            Expect::CpeResponse(request) => self.on_cpe_response(request, reply),
            Expect::AcsMessage { after } => self.on_acs_message(handler, now_ms, after, reply),
        }
    }

    /// The transport could not deliver the last Send or read its reply (`sentence` says why):
    /// the session failed.
    pub fn on_transport_error(&mut self, _now_ms: u64, sentence: String) {
        if self.over {
            return;
        }
        self.fail(FailureReason::Transport(sentence));
    }

    /// When the edge must give up waiting (Unix milliseconds): the earlier of the idle limit
    /// (the SessionTimeout since the ACS's last message, or since the start) and the
    /// whole-session limit.
    pub fn deadline_ms(&self) -> u64 {
        self.idle_deadline_ms().min(self.session_deadline_ms())
    }

    /// [`Session::deadline_ms`] has passed: the session failed. Ignored when called early.
    pub fn on_timeout(&mut self, now_ms: u64) {
        if self.over {
            return;
        }
        if let Some(timeout) = self.timeout_at(now_ms) {
            self.fail(timeout);
        }
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The session namespace (the config's until the InformResponse arrives, then the ACS's).
    pub fn namespace(&self) -> CwmpNamespace {
        self.namespace
    }

    /// Whether the ACS's last message said `HoldRequests=true`.
    pub fn hold_requests(&self) -> bool {
        self.hold_requests
    }

    /// Whether the session has ended (its Finished output is queued or was handed out).
    pub fn is_finished(&self) -> bool {
        self.over
    }

    /// The SessionTimeout in force (the configured one, at least 30 s).
    pub fn session_timeout_secs(&self) -> u32 {
        self.config
            .session_timeout_secs
            .max(MIN_SESSION_TIMEOUT_SECS)
    }

    // ---- replies ----

    fn read_reply(
        &self,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Result<Reply, FailureReason> {
        let decode = || match Envelope::decode(body, &self.config.limits) {
            Ok(envelope) => Reply::Message(envelope),
            Err(DecodeError {
                kind: DecodeErrorKind::EmptyBody,
                ..
            }) => Reply::Empty,
            Err(error) => Reply::Undecodable(error),
        };
        match status {
            // 204 is how an ACS says "nothing (more)"; any body it carries is ignored.
            204 => Ok(Reply::Empty),
            // Be lenient: a 200 with an empty body means the same (digest §1.3).
            200 if body.iter().all(u8::is_ascii_whitespace) => Ok(Reply::Empty),
            200 => Ok(decode()),
            // ACS faults may come with HTTP 500 (SOAP 1.1's convention); any other 500 fails.
            500 => match decode() {
                Reply::Message(envelope) if matches!(envelope.body, Body::Fault(_)) => {
                    Ok(Reply::Message(envelope))
                }
                _ => Err(FailureReason::HttpStatus {
                    status,
                    retry_after,
                }),
            },
            _ => Err(FailureReason::HttpStatus {
                status,
                retry_after,
            }),
        }
    }

    /// The reply to the Inform: InformResponse, or the session failed.
    fn on_inform_reply(&mut self, reply: Reply) {
        let envelope = match reply {
            Reply::Empty => {
                return self.fail(FailureReason::Protocol(
                    "the ACS answered the Inform with an empty response instead of InformResponse"
                        .into(),
                ));
            }
            Reply::Undecodable(error) => {
                return self.fail(undecodable_answer("the Inform", "InformResponse", error));
            }
            Reply::Message(envelope) => envelope,
        };
        match &envelope.body {
            Body::InformResponse(_) => {}
            Body::Fault(fault) => return self.fail(acs_fault(fault, "Inform")),
            other => {
                return self.fail(FailureReason::Protocol(format!(
                    "the ACS answered the Inform with {} instead of InformResponse",
                    other.name()
                )));
            }
        }
        // Version negotiation: go on in the namespace the ACS answered in, or the one its
        // UseCWMPVersion names when that is an older schema.
        self.namespace = match envelope.header.use_cwmp_version.as_deref().map(str::trim) {
            Some("1.0") => CwmpNamespace::Cwmp10,
            Some("1.1") => CwmpNamespace::Cwmp11,
            _ => envelope.namespace,
        };
        self.use_cwmp_version = envelope.header.use_cwmp_version.clone();
        self.informed = true;
        self.hold_requests = envelope.header.hold_requests == Some(true);
        // The events are delivered now, whatever happens to the rest of the session.
        let delivered = self
            .events
            .iter()
            .map(|e| EventRef {
                code: e.event_code.clone(),
                command_key: e.command_key.clone(),
            })
            .collect();
        self.queue
            .push_back(Step::Journal(vec![record(Kind::InformAcknowledged(
                InformAcknowledged {
                    session_id: self.session_id.clone(),
                    delivered,
                },
            ))]));
        self.cpe_turn(false);
    }

    /// The reply to one of the CPE's own requests: its response, or a fault (which fails that
    /// request, not the session).
    fn on_cpe_response(&mut self, request: CpeRequest, reply: Reply) {
        let name = request.name();
        let envelope = match reply {
            Reply::Empty => {
                return self.fail(FailureReason::Protocol(format!(
                    "the ACS answered {name} with an empty response instead of {name}Response"
                )));
            }
            Reply::Undecodable(error) => {
                return self.fail(undecodable_answer(name, &format!("{name}Response"), error));
            }
            Reply::Message(envelope) => envelope,
        };
        self.hold_requests = envelope.header.hold_requests == Some(true);
        match (request, envelope.body) {
            (CpeRequest::TransferComplete(index), Body::TransferCompleteResponse(_)) => {
                // The transfer is reported: the agent may forget it once this is durable.
                if let Some(owed) = self.transfers.get(index) {
                    let ack = TransferCompleteAcknowledged {
                        transfer_id: owed.transfer_id.clone(),
                        command_key: owed.message.command_key.clone(),
                    };
                    self.queue.push_back(Step::Journal(vec![record(
                        Kind::TransferCompleteAcknowledged(ack),
                    )]));
                }
            }
            (CpeRequest::GetRpcMethods, Body::GetRpcMethodsResponse(response)) => {
                self.acs_methods = Some(response.method_list);
            }
            (_, Body::Fault(fault)) => {
                // The request stays owed (a TransferComplete is retried in the next session).
                // 8005 "Retry request" asks the CPE to back off: no more requests this session.
                if fault.code == FaultCode::RetryRequest.code() {
                    self.cpe_requests_stopped = true;
                }
                tracing::info!(
                    session_id = %self.session_id,
                    "the ACS answered {name} with {fault}; it stays owed"
                );
            }
            (_, other) => {
                return self.fail(FailureReason::Protocol(format!(
                    "the ACS answered {name} with {} instead of {name}Response",
                    other.name()
                )));
            }
        }
        self.cpe_turn(false);
    }

    /// The ACS's turn: its next request, or an empty response ending its requests.
    fn on_acs_message(
        &mut self,
        handler: &mut dyn RequestHandler,
        now_ms: u64,
        after: &'static str,
        reply: Reply,
    ) {
        let envelope = match reply {
            Reply::Empty => {
                // An empty message carries no HoldRequests header: the hold is lifted.
                self.hold_requests = false;
                return self.cpe_turn(true);
            }
            Reply::Undecodable(error) => return self.on_undecodable_acs_message(error),
            Reply::Message(envelope) => envelope,
        };
        self.hold_requests = envelope.header.hold_requests == Some(true);
        let name = envelope.body.name();
        if let Body::Fault(fault) = &envelope.body {
            return self.fail(acs_fault(fault, after));
        }
        if name.ends_with("Response") {
            return self.fail(FailureReason::Protocol(format!(
                "the ACS sent {name} in reply to the {after}, answering nothing the CPE asked"
            )));
        }
        let id = envelope.header.id;
        if CPE_ONLY_METHODS.contains(&name) {
            let fault = Fault::with_string(
                FaultCode::MethodNotSupported,
                format!("Method not supported: {name} is a CPE method"),
            );
            return self.answer(id, Body::Fault(fault));
        }
        let Handled { records, response } = handler.handle(&envelope.body, now_ms);
        if !records.is_empty() {
            self.queue.push_back(Step::Journal(records));
        }
        self.answer(id, response);
    }

    /// An ACS message the codec could not read. A SOAP envelope we can attribute (an unknown
    /// method, bad arguments, over the size limits) is answered with the codec's fault (9000,
    /// 9003, 9004) echoing its cwmp:ID, and the session goes on. Bytes that are not a SOAP
    /// envelope at all — not XML, not UTF-8, an HTML error page from a proxy — carry no ID and
    /// may not be a request, so answering them would be a guess: the session fails as Malformed
    /// and is retried.
    fn on_undecodable_acs_message(&mut self, error: DecodeError) {
        match &error.kind {
            DecodeErrorKind::NotSoap(_)
            | DecodeErrorKind::Xml(
                XmlError::Malformed { .. } | XmlError::NotUtf8(_) | XmlError::NoRoot,
            ) => self.fail(FailureReason::Malformed(error.to_string())),
            DecodeErrorKind::InvalidArguments { method, .. } if method == "Fault" => self.fail(
                FailureReason::Malformed(format!("a SOAP fault that cannot be read ({error})")),
            ),
            DecodeErrorKind::InvalidArguments { method, .. } if method.ends_with("Response") => {
                self.fail(FailureReason::Protocol(format!(
                    "the ACS sent {method}, answering nothing the CPE asked"
                )))
            }
            _ => {
                tracing::info!(session_id = %self.session_id, "answering an unreadable ACS request with a fault: {error}");
                let envelope = error.fault_envelope(self.namespace);
                self.send_acs_turn(envelope);
            }
        }
    }

    // ---- sending ----

    /// The CPE may speak on its own: its next request if one is pending and allowed, else the
    /// empty POST — or, right after the ACS's empty response, the end of the session.
    fn cpe_turn(&mut self, after_empty_response: bool) {
        if let Some(request) = self.next_cpe_request() {
            self.send_cpe_request(request);
        } else if after_empty_response {
            self.finish(Outcome::Succeeded);
        } else {
            self.queue.push_back(Step::Send {
                body: None,
                is_inform: false,
                expect: Expect::AcsMessage {
                    after: "empty POST",
                },
            });
        }
    }

    fn next_cpe_request(&mut self) -> Option<CpeRequest> {
        if self.hold_requests || self.cpe_requests_stopped {
            return None;
        }
        self.pending.pop_front()
    }

    fn send_cpe_request(&mut self, request: CpeRequest) {
        let body = match request {
            CpeRequest::TransferComplete(index) => match self.transfers.get(index) {
                Some(owed) => Body::TransferComplete(owed.message.clone()),
                None => return self.cpe_turn(false),
            },
            CpeRequest::GetRpcMethods => Body::GetRpcMethods(GetRpcMethods),
        };
        let envelope = Envelope::new(self.namespace, Header::with_id(self.fresh_id()), body);
        self.queue.push_back(Step::Send {
            body: Some(envelope.encode().into_bytes()),
            is_inform: false,
            expect: Expect::CpeResponse(request),
        });
    }

    /// Answers an ACS request, echoing its cwmp:ID, in the session namespace.
    fn answer(&mut self, id: Option<String>, response: Body) {
        let envelope = Envelope::new(
            self.namespace,
            Header {
                id,
                ..Header::default()
            },
            response,
        );
        self.send_acs_turn(envelope);
    }

    fn send_acs_turn(&mut self, envelope: Envelope) {
        let after = envelope.body.name();
        self.queue.push_back(Step::Send {
            body: Some(envelope.encode().into_bytes()),
            is_inform: false,
            expect: Expect::AcsMessage { after },
        });
    }

    // ---- ending ----

    fn fail(&mut self, reason: FailureReason) {
        tracing::info!(session_id = %self.session_id, "session failed: {reason}");
        // Whatever was queued is dropped: a Send whose records were never made durable is never
        // handed out. A Journal batch already handed out may still be written; its records are
        // true either way.
        self.queue.clear();
        self.journaling = false;
        self.in_flight = None;
        self.finish(Outcome::Failed(reason));
    }

    fn finish(&mut self, outcome: Outcome) {
        self.over = true;
        let result = SessionResult {
            outcome,
            acs_methods: self.acs_methods.clone(),
            namespace: self.informed.then_some(self.namespace),
            use_cwmp_version: self.use_cwmp_version.clone(),
        };
        self.queue.push_back(Step::Finish(result));
    }

    // ---- time ----

    fn idle_deadline_ms(&self) -> u64 {
        self.last_heard_ms
            .saturating_add(u64::from(self.session_timeout_secs()) * 1000)
    }

    fn session_deadline_ms(&self) -> u64 {
        self.started_ms
            .saturating_add(u64::from(self.config.max_session_secs) * 1000)
    }

    fn timeout_at(&self, now_ms: u64) -> Option<FailureReason> {
        if now_ms >= self.session_deadline_ms() {
            Some(FailureReason::Timeout {
                idle: false,
                limit_secs: self.config.max_session_secs,
            })
        } else if now_ms >= self.idle_deadline_ms() {
            Some(FailureReason::Timeout {
                idle: true,
                limit_secs: self.session_timeout_secs(),
            })
        } else {
            None
        }
    }

    /// A new cwmp:ID for a CPE request: deterministic (`<session id>.<n>`), unique per session.
    fn fresh_id(&mut self) -> String {
        self.next_id += 1;
        format!("{}.{}", self.session_id, self.next_id)
    }
}

fn acs_fault(fault: &Fault, in_reply_to: &str) -> FailureReason {
    let string = if fault.code == 0 {
        format!("{}: {}", fault.soap_faultcode, fault.soap_faultstring)
    } else {
        fault.string.clone()
    };
    FailureReason::AcsFault {
        code: fault.code,
        string,
        in_reply_to: in_reply_to.to_owned(),
    }
}

/// The answer to a CPE message could not be decoded: a well-formed message of an unknown kind
/// breaks the sequence; anything else is malformed.
fn undecodable_answer(what: &str, expected: &str, error: DecodeError) -> FailureReason {
    match &error.kind {
        DecodeErrorKind::UnknownMethod(method) => FailureReason::Protocol(format!(
            "the ACS answered {what} with the unknown message {method} instead of {expected}"
        )),
        _ => FailureReason::Malformed(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::DateTime;
    use crate::cwmp::rpc::inform::{DeviceIdStruct, Inform, InformResponse};

    struct NoHandler;
    impl RequestHandler for NoHandler {
        fn handle(&mut self, _request: &Body, _now_ms: u64) -> Handled {
            Handled::fault(Fault::new(FaultCode::MethodNotSupported))
        }
    }

    fn start() -> SessionStart {
        SessionStart {
            session_id: "s1".into(),
            inform: Inform {
                device_id: DeviceIdStruct::default(),
                event: vec![EventStruct::new("1 BOOT", "")],
                max_envelopes: 7,
                current_time: DateTime::from_unix(1_700_000_000, 0),
                retry_count: 0,
                parameter_list: Vec::new(),
            },
            transfer_completes: Vec::new(),
            raised: Vec::new(),
        }
    }

    fn informed_session() -> Session {
        let mut s = Session::new(SessionConfig::new("http://acs"), start(), 1_000);
        assert!(matches!(s.poll_output(), Some(Output::Journal(_))));
        s.journaled();
        let Some(Output::Send {
            body: Some(inform), ..
        }) = s.poll_output()
        else {
            panic!()
        };
        let text = String::from_utf8(inform).unwrap();
        assert!(text.contains("<MaxEnvelopes>1</MaxEnvelopes>"), "{text}");
        let reply = Envelope::new(
            CwmpNamespace::Cwmp12,
            Header::with_id("s1.1"),
            InformResponse { max_envelopes: 1 },
        );
        s.on_reply(&mut NoHandler, 2_000, 200, reply.encode().as_bytes(), None);
        assert!(matches!(s.poll_output(), Some(Output::Journal(_))));
        s.journaled();
        assert_eq!(
            s.poll_output(),
            Some(Output::Send {
                body: None,
                is_inform: false
            })
        );
        s
    }

    fn failure(s: &mut Session) -> FailureReason {
        match s.poll_output() {
            Some(Output::Finished(SessionResult {
                outcome: Outcome::Failed(reason),
                ..
            })) => reason,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn ids_are_deterministic_and_timeout_is_at_least_30s() {
        let mut config = SessionConfig::new("http://acs");
        config.session_timeout_secs = 5;
        let s = Session::new(config, start(), 1_000);
        assert_eq!(s.session_timeout_secs(), 30);
        assert_eq!(s.deadline_ms(), 31_000);
        assert_eq!(s.next_id, 1);
    }

    #[test]
    fn reply_without_outstanding_request_is_an_internal_failure() {
        let mut s = Session::new(SessionConfig::new("http://acs"), start(), 0);
        // The Journal was not even polled: nothing is in flight.
        s.on_reply(&mut NoHandler, 1, 204, b"", None);
        assert!(matches!(failure(&mut s), FailureReason::Internal(_)));
        assert_eq!(s.poll_output(), None);
        // Everything after the end is ignored.
        s.on_transport_error(2, "late".into());
        s.on_timeout(u64::MAX);
        assert_eq!(s.poll_output(), None);
    }

    #[test]
    fn envelope_with_empty_body_ends_the_acs_turn() {
        let mut s = informed_session();
        let empty = "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\">\
                     <soap-env:Body/></soap-env:Envelope>";
        s.on_reply(&mut NoHandler, 3_000, 200, empty.as_bytes(), None);
        assert!(matches!(
            s.poll_output(),
            Some(Output::Finished(SessionResult {
                outcome: Outcome::Succeeded,
                ..
            }))
        ));
    }

    #[test]
    fn garbage_mid_session_fails_as_malformed_but_an_unknown_method_is_answered() {
        let mut s = informed_session();
        s.on_reply(
            &mut NoHandler,
            3_000,
            200,
            b"<html><body>proxy error</body></html>",
            None,
        );
        assert!(matches!(failure(&mut s), FailureReason::Malformed(_)));

        let mut s = informed_session();
        s.on_reply(&mut NoHandler, 3_000, 200, b"\xff\xfe not utf-8", None);
        assert!(matches!(failure(&mut s), FailureReason::Malformed(_)));

        let mut s = informed_session();
        s.config.limits = crate::cwmp::Limits {
            max_bytes: 10,
            ..Default::default()
        };
        s.on_reply(
            &mut NoHandler,
            3_000,
            200,
            b"<soap-env:Envelope/> plenty of bytes",
            None,
        );
        let Some(Output::Send {
            body: Some(body), ..
        }) = s.poll_output()
        else {
            panic!()
        };
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("<FaultCode>9004</FaultCode>"), "{text}");
    }

    #[test]
    fn unreadable_fault_and_stray_response_fail() {
        let mut s = informed_session();
        let bad_fault = "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\">\
                         <soap-env:Body><soap-env:Fault/></soap-env:Body></soap-env:Envelope>";
        s.on_reply(&mut NoHandler, 3_000, 200, bad_fault.as_bytes(), None);
        assert!(matches!(failure(&mut s), FailureReason::Malformed(_)));

        let mut s = informed_session();
        let stray = Envelope::new(
            CwmpNamespace::Cwmp12,
            Header::with_id("x"),
            InformResponse { max_envelopes: 1 },
        );
        s.on_reply(&mut NoHandler, 3_000, 200, stray.encode().as_bytes(), None);
        let reason = failure(&mut s);
        assert!(matches!(reason, FailureReason::Protocol(_)), "{reason}");
        assert!(reason.to_string().contains("InformResponse"), "{reason}");
    }

    #[test]
    fn cpe_only_method_from_the_acs_is_answered_9000_without_the_handler() {
        struct Panicky;
        impl RequestHandler for Panicky {
            fn handle(&mut self, request: &Body, _now_ms: u64) -> Handled {
                panic!("handler called with {request:?}")
            }
        }
        let mut s = informed_session();
        let inform = Envelope::new(
            CwmpNamespace::Cwmp12,
            Header::with_id("acs-7"),
            start().inform,
        );
        s.on_reply(&mut Panicky, 3_000, 200, inform.encode().as_bytes(), None);
        let Some(Output::Send {
            body: Some(body), ..
        }) = s.poll_output()
        else {
            panic!()
        };
        let reply = Envelope::decode(&body, &Default::default()).unwrap();
        assert_eq!(reply.header.id.as_deref(), Some("acs-7"));
        assert!(matches!(reply.body, Body::Fault(ref f) if f.code == 9000));
    }

    #[test]
    fn early_timeout_is_ignored_and_the_whole_session_limit_applies() {
        let mut config = SessionConfig::new("http://acs");
        config.max_session_secs = 45;
        let mut s = Session::new(config, start(), 0);
        assert_eq!(s.deadline_ms(), 45_000, "the earlier of the two limits");
        s.on_timeout(10_000);
        assert!(!s.is_finished());
        s.on_timeout(45_000);
        assert_eq!(
            failure(&mut s),
            FailureReason::Timeout {
                idle: false,
                limit_secs: 45
            }
        );
    }
}
