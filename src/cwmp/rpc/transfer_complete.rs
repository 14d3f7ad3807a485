//! TransferComplete (TR-069 §A.3.3.2): the CPE reports the end of a transfer the ACS asked for.
//!
//! Sent after a Download, Upload or ScheduleDownload that the CPE answered with Status 1
//! (queued), or whose outcome could only be known after a reboot. The Inform of the session
//! carrying it must hold `7 TRANSFER COMPLETE` plus the matching `M Download` / `M Upload` /
//! `M ScheduleDownload` event; the call is repeated in every later session until the ACS answers
//! TransferCompleteResponse, across reboots. HoldRequests true from the ACS delays it.
//!
//! `CommandKey` echoes the request's; the FaultStruct says how it went (FaultCode 0 = success,
//! else one of 9001, 9002, 9010–9012, 9014–9020 or an extension/vendor code); `StartTime` and
//! `CompleteTime` are the Unknown Time when the CPE cannot tell.

use crate::cwmp::datetime::DateTime;
use crate::cwmp::decode_util as du;
use crate::cwmp::fault::FaultStruct;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// CPE→ACS request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransferComplete {
    /// The CommandKey of the Download/Upload/ScheduleDownload being reported (at most 32 chars).
    pub command_key: String,
    /// The outcome: FaultCode 0 for success; FaultString at most 256 characters.
    pub fault_struct: FaultStruct,
    /// When the transfer started (the Unknown Time if not known).
    pub start_time: DateTime,
    /// When the transfer completed, successfully or not (the Unknown Time if not known).
    pub complete_time: DateTime,
}

/// ACS→CPE response (no arguments). Only once it arrives may the CPE forget the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransferCompleteResponse;

/// Reads a TransferCompleteFaultStruct (FaultString at most 256 characters).
pub(crate) fn decode_transfer_fault(el: &Element) -> ArgResult<FaultStruct> {
    let fault = FaultStruct::decode(el, "FaultStruct")?;
    du::check_len("FaultString", &fault.fault_string, 256)?;
    Ok(fault)
}

impl Rpc for TransferComplete {
    const NAME: &'static str = "TransferComplete";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("CommandKey", &self.command_key);
        self.fault_struct.encode(w, "FaultStruct");
        w.display_element("StartTime", self.start_time);
        w.display_element("CompleteTime", self.complete_time);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(TransferComplete {
            command_key: du::bounded_string(el, "CommandKey", 32)?,
            fault_struct: decode_transfer_fault(el)?,
            start_time: du::opt_datetime(el, "StartTime")?,
            complete_time: du::opt_datetime(el, "CompleteTime")?,
        })
    }
}

impl Rpc for TransferCompleteResponse {
    const NAME: &'static str = "TransferCompleteResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(TransferCompleteResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{command_key, date_time, short_string};
    use proptest::prelude::*;

    /// A TransferCompleteFaultStruct valid in cwmp-1-2: 0, the transfer subset of the CPE
    /// codes, or an extension (9033–9799) / vendor (9800–9899) code.
    pub fn fault_struct() -> impl Strategy<Value = FaultStruct> {
        let code = prop_oneof![
            Just(0u32),
            proptest::sample::select(vec![
                9001u32, 9002, 9010, 9011, 9012, 9014, 9015, 9016, 9017, 9018, 9019, 9020
            ]),
            9033u32..9900,
        ];
        (code, short_string(256)).prop_map(|(fault_code, fault_string)| FaultStruct {
            fault_code,
            fault_string,
        })
    }

    pub fn request() -> impl Strategy<Value = TransferComplete> {
        (command_key(), fault_struct(), date_time(), date_time()).prop_map(
            |(command_key, fault_struct, start_time, complete_time)| TransferComplete {
                command_key,
                fault_struct,
                start_time,
                complete_time,
            },
        )
    }

    pub fn response() -> impl Strategy<Value = TransferCompleteResponse> {
        Just(TransferCompleteResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::ArgError;
    use crate::cwmp::xml::{Limits, parse};

    fn decode(args: &str) -> ArgResult<TransferComplete> {
        let el = parse(
            format!("<TransferComplete>{args}</TransferComplete>").as_bytes(),
            &Limits::default(),
        )
        .unwrap()
        .into_owned();
        TransferComplete::decode_args(&el)
    }

    #[test]
    fn lenient_order_and_missing_times() {
        let tc = decode("<FaultStruct><FaultString/><FaultCode> 0 </FaultCode></FaultStruct><X/><CommandKey> k </CommandKey>").unwrap();
        assert_eq!(tc.command_key, "k");
        assert!(tc.fault_struct.is_success());
        assert_eq!(tc.start_time, DateTime::UNKNOWN);
        assert_eq!(tc.complete_time, DateTime::UNKNOWN);
    }

    #[test]
    fn strict_where_it_matters() {
        let fs = "<FaultStruct><FaultCode>0</FaultCode><FaultString/></FaultStruct>";
        assert_eq!(decode(fs), Err(ArgError::missing("CommandKey")));
        assert_eq!(
            decode("<CommandKey/>"),
            Err(ArgError::missing("FaultStruct"))
        );
        assert!(decode(&format!("<CommandKey>{}</CommandKey>{fs}", "k".repeat(33))).is_err());
        assert!(
            decode(&format!(
                "<CommandKey/>{fs}<StartTime>yesterday</StartTime>"
            ))
            .is_err()
        );
        assert!(
            decode("<CommandKey/><FaultStruct><FaultCode>-1</FaultCode></FaultStruct>").is_err()
        );
        let long = format!(
            "<CommandKey/><FaultStruct><FaultCode>9010</FaultCode><FaultString>{}</FaultString></FaultStruct>",
            "x".repeat(257)
        );
        assert!(decode(&long).is_err());
    }
}
