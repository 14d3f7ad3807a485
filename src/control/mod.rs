//! The control plane: how the operator's CLI talks to the agent.
//!
//! The daemon owns the data directory (sled allows one process). CLI commands send a
//! [`ControlRequest`] over the daemon's Unix socket ([`socket`], mode 0600, one JSON object per
//! line each way) and get a [`ControlResponse`]; when no daemon runs, the CLI opens the data
//! directory itself through [`OfflineBackend`]. Both paths go through the same [`handle`], so
//! `set`, `get`, `print` and `reset-tr069-config` behave identically either way.
//!
//! - [`protocol`]: the request and response types (the wire format).
//! - [`view`]: [`StatusView`], what `print` shows, and its RouterOS-style rendering.
//! - [`backend`]: [`ControlBackend`], the seam to the agent, and [`handle`].
//! - [`offline`]: the backend over a directly opened journal (the running daemon's is
//!   `agent::AgentHandle`).
//! - [`socket`]: the daemon's socket server and the CLI's blocking client.

pub mod backend;
pub mod offline;
pub mod protocol;
pub mod socket;
pub mod view;

pub use backend::{ControlBackend, handle};
pub use offline::OfflineBackend;
pub use protocol::{ControlRequest, ControlResponse, ErrorKind};
pub use view::{RuntimeInfo, StatusView, render_print};
