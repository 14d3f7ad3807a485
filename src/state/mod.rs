//! `AgentState = fold(journal)`: everything the agent knows, rebuilt from its journal.
//!
//! [`AgentState::apply`] is a pure function of the state and one record (plus the record's
//! commit time); nothing else mutates the state, and nothing but the journal persists it. The
//! functions in [`boot`] and the `*_records` helpers here compute which records to append for an
//! input (a start-up, a settings change, a reset): they decide, the journal remembers, `apply`
//! folds — so a test can replay any history exactly.

pub mod boot;
pub mod events;
pub mod settings;

use std::collections::{BTreeMap, BTreeSet};

use crate::ordering::{btree_map, btree_set};

use crate::cwmp::rpc::inform::{EventStruct, event_code as ec};
use crate::records::proto::{self, Record, record::Kind};
use settings::Settings;

/// An event owed to the ACS, in the order raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedEvent {
    pub code: String,
    pub command_key: String,
}

/// A ScheduleInform waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingScheduleInform {
    pub command_key: String,
    pub due_at_ms: u64,
}

/// A reboot that is due and has not happened yet: the ACS's Reboot or FactoryReset, or the
/// reboot that activates a firmware image — or several of them, merged (one reboot serves all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReboot {
    /// The CommandKey of the ACS's Reboot (the latest, when it asked more than once).
    pub command_key: String,
    pub factory_reset: bool,
    /// Activates a firmware image.
    pub firmware: bool,
    /// The ACS's Reboot RPC is among the reasons: the next boot owes `M Reboot <command_key>`.
    pub reboot_rpc: bool,
    /// Runs of the reboot hook in boot `attempt_boot_id` (a start in that same boot means they
    /// did not reboot the device).
    pub attempts: u32,
    pub attempt_boot_id: String,
}

/// A parameter value held by the agent (the data model's `store` provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredParameter {
    pub value: String,
    pub xsd_type: String,
}

/// A parameter's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredAttributes {
    pub notification: u32,
    pub access_list: Vec<String>,
}

/// What the journal told the agent about a damaged store it recovered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    pub at_ms: u64,
    pub reason: String,
    pub lost_from_seq: u64,
    pub lost_to_seq: u64,
}

/// The folded state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentState {
    /// Sequence number of the last record folded in.
    pub last_seq: u64,
    /// The kernel boot id of the last observed boot; empty before the first start.
    pub boot_id: String,
    pub software_version: String,
    /// Journaled setting values (canonical form), by setting name; see [`settings`].
    pub settings: BTreeMap<String, String>,
    pub owed_events: Vec<OwedEvent>,
    /// Consecutive failed sessions.
    pub retry_count: u32,
    /// Why the last session failed; empty after a successful one.
    pub last_session_error: String,
    pub last_session_end_ms: Option<u64>,
    pub last_successful_session_end_ms: Option<u64>,
    /// When a session first succeeded (Device.DeviceInfo.FirstUseDate).
    pub first_use_ms: Option<u64>,
    /// When the next retry is due after a failed session (commit time + the wait drawn).
    pub next_retry_at_ms: Option<u64>,
    /// A session that started and has not ended (after a crash: one that was cut short).
    pub session_in_progress: Option<String>,
    pub pending_schedule_informs: Vec<PendingScheduleInform>,
    pub pending_reboot: Option<PendingReboot>,
    pub parameter_key: String,
    pub parameters: BTreeMap<String, StoredParameter>,
    pub attributes: BTreeMap<String, StoredAttributes>,
    /// Table path → the next instance number to hand out (numbers are never reused).
    pub instance_counters: BTreeMap<String, u32>,
    /// Table path → existing instance numbers.
    pub object_instances: BTreeMap<String, BTreeSet<u32>>,
    /// Notified parameters changed since the last delivered VALUE CHANGE: name → value.
    pub changed_parameters: BTreeMap<String, String>,
    /// Transfers by id (accepted, not yet acknowledged by a TransferCompleteResponse).
    pub transfers: BTreeMap<String, proto::TransferState>,
    /// Damaged stores the journal recovered from (most recent last, at most 8 kept).
    pub recoveries: Vec<Recovery>,
}

