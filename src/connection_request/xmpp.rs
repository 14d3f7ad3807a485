//! XMPP connection requests (TR-069 Annex K), the decisions without the stream: who may ask,
//! with which credentials, what the answer is, and how long to wait before reconnecting.
//!
//! The ACS (GenieACS: `xmppConnectionRequest` in `lib/connection-request.ts`) sends the CPE's
//! JID (ConnReqJabberID) an IQ:
//!
//! ```xml
//! <iq type="get" from="acs@xmpp.example/…" to="cpe@xmpp.example/cwmp" id="…">
//!   <connectionRequest xmlns="urn:broadband-forum-org:cwmp:xmppConnReq-1-0">
//!     <username>…</username><password>…</password>
//!   </connectionRequest>
//! </iq>
//! ```
//!
//! and the CPE answers with an IQ result (a session with `6 CONNECTION REQUEST` follows) or an
//! IQ error: `service-unavailable` (type `cancel`) when the sender is not in
//! ConnReqAllowedJabberIDs or connection requests are off — the answer an XMPP entity gives for
//! a service it does not offer, so nothing is revealed to others — and `not-authorized` (type
//! `auth`) for wrong credentials (GenieACS reads it as "Incorrect connection request
//! credentials", the other as "Device is offline"). The verdict is [`judge`]; the edge
//! (`agent::xmpp`) parses the stanza with `xmpp-parsers` and writes the answer.

use std::time::Duration;

use super::auth::ct_eq;

/// The connectionRequest payload's namespace.
pub const NS_CONNECTION_REQUEST: &str = "urn:broadband-forum-org:cwmp:xmppConnReq-1-0";

/// The credentials a connectionRequest carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered<'a> {
    /// The IQ's `from` (the full JID the server stamped).
    pub from: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

/// What the CPE is configured to accept.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// CWMP and XMPP connection requests are on.
    pub enabled: bool,
    /// ConnectionRequestUsername / ConnectionRequestPassword.
    pub username: &'a str,
    pub password: &'a str,
    /// ConnReqAllowedJabberIDs (empty: anyone).
    pub allowed: &'a [String],
}

/// The answer to a connectionRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// IQ result; start a session.
    Accepted,
    /// IQ error `not-authorized` (type `auth`).
    NotAuthorized,
    /// IQ error `service-unavailable` (type `cancel`).
    ServiceUnavailable,
}

/// Whether `from` matches one entry of ConnReqAllowedJabberIDs: a bare JID entry matches every
/// resource of that JID, a full JID entry only itself (TR-181). Domains compare case-insensitively
/// (a simplification of RFC 7622's preparation: local parts and resources compare exactly).
pub fn jid_allowed(from: &str, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let (from_bare, from_resource) = split_resource(from);
    allowed.iter().any(|entry| {
        let (bare, resource) = split_resource(entry.trim());
        bare_equal(bare, from_bare) && resource.is_none_or(|r| Some(r) == from_resource)
    })
}

fn split_resource(jid: &str) -> (&str, Option<&str>) {
    match jid.split_once('/') {
        Some((bare, resource)) => (bare, Some(resource)),
        None => (jid, None),
    }
}

fn bare_equal(a: &str, b: &str) -> bool {
    let split = |j: &str| match j.rsplit_once('@') {
        Some((local, domain)) => (Some(local.to_owned()), domain.to_ascii_lowercase()),
        None => (None, j.to_ascii_lowercase()),
    };
    split(a) == split(b)
}

/// Decides on a connectionRequest.
pub fn judge(offered: &Offered<'_>, policy: &Policy<'_>) -> Verdict {
    if !policy.enabled || !jid_allowed(offered.from, policy.allowed) {
        return Verdict::ServiceUnavailable;
    }
    // An empty configured username never authenticates anyone (as with HTTP).
    let right = !policy.username.is_empty()
        & ct_eq(offered.username.as_bytes(), policy.username.as_bytes())
        & ct_eq(offered.password.as_bytes(), policy.password.as_bytes());
    if right {
        Verdict::Accepted
    } else {
        Verdict::NotAuthorized
    }
}

