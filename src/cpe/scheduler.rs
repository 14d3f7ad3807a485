//! What is due when no session runs: a reboot, notifications, a diagnostic, the address check,
//! a ScheduleInform, the periodic inform, the owed session — and when to wake up next.

use super::*;

impl Cpe {
    /// The scheduler: what is due when no session runs.
    pub(super) fn schedule_step(&mut self, now_ms: u64) -> Option<Action> {
        if let Some(pending) = self.state.pending_reboot.clone()
            && self.applying_in_this_run.is_none()
        {
            return Some(self.begin_reboot(pending.factory_reset));
        }
        let interval_ms = u64::try_from(
            self.config
                .datamodel
                .notification_sample_interval
                .as_millis(),
        )
        .unwrap_or(u64::MAX);
        let mut notifier = std::mem::take(&mut self.notifier);
        let sampled = {
            let view = || self.view(now_ms, &self.scratch_memo);
            notifier.tick(&self.state, &self.settings, now_ms, interval_ms, view)
        };
        self.notifier = notifier;
        self.scratch_memo.clear();
        if let Some(records) = sampled {
            return Some(Action::Append(Append::plain(records)));
        }
        if let Some(action) = self.diagnostic_step(now_ms) {
            return Some(action);
        }
        if let Some(action) = self.udp_echo_step(now_ms) {
            return Some(action);
        }
        if now_ms >= self.next_address_check_ms && !self.address_lookup && self.cr_port.is_some() {
            self.address_lookup = true;
            self.next_address_check_ms = now_ms.saturating_add(
                u64::try_from(
                    self.config
                        .connection_request
                        .address_check_interval
                        .as_millis(),
                )
                .unwrap_or(u64::MAX),
            );
            return Some(Action::FindLocalAddress {
                acs_url: self.settings.acs_url().to_owned(),
            });
        }

        let running = self.settings.enabled() && !self.settings.acs_url().is_empty();
        let other_wake = earliest(
            self.cr_port.map(|_| self.next_address_check_ms),
            self.notifier.wake_at(&self.state, &self.settings),
        );
        // When the next session starts (what `print` shows as next-inform).
        let mut wake_at = None;
        // A policy enabled or changed now counts from now: the slots before it were not missed
        // (they did not exist), so they must not start a heartbeat at once.
        let policy = heartbeat_policy(&self.state);
        if policy != self.heartbeat_seen.0 {
            self.heartbeat_seen = (policy, now_ms);
        }
        if running {
            // Events waiting to be journaled start their own session first.
            if let Some(policy) = policy.filter(|_| self.raising.is_empty()) {
                let since = self.heartbeat_seen.1;
                let last = self.last_heartbeat_ms.filter(|t| *t >= since);
                let base = last.unwrap_or(since);
                let not_before = last.map_or(since, |t| t.saturating_add(1));
                let due = next_heartbeat_at(&policy, not_before, base);
                if due <= now_ms {
                    // Missed slots are not made up: the next one supersedes them.
                    self.last_heartbeat_ms = Some(now_ms);
                    return Some(self.start_session(now_ms, Vec::new(), true));
                }
                wake_at = earliest(wake_at, Some(due));
            }
            if let Some((due, key)) = next_schedule_inform(&self.state) {
                if due <= now_ms {
                    self.raising.extend([
                        record(Kind::ScheduleInformFired(proto::ScheduleInformFired {
                            command_key: key.clone(),
                        })),
                        event_raised(ec::SCHEDULED, ""),
                        event_raised(ec::M_SCHEDULE_INFORM, &key),
                    ]);
                } else {
                    wake_at = earliest(wake_at, Some(due));
                }
            }
            let base_ms = self
                .last_periodic_raise_ms
                .map_or(self.started_at_ms, |t| t.max(self.started_at_ms));
            // With a PeriodicInformTime the slots are fixed: the next one is the first after the
            // last raise (not after now, or a wake-up a millisecond late would skip its slot).
            let not_before = self
                .last_periodic_raise_ms
                .map_or(self.started_at_ms, |t| t.saturating_add(1));
            if let Some(due) = next_periodic_at(&self.state, &self.settings, not_before, base_ms) {
                let due = match (
                    self.settings.periodic_inform_time(),
                    self.last_periodic_raise_ms,
                ) {
                    (None, Some(raised)) => {
                        due.max(raised + self.settings.periodic_inform_interval() * 1000)
                    }
                    _ => due,
                };
                if due <= now_ms && self.last_periodic_raise_ms.is_none_or(|t| t < due) {
                    self.last_periodic_raise_ms = Some(now_ms);
                    self.raising.push(event_raised(ec::PERIODIC, ""));
                } else {
                    wake_at = earliest(wake_at, Some(due.max(now_ms + 1)));
                }
            }
            // The Inform carries ConnectionRequestURL: the first one waits for the address.
            let url_pending = self.address_lookup && self.runtime.connection_request_url.is_empty();
            let raises_event = self
                .raising
                .iter()
                .any(|r| matches!(r.kind, Some(Kind::EventRaised(_))));
            // A new boot's first session waits out the boot delay, whatever raised it.
            let held = self.boot_delay_until_ms.filter(|until| *until > now_ms);
            if raises_event && !url_pending && held.is_none() {
                // A raised event starts its session at once, even inside a retry wait.
                self.boot_delay_until_ms = None;
                self.start_early = false;
                let raised = std::mem::take(&mut self.raising);
                return Some(self.start_session(now_ms, raised, false));
            }
            if let Some(at) = owed_session_at(&self.state, now_ms).filter(|_| !url_pending) {
                if let Some(until) = held {
                    wake_at = earliest(wake_at, Some(until.max(at)));
                } else if at <= now_ms || self.start_early {
                    self.boot_delay_until_ms = None;
                    self.start_early = false;
                    return Some(self.start_session(now_ms, Vec::new(), false));
                } else {
                    wake_at = earliest(wake_at, Some(at));
                }
            }
        }
        if !self.raising.is_empty() {
            // No session can start now (disabled, no ACS URL, or the first address is not
            // known yet): the events are owed until one can.
            return Some(raise(std::mem::take(&mut self.raising)));
        }
        self.start_early = false;
        self.runtime.next_inform_at_ms = wake_at.filter(|_| running);
        self.wake_at_ms = earliest(self.wake_at_ms, earliest(wake_at, other_wake));
        None
    }

