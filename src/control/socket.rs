//! The control socket: a Unix stream socket, mode 0600, one JSON request line in, one JSON
//! response line out (several exchanges per connection are allowed).
//!
//! The server ([`bind`] + [`serve`]) runs in the daemon; [`request`] is the CLI's blocking client.
//! Requests are handled on tokio's blocking pool, since a backend's `append` waits for the disk.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use super::backend::{ControlBackend, handle};
use super::protocol::{ControlRequest, ControlResponse, ErrorKind};

/// Longest request or response line accepted, in bytes.
pub const MAX_LINE: usize = 64 * 1024;
/// Default time the client waits for an answer (a `set` waits for an fdatasync).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a connection may stay idle between requests.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Binds the control socket at `path` with mode 0600.
///
/// A stale socket file (nothing accepts on it) is removed first; a live one is an
/// `AddrInUse` error, and a non-socket file at `path` is never removed. The socket is bound in a
/// fresh private directory (mode 0700) beside `path`, given mode 0600, then renamed into place, so
/// it is never reachable with looser permissions. Must be called inside a tokio runtime.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by another running daemon", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; refusing to replace it",
                    path.display()
                ),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent)?;
    let private = parent.join(format!(".control-bind-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let result = (|| {
        let tmp = private.join("s");
        let listener = UnixListener::bind(&tmp)?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)?;
        Ok(listener)
    })();
    let _ = std::fs::remove_dir(&private);
    result
}

/// Accepts connections forever, answering each request line with `handle(backend, request)`.
pub async fn serve(
    listener: UnixListener,
    backend: Arc<dyn ControlBackend + Send + Sync>,
) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let backend = backend.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, backend).await {
                tracing::debug!("control connection ended: {e}");
            }
        });
    }
}

/// Binds `path` and serves it (see [`bind`] and [`serve`]); removes the socket file when the
/// returned future is dropped or fails.
pub async fn run(path: PathBuf, backend: Arc<dyn ControlBackend + Send + Sync>) -> io::Result<()> {
    struct Remove(PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let listener = bind(&path)?;
    let _guard = Remove(path);
    serve(listener, backend).await
}

async fn serve_connection(
    stream: UnixStream,
    backend: Arc<dyn ControlBackend + Send + Sync>,
) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = tokio::time::timeout(
            IDLE_TIMEOUT,
            (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut line),
        )
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "idle"))??;
        if n == 0 {
            return Ok(());
        }
        if line.last() != Some(&b'\n') {
            let resp = ControlResponse::error(
                ErrorKind::InvalidInput,
                format!("request longer than {MAX_LINE} bytes or not newline-terminated"),
            );
            write_response(&mut write, &resp).await?;
            return Ok(());
        }
        let resp = match serde_json::from_slice::<ControlRequest>(&line) {
            Ok(req) => {
                tracing::debug!(?req, "control request");
                let backend = backend.clone();
                tokio::task::spawn_blocking(move || handle(backend.as_ref(), req))
                    .await
                    .unwrap_or_else(|e| {
                        ControlResponse::error(
                            ErrorKind::Internal,
                            format!("request handler failed: {e}"),
                        )
                    })
            }
            Err(e) => {
                ControlResponse::error(ErrorKind::InvalidInput, format!("malformed request: {e}"))
            }
        };
        write_response(&mut write, &resp).await?;
    }
}

async fn write_response(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    resp: &ControlResponse,
) -> io::Result<()> {
    let mut out = serde_json::to_vec(resp).map_err(io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await?;
    write.flush().await
}

/// Sends one request to the daemon at `path` and waits (at most [`DEFAULT_TIMEOUT`]) for its
/// answer. `NotFound` / `ConnectionRefused` mean no daemon listens.
pub fn request(path: &Path, req: &ControlRequest) -> io::Result<ControlResponse> {
    request_with_timeout(path, req, DEFAULT_TIMEOUT)
}

/// [`request`] with an explicit timeout for each read and write.
pub fn request_with_timeout(
    path: &Path,
    req: &ControlRequest,
    timeout: Duration,
) -> io::Result<ControlResponse> {
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    stream.flush()?;
    let mut reader = BufReader::new(stream).take(MAX_LINE as u64 * 16);
    let mut answer = Vec::new();
    reader.read_until(b'\n', &mut answer)?;
    if answer.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the daemon closed the control connection without a complete answer",
        ));
    }
    serde_json::from_slice(&answer).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("malformed answer from the daemon: {e}"),
        )
    })
}

/// Whether a client error means "no daemon listens" (so the CLI may open the journal itself).
pub fn is_not_listening(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::backend::tests::FakeBackend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn round_trip_over_a_0600_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        // A stale socket file from a crashed daemon is replaced.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let listener = bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no bind directory left behind"
        );

        let backend: Arc<dyn ControlBackend + Send + Sync> = Arc::new(FakeBackend {
            running: true,
            ..Default::default()
        });
        let server = tokio::spawn(serve(listener, backend));

        // A second daemon may not steal a live socket.
        let err = bind(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);

        let p = path.clone();
        let answers = tokio::task::spawn_blocking(move || {
            let set = request(
                &p,
                &ControlRequest::Set {
                    items: vec![
                        ("acs-url".into(), "https://acs/".into()),
                        ("password".into(), "hunter2".into()),
                    ],
                },
            )
            .unwrap();
            let get = request(
                &p,
                &ControlRequest::Get {
                    name: "password".into(),
                },
            )
            .unwrap();
            let bad = request(
                &p,
                &ControlRequest::Set {
                    items: vec![("enabled".into(), "maybe".into())],
                },
            )
            .unwrap();
            let inform = request(&p, &ControlRequest::InformNow).unwrap();
            let print = request(&p, &ControlRequest::Print).unwrap();

            // Malformed and oversized lines get an error answer, not a hang.
            let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
            s.write_all(b"{nonsense}\n").unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut s2 = std::os::unix::net::UnixStream::connect(&p).unwrap();
            let _ = s2.write_all(&vec![b'x'; MAX_LINE + 10]);
            let mut rest = String::new();
            let _ = s2.read_to_string(&mut rest);
            (set, get, bad, inform, print, line, rest)
        })
        .await
        .unwrap();
        let (set, get, bad, inform, print, malformed, oversized) = answers;
        assert!(matches!(set, ControlResponse::Ok { .. }), "{set:?}");
        assert_eq!(
            get,
            ControlResponse::Value {
                name: "password".into(),
                value: "***".into()
            }
        );
        assert!(
            matches!(bad, ControlResponse::Error { kind: ErrorKind::InvalidInput, ref message } if message.contains("enabled") && message.contains("yes or no")),
            "{bad:?}"
        );
        assert!(matches!(inform, ControlResponse::Ok { .. }), "{inform:?}");
        let ControlResponse::View { view } = print else {
            panic!("{print:?}")
        };
        assert!(view.daemon_running);
        assert_eq!(view.settings["acs-url"], "https://acs/");
        assert!(malformed.contains("malformed request"), "{malformed}");
        assert!(oversized.contains("longer than"), "{oversized}");
        server.abort();

        // Nothing listening: the client says so in a way the CLI recognises.
        let missing = dir.path().join("none.sock");
        let err = request(&missing, &ControlRequest::Print).unwrap_err();
        assert!(is_not_listening(&err), "{err:?}");
    }

    #[tokio::test]
    async fn refuses_to_replace_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        std::fs::write(&path, b"precious").unwrap();
        assert!(bind(&path).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }
}
