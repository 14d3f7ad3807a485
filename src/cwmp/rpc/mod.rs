//! One file per RPC: the request and response types, their decoders and encoders.
//!
//! ACS→CPE methods (the ACS calls, the CPE answers): GetRPCMethods, SetParameterValues,
//! GetParameterValues, GetParameterNames, SetParameterAttributes, GetParameterAttributes,
//! AddObject, DeleteObject, Reboot, Download, Upload, FactoryReset, ScheduleInform,
//! ScheduleDownload, CancelTransfer, GetQueuedTransfers, GetAllQueuedTransfers, ChangeDUState.
//!
//! CPE→ACS methods (the CPE calls, the ACS answers): Inform, TransferComplete,
//! AutonomousTransferComplete, GetRPCMethods, RequestDownload, Kicked, DUStateChangeComplete,
//! AutonomousDUStateChangeComplete.

use super::fault::Fault;
use super::xml::{Element, Writer};
use super::{ArgResult, Rpc};

// --- ACS→CPE modules (begin) ---
pub mod add_object;
pub mod cancel_transfer;
pub mod change_du_state;
pub mod delete_object;
pub mod download;
pub mod factory_reset;
pub mod get_all_queued_transfers;
pub mod get_parameter_attributes;
pub mod get_parameter_names;
pub mod get_parameter_values;
pub mod get_queued_transfers;
pub mod get_rpc_methods;
pub mod reboot;
pub mod schedule_download;
pub mod schedule_inform;
pub mod set_parameter_attributes;
pub mod set_parameter_values;
pub mod upload;
// --- ACS→CPE modules (end) ---

// --- CPE→ACS modules (begin) ---
pub mod autonomous_du_state_change_complete;
pub mod autonomous_transfer_complete;
pub mod du_state_change_complete;
pub mod inform;
pub mod kicked;
pub mod request_download;
pub mod transfer_complete;
// --- CPE→ACS modules (end) ---

/// Declares [`Body`] with one variant per message type and the name-based dispatch.
macro_rules! messages {
    ($( $variant:ident => $ty:ty, )*) => {
        /// The content of a SOAP Body: one CWMP message or a Fault.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Body {
            $( $variant($ty), )*
            Fault(Fault),
        }

        impl Body {
            /// The method element's local name (`Fault` for a fault).
            pub fn name(&self) -> &'static str {
                match self {
                    $( Body::$variant(_) => <$ty as Rpc>::NAME, )*
                    Body::Fault(_) => "Fault",
                }
            }

            /// Every method element name this codec understands.
            pub const METHOD_NAMES: &'static [&'static str] = &[$( <$ty as Rpc>::NAME, )*];

            /// Decodes a method element by its local name; `None` for an unknown method.
            pub(crate) fn decode_method(name: &str, el: &Element) -> Option<ArgResult<Body>> {
                $( if name == <$ty as Rpc>::NAME {
                    return Some(<$ty as Rpc>::decode_args(el).map(Body::$variant));
                } )*
                None
            }

            /// Writes `<cwmp:Name>args</cwmp:Name>` (or the Fault).
            pub(crate) fn encode(&self, w: &mut Writer) {
                match self {
                    $( Body::$variant(m) => {
                        let name = <$ty as Rpc>::NAME;
                        w.raw("<cwmp:");
                        w.raw(name);
                        w.raw(">");
                        m.encode_args(w);
                        w.raw("</cwmp:");
                        w.raw(name);
                        w.raw(">");
                    } )*
                    Body::Fault(f) => f.encode(w),
                }
            }
        }

        $( impl From<$ty> for Body {
            fn from(m: $ty) -> Body {
                Body::$variant(m)
            }
        } )*
    };
}

