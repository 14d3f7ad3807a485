//! The connection-request `Authorization: Digest …` header, checked by the agent's authenticator
//! over a sequence of requests with time passing: never a panic; an accepted header names the
//! configured user, and the very same header replayed is refused; the nonce table stays bounded.
//!
//! Input: a sequence of requests. Each starts with a mode byte: raw headers (the rest of the
//! request up to a 0xff byte, with `{nonce}` and `{opaque}` standing for the latest challenge's),
//! or a correct answer computed by digest_auth's client side from fuzzed parts and then mutated.
#![no_main]

use std::time::{Duration, Instant};

use digest_auth::{AuthContext, HttpMethod, WwwAuthenticateHeader};
use libfuzzer_sys::fuzz_target;
use tr069_client::connection_request::auth::{
    AuthConfig, AuthOutcome, Credentials, DigestAuthenticator,
};

const PATH: &str = "/cr-AbCdEf0123456789xyz";
const CREDS: Credentials<'static> = Credentials {
    username: "acs",
    password: "s3cret",
};

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    /// Bytes up to a 0xff separator (or the end).
    fn chunk(&mut self) -> String {
        let end = self.0.iter().position(|&b| b == 0xff).unwrap_or(self.0.len());
        let (chunk, rest) = self.0.split_at(end);
        self.0 = rest.get(1..).unwrap_or(&[]);
        String::from_utf8_lossy(chunk).into_owned()
    }
}

fn param(challenge: &str, name: &str) -> String {
    let key = format!("{name}=\"");
    challenge
        .find(&key)
        .and_then(|i| {
            let rest = &challenge[i + key.len()..];
            rest.find('"').map(|j| rest[..j].to_owned())
        })
        .unwrap_or_default()
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let config = AuthConfig {
        max_nonces: 4,
        ..AuthConfig::default()
    };
    let max = config.max_nonces;
    let mut auth = DigestAuthenticator::new(config);
    let start = Instant::now();
    let mut now = start;
    let mut challenge = auth.challenge(now, false);
    for _ in 0..8 {
        let Some(mode) = input.byte() else { break };
        now += Duration::from_secs(u64::from(mode >> 4) * 8);
        let target = if mode & 0x08 != 0 {
            format!("{PATH}?x=1")
        } else {
            PATH.to_owned()
        };
        let header = match mode & 0x07 {
            0 => None,
            1 | 2 => Some(
                input
                    .chunk()
                    .replace("{nonce}", &param(&challenge, "nonce"))
                    .replace("{opaque}", &param(&challenge, "opaque")),
            ),
            _ => {
                let user = if mode & 0x01 != 0 { "acs".to_owned() } else { input.chunk() };
                let password = if mode & 0x02 != 0 { "s3cret".to_owned() } else { input.chunk() };
                let uri = if mode & 0x04 != 0 { target.clone() } else { input.chunk() };
                let Ok(mut prompt) = WwwAuthenticateHeader::parse(
                    challenge.trim_start_matches("Digest").trim_start(),
                ) else {
                    continue;
                };
                let mut ctx = AuthContext::new_with_method(
                    user.as_str(),
                    password.as_str(),
                    uri.as_str(),
                    Option::<&[u8]>::None,
                    HttpMethod::GET,
                );
                ctx.set_custom_cnonce(input.chunk());
                let Ok(answer) = prompt.respond(&ctx) else {
                    continue;
                };
                let mut header = answer.to_header_string().into_bytes();
                // Flip a few bytes where the input says.
                while let Some(at) = input.byte() {
                    if at == 0xff || header.is_empty() {
                        break;
                    }
                    let i = usize::from(at) % header.len();
                    header[i] = input.byte().unwrap_or(b'x');
                }
                Some(String::from_utf8_lossy(&header).into_owned())
            }
        };
        let outcome = auth.check(now, &CREDS, "GET", &target, header.as_deref());
        assert!(auth.outstanding_nonces() <= max);
        match outcome {
            AuthOutcome::Accepted => {
                let header = header.expect("accepted without a header");
                assert!(header.contains("acs"), "accepted another user: {header}");
                let replay = auth.check(now, &CREDS, "GET", &target, Some(&header));
                assert!(
                    replay != AuthOutcome::Accepted,
                    "the same Authorization was accepted twice: {header}"
                );
                if let AuthOutcome::Rejected { challenge: c, .. } = replay {
                    challenge = c;
                }
            }
            AuthOutcome::Rejected { challenge: c, .. } => challenge = c,
        }
    }
});
