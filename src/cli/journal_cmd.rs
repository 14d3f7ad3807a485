//! `journal timeline | state | export | verify | report`: post-mortem views of a data directory.
//!
//! They work on the live data directory (while no daemon runs) or on a copy (`--data-dir COPY`).
//! sled must open a store read-write, so they do too, but they never append; opening a damaged
//! store repairs it exactly as the daemon would (and `verify` reports that as a failure).

use anyhow::{Context as _, anyhow};
use journal::OpenOutcome;

use super::{Failure, JournalCommand};
use crate::config::Config;
use crate::cwmp::DateTime;
#[cfg(feature = "html-report")]
use crate::postmortem::html::Source;
use crate::postmortem::{SetAside, Timeline};
use crate::records::{Journal, StoredRecord};
use crate::state::AgentState;
use std::path::Path;

pub(super) fn run(config: &Config, cmd: JournalCommand) -> Result<(), Failure> {
    // Refused before the store is opened: an open may set a damaged store aside, and the
    // operator's next, corrected command should be the one that reports it.
    #[cfg(not(feature = "html-report"))]
    if let JournalCommand::Report { html: Some(_), .. } = cmd {
        return Err(Failure::input(anyhow!(
            "journal report --html: this build has no HTML report (cargo feature `html-report`, \
             left out of the router's build for flash; the Debian package has it). --jsonl FILE \
             writes the same timeline as JSON lines, or run the report on a copy of the data \
             directory with a build that has it"
        )));
    }
    let dir = config.journal_dir();
    if !dir.join("db").exists() {
        return Err(Failure::from(anyhow!(
            "no journal in {} (is --data-dir / data_dir right?)",
            dir.display()
        )));
    }
    let boot_id = config
        .read_boot_id()
        .unwrap_or_else(|_| "unknown".to_owned());
    let (journal, report) = Journal::open(&dir, config.journal_options(&boot_id)).map_err(|e| match e {
        journal::Error::Locked { .. } => anyhow!(
            "the journal in {} is locked by a running daemon; copy the data directory (cp -a) and use --data-dir COPY",
            dir.display()
        ),
        other => anyhow::Error::new(other).context(format!("opening the journal in {}", dir.display())),
    })?;
    let result = match cmd {
        JournalCommand::Timeline => timeline(&journal),
        JournalCommand::Export { json: _ } => export(&journal),
        JournalCommand::State { at } => state(config, &journal, at.as_deref()),
        JournalCommand::Verify => verify(&journal, &report),
        JournalCommand::Report { html, jsonl } => {
            report_files(config, &journal, &report, html.as_deref(), jsonl.as_deref())
        }
    };
    journal.close();
    result
}

fn records(journal: &Journal) -> impl Iterator<Item = anyhow::Result<StoredRecord>> + '_ {
    journal
        .iter_from(0)
        .map(|r| r.context("reading the journal"))
}

fn timeline(journal: &Journal) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    for rec in records(journal) {
        let rec = rec?;
        let time = crate::records::rfc3339_utc(rec.time_ms);
        let summary = crate::records::summary(&rec);
        // `summary` starts with "#seq time "; the columns below already show both.
        let what = summary
            .strip_prefix(&format!("#{} {} ", rec.seq, time))
            .unwrap_or(&summary);
        let boot: String = rec.boot_id.chars().take(8).collect();
        writeln_out(
            &mut out,
            format_args!("{time} {:>6} {boot:<8} {what}", rec.seq),
        )?;
    }
    Ok(())
}

fn export(journal: &Journal) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    for rec in records(journal) {
        writeln_out(
            &mut out,
            format_args!("{}", crate::records::export_json(&rec?)),
        )?;
    }
    Ok(())
}

fn writeln_out(
    out: &mut impl std::io::Write,
    args: std::fmt::Arguments<'_>,
) -> Result<(), Failure> {
    writeln!(out, "{args}")
        .context("writing to stdout")
        .map_err(Failure::from)
}

/// Where `--at` stops.
enum At {
    Seq(u64),
    TimeMs(u64),
}

fn parse_at(text: &str) -> Result<At, Failure> {
    if let Ok(seq) = text.trim().parse::<u64>() {
        return Ok(At::Seq(seq));
    }
    match DateTime::parse(text.trim()) {
        Ok(t) if !t.is_unknown() => Ok(At::TimeMs(u64::try_from(t.unix_millis()).unwrap_or(0))),
        _ => Err(Failure::input(anyhow!(
            "invalid value {text:?} for --at: expected a sequence number such as 42 or an RFC 3339 time such as 2026-01-01T03:00:00Z"
        ))),
    }
}

