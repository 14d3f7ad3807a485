//! The `tr069-client` command line: the daemon (`run`), the operator's RouterOS-style menu
//! (`print`, `set`, `get`, `reset-tr069-config`, `inform-now`) and the post-mortem `journal …`
//! commands.
//!
//! Menu commands talk to a running daemon over its control socket; when nothing listens there they
//! open the data directory themselves (see [`crate::control`]). Exit codes: 0 success, 1 failure,
//! 2 bad input (an unknown setting, an invalid value, a usage error), and for `run` only
//! [`EXIT_REBOOT`] (3): the daemon stopped for a reboot.

mod args;
mod config_cmd;
#[cfg(feature = "fleet")]
mod fleet_cmd;
mod journal_cmd;
mod run;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::agent::RunEnd;
use crate::config::Config;
use crate::control::offline::OfflineError;
use crate::control::{
    ControlRequest, ControlResponse, OfflineBackend, handle, render_print, socket,
};

/// A TR-069 (CWMP) client agent for routers.
#[derive(Debug)]
pub struct Cli {
    /// Configuration file [default: /etc/tr069-client/config.toml; a missing default file means
    /// all defaults].
    pub config: Option<PathBuf>,
    /// Data directory (overrides `data_dir` in the config file; the control socket follows it
    /// unless the file sets `control_socket`).
    pub data_dir: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG (`level` and `target=level`, comma-separated) overrides.
    pub verbose: u8,
    pub command: Command,
}

#[derive(Debug)]
pub enum Command {
    /// Run the agent (the daemon).
    Run,
    /// Show the settings, the status and what the agent owes the ACS.
    Print {
        /// Machine-readable output (one JSON object).
        json: bool,
    },
    /// Change settings, all or nothing: `set enabled=yes acs-url=https://acs.example.com/`.
    Set { items: Vec<String> },
    /// Show one setting or read-only value (status, last-session-error, retry-count).
    Get { name: String },
    /// Forget the tr069-client configuration and state; a BOOTSTRAP is owed to the next ACS.
    ResetTr069Config,
    /// Ask the running daemon to start a session now.
    InformNow,
    /// Post-mortem views of the journal. They open the store read-write (sled needs it) but append
    /// nothing; they refuse while a daemon holds it — copy the data directory and use
    /// `--data-dir COPY`. A damaged store is repaired on open exactly as the daemon would.
    Journal(JournalCommand),
    /// Configuration file tools.
    Config(ConfigCommand),
    /// Simulate a fleet of devices against an ACS: N real agent cores in one process (see
    /// docs/fleet.md). `--config` is the devices' template.
    #[cfg(feature = "fleet")]
    Fleet(Box<fleet_cmd::FleetArgs>),
}

#[derive(Debug)]
pub enum ConfigCommand {
    /// Translate an OpenWrt UCI file (/etc/config/tr069-client) into the agent's TOML
    /// configuration on stdout, validated as the daemon would; errors name the UCI option and
    /// the accepted form (exit 2). The OpenWrt init script runs it before every start.
    FromUci { file: PathBuf },
}

#[derive(Debug)]
pub enum JournalCommand {
    /// One line per record: time, sequence number, boot id prefix, summary.
    Timeline,
    /// The state folded up to a record or a time (like `print --json`).
    State {
        /// A sequence number, or an RFC 3339 time such as 2026-01-01T03:00:00Z.
        at: Option<String>,
    },
    /// Every record as one JSON object per line, secrets masked.
    Export {
        /// JSON lines (the only format; accepted for symmetry with `print --json`).
        json: bool,
    },
    /// Re-check every record's checksum, decoding and sequence; exit 0 when clean.
    Verify,
    /// A post-mortem report: sessions, events, transfers, boots and crashes, settings changes
    /// and the journal's own history on one time axis, as a self-contained HTML page (hover a
    /// mark for its record, click it for the state at that record) and/or JSON lines.
    Report {
        /// Write the HTML page here (one file, no network access needed to open it).
        html: Option<PathBuf>,
        /// Write the timeline as JSON lines here (`-` for stdout).
        jsonl: Option<PathBuf>,
    },
}

/// Exit status of `run` when the daemon stopped because a reboot was due (a Reboot or
/// FactoryReset RPC, a firmware apply): the reboot hook ran, or none is configured and the
/// supervisor is expected to reboot the device. Distinct from 0 (stopped by SIGTERM/SIGINT) so
/// a supervisor can tell the two apart; the systemd unit (packaging/debian/) lists it in
/// `SuccessExitStatus=` and restarts the agent after it, which is what a failed reboot needs
/// (the agent counts the attempts against `hooks.reboot_attempts` by the unchanged boot id).
pub const EXIT_REBOOT: u8 = 3;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Self {
        Failure { code: 1, error }
    }
}

impl Failure {
    fn input(error: impl Into<anyhow::Error>) -> Failure {
        Failure {
            code: 2,
            error: error.into(),
        }
    }
}

