//! A small, bounded XML tree on top of quick-xml, and the writer the encoders share.
//!
//! CWMP messages are small (an Inform is a few KiB; a large GetParameterValuesResponse a few
//! MiB at most), and real ACSes are sloppy about prefixes, whitespace and element order. Reading
//! the whole envelope into a tree of namespace-resolved elements first lets every RPC decoder
//! look up its arguments by local name, in any order, without caring about prefixes — while the
//! size and depth limits here keep a hostile peer from making us allocate without bound.
//!
//! The tree borrows from the input: names, attribute values and text are slices of the message
//! unless something had to be rewritten (an entity, a CR LF, text split by a comment). Copying
//! every name and text into its own `String` made decoding the bulk of the core's work
//! (`benches/cpe_flow.rs`).

use std::borrow::Cow;
use std::fmt::Write as _;

use std::collections::HashSet;
use std::ops::Range;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::AttrError;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceError, PrefixDeclaration};
use quick_xml::reader::Reader;

/// Limits applied while parsing untrusted XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted document, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted element nesting.
    pub max_depth: usize,
    /// Most elements accepted in one document.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 4 * 1024 * 1024,
            max_depth: 64,
            max_elements: 1_000_000,
        }
    }
}

/// Why a document could not be turned into a tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("document of {size} bytes exceeds the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("elements nested deeper than {limit}")]
    TooDeep { limit: usize },
    #[error("more than {limit} elements")]
    TooManyElements { limit: usize },
    #[error("document is not UTF-8: {0}")]
    NotUtf8(String),
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("document has no root element")]
    NoRoot,
}

/// An attribute with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Namespace URI of the attribute's prefix; `None` for unprefixed attributes.
    pub ns: Option<Cow<'a, str>>,
    pub name: Cow<'a, str>,
    pub value: Cow<'a, str>,
}

/// An element with its namespace resolved, its attributes, element children and text, borrowed
/// from the document it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element<'a> {
    /// Namespace URI; `None` when unbound or when the prefix was never declared. The URIs a
    /// CWMP message is made of are borrowed, not copied into every element.
    pub ns: Option<Cow<'a, str>>,
    /// Local name (for GenieACS's `soap-env:Body:Fault` this is `Body:Fault`).
    pub name: Cow<'a, str>,
    /// Attributes other than namespace declarations.
    pub attrs: Vec<Attribute<'a>>,
    pub children: Vec<Element<'a>>,
    /// Concatenated character data directly inside this element (entities resolved).
    pub text: Cow<'a, str>,
}

impl<'a> Element<'a> {
    /// The first child with this local name, whatever its namespace.
    pub fn child(&self, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name.
    pub fn children_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// The value of the attribute with this local name in namespace `ns` (`None` = unprefixed).
    pub fn attr_ns(&self, ns: Option<&str>, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name && a.ns.as_deref() == ns)
            .map(|a| &*a.value)
    }

    /// The value of the attribute with this local name, whatever its namespace.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .map(|a| &*a.value)
    }

    /// The text content with surrounding XML whitespace removed.
    pub fn trimmed_text(&self) -> &str {
        self.text
            .trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'))
    }

    /// The same tree, owning its text, for keeping past the document it was read from.
    pub fn into_owned(self) -> Element<'static> {
        let owned = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Element {
            ns: self.ns.map(owned),
            name: owned(self.name),
            attrs: self
                .attrs
                .into_iter()
                .map(|a| Attribute {
                    ns: a.ns.map(owned),
                    name: owned(a.name),
                    value: owned(a.value),
                })
                .collect(),
            children: self.children.into_iter().map(Element::into_owned).collect(),
            text: owned(self.text),
        }
    }
}

