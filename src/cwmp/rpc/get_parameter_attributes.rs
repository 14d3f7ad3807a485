//! GetParameterAttributes (TR-069 §A.3.2.5): the ACS reads notification and access
//! attributes, ACS→CPE.
//!
//! `ParameterNames` lists full names and partial paths (a partial path means every parameter
//! below it). The CPE answers one ParameterAttributeStruct per parameter with its Notification
//! (0 off, 1 passive, 2 active, 3–6 CWMP 1.4 lightweight variants) and its AccessList (empty,
//! or `["Subscriber"]`). An unknown name is fault 9005 for the whole request.

use super::set_parameter_attributes::{
    decode_access_list, decode_notification, encode_access_list,
};
use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetParameterAttributes {
    /// Names and partial paths, each at most 256 characters (the schema wants at least one).
    pub parameter_names: Vec<String>,
}

/// One parameter's attributes (TR-069 ParameterAttributeStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterAttributeStruct {
    /// Full parameter name, at most 256 characters.
    pub name: String,
    /// 0..=6.
    pub notification: i32,
    /// Empty or `["Subscriber"]`.
    pub access_list: Vec<String>,
}

/// CPE→ACS response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetParameterAttributesResponse {
    pub parameter_list: Vec<ParameterAttributeStruct>,
}

impl Rpc for GetParameterAttributes {
    const NAME: &'static str = "GetParameterAttributes";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array("ParameterNames", "xsd:string", self.parameter_names.len());
        for name in &self.parameter_names {
            w.text_element("string", name);
        }
        w.close("ParameterNames");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let parameter_names = du::string_array(el, "ParameterNames")?;
        for name in &parameter_names {
            du::check_len("ParameterNames", name, 256)?;
        }
        Ok(GetParameterAttributes { parameter_names })
    }
}

impl Rpc for GetParameterAttributesResponse {
    const NAME: &'static str = "GetParameterAttributesResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array(
            "ParameterList",
            "cwmp:ParameterAttributeStruct",
            self.parameter_list.len(),
        );
        for p in &self.parameter_list {
            w.open("ParameterAttributeStruct");
            w.text_element("Name", &p.name);
            w.number_element("Notification", p.notification);
            encode_access_list(w, &p.access_list);
            w.close("ParameterAttributeStruct");
        }
        w.close("ParameterList");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let parameter_list = du::array(el, "ParameterList")?
            .iter()
            .map(|item| {
                Ok(ParameterAttributeStruct {
                    name: du::bounded_string(item, "Name", 256)?,
                    notification: decode_notification(item)?,
                    access_list: decode_access_list(item)?,
                })
            })
            .collect::<ArgResult<Vec<_>>>()?;
        Ok(GetParameterAttributesResponse { parameter_list })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::param_name;
    use crate::cwmp::rpc::set_parameter_attributes::arb::access_list;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = GetParameterAttributes> {
        proptest::collection::vec(param_name(), 1..5)
            .prop_map(|parameter_names| GetParameterAttributes { parameter_names })
    }

    pub fn response() -> impl Strategy<Value = GetParameterAttributesResponse> {
        proptest::collection::vec(
            (param_name(), 0..=2i32, access_list()).prop_map(
                |(name, notification, access_list)| ParameterAttributeStruct {
                    name,
                    notification,
                    access_list,
                },
            ),
            0..5,
        )
        .prop_map(|parameter_list| GetParameterAttributesResponse { parameter_list })
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
            "11",
            "<cwmp:GetParameterAttributes><ParameterNames soap-enc:arrayType=\"xsd:string[2]\">\
             <string>Device.WiFi.SSID.1.SSID</string><string>Device.DeviceInfo.</string>\
             </ParameterNames></cwmp:GetParameterAttributes>",
        ));
        assert_eq!(
            env.body,
            Body::GetParameterAttributes(GetParameterAttributes {
                parameter_names: vec![
                    "Device.WiFi.SSID.1.SSID".into(),
                    "Device.DeviceInfo.".into()
                ],
            })
        );
    }

    #[test]
    fn decodes_response() {
        let env = decode_ok(&genieacs_envelope(
            "12",
            "<cwmp:GetParameterAttributesResponse><ParameterList soap-enc:arrayType=\"cwmp:ParameterAttributeStruct[1]\">\
             <ParameterAttributeStruct><Name>Device.WiFi.SSID.1.SSID</Name><Notification>2</Notification>\
             <AccessList soap-enc:arrayType=\"xsd:string[1]\"><string>Subscriber</string></AccessList>\
             </ParameterAttributeStruct></ParameterList></cwmp:GetParameterAttributesResponse>",
        ));
        assert_eq!(
            env.body,
            Body::GetParameterAttributesResponse(GetParameterAttributesResponse {
                parameter_list: vec![ParameterAttributeStruct {
                    name: "Device.WiFi.SSID.1.SSID".into(),
                    notification: 2,
                    access_list: vec!["Subscriber".into()],
                }],
            })
        );
    }

    #[test]
    fn missing_parameter_names_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "13",
            "<cwmp:GetParameterAttributes><Names/></cwmp:GetParameterAttributes>",
        ));
        assert_eq!(err, ArgError::missing("ParameterNames"));
    }

    #[test]
    fn oversized_name_is_9003() {
        let long = format!("Device.{}", "A".repeat(250));
        let err = expect_invalid_arguments(&genieacs_envelope(
            "14",
            &format!(
                "<cwmp:GetParameterAttributes><ParameterNames soap-enc:arrayType=\"xsd:string[1]\">\
                 <string>{long}</string></ParameterNames></cwmp:GetParameterAttributes>"
            ),
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "ParameterNames"),
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
