//! Download: an HTTP(S) GET streamed to a file, resumed with `Range` when the file already holds
//! the beginning of it.
//!
//! How an existing destination file is treated:
//!
//! - its N bytes are hashed first, then `Range: bytes=N-` is asked for;
//! - `206` whose `Content-Range` starts at N: the body is appended (`resumed_from` = N). A 206
//!   covering only part of the rest is followed by another Range request;
//! - `200` (the server ignores Range): the file is truncated and written from zero
//!   (`resumed_from` = 0);
//! - `416`: the file may be complete already. It is when the server's `Content-Range: bytes */L`
//!   says L = N (and FileSize, when known, agrees), or when there is no such header and N equals
//!   FileSize. Otherwise the file is truncated and fetched again without Range;
//! - a file longer than a known FileSize cannot be a prefix of it and is truncated first.
//!
//! The destination is never deleted: on failure whatever was written is flushed to disk so the
//! next call resumes from it. Deciding to start over is the caller's (remove the file).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::header::{ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, HeaderMap, RANGE};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{Answer, Redirects, RequestSpec, TransferError, hex, new_client, parse_url, request};
use crate::http::{Dialer, TlsSettings, empty_body};

/// Read size when hashing the bytes already in a partial file.
const HASH_CHUNK: usize = 256 * 1024;

/// A download of unknown size (no FileSize, no Content-Length: a chunked or close-delimited
/// body) stops before it leaves less than this free on the filesystem, which the journal
/// shares: an endless body must not fill the flash under the agent's own state.
pub const KEEP_FREE_BYTES: u64 = 4 * 1024 * 1024;
/// How often (in bytes written) a download of unknown size looks at the free space.
const FREE_CHECK_EVERY: u64 = 256 * 1024;

/// Where and how to fetch one file.
#[derive(Clone)]
pub struct FetchRequest {
    /// `http://…` or `https://…`; other schemes fail with fault 9013.
    pub url: String,
    /// The Download's Username (empty: no credentials are sent).
    pub username: String,
    /// The Download's Password (never logged; masked in Debug).
    pub password: String,
    /// The Download's FileSize; 0 = unknown.
    pub expected_size: u64,
    pub tls: TlsSettings,
    /// DNS + TCP connect + TLS handshake.
    pub connect_timeout: Duration,
    /// The transfer fails when no byte arrives for this long (waiting for the answer included).
    pub idle_timeout: Duration,
    /// Opens the connections' byte streams: TCP ([`Dialer::default`]) except in tests and the
    /// fuzz target `file_http`, which serve the file server's side from memory.
    pub dialer: Dialer,
}

impl fmt::Debug for FetchRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchRequest")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"********")
            .field("expected_size", &self.expected_size)
            .field("tls", &self.tls)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("dialer", &self.dialer)
            .finish()
    }
}

/// A complete, fsynced download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub size: u64,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// Bytes that were already in the file and kept (0 when fetched from the start).
    pub resumed_from: u64,
}

/// Fetches `req.url` into `dest`, resuming from what `dest` already holds.
///
/// `progress(done, total)` is called as bytes land on disk (`total` = the server's size, or
/// FileSize, when known).
pub async fn fetch(
    req: &FetchRequest,
    dest: &Path,
    progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
) -> Result<Fetched, TransferError> {
    // A bad URL fails before the destination is touched.
    parse_url(&req.url)?;
    let mut part = Partial::open(dest, req.expected_size).await?;
    let outcome = run(req, &mut part, progress).await;
    match outcome {
        Ok(resumed_from) => part.finish(resumed_from).await,
        Err(e) => {
            part.persist().await;
            Err(e)
        }
    }
}

