//! The ACS transport against real sockets on 127.0.0.1: small hyper (and raw tokio) servers
//! play the ACS.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use digest_auth::{AuthContext, AuthorizationHeader};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tr069_client::http::{
    ClientCertificate, ErrorKind, SessionConnection, TlsSettings, TransportConfig,
};

// ---------------------------------------------------------------------------------------------
// A tiny programmable ACS.

#[derive(Debug, Clone)]
struct Recorded {
    conn: usize,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    hang: bool,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        ..Reply::default()
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Server {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }
}

async fn spawn_server(tls: Option<Arc<ServerConfig>>, handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let counter = Arc::new(AtomicUsize::new(0));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let server_log = log.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let conn_id = counter.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let log = server_log.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    let log = log.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let rec = Recorded {
                            conn: conn_id,
                            path: parts
                                .uri
                                .path_and_query()
                                .map(|p| p.to_string())
                                .unwrap_or_default(),
                            headers: parts.headers,
                            body,
                        };
                        log.lock().unwrap().push(rec.clone());
                        let r = handler(&rec);
                        if r.hang {
                            std::future::pending::<()>().await;
                        }
                        let mut resp = Response::builder().status(r.status);
                        for (k, v) in r.headers {
                            resp = resp.header(k, v);
                        }
                        Ok::<_, std::convert::Infallible>(
                            resp.body(Full::new(Bytes::from(r.body))).unwrap(),
                        )
                    }
                });
                match acceptor {
                    None => {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(tcp), service)
                            .await;
                    }
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tls), service)
                                .await;
                        }
                    }
                }
            });
        }
    });
    Server { addr, log }
}

fn config(url: String) -> TransportConfig {
    let mut c = TransportConfig::new(url);
    c.connect_timeout = Duration::from_secs(5);
    c.request_timeout = Duration::from_secs(5);
    c
}

const INFORM: &str = "<soap-env:Envelope><cwmp:Inform/></soap-env:Envelope>";

