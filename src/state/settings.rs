//! The operator's settings: one table, RouterOS's names, the TR-181 parameter each one is.
//!
//! A setting is one journaled value whichever side changes it: `set periodic-inform-interval=1h`
//! on the CLI and a SetParameterValues of `Device.ManagementServer.PeriodicInformInterval` from
//! the ACS write the same `SettingsChanged` record, under the setting's name, in canonical form.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::cwmp::DateTime;

/// What values a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// yes/no, true/false, 1/0 — stored `true`/`false`.
    Bool,
    /// An http:// or https:// URL, or empty.
    Url,
    /// Free text of at most this many characters.
    Text(usize),
    /// Like `Text`, but masked everywhere it is shown.
    Secret(usize),
    /// A duration: `30s`, `15m`, `1h`, `1d`, combinations like `1h30m`, or plain seconds.
    /// Stored as whole seconds.
    Seconds { min: u64, max: u64 },
    /// An unsigned integer in a range.
    UInt { min: u64, max: u64 },
    /// A signed integer in a range (TR-181's `-1` = "none" values).
    Int { min: i64, max: i64 },
    /// One of these words, exactly.
    OneOf(&'static [&'static str]),
    /// An xsd:dateTime, or empty for the Unknown Time.
    DateTime,
    /// A file system path, or empty.
    Path,
}

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingDef {
    /// The operator's name (RouterOS's where RouterOS has one).
    pub name: &'static str,
    /// The TR-181 parameter that is the same value, if any.
    pub parameter: Option<&'static str>,
    pub kind: SettingKind,
    /// Built-in default; the daemon's config file may override it (the device's factory settings).
    pub default: &'static str,
    /// One line for `print --help`-style output.
    pub description: &'static str,
}

impl SettingDef {
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, SettingKind::Secret(_))
    }

    /// The accepted form, as shown in error messages.
    pub fn accepted_form(&self) -> String {
        match self.kind {
            SettingKind::Bool => "yes or no".into(),
            SettingKind::Url => {
                "an http:// or https:// URL, e.g. https://acs.example.com:7547/".into()
            }
            SettingKind::Text(max) | SettingKind::Secret(max) => {
                format!("text of at most {max} characters")
            }
            SettingKind::Seconds { min, max } => format!(
                "a duration such as 30s, 15m, 1h, 1d or 1h30m (between {} and {})",
                format_seconds(min),
                format_seconds(max)
            ),
            SettingKind::UInt { min, max } => format!("a whole number from {min} to {max}"),
            SettingKind::Int { min, max } => format!("a whole number from {min} to {max}"),
            SettingKind::OneOf(words) => format!("one of {}", words.join(", ")),
            SettingKind::DateTime => {
                "a date and time such as 2026-01-01T03:00:00Z, or empty for none".into()
            }
            SettingKind::Path => "a file path, or empty for none".into(),
        }
    }
}

/// The objects whose parameters can be settings: ManagementServer, and the one XMPP connection
/// the agent keeps (instance 1, with its one server).
const SETTING_OBJECTS: &[&str] = &["Device.ManagementServer.", "Device.XMPP.Connection.1."];

/// The XMPP connection the agent keeps: `Device.XMPP.Connection.1.`.
pub const XMPP_CONNECTION: &str = "Device.XMPP.Connection.1";

