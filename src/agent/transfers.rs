//! The transfer worker: moves every accepted transfer through its stages, journaling each stage
//! before and after its side effect, so that after any crash the folded state names exactly one
//! next step:
//!
//! | last stage  | rule |
//! |-------------|------|
//! | Accepted    | journal Waiting(until = accepted + DelaySeconds / the first window's start) |
//! | Waiting     | wait until `until`; then journal Downloading(start time) — or, past a ScheduleDownload's last window, Completed(9020) |
//! | Downloading | fetch (resuming a partial file with an HTTP Range request), or export+PUT for an Upload; journal Downloaded, or Completed(fault) |
//! | Downloaded  | journal Applying (with the running version), then apply |
//! | Applying    | firmware: NEVER apply again — in a later boot the running version decides; in the same boot journal Applied + the reboot. Configuration: apply again (idempotent) |
//! | Applied     | firmware: in a later boot, the running version decides success (0) or rollback (9010); in the same boot the journaled reboot is still due |
//! | Completed   | owed: the next session sends TransferComplete until the ACS acknowledges it |
//!
//! Firmware is therefore applied at most once per transfer, whatever crash or power cut falls
//! between Applying and the reboot.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use journal::proto::{self, TransferStage as S, record::Kind};

use crate::config::Hooks;
use crate::cwmp::rpc::download::file_type as download_type;
use crate::cwmp::rpc::transfer_complete::TransferComplete;
use crate::cwmp::rpc::upload::file_type as upload_type;
use crate::cwmp::{DateTime, FaultCode, FaultStruct};
use crate::datamodel::{View, config_file};
use crate::http::TlsSettings;
use crate::session::OwedTransferComplete;
use crate::state::{AgentState, REBOOT_REASON_FIRMWARE, record};
use crate::transfer::download::{FetchRequest, fetch};
use crate::transfer::manifest::{looks_like_manifest, parse_manifest};
use crate::transfer::upload::{PutRequest, put_file};

use super::daemon::{Agent, now_ms};

/// The file a Download's main body is fetched into.
const MAIN_FILE: &str = "download";
/// Where the factory configuration a vendor file type installs is kept.
pub const FACTORY_CONFIG_FILE: &str = "factory-config.txt";
/// Longest a hook (apply, export) may run.
const HOOK_TIMEOUT: Duration = Duration::from_secs(600);

fn unix_now() -> i64 {
    i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
}

fn stage_of(t: &proto::TransferState) -> S {
    t.last_stage
        .as_ref()
        .and_then(|s| S::try_from(s.stage).ok())
        .unwrap_or(S::Accepted)
}

/// The next stage record, carrying the start time (and firmware facts) forward.
fn next(t: &proto::TransferState, stage: S) -> proto::TransferStageChanged {
    let last = t.last_stage.clone().unwrap_or_default();
    proto::TransferStageChanged {
        transfer_id: t
            .accepted
            .as_ref()
            .map(|a| a.transfer_id.clone())
            .unwrap_or_default(),
        stage: stage as i32,
        start_time: last.start_time,
        previous_version: last.previous_version,
        boot_id: last.boot_id,
        path: last.path,
        size: last.size,
        sha256: last.sha256,
        ..Default::default()
    }
}

fn completed(
    t: &proto::TransferState,
    fault_code: u32,
    fault_string: impl Into<String>,
) -> proto::Record {
    let mut c = next(t, S::Completed);
    c.fault_code = fault_code;
    let mut s: String = fault_string.into();
    if s.chars().count() > 256 {
        s = s.chars().take(253).collect::<String>() + "...";
    }
    c.fault_string = s;
    c.complete_time = unix_now();
    record(Kind::TransferStageChanged(c))
}

fn stage_record(s: proto::TransferStageChanged) -> proto::Record {
    record(Kind::TransferStageChanged(s))
}

