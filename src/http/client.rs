//! One HTTP/1.1 connection at a time (hyper 1 client connection API over TCP or tokio-rustls),
//! kept alive between requests to the same origin, replaced when the next request goes elsewhere.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

use super::error::{ConnectError, SendError, connection_dropped};
use super::tls::{self, TlsSettings};
use super::{Target, wants_close};

/// A request body: bytes in memory or a stream (an upload read from disk).
pub type Body = UnsyncBoxBody<Bytes, io::Error>;

/// An empty request body.
pub fn empty_body() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A request body held in memory.
pub fn full_body(bytes: Bytes) -> Body {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Bytes of an unwanted answer (401, redirect) read so the connection can be reused; a longer
/// body is not worth waiting for, the connection is dropped instead.
const DRAIN_LIMIT: usize = 64 * 1024;
/// Longest pause in an unwanted answer's body before it is given up.
const DRAIN_WAIT: Duration = Duration::from_secs(5);

struct Conn {
    origin: Target,
    sender: SendRequest<Body>,
    task: JoinHandle<()>,
    /// Digest client nonce: one per TCP connection.
    cnonce: String,
    /// An answer has arrived on this connection already: a failure before the next answer may
    /// just mean the server closed it while idle.
    used: bool,
}

/// How connections are opened: what the TR-143 diagnostics ask of their sockets. The default
/// (routing table's choice, any address family, no TOS) is what every other caller uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// SO_BINDTODEVICE: the interface the connection must leave through.
    pub bind_device: Option<String>,
    /// The IP TOS / IPv6 traffic-class byte (a DSCP shifted left by two).
    pub tos: Option<u32>,
    /// Only addresses of this family: `Some(false)` IPv4, `Some(true)` IPv6.
    pub ipv6: Option<bool>,
}

/// When and between which addresses the last connection was opened (TR-143's
/// TCPOpenRequestTime / TCPOpenResponseTime and IPAddressUsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectInfo {
    /// Just before the TCP connect (the SYN).
    pub tcp_open_request: SystemTime,
    /// The TCP connect completed (the SYN-ACK arrived).
    pub tcp_open_response: SystemTime,
    pub local: SocketAddr,
    pub remote: SocketAddr,
}

/// A byte stream an HTTP connection runs over: a TCP socket, or whatever a [`Dial`] hands out.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A stream just opened toward a target, and how it was opened.
pub struct Dialed {
    pub stream: Box<dyn Stream>,
    pub info: ConnectInfo,
}

/// What [`Dial::dial`] returns: a boxed future, so that dialers can live behind `dyn`.
pub type DialFuture<'a> = Pin<Box<dyn Future<Output = Result<Dialed, ConnectError>> + Send + 'a>>;

/// Opens the byte stream of a new connection to `target` (before TLS and HTTP, which the
/// [`Client`] adds on top the same way whatever the stream is). [`TcpDial`] resolves the name
/// and connects over TCP; tests and the fuzz targets `acs_http` and `file_http` hand out
/// in-memory streams instead, so that they drive the very same client code without sockets.
pub trait Dial: Send + Sync {
    fn dial<'a>(&'a self, target: &'a Target, options: &'a SocketOptions) -> DialFuture<'a>;
}

/// DNS resolution and a TCP connection (with `options` applied before the SYN): how the agent
/// reaches every server.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpDial;

impl Dial for TcpDial {
    fn dial<'a>(&'a self, target: &'a Target, options: &'a SocketOptions) -> DialFuture<'a> {
        Box::pin(dial_tcp(target, options))
    }
}

/// The [`Dial`] a client opens its connections with; cheap to clone into configurations.
/// The default is [`TcpDial`].
#[derive(Clone)]
pub struct Dialer(Arc<dyn Dial>);

impl Dialer {
    /// Connections opened by `dial` instead of over TCP.
    pub fn new(dial: impl Dial + 'static) -> Self {
        Self(Arc::new(dial))
    }
}

impl Default for Dialer {
    fn default() -> Self {
        Self::new(TcpDial)
    }
}

impl fmt::Debug for Dialer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dialer")
    }
}