fn state(config: &Config, journal: &Journal, at: Option<&str>) -> Result<(), Failure> {
    let state = match at {
        None => AgentState::from_journal(journal).context("reading the journal")?,
        Some(text) => {
            let at = parse_at(text)?;
            let mut state = AgentState::default();
            let mut folded_any = false;
            let mut first: Option<u64> = None;
            let mut from_snapshot = false;
            for rec in records(journal) {
                let rec = rec?;
                let stop = match at {
                    At::Seq(s) => rec.seq > s,
                    At::TimeMs(t) => rec.time_ms > t,
                };
                if stop {
                    break;
                }
                first.get_or_insert(rec.seq);
                from_snapshot |= rec.tag == crate::records::SNAPSHOT_TAG;
                state.apply(rec.seq, rec.time_ms, &rec.record);
                folded_any = true;
            }
            if !folded_any {
                eprintln!("note: no record at or before {text}; showing the initial state");
            } else if first.is_some_and(|f| f > 1) && !from_snapshot {
                eprintln!(
                    "note: records before #{} were compacted away and no snapshot precedes {text}; this state is incomplete",
                    first.unwrap_or(0)
                );
            }
            state
        }
    };
    // The same view the post-mortem report shows for a clicked record.
    let view = crate::postmortem::state_view(&state, &config.factory_settings);
    println!(
        "{}",
        serde_json::to_string_pretty(&view).context("rendering JSON")?
    );
    Ok(())
}

fn verify(journal: &Journal, report: &journal::OpenReport) -> Result<(), Failure> {
    match &report.outcome {
        OpenOutcome::Created | OpenOutcome::Clean => {}
        OpenOutcome::TailTruncated { removed } => {
            return Err(Failure::from(anyhow!(
                "the journal had a torn tail: unacknowledged records {removed:?} were damaged and have been removed"
            )));
        }
        OpenOutcome::Recovered {
            reason,
            moved_aside_to,
            ..
        } => {
            return Err(Failure::from(anyhow!(
                "the journal was damaged ({reason}); it was recovered and the damaged store moved to {}",
                moved_aside_to.display()
            )));
        }
    }
    let count = journal.verify().context("journal verification failed")?;
    println!(
        "journal clean: {count} records verified (#{}..#{})",
        journal.first_seq(),
        journal.last_seq()
    );
    Ok(())
}

/// What opening the store did to a damaged one, for the report's banner.
fn set_aside(report: &journal::OpenReport) -> Option<SetAside> {
    match &report.outcome {
        OpenOutcome::Recovered {
            reason,
            moved_aside_to,
            lost_from_seq,
            lost_to_seq,
            ..
        } => Some(SetAside {
            reason: reason.clone(),
            moved_aside_to: moved_aside_to.display().to_string(),
            lost_from_seq: *lost_from_seq,
            lost_to_seq: *lost_to_seq,
        }),
        _ => None,
    }
}

fn report_files(
    config: &Config,
    journal: &Journal,
    report: &journal::OpenReport,
    html: Option<&Path>,
    jsonl: Option<&Path>,
) -> Result<(), Failure> {
    if html.is_none() && jsonl.is_none() {
        return Err(Failure::input(anyhow!(
            "journal report needs --html FILE and/or --jsonl FILE (`-` for stdout)"
        )));
    }
    let records: Vec<StoredRecord> = records(journal).collect::<anyhow::Result<_>>()?;
    let timeline = Timeline::build(&records, &config.factory_settings);
    let aside = set_aside(report);
    if let Some(a) = &aside {
        eprintln!(
            "note: the journal was damaged ({}); the damaged store was set aside at {}",
            a.reason, a.moved_aside_to
        );
    }
    if let Some(path) = jsonl {
        let text = timeline.jsonl(aside.as_ref());
        write_output(path, text.as_bytes())?;
    }
    #[cfg(feature = "html-report")]
    if let Some(path) = html {
        let source = Source {
            data_dir: config.data_dir.display().to_string(),
            written_ms: crate::agent::now_ms(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let page = crate::postmortem::html::render(&timeline, &source, aside.as_ref());
        write_output(path, page.as_bytes())?;
        eprintln!(
            "wrote {} ({} records, {} sessions, {} transfers, {} bytes)",
            path.display(),
            timeline.records.len(),
            timeline.sessions.len(),
            timeline.transfers.len(),
            page.len()
        );
    }
    Ok(())
}

fn write_output(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    if path == Path::new("-") {
        use std::io::Write as _;
        return std::io::stdout()
            .lock()
            .write_all(bytes)
            .context("writing to stdout")
            .map_err(Failure::from);
    }
    std::fs::write(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
        .map_err(Failure::from)
}
