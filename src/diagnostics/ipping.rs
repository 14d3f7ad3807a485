//! Device.IP.Diagnostics.IPPing: a real ping, run by the agent after the session that requested
//! it, with the system `ping` (iputils or BusyBox). ServerSelectionDiagnostics over ICMP uses
//! the same runner ([`ping_replies`]).

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// The IPPing inputs, as stored in the data model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingRequest {
    pub host: String,
    /// A TR-181 interface path, or empty for the routing table's choice. Resolved by the caller
    /// to a host interface name (`interface_name`).
    pub interface_name: Option<String>,
    pub repetitions: u32,
    /// Per-repetition timeout, milliseconds.
    pub timeout_ms: u32,
    pub data_block_size: u32,
    pub dscp: u32,
    pub ip_version: super::IpVersion,
}

/// The IPPing results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingResult {
    /// The DiagnosticsState to set: Complete, Error_CannotResolveHostName, Error_Internal or
    /// Error_Other.
    pub state: &'static str,
    pub success_count: u32,
    pub failure_count: u32,
    /// Milliseconds, rounded; 0 when nothing answered.
    pub average_ms: u32,
    pub minimum_ms: u32,
    pub maximum_ms: u32,
    /// The same in microseconds (the `…Detailed` results).
    pub average_us: u32,
    pub minimum_us: u32,
    pub maximum_us: u32,
    /// The local address the pings left from ("" when unknown).
    pub ip_address_used: String,
}

/// Runs the ping; never fails (errors become an Error_* state).
pub async fn run_ping(request: &PingRequest) -> PingResult {
    run_ping_with(OsStr::new("ping"), request).await
}

/// Extra time the whole run may take beyond its repetitions: process start-up and the name lookup.
const DEADLINE_SLACK: Duration = Duration::from_secs(5);

/// What stderr says when the name lookup failed, from iputils and BusyBox under LC_ALL=C.
const RESOLUTION_FAILURES: &[&str] = &[
    "unknown host",
    "Name or service not known",
    "bad address",
    "Temporary failure in name resolution",
    "No address associated with hostname",
];

/// What stderr says when ping may not open its socket: a broken installation, not the target.
const PERMISSION_FAILURES: &[&str] = &["Operation not permitted", "Permission denied"];

/// The replies found in ping's output.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPing {
    /// Echo replies received (duplicates not counted), at most the repetitions asked for.
    pub success_count: u32,
    /// Each reply's round-trip time, milliseconds, in arrival order.
    pub rtts_ms: Vec<f64>,
    /// The address ping resolved the host to (`PING host (address)`).
    pub target: Option<std::net::IpAddr>,
}

async fn run_ping_with(program: &OsStr, request: &PingRequest) -> PingResult {
    match ping_replies_with(program, request).await {
        Ok(parsed) => {
            let mut result = summarize(&parsed, request.repetitions.max(1));
            result.ip_address_used = parsed
                .target
                .and_then(super::net::local_address_toward)
                .map(|ip| ip.to_string())
                .unwrap_or_default();
            result
        }
        Err(state) => error_result(state),
    }
}

/// Runs the ping and returns the replies, or the Error_* state when it could not run.
pub async fn ping_replies(request: &PingRequest) -> Result<ParsedPing, &'static str> {
    ping_replies_with(OsStr::new("ping"), request).await
}

async fn ping_replies_with(
    program: &OsStr,
    request: &PingRequest,
) -> Result<ParsedPing, &'static str> {
    let host = request.host.trim();
    // An empty host names nothing; one starting with '-' would be taken as an option, and no
    // host name or address starts with one.
    if host.is_empty() || host.starts_with('-') {
        return Err("Error_CannotResolveHostName");
    }
    let repetitions = request.repetitions.max(1);
    let mut command = Command::new(program);
    command
        .args(ping_args(request, host))
        // The error messages are matched below; they must not be translated.
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(error = %e, "cannot run ping");
            return Err("Error_Internal");
        }
    };
    // Dropping the wait on expiry drops the child, which kill_on_drop kills.
    let output = match tokio::time::timeout(deadline(request), child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "lost the ping process");
            return Err("Error_Internal");
        }
        Err(_) => {
            tracing::warn!(host, "ping overran its deadline and was killed");
            return Err("Error_Other");
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let parsed = parse_ping_output(&stdout, repetitions);
    if parsed.success_count == 0 {
        if let Some(state) = classify_failure(output.status.code(), &stderr) {
            tracing::info!(host, %stderr, state, "ping failed");
            return Err(state);
        }
    }
    Ok(parsed)
}