/// The TransferCompletes the next session owes, in acceptance order.
pub fn owed_transfer_completes(state: &AgentState) -> Vec<OwedTransferComplete> {
    let mut owed: Vec<&proto::TransferState> = state
        .transfers
        .values()
        .filter(|t| stage_of(t) == S::Completed)
        .collect();
    owed.sort_by_key(|t| t.accepted.as_ref().map(|a| a.accepted_at_unix).unwrap_or(0));
    owed.into_iter()
        .filter_map(|t| {
            let a = t.accepted.as_ref()?;
            let s = t.last_stage.as_ref()?;
            let time = |unix: i64| {
                if unix <= 0 {
                    DateTime::UNKNOWN
                } else {
                    DateTime::from_unix(unix, 0)
                }
            };
            Some(OwedTransferComplete {
                transfer_id: a.transfer_id.clone(),
                message: TransferComplete {
                    command_key: a.command_key.clone(),
                    fault_struct: FaultStruct {
                        fault_code: s.fault_code,
                        fault_string: s.fault_string.clone(),
                    },
                    start_time: time(s.start_time),
                    complete_time: time(s.complete_time),
                },
            })
        })
        .collect()
}

/// Runs forever: one step at a time, in acceptance order.
pub async fn worker(agent: Arc<Agent>) -> anyhow::Result<()> {
    loop {
        let state = agent.state();
        let now = unix_now();
        let mut transfers: Vec<&proto::TransferState> = state.transfers.values().collect();
        transfers.sort_by_key(|t| {
            t.accepted
                .as_ref()
                .map(|a| (a.accepted_at_unix, a.transfer_id.clone()))
                .unwrap_or_default()
        });
        let mut wake_at: Option<i64> = None;
        let mut acted = false;
        for t in transfers {
            match step(&agent, &state, t, now).await? {
                Step::Acted => {
                    acted = true;
                    break;
                }
                Step::WaitUntil(at) => wake_at = Some(wake_at.map_or(at, |w| w.min(at))),
                Step::Idle => {}
            }
        }
        if acted {
            continue;
        }
        remove_finished_files(&agent, &state);
        let sleep = wake_at.map_or(Duration::from_secs(3600), |at| {
            Duration::from_secs(
                u64::try_from(at.saturating_sub(unix_now()))
                    .unwrap_or(0)
                    .max(1),
            )
        });
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = agent.transfer_wake.notified() => {}
        }
    }
}

/// Deletes the files of transfers the journal no longer holds (acknowledged or cancelled): a
/// router's flash is small.
fn remove_finished_files(agent: &Agent, state: &AgentState) {
    let live: std::collections::BTreeSet<String> = state
        .transfers
        .values()
        .filter_map(|t| t.accepted.as_ref())
        .map(|a| sanitize(&a.transfer_id))
        .collect();
    let dir = agent.config().transfer_dir();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !live.contains(&name) && entry.path().is_dir() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => tracing::info!(transfer = %name, "transfer files removed"),
                Err(e) => {
                    tracing::warn!(transfer = %name, error = %e, "cannot remove transfer files")
                }
            }
        }
    }
}

enum Step {
    Acted,
    WaitUntil(i64),
    Idle,
}

fn is_firmware(a: &proto::TransferAccepted) -> bool {
    a.file_type == download_type::FIRMWARE_UPGRADE_IMAGE
}

fn is_upload(a: &proto::TransferAccepted) -> bool {
    a.kind == proto::TransferKind::Upload as i32
}

fn last_window_end(a: &proto::TransferAccepted) -> Option<i64> {
    a.time_windows
        .iter()
        .map(|w| a.accepted_at_unix.saturating_add(i64::from(w.end)))
        .max()
}