fn inform() -> Option<Bytes> {
    Some(Bytes::from_static(INFORM.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Plain HTTP: headers, empty POST, 204, cookies.

#[tokio::test]
async fn inform_then_empty_post_then_204_with_cookie_on_one_connection() {
    let server = spawn_server(
        None,
        Arc::new(|r: &Recorded| {
            if r.body.is_empty() {
                reply(204)
            } else {
                reply(200)
                    .header("Content-Type", "text/xml; charset=\"utf-8\"")
                    .header("Set-Cookie", "session=0123abcd")
                    .body("<cwmp:InformResponse/>")
            }
        }),
    )
    .await;
    let mut s = SessionConnection::open(&config(server.url("/acs")))
        .await
        .unwrap();
    let r = s.post(inform(), true).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"<cwmp:InformResponse/>");
    assert!(!r.is_empty());
    assert_eq!(
        r.content_type.as_deref(),
        Some("text/xml; charset=\"utf-8\"")
    );
    let r = s.post(None, false).await.unwrap();
    assert_eq!(r.status, 204);
    assert!(r.is_empty());
    s.close().await;

    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let (first, second) = (&reqs[0], &reqs[1]);
    assert_eq!(first.path, "/acs");
    assert_eq!(&first.body[..], INFORM.as_bytes());
    assert_eq!(
        first.header("content-type"),
        Some("text/xml; charset=\"utf-8\"")
    );
    assert_eq!(first.header("soapaction"), Some(""));
    assert_eq!(
        first.header("content-length"),
        Some(INFORM.len().to_string().as_str())
    );
    assert_eq!(first.header("host"), Some(server.addr.to_string().as_str()));
    assert!(
        first
            .header("user-agent")
            .unwrap()
            .starts_with("tr069-client/")
    );
    assert_eq!(first.header("cookie"), None, "the jar starts empty");
    // The empty POST.
    assert!(second.body.is_empty());
    assert_eq!(second.header("content-length"), Some("0"));
    assert_eq!(second.header("content-type"), None);
    assert_eq!(second.header("soapaction"), None);
    assert_eq!(second.header("cookie"), Some("session=0123abcd"));
    // One kept-alive connection.
    assert_eq!(first.conn, second.conn);
}

#[tokio::test]
async fn cookie_jar_is_per_session_and_replaces_values() {
    let n = Arc::new(AtomicUsize::new(0));
    let server = spawn_server(
        None,
        Arc::new(move |_r: &Recorded| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            reply(200)
                .header("Set-Cookie", format!("session={i}; Path=/"))
                .body("<x/>")
        }),
    )
    .await;
    let cfg = config(server.url("/"));
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    s.post(inform(), true).await.unwrap();
    s.post(None, false).await.unwrap();
    s.post(None, false).await.unwrap();
    s.close().await;
    let mut s2 = SessionConnection::open(&cfg).await.unwrap();
    s2.post(inform(), true).await.unwrap();
    let cookies: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.header("cookie").map(str::to_string))
        .collect();
    assert_eq!(
        cookies,
        vec![
            None,
            Some("session=0".into()),
            Some("session=1".into()),
            None // a new session starts with an empty jar
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Authentication.

#[tokio::test]
async fn basic_auth_answered_then_sent_on_every_request() {
    let server = spawn_server(
        None,
        Arc::new(|r: &Recorded| {
            // "cpe:secret"
            if r.header("authorization") == Some("Basic Y3BlOnNlY3JldA==") {
                reply(200).body("<ok/>")
            } else {
                reply(401).header("WWW-Authenticate", "Basic realm=\"acs\"")
            }
        }),
    )
    .await;
    let cfg = config(server.url("/")).with_credentials("cpe", "secret");
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s.post(inform(), true).await.unwrap().status, 200);
    assert_eq!(s.post(None, false).await.unwrap().status, 200);
    let reqs = server.requests();
    assert_eq!(
        reqs.len(),
        3,
        "challenge, answer, then preemptive on the next POST"
    );
    assert_eq!(reqs[0].header("authorization"), None);
    assert_eq!(
        reqs[1].conn, reqs[0].conn,
        "answered on the same connection"
    );
    assert_eq!(
        &reqs[1].body[..],
        INFORM.as_bytes(),
        "the Inform is re-sent"
    );
    assert!(reqs[2].header("authorization").is_some());
}

#[tokio::test]
async fn basic_auth_wrong_password_says_so() {
    let server = spawn_server(
        None,
        Arc::new(|_r: &Recorded| reply(401).header("WWW-Authenticate", "Basic realm=\"acs\"")),
    )
    .await;
    let cfg = config(server.url("/")).with_credentials("cpe", "wrong");
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.to_string(),
        "ACS answered 401 to Basic auth: check username/password"
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn no_credentials_configured_but_acs_wants_some() {
    let server = spawn_server(
        None,
        Arc::new(|_r: &Recorded| reply(401).header("WWW-Authenticate", "Basic realm=\"acs\"")),
    )
    .await;
    let mut s = SessionConnection::open(&config(server.url("/")))
        .await
        .unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(
        e.to_string().contains("no username/password is configured"),
        "{e}"
    );
}

/// A Digest ACS like GenieACS: nonce tied to the TCP connection, wrong credentials get a bare
/// 401 with `Connection: close`. `challenge` formats the WWW-Authenticate value for a nonce.
fn digest_acs(
    password: &'static str,
    challenge: fn(&str) -> String,
) -> (Handler, Arc<Mutex<Vec<AuthorizationHeader>>>) {
    let nonces: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let accepted: Arc<Mutex<Vec<AuthorizationHeader>>> = Arc::default();
    let acc = accepted.clone();
    let handler: Handler = Arc::new(move |r: &Recorded| {
        let mut nonces = nonces.lock().unwrap();
        let nonce = nonces
            .entry(r.conn)
            .or_insert_with(|| format!("{:032x}", rand::random::<u128>()))
            .clone();
        let Some(auth) = r.header("authorization") else {
            return reply(401).header("WWW-Authenticate", challenge(&nonce));
        };
        let Ok(parsed) = AuthorizationHeader::parse(auth) else {
            return reply(400);
        };
        if parsed.nonce != nonce {
            // Not this connection's nonce: challenge again.
            return reply(401).header("WWW-Authenticate", challenge(&nonce));
        }
        let mut expected = parsed.clone();
        expected.digest(&AuthContext::new_post(
            "cpe",
            password,
            r.path.as_str(),
            Some(&r.body[..]),
        ));
        if expected.response != parsed.response || parsed.username != "cpe" {
            return reply(401).header("Connection", "close");
        }
        acc.lock().unwrap().push(parsed);
        if r.body.is_empty() {
            reply(204)
        } else {
            reply(200).header("Set-Cookie", "session=d1").body("<ok/>")
        }
    });
    (handler, accepted)
}

fn genieacs_challenge(nonce: &str) -> String {
    format!("Digest realm=\"GenieACS\",qop=\"auth,auth-int\",nonce={nonce}")
}

fn sha256_challenge(nonce: &str) -> String {
    format!(
        "Digest realm=\"acs@example\", qop=\"auth\", algorithm=SHA-256, nonce=\"{nonce}\", opaque=\"0paque\""
    )
}

#[tokio::test]
async fn digest_md5_genieacs_style_same_connection_and_nc_increments() {
    let (handler, accepted) = digest_acs("secret", genieacs_challenge);
    let server = spawn_server(None, handler).await;
    let cfg = config(server.url("/cwmp")).with_credentials("cpe", "secret");
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s.post(inform(), true).await.unwrap().status, 200);
    assert_eq!(
        s.post(Some(Bytes::from_static(b"<r/>")), false)
            .await
            .unwrap()
            .status,
        200
    );
    assert_eq!(s.post(None, false).await.unwrap().status, 204);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 4, "one challenge, then three authorized POSTs");
    assert!(
        reqs.iter().all(|r| r.conn == reqs[0].conn),
        "one TCP connection"
    );
    let acc = accepted.lock().unwrap();
    assert_eq!(acc.len(), 3);
    assert_eq!(acc.iter().map(|a| a.nc).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert_eq!(
        acc[0].qop,
        Some(digest_auth::Qop::AUTH),
        "qop=auth, not auth-int"
    );
    assert_eq!(acc[0].algorithm.to_string(), "MD5");
    assert!(
        acc.iter().all(|a| a.cnonce == acc[0].cnonce),
        "one cnonce per connection"
    );
    assert_eq!(reqs[3].header("cookie"), Some("session=d1"));
}

#[tokio::test]
async fn digest_sha256_with_opaque() {
    let (handler, accepted) = digest_acs("pa55", sha256_challenge);
    let server = spawn_server(None, handler).await;
    let cfg = config(server.url("/")).with_credentials("cpe", "pa55");
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s.post(inform(), true).await.unwrap().status, 200);
    let acc = accepted.lock().unwrap();
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].algorithm.to_string(), "SHA-256");
    assert_eq!(acc[0].opaque.as_deref(), Some("0paque"));
}