/// The operator-facing status (RouterOS `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Disabled,
    WaitingUrl,
    Running,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Disabled => "disabled",
            Status::WaitingUrl => "waiting-URL",
            Status::Running => "running",
        })
    }
}

impl AgentState {
    /// Folds records (with their commit times) into a fresh state.
    pub fn fold<'a>(records: impl IntoIterator<Item = (u64, u64, &'a Record)>) -> AgentState {
        let mut state = AgentState::default();
        for (seq, time_ms, record) in records {
            state.apply(seq, time_ms, record);
        }
        state
    }

    /// Opens the journal in `dir` and folds it in the same pass over the store (the start of
    /// the daemon: at the journal's size bound a second pass cost as much again as the open,
    /// BENCHMARKS.md "Footprint"). Every record from the first is folded; a snapshot replaces
    /// the state folded before it, so this is [`AgentState::from_journal`]'s state (checked by
    /// `state::tests::folding_while_opening_is_folding_after`). Where the open set the store
    /// aside, the new store is folded again after it.
    pub fn open_and_fold(
        dir: impl AsRef<std::path::Path>,
        options: journal::Options,
    ) -> journal::Result<(crate::records::Journal, journal::OpenReport, AgentState)> {
        let mut state = AgentState::default();
        let (journal, report, whole) =
            crate::records::Journal::open_visiting(dir, options, &mut |seq, time_ms, record| {
                state.apply_owned(seq, time_ms, record)
            })?;
        let state = if whole {
            state
        } else {
            AgentState::from_journal(&journal)?
        };
        Ok((journal, report, state))
    }

    /// Folds a whole journal: its latest snapshot, then every record after it.
    pub fn from_journal(journal: &crate::records::Journal) -> journal::Result<AgentState> {
        let mut state = AgentState::default();
        let mut from = 1;
        if let Some(snap) = journal.latest_snapshot()? {
            state.apply(snap.seq, snap.time_ms, &snap.record);
            from = snap.seq + 1;
        }
        for stored in journal.iter_from(from) {
            let stored = stored?;
            state.apply(stored.seq, stored.time_ms, &stored.record);
        }
        Ok(state)
    }

    /// [`AgentState::apply`] for a record its caller is done with: what the state keeps of a
    /// transfer's records (a dozen strings each, kept whole) is moved into it instead of copied.
    pub fn apply_owned(&mut self, seq: u64, time_ms: u64, record: Record) {
        match record.kind {
            Some(Kind::TransferAccepted(t)) => {
                self.last_seq = self.last_seq.max(seq);
                self.accept_transfer(t);
            }
            Some(Kind::TransferStageChanged(s)) => {
                self.last_seq = self.last_seq.max(seq);
                self.change_transfer_stage(s);
            }
            kind => self.apply(seq, time_ms, &Record { kind }),
        }
    }

    fn accept_transfer(&mut self, t: proto::TransferAccepted) {
        self.transfers.insert(
            t.transfer_id.clone(),
            proto::TransferState {
                accepted: Some(t),
                last_stage: None,
            },
        );
    }

    fn change_transfer_stage(&mut self, s: proto::TransferStageChanged) {
        if s.stage == proto::TransferStage::Cancelled as i32 {
            self.transfers.remove(&s.transfer_id);
        } else if let Some(t) = self.transfers.get_mut(&s.transfer_id) {
            t.last_stage = Some(s);
        }
    }

    /// Folds one record. Records of kinds this build does not know are skipped.
    pub fn apply(&mut self, seq: u64, time_ms: u64, record: &Record) {
        self.last_seq = self.last_seq.max(seq);
        let Some(kind) = &record.kind else { return };
        match kind {
            Kind::EventRaised(e) => self.raise(&e.code, &e.command_key),
            Kind::InformAcknowledged(ack) => {
                for d in &ack.delivered {
                    if let Some(i) = self
                        .owed_events
                        .iter()
                        .position(|o| o.code == d.code && o.command_key == d.command_key)
                    {
                        self.owed_events.remove(i);
                    }
                    if d.code == ec::VALUE_CHANGE {
                        self.changed_parameters.clear();
                    }
                }
            }
            Kind::SessionStarted(s) => self.session_in_progress = Some(s.session_id.clone()),
            Kind::SessionEnded(s) if s.heartbeat => {
                // A heartbeat is not retried and leaves the other sessions' retry state alone
                // (TR-069 Amendment 6).
                self.session_in_progress = None;
                self.last_session_end_ms = Some(time_ms);
            }
            Kind::SessionEnded(s) => {
                self.session_in_progress = None;
                self.last_session_end_ms = Some(time_ms);
                if s.outcome == proto::SessionOutcome::Succeeded as i32 {
                    self.retry_count = 0;
                    self.last_session_error.clear();
                    self.last_successful_session_end_ms = Some(time_ms);
                    self.first_use_ms.get_or_insert(time_ms);
                    self.next_retry_at_ms = None;
                } else {
                    self.retry_count = self.retry_count.saturating_add(1);
                    self.last_session_error = s.reason.clone();
                    self.owed_events
                        .retain(|e| events::rules(&e.code).kept_on_failed_session);
                    self.next_retry_at_ms = s
                        .retry_after_seconds
                        .map(|w| time_ms.saturating_add(u64::from(w) * 1000));
                }
            }
            Kind::BootObserved(b) => {
                self.boot_id = b.boot_id.clone();
                self.software_version = b.software_version.clone();
                if b.new_boot {
                    self.owed_events
                        .retain(|e| events::rules(&e.code).kept_on_reboot);
                    // VALUE CHANGE does not survive a reboot (the BOOT Inform reports the
                    // values the device has now).
                    self.changed_parameters.clear();
                    self.retry_count = 0;
                    self.next_retry_at_ms = None;
                    self.session_in_progress = None;
                    self.pending_reboot = None;
                }
            }
            Kind::ScheduleInformRequested(s) => {
                self.pending_schedule_informs.push(PendingScheduleInform {
                    command_key: s.command_key.clone(),
                    due_at_ms: u64::try_from(s.due_at_unix)
                        .unwrap_or(0)
                        .saturating_mul(1000),
                })
            }
            Kind::ScheduleInformFired(s) => {
                let earliest = self
                    .pending_schedule_informs
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.command_key == s.command_key)
                    .min_by_key(|(_, p)| p.due_at_ms)
                    .map(|(i, _)| i);
                if let Some(i) = earliest {
                    self.pending_schedule_informs.remove(i);
                }
            }
            Kind::RebootRequested(r) => {
                // One reboot serves every reason that is pending: a FactoryReset followed by a
                // Reboot in the same session still resets (and owes BOOTSTRAP), and the Reboot
                // still owes M Reboot.
                let p = self.pending_reboot.get_or_insert_with(|| PendingReboot {
                    command_key: String::new(),
                    factory_reset: false,
                    firmware: false,
                    reboot_rpc: false,
                    attempts: 0,
                    attempt_boot_id: String::new(),
                });
                match r.reason.as_str() {
                    REBOOT_REASON_FACTORY_RESET => p.factory_reset = true,
                    REBOOT_REASON_FIRMWARE => p.firmware = true,
                    _ => {
                        p.reboot_rpc = true;
                        p.command_key = r.command_key.clone();
                    }
                }
            }
            Kind::RebootAttempted(r) => {
                if let Some(p) = &mut self.pending_reboot {
                    if p.attempt_boot_id == r.boot_id {
                        p.attempts = p.attempts.saturating_add(1);
                    } else {
                        p.attempts = 1;
                        p.attempt_boot_id = r.boot_id.clone();
                    }
                }
            }
            Kind::RebootAbandoned(r) => {
                self.pending_reboot = None;
                self.last_session_error = r.reason.clone();
            }
            Kind::FactoryResetDone(_) => {
                self.parameters.clear();
                self.attributes.clear();
                self.object_instances.clear();
                self.parameter_key.clear();
                self.settings.clear();
                self.changed_parameters.clear();
            }
            Kind::ConfigReset(_) => {
                self.settings.clear();
                self.owed_events.clear();
                self.retry_count = 0;
                self.last_session_error.clear();
                self.next_retry_at_ms = None;
                self.pending_schedule_informs.clear();
                self.pending_reboot = None;
                self.changed_parameters.clear();
                self.transfers.clear();
            }
            Kind::SettingsChanged(s) => {
                self.settings.insert(s.key.clone(), s.value.clone());
                if s.key == "enabled" && s.value != "true" {
                    self.retry_count = 0;
                    self.next_retry_at_ms = None;
                }
            }
            Kind::ParametersSet(p) => {
                for v in &p.values {
                    // Device.ManagementServer.* parameters that are operator settings are the
                    // same journaled value as the setting (values arrive canonical).
                    if let Some(setting) = settings::setting_for_parameter(&v.name) {
                        self.settings
                            .insert(setting.name.to_owned(), v.value.clone());
                        continue;
                    }
                    self.parameters.insert(
                        v.name.clone(),
                        StoredParameter {
                            value: v.value.clone(),
                            xsd_type: v.xsd_type.clone(),
                        },
                    );
                }
                if p.source == proto::ChangeSource::Acs as i32 {
                    self.parameter_key = p.parameter_key.clone();
                }
            }
            Kind::ObjectAdded(o) => {
                let next = self.instance_counters.entry(o.path.clone()).or_insert(1);
                *next = (*next).max(o.instance_number.saturating_add(1));
                self.object_instances
                    .entry(o.path.clone())
                    .or_default()
                    .insert(o.instance_number);
                self.parameter_key = o.parameter_key.clone();
            }
            Kind::ObjectDeleted(o) => {
                if let Some((table, instance)) = split_instance_path(&o.path) {
                    if let Some(set) = self.object_instances.get_mut(table) {
                        set.remove(&instance);
                    }
                }
                self.parameters
                    .retain(|name, _| !name.starts_with(o.path.as_str()));
                self.attributes
                    .retain(|name, _| !name.starts_with(o.path.as_str()));
                self.parameter_key = o.parameter_key.clone();
            }
            Kind::AttributesSet(a) => {
                for item in &a.items {
                    let entry = self.attributes.entry(item.name.clone()).or_default();
                    if item.notification_change {
                        entry.notification = item.notification;
                    }
                    if item.access_list_change {
                        entry.access_list = item.access_list.clone();
                    }
                }
            }
            Kind::ConfigurationApplied(c) => {
                if c.replace {
                    self.parameters.clear();
                    self.object_instances.clear();
                    self.settings.retain(|name, _| {
                        settings::setting(name).is_none_or(|d| d.parameter.is_none())
                    });
                }
                for v in &c.values {
                    if let Some(setting) = settings::setting_for_parameter(&v.name) {
                        self.settings
                            .insert(setting.name.to_owned(), v.value.clone());
                        continue;
                    }
                    self.create_implied_instances(&v.name);
                    self.parameters.insert(
                        v.name.clone(),
                        StoredParameter {
                            value: v.value.clone(),
                            xsd_type: v.xsd_type.clone(),
                        },
                    );
                }
            }
            Kind::ValueChanged(v) => {
                self.changed_parameters
                    .insert(v.name.clone(), v.value.clone());
            }
            Kind::DiagnosticsCompleted(d) => {
                for prefix in &d.cleared {
                    self.parameters
                        .retain(|name, _| !name.starts_with(prefix.as_str()));
                }
                for v in &d.results {
                    self.parameters.insert(
                        v.name.clone(),
                        StoredParameter {
                            value: v.value.clone(),
                            xsd_type: v.xsd_type.clone(),
                        },
                    );
                }
            }
            Kind::AgentStopped(_) => {}
            Kind::TransferAccepted(t) => self.accept_transfer(t.clone()),
            Kind::TransferStageChanged(s) => self.change_transfer_stage(s.clone()),
            Kind::TransferCompleteAcknowledged(a) => {
                self.transfers.remove(&a.transfer_id);
            }
            Kind::JournalRecovered(r) => {
                self.recoveries.push(Recovery {
                    at_ms: time_ms,
                    reason: r.reason.clone(),
                    lost_from_seq: r.lost_from_seq,
                    lost_to_seq: r.lost_to_seq,
                });
                if self.recoveries.len() > 8 {
                    self.recoveries.remove(0);
                }
            }
            Kind::Snapshot(s) => {
                let last_seq = self.last_seq;
                *self = AgentState::from_snapshot(s);
                self.last_seq = last_seq;
            }
        }
    }

    fn raise(&mut self, code: &str, command_key: &str) {
        if code == ec::BOOTSTRAP {
            // A BOOTSTRAP wipes the slate: nothing owed to a previous ACS (or a previous life of
            // the device) is owed to this one, except the BOOT that accompanies it.
            self.owed_events
                .retain(|e| events::rules(&e.code).kept_on_bootstrap);
            self.pending_schedule_informs.clear();
            self.changed_parameters.clear();
        }
        if events::coalesces(code, self.owed_events.iter().map(|e| e.code.as_str())) {
            return;
        }
        self.owed_events.push(OwedEvent {
            code: code.to_owned(),
            command_key: command_key.to_owned(),
        });
    }

    /// A configuration file names instances (`Device.NAT.PortMapping.3.Enable`): the tables it
    /// writes into get those instances, and their counters move past them (never reused).
    fn create_implied_instances(&mut self, name: &str) {
        let mut table = String::new();
        let mut segments = name.split('.').peekable();
        while let Some(seg) = segments.next() {
            if segments.peek().is_none() {
                break;
            }
            if !table.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) && !seg.starts_with('0')
            {
                if let Ok(n) = seg.parse::<u32>() {
                    self.object_instances
                        .entry(table.clone())
                        .or_default()
                        .insert(n);
                    let next = self.instance_counters.entry(table.clone()).or_insert(1);
                    *next = (*next).max(n.saturating_add(1));
                }
            }
            table.push_str(seg);
            table.push('.');
        }
    }

    /// The effective settings over the device's factory defaults.
    pub fn effective_settings(&self, factory: &BTreeMap<String, String>) -> Settings {
        Settings::new(self.settings.clone(), factory.clone())
    }

    /// The operator-facing status.
    pub fn status(&self, settings: &Settings) -> Status {
        if !settings.enabled() {
            Status::Disabled
        } else if settings.acs_url().is_empty() {
            Status::WaitingUrl
        } else {
            Status::Running
        }
    }

    /// The events the next Inform carries: every owed event, plus `7 TRANSFER COMPLETE` and one
    /// `M Download`/`M Upload`/`M ScheduleDownload` per completed, unacknowledged transfer.
    pub fn inform_events(&self) -> Vec<EventStruct> {
        let mut out: Vec<EventStruct> = self
            .owed_events
            .iter()
            .map(|e| EventStruct::new(&e.code, &e.command_key))
            .collect();
        let completed: Vec<&proto::TransferAccepted> = self
            .transfers
            .values()
            .filter(|t| stage(t) == proto::TransferStage::Completed)
            .filter_map(|t| t.accepted.as_ref())
            .collect();
        // Passive changes ride the next Inform with a VALUE CHANGE of their own.
        if !self.changed_parameters.is_empty()
            && !out.iter().any(|e| e.event_code == ec::VALUE_CHANGE)
        {
            out.push(EventStruct::new(ec::VALUE_CHANGE, ""));
        }
        if !completed.is_empty() && !out.iter().any(|e| e.event_code == ec::TRANSFER_COMPLETE) {
            out.push(EventStruct::new(ec::TRANSFER_COMPLETE, ""));
        }
        for t in completed {
            let code = match proto::TransferKind::try_from(t.kind) {
                Ok(proto::TransferKind::Upload) => ec::M_UPLOAD,
                Ok(proto::TransferKind::ScheduleDownload) => ec::M_SCHEDULE_DOWNLOAD,
                _ => ec::M_DOWNLOAD,
            };
            if !t.autonomous {
                out.push(EventStruct::new(code, &t.command_key));
            }
        }
        out
    }

    /// Whether anything is owed that warrants a session now.
    pub fn has_owed_events(&self) -> bool {
        // Passive value changes alone never start a session: they wait for the next one.
        !self.owed_events.is_empty()
            || self
                .transfers
                .values()
                .any(|t| stage(t) == proto::TransferStage::Completed)
    }

    /// Rebuilds a state from a snapshot record.
    pub fn from_snapshot(s: &proto::AgentSnapshot) -> AgentState {
        AgentState {
            last_seq: 0,
            boot_id: s.boot_id.clone(),
            software_version: s.software_version.clone(),
            settings: btree_map(s.settings.iter().map(|(k, v)| (k.clone(), v.value.clone()))),
            owed_events: s
                .owed_events
                .iter()
                .map(|e| OwedEvent {
                    code: e.code.clone(),
                    command_key: e.command_key.clone(),
                })
                .collect(),
            retry_count: s.retry_count,
            last_session_error: s.last_session_error.clone(),
            last_session_end_ms: s.last_session_end_ms,
            last_successful_session_end_ms: s.last_successful_session_end_ms,
            first_use_ms: s.first_use_ms,
            next_retry_at_ms: s.next_retry_at_ms,
            session_in_progress: Some(s.session_in_progress.clone()).filter(|id| !id.is_empty()),
            pending_schedule_informs: s
                .pending_schedule_informs
                .iter()
                .map(|p| PendingScheduleInform {
                    command_key: p.command_key.clone(),
                    due_at_ms: u64::try_from(p.due_at_unix)
                        .unwrap_or(0)
                        .saturating_mul(1000),
                })
                .collect(),
            pending_reboot: s.pending_reboot.as_ref().map(|r| PendingReboot {
                command_key: r.command_key.clone(),
                factory_reset: r.factory_reset,
                firmware: r.firmware,
                reboot_rpc: r.reboot_rpc || (!r.factory_reset && !r.firmware),
                attempts: r.attempts,
                attempt_boot_id: r.attempt_boot_id.clone(),
            }),
            parameter_key: s.parameter_key.clone(),
            parameters: btree_map(s.parameter_values.iter().map(|(k, v)| {
                (
                    k.clone(),
                    StoredParameter {
                        value: v.value.clone(),
                        xsd_type: v.xsd_type.clone(),
                    },
                )
            })),
            attributes: btree_map(s.attributes.iter().map(|(k, v)| {
                (
                    k.clone(),
                    StoredAttributes {
                        notification: v.notification,
                        access_list: v.access_list.clone(),
                    },
                )
            })),
            instance_counters: btree_map(s.instance_counters.iter().map(|(k, v)| (k.clone(), *v))),
            object_instances: btree_map(
                s.object_instances
                    .iter()
                    .map(|(k, v)| (k.clone(), btree_set(v.instances.iter().copied()))),
            ),
            changed_parameters: btree_map(
                s.changed_parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            ),
            transfers: btree_map(s.transfers.iter().filter_map(|t| {
                t.accepted
                    .as_ref()
                    .map(|a| (a.transfer_id.clone(), t.clone()))
            })),
            recoveries: Vec::new(),
        }
    }

    /// The snapshot record of this state. `secret_settings` names settings to mark secret.
    pub fn to_snapshot(&self) -> proto::AgentSnapshot {
        proto::AgentSnapshot {
            owed_events: self
                .owed_events
                .iter()
                .map(|e| proto::EventRef {
                    code: e.code.clone(),
                    command_key: e.command_key.clone(),
                })
                .collect(),
            retry_count: self.retry_count,
            settings: btree_map(self.settings.iter().map(|(k, v)| {
                let secret = settings::setting(k).is_some_and(|d| d.is_secret());
                (
                    k.clone(),
                    proto::Setting {
                        value: v.clone(),
                        secret,
                    },
                )
            })),
            parameter_values: btree_map(self.parameters.iter().map(|(k, v)| {
                (
                    k.clone(),
                    proto::StoredParameter {
                        value: v.value.clone(),
                        xsd_type: v.xsd_type.clone(),
                    },
                )
            })),
            attributes: btree_map(self.attributes.iter().map(|(k, v)| {
                (
                    k.clone(),
                    proto::StoredAttributes {
                        notification: v.notification,
                        access_list: v.access_list.clone(),
                    },
                )
            })),
            instance_counters: btree_map(
                self.instance_counters.iter().map(|(k, v)| (k.clone(), *v)),
            ),
            object_instances: btree_map(self.object_instances.iter().map(|(k, v)| {
                (
                    k.clone(),
                    proto::ObjectInstances {
                        instances: v.iter().copied().collect(),
                    },
                )
            })),
            transfers: self.transfers.values().cloned().collect(),
            pending_schedule_informs: self
                .pending_schedule_informs
                .iter()
                .map(|p| proto::ScheduleInformRequested {
                    command_key: p.command_key.clone(),
                    due_at_unix: i64::try_from(p.due_at_ms / 1000).unwrap_or(i64::MAX),
                })
                .collect(),
            boot_id: self.boot_id.clone(),
            software_version: self.software_version.clone(),
            last_session_error: self.last_session_error.clone(),
            parameter_key: self.parameter_key.clone(),
            next_retry_at_ms: self.next_retry_at_ms,
            last_session_end_ms: self.last_session_end_ms,
            last_successful_session_end_ms: self.last_successful_session_end_ms,
            first_use_ms: self.first_use_ms,
            session_in_progress: self.session_in_progress.clone().unwrap_or_default(),
            pending_reboot: self.pending_reboot.as_ref().map(|r| proto::PendingReboot {
                command_key: r.command_key.clone(),
                factory_reset: r.factory_reset,
                firmware: r.firmware,
                reboot_rpc: r.reboot_rpc,
                attempts: r.attempts,
                attempt_boot_id: r.attempt_boot_id.clone(),
            }),
            changed_parameters: btree_map(
                self.changed_parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            ),
        }
    }
}

