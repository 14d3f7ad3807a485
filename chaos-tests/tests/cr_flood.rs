//! The abuse matrix (SECURITY.md), connection requests against the REAL agent: floods from one
//! source and from 200, wrong credentials, made-up nonces, oversized heads, wrong methods and
//! paths, and a Slowloris crowd of half-sent requests. Nothing is accepted (no 200, no session),
//! the agent's peak memory stays bounded (VmHWM of the agent process, /proc/PID/status), the
//! journal verifies afterwards, and the ACS's own correct request is answered 200 once the
//! global limit has refilled.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use chaos_tests::ScriptedAcs;
use chaos_tests::device::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `VmHWM` (peak resident set) of a process, in KiB.
fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/PID/status")
}

/// Sends `request` from `source` and reads the status code (None: closed without an answer).
async fn send(source: IpAddr, to: SocketAddr, request: Vec<u8>) -> Option<u16> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(source, 0)).ok()?;
    let mut stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(to))
        .await
        .ok()?
        .ok()?;
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
}

fn requests(path: &str, host: &str) -> Vec<Vec<u8>> {
    let digest = format!(
        "Authorization: Digest username=\"{CR_USER}\", realm=\"tr069-client\", nonce=\"00112233445566778899aabbccddeeff\", uri=\"{path}\", response=\"0123456789abcdef0123456789abcdef\", qop=auth, nc=00000001, cnonce=\"abc\"\r\n"
    );
    vec![
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{digest}\r\n"),
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic YWNzOmFjcw==\r\n\r\n"),
        format!("POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello"),
        format!("GET /not-the-path HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n",
            "a".repeat(16 * 1024)
        ),
        "GARBAGE\r\n\r\n".to_owned(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_request_floods_are_refused_with_bounded_memory() {
    let device = Device::new(
        "connection_request_floods_are_refused_with_bounded_memory",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let mut agent = device.start().await?;
        let pid = agent.pid().context("agent pid")?;
        let first = check_bootstrap(&acs, &device).await?;
        let url = first
            .parameter("Device.ManagementServer.ConnectionRequestURL")
            .context("ConnectionRequestURL")?
            .to_owned();
        let uri: http::Uri = url.parse()?;
        let to = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            uri.port_u16().context("port")?,
        );
        let path = uri.path().to_owned();
        let host = uri.authority().context("authority")?.to_string();
        device.wait_get("retry-count", |v| v == "0").await?;
        let sessions_before = acs.sessions().len();
        let hwm_before = vm_hwm_kib(pid)?;

        // Slowloris: 100 connections that never finish their request head, held open through
        // the flood.
        let mut slow = Vec::new();
        for i in 0..100u8 {
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 1, i));
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(source, 0))?;
            if let Ok(mut s) = socket.connect(to).await {
                let _ = s
                    .write_all(format!("GET {path} HTTP/1.1\r\nHost: ").as_bytes())
                    .await;
                slow.push(s);
            }
        }

        // One source, then 200 sources; 32 requests in flight at a time.
        let reqs = Arc::new(requests(&path, &host));
        let mut statuses: std::collections::BTreeMap<Option<u16>, u32> = Default::default();
        let limit = Arc::new(tokio::sync::Semaphore::new(32));
        let mut tasks = tokio::task::JoinSet::new();
        let total = 6_000u32;
        for n in 0..total {
            // The ACS connects from 127.0.0.1: the attackers are elsewhere.
            let source = if n < 2_000 {
                IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1))
            } else {
                IpAddr::V4(Ipv4Addr::new(127, 0, 2, (n % 200) as u8 + 1))
            };
            let request = reqs[n as usize % reqs.len()].clone();
            let permit = limit.clone().acquire_owned().await?;
            tasks.spawn(async move {
                let status = send(source, to, request).await;
                drop(permit);
                status
            });
        }
        while let Some(status) = tasks.join_next().await {
            *statuses.entry(status?).or_default() += 1;
        }
        let hwm_after = vm_hwm_kib(pid)?;
        drop(slow);
        eprintln!(
            "flood: {total} requests from 1 + 200 sources plus 100 Slowloris connections; \
             answers {statuses:?}; agent VmHWM {hwm_before} KiB before, {hwm_after} KiB after"
        );
        ensure!(
            !statuses.contains_key(&Some(200)),
            "a flood request was accepted: {statuses:?}"
        );
        for status in statuses.keys().flatten() {
            ensure!(
                [400, 401, 404, 405, 429, 431, 503].contains(status),
                "unexpected answer {status}: {statuses:?}"
            );
        }
        ensure!(
            statuses.contains_key(&Some(429)) && statuses.contains_key(&Some(503)),
            "the limits never applied: {statuses:?}"
        );
        // Bounded: the flood may not grow the agent's peak resident set by more than 32 MiB.
        ensure!(
            hwm_after <= hwm_before + 32 * 1024,
            "peak memory grew from {hwm_before} KiB to {hwm_after} KiB"
        );
        ensure!(
            acs.sessions().len() == sessions_before,
            "the flood started a session"
        );

        // The ACS's own request gets through once the global limit has a token again.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = acs.connection_request(&url, CR_USER, CR_PASSWORD).await?;
            if status == 200 {
                break;
            }
            ensure!(
                [503, 429].contains(&status) && tokio::time::Instant::now() < deadline,
                "the ACS's connection request answered {status}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let s = wait_session(
            &acs,
            sessions_before,
            "the connection-request session",
            |s| s.is_ended(),
        )
        .await?;
        ensure!(
            s.event_codes() == [CONNECTION_REQUEST],
            "events {:?}",
            s.event_codes()
        );
        agent.terminate().await?;
        let (code, out, err) = device.cli(&["journal", "verify"]).await?;
        ensure!(code == 0, "journal verify after the flood: {out} {err}");
        Ok(())
    })
    .await;
}
