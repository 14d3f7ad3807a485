//! Start-up: the boot recorded, a reboot given up, firmware of an earlier boot decided, the
//! connection-request path chosen once — each folded before the next is decided.

use super::*;

impl Cpe {
    pub(super) fn startup_step(&mut self, now_ms: u64) -> Option<Action> {
        match std::mem::replace(&mut self.startup, Startup::Done) {
            Startup::NotStarted => {
                self.startup = Startup::NotStarted;
                None
            }
            Startup::Boot {
                boot_id,
                running_version,
            } => {
                self.startup = Startup::Firmware;
                let mut records = startup_records(&self.state, &boot_id, &running_version);
                let new_boot = records
                    .iter()
                    .any(|r| matches!(&r.kind, Some(Kind::EventRaised(e)) if e.code == ec::BOOT));
                if new_boot {
                    self.boot_delay_until_ms = self.draw_boot_delay(now_ms);
                }
                records.extend(self.abandoned_reboot_records(&boot_id, now_ms));
                Some(Action::Append(Append::plain(records)))
            }
            Startup::Firmware => {
                self.startup = Startup::ConnectionRequestPath;
                let records = transfer_lifecycle::startup_records(
                    &self.state,
                    &self.model.identity.software_version,
                    unix_secs(now_ms),
                );
                if records.is_empty() {
                    return self.startup_step(now_ms);
                }
                Some(Action::Append(Append::plain(records)))
            }
            Startup::ConnectionRequestPath => {
                // The connection-request path is part of ConnectionRequestURL: chosen once,
                // journaled.
                if !self.settings.get("connection-request-path").is_empty() {
                    return None;
                }
                let path = random_path(self.entropy.as_mut());
                let records = settings_change_records(
                    &self.settings,
                    "connection-request-path",
                    &path,
                    proto::ChangeSource::Host,
                );
                Some(Action::Append(Append::plain(records)))
            }
            Startup::Done => None,
        }
    }

    /// The end of the random wait before a new boot's first session, if one is configured.
    fn draw_boot_delay(&mut self, now_ms: u64) -> Option<u64> {
        let range = &self.config.session.boot_inform_delay;
        let ms = |d: &Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (min, max) = (ms(range.start()), ms(range.end()));
        if max == 0 {
            return None;
        }
        let delay = min.saturating_add(self.entropy.uniform_ms(max.saturating_sub(min)));
        tracing::info!(
            delay_ms = delay,
            "the boot's first session waits (boot_inform_delay)"
        );
        Some(now_ms.saturating_add(delay))
    }

    /// A reboot still pending in the boot that attempted it: the reboot hook ran and the device
    /// did not reboot. After `reboot_attempts` of those, the agent stops trying and reports what
    /// the reboot was owed for as failed.
    pub(super) fn abandoned_reboot_records(&self, boot_id: &str, now_ms: u64) -> Vec<Record> {
        let Some(p) = &self.state.pending_reboot else {
            return Vec::new();
        };
        let limit = self.config.hooks.reboot_attempts.max(1);
        if p.attempt_boot_id != boot_id || p.attempts < limit {
            return Vec::new();
        }
        let reason = format!(
            "the reboot hook ran {} time(s) without rebooting the device (the boot id stayed {boot_id}); the agent stopped rebooting",
            p.attempts
        );
        tracing::error!("{reason}");
        let mut records = vec![record(Kind::RebootAbandoned(proto::RebootAbandoned {
            reason: reason.clone(),
            attempts: p.attempts,
        }))];
        if p.firmware {
            for t in self.state.transfers.values() {
                let applied = t
                    .accepted
                    .as_ref()
                    .is_some_and(transfer_lifecycle::is_firmware)
                    && crate::state::stage(t) == proto::TransferStage::Applied;
                if applied {
                    records.push(transfer_lifecycle::completed(
                        t,
                        unix_secs(now_ms),
                        crate::cwmp::FaultCode::FileTransferFailure.code(),
                        format!("the firmware was applied but never activated: {reason}"),
                    ));
                }
            }
        }
        if p.factory_reset {
            records.push(event_raised(ec::BOOTSTRAP, ""));
        }
        if p.reboot_rpc {
            records.push(event_raised(ec::M_REBOOT, &p.command_key));
        }
        records
    }
}
