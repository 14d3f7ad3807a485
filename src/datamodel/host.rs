//! Live values from the host: /proc, /sys/class/net, the interface addresses and the clock.
//!
//! CONTRACT (filled in by the host-provider work): `LinuxHost` reads a real Linux system;
//! `StaticHost` is a fixed host for tests.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

pub use super::host_tables::HostTables;

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
    /// The neighbour table, routing tables, DNS servers, thermal zones, processes and
    /// processors (read together: one GetParameterValues sees one consistent picture).
    fn tables(&self) -> io::Result<HostTables> {
        Ok(HostTables::default())
    }
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
    pub tables: HostTables,
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
    fn tables(&self) -> io::Result<HostTables> {
        Ok(self.tables.clone())
    }
}

/// The real Linux host.
#[derive(Debug)]
pub struct LinuxHost {
    root: PathBuf,
    /// `root` is the running system's "/", so what the kernel reports through system calls
    /// (adjtimex, getifaddrs) describes the same host as the files under `root`.
    live: bool,
    /// The previous /proc/stat sample, so each call reports the usage since the one before.
    cpu: Mutex<Option<CpuState>>,
}

/// How long the very first CPU-usage call measures: without a previous sample, the only other
/// figure is the average since boot, which says nothing about the device now.
const FIRST_CPU_SAMPLE: Duration = Duration::from_millis(100);

/// ARPHRD_ETHER and ARPHRD_LOOPBACK (linux/if_arp.h).
const ARPHRD_ETHER: u32 = 1;
const ARPHRD_LOOPBACK: u32 = 772;
/// IFF_UP and IFF_LOOPBACK (linux/if.h).
const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
/// IFA_F_PERMANENT (linux/if_addr.h): set on addresses configured by hand rather than by SLAAC,
/// privacy extensions or DHCPv6 (which carry lifetimes).
const IFA_F_PERMANENT: u32 = 0x80;

#[derive(Debug, Clone, Copy)]
struct CpuState {
    sample: CpuTimes,
    last_percent: u32,
}

/// Cumulative jiffies from the first "cpu" line of /proc/stat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

impl LinuxHost {
    /// Reads the running system.
    pub fn new() -> LinuxHost {
        LinuxHost {
            root: PathBuf::from("/"),
            live: true,
            cpu: Mutex::new(None),
        }
    }

