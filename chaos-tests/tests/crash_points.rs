//! Campaign 1: every named crash point the provisioning + firmware-upgrade flow reaches.
//!
//! A fault-free run (with `TR069_CRASH_LOG`) tells which points each agent start reaches. Then,
//! for each reached point, the flow runs again with `TR069_CRASH_AT=<point>@<hit>` planted in one
//! start (its first hit, the second for a few points, and the hits of the start after the
//! firmware reboot, where the TransferCompletes are acknowledged); after the abort the agent is
//! restarted as a process restart (same boot id) and, in a separate run, after a device reboot
//! (new boot id). Every run is checked against the invariants of `chaos_tests::campaign`.
//! Points the flow never reaches are printed.
//!
//! `cargo test -p chaos-tests --test crash_points -- --nocapture`; `CHAOS_PARALLEL` (default 3)
//! sets how many runs go at once; `CHAOS_POINT=<text>` runs only the plans whose label contains
//! it (e.g. `CHAOS_POINT="session.after_journal_before_send@4 start 1"`).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use chaos_tests::campaign::{
    CRASH_POINTS, FlowReport, Plan, Summary, baseline, env_or, failures, run_plans,
};

/// Points whose second hit in a start is a different moment of the flow worth its own run.
const SECOND_HIT: &[&str] = &[
    "append.after_durable",
    "snapshot.before",
    "session.before_ack_journaled",
    "session.after_journal_before_send",
    "transfer.before_outcome_journaled",
    "transfer.after_applying_journaled",
    "transfer.after_checkpoint",
];

/// Points whose every hit, up to a number, gets a run in the first start (the BOOTSTRAP
/// session: SessionStarted, InformAcknowledged, SetParameterValues, AddObject, SessionEnded …)
/// and in the start after the firmware reboot (the Inform and TransferComplete acknowledgements).
const EVERY_HIT: &[(&str, u32)] = &[
    ("session.before_ack_journaled", 4),
    ("session.after_journal_before_send", 6),
];

#[test]
fn every_crash_point_of_the_flow() {
    let bin = Path::new(env!("CARGO_BIN_EXE_agent"));
    let verbose = std::env::var_os("CHAOS_VERBOSE").is_some();
    let started = Instant::now();
    let (reference, base) = match baseline(bin) {
        Ok(b) => b,
        Err(e) => panic!("{e:#}"),
    };
    println!("baseline: {}", base.line());
    if verbose {
        println!("{}", base.details);
    }

    // CHAOS_POINT=<text>: only the runs whose label contains it (replay).
    let only = std::env::var("CHAOS_POINT").ok();
    let mut plans = Vec::new();
    let mut unreached = Vec::new();
    for point in CRASH_POINTS {
        // (start, hits of the point in that start)
        let starts: Vec<(u32, u32)> = base
            .points_reached
            .iter()
            .map(|(s, pts)| (*s, pts.iter().filter(|p| p == point).count() as u32))
            .filter(|(_, n)| *n > 0)
            .collect();
        let Some(&(first_start, first_hits)) = starts.first() else {
            unreached.push(*point);
            continue;
        };
        let every = EVERY_HIT.iter().find(|(p, _)| p == point).map(|(_, n)| *n);
        let mut targets: BTreeSet<(u32, u32)> = BTreeSet::new();
        targets.insert((first_start, 1));
        if SECOND_HIT.contains(point) && first_hits >= 2 {
            targets.insert((first_start, 2));
        }
        for hit in 1..=every.unwrap_or(0).min(first_hits) {
            targets.insert((first_start, hit));
        }
        if let Some(&(last_start, last_hits)) = starts.last()
            && last_start != first_start
        {
            for hit in 1..=every.unwrap_or(1).min(last_hits) {
                targets.insert((last_start, hit));
            }
        }
        for (start, hit) in targets {
            for then_reboot in [false, true] {
                let plan = Plan::crash(point, hit, start, then_reboot);
                if only.as_deref().is_none_or(|o| plan.label.contains(o)) {
                    plans.push(plan);
                }
            }
        }
    }
    println!(
        "crash points the flow never reaches (not exercised): {}",
        if unreached.is_empty() {
            "none".to_owned()
        } else {
            unreached.join(", ")
        }
    );
    println!("{} crash runs", plans.len());

    let parallel = env_or("CHAOS_PARALLEL", 3usize);
    let expected: Vec<(String, String)> = plans
        .iter()
        .filter_map(|p| p.crash.as_ref().map(|c| (p.label.clone(), c.point.clone())))
        .collect();
    let reports: Vec<FlowReport> = run_plans(bin, plans, parallel, Some(&reference), &|r| {
        println!("{}", r.line());
        if verbose {
            println!("{}", r.details);
        }
    });

    let missed: Vec<&str> = reports
        .iter()
        .zip(&expected)
        .filter(|(r, (_, point))| !r.aborts.contains(point))
        .map(|(_, (label, _))| label.as_str())
        .collect();
    if !missed.is_empty() {
        println!(
            "planted crash not reached in these runs (the flow took another path): {}",
            missed.join("; ")
        );
    }
    let summary = Summary::of(&reports);
    println!(
        "campaign 1 (crash points): {summary}; unreached points: {}; {:.0}s",
        unreached.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        summary.aborts > 0,
        "no planted crash point was reached: the harness is broken"
    );
    assert!(
        summary.violations == 0,
        "{} violations:\n{}",
        summary.violations,
        failures(&reports)
    );
}
