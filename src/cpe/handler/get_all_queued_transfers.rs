//! GetAllQueuedTransfers: every transfer the ACS requested and that has not been acknowledged,
//! with its State, direction, FileType, FileSize and TargetFileName.

use crate::cwmp::Body;
use crate::cwmp::rpc::get_all_queued_transfers::{
    AllQueuedTransferStruct, GetAllQueuedTransfersResponse,
};
use crate::datamodel::View;
use crate::records::proto;

use super::transfer_policy::queue_state;

pub fn apply(view: &View) -> Body {
    GetAllQueuedTransfersResponse {
        transfer_list: view
            .state
            .transfers
            .values()
            .filter_map(|t| {
                let a = t.accepted.as_ref().filter(|a| !a.autonomous)?;
                Some(AllQueuedTransferStruct {
                    command_key: a.command_key.clone(),
                    state: queue_state(t),
                    is_download: a.kind != proto::TransferKind::Upload as i32,
                    file_type: a.file_type.clone(),
                    file_size: u32::try_from(a.file_size).unwrap_or(u32::MAX),
                    target_file_name: a.target_file_name.clone(),
                })
            })
            .collect(),
    }
    .into()
}
