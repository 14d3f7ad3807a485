//! An in-process HTTP(S) file server for the transfer tests: serves files from memory with
//! Range support, takes uploads (PUT and POST), records every request, and misbehaves on demand
//! per file ([`Mode`]): ignores Range, trickles the body, cuts the body short, answers a fixed
//! status or redirects.
//!
//! Authentication (Basic, or Digest MD5/SHA-256 with `qop="auth"`) is asked for on every request
//! without valid credentials: `401` with a fresh challenge, like Apache and nginx. Digest nonces
//! are server-wide (not tied to a connection) and stay valid for the server's life.
//!
//! Nothing read from the network can make it panic.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use digest_auth::{AuthContext, AuthorizationHeader, HttpMethod};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use rand::Rng as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::acs::TlsIdentity;

/// Frame size of a body served at full speed.
const CHUNK: usize = 16 * 1024;
/// Ticks per second of a [`Mode::Slow`] body.
const SLOW_TICKS_PER_SEC: u64 = 20;

/// How clients must authenticate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FileAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    /// Offered as `Digest realm="…", qop="auth", nonce="…", opaque="…", algorithm=…`.
    Digest {
        username: String,
        password: String,
        algorithm: DigestAlgorithm,
    },
}

impl FileAuth {
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> FileAuth {
        FileAuth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// Digest with MD5.
    pub fn digest(username: impl Into<String>, password: impl Into<String>) -> FileAuth {
        FileAuth::Digest {
            username: username.into(),
            password: password.into(),
            algorithm: DigestAlgorithm::Md5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DigestAlgorithm {
    #[default]
    Md5,
    Sha256,
}

impl DigestAlgorithm {
    fn token(self) -> &'static str {
        match self {
            DigestAlgorithm::Md5 => "MD5",
            DigestAlgorithm::Sha256 => "SHA-256",
        }
    }
}

/// How the server is set up. The default: plain HTTP, no auth, uploads up to 64 MiB.
#[derive(Debug, Clone)]
pub struct FileServerConfig {
    pub auth: FileAuth,
    /// Serve HTTPS with this identity (see [`crate::pki::TestPki::server_identity`]).
    pub tls: Option<TlsIdentity>,
    pub realm: String,
    /// Largest accepted upload; larger ones are answered 413.
    pub max_upload_bytes: usize,
}

impl Default for FileServerConfig {
    fn default() -> Self {
        FileServerConfig {
            auth: FileAuth::None,
            tls: None,
            realm: "files".to_owned(),
            max_upload_bytes: 64 * 1024 * 1024,
        }
    }
}

/// How one path is served.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// Ignores `Range`: always `200` with the whole file.
    NoRange,
    /// The body trickles at about this rate (in 1/20 s steps), so a test can act mid-transfer.
    Slow { bytes_per_sec: u64 },
    /// The first `requests` GETs of the path announce the full `Content-Length`, send `after`
    /// bytes of the body and then close the connection. Later GETs are served normally, so a
    /// resumed download succeeds.
    Truncated { after: u64, requests: u32 },
    /// Announces the full `Content-Length`, sends `after` bytes, then sends nothing more and
    /// keeps the connection open: a server that hangs mid-transfer.
    Stalled { after: u64 },
    /// This status with an empty body (uploads included).
    Status(u16),
    /// This status (301, 302, 303, 307, 308) with `Location: location`.
    Redirect { status: u16, location: String },
}

impl Mode {
    /// [`Mode::Truncated`] for the first request only.
    pub fn truncated_once(after: u64) -> Mode {
        Mode::Truncated { after, requests: 1 }
    }
}

/// One request the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRequest {
    pub method: String,
    /// Path and query as requested.
    pub path: String,
    /// The `Range` header, as sent.
    pub range: Option<String>,
    /// The request passed the auth check (always true on a server without auth).
    pub authorized: bool,
    /// Body bytes sent so far (grows while a slow body is streaming).
    pub bytes_served: u64,
    pub status: u16,
    /// Which TCP connection it came on (1, 2, …).
    pub connection: u64,
}

struct Record {
    method: String,
    path: String,
    range: Option<String>,
    authorized: bool,
    bytes_served: Arc<AtomicU64>,
    status: u16,
    connection: u64,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Bytes>,
    modes: HashMap<String, Mode>,
    /// GETs that reached the file, per path (for [`Mode::Truncated`]).
    gets: HashMap<String, u32>,
    requests: Vec<Record>,
    uploads: Vec<(String, Vec<u8>)>,
    nonces: HashSet<String>,
    next_conn: u64,
    connection_errors: Vec<String>,
}

struct Shared {
    config: FileServerConfig,
    opaque: String,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge the server for the other assertions.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The running server. Stops when shut down or dropped.
pub struct FileServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for FileServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileServer")
            .field("url", &self.url("/"))
            .finish_non_exhaustive()
    }
}

