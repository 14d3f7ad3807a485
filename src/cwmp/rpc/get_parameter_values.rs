//! GetParameterValues (TR-069 §A.3.2.2): the ACS reads parameter values.
//!
//! `ParameterNames` lists full parameter names and partial paths (ending in `.`, meaning every
//! parameter below); the empty string means the whole tree. The CPE answers with one
//! ParameterValueStruct per parameter, each `Value` carrying its `xsi:type`. Any unknown name
//! fails the whole request with 9005: there is no partial answer.

use crate::cwmp::decode_util as du;
use crate::cwmp::value::ParameterValueStruct;
use crate::cwmp::xml::{Element, Writer};
use crate::cwmp::{ArgResult, Rpc};

/// ACS→CPE request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetParameterValues {
    /// Names and partial paths, each at most 256 characters.
    pub parameter_names: Vec<String>,
}

/// CPE→ACS response.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GetParameterValuesResponse {
    pub parameter_list: Vec<ParameterValueStruct>,
}

impl Rpc for GetParameterValues {
    const NAME: &'static str = "GetParameterValues";

    fn encode_args(&self, w: &mut Writer) {
        w.open_array("ParameterNames", "xsd:string", self.parameter_names.len());
        for name in &self.parameter_names {
            w.text_element("string", name);
        }
        w.close("ParameterNames");
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        let parameter_names = du::string_array(el, "ParameterNames")?;
        for name in &parameter_names {
            du::check_len("ParameterNames", name, 256)?;
        }
        Ok(GetParameterValues { parameter_names })
    }
}

impl Rpc for GetParameterValuesResponse {
    const NAME: &'static str = "GetParameterValuesResponse";

    fn encode_args(&self, w: &mut Writer) {
        ParameterValueStruct::encode_list(w, "ParameterList", &self.parameter_list);
    }

    fn decode_args(el: &Element) -> ArgResult<Self> {
        Ok(GetParameterValuesResponse {
            parameter_list: ParameterValueStruct::decode_list(du::array(el, "ParameterList")?)?,
        })
    }
}

#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use crate::cwmp::rpc::arb_util::{param_name, parameter_value_struct};
    use proptest::prelude::*;

    pub fn request() -> impl Strategy<Value = GetParameterValues> {
        proptest::collection::vec(param_name(), 1..5)
            .prop_map(|parameter_names| GetParameterValues { parameter_names })
    }

    pub fn response() -> impl Strategy<Value = GetParameterValuesResponse> {
        proptest::collection::vec(parameter_value_struct(), 0..5)
            .prop_map(|parameter_list| GetParameterValuesResponse { parameter_list })
    }
}