/// Parses a whole document into its root element, enforcing `limits`. The tree borrows from
/// `input`.
///
/// Accepts a UTF-8 byte-order mark, comments, processing instructions and a DOCTYPE-free prolog.
/// Never panics on any input.
pub fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Element<'a>, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| XmlError::NotUtf8(e.to_string()))?;

    // The plain reader with our own namespace scopes (see `Scopes`): quick-xml's `NsReader`
    // walks every start tag's attributes a second time for its declarations and copies every
    // URI into a buffer, which was a third of what decoding a CWMP message cost.
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;

    // Sized for a CWMP envelope (nesting 6–8 deep, five namespace declarations, a few
    // attributes per tag), so a message is read without growing them step by step.
    let mut stack: Vec<Element<'a>> = Vec::with_capacity(8);
    let mut root: Option<Element<'a>> = None;
    let mut elements = 0usize;
    let mut scopes = Scopes {
        bindings: Vec::with_capacity(8),
        level: 0,
    };
    let mut keys = Vec::with_capacity(8);

    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            position,
            message: e.to_string(),
        })?;
        match event {
            Event::Start(ref start) | Event::Empty(ref start) => {
                let (element, refused) =
                    open_element(text, start, &mut scopes, &mut keys, position)?;
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                if let Some(refused) = refused {
                    return Err(refused);
                }
                if matches!(event, Event::Empty(_)) {
                    scopes.pop();
                    attach(&mut stack, &mut root, element, position)?;
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                scopes.pop();
                let element = stack.pop().ok_or_else(|| XmlError::Malformed {
                    position,
                    message: "unexpected end tag".into(),
                })?;
                attach(&mut stack, &mut root, element, position)?;
            }
            Event::Text(t) => push_text(&mut stack, t.xml10_content(), position)?,
            Event::CData(c) => push_text(&mut stack, c.xml10_content(), position)?,
            Event::GeneralRef(r) => {
                let resolved: Cow<'a, str> = match r.resolve_char_ref() {
                    Ok(Some(ch)) if is_xml_char(ch) => Cow::Owned(ch.to_string()),
                    Ok(Some(_)) => {
                        return Err(XmlError::Malformed {
                            position,
                            message: "character reference to a character XML forbids".into(),
                        });
                    }
                    Ok(None) => {
                        let name = r.xml10_content();
                        match resolve_predefined_entity(&name) {
                            Some(s) => Cow::Borrowed(s),
                            None => {
                                return Err(XmlError::Malformed {
                                    position,
                                    message: format!("unknown entity &{name};"),
                                });
                            }
                        }
                    }
                    Err(e) => {
                        return Err(XmlError::Malformed {
                            position,
                            message: e.to_string(),
                        });
                    }
                };
                push_text(&mut stack, resolved, position)?;
            }
            Event::DocType(_) => {
                // Entity declarations are the classic XML bomb; SOAP forbids a DTD anyway.
                return Err(XmlError::Malformed {
                    position,
                    message: "DOCTYPE is not allowed in SOAP messages".into(),
                });
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed {
            position: reader.buffer_position(),
            message: "document ended inside an element".into(),
        });
    }
    root.ok_or(XmlError::NoRoot)
}

/// `part` as a slice of `input` when quick-xml handed out a piece of the document (it does for
/// everything it did not have to rewrite), so the tree can keep it without a copy; a copy
/// otherwise. Decided by address, so no assumption about quick-xml's internals can go wrong:
/// at worst the text is copied.
fn within<'a>(input: &'a str, part: &str) -> Cow<'a, str> {
    let borrowed = part
        .as_ptr()
        .addr()
        .checked_sub(input.as_ptr().addr())
        .and_then(|start| input.get(start..start.checked_add(part.len())?))
        .filter(|slice| slice.as_ptr() == part.as_ptr());
    match borrowed {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(part.to_owned()),
    }
}

/// Gives a borrowed `Cow` the document's lifetime (see [`within`]); an owned one stays owned.
fn keep<'a>(input: &'a str, value: Cow<'_, str>) -> Cow<'a, str> {
    match value {
        Cow::Borrowed(part) => within(input, part),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// The first character of `s` XML forbids. Scans bytes: in a `str` only C0 controls and
/// U+FFFE/U+FFFF (lead byte 0xEF) can be forbidden, so most text is never decoded to chars.
fn first_forbidden(s: &str) -> Option<char> {
    let i = first_suspect(s.as_bytes())?;
    s.get(i..)?.chars().find(|c| !is_xml_char(*c))
}

/// Where the first byte that may start a forbidden character is (a C0 control other than tab,
/// LF and CR, or 0xEF). Eight bytes at a time: this runs over every text and attribute value of
/// every message; byte by byte it was about 6 % of what parsing a CWMP message cost.
fn first_suspect(bytes: &[u8]) -> Option<usize> {
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let suspect = |b: u8| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_ne_bytes(word);
        // Exact "has a byte below 0x20" and "has a byte equal to 0xEF" tests (no false
        // negatives; a false positive only sends the word to the byte loop below).
        let below_space = w.wrapping_sub(LOW * 0x20) & !w & HIGH;
        let x = w ^ (LOW * 0xEF);
        let is_ef = x.wrapping_sub(LOW) & !x & HIGH;
        if below_space | is_ef != 0
            && let Some(i) = chunk.iter().position(|&b| suspect(b))
        {
            return Some(at + i);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| suspect(b))
        .map(|i| at + i)
}

fn forbidden_character(c: char, position: u64) -> XmlError {
    XmlError::Malformed {
        position,
        message: format!("character U+{:04X} is not allowed in XML", u32::from(c)),
    }
}

/// The namespace prefixes in scope while parsing: a stack of the declarations of the open
/// elements. Implements what quick-xml's `NamespaceResolver` did for us, with its rules and its
/// error messages, but during the one pass over the attributes the tree makes anyway, and
/// borrowing the URIs from the document instead of copying them.
#[derive(Debug, Default)]
struct Scopes<'a> {
    /// Innermost last. The reserved `xml` and `xmlns` prefixes are not in here (see `resolve`).
    bindings: Vec<Binding<'a>>,
    /// Open elements, counted as quick-xml's resolver does (its nesting limit is `u16`).
    level: u16,
}

#[derive(Debug)]
struct Binding<'a> {
    /// `None` declares the default namespace. quick-xml treats `xmlns:=".."` (an empty prefix)
    /// the same way, and so must we to keep decoding what it decoded.
    prefix: Option<Cow<'a, str>>,
    /// Empty when the declaration undoes an outer one (`xmlns=""`).
    uri: Cow<'a, str>,
    level: u16,
}

