//! Device.IP.Diagnostics.IPPing in the core: a DiagnosticsState of `Requested` in the folded
//! state means a test is owed (also after a crash mid-test: it simply runs again). The core builds
//! the request, the edge runs the system `ping`, and the results, the new state and
//! `8 DIAGNOSTICS COMPLETE` are one journal batch.

use crate::records::proto::{self, Record, record::Kind};

use crate::cwmp::XsdType;
use crate::cwmp::rpc::inform::event_code as ec;
use crate::datamodel::View;
use crate::datamodel::ipping::{PingRequest, PingResult};
use crate::state::{AgentState, event_raised, record};

const PING: &str = "Device.IP.Diagnostics.IPPing.";

/// Whether an IPPing is requested and not yet run.
pub fn ping_requested(state: &AgentState) -> bool {
    state
        .parameters
        .get(&format!("{PING}DiagnosticsState"))
        .is_some_and(|p| p.value == "Requested")
}

fn number(view: &View, name: &str, default: u32) -> u32 {
    let mut out = Vec::new();
    if view.values(&format!("{PING}{name}"), &mut out).is_err() {
        return default;
    }
    out.first()
        .and_then(|p| p.value.text.parse().ok())
        .unwrap_or(default)
}

/// The requested test's inputs, read from the data model.
pub fn ping_request(view: &View) -> PingRequest {
    let text = |name: &str| {
        view.state
            .parameters
            .get(&format!("{PING}{name}"))
            .map(|p| p.value.clone())
            .unwrap_or_default()
    };
    // Interface is a TR-181 path (Device.IP.Interface.2); ping needs the host's name.
    let interface_path = text("Interface");
    let interface_name = if interface_path.is_empty() {
        None
    } else {
        let mut out = Vec::new();
        let name_param = format!("{}.Name", interface_path.trim_end_matches('.'));
        view.values(&name_param, &mut out)
            .ok()
            .and_then(|()| out.first().map(|p| p.value.text.clone()))
    };
    PingRequest {
        host: text("Host"),
        interface_name,
        repetitions: number(view, "NumberOfRepetitions", 4),
        timeout_ms: number(view, "Timeout", 1000),
        data_block_size: number(view, "DataBlockSize", 56),
        dscp: number(view, "DSCP", 0),
    }
}

/// The results, `DiagnosticsCompleted` and `8 DIAGNOSTICS COMPLETE`: one batch.
pub fn ping_records(result: &PingResult) -> Vec<Record> {
    let value = |name: &str, value: String, xsd_type: XsdType| proto::ParameterValue {
        name: format!("{PING}{name}"),
        value,
        xsd_type: xsd_type.name().to_owned(),
    };
    let values = vec![
        value("DiagnosticsState", result.state.to_owned(), XsdType::String),
        value(
            "SuccessCount",
            result.success_count.to_string(),
            XsdType::UnsignedInt,
        ),
        value(
            "FailureCount",
            result.failure_count.to_string(),
            XsdType::UnsignedInt,
        ),
        value(
            "AverageResponseTime",
            result.average_ms.to_string(),
            XsdType::UnsignedInt,
        ),
        value(
            "MinimumResponseTime",
            result.minimum_ms.to_string(),
            XsdType::UnsignedInt,
        ),
        value(
            "MaximumResponseTime",
            result.maximum_ms.to_string(),
            XsdType::UnsignedInt,
        ),
    ];
    vec![
        record(Kind::ParametersSet(proto::ParametersSet {
            values,
            parameter_key: String::new(),
            source: proto::ChangeSource::Host as i32,
            status: 0,
        })),
        record(Kind::DiagnosticsCompleted(proto::DiagnosticsCompleted {
            name: PING.to_owned(),
            state: result.state.to_owned(),
        })),
        event_raised(ec::DIAGNOSTICS_COMPLETE, ""),
    ]
}