/// The command line after `ping`: options both iputils and BusyBox take (BusyBox ignores
/// `-n`, and has no `-Q`, which is only passed when a DSCP was asked for).
pub fn ping_args(request: &PingRequest, host: &str) -> Vec<String> {
    let mut args = vec![
        "-c".to_owned(),
        request.repetitions.max(1).to_string(),
        "-W".to_owned(),
        request.timeout_ms.div_ceil(1000).max(1).to_string(),
        "-s".to_owned(),
        request.data_block_size.to_string(),
    ];
    if request.dscp != 0 {
        // The TOS byte carries the DSCP in its upper six bits.
        args.push("-Q".to_owned());
        args.push(((request.dscp & 0x3f) << 2).to_string());
    }
    if let Some(interface) = request.interface_name.as_deref().filter(|i| !i.is_empty()) {
        args.push("-I".to_owned());
        args.push(interface.to_owned());
    }
    match request.ip_version {
        super::IpVersion::Any => {}
        super::IpVersion::V4 => args.push("-4".to_owned()),
        super::IpVersion::V6 => args.push("-6".to_owned()),
    }
    args.push("-n".to_owned());
    args.push(host.to_owned());
    args
}

/// ping sends one request a second and waits up to the timeout for the last one: allow each
/// repetition its timeout plus the interval, and a margin for start-up and the name lookup.
fn deadline(request: &PingRequest) -> Duration {
    let per_repetition = u64::from(request.timeout_ms).saturating_add(1000);
    Duration::from_millis(u64::from(request.repetitions.max(1)).saturating_mul(per_repetition))
        .saturating_add(DEADLINE_SLACK)
}

/// The error state for a ping that got no reply, or `None` when it ran and simply got no answer
/// (Complete, every repetition a failure).
fn classify_failure(exit_code: Option<i32>, stderr: &str) -> Option<&'static str> {
    if RESOLUTION_FAILURES.iter().any(|m| stderr.contains(m)) {
        return Some("Error_CannotResolveHostName");
    }
    if PERMISSION_FAILURES.iter().any(|m| stderr.contains(m)) {
        return Some("Error_Internal");
    }
    match exit_code {
        // iputils exits 1 when nothing answered; BusyBox does too.
        Some(0) | Some(1) => None,
        // Exit 2 is iputils' "could not even start pinging"; with no message recognised above,
        // an unresolvable name (some resolvers print nothing useful) is the likeliest cause.
        Some(2) if stderr.trim().is_empty() => Some("Error_CannotResolveHostName"),
        // Other startup failures: a bad interface, an unreachable network, a bad option.
        Some(_) => Some("Error_Other"),
        // Killed by a signal.
        None => Some("Error_Other"),
    }
}

/// Counts the echo replies in ping's output: iputils prints
/// `64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms`, BusyBox
/// `64 bytes from 127.0.0.1: seq=0 ttl=64 time=0.123 ms`. Duplicates (`(DUP!)`) are not new
/// replies; error lines (`From ... Destination Host Unreachable`) carry no time.
pub fn parse_ping_output(stdout: &str, repetitions: u32) -> ParsedPing {
    let limit = usize::try_from(repetitions).unwrap_or(usize::MAX);
    let rtts_ms: Vec<f64> = stdout
        .lines()
        .filter(|line| line.contains(" bytes from ") && !line.contains("DUP!"))
        .filter_map(reply_time_ms)
        .take(limit)
        .collect();
    // iputils: `PING host (192.0.2.1) 56(84) bytes`; BusyBox: `PING host (192.0.2.1): 56 data`.
    let target = stdout
        .lines()
        .find(|l| l.starts_with("PING "))
        .and_then(|l| {
            let open = l.find('(')?;
            let close = l[open..].find(')')? + open;
            l[open + 1..close].parse().ok()
        });
    ParsedPing {
        success_count: u32::try_from(rtts_ms.len()).unwrap_or(u32::MAX),
        rtts_ms,
        target,
    }
}

/// The `time=` (or `time<`, which old iputils prints for sub-resolution times) of one reply.
fn reply_time_ms(line: &str) -> Option<f64> {
    let at = line.find("time=").or_else(|| line.find("time<"))?;
    let rest = &line[at + "time=".len()..];
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let value: f64 = number.parse().ok()?;
    let unit = rest[number.len()..].trim_start();
    let ms = if unit.starts_with("ms") || unit.is_empty() {
        value
    } else if unit.starts_with("us") || unit.starts_with("µs") {
        value / 1000.0
    } else if unit.starts_with('s') {
        value * 1000.0
    } else {
        value
    };
    (ms.is_finite() && ms >= 0.0).then_some(ms)
}

