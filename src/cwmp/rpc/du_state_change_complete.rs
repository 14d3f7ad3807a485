//! DUStateChangeComplete (TR-069 §A.4.2.3 / Annex "Software Module Management", CWMP ≥ 1.2): the
//! CPE reports the outcome of a ChangeDUState the ACS requested.
//!
//! ChangeDUState asks for Install / Update / Uninstall operations on Deployment Units (software
//! packages) and is answered at once; the work happens afterwards. When every operation is done
//! the CPE starts a session whose Inform carries `11 DU STATE CHANGE COMPLETE` and
//! `M ChangeDUState <CommandKey>`, and calls this method with one result per operation, in the
//! order of the request's operations. Each result names the Deployment Unit (`UUID`,
//! `DeploymentUnitRef` = its `Device.SoftwareModules.DeploymentUnit.{i}.` path, `Version`), the
//! state it ended in, whether its dependencies resolved, the Execution Units it created / removed /
//! kept (`ExecutionUnitRefList`, comma-separated paths), the operation's times (Unknown Time if
//! not known) and a `Fault` (FaultCode 0 = success, else one of the DU codes 9001, 9003,
//! 9012–9018, 9022–9032 or an extension/vendor code).
//!
//! Wire shape: the cwmp-1-2 schema declares `Results` as a *repeated element* (one `<Results>` per
//! OpResultStruct, at least one), not as a SOAP-encoded array; that is what is written. Some CPEs
//! write `<Results soap-enc:arrayType="cwmp:OpResultStruct[n]">` wrapping `<OpResultStruct>` items
//! instead, following the prose of Annex A: the decoder reads both.
//!
//! GenieACS does not implement this method (fault 8000).

use crate::cwmp::datetime::DateTime;
use crate::cwmp::decode_util as du;
use crate::cwmp::fault::FaultStruct;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgError, ArgResult, Rpc};

/// The state a Deployment Unit is left in (cwmp-1-2 DeploymentUnitState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeploymentUnitState {
    /// The DU is installed (after a successful Install or Update, or a failed Uninstall).
    Installed,
    /// The DU is uninstalled.
    Uninstalled,
    /// The Install failed so that no DU instance could be created.
    Failed,
}

impl DeploymentUnitState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentUnitState::Installed => "Installed",
            DeploymentUnitState::Uninstalled => "Uninstalled",
            DeploymentUnitState::Failed => "Failed",
        }
    }

    pub fn from_wire(s: &str) -> Option<DeploymentUnitState> {
        match s {
            "Installed" => Some(DeploymentUnitState::Installed),
            "Uninstalled" => Some(DeploymentUnitState::Uninstalled),
            "Failed" => Some(DeploymentUnitState::Failed),
            _ => None,
        }
    }
}

/// The result of one Deployment Unit operation (cwmp-1-2 OpResultStruct).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpResultStruct {
    /// The DU's UUID, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex digits; empty is not valid).
    pub uuid: String,
    /// The DU's object path, e.g. `Device.SoftwareModules.DeploymentUnit.2` (empty if none).
    pub deployment_unit_ref: String,
    /// The DU's version, at most 32 characters.
    pub version: String,
    pub current_state: DeploymentUnitState,
    /// Whether the DU's dependencies were all resolved after the Install or Update.
    pub resolved: bool,
    /// Comma-separated Execution Unit paths: created by an install, removed by an uninstall,
    /// remaining after an update.
    pub execution_unit_ref_list: String,
    /// When the operation started (the Unknown Time if not known).
    pub start_time: DateTime,
    /// When the operation completed (the Unknown Time if not known).
    pub complete_time: DateTime,
    /// The outcome (DeploymentUnitFaultStruct): FaultCode 0 for success.
    pub fault: FaultStruct,
}

impl OpResultStruct {
    /// Writes the struct's fields (the caller writes the enclosing element).
    pub(crate) fn encode_fields(&self, w: &mut Writer) {
        w.text_element("UUID", &self.uuid);
        w.text_element("DeploymentUnitRef", &self.deployment_unit_ref);
        w.text_element("Version", &self.version);
        w.text_element("CurrentState", self.current_state.as_str());
        w.bool_element("Resolved", self.resolved);
        w.text_element("ExecutionUnitRefList", &self.execution_unit_ref_list);
        w.display_element("StartTime", self.start_time);
        w.display_element("CompleteTime", self.complete_time);
        self.fault.encode(w, "Fault");
    }

