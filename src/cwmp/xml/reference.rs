//! The parser as it was on quick-xml's `NsReader`, kept for the tests only: the parser in
//! `xml.rs` resolves namespaces itself and must decide every document exactly as this did
//! (`tests::same_decisions_as_the_ns_reader`).

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::{
    Attribute, Element, Limits, SOAP_ENC_NS, SOAP_ENV_NS, XSD_NS, XSI_NS, XmlError, attach,
    first_forbidden, forbidden_character, is_xml_char, keep, push_text, well_known_prefix, within,
};

/// Parses a whole document into its root element, enforcing `limits`. The tree borrows from
/// `input`.
///
/// Accepts a UTF-8 byte-order mark, comments, processing instructions and a DOCTYPE-free prolog.
/// Never panics on any input.
pub(super) fn parse<'a>(input: &'a [u8], limits: &Limits) -> Result<Element<'a>, XmlError> {
    if input.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: input.len(),
            limit: limits.max_bytes,
        });
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| XmlError::NotUtf8(e.to_string()))?;

    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let mut stack: Vec<Element<'a>> = Vec::new();
    let mut root: Option<Element<'a>> = None;
    let mut elements = 0usize;

    loop {
        let position = reader.buffer_position();
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::Malformed {
                position,
                message: e.to_string(),
            })?;
        match event {
            Event::Start(start) => {
                let ns = resolved_ns(&resolved);
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
                let element = open_element(text, &reader, &start, ns, position)?;
                stack.push(element);
            }
            Event::Empty(start) => {
                let ns = resolved_ns(&resolved);
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
                let element = open_element(text, &reader, &start, ns, position)?;
                attach(&mut stack, &mut root, element, position)?;
            }
            Event::End(_) => {
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

fn resolved_ns<'a>(resolved: &ResolveResult<'_>) -> Option<Cow<'a, str>> {
    match resolved {
        ResolveResult::Bound(ns) => {
            let uri = ns.as_ref();
            Some(match KNOWN_NAMESPACES.iter().find(|k| **k == uri) {
                Some(known) => Cow::Borrowed(*known),
                None => Cow::Owned(uri.to_owned()),
            })
        }
        ResolveResult::Unbound | ResolveResult::Unknown(_) => None,
    }
}

/// The namespaces CWMP messages are written in, most used first.
const KNOWN_NAMESPACES: &[&str] = &[
    SOAP_ENV_NS,
    "urn:dslforum-org:cwmp-1-2",
    "urn:dslforum-org:cwmp-1-0",
    "urn:dslforum-org:cwmp-1-1",
    "urn:dslforum-org:cwmp-1-3",
    "urn:dslforum-org:cwmp-1-4",
    SOAP_ENC_NS,
    XSD_NS,
    XSI_NS,
];

fn open_element<'a>(
    input: &'a str,
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
    ns: Option<Cow<'a, str>>,
    position: u64,
) -> Result<Element<'a>, XmlError> {
    let raw = start.name().0;
    // Split at the first colon only: GenieACS writes `soap-env:Body:Fault`, whose local part
    // must stay `Body:Fault` so the envelope decoder can recognise it.
    let local = raw.split_once(':').map_or(raw, |(_, l)| l);
    let mut element = Element {
        ns,
        name: within(input, local),
        ..Element::default()
    };
    for attr in start.attributes().with_checks(true) {
        let attr = attr.map_err(|e| XmlError::Malformed {
            position,
            message: e.to_string(),
        })?;
        let key = attr.key.0;
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| XmlError::Malformed {
                position,
                message: e.to_string(),
            })?;
        // As in text (see `push_text`): a raw character XML forbids would be written back as
        // U+FFFD (found by the envelope_decode fuzz target in an xsi:type value).
        if let Some(c) = first_forbidden(&value) {
            return Err(forbidden_character(c, position));
        }
        // Namespace declarations were taken by the reader's resolver; the tree does not need them.
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let (attr_ns, name) = match key.split_once(':') {
            Some((p, l)) => {
                let (res, _) = reader.resolver().resolve_attribute(attr.key);
                let ns = resolved_ns(&res).or_else(|| well_known_prefix(p).map(Cow::Borrowed));
                (ns, l)
            }
            None => (None, key),
        };
        element.attrs.push(Attribute {
            ns: attr_ns,
            name: within(input, name),
            value: keep(input, value),
        });
    }
    Ok(element)
}
