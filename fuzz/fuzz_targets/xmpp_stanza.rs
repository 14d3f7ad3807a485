//! What an XMPP server sends on an established connection (TR-069 Annex K), as the agent reads
//! it: the bytes after the server's stream features go through the agent's own stream layer,
//! parser and skipping of unparsable stanzas (`agent::xmpp::read_and_handle`, over an in-memory
//! pipe instead of TLS), and every element through the decision the agent takes on it
//! (`agent::xmpp::handle`: a `connectionRequest` IQ judged and answered, pings answered, other
//! requests refused).
//!
//! Checked besides "never panics": a connection request is accepted only from an allowed JID
//! (and only from an input with a `connectionRequest` element), and its answer is an IQ result to
//! the sender; a refusal is an IQ error to the sender,
//! `not-authorized` (an allowed JID with wrong credentials) or `service-unavailable` (a JID not
//! allowed); every answer is an IQ.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokio_xmpp::Stanza;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::stanza_error::DefinedCondition;
use tr069_client::agent::xmpp::{Handling, read_and_handle};
use tr069_client::connection_request::xmpp::{Policy, Verdict, jid_allowed};

const PASSWORD: &str = "cr-pw";

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime")
    })
}

fn contains(data: &[u8], needle: &str) -> bool {
    data.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fuzz_target!(|data: &[u8]| {
    let allowed = vec!["acs@xmpp.test".to_owned()];
    let policy = Policy {
        enabled: true,
        username: "acs",
        password: PASSWORD,
        allowed: &allowed,
    };
    for handling in runtime().block_on(read_and_handle(data, &policy)) {
        let Handling::Reply { stanza, request } = handling else {
            continue;
        };
        let iq = match *stanza {
            Stanza::Iq(iq) => iq,
            other => panic!("an answer that is not an IQ: {other:?}"),
        };
        let Some((verdict, from)) = request else {
            continue;
        };
        match (verdict, &iq) {
            (Verdict::Accepted, Iq::Result { to, .. }) => {
                assert!(jid_allowed(&from, &allowed), "accepted from {from:?}");
                // Element names cannot hide behind references (the namespace and the password
                // can, so they are not looked for in the raw bytes).
                assert!(contains(data, "connectionRequest"));
                assert_eq!(
                    to.as_ref().map(ToString::to_string).unwrap_or_default(),
                    from
                );
            }
            (Verdict::NotAuthorized, Iq::Error { error, to, .. }) => {
                assert_eq!(error.defined_condition, DefinedCondition::NotAuthorized);
                assert!(jid_allowed(&from, &allowed));
                assert_eq!(
                    to.as_ref().map(ToString::to_string).unwrap_or_default(),
                    from
                );
            }
            (Verdict::ServiceUnavailable, Iq::Error { error, to, .. }) => {
                assert_eq!(
                    error.defined_condition,
                    DefinedCondition::ServiceUnavailable
                );
                assert!(!jid_allowed(&from, &allowed));
                assert_eq!(
                    to.as_ref().map(ToString::to_string).unwrap_or_default(),
                    from
                );
            }
            other => panic!("verdict and answer disagree: {other:?}"),
        }
    }
});
