//! The one table of every object and parameter the agent supports.
//!
//! A developer adds a parameter here and nowhere else: its name (with `{i}` for instance numbers,
//! as in the BBF XML), its syntax, whether the ACS may write it, its active-notification rule, and
//! the provider its value comes from. `tests/registry_bbf.rs` checks every entry against the
//! Broadband Forum's `tr-181-2-11-0-full.xml` (name, type, access, activeNotify, forcedInform);
//! the product never reads that file. Vendor extensions go under an `X_<OUI>_` name, which the
//! test skips.

use crate::cwmp::XsdType;

/// A parameter's syntax: the xsd base type plus the facets SetParameterValues validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `max_len` 0 means unbounded; a non-empty `enumeration` lists every accepted value.
    String {
        max_len: u32,
        enumeration: &'static [&'static str],
    },
    Boolean,
    UnsignedInt {
        min: u32,
        max: u32,
    },
    Int {
        min: i32,
        max: i32,
    },
    Long {
        min: i64,
        max: i64,
    },
    UnsignedLong,
    DateTime,
}

impl Syntax {
    pub const fn string(max_len: u32) -> Syntax {
        Syntax::String {
            max_len,
            enumeration: &[],
        }
    }
    pub const fn enumeration(values: &'static [&'static str]) -> Syntax {
        Syntax::String {
            max_len: 0,
            enumeration: values,
        }
    }
    pub const UINT: Syntax = Syntax::UnsignedInt {
        min: 0,
        max: u32::MAX,
    };
    pub const fn uint(min: u32, max: u32) -> Syntax {
        Syntax::UnsignedInt { min, max }
    }

    pub fn xsd_type(&self) -> XsdType {
        match self {
            Syntax::String { .. } => XsdType::String,
            Syntax::Boolean => XsdType::Boolean,
            Syntax::UnsignedInt { .. } => XsdType::UnsignedInt,
            Syntax::Int { .. } => XsdType::Int,
            Syntax::Long { .. } => XsdType::Long,
            Syntax::UnsignedLong => XsdType::UnsignedLong,
            Syntax::DateTime => XsdType::DateTime,
        }
    }
}

/// TR-069's active-notification rule for a parameter (the XML's `activeNotify`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveNotify {
    /// The ACS may set any notification.
    Normal,
    /// The CPE may refuse active notification (9009); this agent does.
    CanDeny,
    /// Always notified actively, whatever the ACS sets.
    ForceEnabled,
    /// Actively notified by default; the ACS may change it.
    ForceDefaultEnabled,
}

/// Fields of the device's identity (the daemon's config file, and the running firmware).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityField {
    Manufacturer,
    Oui,
    ModelName,
    Description,
    ProductClass,
    SerialNumber,
    HardwareVersion,
    SoftwareVersion,
}

/// Values read live from the host each time they are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostField {
    UpTime,
    MemoryTotal,
    MemoryFree,
    CpuUsage,
    CurrentLocalTime,
    TimeStatus,
}

/// Per-interface values, read live from /sys/class/net and the interface addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceField {
    Enable,
    Status,
    Name,
    MacAddress,
    Upstream,
    MaxBitRate,
    CurrentBitRate,
    DuplexMode,
    IpType,
    IsLoopback,
    Mtu,
    Ipv4Enable,
    Ipv6Enable,
    Ipv4AddressCount,
    Ipv6AddressCount,
    BytesSent,
    BytesReceived,
    PacketsSent,
    PacketsReceived,
    ErrorsSent,
    ErrorsReceived,
    DiscardPacketsSent,
    DiscardPacketsReceived,
    MulticastPacketsReceived,
}

/// Per-address values of `IP.Interface.{i}.IPv4Address.{i}` / `IPv6Address.{i}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressField {
    Enable,
    Status,
    IpAddress,
    SubnetMask,
    AddressingType,
    Origin,
}

/// Where the agent's own state provides a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateField {
    ParameterKey,
    ConnectionRequestUrl,
    FirstUseDate,
    /// The XMPP connection as the running agent sees it (`datamodel::XmppLive`).
    XmppJabberId,
    XmppStatus,
    XmppLastChangeDate,
    XmppTlsEstablished,
}

