//! The one HTTP(S) client layer: everything the agent sends over HTTP goes through here.
//!
//! - [`Client`]: one kept-alive HTTP/1.1 connection at a time (hyper 1 over TCP or
//!   tokio-rustls; the byte stream comes from a [`Dialer`]: TCP, or in tests and fuzz targets an
//!   in-memory stream), connect timeout, reconnection when the server closed an idle connection
//!   ([`SendError::Stale`]), idle waits that count upload progress, draining unused answers;
//! - [`Target`]: `http://` / `https://` URL parsing and redirect `Location` resolution;
//! - [`TlsSettings`]: rustls with the webpki roots plus a CA file, a client certificate, and an
//!   explicit insecure lab mode;
//! - [`Authenticator`]: Basic and Digest, client side;
//! - cookies, `Retry-After`, and errors ([`ConnectError`], [`SendError`]) that callers word for
//!   their operator;
//! - [`session`]: the ACS's client on top of it — one [`SessionConnection`] per CWMP session.
//!
//! The file-transfer engine (`crate::transfer`) is the other user: it adds its own redirect
//! rules, credentials and fault codes.
//!
//! (Inside this crate, `http::…` paths name the `http` crate of types, not this module.)

mod auth;
mod client;
mod cookies;
pub(crate) mod error;
mod retry_after;
pub mod session;
mod target;
pub(crate) mod tls;

use http::header::{CONNECTION, LOCATION};
use http::{HeaderMap, Version};

pub use auth::{AuthFailure, Authenticator};
pub use client::{
    Body, Client, ConnectInfo, Dial, DialFuture, Dialed, Dialer, SocketOptions, Stream, TcpDial,
    empty_body, full_body,
};
pub use error::{ConnectError, SendError};
pub use session::{
    AcsReply, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT,
    ErrorKind, SessionConnection, TransportConfig, TransportError,
};
pub use target::{InvalidUrl, Target};
pub use tls::{ClientCertificate, TlsConfigError, TlsSettings};

/// The `User-Agent` the agent sends unless configured otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("tr069-client/", env!("CARGO_PKG_VERSION"));

/// Redirects followed at most: per CWMP session (TR-069 §3.4.5), per transfer.
pub const MAX_REDIRECTS: u32 = 5;

/// The server closes the connection after this answer (`Connection: close`, or HTTP/1.0
/// without keep-alive).
pub fn wants_close(version: Version, headers: &HeaderMap) -> bool {
    let has = |token: &str| {
        headers.get_all(CONNECTION).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has("close") || (version == Version::HTTP_10 && !has("keep-alive"))
}

/// A redirect's `Location`, when it is readable text.
pub fn location(headers: &HeaderMap) -> Option<String> {
    headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
