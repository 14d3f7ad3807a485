//! The host's tables an operator looks at when troubleshooting: the neighbour table (Hosts), the
//! routing tables, the DNS servers, thermal zones, processes and processors — parsed from
//! /proc, /sys and /etc files (under a root, so tests use fake trees).

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// Everything [`HostTables::read`] finds; also what a `StaticHost` serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTables {
    pub neighbours: Vec<Neighbour>,
    pub ipv4_routes: Vec<Ipv4Route>,
    pub ipv6_routes: Vec<Ipv6Route>,
    pub dns_servers: Vec<IpAddr>,
    pub thermal_zones: Vec<ThermalZone>,
    pub processes: Vec<Process>,
    pub processors: Vec<Processor>,
    /// The kernel has IPv6 (/proc/net/if_inet6 exists).
    pub ipv6_capable: bool,
    pub active_ports: Vec<ActivePort>,
}

/// A listening or connected TCP socket (`IP.ActivePort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePort {
    pub local: std::net::SocketAddr,
    pub remote: std::net::SocketAddr,
    /// LISTEN or ESTABLISHED.
    pub status: &'static str,
}

/// One entry of the IPv4 neighbour (ARP) table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    pub ip: IpAddr,
    /// Lower-case MAC address ("" while unresolved).
    pub mac: String,
    pub device: String,
    /// The entry is complete (the neighbour answered).
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Route {
    pub destination: Ipv4Addr,
    pub mask: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub device: String,
    pub metric: u32,
    pub up: bool,
    /// Installed by a routing daemon or an ICMP redirect (RTF_DYNAMIC / RTF_MODIFIED).
    pub dynamic: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Route {
    pub destination: Ipv6Addr,
    pub prefix_len: u8,
    pub next_hop: Ipv6Addr,
    pub device: String,
    pub metric: u32,
    pub up: bool,
    /// Learnt from a router advertisement (RTF_ADDRCONF / RTF_DEFAULT).
    pub from_ra: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThermalZone {
    /// The zone's number (`thermal_zoneN`), used as the instance number + 1.
    pub index: u32,
    /// Its type (`x86_pkg_temp`, `cpu-thermal`).
    pub name: String,
    /// Degrees Celsius, rounded.
    pub celsius: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub command: String,
    /// Resident memory, KiB.
    pub size_kib: u32,
    /// 0..99 (the kernel's priority, 20 + nice for normal processes).
    pub priority: u32,
    /// CPU time used, milliseconds.
    pub cpu_time_ms: u32,
    /// TR-181 State: Running, Sleeping, Stopped, Idle, Uninterruptible or Zombie.
    pub state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processor {
    /// TR-181's Architecture value.
    pub architecture: &'static str,
}

const RTF_UP: u32 = 0x0001;
const RTF_DYNAMIC: u32 = 0x0010;
const RTF_MODIFIED: u32 = 0x0020;
const RTF_DEFAULT: u32 = 0x0001_0000;
const RTF_ADDRCONF: u32 = 0x0004_0000;
/// ATF_COM (linux/if_arp.h): the hardware address is known.
const ATF_COM: u32 = 0x02;

impl HostTables {
    /// Reads every table under `root` ("/" for the running system). A missing file is an empty
    /// table (a kernel without IPv6, a board without thermal zones); `arch` is the machine name
    /// (`uname -m`).
    pub fn read(root: &Path, arch: &str) -> io::Result<HostTables> {
        let text = |rel: &str| fs::read_to_string(root.join(rel)).unwrap_or_default();
        Ok(HostTables {
            neighbours: parse_arp(&text("proc/net/arp")),
            ipv4_routes: parse_ipv4_routes(&text("proc/net/route")),
            ipv6_routes: parse_ipv6_routes(&text("proc/net/ipv6_route")),
            dns_servers: parse_resolv_conf(&text("etc/resolv.conf")),
            thermal_zones: read_thermal_zones(&root.join("sys/class/thermal")),
            processes: read_processes(&root.join("proc")),
            ipv6_capable: root.join("proc/net/if_inet6").exists(),
            active_ports: {
                let mut ports = parse_tcp(&text("proc/net/tcp"));
                ports.extend(parse_tcp(&text("proc/net/tcp6")));
                ports
            },
            processors: (0..count_processors(&text("proc/cpuinfo")))
                .map(|_| Processor {
                    architecture: architecture(arch),
                })
                .collect(),
        })
    }
}

/// /proc/net/arp: `IP address  HW type  Flags  HW address  Mask  Device`.
pub fn parse_arp(text: &str) -> Vec<Neighbour> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [ip, _hw_type, flags, mac, _mask, device] = f.as_slice() else {
                return None;
            };
            let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).ok()?;
            let active = flags & ATF_COM != 0;
            Some(Neighbour {
                ip: ip.parse().ok()?,
                mac: if active {
                    mac.to_ascii_lowercase()
                } else {
                    String::new()
                },
                device: (*device).to_owned(),
                active,
            })
        })
        .collect()
}

