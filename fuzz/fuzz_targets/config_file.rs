//! A configuration file (`Device.Parameter = value` lines) as an ACS's Download delivers it:
//! parsing and checking against the data model never panic; what passes the check, once applied,
//! is exported with the same canonical values (export then overwrite round-trips).
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tr069_client::datamodel::config_file::{check, export, parse};
use tr069_client::datamodel::external::RunProviders;
use tr069_client::datamodel::host::StaticHost;
use tr069_client::datamodel::{DataModel, DeviceIdentity, View};
use tr069_client::records::proto::{ConfigurationApplied, ParameterValue};
use tr069_client::state::AgentState;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(values) = parse(text) else {
        return;
    };
    let model = DataModel::new(DeviceIdentity::default(), Arc::new(StaticHost::default()));
    let factory = BTreeMap::new();
    let state = AgentState::default();
    let view = View::new(&model, &state, &factory, "", 0, &RunProviders);
    let Ok(checked) = check(&view, &values) else {
        return;
    };
    let mut applied = AgentState::default();
    let record = ConfigurationApplied {
        values: checked
            .iter()
            .map(|(name, value, xsd_type)| ParameterValue {
                name: name.clone(),
                value: value.clone(),
                xsd_type: xsd_type.clone(),
            })
            .collect(),
        replace: true,
        transfer_id: "fuzz".into(),
    };
    applied.apply(1, 0, &record.into());
    let view = View::new(&model, &applied, &factory, "", 0, &RunProviders);
    let exported = export(&view, "fuzz").expect("exporting an applied configuration");
    let again: BTreeMap<String, String> = parse(&exported)
        .expect("the agent parses its own export")
        .into_iter()
        .collect();
    let last: BTreeMap<&str, &str> = checked
        .iter()
        .map(|(n, v, _)| (n.as_str(), v.as_str()))
        .collect();
    for (name, value) in last {
        if let Some(exported) = again.get(name) {
            assert_eq!(exported, value, "{name} exported differently");
        }
    }
});