    /// Reads `<root>/proc/...` and `<root>/sys/class/net/...` instead of the running system, for
    /// tests on a fake tree. Nothing is asked of the kernel directly: `time_synchronized` is
    /// `None`, and the IPv4 addresses (which no file under /proc lists) come from the test seam
    /// `<root>/ipv4addrs`, one `<ifname> <address>/<prefix>` per line.
    pub fn with_root(root: impl Into<PathBuf>) -> LinuxHost {
        LinuxHost {
            root: root.into(),
            live: false,
            cpu: Mutex::new(None),
        }
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn read_cpu_times(&self) -> io::Result<CpuTimes> {
        let path = self.path("proc/stat");
        let text = read_text(&path)?;
        parse_cpu_times(&text).ok_or_else(|| malformed(&path, "no aggregate \"cpu\" line"))
    }

    /// Interfaces carrying an IPv4 default route. Without a routing table (no IPv4, or a fake
    /// tree without one) nothing is upstream, which is not worth failing the listing over.
    fn default_route_interfaces(&self) -> HashSet<String> {
        let path = self.path("proc/net/route");
        match fs::read_to_string(&path) {
            Ok(text) => parse_default_route_interfaces(&text),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "no IPv4 routing table");
                HashSet::new()
            }
        }
    }

    fn ipv4_addresses(&self) -> HashMap<String, Vec<Ipv4Entry>> {
        let found = if self.live {
            live_ipv4_addresses()
        } else {
            let path = self.path("ipv4addrs");
            match fs::read_to_string(&path) {
                Ok(text) => Ok(parse_ipv4_seam(&text)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashMap::new()),
                Err(e) => Err(with_path(&path, e)),
            }
        };
        found.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot list the IPv4 addresses");
            HashMap::new()
        })
    }

    /// A kernel built without IPv6 has no if_inet6: no addresses rather than an error.
    fn ipv6_addresses(&self) -> HashMap<String, Vec<Ipv6Entry>> {
        let path = self.path("proc/net/if_inet6");
        match fs::read_to_string(&path) {
            Ok(text) => parse_if_inet6(&text),
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %path.display(), error = %e, "no IPv6 addresses");
                }
                HashMap::new()
            }
        }
    }

    fn read_interface(
        &self,
        name: String,
        dir: &Path,
        upstream: &HashSet<String>,
    ) -> Option<HostInterface> {
        // /sys/class/net also holds files that are not interfaces (bonding_masters); every
        // interface has an index.
        let index = read_number::<u32>(&dir.join("ifindex"))?;
        let link_type = read_number::<u32>(&dir.join("type")).unwrap_or(0);
        let flags = read_attr(&dir.join("flags"))
            .and_then(|f| parse_hex_u32(&f))
            .unwrap_or(0);
        let is_loopback = flags & IFF_LOOPBACK != 0 || link_type == ARPHRD_LOOPBACK;
        let admin_up = flags & IFF_UP != 0;
        // Reading carrier fails (EINVAL) while the interface is down, which is "no carrier".
        let carrier = read_attr(&dir.join("carrier")).is_some_and(|c| c == "1");
        let operstate = read_attr(&dir.join("operstate")).unwrap_or_default();
        let stat = |counter: &str| read_number::<u64>(&dir.join("statistics").join(counter));
        let ipv6_enabled =
            read_attr(&self.path(&format!("proc/sys/net/ipv6/conf/{name}/disable_ipv6")))
                .is_some_and(|v| v == "0");
        Some(HostInterface {
            index,
            is_ethernet: link_type == ARPHRD_ETHER,
            is_loopback,
            admin_up,
            status: tr181_status(&operstate, admin_up, is_loopback, carrier),
            mac: read_attr(&dir.join("address"))
                .map(|a| mac_address(&a))
                .unwrap_or_default(),
            mtu: read_number(&dir.join("mtu")).unwrap_or(0),
            speed_mbps: read_attr(&dir.join("speed")).and_then(|s| link_speed(&s)),
            duplex: read_attr(&dir.join("duplex")).and_then(|d| duplex_mode(&d)),
            upstream: upstream.contains(&name),
            ipv6_enabled,
            stats: InterfaceStats {
                bytes_sent: stat("tx_bytes").unwrap_or(0),
                bytes_received: stat("rx_bytes").unwrap_or(0),
                packets_sent: stat("tx_packets").unwrap_or(0),
                packets_received: stat("rx_packets").unwrap_or(0),
                errors_sent: stat("tx_errors").unwrap_or(0),
                errors_received: stat("rx_errors").unwrap_or(0),
                discard_packets_sent: stat("tx_dropped").unwrap_or(0),
                discard_packets_received: stat("rx_dropped").unwrap_or(0),
                multicast_packets_received: stat("multicast").unwrap_or(0),
            },
            ipv4: Vec::new(),
            ipv6: Vec::new(),
            name,
        })
    }
}

impl Default for LinuxHost {
    fn default() -> Self {
        Self::new()
    }
}

impl HostSource for LinuxHost {
    fn uptime_secs(&self) -> io::Result<u64> {
        let path = self.path("proc/uptime");
        let text = read_text(&path)?;
        parse_uptime(&text).ok_or_else(|| malformed(&path, "no uptime"))
    }

    fn memory_kib(&self) -> io::Result<(u64, u64)> {
        let path = self.path("proc/meminfo");
        let text = read_text(&path)?;
        parse_meminfo(&text).ok_or_else(|| malformed(&path, "no MemTotal or no MemFree"))
    }

    fn cpu_usage_percent(&self) -> io::Result<u32> {
        let mut state = self.cpu.lock().unwrap_or_else(PoisonError::into_inner);
        let (previous, current, fallback) = match *state {
            Some(s) => (s.sample, self.read_cpu_times()?, s.last_percent),
            None => {
                let first = self.read_cpu_times()?;
                std::thread::sleep(FIRST_CPU_SAMPLE);
                (first, self.read_cpu_times()?, 0)
            }
        };
        // No tick elapsed (two calls within a jiffy) or the counters went backwards: there is
        // nothing new to measure, so the last figure stands.
        let percent = busy_percent(previous, current).unwrap_or(fallback);
        *state = Some(CpuState {
            sample: current,
            last_percent: percent,
        });
        Ok(percent)
    }

