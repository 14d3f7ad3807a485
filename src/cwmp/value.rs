//! Parameter values and their `xsi:type` (TR-069 §A.2.1, TR-106 §3.2).
//!
//! A value is kept as its wire text plus the type the sender declared. Keeping the text (rather
//! than parsing eagerly) matters for SetParameterValues: a value that does not fit its declared
//! or modelled type is a *per-parameter* fault (9006/9007) the data model reports, not a reason to
//! reject the whole envelope.

use std::fmt;

use super::datetime::DateTime;
use super::xml::{Element, Writer, XSI_NS};
use super::{ArgError, ArgResult};

/// A name and its value (TR-069 ParameterValueStruct), as in SetParameterValues,
/// GetParameterValuesResponse and Inform's ParameterList.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterValueStruct {
    pub name: String,
    pub value: Value,
}

impl ParameterValueStruct {
    pub fn new(name: impl Into<String>, value: Value) -> Self {
        ParameterValueStruct {
            name: name.into(),
            value,
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.open("ParameterValueStruct");
        w.text_element("Name", &self.name);
        match &self.value.xsd_type {
            Some(t) => {
                w.text_element_with("Value", &[("xsi:type", t.wire_name())], &self.value.text)
            }
            None => w.text_element("Value", &self.value.text),
        }
        w.close("ParameterValueStruct");
    }

    /// Writes `<name soap-enc:arrayType="cwmp:ParameterValueStruct[n]">…</name>`.
    pub(crate) fn encode_list(w: &mut Writer, name: &str, list: &[ParameterValueStruct]) {
        w.open_array(name, "cwmp:ParameterValueStruct", list.len());
        for p in list {
            p.encode(w);
        }
        w.close(name);
    }

    pub(crate) fn decode(el: &Element) -> ArgResult<ParameterValueStruct> {
        let name = el
            .child("Name")
            .ok_or_else(|| ArgError::missing("Name"))?
            .trimmed_text()
            .to_owned();
        let value = el
            .child("Value")
            .ok_or_else(|| ArgError::missing("Value"))?;
        // Values are kept verbatim: whitespace inside a string value is data.
        let xsd_type = value
            .attr_ns(Some(XSI_NS), "type")
            .or_else(|| value.attr("type"))
            .map(XsdType::from_wire);
        Ok(ParameterValueStruct {
            name,
            value: Value {
                xsd_type,
                text: (*value.text).to_owned(),
            },
        })
    }

    pub(crate) fn decode_list(items: &[Element]) -> ArgResult<Vec<ParameterValueStruct>> {
        items.iter().map(ParameterValueStruct::decode).collect()
    }
}

/// The `xsi:type`s CWMP uses for parameter values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum XsdType {
    String,
    Int,
    UnsignedInt,
    Long,
    UnsignedLong,
    Boolean,
    DateTime,
    Base64,
    HexBinary,
    /// A type this codec does not know, kept verbatim (prefix stripped) so the data model can
    /// answer 9006 naming it.
    Other(String),
}

impl XsdType {
    /// The wire spelling written in `xsi:type`.
    ///
    /// base64 is written `soap-enc:base64`, the SOAP 1.1 encoding type that validates against
    /// the schemas (`xsd:base64` names no XML Schema type); the decoder also accepts `xsd:base64`
    /// and `xsd:base64Binary`, which some ACSes send.
    pub fn wire_name(&self) -> &str {
        match self {
            XsdType::String => "xsd:string",
            XsdType::Int => "xsd:int",
            XsdType::UnsignedInt => "xsd:unsignedInt",
            XsdType::Long => "xsd:long",
            XsdType::UnsignedLong => "xsd:unsignedLong",
            XsdType::Boolean => "xsd:boolean",
            XsdType::DateTime => "xsd:dateTime",
            XsdType::Base64 => "soap-enc:base64",
            XsdType::HexBinary => "xsd:hexBinary",
            XsdType::Other(name) => name,
        }
    }

    /// The bare type name (`unsignedInt`), as the data model and the journal spell it.
    pub fn name(&self) -> &str {
        let wire = self.wire_name();
        wire.split_once(':').map_or(wire, |(_, local)| local)
    }

