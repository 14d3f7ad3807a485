//! GetParameterNames (TR-069 §A.3.2.3): the ACS discovers the data model, ACS→CPE.
//!
//! `ParameterPath` is a full parameter name, a partial path ending in `.`, or `""` for the whole
//! tree. With `NextLevel` true the CPE lists only the immediate children of the path (objects
//! written with a trailing `.`); with false it lists the object itself and everything below it.
//! A full parameter name with `NextLevel` true is a 9003 and an unknown path a 9005 — both
//! decided by the agent, not the codec. Each ParameterInfoStruct says whether the item is
//! writable (for a table: whether AddObject is allowed; for an instance: DeleteObject).
//! GenieACS discovers with this before every GetParameterValues.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetParameterNames {
    /// A name, a partial path or `""`; at most 256 characters.
    pub parameter_path: String,
    /// Only the immediate children (true) or the whole subtree (false).
    pub next_level: bool,
}

/// One entry of the answer (TR-069 ParameterInfoStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterInfoStruct {
    /// Parameter name, or object path ending in `.`; at most 256 characters.
    pub name: String,
    pub writable: bool,
}

/// CPE→ACS response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetParameterNamesResponse {
    pub parameter_list: Vec<ParameterInfoStruct>,
}

impl Rpc for GetParameterNames {
    const NAME: &'static str = "GetParameterNames";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("ParameterPath", &self.parameter_path);
        w.bool_element("NextLevel", self.next_level);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(GetParameterNames {
            parameter_path: du::bounded_string(el, "ParameterPath", 256)?,
            next_level: du::bool_child(el, "NextLevel")?,
        })
    }
}

impl Rpc for GetParameterNamesResponse {
    const NAME: &'static str = "GetParameterNamesResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array(
            "ParameterList",
            "cwmp:ParameterInfoStruct",
            self.parameter_list.len(),
        );
        for p in &self.parameter_list {
            w.open("ParameterInfoStruct");
            w.text_element("Name", &p.name);
            w.bool_element("Writable", p.writable);
            w.close("ParameterInfoStruct");
        }
        w.close("ParameterList");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let parameter_list = du::array(el, "ParameterList")?
            .iter()
            .map(|item| {
                Ok(ParameterInfoStruct {
                    name: du::bounded_string(item, "Name", 256)?,
                    writable: du::bool_child(item, "Writable")?,
                })
            })
            .collect::<ArgResult<Vec<_>>>()?;
        Ok(GetParameterNamesResponse { parameter_list })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::param_name;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = GetParameterNames> {
        (
            prop_oneof![Just(String::new()), param_name()],
            any::<bool>(),
        )
            .prop_map(|(parameter_path, next_level)| GetParameterNames {
                parameter_path,
                next_level,
            })
    }

    pub fn response() -> impl Strategy<Value = GetParameterNamesResponse> {
        proptest::collection::vec(
            (param_name(), any::<bool>())
                .prop_map(|(name, writable)| ParameterInfoStruct { name, writable }),
            0..5,
        )
        .prop_map(|parameter_list| GetParameterNamesResponse { parameter_list })
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
            "4",
            "<cwmp:GetParameterNames><ParameterPath>Device.IP.Interface.</ParameterPath>\
             <NextLevel>true</NextLevel></cwmp:GetParameterNames>",
        ));
        assert_eq!(
            env.body,
            Body::GetParameterNames(GetParameterNames {
                parameter_path: "Device.IP.Interface.".into(),
                next_level: true,
            })
        );
        let env = decode_ok(&genieacs_envelope(
            "5",
            "<cwmp:GetParameterNames><ParameterPath></ParameterPath><NextLevel>false</NextLevel></cwmp:GetParameterNames>",
        ));
        assert_eq!(
            env.body,
            Body::GetParameterNames(GetParameterNames {
                parameter_path: String::new(),
                next_level: false,
            })
        );
    }

    #[test]
    fn decodes_response() {
        let env = decode_ok(&genieacs_envelope(
            "6",
            "<cwmp:GetParameterNamesResponse><ParameterList soap-enc:arrayType=\"cwmp:ParameterInfoStruct[2]\">\
             <ParameterInfoStruct><Name>Device.IP.Interface.1.</Name><Writable>1</Writable></ParameterInfoStruct>\
             <ParameterInfoStruct><Name>Device.IP.InterfaceNumberOfEntries</Name><Writable>false</Writable>\
             </ParameterInfoStruct></ParameterList></cwmp:GetParameterNamesResponse>",
        ));
        assert_eq!(
            env.body,
            Body::GetParameterNamesResponse(GetParameterNamesResponse {
                parameter_list: vec![
                    ParameterInfoStruct {
                        name: "Device.IP.Interface.1.".into(),
                        writable: true
                    },
                    ParameterInfoStruct {
                        name: "Device.IP.InterfaceNumberOfEntries".into(),
                        writable: false
                    },
                ],
            })
        );
    }

    #[test]
    fn missing_next_level_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "7",
            "<cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath></cwmp:GetParameterNames>",
        ));
        assert_eq!(err, ArgError::missing("NextLevel"));
    }

    #[test]
    fn malformed_next_level_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "8",
            "<cwmp:GetParameterNames><ParameterPath>Device.</ParameterPath><NextLevel>yes</NextLevel></cwmp:GetParameterNames>",
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "NextLevel"),
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
