//! The diagnostics framework of the core: one lifecycle for every TR-181 diagnostic object,
//! one file per diagnostic for what it reads and what it writes.
//!
//! * **Requested.** SetParameterValues journals `DiagnosticsState = Requested` with the test's
//!   inputs (one record). Changing an input without requesting a new test puts the state back to
//!   `None` and empties the result tables ([`on_input_change`]); no event is owed for that.
//! * **Run.** When no session runs, the core builds the test from the data model
//!   ([`Diagnostic::request`]) and hands out `Action::RunDiagnostic`, one test at a time. The
//!   request carries a *generation*: the journal sequence number of the last change to the
//!   object. A change while the test runs (new inputs, a new `Requested`) makes the core cancel it
//!   (`Action::CancelDiagnostic`); a result whose generation is no longer current is dropped, and a
//!   still-`Requested` object is run again with its current inputs.
//! * **Complete.** The result, the new DiagnosticsState and `8 DIAGNOSTICS COMPLETE` are one
//!   journal batch ([`completion_records`]): a crash cannot leave results without the event or
//!   the event without results.
//! * **Interrupted.** `Requested` is durable, so a test cut short by a crash or a reboot is simply
//!   run again when the agent is back (results need not survive a reboot, TR-106; the ACS's
//!   request does). Results that did complete are kept across reboots.
//!
//! UDPEchoConfig is not a test but a service; [`udp_echo`] maps its inputs.

pub mod download;
pub mod ipping;
pub mod nslookup;
pub mod server_selection;
pub mod traceroute;
pub mod transfer_test;
pub mod udp_echo;
pub mod udp_echo_test;
pub mod upload;

use crate::cwmp::XsdType;
use crate::cwmp::rpc::inform::event_code as ec;
use crate::datamodel::View;
use crate::datamodel::model::param_def;
use crate::diagnostics::{Outcome, Test};
use crate::http::TlsSettings;
use crate::records::proto::{self, Record, record::Kind};
use crate::state::{AgentState, event_raised, record};

/// A test to run, stamped with the generation of its object's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticRequest {
    pub generation: u64,
    pub test: Test,
}

/// A finished test, with the generation it was started for.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticResult {
    pub generation: u64,
    /// `None`: the test was cancelled before it ended.
    pub outcome: Option<Outcome>,
}

/// What the request builders need besides the data model.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The TLS settings of transfers (HTTP tests to https:// URLs).
    pub tls: TlsSettings,
}

/// What a finished test writes: the DiagnosticsState and the result parameters (names relative
/// to the object, `{i}`-free: `RouteHops.2.Host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Results {
    pub state: &'static str,
    pub values: Vec<(String, String)>,
}

impl Results {
    pub fn new(state: &'static str) -> Results {
        Results {
            state,
            values: Vec::new(),
        }
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl ToString) {
        self.values.push((name.into(), value.to_string()));
    }
}

/// One diagnostic object.
#[derive(Debug)]
pub struct Diagnostic {
    /// `Device.IP.Diagnostics.IPPing.`
    pub object: &'static str,
    /// `Device.IP.Diagnostics.IPPing.DiagnosticsState`: spelled out so the scheduler, which asks
    /// on every step whether a test is requested, looks it up without building the name.
    pub state: &'static str,
    /// The test for the object's current inputs.
    pub request: fn(&View, &Context) -> Test,
    /// The results of an outcome of this diagnostic (`None` for another diagnostic's outcome).
    pub results: fn(&Outcome) -> Option<Results>,
    /// Result tables (relative, `RouteHops.`) whose rows each run replaces.
    pub tables: &'static [&'static str],
    /// Their NumberOfEntries parameters (relative), which size the tables.
    pub counts: &'static [&'static str],
}

/// Every diagnostic the agent runs.
pub const DIAGNOSTICS: &[&Diagnostic] = &[
    &ipping::DIAGNOSTIC,
    &traceroute::DIAGNOSTIC,
    &download::DIAGNOSTIC,
    &upload::DIAGNOSTIC,
    &nslookup::DIAGNOSTIC,
    &server_selection::DIAGNOSTIC,
    &udp_echo_test::DIAGNOSTIC,
];

#[cfg(test)]
const STATE: &str = "DiagnosticsState";

/// The diagnostic owning a parameter name, if any.
pub fn owning(name: &str) -> Option<&'static Diagnostic> {
    DIAGNOSTICS
        .iter()
        .copied()
        .find(|d| name.starts_with(d.object))
}

/// The first diagnostic whose DiagnosticsState is `Requested`.
pub fn requested(state: &AgentState) -> Option<&'static Diagnostic> {
    DIAGNOSTICS.iter().copied().find(|d| is_requested(state, d))
}

pub fn is_requested(state: &AgentState, d: &Diagnostic) -> bool {
    state
        .parameters
        .get(d.state)
        .is_some_and(|p| p.value == "Requested")
}

/// The object's diagnostic, by object path.
pub fn by_object(object: &str) -> Option<&'static Diagnostic> {
    DIAGNOSTICS.iter().copied().find(|d| d.object == object)
}