#[tokio::test]
async fn digest_wrong_password_is_a_plain_auth_error() {
    let (handler, accepted) = digest_acs("right", genieacs_challenge);
    let server = spawn_server(None, handler).await;
    let cfg = config(server.url("/")).with_credentials("cpe", "wrong");
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert_eq!(
        e.to_string(),
        "ACS answered 401 to Digest auth: check username/password"
    );
    assert!(accepted.lock().unwrap().is_empty());
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn digest_challenge_with_connection_close_is_answered_on_a_new_connection() {
    // This ACS's nonce is not tied to the connection, but it closes after the 401.
    let nonce = "fixednonce";
    let server = spawn_server(
        None,
        Arc::new(move |r: &Recorded| {
            let challenge = format!("Digest realm=\"x\", qop=\"auth\", nonce=\"{nonce}\"");
            match r.header("authorization").map(AuthorizationHeader::parse) {
                Some(Ok(parsed)) => {
                    let mut expected = parsed.clone();
                    expected.digest(&AuthContext::new_post(
                        "cpe",
                        "pw",
                        r.path.as_str(),
                        None::<&[u8]>,
                    ));
                    if expected.response == parsed.response {
                        reply(200).body("<ok/>")
                    } else {
                        reply(401)
                    }
                }
                _ => reply(401)
                    .header("WWW-Authenticate", challenge)
                    .header("Connection", "close"),
            }
        }),
    )
    .await;
    let cfg = config(server.url("/")).with_credentials("cpe", "pw");
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s.post(inform(), true).await.unwrap().status, 200);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_ne!(reqs[0].conn, reqs[1].conn);
    assert_eq!(s.connections_opened(), 2);
}

// ---------------------------------------------------------------------------------------------
// Reconnection.

