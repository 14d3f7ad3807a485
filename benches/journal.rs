//! Journal benchmarks: durable append latency beside a raw `write + fdatasync` of the same size,
//! throughput with 1/4/16 concurrent appenders beside raw writers, open + replay of 10k and 100k
//! records, and (printed before criterion runs) bytes written per append from /proc/self/io and
//! the on-disk size against live data.
//!
//! Run: `cargo bench -p journal --bench journal`. Temporary stores go to $JOURNAL_BENCH_DIR
//! (default: the system temp dir) — it must be a real disk for fdatasync to mean anything.
//!
//! The journal names no record type, so the frames come from its tests' tiny schema; the typical
//! record's payload is the agent's encoding of a value-change event, byte for byte.

#[path = "../journal/tests/support/mod.rs"]
mod support;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use journal::{Frame, Journal, Options};

fn bench_root() -> tempfile::TempDir {
    match std::env::var_os("JOURNAL_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn opts() -> Options {
    // Large bound: these benches measure appends, not compaction.
    Options {
        max_live_bytes: 1 << 30,
        ..Options::with_boot_id("bench")
    }
}

fn open(dir: impl AsRef<Path>, o: Options) -> Journal {
    Journal::open(dir, o, support::schema()).unwrap().0
}

/// A typical small record: a value-change event (the agent's protobuf `EventRaised` with code
/// "4 VALUE CHANGE" and no command key).
fn record() -> Frame {
    support::event([&[0x0a, 0x10, 0x0a, 0x0e][..], b"4 VALUE CHANGE"].concat())
}

fn frame_len(j: &Journal, seq: u64) -> usize {
    let r = j.get(seq).unwrap().unwrap();
    // key + fixed header + boot id + payload + crc
    8 + 20 + r.boot_id.len() + r.payload.len()
}

fn raw_file(dir: &Path) -> File {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw"))
        .unwrap();
    File::open(dir).unwrap().sync_all().unwrap();
    f
}

fn append_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_latency");
    g.sample_size(30)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    let root = bench_root();
    let j = open(root.path().join("j"), opts());
    let size = frame_len(&j, j.append_blocking(vec![record()]).unwrap().last_seq);
    g.bench_function("journal_durable_append", |b| {
        b.iter(|| j.append_blocking(vec![record()]).unwrap())
    });
    drop(j);
    let j = open(
        root.path().join("lazy"),
        Options {
            lazy_high_water_mark: true,
            ..opts()
        },
    );
    g.bench_function("journal_durable_append_lazy_hwm", |b| {
        b.iter(|| j.append_blocking(vec![record()]).unwrap())
    });
    drop(j);
    let mut f = raw_file(root.path());
    let buf = vec![0x5au8; size];
    g.bench_function(format!("raw_write_fdatasync_{size}B"), |b| {
        b.iter(|| {
            f.write_all(&buf).unwrap();
            f.sync_data().unwrap();
        })
    });
    g.finish();
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("append_throughput");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements(1));
    let root = bench_root();
    let j = open(root.path().join("j"), opts());
    let size = frame_len(&j, j.append_blocking(vec![record()]).unwrap().last_seq);
    let j = Arc::new(j);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let raw = Arc::new(raw_file(root.path()));
    for n in [1u64, 4, 16] {
        g.bench_with_input(BenchmarkId::new("journal", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(n);
                let start = Instant::now();
                rt.block_on(async {
                    let tasks: Vec<_> = (0..n)
                        .map(|_| {
                            let j = j.clone();
                            tokio::spawn(async move {
                                for _ in 0..per {
                                    j.append(vec![record()]).await.unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                start.elapsed().mul_f64(iters as f64 / (per * n) as f64)
            })
        });
        g.bench_with_input(BenchmarkId::new("raw_write_fdatasync", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(n);
                let start = Instant::now();
                let threads: Vec<_> = (0..n)
                    .map(|_| {
                        let f = raw.clone();
                        std::thread::spawn(move || {
                            let buf = vec![0x5au8; size];
                            for _ in 0..per {
                                (&*f).write_all(&buf).unwrap();
                                f.sync_data().unwrap();
                            }
                        })
                    })
                    .collect();
                for t in threads {
                    t.join().unwrap();
                }
                start.elapsed().mul_f64(iters as f64 / (per * n) as f64)
            })
        });
    }
    g.finish();
}

fn build_store(dir: &Path, n: u64) {
    let j = open(dir, opts());
    let mut left = n;
    while left > 0 {
        let k = left.min(1000);
        j.append_blocking((0..k).map(|_| record()).collect())
            .unwrap();
        left -= k;
    }
}

fn open_replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("open_and_replay");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let root = bench_root();
    for n in [10_000u64, 100_000] {
        let dir: PathBuf = root.path().join(format!("s{n}"));
        build_store(&dir, n);
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::from_parameter(n), &dir, |b, dir| {
            b.iter(|| {
                let j = open(dir, opts());
                let snap = j.latest_snapshot().unwrap().map_or(0, |s| s.seq);
                // A stand-in fold: touch every record read back.
                let (folded, bytes) = j.iter_from(snap + 1).fold((0u64, 0usize), |(k, b), r| {
                    let r = r.unwrap();
                    (k + 1, b + r.payload.len() + usize::from(r.tag))
                });
                assert_eq!(folded, n);
                std::hint::black_box(bytes);
            })
        });
    }
    g.finish();
}