/// A SetParameterValues changed inputs of a diagnostic without requesting it: its state goes
/// back to `None` and its result tables are emptied (TR-181 DiagnosticsState). Adds those writes.
pub fn on_input_change(writes: &mut Vec<proto::ParameterValue>) {
    for d in DIAGNOSTICS {
        let state = d.state;
        let touched = writes
            .iter()
            .any(|w| w.name.starts_with(d.object) && w.name != state);
        if !touched || writes.iter().any(|w| w.name == state) {
            continue;
        }
        writes.push(value(state, "None"));
        for count in d.counts {
            writes.push(value(&format!("{}{count}", d.object), "0"));
        }
    }
}

fn value(name: &str, value: &str) -> proto::ParameterValue {
    let xsd = param_def(name).map_or(XsdType::String, |def| def.syntax.xsd_type());
    proto::ParameterValue {
        name: name.to_owned(),
        value: value.to_owned(),
        xsd_type: xsd.name().to_owned(),
    }
}

/// The batch a finished test writes: results, DiagnosticsState and `8 DIAGNOSTICS COMPLETE`.
pub fn completion_records(d: &Diagnostic, results: &Results) -> Vec<Record> {
    let mut values = vec![value(d.state, results.state)];
    values.extend(
        results
            .values
            .iter()
            .map(|(n, v)| value(&format!("{}{n}", d.object), v)),
    );
    vec![
        record(Kind::DiagnosticsCompleted(proto::DiagnosticsCompleted {
            name: d.object.to_owned(),
            state: results.state.to_owned(),
            results: values,
            cleared: d
                .tables
                .iter()
                .map(|t| format!("{}{t}", d.object))
                .collect(),
        })),
        event_raised(ec::DIAGNOSTICS_COMPLETE, ""),
    ]
}

/// The text of an input, as stored (or the registry default).
pub fn text(view: &View, name: &str) -> String {
    let mut out = Vec::new();
    match view.values(name, &mut out) {
        Ok(()) => out
            .into_iter()
            .next()
            .map(|p| p.value.text)
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// A numeric input (or `default` when unreadable).
pub fn number(view: &View, name: &str, default: u32) -> u32 {
    text(view, name).trim().parse().unwrap_or(default)
}

/// The host interface name for a TR-181 interface path input (`Device.IP.Interface.2`), or
/// `None` for the routing table's choice.
pub fn interface_name(view: &View, path_param: &str) -> Option<String> {
    let path = text(view, path_param);
    let path = path.trim().trim_end_matches('.');
    if path.is_empty() {
        return None;
    }
    let name = text(view, &format!("{path}.Name"));
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_distinct_and_registered() {
        for d in DIAGNOSTICS {
            assert_eq!(d.state, format!("{}{STATE}", d.object));
            assert!(
                param_def(d.state).is_some(),
                "{} has no DiagnosticsState",
                d.object
            );
            for c in d.counts {
                assert!(param_def(&format!("{}{c}", d.object)).is_some(), "{c}");
            }
            assert_eq!(
                owning(&format!("{}Host", d.object)).map(|x| x.object),
                Some(d.object)
            );
        }
    }

    #[test]
    fn an_input_change_resets_the_state_and_the_tables() {
        let mut writes = vec![value(
            "Device.IP.Diagnostics.TraceRoute.Host",
            "example.com",
        )];
        on_input_change(&mut writes);
        let names: Vec<(&str, &str)> = writes
            .iter()
            .map(|w| (w.name.as_str(), w.value.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("Device.IP.Diagnostics.TraceRoute.Host", "example.com"),
                ("Device.IP.Diagnostics.TraceRoute.DiagnosticsState", "None"),
                (
                    "Device.IP.Diagnostics.TraceRoute.RouteHopsNumberOfEntries",
                    "0"
                ),
            ]
        );
        let mut requested = vec![
            value("Device.IP.Diagnostics.TraceRoute.Host", "example.com"),
            value(
                "Device.IP.Diagnostics.TraceRoute.DiagnosticsState",
                "Requested",
            ),
        ];
        on_input_change(&mut requested);
        assert_eq!(requested.len(), 2, "a new request keeps its state");
    }

    #[test]
    fn completion_is_one_batch_with_the_event() {
        let mut r = Results::new("Complete");
        r.set("RouteHopsNumberOfEntries", 1);
        r.set("RouteHops.1.Host", "192.0.2.1");
        let records = completion_records(&traceroute::DIAGNOSTIC, &r);
        assert_eq!(records.len(), 2);
        let Some(Kind::DiagnosticsCompleted(d)) = &records[0].kind else {
            panic!("{records:?}")
        };
        assert_eq!(d.state, "Complete");
        assert_eq!(d.cleared, ["Device.IP.Diagnostics.TraceRoute.RouteHops."]);
        assert_eq!(
            d.results[0].name,
            "Device.IP.Diagnostics.TraceRoute.DiagnosticsState"
        );
        assert_eq!(d.results[1].xsd_type, "unsignedInt");
        assert!(matches!(
            &records[1].kind,
            Some(Kind::EventRaised(e)) if e.code == ec::DIAGNOSTICS_COMPLETE
        ));
    }
}
