//! The diagnostics against real peers: routers and hosts built from network namespaces for
//! TraceRoute (two hops, the second of which drops its ICMP), a real dnsmasq for NSLookup, the
//! test kit's file server for Download/Upload (a stalling one included), UDP echo servers and
//! clients, two hosts for ServerSelection over ICMP (the system `ping`), one of which answers
//! late — first the engines on their own, then every diagnostic through full sessions of the
//! REAL agent binary with the scripted ACS (SetParameterValues DiagnosticsState=Requested,
//! `8 DIAGNOSTICS COMPLETE`, the results read back with GetParameterValues).
//!
//! Traffic goes to loopback or into the namespaces the tests create. Without namespaces (not
//! root, no iproute2) or without nft/dnsmasq/ping/sysctl, those tests print one SKIPPED line (and
//! fail under TR069_TEST_STRICT=1).

use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use chaos_tests::device::*;
use chaos_tests::namespaces::{NetNs, in_netns, link, tool_runs, unavailable};
use chaos_tests::{FileServer, FileServerConfig, Mode, ScriptedAcs, test_pki};
use tr069_client::cwmp::Body;
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
use tr069_client::cwmp::{ParameterValueStruct, Value};
use tr069_client::diagnostics::{
    Direction, IpVersion, Limits, NsLookupRequest, SelectionProtocol, ServerSelectionRequest,
    TraceRouteRequest, TransferTestRequest, http_test, nslookup, server_selection, traceroute,
};
use tr069_client::http::TlsSettings;

// ---- namespaces -------------------------------------------------------------------------

/// A (10.9.1.2) — r1 — r2 — B (10.9.3.2); r2 sends no ICMP time-exceeded.
struct Routed {
    a: NetNs,
    _r1: NetNs,
    _r2: NetNs,
    _b: NetNs,
}

fn routed() -> anyhow::Result<Routed> {
    let a = NetNs::new("hosta")?;
    let r1 = NetNs::new("r1")?;
    let r2 = NetNs::new("r2")?;
    let b = NetNs::new("hostb")?;
    link(&a, "10.9.1.2/24", &r1, "10.9.1.1/24")?;
    link(&r1, "10.9.2.1/24", &r2, "10.9.2.2/24")?;
    link(&r2, "10.9.3.1/24", &b, "10.9.3.2/24")?;
    r1.forward()?;
    r2.forward()?;
    a.default_route("10.9.1.1")?;
    r1.route("10.9.3.0/24", "10.9.2.2")?;
    r2.route("10.9.1.0/24", "10.9.2.1")?;
    b.default_route("10.9.3.1")?;
    // The silent router: its own ICMP errors never leave it.
    r2.exec(&["nft", "add", "table", "ip", "silent"])?;
    r2.exec(&[
        "nft",
        "add chain ip silent out { type filter hook output priority 0; }",
    ])?;
    r2.exec(&[
        "nft",
        "add",
        "rule",
        "ip",
        "silent",
        "out",
        "icmp",
        "type",
        "time-exceeded",
        "drop",
    ])?;
    Ok(Routed {
        a,
        _r1: r1,
        _r2: r2,
        _b: b,
    })
}

/// Why the namespace tests cannot run, if they cannot.
fn namespaces_missing(tools: &[(&str, &[&str])]) -> Option<String> {
    if let Some(why) = unavailable() {
        return Some(why);
    }
    tools
        .iter()
        .find(|(tool, args)| !tool_runs(tool, args))
        .map(|(tool, _)| format!("`{tool}` is not installed"))
}

const NFT: (&str, &[&str]) = ("nft", &["--version"]);
const DNSMASQ: (&str, &[&str]) = ("dnsmasq", &["--version"]);

/// A (10.9.4.1) — dns (10.9.4.2, dnsmasq answering for example.test).
struct WithDns {
    a: NetNs,
    _dns: NetNs,
}

const DNS_SERVER: &str = "10.9.4.2";

fn with_dns() -> anyhow::Result<WithDns> {
    let a = NetNs::new("client")?;
    let dns = NetNs::new("dns")?;
    link(&a, "10.9.4.1/24", &dns, "10.9.4.2/24")?;
    dns.spawn(&[
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--no-resolv",
        "--no-hosts",
        "--user=root",
        "--pid-file=",
        "--listen-address=10.9.4.2",
        "--bind-interfaces",
        "--host-record=www.example.test,192.0.2.80,2001:db8::80",
        "--cname=alias.example.test,www.example.test",
        // Names under example.test are answered here only: an unknown one is NXDOMAIN.
        "--local=/example.test/",
    ])?;
    Ok(WithDns { a, _dns: dns })
}