/// The Complete result for what came back.
///
/// Times are whole milliseconds, rounded to nearest, but never below 1 ms for a reply: TR-181
/// has only milliseconds here, and 0 would read as "nothing answered" (the contract's value when
/// there was no reply), which a sub-millisecond LAN reply is not.
pub fn summarize(parsed: &ParsedPing, repetitions: u32) -> PingResult {
    let repetitions = repetitions.max(1);
    let success_count = parsed.success_count.min(repetitions);
    let (average, minimum, maximum) = if parsed.rtts_ms.is_empty() {
        (None, None, None)
    } else {
        let sum: f64 = parsed.rtts_ms.iter().sum();
        let min = parsed.rtts_ms.iter().copied().fold(f64::INFINITY, f64::min);
        let max = parsed.rtts_ms.iter().copied().fold(0.0, f64::max);
        (
            Some(sum / parsed.rtts_ms.len() as f64),
            Some(min),
            Some(max),
        )
    };
    let ms = |v: Option<f64>| v.map_or(0, whole_ms);
    let us = |v: Option<f64>| v.map_or(0, |ms| ((ms * 1000.0).round() as u32).max(1));
    PingResult {
        state: "Complete",
        success_count,
        failure_count: repetitions - success_count,
        average_ms: ms(average),
        minimum_ms: ms(minimum),
        maximum_ms: ms(maximum),
        average_us: us(average),
        minimum_us: us(minimum),
        maximum_us: us(maximum),
        ip_address_used: String::new(),
    }
}

fn whole_ms(ms: f64) -> u32 {
    // `as` saturates at u32::MAX for absurd values; an RTT is never negative here.
    (ms.round() as u32).max(1)
}

