//! The configuration file's TOML, read into the `Raw*` structs by hand from toml's span-keeping
//! document (`toml::de::DeTable`, toml built without its serde layer). serde's derived
//! deserializers for these structs and toml's serde `Deserializer` cost the router's binary
//! 133,648 B more than this reader with toml's document parser inlined into it (BENCHMARKS.md
//! "The config reader and tokio's scheduler").
//! It refuses what `#[serde(deny_unknown_fields)]` refused — an unknown key (named with its
//! line and the keys accepted there), a value of the wrong type, a missing required key — and
//! leaves the checks of the values themselves to `RawConfig::validate`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ConfigError;

#[derive(Debug, Default)]
pub(super) struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub control_socket: Option<PathBuf>,
    pub boot_id_file: Option<PathBuf>,
    pub device: RawDevice,
    /// `[settings]` in file order of their names, each as the text the setting is validated
    /// from (a boolean or an integer written as TOML is read as its text).
    pub settings: Vec<(String, String)>,
    pub hooks: RawHooks,
    pub datamodel: RawDataModel,
    pub session: RawSession,
    pub connection_request: RawConnectionRequest,
    pub journal: RawJournal,
}

#[derive(Debug, Default)]
pub(super) struct RawDevice {
    pub manufacturer: Option<String>,
    pub oui: Option<String>,
    pub product_class: Option<String>,
    pub serial_number: Option<String>,
    pub model_name: Option<String>,
    pub description: Option<String>,
    pub hardware_version: Option<String>,
    pub software_version: Option<String>,
    pub software_version_file: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub(super) struct RawHooks {
    pub reboot: Option<String>,
    pub factory_reset: Option<String>,
    pub firmware_apply: Option<String>,
    pub config_apply: Option<String>,
    pub config_export: Option<String>,
    pub log_export: Option<String>,
    pub reboot_attempts: Option<u32>,
}

#[derive(Debug, Default)]
pub(super) struct RawDataModel {
    pub external: Vec<RawExternal>,
    pub notification_sample_interval: Option<String>,
}

#[derive(Debug)]
pub(super) struct RawExternal {
    pub subtree: String,
    pub command: PathBuf,
    pub args: Vec<String>,
    pub timeout: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct RawSession {
    pub timeout: Option<String>,
    pub request_timeout: Option<String>,
    pub get_rpc_methods: Option<bool>,
    pub boot_inform_delay: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct RawConnectionRequest {
    pub listen_address: Option<String>,
    pub path: Option<String>,
    pub address_check_interval: Option<String>,
    pub failed_auth_limit: Option<String>,
    pub challenge_limit: Option<String>,
    pub global_limit: Option<String>,
}

#[derive(Debug, Default)]
pub(super) struct RawJournal {
    pub max_live_bytes: Option<u64>,
    pub history_records: Option<u64>,
}

/// Parses `text` as TOML and reads it into a [`RawConfig`]; `file` names it in errors.
pub(super) fn raw_config(text: &str, file: &Path) -> Result<RawConfig, ConfigError> {
    let document = DeTable::parse(text).map_err(|mut e| {
        e.set_input(Some(text));
        ConfigError::Parse {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().to_owned(),
        }
    })?;
    let reader = Reader { text, file };
    reader.root(document.get_ref())
}

struct Reader<'t> {
    text: &'t str,
    file: &'t Path,
}

/// One entry of a table: its name, its dotted key (for messages) and its value.
struct Entry<'d, 'i> {
    name: &'static str,
    key: String,
    value: &'d Spanned<DeValue<'i>>,
}

impl Reader<'_> {
    fn root(&self, table: &DeTable<'_>) -> Result<RawConfig, ConfigError> {
        let mut raw = RawConfig::default();
        const KEYS: &[&str] = &[
            "data_dir",
            "control_socket",
            "boot_id_file",
            "device",
            "settings",
            "hooks",
            "datamodel",
            "session",
            "connection_request",
            "journal",
        ];
        for e in self.entries(table, "", KEYS)? {
            match e.name {
                "data_dir" => raw.data_dir = Some(self.path(&e)?),
                "control_socket" => raw.control_socket = Some(self.path(&e)?),
                "boot_id_file" => raw.boot_id_file = Some(self.path(&e)?),
                "device" => raw.device = self.device(&e)?,
                "settings" => raw.settings = self.settings(&e)?,
                "hooks" => raw.hooks = self.hooks(&e)?,
                "datamodel" => raw.datamodel = self.datamodel(&e)?,
                "session" => raw.session = self.session(&e)?,
                "connection_request" => raw.connection_request = self.connection_request(&e)?,
                _ => raw.journal = self.journal(&e)?,
            }
        }
        Ok(raw)
    }