    fn time_synchronized(&self) -> Option<bool> {
        if self.live {
            kernel_clock_synchronized()
        } else {
            None
        }
    }

    fn interfaces(&self) -> io::Result<Vec<HostInterface>> {
        let net = self.path("sys/class/net");
        let entries = fs::read_dir(&net).map_err(|e| with_path(&net, e))?;
        let upstream = self.default_route_interfaces();
        let mut ipv4 = self.ipv4_addresses();
        let mut ipv6 = self.ipv6_addresses();
        let mut list = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(path = %net.display(), error = %e, "unreadable interface entry");
                    continue;
                }
            };
            // Interface names are ASCII in practice; one that is not cannot be named in TR-181.
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if let Some(mut interface) = self.read_interface(name, &entry.path(), &upstream) {
                interface.ipv4 = ipv4.remove(&interface.name).unwrap_or_default();
                interface.ipv6 = ipv6.remove(&interface.name).unwrap_or_default();
                list.push(interface);
            }
        }
        crate::ordering::sort_stably_by_key(&mut list, |i| u64::from(i.index));
        Ok(list)
    }

    fn tables(&self) -> io::Result<HostTables> {
        let machine = if self.live {
            super::host_tables::machine()
        } else {
            // A fake tree names its machine in <root>/machine (default: the running one).
            fs::read_to_string(self.path("machine"))
                .map(|m| m.trim().to_owned())
                .unwrap_or_else(|_| super::host_tables::machine())
        };
        HostTables::read(&self.root, &machine)
    }
}

#[cfg(target_os = "linux")]
fn kernel_clock_synchronized() -> Option<bool> {
    // SAFETY: `timex` is a plain C struct of integers, for which all-zero bytes is a valid value;
    // zero `modes` makes adjtimex a pure read.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `timex` is a valid, exclusively borrowed struct that adjtimex only writes into.
    let state = unsafe { libc::adjtimex(&mut timex) };
    match state {
        -1 => None,
        libc::TIME_ERROR => Some(false),
        _ => Some(true),
    }
}

#[cfg(not(target_os = "linux"))]
fn kernel_clock_synchronized() -> Option<bool> {
    None
}

/// Frees the list `getifaddrs` returned, on every path out of the walk.
struct IfAddrs(*mut libc::ifaddrs);

impl Drop for IfAddrs {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful getifaddrs and is freed exactly once, here.
        unsafe { libc::freeifaddrs(self.0) }
    }
}

/// Every address of every interface (IPv4 and IPv6), from getifaddrs: (interface name, address).
pub fn interface_addresses() -> io::Result<Vec<(String, std::net::IpAddr)>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success getifaddrs stores a list in it that we
    // own until freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let list = IfAddrs(head);
    let mut found = Vec::new();
    let mut cursor = list.0;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a non-null node of the list, alive until `list` is dropped.
        let node = unsafe { &*cursor };
        cursor = node.ifa_next;
        if node.ifa_name.is_null() || node.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr of its family.
        let family =
            unsafe { std::ptr::read_unaligned(std::ptr::addr_of!((*node.ifa_addr).sa_family)) };
        let ip = match libc::c_int::from(family) {
            // SAFETY: as above; the family says which sockaddr it is.
            libc::AF_INET => unsafe { sockaddr_ipv4(node.ifa_addr) }.map(std::net::IpAddr::V4),
            libc::AF_INET6 => {
                // SAFETY: an AF_INET6 sockaddr is a sockaddr_in6.
                let sin6 =
                    unsafe { std::ptr::read_unaligned(node.ifa_addr.cast::<libc::sockaddr_in6>()) };
                Some(std::net::IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
            }
            _ => None,
        };
        let Some(ip) = ip else { continue };
        // SAFETY: non-null, NUL-terminated, alive as long as the list.
        let name = unsafe { std::ffi::CStr::from_ptr(node.ifa_name) };
        if let Ok(name) = name.to_str() {
            found.push((name.to_owned(), ip));
        }
    }
    drop(list);
    Ok(found)
}

