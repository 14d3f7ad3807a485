//! Upload: accepted into the journal and answered Status 1 (Unknown Time); after the session
//! the agent exports the file ("1 Vendor Configuration File": the configuration in the format a
//! configuration Download accepts; "2 Vendor Log File": the journal's timeline, secrets masked;
//! the factory configuration) and PUTs it, then reports `M Upload` + TransferComplete.

use crate::cwmp::rpc::upload::{Upload, UploadResponse};
use crate::cwmp::{Body, DateTime, Fault};
use crate::datamodel::View;
use crate::records::proto::{self, record::Kind};
use crate::state::record;

use super::transfer_policy::{TransferSupport, accepted, check_queue, check_url};

pub fn apply(
    view: &View,
    support: &TransferSupport,
    request: &Upload,
) -> Result<(Vec<proto::Record>, Body), Fault> {
    support.check_upload_type(&request.file_type)?;
    check_url(&request.url)?;
    check_queue(view.state)?;
    let accepted = accepted(
        view,
        proto::TransferKind::Upload,
        proto::TransferAccepted {
            command_key: request.command_key.clone(),
            file_type: request.file_type.clone(),
            url: request.url.clone(),
            username: request.username.clone(),
            password: request.password.clone(),
            delay_seconds: request.delay_seconds,
            ..Default::default()
        },
    );
    Ok((
        vec![record(Kind::TransferAccepted(accepted))],
        UploadResponse {
            status: 1,
            start_time: DateTime::UNKNOWN,
            complete_time: DateTime::UNKNOWN,
        }
        .into(),
    ))
}
