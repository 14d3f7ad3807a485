//! The file-transfer engine behind Download and Upload: HTTP(S) GET to a file with resume, HTTP
//! PUT of a file, and the RouterOS firmware manifest.
//!
//! This module only moves bytes; the journaled lifecycle (accepted, waiting, downloading,
//! applying, reported) lives with the RPC handlers that call it. What it guarantees them:
//!
//! - [`fetch`] streams to the destination file (never the whole file in memory), hashes as it
//!   goes, fsyncs before returning, and never deletes the destination: after a crash or a cut
//!   connection the next call resumes from the bytes already there (`Range: bytes=N-`);
//! - every failure is a [`TransferError`] whose [`TransferError::fault_code`] and
//!   [`TransferError::fault_string`] are what TransferComplete reports;
//! - the transfer's own Username/Password answer Basic or Digest challenges, with the same code
//!   (and the same TLS trust settings) as the ACS connection in [`crate::agent::transport`].
//!
//! The shared HTTP plumbing (connection, authentication, redirects, timeouts) is below; the
//! method-specific parts are in [`download`] and [`upload`].

pub mod download;
mod error;
pub mod manifest;
pub mod upload;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, HeaderName, LOCATION};
use http::{Method, Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::agent::transport::auth::{AuthState, pick_challenge};
use crate::agent::transport::error::{describe_tls_for, find_io_kind, find_rustls_error, human};
use crate::agent::transport::target::Target;
use crate::agent::transport::{TlsSettings, TransportError, tls};

pub use download::{FetchRequest, Fetched, fetch};
pub use error::{MAX_FAULT_STRING_CHARS, TransferError};
pub use manifest::{
    MAX_MANIFEST_BYTES, MAX_MANIFEST_LINKS, Manifest, ManifestError, looks_like_manifest,
    parse_manifest,
};
pub use upload::{PutRequest, put_file};

/// Redirects followed per transfer at most.
pub const MAX_REDIRECTS: u32 = 5;

/// How the file server is named in TLS messages.
const PEER: &str = "the file server";

/// Bytes of an unwanted answer (401, redirect) read so the connection can be reused; a longer
/// body is not worth waiting for, the connection is dropped instead.
const DRAIN_LIMIT: usize = 64 * 1024;

type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

/// An empty request body.
fn empty_body() -> ReqBody {
    http_body_util::Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Validates a transfer URL: the scheme first (anything but http/https is fault 9013), then the
/// rest with the ACS URL rules.
fn parse_url(url: &str) -> Result<Target, TransferError> {
    let url = url.trim();
    let Some((scheme, _)) = url.split_once("://") else {
        return Err(TransferError::InvalidUrl {
            reason: "missing http:// or https://".into(),
        });
    };
    let is_scheme = !scheme.is_empty()
        && scheme.len() <= 32
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Err(TransferError::InvalidUrl {
            reason: "the URL does not start with a scheme such as http://".into(),
        });
    }
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(TransferError::UnsupportedProtocol {
            scheme: scheme.to_ascii_lowercase(),
        });
    }
    Target::parse(url).map_err(url_error)
}

fn url_error(e: TransportError) -> TransferError {
    match e {
        TransportError::InvalidUrl { reason, .. } => TransferError::InvalidUrl { reason },
        other => TransferError::InvalidUrl {
            reason: other.to_string(),
        },
    }
}

/// The URL for messages: scheme, host, port and path. The query is left out because pre-signed
/// URLs carry their access token there.
fn display_url(target: &Target) -> String {
    let path = target.path.split('?').next().unwrap_or("/");
    format!(
        "{}://{}{path}",
        if target.https { "https" } else { "http" },
        target.host_header
    )
}

/// Which redirects a request follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redirects {
    /// 301, 302, 303, 307, 308 (a GET stays a GET).
    All,
    /// 307 and 308 only: the method and body are sent again unchanged. 301/302/303 would turn a
    /// PUT into a GET, which is not an upload.
    PreserveMethod,
}

/// One transfer request, before authentication and redirects.
struct RequestSpec<'a> {
    method: Method,
    url: &'a str,
    username: &'a str,
    password: &'a str,
    headers: Vec<(HeaderName, String)>,
    redirects: Redirects,
    /// Body bytes sent so far (uploads): as long as it grows, a server that has not answered yet
    /// is still reading, not idle.
    progress: Option<Arc<SendProgress>>,
}

