//! The XMPP connection of TR-069 Annex K: one client connection to the XMPP server, kept open,
//! on which the ACS's `connectionRequest` IQs arrive.
//!
//! A task that talks to the loop through channels, like the HTTP listener: it reports the
//! connection's state as [`Input::Xmpp`] (the core keeps Status/JabberID and journals
//! ConnReqJabberID) and an accepted connection request on the capacity-1 wake-up channel.
//!
//! Built on `tokio-xmpp`'s stream layer (XML stream, SASL with SCRAM or PLAIN, stream errors)
//! and `xmpp-parsers`' stanzas, not on its auto-reconnecting `Client`: the agent decides the
//! reconnection waits (TR-181's ServerRetry* values, [`Backoff`]), reports every state, and owns
//! the TLS setup (rustls with ring and the agent's CA file and lab settings, the same as the
//! ACS connection). The steps, each bounded by [`STEP_TIMEOUT`]:
//!
//! 1. TCP to the server (`xmpp-server-address`/`-port`, or the domain);
//! 2. stream header, features; STARTTLS whenever the server offers it (and always when
//!    UseTLS is set); no TLS at all only with the lab setting `xmpp-allow-plaintext`;
//! 3. SASL (`tokio_xmpp::client_login`), stream restart, resource binding with
//!    `xmpp-resource`;
//! 4. then stanzas: a `connectionRequest` IQ is judged by
//!    [`crate::connection_request::xmpp::judge`] and answered (result, or the IQ error Annex K
//!    names); a ping from the server is answered; other IQs get `service-unavailable`.
//!
//! Keep-alive: after KeepAliveInterval seconds of silence (the stream's soft timeout; -1 means
//! 300 s, RFC 6120's advice) the agent pings the server (XEP-0199); no answer within
//! [`KEEP_ALIVE_ANSWER`] and the connection is considered dead and reconnected.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt as _};
use sasl::common::{ChannelBinding, Credentials};
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_xmpp::parsers::bind::{BindQuery, BindResponse};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::{BareJid, FullJid, Jid};
use tokio_xmpp::parsers::minidom::Element;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::xmlstream::{
    ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement, initiate_stream,
};
use tokio_xmpp::{Stanza, client_login};

use crate::connection_request::xmpp::{
    Backoff, NS_CONNECTION_REQUEST, Offered, Policy, Verdict, judge,
};
use crate::cpe::reachability::XmppReport;
use crate::cpe::{Input, TlsPolicy};

use super::udp_connection_request::Reports;

/// Longest wait for one step of connecting (TCP, TLS, SASL, binding).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server has to answer a keep-alive ping.
pub const KEEP_ALIVE_ANSWER: Duration = Duration::from_secs(30);
/// KeepAliveInterval -1: RFC 6120 §4.6.4's "not more often than every 5 minutes".
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(300);

/// What the XMPP task needs; it reconnects when this changes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct XmppSettings {
    /// Device.XMPP.Connection.1.Enable (and CWMP enabled).
    pub enabled: bool,
    pub username: String,
    pub password: String,
    pub domain: String,
    pub resource: String,
    /// The server (ServerTable: Server.1.ServerAddress, or the domain when empty).
    pub server_host: String,
    pub server_port: u16,
    pub use_tls: bool,
    /// Lab setting `xmpp-allow-plaintext`.
    pub allow_plaintext: bool,
    /// KeepAliveInterval: -1 default, 0 none.
    pub keep_alive: i64,
    pub backoff: Option<Backoff>,
    pub tls: TlsPolicy,
    /// Connection requests over this connection are on (CWMP enabled, ConnReqXMPPConnection).
    pub cr_enabled: bool,
    pub cr_username: String,
    pub cr_password: String,
    pub allowed: Vec<String>,
}

impl std::fmt::Debug for XmppSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppSettings")
            .field("enabled", &self.enabled)
            .field("jid", &format_args!("{}@{}", self.username, self.domain))
            .field(
                "server",
                &format_args!("{}:{}", self.server_host, self.server_port),
            )
            .finish_non_exhaustive()
    }
}

