//! When the next session is due: pure functions of the folded state, the settings and the time.
//!
//! Sessions start for owed events (raised by boots, connection requests, value changes, transfers,
//! and the timers below), when the periodic-inform timer fires, when a ScheduleInform falls due,
//! and when a failed session's retry wait has elapsed. The core's scheduler (`Cpe::poll_action`)
//! hands the edge the earliest of these as its timeout, and acts early when something new is
//! raised.

use crate::state::AgentState;
use crate::state::settings::Settings;

/// The next time a periodic inform is due (unix ms), or `None` when periodic informs are off.
///
/// With a known `PeriodicInformTime` T and interval I, informs happen at T + n·I: the first such
/// slot at or after `not_before_ms` (the caller passes the instant after its last periodic inform,
/// so a slot is never skipped however late the caller wakes). Without one (the Unknown Time), the timer runs from the last successful session
/// — RouterOS's "timer is started after every successful session" — or from `started_at_ms` when
/// there has been none.
pub fn next_periodic_at(
    state: &AgentState,
    settings: &Settings,
    not_before_ms: u64,
    started_at_ms: u64,
) -> Option<u64> {
    if !settings.periodic_inform_enabled() {
        return None;
    }
    let interval_ms = settings
        .periodic_inform_interval()
        .saturating_mul(1000)
        .max(1000);
    match settings.periodic_inform_time() {
        Some(anchor) => {
            let anchor_ms = anchor.unix_millis();
            let now = i128::from(not_before_ms);
            let anchor = i128::from(anchor_ms);
            let interval = i128::from(interval_ms);
            // Smallest anchor + n·interval >= now.
            let n = (now - anchor + interval - 1).div_euclid(interval);
            u64::try_from(anchor + n * interval).ok()
        }
        None => {
            let base = state
                .last_successful_session_end_ms
                .unwrap_or(started_at_ms);
            Some(base.saturating_add(interval_ms))
        }
    }
}

/// `ManagementServer.HeartbeatPolicy` while enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatPolicy {
    pub interval_ms: u64,
    /// InitiationTime (unix ms), unless it is the Unknown Time.
    pub initiation_ms: Option<u64>,
}

const HEARTBEAT: &str = "Device.ManagementServer.HeartbeatPolicy.";

/// The heartbeat policy in the folded state (`None` while disabled).
pub fn heartbeat_policy(state: &AgentState) -> Option<HeartbeatPolicy> {
    let get = |n: &str| {
        state
            .parameters
            .get(&format!("{HEARTBEAT}{n}"))
            .map(|p| p.value.as_str())
    };
    // Asked on every scheduler step; the disabled policy, the usual case, builds no name.
    let enable = state
        .parameters
        .get("Device.ManagementServer.HeartbeatPolicy.Enable")
        .map(|p| p.value.as_str());
    if enable != Some("true") {
        return None;
    }
    // The registry keeps ReportingInterval at 20 s or more; 30 s is TR-181's default.
    let interval = get("ReportingInterval")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(30)
        .max(20);
    let initiation_ms = get("InitiationTime")
        .and_then(|v| crate::cwmp::DateTime::parse(v).ok())
        .filter(|t| !t.is_unknown())
        .and_then(|t| u64::try_from(t.unix_millis()).ok());
    Some(HeartbeatPolicy {
        interval_ms: interval * 1000,
        initiation_ms,
    })
}

/// When the next heartbeat is due: with an InitiationTime T, the first T + n·interval at or after
/// `not_before_ms` (the caller passes the instant after the last heartbeat, so missed slots are
/// skipped, never made up); without one, an interval after `base_ms` (the last heartbeat, or the
/// agent's start).
pub fn next_heartbeat_at(policy: &HeartbeatPolicy, not_before_ms: u64, base_ms: u64) -> u64 {
    let interval = i128::from(policy.interval_ms.max(1000));
    match policy.initiation_ms {
        Some(anchor) => {
            let (now, anchor) = (i128::from(not_before_ms), i128::from(anchor));
            let n = (now - anchor + interval - 1).div_euclid(interval);
            u64::try_from(anchor + n * interval).unwrap_or(u64::MAX)
        }
        None => base_ms.saturating_add(policy.interval_ms.max(1000)),
    }
}

