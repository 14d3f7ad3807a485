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
//! - the transfer's own Username/Password answer Basic or Digest challenges.
//!
//! Connections, TLS, authentication and URL rules are the HTTP layer's ([`crate::http`]); what is
//! the transfer's own is below: which URLs and redirects a transfer accepts, where its
//! credentials may go, and how each failure maps to a CWMP fault. The method-specific parts are
//! in [`download`] and [`upload`].

pub mod download;
mod error;
pub mod manifest;
pub mod upload;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_LENGTH, HOST, HeaderName, USER_AGENT};
use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::http::error::{describe_tls_for, find_rustls_error};
use crate::http::{
    AuthFailure, Authenticator, Body, Client, ConnectError, DEFAULT_USER_AGENT, InvalidUrl,
    MAX_REDIRECTS, SendError, Target, TlsSettings, location,
};

pub use download::{FetchRequest, Fetched, fetch};
pub use error::{MAX_FAULT_STRING_CHARS, TransferError};
pub use manifest::{
    MAX_MANIFEST_BYTES, MAX_MANIFEST_LINKS, Manifest, ManifestError, looks_like_manifest,
    parse_manifest,
};
pub use upload::{PutRequest, put_file};

/// How the file server is named in messages.
const PEER: &str = "the file server";

/// Validates a transfer URL: the scheme first (anything but http/https is fault 9013), then the
/// rest with the HTTP layer's URL rules.
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

fn url_error(e: InvalidUrl) -> TransferError {
    TransferError::InvalidUrl { reason: e.reason }
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

/// The HTTP client for one transfer: at most one connection, kept alive across the 401
/// round-trip (some servers tie Digest nonces to the connection) and same-origin redirects;
/// each request waits at most `idle` for its answer's head, longer while an upload body is
/// still being accepted.
fn new_client(tls: &TlsSettings, connect_timeout: Duration, idle: Duration) -> Client {
    Client::new(tls.clone(), connect_timeout, PEER).with_idle_timeout(idle)
}

/// Sends `spec`, answering one authentication challenge and following redirects; returns the
/// first answer that is neither. `make_body` is called for every attempt (a body is sent again
/// after a 401 or a 307/308).
async fn request(
    client: &mut Client,
    spec: &RequestSpec<'_>,
    make_body: &mut (dyn FnMut() -> Result<(Body, Option<u64>), TransferError> + Send),
) -> Result<Answer, TransferError> {
    let origin = parse_url(spec.url)?;
    let mut target = origin.clone();
    let mut auth = Authenticator::default();
    let mut redirects = 0u32;
    let mut stale_resends = 0u32;
    loop {
        let (body, length) = make_body()?;
        client
            .connect(&target)
            .await
            .map_err(|e| contact_error(e, &target))?;
        let mut builder = Request::builder()
            .method(spec.method.clone())
            .uri(target.path.as_str())
            .header(HOST, target.host_header.as_str())
            .header(USER_AGENT, DEFAULT_USER_AGENT);
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
            .authorization(
                spec.method.as_str(),
                spec.username,
                spec.password,
                &target.path,
                digest_body,
                client.cnonce(),
            )
            .map_err(|reason| TransferError::AuthFailed {
                target: target.display_addr(),
                reason: format!("cannot answer the challenge: {reason}"),
            })?;
        let sent_credentials = authorization.is_some();
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        let req = builder
            .body(body)
            .map_err(|e| TransferError::Protocol(format!("cannot build the request: {e}")))?;
        let progress = spec.progress.as_deref();
        let sent = progress.map(|p| &p.sent);
        let response = match client.send(req, sent).await {
            Ok(r) => r,
            Err(SendError::Stale(_)) if stale_resends == 0 => {
                stale_resends += 1;
                continue;
            }
            Err(e) => return Err(send_error(e, &target, progress)),
        };
        stale_resends = 0;
        let status = response.status().as_u16();
        match status {
            401 => {
                let parts = client.drain(response).await;
                let who = target.display_addr();
                if spec.username.is_empty() {
                    return Err(TransferError::AuthFailed {
                        target: who,
                        reason: "it asks for credentials and the transfer has no Username".into(),
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
                auth.on_unauthorized(&parts.headers, &target, PEER)
                    .map_err(|failure| TransferError::AuthFailed {
                        target: who,
                        reason: match failure {
                            AuthFailure::Unsupported(offered) => {
                                format!("unsupported authentication scheme: {offered}")
                            }
                            AuthFailure::Rejected { scheme } => format!(
                                "HTTP 401 to {scheme} authentication: check Username/Password"
                            ),
                            AuthFailure::NoChallenge => {
                                "HTTP 401 without an authentication challenge".into()
                            }
                        },
                    })?;
            }
            301 | 302 | 303 | 307 | 308
                if spec.redirects == Redirects::All || matches!(status, 307 | 308) =>
            {
                let parts = client.drain(response).await;
                let url = target.display_url();
                let Some(location) = location(&parts.headers) else {
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
                tracing::debug!(from = %url, to = %next.display_url(), status, "file server redirected");
                if !next.same_origin(&target) {
                    auth.reset();
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
            url: target.display_url(),
            reason: format!("unusable redirect: {}", url_error(e)),
        })
}

/// A connection to the file server could not be opened.
fn contact_error(e: ConnectError, target: &Target) -> TransferError {
    match e {
        ConnectError::TlsConfig(e) => TransferError::TlsConfig(e.0),
        other => TransferError::UnableToContact {
            target: target.display_addr(),
            reason: other.to_string(),
        },
    }
}

/// A request failed before its answer's head arrived.
fn send_error(e: SendError, target: &Target, progress: Option<&SendProgress>) -> TransferError {
    let e = match e {
        SendError::Timeout { what, after } => return TransferError::Timeout { what, after },
        SendError::NotConnected => {
            return TransferError::ConnectionLost {
                reason: "no connection".into(),
            };
        }
        SendError::Stale(e) | SendError::Failed(e) => e,
    };
    if let Some(local) = progress.and_then(SendProgress::take_error) {
        return local;
    }
    if let Some(tls) = find_rustls_error(&e) {
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
