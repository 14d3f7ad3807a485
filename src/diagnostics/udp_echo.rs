//! Device.IP.Diagnostics.UDPEchoConfig: while enabled, the CPE answers UDP echo packets from the
//! ACS's test server (TR-143 Appendix A.1), with the UDP Echo Plus fields filled in when
//! EchoPlusEnabled. Packets from any other source are dropped. The counters are reported to the
//! core as they change (at most every [`REPORT_EVERY`]); they live in memory only and restart at
//! zero whenever the responder is (re)configured.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::watch;

/// How often the counters are reported while packets flow.
pub const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Bytes of the UDP Echo Plus header (TestGenSN, TestRespSN, TestRespRecvTimeStamp,
/// TestRespReplyTimeStamp, TestRespReplyFailureCount; 32 bits each).
pub const ECHO_PLUS_HEADER: usize = 20;

/// How the responder runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpEchoConfig {
    pub interface_name: Option<String>,
    /// Only packets from this address are answered (SourceIPAddress).
    pub source: Option<IpAddr>,
    pub port: u16,
    pub echo_plus: bool,
}

/// The UDPEchoConfig counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpEchoStats {
    pub packets_received: u32,
    pub packets_responded: u32,
    pub bytes_received: u32,
    pub bytes_responded: u32,
    pub first_packet: Option<SystemTime>,
    pub last_packet: Option<SystemTime>,
}

/// Serves until `config` holds `None` (or its sender is gone); `report` gets the counters.
pub async fn serve(
    mut config: watch::Receiver<Option<UdpEchoConfig>>,
    mut report: impl FnMut(UdpEchoStats) + Send,
) {
    let started = Instant::now();
    loop {
        let Some(current) = config.borrow_and_update().clone() else {
            return;
        };
        let mut stats = UdpEchoStats::default();
        report(stats);
        let socket = match bind(&current).await {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(port = current.port, error = %e, "UDP echo: cannot listen");
                None
            }
        };
        let mut failures: u32 = 0;
        let mut last_report = Instant::now();
        let mut dirty = false;
        let mut buf = vec![0u8; 65_536];
        loop {
            let flush_at = tokio::time::Instant::from_std(last_report + REPORT_EVERY);
            tokio::select! {
                changed = config.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
                () = tokio::time::sleep_until(flush_at), if dirty => {
                    report(stats);
                    last_report = Instant::now();
                    dirty = false;
                }
                received = recv(socket.as_ref(), &mut buf) => {
                    let Ok((n, from)) = received else { continue };
                    let received_at = started.elapsed();
                    if current.source.is_some_and(|s| canonical(s) != canonical(from.ip())) {
                        continue;
                    }
                    let now = SystemTime::now();
                    stats.packets_received = stats.packets_received.wrapping_add(1);
                    stats.bytes_received = stats.bytes_received.wrapping_add(n as u32);
                    stats.first_packet.get_or_insert(now);
                    stats.last_packet = Some(now);
                    let packet = &mut buf[..n];
                    if current.echo_plus && n >= ECHO_PLUS_HEADER {
                        fill_echo_plus(
                            packet,
                            stats.packets_responded.wrapping_add(1),
                            micros32(received_at),
                            micros32(started.elapsed()),
                            failures,
                        );
                    }
                    let sent = match &socket {
                        Some(s) => s.send_to(packet, from).await,
                        None => continue,
                    };
                    match sent {
                        Ok(m) => {
                            stats.packets_responded = stats.packets_responded.wrapping_add(1);
                            stats.bytes_responded = stats.bytes_responded.wrapping_add(m as u32);
                        }
                        Err(_) => failures = failures.wrapping_add(1),
                    }
                    if last_report.elapsed() >= REPORT_EVERY {
                        report(stats);
                        last_report = Instant::now();
                        dirty = false;
                    } else {
                        dirty = true;
                    }
                }
            }
        }
    }
}

async fn recv(socket: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => s.recv_from(buf).await,
        // Could not listen: wait for a new configuration.
        None => std::future::pending().await,
    }
}

