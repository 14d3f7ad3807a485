//! Connection-request server over real sockets on 127.0.0.1 (and, for
//! `CrConnectionServer::serve_connection`, over an in-memory stream).
//!
//! Requests are written by hand on raw TCP streams so the tests control every byte (a
//! GenieACS-shaped request carries only `Host` and `Connection: keep-alive`). Timeouts only guard
//! against hangs; no assertion depends on timing.

use std::time::Duration;

use digest_auth::{Algorithm, AlgorithmType, AuthContext};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

use tr069_client::agent::connection_request::rate_limit::{Limit, RateLimitConfig};
use tr069_client::agent::connection_request::{
    ConnectionRequestHandle, ConnectionRequestServer, ConnectionRequested, CrConnectionServer,
    CrSettings, ServerConfig, connection_request_url, random_path,
};

const GUARD: Duration = Duration::from_secs(10);
const USER: &str = "acs-user";
const PASS: &str = "acs-pass";

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn challenge(&self) -> &str {
        self.header("www-authenticate")
            .unwrap_or_else(|| panic!("no WWW-Authenticate in {self:?}"))
    }
}

/// What a [`Conn`] runs over: a TCP stream, or one end of an in-memory pipe.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One connection to the server, speaking HTTP/1.1 by hand.
struct Conn {
    stream: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(server: &Server) -> Conn {
        let stream = timeout(GUARD, TcpStream::connect(server.handle.local_addr()))
            .await
            .expect("connect timed out")
            .expect("connect");
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    /// A connection from another loopback address (Linux routes all of 127/8 to `lo`).
    async fn open_from(server: &Server, source: std::net::IpAddr) -> Conn {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::new(source, 0))
            .expect("bind source address");
        let stream = timeout(GUARD, socket.connect(server.handle.local_addr()))
            .await
            .expect("connect timed out")
            .expect("connect");
        Conn {
            stream: Box::new(stream),
            buf: Vec::new(),
        }
    }

