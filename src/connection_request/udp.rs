//! UDP connection requests (TR-069 Annex G, formerly TR-111 Part 2), without the socket.
//!
//! The ACS sends one datagram holding an HTTP-like request line, e.g. (GenieACS,
//! `udpConnectionRequest` in `lib/connection-request.ts`):
//!
//! ```text
//! GET http://198.51.100.7:40123?ts=1700000000&id=3171219421&un=acs&cn=9f8e7d6c5b4a3921&sig=… HTTP/1.1
//! Host: 198.51.100.7:40123
//! ```
//!
//! `sig` is the lower-case hex HMAC-SHA1, keyed with ConnectionRequestPassword, of the text
//! `ts ‖ id ‖ un ‖ cn` (no separators). Nothing is ever answered: a datagram is accepted (one
//! session), or ignored. GenieACS sends each message three times, so a message id that was
//! already accepted is a duplicate, not a new request.
//!
//! * [`parse`] reads a datagram (`fn(&[u8]) -> Result`, a fuzzing target); it never panics and
//!   looks at most [`MAX_DATAGRAM`] bytes.
//! * [`ReplayGuard`] decides on a parsed message: the signature for the configured username,
//!   then freshness (see below).
//! * [`UdpConnectionRequests`] is what the edge calls per datagram: parse, the same limits as
//!   the HTTP listener ([`super::rate_limit`]), verification, and what the outcome costs the
//!   source.
//!
//! # Freshness
//! A message is accepted when its signature is right, its `id` was not accepted before (the
//! last [`RECENT_IDS`] ids are remembered) and its `ts` is not older than the newest accepted
//! `ts`. TR-069 asks for a `ts` *newer* than the last accepted one; `ts` has a resolution of one
//! second, so a strict reading would drop the second of two connection requests GenieACS sends
//! within the same second (two NBI tasks in a row). Accepting an equal `ts` with an unseen `id`
//! keeps replays out just as well: a replayed message carries an `id` already seen or a `ts`
//! already passed. The guard lives in memory: after a restart the first signed message is
//! accepted whatever its `ts` (at worst a replay then starts one session with the real ACS).
//!
//! # Limits
//! A datagram that parses is admitted by the same [`RateLimiter`] as the HTTP listener, as an
//! answer to a challenge (it carries credentials). A wrong username or signature is a failed
//! authentication for its source; a duplicate or stale message only costs a challenge token
//! (replaying a captured message must not let an eavesdropper lock the real ACS out). UDP source
//! addresses can be forged, so a forger can at worst block one source address for as long as its
//! failure bucket takes to refill; the HTTP listener, the periodic Informs and XMPP are not
//! affected. Datagrams that do not parse are dropped without further cost.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::auth::ct_eq;
use super::rate_limit::{Decision, Outcome, RateLimitConfig, RateLimiter, RequestClass};

/// Longest datagram looked at (a UDP connection request is ~200 bytes).
pub const MAX_DATAGRAM: usize = 2048;

/// How many accepted message ids are remembered.
pub const RECENT_IDS: usize = 32;

/// Longest `id`, `un` or `cn` accepted.
const MAX_FIELD: usize = 256;

/// A parsed UDP connection request. The fields keep the text as sent: the signature covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpConnectionRequest {
    /// `ts`: seconds since the epoch, as the ACS's clock had it.
    pub ts: u64,
    /// `ts` as sent (the signature covers the text).
    pub ts_text: String,
    /// `id`: the message id (the same for the copies of one message).
    pub id: String,
    /// `un`: the username, as sent.
    pub un: String,
    /// `cn`: the ACS's random cnonce.
    pub cn: String,
    /// `sig`: 40 hex digits.
    pub sig: String,
}