/// The binary's entry point.
pub fn main() -> ExitCode {
    let cli = match args::parse(std::env::args_os().skip(1)) {
        Ok(args::Parsed::Cli(cli)) => cli,
        Ok(args::Parsed::Help(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(args::Parsed::Version) => {
            println!("tr069-client {}", env!("CARGO_PKG_VERSION"));
            // What this build carries: the features an operator may look for (Cargo.toml).
            let features: Vec<&str> = [
                (cfg!(feature = "xmpp"), "xmpp"),
                (cfg!(feature = "html-report"), "html-report"),
                (cfg!(feature = "fleet"), "fleet"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            if !features.is_empty() {
                println!("features: {}", features.join(" "));
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(cli.verbose, matches!(cli.command, Command::Run));
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            eprintln!("error: {:#}", f.error);
            ExitCode::from(f.code)
        }
    }
}

fn init_logging(verbose: u8, daemon: bool) {
    use tracing_subscriber::filter::Targets;
    let default = match (verbose, daemon) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    };
    // `RUST_LOG` takes `level` and `target=level` lists (`info,tr069_client::session=trace`).
    // Targets, not EnvFilter: EnvFilter's span and field directives bring a regex engine that
    // costs a router ~300 KB of flash (BENCHMARKS.md, "Footprint").
    let (filter, refused) = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => match spec.parse::<Targets>() {
            Ok(filter) => (filter, None),
            Err(e) => (default_targets(default), Some((spec, e))),
        },
        _ => (default_targets(default), None),
    };
    // `filter` decides; the builder's own level is only its most verbose directive. That level
    // is the hint `try_init` hands to the `log` bridge: at TRACE every `log::trace!` of sled's
    // page cache went through the dispatcher to be refused by `filter` (13 % of the instructions
    // of a start at the journal's size bound, BENCHMARKS.md "Footprint"); at the filter's own
    // level `log` refuses them with one comparison.
    let most_verbose =
        tracing_subscriber::Layer::<tracing_subscriber::Registry>::max_level_hint(&filter)
            .unwrap_or(tracing::level_filters::LevelFilter::TRACE);
    let builder = tracing_subscriber::fmt()
        .with_max_level(most_verbose)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    // Under systemd (JOURNAL_STREAM set) journald adds its own timestamps.
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().finish().with(filter).try_init()
    } else {
        builder.finish().with(filter).try_init()
    };
    if let Some((spec, e)) = refused {
        tracing::warn!(
            "RUST_LOG={spec:?} is not understood ({e}); expected `level` or `target=level` \
             separated by commas (levels: error, warn, info, debug, trace, off); using {default}"
        );
    }
}

fn default_targets(level: &str) -> tracing_subscriber::filter::Targets {
    let level = level
        .parse::<tracing::level_filters::LevelFilter>()
        .unwrap_or(tracing::level_filters::LevelFilter::INFO);
    tracing_subscriber::filter::Targets::new().with_default(level)
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let config = Config::load(cli.config.as_deref())?;
    Ok(match &cli.data_dir {
        Some(dir) => config.with_data_dir(dir),
        None => config,
    })
}

/// Runs the command; `Ok` carries the exit status (0, or [`EXIT_REBOOT`] from `run`).
fn dispatch(cli: Cli) -> Result<u8, Failure> {
    // Before any config is loaded: the TOML file it writes may not exist yet (the OpenWrt init
    // script generates it with this command) or may be the broken one being replaced.
    if let Command::Config(ConfigCommand::FromUci { file }) = &cli.command {
        return config_cmd::from_uci(file).map(|()| 0);
    }
    #[cfg(feature = "fleet")]
    if let Command::Fleet(args) = cli.command {
        let template = cli
            .config
            .as_deref()
            .map(|p| Config::load(Some(p)))
            .transpose()
            .map_err(anyhow::Error::from)?;
        return fleet_cmd::run(template, cli.data_dir, *args)
            .map(|()| 0)
            .map_err(Failure::from);
    }
    let config = load_config(&cli)?;
    let done: Result<(), Failure> = match cli.command {
        Command::Run => {
            return match run::run(config).map_err(Failure::from)? {
                RunEnd::Shutdown => Ok(0),
                RunEnd::Rebooting => Ok(EXIT_REBOOT),
            };
        }
        Command::Print { json } => {
            let view = match control(&config, ControlRequest::Print)? {
                ControlResponse::View { view } => view,
                other => return Err(unexpected(other)),
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&view).context("rendering JSON")?
                );
            } else {
                print!("{}", render_print(&view));
            }
            Ok(())
        }
        Command::Set { items } => {
            let mut pairs = Vec::with_capacity(items.len());
            for item in items {
                let Some((name, value)) = item.split_once('=') else {
                    return Err(Failure::input(anyhow::anyhow!(
                        "expected name=value, got {item:?} (e.g. set periodic-inform-interval=1h)"
                    )));
                };
                pairs.push((name.trim().to_owned(), value.to_owned()));
            }
            expect_ok(control(&config, ControlRequest::Set { items: pairs })?)
        }
        Command::Get { name } => match control(&config, ControlRequest::Get { name })? {
            ControlResponse::Value { value, .. } => {
                println!("{value}");
                Ok(())
            }
            other => Err(unexpected(other)),
        },
        Command::ResetTr069Config => expect_ok(control(&config, ControlRequest::ResetConfig)?),
        Command::InformNow => {
            // Only a running daemon can start a session; never open the journal for this.
            match socket::request(&config.control_socket, &ControlRequest::InformNow) {
                Ok(resp) => expect_ok(resp),
                Err(e) if socket::is_not_listening(&e) => Err(Failure::from(anyhow::anyhow!(
                    "no daemon is running (nothing listens on {}); the agent informs when it starts",
                    config.control_socket.display()
                ))),
                Err(e) => Err(Failure::from(anyhow::anyhow!(
                    "the daemon's control socket {} did not answer: {e}",
                    config.control_socket.display()
                ))),
            }
        }
        Command::Journal(cmd) => journal_cmd::run(&config, cmd),
        Command::Config(ConfigCommand::FromUci { .. }) => unreachable!("dispatched above"),
        #[cfg(feature = "fleet")]
        Command::Fleet(_) => unreachable!("dispatched above"),
    };
    done.map(|()| 0)
}

