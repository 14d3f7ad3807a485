//! The STUN side of UDP connection requests (TR-069 Annex G, formerly TR-111 Part 2), without
//! the socket: the Binding Requests that keep a NAT binding open and tell the CPE its public
//! address, and what their responses mean.
//!
//! The agent's one UDP socket sends a Binding Request to the STUN server at the keep-alive
//! period; the response's (XOR-)MAPPED-ADDRESS is the address the NAT gave that socket, which
//! the ACS reaches it at: `ManagementServer.UDPConnectionRequestAddress`. `NATDetected` is
//! whether it differs from the socket's own address. Every request carries TR-111's
//! CONNECTION-REQUEST-BINDING attribute (it tells a STUN server that knows TR-111 that this
//! binding takes connection requests); the first request after the mapped address changed also
//! carries BINDING-CHANGE, sent at once whatever the minimum keep-alive period.
//!
//! Messages are RFC 5389 (magic cookie, XOR-MAPPED-ADDRESS) and built and read with the
//! `stun-types` crate; a plain MAPPED-ADDRESS (an RFC 3489 server echoes the cookie as part of
//! its transaction id) is understood too. With STUNUsername set, requests carry USERNAME; a
//! server that answers 401 gets MESSAGE-INTEGRITY keyed with STUNPassword (short-term
//! credentials) from then on.
//!
//! A request is retransmitted as RFC 5389 §7.2.1 says (RTO 500 ms, doubling, 7 sends, 39.5 s);
//! then the transaction has failed, the last learned address stays published, and the next
//! request goes out at the next keep-alive time. Nothing here reads a clock: times are
//! milliseconds of a monotonic clock passed in, transaction ids are given by the caller.
//!
//! [`parse_response`] (`fn(&[u8]) -> Result`) is the fuzzing target for what arrives.

use std::net::SocketAddr;
use std::time::Duration;

use stun_types::attribute::{
    AttributeType, ErrorCode, MappedSocketAddr, RawAttribute, Username, XorMappedAddress,
};
use stun_types::message::{
    BINDING, IntegrityAlgorithm, Message, MessageClass, MessageType, MessageWrite, MessageWriteExt,
    MessageWriteVec, ShortTermCredentials, TransactionId,
};

/// TR-111's CONNECTION-REQUEST-BINDING attribute type.
pub const CONNECTION_REQUEST_BINDING: u16 = 0xC001;
/// Its value: the 20 bytes `dslforum.org/TR-111 ` (a trailing space).
pub const CONNECTION_REQUEST_BINDING_VALUE: &[u8; 20] = b"dslforum.org/TR-111 ";
/// TR-111's BINDING-CHANGE attribute type (empty value).
pub const BINDING_CHANGE: u16 = 0xC002;
/// MAPPED-ADDRESS (RFC 3489/5389).
const MAPPED_ADDRESS: u16 = 0x0001;

/// The keep-alive period when STUNMaximumKeepAlivePeriod is -1: below Linux conntrack's 30 s
/// for unreplied UDP and far below common NAT binding lifetimes.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(25);

/// RFC 5389's initial retransmission timeout.
pub const RTO: Duration = Duration::from_millis(500);
/// Sends per transaction (RFC 5389 `Rc`).
pub const MAX_SENDS: u32 = 7;
/// After the last send, how many RTOs to wait for an answer (RFC 5389 `Rm`).
const LAST_WAIT_RTOS: u32 = 16;

/// The keep-alive period from STUNMinimumKeepAlivePeriod and STUNMaximumKeepAlivePeriod
/// (-1: no maximum): the maximum when one is set (the fewest packets the ACS allows), otherwise
/// [`DEFAULT_KEEP_ALIVE`]; never below the minimum, never below one second.
pub fn keep_alive_period(minimum_secs: u64, maximum_secs: i64) -> Duration {
    let chosen = match u64::try_from(maximum_secs) {
        Ok(max) => Duration::from_secs(max),
        Err(_) => DEFAULT_KEEP_ALIVE,
    };
    chosen
        .max(Duration::from_secs(minimum_secs))
        .max(Duration::from_secs(1))
}

