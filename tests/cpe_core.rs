//! The per-device core driven without I/O: a fake clock, an in-memory journal, a scripted ACS
//! and fake I/O results (`tests/support/cpe_harness.rs`). Whole flows, start to finish, with
//! crashes and reboots in between.

#[path = "support/cpe_harness.rs"]
mod harness;

use harness::{Harness, RebootBehaviour, T0, config, firmware_download, spv};
use tr069_client::cwmp::Body;
use tr069_client::cwmp::rpc::factory_reset::FactoryReset;
use tr069_client::cwmp::rpc::reboot::Reboot;
use tr069_client::records::proto::record::Kind;

const MINUTE: u64 = 60_000;

/// The whole provisioning + firmware flow; returns the harness for more checks.
pub fn provisioning_and_firmware(seed: u64) -> Harness {
    let mut h = Harness::new(config(), seed);
    h.provisioning_and_firmware_flow();
    assert_eq!(h.sessions[0].events(), ["0 BOOTSTRAP", "1 BOOT"]);
    let provisioning = &h.sessions[1];
    assert_eq!(provisioning.events(), ["6 CONNECTION REQUEST"]);
    assert_eq!(
        provisioning.responses.len(),
        4,
        "{:?}",
        provisioning.responses
    );
    assert!(matches!(
        &provisioning.responses[3],
        Body::DownloadResponse(r) if r.status == 1
    ));
    // The download, the apply and the reboot happened; the first session of the new boot
    // reports the upgrade.
    assert_eq!(h.firmware_applies, 1);
    assert_eq!(h.reboot_hook_runs, 1);
    let report = h
        .sessions
        .iter()
        .find(|s| !s.transfer_completes.is_empty())
        .expect("a session reported the transfer");
    assert_eq!(
        report.events(),
        ["1 BOOT", "7 TRANSFER COMPLETE", "M Download fw-2.0"]
    );
    let tcs: Vec<_> = h
        .sessions
        .iter()
        .flat_map(|s| s.transfer_completes.iter())
        .collect();
    assert_eq!(tcs.len(), 1, "exactly one TransferComplete");
    assert_eq!(tcs[0].fault_struct.fault_code, 0);
    assert_eq!(tcs[0].command_key, "fw-2.0");
    let state = h.state();
    assert!(
        state.transfers.is_empty(),
        "acknowledged transfers are gone"
    );
    assert_eq!(state.software_version, "2.0");
    assert_eq!(state.parameter_key, "p3");
    assert_eq!(
        state.parameters["Device.NAT.PortMapping.1.ExternalPort"].value,
        "8443"
    );
    assert!(!state.has_owed_events());
    h
}

#[test]
fn a_whole_provisioning_and_firmware_flow() {
    provisioning_and_firmware(1);
}

#[test]
fn the_flow_holds_for_many_seeds() {
    for seed in 0..50 {
        let h = provisioning_and_firmware(seed * 7919);
        // Every record folds to the same state a fresh fold of the journal gives.
        let mut fresh = tr069_client::state::AgentState::default();
        for (seq, time, r) in &h.journal {
            fresh.apply(*seq, *time, r);
        }
        assert_eq!(&fresh, h.state(), "seed {seed}");
    }
}

#[test]
fn periodic_informs_at_periodic_inform_time_are_never_skipped() {
    // Found against GenieACS (which always sets PeriodicInformTime): a wake-up just after the
    // slot computed the following slot, and no periodic Inform was ever sent.
    let mut c = config();
    c.factory_settings
        .insert("periodic-inform-time".into(), "2026-12-01T00:00:30Z".into());
    c.factory_settings
        .insert("periodic-inform-interval".into(), "60".into());
    let mut h = Harness::new(c, 3);
    h.lateness_ms = 250;
    h.run_for(10 * MINUTE + 1_000);
    let periodic: Vec<u64> = h
        .sessions
        .iter()
        .filter(|s| s.events().contains(&"2 PERIODIC".to_owned()))
        .map(|s| s.inform.as_ref().unwrap().current_time.unix_millis() as u64)
        .collect();
    assert_eq!(periodic.len(), 10, "{periodic:?}");
    for (i, at) in periodic.iter().enumerate() {
        let slot = T0 + 30_000 + i as u64 * MINUTE;
        assert!(
            *at >= slot && *at < slot + 1_000,
            "inform {i} at {at}, slot {slot}"
        );
    }
    assert_eq!(h.state().retry_count, 0, "every periodic session succeeded");
}

#[test]
fn a_connection_request_during_a_session_gets_one_session_after_it() {
    let mut h = Harness::new(config(), 5);
    h.run_for(1_000);
    h.connection_requests_during_next_inform = 3;
    h.connection_request();
    h.run_for(MINUTE);
    let events: Vec<Vec<String>> = h.sessions.iter().skip(1).map(|s| s.events()).collect();
    assert_eq!(
        events,
        [["6 CONNECTION REQUEST"], ["6 CONNECTION REQUEST"]],
        "three requests during the session coalesce into one more session"
    );
}

