//! GetRPCMethods (TR-069 §A.3.1.1): asks the other side which RPC methods it supports.
//!
//! The only method defined in both directions. The ACS may ask the CPE (which must answer with
//! every method it implements — anything else it is called with gets fault 9000), and the CPE
//! may ask the ACS, e.g. to learn whether Kicked or the DU methods will be accepted before
//! sending them (GenieACS lists only Inform, GetRPCMethods and TransferComplete). The request
//! has no arguments; the response carries `MethodList`, an `xsd:string[]` of method names, each
//! at most 64 characters.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// Request, in either direction. No arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct GetRpcMethods;

/// Response, in either direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct GetRpcMethodsResponse {
    /// Method element names (`GetParameterValues`, `Download`, …), each at most 64 characters.
    /// The schema requires at least one.
    pub method_list: Vec<String>,
}

impl Rpc for GetRpcMethods {
    const NAME: &'static str = "GetRPCMethods";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(GetRpcMethods)
    }
}

impl Rpc for GetRpcMethodsResponse {
    const NAME: &'static str = "GetRPCMethodsResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array("MethodList", "xsd:string", self.method_list.len());
        for m in &self.method_list {
            w.text_element("string", m);
        }
        w.close("MethodList");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let method_list = du::string_array(el, "MethodList")?;
        for m in &method_list {
            du::check_len("MethodList", m, 64)?;
        }
        Ok(GetRpcMethodsResponse { method_list })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = GetRpcMethods> {
        Just(GetRpcMethods)
    }

    pub fn response() -> impl Strategy<Value = GetRpcMethodsResponse> {
        proptest::collection::vec(
            prop_oneof![
                Just("GetRPCMethods".to_owned()),
                Just("Inform".to_owned()),
                Just("TransferComplete".to_owned()),
                "X_[0-9A-F]{6}_[A-Za-z]{1,20}",
            ],
            1..6,
        )
        .prop_map(|method_list| GetRpcMethodsResponse { method_list })
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
            "1",
            "<cwmp:GetRPCMethods></cwmp:GetRPCMethods>",
        ));
        assert_eq!(env.header.id.as_deref(), Some("1"));
        assert_eq!(env.body, Body::GetRpcMethods(GetRpcMethods));
    }

    #[test]
    fn decodes_genieacs_response() {
        let env = decode_ok(&genieacs_envelope(
            "cpe-2",
            "<cwmp:GetRPCMethodsResponse><MethodList soap-enc:arrayType=\"xsd:string[3]\">\
             <string>Inform</string><string>GetRPCMethods</string><string>TransferComplete</string>\
             </MethodList></cwmp:GetRPCMethodsResponse>",
        ));
        assert_eq!(
            env.body,
            Body::GetRpcMethodsResponse(GetRpcMethodsResponse {
                method_list: vec![
                    "Inform".into(),
                    "GetRPCMethods".into(),
                    "TransferComplete".into()
                ],
            })
        );
    }

    #[test]
    fn response_without_method_list_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "3",
            "<cwmp:GetRPCMethodsResponse></cwmp:GetRPCMethodsResponse>",
        ));
        assert_eq!(err, ArgError::missing("MethodList"));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
