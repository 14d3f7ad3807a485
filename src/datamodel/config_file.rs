//! The agent's own configuration-file format, used where no config_apply/config_export hook is
//! configured: one `Device.Parameter.Name = value` per line, `#` comments, blank lines ignored.
//! Values are taken verbatim after the first `=` (surrounding spaces trimmed); a value that needs
//! leading or trailing spaces is written in double quotes with `\"` and `\\` escapes.
//!
//! An Upload of "1 Vendor Configuration File" exports every writable parameter in this format,
//! and a Download of it applies them: export then overwrite round-trips.

use std::fmt::Write as _;

use crate::cwmp::{Fault, FaultCode, SetParameterValuesFault, Value};

use super::model::effectively_writable;
use super::{Entry, Node, View};

/// A parse error, with the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

/// Parses a configuration file into `(name, value)` pairs, in file order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |message: &str| ParseError {
            line: i + 1,
            message: message.to_owned(),
        };
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| err("expected `Device.Name = value`"))?;
        let name = name.trim();
        if !name.starts_with("Device.") || name.ends_with('.') || name.contains(char::is_whitespace)
        {
            return Err(err("the name must be a full parameter name below Device."));
        }
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => unescape(quoted).ok_or_else(|| err("bad escape in a quoted value"))?,
            None => value.to_owned(),
        };
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

fn unescape(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next()? {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

fn quote_if_needed(v: &str) -> String {
    let needs = v.trim() != v || v.starts_with('"') || v.contains('\n');
    if !needs {
        return v.to_owned();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Exports every parameter this device lets the ACS write (the agent's own store and settings;
/// secrets included, as a configuration backup must restore them), in name order.
pub fn export(view: &View, header: &str) -> Result<String, Fault> {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    for entry in view.names("", false)? {
        if let Entry::Param {
            name,
            def,
            instances,
        } = entry
        {
            // DiagnosticsState is a trigger, not configuration.
            if !effectively_writable(def) || name.ends_with(".DiagnosticsState") {
                continue;
            }
            let value = view.read_text(def, &name, &instances)?;
            let _ = writeln!(out, "{name} = {}", quote_if_needed(&value));
        }
    }
    Ok(out)
}

/// Checks parsed values against the data model as a SetParameterValues would (type, range,
/// writability), returning their canonical forms, or the per-parameter faults. Instances the
/// file names in agent-kept tables need not exist yet: the file creates them.
pub fn check(
    view: &View,
    values: &[(String, String)],
) -> Result<Vec<(String, String, String)>, Fault> {
    let mut faults = Vec::new();
    let mut out = Vec::new();
    for (name, text) in values {
        let def = match view.resolve(name) {
            Ok(Node::Param { def, .. }) => Some(def),
            Ok(_) => None,
            // A new instance of an agent-kept table is fine: the pattern decides.
            Err(_) => super::model::param_def(name)
                .filter(|d| matches!(d.source, super::registry::Source::Store { .. })),
        };
        let Some(def) = def else {
            faults.push(SetParameterValuesFault::new(
                name,
                FaultCode::InvalidParameterName,
                Some("no such parameter"),
            ));
            continue;
        };
        match super::validate::check_write(def, name, &Value::untyped(text.clone())) {
            Ok(canonical) => out.push((
                name.clone(),
                canonical,
                def.syntax.xsd_type().name().to_owned(),
            )),
            Err(r) => faults.push(SetParameterValuesFault::new(name, r.code, Some(&r.message))),
        }
    }
    if faults.is_empty() {
        Ok(out)
    } else {
        Err(Fault::set_parameter_values(faults))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_quotes_and_reports_lines() {
        let text =
            "# backup\n\nDevice.Time.NTPServer1 = pool.ntp.org\nDevice.X.Y=\"  padded \\\" \"\n";
        assert_eq!(
            parse(text).unwrap(),
            [
                (
                    "Device.Time.NTPServer1".to_owned(),
                    "pool.ntp.org".to_owned()
                ),
                ("Device.X.Y".to_owned(), "  padded \" ".to_owned())
            ]
        );
        assert_eq!(parse("Device.A.B\n").unwrap_err().line, 1);
        assert_eq!(parse("# x\nFoo = 1\n").unwrap_err().line, 2);
        assert_eq!(quote_if_needed(" a"), "\" a\"");
        assert_eq!(
            parse(&format!("Device.A = {}\n", quote_if_needed(" a\\\"b"))).unwrap()[0].1,
            " a\\\"b"
        );
    }
}
