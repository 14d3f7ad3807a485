//! Named crash points for the chaos tests, compiled in only with the `failpoints` feature.
//!
//! `TR069_CRASH_AT=name` (or `name@N`, the N-th time the point is reached; several separated by
//! commas) makes the process abort — no destructors, no flush, exactly like a SIGKILL — when it
//! reaches the point. `TR069_CRASH_LOG=path` appends every point reached to a file, so a test
//! can tell which points a flow passes through. Without the feature the macro expands to
//! nothing.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Mutex, OnceLock};

struct Plan {
    targets: Vec<(String, u64)>,
    log: Option<String>,
    hits: Mutex<HashMap<String, u64>>,
}

fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let targets = std::env::var("TR069_CRASH_AT")
            .unwrap_or_default()
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| match s.trim().split_once('@') {
                Some((name, n)) => (name.to_owned(), n.parse().unwrap_or(1)),
                None => (s.trim().to_owned(), 1),
            })
            .collect();
        Plan {
            targets,
            log: std::env::var("TR069_CRASH_LOG").ok(),
            hits: Mutex::new(HashMap::new()),
        }
    })
}

/// Reached a crash point: logs it, and aborts when the plan says so.
pub fn hit(name: &str) {
    let plan = plan();
    let count = {
        let mut hits = plan.hits.lock().unwrap_or_else(|e| e.into_inner());
        let c = hits.entry(name.to_owned()).or_insert(0);
        *c += 1;
        *c
    };
    if let Some(path) = &plan.log
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(f, "{name}");
    }
    if plan.targets.iter().any(|(n, at)| n == name && *at == count) {
        eprintln!("crash point {name} (hit {count}): aborting");
        std::process::abort();
    }
}
