//! Fleet mode (`tr069-client fleet`, cargo feature `fleet`): thousands of simulated devices in
//! one process, each a full instance of the real per-device core ([`crate::cpe::Cpe`]) with its
//! own journal, settings, data-model values, owed events, transfers and retry state, talking real
//! CWMP over HTTP(S) to an ACS with its own identity, cookie and authentication — for load-testing
//! an ACS, and for the neighbourhood power cut (`--power-cut-at`).
//!
//! # Shape (see docs/fleet.md)
//!
//! * **One tokio runtime, one task per device** ([`device::run`]): each runs lives (boots) of a
//!   `Cpe` in a loop of the daemon's shape, reusing the daemon's edge (`agent::run::{append, send,
//!   InFlight}`, `agent::transfer_jobs`). Chosen over one driver multiplexing every core on a
//!   timer wheel by measurement (BENCHMARKS.md, "Fleet mode"): an idle device task costs a few KB
//!   next to its core's state, and tokio's own timer wheel already is the timer wheel.
//! * **One journal store**: a [`crate::records::RecordSet`] (one sled database, one member per
//!   device, one committer thread, one fdatasync per group commit) in `<data dir>/journal-set`;
//!   the device's own state (boot counter, running and installed firmware) is the member's
//!   sidecar. `--journal memory` keeps journals in memory for pure load generation.
//! * **One connection-request listener** ([`connection_request`]), each device at its own random
//!   path with its own Digest credentials.
//! * **Data model** from the template configuration (`--config`, or built-in defaults): the
//!   agent's registry over a [`host::SimulatedHost`] seeded by the device index; writable values
//!   live in each device's journal. Template setting values may contain `{serial}` and `{index}`.
//! * **Arrivals**: device `i` starts at a random phase in `[0, start spread)` (default: its
//!   periodic interval), so periodic Informs are spread as real devices' are; `--boot-storm`
//!   starts every device at once with a new boot.
//! * **Randomness** per device from [`crate::cpe::SeededEntropy`], seeded from `--seed`, the
//!   index and the boot: a run can be replayed.

pub mod connection_request;
pub mod device;
pub mod host;
pub mod log;
pub mod memory_journal;
pub mod metrics;
pub mod plot;
pub mod power;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::{Config, Device, Hooks, SoftwareVersion};
use crate::records::RecordSet;
use crate::state::AgentState;

use self::connection_request::{Listener, Registry};
pub use self::device::Downloads;
use self::device::{Ctx, Stores};
use self::host::mix;
use self::log::DeviceLog;
use self::memory_journal::MemoryJournal;
use self::metrics::Metrics;
use self::power::PowerState;

/// Where the devices' journals are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalKind {
    /// One sled journal set on disk, through the real group commit (the default).
    Sled,
    /// In memory: pure load generation, no durability.
    Memory,
}

/// `--shard I/M`: this process runs the I-th of M equal slices of the serial space (I from 0, as
/// a Kubernetes Indexed Job's `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The device indices of this shard of a fleet of `total`: a contiguous slice.
    pub fn range(&self, total: u32) -> std::ops::Range<u32> {
        let per = |i: u32| (u64::from(total) * u64::from(i) / u64::from(self.count)) as u32;
        per(self.index)..per(self.index + 1)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("expected I/M with 0 <= I < M, e.g. 0/4, not {s:?}");
        let (i, m) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = m.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Everything a fleet run is told.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Devices in the whole fleet (all shards).
    pub count: u32,
    pub acs_url: String,
    pub serial_prefix: String,
    pub shard: Shard,
    /// The template configuration (device identity, settings, session limits).
    pub template: Config,
    pub data_dir: PathBuf,
    pub journal: JournalKind,
    /// Devices start at a random phase in `[0, start_spread)`; `None`: the periodic interval.
    pub start_spread: Option<Duration>,
    /// Every device starts at once, with a new boot.
    pub boot_storm: bool,
    pub cr_listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub downloads: Downloads,
    pub seed: u64,
    /// Keep a [`DeviceLog`] per device (for invariant checks).
    pub record: bool,
}

impl FleetOptions {
    /// Defaults for `count` devices reporting to `acs_url`, data in `data_dir`.
    pub fn new(count: u32, acs_url: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        FleetOptions {
            count,
            acs_url: acs_url.into(),
            serial_prefix: "FLT".to_owned(),
            shard: Shard::WHOLE,
            template: default_template(),
            data_dir: data_dir.into(),
            journal: JournalKind::Sled,
            start_spread: None,
            boot_storm: false,
            cr_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            metrics_listen: None,
            downloads: Downloads::Fetch,
            seed: 1,
            record: false,
        }
    }
}

