//! How fast the per-device core runs a whole provisioning + firmware flow with no I/O: the
//! BOOTSTRAP session, a provisioning session (SetParameterValues, AddObject, SetParameterValues,
//! Download), the transfer's stages, the apply, the reboot and the session reporting the upgrade
//! — 30 journal records and 8 CWMP messages each way.
//!
//! Figures from one run: `core` is the core's own work (it decodes every ACS message and encodes
//! every message it sends; the fake ACS only reads which RPC came and replays its recorded
//! answer), `core_encoding_acs_answers` has the fake ACS encode a fresh envelope for every answer
//! instead (how `core` was measured before 2026-12-05), `core_and_checking_acs` adds the fake ACS
//! decoding and keeping every message the CPE sent, as the tests' harness does. `core_on_N_threads`
//! runs `core` on every CPU at once (N = the machine's CPUs), each thread with its own cores:
//! flows per second of the whole machine.
//!
//! A second group, `acs_messages`, reads the 8 messages the fake ACS sends in one flow (3
//! InformResponses, a TransferCompleteResponse, 2 SetParameterValues, an AddObject and a
//! Download, encoded as the harness encodes them) three ways: `decode` (`Envelope::decode`, what
//! the core does with each), `xml_tree` (only the XML tree under it, `cwmp::xml::parse`) and
//! `quick_xml_events` (quick-xml's reader alone: every event and every attribute of every start
//! tag, with no tree and nothing kept — the least any decoder built on quick-xml does). Their
//! ratios, from one run, say how much of decoding is the requested XML crate itself.
//!
//! `cargo bench --bench cpe_flow`

#[path = "../tests/support/cpe_harness.rs"]
mod harness;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quick_xml::events::Event;
use tr069_client::cwmp::rpc::Body;
use tr069_client::cwmp::rpc::inform::InformResponse;
use tr069_client::cwmp::rpc::transfer_complete::TransferCompleteResponse;
use tr069_client::cwmp::{Envelope, Limits};

fn flow(c: &mut Criterion) {
    let mut h = harness::Harness::new(harness::config(), 1);
    h.provisioning_and_firmware_flow();
    println!(
        "one flow: {} journal records, {} sessions",
        h.journal.len(),
        h.sessions.len()
    );
    // One configuration for every flow: building it is the test's setup, not the core's work.
    let config = std::sync::Arc::new(harness::config());
    // The ACS's answers, recorded once and replayed: in the field they come off the network,
    // and encoding the same envelopes again for every flow is the fake ACS's work, not the
    // core's. A replay checks that the CPE sends the same RPCs in the same order.
    let recording = harness::AcsRecording::of_provisioning_and_firmware_flow(config.clone(), 1);
    println!("one flow: {} answers from the ACS", recording.len());
    let mut group = c.benchmark_group("cpe");
    group.throughput(Throughput::Elements(1));
    for (name, keep_messages, replay) in [
        ("core", false, true),
        ("core_encoding_acs_answers", false, false),
        ("core_and_checking_acs", true, false),
    ] {
        let mut seed = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                seed += 1;
                let mut h = if replay {
                    harness::Harness::replaying(config.clone(), seed, recording.clone())
                } else {
                    harness::Harness::new(config.clone(), seed)
                };
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
                    let config = config.clone();
                    let recording = recording.clone();
                    scope.spawn(move || {
                        for i in 0..per_thread {
                            let seed = t * 1_000_000_000 + i + 1;
                            let mut h = harness::Harness::replaying(
                                config.clone(),
                                seed,
                                recording.clone(),
                            );
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

/// The envelopes the fake ACS sends in one `provisioning_and_firmware_flow`, in its order.
fn acs_messages_of_one_flow() -> Vec<Vec<u8>> {
    let [p1, p2, p3, download] = harness::provisioning_requests();
    let bodies: [Body; 8] = [
        InformResponse { max_envelopes: 1 }.into(),
        InformResponse { max_envelopes: 1 }.into(),
        p1,
        p2,
        p3,
        download,
        InformResponse { max_envelopes: 1 }.into(),
        TransferCompleteResponse.into(),
    ];
    (1..)
        .zip(bodies)
        .map(|(id, body)| harness::acs_envelope(id, body))
        .collect()
}

/// quick-xml's reader over a message with nothing built: every event, every attribute.
fn quick_xml_events(message: &[u8]) -> usize {
    let Ok(text) = std::str::from_utf8(message) else {
        return 0;
    };
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut seen = 0usize;
    loop {
        match reader.read_event() {
            Ok(Event::Eof) | Err(_) => return seen,
            Ok(Event::Start(tag) | Event::Empty(tag)) => {
                for attribute in tag.attributes().flatten() {
                    seen += black_box(attribute).value.len();
                }
            }
            Ok(event) => {
                black_box(event);
                seen += 1;
            }
        }
    }
}

fn acs_messages(c: &mut Criterion) {
    let messages = acs_messages_of_one_flow();
    for m in &messages {
        assert!(Envelope::decode(m, &Limits::default()).is_ok());
    }
    println!(
        "the ACS's messages of one flow: {} messages, {} bytes",
        messages.len(),
        messages.iter().map(Vec::len).sum::<usize>()
    );
    let mut group = c.benchmark_group("acs_messages");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            messages
                .iter()
                .filter(|m| Envelope::decode(black_box(m), &Limits::default()).is_ok())
                .count()
        })
    });
    group.bench_function("xml_tree", |b| {
        b.iter(|| {
            messages
                .iter()
                .filter(|m| {
                    tr069_client::cwmp::xml::parse(black_box(m), &Limits::default()).is_ok()
                })
                .count()
        })
    });
    group.bench_function("quick_xml_events", |b| {
        b.iter(|| {
            messages
                .iter()
                .map(|m| quick_xml_events(black_box(m)))
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, flow, acs_messages);
criterion_main!(benches);
