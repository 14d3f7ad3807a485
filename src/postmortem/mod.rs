//! The post-mortem report: a journal read back as a timeline model an operator can look at.
//!
//! [`Timeline::build`] is pure: stored records (and the device's factory settings, which the
//! `state --at` view needs) in, a [`Timeline`] out. It folds the records exactly as
//! `journal state --at` does and watches what each record changes, so every lane says what the
//! agent itself concluded:
//!
//! - **starts**: every `BootObserved` — a device boot (new boot id) or a process restart — and
//!   what came before it: a clean stop (`AgentStopped`), a reboot the agent asked for
//!   (`RebootAttempted`), or nothing, which is a crash, a kill or a power loss (with the gap in
//!   the journal before the start);
//! - **sessions**: start, end, outcome and reason, the retry count, the wait chosen before the
//!   next attempt and the time until the next session really started;
//! - **events**: what the next Inform carries (`AgentState::inform_events`), from the record
//!   that made it owed to the record that delivered it (an acknowledged Inform, an acknowledged
//!   TransferComplete) or dropped it — and by which retention rule (`state::events`);
//! - **transfers**: each stage, the download's checkpoints (bytes over time) and resumes, the
//!   apply, the reboots in between, TransferComplete and its acknowledgement;
//! - **changes**: settings and parameters, by source (CLI, ACS, configuration file, host);
//! - **journal**: snapshots (compactions) and recoveries from a damaged store.
//!
//! Every record also gets its masked JSON ([`crate::records::export_json`]) for hovering, and
//! the `state --at` view after it (as a diff of top-level keys) for clicking. Secrets are masked
//! everywhere ([`crate::records::is_secret_name`], [`crate::records::mask_url`]).
//!
//! `html::render` turns a timeline into one self-contained HTML file (the template is
//! `report.html`, included at build time; cargo feature `html-report`, off in the router's
//! build); [`Timeline::jsonl`] into JSON lines (every build).

#[cfg(feature = "html-report")]
pub mod html;

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::control::{RuntimeInfo, StatusView};
use crate::records::proto::{ChangeSource, SessionOutcome, TransferStage, record::Kind};
use crate::records::{StoredRecord, export_json, is_secret_name, mask_url, rfc3339_utc};
use crate::state::AgentState;
use crate::state::events::rules;

use crate::state::boot::INTERRUPTED_SESSION_REASON as INTERRUPTED_SESSION;

/// Longest string kept in a record's hover data; longer ones are cut (the full record is in
/// `journal export`).
const MAX_SHOWN_CHARS: usize = 240;

/// The report's model of one journal.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    pub first_seq: u64,
    pub last_seq: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    /// Records before `first_seq` were compacted away (the journal keeps a snapshot instead).
    pub compacted_before: bool,
    /// Boot ids in order of appearance (records refer to them by index).
    pub boot_ids: Vec<String>,
    pub starts: Vec<Start>,
    pub stops: Vec<Stop>,
    pub sessions: Vec<Session>,
    pub events: Vec<Event>,
    pub transfers: Vec<Transfer>,
    pub changes: Vec<Change>,
    pub journal: Vec<JournalMark>,
    /// One per record, in order.
    pub records: Vec<RecordRow>,
    /// `state --at` after each record: the first record's view whole, then per record the
    /// top-level keys that changed.
    pub states: StateFrames,
}

/// A `BootObserved`: a device boot or a process restart.
#[derive(Debug, Clone, Serialize)]
pub struct Start {
    pub seq: u64,
    pub at_ms: u64,
    pub boot_id: String,
    pub software_version: String,
    /// A new boot id: the device rebooted.
    pub device_boot: bool,
    /// What preceded it: `first` (nothing in the journal before it), `clean-stop`,
    /// `agent-reboot` (the agent ran the reboot hook), or `crash` (no clean stop).
    pub after: String,
    /// Crash: the last record before the start and the time between them.
    pub last_seq_before: Option<u64>,
    pub gap_ms: Option<u64>,
    /// Crash: a session was in progress when the agent died.
    pub session_interrupted: bool,
}

