//! What the fleet counts: sessions started, completed and failed, sessions in flight, session
//! durations (a log-bucketed histogram giving p50/p99), Informs per second since the start (the
//! ACS's arrival curve), boots, power cuts, firmware applies. Rendered as the live progress line,
//! the final summary and the Prometheus text format (`--metrics-listen`).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets per doubling of the session-duration histogram: upper bounds are 2^(k/4) ms, so a
/// quantile read from it overstates by at most 19%.
const STEPS_PER_DOUBLING: u32 = 4;
/// 2^(80/4) ms ≈ 17 min: above any session limit.
const BUCKETS: usize = 81;

fn bucket_bound_ms(k: usize) -> f64 {
    2f64.powf(k as f64 / f64::from(STEPS_PER_DOUBLING))
}

fn bucket_of(ms: f64) -> usize {
    if ms <= 1.0 {
        return 0;
    }
    let k = (ms.log2() * f64::from(STEPS_PER_DOUBLING)).ceil() as usize;
    k.min(BUCKETS - 1)
}

/// The counts of a histogram at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramCounts(pub Vec<u64>);

impl HistogramCounts {
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The upper bound (ms) of the bucket holding quantile `q` (0..=1); `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (k, n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_bound_ms(k));
            }
        }
        Some(bucket_bound_ms(BUCKETS - 1))
    }

    /// The counts added since `earlier`.
    pub fn since(&self, earlier: &HistogramCounts) -> HistogramCounts {
        HistogramCounts(
            self.0
                .iter()
                .zip(earlier.0.iter().chain(std::iter::repeat(&0)))
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
        )
    }
}

/// The fleet's counters, shared by every device task.
#[derive(Debug)]
pub struct Metrics {
    started: Instant,
    pub devices: AtomicU64,
    pub devices_up: AtomicU64,
    pub boots: AtomicU64,
    pub sessions_started: AtomicU64,
    pub sessions_ok: AtomicU64,
    pub sessions_failed: AtomicU64,
    pub in_flight: AtomicU64,
    pub acs_posts: AtomicU64,
    pub transfers_completed: AtomicU64,
    pub firmware_applied: AtomicU64,
    pub reboots: AtomicU64,
    pub power_cuts: AtomicU64,
    pub connection_requests: AtomicU64,
    pub journal_appends: AtomicU64,
    pub errors: AtomicU64,
    durations: Vec<AtomicU64>,
    /// Informs sent per second since the start.
    arrivals: Mutex<Vec<u32>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            started: Instant::now(),
            devices: AtomicU64::new(0),
            devices_up: AtomicU64::new(0),
            boots: AtomicU64::new(0),
            sessions_started: AtomicU64::new(0),
            sessions_ok: AtomicU64::new(0),
            sessions_failed: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            acs_posts: AtomicU64::new(0),
            transfers_completed: AtomicU64::new(0),
            firmware_applied: AtomicU64::new(0),
            reboots: AtomicU64::new(0),
            power_cuts: AtomicU64::new(0),
            connection_requests: AtomicU64::new(0),
            journal_appends: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            durations: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            arrivals: Mutex::new(Vec::new()),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    pub fn session_started(&self) {
        Metrics::add(&self.sessions_started, 1);
        Metrics::add(&self.in_flight, 1);
    }

    /// A session ended after `took`.
    pub fn session_closed(&self, took: Duration) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        let k = bucket_of(took.as_secs_f64() * 1000.0);
        self.durations[k].fetch_add(1, Ordering::Relaxed);
    }

    /// A session that started was cut off (power cut, shutdown) before it ended.
    pub fn session_abandoned(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// An Inform left for the ACS now.
    pub fn inform_sent(&self) {
        let second = self.started.elapsed().as_secs() as usize;
        let mut a = self.arrivals.lock().unwrap_or_else(|p| p.into_inner());
        if a.len() <= second {
            a.resize(second + 1, 0);
        }
        a[second] += 1;
    }

    /// Informs per second, from the fleet's start.
    pub fn arrivals(&self) -> Vec<u32> {
        self.arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn durations(&self) -> HistogramCounts {
        HistogramCounts(
            self.durations
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
        )
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let counters: [(&str, &str, &AtomicU64); 13] = [
            ("fleet_boots_total", "device boots", &self.boots),
            (
                "fleet_sessions_started_total",
                "CWMP sessions started",
                &self.sessions_started,
            ),
            (
                "fleet_sessions_completed_total",
                "sessions that succeeded",
                &self.sessions_ok,
            ),
            (
                "fleet_sessions_failed_total",
                "sessions that failed",
                &self.sessions_failed,
            ),
            (
                "fleet_acs_posts_total",
                "HTTP POSTs to the ACS",
                &self.acs_posts,
            ),
            (
                "fleet_transfers_completed_total",
                "TransferCompletes acknowledged",
                &self.transfers_completed,
            ),
            (
                "fleet_firmware_applied_total",
                "firmware images applied",
                &self.firmware_applied,
            ),
            (
                "fleet_reboots_total",
                "reboots the ACS asked for",
                &self.reboots,
            ),
            (
                "fleet_power_cuts_total",
                "devices whose power was cut",
                &self.power_cuts,
            ),
            (
                "fleet_connection_requests_total",
                "connection requests accepted",
                &self.connection_requests,
            ),
            (
                "fleet_journal_appends_total",
                "durable journal appends",
                &self.journal_appends,
            ),
            (
                "fleet_errors_total",
                "device lives that ended in an error",
                &self.errors,
            ),
            (
                "fleet_informs_total",
                "Informs sent",
                &AtomicU64::new(self.arrivals().iter().map(|n| u64::from(*n)).sum()),
            ),
        ];
        for (name, help, c) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                Metrics::get(c)
            );
        }
        for (name, help, c) in [
            (
                "fleet_devices",
                "devices in this fleet (shard)",
                &self.devices,
            ),
            (
                "fleet_devices_up",
                "devices whose agent is running",
                &self.devices_up,
            ),
            (
                "fleet_sessions_in_flight",
                "sessions open now",
                &self.in_flight,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                Metrics::get(c)
            );
        }
        let name = "fleet_session_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} CWMP session duration\n# TYPE {name} histogram"
        );
        let counts = self.durations();
        let mut cumulative = 0;
        let mut sum_ms = 0.0;
        for (k, n) in counts.0.iter().enumerate() {
            cumulative += n;
            sum_ms += *n as f64 * bucket_bound_ms(k);
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{:.6}\"}} {cumulative}",
                bucket_bound_ms(k) / 1000.0
            );
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        // Bucket bounds stand in for the exact durations (within 19%).
        let _ = writeln!(
            out,
            "{name}_sum {:.3}\n{name}_count {cumulative}",
            sum_ms / 1000.0
        );
        out
    }
}

/// One progress line: what happened since the previous one.
#[derive(Debug, Clone)]
pub struct Progress {
    at: Instant,
    sessions: u64,
    failed: u64,
    durations: HistogramCounts,
}

impl Progress {
    pub fn start(m: &Metrics) -> Progress {
        Progress {
            at: Instant::now(),
            sessions: Metrics::get(&m.sessions_started),
            failed: Metrics::get(&m.sessions_failed),
            durations: m.durations(),
        }
    }

    /// The line for the interval since `self`, and the state to diff the next one against.
    pub fn line(&self, m: &Metrics) -> (String, Progress) {
        let now = Progress::start(m);
        let secs = now.at.duration_since(self.at).as_secs_f64().max(0.001);
        let window = now.durations.since(&self.durations);
        let ms = |q| {
            window
                .quantile_ms(q)
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.0}ms"))
        };
        let line = format!(
            "fleet +{:>5.0}s devices={}/{} sessions/s={:.1} in-flight={} failed={} p50={} p99={} boots={} fw-applied={} power-cuts={}",
            m.elapsed().as_secs_f64(),
            Metrics::get(&m.devices_up),
            Metrics::get(&m.devices),
            (now.sessions - self.sessions) as f64 / secs,
            Metrics::get(&m.in_flight),
            now.failed - self.failed,
            ms(0.5),
            ms(0.99),
            Metrics::get(&m.boots),
            Metrics::get(&m.firmware_applied),
            Metrics::get(&m.power_cuts),
        );
        (line, now)
    }
}

/// The final summary.
pub fn summary(m: &Metrics) -> String {
    let d = m.durations();
    let q = |q| {
        d.quantile_ms(q)
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"))
    };
    let secs = m.elapsed().as_secs_f64().max(0.001);
    let started = Metrics::get(&m.sessions_started);
    format!(
        "fleet summary: {} devices, {:.0} s, {} sessions ({:.1}/s): {} completed, {} failed; session time p50 {} p99 {} (whole run); {} Informs, {} POSTs; {} boots, {} power cuts, {} firmware applied, {} transfers acknowledged, {} connection requests, {} journal appends, {} device errors",
        Metrics::get(&m.devices),
        secs,
        started,
        started as f64 / secs,
        Metrics::get(&m.sessions_ok),
        Metrics::get(&m.sessions_failed),
        q(0.5),
        q(0.99),
        m.arrivals().iter().map(|n| u64::from(*n)).sum::<u64>(),
        Metrics::get(&m.acs_posts),
        Metrics::get(&m.boots),
        Metrics::get(&m.power_cuts),
        Metrics::get(&m.firmware_applied),
        Metrics::get(&m.transfers_completed),
        Metrics::get(&m.connection_requests),
        Metrics::get(&m.journal_appends),
        Metrics::get(&m.errors),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_log_buckets() {
        let m = Metrics::new();
        for ms in [3u64, 3, 3, 3, 3, 3, 3, 3, 3, 900] {
            m.in_flight.fetch_add(1, Ordering::Relaxed);
            m.session_closed(Duration::from_millis(ms));
        }
        let d = m.durations();
        assert_eq!(d.total(), 10);
        let p50 = d.quantile_ms(0.5).unwrap();
        assert!((3.0..3.6).contains(&p50), "{p50}");
        let p99 = d.quantile_ms(0.99).unwrap();
        assert!((900.0..1071.0).contains(&p99), "{p99}");
        let text = m.prometheus();
        assert!(
            text.contains("fleet_session_duration_seconds_count 10"),
            "{text}"
        );
        assert!(text.contains("fleet_sessions_in_flight 0"));
        let window = d.since(&HistogramCounts(vec![0; 3]));
        assert_eq!(window.total(), 10);
    }
}
