//! FactoryReset (TR-069 §A.4.1.3): the ACS asks the CPE to return to its factory defaults,
//! ACS→CPE. Optional for the CPE.
//!
//! No arguments either way. The CPE answers first and resets after the session has ended; every
//! setting and parameter attribute is lost, so the next Inform carries `0 BOOTSTRAP` (and
//! `1 BOOT`).

use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FactoryReset;

/// CPE→ACS response: no arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FactoryResetResponse;

impl Rpc for FactoryReset {
    const NAME: &'static str = "FactoryReset";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(FactoryReset)
    }
}

impl Rpc for FactoryResetResponse {
    const NAME: &'static str = "FactoryResetResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(FactoryResetResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = FactoryReset> {
        Just(FactoryReset)
    }

    pub fn response() -> impl Strategy<Value = FactoryResetResponse> {
        Just(FactoryResetResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::rpc::Body;
    use crate::cwmp::rpc::arb_util::{decode_ok, genieacs_envelope};
    use crate::cwmp::{DecodeErrorKind, Envelope, Limits};

    #[test]
    fn decodes_genieacs_request() {
        let env = decode_ok(&genieacs_envelope(
            "32",
            "<cwmp:FactoryReset></cwmp:FactoryReset>",
        ));
        assert_eq!(env.header.id.as_deref(), Some("32"));
        assert_eq!(env.body, Body::FactoryReset(FactoryReset));
        // Unknown children are ignored.
        let env = decode_ok(&genieacs_envelope(
            "33",
            "<cwmp:FactoryResetResponse><X_Note>bye</X_Note></cwmp:FactoryResetResponse>",
        ));
        assert_eq!(env.body, Body::FactoryResetResponse(FactoryResetResponse));
    }

    #[test]
    fn misspelt_method_is_9000() {
        // FactoryReset has no argument that could be wrong; the nearest error is the name.
        let text = genieacs_envelope("34", "<cwmp:FactoryRESET></cwmp:FactoryRESET>");
        let err = Envelope::decode(text.as_bytes(), &Limits::default()).unwrap_err();
        assert!(
            matches!(err.kind, DecodeErrorKind::UnknownMethod(_)),
            "{err:?}"
        );
        assert_eq!(err.fault().code, 9000);
    }

    proptest::proptest! {
        #[test]
        fn round_trips(request in super::arb::request(), response in super::arb::response()) {
            crate::cwmp::rpc::arb_util::round_trip(request.into())?;
            crate::cwmp::rpc::arb_util::round_trip(response.into())?;
        }
    }
}