impl XmppSettings {
    /// What the connection itself depends on (the connection-request policy does not need a
    /// reconnect).
    fn connection_part(&self) -> XmppSettings {
        XmppSettings {
            cr_enabled: false,
            cr_username: String::new(),
            cr_password: String::new(),
            allowed: Vec::new(),
            ..self.clone()
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

type Stream = XmppStream<BufStream<Box<dyn Io>>>;

/// Why connecting failed, as TR-181's Status says it.
#[derive(Debug)]
struct ConnectError {
    status: &'static str,
    why: String,
}

fn fail(status: &'static str, why: impl std::fmt::Display) -> ConnectError {
    ConnectError {
        status,
        why: why.to_string(),
    }
}

async fn step<T, E: std::fmt::Display>(
    what: &str,
    status: &'static str,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, ConnectError> {
    match tokio::time::timeout(STEP_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(fail(status, format!("{what}: {e}"))),
        Err(_) => Err(fail(
            status,
            format!("{what}: no answer within {STEP_TIMEOUT:?}"),
        )),
    }
}

fn timeouts(keep_alive: i64) -> Timeouts {
    let read_timeout = match keep_alive {
        // No keep-alive: never time out on silence (a year is "never" for a connection).
        0 => Duration::from_secs(365 * 86_400),
        n if n < 0 => DEFAULT_KEEP_ALIVE,
        n => Duration::from_secs(u64::try_from(n).unwrap_or(u64::MAX).max(1)),
    };
    Timeouts {
        read_timeout,
        response_timeout: KEEP_ALIVE_ANSWER,
    }
}

fn header(domain: &str) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(domain.into()),
        from: None,
        id: None,
    }
}

/// The next stream element, or why the stream is over.
async fn next_element(stream: &mut Stream) -> Result<XmppStreamElement, ReadError> {
    loop {
        match stream.next().await {
            None => return Err(ReadError::StreamFooterReceived),
            Some(Err(e)) => return Err(e),
            Some(Ok(el)) => match el.into_read_error() {
                Ok(el) => return Ok(el),
                // A stanza this build cannot parse: skip it, the stream goes on.
                Err(ReadError::ParseError(e)) => {
                    tracing::debug!(error = %e, "XMPP: unparsable element skipped")
                }
                Err(e) => return Err(e),
            },
        }
    }
}

fn read_error_text(e: &ReadError) -> String {
    match e {
        ReadError::SoftTimeout => "silence".into(),
        ReadError::HardError(e) => e.to_string(),
        ReadError::ParseError(e) => e.to_string(),
        ReadError::StreamFooterReceived => "the server closed the stream".into(),
    }
}

/// Connects, secures, authenticates and binds. Returns the stream, the bound JID and whether
/// TLS is on.
async fn connect(s: &XmppSettings) -> Result<(Stream, FullJid, bool), ConnectError> {
    let misconfigured = "Error_Misconfigured";
    if s.username.is_empty() || s.domain.is_empty() {
        return Err(fail(
            misconfigured,
            "xmpp-username and xmpp-domain must be set",
        ));
    }
    let bare = BareJid::new(&format!("{}@{}", s.username, s.domain))
        .map_err(|e| fail(misconfigured, format!("not a Jabber ID: {e}")))?;
    let host = if s.server_host.is_empty() {
        s.domain.as_str()
    } else {
        s.server_host.as_str()
    };
    let tcp = step(
        "connecting to the XMPP server",
        "ServerNotPresent",
        TcpStream::connect((host, s.server_port)),
    )
    .await?;
    let _ = tcp.set_nodelay(true);
    let timeouts = timeouts(s.keep_alive);
    let io: Box<dyn Io> = Box::new(tcp);
    let pending = step(
        "opening the XML stream",
        "Error",
        initiate_stream(
            BufStream::new(io),
            ns::JABBER_CLIENT,
            header(&s.domain),
            timeouts,
        ),
    )
    .await?;
    let (mut features, mut stream): (_, Stream) =
        step("reading stream features", "Error", pending.recv_features()).await?;
    let offered = features.starttls.as_ref();
    let required = offered.is_some_and(|t| t.required);
    let mut tls = false;
    if offered.is_some() && (s.use_tls || required || !s.allow_plaintext) {
        step("STARTTLS", "Error", async {
            stream
                .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
                    starttls::Request,
                )))
                .await?;
            loop {
                match next_element(&mut stream).await {
                    Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_))) => {
                        return Ok(());
                    }
                    Ok(XmppStreamElement::Starttls(starttls::Nonza::Failure(_))) => {
                        return Err(std::io::Error::other("the server refused STARTTLS"));
                    }
                    Ok(_) | Err(ReadError::SoftTimeout) => {}
                    Err(e) => return Err(std::io::Error::other(read_error_text(&e))),
                }
            }
        })
        .await?;
        let config = tls_config(&s.tls).map_err(|e| fail(misconfigured, e))?;
        let name = rustls_pki_types::ServerName::try_from(s.domain.clone()).map_err(|e| {
            fail(
                misconfigured,
                format!("xmpp-domain is no TLS server name: {e}"),
            )
        })?;
        let plain = stream.into_inner().into_inner();
        let secured = step(
            "TLS handshake with the XMPP server",
            "Error",
            tokio_rustls::TlsConnector::from(config).connect(name, plain),
        )
        .await?;
        let io: Box<dyn Io> = Box::new(secured);
        let pending = step(
            "reopening the XML stream over TLS",
            "Error",
            initiate_stream(
                BufStream::new(io),
                ns::JABBER_CLIENT,
                header(&s.domain),
                timeouts,
            ),
        )
        .await?;
        (features, stream) =
            step("reading stream features", "Error", pending.recv_features()).await?;
        tls = true;
    } else if !s.allow_plaintext {
        return Err(fail(
            misconfigured,
            "the XMPP server offers no TLS (set xmpp-allow-plaintext only in a lab)",
        ));
    } else {
        tracing::warn!("xmpp-allow-plaintext: the XMPP connection is NOT encrypted");
    }
    let creds = Credentials::default()
        .with_username(s.username.clone())
        .with_password(s.password.clone())
        .with_channel_binding(ChannelBinding::None);
    let mechanisms: BTreeSet<String> = features.sasl_mechanisms.clone();
    let restarted =
        match tokio::time::timeout(STEP_TIMEOUT, client_login(stream, mechanisms, creds)).await {
            Ok(Ok(s)) => s,
            Ok(Err(tokio_xmpp::Error::Auth(e))) => {
                return Err(fail(
                    "Error_AuthenticationFailure",
                    format!("XMPP authentication failed: {e}"),
                ));
            }
            Ok(Err(e)) => return Err(fail("Error", format!("XMPP authentication: {e}"))),
            Err(_) => return Err(fail("Error", "XMPP authentication: no answer")),
        };
    let pending = step(
        "restarting the stream",
        "Error",
        restarted.send_header(header(&s.domain)),
    )
    .await?;
    let (_, mut stream): (_, Stream) =
        step("reading stream features", "Error", pending.recv_features()).await?;
    let resource = Some(s.resource.clone()).filter(|r| !r.is_empty());
    let bound = step("binding a resource", "Error", async {
        let id = "bind-1";
        stream
            .send(&XmppStreamElement::Stanza(Stanza::Iq(Iq::from_set(
                id,
                BindQuery::new(resource),
            ))))
            .await?;
        loop {
            match next_element(&mut stream).await {
                Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Result {
                    id: got,
                    payload: Some(payload),
                    ..
                }))) if got == id => {
                    return BindResponse::try_from(payload)
                        .map(|r| r.jid)
                        .map_err(|e| std::io::Error::other(format!("bad bind answer: {e}")));
                }
                Ok(XmppStreamElement::Stanza(Stanza::Iq(Iq::Error { id: got, error, .. })))
                    if got == id =>
                {
                    return Err(std::io::Error::other(format!(
                        "the server refused the resource: {:?}",
                        error.defined_condition
                    )));
                }
                Ok(_) | Err(ReadError::SoftTimeout) => {}
                Err(e) => return Err(std::io::Error::other(read_error_text(&e))),
            }
        }
    })
    .await?;
    if bound.to_bare() != bare {
        tracing::info!(%bound, "the XMPP server bound another JID than asked for");
    }
    Ok((stream, bound, tls))
}

