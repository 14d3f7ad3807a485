//! DeleteObject: removes one instance (`Device.NAT.PortMapping.3.`) and everything below it.
//! Sets ParameterKey.

use crate::cwmp::rpc::delete_object::{DeleteObject, DeleteObjectResponse};
use crate::cwmp::{Body, Fault, FaultCode};
use crate::datamodel::model::table_writable;
use crate::datamodel::registry::Instances;
use crate::datamodel::{Node, View};
use crate::records::proto::{self, record::Kind};
use crate::state::record;

pub fn apply(view: &View, request: &DeleteObject) -> Result<(Vec<proto::Record>, Body), Fault> {
    let name = &request.object_name;
    match view.resolve(name)? {
        Node::External { .. } if name.ends_with('.') => {
            let provider = view
                .model
                .external_for(name)
                .ok_or_else(|| Fault::new(FaultCode::InvalidParameterName))?;
            view.external_delete(provider, name)?;
            Ok((
                vec![super::add_object::parameter_key_record(
                    &request.parameter_key,
                )],
                DeleteObjectResponse { status: 0 }.into(),
            ))
        }
        Node::Object { def, .. } if def.instances != Instances::Single && table_writable(def) => {
            Ok((
                vec![record(Kind::ObjectDeleted(proto::ObjectDeleted {
                    path: name.clone(),
                    parameter_key: request.parameter_key.clone(),
                }))],
                DeleteObjectResponse { status: 0 }.into(),
            ))
        }
        Node::Object { def, .. } if def.instances != Instances::Single && def.writable => {
            Err(Fault::with_string(
                FaultCode::RequestDenied,
                format!(
                    "{name} is one of the host's own entries; it cannot be deleted over CWMP on this device"
                ),
            ))
        }
        _ => Err(Fault::with_string(
            FaultCode::InvalidParameterName,
            format!("{name} is not an instance that can be deleted"),
        )),
    }
}