/// Waits until dnsmasq answers (it starts asynchronously).
async fn dns_ready() -> anyhow::Result<()> {
    let probe = NsLookupRequest {
        host_name: "www.example.test".into(),
        dns_server: DNS_SERVER.into(),
        interface_name: None,
        timeout_ms: 300,
        repetitions: 1,
    };
    for _ in 0..50 {
        let r = nslookup::run(&probe, nslookup::RESOLV_CONF).await;
        if r.success_count == 1 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("dnsmasq never answered")
}

/// client (10.9.5.1, 10.9.6.1) — near (10.9.5.2) and — far (10.9.6.2), whose echo replies
/// come from [`SlowPinger`] at least [`FAR_DELAY`] late. Nobody has 10.9.5.9.
struct TwoHosts {
    client: NetNs,
    _near: NetNs,
    _far: NetNs,
    _slow: SlowPinger,
}

const NEAR: &str = "10.9.5.2";
const FAR: &str = "10.9.6.2";
const DEAD: &str = "10.9.5.9";
const FAR_DELAY: Duration = Duration::from_millis(150);

fn two_hosts() -> anyhow::Result<TwoHosts> {
    let client = NetNs::new("client")?;
    let near = NetNs::new("near")?;
    let far = NetNs::new("far")?;
    link(&client, "10.9.5.1/24", &near, "10.9.5.2/24")?;
    link(&client, "10.9.6.1/24", &far, "10.9.6.2/24")?;
    let slow = SlowPinger::start(&far, FAR_DELAY)?;
    Ok(TwoHosts {
        client,
        _near: near,
        _far: far,
        _slow: slow,
    })
}

/// A slow host without `tc netem` (this kernel may lack sch_netem): the namespace's kernel
/// ignores echo requests, and a raw ICMP socket answers each one after `delay`, so every round
/// trip to the host is at least `delay`. Stopped on drop.
struct SlowPinger {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SlowPinger {
    fn start(ns: &NetNs, delay: Duration) -> anyhow::Result<SlowPinger> {
        use std::os::fd::AsRawFd as _;
        ns.exec(&["sysctl", "-q", "-w", "net.ipv4.icmp_echo_ignore_all=1"])?;
        let handle = std::fs::File::open(format!("/var/run/netns/{}", ns.name))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            // SAFETY: setns on a valid namespace descriptor affects only this thread.
            if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let _ = ready_tx.send(Err(anyhow::anyhow!(
                    "setns: {}",
                    std::io::Error::last_os_error()
                )));
                return;
            }
            // SAFETY: plain socket(2); the descriptor is closed below.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
            if fd < 0 {
                let _ = ready_tx.send(Err(anyhow::anyhow!(
                    "raw ICMP socket: {}",
                    std::io::Error::last_os_error()
                )));
                return;
            }
            // Wake every 100 ms to see whether to stop.
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            // SAFETY: tv outlives the call; the size is its own.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const tv).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                );
            }
            let _ = ready_tx.send(Ok(()));
            let mut buf = [0u8; 2048];
            while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                // SAFETY: a zeroed sockaddr_in is valid; recvfrom writes at most `len` bytes.
                let mut from: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
                // SAFETY: buf and from are valid for the lengths given.
                let n = unsafe {
                    libc::recvfrom(
                        fd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                        (&raw mut from).cast(),
                        &mut len,
                    )
                };
                let Ok(n) = usize::try_from(n) else { continue };
                // The raw socket hands over the IP header too.
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                if n < ihl + 8 || buf[ihl] != 8 {
                    continue;
                }
                let mut reply = buf[ihl..n].to_vec();
                reply[0] = 0; // echo reply
                reply[2] = 0;
                reply[3] = 0;
                let sum = icmp_checksum(&reply);
                reply[2..4].copy_from_slice(&sum.to_be_bytes());
                std::thread::sleep(delay);
                // SAFETY: reply and from are valid for the lengths given.
                unsafe {
                    libc::sendto(
                        fd,
                        reply.as_ptr().cast(),
                        reply.len(),
                        0,
                        (&raw const from).cast(),
                        len,
                    );
                }
            }
            // SAFETY: fd is ours and open.
            unsafe { libc::close(fd) };
        });
        ready_rx.recv()??;
        Ok(SlowPinger {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for SlowPinger {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The Internet checksum (RFC 1071) of an ICMP message whose checksum field is zero.
fn icmp_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Why the ICMP ServerSelection tests cannot run, if they cannot.
fn ping_in_namespaces_missing() -> Option<String> {
    if let Some(why) = unavailable() {
        return Some(why);
    }
    if test_tools::find_tool("ping").is_none() {
        return Some("ping not found on PATH (apt-get install iputils-ping)".into());
    }
    test_tools::find_tool("sysctl")
        .is_none()
        .then(|| "sysctl not found on PATH (apt-get install procps)".into())
}

// ---- the engines ------------------------------------------------------------------------

#[test]
fn traceroute_crosses_two_routers_one_of_them_silent() {
    if let Some(why) = namespaces_missing(&[NFT]) {
        return test_tools::skip(format!("traceroute through namespaces: {why}"));
    }
    let net = routed().expect("building the namespaces");
    let result = in_netns(&net.a, || async {
        traceroute::run(&TraceRouteRequest {
            host: "10.9.3.2".into(),
            interface_name: None,
            ip_version: IpVersion::Any,
            tries: 2,
            timeout_ms: 500,
            data_block_size: 38,
            dscp: 0,
            max_hops: 8,
        })
        .await
    })
    .unwrap();
    assert_eq!(result.state, "Complete", "{result:?}");
    assert_eq!(result.ip_address_used, "10.9.1.2");
    assert_eq!(result.hops.len(), 3, "{result:?}");
    assert_eq!(result.hops[0].address, "10.9.1.1");
    assert!(result.hops[0].rtts_ms.iter().all(|&r| r >= 1));
    assert_eq!(result.hops[1].address, "", "the silent router");
    assert_eq!(result.hops[1].rtts_ms, [0, 0]);
    assert_eq!(result.hops[2].address, "10.9.3.2");
    assert_eq!(result.hops[2].error_code, 3, "port unreachable");
    assert!(result.response_time_ms >= 1);
    // Not enough hops to reach it.
    let short = in_netns(&net.a, || async {
        traceroute::run(&TraceRouteRequest {
            host: "10.9.3.2".into(),
            interface_name: None,
            ip_version: IpVersion::Any,
            tries: 1,
            timeout_ms: 300,
            data_block_size: 38,
            dscp: 0,
            max_hops: 1,
        })
        .await
    })
    .unwrap();
    assert_eq!(short.state, "Error_MaxHopCountExceeded");
    assert_eq!(short.hops.len(), 1);
}

#[test]
fn nslookup_asks_a_real_dns_server() {
    if let Some(why) = namespaces_missing(&[DNSMASQ]) {
        return test_tools::skip(format!("nslookup against dnsmasq: {why}"));
    }
    let net = with_dns().expect("building the namespaces");
    let (found, alias, missing) = in_netns(&net.a, || async {
        dns_ready().await.expect("dnsmasq");
        let ask = |name: &str| NsLookupRequest {
            host_name: name.into(),
            dns_server: DNS_SERVER.into(),
            interface_name: None,
            timeout_ms: 2000,
            repetitions: 2,
        };
        (
            nslookup::run(&ask("www.example.test"), nslookup::RESOLV_CONF).await,
            nslookup::run(&ask("alias.example.test"), nslookup::RESOLV_CONF).await,
            nslookup::run(&ask("nothing.example.test"), nslookup::RESOLV_CONF).await,
        )
    })
    .unwrap();
    assert_eq!(
        (found.state, found.success_count),
        ("Complete", 2),
        "{found:?}"
    );
    let row = &found.results[0];
    assert_eq!(row.status, "Success");
    assert_eq!(row.host_name_returned, "www.example.test");
    let ips: Vec<String> = row.ip_addresses.iter().map(|ip| ip.to_string()).collect();
    assert_eq!(ips, ["192.0.2.80", "2001:db8::80"]);
    assert_eq!(row.dns_server_ip, DNS_SERVER);
    assert_eq!(row.answer_type, "Authoritative", "dnsmasq owns the record");
    assert!(row.response_time_ms >= 1);
    assert_eq!(
        alias.results[0].host_name_returned, "www.example.test",
        "after the CNAME"
    );
    assert_eq!(missing.success_count, 0);
    assert_eq!(missing.results[0].status, "Error_HostNameNotResolved");
}

#[test]
fn server_selection_over_icmp_names_the_fastest_of_real_hosts() {
    if let Some(why) = ping_in_namespaces_missing() {
        return test_tools::skip(format!("ServerSelection over ICMP: {why}"));
    }
    let net = two_hosts().expect("building the namespaces");
    let ask = |hosts: &[&str]| ServerSelectionRequest {
        protocol: SelectionProtocol::Icmp,
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        repetitions: 2,
        timeout_ms: 1000,
        interface_name: None,
        ip_version: IpVersion::Any,
    };
    let (all, far_only, dead_only) = in_netns(&net.client, move || async move {
        (
            server_selection::run(&ask(&[FAR, DEAD, NEAR])).await,
            server_selection::run(&ask(&[FAR])).await,
            server_selection::run(&ask(&[DEAD])).await,
        )
    })
    .unwrap();
    // The slow host's replies really are late: its own figures are at least the delay.
    assert_eq!(far_only.state, "Completed", "{far_only:?}");
    assert_eq!(far_only.fastest_host, FAR);
    let delay_us = FAR_DELAY.as_micros() as u32;
    assert!(far_only.minimum_us >= delay_us, "{far_only:?}");
    assert!(
        far_only.minimum_us <= far_only.average_us && far_only.average_us <= far_only.maximum_us,
        "{far_only:?}"
    );
    assert_eq!(far_only.ip_address_used, "10.9.6.1");
    // Of the three, the near one is the fastest; the silent one is passed over.
    assert_eq!(all.state, "Completed", "{all:?}");
    assert_eq!(all.fastest_host, NEAR, "{all:?}");
    assert!(all.minimum_us >= 1, "{all:?}");
    assert!(
        all.minimum_us <= all.average_us && all.average_us <= all.maximum_us,
        "{all:?}"
    );
    assert!(
        all.average_us < far_only.minimum_us,
        "the figures are the fastest host's: {all:?} vs {far_only:?}"
    );
    assert_eq!(all.ip_address_used, "10.9.5.1", "toward the fastest host");
    // Nobody answers: completed, every result empty.
    assert_eq!(dead_only.state, "Completed", "{dead_only:?}");
    assert_eq!(dead_only.fastest_host, "");
    assert_eq!(
        (
            dead_only.minimum_us,
            dead_only.average_us,
            dead_only.maximum_us
        ),
        (0, 0, 0)
    );
}

fn transfer(direction: Direction, url: String) -> TransferTestRequest {
    TransferTestRequest {
        direction,
        url,
        interface_name: None,
        ip_version: IpVersion::Any,
        dscp: 0,
        connections: 1,
        upload_length: 0,
        per_connection_results: false,
        tls: Default::default(),
    }
}

const LIMITS: Limits = Limits {
    connect_timeout: Duration::from_secs(5),
    idle_timeout: Duration::from_secs(2),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_and_upload_against_the_file_server() {
    let server = FileServer::start(FileServerConfig::default())
        .await
        .unwrap();
    let file = vec![7u8; 1 << 20];
    server.add_file("/test.bin", file.clone());
    let mut two = transfer(Direction::Download, server.url("/test.bin"));
    two.connections = 2;
    two.per_connection_results = true;
    let result = http_test::run(&two, LIMITS).await;
    assert_eq!(result.state, "Completed", "{result:?}");
    assert_eq!(result.ip_address_used, "127.0.0.1");
    assert_eq!(result.connections.len(), 2);
    let total = result.total.clone().unwrap();
    assert!(
        total.test_bytes > 2 << 20,
        "bodies and heads: {}",
        total.test_bytes
    );
    for c in &result.connections {
        assert!(c.tcp_open_request <= c.tcp_open_response);
        assert!(c.tcp_open_response <= c.rom && c.rom <= c.bom && c.bom <= c.eom);
        assert!(c.test_bytes > 1 << 20);
        // Loopback counts every byte twice (sent and received on lo).
        assert!(c.total_received >= 1 << 20, "{c:?}");
    }
    assert_eq!(
        total.rom,
        result.connections.iter().map(|c| c.rom).min().unwrap()
    );
    assert_eq!(
        total.eom,
        result.connections.iter().map(|c| c.eom).max().unwrap()
    );
    let gets = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/test.bin")
        .count();
    assert_eq!(gets, 2, "one GET per connection");

    let mut up = transfer(Direction::Upload, server.url("/put/here"));
    up.upload_length = 300_000;
    let result = http_test::run(&up, LIMITS).await;
    assert_eq!(result.state, "Completed", "{result:?}");
    assert_eq!(result.total.as_ref().unwrap().test_bytes, 300_000);
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].1.len(), 300_000);

    // A server that hangs mid-transfer: the test ends when the idle limit passes.
    server.add_file("/stall.bin", file.clone());
    server.set_mode("/stall.bin", Mode::Stalled { after: 100_000 });
    let stalled = http_test::run(
        &transfer(Direction::Download, server.url("/stall.bin")),
        LIMITS,
    )
    .await;
    assert_eq!(stalled.state, "Error_Timeout", "{stalled:?}");
    // One that cuts the body short.
    server.add_file("/cut.bin", file.clone());
    server.set_mode("/cut.bin", Mode::truncated_once(50_000));
    let cut = http_test::run(
        &transfer(Direction::Download, server.url("/cut.bin")),
        LIMITS,
    )
    .await;
    assert_eq!(cut.state, "Error_TransferFailed", "{cut:?}");
    let missing = http_test::run(
        &transfer(Direction::Download, server.url("/nothing.bin")),
        LIMITS,
    )
    .await;
    assert_eq!(missing.state, "Error_TransferFailed");
    server.set_mode("/refuse", Mode::Status(500));
    let mut refused = transfer(Direction::Upload, server.url("/refuse"));
    refused.upload_length = 1000;
    assert_eq!(
        http_test::run(&refused, LIMITS).await.state,
        "Error_NoTransferComplete"
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let nobody = http_test::run(
        &transfer(Direction::Download, format!("http://127.0.0.1:{port}/x")),
        LIMITS,
    )
    .await;
    assert_eq!(nobody.state, "Error_InitConnectionFailed");
    let unresolvable = http_test::run(
        &transfer(Direction::Download, "http://nowhere.invalid/x".into()),
        LIMITS,
    )
    .await;
    assert_eq!(unresolvable.state, "Error_CannotResolveHostName");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_and_upload_over_https_trust_the_configured_ca_only() {
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path()).unwrap();
    let server = FileServer::start(FileServerConfig {
        tls: Some(pki.server_identity()),
        ..FileServerConfig::default()
    })
    .await
    .unwrap();
    server.add_file("/tls.bin", vec![3u8; 300_000]);
    let url = server.url("/tls.bin");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let trusted = TlsSettings {
        ca_file: Some(pki.ca_cert_pem_path.clone()),
        ..TlsSettings::default()
    };
    let mut down = transfer(Direction::Download, url.clone());
    down.tls = trusted.clone();
    let result = http_test::run(&down, LIMITS).await;
    assert_eq!(result.state, "Completed", "{result:?}");
    let total = result.total.clone().unwrap();
    // The body and the answer's head, HTTP bytes (TLS records are not counted).
    assert!(
        total.test_bytes > 300_000 && total.test_bytes < 301_000,
        "{total:?}"
    );
    assert_eq!(result.ip_address_used, "127.0.0.1");
    let mut up = transfer(Direction::Upload, server.url("/up/tls"));
    up.upload_length = 123_456;
    up.tls = trusted;
    let result = http_test::run(&up, LIMITS).await;
    assert_eq!(result.state, "Completed", "{result:?}");
    assert_eq!(result.total.as_ref().unwrap().test_bytes, 123_456);
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].1.len(), 123_456);

    // Without the test CA (the compiled-in roots only) the server's certificate is not trusted:
    // no connection is established (TR-143's Error_InitConnectionFailed), nothing is measured.
    let untrusted = http_test::run(&transfer(Direction::Download, url), LIMITS).await;
    assert_eq!(
        untrusted.state, "Error_InitConnectionFailed",
        "{untrusted:?}"
    );
    assert!(untrusted.total.is_none() && untrusted.connections.is_empty());
    let mut up = transfer(Direction::Upload, server.url("/up/untrusted"));
    up.upload_length = 1000;
    let untrusted = http_test::run(&up, LIMITS).await;
    assert_eq!(
        untrusted.state, "Error_InitConnectionFailed",
        "{untrusted:?}"
    );
    // The refused handshakes never got as far as a request.
    let gets = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(gets, 1, "{:?}", server.requests());
    assert_eq!(server.uploads().len(), 1);
    server.shutdown().await;
}

// ---- through full sessions with the real binary ----------------------------------------

fn spv(values: Vec<(String, Value)>, key: &str) -> Body {
    Body::SetParameterValues(SetParameterValues {
        parameter_list: values
            .into_iter()
            .map(|(n, v)| ParameterValueStruct::new(n, v))
            .collect(),
        parameter_key: key.into(),
    })
}

fn gpv(name: &str) -> Body {
    Body::GetParameterValues(GetParameterValues {
        parameter_names: vec![name.to_owned()],
    })
}

/// The results of `object` after one run through full sessions: the inputs and
/// DiagnosticsState=Requested in the BOOTSTRAP session, `8 DIAGNOSTICS COMPLETE` in a session of
/// its own, then a GetParameterValues of the object.
async fn run_through_sessions(
    device: &Device,
    object: &str,
    inputs: &[(&str, Value)],
) -> anyhow::Result<Vec<(String, String)>> {
    run_through_sessions_with(device, object, inputs, &[], WAIT).await
}

/// [`run_through_sessions`] with these settings in the agent's configuration, waiting up to
/// `test_wait` for the `8 DIAGNOSTICS COMPLETE` session (a test that ends on a timeout of the
/// agent's own takes that long).
async fn run_through_sessions_with(
    device: &Device,
    object: &str,
    inputs: &[(&str, Value)],
    settings: &[(&str, &str)],
    test_wait: Duration,
) -> anyhow::Result<Vec<(String, String)>> {
    let acs = ScriptedAcs::start(digest_acs()).await?;
    device.write_config(&acs.url(), settings);
    let mut values: Vec<(String, Value)> = inputs
        .iter()
        .map(|(n, v)| (format!("{object}{n}"), v.clone()))
        .collect();
    values.push((
        format!("{object}DiagnosticsState"),
        Value::string("Requested"),
    ));
    acs.enqueue(spv(values, "diag-1"));
    let _agent = device.start().await?;
    wait_session(&acs, 0, "the BOOTSTRAP session", |s| {
        s.is_ended() && s.acs_calls.iter().all(|c| c.answer.is_some())
    })
    .await?;
    let done = acs
        .wait_for_session(1, test_wait, "the DIAGNOSTICS COMPLETE session", |s| {
            s.has_event("8 DIAGNOSTICS COMPLETE")
        })
        .await?;
    ensure!(
        done.event_codes() == ["8 DIAGNOSTICS COMPLETE"],
        "events {:?}",
        done.event_codes()
    );
    acs.enqueue(gpv(object));
    let (code, out, err) = device.cli(&["inform-now"]).await?;
    ensure!(code == 0, "inform-now exited {code}: {out}{err}");
    let s = wait_session(
        &acs,
        done.number as usize,
        "the session reading the results",
        |s| {
            s.is_ended()
                && !s.acs_calls.is_empty()
                && s.acs_calls.iter().all(|c| c.answer.is_some())
        },
    )
    .await?;
    match s.acs_calls[0].answer.as_ref().and_then(|a| a.body.as_ref()) {
        Some(Body::GetParameterValuesResponse(r)) => Ok(r
            .parameter_list
            .iter()
            .map(|p| {
                (
                    p.name.trim_start_matches(object).to_owned(),
                    p.value.text.clone(),
                )
            })
            .collect()),
        other => bail!("GetParameterValues answered {other:?}"),
    }
}

fn get<'a>(values: &'a [(String, String)], name: &str) -> &'a str {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn traceroute_through_full_sessions() {
    if let Some(why) = namespaces_missing(&[NFT]) {
        return test_tools::skip(format!("traceroute through namespaces: {why}"));
    }
    let net = routed().expect("building the namespaces");
    in_netns(&net.a, || async {
        let device = Device::new(
            "traceroute_through_full_sessions",
            env!("CARGO_BIN_EXE_agent"),
        );
        scenario(&device, async {
            let v = run_through_sessions(
                &device,
                "Device.IP.Diagnostics.TraceRoute.",
                &[
                    ("Host", Value::string("10.9.3.2")),
                    ("NumberOfTries", Value::unsigned_int(2)),
                    ("Timeout", Value::unsigned_int(500)),
                    ("MaxHopCount", Value::unsigned_int(8)),
                ],
            )
            .await?;
            ensure!(get(&v, "DiagnosticsState") == "Complete", "{v:?}");
            ensure!(get(&v, "RouteHopsNumberOfEntries") == "3", "{v:?}");
            ensure!(get(&v, "RouteHops.1.HostAddress") == "10.9.1.1", "{v:?}");
            ensure!(get(&v, "RouteHops.2.RTTimes") == "0,0", "{v:?}");
            ensure!(get(&v, "RouteHops.3.HostAddress") == "10.9.3.2", "{v:?}");
            ensure!(get(&v, "IPAddressUsed") == "10.9.1.2", "{v:?}");
            Ok(())
        })
        .await;
    })
    .unwrap();
}