/// Every setting, in `print` order.
pub const SETTINGS: &[SettingDef] = &[
    SettingDef {
        name: "enabled",
        parameter: Some("Device.ManagementServer.EnableCWMP"),
        kind: SettingKind::Bool,
        default: "false",
        description: "Enable/disable the CWMP client",
    },
    SettingDef {
        name: "acs-url",
        parameter: Some("Device.ManagementServer.URL"),
        kind: SettingKind::Url,
        default: "",
        description: "URL of the ACS",
    },
    SettingDef {
        name: "username",
        parameter: Some("Device.ManagementServer.Username"),
        kind: SettingKind::Text(256),
        default: "",
        description: "HTTP username the CPE uses toward the ACS",
    },
    SettingDef {
        name: "password",
        parameter: Some("Device.ManagementServer.Password"),
        kind: SettingKind::Secret(256),
        default: "",
        description: "HTTP password the CPE uses toward the ACS",
    },
    SettingDef {
        name: "periodic-inform-enabled",
        parameter: Some("Device.ManagementServer.PeriodicInformEnable"),
        kind: SettingKind::Bool,
        default: "true",
        description: "Start a session periodically",
    },
    SettingDef {
        name: "periodic-inform-interval",
        parameter: Some("Device.ManagementServer.PeriodicInformInterval"),
        kind: SettingKind::Seconds {
            min: 1,
            max: u32::MAX as u64,
        },
        default: "86400",
        description: "Interval of periodic informs",
    },
    SettingDef {
        name: "periodic-inform-time",
        parameter: Some("Device.ManagementServer.PeriodicInformTime"),
        kind: SettingKind::DateTime,
        default: "",
        description: "Phase anchor of periodic informs (empty: the agent picks)",
    },
    SettingDef {
        name: "client-certificate",
        parameter: None,
        kind: SettingKind::Path,
        default: "",
        description: "PEM file with the CPE's certificate and private key for mutual TLS",
    },
    SettingDef {
        name: "ca-file",
        parameter: None,
        kind: SettingKind::Path,
        default: "",
        description: "PEM file of extra CA certificates trusted for the ACS",
    },
    SettingDef {
        name: "tls-insecure",
        parameter: None,
        kind: SettingKind::Bool,
        default: "false",
        description: "LAB ONLY: do not verify the ACS certificate",
    },
    SettingDef {
        name: "connection-request-username",
        parameter: Some("Device.ManagementServer.ConnectionRequestUsername"),
        kind: SettingKind::Text(256),
        default: "",
        description: "Username the ACS uses for connection requests",
    },
    SettingDef {
        name: "connection-request-password",
        parameter: Some("Device.ManagementServer.ConnectionRequestPassword"),
        kind: SettingKind::Secret(256),
        default: "",
        description: "Password the ACS uses for connection requests",
    },
    SettingDef {
        name: "connection-request-port",
        parameter: None,
        kind: SettingKind::UInt {
            min: 0,
            max: 65_535,
        },
        default: "7547",
        description: "TCP port of the connection-request server (0: any free port)",
    },
    SettingDef {
        name: "connection-request-path",
        parameter: None,
        kind: SettingKind::Text(64),
        default: "",
        description: "Path part of ConnectionRequestURL (random, chosen at first start)",
    },
    SettingDef {
        name: "retry-minimum-wait",
        parameter: Some("Device.ManagementServer.CWMPRetryMinimumWaitInterval"),
        kind: SettingKind::UInt {
            min: 1,
            max: 65_535,
        },
        default: "5",
        description: "CWMPRetryMinimumWaitInterval, seconds",
    },
    SettingDef {
        name: "retry-interval-multiplier",
        parameter: Some("Device.ManagementServer.CWMPRetryIntervalMultiplier"),
        kind: SettingKind::UInt {
            min: 1000,
            max: 65_535,
        },
        default: "2000",
        description: "CWMPRetryIntervalMultiplier, thousandths",
    },
    SettingDef {
        name: "default-active-notification-throttle",
        parameter: Some("Device.ManagementServer.DefaultActiveNotificationThrottle"),
        kind: SettingKind::UInt {
            min: 0,
            max: u32::MAX as u64,
        },
        default: "0",
        description: "Minimum seconds between sessions started only for active notifications",
    },
    SettingDef {
        name: "upgrades-managed",
        parameter: Some("Device.ManagementServer.UpgradesManaged"),
        kind: SettingKind::Bool,
        default: "false",
        description: "Firmware is upgraded only by the ACS",
    },
    // STUN and UDP connection requests (TR-069 Annex G).
    SettingDef {
        name: "stun-enabled",
        parameter: Some("Device.ManagementServer.STUNEnable"),
        kind: SettingKind::Bool,
        default: "false",
        description: "Keep a NAT binding with STUN and accept UDP connection requests on it",
    },
    SettingDef {
        name: "stun-server-address",
        parameter: Some("Device.ManagementServer.STUNServerAddress"),
        kind: SettingKind::Text(256),
        default: "",
        description: "STUN server host name or address (empty: the ACS's host)",
    },
    SettingDef {
        name: "stun-server-port",
        parameter: Some("Device.ManagementServer.STUNServerPort"),
        kind: SettingKind::UInt {
            min: 0,
            max: 65_535,
        },
        default: "3478",
        description: "STUN server UDP port",
    },
    SettingDef {
        name: "stun-username",
        parameter: Some("Device.ManagementServer.STUNUsername"),
        kind: SettingKind::Text(256),
        default: "",
        description: "USERNAME sent in STUN Binding Requests (empty: none)",
    },
    SettingDef {
        name: "stun-password",
        parameter: Some("Device.ManagementServer.STUNPassword"),
        kind: SettingKind::Secret(256),
        default: "",
        description: "Key of MESSAGE-INTEGRITY when the STUN server asks for it",
    },
    SettingDef {
        name: "stun-maximum-keep-alive-period",
        parameter: Some("Device.ManagementServer.STUNMaximumKeepAlivePeriod"),
        kind: SettingKind::Int {
            min: -1,
            max: i32::MAX as i64,
        },
        default: "-1",
        description: "Longest wait between STUN keep-alives, seconds (-1: the agent picks 25s)",
    },
    SettingDef {
        name: "stun-minimum-keep-alive-period",
        parameter: Some("Device.ManagementServer.STUNMinimumKeepAlivePeriod"),
        kind: SettingKind::Seconds {
            min: 0,
            max: u32::MAX as u64,
        },
        default: "10",
        description: "Shortest wait between STUN keep-alives",
    },
    SettingDef {
        name: "udp-connection-request-port",
        parameter: None,
        kind: SettingKind::UInt {
            min: 0,
            max: 65_535,
        },
        default: "7547",
        description: "Local UDP port of STUN and UDP connection requests (0: any free port)",
    },
    // XMPP connection requests (TR-069 Annex K): Device.XMPP.Connection.1 and its server.
    SettingDef {
        name: "xmpp-enabled",
        parameter: Some("Device.XMPP.Connection.1.Enable"),
        kind: SettingKind::Bool,
        default: "false",
        description: "Keep a connection to an XMPP server for connection requests",
    },
    SettingDef {
        name: "xmpp-username",
        parameter: Some("Device.XMPP.Connection.1.Username"),
        kind: SettingKind::Text(256),
        default: "",
        description: "XMPP account (local part of the Jabber ID)",
    },
    SettingDef {
        name: "xmpp-password",
        parameter: Some("Device.XMPP.Connection.1.Password"),
        kind: SettingKind::Secret(256),
        default: "",
        description: "XMPP account password",
    },
    SettingDef {
        name: "xmpp-domain",
        parameter: Some("Device.XMPP.Connection.1.Domain"),
        kind: SettingKind::Text(64),
        default: "",
        description: "XMPP domain (domain part of the Jabber ID)",
    },
    SettingDef {
        name: "xmpp-resource",
        parameter: Some("Device.XMPP.Connection.1.Resource"),
        kind: SettingKind::Text(64),
        default: "cwmp",
        description: "Requested XMPP resource (empty: the server picks one)",
    },
    SettingDef {
        name: "xmpp-server-connect-algorithm",
        parameter: Some("Device.XMPP.Connection.1.ServerConnectAlgorithm"),
        kind: SettingKind::OneOf(XMPP_CONNECT_ALGORITHMS),
        default: "ServerTable",
        description: "How the XMPP server is found: ServerTable (xmpp-server-address and -port)",
    },
    SettingDef {
        name: "xmpp-server-address",
        parameter: Some("Device.XMPP.Connection.1.Server.1.ServerAddress"),
        kind: SettingKind::Text(256),
        default: "",
        description: "XMPP server host name or address (empty: the domain)",
    },
    SettingDef {
        name: "xmpp-server-port",
        parameter: Some("Device.XMPP.Connection.1.Server.1.Port"),
        kind: SettingKind::UInt {
            min: 0,
            max: 65_535,
        },
        default: "5222",
        description: "XMPP server TCP port",
    },
    SettingDef {
        name: "xmpp-use-tls",
        parameter: Some("Device.XMPP.Connection.1.UseTLS"),
        kind: SettingKind::Bool,
        default: "true",
        description: "Start TLS even when the server does not require it",
    },
    SettingDef {
        name: "xmpp-keep-alive-interval",
        parameter: Some("Device.XMPP.Connection.1.KeepAliveInterval"),
        kind: SettingKind::Int {
            min: -1,
            max: u32::MAX as i64,
        },
        default: "-1",
        description: "Seconds of silence before a keep-alive ping (0: none; -1: 300)",
    },
    SettingDef {
        name: "xmpp-server-retry-initial-interval",
        parameter: Some("Device.XMPP.Connection.1.ServerRetryInitialInterval"),
        kind: SettingKind::UInt {
            min: 1,
            max: 65_535,
        },
        default: "60",
        description: "Longest first reconnection wait, seconds",
    },
    SettingDef {
        name: "xmpp-server-retry-interval-multiplier",
        parameter: Some("Device.XMPP.Connection.1.ServerRetryIntervalMultiplier"),
        kind: SettingKind::UInt {
            min: 1000,
            max: 65_535,
        },
        default: "2000",
        description: "Growth of the reconnection wait, thousandths",
    },
    SettingDef {
        name: "xmpp-server-retry-max-interval",
        parameter: Some("Device.XMPP.Connection.1.ServerRetryMaxInterval"),
        kind: SettingKind::UInt {
            min: 1,
            max: u32::MAX as u64,
        },
        default: "30720",
        description: "Longest reconnection wait, seconds",
    },
    SettingDef {
        name: "xmpp-allow-plaintext",
        parameter: None,
        kind: SettingKind::Bool,
        default: "false",
        description: "LAB ONLY: connect to an XMPP server that offers no TLS",
    },
    SettingDef {
        name: "connection-request-xmpp-connection",
        parameter: Some("Device.ManagementServer.ConnReqXMPPConnection"),
        kind: SettingKind::OneOf(&["", XMPP_CONNECTION]),
        default: XMPP_CONNECTION,
        description: "The XMPP connection connection requests arrive on (empty: none)",
    },
    SettingDef {
        name: "connection-request-allowed-jabber-ids",
        parameter: Some("Device.ManagementServer.ConnReqAllowedJabberIDs"),
        kind: SettingKind::Text(256),
        default: "",
        description: "Comma-separated JIDs allowed to send XMPP connection requests (empty: any)",
    },
];