/// Where a parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A fixed value of this implementation.
    Constant(&'static str),
    Identity(IdentityField),
    Host(HostField),
    Interface(InterfaceField),
    Address(AddressField),
    /// One of the operator's settings (`state::settings`), the same journaled value.
    Setting,
    State(StateField),
    /// Stored in the journal; `default` until written. Writable ones are the ACS's to set.
    Store {
        default: &'static str,
    },
    /// The number of instances of the table named (relative to the parameter's object).
    Count(&'static str),
    /// A value of the host's tables (neighbours, routes, DNS servers, sensors, processes).
    Table(TableField),
    /// A counter of the UDP echo responder (in memory, not journaled).
    UdpEcho(UdpEchoField),
}

/// Per-row values of the host's tables (`datamodel::host_tables`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableField {
    HostPhysAddress,
    HostIpAddress,
    HostLayer1Interface,
    HostLayer3Interface,
    HostName,
    HostActive,
    HostActiveLastChange,
    HostIpv4Count,
    HostIpv6Count,
    HostIpv4Address,
    RouterEnable,
    RouterStatus,
    V4Enable,
    V4Status,
    V4StaticRoute,
    V4DestIp,
    V4DestMask,
    V4ForwardingPolicy,
    V4Gateway,
    V4Interface,
    V4Origin,
    V4Metric,
    V6Enable,
    V6Status,
    V6DestPrefix,
    V6ForwardingPolicy,
    V6NextHop,
    V6Interface,
    V6Origin,
    V6Metric,
    V6ExpirationTime,
    DnsClientEnable,
    DnsClientStatus,
    DnsServerEnable,
    DnsServerStatus,
    DnsServerAddress,
    DnsServerInterface,
    DnsServerType,
    SensorEnable,
    SensorStatus,
    SensorName,
    SensorValue,
    SensorLastUpdate,
    ProcessPid,
    ProcessCommand,
    ProcessSize,
    ProcessPriority,
    ProcessCpuTime,
    ProcessState,
    ProcessorArchitecture,
    LogName,
    LogMaximumSize,
    LogPersistent,
    PrefixEnable,
    PrefixStatus,
    PrefixPrefixStatus,
    PrefixPrefix,
    PrefixOrigin,
    PrefixStaticType,
    PrefixOnLink,
    PrefixAutonomous,
    PrefixPreferredLifetime,
    PrefixValidLifetime,
    LinkLowerLayers,
    Ipv4Capable,
    Ipv4Enable,
    Ipv4Status,
    Ipv6Capable,
    Ipv6Enable,
    Ipv6Status,
    PortLocalAddress,
    PortLocalPort,
    PortRemoteAddress,
    PortRemotePort,
    PortStatus,
    IfLowerLayers,
    IfRouter,
    Addr6Status,
    Addr6Prefix,
    Addr6PreferredLifetime,
    Addr6ValidLifetime,
    Addr6Anycast,
}

/// The UDPEchoConfig counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpEchoField {
    PacketsReceived,
    PacketsResponded,
    BytesReceived,
    BytesResponded,
    TimeFirstPacketReceived,
    TimeLastPacketReceived,
}

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamDef {
    /// Full name with `{i}` placeholders, e.g. `Device.IP.Interface.{i}.Enable`.
    pub path: &'static str,
    pub syntax: Syntax,
    pub writable: bool,
    pub active_notify: ActiveNotify,
    /// Listed in every Inform's ParameterList.
    pub forced_inform: bool,
    pub source: Source,
    /// A change takes effect only after a reboot (SetParameterValuesResponse Status 1).
    pub needs_reboot: bool,
}

/// Where a table's instances come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instances {
    /// Not a table: exactly one instance, no number.
    Single,
    /// Instances created by AddObject (or by the agent) and kept in the journal.
    Store,
    /// One instance per host network interface of Ethernet type; the instance number is the
    /// interface index.
    EthernetInterfaces,
    /// One instance per host network interface; the instance number is the interface index.
    IpInterfaces,
    /// The interface's IPv4 addresses, numbered from 1 in the kernel's order.
    Ipv4Addresses,
    Ipv6Addresses,
    /// Exactly one instance, number 1 (Routing.Router.1, the agent's one log file, the one XMPP
    /// connection, whose values are settings).
    One,
    /// A diagnostic's result rows: 1..=N, N being the stored value of this parameter (the
    /// table's NumberOfEntries, written with the results).
    Results(&'static str),
    /// The neighbour table's entries, numbered from 1.
    Neighbours,
    /// A neighbour's IPv4 address (one per Hosts.Host entry).
    NeighbourAddress,
    Ipv4Routes,
    Ipv6Routes,
    DnsServers,
    /// Thermal zones; instance = zone number + 1.
    ThermalZones,
    /// Processes; instance = PID.
    Processes,
    Processors,
    /// The interface's distinct IPv6 prefixes, numbered from 1.
    Ipv6Prefixes,
    /// Listening and established TCP ports, numbered from 1.
    ActivePorts,
}

/// One object (`{i}` tables included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectDef {
    /// Full name ending in `.`, e.g. `Device.NAT.PortMapping.{i}.`.
    pub path: &'static str,
    /// AddObject/DeleteObject allowed (tables only).
    pub writable: bool,
    pub instances: Instances,
}

pub(super) const fn p(path: &'static str, syntax: Syntax, source: Source) -> ParamDef {
    ParamDef {
        path,
        syntax,
        writable: false,
        active_notify: ActiveNotify::Normal,
        forced_inform: false,
        source,
        needs_reboot: false,
    }
}