#[test]
fn a_factory_reset_and_a_reboot_in_one_session_are_both_done() {
    let mut h = Harness::new(config(), 9);
    h.run_for(1_000);
    h.acs_queue.extend([
        spv("before-reset", &[("Device.Time.NTPServer1", "ntp.example")]),
        Body::FactoryReset(FactoryReset),
        Body::Reboot(Reboot {
            command_key: "rb-7".into(),
        }),
    ]);
    h.connection_request();
    h.run_for(MINUTE);
    assert_eq!(h.reboot_hook_runs, 1, "one reboot serves both");
    let after = h.sessions.last().unwrap();
    assert_eq!(after.events(), ["0 BOOTSTRAP", "1 BOOT", "M Reboot rb-7"]);
    assert!(
        !h.state().parameters.contains_key("Device.Time.NTPServer1"),
        "the reset wiped the ACS's values"
    );
}

#[test]
fn a_reboot_hook_that_never_reboots_is_given_up_after_three_attempts() {
    let mut h = Harness::new(config(), 11);
    h.reboots = RebootBehaviour::NeverReboots;
    h.run_for(1_000);
    h.acs_queue.push_back(Body::Reboot(Reboot {
        command_key: "rb-1".into(),
    }));
    h.connection_request();
    h.run_for(60 * MINUTE);
    assert_eq!(h.reboot_hook_runs, 3, "three attempts, then no more");
    assert!(h.state().pending_reboot.is_none());
    let last = h.sessions.last().unwrap();
    assert_eq!(
        last.events(),
        ["M Reboot rb-1"],
        "the ACS hears what became of its Reboot"
    );
    let abandon_at = h
        .journal
        .iter()
        .position(|(_, _, r)| {
            matches!(
                r.kind,
                Some(tr069_client::records::proto::record::Kind::RebootAbandoned(
                    _
                ))
            )
        })
        .expect("the abandon is journaled");
    // Until a later session succeeds, the operator's last-session-error says why.
    let mut at_abandon = tr069_client::state::AgentState::default();
    for (seq, time, r) in &h.journal[..=abandon_at] {
        at_abandon.apply(*seq, *time, r);
    }
    assert!(
        at_abandon.last_session_error.contains("3 time(s)"),
        "{}",
        at_abandon.last_session_error
    );
    let abandoned = h
        .journal
        .iter()
        .filter(|(_, _, r)| {
            matches!(
                r.kind,
                Some(tr069_client::records::proto::record::Kind::RebootAbandoned(
                    _
                ))
            )
        })
        .count();
    assert_eq!(abandoned, 1, "recorded once, not at every start");
}

#[test]
fn a_firmware_reboot_that_never_happens_is_reported_as_failed_once() {
    let mut h = Harness::new(config(), 13);
    h.reboots = RebootBehaviour::NeverReboots;
    h.run_for(1_000);
    h.acs_queue.push_back(firmware_download("fw-x"));
    h.connection_request();
    h.run_for(60 * MINUTE);
    assert_eq!(h.firmware_applies, 1, "the image is never applied twice");
    assert_eq!(h.reboot_hook_runs, 3);
    let tcs: Vec<_> = h
        .sessions
        .iter()
        .flat_map(|s| s.transfer_completes.iter())
        .collect();
    assert_eq!(tcs.len(), 1);
    assert_eq!(tcs[0].fault_struct.fault_code, 9010);
    assert!(
        tcs[0].fault_struct.fault_string.contains("never activated"),
        "{}",
        tcs[0].fault_struct.fault_string
    );
}

#[test]
fn a_failed_session_is_retried_with_the_retry_count_inside_the_tr069_wait() {
    let mut h = Harness::new(config(), 17);
    h.fail_sessions = 2;
    h.run_for(10 * MINUTE);
    let counts: Vec<u32> = h
        .sessions
        .iter()
        .map(|s| s.inform.as_ref().unwrap().retry_count)
        .collect();
    assert_eq!(&counts[..3], [0, 1, 2]);
    let times: Vec<u64> = h
        .sessions
        .iter()
        .map(|s| s.inform.as_ref().unwrap().current_time.unix_millis() as u64)
        .collect();
    // Waits: 5–10 s after the first failure, 10–20 s after the second.
    let first_wait = times[1] - times[0];
    let second_wait = times[2] - times[1];
    assert!((5_000..=10_001).contains(&first_wait), "{first_wait}");
    assert!((10_000..=20_001).contains(&second_wait), "{second_wait}");
    assert_eq!(h.sessions[2].events(), ["0 BOOTSTRAP", "1 BOOT"]);
    assert_eq!(h.state().retry_count, 0);
}

#[test]
fn a_crash_mid_flow_resumes_from_the_journal() {
    let mut h = Harness::new(config(), 19);
    h.run_for(1_000);
    h.acs_queue.push_back(firmware_download("fw-c"));
    h.connection_request();
    // Stop after the Download was accepted, before anything else: a process crash.
    h.crash_after_records = Some(h.journal.len() + 6);
    h.run_for(10 * MINUTE);
    assert!(h.crashes >= 1);
    assert_eq!(h.firmware_applies, 1);
    let tcs: usize = h.sessions.iter().map(|s| s.transfer_completes.len()).sum();
    assert_eq!(tcs, 1);
}

/// The value the Inform of `session` carried for `name`.
fn informed(h: &Harness, session: usize, name: &str) -> Option<String> {
    h.sessions[session]
        .inform
        .as_ref()?
        .parameter_list
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.text.clone())
}

