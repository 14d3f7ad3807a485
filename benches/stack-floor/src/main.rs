//! The floor under issue "Fits a router": the crates the agent was asked to be built on (tokio,
//! sled, hyper, rustls, quick-xml, serde, prost, backoff), each doing what the agent asks of it,
//! and nothing of the agent. Built with the release profile, its stripped size and idle RSS say how
//! much of the budget those crates take before a line of CWMP is written (BENCHMARKS.md, "The
//! requested crates alone").
//!
//! It is a working miniature, not a mock, so nothing it links can be optimised away:
//!
//! ```text
//! stack-floor DATA_DIR CONFIG.toml
//! ```
//!
//! reads `acs_url` (http:// or https://), `listen_port`, optional `ca_file`, `client_cert`,
//! `client_key` and `once` from the TOML file (serde), opens a sled store in DATA_DIR and appends a
//! prost record per step, POSTs a SOAP body to the ACS over hyper's HTTP/1 client (through rustls
//! with the webpki roots for https), reads the reply's elements with quick-xml, retries with
//! backoff's exponential schedule, then waits for connection requests on `listen_port` (hyper's
//! HTTP/1 server), each of which starts another session.

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backoff::backoff::Backoff;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(serde::Deserialize)]
struct Config {
    acs_url: String,
    listen_port: u16,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    #[serde(default)]
    once: bool,
}

/// One journal record, as the agent's are: prost-encoded, keyed by a big-endian sequence number.
#[derive(Clone, PartialEq, prost::Message)]
struct Step {
    #[prost(uint64, tag = "1")]
    unix_ms: u64,
    #[prost(string, tag = "2")]
    what: String,
    #[prost(uint32, tag = "3")]
    elements: u32,
}

struct Journal {
    db: sled::Db,
    records: sled::Tree,
    last_seq: u64,
}

impl Journal {
    fn open(dir: &Path) -> Result<Self, BoxError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::LowSpace)
            .open()?;
        let records = db.open_tree("records")?;
        Ok(Journal {
            db,
            records,
            last_seq: 0,
        })
    }

    fn append(&mut self, what: &str, elements: u32) -> Result<u64, BoxError> {
        let seq = self.last_seq + 1;
        let unix_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        let step = Step {
            unix_ms,
            what: what.to_owned(),
            elements,
        };
        let mut batch = sled::Batch::default();
        batch.insert(&seq.to_be_bytes(), prost::Message::encode_to_vec(&step));
        self.records.apply_batch(batch)?;
        self.db.flush()?;
        self.last_seq = seq;
        Ok(seq)
    }

    /// Reads every record forward, as the agent's fold does. Forward only: sled 0.34.7's reverse
    /// iterator (`last()`, `.rev()`) links a 1 MiB constant (BENCHMARKS.md, "Levers").
    fn replay(&mut self) -> Result<usize, BoxError> {
        let mut n = 0;
        for entry in self.records.range(0u64.to_be_bytes()..) {
            let (key, value) = entry?;
            let _step: Step = prost::Message::decode(value.as_ref())?;
            self.last_seq = u64::from_be_bytes(key.as_ref().try_into()?);
            n += 1;
        }
        Ok(n)
    }
}

fn tls_config(config: &Config) -> Result<Arc<rustls::ClientConfig>, BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(ca_file) = &config.ca_file {
        let certs = CertificateDer::pem_file_iter(ca_file)?.collect::<Result<Vec<_>, _>>()?;
        roots.add_parsable_certificates(certs);
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let mut tls = match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
            builder.with_client_auth_cert(chain, PrivateKeyDer::from_pem_file(key)?)?
        }
        _ => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(tls))
}

/// Counts the reply's elements the way a decoder walks them.
fn count_elements(xml: &str) -> Result<u32, BoxError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut n = 0;
    loop {
        match reader.read_event()? {
            quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_) => n += 1,
            quick_xml::events::Event::Eof => return Ok(n),
            _ => {}
        }
    }
}

async fn post<S>(io: S, uri: &hyper::Uri, body: &'static str) -> Result<String, BoxError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(connection);
    let request = Request::post(uri.path())
        .header(
            hyper::header::HOST,
            uri.authority().map_or("", |a| a.as_str()),
        )
        .header(hyper::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())))?;
    let response = sender.send_request(request).await?;
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(bytes.to_vec())?)
}

async fn session(config: &Config, tls: &Arc<rustls::ClientConfig>) -> Result<u32, BoxError> {
    const INFORM: &str = "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Body><cwmp:Inform xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\"/></soap-env:Body></soap-env:Envelope>";
    let uri: hyper::Uri = config.acs_url.parse()?;
    let host = uri.host().ok_or("acs_url has no host")?.to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        TcpStream::connect((host.as_str(), port)),
    )
    .await??;
    let reply = if https {
        let name = ServerName::try_from(host)?;
        let stream = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, tcp)
            .await?;
        post(stream, &uri, INFORM).await?
    } else {
        post(tcp, &uri, INFORM).await?
    };
    count_elements(&reply)
}

async fn serve_connection_requests(listener: TcpListener, wake: Arc<Notify>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let wake = wake.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_request: Request<Incoming>| {
                wake.notify_one();
                async { Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::new()))) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn run(dir: PathBuf, config: Config) -> Result<(), BoxError> {
    let mut journal = Journal::open(&dir)?;
    let replayed = journal.replay()?;
    journal.append("boot", u32::try_from(replayed)?)?;
    let tls = tls_config(&config)?;
    let listener = TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], config.listen_port))).await?;
    let wake = Arc::new(Notify::new());
    tokio::spawn(serve_connection_requests(listener, wake.clone()));
    let mut retry = backoff::ExponentialBackoff {
        max_elapsed_time: None,
        ..Default::default()
    };
    loop {
        match session(&config, &tls).await {
            Ok(elements) => {
                journal.append("session done", elements)?;
                retry.reset();
                if config.once {
                    return Ok(());
                }
                wake.notified().await;
            }
            Err(e) => {
                journal.append(&format!("session failed: {e}"), 0)?;
                let wait = retry.next_backoff().unwrap_or(Duration::from_secs(300));
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wake.notified() => {}
                }
            }
        }
    }
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), Some(config_path)) = (args.next(), args.next()) else {
        return Err("usage: stack-floor DATA_DIR CONFIG.toml".into());
    };
    let config: Config = toml::from_str(&std::fs::read_to_string(config_path)?)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run(PathBuf::from(dir), config))
}
