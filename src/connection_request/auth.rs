//! Sans-I/O HTTP Digest (RFC 7616 / RFC 2617) verifier and challenger for connection requests.
//!
//! No sockets and no clock: every call takes `now` as an argument, so tests drive time by adding
//! [`Duration`]s to an [`Instant`]. Credentials are passed per call because they are journaled
//! settings owned by the agent and may change between two requests.
//!
//! What this module owns (the `digest_auth` crate leaves it to the server):
//! - nonce generation (128 random bits, hex) with a per-nonce random `opaque`;
//! - nonce expiry ([`AuthConfig::nonce_lifetime`]) and a bounded nonce table (oldest evicted);
//! - replay protection: with `qop=auth`, each nonce remembers the highest `nc` that authenticated
//!   and refuses an equal or lower one; a nonce used without `qop` (RFC 2069 style) is single-use;
//! - `stale=true` when the credentials were right but the nonce is expired or no longer known.
//!
//! The response hash itself is recomputed with [`digest_auth::AuthorizationHeader::digest`] and
//! compared in constant time (as is the username).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use digest_auth::{
    Algorithm, AlgorithmType, AuthContext, AuthorizationHeader, Charset, HttpMethod,
};
use digest_auth::{Qop, WwwAuthenticateHeader};
use rand::Rng;

/// Credentials the ACS must prove knowledge of (`ConnectionRequestUsername/Password`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials<'a> {
    /// `Device.ManagementServer.ConnectionRequestUsername`. Empty means "nobody can authenticate".
    pub username: &'a str,
    /// `Device.ManagementServer.ConnectionRequestPassword`.
    pub password: &'a str,
}

impl fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// The algorithm announced in challenges. Verification accepts every algorithm below regardless
/// of which one was announced (the nonce is algorithm-independent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeAlgorithm {
    /// `algorithm=MD5` (TR-069's mandatory one; what GenieACS and icwmp use).
    Md5,
    /// `algorithm=MD5-sess`.
    Md5Sess,
    /// `algorithm=SHA-256`.
    Sha256,
}

impl ChallengeAlgorithm {
    fn to_digest(self) -> Algorithm {
        match self {
            ChallengeAlgorithm::Md5 => Algorithm::new(AlgorithmType::MD5, false),
            ChallengeAlgorithm::Md5Sess => Algorithm::new(AlgorithmType::MD5, true),
            ChallengeAlgorithm::Sha256 => Algorithm::new(AlgorithmType::SHA2_256, false),
        }
    }
}

/// Tunables of the Digest authenticator.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `realm` of every challenge.
    pub realm: String,
    /// How long a nonce may be used after it was issued.
    pub nonce_lifetime: Duration,
    /// At most this many nonces are remembered; issuing one more evicts the oldest.
    pub max_nonces: usize,
    /// Algorithm announced in challenges.
    pub algorithm: ChallengeAlgorithm,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            realm: "tr069-client".to_owned(),
            nonce_lifetime: Duration::from_secs(60),
            max_nonces: 64,
            algorithm: ChallengeAlgorithm::Md5,
        }
    }
}

/// Why a request was not authenticated. Never contains secrets; safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header with another scheme (e.g. Basic, which is never accepted).
    NotDigest,
    /// The Digest header could not be parsed, or uses a combination we do not accept
    /// (`qop=auth-int`, `-sess` without `qop`, non-ASCII bytes…).
    Malformed,
    /// No username is configured: nobody can authenticate.
    NoCredentials,
    /// `realm` differs from ours.
    WrongRealm,
    /// `uri` does not name the request target.
    WrongUri,
    /// The nonce was never issued by us, or was evicted / consumed.
    UnknownNonce,
    /// The nonce was ours but has expired.
    ExpiredNonce,
    /// `nc` not above the highest one already accepted for this nonce.
    Replay,
    /// `opaque` present but different from the one issued with the nonce.
    OpaqueMismatch,
    /// Wrong username or wrong password (deliberately not told apart).
    BadCredentials,
}

/// The outcome of [`DigestAuthenticator::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Credentials verified; the request is authentic and not a replay.
    Accepted,
    /// Answer `401` with `WWW-Authenticate: <challenge>` (a fresh nonce; `stale=true` when
    /// `stale` is set).
    Rejected {
        /// Why (for logs and tests).
        reason: Rejection,
        /// The value of the `WWW-Authenticate` header to send.
        challenge: String,
        /// Whether the challenge carries `stale=true`.
        stale: bool,
    },
}