async fn bind(config: &UdpEchoConfig) -> std::io::Result<UdpSocket> {
    // One dual-stack socket takes IPv4 (as mapped addresses) and IPv6; a kernel without IPv6
    // gets an IPv4 socket.
    let socket = match UdpSocket::bind(SocketAddr::new(
        IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        config.port,
    ))
    .await
    {
        Ok(s) => s,
        Err(_) => UdpSocket::bind(SocketAddr::new([0, 0, 0, 0].into(), config.port)).await?,
    };
    if let Some(device) = config.interface_name.as_deref().filter(|d| !d.is_empty()) {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    Ok(socket)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The low 32 bits of a microsecond clock (TR-143's timestamps wrap).
fn micros32(d: Duration) -> u32 {
    (d.as_micros() & 0xffff_ffff) as u32
}

/// Writes the responder's Echo Plus fields (TestGenSN, the client's, is left as sent).
pub fn fill_echo_plus(packet: &mut [u8], resp_sn: u32, recv_us: u32, reply_us: u32, failures: u32) {
    if packet.len() < ECHO_PLUS_HEADER {
        return;
    }
    packet[4..8].copy_from_slice(&resp_sn.to_be_bytes());
    packet[8..12].copy_from_slice(&recv_us.to_be_bytes());
    packet[12..16].copy_from_slice(&reply_us.to_be_bytes());
    packet[16..20].copy_from_slice(&failures.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn echo_plus_fields() {
        let mut p = [0u8; 24];
        p[..4].copy_from_slice(&7u32.to_be_bytes());
        fill_echo_plus(&mut p, 3, 1000, 1500, 0);
        assert_eq!(&p[..4], &7u32.to_be_bytes(), "TestGenSN is the client's");
        assert_eq!(&p[4..8], &3u32.to_be_bytes());
        assert_eq!(&p[8..12], &1000u32.to_be_bytes());
        assert_eq!(&p[12..16], &1500u32.to_be_bytes());
        let mut short = [1u8; 8];
        fill_echo_plus(&mut short, 3, 1, 1, 1);
        assert_eq!(short, [1u8; 8]);
    }

    #[tokio::test]
    async fn echoes_only_the_configured_source_and_counts() {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        let (tx, rx) = watch::channel(Some(UdpEchoConfig {
            interface_name: None,
            source: Some("127.0.0.1".parse().unwrap()),
            port,
            echo_plus: true,
        }));
        let seen = Arc::new(Mutex::new(UdpEchoStats::default()));
        let s = seen.clone();
        let server = tokio::spawn(serve(rx, move |stats| *s.lock().unwrap() = stats));
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut packet = [0u8; 32];
        packet[..4].copy_from_slice(&1u32.to_be_bytes());
        let mut answer = [0u8; 64];
        let mut got = None;
        for _ in 0..50 {
            client.send_to(&packet, ("127.0.0.1", port)).await.unwrap();
            if let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(100), client.recv_from(&mut answer))
                    .await
            {
                got = Some(n);
                break;
            }
        }
        assert_eq!(got, Some(32));
        assert_eq!(
            &answer[4..8],
            &1u32.to_be_bytes(),
            "TestRespSN of the first answer"
        );
        // A packet from another source (::1 is not 127.0.0.1) is not answered.
        if let Ok(v6) = UdpSocket::bind("[::1]:0").await {
            v6.send_to(&packet, ("::1", port)).await.unwrap();
            let r =
                tokio::time::timeout(Duration::from_millis(200), v6.recv_from(&mut answer)).await;
            assert!(r.is_err(), "answered a foreign source");
        }
        for _ in 0..40 {
            if seen.lock().unwrap().packets_responded >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let stats = *seen.lock().unwrap();
        assert!(
            stats.packets_received >= 1 && stats.packets_responded >= 1,
            "{stats:?}"
        );
        assert_eq!(stats.bytes_received, stats.packets_received * 32);
        assert!(stats.first_packet.is_some() && stats.last_packet.is_some());
        tx.send(None).unwrap();
        server.await.unwrap();
    }
}