/// The namespace the `xml` prefix is bound to without a declaration.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace the `xmlns` prefix is bound to.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";
/// quick-xml's `DEFAULT_MAX_NAMESPACE_BINDINGS`: declarations in scope at once.
const MAX_BINDINGS: usize = 128;

impl<'a> Scopes<'a> {
    /// Enters a start tag, before its declarations are added.
    fn push(&mut self) -> Result<(), NamespaceError> {
        self.level = self
            .level
            .checked_add(1)
            .ok_or(NamespaceError::TooDeeplyNested(usize::from(u16::MAX)))?;
        Ok(())
    }

    /// Leaves the innermost element, forgetting its declarations.
    fn pop(&mut self) {
        self.level = self.level.saturating_sub(1);
        while self.bindings.last().is_some_and(|b| b.level > self.level) {
            self.bindings.pop();
        }
    }

    /// Adds one `xmlns`/`xmlns:p` attribute of the current start tag; `value` is its raw value,
    /// as quick-xml took it.
    fn add(
        &mut self,
        input: &'a str,
        declaration: PrefixDeclaration<'_>,
        value: &str,
    ) -> Result<(), NamespaceError> {
        let prefix = match declaration {
            PrefixDeclaration::Default => None,
            PrefixDeclaration::Named("xml") if value == XML_NS => return Ok(()),
            PrefixDeclaration::Named("xml") => {
                return Err(NamespaceError::InvalidXmlPrefixBind(value.to_owned()));
            }
            PrefixDeclaration::Named("xmlns") => {
                return Err(NamespaceError::InvalidXmlnsPrefixBind(value.to_owned()));
            }
            PrefixDeclaration::Named(prefix) => {
                if value == XML_NS {
                    return Err(NamespaceError::InvalidPrefixForXml(prefix.to_owned()));
                }
                if value == XMLNS_NS {
                    return Err(NamespaceError::InvalidPrefixForXmlns(prefix.to_owned()));
                }
                (!prefix.is_empty()).then(|| within(input, prefix))
            }
        };
        if self.bindings.len() >= MAX_BINDINGS {
            return Err(NamespaceError::TooManyBindings(MAX_BINDINGS));
        }
        self.bindings.push(Binding {
            prefix,
            uri: within(input, value),
            level: self.level,
        });
        Ok(())
    }

    /// The namespace of a name with this prefix (`None`: unprefixed, which only element names
    /// resolve, to the default namespace). `None` when unbound or undeclared.
    fn resolve(&self, prefix: Option<&str>) -> Option<Cow<'a, str>> {
        let innermost = self
            .bindings
            .iter()
            .rev()
            .find(|b| b.prefix.as_deref() == prefix);
        match (innermost, prefix) {
            (Some(binding), _) => (!binding.uri.is_empty()).then(|| binding.uri.clone()),
            (None, Some("xml")) => Some(Cow::Borrowed(XML_NS)),
            (None, Some("xmlns")) => Some(Cow::Borrowed(XMLNS_NS)),
            (None, _) => None,
        }
    }
}

/// Start tags with more attributes than this find duplicates through a hash set, as quick-xml
/// does, so a hostile tag cannot make the check quadratic.
const SMALL_ATTRIBUTE_COUNT: usize = 32;