/// The request/response rounds of one fetch; returns how many bytes of the file were kept from
/// before.
async fn run(
    req: &FetchRequest,
    part: &mut Partial,
    progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
) -> Result<u64, TransferError> {
    let expected = req.expected_size;
    if expected > 0 {
        check_free_space(&part.path, expected.saturating_sub(part.len))?;
    }
    let mut client =
        new_client(&req.tls, req.connect_timeout, req.idle_timeout).with_dialer(req.dialer.clone());
    let mut allow_range = true;
    let mut resumed_from = part.len;
    loop {
        let range_from = (allow_range && part.len > 0).then_some(part.len);
        let mut headers = vec![(ACCEPT_ENCODING, "identity".to_string())];
        if let Some(from) = range_from {
            headers.push((RANGE, format!("bytes={from}-")));
        }
        let spec = RequestSpec {
            method: Method::GET,
            url: &req.url,
            username: &req.username,
            password: &req.password,
            headers,
            redirects: Redirects::All,
            progress: None,
        };
        let Answer {
            response,
            target,
            sent_credentials,
        } = request(&mut client, &spec, &mut || Ok((empty_body(), None))).await?;
        let url = target.display_url();
        let status = response.status();
        match (status.as_u16(), range_from) {
            (206, Some(from)) => {
                let range = match content_range(response.headers()) {
                    Some(ContentRange::Bytes { start, end, total })
                        if start == from && end >= start =>
                    {
                        Some((end, total))
                    }
                    _ => None,
                };
                let Some((end, total)) = range else {
                    tracing::info!(%url, from, "unusable 206 answer to a Range request; fetching the whole file again");
                    client.drain(response).await;
                    allow_range = false;
                    part.restart().await?;
                    resumed_from = 0;
                    continue;
                };
                check_announced(expected, total)?;
                let final_size = total.or((expected > 0).then_some(expected));
                if let Some(size) = final_size {
                    check_free_space(&part.path, size.saturating_sub(part.len))?;
                }
                tracing::debug!(%url, from, ?total, "appending a 206 answer");
                let chunk_end = end.saturating_add(1);
                stream_body(
                    response.into_body(),
                    part,
                    final_size,
                    Some(chunk_end),
                    req.idle_timeout,
                    progress,
                )
                .await?;
                match total {
                    // The server sent only part of the rest: ask for what is still missing.
                    Some(total) if part.len < total => continue,
                    _ => {}
                }
                check_complete(part.len, expected, total)?;
                return Ok(resumed_from);
            }
            (206, None) => {
                return Err(TransferError::Protocol(
                    "HTTP 206 Partial Content to a request without Range".into(),
                ));
            }
            (200..=299, _) => {
                if part.len > 0 {
                    tracing::info!(%url, kept = part.len, "the file server ignores Range; downloading from the start");
                    part.restart().await?;
                }
                let length = content_length(response.headers());
                check_announced(expected, length)?;
                let final_size = length.or((expected > 0).then_some(expected));
                if let Some(size) = final_size {
                    check_free_space(&part.path, size)?;
                }
                stream_body(
                    response.into_body(),
                    part,
                    final_size,
                    length,
                    req.idle_timeout,
                    progress,
                )
                .await?;
                check_complete(part.len, expected, length)?;
                return Ok(0);
            }
            (416, Some(from)) => {
                let total = match content_range(response.headers()) {
                    Some(ContentRange::Unsatisfied { total }) => Some(total),
                    Some(ContentRange::Bytes { total, .. }) => total,
                    None => None,
                };
                client.drain(response).await;
                let complete = match total {
                    Some(total) => total == from,
                    None => expected > 0 && from == expected,
                };
                if complete {
                    check_announced(expected, total)?;
                    progress(from, Some(from));
                    return Ok(from);
                }
                tracing::info!(%url, from, ?total, "the partial file does not fit the server's file; downloading from the start");
                allow_range = false;
                part.restart().await?;
                resumed_from = 0;
            }
            (403, _) if sent_credentials => {
                return Err(TransferError::AuthFailed {
                    target: target.display_addr(),
                    reason: "HTTP 403 Forbidden with the transfer's credentials".into(),
                });
            }
            (400..=499, _) => {
                return Err(TransferError::UnableToAccess {
                    url,
                    reason: status_text(status),
                });
            }
            _ => {
                return Err(TransferError::ServerError {
                    url,
                    status: status.as_u16(),
                    reason: status.canonical_reason(),
                });
            }
        }
    }
}