    /// Reads an `xsi:type` value. The prefix is not checked: ACSes use `xsd:`, `xs:`,
    /// `soap-enc:` or none at all for the same types.
    /// Blanks around the local name go too (`xsd: int` after a parser turned a line end into
    /// a space): `Other` is written back without its prefix, so a kept blank would be trimmed
    /// away on the next read and the value would not survive a decode → encode → decode.
    pub fn from_wire(value: &str) -> XsdType {
        let local = value.trim().rsplit(':').next().unwrap_or_default().trim();
        match local {
            "string" | "anySimpleType" => XsdType::String,
            "int" | "integer" => XsdType::Int,
            "unsignedInt" => XsdType::UnsignedInt,
            "long" => XsdType::Long,
            "unsignedLong" => XsdType::UnsignedLong,
            "boolean" => XsdType::Boolean,
            "dateTime" => XsdType::DateTime,
            "base64" | "base64Binary" => XsdType::Base64,
            "hexBinary" => XsdType::HexBinary,
            other => XsdType::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for XsdType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A parameter value as carried in a ParameterValueStruct.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Value {
    /// The declared type; `None` when the sender gave no `xsi:type` (GenieACS may omit it in
    /// SetParameterValues: the data model's type then applies).
    pub xsd_type: Option<XsdType>,
    /// The value's text, unescaped.
    pub text: String,
}

/// A value that does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a valid {xsd_type}")]
pub struct ValueError {
    pub xsd_type: XsdType,
    pub text: String,
}

/// A value parsed according to its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedValue {
    String(String),
    Int(i32),
    UnsignedInt(u32),
    Long(i64),
    UnsignedLong(u64),
    Boolean(bool),
    DateTime(DateTime),
    Base64(Vec<u8>),
    HexBinary(Vec<u8>),
}

impl Value {
    pub fn new(xsd_type: XsdType, text: impl Into<String>) -> Value {
        Value {
            xsd_type: Some(xsd_type),
            text: text.into(),
        }
    }
    pub fn untyped(text: impl Into<String>) -> Value {
        Value {
            xsd_type: None,
            text: text.into(),
        }
    }
    pub fn string(s: impl Into<String>) -> Value {
        Value::new(XsdType::String, s)
    }
    pub fn int(v: i32) -> Value {
        Value::new(XsdType::Int, v.to_string())
    }
    pub fn unsigned_int(v: u32) -> Value {
        Value::new(XsdType::UnsignedInt, v.to_string())
    }
    pub fn long(v: i64) -> Value {
        Value::new(XsdType::Long, v.to_string())
    }
    pub fn unsigned_long(v: u64) -> Value {
        Value::new(XsdType::UnsignedLong, v.to_string())
    }
    pub fn boolean(v: bool) -> Value {
        Value::new(XsdType::Boolean, if v { "true" } else { "false" })
    }
    pub fn date_time(v: DateTime) -> Value {
        Value::new(XsdType::DateTime, v.to_string())
    }
    pub fn base64(bytes: &[u8]) -> Value {
        Value::new(XsdType::Base64, base64_encode(bytes))
    }
    pub fn hex_binary(bytes: &[u8]) -> Value {
        Value::new(XsdType::HexBinary, hex_encode(bytes))
    }

    /// The effective type: the declared one, else `xsd:string`.
    pub fn effective_type(&self) -> XsdType {
        self.xsd_type.clone().unwrap_or(XsdType::String)
    }

    /// Parses the text as `as_type` (TR-069 lexical rules: booleans accept `1`/`0`).
    pub fn parse_as(&self, as_type: &XsdType) -> Result<TypedValue, ValueError> {
        parse_typed(as_type, &self.text)
    }

    /// Parses the text as its declared type (`xsd:string` when undeclared).
    pub fn typed(&self) -> Result<TypedValue, ValueError> {
        self.parse_as(&self.effective_type())
    }
}

impl From<TypedValue> for Value {
    fn from(v: TypedValue) -> Value {
        match v {
            TypedValue::String(s) => Value::string(s),
            TypedValue::Int(v) => Value::int(v),
            TypedValue::UnsignedInt(v) => Value::unsigned_int(v),
            TypedValue::Long(v) => Value::long(v),
            TypedValue::UnsignedLong(v) => Value::unsigned_long(v),
            TypedValue::Boolean(v) => Value::boolean(v),
            TypedValue::DateTime(v) => Value::date_time(v),
            TypedValue::Base64(v) => Value::base64(&v),
            TypedValue::HexBinary(v) => Value::hex_binary(&v),
        }
    }
}

/// Parses `text` as `xsd_type`.
pub fn parse_typed(xsd_type: &XsdType, text: &str) -> Result<TypedValue, ValueError> {
    let bad = || ValueError {
        xsd_type: xsd_type.clone(),
        text: text.to_owned(),
    };
    let t = text.trim();
    Ok(match xsd_type {
        XsdType::String => TypedValue::String(text.to_owned()),
        XsdType::Int => TypedValue::Int(t.parse().map_err(|_| bad())?),
        XsdType::UnsignedInt => TypedValue::UnsignedInt(parse_unsigned(t).ok_or_else(bad)?),
        XsdType::Long => TypedValue::Long(t.parse().map_err(|_| bad())?),
        XsdType::UnsignedLong => TypedValue::UnsignedLong(parse_unsigned(t).ok_or_else(bad)?),
        XsdType::Boolean => TypedValue::Boolean(parse_bool(t).ok_or_else(bad)?),
        XsdType::DateTime => TypedValue::DateTime(DateTime::parse(t).map_err(|_| bad())?),
        XsdType::Base64 => TypedValue::Base64(base64_decode(t).ok_or_else(bad)?),
        XsdType::HexBinary => TypedValue::HexBinary(hex_decode(t).ok_or_else(bad)?),
        XsdType::Other(_) => return Err(bad()),
    })
}

fn parse_unsigned<T: std::str::FromStr>(t: &str) -> Option<T> {
    // Rust accepts a leading '+', XML Schema does too; a '-' is never valid for unsigned types.
    if t.starts_with('-') {
        return None;
    }
    t.parse().ok()
}

/// `true`/`false`/`1`/`0` (XML Schema's lexical space for boolean).
pub fn parse_bool(t: &str) -> Option<bool> {
    match t.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// RFC 4648 base64 with padding, no line breaks.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = match chunk {
            [a, b, c] => u32::from(*a) << 16 | u32::from(*b) << 8 | u32::from(*c),
            [a, b] => u32::from(*a) << 16 | u32::from(*b) << 8,
            [a] => u32::from(*a) << 16,
            _ => 0,
        };
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes RFC 4648 base64, ignoring XML whitespace; `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for (ci, chunk) in clean.chunks(4).enumerate() {
        let last = ci == clean.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &b in &chunk[..4 - pad] {
            let v = B64.iter().position(|&c| c == b)? as u32;
            n = n << 6 | v;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Lower-case hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Decodes hex of either case; `None` if malformed.
pub fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().as_bytes();
    if t.len() % 2 != 0 {
        return None;
    }
    t.chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            Some((hi * 16 + lo) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Found by the envelope_decode fuzz target: `xsi:type="xsd:\r\r\r\u{feff}int"` (the
    /// parser normalises the CRs to spaces) decoded as `Other("   \u{feff}int")`, written back
    /// as `"   \u{feff}int"` and read again as `Other("\u{feff}int")`.
    #[test]
    fn an_xsi_type_with_blanks_after_its_prefix_reads_the_same_when_written_back() {
        for wire in ["xsd:   \u{feff}int", "xsd:\tint ", " xs: decimal", "xsd:  "] {
            let first = XsdType::from_wire(wire);
            assert_eq!(XsdType::from_wire(first.wire_name()), first, "{wire:?}");
        }
        assert_eq!(XsdType::from_wire("xsd:\tint "), XsdType::Int);
        assert_eq!(
            XsdType::from_wire("xsd:   \u{feff}int"),
            XsdType::Other("\u{feff}int".into())
        );
    }

    #[test]
    fn xsi_type_spellings() {
        assert_eq!(XsdType::from_wire("xsd:unsignedInt"), XsdType::UnsignedInt);
        assert_eq!(XsdType::from_wire("xs:boolean"), XsdType::Boolean);
        assert_eq!(XsdType::from_wire("soap-enc:base64"), XsdType::Base64);
        assert_eq!(XsdType::from_wire("base64Binary"), XsdType::Base64);
        assert_eq!(
            XsdType::from_wire("xsd:decimal"),
            XsdType::Other("decimal".into())
        );
    }

    #[test]
    fn lexical_rules() {
        assert_eq!(
            parse_typed(&XsdType::Boolean, "1"),
            Ok(TypedValue::Boolean(true))
        );
        assert_eq!(
            parse_typed(&XsdType::Boolean, "false"),
            Ok(TypedValue::Boolean(false))
        );
        assert!(parse_typed(&XsdType::Boolean, "yes").is_err());
        assert!(parse_typed(&XsdType::UnsignedInt, "-1").is_err());
        assert!(parse_typed(&XsdType::UnsignedInt, "4294967296").is_err());
        assert_eq!(parse_typed(&XsdType::Int, " -5 "), Ok(TypedValue::Int(-5)));
        assert_eq!(base64_decode("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8"), None);
        assert_eq!(hex_decode("DEADbeef"), Some(vec![0xde, 0xad, 0xbe, 0xef]));
    }

    proptest! {
        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(base64_decode(&base64_encode(&bytes)), Some(bytes));
        }

        #[test]
        fn hex_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            prop_assert_eq!(hex_decode(&hex_encode(&bytes)), Some(bytes));
        }

        #[test]
        fn typed_values_round_trip(v in prop_oneof![
            any::<i32>().prop_map(TypedValue::Int),
            any::<u32>().prop_map(TypedValue::UnsignedInt),
            any::<i64>().prop_map(TypedValue::Long),
            any::<u64>().prop_map(TypedValue::UnsignedLong),
            any::<bool>().prop_map(TypedValue::Boolean),
            "[a-z ]{0,10}".prop_map(TypedValue::String),
        ]) {
            let value = Value::from(v.clone());
            prop_assert_eq!(value.typed().unwrap(), v);
        }

        #[test]
        fn base64_decode_never_panics(s in ".{0,40}") {
            let _ = base64_decode(&s);
            let _ = hex_decode(&s);
        }
    }
}
