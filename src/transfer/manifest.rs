//! The RouterOS firmware manifest: a small XML file a Download may point to instead of a package,
//! listing the packages to fetch.
//!
//! ```xml
//! <upgrade version="1" type="links">
//!   <config/>
//!   <links>
//!     <link><url>http://files.example/routeros-7.16-arm.npk</url></link>
//!     <link><url>http://files.example/wifi-qcom-7.16-arm.npk</url></link>
//!   </links>
//! </upgrade>
//! ```
//!
//! Lenient about what does not change the meaning (whitespace, comments, element order, unknown
//! elements and attributes, the `version` attribute); strict about what does: the root is
//! `upgrade` with `type="links"`, every `link` has exactly one http(s) `url`, and there are
//! between 1 and [`MAX_MANIFEST_LINKS`] of them.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Most links a manifest may list.
pub const MAX_MANIFEST_LINKS: usize = 64;
/// Largest manifest accepted (a real one is well under 10 KiB).
pub const MAX_MANIFEST_BYTES: usize = 256 * 1024;
/// Longest URL accepted in a manifest.
pub const MAX_MANIFEST_URL_CHARS: usize = 2048;
/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 16;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// A parsed manifest: the package URLs, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub urls: Vec<String>,
}

/// Why a manifest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    #[error("manifest larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("manifest is not UTF-8")]
    NotUtf8,
    #[error("manifest is not well-formed XML: {0}")]
    Malformed(String),
    #[error("manifest root element is <{0}>, expected <upgrade>")]
    WrongRoot(String),
    #[error("manifest type is {0:?}, expected \"links\"")]
    WrongType(Option<String>),
    #[error("manifest lists no package URL")]
    NoLinks,
    #[error("manifest lists more than {limit} links")]
    TooManyLinks { limit: usize },
    #[error("manifest link #{index} has no <url>")]
    LinkWithoutUrl { index: usize },
    #[error("manifest link #{index} has more than one <url>")]
    LinkWithSeveralUrls { index: usize },
    #[error("manifest link #{index} is not an http:// or https:// URL: {url}")]
    UnsupportedUrl { index: usize, url: String },
}

/// True when `first_bytes` (the start of a downloaded file) look like a manifest: after an
/// optional UTF-8 BOM, whitespace, XML declaration and comments comes `<upgrade`.
pub fn looks_like_manifest(first_bytes: &[u8]) -> bool {
    let mut rest = first_bytes.strip_prefix(BOM).unwrap_or(first_bytes);
    loop {
        rest = trim_xml_space(rest);
        if let Some(after) = rest.strip_prefix(b"<?") {
            let Some(end) = find(after, b"?>") else {
                return false;
            };
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix(b"<!--") {
            let Some(end) = find(after, b"-->") else {
                return false;
            };
            rest = &after[end + 3..];
        } else {
            break;
        }
    }
    let Some(after) = rest.strip_prefix(b"<upgrade") else {
        return false;
    };
    match after.first() {
        // The sniffed prefix may end right after the name.
        None => true,
        Some(b) => matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'),
    }
}

/// Parses a manifest.
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            limit: MAX_MANIFEST_BYTES,
        });
    }
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let malformed = |e: &dyn std::fmt::Display| ManifestError::Malformed(e.to_string());
    let mut walk = Walk::default();
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(start) => {
                let name = walk.open(&start)?;
                walk.path.push(name);
            }
            Event::Empty(start) => {
                let name = walk.open(&start)?;
                walk.close(&name)?;
            }
            Event::End(_) => {
                let Some(name) = walk.path.pop() else {
                    return Err(ManifestError::Malformed("unexpected end tag".into()));
                };
                walk.close(&name)?;
            }
            Event::Text(t) => walk.text(&t.xml10_content())?,
            Event::CData(c) => walk.text(&c.xml10_content())?,
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| malformed(&e))? {
                    Some(ch) => ch.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| {
                            ManifestError::Malformed(format!("unknown entity &{};", &*r))
                        })?
                        .to_string(),
                };
                walk.text(&resolved)?;
            }
            Event::DocType(_) => {
                // Entity declarations are the classic XML bomb; a manifest has no use for a DTD.
                return Err(ManifestError::Malformed("DOCTYPE is not allowed".into()));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !walk.seen_root {
        return Err(ManifestError::Malformed("no root element".into()));
    }
    if !walk.path.is_empty() {
        return Err(ManifestError::Malformed(
            "document ended inside an element".into(),
        ));
    }
    if walk.urls.is_empty() {
        return Err(ManifestError::NoLinks);
    }
    Ok(Manifest { urls: walk.urls })
}