messages! {
    // --- ACS→CPE messages (begin) ---
    GetParameterValues => get_parameter_values::GetParameterValues,
    GetParameterValuesResponse => get_parameter_values::GetParameterValuesResponse,
    GetRpcMethods => get_rpc_methods::GetRpcMethods,
    GetRpcMethodsResponse => get_rpc_methods::GetRpcMethodsResponse,
    SetParameterValues => set_parameter_values::SetParameterValues,
    SetParameterValuesResponse => set_parameter_values::SetParameterValuesResponse,
    GetParameterNames => get_parameter_names::GetParameterNames,
    GetParameterNamesResponse => get_parameter_names::GetParameterNamesResponse,
    SetParameterAttributes => set_parameter_attributes::SetParameterAttributes,
    SetParameterAttributesResponse => set_parameter_attributes::SetParameterAttributesResponse,
    GetParameterAttributes => get_parameter_attributes::GetParameterAttributes,
    GetParameterAttributesResponse => get_parameter_attributes::GetParameterAttributesResponse,
    AddObject => add_object::AddObject,
    AddObjectResponse => add_object::AddObjectResponse,
    DeleteObject => delete_object::DeleteObject,
    DeleteObjectResponse => delete_object::DeleteObjectResponse,
    Reboot => reboot::Reboot,
    RebootResponse => reboot::RebootResponse,
    Download => download::Download,
    DownloadResponse => download::DownloadResponse,
    Upload => upload::Upload,
    UploadResponse => upload::UploadResponse,
    FactoryReset => factory_reset::FactoryReset,
    FactoryResetResponse => factory_reset::FactoryResetResponse,
    ScheduleInform => schedule_inform::ScheduleInform,
    ScheduleInformResponse => schedule_inform::ScheduleInformResponse,
    ScheduleDownload => schedule_download::ScheduleDownload,
    ScheduleDownloadResponse => schedule_download::ScheduleDownloadResponse,
    CancelTransfer => cancel_transfer::CancelTransfer,
    CancelTransferResponse => cancel_transfer::CancelTransferResponse,
    GetQueuedTransfers => get_queued_transfers::GetQueuedTransfers,
    GetQueuedTransfersResponse => get_queued_transfers::GetQueuedTransfersResponse,
    GetAllQueuedTransfers => get_all_queued_transfers::GetAllQueuedTransfers,
    GetAllQueuedTransfersResponse => get_all_queued_transfers::GetAllQueuedTransfersResponse,
    ChangeDuState => change_du_state::ChangeDuState,
    ChangeDuStateResponse => change_du_state::ChangeDuStateResponse,
    // --- ACS→CPE messages (end) ---
    // --- CPE→ACS messages (begin) ---
    Inform => inform::Inform,
    InformResponse => inform::InformResponse,
    TransferComplete => transfer_complete::TransferComplete,
    TransferCompleteResponse => transfer_complete::TransferCompleteResponse,
    AutonomousTransferComplete => autonomous_transfer_complete::AutonomousTransferComplete,
    AutonomousTransferCompleteResponse => autonomous_transfer_complete::AutonomousTransferCompleteResponse,
    RequestDownload => request_download::RequestDownload,
    RequestDownloadResponse => request_download::RequestDownloadResponse,
    Kicked => kicked::Kicked,
    KickedResponse => kicked::KickedResponse,
    DuStateChangeComplete => du_state_change_complete::DuStateChangeComplete,
    DuStateChangeCompleteResponse => du_state_change_complete::DuStateChangeCompleteResponse,
    AutonomousDuStateChangeComplete => autonomous_du_state_change_complete::AutonomousDuStateChangeComplete,
    AutonomousDuStateChangeCompleteResponse => autonomous_du_state_change_complete::AutonomousDuStateChangeCompleteResponse,
    // --- CPE→ACS messages (end) ---
}

#[cfg(test)]
pub(crate) mod arb {
    //! proptest strategies for every message, gathered for the envelope round-trip test.
    use super::*;
    use proptest::prelude::*;

