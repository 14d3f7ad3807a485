//! GetParameterAttributes: Notification and AccessList of parameters (partial paths expand to
//! every parameter below).

use crate::cwmp::rpc::get_parameter_attributes::{
    GetParameterAttributes, GetParameterAttributesResponse, ParameterAttributeStruct,
};
use crate::cwmp::{Body, Fault};
use crate::datamodel::model::effective_notification;
use crate::datamodel::{Entry, View};

pub fn apply(view: &View, request: &GetParameterAttributes) -> Result<Body, Fault> {
    let mut parameter_list = Vec::new();
    for name in &request.parameter_names {
        for entry in super::parameters_under(view, name)? {
            let (notification, name) = match entry {
                Entry::Param { name, def, .. } => {
                    (effective_notification(def, view.state, &name), name)
                }
                Entry::ExternalParam { name, .. } => (
                    view.state
                        .attributes
                        .get(&name)
                        .map(|a| a.notification)
                        .unwrap_or(0),
                    name,
                ),
                Entry::Object { .. } => continue,
            };
            let access_list = view
                .state
                .attributes
                .get(&name)
                .map(|a| a.access_list.clone())
                .unwrap_or_default();
            parameter_list.push(ParameterAttributeStruct {
                name,
                notification: i32::try_from(notification).unwrap_or(0),
                access_list,
            });
        }
    }
    Ok(GetParameterAttributesResponse { parameter_list }.into())
}