/// Where the parser is in the document and what it has collected.
#[derive(Default)]
struct Walk {
    /// Names of the open elements, root first.
    path: Vec<String>,
    seen_root: bool,
    /// `<link>` elements opened so far.
    links: usize,
    /// URLs of the `<link>` being read.
    link_urls: Vec<String>,
    /// Text of the `<url>` being read.
    url_text: Option<String>,
    urls: Vec<String>,
}

impl Walk {
    fn at(&self, path: &[&str]) -> bool {
        self.path.len() == path.len() && self.path.iter().zip(path).all(|(a, b)| a == b)
    }

    /// An element starts (its name is not on `path` yet).
    fn open(&mut self, start: &BytesStart<'_>) -> Result<String, ManifestError> {
        let name = String::from_utf8_lossy(start.local_name().as_ref().as_bytes()).into_owned();
        if self.path.is_empty() {
            if self.seen_root {
                return Err(ManifestError::Malformed(
                    "more than one root element".into(),
                ));
            }
            self.seen_root = true;
            if name != "upgrade" {
                return Err(ManifestError::WrongRoot(name.chars().take(64).collect()));
            }
            let kind = start
                .try_get_attribute("type")
                .map_err(|e| ManifestError::Malformed(e.to_string()))?
                .map(|a| {
                    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map(|v| v.trim().to_string())
                        .map_err(|e| ManifestError::Malformed(e.to_string()))
                })
                .transpose()?;
            if kind.as_deref() != Some("links") {
                return Err(ManifestError::WrongType(
                    kind.map(|k| k.chars().take(64).collect()),
                ));
            }
            return Ok(name);
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(ManifestError::Malformed("elements nested too deep".into()));
        }
        if name == "link" && self.at(&["upgrade", "links"]) {
            self.links += 1;
            if self.links > MAX_MANIFEST_LINKS {
                return Err(ManifestError::TooManyLinks {
                    limit: MAX_MANIFEST_LINKS,
                });
            }
            self.link_urls.clear();
        } else if name == "url" && self.at(&["upgrade", "links", "link"]) {
            self.url_text = Some(String::new());
        }
        Ok(name)
    }

    /// An element ends (its name is already off `path`).
    fn close(&mut self, name: &str) -> Result<(), ManifestError> {
        if name == "url" && self.at(&["upgrade", "links", "link"]) {
            if let Some(text) = self.url_text.take() {
                let url = text.trim();
                if !url.is_empty() {
                    self.link_urls.push(url.to_string());
                }
            }
        } else if name == "link" && self.at(&["upgrade", "links"]) {
            let index = self.links;
            let url = match self.link_urls.as_slice() {
                [] => return Err(ManifestError::LinkWithoutUrl { index }),
                [url] => url.clone(),
                _ => return Err(ManifestError::LinkWithSeveralUrls { index }),
            };
            if super::parse_url(&url).is_err() {
                return Err(ManifestError::UnsupportedUrl {
                    index,
                    url: url.chars().take(128).collect(),
                });
            }
            self.urls.push(url);
        }
        Ok(())
    }

    fn text(&mut self, text: &str) -> Result<(), ManifestError> {
        if let Some(buf) = self.url_text.as_mut() {
            buf.push_str(text);
            if buf.chars().count() > MAX_MANIFEST_URL_CHARS {
                return Err(ManifestError::Malformed(format!(
                    "a URL is longer than {MAX_MANIFEST_URL_CHARS} characters"
                )));
            }
        }
        Ok(())
    }
}

