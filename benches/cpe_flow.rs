//! How fast the per-device core runs a whole provisioning + firmware flow with no I/O: the
//! BOOTSTRAP session, a provisioning session (SetParameterValues, AddObject, SetParameterValues,
//! Download), the transfer's stages, the apply, the reboot and the session reporting the upgrade
//! — about 60 journal records and 10 CWMP messages each way, every one encoded and decoded.
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
    let mut seed = 0;
    group.bench_function("provisioning_and_firmware_flow", |b| {
        b.iter(|| {
            seed += 1;
            let mut h = harness::Harness::new(harness::config(), seed);
            h.provisioning_and_firmware_flow();
            assert_eq!(h.firmware_applies, 1);
            h.journal.len()
        })
    });
    group.finish();
}

criterion_group!(benches, flow);
criterion_main!(benches);
