//! The edge's half of transfers: runs the I/O of a [`TransferJob`] the core handed out — fetch
//! (with durable checkpoints), produce and upload, run the apply hook, read or write a
//! configuration file — and reports every event back to the core, in order, on one channel.
//! What each stage means and what happens after a crash is decided by the core
//! (`cpe::transfer_lifecycle`), never here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::cpe::transfer_lifecycle::{Failure, MAIN_FILE, UPLOAD_FILE};
use crate::cpe::{Downloaded, Input, Job, TlsPolicy, TransferEvent, TransferJob, UploadSource};
use crate::cwmp::FaultCode;
use crate::transfer::download::{FetchRequest, Fetched, fetch};
use crate::transfer::manifest::{looks_like_manifest, parse_manifest};
use crate::transfer::upload::{PutRequest, put_file};

use super::hooks::run_hook;
use crate::http::{ClientCertificate, Dialer, TlsSettings};

/// Checkpoints are taken at most this often while bytes arrive …
const CHECKPOINT_EVERY_BYTES: u64 = 1 << 20;
/// … and no more often than this (flash wears).
const CHECKPOINT_MIN_INTERVAL: Duration = Duration::from_secs(3);
/// Transfers' (and the HTTP diagnostics') limits.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The TLS settings of a connection from the core's policy.
pub fn tls_settings(p: &TlsPolicy) -> TlsSettings {
    TlsSettings {
        ca_file: p.ca_file.clone(),
        client_certificate: p.client_certificate.clone().map(|pem| ClientCertificate {
            cert_chain_pem: pem.clone(),
            private_key_pem: pem,
        }),
        insecure: p.insecure,
    }
}

struct Reporter {
    id: String,
    tx: UnboundedSender<Input>,
}

impl Reporter {
    fn send(&self, event: TransferEvent) {
        // The loop is gone only when the agent stops; the job's result no longer matters then.
        let _ = self.tx.send(Input::Transfer {
            transfer_id: self.id.clone(),
            event,
        });
    }
}

/// Runs `job`, reporting its events on `tx`. `journal_timeline` is the text a log Upload without
/// a hook sends (read by the caller, which owns the journal).
pub async fn run(job: TransferJob, tx: UnboundedSender<Input>, journal_timeline: Option<String>) {
    let r = Reporter {
        id: job.transfer_id.clone(),
        tx,
    };
    match job.job {
        Job::Download => {
            let result = download(&job, &r).await;
            r.send(TransferEvent::Downloaded(result));
        }
        Job::Upload => {
            let result = upload(&job, journal_timeline).await;
            r.send(TransferEvent::Finished(result));
        }
        Job::ApplyFirmware => {
            let result = apply_firmware(&job).await;
            r.send(TransferEvent::FirmwareApplied(result));
        }
        Job::ApplyConfiguration => match &job.hook {
            Some(hook) => {
                let result = run_hook("config_apply", hook, Some(&job.main_file), job.mode)
                    .await
                    .map_err(|why| {
                        (
                            FaultCode::FileTransferFailure.code(),
                            format!("applying the configuration: {why}"),
                        )
                    });
                r.send(TransferEvent::Finished(result));
            }
            None => r.send(TransferEvent::ConfigText(read_text(&job.main_file).await)),
        },
        Job::InstallFactoryConfiguration => {
            r.send(TransferEvent::ConfigText(read_text(&job.main_file).await))
        }
    }
}

async fn read_text(path: &Path) -> Result<String, Failure> {
    tokio::fs::read_to_string(path).await.map_err(|e| {
        (
            FaultCode::FileCorrupted.code(),
            format!("the file is not readable text: {e}"),
        )
    })
}

/// Writes the factory configuration so that it is the old or the new content after a power cut.
pub async fn write_factory_configuration(path: PathBuf, text: String) -> Result<(), Failure> {
    tokio::task::spawn_blocking(move || write_durably(&path, text.as_bytes()))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
        .map_err(|why| {
            (
                FaultCode::InternalError.code(),
                format!("writing the factory configuration: {why}"),
            )
        })
}

/// Writes a file so that it is either the old or the new content after a power cut.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Deletes transfer directories under `root` whose names are not in `keep`: a router's flash is
/// small.
pub fn remove_transfer_files(root: &Path, keep: &std::collections::BTreeSet<String>) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) && entry.path().is_dir() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::info!(transfer = %name, "transfer files removed"),
                Err(e) => {
                    tracing::warn!(transfer = %name, error = %e, "cannot remove transfer files")
                }
            }
        }
    }
}

/// The files of a download in the order they are fetched: the main file, then the packages a
/// firmware manifest lists.
fn file_order(name: &str) -> Option<usize> {
    if name == MAIN_FILE || name.is_empty() {
        Some(0)
    } else {
        name.strip_prefix("pkg-")?
            .parse::<usize>()
            .ok()
            .map(|n| n + 1)
    }
}

