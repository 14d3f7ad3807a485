//! HTTP(S) client toward the ACS: the edge one CWMP session moves its bytes through.
//!
//! One [`SessionConnection`] per CWMP session. It keeps one HTTP/1.1 connection alive (a
//! [`Client`]), POSTs one message at a time (no pipelining), and takes care of what TR-069 §3.4
//! puts at the HTTP layer:
//!
//! - headers: `Content-Type: text/xml; charset="utf-8"` and an empty `SOAPAction:` on POSTs that
//!   carry a body, `Content-Length: 0` on the empty POST, `Host`, `User-Agent`;
//! - session cookies (a fresh, bounded jar per session);
//! - Basic and Digest authentication (answered on the same connection when it stays open,
//!   repeated on every later request of the session);
//! - redirects (301/302/307) only in reply to the Inform, at most [`MAX_REDIRECTS`] per
//!   session, the new location used for the rest of this session only
//!   ([`SessionConnection::current_url`]);
//! - transparent reconnection when the ACS closes the connection between two requests (the
//!   cookie keeps the session correlated);
//! - connect timeout, per-request timeout and a response size limit;
//! - `Retry-After` on 503/429 surfaced to the scheduler ([`TransportError::retry_after`]).
//!
//! Errors are [`TransportError`]s whose Display is a sentence for the operator
//! (`last-session-error`) and whose [`TransportError::kind`] is for the scheduler.

mod error;

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, RETRY_AFTER, SET_COOKIE, USER_AGENT,
};
use http::{Method, Request};
use http_body_util::{BodyExt, LengthLimitError, Limited};

pub use error::{ErrorKind, TransportError};

use super::cookies::CookieJar;
use super::retry_after::parse_retry_after;
use super::{
    Authenticator, Client, DEFAULT_USER_AGENT, Dialer, MAX_REDIRECTS, SendError, Target,
    TlsSettings, full_body, location, wants_close,
};
use error::{connect_error, request_error};

/// How the ACS is named in TLS messages and logs.
const PEER: &str = "the ACS";

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
    /// Opens the connections' byte streams: TCP ([`Dialer::default`]) except in tests and the
    /// fuzz target `acs_http`, which serve the ACS's side from memory.
    pub dialer: Dialer,
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
            user_agent: DEFAULT_USER_AGENT.to_string(),
            dialer: Dialer::default(),
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
            .field("dialer", &self.dialer)
            .finish()
    }
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

/// One CWMP session's HTTP(S) connection to the ACS.
pub struct SessionConnection {
    config: TransportConfig,
    target: Target,
    client: Client,
    cookies: CookieJar,
    auth: Authenticator,
    redirects: u32,
}

impl fmt::Debug for SessionConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConnection")
            .field("url", &self.target.url)
            .field("redirects", &self.redirects)
            .field("connections_opened", &self.client.connections_opened())
            .finish_non_exhaustive()
    }
}

impl SessionConnection {
    /// Opens the connection for a new session (DNS, TCP, TLS). Cookies and auth start empty.
    pub async fn open(config: &TransportConfig) -> Result<Self, TransportError> {
        let target = Target::parse(&config.acs_url)?;
        let mut session = Self {
            client: Client::new(config.tls.clone(), config.connect_timeout, PEER)
                .with_dialer(config.dialer.clone()),
            config: config.clone(),
            target,
            cookies: CookieJar::new(),
            auth: Authenticator::default(),
            redirects: 0,
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
        self.client.connections_opened()
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
        self.auth.start_request();
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
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            match status {
                401 => {
                    if self.config.username.is_none() {
                        return Err(TransportError::AuthMissingCredentials);
                    }
                    self.auth
                        .on_unauthorized(&parts.headers, &self.target, PEER)?;
                }
                301 | 302 | 307 => {
                    let location = location(&parts.headers);
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
                            reason: TransportError::from(e).to_string(),
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
                        self.auth.reset();
                    }
                    self.auth.start_request();
                    self.target = next;
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
                        connection_closed: wants_close(parts.version, &parts.headers),
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
    pub async fn close(self) {
        self.client.close().await;
    }

    async fn connect(&mut self) -> Result<(), TransportError> {
        self.client
            .connect(&self.target)
            .await
            .map_err(|e| connect_error(e, &self.target))
    }

    fn build_request(&mut self, body: &Bytes) -> Result<Request<super::Body>, TransportError> {
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
                .authorization(
                    "POST",
                    username,
                    password,
                    &t.path,
                    Some(body),
                    self.client.cnonce(),
                )
                .map_err(TransportError::AuthUnsupported)?
            {
                b = b.header(AUTHORIZATION, value);
            }
        }
        b.body(full_body(body.clone())).map_err(|e| {
            TransportError::Protocol(format!(
                "cannot build the request (check user-agent/URL): {e}"
            ))
        })
    }

    /// One HTTP request/response on the session connection, reconnecting when the ACS closed
    /// it. A request that fails on a reused connection before any answer (the ACS closed it
    /// while idle) is sent again once on a new connection.
    async fn exchange(
        &mut self,
        body: &Bytes,
    ) -> Result<(http::response::Parts, Bytes), TransportError> {
        let limit = self.config.max_response_bytes;
        let after = self.config.request_timeout;
        for attempt in 0..2 {
            self.connect().await?;
            let req = self.build_request(body)?;
            let (client, host) = (&mut self.client, self.target.host.as_str());
            let result = tokio::time::timeout(after, async {
                match client.send(req, None).await {
                    Ok(response) => collect(response, limit).await.map(Some),
                    Err(SendError::Stale(_)) if attempt == 0 => Ok(None),
                    Err(SendError::Stale(e) | SendError::Failed(e)) => Err(request_error(&e, host)),
                    Err(SendError::Timeout { .. }) => Err(TransportError::Timeout { after }),
                    Err(SendError::NotConnected) => Err(TransportError::Closed),
                }
            })
            .await;
            match result {
                Ok(Ok(Some(answer))) => return Ok(answer),
                Ok(Ok(None)) => tracing::debug!("ACS closed the idle connection; reconnecting"),
                Ok(Err(e)) => {
                    self.client.disconnect();
                    return Err(e);
                }
                Err(_) => {
                    self.client.disconnect();
                    return Err(TransportError::Timeout { after });
                }
            }
        }
        Err(TransportError::Closed)
    }
}

/// Reads a whole answer, refusing one longer than `limit` (announced or streamed).
async fn collect(
    response: http::Response<hyper::body::Incoming>,
    limit: usize,
) -> Result<(http::response::Parts, Bytes), TransportError> {
    let (parts, body) = response.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(TransportError::TooLarge { limit });
    }
    let collected = Limited::new(body, limit).collect().await.map_err(|e| {
        if e.downcast_ref::<LengthLimitError>().is_some() {
            TransportError::TooLarge { limit }
        } else {
            TransportError::Protocol(format!("the ACS's answer broke off: {e}"))
        }
    })?;
    Ok((parts, collected.to_bytes()))
}