#[tokio::test]
async fn acs_closing_after_each_answer_is_followed_by_transparent_reconnects() {
    let server = spawn_server(
        None,
        Arc::new(|r: &Recorded| {
            let r = if r.header("cookie").is_none() {
                reply(200).header("Set-Cookie", "session=feed")
            } else {
                reply(200)
            };
            r.header("Connection", "close").body("<m/>")
        }),
    )
    .await;
    let mut s = SessionConnection::open(&config(server.url("/")))
        .await
        .unwrap();
    for _ in 0..3 {
        let r = s.post(inform(), false).await.unwrap();
        assert!(r.connection_closed);
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(
        reqs.iter().map(|r| r.conn).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "a new connection for each POST"
    );
    assert_eq!(reqs[1].header("cookie"), Some("session=feed"));
    assert_eq!(reqs[2].header("cookie"), Some("session=feed"));
    assert_eq!(s.connections_opened(), 3);
}

/// A raw server that answers one request per connection and then closes the socket without
/// saying `Connection: close`.
async fn spawn_raw_closing_server() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let heads: Arc<Mutex<Vec<String>>> = Arc::default();
    let h = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let h = h.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let Ok(n) = tcp.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            h.lock().unwrap().push(head);
                            break;
                        }
                    }
                }
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: s=raw\r\n\r\nhello",
                    )
                    .await;
                // Close without warning.
            });
        }
    });
    (addr, heads)
}

#[tokio::test]
async fn acs_silently_closing_the_idle_connection_is_survived() {
    let (addr, heads) = spawn_raw_closing_server().await;
    let mut s = SessionConnection::open(&config(format!("http://{addr}/")))
        .await
        .unwrap();
    for _ in 0..3 {
        // Give the close time to arrive, either way must work.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let r = s.post(inform(), false).await.unwrap();
        assert_eq!(&r.body[..], b"hello");
    }
    let heads = heads.lock().unwrap();
    assert_eq!(heads.len(), 3);
    assert!(
        heads[1].to_ascii_lowercase().contains("cookie: s=raw"),
        "{}",
        heads[1]
    );
    assert!(heads[2].to_ascii_lowercase().contains("cookie: s=raw"));
}

// ---------------------------------------------------------------------------------------------
// Redirects.

#[tokio::test]
async fn redirect_307_on_the_inform_is_followed_for_this_session_only() {
    let target = spawn_server(
        None,
        Arc::new(|r: &Recorded| {
            if r.body.is_empty() {
                reply(204)
            } else {
                reply(200).body("<InformResponse/>")
            }
        }),
    )
    .await;
    let new_url = target.url("/real");
    let nu = new_url.clone();
    let origin = spawn_server(
        None,
        Arc::new(move |_r: &Recorded| reply(307).header("Location", nu.clone())),
    )
    .await;
    let cfg = config(origin.url("/"));
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    let r = s.post(inform(), true).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(s.current_url(), new_url);
    assert_eq!(s.redirect_count(), 1);
    assert_eq!(s.post(None, false).await.unwrap().status, 204);
    assert_eq!(origin.requests().len(), 1);
    let treqs = target.requests();
    assert_eq!(treqs.len(), 2);
    assert_eq!(treqs[0].path, "/real");
    assert_eq!(
        &treqs[0].body[..],
        INFORM.as_bytes(),
        "the Inform is re-POSTed"
    );
    s.close().await;
    // The next session starts at the configured URL again.
    let s2 = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s2.current_url(), origin.url("/"));
}

#[tokio::test]
async fn redirect_outside_the_inform_is_refused() {
    let server = spawn_server(
        None,
        Arc::new(|_r: &Recorded| reply(302).header("Location", "/elsewhere")),
    )
    .await;
    let mut s = SessionConnection::open(&config(server.url("/")))
        .await
        .unwrap();
    let e = s.post(None, false).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Redirect);
    assert!(
        e.to_string()
            .contains("only allowed in reply to the Inform"),
        "{e}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn more_than_five_redirects_are_refused() {
    let n = Arc::new(AtomicUsize::new(0));
    let server = spawn_server(
        None,
        Arc::new(move |_r: &Recorded| {
            let i = n.fetch_add(1, Ordering::SeqCst);
            reply(301).header("Location", format!("/hop{i}"))
        }),
    )
    .await;
    let mut s = SessionConnection::open(&config(server.url("/")))
        .await
        .unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Redirect);
    assert!(e.to_string().starts_with("too many redirects"), "{e}");
    assert_eq!(
        server.requests().len(),
        6,
        "the Inform plus 5 followed redirects"
    );
}