pub(super) const fn w(path: &'static str, syntax: Syntax, source: Source) -> ParamDef {
    ParamDef {
        writable: true,
        ..p(path, syntax, source)
    }
}

pub(super) const fn deny(def: ParamDef) -> ParamDef {
    ParamDef {
        active_notify: ActiveNotify::CanDeny,
        ..def
    }
}

pub(super) const fn forced(def: ParamDef, active_notify: ActiveNotify) -> ParamDef {
    ParamDef {
        forced_inform: true,
        active_notify,
        ..def
    }
}

pub(super) const fn o(path: &'static str, writable: bool, instances: Instances) -> ObjectDef {
    ObjectDef {
        path,
        writable,
        instances,
    }
}

pub(super) const fn store(default: &'static str) -> Source {
    Source::Store { default }
}

/// TR-181's `Alias` data type: a string of at most 64 characters.
pub(super) const ALIAS: Syntax = Syntax::string(64);
pub(super) const IPV4_ADDRESS: Syntax = Syntax::string(15);
pub(super) const IPV6_ADDRESS: Syntax = Syntax::string(45);
pub(super) const MAC_ADDRESS: Syntax = Syntax::string(17);
pub(super) const STATUS: Syntax = Syntax::enumeration(&[
    "Up",
    "Down",
    "Unknown",
    "Dormant",
    "NotPresent",
    "LowerLayerDown",
    "Error",
]);
pub(super) const ENABLED_STATUS: Syntax =
    Syntax::enumeration(&["Disabled", "Enabled", "Error_Misconfigured", "Error"]);
/// `Device.XMPP.Connection.{i}.Status`.
pub const XMPP_STATUSES: &[&str] = &[
    "Enabled",
    "Disabled",
    "Unknown",
    "Dormant",
    "Connecting",
    "ServerNotPresent",
    "Error_Misconfigured",
    "Error_AuthenticationFailure",
    "Error",
];
/// TR-106's DiagnosticsState plus the IPPing errors of TR-181 2.11.
pub const PING_DIAGNOSTICS_STATES: &[&str] = &[
    "None",
    "Requested",
    "Canceled",
    "Complete",
    "Error",
    "Error_CannotResolveHostName",
    "Error_Internal",
    "Error_Other",
];

/// Every object, parents before children.
pub const OBJECTS: &[ObjectDef] = &[
    o("Device.", false, Instances::Single),
    o("Device.DeviceInfo.", false, Instances::Single),
    o("Device.DeviceInfo.MemoryStatus.", false, Instances::Single),
    o("Device.DeviceInfo.ProcessStatus.", false, Instances::Single),
    o(
        "Device.DeviceInfo.VendorConfigFile.{i}.",
        false,
        Instances::Store,
    ),
    o("Device.ManagementServer.", false, Instances::Single),
    o("Device.Time.", false, Instances::Single),
    o("Device.Ethernet.", false, Instances::Single),
    o(
        "Device.Ethernet.Interface.{i}.",
        false,
        Instances::EthernetInterfaces,
    ),
    o(
        "Device.Ethernet.Interface.{i}.Stats.",
        false,
        Instances::Single,
    ),
    o("Device.IP.", false, Instances::Single),
    // TR-181 lets an ACS create IP interfaces and addresses; on this agent the host owns them
    // (AddObject is refused with 9001 unless an external provider maps the subtree).
    o("Device.IP.Interface.{i}.", true, Instances::IpInterfaces),
    o(
        "Device.IP.Interface.{i}.IPv4Address.{i}.",
        true,
        Instances::Ipv4Addresses,
    ),
    o(
        "Device.IP.Interface.{i}.IPv6Address.{i}.",
        true,
        Instances::Ipv6Addresses,
    ),
    o("Device.IP.Interface.{i}.Stats.", false, Instances::Single),
    o("Device.IP.Diagnostics.", false, Instances::Single),
    o("Device.IP.Diagnostics.IPPing.", false, Instances::Single),
    o("Device.NAT.", false, Instances::Single),
    o("Device.NAT.PortMapping.{i}.", true, Instances::Store),
    o("Device.XMPP.", false, Instances::Single),
    // TR-181 lets an ACS create XMPP connections and servers; this agent keeps one of each
    // (AddObject is refused): their values are the xmpp-* settings.
    o("Device.XMPP.Connection.{i}.", true, Instances::One),
    o(
        "Device.XMPP.Connection.{i}.Server.{i}.",
        true,
        Instances::One,
    ),
];

use ActiveNotify::{ForceDefaultEnabled, ForceEnabled};
use AddressField as A;
use HostField as H;
use IdentityField as I;
use InterfaceField as F;