async fn step(
    agent: &Agent,
    state: &AgentState,
    t: &proto::TransferState,
    now: i64,
) -> anyhow::Result<Step> {
    let Some(a) = t.accepted.as_ref() else {
        return Ok(Step::Idle);
    };
    let last = t.last_stage.clone().unwrap_or_default();
    match stage_of(t) {
        S::Accepted | S::Unspecified => {
            let mut w = next(t, S::Waiting);
            w.waiting_until = a
                .accepted_at_unix
                .saturating_add(i64::from(a.delay_seconds));
            agent.append(vec![stage_record(w)]).await?;
            Ok(Step::Acted)
        }
        S::Waiting => {
            if now < last.waiting_until {
                return Ok(Step::WaitUntil(last.waiting_until));
            }
            if let Some(end) = last_window_end(a)
                && now >= end
            {
                agent
                    .append(vec![completed(
                        t,
                        FaultCode::DownloadOutsideTimeWindows.code(),
                        "the agent could not start the download inside its time windows",
                    )])
                    .await?;
                return Ok(Step::Acted);
            }
            let mut d = next(t, S::Downloading);
            d.start_time = now;
            d.bytes_total = a.file_size;
            agent.append(vec![stage_record(d)]).await?;
            crate::crash_point!("transfer.after_downloading_journaled");
            Ok(Step::Acted)
        }
        S::Downloading => {
            let outcome = if is_upload(a) {
                run_upload(agent, state, a).await.map(|_| None)
            } else {
                run_download(agent, t, a).await.map(Some)
            };
            agent.set_runtime(|r| {
                r.transfer_progress.remove(&a.transfer_id);
            });
            let record = match outcome {
                Ok(None) => completed(t, 0, ""),
                Ok(Some(done)) => {
                    let mut d = next(t, S::Downloaded);
                    d.path = done.0.to_string_lossy().into_owned();
                    d.size = done.1;
                    d.sha256 = done.2;
                    stage_record(d)
                }
                Err((code, why)) => {
                    tracing::warn!(transfer = %a.transfer_id, code, %why, "transfer failed");
                    completed(t, code, why)
                }
            };
            crate::crash_point!("transfer.before_outcome_journaled");
            agent.append(vec![record]).await?;
            Ok(Step::Acted)
        }
        S::Downloaded => {
            let mut applying = next(t, S::Applying);
            applying.previous_version = running_version(agent, state);
            applying.boot_id = state.boot_id.clone();
            agent.append(vec![stage_record(applying.clone())]).await?;
            crate::crash_point!("transfer.after_applying_journaled");
            let t = proto::TransferState {
                accepted: Some(a.clone()),
                last_stage: Some(applying),
            };
            apply(agent, state, &t, a).await?;
            Ok(Step::Acted)
        }
        S::Applying => {
            if is_firmware(a) {
                if last.boot_id != state.boot_id {
                    finish_firmware(agent, state, t).await?;
                } else {
                    // Interrupted inside the apply hook (the process died, the device did not
                    // reboot): whatever the hook did stays done, and is never done twice. The
                    // reboot decides; the running version afterwards tells the ACS the truth.
                    tracing::warn!(transfer = %a.transfer_id, "firmware apply was interrupted; not applying again, rebooting");
                    agent.append(firmware_applied(t)).await?;
                }
            } else {
                apply(agent, state, t, a).await?;
            }
            Ok(Step::Acted)
        }
        S::Applied => {
            if is_firmware(a) && last.boot_id != state.boot_id {
                finish_firmware(agent, state, t).await?;
                Ok(Step::Acted)
            } else if is_firmware(a) && state.pending_reboot.is_none() {
                agent.append(firmware_applied(t)).await?;
                Ok(Step::Acted)
            } else {
                // The journaled reboot is due (the scheduler performs it).
                Ok(Step::Idle)
            }
        }
        S::Completed | S::Reported | S::Cancelled => Ok(Step::Idle),
    }
}

fn running_version(agent: &Agent, state: &AgentState) -> String {
    if state.software_version.is_empty() {
        agent.device().software_version.clone()
    } else {
        state.software_version.clone()
    }
}

