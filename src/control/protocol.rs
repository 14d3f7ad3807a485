//! The control protocol: one JSON object per line, a request from the CLI, a response from the
//! agent.
//!
//! ```text
//! → {"request":"set","items":[["acs-url","https://acs.example.com/"],["enabled","yes"]]}
//! ← {"response":"ok","message":"2 settings changed"}
//! → {"request":"get","name":"retry-count"}
//! ← {"response":"value","name":"retry-count","value":"0"}
//! → {"request":"set","items":[["periodic-inform-interval","soon"]]}
//! ← {"response":"error","kind":"invalid-input","message":"invalid value \"soon\" for periodic-inform-interval: expected …"}
//! ```

use serde::{Deserialize, Serialize};

use super::view::StatusView;

/// What the operator asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum ControlRequest {
    /// Everything `print` shows.
    Print,
    /// One setting (display form, secrets masked) or read-only value (`status`,
    /// `last-session-error`, `retry-count`).
    Get { name: String },
    /// Change settings, all or nothing: `(setting name, value as typed)`.
    Set { items: Vec<(String, String)> },
    /// `reset-tr069-config`: forget configuration and state; a BOOTSTRAP is owed.
    ResetConfig,
    /// Start a session now (only a running daemon can).
    InformNow,
    /// The read-only `status` (disabled / waiting-URL / running).
    Status,
}

/// Why a request failed; decides the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The operator's input was refused (unknown setting, invalid value): exit code 2.
    InvalidInput,
    /// The request needs a running daemon and none runs: exit code 1.
    NotRunning,
    /// Anything else (the journal refused the append, …): exit code 1.
    Internal,
}

impl ErrorKind {
    /// The CLI's exit code for this error.
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InvalidInput => 2,
            ErrorKind::NotRunning | ErrorKind::Internal => 1,
        }
    }
}

/// The agent's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum ControlResponse {
    /// Done; `message` is a human sentence for the terminal (may be empty).
    Ok { message: String },
    /// The value asked for with `Get` or `Status`.
    Value { name: String, value: String },
    /// What `print` shows.
    View { view: Box<StatusView> },
    /// Refused or failed.
    Error { kind: ErrorKind, message: String },
}

impl ControlResponse {
    pub fn ok(message: impl Into<String>) -> ControlResponse {
        ControlResponse::Ok {
            message: message.into(),
        }
    }

    pub fn error(kind: ErrorKind, message: impl Into<String>) -> ControlResponse {
        ControlResponse::Error {
            kind,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_one_json_object() {
        let req = ControlRequest::Set {
            items: vec![("acs-url".into(), "https://a/".into())],
        };
        let line = serde_json::to_string(&req).unwrap();
        assert_eq!(
            line,
            r#"{"request":"set","items":[["acs-url","https://a/"]]}"#
        );
        assert_eq!(serde_json::from_str::<ControlRequest>(&line).unwrap(), req);
        let line = serde_json::to_string(&ControlRequest::ResetConfig).unwrap();
        assert_eq!(line, r#"{"request":"reset-config"}"#);
        let resp = ControlResponse::error(ErrorKind::InvalidInput, "bad");
        let line = serde_json::to_string(&resp).unwrap();
        assert_eq!(
            line,
            r#"{"response":"error","kind":"invalid-input","message":"bad"}"#
        );
        assert_eq!(
            serde_json::from_str::<ControlResponse>(&line).unwrap(),
            resp
        );
    }
}