fn expect_ok(resp: ControlResponse) -> Result<(), Failure> {
    match resp {
        ControlResponse::Ok { message } => {
            if !message.is_empty() {
                println!("{message}");
            }
            Ok(())
        }
        other => Err(unexpected(other)),
    }
}

fn unexpected(resp: ControlResponse) -> Failure {
    match resp {
        ControlResponse::Error { kind, message } => Failure {
            code: kind.exit_code(),
            error: anyhow::anyhow!(message),
        },
        other => Failure::from(anyhow::anyhow!("unexpected answer: {other:?}")),
    }
}

/// Sends `req` to the daemon, or handles it against the journal when no daemon runs.
fn control(config: &Config, req: ControlRequest) -> Result<ControlResponse, Failure> {
    match socket::request(&config.control_socket, &req) {
        Ok(resp) => return Ok(resp),
        Err(e) if socket::is_not_listening(&e) => {
            tracing::debug!(socket = %config.control_socket.display(), "no daemon listens ({e}); opening the data directory");
        }
        Err(e) => {
            return Err(Failure::from(anyhow::anyhow!(
                "the daemon's control socket {} did not answer: {e}",
                config.control_socket.display()
            )));
        }
    }
    let boot_id = config.read_boot_id().unwrap_or_else(|e| {
        tracing::debug!("boot id unavailable ({e}); stamping CLI records with \"unknown\"");
        "unknown".to_owned()
    });
    let dir = config.journal_dir();
    let backend = OfflineBackend::new(
        &dir,
        config.journal_options(&boot_id),
        config.factory_settings.clone(),
    );
    let writes = matches!(
        req,
        ControlRequest::Set { .. } | ControlRequest::ResetConfig
    );
    backend.open_now(writes).map_err(|e| match e {
        OfflineError::Locked { .. } => anyhow::anyhow!(
            "{e}; nothing answered on the control socket {}. Stop the daemon, or check that its control_socket setting matches this CLI's configuration",
            config.control_socket.display()
        ),
        other => anyhow::Error::new(other),
    })?;
    // Reading the state can fail on a damaged record: report it rather than showing defaults.
    backend.try_state().context("reading the journal")?;
    let resp = handle(&backend, req);
    backend.close();
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::args;

    /// The hand-written man page (packaging/debian/tr069-client.8) names every command, so a new
    /// command cannot ship undocumented in the package.
    #[test]
    fn the_man_page_names_every_command() {
        let page = include_str!("../../packaging/debian/tr069-client.8");
        for name in args::top_level_commands() {
            if name == "fleet" {
                continue; // a test tool, not in a router's (or the package's) build
            }
            assert!(
                page.contains(&format!("\n.B {name}"))
                    || page.contains(&format!("\n.BR {name}"))
                    || page.contains(&format!("\n.BI {name}"))
                    || page.contains(&format!("\n.BI \"{name}")),
                "packaging/debian/tr069-client.8 does not document `{name}`"
            );
        }
    }

    /// The Debian package's conffile is a valid configuration as shipped.
    #[test]
    fn the_debian_conffile_loads() {
        let text = include_str!("../../packaging/debian/config.toml");
        let c = crate::config::Config::from_toml_str(
            text,
            std::path::Path::new("/etc/tr069-client/config.toml"),
        )
        .unwrap();
        assert_eq!(c.data_dir, std::path::Path::new("/var/lib/tr069-client"));
        assert_eq!(c.hooks.reboot.as_deref(), Some("systemctl reboot"));
    }
}