/// Applied and the reboot that activates the image, in one batch.
/// (`firmware.after_applied` is the point between it and the reboot: see the scheduler's
/// `reboot.before_hook`.)
fn firmware_applied(t: &proto::TransferState) -> Vec<proto::Record> {
    vec![
        stage_record(next(t, S::Applied)),
        record(Kind::RebootRequested(proto::RebootRequested {
            command_key: String::new(),
            reason: REBOOT_REASON_FIRMWARE.to_owned(),
        })),
    ]
}

/// After the reboot: the running version tells success from a rollback.
async fn finish_firmware(
    agent: &Agent,
    state: &AgentState,
    t: &proto::TransferState,
) -> anyhow::Result<()> {
    let running = running_version(agent, state);
    agent.append(vec![firmware_outcome(t, &running)]).await?;
    Ok(())
}

fn firmware_outcome(t: &proto::TransferState, running: &str) -> proto::Record {
    let last = t.last_stage.clone().unwrap_or_default();
    if running != last.previous_version {
        tracing::info!(from = %last.previous_version, to = %running, "firmware upgrade completed");
        completed(t, 0, "")
    } else {
        completed(
            t,
            FaultCode::FileTransferFailure.code(),
            format!(
                "the device still runs {running} after the upgrade's reboot: the new firmware is not running (the device rolled back, or the apply was interrupted)"
            ),
        )
    }
}

/// At start-up, after the boot is recorded: firmware transfers that were applied in an earlier
/// boot are decided now, so the first Inform of the new boot already reports them (1 BOOT,
/// 7 TRANSFER COMPLETE and M Download together).
pub fn startup_records(state: &AgentState, running_version: &str) -> Vec<proto::Record> {
    state
        .transfers
        .values()
        .filter(|t| t.accepted.as_ref().is_some_and(is_firmware))
        .filter(|t| matches!(stage_of(t), S::Applying | S::Applied))
        .filter(|t| {
            t.last_stage
                .as_ref()
                .is_some_and(|s| s.boot_id != state.boot_id)
        })
        .map(|t| firmware_outcome(t, running_version))
        .collect()
}

fn transfer_dir(agent: &Agent, a: &proto::TransferAccepted) -> PathBuf {
    agent.config().transfer_dir().join(sanitize(&a.transfer_id))
}

fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn tls(agent: &Agent) -> TlsSettings {
    let settings = agent.settings();
    TlsSettings {
        ca_file: settings.ca_file().map(PathBuf::from),
        client_certificate: None,
        insecure: settings.tls_insecure(),
    }
}

type Failure = (u32, String);

/// Checkpoints are journaled at most this often while bytes arrive …
const CHECKPOINT_EVERY_BYTES: u64 = 1 << 20;
/// … and no more often than this (flash wears).
const CHECKPOINT_MIN_INTERVAL: Duration = Duration::from_secs(3);

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

