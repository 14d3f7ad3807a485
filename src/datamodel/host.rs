//! Live values from the host: /proc, /sys/class/net, the interface addresses and the clock.
//!
//! CONTRACT (filled in by the host-provider work): `LinuxHost` reads a real Linux system;
//! `StaticHost` is a fixed host for tests.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Reads the host. Implementations must be cheap enough to call once per GetParameterValues.
pub trait HostSource: Send + Sync + std::fmt::Debug {
    /// Seconds since the host booted (/proc/uptime).
    fn uptime_secs(&self) -> io::Result<u64>;
    /// (total, free) physical memory in KiB (/proc/meminfo MemTotal, MemAvailable or MemFree).
    fn memory_kib(&self) -> io::Result<(u64, u64)>;
    /// CPU usage in percent (0–100) since the previous call, or over a short sample on the
    /// first call (/proc/stat).
    fn cpu_usage_percent(&self) -> io::Result<u32>;
    /// Whether the kernel clock is synchronized (adjtimex); `None` when it cannot be told.
    fn time_synchronized(&self) -> Option<bool>;
    /// Every network interface, in interface-index order.
    fn interfaces(&self) -> io::Result<Vec<HostInterface>>;
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostInterface {
    pub name: String,
    /// The kernel's interface index (also the TR-181 instance number).
    pub index: u32,
    /// ARPHRD_ETHER (/sys/class/net/<if>/type == 1).
    pub is_ethernet: bool,
    pub is_loopback: bool,
    /// IFF_UP.
    pub admin_up: bool,
    /// TR-181 Status: Up, Down, Unknown, Dormant, NotPresent, LowerLayerDown or Error.
    pub status: &'static str,
    /// Lower-case colon-separated MAC address ("" when none).
    pub mac: String,
    pub mtu: u32,
    /// Link speed in Mbit/s when the driver reports one.
    pub speed_mbps: Option<u32>,
    /// "Half" or "Full" when the driver reports it.
    pub duplex: Option<&'static str>,
    /// Carries the default route.
    pub upstream: bool,
    pub ipv6_enabled: bool,
    pub stats: InterfaceStats,
    pub ipv4: Vec<Ipv4Entry>,
    pub ipv6: Vec<Ipv6Entry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InterfaceStats {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub errors_sent: u64,
    pub errors_received: u64,
    pub discard_packets_sent: u64,
    pub discard_packets_received: u64,
    pub multicast_packets_received: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Entry {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Entry {
    pub address: Ipv6Addr,
    pub prefix_len: u8,
    /// TR-181 Origin: AutoConfigured, DHCPv6, WellKnown or Static.
    pub origin: &'static str,
}

/// A fixed host, for tests and benchmarks.
#[derive(Debug, Clone, Default)]
pub struct StaticHost {
    pub uptime_secs: u64,
    pub memory_kib: (u64, u64),
    pub cpu_usage_percent: u32,
    pub time_synchronized: Option<bool>,
    pub interfaces: Vec<HostInterface>,
}

impl HostSource for StaticHost {
    fn uptime_secs(&self) -> io::Result<u64> {
        Ok(self.uptime_secs)
    }
    fn memory_kib(&self) -> io::Result<(u64, u64)> {
        Ok(self.memory_kib)
    }
    fn cpu_usage_percent(&self) -> io::Result<u32> {
        Ok(self.cpu_usage_percent)
    }
    fn time_synchronized(&self) -> Option<bool> {
        self.time_synchronized
    }
    fn interfaces(&self) -> io::Result<Vec<HostInterface>> {
        Ok(self.interfaces.clone())
    }
}

/// The real Linux host.
#[derive(Debug)]
pub struct LinuxHost {
    _private: (),
}

impl LinuxHost {
    pub fn new() -> LinuxHost {
        LinuxHost { _private: () }
    }
}

impl Default for LinuxHost {
    fn default() -> Self {
        Self::new()
    }
}

impl HostSource for LinuxHost {
    fn uptime_secs(&self) -> io::Result<u64> {
        unimplemented!("host provider: being written")
    }
    fn memory_kib(&self) -> io::Result<(u64, u64)> {
        unimplemented!("host provider: being written")
    }
    fn cpu_usage_percent(&self) -> io::Result<u32> {
        unimplemented!("host provider: being written")
    }
    fn time_synchronized(&self) -> Option<bool> {
        unimplemented!("host provider: being written")
    }
    fn interfaces(&self) -> io::Result<Vec<HostInterface>> {
        unimplemented!("host provider: being written")
    }
}
