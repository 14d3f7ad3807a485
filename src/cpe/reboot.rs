//! Reboots and factory resets: each attempt journaled before the hook runs (so a device that
//! never reboots is noticed), the factory configuration applied with the reset.

use super::*;

impl Cpe {
    pub(super) fn begin_reboot(&mut self, factory_reset: bool) -> Action {
        let attempt = record(Kind::RebootAttempted(proto::RebootAttempted {
            boot_id: self.state.boot_id.clone(),
        }));
        if factory_reset {
            self.rebooting = Rebooting::FactoryResetRunning;
            self.queue.push_back(Action::FactoryReset {
                hook: self.config.hooks.factory_reset.clone(),
            });
        } else {
            self.rebooting = Rebooting::Done;
            self.queue.push_back(Action::Reboot {
                hook: self.config.hooks.reboot.clone(),
            });
        }
        Action::Append(Append {
            records: vec![attempt],
            crash_before: None,
            crash_after: Some("reboot.before_hook"),
        })
    }

    pub(super) fn on_factory_reset_done(
        &mut self,
        now_ms: u64,
        factory_configuration: Option<String>,
    ) {
        let mut records = vec![record(Kind::FactoryResetDone(proto::FactoryResetDone {}))];
        if let Some(text) = factory_configuration {
            records.extend(self.factory_configuration_records(now_ms, &text));
        }
        self.queue.push_back(Action::Append(Append::plain(records)));
        self.rebooting = Rebooting::Done;
        self.queue.push_back(Action::Reboot {
            hook: self.config.hooks.reboot.clone(),
        });
    }

    /// The factory configuration a vendor-file Download installed, applied over the reset state
    /// (with the reset, in one batch). A file that no longer checks is logged and skipped: the
    /// device then comes back with the built-in defaults.
    pub(super) fn factory_configuration_records(&self, now_ms: u64, text: &str) -> Vec<Record> {
        let parsed = match config_file::parse(text) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "the factory configuration is invalid; ignored");
                return Vec::new();
            }
        };
        let mut reset = self.state.clone();
        reset.apply(
            reset.last_seq + 1,
            now_ms,
            &record(Kind::FactoryResetDone(proto::FactoryResetDone {})),
        );
        let view = View::new(
            &self.model,
            &reset,
            &self.config.factory_settings,
            &self.runtime.connection_request_url,
            now_ms,
            &self.scratch_memo,
        );
        let checked = check_config(&view, &parsed);
        self.scratch_memo.clear();
        match checked {
            Ok(values) => vec![record(Kind::ConfigurationApplied(
                proto::ConfigurationApplied {
                    values,
                    replace: true,
                    transfer_id: String::new(),
                },
            ))],
            Err((_, why)) => {
                tracing::error!(%why, "the factory configuration does not fit the data model; ignored");
                Vec::new()
            }
        }
    }
}
