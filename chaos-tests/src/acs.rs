//! The scripted ACS: a real HTTP(S) server speaking CWMP that records every exchange and answers
//! from a script.
//!
//! By default it behaves on the wire like GenieACS 1.2 (see `shared/spec/interop-genieacs.md`):
//!
//! * A session starts with a POST carrying an Inform (anything else first is answered 400
//!   "Invalid session"); the answer is an InformResponse echoing the Inform's `cwmp:ID` and cwmp
//!   namespace, with `Set-Cookie: session=<hex>` (on the InformResponse only).
//! * CPE requests (TransferComplete, AutonomousTransferComplete, GetRPCMethods, RequestDownload,
//!   Kicked, DUStateChangeComplete, AutonomousDUStateChangeComplete) get their responses;
//!   GetRPCMethodsResponse lists `Inform, GetRPCMethods, TransferComplete`. With
//!   [`AcsConfig::genieacs_cpe_methods_only`] the methods GenieACS does not know get fault 8000.
//!   Unknown methods always get fault 8000, unreadable arguments 8003.
//! * The empty POST, and every POST carrying the CPE's answer to an ACS request (decoded and
//!   recorded, SOAP faults included), is answered with the next queued ACS request (fresh
//!   `cwmp:ID` each, `acs-<n>`) or, when none is queued, `204` + `Connection: close`, which
//!   completes the session (hyper strips GenieACS's `Content-Length: 0` from a 204).
//! * A session is tied to its TCP connection and, when the CPE reconnects, to its cookie. A new
//!   connection without a valid cookie must start with an Inform (else 400 "Invalid session").
//! * Authentication (Basic or Digest MD5) is asked for when a request does not belong to an
//!   authenticated session: `401` with a challenge
//!   (`Digest realm="GenieACS",qop="auth,auth-int",nonce="…"`, one nonce per TCP connection),
//!   then accepted; wrong credentials get `401` without a challenge and `Connection: close`.
//! * Responses carry `Content-Type: text/xml; charset="utf-8"`.
//!
//! Nothing read from the network can make it panic: sloppy input is logged in the
//! [`Exchange`] record and answered 400 (413 when over [`AcsConfig::max_body_bytes`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use bytes::Bytes;
use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod, Qop, WwwAuthenticateHeader};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use rand::Rng as _;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tr069_client::cwmp::rpc::inform::{Inform, InformResponse};
use tr069_client::cwmp::{Body, CwmpNamespace, Envelope, Fault, FaultCode, Header, Limits};

/// The `Content-Type` of every SOAP answer, exactly as GenieACS writes it.
pub const SOAP_CONTENT_TYPE: &str = "text/xml; charset=\"utf-8\"";

/// The methods GenieACS 1.2 lists in its GetRPCMethodsResponse.
pub const GENIEACS_RPC_METHODS: &[&str] = &["Inform", "GetRPCMethods", "TransferComplete"];

/// How the CPE must authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AcsAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    /// Digest, MD5, qop `auth` or `auth-int` (offered as `qop="auth,auth-int"` like GenieACS).
    Digest {
        username: String,
        password: String,
    },
}

/// The ACS's TLS identity (PEM text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsIdentity {
    /// The server certificate, optionally followed by its intermediates.
    pub cert_chain_pem: String,
    /// The server's private key (PKCS#8, SEC1 or PKCS#1).
    pub key_pem: String,
    /// When set, a client certificate signed by one of these CA certificates is required.
    pub client_ca_pem: Option<String>,
}

/// How the scripted ACS is set up. `AcsConfig::default()` is GenieACS-like, without auth, over
/// plain HTTP.
#[derive(Debug, Clone)]
pub struct AcsConfig {
    pub auth: AcsAuth,
    pub tls: Option<TlsIdentity>,
    /// Answer in the cwmp namespace of the CPE's Inform (GenieACS does). When false, every
    /// message of the session uses [`AcsConfig::fixed_namespace`].
    pub namespace_echo: bool,
    pub fixed_namespace: CwmpNamespace,
    /// Answer AutonomousTransferComplete, Kicked, DUStateChangeComplete and
    /// AutonomousDUStateChangeComplete with fault 8000, as GenieACS does. Off by default: the
    /// methods are answered with their responses.
    pub genieacs_cpe_methods_only: bool,
    /// The MethodList of the GetRPCMethodsResponse (default: GenieACS's three).
    pub rpc_methods: Vec<String>,
    /// The NextURL of a KickedResponse.
    pub kicked_next_url: String,
    /// Largest accepted request body (default 8 MiB); larger ones are answered 413.
    pub max_body_bytes: usize,
    /// When a session ends without answering an ACS request it was sent, put the request back at
    /// the front of the queue once the next session starts (GenieACS retries unfinished tasks).
    pub requeue_unanswered: bool,
    /// The URL path the ACS serves (default `/acs`); other paths get 404.
    pub path: String,
    /// The auth realm (default `GenieACS`).
    pub realm: String,
    /// Keep every HTTP exchange ([`ScriptedAcs::exchanges`]). Off for long load runs (fleet
    /// benchmarks): ended sessions then also drop their Inform parameters and calls.
    pub record_exchanges: bool,
    /// Where to listen (default `127.0.0.1:0`).
    pub listen: SocketAddr,
}