/// The IPv4 addresses of every interface, in the kernel's order, from getifaddrs (the kernel
/// lists them over netlink only; there is no /proc file with their prefixes).
fn live_ipv4_addresses() -> io::Result<HashMap<String, Vec<Ipv4Entry>>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a valid out-pointer; on success getifaddrs stores a list in it that we
    // own until freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let list = IfAddrs(head);
    let mut found: HashMap<String, Vec<Ipv4Entry>> = HashMap::new();
    let mut cursor = list.0;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a non-null node of the list, which stays allocated until `list`
        // is dropped after the loop.
        let node = unsafe { &*cursor };
        cursor = node.ifa_next;
        if node.ifa_name.is_null() {
            continue;
        }
        // SAFETY: getifaddrs leaves ifa_addr null or pointing at a sockaddr of its family, alive
        // as long as the list.
        let Some(address) = (unsafe { sockaddr_ipv4(node.ifa_addr) }) else {
            continue;
        };
        // SAFETY: as for ifa_addr.
        let netmask = unsafe { sockaddr_ipv4(node.ifa_netmask) };
        // SAFETY: `ifa_name` is non-null and getifaddrs NUL-terminates it; it lives as long as
        // the list.
        let name = unsafe { std::ffi::CStr::from_ptr(node.ifa_name) };
        let Ok(name) = name.to_str() else {
            continue;
        };
        // A missing netmask only happens on point-to-point oddities: treat it as a host address.
        let prefix_len = netmask.map_or(32, |m| u32::from(m).leading_ones() as u8);
        found.entry(name.to_owned()).or_default().push(Ipv4Entry {
            address,
            prefix_len,
        });
    }
    drop(list);
    Ok(found)
}

/// The IPv4 address in a sockaddr, when it is one.
///
/// # Safety
/// `addr` is null or points to a sockaddr valid for its family's size.
unsafe fn sockaddr_ipv4(addr: *const libc::sockaddr) -> Option<Ipv4Addr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: non-null and valid per the contract; `sa_family` leads every sockaddr type.
    let family = unsafe { std::ptr::read_unaligned(std::ptr::addr_of!((*addr).sa_family)) };
    if libc::c_int::from(family) != libc::AF_INET {
        return None;
    }
    // SAFETY: an AF_INET sockaddr is a sockaddr_in; read unaligned because nothing promises
    // the larger struct's alignment.
    let sin = unsafe { std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in>()) };
    Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn malformed(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {what}", path.display()),
    )
}

fn read_text(path: &Path) -> io::Result<String> {
    fs::read_to_string(path).map_err(|e| with_path(path, e))
}

/// One sysfs attribute, trimmed; `None` when it cannot be read (many fail with EINVAL when the
/// driver has no value).
fn read_attr(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn read_number<T: FromStr>(path: &Path) -> Option<T> {
    read_attr(path)?.parse().ok()
}

fn parse_hex_u32(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    u32::from_str_radix(digits, 16).ok()
}

fn parse_uptime(text: &str) -> Option<u64> {
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    // Whole seconds, as TR-181 counts UpTime.
    (secs.is_finite() && secs >= 0.0).then_some(secs as u64)
}

/// (MemTotal, MemAvailable or else MemFree), KiB. MemAvailable counts the reclaimable page
/// cache, which is what "free" means to an operator; kernels before 3.14 lack it.
fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let (mut total, mut available, mut free) = (None, None, None);
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "MemTotal:" => total = Some(value),
            "MemAvailable:" => available = Some(value),
            "MemFree:" => free = Some(value),
            _ => {}
        }
    }
    let total = total?;
    Some((total, available.or(free)?.min(total)))
}

fn parse_cpu_times(text: &str) -> Option<CpuTimes> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))?;
    // user nice system idle iowait irq softirq steal; guest and guest_nice are already counted
    // in user and nice.
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if ticks.len() < 4 {
        return None;
    }
    let total = ticks.iter().try_fold(0u64, |sum, t| sum.checked_add(*t))?;
    // Waiting for I/O is idle time: the CPU could have run something else.
    let idle = ticks[3].saturating_add(ticks.get(4).copied().unwrap_or(0));
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// Busy share of the ticks between two samples, rounded to whole percent; `None` when no tick
/// elapsed or the counters went backwards.
fn busy_percent(previous: CpuTimes, current: CpuTimes) -> Option<u32> {
    let total = current.total.checked_sub(previous.total)?;
    if total == 0 {
        return None;
    }
    let busy = current.busy.saturating_sub(previous.busy).min(total);
    let percent = (u128::from(busy) * 100 + u128::from(total) / 2) / u128::from(total);
    Some(percent.min(100) as u32)
}