/// A result that measured nothing and ended in `state` (an `Error_*` state).
pub fn error_result(state: &'static str) -> PingResult {
    PingResult {
        state,
        success_count: 0,
        failure_count: 0,
        average_ms: 0,
        minimum_ms: 0,
        maximum_ms: 0,
        average_us: 0,
        minimum_us: 0,
        maximum_us: 0,
        ip_address_used: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IPUTILS_OK: &str = "\
PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.
64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.212 ms
64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.045 ms

--- 127.0.0.1 ping statistics ---
2 packets transmitted, 2 received, 0% packet loss, time 1011ms
rtt min/avg/max/mdev = 0.045/0.128/0.212/0.083 ms
";

    const IPUTILS_PARTIAL: &str = "\
PING 192.0.2.1 (192.0.2.1) 1000(1028) bytes of data.
1008 bytes from 192.0.2.1: icmp_seq=1 ttl=63 time=12.4 ms
1008 bytes from 192.0.2.1: icmp_seq=1 ttl=63 time=13.0 ms (DUP!)
From 192.0.2.254 icmp_seq=2 Destination Host Unreachable
1008 bytes from 192.0.2.1: icmp_seq=3 ttl=63 time=30.6 ms
1008 bytes from 192.0.2.1: icmp_seq=4 ttl=63 time=1234 ms

--- 192.0.2.1 ping statistics ---
5 packets transmitted, 3 received, +1 duplicates, +1 errors, 40% packet loss, time 4006ms
rtt min/avg/max/mdev = 12.4/425.6/1234/571.1 ms
";

    const IPUTILS_NO_REPLY: &str = "\
PING 10.255.255.1 (10.255.255.1) 56(84) bytes of data.

--- 10.255.255.1 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 2030ms
";

    const BUSYBOX_OK: &str = "\
PING 127.0.0.1 (127.0.0.1): 56 data bytes
64 bytes from 127.0.0.1: seq=0 ttl=64 time=0.123 ms
64 bytes from 127.0.0.1: seq=1 ttl=64 time=2.600 ms
64 bytes from 127.0.0.1: seq=2 ttl=64 time=0.090 ms

--- 127.0.0.1 ping statistics ---
3 packets transmitted, 3 packets received, 0% packet loss
round-trip min/avg/max = 0.090/0.937/2.600 ms
";

    fn request(host: &str) -> PingRequest {
        PingRequest {
            host: host.into(),
            interface_name: None,
            repetitions: 2,
            timeout_ms: 1000,
            data_block_size: 56,
            dscp: 0,
            ip_version: crate::diagnostics::IpVersion::Any,
        }
    }

    #[test]
    fn parses_iputils_replies() {
        let parsed = parse_ping_output(IPUTILS_OK, 2);
        assert_eq!(parsed.success_count, 2);
        assert_eq!(parsed.rtts_ms, [0.212, 0.045]);
        assert_eq!(
            summarize(&parsed, 2),
            PingResult {
                state: "Complete",
                success_count: 2,
                failure_count: 0,
                average_ms: 1,
                minimum_ms: 1,
                maximum_ms: 1,
                average_us: 129,
                minimum_us: 45,
                maximum_us: 212,
                ip_address_used: String::new(),
            }
        );
        assert_eq!(parsed.target, Some("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn duplicates_and_errors_are_not_replies() {
        let parsed = parse_ping_output(IPUTILS_PARTIAL, 5);
        assert_eq!(parsed.rtts_ms, [12.4, 30.6, 1234.0]);
        assert_eq!(
            summarize(&parsed, 5),
            PingResult {
                state: "Complete",
                success_count: 3,
                failure_count: 2,
                average_ms: 426,
                minimum_ms: 12,
                maximum_ms: 1234,
                average_us: 425_667,
                minimum_us: 12_400,
                maximum_us: 1_234_000,
                ip_address_used: String::new(),
            }
        );
    }

    #[test]
    fn replies_beyond_the_repetitions_are_ignored() {
        let parsed = parse_ping_output(IPUTILS_PARTIAL, 2);
        assert_eq!(parsed.success_count, 2);
        assert_eq!(summarize(&parsed, 2).failure_count, 0);
    }

    #[test]
    fn no_reply_is_complete_with_every_repetition_failed() {
        let parsed = parse_ping_output(IPUTILS_NO_REPLY, 3);
        assert_eq!(parsed.success_count, 0);
        assert_eq!(classify_failure(Some(1), ""), None);
        assert_eq!(
            summarize(&parsed, 3),
            PingResult {
                state: "Complete",
                success_count: 0,
                failure_count: 3,
                average_ms: 0,
                minimum_ms: 0,
                maximum_ms: 0,
                average_us: 0,
                minimum_us: 0,
                maximum_us: 0,
                ip_address_used: String::new(),
            }
        );
    }

    #[test]
    fn parses_busybox_replies() {
        let parsed = parse_ping_output(BUSYBOX_OK, 3);
        assert_eq!(parsed.rtts_ms, [0.123, 2.6, 0.09]);
        let result = summarize(&parsed, 3);
        assert_eq!((result.success_count, result.failure_count), (3, 0));
        assert_eq!(
            (result.minimum_ms, result.average_ms, result.maximum_ms),
            (1, 1, 3)
        );
    }

    #[test]
    fn classifies_startup_failures() {
        assert_eq!(
            classify_failure(
                Some(2),
                "ping: nonexistent.invalid: Name or service not known\n"
            ),
            Some("Error_CannotResolveHostName")
        );
        assert_eq!(
            classify_failure(Some(1), "ping: bad address 'nowhere'\n"),
            Some("Error_CannotResolveHostName"),
            "BusyBox"
        );
        assert_eq!(
            classify_failure(Some(2), "ping: socket: Operation not permitted\n"),
            Some("Error_Internal")
        );
        assert_eq!(
            classify_failure(Some(2), "ping: SO_BINDTODEVICE nosuchif: No such device\n"),
            Some("Error_Other")
        );
        assert_eq!(
            classify_failure(Some(2), ""),
            Some("Error_CannotResolveHostName")
        );
        assert_eq!(classify_failure(None, ""), Some("Error_Other"));
    }

    #[test]
    fn builds_the_command_line() {
        assert_eq!(
            ping_args(&request("example.com"), "example.com"),
            ["-c", "2", "-W", "1", "-s", "56", "-n", "example.com"]
        );
        let request = PingRequest {
            interface_name: Some("eth0".into()),
            repetitions: 0,
            timeout_ms: 1500,
            data_block_size: 1000,
            dscp: 46,
            ..request("192.0.2.1")
        };
        assert_eq!(
            ping_args(&request, "192.0.2.1"),
            [
                "-c",
                "1",
                "-W",
                "2",
                "-s",
                "1000",
                "-Q",
                "184",
                "-I",
                "eth0",
                "-n",
                "192.0.2.1"
            ]
        );
        assert_eq!(deadline(&request), Duration::from_millis(2500 + 5000));
    }

    #[tokio::test]
    async fn empty_or_option_like_hosts_are_not_resolved() {
        for host in ["", "   ", "-f"] {
            assert_eq!(
                run_ping(&request(host)).await,
                error_result("Error_CannotResolveHostName"),
                "{host:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_ping_binary_is_an_internal_error() {
        let result = run_ping_with(
            OsStr::new("/nonexistent/bin/ping-for-tr069-tests"),
            &request("127.0.0.1"),
        )
        .await;
        assert_eq!(result, error_result("Error_Internal"));
    }

    #[tokio::test]
    async fn pings_the_loopback_address() {
        if !test_tools::require_ping() {
            return;
        }
        let result = run_ping(&request("127.0.0.1")).await;
        assert_eq!(result.state, "Complete", "{result:?}");
        assert_eq!((result.success_count, result.failure_count), (2, 0));
        assert!(result.minimum_ms >= 1 && result.minimum_ms <= result.maximum_ms);
        assert_eq!(result.ip_address_used, "127.0.0.1");
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_reported() {
        if !test_tools::require_ping() {
            return;
        }
        // .invalid never resolves (RFC 6761), with or without a network.
        let result = run_ping(&request("no-such-host.invalid")).await;
        assert_eq!(result.state, "Error_CannotResolveHostName", "{result:?}");
    }
}
