//! AddObject (TR-069 §A.3.2.6): the ACS creates a new instance of a multi-instance object,
//! ACS→CPE.
//!
//! `ObjectName` is the table's path ending in `.` (e.g. `Device.IP.Interface.`). The CPE creates
//! an instance with default values, sets `ManagementServer.ParameterKey` to `ParameterKey` on
//! success, and answers the new `InstanceNumber` (≥ 1, never reused while the device lives is
//! the safe rule) with `Status` 0 (created and applied) or 1 (committed, applied later). A path
//! that is not an addable table is fault 9005 (or 9003); a full table is 9004. GenieACS follows
//! an AddObject with GetParameterNames on the table, NextLevel true.
//!
//! The codec checks the length (256) but not the trailing `.`: a bad object name is the
//! agent's 9005, not a malformed message.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddObject {
    /// Table path ending in `.`, at most 256 characters.
    pub object_name: String,
    /// At most 32 characters; absent on the wire is read as empty.
    pub parameter_key: String,
}

/// CPE→ACS response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddObjectResponse {
    /// The new instance's number, at least 1.
    pub instance_number: u32,
    /// 0: created and applied; 1: committed, applied later.
    pub status: i32,
}

impl Rpc for AddObject {
    const NAME: &'static str = "AddObject";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("ObjectName", &self.object_name);
        w.text_element("ParameterKey", &self.parameter_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(AddObject {
            object_name: du::bounded_string(el, "ObjectName", 256)?,
            parameter_key: du::opt_bounded_string(el, "ParameterKey", 32)?,
        })
    }
}

impl Rpc for AddObjectResponse {
    const NAME: &'static str = "AddObjectResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.number_element("InstanceNumber", self.instance_number);
        w.number_element("Status", self.status);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(AddObjectResponse {
            instance_number: du::u32_child(el, "InstanceNumber")?,
            status: du::i32_child(el, "Status")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::short_string;
    use proptest::prelude::*;

    /// An object path ending in `.` (schema ObjectNameType).
    pub fn object_name() -> impl Strategy<Value = String> {
        "Device(\\.[A-Za-z][A-Za-z0-9]{0,8}){0,3}(\\.[1-9][0-9]{0,2})?\\."
    }

    pub fn request() -> impl Strategy<Value = AddObject> {
        (object_name(), short_string(32)).prop_map(|(object_name, parameter_key)| AddObject {
            object_name,
            parameter_key,
        })
    }

    pub fn response() -> impl Strategy<Value = AddObjectResponse> {
        (1..=u32::MAX, 0..=1i32).prop_map(|(instance_number, status)| AddObjectResponse {
            instance_number,
            status,
        })
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
            "21",
            "<cwmp:AddObject><ObjectName>Device.NAT.PortMapping.</ObjectName><ParameterKey></ParameterKey></cwmp:AddObject>",
        ));
        assert_eq!(
            env.body,
            Body::AddObject(AddObject {
                object_name: "Device.NAT.PortMapping.".into(),
                parameter_key: String::new(),
            })
        );
    }

    #[test]
    fn decodes_response() {
        let env = decode_ok(&genieacs_envelope(
            "22",
            "<cwmp:AddObjectResponse><InstanceNumber>3</InstanceNumber><Status>0</Status></cwmp:AddObjectResponse>",
        ));
        assert_eq!(
            env.body,
            Body::AddObjectResponse(AddObjectResponse {
                instance_number: 3,
                status: 0
            })
        );
    }

    #[test]
    fn missing_object_name_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "23",
            "<cwmp:AddObject><ParameterKey>k</ParameterKey></cwmp:AddObject>",
        ));
        assert_eq!(err, ArgError::missing("ObjectName"));
    }

    #[test]
    fn negative_instance_number_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "24",
            "<cwmp:AddObjectResponse><InstanceNumber>-1</InstanceNumber><Status>0</Status></cwmp:AddObjectResponse>",
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "InstanceNumber"),
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
