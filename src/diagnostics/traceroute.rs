//! Device.IP.Diagnostics.TraceRoute: UDP probes with a rising TTL (hop limit), as `tracepath`
//! does it — the ICMP answers (time exceeded from each router, port unreachable from the
//! destination) come back on the probing socket's error queue (`IP_RECVERR` /
//! `IPV6_RECVERR`), so no raw socket and no privilege is needed.
//!
//! Each probe goes to its own destination port (33434 upwards), which the error message carries
//! back: a late answer to an earlier probe is never taken for the current one.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::IpVersion;
use super::net::{ResolveError, resolve};

/// The traditional first traceroute port.
const BASE_PORT: u16 = 33434;
/// Most hops TR-181 allows (MaxHopCount is 1..64).
const MAX_HOPS: u32 = 64;

/// The TraceRoute inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRouteRequest {
    pub host: String,
    /// The host interface (resolved from the TR-181 Interface path), or the routing table's.
    pub interface_name: Option<String>,
    pub ip_version: IpVersion,
    /// Probes per hop, 1..3.
    pub tries: u32,
    /// How long each probe waits for its answer, milliseconds.
    pub timeout_ms: u32,
    /// UDP payload bytes.
    pub data_block_size: u32,
    pub dscp: u32,
    pub max_hops: u32,
}

/// One hop of the route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteHop {
    /// The hop's name, or its address (empty when the hop never answered).
    pub host: String,
    /// The last address that answered for this hop (empty when none did).
    pub address: String,
    /// The ICMP code of the hop's answer.
    pub error_code: u32,
    /// One round trip per try, milliseconds (at least 1); 0 for a try without an answer.
    pub rtts_ms: Vec<u32>,
}

/// The TraceRoute results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRouteResult {
    /// Complete, Error_CannotResolveHostName, Error_NoRouteToHost, Error_MaxHopCountExceeded,
    /// Error_Internal or Error_Other.
    pub state: &'static str,
    pub ip_address_used: String,
    /// The destination's average round trip, milliseconds (0 when it was not reached).
    pub response_time_ms: u32,
    pub hops: Vec<RouteHop>,
}

impl TraceRouteResult {
    /// A result that measured nothing and ended in `state` (an `Error_*` state).
    pub fn error(state: &'static str) -> TraceRouteResult {
        TraceRouteResult {
            state,
            ip_address_used: String::new(),
            response_time_ms: 0,
            hops: Vec::new(),
        }
    }
}

/// What answered one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    from: IpAddr,
    rtt: Duration,
    kind: AnswerKind,
    code: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerKind {
    /// A router on the way: TTL exceeded in transit.
    TimeExceeded,
    /// The destination: port unreachable, or a UDP reply from a port that is open.
    Reached,
    /// Another ICMP error (host/network unreachable, administratively prohibited): the route
    /// ends here.
    Unreachable,
}

/// Runs the trace; never fails (errors become an Error_* state).
pub async fn run(request: &TraceRouteRequest) -> TraceRouteResult {
    let destination = match resolve(&request.host, request.ip_version).await {
        Ok(ip) => ip,
        Err(ResolveError::Invalid | ResolveError::NotFound) => {
            return TraceRouteResult::error("Error_CannotResolveHostName");
        }
    };
    let probe = match Prober::open(destination, request) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "traceroute: cannot open the probing socket");
            return TraceRouteResult::error("Error_Internal");
        }
    };
    probe.trace(request).await
}

struct Prober {
    fd: AsyncFd<OwnedFd>,
    destination: IpAddr,
    payload: Vec<u8>,
}

