//! ScheduleDownload (TR-069 §A.4.1.9, CWMP ≥ 1.2): a Download constrained to one or two time
//! windows, ACS→CPE. Optional for the CPE.
//!
//! Arguments as for Download (no DelaySeconds, SuccessURL or FailureURL), plus
//! `TimeWindowList`: one or two TimeWindowStructs, each with `WindowStart`/`WindowEnd` in
//! seconds from the call, a `WindowMode` (`1 At Any Time`, `2 Immediately`, `3 When Idle`,
//! `4 Confirmation Needed`, or vendor `X …`), a `UserMessage` for the confirmation mode and
//! `MaxRetries` (-1: the CPE decides). The response is empty; completion is reported with
//! `7 TRANSFER COMPLETE` + `M ScheduleDownload` and a TransferComplete, a missed window with
//! fault 9020.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgError, ArgResult, Rpc};

/// Standard WindowMode values (cwmp-1-2.xsd TimeWindowModeValueType).
pub mod window_mode {
    pub const AT_ANY_TIME: &str = "1 At Any Time";
    pub const IMMEDIATELY: &str = "2 Immediately";
    pub const WHEN_IDLE: &str = "3 When Idle";
    pub const CONFIRMATION_NEEDED: &str = "4 Confirmation Needed";
}

/// One window in which the download may happen (TR-069 TimeWindowStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TimeWindowStruct {
    /// Seconds from the call to the window's start.
    pub window_start: u32,
    /// Seconds from the call to the window's end (≥ start; the agent checks).
    pub window_end: u32,
    /// At most 64 characters, e.g. [`window_mode::WHEN_IDLE`].
    pub window_mode: String,
    /// Shown to the user in `4 Confirmation Needed` mode; at most 256 characters.
    pub user_message: String,
    /// Retries within the window; -1 lets the CPE decide.
    pub max_retries: i32,
}

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScheduleDownload {
    /// At most 32 characters; echoed in `M ScheduleDownload` and TransferComplete.
    pub command_key: String,
    /// At most 64 characters (DownloadFileType, see [`super::download::file_type`]).
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
    /// One or two windows.
    pub time_window_list: Vec<TimeWindowStruct>,
}

/// CPE→ACS response: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScheduleDownloadResponse;

impl TimeWindowStruct {
    fn encode(&self, w: &mut Writer) {
        w.open("TimeWindowStruct");
        w.number_element("WindowStart", self.window_start);
        w.number_element("WindowEnd", self.window_end);
        w.text_element("WindowMode", &self.window_mode);
        w.text_element("UserMessage", &self.user_message);
        w.number_element("MaxRetries", self.max_retries);
        w.close("TimeWindowStruct");
    }

    fn decode(el: &Element) -> ArgResult<TimeWindowStruct> {
        Ok(TimeWindowStruct {
            window_start: du::u32_child(el, "WindowStart")?,
            window_end: du::u32_child(el, "WindowEnd")?,
            window_mode: du::bounded_string(el, "WindowMode", 64)?,
            user_message: du::opt_bounded_string(el, "UserMessage", 256)?,
            max_retries: du::i32_child(el, "MaxRetries")?,
        })
    }
}

impl Rpc for ScheduleDownload {
    const NAME: &'static str = "ScheduleDownload";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("CommandKey", &self.command_key);
        w.text_element("FileType", &self.file_type);
        w.text_element("URL", &self.url);
        w.text_element("Username", &self.username);
        w.text_element("Password", &self.password);
        w.number_element("FileSize", self.file_size);
        w.text_element("TargetFileName", &self.target_file_name);
        w.open_array(
            "TimeWindowList",
            "cwmp:TimeWindowStruct",
            self.time_window_list.len(),
        );
        for t in &self.time_window_list {
            t.encode(w);
        }
        w.close("TimeWindowList");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let windows = du::array(el, "TimeWindowList")?;
        if windows.is_empty() || windows.len() > 2 {
            return Err(ArgError::invalid(
                "TimeWindowList",
                format!("{} windows, one or two allowed", windows.len()),
            ));
        }
        Ok(ScheduleDownload {
            command_key: du::opt_bounded_string(el, "CommandKey", 32)?,
            file_type: du::bounded_string(el, "FileType", 64)?,
            url: du::bounded_string(el, "URL", 256)?,
            username: du::opt_bounded_string(el, "Username", 256)?,
            password: du::opt_bounded_string(el, "Password", 256)?,
            file_size: du::opt_u32(el, "FileSize")?.unwrap_or(0),
            target_file_name: du::opt_bounded_string(el, "TargetFileName", 256)?,
            time_window_list: windows
                .iter()
                .map(TimeWindowStruct::decode)
                .collect::<ArgResult<Vec<_>>>()?,
        })
    }
}

