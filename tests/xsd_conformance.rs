//! XML-Schema conformance of everything the codec emits.
//!
//! Every message type in [`Body`] (ACS→CPE requests and CPE responses, CPE→ACS requests and ACS
//! responses, and SOAP Faults including a SetParameterValues fault), built with every field
//! populated, is encoded by the codec in a complete envelope and validated with xmllint
//! (tests/support/xsd.rs) against the BBF schemas:
//!
//! * namespace `cwmp-1-2`, header `ID` + `HoldRequests`, against `cwmp-1-2.xsd` (every type);
//! * the same plus the CWMP 1.3/1.4 headers (`SessionTimeout`, `SupportedCWMPVersions`,
//!   `UseCWMPVersion`) against `cwmp-1-4.xsd`;
//! * namespace `cwmp-1-0` against `cwmp-1-0.xsd`, for every message type that schema declares
//!   (read from the schema at test time), with 1-0-legal values.
//!
//! Negative controls (codec output made invalid, by a bad field value or by corrupting the
//! encoded text) prove the validation can fail, and proptest-generated messages cover random
//! field values.
//!
//! The validating tests need xmllint: without it they print `SKIPPED ...` and pass, except under
//! `TR069_TEST_STRICT=1` (CI), where that is a failure.

#[path = "support/xsd.rs"]
mod xsd;

use std::collections::BTreeSet;
use std::path::PathBuf;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use tr069_client::cwmp::rpc::add_object::{AddObject, AddObjectResponse};
use tr069_client::cwmp::rpc::autonomous_du_state_change_complete::{
    AutonOpResultStruct, AutonomousDuStateChangeComplete, AutonomousDuStateChangeCompleteResponse,
    DeploymentUnitOperationType,
};
use tr069_client::cwmp::rpc::autonomous_transfer_complete::{
    AutonomousTransferComplete, AutonomousTransferCompleteResponse,
};
use tr069_client::cwmp::rpc::cancel_transfer::{CancelTransfer, CancelTransferResponse};
use tr069_client::cwmp::rpc::change_du_state::{ChangeDuState, ChangeDuStateResponse, DuOperation};
use tr069_client::cwmp::rpc::delete_object::{DeleteObject, DeleteObjectResponse};
use tr069_client::cwmp::rpc::download::{Download, DownloadResponse};
use tr069_client::cwmp::rpc::du_state_change_complete::{
    DeploymentUnitState, DuStateChangeComplete, DuStateChangeCompleteResponse, OpResultStruct,
};
use tr069_client::cwmp::rpc::factory_reset::{FactoryReset, FactoryResetResponse};
use tr069_client::cwmp::rpc::get_all_queued_transfers::{
    AllQueuedTransferStruct, GetAllQueuedTransfers, GetAllQueuedTransfersResponse,
};
use tr069_client::cwmp::rpc::get_parameter_attributes::{
    GetParameterAttributes, GetParameterAttributesResponse, ParameterAttributeStruct,
};
use tr069_client::cwmp::rpc::get_parameter_names::{
    GetParameterNames, GetParameterNamesResponse, ParameterInfoStruct,
};
use tr069_client::cwmp::rpc::get_parameter_values::{
    GetParameterValues, GetParameterValuesResponse,
};
use tr069_client::cwmp::rpc::get_queued_transfers::{
    GetQueuedTransfers, GetQueuedTransfersResponse, QueuedTransferStruct,
};
use tr069_client::cwmp::rpc::get_rpc_methods::{GetRpcMethods, GetRpcMethodsResponse};
use tr069_client::cwmp::rpc::inform::{DeviceIdStruct, EventStruct, Inform, InformResponse};
use tr069_client::cwmp::rpc::kicked::{Kicked, KickedResponse};
use tr069_client::cwmp::rpc::reboot::{Reboot, RebootResponse};
use tr069_client::cwmp::rpc::request_download::{
    ArgStruct, RequestDownload, RequestDownloadResponse,
};
use tr069_client::cwmp::rpc::schedule_download::{
    ScheduleDownload, ScheduleDownloadResponse, TimeWindowStruct,
};
use tr069_client::cwmp::rpc::schedule_inform::{ScheduleInform, ScheduleInformResponse};
use tr069_client::cwmp::rpc::set_parameter_attributes::{
    SetParameterAttributes, SetParameterAttributesResponse, SetParameterAttributesStruct,
};
use tr069_client::cwmp::rpc::set_parameter_values::{
    SetParameterValues, SetParameterValuesResponse,
};
use tr069_client::cwmp::rpc::transfer_complete::{TransferComplete, TransferCompleteResponse};
use tr069_client::cwmp::rpc::upload::{Upload, UploadResponse};
use tr069_client::cwmp::{
    Body, CwmpNamespace, DateTime, Envelope, Fault, FaultCode, FaultStruct, Header,
    ParameterValueStruct, SetParameterValuesFault, Value,
};
use xsd::SchemaVersion;

/// Which schema's value rules the sample instances follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// `cwmp-1-0.xsd`: fixed EventCode list, fault codes 9000–9013/9800–9899/8000–8005/8800–8899,
    /// TransferComplete FaultCode 0/9001/9002/9010/9011/9012, Notification 0–2, ...
    V10,
    /// `cwmp-1-2.xsd` / `cwmp-1-4.xsd`.
    V12,
}

/// The string value needing XML escaping that the brief asks for.
const ESCAPED: &str = "a<b & \"c\"";

/// Smallest number of message types (36 methods + Fault) the 1-0 pass must validate; the
/// published cwmp-1-0.xsd declares all of them.
const MIN_CWMP10_TYPES: usize = 37;

fn dt(s: &str) -> DateTime {
    DateTime::parse(s).unwrap_or_else(|e| panic!("test dateTime {s:?}: {e}"))
}

const UUID_1: &str = "6ba7b810-9dad-11d1-80b4-00c04fd430c8";
const UUID_2: &str = "F81D4FAE-7DEC-11D0-A765-00A0C91E6BF6";

