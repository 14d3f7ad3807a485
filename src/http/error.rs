//! What can go wrong below the HTTP semantics, and the sentences shared by every caller.
//!
//! [`ConnectError`] (DNS, TCP, TLS, HTTP/1.1 setup) and [`SendError`] (one request on an open
//! connection) are neutral: the ACS session and the transfer engine each turn them into their own
//! operator sentences and codes. A `ConnectError`'s Display is a short reason ("connection
//! refused", "TLS: certificate for files not trusted (unknown issuer)").

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use super::tls::TlsConfigError;

/// Opening a connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    TlsConfig(#[from] TlsConfigError),
    #[error("could not resolve {host}")]
    Resolve { host: String },
    /// TCP connect failed on every address; `addr` is the last one tried.
    #[error("{}", tcp_reason(.error))]
    Tcp { addr: SocketAddr, error: io::Error },
    #[error("no connection within {}", human(*.after))]
    Timeout { after: Duration },
    #[error("the host is not a valid TLS server name")]
    ServerName,
    /// `peer` names the server in the sentence ("the file server").
    #[error("{}", tls_handshake_reason(.error, .host, .peer))]
    TlsHandshake {
        host: String,
        peer: &'static str,
        error: io::Error,
    },
    #[error("HTTP connection setup failed: {0}")]
    Setup(hyper::Error),
}

fn tcp_reason(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        "connection refused".to_string()
    } else {
        e.to_string()
    }
}

fn tls_handshake_reason(e: &io::Error, host: &str, peer: &str) -> String {
    match (find_rustls_error(e), e.kind()) {
        (Some(tls), _) => format!("TLS: {}", describe_tls_for(tls, host, peer)),
        (None, io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) => {
            "TLS: the connection closed during the handshake (is it really HTTPS?)".to_string()
        }
        (None, _) => format!("TLS handshake failed: {e}"),
    }
}

/// One request on an open connection failed before its answer's head arrived.
#[derive(Debug)]
pub enum SendError {
    /// A kept-alive connection turned out to be closed by the server before it read anything of
    /// the request: sending it again on a new connection is safe.
    Stale(hyper::Error),
    /// Nothing happened for `after` (`what`: "connection not ready", "waiting for the answer").
    Timeout {
        what: &'static str,
        after: Duration,
    },
    Failed(hyper::Error),
    /// No connection is open (call [`super::Client::connect`] first).
    NotConnected,
}

/// The server dropped the connection (rather than answering something malformed or failing TLS).
pub(crate) fn connection_dropped(e: &hyper::Error) -> bool {
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

/// "30 s", "300 ms", "1.5 s".
pub(crate) fn human(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// " Not Found" after a status code, when the status has a reason phrase.
pub(crate) fn reason_suffix(reason: &Option<&'static str>) -> String {
    reason.map(|r| format!(" {r}")).unwrap_or_default()
}

/// Finds a rustls error anywhere in an error chain. `io::Error::source()` skips the wrapped
/// error itself, so look inside io errors explicitly.
pub(crate) fn find_rustls_error<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(e) = current {
        depth += 1;
        if depth > 16 {
            return None;
        }
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                let inner: &'a (dyn std::error::Error + 'static) = inner;
                current = Some(inner);
                continue;
            }
        }
        current = e.source();
    }
    None
}

/// Finds an io::Error kind anywhere in an error chain.
pub(crate) fn find_io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut depth = 0;
    while let Some(e) = current {
        depth += 1;
        if depth > 16 {
            return None;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// Operator sentence (without the "TLS: " prefix) for a rustls failure toward `host`; `peer`
/// names the server in the sentence ("the ACS", "the file server").
pub(crate) fn describe_tls_for(err: &rustls::Error, host: &str, peer: &str) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(c) => match c {
            C::UnknownIssuer => format!("certificate for {host} not trusted (unknown issuer)"),
            C::NotValidForName => format!("certificate not valid for {host}"),
            C::NotValidForNameContext { presented, .. } => {
                if presented.is_empty() {
                    format!("certificate not valid for {host}")
                } else {
                    format!(
                        "certificate not valid for {host} (it is for {})",
                        presented.join(", ")
                    )
                }
            }
            C::Expired | C::ExpiredContext { .. } => {
                format!("certificate for {host} has expired (or the router's clock is wrong)")
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                format!("certificate for {host} is not valid yet (check the router's clock)")
            }
            C::Revoked => format!("certificate for {host} has been revoked"),
            C::BadSignature => format!("certificate for {host} has a bad signature"),
            C::BadEncoding => format!("certificate for {host} is malformed"),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                format!("certificate for {host} is not meant for a TLS server")
            }
            other => format!("certificate for {host} rejected ({other:?})"),
        },
        E::AlertReceived(alert) => match alert {
            A::CertificateRequired => {
                format!("{peer} requires a client certificate (configure client-certificate)")
            }
            A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied => {
                format!("{peer} rejected the client certificate ({alert:?})")
            }
            A::ProtocolVersion => format!(
                "{peer} speaks none of our TLS versions (1.2, 1.3); TLS 1.0 and 1.1 are refused"
            ),
            A::HandshakeFailure => format!(
                "handshake failure: {peer} accepted none of our TLS versions/ciphers, or it \
                 wants a client certificate"
            ),
            other => format!("{peer} aborted the handshake ({other:?})"),
        },
        E::InvalidMessage(_) => {
            format!("the answer from {host} is not TLS (check http:// vs https:// and the port)")
        }
        E::NoApplicationProtocol => format!("{peer} does not speak HTTP/1.1 (ALPN)"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(30)), "30 s");
        assert_eq!(human(Duration::from_millis(300)), "300 ms");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn rustls_error_found_inside_io_error() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(find_rustls_error(&io).is_some());
    }
}
