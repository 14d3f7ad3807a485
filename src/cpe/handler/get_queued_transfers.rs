//! GetQueuedTransfers (deprecated in favour of GetAllQueuedTransfers): CommandKey and State of
//! every transfer the ACS requested and that has not been acknowledged.

use crate::cwmp::Body;
use crate::cwmp::rpc::get_queued_transfers::{GetQueuedTransfersResponse, QueuedTransferStruct};
use crate::datamodel::View;

use super::transfer_policy::queue_state;

pub fn apply(view: &View) -> Body {
    GetQueuedTransfersResponse {
        transfer_list: view
            .state
            .transfers
            .values()
            .filter_map(|t| {
                let a = t.accepted.as_ref().filter(|a| !a.autonomous)?;
                Some(QueuedTransferStruct {
                    command_key: a.command_key.clone(),
                    state: queue_state(t),
                })
            })
            .collect(),
    }
    .into()
}
