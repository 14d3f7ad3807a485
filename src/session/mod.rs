//! The CPE side of one CWMP session (TR-069 §3.7), as a sans-I/O state machine.
//!
//! # What a session is
//!
//! Everything in CWMP happens inside a *session*: a run of HTTP POSTs from the CPE to the ACS
//! over one connection. The CPE always speaks first and the ACS's messages ride in the HTTP
//! responses (TR-069 §3.7.1, digest §1.4):
//!
//! ```text
//! CPE                                   ACS
//! POST  Inform (ID=a, Events, Params)  →
//!                                       ←  200 InformResponse (ID=a) [HoldRequests?]
//! POST  TransferComplete (ID=b)        →   (the CPE's own requests, one at a time,
//!                                       ←  200 TransferCompleteResponse (ID=b)   never while held)
//! POST  (empty)                        →   "I have nothing more: your turn"
//!                                       ←  200 GetParameterValues (ID=x)
//! POST  GetParameterValuesResponse(x)  →   (every response echoes the request's cwmp:ID)
//!                                       ←  204 No Content   ⇒ the session ended successfully
//! ```
//!
//! * The **Inform** is always first and sent once. Its events are *delivered* the moment the
//!   InformResponse arrives — even if the session fails a second later — so the machine journals
//!   [`InformAcknowledged`](crate::records::proto::InformAcknowledged) before it sends anything
//!   else.
//! * The InformResponse fixes the session's **cwmp namespace** (version negotiation: an ACS that
//!   answers in `cwmp-1-0` gets `cwmp-1-0` for the rest of the session), and may carry
//!   `UseCWMPVersion` (CWMP 1.4).
//! * Then the CPE sends its **own requests** (owed TransferCompletes, then GetRPCMethods if
//!   configured), one at a time — but only while the ACS's last message did not say
//!   `HoldRequests=true`. Held requests wait until a later ACS message lifts the hold (any message
//!   without the header, including the final empty 204) and are then sent in place of the next
//!   empty POST.
//! * An **empty POST** hands the turn to the ACS, which sends requests one at a time; the CPE
//!   answers each (through the [`RequestHandler`]) until the ACS answers with an empty 204.
//! * The session **fails** on a transport error, an HTTP status other than 200/204, a SOAP
//!   fault answering the Inform (8005 "Retry request" asks for exactly that), malformed SOAP, a
//!   message out of sequence, or a timeout (digest §4). [`FailureReason`] says which, in a
//!   sentence an operator can act on.
//!
//! # How it is driven
//!
//! Like quinn-proto and rustls, this module owns no socket, clock or random source: the tokio
//! edge (`agent/`) calls it with the bytes it received and the current time, and performs the
//! [`Output`]s it hands back:
//!
//! ```text
//! let mut s = Session::new(config, start, now_ms);
//! loop {
//!     match s.poll_output() {
//!         Some(Output::Journal(records)) => { journal.append_batch(records)?; s.journaled(); }
//!         Some(Output::Send { body, .. }) => match http.post(body, until(s.deadline_ms())) {
//!             Ok(reply)   => s.on_reply(&mut handler, now_ms(), reply.status, &reply.body, reply.retry_after),
//!             Err(Timeout) => s.on_timeout(now_ms()),
//!             Err(e)      => s.on_transport_error(now_ms(), e.to_string()),
//!         },
//!         Some(Output::Finished(result)) => break result,
//!         None => unreachable-in-a-correct-driver (the machine is waiting for journaled()),
//!     }
//! }
//! ```
//!
//! **Write-ahead invariant** (design rule 2): after an [`Output::Journal`] the machine hands out
//! nothing but `None` until [`Session::journaled`] is called; every `Send` whose content depends
//! on those records (a response to SetParameterValues, the first message after the
//! InformResponse) comes after the records are durable.
//!
//! The machine never panics on anything from the wire, and every input that does not fit the
//! protocol ends in [`Output::Finished`].

mod failure;
mod machine;

pub use failure::FailureReason;
pub use machine::Session;

use std::time::Duration;

use crate::cwmp::rpc::inform::Inform;
use crate::cwmp::rpc::transfer_complete::TransferComplete;
use crate::cwmp::{Body, CwmpNamespace, Fault, Limits};
use crate::records::proto::Record;

/// How this CPE runs its sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// The cwmp namespace the Inform is written in. `cwmp-1-2` covers CWMP 1.2–1.4; the ACS's
    /// InformResponse decides the namespace for the rest of the session.
    pub namespace: CwmpNamespace,
    /// Seconds the CPE waits for the ACS's next HTTP message before declaring the session failed;
    /// announced to the ACS as the `SessionTimeout` header of the Inform (CWMP ≥ 1.3, written only
    /// in `cwmp-1-2` and later). TR-069 requires the CPE to wait at least 30 s, so smaller values
    /// are raised to 30.
    pub session_timeout_secs: u32,
    /// The longest a whole session may take, in seconds, however lively the ACS is (a guard
    /// against an ACS that keeps the CPE busy forever).
    pub max_session_secs: u32,
    /// Ask the ACS which methods it supports (GetRPCMethods) after the owed TransferCompletes;
    /// the answer is returned in [`SessionResult::acs_methods`].
    pub send_get_rpc_methods: bool,
    /// `SupportedCWMPVersions` header of the Inform (CWMP 1.4), e.g. `"1.0,1.1,1.2,1.3,1.4"`.
    /// `None` sends no header, so the ACS infers the version from the namespace.
    pub supported_cwmp_versions: Option<String>,
    /// Size and shape limits for the ACS's messages.
    pub limits: Limits,
    /// The URL the session talks to (journaled in `SessionStarted`).
    pub acs_url: String,
}

