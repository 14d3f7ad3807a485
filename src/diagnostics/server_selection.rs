//! Device.IP.Diagnostics.ServerSelectionDiagnostics: ping every host of HostList
//! NumberOfRepetitions times — ICMP through the system `ping`, or UDP echo (RFC 862; a HostList
//! entry may name its port as `host:port` or `[v6]:port`, the echo port 7 otherwise) — and name
//! the one with the lowest average round trip.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::IpVersion;
use super::ipping::{PingRequest, ping_replies};
use super::net::{ResolveError, local_address_toward, resolve};
use super::udp_echo::ECHO_PLUS_HEADER;

/// The echo service's port (RFC 862).
pub const ECHO_PORT: u16 = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionProtocol {
    Icmp,
    UdpEcho,
}

/// The ServerSelection inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSelectionRequest {
    pub protocol: SelectionProtocol,
    pub hosts: Vec<String>,
    pub repetitions: u32,
    pub timeout_ms: u32,
    pub interface_name: Option<String>,
    pub ip_version: IpVersion,
}

/// The ServerSelection results; times in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSelectionResult {
    /// Completed, Error_CannotResolveHostName, Error_Internal or Error_Other.
    pub state: &'static str,
    /// The HostList entry with the lowest average (empty when no host answered).
    pub fastest_host: String,
    pub minimum_us: u32,
    pub average_us: u32,
    pub maximum_us: u32,
    pub ip_address_used: String,
}

impl ServerSelectionResult {
    /// A result that measured nothing and ended in `state` (an `Error_*` state).
    pub fn error(state: &'static str) -> ServerSelectionResult {
        ServerSelectionResult {
            state,
            fastest_host: String::new(),
            minimum_us: 0,
            average_us: 0,
            maximum_us: 0,
            ip_address_used: String::new(),
        }
    }
}

/// One host's round trips.
#[derive(Debug, Clone, PartialEq)]
struct Measured {
    host: String,
    address: IpAddr,
    rtts: Vec<Duration>,
}

/// Runs the test; never fails.
pub async fn run(request: &ServerSelectionRequest) -> ServerSelectionResult {
    let hosts: Vec<&str> = request
        .hosts
        .iter()
        .map(|h| h.trim())
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        return ServerSelectionResult::error("Error_CannotResolveHostName");
    }
    let mut measured = Vec::new();
    let mut resolved_any = false;
    for host in hosts {
        let one = match request.protocol {
            SelectionProtocol::Icmp => icmp(host, request).await,
            SelectionProtocol::UdpEcho => udp_echo(host, request).await,
        };
        match one {
            Ok(m) => {
                resolved_any = true;
                measured.push(m);
            }
            Err("Error_CannotResolveHostName") => {}
            Err(state) => return ServerSelectionResult::error(state),
        }
    }
    if !resolved_any {
        return ServerSelectionResult::error("Error_CannotResolveHostName");
    }
    let Some(fastest) = measured
        .iter()
        .filter(|m| !m.rtts.is_empty())
        .min_by_key(|m| average(&m.rtts))
    else {
        // Nobody answered: completed, with every result zero (TR-181).
        return ServerSelectionResult::error("Completed");
    };
    let micros = |d: Duration| super::whole_us(d);
    ServerSelectionResult {
        state: "Completed",
        fastest_host: fastest.host.clone(),
        minimum_us: fastest.rtts.iter().copied().min().map_or(0, micros),
        average_us: micros(average(&fastest.rtts)),
        maximum_us: fastest.rtts.iter().copied().max().map_or(0, micros),
        ip_address_used: local_address_toward(fastest.address)
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
    }
}

fn average(rtts: &[Duration]) -> Duration {
    let total: Duration = rtts.iter().sum();
    total / u32::try_from(rtts.len().max(1)).unwrap_or(u32::MAX)
}