#[test]
fn nslookup_through_full_sessions() {
    if let Some(why) = namespaces_missing(&[DNSMASQ]) {
        return test_tools::skip(format!("nslookup against dnsmasq: {why}"));
    }
    let net = with_dns().expect("building the namespaces");
    in_netns(&net.a, || async {
        dns_ready().await.expect("dnsmasq");
        let device = Device::new(
            "nslookup_through_full_sessions",
            env!("CARGO_BIN_EXE_agent"),
        );
        scenario(&device, async {
            let v = run_through_sessions(
                &device,
                "Device.DNS.Diagnostics.NSLookupDiagnostics.",
                &[
                    ("HostName", Value::string("www.example.test")),
                    ("DNSServer", Value::string(DNS_SERVER)),
                    ("NumberOfRepetitions", Value::unsigned_int(2)),
                    ("Timeout", Value::unsigned_int(2000)),
                ],
            )
            .await?;
            ensure!(get(&v, "DiagnosticsState") == "Complete", "{v:?}");
            ensure!(get(&v, "SuccessCount") == "2", "{v:?}");
            ensure!(get(&v, "ResultNumberOfEntries") == "2", "{v:?}");
            ensure!(get(&v, "Result.1.Status") == "Success", "{v:?}");
            ensure!(
                get(&v, "Result.2.IPAddresses") == "192.0.2.80,2001:db8::80",
                "{v:?}"
            );
            ensure!(get(&v, "Result.1.DNSServerIP") == DNS_SERVER, "{v:?}");
            Ok(())
        })
        .await;
    })
    .unwrap();
}

