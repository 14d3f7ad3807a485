//! One connection-request listener for the whole fleet: one TCP port, each device at its own
//! random path (the one its core chose and journaled) with its own Digest credentials, nonces and
//! rate limits — what each device's own listener would do (`agent::connection_request`), on the
//! same pure pieces (`connection_request::auth`, `connection_request::rate_limit`), without
//! 10,000 sockets.
//!
//! Handling is the daemon's, per device: unknown path → 404; not GET → 405; the device's limits
//! (429/503); the device's HTTPConnectionRequestEnable off → 403; Digest against the device's
//! current credentials → 401 with a fresh challenge; accepted → 200, and the device's core is told
//! once hyper is done with the response (coalesced: at most one wake-up queued per device).
//!
//! UDP connection requests (STUN, TR-069 Annex G) are not served here: the fleet would keep one
//! UDP socket for all devices as it keeps one TCP listener, keyed by the device's own
//! `UDPConnectionRequestAddress` port — not built yet (see docs/fleet.md).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::agent::connection_request::{CrBody, CrSettings, tally};
use crate::connection_request::auth::{AuthConfig, AuthOutcome, Credentials, DigestAuthenticator};
use crate::connection_request::rate_limit::{
    Decision, Outcome, RateLimitConfig, RateLimiter, RequestClass,
};

/// Connections served at once by the fleet's listener (an ACS waking many devices at once opens
/// many).
const MAX_CONNECTIONS: usize = 1024;
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);

/// One device's entry: what its own listener would hold.
struct Entry {
    settings: CrSettings,
    /// Created at the device's first connection request (most devices never get one).
    auth: Option<DigestAuthenticator>,
    limiter: Option<RateLimiter>,
    wake: mpsc::Sender<()>,
}

/// The devices reachable through the listener, by path.
#[derive(Default)]
pub struct Registry {
    devices: Mutex<HashMap<String, Entry>>,
    limits: RateLimitConfig,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Registry {
    pub fn new(limits: RateLimitConfig) -> Registry {
        Registry {
            devices: Mutex::new(HashMap::new()),
            limits,
        }
    }

    /// Makes a device reachable at `path`; the receiver wakes it (capacity one: coalesced).
    pub fn register(&self, path: &str, settings: CrSettings) -> mpsc::Receiver<()> {
        let (tx, rx) = mpsc::channel(1);
        lock(&self.devices).insert(
            path.to_owned(),
            Entry {
                settings,
                auth: None,
                limiter: None,
                wake: tx,
            },
        );
        rx
    }

    /// The device's credentials changed (an ACS's SetParameterValues): applies at once.
    pub fn update(&self, path: &str, settings: &CrSettings) {
        if let Some(e) = lock(&self.devices).get_mut(path)
            && e.settings != *settings
        {
            e.settings = settings.clone();
        }
    }

    /// The device is gone (powered off, rebooting): its path answers 404 until it is back.
    pub fn unregister(&self, path: &str) {
        lock(&self.devices).remove(path);
    }

    pub fn len(&self) -> usize {
        lock(&self.devices).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn handle<B>(&self, peer: SocketAddr, req: &Request<B>) -> Response<CrBody> {
        let path = req.uri().path();
        let mut devices = lock(&self.devices);
        let Some(entry) = devices.get_mut(path) else {
            return empty(StatusCode::NOT_FOUND);
        };
        if req.method() != Method::GET {
            let mut resp = empty(StatusCode::METHOD_NOT_ALLOWED);
            resp.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET"));
            return resp;
        }
        let now = Instant::now();
        let class = if req.headers().contains_key(AUTHORIZATION) {
            RequestClass::Answer
        } else {
            RequestClass::Unauthenticated
        };
        let limiter = entry
            .limiter
            .get_or_insert_with(|| RateLimiter::new(self.limits.clone()));
        if let Decision::Deny(refusal) = limiter.admit(peer.ip(), class, now) {
            let mut resp = empty(StatusCode::TOO_MANY_REQUESTS);
            let secs =
                refusal.retry_after.as_secs() + u64::from(refusal.retry_after.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
            return resp;
        }
        if !entry.settings.enabled {
            limiter.record(peer.ip(), Outcome::Challenged, now);
            return empty(StatusCode::FORBIDDEN);
        }
        let creds = Credentials {
            username: &entry.settings.username,
            password: &entry.settings.password,
        };
        let authorization = req
            .headers()
            .get(AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        let target = req.uri().to_string();
        let auth = entry
            .auth
            .get_or_insert_with(|| DigestAuthenticator::new(AuthConfig::default()));
        let outcome = auth.check(now, &creds, "GET", &target, authorization);
        limiter.record(peer.ip(), tally(&outcome), now);
        match outcome {
            AuthOutcome::Accepted => {
                let wake = entry.wake.clone();
                // The device wakes once the 200 is encoded; a full channel means a wake-up is
                // already queued and serves this request too.
                let mut resp = Response::new(CrBody::firing(move || {
                    let _ = wake.try_send(());
                }));
                resp.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
                resp
            }
            AuthOutcome::Rejected { challenge, .. } => {
                let mut resp = empty(StatusCode::UNAUTHORIZED);
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    resp.headers_mut().insert(WWW_AUTHENTICATE, v);
                }
                resp
            }
        }
    }
}

fn empty(status: StatusCode) -> Response<CrBody> {
    let mut resp = Response::new(CrBody::empty());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// The running listener. Dropping it stops accepting.
pub struct Listener {
    pub local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Listener {
    pub async fn bind(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<Listener> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, registry, stop_rx));
        Ok(Listener {
            local_addr,
            stop,
            task: Some(task),
        })
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Resolves once the stop was asked for (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_loop(
    listener: TcpListener,
    registry: Arc<Registry>,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(8192)
        .keep_alive(true)
        .half_close(false);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        drop(stream);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let registry = registry.clone();
                    let builder = builder.clone();
                    conns.spawn(async move {
                        let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                            let resp = registry.handle(peer, &req);
                            async move { Ok::<_, Infallible>(resp) }
                        });
                        let conn = builder.serve_connection(TokioIo::new(stream), service);
                        let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "fleet connection request accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}