/// Turns a start tag into an element and enters its namespace scope. `Err` is what quick-xml's
/// `NsReader` refused while reading the tag (its nesting limit, a forbidden namespace
/// declaration): reported before the tree's limits, as it was. The second value of `Ok` is the
/// first thing the tree itself refuses in the tag (a malformed or duplicated attribute, a
/// character XML forbids), reported after the limits. `keys` is scratch space for the
/// duplicate check, kept between tags to save an allocation per tag.
fn open_element<'a>(
    input: &'a str,
    start: &BytesStart<'_>,
    scopes: &mut Scopes<'a>,
    keys: &mut Vec<Range<usize>>,
    position: u64,
) -> Result<(Element<'a>, Option<XmlError>), XmlError> {
    let malformed = |message: String| XmlError::Malformed { position, message };
    let namespace_error = |e: NamespaceError| malformed(quick_xml::Error::Namespace(e).to_string());
    scopes.push().map_err(namespace_error)?;

    let raw = start.name().0;
    // Split at the first colon only: GenieACS writes `soap-env:Body:Fault`, whose local part
    // must stay `Body:Fault` so the envelope decoder can recognise it.
    let (prefix, local) = match raw.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, raw),
    };
    let mut element = Element {
        name: within(input, local),
        ..Element::default()
    };

    // One pass does what two did: the resolver's (every namespace declaration up to the first
    // malformed attribute, whatever else is wrong) and the tree's (stops at the first refusal).
    let tag: &str = start;
    keys.clear();
    let mut many: Option<HashSet<&str>> = None;
    let mut declaration_error = None;
    let mut refused = None;
    for attr in start.attributes().with_checks(false) {
        let attr = match attr {
            Ok(attr) => attr,
            Err(e) => {
                refused = refused.or_else(|| Some(malformed(e.to_string())));
                break;
            }
        };
        let key = attr.key.0;
        let declaration = attr.key.as_namespace_binding();
        if let (Some(declaration), None) = (declaration, &declaration_error) {
            declaration_error = scopes.add(input, declaration, &attr.value).err();
        }
        if refused.is_some() {
            continue;
        }
        // Duplicates are refused as quick-xml's own check (`with_checks(true)`) refused them,
        // with its message, positions counted from the start of the tag.
        let at = key.as_ptr().addr().saturating_sub(tag.as_ptr().addr());
        let seen = |keys: &[Range<usize>]| {
            keys.iter()
                .find(|r| tag.get((*r).clone()) == Some(key))
                .map(|r| r.start)
        };
        // Past `SMALL_ATTRIBUTE_COUNT` a name the set has not seen is new without a scan.
        let previous = match many.as_mut().map(|set| set.insert(key)) {
            Some(true) => None,
            _ => seen(keys),
        };
        if let Some(previous) = previous {
            refused = Some(malformed(AttrError::Duplicated(at, previous).to_string()));
            continue;
        }
        keys.push(at..at + key.len());
        if many.is_none() && keys.len() > SMALL_ATTRIBUTE_COUNT {
            many = Some(keys.iter().filter_map(|r| tag.get(r.clone())).collect());
        }
        let value = match attr.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
            Ok(value) => value,
            Err(e) => {
                refused = Some(malformed(e.to_string()));
                continue;
            }
        };
        // As in text (see `push_text`): a raw character XML forbids would be written back as
        // U+FFFD (found by the envelope_decode fuzz target in an xsi:type value).
        if let Some(c) = first_forbidden(&value) {
            refused = Some(forbidden_character(c, position));
            continue;
        }
        // The scopes took the namespace declarations; the tree does not need them.
        if declaration.is_some() {
            continue;
        }
        let (attr_prefix, name) = match key.split_once(':') {
            Some((p, l)) => (Some(within(input, p)), l),
            None => (None, key),
        };
        // The prefix waits in `ns` until the tag's own declarations, which may come after the
        // attribute, are all in scope.
        element.attrs.push(Attribute {
            ns: attr_prefix,
            name: within(input, name),
            value: keep(input, value),
        });
    }
    if let Some(e) = declaration_error {
        return Err(namespace_error(e));
    }
    element.ns = scopes.resolve(prefix);
    for attr in &mut element.attrs {
        if let Some(prefix) = attr.ns.take() {
            attr.ns = scopes
                .resolve(Some(&prefix))
                .or_else(|| well_known_prefix(&prefix).map(Cow::Borrowed));
        }
    }
    Ok((element, refused))
}

/// Undeclared but unmistakable prefixes (some ACSes forget `xmlns:xsi`).
fn well_known_prefix(prefix: &str) -> Option<&'static str> {
    match prefix {
        "xsi" => Some(XSI_NS),
        _ => None,
    }
}

fn attach<'a>(
    stack: &mut [Element<'a>],
    root: &mut Option<Element<'a>>,
    element: Element<'a>,
    position: u64,
) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            parent.children.push(element);
            Ok(())
        }
        None if root.is_none() => {
            *root = Some(element);
            Ok(())
        }
        None => Err(XmlError::Malformed {
            position,
            message: "more than one root element".into(),
        }),
    }
}

fn push_text<'a>(
    stack: &mut [Element<'a>],
    text: Cow<'a, str>,
    position: u64,
) -> Result<(), XmlError> {
    // A raw character XML forbids (NUL and most C0 controls) is refused like a character
    // reference to one: accepting it would store a value the encoder can only write back as
    // U+FFFD (found by the envelope_decode fuzz target: decode, encode, decode differed).
    if let Some(c) = first_forbidden(&text) {
        return Err(forbidden_character(c, position));
    }
    match stack.last_mut() {
        // The usual case, one piece of text: kept as it came (borrowed from the document).
        Some(parent) if parent.text.is_empty() => {
            parent.text = text;
            Ok(())
        }
        Some(parent) => {
            parent.text.to_mut().push_str(&text);
            Ok(())
        }
        None if text.chars().all(|c| c.is_ascii_whitespace()) => Ok(()),
        None => Err(XmlError::Malformed {
            position,
            message: "text outside the root element".into(),
        }),
    }
}

