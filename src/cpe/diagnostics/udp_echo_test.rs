//! Device.IP.Diagnostics.UDPEchoDiagnostics: inputs and results (IndividualPacketResult.{i}).

use super::{Context, Diagnostic, Results, interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::{IpVersion, Outcome, Test, UdpEchoTestRequest, timestamp};

const O: &str = "Device.IP.Diagnostics.UDPEchoDiagnostics.";

pub static DIAGNOSTIC: Diagnostic = Diagnostic {
    object: O,
    state: "Device.IP.Diagnostics.UDPEchoDiagnostics.DiagnosticsState",
    request,
    results,
    tables: &["IndividualPacketResult."],
    counts: &["IndividualPacketResultNumberOfEntries"],
};

fn request(view: &View, _: &Context) -> Test {
    let p = |n: &str| format!("{O}{n}");
    Test::UdpEcho(UdpEchoTestRequest {
        host: text(view, &p("Host")),
        port: u16::try_from(number(view, &p("Port"), 7)).unwrap_or(7),
        interface_name: interface_name(view, &p("Interface")),
        ip_version: IpVersion::from_param(&text(view, &p("ProtocolVersion"))),
        repetitions: number(view, &p("NumberOfRepetitions"), 1),
        timeout_ms: number(view, &p("Timeout"), 1000),
        data_block_size: number(view, &p("DataBlockSize"), 24),
        dscp: number(view, &p("DSCP"), 0),
        inter_transmission_ms: number(view, &p("InterTransmissionTime"), 1000),
        individual_results: text(view, &p("EnableIndividualPacketResults")) == "true",
    })
}

fn results(outcome: &Outcome) -> Option<Results> {
    let Outcome::UdpEcho(r) = outcome else {
        return None;
    };
    let mut out = Results::new(r.state);
    out.set("IPAddressUsed", &r.ip_address_used);
    out.set("SuccessCount", r.success_count);
    out.set("FailureCount", r.failure_count);
    out.set("AverageResponseTime", r.average_us);
    out.set("MinimumResponseTime", r.minimum_us);
    out.set("MaximumResponseTime", r.maximum_us);
    out.set("IndividualPacketResultNumberOfEntries", r.packets.len());
    for (i, pk) in r.packets.iter().enumerate() {
        let n = format!("IndividualPacketResult.{}.", i + 1);
        out.set(format!("{n}PacketSuccess"), pk.success);
        out.set(format!("{n}PacketSendTime"), timestamp(pk.sent));
        out.set(
            format!("{n}PacketReceiveTime"),
            pk.received
                .map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), timestamp),
        );
        out.set(format!("{n}TestGenSN"), pk.gen_sn);
        out.set(format!("{n}TestRespSN"), pk.resp_sn);
        out.set(format!("{n}TestRespRcvTimeStamp"), pk.resp_rcv_timestamp);
        out.set(
            format!("{n}TestRespReplyTimeStamp"),
            pk.resp_reply_timestamp,
        );
        out.set(
            format!("{n}TestRespReplyFailureCount"),
            pk.resp_reply_failure_count,
        );
    }
    Some(out)
}
