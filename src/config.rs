//! The daemon's configuration file.
//!
//! Documented path: [`DEFAULT_CONFIG_PATH`] (`/etc/tr069-client/config.toml`); `--config PATH`
//! overrides it. A missing file at the default path means "all defaults"; a missing file named
//! with `--config` is an error. Unknown keys are errors (a typo must not silently fall back to a
//! default). `examples/config.toml` is a complete, commented example.
//!
//! ```toml
//! data_dir = "/var/lib/tr069-client"          # the journal lives in <data_dir>/journal
//! control_socket = "/var/lib/tr069-client/control.sock"   # default: <data_dir>/control.sock
//! boot_id_file = "/proc/sys/kernel/random/boot_id"         # tests point this at a temp file
//!
//! [device]                                     # the identity sent in every Inform (DeviceId)
//! manufacturer = "Example Networks"
//! oui = "00000C"                               # 6 upper-case hex digits
//! product_class = "HomeRouter"
//! serial_number = "HR1234567"
//! model_name = "HR-1"
//! description = "Example home router"
//! hardware_version = "rev-B"
//! software_version = "7.14"                    # or: software_version_file = "/etc/version"
//!                                              # (read at every start; firmware upgrades change it)
//!
//! [settings]                                   # factory defaults, by RouterOS setting name;
//! acs-url = "https://acs.example.com:7547/"   # validated like `tr069-client set`
//! periodic-inform-interval = "1h"
//!
//! [hooks]                                      # commands run with `/bin/sh -c`; `{file}` is replaced
//! reboot = "/sbin/reboot"                      # by the file's path, quoted for the shell
//! factory_reset = "/usr/sbin/factory-reset"
//! firmware_apply = "/usr/sbin/sysupgrade {file}"
//! config_apply = "/usr/sbin/apply-config {file} {mode}"   # {mode}: overwrite or alter
//! config_export = "/usr/sbin/export-config > {file}"
//! log_export = "logread > {file}"
//!
//! [session]
//! timeout = "5m"                               # a whole session's time limit (30s, 15m, 1h, 1h30m…)
//! get_rpc_methods = false                      # ask the ACS for GetRPCMethods in new sessions
//! boot_inform_delay = "0s"                     # random wait before a boot's first session:
//!                                              # "MAX" or "MIN..MAX", e.g. "0s..60s"
//!
//! [connection_request]
//! listen_address = "0.0.0.0"
//! path = "/cr-5f2a9c"                          # optional; default: a random path, persisted
//! failed_auth_limit = "10/10m"                 # per source: failed Digest answers, then the
//!                                              # source is refused (429) until one refills
//! challenge_limit = "200/1m"                   # per source: unauthenticated requests (429 beyond)
//! global_limit = "600/1m"                      # all sources: the flood cap (503 beyond)
//!
//! [journal]
//! max_live_bytes = 1048576                     # compaction bound of the journal's live data
//! history_records = 200                        # records kept before a snapshot for post-mortem
//! ```
//!
//! The `[connection_request]` limits are `COUNT/PERIOD` token buckets (a burst of COUNT, then
//! COUNT per PERIOD; COUNT 1 to 1000000, PERIOD 1s to 1d); the values above are the defaults.
//! An ACS that authenticates correctly never counts against the per-source limits, so bursts of
//! connection requests are answered `200` (see `connection_request::rate_limit`).
//!
//! Every error ([`ConfigError`]) names the file, the key and the accepted form.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::connection_request::rate_limit::{Limit, RateLimitConfig};
use crate::datamodel::external::ExternalProvider;
use crate::state::settings;

/// Where the daemon and the CLI look for the configuration file by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/tr069-client/config.toml";
/// Default data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/tr069-client";
/// Default boot id source (the kernel's).
pub const DEFAULT_BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";
/// File name of the control socket inside the data directory (the default location).
pub const CONTROL_SOCKET_NAME: &str = "control.sock";
/// Directory of the journal inside the data directory.
pub const JOURNAL_DIR_NAME: &str = "journal";

/// A configuration error: names the file, the key and the accepted form.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {file}: {message}")]
    Parse { file: PathBuf, message: String },
    /// A key the format does not have (a misspelling, or a key in the wrong table).
    #[error(
        "config file {file}, line {line}: unknown key {key}; the keys accepted there are: {known}"
    )]
    UnknownKey {
        file: PathBuf,
        line: usize,
        key: String,
        known: String,
    },
    /// A value of the wrong TOML type (its text is not repeated: it may be a secret).
    #[error("config file {file}, line {line}: {key} is a TOML {found}; expected {expected}")]
    WrongType {
        file: PathBuf,
        line: usize,
        key: String,
        found: &'static str,
        expected: String,
    },
    /// A key a table must have.
    #[error("config file {file}, line {line}: {key} is required")]
    Missing {
        file: PathBuf,
        line: usize,
        key: String,
    },
    /// A value is not acceptable.
    #[error("config file {file}: invalid value {value:?} for {key}: expected {expected}")]
    Invalid {
        file: PathBuf,
        key: String,
        value: String,
        expected: String,
    },
    /// A file the configuration points to could not be read (e.g. `software_version_file`).
    #[error("config file {file}: cannot read {key} {path}: {source}")]
    ReadReferenced {
        file: PathBuf,
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The device's identity (TR-069 DeviceIdStruct and the Inform's DeviceSummary parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub manufacturer: String,
    /// Organizationally Unique Identifier: 6 upper-case hex digits.
    pub oui: String,
    pub product_class: String,
    pub serial_number: String,
    pub model_name: String,
    pub description: String,
    pub hardware_version: String,
    /// Where the software version comes from.
    pub software_version: SoftwareVersion,
}

