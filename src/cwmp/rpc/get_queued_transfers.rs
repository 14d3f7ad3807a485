//! GetQueuedTransfers (TR-069 §A.4.1.2, deprecated in favour of GetAllQueuedTransfers): the ACS
//! asks which of its transfers are queued, ACS→CPE. Optional for the CPE.
//!
//! No arguments. The CPE lists, with their CommandKey and state, the Download and Upload
//! requests *this* ACS made that have not been completed and reported yet — at most 16.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgError, ArgResult, Rpc};

/// Transfer states (cwmp-1-2.xsd TransferStateType).
pub mod transfer_state {
    pub const NOT_STARTED: i32 = 1;
    pub const IN_PROGRESS: i32 = 2;
    pub const COMPLETED: i32 = 3;
}

/// The schema's bound on a TransferList.
pub const MAX_QUEUED_TRANSFERS: usize = 16;

/// ACS→CPE request: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GetQueuedTransfers;

/// One queued transfer (TR-069 QueuedTransferStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueuedTransferStruct {
    /// The request's CommandKey, at most 32 characters.
    pub command_key: String,
    /// See [`transfer_state`]: 1 not started, 2 in progress, 3 completed.
    pub state: i32,
}

/// CPE→ACS response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetQueuedTransfersResponse {
    /// At most 16 entries.
    pub transfer_list: Vec<QueuedTransferStruct>,
}

impl Rpc for GetQueuedTransfers {
    const NAME: &'static str = "GetQueuedTransfers";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(GetQueuedTransfers)
    }
}

/// The items of a required `TransferList`, at most 16 of them.
pub(crate) fn transfer_list<'a, 'x>(el: &'a Element<'x>) -> ArgResult<&'a [Element<'x>]> {
    let items = du::array(el, "TransferList")?;
    if items.len() > MAX_QUEUED_TRANSFERS {
        return Err(ArgError::invalid(
            "TransferList",
            format!(
                "{} transfers, at most {MAX_QUEUED_TRANSFERS} allowed",
                items.len()
            ),
        ));
    }
    Ok(items)
}

impl Rpc for GetQueuedTransfersResponse {
    const NAME: &'static str = "GetQueuedTransfersResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array(
            "TransferList",
            "cwmp:QueuedTransferStruct",
            self.transfer_list.len(),
        );
        for t in &self.transfer_list {
            w.open("QueuedTransferStruct");
            w.text_element("CommandKey", &t.command_key);
            w.number_element("State", t.state);
            w.close("QueuedTransferStruct");
        }
        w.close("TransferList");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let transfer_list = transfer_list(el)?
            .iter()
            .map(|item| {
                Ok(QueuedTransferStruct {
                    command_key: du::opt_bounded_string(item, "CommandKey", 32)?,
                    state: du::i32_child(item, "State")?,
                })
            })
            .collect::<ArgResult<Vec<_>>>()?;
        Ok(GetQueuedTransfersResponse { transfer_list })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::command_key;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = GetQueuedTransfers> {
        Just(GetQueuedTransfers)
    }

    pub fn response() -> impl Strategy<Value = GetQueuedTransfersResponse> {
        proptest::collection::vec(
            (command_key(), 1..=3i32)
                .prop_map(|(command_key, state)| QueuedTransferStruct { command_key, state }),
            0..5,
        )
        .prop_map(|transfer_list| GetQueuedTransfersResponse { transfer_list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};

    #[test]
    fn decodes_request_and_response() {
        let env = decode_ok(&genieacs_envelope("52", "<cwmp:GetQueuedTransfers/>"));
        assert_eq!(env.body, Body::GetQueuedTransfers(GetQueuedTransfers));
        let env = decode_ok(&genieacs_envelope(
            "53",
            "<cwmp:GetQueuedTransfersResponse><TransferList soap-enc:arrayType=\"cwmp:QueuedTransferStruct[1]\">\
             <QueuedTransferStruct><CommandKey>dl-1</CommandKey><State>2</State></QueuedTransferStruct>\
             </TransferList></cwmp:GetQueuedTransfersResponse>",
        ));
        assert_eq!(
            env.body,
            Body::GetQueuedTransfersResponse(GetQueuedTransfersResponse {
                transfer_list: vec![QueuedTransferStruct {
                    command_key: "dl-1".into(),
                    state: transfer_state::IN_PROGRESS,
                }],
            })
        );
    }

    #[test]
    fn missing_transfer_list_or_state_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "54",
            "<cwmp:GetQueuedTransfersResponse></cwmp:GetQueuedTransfersResponse>",
        ));
        assert_eq!(err, ArgError::missing("TransferList"));
        let err = expect_invalid_arguments(&genieacs_envelope(
            "55",
            "<cwmp:GetQueuedTransfersResponse><TransferList soap-enc:arrayType=\"cwmp:QueuedTransferStruct[1]\">\
             <QueuedTransferStruct><CommandKey>dl-1</CommandKey></QueuedTransferStruct>\
             </TransferList></cwmp:GetQueuedTransfersResponse>",
        ));
        assert_eq!(err, ArgError::missing("State"));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