/// The built-in template: a 5-minute periodic inform, connection-request credentials per device
/// (`{serial}` / `cr-{serial}`), everything else the agent's defaults.
pub fn default_template() -> Config {
    let mut c = Config::default();
    c.device = Device {
        manufacturer: "tr069-client fleet".into(),
        oui: "00000C".into(),
        product_class: "FleetRouter".into(),
        serial_number: String::new(),
        model_name: "FleetRouter".into(),
        description: "simulated by tr069-client fleet".into(),
        hardware_version: "1".into(),
        software_version: SoftwareVersion::Fixed("1.0".into()),
    };
    for (k, v) in [
        ("periodic-inform-interval", "300"),
        ("connection-request-username", "{serial}"),
        ("connection-request-password", "cr-{serial}"),
    ] {
        c.factory_settings.insert(k.into(), v.into());
    }
    c
}

/// The template a fleet's devices are made from: the given one, reporting to the ACS, with the
/// simulated device's hooks (never run: see `device`) and no external providers.
fn prepare_template(options: &FleetOptions) -> anyhow::Result<Config> {
    let mut c = options.template.clone();
    if !c.datamodel.external.is_empty() {
        bail!(
            "the template configures external providers ([[datamodel.external]]): a fleet would run them for every device; remove them"
        );
    }
    if let SoftwareVersion::File(p) = &c.device.software_version {
        let v = c
            .device
            .current_software_version()
            .with_context(|| format!("reading the software version from {}", p.display()))?;
        c.device.software_version = SoftwareVersion::Fixed(v);
    }
    c.factory_settings
        .insert("acs-url".into(), options.acs_url.clone());
    c.factory_settings.insert("enabled".into(), "true".into());
    c.hooks = Hooks {
        // The core accepts firmware only when an apply hook exists; the fleet's device applies
        // it itself and never runs this.
        firmware_apply: Some("(fleet: simulated apply) {file}".into()),
        reboot: Some("(fleet: simulated reboot)".into()),
        reboot_attempts: c.hooks.reboot_attempts,
        ..Hooks::default()
    };
    Ok(c)
}

/// A running fleet.
pub struct Fleet {
    ctx: Arc<Ctx>,
    power: watch::Sender<PowerState>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    listener: Option<Listener>,
    metrics_server: Option<tokio::task::JoinHandle<()>>,
    range: std::ops::Range<u32>,
    data_dir: PathBuf,
}

/// What a fleet run leaves behind.
#[derive(Debug)]
pub struct FleetReport {
    pub summary: String,
    pub metrics: Arc<Metrics>,
    /// Per device (by index), when recorded.
    pub logs: Option<Vec<(u32, DeviceLog)>>,
}

