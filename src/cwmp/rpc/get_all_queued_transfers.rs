//! GetAllQueuedTransfers (TR-069 §A.4.1.7, CWMP ≥ 1.1): the ACS lists every queued transfer,
//! ACS→CPE. Optional for the CPE.
//!
//! No arguments. Unlike GetQueuedTransfers, the answer covers transfers requested by any ACS
//! (and autonomous ones), and says for each whether it is a download, its file type, size and
//! target file name. At most 16 entries.

use super::get_queued_transfers::transfer_list;
use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GetAllQueuedTransfers;

/// One queued transfer (TR-069 AllQueuedTransferStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllQueuedTransferStruct {
    /// The request's CommandKey, at most 32 characters.
    pub command_key: String,
    /// See [`super::get_queued_transfers::transfer_state`]: 1 not started, 2 in progress,
    /// 3 completed.
    pub state: i32,
    /// Download (true) or Upload (false).
    pub is_download: bool,
    /// TransferFileType, at most 64 characters.
    pub file_type: String,
    /// Bytes; 0 when unknown.
    pub file_size: u32,
    /// At most 256 characters; may be empty.
    pub target_file_name: String,
}

/// CPE→ACS response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetAllQueuedTransfersResponse {
    /// At most 16 entries.
    pub transfer_list: Vec<AllQueuedTransferStruct>,
}

impl Rpc for GetAllQueuedTransfers {
    const NAME: &'static str = "GetAllQueuedTransfers";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(GetAllQueuedTransfers)
    }
}

impl Rpc for GetAllQueuedTransfersResponse {
    const NAME: &'static str = "GetAllQueuedTransfersResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array(
            "TransferList",
            "cwmp:AllQueuedTransferStruct",
            self.transfer_list.len(),
        );
        for t in &self.transfer_list {
            w.open("AllQueuedTransferStruct");
            w.text_element("CommandKey", &t.command_key);
            w.number_element("State", t.state);
            w.bool_element("IsDownload", t.is_download);
            w.text_element("FileType", &t.file_type);
            w.number_element("FileSize", t.file_size);
            w.text_element("TargetFileName", &t.target_file_name);
            w.close("AllQueuedTransferStruct");
        }
        w.close("TransferList");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let transfer_list = transfer_list(el)?
            .iter()
            .map(|item| {
                Ok(AllQueuedTransferStruct {
                    command_key: du::opt_bounded_string(item, "CommandKey", 32)?,
                    state: du::i32_child(item, "State")?,
                    is_download: du::bool_child(item, "IsDownload")?,
                    file_type: du::opt_bounded_string(item, "FileType", 64)?,
                    file_size: du::opt_u32(item, "FileSize")?.unwrap_or(0),
                    target_file_name: du::opt_bounded_string(item, "TargetFileName", 256)?,
                })
            })
            .collect::<ArgResult<Vec<_>>>()?;
        Ok(GetAllQueuedTransfersResponse { transfer_list })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{command_key, short_string};
    use crate::cwmp::rpc::{download, upload};
    use proptest::prelude::*;

    pub fn all_queued_transfer_struct() -> impl Strategy<Value = AllQueuedTransferStruct> {
        (
            command_key(),
            1..=3i32,
            any::<bool>(),
            prop_oneof![download::arb::file_type(), upload::arb::file_type()],
            any::<u32>(),
            short_string(256),
        )
            .prop_map(
                |(command_key, state, is_download, file_type, file_size, target_file_name)| {
                    AllQueuedTransferStruct {
                        command_key,
                        state,
                        is_download,
                        file_type,
                        file_size,
                        target_file_name,
                    }
                },
            )
    }

    pub fn request() -> impl Strategy<Value = GetAllQueuedTransfers> {
        Just(GetAllQueuedTransfers)
    }

    pub fn response() -> impl Strategy<Value = GetAllQueuedTransfersResponse> {
        proptest::collection::vec(all_queued_transfer_struct(), 0..5)
            .prop_map(|transfer_list| GetAllQueuedTransfersResponse { transfer_list })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::ArgError;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};

    const ITEM: &str = "<AllQueuedTransferStruct><CommandKey>dl-1</CommandKey><State>1</State>\
                        <IsDownload>true</IsDownload><FileType>1 Firmware Upgrade Image</FileType>\
                        <FileSize>0</FileSize><TargetFileName></TargetFileName></AllQueuedTransferStruct>";

    fn response(items: &str, n: usize) -> String {
        genieacs_envelope(
            "56",
            &format!(
                "<cwmp:GetAllQueuedTransfersResponse><TransferList soap-enc:arrayType=\"cwmp:AllQueuedTransferStruct[{n}]\">\
                 {items}</TransferList></cwmp:GetAllQueuedTransfersResponse>"
            ),
        )
    }

    #[test]
    fn decodes_request_and_response() {
        let env = decode_ok(&genieacs_envelope(
            "57",
            "<cwmp:GetAllQueuedTransfers></cwmp:GetAllQueuedTransfers>",
        ));
        assert_eq!(env.body, Body::GetAllQueuedTransfers(GetAllQueuedTransfers));
        let env = decode_ok(&response(ITEM, 1));
        assert_eq!(
            env.body,
            Body::GetAllQueuedTransfersResponse(GetAllQueuedTransfersResponse {
                transfer_list: vec![AllQueuedTransferStruct {
                    command_key: "dl-1".into(),
                    state: 1,
                    is_download: true,
                    file_type: "1 Firmware Upgrade Image".into(),
                    file_size: 0,
                    target_file_name: String::new(),
                }],
            })
        );
    }

    #[test]
    fn more_than_16_transfers_is_9003() {
        let err = expect_invalid_arguments(&response(&ITEM.repeat(17), 17));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "TransferList"),
            "{err:?}"
        );
    }

    #[test]
    fn missing_is_download_is_9003() {
        let err = expect_invalid_arguments(&response(
            "<AllQueuedTransferStruct><CommandKey>dl-1</CommandKey><State>1</State></AllQueuedTransferStruct>",
            1,
        ));
        assert_eq!(err, ArgError::missing("IsDownload"));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