/// One parameter value of every xsi:type the codec writes, plus the edge cases.
fn sample_values() -> Vec<ParameterValueStruct> {
    vec![
        ParameterValueStruct::new("Device.DeviceInfo.Description", Value::string(ESCAPED)),
        ParameterValueStruct::new(
            "Device.DeviceInfo.ProvisioningCode",
            Value::string("caf\u{e9} \u{1F600} 'q' > ]]> tab\there\r\nnext"),
        ),
        ParameterValueStruct::new("Device.DeviceInfo.X_Empty", Value::string("")),
        ParameterValueStruct::new("Device.Test.IntMin", Value::int(i32::MIN)),
        ParameterValueStruct::new("Device.Test.IntMax", Value::int(i32::MAX)),
        ParameterValueStruct::new("Device.DeviceInfo.UpTime", Value::unsigned_int(u32::MAX)),
        ParameterValueStruct::new("Device.Test.LongMin", Value::long(i64::MIN)),
        ParameterValueStruct::new(
            "Device.IP.Interface.1.Stats.BytesSent",
            Value::unsigned_long(u64::MAX),
        ),
        ParameterValueStruct::new(
            "Device.ManagementServer.PeriodicInformEnable",
            Value::boolean(true),
        ),
        ParameterValueStruct::new(
            "Device.ManagementServer.UpgradesManaged",
            Value::boolean(false),
        ),
        ParameterValueStruct::new(
            "Device.ManagementServer.PeriodicInformTime",
            Value::date_time(DateTime::UNKNOWN),
        ),
        ParameterValueStruct::new(
            "Device.Time.CurrentLocalTime",
            Value::date_time(dt("2024-05-06T07:08:09.123Z")),
        ),
        ParameterValueStruct::new(
            "Device.Test.DateTimeOffset",
            Value::date_time(dt("2024-02-29T23:59:59.000001-09:30")),
        ),
        ParameterValueStruct::new(
            "Device.Test.DateTimeLocal",
            Value::date_time(dt("2024-02-29T12:00:00")),
        ),
        ParameterValueStruct::new(
            "Device.Test.Base64",
            Value::base64(b"hello\x00\xff\xfe world"),
        ),
        ParameterValueStruct::new("Device.Test.Base64Empty", Value::base64(b"")),
        ParameterValueStruct::new(
            "Device.Test.HexBinary",
            Value::hex_binary(&[0xde, 0xad, 0xbe, 0xef, 0x00]),
        ),
        ParameterValueStruct::new("Device.Test.Untyped", Value::untyped(ESCAPED)),
    ]
}

fn events(p: Profile) -> Vec<EventStruct> {
    let mut v = vec![
        EventStruct::new("0 BOOTSTRAP", ""),
        EventStruct::new("1 BOOT", ""),
        EventStruct::new("2 PERIODIC", ""),
        EventStruct::new("4 VALUE CHANGE", ""),
        EventStruct::new("7 TRANSFER COMPLETE", ""),
        EventStruct::new("M Reboot", "reboot <&> \"42\""),
        EventStruct::new("M Download", "dl-7"),
        EventStruct::new("M X_00D09E_Frobnicate", "x"),
        EventStruct::new("X 00D09E Vendor Event", ""),
    ];
    if p == Profile::V12 {
        v.extend([
            EventStruct::new("10 AUTONOMOUS TRANSFER COMPLETE", ""),
            EventStruct::new("12 AUTONOMOUS DU STATE CHANGE COMPLETE", ""),
            EventStruct::new("13 WAKEUP", ""),
            EventStruct::new("M ScheduleDownload", "sd-1"),
            EventStruct::new("M ChangeDUState", "cdus-1"),
            EventStruct::new("X ACME Vendor Event", ""),
        ]);
    }
    v
}

fn op_result(state: DeploymentUnitState, fault: FaultStruct) -> OpResultStruct {
    OpResultStruct {
        uuid: UUID_1.to_owned(),
        deployment_unit_ref: "Device.SoftwareModules.DeploymentUnit.1".to_owned(),
        version: "1.0.3-beta & <rc>".to_owned(),
        current_state: state,
        resolved: true,
        execution_unit_ref_list:
            "Device.SoftwareModules.ExecutionUnit.1,Device.SoftwareModules.ExecutionUnit.2"
                .to_owned(),
        start_time: dt("2024-05-06T07:08:09Z"),
        complete_time: DateTime::UNKNOWN,
        fault,
    }
}