/// Streams one answer's body onto the end of `part`.
///
/// `final_size` is the size the whole file must end up with, when known; `body_end` the file
/// offset this answer's body must reach (its announced length).
async fn stream_body(
    mut body: Incoming,
    part: &mut Partial,
    final_size: Option<u64>,
    body_end: Option<u64>,
    idle: Duration,
    progress: &mut (dyn FnMut(u64, Option<u64>) + Send),
) -> Result<(), TransferError> {
    progress(part.len, final_size);
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Err(_) => {
                return Err(TransferError::Timeout {
                    what: "file data",
                    after: idle,
                });
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(match body_end.or(final_size) {
                    Some(expected) => {
                        tracing::debug!(error = %e, received = part.len, expected, "download cut short");
                        TransferError::Truncated {
                            received: part.len,
                            expected,
                        }
                    }
                    None => TransferError::ConnectionLost {
                        reason: e.to_string(),
                    },
                });
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let after = part.len.saturating_add(data.len() as u64);
        if let Some(limit) = final_size.filter(|limit| after > *limit) {
            return Err(TransferError::Corrupted {
                reason: format!("the file server sent more than the expected {limit} bytes"),
            });
        }
        part.write(&data, final_size).await?;
        progress(part.len, final_size);
    }
    if let Some(end) = body_end.filter(|end| part.len < *end) {
        return Err(TransferError::Truncated {
            received: part.len,
            expected: end,
        });
    }
    Ok(())
}

/// A server announcing a size other than FileSize serves another file: refuse before writing.
fn check_announced(expected: u64, announced: Option<u64>) -> Result<(), TransferError> {
    match announced {
        Some(announced) if expected > 0 && announced != expected => {
            Err(TransferError::SizeMismatch {
                expected,
                announced,
            })
        }
        _ => Ok(()),
    }
}

