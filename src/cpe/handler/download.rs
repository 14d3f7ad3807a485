//! Download: accepted into the journal (`TransferAccepted`), answered Status 1 with the Unknown
//! Time — the transfer runs after the session, stage by stage, and is reported later with
//! `7 TRANSFER COMPLETE`, `M Download <CommandKey>` and a TransferComplete.
//!
//! Refused at once: an unsupported FileType (9003, or 9001 for firmware without an apply hook),
//! a URL that is not http(s) (9013), a full queue (9004).

use crate::cwmp::rpc::download::{Download, DownloadResponse};
use crate::cwmp::{Body, DateTime, Fault};
use crate::datamodel::View;
use crate::records::proto::{self, record::Kind};
use crate::state::record;

use super::transfer_policy::{TransferSupport, accepted, check_queue, check_url};

pub fn apply(
    view: &View,
    support: &TransferSupport,
    request: &Download,
) -> Result<(Vec<proto::Record>, Body), Fault> {
    support.check_download_type(&request.file_type)?;
    check_url(&request.url)?;
    check_queue(view.state)?;
    let accepted = accepted(
        view,
        proto::TransferKind::Download,
        proto::TransferAccepted {
            command_key: request.command_key.clone(),
            file_type: request.file_type.clone(),
            url: request.url.clone(),
            username: request.username.clone(),
            password: request.password.clone(),
            file_size: u64::from(request.file_size),
            target_file_name: request.target_file_name.clone(),
            delay_seconds: request.delay_seconds,
            success_url: request.success_url.clone(),
            failure_url: request.failure_url.clone(),
            ..Default::default()
        },
    );
    Ok((
        vec![record(Kind::TransferAccepted(accepted))],
        DownloadResponse {
            status: 1,
            start_time: DateTime::UNKNOWN,
            complete_time: DateTime::UNKNOWN,
        }
        .into(),
    ))
}