#[test]
fn server_selection_over_icmp_through_full_sessions() {
    if let Some(why) = ping_in_namespaces_missing() {
        return test_tools::skip(format!("ServerSelection over ICMP: {why}"));
    }
    let net = two_hosts().expect("building the namespaces");
    in_netns(&net.client, || async {
        let device = Device::new(
            "server_selection_over_icmp_through_full_sessions",
            env!("CARGO_BIN_EXE_agent"),
        );
        scenario(&device, async {
            let v = run_through_sessions(
                &device,
                "Device.IP.Diagnostics.ServerSelectionDiagnostics.",
                &[
                    ("Protocol", Value::string("ICMP")),
                    ("HostList", Value::string(format!("{FAR},{DEAD},{NEAR}"))),
                    ("NumberOfRepetitions", Value::unsigned_int(2)),
                    ("Timeout", Value::unsigned_int(1000)),
                ],
            )
            .await?;
            ensure!(get(&v, "DiagnosticsState") == "Completed", "{v:?}");
            ensure!(get(&v, "FastestHost") == NEAR, "{v:?}");
            let us = |n: &str| get(&v, n).parse::<u32>().context(n.to_owned());
            let (min, avg, max) = (
                us("MinimumResponseTime")?,
                us("AverageResponseTime")?,
                us("MaximumResponseTime")?,
            );
            ensure!(1 <= min && min <= avg && avg <= max, "{v:?}");
            // The far host's every round trip is at least FAR_DELAY: these are not its figures.
            ensure!(avg < FAR_DELAY.as_micros() as u32, "{v:?}");
            ensure!(get(&v, "IPAddressUsed") == "10.9.5.1", "{v:?}");
            Ok(())
        })
        .await;
    })
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_and_upload_through_full_sessions() {
    let server = FileServer::start(FileServerConfig::default())
        .await
        .unwrap();
    server.add_file("/speed.bin", vec![1u8; 512 * 1024]);
    let device = Device::new(
        "download_through_full_sessions",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let v = run_through_sessions(
            &device,
            "Device.IP.Diagnostics.DownloadDiagnostics.",
            &[
                ("DownloadURL", Value::string(server.url("/speed.bin"))),
                ("NumberOfConnections", Value::unsigned_int(2)),
                ("EnablePerConnectionResults", Value::boolean(true)),
            ],
        )
        .await?;
        ensure!(get(&v, "DiagnosticsState") == "Completed", "{v:?}");
        let bytes: u64 = get(&v, "TestBytesReceived")
            .parse()
            .context("TestBytesReceived")?;
        ensure!(bytes > 1024 * 1024, "{v:?}");
        ensure!(
            get(&v, "PerConnectionResultNumberOfEntries") == "2",
            "{v:?}"
        );
        ensure!(
            get(&v, "PerConnectionResult.2.EOMTime").starts_with("20"),
            "{v:?}"
        );
        ensure!(get(&v, "IPAddressUsed") == "127.0.0.1", "{v:?}");
        let t = |n: &str| tr069_client::cwmp::DateTime::parse(get(&v, n)).map(|d| d.unix_millis());
        ensure!(
            t("TCPOpenRequestTime")? <= t("ROMTime")? && t("BOMTime")? <= t("EOMTime")?,
            "{v:?}"
        );
        Ok(())
    })
    .await;
    let device = Device::new("upload_through_full_sessions", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let v = run_through_sessions(
            &device,
            "Device.IP.Diagnostics.UploadDiagnostics.",
            &[
                ("UploadURL", Value::string(server.url("/upload/target"))),
                ("TestFileLength", Value::unsigned_int(200_000)),
            ],
        )
        .await?;
        ensure!(get(&v, "DiagnosticsState") == "Completed", "{v:?}");
        ensure!(get(&v, "TestBytesSent") == "200000", "{v:?}");
        ensure!(
            get(&v, "PerConnectionResultNumberOfEntries") == "0",
            "{v:?}"
        );
        Ok(())
    })
    .await;
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].1.len(), 200_000);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_and_upload_over_https_through_full_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let pki = test_pki(dir.path()).unwrap();
    let server = FileServer::start(FileServerConfig {
        tls: Some(pki.server_identity()),
        ..FileServerConfig::default()
    })
    .await
    .unwrap();
    server.add_file("/speed.bin", vec![1u8; 256 * 1024]);
    let ca = pki.ca_cert_pem_path.to_string_lossy().into_owned();
    let download = "Device.IP.Diagnostics.DownloadDiagnostics.";
    // The agent trusts the server through its `ca-file` setting (the one its ACS and file
    // transfers use).
    let device = Device::new(
        "https_download_through_sessions",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let v = run_through_sessions_with(
            &device,
            download,
            &[("DownloadURL", Value::string(server.url("/speed.bin")))],
            &[("ca-file", &ca)],
            WAIT,
        )
        .await?;
        ensure!(get(&v, "DiagnosticsState") == "Completed", "{v:?}");
        let bytes: u64 = get(&v, "TestBytesReceived")
            .parse()
            .context("TestBytesReceived")?;
        ensure!(bytes > 256 * 1024 && bytes < 256 * 1024 + 1024, "{v:?}");
        Ok(())
    })
    .await;
    let device = Device::new("https_upload_through_sessions", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let v = run_through_sessions_with(
            &device,
            "Device.IP.Diagnostics.UploadDiagnostics.",
            &[
                ("UploadURL", Value::string(server.url("/upload/tls"))),
                ("TestFileLength", Value::unsigned_int(100_000)),
            ],
            &[("ca-file", &ca)],
            WAIT,
        )
        .await?;
        ensure!(get(&v, "DiagnosticsState") == "Completed", "{v:?}");
        ensure!(get(&v, "TestBytesSent") == "100000", "{v:?}");
        Ok(())
    })
    .await;
    let uploads = server.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].1.len(), 100_000);
    // Without the CA the test CA's certificate is not trusted.
    let device = Device::new(
        "https_untrusted_through_sessions",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let v = run_through_sessions(
            &device,
            download,
            &[("DownloadURL", Value::string(server.url("/speed.bin")))],
        )
        .await?;
        ensure!(
            get(&v, "DiagnosticsState") == "Error_InitConnectionFailed",
            "{v:?}"
        );
        Ok(())
    })
    .await;
    let gets = server
        .requests()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(
        gets,
        1,
        "only the trusting agent's GET: {:?}",
        server.requests()
    );
    server.shutdown().await;
}

