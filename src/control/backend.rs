//! The seam between the control protocol and the agent, and the one place requests are handled.

use super::protocol::{ControlRequest, ControlResponse, ErrorKind};
use super::view::{READ_ONLY, RuntimeInfo, StatusView};
use crate::records::proto::ChangeSource;
use crate::state::settings::{self, SETTINGS, Settings};
use crate::state::{AgentState, config_reset_records, settings_change_records};

/// What the control plane needs from whoever owns the journal: the running daemon, or the CLI's
/// [`OfflineBackend`](super::OfflineBackend) when no daemon runs.
///
/// `append` is called from a blocking context (the socket server runs [`handle`] on tokio's
/// blocking pool), so a daemon may implement it with `Journal::append_blocking` and then fold the
/// records into its own state (and wake its scheduler).
pub trait ControlBackend {
    /// The folded state and the effective settings (journaled over the factory defaults).
    fn state(&self) -> (AgentState, Settings);
    /// Appends `records` as one batch (durable when it returns `Ok`).
    fn append(&self, records: Vec<crate::records::Record>) -> Result<(), String>;
    /// What only the running agent knows.
    fn runtime(&self) -> RuntimeInfo;
    /// Starts a session now.
    fn inform_now(&self) -> Result<(), String>;
    /// Whether this is the running daemon (the offline backend says no).
    fn daemon_running(&self) -> bool {
        true
    }
}

/// Handles one request.
pub fn handle(backend: &dyn ControlBackend, req: ControlRequest) -> ControlResponse {
    match req {
        ControlRequest::Print => {
            let mut view = view(backend);
            view.daemon_running = backend.daemon_running();
            ControlResponse::View {
                view: Box::new(view),
            }
        }
        ControlRequest::Status => {
            let (state, settings) = backend.state();
            ControlResponse::Value {
                name: "status".into(),
                value: state.status(&settings).to_string(),
            }
        }
        ControlRequest::Get { name } => get(backend, &name),
        ControlRequest::Set { items } => set(backend, items),
        ControlRequest::ResetConfig => match backend.append(config_reset_records()) {
            Ok(()) => ControlResponse::ok(
                "tr069-client configuration and state reset; a BOOTSTRAP is owed to the next ACS",
            ),
            Err(e) => ControlResponse::error(ErrorKind::Internal, format!("reset failed: {e}")),
        },
        ControlRequest::InformNow => {
            if !backend.daemon_running() {
                return ControlResponse::error(
                    ErrorKind::NotRunning,
                    "no daemon is running; the agent informs when it starts",
                );
            }
            match backend.inform_now() {
                Ok(()) => ControlResponse::ok("session requested"),
                Err(e) => ControlResponse::error(ErrorKind::Internal, e),
            }
        }
    }
}

fn view(backend: &dyn ControlBackend) -> StatusView {
    let (state, settings) = backend.state();
    StatusView::build(&state, &settings, backend.runtime())
}

fn get(backend: &dyn ControlBackend, name: &str) -> ControlResponse {
    let view = view(backend);
    match view.get(name) {
        Some(value) => ControlResponse::Value {
            name: name.to_owned(),
            value,
        },
        None => {
            let known: Vec<&str> = SETTINGS
                .iter()
                .map(|s| s.name)
                .chain(READ_ONLY.iter().copied())
                .collect();
            ControlResponse::error(
                ErrorKind::InvalidInput,
                format!(
                    "unknown property {name:?}; properties are: {}",
                    known.join(", ")
                ),
            )
        }
    }
}

