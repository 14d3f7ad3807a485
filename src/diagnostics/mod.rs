//! The diagnostics the ACS can ask for (TR-181 `IP.Diagnostics.*`, `DNS.Diagnostics.*`, TR-143),
//! as I/O engines: each takes a request built by the core (`cpe::diagnostics`, which owns the
//! data-model mapping and the DiagnosticsState lifecycle) and returns a result the core journals.
//!
//! Like the transfer engine, this layer does the network I/O but knows nothing of the agent: the
//! edge (`agent::run`) calls [`run`] inside a future it owns, so a cancelled or abandoned test is
//! dropped with its sockets and child processes. No engine writes to flash.
//!
//! | diagnostic | engine |
//! |---|---|
//! | IPPing | the system `ping` ([`ipping`]) |
//! | TraceRoute | UDP probes with rising TTL, ICMP errors read from the socket's error queue (IP_RECVERR): no raw socket, no root ([`traceroute`]) |
//! | DownloadDiagnostics / UploadDiagnostics | HTTP(S) over [`crate::http::Client`], bytes counted and discarded ([`http_test`]) |
//! | NSLookupDiagnostics | DNS queries built and parsed with `simple-dns` over UDP ([`nslookup`]) |
//! | ServerSelectionDiagnostics | the system `ping` or UDP echo per host ([`server_selection`]) |
//! | UDPEchoDiagnostics | UDP Echo Plus packets to a test server ([`udp_echo_test`]) |
//! | UDPEchoConfig | a UDP echo (and Echo Plus) responder ([`udp_echo`]), a service rather than a test |

pub mod http_test;
pub mod ipping;
pub mod net;
pub mod nslookup;
pub mod server_selection;
pub mod traceroute;
pub mod udp_echo;
pub mod udp_echo_test;

use std::time::{Duration, SystemTime};

use crate::cwmp::DateTime;

pub use http_test::{ConnectionResult, Direction, TransferTestRequest, TransferTestResult};
pub use ipping::{PingRequest, PingResult};
pub use nslookup::{NsLookupAnswer, NsLookupRequest, NsLookupResult};
pub use server_selection::{SelectionProtocol, ServerSelectionRequest, ServerSelectionResult};
pub use traceroute::{RouteHop, TraceRouteRequest, TraceRouteResult};
pub use udp_echo::{UdpEchoConfig, UdpEchoStats};
pub use udp_echo_test::{EchoPacket, UdpEchoTestRequest, UdpEchoTestResult};

/// TR-181's `ProtocolVersion` input: which address family a test uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpVersion {
    #[default]
    Any,
    V4,
    V6,
}

impl IpVersion {
    /// From the parameter's value; anything unknown is `Any` (the registry only lets the three
    /// values in).
    pub fn from_param(value: &str) -> IpVersion {
        match value {
            "IPv4" => IpVersion::V4,
            "IPv6" => IpVersion::V6,
            _ => IpVersion::Any,
        }
    }

    /// `Some(false)` for IPv4 only, `Some(true)` for IPv6 only.
    pub fn ipv6(self) -> Option<bool> {
        match self {
            IpVersion::Any => None,
            IpVersion::V4 => Some(false),
            IpVersion::V6 => Some(true),
        }
    }

    pub fn accepts(self, ip: &std::net::IpAddr) -> bool {
        self.ipv6().is_none_or(|v6| ip.is_ipv6() == v6)
    }
}

/// One test to run.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    IpPing(PingRequest),
    TraceRoute(TraceRouteRequest),
    Download(TransferTestRequest),
    Upload(TransferTestRequest),
    NsLookup(NsLookupRequest),
    ServerSelection(ServerSelectionRequest),
    UdpEcho(UdpEchoTestRequest),
}

/// What a test found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    IpPing(PingResult),
    TraceRoute(TraceRouteResult),
    Download(TransferTestResult),
    Upload(TransferTestResult),
    NsLookup(NsLookupResult),
    ServerSelection(ServerSelectionResult),
    UdpEcho(UdpEchoTestResult),
}

impl Outcome {
    /// The outcome of `test` when it measured nothing and ended in `state` (an `Error_*`
    /// state of TR-181, e.g. `Error_Other`).
    pub fn error(test: &Test, state: &'static str) -> Outcome {
        match test {
            Test::IpPing(_) => Outcome::IpPing(ipping::error_result(state)),
            Test::TraceRoute(_) => Outcome::TraceRoute(TraceRouteResult::error(state)),
            Test::Download(_) => Outcome::Download(TransferTestResult::error(state)),
            Test::Upload(_) => Outcome::Upload(TransferTestResult::error(state)),
            Test::NsLookup(_) => Outcome::NsLookup(NsLookupResult::error(state)),
            Test::ServerSelection(_) => {
                Outcome::ServerSelection(ServerSelectionResult::error(state))
            }
            Test::UdpEcho(_) => Outcome::UdpEcho(UdpEchoTestResult::error(state)),
        }
    }
}

/// The limits the HTTP tests share with file transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// DNS + TCP connect + TLS handshake.
    pub connect_timeout: Duration,
    /// A transfer that moves no byte for this long has stalled.
    pub idle_timeout: Duration,
}

/// Runs one test to its end; never fails (a failure is an `Error_*` DiagnosticsState in the
/// outcome).
pub async fn run(test: &Test, limits: Limits) -> Outcome {
    match test {
        Test::IpPing(r) => Outcome::IpPing(ipping::run_ping(r).await),
        Test::TraceRoute(r) => Outcome::TraceRoute(traceroute::run(r).await),
        Test::Download(r) | Test::Upload(r) => {
            let result = http_test::run(r, limits).await;
            match r.direction {
                Direction::Download => Outcome::Download(result),
                Direction::Upload => Outcome::Upload(result),
            }
        }
        Test::NsLookup(r) => Outcome::NsLookup(nslookup::run(r, nslookup::RESOLV_CONF).await),
        Test::ServerSelection(r) => Outcome::ServerSelection(server_selection::run(r).await),
        Test::UdpEcho(r) => Outcome::UdpEcho(udp_echo_test::run(r).await),
    }
}

/// A TR-143 timestamp: UTC with microseconds (`2026-12-01T10:00:00.123456Z`).
pub fn timestamp(t: SystemTime) -> String {
    let since = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    // Whole microseconds: the XSD dateTime allows any precision, TR-143 asks for microseconds.
    let nanos = since.subsec_micros() * 1000;
    DateTime::from_unix(secs, nanos).to_string()
}

/// Whole milliseconds of a duration, rounded, at least 1 for anything measured (0 means "no
/// answer" in TR-181's results).
pub fn whole_ms(d: Duration) -> u32 {
    let ms = (d.as_micros() + 500) / 1000;
    u32::try_from(ms).unwrap_or(u32::MAX).max(1)
}

/// Whole microseconds of a duration, at least 1.
pub fn whole_us(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_carry_microseconds() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_083_200_123_456);
        assert_eq!(timestamp(t), "2026-12-01T00:00:00.123456Z");
        assert_eq!(whole_ms(Duration::from_micros(1_499)), 1);
        assert_eq!(whole_ms(Duration::from_micros(1_500)), 2);
        assert_eq!(whole_ms(Duration::from_micros(10)), 1);
        assert_eq!(whole_us(Duration::from_nanos(10)), 1);
    }

    #[test]
    fn protocol_version() {
        assert_eq!(IpVersion::from_param("IPv6").ipv6(), Some(true));
        assert!(IpVersion::from_param("Any").accepts(&"::1".parse().unwrap()));
        assert!(!IpVersion::V4.accepts(&"::1".parse().unwrap()));
    }
}