/// The running firmware's version: fixed, or read from a file at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SoftwareVersion {
    Fixed(String),
    /// Read (trimmed) every time [`Device::current_software_version`] is called: a firmware
    /// upgrade changes it.
    File(PathBuf),
}

impl Device {
    /// The software version now (reads `software_version_file` if configured).
    pub fn current_software_version(&self) -> std::io::Result<String> {
        match &self.software_version {
            SoftwareVersion::Fixed(v) => Ok(v.clone()),
            SoftwareVersion::File(path) => {
                let v = std::fs::read_to_string(path)?.trim().to_owned();
                if v.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{} is empty", path.display()),
                    ));
                }
                Ok(v)
            }
        }
    }
}

impl Default for Device {
    fn default() -> Self {
        Device {
            manufacturer: "tr069-client".into(),
            oui: "000000".into(),
            product_class: "Router".into(),
            serial_number: "0".into(),
            model_name: "Router".into(),
            description: String::new(),
            hardware_version: String::new(),
            software_version: SoftwareVersion::Fixed(env!("CARGO_PKG_VERSION").into()),
        }
    }
}

/// Commands the agent runs for actions outside its own process. Each is run with `/bin/sh -c`;
/// `{file}` is replaced by a path, single-quoted for the shell (see [`Hooks::render`]). `None`:
/// the action is not supported and the ACS's request is answered with a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hooks {
    /// Reboot the device (Reboot RPC). No placeholder.
    pub reboot: Option<String>,
    /// Factory-reset the device's own configuration (FactoryReset RPC); the agent reboots after
    /// it with `reboot`. No placeholder.
    pub factory_reset: Option<String>,
    /// Apply a downloaded "1 Firmware Upgrade Image": `{file}` is the image.
    pub firmware_apply: Option<String>,
    /// Apply a downloaded "3 Vendor Configuration File": `{file}` is the file.
    pub config_apply: Option<String>,
    /// Write the current configuration for Upload ("1 Vendor Configuration File") to `{file}`.
    pub config_export: Option<String>,
    /// Write the device log for Upload ("2 Vendor Log File") to `{file}`.
    pub log_export: Option<String>,
    /// How many runs of `reboot` that leave the boot id unchanged the agent makes before it stops
    /// rebooting and reports the reboot as failed (default 3).
    pub reboot_attempts: u32,
}

/// Default of [`Hooks::reboot_attempts`].
pub const DEFAULT_REBOOT_ATTEMPTS: u32 = 3;

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            reboot: None,
            factory_reset: None,
            firmware_apply: None,
            config_apply: None,
            config_export: None,
            log_export: None,
            reboot_attempts: DEFAULT_REBOOT_ATTEMPTS,
        }
    }
}

/// The placeholders a hook receives: each required one must appear in its command, optional
/// ones may, and nothing else in braces is accepted (a typo would reach the shell verbatim).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookSpec {
    pub required: &'static [&'static str],
    pub optional: &'static [&'static str],
    pub example: &'static str,
}

impl HookSpec {
    /// The accepted form, as a config error states it.
    pub fn accepted_form(&self) -> String {
        let all: Vec<&str> = self.required.iter().chain(self.optional).copied().collect();
        let what = match (self.required.is_empty(), self.optional.is_empty()) {
            (true, true) => "a shell command without placeholders".to_owned(),
            (false, true) => format!("a shell command containing {}", all.join(" and ")),
            (false, false) => format!(
                "a shell command containing {} (and optionally {})",
                self.required.join(" and "),
                self.optional.join(" and ")
            ),
            (true, false) => format!(
                "a shell command, optionally with {}",
                self.optional.join(" and ")
            ),
        };
        format!("{what}, e.g. \"{}\"", self.example)
    }
}

impl Hooks {
    pub const REBOOT: HookSpec = HookSpec {
        required: &[],
        optional: &[],
        example: "/sbin/reboot",
    };
    pub const FACTORY_RESET: HookSpec = HookSpec {
        required: &[],
        optional: &[],
        example: "/usr/sbin/factory-reset",
    };
    pub const FIRMWARE_APPLY: HookSpec = HookSpec {
        required: &["{file}"],
        optional: &[],
        example: "/usr/sbin/sysupgrade {file}",
    };
    /// `{mode}` is `overwrite` or `alter` (a file named `*.alter`).
    pub const CONFIG_APPLY: HookSpec = HookSpec {
        required: &["{file}"],
        optional: &["{mode}"],
        example: "/usr/sbin/apply-config {file} {mode}",
    };
    pub const CONFIG_EXPORT: HookSpec = HookSpec {
        required: &["{file}"],
        optional: &[],
        example: "/usr/sbin/export-config > {file}",
    };
    pub const LOG_EXPORT: HookSpec = HookSpec {
        required: &["{file}"],
        optional: &[],
        example: "logread > {file}",
    };

