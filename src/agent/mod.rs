//! The tokio edge: the only place that owns sockets, timers, child processes and signals. It
//! executes what the per-device core (`cpe`) decides and feeds it the results.
//!
//! - [`run`]: the daemon's loop around one [`crate::cpe::Cpe`], its journal and its actions;
//!   [`run::AgentHandle`], the channel the control socket talks to it through.
//! - [`connection_request`]: the HTTP listener the ACS wakes the CPE through.
//! - [`reachability`]: the ways the ACS reaches a CPE behind a NAT — the UDP socket of STUN and
//!   UDP connection requests ([`udp_connection_request`]) and the XMPP connection ([`xmpp`],
//!   feature `xmpp`).
//! - [`transfer_jobs`]: the I/O of transfers (fetch with checkpoints, upload, apply hooks).
//! - [`hooks`]: running the device's hook commands.

pub mod connection_request;
pub mod hooks;
pub mod reachability;
pub mod run;
pub mod transfer_jobs;
pub mod udp_connection_request;
#[cfg(feature = "xmpp")]
pub mod xmpp;

pub use run::{Agent, AgentHandle, Ports, RunEnd, now_ms};