/// What an upload body reports back to the request loop.
#[derive(Debug)]
struct SendProgress {
    /// The file being sent (for the message of a local read failure).
    path: PathBuf,
    sent: AtomicU64,
    /// A local read failure while streaming, so it is not blamed on the network.
    local_error: Mutex<Option<io::Error>>,
}

impl SendProgress {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            sent: AtomicU64::new(0),
            local_error: Mutex::new(None),
        }
    }

    fn fail(&self, error: io::Error) {
        if let Ok(mut slot) = self.local_error.lock() {
            *slot = Some(error);
        }
    }

    fn take_error(&self) -> Option<TransferError> {
        let error = self
            .local_error
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())?;
        Some(TransferError::Io {
            action: "read the file to upload",
            path: self.path.clone(),
            source: error,
        })
    }
}

/// The final answer to a request (neither a handled 401 nor a followed redirect).
struct Answer {
    response: Response<Incoming>,
    /// Where it came from (after redirects).
    target: Target,
    /// The request carried credentials.
    sent_credentials: bool,
}

struct Conn {
    origin: Target,
    sender: SendRequest<ReqBody>,
    task: JoinHandle<()>,
}

enum SendFailure {
    /// A reused keep-alive connection was closed by the server before it read the request: send
    /// again on a new connection.
    Stale,
    Fatal(TransferError),
}

/// An HTTP/1.1 client for one transfer: at most one connection, kept alive across the 401
/// round-trip (some servers tie Digest nonces to the connection) and same-origin redirects.
struct HttpClient {
    tls_settings: TlsSettings,
    tls: Option<Arc<ClientConfig>>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    conn: Option<Conn>,
    cnonce: String,
    user_agent: String,
}

impl Drop for HttpClient {
    fn drop(&mut self) {
        self.drop_conn();
    }
}