/// [`scenario`] with a longer overall limit.
async fn long_scenario<F>(device: &Device, limit: Duration, body: F)
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let result = match tokio::time::timeout(limit, body).await {
        Ok(r) => r,
        Err(_) => Err(anyhow::anyhow!("scenario timed out after {limit:?}")),
    };
    if let Err(e) = result {
        panic!("{e:#}\n{}", device.logs());
    }
}

/// The agent gives up on a transfer that moves no byte for this long (its transfers' and HTTP
/// diagnostics' idle limit, not configurable).
const AGENT_IDLE_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_download_ends_in_error_timeout_through_full_sessions() {
    let server = FileServer::start(FileServerConfig::default())
        .await
        .unwrap();
    server.add_file("/stall.bin", vec![9u8; 1 << 20]);
    // The full Content-Length is announced, 100 000 bytes sent, then nothing, the connection
    // kept open.
    server.set_mode("/stall.bin", Mode::Stalled { after: 100_000 });
    let object = "Device.IP.Diagnostics.DownloadDiagnostics.";
    let device = Device::new(
        "stalled_download_through_sessions",
        env!("CARGO_BIN_EXE_agent"),
    );
    // Not `scenario`: its overall limit is shorter than the agent's idle limit.
    long_scenario(&device, AGENT_IDLE_LIMIT + LIMIT, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        acs.enqueue(spv(
            vec![
                (
                    format!("{object}DownloadURL"),
                    Value::string(server.url("/stall.bin")),
                ),
                (
                    format!("{object}DiagnosticsState"),
                    Value::string("Requested"),
                ),
            ],
            "stall",
        ));
        let _agent = device.start().await?;
        wait_session(&acs, 0, "the BOOTSTRAP session", |s| {
            s.is_ended() && s.acs_calls.iter().all(|c| c.answer.is_some())
        })
        .await?;
        // The ACS reads the results in the session that reports the test.
        acs.enqueue(gpv(object));
        let done = acs
            .wait_for_session(
                1,
                AGENT_IDLE_LIMIT + WAIT * 3,
                "the DIAGNOSTICS COMPLETE session",
                |s| s.has_event("8 DIAGNOSTICS COMPLETE"),
            )
            .await?;
        ensure!(
            done.event_codes() == ["8 DIAGNOSTICS COMPLETE"],
            "events {:?}",
            done.event_codes()
        );
        let Some(Body::GetParameterValuesResponse(r)) = done
            .acs_calls
            .first()
            .and_then(|c| c.answer.as_ref())
            .and_then(|a| a.body.as_ref())
        else {
            bail!("no GetParameterValuesResponse in {:?}", done.acs_calls);
        };
        let state = r
            .parameter_list
            .iter()
            .find(|p| p.name == format!("{object}DiagnosticsState"))
            .map(|p| p.value.text.clone());
        ensure!(state.as_deref() == Some("Error_Timeout"), "{r:?}");
        Ok(())
    })
    .await;
    let stalled: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/stall.bin")
        .collect();
    assert_eq!(stalled.len(), 1, "{stalled:?}");
    assert_eq!(stalled[0].bytes_served, 100_000, "the server did stall");
    server.shutdown().await;
}