    /// `template` with `{file}` replaced by `file` (single-quoted for `/bin/sh`) and `{mode}` by
    /// `mode`.
    pub fn render(template: &str, file: Option<&Path>, mode: &str) -> String {
        let mut out = template.replace("{mode}", mode);
        if let Some(file) = file {
            let quoted = format!("'{}'", file.to_string_lossy().replace('\'', r"'\''"));
            out = out.replace("{file}", &quoted);
        }
        out
    }
}

/// Session limits and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Time limit of a whole session.
    pub timeout: Duration,
    /// How long connecting to the ACS may take, and the SessionTimeout announced in the Inform
    /// (the agent waits at least 30 s for each ACS message, as TR-069 requires).
    pub request_timeout: Duration,
    /// Call GetRPCMethods on the ACS at the start of a session.
    pub get_rpc_methods: bool,
    /// A random delay, drawn uniformly from this range, before the first session after a new
    /// boot (on top of TR-069's retry waits, Retry-After and fault 8005); a connection request
    /// or `inform-now` ends it early. Default none: see [`DEFAULT_BOOT_INFORM_DELAY`].
    pub boot_inform_delay: std::ops::RangeInclusive<Duration>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            timeout: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            get_rpc_methods: false,
            boot_inform_delay: DEFAULT_BOOT_INFORM_DELAY,
        }
    }
}

/// No delay before a boot's first session by default, like RouterOS and most agents: on real
/// devices the WAN link's own training after power returns (DSL sync, DOCSIS ranging, PPP and
/// DHCP) already spreads a neighbourhood's first Informs over tens of seconds; an operator's
/// zero-touch provisioning waits for every boot's first Inform; and the ACS already has TR-069's
/// own tools against a storm (the retry wait, `503` + `Retry-After`, fault 8005). A fleet whose
/// links come up at once (Ethernet, FTTH, a simulator) sets a range such as `"0s..60s"`: see
/// BENCHMARKS.md, "The neighbourhood power cut", for the ACS's arrival curve with and without.
pub const DEFAULT_BOOT_INFORM_DELAY: std::ops::RangeInclusive<Duration> =
    Duration::ZERO..=Duration::ZERO;

/// `MAX` (meaning `0s..MAX`) or `MIN..MAX`, each a duration of at most one hour.
pub fn parse_delay_range(text: &str) -> Option<std::ops::RangeInclusive<Duration>> {
    let one = |t: &str| {
        settings::parse_duration(t)
            .filter(|s| *s <= 3600)
            .map(Duration::from_secs)
    };
    let (min, max) = match text.split_once("..") {
        Some((a, b)) => (one(a)?, one(b)?),
        None => (Duration::ZERO, one(text)?),
    };
    (min <= max).then_some(min..=max)
}

/// The connection-request server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRequestConfig {
    pub listen_address: IpAddr,
    /// A fixed URL path (starting with `/`); `None`: a random path the agent persists.
    pub path: Option<String>,
    /// `failed_auth_limit`, `challenge_limit`, `global_limit`.
    pub limits: RateLimitConfig,
    /// How often the host's address is re-read to keep ConnectionRequestURL current.
    pub address_check_interval: Duration,
}

impl Default for ConnectionRequestConfig {
    fn default() -> Self {
        ConnectionRequestConfig {
            listen_address: IpAddr::from([0, 0, 0, 0]),
            path: None,
            limits: RateLimitConfig::default(),
            address_check_interval: Duration::from_secs(60),
        }
    }
}

/// The data model's configurable providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataModelConfig {
    /// Executables owning subtrees (see docs/external-provider.md).
    pub external: Vec<ExternalProvider>,
    /// How often host-backed parameters with a notification set are sampled.
    pub notification_sample_interval: Duration,
}

impl Default for DataModelConfig {
    fn default() -> Self {
        DataModelConfig {
            external: Vec::new(),
            notification_sample_interval: Duration::from_secs(30),
        }
    }
}

/// Journal sizing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    pub max_live_bytes: u64,
    pub history_records: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        // The journal's own defaults (`journal::Options::default()`).
        JournalConfig {
            max_live_bytes: 1 << 20,
            history_records: 200,
        }
    }
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was loaded from (`None`: built-in defaults).
    pub source: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub control_socket: PathBuf,
    control_socket_explicit: bool,
    pub boot_id_file: PathBuf,
    pub device: Device,
    /// The device's factory settings, canonical form, by setting name.
    pub factory_settings: BTreeMap<String, String>,
    pub hooks: Hooks,
    pub datamodel: DataModelConfig,
    pub session: SessionConfig,
    pub connection_request: ConnectionRequestConfig,
    pub journal: JournalConfig,
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from(DEFAULT_DATA_DIR);
        Config {
            source: None,
            control_socket: data_dir.join(CONTROL_SOCKET_NAME),
            control_socket_explicit: false,
            data_dir,
            boot_id_file: PathBuf::from(DEFAULT_BOOT_ID_FILE),
            device: Device::default(),
            factory_settings: BTreeMap::new(),
            hooks: Hooks::default(),
            datamodel: DataModelConfig::default(),
            session: SessionConfig::default(),
            connection_request: ConnectionRequestConfig::default(),
            journal: JournalConfig::default(),
        }
    }
}