/// Every parameter, grouped by object in [`OBJECTS`] order.
pub const PARAMETERS: &[ParamDef] = &[
    forced(
        p(
            "Device.RootDataModelVersion",
            Syntax::string(32),
            Source::Constant(super::ROOT_DATA_MODEL_VERSION),
        ),
        ActiveNotify::Normal,
    ),
    // DeviceInfo
    p(
        "Device.DeviceInfo.Manufacturer",
        Syntax::string(64),
        Source::Identity(I::Manufacturer),
    ),
    p(
        "Device.DeviceInfo.ManufacturerOUI",
        Syntax::string(6),
        Source::Identity(I::Oui),
    ),
    deny(p(
        "Device.DeviceInfo.ModelName",
        Syntax::string(64),
        Source::Identity(I::ModelName),
    )),
    deny(p(
        "Device.DeviceInfo.Description",
        Syntax::string(256),
        Source::Identity(I::Description),
    )),
    p(
        "Device.DeviceInfo.ProductClass",
        Syntax::string(64),
        Source::Identity(I::ProductClass),
    ),
    p(
        "Device.DeviceInfo.SerialNumber",
        Syntax::string(64),
        Source::Identity(I::SerialNumber),
    ),
    forced(
        p(
            "Device.DeviceInfo.HardwareVersion",
            Syntax::string(64),
            Source::Identity(I::HardwareVersion),
        ),
        ActiveNotify::Normal,
    ),
    forced(
        p(
            "Device.DeviceInfo.SoftwareVersion",
            Syntax::string(64),
            Source::Identity(I::SoftwareVersion),
        ),
        ForceEnabled,
    ),
    forced(
        w(
            "Device.DeviceInfo.ProvisioningCode",
            Syntax::string(64),
            store(""),
        ),
        ForceEnabled,
    ),
    deny(p(
        "Device.DeviceInfo.UpTime",
        Syntax::UINT,
        Source::Host(H::UpTime),
    )),
    deny(p(
        "Device.DeviceInfo.FirstUseDate",
        Syntax::DateTime,
        Source::State(StateField::FirstUseDate),
    )),
    p(
        "Device.DeviceInfo.VendorConfigFileNumberOfEntries",
        Syntax::UINT,
        Source::Count("VendorConfigFile."),
    ),
    p(
        "Device.DeviceInfo.MemoryStatus.Total",
        Syntax::UINT,
        Source::Host(H::MemoryTotal),
    ),
    deny(p(
        "Device.DeviceInfo.MemoryStatus.Free",
        Syntax::UINT,
        Source::Host(H::MemoryFree),
    )),
    deny(p(
        "Device.DeviceInfo.ProcessStatus.CPUUsage",
        Syntax::uint(0, 100),
        Source::Host(H::CpuUsage),
    )),
    deny(w(
        "Device.DeviceInfo.VendorConfigFile.{i}.Alias",
        ALIAS,
        store(""),
    )),
    p(
        "Device.DeviceInfo.VendorConfigFile.{i}.Name",
        Syntax::string(64),
        store(""),
    ),
    p(
        "Device.DeviceInfo.VendorConfigFile.{i}.Version",
        Syntax::string(16),
        store(""),
    ),
    p(
        "Device.DeviceInfo.VendorConfigFile.{i}.Date",
        Syntax::DateTime,
        store("0001-01-01T00:00:00Z"),
    ),
    p(
        "Device.DeviceInfo.VendorConfigFile.{i}.Description",
        Syntax::string(256),
        store(""),
    ),
    p(
        "Device.DeviceInfo.VendorConfigFile.{i}.UseForBackupRestore",
        Syntax::Boolean,
        store("false"),
    ),
    // ManagementServer: the operator's settings where one exists (state::settings::SETTINGS).
    w(
        "Device.ManagementServer.EnableCWMP",
        Syntax::Boolean,
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.URL",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.Username",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.Password",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.PeriodicInformEnable",
        Syntax::Boolean,
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.PeriodicInformInterval",
        Syntax::uint(1, u32::MAX),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.PeriodicInformTime",
        Syntax::DateTime,
        Source::Setting,
    ),
    forced(
        deny(p(
            "Device.ManagementServer.ParameterKey",
            Syntax::string(32),
            Source::State(StateField::ParameterKey),
        )),
        ActiveNotify::CanDeny,
    ),
    forced(
        p(
            "Device.ManagementServer.ConnectionRequestURL",
            Syntax::string(256),
            Source::State(StateField::ConnectionRequestUrl),
        ),
        ForceDefaultEnabled,
    ),
    w(
        "Device.ManagementServer.ConnectionRequestUsername",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.ConnectionRequestPassword",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.UpgradesManaged",
        Syntax::Boolean,
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.DefaultActiveNotificationThrottle",
        Syntax::UINT,
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.CWMPRetryMinimumWaitInterval",
        Syntax::uint(1, 65_535),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.CWMPRetryIntervalMultiplier",
        Syntax::uint(1000, 65_535),
        Source::Setting,
    ),
    forced(
        p(
            "Device.ManagementServer.AliasBasedAddressing",
            Syntax::Boolean,
            Source::Constant("false"),
        ),
        ActiveNotify::Normal,
    ),
    p(
        "Device.ManagementServer.SupportedConnReqMethods",
        Syntax::enumeration(&["HTTP", "STUN", "XMPP"]),
        Source::Constant(if cfg!(feature = "xmpp") {
            "HTTP,STUN,XMPP"
        } else {
            "HTTP,STUN"
        }),
    ),
    // UDP connection requests through a NAT (TR-069 Annex G): the STUN settings, and what the
    // agent learned from the STUN server (journaled by the core when it changes).
    p(
        "Device.ManagementServer.UDPConnectionRequestAddress",
        Syntax::string(256),
        store(""),
    ),
    w(
        "Device.ManagementServer.STUNEnable",
        Syntax::Boolean,
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.STUNServerAddress",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.STUNServerPort",
        Syntax::uint(0, 65_535),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.STUNUsername",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.STUNPassword",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.STUNMaximumKeepAlivePeriod",
        Syntax::Int {
            min: -1,
            max: i32::MAX,
        },
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.STUNMinimumKeepAlivePeriod",
        Syntax::UINT,
        Source::Setting,
    ),
    p(
        "Device.ManagementServer.NATDetected",
        Syntax::Boolean,
        store("false"),
    ),
    // XMPP connection requests (TR-069 Annex K).
    w(
        "Device.ManagementServer.ConnReqXMPPConnection",
        Syntax::enumeration(&["", "Device.XMPP.Connection.1"]),
        Source::Setting,
    ),
    w(
        "Device.ManagementServer.ConnReqAllowedJabberIDs",
        Syntax::string(256),
        Source::Setting,
    ),
    ParamDef {
        active_notify: ForceDefaultEnabled,
        ..p(
            "Device.ManagementServer.ConnReqJabberID",
            Syntax::string(0),
            store(""),
        )
    },
    // Time: the clock is the host's; the NTP configuration is stored for an integrator's
    // external provider (or a config-apply hook) to act on.
    w("Device.Time.Enable", Syntax::Boolean, store("true")),
    p(
        "Device.Time.Status",
        Syntax::enumeration(&[
            "Disabled",
            "Unsynchronized",
            "Synchronized",
            "Error_FailedToSynchronize",
            "Error",
        ]),
        Source::Host(H::TimeStatus),
    ),
    w("Device.Time.NTPServer1", Syntax::string(64), store("")),
    w("Device.Time.NTPServer2", Syntax::string(64), store("")),
    w("Device.Time.NTPServer3", Syntax::string(64), store("")),
    w("Device.Time.NTPServer4", Syntax::string(64), store("")),
    w("Device.Time.NTPServer5", Syntax::string(64), store("")),
    deny(p(
        "Device.Time.CurrentLocalTime",
        Syntax::DateTime,
        Source::Host(H::CurrentLocalTime),
    )),
    w("Device.Time.LocalTimeZone", Syntax::string(256), store("")),
    // Ethernet
    p(
        "Device.Ethernet.InterfaceNumberOfEntries",
        Syntax::UINT,
        Source::Count("Interface."),
    ),
    w(
        "Device.Ethernet.Interface.{i}.Enable",
        Syntax::Boolean,
        Source::Interface(F::Enable),
    ),
    p(
        "Device.Ethernet.Interface.{i}.Status",
        STATUS,
        Source::Interface(F::Status),
    ),
    deny(w("Device.Ethernet.Interface.{i}.Alias", ALIAS, store(""))),
    p(
        "Device.Ethernet.Interface.{i}.Name",
        Syntax::string(64),
        Source::Interface(F::Name),
    ),
    p(
        "Device.Ethernet.Interface.{i}.Upstream",
        Syntax::Boolean,
        Source::Interface(F::Upstream),
    ),
    p(
        "Device.Ethernet.Interface.{i}.MACAddress",
        MAC_ADDRESS,
        Source::Interface(F::MacAddress),
    ),
    w(
        "Device.Ethernet.Interface.{i}.MaxBitRate",
        Syntax::Int {
            min: -1,
            max: i32::MAX,
        },
        Source::Interface(F::MaxBitRate),
    ),
    deny(p(
        "Device.Ethernet.Interface.{i}.CurrentBitRate",
        Syntax::UINT,
        Source::Interface(F::CurrentBitRate),
    )),
    w(
        "Device.Ethernet.Interface.{i}.DuplexMode",
        Syntax::enumeration(&["Half", "Full", "Auto"]),
        Source::Interface(F::DuplexMode),
    ),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.BytesSent",
        Syntax::UnsignedLong,
        Source::Interface(F::BytesSent),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.BytesReceived",
        Syntax::UnsignedLong,
        Source::Interface(F::BytesReceived),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.PacketsSent",
        Syntax::UnsignedLong,
        Source::Interface(F::PacketsSent),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.PacketsReceived",
        Syntax::UnsignedLong,
        Source::Interface(F::PacketsReceived),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.ErrorsSent",
        Syntax::UINT,
        Source::Interface(F::ErrorsSent),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.ErrorsReceived",
        Syntax::UINT,
        Source::Interface(F::ErrorsReceived),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.DiscardPacketsSent",
        Syntax::UINT,
        Source::Interface(F::DiscardPacketsSent),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.DiscardPacketsReceived",
        Syntax::UINT,
        Source::Interface(F::DiscardPacketsReceived),
    )),
    deny(p(
        "Device.Ethernet.Interface.{i}.Stats.MulticastPacketsReceived",
        Syntax::UnsignedLong,
        Source::Interface(F::MulticastPacketsReceived),
    )),
    // IP
    p(
        "Device.IP.InterfaceNumberOfEntries",
        Syntax::UINT,
        Source::Count("Interface."),
    ),
    w(
        "Device.IP.Interface.{i}.Enable",
        Syntax::Boolean,
        Source::Interface(F::Enable),
    ),
    p(
        "Device.IP.Interface.{i}.Status",
        STATUS,
        Source::Interface(F::Status),
    ),
    deny(w("Device.IP.Interface.{i}.Alias", ALIAS, store(""))),
    p(
        "Device.IP.Interface.{i}.Name",
        Syntax::string(64),
        Source::Interface(F::Name),
    ),
    p(
        "Device.IP.Interface.{i}.Type",
        Syntax::enumeration(&["Normal", "Loopback", "Tunnel", "Tunneled"]),
        Source::Interface(F::IpType),
    ),
    w(
        "Device.IP.Interface.{i}.Loopback",
        Syntax::Boolean,
        Source::Interface(F::IsLoopback),
    ),
    w(
        "Device.IP.Interface.{i}.MaxMTUSize",
        Syntax::uint(64, 65_535),
        Source::Interface(F::Mtu),
    ),
    w(
        "Device.IP.Interface.{i}.IPv4Enable",
        Syntax::Boolean,
        Source::Interface(F::Ipv4Enable),
    ),
    w(
        "Device.IP.Interface.{i}.IPv6Enable",
        Syntax::Boolean,
        Source::Interface(F::Ipv6Enable),
    ),
    p(
        "Device.IP.Interface.{i}.IPv4AddressNumberOfEntries",
        Syntax::UINT,
        Source::Interface(F::Ipv4AddressCount),
    ),
    p(
        "Device.IP.Interface.{i}.IPv6AddressNumberOfEntries",
        Syntax::UINT,
        Source::Interface(F::Ipv6AddressCount),
    ),
    w(
        "Device.IP.Interface.{i}.IPv4Address.{i}.Enable",
        Syntax::Boolean,
        Source::Address(A::Enable),
    ),
    p(
        "Device.IP.Interface.{i}.IPv4Address.{i}.Status",
        ENABLED_STATUS,
        Source::Address(A::Status),
    ),
    deny(w(
        "Device.IP.Interface.{i}.IPv4Address.{i}.Alias",
        ALIAS,
        store(""),
    )),
    w(
        "Device.IP.Interface.{i}.IPv4Address.{i}.IPAddress",
        IPV4_ADDRESS,
        Source::Address(A::IpAddress),
    ),
    w(
        "Device.IP.Interface.{i}.IPv4Address.{i}.SubnetMask",
        IPV4_ADDRESS,
        Source::Address(A::SubnetMask),
    ),
    p(
        "Device.IP.Interface.{i}.IPv4Address.{i}.AddressingType",
        Syntax::enumeration(&["DHCP", "IKEv2", "AutoIP", "IPCP", "Static"]),
        Source::Address(A::AddressingType),
    ),
    w(
        "Device.IP.Interface.{i}.IPv6Address.{i}.Enable",
        Syntax::Boolean,
        Source::Address(A::Enable),
    ),
    p(
        "Device.IP.Interface.{i}.IPv6Address.{i}.Status",
        ENABLED_STATUS,
        Source::Address(A::Status),
    ),
    deny(w(
        "Device.IP.Interface.{i}.IPv6Address.{i}.Alias",
        ALIAS,
        store(""),
    )),
    w(
        "Device.IP.Interface.{i}.IPv6Address.{i}.IPAddress",
        IPV6_ADDRESS,
        Source::Address(A::IpAddress),
    ),
    p(
        "Device.IP.Interface.{i}.IPv6Address.{i}.Origin",
        Syntax::enumeration(&[
            "AutoConfigured",
            "DHCPv6",
            "IKEv2",
            "MAP",
            "WellKnown",
            "Static",
        ]),
        Source::Address(A::Origin),
    ),
    deny(p(
        "Device.IP.Interface.{i}.Stats.BytesSent",
        Syntax::UnsignedLong,
        Source::Interface(F::BytesSent),
    )),
    deny(p(
        "Device.IP.Interface.{i}.Stats.BytesReceived",
        Syntax::UnsignedLong,
        Source::Interface(F::BytesReceived),
    )),
    deny(p(
        "Device.IP.Interface.{i}.Stats.PacketsSent",
        Syntax::UnsignedLong,
        Source::Interface(F::PacketsSent),
    )),
    deny(p(
        "Device.IP.Interface.{i}.Stats.PacketsReceived",
        Syntax::UnsignedLong,
        Source::Interface(F::PacketsReceived),
    )),
    deny(p(
        "Device.IP.Interface.{i}.Stats.ErrorsSent",
        Syntax::UINT,
        Source::Interface(F::ErrorsSent),
    )),
    deny(p(
        "Device.IP.Interface.{i}.Stats.ErrorsReceived",
        Syntax::UINT,
        Source::Interface(F::ErrorsReceived),
    )),
    // IP.Diagnostics.IPPing: inputs stored; results written by the agent after a real ping.
    deny(w(
        "Device.IP.Diagnostics.IPPing.DiagnosticsState",
        Syntax::enumeration(PING_DIAGNOSTICS_STATES),
        store("None"),
    )),
    w(
        "Device.IP.Diagnostics.IPPing.Interface",
        Syntax::string(256),
        store(""),
    ),
    w(
        "Device.IP.Diagnostics.IPPing.Host",
        Syntax::string(256),
        store(""),
    ),
    w(
        "Device.IP.Diagnostics.IPPing.NumberOfRepetitions",
        Syntax::uint(1, u32::MAX),
        store("4"),
    ),
    w(
        "Device.IP.Diagnostics.IPPing.Timeout",
        Syntax::uint(1, u32::MAX),
        store("1000"),
    ),
    w(
        "Device.IP.Diagnostics.IPPing.DataBlockSize",
        Syntax::uint(1, 65_535),
        store("56"),
    ),
    w(
        "Device.IP.Diagnostics.IPPing.DSCP",
        Syntax::uint(0, 63),
        store("0"),
    ),
    deny(p(
        "Device.IP.Diagnostics.IPPing.SuccessCount",
        Syntax::UINT,
        store("0"),
    )),
    deny(p(
        "Device.IP.Diagnostics.IPPing.FailureCount",
        Syntax::UINT,
        store("0"),
    )),
    deny(p(
        "Device.IP.Diagnostics.IPPing.AverageResponseTime",
        Syntax::UINT,
        store("0"),
    )),
    deny(p(
        "Device.IP.Diagnostics.IPPing.MinimumResponseTime",
        Syntax::UINT,
        store("0"),
    )),
    deny(p(
        "Device.IP.Diagnostics.IPPing.MaximumResponseTime",
        Syntax::UINT,
        store("0"),
    )),
    // NAT: a table the ACS manages with AddObject/DeleteObject, kept in the journal (an
    // integrator maps it onto the firewall with an external provider).
    p(
        "Device.NAT.PortMappingNumberOfEntries",
        Syntax::UINT,
        Source::Count("PortMapping."),
    ),
    w(
        "Device.NAT.PortMapping.{i}.Enable",
        Syntax::Boolean,
        store("false"),
    ),
    p(
        "Device.NAT.PortMapping.{i}.Status",
        ENABLED_STATUS,
        store("Disabled"),
    ),
    deny(w("Device.NAT.PortMapping.{i}.Alias", ALIAS, store(""))),
    w(
        "Device.NAT.PortMapping.{i}.Interface",
        Syntax::string(256),
        store(""),
    ),
    w(
        "Device.NAT.PortMapping.{i}.AllInterfaces",
        Syntax::Boolean,
        store("false"),
    ),
    deny(w(
        "Device.NAT.PortMapping.{i}.LeaseDuration",
        Syntax::UINT,
        store("0"),
    )),
    w(
        "Device.NAT.PortMapping.{i}.RemoteHost",
        Syntax::string(0),
        store(""),
    ),
    w(
        "Device.NAT.PortMapping.{i}.ExternalPort",
        Syntax::uint(0, 65_535),
        store("0"),
    ),
    w(
        "Device.NAT.PortMapping.{i}.ExternalPortEndRange",
        Syntax::uint(0, 65_535),
        store("0"),
    ),
    w(
        "Device.NAT.PortMapping.{i}.InternalPort",
        Syntax::uint(0, 65_535),
        store("0"),
    ),
    w(
        "Device.NAT.PortMapping.{i}.Protocol",
        Syntax::enumeration(&["TCP", "UDP"]),
        store("TCP"),
    ),
    w(
        "Device.NAT.PortMapping.{i}.InternalClient",
        Syntax::string(256),
        store(""),
    ),
    w(
        "Device.NAT.PortMapping.{i}.Description",
        Syntax::string(256),
        store(""),
    ),
    // XMPP: one connection (instance 1) to one server, both from the xmpp-* settings; its state
    // is the running agent's (StateField::Xmpp*).
    p(
        "Device.XMPP.ConnectionNumberOfEntries",
        Syntax::UINT,
        Source::Count("Connection."),
    ),
    p(
        "Device.XMPP.SupportedServerConnectAlgorithms",
        Syntax::enumeration(&["DNS-SRV", "DNS", "ServerTable"]),
        Source::Constant("ServerTable"),
    ),
    w(
        "Device.XMPP.Connection.{i}.Enable",
        Syntax::Boolean,
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.Username",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.Password",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.Domain",
        Syntax::string(64),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.Resource",
        Syntax::string(64),
        Source::Setting,
    ),
    p(
        "Device.XMPP.Connection.{i}.JabberID",
        Syntax::string(0),
        Source::State(StateField::XmppJabberId),
    ),
    p(
        "Device.XMPP.Connection.{i}.Status",
        Syntax::enumeration(XMPP_STATUSES),
        Source::State(StateField::XmppStatus),
    ),
    p(
        "Device.XMPP.Connection.{i}.LastChangeDate",
        Syntax::DateTime,
        Source::State(StateField::XmppLastChangeDate),
    ),
    w(
        "Device.XMPP.Connection.{i}.ServerConnectAlgorithm",
        Syntax::enumeration(crate::state::settings::XMPP_CONNECT_ALGORITHMS),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.KeepAliveInterval",
        Syntax::Long {
            min: -1,
            max: u32::MAX as i64,
        },
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.ServerRetryInitialInterval",
        Syntax::uint(1, 65_535),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.ServerRetryIntervalMultiplier",
        Syntax::uint(1000, 65_535),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.ServerRetryMaxInterval",
        Syntax::uint(1, u32::MAX),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.UseTLS",
        Syntax::Boolean,
        Source::Setting,
    ),
    p(
        "Device.XMPP.Connection.{i}.TLSEstablished",
        Syntax::Boolean,
        Source::State(StateField::XmppTlsEstablished),
    ),
    p(
        "Device.XMPP.Connection.{i}.ServerNumberOfEntries",
        Syntax::UINT,
        Source::Count("Server."),
    ),
    w(
        "Device.XMPP.Connection.{i}.Server.{i}.ServerAddress",
        Syntax::string(256),
        Source::Setting,
    ),
    w(
        "Device.XMPP.Connection.{i}.Server.{i}.Port",
        Syntax::uint(0, 65_535),
        Source::Setting,
    ),
];

