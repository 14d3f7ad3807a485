//! Device.DNS.Diagnostics.NSLookupDiagnostics: A and AAAA queries for HostName, sent over UDP to
//! DNSServer (or the first `nameserver` of resolv.conf), NumberOfRepetitions times. The messages
//! are built and parsed by `simple-dns` (hickory-proto did the same for 0.15 MB more of a router's
//! flash, BENCHMARKS.md "Footprint"); the socket is tokio's. Each repetition is one
//! `Result.{i}` entry.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use simple_dns::rdata::RData;
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};
use tokio::net::UdpSocket;

/// Where the system's DNS servers are listed.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The NSLookup inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsLookupRequest {
    pub host_name: String,
    /// A server name or address; empty: the system's first DNS server.
    pub dns_server: String,
    pub interface_name: Option<String>,
    pub timeout_ms: u32,
    pub repetitions: u32,
}

/// One repetition's answer (`Result.{i}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsLookupAnswer {
    /// Success, Error_DNSServerNotAvailable, Error_HostNameNotResolved, Error_Timeout or
    /// Error_Other.
    pub status: &'static str,
    /// None, Authoritative or NonAuthoritative.
    pub answer_type: &'static str,
    /// The name the addresses belong to (after CNAMEs), without the trailing dot.
    pub host_name_returned: String,
    pub ip_addresses: Vec<IpAddr>,
    pub dns_server_ip: String,
    /// Milliseconds until both answers arrived (0 without an answer).
    pub response_time_ms: u32,
}

/// The NSLookup results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NsLookupResult {
    /// Complete, Error_DNSServerNotResolved, Error_Internal or Error_Other.
    pub state: &'static str,
    pub success_count: u32,
    pub results: Vec<NsLookupAnswer>,
}

impl NsLookupResult {
    /// A result that measured nothing and ended in `state` (an `Error_*` state).
    pub fn error(state: &'static str) -> NsLookupResult {
        NsLookupResult {
            state,
            success_count: 0,
            results: Vec::new(),
        }
    }
}

/// Most repetitions run (each is a Result row the agent keeps).
const MAX_REPETITIONS: u32 = 32;

/// Runs the lookups; `resolv_conf` is where the system's servers are read when DNSServer is
/// empty. Never fails (errors become the state or a row's Status).
pub async fn run(request: &NsLookupRequest, resolv_conf: impl AsRef<Path>) -> NsLookupResult {
    let Some(server) = dns_server(&request.dns_server, resolv_conf.as_ref()).await else {
        return NsLookupResult::error("Error_DNSServerNotResolved");
    };
    let host_name = request.host_name.trim();
    let host_name = host_name.strip_suffix('.').unwrap_or(host_name);
    let name = match Name::new(host_name) {
        Ok(n) if !host_name.is_empty() && host_name.is_ascii() => n,
        _ => {
            // No name to ask for: every repetition fails the same way.
            return NsLookupResult {
                state: "Complete",
                success_count: 0,
                results: (0..request.repetitions.clamp(1, MAX_REPETITIONS))
                    .map(|_| failed("Error_HostNameNotResolved", server))
                    .collect(),
            };
        }
    };
    let timeout = Duration::from_millis(u64::from(request.timeout_ms.max(1)));
    let mut results = Vec::new();
    for i in 0..request.repetitions.clamp(1, MAX_REPETITIONS) {
        let id_base =
            u16::try_from((u32::from(rand::random::<u16>()) + i * 2) & 0xffff).unwrap_or(0);
        let answer = match lookup(&name, server, request, timeout, id_base).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "nslookup: socket error");
                return NsLookupResult::error("Error_Internal");
            }
        };
        results.push(answer);
    }
    NsLookupResult {
        state: "Complete",
        success_count: u32::try_from(results.iter().filter(|r| r.status == "Success").count())
            .unwrap_or(u32::MAX),
        results,
    }
}