/// /proc/net/route: `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT`.
pub fn parse_ipv4_routes(text: &str) -> Vec<Ipv4Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let flags = u32::from_str_radix(f[3], 16).ok()?;
            Some(Ipv4Route {
                device: f[0].to_owned(),
                destination: le_ipv4(f[1])?,
                gateway: le_ipv4(f[2])?,
                metric: f[6].parse().ok()?,
                mask: le_ipv4(f[7])?,
                up: flags & RTF_UP != 0,
                dynamic: flags & (RTF_DYNAMIC | RTF_MODIFIED) != 0,
            })
        })
        .collect()
}

/// An address as /proc/net/route prints it: the in-memory (network-order) bytes read as a
/// little-endian number.
fn le_ipv4(field: &str) -> Option<Ipv4Addr> {
    let n = u32::from_str_radix(field, 16).ok()?;
    Some(Ipv4Addr::from(n.to_le_bytes()))
}

/// /proc/net/tcp and tcp6: `sl local_address rem_address st …`, addresses in hex as the kernel
/// holds them (32-bit words in host order), ports in hex. Only LISTEN (0A) and ESTABLISHED (01)
/// sockets are kept.
pub fn parse_tcp(text: &str) -> Vec<ActivePort> {
    fn address(field: &str) -> Option<std::net::SocketAddr> {
        let (ip, port) = field.split_once(':')?;
        let port = u16::from_str_radix(port, 16).ok()?;
        let ip: IpAddr = match ip.len() {
            8 => Ipv4Addr::from(u32::from_str_radix(ip, 16).ok()?.to_le_bytes()).into(),
            32 => {
                let mut bytes = [0u8; 16];
                for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                    let word = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
                    chunk.copy_from_slice(&word.to_le_bytes());
                }
                let v6 = Ipv6Addr::from(bytes);
                match v6.to_ipv4_mapped() {
                    Some(v4) => v4.into(),
                    None => v6.into(),
                }
            }
            _ => return None,
        };
        Some(std::net::SocketAddr::new(ip, port))
    }
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let status = match *f.get(3)? {
                "0A" => "LISTEN",
                "01" => "ESTABLISHED",
                _ => return None,
            };
            Some(ActivePort {
                local: address(f.get(1)?)?,
                remote: address(f.get(2)?)?,
                status,
            })
        })
        .collect()
}

/// /proc/net/ipv6_route: `dest plen src splen nexthop metric refcnt use flags device`, every
/// number in hex. Local, loopback and multicast routes (the kernel's own) are left out.
pub fn parse_ipv6_routes(text: &str) -> Vec<Ipv6Route> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [
                dest,
                plen,
                _src,
                _splen,
                next_hop,
                metric,
                _refcnt,
                _use,
                flags,
                device,
            ] = f.as_slice()
            else {
                return None;
            };
            let destination = Ipv6Addr::from(u128::from_str_radix(dest, 16).ok()?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            if *device == "lo" || destination.segments()[0] & 0xff00 == 0xff00 {
                return None;
            }
            Some(Ipv6Route {
                destination,
                prefix_len: u8::from_str_radix(plen, 16).ok()?.min(128),
                next_hop: Ipv6Addr::from(u128::from_str_radix(next_hop, 16).ok()?),
                device: (*device).to_owned(),
                metric: u32::from_str_radix(metric, 16).ok()?,
                up: flags & RTF_UP != 0,
                from_ra: flags & (RTF_ADDRCONF | RTF_DEFAULT) != 0,
            })
        })
        .collect()
}

/// The `nameserver` lines of resolv.conf, in order (zone suffixes dropped).
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            if words.next() != Some("nameserver") {
                return None;
            }
            words.next()?.split('%').next()?.parse().ok()
        })
        .collect()
}

