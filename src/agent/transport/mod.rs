//! HTTP(S) client toward the ACS: the edge one CWMP session moves its bytes through.
//!
//! One [`SessionConnection`] per CWMP session. It keeps one HTTP/1.1 connection alive (hyper 1
//! client connection API over TCP or tokio-rustls), POSTs one message at a time (no pipelining),
//! and takes care of what TR-069 §3.4 puts at the HTTP layer:
//!
//! - headers: `Content-Type: text/xml; charset="utf-8"` and an empty `SOAPAction:` on POSTs that
//!   carry a body, `Content-Length: 0` on the empty POST, `Host`, `User-Agent`;
//! - session cookies (a fresh, bounded jar per session, see [`cookies`]);
//! - Basic and Digest authentication (answered on the same connection when it stays open,
//!   repeated on every later request of the session);
//! - redirects (301/302/307) only in reply to the Inform, at most [`MAX_REDIRECTS`] per session,
//!   the new location used for the rest of this session only ([`SessionConnection::current_url`]);
//! - transparent reconnection when the ACS closes the connection between two requests (the
//!   cookie keeps the session correlated);
//! - connect timeout, per-request timeout and a response size limit;
//! - `Retry-After` on 503/429 surfaced to the scheduler ([`TransportError::retry_after`]).
//!
//! Errors are [`TransportError`]s whose Display is a sentence for the operator
//! (`last-session-error`) and whose [`TransportError::kind`] is for the scheduler.

// auth, error, target and tls are crate-visible so the file-transfer engine (`crate::transfer`)
// shares the same URL rules, TLS trust and HTTP authentication as the ACS connection.
pub(crate) mod auth;
mod cookies;
pub(crate) mod error;
mod retry_after;
pub(crate) mod target;
pub(crate) mod tls;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, LOCATION, RETRY_AFTER,
    SET_COOKIE, USER_AGENT,
};
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub use error::{ErrorKind, TransportError};

use auth::AuthState;
use cookies::CookieJar;
use error::{describe_tls, find_io_kind, find_rustls_error};
use target::Target;

