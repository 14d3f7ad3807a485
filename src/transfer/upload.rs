//! Upload: the file streamed as the body of an HTTP PUT (TR-069 §A.4.1.5).
//!
//! Some upload servers only take POST. An ACS can ask for it with the query parameter
//! `tr069-method=post` in the Upload URL (the parameter is sent to the server as part of the
//! URL; any other value, or none, means PUT).
//!
//! Redirects: only 307/308, which keep the method and body; 301/302/303 would turn the upload
//! into a GET and are reported as failures. A 401 is answered once and the body sent again.
//! Digest is answered with `qop=auth`: the streamed body is not hashed beforehand, so a server
//! offering only `auth-int` rejects the upload (9012).

use std::fmt;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::CONTENT_TYPE;
use http_body_util::BodyExt as _;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

use super::{
    Answer, Redirects, RequestSpec, SendProgress, TransferError, new_client, parse_url, request,
};
use crate::http::{Body, TlsSettings};

/// Read size of the upload body.
const UPLOAD_CHUNK: usize = 64 * 1024;

/// Where and how to upload one file.
#[derive(Clone)]
pub struct PutRequest {
    /// `http://…` or `https://…`; other schemes fail with fault 9013.
    pub url: String,
    /// The Upload's Username (empty: no credentials are sent).
    pub username: String,
    /// The Upload's Password (never logged; masked in Debug).
    pub password: String,
    pub tls: TlsSettings,
    /// DNS + TCP connect + TLS handshake.
    pub connect_timeout: Duration,
    /// The upload fails when the server neither accepts body bytes nor answers for this long.
    pub idle_timeout: Duration,
}

impl fmt::Debug for PutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutRequest")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"********")
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Uploads `file` to `req.url` with `Content-Type: content_type`; returns the bytes sent.
///
/// Any 2xx is success. Failures are fault 9011, except authentication (9012), an unsupported
/// scheme (9013) and an unreachable server (9015).
pub async fn put_file(
    req: &PutRequest,
    file: &Path,
    content_type: &str,
) -> Result<u64, TransferError> {
    upload(req, file, content_type)
        .await
        .map_err(TransferError::into_upload)
}

async fn upload(req: &PutRequest, file: &Path, content_type: &str) -> Result<u64, TransferError> {
    let target = parse_url(&req.url)?;
    let method = if wants_post(&target.path) {
        Method::POST
    } else {
        Method::PUT
    };
    let meta = tokio::fs::metadata(file)
        .await
        .map_err(|source| TransferError::Io {
            action: "read",
            path: file.to_path_buf(),
            source,
        })?;
    if !meta.is_file() {
        return Err(TransferError::Io {
            action: "read",
            path: file.to_path_buf(),
            source: io::Error::other("not a regular file"),
        });
    }
    let length = meta.len();
    let progress = Arc::new(SendProgress::new(file));
    let spec = RequestSpec {
        method: method.clone(),
        url: &req.url,
        username: &req.username,
        password: &req.password,
        headers: vec![(CONTENT_TYPE, content_type.to_string())],
        redirects: Redirects::PreserveMethod,
        progress: Some(progress.clone()),
    };
    let mut client = new_client(&req.tls, req.connect_timeout, req.idle_timeout);
    let mut make_body = || -> Result<(Body, Option<u64>), TransferError> {
        let std_file = std::fs::File::open(file).map_err(|source| TransferError::Io {
            action: "open",
            path: file.to_path_buf(),
            source,
        })?;
        let body = FileBody {
            file: tokio::fs::File::from_std(std_file),
            remaining: length,
            buf: vec![0u8; UPLOAD_CHUNK].into_boxed_slice(),
            progress: progress.clone(),
        };
        Ok((body.boxed_unsync(), Some(length)))
    };
    let Answer {
        response,
        target,
        sent_credentials,
    } = request(&mut client, &spec, &mut make_body).await?;
    let status = response.status();
    // The answer's body carries nothing the agent needs, but reading it lets the server finish.
    client.drain(response).await;
    if let Some(local) = progress.take_error() {
        return Err(local);
    }
    match status.as_u16() {
        200..=299 => {
            tracing::info!(url = %target.display_url(), %method, bytes = length, "upload done");
            Ok(length)
        }
        403 if sent_credentials => Err(TransferError::AuthFailed {
            target: target.display_addr(),
            reason: "HTTP 403 Forbidden with the transfer's credentials".into(),
        }),
        code @ 400..=499 => Err(TransferError::UnableToAccess {
            url: target.display_url(),
            reason: match status.canonical_reason() {
                Some(r) => format!("HTTP {code} {r}"),
                None => format!("HTTP {code}"),
            },
        }),
        code => Err(TransferError::ServerError {
            url: target.display_url(),
            status: code,
            reason: status.canonical_reason(),
        }),
    }
}

