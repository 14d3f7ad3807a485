//! The values of the host-table parameters (`Source::Table`): one row of the neighbour table, a
//! route, a DNS server, a sensor, a process, a processor, an IPv6 prefix, an Ethernet link.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cwmp::{DateTime, Fault, FaultCode};

use super::host::{HostInterface, HostTables};
use super::registry::TableField as T;

/// What the host-table values are read from (the data model's `View`).
pub trait HostView {
    fn tables(&self) -> Result<&HostTables, Fault>;
    fn interfaces(&self) -> Result<&[HostInterface], Fault>;
    fn now_ms(&self) -> u64;
}

/// The list position of instance number `i` (numbered from 1).
pub fn slot(i: u32) -> usize {
    usize::try_from(i).unwrap_or(usize::MAX).saturating_sub(1)
}

fn name_fault(name: &str) -> Fault {
    Fault::with_string(
        FaultCode::InvalidParameterName,
        format!("Invalid parameter name: {name}"),
    )
}

fn interface(view: &dyn HostView, index: u32) -> Result<Option<&HostInterface>, Fault> {
    Ok(view.interfaces()?.iter().find(|i| i.index == index))
}

/// The name of the agent's log file (`DeviceInfo.VendorLogFile.1`): what an Upload of
/// "4 Vendor Log File" sends without a log_export hook.
pub const VENDOR_LOG_NAME: &str = "tr069-client journal timeline";

/// One IPv6 prefix of an interface, derived from its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Prefix {
    pub prefix: Ipv6Addr,
    pub len: u8,
    /// TR-181 Origin.
    pub origin: &'static str,
}

/// The distinct prefixes of an interface's IPv6 addresses, in address order.
pub fn ipv6_prefixes(interface: &HostInterface) -> Vec<Ipv6Prefix> {
    let mut out: Vec<Ipv6Prefix> = Vec::new();
    for a in &interface.ipv6 {
        let len = a.prefix_len.min(128);
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        let prefix = Ipv6Addr::from(u128::from(a.address) & mask);
        if out.iter().any(|p| p.prefix == prefix && p.len == len) {
            continue;
        }
        let link_local = a.address.segments()[0] & 0xffc0 == 0xfe80;
        let origin = if link_local || a.address == Ipv6Addr::LOCALHOST {
            "WellKnown"
        } else if a.origin == "AutoConfigured" {
            "RouterAdvertisement"
        } else {
            "Static"
        };
        out.push(Ipv6Prefix {
            prefix,
            len,
            origin,
        });
    }
    out
}

fn unknown_time() -> String {
    DateTime::UNKNOWN.to_string()
}

/// `Device.IP.Interface.N` for the interface named `device` ("" when it is not listed).
fn ip_interface_path(view: &dyn HostView, device: &str) -> Result<String, Fault> {
    Ok(interface_index(view, device)?
        .map(|i| format!("Device.IP.Interface.{i}"))
        .unwrap_or_default())
}

fn interface_index(view: &dyn HostView, device: &str) -> Result<Option<u32>, Fault> {
    Ok(view
        .interfaces()?
        .iter()
        .find(|i| i.name == device)
        .map(|i| i.index))
}

fn mask_bits(mask: Ipv4Addr) -> u32 {
    u32::from(mask).count_ones()
}