/// What a Binding Request carries besides the transaction id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// STUNUsername (empty: no USERNAME).
    pub username: String,
    /// MESSAGE-INTEGRITY keyed with this password (short-term credentials).
    pub integrity_key: Option<String>,
    /// BINDING-CHANGE: the mapped address changed since the previous response.
    pub binding_change: bool,
}

/// Errors building a request (a username too long for STUN).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("cannot build the STUN Binding Request: {0}")]
    Write(String),
}

/// A Binding Request with CONNECTION-REQUEST-BINDING.
pub fn binding_request(transaction: u128, options: &RequestOptions) -> Result<Vec<u8>, BuildError> {
    let err = |e: stun_types::message::StunWriteError| BuildError::Write(e.to_string());
    let mtype = MessageType::from_class_method(MessageClass::Request, BINDING);
    let mut msg = Message::builder(
        mtype,
        TransactionId::from(transaction),
        MessageWriteVec::new(),
    );
    if !options.username.is_empty() {
        msg.add_attribute(&Username::new(&options.username).map_err(err)?)
            .map_err(err)?;
    }
    msg.add_attribute(&RawAttribute::new(
        AttributeType::new(CONNECTION_REQUEST_BINDING),
        CONNECTION_REQUEST_BINDING_VALUE,
    ))
    .map_err(err)?;
    if options.binding_change {
        msg.add_attribute(&RawAttribute::new(AttributeType::new(BINDING_CHANGE), &[]))
            .map_err(err)?;
    }
    if let Some(key) = &options.integrity_key {
        msg.add_message_integrity(
            &ShortTermCredentials::new(key.clone()).into(),
            IntegrityAlgorithm::Sha1,
        )
        .map_err(err)?;
    }
    Ok(msg.finish())
}

/// Whether a datagram looks like a STUN message (RFC 5389 §8's demultiplexing test: the top
/// two bits zero and the magic cookie); anything else on the socket is a connection request or
/// noise.
pub fn is_stun(datagram: &[u8]) -> bool {
    datagram.len() >= 20
        && datagram[0] & 0xc0 == 0
        && datagram[4..8] == stun_types::message::MAGIC_COOKIE.to_be_bytes()
}

/// A Binding response, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingResponse {
    /// The transaction id (96 bits).
    pub transaction: u128,
    pub outcome: BindingOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingOutcome {
    /// A success response with the address the server saw.
    Mapped(SocketAddr),
    /// An error response (e.g. 401 Unauthorized, 420 Unknown Attribute).
    Error { code: u16, reason: String },
}

/// Why a datagram is not a usable Binding response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("not a STUN message: {0}")]
    NotStun(String),
    #[error("not a Binding response")]
    NotBindingResponse,
    #[error("success response without a mapped address")]
    NoAddress,
}

/// Reads a Binding response (success or error). Never panics.
pub fn parse_response(datagram: &[u8]) -> Result<BindingResponse, ResponseError> {
    let msg = Message::from_bytes(datagram).map_err(|e| ResponseError::NotStun(e.to_string()))?;
    if !msg.has_method(BINDING) || !msg.is_response() {
        return Err(ResponseError::NotBindingResponse);
    }
    let transaction = u128::from(msg.transaction_id());
    let outcome = if msg.has_class(MessageClass::Error) {
        let (code, reason) = match msg.attribute::<ErrorCode>() {
            Ok(e) => (e.code(), e.reason().to_owned()),
            Err(_) => (0, String::new()),
        };
        BindingOutcome::Error { code, reason }
    } else {
        let xor = msg
            .attribute::<XorMappedAddress>()
            .ok()
            .map(|a| a.addr(msg.transaction_id()));
        let plain = || {
            msg.raw_attribute(AttributeType::new(MAPPED_ADDRESS))
                .and_then(|raw| MappedSocketAddr::from_raw(&raw).ok())
                .map(|a| a.addr())
        };
        BindingOutcome::Mapped(xor.or_else(plain).ok_or(ResponseError::NoAddress)?)
    };
    Ok(BindingResponse {
        transaction,
        outcome,
    })
}