impl HttpClient {
    fn new(tls_settings: &TlsSettings, connect_timeout: Duration, idle_timeout: Duration) -> Self {
        let cnonce: [u8; 16] = rand::random();
        Self {
            tls_settings: tls_settings.clone(),
            tls: None,
            connect_timeout,
            idle_timeout,
            conn: None,
            cnonce: hex(&cnonce),
            user_agent: format!("tr069-client/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    fn drop_conn(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.task.abort();
        }
    }

    /// Sends `spec`, answering one authentication challenge and following redirects; returns
    /// the first answer that is neither. `make_body` is called for every attempt (a body is
    /// sent again after a 401 or a 307/308).
    async fn request(
        &mut self,
        spec: &RequestSpec<'_>,
        make_body: &mut (dyn FnMut() -> Result<(ReqBody, Option<u64>), TransferError> + Send),
    ) -> Result<Answer, TransferError> {
        let origin = parse_url(spec.url)?;
        let mut target = origin.clone();
        let mut auth = AuthState::None;
        let mut answered_challenge = false;
        let mut stale_retried = false;
        let mut redirects = 0u32;
        let mut stale_resends = 0u32;
        loop {
            let (body, length) = make_body()?;
            let mut builder = Request::builder()
                .method(spec.method.clone())
                .uri(target.path.as_str())
                .header(HOST, target.host_header.as_str())
                .header(http::header::USER_AGENT, self.user_agent.as_str());
            for (name, value) in &spec.headers {
                builder = builder.header(name, value.as_str());
            }
            if let Some(length) = length {
                builder = builder.header(CONTENT_LENGTH, length);
            }
            // GET has an empty body, so auth-int can be answered; an upload body is streamed
            // and cannot be hashed beforehand, so it answers with qop=auth.
            let digest_body: Option<&[u8]> = (spec.method == Method::GET).then_some(&[]);
            let authorization = auth
                .authorization_for(
                    spec.method.as_str(),
                    spec.username,
                    spec.password,
                    &target.path,
                    digest_body,
                    &self.cnonce,
                )
                .map_err(|reason| TransferError::AuthFailed {
                    target: target.display_addr(),
                    reason: format!("cannot answer the challenge: {reason}"),
                })?;
            let sent_credentials = authorization.is_some();
            if let Some(value) = authorization {
                builder = builder.header(AUTHORIZATION, value);
            }
            let request = builder
                .body(body)
                .map_err(|e| TransferError::Protocol(format!("cannot build the request: {e}")))?;
            let response = match self
                .send(
                    &target,
                    request,
                    spec.progress.as_deref(),
                    stale_resends == 0,
                )
                .await
            {
                Ok(r) => r,
                Err(SendFailure::Stale) => {
                    stale_resends += 1;
                    continue;
                }
                Err(SendFailure::Fatal(e)) => return Err(e),
            };
            stale_resends = 0;
            let status = response.status().as_u16();
            match status {
                401 => {
                    let challenge = pick_challenge(response.headers());
                    self.drain(response).await;
                    let who = target.display_addr();
                    if spec.username.is_empty() {
                        return Err(TransferError::AuthFailed {
                            target: who,
                            reason: "it asks for credentials and the transfer has no Username"
                                .into(),
                        });
                    }
                    if !target.same_origin(&origin) {
                        // Like curl without --location-trusted: the transfer's password is for
                        // the host the ACS named, not for whoever that host redirects to.
                        return Err(TransferError::AuthFailed {
                            target: who,
                            reason: "it asks for credentials after a redirect to another host; \
                                     they are only sent to the host in the transfer URL"
                                .into(),
                        });
                    }
                    let challenge = match challenge {
                        Err(offered) => {
                            return Err(TransferError::AuthFailed {
                                target: who,
                                reason: format!("unsupported authentication scheme: {offered}"),
                            });
                        }
                        Ok(None) if answered_challenge => {
                            return Err(TransferError::AuthFailed {
                                target: who,
                                reason: format!(
                                    "HTTP 401 to {} authentication: check Username/Password",
                                    auth.scheme_name()
                                ),
                            });
                        }
                        Ok(None) => {
                            return Err(TransferError::AuthFailed {
                                target: who,
                                reason: "HTTP 401 without an authentication challenge".into(),
                            });
                        }
                        Ok(Some(challenge)) => challenge,
                    };
                    if answered_challenge {
                        // A new challenge after ours was answered means wrong credentials,
                        // unless the server only says the nonce went stale.
                        if !challenge.stale() || stale_retried {
                            return Err(TransferError::AuthFailed {
                                target: who,
                                reason: format!(
                                    "HTTP 401 to {} authentication: check Username/Password",
                                    auth.scheme_name()
                                ),
                            });
                        }
                        stale_retried = true;
                    }
                    answered_challenge = true;
                    auth.adopt(challenge);
                    if matches!(auth, AuthState::Basic) && !target.https {
                        tracing::warn!(
                            url = %display_url(&target),
                            "the file server asks for HTTP Basic over plain HTTP: the password crosses the network in clear text"
                        );
                    }
                }
                301 | 302 | 303 | 307 | 308
                    if spec.redirects == Redirects::All || matches!(status, 307 | 308) =>
                {
                    let location = response
                        .headers()
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    self.drain(response).await;
                    let url = display_url(&target);
                    let Some(location) = location else {
                        return Err(TransferError::UnableToAccess {
                            url,
                            reason: format!("HTTP {status} redirect without a Location"),
                        });
                    };
                    let next = resolve_location(&target, &location)?;
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(TransferError::UnableToAccess {
                            url,
                            reason: format!("more than {MAX_REDIRECTS} redirects"),
                        });
                    }
                    tracing::debug!(from = %url, to = %display_url(&next), status, "file server redirected");
                    if !next.same_origin(&target) {
                        auth = AuthState::None;
                        answered_challenge = false;
                        stale_retried = false;
                    }
                    target = next;
                }
                _ => {
                    return Ok(Answer {
                        response,
                        target,
                        sent_credentials,
                    });
                }
            }
        }
    }

