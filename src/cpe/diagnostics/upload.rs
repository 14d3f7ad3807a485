//! Device.IP.Diagnostics.UploadDiagnostics (TR-143, HTTP PUT): inputs and results.

use super::{Context, Diagnostic, Results, transfer_test};
use crate::datamodel::View;
use crate::diagnostics::{Direction, Outcome, Test};

const O: &str = "Device.IP.Diagnostics.UploadDiagnostics.";

pub static DIAGNOSTIC: Diagnostic = Diagnostic {
    object: O,
    state: "Device.IP.Diagnostics.UploadDiagnostics.DiagnosticsState",
    request,
    results,
    tables: &["PerConnectionResult."],
    counts: &["PerConnectionResultNumberOfEntries"],
};

fn request(view: &View, ctx: &Context) -> Test {
    Test::Upload(transfer_test::request(view, ctx, O, Direction::Upload))
}

fn results(outcome: &Outcome) -> Option<Results> {
    let Outcome::Upload(r) = outcome else {
        return None;
    };
    Some(transfer_test::results(r, "TestBytesSent"))
}
