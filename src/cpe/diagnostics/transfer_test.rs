//! What DownloadDiagnostics and UploadDiagnostics share: their inputs are read the same way and
//! their results differ only in which direction's byte counters they name.

use super::{Context, Results, interface_name, number, text};
use crate::datamodel::View;
use crate::diagnostics::http_test::MAX_CONNECTIONS;
use crate::diagnostics::{
    ConnectionResult, Direction, IpVersion, TransferTestRequest, TransferTestResult, timestamp,
};

pub fn request(
    view: &View,
    ctx: &Context,
    object: &str,
    direction: Direction,
) -> TransferTestRequest {
    let p = |n: &str| format!("{object}{n}");
    let url_param = match direction {
        Direction::Download => "DownloadURL",
        Direction::Upload => "UploadURL",
    };
    TransferTestRequest {
        direction,
        url: text(view, &p(url_param)),
        interface_name: interface_name(view, &p("Interface")),
        ip_version: IpVersion::from_param(&text(view, &p("ProtocolVersion"))),
        dscp: number(view, &p("DSCP"), 0),
        connections: number(view, &p("NumberOfConnections"), 1).clamp(1, MAX_CONNECTIONS),
        upload_length: u64::from(number(view, &p("TestFileLength"), 0)),
        per_connection_results: text(view, &p("EnablePerConnectionResults")) == "true",
        tls: ctx.tls.clone(),
    }
}

/// `test` names the test-byte counter (`TestBytesReceived` / `TestBytesSent`).
pub fn results(r: &TransferTestResult, test: &str) -> Results {
    let per_connection = r.per_connection;
    let mut out = Results::new(r.state);
    let clamp = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let put = |out: &mut Results, prefix: &str, c: &ConnectionResult| {
        out.set(format!("{prefix}ROMTime"), timestamp(c.rom));
        out.set(format!("{prefix}BOMTime"), timestamp(c.bom));
        out.set(format!("{prefix}EOMTime"), timestamp(c.eom));
        out.set(format!("{prefix}{test}"), clamp(c.test_bytes));
        out.set(
            format!("{prefix}TotalBytesReceived"),
            clamp(c.total_received),
        );
        out.set(format!("{prefix}TotalBytesSent"), clamp(c.total_sent));
        out.set(
            format!("{prefix}TCPOpenRequestTime"),
            timestamp(c.tcp_open_request),
        );
        out.set(
            format!("{prefix}TCPOpenResponseTime"),
            timestamp(c.tcp_open_response),
        );
    };
    if let Some(total) = &r.total {
        put(&mut out, "", total);
    }
    out.set("IPAddressUsed", &r.ip_address_used);
    let rows = if per_connection && r.total.is_some() {
        r.connections.len()
    } else {
        0
    };
    out.set("PerConnectionResultNumberOfEntries", rows);
    for (i, c) in r.connections.iter().take(rows).enumerate() {
        put(&mut out, &format!("PerConnectionResult.{}.", i + 1), c);
    }
    out
}
