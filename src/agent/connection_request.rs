//! Connection-request server: the HTTP endpoint the ACS uses to wake the CPE (TR-069 §3.2.2).
//!
//! Split sans-I/O style:
//! - [`auth`]: pure Digest challenger/verifier (nonces, expiry, replay protection);
//! - [`rate_limit`]: pure limits on failed authentication and floods (token buckets);
//! - this module: the tokio/hyper edge: [`CrConnectionServer`] serves one accepted connection
//!   (hyper, then the steps below), and [`ConnectionRequestServer::bind`] owns the listening
//!   socket and hands it every connection it accepts.
//!
//! # Request handling, in order
//! 1. Path differs from the configured random path → `404` (no state touched, nothing counted).
//! 2. Method other than `GET` → `405` with `Allow: GET`.
//! 3. Limits ([`rate_limit`], configurable in the config file's `[connection_request]`):
//!    - the source is blocked after too many *failed* authentications, or sent too many
//!      unauthenticated requests → `429 Too Many Requests` with `Retry-After`;
//!    - every source together exceeded the global flood cap → `503`, without `Retry-After`
//!      (TR-069 says it SHOULD NOT be included).
//!
//!    A correctly authenticated request never counts against a per-source limit, so an ACS
//!    sending a burst (GenieACS sends one request per task) is never refused below the flood
//!    cap.
//! 4. [`CrSettings::enabled`] false → `403`.
//! 5. Digest verification against the *current* [`CrSettings`] → `401` with a fresh challenge on
//!    anything wrong (including an empty username: an unauthenticated GET never starts a session,
//!    and with no username configured every connection request is refused).
//! 6. Success → `200` with an empty body; the agent is signalled once the response has been
//!    handed to the connection (see below).
//!
//! # Why 429 for a blocked source
//! A source that failed authentication too often is refused *everything*, the right
//! credentials included (otherwise guessing would simply go on), until its failure bucket has
//! a token again (one a minute with the defaults). It gets `429`:
//! - not `503`: TR-069 uses `503` for "too busy", and GenieACS shows it as "Device is offline"
//!   — wrong for a device that is fine and only refuses one source; `503` stays for the global
//!   flood cap, where the device really is too busy;
//! - not `401`: a challenge would tell a correctly configured ACS that its password is wrong,
//!   and would cost a nonce slot per refused request;
//! - not a dropped connection: a silent close looks like a network fault to the operator, and
//!   saves nothing (the request head has been read by then); a `429` is a few bytes, computed
//!   without hashing anything.
//!
//! `Retry-After` says when the next attempt will be looked at. The same `429` answers a source
//! that sent too many *unauthenticated* requests (only those are refused; its answers to
//! challenges it already holds still go through).
//!
//! The query string and any body are ignored (the body is never read). Headers are bounded
//! ([`ServerConfig::max_header_bytes`], [`ServerConfig::max_headers`]), a client must send a
//! complete request head within [`ServerConfig::header_read_timeout`] (this also bounds idle
//! keep-alive connections), every connection is closed after [`ServerConfig::connection_timeout`],
//! and at most [`ServerConfig::max_connections`] are served at once: when a new connection
//! arrives at the limit, the oldest one is closed to make room. A request is answered within
//! microseconds of its head arriving, so the oldest connection is one that is idle or sending its
//! head slowly (Slowloris); closing it keeps the listener reachable for the ACS, where refusing
//! the newcomer would let a few slow connections lock the ACS out. Nonces are single-use per `nc` and expire ([`auth`]): a captured request cannot be
//! replayed, and a replay counts as a failed authentication.
//!
//! # Signalling and coalescing
//! Every authenticated request is answered `200` at once; requests are never refused because a
//! session is pending or running. They are coalesced in two places, and together these give
//! "a connection request is followed by a session (but see the window below), and at most one
//! more session is queued after the current one":
//!
//! 1. Here: an accepted request produces a [`ConnectionRequested`] on a `tokio::sync::mpsc`
//!    channel of capacity **1**, sent with `try_send`. While a message is queued (the agent has
//!    not taken it yet), further accepted requests add nothing: the queued message serves them
//!    all. This keeps the server from ever queueing more than one wake-up, whatever the burst.
//! 2. In the agent core (`Input::ConnectionRequest` in `crate::cpe`; the daemon takes each
//!    message at once). With no session running, the request raises `6 CONNECTION REQUEST`; an
//!    event that is already owed is not owed twice ([`crate::state::events::coalesces`]), so
//!    requests before the next session starts are all served by it. While a session runs, from
//!    its start on (before or after its Inform went out), a request only sets a flag, and the
//!    session's end raises `6 CONNECTION REQUEST` again: exactly one more session after the
//!    current one, however many requests arrive during it (TR-069 §3.2.2).
//!
//! The cost of 2: a request that arrives just after a session started, before its Inform left,
//! still gets a second session, with nothing for it to do. Seen against GenieACS when it sends
//! both a UDP and an XMPP connection request for one task (`docs/genieacs.md`, section 6.4).
//!
//! The message is sent when hyper drops the (empty) response body, which happens right after it
//! has encoded the response head into the connection's write buffer; the agent's session then has
//! to open its own connection to the ACS, so the `200` leaves first. If the client vanished before
//! the response could be written, the authenticated request still counts.
//!
//! The server never makes outbound connections; the agent only ever contacts the configured ACS.
//!
//! # Addresses
//! [`connection_request_url`] formats `ManagementServer.ConnectionRequestURL`.
//! [`primary_local_ip`] finds the address the host would use toward the ACS (a UDP socket is
//! "connected" to the ACS address — no packet is sent — and its local address read). The agent
//! calls it periodically (e.g. before each Inform and on a timer) and, when the address changed,
//! updates `ConnectionRequestURL` (a value change the ACS must hear about).