/// Interfaces with an IPv4 default route (destination and mask 0) in /proc/net/route.
fn parse_default_route_interfaces(text: &str) -> HashSet<String> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields.as_slice() {
                [
                    iface,
                    "00000000",
                    _gateway,
                    _flags,
                    _refcnt,
                    _use,
                    _metric,
                    "00000000",
                    ..,
                ] => Some((*iface).to_owned()),
                _ => None,
            }
        })
        .collect()
}

/// The `<root>/ipv4addrs` test seam: `<ifname> <address>/<prefix>` lines, in order. Lines that
/// do not parse are skipped, as a malformed kernel answer would be.
fn parse_ipv4_seam(text: &str) -> HashMap<String, Vec<Ipv4Entry>> {
    let mut found: HashMap<String, Vec<Ipv4Entry>> = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(cidr)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((address, prefix)) = cidr.split_once('/') else {
            continue;
        };
        let (Ok(address), Ok(prefix_len)) = (address.parse(), prefix.parse::<u8>()) else {
            continue;
        };
        if prefix_len > 32 {
            continue;
        }
        found.entry(name.to_owned()).or_default().push(Ipv4Entry {
            address,
            prefix_len,
        });
    }
    found
}

/// /proc/net/if_inet6: `<address hex> <ifindex hex> <prefix hex> <scope hex> <flags hex> <name>`.
fn parse_if_inet6(text: &str) -> HashMap<String, Vec<Ipv6Entry>> {
    let mut found: HashMap<String, Vec<Ipv6Entry>> = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [hex, _ifindex, prefix, _scope, flags, name] = fields.as_slice() else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let (Ok(address), Ok(prefix_len), Some(flags)) = (
            u128::from_str_radix(hex, 16),
            u8::from_str_radix(prefix, 16),
            parse_hex_u32(flags),
        ) else {
            continue;
        };
        if prefix_len > 128 {
            continue;
        }
        let address = Ipv6Addr::from(address);
        found
            .entry((*name).to_owned())
            .or_default()
            .push(Ipv6Entry {
                address,
                prefix_len,
                origin: ipv6_origin(address, flags),
            });
    }
    found
}

fn ipv6_origin(address: Ipv6Addr, flags: u32) -> &'static str {
    let link_local = address.segments()[0] & 0xffc0 == 0xfe80;
    if address == Ipv6Addr::LOCALHOST {
        "WellKnown"
    } else if link_local || flags & IFA_F_PERMANENT == 0 {
        "AutoConfigured"
    } else {
        "Static"
    }
}

/// TR-181 Status from the kernel's RFC 2863 operstate. Drivers that do not track the link
/// (loopback, tun, many virtual ones) say "unknown"; when such an interface is up and passes
/// traffic, "Up" is what an operator expects to see.
fn tr181_status(operstate: &str, admin_up: bool, loopback: bool, carrier: bool) -> &'static str {
    match operstate {
        "up" => "Up",
        "down" => "Down",
        "dormant" => "Dormant",
        "notpresent" => "NotPresent",
        "lowerlayerdown" => "LowerLayerDown",
        "unknown" if admin_up && (loopback || carrier) => "Up",
        _ => "Unknown",
    }
}

/// A 6-octet hardware address, lower-cased; "" for anything else, including the all-zero
/// address of loopback and the 4- or 16-byte addresses of tunnels, which are not MAC addresses.
fn mac_address(address: &str) -> String {
    let octets: Vec<&str> = address.split(':').collect();
    let valid = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid || octets.iter().all(|o| *o == "00") {
        return String::new();
    }
    address.to_ascii_lowercase()
}

/// Mbit/s; the kernel reports -1 (SPEED_UNKNOWN) or fails with EINVAL when there is no link.
fn link_speed(text: &str) -> Option<u32> {
    text.parse::<i64>()
        .ok()
        .filter(|s| *s > 0)
        .and_then(|s| u32::try_from(s).ok())
}