// ---------------------------------------------------------------------------------------------
// Timeouts, limits, status codes, connect failures.

#[tokio::test]
async fn silent_acs_hits_the_request_timeout() {
    let server = spawn_server(
        None,
        Arc::new(|_r: &Recorded| Reply {
            hang: true,
            ..reply(200)
        }),
    )
    .await;
    let mut cfg = config(server.url("/"));
    cfg.request_timeout = Duration::from_millis(300);
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(e.to_string(), "no answer from the ACS within 300 ms");
}

#[tokio::test]
async fn oversized_answer_is_refused() {
    let server = spawn_server(
        None,
        Arc::new(|_r: &Recorded| reply(200).body(vec![b'x'; 5000])),
    )
    .await;
    let mut cfg = config(server.url("/"));
    cfg.max_response_bytes = 1000;
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(e.to_string(), "ACS response larger than 1000 bytes");
}

#[tokio::test]
async fn oversized_chunked_answer_is_refused_while_streaming() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        if let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .await;
            for _ in 0..10 {
                let _ = tcp.write_all(b"200\r\n").await;
                let _ = tcp.write_all(&[b'y'; 0x200]).await;
                let _ = tcp.write_all(b"\r\n").await;
            }
            let _ = tcp.write_all(b"0\r\n\r\n").await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    });
    let mut cfg = config(format!("http://{addr}/"));
    cfg.max_response_bytes = 4096;
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert_eq!(e.to_string(), "ACS response larger than 4096 bytes");
}

#[tokio::test]
async fn busy_acs_503_retry_after_is_exposed() {
    let server = spawn_server(
        None,
        Arc::new(|_r: &Recorded| reply(503).header("Retry-After", "120")),
    )
    .await;
    let mut s = SessionConnection::open(&config(server.url("/")))
        .await
        .unwrap();
    let e = s.post(inform(), true).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Http(503));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(
        e.to_string(),
        "ACS answered HTTP 503 Service Unavailable (retry after 120 s)"
    );
}