/// The earliest pending ScheduleInform: (due time in unix ms, its CommandKey).
pub fn next_schedule_inform(state: &AgentState) -> Option<(u64, String)> {
    state
        .pending_schedule_informs
        .iter()
        .min_by_key(|p| p.due_at_ms)
        .map(|p| (p.due_at_ms, p.command_key.clone()))
}

/// When a session for the events already owed may start: now, unless a failed session's retry
/// wait is still running. `None` when nothing is owed.
pub fn owed_session_at(state: &AgentState, now_ms: u64) -> Option<u64> {
    if !state.has_owed_events() {
        return None;
    }
    Some(state.next_retry_at_ms.map_or(now_ms, |t| t.max(now_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            BTreeMap::new(),
        )
    }

    #[test]
    fn periodic_aligned_to_periodic_inform_time() {
        // Anchor 2026-01-01T00:00:00Z = 1767225600 s, interval 1h.
        let s = settings(&[
            ("periodic-inform-time", "2026-01-01T00:00:00Z"),
            ("periodic-inform-interval", "3600"),
        ]);
        let state = AgentState::default();
        let anchor = 1_767_225_600_000u64;
        assert_eq!(
            next_periodic_at(&state, &s, anchor + 10, 0),
            Some(anchor + 3_600_000)
        );
        assert_eq!(
            next_periodic_at(&state, &s, anchor + 3_600_000, 0),
            Some(anchor + 3_600_000)
        );
        assert_eq!(next_periodic_at(&state, &s, anchor - 1, 0), Some(anchor));
        // Times before the anchor count backwards in whole intervals.
        assert_eq!(
            next_periodic_at(&state, &s, anchor - 3_600_001, 0),
            Some(anchor - 3_600_000)
        );
    }

    #[test]
    fn periodic_without_anchor_runs_from_the_last_successful_session() {
        let s = settings(&[("periodic-inform-interval", "60")]);
        let mut state = AgentState::default();
        assert_eq!(next_periodic_at(&state, &s, 5_000, 1_000), Some(61_000));
        state.last_successful_session_end_ms = Some(100_000);
        assert_eq!(next_periodic_at(&state, &s, 5_000, 1_000), Some(160_000));
        let off = settings(&[("periodic-inform-enabled", "false")]);
        assert_eq!(next_periodic_at(&state, &off, 5_000, 1_000), None);
    }

    #[test]
    fn heartbeats_follow_the_initiation_time_and_skip_missed_slots() {
        let mut state = AgentState::default();
        assert_eq!(heartbeat_policy(&state), None);
        let mut set = |n: &str, v: &str| {
            state.parameters.insert(
                format!("{HEARTBEAT}{n}"),
                crate::state::StoredParameter {
                    value: v.into(),
                    xsd_type: "string".into(),
                },
            );
        };
        set("Enable", "true");
        set("ReportingInterval", "60");
        set("InitiationTime", "2026-01-01T00:00:10Z");
        let policy = heartbeat_policy(&state).unwrap();
        let anchor = 1_767_225_610_000u64;
        assert_eq!(policy.initiation_ms, Some(anchor));
        assert_eq!(next_heartbeat_at(&policy, anchor + 1, 0), anchor + 60_000);
        // Woken 3.5 intervals late: the next slot, not the three missed ones.
        assert_eq!(
            next_heartbeat_at(&policy, anchor + 210_001, 0),
            anchor + 240_000
        );
        let unanchored = HeartbeatPolicy {
            interval_ms: 30_000,
            initiation_ms: None,
        };
        assert_eq!(next_heartbeat_at(&unanchored, 0, 5_000), 35_000);
    }

    #[test]
    fn owed_events_wait_for_the_retry_time() {
        let mut state = AgentState::default();
        assert_eq!(owed_session_at(&state, 10), None);
        state.owed_events.push(crate::state::OwedEvent {
            code: "2 PERIODIC".into(),
            command_key: String::new(),
        });
        assert_eq!(owed_session_at(&state, 10), Some(10));
        state.next_retry_at_ms = Some(500);
        assert_eq!(owed_session_at(&state, 10), Some(500));
        assert_eq!(owed_session_at(&state, 900), Some(900));
    }
}
