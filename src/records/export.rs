//! Stable JSON export and one-line summaries of records (the timeline's wording), with secrets
//! masked.

use serde_json::{Map, Value};

use super::proto::{ChangeSource, SessionOutcome, TransferKind, TransferStage, record::Kind};
use super::store::StoredRecord;
use super::tags::type_name;

const MASK: &str = "***";

/// Whether a parameter or setting name designates a secret: its last path segment ends in
/// `Password`, `Passphrase`, `PreSharedKey`, `WEPKey`, `Secret`, `PSK` or `PrivateKey`
/// (case-insensitive, so settings keys like `acs_password` match too).
pub fn is_secret_name(name: &str) -> bool {
    let last = name
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .unwrap_or(name);
    let last = last.to_ascii_lowercase();
    [
        "password",
        "passphrase",
        "presharedkey",
        "wepkey",
        "secret",
        "psk",
        "privatekey",
    ]
    .iter()
    .any(|s| last.ends_with(s))
}

/// Unix milliseconds as RFC 3339 UTC with millisecond precision, e.g. `2026-11-22T02:11:21.123Z`.
pub fn rfc3339_utc(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// One JSON object (no trailing newline) for a record: `seq`, `time` (RFC 3339 UTC), `boot_id`,
/// `type` (the record type's name, `"Unknown"` for a type this build does not know), `tag`, and
/// `record` holding the record's fields (enums by name, secrets masked as `"***"`). Keys are
/// sorted, so the rendering is stable.
pub fn export_json(rec: &StoredRecord) -> String {
    let mut obj = Map::new();
    obj.insert("seq".into(), rec.seq.into());
    obj.insert("time".into(), rfc3339_utc(rec.time_ms).into());
    obj.insert("boot_id".into(), rec.boot_id.clone().into());
    obj.insert(
        "type".into(),
        type_name(rec.tag).unwrap_or("Unknown").into(),
    );
    obj.insert("tag".into(), rec.tag.into());
    let fields = match &rec.record.kind {
        Some(kind) => match serde_json::to_value(kind) {
            // Externally tagged: {"EventRaised": {...}}.
            Ok(Value::Object(m)) => m.into_iter().next().map_or(Value::Null, |(_, v)| v),
            Ok(other) => other,
            Err(e) => Value::String(format!("unrenderable: {e}")),
        },
        None => {
            obj.insert("payload_bytes".into(), rec.payload.len().into());
            Value::Object(Map::new())
        }
    };
    let mut fields = fields;
    name_enums(&mut fields);
    mask(&mut fields);
    obj.insert("record".into(), fields);
    Value::Object(obj).to_string()
}

fn enum_name(key: &str, n: i64) -> Option<String> {
    let n = i32::try_from(n).ok()?;
    let (full, prefix) = match key {
        "outcome" => (
            SessionOutcome::try_from(n).ok()?.as_str_name(),
            "SESSION_OUTCOME_",
        ),
        "kind" => (
            TransferKind::try_from(n).ok()?.as_str_name(),
            "TRANSFER_KIND_",
        ),
        "stage" => (
            TransferStage::try_from(n).ok()?.as_str_name(),
            "TRANSFER_STAGE_",
        ),
        "source" => (
            ChangeSource::try_from(n).ok()?.as_str_name(),
            "CHANGE_SOURCE_",
        ),
        _ => return None,
    };
    Some(full.trim_start_matches(prefix).to_ascii_lowercase())
}

fn name_enums(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if let Some(name) = child.as_i64().and_then(|n| enum_name(k, n)) {
                    *child = Value::String(name);
                } else {
                    name_enums(child);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(name_enums),
        _ => {}
    }
}

fn mask_value(v: &mut Value) {
    if v.as_str().is_some_and(|s| !s.is_empty()) {
        *v = Value::String(MASK.into());
    }
}

/// `scheme://user:secret@host/...` → `scheme://user:***@host/...`.
pub fn mask_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:{MASK}")
            } else {
                user.into()
            };
            format!("{}{}{}", &url[..scheme_end + 3], masked, &rest[at..])
        }
        None => url.to_owned(),
    }
}

