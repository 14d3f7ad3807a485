//! ScheduleInform (TR-069 §A.4.1.4): the ACS asks for a session later, ACS→CPE. Optional for
//! the CPE.
//!
//! `DelaySeconds` after the response, the CPE opens a session whose Inform carries
//! `3 SCHEDULED` and `M ScheduleInform` with this `CommandKey`. Several may be pending; each
//! fires on its own. A zero delay is fault 9003 — a semantic check left to the agent: the codec
//! reads 0 like any other number.

use crate::cwmp::decode_util as du;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ScheduleInform {
    /// Seconds from the response to the scheduled session; must be > 0 (checked by the agent).
    pub delay_seconds: u32,
    /// At most 32 characters; echoed in `M ScheduleInform`. Absent is read as empty.
    pub command_key: String,
}

/// CPE→ACS response: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ScheduleInformResponse;

impl Rpc for ScheduleInform {
    const NAME: &'static str = "ScheduleInform";

    fn encode_args(&self, w: &mut Writer) {
        w.number_element("DelaySeconds", self.delay_seconds);
        w.text_element("CommandKey", &self.command_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(ScheduleInform {
            delay_seconds: du::u32_child(el, "DelaySeconds")?,
            command_key: du::opt_bounded_string(el, "CommandKey", 32)?,
        })
    }
}

impl Rpc for ScheduleInformResponse {
    const NAME: &'static str = "ScheduleInformResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(ScheduleInformResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::command_key;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = ScheduleInform> {
        (any::<u32>(), command_key()).prop_map(|(delay_seconds, command_key)| ScheduleInform {
            delay_seconds,
            command_key,
        })
    }

    pub fn response() -> impl Strategy<Value = ScheduleInformResponse> {
        Just(ScheduleInformResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::ArgError;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, expect_invalid_arguments, genieacs_envelope};

    #[test]
    fn decodes_request_in_any_order() {
        let env = decode_ok(&genieacs_envelope(
            "35",
            "<cwmp:ScheduleInform><CommandKey>si</CommandKey><DelaySeconds> 60 </DelaySeconds></cwmp:ScheduleInform>",
        ));
        assert_eq!(
            env.body,
            Body::ScheduleInform(ScheduleInform {
                delay_seconds: 60,
                command_key: "si".into()
            })
        );
    }

    #[test]
    fn zero_delay_is_left_to_the_agent() {
        let env = decode_ok(&genieacs_envelope(
            "36",
            "<cwmp:ScheduleInform><DelaySeconds>0</DelaySeconds><CommandKey></CommandKey></cwmp:ScheduleInform>",
        ));
        assert_eq!(
            env.body,
            Body::ScheduleInform(ScheduleInform {
                delay_seconds: 0,
                command_key: String::new()
            })
        );
    }

    #[test]
    fn missing_delay_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "37",
            "<cwmp:ScheduleInform><CommandKey>si</CommandKey></cwmp:ScheduleInform>",
        ));
        assert_eq!(err, ArgError::missing("DelaySeconds"));
    }

    #[test]
    fn negative_delay_is_9003() {
        let err = expect_invalid_arguments(&genieacs_envelope(
            "38",
            "<cwmp:ScheduleInform><DelaySeconds>-5</DelaySeconds><CommandKey>si</CommandKey></cwmp:ScheduleInform>",
        ));
        assert!(
            matches!(err, ArgError::Invalid { ref name, .. } if name == "DelaySeconds"),
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