impl Config {
    /// Loads `path`, or [`DEFAULT_CONFIG_PATH`] when `None` (where a missing file means all
    /// defaults).
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (file, explicit) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
        };
        match std::fs::read_to_string(&file) {
            Ok(text) => Config::from_toml_str(&text, &file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Read { file, source }),
        }
    }

    /// Parses and validates a configuration; `file` is only used in error messages.
    pub fn from_toml_str(text: &str, file: &Path) -> Result<Config, ConfigError> {
        read::raw_config(text, file)?.validate(file)
    }

    /// Replaces the data directory (`--data-dir`); the control socket follows it unless the file
    /// set it explicitly.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.data_dir = dir.into();
        if !self.control_socket_explicit {
            self.control_socket = self.data_dir.join(CONTROL_SOCKET_NAME);
        }
        self
    }

    /// Where transfers keep their files: `<data_dir>/transfers`.
    pub fn transfer_dir(&self) -> PathBuf {
        self.data_dir.join("transfers")
    }

    /// The journal's directory: `<data_dir>/journal`.
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join(JOURNAL_DIR_NAME)
    }

    /// Journal options for this configuration, stamped with `boot_id`.
    pub fn journal_options(&self, boot_id: &str) -> journal::Options {
        journal::Options {
            max_live_bytes: self.journal.max_live_bytes,
            history_records: self.journal.history_records,
            ..journal::Options::with_boot_id(boot_id)
        }
    }

    /// The current boot id, from `boot_id_file`.
    pub fn read_boot_id(&self) -> std::io::Result<String> {
        crate::state::boot::read_boot_id(&self.boot_id_file)
    }
}

mod read;