impl Prober {
    fn open(destination: IpAddr, request: &TraceRouteRequest) -> io::Result<Prober> {
        let v6 = destination.is_ipv6();
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2) call; the descriptor is owned right below.
        let raw = unsafe {
            libc::socket(
                family,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_UDP,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let raw = fd.as_raw_fd();
        if v6 {
            set_int(raw, libc::IPPROTO_IPV6, libc::IPV6_RECVERR, 1)?;
            // Large probes are fragmented rather than refused.
            set_int(
                raw,
                libc::IPPROTO_IPV6,
                libc::IPV6_MTU_DISCOVER,
                libc::IPV6_PMTUDISC_DONT,
            )?;
        } else {
            set_int(raw, libc::IPPROTO_IP, libc::IP_RECVERR, 1)?;
            set_int(
                raw,
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                libc::IP_PMTUDISC_DONT,
            )?;
        }
        let tos = i32::try_from((request.dscp & 0x3f) << 2).unwrap_or(0);
        if tos != 0 {
            if v6 {
                set_int(raw, libc::IPPROTO_IPV6, libc::IPV6_TCLASS, tos)?;
            } else {
                set_int(raw, libc::IPPROTO_IP, libc::IP_TOS, tos)?;
            }
        }
        if let Some(device) = request.interface_name.as_deref().filter(|d| !d.is_empty()) {
            bind_device(raw, device)?;
        }
        let size = usize::try_from(request.data_block_size.clamp(1, 65_000)).unwrap_or(1);
        // SAFETY: `fd` is an open socket owned by the AsyncFd from here on, so it stays open and
        // is the same descriptor for as long as it is registered.
        let fd =
            unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::ERROR) }
                .map_err(io::Error::from)?;
        Ok(Prober {
            fd,
            destination,
            payload: vec![0x40; size],
        })
    }

    async fn trace(&self, request: &TraceRouteRequest) -> TraceRouteResult {
        let tries = request.tries.clamp(1, 3);
        let timeout = Duration::from_millis(u64::from(request.timeout_ms.max(1)));
        let max_hops = request.max_hops.clamp(1, MAX_HOPS);
        let mut hops = Vec::new();
        let mut ip_address_used = String::new();
        let mut port = BASE_PORT;
        for ttl in 1..=max_hops {
            if let Err(e) = self.set_ttl(ttl) {
                tracing::warn!(error = %e, "traceroute: cannot set the TTL");
                return TraceRouteResult::error("Error_Internal");
            }
            let mut hop = RouteHop::default();
            let mut last: Option<Answer> = None;
            for _ in 0..tries {
                port = port.wrapping_add(1).max(BASE_PORT);
                match self.probe(port, timeout).await {
                    Ok(Some(answer)) => {
                        hop.rtts_ms.push(super::whole_ms(answer.rtt));
                        last = Some(answer);
                    }
                    Ok(None) => hop.rtts_ms.push(0),
                    Err(e) => {
                        let state = match e.raw_os_error() {
                            Some(libc::ENETUNREACH | libc::EHOSTUNREACH) => "Error_NoRouteToHost",
                            _ => "Error_Other",
                        };
                        tracing::info!(error = %e, state, "traceroute: a probe could not be sent");
                        return TraceRouteResult {
                            state,
                            ip_address_used,
                            response_time_ms: 0,
                            hops,
                        };
                    }
                }
                if ip_address_used.is_empty() {
                    ip_address_used = self.local_address().unwrap_or_default();
                }
            }
            let Some(answer) = last else {
                hops.push(hop);
                continue;
            };
            hop.address = answer.from.to_string();
            hop.host = hop.address.clone();
            hop.error_code = u32::from(answer.code);
            let answered: Vec<u32> = hop.rtts_ms.iter().copied().filter(|&r| r > 0).collect();
            hops.push(hop);
            match answer.kind {
                AnswerKind::TimeExceeded => {}
                AnswerKind::Reached => {
                    let average = answered.iter().map(|&r| u64::from(r)).sum::<u64>()
                        / answered.len().max(1) as u64;
                    return TraceRouteResult {
                        state: "Complete",
                        ip_address_used,
                        response_time_ms: u32::try_from(average).unwrap_or(u32::MAX).max(1),
                        hops,
                    };
                }
                AnswerKind::Unreachable => {
                    return TraceRouteResult {
                        state: "Error_NoRouteToHost",
                        ip_address_used,
                        response_time_ms: 0,
                        hops,
                    };
                }
            }
        }
        TraceRouteResult {
            state: "Error_MaxHopCountExceeded",
            ip_address_used,
            response_time_ms: 0,
            hops,
        }
    }

    fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        let ttl = i32::try_from(ttl).unwrap_or(64);
        let raw = self.fd.as_raw_fd();
        if self.destination.is_ipv6() {
            set_int(raw, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, ttl)
        } else {
            set_int(raw, libc::IPPROTO_IP, libc::IP_TTL, ttl)
        }
    }

    fn local_address(&self) -> Option<String> {
        // The probing socket is not connected (each probe has its own port), so it has no
        // source address of its own; the routing table's choice is the one the probes used.
        super::net::local_address_toward(self.destination).map(|ip| ip.to_string())
    }

    /// Sends one probe to `port` and waits for its answer; `Ok(None)` when none came in time.
    async fn probe(&self, port: u16, timeout: Duration) -> io::Result<Option<Answer>> {
        let target = SocketAddr::new(self.destination, port);
        let sent_at = Instant::now();
        send_to(self.fd.as_raw_fd(), &self.payload, target)?;
        let deadline = tokio::time::Instant::from_std(sent_at + timeout);
        loop {
            let ready = tokio::time::timeout_at(
                deadline,
                self.fd.ready(Interest::READABLE | Interest::ERROR),
            )
            .await;
            let Ok(ready) = ready else {
                return Ok(None);
            };
            let mut guard = ready?;
            // Errors first: they carry the routers' answers.
            loop {
                match read_error(self.fd.as_raw_fd()) {
                    Ok(Some(e)) if e.original_port == port => {
                        return Ok(Some(Answer {
                            from: e.offender.unwrap_or(self.destination),
                            rtt: sent_at.elapsed(),
                            kind: e.kind,
                            code: e.code,
                        }));
                    }
                    // An answer to an earlier probe, or a local error without an ICMP origin.
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(e) => return Err(e),
                }
            }
            // A datagram back: the destination has a service on that port.
            if let Some(from) = read_datagram(self.fd.as_raw_fd())? {
                if from.ip() == self.destination {
                    return Ok(Some(Answer {
                        from: from.ip(),
                        rtt: sent_at.elapsed(),
                        kind: AnswerKind::Reached,
                        code: 0,
                    }));
                }
                continue;
            }
            guard.clear_ready();
        }
    }
}

