//! Transfer errors: each Display is a sentence an operator can act on, and each maps to the CWMP
//! fault code the TransferComplete (or the Download/Upload response) carries.
//!
//! Code choices where TR-069 leaves room:
//!
//! - a server that *announces* a size different from the Download's FileSize (Content-Length or
//!   Content-Range total) is refused before any byte is written: 9010, naming both sizes;
//! - a body that ends before its announced length (connection dropped, server stopped) is
//!   [`TransferError::Truncated`]: 9017 "unable to complete download". The partial file is kept
//!   so the next attempt resumes with a Range request;
//! - a body that ends cleanly (chunked, no length announced) with a size different from FileSize
//!   is [`TransferError::Corrupted`]: 9018 "file corrupted";
//! - a connect timeout is 9015 (the server could not be contacted); a server that goes quiet
//!   after answering is 9017;
//! - 403 after credentials were sent is 9012; a 403 to a request without credentials is 9016
//!   (e.g. an expired pre-signed URL);
//! - local problems (disk full, unwritable destination, unusable CA file) are 9010.
//!
//! Upload errors are wrapped in [`TransferError::Upload`] (9011) except authentication (9012),
//! unsupported protocol (9013) and unreachable server (9015), which keep their own codes.

use std::path::PathBuf;
use std::time::Duration;

use crate::cwmp::FaultCode;
use crate::http::error::{human, reason_suffix};

/// TR-069's FaultString is a string(256).
pub const MAX_FAULT_STRING_CHARS: usize = 256;