fn set(backend: &dyn ControlBackend, items: Vec<(String, String)>) -> ControlResponse {
    if items.is_empty() {
        return ControlResponse::error(
            ErrorKind::InvalidInput,
            "nothing to set; give one or more name=value pairs",
        );
    }
    // Validate everything first: all or nothing.
    let mut canonical = Vec::with_capacity(items.len());
    for (name, value) in &items {
        if READ_ONLY.contains(&name.as_str()) {
            return ControlResponse::error(ErrorKind::InvalidInput, format!("{name} is read-only"));
        }
        match settings::validate(name, value) {
            Ok(c) => canonical.push((name.clone(), c)),
            Err(e) => return ControlResponse::error(ErrorKind::InvalidInput, e.to_string()),
        }
    }
    let (mut state, factory) = backend.state();
    let mut records = Vec::new();
    let mut changed = Vec::new();
    for (name, value) in canonical {
        let current = state.effective_settings(factory.factory());
        if current.get(&name) == value {
            continue;
        }
        let recs = settings_change_records(&current, &name, &value, ChangeSource::Cli);
        // Fold into a scratch copy so a later item sees this one (e.g. two acs-url changes).
        for r in &recs {
            state.apply(state.last_seq, 0, r);
        }
        records.extend(recs);
        if !changed.contains(&name) {
            changed.push(name);
        }
    }
    if records.is_empty() {
        return ControlResponse::ok("nothing changed");
    }
    // A setting that is a TR-181 parameter the ACS asked to be notified about: tell it.
    let notified: Vec<(String, String)> = changed
        .iter()
        .filter_map(|name| {
            let parameter = settings::setting(name)?.parameter?;
            Some((
                parameter.to_owned(),
                state.effective_settings(factory.factory()).get(name),
            ))
        })
        .collect();
    let (value_changes, active) = crate::datamodel::notify::change_records(&state, &notified);
    records.extend(value_changes);
    if active {
        records.push(crate::datamodel::notify::active_event());
    }
    match backend.append(records) {
        Ok(()) => ControlResponse::ok(format!("changed: {}", changed.join(", "))),
        Err(e) => ControlResponse::error(
            ErrorKind::Internal,
            format!("could not save the settings: {e}"),
        ),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A backend over an in-memory record list.
    #[derive(Default)]
    pub(crate) struct FakeBackend {
        pub records: Mutex<Vec<crate::records::Record>>,
        pub appends: Mutex<usize>,
        pub running: bool,
    }

    impl ControlBackend for FakeBackend {
        fn state(&self) -> (AgentState, Settings) {
            let records = self.records.lock().unwrap();
            let state = AgentState::fold(
                records
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as u64 + 1, 0, r)),
            );
            let settings = state.effective_settings(&Default::default());
            (state, settings)
        }
        fn append(&self, records: Vec<crate::records::Record>) -> Result<(), String> {
            *self.appends.lock().unwrap() += 1;
            self.records.lock().unwrap().extend(records);
            Ok(())
        }
        fn runtime(&self) -> RuntimeInfo {
            RuntimeInfo::default()
        }
        fn inform_now(&self) -> Result<(), String> {
            Ok(())
        }
        fn daemon_running(&self) -> bool {
            self.running
        }
    }

    fn set_req(pairs: &[(&str, &str)]) -> ControlRequest {
        ControlRequest::Set {
            items: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn set_is_all_or_nothing_and_one_append() {
        let b = FakeBackend::default();
        let r = handle(
            &b,
            set_req(&[("enabled", "yes"), ("periodic-inform-interval", "soon")]),
        );
        let ControlResponse::Error { kind, message } = r else {
            panic!("{r:?}")
        };
        assert_eq!(kind, ErrorKind::InvalidInput);
        assert!(
            message.contains("periodic-inform-interval") && message.contains("30s, 15m, 1h, 1d"),
            "{message}"
        );
        assert!(b.records.lock().unwrap().is_empty());

        let r = handle(
            &b,
            set_req(&[
                ("enabled", "yes"),
                ("acs-url", "https://acs/"),
                ("periodic-inform-interval", "1h"),
            ]),
        );
        assert!(matches!(r, ControlResponse::Ok { .. }), "{r:?}");
        assert_eq!(*b.appends.lock().unwrap(), 1);
        assert_eq!(
            b.records.lock().unwrap().len(),
            4,
            "3 settings + BOOTSTRAP for the new URL"
        );

        // Unchanged values are skipped; nothing at all means no append.
        let r = handle(
            &b,
            set_req(&[("enabled", "true"), ("periodic-inform-interval", "3600")]),
        );
        assert_eq!(r, ControlResponse::ok("nothing changed"));
        assert_eq!(*b.appends.lock().unwrap(), 1);

        let r = handle(
            &b,
            ControlRequest::Get {
                name: "periodic-inform-interval".into(),
            },
        );
        assert_eq!(
            r,
            ControlResponse::Value {
                name: "periodic-inform-interval".into(),
                value: "1h".into()
            }
        );
        let r = handle(&b, ControlRequest::Status);
        assert_eq!(
            r,
            ControlResponse::Value {
                name: "status".into(),
                value: "running".into()
            }
        );
    }

    #[test]
    fn get_masks_and_rejects_unknown() {
        let b = FakeBackend::default();
        handle(&b, set_req(&[("password", "hunter2")]));
        let r = handle(
            &b,
            ControlRequest::Get {
                name: "password".into(),
            },
        );
        assert_eq!(
            r,
            ControlResponse::Value {
                name: "password".into(),
                value: "***".into()
            }
        );
        let r = handle(
            &b,
            ControlRequest::Get {
                name: "colour".into(),
            },
        );
        assert!(
            matches!(r, ControlResponse::Error { kind: ErrorKind::InvalidInput, ref message } if message.contains("retry-count")),
            "{r:?}"
        );
        let r = handle(&b, set_req(&[("retry-count", "0")]));
        assert!(
            matches!(r, ControlResponse::Error { kind: ErrorKind::InvalidInput, ref message } if message.contains("read-only")),
            "{r:?}"
        );
    }

    #[test]
    fn reset_and_inform_now() {
        let b = FakeBackend::default();
        handle(&b, set_req(&[("enabled", "yes")]));
        assert!(matches!(
            handle(&b, ControlRequest::ResetConfig),
            ControlResponse::Ok { .. }
        ));
        let ControlResponse::View { view } = handle(&b, ControlRequest::Print) else {
            panic!()
        };
        assert_eq!(view.settings["enabled"], "no");
        assert_eq!(view.owed_events[0].code, "0 BOOTSTRAP");
        assert!(!view.daemon_running);
        let r = handle(&b, ControlRequest::InformNow);
        assert!(
            matches!(
                r,
                ControlResponse::Error {
                    kind: ErrorKind::NotRunning,
                    ..
                }
            ),
            "{r:?}"
        );
        let running = FakeBackend {
            running: true,
            ..Default::default()
        };
        assert!(matches!(
            handle(&running, ControlRequest::InformNow),
            ControlResponse::Ok { .. }
        ));
    }
}