/// An `AgentStopped`.
#[derive(Debug, Clone, Serialize)]
pub struct Stop {
    pub seq: u64,
    pub at_ms: u64,
    pub reason: String,
}

/// One CWMP session.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub start_seq: u64,
    pub start_ms: u64,
    pub end_seq: Option<u64>,
    pub end_ms: Option<u64>,
    /// `succeeded`, `failed`, or `open` (no end in the journal).
    pub outcome: String,
    pub reason: String,
    pub http_status: Option<u32>,
    pub retry_count: u32,
    pub event_codes: Vec<String>,
    /// Events the ACS acknowledged in this session's Inform.
    pub delivered: Vec<String>,
    /// The wait the agent chose before the next attempt (a failed session).
    pub retry_after_seconds: Option<u32>,
    /// When the next session started (the real wait).
    pub next_start_ms: Option<u64>,
    pub acs_url: String,
}

/// One event the Inform carries, from owed to delivered or dropped.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub code: String,
    pub command_key: String,
    pub raised_seq: u64,
    pub raised_ms: u64,
    /// `owed` (still owed at the end), `delivered`, or `dropped`.
    pub fate: String,
    pub end_seq: Option<u64>,
    pub end_ms: Option<u64>,
    /// Delivered: the session; dropped: the retention rule.
    pub detail: String,
    /// Raised again while owed: merged into this one (single events).
    pub coalesced: Vec<u64>,
}

/// One transfer.
#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub id: String,
    pub kind: String,
    pub file_type: String,
    pub command_key: String,
    pub url: String,
    pub autonomous: bool,
    pub accepted_seq: u64,
    pub accepted_ms: u64,
    /// `acknowledged`, `cancelled`, or the last stage reached.
    pub state: String,
    pub fault_code: u32,
    pub steps: Vec<Step>,
}

/// A point on a transfer's lane.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub seq: u64,
    pub at_ms: u64,
    /// A stage name (`waiting`, `downloading`, `downloaded`, `applying`, `applied`,
    /// `completed`, …), or `resumed`, `reboot`, `restart`, `acknowledged`.
    pub what: String,
    pub bytes_done: Option<u64>,
    pub bytes_total: Option<u64>,
    pub fault_code: u32,
    pub detail: String,
}

/// A change of settings or parameters.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub seq: u64,
    pub at_ms: u64,
    /// `acs`, `cli`, `host`, `config-file`, `factory-reset`, `reset`.
    pub source: String,
    /// `name=value` (secrets masked).
    pub items: Vec<String>,
}

/// A snapshot (with compaction) or a recovery from a damaged store.
#[derive(Debug, Clone, Serialize)]
pub struct JournalMark {
    pub seq: u64,
    pub at_ms: u64,
    /// `snapshot` or `recovered`.
    pub kind: String,
    pub detail: String,
}

/// One record for hovering.
#[derive(Debug, Clone, Serialize)]
pub struct RecordRow {
    pub seq: u64,
    pub at_ms: u64,
    /// Index into [`Timeline::boot_ids`].
    pub boot: usize,
    #[serde(rename = "type")]
    pub type_name: String,
    pub summary: String,
    /// The record's fields as `journal export` shows them (secrets masked), zero values left
    /// out, long strings cut.
    pub fields: Value,
}

/// `state --at` after every record.
#[derive(Debug, Clone, Serialize, Default)]
pub struct StateFrames {
    /// The view after the first record.
    pub first: Value,
    /// Per record after the first: the top-level keys whose value changed.
    pub diffs: Vec<Map<String, Value>>,
}