    pub fn body() -> impl Strategy<Value = Body> {
        prop_oneof![
            // --- ACS→CPE strategies (begin) ---
            get_parameter_values::arb::request().prop_map(Body::from),
            get_parameter_values::arb::response().prop_map(Body::from),
            get_rpc_methods::arb::request().prop_map(Body::from),
            get_rpc_methods::arb::response().prop_map(Body::from),
            set_parameter_values::arb::request().prop_map(Body::from),
            set_parameter_values::arb::response().prop_map(Body::from),
            get_parameter_names::arb::request().prop_map(Body::from),
            get_parameter_names::arb::response().prop_map(Body::from),
            set_parameter_attributes::arb::request().prop_map(Body::from),
            set_parameter_attributes::arb::response().prop_map(Body::from),
            get_parameter_attributes::arb::request().prop_map(Body::from),
            get_parameter_attributes::arb::response().prop_map(Body::from),
            add_object::arb::request().prop_map(Body::from),
            add_object::arb::response().prop_map(Body::from),
            delete_object::arb::request().prop_map(Body::from),
            delete_object::arb::response().prop_map(Body::from),
            reboot::arb::request().prop_map(Body::from),
            reboot::arb::response().prop_map(Body::from),
            download::arb::request().prop_map(Body::from),
            download::arb::response().prop_map(Body::from),
            upload::arb::request().prop_map(Body::from),
            upload::arb::response().prop_map(Body::from),
            factory_reset::arb::request().prop_map(Body::from),
            factory_reset::arb::response().prop_map(Body::from),
            schedule_inform::arb::request().prop_map(Body::from),
            schedule_inform::arb::response().prop_map(Body::from),
            schedule_download::arb::request().prop_map(Body::from),
            schedule_download::arb::response().prop_map(Body::from),
            cancel_transfer::arb::request().prop_map(Body::from),
            cancel_transfer::arb::response().prop_map(Body::from),
            get_queued_transfers::arb::request().prop_map(Body::from),
            get_queued_transfers::arb::response().prop_map(Body::from),
            get_all_queued_transfers::arb::request().prop_map(Body::from),
            get_all_queued_transfers::arb::response().prop_map(Body::from),
            change_du_state::arb::request().prop_map(Body::from),
            change_du_state::arb::response().prop_map(Body::from),
            // --- ACS→CPE strategies (end) ---
            // --- CPE→ACS strategies (begin) ---
            inform::arb::request().prop_map(Body::from),
            inform::arb::response().prop_map(Body::from),
            transfer_complete::arb::request().prop_map(Body::from),
            transfer_complete::arb::response().prop_map(Body::from),
            autonomous_transfer_complete::arb::request().prop_map(Body::from),
            autonomous_transfer_complete::arb::response().prop_map(Body::from),
            request_download::arb::request().prop_map(Body::from),
            request_download::arb::response().prop_map(Body::from),
            kicked::arb::request().prop_map(Body::from),
            kicked::arb::response().prop_map(Body::from),
            du_state_change_complete::arb::request().prop_map(Body::from),
            du_state_change_complete::arb::response().prop_map(Body::from),
            autonomous_du_state_change_complete::arb::request().prop_map(Body::from),
            autonomous_du_state_change_complete::arb::response().prop_map(Body::from),
            // --- CPE→ACS strategies (end) ---
        ]
    }
}

#[cfg(test)]
pub(crate) mod arb_util {
    //! Building blocks for the per-RPC proptest strategies.
    use crate::cwmp::datetime::DateTime;
    use crate::cwmp::value::{ParameterValueStruct, Value, XsdType};
    use proptest::prelude::*;

    /// Text that survives the trip through XML as an argument (no surrounding whitespace, since
    /// arguments are trimmed), with the characters that need escaping, and at most `max` chars.
    pub fn short_string(max: usize) -> impl Strategy<Value = String> {
        let max = max.min(24);
        proptest::string::string_regex(&format!(
            "[a-zA-Z0-9 &<>\"'.:/_\u{e9}\u{1F600}-]{{0,{max}}}"
        ))
        .expect("valid regex")
        .prop_map(|s| s.trim().to_owned())
    }

    pub fn command_key() -> impl Strategy<Value = String> {
        short_string(32)
    }

