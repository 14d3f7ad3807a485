//! The ACS side of XMPP connection requests, as GenieACS does it (`xmppConnectionRequest` in
//! `lib/connection-request.ts`): an XMPP client logged in to the server that sends the CPE's JID
//! an IQ `get` with `<connectionRequest xmlns="urn:broadband-forum-org:cwmp:xmppConnReq-1-0">`
//! and reads the IQ result or error. Built on `tokio-xmpp`'s stream layer, over a TCP
//! connection the caller opened (inside the lab's ACS namespace); plaintext, as a lab server
//! allows.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::parsers::bind::{BindQuery, BindResponse};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::minidom::Element;
use tokio_xmpp::parsers::ns;
use tokio_xmpp::xmlstream::{
    ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement, initiate_stream,
};
use tokio_xmpp::{Stanza, client_login};

/// The connectionRequest namespace.
pub const NS: &str = "urn:broadband-forum-org:cwmp:xmppConnReq-1-0";

/// What the CPE answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An IQ result: the CPE accepted.
    Result,
    /// An IQ error with this condition (`not-authorized`, `service-unavailable`, …).
    Error(String),
}

/// A logged-in XMPP client.
pub struct XmppAcs {
    stream: XmppStream<BufStream<TcpStream>>,
    pub jid: String,
    next_id: u64,
}

fn header(domain: &str) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(domain.into()),
        from: None,
        id: None,
    }
}

impl XmppAcs {
    /// Logs `user@domain` in over `tcp` (no TLS) and binds resource `acs`.
    pub async fn login(
        tcp: std::net::TcpStream,
        domain: &str,
        user: &str,
        password: &str,
    ) -> anyhow::Result<XmppAcs> {
        XmppAcs::login_as(tcp, domain, user, password, "acs").await
    }

    /// [`XmppAcs::login`] with another resource (concurrent clients of one account must not
    /// share one: the server would disconnect the older).
    pub async fn login_as(
        tcp: std::net::TcpStream,
        domain: &str,
        user: &str,
        password: &str,
        resource: &str,
    ) -> anyhow::Result<XmppAcs> {
        tcp.set_nonblocking(true)?;
        let tcp = TcpStream::from_std(tcp)?;
        let timeouts = Timeouts::tight();
        let pending = initiate_stream(
            BufStream::new(tcp),
            ns::JABBER_CLIENT,
            header(domain),
            timeouts,
        )
        .await?;
        let (features, stream) = pending
            .recv_features()
            .await
            .map_err(|e| anyhow!("stream features: {e:?}"))?;
        let creds = sasl::common::Credentials::default()
            .with_username(user)
            .with_password(password)
            .with_channel_binding(sasl::common::ChannelBinding::None);
        let mechanisms: BTreeSet<String> = features.sasl_mechanisms.clone();
        let restarted = client_login(stream, mechanisms, creds)
            .await
            .context("XMPP login of the ACS")?;
        let pending = restarted.send_header(header(domain)).await?;
        let (_, stream) = pending
            .recv_features()
            .await
            .map_err(|e| anyhow!("stream features after login: {e:?}"))?;
        let mut acs = XmppAcs {
            stream,
            jid: String::new(),
            next_id: 0,
        };
        acs.send(Iq::from_set("bind", BindQuery::new(Some(resource.into()))))
            .await?;
        let payload = acs.answer_to("bind").await?;
        let bound = match payload {
            Ok(Some(p)) => BindResponse::try_from(p).map_err(|e| anyhow!("bind answer: {e}"))?,
            other => bail!("binding failed: {other:?}"),
        };
        acs.jid = bound.jid.to_string();
        Ok(acs)
    }

    async fn send(&mut self, iq: Iq) -> anyhow::Result<()> {
        self.stream
            .send(&XmppStreamElement::Stanza(Stanza::Iq(iq)))
            .await?;
        Ok(())
    }

    /// Waits for the result or error of the IQ `id` (other stanzas are skipped).
    async fn answer_to(&mut self, id: &str) -> anyhow::Result<Result<Option<Element>, String>> {
        loop {
            let element = match self.stream.next().await {
                None => bail!("the XMPP server closed the stream"),
                Some(Err(ReadError::SoftTimeout)) => continue,
                Some(Err(e)) => bail!("XMPP read: {e:?}"),
                Some(Ok(el)) => match el.into_read_error() {
                    Ok(el) => el,
                    Err(e) => bail!("XMPP read: {e:?}"),
                },
            };
            match element {
                XmppStreamElement::Stanza(Stanza::Iq(Iq::Result {
                    id: got, payload, ..
                })) if got == id => return Ok(Ok(payload)),
                XmppStreamElement::Stanza(Stanza::Iq(Iq::Error { id: got, error, .. }))
                    if got == id =>
                {
                    let condition = format!("{:?}", error.defined_condition);
                    return Ok(Err(kebab(&condition)));
                }
                _ => {}
            }
        }
    }

    /// Sends the CPE's JID a connection request with these credentials and returns its answer
    /// (an error if none came within `timeout`).
    pub async fn connection_request(
        &mut self,
        to: &str,
        username: &str,
        password: &str,
        timeout: Duration,
    ) -> anyhow::Result<Answer> {
        self.next_id += 1;
        let id = format!("cr-{}", self.next_id);
        let payload = Element::builder("connectionRequest", NS)
            .append(Element::builder("username", NS).append(username))
            .append(Element::builder("password", NS).append(password))
            .build();
        let to: Jid = to.parse().map_err(|e| anyhow!("bad JID {to}: {e}"))?;
        self.send(Iq::Get {
            from: None,
            to: Some(to),
            id: id.clone(),
            payload,
        })
        .await?;
        let answer = tokio::time::timeout(timeout, self.answer_to(&id))
            .await
            .map_err(|_| anyhow!("no answer to the connection request within {timeout:?}"))??;
        Ok(match answer {
            Ok(_) => Answer::Result,
            Err(condition) => Answer::Error(condition),
        })
    }
}

/// `NotAuthorized` → `not-authorized`.
fn kebab(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