/// Redirects followed per session at most (TR-069 §3.4.5).
pub const MAX_REDIRECTS: u32 = 5;
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time the ACS has to answer one POST (TR-069 asks for at least 30 s).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default response size limit (4 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// How to reach the ACS.
#[derive(Clone)]
pub struct TransportConfig {
    /// `http://…` or `https://…` (ManagementServer.URL).
    pub acs_url: String,
    /// ManagementServer.Username; no credentials are sent unless the ACS challenges.
    pub username: Option<String>,
    /// ManagementServer.Password (never logged; masked in Debug).
    pub password: Option<String>,
    pub tls: TlsSettings,
    /// DNS + TCP connect + TLS handshake.
    pub connect_timeout: Duration,
    /// From sending a POST to having its whole answer.
    pub request_timeout: Duration,
    pub max_response_bytes: usize,
    pub user_agent: String,
}

impl TransportConfig {
    /// A configuration with the defaults (30 s timeouts, 4 MiB, no credentials, verified TLS).
    pub fn new(acs_url: impl Into<String>) -> Self {
        Self {
            acs_url: acs_url.into(),
            username: None,
            password: None,
            tls: TlsSettings::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            user_agent: format!("tr069-client/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Sets username and password.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("acs_url", &self.acs_url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// TLS settings for `https://` ACS URLs.
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// Extra trusted CA certificates (PEM, one or several), on top of the compiled-in webpki roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    pub client_certificate: Option<ClientCertificate>,
    /// Lab mode: accept any server certificate. Logged as a warning on every session.
    pub insecure: bool,
}

/// A PEM certificate chain (leaf first) and its PEM private key (PKCS#8, PKCS#1 or SEC1).
/// Both may name the same file when it holds the certificate and the key.
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    pub cert_chain_pem: PathBuf,
    pub private_key_pem: PathBuf,
}

/// The ACS's answer to one POST (any 2xx).
#[derive(Debug, Clone)]
pub struct AcsReply {
    pub status: u16,
    pub body: Bytes,
    pub content_type: Option<String>,
    /// `Retry-After`, if the ACS sent one.
    pub retry_after: Option<Duration>,
    /// The ACS closed the connection after this answer (`Connection: close`).
    pub connection_closed: bool,
}

impl AcsReply {
    /// 204, or (leniently) any answer without content: the ACS has no more requests.
    pub fn is_empty(&self) -> bool {
        self.status == 204 || self.body.iter().all(u8::is_ascii_whitespace)
    }
}

struct Conn {
    sender: SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
    /// Digest client nonce: one per TCP connection.
    cnonce: String,
    /// A request has completed on this connection already.
    used: bool,
}

/// One CWMP session's HTTP(S) connection to the ACS.
pub struct SessionConnection {
    config: TransportConfig,
    target: Target,
    tls: Option<Arc<ClientConfig>>,
    conn: Option<Conn>,
    cookies: CookieJar,
    auth: AuthState,
    redirects: u32,
    connections_opened: u32,
}

impl fmt::Debug for SessionConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConnection")
            .field("url", &self.target.url)
            .field("connected", &self.conn.is_some())
            .field("redirects", &self.redirects)
            .field("connections_opened", &self.connections_opened)
            .finish_non_exhaustive()
    }
}

enum SendError {
    /// Failed before a response head arrived.
    Request(hyper::Error),
    /// Failed while reading the response body.
    Body(String),
    TooLarge,
}

impl SessionConnection {
    /// Opens the connection for a new session (DNS, TCP, TLS). Cookies and auth start empty.
    pub async fn open(config: &TransportConfig) -> Result<Self, TransportError> {
        let target = Target::parse(&config.acs_url)?;
        if config.tls.insecure && target.https {
            tracing::warn!(
                url = %target.url,
                "TLS certificate verification is OFF (insecure lab setting): the ACS is not authenticated"
            );
        }
        let mut session = Self {
            config: config.clone(),
            target,
            tls: None,
            conn: None,
            cookies: CookieJar::new(),
            auth: AuthState::default(),
            redirects: 0,
            connections_opened: 0,
        };
        session.connect().await?;
        Ok(session)
    }

    /// The URL in use for this session (differs from the configured one after a redirect).
    pub fn current_url(&self) -> &str {
        &self.target.url
    }

    /// Redirects followed so far in this session.
    pub fn redirect_count(&self) -> u32 {
        self.redirects
    }

    /// TCP connections opened so far in this session (1 unless the ACS closed connections).
    pub fn connections_opened(&self) -> u32 {
        self.connections_opened
    }

    /// POSTs one message (`None` = the empty POST) and returns the ACS's answer.
    ///
    /// `is_inform` must be true for the Inform: only its answer may redirect.
    pub async fn post(
        &mut self,
        body: Option<Bytes>,
        is_inform: bool,
    ) -> Result<AcsReply, TransportError> {
        let body = body.unwrap_or_default();
        let mut answered_challenge = false;
        let mut stale_retried = false;
        loop {
            let (parts, resp_body) = self.exchange(&body).await?;
            for value in parts.headers.get_all(SET_COOKIE) {
                if let Ok(v) = value.to_str() {
                    self.cookies.store(&self.target.host, v);
                }
            }
            let status = parts.status.as_u16();
            let retry_after = parts
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after::parse_retry_after(v, SystemTime::now()));
            match status {
                401 => {
                    if self.config.username.is_none() {
                        return Err(TransportError::AuthMissingCredentials);
                    }
                    match auth::pick_challenge(&parts.headers) {
                        Err(offered) => return Err(TransportError::AuthUnsupported(offered)),
                        Ok(None) if self.auth.is_active() => {
                            return Err(TransportError::AuthRejected {
                                scheme: self.auth.scheme_name(),
                            });
                        }
                        Ok(None) => {
                            return Err(TransportError::AuthUnsupported(
                                "the 401 carried no WWW-Authenticate challenge".into(),
                            ));
                        }
                        Ok(Some(challenge)) => {
                            if answered_challenge {
                                // A fresh challenge after we answered one: wrong credentials,
                                // unless the server only says our nonce went stale.
                                if !challenge.stale() || stale_retried {
                                    return Err(TransportError::AuthRejected {
                                        scheme: self.auth.scheme_name(),
                                    });
                                }
                                stale_retried = true;
                            }
                            answered_challenge = true;
                            self.auth.adopt(challenge);
                            if matches!(self.auth, AuthState::Basic) && !self.target.https {
                                tracing::warn!(
                                    url = %self.target.url,
                                    "the ACS asks for HTTP Basic over plain HTTP: the password crosses the network in clear text"
                                );
                            }
                            continue;
                        }
                    }
                }
                301 | 302 | 307 => {
                    let location = parts
                        .headers
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    if !is_inform {
                        return Err(TransportError::RedirectNotAllowed {
                            status,
                            location: location.unwrap_or_else(|| "(no Location)".into()),
                        });
                    }
                    let Some(location) = location else {
                        return Err(TransportError::BadRedirect {
                            status,
                            reason: "no Location header".into(),
                        });
                    };
                    let next = self.target.resolve(&location).map_err(|e| {
                        TransportError::BadRedirect {
                            status,
                            reason: e.to_string(),
                        }
                    })?;
                    self.redirects += 1;
                    if self.redirects > MAX_REDIRECTS {
                        return Err(TransportError::TooManyRedirects {
                            max: MAX_REDIRECTS,
                            location: next.url,
                        });
                    }
                    tracing::info!(from = %self.target.url, to = %next.url, status, "ACS redirected the Inform");
                    if !next.same_origin(&self.target) {
                        self.drop_conn();
                        self.auth = AuthState::None;
                    }
                    self.target = next;
                    answered_challenge = false;
                    stale_retried = false;
                    continue;
                }
                200..=299 => {
                    return Ok(AcsReply {
                        status,
                        body: resp_body,
                        content_type: parts
                            .headers
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string),
                        retry_after,
                        connection_closed: wants_close(&parts),
                    });
                }
                _ => {
                    return Err(TransportError::HttpStatus {
                        status,
                        reason: parts.status.canonical_reason(),
                        retry_after,
                    });
                }
            }
        }
    }

    /// Ends the session's connection gracefully.
    pub async fn close(mut self) {
        if let Some(conn) = self.conn.take() {
            let Conn { sender, task, .. } = conn;
            drop(sender);
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn drop_conn(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.task.abort();
        }
    }

    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, TransportError> {
        if let Some(cfg) = &self.tls {
            return Ok(cfg.clone());
        }
        let cfg = tls::client_config(&self.config.tls)?;
        self.tls = Some(cfg.clone());
        Ok(cfg)
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        self.drop_conn();
        let target = self.target.clone();
        let tls = if target.https {
            Some(self.tls_config()?)
        } else {
            None
        };
        let after = self.config.connect_timeout;
        let conn = match tokio::time::timeout(after, connect_to(&target, tls)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(TransportError::ConnectTimeout {
                    target: target.display_addr(),
                    after,
                });
            }
        };
        self.connections_opened += 1;
        tracing::debug!(url = %target.url, n = self.connections_opened, "connected to the ACS");
        self.conn = Some(conn);
        Ok(())
    }

    fn build_request(
        &mut self,
        body: &Bytes,
        cnonce: &str,
    ) -> Result<Request<Full<Bytes>>, TransportError> {
        let t = &self.target;
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(t.path.as_str())
            .header(HOST, t.host_header.as_str())
            .header(USER_AGENT, self.config.user_agent.as_str());
        if !body.is_empty() {
            b = b
                .header(CONTENT_TYPE, "text/xml; charset=\"utf-8\"")
                .header("SOAPAction", "");
        }
        b = b.header(CONTENT_LENGTH, body.len());
        if let Some(cookie) = self.cookies.header_for(&t.host, &t.path) {
            b = b.header(COOKIE, cookie);
        }
        if let Some(username) = &self.config.username {
            let password = self.config.password.as_deref().unwrap_or("");
            if let Some(value) = self
                .auth
                .authorization(username, password, &t.path, body, cnonce)
                .map_err(TransportError::AuthUnsupported)?
            {
                b = b.header(AUTHORIZATION, value);
            }
        }
        b.body(Full::new(body.clone())).map_err(|e| {
            TransportError::Protocol(format!(
                "cannot build the request (check user-agent/URL): {e}"
            ))
        })
    }

    /// One HTTP request/response on the session connection, reconnecting when the ACS closed
    /// it. A request that fails on a reused connection before any answer (the ACS closed it
    /// while idle) is retried once on a new connection.
    async fn exchange(
        &mut self,
        body: &Bytes,
    ) -> Result<(http::response::Parts, Bytes), TransportError> {
        for attempt in 0..2 {
            if self.conn.as_ref().is_none_or(|c| c.sender.is_closed()) {
                self.connect().await?;
            }
            let cnonce = match &self.conn {
                Some(c) => c.cnonce.clone(),
                None => return Err(TransportError::Closed),
            };
            let req = self.build_request(body, &cnonce)?;
            let limit = self.config.max_response_bytes;
            let after = self.config.request_timeout;
            let Some(conn) = self.conn.as_mut() else {
                return Err(TransportError::Closed);
            };
            let reused = conn.used;
            let result =
                tokio::time::timeout(after, send_and_collect(&mut conn.sender, req, limit)).await;
            match result {
                Err(_) => {
                    self.drop_conn();
                    return Err(TransportError::Timeout { after });
                }
                Ok(Err(SendError::Request(e))) => {
                    self.drop_conn();
                    if reused && attempt == 0 && retryable(&e) {
                        tracing::debug!(error = %e, "ACS closed the idle connection; reconnecting");
                        continue;
                    }
                    return Err(map_hyper_error(&e, &self.target.host));
                }
                Ok(Err(SendError::Body(msg))) => {
                    self.drop_conn();
                    return Err(TransportError::Protocol(format!(
                        "the ACS's answer broke off: {msg}"
                    )));
                }
                Ok(Err(SendError::TooLarge)) => {
                    self.drop_conn();
                    return Err(TransportError::TooLarge { limit });
                }
                Ok(Ok((parts, bytes))) => {
                    conn.used = true;
                    if wants_close(&parts) {
                        self.drop_conn();
                    }
                    return Ok((parts, bytes));
                }
            }
        }
        Err(TransportError::Closed)
    }
}

