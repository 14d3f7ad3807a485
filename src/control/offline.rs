//! The control backend the CLI uses when no daemon runs: it opens the journal itself.
//!
//! sled allows one process per store, so this only works while the daemon is stopped; a store
//! locked by another process is reported as [`OfflineError::Locked`]. The journal is opened
//! lazily: reading a data directory that has no journal yet shows the factory state without
//! creating anything; the first append creates it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use journal::Options;

use super::backend::ControlBackend;
use super::view::RuntimeInfo;
use crate::records::Journal;
use crate::state::AgentState;
use crate::state::settings::Settings;

/// Why the offline backend could not read or write the journal.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// Another process holds the store (a daemon that did not answer on its socket).
    #[error(
        "the journal in {dir} is locked by another process (is a tr069-client daemon running without answering on its control socket?)"
    )]
    Locked { dir: PathBuf },
    /// Any other journal error.
    #[error("journal in {dir}: {source}")]
    Journal {
        dir: PathBuf,
        #[source]
        source: journal::Error,
    },
}

fn journal_err(dir: &Path, e: journal::Error) -> OfflineError {
    match e {
        journal::Error::Locked { .. } => OfflineError::Locked {
            dir: dir.to_path_buf(),
        },
        source => OfflineError::Journal {
            dir: dir.to_path_buf(),
            source,
        },
    }
}

/// Opens the journal in `dir` (creating it when missing), logging what `open` reports.
pub fn open_journal(dir: &Path, options: Options) -> Result<Journal, OfflineError> {
    let (journal, report) = Journal::open(dir, options).map_err(|e| journal_err(dir, e))?;
    match &report.outcome {
        journal::OpenOutcome::Created | journal::OpenOutcome::Clean => {}
        other => {
            tracing::warn!(dir = %dir.display(), outcome = ?other, "journal was repaired on open")
        }
    }
    for note in &report.notes {
        tracing::info!(dir = %dir.display(), "{note}");
    }
    Ok(journal)
}

/// [`ControlBackend`] over a directly opened journal.
pub struct OfflineBackend {
    dir: PathBuf,
    options: Options,
    factory: BTreeMap<String, String>,
    journal: Mutex<Option<Journal>>,
}

impl OfflineBackend {
    /// A backend for the journal in `dir` (not opened yet), with the device's factory settings.
    pub fn new(
        dir: impl Into<PathBuf>,
        options: Options,
        factory: BTreeMap<String, String>,
    ) -> OfflineBackend {
        OfflineBackend {
            dir: dir.into(),
            options,
            factory,
            journal: Mutex::new(None),
        }
    }

    /// A backend over an already opened journal.
    pub fn with_journal(journal: Journal, factory: BTreeMap<String, String>) -> OfflineBackend {
        OfflineBackend {
            dir: journal.dir().to_path_buf(),
            options: Options::with_boot_id("unknown"),
            factory,
            journal: Mutex::new(Some(journal)),
        }
    }

    fn with<T>(
        &self,
        create: bool,
        f: impl FnOnce(Option<&Journal>) -> Result<T, OfflineError>,
    ) -> Result<T, OfflineError> {
        let mut guard = self.journal.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() && (create || self.dir.join("db").exists()) {
            *guard = Some(open_journal(&self.dir, self.options.clone())?);
        }
        f(guard.as_ref())
    }

    /// The folded state, or an error saying why the journal could not be read.
    pub fn try_state(&self) -> Result<(AgentState, Settings), OfflineError> {
        let state = self.with(false, |j| match j {
            Some(j) => AgentState::from_journal(j).map_err(|e| journal_err(&self.dir, e)),
            None => Ok(AgentState::default()),
        })?;
        let settings = state.effective_settings(&self.factory);
        Ok((state, settings))
    }

    /// Opens the journal now (so that a locked store is reported before anything else).
    pub fn open_now(&self, create: bool) -> Result<(), OfflineError> {
        self.with(create, |_| Ok(()))
    }

    /// Closes the journal (waits for the committer).
    pub fn close(self) {
        let j = self.journal.into_inner().unwrap_or_else(|p| p.into_inner());
        if let Some(j) = j {
            j.close();
        }
    }
}

impl ControlBackend for OfflineBackend {
    fn state(&self) -> (AgentState, Settings) {
        match self.try_state() {
            Ok(s) => s,
            Err(e) => {
                // The CLI opens the journal with `open_now` first, so this is a late failure.
                tracing::error!("{e}");
                let state = AgentState::default();
                let settings = state.effective_settings(&self.factory);
                (state, settings)
            }
        }
    }

    fn append(&self, records: Vec<crate::records::Record>) -> Result<(), String> {
        self.with(true, |j| match j {
            Some(j) => j
                .append_blocking(records)
                .map(|_| ())
                .map_err(|e| journal_err(&self.dir, e)),
            None => Ok(()),
        })
        .map_err(|e| e.to_string())
    }

    fn runtime(&self) -> RuntimeInfo {
        RuntimeInfo::default()
    }

    fn inform_now(&self) -> Result<(), String> {
        Err("no daemon is running; the agent informs when it starts".into())
    }

    fn daemon_running(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{ControlRequest, ControlResponse, handle};

    #[test]
    fn offline_set_persists_across_opens_and_reports_locks() {
        let dir = tempfile::tempdir().unwrap();
        let jdir = dir.path().join("journal");
        let factory: BTreeMap<String, String> =
            [("periodic-inform-interval".to_owned(), "600".to_owned())].into();

        let b = OfflineBackend::new(&jdir, Options::with_boot_id("boot-a"), factory.clone());
        // Reading a missing journal creates nothing.
        let (state, settings) = b.try_state().unwrap();
        assert_eq!(state.last_seq, 0);
        assert_eq!(settings.periodic_inform_interval(), 600);
        assert!(!jdir.exists());

        let r = handle(
            &b,
            ControlRequest::Set {
                items: vec![
                    ("acs-url".into(), "https://acs/".into()),
                    ("enabled".into(), "yes".into()),
                ],
            },
        );
        assert!(matches!(r, ControlResponse::Ok { .. }), "{r:?}");

        // While this one holds the store, another opener is told it is locked.
        let other = OfflineBackend::new(&jdir, Options::with_boot_id("boot-a"), factory.clone());
        let err = other.open_now(false).unwrap_err();
        assert!(matches!(err, OfflineError::Locked { .. }), "{err}");
        assert!(
            err.to_string().contains("locked by another process"),
            "{err}"
        );
        b.close();

        let b = OfflineBackend::new(&jdir, Options::with_boot_id("boot-a"), factory);
        let (state, settings) = b.try_state().unwrap();
        assert_eq!(state.last_seq, 3);
        assert_eq!(settings.acs_url(), "https://acs/");
        assert!(settings.enabled());
        assert_eq!(state.owed_events[0].code, "0 BOOTSTRAP");
    }
}
