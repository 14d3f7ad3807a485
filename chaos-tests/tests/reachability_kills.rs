//! Campaign 5: connection requests over UDP and XMPP amid random kills. The flow of
//! `random_kills` (same seeds, same kills, device reboots and ACS faults), with the agent's UDP
//! connection-request socket and XMPP connection on, and 2–6 correctly signed connection
//! requests — UDP datagrams (three copies each, as GenieACS sends) and XMPP connectionRequest
//! IQs through prosody — arriving at random instants, whether the agent is up, starting, or
//! dead. Loopback only: no NAT is needed for what this checks (the NAT itself is
//! `tests/nat.rs`), and no STUN server answers, which leaves the UDP socket taking requests.
//!
//! Every flow is checked against the campaign's invariants (nothing owed is lost, `1 BOOT` and
//! every TransferComplete exactly once, `journal verify` after every death, the final values of
//! the fault-free flow) and the connection-request ones (`Flow::check_connection_requests` in
//! `chaos_tests::campaign`): an accepted request leads to a session carrying
//! `6 CONNECTION REQUEST` (coalescing allowed) unless the agent died first; no such session
//! without a request; copies and replays accepted once at most.
//!
//! * `CHAOS_SEEDS=N` — how many seeds (default 12), from `CHAOS_SEED_BASE` (default 1);
//! * `CHAOS_SEED=S` — replay one seed;
//! * `CHAOS_PARALLEL=P` — flows at once (default 4).
//!
//! Needs prosody (and root for its lab configuration); without it the test prints one SKIPPED
//! line, or fails under `TR069_TEST_STRICT=1`.
//!
//! `CHAOS_SEEDS=100 cargo test -p chaos-tests --test reachability_kills -- --nocapture`

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Instant;

use chaos_tests::campaign::{
    Plan, Reach, Summary, XMPP_ACS_USER, XMPP_CPE_USER, XmppServer, baseline, env_or, failures,
    run_plans,
};
use chaos_tests::netns::{Prosody, XMPP_DOMAIN, xmpp_certificates};

#[test]
fn connection_requests_over_udp_and_xmpp_amid_random_kills() {
    if let Some(why) = Prosody::unavailable() {
        test_tools::skip(why);
        return;
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_agent"));
    let verbose = std::env::var_os("CHAOS_VERBOSE").is_some();
    let started = Instant::now();
    let seeds: Vec<u64> = match std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(seed) => vec![seed],
        None => {
            let n: u64 = env_or("CHAOS_SEEDS", 12);
            let base: u64 = env_or("CHAOS_SEED_BASE", 1);
            (base..base + n).collect()
        }
    };

    let dir = tempfile::Builder::new()
        .prefix("xmpp-")
        .tempdir()
        .expect("a temporary directory");
    let (ca, cert, key) =
        xmpp_certificates(dir.path(), XMPP_DOMAIN).expect("writing the XMPP certificates");
    // A port free now on loopback (another test may run its own server).
    let port = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let addr = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
    let _prosody = Prosody::start_local(
        addr,
        dir.path(),
        &cert,
        &key,
        &[XMPP_CPE_USER, XMPP_ACS_USER],
    )
    .expect("starting prosody");
    let reach = Reach {
        udp: true,
        xmpp: Some(XmppServer {
            addr,
            domain: XMPP_DOMAIN.to_owned(),
            ca_file: ca,
        }),
    };

    let (reference, base) = match baseline(bin) {
        Ok(b) => b,
        Err(e) => panic!("{e:#}"),
    };
    println!("baseline: {}", base.line());
    let plans: Vec<Plan> = seeds
        .iter()
        .map(|s| Plan::random(*s).with_connection_requests(reach.clone()))
        .collect();
    let parallel = env_or("CHAOS_PARALLEL", 4usize);
    let reports = run_plans(bin, plans, parallel, Some(&reference), &|r| {
        println!("{}", r.line());
        if verbose {
            println!("{}", r.details);
        }
    });
    let summary = Summary::of(&reports);
    println!(
        "campaign 5 (UDP + XMPP connection requests amid random kills): seeds={} {summary}; {:.0}s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        summary.violations == 0,
        "{} violations:\n{}",
        summary.violations,
        failures(&reports)
    );
    // The campaign must have exercised what it checks: over several seeds, requests of both
    // kinds reached a running agent and were carried by sessions (one seed alone may have every
    // request land on a dead agent).
    if seeds.len() >= 8 {
        let c = &summary.crs;
        assert!(
            c.udp_accepted > 0 && c.xmpp_accepted > 0 && c.served > 0,
            "the campaign exercised too little: {c}"
        );
    }
}
