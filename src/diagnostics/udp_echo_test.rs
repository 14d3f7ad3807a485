//! Device.IP.Diagnostics.UDPEchoDiagnostics (TR-143 A.1): NumberOfRepetitions UDP Echo Plus
//! packets to Host:Port, one every InterTransmissionTime, each answered within Timeout or counted
//! as a failure. The packet carries TestGenSN in its first four bytes; an Echo Plus server fills
//! in the rest of the header (a plain echo server returns it as sent).

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;

use super::IpVersion;
use super::net::resolve;
use super::udp_echo::ECHO_PLUS_HEADER;

/// The most IndividualPacketResult rows kept (UDPEchoDiagnosticsMaxResults).
pub const MAX_RESULTS: u32 = 100;

/// The UDPEchoDiagnostics inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpEchoTestRequest {
    pub host: String,
    pub port: u16,
    pub interface_name: Option<String>,
    pub ip_version: IpVersion,
    pub repetitions: u32,
    pub timeout_ms: u32,
    pub data_block_size: u32,
    pub dscp: u32,
    pub inter_transmission_ms: u32,
    pub individual_results: bool,
}

/// One packet's fate (IndividualPacketResult).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoPacket {
    pub success: bool,
    pub sent: SystemTime,
    pub received: Option<SystemTime>,
    pub gen_sn: u32,
    pub resp_sn: u32,
    pub resp_rcv_timestamp: u32,
    pub resp_reply_timestamp: u32,
    pub resp_reply_failure_count: u32,
}

/// The UDPEchoDiagnostics results; times in microseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpEchoTestResult {
    /// Completed, Error_CannotResolveHostName, Error_Internal or Error_Other.
    pub state: &'static str,
    pub ip_address_used: String,
    pub success_count: u32,
    pub failure_count: u32,
    pub average_us: u32,
    pub minimum_us: u32,
    pub maximum_us: u32,
    /// Empty unless EnableIndividualPacketResults (at most [`MAX_RESULTS`]).
    pub packets: Vec<EchoPacket>,
}

impl UdpEchoTestResult {
    /// A result that measured nothing and ended in `state` (an `Error_*` state).
    pub fn error(state: &'static str) -> UdpEchoTestResult {
        UdpEchoTestResult {
            state,
            ip_address_used: String::new(),
            success_count: 0,
            failure_count: 0,
            average_us: 0,
            minimum_us: 0,
            maximum_us: 0,
            packets: Vec::new(),
        }
    }
}

/// Runs the test; never fails.
pub async fn run(request: &UdpEchoTestRequest) -> UdpEchoTestResult {
    let Ok(address) = resolve(&request.host, request.ip_version).await else {
        return UdpEchoTestResult::error("Error_CannotResolveHostName");
    };
    let target = SocketAddr::new(address, request.port);
    let socket = match open(target, request).await {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(error = %e, %target, "UDP echo test: cannot reach the server");
            return UdpEchoTestResult::error("Error_Other");
        }
    };
    let ip_address_used = socket
        .local_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let repetitions = request.repetitions.max(1);
    let size = usize::try_from(
        request
            .data_block_size
            .clamp(ECHO_PLUS_HEADER as u32, 65_000),
    )
    .unwrap_or(ECHO_PLUS_HEADER);
    let timeout = Duration::from_millis(u64::from(request.timeout_ms.max(1)));
    let gap = Duration::from_millis(u64::from(request.inter_transmission_ms.max(1)));
    let mut packets: Vec<EchoPacket> = Vec::new();
    let mut rtts: Vec<Duration> = Vec::new();
    let mut buf = vec![0u8; 65_536];
    for sn in 1..=repetitions {
        let mut packet = vec![0u8; size];
        packet[..4].copy_from_slice(&sn.to_be_bytes());
        let started = Instant::now();
        let sent = SystemTime::now();
        let mut result = EchoPacket {
            success: false,
            sent,
            received: None,
            gen_sn: sn,
            resp_sn: 0,
            resp_rcv_timestamp: 0,
            resp_reply_timestamp: 0,
            resp_reply_failure_count: 0,
        };
        if socket.send(&packet).await.is_ok() {
            let deadline = tokio::time::Instant::from_std(started + timeout);
            loop {
                match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                    Ok(Ok(n)) if n >= ECHO_PLUS_HEADER && buf[..4] == sn.to_be_bytes() => {
                        rtts.push(started.elapsed());
                        let field = |i: usize| {
                            u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]])
                        };
                        result.success = true;
                        result.received = Some(SystemTime::now());
                        result.resp_sn = field(4);
                        result.resp_rcv_timestamp = field(8);
                        result.resp_reply_timestamp = field(12);
                        result.resp_reply_failure_count = field(16);
                        break;
                    }
                    // An echo of an earlier packet, arriving late.
                    Ok(Ok(_)) => continue,
                    Ok(Err(_)) | Err(_) => break,
                }
            }
        }
        if request.individual_results && packets.len() < MAX_RESULTS as usize {
            packets.push(result);
        }
        if sn < repetitions {
            tokio::time::sleep_until(tokio::time::Instant::from_std(started + gap)).await;
        }
    }
    let success_count = u32::try_from(rtts.len()).unwrap_or(u32::MAX);
    let us = |d: Duration| super::whole_us(d);
    let average = if rtts.is_empty() {
        0
    } else {
        us(rtts.iter().sum::<Duration>() / success_count.max(1))
    };
    UdpEchoTestResult {
        state: "Completed",
        ip_address_used,
        success_count,
        failure_count: repetitions - success_count,
        average_us: average,
        minimum_us: rtts.iter().copied().min().map_or(0, us),
        maximum_us: rtts.iter().copied().max().map_or(0, us),
        packets,
    }
}