/// One message of the socket's error queue.
struct QueuedError {
    /// The destination port of the probe it answers.
    original_port: u16,
    offender: Option<IpAddr>,
    kind: AnswerKind,
    code: u8,
}

const SO_EE_ORIGIN_ICMP: u8 = 2;
const SO_EE_ORIGIN_ICMP6: u8 = 3;

/// Reads one message from the error queue; `Ok(None)` when it is empty.
fn read_error(fd: RawFd) -> io::Result<Option<QueuedError>> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut data = [0u8; 512];
    let mut control = [0u64; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: all-zero is a valid msghdr; its pointers are filled in below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = std::ptr::addr_of_mut!(name).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: every buffer msg points to lives until the call returns.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(e),
        };
    }
    let original_port = sockaddr_to_ip(&name).map_or(0, |a| a.port());
    // SAFETY: msg was filled by recvmsg; CMSG_* walk the control buffer it describes.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: non-null cmsg inside the control buffer.
        let header = unsafe { &*cmsg };
        let recverr = (header.cmsg_level == libc::IPPROTO_IP
            && header.cmsg_type == libc::IP_RECVERR)
            || (header.cmsg_level == libc::IPPROTO_IPV6 && header.cmsg_type == libc::IPV6_RECVERR);
        if recverr {
            // SAFETY: an IP_RECVERR / IPV6_RECVERR message holds a sock_extended_err followed by
            // the offender's sockaddr (SO_EE_OFFENDER), inside the control buffer.
            let data = unsafe { libc::CMSG_DATA(cmsg) };
            let ee: libc::sock_extended_err =
                unsafe { std::ptr::read_unaligned(data.cast::<libc::sock_extended_err>()) };
            // SAFETY: as above; the kernel always appends a sockaddr (family 0 when unknown).
            let offender_ptr = unsafe { data.add(size_of::<libc::sock_extended_err>()) };
            let offender = unsafe { read_sockaddr(offender_ptr) };
            let kind = match (ee.ee_origin, ee.ee_type, ee.ee_code) {
                (SO_EE_ORIGIN_ICMP, 11, _) | (SO_EE_ORIGIN_ICMP6, 3, _) => AnswerKind::TimeExceeded,
                (SO_EE_ORIGIN_ICMP, 3, 3) | (SO_EE_ORIGIN_ICMP6, 1, 4) => AnswerKind::Reached,
                (SO_EE_ORIGIN_ICMP | SO_EE_ORIGIN_ICMP6, _, _) => AnswerKind::Unreachable,
                // A locally detected error (no route, message too long): not an answer.
                _ => {
                    return Ok(Some(QueuedError {
                        original_port: 0,
                        offender: None,
                        kind: AnswerKind::Unreachable,
                        code: 0,
                    }));
                }
            };
            return Ok(Some(QueuedError {
                original_port,
                offender,
                kind,
                code: ee.ee_code,
            }));
        }
        // SAFETY: CMSG_NXTHDR walks within the buffer msg describes.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok(Some(QueuedError {
        original_port: 0,
        offender: None,
        kind: AnswerKind::Unreachable,
        code: 0,
    }))
}

/// Reads one ordinary datagram; `Ok(None)` when none is waiting.
fn read_datagram(fd: RawFd) -> io::Result<Option<SocketAddr>> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut name: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let mut buf = [0u8; 2048];
    // SAFETY: buffers valid for the call.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
            std::ptr::addr_of_mut!(name).cast(),
            &mut len,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            // ECONNREFUSED and friends are reported through the error queue as well.
            _ if e.raw_os_error().is_some_and(|c| c != libc::EBADF) => Ok(None),
            _ => Err(e),
        };
    }
    Ok(sockaddr_to_ip(&name))
}

