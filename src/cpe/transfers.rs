//! The transfer executor's decisions: which transfer steps next (`transfer_lifecycle`), the job
//! handed to the edge, and what its results become.

use super::*;

impl Cpe {
    pub(super) fn transfer_step(&mut self, now_ms: u64) -> Option<Action> {
        if self.transfer.is_some() {
            return None;
        }
        let now_unix = unix_secs(now_ms);
        let facts = Facts {
            now_unix,
            boot_id: &self.state.boot_id,
            running_version: &self.model.identity.software_version,
            reboot_pending: self.state.pending_reboot.is_some(),
            applying_in_this_run: false,
        };
        let mut wake: Option<i64> = None;
        let mut chosen = None;
        for t in transfer_lifecycle::in_order(&self.state) {
            let id = t.accepted.as_ref().map_or("", |a| a.transfer_id.as_str());
            let facts = Facts {
                applying_in_this_run: self.applying_in_this_run.as_deref() == Some(id),
                ..facts.clone()
            };
            match transfer_lifecycle::next_step(t, &facts) {
                Step::Idle => {}
                Step::WaitUntil(at) => wake = Some(wake.map_or(at, |w| w.min(at))),
                step => {
                    // The transfer is found again by its key below: cloning it here, at every
                    // step of the core, was most of what deciding a transfer cost.
                    chosen = Some((id.to_owned(), step));
                    break;
                }
            }
        }
        let Some((id, step)) = chosen else {
            if let Some(at) = wake {
                let at_ms = u64::try_from(at).unwrap_or(0).saturating_mul(1000);
                self.wake_at_ms = earliest(self.wake_at_ms, Some(at_ms.max(now_ms + 1)));
            }
            return None;
        };
        match step {
            Step::Journal(records) => {
                let stage_after = records.iter().find_map(|r| match &r.kind {
                    Some(Kind::TransferStageChanged(s)) => Some(crate::state::stage_of(s)),
                    _ => None,
                });
                let crash_after = match stage_after {
                    Some(proto::TransferStage::Downloading) => {
                        Some("transfer.after_downloading_journaled")
                    }
                    Some(proto::TransferStage::Applying) => {
                        self.applying_in_this_run = Some(id.clone());
                        Some("transfer.after_applying_journaled")
                    }
                    _ => None,
                };
                if matches!(
                    stage_after,
                    Some(proto::TransferStage::Completed | proto::TransferStage::Applied)
                ) && self.applying_in_this_run.as_deref() == Some(id.as_str())
                {
                    self.applying_in_this_run = None;
                }
                Some(Action::Append(Append {
                    records,
                    crash_before: None,
                    crash_after,
                }))
            }
            Step::Start(job) => self.start_transfer_job(now_ms, &id, job),
            Step::WaitUntil(_) | Step::Idle => None,
        }
    }

    /// The job that runs transfer `id`'s next step at the edge. The state is borrowed, not
    /// copied: the job takes one copy of what the transfer was accepted as. Copying the whole
    /// transfer, then its accepted record twice more, was among the largest sources of
    /// allocations in a provisioning flow (BENCHMARKS.md, "Borrowed transfers").
    pub(super) fn start_transfer_job(&mut self, now_ms: u64, id: &str, job: Job) -> Option<Action> {
        let t = self.state.transfers.get(id)?;
        let a = t.accepted.as_ref()?;
        let last = t.last_stage.as_ref();
        let path = last.map_or("", |l| l.path.as_str());
        let mut transfer = TransferJob {
            transfer_id: a.transfer_id.clone(),
            job: job.clone(),
            dir: transfer_lifecycle::transfer_dir(&self.config.transfer_dir(), &a.transfer_id),
            checkpoint: None,
            deadline_unix: transfer_lifecycle::last_window_end(a),
            main_file: PathBuf::from(path),
            hook: None,
            mode: "overwrite",
            upload: None,
            tls: self.tls_policy(false),
            accepted: a.clone(),
        };
        match job {
            Job::Download => {
                transfer.checkpoint = Some((path.to_owned(), last.map_or(0, |l| l.bytes_done)));
            }
            Job::Upload => match self.upload_source(now_ms, &transfer.accepted)? {
                Ok(source) => transfer.upload = Some(source),
                Err((code, why)) => {
                    let t = self.state.transfers.get(id)?;
                    return Some(Action::Append(Append::plain(vec![
                        transfer_lifecycle::completed(t, unix_secs(now_ms), code, why),
                    ])));
                }
            },
            Job::ApplyFirmware => {
                let Some(hook) = self.config.hooks.firmware_apply.clone() else {
                    return Some(Action::Append(Append::plain(vec![
                        transfer_lifecycle::completed(
                            t,
                            unix_secs(now_ms),
                            crate::cwmp::FaultCode::RequestDenied.code(),
                            "no firmware_apply hook is configured",
                        ),
                    ])));
                };
                transfer.hook = Some(hook);
            }
            Job::ApplyConfiguration => {
                transfer.hook = self.config.hooks.config_apply.clone();
                transfer.mode = if transfer_lifecycle::is_alteration(&transfer.accepted) {
                    "alter"
                } else {
                    "overwrite"
                };
            }
            Job::InstallFactoryConfiguration => {}
        }
        self.transfer = Some(TransferBusy::Job {
            transfer_id: transfer.transfer_id.clone(),
            job,
        });
        Some(Action::Transfer(Box::new(transfer)))
    }

