//! Device.IP.Diagnostics.IPPing: inputs and results.

use super::{Context, Diagnostic, Results, interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::{IpVersion, Outcome, PingRequest, Test};

const O: &str = "Device.IP.Diagnostics.IPPing.";

pub static DIAGNOSTIC: Diagnostic = Diagnostic {
    object: O,
    state: "Device.IP.Diagnostics.IPPing.DiagnosticsState",
    request,
    results,
    tables: &[],
    counts: &[],
};

fn request(view: &View, _: &Context) -> Test {
    let p = |n: &str| format!("{O}{n}");
    Test::IpPing(PingRequest {
        host: text(view, &p("Host")),
        interface_name: interface_name(view, &p("Interface")),
        repetitions: number(view, &p("NumberOfRepetitions"), 4),
        timeout_ms: number(view, &p("Timeout"), 1000),
        data_block_size: number(view, &p("DataBlockSize"), 56),
        dscp: number(view, &p("DSCP"), 0),
        ip_version: IpVersion::from_param(&text(view, &p("ProtocolVersion"))),
    })
}

fn results(outcome: &Outcome) -> Option<Results> {
    let Outcome::IpPing(r) = outcome else {
        return None;
    };
    let mut out = Results::new(r.state);
    out.set("SuccessCount", r.success_count);
    out.set("FailureCount", r.failure_count);
    out.set("AverageResponseTime", r.average_ms);
    out.set("MinimumResponseTime", r.minimum_ms);
    out.set("MaximumResponseTime", r.maximum_ms);
    out.set("AverageResponseTimeDetailed", r.average_us);
    out.set("MinimumResponseTimeDetailed", r.minimum_us);
    out.set("MaximumResponseTimeDetailed", r.maximum_us);
    out.set("IPAddressUsed", &r.ip_address_used);
    Some(out)
}