const UDP_ADDRESS: &str = "Device.ManagementServer.UDPConnectionRequestAddress";
const CR_URL: &str = "Device.ManagementServer.ConnectionRequestURL";

#[test]
fn a_new_host_address_is_a_new_connection_request_url_notified_at_once() {
    let mut h = Harness::new(config(), 41);
    h.run_for(1_000);
    let url = informed(&h, 0, CR_URL).expect("the BOOTSTRAP Inform carries the URL");
    assert!(url.starts_with("http://192.0.2.10:7547/"), "{url}");
    // The address is looked up again every minute; the same answer changes nothing.
    h.run_for(5 * MINUTE);
    assert!(h.address_lookups >= 5, "{} lookups", h.address_lookups);
    assert_eq!(h.sessions.len(), 1, "no session for an unchanged address");

    h.local_address = [198, 51, 100, 7].into();
    h.run_for(MINUTE + 1_000);
    assert_eq!(h.sessions.len(), 2);
    let moved = informed(&h, 1, CR_URL).expect("the new URL is in the Inform");
    assert_eq!(
        moved,
        url.replace("192.0.2.10", "198.51.100.7"),
        "same port and path"
    );
    assert!(
        h.sessions[1]
            .events()
            .contains(&"4 VALUE CHANGE".to_owned())
    );

    h.run_for(5 * MINUTE);
    assert_eq!(h.sessions.len(), 2, "notified once");
    h.local_address = [192, 0, 2, 10].into();
    h.run_for(MINUTE + 1_000);
    assert_eq!(h.sessions.len(), 3, "and back again");
    assert_eq!(informed(&h, 2, CR_URL), Some(url));
}

fn mapping(addr: &str) -> tr069_client::cpe::Input {
    tr069_client::cpe::Input::NatBinding(Some(tr069_client::connection_request::stun::Mapping {
        mapped: addr.parse().unwrap(),
        nat_detected: true,
    }))
}

#[test]
fn a_new_stun_binding_is_journaled_and_told_to_the_acs_at_once() {
    let mut h = Harness::new(config(), 23);
    h.run_for(1_000);
    let before = h.sessions.len();
    h.pending_inputs.push_back(mapping("203.0.113.5:40000"));
    h.run_for(1_000);
    assert_eq!(h.sessions.len(), before + 1, "one session, at once");
    assert_eq!(h.sessions[before].events(), ["4 VALUE CHANGE"]);
    assert_eq!(
        informed(&h, before, UDP_ADDRESS).as_deref(),
        Some("203.0.113.5:40000")
    );
    assert_eq!(
        h.state().parameters["Device.ManagementServer.NATDetected"].value,
        "true"
    );
    // The same binding again (every keep-alive, or after a restart): nothing new.
    h.pending_inputs.push_back(mapping("203.0.113.5:40000"));
    h.run_for(1_000);
    h.restart();
    h.pending_inputs.push_back(mapping("203.0.113.5:40000"));
    h.run_for(1_000);
    assert_eq!(h.sessions.len(), before + 1);
    // The NAT forgot the binding and gave another port: the ACS hears of it.
    h.pending_inputs.push_back(mapping("203.0.113.5:41234"));
    h.run_for(1_000);
    assert_eq!(h.sessions.len(), before + 2);
    assert_eq!(
        informed(&h, before + 1, UDP_ADDRESS).as_deref(),
        Some("203.0.113.5:41234")
    );
    // A UDP connection request is just another connection request.
    h.connection_request();
    h.run_for(1_000);
    assert_eq!(
        h.sessions.last().unwrap().events(),
        ["6 CONNECTION REQUEST"]
    );
}

#[test]
fn the_xmpp_jabber_id_is_told_to_the_acs_when_it_changes() {
    use tr069_client::cpe::Input;
    use tr069_client::cpe::reachability::XmppReport;
    let mut c = config();
    c.factory_settings
        .insert("xmpp-enabled".into(), "true".into());
    let mut h = Harness::new(c, 29);
    h.run_for(1_000);
    let before = h.sessions.len();
    let online = |jid: &str| {
        Input::Xmpp(XmppReport {
            status: "Enabled",
            jabber_id: Some(jid.into()),
            tls_established: true,
        })
    };
    h.pending_inputs.push_back(online("cpe@xmpp.test/cwmp"));
    h.run_for(1_000);
    assert_eq!(h.sessions.len(), before + 1);
    assert_eq!(
        informed(&h, before, "Device.ManagementServer.ConnReqJabberID").as_deref(),
        Some("cpe@xmpp.test/cwmp")
    );
    // Lost, then back with the same JID: no session.
    h.pending_inputs.push_back(Input::Xmpp(XmppReport {
        status: "Connecting",
        jabber_id: None,
        tls_established: false,
    }));
    h.pending_inputs.push_back(online("cpe@xmpp.test/cwmp"));
    h.run_for(1_000);
    assert_eq!(h.sessions.len(), before + 1);
    assert_eq!(h.cpe.runtime().xmpp.status, "Enabled");
    assert!(h.cpe.runtime().xmpp.tls_established);
}

fn inform_time(s: &harness::SeenSession) -> u64 {
    s.inform.as_ref().unwrap().current_time.unix_millis() as u64
}