/// One host-table value.
pub fn table_value(
    view: &dyn HostView,
    f: T,
    name: &str,
    instances: &[u32],
) -> Result<String, Fault> {
    let t = view.tables()?;
    let last = instances.last().copied().unwrap_or(0);
    let missing = || name_fault(name);
    Ok(match f {
        T::HostPhysAddress
        | T::HostIpAddress
        | T::HostLayer1Interface
        | T::HostLayer3Interface
        | T::HostName
        | T::HostActive
        | T::HostActiveLastChange
        | T::HostIpv4Count
        | T::HostIpv6Count
        | T::HostIpv4Address => {
            let host = instances
                .first()
                .and_then(|&i| t.neighbours.get(slot(i)))
                .ok_or_else(missing)?;
            match f {
                T::HostPhysAddress => host.mac.to_ascii_uppercase(),
                T::HostIpAddress | T::HostIpv4Address => host.ip.to_string(),
                T::HostLayer1Interface => match interface_index(view, &host.device)? {
                    Some(i) if interface(view, i)?.is_some_and(|x| x.is_ethernet) => {
                        format!("Device.Ethernet.Interface.{i}")
                    }
                    _ => String::new(),
                },
                T::HostLayer3Interface => ip_interface_path(view, &host.device)?,
                T::HostName => String::new(),
                T::HostActive => host.active.to_string(),
                T::HostActiveLastChange => unknown_time(),
                T::HostIpv4Count => u32::from(host.ip.is_ipv4()).to_string(),
                _ => u32::from(host.ip.is_ipv6()).to_string(),
            }
        }
        T::RouterEnable => "true".into(),
        T::RouterStatus => "Enabled".into(),
        T::V4Enable
        | T::V4Status
        | T::V4StaticRoute
        | T::V4DestIp
        | T::V4DestMask
        | T::V4ForwardingPolicy
        | T::V4Gateway
        | T::V4Interface
        | T::V4Origin
        | T::V4Metric => {
            let r = t.ipv4_routes.get(slot(last)).ok_or_else(missing)?;
            let default_route = r.destination.is_unspecified() && mask_bits(r.mask) == 0;
            match f {
                T::V4Enable => r.up.to_string(),
                T::V4Status => if r.up { "Enabled" } else { "Disabled" }.into(),
                T::V4StaticRoute => (!r.dynamic).to_string(),
                // TR-181: a default route has both empty.
                T::V4DestIp if default_route => String::new(),
                T::V4DestMask if default_route => String::new(),
                T::V4DestIp => r.destination.to_string(),
                T::V4DestMask => r.mask.to_string(),
                T::V4ForwardingPolicy => "-1".into(),
                T::V4Gateway if r.gateway.is_unspecified() => String::new(),
                T::V4Gateway => r.gateway.to_string(),
                T::V4Interface => ip_interface_path(view, &r.device)?,
                T::V4Origin => "Static".into(),
                _ => i32::try_from(r.metric).unwrap_or(i32::MAX).to_string(),
            }
        }
        T::V6Enable
        | T::V6Status
        | T::V6DestPrefix
        | T::V6ForwardingPolicy
        | T::V6NextHop
        | T::V6Interface
        | T::V6Origin
        | T::V6Metric
        | T::V6ExpirationTime => {
            let r = t.ipv6_routes.get(slot(last)).ok_or_else(missing)?;
            match f {
                T::V6Enable => r.up.to_string(),
                T::V6Status => if r.up { "Enabled" } else { "Disabled" }.into(),
                T::V6DestPrefix => format!("{}/{}", r.destination, r.prefix_len),
                T::V6ForwardingPolicy => "-1".into(),
                T::V6NextHop if r.next_hop.is_unspecified() => String::new(),
                T::V6NextHop => r.next_hop.to_string(),
                T::V6Interface => ip_interface_path(view, &r.device)?,
                T::V6Origin => if r.from_ra { "RA" } else { "Static" }.into(),
                T::V6Metric => i32::try_from(r.metric).unwrap_or(i32::MAX).to_string(),
                // The kernel's lifetime is not in /proc: "never expires" is TR-181's Infinite
                // Time.
                _ => "9999-12-31T23:59:59Z".into(),
            }
        }
        T::DnsClientEnable => "true".into(),
        T::DnsClientStatus => "Enabled".into(),
        T::DnsServerEnable
        | T::DnsServerStatus
        | T::DnsServerAddress
        | T::DnsServerInterface
        | T::DnsServerType => {
            let ip: &IpAddr = t.dns_servers.get(slot(last)).ok_or_else(missing)?;
            match f {
                T::DnsServerEnable => "true".into(),
                T::DnsServerStatus => "Enabled".into(),
                T::DnsServerAddress => ip.to_string(),
                T::DnsServerInterface => String::new(),
                _ => "Static".into(),
            }
        }
        T::SensorEnable
        | T::SensorStatus
        | T::SensorName
        | T::SensorValue
        | T::SensorLastUpdate => {
            let z = t
                .thermal_zones
                .iter()
                .find(|z| z.index.saturating_add(1) == last)
                .ok_or_else(missing)?;
            match f {
                T::SensorEnable => "true".into(),
                T::SensorStatus => "Enabled".into(),
                T::SensorName => z.name.clone(),
                T::SensorValue => z.celsius.to_string(),
                _ => DateTime::from_unix_millis(i64::try_from(view.now_ms()).unwrap_or(i64::MAX))
                    .to_string(),
            }
        }
        T::ProcessPid
        | T::ProcessCommand
        | T::ProcessSize
        | T::ProcessPriority
        | T::ProcessCpuTime
        | T::ProcessState => {
            let p = t
                .processes
                .iter()
                .find(|p| p.pid == last)
                .ok_or_else(missing)?;
            match f {
                T::ProcessPid => p.pid.to_string(),
                T::ProcessCommand => p.command.chars().take(256).collect(),
                T::ProcessSize => p.size_kib.to_string(),
                T::ProcessPriority => p.priority.to_string(),
                T::ProcessCpuTime => p.cpu_time_ms.to_string(),
                _ => p.state.into(),
            }
        }
        T::ProcessorArchitecture => t
            .processors
            .get(slot(last))
            .ok_or_else(missing)?
            .architecture
            .into(),
        T::LogName => VENDOR_LOG_NAME.into(),
        // The timeline is generated from the journal, whose size the journal bounds itself.
        T::LogMaximumSize => "0".into(),
        T::LogPersistent => "true".into(),
        T::PrefixEnable
        | T::PrefixStatus
        | T::PrefixPrefixStatus
        | T::PrefixPrefix
        | T::PrefixOrigin
        | T::PrefixStaticType
        | T::PrefixOnLink
        | T::PrefixAutonomous
        | T::PrefixPreferredLifetime
        | T::PrefixValidLifetime => {
            let ifindex = instances.first().copied().ok_or_else(missing)?;
            let interface = interface(view, ifindex)?.ok_or_else(missing)?;
            let prefixes = ipv6_prefixes(interface);
            let p = prefixes.get(slot(last)).ok_or_else(missing)?;
            match f {
                T::PrefixEnable => "true".into(),
                T::PrefixStatus => "Enabled".into(),
                T::PrefixPrefixStatus => "Preferred".into(),
                T::PrefixPrefix => format!("{}/{}", p.prefix, p.len),
                T::PrefixOrigin => p.origin.into(),
                T::PrefixStaticType => if p.origin == "Static" {
                    "Static"
                } else {
                    "Inapplicable"
                }
                .into(),
                T::PrefixOnLink => "true".into(),
                T::PrefixAutonomous => (p.origin == "RouterAdvertisement").to_string(),
                _ => "9999-12-31T23:59:59Z".into(),
            }
        }
        T::LinkLowerLayers => format!("Device.Ethernet.Interface.{last}"),
        T::Ipv4Capable | T::Ipv4Enable => "true".into(),
        T::Ipv4Status => "Enabled".into(),
        T::Ipv6Capable | T::Ipv6Enable => t.ipv6_capable.to_string(),
        T::Ipv6Status => if t.ipv6_capable {
            "Enabled"
        } else {
            "Disabled"
        }
        .into(),
        T::PortLocalAddress
        | T::PortLocalPort
        | T::PortRemoteAddress
        | T::PortRemotePort
        | T::PortStatus => {
            let port = t.active_ports.get(slot(last)).ok_or_else(missing)?;
            match f {
                T::PortLocalAddress => port.local.ip().to_string(),
                T::PortLocalPort => port.local.port().to_string(),
                T::PortRemoteAddress => port.remote.ip().to_string(),
                T::PortRemotePort => port.remote.port().to_string(),
                _ => port.status.into(),
            }
        }
        T::IfLowerLayers => {
            let i = interface(view, last)?.ok_or_else(missing)?;
            if i.is_ethernet && !i.is_loopback {
                format!("Device.Ethernet.Link.{last}")
            } else {
                String::new()
            }
        }
        T::IfRouter => "Device.Routing.Router.1".into(),
        T::Addr6Status
        | T::Addr6Prefix
        | T::Addr6PreferredLifetime
        | T::Addr6ValidLifetime
        | T::Addr6Anycast => {
            let (Some(&ifindex), Some(&n)) = (instances.first(), instances.get(1)) else {
                return Err(missing());
            };
            let i = interface(view, ifindex)?.ok_or_else(missing)?;
            let a = i.ipv6.get(slot(n)).ok_or_else(missing)?;
            match f {
                T::Addr6Status => "Preferred".into(),
                T::Addr6Prefix => {
                    let len = a.prefix_len.min(128);
                    let mask = if len == 0 {
                        0
                    } else {
                        u128::MAX << (128 - u32::from(len))
                    };
                    let prefix = Ipv6Addr::from(u128::from(a.address) & mask);
                    ipv6_prefixes(i)
                        .iter()
                        .position(|p| p.prefix == prefix && p.len == len)
                        .map(|k| format!("Device.IP.Interface.{ifindex}.IPv6Prefix.{}", k + 1))
                        .unwrap_or_default()
                }
                T::Addr6Anycast => "false".into(),
                _ => "9999-12-31T23:59:59Z".into(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::host::Ipv6Entry;

    #[test]
    fn prefixes_are_distinct_and_classified() {
        let iface = HostInterface {
            ipv6: vec![
                Ipv6Entry {
                    address: "2001:db8:1::10".parse().unwrap(),
                    prefix_len: 64,
                    origin: "AutoConfigured",
                },
                Ipv6Entry {
                    address: "2001:db8:1::11".parse().unwrap(),
                    prefix_len: 64,
                    origin: "AutoConfigured",
                },
                Ipv6Entry {
                    address: "fe80::1".parse().unwrap(),
                    prefix_len: 64,
                    origin: "AutoConfigured",
                },
                Ipv6Entry {
                    address: "2001:db8:2::1".parse().unwrap(),
                    prefix_len: 48,
                    origin: "Static",
                },
            ],
            ..Default::default()
        };
        let p = ipv6_prefixes(&iface);
        assert_eq!(p.len(), 3);
        assert_eq!(
            (p[0].prefix.to_string(), p[0].len, p[0].origin),
            ("2001:db8:1::".into(), 64, "RouterAdvertisement")
        );
        assert_eq!(p[1].origin, "WellKnown");
        assert_eq!(p[2].origin, "Static");
    }
}