/// Why a datagram is not a UDP connection request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("datagram longer than {MAX_DATAGRAM} bytes")]
    TooLong,
    #[error("not a GET request line")]
    NotGet,
    #[error("no HTTP version on the request line")]
    NoVersion,
    #[error("no query string")]
    NoQuery,
    #[error("parameter {0} missing")]
    Missing(&'static str),
    #[error("parameter {0} given twice")]
    Repeated(&'static str),
    #[error("parameter {0} is malformed")]
    Malformed(&'static str),
}

/// Parses one datagram. Only the request line is read; headers are ignored.
pub fn parse(datagram: &[u8]) -> Result<UdpConnectionRequest, ParseError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(ParseError::TooLong);
    }
    let line_end = datagram
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(datagram.len());
    let line = std::str::from_utf8(&datagram[..line_end]).map_err(|_| ParseError::NotGet)?;
    let rest = line.strip_prefix("GET ").ok_or(ParseError::NotGet)?;
    let (target, version) = rest.rsplit_once(' ').ok_or(ParseError::NoVersion)?;
    if !version.starts_with("HTTP/") {
        return Err(ParseError::NoVersion);
    }
    let (_, query) = target.split_once('?').ok_or(ParseError::NoQuery)?;
    let query = query.split('#').next().unwrap_or_default();
    let mut fields: [(&'static str, Option<&str>); 5] = [
        ("ts", None),
        ("id", None),
        ("un", None),
        ("cn", None),
        ("sig", None),
    ];
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if let Some(slot) = fields.iter_mut().find(|(k, _)| *k == key) {
            if slot.1.is_some() {
                return Err(ParseError::Repeated(slot.0));
            }
            slot.1 = Some(value);
        }
    }
    let get = |i: usize| fields[i].1.ok_or(ParseError::Missing(fields[i].0));
    let (ts_text, id, un, cn, sig) = (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?);
    if ts_text.is_empty() || ts_text.len() > 20 || !ts_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Malformed("ts"));
    }
    let ts = ts_text.parse().map_err(|_| ParseError::Malformed("ts"))?;
    for (name, value) in [("id", id), ("un", un), ("cn", cn)] {
        if value.len() > MAX_FIELD || (name != "un" && value.is_empty()) {
            return Err(ParseError::Malformed(name));
        }
    }
    if sig.len() != 40 || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ParseError::Malformed("sig"));
    }
    Ok(UdpConnectionRequest {
        ts,
        ts_text: ts_text.to_owned(),
        id: id.to_owned(),
        un: un.to_owned(),
        cn: cn.to_owned(),
        sig: sig.to_ascii_lowercase(),
    })
}

/// `sig` for a message: lower-case hex HMAC-SHA1(password, ts ‖ id ‖ un ‖ cn).
pub fn signature(password: &str, ts: &str, id: &str, un: &str, cn: &str) -> String {
    // HMAC accepts keys of any length: new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(password.as_bytes()) else {
        return String::new();
    };
    for part in [ts, id, un, cn] {
        mac.update(part.as_bytes());
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `%XX` decoded (invalid escapes kept as they are); `None` when the result is not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h)? << 4) | hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The connection-request credentials a message must be signed with.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

/// What became of a parsed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A new, correctly signed request: start a session.
    Accepted,
    /// A copy of a message already accepted (GenieACS sends three).
    Duplicate,
    /// Signed right, but older than the newest accepted message: a replay.
    Stale,
    /// No connection-request username is configured: nothing can be verified.
    NotConfigured,
    /// Another username, or a signature that does not verify.
    BadCredentials,
}

/// Remembers what was accepted, to turn replays and copies away.
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    newest_ts: Option<u64>,
    recent_ids: VecDeque<String>,
}

impl ReplayGuard {
    /// Judges a parsed message against the configured credentials, and remembers it when
    /// accepted.
    pub fn check(&mut self, msg: &UdpConnectionRequest, creds: Credentials<'_>) -> Verdict {
        if creds.username.is_empty() {
            return Verdict::NotConfigured;
        }
        // The username as sent (GenieACS does not encode it) or percent-decoded (an ACS that
        // encodes query values); the signature covers the username itself.
        let decoded = percent_decoded(&msg.un);
        let user_matches = ct_eq(msg.un.as_bytes(), creds.username.as_bytes())
            || decoded
                .as_deref()
                .is_some_and(|u| ct_eq(u.as_bytes(), creds.username.as_bytes()));
        let signed = |un: &str| {
            let expected = signature(creds.password, &msg.ts_text, &msg.id, un, &msg.cn);
            ct_eq(expected.as_bytes(), msg.sig.as_bytes())
        };
        if !user_matches || !(signed(creds.username) || signed(&msg.un)) {
            return Verdict::BadCredentials;
        }
        if self.recent_ids.iter().any(|id| *id == msg.id) {
            return Verdict::Duplicate;
        }
        if self.newest_ts.is_some_and(|newest| msg.ts < newest) {
            return Verdict::Stale;
        }
        self.newest_ts = Some(self.newest_ts.map_or(msg.ts, |n| n.max(msg.ts)));
        if self.recent_ids.len() == RECENT_IDS {
            self.recent_ids.pop_front();
        }
        self.recent_ids.push_back(msg.id.clone());
        Verdict::Accepted
    }
}

/// What the edge does with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Start a session (`6 CONNECTION REQUEST`).
    Accepted,
    /// Ignore it (no answer is ever sent); the reason is for the log.
    Ignored(Ignored),
}

/// Why a datagram was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ignored {
    NotARequest(ParseError),
    /// A limit refused it before verification.
    Limited,
    Verdict(Verdict),
}

