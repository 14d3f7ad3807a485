//! CancelTransfer (TR-069 §A.4.1.8, CWMP ≥ 1.1): the ACS cancels a queued transfer, ACS→CPE.
//! Optional for the CPE.
//!
//! Cancels the Download, Upload or ScheduleDownload requested with this `CommandKey` (queued,
//! or in progress where possible); no TransferComplete is sent for a cancelled transfer. A
//! transfer that can no longer be cancelled is fault 9021; an unknown key is 9003. Since the key
//! is the only thing identifying the transfer, it is required here (unlike Reboot's).

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CancelTransfer {
    /// The CommandKey of the transfer to cancel, at most 32 characters.
    pub command_key: String,
}

/// CPE→ACS response: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CancelTransferResponse;

impl Rpc for CancelTransfer {
    const NAME: &'static str = "CancelTransfer";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("CommandKey", &self.command_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(CancelTransfer {
            command_key: du::bounded_string(el, "CommandKey", 32)?,
        })
    }
}

impl Rpc for CancelTransferResponse {
    const NAME: &'static str = "CancelTransferResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(CancelTransferResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::command_key;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = CancelTransfer> {
        command_key().prop_map(|command_key| CancelTransfer { command_key })
    }

    pub fn response() -> impl Strategy<Value = CancelTransferResponse> {
        Just(CancelTransferResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::ArgError;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};

    #[test]
    fn decodes_request() {
        let env = decode_ok(&genieacs_envelope(
            "39",
            "<cwmp:CancelTransfer><CommandKey>dl-7</CommandKey></cwmp:CancelTransfer>",
        ));
        assert_eq!(
            env.body,
            Body::CancelTransfer(CancelTransfer {
                command_key: "dl-7".into()
            })
        );
        let env = decode_ok(&genieacs_envelope("40", "<cwmp:CancelTransferResponse/>"));
        assert_eq!(
            env.body,
            Body::CancelTransferResponse(CancelTransferResponse)
        );
    }

    #[test]
    fn missing_command_key_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope("41", "<cwmp:CancelTransfer/>"));
        assert_eq!(err, ArgError::missing("CommandKey"));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
