//! What several diagnostics need of the host's network: name resolution restricted to an address
//! family, the interface an address belongs to, and an interface's byte counters.

use std::net::{IpAddr, SocketAddr};

use super::IpVersion;

/// Why a host could not be turned into an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// Empty, or shaped like a command-line option.
    Invalid,
    /// The name has no address (of the requested family).
    NotFound,
}

/// The first address of `host` (a literal or a name) in the family asked for.
pub async fn resolve(host: &str, version: IpVersion) -> Result<IpAddr, ResolveError> {
    let host = host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.starts_with('-') {
        return Err(ResolveError::Invalid);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if version.accepts(&ip) {
            Ok(ip)
        } else {
            Err(ResolveError::NotFound)
        };
    }
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| ResolveError::NotFound)?
        .collect();
    found
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| version.accepts(ip))
        .ok_or(ResolveError::NotFound)
}

/// The local address the routing table picks toward `to` (no packet is sent).
pub fn local_address_toward(to: IpAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if to.is_ipv6() {
        "[::]:0".parse().ok()?
    } else {
        "0.0.0.0:0".parse().ok()?
    };
    let socket = std::net::UdpSocket::bind(bind).ok()?;
    socket.connect(SocketAddr::new(to, 9)).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

/// The name of the interface holding `ip` (loopback for 127.0.0.0/8 and ::1).
pub fn interface_for_address(ip: IpAddr) -> Option<String> {
    if ip.is_loopback() {
        // 127.0.0.2 is on lo without being listed as an address of it.
        return interface_names().into_iter().find(|n| n == "lo");
    }
    crate::datamodel::host::interface_addresses()
        .ok()?
        .into_iter()
        .find(|(_, a)| *a == ip)
        .map(|(name, _)| name)
}

fn interface_names() -> Vec<String> {
    std::fs::read_dir("/sys/class/net")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// (received, sent) bytes of an interface, from its kernel counters.
pub fn interface_counters(name: &str) -> Option<(u64, u64)> {
    if name.contains('/') || name.starts_with('.') {
        return None;
    }
    let read = |counter: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/{counter}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    Some((read("rx_bytes")?, read("tx_bytes")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_literals_in_the_family_asked_for() {
        assert_eq!(
            resolve("127.0.0.1", IpVersion::Any).await,
            Ok("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            resolve("[::1]", IpVersion::V6).await,
            Ok("::1".parse().unwrap())
        );
        assert_eq!(
            resolve("127.0.0.1", IpVersion::V6).await,
            Err(ResolveError::NotFound)
        );
        assert_eq!(
            resolve("-c", IpVersion::Any).await,
            Err(ResolveError::Invalid)
        );
        assert_eq!(
            resolve(" ", IpVersion::Any).await,
            Err(ResolveError::Invalid)
        );
        // RFC 6761: .invalid never resolves.
        assert_eq!(
            resolve("nowhere.invalid", IpVersion::Any).await,
            Err(ResolveError::NotFound)
        );
    }

    #[test]
    fn loopback_counters_are_readable() {
        let lo = interface_for_address("127.0.0.1".parse().unwrap());
        assert_eq!(lo.as_deref(), Some("lo"));
        assert!(interface_counters("lo").is_some());
        assert!(interface_counters("../etc").is_none());
    }
}
