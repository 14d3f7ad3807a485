//! The command line, read by hand on `lexopt`: clap's builder and the code its derive generated
//! were ≈ 0.2 MB of a router's flash for ten commands and six options (BENCHMARKS.md
//! "Footprint", fourth pass). The words, options, help texts and exit codes are clap's as they
//! were: usage errors exit 2 with `error: …` and the usage line on stderr, `--help` and
//! `help COMMAND` print to stdout.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;

use lexopt::Arg::{Long, Short, Value};

use super::{Cli, Command, ConfigCommand, JournalCommand};

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    Cli(Cli),
    /// `--help`, `-h` or `help …`: the text to print on stdout.
    Help(String),
    /// `--version` / `-V`.
    Version,
}

/// A command line that cannot be run: the message and the usage line of the command it was
/// meant for (exit status 2).
#[derive(Debug)]
pub struct UsageError {
    message: String,
    /// Empty when `message` is a whole page already (clap's, for `fleet`).
    usage: String,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.usage.is_empty() {
            return f.write_str(self.message.trim_end());
        }
        write!(
            f,
            "{}\n\nUsage: {}\n\nFor more information, try '--help'.",
            self.message, self.usage
        )
    }
}

impl std::error::Error for UsageError {}

/// One command of the menu: its words, argument synopsis, one-line help, own options.
struct Entry {
    words: &'static [&'static str],
    synopsis: &'static str,
    about: &'static str,
    options: &'static [(&'static str, &'static str)],
}

const ABOUT: &str = "A TR-069 (CWMP) client agent for routers, built on a durable journal";

const GLOBAL_OPTIONS: &[(&str, &str)] = &[
    (
        "    --config <PATH>",
        "Configuration file [default: /etc/tr069-client/config.toml; a missing default file means all defaults]",
    ),
    (
        "    --data-dir <DIR>",
        "Data directory (overrides `data_dir` in the config file; the control socket follows it unless the file sets `control_socket`)",
    ),
    (
        "-v, --verbose...",
        "More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG (`level` and `target=level`, comma-separated) overrides",
    ),
    ("-h, --help", "Print help"),
];

/// Every command, parents before their subcommands; the man page test reads the top level.
const ENTRIES: &[Entry] = &[
    Entry {
        words: &["run"],
        synopsis: "",
        about: "Run the agent (the daemon)",
        options: &[],
    },
    Entry {
        words: &["print"],
        synopsis: "",
        about: "Show the settings, the status and what the agent owes the ACS",
        options: &[("    --json", "Machine-readable output (one JSON object)")],
    },
    Entry {
        words: &["set"],
        synopsis: " <NAME=VALUE>...",
        about: "Change settings, all or nothing: `set enabled=yes acs-url=https://acs.example.com/`",
        options: &[],
    },
    Entry {
        words: &["get"],
        synopsis: " <NAME>",
        about: "Show one setting or read-only value (status, last-session-error, retry-count)",
        options: &[],
    },
    Entry {
        words: &["reset-tr069-config"],
        synopsis: "",
        about: "Forget the tr069-client configuration and state; a BOOTSTRAP is owed to the next ACS",
        options: &[],
    },
    Entry {
        words: &["inform-now"],
        synopsis: "",
        about: "Ask the running daemon to start a session now",
        options: &[],
    },
    Entry {
        words: &["journal"],
        synopsis: " <COMMAND>",
        about: "Post-mortem views of the journal. They open the store read-write (sled needs it) but append nothing; they refuse while a daemon holds it — copy the data directory and use `--data-dir COPY`. A damaged store is repaired on open exactly as the daemon would",
        options: &[],
    },
    Entry {
        words: &["config"],
        synopsis: " <COMMAND>",
        about: "Configuration file tools",
        options: &[],
    },
    #[cfg(feature = "fleet")]
    Entry {
        words: &["fleet"],
        synopsis: " --count <COUNT> --acs-url <URL> [FLEET OPTIONS]",
        about: "Simulate a fleet of devices against an ACS: N real agent cores in one process (see docs/fleet.md). `--config` is the devices' template; `fleet --help` lists its options",
        options: &[],
    },
    Entry {
        words: &["journal", "timeline"],
        synopsis: "",
        about: "One line per record: time, sequence number, boot id prefix, summary",
        options: &[],
    },
    Entry {
        words: &["journal", "state"],
        synopsis: "",
        about: "The state folded up to a record or a time (like `print --json`)",
        options: &[(
            "    --at <SEQ|TIME>",
            "A sequence number, or an RFC 3339 time such as 2026-01-01T03:00:00Z",
        )],
    },
    Entry {
        words: &["journal", "export"],
        synopsis: "",
        about: "Every record as one JSON object per line, secrets masked",
        options: &[(
            "    --json",
            "JSON lines (the only format; accepted for symmetry with `print --json`)",
        )],
    },
    Entry {
        words: &["journal", "verify"],
        synopsis: "",
        about: "Re-check every record's checksum, decoding and sequence; exit 0 when clean",
        options: &[],
    },
    Entry {
        words: &["journal", "report"],
        synopsis: "",
        about: "A post-mortem report: sessions, events, transfers, boots and crashes, settings changes and the journal's own history on one time axis, as a self-contained HTML page (hover a mark for its record, click it for the state at that record) and/or JSON lines",
        options: &[
            (
                "    --html <FILE>",
                "Write the HTML page here (one file, no network access needed to open it; builds with the html-report feature)",
            ),
            (
                "    --jsonl <FILE>",
                "Write the timeline as JSON lines here (`-` for stdout)",
            ),
        ],
    },
    Entry {
        words: &["config", "from-uci"],
        synopsis: " <FILE>",
        about: "Translate an OpenWrt UCI file (/etc/config/tr069-client) into the agent's TOML configuration on stdout, validated as the daemon would; errors name the UCI option and the accepted form (exit 2). The OpenWrt init script runs it before every start",
        options: &[],
    },
];