async fn open(target: SocketAddr, request: &UdpEchoTestRequest) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if target.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    if let Some(device) = request.interface_name.as_deref().filter(|d| !d.is_empty()) {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    let tos = (request.dscp & 0x3f) << 2;
    if tos != 0 && !target.is_ipv6() {
        socket.set_tos_v4(tos)?;
    }
    socket.connect(target).await?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::udp_echo::{UdpEchoConfig, serve};

    #[tokio::test]
    async fn against_the_agents_own_echo_plus_responder() {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let (tx, rx) = tokio::sync::watch::channel(Some(UdpEchoConfig {
            interface_name: None,
            source: None,
            port,
            echo_plus: true,
        }));
        let server = tokio::spawn(serve(rx, |_| {}));
        // The responder binds asynchronously: wait until it answers.
        let request = UdpEchoTestRequest {
            host: "127.0.0.1".into(),
            port,
            interface_name: None,
            ip_version: IpVersion::Any,
            repetitions: 4,
            timeout_ms: 500,
            data_block_size: 24,
            dscp: 0,
            inter_transmission_ms: 10,
            individual_results: true,
        };
        let mut result = run(&request).await;
        for _ in 0..20 {
            if result.success_count == 4 {
                break;
            }
            result = run(&request).await;
        }
        assert_eq!(result.state, "Completed");
        assert_eq!(
            (result.success_count, result.failure_count),
            (4, 0),
            "{result:?}"
        );
        assert_eq!(result.packets.len(), 4);
        assert!(
            result
                .packets
                .iter()
                .all(|p| p.success && p.received.is_some())
        );
        // Echo Plus: the responder numbers its answers.
        assert!(result.packets.iter().all(|p| p.resp_sn >= 1));
        assert!(result.minimum_us <= result.average_us && result.average_us <= result.maximum_us);
        assert_eq!(result.ip_address_used, "127.0.0.1");
        tx.send(None).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_silent_server_is_all_failures() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let request = UdpEchoTestRequest {
            host: "127.0.0.1".into(),
            port: silent.local_addr().unwrap().port(),
            interface_name: None,
            ip_version: IpVersion::Any,
            repetitions: 2,
            timeout_ms: 100,
            data_block_size: 20,
            dscp: 0,
            inter_transmission_ms: 1,
            individual_results: false,
        };
        let result = run(&request).await;
        assert_eq!(result.state, "Completed");
        assert_eq!((result.success_count, result.failure_count), (0, 2));
        assert!(result.packets.is_empty());
        assert_eq!(
            run(&UdpEchoTestRequest {
                host: "nowhere.invalid".into(),
                ..request
            })
            .await
            .state,
            "Error_CannotResolveHostName"
        );
    }
}