impl FileServer {
    /// Binds `127.0.0.1:0` and starts serving.
    pub async fn start(config: FileServerConfig) -> anyhow::Result<FileServer> {
        let acceptor = match &config.tls {
            Some(identity) => Some(TlsAcceptor::from(Arc::new(crate::acs::server_tls_config(
                identity,
            )?))),
            None => None,
        };
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the file server")?;
        let addr = listener.local_addr()?;
        let tls = acceptor.is_some();
        let shared = Arc::new(Shared {
            config,
            opaque: random_hex(8),
            state: Mutex::new(State::default()),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, acceptor, shared.clone(), stop_rx));
        Ok(FileServer {
            shared,
            addr,
            tls,
            stop,
            task: Some(task),
        })
    }

    /// `http(s)://127.0.0.1:PORT/path`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{}{slash}{path}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `bytes` at `path` (replacing any previous content).
    pub fn add_file(&self, path: &str, bytes: impl Into<Bytes>) {
        self.shared
            .lock()
            .files
            .insert(normalize(path), bytes.into());
    }

    /// Sets how `path` is served (the path need not hold a file, e.g. for `Status` or
    /// `Redirect`). Resets the request count [`Mode::Truncated`] goes by.
    pub fn set_mode(&self, path: &str, mode: Mode) {
        let path = normalize(path);
        let mut st = self.shared.lock();
        st.gets.remove(&path);
        st.modes.insert(path, mode);
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<FileRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .map(|r| FileRequest {
                method: r.method.clone(),
                path: r.path.clone(),
                range: r.range.clone(),
                authorized: r.authorized,
                bytes_served: r.bytes_served.load(Ordering::SeqCst),
                status: r.status,
                connection: r.connection,
            })
            .collect()
    }

    /// The bodies of the accepted PUT and POST requests: `(path, bytes)`, in order.
    pub fn uploads(&self) -> Vec<(String, Vec<u8>)> {
        self.shared.lock().uploads.clone()
    }