#[tokio::test]
async fn refused_connection_names_the_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = SessionConnection::open(&config(format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert_eq!(
        e.to_string(),
        format!("connection refused by 127.0.0.1:{port}")
    );
}

#[tokio::test]
async fn unresolvable_host_is_named() {
    let e = SessionConnection::open(&config("http://acs.nonexistent.invalid/".into()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect);
    assert_eq!(e.to_string(), "could not resolve acs.nonexistent.invalid");
}

#[tokio::test]
async fn bad_url_is_a_config_error() {
    let e = SessionConnection::open(&config("acs.example.com:7547".into()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().starts_with("invalid ACS URL"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// TLS.

struct Pki {
    dir: tempfile::TempDir,
    ca_der: CertificateDer<'static>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key_pem: String,
    other_name_chain: Vec<CertificateDer<'static>>,
    other_name_key_pem: String,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).unwrap();
}

fn make_pki() -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tr069-client test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf = |sans: Vec<String>, purpose: ExtendedKeyUsagePurpose| {
        let mut p = CertificateParams::new(sans).unwrap();
        p.distinguished_name.push(DnType::CommonName, "leaf");
        p.extended_key_usages = vec![purpose];
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert, key)
    };
    let (server_cert, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (other_cert, other_key) = leaf(
        vec!["acs.example.com".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(vec![], ExtendedKeyUsagePurpose::ClientAuth);
    let (rogue_cert, rogue_key) = {
        // A client certificate from a CA the server does not trust.
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        (p.self_signed(&key).unwrap(), key)
    };

    write(&dir.path().join("ca.pem"), &ca_cert.pem());
    write(
        &dir.path().join("client.pem"),
        &format!("{}{}", client_cert.pem(), ca_cert.pem()),
    );
    write(&dir.path().join("client.key"), &client_key.serialize_pem());
    write(
        &dir.path().join("client-combined.pem"),
        &format!("{}{}", client_cert.pem(), client_key.serialize_pem()),
    );
    write(
        &dir.path().join("rogue-combined.pem"),
        &format!("{}{}", rogue_cert.pem(), rogue_key.serialize_pem()),
    );
    Pki {
        ca_der: ca_cert.der().clone(),
        server_chain: vec![server_cert.der().clone(), ca_cert.der().clone()],
        server_key_pem: server_key.serialize_pem(),
        other_name_chain: vec![other_cert.der().clone(), ca_cert.der().clone()],
        other_name_key_pem: other_key.serialize_pem(),
        dir,
    }
}

fn server_tls(
    chain: Vec<CertificateDer<'static>>,
    key_pem: &str,
    client_ca: Option<CertificateDer<'static>>,
) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(ca).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

fn ok_handler() -> Handler {
    Arc::new(|_r: &Recorded| reply(200).body("<InformResponse/>"))
}

fn https_config(port: u16, host: &str) -> TransportConfig {
    config(format!("https://{host}:{port}/acs"))
}

#[tokio::test]
async fn https_trusted_through_the_ca_file_by_name_and_by_ip() {
    let pki = make_pki();
    let server = spawn_server(
        Some(server_tls(
            pki.server_chain.clone(),
            &pki.server_key_pem,
            None,
        )),
        ok_handler(),
    )
    .await;
    for host in ["localhost", "127.0.0.1"] {
        let mut cfg = https_config(server.addr.port(), host);
        cfg.tls.ca_file = Some(pki.path("ca.pem"));
        let mut s = SessionConnection::open(&cfg).await.unwrap();
        let r = s.post(inform(), true).await.unwrap();
        assert_eq!(&r.body[..], b"<InformResponse/>");
        s.close().await;
    }
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn https_untrusted_ca_is_an_unknown_issuer() {
    let pki = make_pki();
    let server = spawn_server(
        Some(server_tls(
            pki.server_chain.clone(),
            &pki.server_key_pem,
            None,
        )),
        ok_handler(),
    )
    .await;
    let cfg = https_config(server.addr.port(), "localhost");
    let e = SessionConnection::open(&cfg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls);
    assert_eq!(
        e.to_string(),
        "TLS: certificate for localhost not trusted (unknown issuer)"
    );
}

#[tokio::test]
async fn https_wrong_hostname_is_not_valid_for() {
    let pki = make_pki();
    let server = spawn_server(
        Some(server_tls(
            pki.other_name_chain.clone(),
            &pki.other_name_key_pem,
            None,
        )),
        ok_handler(),
    )
    .await;
    let mut cfg = https_config(server.addr.port(), "localhost");
    cfg.tls.ca_file = Some(pki.path("ca.pem"));
    let e = SessionConnection::open(&cfg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls);
    assert!(
        e.to_string()
            .starts_with("TLS: certificate not valid for localhost"),
        "{e}"
    );
}

#[tokio::test]
async fn https_insecure_lab_mode_accepts_the_untrusted_server() {
    let pki = make_pki();
    let server = spawn_server(
        Some(server_tls(
            pki.other_name_chain.clone(),
            &pki.other_name_key_pem,
            None,
        )),
        ok_handler(),
    )
    .await;
    let mut cfg = https_config(server.addr.port(), "localhost");
    cfg.tls.insecure = true;
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s.post(inform(), true).await.unwrap().status, 200);
}

#[tokio::test]
async fn mutual_tls_with_and_without_a_client_certificate() {
    let pki = make_pki();
    let server = spawn_server(
        Some(server_tls(
            pki.server_chain.clone(),
            &pki.server_key_pem,
            Some(pki.ca_der.clone()),
        )),
        ok_handler(),
    )
    .await;
    let base = {
        let mut cfg = https_config(server.addr.port(), "localhost");
        cfg.tls = TlsSettings {
            ca_file: Some(pki.path("ca.pem")),
            ..TlsSettings::default()
        };
        cfg
    };

    // Separate certificate and key files.
    let mut cfg = base.clone();
    cfg.tls.client_certificate = Some(ClientCertificate {
        cert_chain_pem: pki.path("client.pem"),
        private_key_pem: pki.path("client.key"),
    });
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s.post(inform(), true).await.unwrap().status, 200);
    s.close().await;

    // One PEM file with both.
    let mut cfg = base.clone();
    let combined = pki.path("client-combined.pem");
    cfg.tls.client_certificate = Some(ClientCertificate {
        cert_chain_pem: combined.clone(),
        private_key_pem: combined,
    });
    let mut s = SessionConnection::open(&cfg).await.unwrap();
    assert_eq!(s.post(inform(), true).await.unwrap().status, 200);
    s.close().await;

    // No client certificate: with TLS 1.3 the refusal arrives after the handshake, on the
    // first read; either way it is a TLS error that says what is missing.
    let result = match SessionConnection::open(&base).await {
        Err(e) => Err(e),
        Ok(mut s) => s.post(inform(), true).await.map(|_| ()),
    };
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.to_string().contains("client certificate"), "{e}");

    // A certificate the ACS does not trust.
    let mut cfg = base.clone();
    let rogue = pki.path("rogue-combined.pem");
    cfg.tls.client_certificate = Some(ClientCertificate {
        cert_chain_pem: rogue.clone(),
        private_key_pem: rogue,
    });
    let result = match SessionConnection::open(&cfg).await {
        Err(e) => Err(e),
        Ok(mut s) => s.post(inform(), true).await.map(|_| ()),
    };
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(
        e.to_string().contains("rejected the client certificate"),
        "{e}"
    );

    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn plain_http_server_behind_an_https_url() {
    let server = spawn_server(None, ok_handler()).await;
    let e = SessionConnection::open(&https_config(server.addr.port(), "127.0.0.1"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
}

// ---- the abuse matrix (SECURITY.md): certificates and protocol versions ----

/// A CA, a server certificate for localhost that expired in 2020 and a self-signed one.
fn expired_and_self_signed() -> (
    tempfile::TempDir,
    Vec<CertificateDer<'static>>,
    String,
    Vec<CertificateDer<'static>>,
    String,
) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "expired-test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let mut p = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2019, 1, 1);
    p.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let key = KeyPair::generate().unwrap();
    let expired = p.signed_by(&key, &issuer).unwrap();
    write(&dir.path().join("ca.pem"), &ca_cert.pem());
    let self_key = KeyPair::generate().unwrap();
    let self_signed = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&self_key)
        .unwrap();
    (
        dir,
        vec![expired.der().clone(), ca_cert.der().clone()],
        key.serialize_pem(),
        vec![self_signed.der().clone()],
        self_key.serialize_pem(),
    )
}

#[tokio::test]
async fn https_expired_certificate_is_refused() {
    let (dir, chain, key, _, _) = expired_and_self_signed();
    let server = spawn_server(Some(server_tls(chain, &key, None)), ok_handler()).await;
    let mut cfg = https_config(server.addr.port(), "localhost");
    cfg.tls.ca_file = Some(dir.path().join("ca.pem"));
    let e = SessionConnection::open(&cfg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.to_string().contains("has expired"), "{e}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn https_self_signed_certificate_is_refused() {
    let (_dir, _, _, chain, key) = expired_and_self_signed();
    let server = spawn_server(Some(server_tls(chain, &key, None)), ok_handler()).await;
    let e = SessionConnection::open(&https_config(server.addr.port(), "localhost"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.to_string().contains("not trusted"), "{e}");
    assert!(server.requests().is_empty());
}

/// A server that only speaks TLS 1.0 (`openssl s_server -tls1`): the agent refuses to talk to
/// it. Needs the `openssl` tool; skips with one line without it (fails under
/// TR069_TEST_STRICT=1).
#[tokio::test]
async fn https_tls10_only_server_is_refused() {
    if !test_tools::require_tool("openssl", "apt-get install openssl") {
        return;
    }
    let pki = make_pki();
    let cert = pki.path("server.pem");
    let key = pki.path("server.key");
    let pem: String = pki
        .server_chain
        .iter()
        .map(|der| {
            let b64 = base64_encode(der.as_ref());
            let lines: Vec<String> = b64
                .as_bytes()
                .chunks(64)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                lines.join("\n")
            )
        })
        .collect();
    write(&cert, &pem);
    write(&key, &pki.server_key_pem);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-tls1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-accept",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(child) = child else {
        return test_tools::skip("cannot run openssl s_server");
    };
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(child);
    // s_server listens once it has read its certificate.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut cfg = https_config(port, "localhost");
    cfg.tls.ca_file = Some(pki.path("ca.pem"));
    let e = SessionConnection::open(&cfg).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tls, "{e}");
    assert!(e.to_string().contains("TLS 1.0 and 1.1 are refused"), "{e}");
}

fn base64_encode(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in input.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            out.push(if k <= c.len() {
                A[((n >> (18 - 6 * k)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}
