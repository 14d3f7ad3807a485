//! Building the Inform a session opens with, from the device's identity and the folded state.

use crate::cwmp::rpc::inform::{DeviceIdStruct, Inform};
use crate::cwmp::rpc::inform::{EventStruct, event_code as ec};
use crate::cwmp::{DateTime, ParameterValueStruct, Value, XsdType};
use crate::datamodel::View;
use crate::state::AgentState;

/// The TR-181 version the data model is based on (as RouterOS: Issue 2 Amendment 11).
pub use crate::datamodel::ROOT_DATA_MODEL_VERSION;

pub use crate::datamodel::DeviceIdentity;

/// The Inform for the next session: every owed event, the retry count, the forced-inform
/// parameters (Device:2.11 `forcedInform`) and every notified parameter that changed.
pub fn build_inform(
    device: &DeviceIdentity,
    state: &AgentState,
    connection_request_url: &str,
    now_ms: u64,
) -> Inform {
    let provisioning_code = state
        .parameters
        .get("Device.DeviceInfo.ProvisioningCode")
        .map(|p| p.value.clone())
        .unwrap_or_default();
    let mut parameter_list = vec![
        ParameterValueStruct::new(
            "Device.RootDataModelVersion",
            Value::string(ROOT_DATA_MODEL_VERSION),
        ),
        ParameterValueStruct::new(
            "Device.DeviceInfo.HardwareVersion",
            Value::string(&device.hardware_version),
        ),
        ParameterValueStruct::new(
            "Device.DeviceInfo.SoftwareVersion",
            Value::string(&device.software_version),
        ),
        ParameterValueStruct::new(
            "Device.DeviceInfo.ProvisioningCode",
            Value::string(provisioning_code),
        ),
        ParameterValueStruct::new(
            "Device.ManagementServer.ParameterKey",
            Value::string(&state.parameter_key),
        ),
        ParameterValueStruct::new(
            "Device.ManagementServer.ConnectionRequestURL",
            Value::string(connection_request_url),
        ),
        ParameterValueStruct::new(
            "Device.ManagementServer.AliasBasedAddressing",
            Value::boolean(false),
        ),
    ];
    for (name, value) in &state.changed_parameters {
        if parameter_list.iter().any(|p| &p.name == name) {
            continue;
        }
        let xsd_type = crate::datamodel::model::param_def(name)
            .map(|d| d.syntax.xsd_type())
            .or_else(|| {
                state
                    .parameters
                    .get(name)
                    .map(|p| XsdType::from_wire(&p.xsd_type))
                    .filter(|t| !matches!(t, XsdType::Other(_)))
            })
            .unwrap_or(XsdType::String);
        parameter_list.push(ParameterValueStruct::new(
            name.clone(),
            Value::new(xsd_type, value.clone()),
        ));
    }
    Inform {
        device_id: DeviceIdStruct {
            manufacturer: device.manufacturer.clone(),
            oui: device.oui.clone(),
            product_class: device.product_class.clone(),
            serial_number: device.serial_number.clone(),
        },
        event: state.inform_events(),
        max_envelopes: 1,
        current_time: DateTime::from_unix_millis(i64::try_from(now_ms).unwrap_or(i64::MAX)),
        retry_count: state.retry_count,
        parameter_list,
    }
}

/// The Inform of a heartbeat session: `14 HEARTBEAT` alone, RetryCount 0 (a heartbeat is never a
/// retry), the forced-inform parameters; owed events and changed values wait for their own
/// session.
pub fn build_heartbeat_inform(
    device: &DeviceIdentity,
    state: &AgentState,
    connection_request_url: &str,
    now_ms: u64,
) -> Inform {
    let mut inform = build_inform(device, state, connection_request_url, now_ms);
    inform.event = vec![EventStruct::new(ec::HEARTBEAT, "")];
    inform.retry_count = 0;
    inform
        .parameter_list
        .retain(|p| FORCED.contains(&p.name.as_str()));
    inform
}

/// The forced-inform parameters (Device:2.11 `forcedInform`).
const FORCED: &[&str] = &[
    "Device.RootDataModelVersion",
    "Device.DeviceInfo.HardwareVersion",
    "Device.DeviceInfo.SoftwareVersion",
    "Device.DeviceInfo.ProvisioningCode",
    "Device.ManagementServer.ParameterKey",
    "Device.ManagementServer.ConnectionRequestURL",
    "Device.ManagementServer.AliasBasedAddressing",
];

const INFORM_PARAMETER: &str = "Device.ManagementServer.InformParameter.";

