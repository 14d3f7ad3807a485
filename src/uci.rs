//! OpenWrt's UCI configuration (`/etc/config/tr069-client`) translated into the agent's TOML
//! configuration ([`crate::config`]), for `tr069-client config from-uci FILE`.
//!
//! OpenWrt keeps every service's settings in UCI, where LuCI and `uci set` edit them; the agent
//! reads one TOML file. Rather than teach the daemon a second format, the procd init script
//! (packaging/openwrt/files/tr069-client.init) runs this translation before every start and
//! reload and hands the daemon the result. The result is validated exactly as the daemon would
//! validate it, and errors are reported against the UCI file: its line and the option in `uci`'s
//! own notation (`tr069-client.@settings[0].acs_url`), with the accepted form.
//!
//! One section type per TOML table (`config settings`, `config device`, `config hooks`,
//! `config session`, `config connection_request`, `config journal`, `config datamodel`), `config
//! agent` for the top-level keys (`data_dir`, `control_socket`, `boot_id_file`) and one
//! `config external` per `[[datamodel.external]]` provider (`list args`). Option names are the TOML
//! keys; in `config settings` they are the RouterOS setting names with `_` for `-`, because UCI
//! names allow only letters, digits and `_` (`acs-url` is `option acs_url`).
//!
//! The `[settings]` are the device's *factory* settings, as in the TOML file: a value the operator
//! or the ACS changed since (journaled) wins over them; `tr069-client reset-tr069-config` returns
//! to them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError};
use crate::state::settings;
use toml_document::{TomlTable, TomlValue, to_toml_text};

/// The UCI package name: the file is `/etc/config/tr069-client`.
pub const PACKAGE: &str = "tr069-client";

/// A UCI file that cannot be translated. Every variant names the file and line; value errors
/// name the option (in `uci` notation) and the accepted form.
#[derive(Debug, thiserror::Error)]
pub enum UciError {
    #[error("cannot read UCI file {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{file}:{line}: unknown section type {kind:?}; expected one of: {known}")]
    UnknownSection {
        file: PathBuf,
        line: usize,
        kind: String,
        known: String,
    },
    #[error(
        "{file}:{line}: a second `config {kind}` section (the first is at line {first}); only `config external` may repeat"
    )]
    DuplicateSection {
        file: PathBuf,
        line: usize,
        kind: String,
        first: usize,
    },
    #[error(
        "{file}:{line}: unknown option {option:?} in `config {kind}`; expected one of: {known}"
    )]
    UnknownOption {
        file: PathBuf,
        line: usize,
        kind: String,
        option: String,
        known: String,
    },
    #[error("{file}:{line}: {option} is a list; expected a single `option`")]
    NotAList {
        file: PathBuf,
        line: usize,
        option: String,
    },
    #[error("{file}:{line}: invalid value {value:?} for {option}: expected {expected}")]
    Invalid {
        file: PathBuf,
        line: usize,
        option: String,
        value: String,
        expected: String,
    },
    /// A configuration error the translation cannot place on a UCI line (there should be none).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// One value of a UCI option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UciValue {
    Single(String),
    List(Vec<String>),
}

/// One `option` or `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciOption {
    pub name: String,
    pub value: UciValue,
    pub line: usize,
}

/// One `config TYPE [NAME]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UciSection {
    pub kind: String,
    pub name: Option<String>,
    pub line: usize,
    pub options: Vec<UciOption>,
}