fn mask(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let flagged = map.get("secret").and_then(Value::as_bool).unwrap_or(false);
            let named = ["name", "key"].iter().any(|k| {
                map.get(*k)
                    .and_then(Value::as_str)
                    .is_some_and(is_secret_name)
            });
            for (k, child) in map.iter_mut() {
                if child.is_object() || child.is_array() {
                    // A map entry keyed by a secret name (a snapshot's settings or parameter
                    // values) holds its secret in `value`.
                    if is_secret_name(k) {
                        if let Some(inner) = child.get_mut("value") {
                            mask_value(inner);
                        }
                    }
                    mask(child);
                } else if k == "password" || is_secret_name(k) {
                    // A field or map entry holding the secret directly.
                    mask_value(child);
                } else if k == "value" && (flagged || named) {
                    mask_value(child);
                } else if k.ends_with("url") {
                    if let Some(s) = child.as_str() {
                        *child = Value::String(mask_url(s));
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

fn shown(name: &str, value: &str) -> String {
    if is_secret_name(name) && !value.is_empty() {
        MASK.into()
    } else {
        value.into()
    }
}

fn stage_name(n: i32) -> String {
    enum_name("stage", i64::from(n)).unwrap_or_else(|| n.to_string())
}

fn source_name(n: i32) -> String {
    enum_name("source", i64::from(n)).unwrap_or_else(|| n.to_string())
}

/// A one-line, human-readable description of a record for a timeline view, secrets masked.
pub fn summary(rec: &StoredRecord) -> String {
    let time = rfc3339_utc(rec.time_ms);
    let what = match &rec.record.kind {
        None => format!(
            "unknown record type {} ({} bytes)",
            rec.tag,
            rec.payload.len()
        ),
        Some(kind) => describe(kind),
    };
    format!("#{} {} {}", rec.seq, time, what)
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::EventRaised(e) => format!("event raised: {} {:?}", e.code, e.command_key),
        Kind::InformAcknowledged(i) => format!(
            "inform acknowledged in session {}: {}",
            i.session_id,
            i.delivered
                .iter()
                .map(|e| e.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::SessionStarted(s) => format!(
            "session {} started to {} (retry {}, events {})",
            s.session_id,
            mask_url(&s.acs_url),
            s.retry_count,
            s.event_codes.join(", ")
        ),
        Kind::SessionEnded(s) => {
            let outcome = enum_name("outcome", i64::from(s.outcome)).unwrap_or_default();
            let mut line = if s.reason.is_empty() {
                format!("session {} {}", s.session_id, outcome)
            } else {
                format!("session {} {}: {}", s.session_id, outcome, s.reason)
            };
            if let Some(h) = s.http_status {
                line.push_str(&format!(" (HTTP {h})"));
            }
            if let Some(w) = s.retry_after_seconds {
                line.push_str(&format!(", retry in {w} s"));
            }
            line
        }
        Kind::TransferAccepted(t) => format!(
            "transfer {} accepted: {} {} {} {} (command_key {:?}{})",
            t.transfer_id,
            enum_name("kind", i64::from(t.kind)).unwrap_or_default(),
            t.file_type,
            if t.kind == TransferKind::Upload as i32 {
                "to"
            } else {
                "from"
            },
            mask_url(&t.url),
            t.command_key,
            if t.autonomous { ", autonomous" } else { "" }
        ),
        Kind::TransferStageChanged(t) => {
            let mut line = format!("transfer {} → {}", t.transfer_id, stage_name(t.stage));
            if t.bytes_total > 0 || t.bytes_done > 0 {
                line.push_str(&format!(" {}/{} bytes", t.bytes_done, t.bytes_total));
            }
            if t.fault_code != 0 {
                line.push_str(&format!(" fault {} {}", t.fault_code, t.fault_string));
            }
            line
        }
        Kind::TransferCompleteAcknowledged(t) => {
            format!(
                "TransferComplete for {} acknowledged ({:?})",
                t.transfer_id, t.command_key
            )
        }
        Kind::ParametersSet(p) => format!(
            "{} parameter(s) set by {} (key {:?}, status {}): {}",
            p.values.len(),
            source_name(p.source),
            p.parameter_key,
            p.status,
            p.values
                .iter()
                .map(|v| format!("{}={}", v.name, shown(&v.name, &v.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::ConfigurationApplied(c) => format!(
            "configuration file applied ({}, transfer {:?}): {} value(s): {}",
            if c.replace { "overwrite" } else { "alteration" },
            c.transfer_id,
            c.values.len(),
            c.values
                .iter()
                .map(|v| format!("{}={}", v.name, shown(&v.name, &v.value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::RebootAttempted(r) => format!("reboot hook run in boot {}", r.boot_id),
        Kind::RebootAbandoned(r) => format!(
            "reboot abandoned after {} attempt(s): {}",
            r.attempts, r.reason
        ),
        Kind::ObjectAdded(o) => format!("object added: {}{}", o.path, o.instance_number),
        Kind::ObjectDeleted(o) => format!("object deleted: {}", o.path),
        Kind::AttributesSet(a) => format!(
            "attributes set on {}",
            a.items
                .iter()
                .map(|i| i.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::SettingsChanged(s) => {
            let value = if s.secret {
                MASK.to_owned()
            } else {
                shown(&s.key, &s.value)
            };
            format!(
                "setting {} = {} (by {})",
                s.key,
                value,
                source_name(s.source)
            )
        }
        Kind::RebootRequested(r) => format!("reboot requested: {} ({:?})", r.reason, r.command_key),
        Kind::BootObserved(b) => format!(
            "{} {} running {}",
            if b.new_boot {
                "boot"
            } else {
                "restart within boot"
            },
            b.boot_id,
            b.software_version
        ),
        Kind::FactoryResetDone(_) => "factory reset done".into(),
        Kind::ScheduleInformRequested(s) => {
            format!(
                "inform scheduled at {} ({:?})",
                rfc3339_utc(s.due_at_unix.max(0) as u64 * 1000),
                s.command_key
            )
        }
        Kind::ScheduleInformFired(s) => format!("scheduled inform due ({:?})", s.command_key),
        Kind::ValueChanged(v) => {
            format!("value changed: {} = {}", v.name, shown(&v.name, &v.value))
        }
        Kind::DiagnosticsCompleted(d) => format!("diagnostics {} {}", d.name, d.state),
        Kind::ConfigReset(_) => "TR-069 configuration reset by the operator".into(),
        Kind::JournalRecovered(r) => {
            let lost = if r.lost_to_seq >= r.lost_from_seq {
                format!("records {}..={} lost", r.lost_from_seq, r.lost_to_seq)
            } else {
                "no acknowledged record lost".into()
            };
            format!(
                "journal recovered: {}; {}; damaged store at {}",
                r.reason, lost, r.moved_aside_to
            )
        }
        Kind::AgentStopped(s) => format!("agent stopped cleanly ({})", s.reason),
        Kind::Snapshot(s) => format!(
            "snapshot: {} owed event(s), {} parameter(s), {} transfer(s), retry count {}",
            s.owed_events.len(),
            s.parameter_values.len(),
            s.transfers.len(),
            s.retry_count
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::proto::*;

    fn stored(seq: u64, record: Record) -> StoredRecord {
        use prost::Message;
        let payload = record.encode_to_vec();
        let tag = crate::records::payload_tag(&payload).unwrap() as u16;
        StoredRecord {
            seq,
            time_ms: 1_779_415_881_123,
            boot_id: "b".into(),
            tag,
            record,
            payload,
        }
    }

    #[test]
    fn time_is_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_utc(1_779_415_881_123), "2026-05-22T02:11:21.123Z");
    }

    #[test]
    fn secret_names() {
        assert!(is_secret_name("Device.ManagementServer.Password"));
        assert!(is_secret_name(
            "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
        ));
        assert!(is_secret_name("acs_password"));
        assert!(!is_secret_name("Device.ManagementServer.Username"));
        assert!(!is_secret_name("Device.ManagementServer.ParameterKey"));
    }

    #[test]
    fn export_masks_every_kind_of_secret() {
        let recs: Vec<Record> = vec![
            TransferAccepted {
                transfer_id: "t1".into(),
                kind: TransferKind::Download as i32,
                url: "http://fw:hunter2@files.example/fw.bin".into(),
                username: "fw".into(),
                password: "hunter2".into(),
                ..Default::default()
            }
            .into(),
            ParametersSet {
                values: vec![
                    ParameterValue {
                        name: "Device.ManagementServer.ConnectionRequestPassword".into(),
                        value: "hunter2".into(),
                        xsd_type: "xsd:string".into(),
                    },
                    ParameterValue {
                        name: "Device.ManagementServer.PeriodicInformInterval".into(),
                        value: "300".into(),
                        xsd_type: "xsd:unsignedInt".into(),
                    },
                ],
                source: ChangeSource::Acs as i32,
                ..Default::default()
            }
            .into(),
            SettingsChanged {
                key: "acs_token".into(),
                value: "hunter2".into(),
                secret: true,
                ..Default::default()
            }
            .into(),
            ValueChanged {
                name: "Device.Users.User.1.Password".into(),
                value: "hunter2".into(),
                notification: 2,
            }
            .into(),
            // A setting whose key is itself a secret name: the map entry is an object.
            AgentSnapshot {
                settings: [(
                    "password".to_string(),
                    Setting {
                        value: "hunter2".into(),
                        secret: true,
                    },
                )]
                .into(),
                changed_parameters: [(
                    "Device.WiFi.AccessPoint.1.Security.KeyPassphrase".to_string(),
                    "hunter2".to_string(),
                )]
                .into(),
                ..Default::default()
            }
            .into(),
            AgentSnapshot {
                settings: [(
                    "acs_token".to_string(),
                    Setting {
                        value: "hunter2".into(),
                        secret: true,
                    },
                )]
                .into(),
                parameter_values: [(
                    "Device.Users.User.1.Password".to_string(),
                    StoredParameter {
                        value: "hunter2".into(),
                        xsd_type: "xsd:string".into(),
                    },
                )]
                .into(),
                transfers: vec![TransferState {
                    accepted: Some(TransferAccepted {
                        password: "hunter2".into(),
                        ..Default::default()
                    }),
                    last_stage: None,
                }],
                ..Default::default()
            }
            .into(),
        ];
        for (i, r) in recs.into_iter().enumerate() {
            let s = stored(i as u64 + 1, r);
            let json = export_json(&s);
            let line = summary(&s);
            assert!(!json.contains("hunter2"), "{json}");
            assert!(!line.contains("hunter2"), "{line}");
            assert!(json.contains("***"), "{json}");
            let v: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(v["seq"], i as u64 + 1);
            assert_eq!(v["time"], "2026-05-22T02:11:21.123Z");
        }
    }

    #[test]
    fn export_is_stable_and_names_enums() {
        let s = stored(
            9,
            TransferStageChanged {
                transfer_id: "t".into(),
                stage: TransferStage::Downloading as i32,
                bytes_done: 5,
                bytes_total: 10,
                ..Default::default()
            }
            .into(),
        );
        assert_eq!(
            export_json(&s),
            r#"{"boot_id":"b","record":{"boot_id":"","bytes_done":5,"bytes_total":10,"complete_time":0,"expected_version":"","fault_code":0,"fault_string":"","path":"","previous_version":"","sha256":"","size":0,"stage":"downloading","start_time":0,"transfer_id":"t","waiting_until":0},"seq":9,"tag":6,"time":"2026-05-22T02:11:21.123Z","type":"TransferStageChanged"}"#
        );
        assert_eq!(
            summary(&s),
            "#9 2026-05-22T02:11:21.123Z transfer t → downloading 5/10 bytes"
        );
    }
}