/// The ServerConnectAlgorithm values this agent implements: the server table (one server; no
/// DNS SRV resolver on board).
pub const XMPP_CONNECT_ALGORITHMS: &[&str] = &["ServerTable"];

/// Looks a setting up by its operator name.
pub fn setting(name: &str) -> Option<&'static SettingDef> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The setting named `name`, found at compile time when called in a `const` block, so a
/// misspelt name fails the build instead of reading an empty value.
const fn def(name: &str) -> &'static SettingDef {
    let mut i = 0;
    while i < SETTINGS.len() {
        if const_str_eq(SETTINGS[i].name, name) {
            return &SETTINGS[i];
        }
        i += 1;
    }
    panic!("no such setting");
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Looks a setting up by its TR-181 parameter name.
pub fn setting_for_parameter(parameter: &str) -> Option<&'static SettingDef> {
    if !SETTING_OBJECTS.iter().any(|o| parameter.starts_with(o)) {
        return None;
    }
    SETTINGS.iter().find(|s| s.parameter == Some(parameter))
}

/// A refused setting value; the message names the setting and the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting {name:?}; settings are: {known}")]
    Unknown { name: String, known: String },
    #[error("invalid value {value:?} for {name}: expected {expected}")]
    Invalid {
        name: String,
        value: String,
        expected: String,
    },
}

