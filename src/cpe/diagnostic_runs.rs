//! Diagnostics under way: which requested test runs next, a changed input cancelling the test
//! under way, a finished test's results journaled, and the UDP echo responder's configuration.

use super::*;

impl Cpe {
    /// A record changed a diagnostic's inputs or state: its generation moves on, and a test of
    /// it under way is stale (cancelled; its result will be dropped).
    pub(super) fn note_diagnostic_changes(&mut self, seq: u64, record: &Record) {
        let Some(Kind::ParametersSet(p)) = &record.kind else {
            return;
        };
        for v in &p.values {
            if let Some(d) = diagnostics::owning(&v.name) {
                self.diagnostic_generation.insert(d.object, seq);
                if self
                    .diagnostic_running
                    .is_some_and(|(object, generation)| object == d.object && generation != seq)
                    && !self.queue.contains(&Action::CancelDiagnostic)
                {
                    tracing::info!(
                        object = d.object,
                        "diagnostic inputs changed: the test under way is cancelled"
                    );
                    self.queue.push_back(Action::CancelDiagnostic);
                }
            }
        }
    }

    fn generation(&self, object: &str) -> u64 {
        self.diagnostic_generation.get(object).copied().unwrap_or(0)
    }

    /// The next requested diagnostic to run, when none runs.
    pub(super) fn diagnostic_step(&mut self, now_ms: u64) -> Option<Action> {
        if self.diagnostic_running.is_some() {
            return None;
        }
        let now_generation = self.parameters_generation;
        let d = match self.requested_diagnostic {
            Some((at, d)) if at == now_generation => d,
            _ => {
                let d = diagnostics::requested(&self.state);
                self.requested_diagnostic = Some((now_generation, d));
                d
            }
        }?;
        let context = diagnostics::Context {
            tls: self.tls_policy(false).settings(),
        };
        let test = (d.request)(&self.view(now_ms, &self.scratch_memo), &context);
        self.scratch_memo.clear();
        let generation = self.generation(d.object);
        self.diagnostic_running = Some((d.object, generation));
        tracing::info!(object = d.object, "diagnostic starting");
        Some(Action::RunDiagnostic(Box::new(DiagnosticRequest {
            generation,
            test,
        })))
    }

    pub(super) fn on_diagnostic_finished(&mut self, result: DiagnosticResult) {
        let Some((object, generation)) = self.diagnostic_running.take() else {
            return;
        };
        let Some(d) = diagnostics::by_object(object) else {
            return;
        };
        let current = result.generation == generation
            && generation == self.generation(object)
            && diagnostics::is_requested(&self.state, d);
        let results = result.outcome.as_ref().and_then(d.results);
        match results {
            Some(results) if current => {
                tracing::info!(object, state = results.state, "diagnostic finished");
                self.queue.push_back(Action::Append(Append::plain(
                    diagnostics::completion_records(d, &results),
                )));
            }
            // Cancelled or superseded: no results, no event (a new request runs next).
            _ => tracing::info!(object, "a stale diagnostic result was dropped"),
        }
    }

    /// The UDP echo responder the data model asks for, when it differs from the running one.
    pub(super) fn udp_echo_step(&mut self, now_ms: u64) -> Option<Action> {
        // The responder's settings are parameters: they change only with a record.
        if self.udp_echo_read_at == Some(self.parameters_generation) {
            return None;
        }
        self.udp_echo_read_at = Some(self.parameters_generation);
        let wanted = diagnostics::udp_echo::config(&self.view(now_ms, &self.scratch_memo));
        self.scratch_memo.clear();
        if wanted == self.udp_echo {
            return None;
        }
        tracing::info!(?wanted, "UDP echo responder reconfigured");
        self.udp_echo = wanted.clone();
        if wanted.is_none() {
            self.runtime.udp_echo = UdpEchoStats::default();
        }
        Some(Action::UdpEcho(wanted))
    }
}
