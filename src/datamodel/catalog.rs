//! Every supported object and parameter: the core registry (`registry`) and its troubleshooting
//! part (`registry_troubleshooting`) together, in that order.

use super::registry::{ObjectDef, ParamDef};

/// Every parameter.
pub fn parameters() -> impl Iterator<Item = &'static ParamDef> {
    super::registry::PARAMETERS
        .iter()
        .chain(super::registry_troubleshooting::PARAMETERS.iter())
}

/// Every object, parents before children.
pub fn objects() -> impl Iterator<Item = &'static ObjectDef> {
    super::registry::OBJECTS
        .iter()
        .chain(super::registry_troubleshooting::OBJECTS.iter())
}