pub use crate::connection_request::{auth, rate_limit};

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use self::auth::{AuthConfig, AuthOutcome, Credentials, DigestAuthenticator, Rejection};
use self::rate_limit::{
    Decision, LimitScope, Outcome, RateLimitConfig, RateLimiter, Refusal, RequestClass,
};

/// TR-069's customary connection-request port.
pub const DEFAULT_PORT: u16 = 7547;

/// Length of the random part of [`random_path`].
pub const RANDOM_PATH_LEN: usize = crate::cpe::CR_PATH_LEN;

/// The agent-owned, journaled settings the server reads on every request.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CrSettings {
    /// `ManagementServer.ConnectionRequestUsername`; empty ⇒ every request gets `401` (no
    /// connection request can ever succeed; the daemon warns at start and `print` says so).
    pub username: String,
    /// `ManagementServer.ConnectionRequestPassword`.
    pub password: String,
    /// `ManagementServer.HTTPConnectionRequestEnable` (as far as this server is concerned:
    /// false ⇒ every request gets `403`; the agent should also shut the server down).
    pub enabled: bool,
}

impl fmt::Debug for CrSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrSettings")
            .field("username", &self.username)
            .field("password", &"***")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// Server configuration. [`ServerConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listening address. Default `0.0.0.0:7547`; tests use `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// The URL path the ACS must use (starts with `/`; see [`random_path`]).
    pub path: String,
    /// Digest settings (realm, nonce lifetime and table size, announced algorithm).
    pub auth: AuthConfig,
    /// Limits on failed authentication and floods (see [`rate_limit`]).
    pub rate_limit: RateLimitConfig,
    /// A request head must arrive completely within this (also the keep-alive idle limit).
    /// Default 5 s.
    pub header_read_timeout: Duration,
    /// Hard cap on a connection's lifetime. Default 30 s.
    pub connection_timeout: Duration,
    /// Maximum request head size (request line plus headers), in bytes. Default 4096.
    pub max_header_bytes: usize,
    /// Maximum number of request headers. Default 32.
    pub max_headers: usize,
    /// Connections served at once; at the limit a new one closes the oldest. Default 16.
    pub max_connections: usize,
    /// On shutdown, how long open connections get to finish their current response. Default 2 s.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// Defaults, listening on `0.0.0.0:7547` at `path`.
    pub fn new(path: impl Into<String>) -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PORT)),
            path: path.into(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            header_read_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(30),
            max_header_bytes: 4096,
            max_headers: 32,
            max_connections: 16,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}

/// "The ACS asked for a session": sent to the agent after an authenticated connection request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionRequested {
    /// Peer of the (first, if coalesced) accepted request.
    pub from: SocketAddr,
    /// When it was accepted.
    pub at: Instant,
}