/// The SOAP 1.1 envelope namespace.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.1 encoding namespace.
pub const SOAP_ENC_NS: &str = "http://schemas.xmlsoap.org/soap/encoding/";
/// XML Schema.
pub const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";
/// XML Schema instance (`xsi:type`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Writes XML text with the escaping CWMP needs, into a growing `String`.
///
/// Encoders write unqualified argument elements (the cwmp schemas are
/// `elementFormDefault="unqualified"`), so the writer deals in literal names.
#[derive(Debug, Default)]
pub struct Writer {
    buf: String,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn with_capacity(capacity: usize) -> Self {
        Writer {
            buf: String::with_capacity(capacity),
        }
    }

    pub fn into_string(self) -> String {
        self.buf
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }

    /// Raw markup, written as is. Only for literals known to be well-formed.
    pub fn raw(&mut self, markup: &str) {
        self.buf.push_str(markup);
    }

    /// `<name>`
    pub fn open(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// `<name a="v" …>` with escaped attribute values.
    pub fn open_with(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.buf.push('<');
        self.buf.push_str(name);
        for (k, v) in attrs {
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            escape_into(&mut self.buf, v, true);
            self.buf.push('"');
        }
        self.buf.push('>');
    }

    /// `<name a="v" …>` for attribute values the program itself wrote, such as namespace URIs,
    /// that hold no character needing an escape: written as they are, since escaping the five
    /// URIs of every envelope was a third of what escaping cost. Debug builds check the promise.
    pub fn open_with_plain(&mut self, name: &str, attrs: &[(&str, &'static str)]) {
        self.buf.push('<');
        self.buf.push_str(name);
        for (k, v) in attrs {
            debug_assert!(
                !v.bytes().any(|b| NEEDS_CARE_IN_ATTRIBUTE[usize::from(b)]),
                "{v:?} needs escaping"
            );
            self.buf.push(' ');
            self.buf.push_str(k);
            self.buf.push_str("=\"");
            self.buf.push_str(v);
            self.buf.push('"');
        }
        self.buf.push('>');
    }

    /// `</name>`
    pub fn close(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }

    /// `<name>escaped text</name>`
    pub fn text_element(&mut self, name: &str, text: &str) {
        self.open(name);
        self.text(text);
        self.close(name);
    }

    /// `<name a="v">escaped text</name>`
    pub fn text_element_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.open_with(name, attrs);
        self.text(text);
        self.close(name);
    }

    /// Escaped character data.
    pub fn text(&mut self, text: &str) {
        escape_into(&mut self.buf, text, false);
    }

    /// `<name>n</name>` for any displayable number.
    pub fn number_element(&mut self, name: &str, n: impl std::fmt::Display) {
        self.display_element(name, n);
    }

    /// `<name>value</name>`, formatted straight into the buffer, for values whose text never
    /// needs escaping (numbers, dateTimes): no intermediate `String`.
    pub fn display_element(&mut self, name: &str, value: impl std::fmt::Display) {
        self.open(name);
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "{value}");
        self.close(name);
    }

    /// `<name>true|false</name>`
    pub fn bool_element(&mut self, name: &str, b: bool) {
        self.text_element(name, if b { "true" } else { "false" });
    }

    /// Opens a SOAP-encoded array: `<name soap-enc:arrayType="item_type[len]">`.
    pub fn open_array(&mut self, name: &str, item_type: &str, len: usize) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push_str(" soap-enc:arrayType=\"");
        escape_into(&mut self.buf, item_type, true);
        // Writing to a String cannot fail.
        let _ = write!(self.buf, "[{len}]\">");
    }
}

/// Escapes `text` for XML into `out`. Characters XML 1.0 cannot carry at all (most C0
/// controls, lone surrogates cannot occur in `str`) become U+FFFD, so the output always parses.
pub fn escape_into(out: &mut String, text: &str, attribute: bool) {
    // Runs of characters that need nothing are copied whole: per-character pushes made encoding
    // an Inform cost tens of thousands of instructions (benches/cpe_flow.rs). A run stops at the
    // markup characters, at C0 controls and at 0xEF, the lead byte of U+FFFE and U+FFFF; a table
    // decides each byte in one load (the comparisons were the encoder's largest single cost).
    let table = if attribute {
        &NEEDS_CARE_IN_ATTRIBUTE
    } else {
        &NEEDS_CARE_IN_TEXT
    };
    let needs_care = |b: u8| table[usize::from(b)];
    let mut rest = text;
    while let Some(i) = rest.bytes().position(needs_care) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(c) = rest.chars().next() else {
            return;
        };
        escape_char_into(out, c, attribute);
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(rest);
}

/// The bytes `escape_into` stops at in text.
static NEEDS_CARE_IN_TEXT: [bool; 256] = needs_care_table(false);
/// The bytes `escape_into` stops at in attribute values (quotes too).
static NEEDS_CARE_IN_ATTRIBUTE: [bool; 256] = needs_care_table(true);

