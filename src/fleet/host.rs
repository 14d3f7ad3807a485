//! A simulated device's host values: the agent's own data model reads them through the
//! [`HostSource`] port, as it reads /proc and /sys on a router. Deterministic per device (seeded
//! by its index) and moving with time: uptime counts from the device's boot, traffic counters grow
//! at a per-device rate, CPU and free memory wander; each device has its own MAC and addresses.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::datamodel::host::{HostInterface, HostSource, InterfaceStats, Ipv4Entry, Ipv6Entry};

/// One device's host, for one boot (a reboot makes a new one).
#[derive(Debug, Clone)]
pub struct SimulatedHost {
    index: u32,
    /// Unix milliseconds of this boot.
    booted_at_ms: u64,
    /// Per-device mixing of the index, so neighbours do not look alike.
    mix: u64,
}

/// SplitMix64: a cheap, well-spread hash (of a device index, a seed).
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SimulatedHost {
    pub fn new(index: u32, booted_at_ms: u64) -> SimulatedHost {
        SimulatedHost {
            index,
            booted_at_ms,
            mix: mix(u64::from(index)),
        }
    }

    fn elapsed_secs(&self) -> u64 {
        crate::agent::now_ms().saturating_sub(self.booted_at_ms) / 1000
    }

    /// The device's WAN address: 10.0.0.0/8, one per index.
    pub fn wan_ipv4(&self) -> Ipv4Addr {
        let n = self.index.wrapping_add(2);
        Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8)
    }

    fn mac(&self, port: u8) -> String {
        // Locally administered, unicast: 02:…; the index in the low bytes.
        let i = self.index.to_be_bytes();
        format!(
            "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            port, i[0], i[1], i[2], i[3]
        )
    }

    fn traffic(&self, port: u64, secs: u64) -> InterfaceStats {
        // 1–64 kB/s down, a tenth of that up, ~700-byte packets.
        let rate = 1_000 + (self.mix.rotate_left(port as u32 * 7) % 63_000);
        let received = rate * secs;
        let sent = received / 10 + secs * 17;
        InterfaceStats {
            bytes_sent: sent,
            bytes_received: received,
            packets_sent: sent / 700 + secs,
            packets_received: received / 700 + secs,
            errors_sent: 0,
            errors_received: secs / 86_400,
            discard_packets_sent: 0,
            discard_packets_received: secs / 3_600,
            multicast_packets_received: secs / 60,
        }
    }
}

impl HostSource for SimulatedHost {
    fn uptime_secs(&self) -> io::Result<u64> {
        Ok(self.elapsed_secs())
    }

    fn memory_kib(&self) -> io::Result<(u64, u64)> {
        let total = 131_072;
        let wander = (self.mix ^ (self.elapsed_secs() / 60)).wrapping_mul(0x2545_f491) % 8_192;
        Ok((total, 60_000 + wander))
    }

    fn cpu_usage_percent(&self) -> io::Result<u32> {
        let minute = self.elapsed_secs() / 60;
        Ok(u32::try_from(mix(self.mix ^ minute) % 23).unwrap_or(0) + 1)
    }

    fn time_synchronized(&self) -> Option<bool> {
        Some(true)
    }

    fn interfaces(&self) -> io::Result<Vec<HostInterface>> {
        let secs = self.elapsed_secs();
        let wan = self.wan_ipv4();
        let i = self.index.to_be_bytes();
        let ipv6_wan = Ipv6Addr::new(
            0x2001,
            0x0db8,
            u16::from_be_bytes([i[0], i[1]]),
            u16::from_be_bytes([i[2], i[3]]),
            0,
            0,
            0,
            1,
        );
        Ok(vec![
            HostInterface {
                name: "lo".into(),
                index: 1,
                is_loopback: true,
                admin_up: true,
                status: "Up",
                mtu: 65_536,
                ipv4: vec![Ipv4Entry {
                    address: Ipv4Addr::LOCALHOST,
                    prefix_len: 8,
                }],
                ..HostInterface::default()
            },
            HostInterface {
                name: "ether1".into(),
                index: 2,
                is_ethernet: true,
                admin_up: true,
                status: "Up",
                mac: self.mac(1),
                mtu: 1_500,
                speed_mbps: Some(1_000),
                duplex: Some("Full"),
                upstream: true,
                ipv6_enabled: true,
                stats: self.traffic(1, secs),
                ipv4: vec![Ipv4Entry {
                    address: wan,
                    prefix_len: 8,
                }],
                ipv6: vec![Ipv6Entry {
                    address: ipv6_wan,
                    prefix_len: 64,
                    origin: "AutoConfigured",
                }],
                ..HostInterface::default()
            },
            HostInterface {
                name: "bridge".into(),
                index: 3,
                is_ethernet: true,
                admin_up: true,
                status: "Up",
                mac: self.mac(2),
                mtu: 1_500,
                stats: self.traffic(2, secs),
                ipv4: vec![Ipv4Entry {
                    address: Ipv4Addr::new(192, 168, 88, 1),
                    prefix_len: 24,
                }],
                ..HostInterface::default()
            },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_per_device_and_deterministic() {
        let now = crate::agent::now_ms();
        let a = SimulatedHost::new(7, now - 3_600_000);
        let b = SimulatedHost::new(8, now - 3_600_000);
        assert_eq!(a.wan_ipv4(), Ipv4Addr::new(10, 0, 0, 9));
        assert_ne!(
            a.interfaces().unwrap()[1].mac,
            b.interfaces().unwrap()[1].mac
        );
        let up = a.uptime_secs().unwrap();
        assert!((3_599..=3_700).contains(&up), "{up}");
        let (ia, ib) = (a.interfaces().unwrap(), b.interfaces().unwrap());
        assert!(ia[1].stats.bytes_received > 0);
        assert_ne!(ia[1].stats.bytes_received, ib[1].stats.bytes_received);
        let again = SimulatedHost::new(7, now - 3_600_000);
        assert_eq!(again.interfaces().unwrap()[1].mac, ia[1].mac);
        let cpu = a.cpu_usage_percent().unwrap();
        assert!((1..=23).contains(&cpu));
    }
}