/// The top-level command words, for the man page test.
#[cfg(test)]
pub fn top_level_commands() -> impl Iterator<Item = &'static str> {
    ENTRIES
        .iter()
        .filter(|e| e.words.len() == 1)
        .map(|e| e.words[0])
}

fn usage_of(words: &[&str]) -> String {
    let mut usage = String::from("tr069-client");
    for w in words {
        usage.push(' ');
        usage.push_str(w);
    }
    usage.push_str(" [OPTIONS]");
    match ENTRIES.iter().find(|e| e.words == words) {
        Some(e) => usage.push_str(e.synopsis),
        None => usage.push_str(" <COMMAND>"),
    }
    usage
}

fn columns(out: &mut String, rows: &[(&str, &str)]) {
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (left, right) in rows {
        let _ = writeln!(out, "  {left:width$}  {right}");
    }
}

/// The help page of `words` (empty: the whole program), as clap laid it out.
fn help_of(words: &[&str]) -> String {
    let mut out = String::new();
    let entry = ENTRIES.iter().find(|e| e.words == words);
    let _ = writeln!(out, "{}\n", entry.map_or(ABOUT, |e| e.about));
    let _ = writeln!(out, "Usage: {}", usage_of(words));
    let subcommands: Vec<(&str, &str)> = ENTRIES
        .iter()
        .filter(|e| e.words.len() == words.len() + 1 && e.words.starts_with(words))
        .map(|e| (e.words[words.len()], e.about))
        .chain(std::iter::once((
            "help",
            "Print this message or the help of the given subcommand(s)",
        )))
        .collect();
    if subcommands.len() > 1 {
        out.push_str("\nCommands:\n");
        columns(&mut out, &subcommands);
    }
    out.push_str("\nOptions:\n");
    let mut options: Vec<(&str, &str)> = entry.map_or(&[][..], |e| e.options).to_vec();
    options.extend_from_slice(GLOBAL_OPTIONS);
    if words.is_empty() {
        options.push(("-V, --version", "Print version"));
    }
    columns(&mut out, &options);
    out
}

fn error(words: &[&str], message: String) -> UsageError {
    UsageError {
        message,
        usage: usage_of(words),
    }
}

/// A usage error while reading the words so far (its usage line is theirs).
fn error_after(words: &[String], message: String) -> UsageError {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    error(&words, message)
}

/// A command's own option, remembered until the command is known.
#[derive(Debug)]
enum Own {
    Json,
    At(String),
    Html(PathBuf),
    Jsonl(PathBuf),
}

impl Own {
    fn flag(&self) -> &'static str {
        match self {
            Own::Json => "--json",
            Own::At(_) => "--at",
            Own::Html(_) => "--html",
            Own::Jsonl(_) => "--jsonl",
        }
    }
}

