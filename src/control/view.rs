//! What `print` shows: RouterOS's `/tr069-client print` plus what RouterOS lacks (next inform,
//! owed events, pending transfers, schedules, reboots and journal recoveries).
//!
//! [`StatusView`] is plain data (serde, for `print --json` and the control socket); secrets are
//! masked when it is built, so no rendering can leak them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::records::proto;
use crate::state::AgentState;
use crate::state::settings::{self, SETTINGS, Settings};

/// What only the running agent knows (the offline backend reports `Default`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// When the scheduler will next start a session (unix ms), if it knows.
    pub next_inform_at_ms: Option<u64>,
    /// A session is in progress right now.
    pub session_active: bool,
    /// The URL the ACS reaches the connection-request server at.
    pub connection_request_url: Option<String>,
    /// Live byte counts of transfers moving data now: id → (done, expected when known).
    #[serde(default)]
    pub transfer_progress: BTreeMap<String, (u64, Option<u64>)>,
}

/// An event the next Inform carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    pub code: String,
    pub command_key: String,
}

/// A transfer the agent is working on or still has to report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    pub id: String,
    /// download / upload (lower-case name of the transfer kind).
    pub kind: String,
    pub command_key: String,
    pub file_type: String,
    /// accepted, waiting, downloading, downloaded, applying, applied, completed, reported.
    pub stage: String,
    pub bytes_done: Option<u64>,
    pub bytes_total: Option<u64>,
    pub percent: Option<u8>,
    /// Waiting: until when (RFC 3339 UTC).
    pub waiting_until: Option<String>,
    /// Completed: the fault code reported (0: success).
    pub fault_code: Option<u32>,
}

/// A ScheduleInform waiting for its time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleInformView {
    pub command_key: String,
    pub due_at: String,
    pub due_at_ms: u64,
}

/// A reboot the ACS asked for that has not happened yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootView {
    pub command_key: String,
    pub factory_reset: bool,
}

/// A damaged store the journal recovered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryView {
    pub at: String,
    pub reason: String,
    pub lost_from_seq: u64,
    pub lost_to_seq: u64,
}

/// Everything `print` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    /// Every setting in display form (secrets `***`, durations `1h`, booleans yes/no).
    pub settings: BTreeMap<String, String>,
    /// disabled / waiting-URL / running.
    pub status: String,
    pub last_session_error: String,
    pub retry_count: u32,
    /// Whether a daemon answered (false when the CLI read the journal itself).
    pub daemon_running: bool,
    pub session_active: bool,
    pub next_inform_at: Option<String>,
    pub next_inform_at_ms: Option<u64>,
    /// When a failed session is retried (RFC 3339 UTC).
    pub next_retry_at: Option<String>,
    pub connection_request_url: Option<String>,
    /// Why every connection request is refused, when that follows from the settings (an empty
    /// `connection-request-username`: nobody can authenticate); `None` when they can succeed.
    #[serde(default)]
    pub connection_requests_refused: Option<String>,
    pub owed_events: Vec<EventView>,
    pub pending_transfers: Vec<TransferView>,
    pub pending_schedule_informs: Vec<ScheduleInformView>,
    pub pending_reboot: Option<RebootView>,
    pub journal_recoveries: Vec<RecoveryView>,
    pub boot_id: String,
    pub software_version: String,
    /// The journal sequence number this view is folded up to.
    pub last_seq: u64,
}

/// [`StatusView::connection_requests_refused`] when no connection-request username is set.
pub const EMPTY_CR_USERNAME: &str = "connection-request-username is empty";

/// The read-only values `get` accepts besides the settings.
pub const READ_ONLY: &[&str] = &["status", "last-session-error", "retry-count"];

