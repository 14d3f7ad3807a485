//! [`ControlBackend`] over the running daemon's [`Agent`], and the daemon's control-socket task.
//!
//! The daemon starts it beside the scheduler:
//!
//! ```ignore
//! if let Some(path) = &config.control_socket {
//!     tokio::spawn(crate::control::agent_backend::serve(agent.clone(), path.clone()));
//! }
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use super::backend::ControlBackend;
use super::view::RuntimeInfo;
use crate::agent::daemon::Agent;
use crate::state::AgentState;
use crate::state::settings::Settings;

/// The running agent as a control backend. `append` blocks on the agent's async append, so it
/// must be called off the async workers (the socket server calls [`super::handle`] on tokio's
/// blocking pool).
pub struct AgentBackend {
    agent: Arc<Agent>,
    runtime: tokio::runtime::Handle,
}

impl AgentBackend {
    /// Must be called inside the daemon's tokio runtime.
    pub fn new(agent: Arc<Agent>) -> AgentBackend {
        AgentBackend {
            agent,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl ControlBackend for AgentBackend {
    fn state(&self) -> (AgentState, Settings) {
        (self.agent.state(), self.agent.settings())
    }

    fn append(&self, records: Vec<crate::records::Record>) -> Result<(), String> {
        self.runtime
            .block_on(self.agent.append(records))
            .map_err(|e| format!("{e:#}"))
    }

    fn runtime(&self) -> RuntimeInfo {
        let r = self.agent.runtime();
        RuntimeInfo {
            next_inform_at_ms: r.next_inform_at_ms,
            session_active: r.session_active,
            connection_request_url: Some(r.connection_request_url).filter(|u| !u.is_empty()),
            transfer_progress: r.transfer_progress,
        }
    }

    fn inform_now(&self) -> Result<(), String> {
        self.runtime
            .block_on(self.agent.inform_now())
            .map_err(|e| format!("{e:#}"))
    }
}

/// Serves the control socket at `path` for `agent` until the task is dropped or fails; logs why
/// it stopped.
pub async fn serve(agent: Arc<Agent>, path: PathBuf) {
    let backend: Arc<dyn ControlBackend + Send + Sync> = Arc::new(AgentBackend::new(agent));
    tracing::info!(socket = %path.display(), "control socket listening");
    if let Err(e) = super::socket::run(path.clone(), backend).await {
        tracing::error!(socket = %path.display(), "control socket failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::daemon::DaemonConfig;
    use crate::control::{ControlRequest, ControlResponse, socket};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cli_requests_reach_a_running_agent() {
        let dir = tempfile::tempdir().unwrap();
        let boot = dir.path().join("boot_id");
        std::fs::write(&boot, "boot-1\n").unwrap();
        let mut config = DaemonConfig::new(dir.path().join("data"));
        config.boot_id_file = boot;
        let agent = Agent::open(config).await.unwrap();
        let path = dir.path().join("control.sock");
        let task = tokio::spawn(serve(agent.clone(), path.clone()));
        for _ in 0..100 {
            if path.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let p = path.clone();
        let (set, print, inform) = tokio::task::spawn_blocking(move || {
            let set = socket::request(
                &p,
                &ControlRequest::Set {
                    items: vec![("periodic-inform-interval".into(), "1h".into())],
                },
            )
            .unwrap();
            let print = socket::request(&p, &ControlRequest::Print).unwrap();
            let inform = socket::request(&p, &ControlRequest::InformNow).unwrap();
            (set, print, inform)
        })
        .await
        .unwrap();
        assert!(matches!(set, ControlResponse::Ok { .. }), "{set:?}");
        assert_eq!(agent.settings().periodic_inform_interval(), 3600);
        let ControlResponse::View { view } = print else {
            panic!("{print:?}")
        };
        assert!(view.daemon_running);
        assert_eq!(view.settings["periodic-inform-interval"], "1h");
        assert_eq!(view.boot_id, "boot-1");
        assert!(matches!(inform, ControlResponse::Ok { .. }), "{inform:?}");
        task.abort();
    }
}
