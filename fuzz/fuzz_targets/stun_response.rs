//! A datagram from the STUN server, read by `stun::parse_response` and by a `StunBinding` that has
//! sent its Binding Request: never a panic; only a STUN message parses; the binding accepts only
//! an answer to its own transaction from the server's address, and then reports exactly what the
//! response says (the mapped address and whether it is behind a NAT, a retry with
//! MESSAGE-INTEGRITY after a 401, or a failure) and waits the keep-alive period.
//!
//! Input: the datagram. The binding's request has the fixed transaction id `TX` (the seeds carry
//! it), so mutations of a seed answer the request under way.
#![no_main]

use std::net::SocketAddr;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tr069_client::connection_request::stun::{
    BindingConfig, BindingOutcome, Mapping, ResponseError, StunBinding, StunEvent, is_stun,
    parse_response,
};

/// The request's transaction id (96 bits), as in the seeds' bytes 8..20.
const TX: u128 = 0xa1b2_c3d4_e5f6_0718_2930_4152;
const SERVER: &str = "198.51.100.1:3478";
const LOCAL: &str = "10.0.0.2:7547";
const KEEP_ALIVE_MS: u64 = 25_000;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_response(data);
    if !is_stun(data) {
        assert!(
            matches!(parsed, Err(ResponseError::NotStun(_))),
            "not STUN by RFC 5389 §8, yet {parsed:?}"
        );
    }
    if let Ok(response) = &parsed {
        assert!(
            response.transaction < 1u128 << 96,
            "a transaction id over 96 bits"
        );
    }

    let server: SocketAddr = SERVER.parse().expect("server address");
    let local: SocketAddr = LOCAL.parse().expect("local address");
    let config = BindingConfig {
        server,
        local,
        username: "cpe".into(),
        password: "stun-secret".into(),
        keep_alive: Duration::from_millis(KEEP_ALIVE_MS),
    };
    let mut binding = StunBinding::new(config, None, 0);
    let request = binding
        .poll_transmit(0, TX)
        .expect("the first request is due at once");
    assert!(is_stun(&request));
    assert_eq!(
        parse_response(&request),
        Err(ResponseError::NotBindingResponse)
    );

    // From anywhere but the server: ignored, whatever it holds.
    let elsewhere: SocketAddr = "192.0.2.66:3478".parse().expect("address");
    assert_eq!(binding.handle_datagram(data, elsewhere, 1), Ok(false));

    // Twice at most: a 401 makes the binding ask again at once, with MESSAGE-INTEGRITY (under
    // the same transaction id here, so the same datagram answers it).
    let mut now = 5;
    let mut integrity_asked = false;
    for _ in 0..2 {
        let answered = binding.handle_datagram(data, server, now);
        let response = match (&answered, &parsed) {
            (Err(a), Err(b)) => {
                assert_eq!(a, b);
                return;
            }
            (Ok(a), Ok(r)) => {
                assert_eq!(*a, r.transaction == TX, "answered the wrong transaction");
                r
            }
            _ => panic!("the binding and parse_response disagree: {answered:?} vs {parsed:?}"),
        };
        if response.transaction != TX {
            // Not ours: the request stays under way, its retransmission due after one RTO.
            assert_eq!(binding.poll_event(now), None);
            assert_eq!(binding.poll_timeout(), 500);
            return;
        }
        match &response.outcome {
            BindingOutcome::Mapped(mapped) => {
                assert_eq!(
                    binding.poll_event(now),
                    Some(StunEvent::Mapped {
                        mapping: Mapping {
                            mapped: *mapped,
                            nat_detected: *mapped != local,
                        },
                        changed: true,
                    })
                );
                assert_eq!(binding.poll_event(now), None);
                assert_eq!(binding.poll_timeout(), now + KEEP_ALIVE_MS);
                return;
            }
            BindingOutcome::Error { code: 401, .. } if !integrity_asked => {
                integrity_asked = true;
                assert_eq!(binding.poll_event(now), None);
                assert_eq!(binding.poll_timeout(), now, "the retry is due at once");
                let retry = binding
                    .poll_transmit(now, TX)
                    .expect("a request with MESSAGE-INTEGRITY");
                assert!(
                    retry.len() > request.len(),
                    "the retry carries MESSAGE-INTEGRITY"
                );
                now += 1;
            }
            BindingOutcome::Error { .. } => {
                assert!(matches!(
                    binding.poll_event(now),
                    Some(StunEvent::Failed(_))
                ));
                assert_eq!(binding.poll_event(now), None);
                assert_eq!(binding.poll_timeout(), now + KEEP_ALIVE_MS);
                return;
            }
        }
    }
    unreachable!("a second 401 is a failure");
});