/// One or more fully populated instances of every message type, with values legal in `p`.
fn instances(p: Profile) -> Vec<(String, Body)> {
    let v12 = p == Profile::V12;
    let start = dt("2024-05-06T07:08:09Z");
    let end = dt("2024-05-06T07:09:10.5+02:00");
    let mut out: Vec<(&str, Body)> = vec![
        // ACS→CPE requests and CPE responses.
        (
            "two names",
            GetParameterValues {
                parameter_names: vec![
                    "Device.DeviceInfo.".to_owned(),
                    "Device.ManagementServer.PeriodicInformInterval".to_owned(),
                    String::new(),
                ],
            }
            .into(),
        ),
        (
            "every value type",
            GetParameterValuesResponse {
                parameter_list: sample_values(),
            }
            .into(),
        ),
        ("", GetRpcMethods.into()),
        (
            "method list",
            GetRpcMethodsResponse {
                method_list: [
                    "GetRPCMethods",
                    "SetParameterValues",
                    "GetParameterValues",
                    "Download",
                    "X_00D09E_Frobnicate",
                ]
                .map(str::to_owned)
                .to_vec(),
            }
            .into(),
        ),
        (
            "every value type",
            SetParameterValues {
                parameter_list: sample_values(),
                parameter_key: "key <&> \"1\" 0123456789012345".to_owned(),
            }
            .into(),
        ),
        ("", SetParameterValuesResponse { status: 1 }.into()),
        (
            "",
            GetParameterNames {
                parameter_path: "Device.IP.Interface.".to_owned(),
                next_level: true,
            }
            .into(),
        ),
        (
            "two entries",
            GetParameterNamesResponse {
                parameter_list: vec![
                    ParameterInfoStruct {
                        name: "Device.IP.Interface.1.".to_owned(),
                        writable: false,
                    },
                    ParameterInfoStruct {
                        name: "Device.IP.Interface.1.Enable".to_owned(),
                        writable: true,
                    },
                ],
            }
            .into(),
        ),
        (
            "two entries",
            SetParameterAttributes {
                parameter_list: vec![
                    SetParameterAttributesStruct {
                        name: "Device.DeviceInfo.SoftwareVersion".to_owned(),
                        notification_change: true,
                        notification: Some(2),
                        access_list_change: true,
                        access_list: vec!["Subscriber".to_owned(), "Subscriber".to_owned()],
                    },
                    SetParameterAttributesStruct {
                        name: "Device.ManagementServer.".to_owned(),
                        notification_change: true,
                        notification: Some(if v12 { 6 } else { 1 }),
                        access_list_change: true,
                        access_list: Vec::new(),
                    },
                ],
            }
            .into(),
        ),
        ("", SetParameterAttributesResponse.into()),
        (
            "two names",
            GetParameterAttributes {
                parameter_names: vec![
                    "Device.DeviceInfo.".to_owned(),
                    "Device.ManagementServer.URL".to_owned(),
                ],
            }
            .into(),
        ),
        (
            "two entries",
            GetParameterAttributesResponse {
                parameter_list: vec![
                    ParameterAttributeStruct {
                        name: "Device.DeviceInfo.SoftwareVersion".to_owned(),
                        notification: 2,
                        access_list: vec!["Subscriber".to_owned(), "Subscriber".to_owned()],
                    },
                    ParameterAttributeStruct {
                        name: "Device.ManagementServer.URL".to_owned(),
                        notification: if v12 { 5 } else { 0 },
                        access_list: Vec::new(),
                    },
                ],
            }
            .into(),
        ),
        (
            "",
            AddObject {
                object_name: "Device.IP.Interface.".to_owned(),
                parameter_key: "add <&> 1".to_owned(),
            }
            .into(),
        ),
        (
            "",
            AddObjectResponse {
                instance_number: u32::MAX,
                status: 1,
            }
            .into(),
        ),
        (
            "",
            DeleteObject {
                object_name: "Device.IP.Interface.3.".to_owned(),
                parameter_key: "del <&> 1".to_owned(),
            }
            .into(),
        ),
        ("", DeleteObjectResponse { status: 1 }.into()),
        (
            "",
            Reboot {
                command_key: "reboot <&> \"42\"".to_owned(),
            }
            .into(),
        ),
        ("", RebootResponse.into()),
        (
            "firmware",
            Download {
                command_key: "dl <&> 7 -- 32 characters long!!".to_owned(),
                file_type: "1 Firmware Upgrade Image".to_owned(),
                url: "https://files.example.com/fw.bin?a=1&b=<2>".to_owned(),
                username: "user & co".to_owned(),
                password: "p<a>ss\"word'".to_owned(),
                file_size: u32::MAX,
                target_file_name: "fw & <new>.bin".to_owned(),
                delay_seconds: 3600,
                success_url: "https://portal.example.com/ok?x=1&y=2".to_owned(),
                failure_url: "https://portal.example.com/ko?x=1&y=2".to_owned(),
            }
            .into(),
        ),
        (
            "vendor file type",
            Download {
                command_key: "dl-8".to_owned(),
                file_type: "X 00D09E Bootloader Image".to_owned(),
                url: "http://files.example.com/boot.bin".to_owned(),
                username: "u".to_owned(),
                password: "p".to_owned(),
                file_size: 1,
                target_file_name: "boot.bin".to_owned(),
                delay_seconds: 0,
                success_url: "http://portal.example.com/ok".to_owned(),
                failure_url: "http://portal.example.com/ko".to_owned(),
            }
            .into(),
        ),
        (
            "completed",
            DownloadResponse {
                status: 0,
                start_time: start,
                complete_time: end,
            }
            .into(),
        ),
        ("queued (Unknown Time)", DownloadResponse::queued().into()),
        (
            "log file",
            Upload {
                command_key: "ul <&> 1".to_owned(),
                file_type: "2 Vendor Log File".to_owned(),
                url: "https://files.example.com/upload?id=1&k=<2>".to_owned(),
                username: "user & co".to_owned(),
                password: "p<a>ss\"word'".to_owned(),
                delay_seconds: 30,
            }
            .into(),
        ),
        (
            "config file",
            Upload {
                command_key: "ul-2".to_owned(),
                file_type: "1 Vendor Configuration File".to_owned(),
                url: "http://files.example.com/cfg".to_owned(),
                username: "u".to_owned(),
                password: "p".to_owned(),
                delay_seconds: u32::MAX,
            }
            .into(),
        ),
        (
            "completed",
            UploadResponse {
                status: 0,
                start_time: start,
                complete_time: end,
            }
            .into(),
        ),
        ("queued (Unknown Time)", UploadResponse::queued().into()),
        ("", FactoryReset.into()),
        ("", FactoryResetResponse.into()),
        (
            "",
            ScheduleInform {
                delay_seconds: 86_400,
                command_key: "si <&> 1".to_owned(),
            }
            .into(),
        ),
        ("", ScheduleInformResponse.into()),
        (
            "two windows",
            ScheduleDownload {
                command_key: "sd <&> 1".to_owned(),
                file_type: "1 Firmware Upgrade Image".to_owned(),
                url: "https://files.example.com/fw.bin?a=1&b=2".to_owned(),
                username: "user & co".to_owned(),
                password: "p<a>ss\"word'".to_owned(),
                file_size: 12_345_678,
                target_file_name: "fw.bin".to_owned(),
                time_window_list: vec![
                    TimeWindowStruct {
                        window_start: 0,
                        window_end: 3600,
                        window_mode: "1 At Any Time".to_owned(),
                        user_message: "Please don't <unplug> & wait".to_owned(),
                        max_retries: -1,
                    },
                    TimeWindowStruct {
                        window_start: 7200,
                        window_end: u32::MAX,
                        window_mode: "4 Confirmation Needed".to_owned(),
                        user_message: "Confirm \"update\"".to_owned(),
                        max_retries: 3,
                    },
                ],
            }
            .into(),
        ),
        ("", ScheduleDownloadResponse.into()),
        (
            "",
            CancelTransfer {
                command_key: "dl <&> 7".to_owned(),
            }
            .into(),
        ),
        ("", CancelTransferResponse.into()),
        ("", GetQueuedTransfers.into()),
        (
            "two transfers",
            GetQueuedTransfersResponse {
                transfer_list: vec![
                    QueuedTransferStruct {
                        command_key: "dl <&> 7".to_owned(),
                        state: 1,
                    },
                    QueuedTransferStruct {
                        command_key: String::new(),
                        state: 3,
                    },
                ],
            }
            .into(),
        ),
        ("", GetAllQueuedTransfers.into()),
        (
            "two transfers",
            GetAllQueuedTransfersResponse {
                transfer_list: vec![
                    AllQueuedTransferStruct {
                        command_key: "dl <&> 7".to_owned(),
                        state: 2,
                        is_download: true,
                        file_type: "1 Firmware Upgrade Image".to_owned(),
                        file_size: 1_048_576,
                        target_file_name: "fw & <new>.bin".to_owned(),
                    },
                    AllQueuedTransferStruct {
                        command_key: "ul-2".to_owned(),
                        state: 1,
                        is_download: false,
                        file_type: "4 Vendor Log File 2".to_owned(),
                        file_size: 0,
                        target_file_name: String::new(),
                    },
                ],
            }
            .into(),
        ),
        (
            "install, update, uninstall",
            ChangeDuState {
                operations: vec![
                    DuOperation::Install {
                        url: "https://files.example.com/pkg/app.ipk?a=1&b=2".to_owned(),
                        uuid: UUID_1.to_owned(),
                        username: "user & co".to_owned(),
                        password: "p<a>ss\"word'".to_owned(),
                        execution_env_ref: "Device.SoftwareModules.ExecEnv.1".to_owned(),
                    },
                    DuOperation::Update {
                        uuid: UUID_2.to_owned(),
                        version: "2.0 <rc1>".to_owned(),
                        url: "https://files.example.com/pkg/app-2.ipk".to_owned(),
                        username: "user & co".to_owned(),
                        password: "p<a>ss\"word'".to_owned(),
                    },
                    DuOperation::Uninstall {
                        uuid: UUID_1.to_owned(),
                        version: "1.0".to_owned(),
                        execution_env_ref: "Device.SoftwareModules.ExecEnv.1".to_owned(),
                    },
                ],
                command_key: "cdus <&> 1".to_owned(),
            }
            .into(),
        ),
        ("", ChangeDuStateResponse.into()),
        // CPE→ACS requests and ACS responses.
        (
            "every event and value type",
            Inform {
                device_id: DeviceIdStruct {
                    manufacturer: "Example & <Sons> \"Networks\"".to_owned(),
                    oui: "00D09E".to_owned(),
                    product_class: "Home<Router> & co".to_owned(),
                    serial_number: "SN-0001 & <2>".to_owned(),
                },
                event: events(p),
                max_envelopes: 1,
                current_time: dt("2024-05-06T07:08:09.5Z"),
                retry_count: 3,
                parameter_list: sample_values(),
            }
            .into(),
        ),
        (
            "Unknown Time, empty lists",
            Inform {
                device_id: DeviceIdStruct {
                    manufacturer: "Example".to_owned(),
                    oui: "A1B2C3".to_owned(),
                    product_class: String::new(),
                    serial_number: "1".to_owned(),
                },
                event: Vec::new(),
                max_envelopes: u32::MAX,
                current_time: DateTime::UNKNOWN,
                retry_count: u32::MAX,
                parameter_list: Vec::new(),
            }
            .into(),
        ),
        ("", InformResponse { max_envelopes: 1 }.into()),
        (
            "failed",
            TransferComplete {
                command_key: "dl <&> 7".to_owned(),
                fault_struct: FaultStruct::new(
                    if v12 {
                        FaultCode::UnableToCompleteDownload
                    } else {
                        FaultCode::FileTransferFailure
                    },
                    "File transfer failure: <timeout> & \"retry\"",
                ),
                start_time: start,
                complete_time: end,
            }
            .into(),
        ),
        (
            "succeeded, Unknown Time",
            TransferComplete {
                command_key: String::new(),
                fault_struct: FaultStruct::success(),
                start_time: DateTime::UNKNOWN,
                complete_time: DateTime::UNKNOWN,
            }
            .into(),
        ),
        ("", TransferCompleteResponse.into()),
        (
            "",
            AutonomousTransferComplete {
                announce_url: "http://acs.example.com/announce?a=1&b=2".to_owned(),
                transfer_url: "http://files.example.com/fw.bin?a=1&b=<2>".to_owned(),
                is_download: true,
                file_type: "1 Firmware Upgrade Image".to_owned(),
                file_size: 4_194_304,
                target_file_name: "fw & <new>.bin".to_owned(),
                fault_struct: FaultStruct::new(
                    FaultCode::UnableToAccessFile,
                    "unable to access <file> & \"x\"",
                ),
                start_time: start,
                complete_time: end,
            }
            .into(),
        ),
        ("", AutonomousTransferCompleteResponse.into()),
        (
            "two arguments",
            RequestDownload {
                file_type: if v12 {
                    "X ACME Bootloader".to_owned()
                } else {
                    "3 Vendor Configuration File".to_owned()
                },
                file_type_arg: vec![
                    ArgStruct::new("Version", "2.0 & <beta> \"x\""),
                    ArgStruct::new("Channel", ""),
                ],
            }
            .into(),
        ),
        ("", RequestDownloadResponse.into()),
        (
            "",
            Kicked {
                command: "login & <go>".to_owned(),
                referer: "http://portal.example.com/?a=1&b=2".to_owned(),
                arg: "user=\"x\"&y<z".to_owned(),
                next: "http://portal.example.com/next?a=1&b=2".to_owned(),
            }
            .into(),
        ),
        (
            "",
            KickedResponse {
                next_url: "http://portal.example.com/done?a=1&b=2".to_owned(),
            }
            .into(),
        ),
        (
            "two results",
            DuStateChangeComplete {
                results: vec![
                    op_result(DeploymentUnitState::Installed, FaultStruct::success()),
                    op_result(
                        DeploymentUnitState::Failed,
                        FaultStruct::new(FaultCode::FileCorrupted, "corrupt <file> & \"x\""),
                    ),
                ],
                command_key: "cdus <&> 1".to_owned(),
            }
            .into(),
        ),
        ("", DuStateChangeCompleteResponse.into()),
        (
            "three results",
            AutonomousDuStateChangeComplete {
                results: vec![
                    AutonOpResultStruct {
                        result: op_result(DeploymentUnitState::Installed, FaultStruct::success()),
                        operation_performed: DeploymentUnitOperationType::Install,
                    },
                    AutonOpResultStruct {
                        result: op_result(
                            DeploymentUnitState::Uninstalled,
                            FaultStruct::new(FaultCode::UnknownDeploymentUnit, ""),
                        ),
                        operation_performed: DeploymentUnitOperationType::Uninstall,
                    },
                    AutonOpResultStruct {
                        result: op_result(DeploymentUnitState::Installed, FaultStruct::success()),
                        operation_performed: DeploymentUnitOperationType::Other(
                            "X_00D09E_Repair".to_owned(),
                        ),
                    },
                ],
            }
            .into(),
        ),
        ("", AutonomousDuStateChangeCompleteResponse.into()),
        // SOAP Faults.
        (
            "9000 method not supported",
            Body::Fault(Fault::new(FaultCode::MethodNotSupported)),
        ),
        (
            "9003 with SetParameterValuesFaults",
            Body::Fault(Fault::set_parameter_values(vec![
                SetParameterValuesFault::new(
                    "Device.ManagementServer.PeriodicInformInterval",
                    FaultCode::InvalidParameterValue,
                    Some("value <0> & \"negative\""),
                ),
                SetParameterValuesFault::new(
                    "Device.DeviceInfo.Manufacturer",
                    FaultCode::NonWritableParameter,
                    None,
                ),
                SetParameterValuesFault::new(
                    "Device.No.Such.Param",
                    FaultCode::InvalidParameterName,
                    None,
                ),
                SetParameterValuesFault::new(
                    "Device.Test.IntMin",
                    FaultCode::InvalidParameterType,
                    None,
                ),
            ])),
        ),
        (
            "9002 with escaped string",
            Body::Fault(Fault::with_string(FaultCode::InternalError, ESCAPED)),
        ),
        (
            "8005 retry request (ACS)",
            Body::Fault(Fault::new(FaultCode::RetryRequest)),
        ),
        (
            "9850 vendor",
            Body::Fault(Fault {
                soap_faultcode: "Server".to_owned(),
                soap_faultstring: "CWMP fault".to_owned(),
                code: 9850,
                string: "vendor <fault> & \"x\"".to_owned(),
                set_parameter_values_faults: vec![SetParameterValuesFault {
                    parameter_name: "Device.X_00D09E_Thing".to_owned(),
                    fault_code: 9899,
                    fault_string: "vendor".to_owned(),
                }],
            }),
        ),
    ];
    if v12 {
        out.extend([
            (
                "1.2 file types",
                Download {
                    command_key: "dl-9".to_owned(),
                    file_type: "4 Tone File".to_owned(),
                    url: "http://files.example.com/tone".to_owned(),
                    username: "u".to_owned(),
                    password: "p".to_owned(),
                    file_size: 2,
                    target_file_name: "tone.wav".to_owned(),
                    delay_seconds: 1,
                    success_url: "http://portal.example.com/ok".to_owned(),
                    failure_url: "http://portal.example.com/ko".to_owned(),
                }
                .into(),
            ),
            (
                "1.2 indexed file type",
                Upload {
                    command_key: "ul-3".to_owned(),
                    file_type: "3 Vendor Configuration File 2".to_owned(),
                    url: "http://files.example.com/cfg2".to_owned(),
                    username: "u".to_owned(),
                    password: "p".to_owned(),
                    delay_seconds: 0,
                }
                .into(),
            ),
            (
                "only the required operation fields",
                ChangeDuState {
                    operations: vec![
                        DuOperation::Install {
                            url: "http://files.example.com/app.ipk".to_owned(),
                            uuid: String::new(),
                            username: String::new(),
                            password: String::new(),
                            execution_env_ref: String::new(),
                        },
                        DuOperation::Update {
                            uuid: String::new(),
                            version: String::new(),
                            url: String::new(),
                            username: String::new(),
                            password: String::new(),
                        },
                        DuOperation::Uninstall {
                            uuid: UUID_2.to_owned(),
                            version: String::new(),
                            execution_env_ref: String::new(),
                        },
                    ],
                    command_key: String::new(),
                }
                .into(),
            ),
            (
                "9032 deployment unit",
                Body::Fault(Fault::new(FaultCode::VersionAlreadyExists)),
            ),
            (
                "8006 ACS version incompatible",
                Body::Fault(Fault::new(FaultCode::AcsVersionIncompatible)),
            ),
        ]);
    }
    out.into_iter()
        .enumerate()
        .map(|(i, (what, body))| {
            let label = if what.is_empty() {
                format!("#{i:02} {}", body.name())
            } else {
                format!("#{i:02} {} ({what})", body.name())
            };
            (label, body)
        })
        .collect()
}