fn with_boot_delay(min_s: u64, max_s: u64) -> tr069_client::config::Config {
    let mut c = config();
    c.session.boot_inform_delay =
        std::time::Duration::from_secs(min_s)..=std::time::Duration::from_secs(max_s);
    c
}

#[test]
fn without_a_boot_delay_the_first_session_starts_at_once() {
    let mut h = Harness::new(config(), 23);
    h.run_for(MINUTE);
    assert_eq!(h.sessions[0].events(), ["0 BOOTSTRAP", "1 BOOT"]);
    assert!(inform_time(&h.sessions[0]) < T0 + 1_000);
}

#[test]
fn a_new_boots_first_session_waits_a_random_delay_inside_the_configured_range() {
    let mut firsts = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let mut h = Harness::new(with_boot_delay(10, 60), seed * 31 + 1);
        h.run_for(9_000);
        assert!(
            h.sessions.is_empty(),
            "seed {seed}: a session inside the delay"
        );
        assert!(h.cpe.boot_delay_until().is_some());
        h.run_for(2 * MINUTE);
        let first = inform_time(&h.sessions[0]);
        // CurrentTime is whole seconds.
        assert!(
            (T0 + 10_000..T0 + 61_000).contains(&first),
            "seed {seed}: first Inform {} ms after the boot",
            first - T0
        );
        assert_eq!(h.sessions[0].events(), ["0 BOOTSTRAP", "1 BOOT"]);
        firsts.insert(first);
    }
    assert!(
        firsts.len() >= 15,
        "seeded draws spread the boots over the range: {firsts:?}"
    );
}

#[test]
fn the_boot_delay_follows_every_new_boot_and_never_a_process_restart() {
    let mut h = Harness::new(with_boot_delay(30, 30), 29);
    h.run_for(MINUTE);
    h.acs_queue.push_back(firmware_download("fw-d"));
    h.connection_request();
    h.run_for(10 * MINUTE);
    assert_eq!(h.firmware_applies, 1);
    assert_eq!(h.boot, 2, "the firmware reboot is a new boot");
    for s in h
        .sessions
        .iter()
        .filter(|s| s.events().contains(&"1 BOOT".into()))
    {
        let at = inform_time(s);
        let boot_start = h
            .starts
            .iter()
            .filter(|(t, _)| *t <= at)
            .map(|(t, _)| *t)
            .next_back()
            .unwrap();
        assert!(
            at >= boot_start + 30_000 && at < boot_start + 31_000,
            "a BOOT Inform {} ms after its boot",
            at - boot_start
        );
    }
    let report = h.sessions.last().unwrap();
    assert_eq!(
        report.events(),
        ["1 BOOT", "7 TRANSFER COMPLETE", "M Download fw-d"]
    );
    // A process restart in the same boot owes no BOOT and draws no delay.
    h.crash_after_records = Some(h.journal.len() + 1);
    h.connection_request();
    h.run_for(1_000);
    assert_eq!(h.crashes, 1);
    assert_eq!(h.cpe.boot_delay_until(), None);
}

#[test]
fn a_connection_request_ends_the_boot_delay() {
    let mut h = Harness::new(with_boot_delay(600, 600), 37);
    h.run_for(1_000);
    assert!(h.sessions.is_empty());
    h.connection_request();
    h.run_for(1_000);
    assert_eq!(
        h.sessions[0].events(),
        ["0 BOOTSTRAP", "1 BOOT", "6 CONNECTION REQUEST"]
    );
    assert!(inform_time(&h.sessions[0]) < T0 + 2_000);
}

// ---- diagnostics ------------------------------------------------------------------------

const TRACEROUTE: &str = "Device.IP.Diagnostics.TraceRoute.";

fn traceroute_request(key: &str, host: &str) -> Body {
    let host_param = format!("{TRACEROUTE}Host");
    let state_param = format!("{TRACEROUTE}DiagnosticsState");
    spv(key, &[(&host_param, host), (&state_param, "Requested")])
}

fn value(h: &Harness, name: &str) -> String {
    h.state()
        .parameters
        .get(name)
        .map(|p| p.value.clone())
        .unwrap_or_default()
}

#[test]
fn a_requested_diagnostic_runs_after_the_session_and_reports_in_one_batch() {
    let mut h = Harness::new(config(), 21);
    h.run_for(1_000);
    h.acs_queue
        .push_back(traceroute_request("tr-1", "198.51.100.7"));
    h.connection_request();
    h.run_for(MINUTE);
    assert_eq!(h.diagnostics_run.len(), 1, "{:?}", h.diagnostics_run);
    let tr069_client::diagnostics::Test::TraceRoute(request) = &h.diagnostics_run[0] else {
        panic!("{:?}", h.diagnostics_run)
    };
    assert_eq!(request.host, "198.51.100.7");
    assert_eq!(
        (request.tries, request.max_hops),
        (3, 30),
        "registry defaults"
    );
    let report = h.sessions.last().unwrap();
    assert_eq!(report.events(), ["8 DIAGNOSTICS COMPLETE"]);
    assert_eq!(
        value(&h, &format!("{TRACEROUTE}DiagnosticsState")),
        "Complete"
    );
    assert_eq!(
        value(&h, &format!("{TRACEROUTE}RouteHopsNumberOfEntries")),
        "2"
    );
    assert_eq!(
        value(&h, &format!("{TRACEROUTE}RouteHops.2.HostAddress")),
        "198.51.100.7"
    );
    assert_eq!(
        value(&h, &format!("{TRACEROUTE}RouteHops.1.RTTimes")),
        "1,1,2"
    );
    // The results and the event are one journal batch: same commit time, adjacent.
    let at = h
        .journal
        .iter()
        .position(|(_, _, r)| matches!(r.kind, Some(Kind::DiagnosticsCompleted(_))))
        .unwrap();
    assert!(matches!(
        &h.journal[at + 1].2.kind,
        Some(Kind::EventRaised(e)) if e.code == "8 DIAGNOSTICS COMPLETE"
    ));
    // A second request replaces the rows of the first.
    h.acs_queue
        .push_back(traceroute_request("tr-2", "203.0.113.9"));
    h.connection_request();
    h.run_for(MINUTE);
    assert_eq!(h.diagnostics_run.len(), 2);
    assert!(!h.state().has_owed_events());
}