fn send_to(fd: RawFd, payload: &[u8], target: SocketAddr) -> io::Result<()> {
    let (storage, len) = to_sockaddr(target);
    // SAFETY: payload and storage are valid for the call; len is storage's used size.
    let n = unsafe {
        libc::sendto(
            fd,
            payload.as_ptr().cast(),
            payload.len(),
            0,
            std::ptr::addr_of!(storage).cast(),
            len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: value is a live i32 of the size passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SO_BINDTODEVICE.
pub(crate) fn bind_device(fd: RawFd, device: &str) -> io::Result<()> {
    // SAFETY: the name bytes are valid for the length passed.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            device.as_ptr().cast(),
            device.len() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn to_sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*a.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

fn sockaddr_to_ip(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    // SAFETY: storage is a valid, fully initialised sockaddr_storage.
    unsafe { read_sockaddr(std::ptr::addr_of!(*storage).cast()) }.and_then(|ip| {
        let port = match i32::from(storage.ss_family) {
            libc::AF_INET => {
                // SAFETY: the family says it is a sockaddr_in.
                let sin: libc::sockaddr_in =
                    unsafe { std::ptr::read_unaligned(std::ptr::addr_of!(*storage).cast()) };
                u16::from_be(sin.sin_port)
            }
            libc::AF_INET6 => {
                // SAFETY: the family says it is a sockaddr_in6.
                let sin6: libc::sockaddr_in6 =
                    unsafe { std::ptr::read_unaligned(std::ptr::addr_of!(*storage).cast()) };
                u16::from_be(sin6.sin6_port)
            }
            _ => return None,
        };
        Some(SocketAddr::new(ip, port))
    })
}

/// The address in a sockaddr of family AF_INET or AF_INET6.
///
/// # Safety
/// `ptr` points to a sockaddr valid for its family's size.
unsafe fn read_sockaddr(ptr: *const u8) -> Option<IpAddr> {
    // SAFETY: sa_family leads every sockaddr; read unaligned (control buffers promise nothing).
    let family = unsafe { std::ptr::read_unaligned(ptr.cast::<libc::sa_family_t>()) };
    match i32::from(family) {
        libc::AF_INET => {
            // SAFETY: per the contract, a sockaddr_in.
            let sin: libc::sockaddr_in = unsafe { std::ptr::read_unaligned(ptr.cast()) };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: per the contract, a sockaddr_in6.
            let sin6: libc::sockaddr_in6 = unsafe { std::ptr::read_unaligned(ptr.cast()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(match ip.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(ip),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: &str) -> TraceRouteRequest {
        TraceRouteRequest {
            host: host.into(),
            interface_name: None,
            ip_version: IpVersion::Any,
            tries: 2,
            timeout_ms: 1000,
            data_block_size: 38,
            dscp: 0,
            max_hops: 5,
        }
    }

    #[tokio::test]
    async fn the_loopback_address_is_one_hop_away() {
        let result = run(&request("127.0.0.1")).await;
        assert_eq!(result.state, "Complete", "{result:?}");
        assert_eq!(result.hops.len(), 1);
        assert_eq!(result.hops[0].address, "127.0.0.1");
        assert_eq!(result.hops[0].rtts_ms.len(), 2);
        assert!(result.hops[0].rtts_ms.iter().all(|&r| r >= 1));
        assert_eq!(result.ip_address_used, "127.0.0.1");
        assert!(result.response_time_ms >= 1);
    }

    #[tokio::test]
    async fn ipv6_loopback_when_the_host_has_it() {
        if std::net::UdpSocket::bind("[::1]:0").is_err() {
            println!("SKIPPED: this host has no IPv6 loopback");
            return;
        }
        let result = run(&request("::1")).await;
        assert_eq!(result.state, "Complete", "{result:?}");
        assert_eq!(result.hops[0].address, "::1");
    }

    #[tokio::test]
    async fn an_unresolvable_host_is_reported() {
        for host in ["", "-x", "nowhere.invalid"] {
            assert_eq!(
                run(&request(host)).await.state,
                "Error_CannotResolveHostName",
                "{host:?}"
            );
        }
        let mut v6_only = request("127.0.0.1");
        v6_only.ip_version = IpVersion::V6;
        assert_eq!(run(&v6_only).await.state, "Error_CannotResolveHostName");
    }
}
