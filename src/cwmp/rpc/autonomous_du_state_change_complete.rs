//! AutonomousDUStateChangeComplete (TR-069 Annex "Software Module Management", CWMP ≥ 1.2): the
//! CPE reports Deployment Unit changes it made on its own (not requested by this ACS), e.g.
//! through a LAN-side app store or another management agent.
//!
//! Sent in a session whose Inform carries `12 AUTONOMOUS DU STATE CHANGE COMPLETE`, and only for
//! the operations the ACS subscribed to in
//! `Device.ManagementServer.DUStateChangeComplPolicy.` (OperationTypeFilter, ResultTypeFilter,
//! FaultCodeFilter). Each result is an OpResultStruct (see [`super::du_state_change_complete`])
//! extended with `OperationPerformed` (`Install`, `Update`, `Uninstall` or a vendor string),
//! since there is no ChangeDUState request to say which operation it was. There is no CommandKey.
//!
//! Wire shape: as for DUStateChangeComplete, the schema declares `Results` as a repeated element
//! (at least one), not a SOAP array; both forms are read. GenieACS does not implement this method.

use crate::cwmp::decode_util as du;
use crate::cwmp::rpc::du_state_change_complete::{OpResultStruct, results};
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// The operation an autonomous result reports (cwmp-1-2 DeploymentUnitOperationType).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeploymentUnitOperationType {
    Install,
    Update,
    Uninstall,
    /// A vendor-specific operation, kept verbatim.
    Other(String),
}

impl DeploymentUnitOperationType {
    pub fn as_str(&self) -> &str {
        match self {
            DeploymentUnitOperationType::Install => "Install",
            DeploymentUnitOperationType::Update => "Update",
            DeploymentUnitOperationType::Uninstall => "Uninstall",
            DeploymentUnitOperationType::Other(s) => s,
        }
    }

    pub fn from_wire(s: &str) -> DeploymentUnitOperationType {
        match s {
            "Install" => DeploymentUnitOperationType::Install,
            "Update" => DeploymentUnitOperationType::Update,
            "Uninstall" => DeploymentUnitOperationType::Uninstall,
            other => DeploymentUnitOperationType::Other(other.to_owned()),
        }
    }
}

/// The result of one autonomous Deployment Unit operation (cwmp-1-2 AutonOpResultStruct: an
/// OpResultStruct extended with OperationPerformed, written after the inherited fields).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AutonOpResultStruct {
    /// The inherited OpResultStruct fields.
    pub result: OpResultStruct,
    /// Which operation was performed.
    pub operation_performed: DeploymentUnitOperationType,
}

/// CPE→ACS request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AutonomousDuStateChangeComplete {
    /// At least one result.
    pub results: Vec<AutonOpResultStruct>,
}

/// ACS→CPE response (no arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AutonomousDuStateChangeCompleteResponse;

impl Rpc for AutonomousDuStateChangeComplete {
    const NAME: &'static str = "AutonomousDUStateChangeComplete";

    fn encode_args(&self, w: &mut Writer) {
        for r in &self.results {
            w.open("Results");
            r.result.encode_fields(w);
            w.text_element("OperationPerformed", r.operation_performed.as_str());
            w.close("Results");
        }
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let results = results(el)?
            .into_iter()
            .map(|r| {
                Ok(AutonOpResultStruct {
                    result: OpResultStruct::decode(r)?,
                    operation_performed: DeploymentUnitOperationType::from_wire(&du::string(
                        r,
                        "OperationPerformed",
                    )?),
                })
            })
            .collect::<ArgResult<_>>()?;
        Ok(AutonomousDuStateChangeComplete { results })
    }
}

impl Rpc for AutonomousDuStateChangeCompleteResponse {
    const NAME: &'static str = "AutonomousDUStateChangeCompleteResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(AutonomousDuStateChangeCompleteResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::du_state_change_complete::arb::op_result_struct;
    use proptest::prelude::*;

    pub fn operation() -> impl Strategy<Value = DeploymentUnitOperationType> {
        prop_oneof![
            Just(DeploymentUnitOperationType::Install),
            Just(DeploymentUnitOperationType::Update),
            Just(DeploymentUnitOperationType::Uninstall),
            "X_[0-9A-F]{6}_[A-Za-z]{1,10}".prop_map(DeploymentUnitOperationType::Other),
        ]
    }

    pub fn request() -> impl Strategy<Value = AutonomousDuStateChangeComplete> {
        proptest::collection::vec(
            (op_result_struct(), operation()).prop_map(|(result, operation_performed)| {
                AutonOpResultStruct {
                    result,
                    operation_performed,
                }
            }),
            1..4,
        )
        .prop_map(|results| AutonomousDuStateChangeComplete { results })
    }

    pub fn response() -> impl Strategy<Value = AutonomousDuStateChangeCompleteResponse> {
        Just(AutonomousDuStateChangeCompleteResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::ArgError;
    use crate::cwmp::xml::{Limits, parse};

    #[test]
    fn operation_performed_is_required_and_vendor_values_kept() {
        let result = "<UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID><DeploymentUnitRef/><Version/>\
            <CurrentState>Uninstalled</CurrentState><Resolved>false</Resolved><ExecutionUnitRefList/>\
            <Fault><FaultCode>0</FaultCode><FaultString/></Fault>";
        let el = |s: &str| {
            parse(format!("<m>{s}</m>").as_bytes(), &Limits::default())
                .unwrap()
                .into_owned()
        };
        let ok = AutonomousDuStateChangeComplete::decode_args(&el(&format!(
            "<Results>{result}<OperationPerformed>X_00D09E_Move</OperationPerformed></Results>"
        )))
        .unwrap();
        assert_eq!(
            ok.results[0].operation_performed,
            DeploymentUnitOperationType::Other("X_00D09E_Move".into())
        );
        assert_eq!(
            AutonomousDuStateChangeComplete::decode_args(&el(&format!(
                "<Results>{result}</Results>"
            ))),
            Err(ArgError::missing("OperationPerformed"))
        );
    }
}
