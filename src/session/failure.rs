//! Why a session failed, in words an operator can act on.
//!
//! TR-069 (digest §4) counts a session as failed when the connection cannot be made or breaks,
//! when no HTTP response comes in time, when the ACS answers with a status other than 200/204
//! (after authentication), when its SOAP is malformed, or when it answers the Inform with a
//! fault. A failed session is retried with the backoff of §3.2.1.1 and its Inform carries
//! RetryCount + 1; the events it did deliver (the InformResponse arrived) stay delivered.

use std::fmt;
use std::time::Duration;

use crate::cwmp::FaultCode;

use super::whole_seconds;

/// Why a session failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The connection could not be made or broke (DNS, TCP, TLS, a closed connection); the
    /// transport's own sentence.
    Transport(String),
    /// The ACS answered with an HTTP status other than 200/204 (401 after authentication, 403,
    /// 404, 5xx without a SOAP fault, …). `retry_after` is its `Retry-After`, when it gave one
    /// (usual with 503).
    HttpStatus {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The ACS answered a message with a SOAP fault: 8002 internal error, 8005 "Retry request"
    /// (the session is retried later, as for any failure), 8006 version incompatible, …
    /// `in_reply_to` names what it answered (`Inform`, `an empty POST`, …). `code` 0 means the
    /// fault had no `cwmp:Fault` detail; `string` then holds the SOAP faultstring.
    AcsFault {
        code: u32,
        string: String,
        in_reply_to: String,
    },
    /// The ACS sent something that is not a readable SOAP envelope (not XML, not UTF-8, an HTML
    /// page from a proxy, a fault that cannot be read).
    Malformed(String),
    /// The ACS broke the message sequence: no InformResponse to the Inform, an empty answer to
    /// a CPE request, a response to nothing.
    Protocol(String),
    /// The ACS did not answer in time: `idle` when a single message took longer than the
    /// SessionTimeout, otherwise the whole session exceeded its limit.
    Timeout { idle: bool, limit_secs: u32 },
    /// The agent drove the state machine out of order (a bug in the agent, not the ACS).
    Internal(String),
}

impl FailureReason {
    /// The HTTP status, for [`FailureReason::HttpStatus`].
    pub fn http_status(&self) -> Option<u16> {
        match self {
            FailureReason::HttpStatus { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The ACS's `Retry-After`, when it sent one with a failing status.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            FailureReason::HttpStatus { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The ACS fault code, for [`FailureReason::AcsFault`].
    pub fn acs_fault_code(&self) -> Option<u32> {
        match self {
            FailureReason::AcsFault { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Transport(sentence) => {
                write!(f, "the connection to the ACS failed: {sentence}")
            }
            FailureReason::HttpStatus {
                status,
                retry_after,
            } => {
                let reason = http::StatusCode::from_u16(*status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("(unknown status)");
                write!(f, "the ACS answered {status} {reason}")?;
                if let Some(d) = retry_after {
                    write!(f, " (retry after {} s)", whole_seconds(*d))?;
                }
                match status {
                    401 => write!(f, "; check ManagementServer.Username and Password"),
                    403 => write!(f, "; the ACS refuses this CPE"),
                    301 | 302 | 307 | 308 => {
                        write!(f, "; redirects are only followed for the Inform")
                    }
                    _ => Ok(()),
                }
            }
            FailureReason::AcsFault {
                code,
                string,
                in_reply_to,
            } => {
                write!(f, "the ACS answered the {in_reply_to} with ")?;
                match FaultCode::from_code(*code) {
                    _ if *code == 0 => {
                        write!(f, "a SOAP fault without a CWMP fault code ({string})")
                    }
                    Some(named) if string.is_empty() || string == named.name() => {
                        write!(f, "fault {named}")
                    }
                    Some(named) => write!(f, "fault {named}: {string}"),
                    None if string.is_empty() => write!(f, "fault {code}"),
                    None => write!(f, "fault {code} {string}"),
                }
            }
            FailureReason::Malformed(detail) => write!(f, "the ACS sent malformed SOAP: {detail}"),
            FailureReason::Protocol(detail) => {
                write!(f, "the ACS broke the CWMP message sequence: {detail}")
            }
            FailureReason::Timeout {
                idle: true,
                limit_secs,
            } => {
                write!(
                    f,
                    "the ACS did not answer within {limit_secs} s (the session timeout)"
                )
            }
            FailureReason::Timeout {
                idle: false,
                limit_secs,
            } => {
                write!(
                    f,
                    "the session did not finish within its {limit_secs} s limit"
                )
            }
            FailureReason::Internal(detail) => write!(
                f,
                "internal error in the agent's session handling: {detail}"
            ),
        }
    }
}

impl std::error::Error for FailureReason {}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(code: u32, string: &str) -> FailureReason {
        FailureReason::AcsFault {
            code,
            string: string.into(),
            in_reply_to: "Inform".into(),
        }
    }

    #[test]
    fn sentences() {
        assert_eq!(
            fault(8005, "Retry request").to_string(),
            "the ACS answered the Inform with fault 8005 Retry request"
        );
        assert_eq!(
            fault(8005, "").to_string(),
            "the ACS answered the Inform with fault 8005 Retry request"
        );
        assert_eq!(
            fault(8002, "database down").to_string(),
            "the ACS answered the Inform with fault 8002 Internal error: database down"
        );
        assert_eq!(
            fault(8850, "vendor").to_string(),
            "the ACS answered the Inform with fault 8850 vendor"
        );
        assert_eq!(
            fault(0, "Server: oops").to_string(),
            "the ACS answered the Inform with a SOAP fault without a CWMP fault code (Server: oops)"
        );
        assert_eq!(
            FailureReason::HttpStatus {
                status: 503,
                retry_after: Some(Duration::from_secs(120))
            }
            .to_string(),
            "the ACS answered 503 Service Unavailable (retry after 120 s)"
        );
        assert_eq!(
            FailureReason::HttpStatus {
                status: 401,
                retry_after: None
            }
            .to_string(),
            "the ACS answered 401 Unauthorized; check ManagementServer.Username and Password"
        );
        assert_eq!(
            FailureReason::HttpStatus {
                status: 999,
                retry_after: Some(Duration::from_millis(1500))
            }
            .to_string(),
            "the ACS answered 999 (unknown status) (retry after 2 s)"
        );
        assert_eq!(
            FailureReason::Malformed("not well-formed XML".into()).to_string(),
            "the ACS sent malformed SOAP: not well-formed XML"
        );
        assert_eq!(
            FailureReason::Timeout {
                idle: true,
                limit_secs: 60
            }
            .to_string(),
            "the ACS did not answer within 60 s (the session timeout)"
        );
    }
}
