//! AddObject: a new instance of a table the agent keeps (instance numbers are never reused: the
//! fold keeps each table's next number even after deletes), or of a table an external provider
//! owns. Sets ParameterKey.

use crate::cwmp::rpc::add_object::{AddObject, AddObjectResponse};
use crate::cwmp::{Body, Fault, FaultCode};
use crate::datamodel::model::table_writable;
use crate::datamodel::{Node, View};
use crate::records::proto::{self, record::Kind};
use crate::state::record;

pub fn apply(view: &View, request: &AddObject) -> Result<(Vec<proto::Record>, Body), Fault> {
    let name = &request.object_name;
    if !name.ends_with('.') {
        return Err(Fault::with_string(
            FaultCode::InvalidParameterName,
            format!("{name} is not a table (ObjectName must end in '.')"),
        ));
    }
    match view.resolve(name)? {
        Node::External { .. } => {
            let provider = view
                .model
                .external_for(name)
                .ok_or_else(|| Fault::new(FaultCode::InvalidParameterName))?;
            let instance_number = view.external_add(provider, name)?;
            // The provider holds the instance; the journal keeps the ParameterKey.
            Ok((
                vec![parameter_key_record(&request.parameter_key)],
                AddObjectResponse {
                    instance_number,
                    status: 0,
                }
                .into(),
            ))
        }
        Node::Table { def, .. } if table_writable(def) => {
            let instance_number = view
                .state
                .instance_counters
                .get(name.as_str())
                .copied()
                .unwrap_or(1)
                .max(1);
            Ok((
                vec![record(Kind::ObjectAdded(proto::ObjectAdded {
                    path: name.clone(),
                    instance_number,
                    parameter_key: request.parameter_key.clone(),
                }))],
                AddObjectResponse {
                    instance_number,
                    status: 0,
                }
                .into(),
            ))
        }
        Node::Table { def, .. } if def.writable => Err(Fault::with_string(
            FaultCode::RequestDenied,
            format!(
                "{name} lists the host's own entries; they cannot be created over CWMP on this device"
            ),
        )),
        _ => Err(Fault::with_string(
            FaultCode::InvalidParameterName,
            format!("{name} is not a table that can be added to"),
        )),
    }
}

/// A ParametersSet that only moves ParameterKey (for changes an external provider holds).
pub(super) fn parameter_key_record(parameter_key: &str) -> proto::Record {
    record(Kind::ParametersSet(proto::ParametersSet {
        values: Vec::new(),
        parameter_key: parameter_key.to_owned(),
        source: proto::ChangeSource::Acs as i32,
        status: 0,
    }))
}
