//! External providers: an executable that owns a subtree of the data model, speaking JSON on
//! stdin/stdout. CONTRACT (filled in by the external-provider work).

use std::path::PathBuf;
use std::time::Duration;

use crate::cwmp::{Fault, XsdType};

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalProvider {
    /// The subtree it owns, ending in `.` (e.g. `Device.X_ACME_Firewall.` or `Device.NAT.`).
    pub subtree: String,
    pub command: PathBuf,
    pub args: Vec<String>,
    pub timeout: Duration,
}

/// A parameter or object the provider reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalNode {
    /// Full name; objects end in `.`.
    pub name: String,
    pub writable: bool,
    /// Parameters only.
    pub xsd_type: Option<XsdType>,
}

/// A parameter value the provider reports or is asked to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalValue {
    pub name: String,
    pub value: String,
    pub xsd_type: XsdType,
}

/// Why a provider call failed; `to_fault` maps it to the CWMP fault the ACS gets.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("{command} did not answer within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
    #[error("{command} answered something that is not the protocol: {detail}")]
    Protocol { command: String, detail: String },
    /// The provider refused: a CWMP fault code, a message and, for set, per-parameter faults.
    #[error("{message}")]
    Refused {
        code: u32,
        message: String,
        parameter_faults: Vec<(String, u32, String)>,
    },
}

impl ExternalError {
    pub fn to_fault(&self) -> Fault {
        unimplemented!("external provider: being written")
    }
}

impl ExternalProvider {
    /// Whether `name` (a parameter, an object or a partial path) lies in this provider's subtree.
    pub fn owns(&self, name: &str) -> bool {
        name.starts_with(self.subtree.as_str())
    }

    /// Every parameter and object under `path` (all levels).
    pub fn list(&self, path: &str) -> Result<Vec<ExternalNode>, ExternalError> {
        let _ = path;
        unimplemented!("external provider: being written")
    }

    /// The values of the named parameters, or of everything under partial paths ending in `.`.
    pub fn get(&self, names: &[String]) -> Result<Vec<ExternalValue>, ExternalError> {
        let _ = names;
        unimplemented!("external provider: being written")
    }

    /// Sets all the values or none; returns whether a reboot is needed for them to take effect.
    pub fn set(&self, values: &[ExternalValue]) -> Result<bool, ExternalError> {
        let _ = values;
        unimplemented!("external provider: being written")
    }

    /// Creates an instance of the table `object` (ending in `.`); returns its number.
    pub fn add(&self, object: &str) -> Result<u32, ExternalError> {
        let _ = object;
        unimplemented!("external provider: being written")
    }

    /// Deletes the instance `object` (ending in `.`).
    pub fn delete(&self, object: &str) -> Result<(), ExternalError> {
        let _ = object;
        unimplemented!("external provider: being written")
    }
}
