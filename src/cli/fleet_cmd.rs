//! `fleet`: thousands of simulated devices against an ACS (cargo feature `fleet`; see
//! docs/fleet.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::fleet::{
    Downloads, FleetOptions, JournalKind, PowerCutPlan, RunPlan, Shard, default_template,
};

/// `tr069-client fleet` arguments.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Devices in the whole fleet (all shards together).
    #[arg(long)]
    pub count: u32,
    /// The ACS every device reports to.
    #[arg(long, value_name = "URL")]
    pub acs_url: String,
    /// Serial numbers are this prefix and the device index (zero-padded to 6 digits or more).
    #[arg(long, default_value = "FLT", value_name = "P")]
    pub serial_prefix: String,
    /// Run the I-th of M equal slices of the serial space (I from 0), e.g. one per machine.
    #[arg(long, value_name = "I/M", default_value = "0/1")]
    pub shard: Shard,
    /// Stop after this long (e.g. 10m); default: until Ctrl-C.
    #[arg(long, value_name = "D")]
    pub duration: Option<String>,
    /// Start every device at once, each with a new boot (default: random phases over the
    /// periodic interval).
    #[arg(long)]
    pub boot_storm: bool,
    /// Devices start at random phases over this span (default: the periodic interval).
    #[arg(long, value_name = "D")]
    pub start_spread: Option<String>,
    /// The neighbourhood power cut: at this time after the start…
    #[arg(long, value_name = "T")]
    pub power_cut_at: Option<String>,
    /// … this fraction of the devices (0 to 1) loses power …
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub power_cut_fraction: f64,
    /// … and gets it back, all at once, after this long.
    #[arg(long, value_name = "D", default_value = "10s")]
    pub power_off: String,
    /// Overrides the template's `[session] boot_inform_delay` ("MAX" or "MIN..MAX").
    #[arg(long, value_name = "RANGE")]
    pub boot_inform_delay: Option<String>,
    /// Overrides the template's periodic-inform-interval (e.g. 5m).
    #[arg(long, value_name = "D")]
    pub periodic_interval: Option<String>,
    /// Where the devices' journals live: one sled journal set on disk (default), or memory (pure
    /// load generation, nothing durable).
    #[arg(long, value_enum, default_value_t = JournalArg::Sled)]
    pub journal: JournalArg,
    /// Really fetch downloads from the ACS's file server, or simulate them.
    #[arg(long, value_enum, default_value_t = DownloadsArg::Fetch)]
    pub downloads: DownloadsArg,
    /// The fleet's one connection-request listener.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub cr_listen: SocketAddr,
    /// Serve the metrics in Prometheus text format at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Seed of every device's randomness (a run can be replayed).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds between progress lines on stderr.
    #[arg(long, value_name = "S", default_value_t = 5)]
    pub progress_every: u64,
    /// Write the Informs per second (the ACS's arrival curve) to this CSV file at the end.
    #[arg(long, value_name = "FILE")]
    pub arrivals_csv: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JournalArg {
    Sled,
    Memory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DownloadsArg {
    Fetch,
    Simulate,
}

fn duration(name: &str, text: &str) -> anyhow::Result<Duration> {
    crate::state::settings::parse_duration(text)
        .map(Duration::from_secs)
        .with_context(|| {
            format!("{name}: expected a duration such as 30s, 10m or 1h, not {text:?}")
        })
}

/// `template`: the configuration file (`--config`), or the built-in template when none was given.
pub(super) fn run(
    template: Option<Config>,
    data_dir: Option<PathBuf>,
    args: FleetArgs,
) -> anyhow::Result<()> {
    let mut template = template.unwrap_or_else(default_template);
    if let Some(range) = &args.boot_inform_delay {
        template.session.boot_inform_delay = crate::config::parse_delay_range(range)
            .with_context(|| {
                format!("--boot-inform-delay: expected \"MAX\" or \"MIN..MAX\" (each at most 1h), e.g. \"0s..60s\", not {range:?}")
            })?;
    }
    if let Some(p) = &args.periodic_interval {
        let secs = duration("--periodic-interval", p)?;
        template.factory_settings.insert(
            "periodic-inform-interval".into(),
            secs.as_secs().to_string(),
        );
    }
    if !(0.0..=1.0).contains(&args.power_cut_fraction) {
        anyhow::bail!(
            "--power-cut-fraction: expected a fraction from 0 to 1, not {}",
            args.power_cut_fraction
        );
    }
    let mut options = FleetOptions::new(
        args.count,
        args.acs_url,
        data_dir.unwrap_or_else(|| PathBuf::from("tr069-fleet")),
    );
    options.serial_prefix = args.serial_prefix;
    options.shard = args.shard;
    options.template = template;
    options.journal = match args.journal {
        JournalArg::Sled => JournalKind::Sled,
        JournalArg::Memory => JournalKind::Memory,
    };
    options.downloads = match args.downloads {
        DownloadsArg::Fetch => Downloads::Fetch,
        DownloadsArg::Simulate => Downloads::Simulate,
    };
    options.boot_storm = args.boot_storm;
    options.start_spread = args
        .start_spread
        .as_deref()
        .map(|s| duration("--start-spread", s))
        .transpose()?;
    options.cr_listen = args.cr_listen;
    options.metrics_listen = args.metrics_listen;
    options.seed = args.seed;
    let plan = RunPlan {
        duration: args
            .duration
            .as_deref()
            .map(|d| duration("--duration", d))
            .transpose()?,
        power_cut: match &args.power_cut_at {
            Some(at) => Some(PowerCutPlan {
                at: duration("--power-cut-at", at)?,
                fraction: args.power_cut_fraction,
                off_for: duration("--power-off", &args.power_off)?,
            }),
            None => None,
        },
        progress_every: Duration::from_secs(args.progress_every.max(1)),
        arrivals_csv: args.arrivals_csv,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(crate::fleet::run(options, plan))?;
    Ok(())
}
