//! Transport errors: each Display is one sentence an operator can act on (it becomes the
//! `last-session-error`), and [`TransportError::kind`] is what the scheduler branches on.

use std::time::Duration;

/// Coarse classification of a [`TransportError`] for the session scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The configuration is unusable (bad URL, unreadable CA file or client certificate…).
    Config,
    /// Name resolution or TCP connect failed (refused, unreachable, connect timeout).
    Connect,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// The ACS refused our credentials, or wants credentials we do not have.
    Auth,
    /// The ACS did not answer within the request timeout.
    Timeout,
    /// The ACS answered with an HTTP status the session cannot continue with.
    Http(u16),
    /// The ACS response was bigger than `max_response_bytes`.
    TooLarge,
    /// A redirect that is not allowed (not in reply to the Inform, too many, unusable Location).
    Redirect,
    /// Anything else at the HTTP level: malformed response, connection dropped mid-answer…
    Protocol,
}

/// A failed exchange with the ACS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    #[error("invalid ACS URL \"{url}\": {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A configuration problem found while setting up TLS (message is complete).
    #[error("{0}")]
    Config(String),
    #[error("could not resolve {host}")]
    Resolve { host: String },
    #[error("connection refused by {target}")]
    ConnectRefused { target: String },
    #[error("could not connect to {target}: {reason}")]
    ConnectFailed { target: String, reason: String },
    #[error("could not connect to {target} within {}", human_ref(.after))]
    ConnectTimeout { target: String, after: Duration },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("ACS answered 401 to {scheme} auth: check username/password")]
    AuthRejected { scheme: &'static str },
    #[error("ACS requires HTTP authentication but no username/password is configured for it")]
    AuthMissingCredentials,
    #[error("ACS answered 401 with an authentication challenge the agent cannot answer: {0}")]
    AuthUnsupported(String),
    #[error("no answer from the ACS within {}", human_ref(.after))]
    Timeout { after: Duration },
    #[error("ACS response larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("too many redirects (more than {max} in one session, last to {location})")]
    TooManyRedirects { max: u32, location: String },
    #[error(
        "ACS redirected a request that was not the Inform (HTTP {status} to {location}); redirects are only allowed in reply to the Inform"
    )]
    RedirectNotAllowed { status: u16, location: String },
    #[error("ACS redirect (HTTP {status}) has no usable Location: {reason}")]
    BadRedirect { status: u16, reason: String },
    #[error("ACS answered HTTP {status}{}{}", reason_suffix(.reason), retry_suffix(.retry_after))]
    HttpStatus {
        status: u16,
        reason: Option<&'static str>,
        retry_after: Option<Duration>,
    },
    #[error("the ACS closed the connection without answering")]
    Closed,
    #[error("HTTP error talking to the ACS: {0}")]
    Protocol(String),
}

impl TransportError {
    /// What kind of failure this is, for the scheduler.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidUrl { .. } | Self::Config(_) => ErrorKind::Config,
            Self::Resolve { .. }
            | Self::ConnectRefused { .. }
            | Self::ConnectFailed { .. }
            | Self::ConnectTimeout { .. } => ErrorKind::Connect,
            Self::Tls(_) => ErrorKind::Tls,
            Self::AuthRejected { .. } | Self::AuthMissingCredentials | Self::AuthUnsupported(_) => {
                ErrorKind::Auth
            }
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::TooLarge { .. } => ErrorKind::TooLarge,
            Self::TooManyRedirects { .. }
            | Self::RedirectNotAllowed { .. }
            | Self::BadRedirect { .. } => ErrorKind::Redirect,
            Self::HttpStatus { status, .. } => ErrorKind::Http(*status),
            Self::Closed | Self::Protocol(_) => ErrorKind::Protocol,
        }
    }

    /// The ACS's `Retry-After` (503/429 answers), for the scheduler to honour.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
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

fn human_ref(d: &Duration) -> String {
    human(*d)
}

fn reason_suffix(reason: &Option<&'static str>) -> String {
    reason.map(|r| format!(" {r}")).unwrap_or_default()
}

fn retry_suffix(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {})", human(d)))
        .unwrap_or_default()
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

/// Operator sentence (without the "TLS: " prefix) for a rustls failure toward `host`.
pub(crate) fn describe_tls(err: &rustls::Error, host: &str) -> String {
    describe_tls_for(err, host, "the ACS")
}

/// [`describe_tls`] for any kind of peer: `peer` names it in the sentence ("the file server").
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
    fn messages_are_operator_sentences() {
        let e = TransportError::Timeout {
            after: Duration::from_secs(30),
        };
        assert_eq!(e.to_string(), "no answer from the ACS within 30 s");
        assert_eq!(e.kind(), ErrorKind::Timeout);
        let e = TransportError::HttpStatus {
            status: 503,
            reason: Some("Service Unavailable"),
            retry_after: Some(Duration::from_secs(120)),
        };
        assert_eq!(
            e.to_string(),
            "ACS answered HTTP 503 Service Unavailable (retry after 120 s)"
        );
        assert_eq!(e.kind(), ErrorKind::Http(503));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
        let e = TransportError::AuthRejected { scheme: "Digest" };
        assert_eq!(
            e.to_string(),
            "ACS answered 401 to Digest auth: check username/password"
        );
    }

    #[test]
    fn tls_certificate_errors_map_to_sentences() {
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        assert_eq!(
            describe_tls(&e, "localhost"),
            "certificate for localhost not trusted (unknown issuer)"
        );
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName);
        assert_eq!(describe_tls(&e, "acs"), "certificate not valid for acs");
        let e = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        assert!(describe_tls(&e, "acs").contains("expired"));
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