fn header(v13_headers: bool) -> Header {
    let mut h = Header {
        id: Some("id-1 <&> \"x\"".to_owned()),
        hold_requests: Some(false),
        ..Header::default()
    };
    if v13_headers {
        h.session_timeout = Some(60);
        h.supported_cwmp_versions = Some("1.0,1.1,1.2,1.3,1.4".to_owned());
        h.use_cwmp_version = Some("1.4".to_owned());
    }
    h
}

fn encode(namespace: CwmpNamespace, header: Header, body: Body) -> String {
    Envelope::new(namespace, header, body).encode()
}

/// The set of message names (`Body::name`) of `instances`.
fn names(instances: &[(String, Body)]) -> BTreeSet<&'static str> {
    instances.iter().map(|(_, b)| b.name()).collect()
}

fn every_message_type() -> BTreeSet<&'static str> {
    Body::METHOD_NAMES
        .iter()
        .copied()
        .chain(["Fault"])
        .collect()
}

/// Encodes every instance and validates the whole batch with one xmllint run.
fn check_all(
    instances: Vec<(String, Body)>,
    namespace: CwmpNamespace,
    header: &Header,
    schema: SchemaVersion,
) {
    if !xsd::require_xmllint() {
        return;
    }
    let msgs: Vec<(String, String)> = instances
        .into_iter()
        .map(|(label, body)| (label, encode(namespace, header.clone(), body)))
        .collect();
    assert!(!msgs.is_empty());
    let failures = xsd::validate_many(&msgs, schema);
    if !failures.is_empty() {
        let mut report = xsd::format_failures(&failures);
        for (label, _) in &failures {
            let xml = &msgs.iter().find(|(l, _)| l == label).expect("label").1;
            report.push_str(&format!("=== encoded {label}:\n{xml}\n"));
        }
        panic!(
            "{} of {} codec messages in namespace {} do not validate against {}:\n{report}",
            failures.len(),
            msgs.len(),
            namespace.uri(),
            schema.xsd_file()
        );
    }
    eprintln!(
        "{} messages validate against {}",
        msgs.len(),
        schema.xsd_file()
    );
}

