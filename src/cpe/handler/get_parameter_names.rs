//! GetParameterNames: a parameter (NextLevel must be false), a partial path or `""`; NextLevel
//! true lists only the immediate children, false the node itself and everything below it.
//! Writable is what this device really allows: a table is writable when AddObject works on it,
//! an instance when DeleteObject does.

use crate::cwmp::rpc::get_parameter_names::{
    GetParameterNames, GetParameterNamesResponse, ParameterInfoStruct,
};
use crate::cwmp::{Body, Fault};
use crate::datamodel::model::effectively_writable;
use crate::datamodel::{Entry, View};

pub fn apply(view: &View, request: &GetParameterNames) -> Result<Body, Fault> {
    let entries = view.names(&request.parameter_path, request.next_level)?;
    let parameter_list = entries
        .into_iter()
        .map(|e| match e {
            Entry::Object { name, writable } | Entry::ExternalParam { name, writable } => {
                ParameterInfoStruct { name, writable }
            }
            Entry::Param { name, def, .. } => ParameterInfoStruct {
                name,
                writable: effectively_writable(def),
            },
        })
        .collect();
    Ok(GetParameterNamesResponse { parameter_list }.into())
}
