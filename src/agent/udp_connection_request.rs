//! The UDP socket of TR-069 Annex G: STUN keep-alives out, UDP connection requests in, on one
//! socket (the NAT binding the STUN server sees is the one the ACS sends to).
//!
//! A task that owns the socket and talks to the loop through channels, like the HTTP listener:
//! it reports a changed binding as [`Input::NatBinding`] (the core journals it) and an accepted
//! connection request on the capacity-1 wake-up channel. The decisions are pure
//! ([`crate::connection_request::stun::StunBinding`],
//! [`crate::connection_request::udp::UdpConnectionRequests`]); this file is the socket, the
//! timer and DNS. Between keep-alives the task sleeps: it wakes for a datagram, a settings
//! change, or the binding's next deadline (the keep-alive period, or a retransmission while a
//! request is unanswered).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::connection_request::rate_limit::RateLimitConfig;
use crate::connection_request::stun::{BindingConfig, Mapping, StunBinding, StunEvent, is_stun};
use crate::connection_request::udp::{Credentials, Ignored, Received, UdpConnectionRequests};
use crate::cpe::Input;

use super::connection_request::primary_local_ip;

/// The binding machine's clock: monotonic milliseconds (a router that sets its wall clock by
/// NTP after boot must not stop or rush its keep-alives).
fn now_ms() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// What the UDP task needs; it acts when this changes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UdpSettings {
    /// STUNEnable (and CWMP enabled): the socket exists only then.
    pub enabled: bool,
    pub listen: Option<IpAddr>,
    pub port: u16,
    /// The STUN server: STUNServerAddress, or the ACS URL's host.
    pub stun_host: String,
    pub stun_port: u16,
    pub stun_username: String,
    pub stun_password: String,
    pub keep_alive: Duration,
    /// The journaled UDPConnectionRequestAddress.
    pub published: Option<SocketAddr>,
    /// The connection-request credentials UDP requests are signed with.
    pub cr_username: String,
    pub cr_password: String,
}

impl std::fmt::Debug for UdpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSettings")
            .field("enabled", &self.enabled)
            .field("port", &self.port)
            .field(
                "stun",
                &format_args!("{}:{}", self.stun_host, self.stun_port),
            )
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl UdpSettings {
    /// What the binding machine depends on (a change starts a new one).
    fn binding_part(&self) -> (&str, u16, &str, &str, Duration) {
        (
            &self.stun_host,
            self.stun_port,
            &self.stun_username,
            &self.stun_password,
            self.keep_alive,
        )
    }
}

/// The channels the task reports on.
#[derive(Clone)]
pub struct Reports {
    /// Binding changes (and other inputs) for the core.
    pub inputs: mpsc::Sender<Input>,
    /// An accepted connection request; capacity 1, `try_send` (a queued one serves the burst).
    pub wake: mpsc::Sender<()>,
}