/// An HTTP(S) client holding at most one connection. The caller owns the request semantics
/// (authentication, redirects, cookies); this owns DNS, TCP, TLS, keep-alive and the waits.
pub struct Client {
    tls_settings: TlsSettings,
    tls: Option<Arc<ClientConfig>>,
    connect_timeout: Duration,
    /// How the server is named in messages ("the ACS", "the file server").
    peer: &'static str,
    /// See [`Client::with_idle_timeout`].
    idle: Option<Duration>,
    conn: Option<Conn>,
    /// Opens the byte streams (TCP unless [`Client::with_dialer`] says otherwise).
    dialer: Dialer,
    connections_opened: u32,
    /// Boxed: only the diagnostics set them, and the session's client stays small.
    socket: Box<SocketOptions>,
    last_connect: Option<Box<ConnectInfo>>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl Client {
    /// `connect_timeout` bounds DNS + TCP connect + TLS handshake.
    pub fn new(tls_settings: TlsSettings, connect_timeout: Duration, peer: &'static str) -> Self {
        Self {
            tls_settings,
            tls: None,
            connect_timeout,
            peer,
            idle: None,
            conn: None,
            dialer: Dialer::default(),
            connections_opened: 0,
            socket: Box::default(),
            last_connect: None,
        }
    }

    /// Opens its connections with these socket options.
    pub fn with_socket_options(mut self, socket: SocketOptions) -> Self {
        self.socket = Box::new(socket);
        self
    }

    /// Opens its connections' streams with `dialer` (TLS and HTTP on top stay the same).
    pub fn with_dialer(mut self, dialer: Dialer) -> Self {
        self.dialer = dialer;
        self
    }

    /// How the last connection was opened (`None` before the first).
    pub fn last_connect(&self) -> Option<ConnectInfo> {
        self.last_connect.as_deref().copied()
    }

    /// Waits for the connection and for each answer fail after `idle` without progress (an
    /// upload's body bytes being taken count as progress). Without it, the caller bounds the
    /// wait.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle = Some(idle);
        self
    }

    /// TCP connections opened so far.
    pub fn connections_opened(&self) -> u32 {
        self.connections_opened
    }

    /// The open connection's Digest client nonce ("" when not connected).
    pub fn cnonce(&self) -> &str {
        self.conn.as_ref().map_or("", |c| c.cnonce.as_str())
    }

    /// Makes sure a connection to `target`'s origin is open, keeping the current one when it
    /// goes there and is still open.
    pub async fn connect(&mut self, target: &Target) -> Result<(), ConnectError> {
        if let Some(conn) = &self.conn {
            if conn.origin.same_origin(target) && !conn.sender.is_closed() {
                return Ok(());
            }
        }
        self.disconnect();
        let tls = if target.https {
            Some(self.tls_config()?)
        } else {
            None
        };
        let after = self.connect_timeout;
        let (conn, info) = tokio::time::timeout(
            after,
            open(&self.dialer, target, tls, self.peer, &self.socket),
        )
        .await
        .map_err(|_| ConnectError::Timeout { after })??;
        self.last_connect = Some(Box::new(info));
        self.connections_opened += 1;
        tracing::debug!(url = %target.display_url(), n = self.connections_opened, peer = self.peer, "connected");
        self.conn = Some(conn);
        Ok(())
    }

    /// Sends one request on the open connection and waits for its answer's head; the caller
    /// reads the body. `sent` counts the body bytes an upload has handed over so far.
    pub async fn send(
        &mut self,
        request: Request<Body>,
        sent: Option<&AtomicU64>,
    ) -> Result<Response<Incoming>, SendError> {
        let idle = self.idle;
        let Some(conn) = self.conn.as_mut() else {
            return Err(SendError::NotConnected);
        };
        let used = conn.used;
        let ready = match idle {
            Some(after) => tokio::time::timeout(after, conn.sender.ready()).await,
            None => Ok(conn.sender.ready().await),
        };
        let result = match ready {
            Err(_) => {
                self.disconnect();
                let after = idle.unwrap_or_default();
                let what = "connection not ready";
                return Err(SendError::Timeout { what, after });
            }
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => {
                // Not tied to the connection: hyper's send future owns what it needs.
                let answer = conn.sender.send_request(request);
                tokio::pin!(answer);
                let bytes_sent = || sent.map(|s| s.load(Ordering::Relaxed));
                let mut last_sent = bytes_sent();
                loop {
                    let Some(after) = idle else {
                        break answer.await;
                    };
                    tokio::select! {
                        result = &mut answer => break result,
                        () = tokio::time::sleep(after) => {
                            let now = bytes_sent();
                            if now != last_sent {
                                last_sent = now;
                                continue;
                            }
                            self.disconnect();
                            return Err(SendError::Timeout { what: "waiting for the answer", after });
                        }
                    }
                }
            }
        };
        match result {
            Ok(response) => {
                if wants_close(response.version(), response.headers()) {
                    // The answer is still readable; the connection just is not reused.
                    if let Some(conn) = self.conn.take() {
                        drop(conn.sender);
                    }
                } else if let Some(conn) = self.conn.as_mut() {
                    conn.used = true;
                }
                Ok(response)
            }
            Err(e) => {
                self.disconnect();
                let nothing_sent = sent.is_none_or(|s| s.load(Ordering::Relaxed) == 0);
                if used && nothing_sent && connection_dropped(&e) {
                    tracing::debug!(error = %e, peer = self.peer, "the server closed the idle connection");
                    Err(SendError::Stale(e))
                } else {
                    Err(SendError::Failed(e))
                }
            }
        }
    }