impl Default for AcsConfig {
    fn default() -> Self {
        AcsConfig {
            auth: AcsAuth::None,
            tls: None,
            namespace_echo: true,
            fixed_namespace: CwmpNamespace::Cwmp12,
            genieacs_cpe_methods_only: false,
            rpc_methods: GENIEACS_RPC_METHODS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            kicked_next_url: "http://127.0.0.1/".to_owned(),
            max_body_bytes: 8 * 1024 * 1024,
            requeue_unanswered: true,
            path: "/acs".to_owned(),
            realm: "GenieACS".to_owned(),
            record_exchanges: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A failure the ACS answers an Inform with, instead of the InformResponse (see
/// [`ScriptedAcs::fail_next_sessions`]). Except for `Delay` and `Fault`, the answer carries
/// `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// This HTTP status with an empty body.
    Status(u16),
    /// `503` with `Retry-After: <seconds>`.
    Status503 { retry_after_seconds: u32 },
    /// `401` with a fresh challenge even though the credentials were right.
    Unauthorized,
    /// A `200` announcing the full InformResponse's Content-Length, sending about half of it, then
    /// closing the connection.
    CloseMidBody,
    /// Wait this long, then answer the InformResponse normally (the session goes on if the CPE
    /// is still there; it is recorded as [`SessionEnd::Abandoned`] otherwise).
    Delay(Duration),
    /// A `200` `text/xml` body that is not well-formed XML.
    MalformedXml,
    /// A SOAP Fault with this CWMP fault code (e.g. 8005 retry request, 8002 internal error).
    Fault(u32),
    /// No answer: the TCP connection is reset (RST, via SO_LINGER 0).
    ResetConnection,
}

impl Failure {
    fn closes_connection(&self) -> bool {
        !matches!(self, Failure::Delay(_) | Failure::Fault(_))
    }
}

/// A request the ACS issues to the CPE.
#[derive(Debug, Clone, PartialEq)]
pub enum AcsRequest {
    /// A message the codec knows, encoded with [`Envelope::encode`].
    Body(Body),
    /// Any method, for those the codec does not carry (yet): `args_xml` is written verbatim
    /// inside `<cwmp:{method}>…</cwmp:{method}>` (prefixes `soap-enc`, `xsd`, `xsi`, `cwmp` are
    /// declared on the Envelope).
    Raw { method: String, args_xml: String },
}

impl AcsRequest {
    pub fn raw(method: impl Into<String>, args_xml: impl Into<String>) -> AcsRequest {
        AcsRequest::Raw {
            method: method.into(),
            args_xml: args_xml.into(),
        }
    }

    /// The method element's name, e.g. `GetParameterValues`.
    pub fn method(&self) -> &str {
        match self {
            AcsRequest::Body(b) => b.name(),
            AcsRequest::Raw { method, .. } => method,
        }
    }

    fn encode(&self, namespace: CwmpNamespace, id: &str) -> String {
        match self {
            AcsRequest::Body(b) => {
                Envelope::new(namespace, Header::with_id(id), b.clone()).encode()
            }
            AcsRequest::Raw { method, args_xml } => {
                raw_envelope(namespace, Some(id), method, args_xml)
            }
        }
    }
}

impl From<Body> for AcsRequest {
    fn from(b: Body) -> Self {
        AcsRequest::Body(b)
    }
}

/// One HTTP request and the ACS's answer.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Position in [`ScriptedAcs::exchanges`] (0-based).
    pub index: usize,
    /// The TCP connection it came on (numbered from 1 in accept order).
    pub connection: u64,
    pub tls: bool,
    /// Whether the connection presented a (verified) client certificate.
    pub client_certificate: bool,
    /// The session number (from 1) it belonged to, if any.
    pub session: Option<u64>,
    pub method: String,
    pub path: String,
    /// Every request header, names in lower case, in arrival order.
    pub request_headers: Vec<(String, String)>,
    pub request_body_len: usize,
    /// The decoded SOAP envelope, when the body was one the codec could read.
    pub request: Option<Envelope>,
    /// The CWMP method the body carried (also when the codec could not decode it, if the name
    /// was readable), `None` for an empty body.
    pub request_method: Option<String>,
    pub request_id: Option<String>,
    pub decode_error: Option<String>,
    /// The body as text, kept only when it could not be decoded.
    pub request_text: Option<String>,
    /// The status sent; `None` when the connection was reset instead.
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// The CWMP method answered with (`InformResponse`, `GetParameterValues`, `Fault`, …).
    pub response_method: Option<String>,
    pub response_id: Option<String>,
    /// The body sent (empty for 204; the full text even for [`Failure::CloseMidBody`]).
    pub response_text: String,
    /// What the ACS made of it: "Invalid session", "failure injected: …", "auth: …", ….
    pub note: Option<String>,
    pub received_at: SystemTime,
    pub answered_at: SystemTime,
}

impl Exchange {
    /// The first request header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.request_headers, name)
    }

    /// The first response header with this (case-insensitive) name.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find_header(&self.response_headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A request the CPE made inside a session, and what it was answered.
#[derive(Debug, Clone)]
pub struct CpeCall {
    pub method: String,
    pub id: Option<String>,
    /// Decoded, when the codec knows the method.
    pub body: Option<Body>,
    pub decode_error: Option<String>,
    /// `TransferCompleteResponse`, `Fault`, ….
    pub answer: String,
}

/// A request the ACS sent inside a session, and the CPE's answer.
#[derive(Debug, Clone)]
pub struct AcsCall {
    /// The request's method name (`request.method()`).
    pub method: String,
    pub request: AcsRequest,
    /// The `cwmp:ID` the ACS gave it.
    pub id: String,
    pub answer: Option<CpeAnswer>,
}

/// The CPE's answer to an ACS request.
#[derive(Debug, Clone)]
pub struct CpeAnswer {
    /// `GetParameterValuesResponse`, `Fault`, … (empty string for an empty POST sent instead).
    pub method: String,
    pub id: Option<String>,
    /// Decoded, when the codec knows the method (a [`Body::Fault`] for a SOAP fault).
    pub body: Option<Body>,
    pub decode_error: Option<String>,
}

impl CpeAnswer {
    /// The fault, when the CPE answered with one.
    pub fn fault(&self) -> Option<&Fault> {
        match &self.body {
            Some(Body::Fault(f)) => Some(f),
            _ => None,
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// Still going.
    Open,
    /// The ACS answered 204: every request in both directions was answered.
    Completed,
    /// The ACS answered the Inform with this injected failure.
    Failed(Failure),
    /// The connection closed, or another Inform arrived, before the 204. Reopened if the CPE
    /// comes back with the session's cookie.
    Abandoned,
}

/// One CWMP session as the ACS saw it.
#[derive(Debug, Clone)]
pub struct SessionLog {
    /// From 1.
    pub number: u64,
    /// The `session` cookie value it was given.
    pub cookie: String,
    /// The cwmp namespace of the Inform.
    pub inform_namespace: CwmpNamespace,
    /// The namespace the ACS answered in.
    pub namespace: CwmpNamespace,
    pub inform_header: Header,
    pub inform: Inform,
    /// The failure injected into this session, if any.
    pub injected: Option<Failure>,
    pub cpe_calls: Vec<CpeCall>,
    pub acs_calls: Vec<AcsCall>,
    pub end: SessionEnd,
    /// The TCP connections that carried it.
    pub connections: Vec<u64>,
    pub started_at: SystemTime,
    pub ended_at: Option<SystemTime>,
}

impl SessionLog {
    /// The Inform's event codes, in order.
    pub fn event_codes(&self) -> Vec<&str> {
        self.inform
            .event
            .iter()
            .map(|e| e.event_code.as_str())
            .collect()
    }

    pub fn has_event(&self, code: &str) -> bool {
        self.inform.event.iter().any(|e| e.event_code == code)
    }

    pub fn retry_count(&self) -> u32 {
        self.inform.retry_count
    }

    /// The Inform's value for a parameter.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.inform
            .parameter_list
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.text.as_str())
    }

    /// The methods of the CPE's own requests, in order.
    pub fn cpe_methods(&self) -> Vec<&str> {
        self.cpe_calls.iter().map(|c| c.method.as_str()).collect()
    }

    pub fn is_ended(&self) -> bool {
        self.end != SessionEnd::Open
    }
}

/// A connection request made with [`ScriptedAcs::connection_request`].
#[derive(Debug, Clone)]
pub struct ConnectionRequestLog {
    pub url: String,
    /// Every status received, in order (e.g. `[401, 200]`).
    pub statuses: Vec<u16>,
    /// The Authorization header sent on the retry, if any.
    pub authorization: Option<String>,
    pub at: SystemTime,
}

// ---------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct State {
    exchanges: Vec<Exchange>,
    sessions: Vec<SessionLog>,
    /// Index into the session's `acs_calls` of the request awaiting the CPE's answer.
    pending: HashMap<u64, usize>,
    /// connection → open session number.
    conn_session: HashMap<u64, u64>,
    authenticated_conns: HashSet<u64>,
    queue: VecDeque<AcsRequest>,
    /// Requests for one device (by serial number), issued before the shared queue's.
    device_queues: HashMap<String, VecDeque<AcsRequest>>,
    failures: VecDeque<Failure>,
    next_conn: u64,
    next_request_id: u64,
    connection_errors: Vec<String>,
    connection_requests: Vec<ConnectionRequestLog>,
}

struct Shared {
    config: AcsConfig,
    limits: Limits,
    state: Mutex<State>,
    /// Bumped on every recorded change, for the waiters.
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge the ACS for the others.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// The scripted ACS. Dropping it stops the server (as does [`ScriptedAcs::shutdown`]).
pub struct ScriptedAcs {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for ScriptedAcs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScriptedAcs")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl ScriptedAcs {
    /// Binds `config.listen` and starts serving.
    pub async fn start(config: AcsConfig) -> anyhow::Result<ScriptedAcs> {
        let listener = TcpListener::bind(config.listen)
            .await
            .context("binding the scripted ACS")?;
        Self::serve(config, listener).await
    }