/// Reads the arguments after the program name.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Parsed, UsageError> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut config = None;
    let mut data_dir = None;
    let mut verbose: u8 = 0;
    let mut help = false;
    let mut words: Vec<String> = Vec::new();
    let mut own: Vec<Own> = Vec::new();
    loop {
        let arg = match parser.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => return Err(error_after(&words, e.to_string())),
        };
        let value = |parser: &mut lexopt::Parser, words: &[String]| {
            parser
                .value()
                .map_err(|e| error_after(words, e.to_string()))
        };
        match arg {
            Long("config") => config = Some(PathBuf::from(value(&mut parser, &words)?)),
            Long("data-dir") => data_dir = Some(PathBuf::from(value(&mut parser, &words)?)),
            Short('v') | Long("verbose") => verbose = verbose.saturating_add(1),
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") if words.is_empty() => return Ok(Parsed::Version),
            Long("json") => own.push(Own::Json),
            Long("at") => {
                let at = value(&mut parser, &words)?
                    .into_string()
                    .map_err(|v| error_after(&words, format!("invalid UTF-8 in --at {v:?}")))?;
                own.push(Own::At(at));
            }
            Long("html") => own.push(Own::Html(value(&mut parser, &words)?.into())),
            Long("jsonl") => own.push(Own::Jsonl(value(&mut parser, &words)?.into())),
            Value(word) => {
                #[cfg(feature = "fleet")]
                if words.is_empty() && word == "fleet" && !help {
                    let rest: Vec<OsString> = parser
                        .raw_args()
                        .map_err(|e| error_after(&words, e.to_string()))?
                        .collect();
                    return fleet(config, data_dir, verbose, rest);
                }
                let word = word
                    .into_string()
                    .map_err(|w| error_after(&words, format!("invalid UTF-8 in argument {w:?}")))?;
                words.push(word);
            }
            other => {
                return Err(error_after(
                    &words,
                    format!("unexpected argument '{}' found", describe(&other)),
                ));
            }
        }
    }
    if help || words.first().is_some_and(|w| w == "help") {
        let asked: Vec<&str> = words
            .iter()
            .map(String::as_str)
            .filter(|w| *w != "help")
            .collect();
        // The longest known command the words start with (`set a=b --help` is set's help).
        let known = (0..=asked.len().min(2))
            .rev()
            .find(|n| *n == 0 || ENTRIES.iter().any(|e| e.words == &asked[..*n]))
            .unwrap_or(0);
        return Ok(Parsed::Help(help_of(&asked[..known])));
    }
    let command = command(&words, own)?;
    Ok(Parsed::Cli(Cli {
        config,
        data_dir,
        verbose,
        command,
    }))
}

fn describe(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        Short(c) => format!("-{c}"),
        Long(l) => format!("--{l}"),
        Value(v) => v.to_string_lossy().into_owned(),
    }
}