    /// One request on the (possibly reused) connection; waits at most the idle timeout for the
    /// answer's head, longer while an upload body is still being accepted.
    async fn send(
        &mut self,
        target: &Target,
        request: Request<ReqBody>,
        progress: Option<&SendProgress>,
        may_resend: bool,
    ) -> Result<Response<Incoming>, SendFailure> {
        let reused = self.ensure_conn(target).await.map_err(SendFailure::Fatal)?;
        let idle = self.idle_timeout;
        let Some(conn) = self.conn.as_mut() else {
            return Err(SendFailure::Fatal(TransferError::ConnectionLost {
                reason: "no connection".into(),
            }));
        };
        let ready = tokio::time::timeout(idle, conn.sender.ready()).await;
        match ready {
            Err(_) => {
                self.drop_conn();
                return Err(SendFailure::Fatal(TransferError::Timeout {
                    what: "connection not ready",
                    after: idle,
                }));
            }
            Ok(Err(e)) => {
                self.drop_conn();
                if reused && may_resend {
                    return Err(SendFailure::Stale);
                }
                return Err(SendFailure::Fatal(send_error(&e, target, progress)));
            }
            Ok(Ok(())) => {}
        }
        let answer = conn.sender.send_request(request);
        tokio::pin!(answer);
        let mut last_sent = progress.map(|p| p.sent.load(Ordering::Relaxed));
        let result = loop {
            tokio::select! {
                result = &mut answer => break result,
                () = tokio::time::sleep(idle) => {
                    let now = progress.map(|p| p.sent.load(Ordering::Relaxed));
                    if now != last_sent {
                        last_sent = now;
                        continue;
                    }
                    self.drop_conn();
                    return Err(SendFailure::Fatal(TransferError::Timeout {
                        what: "waiting for the answer",
                        after: idle,
                    }));
                }
            }
        };
        match result {
            Ok(response) => {
                if wants_close(&response) {
                    // The answer is still readable; the connection just is not reused.
                    if let Some(conn) = self.conn.take() {
                        drop(conn.sender);
                    }
                }
                Ok(response)
            }
            Err(e) => {
                self.drop_conn();
                let sent_nothing = progress.is_none_or(|p| p.sent.load(Ordering::Relaxed) == 0);
                if reused && may_resend && sent_nothing && stale_connection(&e) {
                    tracing::debug!(error = %e, "file server closed the idle connection; reconnecting");
                    return Err(SendFailure::Stale);
                }
                Err(SendFailure::Fatal(send_error(&e, target, progress)))
            }
        }
    }

    /// Reads what is left of an answer we do not use so the connection can carry the next
    /// request; gives up (and drops the connection) on a large or slow body.
    async fn drain(&mut self, response: Response<Incoming>) {
        let idle = self.idle_timeout.min(Duration::from_secs(5));
        let mut body = response.into_body();
        let mut read = 0usize;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Ok(None) => return,
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        read += data.len();
                        if read > DRAIN_LIMIT {
                            break;
                        }
                    }
                }
                Ok(Some(Err(_))) | Err(_) => break,
            }
        }
        self.drop_conn();
    }

    /// Makes sure a connection to `target`'s origin is open; true when an existing one is
    /// reused.
    async fn ensure_conn(&mut self, target: &Target) -> Result<bool, TransferError> {
        if let Some(conn) = &self.conn {
            if conn.origin.same_origin(target) && !conn.sender.is_closed() {
                return Ok(true);
            }
        }
        self.drop_conn();
        let tls = if target.https {
            Some(self.tls_config()?)
        } else {
            None
        };
        let after = self.connect_timeout;
        let conn = match tokio::time::timeout(after, connect(target, tls)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(TransferError::UnableToContact {
                    target: target.display_addr(),
                    reason: format!("no connection within {}", human(after)),
                });
            }
        };
        self.conn = Some(conn);
        Ok(false)
    }

    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, TransferError> {
        if let Some(cfg) = &self.tls {
            return Ok(cfg.clone());
        }
        if self.tls_settings.insecure {
            tracing::warn!(
                "TLS certificate verification is OFF (insecure lab setting): the file server is not authenticated"
            );
        }
        let cfg = tls::client_config(&self.tls_settings).map_err(|e| match e {
            TransportError::Config(message) => TransferError::TlsConfig(message),
            other => TransferError::TlsConfig(format!("TLS setup failed: {other}")),
        })?;
        self.tls = Some(cfg.clone());
        Ok(cfg)
    }
}

/// Resolves a redirect's Location; a redirect to another protocol is fault 9013 like the
/// original URL would be.
fn resolve_location(target: &Target, location: &str) -> Result<Target, TransferError> {
    let location = location.trim();
    if let Some((scheme, _)) = location.split_once("://") {
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return parse_url(location);
        }
    }
    target
        .resolve(location)
        .map_err(|e| TransferError::UnableToAccess {
            url: display_url(target),
            reason: format!("unusable redirect: {}", url_error(e)),
        })
}