/// `tr069-method=post` in the query.
fn wants_post(path_and_query: &str) -> bool {
    let Some((_, query)) = path_and_query.split_once('?') else {
        return false;
    };
    query.split('&').any(|pair| {
        pair.split_once('=').is_some_and(|(k, v)| {
            k.eq_ignore_ascii_case("tr069-method") && v.eq_ignore_ascii_case("post")
        })
    })
}

/// The file as a request body of exactly `remaining` bytes, read as the connection takes it.
struct FileBody {
    file: tokio::fs::File,
    remaining: u64,
    buf: Box<[u8]>,
    progress: Arc<SendProgress>,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let want = usize::try_from(this.remaining)
            .unwrap_or(usize::MAX)
            .min(this.buf.len());
        let mut read_buf = ReadBuf::new(&mut this.buf[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut read_buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                this.progress.fail(io::Error::new(e.kind(), e.to_string()));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Ok(())) => {
                let filled = read_buf.filled();
                if filled.is_empty() {
                    // Content-Length is already on the wire: a shorter body cannot be sent.
                    let e = io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the file shrank while it was being uploaded ({} bytes missing)",
                            this.remaining
                        ),
                    );
                    this.progress.fail(io::Error::new(e.kind(), e.to_string()));
                    return Poll::Ready(Some(Err(e)));
                }
                let data = Bytes::copy_from_slice(filled);
                this.remaining -= data.len() as u64;
                this.progress
                    .sent
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_only_on_request() {
        assert!(!wants_post("/upload"));
        assert!(!wants_post("/upload?method=POST"));
        assert!(wants_post("/upload?tr069-method=post"));
        assert!(wants_post("/u?a=1&TR069-METHOD=POST&b"));
        assert!(!wants_post("/u?tr069-method=put"));
    }

    #[test]
    fn put_future_is_send() {
        fn assert_send<T: Send>(_: T) {}
        let req = PutRequest {
            url: "http://files/x".into(),
            username: String::new(),
            password: String::new(),
            tls: TlsSettings::default(),
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        assert_send(put_file(&req, Path::new("/x"), "text/plain"));
    }

    #[tokio::test]
    async fn missing_file_is_an_upload_failure() {
        let req = PutRequest {
            url: "http://127.0.0.1:9/u".into(),
            username: String::new(),
            password: String::new(),
            tls: TlsSettings::default(),
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
        };
        let e = put_file(&req, Path::new("/nonexistent/cfg.rsc"), "text/plain")
            .await
            .unwrap_err();
        assert_eq!(e.fault_code(), 9011);
        assert!(e.fault_string().contains("/nonexistent/cfg.rsc"), "{e}");
        let req = PutRequest {
            url: "ftp://files/u".into(),
            ..req
        };
        let e = put_file(&req, Path::new("/nonexistent"), "text/plain")
            .await
            .unwrap_err();
        assert_eq!(e.fault_code(), 9013);
    }
}