use read::RawConfig;

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn invalid(
        &self,
        key: &str,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_path_buf(),
            key: key.to_owned(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

fn check_text(
    ctx: &Ctx<'_>,
    key: &str,
    value: Option<String>,
    default: String,
    max: usize,
) -> Result<String, ConfigError> {
    let Some(v) = value else { return Ok(default) };
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(ctx.invalid(
            key,
            &v,
            format!("text of at most {max} characters without control characters"),
        ));
    }
    Ok(v)
}

fn check_hook(
    ctx: &Ctx<'_>,
    key: &str,
    value: Option<String>,
    spec: HookSpec,
) -> Result<Option<String>, ConfigError> {
    let Some(cmd) = value else { return Ok(None) };
    let expected = spec.accepted_form();
    if cmd.trim().is_empty() {
        return Err(ctx.invalid(key, &cmd, expected));
    }
    let missing = spec.required.iter().any(|p| !cmd.contains(p));
    let mut rest = cmd.clone();
    for p in spec.required.iter().chain(spec.optional) {
        rest = rest.replace(p, "");
    }
    let unknown_placeholder = rest.contains('{') && rest.contains('}');
    if missing || unknown_placeholder {
        return Err(ctx.invalid(key, &cmd, expected));
    }
    Ok(Some(cmd))
}

/// `COUNT/PERIOD`, e.g. `10/10m`; `None` (the default) when absent.
fn check_limit(
    ctx: &Ctx<'_>,
    key: &str,
    value: Option<String>,
    default: Limit,
) -> Result<Limit, ConfigError> {
    let Some(text) = value else {
        return Ok(default);
    };
    let parsed = text.split_once('/').and_then(|(count, period)| {
        let count: u32 = count.trim().parse().ok()?;
        let secs = settings::parse_duration(period)?;
        ((1..=1_000_000).contains(&count) && (1..=86_400).contains(&secs))
            .then(|| Limit::new(count, Duration::from_secs(secs)))
    });
    parsed.ok_or_else(|| {
        ctx.invalid(
            key,
            &text,
            "a count and a period such as \"10/10m\" or \"600/1m\" (count 1 to 1000000, period 1s to 1d)",
        )
    })
}

impl RawConfig {
    fn validate(self, file: &Path) -> Result<Config, ConfigError> {
        let ctx = Ctx { file };
        let d = Device::default();
        let data_dir = self
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        if data_dir.as_os_str().is_empty() {
            return Err(ctx.invalid("data_dir", "", "a directory path"));
        }
        let control_socket_explicit = self.control_socket.is_some();
        let control_socket = self
            .control_socket
            .unwrap_or_else(|| data_dir.join(CONTROL_SOCKET_NAME));
        if control_socket.as_os_str().len() > 100 {
            return Err(ctx.invalid(
                "control_socket",
                control_socket.display(),
                "a path of at most 100 bytes (Unix socket paths are short)",
            ));
        }

        let dev = self.device;
        let oui = match dev.oui {
            None => d.oui.clone(),
            Some(o)
                if o.len() == 6
                    && o.chars()
                        .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)) =>
            {
                o
            }
            Some(o) => {
                return Err(ctx.invalid(
                    "device.oui",
                    o,
                    "6 upper-case hexadecimal digits, e.g. \"00000C\"",
                ));
            }
        };
        let software_version = match (dev.software_version, dev.software_version_file) {
            (Some(_), Some(_)) => {
                return Err(ctx.invalid(
                    "device.software_version_file",
                    "(both set)",
                    "either device.software_version or device.software_version_file, not both",
                ));
            }
            (Some(v), None) => SoftwareVersion::Fixed(check_text(
                &ctx,
                "device.software_version",
                Some(v),
                String::new(),
                64,
            )?),
            (None, Some(p)) => SoftwareVersion::File(p),
            (None, None) => d.software_version.clone(),
        };
        let device = Device {
            manufacturer: check_text(
                &ctx,
                "device.manufacturer",
                dev.manufacturer,
                d.manufacturer,
                64,
            )?,
            oui,
            product_class: check_text(
                &ctx,
                "device.product_class",
                dev.product_class,
                d.product_class,
                64,
            )?,
            serial_number: check_text(
                &ctx,
                "device.serial_number",
                dev.serial_number,
                d.serial_number,
                64,
            )?,
            model_name: check_text(&ctx, "device.model_name", dev.model_name, d.model_name, 64)?,
            description: check_text(
                &ctx,
                "device.description",
                dev.description,
                d.description,
                256,
            )?,
            hardware_version: check_text(
                &ctx,
                "device.hardware_version",
                dev.hardware_version,
                d.hardware_version,
                64,
            )?,
            software_version,
        };

        let mut factory_settings = BTreeMap::new();
        for (name, text) in self.settings {
            let canonical = settings::validate(&name, &text).map_err(|e| match e {
                settings::SettingError::Unknown { known, .. } => ctx.invalid(
                    &format!("settings.{name}"),
                    &text,
                    format!("a known setting name (one of: {known})"),
                ),
                settings::SettingError::Invalid {
                    value, expected, ..
                } => ctx.invalid(&format!("settings.{name}"), value, expected),
            })?;
            factory_settings.insert(name, canonical);
        }

        let h = self.hooks;
        let hooks = Hooks {
            reboot: check_hook(&ctx, "hooks.reboot", h.reboot, Hooks::REBOOT)?,
            factory_reset: check_hook(
                &ctx,
                "hooks.factory_reset",
                h.factory_reset,
                Hooks::FACTORY_RESET,
            )?,
            firmware_apply: check_hook(
                &ctx,
                "hooks.firmware_apply",
                h.firmware_apply,
                Hooks::FIRMWARE_APPLY,
            )?,
            config_apply: check_hook(
                &ctx,
                "hooks.config_apply",
                h.config_apply,
                Hooks::CONFIG_APPLY,
            )?,
            config_export: check_hook(
                &ctx,
                "hooks.config_export",
                h.config_export,
                Hooks::CONFIG_EXPORT,
            )?,
            log_export: check_hook(&ctx, "hooks.log_export", h.log_export, Hooks::LOG_EXPORT)?,
            reboot_attempts: match h.reboot_attempts {
                None => DEFAULT_REBOOT_ATTEMPTS,
                Some(n) if (1..=100).contains(&n) => n,
                Some(n) => {
                    return Err(ctx.invalid(
                        "hooks.reboot_attempts",
                        n,
                        "a number of attempts from 1 to 100",
                    ));
                }
            },
        };

        let mut external: Vec<ExternalProvider> = Vec::new();
        for (i, e) in self.datamodel.external.into_iter().enumerate() {
            let key = format!("datamodel.external[{i}]");
            let subtree_ok = e.subtree.starts_with("Device.")
                && e.subtree.len() > "Device.".len()
                && e.subtree.ends_with('.')
                && crate::datamodel::path::to_pattern(&e.subtree).is_some();
            if !subtree_ok {
                return Err(ctx.invalid(
                    &format!("{key}.subtree"),
                    &e.subtree,
                    "an object path below Device. ending in '.', e.g. \"Device.X_ACME_Firewall.\"",
                ));
            }
            if external.iter().any(|x| x.subtree == e.subtree) {
                return Err(ctx.invalid(
                    &format!("{key}.subtree"),
                    &e.subtree,
                    "a subtree no other external provider owns",
                ));
            }
            if e.command.as_os_str().is_empty() {
                return Err(ctx.invalid(
                    &format!("{key}.command"),
                    "",
                    "the path of an executable",
                ));
            }
            let timeout = match e.timeout {
                None => Duration::from_secs(5),
                Some(t) => match settings::parse_duration(&t) {
                    Some(s) if (1..=300).contains(&s) => Duration::from_secs(s),
                    _ => {
                        return Err(ctx.invalid(
                            &format!("{key}.timeout"),
                            t,
                            "a duration such as 5s or 1m (between 1s and 5m)",
                        ));
                    }
                },
            };
            external.push(ExternalProvider {
                subtree: e.subtree,
                command: e.command,
                args: e.args,
                timeout,
            });
        }
        let notification_sample_interval = match self.datamodel.notification_sample_interval {
            None => DataModelConfig::default().notification_sample_interval,
            Some(t) => match settings::parse_duration(&t) {
                Some(s) if (1..=86_400).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(ctx.invalid(
                        "datamodel.notification_sample_interval",
                        t,
                        "a duration such as 10s, 30s or 5m (between 1s and 1d)",
                    ));
                }
            },
        };
        let datamodel = DataModelConfig {
            external,
            notification_sample_interval,
        };

        let sd = SessionConfig::default();
        let timeout = match self.session.timeout {
            None => sd.timeout,
            Some(t) => match settings::parse_duration(&t) {
                Some(s) if (1..=86_400).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(ctx.invalid(
                        "session.timeout",
                        t,
                        "a duration such as 30s, 60s, 5m or 1h (between 1s and 1d)",
                    ));
                }
            },
        };
        let request_timeout = match self.session.request_timeout {
            None => sd.request_timeout,
            Some(t) => match settings::parse_duration(&t) {
                Some(s) if (1..=3600).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(ctx.invalid(
                        "session.request_timeout",
                        t,
                        "a duration such as 30s or 2m (between 1s and 1h)",
                    ));
                }
            },
        };
        let session = SessionConfig {
            timeout,
            request_timeout,
            get_rpc_methods: self.session.get_rpc_methods.unwrap_or(sd.get_rpc_methods),
            boot_inform_delay: match self.session.boot_inform_delay {
                None => sd.boot_inform_delay,
                Some(t) => parse_delay_range(&t).ok_or_else(|| {
                    ctx.invalid(
                        "session.boot_inform_delay",
                        &t,
                        "a duration such as \"30s\" (a delay drawn from 0s to 30s) or a range such as \"10s..2m\" (each between 0s and 1h, the first not above the second)",
                    )
                })?,
            },
        };

        let cd = ConnectionRequestConfig::default();
        let listen_address = match self.connection_request.listen_address {
            None => cd.listen_address,
            Some(a) => a.trim().parse().map_err(|_| {
                ctx.invalid(
                    "connection_request.listen_address",
                    &a,
                    "an IPv4 or IPv6 address such as \"0.0.0.0\", \"::\" or \"192.168.88.1\"",
                )
            })?,
        };
        let path = match self.connection_request.path {
            None => None,
            Some(p)
                if p.starts_with('/')
                    && p.len() > 1
                    && p.len() <= 64
                    && p.chars()
                        .all(|c| c.is_ascii_graphic() && c != '?' && c != '#') =>
            {
                Some(p)
            }
            Some(p) => {
                return Err(ctx.invalid(
                    "connection_request.path",
                    p,
                    "a URL path starting with / (at most 64 printable ASCII characters, no ? or #), e.g. \"/cr-5f2a9c\"",
                ));
            }
        };

        let address_check_interval = match self.connection_request.address_check_interval {
            None => cd.address_check_interval,
            Some(t) => match settings::parse_duration(&t) {
                Some(s) if (1..=86_400).contains(&s) => Duration::from_secs(s),
                _ => {
                    return Err(ctx.invalid(
                        "connection_request.address_check_interval",
                        t,
                        "a duration such as 60s or 5m (between 1s and 1d)",
                    ));
                }
            },
        };
        let limits = RateLimitConfig {
            failed_auth_per_source: Some(check_limit(
                &ctx,
                "connection_request.failed_auth_limit",
                self.connection_request.failed_auth_limit,
                RateLimitConfig::DEFAULT_FAILED_AUTH,
            )?),
            challenges_per_source: Some(check_limit(
                &ctx,
                "connection_request.challenge_limit",
                self.connection_request.challenge_limit,
                RateLimitConfig::DEFAULT_CHALLENGES,
            )?),
            global: Some(check_limit(
                &ctx,
                "connection_request.global_limit",
                self.connection_request.global_limit,
                RateLimitConfig::DEFAULT_GLOBAL,
            )?),
            ..cd.limits
        };

        let jd = JournalConfig::default();
        let max_live_bytes = self.journal.max_live_bytes.unwrap_or(jd.max_live_bytes);
        if max_live_bytes < 16 * 1024 {
            return Err(ctx.invalid(
                "journal.max_live_bytes",
                max_live_bytes,
                "a number of bytes of at least 16384",
            ));
        }
        let journal = JournalConfig {
            max_live_bytes,
            history_records: self.journal.history_records.unwrap_or(jd.history_records),
        };

        Ok(Config {
            source: Some(file.to_path_buf()),
            data_dir,
            control_socket,
            control_socket_explicit,
            boot_id_file: self
                .boot_id_file
                .unwrap_or_else(|| PathBuf::from(DEFAULT_BOOT_ID_FILE)),
            device,
            factory_settings,
            hooks,
            datamodel,
            session,
            connection_request: ConnectionRequestConfig {
                listen_address,
                path,
                limits,
                address_check_interval,
            },
            journal,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(text, Path::new("/etc/tr069-client/config.toml"))
    }

    #[test]
    fn empty_file_is_all_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(
            c.control_socket,
            PathBuf::from("/var/lib/tr069-client/control.sock")
        );
        assert_eq!(
            c.journal_dir(),
            PathBuf::from("/var/lib/tr069-client/journal")
        );
        assert_eq!(c.session.timeout, Duration::from_secs(300));
        let moved = c.with_data_dir("/tmp/x");
        assert_eq!(moved.control_socket, PathBuf::from("/tmp/x/control.sock"));
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = include_str!("../examples/config.toml");
        let c = parse(text).unwrap();
        assert_eq!(c.device.oui, "00000C");
        // The example shows the defaults.
        assert_eq!(c.connection_request.limits, RateLimitConfig::default());
        assert_eq!(
            c.factory_settings
                .get("periodic-inform-interval")
                .map(String::as_str),
            Some("3600")
        );
        assert!(
            c.hooks
                .firmware_apply
                .as_deref()
                .is_some_and(|h| h.contains("{file}"))
        );
    }

    #[test]
    fn the_example_s_commented_settings_are_valid_too() {
        let text = include_str!("../examples/config.toml");
        let mut checked = 0;
        let uncommented: String = text
            .lines()
            .map(|line| {
                let name = line
                    .strip_prefix("# ")
                    .and_then(|rest| rest.split_once(" = "))
                    .map(|(name, _)| name.trim());
                match name {
                    Some(n) if crate::state::settings::setting(n).is_some() => {
                        checked += 1;
                        line[2..].to_owned()
                    }
                    _ => line.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse(&uncommented).unwrap();
        assert!(checked >= 20, "{checked} commented settings");
        assert_eq!(
            c.factory_settings.get("stun-enabled").map(String::as_str),
            Some("true")
        );
        assert_eq!(
            c.factory_settings
                .get("stun-minimum-keep-alive-period")
                .map(String::as_str),
            Some("10")
        );
    }

    #[test]
    fn errors_name_file_key_and_form() {
        let e = parse("[device]\noui = \"00000c\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("config.toml") && e.contains("device.oui") && e.contains("upper-case"),
            "{e}"
        );
        let e = parse("[settings]\nperiodic-inform-interval = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("settings.periodic-inform-interval") && e.contains("30s, 15m"),
            "{e}"
        );
        let e = parse("[settings]\ncolour = \"red\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("settings.colour") && e.contains("acs-url"),
            "{e}"
        );
        let e = parse("datadir = \"/x\"\n").unwrap_err().to_string();
        assert!(e.contains("datadir") && e.contains("config.toml"), "{e}");
        let e = parse("[session]\ntimeout = \"forever\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("session.timeout") && e.contains("60s"), "{e}");
        let e = parse("[hooks]\nfirmware_apply = \"/sbin/upgrade\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hooks.firmware_apply") && e.contains("{file}"),
            "{e}"
        );
        let e = parse("[connection_request]\nlisten_address = \"any\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("connection_request.listen_address"), "{e}");
        let e = parse("[device]\nsoftware_version = \"1\"\nsoftware_version_file = \"/v\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        let e = parse("[settings]\npassword = \"x\\u0001\"\n")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("x\u{1}"), "secrets never echoed: {e}");
    }

    #[test]
    fn connection_request_limits() {
        let c = parse("").unwrap();
        assert_eq!(c.connection_request.limits, RateLimitConfig::default());
        let c = parse(
            "[connection_request]\nfailed_auth_limit = \"5/1h\"\nchallenge_limit = \"1000 / 30s\"\nglobal_limit = \"2000/60\"\n",
        )
        .unwrap();
        let l = &c.connection_request.limits;
        assert_eq!(
            l.failed_auth_per_source,
            Some(Limit::new(5, Duration::from_secs(3600)))
        );
        assert_eq!(
            l.challenges_per_source,
            Some(Limit::new(1000, Duration::from_secs(30)))
        );
        assert_eq!(l.global, Some(Limit::new(2000, Duration::from_secs(60))));
        assert_eq!(l.max_sources, RateLimitConfig::default().max_sources);

        for (key, bad) in [
            ("failed_auth_limit", "10"),
            ("failed_auth_limit", "0/10m"),
            ("challenge_limit", "200/forever"),
            ("challenge_limit", "-1/1m"),
            ("global_limit", "600/0s"),
            ("global_limit", "600/2d"),
            ("global_limit", "2000000/1m"),
        ] {
            let e = parse(&format!("[connection_request]\n{key} = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("config.toml")
                    && e.contains(&format!("connection_request.{key}"))
                    && e.contains(bad)
                    && e.contains("\"10/10m\"")
                    && e.contains("count 1 to 1000000, period 1s to 1d"),
                "{e}"
            );
        }
        let e = parse("[connection_request]\nglobal_limit = 600\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("global_limit"), "{e}");
    }

    #[test]
    fn boot_inform_delay_is_a_duration_or_a_range() {
        let secs = Duration::from_secs;
        assert_eq!(
            parse("").unwrap().session.boot_inform_delay,
            DEFAULT_BOOT_INFORM_DELAY
        );
        let c = parse("[session]\nboot_inform_delay = \"30s\"\n").unwrap();
        assert_eq!(c.session.boot_inform_delay, secs(0)..=secs(30));
        let c = parse("[session]\nboot_inform_delay = \"10s..2m\"\n").unwrap();
        assert_eq!(c.session.boot_inform_delay, secs(10)..=secs(120));
        for bad in ["2m..10s", "1h1s", "soon", "..5s"] {
            let e = parse(&format!("[session]\nboot_inform_delay = \"{bad}\"\n"))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("session.boot_inform_delay") && e.contains("10s..2m"),
                "{bad}: {e}"
            );
        }
    }

    /// What serde's `deny_unknown_fields` and typed fields refused before the hand-written
    /// reader (src/config/read.rs), it refuses too, naming the key, its line and the form.
    #[test]
    fn the_reader_refuses_unknown_keys_wrong_types_and_missing_keys() {
        let e = parse("[device]\nmanufacturer = \"A\"\n\nserial = \"1\"\n").unwrap_err();
        assert!(
            matches!(&e, ConfigError::UnknownKey { line: 4, key, known, .. }
                if key == "device.serial" && known.contains("serial_number")),
            "{e}"
        );
        let e = parse("[journal]\nmax_live_bytes = \"64k\"\n").unwrap_err();
        assert!(
            matches!(&e, ConfigError::WrongType { line: 2, key, found: "string", .. }
                if key == "journal.max_live_bytes"),
            "{e}"
        );
        // A secret of the wrong type is not repeated.
        let e = parse("[settings]\npassword = [\"hunter2\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("settings.password") && !e.contains("hunter2"),
            "{e}"
        );
        let e = parse("device = \"x\"\n").unwrap_err().to_string();
        assert!(
            e.contains("device is a TOML string; expected a table"),
            "{e}"
        );
        let e = parse("[[datamodel.external]]\nsubtree = \"Device.X_A.\"\n").unwrap_err();
        assert!(
            matches!(&e, ConfigError::Missing { key, .. } if key == "datamodel.external[0].command"),
            "{e}"
        );
        let e = parse("[[datamodel.external]]\nsubtree = \"Device.X_A.\"\ncommand = \"/a\"\nargs = [\"-v\", 2]\n")
            .unwrap_err();
        assert!(
            matches!(&e, ConfigError::WrongType { line: 4, key, found: "integer", .. }
                if key == "datamodel.external[0].args[1]"),
            "{e}"
        );
        let e = parse("[hooks]\nreboot_attempts = -1\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hooks.reboot_attempts") && e.contains("-1"),
            "{e}"
        );
        let e = parse("[hooks]\nreboot_attempts = 4294967296\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hooks.reboot_attempts") && e.contains("1 to 100"),
            "{e}"
        );
        let e = parse("[settings]\nretry-minimum-wait = 1.5\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("settings.retry-minimum-wait is a TOML float"),
            "{e}"
        );
        // Not TOML at all: toml's own message, with the line.
        let e = parse("[device\n").unwrap_err().to_string();
        assert!(e.contains("config.toml") && e.contains("line 1"), "{e}");
    }

    /// Every TOML spelling of the same configuration loads the same: inline tables, dotted
    /// keys, literal and multi-line strings, integers in other radixes and with underscores.
    #[test]
    fn any_toml_spelling_of_a_value_is_read() {
        let long = parse(
            "[journal]\nmax_live_bytes = 65536\nhistory_records = 50\n\n\
             [hooks]\nreboot = 'reboot now'\n\n\
             [[datamodel.external]]\nsubtree = \"Device.X_A.\"\ncommand = \"/usr/bin/a\"\nargs = [\"-v\"]\n",
        )
        .unwrap();
        let short = parse(
            "journal = { max_live_bytes = 0x1_0000, history_records = 0o62 }\n\
             hooks.reboot = \"\"\"reboot now\"\"\"\n\
             datamodel.external = [ { subtree = 'Device.X_A.', command = \"/usr/bin/a\", args = [\n  \"-v\", # verbose\n] } ]\n",
        )
        .unwrap();
        assert_eq!(long.journal.max_live_bytes, 65536);
        assert_eq!(short.journal.max_live_bytes, 65536);
        assert_eq!(short.journal.history_records, 50);
        assert_eq!(short.hooks.reboot.as_deref(), Some("reboot now"));
        assert_eq!(short.hooks.reboot, long.hooks.reboot);
        assert_eq!(short.datamodel.external, long.datamodel.external);
        let c = parse("[settings]\nretry-minimum-wait = 1_0\nenabled = false\n").unwrap();
        assert_eq!(c.factory_settings["retry-minimum-wait"], "10");
        assert_eq!(c.factory_settings["enabled"], "false");
    }

    #[test]
    fn settings_accept_toml_types() {
        let c = parse(
            "[settings]\nenabled = true\nretry-minimum-wait = 10\nacs-url = \"http://acs/\"\n",
        )
        .unwrap();
        assert_eq!(c.factory_settings["enabled"], "true");
        assert_eq!(c.factory_settings["retry-minimum-wait"], "10");
    }

    #[test]
    fn software_version_file_is_read_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("version");
        std::fs::write(&f, "7.14\n").unwrap();
        let c = parse(&format!(
            "[device]\nsoftware_version_file = {:?}\n",
            f.display().to_string()
        ))
        .unwrap();
        assert_eq!(c.device.current_software_version().unwrap(), "7.14");
        std::fs::write(&f, "7.15\n").unwrap();
        assert_eq!(c.device.current_software_version().unwrap(), "7.15");
    }

    #[test]
    fn hook_rendering_quotes_the_file_and_fills_the_mode() {
        assert_eq!(
            Hooks::render("upgrade {file}", Some(Path::new("/tmp/a b'c")), ""),
            r"upgrade '/tmp/a b'\''c'"
        );
        assert_eq!(
            Hooks::render("apply {file} --{mode}", Some(Path::new("/t/f")), "alter"),
            "apply '/t/f' --alter"
        );
    }

    #[test]
    fn each_hook_accepts_exactly_the_placeholders_it_receives() {
        let ok = parse(
            "[hooks]\nconfig_apply = \"/sbin/apply {file} {mode}\"\nconfig_export = \"x > {file}\"\nreboot_attempts = 5\n",
        )
        .unwrap();
        assert_eq!(
            ok.hooks.config_apply.as_deref(),
            Some("/sbin/apply {file} {mode}")
        );
        assert_eq!(ok.hooks.reboot_attempts, 5);
        assert_eq!(Config::default().hooks.reboot_attempts, 3);
        for (text, key) in [
            (
                "firmware_apply = \"up {file} {mode}\"",
                "hooks.firmware_apply",
            ),
            ("config_apply = \"apply {mode}\"", "hooks.config_apply"),
            (
                "config_apply = \"apply {file} {mod}\"",
                "hooks.config_apply",
            ),
            ("reboot = \"reboot {file}\"", "hooks.reboot"),
            ("reboot_attempts = 0", "hooks.reboot_attempts"),
        ] {
            let e = parse(&format!("[hooks]\n{text}\n"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{text}: {e}");
        }
        let e = parse("[hooks]\nconfig_apply = \"apply\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("{file}") && e.contains("{mode}"), "{e}");
    }
}
