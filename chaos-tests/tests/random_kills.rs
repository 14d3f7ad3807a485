//! Campaigns 2 + 4: random SIGKILLs (some as device reboots) and ACS faults during the
//! provisioning + firmware-upgrade flow, one seed per flow.
//!
//! For each seed a seeded RNG (`Plan::random`) picks 1–3 kill instants, a slow firmware server
//! in some seeds (so kills land mid-download) and, in half of them, faults the ACS answers some
//! of the first sessions' Informs with (401, 500, 503 + Retry-After, a body cut short, a reset,
//! a response slower than the agent's session limit, malformed XML, fault 8005). Every flow is
//! checked against the invariants of `chaos_tests::campaign` and its final values against a
//! fault-free run.
//!
//! * `CHAOS_SEEDS=N` — how many seeds (default 100), from `CHAOS_SEED_BASE` (default 1);
//! * `CHAOS_SEED=S` — replay one seed;
//! * `CHAOS_PARALLEL=P` — flows at once (default 4; each has its own device, ACS, file server).
//!
//! `CHAOS_SEEDS=1000 cargo test -p chaos-tests --release --test random_kills -- --nocapture`

use std::path::Path;
use std::time::Instant;

use chaos_tests::campaign::{Plan, Summary, baseline, env_or, failures, run_plans};

#[test]
fn random_kills_and_acs_faults() {
    let bin = Path::new(env!("CARGO_BIN_EXE_agent"));
    let verbose = std::env::var_os("CHAOS_VERBOSE").is_some();
    let started = Instant::now();
    let seeds: Vec<u64> = match std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        Some(seed) => vec![seed],
        None => {
            let n: u64 = env_or("CHAOS_SEEDS", 100);
            let base: u64 = env_or("CHAOS_SEED_BASE", 1);
            (base..base + n).collect()
        }
    };
    let (reference, base) = match baseline(bin) {
        Ok(b) => b,
        Err(e) => panic!("{e:#}"),
    };
    println!("baseline: {}", base.line());
    if verbose {
        println!("{}", base.details);
    }

    let plans: Vec<Plan> = seeds.iter().map(|s| Plan::random(*s)).collect();
    let parallel = env_or("CHAOS_PARALLEL", 4usize);
    let reports = run_plans(bin, plans, parallel, Some(&reference), &|r| {
        println!("{}", r.line());
        if verbose {
            println!("{}", r.details);
        }
    });
    let summary = Summary::of(&reports);
    println!(
        "campaign 2+4 (random kills + ACS faults): seeds={} {summary}; {:.0}s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        summary.violations == 0,
        "{} violations:\n{}",
        summary.violations,
        failures(&reports)
    );
}