fn tls_config(policy: &TlsPolicy) -> Result<Arc<rustls::ClientConfig>, String> {
    let settings = super::transfer_jobs::tls_settings(policy);
    if settings.insecure {
        tracing::warn!("tls-insecure is set: the XMPP server's certificate is NOT verified");
    }
    let config = crate::http::tls::client_config(&settings).map_err(|e| e.to_string())?;
    let mut config = (*config).clone();
    // The shared builder announces http/1.1; XMPP has no ALPN of its own here.
    config.alpn_protocols.clear();
    Ok(Arc::new(config))
}

/// Why serving an established connection ended.
enum Ended {
    /// The settings changed: reconnect now.
    Settings,
    /// The connection broke (reported, then the backoff wait).
    Lost(String),
    /// The settings channel closed: the agent stops.
    Stop,
}

fn error_iq(to: Option<Jid>, id: String, condition: DefinedCondition) -> Stanza {
    let kind = match condition {
        DefinedCondition::NotAuthorized => ErrorType::Auth,
        _ => ErrorType::Cancel,
    };
    Stanza::Iq(Iq::Error {
        from: None,
        to,
        id,
        error: StanzaError::new(kind, condition, "en", ""),
        payload: None,
    })
}

/// An empty IQ result to `to` (no `to`: the server itself).
fn result_iq(to: Option<Jid>, id: String) -> Stanza {
    Stanza::Iq(Iq::Result {
        from: None,
        to,
        id,
        payload: None,
    })
}

