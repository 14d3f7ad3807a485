//! How fast the per-device core runs a whole provisioning + firmware flow with no I/O: the
//! BOOTSTRAP session, a provisioning session (SetParameterValues, AddObject, SetParameterValues,
//! Download), the transfer's stages, the apply, the reboot and the session reporting the upgrade
//! — 30 journal records and 8 CWMP messages each way.
//!
//! Two figures in one run: `core` is the core's own work (it decodes every ACS message and
//! encodes every message it sends; the fake ACS only reads which RPC came and answers with a
//! fresh envelope), `core_and_checking_acs` adds the fake ACS decoding and keeping every message
//! the CPE sent, as the tests' harness does. A third, `core_on_N_threads`, runs `core` on every
//! CPU at once (N = the machine's CPUs), each thread with its own cores: flows per second of the
//! whole machine.
//!
//! `cargo bench --bench cpe_flow`

#[path = "../tests/support/cpe_harness.rs"]
mod harness;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn flow(c: &mut Criterion) {
    let mut h = harness::Harness::new(harness::config(), 1);
    h.provisioning_and_firmware_flow();
    println!(
        "one flow: {} journal records, {} sessions",
        h.journal.len(),
        h.sessions.len()
    );
    let mut group = c.benchmark_group("cpe");
    group.throughput(Throughput::Elements(1));
    for (name, keep_messages) in [("core", false), ("core_and_checking_acs", true)] {
        let mut seed = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                seed += 1;
                let mut h = harness::Harness::new(harness::config(), seed);
                h.keep_messages = keep_messages;
                h.provisioning_and_firmware_flow();
                assert_eq!(h.firmware_applies, 1);
                h.journal.len()
            })
        });
    }
    // Cores share nothing (no global state, no locks), so a process runs one per CPU side by
    // side: the same flow on every CPU at once, each thread with its own harness and cores.
    // Criterion's figure is flows per second for the whole machine.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    group.bench_function(format!("core_on_{threads}_threads"), |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(threads as u64);
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for t in 0..threads as u64 {
                    scope.spawn(move || {
                        for i in 0..per_thread {
                            let seed = t * 1_000_000_000 + i + 1;
                            let mut h = harness::Harness::new(harness::config(), seed);
                            h.keep_messages = false;
                            h.provisioning_and_firmware_flow();
                            assert_eq!(h.firmware_applies, 1);
                        }
                    });
                }
            });
            // Time per flow as criterion counts it: `iters` flows, rounded up to whole rounds.
            start
                .elapsed()
                .mul_f64(iters as f64 / (per_thread * threads as u64) as f64)
        })
    });
    group.finish();
}

criterion_group!(benches, flow);
criterion_main!(benches);