/// Parses the UCI file format: `package`, `config TYPE ['NAME']`, `option NAME 'VALUE'`,
/// `list NAME 'VALUE'`, `#` comments; values single-quoted (taken literally), double-quoted or
/// bare (a backslash escapes the next character), adjacent pieces concatenated, as libuci does.
/// A later `option` replaces an earlier one of the same name (libuci's behaviour); `list`s
/// accumulate.
pub fn parse(text: &str, file: &Path) -> Result<Vec<UciSection>, UciError> {
    let mut sections: Vec<UciSection> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let syntax = |message: String| UciError::Syntax {
            file: file.to_path_buf(),
            line,
            message,
        };
        let words = tokenize(raw).map_err(&syntax)?;
        let Some((keyword, args)) = words.split_first() else {
            continue;
        };
        match keyword.as_str() {
            "package" => {
                if args.len() != 1 {
                    return Err(syntax("expected `package NAME`".into()));
                }
            }
            "config" => {
                let (kind, name) = match args {
                    [kind] => (kind, None),
                    [kind, name] => (kind, Some(name.clone())),
                    _ => return Err(syntax("expected `config TYPE ['NAME']`".into())),
                };
                check_name(kind).map_err(|m| syntax(format!("section type {kind:?}: {m}")))?;
                if let Some(n) = &name {
                    check_name(n).map_err(|m| syntax(format!("section name {n:?}: {m}")))?;
                }
                sections.push(UciSection {
                    kind: kind.clone(),
                    name,
                    line,
                    options: Vec::new(),
                });
            }
            "option" | "list" => {
                let [name, value] = args else {
                    return Err(syntax(format!("expected `{keyword} NAME 'VALUE'`")));
                };
                check_name(name).map_err(|m| syntax(format!("option name {name:?}: {m}")))?;
                let Some(section) = sections.last_mut() else {
                    return Err(syntax(format!(
                        "`{keyword} {name}` before any `config` section"
                    )));
                };
                let existing = section.options.iter_mut().find(|o| o.name == *name);
                match (keyword.as_str(), existing) {
                    ("option", Some(o)) => {
                        o.value = UciValue::Single(value.clone());
                        o.line = line;
                    }
                    ("option", None) => section.options.push(UciOption {
                        name: name.clone(),
                        value: UciValue::Single(value.clone()),
                        line,
                    }),
                    (
                        _,
                        Some(UciOption {
                            value: UciValue::List(items),
                            ..
                        }),
                    ) => items.push(value.clone()),
                    (_, Some(_)) => {
                        return Err(syntax(format!(
                            "`list {name}` after `option {name}`; use one or the other"
                        )));
                    }
                    (_, None) => section.options.push(UciOption {
                        name: name.clone(),
                        value: UciValue::List(vec![value.clone()]),
                        line,
                    }),
                }
            }
            other => {
                return Err(syntax(format!(
                    "unknown keyword {other:?}; expected package, config, option or list"
                )));
            }
        }
    }
    Ok(sections)
}

/// UCI type, section and option names: letters, digits and `_` only.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty".into());
    }
    if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Ok(());
    }
    let hint = if name.contains('-') {
        format!(
            " (UCI writes the RouterOS name's - as _: {})",
            name.replace('-', "_")
        )
    } else {
        String::new()
    };
    Err(format!("only letters, digits and _ are allowed{hint}"))
}

/// Splits one line into words, honouring quotes, escapes and `#` comments.
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        match chars.peek() {
            None | Some('#') => return Ok(words),
            Some(_) => {}
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated '…' quote".into()),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("unterminated \"…\" quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated \"…\" quote".into()),
                    }
                },
                '\\' => match chars.next() {
                    Some(c) => word.push(c),
                    None => {
                        return Err("a line ending in \\ (continuations are not supported)".into());
                    }
                },
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

/// How an option's text becomes a TOML value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    /// UCI's booleans: 1/0, yes/no, on/off, true/false, enabled/disabled.
    Bool,
    /// A whole number up to this maximum (the TOML field's type).
    UInt(u64),
    /// `list` (or a single `option`, taken as a one-item list).
    List,
}

/// A section type: its TOML table (`None`: top level) and its options (`None`: the settings,
/// generated from [`settings::SETTINGS`]).
struct SectionDef {
    kind: &'static str,
    table: Option<&'static str>,
    options: Option<&'static [(&'static str, Kind)]>,
}

