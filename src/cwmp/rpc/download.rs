//! Download (TR-069 §A.3.2.8): the ACS tells the CPE to fetch a file, ACS→CPE.
//!
//! The CPE fetches `URL` (HTTP and HTTPS at least; another scheme it cannot do is fault 9013),
//! authenticating with `Username`/`Password` if the server asks, `DelaySeconds` after the
//! session ends (0: as soon as possible), and applies it according to `FileType` (a firmware
//! image is installed and the CPE reboots). `FileSize` 0 means unknown; `TargetFileName`,
//! `SuccessURL` and `FailureURL` may be empty. GenieACS sends every element, empty ones
//! included, with FileSize 0 and the CommandKey equal to the request's cwmp:ID.
//!
//! The response `Status` is 0 when the file was downloaded *and applied* within the call (the
//! times are then real), or 1 when the transfer is queued: StartTime and CompleteTime must then
//! be the Unknown Time, and completion is reported later by a session with
//! `7 TRANSFER COMPLETE` + `M Download` and a TransferComplete carrying this CommandKey. At most
//! 16 transfers may be queued (a 17th is fault 9004).

use crate::cwmp::datetime::DateTime;
use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// Standard Download file types (cwmp-1-2.xsd DownloadFileType). Vendor types are written
/// `X <OUI> <name>`, e.g. `X 00000C Factory Configuration File` (see [`file_type::vendor`]).
pub mod file_type {
    pub const FIRMWARE_UPGRADE_IMAGE: &str = "1 Firmware Upgrade Image";
    pub const WEB_CONTENT: &str = "2 Web Content";
    pub const VENDOR_CONFIGURATION_FILE: &str = "3 Vendor Configuration File";
    pub const TONE_FILE: &str = "4 Tone File";
    pub const RINGER_FILE: &str = "5 Ringer File";

    /// A vendor-specific file type, `X <OUI> <name>` (OUI: six upper-case hex digits).
    pub fn vendor(oui: &str, name: &str) -> String {
        format!("X {oui} {name}")
    }
}

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Download {
    /// At most 32 characters; echoed in `M Download` and TransferComplete.
    pub command_key: String,
    /// At most 64 characters, e.g. [`file_type::FIRMWARE_UPGRADE_IMAGE`].
    pub file_type: String,
    /// At most 256 characters.
    pub url: String,
    /// At most 256 characters; may be empty.
    pub username: String,
    /// At most 256 characters; may be empty.
    pub password: String,
    /// Bytes; 0 when unknown.
    pub file_size: u32,
    /// At most 256 characters; may be empty.
    pub target_file_name: String,
    /// Seconds after the session ends before the download starts.
    pub delay_seconds: u32,
    /// At most 256 characters; may be empty.
    pub success_url: String,
    /// At most 256 characters; may be empty.
    pub failure_url: String,
}

/// CPE→ACS response (shared meaning with UploadResponse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DownloadResponse {
    /// 0: completed and applied; 1: queued (times are then the Unknown Time).
    pub status: i32,
    /// Read as the Unknown Time when absent or empty (GenieACS's reading).
    pub start_time: DateTime,
    /// Read as the Unknown Time when absent or empty.
    pub complete_time: DateTime,
}

impl DownloadResponse {
    /// The answer for a transfer that was queued: Status 1, Unknown times.
    pub fn queued() -> DownloadResponse {
        DownloadResponse {
            status: 1,
            start_time: DateTime::UNKNOWN,
            complete_time: DateTime::UNKNOWN,
        }
    }
}

impl Rpc for Download {
    const NAME: &'static str = "Download";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("CommandKey", &self.command_key);
        w.text_element("FileType", &self.file_type);
        w.text_element("URL", &self.url);
        w.text_element("Username", &self.username);
        w.text_element("Password", &self.password);
        w.number_element("FileSize", self.file_size);
        w.text_element("TargetFileName", &self.target_file_name);
        w.number_element("DelaySeconds", self.delay_seconds);
        w.text_element("SuccessURL", &self.success_url);
        w.text_element("FailureURL", &self.failure_url);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(Download {
            command_key: du::opt_bounded_string(el, "CommandKey", 32)?,
            file_type: du::bounded_string(el, "FileType", 64)?,
            url: du::bounded_string(el, "URL", 256)?,
            username: du::opt_bounded_string(el, "Username", 256)?,
            password: du::opt_bounded_string(el, "Password", 256)?,
            file_size: du::opt_u32(el, "FileSize")?.unwrap_or(0),
            target_file_name: du::opt_bounded_string(el, "TargetFileName", 256)?,
            delay_seconds: du::opt_u32(el, "DelaySeconds")?.unwrap_or(0),
            success_url: du::opt_bounded_string(el, "SuccessURL", 256)?,
            failure_url: du::opt_bounded_string(el, "FailureURL", 256)?,
        })
    }
}

/// Writes Status, StartTime, CompleteTime (shared with UploadResponse).
pub(crate) fn encode_transfer_result(
    w: &mut Writer,
    status: i32,
    start: &DateTime,
    complete: &DateTime,
) {
    w.number_element("Status", status);
    w.display_element("StartTime", start);
    w.display_element("CompleteTime", complete);
}

/// Reads Status (required), StartTime and CompleteTime (Unknown when absent).
pub(crate) fn decode_transfer_result(el: &Element) -> ArgResult<(i32, DateTime, DateTime)> {
    Ok((
        du::i32_child(el, "Status")?,
        du::opt_datetime(el, "StartTime")?,
        du::opt_datetime(el, "CompleteTime")?,
    ))
}

impl Rpc for DownloadResponse {
    const NAME: &'static str = "DownloadResponse";