impl Fleet {
    /// Opens the journals and starts every device of this shard (each at its arrival phase).
    pub async fn start(options: FleetOptions) -> anyhow::Result<Fleet> {
        if options.count == 0 {
            bail!("--count must be at least 1");
        }
        let template = prepare_template(&options)?;
        let range = options.shard.range(options.count);
        std::fs::create_dir_all(&options.data_dir)
            .with_context(|| format!("creating {}", options.data_dir.display()))?;
        let stores = match options.journal {
            JournalKind::Sled => {
                let dir = options.data_dir.join("journal-set");
                let (set, report) = tokio::task::spawn_blocking(move || {
                    RecordSet::open(&dir, journal::SetOptions::default())
                        .with_context(|| format!("opening the journal set in {}", dir.display()))
                })
                .await
                .context("opening the journal set")??;
                if let Some((found, acked)) = report.rolled_back {
                    tracing::error!(
                        found,
                        acknowledged = acked,
                        "the journal set lost acknowledged commits; every device's journal says so"
                    );
                }
                Stores::Set(Arc::new(set))
            }
            JournalKind::Memory => Stores::Memory(
                range
                    .clone()
                    .map(|_| Arc::new(MemoryJournal::default()))
                    .collect(),
            ),
        };
        let registry = Arc::new(Registry::new(template.connection_request.limits.clone()));
        let listener = Listener::bind(options.cr_listen, registry.clone())
            .await
            .with_context(|| {
                format!("listening for connection requests on {}", options.cr_listen)
            })?;
        let cr_advertised = if listener.local_addr.ip().is_unspecified() {
            crate::agent::run::local_address_toward(&options.acs_url)
                .await
                .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
        } else {
            listener.local_addr.ip()
        };
        let metrics = Arc::new(Metrics::new());
        Metrics::add(&metrics.devices, u64::from(range.end - range.start));
        let metrics_server = match options.metrics_listen {
            Some(addr) => Some(serve_metrics(addr, metrics.clone()).await?),
            None => None,
        };
        let (power, power_rx) = watch::channel(PowerState::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let width = options.count.saturating_sub(1).to_string().len().max(6);
        let ctx = Arc::new(Ctx {
            first_index: range.start,
            serial_prefix: options.serial_prefix.clone(),
            serial_width: width,
            template: Arc::new(template),
            stores,
            registry,
            cr_port: listener.local_addr.port(),
            cr_advertised,
            metrics,
            power: power_rx,
            shutdown: shutdown_rx,
            downloads: options.downloads,
            seed: options.seed,
            data_dir: options.data_dir.clone(),
            open_permits: Semaphore::new(8),
            logs: options.record.then(|| {
                range
                    .clone()
                    .map(|_| Mutex::new(DeviceLog::default()))
                    .collect()
            }),
        });
        let spread = options.start_spread.unwrap_or_else(|| {
            let probe = crate::state::settings::Settings::new(
                Default::default(),
                ctx.template.factory_settings.clone(),
            );
            Duration::from_secs(probe.periodic_inform_interval().max(1))
        });
        let mut tasks = JoinSet::new();
        for index in range.clone() {
            let after = if options.boot_storm || spread.is_zero() {
                Duration::ZERO
            } else {
                let ms = u64::try_from(spread.as_millis()).unwrap_or(u64::MAX).max(1);
                Duration::from_millis(mix(options.seed ^ mix(u64::from(index) + 1)) % ms)
            };
            tasks.spawn(device::run(ctx.clone(), index, after, options.boot_storm));
        }
        Ok(Fleet {
            ctx,
            power,
            shutdown,
            tasks,
            listener: Some(listener),
            metrics_server,
            range,
            data_dir: options.data_dir,
        })
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.ctx.metrics
    }

    /// The connection-request listener's address.
    pub fn connection_request_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ctx.cr_advertised, self.ctx.cr_port)
    }

    /// The device indices this process runs.
    pub fn indices(&self) -> std::ops::Range<u32> {
        self.range.clone()
    }

    /// A device's serial number.
    pub fn serial(&self, index: u32) -> String {
        self.ctx.serial(index)
    }

    /// The neighbourhood power cut: `fraction` of this shard's devices (chosen by `seed`) lose
    /// power now — their cores stop mid-whatever and their journals keep what group commits
    /// acknowledged — and boot together after `off_for`. Returns the victims.
    pub fn cut_power(&self, fraction: f64, seed: u64, off_for: Duration) -> Vec<u32> {
        let victims = power::victims(self.range.clone(), fraction, seed);
        let mut list: Vec<u32> = victims.iter().copied().collect();
        list.sort_unstable();
        self.power.send_replace(PowerState {
            victims: Arc::new(victims),
            back_at: tokio::time::Instant::now() + off_for,
        });
        list
    }

    /// A device's log so far (when recording).
    pub fn device_log(&self, index: u32) -> Option<DeviceLog> {
        let logs = self.ctx.logs.as_ref()?;
        let l = logs.get(index.checked_sub(self.range.start)? as usize)?;
        Some(l.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Stops every device (their journals keep what they acknowledged), the listener and the
    /// journal set.
    pub async fn shutdown(mut self) -> FleetReport {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        if let Some(l) = self.listener.take() {
            l.shutdown().await;
        }
        if let Some(s) = self.metrics_server.take() {
            s.abort();
        }
        let summary = metrics::summary(&self.ctx.metrics);
        let logs = self.ctx.logs.as_ref().map(|logs| {
            self.range
                .clone()
                .zip(logs.iter())
                .map(|(i, l)| (i, l.lock().unwrap_or_else(|p| p.into_inner()).clone()))
                .collect()
        });
        let metrics = self.ctx.metrics.clone();
        let ctx = self.ctx;
        // The set closes (its committer stops) once the last device task let go of it.
        if let Ok(ctx) = Arc::try_unwrap(ctx)
            && let Stores::Set(set) = ctx.stores
            && let Ok(set) = Arc::try_unwrap(set)
        {
            let _ = tokio::task::spawn_blocking(move || set.close()).await;
        }
        FleetReport {
            summary,
            metrics,
            logs,
        }
    }

    /// The fleet's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// A device's folded state, read from a stopped fleet's journal set.
pub fn read_device_state(data_dir: &Path, index: u32) -> anyhow::Result<AgentState> {
    let (set, _) = RecordSet::open(data_dir.join("journal-set"), journal::SetOptions::default())
        .context("opening the journal set")?;
    let (member, _) = set.open_member(index, "inspect")?;
    let state = device::fold(&member)?;
    drop(member);
    set.close();
    Ok(state)
}

/// Every device's folded state and journal check, read from a stopped fleet's journal set.
pub fn read_device_states(
    data_dir: &Path,
    indices: std::ops::Range<u32>,
) -> anyhow::Result<Vec<(u32, AgentState, journal::Result<u64>)>> {
    let (set, _) = RecordSet::open(data_dir.join("journal-set"), journal::SetOptions::default())
        .context("opening the journal set")?;
    let mut out = Vec::new();
    for index in indices {
        let (member, _) = set.open_member(index, "inspect")?;
        let state = device::fold(&member)?;
        out.push((index, state, member.verify()));
    }
    set.close();
    Ok(out)
}

/// Serves `GET /metrics` (Prometheus text format) until aborted.
async fn serve_metrics(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use http_body_util::Full;
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening for metrics on {addr}"))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (status, body) = if req.uri().path() == "/metrics" {
                        (200, metrics.prometheus())
                    } else {
                        (404, "see /metrics\n".to_owned())
                    };
                    async move {
                        let mut resp = http::Response::new(Full::new(bytes::Bytes::from(body)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
                        resp.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("text/plain; version=0.0.4"),
                        );
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    }))
}