async fn icmp(host: &str, request: &ServerSelectionRequest) -> Result<Measured, &'static str> {
    let address = resolve(host, request.ip_version)
        .await
        .map_err(|_| "Error_CannotResolveHostName")?;
    let ping = PingRequest {
        host: address.to_string(),
        interface_name: request.interface_name.clone(),
        repetitions: request.repetitions.max(1),
        timeout_ms: request.timeout_ms.max(1),
        data_block_size: 56,
        dscp: 0,
        ip_version: request.ip_version,
    };
    let parsed = ping_replies(&ping).await?;
    Ok(Measured {
        host: host.to_owned(),
        address,
        rtts: parsed
            .rtts_ms
            .iter()
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
            .collect(),
    })
}

/// `host`, `host:port`, `v4:port` or `[v6]:port`.
fn split_port(entry: &str) -> (&str, u16) {
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        // Borrowing the host part back out of the entry keeps one code path below.
        let port = addr.port();
        let host = entry
            .rsplit_once(':')
            .map_or(entry, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        return (host, port);
    }
    match entry.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(p) => (host, p),
            Err(_) => (entry, ECHO_PORT),
        },
        _ => (entry, ECHO_PORT),
    }
}

async fn udp_echo(entry: &str, request: &ServerSelectionRequest) -> Result<Measured, &'static str> {
    let (host, port) = split_port(entry);
    let address = match resolve(host, request.ip_version).await {
        Ok(a) => a,
        Err(ResolveError::Invalid | ResolveError::NotFound) => {
            return Err("Error_CannotResolveHostName");
        }
    };
    let target = SocketAddr::new(address, port);
    let local: SocketAddr = if address.is_ipv6() {
        "[::]:0".parse().map_err(|_| "Error_Internal")?
    } else {
        "0.0.0.0:0".parse().map_err(|_| "Error_Internal")?
    };
    let socket = UdpSocket::bind(local).await.map_err(|_| "Error_Internal")?;
    if let Some(device) = request.interface_name.as_deref().filter(|d| !d.is_empty()) {
        socket
            .bind_device(Some(device.as_bytes()))
            .map_err(|_| "Error_Internal")?;
    }
    if socket.connect(target).await.is_err() {
        // No route: the host simply never answers.
        return Ok(Measured {
            host: entry.to_owned(),
            address,
            rtts: Vec::new(),
        });
    }
    let timeout = Duration::from_millis(u64::from(request.timeout_ms.max(1)));
    let mut rtts = Vec::new();
    let mut buf = [0u8; 64];
    for seq in 0..request.repetitions.max(1) {
        let probe = selection_probe(seq);
        let sent = Instant::now();
        if socket.send(&probe).await.is_err() {
            continue;
        }
        let deadline = tokio::time::Instant::from_std(sent + timeout);
        loop {
            match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Ok(Ok(n)) if is_echo_of(&probe, &buf[..n]) => {
                    rtts.push(sent.elapsed());
                    break;
                }
                // A late echo of an earlier probe.
                Ok(Ok(_)) => continue,
                // Port unreachable, or the wait is over.
                Ok(Err(_)) | Err(_) => break,
            }
        }
    }
    Ok(Measured {
        host: entry.to_owned(),
        address,
        rtts,
    })
}

/// A probe shaped as a UDP Echo Plus packet (TR-143 A.1.2): TestGenSN (the sequence number) in
/// the first four bytes, the rest of the 20-byte header zero, then a tag. A plain echo server
/// (RFC 862) sends it back unchanged; an Echo Plus server, such as TR-143 test servers and the
/// agent's own UDPEchoConfig responder, rewrites the header after TestGenSN, so an answer is
/// recognised by its length, its TestGenSN and its tag.
fn selection_probe(seq: u32) -> Vec<u8> {
    let mut probe = vec![0u8; ECHO_PLUS_HEADER];
    probe[..4].copy_from_slice(&seq.to_be_bytes());
    probe.extend_from_slice(PROBE_TAG);
    probe
}

const PROBE_TAG: &[u8] = b"tr069-selection";