/// `RebootRequested.reason` marking a reboot that follows a FactoryReset.
pub const REBOOT_REASON_FACTORY_RESET: &str = "FactoryReset";
/// `RebootRequested.reason` of the reboot that activates a firmware image.
pub const REBOOT_REASON_FIRMWARE: &str = "Firmware";

/// `Device.IP.Interface.3.` → (`Device.IP.Interface.`, 3).
pub fn split_instance_path(path: &str) -> Option<(&str, u32)> {
    let trimmed = path.strip_suffix('.')?;
    let dot = trimmed.rfind('.')?;
    let instance = trimmed[dot + 1..].parse().ok()?;
    Some((&path[..=dot], instance))
}

/// A transfer's last journaled stage (`Accepted` until the first stage record). With
/// [`stage_of`], the one place a stage is decoded from its record.
pub fn stage(t: &proto::TransferState) -> proto::TransferStage {
    t.last_stage
        .as_ref()
        .map_or(proto::TransferStage::Accepted, stage_of)
}

/// The stage a stage record names (`Unspecified` for a number this build does not know).
pub fn stage_of(s: &proto::TransferStageChanged) -> proto::TransferStage {
    proto::TransferStage::try_from(s.stage).unwrap_or(proto::TransferStage::Unspecified)
}

/// Builds a record from its kind.
pub fn record(kind: Kind) -> Record {
    Record { kind: Some(kind) }
}