    /// What an Upload sends (or why it cannot be produced); `None` while the builtin export
    /// waits for an external provider.
    pub(super) fn upload_source(
        &mut self,
        now_ms: u64,
        a: &proto::TransferAccepted,
    ) -> Option<Result<UploadSource, Failure>> {
        use crate::cwmp::rpc::upload::file_type as upload_type;
        if a.file_type == upload_type::VENDOR_CONFIGURATION_FILE {
            if let Some(hook) = self.config.hooks.config_export.clone() {
                return Some(Ok(UploadSource::Hook(hook)));
            }
            let exported = config_file::export(
                &self.view(now_ms, &self.transfer_memo),
                &format!(
                    "tr069-client configuration of {} {}",
                    self.model.identity.product_class, self.model.identity.serial_number
                ),
            );
            if let Some(call) = self.transfer_memo.take_missing() {
                self.transfer = Some(TransferBusy::Exporting {
                    transfer_id: a.transfer_id.clone(),
                });
                self.queue.push_back(Action::External(call));
                return None;
            }
            self.transfer_memo.clear();
            return Some(
                exported
                    .map(UploadSource::Text)
                    .map_err(|f| (crate::cwmp::FaultCode::UploadFailure.code(), f.string)),
            );
        }
        if a.file_type == upload_type::VENDOR_LOG_FILE {
            return Some(Ok(match self.config.hooks.log_export.clone() {
                Some(hook) => UploadSource::Hook(hook),
                None => UploadSource::JournalTimeline,
            }));
        }
        if a.file_type == transfer_lifecycle::factory_configuration_type(&self.model.identity.oui) {
            return Some(Ok(UploadSource::File(
                self.config
                    .data_dir
                    .join(transfer_lifecycle::FACTORY_CONFIG_FILE),
            )));
        }
        Some(Err((
            crate::cwmp::FaultCode::UploadFailure.code(),
            format!("FileType {:?} cannot be uploaded", a.file_type),
        )))
    }

    pub(super) fn transfer_state(&self, id: &str) -> Option<proto::TransferState> {
        self.state.transfers.get(id).cloned()
    }

    pub(super) fn on_transfer_event(&mut self, now_ms: u64, id: &str, event: TransferEvent) {
        let now_unix = unix_secs(now_ms);
        // Borrowed, not copied: each event's record is built from the state before the job ends.
        let Some(t) = self.state.transfers.get(id) else {
            // Acknowledged or cancelled meanwhile: nothing is owed for it any more.
            if !matches!(
                event,
                TransferEvent::Progress { .. } | TransferEvent::Checkpoint { .. }
            ) {
                self.transfer = None;
            }
            return;
        };
        let append = match event {
            TransferEvent::Progress { done, total } => {
                self.runtime
                    .transfer_progress
                    .insert(id.to_owned(), (done, total));
                return;
            }
            TransferEvent::Checkpoint { file, bytes } => {
                self.queue.push_back(Action::Append(Append {
                    records: vec![transfer_lifecycle::on_checkpoint(t, &file, bytes)],
                    crash_before: None,
                    crash_after: Some("transfer.after_checkpoint"),
                }));
                return;
            }
            TransferEvent::Downloaded(result) => {
                if let Err((code, why)) = &result {
                    tracing::warn!(transfer = %id, code, %why, "transfer failed");
                }
                Append {
                    records: vec![transfer_lifecycle::on_download_finished(
                        t, result, now_unix,
                    )],
                    crash_before: Some("transfer.before_outcome_journaled"),
                    crash_after: None,
                }
            }
            TransferEvent::Finished(result) => {
                if let Err((code, why)) = &result {
                    tracing::warn!(transfer = %id, code, %why, "transfer failed");
                }
                self.applying_in_this_run = None;
                Append {
                    records: vec![transfer_lifecycle::on_finished(t, result, now_unix)],
                    crash_before: Some("transfer.before_outcome_journaled"),
                    crash_after: None,
                }
            }
            TransferEvent::FirmwareApplied(result) => {
                self.applying_in_this_run = None;
                Append::plain(transfer_lifecycle::on_firmware_applied(t, result, now_unix))
            }
            TransferEvent::ConfigText(text) => {
                self.finish_transfer_job(id);
                self.apply_configuration_text(now_ms, id, text);
                return;
            }
        };
        self.finish_transfer_job(id);
        self.queue.push_back(Action::Append(append));
    }