#[test]
fn instances_cover_every_message_type() {
    let all = every_message_type();
    let v12 = instances(Profile::V12);
    assert_eq!(
        names(&v12),
        all,
        "every Body variant needs a fully populated instance here"
    );
    assert_eq!(names(&instances(Profile::V10)), all);
    let labels: BTreeSet<&String> = v12.iter().map(|(l, _)| l).collect();
    assert_eq!(labels.len(), v12.len(), "labels must be unique");
}

/// Guards the "every field populated / every value type" claim: the encoded instances carry
/// each xsi:type, the Unknown Time, escaped text and the optional ChangeDUState fields.
#[test]
fn instances_are_fully_populated() {
    let all: String = instances(Profile::V12)
        .into_iter()
        .map(|(_, body)| encode(CwmpNamespace::Cwmp12, header(true), body))
        .collect();
    for needle in [
        r#"xsi:type="xsd:string">a&lt;b &amp; "c"</Value>"#,
        r#"xsi:type="xsd:int">-2147483648<"#,
        r#"xsi:type="xsd:unsignedInt">4294967295<"#,
        r#"xsi:type="xsd:long">-9223372036854775808<"#,
        r#"xsi:type="xsd:unsignedLong">18446744073709551615<"#,
        r#"xsi:type="xsd:boolean">true<"#,
        r#"xsi:type="xsd:boolean">false<"#,
        r#"xsi:type="xsd:dateTime">0001-01-01T00:00:00Z<"#,
        r#"xsi:type="xsd:dateTime">2024-02-29T23:59:59.000001-09:30<"#,
        r#"xsi:type="soap-enc:base64">aGVsbG8A//4gd29ybGQ=<"#,
        r#"xsi:type="xsd:hexBinary">deadbeef00<"#,
        r#"<Value>a&lt;b &amp; "c"</Value>"#,
        "&#13;",
        r#"<cwmp:ID soap-env:mustUnderstand="1">id-1 &lt;&amp;&gt; "x"</cwmp:ID>"#,
        r#"<cwmp:HoldRequests soap-env:mustUnderstand="1">false</cwmp:HoldRequests>"#,
        "<cwmp:SessionTimeout",
        "<cwmp:SupportedCWMPVersions",
        "<cwmp:UseCWMPVersion",
        r#"xsi:type="cwmp:InstallOpStruct""#,
        r#"xsi:type="cwmp:UpdateOpStruct""#,
        r#"xsi:type="cwmp:UninstallOpStruct""#,
        "<ExecutionEnvRef>",
        "<Username>",
        "<SetParameterValuesFault>",
    ] {
        assert!(
            all.contains(needle),
            "no encoded instance contains {needle:?}"
        );
    }
}

#[test]
fn every_message_validates_against_cwmp_1_2() {
    check_all(
        instances(Profile::V12),
        CwmpNamespace::Cwmp12,
        &header(false),
        SchemaVersion::Cwmp12,
    );
}