/// Where the binding stands, as the core needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// The public address and port (UDPConnectionRequestAddress).
    pub mapped: SocketAddr,
    /// The mapped address differs from the socket's own (NATDetected).
    pub nat_detected: bool,
}

/// What the binding machine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StunEvent {
    /// A response arrived; `changed`: the mapped address differs from the previous one (or from
    /// the one the machine was started with).
    Mapped { mapping: Mapping, changed: bool },
    /// A transaction got no usable answer (the reason is for the log).
    Failed(String),
}

/// The machine's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingConfig {
    /// The STUN server, resolved.
    pub server: SocketAddr,
    /// The socket's own address toward the server (its local IP and port).
    pub local: SocketAddr,
    pub username: String,
    pub password: String,
    /// Between Binding Requests (see [`keep_alive_period`]).
    pub keep_alive: Duration,
}

#[derive(Debug, Clone)]
struct Transaction {
    id: u128,
    bytes: Vec<u8>,
    sends: u32,
    /// When the next send (or, after the last one, the failure) is due.
    next_at_ms: u64,
}

/// One NAT binding kept alive through one STUN server. See the module documentation.
#[derive(Debug, Clone)]
pub struct StunBinding {
    config: BindingConfig,
    /// The last mapped address learned (or the one published before, at start).
    known: Option<SocketAddr>,
    pending: Option<Transaction>,
    next_request_ms: u64,
    binding_change_owed: bool,
    /// The server asked for MESSAGE-INTEGRITY.
    with_integrity: bool,
    events: std::collections::VecDeque<StunEvent>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl StunBinding {
    /// A binding whose first request is due at `now_ms`. `published` is the address the agent
    /// published before (the journaled UDPConnectionRequestAddress), so a NAT that mapped the
    /// socket elsewhere since is reported as a change.
    pub fn new(config: BindingConfig, published: Option<SocketAddr>, now_ms: u64) -> StunBinding {
        StunBinding {
            config,
            known: published,
            pending: None,
            next_request_ms: now_ms,
            binding_change_owed: false,
            with_integrity: false,
            events: Default::default(),
        }
    }

    pub fn config(&self) -> &BindingConfig {
        &self.config
    }

    /// A datagram to send to [`BindingConfig::server`], if one is due: a retransmission of the
    /// transaction under way, or a new request (`fresh_transaction` is its id). Call until it
    /// returns `None`.
    pub fn poll_transmit(&mut self, now_ms: u64, fresh_transaction: u128) -> Option<Vec<u8>> {
        if let Some(t) = &mut self.pending {
            if t.sends >= MAX_SENDS || now_ms < t.next_at_ms {
                return None;
            }
            t.sends += 1;
            t.next_at_ms = now_ms.saturating_add(Self::wait_after(t.sends));
            return Some(t.bytes.clone());
        }
        if now_ms < self.next_request_ms {
            return None;
        }
        let options = RequestOptions {
            username: self.config.username.clone(),
            integrity_key: self.with_integrity.then(|| self.config.password.clone()),
            binding_change: self.binding_change_owed,
        };
        let bytes = match binding_request(fresh_transaction, &options) {
            Ok(b) => b,
            Err(e) => {
                self.events.push_back(StunEvent::Failed(e.to_string()));
                self.next_request_ms = now_ms.saturating_add(ms(self.config.keep_alive));
                return None;
            }
        };
        self.pending = Some(Transaction {
            id: fresh_transaction & 0xffff_ffff_ffff_ffff_ffff_ffff,
            bytes: bytes.clone(),
            sends: 1,
            next_at_ms: now_ms.saturating_add(Self::wait_after(1)),
        });
        Some(bytes)
    }

    /// How long after send number `sends` the next one (or the failure) is due: RTO, 2 RTO,
    /// 4 RTO, …, then 16 RTO after the last.
    fn wait_after(sends: u32) -> u64 {
        if sends >= MAX_SENDS {
            ms(RTO) * u64::from(LAST_WAIT_RTOS)
        } else {
            ms(RTO) << (sends - 1).min(16)
        }
    }

    /// Something that happened (a mapping learned, a transaction failed). Call until `None`.
    pub fn poll_event(&mut self, now_ms: u64) -> Option<StunEvent> {
        if let Some(t) = &self.pending
            && t.sends >= MAX_SENDS
            && now_ms >= t.next_at_ms
        {
            self.pending = None;
            self.next_request_ms = now_ms.saturating_add(ms(self.config.keep_alive));
            self.events.push_back(StunEvent::Failed(format!(
                "no answer from the STUN server {} after {MAX_SENDS} Binding Requests",
                self.config.server
            )));
        }
        self.events.pop_front()
    }

    /// When [`Self::poll_transmit`] or [`Self::poll_event`] next has something (ms).
    pub fn poll_timeout(&self) -> u64 {
        match &self.pending {
            Some(t) => t.next_at_ms,
            None if self.events.is_empty() => self.next_request_ms,
            None => 0,
        }
    }

    /// A datagram from `from` that [`is_stun`]. Responses to anything but the transaction under
    /// way, or from another address than the server, are ignored (`Ok(false)`); `Ok(true)`: it
    /// answered the transaction (see [`Self::poll_event`]).
    pub fn handle_datagram(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        now_ms: u64,
    ) -> Result<bool, ResponseError> {
        if from != self.config.server {
            return Ok(false);
        }
        let response = parse_response(datagram)?;
        let Some(t) = &self.pending else {
            return Ok(false);
        };
        if t.id != response.transaction {
            return Ok(false);
        }
        self.pending = None;
        match response.outcome {
            BindingOutcome::Mapped(mapped) => {
                let changed = self.known != Some(mapped);
                // The request that reported the change went out before it was known: the next
                // one carries BINDING-CHANGE, at once.
                if changed && self.known.is_some() {
                    self.binding_change_owed = true;
                    self.next_request_ms = now_ms;
                } else {
                    self.binding_change_owed = false;
                    self.next_request_ms = now_ms.saturating_add(ms(self.config.keep_alive));
                }
                self.known = Some(mapped);
                self.events.push_back(StunEvent::Mapped {
                    mapping: Mapping {
                        mapped,
                        nat_detected: mapped != self.config.local,
                    },
                    changed,
                });
            }
            BindingOutcome::Error { code: 401, .. }
                if !self.with_integrity && !self.config.password.is_empty() =>
            {
                // The server wants MESSAGE-INTEGRITY: ask again with it, at once.
                self.with_integrity = true;
                self.next_request_ms = now_ms;
            }
            BindingOutcome::Error { code, reason } => {
                self.next_request_ms = now_ms.saturating_add(ms(self.config.keep_alive));
                self.events.push_back(StunEvent::Failed(format!(
                    "the STUN server {} answered {code} {reason}",
                    self.config.server
                )));
            }
        }
        Ok(true)
    }
}

/// `UDPConnectionRequestAddress`'s text for an address: `host:port`, IPv6 in brackets.
pub fn udp_address_text(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => format!("{v4}:{}", a.port()),
            None => format!("[{}]:{}", a.ip(), a.port()),
        },
    }
}

