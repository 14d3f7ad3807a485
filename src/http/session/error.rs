//! Transport errors: each Display is one sentence an operator can act on (it becomes the
//! `last-session-error`), and [`TransportError::kind`] is what the scheduler branches on.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::http::error::{
    ConnectError, connection_dropped, describe_tls_for, find_rustls_error, human, reason_suffix,
};
use crate::http::{AuthFailure, InvalidUrl, Target, TlsConfigError};

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
    #[error("could not connect to {target} within {}", human(*.after))]
    ConnectTimeout { target: String, after: Duration },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("ACS answered 401 to {scheme} auth: check username/password")]
    AuthRejected { scheme: &'static str },
    #[error("ACS requires HTTP authentication but no username/password is configured for it")]
    AuthMissingCredentials,
    #[error("ACS answered 401 with an authentication challenge the agent cannot answer: {0}")]
    AuthUnsupported(String),
    #[error("no answer from the ACS within {}", human(*.after))]
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

impl From<InvalidUrl> for TransportError {
    fn from(e: InvalidUrl) -> Self {
        Self::InvalidUrl {
            url: e.url,
            reason: e.reason,
        }
    }
}

impl From<TlsConfigError> for TransportError {
    fn from(e: TlsConfigError) -> Self {
        Self::Config(e.0)
    }
}

impl From<AuthFailure> for TransportError {
    fn from(e: AuthFailure) -> Self {
        match e {
            AuthFailure::Unsupported(offered) => Self::AuthUnsupported(offered),
            AuthFailure::NoChallenge => {
                Self::AuthUnsupported("the 401 carried no WWW-Authenticate challenge".into())
            }
            AuthFailure::Rejected { scheme } => Self::AuthRejected { scheme },
        }
    }
}

/// Words a failed connection setup toward the ACS at `target`.
pub(super) fn connect_error(e: ConnectError, target: &Target) -> TransportError {
    match e {
        ConnectError::TlsConfig(e) => e.into(),
        ConnectError::Resolve { host } => TransportError::Resolve { host },
        ConnectError::Tcp { addr, error } => tcp_error(target, addr, &error),
        ConnectError::Timeout { after } => TransportError::ConnectTimeout {
            target: target.display_addr(),
            after,
        },
        ConnectError::ServerName => TransportError::InvalidUrl {
            url: target.url.clone(),
            reason: "the host is not a valid TLS server name".into(),
        },
        ConnectError::TlsHandshake { host, error, .. } => {
            TransportError::Tls(match (find_rustls_error(&error), error.kind()) {
                (Some(tls), _) => describe_tls(tls, &host),
                (None, io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) => {
                    format!(
                        "{host} closed the connection during the handshake (is it really HTTPS?)"
                    )
                }
                (None, _) => format!("handshake with {host} failed: {error}"),
            })
        }
        ConnectError::Setup(e) => {
            TransportError::Protocol(format!("HTTP connection setup failed: {e}"))
        }
    }
}

fn tcp_error(target: &Target, addr: SocketAddr, e: &io::Error) -> TransportError {
    let target = if target.host.parse::<IpAddr>().is_ok() {
        addr.to_string()
    } else {
        format!("{} ({addr})", target.display_addr())
    };
    let reason = match e.kind() {
        io::ErrorKind::ConnectionRefused => return TransportError::ConnectRefused { target },
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    };
    TransportError::ConnectFailed { target, reason }
}

/// Words a request to the ACS at `host` that failed before its answer arrived.
pub(super) fn request_error(e: &hyper::Error, host: &str) -> TransportError {
    if let Some(tls) = find_rustls_error(e) {
        return TransportError::Tls(describe_tls(tls, host));
    }
    if connection_dropped(e) {
        return TransportError::Closed;
    }
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        return TransportError::Protocol(format!("malformed HTTP answer ({e})"));
    }
    TransportError::Protocol(e.to_string())
}

fn retry_suffix(retry_after: &Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {})", human(d)))
        .unwrap_or_default()
}

/// Operator sentence (without the "TLS: " prefix) for a rustls failure toward `host`.
pub(crate) fn describe_tls(err: &rustls::Error, host: &str) -> String {
    describe_tls_for(err, host, "the ACS")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rejects_bad_urls() {
        for bad in [
            "acs.example.com",
            "ftp://x/",
            "http://",
            "",
            "http://u:p@h/",
        ] {
            let e = TransportError::from(Target::parse(bad).unwrap_err());
            assert!(e.to_string().starts_with("invalid ACS URL"), "{e}");
        }
    }

    #[test]
    fn unusable_tls_files_are_config_errors() {
        let s = crate::http::TlsSettings {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..Default::default()
        };
        let e = TransportError::from(crate::http::tls::client_config(&s).unwrap_err());
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        assert_eq!(e.kind(), ErrorKind::Config);
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
}