    pub fn url() -> impl Strategy<Value = String> {
        "https?://[a-z]{1,10}(:[0-9]{2,5})?/[a-zA-Z0-9_.]{0,12}(\\?a=1&b=2)?"
    }

    /// A parameter name or partial path.
    pub fn param_name() -> impl Strategy<Value = String> {
        "Device(\\.[A-Za-z][A-Za-z0-9]{0,8}){0,4}\\.?"
    }

    pub fn date_time() -> impl Strategy<Value = DateTime> {
        crate::cwmp::datetime::tests::arb_datetime()
    }

    /// Any value: text with any XML character including surrounding whitespace and CR (values
    /// are not trimmed), under any declared type or none.
    pub fn value() -> impl Strategy<Value = Value> {
        let xsd_type = prop_oneof![
            Just(None),
            Just(Some(XsdType::String)),
            Just(Some(XsdType::Int)),
            Just(Some(XsdType::UnsignedInt)),
            Just(Some(XsdType::Long)),
            Just(Some(XsdType::UnsignedLong)),
            Just(Some(XsdType::Boolean)),
            Just(Some(XsdType::DateTime)),
            Just(Some(XsdType::Base64)),
            Just(Some(XsdType::HexBinary)),
            Just(Some(XsdType::Other("decimal".to_owned()))),
        ];
        (xsd_type, "[ \t\r\na-z0-9&<>\"'\u{e9}\u{1F600}]{0,12}")
            .prop_map(|(xsd_type, text)| Value { xsd_type, text })
    }

    pub fn parameter_value_struct() -> impl Strategy<Value = ParameterValueStruct> {
        (param_name(), value()).prop_map(|(name, value)| ParameterValueStruct { name, value })
    }

    /// A message as GenieACS 1.2 writes it: XML declaration, newline, the whole envelope on one
    /// line, every prefix declared on the Envelope, a `cwmp:ID` header with mustUnderstand.
    /// `body` is the method element (e.g. `<cwmp:Reboot>…</cwmp:Reboot>`).
    pub fn genieacs_envelope(id: &str, body: &str) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap-env:Envelope \
             xmlns:soap-enc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
             xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\" \
             xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\"><soap-env:Header><cwmp:ID \
             soap-env:mustUnderstand=\"1\">{id}</cwmp:ID></soap-env:Header><soap-env:Body>{body}\
             </soap-env:Body></soap-env:Envelope>"
        )
    }

    /// Decodes `text`, expecting an argument error: checks it is answered with fault 9003 and
    /// returns the [`crate::cwmp::ArgError`] for further checks.
    pub fn expect_invalid_arguments(text: &str) -> crate::cwmp::ArgError {
        use crate::cwmp::{DecodeErrorKind, Envelope, Limits};
        let err =
            Envelope::decode(text.as_bytes(), &Limits::default()).expect_err("must not decode");
        assert_eq!(err.fault().code, 9003, "{err}");
        match err.kind {
            DecodeErrorKind::InvalidArguments { error, .. } => error,
            other => panic!("expected InvalidArguments, got {other:?}"),
        }
    }

    /// Decodes `text`, which must succeed.
    pub fn decode_ok(text: &str) -> crate::cwmp::Envelope {
        crate::cwmp::Envelope::decode(text.as_bytes(), &crate::cwmp::Limits::default())
            .expect("decodes")
    }

    /// Encodes `body` in an envelope and checks it decodes back unchanged (for per-RPC proptests).
    pub fn round_trip(body: crate::cwmp::Body) -> Result<(), TestCaseError> {
        use crate::cwmp::{CwmpNamespace, Envelope, Header, Limits};
        let envelope = Envelope::new(CwmpNamespace::Cwmp12, Header::with_id("1"), body);
        let text = envelope.encode();
        prop_assert_eq!(
            Envelope::decode(text.as_bytes(), &Limits::default()),
            Ok(envelope),
            "{}",
            text
        );
        Ok(())
    }
}