impl StateFrames {
    /// The view after record number `index` (0-based), rebuilt as the report's script does.
    pub fn at(&self, index: usize) -> Value {
        let mut view = self.first.clone();
        if let Value::Object(map) = &mut view {
            for diff in self.diffs.iter().take(index) {
                for (k, v) in diff {
                    map.insert(k.clone(), v.clone());
                }
            }
        }
        view
    }
}

/// The `state --at` view of a folded state (what `journal state` prints).
pub fn state_view(state: &AgentState, factory: &BTreeMap<String, String>) -> StatusView {
    let settings = state.effective_settings(factory);
    StatusView::build(state, &settings, RuntimeInfo::default())
}

fn source_name(source: i32) -> String {
    ChangeSource::try_from(source)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("CHANGE_SOURCE_")
                .to_ascii_lowercase()
                .replace('_', "-")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn stage_name(stage: i32) -> String {
    TransferStage::try_from(stage)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("TRANSFER_STAGE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| format!("stage {stage}"))
}

fn shown(name: &str, value: &str, secret: bool) -> String {
    if (secret || is_secret_name(name)) && !value.is_empty() {
        format!("{name}=***")
    } else {
        format!("{name}={}", clip(value))
    }
}

fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{}… ({} characters)", &text[..cut], text.chars().count()),
        None => text.to_owned(),
    }
}

/// The export's fields without zero values, long strings cut.
fn compact(v: Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::Bool(false) => None,
        Value::Number(n) if n.as_f64() == Some(0.0) => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(Value::String(clip(&s))),
        Value::Array(a) => {
            let a: Vec<Value> = a
                .into_iter()
                .map(|x| compact(x).unwrap_or(Value::Null))
                .collect();
            (!a.is_empty()).then_some(Value::Array(a))
        }
        Value::Object(m) => {
            // `extend`, not `collect()`: see crate::ordering.
            let mut kept = Map::new();
            kept.extend(
                m.into_iter()
                    .filter_map(|(k, v)| compact(v).map(|v| (k, v))),
            );
            let m = kept;
            (!m.is_empty()).then_some(Value::Object(m))
        }
        other => Some(other),
    }
}

/// What a retention rule says about why `code` left the owed list at this record.
fn drop_rule(code: &str, record: &Kind) -> String {
    let r = rules(code);
    match record {
        Kind::SessionEnded(_) if !r.kept_on_failed_session => {
            format!("{code} is not kept after a failed session")
        }
        Kind::BootObserved(b) if b.new_boot && !r.kept_on_reboot => {
            format!("{code} is not kept over a reboot")
        }
        Kind::EventRaised(e) if e.code == crate::cwmp::rpc::inform::event_code::BOOTSTRAP => {
            "a new 0 BOOTSTRAP drops what was owed to the previous ACS".to_owned()
        }
        Kind::ConfigReset(_) => "reset-tr069-config".to_owned(),
        Kind::Snapshot(_) => "not in the snapshot that replaced the state".to_owned(),
        Kind::TransferStageChanged(_) => "the transfer was cancelled".to_owned(),
        Kind::RebootAbandoned(_) => "the reboot was given up".to_owned(),
        other => format!(
            "removed by {}",
            crate::records::Record {
                kind: Some(other.clone())
            }
            .type_name()
            .unwrap_or("a record")
        ),
    }
}

struct Builder<'f> {
    factory: &'f BTreeMap<String, String>,
    state: AgentState,
    t: Timeline,
    open_sessions: BTreeMap<String, usize>,
    /// (code, key) → indices of open events, oldest first.
    owed: BTreeMap<(String, String), VecDeque<usize>>,
    transfers: BTreeMap<String, usize>,
    /// Since the last start: a clean stop or a reboot attempt.
    stopped_cleanly: Option<&'static str>,
    seen_start: bool,
    /// The last record before the current one, not counting what a start writes for the
    /// process that died (the interrupted session's end).
    prev: Option<(u64, u64)>,
    /// A start is closing a session the dead process left open.
    interrupted_pending: bool,
    last_view: Option<Map<String, Value>>,
    /// The last download progress of each transfer (to tell a resume).
    last_bytes: BTreeMap<String, u64>,
    restarted_since: BTreeMap<String, bool>,
}

