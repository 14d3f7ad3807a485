//! tr069-client: a TR-069 (CWMP) client agent for routers.
//!
//! See `ARCHITECTURE.md` for the map. The protocol logic is sans-I/O: [`cwmp`] turns bytes into
//! typed messages and back; [`agent`] is the tokio edge that owns sockets and timers.

pub mod agent;
pub mod cli;
pub mod config;
pub mod connection_request;
pub mod control;
pub mod cpe;
#[cfg(feature = "failpoints")]
pub mod crash;
pub mod cwmp;
pub mod datamodel;
pub mod diagnostics;
#[cfg(feature = "fleet")]
pub mod fleet;
pub mod http;
pub mod ordering;
pub mod postmortem;
pub mod records;
pub mod session;
pub mod state;
pub mod transfer;
pub mod uci;

/// `crash_point!("name")`: a place the chaos tests may crash the agent at (see `crash`); expands
/// to nothing unless the `failpoints` feature is on.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::crash::hit($name);
    };
}