/// Makes the files on disk agree with the last journaled checkpoint: bytes past it may never
/// have reached the disk before a power cut (a file's length can cover blocks that were never
/// written), so they are cut off and fetched again; files after the checkpointed one are
/// started afresh.
fn rewind_to_checkpoint(dir: &Path, checkpoint_file: &str, bytes: u64) {
    let Some(at) = file_order(checkpoint_file) else {
        return;
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(order) = file_order(&name) else {
            continue;
        };
        if order > at {
            let _ = std::fs::remove_file(entry.path());
        } else if order == at
            && let Ok(f) = std::fs::OpenOptions::new().write(true).open(entry.path())
            && f.metadata().is_ok_and(|m| m.len() > bytes)
        {
            let _ = f.set_len(bytes);
            let _ = f.sync_all();
        }
    }
}

fn unix_now() -> i64 {
    i64::try_from(super::now_ms() / 1000).unwrap_or(i64::MAX)
}

/// Fetches the file (and, for a firmware manifest, every package it lists); returns the main
/// file, the total size and the main file's SHA-256. Resumes after the last checkpoint.
async fn download(job: &TransferJob, r: &Reporter) -> Result<Downloaded, Failure> {
    let dir = &job.dir;
    std::fs::create_dir_all(dir).map_err(|e| {
        (
            FaultCode::InternalError.code(),
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    if let Some((file, bytes)) = &job.checkpoint {
        rewind_to_checkpoint(dir, file, *bytes);
    }
    let a = &job.accepted;
    let request = FetchRequest {
        url: a.url.clone(),
        username: a.username.clone(),
        password: a.password.clone(),
        expected_size: a.file_size,
        tls: tls_settings(&job.tls),
        connect_timeout: CONNECT_TIMEOUT,
        idle_timeout: IDLE_TIMEOUT,
        dialer: Dialer::default(),
    };
    let main = dir.join(MAIN_FILE);
    let fetched = fetch_checkpointed(r, &request, dir, MAIN_FILE, job.deadline_unix).await?;
    let mut total = fetched.size;
    if crate::cpe::transfer_lifecycle::is_firmware(a) && looks_like_manifest(&read_head(&main)) {
        let bytes =
            std::fs::read(&main).map_err(|e| (FaultCode::InternalError.code(), e.to_string()))?;
        let manifest = parse_manifest(&bytes).map_err(|e| {
            (
                FaultCode::FileCorrupted.code(),
                format!("the firmware manifest is invalid: {e}"),
            )
        })?;
        // A manifest naming itself would have the device "install" the manifest: refused
        // before anything is fetched.
        if let Some(i) = manifest.urls.iter().position(|u| same_url(u, &a.url)) {
            return Err((
                FaultCode::FileCorrupted.code(),
                format!("the firmware manifest lists itself as package #{}", i + 1),
            ));
        }
        // Every package is downloaded and verified before anything is applied.
        for (i, url) in manifest.urls.iter().enumerate() {
            let package = FetchRequest {
                url: url.clone(),
                expected_size: 0,
                ..request.clone()
            };
            let name = format!("pkg-{i}");
            let got = fetch_checkpointed(r, &package, dir, &name, job.deadline_unix).await?;
            // Manifests are not nested (a redirect back to the manifest ends here too): a
            // package must be an image.
            if looks_like_manifest(&read_head(&got.path)) {
                return Err((
                    FaultCode::FileCorrupted.code(),
                    format!(
                        "package #{} of the firmware manifest ({}) is itself a manifest, not an image",
                        i + 1,
                        crate::records::mask_url(url)
                    ),
                ));
            }
            total = total.saturating_add(got.size);
        }
    }
    Ok(Downloaded {
        path: fetched.path,
        size: total,
        sha256: fetched.sha256,
    })
}

/// One file of a download, with durable checkpoints: the progress callback reports what has
/// been handed to the kernel; a checkpoint is taken at the value reported one step *earlier*
/// (by then that write has certainly reached the kernel), after an fdatasync of the file, and
/// reported to the core, which journals `Downloading(path, bytes_done)`. A finished file is
/// checkpointed whole.
async fn fetch_checkpointed(
    r: &Reporter,
    request: &FetchRequest,
    dir: &Path,
    name: &str,
    deadline: Option<i64>,
) -> Result<Fetched, Failure> {
    let dest = dir.join(name);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let mut previous: u64 = 0;
    let mut last_sent: u64 = 0;
    let mut last_sent_at = std::time::Instant::now();
    // `move`: the closure owns the sender, so dropping it ends the checkpoint loop.
    let mut progress = move |done: u64, total: Option<u64>| {
        r.send(TransferEvent::Progress { done, total });
        let safe = previous;
        previous = done;
        if safe >= last_sent.saturating_add(CHECKPOINT_EVERY_BYTES)
            && last_sent_at.elapsed() >= CHECKPOINT_MIN_INTERVAL
        {
            last_sent = safe;
            last_sent_at = std::time::Instant::now();
            let _ = tx.send(safe);
        }
    };
    let checkpoints = async {
        while let Some(bytes) = rx.recv().await {
            checkpoint(r, &dest, name, bytes).await;
        }
    };
    let fetching = async {
        let fut = fetch(request, &dest, &mut progress);
        let result = match deadline {
            Some(end) => {
                let left = u64::try_from(end.saturating_sub(unix_now())).unwrap_or(0);
                match tokio::time::timeout(Duration::from_secs(left), fut).await {
                    Ok(r) => r.map_err(|e| (e.fault_code(), e.fault_string())),
                    Err(_) => Err((
                        FaultCode::DownloadOutsideTimeWindows.code(),
                        "the download did not finish inside its time windows".to_owned(),
                    )),
                }
            }
            None => fut.await.map_err(|e| (e.fault_code(), e.fault_string())),
        };
        drop(progress);
        result
    };
    let (result, ()) = tokio::join!(fetching, checkpoints);
    let fetched = result?;
    checkpoint(r, &dest, name, fetched.size).await;
    Ok(fetched)
}

async fn checkpoint(r: &Reporter, file: &Path, name: &str, bytes: u64) {
    let path = file.to_path_buf();
    let synced = tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_data())
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    if let Err(e) = synced {
        tracing::warn!(file = %file.display(), error = %e, "checkpoint skipped: cannot sync");
        return;
    }
    r.send(TransferEvent::Checkpoint {
        file: name.to_owned(),
        bytes,
    });
}

/// The same resource, whatever the scheme's and host's case or an empty path.
fn same_url(a: &str, b: &str) -> bool {
    match (crate::http::Target::parse(a), crate::http::Target::parse(b)) {
        (Ok(x), Ok(y)) => {
            x.https == y.https
                && x.host.eq_ignore_ascii_case(&y.host)
                && x.port == y.port
                && x.path == y.path
        }
        _ => a.trim() == b.trim(),
    }
}

fn read_head(path: &Path) -> Vec<u8> {
    use std::io::Read as _;
    let mut buf = vec![0u8; 512];
    match std::fs::File::open(path).and_then(|mut f| f.read(&mut buf)) {
        Ok(n) => {
            buf.truncate(n);
            buf
        }
        Err(_) => Vec::new(),
    }
}

/// The packages of a downloaded firmware transfer, in apply order.
fn firmware_files(dir: &Path, main: &Path) -> Vec<PathBuf> {
    let mut packages: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("pkg-")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    packages.sort();
    if packages.is_empty() {
        vec![main.to_path_buf()]
    } else {
        packages.into_iter().map(|(_, p)| p).collect()
    }
}

async fn apply_firmware(job: &TransferJob) -> Result<(), String> {
    let Some(hook) = &job.hook else {
        return Err("no firmware_apply hook is configured".to_owned());
    };
    for file in firmware_files(&job.dir, &job.main_file) {
        tracing::info!(transfer = %job.transfer_id, file = %file.display(), "applying firmware");
        let applied = run_hook("firmware_apply", hook, Some(&file), "firmware").await;
        // The hook has run; Applied is not yet journaled.
        crate::crash_point!("firmware.after_hook");
        applied.map_err(|why| format!("applying {}: {why}", file.display()))?;
    }
    Ok(())
}

/// Produces the upload's file and PUTs it.
async fn upload(job: &TransferJob, journal_timeline: Option<String>) -> Result<(), Failure> {
    let failure = FaultCode::UploadFailure.code();
    let dir = &job.dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| (failure, format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join(UPLOAD_FILE);
    match &job.upload {
        Some(UploadSource::Hook(hook)) => run_hook("export", hook, Some(&file), "")
            .await
            .map_err(|why| (failure, format!("exporting the file: {why}")))?,
        Some(UploadSource::Text(text)) => {
            std::fs::write(&file, text).map_err(|e| (failure, e.to_string()))?
        }
        Some(UploadSource::JournalTimeline) => {
            let text = journal_timeline.unwrap_or_default();
            std::fs::write(&file, text).map_err(|e| (failure, e.to_string()))?
        }
        Some(UploadSource::File(src)) => {
            std::fs::copy(src, &file).map_err(|e| {
                (
                    failure,
                    format!("no factory configuration file was installed ({e})"),
                )
            })?;
        }
        None => {
            return Err((
                failure,
                format!("FileType {:?} cannot be uploaded", job.accepted.file_type),
            ));
        }
    }
    let a = &job.accepted;
    let request = PutRequest {
        url: a.url.clone(),
        username: a.username.clone(),
        password: a.password.clone(),
        tls: tls_settings(&job.tls),
        connect_timeout: CONNECT_TIMEOUT,
        idle_timeout: IDLE_TIMEOUT,
    };
    put_file(&request, &file, "text/plain; charset=utf-8")
        .await
        .map(|_| ())
        .map_err(|e| (e.fault_code(), e.fault_string()))
}