#[test]
fn every_message_with_cwmp_1_4_headers_validates_against_cwmp_1_4() {
    check_all(
        instances(Profile::V12),
        CwmpNamespace::Cwmp12,
        &header(true),
        SchemaVersion::Cwmp14,
    );
}

/// Names of the top-level `<xs:element name="...">` declarations of a schema document.
fn top_level_elements(schema: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut depth = 0usize;
    let mut rest = schema;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            let end = comment.find("-->").expect("unterminated comment in schema");
            rest = &comment[end + 3..];
            continue;
        }
        let end = rest.find('>').expect("unterminated tag in schema");
        let tag = &rest[..=end];
        rest = &rest[end + 1..];
        if tag.starts_with("<?") || tag.starts_with("<!") {
            continue;
        }
        if tag.starts_with("</") {
            depth = depth.checked_sub(1).expect("unbalanced schema");
            continue;
        }
        let tag_name = tag[1..]
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or_default();
        // depth 1: a child of xs:schema.
        if depth == 1 && (tag_name == "element" || tag_name.ends_with(":element")) {
            if let Some(i) = tag.find(" name=\"") {
                let name = &tag[i + 7..];
                out.insert(name[..name.find('"').expect("quoted name")].to_owned());
            }
        }
        if !tag.ends_with("/>") {
            depth += 1;
        }
    }
    out
}

#[test]
fn every_message_declared_in_cwmp_1_0_validates_against_it() {
    let path = xsd::bbf_dir().join(SchemaVersion::Cwmp10.xsd_file());
    let schema =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let declared = top_level_elements(&schema);
    for header_element in ["ID", "HoldRequests", "Inform", "Fault"] {
        assert!(
            declared.contains(header_element),
            "schema scan broken: {header_element} not found among {declared:?}"
        );
    }
    let (in_10, not_in_10): (Vec<_>, Vec<_>) = instances(Profile::V10)
        .into_iter()
        .partition(|(_, body)| declared.contains(body.name()));
    let types = names(&in_10);
    assert!(
        types.len() >= MIN_CWMP10_TYPES,
        "only {} message types of the codec are declared in cwmp-1-0.xsd (expected at least \
         {MIN_CWMP10_TYPES}): {types:?}",
        types.len()
    );
    eprintln!(
        "cwmp-1-0.xsd: {} message types ({} instances); not declared there: {:?}",
        types.len(),
        in_10.len(),
        names(&not_in_10)
    );
    // The 1.3/1.4 headers are populated too: the codec must leave them out of a 1-0 message
    // (the strict Header validation would reject them).
    check_all(
        in_10,
        CwmpNamespace::Cwmp10,
        &header(true),
        SchemaVersion::Cwmp10,
    );
}

// ---------------------------------------------------------------------------------------------
// Negative controls: the same pipeline must reject invalid messages.

/// Replaces exactly one occurrence of `from` (which must occur once) in `xml`.
#[track_caller]
fn replace_once(xml: &str, from: &str, to: &str) -> String {
    assert_eq!(
        xml.matches(from).count(),
        1,
        "{from:?} must occur exactly once in:\n{xml}"
    );
    xml.replacen(from, to, 1)
}

/// Swaps the first `<a>…</a>` element and the first `<b>…</b>` element (a before b).
#[track_caller]
fn swap_elements(xml: &str, a: &str, b: &str) -> String {
    let span = |name: &str| {
        let start = xml
            .find(&format!("<{name}>"))
            .unwrap_or_else(|| panic!("no <{name}> in:\n{xml}"));
        let close = format!("</{name}>");
        let end = start + xml[start..].find(&close).expect("closing tag") + close.len();
        (start, end)
    };
    let (a0, a1) = span(a);
    let (b0, b1) = span(b);
    assert!(a1 <= b0, "<{a}> must precede <{b}>");
    format!(
        "{}{}{}{}{}",
        &xml[..a0],
        &xml[b0..b1],
        &xml[a1..b0],
        &xml[a0..a1],
        &xml[b1..]
    )
}