/// The power cut a command-line run schedules.
#[derive(Debug, Clone, Copy)]
pub struct PowerCutPlan {
    pub at: Duration,
    pub fraction: f64,
    pub off_for: Duration,
}

/// How a command-line run goes, beyond the fleet itself.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub duration: Option<Duration>,
    pub power_cut: Option<PowerCutPlan>,
    pub progress_every: Duration,
    /// Write the Informs-per-second curve here (CSV: second,informs).
    pub arrivals_csv: Option<PathBuf>,
}

/// `tr069-client fleet`: runs until `--duration` or Ctrl-C, with live progress on stderr and a
/// final summary.
pub async fn run(options: FleetOptions, plan: RunPlan) -> anyhow::Result<FleetReport> {
    let seed = options.seed;
    let fleet = Fleet::start(options).await?;
    let m = fleet.metrics().clone();
    eprintln!(
        "fleet: {} devices ({}..{}), connection requests on {}",
        fleet.indices().len(),
        fleet.indices().start,
        fleet.indices().end,
        fleet.connection_request_addr()
    );
    let started = tokio::time::Instant::now();
    let mut progress = metrics::Progress::start(&m);
    let mut tick = tokio::time::interval_at(started + plan.progress_every, plan.progress_every);
    let end = plan.duration.map(|d| started + d);
    let mut cut = plan.power_cut;
    let mut all_up_reported = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let cut_at = cut.map(|c| started + c.at);
        tokio::select! {
            _ = &mut ctrl_c => break,
            () = async { match end { Some(e) => tokio::time::sleep_until(e).await, None => std::future::pending().await } } => break,
            () = async { match cut_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                if let Some(c) = cut.take() {
                    let victims = fleet.cut_power(c.fraction, seed, c.off_for);
                    eprintln!(
                        "fleet: power cut: {} devices lose power, back in {:?}",
                        victims.len(),
                        c.off_for
                    );
                }
            }
            _ = tick.tick() => {
                let (line, next) = progress.line(&m);
                progress = next;
                eprintln!("{line}");
                let up = Metrics::get(&m.devices_up);
                if !all_up_reported && up == Metrics::get(&m.devices) {
                    all_up_reported = true;
                    eprintln!("fleet: all {up} devices up after {:.1} s", started.elapsed().as_secs_f64());
                }
            }
        }
    }
    let report = fleet.shutdown().await;
    eprintln!("{}", report.summary);
    if let Some(path) = &plan.arrivals_csv {
        let mut csv = String::from("second,informs\n");
        for (s, n) in report.metrics.arrivals().iter().enumerate() {
            csv.push_str(&format!("{s},{n}\n"));
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_the_serial_space_without_gaps() {
        let total = 10_001;
        let mut next = 0;
        for i in 0..7 {
            let r = Shard { index: i, count: 7 }.range(total);
            assert_eq!(r.start, next);
            next = r.end;
        }
        assert_eq!(next, total);
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["4/4", "1", "a/b", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