/// A failed file transfer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    #[error("unsupported protocol \"{scheme}\": only http:// and https:// transfers are supported")]
    UnsupportedProtocol { scheme: String },
    #[error("invalid transfer URL: {reason}")]
    InvalidUrl { reason: String },
    /// DNS, TCP connect, connect timeout or TLS handshake failed.
    #[error("cannot contact the file server {target}: {reason}")]
    UnableToContact { target: String, reason: String },
    #[error("authentication with the file server {target} failed: {reason}")]
    AuthFailed { target: String, reason: String },
    /// 404, 410 and the other 4xx; too many or unusable redirects.
    #[error("cannot access {url}: {reason}")]
    UnableToAccess { url: String, reason: String },
    /// 5xx, or a status the transfer cannot use.
    #[error("the file server answered HTTP {status}{} for {url}", reason_suffix(.reason))]
    ServerError {
        url: String,
        status: u16,
        reason: Option<&'static str>,
    },
    #[error(
        "the file server announces {announced} bytes but the Download's FileSize is {expected} bytes"
    )]
    SizeMismatch { expected: u64, announced: u64 },
    #[error("download cut short after {received} of {expected} bytes (will resume)")]
    Truncated { received: u64, expected: u64 },
    #[error("downloaded file corrupted: {reason}")]
    Corrupted { reason: String },
    #[error("the file server sent nothing for {} ({what})", human(*.after))]
    Timeout { what: &'static str, after: Duration },
    #[error("the connection to the file server broke: {reason}")]
    ConnectionLost { reason: String },
    #[error("not enough free space: need {need} bytes, have {have} bytes")]
    NoSpace { need: u64, have: u64 },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TLS settings are unusable (unreadable CA file or client certificate).
    #[error("{0}")]
    TlsConfig(String),
    #[error("malformed answer from the file server: {0}")]
    Protocol(String),
    /// Any upload failure that is not authentication, protocol or contact.
    #[error("upload failed: {0}")]
    Upload(#[source] Box<TransferError>),
}

impl TransferError {
    /// The CWMP fault for this failure.
    pub fn fault(&self) -> FaultCode {
        match self {
            Self::UnsupportedProtocol { .. } => FaultCode::UnsupportedProtocolForFileTransfer,
            Self::UnableToContact { .. } => FaultCode::UnableToContactFileServer,
            Self::AuthFailed { .. } => FaultCode::FileTransferServerAuthenticationFailure,
            Self::UnableToAccess { .. } => FaultCode::UnableToAccessFile,
            Self::Truncated { .. } | Self::Timeout { .. } | Self::ConnectionLost { .. } => {
                FaultCode::UnableToCompleteDownload
            }
            Self::Corrupted { .. } => FaultCode::FileCorrupted,
            Self::Upload(_) => FaultCode::UploadFailure,
            Self::InvalidUrl { .. }
            | Self::ServerError { .. }
            | Self::SizeMismatch { .. }
            | Self::NoSpace { .. }
            | Self::Io { .. }
            | Self::TlsConfig(_)
            | Self::Protocol(_) => FaultCode::FileTransferFailure,
        }
    }

    /// The CWMP FaultCode number (9010–9018).
    pub fn fault_code(&self) -> u32 {
        self.fault().code()
    }

    /// The FaultString: this error's sentence, cut to 256 characters. Never carries a password
    /// (credentials are not part of any message) nor a URL query (which may hold a token).
    pub fn fault_string(&self) -> String {
        let text = self.to_string();
        if text.chars().count() <= MAX_FAULT_STRING_CHARS {
            return text;
        }
        let mut cut: String = text.chars().take(MAX_FAULT_STRING_CHARS - 1).collect();
        cut.push('…');
        cut
    }

    /// Converts a failure met while uploading: authentication, protocol and contact failures
    /// keep their codes, everything else becomes an Upload failure (9011).
    pub(crate) fn into_upload(self) -> TransferError {
        match self {
            Self::UnsupportedProtocol { .. }
            | Self::UnableToContact { .. }
            | Self::AuthFailed { .. }
            | Self::Upload(_) => self,
            other => Self::Upload(Box::new(other)),
        }
    }

    /// The partial file is worth keeping for a resumed attempt.
    pub fn is_resumable(&self) -> bool {
        matches!(
            self,
            Self::Truncated { .. } | Self::Timeout { .. } | Self::ConnectionLost { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> TransferError {
        TransferError::UnableToContact {
            target: "files:80".into(),
            reason: "connection refused".into(),
        }
    }

    #[test]
    fn every_error_maps_to_its_fault_code() {
        let cases: Vec<(TransferError, u32)> = vec![
            (
                TransferError::UnsupportedProtocol {
                    scheme: "ftp".into(),
                },
                9013,
            ),
            (
                TransferError::InvalidUrl {
                    reason: "missing host".into(),
                },
                9010,
            ),
            (contact(), 9015),
            (
                TransferError::AuthFailed {
                    target: "files:80".into(),
                    reason: "401 after Digest".into(),
                },
                9012,
            ),
            (
                TransferError::UnableToAccess {
                    url: "http://files/a".into(),
                    reason: "HTTP 404 Not Found".into(),
                },
                9016,
            ),
            (
                TransferError::ServerError {
                    url: "http://files/a".into(),
                    status: 503,
                    reason: Some("Service Unavailable"),
                },
                9010,
            ),
            (
                TransferError::SizeMismatch {
                    expected: 10,
                    announced: 11,
                },
                9010,
            ),
            (
                TransferError::Truncated {
                    received: 5,
                    expected: 10,
                },
                9017,
            ),
            (
                TransferError::Corrupted {
                    reason: "short".into(),
                },
                9018,
            ),
            (
                TransferError::Timeout {
                    what: "body",
                    after: Duration::from_secs(30),
                },
                9017,
            ),
            (
                TransferError::ConnectionLost {
                    reason: "reset".into(),
                },
                9017,
            ),
            (TransferError::NoSpace { need: 10, have: 1 }, 9010),
            (
                TransferError::Io {
                    action: "write",
                    path: "/tmp/x".into(),
                    source: std::io::Error::other("boom"),
                },
                9010,
            ),
            (TransferError::TlsConfig("TLS: bad CA".into()), 9010),
            (TransferError::Protocol("bad Content-Range".into()), 9010),
        ];
        for (e, code) in cases {
            assert_eq!(e.fault_code(), code, "{e}");
            assert_eq!(e.fault().code(), code);
        }
    }

    #[test]
    fn upload_failures_are_9011_except_auth_protocol_and_contact() {
        let timeout = TransferError::Timeout {
            what: "answer",
            after: Duration::from_secs(5),
        }
        .into_upload();
        assert_eq!(timeout.fault_code(), 9011);
        assert_eq!(
            timeout.fault_string(),
            "upload failed: the file server sent nothing for 5 s (answer)"
        );
        let status = TransferError::UnableToAccess {
            url: "http://f/u".into(),
            reason: "HTTP 404 Not Found".into(),
        }
        .into_upload();
        assert_eq!(status.fault_code(), 9011);
        assert_eq!(contact().into_upload().fault_code(), 9015);
        let auth = TransferError::AuthFailed {
            target: "f:80".into(),
            reason: "x".into(),
        };
        assert_eq!(auth.into_upload().fault_code(), 9012);
        let proto = TransferError::UnsupportedProtocol {
            scheme: "tftp".into(),
        };
        assert_eq!(proto.into_upload().fault_code(), 9013);
        // Wrapping twice does not nest.
        assert!(matches!(
            status.into_upload(),
            TransferError::Upload(inner) if !matches!(*inner, TransferError::Upload(_))
        ));
    }

    #[test]
    fn fault_strings_are_sentences_capped_at_256_chars() {
        let e = TransferError::NoSpace {
            need: 1000,
            have: 10,
        };
        assert_eq!(
            e.fault_string(),
            "not enough free space: need 1000 bytes, have 10 bytes"
        );
        let e = TransferError::UnableToAccess {
            url: format!("http://files/{}", "a".repeat(400)),
            reason: "HTTP 404 Not Found".into(),
        };
        let s = e.fault_string();
        assert_eq!(s.chars().count(), MAX_FAULT_STRING_CHARS);
        assert!(s.ends_with('…'));
        let e = TransferError::ServerError {
            url: "http://files/fw.npk".into(),
            status: 500,
            reason: Some("Internal Server Error"),
        };
        assert_eq!(
            e.fault_string(),
            "the file server answered HTTP 500 Internal Server Error for http://files/fw.npk"
        );
    }

    #[test]
    fn only_interrupted_downloads_are_resumable() {
        assert!(
            TransferError::Truncated {
                received: 1,
                expected: 2
            }
            .is_resumable()
        );
        assert!(!contact().is_resumable());
        assert!(!TransferError::Corrupted { reason: "x".into() }.is_resumable());
    }
}