/// A UDP echo server on loopback (answers after `delay`).
async fn echo_server(delay: Duration) -> std::net::SocketAddr {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            tokio::time::sleep(delay).await;
            let _ = socket.send_to(&buf[..n], from).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_selection_and_udp_echo_through_full_sessions() {
    let slow = echo_server(Duration::from_millis(40)).await;
    let fast = echo_server(Duration::ZERO).await;
    let device = Device::new(
        "server_selection_through_full_sessions",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let v = run_through_sessions(
            &device,
            "Device.IP.Diagnostics.ServerSelectionDiagnostics.",
            &[
                ("Protocol", Value::string("UDP Echo")),
                ("HostList", Value::string(format!("{slow},{fast}"))),
                ("NumberOfRepetitions", Value::unsigned_int(3)),
                ("Timeout", Value::unsigned_int(1000)),
            ],
        )
        .await?;
        ensure!(get(&v, "DiagnosticsState") == "Completed", "{v:?}");
        ensure!(get(&v, "FastestHost") == fast.to_string(), "{v:?}");
        ensure!(get(&v, "AverageResponseTime") != "0", "{v:?}");
        Ok(())
    })
    .await;
    let device = Device::new(
        "udp_echo_through_full_sessions",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let v = run_through_sessions(
            &device,
            "Device.IP.Diagnostics.UDPEchoDiagnostics.",
            &[
                ("Host", Value::string("127.0.0.1")),
                ("Port", Value::unsigned_int(u32::from(fast.port()))),
                ("NumberOfRepetitions", Value::unsigned_int(3)),
                ("InterTransmissionTime", Value::unsigned_int(10)),
                ("EnableIndividualPacketResults", Value::boolean(true)),
            ],
        )
        .await?;
        ensure!(get(&v, "DiagnosticsState") == "Completed", "{v:?}");
        ensure!(get(&v, "SuccessCount") == "3", "{v:?}");
        ensure!(
            get(&v, "IndividualPacketResultNumberOfEntries") == "3",
            "{v:?}"
        );
        ensure!(
            get(&v, "IndividualPacketResult.3.TestGenSN") == "3",
            "{v:?}"
        );
        ensure!(
            get(&v, "IndividualPacketResult.1.PacketSuccess") == "true",
            "{v:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_udp_echo_responder_answers_the_test_server_and_counts() {
    let device = Device::new("udp_echo_responder", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let port = {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let o = "Device.IP.Diagnostics.UDPEchoConfig.";
        acs.enqueue(spv(
            vec![
                (format!("{o}UDPPort"), Value::unsigned_int(u32::from(port))),
                (format!("{o}SourceIPAddress"), Value::string("127.0.0.1")),
                (format!("{o}EchoPlusEnabled"), Value::boolean(true)),
                (format!("{o}Enable"), Value::boolean(true)),
            ],
            "echo",
        ));
        let _agent = device.start().await?;
        let boot = wait_session(&acs, 0, "the BOOTSTRAP session", |s| s.is_ended()).await?;
        // The test server's packets come back, with the Echo Plus fields filled in.
        let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let mut answered = 0;
        let mut buf = [0u8; 128];
        for sn in 1..=40u32 {
            let mut packet = [0u8; 32];
            packet[..4].copy_from_slice(&sn.to_be_bytes());
            client.send_to(&packet, ("127.0.0.1", port)).await?;
            if let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(250), client.recv_from(&mut buf)).await
            {
                ensure!(
                    n == 32 && buf[..4] == sn.to_be_bytes(),
                    "echo {n} {:?}",
                    &buf[..8]
                );
                ensure!(buf[4..8] != [0; 4], "TestRespSN is filled in");
                answered += 1;
                if answered == 3 {
                    break;
                }
            }
        }
        ensure!(answered == 3, "the responder answered {answered} packets");
        // Counters are reported to the core at most every 100 ms.
        tokio::time::sleep(Duration::from_millis(300)).await;
        acs.enqueue(gpv(o));
        let (code, out, err) = device.cli(&["inform-now"]).await?;
        ensure!(code == 0, "inform-now exited {code}: {out}{err}");
        let s = wait_session(
            &acs,
            boot.number as usize,
            "the session reading the counters",
            |s| s.is_ended() && !s.acs_calls.is_empty(),
        )
        .await?;
        let Some(Body::GetParameterValuesResponse(r)) =
            s.acs_calls[0].answer.as_ref().and_then(|a| a.body.as_ref())
        else {
            bail!("no GetParameterValuesResponse: {:?}", s.acs_calls[0].answer);
        };
        let v: Vec<(String, String)> = r
            .parameter_list
            .iter()
            .map(|p| {
                (
                    p.name.trim_start_matches(o).to_owned(),
                    p.value.text.clone(),
                )
            })
            .collect();
        let received: u32 = get(&v, "PacketsReceived").parse()?;
        ensure!(received >= 3, "{v:?}");
        ensure!(
            get(&v, "PacketsResponded") == get(&v, "PacketsReceived"),
            "{v:?}"
        );
        ensure!(
            get(&v, "BytesReceived") == (received * 32).to_string(),
            "{v:?}"
        );
        ensure!(
            get(&v, "TimeFirstPacketReceived").starts_with("20"),
            "{v:?}"
        );
        Ok(())
    })
    .await;
}