/// The address a published `UDPConnectionRequestAddress` names (`None` for empty or bad text).
pub fn parse_udp_address(text: &str) -> Option<SocketAddr> {
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stun_types::attribute::XorMappedAddress;
    use stun_types::message::MessageWriteVec;

    const SERVER: &str = "198.51.100.1:3478";
    const LOCAL: &str = "10.0.0.2:7547";

    fn config() -> BindingConfig {
        BindingConfig {
            server: SERVER.parse().unwrap(),
            local: LOCAL.parse().unwrap(),
            username: String::new(),
            password: String::new(),
            keep_alive: Duration::from_secs(25),
        }
    }

    /// What a STUN server (coturn) answers: XOR-MAPPED-ADDRESS.
    fn success(request: &[u8], mapped: &str) -> Vec<u8> {
        let req = Message::from_bytes(request).unwrap();
        let mut resp = Message::builder_success(&req, MessageWriteVec::new());
        let addr: SocketAddr = mapped.parse().unwrap();
        resp.add_attribute(&XorMappedAddress::new(addr, req.transaction_id()))
            .unwrap();
        resp.finish()
    }

    fn error(request: &[u8], code: u16) -> Vec<u8> {
        let req = Message::from_bytes(request).unwrap();
        let mut resp = Message::builder_error(&req, MessageWriteVec::new());
        resp.add_attribute(&ErrorCode::builder(code).reason("no").build().unwrap())
            .unwrap();
        resp.finish()
    }

    fn server() -> SocketAddr {
        SERVER.parse().unwrap()
    }

    #[test]
    fn requests_carry_the_tr111_attributes() {
        let bytes = binding_request(
            7,
            &RequestOptions {
                username: "cpe".into(),
                integrity_key: Some("pw".into()),
                binding_change: true,
            },
        )
        .unwrap();
        assert!(is_stun(&bytes));
        let msg = Message::from_bytes(&bytes).unwrap();
        assert!(msg.has_class(MessageClass::Request) && msg.has_method(BINDING));
        assert_eq!(u128::from(msg.transaction_id()), 7);
        let crb = msg
            .raw_attribute(AttributeType::new(CONNECTION_REQUEST_BINDING))
            .unwrap();
        assert_eq!(crb.value.as_ref(), CONNECTION_REQUEST_BINDING_VALUE);
        assert!(msg.has_attribute(AttributeType::new(BINDING_CHANGE)));
        assert_eq!(msg.attribute::<Username>().unwrap().username(), "cpe");
        let creds = ShortTermCredentials::new("pw".into()).into();
        assert!(msg.validate_integrity(&creds).is_ok());
        let plain = binding_request(8, &RequestOptions::default()).unwrap();
        let msg = Message::from_bytes(&plain).unwrap();
        assert!(!msg.has_attribute(AttributeType::new(BINDING_CHANGE)));
        assert!(msg.attribute::<Username>().is_err());
    }

    #[test]
    fn responses_are_read_and_garbage_is_refused() {
        let req = binding_request(9, &RequestOptions::default()).unwrap();
        let ok = parse_response(&success(&req, "203.0.113.5:40000")).unwrap();
        assert_eq!(ok.transaction, 9);
        assert_eq!(
            ok.outcome,
            BindingOutcome::Mapped("203.0.113.5:40000".parse().unwrap())
        );
        let err = parse_response(&error(&req, 401)).unwrap();
        assert!(matches!(
            err.outcome,
            BindingOutcome::Error { code: 401, .. }
        ));
        // A request is not a response.
        assert_eq!(parse_response(&req), Err(ResponseError::NotBindingResponse));
        assert!(parse_response(b"GET / HTTP/1.1").is_err());
        assert!(parse_response(&[]).is_err());
        // A success without any address.
        let req_msg = Message::from_bytes(&req).unwrap();
        let empty = Message::builder_success(&req_msg, MessageWriteVec::new()).finish();
        assert_eq!(parse_response(&empty), Err(ResponseError::NoAddress));
        // Truncated in every place.
        let full = success(&req, "203.0.113.5:40000");
        for n in 0..full.len() {
            let _ = parse_response(&full[..n]);
        }
    }

    #[test]
    fn a_plain_mapped_address_is_understood() {
        let req = binding_request(11, &RequestOptions::default()).unwrap();
        let req_msg = Message::from_bytes(&req).unwrap();
        let mut resp = Message::builder_success(&req_msg, MessageWriteVec::new());
        let addr: SocketAddr = "192.0.2.9:1234".parse().unwrap();
        resp.add_attribute(&MappedSocketAddr::new(addr).to_raw(AttributeType::new(MAPPED_ADDRESS)))
            .unwrap();
        let parsed = parse_response(&resp.finish()).unwrap();
        assert_eq!(parsed.outcome, BindingOutcome::Mapped(addr));
    }

    #[test]
    fn keep_alive_period_follows_the_settings() {
        assert_eq!(keep_alive_period(10, -1), DEFAULT_KEEP_ALIVE);
        assert_eq!(keep_alive_period(10, 60), Duration::from_secs(60));
        assert_eq!(keep_alive_period(90, 60), Duration::from_secs(90));
        assert_eq!(keep_alive_period(0, 0), Duration::from_secs(1));
        assert_eq!(keep_alive_period(40, -1), Duration::from_secs(40));
    }

    #[test]
    fn learns_the_mapping_then_keeps_it_alive_at_the_period() {
        let mut b = StunBinding::new(config(), None, 1_000);
        let req = b.poll_transmit(1_000, 1).unwrap();
        assert!(
            b.poll_transmit(1_000, 2).is_none(),
            "one transaction at a time"
        );
        assert!(
            b.handle_datagram(&success(&req, "203.0.113.5:40000"), server(), 1_100)
                .unwrap()
        );
        assert_eq!(
            b.poll_event(1_100),
            Some(StunEvent::Mapped {
                mapping: Mapping {
                    mapped: "203.0.113.5:40000".parse().unwrap(),
                    nat_detected: true
                },
                changed: true
            })
        );
        assert_eq!(b.poll_event(1_100), None);
        // Nothing until the keep-alive period has passed: no busy wake-ups.
        assert_eq!(b.poll_timeout(), 26_100);
        assert!(b.poll_transmit(26_099, 3).is_none());
        let req = b.poll_transmit(26_100, 3).unwrap();
        let msg = Message::from_bytes(&req).unwrap();
        assert!(!msg.has_attribute(AttributeType::new(BINDING_CHANGE)));
        assert!(
            b.handle_datagram(&success(&req, "203.0.113.5:40000"), server(), 26_200)
                .unwrap()
        );
        assert!(matches!(
            b.poll_event(26_200),
            Some(StunEvent::Mapped { changed: false, .. })
        ));
    }

    #[test]
    fn no_nat_when_the_server_sees_the_socket_itself() {
        let mut b = StunBinding::new(config(), None, 0);
        let req = b.poll_transmit(0, 1).unwrap();
        b.handle_datagram(&success(&req, LOCAL), server(), 5)
            .unwrap();
        assert!(matches!(
            b.poll_event(5),
            Some(StunEvent::Mapped {
                mapping: Mapping {
                    nat_detected: false,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn a_moved_mapping_is_reported_and_announced_with_binding_change_at_once() {
        let published: SocketAddr = "203.0.113.5:40000".parse().unwrap();
        let mut b = StunBinding::new(config(), Some(published), 0);
        let req = b.poll_transmit(0, 1).unwrap();
        b.handle_datagram(&success(&req, "203.0.113.5:41111"), server(), 10)
            .unwrap();
        assert!(matches!(
            b.poll_event(10),
            Some(StunEvent::Mapped { changed: true, .. })
        ));
        // The BINDING-CHANGE request goes out now, not a keep-alive period later.
        let req = b.poll_transmit(10, 2).expect("a request at once");
        let msg = Message::from_bytes(&req).unwrap();
        assert!(msg.has_attribute(AttributeType::new(BINDING_CHANGE)));
        b.handle_datagram(&success(&req, "203.0.113.5:41111"), server(), 20)
            .unwrap();
        assert!(matches!(
            b.poll_event(20),
            Some(StunEvent::Mapped { changed: false, .. })
        ));
        let req = b.poll_transmit(25_020, 3).unwrap();
        let msg = Message::from_bytes(&req).unwrap();
        assert!(!msg.has_attribute(AttributeType::new(BINDING_CHANGE)));
    }

    #[test]
    fn retransmits_on_the_rfc5389_schedule_then_fails_and_waits_a_period() {
        let mut b = StunBinding::new(config(), None, 0);
        let first = b.poll_transmit(0, 1).unwrap();
        let mut sent_at = vec![0u64];
        while sent_at.len() < MAX_SENDS as usize {
            let now = b.poll_timeout();
            let again = b.poll_transmit(now, 99).unwrap();
            assert_eq!(again, first, "a retransmission is the same message");
            sent_at.push(now);
        }
        assert_eq!(sent_at, vec![0, 500, 1_500, 3_500, 7_500, 15_500, 31_500]);
        assert!(b.poll_transmit(b.poll_timeout(), 99).is_none());
        assert_eq!(b.poll_timeout(), 39_500);
        assert_eq!(b.poll_event(39_499), None);
        assert!(matches!(b.poll_event(39_500), Some(StunEvent::Failed(_))));
        assert_eq!(b.poll_timeout(), 39_500 + 25_000);
        // A late answer to the failed transaction is ignored.
        assert!(
            !b.handle_datagram(&success(&first, "203.0.113.5:1"), server(), 40_000)
                .unwrap()
        );
        assert_eq!(b.poll_event(40_000), None);
    }

    #[test]
    fn answers_from_elsewhere_or_to_other_transactions_are_ignored() {
        let mut b = StunBinding::new(config(), None, 0);
        let req = b.poll_transmit(0, 1).unwrap();
        let forged = success(&req, "192.0.2.66:6666");
        assert!(
            !b.handle_datagram(&forged, "192.0.2.66:3478".parse().unwrap(), 1)
                .unwrap()
        );
        let other = binding_request(2, &RequestOptions::default()).unwrap();
        assert!(
            !b.handle_datagram(&success(&other, "192.0.2.66:6666"), server(), 1)
                .unwrap()
        );
        assert_eq!(b.poll_event(1), None);
        assert!(
            b.handle_datagram(&success(&req, "203.0.113.5:40000"), server(), 2)
                .unwrap()
        );
    }

    #[test]
    fn a_401_brings_message_integrity() {
        let mut c = config();
        c.username = "cpe".into();
        c.password = "pw".into();
        let mut b = StunBinding::new(c, None, 0);
        let req = b.poll_transmit(0, 1).unwrap();
        assert!(
            Message::from_bytes(&req)
                .unwrap()
                .attribute::<Username>()
                .is_ok()
        );
        b.handle_datagram(&error(&req, 401), server(), 1).unwrap();
        assert_eq!(b.poll_event(1), None);
        let req = b.poll_transmit(1, 2).unwrap();
        let msg = Message::from_bytes(&req).unwrap();
        assert!(
            msg.validate_integrity(&ShortTermCredentials::new("pw".into()).into())
                .is_ok()
        );
        // Another error is a failure, and waits a period.
        b.handle_datagram(&error(&req, 401), server(), 2).unwrap();
        assert!(matches!(b.poll_event(2), Some(StunEvent::Failed(_))));
        assert_eq!(b.poll_timeout(), 25_002);
    }

    #[test]
    fn address_text() {
        assert_eq!(
            udp_address_text("203.0.113.5:40000".parse().unwrap()),
            "203.0.113.5:40000"
        );
        assert_eq!(
            udp_address_text("[2001:db8::1]:7547".parse().unwrap()),
            "[2001:db8::1]:7547"
        );
        assert_eq!(
            parse_udp_address("[2001:db8::1]:7547"),
            Some("[2001:db8::1]:7547".parse().unwrap())
        );
        assert_eq!(parse_udp_address(""), None);
    }
}
