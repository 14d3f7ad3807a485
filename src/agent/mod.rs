//! The tokio edge: the only place that owns sockets, timers and child processes.
//!
//! - [`transport`]: the HTTP(S) client a session talks to the ACS through.
//! - [`connection_request`]: the HTTP server the ACS wakes the CPE through.
//! - [`retry`]: TR-069's session retry wait intervals.

pub mod connection_request;
pub mod retry;
pub mod transport;