fn is_echo_of(probe: &[u8], answer: &[u8]) -> bool {
    answer.len() == probe.len()
        && answer[..4] == probe[..4]
        && answer[ECHO_PLUS_HEADER..] == probe[ECHO_PLUS_HEADER..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_list_entries_may_carry_a_port() {
        assert_eq!(split_port("echo.example"), ("echo.example", 7));
        assert_eq!(split_port("echo.example:7007"), ("echo.example", 7007));
        assert_eq!(split_port("192.0.2.1:9"), ("192.0.2.1", 9));
        assert_eq!(split_port("[2001:db8::1]:9"), ("2001:db8::1", 9));
        assert_eq!(split_port("2001:db8::1"), ("2001:db8::1", 7));
    }

    /// A UDP echo server on loopback that answers after `delay`.
    async fn echo_server(delay: Duration) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                tokio::time::sleep(delay).await;
                let _ = socket.send_to(&buf[..n], from).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn the_fastest_echo_server_wins() {
        let slow = echo_server(Duration::from_millis(60)).await;
        let fast = echo_server(Duration::ZERO).await;
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let request = ServerSelectionRequest {
            protocol: SelectionProtocol::UdpEcho,
            hosts: vec![
                slow.to_string(),
                fast.to_string(),
                silent.local_addr().unwrap().to_string(),
                "nowhere.invalid".into(),
            ],
            repetitions: 3,
            timeout_ms: 500,
            interface_name: None,
            ip_version: IpVersion::Any,
        };
        let result = run(&request).await;
        assert_eq!(result.state, "Completed", "{result:?}");
        assert_eq!(result.fastest_host, fast.to_string());
        assert!(result.minimum_us >= 1);
        assert!(result.minimum_us <= result.average_us && result.average_us <= result.maximum_us);
        assert_eq!(result.ip_address_used, "127.0.0.1");
    }

    #[tokio::test]
    async fn an_echo_plus_server_is_measured_too() {
        // The agent's own UDPEchoConfig responder with Echo Plus on rewrites the header of
        // every packet it answers; GenieACS run 3 found ServerSelection blind to it.
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let (tx, rx) =
            tokio::sync::watch::channel(Some(crate::diagnostics::udp_echo::UdpEchoConfig {
                interface_name: None,
                source: None,
                port,
                echo_plus: true,
            }));
        let server = tokio::spawn(crate::diagnostics::udp_echo::serve(rx, |_| {}));
        let entry = format!("127.0.0.1:{port}");
        let request = ServerSelectionRequest {
            protocol: SelectionProtocol::UdpEcho,
            hosts: vec![entry.clone()],
            repetitions: 3,
            timeout_ms: 500,
            interface_name: None,
            ip_version: IpVersion::Any,
        };
        // The responder binds asynchronously: run until it answers.
        let mut result = run(&request).await;
        for _ in 0..20 {
            if !result.fastest_host.is_empty() {
                break;
            }
            result = run(&request).await;
        }
        assert_eq!(result.state, "Completed", "{result:?}");
        assert_eq!(result.fastest_host, entry);
        assert!(result.minimum_us <= result.average_us && result.average_us <= result.maximum_us);
        tx.send(None).unwrap();
        server.await.unwrap();
    }

    #[test]
    fn an_answer_is_its_probe_up_to_the_echo_plus_fields() {
        let probe = selection_probe(7);
        let mut plus = probe.clone();
        crate::diagnostics::udp_echo::fill_echo_plus(&mut plus, 1, 2, 3, 0);
        assert!(is_echo_of(&probe, &probe));
        assert!(is_echo_of(&probe, &plus));
        assert!(
            !is_echo_of(&probe, &selection_probe(8)),
            "another probe's echo"
        );
        assert!(!is_echo_of(&probe, &probe[..probe.len() - 1]));
        let mut other = probe.clone();
        *other.last_mut().unwrap() ^= 1;
        assert!(!is_echo_of(&probe, &other));
    }

    #[tokio::test]
    async fn nothing_resolvable_is_an_error() {
        let request = ServerSelectionRequest {
            protocol: SelectionProtocol::UdpEcho,
            hosts: vec!["nowhere.invalid".into(), " ".into()],
            repetitions: 1,
            timeout_ms: 100,
            interface_name: None,
            ip_version: IpVersion::Any,
        };
        assert_eq!(run(&request).await.state, "Error_CannotResolveHostName");
    }
}
