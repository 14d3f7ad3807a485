//! Reboot (TR-069 §A.3.2.9): the ACS asks the CPE to reboot, ACS→CPE.
//!
//! The CPE answers RebootResponse at once and reboots only after the session has ended. The
//! next session's Inform carries `1 BOOT` plus `M Reboot` with this `CommandKey`, so the ACS can
//! tell which request the reboot answered.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Reboot {
    /// At most 32 characters; echoed in the `M Reboot` event. Absent is read as empty.
    pub command_key: String,
}

/// CPE→ACS response: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RebootResponse;

impl Rpc for Reboot {
    const NAME: &'static str = "Reboot";

    fn encode_args(&self, w: &mut Writer) {
        w.text_element("CommandKey", &self.command_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(Reboot {
            command_key: du::opt_bounded_string(el, "CommandKey", 32)?,
        })
    }
}

impl Rpc for RebootResponse {
    const NAME: &'static str = "RebootResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(RebootResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::command_key;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = Reboot> {
        command_key().prop_map(|command_key| Reboot { command_key })
    }

    pub fn response() -> impl Strategy<Value = RebootResponse> {
        Just(RebootResponse)
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
            "29",
            "<cwmp:Reboot><CommandKey>reboot-29</CommandKey></cwmp:Reboot>",
        ));
        assert_eq!(env.header.id.as_deref(), Some("29"));
        assert_eq!(
            env.body,
            Body::Reboot(Reboot {
                command_key: "reboot-29".into()
            })
        );
        let env = decode_ok(&genieacs_envelope("30", "<cwmp:RebootResponse/>"));
        assert_eq!(env.body, Body::RebootResponse(RebootResponse));
    }

    #[test]
    fn oversized_command_key_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "31",
            &format!(
                "<cwmp:Reboot><CommandKey>{}</CommandKey></cwmp:Reboot>",
                "k".repeat(33)
            ),
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "CommandKey"),
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