    /// Serves on a listener bound elsewhere (e.g. inside a network namespace, see
    /// [`crate::netns::NatLab::tcp_listener`]); the URL is the listener's address.
    pub async fn start_on(
        config: AcsConfig,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<ScriptedAcs> {
        listener.set_nonblocking(true)?;
        Self::serve(config, TcpListener::from_std(listener)?).await
    }

    async fn serve(config: AcsConfig, listener: TcpListener) -> anyhow::Result<ScriptedAcs> {
        let acceptor = match &config.tls {
            Some(identity) => Some(TlsAcceptor::from(Arc::new(server_tls_config(identity)?))),
            None => None,
        };
        let addr = listener.local_addr()?;
        let limits = Limits {
            max_bytes: config.max_body_bytes,
            ..Limits::default()
        };
        let tls = acceptor.is_some();
        let shared = Arc::new(Shared {
            config,
            limits,
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), stop_rx));
        Ok(ScriptedAcs {
            shared,
            addr,
            tls,
            stop,
            task: Some(task),
        })
    }

    /// `http(s)://127.0.0.1:PORT/acs`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{}", self.addr, self.shared.config.path)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &AcsConfig {
        &self.shared.config
    }

    /// Queues an ACS→CPE request, issued (with a fresh `cwmp:ID`) at the next empty POST or CPE
    /// answer, in this session or the next. Requests are issued in queue order.
    pub fn enqueue(&self, request: impl Into<AcsRequest>) {
        self.shared.lock().queue.push_back(request.into());
    }

    /// How many queued requests have not been issued yet.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Queues a request for the device with this serial number only: issued in its sessions,
    /// before anything of the shared queue.
    pub fn enqueue_for(&self, serial: &str, request: impl Into<AcsRequest>) {
        self.shared
            .lock()
            .device_queues
            .entry(serial.to_owned())
            .or_default()
            .push_back(request.into());
    }

    /// How many requests queued for this device have not been issued yet.
    pub fn queued_for(&self, serial: &str) -> usize {
        self.shared
            .lock()
            .device_queues
            .get(serial)
            .map_or(0, VecDeque::len)
    }

    /// How many sessions have ended so far (cheap: no copy).
    pub fn ended_sessions(&self) -> usize {
        self.shared
            .lock()
            .sessions
            .iter()
            .filter(|s| s.is_ended())
            .count()
    }

    /// Answers the Informs of the next `n` sessions with `failure` instead of an InformResponse
    /// (after any failures queued before).
    pub fn fail_next_sessions(&self, n: usize, failure: Failure) {
        let mut st = self.shared.lock();
        st.failures.extend(std::iter::repeat_n(failure, n));
    }

    /// Drops the failures not yet used.
    pub fn clear_failures(&self) {
        self.shared.lock().failures.clear();
    }

    /// Every HTTP request so far, with its answer.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.shared.lock().exchanges.clone()
    }

    /// Every session so far (open ones included), in order.
    pub fn sessions(&self) -> Vec<SessionLog> {
        self.shared.lock().sessions.clone()
    }

    /// TLS handshake failures and other connection-level errors.
    pub fn connection_errors(&self) -> Vec<String> {
        self.shared.lock().connection_errors.clone()
    }

    pub fn connection_requests(&self) -> Vec<ConnectionRequestLog> {
        self.shared.lock().connection_requests.clone()
    }

    /// Waits until at least `n` sessions have ended (completed, failed or abandoned) and
    /// returns all sessions; errors with what was seen on timeout.
    pub async fn wait_for_sessions(
        &self,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<SessionLog>> {
        self.wait_until(timeout, |st| {
            st.sessions.iter().filter(|s| s.is_ended()).count() >= n
        })
        .await
        .map_err(|seen| {
            anyhow!(
                "timed out after {timeout:?} waiting for {n} ended sessions; saw {}",
                summary(&seen)
            )
        })
    }

    /// Waits until no recorded session is still open and returns how many there are. Requests
    /// enqueued after this go to a session at or after that index: enqueued earlier, they can be
    /// taken by a session still running (its empty POST after a TransferComplete, say), one a
    /// wait counting from `sessions().len()` would skip.
    pub async fn wait_settled(&self, timeout: Duration) -> anyhow::Result<usize> {
        self.wait_until(timeout, |st| st.sessions.iter().all(SessionLog::is_ended))
            .await
            .map(|sessions| sessions.len())
            .map_err(|seen| {
                anyhow!(
                    "timed out after {timeout:?} waiting for no session to be open; saw {}",
                    summary(&seen)
                )
            })
    }

    /// Waits until `pred` holds on the sessions and returns them.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[SessionLog]) -> bool,
    ) -> anyhow::Result<Vec<SessionLog>> {
        self.wait_until(timeout, |st| pred(&st.sessions))
            .await
            .map_err(|seen| anyhow!("timed out after {timeout:?}; saw {}", summary(&seen)))
    }