/// The reconnection backoff of TR-069 Annex K / TR-181 (`ServerRetryInitialInterval`,
/// `ServerRetryIntervalMultiplier`, `ServerRetryMaxInterval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial_secs: u64,
    /// In thousandths (2000 = doubling).
    pub multiplier: u64,
    pub max_secs: u64,
}

impl Backoff {
    /// The longest wait before reconnection attempt `attempt` (1 = the first reconnection):
    /// `initial × (multiplier/1000)^(attempt-1)`, at most `max`.
    pub fn max_wait(&self, attempt: u32) -> Duration {
        let mut secs = self.initial_secs.max(1) as f64;
        let factor = (self.multiplier.max(1000) as f64) / 1000.0;
        for _ in 1..attempt.min(64) {
            secs *= factor;
            if secs >= self.max_secs as f64 {
                break;
            }
        }
        Duration::from_secs_f64(secs.min(self.max_secs.max(1) as f64))
    }

    /// The wait before attempt `attempt`: a random point of `[0, max_wait]` (`unit` in
    /// `[0, 1)`), so a fleet that lost its server does not come back at once.
    pub fn wait(&self, attempt: u32, unit: f64) -> Duration {
        self.max_wait(attempt).mul_f64(unit.clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy<'a>(allowed: &'a [String]) -> Policy<'a> {
        Policy {
            enabled: true,
            username: "acs",
            password: "pw",
            allowed,
        }
    }

    fn offered<'a>(from: &'a str, username: &'a str, password: &'a str) -> Offered<'a> {
        Offered {
            from,
            username,
            password,
        }
    }

    #[test]
    fn the_allowed_list_follows_tr181() {
        let allowed: Vec<String> = vec![
            "ACS1@tr069.example.com".into(),
            "ACS2@tr069.example.com/resource1".into(),
        ];
        for yes in [
            "ACS1@tr069.example.com/resource1",
            "ACS1@tr069.example.com/resource2",
            "ACS2@tr069.example.com/resource1",
            "ACS1@TR069.example.com/x",
        ] {
            assert!(jid_allowed(yes, &allowed), "{yes}");
        }
        for no in [
            "ACS2@tr069.example.com/resource2",
            "ACS@tr069.example.com/resource",
            "acs1@tr069.example.com/resource1",
            "tr069.example.com",
        ] {
            assert!(!jid_allowed(no, &allowed), "{no}");
        }
        assert!(jid_allowed("anyone@anywhere/x", &[]));
    }

    #[test]
    fn verdicts() {
        let allowed = vec!["acs@xmpp.test".to_owned()];
        let p = policy(&allowed);
        assert_eq!(
            judge(&offered("acs@xmpp.test/genieacs", "acs", "pw"), &p),
            Verdict::Accepted
        );
        assert_eq!(
            judge(&offered("acs@xmpp.test/genieacs", "acs", "wrong"), &p),
            Verdict::NotAuthorized
        );
        assert_eq!(
            judge(&offered("acs@xmpp.test/genieacs", "other", "pw"), &p),
            Verdict::NotAuthorized
        );
        assert_eq!(
            judge(&offered("intruder@xmpp.test/x", "acs", "pw"), &p),
            Verdict::ServiceUnavailable
        );
        let off = Policy {
            enabled: false,
            ..p
        };
        assert_eq!(
            judge(&offered("acs@xmpp.test/genieacs", "acs", "pw"), &off),
            Verdict::ServiceUnavailable
        );
        let no_user = Policy {
            username: "",
            password: "",
            ..p
        };
        assert_eq!(
            judge(&offered("acs@xmpp.test/genieacs", "", ""), &no_user),
            Verdict::NotAuthorized
        );
    }

    #[test]
    fn backoff_follows_the_tr181_defaults() {
        let b = Backoff {
            initial_secs: 60,
            multiplier: 2000,
            max_secs: 30_720,
        };
        // TR-181's example, in minutes: 1, 2, 4, …, 256, 512, 512.
        let minutes: Vec<u64> = (1..=12).map(|n| b.max_wait(n).as_secs() / 60).collect();
        assert_eq!(
            minutes,
            vec![1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512]
        );
        assert_eq!(b.wait(1, 0.5), Duration::from_secs(30));
        assert_eq!(b.wait(1, 7.0), Duration::from_secs(60));
        assert_eq!(b.max_wait(u32::MAX), Duration::from_secs(30_720));
    }
}
