//! Notifications: which changes the ACS must hear about, passively (in the next Inform's
//! ParameterList, with `4 VALUE CHANGE`) or actively (a session of its own).
//!
//! The ACS's own SetParameterValues never notifies it of what it set: only changes from
//! elsewhere — the operator's CLI, the host (sampled), the agent itself — go through here.

use std::collections::BTreeMap;

use crate::cwmp::rpc::inform::event_code as ec;
use crate::records::proto::{self, record::Kind};
use crate::state::{AgentState, event_raised, record};

use super::model::{effective_notification, is_hidden, is_host_backed, param_def};

/// The records for changes made outside the ACS: one `ValueChanged` per notified parameter, and
/// whether any of them is active (the caller raises `4 VALUE CHANGE`, subject to the throttle).
pub fn change_records(
    state: &AgentState,
    changes: &[(String, String)],
) -> (Vec<proto::Record>, bool) {
    let mut records = Vec::new();
    let mut active = false;
    for (name, value) in changes {
        let Some(def) = param_def(name) else { continue };
        let notification = effective_notification(def, state, name);
        if notification == 0 {
            continue;
        }
        active |= notification == 2;
        records.push(record(Kind::ValueChanged(proto::ValueChanged {
            name: name.clone(),
            // Hidden values (passwords) are reported empty, as GetParameterValues does.
            value: if is_hidden(def) {
                String::new()
            } else {
                value.clone()
            },
            notification,
        })));
    }
    (records, active)
}

/// The `4 VALUE CHANGE` event that makes an active notification start a session.
pub fn active_event() -> proto::Record {
    event_raised(ec::VALUE_CHANGE, "")
}

/// The host-backed parameters that have a notification set (they are sampled to see changes).
pub fn watched_host_parameters(state: &AgentState) -> Vec<String> {
    state
        .attributes
        .iter()
        .filter(|(_, a)| a.notification > 0)
        .filter(|(name, _)| param_def(name).is_some_and(is_host_backed))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Compares a new sample with the previous one: the parameters whose value changed (a parameter
/// that appears or disappears is not a change of value).
pub fn diff(
    previous: &BTreeMap<String, String>,
    current: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    current
        .iter()
        .filter(|(name, value)| previous.get(*name).is_some_and(|old| old != *value))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Throttles sessions started for active notifications: no sooner than
/// DefaultActiveNotificationThrottle seconds after the previous one.
#[derive(Debug, Default, Clone)]
pub struct ActiveThrottle {
    last_event_ms: Option<u64>,
    deferred: bool,
}

impl ActiveThrottle {
    /// An active change happened: `true` when the event may be raised now; otherwise it is
    /// deferred until [`ActiveThrottle::due_at`].
    pub fn request(&mut self, now_ms: u64, throttle_secs: u64) -> bool {
        if self.allowed(now_ms, throttle_secs) {
            self.last_event_ms = Some(now_ms);
            self.deferred = false;
            true
        } else {
            self.deferred = true;
            false
        }
    }

    fn allowed(&self, now_ms: u64, throttle_secs: u64) -> bool {
        self.last_event_ms
            .is_none_or(|t| now_ms >= t.saturating_add(throttle_secs.saturating_mul(1000)))
    }

    /// When a deferred event becomes due; `None` when nothing is deferred.
    pub fn due_at(&self, throttle_secs: u64) -> Option<u64> {
        if !self.deferred {
            return None;
        }
        Some(
            self.last_event_ms
                .map_or(0, |t| t.saturating_add(throttle_secs.saturating_mul(1000))),
        )
    }

    /// Takes a deferred event that is now due.
    pub fn take_due(&mut self, now_ms: u64, throttle_secs: u64) -> bool {
        if self.deferred && self.allowed(now_ms, throttle_secs) {
            self.deferred = false;
            self.last_event_ms = Some(now_ms);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StoredAttributes;

    #[test]
    fn only_notified_parameters_produce_records() {
        let mut state = AgentState::default();
        state.attributes.insert(
            "Device.Time.NTPServer1".into(),
            StoredAttributes {
                notification: 1,
                access_list: vec![],
            },
        );
        let (recs, active) = change_records(
            &state,
            &[
                ("Device.Time.NTPServer1".into(), "a".into()),
                ("Device.Time.NTPServer2".into(), "b".into()),
                ("Device.DeviceInfo.SoftwareVersion".into(), "8".into()),
            ],
        );
        assert_eq!(recs.len(), 2, "NTPServer2 has no notification");
        assert!(active, "SoftwareVersion is forced active");
    }

    #[test]
    fn diff_reports_changed_values_only() {
        let a: BTreeMap<String, String> =
            [("x".to_owned(), "1".to_owned()), ("y".into(), "2".into())].into();
        let b: BTreeMap<String, String> = [
            ("x".to_owned(), "1".to_owned()),
            ("y".into(), "3".into()),
            ("z".into(), "0".into()),
        ]
        .into();
        assert_eq!(diff(&a, &b), [("y".to_owned(), "3".to_owned())]);
    }

    #[test]
    fn throttle_defers_until_the_interval_passed() {
        let mut t = ActiveThrottle::default();
        assert!(t.request(1_000, 60));
        assert!(!t.request(30_000, 60));
        assert_eq!(t.due_at(60), Some(61_000));
        assert!(!t.take_due(60_999, 60));
        assert!(t.take_due(61_000, 60));
        assert_eq!(t.due_at(60), None);
        let mut free = ActiveThrottle::default();
        assert!(free.request(1, 0) && free.request(2, 0));
    }
}