    /// Waits for an ended session, after the first `after` sessions, that satisfies `pred`, and
    /// returns it; `what` names it in the error on timeout.
    pub async fn wait_for_session(
        &self,
        after: usize,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&SessionLog) -> bool,
    ) -> anyhow::Result<SessionLog> {
        let matches = |s: &SessionLog| s.is_ended() && pred(s);
        let sessions = self
            .wait_for(timeout, |all| all.iter().skip(after).any(matches))
            .await
            .with_context(|| format!("waiting for {what}"))?;
        sessions
            .into_iter()
            .skip(after)
            .find(|s| matches(s))
            .ok_or_else(|| anyhow!("no session matched: {what}"))
    }

    async fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&State) -> bool,
    ) -> Result<Vec<SessionLog>, Vec<SessionLog>> {
        let mut rx = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            {
                let st = self.shared.lock();
                if pred(&st) {
                    return Ok(st.sessions.clone());
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(self.sessions()),
            }
        }
    }

    /// The ACS side of a connection request, like GenieACS: a plain `GET url` with only `Host`
    /// and `Connection: keep-alive`; on a 401 Digest challenge it retries (on the same
    /// connection unless told to close) with `qop=auth` (unquoted), `nc=00000001`, and the
    /// `opaque` echoed; on a Basic challenge with Basic. Returns the final status. Plain HTTP only.
    pub async fn connection_request(
        &self,
        url: &str,
        username: &str,
        password: &str,
    ) -> anyhow::Result<u16> {
        let uri: http::Uri = url
            .parse()
            .with_context(|| format!("bad connection request URL {url:?}"))?;
        if uri
            .scheme_str()
            .is_some_and(|s| !s.eq_ignore_ascii_case("http"))
        {
            bail!("connection requests are plain HTTP: {url}");
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("no host in {url}"))?
            .to_owned();
        let port = uri.port_u16().unwrap_or(80);
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| host.clone());
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let connect_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();

        let mut log = ConnectionRequestLog {
            url: url.to_owned(),
            statuses: Vec::new(),
            authorization: None,
            at: SystemTime::now(),
        };
        let result = async {
            let mut sender = cr_connect(&connect_host, port).await?;
            let first = cr_get(&mut sender, &authority, &path, None).await?;
            log.statuses.push(first.status);
            if first.status != 401 {
                return Ok(first.status);
            }
            let challenge = first
                .www_authenticate
                .iter()
                .find(|c| c.trim_start().to_ascii_lowercase().starts_with("digest"))
                .or_else(|| first.www_authenticate.first())
                .ok_or_else(|| anyhow!("401 without a challenge"))?
                .clone();
            let authorization = if challenge
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("basic")
            {
                basic_authorization(username, password)
            } else {
                let mut prompt = WwwAuthenticateHeader::parse(&challenge)
                    .map_err(|e| anyhow!("bad Digest challenge {challenge:?}: {e}"))?;
                if let Some(qops) = &prompt.qop {
                    // GenieACS answers with qop=auth whatever else is offered.
                    if qops.contains(&Qop::AUTH) {
                        prompt.qop = Some(vec![Qop::AUTH]);
                    }
                }
                let ctx = AuthContext::new(username, password, path.as_str());
                prompt
                    .respond(&ctx)
                    .map_err(|e| anyhow!("cannot answer {challenge:?}: {e}"))?
                    .to_header_string()
            };
            log.authorization = Some(authorization.clone());
            if first.close || sender.is_closed() {
                sender = cr_connect(&connect_host, port).await?;
            }
            let second = cr_get(&mut sender, &authority, &path, Some(&authorization)).await?;
            log.statuses.push(second.status);
            Ok(second.status)
        }
        .await;
        self.shared.lock().connection_requests.push(log);
        self.shared.bump();
        result
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ScriptedAcs {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn summary(sessions: &[SessionLog]) -> String {
    let items: Vec<String> = sessions
        .iter()
        .map(|s| {
            format!(
                "#{} {:?} events={:?} end={:?}",
                s.number,
                s.inform.retry_count,
                s.event_codes(),
                s.end
            )
        })
        .collect();
    format!("{} sessions [{}]", sessions.len(), items.join("; "))
}

// ---------------------------------------------------------------------------------------------
// Connection request client
// ---------------------------------------------------------------------------------------------

struct CrReply {
    status: u16,
    www_authenticate: Vec<String>,
    close: bool,
}

async fn cr_connect(
    host: &str,
    port: u16,
) -> anyhow::Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect((host, port)))
        .await
        .map_err(|_| anyhow!("connecting to {host}:{port} timed out"))?
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn cr_get(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    authority: &str,
    path: &str,
    authorization: Option<&str>,
) -> anyhow::Result<CrReply> {
    let mut builder = Request::get(path)
        .header(header::HOST, authority)
        .header(header::CONNECTION, "keep-alive");
    if let Some(a) = authorization {
        builder = builder.header(header::AUTHORIZATION, a);
    }
    let request = builder.body(Empty::new())?;
    sender.ready().await?;
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .map_err(|_| anyhow!("connection request timed out"))??;
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let close = connection_close(response.headers());
    // Drain the body so the connection can be reused.
    let _ = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect()).await;
    Ok(CrReply {
        status,
        www_authenticate,
        close,
    })
}

fn connection_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

fn basic_authorization(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    )
}

// ---------------------------------------------------------------------------------------------
// Server: accept loop, TLS, connections
// ---------------------------------------------------------------------------------------------

/// The rustls server configuration of a test-kit server (the ACS, the file server).
pub(crate) fn server_tls_config(identity: &TlsIdentity) -> anyhow::Result<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = CertificateDer::pem_slice_iter(identity.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading the ACS certificate chain")?;
    if chain.is_empty() {
        bail!("no certificate in the ACS identity");
    }
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())
        .context("reading the ACS private key")?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &identity.client_ca_pem {
        Some(ca_pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                roots.add(cert.context("reading the client CA")?)?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(chain, key)?)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        shared.lock().connection_errors.push(format!("accept: {e}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let id = {
                    let mut st = shared.lock();
                    st.next_conn += 1;
                    st.next_conn
                };
                connections.spawn(serve_connection(shared.clone(), acceptor.clone(), stream, peer, id));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// The TCP stream, able to end with a reset instead of a FIN.
struct ResettableTcp {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for ResettableTcp {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "reset on purpose",
            )));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// What one connection knows about itself.
struct ConnInfo {
    id: u64,
    tls: bool,
    client_certificate: bool,
    /// The Digest nonce of this connection.
    nonce: String,
    reset: Arc<AtomicBool>,
}

/// Returned to hyper to make it drop the connection without answering.
#[derive(Debug)]
struct ResetRequested;

impl fmt::Display for ResetRequested {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset on purpose")
    }
}

impl std::error::Error for ResetRequested {}