    /// Reads the struct's fields from `el`, by local name.
    pub(crate) fn decode(el: &Element) -> ArgResult<OpResultStruct> {
        let uuid = du::string(el, "UUID")?;
        if !is_uuid(&uuid) {
            return Err(ArgError::invalid("UUID", format!("{uuid:?} is not a UUID")));
        }
        let state = du::string(el, "CurrentState")?;
        let current_state = DeploymentUnitState::from_wire(&state).ok_or_else(|| {
            ArgError::invalid(
                "CurrentState",
                format!("{state:?} is not a Deployment Unit state"),
            )
        })?;
        Ok(OpResultStruct {
            uuid,
            deployment_unit_ref: du::string(el, "DeploymentUnitRef")?,
            version: du::bounded_string(el, "Version", 32)?,
            current_state,
            resolved: du::bool_child(el, "Resolved")?,
            execution_unit_ref_list: du::string(el, "ExecutionUnitRefList")?,
            start_time: du::opt_datetime(el, "StartTime")?,
            complete_time: du::opt_datetime(el, "CompleteTime")?,
            fault: FaultStruct::decode(el, "Fault")?,
        })
    }
}

/// `8-4-4-4-12` hex digits (cwmp-1-2 DeploymentUnitUUID).
fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The result structs inside `el`'s `Results`: every `Results` child that holds the struct's
/// fields directly (the schema's form), or the items of a `Results` SOAP array. At least one.
pub(crate) fn results<'a, 'x>(el: &'a Element<'x>) -> ArgResult<Vec<&'a Element<'x>>> {
    let mut items = Vec::new();
    for r in el.children_named("Results") {
        if r.child("UUID").is_some() || r.children.is_empty() {
            items.push(r);
        } else {
            items.extend(r.children.iter());
        }
    }
    if items.is_empty() {
        return Err(ArgError::missing("Results"));
    }
    Ok(items)
}

/// CPE→ACS request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DuStateChangeComplete {
    /// One result per operation of the ChangeDUState, in the same order; at least one.
    pub results: Vec<OpResultStruct>,
    /// The ChangeDUState's CommandKey (at most 32 characters; empty if it had none).
    pub command_key: String,
}

/// ACS→CPE response (no arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DuStateChangeCompleteResponse;

impl Rpc for DuStateChangeComplete {
    const NAME: &'static str = "DUStateChangeComplete";

    fn encode_args(&self, w: &mut Writer) {
        for r in &self.results {
            w.open("Results");
            r.encode_fields(w);
            w.close("Results");
        }
        w.text_element("CommandKey", &self.command_key);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(DuStateChangeComplete {
            results: results(el)?
                .into_iter()
                .map(OpResultStruct::decode)
                .collect::<ArgResult<_>>()?,
            command_key: du::opt_bounded_string(el, "CommandKey", 32)?,
        })
    }
}

impl Rpc for DuStateChangeCompleteResponse {
    const NAME: &'static str = "DUStateChangeCompleteResponse";

    fn encode_args(&self, _w: &mut Writer) {}