    pub(super) fn on_local_address(&mut self, ip: Option<IpAddr>) {
        self.address_lookup = false;
        let Some(port) = self.cr_port else { return };
        let ip = ip.unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let path = self.settings.get("connection-request-path");
        if self
            .connection_request_url_of
            .as_ref()
            .is_some_and(|(i, p, s)| (*i, *p, s.as_str()) == (ip, port, path.as_str()))
        {
            return;
        }
        let url = connection_request_url(ip, port, &path);
        self.connection_request_url_of = Some((ip, port, path));
        let previous = std::mem::replace(&mut self.runtime.connection_request_url, url.clone());
        if previous != url && !previous.is_empty() {
            // ConnectionRequestURL is active-notified by default: the ACS must hear of it.
            tracing::info!(%url, "the host's address changed: ConnectionRequestURL updated");
            self.raising.extend([
                record(Kind::ValueChanged(proto::ValueChanged {
                    name: "Device.ManagementServer.ConnectionRequestURL".to_owned(),
                    value: url,
                    notification: 2,
                })),
                event_raised(ec::VALUE_CHANGE, ""),
            ]);
        }
    }
}

/// `ManagementServer.ConnectionRequestURL`: `http://host:port/path`, IPv6 literals in brackets.
pub fn connection_request_url(host: IpAddr, port: u16, path: &str) -> String {
    let slash = if path.starts_with('/') { "" } else { "/" };
    match host {
        IpAddr::V4(v4) => format!("http://{v4}:{port}{slash}{path}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("http://{v4}:{port}{slash}{path}"),
            None => format!("http://[{v6}]:{port}{slash}{path}"),
        },
    }
}

/// A random connection-request path: `/` and [`CR_PATH_LEN`] characters of `[A-Za-z0-9]`
/// (~142 bits).
pub fn random_path(entropy: &mut dyn Entropy) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut path = String::with_capacity(CR_PATH_LEN + 1);
    path.push('/');
    while path.len() <= CR_PATH_LEN {
        // Rejection sampling keeps every character equally likely.
        let byte = (entropy.next_u64() & 0xff) as usize;
        if byte < 248 {
            path.push(char::from(ALPHABET[byte % ALPHABET.len()]));
        }
    }
    path
}