async fn send_and_collect(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
    limit: usize,
) -> Result<(http::response::Parts, Bytes), SendError> {
    sender.ready().await.map_err(SendError::Request)?;
    let resp = sender.send_request(req).await.map_err(SendError::Request)?;
    let (parts, body) = resp.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(SendError::TooLarge);
    }
    let collected = Limited::new(body, limit).collect().await.map_err(|e| {
        if e.downcast_ref::<LengthLimitError>().is_some() {
            SendError::TooLarge
        } else {
            SendError::Body(e.to_string())
        }
    })?;
    Ok((parts, collected.to_bytes()))
}

fn wants_close(parts: &http::response::Parts) -> bool {
    let tokens = |want: &str| {
        parts.headers.get_all(CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
        })
    };
    tokens("close") || (parts.version == Version::HTTP_10 && !tokens("keep-alive"))
}

/// The ACS dropped an idle kept-alive connection before reading our request.
fn retryable(e: &hyper::Error) -> bool {
    if find_rustls_error(e).is_some() {
        return false;
    }
    e.is_canceled()
        || e.is_closed()
        || e.is_incomplete_message()
        || matches!(
            find_io_kind(e),
            Some(
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
            )
        )
}

fn map_hyper_error(e: &hyper::Error, host: &str) -> TransportError {
    if let Some(tls) = find_rustls_error(e) {
        return TransportError::Tls(describe_tls(tls, host));
    }
    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() {
        return TransportError::Closed;
    }
    if let Some(kind) = find_io_kind(e) {
        if matches!(
            kind,
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
        ) {
            return TransportError::Closed;
        }
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return TransportError::Protocol(format!("malformed HTTP answer ({e})"));
    }
    TransportError::Protocol(e.to_string())
}