const fn needs_care_table(attribute: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = byte < 0x20
            || matches!(byte, b'&' | b'<' | b'>' | 0xEF)
            || (attribute && matches!(byte, b'"' | b'\''));
        b += 1;
    }
    table
}

fn escape_char_into(out: &mut String, c: char, attribute: bool) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' if attribute => out.push_str("&quot;"),
        '\'' if attribute => out.push_str("&apos;"),
        // Attribute values are normalised by parsers (tab/newline become spaces) unless escaped.
        '\t' if attribute => out.push_str("&#9;"),
        '\n' if attribute => out.push_str("&#10;"),
        // A raw CR is turned into LF by every XML parser; escape it so it round-trips.
        '\r' => out.push_str("&#13;"),
        c if is_xml_char(c) => out.push(c),
        _ => out.push('\u{FFFD}'),
    }
}

/// Whether a string can be carried in XML unchanged (all its characters are legal XML chars).
pub fn is_xml_text(s: &str) -> bool {
    s.chars().all(is_xml_char)
}

#[cfg(test)]
mod reference;

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Element<'_>, XmlError> {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn resolves_namespaces_not_prefixes() {
        let el =
            p(r#"<a:Envelope xmlns:a="urn:x"><b:Body xmlns:b="urn:x"/></a:Envelope>"#).unwrap();
        assert_eq!(el.ns.as_deref(), Some("urn:x"));
        assert_eq!(el.children[0].ns.as_deref(), Some("urn:x"));
        assert_eq!(el.children[0].name, "Body");
    }

    #[test]
    fn entities_and_char_refs_are_resolved() {
        let el = p("<v>a &amp; b &lt;c&gt; &#x41;&#66; &quot;&apos;</v>").unwrap();
        assert_eq!(el.text, "a & b <c> AB \"'");
    }

    /// Regression (fuzz/seeds/envelope_decode/regression-nul-in-text.xml): raw NUL bytes in a
    /// value decoded, then encoded as U+FFFD, so decode → encode → decode changed the value.
    #[test]
    fn raw_characters_xml_forbids_are_refused_like_their_references() {
        for text in [
            "<v>Network\u{0}\u{0}s</v>",
            "<v><![CDATA[a\u{1}b]]></v>",
            "<v>\u{1b}[0m</v>",
        ] {
            let e = p(text).unwrap_err();
            assert!(
                e.to_string().contains("not allowed in XML"),
                "{text:?}: {e}"
            );
        }
        assert!(p("<v>&#0;</v>").is_err());
        // The same in attribute values (fuzz/seeds/envelope_decode/regression-nul-in-attribute.xml).
        let e = p("<v xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"b\u{0}\u{0}e64\">x</v>")
            .unwrap_err();
        assert!(e.to_string().contains("not allowed in XML"), "{e}");
        // Tab and line ends stay (XML normalizes CR LF to LF).
        assert_eq!(
            p("<v>tab\there\r\nnext</v>").unwrap().text,
            "tab\there\nnext"
        );
    }

    #[test]
    fn bom_and_comments_and_cdata() {
        let el = p("\u{feff}<?xml version=\"1.0\"?><!-- hi --><v><![CDATA[<x>]]></v>").unwrap();
        assert_eq!(el.text, "<x>");
    }

    #[test]
    fn genieacs_double_colon_name_keeps_local_part() {
        let el = p(r#"<e xmlns:soap-env="urn:s"><soap-env:Body:Fault/></e>"#).unwrap();
        assert_eq!(el.children[0].name, "Body:Fault");
        assert_eq!(el.children[0].ns.as_deref(), Some("urn:s"));
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse(b"<a>0123456789</a>", &limits),
            Err(XmlError::TooLarge { .. })
        ));
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(matches!(p(&deep), Err(XmlError::TooDeep { .. })));
    }

    #[test]
    fn doctype_is_refused() {
        assert!(p("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").is_err());
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        for bad in [
            "",
            "<",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "text",
            "<a x='1' x='2'/>",
            "<a>&bogus;</a>",
            "\u{0}",
        ] {
            assert!(p(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(matches!(
            parse(&[0xff, 0xfe], &Limits::default()),
            Err(XmlError::NotUtf8(_))
        ));
    }

    #[test]
    fn plain_attributes_are_written_as_escaping_would_write_them() {
        let uris = [SOAP_ENV_NS, SOAP_ENC_NS, XSD_NS, XSI_NS, XML_NS, XMLNS_NS];
        let cwmp = [
            crate::cwmp::CwmpNamespace::Cwmp10,
            crate::cwmp::CwmpNamespace::Cwmp11,
            crate::cwmp::CwmpNamespace::Cwmp12,
            crate::cwmp::CwmpNamespace::Cwmp13,
            crate::cwmp::CwmpNamespace::Cwmp14,
        ]
        .map(|ns| ns.uri());
        for uri in uris.into_iter().chain(cwmp) {
            let (mut escaped, mut plain) = (Writer::with_capacity(64), Writer::with_capacity(64));
            escaped.open_with("e", &[("xmlns:p", uri)]);
            plain.open_with_plain("e", &[("xmlns:p", uri)]);
            assert_eq!(plain.into_string(), escaped.into_string());
        }
    }

    #[test]
    fn escaping_runs_matches_escaping_each_character() {
        let samples = [
            "plain ascii",
            "a&b<c>d\"e'f",
            "tab\tnew\nline\rcr",
            "\u{0}\u{1f}\u{7f}",
            "\u{f000}\u{fffd}\u{fffe}\u{ffff}\u{10000}",
            "é€😀<",
            "",
        ];
        for text in samples {
            for attribute in [false, true] {
                let mut each = String::new();
                for c in text.chars() {
                    escape_char_into(&mut each, c, attribute);
                }
                let mut runs = String::new();
                escape_into(&mut runs, text, attribute);
                assert_eq!(runs, each, "{text:?} attribute={attribute}");
            }
        }
    }

    #[test]
    fn escaping_round_trips() {
        let original = "a&b<c>d\"e'f\r\n\tg \u{1F600}";
        let mut w = Writer::new();
        w.open_with("x", &[("attr", original)]);
        w.text(original);
        w.close("x");
        let el = p(w.as_str()).unwrap();
        assert_eq!(el.text, original);
        assert_eq!(el.attr("attr"), Some(original));
    }

    /// Namespace declarations and attributes in the corners quick-xml's resolver has rules for.
    const NAMESPACE_CORNERS: &[&str] = &[
        r#"<a xmlns="urn:d"><b/><c xmlns=""><d/></c><e/></a>"#,
        r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"/><p:c/></p:a>"#,
        r#"<p:a xmlns:p="urn:1"><p:b xmlns:p=""/></p:a>"#,
        r#"<a xmlns:="urn:empty-prefix"><b/></a>"#,
        r#"<:a xmlns:="urn:e"/>"#,
        r#"<xml:a/>"#,
        r#"<xmlns:a/>"#,
        r#"<a xml:lang="en" xmlns:xml="http://www.w3.org/XML/1998/namespace"/>"#,
        r#"<a xmlns:xml="urn:wrong"/>"#,
        r#"<a xmlns:xmlns="urn:x"/>"#,
        r#"<a xmlns:p="http://www.w3.org/XML/1998/namespace"/>"#,
        r#"<a xmlns:p="http://www.w3.org/2000/xmlns/"/>"#,
        r#"<a p:x="1" xmlns:p="urn:later"/>"#,
        r#"<a xsi:type="xsd:string"/>"#,
        r#"<a x="1" x="2" xmlns:xml="urn:wrong"/>"#,
        r#"<a x="1" x="2"/>"#,
        r#"<a xmlns:p="urn:1" xmlns:p="urn:2"/>"#,
        r#"<a x="&bogus;" xmlns:xmlns="u"/>"#,
        r#"<a x="1" bad xmlns:xml="urn:wrong"/>"#,
        r#"<a xmlns:xml="urn:wrong" x="1" bad/>"#,
        r#"<a x="&#0;"/>"#,
        r#"<a x="&amp;&#x41;" y='2'>t</a>"#,
        r#"<a xmlns:p="urn:p&amp;q"><p:b/></a>"#,
        r#"<e xmlns:soap-env="urn:s"><soap-env:Body:Fault/></e>"#,
        r#"<a><b xmlns:q="urn:q"/><q:c/></a>"#,
        r#"<a xmlns:q="urn:q"></a><q:b/>"#,
    ];

    fn same_decision(doc: &[u8], limits: &Limits) {
        assert_eq!(
            parse(doc, limits),
            reference::parse(doc, limits),
            "{:?}",
            String::from_utf8_lossy(doc)
        );
    }

    fn limit_sets() -> [Limits; 3] {
        [
            Limits::default(),
            Limits {
                max_depth: 2,
                ..Limits::default()
            },
            Limits {
                max_elements: 3,
                ..Limits::default()
            },
        ]
    }

    /// The parser resolves namespaces itself instead of through quick-xml's `NsReader`; every
    /// document must come out as it did (tree or error, message and position included).
    #[test]
    fn same_decisions_as_the_ns_reader() {
        let seeds =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/envelope_decode");
        let mut docs: Vec<Vec<u8>> = NAMESPACE_CORNERS
            .iter()
            .map(|d| d.as_bytes().to_vec())
            .collect();
        let entries = std::fs::read_dir(&seeds).expect("the envelope_decode seeds are checked in");
        for entry in entries {
            let path = entry.expect("readable seed directory").path();
            docs.push(std::fs::read(&path).expect("readable seed"));
        }
        assert!(docs.len() > 100, "seeds found: {}", docs.len());
        // Many attributes: the duplicate check switches to hashing past 32.
        let many: String = (0..40).map(|i| format!(" a{i}=\"{i}\"")).collect();
        docs.push(format!("<a{many}/>").into_bytes());
        docs.push(format!("<a{many} a7=\"again\"/>").into_bytes());
        docs.push(format!("<a{many} a39=\"again\"/>").into_bytes());
        let declarations: String = (0..130)
            .map(|i| format!(" xmlns:p{i}=\"urn:{i}\""))
            .collect();
        docs.push(format!("<a{declarations}/>").into_bytes());
        for doc in &docs {
            for limits in &limit_sets() {
                same_decision(doc, limits);
            }
        }
    }

    /// Pieces of tags, declarations, attributes and text, glued at random into mostly broken
    /// documents: the errors must come in the same order too.
    const PIECES: &[&str] = &[
        "<a",
        "<p:a",
        "<q:b",
        "<xml:c",
        "</a>",
        "</p:a>",
        "</q:b>",
        ">",
        "/>",
        " x=\"1\"",
        " x='2'",
        " p:x=\"3\"",
        " q:y=\"4\"",
        " xmlns=\"urn:d\"",
        " xmlns=\"\"",
        " xmlns:p=\"urn:p\"",
        " xmlns:q=\"urn:q\"",
        " xmlns:p=\"\"",
        " xmlns:xml=\"urn:w\"",
        " xmlns:xmlns=\"u\"",
        " xmlns:=\"urn:e\"",
        " bad",
        " z=\"&amp;\"",
        " z=\"&#1;\"",
        "text",
        "&lt;",
        "&#65;",
        "<!-- c -->",
        "<![CDATA[x]]>",
        " xsi:type=\"xsd:int\"",
        "\u{1}",
    ];

    proptest::proptest! {
        #[test]
        fn same_decisions_on_glued_pieces(picks in proptest::collection::vec(0..PIECES.len(), 0..24)) {
            let doc: String = picks.iter().map(|&i| PIECES[i]).collect();
            for limits in &limit_sets() {
                proptest::prop_assert_eq!(
                    parse(doc.as_bytes(), limits),
                    reference::parse(doc.as_bytes(), limits),
                    "{:?}", doc
                );
            }
        }
    }

    proptest::proptest! {
        /// The word-at-a-time scan finds the byte the plain byte loop finds, wherever it sits
        /// (the bytes are drawn mostly from around the edges the scan tests: 0x1F/0x20, tab, LF,
        /// CR, 0xEE–0xF0, 0x7F–0x81).
        #[test]
        fn suspect_scan_matches_the_byte_loop(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![0u8, 1, 8, 9, 10, 13, 0x1F, 0x20, 0x21, 0x7F, 0x80, 0x81, 0xEE, 0xEF, 0xF0, 0xFF]),
                    b'a'..=b'z',
                    proptest::num::u8::ANY,
                ],
                0..40,
            )
        ) {
            let naive = bytes
                .iter()
                .position(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF);
            proptest::prop_assert_eq!(first_suspect(&bytes), naive);
        }
    }

    const NAMES: &[&str] = &["a", "p:a", "q:b", "xml:c", "xmlns:d", ":e", "r:f"];
    const ATTRIBUTES: &[&str] = &[
        " x=\"1\"",
        " p:x=\"2\"",
        " q:x=\"3\"",
        " r:x=\"4\"",
        " xmlns=\"urn:d\"",
        " xmlns=\"\"",
        " xmlns:p=\"urn:p\"",
        " xmlns:q=\"urn:q\"",
        " xmlns:p=\"\"",
        " xmlns:=\"urn:e\"",
        " xmlns:xml=\"http://www.w3.org/XML/1998/namespace\"",
        " xml:lang=\"en\"",
        " xsi:type=\"xsd:int\"",
        " y=\"a&amp;b\"",
    ];

    fn attributes(picks: &[usize]) -> String {
        picks.iter().map(|&i| ATTRIBUTES[i]).collect()
    }

    fn element() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::collection::vec;
        use proptest::strategy::Strategy;
        let leaf = (0..NAMES.len(), vec(0..ATTRIBUTES.len(), 0..4))
            .prop_map(|(n, a)| format!("<{}{}/>", NAMES[n], attributes(&a)));
        leaf.prop_recursive(4, 24, 4, |inner| {
            (
                0..NAMES.len(),
                vec(0..ATTRIBUTES.len(), 0..4),
                vec(inner, 0..4),
            )
                .prop_map(|(n, a, children)| {
                    format!(
                        "<{0}{1}>{2}</{0}>",
                        NAMES[n],
                        attributes(&a),
                        children.concat()
                    )
                })
        })
    }

    proptest::proptest! {
        /// Well-formed trees of prefixed names and declarations: the namespaces must resolve the
        /// same way at every depth.
        #[test]
        fn same_namespaces_in_generated_trees(doc in element()) {
            for limits in &limit_sets() {
                proptest::prop_assert_eq!(
                    parse(doc.as_bytes(), limits),
                    reference::parse(doc.as_bytes(), limits),
                    "{:?}", doc
                );
            }
        }
    }
}