fn child_text(payload: &Element, name: &str) -> String {
    payload
        .get_child(name, NS_CONNECTION_REQUEST)
        .map(Element::text)
        .unwrap_or_default()
}

/// What the agent does with one element of an established stream.
#[derive(Debug)]
pub enum Handling {
    /// Answer with `stanza`; `request`: it was a connectionRequest, judged so, from that JID.
    Reply {
        stanza: Box<Stanza>,
        request: Option<(Verdict, String)>,
    },
    /// The answer (result or error) to an IQ of the agent's, by id (the keep-alive ping's).
    Answered(String),
    /// The server ended the stream with an error.
    StreamError(String),
    /// Nothing to do: messages, presences, nonzas.
    Nothing,
}

/// Decides on one element of an established stream: a `connectionRequest` IQ is judged by
/// [`judge`] and answered (result, or the IQ error Annex K names), a ping from the server is
/// answered, other IQ requests get `service-unavailable`. Pure: the fuzz target `xmpp_stanza`
/// drives it through [`read_and_handle`].
pub fn handle(element: XmppStreamElement, policy: &Policy<'_>) -> Handling {
    match element {
        XmppStreamElement::StreamError(e) => Handling::StreamError(e.to_string()),
        XmppStreamElement::Stanza(Stanza::Iq(Iq::Get {
            from, id, payload, ..
        })) if payload.is("connectionRequest", NS_CONNECTION_REQUEST) => {
            let from_text = from.as_ref().map(|j| j.to_string()).unwrap_or_default();
            let username = child_text(&payload, "username");
            let password = child_text(&payload, "password");
            let verdict = judge(
                &Offered {
                    from: &from_text,
                    username: &username,
                    password: &password,
                },
                policy,
            );
            let stanza = match verdict {
                Verdict::Accepted => result_iq(from, id),
                Verdict::NotAuthorized => error_iq(from, id, DefinedCondition::NotAuthorized),
                Verdict::ServiceUnavailable => {
                    error_iq(from, id, DefinedCondition::ServiceUnavailable)
                }
            };
            Handling::Reply {
                stanza: Box::new(stanza),
                request: Some((verdict, from_text)),
            }
        }
        XmppStreamElement::Stanza(Stanza::Iq(Iq::Get {
            from, id, payload, ..
        })) if payload.is("ping", ns::PING) => Handling::Reply {
            stanza: Box::new(result_iq(from, id)),
            request: None,
        },
        XmppStreamElement::Stanza(Stanza::Iq(
            Iq::Get { from, id, .. } | Iq::Set { from, id, .. },
        )) => Handling::Reply {
            stanza: Box::new(error_iq(from, id, DefinedCondition::ServiceUnavailable)),
            request: None,
        },
        XmppStreamElement::Stanza(Stanza::Iq(Iq::Result { id, .. } | Iq::Error { id, .. })) => {
            Handling::Answered(id)
        }
        _ => Handling::Nothing,
    }
}

