//! The report as one self-contained HTML file: the template `report.html` (inline CSS, script and
//! SVG drawing; it fetches nothing) with the timeline embedded as zlib-compressed, base64-encoded
//! JSON that the page inflates with the browser's `DecompressionStream`. Compression keeps a
//! journal at its size bound (1 MiB of live records by default) under 1 MB of HTML.

use serde::Serialize;

use super::{SetAside, Timeline};

const TEMPLATE: &str = include_str!("report.html");
const DATA_MARK: &str = "@@REPORT_DATA@@";
const TITLE_MARK: &str = "@@REPORT_TITLE@@";

/// Where the report came from, shown in its header.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// The data directory as given on the command line.
    pub data_dir: String,
    /// When the report was written (unix ms).
    pub written_ms: u64,
    /// The agent's version that wrote it.
    pub version: String,
}

#[derive(Serialize)]
struct Document<'a> {
    source: &'a Source,
    set_aside: Option<&'a SetAside>,
    timeline: &'a Timeline,
}

/// Renders the report page.
pub fn render(timeline: &Timeline, source: &Source, set_aside: Option<&SetAside>) -> String {
    let json = serde_json::to_vec(&Document {
        source,
        set_aside,
        timeline,
    })
    .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}").into_bytes());
    let packed = miniz_oxide::deflate::compress_to_vec_zlib(&json, 9);
    let title = format!(
        "tr069-client journal report: records {}..{}",
        timeline.first_seq, timeline.last_seq
    );
    TEMPLATE
        .replacen(TITLE_MARK, &title, 1)
        .replacen(DATA_MARK, &base64(&packed), 1)
}

/// Standard base64 with padding (the page decodes it with `atob`).
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4 + input.len() / 57);
    for (i, chunk) in input.chunks(3).enumerate() {
        // A line break now and then keeps the file friendly to editors and mail.
        if i > 0 && i % 38 == 0 {
            out.push('\n');
        }
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The embedded data of a rendered page, inflated back to JSON (what the page's script sees).
    pub(crate) fn embedded_json(page: &str) -> Option<serde_json::Value> {
        let start = page.find("id=\"report-data\"")?;
        let body = &page[start..];
        let open = body.find('>')? + 1;
        let close = body.find("</script>")?;
        let text: String = body[open..close]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let packed = unbase64(&text)?;
        let json = miniz_oxide::inflate::decompress_to_vec_zlib(&packed).ok()?;
        serde_json::from_slice(&json).ok()
    }

    fn unbase64(text: &str) -> Option<Vec<u8>> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let bytes = text.trim_end_matches('=').as_bytes();
        let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
        for chunk in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                n |= value(c)? << (18 - 6 * i);
            }
            for k in 0..chunk.len().saturating_sub(1) {
                out.push((n >> (16 - 8 * k)) as u8);
            }
        }
        Some(out)
    }

    #[test]
    fn base64_round_trips() {
        for n in 0..200usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let text: String = base64(&bytes).chars().filter(|c| *c != '\n').collect();
            assert_eq!(unbase64(&text).unwrap(), bytes, "{n}");
        }
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }
}
