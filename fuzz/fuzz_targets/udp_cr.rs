//! A datagram on the UDP connection-request socket (TR-069 Annex G), as the agent's
//! `UdpConnectionRequests` sees it: parsing never panics and only lets a well-formed `GET` request
//! line through; a message is accepted only when `sig` is the HMAC-SHA1 of ts‖id‖un‖cn under the
//! configured password, and never twice.
//!
//! Input: one datagram. It is parsed and judged as it is. When it parses, its `ts`, `id` and `cn`
//! are also signed correctly for the configured credentials (as GenieACS's
//! `udpConnectionRequest` would) and played through a fresh listener: the first copy is accepted,
//! copies are duplicates, an older `ts` with a new `id` is stale, the same or a newer `ts` with a
//! new `id` is accepted, a wrong signature or another username is refused. Rate limits are the
//! defaults; one input stays far below them.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use tr069_client::connection_request::rate_limit::RateLimitConfig;
use tr069_client::connection_request::udp::{
    self, Credentials, Ignored, MAX_DATAGRAM, ParseError, Received, ReplayGuard,
    UdpConnectionRequests, Verdict,
};

const CREDS: Credentials<'static> = Credentials {
    username: "user",
    password: "s3cret",
};
const ACS: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));

/// A datagram laid out as GenieACS sends it.
fn datagram(ts: &str, id: &str, un: &str, cn: &str, sig: &str) -> Vec<u8> {
    format!(
        "GET http://10.0.0.1:7547?ts={ts}&id={id}&un={un}&cn={cn}&sig={sig} HTTP/1.1\r\nHost: 10.0.0.1:7547\r\n\r\n"
    )
    .into_bytes()
}

fn signed(ts: &str, id: &str, un: &str, cn: &str, password: &str) -> Vec<u8> {
    datagram(ts, id, un, cn, &udp::signature(password, ts, id, un, cn))
}

fn ignored(verdict: Verdict) -> Received {
    Received::Ignored(Ignored::Verdict(verdict))
}

fuzz_target!(|data: &[u8]| {
    let now = Instant::now();
    let parsed = udp::parse(data);
    if data.len() > MAX_DATAGRAM {
        assert_eq!(parsed, Err(ParseError::TooLong));
    }
    let mut listener = UdpConnectionRequests::new(RateLimitConfig::default());
    let received = listener.receive(data, ACS, CREDS, now);
    let msg = match parsed {
        Err(e) => {
            assert_eq!(received, Received::Ignored(Ignored::NotARequest(e)));
            return;
        }
        Ok(msg) => msg,
    };

    // What a parsed message can hold.
    assert!(data.starts_with(b"GET "), "parsed a non-GET datagram");
    assert!(!msg.ts_text.is_empty() && msg.ts_text.len() <= 20);
    assert!(msg.ts_text.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(msg.ts_text.parse::<u64>(), Ok(msg.ts));
    assert!(!msg.id.is_empty() && msg.id.len() <= 256);
    assert!(!msg.cn.is_empty() && msg.cn.len() <= 256);
    assert!(msg.un.len() <= 256);
    assert_eq!(msg.sig.len(), 40);
    assert!(
        msg.sig
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    for field in [&msg.ts_text, &msg.id, &msg.un, &msg.cn, &msg.sig] {
        assert!(
            !field.contains(|c: char| matches!(c, '&' | '#' | '\r' | '\n')),
            "a field ran over its end: {field:?}"
        );
    }

    // The datagram as it came: accepted only with the right signature, and only once.
    if received == Received::Accepted {
        let for_user = udp::signature(
            CREDS.password,
            &msg.ts_text,
            &msg.id,
            CREDS.username,
            &msg.cn,
        );
        let as_sent = udp::signature(CREDS.password, &msg.ts_text, &msg.id, &msg.un, &msg.cn);
        assert!(
            msg.sig == for_user || msg.sig == as_sent,
            "accepted a wrong signature: {msg:?}"
        );
        assert_eq!(
            listener.receive(data, ACS, CREDS, now),
            ignored(Verdict::Duplicate)
        );
    }
    let no_user = Credentials {
        username: "",
        password: "s3cret",
    };
    assert_eq!(
        ReplayGuard::default().check(&msg, no_user),
        Verdict::NotConfigured
    );

    // The same fields signed right, through a fresh listener.
    let fresh = |n: u32| {
        let id = format!("x{n}");
        if id == msg.id { format!("y{n}") } else { id }
    };
    let (user, pw) = (CREDS.username, CREDS.password);
    let mut listener = UdpConnectionRequests::new(RateLimitConfig::default());
    let mut receive = |d: Vec<u8>| listener.receive(&d, ACS, CREDS, now);

    let first = signed(&msg.ts_text, &msg.id, user, &msg.cn, pw);
    let again = udp::parse(&first).expect("a re-signed message parses");
    assert_eq!(
        (&again.ts_text, &again.id, &again.cn, again.un.as_str()),
        (&msg.ts_text, &msg.id, &msg.cn, user),
        "the fields did not survive a round trip"
    );
    assert_eq!(receive(first.clone()), Received::Accepted);
    assert_eq!(receive(first.clone()), ignored(Verdict::Duplicate));
    assert_eq!(receive(first), ignored(Verdict::Duplicate));
    if let Some(older) = msg.ts.checked_sub(1) {
        let older = signed(&older.to_string(), &fresh(1), user, &msg.cn, pw);
        assert_eq!(receive(older), ignored(Verdict::Stale));
    }
    // Two requests within the same second are both accepted (udp.rs, "Freshness").
    let same_second = signed(&msg.ts_text, &fresh(2), user, &msg.cn, pw);
    assert_eq!(receive(same_second), Received::Accepted);
    if let Some(newer) = msg.ts.checked_add(1) {
        let newer = signed(&newer.to_string(), &fresh(3), user, &msg.cn, pw);
        assert_eq!(receive(newer), Received::Accepted);
    }
    let wrong_key = signed(&msg.ts_text, &fresh(4), user, &msg.cn, "not-the-password");
    assert_eq!(receive(wrong_key), ignored(Verdict::BadCredentials));
    let other_user = signed(&msg.ts_text, &fresh(5), "other", &msg.cn, pw);
    assert_eq!(receive(other_user), ignored(Verdict::BadCredentials));
});
