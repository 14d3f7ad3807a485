//! Checking a value the ACS (or a configuration file) wants to write against a parameter's
//! syntax, and returning its canonical form.

use crate::cwmp::{DateTime, FaultCode, Value, XsdType};

use super::model::effectively_writable;
use super::registry::{ParamDef, Source, Syntax};
use crate::state::settings;

/// Why a value was refused: the SetParameterValuesFault code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: FaultCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: FaultCode, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

/// Validates `value` for `def`: its xsi:type (when the ACS sent one; GenieACS may omit it), then
/// the value against the syntax. Returns the canonical text to store.
pub fn check(def: &ParamDef, value: &Value) -> Result<String, Refusal> {
    let expected = def.syntax.xsd_type();
    if let Some(sent) = &value.xsd_type {
        if *sent != expected {
            return Err(Refusal::new(
                FaultCode::InvalidParameterType,
                format!(
                    "{} is {}, not {}",
                    def.path,
                    expected.wire_name(),
                    sent.wire_name()
                ),
            ));
        }
    }
    check_text(def, &value.text)
}

/// Validates the text of a value for `def` (no type check) and returns its canonical form.
pub fn check_text(def: &ParamDef, text: &str) -> Result<String, Refusal> {
    let invalid = |why: String| Err(Refusal::new(FaultCode::InvalidParameterValue, why));
    match def.syntax {
        Syntax::String {
            max_len,
            enumeration,
        } => {
            if max_len > 0 && text.chars().count() > max_len as usize {
                return invalid(format!("longer than {max_len} characters"));
            }
            if text.chars().any(|c| c.is_control() && c != '\t') {
                return invalid("contains control characters".into());
            }
            if !enumeration.is_empty() && !enumeration.contains(&text) {
                return invalid(format!("must be one of {}", enumeration.join(", ")));
            }
            Ok(text.to_owned())
        }
        Syntax::Boolean => match crate::cwmp::value::parse_bool(text.trim()) {
            Some(b) => Ok(b.to_string()),
            None => invalid("must be true, false, 1 or 0".into()),
        },
        Syntax::UnsignedInt { min, max } => match text.trim().parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            _ => invalid(format!("must be a whole number from {min} to {max}")),
        },
        Syntax::Int { min, max } => match text.trim().parse::<i32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            _ => invalid(format!("must be a whole number from {min} to {max}")),
        },
        Syntax::Long { min, max } => match text.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n.to_string()),
            _ => invalid(format!("must be a whole number from {min} to {max}")),
        },
        Syntax::UnsignedLong => match text.trim().parse::<u64>() {
            Ok(n) => Ok(n.to_string()),
            _ => invalid("must be a whole number from 0".into()),
        },
        // Empty is how an unset time is written in configuration files: the Unknown Time.
        Syntax::DateTime if text.trim().is_empty() => Ok(DateTime::UNKNOWN.to_string()),
        Syntax::DateTime => match DateTime::parse(text.trim()) {
            Ok(d) => Ok(d.to_string()),
            Err(_) => invalid("must be an xsd:dateTime such as 2026-01-01T00:00:00Z".into()),
        },
    }
}

/// The xsd type a stored value is reported with.
pub fn xsd_type(def: &ParamDef) -> XsdType {
    def.syntax.xsd_type()
}

/// Checks a write of `value` to the registry parameter `name` (writability on this device, the
/// syntax, the setting's own form for settings-backed parameters) and returns the canonical text
/// to store. Shared by SetParameterValues and configuration files.
const INFORM_PARAMETER: &str = "Device.ManagementServer.InformParameter.";

/// TR-181 InformParameter: ParameterName is a parameter path (instance numbers may be `*`) that
/// is not a forced-inform parameter; EventList may not name `4 VALUE CHANGE`.
fn check_inform_parameter(name: &str, value: &str) -> Result<(), Refusal> {
    let invalid = |why: &str| Err(Refusal::new(FaultCode::InvalidParameterValue, why));
    if name.ends_with(".ParameterName") && !value.is_empty() {
        if !value.starts_with("Device.")
            || value.contains("..")
            || value.contains(char::is_whitespace)
        {
            return invalid("not a parameter path (Device.…, * for instance numbers)");
        }
        let forced = super::model::param_def(value).is_some_and(|d| d.forced_inform);
        if forced {
            return invalid("forced-inform parameters are always in the Inform");
        }
    }
    if name.ends_with(".EventList")
        && value
            .split(',')
            .any(|e| e.trim() == crate::cwmp::rpc::inform::event_code::VALUE_CHANGE)
    {
        return invalid("4 VALUE CHANGE cannot carry extra parameters (TR-069 A.3.3.1)");
    }
    Ok(())
}

pub fn check_write(def: &ParamDef, name: &str, value: &Value) -> Result<String, Refusal> {
    if !effectively_writable(def) {
        let why = if def.writable {
            "the host owns this value; it cannot be changed over CWMP on this device"
        } else {
            "read-only"
        };
        return Err(Refusal::new(FaultCode::NonWritableParameter, why));
    }
    let canonical = check(def, value)?;
    // TR-106 DiagnosticsState: the ACS may only ask for a test.
    if name.ends_with(".DiagnosticsState") && canonical != "Requested" {
        return Err(Refusal::new(
            FaultCode::InvalidParameterValue,
            "only Requested can be written",
        ));
    }
    if name.starts_with(INFORM_PARAMETER) {
        check_inform_parameter(name, &canonical)?;
    }
    if def.source == Source::Setting {
        let setting = settings::setting_for_parameter(name).ok_or_else(|| {
            Refusal::new(FaultCode::InternalError, "no setting backs this parameter")
        })?;
        return settings::canonical(setting, &canonical).ok_or_else(|| {
            Refusal::new(
                FaultCode::InvalidParameterValue,
                format!("expected {}", setting.accepted_form()),
            )
        });
    }
    Ok(canonical)
}