fn read_thermal_zones(dir: &Path) -> Vec<ThermalZone> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut zones: Vec<ThermalZone> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().into_string().ok()?;
            let index: u32 = name.strip_prefix("thermal_zone")?.parse().ok()?;
            let millis: i64 = fs::read_to_string(e.path().join("temp"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            let kind = fs::read_to_string(e.path().join("type")).unwrap_or_default();
            Some(ThermalZone {
                index,
                name: kind.trim().to_owned(),
                celsius: i32::try_from((millis + millis.signum() * 500) / 1000)
                    .unwrap_or(i32::MAX)
                    .max(-274),
            })
        })
        .collect();
    crate::ordering::sort_stably_by_key(&mut zones, |z| u64::from(z.index));
    zones
}

fn read_processes(proc_dir: &Path) -> Vec<Process> {
    let Ok(entries) = fs::read_dir(proc_dir) else {
        return Vec::new();
    };
    // USER_HZ is 100 on every Linux ABI the agent runs on.
    let ticks_per_sec = 100u64;
    let page_kib = 4u64;
    let mut list: Vec<Process> = entries
        .filter_map(|e| {
            let e = e.ok()?;
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            let mut p = parse_stat(pid, &stat, ticks_per_sec)?;
            if let Some(resident) = fs::read_to_string(e.path().join("statm"))
                .ok()
                .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            {
                p.size_kib = u32::try_from(resident * page_kib).unwrap_or(u32::MAX);
            }
            Some(p)
        })
        .collect();
    crate::ordering::sort_stably_by_key(&mut list, |p| u64::from(p.pid));
    list
}

/// One /proc/<pid>/stat line: `pid (comm) state ppid … utime stime … priority nice …`.
pub fn parse_stat(pid: u32, stat: &str, ticks_per_sec: u64) -> Option<Process> {
    // The command may itself contain ") ": it ends at the last one.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat.get(open + 1..close)?.to_owned();
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); utime/stime are fields 14/15, priority 18.
    let state = match rest.first()?.chars().next()? {
        'R' => "Running",
        'S' => "Sleeping",
        'T' | 't' => "Stopped",
        'I' => "Idle",
        'D' => "Uninterruptible",
        'Z' | 'X' => "Zombie",
        _ => "Sleeping",
    };
    let field = |n: usize| -> Option<i64> { rest.get(n - 3)?.parse().ok() };
    let ticks = field(14)?.max(0) as u64 + field(15)?.max(0) as u64;
    let cpu_time_ms = ticks.saturating_mul(1000) / ticks_per_sec.max(1);
    Some(Process {
        pid,
        command,
        size_kib: 0,
        priority: u32::try_from(field(18)?.clamp(0, 99)).unwrap_or(0),
        cpu_time_ms: u32::try_from(cpu_time_ms).unwrap_or(u32::MAX),
        state,
    })
}

fn count_processors(cpuinfo: &str) -> usize {
    cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count()
}

/// TR-181's Architecture value for a machine name (`uname -m`).
pub fn architecture(machine: &str) -> &'static str {
    match machine {
        "x86_64" | "amd64" => "x86_64",
        m if m.starts_with("arm") || m.starts_with("aarch64") => "arm",
        "i386" | "i486" | "i586" | "i686" => "i386",
        "mips" | "mips64" => "mipseb",
        "mipsel" | "mips64el" => "mipsel",
        m if m.starts_with("ppc") || m.starts_with("powerpc") => "powerpc",
        "m68k" => "m68k",
        // The closest the 2.11 enumeration has for anything else is the most common router CPU.
        _ => "arm",
    }
}