/// The object a parameter path belongs to (`Device.IP.Interface.{i}.Enable` →
/// `Device.IP.Interface.{i}.`).
pub fn parent_of(path: &str) -> &str {
    match path.trim_end_matches('.').rfind('.') {
        Some(i) => &path[..=i],
        None => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::catalog::{objects, parameters};
    use std::collections::BTreeSet;

    #[test]
    fn every_parameter_belongs_to_a_declared_object_and_names_are_unique() {
        let declared: BTreeSet<&str> = objects().map(|o| o.path).collect();
        let mut seen = BTreeSet::new();
        for def in parameters() {
            assert!(
                declared.contains(parent_of(def.path)),
                "{} has no object",
                def.path
            );
            assert!(seen.insert(def.path), "{} twice", def.path);
            if def.writable {
                assert!(
                    !matches!(
                        def.source,
                        Source::Constant(_)
                            | Source::Identity(_)
                            | Source::Host(_)
                            | Source::State(_)
                            | Source::Count(_)
                    ),
                    "{} is writable but its source cannot be written",
                    def.path
                );
            }
        }
        for obj in objects() {
            if obj.path != "Device." {
                let own = obj.path.strip_suffix("{i}.").unwrap_or(obj.path);
                assert!(
                    declared.contains(parent_of(own)),
                    "{} has no parent",
                    obj.path
                );
            }
            assert_eq!(
                obj.path.ends_with("{i}."),
                obj.instances != Instances::Single,
                "{}",
                obj.path
            );
        }
    }

    #[test]
    fn every_setting_with_a_parameter_is_registered_as_a_setting() {
        for s in crate::state::settings::SETTINGS {
            if let Some(name) = s.parameter {
                let pattern = name.replace(".1.", ".{i}.");
                let def = crate::datamodel::catalog::parameters().find(|d| d.path == pattern);
                assert!(
                    matches!(def, Some(d) if d.source == Source::Setting),
                    "{name}"
                );
            }
        }
    }
}