fn duplex_mode(text: &str) -> Option<&'static str> {
    match text {
        "half" => Some("Half"),
        "full" => Some("Full"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create fake tree dirs");
        }
        fs::write(&path, content).expect("write fake tree file");
    }

    fn put_interface(root: &Path, name: &str, attrs: &[(&str, &str)]) {
        for (attr, value) in attrs {
            put(
                root,
                &format!("sys/class/net/{name}/{attr}"),
                &format!("{value}\n"),
            );
        }
    }

    /// A two-interface machine: lo, and eth0 carrying the default route.
    fn fake_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        put(root, "proc/uptime", "12345.67 45678.90\n");
        put(
            root,
            "proc/meminfo",
            "MemTotal:        2048000 kB\n\
             MemFree:          100000 kB\n\
             MemAvailable:    1500000 kB\n\
             Buffers:           20000 kB\n",
        );
        put(
            root,
            "proc/stat",
            "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\nintr 1\n",
        );
        put(
            root,
            "proc/net/route",
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
             eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
             eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n",
        );
        put(
            root,
            "proc/net/if_inet6",
            "00000000000000000000000000000001 01 80 10 80       lo\n\
             fe8000000000000002fc00fffe000001 02 40 20 80     eth0\n\
             20010db8000000000000000000000002 02 40 00 80     eth0\n\
             20010db80000000002fc00fffe000001 02 40 00 00     eth0\n",
        );
        put(root, "proc/sys/net/ipv6/conf/lo/disable_ipv6", "0\n");
        put(root, "proc/sys/net/ipv6/conf/eth0/disable_ipv6", "1\n");
        put(
            root,
            "ipv4addrs",
            "lo 127.0.0.1/8\neth0 192.0.2.2/24\neth0 198.51.100.7/32\n",
        );
        // Listed in reverse index order, to show the listing sorts.
        put_interface(
            root,
            "eth0",
            &[
                ("ifindex", "2"),
                ("type", "1"),
                ("flags", "0x1003"),
                ("operstate", "up"),
                ("carrier", "1"),
                ("address", "02:FC:00:00:00:01"),
                ("mtu", "1500"),
                ("speed", "1000"),
                ("duplex", "full"),
                ("statistics/tx_bytes", "5000000000"),
                ("statistics/rx_bytes", "6000"),
                ("statistics/tx_packets", "70"),
                ("statistics/rx_packets", "80"),
                ("statistics/tx_errors", "1"),
                ("statistics/rx_errors", "2"),
                ("statistics/tx_dropped", "3"),
                ("statistics/rx_dropped", "4"),
                ("statistics/multicast", "5"),
            ],
        );
        put_interface(
            root,
            "lo",
            &[
                ("ifindex", "1"),
                ("type", "772"),
                ("flags", "0x9"),
                ("operstate", "unknown"),
                ("carrier", "1"),
                ("address", "00:00:00:00:00:00"),
                ("mtu", "65536"),
                ("statistics/tx_bytes", "10"),
                ("statistics/rx_bytes", "10"),
            ],
        );
        // Not an interface: must not show up.
        put(root, "sys/class/net/bonding_masters", "\n");
        dir
    }

    #[test]
    fn reads_uptime_and_memory_from_the_tree() {
        let tree = fake_tree();
        let host = LinuxHost::with_root(tree.path());
        assert_eq!(host.uptime_secs().expect("uptime"), 12345);
        assert_eq!(host.memory_kib().expect("memory"), (2_048_000, 1_500_000));
        assert_eq!(host.time_synchronized(), None);
    }

    #[test]
    fn memory_falls_back_to_memfree_on_old_kernels() {
        assert_eq!(
            parse_meminfo("MemTotal: 1000 kB\nMemFree: 250 kB\n"),
            Some((1000, 250))
        );
        assert_eq!(parse_meminfo("MemFree: 250 kB\n"), None);
    }

    #[test]
    fn missing_or_garbled_proc_files_are_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = LinuxHost::with_root(dir.path());
        assert_eq!(
            host.uptime_secs().expect_err("no file").kind(),
            io::ErrorKind::NotFound
        );
        assert!(host.interfaces().is_err(), "no /sys/class/net");
        put(dir.path(), "proc/uptime", "soon\n");
        assert_eq!(
            host.uptime_secs().expect_err("garbled").kind(),
            io::ErrorKind::InvalidData
        );
        put(dir.path(), "proc/stat", "intr 1 2 3\n");
        assert!(host.cpu_usage_percent().is_err());
    }

    #[test]
    fn cpu_usage_is_measured_between_calls() {
        let tree = fake_tree();
        let host = LinuxHost::with_root(tree.path());
        // The first call's two samples read the same file: no tick elapsed.
        assert_eq!(host.cpu_usage_percent().expect("first"), 0);
        // +300 busy (user/system/irq), +100 idle, +100 iowait → 300 of 500 ticks busy.
        put(
            tree.path(),
            "proc/stat",
            "cpu  250 0 200 900 100 50 0 0 40 0\n",
        );
        assert_eq!(host.cpu_usage_percent().expect("second"), 60);
        // Nothing elapsed since: the previous figure stands.
        assert_eq!(host.cpu_usage_percent().expect("third"), 60);
        put(
            tree.path(),
            "proc/stat",
            "cpu  250 0 200 1000 100 50 0 0 40 0\n",
        );
        assert_eq!(host.cpu_usage_percent().expect("idle"), 0);
    }

    #[test]
    fn busy_percent_rounds_and_clamps() {
        let at = |busy, total| CpuTimes { busy, total };
        assert_eq!(busy_percent(at(0, 0), at(2, 3)), Some(67));
        assert_eq!(busy_percent(at(0, 0), at(9, 9)), Some(100));
        assert_eq!(busy_percent(at(5, 10), at(5, 10)), None);
        assert_eq!(busy_percent(at(5, 10), at(1, 2)), None, "counters reset");
    }

    #[test]
    fn lists_the_fake_interfaces() {
        let tree = fake_tree();
        let host = LinuxHost::with_root(tree.path());
        let list = host.interfaces().expect("interfaces");
        let names: Vec<&str> = list.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "eth0"]);

        let lo = &list[0];
        assert_eq!(lo.index, 1);
        assert!(lo.is_loopback && !lo.is_ethernet && lo.admin_up);
        assert_eq!(lo.status, "Up", "operstate unknown, up, loopback");
        assert_eq!(lo.mac, "");
        assert_eq!((lo.mtu, lo.speed_mbps, lo.duplex), (65536, None, None));
        assert!(!lo.upstream);
        assert!(lo.ipv6_enabled);
        assert_eq!(
            lo.ipv4,
            [Ipv4Entry {
                address: Ipv4Addr::LOCALHOST,
                prefix_len: 8
            }]
        );
        assert_eq!(
            lo.ipv6,
            [Ipv6Entry {
                address: Ipv6Addr::LOCALHOST,
                prefix_len: 128,
                origin: "WellKnown"
            }]
        );

        let eth0 = &list[1];
        assert_eq!(
            *eth0,
            HostInterface {
                name: "eth0".into(),
                index: 2,
                is_ethernet: true,
                is_loopback: false,
                admin_up: true,
                status: "Up",
                mac: "02:fc:00:00:00:01".into(),
                mtu: 1500,
                speed_mbps: Some(1000),
                duplex: Some("Full"),
                upstream: true,
                ipv6_enabled: false,
                stats: InterfaceStats {
                    bytes_sent: 5_000_000_000,
                    bytes_received: 6000,
                    packets_sent: 70,
                    packets_received: 80,
                    errors_sent: 1,
                    errors_received: 2,
                    discard_packets_sent: 3,
                    discard_packets_received: 4,
                    multicast_packets_received: 5,
                },
                ipv4: vec![
                    Ipv4Entry {
                        address: Ipv4Addr::new(192, 0, 2, 2),
                        prefix_len: 24
                    },
                    Ipv4Entry {
                        address: Ipv4Addr::new(198, 51, 100, 7),
                        prefix_len: 32
                    },
                ],
                ipv6: vec![
                    Ipv6Entry {
                        address: "fe80::2fc:ff:fe00:1".parse().expect("addr"),
                        prefix_len: 64,
                        origin: "AutoConfigured"
                    },
                    Ipv6Entry {
                        address: "2001:db8::2".parse().expect("addr"),
                        prefix_len: 64,
                        origin: "Static"
                    },
                    Ipv6Entry {
                        address: "2001:db8::2fc:ff:fe00:1".parse().expect("addr"),
                        prefix_len: 64,
                        origin: "AutoConfigured"
                    },
                ],
            }
        );
    }

    #[test]
    fn unreadable_attributes_fall_back_to_defaults() {
        let tree = fake_tree();
        let root = tree.path();
        // A virtual interface that is down: speed, duplex and carrier fail with EINVAL in sysfs
        // (here: absent), statistics are missing, flags are garbled.
        put_interface(
            root,
            "ifb0",
            &[
                ("ifindex", "3"),
                ("type", "1"),
                ("flags", "zz"),
                ("operstate", "down"),
                ("address", "de:cb:9e:9b:30:90"),
                ("speed", "-1"),
            ],
        );
        let list = LinuxHost::with_root(root).interfaces().expect("interfaces");
        let ifb0 = list.iter().find(|i| i.name == "ifb0").expect("ifb0 listed");
        assert_eq!(ifb0.index, 3);
        assert!(!ifb0.admin_up);
        assert_eq!(ifb0.status, "Down");
        assert_eq!((ifb0.mtu, ifb0.speed_mbps, ifb0.duplex), (0, None, None));
        assert_eq!(ifb0.stats, InterfaceStats::default());
        assert!(ifb0.ipv4.is_empty() && ifb0.ipv6.is_empty() && !ifb0.ipv6_enabled);
    }

    #[test]
    fn operstate_maps_to_tr181_status() {
        assert_eq!(tr181_status("dormant", true, false, true), "Dormant");
        assert_eq!(tr181_status("notpresent", true, false, false), "NotPresent");
        assert_eq!(
            tr181_status("lowerlayerdown", true, false, false),
            "LowerLayerDown"
        );
        assert_eq!(tr181_status("testing", true, false, true), "Unknown");
        assert_eq!(
            tr181_status("unknown", true, false, true),
            "Up",
            "tun with carrier"
        );
        assert_eq!(tr181_status("unknown", true, false, false), "Unknown");
        assert_eq!(tr181_status("unknown", false, true, true), "Unknown");
    }

    #[test]
    fn only_six_octet_non_zero_addresses_are_macs() {
        assert_eq!(mac_address("AA:bb:CC:00:11:22"), "aa:bb:cc:00:11:22");
        assert_eq!(mac_address("00:00:00:00:00:00"), "");
        assert_eq!(mac_address("00:00:00:00"), "", "ipip tunnel");
        assert_eq!(mac_address(""), "");
    }

    #[test]
    fn ipv6_origins() {
        let origin = |a: &str, flags| ipv6_origin(a.parse().expect("addr"), flags);
        assert_eq!(origin("::1", 0x80), "WellKnown");
        assert_eq!(origin("fe80::1", 0x80), "AutoConfigured");
        assert_eq!(origin("febf::1", 0x80), "AutoConfigured");
        assert_eq!(origin("fec0::1", 0x80), "Static");
        assert_eq!(origin("2001:db8::1", 0x00), "AutoConfigured");
        assert_eq!(origin("2001:db8::1", 0x80), "Static");
    }

    #[test]
    fn the_real_host_is_sane() {
        let host = LinuxHost::new();
        assert!(host.uptime_secs().expect("uptime") > 0);
        let (total, free) = host.memory_kib().expect("memory");
        assert!(total > free && free > 0, "total {total} free {free}");
        let cpu = host.cpu_usage_percent().expect("cpu");
        assert!(cpu <= 100, "{cpu}");
        let cpu = host.cpu_usage_percent().expect("cpu again");
        assert!(cpu <= 100, "{cpu}");
        // Either answer is sane; the call must not fail or crash.
        let _ = host.time_synchronized();
        let list = host.interfaces().expect("interfaces");
        assert!(list.windows(2).all(|w| w[0].index < w[1].index));
        let lo = list.iter().find(|i| i.name == "lo").expect("lo");
        assert!(lo.is_loopback);
        if lo.admin_up {
            assert!(
                lo.ipv4.iter().any(|a| a.address == Ipv4Addr::LOCALHOST),
                "getifaddrs: {:?}",
                lo.ipv4
            );
        }
    }
}
