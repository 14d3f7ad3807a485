//! The tokio edge: the only place that owns sockets, timers and child processes.
//!
//! - [`connection_request`]: the HTTP server the ACS wakes the CPE through.
//! - [`retry`]: TR-069's session retry wait intervals.
//! - [`schedule`]: when the next session is due (pure functions of state, settings and time).
//! - [`daemon`]: the scheduler loop, sessions over the transport, reboots and hooks.
//! - [`handler`]: the agent's answers to the ACS's requests (records + response, no I/O).
//! - [`inform`]: building the Inform from the device identity and the folded state.

pub mod connection_request;
pub mod daemon;
pub mod diagnostics;
pub mod handler;
pub mod inform;
pub mod notifier;
pub mod retry;
pub mod schedule;
pub mod transfers;