/// Runs until the settings channel closes.
pub async fn run(
    mut settings: watch::Receiver<UdpSettings>,
    limits: RateLimitConfig,
    reports: Reports,
) {
    let mut requests = UdpConnectionRequests::new(limits);
    let mut last_reported: Option<Option<Mapping>> = None;
    let mut known: Option<SocketAddr> = None;
    loop {
        let current = settings.borrow_and_update().clone();
        if !current.enabled {
            if last_reported != Some(None) {
                last_reported = Some(None);
                known = None;
                let _ = reports.inputs.send(Input::NatBinding(None)).await;
            }
            if settings.changed().await.is_err() {
                return;
            }
            continue;
        }
        let listen = SocketAddr::new(
            current.listen.unwrap_or(IpAddr::from([0, 0, 0, 0])),
            current.port,
        );
        let socket = match UdpSocket::bind(listen).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%listen, error = %e, "cannot bind the UDP connection-request socket; retrying in a minute or when the settings change");
                tokio::select! {
                    r = settings.changed() => if r.is_err() { return },
                    () = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
                continue;
            }
        };
        let port = socket
            .local_addr()
            .map(|a| a.port())
            .unwrap_or(current.port);
        tracing::info!(local = %listen, port, "UDP connection requests and STUN on this socket");
        if known.is_none() {
            known = current.published;
        }
        // Serves this socket until the socket's own settings change.
        'socket: loop {
            let current = settings.borrow_and_update().clone();
            let binding_settings = current.binding_part();
            let mut binding = match start_binding(&current, port, known).await {
                Ok(b) => Some(b),
                Err(why) => {
                    tracing::warn!(%why, "STUN is not running; retrying after the keep-alive period");
                    None
                }
            };
            let retry_at = tokio::time::Instant::now() + current.keep_alive;
            let mut buf = vec![0u8; 2048];
            loop {
                if let Some(b) = &mut binding {
                    let now = now_ms();
                    while let Some(event) = b.poll_event(now) {
                        match event {
                            StunEvent::Mapped { mapping, changed } => {
                                known = Some(mapping.mapped);
                                if changed {
                                    tracing::info!(mapped = %mapping.mapped, nat = mapping.nat_detected, "STUN: the NAT binding is new");
                                }
                                if last_reported != Some(Some(mapping)) {
                                    last_reported = Some(Some(mapping));
                                    let _ =
                                        reports.inputs.send(Input::NatBinding(Some(mapping))).await;
                                }
                            }
                            StunEvent::Failed(why) => {
                                tracing::warn!(%why, "STUN keep-alive failed")
                            }
                        }
                    }
                    while let Some(bytes) = b.poll_transmit(now, rand::random()) {
                        if let Err(e) = socket.send_to(&bytes, b.config().server).await {
                            tracing::debug!(error = %e, "sending a STUN Binding Request failed");
                        }
                    }
                }
                let deadline = match &binding {
                    Some(b) => {
                        let ms = b.poll_timeout().saturating_sub(now_ms());
                        tokio::time::Instant::now() + Duration::from_millis(ms)
                    }
                    None => retry_at,
                };
                tokio::select! {
                    changed = settings.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let next = settings.borrow().clone();
                        if !next.enabled || next.port != current.port || next.listen != current.listen {
                            break 'socket;
                        }
                        if next.binding_part() != binding_settings {
                            continue 'socket;
                        }
                    }
                    received = socket.recv_from(&mut buf) => match received {
                        Ok((n, from)) => {
                            let datagram = &buf[..n];
                            if is_stun(datagram) {
                                if let Some(b) = &mut binding
                                    && let Err(e) = b.handle_datagram(datagram, from, now_ms())
                                {
                                    tracing::debug!(%from, error = %e, "unusable STUN message");
                                }
                            } else {
                                let s = settings.borrow();
                                let creds = Credentials {
                                    username: &s.cr_username,
                                    password: &s.cr_password,
                                };
                                match requests.receive(datagram, from.ip(), creds, Instant::now()) {
                                    Received::Accepted => {
                                        tracing::info!(%from, "UDP connection request accepted");
                                        let _ = reports.wake.try_send(());
                                    }
                                    Received::Ignored(Ignored::Verdict(v)) => {
                                        tracing::info!(%from, verdict = ?v, "UDP connection request ignored");
                                    }
                                    Received::Ignored(why) => {
                                        tracing::debug!(%from, ?why, "datagram ignored");
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            // ICMP errors surface here on Linux; they are not fatal.
                            tracing::debug!(error = %e, "UDP receive failed");
                        }
                    },
                    () = tokio::time::sleep_until(deadline) => {
                        if binding.is_none() {
                            continue 'socket;
                        }
                    }
                }
            }
        }
    }
}

/// A binding machine for the current settings: the STUN server resolved, the socket's own
/// address toward it.
async fn start_binding(
    settings: &UdpSettings,
    port: u16,
    known: Option<SocketAddr>,
) -> Result<StunBinding, String> {
    if settings.stun_host.is_empty() {
        return Err("no STUN server: stun-server-address and the ACS URL are empty".into());
    }
    let server = tokio::net::lookup_host((settings.stun_host.as_str(), settings.stun_port))
        .await
        .map_err(|e| format!("cannot resolve the STUN server {}: {e}", settings.stun_host))?
        .find(|a| match settings.listen {
            Some(IpAddr::V6(v6)) if !v6.is_unspecified() => a.is_ipv6(),
            Some(IpAddr::V6(_)) => true,
            _ => a.is_ipv4(),
        })
        .ok_or_else(|| {
            format!(
                "the STUN server {} has no usable address",
                settings.stun_host
            )
        })?;
    let local_ip = match settings.listen {
        Some(ip) if !ip.is_unspecified() => ip,
        _ => primary_local_ip(server)
            .map_err(|e| format!("no route to the STUN server {server}: {e}"))?,
    };
    Ok(StunBinding::new(
        BindingConfig {
            server,
            local: SocketAddr::new(local_ip, port),
            username: settings.stun_username.clone(),
            password: settings.stun_password.clone(),
            keep_alive: settings.keep_alive,
        },
        known,
        now_ms(),
    ))
}