    fn device(&self, e: &Entry<'_, '_>) -> Result<RawDevice, ConfigError> {
        let mut d = RawDevice::default();
        const KEYS: &[&str] = &[
            "manufacturer",
            "oui",
            "product_class",
            "serial_number",
            "model_name",
            "description",
            "hardware_version",
            "software_version",
            "software_version_file",
        ];
        for e in self.entries(self.table(e)?, &e.key, KEYS)? {
            if e.name == "software_version_file" {
                d.software_version_file = Some(self.path(&e)?);
                continue;
            }
            let text = Some(self.string(&e)?);
            match e.name {
                "manufacturer" => d.manufacturer = text,
                "oui" => d.oui = text,
                "product_class" => d.product_class = text,
                "serial_number" => d.serial_number = text,
                "model_name" => d.model_name = text,
                "description" => d.description = text,
                "hardware_version" => d.hardware_version = text,
                _ => d.software_version = text,
            }
        }
        Ok(d)
    }

    fn settings(&self, e: &Entry<'_, '_>) -> Result<Vec<(String, String)>, ConfigError> {
        let mut out = Vec::new();
        // Any name is read here; `validate` refuses unknown settings with the list of known ones.
        for (name, value) in self.table(e)?.iter() {
            let key = format!("{}.{}", e.key, name.get_ref());
            let text = match value.get_ref() {
                DeValue::String(s) => s.to_string(),
                DeValue::Boolean(b) => b.to_string(),
                DeValue::Integer(i) => integer(i.as_str(), i.radix())
                    .and_then(|n| i64::try_from(n).ok())
                    .map(|n| n.to_string())
                    .ok_or_else(|| self.wrong_type(&key, value, "an integer within 64 bits"))?,
                _ => return Err(self.wrong_type(&key, value, "a string, boolean or integer")),
            };
            out.push((name.get_ref().to_string(), text));
        }
        Ok(out)
    }

    fn hooks(&self, e: &Entry<'_, '_>) -> Result<RawHooks, ConfigError> {
        let mut h = RawHooks::default();
        const KEYS: &[&str] = &[
            "reboot",
            "factory_reset",
            "firmware_apply",
            "config_apply",
            "config_export",
            "log_export",
            "reboot_attempts",
        ];
        for e in self.entries(self.table(e)?, &e.key, KEYS)? {
            if e.name == "reboot_attempts" {
                let n = self.unsigned(&e)?;
                h.reboot_attempts =
                    Some(u32::try_from(n).map_err(|_| {
                        self.invalid(&e.key, n, "a number of attempts from 1 to 100")
                    })?);
                continue;
            }
            let command = Some(self.string(&e)?);
            match e.name {
                "reboot" => h.reboot = command,
                "factory_reset" => h.factory_reset = command,
                "firmware_apply" => h.firmware_apply = command,
                "config_apply" => h.config_apply = command,
                "config_export" => h.config_export = command,
                _ => h.log_export = command,
            }
        }
        Ok(h)
    }

    fn datamodel(&self, e: &Entry<'_, '_>) -> Result<RawDataModel, ConfigError> {
        let mut dm = RawDataModel::default();
        const KEYS: &[&str] = &["external", "notification_sample_interval"];
        for e in self.entries(self.table(e)?, &e.key, KEYS)? {
            if e.name == "notification_sample_interval" {
                dm.notification_sample_interval = Some(self.string(&e)?);
                continue;
            }
            let DeValue::Array(items) = e.value.get_ref() else {
                return Err(self.wrong_type(
                    &e.key,
                    e.value,
                    "an array of tables ([[datamodel.external]])",
                ));
            };
            for (i, item) in items.iter().enumerate() {
                let item = Entry {
                    name: "external",
                    key: format!("{}[{i}]", e.key),
                    value: item,
                };
                dm.external.push(self.external(&item)?);
            }
        }
        Ok(dm)
    }

    fn external(&self, e: &Entry<'_, '_>) -> Result<RawExternal, ConfigError> {
        let (mut subtree, mut command, mut args, mut timeout) = (None, None, Vec::new(), None);
        const KEYS: &[&str] = &["subtree", "command", "args", "timeout"];
        for e in self.entries(self.table(e)?, &e.key, KEYS)? {
            match e.name {
                "subtree" => subtree = Some(self.string(&e)?),
                "command" => command = Some(self.path(&e)?),
                "timeout" => timeout = Some(self.string(&e)?),
                _ => {
                    let DeValue::Array(items) = e.value.get_ref() else {
                        return Err(self.wrong_type(&e.key, e.value, "an array of strings"));
                    };
                    for (i, item) in items.iter().enumerate() {
                        let item = Entry {
                            name: "args",
                            key: format!("{}[{i}]", e.key),
                            value: item,
                        };
                        args.push(self.string(&item)?);
                    }
                }
            }
        }
        let missing = |name: &str| ConfigError::Missing {
            file: self.file.to_path_buf(),
            line: self.line_of(e.value.span()),
            key: format!("{}.{name}", e.key),
        };
        Ok(RawExternal {
            subtree: subtree.ok_or_else(|| missing("subtree"))?,
            command: command.ok_or_else(|| missing("command"))?,
            args,
            timeout,
        })
    }