/// Reads what an XMPP server sends after its stream features (`server`: the bytes that follow
/// `<stream:features/>`) the way an established connection of the agent reads them — the same
/// stream layer, parser and skipping of unparsable stanzas, over an in-memory pipe instead of
/// TLS — and decides on every element with [`handle`], until the stream ends or breaks.
/// For the fuzz target `xmpp_stanza`.
pub async fn read_and_handle(server: &[u8], policy: &Policy<'_>) -> Vec<Handling> {
    use tokio::io::AsyncWriteExt as _;
    let prelude: &[u8] = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' from='xmpp.test' id='fuzz' \
        version='1.0'><stream:features/>";
    let (client, mut server_end) = tokio::io::duplex(prelude.len() + server.len() + 4096);
    // Everything fits in the pipe: written before the client reads, then the server hangs up.
    if server_end.write_all(prelude).await.is_err() || server_end.write_all(server).await.is_err() {
        return Vec::new();
    }
    let _ = server_end.shutdown().await;
    let io: Box<dyn Io> = Box::new(client);
    let Ok(pending) = initiate_stream(
        BufStream::new(io),
        ns::JABBER_CLIENT,
        header("xmpp.test"),
        timeouts(-1),
    )
    .await
    else {
        return Vec::new();
    };
    let Ok((_, mut stream)) = pending.recv_features().await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Ok(element) = next_element(&mut stream).await {
        out.push(handle(element, policy));
    }
    drop(server_end);
    out
}

/// Serves an established connection until it breaks or the settings change.
async fn serve(
    stream: &mut Stream,
    settings: &mut watch::Receiver<XmppSettings>,
    connected_with: &XmppSettings,
    reports: &Reports,
) -> Ended {
    let mut ping_id: Option<String> = None;
    let mut pings: u64 = 0;
    loop {
        let element = tokio::select! {
            changed = settings.changed() => {
                if changed.is_err() {
                    return Ended::Stop;
                }
                if settings.borrow().connection_part() != connected_with.connection_part() {
                    return Ended::Settings;
                }
                continue;
            }
            element = next_element(stream) => element,
        };
        let element = match element {
            Ok(el) => el,
            Err(ReadError::SoftTimeout) => {
                pings += 1;
                let id = format!("keepalive-{pings}");
                let domain: Option<Jid> = BareJid::new(&connected_with.domain).ok().map(Jid::from);
                let mut iq = Iq::from_get(id.clone(), Ping);
                if let Iq::Get { to, .. } = &mut iq {
                    *to = domain;
                }
                if let Err(e) = stream
                    .send(&XmppStreamElement::Stanza(Stanza::Iq(iq)))
                    .await
                {
                    return Ended::Lost(format!("sending a keep-alive: {e}"));
                }
                ping_id = Some(id);
                continue;
            }
            Err(e) => return Ended::Lost(read_error_text(&e)),
        };
        let s = settings.borrow().clone();
        let policy = Policy {
            enabled: s.cr_enabled,
            username: &s.cr_username,
            password: &s.cr_password,
            allowed: &s.allowed,
        };
        let reply = match handle(element, &policy) {
            Handling::StreamError(e) => {
                return Ended::Lost(format!("stream error from the server: {e}"));
            }
            Handling::Answered(id) => {
                if ping_id.as_deref() == Some(id.as_str()) {
                    ping_id = None;
                }
                continue;
            }
            Handling::Nothing => continue,
            Handling::Reply { stanza, request } => {
                match request {
                    Some((Verdict::Accepted, from)) => {
                        tracing::info!(%from, "XMPP connection request accepted");
                        let _ = reports.wake.try_send(());
                    }
                    Some((Verdict::NotAuthorized, from)) => {
                        tracing::info!(%from, "XMPP connection request with wrong credentials refused");
                    }
                    Some((Verdict::ServiceUnavailable, from)) => {
                        tracing::info!(%from, "XMPP connection request from a JID not allowed (or requests off) refused");
                    }
                    None => {}
                }
                *stanza
            }
        };
        if let Err(e) = stream.send(&XmppStreamElement::Stanza(reply)).await {
            return Ended::Lost(format!("answering: {e}"));
        }
    }
}

