//! RequestDownload (TR-069 §A.4.2.2, optional): the CPE asks the ACS to send it a file.
//!
//! The CPE names the kind of file it wants (`FileType`, the DownloadFileType list:
//! `1 Firmware Upgrade Image`, `2 Web Content`, `3 Vendor Configuration File`, `4 Tone File`,
//! `5 Ringer File`, `X <OUI> <name>`) and may add up to 16 name/value hints (`FileTypeArg`, e.g.
//! `Version` = `2.1`). The session's Inform carries `9 REQUEST DOWNLOAD`. The ACS answers at once
//! with an empty RequestDownloadResponse and, if it agrees, later calls Download (in this session
//! or another).
//!
//! GenieACS accepts the method but does nothing useful with it (its worker dropped the connection
//! in testing): treat it as best effort.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgError, ArgResult, Rpc};

/// One name/value argument of the requested file type (TR-069 ArgStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArgStruct {
    /// At most 64 characters.
    pub name: String,
    /// At most 256 characters.
    pub value: String,
}

impl ArgStruct {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> ArgStruct {
        ArgStruct {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// CPE→ACS request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestDownload {
    /// DownloadFileType, at most 64 characters.
    pub file_type: String,
    /// At most 16 arguments qualifying the request; may be empty.
    pub file_type_arg: Vec<ArgStruct>,
}

/// ACS→CPE response (no arguments): the request was received, not that a Download will follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RequestDownloadResponse;

impl Rpc for RequestDownload {
    const NAME: &'static str = "RequestDownload";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("FileType", &self.file_type);
        w.open_array("FileTypeArg", "cwmp:ArgStruct", self.file_type_arg.len());
        for arg in &self.file_type_arg {
            w.open("ArgStruct");
            w.text_element("Name", &arg.name);
            w.text_element("Value", &arg.value);
            w.close("ArgStruct");
        }
        w.close("FileTypeArg");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let file_type = du::bounded_string(el, "FileType", 64)?;
        let items = du::array(el, "FileTypeArg")?;
        if items.len() > 16 {
            return Err(ArgError::invalid("FileTypeArg", "more than 16 arguments"));
        }
        let file_type_arg = items
            .iter()
            .map(|a| {
                Ok(ArgStruct {
                    name: du::bounded_string(a, "Name", 64)?,
                    value: du::opt_bounded_string(a, "Value", 256)?,
                })
            })
            .collect::<ArgResult<Vec<_>>>()?;
        Ok(RequestDownload {
            file_type,
            file_type_arg,
        })
    }
}

impl Rpc for RequestDownloadResponse {
    const NAME: &'static str = "RequestDownloadResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(RequestDownloadResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::short_string;
    use proptest::prelude::*;

    /// A DownloadFileType (cwmp-1-2 patterns).
    pub fn download_file_type() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("1 Firmware Upgrade Image".to_owned()),
            Just("2 Web Content".to_owned()),
            Just("3 Vendor Configuration File".to_owned()),
            Just("4 Tone File".to_owned()),
            Just("5 Ringer File".to_owned()),
            "X [0-9A-F]{6} [A-Za-z]([A-Za-z0-9 ]{0,18}[A-Za-z0-9])?",
        ]
    }

    pub fn arg_struct() -> impl Strategy<Value = ArgStruct> {
        (short_string(64), short_string(256)).prop_map(|(name, value)| ArgStruct { name, value })
    }

    pub fn request() -> impl Strategy<Value = RequestDownload> {
        (
            download_file_type(),
            proptest::collection::vec(arg_struct(), 0..=16),
        )
            .prop_map(|(file_type, file_type_arg)| RequestDownload {
                file_type,
                file_type_arg,
            })
    }

    pub fn response() -> impl Strategy<Value = RequestDownloadResponse> {
        Just(RequestDownloadResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::xml::{Limits, parse};

    fn decode(args: &str) -> ArgResult<RequestDownload> {
        let el = parse(format!("<m>{args}</m>").as_bytes(), &Limits::default())
            .unwrap()
            .into_owned();
        RequestDownload::decode_args(&el)
    }

    #[test]
    fn reads_any_item_name_and_limits_the_count() {
        let rd = decode("<FileTypeArg><item><Value>2.1</Value><Name>Version</Name></item></FileTypeArg><FileType>1 Firmware Upgrade Image</FileType>").unwrap();
        assert_eq!(rd.file_type_arg, vec![ArgStruct::new("Version", "2.1")]);
        let many = "<ArgStruct><Name>a</Name><Value/></ArgStruct>".repeat(17);
        assert!(
            decode(&format!(
                "<FileType>2 Web Content</FileType><FileTypeArg>{many}</FileTypeArg>"
            ))
            .is_err()
        );
        assert_eq!(decode("<FileTypeArg/>"), Err(ArgError::missing("FileType")));
        assert_eq!(
            decode("<FileType>2 Web Content</FileType>"),
            Err(ArgError::missing("FileTypeArg"))
        );
    }
}
