//! HTTP authentication, client side: Basic and Digest (via the `digest_auth` crate).
//!
//! Credentials are never sent before the server asks for them; once a challenge has been
//! answered, the same scheme is used on every later request to that server (Digest: the same
//! nonce with an incrementing `nc`, and the connection's `cnonce`). [`Authenticator`] holds that
//! state and decides what a 401 means; callers word its [`AuthFailure`] for their operator.

use digest_auth::{AlgorithmType, AuthContext, HttpMethod, Qop, WwwAuthenticateHeader};
use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

use super::Target;

/// A challenge from a 401 the client knows how to answer.
#[derive(Debug, Clone)]
enum Challenge {
    Basic,
    Digest(Box<WwwAuthenticateHeader>),
}

impl Challenge {
    fn stale(&self) -> bool {
        matches!(self, Challenge::Digest(d) if d.stale)
    }
}

/// The scheme in use toward one server.
#[derive(Debug, Clone, Default)]
enum AuthState {
    #[default]
    None,
    Basic,
    Digest(Box<WwwAuthenticateHeader>),
}

/// Why a 401 cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// Only schemes the client cannot answer were offered (their description).
    Unsupported(String),
    /// A 401 without any `WWW-Authenticate` challenge, before credentials were sent.
    NoChallenge,
    /// The server refused the credentials it asked for (`scheme`: "Basic", "Digest", "HTTP").
    Rejected { scheme: &'static str },
}

/// The authentication state toward one server: the adopted scheme, and whether the current
/// request has answered a challenge already (a second challenge then means wrong credentials,
/// unless the server only says the Digest nonce went stale).
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    state: AuthState,
    answered: bool,
    stale_retried: bool,
}

impl Authenticator {
    /// A new request starts: it may answer one challenge (and one stale nonce) of its own.
    pub fn start_request(&mut self) {
        self.answered = false;
        self.stale_retried = false;
    }

