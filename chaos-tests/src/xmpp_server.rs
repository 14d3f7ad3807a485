//! A small fake XMPP server for what prosody cannot be made to do: it never offers STARTTLS
//! (prosody offers it whenever it has a certificate, and the agent needs one to talk to it at
//! all), and it records every stanza a client sends, so a test can see the agent's keep-alive
//! pings without reading a server's debug log.
//!
//! One client at a time, plaintext: the stream header, features with SASL PLAIN only, any
//! credentials accepted, the stream restart, resource binding (the JID is
//! `<user>@<domain>/<resource>` as asked), then every stanza is recorded and a ping
//! (`urn:xmpp:ping`) is answered with an IQ result. The XML is read as text with a few markers:
//! enough for the agent's own client (tokio-xmpp), not a general server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the server saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// TCP connections accepted.
    pub connections: usize,
    /// SASL `<auth>` elements received (plaintext credentials).
    pub auths: usize,
    /// Resources bound.
    pub binds: usize,
    /// Ping IQs received after binding (the keep-alives), by id.
    pub pings: Vec<String>,
}

/// The running server; dropping it stops it.
pub struct FakeXmppServer {
    pub addr: std::net::SocketAddr,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeXmppServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeXmppServer {
    /// Listens on 127.0.0.1 (a free port) for `domain`.
    pub async fn start(domain: &str) -> anyhow::Result<FakeXmppServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let domain = domain.to_owned();
        let task = {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    lock(&seen).connections += 1;
                    // One client at a time: the agent keeps one connection.
                    if let Err(e) = serve(tcp, &domain, &seen).await {
                        tracing::debug!(error = %e, "fake XMPP server: the client left");
                    }
                }
            })
        };
        Ok(FakeXmppServer { addr, seen, task })
    }

    pub fn seen(&self) -> Seen {
        lock(&self.seen).clone()
    }

    /// Waits until `done` holds for what the server saw (an error after `limit`: a limit on a
    /// stuck test, not a timing assertion).
    pub async fn wait_for(
        &self,
        limit: Duration,
        what: &str,
        done: impl Fn(&Seen) -> bool,
    ) -> anyhow::Result<Seen> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let seen = self.seen();
            if done(&seen) {
                return Ok(seen);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("the fake XMPP server never saw {what}: {seen:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|e| e.into_inner())
}

/// The client's bytes, read as text up to markers.
struct Conn {
    tcp: TcpStream,
    buf: String,
}

impl Conn {
    /// Reads until `marker` is in the buffer; returns the text up to and including it and keeps
    /// the rest.
    async fn until(&mut self, marker: &str) -> anyhow::Result<String> {
        loop {
            if let Some(i) = self.buf.find(marker) {
                let end = i + marker.len();
                let head = self.buf[..end].to_owned();
                self.buf.drain(..end);
                return Ok(head);
            }
            let mut chunk = [0u8; 4096];
            let n = self.tcp.read(&mut chunk).await?;
            if n == 0 {
                bail!("the client closed the connection");
            }
            self.buf.push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    }

    /// The client's stream header (`<stream:stream …>`, after an optional XML declaration).
    async fn stream_header(&mut self) -> anyhow::Result<()> {
        self.until("<stream:stream").await?;
        self.until(">").await?;
        Ok(())
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.tcp.write_all(text.as_bytes()).await?;
        Ok(())
    }

    /// The next top-level element (`<x …/>` or `<x …>…</x>`), as text.
    async fn element(&mut self) -> anyhow::Result<String> {
        let start = self.until("<").await?;
        drop(start);
        let open = self.until(">").await?;
        let name: String = open
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect();
        if open.ends_with("/>") {
            return Ok(format!("<{open}"));
        }
        if name.starts_with('/') {
            bail!("the client closed the stream");
        }
        let rest = self.until(&format!("</{name}>")).await?;
        Ok(format!("<{open}{rest}"))
    }
}

fn stream_header(domain: &str, id: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' from='{domain}' id='{id}' \
         version='1.0' xml:lang='en'>"
    )
}

/// An attribute's value in an element's text (`name='v'` or `name="v"`).
fn attribute(element: &str, name: &str) -> Option<String> {
    for quote in ['\'', '"'] {
        let key = format!(" {name}={quote}");
        if let Some(i) = element.find(&key) {
            let rest = &element[i + key.len()..];
            return rest.find(quote).map(|j| rest[..j].to_owned());
        }
    }
    None
}

/// The text between `<tag…>` and `</tag>`.
fn inner(element: &str, tag: &str) -> Option<String> {
    let open = element.find(&format!("<{tag}"))?;
    let after = &element[open..];
    let start = after.find('>')? + 1;
    let end = after.find(&format!("</{tag}>"))?;
    after.get(start..end).map(str::to_owned)
}

async fn serve(tcp: TcpStream, domain: &str, seen: &Mutex<Seen>) -> anyhow::Result<()> {
    let mut c = Conn {
        tcp,
        buf: String::new(),
    };
    c.stream_header().await?;
    c.send(&stream_header(domain, "s1")).await?;
    c.send(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    )
    .await?;
    let auth = c.element().await?;
    if !auth.starts_with("<auth") {
        bail!("expected SASL auth, got {auth}");
    }
    lock(seen).auths += 1;
    // PLAIN: authzid NUL authcid NUL password; the user names the bound JID.
    let user = inner(&auth, "auth")
        .and_then(|b64| {
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| {
            raw.split(|b| *b == 0)
                .nth(1)
                .map(|u| String::from_utf8_lossy(u).into_owned())
        })
        .context("an unreadable SASL PLAIN message")?;
    c.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .await?;
    c.stream_header().await?;
    c.send(&stream_header(domain, "s2")).await?;
    c.send("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
        .await?;
    let bind = c.element().await?;
    let id = attribute(&bind, "id").context("a bind IQ without id")?;
    let resource = inner(&bind, "resource").unwrap_or_else(|| "fake".to_owned());
    c.send(&format!(
        "<iq type='result' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <jid>{user}@{domain}/{resource}</jid></bind></iq>"
    ))
    .await?;
    lock(seen).binds += 1;
    loop {
        let stanza = c.element().await?;
        if stanza.starts_with("<iq") && stanza.contains("urn:xmpp:ping") {
            let id = attribute(&stanza, "id").unwrap_or_default();
            lock(seen).pings.push(id.clone());
            c.send(&format!(
                "<iq type='result' id='{id}' to='{user}@{domain}/{resource}'/>"
            ))
            .await?;
        }
    }
}