/// Errors from [`ConnectionRequestServer::bind`].
#[derive(Debug, thiserror::Error)]
pub enum CrServerError {
    /// The configured path is not an acceptable absolute path.
    #[error("invalid connection request path: {0}")]
    InvalidPath(&'static str),
    /// Binding the listening socket failed.
    #[error("cannot listen for connection requests on {addr}: {source}")]
    Bind {
        /// The address we tried.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Namespace for [`ConnectionRequestServer::bind`].
#[derive(Debug)]
pub struct ConnectionRequestServer;

impl ConnectionRequestServer {
    /// Start listening. Returns the handle (address, shutdown) and the receiver the agent reads
    /// [`ConnectionRequested`] from (see the module docs for how requests are coalesced).
    ///
    /// `settings` is read on every request, so credential changes apply immediately.
    pub async fn bind(
        config: ServerConfig,
        settings: watch::Receiver<CrSettings>,
    ) -> Result<(ConnectionRequestHandle, mpsc::Receiver<ConnectionRequested>), CrServerError> {
        let (server, rx) = CrConnectionServer::new(&config, settings)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| CrServerError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| CrServerError::Bind {
                addr: config.listen,
                source,
            })?;
        tracing::info!(%local_addr, "connection request server listening");
        let shutdown = server.shutdown.clone();
        let task = tokio::spawn(accept_loop(listener, server, config));
        Ok((
            ConnectionRequestHandle {
                local_addr,
                shutdown,
                task: Some(task),
            },
            rx,
        ))
    }
}

/// The connection-request server without its listening socket: serves connections somebody
/// else accepted, each through hyper and the request handling of the module docs (path,
/// method, limits, Digest, the signal to the agent). [`ConnectionRequestServer::bind`]'s accept
/// loop hands it every TCP connection; tests and the fuzz target `cr_http` hand it in-memory
/// streams, so they exercise the same code without sockets. Clones share the Digest nonces, the
/// limits and the signal channel.
#[derive(Clone)]
pub struct CrConnectionServer {
    builder: http1::Builder,
    shared: Arc<Shared>,
    /// [`ServerConfig::connection_timeout`].
    lifetime: Duration,
    /// Set to true to have open connections finish their current response and close.
    shutdown: Arc<watch::Sender<bool>>,
}

impl fmt::Debug for CrConnectionServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrConnectionServer")
            .field("path", &self.shared.path)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl CrConnectionServer {
    /// A server for `config` (its listening address is not used). Returns it and the receiver
    /// the agent reads [`ConnectionRequested`] from, as [`ConnectionRequestServer::bind`] does.
    pub fn new(
        config: &ServerConfig,
        settings: watch::Receiver<CrSettings>,
    ) -> Result<(Self, mpsc::Receiver<ConnectionRequested>), CrServerError> {
        validate_path(&config.path)?;
        let (tx, rx) = mpsc::channel(1);
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .max_buf_size(8192usize.max(config.max_header_bytes))
            .max_header_size(config.max_header_bytes)
            .max_headers(config.max_headers)
            .keep_alive(true)
            .half_close(false);
        let shared = Arc::new(Shared {
            path: config.path.clone(),
            auth: Mutex::new(DigestAuthenticator::new(config.auth.clone())),
            limiter: Mutex::new(RateLimiter::new(config.rate_limit.clone())),
            settings,
            tx,
        });
        Ok((
            Self {
                builder,
                shared,
                lifetime: config.connection_timeout,
                shutdown: Arc::new(watch::channel(false).0),
            },
            rx,
        ))
    }

    /// Serves one accepted connection from `peer` (the address the limits count and the logs
    /// name) until the client closes it, hyper gives up on it (a bad or slow request head), its
    /// lifetime ([`ServerConfig::connection_timeout`]) is over, or the server shuts down.
    pub async fn serve_connection<IO>(&self, io: IO, peer: SocketAddr)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut shutdown = self.shutdown.subscribe();
        let shared = self.shared.clone();
        let service = service_fn(move |req: Request<hyper::body::Incoming>| {
            // The body is never read: it is dropped with `req`, and hyper closes the connection
            // rather than drain a body nobody wants.
            let resp = shared.handle(peer, &req);
            async move { Ok::<_, Infallible>(resp) }
        });
        let conn = self.builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let deadline = tokio::time::sleep(self.lifetime);
        tokio::pin!(deadline);
        let mut shutting_down = false;
        loop {
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(%peer, error = %e, "connection request connection ended");
                    }
                    return;
                }
                () = stopped(&mut shutdown), if !shutting_down => {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = &mut deadline => {
                    tracing::debug!(%peer, "connection request connection lifetime exceeded");
                    return;
                }
            }
        }
    }
}