fn failed(status: &'static str, server: SocketAddr) -> NsLookupAnswer {
    NsLookupAnswer {
        status,
        answer_type: "None",
        host_name_returned: String::new(),
        ip_addresses: Vec::new(),
        dns_server_ip: server.ip().to_string(),
        response_time_ms: 0,
    }
}

/// The server to ask: DNSServer (an address, `[v6]:port` / `v4:port`, or a name), else the
/// first `nameserver` of resolv.conf.
async fn dns_server(configured: &str, resolv_conf: &Path) -> Option<SocketAddr> {
    let configured = configured.trim();
    if configured.is_empty() {
        let text = tokio::fs::read_to_string(resolv_conf).await.ok()?;
        return text.lines().find_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
                .and_then(|ip| ip.split('%').next()?.parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
        });
    }
    if let Ok(ip) = configured.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    if let Ok(addr) = configured.parse::<SocketAddr>() {
        return Some(addr);
    }
    tokio::net::lookup_host((configured, 53)).await.ok()?.next()
}

/// One repetition: an A and an AAAA query, answered within `timeout`.
async fn lookup(
    name: &Name<'_>,
    server: SocketAddr,
    request: &NsLookupRequest,
    timeout: Duration,
    id_base: u16,
) -> std::io::Result<NsLookupAnswer> {
    let local: SocketAddr = if server.is_ipv6() {
        "[::]:0".parse().map_err(std::io::Error::other)?
    } else {
        "0.0.0.0:0".parse().map_err(std::io::Error::other)?
    };
    let socket = UdpSocket::bind(local).await?;
    if let Some(device) = request.interface_name.as_deref().filter(|d| !d.is_empty()) {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    let unavailable = |e: &std::io::Error| {
        matches!(
            e.raw_os_error(),
            Some(libc::ECONNREFUSED | libc::ENETUNREACH | libc::EHOSTUNREACH)
        )
    };
    if let Err(e) = socket.connect(server).await {
        if unavailable(&e) {
            return Ok(failed("Error_DNSServerNotAvailable", server));
        }
        return Err(e);
    }
    let ids = [id_base, id_base.wrapping_add(1)];
    let started = Instant::now();
    for (id, record_type) in ids.iter().zip([TYPE::A, TYPE::AAAA]) {
        let bytes = query(*id, name, record_type).map_err(std::io::Error::other)?;
        if let Err(e) = socket.send(&bytes).await {
            if unavailable(&e) {
                return Ok(failed("Error_DNSServerNotAvailable", server));
            }
            return Err(e);
        }
    }
    let deadline = tokio::time::Instant::from_std(started + timeout);
    let mut answers: Vec<Reply> = Vec::new();
    let mut buf = vec![0u8; 4096];
    while answers.len() < ids.len() {
        let received = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
        let n = match received {
            Err(_) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) if unavailable(&e) => {
                return Ok(failed("Error_DNSServerNotAvailable", server));
            }
            Ok(Err(e)) => return Err(e),
        };
        // Anything that is not an answer to one of our two queries is ignored (a late answer
        // to an earlier repetition, garbage).
        let Some(reply) = Reply::parse(&buf[..n]) else {
            continue;
        };
        if ids.contains(&reply.id) && !answers.iter().any(|a| a.id == reply.id) {
            answers.push(reply);
        }
    }
    let elapsed = started.elapsed();
    Ok(interpret(&answers, server, elapsed))
}

