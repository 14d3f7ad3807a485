//! Device.IP.Diagnostics.DownloadDiagnostics (TR-143, HTTP): inputs and results.

use super::{Context, Diagnostic, Results, transfer_test};
use crate::datamodel::View;
use crate::diagnostics::{Direction, Outcome, Test};

const O: &str = "Device.IP.Diagnostics.DownloadDiagnostics.";

pub static DIAGNOSTIC: Diagnostic = Diagnostic {
    object: O,
    state: "Device.IP.Diagnostics.DownloadDiagnostics.DiagnosticsState",
    request,
    results,
    tables: &["PerConnectionResult."],
    counts: &["PerConnectionResultNumberOfEntries"],
};

fn request(view: &View, ctx: &Context) -> Test {
    Test::Download(transfer_test::request(view, ctx, O, Direction::Download))
}

fn results(outcome: &Outcome) -> Option<Results> {
    let Outcome::Download(r) = outcome else {
        return None;
    };
    Some(transfer_test::results(r, "TestBytesReceived"))
}
