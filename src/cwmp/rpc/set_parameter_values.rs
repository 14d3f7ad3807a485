//! SetParameterValues (TR-069 §A.3.2.1): the ACS writes parameter values, ACS→CPE.
//!
//! `ParameterList` carries one ParameterValueStruct per parameter (the value's `xsi:type` may be
//! missing: GenieACS sometimes omits it). The call is atomic: the CPE validates every entry
//! first and applies nothing if any is wrong, answering fault 9003 with one
//! SetParameterValuesFault per bad parameter (9005 unknown, 9006 type mismatch, 9007 bad value,
//! 9008 not writable); the same name twice is itself a 9003. On success the CPE sets
//! `ManagementServer.ParameterKey` to `ParameterKey` and answers `Status` 0 (applied) or 1
//! (committed, but applied only later, e.g. after a reboot).
//!
//! The codec only reads the message; the per-parameter checks are the data model's, since a
//! value that does not fit is a per-parameter fault, not a malformed message.

use crate::cwmp::decode_util as du;
use crate::cwmp::value::ParameterValueStruct;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetParameterValues {
    /// Full parameter names (at most 256 characters) and their new values.
    pub parameter_list: Vec<ParameterValueStruct>,
    /// At most 32 characters; becomes `ManagementServer.ParameterKey` on success. Absent on the
    /// wire is read as empty.
    pub parameter_key: String,
}

/// CPE→ACS response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SetParameterValuesResponse {
    /// 0: every change validated and applied; 1: validated and committed, but some not applied
    /// yet (e.g. they need a reboot).
    pub status: i32,
}

impl Rpc for SetParameterValues {
    const NAME: &'static str = "SetParameterValues";

    fn encode_args(&self, w: &mut Writer) {
        ParameterValueStruct::encode_list(w, "ParameterList", &self.parameter_list);
        w.text_element("ParameterKey", &self.parameter_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let parameter_list = ParameterValueStruct::decode_list(du::array(el, "ParameterList")?)?;
        for p in &parameter_list {
            du::check_len("Name", &p.name, 256)?;
        }
        Ok(SetParameterValues {
            parameter_list,
            parameter_key: du::opt_bounded_string(el, "ParameterKey", 32)?,
        })
    }
}

impl Rpc for SetParameterValuesResponse {
    const NAME: &'static str = "SetParameterValuesResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.number_element("Status", self.status);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(SetParameterValuesResponse {
            status: du::i32_child(el, "Status")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{parameter_value_struct, short_string};
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = SetParameterValues> {
        (
            proptest::collection::vec(parameter_value_struct(), 0..5),
            short_string(32),
        )
            .prop_map(|(parameter_list, parameter_key)| SetParameterValues {
                parameter_list,
                parameter_key,
            })
    }

    pub fn response() -> impl Strategy<Value = SetParameterValuesResponse> {
        (0..=1i32).prop_map(|status| SetParameterValuesResponse { status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::ArgError;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};
    use crate::cwmp::value::{Value, XsdType};

    #[test]
    fn decodes_genieacs_request() {
        let env = decode_ok(&genieacs_envelope(
            "17",
            "<cwmp:SetParameterValues><ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[3]\">\
             <ParameterValueStruct><Name>Device.ManagementServer.PeriodicInformInterval</Name>\
             <Value xsi:type=\"xsd:unsignedInt\">300</Value></ParameterValueStruct>\
             <ParameterValueStruct><Name>Device.WiFi.SSID.1.SSID</Name>\
             <Value xsi:type=\"xsd:string\"> Caf&amp;e &lt;5G&gt; </Value></ParameterValueStruct>\
             <ParameterValueStruct><Name>Device.X_Test.Flag</Name><Value>true</Value></ParameterValueStruct>\
             </ParameterList><ParameterKey>key-17</ParameterKey></cwmp:SetParameterValues>",
        ));
        assert_eq!(env.header.id.as_deref(), Some("17"));
        assert_eq!(
            env.body,
            Body::SetParameterValues(SetParameterValues {
                parameter_list: vec![
                    ParameterValueStruct::new(
                        "Device.ManagementServer.PeriodicInformInterval",
                        Value::new(XsdType::UnsignedInt, "300")
                    ),
                    ParameterValueStruct::new(
                        "Device.WiFi.SSID.1.SSID",
                        Value::new(XsdType::String, " Caf&e <5G> ")
                    ),
                    ParameterValueStruct::new("Device.X_Test.Flag", Value::untyped("true")),
                ],
                parameter_key: "key-17".into(),
            })
        );
    }

    #[test]
    fn missing_parameter_list_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "18",
            "<cwmp:SetParameterValues><ParameterKey>k</ParameterKey></cwmp:SetParameterValues>",
        ));
        assert_eq!(err, ArgError::missing("ParameterList"));
    }

    #[test]
    fn oversized_parameter_key_is_9003() {
        let key = "k".repeat(33);
        let err = expect_invalid_arguments(&genieacs_envelope(
            "19",
            &format!(
                "<cwmp:SetParameterValues><ParameterList soap-enc:arrayType=\"cwmp:ParameterValueStruct[0]\">\
                 </ParameterList><ParameterKey>{key}</ParameterKey></cwmp:SetParameterValues>"
            ),
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "ParameterKey"),
            "{err:?}"
        );
    }

    #[test]
    fn response_status_must_be_a_number() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "20",
            "<cwmp:SetParameterValuesResponse><Status>zero</Status></cwmp:SetParameterValuesResponse>",
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "Status"),
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