/// The parameters `ManagementServer.InformParameter.{i}` adds to this Inform: every enabled entry
/// whose EventList names one of the Inform's events (an empty list: any event but
/// `4 VALUE CHANGE`), its ParameterName expanded (`*` for instance numbers; a partial path names
/// everything below it). Names that match nothing are left out.
pub fn inform_parameters(view: &View, inform: &Inform) -> Vec<ParameterValueStruct> {
    let state = view.state;
    let Some(instances) = state.object_instances.get(INFORM_PARAMETER) else {
        return Vec::new();
    };
    let events: Vec<&str> = inform.event.iter().map(|e| e.event_code.as_str()).collect();
    let mut out: Vec<ParameterValueStruct> = Vec::new();
    for i in instances {
        let get = |n: &str| {
            state
                .parameters
                .get(&format!("{INFORM_PARAMETER}{i}.{n}"))
                .map(|p| p.value.clone())
                .unwrap_or_default()
        };
        if get("Enable") != "true" {
            continue;
        }
        let pattern = get("ParameterName");
        if pattern.trim().is_empty() {
            continue;
        }
        let list = get("EventList");
        let wanted: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let applies = if wanted.is_empty() {
            events.iter().any(|e| *e != ec::VALUE_CHANGE)
        } else {
            events.iter().any(|e| wanted.contains(e))
        };
        if !applies {
            continue;
        }
        for p in expand(view, pattern.trim()) {
            if !out.iter().any(|o| o.name == p.name) {
                out.push(p);
            }
        }
    }
    out
}

/// The values a pattern names: `*` stands for any instance number.
fn expand(view: &View, pattern: &str) -> Vec<ParameterValueStruct> {
    let Some(star) = pattern.find('*') else {
        let mut out = Vec::new();
        return match view.values(pattern, &mut out) {
            Ok(()) => out,
            Err(_) => Vec::new(),
        };
    };
    // The table before the first `*`; each of its instances replaces it.
    let table = &pattern[..star];
    let rest = &pattern[star + 1..];
    let mut names = Vec::new();
    if view
        .names(table, true)
        .map(|entries| {
            for e in entries {
                names.push(e.name().to_owned());
            }
        })
        .is_err()
    {
        return Vec::new();
    }
    names
        .into_iter()
        .filter_map(|n| n.strip_suffix('.').map(str::to_owned))
        .flat_map(|instance| expand(view, &format!("{instance}{rest}")))
        .collect()
}

/// Appends `extra` to the Inform's ParameterList (a name already there is not repeated).
pub fn add_parameters(inform: &mut Inform, extra: Vec<ParameterValueStruct>) {
    for p in extra {
        if !inform.parameter_list.iter().any(|q| q.name == p.name) {
            inform.parameter_list.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{OwedEvent, StoredParameter};

    #[test]
    fn carries_events_retry_count_forced_and_changed_parameters() {
        let mut state = AgentState::default();
        state.owed_events.push(OwedEvent {
            code: "1 BOOT".into(),
            command_key: String::new(),
        });
        state.retry_count = 3;
        state.parameter_key = "pk".into();
        state.parameters.insert(
            "Device.X.Count".into(),
            StoredParameter {
                value: "5".into(),
                xsd_type: "unsignedInt".into(),
            },
        );
        state
            .changed_parameters
            .insert("Device.X.Count".into(), "6".into());
        let device = DeviceIdentity {
            oui: "00000C".into(),
            software_version: "7.14".into(),
            ..Default::default()
        };
        let inform = build_inform(&device, &state, "http://192.0.2.1:7547/abc", 1_000);
        assert_eq!(inform.retry_count, 3);
        assert_eq!(inform.event[0].event_code, "1 BOOT");
        assert_eq!(inform.max_envelopes, 1);
        let get = |n: &str| {
            inform
                .parameter_list
                .iter()
                .find(|p| p.name == n)
                .map(|p| p.value.clone())
        };
        assert_eq!(
            get("Device.DeviceInfo.SoftwareVersion"),
            Some(Value::string("7.14"))
        );
        assert_eq!(
            get("Device.ManagementServer.ParameterKey"),
            Some(Value::string("pk"))
        );
        assert_eq!(
            get("Device.ManagementServer.ConnectionRequestURL"),
            Some(Value::string("http://192.0.2.1:7547/abc"))
        );
        assert_eq!(
            get("Device.X.Count"),
            Some(Value::new(XsdType::UnsignedInt, "6"))
        );
    }
}