#[derive(Debug)]
struct NonceState {
    seq: u64,
    issued_at: Instant,
    opaque: String,
    /// Highest `nc` that authenticated with this nonce (0: none yet).
    highest_nc: u32,
}

/// Issues Digest challenges and verifies `Authorization` headers. One per server.
#[derive(Debug)]
pub struct DigestAuthenticator {
    config: AuthConfig,
    nonces: HashMap<String, NonceState>,
    /// (seq, nonce) in issue order; an entry whose seq no longer matches the map is a ghost.
    order: VecDeque<(u64, String)>,
    next_seq: u64,
}

impl DigestAuthenticator {
    /// A new authenticator with no outstanding nonces.
    pub fn new(mut config: AuthConfig) -> Self {
        config.max_nonces = config.max_nonces.max(1);
        DigestAuthenticator {
            config,
            nonces: HashMap::new(),
            order: VecDeque::new(),
            next_seq: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Number of nonces currently remembered (bounded by [`AuthConfig::max_nonces`]).
    pub fn outstanding_nonces(&self) -> usize {
        self.nonces.len()
    }

    /// Issue a fresh challenge (the value of a `WWW-Authenticate` header).
    pub fn challenge(&mut self, now: Instant, stale: bool) -> String {
        self.purge(now);
        while self.nonces.len() >= self.config.max_nonces {
            match self.order.pop_front() {
                Some((seq, nonce)) => self.remove_if_seq(&nonce, seq),
                None => break,
            }
        }
        let mut rng = rand::rng();
        let nonce = hex(&rng.random::<[u8; 16]>());
        let opaque = hex(&rng.random::<[u8; 8]>());
        let seq = self.next_seq;
        self.next_seq += 1;
        self.nonces.insert(
            nonce.clone(),
            NonceState {
                seq,
                issued_at: now,
                opaque: opaque.clone(),
                highest_nc: 0,
            },
        );
        self.order.push_back((seq, nonce.clone()));
        if self.order.len() > self.config.max_nonces.saturating_mul(2) {
            let nonces = &self.nonces;
            self.order
                .retain(|(seq, n)| nonces.get(n).is_some_and(|s| s.seq == *seq));
        }
        WwwAuthenticateHeader {
            domain: None,
            realm: self.config.realm.clone(),
            nonce,
            opaque: Some(opaque),
            stale,
            algorithm: self.config.algorithm.to_digest(),
            qop: Some(vec![Qop::AUTH]),
            userhash: false,
            // The crate's own parser rejects `charset=ASCII`; UTF-8 is what RFC 7616 allows.
            charset: Charset::UTF8,
            nc: 0,
        }
        .to_string()
    }

    /// Verify a request. `method` is the HTTP method, `request_target` the request-target as
    /// received (path and optional query), `authorization` the `Authorization` header if any.
    ///
    /// On anything but success a fresh challenge is returned for a `401`.
    pub fn check(
        &mut self,
        now: Instant,
        creds: &Credentials<'_>,
        method: &str,
        request_target: &str,
        authorization: Option<&str>,
    ) -> AuthOutcome {
        match self.verify(now, creds, method, request_target, authorization) {
            Ok(()) => AuthOutcome::Accepted,
            Err((reason, stale)) => AuthOutcome::Rejected {
                reason,
                challenge: self.challenge(now, stale),
                stale,
            },
        }
    }

    fn verify(
        &mut self,
        now: Instant,
        creds: &Credentials<'_>,
        method: &str,
        request_target: &str,
        authorization: Option<&str>,
    ) -> Result<(), (Rejection, bool)> {
        let plain = |r| Err((r, false));
        let Some(header) = authorization else {
            return plain(Rejection::Missing);
        };
        let header = header.trim();
        // The crate's parser slices by char index as if it were a byte index: keep it on ASCII.
        if !header.is_ascii() || header.len() > 4096 {
            return plain(Rejection::Malformed);
        }
        let Some(params) = strip_scheme(header, "Digest") else {
            return plain(Rejection::NotDigest);
        };
        let Ok(auth) = AuthorizationHeader::parse(params) else {
            return plain(Rejection::Malformed);
        };
        if auth.qop == Some(Qop::AUTH_INT) || (auth.qop.is_none() && auth.algorithm.sess) {
            return plain(Rejection::Malformed);
        }
        if creds.username.is_empty() {
            return plain(Rejection::NoCredentials);
        }
        if auth.realm != self.config.realm {
            return plain(Rejection::WrongRealm);
        }
        if !uri_matches(&auth.uri, request_target) {
            return plain(Rejection::WrongUri);
        }

        // Recompute what a client knowing our credentials would have sent.
        let mut expected = auth.clone();
        let ctx = AuthContext::new_with_method(
            creds.username,
            creds.password,
            auth.uri.as_str(),
            Option::<&[u8]>::None,
            HttpMethod::from(method),
        );
        expected.digest(&ctx);
        // Evaluate both comparisons (no short-circuit) so timing tells nothing about which failed.
        let user_ok = ct_eq(expected.username.as_bytes(), auth.username.as_bytes());
        let resp_ok = ct_eq(
            expected.response.to_ascii_lowercase().as_bytes(),
            auth.response.to_ascii_lowercase().as_bytes(),
        );
        let credentials_ok = user_ok & resp_ok;

        self.purge(now);
        let lifetime = self.config.nonce_lifetime;
        let Some(state) = self.nonces.get_mut(&auth.nonce) else {
            return Err((Rejection::UnknownNonce, credentials_ok));
        };
        if now.saturating_duration_since(state.issued_at) >= lifetime {
            return Err((Rejection::ExpiredNonce, credentials_ok));
        }
        if let Some(opaque) = &auth.opaque {
            if !ct_eq(opaque.as_bytes(), state.opaque.as_bytes()) {
                return plain(Rejection::OpaqueMismatch);
            }
        }
        if !credentials_ok {
            return plain(Rejection::BadCredentials);
        }
        if auth.qop.is_some() {
            if auth.nc <= state.highest_nc {
                return plain(Rejection::Replay);
            }
            state.highest_nc = auth.nc;
        } else {
            // RFC 2069 style: no nc to track, so the nonce is good for one request only.
            self.nonces.remove(&auth.nonce);
        }
        Ok(())
    }

    /// Forget nonces old enough that even a `stale` hint is pointless (twice the lifetime).
    fn purge(&mut self, now: Instant) {
        let retention = self.config.nonce_lifetime.saturating_mul(2);
        while let Some((seq, nonce)) = self.order.front() {
            match self.nonces.get(nonce) {
                Some(s) if s.seq == *seq => {
                    if now.saturating_duration_since(s.issued_at) < retention {
                        break;
                    }
                    self.nonces.remove(nonce);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    fn remove_if_seq(&mut self, nonce: &str, seq: u64) {
        if self.nonces.get(nonce).is_some_and(|s| s.seq == seq) {
            self.nonces.remove(nonce);
        }
    }
}

/// `Digest xyz` → `xyz` (scheme matched case-insensitively, as HTTP requires).
fn strip_scheme<'h>(header: &'h str, scheme: &str) -> Option<&'h str> {
    let (head, rest) = header.split_once(|c: char| c.is_ascii_whitespace())?;
    head.eq_ignore_ascii_case(scheme).then_some(rest)
}

/// Does the Digest `uri` parameter name this request target? Accepts the exact request-target,
/// or its path alone when the request carried a query (some ACSs leave the query out), or the
/// path-and-query of an absolute-form target.
pub fn uri_matches(digest_uri: &str, request_target: &str) -> bool {
    if digest_uri == request_target {
        return true;
    }
    let origin_form = match request_target.find("://") {
        Some(i) => {
            let after = &request_target[i + 3..];
            match after.find('/') {
                Some(j) => &after[j..],
                None => "/",
            }
        }
        None => request_target,
    };
    if digest_uri == origin_form {
        return true;
    }
    let path = origin_form.split('?').next().unwrap_or(origin_form);
    digest_uri == path
}

/// Constant-time equality for equal-length inputs (length itself is not secret here).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/cr-AbCdEf0123456789xyz";
    const CREDS: Credentials<'static> = Credentials {
        username: "acs",
        password: "s3cret",
    };

    fn auth() -> DigestAuthenticator {
        DigestAuthenticator::new(AuthConfig::default())
    }

    /// What a client (digest_auth's client side) answers to `challenge`.
    fn respond(
        challenge: &str,
        user: &str,
        pw: &str,
        uri: &str,
    ) -> (WwwAuthenticateHeader, String) {
        let mut prompt = digest_auth::parse(challenge).expect("our challenge parses");
        let ctx = AuthContext::new(user, pw, uri);
        let answer = prompt.respond(&ctx).expect("respond").to_string();
        (prompt, answer)
    }

    fn challenge_from(outcome: &AuthOutcome) -> String {
        match outcome {
            AuthOutcome::Rejected { challenge, .. } => challenge.clone(),
            AuthOutcome::Accepted => panic!("expected a rejection"),
        }
    }

    fn reason(outcome: &AuthOutcome) -> Rejection {
        match outcome {
            AuthOutcome::Rejected { reason, .. } => *reason,
            AuthOutcome::Accepted => panic!("expected a rejection"),
        }
    }

    #[test]
    fn no_authorization_gets_a_challenge() {
        let mut a = auth();
        let now = Instant::now();
        let out = a.check(now, &CREDS, "GET", PATH, None);
        assert_eq!(reason(&out), Rejection::Missing);
        let ch = challenge_from(&out);
        assert!(ch.starts_with("Digest "), "{ch}");
        assert!(ch.contains(r#"realm="tr069-client""#), "{ch}");
        assert!(ch.contains(r#"qop="auth""#), "{ch}");
        assert!(ch.contains("algorithm=MD5"), "{ch}");
        assert!(
            ch.contains(r#"nonce=""#) && ch.contains(r#"opaque=""#),
            "{ch}"
        );
        assert!(!ch.contains("stale"), "{ch}");
        let parsed = digest_auth::parse(&ch).unwrap();
        assert_eq!(parsed.nonce.len(), 32);
        assert!(!parsed.stale);
    }

    #[test]
    fn correct_response_is_accepted() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&answer)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn nonce_is_reusable_with_increasing_nc() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let mut prompt = digest_auth::parse(&ch).unwrap();
        let ctx = AuthContext::new("acs", "s3cret", PATH);
        let first = prompt.respond(&ctx).unwrap().to_string();
        let second = prompt.respond(&ctx).unwrap().to_string();
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&first)),
            AuthOutcome::Accepted
        );
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&second)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn wrong_password_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "guess", PATH);
        let out = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::BadCredentials);
        // A fresh challenge, not stale.
        let next = digest_auth::parse(&challenge_from(&out)).unwrap();
        assert!(!next.stale);
        assert_ne!(next.nonce, digest_auth::parse(&ch).unwrap().nonce);
    }

    #[test]
    fn wrong_username_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "other", "s3cret", PATH);
        let out = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::BadCredentials);
    }

    #[test]
    fn credentials_are_read_per_call() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        let changed = Credentials {
            username: "acs",
            password: "rotated",
        };
        let out = a.check(now, &changed, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::BadCredentials);
    }

    #[test]
    fn empty_username_never_authenticates() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "", "", PATH);
        let empty = Credentials {
            username: "",
            password: "",
        };
        let out = a.check(now, &empty, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::NoCredentials);
    }

    #[test]
    fn wrong_uri_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", "/somewhere-else");
        let out = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::WrongUri);
    }

    #[test]
    fn uri_may_omit_the_query() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        let target = format!("{PATH}?ts=1");
        assert_eq!(
            a.check(now, &CREDS, "GET", &target, Some(&answer)),
            AuthOutcome::Accepted
        );
        assert!(uri_matches("/p?x=1", "/p?x=1"));
        assert!(uri_matches("/p", "http://cpe:7547/p?x=1"));
        assert!(uri_matches("/p?x=1", "http://cpe:7547/p?x=1"));
        assert!(!uri_matches("/q", "/p"));
    }

    #[test]
    fn wrong_method_in_hash_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH); // hashed as GET
        let out = a.check(now, &CREDS, "POST", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::BadCredentials);
    }

    #[test]
    fn replayed_nc_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&answer)),
            AuthOutcome::Accepted
        );
        let out = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::Replay);
    }

    #[test]
    fn lower_nc_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let mut prompt = digest_auth::parse(&ch).unwrap();
        let ctx = AuthContext::new("acs", "s3cret", PATH);
        let first = prompt.respond(&ctx).unwrap().to_string();
        let second = prompt.respond(&ctx).unwrap().to_string();
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&second)),
            AuthOutcome::Accepted
        );
        let out = a.check(now, &CREDS, "GET", PATH, Some(&first));
        assert_eq!(reason(&out), Rejection::Replay);
    }

    #[test]
    fn failed_attempt_does_not_burn_the_nc() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, bad) = respond(&ch, "acs", "guess", PATH);
        assert_eq!(
            reason(&a.check(now, &CREDS, "GET", PATH, Some(&bad))),
            Rejection::BadCredentials
        );
        let (_, good) = respond(&ch, "acs", "s3cret", PATH);
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&good)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn expired_nonce_gets_a_stale_challenge() {
        let mut a = auth();
        let t0 = Instant::now();
        let ch = a.challenge(t0, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        let later = t0 + Duration::from_secs(61);
        let out = a.check(later, &CREDS, "GET", PATH, Some(&answer));
        match &out {
            AuthOutcome::Rejected {
                reason,
                stale,
                challenge,
            } => {
                assert_eq!(*reason, Rejection::ExpiredNonce);
                assert!(*stale);
                assert!(challenge.contains("stale=true"), "{challenge}");
                assert!(digest_auth::parse(challenge).unwrap().stale);
            }
            AuthOutcome::Accepted => panic!("expired nonce accepted"),
        }
        // The client retries with the new nonce, same credentials: accepted.
        let (_, retry) = respond(&challenge_from(&out), "acs", "s3cret", PATH);
        assert_eq!(
            a.check(later, &CREDS, "GET", PATH, Some(&retry)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn expired_nonce_with_wrong_password_is_not_stale() {
        let mut a = auth();
        let t0 = Instant::now();
        let ch = a.challenge(t0, false);
        let (_, answer) = respond(&ch, "acs", "guess", PATH);
        let out = a.check(
            t0 + Duration::from_secs(61),
            &CREDS,
            "GET",
            PATH,
            Some(&answer),
        );
        assert!(matches!(
            out,
            AuthOutcome::Rejected {
                reason: Rejection::ExpiredNonce,
                stale: false,
                ..
            }
        ));
    }

    #[test]
    fn nonce_still_valid_just_before_expiry() {
        let mut a = auth();
        let t0 = Instant::now();
        let ch = a.challenge(t0, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        let t = t0 + Duration::from_secs(59);
        assert_eq!(
            a.check(t, &CREDS, "GET", PATH, Some(&answer)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn unknown_nonce_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let _ = a.challenge(now, false);
        // A challenge we never issued (another server's, or forged).
        let forged = r#"Digest realm="tr069-client", qop="auth", algorithm=MD5, nonce="00112233445566778899aabbccddeeff", opaque="abcd""#;
        let (_, answer) = respond(forged, "acs", "s3cret", PATH);
        let out = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::UnknownNonce);
    }

    #[test]
    fn opaque_must_be_echoed_unchanged() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let mut prompt = digest_auth::parse(&ch).unwrap();
        prompt.opaque = Some("tampered".into());
        let answer = prompt
            .respond(&AuthContext::new("acs", "s3cret", PATH))
            .unwrap()
            .to_string();
        let out = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        assert_eq!(reason(&out), Rejection::OpaqueMismatch);
    }

    #[test]
    fn wrong_realm_is_refused() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let mut prompt = digest_auth::parse(&ch).unwrap();
        prompt.realm = "elsewhere".into();
        let answer = prompt
            .respond(&AuthContext::new("acs", "s3cret", PATH))
            .unwrap()
            .to_string();
        assert_eq!(
            reason(&a.check(now, &CREDS, "GET", PATH, Some(&answer))),
            Rejection::WrongRealm
        );
    }

    #[test]
    fn md5_sess_is_accepted() {
        let mut a = DigestAuthenticator::new(AuthConfig {
            algorithm: ChallengeAlgorithm::Md5Sess,
            ..AuthConfig::default()
        });
        let now = Instant::now();
        let ch = a.challenge(now, false);
        assert!(ch.contains("algorithm=MD5-sess"), "{ch}");
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        assert!(answer.contains("algorithm=MD5-sess"), "{answer}");
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&answer)),
            AuthOutcome::Accepted
        );
        let (_, wrong) = respond(&ch, "acs", "nope", PATH);
        assert_eq!(
            reason(&a.check(now, &CREDS, "GET", PATH, Some(&wrong))),
            Rejection::BadCredentials
        );
    }

    #[test]
    fn md5_sess_answer_to_md5_challenge_is_accepted() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let mut prompt = digest_auth::parse(&ch).unwrap();
        prompt.algorithm = Algorithm::new(AlgorithmType::MD5, true);
        let answer = prompt
            .respond(&AuthContext::new("acs", "s3cret", PATH))
            .unwrap()
            .to_string();
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&answer)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn sha256_is_accepted() {
        let mut a = DigestAuthenticator::new(AuthConfig {
            algorithm: ChallengeAlgorithm::Sha256,
            ..AuthConfig::default()
        });
        let now = Instant::now();
        let ch = a.challenge(now, false);
        assert!(ch.contains("algorithm=SHA-256"), "{ch}");
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&answer)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn rfc2069_nonce_without_qop_is_single_use() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let mut prompt = digest_auth::parse(&ch).unwrap();
        prompt.qop = None;
        let answer = prompt
            .respond(&AuthContext::new("acs", "s3cret", PATH))
            .unwrap()
            .to_string();
        assert!(!answer.contains("nc="), "{answer}");
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&answer)),
            AuthOutcome::Accepted
        );
        let again = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        assert!(matches!(
            again,
            AuthOutcome::Rejected {
                reason: Rejection::UnknownNonce,
                ..
            }
        ));
    }

    #[test]
    fn basic_and_garbage_are_refused_without_panicking() {
        let mut a = auth();
        let now = Instant::now();
        let cases: &[(&str, Rejection)] = &[
            ("Basic YWNzOnMzY3JldA==", Rejection::NotDigest),
            ("Digest", Rejection::NotDigest),
            ("Digest username=\"acs", Rejection::Malformed),
            ("Digest username=\"ä\", realm=\"x\"", Rejection::Malformed),
            ("Digest realm=\"tr069-client\"", Rejection::Malformed),
            (
                "Digest username=\"acs\", realm=\"tr069-client\", nonce=\"n\", uri=\"/\", response=\"r\", qop=auth, nc=zz, cnonce=\"c\"",
                Rejection::Malformed,
            ),
            (
                "Digest username=\"acs\", realm=\"tr069-client\", nonce=\"n\", uri=\"/\", response=\"r\", qop=auth-int, nc=1, cnonce=\"c\"",
                Rejection::Malformed,
            ),
        ];
        for (header, expected) in cases {
            let out = a.check(now, &CREDS, "GET", PATH, Some(header));
            assert_eq!(reason(&out), *expected, "{header}");
        }
    }

    #[test]
    fn lowercase_scheme_is_accepted() {
        let mut a = auth();
        let now = Instant::now();
        let ch = a.challenge(now, false);
        let (_, answer) = respond(&ch, "acs", "s3cret", PATH);
        let lower = answer.replacen("Digest", "digest", 1);
        assert_eq!(
            a.check(now, &CREDS, "GET", PATH, Some(&lower)),
            AuthOutcome::Accepted
        );
    }

    #[test]
    fn nonce_table_is_bounded_and_evicts_oldest() {
        let mut a = DigestAuthenticator::new(AuthConfig {
            max_nonces: 4,
            ..AuthConfig::default()
        });
        let now = Instant::now();
        let oldest = a.challenge(now, false);
        for _ in 0..10 {
            let _ = a.challenge(now, false);
        }
        assert_eq!(a.outstanding_nonces(), 4);
        let (_, answer) = respond(&oldest, "acs", "s3cret", PATH);
        let out = a.check(now, &CREDS, "GET", PATH, Some(&answer));
        // Evicted, but the credentials were right: tell the client to just retry.
        assert!(matches!(
            out,
            AuthOutcome::Rejected {
                reason: Rejection::UnknownNonce,
                stale: true,
                ..
            }
        ));
        assert!(a.order.len() <= 8);
    }

    #[test]
    fn old_nonces_are_purged() {
        let mut a = auth();
        let t0 = Instant::now();
        for _ in 0..5 {
            let _ = a.challenge(t0, false);
        }
        let _ = a.challenge(t0 + Duration::from_secs(200), false);
        assert_eq!(a.outstanding_nonces(), 1);
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }

    #[test]
    fn debug_masks_password() {
        let s = format!("{CREDS:?}");
        assert!(!s.contains("s3cret"), "{s}");
    }
}