/// The command the words name, with the options it takes; anything else is a usage error.
fn command(words: &[String], own: Vec<Own>) -> Result<Command, UsageError> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let Some(first) = w.first() else {
        return Err(error(&[], "a command is required".into()));
    };
    let (path, rest): (&[&str], &[&str]) = match *first {
        "journal" | "config" => {
            let Some(second) = w.get(1) else {
                return Err(error(&w[..1], format!("'{first}' needs a command")));
            };
            if !ENTRIES.iter().any(|e| e.words == [*first, *second]) {
                return Err(error(
                    &w[..1],
                    format!("unrecognized subcommand '{second}'"),
                ));
            }
            (&w[..2], &w[2..])
        }
        _ if ENTRIES.iter().any(|e| e.words == [*first]) => (&w[..1], &w[1..]),
        _ => return Err(error(&[], format!("unrecognized subcommand '{first}'"))),
    };
    let positional = |expected: usize, name: &str| -> Result<(), UsageError> {
        if rest.len() > expected {
            return Err(error(
                path,
                format!("unexpected argument '{}' found", rest[expected]),
            ));
        }
        if rest.len() < expected {
            return Err(error(
                path,
                format!("the following required arguments were not provided:\n  {name}"),
            ));
        }
        Ok(())
    };
    let mut json = false;
    let mut at = None;
    let mut html = None;
    let mut jsonl = None;
    for option in own {
        let allowed = match (&option, path) {
            (Own::Json, ["print"] | ["journal", "export"]) => {
                json = true;
                true
            }
            (Own::At(v), ["journal", "state"]) => {
                at = Some(v.clone());
                true
            }
            (Own::Html(p), ["journal", "report"]) => {
                html = Some(p.clone());
                true
            }
            (Own::Jsonl(p), ["journal", "report"]) => {
                jsonl = Some(p.clone());
                true
            }
            _ => false,
        };
        if !allowed {
            return Err(error(
                path,
                format!("unexpected argument '{}' found", option.flag()),
            ));
        }
    }
    Ok(match path {
        ["run"] => {
            positional(0, "")?;
            Command::Run
        }
        ["print"] => {
            positional(0, "")?;
            Command::Print { json }
        }
        ["set"] => {
            if rest.is_empty() {
                return Err(error(
                    path,
                    "the following required arguments were not provided:\n  <NAME=VALUE>...".into(),
                ));
            }
            Command::Set {
                items: rest.iter().map(|s| (*s).to_owned()).collect(),
            }
        }
        ["get"] => {
            positional(1, "<NAME>")?;
            Command::Get {
                name: rest[0].to_owned(),
            }
        }
        ["reset-tr069-config"] => {
            positional(0, "")?;
            Command::ResetTr069Config
        }
        ["inform-now"] => {
            positional(0, "")?;
            Command::InformNow
        }
        ["journal", sub] => {
            positional(0, "")?;
            Command::Journal(match *sub {
                "timeline" => JournalCommand::Timeline,
                "state" => JournalCommand::State { at },
                "export" => JournalCommand::Export { json },
                "verify" => JournalCommand::Verify,
                _ => JournalCommand::Report { html, jsonl },
            })
        }
        ["config", _] => {
            positional(1, "<FILE>")?;
            Command::Config(ConfigCommand::FromUci {
                file: PathBuf::from(rest[0]),
            })
        }
        _ => return Err(error(&[], format!("unrecognized subcommand '{first}'"))),
    })
}

