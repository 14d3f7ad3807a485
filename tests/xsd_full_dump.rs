//! GetParameterValues of `Device.` on the machine the test runs on — every registry parameter
//! read from the real /proc, /sys, resolv.conf and interfaces, diagnostics objects with their
//! defaults — completes, and its envelope validates against the BBF schema (xmllint, as in
//! `xsd_conformance.rs`).

#[path = "support/xsd.rs"]
mod xsd;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tr069_client::cpe::handler::AcsRequestHandler;
use tr069_client::cwmp::rpc::get_parameter_names::GetParameterNames;
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::cwmp::{Body, CwmpNamespace, Envelope, Header};
use tr069_client::datamodel::host::LinuxHost;
use tr069_client::datamodel::{DataModel, DeviceIdentity};
use tr069_client::session::RequestHandler;
use tr069_client::state::AgentState;
use xsd::SchemaVersion;

#[test]
fn a_full_dump_of_this_host_validates_against_cwmp_1_2() {
    let model = DataModel::new(
        DeviceIdentity {
            manufacturer: "Example Networks".into(),
            oui: "00000C".into(),
            product_class: "TestRouter".into(),
            serial_number: "XSD0001".into(),
            software_version: "7.14".into(),
            ..Default::default()
        },
        Arc::new(LinuxHost::new()),
    );
    let state = AgentState::default();
    let factory = BTreeMap::new();
    let mut handler = AcsRequestHandler {
        model: &model,
        factory_settings: &factory,
        settings: None,
        connection_request_url: "http://192.0.2.1:7547/cr",
        xmpp: &tr069_client::datamodel::XmppLive::default(),
        state: &state,
        transfers: Default::default(),
        externals: &tr069_client::datamodel::external::RunProviders,
        udp_echo: Default::default(),
    };
    let request = Body::GetParameterValues(GetParameterValues {
        parameter_names: vec!["Device.".into()],
    });
    let response = handler.handle(&request, 1_796_083_200_000).response;
    let Body::GetParameterValuesResponse(r) = &response else {
        panic!("GetParameterValues Device. answered {response:?}")
    };
    let names: BTreeSet<&str> = r.parameter_list.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names.len(), r.parameter_list.len(), "no parameter twice");
    for expected in [
        "Device.DeviceInfo.ProcessStatus.ProcessNumberOfEntries",
        "Device.Routing.Router.1.IPv4ForwardingNumberOfEntries",
        "Device.DNS.Client.ServerNumberOfEntries",
        "Device.Hosts.HostNumberOfEntries",
        "Device.IP.Diagnostics.TraceRoute.DiagnosticsState",
        "Device.DNS.Diagnostics.NSLookupDiagnostics.DiagnosticsState",
        "Device.ManagementServer.HeartbeatPolicy.Enable",
        "Device.IP.Interface.1.Name",
    ] {
        assert!(names.contains(expected), "{expected} missing from the dump");
    }
    // This very process is in the process table.
    let pid = std::process::id();
    assert!(
        names.contains(format!("Device.DeviceInfo.ProcessStatus.Process.{pid}.Command").as_str()),
        "the test's own process is not listed"
    );
    println!(
        "GetParameterValues Device. on this host: {} parameters",
        names.len()
    );

    // GetParameterNames of the whole tree agrees with GetParameterValues. Both read the live
    // host, which may change between the two reads (processes, neighbours, an interface another
    // test creates: a rehearsal of CI once saw 10 rows apart), so a pair of reads that
    // disagrees is taken again; the two must agree on a host holding still, and a persistent
    // disagreement names the rows.
    let leaves = |body: &Body| -> BTreeSet<String> {
        let names: Vec<&str> = match body {
            Body::GetParameterValuesResponse(r) => {
                r.parameter_list.iter().map(|p| p.name.as_str()).collect()
            }
            Body::GetParameterNamesResponse(r) => r
                .parameter_list
                .iter()
                .map(|p| p.name.as_str())
                .filter(|name| !name.ends_with('.'))
                .collect(),
            other => panic!("unexpected answer {other:?}"),
        };
        names
            .into_iter()
            .filter(|n| !n.contains(".ProcessStatus.Process."))
            .map(str::to_owned)
            .collect()
    };
    let names_request = Body::GetParameterNames(GetParameterNames {
        parameter_path: "Device.".into(),
        next_level: false,
    });
    let mut values = leaves(&response);
    let mut disagreement = String::new();
    for attempt in 1..=5 {
        let listed = leaves(&handler.handle(&names_request, 1_796_083_200_000).response);
        if listed == values {
            disagreement.clear();
            break;
        }
        let only_names: Vec<&String> = listed.difference(&values).collect();
        let only_values: Vec<&String> = values.difference(&listed).collect();
        disagreement = format!(
            "attempt {attempt}: only in GetParameterNames {only_names:?}; only in \
             GetParameterValues {only_values:?}"
        );
        println!("{disagreement}");
        values = leaves(&handler.handle(&request, 1_796_083_200_000).response);
    }
    assert!(
        disagreement.is_empty(),
        "GetParameterNames and GetParameterValues never saw the same tree: {disagreement}"
    );

    let xml = Envelope::new(CwmpNamespace::Cwmp12, Header::with_id("dump-1"), response).encode();
    if let Err(e) = xsd::validate(&xml, SchemaVersion::Cwmp12) {
        panic!("the dump does not validate against cwmp-1-2.xsd:\n{e}");
    }
}