/// The running machine's name (`uname -m`).
pub fn machine() -> String {
    // SAFETY: all-zero is a valid utsname; uname only writes into it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid, exclusively borrowed utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    // SAFETY: uname NUL-terminates the field.
    unsafe { std::ffi::CStr::from_ptr(uts.machine.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arp_entries() {
        let text = "IP address       HW type     Flags       HW address            Mask     Device\n\
                    192.168.88.10    0x1         0x2         AA:bb:cc:00:11:22     *        bridge\n\
                    192.168.88.11    0x1         0x0         00:00:00:00:00:00     *        bridge\n";
        let n = parse_arp(text);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].mac, "aa:bb:cc:00:11:22");
        assert!(n[0].active && !n[1].active);
        assert_eq!(n[1].mac, "");
        assert_eq!(n[0].device, "bridge");
    }

    #[test]
    fn ipv4_routes() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0158A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                    eth0\t0058A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = parse_ipv4_routes(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].gateway, Ipv4Addr::new(192, 168, 88, 1));
        assert_eq!(r[0].destination, Ipv4Addr::UNSPECIFIED);
        assert_eq!(r[0].metric, 100);
        assert_eq!(r[1].destination, Ipv4Addr::new(192, 168, 88, 0));
        assert_eq!(r[1].mask, Ipv4Addr::new(255, 255, 255, 0));
        assert!(r[1].up && !r[1].dynamic);
    }

    #[test]
    fn ipv6_routes_leave_out_the_kernels_own() {
        let text = "20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                    00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n\
                    00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n\
                    ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0\n";
        let r = parse_ipv6_routes(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].destination, "2001:db8::".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r[0].prefix_len, 64);
        assert_eq!(r[0].metric, 256);
        assert!(!r[0].from_ra);
        assert_eq!(r[1].next_hop, "fe80::1".parse::<Ipv6Addr>().unwrap());
        assert!(r[1].from_ra);
    }

    #[test]
    fn tcp_sockets() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue\n\
                   0: 0100007F:1D8B 00000000:0000 0A 00000000:00000000\n\
                   1: 0100007F:1D8B 0100007F:D2F0 01 00000000:00000000\n\
                   2: 0100007F:1D8B 0100007F:D2F2 06 00000000:00000000\n";
        let p = parse_tcp(v4);
        assert_eq!(p.len(), 2, "TIME_WAIT is left out");
        assert_eq!(p[0].local, "127.0.0.1:7563".parse().unwrap());
        assert_eq!(p[0].status, "LISTEN");
        assert_eq!(p[1].remote, "127.0.0.1:54000".parse().unwrap());
        let v6 = "  sl  local_address                         remote_address                        st\n\
                   0: 00000000000000000000000001000000:1D8B 00000000000000000000000000000000:0000 0A\n";
        assert_eq!(parse_tcp(v6)[0].local, "[::1]:7563".parse().unwrap());
    }

    #[test]
    fn stat_lines() {
        let line = "1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 1000000 300 18446744073709551615";
        let p = parse_stat(1234, line, 100).unwrap();
        assert_eq!(p.command, "my (odd) cmd");
        assert_eq!(p.state, "Sleeping");
        assert_eq!(p.cpu_time_ms, 3000);
        assert_eq!(p.priority, 20);
        assert_eq!(parse_stat(1, "garbage", 100), None);
    }

    #[test]
    fn resolv_conf_and_architectures() {
        assert_eq!(
            parse_resolv_conf(
                "# x\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\noptions edns0\n"
            ),
            vec![
                "192.0.2.53".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
        assert_eq!(architecture("aarch64"), "arm");
        assert_eq!(architecture("mips"), "mipseb");
        assert_eq!(architecture("x86_64"), "x86_64");
    }

    #[test]
    fn a_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        };
        put("sys/class/thermal/thermal_zone1/temp", "48500\n");
        put("sys/class/thermal/thermal_zone1/type", "cpu-thermal\n");
        put("sys/class/thermal/thermal_zone0/temp", "-1500\n");
        put("sys/class/thermal/thermal_zone0/type", "board\n");
        put(
            "proc/cpuinfo",
            "processor\t: 0\nmodel name\t: x\n\nprocessor\t: 1\n",
        );
        put(
            "proc/42/stat",
            "42 (agent) R 1 42 42 0 -1 0 0 0 0 0 10 5 0 0 20 0 1 0 1 1 1 1",
        );
        put("proc/42/statm", "1000 250 10 1 0 100 0\n");
        put("proc/self/stat", "ignored");
        let t = HostTables::read(dir.path(), "mipsel").unwrap();
        assert_eq!(t.thermal_zones.len(), 2);
        assert_eq!(
            (t.thermal_zones[0].index, t.thermal_zones[0].celsius),
            (0, -2)
        );
        assert_eq!(t.thermal_zones[1].name, "cpu-thermal");
        assert_eq!(t.thermal_zones[1].celsius, 49);
        assert_eq!(t.processors.len(), 2);
        assert_eq!(t.processors[0].architecture, "mipsel");
        assert_eq!(t.processes.len(), 1);
        assert_eq!(t.processes[0].size_kib, 1000);
        assert_eq!(t.processes[0].state, "Running");
        assert!(t.neighbours.is_empty() && t.dns_servers.is_empty());
    }
}