impl SessionConfig {
    /// A configuration with the defaults: `cwmp-1-2`, SessionTimeout 60 s, at most 15 minutes per
    /// session, no GetRPCMethods, default limits.
    pub fn new(acs_url: impl Into<String>) -> SessionConfig {
        SessionConfig {
            namespace: CwmpNamespace::Cwmp12,
            session_timeout_secs: 60,
            max_session_secs: 900,
            send_get_rpc_methods: false,
            supported_cwmp_versions: None,
            limits: Limits::default(),
            acs_url: acs_url.into(),
        }
    }
}

/// What one session carries, built by the agent from its folded state.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionStart {
    /// The agent's identifier for this session (journaled; also the stem of the CPE's cwmp:IDs).
    pub session_id: String,
    /// The Inform: DeviceId, the owed events, RetryCount, parameters. `MaxEnvelopes` is forced to 1.
    pub inform: Inform,
    /// Transfer results still owed to the ACS, reported with TransferComplete after the
    /// InformResponse, in this order.
    pub transfer_completes: Vec<OwedTransferComplete>,
    /// Records raising this session's events that are not journaled yet: they go in the same
    /// batch as `SessionStarted`, before it (one durable commit before the Inform).
    pub raised: Vec<Record>,
}

/// A TransferComplete the CPE owes the ACS until a TransferCompleteResponse arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedTransferComplete {
    /// The agent's transfer identifier (journaled in `TransferCompleteAcknowledged`).
    pub transfer_id: String,
    pub message: TransferComplete,
}

/// The agent's side of the ACS's requests: one request in, journal records and a response out,
/// no I/O. The session writes the records (one batch) before it sends the response.
pub trait RequestHandler {
    /// Answers one ACS request (`GetParameterValues`, `SetParameterValues`, `Download`, …,
    /// including `GetRPCMethods`). Unsupported methods are answered with a 9000 fault. Messages
    /// that only a CPE sends (an `Inform` from the ACS, say) never reach the handler.
    fn handle(&mut self, request: &Body, now_ms: u64) -> Handled;
}

/// What a [`RequestHandler`] decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// Records to make durable before the response is sent (may be empty).
    pub records: Vec<Record>,
    /// The response message, or a `Body::Fault`.
    pub response: Body,
}

impl Handled {
    /// A response with nothing to journal.
    pub fn respond(response: impl Into<Body>) -> Handled {
        Handled {
            records: Vec::new(),
            response: response.into(),
        }
    }

    /// A response that may only be sent once `records` are durable.
    pub fn journal_then_respond(records: Vec<Record>, response: impl Into<Body>) -> Handled {
        Handled {
            records,
            response: response.into(),
        }
    }

    /// A CWMP fault in place of the response.
    pub fn fault(fault: Fault) -> Handled {
        Handled {
            records: Vec::new(),
            response: Body::Fault(fault),
        }
    }
}

/// What the edge must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Append these records durably, as one atomic batch, then call [`Session::journaled`].
    /// Nothing is sent before that (design rule 2: the journal is written ahead of every side
    /// effect).
    Journal(Vec<Record>),
    /// POST this body to the ACS (`None` = the empty POST, `Content-Length: 0`), then call
    /// [`Session::on_reply`], [`Session::on_transport_error`] or, once
    /// [`Session::deadline_ms`] has passed, [`Session::on_timeout`].
    Send {
        body: Option<Vec<u8>>,
        /// True for the Inform: the only message the ACS may redirect (301/302/307), and the one
        /// that starts a fresh cookie jar.
        is_inform: bool,
    },
    /// The session is over; nothing more will be output.
    Finished(SessionResult),
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionResult {
    pub outcome: Outcome,
    /// The ACS's GetRPCMethodsResponse, when it was asked and answered.
    pub acs_methods: Option<Vec<String>>,
    /// The namespace the session continued in, once an InformResponse arrived.
    pub namespace: Option<CwmpNamespace>,
    /// The ACS's `UseCWMPVersion` header, when it sent one.
    pub use_cwmp_version: Option<String>,
}

/// Succeeded, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The ACS ended the session with an empty response, every request in both directions was
    /// answered and the CPE had nothing (it was allowed) to send. RetryCount goes back to 0.
    Succeeded,
    /// The session failed; the agent retries it after the TR-069 backoff.
    Failed(FailureReason),
}

impl SessionResult {
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Succeeded
    }

    /// The failure, when there was one.
    pub fn failure(&self) -> Option<&FailureReason> {
        match &self.outcome {
            Outcome::Succeeded => None,
            Outcome::Failed(reason) => Some(reason),
        }
    }

    /// The `SessionEnded` record the agent journals for this result. `retry_after_seconds` is the
    /// wait the agent chose before the next attempt (its random draw, or the ACS's Retry-After).
    pub fn ended_record(&self, session_id: &str, retry_after_seconds: Option<u32>) -> Record {
        use crate::records::proto::{SessionEnded, SessionOutcome, record::Kind};
        let (outcome, reason, http_status) = match &self.outcome {
            Outcome::Succeeded => (SessionOutcome::Succeeded, String::new(), None),
            Outcome::Failed(reason) => (
                SessionOutcome::Failed,
                reason.to_string(),
                reason.http_status(),
            ),
        };
        Record {
            kind: Some(Kind::SessionEnded(SessionEnded {
                session_id: session_id.to_owned(),
                outcome: outcome as i32,
                reason,
                retry_after_seconds,
                http_status: http_status.map(u32::from),
                heartbeat: false,
            })),
        }
    }
}

/// The ACS's `Retry-After`, when it asked for one, in whole seconds (rounded up).
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}