#[test]
fn negative_controls_are_rejected() {
    if !xsd::require_xmllint() {
        return;
    }
    let ns12 = CwmpNamespace::Cwmp12;
    let ns10 = CwmpNamespace::Cwmp10;
    let by_name = |p: Profile, name: &str| -> Body {
        instances(p)
            .into_iter()
            .find(|(_, b)| b.name() == name)
            .unwrap_or_else(|| panic!("no {name} instance"))
            .1
    };
    let inform = |oui: &str, events: Vec<EventStruct>| -> Body {
        let Body::Inform(mut i) = by_name(Profile::V12, "Inform") else {
            unreachable!()
        };
        i.device_id.oui = oui.to_owned();
        i.event = events;
        i.into()
    };
    let tc = encode(
        ns12,
        header(false),
        by_name(Profile::V12, "TransferComplete"),
    );
    let gpv = encode(
        ns12,
        header(false),
        by_name(Profile::V12, "GetParameterValuesResponse"),
    );
    let cdus = encode(ns12, header(false), by_name(Profile::V12, "ChangeDUState"));
    let reboot = encode(ns12, header(false), by_name(Profile::V12, "Reboot"));

    // (schema, label, message, a word xmllint's complaint must contain)
    let cases: Vec<(SchemaVersion, &str, String, &str)> = vec![
        (
            SchemaVersion::Cwmp12,
            "Inform with a lower-case OUI",
            encode(
                ns12,
                header(false),
                inform("00d09e", vec![EventStruct::new("1 BOOT", "")]),
            ),
            "OUI",
        ),
        (
            SchemaVersion::Cwmp12,
            "TransferComplete with CommandKey and FaultStruct swapped",
            swap_elements(&tc, "CommandKey", "FaultStruct"),
            "FaultStruct",
        ),
        (
            SchemaVersion::Cwmp12,
            "TransferComplete without StartTime",
            {
                let start = tc.find("<StartTime>").expect("StartTime");
                let end = tc.find("</StartTime>").expect("/StartTime") + "</StartTime>".len();
                format!("{}{}", &tc[..start], &tc[end..])
            },
            "CompleteTime",
        ),
        (
            SchemaVersion::Cwmp12,
            "GetParameterValuesResponse without soap-enc:arrayType",
            replace_once(
                &gpv,
                &format!(
                    r#" soap-enc:arrayType="cwmp:ParameterValueStruct[{}]""#,
                    sample_values().len()
                ),
                "",
            ),
            "arrayType",
        ),
        (
            SchemaVersion::Cwmp12,
            "GetParameterValuesResponse with a bad xsd:int",
            replace_once(
                &gpv,
                r#"xsi:type="xsd:int">-2147483648<"#,
                r#"xsi:type="xsd:int">-2147483649<"#,
            ),
            "int",
        ),
        (
            SchemaVersion::Cwmp12,
            "cwmp:ID without mustUnderstand",
            replace_once(
                &reboot,
                r#"<cwmp:ID soap-env:mustUnderstand="1">"#,
                "<cwmp:ID>",
            ),
            "mustUnderstand",
        ),
        (
            SchemaVersion::Cwmp12,
            "Reboot with a 33-character CommandKey",
            encode(
                ns12,
                header(false),
                Reboot {
                    command_key: "k".repeat(33),
                }
                .into(),
            ),
            "CommandKey",
        ),
        (
            SchemaVersion::Cwmp12,
            "AddObject with an ObjectName not ending in a dot",
            encode(
                ns12,
                header(false),
                AddObject {
                    object_name: "Device.IP.Interface".to_owned(),
                    parameter_key: String::new(),
                }
                .into(),
            ),
            "ObjectName",
        ),
        (
            SchemaVersion::Cwmp12,
            "GetParameterValues with no names",
            encode(
                ns12,
                header(false),
                GetParameterValues {
                    parameter_names: Vec::new(),
                }
                .into(),
            ),
            "ParameterNames",
        ),
        (
            SchemaVersion::Cwmp12,
            "ChangeDUState Operations without xsi:type (abstract type)",
            cdus.replace(r#" xsi:type="cwmp:InstallOpStruct""#, "")
                .replace(r#" xsi:type="cwmp:UpdateOpStruct""#, "")
                .replace(r#" xsi:type="cwmp:UninstallOpStruct""#, ""),
            "Operations",
        ),
        (
            SchemaVersion::Cwmp12,
            "1.3/1.4 headers against cwmp-1-2.xsd",
            encode(ns12, header(true), by_name(Profile::V12, "Inform")),
            "SessionTimeout",
        ),
        (
            SchemaVersion::Cwmp12,
            "a method this schema does not declare",
            replace_once(&reboot, "<cwmp:Reboot>", "<cwmp:Rebot>")
                .replace("</cwmp:Reboot>", "</cwmp:Rebot>"),
            "Rebot",
        ),
        (
            SchemaVersion::Cwmp10,
            "a cwmp-1-2 message against cwmp-1-0.xsd",
            reboot.clone(),
            "",
        ),
        (
            SchemaVersion::Cwmp10,
            "1-0 Inform with a 1.1+ event code",
            encode(
                ns10,
                header(false),
                inform(
                    "00D09E",
                    vec![EventStruct::new("10 AUTONOMOUS TRANSFER COMPLETE", "")],
                ),
            ),
            "EventCode",
        ),
        (
            SchemaVersion::Cwmp10,
            "1-0 Fault with code 9020",
            encode(
                ns10,
                header(false),
                Body::Fault(Fault::new(FaultCode::DownloadOutsideTimeWindows)),
            ),
            "FaultCode",
        ),
        (
            SchemaVersion::Cwmp10,
            "1-0 Download with FileType 4 Tone File",
            encode(ns10, header(false), {
                let Body::Download(mut d) = by_name(Profile::V10, "Download") else {
                    unreachable!()
                };
                d.file_type = "4 Tone File".to_owned();
                d.into()
            }),
            "FileType",
        ),
        (
            SchemaVersion::Cwmp10,
            "1-0 TransferComplete with FaultCode 9017",
            encode(ns10, header(false), {
                let Body::TransferComplete(mut t) = by_name(Profile::V10, "TransferComplete")
                else {
                    unreachable!()
                };
                t.fault_struct = FaultStruct::new(FaultCode::UnableToCompleteDownload, "x");
                t.into()
            }),
            "FaultCode",
        ),
    ];

    let mut problems = Vec::new();
    for schema in SchemaVersion::ALL {
        let msgs: Vec<(String, String)> = cases
            .iter()
            .filter(|(s, ..)| *s == schema)
            .map(|(_, label, xml, _)| (label.to_string(), xml.clone()))
            .collect();
        let failures = xsd::validate_many(&msgs, schema);
        for (s, label, xml, needle) in cases.iter().filter(|(s, ..)| *s == schema) {
            match failures.iter().find(|(l, _)| l == label) {
                None => problems.push(format!(
                    "--- {label}: unexpectedly validates against {}\n{xml}",
                    s.xsd_file()
                )),
                Some((_, err)) if !err.contains(needle) => problems.push(format!(
                    "--- {label}: rejected, but not for {needle:?}:\n{err}"
                )),
                Some((_, err)) => eprintln!(
                    "rejected as expected by {}: {label}: {}",
                    s.xsd_file(),
                    err.lines().next().unwrap_or_default()
                ),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Property-based coverage: random but schema-valid messages, validated in one batch each.

const RANDOM_CASES: usize = 64;

/// Text of at most `max` characters, including the characters that need escaping and non-ASCII.
fn arb_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "[a-zA-Z0-9 &<>\"'.:/_\u{e9}\u{1F600}\\]\\[-]{{0,{max}}}"
    ))
    .expect("valid regex")
}

fn arb_param_name() -> impl Strategy<Value = String> {
    "Device(\\.[A-Za-z_][A-Za-z0-9_]{0,10}|\\.[1-9][0-9]{0,3}){0,6}\\.?"
}

fn arb_datetime() -> impl Strategy<Value = DateTime> {
    const MIN: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    prop_oneof![
        1 => Just(DateTime::UNKNOWN),
        6 => (
            MIN..=MAX,
            prop_oneof![Just(0u32), (0u32..1000).prop_map(|ms| ms * 1_000_000), 0u32..1_000_000_000],
            // xs:dateTime allows offsets of -14:00..=+14:00 only.
            prop_oneof![Just(None), Just(Some(0i16)), (-840i16..=840).prop_map(Some)],
        )
            .prop_map(|(s, n, o)| {
                let utc = DateTime::from_unix(s, n);
                utc.with_offset(o).unwrap_or(utc)
            }),
    ]
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[ \t\r\na-zA-Z0-9&<>\"'\u{e9}\u{1F600}]{0,16}".prop_map(Value::string),
        "[ \t\r\na-zA-Z0-9&<>\"'\u{e9}]{0,16}".prop_map(Value::untyped),
        any::<i32>().prop_map(Value::int),
        any::<u32>().prop_map(Value::unsigned_int),
        any::<i64>().prop_map(Value::long),
        any::<u64>().prop_map(Value::unsigned_long),
        any::<bool>().prop_map(Value::boolean),
        arb_datetime().prop_map(Value::date_time),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Value::base64(&b)),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(|b| Value::hex_binary(&b)),
    ]
}

fn arb_parameter_list() -> impl Strategy<Value = Vec<ParameterValueStruct>> {
    proptest::collection::vec(
        (arb_param_name(), arb_value()).prop_map(|(n, v)| ParameterValueStruct::new(n, v)),
        0..8,
    )
}

fn arb_event(p: Profile) -> impl Strategy<Value = EventStruct> {
    let mut codes: Vec<BoxedStrategy<String>> = [
        "0 BOOTSTRAP",
        "1 BOOT",
        "2 PERIODIC",
        "3 SCHEDULED",
        "4 VALUE CHANGE",
        "5 KICKED",
        "6 CONNECTION REQUEST",
        "7 TRANSFER COMPLETE",
        "8 DIAGNOSTICS COMPLETE",
        "9 REQUEST DOWNLOAD",
        "M Reboot",
        "M ScheduleInform",
        "M Download",
        "M Upload",
    ]
    .into_iter()
    .map(|c| Just(c.to_owned()).boxed())
    .collect();
    codes.push("M X_[A-Za-z0-9_]{1,20}".boxed());
    codes.push("X [0-9A-F]{6} [ -~]{1,40}".boxed());
    if p == Profile::V12 {
        for c in [
            "10 AUTONOMOUS TRANSFER COMPLETE",
            "11 DU STATE CHANGE COMPLETE",
            "12 AUTONOMOUS DU STATE CHANGE COMPLETE",
            "13 WAKEUP",
            "M ScheduleDownload",
            "M ChangeDUState",
        ] {
            codes.push(Just(c.to_owned()).boxed());
        }
        codes.push("X [A-Za-z0-9]{1,10} [ -~]{1,40}".boxed());
    }
    (proptest::strategy::Union::new(codes), arb_text(32))
        .prop_map(|(code, key)| EventStruct::new(code, key))
}

fn arb_inform(p: Profile) -> impl Strategy<Value = Body> {
    (
        (arb_text(64), "[0-9A-F]{6}", arb_text(64), arb_text(64)),
        proptest::collection::vec(arb_event(p), 0..6),
        any::<u32>(),
        arb_datetime(),
        any::<u32>(),
        arb_parameter_list(),
    )
        .prop_map(
            |((manufacturer, oui, product_class, serial_number), event, me, ct, rc, pl)| {
                Inform {
                    device_id: DeviceIdStruct {
                        manufacturer,
                        oui,
                        product_class,
                        serial_number,
                    },
                    event,
                    max_envelopes: me,
                    current_time: ct,
                    retry_count: rc,
                    parameter_list: pl,
                }
                .into()
            },
        )
}

/// Fault codes legal in a cwmp:Fault (top level) and in a SetParameterValuesFault.
fn fault_codes(p: Profile) -> (Vec<u32>, Vec<u32>) {
    let spv: Vec<u32> = match p {
        Profile::V10 => (9000..=9013).chain(9800..=9899).collect(),
        Profile::V12 => (9000..=9899).collect(),
    };
    let top: Vec<u32> = match p {
        Profile::V10 => spv
            .iter()
            .copied()
            .chain(8000..=8005)
            .chain(8800..=8899)
            .collect(),
        Profile::V12 => spv.iter().copied().chain(8000..=8899).collect(),
    };
    (top, spv)
}

fn arb_fault(p: Profile) -> impl Strategy<Value = Body> {
    let (top, spv) = fault_codes(p);
    (
        prop_oneof![Just("Client".to_owned()), Just("Server".to_owned())],
        arb_text(40),
        proptest::sample::select(top),
        arb_text(80),
        proptest::collection::vec(
            (
                arb_param_name(),
                proptest::sample::select(spv),
                arb_text(60),
            )
                .prop_map(|(parameter_name, fault_code, fault_string)| {
                    SetParameterValuesFault {
                        parameter_name,
                        fault_code,
                        fault_string,
                    }
                }),
            0..5,
        ),
    )
        .prop_map(|(fc, fs, code, string, spv)| {
            Body::Fault(Fault {
                soap_faultcode: fc,
                soap_faultstring: fs,
                code,
                string,
                set_parameter_values_faults: spv,
            })
        })
}

fn arb_body(p: Profile) -> impl Strategy<Value = Body> {
    prop_oneof![
        arb_parameter_list()
            .prop_map(|parameter_list| { GetParameterValuesResponse { parameter_list }.into() }),
        arb_inform(p),
        (arb_parameter_list(), arb_text(32)).prop_map(|(parameter_list, parameter_key)| {
            SetParameterValues {
                parameter_list,
                parameter_key,
            }
            .into()
        }),
        arb_fault(p),
    ]
}

fn arb_header(p: Profile) -> impl Strategy<Value = Header> {
    let v13 = p == Profile::V12;
    (
        proptest::option::of(arb_text(20)),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of("1\\.[0-4](,1\\.[0-4]){0,4}"),
        proptest::option::of("1\\.[0-4]"),
    )
        .prop_map(
            move |(id, hold_requests, timeout, supported, use_version)| {
                let mut h = Header {
                    id,
                    hold_requests,
                    ..Header::default()
                };
                if v13 {
                    h.session_timeout = timeout;
                    h.supported_cwmp_versions = supported;
                    h.use_cwmp_version = use_version;
                }
                h
            },
        )
}

fn random_batch(p: Profile, namespace: CwmpNamespace, schema: SchemaVersion) {
    if !xsd::require_xmllint() {
        return;
    }
    let strategy = (arb_header(p), arb_body(p));
    let mut runner = TestRunner::new(Config::default());
    let msgs: Vec<(String, String)> = (0..RANDOM_CASES)
        .map(|i| {
            let (header, body) = strategy
                .new_tree(&mut runner)
                .expect("generate a message")
                .current();
            (
                format!("random #{i} {}", body.name()),
                encode(namespace, header, body),
            )
        })
        .collect();
    let failures = xsd::validate_many(&msgs, schema);
    if !failures.is_empty() {
        let mut report = xsd::format_failures(&failures);
        for (label, _) in &failures {
            let xml = &msgs.iter().find(|(l, _)| l == label).expect("label").1;
            report.push_str(&format!("=== encoded {label}:\n{xml}\n"));
        }
        panic!(
            "random messages do not validate against {}:\n{report}",
            schema.xsd_file()
        );
    }
}

#[test]
fn random_messages_validate_against_cwmp_1_4() {
    random_batch(Profile::V12, CwmpNamespace::Cwmp12, SchemaVersion::Cwmp14);
}

#[test]
fn random_messages_validate_against_cwmp_1_0() {
    random_batch(Profile::V10, CwmpNamespace::Cwmp10, SchemaVersion::Cwmp10);
}

/// Writes every message instance, encoded under each namespace, as the seed corpus of the
/// `envelope_decode` fuzz target: `FUZZ_SEEDS_OUT=fuzz/seeds/envelope_decode cargo test --test
/// xsd_conformance write_fuzz_seeds -- --ignored` (FUZZING.md).
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let out = PathBuf::from(std::env::var("FUZZ_SEEDS_OUT").expect("FUZZ_SEEDS_OUT"));
    std::fs::create_dir_all(&out).unwrap();
    for (ns, profile, v13) in [
        (CwmpNamespace::Cwmp10, Profile::V10, false),
        (CwmpNamespace::Cwmp12, Profile::V12, true),
        (CwmpNamespace::Cwmp14, Profile::V12, true),
    ] {
        for (label, body) in instances(profile) {
            let xml = encode(ns, header(v13), body);
            let name: String = format!("{}-{label}", ns.uri().rsplit(':').next().unwrap_or("ns"))
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            std::fs::write(out.join(format!("{name}.xml")), xml).unwrap();
        }
    }
}
