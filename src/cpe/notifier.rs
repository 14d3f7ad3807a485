//! Notifications in the core: samples host-backed parameters that have a notification set,
//! turns their changes into records, and raises `4 VALUE CHANGE` for active ones no sooner than
//! DefaultActiveNotificationThrottle after the previous one.

use std::collections::BTreeMap;

use crate::records::proto::Record;

use crate::datamodel::View;
use crate::datamodel::notify::{self, ActiveThrottle};
use crate::state::AgentState;
use crate::state::settings::Settings;

/// Sampling and throttling state (in memory: after a restart the first sample is the new
/// baseline, and a deferred active change still rides the next session passively).
#[derive(Debug, Default)]
pub struct Notifier {
    last_sample: Option<BTreeMap<String, String>>,
    next_sample_ms: u64,
    throttle: ActiveThrottle,
}

fn throttle_secs(settings: &Settings) -> u64 {
    // The typed accessor: the scheduler asks on every step, and reading the setting by name
    // copied its value into a fresh `String` each time. Both fall back to 0 for an unparsable
    // value (the built-in default is 0).
    settings.default_active_notification_throttle()
}

impl Notifier {
    /// Samples when due and raises deferred active events: the records to append, if any.
    /// `view` is only read when a sample is due and a parameter is watched.
    pub fn tick<'v>(
        &mut self,
        state: &AgentState,
        settings: &Settings,
        now_ms: u64,
        interval_ms: u64,
        view: impl FnOnce() -> View<'v>,
    ) -> Option<Vec<Record>> {
        let throttle = throttle_secs(settings);
        if self.throttle.take_due(now_ms, throttle) {
            return Some(vec![notify::active_event()]);
        }
        if now_ms < self.next_sample_ms {
            return None;
        }
        self.next_sample_ms = now_ms.saturating_add(interval_ms.max(1));
        let watched = notify::watched_host_parameters(state);
        if watched.is_empty() {
            self.last_sample = Some(BTreeMap::new());
            return None;
        }
        let sample = crate::ordering::btree_map(view().host_backed_values(&watched));
        let changes = match &self.last_sample {
            Some(previous) => notify::diff(previous, &sample),
            None => Vec::new(),
        };
        self.last_sample = Some(sample);
        if changes.is_empty() {
            return None;
        }
        let (mut records, active) = notify::change_records(state, &changes);
        tracing::info!(changed = ?changes.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), active, "notified parameters changed");
        if active && self.throttle.request(now_ms, throttle) {
            records.push(notify::active_event());
        }
        Some(records)
    }

    /// The next instant the notifier needs to run: the next sample (only while parameters are
    /// watched, so an idle agent with nothing watched never wakes for it) or a deferred active
    /// event.
    pub fn wake_at(&self, state: &AgentState, settings: &Settings) -> Option<u64> {
        let sample = (!notify::watched_host_parameters(state).is_empty()
            || self.last_sample.is_none())
        .then_some(self.next_sample_ms);
        let throttled = self.throttle.due_at(throttle_secs(settings));
        match (sample, throttled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
