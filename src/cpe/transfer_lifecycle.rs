//! The transfer lifecycle as a pure state machine: the journaled stage of a transfer, plus a few
//! facts of the moment, decide its one next step. The core executes [`Step::Journal`] itself
//! (through the journal) and hands [`Step::Start`] jobs to the edge; every job's result comes
//! back through one of the `on_*` functions below, which turn it into the next stage record.
//!
//! | stage (journaled) | rule |
//! |-------------------|------|
//! | Accepted    | journal Waiting(until = accepted + DelaySeconds) |
//! | Waiting     | before `until`: wait. Past a ScheduleDownload's last window: Completed(9020). Else journal Downloading(start time) |
//! | Downloading | start the fetch (resuming after the last durable checkpoint `Downloading(path, bytes)`: the edge cuts the file back to it and asks the server for the rest with `Range`), or produce + PUT the upload; on the result journal Downloaded, or Completed(fault) |
//! | Downloaded  | journal Applying (with the running version and boot id), then start the apply |
//! | Applying    | found in the same run that journaled it: the apply is under way. Found after a restart: firmware is NEVER applied again — a later boot lets the running version decide (0, or 9010 rolled back), the same boot journals Applied + the firmware reboot; a configuration file is applied again (idempotent) |
//! | Applied     | firmware: a later boot lets the running version decide; the same boot with no reboot pending journals Applied + the reboot again; otherwise the journaled reboot is due (the core performs it) |
//! | Completed   | owed: every session sends TransferComplete until the ACS acknowledges it |
//!
//! The design's `Reported` stage is not written: the ACS's acknowledgement is journaled as
//! `TransferCompleteAcknowledged`, which removes the transfer from the state. A second record
//! saying the same thing would only cost flash.
//!
//! Firmware is therefore applied at most once per transfer, whatever crash or power cut falls
//! between Applying and the reboot.

use std::path::{Path, PathBuf};

use crate::records::proto::{self, TransferStage as S, record::Kind};

use crate::cwmp::rpc::download::file_type as download_type;
use crate::cwmp::rpc::transfer_complete::TransferComplete;
use crate::cwmp::{DateTime, FaultCode, FaultStruct};
use crate::session::OwedTransferComplete;
use crate::state::{AgentState, REBOOT_REASON_FIRMWARE, record, stage};

/// The file a Download's main body is fetched into, inside the transfer's directory.
pub const MAIN_FILE: &str = "download";
/// The file an Upload is produced into, inside the transfer's directory.
pub const UPLOAD_FILE: &str = "upload";
/// Where the factory configuration a vendor file type installs is kept (in the data directory).
pub const FACTORY_CONFIG_FILE: &str = "factory-config.txt";

/// A failed transfer step: the FaultCode and FaultString TransferComplete reports.
pub type Failure = (u32, String);

/// What the facts of the moment are, for [`next_step`].
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub now_unix: i64,
    /// The boot the agent runs in now.
    pub boot_id: &'a str,
    /// The firmware version running now.
    pub running_version: &'a str,
    /// A reboot is journaled and not yet done.
    pub reboot_pending: bool,
    /// This run of the agent journaled the transfer's Applying record itself (so the apply it
    /// guards is in progress), as opposed to finding it in the journal after a restart.
    pub applying_in_this_run: bool,
}

/// The one next step of a transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Append these records (one batch).
    Journal(Vec<proto::Record>),
    /// Start this job at the edge; its result comes back to the matching `on_*` function.
    Start(Job),
    /// Nothing to do before this unix time.
    WaitUntil(i64),
    /// Nothing to do (owed, cancelled, or waiting for the journaled reboot).
    Idle,
}

/// An I/O job the edge runs for a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Fetch the file (and, for firmware, the packages a RouterOS manifest lists) into the
    /// transfer's directory, resuming after the checkpoint.
    Download,
    /// Produce the file to upload, then PUT it.
    Upload,
    /// Apply the downloaded firmware (every package, in order) with the firmware_apply hook.
    ApplyFirmware,
    /// Apply a configuration file: with the config_apply hook, or — without one — by the agent
    /// itself after reading the file's text.
    ApplyConfiguration,
    /// Install a vendor factory-configuration file.
    InstallFactoryConfiguration,
}

/// The directory a transfer keeps its files in.
pub fn transfer_dir(root: &Path, transfer_id: &str) -> PathBuf {
    root.join(dir_name(transfer_id))
}

