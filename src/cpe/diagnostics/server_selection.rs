//! Device.IP.Diagnostics.ServerSelectionDiagnostics: inputs and results.

use super::{Context, Diagnostic, Results, interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::{IpVersion, Outcome, SelectionProtocol, ServerSelectionRequest, Test};

const O: &str = "Device.IP.Diagnostics.ServerSelectionDiagnostics.";

pub static DIAGNOSTIC: Diagnostic = Diagnostic {
    object: O,
    state: "Device.IP.Diagnostics.ServerSelectionDiagnostics.DiagnosticsState",
    request,
    results,
    tables: &[],
    counts: &[],
};

fn request(view: &View, _: &Context) -> Test {
    let p = |n: &str| format!("{O}{n}");
    Test::ServerSelection(ServerSelectionRequest {
        protocol: match text(view, &p("Protocol")).as_str() {
            "UDP Echo" => SelectionProtocol::UdpEcho,
            _ => SelectionProtocol::Icmp,
        },
        hosts: text(view, &p("HostList"))
            .split(',')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect(),
        repetitions: number(view, &p("NumberOfRepetitions"), 3),
        timeout_ms: number(view, &p("Timeout"), 1000),
        interface_name: interface_name(view, &p("Interface")),
        ip_version: IpVersion::from_param(&text(view, &p("ProtocolVersion"))),
    })
}

fn results(outcome: &Outcome) -> Option<Results> {
    let Outcome::ServerSelection(r) = outcome else {
        return None;
    };
    let mut out = Results::new(r.state);
    out.set("FastestHost", &r.fastest_host);
    out.set("MinimumResponseTime", r.minimum_us);
    out.set("AverageResponseTime", r.average_us);
    out.set("MaximumResponseTime", r.maximum_us);
    out.set("IPAddressUsed", &r.ip_address_used);
    Some(out)
}
