//! The agent's HTTP client over streams a `Dialer` hands out instead of TCP connections: the
//! seam the fuzz targets `acs_http` and `file_http` drive the session client and the transfer
//! engine through. The host names do not resolve, so any attempt at DNS or TCP would fail.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tr069_client::http::{
    ConnectInfo, Dial, DialFuture, Dialed, Dialer, SessionConnection, SocketOptions, Target,
    TlsSettings, TransportConfig,
};
use tr069_client::transfer::{FetchRequest, fetch};

/// The answer of the in-memory server to one request.
type Answer = fn(&Request<Incoming>) -> Response<Full<Bytes>>;

/// A server that hyper runs on the far end of every stream it dials.
struct InMemoryServer {
    answer: Answer,
    dials: Arc<AtomicUsize>,
}

impl Dial for InMemoryServer {
    fn dial<'a>(&'a self, _target: &'a Target, _options: &'a SocketOptions) -> DialFuture<'a> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        let answer = self.answer;
        Box::pin(async move {
            let (client, server) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| async move {
                    Ok::<_, Infallible>(answer(&req))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(server), service)
                    .await;
            });
            let remote: SocketAddr = "192.0.2.1:80".parse().expect("an address");
            Ok(Dialed {
                stream: Box::new(client),
                info: ConnectInfo {
                    tcp_open_request: SystemTime::now(),
                    tcp_open_response: SystemTime::now(),
                    local: "192.0.2.2:40000".parse().expect("an address"),
                    remote,
                },
            })
        })
    }
}

fn dialer(answer: Answer) -> (Dialer, Arc<AtomicUsize>) {
    let dials = Arc::new(AtomicUsize::new(0));
    let server = InMemoryServer {
        answer,
        dials: dials.clone(),
    };
    (Dialer::new(server), dials)
}

/// An ACS that wants Basic credentials `cpe:secret`, then answers the Inform.
fn acs(req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let authorized = req
        .headers()
        .get("authorization")
        .is_some_and(|v| v == "Basic Y3BlOnNlY3JldA==");
    let builder = Response::builder();
    let response = if authorized {
        builder
            .status(200)
            .header("content-type", "text/xml")
            .body(Full::new(Bytes::from_static(b"<InformResponse/>")))
    } else {
        builder
            .status(401)
            .header("www-authenticate", "Basic realm=\"acs\"")
            .body(Full::new(Bytes::new()))
    };
    response.expect("a valid response")
}

#[tokio::test]
async fn a_session_runs_over_the_streams_of_its_dialer() {
    let (dialer, dials) = dialer(acs);
    let mut config =
        TransportConfig::new("http://acs.invalid/acs").with_credentials("cpe", "secret");
    config.dialer = dialer;
    let mut session = SessionConnection::open(&config).await.expect("opened");
    let reply = session
        .post(Some(Bytes::from_static(b"<Inform/>")), true)
        .await
        .expect("answered");
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"<InformResponse/>");
    // The 401 and the authenticated retry shared the one kept-alive stream.
    assert_eq!(session.connections_opened(), 1);
    assert_eq!(dials.load(Ordering::SeqCst), 1);
    session.close().await;
}

/// A file server with a 10-byte file.
fn file_server(_: &Request<Incoming>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(200)
        .header("content-length", "10")
        .body(Full::new(Bytes::from_static(b"0123456789")))
        .expect("a valid response")
}

#[tokio::test]
async fn a_download_runs_over_the_streams_of_its_dialer() {
    let (dialer, dials) = dialer(file_server);
    let dir = tempfile::tempdir().expect("a temp dir");
    let dest = dir.path().join("image.bin");
    let req = FetchRequest {
        url: "http://files.invalid/fw.bin".into(),
        username: String::new(),
        password: String::new(),
        expected_size: 10,
        tls: TlsSettings::default(),
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        dialer,
    };
    let mut progress = |_: u64, _: Option<u64>| {};
    let fetched = fetch(&req, &dest, &mut progress).await.expect("fetched");
    assert_eq!(fetched.size, 10);
    assert_eq!(std::fs::read(&dest).expect("the file"), b"0123456789");
    assert_eq!(dials.load(Ordering::SeqCst), 1);
}