#[test]
fn a_changed_input_cancels_a_pending_test_without_an_event() {
    let mut h = Harness::new(config(), 23);
    h.run_for(1_000);
    h.hold_diagnostics = true;
    h.acs_queue
        .push_back(traceroute_request("tr-1", "198.51.100.7"));
    h.connection_request();
    h.run_for(10_000);
    assert_eq!(h.diagnostics_run.len(), 1, "the test is under way");
    // The ACS changes an input without asking for a new test.
    let host_param = format!("{TRACEROUTE}MaxHopCount");
    h.acs_queue.push_back(spv("tr-2", &[(&host_param, "5")]));
    h.connection_request();
    h.run_for(10_000);
    assert_eq!(h.diagnostics_cancelled, 1);
    h.release_diagnostics();
    h.run_for(MINUTE);
    assert_eq!(value(&h, &format!("{TRACEROUTE}DiagnosticsState")), "None");
    assert_eq!(
        value(&h, &format!("{TRACEROUTE}RouteHopsNumberOfEntries")),
        "0"
    );
    assert!(
        h.sessions
            .iter()
            .all(|s| !s.events().contains(&"8 DIAGNOSTICS COMPLETE".to_owned())),
        "a cancelled test owes no event"
    );
    assert_eq!(h.diagnostics_run.len(), 1, "not run again");
}