fn new_cnonce() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn connect_to(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
) -> Result<Conn, TransportError> {
    let addrs: Vec<SocketAddr> =
        match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => {
                tracing::debug!(host = %target.host, error = %e, "DNS resolution failed");
                return Err(TransportError::Resolve {
                    host: target.host.clone(),
                });
            }
        };
    if addrs.is_empty() {
        return Err(TransportError::Resolve {
            host: target.host.clone(),
        });
    }
    let mut stream = None;
    let mut last_error = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some((addr, e)),
        }
    }
    let Some(stream) = stream else {
        return Err(connect_error(target, last_error));
    };
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let mut builder = hyper::client::conn::http1::Builder::new();
    builder.title_case_headers(true);
    let handshake_error =
        |e: hyper::Error| TransportError::Protocol(format!("HTTP connection setup failed: {e}"));
    let (sender, task) = match tls {
        None => {
            let (sender, connection) = builder
                .handshake(TokioIo::new(stream))
                .await
                .map_err(handshake_error)?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "ACS connection ended with an error");
                }
            });
            (sender, task)
        }
        Some(cfg) => {
            let name = ServerName::try_from(target.host.clone()).map_err(|_| {
                TransportError::InvalidUrl {
                    url: target.url.clone(),
                    reason: "the host is not a valid TLS server name".into(),
                }
            })?;
            let tls_stream = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, stream)
                .await
                .map_err(|e| tls_handshake_error(&e, &target.host))?;
            let (sender, connection) = builder
                .handshake(TokioIo::new(tls_stream))
                .await
                .map_err(handshake_error)?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "ACS connection ended with an error");
                }
            });
            (sender, task)
        }
    };
    Ok(Conn {
        sender,
        task,
        cnonce: new_cnonce(),
        used: false,
    })
}