/// Every UDP connection request of one listener: parsing, limits, verification, replays.
#[derive(Debug)]
pub struct UdpConnectionRequests {
    guard: ReplayGuard,
    limiter: RateLimiter,
}

impl UdpConnectionRequests {
    pub fn new(limits: RateLimitConfig) -> UdpConnectionRequests {
        UdpConnectionRequests {
            guard: ReplayGuard::default(),
            limiter: RateLimiter::new(limits),
        }
    }

    /// Decides on one datagram from `source`.
    pub fn receive(
        &mut self,
        datagram: &[u8],
        source: IpAddr,
        creds: Credentials<'_>,
        now: Instant,
    ) -> Received {
        let msg = match parse(datagram) {
            Ok(m) => m,
            Err(e) => return Received::Ignored(Ignored::NotARequest(e)),
        };
        if let Decision::Deny(_) = self.limiter.admit(source, RequestClass::Answer, now) {
            return Received::Ignored(Ignored::Limited);
        }
        let verdict = self.guard.check(&msg, creds);
        let cost = match verdict {
            Verdict::Accepted => Outcome::Accepted,
            Verdict::BadCredentials => Outcome::Failed,
            Verdict::Duplicate | Verdict::Stale | Verdict::NotConfigured => Outcome::Challenged,
        };
        self.limiter.record(source, cost, now);
        match verdict {
            Verdict::Accepted => Received::Accepted,
            other => Received::Ignored(Ignored::Verdict(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: Credentials<'static> = Credentials {
        username: "acs",
        password: "cr-secret",
    };

    /// A datagram as GenieACS builds it.
    fn genieacs(ts: u64, id: u32, un: &str, password: &str) -> Vec<u8> {
        let cn = "9f8e7d6c5b4a3921";
        let sig = signature(password, &ts.to_string(), &id.to_string(), un, cn);
        format!(
            "GET http://198.51.100.7:40123?ts={ts}&id={id}&un={un}&cn={cn}&sig={sig} HTTP/1.1\r\nHost: 198.51.100.7:40123\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn signature_is_hmac_sha1_of_the_concatenation() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature("Jefe", "what do ", "ya want ", "for ", "nothing?"),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
    }

    #[test]
    fn parses_what_genieacs_sends() {
        let msg = parse(&genieacs(1_700_000_000, 42, "acs", "pw")).unwrap();
        assert_eq!(msg.ts, 1_700_000_000);
        assert_eq!(msg.id, "42");
        assert_eq!(msg.un, "acs");
        assert_eq!(msg.cn, "9f8e7d6c5b4a3921");
        assert_eq!(msg.sig.len(), 40);
    }

    #[test]
    fn malformed_datagrams_are_refused() {
        let good = String::from_utf8(genieacs(1, 2, "acs", "pw")).unwrap();
        for (bad, why) in [
            ("", ParseError::NotGet),
            ("POST http://x?ts=1 HTTP/1.1", ParseError::NotGet),
            (
                "GET http://x?ts=1&id=1&un=a&cn=c&sig=0",
                ParseError::NoVersion,
            ),
            ("GET http://x HTTP/1.1", ParseError::NoQuery),
            (
                "GET http://x?id=1&un=a&cn=c&sig=0000000000000000000000000000000000000000 HTTP/1.1",
                ParseError::Missing("ts"),
            ),
            (
                "GET http://x?ts=1&ts=2&id=1&un=a&cn=c&sig=0000000000000000000000000000000000000000 HTTP/1.1",
                ParseError::Repeated("ts"),
            ),
            (
                "GET http://x?ts=-1&id=1&un=a&cn=c&sig=0000000000000000000000000000000000000000 HTTP/1.1",
                ParseError::Malformed("ts"),
            ),
            (
                "GET http://x?ts=99999999999999999999&id=1&un=a&cn=c&sig=0000000000000000000000000000000000000000 HTTP/1.1",
                ParseError::Malformed("ts"),
            ),
            (
                "GET http://x?ts=1&id=1&un=a&cn=c&sig=xyz HTTP/1.1",
                ParseError::Malformed("sig"),
            ),
        ] {
            assert_eq!(parse(bad.as_bytes()), Err(why), "{bad}");
        }
        assert_eq!(
            parse(&vec![b'G'; MAX_DATAGRAM + 1]),
            Err(ParseError::TooLong)
        );
        assert!(parse(&good.as_bytes()[..good.len() - 4]).is_ok());
        assert_eq!(parse(&[0xff, 0xfe, 0x00]), Err(ParseError::NotGet));
    }

    #[test]
    fn only_a_right_signature_for_the_configured_username_is_accepted() {
        let mut guard = ReplayGuard::default();
        let check = |g: &mut ReplayGuard, d: &[u8], c| g.check(&parse(d).unwrap(), c);
        assert_eq!(
            check(&mut guard, &genieacs(10, 1, "acs", "wrong"), CREDS),
            Verdict::BadCredentials
        );
        assert_eq!(
            check(&mut guard, &genieacs(10, 2, "other", "cr-secret"), CREDS),
            Verdict::BadCredentials
        );
        let no_user = Credentials {
            username: "",
            password: "",
        };
        assert_eq!(
            check(&mut guard, &genieacs(10, 3, "", ""), no_user),
            Verdict::NotConfigured
        );
        assert_eq!(
            check(&mut guard, &genieacs(10, 4, "acs", "cr-secret"), CREDS),
            Verdict::Accepted
        );
    }

    #[test]
    fn copies_and_replays_are_not_accepted_again() {
        let mut guard = ReplayGuard::default();
        let mut check = |d: Vec<u8>| guard.check(&parse(&d).unwrap(), CREDS);
        // GenieACS: three copies of one message.
        assert_eq!(
            check(genieacs(100, 7, "acs", "cr-secret")),
            Verdict::Accepted
        );
        assert_eq!(
            check(genieacs(100, 7, "acs", "cr-secret")),
            Verdict::Duplicate
        );
        assert_eq!(
            check(genieacs(100, 7, "acs", "cr-secret")),
            Verdict::Duplicate
        );
        // A second request within the same second.
        assert_eq!(
            check(genieacs(100, 8, "acs", "cr-secret")),
            Verdict::Accepted
        );
        assert_eq!(
            check(genieacs(101, 9, "acs", "cr-secret")),
            Verdict::Accepted
        );
        // An older message replayed, with an id not in the recent list.
        assert_eq!(check(genieacs(99, 6, "acs", "cr-secret")), Verdict::Stale);
        // Id reuse with a newer ts is still a duplicate.
        assert_eq!(
            check(genieacs(102, 9, "acs", "cr-secret")),
            Verdict::Duplicate
        );
    }

    #[test]
    fn percent_encoded_usernames_and_upper_case_signatures_verify() {
        let un = "00000C-HomeRouter-HR%2D1";
        let mut guard = ReplayGuard::default();
        // GenieACS's device id as username, sent raw.
        let creds = Credentials {
            username: un,
            password: "pw",
        };
        assert_eq!(
            guard.check(&parse(&genieacs(5, 1, un, "pw")).unwrap(), creds),
            Verdict::Accepted
        );
        // The username "a b" sent encoded, signed over the decoded form.
        let sig = signature("pw", "6", "2", "a b", "cn").to_ascii_uppercase();
        let d = format!("GET /?ts=6&id=2&un=a%20b&cn=cn&sig={sig} HTTP/1.1");
        let creds = Credentials {
            username: "a b",
            password: "pw",
        };
        assert_eq!(
            guard.check(&parse(d.as_bytes()).unwrap(), creds),
            Verdict::Accepted
        );
        assert_eq!(percent_decoded("%zz%4"), Some("%zz%4".to_owned()));
    }

    #[test]
    fn the_listener_limits_failed_guesses_per_source() {
        use super::super::rate_limit::Limit;
        use std::time::Duration;
        let limits = RateLimitConfig {
            failed_auth_per_source: Some(Limit::new(2, Duration::from_secs(600))),
            ..Default::default()
        };
        let mut requests = UdpConnectionRequests::new(limits);
        let now = Instant::now();
        let guesser: IpAddr = "203.0.113.9".parse().unwrap();
        let acs: IpAddr = "198.51.100.1".parse().unwrap();
        for id in 0..2 {
            assert_eq!(
                requests.receive(&genieacs(1, id, "acs", "guess"), guesser, CREDS, now),
                Received::Ignored(Ignored::Verdict(Verdict::BadCredentials))
            );
        }
        // Blocked now, even with the right signature.
        assert_eq!(
            requests.receive(&genieacs(1, 5, "acs", "cr-secret"), guesser, CREDS, now),
            Received::Ignored(Ignored::Limited)
        );
        // Another source is not affected; its copies do not count as failures.
        for _ in 0..5 {
            let _ = requests.receive(&genieacs(2, 6, "acs", "cr-secret"), acs, CREDS, now);
        }
        assert_eq!(
            requests.receive(&genieacs(3, 7, "acs", "cr-secret"), acs, CREDS, now),
            Received::Accepted
        );
        assert!(matches!(
            requests.receive(b"hello", acs, CREDS, now),
            Received::Ignored(Ignored::NotARequest(_))
        ));
    }
}