async fn report(reports: &Reports, status: &'static str, jabber_id: Option<String>, tls: bool) {
    let _ = reports
        .inputs
        .send(Input::Xmpp(XmppReport {
            status,
            jabber_id,
            tls_established: tls,
        }))
        .await;
}

/// Runs until the settings channel closes.
pub async fn run(mut settings: watch::Receiver<XmppSettings>, reports: Reports) {
    let mut attempt: u32 = 0;
    let mut last_status = "";
    loop {
        let s = settings.borrow_and_update().clone();
        if !s.enabled {
            attempt = 0;
            if last_status != "Disabled" {
                last_status = "Disabled";
                report(&reports, "Disabled", None, false).await;
            }
            if settings.changed().await.is_err() {
                return;
            }
            continue;
        }
        if last_status != "Connecting" {
            last_status = "Connecting";
            report(&reports, "Connecting", None, false).await;
        }
        let outcome = tokio::select! {
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                attempt = 0;
                continue;
            }
            outcome = connect(&s) => outcome,
        };
        let failure = match outcome {
            Ok((mut stream, jid, tls)) => {
                tracing::info!(%jid, tls, "XMPP connection established");
                attempt = 0;
                last_status = "Enabled";
                report(&reports, "Enabled", Some(jid.to_string()), tls).await;
                let ended = serve(&mut stream, &mut settings, &s, &reports).await;
                // Best effort: a closed stream tells the server at once.
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    SinkExt::<&XmppStreamElement>::close(&mut stream),
                )
                .await;
                match ended {
                    Ended::Stop => return,
                    Ended::Settings => continue,
                    Ended::Lost(why) => {
                        tracing::warn!(%why, "the XMPP connection was lost; reconnecting");
                        ("Connecting", why)
                    }
                }
            }
            Err(e) => {
                tracing::warn!(status = e.status, why = %e.why, "XMPP connection failed");
                (e.status, e.why)
            }
        };
        if last_status != failure.0 {
            last_status = failure.0;
            report(&reports, failure.0, None, false).await;
        }
        attempt = attempt.saturating_add(1);
        let backoff = s.backoff.unwrap_or(Backoff {
            initial_secs: 60,
            multiplier: 2000,
            max_secs: 30_720,
        });
        let wait = backoff.wait(attempt, rand::random::<f64>());
        tracing::info!(
            attempt,
            wait_s = wait.as_secs_f64(),
            "XMPP: reconnecting after a wait"
        );
        tokio::select! {
            changed = settings.changed() => {
                if changed.is_err() {
                    return;
                }
                attempt = 0;
            }
            () = tokio::time::sleep(wait) => {}
        }
    }
}