fn connect_error(target: &Target, last: Option<(SocketAddr, std::io::Error)>) -> TransportError {
    let Some((addr, e)) = last else {
        return TransportError::ConnectFailed {
            target: target.display_addr(),
            reason: "no address to connect to".into(),
        };
    };
    let where_ = if target.host.parse::<std::net::IpAddr>().is_ok() {
        addr.to_string()
    } else {
        format!("{} ({addr})", target.display_addr())
    };
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => TransportError::ConnectRefused { target: where_ },
        std::io::ErrorKind::HostUnreachable => TransportError::ConnectFailed {
            target: where_,
            reason: "host unreachable".into(),
        },
        std::io::ErrorKind::NetworkUnreachable => TransportError::ConnectFailed {
            target: where_,
            reason: "network unreachable".into(),
        },
        _ => TransportError::ConnectFailed {
            target: where_,
            reason: e.to_string(),
        },
    }
}

fn tls_handshake_error(e: &std::io::Error, host: &str) -> TransportError {
    if let Some(tls) = find_rustls_error(e) {
        return TransportError::Tls(describe_tls(tls, host));
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset => {
            TransportError::Tls(format!(
                "{host} closed the connection during the handshake (is it really HTTPS?)"
            ))
        }
        _ => TransportError::Tls(format!("handshake with {host} failed: {e}")),
    }
}