    /// Forgets everything: the next request goes to another server.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// The scheme in use: "Basic", "Digest", or "HTTP" before any challenge.
    pub fn scheme_name(&self) -> &'static str {
        match self.state {
            AuthState::None => "HTTP",
            AuthState::Basic => "Basic",
            AuthState::Digest(_) => "Digest",
        }
    }

    /// Takes a 401's challenges: Ok when the request should be sent again with credentials.
    /// `peer` ("the ACS") names the server in the warning about Basic over plain HTTP.
    pub fn on_unauthorized(
        &mut self,
        headers: &HeaderMap,
        target: &Target,
        peer: &str,
    ) -> Result<(), AuthFailure> {
        let challenge = match pick_challenge(headers) {
            Err(offered) => return Err(AuthFailure::Unsupported(offered)),
            Ok(None) if !matches!(self.state, AuthState::None) => {
                return Err(AuthFailure::Rejected {
                    scheme: self.scheme_name(),
                });
            }
            Ok(None) => return Err(AuthFailure::NoChallenge),
            Ok(Some(challenge)) => challenge,
        };
        if self.answered {
            if !challenge.stale() || self.stale_retried {
                return Err(AuthFailure::Rejected {
                    scheme: self.scheme_name(),
                });
            }
            self.stale_retried = true;
        }
        self.answered = true;
        self.state = match challenge {
            Challenge::Basic => AuthState::Basic,
            Challenge::Digest(d) => AuthState::Digest(d),
        };
        if matches!(self.state, AuthState::Basic) && !target.https {
            tracing::warn!(
                url = %target.display_url(),
                "{peer} asks for HTTP Basic over plain HTTP: the password crosses the network in clear text"
            );
        }
        Ok(())
    }

    /// The `Authorization` value for a request, or None before any challenge. `body` only
    /// matters when the server insists on `auth-int`; a streamed body the caller cannot hash is
    /// passed as None, which answers with `auth`.
    pub fn authorization(
        &mut self,
        method: &str,
        username: &str,
        password: &str,
        uri: &str,
        body: Option<&[u8]>,
        cnonce: &str,
    ) -> Result<Option<String>, String> {
        match &mut self.state {
            AuthState::None => Ok(None),
            AuthState::Basic => Ok(Some(format!(
                "Basic {}",
                base64(format!("{username}:{password}").as_bytes())
            ))),
            AuthState::Digest(prompt) => {
                let mut ctx = AuthContext::new_with_method(
                    username,
                    password,
                    uri,
                    body,
                    HttpMethod::from(method),
                );
                ctx.set_custom_cnonce(cnonce);
                prompt
                    .respond(&ctx)
                    .map(|h| Some(h.to_header_string()))
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Picks the best challenge the client can answer from a 401's `WWW-Authenticate` headers:
/// Digest (SHA-256 before SHA-512/256 before MD5) over Basic.
/// `Err` carries a description of what was offered when nothing usable was.
fn pick_challenge(headers: &HeaderMap) -> Result<Option<Challenge>, String> {
    let mut digests: Vec<WwwAuthenticateHeader> = Vec::new();
    let mut basic = false;
    let mut offered: Vec<String> = Vec::new();
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else {
            // Non-ASCII challenge: not something the crate's parser is safe on.
            offered.push("a non-ASCII challenge".to_string());
            continue;
        };
        let value = value.trim();
        let (scheme, params) = value.split_once([' ', '\t']).unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("Digest") {
            match WwwAuthenticateHeader::parse(params.trim()) {
                Ok(mut d) => {
                    // We answer qop=auth; auth-int only when the ACS offers nothing else.
                    if let Some(q) = &d.qop {
                        if q.contains(&Qop::AUTH) {
                            d.qop = Some(vec![Qop::AUTH]);
                        }
                    }
                    digests.push(d);
                }
                Err(e) => offered.push(format!("Digest ({e})")),
            }
        } else if scheme.eq_ignore_ascii_case("Basic") {
            basic = true;
        } else {
            offered.push(scheme.chars().take(32).collect());
        }
    }
    let rank = |d: &WwwAuthenticateHeader| match d.algorithm.algo {
        AlgorithmType::SHA2_256 => 0,
        AlgorithmType::SHA2_512_256 => 1,
        AlgorithmType::MD5 => 2,
    };
    crate::ordering::sort_stably_by_key(&mut digests, rank);
    if let Some(d) = digests.into_iter().next() {
        return Ok(Some(Challenge::Digest(Box::new(d))));
    }
    if basic {
        return Ok(Some(Challenge::Basic));
    }
    if offered.is_empty() {
        Ok(None)
    } else {
        Err(offered.join(", "))
    }
}

/// Standard base64 with padding (for Basic credentials only).
fn base64(input: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(TABLE[(n >> 18) as usize & 63] as char);
        out.push(TABLE[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            TABLE[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            TABLE[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use digest_auth::AuthorizationHeader;
    use http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn base64_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn genieacs_challenge_is_answered_with_qop_auth_md5() {
        let h = headers(&[r#"Digest realm="GenieACS",qop="auth,auth-int",nonce=3f5a9c"#]);
        let target = Target::parse("http://acs/").unwrap();
        let mut state = Authenticator::default();
        state
            .on_unauthorized(&h, &target, "the ACS")
            .expect("challenge not understood");
        let v = state
            .authorization("POST", "cpe", "secret", "/", Some(b"<x/>"), "cn1")
            .unwrap()
            .unwrap();
        assert!(v.starts_with("Digest "), "{v}");
        let parsed = AuthorizationHeader::parse(&v).unwrap();
        assert_eq!(parsed.qop, Some(Qop::AUTH));
        assert_eq!(parsed.nc, 1);
        assert_eq!(parsed.nonce, "3f5a9c");
        assert_eq!(parsed.realm, "GenieACS");
        // Recompute on the "server" side.
        let mut check = parsed.clone();
        check.digest(&AuthContext::new_post("cpe", "secret", "/", None::<&[u8]>));
        assert_eq!(check.response, parsed.response);
        let v2 = state
            .authorization("POST", "cpe", "secret", "/", Some(b""), "cn1")
            .unwrap()
            .unwrap();
        assert_eq!(AuthorizationHeader::parse(&v2).unwrap().nc, 2);
    }

    #[test]
    fn digest_preferred_and_sha256_first() {
        let h = headers(&[
            r#"Basic realm="x""#,
            r#"Digest realm="a", nonce="n1", algorithm=MD5, qop="auth""#,
            r#"Digest realm="a", nonce="n2", algorithm=SHA-256, qop="auth""#,
        ]);
        match pick_challenge(&h) {
            Ok(Some(Challenge::Digest(d))) => assert_eq!(d.nonce, "n2"),
            other => panic!("{other:?}"),
        }
        let h = headers(&[r#"basic realm="x""#]);
        assert!(matches!(pick_challenge(&h), Ok(Some(Challenge::Basic))));
    }

    #[test]
    fn unusable_challenges_are_described() {
        let h = headers(&["Negotiate abc"]);
        assert_eq!(pick_challenge(&h).unwrap_err(), "Negotiate");
        let h = headers(&[r#"Digest realm="a", nonce="n", algorithm=SHA-1"#]);
        assert!(pick_challenge(&h).unwrap_err().starts_with("Digest"));
        assert!(matches!(pick_challenge(&HeaderMap::new()), Ok(None)));
    }

    #[test]
    fn basic_header() {
        let mut s = Authenticator::default();
        s.on_unauthorized(
            &headers(&[r#"Basic realm="x""#]),
            &Target::parse("https://acs/").unwrap(),
            "the ACS",
        )
        .unwrap();
        assert_eq!(
            s.authorization("POST", "Aladdin", "open sesame", "/", Some(b""), "")
                .unwrap(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_string())
        );
    }
}
