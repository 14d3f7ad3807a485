//! Raw bytes sent to the agent's real connection-request server (hyper + the Digest
//! authenticator + the rate limiter) over an in-memory connection, served by
//! `CrConnectionServer::serve_connection` as the listener serves each TCP connection it accepts:
//! the server never panics, always answers with one of its statuses (or closes), and answers 200
//! only to a request that authenticated as the configured user.
//!
//! In the input, `{path}` stands for the server's random path, `{nonce}` and `{opaque}` for those
//! of the latest challenge it sent. Rate limits are off so that every input reaches the
//! authenticator (the limits have their own tests).
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use tr069_client::agent::connection_request::{
    ConnectionRequested, CrConnectionServer, CrSettings, ServerConfig,
};
use tr069_client::connection_request::rate_limit::RateLimitConfig;

const PATH: &str = "/cr-AbCdEf0123456789xyz";
/// Where the connections come from, as far as the server knows.
const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000);
/// Bytes each direction of the in-memory connection holds before the writer waits.
const PIPE_BYTES: usize = 64 * 1024;

struct Server {
    rt: Runtime,
    server: CrConnectionServer,
    _settings: tokio::sync::watch::Sender<CrSettings>,
    signals: tokio::sync::mpsc::Receiver<ConnectionRequested>,
    /// nonce, opaque of the latest challenge seen.
    challenge: (String, String),
}

fn server() -> &'static Mutex<Server> {
    static SERVER: OnceLock<Mutex<Server>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = ServerConfig::new(PATH);
        config.rate_limit = RateLimitConfig {
            failed_auth_per_source: None,
            challenges_per_source: None,
            global: None,
            max_sources: 16,
        };
        config.header_read_timeout = Duration::from_millis(500);
        let (settings, rx) = tokio::sync::watch::channel(CrSettings {
            username: "acs".into(),
            password: "s3cret".into(),
            enabled: true,
        });
        let (server, signals) =
            CrConnectionServer::new(&config, rx).expect("a valid connection-request server");
        Mutex::new(Server {
            rt,
            server,
            _settings: settings,
            signals,
            challenge: (String::new(), String::new()),
        })
    })
}

fn param(text: &str, name: &str) -> Option<String> {
    let key = format!("{name}=\"");
    let i = text.find(&key)?;
    let rest = &text[i + key.len()..];
    rest.find('"').map(|j| rest[..j].to_owned())
}

fuzz_target!(|data: &[u8]| {
    let mut server = server().lock().unwrap_or_else(|e| e.into_inner());
    let (nonce, opaque) = server.challenge.clone();
    let request = String::from_utf8_lossy(data)
        .replace("{path}", PATH)
        .replace("{nonce}", &nonce)
        .replace("{opaque}", &opaque);
    let request = if std::str::from_utf8(data).is_ok() {
        request.into_bytes()
    } else {
        // Keep non-UTF-8 input byte for byte: the server must cope with it too.
        data.to_vec()
    };
    let cr_server = server.server.clone();
    let answer = server.rt.block_on(async move {
        let (mut stream, server_end) = tokio::io::duplex(PIPE_BYTES);
        tokio::spawn(async move { cr_server.serve_connection(server_end, PEER).await });
        // The server may close before reading everything: a failed write is an answer too.
        let _ = stream.write_all(&request).await;
        let _ = stream.shutdown().await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer));
        match read.await {
            Ok(_) => answer,
            Err(_) => panic!("the server neither answered nor closed within 5 s"),
        }
    });
    while server.signals.try_recv().is_ok() {}
    let text = String::from_utf8_lossy(&answer);
    if let (Some(n), Some(o)) = (param(&text, "nonce"), param(&text, "opaque")) {
        server.challenge = (n, o);
    }
    for status_line in text.split("\r\n").filter(|l| l.starts_with("HTTP/1.")) {
        let code: u16 = status_line
            .get(9..12)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("unreadable status line {status_line:?}"));
        assert!(
            [
                200, 400, 401, 403, 404, 405, 408, 413, 414, 429, 431, 500, 501, 503, 505
            ]
            .contains(&code),
            "unexpected status {code}"
        );
        if code == 200 {
            let sent = String::from_utf8_lossy(data).to_ascii_lowercase();
            assert!(
                sent.contains("authorization") && sent.contains("acs"),
                "200 without authenticating"
            );
        }
    }
});