/// Controls a running server. Dropping it also stops the server (without waiting).
#[derive(Debug)]
pub struct ConnectionRequestHandle {
    local_addr: SocketAddr,
    /// The server's (see [`CrConnectionServer`]): stops the accept loop and the connections.
    shutdown: Arc<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl ConnectionRequestHandle {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, let open connections finish their current response (up to
    /// [`ServerConfig::shutdown_grace`]), close everything and wait for it.
    pub async fn shutdown(mut self) {
        self.shutdown.send_replace(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ConnectionRequestHandle {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// A fresh random path: `/` followed by [`RANDOM_PATH_LEN`] alphanumeric characters (~142 bits).
pub fn random_path() -> String {
    crate::cpe::random_path(&mut crate::cpe::SystemEntropy)
}

pub use crate::cpe::connection_request_url;

/// The local address the host currently uses to reach `toward` (normally the ACS): a UDP socket
/// is connected to it (no packet is sent) and its local address read. The agent calls this
/// periodically to follow address changes (DHCP renewals, PPP reconnects) and republish
/// [`connection_request_url`].
pub fn primary_local_ip(toward: SocketAddr) -> io::Result<IpAddr> {
    let any: SocketAddr = match toward {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(any)?;
    socket.connect(toward)?;
    let ip = socket.local_addr()?.ip();
    if ip.is_unspecified() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "no local address routes toward the ACS",
        ));
    }
    Ok(ip)
}

fn validate_path(path: &str) -> Result<(), CrServerError> {
    if !path.starts_with('/') {
        return Err(CrServerError::InvalidPath("must start with '/'"));
    }
    if path.len() > 256 {
        return Err(CrServerError::InvalidPath("longer than 256 bytes"));
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
    {
        return Err(CrServerError::InvalidPath(
            "only visible ASCII without '?' or '#' is allowed",
        ));
    }
    Ok(())
}

struct Shared {
    path: String,
    auth: Mutex<DigestAuthenticator>,
    limiter: Mutex<RateLimiter>,
    settings: watch::Receiver<CrSettings>,
    tx: mpsc::Sender<ConnectionRequested>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn handle<B>(&self, peer: SocketAddr, req: &Request<B>) -> Response<CrBody> {
        if !auth::ct_eq(req.uri().path().as_bytes(), self.path.as_bytes()) {
            tracing::debug!(%peer, "connection request: wrong path");
            return empty(StatusCode::NOT_FOUND);
        }
        if req.method() != Method::GET {
            tracing::debug!(%peer, method = %req.method(), "connection request: method not allowed");
            let mut resp = empty(StatusCode::METHOD_NOT_ALLOWED);
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return resp;
        }
        let now = Instant::now();
        let class = if req.headers().contains_key(AUTHORIZATION) {
            RequestClass::Answer
        } else {
            RequestClass::Unauthenticated
        };
        // Admission, verification and accounting under one lock: concurrent requests from a
        // guesser cannot get more verified attempts than its bucket holds.
        let mut limiter = lock(&self.limiter);
        if let Decision::Deny(refusal) = limiter.admit(peer.ip(), class, now) {
            return refused(peer, refusal);
        }
        let settings = self.settings.borrow().clone();
        if !settings.enabled {
            limiter.record(peer.ip(), Outcome::Challenged, now);
            tracing::debug!(%peer, "connection request refused: disabled");
            return empty(StatusCode::FORBIDDEN);
        }
        let creds = Credentials {
            username: &settings.username,
            password: &settings.password,
        };
        // A header that is not visible ASCII is passed as a non-ASCII marker: refused as malformed.
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let target = req.uri().to_string();
        let outcome = lock(&self.auth).check(now, &creds, "GET", &target, authorization);
        limiter.record(peer.ip(), tally(&outcome), now);
        drop(limiter);
        match outcome {
            AuthOutcome::Accepted => {
                tracing::info!(%peer, "connection request accepted");
                let signal = Signal {
                    tx: self.tx.clone(),
                    msg: ConnectionRequested {
                        from: peer,
                        at: now,
                    },
                };
                let mut resp = Response::new(CrBody::firing(move || signal.fire()));
                resp.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                resp
            }
            AuthOutcome::Rejected {
                reason,
                challenge,
                stale,
            } => {
                if reason == Rejection::Missing {
                    // The first half of every normal exchange: not worth a log line.
                    tracing::debug!(%peer, "connection request challenged");
                } else {
                    tracing::info!(%peer, ?reason, stale, "connection request not authenticated");
                }
                let mut resp = empty(StatusCode::UNAUTHORIZED);
                match HeaderValue::from_str(&challenge) {
                    Ok(v) => {
                        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
                    }
                    Err(_) => tracing::error!("digest challenge is not a valid header value"),
                }
                resp
            }
        }
    }
}

/// What an authentication outcome costs the source (see [`rate_limit`]): only an answer that
/// does not authenticate is a failure; fetching a challenge, or answering right to a nonce that
/// went stale, is part of the normal exchange.
pub(crate) fn tally(outcome: &AuthOutcome) -> Outcome {
    match outcome {
        AuthOutcome::Accepted => Outcome::Accepted,
        AuthOutcome::Rejected { stale: true, .. }
        | AuthOutcome::Rejected {
            reason: Rejection::Missing | Rejection::NoCredentials,
            ..
        } => Outcome::Challenged,
        AuthOutcome::Rejected { .. } => Outcome::Failed,
    }
}

/// The answer to a request a limit refused (see the module docs for the choice of status).
fn refused(peer: SocketAddr, refusal: Refusal) -> Response<CrBody> {
    match refusal.scope {
        LimitScope::FailedAuth | LimitScope::Challenges => {
            if refusal.first {
                tracing::warn!(
                    %peer,
                    scope = ?refusal.scope,
                    retry_after = ?refusal.retry_after,
                    "connection requests from this source refused (429) for now; further \
                     refusals are logged at debug level"
                );
            } else {
                tracing::debug!(%peer, scope = ?refusal.scope, "connection request refused (429)");
            }
            let mut resp = empty(StatusCode::TOO_MANY_REQUESTS);
            // Whole seconds, rounded up so that a retry at that time is admitted.
            let secs =
                refusal.retry_after.as_secs() + u64::from(refusal.retry_after.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
            resp
        }
        LimitScope::Global => {
            if refusal.first {
                tracing::warn!(
                    %peer,
                    "connection request flood: every source refused (503) until the global \
                     limit refills; further refusals are logged at debug level"
                );
            } else {
                tracing::debug!(%peer, "connection request refused (503): global limit");
            }
            // TR-069: the rate-limit 503 SHOULD NOT carry Retry-After.
            empty(StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

fn empty(status: StatusCode) -> Response<CrBody> {
    let mut resp = Response::new(CrBody::empty());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

struct Signal {
    tx: mpsc::Sender<ConnectionRequested>,
    msg: ConnectionRequested,
}

impl Signal {
    fn fire(self) {
        match self.tx.try_send(self.msg) {
            Ok(()) => tracing::debug!("session requested"),
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!("connection request coalesced into the pending session")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("connection request accepted but the agent is not listening")
            }
        }
    }
}

/// The (always empty) response body of a connection-request listener (the daemon's and the
/// fleet's). For an accepted request it carries what wakes the session, fired when hyper is done
/// with the body (polled to its end or dropped) — i.e. after the response head has been encoded,
/// so the answer leaves before the session starts.
pub struct CrBody {
    on_sent: Option<Box<dyn FnOnce() + Send>>,
}

impl CrBody {
    pub(crate) fn empty() -> CrBody {
        CrBody { on_sent: None }
    }

    pub(crate) fn firing(on_sent: impl FnOnce() + Send + 'static) -> CrBody {
        CrBody {
            on_sent: Some(Box::new(on_sent)),
        }
    }

    fn fire(&mut self) {
        if let Some(f) = self.on_sent.take() {
            f();
        }
    }
}

impl fmt::Debug for CrBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CrBody")
            .field("signals", &self.on_sent.is_some())
            .finish()
    }
}

impl Body for CrBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.get_mut().fire();
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        true
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(0)
    }
}

impl Drop for CrBody {
    fn drop(&mut self) {
        self.fire();
    }
}

/// Resolves once shutdown was requested (or the handle is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn accept_loop(listener: TcpListener, server: CrConnectionServer, config: ServerConfig) {
    let mut shutdown = server.shutdown.subscribe();
    let max = config.max_connections.max(1);
    let mut conns = JoinSet::new();
    // Open connections, oldest first (handles of finished ones are pruned lazily).
    let mut open: std::collections::VecDeque<tokio::task::AbortHandle> =
        std::collections::VecDeque::new();
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    while conns.try_join_next().is_some() {}
                    open.retain(|h| !h.is_finished());
                    if open.len() >= max {
                        // Aborted tasks leave `conns` when joined: at most `max` of them wait
                        // there, so the sockets held stay below twice the limit.
                        if conns.len() >= 2 * max {
                            tracing::warn!(%peer, "connection request: too many connections, closing");
                            drop(stream);
                            continue;
                        }
                        if let Some(oldest) = open.pop_front() {
                            tracing::warn!(%peer, "connection request: too many connections, closing the oldest");
                            oldest.abort();
                        }
                    }
                    let _ = stream.set_nodelay(true);
                    let server = server.clone();
                    let fut = async move { server.serve_connection(stream, peer).await };
                    open.push_back(conns.spawn(fut));
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "connection request accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    drop(listener);
    tracing::info!("connection request server stopping");
    let drained = tokio::time::timeout(config.shutdown_grace, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_formatting() {
        assert_eq!(
            connection_request_url("192.0.2.1".parse().unwrap(), 7547, "/abc"),
            "http://192.0.2.1:7547/abc"
        );
        assert_eq!(
            connection_request_url("2001:db8::1".parse().unwrap(), 7547, "/abc"),
            "http://[2001:db8::1]:7547/abc"
        );
        assert_eq!(
            connection_request_url("::ffff:192.0.2.1".parse().unwrap(), 30005, "abc"),
            "http://192.0.2.1:30005/abc"
        );
    }

    #[test]
    fn random_paths_are_url_safe_and_distinct() {
        let a = random_path();
        let b = random_path();
        assert_ne!(a, b);
        assert_eq!(a.len(), 1 + RANDOM_PATH_LEN);
        assert!(a.starts_with('/'));
        assert!(a[1..].bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert!(validate_path(&a).is_ok());
    }

    #[test]
    fn path_validation() {
        assert!(validate_path("/ok-path_1").is_ok());
        assert!(validate_path("no-slash").is_err());
        assert!(validate_path("/with?query").is_err());
        assert!(validate_path("/with space").is_err());
        assert!(validate_path(&format!("/{}", "a".repeat(300))).is_err());
    }

    #[test]
    fn primary_ip_toward_loopback_is_loopback() {
        let ip = primary_local_ip("127.0.0.1:7547".parse().unwrap()).unwrap();
        assert_eq!(ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn settings_debug_masks_password() {
        let s = CrSettings {
            username: "acs".into(),
            password: "hunter2".into(),
            enabled: true,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn only_answers_that_fail_count_as_failed_authentication() {
        let rejected = |reason, stale| AuthOutcome::Rejected {
            reason,
            challenge: String::new(),
            stale,
        };
        assert_eq!(tally(&AuthOutcome::Accepted), Outcome::Accepted);
        // The normal exchange's first GET, and states no guess can cause.
        assert_eq!(
            tally(&rejected(Rejection::Missing, false)),
            Outcome::Challenged
        );
        assert_eq!(
            tally(&rejected(Rejection::NoCredentials, false)),
            Outcome::Challenged
        );
        // Right credentials on an old nonce.
        for reason in [Rejection::ExpiredNonce, Rejection::UnknownNonce] {
            assert_eq!(tally(&rejected(reason, true)), Outcome::Challenged);
            assert_eq!(tally(&rejected(reason, false)), Outcome::Failed);
        }
        for reason in [
            Rejection::BadCredentials,
            Rejection::Replay,
            Rejection::OpaqueMismatch,
            Rejection::WrongRealm,
            Rejection::WrongUri,
            Rejection::Malformed,
            Rejection::NotDigest,
        ] {
            assert_eq!(
                tally(&rejected(reason, false)),
                Outcome::Failed,
                "{reason:?}"
            );
        }
    }

    #[test]
    fn default_config() {
        let c = ServerConfig::new("/p");
        assert_eq!(c.listen, "0.0.0.0:7547".parse().unwrap());
        assert_eq!(c.auth.nonce_lifetime, Duration::from_secs(60));
    }
}
