//! Device.DNS.Diagnostics.NSLookupDiagnostics: inputs and results (Result.{i}).

use super::{Context, Diagnostic, Results, interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::{NsLookupRequest, Outcome, Test};

const O: &str = "Device.DNS.Diagnostics.NSLookupDiagnostics.";

pub static DIAGNOSTIC: Diagnostic = Diagnostic {
    object: O,
    state: "Device.DNS.Diagnostics.NSLookupDiagnostics.DiagnosticsState",
    request,
    results,
    tables: &["Result."],
    counts: &["ResultNumberOfEntries"],
};

fn request(view: &View, _: &Context) -> Test {
    let p = |n: &str| format!("{O}{n}");
    Test::NsLookup(NsLookupRequest {
        host_name: text(view, &p("HostName")),
        dns_server: text(view, &p("DNSServer")),
        interface_name: interface_name(view, &p("Interface")),
        timeout_ms: number(view, &p("Timeout"), 5000),
        repetitions: number(view, &p("NumberOfRepetitions"), 1),
    })
}

fn results(outcome: &Outcome) -> Option<Results> {
    let Outcome::NsLookup(r) = outcome else {
        return None;
    };
    let mut out = Results::new(r.state);
    out.set("SuccessCount", r.success_count);
    out.set("ResultNumberOfEntries", r.results.len());
    for (i, a) in r.results.iter().enumerate() {
        let n = i + 1;
        out.set(format!("Result.{n}.Status"), a.status);
        out.set(format!("Result.{n}.AnswerType"), a.answer_type);
        out.set(
            format!("Result.{n}.HostNameReturned"),
            &a.host_name_returned,
        );
        let ips: Vec<String> = a.ip_addresses.iter().map(|ip| ip.to_string()).collect();
        out.set(format!("Result.{n}.IPAddresses"), ips.join(","));
        out.set(format!("Result.{n}.DNSServerIP"), &a.dns_server_ip);
        out.set(format!("Result.{n}.ResponseTime"), a.response_time_ms);
    }
    Some(out)
}
