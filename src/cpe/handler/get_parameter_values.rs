//! GetParameterValues: full names and partial paths (ending in `.`, `""` = everything); any
//! unknown name faults the whole request with 9005 (no partial answers).

use crate::cwmp::rpc::get_parameter_values::{GetParameterValues, GetParameterValuesResponse};
use crate::cwmp::{Body, Fault};
use crate::datamodel::View;

pub fn apply(view: &View, request: &GetParameterValues) -> Result<Body, Fault> {
    let mut parameter_list = Vec::new();
    for name in &request.parameter_names {
        view.values(name, &mut parameter_list)?;
    }
    Ok(GetParameterValuesResponse { parameter_list }.into())
}
