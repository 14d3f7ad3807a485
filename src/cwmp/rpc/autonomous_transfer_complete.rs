//! AutonomousTransferComplete (TR-069 §A.3.3.3, CWMP ≥ 1.1): the CPE reports a transfer it did
//! on its own initiative (not requested by this ACS), e.g. a firmware pushed by another
//! management entity or a multicast download announced out of band.
//!
//! Sent in a session whose Inform carries `10 AUTONOMOUS TRANSFER COMPLETE`, and only if the ACS
//! asked for it (`Device.ManagementServer.AutonomousTransferCompletePolicy.`). Unlike
//! TransferComplete there is no CommandKey: the transfer is described instead — where it was
//! announced (`AnnounceURL`, empty if not applicable), where the file came from or went to
//! (`TransferURL`), its direction (`IsDownload`), `FileType` (the TransferFileType list, which also
//! admits the upload types `4 Vendor Log File`, `6 Vendor Configuration File <i>` and
//! `7 Vendor Log File <i>`), `FileSize` in bytes (0 = unknown) and `TargetFileName`.
//!
//! GenieACS does not implement this method and answers fault 8000: only send it to an ACS whose
//! GetRPCMethodsResponse lists it.

use crate::cwmp::datetime::DateTime;
use crate::cwmp::decode_util as du;
use crate::cwmp::fault::FaultStruct;
use crate::cwmp::rpc::transfer_complete::decode_transfer_fault;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// CPE→ACS request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AutonomousTransferComplete {
    /// The URL on which the transfer was announced (e.g. a multicast announcement); at most 1024
    /// characters, empty if not applicable.
    pub announce_url: String,
    /// The URL the file was downloaded from or uploaded to; at most 1024 characters.
    pub transfer_url: String,
    /// `true` for a download, `false` for an upload.
    pub is_download: bool,
    /// TransferFileType, at most 64 characters: `1 Firmware Upgrade Image`, `2 Web Content`,
    /// `3 Vendor Configuration File`, `4 Vendor Log File`, `6 Vendor Configuration File <i>`,
    /// `7 Vendor Log File <i>`, `X <OUI> <name>`, ….
    pub file_type: String,
    /// Size of the file in bytes; 0 when unknown.
    pub file_size: u32,
    /// The file name on the CPE, at most 256 characters; may be empty.
    pub target_file_name: String,
    /// The outcome: FaultCode 0 for success; FaultString at most 256 characters.
    pub fault_struct: FaultStruct,
    /// When the transfer started (the Unknown Time if not known).
    pub start_time: DateTime,
    /// When the transfer completed (the Unknown Time if not known).
    pub complete_time: DateTime,
}

/// ACS→CPE response (no arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AutonomousTransferCompleteResponse;

impl Rpc for AutonomousTransferComplete {
    const NAME: &'static str = "AutonomousTransferComplete";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("AnnounceURL", &self.announce_url);
        w.text_element("TransferURL", &self.transfer_url);
        w.bool_element("IsDownload", self.is_download);
        w.text_element("FileType", &self.file_type);
        w.number_element("FileSize", self.file_size);
        w.text_element("TargetFileName", &self.target_file_name);
        self.fault_struct.encode(w, "FaultStruct");
        w.display_element("StartTime", self.start_time);
        w.display_element("CompleteTime", self.complete_time);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(AutonomousTransferComplete {
            announce_url: du::bounded_string(el, "AnnounceURL", 1024)?,
            transfer_url: du::bounded_string(el, "TransferURL", 1024)?,
            is_download: du::bool_child(el, "IsDownload")?,
            file_type: du::bounded_string(el, "FileType", 64)?,
            file_size: du::u32_child(el, "FileSize")?,
            target_file_name: du::bounded_string(el, "TargetFileName", 256)?,
            fault_struct: decode_transfer_fault(el)?,
            start_time: du::opt_datetime(el, "StartTime")?,
            complete_time: du::opt_datetime(el, "CompleteTime")?,
        })
    }
}

impl Rpc for AutonomousTransferCompleteResponse {
    const NAME: &'static str = "AutonomousTransferCompleteResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(AutonomousTransferCompleteResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{date_time, short_string, url};
    use crate::cwmp::rpc::transfer_complete::arb::fault_struct;
    use proptest::prelude::*;

    /// A TransferFileType (cwmp-1-2 patterns).
    pub fn transfer_file_type() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("1 Firmware Upgrade Image".to_owned()),
            Just("2 Web Content".to_owned()),
            Just("3 Vendor Configuration File".to_owned()),
            Just("4 Vendor Log File".to_owned()),
            "[67] Vendor (Configuration|Log) File [1-9][0-9]{0,2}",
            "X [0-9A-F]{6} [A-Za-z]([A-Za-z0-9 ]{0,18}[A-Za-z0-9])?",
        ]
    }

    pub fn request() -> impl Strategy<Value = AutonomousTransferComplete> {
        (
            prop_oneof![Just(String::new()), url()],
            url(),
            any::<bool>(),
            transfer_file_type(),
            any::<u32>(),
            short_string(256),
            fault_struct(),
            date_time(),
            date_time(),
        )
            .prop_map(
                |(
                    announce_url,
                    transfer_url,
                    is_download,
                    file_type,
                    file_size,
                    target_file_name,
                    fault_struct,
                    start_time,
                    complete_time,
                )| {
                    AutonomousTransferComplete {
                        announce_url,
                        transfer_url,
                        is_download,
                        file_type,
                        file_size,
                        target_file_name,
                        fault_struct,
                        start_time,
                        complete_time,
                    }
                },
            )
    }

    pub fn response() -> impl Strategy<Value = AutonomousTransferCompleteResponse> {
        Just(AutonomousTransferCompleteResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::xml::{Limits, parse};

    const ARGS: &str = "<AnnounceURL/><TransferURL>http://f/x.bin</TransferURL><IsDownload>1</IsDownload>\
        <FileType>1 Firmware Upgrade Image</FileType><FileSize>123</FileSize><TargetFileName/>\
        <FaultStruct><FaultCode>0</FaultCode><FaultString/></FaultStruct>";

    fn decode(args: &str) -> ArgResult<AutonomousTransferComplete> {
        let el = parse(format!("<m>{args}</m>").as_bytes(), &Limits::default())
            .unwrap()
            .into_owned();
        AutonomousTransferComplete::decode_args(&el)
    }

    #[test]
    fn lenient_and_strict() {
        let atc = decode(ARGS).unwrap();
        assert!(atc.is_download);
        assert_eq!(atc.file_size, 123);
        assert_eq!(atc.start_time, DateTime::UNKNOWN);
        assert!(decode(&ARGS.replace(">1<", ">yes<")).is_err());
        assert!(decode(&ARGS.replace(">123<", ">-1<")).is_err());
        assert!(decode(&ARGS.replace("<TargetFileName/>", "")).is_err());
        assert!(
            decode(&ARGS.replace(
                "<AnnounceURL/>",
                &format!("<AnnounceURL>{}</AnnounceURL>", "u".repeat(1025))
            ))
            .is_err()
        );
    }
}