fn proc_io() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .map(|v| v.trim().parse::<u64>().unwrap_or(0))
            })
            .unwrap_or(0)
    };
    (field("write_bytes:"), field("wchar:"))
}

/// Bytes written per append (single-record appends, one at a time), beside raw, and sled's
/// on-disk size against live data after a long run with compaction at the default 1 MiB bound.
fn io_report() {
    const N: u64 = 2000;
    let root = bench_root();
    let fs = std::process::Command::new("df")
        .args(["-T"])
        .arg(root.path())
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    println!("io_report: bench dir {} on: {fs}", root.path().display());
    let measure = |name: &str, o: Options| {
        let j = open(root.path().join(name), o);
        j.append_blocking(vec![record()]).unwrap();
        let (wb0, wc0) = proc_io();
        for _ in 0..N {
            j.append_blocking(vec![record()]).unwrap();
        }
        let (wb1, wc1) = proc_io();
        println!(
            "io_report: {name}: write_bytes/append = {:.0} B, wchar/append = {:.0} B (frame {} B)",
            (wb1 - wb0) as f64 / N as f64,
            (wc1 - wc0) as f64 / N as f64,
            frame_len(&j, 1)
        );
    };
    measure("journal_default", opts());
    measure(
        "journal_lazy_hwm",
        Options {
            lazy_high_water_mark: true,
            ..opts()
        },
    );
    {
        let mut f = raw_file(root.path());
        let buf = vec![0x5au8; 60];
        let (wb0, wc0) = proc_io();
        for _ in 0..N {
            f.write_all(&buf).unwrap();
            f.sync_data().unwrap();
        }
        let (wb1, wc1) = proc_io();
        println!(
            "io_report: raw write+fdatasync 60 B: write_bytes/append = {:.0} B, wchar/append = {:.0} B",
            (wb1 - wb0) as f64 / N as f64,
            (wc1 - wc0) as f64 / N as f64
        );
    }
    // Size on disk against live data with the agent's defaults and snapshots on request.
    let j = open(root.path().join("bounded"), Options::with_boot_id("bench"));
    let (mut max_live, mut max_disk, mut snapshots) = (0, 0, 0);
    for i in 0..20_000u64 {
        let rec = Frame {
            tag: 8,
            payload: format!("Device.DeviceInfo.UpTime={i} xsd:unsignedInt").into_bytes(),
        };
        let ack = j.append_blocking(vec![rec]).unwrap();
        max_live = max_live.max(ack.live_bytes);
        if ack.needs_snapshot {
            j.append_snapshot_blocking(support::snapshot(""), ack.last_seq)
                .unwrap();
            snapshots += 1;
        }
        if i % 500 == 0 {
            max_disk = max_disk.max(j.disk_bytes().unwrap());
        }
    }
    println!(
        "io_report: 20000 appends at the 1 MiB default bound: {snapshots} snapshots, max live {} B, \
         final live {} B, max on-disk {} B, final on-disk {} B",
        max_live,
        j.live_bytes(),
        max_disk,
        j.disk_bytes().unwrap()
    );
}

criterion_group!(benches, append_latency, throughput, open_replay);

fn main() {
    // `cargo test --benches` runs this with --bench absent: only smoke-run criterion then.
    if std::env::args().any(|a| a == "--bench") {
        io_report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