    /// An in-memory connection that `server` serves as if accepted from `peer`.
    fn in_memory(server: &CrConnectionServer, peer: std::net::SocketAddr) -> Conn {
        let (client, server_end) = tokio::io::duplex(16 * 1024);
        let server = server.clone();
        tokio::spawn(async move { server.serve_connection(server_end, peer).await });
        Conn {
            stream: Box::new(client),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, raw: &str) -> Resp {
        timeout(GUARD, self.stream.write_all(raw.as_bytes()))
            .await
            .expect("write timed out")
            .expect("write");
        timeout(GUARD, self.read_response())
            .await
            .expect("response timed out")
    }

    async fn read_response(&mut self) -> Resp {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(
                n > 0,
                "connection closed before a response; got {:?}",
                self.buf
            );
            self.buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("utf-8 head");
        self.buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().expect("content-length"))
            .expect("every response has a content-length");
        while self.buf.len() < len {
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await.expect("read body");
            assert!(n > 0, "closed mid-body");
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let body = self.buf.drain(..len).collect();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// Wait for the server to close the connection (EOF or reset).
    async fn expect_closed(&mut self) {
        let closed = timeout(GUARD, async {
            let mut chunk = [0u8; 1024];
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "server kept the connection open");
    }
}

struct Server {
    handle: ConnectionRequestHandle,
    rx: mpsc::Receiver<ConnectionRequested>,
    settings: watch::Sender<CrSettings>,
    path: String,
}

fn settings(user: &str, pass: &str, enabled: bool) -> CrSettings {
    CrSettings {
        username: user.into(),
        password: pass.into(),
        enabled,
    }
}

fn test_config(path: &str) -> ServerConfig {
    let mut config = ServerConfig::new(path);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config
}

async fn start_with(config: ServerConfig, initial: CrSettings) -> Server {
    let path = config.path.clone();
    let (settings, settings_rx) = watch::channel(initial);
    let (handle, rx) = ConnectionRequestServer::bind(config, settings_rx)
        .await
        .expect("bind");
    Server {
        handle,
        rx,
        settings,
        path,
    }
}

async fn start() -> Server {
    let path = random_path();
    start_with(test_config(&path), settings(USER, PASS, true)).await
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: cpe.example\r\nConnection: keep-alive\r\n{extra}\r\n")
}

fn authorization_for(challenge: &str, user: &str, pass: &str, uri: &str) -> String {
    let mut prompt = digest_auth::parse(challenge).expect("challenge parses");
    let answer = prompt
        .respond(&AuthContext::new(user, pass, uri))
        .expect("respond");
    format!("Authorization: {answer}\r\n")
}

/// The challenge/answer dance on one connection, digest_auth's client side. Returns the
/// authenticated request it sent and the final response.
async fn connection_request(server: &Server, user: &str, pass: &str) -> (String, Resp) {
    let mut conn = Conn::open(server).await;
    let first = conn.send(&get(&server.path, "")).await;
    assert_eq!(first.status, 401, "{first:?}");
    let auth = authorization_for(first.challenge(), user, pass, &server.path);
    let request = get(&server.path, &auth);
    let resp = conn.send(&request).await;
    (request, resp)
}

/// [`connection_request`] from another source address.
async fn connection_request_from(
    server: &Server,
    source: std::net::IpAddr,
    user: &str,
    pass: &str,
) -> (String, Resp) {
    let mut conn = Conn::open_from(server, source).await;
    let first = conn.send(&get(&server.path, "")).await;
    assert_eq!(first.status, 401, "{first:?}");
    let auth = authorization_for(first.challenge(), user, pass, &server.path);
    let request = get(&server.path, &auth);
    let resp = conn.send(&request).await;
    (request, resp)
}

/// The first step of an exchange (the unauthenticated GET), expected to be refused with
/// `status`, from `source` (default 127.0.0.1).
async fn connection_request_expecting(
    server: &Server,
    source: Option<std::net::IpAddr>,
    status: u16,
) -> (String, Resp) {
    let mut conn = match source {
        Some(ip) => Conn::open_from(server, ip).await,
        None => Conn::open(server).await,
    };
    let request = get(&server.path, "");
    let resp = conn.send(&request).await;
    assert_eq!(resp.status, status, "{resp:?}");
    (request, resp)
}

async fn expect_signal(server: &mut Server) -> ConnectionRequested {
    timeout(GUARD, server.rx.recv())
        .await
        .expect("no signal")
        .expect("channel open")
}

/// The signal is queued before the response is flushed, so once the client has the response
/// any signal it caused is already observable.
fn expect_no_signal(server: &mut Server) {
    match server.rx.try_recv() {
        Err(mpsc::error::TryRecvError::Empty) => {}
        other => panic!("unexpected signal state: {other:?}"),
    }
}

#[tokio::test]
async fn get_without_auth_is_challenged_and_does_not_signal() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let resp = conn.send(&get(&server.path, "")).await;
    assert_eq!(resp.status, 401);
    assert!(resp.body.is_empty());
    let challenge = resp.challenge();
    assert!(challenge.starts_with("Digest "), "{challenge}");
    assert!(challenge.contains(r#"qop="auth""#), "{challenge}");
    assert!(challenge.contains("algorithm=MD5"), "{challenge}");
    assert!(challenge.contains("opaque="), "{challenge}");
    let parsed = digest_auth::parse(challenge).unwrap();
    assert!(!parsed.nonce.is_empty());
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn correct_digest_gets_200_empty_and_exactly_one_signal() {
    let mut server = start().await;
    let (_, resp) = connection_request(&server, USER, PASS).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(resp.body.is_empty());
    assert_eq!(resp.header("content-length"), Some("0"));
    let lengths = resp
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .count();
    assert_eq!(lengths, 1, "{resp:?}");
    let signal = expect_signal(&mut server).await;
    assert_eq!(signal.from.ip(), std::net::Ipv4Addr::LOCALHOST);
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn genieacs_shaped_retry_is_accepted() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    // GenieACS: a plain GET with only Host and Connection: keep-alive.
    let first = conn
        .send(&format!(
            "GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
            server.path
        ))
        .await;
    assert_eq!(first.status, 401);
    let ch = digest_auth::parse(first.challenge()).unwrap();
    let opaque = ch.opaque.clone().expect("opaque");

    // The retry, built by hand: qop=auth unquoted, nc=00000001, opaque echoed, no spaces.
    let md5 = Algorithm::new(AlgorithmType::MD5, false);
    let cnonce = "0a4f113b9c2d7e55";
    let nc = "00000001";
    let ha1 = md5.hash(format!("{USER}:{}:{PASS}", ch.realm).as_bytes());
    let ha2 = md5.hash(format!("GET:{}", server.path).as_bytes());
    let response = md5.hash(format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", ch.nonce).as_bytes());
    let header = format!(
        "Digest username=\"{USER}\",realm=\"{}\",nonce=\"{}\",uri=\"{}\",algorithm=MD5,qop=auth,nc={nc},cnonce=\"{cnonce}\",response=\"{response}\",opaque=\"{opaque}\"",
        ch.realm, ch.nonce, server.path
    );
    let retry = conn
        .send(&format!(
            "GET {} HTTP/1.1\r\nAuthorization: {header}\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
            server.path
        ))
        .await;
    assert_eq!(retry.status, 200, "{retry:?}");
    assert!(retry.body.is_empty());
    expect_signal(&mut server).await;
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn post_is_405() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let resp = conn
        .send(&format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            server.path
        ))
        .await;
    assert_eq!(resp.status, 405);
    assert_eq!(resp.header("allow"), Some("GET"));
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn post_with_valid_digest_is_still_405() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let first = conn.send(&get(&server.path, "")).await;
    let mut prompt = digest_auth::parse(first.challenge()).unwrap();
    let mut ctx = AuthContext::new(USER, PASS, server.path.as_str());
    ctx.method = digest_auth::HttpMethod::POST;
    let answer = prompt.respond(&ctx).unwrap();
    let resp = conn
        .send(&format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: {answer}\r\nContent-Length: 0\r\n\r\n",
            server.path
        ))
        .await;
    assert_eq!(resp.status, 405);
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn wrong_path_is_404() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let resp = conn.send(&get("/not-the-path", "")).await;
    assert_eq!(resp.status, 404);
    assert!(resp.header("www-authenticate").is_none());
    let resp = conn.send(&get(&format!("{}x", server.path), "")).await;
    assert_eq!(resp.status, 404);
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn wrong_password_is_401_with_a_fresh_challenge() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let first = conn.send(&get(&server.path, "")).await;
    let auth = authorization_for(first.challenge(), USER, "wrong", &server.path);
    let resp = conn.send(&get(&server.path, &auth)).await;
    assert_eq!(resp.status, 401);
    let n1 = digest_auth::parse(first.challenge()).unwrap().nonce;
    let n2 = digest_auth::parse(resp.challenge()).unwrap().nonce;
    assert_ne!(n1, n2, "a fresh challenge");
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn replay_of_the_same_authorization_is_401() {
    let mut server = start().await;
    let (request, resp) = connection_request(&server, USER, PASS).await;
    assert_eq!(resp.status, 200);
    expect_signal(&mut server).await;

    // An eavesdropper replays the exact request on a new connection.
    let mut conn = Conn::open(&server).await;
    let replay = conn.send(&request).await;
    assert_eq!(replay.status, 401);
    assert!(!replay.challenge().contains("stale=true"));
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn query_string_and_body_are_ignored() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let target = format!("{}?command=ignored", server.path);
    let first = conn.send(&get(&target, "")).await;
    assert_eq!(first.status, 401);
    let auth = authorization_for(first.challenge(), USER, PASS, &target);
    let resp = conn
        .send(&format!(
            "GET {target} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 5\r\n\r\nhello"
        ))
        .await;
    assert_eq!(resp.status, 200, "{resp:?}");
    expect_signal(&mut server).await;
}

/// 50 connection requests in 5 s from one source, each the whole GenieACS exchange on a new
/// connection (unauthenticated GET, 401 challenge, GET with Authorization), with the default
/// limits: every one is answered 200, and nothing consumed the signals meanwhile, so they all
/// coalesce into one pending session.
#[tokio::test]
async fn burst_of_authenticated_requests_is_never_refused() {
    let mut server = start().await;
    for i in 0..50 {
        let (_, resp) = connection_request(&server, USER, PASS).await;
        assert_eq!(resp.status, 200, "request {i}: {resp:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    expect_signal(&mut server).await;
    expect_no_signal(&mut server);
}

/// Wrong credentials, over and over, from one source (the default limits): the first
/// `DEFAULT_FAILED_AUTH.max` wrong answers get 401, then everything from that source gets 429
/// with Retry-After — even a right answer to a challenge it still holds. Another source with
/// the right credentials is not affected.
#[tokio::test]
async fn password_guessing_is_cut_off_per_source() {
    let mut server = start().await;
    let budget = RateLimitConfig::DEFAULT_FAILED_AUTH.max as usize;
    // A valid challenge fetched before the guessing, for the right answer later.
    let held = Conn::open(&server).await.send(&get(&server.path, "")).await;
    assert_eq!(held.status, 401);

    let mut statuses = Vec::new();
    for i in 0..(budget + 20) {
        let mut conn = Conn::open(&server).await;
        let first = conn.send(&get(&server.path, "")).await;
        if first.status != 401 {
            statuses.push(first);
            continue;
        }
        let auth = authorization_for(first.challenge(), USER, &format!("guess-{i}"), &server.path);
        statuses.push(conn.send(&get(&server.path, &auth)).await);
    }
    let codes: Vec<u16> = statuses.iter().map(|r| r.status).collect();
    let wrong = codes.iter().take_while(|&&c| c == 401).count();
    assert_eq!(wrong, budget, "{codes:?}");
    assert!(codes[budget..].iter().all(|&c| c == 429), "{codes:?}");
    for refused in &statuses[budget..] {
        assert!(refused.header("www-authenticate").is_none(), "{refused:?}");
        let retry: u64 = refused
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Retry-After seconds in {refused:?}"));
        assert!((1..=600).contains(&retry), "{refused:?}");
    }

    // The right credentials from the blocked source: refused without being looked at.
    let auth = authorization_for(held.challenge(), USER, PASS, &server.path);
    let blocked = Conn::open(&server)
        .await
        .send(&get(&server.path, &auth))
        .await;
    assert_eq!(blocked.status, 429, "{blocked:?}");
    let (_, blocked) = connection_request_expecting(&server, None, 429).await;
    assert_eq!(blocked.status, 429);
    expect_no_signal(&mut server);

    // Another source, right credentials: accepted.
    let other = "127.0.0.2".parse().unwrap();
    let (_, ok) = connection_request_from(&server, other, USER, PASS).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    expect_signal(&mut server).await;
}

/// However many connections a guesser opens at once, it gets exactly as many verified
/// attempts as its failure budget holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_get_exactly_the_budget() {
    let path = random_path();
    let mut config = test_config(&path);
    config.rate_limit = RateLimitConfig {
        failed_auth_per_source: Some(Limit::new(3, Duration::from_secs(3600))),
        ..RateLimitConfig::default()
    };
    let mut server = start_with(config, settings(USER, PASS, true)).await;
    // A nonce we never issued, with a wrong response: a failed authentication, no GET needed.
    let forged = r#"Digest realm="tr069-client", qop="auth", algorithm=MD5, nonce="00112233445566778899aabbccddeeff", opaque="ab""#;
    let request = get(
        &server.path,
        &authorization_for(forged, USER, "guess", &server.path),
    );
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let mut conn = Conn::open(&server).await;
        let request = request.clone();
        tasks.push(tokio::spawn(
            async move { conn.send(&request).await.status },
        ));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes, [[401; 3].as_slice(), &[429; 9]].concat());
    expect_no_signal(&mut server);
}

/// A replayed request (an eavesdropper's) is a failed authentication like a wrong password.
#[tokio::test]
async fn replays_count_as_failed_authentication() {
    let path = random_path();
    let mut config = test_config(&path);
    config.rate_limit = RateLimitConfig {
        failed_auth_per_source: Some(Limit::new(2, Duration::from_secs(3600))),
        ..RateLimitConfig::default()
    };
    let mut server = start_with(config, settings(USER, PASS, true)).await;
    let (request, resp) = connection_request(&server, USER, PASS).await;
    assert_eq!(resp.status, 200);
    expect_signal(&mut server).await;
    let mut conn = Conn::open(&server).await;
    assert_eq!(conn.send(&request).await.status, 401);
    assert_eq!(conn.send(&request).await.status, 401);
    assert_eq!(conn.send(&request).await.status, 429);
    expect_no_signal(&mut server);
}

/// Unauthenticated requests have a generous per-source budget of their own; past it only those
/// are refused (429), and other sources are not affected.
#[tokio::test]
async fn too_many_unauthenticated_requests_are_429_for_that_source_only() {
    let path = random_path();
    let mut config = test_config(&path);
    config.rate_limit = RateLimitConfig {
        challenges_per_source: Some(Limit::new(3, Duration::from_secs(3600))),
        ..RateLimitConfig::default()
    };
    let mut server = start_with(config, settings(USER, PASS, true)).await;
    let mut conn = Conn::open(&server).await;
    let mut last = None;
    for _ in 0..3 {
        let r = conn.send(&get(&server.path, "")).await;
        assert_eq!(r.status, 401);
        last = Some(r);
    }
    let refused = conn.send(&get(&server.path, "")).await;
    assert_eq!(refused.status, 429);
    assert!(refused.header("retry-after").is_some(), "{refused:?}");
    // An answer to a challenge it holds still goes through.
    let auth = authorization_for(last.unwrap().challenge(), USER, PASS, &server.path);
    assert_eq!(conn.send(&get(&server.path, &auth)).await.status, 200);
    expect_signal(&mut server).await;
    let other = "127.0.0.3".parse().unwrap();
    let (_, ok) = connection_request_from(&server, other, USER, PASS).await;
    assert_eq!(ok.status, 200);
}

/// The global cap: 503 (the device is too busy for everyone), without Retry-After.
#[tokio::test]
async fn global_limit_is_503() {
    let path = random_path();
    let mut config = test_config(&path);
    config.rate_limit = RateLimitConfig {
        failed_auth_per_source: None,
        challenges_per_source: None,
        global: Some(Limit::new(2, Duration::from_secs(3600))),
        max_sources: 16,
    };
    let mut server = start_with(config, settings(USER, PASS, true)).await;
    let mut conn = Conn::open(&server).await;
    let first = conn.send(&get(&server.path, "")).await;
    assert_eq!(first.status, 401);
    assert_eq!(conn.send(&get(&server.path, "")).await.status, 401);
    // Even a correctly authenticated request is refused now, and triggers nothing.
    let auth = authorization_for(first.challenge(), USER, PASS, &server.path);
    let limited = conn.send(&get(&server.path, &auth)).await;
    assert_eq!(limited.status, 503);
    assert!(limited.header("retry-after").is_none());
    assert!(limited.body.is_empty());
    let other = "127.0.0.4".parse().unwrap();
    let (_, limited) = connection_request_expecting(&server, Some(other), 503).await;
    assert_eq!(limited.status, 503);
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn several_crs_before_the_session_starts_coalesce_into_one_signal() {
    let mut server = start().await;
    for _ in 0..3 {
        let (_, resp) = connection_request(&server, USER, PASS).await;
        assert_eq!(resp.status, 200, "every CR is answered");
    }
    // The agent starts its session: one signal for all three.
    let first = expect_signal(&mut server).await;
    expect_no_signal(&mut server);

    // A CR during the session queues exactly one more session.
    for _ in 0..2 {
        let (_, resp) = connection_request(&server, USER, PASS).await;
        assert_eq!(resp.status, 200);
    }
    let second = expect_signal(&mut server).await;
    assert!(second.at >= first.at);
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn nonce_reuse_with_increasing_nc_on_one_connection() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let first = conn.send(&get(&server.path, "")).await;
    let mut prompt = digest_auth::parse(first.challenge()).unwrap();
    let path = server.path.clone();
    let ctx = AuthContext::new(USER, PASS, path.as_str());
    for _ in 0..2 {
        let answer = prompt.respond(&ctx).unwrap();
        let resp = conn
            .send(&get(&path, &format!("Authorization: {answer}\r\n")))
            .await;
        assert_eq!(resp.status, 200);
        expect_signal(&mut server).await;
    }
}

#[tokio::test]
async fn disabled_never_signals() {
    let path = random_path();
    let mut server = start_with(test_config(&path), settings(USER, PASS, false)).await;
    let mut conn = Conn::open(&server).await;
    let resp = conn.send(&get(&server.path, "")).await;
    assert_eq!(resp.status, 403);
    assert!(resp.header("www-authenticate").is_none());
    // Even with a valid-looking answer to some challenge, nothing happens.
    let forged = r#"Digest realm="tr069-client", qop="auth", algorithm=MD5, nonce="00112233445566778899aabbccddeeff", opaque="ab""#;
    let auth = authorization_for(forged, USER, PASS, &server.path);
    let resp = conn.send(&get(&server.path, &auth)).await;
    assert_eq!(resp.status, 403);
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn empty_username_never_signals() {
    let path = random_path();
    let mut server = start_with(test_config(&path), settings("", "", true)).await;
    let (_, resp) = connection_request(&server, "", "").await;
    assert_eq!(resp.status, 401);
    let (_, resp) = connection_request(&server, "anyone", "").await;
    assert_eq!(resp.status, 401);
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn settings_changes_apply_immediately() {
    let path = random_path();
    let mut server = start_with(test_config(&path), settings("", "", false)).await;
    let mut conn = Conn::open(&server).await;
    assert_eq!(conn.send(&get(&server.path, "")).await.status, 403);

    server.settings.send_replace(settings(USER, PASS, true));
    let (_, resp) = connection_request(&server, USER, PASS).await;
    assert_eq!(resp.status, 200);
    expect_signal(&mut server).await;

    // The ACS rotates the password: the old one stops working at once.
    server
        .settings
        .send_replace(settings(USER, "rotated", true));
    let (_, resp) = connection_request(&server, USER, PASS).await;
    assert_eq!(resp.status, 401);
    let (_, resp) = connection_request(&server, USER, "rotated").await;
    assert_eq!(resp.status, 200);
    expect_signal(&mut server).await;
}

#[tokio::test]
async fn basic_auth_is_never_accepted() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    // base64("acs-user:acs-pass")
    let resp = conn
        .send(&get(
            &server.path,
            "Authorization: Basic YWNzLXVzZXI6YWNzLXBhc3M=\r\n",
        ))
        .await;
    assert_eq!(resp.status, 401);
    assert!(resp.challenge().starts_with("Digest "));
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let mut server = start().await;
    let mut conn = Conn::open(&server).await;
    let big = format!("X-Filler: {}\r\n", "a".repeat(16 * 1024));
    let raw = get(&server.path, &big);
    // The server may answer 431 or just close before reading everything: both are refusals.
    let _ = conn.stream.write_all(raw.as_bytes()).await;
    let mut out = Vec::new();
    let _ = timeout(GUARD, conn.stream.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(
        out.is_empty() || text.starts_with("HTTP/1.1 431"),
        "unexpected answer: {text}"
    );
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn slowloris_connection_is_closed() {
    let path = random_path();
    let mut config = test_config(&path);
    config.header_read_timeout = Duration::from_millis(200);
    let mut server = start_with(config, settings(USER, PASS, true)).await;
    let mut conn = Conn::open(&server).await;
    conn.stream
        .write_all(format!("GET {} HTTP/1.1\r\nHost: x\r\n", server.path).as_bytes())
        .await
        .unwrap();
    // Never finish the head: the server must hang up on its own.
    conn.expect_closed().await;
    expect_no_signal(&mut server);
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let server = start().await;
    let addr = server.handle.local_addr();
    let mut idle = Conn::open(&server).await;
    timeout(GUARD, server.handle.shutdown())
        .await
        .expect("shutdown finished");
    idle.expect_closed().await;
    let refused = timeout(GUARD, TcpStream::connect(addr))
        .await
        .expect("connect guard");
    assert!(refused.is_err(), "still accepting after shutdown");
}

#[tokio::test]
async fn url_helper_matches_bound_address() {
    let server = start().await;
    let addr = server.handle.local_addr();
    let url = connection_request_url(addr.ip(), addr.port(), &server.path);
    assert_eq!(
        url,
        format!("http://127.0.0.1:{}{}", addr.port(), server.path)
    );
}

/// The abuse matrix (SECURITY.md): an answer to a nonce that has expired is refused (401) with
/// a fresh challenge marked `stale=true` (the credentials were right: the ACS retries with the
/// new nonce without asking anyone for a password), and the retry succeeds.
#[tokio::test]
async fn stale_nonce_is_401_stale_then_the_retry_succeeds() {
    let path = random_path();
    let mut config = test_config(&path);
    config.auth.nonce_lifetime = Duration::from_millis(300);
    let mut server = start_with(config, settings(USER, PASS, true)).await;
    let mut conn = Conn::open(&server).await;
    let first = conn.send(&get(&server.path, "")).await;
    assert_eq!(first.status, 401);
    let challenge = first.challenge().to_owned();
    // Let the nonce expire (this waits for the server's lifetime; nothing is timed).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let late = conn
        .send(&get(
            &server.path,
            &authorization_for(&challenge, USER, PASS, &server.path),
        ))
        .await;
    assert_eq!(late.status, 401, "{late:?}");
    assert!(late.challenge().contains("stale=true"), "{late:?}");
    expect_no_signal(&mut server);
    let retry = conn
        .send(&get(
            &server.path,
            &authorization_for(late.challenge(), USER, PASS, &server.path),
        ))
        .await;
    assert_eq!(retry.status, 200, "{retry:?}");
    expect_signal(&mut server).await;
}

/// `CrConnectionServer::serve_connection` is what the accept loop runs for every TCP connection;
/// served an in-memory stream directly (as the fuzz target `cr_http` does), it answers the same
/// way: a challenge, then 200 to the right Digest answer, and the agent is signalled with the
/// peer address it was given.
#[tokio::test]
async fn an_accepted_connection_is_served_without_a_listener() {
    let path = random_path();
    let (_settings, settings_rx) = watch::channel(settings(USER, PASS, true));
    let (server, mut rx) =
        CrConnectionServer::new(&test_config(&path), settings_rx).expect("a valid configuration");
    let peer: std::net::SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let mut conn = Conn::in_memory(&server, peer);
    let first = conn.send(&get(&path, "")).await;
    assert_eq!(first.status, 401, "{first:?}");
    assert!(rx.try_recv().is_err());
    let auth = authorization_for(first.challenge(), USER, PASS, &path);
    let resp = conn.send(&get(&path, &auth)).await;
    assert_eq!(resp.status, 200, "{resp:?}");
    let signal = timeout(GUARD, rx.recv())
        .await
        .expect("no signal")
        .expect("channel open");
    assert_eq!(signal.from, peer);
    // The wrong path, on another connection of the same server: 404.
    let mut other = Conn::in_memory(&server, peer);
    assert_eq!(other.send(&get("/elsewhere", "")).await.status, 404);
}

#[test]
fn a_connection_server_refuses_an_invalid_path() {
    let (_settings, settings_rx) = watch::channel(settings(USER, PASS, true));
    let error = CrConnectionServer::new(&test_config("no-slash"), settings_rx).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("invalid connection request path"),
        "{error}"
    );
}