/// Validates `input` for the setting `name` and returns its canonical stored form.
pub fn validate(name: &str, input: &str) -> Result<String, SettingError> {
    let def = setting(name).ok_or_else(|| SettingError::Unknown {
        name: name.to_owned(),
        known: SETTINGS
            .iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    canonical(def, input).ok_or_else(|| SettingError::Invalid {
        name: name.to_owned(),
        value: if def.is_secret() {
            "***".to_owned()
        } else {
            input.to_owned()
        },
        expected: def.accepted_form(),
    })
}

/// The canonical form of `input` for `def`, or `None` when it is not acceptable.
pub fn canonical(def: &SettingDef, input: &str) -> Option<String> {
    let t = input.trim();
    match def.kind {
        SettingKind::Bool => match t.to_ascii_lowercase().as_str() {
            "yes" | "true" | "1" | "on" => Some("true".into()),
            "no" | "false" | "0" | "off" => Some("false".into()),
            _ => None,
        },
        SettingKind::Url => {
            if t.is_empty() {
                return Some(String::new());
            }
            let rest = t
                .strip_prefix("http://")
                .or_else(|| t.strip_prefix("https://"))?;
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let ok = !host.is_empty()
                && t.chars().count() <= 256
                && !t.chars().any(|c| c.is_whitespace() || c.is_control());
            ok.then(|| t.to_owned())
        }
        SettingKind::Text(max) | SettingKind::Secret(max) => (input.chars().count() <= max
            && !input.chars().any(char::is_control))
        .then(|| input.to_owned()),
        SettingKind::Seconds { min, max } => parse_duration(t)
            .filter(|s| (min..=max).contains(s))
            .map(|s| s.to_string()),
        SettingKind::UInt { min, max } => t
            .parse::<u64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(|n| n.to_string()),
        SettingKind::Int { min, max } => t
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(|n| n.to_string()),
        SettingKind::OneOf(words) => words.contains(&t).then(|| t.to_owned()),
        SettingKind::DateTime => {
            if t.is_empty() {
                Some(String::new())
            } else {
                DateTime::parse(t).ok().map(|d| d.to_string())
            }
        }
        SettingKind::Path => (!t.chars().any(char::is_control)).then(|| t.to_owned()),
    }
}

/// Parses `30s`, `15m`, `1h`, `1d`, `1w`, combinations (`1h30m`) and plain seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(n) = t.parse::<u64>() {
        return Some(n);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for c in t.chars() {
        if let Some(d) = c.to_digit(10) {
            number = Some(
                number
                    .unwrap_or(0)
                    .checked_mul(10)?
                    .checked_add(u64::from(d))?,
            );
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    if number.is_some() {
        return None; // trailing digits without a unit after a unit: "1h30"
    }
    Some(total)
}

/// Seconds in RouterOS style: `1d`, `1h30m`, `45s`, `0s`.
pub fn format_seconds(mut s: u64) -> String {
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
        ("s", 1),
    ] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

/// The effective settings: journaled values over the device's factory defaults over the built-in
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Values set through the journal (canonical form), by setting name.
    journaled: BTreeMap<String, String>,
    /// The device's factory defaults from its config file (canonical form), by setting name.
    /// Shared: the core makes new `Settings` whenever a record changes a setting, and a fleet
    /// holds thousands of cores with the same defaults.
    factory: Arc<BTreeMap<String, String>>,
    /// The settings the core reads on every step, resolved whenever the maps change (the maps
    /// are private for that): reading them by name, two `BTreeMap` searches each, was about a
    /// tenth of a provisioning flow (benches/cpe_flow.rs).
    hot: Hot,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Hot {
    enabled: bool,
    acs_url: String,
    periodic_inform_enabled: bool,
    periodic_inform_interval: u64,
    periodic_inform_time: Option<DateTime>,
    default_active_notification_throttle: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings::new(BTreeMap::new(), BTreeMap::new())
    }
}

impl Settings {
    pub fn new(
        journaled: BTreeMap<String, String>,
        factory: impl Into<Arc<BTreeMap<String, String>>>,
    ) -> Settings {
        let mut settings = Settings {
            journaled,
            factory: factory.into(),
            hot: Hot {
                enabled: false,
                acs_url: String::new(),
                periodic_inform_enabled: false,
                periodic_inform_interval: 0,
                periodic_inform_time: None,
                default_active_notification_throttle: 0,
            },
        };
        settings.resolve();
        settings
    }

    fn resolve(&mut self) {
        self.hot = Hot {
            enabled: self.bool(const { def("enabled") }),
            acs_url: self.value_of(const { def("acs-url") }).to_owned(),
            periodic_inform_enabled: self.bool(const { def("periodic-inform-enabled") }),
            periodic_inform_interval: self
                .number(const { def("periodic-inform-interval") })
                .max(1),
            periodic_inform_time: DateTime::parse(
                self.value_of(const { def("periodic-inform-time") }),
            )
            .ok()
            .filter(|d| !d.is_unknown()),
            default_active_notification_throttle: self
                .number(const { def("default-active-notification-throttle") }),
        };
    }

    /// Values set through the journal (canonical form), by setting name.
    pub fn journaled(&self) -> &BTreeMap<String, String> {
        &self.journaled
    }

    /// The device's factory defaults from its config file (canonical form), by setting name.
    pub fn factory(&self) -> &BTreeMap<String, String> {
        &self.factory
    }

    /// Sets a journaled value (canonical form), as a `SettingsChanged` record would.
    pub fn set_journaled(&mut self, name: &str, value: &str) {
        self.journaled.insert(name.to_owned(), value.to_owned());
        self.resolve();
    }

    /// The effective value of a setting (canonical form); empty for an unknown name.
    pub fn get(&self, name: &str) -> String {
        self.value(name).to_owned()
    }

    /// `get` without the copy: the scheduler reads settings on every step.
    fn value(&self, name: &str) -> &str {
        self.journaled
            .get(name)
            .or_else(|| self.factory.get(name))
            .map(String::as_str)
            .or_else(|| setting(name).map(|d| d.default))
            .unwrap_or_default()
    }

    /// `value` for a setting found at compile time (see [`def`]): the accessors below run
    /// about 150 times per provisioning flow, and finding the default by scanning the table
    /// by name was most of their cost.
    fn value_of(&self, def: &'static SettingDef) -> &str {
        self.journaled
            .get(def.name)
            .or_else(|| self.factory.get(def.name))
            .map_or(def.default, String::as_str)
    }

    fn bool(&self, def: &'static SettingDef) -> bool {
        self.value_of(def) == "true"
    }

    fn number(&self, def: &'static SettingDef) -> u64 {
        self.value_of(def)
            .parse()
            .ok()
            .or_else(|| def.default.parse().ok())
            .unwrap_or(0)
    }

    pub fn enabled(&self) -> bool {
        self.hot.enabled
    }
    /// Borrowed: the scheduler asks on every step whether an ACS is configured at all.
    pub fn acs_url(&self) -> &str {
        &self.hot.acs_url
    }
    pub fn username(&self) -> String {
        self.value_of(const { def("username") }).to_owned()
    }
    pub fn password(&self) -> String {
        self.value_of(const { def("password") }).to_owned()
    }
    pub fn periodic_inform_enabled(&self) -> bool {
        self.hot.periodic_inform_enabled
    }
    pub fn periodic_inform_interval(&self) -> u64 {
        self.hot.periodic_inform_interval
    }
    /// The phase anchor, `None` when unset or the Unknown Time.
    pub fn periodic_inform_time(&self) -> Option<DateTime> {
        self.hot.periodic_inform_time
    }
    pub fn retry_minimum_wait(&self) -> u32 {
        u32::try_from(self.number(const { def("retry-minimum-wait") })).unwrap_or(5)
    }
    pub fn retry_interval_multiplier(&self) -> u32 {
        u32::try_from(self.number(const { def("retry-interval-multiplier") })).unwrap_or(2000)
    }
    pub fn connection_request_username(&self) -> String {
        self.value_of(const { def("connection-request-username") })
            .to_owned()
    }
    pub fn connection_request_password(&self) -> String {
        self.value_of(const { def("connection-request-password") })
            .to_owned()
    }
    pub fn connection_request_port(&self) -> u16 {
        u16::try_from(self.number(const { def("connection-request-port") })).unwrap_or(7547)
    }
    pub fn tls_insecure(&self) -> bool {
        self.bool(const { def("tls-insecure") })
    }
    pub fn client_certificate(&self) -> Option<String> {
        Some(
            self.value_of(const { def("client-certificate") })
                .to_owned(),
        )
        .filter(|s| !s.is_empty())
    }
    pub fn ca_file(&self) -> Option<String> {
        Some(self.value_of(const { def("ca-file") }).to_owned()).filter(|s| !s.is_empty())
    }
    pub fn default_active_notification_throttle(&self) -> u64 {
        self.hot.default_active_notification_throttle
    }
    fn signed(&self, def: &'static SettingDef) -> i64 {
        self.value_of(def)
            .parse()
            .ok()
            .or_else(|| def.default.parse().ok())
            .unwrap_or(-1)
    }
    pub fn stun_enabled(&self) -> bool {
        self.bool(const { def("stun-enabled") })
    }
    pub fn stun_server_address(&self) -> String {
        self.value_of(const { def("stun-server-address") })
            .to_owned()
    }
    pub fn stun_server_port(&self) -> u16 {
        u16::try_from(self.number(const { def("stun-server-port") })).unwrap_or(3478)
    }
    pub fn stun_username(&self) -> String {
        self.value_of(const { def("stun-username") }).to_owned()
    }
    pub fn stun_password(&self) -> String {
        self.value_of(const { def("stun-password") }).to_owned()
    }
    /// STUNMaximumKeepAlivePeriod: -1 when none is set.
    pub fn stun_maximum_keep_alive_period(&self) -> i64 {
        self.signed(const { def("stun-maximum-keep-alive-period") })
    }
    pub fn stun_minimum_keep_alive_period(&self) -> u64 {
        self.number(const { def("stun-minimum-keep-alive-period") })
    }
    pub fn udp_connection_request_port(&self) -> u16 {
        u16::try_from(self.number(const { def("udp-connection-request-port") })).unwrap_or(7547)
    }
    pub fn xmpp_enabled(&self) -> bool {
        self.bool(const { def("xmpp-enabled") })
    }
    /// Whether connection requests arrive over the XMPP connection (ConnReqXMPPConnection names
    /// it and it is enabled).
    pub fn xmpp_connection_requests(&self) -> bool {
        self.xmpp_enabled()
            && self.value_of(const { def("connection-request-xmpp-connection") }) == XMPP_CONNECTION
    }
    /// KeepAliveInterval: -1 when the agent picks.
    pub fn xmpp_keep_alive_interval(&self) -> i64 {
        self.signed(const { def("xmpp-keep-alive-interval") })
    }
    /// ConnReqAllowedJabberIDs as a list (empty: every JID is allowed).
    pub fn xmpp_allowed_jabber_ids(&self) -> Vec<String> {
        self.value_of(const { def("connection-request-allowed-jabber-ids") })
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A setting's value as the operator sees it: secrets masked, durations in RouterOS style,
/// booleans as yes/no.
pub fn display_value(def: &SettingDef, canonical_value: &str) -> String {
    match def.kind {
        SettingKind::Secret(_) if canonical_value.is_empty() => String::new(),
        SettingKind::Secret(_) => "***".into(),
        SettingKind::Bool => if canonical_value == "true" {
            "yes"
        } else {
            "no"
        }
        .into(),
        SettingKind::Seconds { .. } => canonical_value
            .parse()
            .map(format_seconds)
            .unwrap_or_else(|_| canonical_value.to_owned()),
        _ => canonical_value.to_owned(),
    }
}

impl fmt::Display for SettingDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, secs) in [
            ("30s", 30),
            ("15m", 900),
            ("1h", 3600),
            ("1d", 86_400),
            ("1h30m", 5400),
            ("90", 90),
            ("1w", 604_800),
        ] {
            assert_eq!(parse_duration(text), Some(secs), "{text}");
        }
        for bad in ["", "h", "1x", "1h30", "-5", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_seconds(5400), "1h30m");
        assert_eq!(format_seconds(86_400), "1d");
    }

    #[test]
    fn validation_names_the_setting_and_the_form() {
        assert_eq!(
            validate("periodic-inform-interval", "1h"),
            Ok("3600".into())
        );
        assert_eq!(validate("enabled", "yes"), Ok("true".into()));
        assert_eq!(
            validate("acs-url", "https://acs.example.com:7547/cwmp"),
            Ok("https://acs.example.com:7547/cwmp".into())
        );
        let err = validate("periodic-inform-interval", "soon")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("periodic-inform-interval") && err.contains("30s, 15m, 1h, 1d"),
            "{err}"
        );
        let err = validate("acs-url", "ftp://x").unwrap_err().to_string();
        assert!(err.contains("acs-url") && err.contains("http://"), "{err}");
        let err = validate("colour", "red").unwrap_err().to_string();
        assert!(
            err.contains("unknown setting") && err.contains("acs-url"),
            "{err}"
        );
        let err = validate("password", &"x".repeat(300))
            .unwrap_err()
            .to_string();
        assert!(!err.contains("xxx"), "secrets never echoed: {err}");
        assert!(validate("retry-interval-multiplier", "999").is_err());
    }

    #[test]
    fn every_parameter_maps_back() {
        for def in SETTINGS {
            if let Some(p) = def.parameter {
                assert_eq!(setting_for_parameter(p), Some(def));
            }
            assert_eq!(
                canonical(def, def.default).as_deref(),
                Some(def.default),
                "{} default",
                def.name
            );
        }
    }

    #[test]
    fn layering() {
        let s = Settings::default();
        assert_eq!(s.periodic_inform_interval(), 86_400);
        let factory = BTreeMap::from([("periodic-inform-interval".into(), "600".into())]);
        let mut s = Settings::new(BTreeMap::new(), factory);
        assert_eq!(s.periodic_inform_interval(), 600);
        s.set_journaled("periodic-inform-interval", "60");
        assert_eq!(s.periodic_inform_interval(), 60);
        assert_eq!(s.get("periodic-inform-interval"), "60");
    }
}
