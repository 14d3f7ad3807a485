//! What the transfer RPCs share: which file types this device takes, URL checks, the queue
//! bound, and how a transfer's journaled stage reads as a TR-069 queue state.

use crate::cwmp::rpc::download::file_type as download_type;
use crate::cwmp::rpc::get_queued_transfers::{MAX_QUEUED_TRANSFERS, transfer_state};
use crate::cwmp::rpc::upload::file_type as upload_type;
use crate::cwmp::{Fault, FaultCode};
use crate::records::proto;
use crate::state::AgentState;

/// What the device's configuration allows (hooks present or not).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferSupport {
    /// A firmware_apply hook is configured.
    pub firmware: bool,
    /// The device's OUI, naming the vendor file types (`X <OUI> Factory Configuration File`).
    pub oui: String,
}

impl TransferSupport {
    /// The vendor file type that replaces the factory-default configuration.
    pub fn factory_configuration_type(&self) -> String {
        crate::cpe::transfer_lifecycle::factory_configuration_type(&self.oui)
    }

    /// Checks a Download FileType; `Err` is the fault the ACS gets.
    pub fn check_download_type(&self, file_type: &str) -> Result<(), Fault> {
        if file_type == download_type::FIRMWARE_UPGRADE_IMAGE {
            if self.firmware {
                return Ok(());
            }
            return Err(Fault::with_string(
                FaultCode::RequestDenied,
                "firmware upgrades are not enabled on this device (no firmware_apply hook)",
            ));
        }
        if file_type == download_type::VENDOR_CONFIGURATION_FILE
            || file_type == self.factory_configuration_type()
        {
            return Ok(());
        }
        Err(Fault::with_string(
            FaultCode::InvalidArguments,
            format!(
                "FileType {file_type:?} is not supported; supported: {:?}, {:?}, {:?}",
                download_type::FIRMWARE_UPGRADE_IMAGE,
                download_type::VENDOR_CONFIGURATION_FILE,
                self.factory_configuration_type()
            ),
        ))
    }

    /// Checks an Upload FileType.
    pub fn check_upload_type(&self, file_type: &str) -> Result<(), Fault> {
        if file_type == upload_type::VENDOR_CONFIGURATION_FILE
            || file_type == upload_type::VENDOR_LOG_FILE
            || file_type == self.factory_configuration_type()
        {
            return Ok(());
        }
        Err(Fault::with_string(
            FaultCode::InvalidArguments,
            format!(
                "Upload FileType {file_type:?} is not supported; supported: {:?}, {:?}, {:?}",
                upload_type::VENDOR_CONFIGURATION_FILE,
                upload_type::VENDOR_LOG_FILE,
                self.factory_configuration_type()
            ),
        ))
    }
}

/// HTTP and HTTPS only (9013 otherwise), and a URL that names a host.
pub fn check_url(url: &str) -> Result<(), Fault> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.split(['/', '?', '#']).next().unwrap_or("").is_empty() => Ok(()),
        Some(_) => Err(Fault::with_string(
            FaultCode::InvalidArguments,
            format!("URL {url:?} names no host"),
        )),
        None => Err(Fault::with_string(
            FaultCode::UnsupportedProtocolForFileTransfer,
            format!("URL {url:?}: only http:// and https:// transfers are supported"),
        )),
    }
}

/// 9004 when the queue already holds 16 transfers.
pub fn check_queue(state: &AgentState) -> Result<(), Fault> {
    let queued = state
        .transfers
        .values()
        .filter(|t| t.accepted.as_ref().is_some_and(|a| !a.autonomous))
        .count();
    if queued >= MAX_QUEUED_TRANSFERS {
        return Err(Fault::with_string(
            FaultCode::ResourcesExceeded,
            format!("the transfer queue is full ({MAX_QUEUED_TRANSFERS} transfers)"),
        ));
    }
    Ok(())
}

/// A transfer's stage as GetQueuedTransfers' State: 1 not started, 2 in progress, 3 completed.
pub fn queue_state(t: &proto::TransferState) -> i32 {
    use proto::TransferStage as S;
    match crate::state::stage(t) {
        S::Unspecified | S::Accepted | S::Waiting => transfer_state::NOT_STARTED,
        S::Downloading | S::Downloaded | S::Applying | S::Applied => transfer_state::IN_PROGRESS,
        S::Completed | S::Reported | S::Cancelled => transfer_state::COMPLETED,
    }
}

/// A fresh transfer id: unique within the journal (its next sequence number) and readable.
pub fn new_transfer_id(state: &AgentState, now_ms: u64) -> String {
    format!("t{}-{}", state.last_seq + 1, now_ms / 1000)
}

/// The `TransferAccepted` record of a Download, ScheduleDownload or Upload: the RPC's own fields
/// (`fields`), plus what every accepted transfer gets here — a fresh id, its kind, the
/// acceptance time and the trimmed URL.
pub fn accepted(
    view: &crate::datamodel::View,
    kind: proto::TransferKind,
    fields: proto::TransferAccepted,
) -> proto::TransferAccepted {
    proto::TransferAccepted {
        transfer_id: new_transfer_id(view.state, view.now_ms),
        kind: kind as i32,
        url: fields.url.trim().to_owned(),
        accepted_at_unix: i64::try_from(view.now_ms / 1000).unwrap_or(i64::MAX),
        ..fields
    }
}