fn trim_xml_space(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<upgrade version="1" type="links">
  <config/>
  <links>
    <link><url>http://files.example/routeros-7.16-arm.npk</url></link>
    <link>
      <url> https://files.example/wifi-qcom-7.16-arm.npk?a=1&amp;b=2 </url>
    </link>
  </links>
</upgrade>
"#;

    #[test]
    fn good_manifest_lists_urls_in_order() {
        let m = parse_manifest(GOOD.as_bytes()).unwrap();
        assert_eq!(
            m.urls,
            vec![
                "http://files.example/routeros-7.16-arm.npk".to_string(),
                "https://files.example/wifi-qcom-7.16-arm.npk?a=1&b=2".to_string(),
            ]
        );
        assert!(looks_like_manifest(GOOD.as_bytes()));
    }

    #[test]
    fn lenient_about_order_comments_unknown_elements_and_cdata() {
        let doc = r#"<!-- generated --><upgrade type="links" version="2"><links>
            <link><name>x</name><url><![CDATA[http://f/a.npk]]></url></link>
        </links><config><extra a="b"/></config><unknown>text</unknown></upgrade>"#;
        let m = parse_manifest(doc.as_bytes()).unwrap();
        assert_eq!(m.urls, vec!["http://f/a.npk".to_string()]);
    }

    #[test]
    fn bom_is_accepted() {
        let mut doc = BOM.to_vec();
        doc.extend_from_slice(GOOD.as_bytes());
        assert_eq!(parse_manifest(&doc).unwrap().urls.len(), 2);
        assert!(looks_like_manifest(&doc));
    }

    #[test]
    fn no_links_is_refused() {
        let doc = r#"<upgrade version="1" type="links"><config/><links/></upgrade>"#;
        assert_eq!(parse_manifest(doc.as_bytes()), Err(ManifestError::NoLinks));
        let doc = r#"<upgrade version="1" type="links"/>"#;
        assert_eq!(parse_manifest(doc.as_bytes()), Err(ManifestError::NoLinks));
        let doc = r#"<upgrade type="links"><links><link></link></links></upgrade>"#;
        assert_eq!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::LinkWithoutUrl { index: 1 })
        );
    }

    #[test]
    fn bad_root_or_type_is_refused() {
        let doc = r#"<download type="links"><links><link><url>http://f/a</url></link></links></download>"#;
        assert_eq!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::WrongRoot("download".into()))
        );
        assert!(!looks_like_manifest(doc.as_bytes()));
        let doc = r#"<upgrade version="1" type="files"><links><link><url>http://f/a</url></link></links></upgrade>"#;
        assert_eq!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::WrongType(Some("files".into())))
        );
        let doc = r#"<upgrade><links><link><url>http://f/a</url></link></links></upgrade>"#;
        assert_eq!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::WrongType(None))
        );
    }

    #[test]
    fn non_http_url_is_refused() {
        let doc = r#"<upgrade type="links"><links>
            <link><url>http://f/a.npk</url></link>
            <link><url>ftp://f/b.npk</url></link>
        </links></upgrade>"#;
        assert_eq!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::UnsupportedUrl {
                index: 2,
                url: "ftp://f/b.npk".into()
            })
        );
        let doc = r#"<upgrade type="links"><links><link><url>a.npk</url></link></links></upgrade>"#;
        assert!(matches!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::UnsupportedUrl { index: 1, .. })
        ));
    }

    #[test]
    fn limits_are_enforced() {
        let link = "<link><url>http://f/a.npk</url></link>";
        let doc = format!(
            "<upgrade type=\"links\"><links>{}</links></upgrade>",
            link.repeat(MAX_MANIFEST_LINKS)
        );
        assert_eq!(parse_manifest(doc.as_bytes()).unwrap().urls.len(), 64);
        let doc = format!(
            "<upgrade type=\"links\"><links>{}</links></upgrade>",
            link.repeat(MAX_MANIFEST_LINKS + 1)
        );
        assert_eq!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::TooManyLinks { limit: 64 })
        );
        let doc = r#"<upgrade type="links"><links><link><url>http://f/a</url><url>http://f/b</url></link></links></upgrade>"#;
        assert_eq!(
            parse_manifest(doc.as_bytes()),
            Err(ManifestError::LinkWithSeveralUrls { index: 1 })
        );
        let big = vec![b' '; MAX_MANIFEST_BYTES + 1];
        assert!(matches!(
            parse_manifest(&big),
            Err(ManifestError::TooLarge { .. })
        ));
    }

    #[test]
    fn malformed_documents_are_refused_without_panicking() {
        for doc in [
            "",
            "<upgrade type=\"links\">",
            "<upgrade type=\"links\"><links></upgrade>",
            "<!DOCTYPE x [<!ENTITY a \"b\">]><upgrade type=\"links\"/>",
            "<upgrade type=\"links\"/><upgrade type=\"links\"/>",
            "<upgrade type=\"links\"><links><link><url>http://f/&bogus;</url></link></links></upgrade>",
        ] {
            assert!(
                matches!(
                    parse_manifest(doc.as_bytes()),
                    Err(ManifestError::Malformed(_))
                ),
                "{doc}: {:?}",
                parse_manifest(doc.as_bytes())
            );
        }
        assert_eq!(parse_manifest(b"\xff\xfe<"), Err(ManifestError::NotUtf8));
    }

    #[test]
    fn sniffing() {
        assert!(looks_like_manifest(b"<upgrade"));
        assert!(looks_like_manifest(b"  \n<upgrade version=\"1\""));
        assert!(looks_like_manifest(
            b"<?xml version=\"1.0\"?>\n<!-- x --><upgrade>"
        ));
        assert!(!looks_like_manifest(b"<upgrades>"));
        assert!(!looks_like_manifest(b"<?xml version=\"1.0\""));
        assert!(!looks_like_manifest(b"\x00\x01NPK"));
        assert!(!looks_like_manifest(b""));
    }
}
