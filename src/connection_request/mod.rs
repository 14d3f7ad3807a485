//! Connection requests, the decisions without the sockets: Digest authentication with
//! expiring, non-replayable nonces ([`auth`]), the per-source and global limits
//! ([`rate_limit`]), UDP connection requests and their replay guard ([`udp`]), the STUN binding
//! that makes them reachable through a NAT ([`stun`]), and XMPP connection requests ([`xmpp`]).
//! The listeners that use them are the edge's (`agent::connection_request`,
//! `agent::udp_connection_request`, `agent::xmpp`).

pub mod auth;
pub mod rate_limit;
pub mod stun;
pub mod udp;
pub mod xmpp;