/// A query for `name`'s records of `record_type`, recursion desired.
fn query(id: u16, name: &Name<'_>, record_type: TYPE) -> simple_dns::Result<Vec<u8>> {
    let mut packet = Packet::new_query(id);
    packet.set_flags(PacketFlag::RECURSION_DESIRED);
    packet.questions.push(Question::new(
        name.clone(),
        QTYPE::TYPE(record_type),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    packet.build_bytes_vec()
}

/// What one response said, copied out of the receive buffer. Public for the `dns_reply` fuzz
/// target: a datagram from the DNS server is untrusted input.
#[derive(Debug)]
pub struct Reply {
    pub id: u16,
    pub authoritative: bool,
    pub code: RCODE,
    /// Each A or AAAA answer with the name it belongs to.
    pub addresses: Vec<(IpAddr, String)>,
}

impl Reply {
    /// `None` for anything that is not a well-formed DNS response.
    pub fn parse(bytes: &[u8]) -> Option<Reply> {
        let packet = Packet::parse(bytes).ok()?;
        if !packet.has_flags(PacketFlag::RESPONSE) {
            return None;
        }
        let addresses = packet
            .answers
            .iter()
            .filter_map(|record| {
                let ip = match &record.rdata {
                    RData::A(a) => IpAddr::from(a.address.to_be_bytes()),
                    RData::AAAA(a) => IpAddr::from(a.address.to_be_bytes()),
                    _ => return None,
                };
                Some((ip, record.name.to_string()))
            })
            .collect();
        Some(Reply {
            id: packet.id(),
            authoritative: packet.has_flags(PacketFlag::AUTHORITATIVE_ANSWER),
            code: packet.rcode(),
            addresses,
        })
    }
}

/// The row for what came back (zero, one or both answers).
fn interpret(answers: &[Reply], server: SocketAddr, elapsed: Duration) -> NsLookupAnswer {
    if answers.is_empty() {
        return failed("Error_Timeout", server);
    }
    let mut ip_addresses = Vec::new();
    let mut host_name_returned = String::new();
    let mut authoritative = true;
    let mut nxdomain = false;
    let mut refused = false;
    let mut failure = false;
    for reply in answers {
        authoritative &= reply.authoritative;
        match reply.code {
            RCODE::NoError => {}
            RCODE::NameError => nxdomain = true,
            RCODE::Refused => refused = true,
            _ => failure = true,
        }
        for (ip, owner) in &reply.addresses {
            if !ip_addresses.contains(ip) {
                ip_addresses.push(*ip);
            }
            if host_name_returned.is_empty() {
                host_name_returned = owner.trim_end_matches('.').to_owned();
            }
        }
    }
    let status = if !ip_addresses.is_empty() {
        "Success"
    } else if refused {
        "Error_DNSServerNotAvailable"
    } else if nxdomain || !failure {
        "Error_HostNameNotResolved"
    } else {
        "Error_Other"
    };
    NsLookupAnswer {
        status,
        answer_type: if authoritative {
            "Authoritative"
        } else {
            "NonAuthoritative"
        },
        host_name_returned,
        ip_addresses,
        dns_server_ip: server.ip().to_string(),
        response_time_ms: super::whole_ms(elapsed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::{A, CNAME};

    /// A response as a server sends it, read back through [`Reply::parse`] as `lookup` does.
    fn response(id: u16, code: RCODE, aa: bool, records: Vec<ResourceRecord<'_>>) -> Reply {
        let mut m = Packet::new_reply(id);
        if aa {
            m.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
        }
        *m.rcode_mut() = code;
        m.answers = records;
        Reply::parse(&m.build_bytes_vec().unwrap()).unwrap()
    }

    /// The fuzz target's seeds are replies as servers send them (name compression, a CNAME
    /// chain, an SOA in the authority section).
    #[test]
    fn the_fuzz_seeds_parse_as_written() {
        let a = Reply::parse(include_bytes!("../../fuzz/seeds/dns_reply/a-cname")).unwrap();
        assert_eq!(
            (a.id, a.authoritative, a.code),
            (0x1234, false, RCODE::NoError)
        );
        assert_eq!(
            a.addresses,
            [("192.0.2.7".parse().unwrap(), "edge.example.test".to_owned())]
        );
        let aaaa = Reply::parse(include_bytes!(
            "../../fuzz/seeds/dns_reply/aaaa-authoritative"
        ))
        .unwrap();
        assert!(aaaa.authoritative);
        assert_eq!(
            aaaa.addresses[0].0,
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        let nx = Reply::parse(include_bytes!("../../fuzz/seeds/dns_reply/nxdomain-soa")).unwrap();
        assert_eq!((nx.code, nx.addresses.len()), (RCODE::NameError, 0));
        let refused = Reply::parse(include_bytes!("../../fuzz/seeds/dns_reply/refused")).unwrap();
        assert_eq!(refused.code, RCODE::Refused);
    }

    #[test]
    fn a_query_is_not_a_reply_and_garbage_is_ignored() {
        let name = Name::new("www.example.test").unwrap();
        let q = query(7, &name, TYPE::AAAA).unwrap();
        assert!(Reply::parse(&q).is_none());
        assert!(Reply::parse(&q[..q.len() - 1]).is_none());
        assert!(Reply::parse(b"").is_none());
    }

    #[test]
    fn answers_become_rows() {
        let server: SocketAddr = "192.0.2.53:53".parse().unwrap();
        let name = Name::new("www.example.test").unwrap();
        let target = Name::new("edge.example.test").unwrap();
        let a = response(
            1,
            RCODE::NoError,
            false,
            vec![
                ResourceRecord::new(
                    name.clone(),
                    CLASS::IN,
                    60,
                    RData::CNAME(CNAME(target.clone())),
                ),
                ResourceRecord::new(
                    target.clone(),
                    CLASS::IN,
                    60,
                    RData::A(A {
                        address: u32::from("192.0.2.7".parse::<std::net::Ipv4Addr>().unwrap()),
                    }),
                ),
            ],
        );
        let aaaa = response(2, RCODE::NoError, false, Vec::new());
        let row = interpret(&[a, aaaa], server, Duration::from_micros(2_400));
        assert_eq!(row.status, "Success");
        assert_eq!(row.answer_type, "NonAuthoritative");
        assert_eq!(row.host_name_returned, "edge.example.test");
        assert_eq!(row.ip_addresses, ["192.0.2.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(row.dns_server_ip, "192.0.2.53");
        assert_eq!(row.response_time_ms, 2);

        let nx = response(3, RCODE::NameError, true, Vec::new());
        let row = interpret(&[nx], server, Duration::from_millis(1));
        assert_eq!(
            (row.status, row.answer_type),
            ("Error_HostNameNotResolved", "Authoritative")
        );
        assert_eq!(
            interpret(&[], server, Duration::ZERO).status,
            "Error_Timeout"
        );
        let refused = response(4, RCODE::Refused, false, Vec::new());
        assert_eq!(
            interpret(&[refused], server, Duration::ZERO).status,
            "Error_DNSServerNotAvailable"
        );
    }

    #[tokio::test]
    async fn the_server_comes_from_resolv_conf_when_none_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("resolv.conf");
        std::fs::write(
            &conf,
            "# comment\nsearch lan\nnameserver fe80::1%eth0\nnameserver 192.0.2.1\n",
        )
        .unwrap();
        assert_eq!(
            dns_server("", &conf).await,
            Some("[fe80::1]:53".parse().unwrap())
        );
        assert_eq!(
            dns_server("198.51.100.1", &conf).await,
            Some("198.51.100.1:53".parse().unwrap())
        );
        assert_eq!(
            dns_server("127.0.0.1:5353", &conf).await,
            Some("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(dns_server("nowhere.invalid", &conf).await, None);
        assert_eq!(dns_server("", &dir.path().join("missing")).await, None);
    }

    #[tokio::test]
    async fn a_closed_port_is_an_unavailable_server() {
        // A port nobody listens on: the kernel answers with port unreachable.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let request = NsLookupRequest {
            host_name: "www.example.test".into(),
            dns_server: format!("127.0.0.1:{port}"),
            interface_name: None,
            timeout_ms: 2000,
            repetitions: 2,
        };
        let result = run(&request, RESOLV_CONF).await;
        assert_eq!(result.state, "Complete");
        assert_eq!(result.success_count, 0);
        assert_eq!(result.results.len(), 2);
        assert!(
            result
                .results
                .iter()
                .all(|r| r.status == "Error_DNSServerNotAvailable"),
            "{result:?}"
        );
    }
}