/// After a body ended cleanly: the file has the announced size and FileSize.
fn check_complete(len: u64, expected: u64, announced: Option<u64>) -> Result<(), TransferError> {
    if let Some(announced) = announced.filter(|a| len < *a) {
        return Err(TransferError::Truncated {
            received: len,
            expected: announced,
        });
    }
    if expected > 0 && len != expected {
        return Err(TransferError::Corrupted {
            reason: format!("received {len} bytes but the Download's FileSize is {expected}"),
        });
    }
    Ok(())
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentRange {
    /// `bytes start-end/total` (`total` None for `*`).
    Bytes {
        start: u64,
        end: u64,
        total: Option<u64>,
    },
    /// `bytes */total` (416).
    Unsatisfied { total: u64 },
}

fn content_range(headers: &HeaderMap) -> Option<ContentRange> {
    parse_content_range(headers.get(CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let value = value.trim();
    let (unit, rest) = value.split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (range, total) = rest.trim().split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    let range = range.trim();
    if range == "*" {
        return total.map(|total| ContentRange::Unsatisfied { total });
    }
    let (start, end) = range.split_once('-')?;
    let start = start.trim().parse::<u64>().ok()?;
    let end = end.trim().parse::<u64>().ok()?;
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some(ContentRange::Bytes { start, end, total })
}

/// Free bytes for an unprivileged writer on the filesystem holding `path`; None when unknown.
fn free_space(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stat` points to writable memory
    // of the right type; statvfs only writes through it.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        tracing::debug!(dir = %dir.display(), error = %io::Error::last_os_error(), "statvfs failed; free space unknown");
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the whole struct.
    let stat = unsafe { stat.assume_init() };
    #[allow(clippy::useless_conversion)] // the field widths differ between 32- and 64-bit targets
    let (blocks, size) = (u64::from(stat.f_bavail), u64::from(stat.f_frsize));
    Some(blocks.saturating_mul(size))
}

fn check_free_space(path: &Path, need: u64) -> Result<(), TransferError> {
    if need == 0 {
        return Ok(());
    }
    match free_space(path) {
        Some(have) if have < need => Err(TransferError::NoSpace { need, have }),
        _ => Ok(()),
    }
}

/// The destination file and the running hash of what it holds.
struct Partial {
    file: tokio::fs::File,
    path: PathBuf,
    len: u64,
    hasher: Sha256,
    /// The file did not exist before: its directory entry must be made durable too.
    created: bool,
    /// Bytes written since the free space was last looked at (unknown sizes only).
    unchecked: u64,
}

impl Partial {
    async fn open(path: &Path, expected: u64) -> Result<Partial, TransferError> {
        let io_err = |action| io_error(action, path);
        let created = !tokio::fs::try_exists(path).await.unwrap_or(false);
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .await
            .map_err(io_err("open"))?;
        let meta = file.metadata().await.map_err(io_err("inspect"))?;
        if !meta.is_file() {
            return Err(io_err("write to")(io::Error::other("not a regular file")));
        }
        if expected > 0 && meta.len() > expected {
            tracing::info!(path = %path.display(), size = meta.len(), expected, "partial file longer than FileSize; starting over");
            file.set_len(0).await.map_err(io_err("truncate"))?;
        }
        let mut part = Partial {
            file,
            path: path.to_path_buf(),
            len: 0,
            hasher: Sha256::new(),
            created,
            unchecked: FREE_CHECK_EVERY,
        };
        // Hash what is there; the file position ends at its end, where new bytes go.
        let mut buf = vec![0u8; HASH_CHUNK];
        loop {
            let n = part
                .file
                .read(&mut buf)
                .await
                .map_err(io_err("read the partial file"))?;
            if n == 0 {
                break;
            }
            part.hasher.update(&buf[..n]);
            part.len += n as u64;
        }
        Ok(part)
    }

    async fn restart(&mut self) -> Result<(), TransferError> {
        self.file
            .set_len(0)
            .await
            .map_err(io_error("truncate", &self.path))?;
        self.file
            .seek(io::SeekFrom::Start(0))
            .await
            .map_err(io_error("rewind", &self.path))?;
        self.len = 0;
        self.hasher = Sha256::new();
        Ok(())
    }

    async fn write(&mut self, data: &[u8], final_size: Option<u64>) -> Result<(), TransferError> {
        if final_size.is_none() {
            self.unchecked = self.unchecked.saturating_add(data.len() as u64);
            if self.unchecked >= FREE_CHECK_EVERY {
                self.unchecked = 0;
                // tokio's file hands the previous write to a blocking thread and returns: wait
                // for it, or the filesystem's count lags one write behind.
                self.file
                    .flush()
                    .await
                    .map_err(io_error("write", &self.path))?;
                if let Some(have) = free_space(&self.path) {
                    // This write and everything up to the next check must still leave
                    // KEEP_FREE_BYTES: the check runs only every FREE_CHECK_EVERY bytes.
                    let need = (data.len() as u64)
                        .saturating_add(FREE_CHECK_EVERY)
                        .saturating_add(KEEP_FREE_BYTES);
                    if have < need {
                        return Err(TransferError::NoSpace { need, have });
                    }
                }
            }
        }
        if let Err(source) = self.file.write_all(data).await {
            if source.kind() == io::ErrorKind::StorageFull {
                let need = final_size.map_or(data.len() as u64, |s| s.saturating_sub(self.len));
                return Err(TransferError::NoSpace {
                    need,
                    have: free_space(&self.path).unwrap_or(0),
                });
            }
            return Err(io_error("write", &self.path)(source));
        }
        self.hasher.update(data);
        self.len += data.len() as u64;
        Ok(())
    }

    /// After a failure: get what was written onto the disk so a later call (even after a crash)
    /// resumes from it. Best effort: the failure being reported matters more.
    async fn persist(&mut self) {
        if let Err(e) = self.file.flush().await {
            tracing::warn!(path = %self.path.display(), error = %e, "could not flush the partial download");
            return;
        }
        if let Err(e) = self.file.sync_data().await {
            tracing::warn!(path = %self.path.display(), error = %e, "could not sync the partial download");
        }
    }

    async fn finish(mut self, resumed_from: u64) -> Result<Fetched, TransferError> {
        self.file
            .flush()
            .await
            .map_err(io_error("sync", &self.path))?;
        self.file
            .sync_all()
            .await
            .map_err(io_error("sync", &self.path))?;
        if self.created {
            sync_parent_dir(&self.path).await;
        }
        Ok(Fetched {
            path: self.path,
            size: self.len,
            sha256: hex(&self.hasher.finalize()),
            resumed_from,
        })
    }
}

/// The error of `action` on the partial file at `path`.
fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> TransferError + 'a {
    move |source| TransferError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a new file's directory entry durable. Some filesystems refuse to fsync a directory;
/// that only weakens the guarantee, so it is logged, not fatal.
async fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let result = tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all()).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "could not fsync the download's directory"),
        Err(e) => tracing::debug!(error = %e, "fsync of the download's directory did not run"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_forms() {
        assert_eq!(
            parse_content_range("bytes 100-199/1000"),
            Some(ContentRange::Bytes {
                start: 100,
                end: 199,
                total: Some(1000)
            })
        );
        assert_eq!(
            parse_content_range("bytes 5-9/*"),
            Some(ContentRange::Bytes {
                start: 5,
                end: 9,
                total: None
            })
        );
        assert_eq!(
            parse_content_range("bytes */1000"),
            Some(ContentRange::Unsatisfied { total: 1000 })
        );
        for bad in [
            "bytes 10-5/100",
            "bytes 0-100/100",
            "items 0-1/2",
            "bytes */*",
            "bytes 1-2",
            "",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn announced_and_final_sizes() {
        assert!(check_announced(0, Some(5)).is_ok());
        assert!(check_announced(5, None).is_ok());
        let e = check_announced(5, Some(6)).unwrap_err();
        assert_eq!(e.fault_code(), 9010);
        assert_eq!(
            e.to_string(),
            "the file server announces 6 bytes but the Download's FileSize is 5 bytes"
        );
        assert_eq!(
            check_complete(4, 0, Some(5)).unwrap_err().fault_code(),
            9017
        );
        assert_eq!(check_complete(4, 5, None).unwrap_err().fault_code(), 9018);
        assert!(check_complete(5, 5, Some(5)).is_ok());
        assert!(check_complete(7, 0, None).is_ok());
    }

    #[test]
    fn free_space_is_known_for_the_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        let have = free_space(&dir.path().join("f")).unwrap();
        assert!(have > 0);
        let e = check_free_space(&dir.path().join("f"), u64::MAX).unwrap_err();
        assert_eq!(e.fault_code(), 9010);
        assert!(
            e.to_string().starts_with("not enough free space: need"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn partial_file_is_hashed_and_kept_unless_longer_than_file_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fw.npk");
        std::fs::write(&path, b"hello").unwrap();
        let part = Partial::open(&path, 10).await.unwrap();
        assert_eq!(part.len, 5);
        assert!(!part.created);
        assert_eq!(
            hex(&part.hasher.clone().finalize()),
            hex(&Sha256::digest(b"hello"))
        );
        drop(part);
        let part = Partial::open(&path, 3).await.unwrap();
        assert_eq!(part.len, 0);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        let fresh = Partial::open(&dir.path().join("new"), 0).await.unwrap();
        assert!(fresh.created);
    }

    #[test]
    fn fetch_future_is_send() {
        // The lifecycle runs transfers on spawned tasks.
        fn assert_send<T: Send>(_: T) {}
        let req = FetchRequest {
            url: "http://files/x".into(),
            username: String::new(),
            password: String::new(),
            expected_size: 0,
            tls: TlsSettings::default(),
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            dialer: Dialer::default(),
        };
        let mut progress = |_, _| {};
        assert_send(fetch(&req, Path::new("/nonexistent/x"), &mut progress));
    }

    #[tokio::test]
    async fn unsupported_scheme_fails_before_touching_the_destination() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("x");
        let req = FetchRequest {
            url: "ftp://files/x".into(),
            username: String::new(),
            password: String::new(),
            expected_size: 0,
            tls: TlsSettings::default(),
            connect_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            dialer: Dialer::default(),
        };
        let e = fetch(&req, &dest, &mut |_, _| {}).await.unwrap_err();
        assert_eq!(e.fault_code(), 9013);
        assert!(!dest.exists());
        assert!(!format!("{req:?}").contains("password: \"\""));
    }
}
