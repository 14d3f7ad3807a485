//! Upload (TR-069 §A.4.1.5): the ACS asks the CPE to send a file, ACS→CPE. Optional for the
//! CPE.
//!
//! The CPE sends the file named by `FileType` to `URL` (HTTP `PUT`), authenticating with
//! `Username`/`Password`, `DelaySeconds` after the session ends. The indexed file types name an
//! instance of `Device.DeviceInfo.VendorConfigFile.{i}` or `VendorLogFile.{i}`. The response
//! has the same meaning as DownloadResponse: Status 0 with real times when done within the
//! call, Status 1 with Unknown Times when queued, completion then reported by
//! `7 TRANSFER COMPLETE` + `M Upload` and a TransferComplete (failure: fault 9011).

use super::download::{decode_transfer_result, encode_transfer_result};
use crate::cwmp::datetime::DateTime;
use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// Standard Upload file types (cwmp-1-2.xsd UploadFileType).
pub mod file_type {
    /// Superseded by the indexed form [`vendor_configuration_file`].
    pub const VENDOR_CONFIGURATION_FILE: &str = "1 Vendor Configuration File";
    /// Superseded by the indexed form [`vendor_log_file`].
    pub const VENDOR_LOG_FILE: &str = "2 Vendor Log File";

    /// `3 Vendor Configuration File <i>`: instance `i` of `DeviceInfo.VendorConfigFile.`.
    pub fn vendor_configuration_file(instance: u32) -> String {
        format!("3 Vendor Configuration File {instance}")
    }

    /// `4 Vendor Log File <i>`: instance `i` of `DeviceInfo.VendorLogFile.`.
    pub fn vendor_log_file(instance: u32) -> String {
        format!("4 Vendor Log File {instance}")
    }
}

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upload {
    /// At most 32 characters; echoed in `M Upload` and TransferComplete.
    pub command_key: String,
    /// At most 64 characters, e.g. [`file_type::vendor_log_file`]`(1)`.
    pub file_type: String,
    /// Destination, at most 256 characters.
    pub url: String,
    /// At most 256 characters; may be empty.
    pub username: String,
    /// At most 256 characters; may be empty.
    pub password: String,
    /// Seconds after the session ends before the upload starts.
    pub delay_seconds: u32,
}

/// CPE→ACS response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadResponse {
    /// 0: completed; 1: queued (times are then the Unknown Time).
    pub status: i32,
    pub start_time: DateTime,
    pub complete_time: DateTime,
}

impl UploadResponse {
    /// The answer for a transfer that was queued: Status 1, Unknown times.
    pub fn queued() -> UploadResponse {
        UploadResponse {
            status: 1,
            start_time: DateTime::UNKNOWN,
            complete_time: DateTime::UNKNOWN,
        }
    }
}

impl Rpc for Upload {
    const NAME: &'static str = "Upload";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("CommandKey", &self.command_key);
        w.text_element("FileType", &self.file_type);
        w.text_element("URL", &self.url);
        w.text_element("Username", &self.username);
        w.text_element("Password", &self.password);
        w.number_element("DelaySeconds", self.delay_seconds);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(Upload {
            command_key: du::opt_bounded_string(el, "CommandKey", 32)?,
            file_type: du::bounded_string(el, "FileType", 64)?,
            url: du::bounded_string(el, "URL", 256)?,
            username: du::opt_bounded_string(el, "Username", 256)?,
            password: du::opt_bounded_string(el, "Password", 256)?,
            delay_seconds: du::opt_u32(el, "DelaySeconds")?.unwrap_or(0),
        })
    }
}

impl Rpc for UploadResponse {
    const NAME: &'static str = "UploadResponse";

    fn encode_args(&self, w: &mut Writer) {
        encode_transfer_result(w, self.status, &self.start_time, &self.complete_time);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let (status, start_time, complete_time) = decode_transfer_result(el)?;
        Ok(UploadResponse {
            status,
            start_time,
            complete_time,
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{command_key, short_string, url};
    use crate::cwmp::rpc::download::arb::transfer_time;
    use proptest::prelude::*;

    /// Schema-valid UploadFileType values.
    pub fn file_type() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(file_type::VENDOR_CONFIGURATION_FILE.to_owned()),
            Just(file_type::VENDOR_LOG_FILE.to_owned()),
            (1..100u32).prop_map(file_type::vendor_configuration_file),
            (1..100u32).prop_map(file_type::vendor_log_file),
            "X [0-9A-F]{6} [A-Za-z][A-Za-z ]{0,20}[A-Za-z]",
        ]
    }

    pub fn request() -> impl Strategy<Value = Upload> {
        (
            command_key(),
            file_type(),
            url(),
            short_string(256),
            short_string(256),
            any::<u32>(),
        )
            .prop_map(
                |(command_key, file_type, url, username, password, delay_seconds)| Upload {
                    command_key,
                    file_type,
                    url,
                    username,
                    password,
                    delay_seconds,
                },
            )
    }

    pub fn response() -> impl Strategy<Value = UploadResponse> {
        (0..=1i32, transfer_time(), transfer_time()).prop_map(
            |(status, start_time, complete_time)| UploadResponse {
                status,
                start_time,
                complete_time,
            },
        )
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
            "47",
            "<cwmp:Upload><CommandKey>up-1</CommandKey><FileType>4 Vendor Log File 1</FileType>\
             <URL>https://logs.example/put/cpe1.log</URL><Username>u</Username><Password>p&amp;w</Password>\
             <DelaySeconds>10</DelaySeconds></cwmp:Upload>",
        ));
        assert_eq!(
            env.body,
            Body::Upload(Upload {
                command_key: "up-1".into(),
                file_type: file_type::vendor_log_file(1),
                url: "https://logs.example/put/cpe1.log".into(),
                username: "u".into(),
                password: "p&w".into(),
                delay_seconds: 10,
            })
        );
        let env = decode_ok(&genieacs_envelope(
            "48",
            "<cwmp:UploadResponse><Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime>\
             <CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:UploadResponse>",
        ));
        assert_eq!(env.body, Body::UploadResponse(UploadResponse::queued()));
    }

    #[test]
    fn missing_file_type_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "49",
            "<cwmp:Upload><CommandKey>up-1</CommandKey><URL>https://logs.example/</URL></cwmp:Upload>",
        ));
        assert_eq!(err, ArgError::missing("FileType"));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