/// A transfer id as a directory name.
pub fn dir_name(id: &str) -> String {
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

pub fn is_firmware(a: &proto::TransferAccepted) -> bool {
    a.file_type == download_type::FIRMWARE_UPGRADE_IMAGE
}

pub fn is_upload(a: &proto::TransferAccepted) -> bool {
    a.kind == proto::TransferKind::Upload as i32
}

/// The vendor file type that replaces the factory configuration (`X <OUI> Factory
/// Configuration File`).
pub fn factory_configuration_type(oui: &str) -> String {
    format!("X {oui} Factory Configuration File")
}

/// A configuration file whose name (URL or TargetFileName) ends in `.alter` alters the
/// configuration; any other replaces it.
pub fn is_alteration(a: &proto::TransferAccepted) -> bool {
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

/// The unix time after which a ScheduleDownload may no longer start.
pub fn last_window_end(a: &proto::TransferAccepted) -> Option<i64> {
    a.time_windows
        .iter()
        .map(|w| a.accepted_at_unix.saturating_add(i64::from(w.end)))
        .max()
}

fn id_of(t: &proto::TransferState) -> String {
    t.accepted
        .as_ref()
        .map(|a| a.transfer_id.clone())
        .unwrap_or_default()
}

/// The next stage record, carrying the start time and the firmware facts forward.
pub fn next(t: &proto::TransferState, stage: S) -> proto::TransferStageChanged {
    // Only what is carried forward is copied (not the last stage's fault or detail).
    let Some(last) = &t.last_stage else {
        return proto::TransferStageChanged {
            transfer_id: id_of(t),
            stage: stage as i32,
            ..Default::default()
        };
    };
    proto::TransferStageChanged {
        transfer_id: id_of(t),
        stage: stage as i32,
        start_time: last.start_time,
        previous_version: last.previous_version.clone(),
        boot_id: last.boot_id.clone(),
        path: last.path.clone(),
        size: last.size,
        sha256: last.sha256.clone(),
        ..Default::default()
    }
}

fn stage_record(s: proto::TransferStageChanged) -> proto::Record {
    record(Kind::TransferStageChanged(s))
}

/// `Completed` with its fault (0 = success). FaultString is cut to the 256 characters the
/// schema allows.
pub fn completed(
    t: &proto::TransferState,
    now_unix: i64,
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
    c.complete_time = now_unix;
    stage_record(c)
}

/// Applied and the reboot that activates the image, in one batch.
pub fn firmware_applied(t: &proto::TransferState) -> Vec<proto::Record> {
    vec![
        stage_record(next(t, S::Applied)),
        record(Kind::RebootRequested(proto::RebootRequested {
            command_key: String::new(),
            reason: REBOOT_REASON_FIRMWARE.to_owned(),
        })),
    ]
}

/// After the reboot: the running version tells success from a rollback.
pub fn firmware_outcome(t: &proto::TransferState, running: &str, now_unix: i64) -> proto::Record {
    let previous = t.last_stage.as_ref().map(|s| s.previous_version.as_str());
    if running != previous.unwrap_or_default() {
        completed(t, now_unix, 0, "")
    } else {
        completed(
            t,
            now_unix,
            FaultCode::FileTransferFailure.code(),
            format!(
                "the device still runs {running} after the upgrade's reboot: the new firmware is not running (the device rolled back, or the apply was interrupted)"
            ),
        )
    }
}

/// The one next step for `t`.
pub fn next_step(t: &proto::TransferState, facts: &Facts<'_>) -> Step {
    let Some(a) = t.accepted.as_ref() else {
        return Step::Idle;
    };
    // Borrowed: this runs at every step of the core, and most answers are `Idle`.
    let none = proto::TransferStageChanged::default();
    let last = t.last_stage.as_ref().unwrap_or(&none);
    match stage(t) {
        S::Accepted | S::Unspecified => {
            let mut w = next(t, S::Waiting);
            w.waiting_until = a
                .accepted_at_unix
                .saturating_add(i64::from(a.delay_seconds));
            Step::Journal(vec![stage_record(w)])
        }
        S::Waiting => {
            if facts.now_unix < last.waiting_until {
                return Step::WaitUntil(last.waiting_until);
            }
            if let Some(end) = last_window_end(a)
                && facts.now_unix >= end
            {
                return Step::Journal(vec![completed(
                    t,
                    facts.now_unix,
                    FaultCode::DownloadOutsideTimeWindows.code(),
                    "the agent could not start the download inside its time windows",
                )]);
            }
            let mut d = next(t, S::Downloading);
            d.start_time = facts.now_unix;
            d.bytes_total = a.file_size;
            Step::Journal(vec![stage_record(d)])
        }
        S::Downloading if is_upload(a) => Step::Start(Job::Upload),
        S::Downloading => Step::Start(Job::Download),
        S::Downloaded => {
            let mut applying = next(t, S::Applying);
            applying.previous_version = facts.running_version.to_owned();
            applying.boot_id = facts.boot_id.to_owned();
            Step::Journal(vec![stage_record(applying)])
        }
        S::Applying if facts.applying_in_this_run => Step::Start(apply_job(a)),
        S::Applying if is_firmware(a) => {
            if last.boot_id != facts.boot_id {
                Step::Journal(vec![firmware_outcome(
                    t,
                    facts.running_version,
                    facts.now_unix,
                )])
            } else {
                // Interrupted inside the apply hook (the process died, the device did not
                // reboot): whatever the hook did stays done, and is never done twice. The
                // reboot decides; the running version afterwards tells the ACS the truth.
                Step::Journal(firmware_applied(t))
            }
        }
        // A configuration apply is idempotent: do it again.
        S::Applying => Step::Start(apply_job(a)),
        S::Applied if is_firmware(a) && last.boot_id != facts.boot_id => {
            Step::Journal(vec![firmware_outcome(
                t,
                facts.running_version,
                facts.now_unix,
            )])
        }
        S::Applied if is_firmware(a) && !facts.reboot_pending => Step::Journal(firmware_applied(t)),
        S::Applied | S::Completed | S::Reported | S::Cancelled => Step::Idle,
    }
}

fn apply_job(a: &proto::TransferAccepted) -> Job {
    if is_firmware(a) {
        Job::ApplyFirmware
    } else if a.file_type == download_type::VENDOR_CONFIGURATION_FILE {
        Job::ApplyConfiguration
    } else {
        Job::InstallFactoryConfiguration
    }
}

/// A durable download checkpoint: the file `file` (fdatasynced by the edge) holds `bytes`.
pub fn on_checkpoint(t: &proto::TransferState, file: &str, bytes: u64) -> proto::Record {
    let mut d = next(t, S::Downloading);
    d.path = file.to_owned();
    d.bytes_done = bytes;
    d.bytes_total = t.accepted.as_ref().map(|a| a.file_size).unwrap_or(0);
    stage_record(d)
}

/// What a finished download produced: the main file, the total size and its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

/// The download ended.
pub fn on_download_finished(
    t: &proto::TransferState,
    result: Result<Downloaded, Failure>,
    now_unix: i64,
) -> proto::Record {
    match result {
        Ok(done) => {
            let mut d = next(t, S::Downloaded);
            d.path = done.path.to_string_lossy().into_owned();
            d.size = done.size;
            d.sha256 = done.sha256;
            stage_record(d)
        }
        Err((code, why)) => completed(t, now_unix, code, why),
    }
}

/// An upload, a configuration hook or a factory-configuration install ended: Completed.
pub fn on_finished(
    t: &proto::TransferState,
    result: Result<(), Failure>,
    now_unix: i64,
) -> proto::Record {
    match result {
        Ok(()) => completed(t, now_unix, 0, ""),
        Err((code, why)) => completed(t, now_unix, code, why),
    }
}

/// The firmware_apply hook ran over every package: Applied + the reboot, or the failure.
pub fn on_firmware_applied(
    t: &proto::TransferState,
    result: Result<(), String>,
    now_unix: i64,
) -> Vec<proto::Record> {
    match result {
        Ok(()) => firmware_applied(t),
        Err(why) => vec![completed(
            t,
            now_unix,
            FaultCode::FileTransferFailure.code(),
            why,
        )],
    }
}

/// At start-up, after the boot is recorded: firmware transfers applied in an earlier boot are
/// decided now, so the first Inform of the new boot already reports them (1 BOOT, 7 TRANSFER
/// COMPLETE and M Download together).
pub fn startup_records(
    state: &AgentState,
    running_version: &str,
    now_unix: i64,
) -> Vec<proto::Record> {
    state
        .transfers
        .values()
        .filter(|t| t.accepted.as_ref().is_some_and(is_firmware))
        .filter(|t| matches!(stage(t), S::Applying | S::Applied))
        .filter(|t| {
            t.last_stage
                .as_ref()
                .is_some_and(|s| s.boot_id != state.boot_id)
        })
        .map(|t| firmware_outcome(t, running_version, now_unix))
        .collect()
}

/// The TransferCompletes the next session owes, in acceptance order.
pub fn owed_transfer_completes(state: &AgentState) -> Vec<OwedTransferComplete> {
    let mut owed: Vec<&proto::TransferState> = state
        .transfers
        .values()
        .filter(|t| stage(t) == S::Completed)
        .collect();
    crate::ordering::sort_stably_by_key(&mut owed, |t| {
        crate::ordering::i64_key(t.accepted.as_ref().map_or(0, |a| a.accepted_at_unix))
    });
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

/// The transfers in acceptance order (the order they are worked on).
pub fn in_order(state: &AgentState) -> Vec<&proto::TransferState> {
    // The map is keyed by transfer id, so a stable sort by acceptance time orders equal times by
    // id.
    let mut transfers: Vec<&proto::TransferState> = state.transfers.values().collect();
    crate::ordering::sort_stably_by_key(&mut transfers, |t| {
        crate::ordering::i64_key(t.accepted.as_ref().map_or(0, |a| a.accepted_at_unix))
    });
    transfers
}

#[cfg(test)]
mod tests;
