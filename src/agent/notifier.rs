//! The daemon's side of notifications: samples host-backed parameters that have a notification
//! set, journals their changes, and raises `4 VALUE CHANGE` for active ones no sooner than
//! DefaultActiveNotificationThrottle after the previous one.

use std::collections::BTreeMap;

use crate::datamodel::View;
use crate::datamodel::notify::{self, ActiveThrottle};
use crate::state::AgentState;
use crate::state::settings::Settings;

use super::daemon::Agent;

/// Sampling and throttling state (in memory: after a restart the first sample is the new
/// baseline, and a deferred active change still rides the next session passively).
#[derive(Debug, Default)]
pub struct Notifier {
    last_sample: Option<BTreeMap<String, String>>,
    next_sample_ms: u64,
    throttle: ActiveThrottle,
}

fn throttle_secs(settings: &Settings) -> u64 {
    settings
        .get("default-active-notification-throttle")
        .parse()
        .unwrap_or(0)
}

impl Notifier {
    /// Samples when due and raises deferred active events. Returns when it next wants to run.
    pub async fn tick(
        &mut self,
        agent: &Agent,
        state: &AgentState,
        settings: &Settings,
        now_ms: u64,
    ) -> anyhow::Result<Option<u64>> {
        let throttle = throttle_secs(settings);
        if self.throttle.take_due(now_ms, throttle) {
            agent.append(vec![notify::active_event()]).await?;
            return Ok(Some(now_ms));
        }
        if now_ms < self.next_sample_ms {
            return Ok(self.wake_at(settings));
        }
        let interval_ms = u64::try_from(agent.config().notification_sample_interval.as_millis())
            .unwrap_or(u64::MAX);
        self.next_sample_ms = now_ms.saturating_add(interval_ms.max(1));
        let watched = notify::watched_host_parameters(state);
        if watched.is_empty() {
            self.last_sample = Some(BTreeMap::new());
            return Ok(self.wake_at(settings));
        }
        let cr_url = agent.runtime().connection_request_url;
        let sample: BTreeMap<String, String> = {
            let view = View::new(
                agent.model(),
                state,
                agent.factory_settings(),
                &cr_url,
                now_ms,
            );
            view.host_backed_values(&watched).into_iter().collect()
        };
        let changes = match &self.last_sample {
            Some(previous) => notify::diff(previous, &sample),
            None => Vec::new(),
        };
        self.last_sample = Some(sample);
        if changes.is_empty() {
            return Ok(self.wake_at(settings));
        }
        let (mut records, active) = notify::change_records(state, &changes);
        tracing::info!(changed = ?changes.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), active, "notified parameters changed");
        if active && self.throttle.request(now_ms, throttle) {
            records.push(notify::active_event());
        }
        agent.append(records).await?;
        Ok(Some(now_ms))
    }

    /// The next instant the notifier needs the scheduler.
    pub fn wake_at(&self, settings: &Settings) -> Option<u64> {
        let next = Some(self.next_sample_ms);
        match self.throttle.due_at(throttle_secs(settings)) {
            Some(due) => next.map(|n| n.min(due)),
            None => next,
        }
    }
}
