//! Device.IP.Diagnostics.TraceRoute: inputs and results (RouteHops.{i}).

use super::{Context, Diagnostic, Results, interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::{IpVersion, Outcome, Test, TraceRouteRequest};

const O: &str = "Device.IP.Diagnostics.TraceRoute.";

pub static DIAGNOSTIC: Diagnostic = Diagnostic {
    object: O,
    state: "Device.IP.Diagnostics.TraceRoute.DiagnosticsState",
    request,
    results,
    tables: &["RouteHops."],
    counts: &["RouteHopsNumberOfEntries"],
};

fn request(view: &View, _: &Context) -> Test {
    let p = |n: &str| format!("{O}{n}");
    Test::TraceRoute(TraceRouteRequest {
        host: text(view, &p("Host")),
        interface_name: interface_name(view, &p("Interface")),
        ip_version: IpVersion::from_param(&text(view, &p("ProtocolVersion"))),
        tries: number(view, &p("NumberOfTries"), 3),
        timeout_ms: number(view, &p("Timeout"), 5000),
        data_block_size: number(view, &p("DataBlockSize"), 38),
        dscp: number(view, &p("DSCP"), 0),
        max_hops: number(view, &p("MaxHopCount"), 30),
    })
}

fn results(outcome: &Outcome) -> Option<Results> {
    let Outcome::TraceRoute(r) = outcome else {
        return None;
    };
    let mut out = Results::new(r.state);
    out.set("IPAddressUsed", &r.ip_address_used);
    out.set("ResponseTime", r.response_time_ms);
    out.set("RouteHopsNumberOfEntries", r.hops.len());
    for (i, hop) in r.hops.iter().enumerate() {
        let n = i + 1;
        out.set(format!("RouteHops.{n}.Host"), &hop.host);
        out.set(format!("RouteHops.{n}.HostAddress"), &hop.address);
        out.set(format!("RouteHops.{n}.ErrorCode"), hop.error_code);
        let rtts: Vec<String> = hop.rtts_ms.iter().map(u32::to_string).collect();
        out.set(format!("RouteHops.{n}.RTTimes"), rtts.join(","));
    }
    Some(out)
}