    pub(super) fn finish_transfer_job(&mut self, id: &str) {
        self.transfer = None;
        self.runtime.transfer_progress.remove(id);
    }

    /// A configuration file's text arrived (no config_apply hook), or a factory configuration's.
    pub(super) fn apply_configuration_text(
        &mut self,
        now_ms: u64,
        id: &str,
        text: Result<String, Failure>,
    ) {
        let now_unix = unix_secs(now_ms);
        let Some(t) = self.transfer_state(id) else {
            return;
        };
        let Some(a) = t.accepted.clone() else { return };
        let failed = |t: &proto::TransferState, (code, why): Failure| {
            Action::Append(Append::plain(vec![transfer_lifecycle::completed(
                t, now_unix, code, why,
            )]))
        };
        let text = match text {
            Ok(text) => text,
            Err(f) => {
                self.applying_in_this_run = None;
                self.queue.push_back(failed(&t, f));
                return;
            }
        };
        let corrupted = crate::cwmp::FaultCode::FileCorrupted.code();
        if a.file_type == transfer_lifecycle::factory_configuration_type(&self.model.identity.oui) {
            self.applying_in_this_run = None;
            match config_file::parse(&text) {
                Ok(_) => {
                    self.transfer = Some(TransferBusy::Job {
                        transfer_id: id.to_owned(),
                        job: Job::InstallFactoryConfiguration,
                    });
                    self.queue.push_back(Action::WriteFactoryConfiguration {
                        transfer_id: id.to_owned(),
                        text,
                    });
                }
                Err(e) => self.queue.push_back(failed(
                    &t,
                    (
                        corrupted,
                        format!("the factory configuration is invalid: {e}"),
                    ),
                )),
            }
            return;
        }
        let parsed = match config_file::parse(&text) {
            Ok(p) => p,
            Err(e) => {
                self.applying_in_this_run = None;
                self.queue.push_back(failed(
                    &t,
                    (corrupted, format!("the configuration file is invalid: {e}")),
                ));
                return;
            }
        };
        let checked = check_config(&self.view(now_ms, &self.transfer_memo), &parsed);
        if let Some(call) = self.transfer_memo.take_missing() {
            self.transfer = Some(TransferBusy::Checking {
                transfer_id: id.to_owned(),
                text,
            });
            self.queue.push_back(Action::External(call));
            return;
        }
        self.transfer_memo.clear();
        self.applying_in_this_run = None;
        let records = match checked {
            Ok(values) => vec![
                record(Kind::ConfigurationApplied(proto::ConfigurationApplied {
                    values,
                    replace: !transfer_lifecycle::is_alteration(&a),
                    transfer_id: id.to_owned(),
                })),
                transfer_lifecycle::completed(&t, now_unix, 0, ""),
            ],
            Err(f) => vec![transfer_lifecycle::completed(&t, now_unix, f.0, f.1)],
        };
        // The values and the completion are one batch: a crash cannot apply without completing.
        self.queue.push_back(Action::Append(Append {
            records,
            crash_before: Some("config.before_apply_journaled"),
            crash_after: None,
        }));
    }
}

/// Checks `Parameter = value` pairs against the data model, as one SetParameterValues would.
pub fn check_config(
    view: &View,
    parsed: &[(String, String)],
) -> Result<Vec<proto::ParameterValue>, Failure> {
    let checked = config_file::check(view, parsed).map_err(|f| {
        let detail: Vec<String> = f
            .set_parameter_values_faults
            .iter()
            .map(|p| format!("{} ({})", p.parameter_name, p.fault_string))
            .collect();
        (
            crate::cwmp::FaultCode::FileTransferFailure.code(),
            format!(
                "the configuration was not applied: {}",
                if detail.is_empty() {
                    f.string
                } else {
                    detail.join("; ")
                }
            ),
        )
    })?;
    Ok(checked
        .into_iter()
        .map(|(name, value, xsd_type)| proto::ParameterValue {
            name,
            value,
            xsd_type,
        })
        .collect())
}
