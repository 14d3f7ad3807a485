//! The agent's XMPP connection (TR-069 Annex K) against a fake server on loopback
//! (`chaos_tests::xmpp_server`): what prosody cannot be made to do — a server that offers no
//! STARTTLS — and what it does not show without reading its debug log — the agent's keep-alive
//! pings. Assertions are on what the server saw and what the agent reports (TR-181 values read
//! by the ACS, its log), never on timing: every wait has a generous limit.

use std::time::Duration;

use anyhow::{bail, ensure};
use chaos_tests::device::*;
use chaos_tests::xmpp_server::FakeXmppServer;
use chaos_tests::{AcsConfig, ScriptedAcs};

const STATUS: &str = "Device.XMPP.Connection.1.Status";
const TLS: &str = "Device.XMPP.Connection.1.TLSEstablished";
const JABBER_ID: &str = "Device.XMPP.Connection.1.JabberID";
const DOMAIN: &str = "xmpp.test";

fn value(values: &[(String, String)], name: &str) -> String {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Waits until the agent's logs hold `needle`.
async fn wait_log(device: &Device, needle: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let logs: String = (1..=4)
            .map(|n| {
                std::fs::read_to_string(device.path().join(format!("agent-{n}.log")))
                    .unwrap_or_default()
            })
            .collect();
        if logs.contains(needle) {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the agent never logged {needle:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn xmpp_settings(port: &str) -> Vec<(&str, &str)> {
    vec![
        ("xmpp-enabled", "yes"),
        ("xmpp-username", "cpe"),
        ("xmpp-password", "cpe-xmpp-secret"),
        ("xmpp-domain", DOMAIN),
        ("xmpp-server-address", "127.0.0.1"),
        ("xmpp-server-port", port),
        ("xmpp-server-retry-initial-interval", "1"),
        ("xmpp-server-retry-max-interval", "2"),
    ]
}

/// A server without STARTTLS: the agent sends no credentials in clear and reports
/// Error_Misconfigured, saying why in its log; with the lab setting `xmpp-allow-plaintext` it
/// logs in and reports the connection Enabled without TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_starttls_is_refused_unless_plaintext_is_allowed() {
    let device = Device::new("xmpp_without_starttls", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let server = FakeXmppServer::start(DOMAIN).await?;
        let acs = ScriptedAcs::start(AcsConfig::default()).await?;
        let port = server.addr.port().to_string();
        device.write_config(&acs.url(), &xmpp_settings(&port));
        let _agent = device.start().await?;

        // Refused: the reason in the log, Error_Misconfigured in Status, no credentials sent.
        // The agent tries again after a growing wait, and reports `Connecting` while it does,
        // so a read can fall on a retry: read until the refusal shows, never anything else.
        wait_log(&device, "the XMPP server offers no TLS").await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let values = get_values(&acs, &device, &[STATUS, TLS]).await?;
            ensure!(value(&values, TLS) == "false", "{values:?}");
            match value(&values, STATUS).as_str() {
                "Error_Misconfigured" => break,
                "Connecting" => {}
                _ => bail!("{values:?}"),
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "Status never read Error_Misconfigured: {values:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen = server.seen();
        ensure!(seen.connections >= 1, "the agent never connected: {seen:?}");
        ensure!(
            seen.auths == 0,
            "credentials went out over plaintext: {seen:?}"
        );

        // The lab setting: the same server is used without TLS.
        let (code, out, err) = device.cli(&["set", "xmpp-allow-plaintext=yes"]).await?;
        ensure!(code == 0, "set exited {code}: {out}{err}");
        server
            .wait_for(WAIT, "a bound resource", |s| s.binds >= 1)
            .await?;
        wait_log(&device, "the XMPP connection is NOT encrypted").await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let values = get_values(&acs, &device, &[STATUS, TLS, JABBER_ID]).await?;
            if value(&values, STATUS) == "Enabled" {
                ensure!(value(&values, TLS) == "false", "{values:?}");
                ensure!(
                    value(&values, JABBER_ID) == "cpe@xmpp.test/cwmp",
                    "{values:?}"
                );
                break;
            }
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the connection never became Enabled: {values:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(())
    })
    .await;
}

/// KeepAliveInterval 1 s: after a second of silence the agent pings the server (XEP-0199); the
/// server answers and the same connection goes on pinging — it is not torn down and remade.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_pings_the_server_after_keep_alive_silence() {
    let device = Device::new("xmpp_keep_alive", env!("CARGO_BIN_EXE_agent"));
    scenario(&device, async {
        let server = FakeXmppServer::start(DOMAIN).await?;
        let acs = ScriptedAcs::start(AcsConfig::default()).await?;
        let port = server.addr.port().to_string();
        let mut settings = xmpp_settings(&port);
        settings.push(("xmpp-allow-plaintext", "yes"));
        settings.push(("xmpp-keep-alive-interval", "1"));
        device.write_config(&acs.url(), &settings);
        let _agent = device.start().await?;

        let seen = server
            .wait_for(WAIT, "two keep-alive pings", |s| s.pings.len() >= 2)
            .await?;
        ensure!(
            seen.connections == 1 && seen.binds == 1,
            "the agent reconnected between its pings: {seen:?}"
        );
        ensure!(
            seen.pings[0] != seen.pings[1],
            "two pings with one id: {seen:?}"
        );
        Ok(())
    })
    .await;
}
