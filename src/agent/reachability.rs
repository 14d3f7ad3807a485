//! The listeners that make a CPE behind a NAT reachable: the UDP socket (STUN keep-alives and
//! UDP connection requests, [`super::udp_connection_request`]) and the XMPP connection
//! ([`super::xmpp`], feature `xmpp`). Both are tasks holding no part of the agent: they read
//! their settings from a watch channel the loop updates after every step, and report on two
//! channels — [`Input`]s for the core (a changed NAT binding, the XMPP state) and a capacity-1
//! wake-up for an accepted connection request, which the loop turns into
//! `Input::ConnectionRequest` like an HTTP one.

use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::connection_request::stun::{keep_alive_period, parse_udp_address};
#[cfg(feature = "xmpp")]
use crate::connection_request::xmpp::Backoff;
use crate::cpe::reachability::{UDP_CONNECTION_REQUEST_ADDRESS, stored};
use crate::cpe::{Cpe, Input};

use super::udp_connection_request::{self as udp, Reports, UdpSettings};

/// Everything the listeners read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReachSettings {
    pub udp: UdpSettings,
    #[cfg(feature = "xmpp")]
    pub xmpp: super::xmpp::XmppSettings,
}

/// The ACS URL's host (the STUN server when STUNServerAddress is empty).
fn acs_host(acs_url: &str) -> String {
    acs_url
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(|h| h.trim_matches(['[', ']']).to_owned()))
        .unwrap_or_default()
}

/// The listeners' settings as the core has them now.
pub fn settings_of(cpe: &Cpe) -> ReachSettings {
    let s = cpe.settings();
    let cwmp = s.enabled();
    let stun_host = match s.stun_server_address() {
        a if a.is_empty() => acs_host(s.acs_url()),
        a => a,
    };
    let udp = UdpSettings {
        enabled: cwmp && s.stun_enabled(),
        listen: Some(cpe.config().connection_request.listen_address),
        port: s.udp_connection_request_port(),
        stun_host,
        stun_port: s.stun_server_port(),
        stun_username: s.stun_username(),
        stun_password: s.stun_password(),
        keep_alive: keep_alive_period(
            s.stun_minimum_keep_alive_period(),
            s.stun_maximum_keep_alive_period(),
        ),
        published: parse_udp_address(&stored(cpe.state(), UDP_CONNECTION_REQUEST_ADDRESS, "")),
        cr_username: s.connection_request_username(),
        cr_password: s.connection_request_password(),
    };
    #[cfg(feature = "xmpp")]
    let xmpp = super::xmpp::XmppSettings {
        enabled: cwmp && s.xmpp_enabled(),
        username: s.get("xmpp-username"),
        password: s.get("xmpp-password"),
        domain: s.get("xmpp-domain"),
        resource: s.get("xmpp-resource"),
        server_host: s.get("xmpp-server-address"),
        server_port: u16::try_from(s.get("xmpp-server-port").parse::<u64>().unwrap_or(5222))
            .unwrap_or(5222),
        use_tls: s.get("xmpp-use-tls") == "true",
        allow_plaintext: s.get("xmpp-allow-plaintext") == "true",
        keep_alive: s.xmpp_keep_alive_interval(),
        backoff: Some(Backoff {
            initial_secs: s
                .get("xmpp-server-retry-initial-interval")
                .parse()
                .unwrap_or(60),
            multiplier: s
                .get("xmpp-server-retry-interval-multiplier")
                .parse()
                .unwrap_or(2000),
            max_secs: s
                .get("xmpp-server-retry-max-interval")
                .parse()
                .unwrap_or(30_720),
        }),
        tls: crate::cpe::TlsPolicy {
            ca_file: s.ca_file().map(Into::into),
            client_certificate: s.client_certificate().map(Into::into),
            insecure: s.tls_insecure(),
        },
        cr_enabled: cwmp && s.xmpp_connection_requests(),
        cr_username: s.connection_request_username(),
        cr_password: s.connection_request_password(),
        allowed: s.xmpp_allowed_jabber_ids(),
    };
    ReachSettings {
        udp,
        #[cfg(feature = "xmpp")]
        xmpp,
    }
}

/// The running listeners.
pub struct Reachability {
    settings: watch::Sender<ReachSettings>,
    tasks: Vec<JoinHandle<()>>,
}

impl Reachability {
    /// Starts the listeners. Returns them, the inputs they report and the wake-up channel.
    pub fn start(cpe: &Cpe) -> (Reachability, mpsc::Receiver<Input>, mpsc::Receiver<()>) {
        let (settings_tx, settings_rx) = watch::channel(settings_of(cpe));
        let (inputs_tx, inputs_rx) = mpsc::channel(8);
        let (wake_tx, wake_rx) = mpsc::channel(1);
        let reports = Reports {
            inputs: inputs_tx,
            wake: wake_tx,
        };
        let mut tasks = Vec::new();
        let (udp_tx, udp_rx) = watch::channel(settings_rx.borrow().udp.clone());
        tasks.push(tokio::spawn(udp::run(
            udp_rx,
            cpe.config().connection_request.limits.clone(),
            reports.clone(),
        )));
        tasks.push(tokio::spawn(forward(settings_rx.clone(), udp_tx, |s| {
            s.udp.clone()
        })));
        #[cfg(feature = "xmpp")]
        {
            let (xmpp_tx, xmpp_rx) = watch::channel(settings_rx.borrow().xmpp.clone());
            tasks.push(tokio::spawn(super::xmpp::run(xmpp_rx, reports.clone())));
            tasks.push(tokio::spawn(forward(settings_rx, xmpp_tx, |s| {
                s.xmpp.clone()
            })));
        }
        #[cfg(not(feature = "xmpp"))]
        {
            drop(settings_rx);
            // No XMPP in this build: ConnReqJabberID is withdrawn if an earlier build set it.
            let _ = reports
                .inputs
                .try_send(Input::Xmpp(crate::cpe::reachability::XmppReport {
                    status: "Disabled",
                    jabber_id: None,
                    tls_established: false,
                }));
        }
        (
            Reachability {
                settings: settings_tx,
                tasks,
            },
            inputs_rx,
            wake_rx,
        )
    }

    /// Hands the listeners the core's current settings (nothing happens when unchanged).
    pub fn update(&self, cpe: &Cpe) {
        let next = settings_of(cpe);
        self.settings.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next;
            }
            changed
        });
    }

    /// Stops the listeners (their sockets close with them).
    pub async fn shutdown(mut self) {
        for task in &self.tasks {
            task.abort();
        }
        for task in self.tasks.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
        }
    }
}

impl Drop for Reachability {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Passes one listener its part of the settings, only when that part changed (a change of the
/// other listener's settings must not wake it).
async fn forward<T: PartialEq + Clone>(
    mut all: watch::Receiver<ReachSettings>,
    part: watch::Sender<T>,
    pick: impl Fn(&ReachSettings) -> T,
) {
    while all.changed().await.is_ok() {
        let next = pick(&all.borrow_and_update());
        part.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next;
            }
            changed
        });
    }
}