#[test]
fn a_new_request_during_a_test_restarts_it_with_the_new_inputs() {
    let mut h = Harness::new(config(), 25);
    h.run_for(1_000);
    h.hold_diagnostics = true;
    h.acs_queue
        .push_back(traceroute_request("tr-1", "198.51.100.7"));
    h.connection_request();
    h.run_for(10_000);
    h.acs_queue
        .push_back(traceroute_request("tr-2", "203.0.113.9"));
    h.connection_request();
    h.run_for(10_000);
    h.hold_diagnostics = false;
    h.release_diagnostics();
    h.run_for(MINUTE);
    let hosts: Vec<String> = h
        .diagnostics_run
        .iter()
        .map(|t| match t {
            tr069_client::diagnostics::Test::TraceRoute(r) => r.host.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(hosts, ["198.51.100.7", "203.0.113.9"]);
    let completes = h
        .sessions
        .iter()
        .filter(|s| s.events().contains(&"8 DIAGNOSTICS COMPLETE".to_owned()))
        .count();
    assert_eq!(completes, 1, "only the current test reports");
}

#[test]
fn a_test_cut_short_by_a_crash_is_run_again() {
    let mut h = Harness::new(config(), 27);
    h.run_for(1_000);
    h.hold_diagnostics = true;
    h.acs_queue
        .push_back(traceroute_request("tr-1", "198.51.100.7"));
    h.connection_request();
    h.run_for(10_000);
    assert_eq!(h.diagnostics_run.len(), 1);
    // The process dies with the test under way; its result never arrives.
    h.held_results.clear();
    h.hold_diagnostics = false;
    h.crash_after_records = Some(h.journal.len() + 1);
    h.acs_queue
        .push_back(spv("unrelated", &[("Device.Time.NTPServer1", "x")]));
    h.connection_request();
    h.run_for(MINUTE);
    assert_eq!(h.crashes, 1);
    assert_eq!(h.diagnostics_run.len(), 2, "run again after the restart");
    assert_eq!(
        value(&h, &format!("{TRACEROUTE}DiagnosticsState")),
        "Complete"
    );
    assert!(
        h.sessions
            .last()
            .unwrap()
            .events()
            .contains(&"8 DIAGNOSTICS COMPLETE".to_owned())
    );
}

#[test]
fn the_udp_echo_responder_follows_the_data_model() {
    let mut h = Harness::new(config(), 29);
    h.run_for(1_000);
    assert_eq!(h.udp_echo, None);
    h.acs_queue.push_back(spv(
        "echo-on",
        &[
            ("Device.IP.Diagnostics.UDPEchoConfig.UDPPort", "7007"),
            (
                "Device.IP.Diagnostics.UDPEchoConfig.SourceIPAddress",
                "192.0.2.77",
            ),
            ("Device.IP.Diagnostics.UDPEchoConfig.Enable", "true"),
        ],
    ));
    h.connection_request();
    h.run_for(MINUTE);
    let config = h.udp_echo.clone().expect("the responder runs");
    assert_eq!(config.port, 7007);
    assert_eq!(config.source, Some("192.0.2.77".parse().unwrap()));
    h.acs_queue.push_back(spv(
        "echo-off",
        &[("Device.IP.Diagnostics.UDPEchoConfig.Enable", "false")],
    ));
    h.connection_request();
    h.run_for(MINUTE);
    assert_eq!(h.udp_echo, None);
}

// ---- heartbeat --------------------------------------------------------------------------

fn heartbeat_config() -> tr069_client::config::Config {
    let mut c = config();
    // Periodic informs far away, so every session below is a heartbeat or a test's own.
    c.factory_settings
        .insert("periodic-inform-interval".into(), "86400".into());
    c
}

fn heartbeat_policy(key: &str) -> Body {
    spv(
        key,
        &[
            (
                "Device.ManagementServer.HeartbeatPolicy.ReportingInterval",
                "60",
            ),
            (
                "Device.ManagementServer.HeartbeatPolicy.InitiationTime",
                "2026-12-01T00:00:30Z",
            ),
            ("Device.ManagementServer.HeartbeatPolicy.Enable", "true"),
        ],
    )
}

#[test]
fn heartbeat_sessions_come_at_the_policys_times_on_their_own() {
    let mut h = Harness::new(heartbeat_config(), 31);
    h.acs_queue.push_back(heartbeat_policy("hb"));
    h.run_for(5 * MINUTE + 1_000);
    let heartbeats: Vec<&harness::SeenSession> = h
        .sessions
        .iter()
        .filter(|s| s.events().contains(&"14 HEARTBEAT".to_owned()))
        .collect();
    assert_eq!(heartbeats.len(), 5, "slots 30 s, 90 s, … 270 s");
    for (i, s) in heartbeats.iter().enumerate() {
        assert_eq!(
            s.events(),
            ["14 HEARTBEAT"],
            "never combined with other events"
        );
        let slot = T0 + 30_000 + i as u64 * MINUTE;
        let at = inform_time(s);
        assert!(
            at >= slot && at < slot + 1_000,
            "heartbeat {i} at {at}, slot {slot}"
        );
        assert!(s.transfer_completes.is_empty());
    }
}

/// Seen against GenieACS 1.2.16 (docs/genieacs.md, "Verified"): a policy set minutes after the
/// agent started made it send a `14 HEARTBEAT` at once, right after the session that set it,
/// off the policy's slots: the slots between the agent's start and the setting counted as
/// missed. They did not exist then; the first heartbeat is the first slot after the setting.
#[test]
fn a_policy_set_later_starts_at_its_next_slot_not_at_once() {
    let mut h = Harness::new(heartbeat_config(), 37);
    h.run_until(T0 + 125_000);
    let before = h.sessions.len();
    h.acs_queue.push_back(heartbeat_policy("hb-late"));
    h.connection_request();
    h.run_until(T0 + 149_000);
    let early: Vec<Vec<String>> = h.sessions[before..].iter().map(|s| s.events()).collect();
    assert_eq!(
        early,
        [["6 CONNECTION REQUEST"]],
        "only the session that set the policy before the 150 s slot"
    );
    h.run_until(T0 + 151_000);
    let hb = h.sessions.last().unwrap();
    assert_eq!(hb.events(), ["14 HEARTBEAT"]);
    assert!(inform_time(hb) >= T0 + 150_000, "at the slot");
}

#[test]
fn a_failed_heartbeat_is_not_retried_and_leaves_the_retry_count_alone() {
    let mut h = Harness::new(heartbeat_config(), 33);
    h.acs_queue.push_back(heartbeat_policy("hb"));
    h.run_for(40_000);
    let before = h.sessions.len();
    // The heartbeat at 90 s fails.
    h.run_until(T0 + 89_000);
    h.fail_sessions = 1;
    h.run_until(T0 + 149_000);
    let failed: Vec<&harness::SeenSession> = h.sessions[before..].iter().collect();
    assert_eq!(
        failed.len(),
        1,
        "no retry between the slots: {:?}",
        failed.len()
    );
    assert!(failed[0].failed);
    assert_eq!(h.state().retry_count, 0, "a heartbeat is not counted");
    assert_eq!(h.state().next_retry_at_ms, None);
    h.run_until(T0 + 155_000);
    let next = h.sessions.last().unwrap();
    assert_eq!(next.events(), ["14 HEARTBEAT"]);
    assert!(
        inform_time(next) >= T0 + 150_000,
        "the next slot supersedes the missed one"
    );
    assert_eq!(next.inform.as_ref().unwrap().retry_count, 0);
}

#[test]
fn an_ordinary_retry_count_survives_heartbeats() {
    let mut h = Harness::new(heartbeat_config(), 35);
    h.acs_queue.push_back(heartbeat_policy("hb"));
    h.run_for(40_000);
    // An ordinary session fails while heartbeats go on.
    h.fail_sessions = 1;
    h.acs_queue.clear();
    h.connection_request();
    h.run_for(2_000);
    assert_eq!(h.state().retry_count, 1);
    // The next heartbeat succeeds and changes nothing about the retry state.
    h.run_until(T0 + 92_000);
    let hb = h
        .sessions
        .iter()
        .rev()
        .find(|s| s.events() == ["14 HEARTBEAT"])
        .unwrap();
    assert!(!hb.failed);
    assert_eq!(hb.inform.as_ref().unwrap().retry_count, 0);
    // (The owed CONNECTION REQUEST was dropped by the failure; nothing is retried here, so the
    // count stays until the next ordinary session succeeds.)
    assert_eq!(h.state().retry_count, 1);
}

// ---- InformParameter ----------------------------------------------------------------------

const INFORM_PARAMETER: &str = "Device.ManagementServer.InformParameter.";

fn add_inform_parameter(key: &str) -> Body {
    Body::AddObject(tr069_client::cwmp::rpc::add_object::AddObject {
        object_name: INFORM_PARAMETER.into(),
        parameter_key: key.into(),
    })
}

/// A harness whose ACS made four InformParameter entries in the BOOTSTRAP session:
/// 1 Manufacturer on CONNECTION REQUEST only, 2 PeriodicInformInterval on every event (empty
/// EventList), 3 ModelName on every event but disabled, 4 a name that matches nothing.
fn with_inform_parameters(seed: u64) -> Harness {
    let mut h = Harness::new(config(), seed);
    for i in 1..=4 {
        h.acs_queue
            .push_back(add_inform_parameter(&format!("add-{i}")));
    }
    let p = |i: u32, n: &str| format!("{INFORM_PARAMETER}{i}.{n}");
    let entries = [
        (
            1,
            "true",
            "Device.DeviceInfo.Manufacturer",
            "6 CONNECTION REQUEST",
        ),
        (
            2,
            "true",
            "Device.ManagementServer.PeriodicInformInterval",
            "",
        ),
        (3, "false", "Device.DeviceInfo.ModelName", ""),
        (4, "true", "Device.NoSuchObject.NoSuchParameter", ""),
    ];
    let names: Vec<(String, &str)> = entries
        .iter()
        .flat_map(|&(i, enable, name, events)| {
            [
                (p(i, "Enable"), enable),
                (p(i, "ParameterName"), name),
                (p(i, "EventList"), events),
            ]
        })
        .collect();
    let pairs: Vec<(&str, &str)> = names.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    h.acs_queue.push_back(spv("ip", &pairs));
    h.run_for(1_000);
    assert_eq!(h.sessions.len(), 1, "the BOOTSTRAP session");
    let responses = &h.sessions[0].responses;
    assert_eq!(responses.len(), 5, "{responses:?}");
    assert!(
        matches!(&responses[4], Body::SetParameterValuesResponse(_)),
        "the entries were accepted: {:?}",
        responses[4]
    );
    assert_eq!(
        h.state()
            .object_instances
            .get(INFORM_PARAMETER)
            .map(|i| i.len()),
        Some(4)
    );
    h
}

fn inform_names(h: &Harness, session: usize) -> Vec<String> {
    h.sessions[session]
        .inform
        .as_ref()
        .unwrap()
        .parameter_list
        .iter()
        .map(|p| p.name.clone())
        .collect()
}

#[test]
fn an_inform_parameter_rides_along_with_its_listed_events_only() {
    let mut h = with_inform_parameters(41);
    h.connection_request();
    h.run_for(1_000);
    let s = h.sessions.len() - 1;
    assert_eq!(h.sessions[s].events(), ["6 CONNECTION REQUEST"]);
    assert!(!h.sessions[s].failed);
    assert_eq!(
        informed(&h, s, "Device.DeviceInfo.Manufacturer").as_deref(),
        Some("Sim"),
        "listed event: {:?}",
        inform_names(&h, s)
    );
    // A PERIODIC session is not in entry 1's EventList.
    h.run_for(3_600_000);
    let s = h
        .sessions
        .iter()
        .rposition(|s| s.events() == ["2 PERIODIC"])
        .expect("a periodic session");
    assert!(
        !inform_names(&h, s).contains(&"Device.DeviceInfo.Manufacturer".to_owned()),
        "{:?}",
        inform_names(&h, s)
    );
}

#[test]
fn an_inform_parameter_with_an_empty_event_list_rides_along_with_every_event_but_value_change() {
    let mut h = with_inform_parameters(43);
    let interval = "Device.ManagementServer.PeriodicInformInterval";
    // The BOOTSTRAP session's Inform was built before the entries existed; every later one
    // carries entry 2.
    h.connection_request();
    h.run_for(1_000);
    let cr = h.sessions.len() - 1;
    assert_eq!(h.sessions[cr].events(), ["6 CONNECTION REQUEST"]);
    assert_eq!(informed(&h, cr, interval).as_deref(), Some("3600"));
    h.run_for(3_600_000);
    let periodic = h
        .sessions
        .iter()
        .rposition(|s| s.events() == ["2 PERIODIC"])
        .expect("a periodic session");
    assert_eq!(informed(&h, periodic, interval).as_deref(), Some("3600"));
    // An Inform whose only event is 4 VALUE CHANGE carries no InformParameter (TR-069 A.3.3.1).
    let before = h.sessions.len();
    h.pending_inputs.push_back(mapping("203.0.113.5:40000"));
    h.run_for(1_000);
    assert_eq!(h.sessions.len(), before + 1);
    assert_eq!(h.sessions[before].events(), ["4 VALUE CHANGE"]);
    assert_eq!(
        informed(&h, before, UDP_ADDRESS).as_deref(),
        Some("203.0.113.5:40000")
    );
    assert_eq!(informed(&h, before, interval), None);
}

#[test]
fn a_disabled_or_unmatched_inform_parameter_adds_nothing_and_breaks_nothing() {
    let mut h = with_inform_parameters(47);
    h.connection_request();
    h.run_for(1_000);
    let s = h.sessions.len() - 1;
    let session = &h.sessions[s];
    assert_eq!(session.events(), ["6 CONNECTION REQUEST"]);
    assert!(!session.failed, "the Inform went through");
    let names = inform_names(&h, s);
    assert!(
        !names.contains(&"Device.DeviceInfo.ModelName".to_owned()),
        "disabled entry 3: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("Device.NoSuchObject")),
        "{names:?}"
    );
    // The enabled entries still ride along.
    assert!(names.contains(&"Device.DeviceInfo.Manufacturer".to_owned()));
    assert!(names.contains(&"Device.ManagementServer.PeriodicInformInterval".to_owned()));
    // Enabling entry 3 adds it to the next Inform.
    h.acs_queue.push_back(spv(
        "ip-3",
        &[(&format!("{INFORM_PARAMETER}3.Enable"), "true")],
    ));
    h.connection_request();
    h.run_for(1_000);
    h.connection_request();
    h.run_for(1_000);
    let s = h.sessions.len() - 1;
    assert!(
        informed(&h, s, "Device.DeviceInfo.ModelName").is_some(),
        "{:?}",
        inform_names(&h, s)
    );
}

#[test]
fn an_inform_parameter_pattern_expands_its_wildcards() {
    let mut h = with_inform_parameters(49);
    h.acs_queue.push_back(spv(
        "ip-wild",
        &[(
            &format!("{INFORM_PARAMETER}4.ParameterName"),
            "Device.ManagementServer.InformParameter.*.Enable",
        )],
    ));
    h.connection_request();
    h.run_for(1_000);
    h.connection_request();
    h.run_for(1_000);
    let s = h.sessions.len() - 1;
    for (i, enabled) in [(1, "true"), (2, "true"), (3, "false"), (4, "true")] {
        assert_eq!(
            informed(&h, s, &format!("{INFORM_PARAMETER}{i}.Enable")).as_deref(),
            Some(enabled),
            "{:?}",
            inform_names(&h, s)
        );
    }
}

/// A core holds no global state: it can move to another thread, and cores on several threads at
/// once each journal exactly what one core alone journals from the same inputs (the fleet and
/// `benches/cpe_flow.rs`'s `core_on_N_threads` rely on both).
#[test]
fn cores_on_several_threads_at_once_journal_what_one_alone_does() {
    fn assert_send<T: Send>() {}
    assert_send::<tr069_client::cpe::Cpe>();
    let flow = |seed| {
        let mut h = Harness::new(config(), seed);
        h.provisioning_and_firmware_flow();
        assert_eq!(h.firmware_applies, 1);
        h.journal
    };
    let alone = flow(42);
    let together: Vec<_> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..4).map(|_| scope.spawn(|| flow(42))).collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for journal in together {
        assert_eq!(journal, alone);
    }
}

/// The bench replays the ACS's recorded answers instead of encoding them for every flow
/// (`benches/cpe_flow.rs`): a replay must journal exactly what the live conversation journals,
/// whatever the seed, or the bench would measure another flow.
#[test]
fn a_replayed_acs_conversation_journals_what_the_live_one_does() {
    let recording = harness::AcsRecording::of_provisioning_and_firmware_flow(config(), 7);
    // The BOOTSTRAP session's Inform and empty POST; the provisioning session's Inform, empty
    // POST and four responses; the reporting session's Inform, TransferComplete and empty POST.
    assert_eq!(recording.len(), 11);
    for seed in [7, 8, 1_000_000_001] {
        let mut live = Harness::new(config(), seed);
        live.keep_messages = false;
        live.provisioning_and_firmware_flow();
        let mut replayed = Harness::replaying(config(), seed, recording.clone());
        replayed.provisioning_and_firmware_flow();
        assert_eq!(replayed.firmware_applies, 1);
        assert_eq!(replayed.journal, live.journal, "seed {seed}");
    }
}

/// A replay that no longer matches what the CPE sends stops at the first difference rather than
/// answering the wrong request: here the process crashes in the provisioning session, so the
/// restarted core sends an Inform where the recording had the session going on.
#[test]
#[should_panic(expected = "the CPE's conversation differs from the recording")]
fn a_replay_that_drifts_from_the_cpes_conversation_fails() {
    let recording = harness::AcsRecording::of_provisioning_and_firmware_flow(config(), 7);
    let mut replayed = Harness::replaying(config(), 7, recording);
    replayed.crash_after_records = Some(CRASH_IN_PROVISIONING);
    replayed.provisioning_and_firmware_flow();
}

/// Journal records after which the process is inside the provisioning session of
/// `provisioning_and_firmware_flow`, before it answers the Download.
const CRASH_IN_PROVISIONING: usize = 14;
