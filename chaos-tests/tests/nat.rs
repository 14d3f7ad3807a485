//! Connection requests across a real NAT, with real servers: the agent binary runs on a CPE host
//! behind a router that masquerades (network namespaces, [`chaos_tests::netns`]); the scripted
//! ACS, coturn (STUN) and prosody (XMPP) run on the ACS host outside.
//!
//! Shown here: the ACS host cannot open the agent's TCP connection-request port (the control);
//! a UDP connection request to the address the agent learned by STUN starts a session; the
//! binding is kept alive past the NAT's UDP timeout, and learned anew (and told to the ACS) when
//! the NAT forgets it; replayed and mis-signed UDP requests start nothing; an XMPP connection
//! request through prosody starts a session, a wrong password or a JID not allowed starts
//! nothing; the XMPP connection comes back after prosody restarts.
//!
//! They need root, iproute2, iptables, conntrack, coturn and prosody; without them they print
//! one SKIPPED line and pass, or fail under `TR069_TEST_STRICT=1` (`test_tools`). Assertions are on what the ACS saw
//! and what the agent answered, never on timing.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{Context as _, anyhow, ensure};
use chaos_tests::device::*;
use chaos_tests::netns::*;
use chaos_tests::xmpp_acs::{Answer, XmppAcs};
use chaos_tests::{AcsConfig, ScriptedAcs, SessionLog};

const UDP_ADDRESS: &str = "Device.ManagementServer.UDPConnectionRequestAddress";
const JABBER_ID: &str = "Device.ManagementServer.ConnReqJabberID";
/// The whole scenario's limit (STUN keep-alives are waited for in real time).
const LIMIT: Duration = Duration::from_secs(150);
const HTTP_CR_PORT: u16 = 7548;

async fn nat_scenario<F>(device: &Device, body: F)
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let result = match tokio::time::timeout(LIMIT, body).await {
        Ok(r) => r,
        Err(_) => Err(anyhow!("scenario timed out after {LIMIT:?}")),
    };
    if let Err(e) = result {
        panic!("{e:#}\n{}", device.logs());
    }
    // NAT_TEST_LOGS=1 shows what the agent did in a passing run, too.
    if std::env::var_os("NAT_TEST_LOGS").is_some() {
        println!("{}", device.logs());
    }
}

/// The scripted ACS, listening on the ACS host.
async fn acs_on(lab: &NatLab) -> anyhow::Result<ScriptedAcs> {
    let listener = lab
        .tcp_listener(&lab.acs, SocketAddr::new(ACS_IP.into(), 0))
        .context("binding the ACS in its namespace")?;
    ScriptedAcs::start_on(AcsConfig::default(), listener).await
}

/// How often the agent's logs contain `needle` (the sync point for "the datagram was handled").
fn log_count(device: &Device, needle: &str) -> usize {
    (1..=4)
        .map(|n| {
            std::fs::read_to_string(device.path().join(format!("agent-{n}.log")))
                .unwrap_or_default()
                .matches(needle)
                .count()
        })
        .sum()
}