/// Fetches the file (and, for a firmware manifest, every package it lists); returns the main
/// file, the total size and the main file's SHA-256. Resumes after the last checkpoint.
async fn run_download(
    agent: &Agent,
    t: &proto::TransferState,
    a: &proto::TransferAccepted,
) -> Result<(PathBuf, u64, String), Failure> {
    let dir = transfer_dir(agent, a);
    std::fs::create_dir_all(&dir).map_err(|e| {
        (
            FaultCode::InternalError.code(),
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let last = t.last_stage.clone().unwrap_or_default();
    rewind_to_checkpoint(&dir, &last.path, last.bytes_done);
    let deadline = last_window_end(a);
    let request = FetchRequest {
        url: a.url.clone(),
        username: a.username.clone(),
        password: a.password.clone(),
        expected_size: a.file_size,
        tls: tls(agent),
        connect_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
    };
    let main = dir.join(MAIN_FILE);
    let fetched = fetch_checkpointed(agent, t, &request, &dir, MAIN_FILE, deadline).await?;
    let mut total = fetched.size;
    if is_firmware(a) {
        let head = read_head(&main);
        if looks_like_manifest(&head) {
            let bytes = std::fs::read(&main)
                .map_err(|e| (FaultCode::InternalError.code(), e.to_string()))?;
            let manifest = parse_manifest(&bytes).map_err(|e| {
                (
                    FaultCode::FileCorrupted.code(),
                    format!("the firmware manifest is invalid: {e}"),
                )
            })?;
            // Every package is downloaded and verified before anything is applied.
            for (i, url) in manifest.urls.iter().enumerate() {
                let package = FetchRequest {
                    url: url.clone(),
                    expected_size: 0,
                    ..request.clone()
                };
                let name = format!("pkg-{i}");
                let got = fetch_checkpointed(agent, t, &package, &dir, &name, deadline).await?;
                total = total.saturating_add(got.size);
            }
        }
    }
    Ok((fetched.path, total, fetched.sha256))
}

/// One file of a download, with durable checkpoints: the progress callback reports what has
/// been handed to the kernel; a checkpoint is taken at the value reported one step *earlier*
/// (by then that write has certainly reached the kernel), after an fdatasync of the file, and
/// journaled as `Downloading(path, bytes_done)`. A finished file is checkpointed whole.
async fn fetch_checkpointed(
    agent: &Agent,
    t: &proto::TransferState,
    request: &FetchRequest,
    dir: &Path,
    name: &str,
    deadline: Option<i64>,
) -> Result<crate::transfer::download::Fetched, Failure> {
    let dest = dir.join(name);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let id = t
        .accepted
        .as_ref()
        .map(|a| a.transfer_id.clone())
        .unwrap_or_default();
    let mut previous: u64 = 0;
    let mut last_sent: u64 = 0;
    let mut last_sent_at = std::time::Instant::now();
    // `move`: the closure owns the sender, so dropping it ends the checkpoint task.
    let mut progress = move |done: u64, total: Option<u64>| {
        agent.set_runtime(|r| {
            r.transfer_progress.insert(id.clone(), (done, total));
        });
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
            journal_checkpoint(agent, t, &dest, name, bytes).await;
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
    journal_checkpoint(agent, t, &dest, name, fetched.size).await;
    Ok(fetched)
}

async fn journal_checkpoint(
    agent: &Agent,
    t: &proto::TransferState,
    file: &Path,
    name: &str,
    bytes: u64,
) {
    let synced = std::fs::File::open(file).and_then(|f| f.sync_data());
    if let Err(e) = synced {
        tracing::warn!(file = %file.display(), error = %e, "checkpoint skipped: cannot sync");
        return;
    }
    let mut d = next(t, S::Downloading);
    d.path = name.to_owned();
    d.bytes_done = bytes;
    d.bytes_total = t.accepted.as_ref().map(|a| a.file_size).unwrap_or(0);
    if let Err(e) = agent.append(vec![stage_record(d)]).await {
        tracing::warn!(error = %format!("{e:#}"), "checkpoint not journaled");
    }
    crate::crash_point!("transfer.after_checkpoint");
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

/// Runs a hook with `{file}` (and `{mode}`); `Err` carries its exit status and stderr.
async fn run_hook(template: &str, file: &Path, mode: &str) -> Result<(), String> {
    let command = Hooks::render(template, file).replace("{mode}", mode);
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(HOOK_TIMEOUT, child).await {
        Err(_) => Err(format!("the hook did not finish within {HOOK_TIMEOUT:?}")),
        Ok(Err(e)) => Err(format!("the hook could not be started: {e}")),
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stderr = stderr.trim();
            Err(format!(
                "the hook failed ({}){}{}",
                out.status,
                if stderr.is_empty() { "" } else { ": " },
                stderr.chars().take(200).collect::<String>()
            ))
        }
    }
}

fn is_alteration(a: &proto::TransferAccepted) -> bool {
    let file_name = |s: &str| {
        s.split(['?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    file_name(&a.url).ends_with(".alter")
        || a.target_file_name.to_ascii_lowercase().ends_with(".alter")
}

/// Applies a downloaded file (stage Applying is journaled).
async fn apply(
    agent: &Agent,
    state: &AgentState,
    t: &proto::TransferState,
    a: &proto::TransferAccepted,
) -> anyhow::Result<()> {
    let last = t.last_stage.clone().unwrap_or_default();
    let main = PathBuf::from(&last.path);
    let dir = transfer_dir(agent, a);
    if is_firmware(a) {
        let Some(hook) = agent.config().firmware_apply_command.clone() else {
            agent
                .append(vec![completed(
                    t,
                    FaultCode::RequestDenied.code(),
                    "no firmware_apply hook is configured",
                )])
                .await?;
            return Ok(());
        };
        for file in firmware_files(&dir, &main) {
            tracing::info!(transfer = %a.transfer_id, file = %file.display(), "applying firmware");
            let applied = run_hook(&hook, &file, "firmware").await;
            // The hook has run; Applied is not yet journaled.
            crate::crash_point!("firmware.after_hook");
            if let Err(why) = applied {
                agent
                    .append(vec![completed(
                        t,
                        FaultCode::FileTransferFailure.code(),
                        format!("applying {}: {why}", file.display()),
                    )])
                    .await?;
                return Ok(());
            }
        }
        agent.append(firmware_applied(t)).await?;
        return Ok(());
    }
    let factory_type = format!("X {} Factory Configuration File", agent.device().oui);
    if a.file_type == factory_type {
        let text = match std::fs::read_to_string(&main) {
            Ok(t) => t,
            Err(e) => {
                agent
                    .append(vec![completed(
                        t,
                        FaultCode::FileCorrupted.code(),
                        format!("the factory configuration is not text: {e}"),
                    )])
                    .await?;
                return Ok(());
            }
        };
        if let Err(e) = config_file::parse(&text) {
            agent
                .append(vec![completed(
                    t,
                    FaultCode::FileCorrupted.code(),
                    format!("the factory configuration is invalid: {e}"),
                )])
                .await?;
            return Ok(());
        }
        let dest = agent.config().data_dir.join(FACTORY_CONFIG_FILE);
        write_durably(&dest, text.as_bytes())
            .with_context(|| format!("writing {}", dest.display()))?;
        agent.append(vec![completed(t, 0, "")]).await?;
        return Ok(());
    }
    // "3 Vendor Configuration File"
    let alter = is_alteration(a);
    if let Some(hook) = agent.config().config_apply_command.clone() {
        let mode = if alter { "alter" } else { "overwrite" };
        let record = match run_hook(&hook, &main, mode).await {
            Ok(()) => completed(t, 0, ""),
            Err(why) => completed(
                t,
                FaultCode::FileTransferFailure.code(),
                format!("applying the configuration: {why}"),
            ),
        };
        agent.append(vec![record]).await?;
        return Ok(());
    }
    let records = match builtin_config_records(agent, state, &main, alter, &a.transfer_id) {
        Ok(mut records) => {
            records.push(completed(t, 0, ""));
            records
        }
        Err((code, why)) => vec![completed(t, code, why)],
    };
    // The values and the completion are one batch: a crash cannot apply without completing.
    crate::crash_point!("config.before_apply_journaled");
    agent.append(records).await?;
    Ok(())
}

/// A configuration file in the agent's own format, checked as one SetParameterValues.
fn builtin_config_records(
    agent: &Agent,
    state: &AgentState,
    file: &Path,
    alter: bool,
    transfer_id: &str,
) -> Result<Vec<proto::Record>, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        (
            FaultCode::FileCorrupted.code(),
            format!("the configuration file is not text: {e}"),
        )
    })?;
    let parsed = config_file::parse(&text).map_err(|e| {
        (
            FaultCode::FileCorrupted.code(),
            format!("the configuration file is invalid: {e}"),
        )
    })?;
    let values = check_config(agent, state, &parsed)?;
    Ok(vec![record(Kind::ConfigurationApplied(
        proto::ConfigurationApplied {
            values,
            replace: !alter,
            transfer_id: transfer_id.to_owned(),
        },
    ))])
}

/// Checks `Parameter = value` pairs against the data model.
pub fn check_config(
    agent: &Agent,
    state: &AgentState,
    parsed: &[(String, String)],
) -> Result<Vec<proto::ParameterValue>, Failure> {
    let cr_url = agent.runtime().connection_request_url;
    let view = View::new(
        agent.model(),
        state,
        agent.factory_settings(),
        &cr_url,
        now_ms(),
    );
    let checked = config_file::check(&view, parsed).map_err(|f| {
        let detail: Vec<String> = f
            .set_parameter_values_faults
            .iter()
            .map(|p| format!("{} ({})", p.parameter_name, p.fault_string))
            .collect();
        (
            FaultCode::FileTransferFailure.code(),
            format!(
                "the configuration was not applied: {}",
                if detail.is_empty() {
                    f.string
                } else {
                    detail.join("; ")
                }
            ),
        )
    })?;
    Ok(checked
        .into_iter()
        .map(|(name, value, xsd_type)| proto::ParameterValue {
            name,
            value,
            xsd_type,
        })
        .collect())
}

/// Produces the upload's file and PUTs it.
async fn run_upload(
    agent: &Agent,
    state: &AgentState,
    a: &proto::TransferAccepted,
) -> Result<(), Failure> {
    let upload_failure = FaultCode::UploadFailure.code();
    let dir = transfer_dir(agent, a);
    std::fs::create_dir_all(&dir).map_err(|e| {
        (
            upload_failure,
            format!("cannot create {}: {e}", dir.display()),
        )
    })?;
    let file = dir.join("upload");
    let factory_type = format!("X {} Factory Configuration File", agent.device().oui);
    if a.file_type == upload_type::VENDOR_CONFIGURATION_FILE {
        match agent.config().config_export_command.clone() {
            Some(hook) => run_hook(&hook, &file, "export").await.map_err(|why| {
                (
                    upload_failure,
                    format!("exporting the configuration: {why}"),
                )
            })?,
            None => {
                let cr_url = agent.runtime().connection_request_url;
                let view = View::new(
                    agent.model(),
                    state,
                    agent.factory_settings(),
                    &cr_url,
                    now_ms(),
                );
                let text = config_file::export(
                    &view,
                    &format!(
                        "tr069-client configuration of {} {}",
                        agent.device().product_class,
                        agent.device().serial_number
                    ),
                )
                .map_err(|f| (upload_failure, f.string))?;
                std::fs::write(&file, text).map_err(|e| (upload_failure, e.to_string()))?;
            }
        }
    } else if a.file_type == upload_type::VENDOR_LOG_FILE {
        match agent.config().log_export_command.clone() {
            Some(hook) => run_hook(&hook, &file, "log")
                .await
                .map_err(|why| (upload_failure, format!("exporting the log: {why}")))?,
            None => {
                let text = agent
                    .journal_timeline()
                    .map_err(|e| (upload_failure, format!("reading the journal: {e:#}")))?;
                std::fs::write(&file, text).map_err(|e| (upload_failure, e.to_string()))?;
            }
        }
    } else if a.file_type == factory_type {
        let src = agent.config().data_dir.join(FACTORY_CONFIG_FILE);
        std::fs::copy(&src, &file).map_err(|e| {
            (
                upload_failure,
                format!("no factory configuration file was installed ({e})"),
            )
        })?;
    } else {
        return Err((
            FaultCode::UploadFailure.code(),
            format!("FileType {:?} cannot be uploaded", a.file_type),
        ));
    }
    let request = PutRequest {
        url: a.url.clone(),
        username: a.username.clone(),
        password: a.password.clone(),
        tls: tls(agent),
        connect_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(60),
    };
    put_file(&request, &file, "text/plain; charset=utf-8")
        .await
        .map(|_| ())
        .map_err(|e| (e.fault_code(), e.fault_string()))
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