const SECTIONS: &[SectionDef] = &[
    SectionDef {
        kind: "agent",
        table: None,
        options: Some(&[
            ("data_dir", Kind::Text),
            ("control_socket", Kind::Text),
            ("boot_id_file", Kind::Text),
        ]),
    },
    SectionDef {
        kind: "settings",
        table: Some("settings"),
        options: None,
    },
    SectionDef {
        kind: "device",
        table: Some("device"),
        options: Some(&[
            ("manufacturer", Kind::Text),
            ("oui", Kind::Text),
            ("product_class", Kind::Text),
            ("serial_number", Kind::Text),
            ("model_name", Kind::Text),
            ("description", Kind::Text),
            ("hardware_version", Kind::Text),
            ("software_version", Kind::Text),
            ("software_version_file", Kind::Text),
        ]),
    },
    SectionDef {
        kind: "hooks",
        table: Some("hooks"),
        options: Some(&[
            ("reboot", Kind::Text),
            ("factory_reset", Kind::Text),
            ("firmware_apply", Kind::Text),
            ("config_apply", Kind::Text),
            ("config_export", Kind::Text),
            ("log_export", Kind::Text),
            ("reboot_attempts", Kind::UInt(u32::MAX as u64)),
        ]),
    },
    SectionDef {
        kind: "session",
        table: Some("session"),
        options: Some(&[
            ("timeout", Kind::Text),
            ("request_timeout", Kind::Text),
            ("get_rpc_methods", Kind::Bool),
            ("boot_inform_delay", Kind::Text),
        ]),
    },
    SectionDef {
        kind: "connection_request",
        table: Some("connection_request"),
        options: Some(&[
            ("listen_address", Kind::Text),
            ("path", Kind::Text),
            ("address_check_interval", Kind::Text),
            ("failed_auth_limit", Kind::Text),
            ("challenge_limit", Kind::Text),
            ("global_limit", Kind::Text),
        ]),
    },
    SectionDef {
        kind: "journal",
        table: Some("journal"),
        options: Some(&[
            ("max_live_bytes", Kind::UInt(i64::MAX as u64)),
            ("history_records", Kind::UInt(i64::MAX as u64)),
        ]),
    },
    SectionDef {
        kind: "datamodel",
        table: Some("datamodel"),
        options: Some(&[("notification_sample_interval", Kind::Text)]),
    },
    SectionDef {
        kind: "external",
        table: Some("datamodel.external"),
        options: Some(&[
            ("subtree", Kind::Text),
            ("command", Kind::Text),
            ("args", Kind::List),
            ("timeout", Kind::Text),
        ]),
    },
];

/// The `config settings` option name of a RouterOS setting.
pub fn setting_option(name: &str) -> String {
    name.replace('-', "_")
}

/// Where a TOML key came from, for errors.
struct Origin {
    toml_key: String,
    option: String,
    line: usize,
}