impl Timeline {
    /// Builds the timeline of `records` (in journal order). `factory` is the device's factory
    /// settings (`[settings]` of the configuration), as `journal state` uses them.
    pub fn build<'a>(
        records: impl IntoIterator<Item = &'a StoredRecord>,
        factory: &BTreeMap<String, String>,
    ) -> Timeline {
        let mut b = Builder {
            factory,
            state: AgentState::default(),
            t: Timeline {
                first_seq: 0,
                last_seq: 0,
                first_ms: 0,
                last_ms: 0,
                compacted_before: false,
                boot_ids: Vec::new(),
                starts: Vec::new(),
                stops: Vec::new(),
                sessions: Vec::new(),
                events: Vec::new(),
                transfers: Vec::new(),
                changes: Vec::new(),
                journal: Vec::new(),
                records: Vec::new(),
                states: StateFrames::default(),
            },
            open_sessions: BTreeMap::new(),
            owed: BTreeMap::new(),
            transfers: BTreeMap::new(),
            stopped_cleanly: None,
            seen_start: false,
            prev: None,
            interrupted_pending: false,
            last_view: None,
            last_bytes: BTreeMap::new(),
            restarted_since: BTreeMap::new(),
        };
        for rec in records {
            b.record(rec);
        }
        b.t
    }

    /// Sessions in the journal (one per `SessionStarted`).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// The timeline as JSON lines: one `{"lane": …}` object per item, in time order within each
    /// lane, preceded by a `report` line; secrets masked.
    pub fn jsonl(&self, set_aside: Option<&SetAside>) -> String {
        let mut out = String::new();
        let mut line = |lane: &str, item: Value| {
            let mut obj = Map::new();
            obj.insert("lane".into(), lane.into());
            if let Value::Object(m) = item {
                for (k, v) in m {
                    obj.insert(k, v);
                }
            }
            for key in ["at_ms", "start_ms", "raised_ms", "accepted_ms"] {
                if let Some(ms) = obj.get(key).and_then(Value::as_u64) {
                    obj.insert("time".into(), rfc3339_utc(ms).into());
                    break;
                }
            }
            out.push_str(&Value::Object(obj).to_string());
            out.push('\n');
        };
        let head = serde_json::json!({
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "records": self.records.len(),
            "first_time": rfc3339_utc(self.first_ms),
            "last_time": rfc3339_utc(self.last_ms),
            "compacted_before": self.compacted_before,
            "set_aside": set_aside,
        });
        line("report", head);
        let lanes: [(&str, Vec<Value>); 7] = [
            ("start", to_values(&self.starts)),
            ("stop", to_values(&self.stops)),
            ("session", to_values(&self.sessions)),
            ("event", to_values(&self.events)),
            ("transfer", to_values(&self.transfers)),
            ("change", to_values(&self.changes)),
            ("journal", to_values(&self.journal)),
        ];
        for (lane, items) in lanes {
            for item in items {
                line(lane, item);
            }
        }
        out
    }
}

fn to_values<T: Serialize>(items: &[T]) -> Vec<Value> {
    items
        .iter()
        .map(|i| serde_json::to_value(i).unwrap_or(Value::Null))
        .collect()
}

/// What opening the store for the report did to a damaged store.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SetAside {
    pub reason: String,
    pub moved_aside_to: String,
    pub lost_from_seq: u64,
    pub lost_to_seq: u64,
}