/// An `EventRaised` record.
pub fn event_raised(code: &str, command_key: &str) -> Record {
    record(Kind::EventRaised(proto::EventRaised {
        code: code.to_owned(),
        command_key: command_key.to_owned(),
    }))
}

/// The records a settings change writes: the `SettingsChanged` itself and, when the ACS URL
/// changes, `0 BOOTSTRAP` (a new ACS gets a fresh start).
pub fn settings_change_records(
    current: &Settings,
    name: &str,
    canonical_value: &str,
    source: proto::ChangeSource,
) -> Vec<Record> {
    let secret = settings::setting(name).is_some_and(|d| d.is_secret());
    let mut out = vec![record(Kind::SettingsChanged(proto::SettingsChanged {
        key: name.to_owned(),
        value: canonical_value.to_owned(),
        source: source as i32,
        secret,
    }))];
    if name == "acs-url" {
        out.extend(bootstrap_for_acs_url(current.acs_url(), canonical_value));
    }
    out
}

/// The one rule for a changed ACS URL, whoever changes it (the operator's `set`, the ACS's
/// SetParameterValues of Device.ManagementServer.URL): a new ACS is owed `0 BOOTSTRAP`.
pub fn bootstrap_for_acs_url(current: &str, new: &str) -> Option<Record> {
    (!new.is_empty() && new != current).then(|| event_raised(ec::BOOTSTRAP, ""))
}

/// The records of the operator's `reset-tr069-config`: forget configuration and state, and owe
/// a BOOTSTRAP to whichever ACS is configured next.
pub fn config_reset_records() -> Vec<Record> {
    vec![
        record(Kind::ConfigReset(proto::ConfigReset {})),
        event_raised(ec::BOOTSTRAP, ""),
    ]
}

#[cfg(test)]
mod tests;