fn wants_close(response: &Response<Incoming>) -> bool {
    response.headers().get_all(CONNECTION).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }) || response.version() == http::Version::HTTP_10
}

/// The server dropped a kept-alive connection before reading our request.
fn stale_connection(e: &hyper::Error) -> bool {
    if find_rustls_error(e).is_some() {
        return false;
    }
    e.is_canceled()
        || e.is_closed()
        || e.is_incomplete_message()
        || matches!(
            find_io_kind(e),
            Some(
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::UnexpectedEof
            )
        )
}

/// A request failed before its answer's head arrived.
fn send_error(e: &hyper::Error, target: &Target, progress: Option<&SendProgress>) -> TransferError {
    if let Some(local) = progress.and_then(SendProgress::take_error) {
        return local;
    }
    if let Some(tls) = find_rustls_error(e) {
        return TransferError::UnableToContact {
            target: target.display_addr(),
            reason: format!("TLS: {}", describe_tls_for(tls, &target.host, PEER)),
        };
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return TransferError::Protocol(e.to_string());
    }
    TransferError::ConnectionLost {
        reason: format!(
            "{} closed the connection without answering ({e})",
            target.display_addr()
        ),
    }
}

async fn connect(target: &Target, tls: Option<Arc<ClientConfig>>) -> Result<Conn, TransferError> {
    let unable = |reason: String| TransferError::UnableToContact {
        target: target.display_addr(),
        reason,
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            tracing::debug!(host = %target.host, error = %e, "DNS resolution failed");
            unable(format!("could not resolve {}", target.host))
        })?
        .collect();
    let mut stream = None;
    let mut last_error = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(stream) = stream else {
        return Err(unable(match last_error {
            None => format!("could not resolve {}", target.host),
            Some(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                "connection refused".to_string()
            }
            Some(e) => e.to_string(),
        }));
    };
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let handshake_error = |e: hyper::Error| unable(format!("HTTP connection setup failed: {e}"));
    let (sender, task) = match tls {
        None => {
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(handshake_error)?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "file server connection ended with an error");
                }
            });
            (sender, task)
        }
        Some(cfg) => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|_| unable("the host is not a valid TLS server name".into()))?;
            let tls_stream = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, stream)
                .await
                .map_err(|e| unable(tls_handshake_error(&e, &target.host)))?;
            let (sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(tls_stream))
                    .await
                    .map_err(handshake_error)?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "file server connection ended with an error");
                }
            });
            (sender, task)
        }
    };
    Ok(Conn {
        origin: target.clone(),
        sender,
        task,
    })
}

fn tls_handshake_error(e: &io::Error, host: &str) -> String {
    if let Some(tls) = find_rustls_error(e) {
        return format!("TLS: {}", describe_tls_for(tls, host, PEER));
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
            "TLS: the connection closed during the handshake (is it really HTTPS?)".to_string()
        }
        _ => format!("TLS handshake failed: {e}"),
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_are_accepted() {
        for (url, code) in [
            ("ftp://files/fw.npk", 9013),
            ("tftp://10.0.0.1/fw", 9013),
            ("FTP://files/fw.npk", 9013),
            ("files/fw.npk", 9010),
            ("http://", 9010),
            ("http://u:p@files/fw", 9010),
        ] {
            let e = parse_url(url).unwrap_err();
            assert_eq!(e.fault_code(), code, "{url}: {e}");
        }
        match parse_url("ftp://x/y").unwrap_err() {
            TransferError::UnsupportedProtocol { scheme } => assert_eq!(scheme, "ftp"),
            other => panic!("{other:?}"),
        }
        assert!(parse_url("HTTPS://files:8443/a?b=c").unwrap().https);
    }

    #[test]
    fn display_url_hides_the_query() {
        let t = parse_url("https://files.example:8443/fw/a.npk?X-Amz-Signature=secret").unwrap();
        assert_eq!(display_url(&t), "https://files.example:8443/fw/a.npk");
    }

    #[test]
    fn redirect_to_another_protocol_is_9013() {
        let t = parse_url("http://files/a").unwrap();
        let e = resolve_location(&t, "ftp://other/a").unwrap_err();
        assert_eq!(e.fault_code(), 9013);
        assert_eq!(
            resolve_location(&t, "/b").unwrap().url,
            "http://files/b".to_string()
        );
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