impl Builder<'_> {
    fn record(&mut self, rec: &StoredRecord) {
        let (seq, at) = (rec.seq, rec.time_ms);
        if self.t.records.is_empty() {
            self.t.first_seq = seq;
            self.t.first_ms = at;
            self.t.compacted_before = seq > 1;
        }
        self.t.last_seq = seq;
        self.t.first_ms = self.t.first_ms.min(at);
        self.t.last_ms = self.t.last_ms.max(at);
        let boot = match self.t.boot_ids.iter().position(|b| *b == rec.boot_id) {
            Some(i) => i,
            None => {
                self.t.boot_ids.push(rec.boot_id.clone());
                self.t.boot_ids.len() - 1
            }
        };
        let export: Value = serde_json::from_str(&export_json(rec)).unwrap_or(Value::Null);
        let type_name = export["type"].as_str().unwrap_or("Unknown").to_owned();
        let fields = compact(export["record"].clone()).unwrap_or(Value::Object(Map::new()));
        self.t.records.push(RecordRow {
            seq,
            at_ms: at,
            boot,
            type_name,
            summary: crate::records::summary(rec),
            fields,
        });

        let before: Vec<(String, String)> = self.owed_now();
        if let Some(kind) = &rec.record.kind {
            self.lanes_before_fold(seq, at, kind);
        }
        self.state.apply(seq, at, &rec.record);
        if let Some(kind) = &rec.record.kind {
            self.events_after_fold(seq, at, kind, &before);
        }
        let start_up_record = matches!(
            &rec.record.kind,
            Some(Kind::SessionEnded(s)) if s.reason == INTERRUPTED_SESSION
        );
        if !start_up_record {
            self.prev = Some((seq, at));
        }
        self.state_frame();
    }

    fn owed_now(&self) -> Vec<(String, String)> {
        self.state
            .inform_events()
            .into_iter()
            .map(|e| (e.event_code, e.command_key))
            .collect()
    }

    fn state_frame(&mut self) {
        let view = match serde_json::to_value(state_view(&self.state, self.factory)) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        match &self.last_view {
            None => self.t.states.first = Value::Object(view.clone()),
            Some(last) => {
                let mut diff = Map::new();
                diff.extend(
                    view.iter()
                        .filter(|(k, v)| last.get(*k) != Some(*v))
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                self.t.states.diffs.push(diff);
            }
        }
        self.last_view = Some(view);
    }

    fn change(&mut self, seq: u64, at_ms: u64, source: String, items: Vec<String>) {
        self.t.changes.push(Change {
            seq,
            at_ms,
            source,
            items,
        });
    }

    fn transfer_step(&mut self, id: &str, step: Step) -> Option<&mut Transfer> {
        let i = *self.transfers.get(id)?;
        let t = &mut self.t.transfers[i];
        t.steps.push(step);
        Some(t)
    }

    fn lanes_before_fold(&mut self, seq: u64, at: u64, kind: &Kind) {
        match kind {
            Kind::BootObserved(b) => {
                let after = if !self.seen_start {
                    if self.t.compacted_before {
                        "unknown"
                    } else {
                        "first"
                    }
                    .to_owned()
                } else {
                    self.stopped_cleanly.unwrap_or("crash").to_owned()
                };
                let crash = after == "crash";
                let (last_seq_before, gap_ms) = match self.prev {
                    Some((s, t)) if crash => (Some(s), Some(at.saturating_sub(t))),
                    _ => (None, None),
                };
                self.t.starts.push(Start {
                    seq,
                    at_ms: at,
                    boot_id: b.boot_id.clone(),
                    software_version: b.software_version.clone(),
                    device_boot: b.new_boot,
                    after,
                    last_seq_before,
                    gap_ms,
                    session_interrupted: std::mem::take(&mut self.interrupted_pending),
                });
                self.seen_start = true;
                self.stopped_cleanly = None;
                // Transfers in flight see the reboot or the restart.
                let open: Vec<String> = self
                    .transfers
                    .iter()
                    .filter(|(_, i)| {
                        !matches!(
                            self.t.transfers[**i].state.as_str(),
                            "acknowledged" | "cancelled"
                        )
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in open {
                    self.restarted_since.insert(id.clone(), true);
                    self.transfer_step(
                        &id,
                        Step {
                            seq,
                            at_ms: at,
                            what: if b.new_boot { "reboot" } else { "restart" }.to_owned(),
                            bytes_done: None,
                            bytes_total: None,
                            fault_code: 0,
                            detail: format!("boot {}, running {}", b.boot_id, b.software_version),
                        },
                    );
                }
            }
            Kind::AgentStopped(s) => {
                self.stopped_cleanly = Some("clean-stop");
                self.t.stops.push(Stop {
                    seq,
                    at_ms: at,
                    reason: s.reason.clone(),
                });
            }
            Kind::RebootAttempted(_) => self.stopped_cleanly = Some("agent-reboot"),
            Kind::SessionStarted(s) => {
                if let Some(prev) = self.t.sessions.last_mut() {
                    prev.next_start_ms.get_or_insert(at);
                }
                self.open_sessions
                    .insert(s.session_id.clone(), self.t.sessions.len());
                self.t.sessions.push(Session {
                    id: s.session_id.clone(),
                    start_seq: seq,
                    start_ms: at,
                    end_seq: None,
                    end_ms: None,
                    outcome: "open".into(),
                    reason: String::new(),
                    http_status: None,
                    retry_count: s.retry_count,
                    event_codes: s.event_codes.clone(),
                    delivered: Vec::new(),
                    retry_after_seconds: None,
                    next_start_ms: None,
                    acs_url: mask_url(&s.acs_url),
                });
            }
            Kind::SessionEnded(s) => {
                if let Some(i) = self.open_sessions.remove(&s.session_id) {
                    let session = &mut self.t.sessions[i];
                    session.end_seq = Some(seq);
                    session.end_ms = Some(at);
                    session.outcome = if s.outcome == SessionOutcome::Succeeded as i32 {
                        "succeeded"
                    } else {
                        "failed"
                    }
                    .into();
                    session.reason = s.reason.clone();
                    session.http_status = s.http_status;
                    session.retry_after_seconds = s.retry_after_seconds;
                    if s.reason == INTERRUPTED_SESSION {
                        // Written by the start that follows the death, just before its
                        // BootObserved.
                        self.interrupted_pending = true;
                    }
                }
            }
            Kind::InformAcknowledged(a) => {
                if let Some(&i) = self.open_sessions.get(&a.session_id) {
                    self.t.sessions[i].delivered.extend(
                        a.delivered
                            .iter()
                            .map(|e| event_label(&e.code, &e.command_key)),
                    );
                }
            }
            Kind::TransferAccepted(a) => {
                self.transfers
                    .insert(a.transfer_id.clone(), self.t.transfers.len());
                self.t.transfers.push(Transfer {
                    id: a.transfer_id.clone(),
                    kind: crate::records::proto::TransferKind::try_from(a.kind)
                        .map(|k| {
                            k.as_str_name()
                                .trim_start_matches("TRANSFER_KIND_")
                                .to_ascii_lowercase()
                        })
                        .unwrap_or_default(),
                    file_type: a.file_type.clone(),
                    command_key: a.command_key.clone(),
                    url: mask_url(&a.url),
                    autonomous: a.autonomous,
                    accepted_seq: seq,
                    accepted_ms: at,
                    state: "accepted".into(),
                    fault_code: 0,
                    steps: vec![Step {
                        seq,
                        at_ms: at,
                        what: "accepted".into(),
                        bytes_done: None,
                        bytes_total: (a.file_size > 0).then_some(a.file_size),
                        fault_code: 0,
                        detail: String::new(),
                    }],
                });
            }
            Kind::TransferStageChanged(s) => {
                let what = stage_name(s.stage);
                let downloading = s.stage == TransferStage::Downloading as i32;
                let mut resumed = None;
                if downloading {
                    let last = self.last_bytes.get(&s.transfer_id).copied();
                    let restarted = self.restarted_since.remove(&s.transfer_id).unwrap_or(false);
                    if let Some(last) = last {
                        if s.bytes_done < last || restarted {
                            resumed = Some(s.bytes_done);
                        }
                    }
                    self.last_bytes.insert(s.transfer_id.clone(), s.bytes_done);
                }
                let detail = match TransferStage::try_from(s.stage) {
                    Ok(TransferStage::Waiting) => format!(
                        "until {}",
                        rfc3339_utc(u64::try_from(s.waiting_until).unwrap_or(0) * 1000)
                    ),
                    Ok(TransferStage::Downloaded) => {
                        format!("{} bytes, sha256 {}", s.size, s.sha256)
                    }
                    Ok(TransferStage::Applying) if !s.expected_version.is_empty() => {
                        format!("from {} to {}", s.previous_version, s.expected_version)
                    }
                    Ok(TransferStage::Completed) if s.fault_code != 0 => {
                        format!(
                            "TransferComplete owed: fault {} {}",
                            s.fault_code, s.fault_string
                        )
                    }
                    Ok(TransferStage::Completed) => "TransferComplete owed: success".into(),
                    _ => String::new(),
                };
                let (bytes_done, bytes_total) = if downloading {
                    (
                        Some(s.bytes_done),
                        (s.bytes_total > 0).then_some(s.bytes_total),
                    )
                } else if s.size > 0 {
                    (Some(s.size), Some(s.size))
                } else {
                    (None, None)
                };
                if let Some(from) = resumed {
                    self.transfer_step(
                        &s.transfer_id,
                        Step {
                            seq,
                            at_ms: at,
                            what: "resumed".into(),
                            bytes_done: Some(from),
                            bytes_total,
                            fault_code: 0,
                            detail: format!("resumed from the checkpoint at {from} bytes"),
                        },
                    );
                }
                if let Some(t) = self.transfer_step(
                    &s.transfer_id,
                    Step {
                        seq,
                        at_ms: at,
                        what: what.clone(),
                        bytes_done,
                        bytes_total,
                        fault_code: s.fault_code,
                        detail,
                    },
                ) {
                    t.state = what;
                    if s.fault_code != 0 {
                        t.fault_code = s.fault_code;
                    }
                }
            }
            Kind::TransferCompleteAcknowledged(a) => {
                if let Some(t) = self.transfer_step(
                    &a.transfer_id,
                    Step {
                        seq,
                        at_ms: at,
                        what: "acknowledged".into(),
                        bytes_done: None,
                        bytes_total: None,
                        fault_code: 0,
                        detail: "the ACS acknowledged TransferComplete".into(),
                    },
                ) {
                    t.state = "acknowledged".into();
                }
            }
            // The firmware reboot belongs to the transfers that applied an image.
            Kind::RebootRequested(r) if r.reason == crate::state::REBOOT_REASON_FIRMWARE => {
                let applied: Vec<String> = self
                    .transfers
                    .iter()
                    .filter(|(_, i)| {
                        matches!(self.t.transfers[**i].state.as_str(), "applying" | "applied")
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in applied {
                    self.transfer_step(
                        &id,
                        Step {
                            seq,
                            at_ms: at,
                            what: "reboot requested".into(),
                            bytes_done: None,
                            bytes_total: None,
                            fault_code: 0,
                            detail: "activates the image".into(),
                        },
                    );
                }
            }
            Kind::SettingsChanged(s) => {
                let item = shown(&s.key, &s.value, s.secret);
                self.change(seq, at, source_name(s.source), vec![item]);
            }
            Kind::ParametersSet(p) => {
                let items = p
                    .values
                    .iter()
                    .map(|v| shown(&v.name, &v.value, false))
                    .collect();
                self.change(seq, at, source_name(p.source), items);
            }
            Kind::ConfigurationApplied(c) => {
                let items = c
                    .values
                    .iter()
                    .map(|v| shown(&v.name, &v.value, false))
                    .collect();
                self.change(seq, at, "config-file".into(), items);
            }
            Kind::FactoryResetDone(_) => self.change(
                seq,
                at,
                "factory-reset".into(),
                vec!["factory reset".into()],
            ),
            Kind::ConfigReset(_) => {
                self.change(seq, at, "reset".into(), vec!["reset-tr069-config".into()])
            }
            Kind::Snapshot(s) => self.t.journal.push(JournalMark {
                seq,
                at_ms: at,
                kind: "snapshot".into(),
                detail: format!(
                    "snapshot of the folded state ({} owed event(s), {} transfer(s)); records \
                     before it may be compacted away",
                    s.owed_events.len(),
                    s.transfers.len()
                ),
            }),
            Kind::JournalRecovered(r) => self.t.journal.push(JournalMark {
                seq,
                at_ms: at,
                kind: "recovered".into(),
                detail: if r.lost_to_seq >= r.lost_from_seq {
                    format!(
                        "{}; records {}..={} lost; the damaged store was set aside at {}",
                        r.reason, r.lost_from_seq, r.lost_to_seq, r.moved_aside_to
                    )
                } else {
                    format!(
                        "{}; no acknowledged record lost; the damaged store was set aside at {}",
                        r.reason, r.moved_aside_to
                    )
                },
            }),
            _ => {}
        }
    }

    fn events_after_fold(&mut self, seq: u64, at: u64, kind: &Kind, before: &[(String, String)]) {
        let after = self.owed_now();
        let mut remaining: Vec<(String, String)> = after.clone();
        let mut removed = Vec::new();
        for e in before {
            match remaining.iter().position(|x| x == e) {
                Some(i) => {
                    remaining.remove(i);
                }
                None => removed.push(e.clone()),
            }
        }
        // `remaining` now holds what was added.
        for e in removed {
            let Some(i) = self.owed.get_mut(&e).and_then(VecDeque::pop_front) else {
                continue;
            };
            let ev = &mut self.t.events[i];
            ev.end_seq = Some(seq);
            ev.end_ms = Some(at);
            match kind {
                Kind::InformAcknowledged(a) => {
                    ev.fate = "delivered".into();
                    ev.detail = format!("in session {}", a.session_id);
                }
                Kind::TransferCompleteAcknowledged(a) => {
                    ev.fate = "delivered".into();
                    ev.detail = format!("with the TransferComplete of {}", a.transfer_id);
                }
                other => {
                    ev.fate = "dropped".into();
                    ev.detail = drop_rule(&e.0, other);
                }
            }
        }
        for e in remaining {
            self.owed
                .entry(e.clone())
                .or_default()
                .push_back(self.t.events.len());
            self.t.events.push(Event {
                code: e.0,
                command_key: e.1,
                raised_seq: seq,
                raised_ms: at,
                fate: "owed".into(),
                end_seq: None,
                end_ms: None,
                detail: match kind {
                    Kind::Snapshot(_) => "owed in the snapshot".into(),
                    _ => String::new(),
                },
                coalesced: Vec::new(),
            });
        }
        // Raised again while already owed: merged.
        if let Kind::EventRaised(r) = kind {
            let key = (r.code.clone(), r.command_key.clone());
            let added = after.iter().filter(|x| **x == key).count()
                > before.iter().filter(|x| **x == key).count();
            if !added {
                let open = self
                    .owed
                    .iter()
                    .find(|((code, _), q)| *code == r.code && !q.is_empty())
                    .and_then(|(_, q)| q.back().copied());
                if let Some(i) = open {
                    self.t.events[i].coalesced.push(seq);
                }
            }
        }
    }
}

fn event_label(code: &str, key: &str) -> String {
    if key.is_empty() {
        code.to_owned()
    } else {
        format!("{code} {key}")
    }
}

#[cfg(test)]
mod tests;