    fn decode_args(_el: &Element) -> ArgResult<Self> {
        Ok(DuStateChangeCompleteResponse)
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{command_key, date_time, short_string};
    use proptest::prelude::*;

    /// A DeploymentUnitFaultStruct valid in cwmp-1-2.
    pub fn du_fault() -> impl Strategy<Value = FaultStruct> {
        let code = prop_oneof![
            Just(0u32),
            proptest::sample::select(vec![
                9001u32, 9003, 9012, 9013, 9015, 9016, 9017, 9018, 9022, 9023, 9024, 9025, 9026,
                9027, 9028, 9029, 9030, 9031, 9032,
            ]),
            9033u32..9900,
        ];
        (code, short_string(256)).prop_map(|(fault_code, fault_string)| FaultStruct {
            fault_code,
            fault_string,
        })
    }

    pub fn op_result_struct() -> impl Strategy<Value = OpResultStruct> {
        (
            "[0-9a-fA-F]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9A-F]{4}-[0-9a-f]{12}",
            "(Device\\.SoftwareModules\\.DeploymentUnit\\.[1-9][0-9]{0,2})?",
            short_string(32),
            prop_oneof![
                Just(DeploymentUnitState::Installed),
                Just(DeploymentUnitState::Uninstalled),
                Just(DeploymentUnitState::Failed),
            ],
            any::<bool>(),
            "(Device\\.SoftwareModules\\.ExecutionUnit\\.[1-9](, ?Device\\.SoftwareModules\\.ExecutionUnit\\.[1-9]){0,2})?",
            date_time(),
            date_time(),
            du_fault(),
        )
            .prop_map(
                |(uuid, deployment_unit_ref, version, current_state, resolved, execution_unit_ref_list, start_time, complete_time, fault)| OpResultStruct {
                    uuid,
                    deployment_unit_ref,
                    version,
                    current_state,
                    resolved,
                    execution_unit_ref_list,
                    start_time,
                    complete_time,
                    fault,
                },
            )
    }

    pub fn request() -> impl Strategy<Value = DuStateChangeComplete> {
        (
            proptest::collection::vec(op_result_struct(), 1..4),
            command_key(),
        )
            .prop_map(|(results, command_key)| DuStateChangeComplete {
                results,
                command_key,
            })
    }

    pub fn response() -> impl Strategy<Value = DuStateChangeCompleteResponse> {
        Just(DuStateChangeCompleteResponse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cwmp::xml::{Limits, parse};

    const RESULT: &str = "<UUID>6ba7b810-9dad-11d1-80b4-00c04fd430c8</UUID><DeploymentUnitRef>Device.SoftwareModules.DeploymentUnit.1</DeploymentUnitRef>\
        <Version>1.0</Version><CurrentState>Installed</CurrentState><Resolved>1</Resolved><ExecutionUnitRefList/>\
        <Fault><FaultCode>0</FaultCode></Fault>";

    fn decode(args: &str) -> ArgResult<DuStateChangeComplete> {
        let el = parse(format!("<m>{args}</m>").as_bytes(), &Limits::default())
            .unwrap()
            .into_owned();
        DuStateChangeComplete::decode_args(&el)
    }

    #[test]
    fn reads_the_schema_form_and_the_array_form() {
        let direct = decode(&format!(
            "<Results>{RESULT}</Results><Results>{RESULT}</Results>"
        ))
        .unwrap();
        assert_eq!(direct.results.len(), 2);
        assert_eq!(direct.command_key, "");
        assert_eq!(direct.results[0].start_time, DateTime::UNKNOWN);
        let array = decode(&format!(
            "<CommandKey>k</CommandKey><Results soap-enc:arrayType=\"cwmp:OpResultStruct[2]\"><OpResultStruct>{RESULT}</OpResultStruct><OpResultStruct>{RESULT}</OpResultStruct></Results>"
        ))
        .unwrap();
        assert_eq!(array.results, direct.results);
        assert_eq!(array.command_key, "k");
    }

    #[test]
    fn strict_where_it_matters() {
        assert_eq!(decode("<CommandKey/>"), Err(ArgError::missing("Results")));
        assert!(
            decode(&format!(
                "<Results>{}</Results>",
                RESULT.replace("Installed", "Running")
            ))
            .is_err()
        );
        assert!(
            decode(&format!(
                "<Results>{}</Results>",
                RESULT.replace("6ba7b810-", "6ba7b810")
            ))
            .is_err()
        );
        assert!(
            decode(&format!(
                "<Results>{}</Results>",
                RESULT.replace("<Resolved>1", "<Resolved>yes")
            ))
            .is_err()
        );
        assert!(
            decode(&format!(
                "<Results>{}</Results>",
                RESULT.replace("<Fault><FaultCode>0</FaultCode></Fault>", "")
            ))
            .is_err()
        );
    }
}
