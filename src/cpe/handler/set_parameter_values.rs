//! SetParameterValues, all or nothing: every item is checked (name 9005, writability 9008,
//! xsi:type 9006, value 9007) before anything changes; any failure is one 9003 fault listing
//! every failing parameter and changes nothing. Otherwise the new values and the ParameterKey are
//! ONE journal record (the session journals it before the response leaves), and the fold applies
//! it — Device.ManagementServer.* values land in the operator settings they are.
//!
//! Values in an external provider's subtree are set through the provider first (it is the truth
//! for them and applies its set atomically); the ParameterKey is journaled after. A crash between
//! the two leaves the ACS without a response, so it repeats the (idempotent) request.

use std::collections::{BTreeMap, BTreeSet};

use crate::cwmp::rpc::set_parameter_values::{SetParameterValues, SetParameterValuesResponse};
use crate::cwmp::{Body, Fault, FaultCode, SetParameterValuesFault, XsdType};
use crate::datamodel::external::ExternalValue;
use crate::datamodel::validate;
use crate::datamodel::{Node, View};
use crate::records::proto::{self, record::Kind};
use crate::state::{bootstrap_for_acs_url, record};

pub fn apply(
    view: &View,
    request: &SetParameterValues,
) -> Result<(Vec<proto::Record>, Body), Fault> {
    let mut seen = BTreeSet::new();
    for p in &request.parameter_list {
        if !seen.insert(p.name.as_str()) {
            return Err(Fault::with_string(
                FaultCode::InvalidArguments,
                format!("{} is named twice in one SetParameterValues", p.name),
            ));
        }
    }
    if request.parameter_key.chars().count() > 32 {
        return Err(Fault::with_string(
            FaultCode::InvalidArguments,
            "ParameterKey is longer than 32 characters",
        ));
    }

    let mut faults = Vec::new();
    let mut writes: Vec<proto::ParameterValue> = Vec::new();
    let mut external: BTreeMap<usize, Vec<ExternalValue>> = BTreeMap::new();
    let mut needs_reboot = false;
    for p in &request.parameter_list {
        let refuse = |code: FaultCode, detail: &str| {
            SetParameterValuesFault::new(&p.name, code, Some(detail))
        };
        match view.resolve(&p.name) {
            Ok(Node::Param { name, def, .. }) => {
                match validate::check_write(def, &name, &p.value) {
                    Ok(canonical) => {
                        needs_reboot |= def.needs_reboot;
                        writes.push(proto::ParameterValue {
                            name,
                            value: canonical,
                            xsd_type: def.syntax.xsd_type().name().to_owned(),
                        });
                    }
                    Err(r) => faults.push(refuse(r.code, &r.message)),
                }
            }
            Ok(Node::External { name }) if !name.ends_with('.') => {
                let Some(i) = view.model.externals.iter().position(|e| {
                    view.model
                        .external_for(&name)
                        .is_some_and(|owner| owner.subtree == e.subtree)
                }) else {
                    faults.push(refuse(FaultCode::InvalidParameterName, "no such parameter"));
                    continue;
                };
                external.entry(i).or_default().push(ExternalValue {
                    name,
                    value: p.value.text.clone(),
                    xsd_type: p.value.xsd_type.clone().unwrap_or(XsdType::String),
                });
            }
            Ok(_) => faults.push(refuse(
                FaultCode::InvalidParameterName,
                "not a parameter (objects cannot be set)",
            )),
            Err(_) => faults.push(refuse(FaultCode::InvalidParameterName, "no such parameter")),
        }
    }
    if !faults.is_empty() {
        return Err(Fault::set_parameter_values(faults));
    }

    // Changing a diagnostic's input without requesting a new test invalidates its last results
    // (TR-181: DiagnosticsState goes back to None, result tables are emptied).
    crate::cpe::diagnostics::on_input_change(&mut writes);

    for (i, values) in &external {
        let provider = &view.model.externals[*i];
        needs_reboot |= view.external_set(provider, values)?;
    }

    let status = i32::from(needs_reboot);
    let acs_url_before = view.settings.acs_url();
    let new_acs_url = writes
        .iter()
        .find(|w| w.name == "Device.ManagementServer.URL")
        .map(|w| w.value.clone());
    let mut records = vec![record(Kind::ParametersSet(proto::ParametersSet {
        values: writes,
        parameter_key: request.parameter_key.clone(),
        source: proto::ChangeSource::Acs as i32,
        status: u32::from(needs_reboot),
    }))];
    if let Some(url) = new_acs_url {
        records.extend(bootstrap_for_acs_url(acs_url_before, &url));
    }
    Ok((records, SetParameterValuesResponse { status }.into()))
}