    /// Reads what is left of an answer the caller does not use so the connection can carry the
    /// next request (giving up, and dropping the connection, on a large or slow body); returns
    /// the answer's head.
    pub async fn drain(&mut self, response: Response<Incoming>) -> http::response::Parts {
        let idle = self.idle.map_or(DRAIN_WAIT, |idle| idle.min(DRAIN_WAIT));
        let (parts, mut body) = response.into_parts();
        let mut read = 0usize;
        loop {
            match tokio::time::timeout(idle, body.frame()).await {
                Ok(None) => return parts,
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        read += data.len();
                        if read > DRAIN_LIMIT {
                            break;
                        }
                    }
                }
                Ok(Some(Err(_))) | Err(_) => break,
            }
        }
        self.disconnect();
        parts
    }

    /// Drops the connection at once (the next request opens a new one).
    pub fn disconnect(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.task.abort();
        }
    }

    /// Ends the connection gracefully, giving it two seconds to close.
    pub async fn close(mut self) {
        if let Some(Conn { sender, task, .. }) = self.conn.take() {
            drop(sender);
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn tls_config(&mut self) -> Result<Arc<ClientConfig>, ConnectError> {
        if let Some(cfg) = &self.tls {
            return Ok(cfg.clone());
        }
        if self.tls_settings.insecure {
            tracing::warn!(
                "TLS certificate verification is OFF (insecure lab setting): {} is not authenticated",
                self.peer
            );
        }
        let cfg = tls::client_config(&self.tls_settings)?;
        self.tls = Some(cfg.clone());
        Ok(cfg)
    }
}

async fn open(
    dialer: &Dialer,
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    peer: &'static str,
    options: &SocketOptions,
) -> Result<(Conn, ConnectInfo), ConnectError> {
    let Dialed { stream, info } = dialer.0.dial(target, options).await?;
    let (sender, task) = match tls {
        None => handshake(TokioIo::new(stream), peer).await?,
        Some(cfg) => {
            let name =
                ServerName::try_from(target.host.clone()).map_err(|_| ConnectError::ServerName)?;
            let tls_stream = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, stream)
                .await
                .map_err(|error| ConnectError::TlsHandshake {
                    host: target.host.clone(),
                    peer,
                    error,
                })?;
            handshake(TokioIo::new(tls_stream), peer).await?
        }
    };
    let cnonce: [u8; 16] = rand::random();
    Ok((
        Conn {
            origin: target.clone(),
            sender,
            task,
            cnonce: cnonce.iter().map(|b| format!("{b:02x}")).collect(),
            used: false,
        },
        info,
    ))
}

/// [`TcpDial`]: resolves `target`'s host and connects to the first address that answers.
async fn dial_tcp(target: &Target, options: &SocketOptions) -> Result<Dialed, ConnectError> {
    let resolve_error = || ConnectError::Resolve {
        host: target.host.clone(),
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| {
            tracing::debug!(host = %target.host, error = %e, "DNS resolution failed");
            resolve_error()
        })?
        .filter(|a: &SocketAddr| options.ipv6.is_none_or(|v6| a.is_ipv6() == v6))
        .collect();
    let mut last_error = None;
    for addr in addrs {
        let tcp_open_request = SystemTime::now();
        match connect_tcp(addr, options).await {
            Ok(stream) => {
                let info = ConnectInfo {
                    tcp_open_request,
                    tcp_open_response: SystemTime::now(),
                    local: stream.local_addr().unwrap_or(addr),
                    remote: addr,
                };
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
                return Ok(Dialed {
                    stream: Box::new(stream),
                    info,
                });
            }
            Err(error) => last_error = Some(ConnectError::Tcp { addr, error }),
        }
    }
    Err(last_error.unwrap_or_else(resolve_error))
}

/// A TCP connection to `addr` with the socket options applied before the SYN.
async fn connect_tcp(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpStream> {
    if *options == SocketOptions::default() {
        return TcpStream::connect(addr).await;
    }
    let socket = if addr.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    if let Some(device) = options.bind_device.as_deref().filter(|d| !d.is_empty()) {
        socket.bind_device(Some(device.as_bytes()))?;
    }
    if let Some(tos) = options.tos {
        if addr.is_ipv6() {
            socket.set_tclass_v6(tos)?;
        } else {
            socket.set_tos_v4(tos)?;
        }
    }
    socket.connect(addr).await
}

/// HTTP/1.1 over an established stream; the connection is driven by its own task.
async fn handshake<IO>(
    io: TokioIo<IO>,
    peer: &'static str,
) -> Result<(SendRequest<Body>, JoinHandle<()>), ConnectError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        .handshake(io)
        .await
        .map_err(ConnectError::Setup)?;
    let task = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, peer, "connection ended with an error");
        }
    });
    Ok((sender, task))
}
