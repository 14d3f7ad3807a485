//! The TOML document `config from-uci` writes: the few value types UCI options map to, and a
//! writer for them. Hand-written because toml's writer needs its serde layer, which the router's
//! build leaves out (Cargo.toml); the output is read back by the daemon's own reader before it
//! is handed out (`uci::translate`), and the tests compare the configuration it loads to.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A table: keys in sorted order, as toml's own `Table` keeps them.
pub(super) type TomlTable = BTreeMap<String, TomlValue>;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TomlValue {
    String(String),
    Integer(i64),
    Boolean(bool),
    Array(Vec<TomlValue>),
    Table(TomlTable),
}

/// `root` as a TOML document: each table's plain keys first, then its tables as `[a.b]`
/// sections and its arrays of tables as `[[a.b]]` sections.
pub(super) fn to_toml_text(root: &TomlTable) -> String {
    let mut out = String::new();
    write_table(&mut out, root, &mut Vec::new());
    out
}

fn is_array_of_tables(v: &TomlValue) -> bool {
    matches!(v, TomlValue::Array(items)
        if !items.is_empty() && items.iter().all(|i| matches!(i, TomlValue::Table(_))))
}

fn write_table(out: &mut String, table: &TomlTable, path: &mut Vec<String>) {
    for (key, value) in table {
        if matches!(value, TomlValue::Table(_)) || is_array_of_tables(value) {
            continue;
        }
        write_key(out, key);
        out.push_str(" = ");
        write_inline(out, value);
        out.push('\n');
    }
    for (key, value) in table {
        match value {
            TomlValue::Table(sub) => {
                path.push(key.clone());
                section_header(out, path, false);
                write_table(out, sub, path);
                path.pop();
            }
            TomlValue::Array(items) if is_array_of_tables(value) => {
                path.push(key.clone());
                for item in items {
                    if let TomlValue::Table(sub) = item {
                        section_header(out, path, true);
                        write_table(out, sub, path);
                    }
                }
                path.pop();
            }
            _ => {}
        }
    }
}

fn section_header(out: &mut String, path: &[String], array: bool) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(if array { "[[" } else { "[" });
    for (i, key) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        write_key(out, key);
    }
    out.push_str(if array { "]]\n" } else { "]\n" });
}

fn write_key(out: &mut String, key: &str) {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        out.push_str(key);
    } else {
        write_string(out, key);
    }
}

fn write_inline(out: &mut String, value: &TomlValue) {
    match value {
        TomlValue::String(s) => write_string(out, s),
        TomlValue::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        TomlValue::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        TomlValue::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_inline(out, item);
            }
            out.push(']');
        }
        TomlValue::Table(t) => {
            out.push('{');
            for (i, (key, item)) in t.iter().enumerate() {
                out.push_str(if i > 0 { ", " } else { " " });
                write_key(out, key);
                out.push_str(" = ");
                write_inline(out, item);
            }
            out.push_str(if t.is_empty() { "}" } else { " }" });
        }
    }
}

/// A basic string: `"` and `\` escaped, and every control character TOML forbids raw.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use toml::de::{DeTable, DeValue};

    fn s(v: &str) -> TomlValue {
        TomlValue::String(v.into())
    }

    #[test]
    fn every_string_reads_back_as_written() {
        let samples = [
            "",
            "plain",
            "quote \" and backslash \\",
            "new\nline\ttab\rcr",
            "\u{0}\u{1}\u{8}\u{c}\u{1b}\u{1f}\u{7f}",
            "unicode é 漢字 \u{85} \u{2028}",
            "'single' and \"\"\" triple",
            "#not a comment",
        ];
        for sample in samples {
            let mut root = TomlTable::new();
            root.insert("value".into(), s(sample));
            root.insert("odd key.with dot".into(), s(sample));
            let text = to_toml_text(&root);
            let doc = DeTable::parse(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            for key in ["value", "odd key.with dot"] {
                let (_, v) = doc
                    .get_ref()
                    .iter()
                    .find(|(k, _)| k.get_ref() == key)
                    .unwrap_or_else(|| panic!("{key} missing in {text:?}"));
                match v.get_ref() {
                    DeValue::String(read) => assert_eq!(read, sample, "{text:?}"),
                    other => panic!("{other:?}"),
                }
            }
        }
    }

    #[test]
    fn tables_and_arrays_of_tables_are_sections() {
        let mut ext = TomlTable::new();
        ext.insert("subtree".into(), s("Device.X_A."));
        ext.insert(
            "args".into(),
            TomlValue::Array(vec![s("--one"), s("two words")]),
        );
        let mut dm = TomlTable::new();
        dm.insert(
            "external".into(),
            TomlValue::Array(vec![TomlValue::Table(ext.clone()), TomlValue::Table(ext)]),
        );
        dm.insert("notification_sample_interval".into(), s("10s"));
        let mut journal = TomlTable::new();
        journal.insert("max_live_bytes".into(), TomlValue::Integer(65536));
        let mut root = TomlTable::new();
        root.insert("datamodel".into(), TomlValue::Table(dm));
        root.insert("journal".into(), TomlValue::Table(journal));
        root.insert("data_dir".into(), s("/srv"));
        root.insert("flag".into(), TomlValue::Boolean(false));
        let text = to_toml_text(&root);
        assert_eq!(
            text,
            "data_dir = \"/srv\"\nflag = false\n\n[datamodel]\nnotification_sample_interval = \"10s\"\n\n\
             [[datamodel.external]]\nargs = [\"--one\", \"two words\"]\nsubtree = \"Device.X_A.\"\n\n\
             [[datamodel.external]]\nargs = [\"--one\", \"two words\"]\nsubtree = \"Device.X_A.\"\n\n\
             [journal]\nmax_live_bytes = 65536\n"
        );
        DeTable::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}