/// Reads `file` and translates it; see [`translate`].
pub fn translate_file(file: &Path) -> Result<String, UciError> {
    let text = std::fs::read_to_string(file).map_err(|source| UciError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    translate(&text, file)
}

/// Translates UCI text into the agent's TOML configuration, validated as the daemon validates
/// its file. `file` names the UCI file in errors and in the output's header comment.
pub fn translate(text: &str, file: &Path) -> Result<String, UciError> {
    let sections = parse(text, file)?;
    let mut root = TomlTable::new();
    let mut origins: Vec<Origin> = Vec::new();
    let mut externals: Vec<TomlValue> = Vec::new();
    let mut first_line: Vec<(&str, usize)> = Vec::new();
    let mut index_of_kind: Vec<(&str, usize)> = Vec::new();

    for section in &sections {
        let def = SECTIONS
            .iter()
            .find(|d| d.kind == section.kind)
            .ok_or_else(|| UciError::UnknownSection {
                file: file.to_path_buf(),
                line: section.line,
                kind: section.kind.clone(),
                known: SECTIONS
                    .iter()
                    .map(|d| d.kind)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let repeatable = def.kind == "external";
        if let Some((_, first)) = first_line.iter().find(|(k, _)| *k == def.kind) {
            if !repeatable {
                return Err(UciError::DuplicateSection {
                    file: file.to_path_buf(),
                    line: section.line,
                    kind: def.kind.to_owned(),
                    first: *first,
                });
            }
        } else {
            first_line.push((def.kind, section.line));
        }
        // `uci`'s own address of the section: its name, or @TYPE[N].
        let index = match index_of_kind.iter_mut().find(|(k, _)| *k == def.kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                index_of_kind.push((def.kind, 0));
                0
            }
        };
        let address = match &section.name {
            Some(n) => format!("{PACKAGE}.{n}"),
            None => format!("{PACKAGE}.@{}[{index}]", def.kind),
        };

        let mut table = TomlTable::new();
        for opt in &section.options {
            let option = format!("{address}.{}", opt.name);
            let (toml_name, kind) = match def.options {
                Some(list) => match list.iter().find(|(n, _)| *n == opt.name) {
                    Some((n, k)) => ((*n).to_owned(), *k),
                    None => {
                        return Err(unknown_option(file, section, opt, def));
                    }
                },
                None => {
                    let setting = settings::SETTINGS
                        .iter()
                        .find(|s| setting_option(s.name) == opt.name)
                        .ok_or_else(|| unknown_option(file, section, opt, def))?;
                    (setting.name.to_owned(), Kind::Text)
                }
            };
            let invalid = |value: &str, expected: &str| UciError::Invalid {
                file: file.to_path_buf(),
                line: opt.line,
                option: option.clone(),
                value: value.to_owned(),
                expected: expected.to_owned(),
            };
            let value = match (&opt.value, kind) {
                (UciValue::Single(v), Kind::List) => {
                    TomlValue::Array(vec![TomlValue::String(v.clone())])
                }
                (UciValue::List(items), Kind::List) => {
                    TomlValue::Array(items.iter().cloned().map(TomlValue::String).collect())
                }
                (UciValue::List(_), _) => {
                    return Err(UciError::NotAList {
                        file: file.to_path_buf(),
                        line: opt.line,
                        option,
                    });
                }
                (UciValue::Single(v), Kind::Text) => TomlValue::String(v.clone()),
                (UciValue::Single(v), Kind::Bool) => match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "yes" | "on" | "true" | "enabled" => TomlValue::Boolean(true),
                    "0" | "no" | "off" | "false" | "disabled" => TomlValue::Boolean(false),
                    _ => {
                        return Err(invalid(
                            v,
                            "a boolean: 1 or 0 (also yes/no, on/off, true/false)",
                        ));
                    }
                },
                (UciValue::Single(v), Kind::UInt(max)) => {
                    match v.trim().parse::<u64>().ok().filter(|n| *n <= max) {
                        // `max` is at most i64::MAX, so the conversion cannot fail.
                        Some(n) => TomlValue::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                        None => {
                            return Err(invalid(v, &format!("a whole number from 0 to {max}")));
                        }
                    }
                }
            };
            let toml_key = match def.table {
                None => toml_name.clone(),
                Some("datamodel.external") => {
                    format!("datamodel.external[{}].{toml_name}", externals.len())
                }
                Some(t) => format!("{t}.{toml_name}"),
            };
            origins.push(Origin {
                toml_key,
                option,
                line: opt.line,
            });
            table.insert(toml_name, value);
        }
        match def.table {
            None => root.extend(table),
            Some("datamodel.external") => externals.push(TomlValue::Table(table)),
            Some(t) => {
                // A table shared with `config external` (datamodel) merges.
                let entry = root
                    .entry(t.to_owned())
                    .or_insert_with(|| TomlValue::Table(TomlTable::new()));
                if let TomlValue::Table(existing) = entry {
                    existing.extend(table);
                }
            }
        }
    }
    if !externals.is_empty() {
        let entry = root
            .entry("datamodel".to_owned())
            .or_insert_with(|| TomlValue::Table(TomlTable::new()));
        if let TomlValue::Table(dm) = entry {
            dm.insert("external".into(), TomlValue::Array(externals));
        }
    }

    let body = to_toml_text(&root);
    // The daemon's own validation, with errors moved back onto the UCI file's lines.
    if let Err(e) = Config::from_toml_str(&body, file) {
        return Err(match e {
            ConfigError::Invalid {
                key,
                value,
                expected,
                ..
            } => match origins.iter().find(|o| o.toml_key == key) {
                Some(o) => UciError::Invalid {
                    file: file.to_path_buf(),
                    line: o.line,
                    option: o.option.clone(),
                    value,
                    expected,
                },
                None => UciError::Config(ConfigError::Invalid {
                    file: file.to_path_buf(),
                    key,
                    value,
                    expected,
                }),
            },
            other => UciError::Config(other),
        });
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Generated from {} by `tr069-client config from-uci`: edit the UCI file, not this one.",
        file.display()
    );
    out.push_str(&body);
    Ok(out)
}

fn unknown_option(
    file: &Path,
    section: &UciSection,
    opt: &UciOption,
    def: &SectionDef,
) -> UciError {
    let known: Vec<String> = match def.options {
        Some(list) => list.iter().map(|(n, _)| (*n).to_owned()).collect(),
        None => settings::SETTINGS
            .iter()
            .map(|s| setting_option(s.name))
            .collect(),
    };
    UciError::UnknownOption {
        file: file.to_path_buf(),
        line: opt.line,
        kind: section.kind.clone(),
        option: opt.name.clone(),
        known: known.join(", "),
    }
}

mod toml_document;

#[cfg(test)]
mod tests;
