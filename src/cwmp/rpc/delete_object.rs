//! DeleteObject (TR-069 §A.3.2.7): the ACS removes an instance of a multi-instance object,
//! ACS→CPE.
//!
//! `ObjectName` is the instance's path ending in `.` (e.g. `Device.IP.Interface.3.`); the whole
//! subtree goes. On success the CPE sets `ManagementServer.ParameterKey` to `ParameterKey` and
//! answers `Status` 0 (deleted and applied) or 1 (committed, applied later). A path that is not
//! a deletable instance is fault 9005 (or 9003) — the agent's decision; the codec checks only
//! the length.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeleteObject {
    /// Instance path ending in `.`, at most 256 characters.
    pub object_name: String,
    /// At most 32 characters; absent on the wire is read as empty.
    pub parameter_key: String,
}

/// CPE→ACS response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeleteObjectResponse {
    /// 0: deleted and applied; 1: committed, applied later.
    pub status: i32,
}

impl Rpc for DeleteObject {
    const NAME: &'static str = "DeleteObject";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("ObjectName", &self.object_name);
        w.text_element("ParameterKey", &self.parameter_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(DeleteObject {
            object_name: du::bounded_string(el, "ObjectName", 256)?,
            parameter_key: du::opt_bounded_string(el, "ParameterKey", 32)?,
        })
    }
}

impl Rpc for DeleteObjectResponse {
    const NAME: &'static str = "DeleteObjectResponse";

    fn encode_args(&self, w: &mut Writer) {
        w.number_element("Status", self.status);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(DeleteObjectResponse {
            status: du::i32_child(el, "Status")?,
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::add_object::arb::object_name;
    use crate::cwmp::rpc::arb_util::short_string;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = DeleteObject> {
        (object_name(), short_string(32)).prop_map(|(object_name, parameter_key)| DeleteObject {
            object_name,
            parameter_key,
        })
    }

    pub fn response() -> impl Strategy<Value = DeleteObjectResponse> {
        (0..=1i32).prop_map(|status| DeleteObjectResponse { status })
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
            "25",
            "<cwmp:DeleteObject><ObjectName>Device.NAT.PortMapping.2.</ObjectName><ParameterKey>pk</ParameterKey></cwmp:DeleteObject>",
        ));
        assert_eq!(
            env.body,
            Body::DeleteObject(DeleteObject {
                object_name: "Device.NAT.PortMapping.2.".into(),
                parameter_key: "pk".into(),
            })
        );
    }

    #[test]
    fn decodes_response() {
        let env = decode_ok(&genieacs_envelope(
            "26",
            "<cwmp:DeleteObjectResponse><Status>1</Status></cwmp:DeleteObjectResponse>",
        ));
        assert_eq!(
            env.body,
            Body::DeleteObjectResponse(DeleteObjectResponse { status: 1 })
        );
    }

    #[test]
    fn missing_object_name_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "27",
            "<cwmp:DeleteObject></cwmp:DeleteObject>",
        ));
        assert_eq!(err, ArgError::missing("ObjectName"));
    }

    #[test]
    fn missing_status_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "28",
            "<cwmp:DeleteObjectResponse></cwmp:DeleteObjectResponse>",
        ));
        assert_eq!(err, ArgError::missing("Status"));
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
