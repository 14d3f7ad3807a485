//! Sessions: starting one, pumping the session machine, answering the ACS through the handler
//! (replayed when an external provider must answer first), and how a session ended.

use super::*;

impl Cpe {
    pub(super) fn endpoint(&self) -> AcsEndpoint {
        AcsEndpoint {
            url: self.settings.acs_url().to_owned(),
            username: self.settings.username(),
            password: self.settings.password(),
            tls: self.tls_policy(true),
            request_timeout: self.config.session.request_timeout,
        }
    }

    pub(super) fn tls_policy(&self, with_client_certificate: bool) -> TlsPolicy {
        TlsPolicy {
            ca_file: self.settings.ca_file().map(PathBuf::from),
            client_certificate: self
                .settings
                .client_certificate()
                .filter(|_| with_client_certificate)
                .map(PathBuf::from),
            insecure: self.settings.tls_insecure(),
        }
    }

    /// Starts a session; `raised` (records raising its events, not journaled yet) are journaled
    /// with its `SessionStarted`, and its Inform is built from the state they will fold into.
    /// A heartbeat session (14 HEARTBEAT) carries nothing else.
    pub(super) fn start_session(
        &mut self,
        now_ms: u64,
        raised: Vec<Record>,
        heartbeat: bool,
    ) -> Action {
        let id = format!("{:016x}", self.entropy.next_u64());
        let projected;
        let state = if raised.is_empty() {
            &self.state
        } else {
            let mut s = self.state.clone();
            for r in &raised {
                s.apply(s.last_seq + 1, now_ms, r);
            }
            projected = s;
            &projected
        };
        let mut inform = if heartbeat {
            inform::build_heartbeat_inform(
                &self.model.identity,
                state,
                &self.runtime.connection_request_url,
                now_ms,
            )
        } else {
            inform::build_inform(
                &self.model.identity,
                state,
                &self.runtime.connection_request_url,
                now_ms,
            )
        };
        let extra = inform::inform_parameters(&self.view(now_ms, &self.scratch_memo), &inform);
        self.scratch_memo.clear();
        inform::add_parameters(&mut inform, extra);
        let mut config = SessionConfig::new(self.settings.acs_url());
        config.namespace = CwmpNamespace::Cwmp12;
        config.send_get_rpc_methods = self.config.session.get_rpc_methods && !heartbeat;
        config.session_timeout_secs =
            u32::try_from(self.config.session.request_timeout.as_secs()).unwrap_or(30);
        config.max_session_secs =
            u32::try_from(self.config.session.timeout.as_secs()).unwrap_or(u32::MAX);
        let start = SessionStart {
            session_id: id.clone(),
            inform,
            // A heartbeat carries nothing else (TR-069 Amendment 6).
            transfer_completes: if heartbeat {
                Vec::new()
            } else {
                transfer_lifecycle::owed_transfer_completes(state)
            },
            raised,
        };
        tracing::info!(session = %id, url = %self.settings.acs_url(), events = ?start.inform.event.iter().map(|e| e.event_code.as_str()).collect::<Vec<_>>(), "session starting");
        self.session = Some(ActiveSession {
            session: Session::new(config, start, now_ms),
            id,
            retry_after: None,
            stashed_reply: None,
            heartbeat,
        });
        self.runtime.session_active = true;
        Action::OpenSession(self.endpoint())
    }

    /// The active session's next output.
    pub(super) fn session_step(&mut self, now_ms: u64) -> Option<Action> {
        let s = self.session.as_mut()?;
        if s.stashed_reply.is_some() {
            return None;
        }
        match s.session.poll_output()? {
            Output::Journal(records) => {
                let acknowledges = records.iter().any(|r| {
                    matches!(
                        r.kind,
                        Some(Kind::InformAcknowledged(_) | Kind::TransferCompleteAcknowledged(_))
                    )
                });
                self.gate = Some(Gate::Session);
                Some(Action::Append(Append {
                    records,
                    // The ACS has answered; its acknowledgement is not yet journaled.
                    crash_before: acknowledges.then_some("session.before_ack_journaled"),
                    // Journaled; the response (or the next request) is not yet sent.
                    crash_after: Some("session.after_journal_before_send"),
                }))
            }
            Output::Send { body, is_inform } => Some(Action::Send {
                body,
                is_inform,
                deadline_ms: s.session.deadline_ms(),
            }),
            Output::Finished(result) => {
                let s = self.session.take()?;
                self.runtime.session_active = false;
                let ended = self.session_ended(now_ms, &s, &result);
                self.queue
                    .push_back(Action::Append(Append::plain(vec![ended])));
                if std::mem::take(&mut self.connection_request_after_session) {
                    self.raising.push(event_raised(ec::CONNECTION_REQUEST, ""));
                }
                Some(Action::CloseSession)
            }
        }
    }

    pub(super) fn session_ended(
        &mut self,
        _now_ms: u64,
        s: &ActiveSession,
        result: &SessionResult,
    ) -> Record {
        if s.heartbeat {
            match result.failure() {
                None => tracing::info!(session = %s.id, "heartbeat session completed"),
                Some(reason) => {
                    tracing::warn!(session = %s.id, %reason, "heartbeat session failed (not retried)")
                }
            }
            let mut ended = result.ended_record(&s.id, None);
            if let Some(Kind::SessionEnded(e)) = &mut ended.kind {
                e.heartbeat = true;
            }
            return ended;
        }
        let wait_secs = match result.failure() {
            None => {
                tracing::info!(session = %s.id, "session completed");
                None
            }
            Some(reason) => {
                let retry_after = reason.retry_after().or(s.retry_after);
                let policy = RetryPolicy::new(
                    self.settings.retry_minimum_wait(),
                    self.settings.retry_interval_multiplier(),
                );
                let wait = retry_after.unwrap_or_else(|| {
                    self.entropy
                        .retry_wait(&policy, self.state.retry_count.saturating_add(1))
                });
                let wait_secs = u32::try_from(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
                    .unwrap_or(u32::MAX);
                tracing::warn!(session = %s.id, %reason, retry_in_s = wait_secs, "session failed");
                Some(wait_secs)
            }
        };
        result.ended_record(&s.id, wait_secs)
    }

    pub(super) fn on_acs_reply(
        &mut self,
        now_ms: u64,
        status: u16,
        body: Vec<u8>,
        retry_after: Option<Duration>,
    ) {
        let Some(s) = self.session.as_mut() else {
            return;
        };
        // A provider's call inside the answer is replayed with its result: keep the machine as
        // it was before the reply.
        let before = (!self.model.externals.is_empty()).then(|| s.session.clone());
        let mut handler = AcsRequestHandler {
            model: &self.model,
            factory_settings: &self.config.factory_settings,
            settings: (!self.settings_stale).then_some(&self.settings),
            connection_request_url: &self.runtime.connection_request_url,
            xmpp: &self.runtime.xmpp,
            state: &self.state,
            transfers: TransferSupport {
                firmware: self.config.hooks.firmware_apply.is_some(),
                oui: self.model.identity.oui.clone(),
            },
            externals: &self.session_memo,
            udp_echo: self.runtime.udp_echo,
        };
        s.session
            .on_reply(&mut handler, now_ms, status, &body, retry_after);
        match (self.session_memo.take_missing(), before) {
            (Some(call), Some(before)) => {
                s.session = before;
                s.stashed_reply = Some((now_ms, status, body, retry_after));
                self.queue.push_back(Action::External(call));
            }
            _ => self.session_memo.clear(),
        }
    }
}