impl Rpc for ScheduleDownloadResponse {
    const NAME: &'static str = "ScheduleDownloadResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(ScheduleDownloadResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{command_key, short_string, url};
    use crate::cwmp::rpc::download::arb::file_type;
    use proptest::prelude::*;

    pub fn time_window_struct() -> impl Strategy<Value = TimeWindowStruct> {
        (
            any::<u32>(),
            any::<u32>(),
            prop_oneof![
                Just(window_mode::AT_ANY_TIME.to_owned()),
                Just(window_mode::IMMEDIATELY.to_owned()),
                Just(window_mode::WHEN_IDLE.to_owned()),
                Just(window_mode::CONFIRMATION_NEEDED.to_owned()),
                "X [0-9A-F]{6} [A-Za-z]{1,12}",
            ],
            short_string(256),
            any::<i32>(),
        )
            .prop_map(
                |(a, b, window_mode, user_message, max_retries)| TimeWindowStruct {
                    window_start: a.min(b),
                    window_end: a.max(b),
                    window_mode,
                    user_message,
                    max_retries,
                },
            )
    }

    pub fn request() -> impl Strategy<Value = ScheduleDownload> {
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
                proptest::collection::vec(time_window_struct(), 1..=2),
            ),
        )
            .prop_map(
                |(
                    (command_key, file_type, url, username, password),
                    (file_size, target_file_name, time_window_list),
                )| ScheduleDownload {
                    command_key,
                    file_type,
                    url,
                    username,
                    password,
                    file_size,
                    target_file_name,
                    time_window_list,
                },
            )
    }

    pub fn response() -> impl Strategy<Value = ScheduleDownloadResponse> {
        Just(ScheduleDownloadResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};
    use crate::cwmp::rpc::download::file_type;

    fn request(windows: &str, n: usize) -> String {
        genieacs_envelope(
            "50",
            &format!(
                "<cwmp:ScheduleDownload><CommandKey>sd-1</CommandKey><FileType>1 Firmware Upgrade Image</FileType>\
                 <URL>http://fw.example/img.bin</URL><Username></Username><Password></Password>\
                 <FileSize>1048576</FileSize><TargetFileName></TargetFileName>\
                 <TimeWindowList soap-enc:arrayType=\"cwmp:TimeWindowStruct[{n}]\">{windows}</TimeWindowList>\
                 </cwmp:ScheduleDownload>"
            ),
        )
    }

    const WINDOW: &str = "<TimeWindowStruct><WindowStart>0</WindowStart><WindowEnd>3600</WindowEnd>\
                          <WindowMode>3 When Idle</WindowMode><UserMessage></UserMessage>\
                          <MaxRetries>-1</MaxRetries></TimeWindowStruct>";

    #[test]
    fn decodes_request() {
        let env = decode_ok(&request(WINDOW, 1));
        assert_eq!(
            env.body,
            Body::ScheduleDownload(ScheduleDownload {
                command_key: "sd-1".into(),
                file_type: file_type::FIRMWARE_UPGRADE_IMAGE.into(),
                url: "http://fw.example/img.bin".into(),
                username: String::new(),
                password: String::new(),
                file_size: 1_048_576,
                target_file_name: String::new(),
                time_window_list: vec![TimeWindowStruct {
                    window_start: 0,
                    window_end: 3600,
                    window_mode: window_mode::WHEN_IDLE.into(),
                    user_message: String::new(),
                    max_retries: -1,
                }],
            })
        );
    }

    #[test]
    fn window_count_is_checked() {
        let err = expect_invalid_arguments(&request("", 0));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "TimeWindowList"),
            "{err:?}"
        );
        let err = expect_invalid_arguments(&request(&WINDOW.repeat(3), 3));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "TimeWindowList"),
            "{err:?}"
        );
    }

    #[test]
    fn missing_window_list_or_window_field_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "51",
            "<cwmp:ScheduleDownload><CommandKey>sd-1</CommandKey><FileType>1 Firmware Upgrade Image</FileType>\
             <URL>http://fw.example/img.bin</URL></cwmp:ScheduleDownload>",
        ));
        assert_eq!(err, ArgError::missing("TimeWindowList"));
        let err = expect_invalid_arguments(&request(
            "<TimeWindowStruct><WindowStart>0</WindowStart><WindowEnd>60</WindowEnd>\
             <WindowMode>1 At Any Time</WindowMode></TimeWindowStruct>",
            1,
        ));
        assert_eq!(err, ArgError::missing("MaxRetries"));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