async fn wait_log(device: &Device, needle: &str, count: usize) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while log_count(device, needle) < count {
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the agent never logged {needle:?} {count} time(s)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// `inform-now`, and the session it starts: with no connection request owed its only event is
/// `2 PERIODIC` — the proof that what was sent before started nothing.
async fn nothing_was_owed(acs: &ScriptedAcs, device: &Device, what: &str) -> anyhow::Result<()> {
    let before = acs.sessions().len();
    let (code, out, err) = device.cli(&["inform-now"]).await?;
    ensure!(code == 0, "inform-now exited {code}: {out}{err}");
    let s = acs
        .wait_for_session(before, WAIT, "the inform-now session", |_| true)
        .await?;
    ensure!(
        s.event_codes() == ["2 PERIODIC"],
        "{what} started something: the next session carried {:?}",
        s.event_codes()
    );
    ensure!(
        acs.sessions().len() == before + 1,
        "{what}: another session ran"
    );
    Ok(())
}

async fn connection_request_session(
    acs: &ScriptedAcs,
    after: usize,
    what: &str,
) -> anyhow::Result<SessionLog> {
    acs.wait_for_session(after, WAIT, what, |s| s.has_event(CONNECTION_REQUEST))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_connection_requests_cross_the_nat_on_a_stun_binding() {
    if let Some(why) = NatLab::unavailable().or_else(Coturn::unavailable) {
        test_tools::skip(why);
        return;
    }
    let lab = NatLab::new("st").expect("building the NAT lab");
    let device = Device::new("udp_cr_across_nat", env!("CARGO_BIN_EXE_agent"));
    let _coturn = Coturn::start(&lab, device.path()).expect("starting coturn");
    nat_scenario(&device, async {
        // The NAT forgets an idle UDP binding after 4 s; the agent's keep-alive is 1 s.
        lab.set_udp_binding_lifetime(4)?;
        let acs = acs_on(&lab).await?;
        device.run_in_netns(&lab.cpe);
        device.set_listen_address("0.0.0.0");
        device.write_config(
            &acs.url(),
            &[
                ("connection-request-port", "7548"),
                ("stun-enabled", "yes"),
                ("stun-maximum-keep-alive-period", "1"),
                ("stun-minimum-keep-alive-period", "0"),
                ("udp-connection-request-port", "7547"),
            ],
        );
        let _agent = device.start().await?;

        // The binding the STUN server saw is the router's outside address.
        let learned = acs
            .wait_for_session(0, WAIT, "the Inform with the UDP address", |s| {
                s.parameter(UDP_ADDRESS).is_some()
            })
            .await?;
        let mapped: SocketAddr = learned
            .parameter(UDP_ADDRESS)
            .unwrap_or_default()
            .parse()
            .context("UDPConnectionRequestAddress")?;
        ensure!(
            mapped.ip() == IpAddr::from(ROUTER_WAN_IP),
            "mapped {mapped}, not the NAT's outside address"
        );
        ensure!(
            learned.has_event("4 VALUE CHANGE"),
            "{:?}",
            learned.event_codes()
        );

        // The control: the ACS host cannot open the TCP connection-request port, neither at the
        // CPE's own address (ConnectionRequestURL) nor at the NAT's.
        let first = acs.sessions().into_iter().next().context("no session")?;
        let cr_url = first
            .parameter("Device.ManagementServer.ConnectionRequestURL")
            .unwrap_or_default()
            .to_owned();
        ensure!(
            cr_url.starts_with(&format!("http://{CPE_IP}:{HTTP_CR_PORT}/")),
            "ConnectionRequestURL {cr_url}"
        );
        for target in [CPE_IP, ROUTER_WAN_IP] {
            let addr = SocketAddr::new(target.into(), HTTP_CR_PORT);
            ensure!(
                lab.tcp_connect(&lab.acs, addr, Duration::from_secs(2))
                    .is_err(),
                "the ACS host reached {addr} through the NAT"
            );
        }
        // While the agent's HTTP listener is there, on its own host.
        ensure!(
            lab.tcp_connect(
                &lab.cpe,
                SocketAddr::new(CPE_IP.into(), HTTP_CR_PORT),
                Duration::from_secs(2)
            )
            .is_ok(),
            "the HTTP listener is not running"
        );

        // A UDP connection request (three copies, like GenieACS) to the learned address.
        let n = acs.sessions().len();
        let ts = unix_now();
        let request = udp_connection_request(mapped, ts, 1001, CR_USER, CR_PASSWORD);
        lab.send_from_stun_port(&request, mapped)?;
        let s = connection_request_session(&acs, n, "the UDP connection request's session").await?;
        ensure!(
            s.event_codes() == [CONNECTION_REQUEST],
            "{:?}",
            s.event_codes()
        );
        ensure!(
            acs.sessions().len() == n + 1,
            "three copies of one message started one session"
        );

        // A replay of that message, and a message signed with the wrong password: ignored.
        let ignored = "UDP connection request ignored";
        let seen = log_count(&device, ignored);
        lab.send_from_stun_port(&request, mapped)?;
        let forged = udp_connection_request(mapped, ts + 5, 1002, CR_USER, "not-the-password");
        lab.send_from_stun_port(&forged, mapped)?;
        wait_log(&device, ignored, seen + 6).await?;
        nothing_was_owed(&acs, &device, "a replayed or mis-signed UDP request").await?;

        // Keep-alive: long past the NAT's UDP timeout, the same binding still lets requests in.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let n = acs.sessions().len();
        let request = udp_connection_request(mapped, unix_now(), 1003, CR_USER, CR_PASSWORD);
        lab.send_from_stun_port(&request, mapped)?;
        connection_request_session(&acs, n, "a request on the kept-alive binding").await?;
        ensure!(
            acs.sessions()
                .iter()
                .filter_map(|s| s.parameter(UDP_ADDRESS))
                .all(|a| a == mapped.to_string()),
            "the binding moved while it was kept alive"
        );

        // The NAT forgets every binding: the agent learns a new one and tells the ACS.
        let n = acs.sessions().len();
        lab.flush_conntrack()?;
        let moved = acs
            .wait_for_session(n, WAIT, "the Inform with the new UDP address", |s| {
                s.parameter(UDP_ADDRESS)
                    .is_some_and(|a| a != mapped.to_string())
            })
            .await?;
        let remapped: SocketAddr = moved
            .parameter(UDP_ADDRESS)
            .unwrap_or_default()
            .parse()
            .context("the new UDPConnectionRequestAddress")?;
        ensure!(
            moved.has_event("4 VALUE CHANGE"),
            "{:?}",
            moved.event_codes()
        );
        let n = acs.sessions().len();
        let request = udp_connection_request(remapped, unix_now(), 1004, CR_USER, CR_PASSWORD);
        lab.send_from_stun_port(&request, remapped)?;
        connection_request_session(&acs, n, "a request on the new binding").await?;
        Ok(())
    })
    .await;
}

async fn xmpp_login(lab: &NatLab, user: &str, password: &str) -> anyhow::Result<XmppAcs> {
    let tcp = lab.tcp_connect(
        &lab.acs,
        SocketAddr::new(ACS_IP.into(), XMPP_PORT),
        Duration::from_secs(2),
    )?;
    XmppAcs::login(tcp, XMPP_DOMAIN, user, password).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xmpp_connection_requests_through_prosody() {
    if let Some(why) = NatLab::unavailable().or_else(Prosody::unavailable) {
        test_tools::skip(why);
        return;
    }
    let lab = NatLab::new("xm").expect("building the NAT lab");
    let device = Device::new("xmpp_cr_across_nat", env!("CARGO_BIN_EXE_agent"));
    let (ca, cert, key) =
        xmpp_certificates(device.path(), XMPP_DOMAIN).expect("writing the XMPP certificates");
    let mut prosody = Prosody::start(
        &lab,
        device.path(),
        &cert,
        &key,
        &[
            ("cpe", "cpe-xmpp-secret"),
            ("acs", "acs-xmpp-secret"),
            ("intruder", "intruder-xmpp-secret"),
        ],
    )
    .expect("starting prosody");
    nat_scenario(&device, async {
        let acs = acs_on(&lab).await?;
        device.run_in_netns(&lab.cpe);
        device.write_config(
            &acs.url(),
            &[
                ("xmpp-enabled", "yes"),
                ("xmpp-username", "cpe"),
                ("xmpp-password", "cpe-xmpp-secret"),
                ("xmpp-domain", XMPP_DOMAIN),
                ("xmpp-server-address", &ACS_IP.to_string()),
                ("xmpp-server-port", &XMPP_PORT.to_string()),
                ("ca-file", &ca.to_string_lossy()),
                ("connection-request-allowed-jabber-ids", "acs@xmpp.test"),
                ("xmpp-server-retry-initial-interval", "1"),
                ("xmpp-server-retry-max-interval", "2"),
            ],
        );
        let _agent = device.start().await?;

        // The JID the server bound reaches the ACS (ConnReqJabberID, actively notified).
        let told = acs
            .wait_for_session(0, WAIT, "the Inform with ConnReqJabberID", |s| {
                s.parameter(JABBER_ID).is_some_and(|j| !j.is_empty())
            })
            .await?;
        let jid = told.parameter(JABBER_ID).unwrap_or_default().to_owned();
        ensure!(jid == "cpe@xmpp.test/cwmp", "ConnReqJabberID {jid}");
        let values = get_values(
            &acs,
            &device,
            &[
                "Device.XMPP.Connection.1.Status",
                "Device.XMPP.Connection.1.TLSEstablished",
                "Device.XMPP.Connection.1.JabberID",
            ],
        )
        .await?;
        let value = |n: &str| {
            values
                .iter()
                .find(|(name, _)| name.ends_with(n))
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        ensure!(value("Status") == "Enabled", "{values:?}");
        ensure!(value("TLSEstablished") == "true", "TLS: {values:?}");
        ensure!(value("JabberID") == jid, "{values:?}");

        // The ACS's connection request through prosody.
        let mut genie = xmpp_login(&lab, "acs", "acs-xmpp-secret").await?;
        let n = acs.sessions().len();
        let answer = genie
            .connection_request(&jid, CR_USER, CR_PASSWORD, WAIT)
            .await?;
        ensure!(answer == Answer::Result, "answered {answer:?}");
        let s =
            connection_request_session(&acs, n, "the XMPP connection request's session").await?;
        ensure!(
            s.event_codes() == [CONNECTION_REQUEST],
            "{:?}",
            s.event_codes()
        );

        // A wrong password, and a JID not in ConnReqAllowedJabberIDs: refused, nothing starts.
        let answer = genie
            .connection_request(&jid, CR_USER, "wrong-password", WAIT)
            .await?;
        ensure!(
            answer == Answer::Error("not-authorized".into()),
            "wrong password answered {answer:?}"
        );
        let mut intruder = xmpp_login(&lab, "intruder", "intruder-xmpp-secret").await?;
        let answer = intruder
            .connection_request(&jid, CR_USER, CR_PASSWORD, WAIT)
            .await?;
        ensure!(
            answer == Answer::Error("service-unavailable".into()),
            "a JID not allowed got {answer:?}"
        );
        nothing_was_owed(&acs, &device, "a refused XMPP connection request").await?;

        // The server restarts: the agent reconnects on its own (backoff of at most 2 s here) and
        // takes connection requests again.
        prosody.restart()?;
        let deadline = tokio::time::Instant::now() + WAIT;
        let n = acs.sessions().len();
        loop {
            ensure!(
                tokio::time::Instant::now() < deadline,
                "the agent did not come back to the restarted XMPP server"
            );
            // Until the agent is back, prosody answers for its JID with service-unavailable.
            let attempt = async {
                let mut genie = xmpp_login(&lab, "acs", "acs-xmpp-secret").await?;
                genie
                    .connection_request(&jid, CR_USER, CR_PASSWORD, Duration::from_secs(5))
                    .await
            }
            .await;
            if let Ok(Answer::Result) = attempt {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        connection_request_session(&acs, n, "the connection request after the restart").await?;
        Ok(())
    })
    .await;
}
