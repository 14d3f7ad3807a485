//! CancelTransfer: every not-yet-started transfer with the CommandKey is cancelled (no
//! TransferComplete is sent for it); one already downloading or applying cannot be (9021); an
//! unknown key is 9003.

use crate::cwmp::rpc::cancel_transfer::{CancelTransfer, CancelTransferResponse};
use crate::cwmp::rpc::get_queued_transfers::transfer_state;
use crate::cwmp::{Body, Fault, FaultCode};
use crate::datamodel::View;
use crate::records::proto::{self, record::Kind};
use crate::state::record;

use super::transfer_policy::queue_state;

pub fn apply(view: &View, request: &CancelTransfer) -> Result<(Vec<proto::Record>, Body), Fault> {
    let matching: Vec<&proto::TransferState> = view
        .state
        .transfers
        .values()
        .filter(|t| {
            t.accepted
                .as_ref()
                .is_some_and(|a| !a.autonomous && a.command_key == request.command_key)
        })
        .collect();
    if matching.is_empty() {
        return Err(Fault::with_string(
            FaultCode::InvalidArguments,
            format!(
                "no queued transfer has CommandKey {:?}",
                request.command_key
            ),
        ));
    }
    if matching
        .iter()
        .any(|t| queue_state(t) != transfer_state::NOT_STARTED)
    {
        return Err(Fault::with_string(
            FaultCode::CancelationNotPermitted,
            format!(
                "the transfer with CommandKey {:?} has already started",
                request.command_key
            ),
        ));
    }
    let records = matching
        .iter()
        .filter_map(|t| t.accepted.as_ref())
        .map(|a| {
            record(Kind::TransferStageChanged(proto::TransferStageChanged {
                transfer_id: a.transfer_id.clone(),
                stage: proto::TransferStage::Cancelled as i32,
                ..Default::default()
            }))
        })
        .collect();
    Ok((records, CancelTransferResponse.into()))
}
