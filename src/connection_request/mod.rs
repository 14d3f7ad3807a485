//! Connection requests, the decisions without the sockets: Digest authentication with
//! expiring, non-replayable nonces ([`auth`]) and the per-source and global limits ([`rate_limit`]).
//! The HTTP listener that uses them is the edge's (`agent::connection_request`).

pub mod auth;
pub mod rate_limit;