async fn serve_connection(
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(AtomicBool::new(false));
    let tcp = ResettableTcp {
        inner: stream,
        reset: reset.clone(),
    };
    let nonce = random_hex(16);
    match acceptor {
        Some(acceptor) => {
            let tls =
                match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        shared
                            .lock()
                            .connection_errors
                            .push(format!("connection {id} from {peer}: TLS handshake: {e}"));
                        shared.bump();
                        return;
                    }
                    Err(_) => {
                        shared.lock().connection_errors.push(format!(
                            "connection {id} from {peer}: TLS handshake timed out"
                        ));
                        shared.bump();
                        return;
                    }
                };
            let client_certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let info = Arc::new(ConnInfo {
                id,
                tls: true,
                client_certificate,
                nonce,
                reset,
            });
            run_http(shared.clone(), info, tls).await;
        }
        None => {
            let info = Arc::new(ConnInfo {
                id,
                tls: false,
                client_certificate: false,
                nonce,
                reset,
            });
            run_http(shared.clone(), info, tcp).await;
        }
    }
    connection_closed(&shared, id);
}

async fn run_http<IO>(shared: Arc<Shared>, info: Arc<ConnInfo>, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        let info = info.clone();
        async move { handle(shared, info, req).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn connection_closed(shared: &Shared, conn: u64) {
    let mut st = shared.lock();
    st.authenticated_conns.remove(&conn);
    if let Some(number) = st.conn_session.remove(&conn) {
        let still_bound = st.conn_session.values().any(|n| *n == number);
        if !still_bound
            && let Some(s) = session_mut(&mut st, number)
            && s.end == SessionEnd::Open
        {
            s.end = SessionEnd::Abandoned;
            s.ended_at = Some(SystemTime::now());
        }
    }
    drop(st);
    shared.bump();
}

fn session_mut(st: &mut State, number: u64) -> Option<&mut SessionLog> {
    let idx = usize::try_from(number.checked_sub(1)?).ok()?;
    st.sessions.get_mut(idx)
}

// ---------------------------------------------------------------------------------------------
// Response body (full, or announced in full then cut short)
// ---------------------------------------------------------------------------------------------

/// The response body type: the whole text, or part of it followed by an error (hyper then
/// closes the connection mid-body).
pub struct AcsBody {
    data: Option<Bytes>,
    exact_len: u64,
    cut: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AcsBody {
    fn full(data: Bytes) -> AcsBody {
        AcsBody {
            exact_len: data.len() as u64,
            data: if data.is_empty() { None } else { Some(data) },
            cut: None,
        }
    }

    fn truncated(part: Bytes) -> AcsBody {
        AcsBody {
            exact_len: 0,
            data: Some(part),
            // Give hyper time to flush the head and the part before the error closes the socket.
            cut: Some(Box::pin(tokio::time::sleep(Duration::from_millis(100)))),
        }
    }
}

impl hyper::body::Body for AcsBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        if let Some(sleep) = self.cut.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.cut = None;
            return Poll::Ready(Some(Err(io::Error::other("body cut short on purpose"))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.cut.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.cut.is_some() {
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.exact_len)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------------------------

/// What to send back.
struct Reply {
    status: u16,
    headers: Vec<(HeaderName, String)>,
    body: String,
    response_method: Option<String>,
    response_id: Option<String>,
    note: Option<String>,
    truncate: bool,
    delay: Option<Duration>,
    reset: bool,
}

impl Reply {
    fn status(status: u16, note: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: String::new(),
            response_method: None,
            response_id: None,
            note: Some(note.into()),
            truncate: false,
            delay: None,
            reset: false,
        }
    }

    /// A plain-text error (`400 Invalid session` and friends), closing the connection.
    fn text_error(status: u16, text: &str) -> Reply {
        let mut r = Reply::status(status, text);
        r.body = text.to_owned();
        r.headers
            .push((header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()));
        r.headers.push((header::CONNECTION, "close".to_owned()));
        r
    }

    fn soap(body: String, method: &str, id: Option<String>) -> Reply {
        Reply {
            status: 200,
            headers: vec![(header::CONTENT_TYPE, SOAP_CONTENT_TYPE.to_owned())],
            body,
            response_method: Some(method.to_owned()),
            response_id: id,
            note: None,
            truncate: false,
            delay: None,
            reset: false,
        }
    }

    /// `204`, `Connection: close`, as GenieACS ends a session. (GenieACS also writes
    /// `Content-Length: 0`; hyper strips Content-Length from every 204, as RFC 9110 §8.6 asks.)
    fn no_content() -> Reply {
        let mut r = Reply::status(204, "no more requests");
        r.note = None;
        r.headers.push((header::CONTENT_LENGTH, "0".to_owned()));
        r.headers.push((header::CONNECTION, "close".to_owned()));
        r
    }

    fn with_note(mut self, note: impl Into<String>) -> Reply {
        self.note = Some(note.into());
        self
    }
}

/// The request as read off the wire.
struct ReadRequest {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

async fn handle(
    shared: Arc<Shared>,
    info: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Result<Response<AcsBody>, ResetRequested> {
    let received_at = SystemTime::now();
    let (parts, body) = req.into_parts();
    let request_headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut exchange = Exchange {
        index: 0,
        connection: info.id,
        tls: info.tls,
        client_certificate: info.client_certificate,
        session: None,
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        request_headers,
        request_body_len: 0,
        request: None,
        request_method: None,
        request_id: None,
        decode_error: None,
        request_text: None,
        status: None,
        response_headers: Vec::new(),
        response_method: None,
        response_id: None,
        response_text: String::new(),
        note: None,
        received_at,
        answered_at: received_at,
    };

    let reply = match Limited::new(body, shared.config.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => {
            let incoming = ReadRequest {
                method: parts.method,
                path: parts.uri.path().to_owned(),
                headers: parts.headers,
                body: collected.to_bytes(),
            };
            exchange.request_body_len = incoming.body.len();
            decide(&shared, &info, &incoming, &mut exchange)
        }
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Reply::text_error(413, "Request body too large")
            } else {
                Reply::text_error(400, &format!("Cannot read the request body: {e}"))
            }
        }
    };

    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }

    exchange.note = reply.note.clone();
    exchange.response_method = reply.response_method.clone();
    exchange.response_id = reply.response_id.clone();
    exchange.answered_at = SystemTime::now();

    if reply.reset {
        info.reset.store(true, Ordering::SeqCst);
        record(&shared, exchange);
        return Err(ResetRequested);
    }

    let mut response = Response::new(if reply.truncate {
        let cut = reply.body.len() / 2;
        let part = reply.body.as_bytes().get(..cut).unwrap_or_default();
        AcsBody::truncated(Bytes::copy_from_slice(part))
    } else {
        AcsBody::full(Bytes::from(reply.body.clone()))
    });
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in &reply.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            response.headers_mut().append(name.clone(), v);
        }
    }
    if reply.truncate {
        if let Ok(v) = HeaderValue::from_str(&reply.body.len().to_string()) {
            response.headers_mut().insert(header::CONTENT_LENGTH, v);
        }
    }
    exchange.status = Some(response.status().as_u16());
    exchange.response_headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    exchange.response_text = reply.body;
    record(&shared, exchange);
    Ok(response)
}

fn record(shared: &Shared, mut exchange: Exchange) {
    if shared.config.record_exchanges {
        let mut st = shared.lock();
        exchange.index = st.exchanges.len();
        st.exchanges.push(exchange);
    }
    shared.bump();
}

/// What the body carried.
struct Decoded {
    envelope: Option<Envelope>,
    method: Option<String>,
    id: Option<String>,
    error: Option<String>,
    /// The codec knew the method but its arguments were bad.
    bad_arguments: bool,
}

fn decode_body(body: &[u8], limits: &Limits) -> Decoded {
    match Envelope::decode(body, limits) {
        Ok(env) => Decoded {
            method: Some(env.body.name().to_owned()),
            id: env.header.id.clone(),
            envelope: Some(env),
            error: None,
            bad_arguments: false,
        },
        Err(e) => {
            use tr069_client::cwmp::DecodeErrorKind as K;
            let (method, bad_arguments) = match &e.kind {
                K::UnknownMethod(m) => (Some(m.clone()), false),
                K::InvalidArguments { method, .. } => (Some(method.clone()), true),
                _ => (None, false),
            };
            Decoded {
                envelope: None,
                method,
                id: e.id.clone(),
                error: Some(e.to_string()),
                bad_arguments,
            }
        }
    }
}

/// Decides the answer to one request and updates the record. Synchronous: all under the lock.
fn decide(shared: &Shared, info: &ConnInfo, req: &ReadRequest, ex: &mut Exchange) -> Reply {
    let config = &shared.config;
    if req.path != config.path {
        return Reply::text_error(404, "Not found");
    }
    if req.method != Method::POST {
        let mut r = Reply::text_error(405, "Method not allowed");
        r.headers.push((header::ALLOW, "POST".to_owned()));
        return r;
    }

    let decoded = if req.body.is_empty() {
        None
    } else {
        let d = decode_body(&req.body, &shared.limits);
        if d.envelope.is_none() {
            ex.request_text = Some(String::from_utf8_lossy(&req.body).into_owned());
        }
        ex.decode_error = d.error.clone();
        ex.request_method = d.method.clone();
        ex.request_id = d.id.clone();
        ex.request = d.envelope.clone();
        Some(d)
    };
    let is_inform = decoded.as_ref().and_then(|d| d.method.as_deref()) == Some("Inform");

    let mut st = shared.lock();
    let now = SystemTime::now();

    // Which session does this request belong to: the connection's, or the cookie's.
    let mut session = st.conn_session.get(&info.id).copied();
    if session.is_none()
        && let Some(cookie) = session_cookie(&req.headers)
    {
        let found = st
            .sessions
            .iter()
            .rev()
            .find(|s| {
                s.cookie == cookie && matches!(s.end, SessionEnd::Open | SessionEnd::Abandoned)
            })
            .map(|s| s.number);
        if let Some(number) = found {
            st.conn_session.insert(info.id, number);
            st.authenticated_conns.insert(info.id);
            if let Some(s) = session_mut(&mut st, number) {
                s.end = SessionEnd::Open;
                s.ended_at = None;
                if !s.connections.contains(&info.id) {
                    s.connections.push(info.id);
                }
            }
            session = Some(number);
        }
    }

    if session.is_none() || is_inform {
        // A new session: authenticate first.
        if !st.authenticated_conns.contains(&info.id) {
            match authenticate(config, info, &req.headers, &req.body) {
                AuthOutcome::Ok => {
                    st.authenticated_conns.insert(info.id);
                }
                AuthOutcome::Challenge(reply) => return reply,
            }
        }
        if !is_inform {
            let why = match &decoded {
                None => "Invalid session (empty POST without a session)".to_owned(),
                Some(d) => format!(
                    "Invalid session ({} without a session)",
                    d.method.as_deref().unwrap_or("unreadable message")
                ),
            };
            return Reply::text_error(400, "Invalid session").with_note(why);
        }
        let Some(d) = decoded else {
            return Reply::text_error(400, "Invalid session");
        };
        let Some(Envelope {
            namespace: inform_ns,
            header: inform_header,
            body: Body::Inform(inform),
        }) = d.envelope
        else {
            let why = d.error.unwrap_or_else(|| "unreadable Inform".to_owned());
            return Reply::text_error(400, "Invalid Inform")
                .with_note(format!("Invalid Inform: {why}"));
        };
        return start_session(
            shared,
            &mut st,
            info,
            ex,
            inform_ns,
            inform_header,
            inform,
            now,
        );
    }

    let Some(number) = session else {
        return Reply::text_error(400, "Invalid session");
    };
    ex.session = Some(number);
    let Some(namespace) = session_mut(&mut st, number).map(|s| s.namespace) else {
        return Reply::text_error(400, "Invalid session");
    };

    let Some(d) = decoded else {
        // Empty POST: the turn is the ACS's.
        if let Some(idx) = st.pending.remove(&number)
            && let Some(call) = session_mut(&mut st, number).and_then(|s| s.acs_calls.get_mut(idx))
        {
            call.answer = Some(CpeAnswer {
                method: String::new(),
                id: None,
                body: None,
                decode_error: Some("empty POST instead of an answer".to_owned()),
            });
        }
        return next_acs_request(
            &mut st,
            shared.config.record_exchanges,
            number,
            namespace,
            info.id,
            now,
        );
    };

    let method = d.method.clone().unwrap_or_default();
    let is_answer = method.ends_with("Response") || method == "Fault";
    if is_answer {
        let answer = CpeAnswer {
            method: method.clone(),
            id: d.id.clone(),
            body: d.envelope.map(|e| e.body),
            decode_error: d.error.clone(),
        };
        let pending = st.pending.remove(&number);
        let mut note = None;
        match pending
            .and_then(|idx| session_mut(&mut st, number).and_then(|s| s.acs_calls.get_mut(idx)))
        {
            Some(call) => {
                if answer.id.as_deref() != Some(call.id.as_str()) {
                    note = Some(format!(
                        "answer ID {:?} does not match request ID {:?}",
                        answer.id, call.id
                    ));
                }
                call.answer = Some(answer);
            }
            None => note = Some(format!("{method} without an outstanding ACS request")),
        }
        let reply = next_acs_request(
            &mut st,
            shared.config.record_exchanges,
            number,
            namespace,
            info.id,
            now,
        );
        return match note {
            Some(n) => reply.with_note(n),
            None => reply,
        };
    }

    if d.method.is_none() {
        // Not SOAP we can read at all.
        let why = d.error.unwrap_or_default();
        return Reply::text_error(400, "Bad request")
            .with_note(format!("unreadable message: {why}"));
    }

    // A CPE request.
    let (answer_method, reply) =
        answer_cpe_request(config, namespace, &method, d.id.clone(), d.bad_arguments);
    if let Some(s) = session_mut(&mut st, number) {
        s.cpe_calls.push(CpeCall {
            method,
            id: d.id,
            body: d.envelope.map(|e| e.body),
            decode_error: d.error,
            answer: answer_method,
        });
    }
    reply
}

#[allow(clippy::too_many_arguments)]
fn start_session(
    shared: &Shared,
    st: &mut State,
    info: &ConnInfo,
    ex: &mut Exchange,
    inform_ns: CwmpNamespace,
    inform_header: Header,
    inform: Inform,
    now: SystemTime,
) -> Reply {
    let config = &shared.config;
    // Whatever was open on this connection (or left over from a dead session) ends here.
    if let Some(old) = st.conn_session.remove(&info.id)
        && let Some(s) = session_mut(st, old)
        && s.end == SessionEnd::Open
    {
        s.end = SessionEnd::Abandoned;
        s.ended_at = Some(now);
    }
    if config.requeue_unanswered {
        let mut requeue = Vec::new();
        let pending: Vec<(u64, usize)> = st.pending.iter().map(|(n, i)| (*n, *i)).collect();
        for (n, idx) in pending {
            let open = st
                .sessions
                .get((n as usize).wrapping_sub(1))
                .is_some_and(|s| s.end == SessionEnd::Open);
            if !open {
                st.pending.remove(&n);
                if let Some(call) = session_mut(st, n).and_then(|s| s.acs_calls.get(idx)) {
                    requeue.push((n, call.request.clone()));
                }
            }
        }
        requeue.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        for (_, r) in requeue {
            st.queue.push_front(r);
        }
    }

    let number = st.sessions.len() as u64 + 1;
    let namespace = if config.namespace_echo {
        inform_ns
    } else {
        config.fixed_namespace
    };
    let cookie = random_hex(16);
    let failure = st.failures.pop_front();
    let id = inform_header.id.clone();
    ex.session = Some(number);
    st.sessions.push(SessionLog {
        number,
        cookie: cookie.clone(),
        inform_namespace: inform_ns,
        namespace,
        inform_header,
        inform,
        injected: failure.clone(),
        cpe_calls: Vec::new(),
        acs_calls: Vec::new(),
        end: SessionEnd::Open,
        connections: vec![info.id],
        started_at: now,
        ended_at: None,
    });

    let inform_response = || {
        let text = Envelope::new(
            namespace,
            Header {
                id: id.clone(),
                ..Header::default()
            },
            Body::InformResponse(InformResponse { max_envelopes: 1 }),
        )
        .encode();
        let mut r = Reply::soap(text, "InformResponse", id.clone());
        r.headers
            .push((header::SET_COOKIE, format!("session={cookie}")));
        r
    };

    let Some(failure) = failure else {
        st.conn_session.insert(info.id, number);
        return inform_response();
    };

    let note = format!("failure injected: {failure:?}");
    let mut reply = match &failure {
        Failure::Delay(d) => {
            st.conn_session.insert(info.id, number);
            let mut r = inform_response();
            r.delay = Some(*d);
            return r.with_note(note);
        }
        Failure::Status(code) => Reply::status(*code, ""),
        Failure::Status503 {
            retry_after_seconds,
        } => {
            let mut r = Reply::status(503, "");
            r.headers
                .push((header::RETRY_AFTER, retry_after_seconds.to_string()));
            r
        }
        Failure::Unauthorized => {
            let mut r = Reply::status(401, "");
            r.headers
                .push((header::WWW_AUTHENTICATE, challenge(config, info)));
            st.authenticated_conns.remove(&info.id);
            r
        }
        Failure::CloseMidBody => {
            let mut r = inform_response();
            r.truncate = true;
            r
        }
        Failure::MalformedXml => {
            let mut r = Reply::soap(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Body><cwmp:InformResponse><MaxEnvelopes>1</MaxEnv"
                    .to_owned(),
                "InformResponse",
                id.clone(),
            );
            r.response_method = None;
            r
        }
        Failure::Fault(code) => {
            let text = Envelope::new(
                namespace,
                Header {
                    id: id.clone(),
                    ..Header::default()
                },
                Body::Fault(acs_fault(*code, None)),
            )
            .encode();
            Reply::soap(text, "Fault", id.clone())
        }
        Failure::ResetConnection => {
            let mut r = Reply::status(0, "");
            r.reset = true;
            r
        }
    };
    if failure.closes_connection() && !reply.reset {
        reply.headers.push((header::CONNECTION, "close".to_owned()));
    }
    if let Some(s) = session_mut(st, number) {
        s.end = SessionEnd::Failed(failure.clone());
        s.ended_at = Some(now);
    }
    reply.with_note(note)
}

/// Pops the next queued request for the session, or ends the session with 204.
fn next_acs_request(
    st: &mut State,
    record: bool,
    number: u64,
    namespace: CwmpNamespace,
    conn: u64,
    now: SystemTime,
) -> Reply {
    let serial = session_mut(st, number).map(|s| s.inform.device_id.serial_number.clone());
    let own = serial
        .as_ref()
        .and_then(|serial| st.device_queues.get_mut(serial))
        .and_then(VecDeque::pop_front);
    match own.or_else(|| st.queue.pop_front()) {
        Some(request) => {
            st.next_request_id += 1;
            let id = format!("acs-{}", st.next_request_id);
            let text = request.encode(namespace, &id);
            let method = request.method().to_owned();
            if let Some(s) = session_mut(st, number) {
                s.acs_calls.push(AcsCall {
                    method: method.clone(),
                    request,
                    id: id.clone(),
                    answer: None,
                });
                let idx = s.acs_calls.len() - 1;
                st.pending.insert(number, idx);
            }
            Reply::soap(text, &method, Some(id))
        }
        None => {
            let lean = !record;
            if let Some(s) = session_mut(st, number) {
                s.end = SessionEnd::Completed;
                s.ended_at = Some(now);
                if lean {
                    s.inform.parameter_list = Vec::new();
                    s.cpe_calls = Vec::new();
                    s.acs_calls = Vec::new();
                }
            }
            st.conn_session.retain(|_, n| *n != number);
            st.authenticated_conns.remove(&conn);
            Reply::no_content()
        }
    }
}

/// The answer to a CPE-originated request: (method answered with, reply).
fn answer_cpe_request(
    config: &AcsConfig,
    namespace: CwmpNamespace,
    method: &str,
    id: Option<String>,
    bad_arguments: bool,
) -> (String, Reply) {
    let fault = |code: FaultCode, string: String| {
        let text = Envelope::new(
            namespace,
            Header {
                id: id.clone(),
                ..Header::default()
            },
            Body::Fault(acs_fault(code.code(), Some(&string))),
        )
        .encode();
        ("Fault".to_owned(), Reply::soap(text, "Fault", id.clone()))
    };
    let genieacs_unknown = matches!(
        method,
        "AutonomousTransferComplete"
            | "Kicked"
            | "DUStateChangeComplete"
            | "AutonomousDUStateChangeComplete"
    );
    let known = matches!(
        method,
        "TransferComplete" | "GetRPCMethods" | "RequestDownload"
    ) || genieacs_unknown;
    if !known || (genieacs_unknown && config.genieacs_cpe_methods_only) {
        return fault(
            FaultCode::AcsMethodNotSupported,
            format!("ACS method not supported: {method}"),
        );
    }
    if bad_arguments {
        return fault(
            FaultCode::AcsInvalidArguments,
            format!("Invalid arguments to {method}"),
        );
    }
    let args = match method {
        "GetRPCMethods" => {
            let mut s = format!(
                "<MethodList soap-enc:arrayType=\"xsd:string[{}]\">",
                config.rpc_methods.len()
            );
            for m in &config.rpc_methods {
                s.push_str("<string>");
                tr069_client::cwmp::xml::escape_into(&mut s, m, false);
                s.push_str("</string>");
            }
            s.push_str("</MethodList>");
            s
        }
        "Kicked" => {
            let mut s = "<NextURL>".to_owned();
            tr069_client::cwmp::xml::escape_into(&mut s, &config.kicked_next_url, false);
            s.push_str("</NextURL>");
            s
        }
        _ => String::new(),
    };
    let response = format!("{method}Response");
    let text = raw_envelope(namespace, id.as_deref(), &response, &args);
    (response.clone(), Reply::soap(text, &response, id))
}

/// An ACS fault (8000–8899): the code's name as FaultString unless one is given.
fn acs_fault(code: u32, string: Option<&str>) -> Fault {
    match FaultCode::from_code(code) {
        Some(c) => match string {
            Some(s) => Fault::with_string(c, s),
            None => Fault::new(c),
        },
        None => Fault {
            soap_faultcode: "Server".to_owned(),
            soap_faultstring: "CWMP fault".to_owned(),
            code,
            string: string
                .map(str::to_owned)
                .unwrap_or_else(|| format!("Fault {code}")),
            set_parameter_values_faults: Vec::new(),
        },
    }
}

/// An envelope laid out like [`Envelope::encode`] (and GenieACS), for methods written by hand.
fn raw_envelope(
    namespace: CwmpNamespace,
    id: Option<&str>,
    method: &str,
    args_xml: &str,
) -> String {
    let mut s = String::with_capacity(512 + args_xml.len());
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(
        "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
         xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:cwmp=\"",
    );
    s.push_str(namespace.uri());
    s.push_str("\">");
    if let Some(id) = id {
        s.push_str("<soap-env:Header><cwmp:ID soap-env:mustUnderstand=\"1\">");
        tr069_client::cwmp::xml::escape_into(&mut s, id, false);
        s.push_str("</cwmp:ID></soap-env:Header>");
    }
    s.push_str("<soap-env:Body><cwmp:");
    s.push_str(method);
    s.push('>');
    s.push_str(args_xml);
    s.push_str("</cwmp:");
    s.push_str(method);
    s.push_str("></soap-env:Body></soap-env:Envelope>");
    s
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| k.trim() == "session")
        .map(|(_, v)| v.trim().trim_matches('"').to_owned())
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let buf: Vec<u8> = (0..bytes).map(|_| rng.random::<u8>()).collect();
    hex::encode(buf)
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

enum AuthOutcome {
    Ok,
    Challenge(Reply),
}

/// The challenge for this connection: `Digest realm="GenieACS",qop="auth,auth-int",nonce="…"`
/// (no spaces, no algorithm, no opaque, like GenieACS) or `Basic realm="GenieACS"`.
fn challenge(config: &AcsConfig, info: &ConnInfo) -> String {
    match config.auth {
        AcsAuth::Basic { .. } => format!("Basic realm=\"{}\"", config.realm),
        _ => format!(
            "Digest realm=\"{}\",qop=\"auth,auth-int\",nonce=\"{}\"",
            config.realm, info.nonce
        ),
    }
}

fn authenticate(
    config: &AcsConfig,
    info: &ConnInfo,
    headers: &HeaderMap,
    body: &[u8],
) -> AuthOutcome {
    let challenge_reply = |why: &str| {
        let mut r = Reply::status(401, format!("auth: {why}"));
        r.headers
            .push((header::WWW_AUTHENTICATE, challenge(config, info)));
        AuthOutcome::Challenge(r)
    };
    let reject = |why: String| {
        let mut r = Reply::status(401, format!("auth: {why}"));
        r.headers.push((header::CONNECTION, "close".to_owned()));
        AuthOutcome::Challenge(r)
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match &config.auth {
        AcsAuth::None => AuthOutcome::Ok,
        AcsAuth::Basic { username, password } => {
            let Some(a) = authorization else {
                return challenge_reply("no credentials");
            };
            if a.trim() == basic_authorization(username, password) {
                AuthOutcome::Ok
            } else {
                reject(format!("wrong Basic credentials {a:?}"))
            }
        }
        AcsAuth::Digest { username, password } => {
            let Some(a) = authorization else {
                return challenge_reply("no credentials");
            };
            if !a.trim_start().to_ascii_lowercase().starts_with("digest") {
                return challenge_reply("not Digest");
            }
            let parsed = match AuthorizationHeader::parse(&a) {
                Ok(p) => p,
                Err(e) => return reject(format!("bad Digest header: {e}")),
            };
            if parsed.nonce != info.nonce {
                // Not this connection's nonce (e.g. left over from another connection): ask again.
                return challenge_reply("unknown nonce");
            }
            if parsed.username != *username || parsed.realm != config.realm {
                return reject(format!(
                    "wrong user {:?} / realm {:?}",
                    parsed.username, parsed.realm
                ));
            }
            let ctx = AuthContext::new_with_method(
                username.as_str(),
                password.as_str(),
                parsed.uri.as_str(),
                Some(body),
                HttpMethod::POST,
            );
            let mut expected = parsed.clone();
            expected.digest(&ctx);
            if expected.response.eq_ignore_ascii_case(&parsed.response) {
                AuthOutcome::Ok
            } else {
                reject("wrong Digest response".to_owned())
            }
        }
    }
}
