//! End-to-end: the REAL agent binary (`CARGO_BIN_EXE_agent`, the tr069-client `main`) run as a
//! child process from a TOML config file, against the scripted ACS on loopback.
//!
//! Every test has an overall time limit and asserts only on what the ACS recorded and on what the
//! CLI (`get`, `print`, `journal timeline`) says — never on timing. On failure the agent's stderr
//! (RUST_LOG=info) is printed.

use std::time::Duration;

use anyhow::{Context as _, ensure};
use chaos_tests::device::*;
use chaos_tests::{
    AcsAuth, AcsConfig, Failure, ScriptedAcs, SessionEnd, SessionLog, TlsIdentity, test_pki,
};

fn authorization_schemes(acs: &ScriptedAcs) -> Vec<String> {
    acs.exchanges()
        .iter()
        .filter_map(|e| e.header("authorization"))
        .map(|a| a.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_over_http_with_digest() {
    let device = Device::new(
        "bootstrap_over_http_with_digest",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        let schemes = authorization_schemes(&acs);
        ensure!(
            !schemes.is_empty() && schemes.iter().all(|s| s.eq_ignore_ascii_case("digest")),
            "Authorization schemes {schemes:?}"
        );
        ensure!(
            device.wait_get("retry-count", |v| v == "0").await? == "0",
            "retry-count"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth() {
    let device = Device::new("basic_auth", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let acs = ScriptedAcs::start(AcsConfig {
            auth: AcsAuth::Basic {
                username: ACS_USER.into(),
                password: ACS_PASSWORD.into(),
            },
            ..AcsConfig::default()
        })
        .await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        let schemes = authorization_schemes(&acs);
        ensure!(
            !schemes.is_empty() && schemes.iter().all(|s| s.eq_ignore_ascii_case("basic")),
            "Authorization schemes {schemes:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_private_ca_and_client_certificate() {
    let device = Device::new(
        "https_with_private_ca_and_client_certificate",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let pki = test_pki(device.path().join("pki"))?;
        let identity: TlsIdentity = pki.server_identity_requiring_client_cert();
        let acs = ScriptedAcs::start(AcsConfig {
            tls: Some(identity),
            ..digest_acs()
        })
        .await?;
        ensure!(acs.url().starts_with("https://"), "ACS URL {}", acs.url());
        // One PEM file: the client's certificate chain, then its key.
        let client_pem = device.path().join("client-bundle.pem");
        std::fs::write(
            &client_pem,
            format!("{}{}", pki.client_cert_pem, pki.client_key_pem),
        )?;
        let client_pem = client_pem.to_string_lossy().into_owned();
        let ca = pki.ca_cert_pem_path.to_string_lossy().into_owned();

        // Positive: the private CA is trusted, the client certificate is presented.
        device.write_config(
            &acs.url(),
            &[("ca-file", &ca), ("client-certificate", &client_pem)],
        );
        let mut agent = device.start().await?;
        let s = check_bootstrap(&acs, &device).await?;
        let exchanges: Vec<_> = acs
            .exchanges()
            .into_iter()
            .filter(|e| e.session == Some(s.number))
            .collect();
        ensure!(!exchanges.is_empty(), "no exchanges for the session");
        ensure!(
            exchanges.iter().all(|e| e.tls && e.client_certificate),
            "not all exchanges were TLS with a client certificate: {:?}",
            exchanges
                .iter()
                .map(|e| (e.tls, e.client_certificate))
                .collect::<Vec<_>>()
        );
        agent.kill();

        // Negative: a fresh device without ca-file does not trust the ACS.
        let untrusting = Device::new("https_without_ca_file", env!("CARGO_BIN_EXE_agent"));
        untrusting.write_config(&acs.url(), &[("client-certificate", &client_pem)]);
        let sessions_before = acs.sessions().len();
        let result = async {
            let _agent = untrusting.start().await?;
            let err = untrusting
                .wait_get("last-session-error", |v| !v.is_empty())
                .await?;
            ensure!(
                err.contains("not trusted (unknown issuer)"),
                "last-session-error {err:?}"
            );
            let (code, json, stderr) = untrusting.cli(&["print", "--json"]).await?;
            ensure!(code == 0, "print --json exited {code}: {stderr}");
            let view: serde_json::Value = serde_json::from_str(&json)?;
            ensure!(
                view["daemon_running"] == serde_json::json!(true),
                "print --json: {json}"
            );
            ensure!(
                view["last_session_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("unknown issuer")),
                "print --json: {json}"
            );
            // It keeps retrying, counting the failures.
            untrusting
                .wait_get("retry-count", |v| v.parse::<u32>().is_ok_and(|n| n >= 2))
                .await?;
            ensure!(
                acs.sessions().len() == sessions_before,
                "an untrusting agent reached the ACS"
            );
            Ok(())
        }
        .await;
        result.map_err(|e| e.context(untrusting.logs()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sessions_keep_events_and_count_retries() {
    let device = Device::new(
        "failed_sessions_keep_events_and_count_retries",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        acs.fail_next_sessions(2, Failure::Status(500));
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        let sessions = acs.wait_for(WAIT, |all| all.iter().any(completed)).await?;
        ensure!(sessions.len() == 3, "sessions: {sessions:#?}");
        for (i, s) in sessions.iter().enumerate() {
            ensure!(
                s.event_codes() == [BOOTSTRAP, BOOT],
                "session {} events {:?}",
                s.number,
                s.event_codes()
            );
            ensure!(
                s.retry_count() == i as u32,
                "session {} RetryCount {} (expected {i})",
                s.number,
                s.retry_count()
            );
        }
        ensure!(
            sessions[0].end == SessionEnd::Failed(Failure::Status(500))
                && sessions[1].end == SessionEnd::Failed(Failure::Status(500)),
            "the first two sessions: {:?}, {:?}",
            sessions[0].end,
            sessions[1].end
        );
        assert_completed_with_204(&acs, &sessions[2])?;
        device.wait_get("retry-count", |v| v == "0").await?;
        device.wait_get("last-session-error", str::is_empty).await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_restart_resumes_without_boot() {
    let device = Device::new(
        "process_restart_resumes_without_boot",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let mut agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;
        // Let the session's end reach the journal before the crash.
        device.wait_get("retry-count", |v| v == "0").await?;
        agent.kill();

        // (a) Same boot id: only the process restarted; nothing is owed.
        let mut agent = device.start().await?;
        let (code, print, err) = device.cli(&["print", "--json"]).await?;
        ensure!(code == 0, "print --json: {err}");
        let view: serde_json::Value = serde_json::from_str(&print)?;
        ensure!(
            view["daemon_running"] == serde_json::json!(true),
            "print --json did not come from the daemon: {print}"
        );
        ensure!(
            view["owed_events"].as_array().is_some_and(Vec::is_empty),
            "events owed after a process restart: {print}"
        );
        // Give a wrongly owed session the chance to happen.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let sessions = acs.sessions();
        ensure!(
            sessions.len() == 1,
            "a session after a process restart: {:?}",
            sessions
                .iter()
                .map(SessionLog::event_codes)
                .collect::<Vec<_>>()
        );
        agent.terminate().await?;
        let (code, timeline, err) = device.cli(&["journal", "timeline"]).await?;
        ensure!(code == 0, "journal timeline exited {code}: {err}");
        ensure!(
            timeline.contains("restart within boot boot-1"),
            "no not-new-boot BootObserved in the timeline:\n{timeline}"
        );

        // (b) A new boot id: the device rebooted; 1 BOOT is owed, BOOTSTRAP is not.
        device.set_boot_id("boot-2");
        let _agent = device.start().await?;
        let s = wait_session(&acs, 1, "the BOOT session", |_| true).await?;
        ensure!(s.has_event(BOOT), "events {:?}", s.event_codes());
        ensure!(!s.has_event(BOOTSTRAP), "events {:?}", s.event_codes());
        assert_completed_with_204(&acs, &s)?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_survive_a_crash_before_delivery() {
    let device = Device::new(
        "events_survive_a_crash_before_delivery",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        acs.fail_next_sessions(100, Failure::Status(500));
        device.write_config(&acs.url(), &[]);
        let mut agent = device.start().await?;
        acs.wait_for_sessions(1, WAIT).await?;
        agent.kill();
        acs.clear_failures();
        let failed = acs.sessions().len();
        ensure!(
            acs.sessions()
                .iter()
                .all(|s| matches!(s.end, SessionEnd::Failed(_))),
            "sessions before the crash: {:?}",
            acs.sessions()
        );

        let _agent = device.start().await?;
        let s = wait_session(&acs, failed, "the session after the crash", completed).await?;
        ensure!(
            s.has_event(BOOTSTRAP) && s.has_event(BOOT),
            "events lost in the crash: {:?}",
            s.event_codes()
        );
        ensure!(s.retry_count() >= 1, "RetryCount {}", s.retry_count());
        device.wait_get("retry-count", |v| v == "0").await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_request_starts_a_session() {
    let device = Device::new(
        "connection_request_starts_a_session",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        let first = check_bootstrap(&acs, &device).await?;
        let url = first
            .parameter("Device.ManagementServer.ConnectionRequestURL")
            .context("ConnectionRequestURL")?
            .to_owned();

        // Wrong password: refused, no session.
        let status = acs.connection_request(&url, CR_USER, "wrong").await?;
        ensure!(status == 401, "wrong password answered {status}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        ensure!(
            acs.sessions().len() == 1,
            "a session after a refused connection request: {:?}",
            acs.sessions()
                .iter()
                .map(SessionLog::event_codes)
                .collect::<Vec<_>>()
        );

        // Right credentials: 200 and a session with 6 CONNECTION REQUEST.
        let status = acs.connection_request(&url, CR_USER, CR_PASSWORD).await?;
        ensure!(status == 200, "connection request answered {status}");
        let s = wait_session(&acs, 1, "the connection-request session", |_| true).await?;
        ensure!(
            s.event_codes() == [CONNECTION_REQUEST],
            "events {:?}",
            s.event_codes()
        );
        assert_completed_with_204(&acs, &s)?;
        Ok(())
    })
    .await;
}

/// GenieACS drives tasks back to back, one connection request per task, each the whole Digest
/// exchange (unauthenticated GET, 401, GET with Authorization). 50 of them in 5 s from one
/// source: every one is answered 200 (none refused as if the device were offline), and they are
/// served by at least one and no more sessions than requests. How many sessions depends on how
/// the requests fall relative to the sessions; it is printed, not asserted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_of_connection_requests_is_answered_and_coalesced() {
    let device = Device::new(
        "burst_of_connection_requests_is_answered_and_coalesced",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        let first = check_bootstrap(&acs, &device).await?;
        let url = first
            .parameter("Device.ManagementServer.ConnectionRequestURL")
            .context("ConnectionRequestURL")?
            .to_owned();
        device.wait_get("retry-count", |v| v == "0").await?;
        let before = acs.sessions().len();

        const REQUESTS: usize = 50;
        // Sessions slower than the requests' pace, so that requests also arrive while a
        // session runs (before and after its Inform is answered), where they coalesce.
        acs.fail_next_sessions(REQUESTS, Failure::Delay(Duration::from_millis(300)));
        let mut statuses = Vec::new();
        for _ in 0..REQUESTS {
            statuses.push(acs.connection_request(&url, CR_USER, CR_PASSWORD).await?);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(statuses.iter().all(|&s| s == 200), "statuses {statuses:?}");
        let exchanges: Vec<Vec<u16>> = acs
            .connection_requests()
            .into_iter()
            .map(|c| c.statuses)
            .collect();
        ensure!(
            exchanges.len() == REQUESTS && exchanges.iter().all(|s| s == &[401, 200]),
            "not every request was a full challenge/response exchange: {exchanges:?}"
        );

        // Let every session that is owed run: the daemon idle with nothing owed, and every
        // session the ACS saw ended.
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let (code, json, err) = device.cli(&["print", "--json"]).await?;
            ensure!(code == 0, "print --json exited {code}: {err}");
            let view: serde_json::Value = serde_json::from_str(&json)?;
            let idle = view["session_active"] == serde_json::json!(false)
                && view["owed_events"].as_array().is_some_and(Vec::is_empty)
                && acs.sessions().iter().all(|s| s.is_ended());
            if idle {
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the agent never went idle: {json}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        acs.clear_failures();
        let sessions: Vec<SessionLog> = acs.sessions().into_iter().skip(before).collect();
        ensure!(
            !sessions.is_empty() && sessions.len() <= REQUESTS,
            "{} sessions for {REQUESTS} connection requests",
            sessions.len()
        );
        for s in &sessions {
            ensure!(
                s.event_codes() == [CONNECTION_REQUEST],
                "session {} events {:?}",
                s.number,
                s.event_codes()
            );
            assert_completed_with_204(&acs, s)?;
        }
        eprintln!(
            "{REQUESTS} connection requests, all 200, served by {} sessions",
            sessions.len()
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_cli_against_the_running_daemon() {
    let device = Device::new(
        "operator_cli_against_the_running_daemon",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        let _agent = device.start().await?;
        check_bootstrap(&acs, &device).await?;

        let (code, out, err) = device.cli(&["set", "periodic-inform-interval=1h"]).await?;
        ensure!(code == 0, "set exited {code}: {out}{err}");

        let (code, print, err) = device.cli(&["print"]).await?;
        ensure!(code == 0, "print exited {code}: {err}");
        ensure!(
            print.contains("daemon=running"),
            "print did not come from the daemon:\n{print}"
        );
        ensure!(
            print.contains("periodic-inform-interval=1h"),
            "print:\n{print}"
        );
        ensure!(print.contains("status=running"), "print:\n{print}");
        ensure!(print.contains("password=***"), "print:\n{print}");
        ensure!(
            !print.contains(ACS_PASSWORD) && !print.contains(CR_PASSWORD),
            "print shows a password:\n{print}"
        );
        ensure!(
            device.get("periodic-inform-interval").await? == "1h",
            "get periodic-inform-interval"
        );

        let (code, out, err) = device
            .cli(&["set", "periodic-inform-interval=soon"])
            .await?;
        ensure!(code == 2, "invalid set exited {code}: {out}{err}");
        ensure!(
            err.contains("periodic-inform-interval"),
            "the error does not name the setting: {err}"
        );
        ensure!(
            device.get("periodic-inform-interval").await? == "1h",
            "a refused set changed the value"
        );
        Ok(())
    })
    .await;
}

/// A CLI command run while the daemon starts (e.g. `print` falling back to the journal because
/// the control socket is not up yet) holds the journal for a moment; the daemon waits for the
/// lock instead of exiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_start_survives_a_cli_holding_the_journal() {
    let device = Device::new(
        "daemon_start_survives_a_cli_holding_the_journal",
        env!("CARGO_BIN_EXE_agent"),
    );
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        // What the offline CLI does: open the journal (read-write, locked) for a moment.
        let dir = device.data_dir().join("journal");
        std::fs::create_dir_all(&dir)?;
        let (held, _) =
            tr069_client::records::Journal::open(&dir, journal::Options::with_boot_id("boot-1"))?;
        let mut agent = device.spawn()?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        held.close();
        agent.wait_ready(&device).await?;
        check_bootstrap(&acs, &device).await?;
        Ok(())
    })
    .await;
}

/// Device:2.11's forced-inform parameters.
const FORCED_INFORM: &[&str] = &[
    "Device.RootDataModelVersion",
    "Device.DeviceInfo.HardwareVersion",
    "Device.DeviceInfo.SoftwareVersion",
    "Device.DeviceInfo.ProvisioningCode",
    "Device.ManagementServer.ParameterKey",
    "Device.ManagementServer.ConnectionRequestURL",
    "Device.ManagementServer.AliasBasedAddressing",
];

/// Seconds since the epoch, now.
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_come_on_their_own_and_a_refused_one_is_not_retried() {
    use tr069_client::cwmp::rpc::set_parameter_values::SetParameterValues;
    use tr069_client::cwmp::{Body, DateTime, ParameterValueStruct, Value};
    let device = Device::new("heartbeats_through_the_agent", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let acs = ScriptedAcs::start(digest_acs()).await?;
        device.write_config(&acs.url(), &[]);
        // ReportingInterval's minimum (20 s, TR-181); InitiationTime a few seconds ahead, so
        // the first heartbeat comes soon and the next one a whole interval later.
        let interval_s = 20;
        // (Far enough ahead that the BOOTSTRAP session is over before it, so the ACS is set to
        // refuse it in time.)
        let first_slot = unix_now() + 10;
        let hb = "Device.ManagementServer.HeartbeatPolicy.";
        acs.enqueue(Body::SetParameterValues(SetParameterValues {
            parameter_list: vec![
                ParameterValueStruct::new(
                    format!("{hb}ReportingInterval"),
                    Value::unsigned_int(interval_s),
                ),
                ParameterValueStruct::new(
                    format!("{hb}InitiationTime"),
                    Value::date_time(DateTime::from_unix(first_slot, 0)),
                ),
                ParameterValueStruct::new(format!("{hb}Enable"), Value::boolean(true)),
            ],
            parameter_key: "hb".into(),
        }));
        let _agent = device.start().await?;
        let boot = wait_session(&acs, 0, "the BOOTSTRAP session", |s| {
            s.is_ended() && s.acs_calls.iter().all(|c| c.answer.is_some())
        })
        .await?;
        ensure!(completed(&boot), "BOOTSTRAP ended {:?}", boot.end);
        // The ACS refuses the first heartbeat.
        acs.fail_next_sessions(1, Failure::Status(500));
        let refused = wait_session(&acs, 1, "the first heartbeat", |_| true).await?;
        ensure!(
            refused.event_codes() == ["14 HEARTBEAT"],
            "a heartbeat carries no other event: {:?}",
            refused.event_codes()
        );
        ensure!(
            refused.end == SessionEnd::Failed(Failure::Status(500)),
            "{:?}",
            refused.end
        );
        ensure!(
            refused.inform.current_time.unix_millis() >= first_slot * 1000,
            "not before its slot: {}",
            refused.inform.current_time
        );
        // The next session is the next slot's heartbeat, not a retry of the refused one (an
        // ordinary retry would come after retry-minimum-wait, 1 s here).
        let next = acs
            .wait_for_session(2, WAIT * 2, "the second heartbeat", |_| true)
            .await?;
        let all = acs.sessions();
        ensure!(
            all[2].number == next.number,
            "one session after the refused heartbeat: {all:#?}"
        );
        ensure!(
            next.event_codes() == ["14 HEARTBEAT"],
            "{:?}",
            next.event_codes()
        );
        ensure!(next.retry_count() == 0, "RetryCount {}", next.retry_count());
        ensure!(
            next.inform.current_time.unix_millis() >= (first_slot + i64::from(interval_s)) * 1000,
            "the next slot, not a retry: {}",
            next.inform.current_time
        );
        assert_completed_with_204(&acs, &next)?;
        // Heartbeats bring nothing else along: no request of the CPE's own (GetRPCMethods,
        // TransferComplete), only the forced parameters.
        for s in [&refused, &next] {
            ensure!(s.cpe_methods().is_empty(), "{:?}", s.cpe_methods());
            let names: Vec<&str> = s
                .inform
                .parameter_list
                .iter()
                .map(|p| p.name.as_str())
                .collect();
            ensure!(
                names.iter().all(|n| FORCED_INFORM.contains(n)),
                "session {}: {names:?}",
                s.number
            );
        }
        Ok(())
    })
    .await;
}