    /// TLS handshake failures and other connection-level errors.
    pub fn connection_errors(&self) -> Vec<String> {
        self.shared.lock().connection_errors.clone()
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Files are keyed by path without query, always with a leading slash.
fn normalize(path: &str) -> String {
    let path = path.split('?').next().unwrap_or("");
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

// ---------------------------------------------------------------------------------------------
// Server plumbing
// ---------------------------------------------------------------------------------------------

async fn accept_loop(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        shared.lock().connection_errors.push(format!("accept: {e}"));
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let id = {
                    let mut st = shared.lock();
                    st.next_conn += 1;
                    st.next_conn
                };
                connections.spawn(serve_connection(shared.clone(), acceptor.clone(), stream, peer, id));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(
    shared: Arc<Shared>,
    acceptor: Option<TlsAcceptor>,
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
) {
    let _ = stream.set_nodelay(true);
    match acceptor {
        Some(acceptor) => {
            match tokio::time::timeout(Duration::from_secs(30), acceptor.accept(stream)).await {
                Ok(Ok(tls)) => run_http(shared, id, tls).await,
                Ok(Err(e)) => shared
                    .lock()
                    .connection_errors
                    .push(format!("connection {id} from {peer}: TLS handshake: {e}")),
                Err(_) => shared.lock().connection_errors.push(format!(
                    "connection {id} from {peer}: TLS handshake timed out"
                )),
            }
        }
        None => run_http(shared, id, stream).await,
    }
}

async fn run_http<IO>(shared: Arc<Shared>, conn: u64, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = shared.clone();
        async move { Ok::<_, io::Error>(handle(&shared, conn, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

// ---------------------------------------------------------------------------------------------
// Response body: whole, trickled, or cut short
// ---------------------------------------------------------------------------------------------

/// A served body: `data` in frames of `chunk` bytes, `delay` between frames, and optionally an
/// error after `cut_after` bytes (hyper then closes the connection mid-body).
pub struct ServedBody {
    data: Bytes,
    pos: usize,
    chunk: usize,
    delay: Option<Duration>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    cut_after: Option<usize>,
    cut_flushed: bool,
    /// Stop sending at this position and never finish.
    stall_at: Option<usize>,
    served: Arc<AtomicU64>,
}

impl ServedBody {
    fn empty() -> ServedBody {
        ServedBody::new(Bytes::new(), Arc::new(AtomicU64::new(0)))
    }

    fn new(data: Bytes, served: Arc<AtomicU64>) -> ServedBody {
        ServedBody {
            data,
            pos: 0,
            chunk: CHUNK,
            delay: None,
            pause: None,
            cut_after: None,
            cut_flushed: false,
            stall_at: None,
            served,
        }
    }
}

impl hyper::body::Body for ServedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(pause) = this.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.pause = None;
        }
        if let Some(cut) = this.cut_after.filter(|cut| this.pos >= *cut) {
            if !this.cut_flushed {
                // Give hyper time to flush what was sent before the error closes the socket.
                this.cut_flushed = true;
                this.pause = Some(Box::pin(tokio::time::sleep(Duration::from_millis(100))));
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.cut_after = None;
            this.pos = this.data.len();
            return Poll::Ready(Some(Err(io::Error::other(format!(
                "body cut after {cut} bytes on purpose"
            )))));
        }
        if this.stall_at.is_some_and(|at| this.pos >= at) {
            // Hang: no waker is registered, so this body is never polled again.
            return Poll::Pending;
        }
        if this.pos >= this.data.len() {
            return Poll::Ready(None);
        }
        let limit = this
            .cut_after
            .or(this.stall_at)
            .unwrap_or(this.data.len())
            .min(this.data.len());
        let end = (this.pos + this.chunk).min(limit);
        let frame = this.data.slice(this.pos..end);
        this.pos = end;
        this.served.fetch_add(frame.len() as u64, Ordering::SeqCst);
        if let Some(delay) = this.delay {
            this.pause = Some(Box::pin(tokio::time::sleep(delay)));
        }
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.cut_after.is_none() && self.pos >= self.data.len()
    }

    fn size_hint(&self) -> SizeHint {
        if self.cut_after.is_some() {
            SizeHint::default()
        } else {
            SizeHint::with_exact((self.data.len() - self.pos.min(self.data.len())) as u64)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: Vec<(header::HeaderName, String)>,
    body: ServedBody,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: ServedBody::empty(),
        }
    }
}

async fn handle(shared: &Shared, conn: u64, req: Request<Incoming>) -> Response<ServedBody> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let range = parts
        .headers
        .get(header::RANGE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let served = Arc::new(AtomicU64::new(0));
    let mut authorized = false;

    // Read any request body first so an early answer leaves the connection usable.
    let uploaded = match Limited::new(body, shared.config.max_upload_bytes)
        .collect()
        .await
    {
        Ok(collected) => Some(collected.to_bytes()),
        Err(_) => None,
    };
    let reply = match uploaded {
        None => Reply::status(413),
        Some(uploaded) => {
            match authenticate(shared, &parts.method, &path_and_query, &parts.headers) {
                Some(challenge) => challenge,
                None => {
                    authorized = true;
                    respond(
                        shared,
                        &parts.method,
                        &path_and_query,
                        range.as_deref(),
                        uploaded,
                        &served,
                    )
                }
            }
        }
    };

    let mut response = Response::new(reply.body);
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(name, v);
        }
    }
    shared.lock().requests.push(Record {
        method: parts.method.to_string(),
        path: path_and_query,
        range,
        authorized,
        bytes_served: served,
        status: reply.status,
        connection: conn,
    });
    response
}

fn respond(
    shared: &Shared,
    method: &Method,
    path_and_query: &str,
    range: Option<&str>,
    uploaded: Bytes,
    served: &Arc<AtomicU64>,
) -> Reply {
    let path = normalize(path_and_query);
    let mut st = shared.lock();
    let mode = st.modes.get(&path).cloned().unwrap_or_default();
    if let Mode::Status(code) = mode {
        return Reply::status(code);
    }
    match *method {
        Method::PUT | Method::POST => {
            st.uploads.push((path.clone(), uploaded.to_vec()));
            let created = !st.files.contains_key(&path);
            if *method == Method::PUT {
                st.files.insert(path, uploaded);
                return Reply::status(if created { 201 } else { 204 });
            }
            return Reply::status(200);
        }
        Method::GET | Method::HEAD => {}
        _ => {
            let mut r = Reply::status(405);
            r.headers
                .push((header::ALLOW, "GET, HEAD, PUT, POST".to_owned()));
            return r;
        }
    }
    if let Mode::Redirect { status, location } = mode {
        let mut r = Reply::status(status);
        r.headers.push((header::LOCATION, location));
        return r;
    }
    let Some(data) = st.files.get(&path).cloned() else {
        return Reply::status(404);
    };
    let nth = {
        let n = st.gets.entry(path).or_insert(0);
        *n += 1;
        *n
    };
    drop(st);

    let len = data.len() as u64;
    let mut headers = Vec::new();
    let honour_range = mode != Mode::NoRange;
    headers.push((
        header::ACCEPT_RANGES,
        if honour_range { "bytes" } else { "none" }.to_owned(),
    ));
    let (status, slice) = match range.filter(|_| honour_range).map(|r| parse_range(r, len)) {
        Some(RangeAnswer::Satisfiable { start, end }) => {
            headers.push((header::CONTENT_RANGE, format!("bytes {start}-{end}/{len}")));
            // `end < len`, so both fit in usize (the data is in memory).
            let (s, e) = (start as usize, end as usize + 1);
            (206, data.slice(s..e))
        }
        Some(RangeAnswer::Unsatisfiable) => {
            let mut r = Reply::status(416);
            r.headers
                .push((header::CONTENT_RANGE, format!("bytes */{len}")));
            return r;
        }
        Some(RangeAnswer::Ignore) | None => (200, data),
    };
    headers.push((header::CONTENT_LENGTH, slice.len().to_string()));
    headers.push((header::CONTENT_TYPE, "application/octet-stream".to_owned()));
    let mut body = ServedBody::new(
        if *method == Method::HEAD {
            Bytes::new()
        } else {
            slice
        },
        served.clone(),
    );
    match mode {
        Mode::Slow { bytes_per_sec } => {
            let bytes_per_sec = bytes_per_sec.max(1);
            let chunk = bytes_per_sec.div_ceil(SLOW_TICKS_PER_SEC).max(1);
            body.chunk = usize::try_from(chunk).unwrap_or(CHUNK);
            body.delay = Some(Duration::from_secs_f64(chunk as f64 / bytes_per_sec as f64));
        }
        Mode::Truncated { after, requests } if nth <= requests => {
            body.cut_after = Some(usize::try_from(after).unwrap_or(usize::MAX));
        }
        Mode::Stalled { after } => {
            body.stall_at = Some(usize::try_from(after).unwrap_or(usize::MAX));
        }
        _ => {}
    }
    Reply {
        status,
        headers,
        body,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeAnswer {
    /// Inclusive byte positions, `end < len`.
    Satisfiable {
        start: u64,
        end: u64,
    },
    Unsatisfiable,
    /// Not a single byte range this server understands: serve the whole file (RFC 9110 §14.2).
    Ignore,
}

/// `bytes=N-`, `bytes=N-M` and `bytes=-S` (suffix); several ranges are ignored.
fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Ignore;
    };
    if spec.contains(',') {
        return RangeAnswer::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let Ok(suffix) = last.parse::<u64>() else {
            return RangeAnswer::Ignore;
        };
        if suffix == 0 || len == 0 {
            return RangeAnswer::Unsatisfiable;
        }
        return RangeAnswer::Satisfiable {
            start: len.saturating_sub(suffix),
            end: len - 1,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeAnswer::Ignore;
    };
    let end = if last.is_empty() {
        None
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => Some(end),
            _ => return RangeAnswer::Ignore,
        }
    };
    if start >= len {
        return RangeAnswer::Unsatisfiable;
    }
    RangeAnswer::Satisfiable {
        start,
        end: end.map_or(len - 1, |e| e.min(len - 1)),
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

/// The 401 to answer instead when the request does not carry valid credentials.
fn authenticate(
    shared: &Shared,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
) -> Option<Reply> {
    let config = &shared.config;
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let ok = match (&config.auth, authorization) {
        (FileAuth::None, _) => return None,
        (_, None) => false,
        (FileAuth::Basic { username, password }, Some(a)) => check_basic(&a, username, password),
        (
            FileAuth::Digest {
                username,
                password,
                algorithm,
            },
            Some(a),
        ) => {
            let nonces = shared.lock().nonces.clone();
            check_digest(
                &a,
                &DigestCheck {
                    username,
                    password,
                    algorithm: *algorithm,
                    realm: &config.realm,
                    method: method.as_str(),
                    uri: path_and_query,
                    nonces: &nonces,
                },
            )
        }
    };
    if ok {
        return None;
    }
    let challenge = match &config.auth {
        FileAuth::Digest { algorithm, .. } => {
            let nonce = random_hex(16);
            shared.lock().nonces.insert(nonce.clone());
            format!(
                "Digest realm=\"{}\", qop=\"auth\", nonce=\"{nonce}\", opaque=\"{}\", algorithm={}",
                config.realm,
                shared.opaque,
                algorithm.token()
            )
        }
        _ => format!("Basic realm=\"{}\"", config.realm),
    };
    let mut r = Reply::status(401);
    r.headers.push((header::WWW_AUTHENTICATE, challenge));
    Some(r)
}

fn check_basic(authorization: &str, username: &str, password: &str) -> bool {
    let authorization = authorization.trim();
    let Some((scheme, encoded)) = authorization.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .is_ok_and(|decoded| decoded == format!("{username}:{password}").as_bytes())
}

struct DigestCheck<'a> {
    username: &'a str,
    password: &'a str,
    algorithm: DigestAlgorithm,
    realm: &'a str,
    method: &'a str,
    uri: &'a str,
    nonces: &'a HashSet<String>,
}

fn check_digest(authorization: &str, check: &DigestCheck<'_>) -> bool {
    if !authorization
        .trim_start()
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("digest"))
    {
        return false;
    }
    let Ok(parsed) = AuthorizationHeader::parse(authorization) else {
        return false;
    };
    let algorithm_ok = match check.algorithm {
        DigestAlgorithm::Md5 => parsed.algorithm.algo == digest_auth::AlgorithmType::MD5,
        DigestAlgorithm::Sha256 => parsed.algorithm.algo == digest_auth::AlgorithmType::SHA2_256,
    };
    if !algorithm_ok
        || parsed.algorithm.sess
        || !check.nonces.contains(&parsed.nonce)
        || parsed.username != check.username
        || parsed.realm != check.realm
        || parsed.uri != check.uri
        || parsed.qop != Some(digest_auth::Qop::AUTH)
    {
        return false;
    }
    let ctx = AuthContext::new_with_method(
        check.username,
        check.password,
        parsed.uri.as_str(),
        None::<&[u8]>,
        HttpMethod::from(check.method),
    );
    let mut expected = parsed.clone();
    expected.digest(&ctx);
    expected.response.eq_ignore_ascii_case(&parsed.response)
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    let buf: Vec<u8> = (0..bytes).map(|_| rng.random::<u8>()).collect();
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use digest_auth::WwwAuthenticateHeader;
    use http_body_util::Empty;

    const T: Duration = Duration::from_secs(10);

    struct Got {
        status: u16,
        headers: HeaderMap,
        body: Vec<u8>,
        /// The body ended with an error (connection cut).
        cut: bool,
    }

    /// One GET on a fresh connection.
    async fn get(server: &FileServer, path: &str, headers: &[(&str, &str)]) -> Got {
        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let mut b = Request::get(path).header(header::HOST, server.addr().to_string());
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        let response = tokio::time::timeout(
            T,
            sender.send_request(b.body(Empty::<Bytes>::new()).unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = response.into_body();
        let mut bytes = Vec::new();
        let mut cut = false;
        while let Some(frame) = tokio::time::timeout(T, body.frame()).await.unwrap() {
            match frame {
                Ok(f) => {
                    if let Some(d) = f.data_ref() {
                        bytes.extend_from_slice(d);
                    }
                }
                Err(_) => {
                    cut = true;
                    break;
                }
            }
        }
        Got {
            status,
            headers,
            body: bytes,
            cut,
        }
    }

    fn h<'a>(got: &'a Got, name: &str) -> Option<&'a str> {
        got.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn range_forms() {
        assert_eq!(
            parse_range("bytes=10-", 100),
            RangeAnswer::Satisfiable { start: 10, end: 99 }
        );
        assert_eq!(
            parse_range("bytes=10-19", 100),
            RangeAnswer::Satisfiable { start: 10, end: 19 }
        );
        assert_eq!(
            parse_range("bytes=90-500", 100),
            RangeAnswer::Satisfiable { start: 90, end: 99 }
        );
        assert_eq!(
            parse_range("bytes=-5", 100),
            RangeAnswer::Satisfiable { start: 95, end: 99 }
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Ignore);
        assert_eq!(parse_range("bytes=9-3", 100), RangeAnswer::Ignore);
        assert_eq!(parse_range("items=1-", 100), RangeAnswer::Ignore);
    }

    #[tokio::test]
    async fn serves_ranges_and_416() {
        let server = FileServer::start(FileServerConfig::default())
            .await
            .unwrap();
        let file = data(1000);
        server.add_file("/fw.npk", file.clone());

        let full = get(&server, "/fw.npk", &[]).await;
        assert_eq!(full.status, 200);
        assert_eq!(full.body, file);
        assert_eq!(h(&full, "accept-ranges"), Some("bytes"));

        let tail = get(&server, "/fw.npk", &[("range", "bytes=600-")]).await;
        assert_eq!(tail.status, 206);
        assert_eq!(h(&tail, "content-range"), Some("bytes 600-999/1000"));
        assert_eq!(tail.body, &file[600..]);

        let mid = get(&server, "/fw.npk", &[("range", "bytes=10-19")]).await;
        assert_eq!(mid.status, 206);
        assert_eq!(mid.body, &file[10..20]);

        let past = get(&server, "/fw.npk", &[("range", "bytes=1000-")]).await;
        assert_eq!(past.status, 416);
        assert_eq!(h(&past, "content-range"), Some("bytes */1000"));

        server.set_mode("/fw.npk", Mode::NoRange);
        let ignored = get(&server, "/fw.npk", &[("range", "bytes=600-")]).await;
        assert_eq!(ignored.status, 200);
        assert_eq!(ignored.body, file);

        assert_eq!(get(&server, "/missing", &[]).await.status, 404);
        let reqs = server.requests();
        assert_eq!(reqs.len(), 6);
        assert_eq!(reqs[1].range.as_deref(), Some("bytes=600-"));
        assert_eq!(reqs[1].bytes_served, 400);
        assert_eq!(reqs[3].status, 416);
        server.shutdown().await;
    }

    #[tokio::test]
    async fn truncated_first_then_resume_completes() {
        let server = FileServer::start(FileServerConfig::default())
            .await
            .unwrap();
        let file = data(100_000);
        server.add_file("/fw.npk", file.clone());
        server.set_mode("/fw.npk", Mode::truncated_once(30_000));

        let first = get(&server, "/fw.npk", &[]).await;
        assert_eq!(first.status, 200);
        assert_eq!(h(&first, "content-length"), Some("100000"));
        assert!(first.cut, "the body must end with an error");
        assert_eq!(first.body, &file[..30_000]);

        let resumed = get(&server, "/fw.npk", &[("range", "bytes=30000-")]).await;
        assert_eq!(resumed.status, 206);
        assert!(!resumed.cut);
        let mut whole = first.body.clone();
        whole.extend_from_slice(&resumed.body);
        assert_eq!(whole, file);
        let reqs = server.requests();
        assert_eq!(reqs[0].bytes_served, 30_000);
        assert_eq!(reqs[1].bytes_served, 70_000);

        // "First N requests" is configurable.
        server.set_mode(
            "/fw.npk",
            Mode::Truncated {
                after: 10,
                requests: 2,
            },
        );
        assert!(get(&server, "/fw.npk", &[]).await.cut);
        assert!(get(&server, "/fw.npk", &[]).await.cut);
        assert!(!get(&server, "/fw.npk", &[]).await.cut);
    }

    #[tokio::test]
    async fn slow_mode_trickles() {
        let server = FileServer::start(FileServerConfig::default())
            .await
            .unwrap();
        server.add_file("/slow", data(2_000));
        server.set_mode(
            "/slow",
            Mode::Slow {
                bytes_per_sec: 10_000,
            },
        );
        let started = std::time::Instant::now();
        let got = get(&server, "/slow", &[]).await;
        assert_eq!(got.body.len(), 2_000);
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn basic_auth_challenges_then_accepts() {
        let server = FileServer::start(FileServerConfig {
            auth: FileAuth::basic("cpe", "s3cret"),
            ..FileServerConfig::default()
        })
        .await
        .unwrap();
        server.add_file("/a", "hello");
        let no = get(&server, "/a", &[]).await;
        assert_eq!(no.status, 401);
        assert_eq!(h(&no, "www-authenticate"), Some("Basic realm=\"files\""));
        // "cpe:s3cret" and "cpe:wrong".
        let ok = get(
            &server,
            "/a",
            &[("authorization", "Basic Y3BlOnMzY3JldA==")],
        )
        .await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.body, b"hello");
        let bad = get(&server, "/a", &[("authorization", "Basic Y3BlOndyb25n")]).await;
        assert_eq!(bad.status, 401);
        let flags: Vec<bool> = server.requests().iter().map(|r| r.authorized).collect();
        assert_eq!(flags, vec![false, true, false]);
    }

    #[tokio::test]
    async fn digest_auth_md5_and_sha256() {
        for algorithm in [DigestAlgorithm::Md5, DigestAlgorithm::Sha256] {
            let server = FileServer::start(FileServerConfig {
                auth: FileAuth::Digest {
                    username: "cpe".into(),
                    password: "s3cret".into(),
                    algorithm,
                },
                ..FileServerConfig::default()
            })
            .await
            .unwrap();
            server.add_file("/a", "hello");
            let challenge = get(&server, "/a", &[]).await;
            assert_eq!(challenge.status, 401);
            let www = h(&challenge, "www-authenticate").unwrap().to_owned();
            let mut prompt =
                WwwAuthenticateHeader::parse(www.trim_start_matches("Digest ")).unwrap();
            let answer = |prompt: &mut WwwAuthenticateHeader, password: &str| {
                prompt
                    .respond(&AuthContext::new("cpe", password, "/a"))
                    .unwrap()
                    .to_header_string()
            };
            let good = answer(&mut prompt, "s3cret");
            let ok = get(&server, "/a", &[("authorization", good.as_str())]).await;
            assert_eq!(ok.status, 200, "{algorithm:?}");
            let wrong = answer(&mut prompt, "nope");
            assert_eq!(
                get(&server, "/a", &[("authorization", wrong.as_str())])
                    .await
                    .status,
                401
            );
            // A response computed for another URI is refused.
            let other = prompt
                .respond(&AuthContext::new("cpe", "s3cret", "/b"))
                .unwrap()
                .to_header_string();
            assert_eq!(
                get(&server, "/a", &[("authorization", other.as_str())])
                    .await
                    .status,
                401
            );
        }
    }

    #[tokio::test]
    async fn status_and_redirect_modes_and_uploads() {
        let server = FileServer::start(FileServerConfig::default())
            .await
            .unwrap();
        server.set_mode("/gone", Mode::Status(410));
        assert_eq!(get(&server, "/gone", &[]).await.status, 410);
        server.set_mode(
            "/old",
            Mode::Redirect {
                status: 302,
                location: "/new".into(),
            },
        );
        let r = get(&server, "/old", &[]).await;
        assert_eq!(r.status, 302);
        assert_eq!(h(&r, "location"), Some("/new"));

        let stream = TcpStream::connect(server.addr()).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let put = Request::put("/up/cfg.rsc?x=1")
            .header(header::HOST, "h")
            .body(http_body_util::Full::new(Bytes::from_static(b"config")))
            .unwrap();
        let resp = sender.send_request(put).await.unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(
            server.uploads(),
            vec![("/up/cfg.rsc".to_owned(), b"config".to_vec())]
        );
        // What was PUT can be fetched back.
        assert_eq!(get(&server, "/up/cfg.rsc", &[]).await.body, b"config");
        assert_eq!(server.requests()[2].path, "/up/cfg.rsc?x=1");
    }
}