    fn encode_args(&self, w: &mut Writer) {
        encode_transfer_result(w, self.status, &self.start_time, &self.complete_time);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let (status, start_time, complete_time) = decode_transfer_result(el)?;
        Ok(DownloadResponse {
            status,
            start_time,
            complete_time,
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{command_key, date_time, short_string, url};
    use proptest::prelude::*;

    /// Schema-valid DownloadFileType values.
    pub fn file_type() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(file_type::FIRMWARE_UPGRADE_IMAGE.to_owned()),
            Just(file_type::WEB_CONTENT.to_owned()),
            Just(file_type::VENDOR_CONFIGURATION_FILE.to_owned()),
            Just(file_type::TONE_FILE.to_owned()),
            Just(file_type::RINGER_FILE.to_owned()),
            ("[0-9A-F]{6}", "[A-Za-z][A-Za-z ]{0,20}[A-Za-z]")
                .prop_map(|(oui, name)| file_type::vendor(&oui, &name)),
        ]
    }

    /// A URL or, for the optional ones, nothing.
    pub fn opt_url() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), url()]
    }

    /// A transfer time: the Unknown Time or any instant.
    pub fn transfer_time() -> impl Strategy<Value = DateTime> {
        prop_oneof![Just(DateTime::UNKNOWN), date_time()]
    }

    pub fn request() -> impl Strategy<Value = Download> {
        (
            (
                command_key(),
                file_type(),
                url(),
                short_string(256),
                short_string(256),
            ),
            (
                any::<u32>(),
                short_string(256),
                any::<u32>(),
                opt_url(),
                opt_url(),
            ),
        )
            .prop_map(
                |(
                    (command_key, file_type, url, username, password),
                    (file_size, target_file_name, delay_seconds, success_url, failure_url),
                )| Download {
                    command_key,
                    file_type,
                    url,
                    username,
                    password,
                    file_size,
                    target_file_name,
                    delay_seconds,
                    success_url,
                    failure_url,
                },
            )
    }

    pub fn response() -> impl Strategy<Value = DownloadResponse> {
        (0..=1i32, transfer_time(), transfer_time()).prop_map(
            |(status, start_time, complete_time)| DownloadResponse {
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
    fn decodes_genieacs_request() {
        let env = decode_ok(&genieacs_envelope(
            "18b6f4e1",
            "<cwmp:Download><CommandKey>18b6f4e1</CommandKey><FileType>1 Firmware Upgrade Image</FileType>\
             <URL>http://acs.example:7567/fw%20v2.bin?a=1&amp;b=2</URL><Username></Username><Password></Password>\
             <FileSize>0</FileSize><TargetFileName>fw v2.bin</TargetFileName><DelaySeconds>0</DelaySeconds>\
             <SuccessURL></SuccessURL><FailureURL></FailureURL></cwmp:Download>",
        ));
        assert_eq!(env.header.id.as_deref(), Some("18b6f4e1"));
        assert_eq!(
            env.body,
            Body::Download(Download {
                command_key: "18b6f4e1".into(),
                file_type: file_type::FIRMWARE_UPGRADE_IMAGE.into(),
                url: "http://acs.example:7567/fw%20v2.bin?a=1&b=2".into(),
                username: String::new(),
                password: String::new(),
                file_size: 0,
                target_file_name: "fw v2.bin".into(),
                delay_seconds: 0,
                success_url: String::new(),
                failure_url: String::new(),
            })
        );
    }

    #[test]
    fn decodes_queued_response_with_missing_times() {
        let env = decode_ok(&genieacs_envelope(
            "42",
            "<cwmp:DownloadResponse><Status>1</Status></cwmp:DownloadResponse>",
        ));
        assert_eq!(env.body, Body::DownloadResponse(DownloadResponse::queued()));
        let env = decode_ok(&genieacs_envelope(
            "43",
            "<cwmp:DownloadResponse><Status>0</Status><StartTime>2026-11-22T01:00:00.123Z</StartTime>\
             <CompleteTime>0001-01-01T00:00:00Z</CompleteTime></cwmp:DownloadResponse>",
        ));
        let Body::DownloadResponse(r) = env.body else {
            panic!()
        };
        assert_eq!(r.status, 0);
        assert_eq!(
            r.start_time.unix_millis(),
            DateTime::parse("2026-11-22T01:00:00.123Z")
                .unwrap()
                .unix_millis()
        );
        assert!(r.complete_time.is_unknown());
    }

    #[test]
    fn queued_response_encodes_unknown_times() {
        let mut w = Writer::new();
        DownloadResponse::queued().encode_args(&mut w);
        assert_eq!(
            w.as_str(),
            "<Status>1</Status><StartTime>0001-01-01T00:00:00Z</StartTime><CompleteTime>0001-01-01T00:00:00Z</CompleteTime>"
        );
    }

    #[test]
    fn missing_url_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "44",
            "<cwmp:Download><CommandKey>k</CommandKey><FileType>1 Firmware Upgrade Image</FileType></cwmp:Download>",
        ));
        assert_eq!(err, ArgError::missing("URL"));
    }

    #[test]
    fn malformed_numbers_and_times_are_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "45",
            "<cwmp:Download><FileType>1 Firmware Upgrade Image</FileType><URL>http://a/b</URL>\
             <FileSize>big</FileSize></cwmp:Download>",
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "FileSize"),
            "{err:?}"
        );
        let err = expect_invalid_arguments(&genieacs_envelope(
            "46",
            "<cwmp:DownloadResponse><Status>1</Status><StartTime>yesterday</StartTime></cwmp:DownloadResponse>",
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "StartTime"),
            "{err:?}"
        );
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
