//! Argument readers shared by the RPC decoders.
//!
//! Arguments are unqualified elements matched by local name. Strings are trimmed of XML
//! whitespace (ACSes pretty-print), except parameter values, which [`super::value`] reads raw.

use super::datetime::DateTime;
use super::value::parse_bool;
use super::xml::Element;
use super::{ArgError, ArgResult};

/// A required child element.
pub fn req<'a, 'x>(el: &'a Element<'x>, name: &str) -> ArgResult<&'a Element<'x>> {
    el.child(name).ok_or_else(|| ArgError::missing(name))
}

/// A required string argument.
pub fn string(el: &Element, name: &str) -> ArgResult<String> {
    Ok(req(el, name)?.trimmed_text().to_owned())
}

/// An optional string argument, empty when absent.
pub fn opt_string(el: &Element, name: &str) -> String {
    el.child(name)
        .map(|c| c.trimmed_text().to_owned())
        .unwrap_or_default()
}

/// A string argument that must not exceed `max` characters (schema `maxLength`).
pub fn bounded_string(el: &Element, name: &str, max: usize) -> ArgResult<String> {
    let s = string(el, name)?;
    check_len(name, &s, max)?;
    Ok(s)
}

/// Like [`bounded_string`], empty when absent.
pub fn opt_bounded_string(el: &Element, name: &str, max: usize) -> ArgResult<String> {
    let s = opt_string(el, name);
    check_len(name, &s, max)?;
    Ok(s)
}

pub fn check_len(name: &str, s: &str, max: usize) -> ArgResult<()> {
    let n = s.chars().count();
    if n > max {
        return Err(ArgError::invalid(
            name,
            format!("{n} characters, at most {max} allowed"),
        ));
    }
    Ok(())
}

fn parse_num<T: std::str::FromStr>(name: &str, text: &str) -> ArgResult<T> {
    let t = text.trim();
    if t.starts_with('-') && std::any::type_name::<T>().starts_with('u') {
        return Err(ArgError::invalid(name, format!("{t:?} is negative")));
    }
    t.parse()
        .map_err(|_| ArgError::invalid(name, format!("{t:?} is not a valid number")))
}

/// A required unsignedInt argument.
pub fn u32_child(el: &Element, name: &str) -> ArgResult<u32> {
    parse_num(name, req(el, name)?.trimmed_text())
}

/// An optional unsignedInt argument (absent or empty → `None`).
pub fn opt_u32(el: &Element, name: &str) -> ArgResult<Option<u32>> {
    match el.child(name) {
        Some(c) if !c.trimmed_text().is_empty() => parse_num(name, c.trimmed_text()).map(Some),
        _ => Ok(None),
    }
}

/// A required int argument.
pub fn i32_child(el: &Element, name: &str) -> ArgResult<i32> {
    parse_num(name, req(el, name)?.trimmed_text())
}

/// A required boolean argument (`true`/`false`/`1`/`0`).
pub fn bool_child(el: &Element, name: &str) -> ArgResult<bool> {
    let t = req(el, name)?.trimmed_text();
    parse_bool(t).ok_or_else(|| ArgError::invalid(name, format!("{t:?} is not a boolean")))
}

/// An optional dateTime argument: absent or empty means the Unknown Time (GenieACS's reading).
pub fn opt_datetime(el: &Element, name: &str) -> ArgResult<DateTime> {
    match el.child(name) {
        Some(c) if !c.trimmed_text().is_empty() => {
            DateTime::parse(c.trimmed_text()).map_err(|e| ArgError::invalid(name, e.reason))
        }
        _ => Ok(DateTime::UNKNOWN),
    }
}

/// The items of a required SOAP-encoded array argument (element children of the container,
/// whatever their names: ACSes disagree on item element names).
pub fn array<'a, 'x>(el: &'a Element<'x>, name: &str) -> ArgResult<&'a [Element<'x>]> {
    Ok(&req(el, name)?.children)
}

/// The items of an optional array argument (absent → empty).
pub fn opt_array<'a, 'x>(el: &'a Element<'x>, name: &str) -> &'a [Element<'x>] {
    el.child(name).map(|c| c.children.as_slice()).unwrap_or(&[])
}

/// Texts of a required `xsd:string[]` array.
pub fn string_array(el: &Element, name: &str) -> ArgResult<Vec<String>> {
    Ok(array(el, name)?
        .iter()
        .map(|i| i.trimmed_text().to_owned())
        .collect())
}