    fn session(&self, e: &Entry<'_, '_>) -> Result<RawSession, ConfigError> {
        let mut s = RawSession::default();
        const KEYS: &[&str] = &[
            "timeout",
            "request_timeout",
            "get_rpc_methods",
            "boot_inform_delay",
        ];
        for e in self.entries(self.table(e)?, &e.key, KEYS)? {
            match e.name {
                "get_rpc_methods" => s.get_rpc_methods = Some(self.boolean(&e)?),
                "timeout" => s.timeout = Some(self.string(&e)?),
                "request_timeout" => s.request_timeout = Some(self.string(&e)?),
                _ => s.boot_inform_delay = Some(self.string(&e)?),
            }
        }
        Ok(s)
    }

    fn connection_request(&self, e: &Entry<'_, '_>) -> Result<RawConnectionRequest, ConfigError> {
        let mut c = RawConnectionRequest::default();
        const KEYS: &[&str] = &[
            "listen_address",
            "path",
            "address_check_interval",
            "failed_auth_limit",
            "challenge_limit",
            "global_limit",
        ];
        for e in self.entries(self.table(e)?, &e.key, KEYS)? {
            let text = Some(self.string(&e)?);
            match e.name {
                "listen_address" => c.listen_address = text,
                "path" => c.path = text,
                "address_check_interval" => c.address_check_interval = text,
                "failed_auth_limit" => c.failed_auth_limit = text,
                "challenge_limit" => c.challenge_limit = text,
                _ => c.global_limit = text,
            }
        }
        Ok(c)
    }

    fn journal(&self, e: &Entry<'_, '_>) -> Result<RawJournal, ConfigError> {
        let mut j = RawJournal::default();
        const KEYS: &[&str] = &["max_live_bytes", "history_records"];
        for e in self.entries(self.table(e)?, &e.key, KEYS)? {
            let n = Some(self.unsigned(&e)?);
            match e.name {
                "max_live_bytes" => j.max_live_bytes = n,
                _ => j.history_records = n,
            }
        }
        Ok(j)
    }

    /// The entries of `table`, each checked against `known` (an unknown key is an error that
    /// names it, its line and the keys accepted there).
    fn entries<'d, 'i>(
        &self,
        table: &'d DeTable<'i>,
        prefix: &str,
        known: &[&'static str],
    ) -> Result<Vec<Entry<'d, 'i>>, ConfigError> {
        let mut out = Vec::with_capacity(table.len());
        for (name, value) in table.iter() {
            let key = if prefix.is_empty() {
                name.get_ref().to_string()
            } else {
                format!("{prefix}.{}", name.get_ref())
            };
            let Some(name) = known.iter().copied().find(|k| *k == name.get_ref()) else {
                return Err(ConfigError::UnknownKey {
                    file: self.file.to_path_buf(),
                    line: self.line_of(name.span()),
                    key,
                    known: known.join(", "),
                });
            };
            out.push(Entry { name, key, value });
        }
        Ok(out)
    }

    fn table<'d, 'i>(&self, e: &Entry<'d, 'i>) -> Result<&'d DeTable<'i>, ConfigError> {
        match e.value.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => Err(self.wrong_type(&e.key, e.value, "a table")),
        }
    }

    fn string(&self, e: &Entry<'_, '_>) -> Result<String, ConfigError> {
        match e.value.get_ref() {
            DeValue::String(s) => Ok(s.to_string()),
            _ => Err(self.wrong_type(&e.key, e.value, "a string")),
        }
    }

    fn path(&self, e: &Entry<'_, '_>) -> Result<PathBuf, ConfigError> {
        match e.value.get_ref() {
            DeValue::String(s) => Ok(PathBuf::from(s.as_ref())),
            _ => Err(self.wrong_type(&e.key, e.value, "a path as a string")),
        }
    }

    fn boolean(&self, e: &Entry<'_, '_>) -> Result<bool, ConfigError> {
        match e.value.get_ref() {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err(self.wrong_type(&e.key, e.value, "true or false")),
        }
    }

    fn unsigned(&self, e: &Entry<'_, '_>) -> Result<u64, ConfigError> {
        match e.value.get_ref() {
            DeValue::Integer(i) => integer(i.as_str(), i.radix())
                .and_then(|n| u64::try_from(n).ok())
                .ok_or_else(|| self.invalid(&e.key, i, "a whole number from 0 to 2^64 - 1")),
            _ => Err(self.wrong_type(&e.key, e.value, "a whole number")),
        }
    }

    fn invalid(&self, key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.to_owned(),
            value: value.to_string(),
            expected: expected.to_owned(),
        }
    }

    /// A value of the wrong TOML type. Its text is not repeated: it may be a secret
    /// (`[settings] password`), and the line and the type are enough to find it.
    fn wrong_type(&self, key: &str, value: &Spanned<DeValue<'_>>, expected: &str) -> ConfigError {
        ConfigError::WrongType {
            file: self.file.to_path_buf(),
            line: self.line_of(value.span()),
            key: key.to_owned(),
            found: value.get_ref().type_str(),
            expected: expected.to_owned(),
        }
    }

    /// The 1-based line of a byte offset of the text.
    fn line_of(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        1 + self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
    }
}

/// A TOML integer as toml's parser hands it over (digits without sign prefix or underscores,
/// in `radix`), within i128 so both signs of 64-bit values fit.
fn integer(digits: &str, radix: u32) -> Option<i128> {
    i128::from_str_radix(digits, radix).ok()
}