fn stage_name(stage: i32) -> String {
    proto::TransferStage::try_from(stage)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("TRANSFER_STAGE_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| stage.to_string())
}

fn kind_name(kind: i32) -> String {
    proto::TransferKind::try_from(kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("TRANSFER_KIND_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| kind.to_string())
}

fn transfer_view(id: &str, t: &proto::TransferState) -> TransferView {
    let a = t.accepted.clone().unwrap_or_default();
    let s = t.last_stage.as_ref();
    let stage = s.map_or_else(|| "accepted".to_owned(), |s| stage_name(s.stage));
    let is = |st: proto::TransferStage| s.is_some_and(|s| s.stage == st as i32);
    let (bytes_done, bytes_total) = match s {
        Some(s) if is(proto::TransferStage::Downloading) => {
            let total = if s.bytes_total > 0 {
                Some(s.bytes_total)
            } else {
                (a.file_size > 0).then_some(a.file_size)
            };
            (Some(s.bytes_done), total)
        }
        Some(s) if s.size > 0 => (Some(s.size), Some(s.size)),
        _ => (None, (a.file_size > 0).then_some(a.file_size)),
    };
    let percent = match (bytes_done, bytes_total) {
        (Some(d), Some(t)) if t > 0 => {
            Some(u8::try_from((u128::from(d.min(t)) * 100 / u128::from(t)).min(100)).unwrap_or(100))
        }
        _ => None,
    };
    TransferView {
        id: id.to_owned(),
        kind: kind_name(a.kind),
        command_key: a.command_key.clone(),
        file_type: a.file_type.clone(),
        stage,
        bytes_done,
        bytes_total,
        percent,
        waiting_until: s.filter(|_| is(proto::TransferStage::Waiting)).map(|s| {
            crate::records::rfc3339_utc(
                u64::try_from(s.waiting_until)
                    .unwrap_or(0)
                    .saturating_mul(1000),
            )
        }),
        fault_code: s
            .filter(|_| is(proto::TransferStage::Completed))
            .map(|s| s.fault_code),
    }
}

impl StatusView {
    /// Builds the view of `state` under the effective `settings`.
    pub fn build(state: &AgentState, settings: &Settings, extra: RuntimeInfo) -> StatusView {
        let mut shown = BTreeMap::new();
        for def in SETTINGS {
            shown.insert(
                def.name.to_owned(),
                settings::display_value(def, &settings.get(def.name)),
            );
        }
        // Journaled keys this build does not know (a newer build wrote them): shown raw, masked
        // when their name says secret.
        for (k, v) in &state.settings {
            if settings::setting(k).is_none() {
                let v = if crate::records::is_secret_name(k) && !v.is_empty() {
                    "***".to_owned()
                } else {
                    v.clone()
                };
                shown.insert(k.clone(), v);
            }
        }
        StatusView {
            settings: shown,
            status: state.status(settings).to_string(),
            last_session_error: state.last_session_error.clone(),
            retry_count: state.retry_count,
            daemon_running: false,
            session_active: extra.session_active,
            next_inform_at: extra.next_inform_at_ms.map(crate::records::rfc3339_utc),
            next_inform_at_ms: extra.next_inform_at_ms,
            next_retry_at: state.next_retry_at_ms.map(crate::records::rfc3339_utc),
            connection_request_url: extra.connection_request_url,
            connection_requests_refused: settings
                .connection_request_username()
                .is_empty()
                .then(|| EMPTY_CR_USERNAME.to_owned()),
            owed_events: state
                .inform_events()
                .into_iter()
                .map(|e| EventView {
                    code: e.event_code,
                    command_key: e.command_key,
                })
                .collect(),
            pending_transfers: state
                .transfers
                .iter()
                .map(|(id, t)| {
                    let mut v = transfer_view(id, t);
                    // Between checkpoints the journal lags; the running worker knows better.
                    if let Some(&(done, total)) = extra.transfer_progress.get(id) {
                        v.bytes_done = Some(done);
                        v.bytes_total = total.or(v.bytes_total);
                        v.percent = v
                            .bytes_total
                            .filter(|t| *t > 0)
                            .map(|t| u8::try_from((done.min(t) * 100) / t).unwrap_or(100));
                    }
                    v
                })
                .collect(),
            pending_schedule_informs: state
                .pending_schedule_informs
                .iter()
                .map(|p| ScheduleInformView {
                    command_key: p.command_key.clone(),
                    due_at: crate::records::rfc3339_utc(p.due_at_ms),
                    due_at_ms: p.due_at_ms,
                })
                .collect(),
            pending_reboot: state.pending_reboot.as_ref().map(|r| RebootView {
                command_key: r.command_key.clone(),
                factory_reset: r.factory_reset,
            }),
            journal_recoveries: state
                .recoveries
                .iter()
                .map(|r| RecoveryView {
                    at: crate::records::rfc3339_utc(r.at_ms),
                    reason: r.reason.clone(),
                    lost_from_seq: r.lost_from_seq,
                    lost_to_seq: r.lost_to_seq,
                })
                .collect(),
            boot_id: state.boot_id.clone(),
            software_version: state.software_version.clone(),
            last_seq: state.last_seq,
        }
    }

    /// A value `get` can show: a setting (display form) or a read-only value.
    pub fn get(&self, name: &str) -> Option<String> {
        match name {
            "status" => Some(self.status.clone()),
            "last-session-error" => Some(self.last_session_error.clone()),
            "retry-count" => Some(self.retry_count.to_string()),
            _ => self.settings.get(name).cloned(),
        }
    }
}

/// Quotes a value the way RouterOS does when it has to: empty, spaces, quotes, `=` or `;`.
fn quote(v: &str) -> String {
    if !v.is_empty()
        && !v
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | ';' | '=' | ','))
    {
        return v.to_owned();
    }
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const WIDTH: usize = 100;
const INDENT: &str = "     ";

/// Appends `items` (`key=value` tokens) after `first_prefix`, wrapping at [`WIDTH`] columns with
/// continuation lines indented like RouterOS.
fn wrap(out: &mut String, first_prefix: &str, items: &[String]) {
    let mut line = first_prefix.to_owned();
    let mut empty = true;
    for item in items {
        if !empty && line.chars().count() + 1 + item.chars().count() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = INDENT.to_owned();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(item);
        empty = false;
    }
    if !empty {
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn kv(k: &str, v: &str) -> String {
    format!("{k}={}", quote(v))
}

/// `print` in RouterOS style:
///
/// ```text
/// Flags: X - disabled
///  0   enabled=yes acs-url=https://acs.example.com:8443/ username=admin password=***
///      periodic-inform-enabled=yes periodic-inform-interval=1d …
///      status=running last-session-error="" retry-count=0
///      next-inform=2026-01-01T00:00:00.000Z session-active=no daemon=running
///      owed-events="0 BOOTSTRAP","1 BOOT"
/// ```
///
/// With no `connection-request-username`, a comment line after the runtime values says that
/// every connection request is refused.
pub fn render_print(view: &StatusView) -> String {
    let mut out = String::from("Flags: X - disabled\n");
    let disabled = view.settings.get("enabled").is_some_and(|v| v != "yes");
    let prefix = format!(" 0 {}  ", if disabled { "X" } else { " " });

    let mut items: Vec<String> = Vec::new();
    for def in SETTINGS {
        if let Some(v) = view.settings.get(def.name) {
            items.push(kv(def.name, v));
        }
    }
    for (k, v) in &view.settings {
        if settings::setting(k).is_none() {
            items.push(kv(k, v));
        }
    }
    wrap(&mut out, &prefix, &items);

    let read_only = vec![
        kv("status", &view.status),
        kv("last-session-error", &view.last_session_error),
        kv("retry-count", &view.retry_count.to_string()),
    ];
    wrap(&mut out, INDENT, &read_only);

    let mut runtime = Vec::new();
    if view.daemon_running {
        runtime.push(kv("daemon", "running"));
        runtime.push(kv(
            "session-active",
            if view.session_active { "yes" } else { "no" },
        ));
        if let Some(t) = &view.next_inform_at {
            runtime.push(kv("next-inform", t));
        }
    } else {
        runtime.push(kv("daemon", "not-running"));
    }
    if let Some(t) = &view.next_retry_at {
        runtime.push(kv("next-retry", t));
    }
    if let Some(u) = &view.connection_request_url {
        runtime.push(kv("connection-request-url", u));
    }
    wrap(&mut out, INDENT, &runtime);
    if let Some(why) = &view.connection_requests_refused {
        // RouterOS's comment line: impossible to miss, and no `key=value` a script might parse.
        out.push_str(&format!(
            "{INDENT};;; every connection request is refused: {why}\n"
        ));
    }

    let owed = if view.owed_events.is_empty() {
        "owed-events=\"\"".to_owned()
    } else {
        let list: Vec<String> = view
            .owed_events
            .iter()
            .map(|e| {
                if e.command_key.is_empty() {
                    quote_always(&e.code)
                } else {
                    quote_always(&format!("{} {}", e.code, e.command_key))
                }
            })
            .collect();
        format!("owed-events={}", list.join(","))
    };
    wrap(&mut out, INDENT, &[owed]);

    for t in &view.pending_transfers {
        let mut items = vec![
            kv("transfer", &t.id),
            kv("kind", &t.kind),
            kv("file-type", &t.file_type),
            kv("command-key", &t.command_key),
            kv("stage", &t.stage),
        ];
        match (t.bytes_done, t.bytes_total, t.percent) {
            (Some(d), Some(total), Some(p)) => {
                items.push(kv("progress", &format!("{d}/{total} ({p}%)")))
            }
            (Some(d), _, _) => items.push(kv("bytes", &d.to_string())),
            _ => {}
        }
        if let Some(w) = &t.waiting_until {
            items.push(kv("waiting-until", w));
        }
        if let Some(f) = t.fault_code {
            items.push(kv("fault-code", &f.to_string()));
        }
        wrap(&mut out, INDENT, &items);
    }
    for s in &view.pending_schedule_informs {
        wrap(
            &mut out,
            INDENT,
            &[kv("schedule-inform", &s.command_key), kv("due", &s.due_at)],
        );
    }
    if let Some(r) = &view.pending_reboot {
        let what = if r.factory_reset {
            "factory-reset"
        } else {
            "reboot"
        };
        wrap(
            &mut out,
            INDENT,
            &[
                kv("pending-reboot", what),
                kv("command-key", &r.command_key),
            ],
        );
    }
    for r in &view.journal_recoveries {
        wrap(
            &mut out,
            INDENT,
            &[
                kv("journal-recovered", &r.at),
                kv("lost", &format!("{}-{}", r.lost_from_seq, r.lost_to_seq)),
                kv("reason", &r.reason),
            ],
        );
    }
    out
}

fn quote_always(v: &str) -> String {
    let q = quote(v);
    if q.starts_with('"') {
        q
    } else {
        format!("\"{q}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::proto::record::Kind;
    use crate::state::{event_raised, record};

    fn settings_with(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            BTreeMap::new(),
        )
    }

    #[test]
    fn print_masks_secrets_and_wraps() {
        let mut state = AgentState::default();
        state.apply(1, 1000, &event_raised("0 BOOTSTRAP", ""));
        state.apply(2, 1000, &event_raised("M Reboot", "key 1"));
        let s = settings_with(&[
            ("enabled", "true"),
            ("acs-url", "https://acs.example.com:8443/"),
            ("password", "hunter2"),
            ("periodic-inform-interval", "3600"),
        ]);
        let view = StatusView::build(&state, &s, RuntimeInfo::default());
        let text = render_print(&view);
        assert!(
            text.starts_with(
                "Flags: X - disabled\n 0    enabled=yes acs-url=https://acs.example.com:8443/"
            ),
            "{text}"
        );
        assert!(
            text.contains("password=***") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("periodic-inform-interval=1h"), "{text}");
        assert!(
            text.contains("status=running last-session-error=\"\" retry-count=0"),
            "{text}"
        );
        assert!(
            text.contains(r#"owed-events="0 BOOTSTRAP","M Reboot key 1""#),
            "{text}"
        );
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{line}");
        }
        assert_eq!(view.get("password").as_deref(), Some("***"));
        assert_eq!(view.get("retry-count").as_deref(), Some("0"));
        let json = serde_json::to_string(&view).unwrap();
        assert!(!json.contains("hunter2"));
        assert_eq!(serde_json::from_str::<StatusView>(&json).unwrap(), view);
    }

    #[test]
    fn empty_connection_request_username_is_called_out() {
        let state = AgentState::default();
        let without = settings_with(&[("enabled", "true"), ("acs-url", "https://acs/")]);
        let view = StatusView::build(&state, &without, RuntimeInfo::default());
        assert_eq!(
            view.connection_requests_refused.as_deref(),
            Some(EMPTY_CR_USERNAME)
        );
        let text = render_print(&view);
        assert!(
            text.lines().any(|l| l
                == "     ;;; every connection request is refused: connection-request-username is empty"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::to_value(&view).unwrap();
        assert_eq!(
            json["connection_requests_refused"],
            serde_json::json!("connection-request-username is empty")
        );

        let with = settings_with(&[
            ("enabled", "true"),
            ("acs-url", "https://acs/"),
            ("connection-request-username", "acs"),
            ("connection-request-password", "secret"),
        ]);
        let view = StatusView::build(&state, &with, RuntimeInfo::default());
        assert_eq!(view.connection_requests_refused, None);
        assert!(!render_print(&view).contains(";;;"));
        let json: serde_json::Value = serde_json::to_value(&view).unwrap();
        assert_eq!(json["connection_requests_refused"], serde_json::Value::Null);
        // A view from a build without the field still reads.
        let mut old = json.clone();
        old.as_object_mut()
            .unwrap()
            .remove("connection_requests_refused");
        assert_eq!(serde_json::from_value::<StatusView>(old).unwrap(), view);
    }

    #[test]
    fn disabled_flag_and_transfers() {
        let mut state = AgentState::default();
        state.apply(
            1,
            0,
            &record(Kind::TransferAccepted(proto::TransferAccepted {
                transfer_id: "t1".into(),
                kind: proto::TransferKind::Download as i32,
                command_key: "fw".into(),
                file_type: "1 Firmware Upgrade Image".into(),
                file_size: 4096,
                ..Default::default()
            })),
        );
        state.apply(
            2,
            0,
            &record(Kind::TransferStageChanged(proto::TransferStageChanged {
                transfer_id: "t1".into(),
                stage: proto::TransferStage::Downloading as i32,
                bytes_done: 1024,
                bytes_total: 4096,
                ..Default::default()
            })),
        );
        let view = StatusView::build(&state, &Settings::default(), RuntimeInfo::default());
        assert_eq!(view.status, "disabled");
        let t = &view.pending_transfers[0];
        assert_eq!(
            (t.stage.as_str(), t.percent, t.kind.as_str()),
            ("downloading", Some(25), "download")
        );
        let text = render_print(&view);
        assert!(text.contains("\n 0 X  enabled=no"), "{text}");
        assert!(
            text.contains("stage=downloading") && text.contains("progress=\"1024/4096 (25%)\""),
            "{text}"
        );
    }
}