/// `fleet`'s many options stay on clap, which the `fleet` feature brings along; the global
/// options may come before or after the word.
#[cfg(feature = "fleet")]
fn fleet(
    config: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    verbose: u8,
    rest: Vec<OsString>,
) -> Result<Parsed, UsageError> {
    use clap::Parser as _;
    /// Simulate a fleet of devices against an ACS: N real agent cores in one process (see
    /// docs/fleet.md).
    #[derive(Debug, clap::Parser)]
    #[command(name = "tr069-client fleet")]
    struct FleetLine {
        /// The devices' configuration template.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Where the devices' journals go.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// More log output on stderr (-v info, -vv debug, -vvv trace).
        #[arg(short, long, action = clap::ArgAction::Count)]
        verbose: u8,
        #[command(flatten)]
        args: super::fleet_cmd::FleetArgs,
    }
    let line = std::iter::once(OsString::from("tr069-client fleet")).chain(rest);
    match FleetLine::try_parse_from(line) {
        Ok(f) => Ok(Parsed::Cli(Cli {
            config: f.config.or(config),
            data_dir: f.data_dir.or(data_dir),
            verbose: verbose.saturating_add(f.verbose),
            command: Command::Fleet(Box::new(f.args)),
        })),
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => {
            Ok(Parsed::Help(e.to_string()))
        }
        Err(e) => {
            let page = e.to_string();
            Err(UsageError {
                message: page.strip_prefix("error: ").unwrap_or(&page).to_owned(),
                usage: String::new(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_words(words: &[&str]) -> Result<Parsed, UsageError> {
        parse(words.iter().map(OsString::from))
    }

    fn cli(words: &[&str]) -> Cli {
        match parse_words(words) {
            Ok(Parsed::Cli(cli)) => cli,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    fn usage_error(words: &[&str]) -> String {
        match parse_words(words) {
            Err(e) => e.to_string(),
            other => panic!("{words:?} was accepted: {other:?}"),
        }
    }

    #[test]
    fn global_options_go_anywhere() {
        let c = cli(&[
            "-vv",
            "--config",
            "/c.toml",
            "print",
            "--json",
            "--data-dir=/d",
            "-v",
        ]);
        assert_eq!(c.config, Some(PathBuf::from("/c.toml")));
        assert_eq!(c.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(c.verbose, 3);
        assert!(matches!(c.command, Command::Print { json: true }));
        let c = cli(&["journal", "state", "--at", "12", "--data-dir", "/x"]);
        assert!(
            matches!(c.command, Command::Journal(JournalCommand::State { at: Some(ref a) }) if a == "12")
        );
    }

    #[test]
    fn every_command_parses() {
        assert!(matches!(cli(&["run"]).command, Command::Run));
        assert!(matches!(
            cli(&["print"]).command,
            Command::Print { json: false }
        ));
        assert!(
            matches!(cli(&["set", "a=b", "c=-d"]).command, Command::Set { ref items } if items == &["a=b", "c=-d"])
        );
        assert!(
            matches!(cli(&["get", "status"]).command, Command::Get { ref name } if name == "status")
        );
        assert!(matches!(
            cli(&["reset-tr069-config"]).command,
            Command::ResetTr069Config
        ));
        assert!(matches!(cli(&["inform-now"]).command, Command::InformNow));
        assert!(matches!(
            cli(&["journal", "timeline"]).command,
            Command::Journal(JournalCommand::Timeline)
        ));
        assert!(matches!(
            cli(&["journal", "export", "--json"]).command,
            Command::Journal(JournalCommand::Export { json: true })
        ));
        assert!(matches!(
            cli(&["journal", "verify"]).command,
            Command::Journal(JournalCommand::Verify)
        ));
        assert!(matches!(
            cli(&["journal", "report", "--jsonl", "-", "--html=r.html"]).command,
            Command::Journal(JournalCommand::Report { html: Some(_), jsonl: Some(ref j) }) if j == &PathBuf::from("-")
        ));
        assert!(matches!(
            cli(&["config", "from-uci", "/etc/config/tr069-client"]).command,
            Command::Config(ConfigCommand::FromUci { .. })
        ));
        // After `--`, a word that looks like an option is a value.
        assert!(
            matches!(cli(&["set", "--", "--x=1"]).command, Command::Set { ref items } if items == &["--x=1"])
        );
    }

    #[test]
    fn bad_lines_are_usage_errors_naming_what_is_wrong() {
        let e = usage_error(&["frob"]);
        assert!(e.starts_with("unrecognized subcommand 'frob'"), "{e}");
        assert!(e.contains("Usage: tr069-client [OPTIONS] <COMMAND>"), "{e}");
        let e = usage_error(&["print", "--bogus"]);
        assert!(e.starts_with("unexpected argument '--bogus' found"), "{e}");
        assert!(e.contains("Usage: tr069-client print [OPTIONS]"), "{e}");
        assert!(usage_error(&["get", "--json", "x"]).starts_with("unexpected argument '--json'"));
        assert!(usage_error(&["get"]).contains("<NAME>"));
        assert!(usage_error(&["get", "a", "b"]).starts_with("unexpected argument 'b'"));
        assert!(usage_error(&["set"]).contains("<NAME=VALUE>..."));
        assert!(usage_error(&["journal"]).contains("needs a command"));
        assert!(usage_error(&["journal", "nope"]).starts_with("unrecognized subcommand 'nope'"));
        assert!(usage_error(&["journal", "state", "--at"]).contains("--at"));
        assert!(usage_error(&["--config"]).contains("--config"));
        assert!(usage_error(&[]).contains("a command is required"));
        assert!(usage_error(&["run", "-x"]).starts_with("unexpected argument '-x'"));
    }

    #[test]
    fn help_and_version() {
        assert!(matches!(parse_words(&["--version"]), Ok(Parsed::Version)));
        assert!(matches!(parse_words(&["-V"]), Ok(Parsed::Version)));
        let Ok(Parsed::Help(top)) = parse_words(&["--help"]) else {
            panic!()
        };
        for cmd in top_level_commands() {
            assert!(
                top.contains(&format!("\n  {cmd} ")),
                "{cmd} missing from\n{top}"
            );
        }
        assert!(top.contains("--data-dir <DIR>") && top.contains("-V, --version"));
        let Ok(Parsed::Help(report)) = parse_words(&["journal", "report", "-h"]) else {
            panic!()
        };
        assert!(
            report.contains("Usage: tr069-client journal report [OPTIONS]"),
            "{report}"
        );
        assert!(report.contains("--jsonl <FILE>") && report.contains("--config <PATH>"));
        let Ok(Parsed::Help(journal)) = parse_words(&["help", "journal"]) else {
            panic!()
        };
        assert!(
            journal.contains("\n  timeline ") && journal.contains("\n  report "),
            "{journal}"
        );
        let Ok(Parsed::Help(set)) = parse_words(&["set", "a=b", "--help"]) else {
            panic!()
        };
        assert!(
            set.contains("Usage: tr069-client set [OPTIONS] <NAME=VALUE>..."),
            "{set}"
        );
    }
}
