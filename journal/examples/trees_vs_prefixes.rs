//! Why the journal set keeps its members under key prefixes of one sled tree rather than in a
//! tree each: N members × 30 records of 150 bytes, flushed after every round, both ways.
//! `cargo run --release -p journal --example trees_vs_prefixes -- 10000` (figures in
//! BENCHMARKS.md, "Fleet mode").
fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let per: u64 = 30;
    for mode in ["prefix", "trees"] {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path())
            .segment_size(512 << 10)
            .cache_capacity(64 << 20)
            .mode(sled::Mode::LowSpace)
            .flush_every_ms(None)
            .open()
            .unwrap();
        let t = std::time::Instant::now();
        let val = vec![7u8; 150];
        for round in 0..per {
            for i in 0..n {
                if mode == "trees" {
                    let tree = db.open_tree(format!("m{i}")).unwrap();
                    tree.insert(round.to_be_bytes(), val.clone()).unwrap();
                } else {
                    let mut k = i.to_be_bytes().to_vec();
                    k.extend_from_slice(&round.to_be_bytes());
                    db.insert(k, val.clone()).unwrap();
                }
            }
            db.flush().unwrap();
        }
        let el = t.elapsed();
        let mut size = 0;
        for e in walk(dir.path()) {
            size += e;
        }
        println!(
            "{mode}: n={n} records/member={per} {:?} disk={} KB",
            el,
            size / 1024
        );
    }
}
fn walk(p: &std::path::Path) -> Vec<u64> {
    let mut v = vec![];
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            v.extend(walk(&e.path()))
        } else {
            v.push(m.len())
        }
    }
    v
}
