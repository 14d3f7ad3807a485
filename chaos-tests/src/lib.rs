//! Test kit for tr069-client: a scripted ACS ([`acs::ScriptedAcs`]) that records every exchange and
//! answers from a script, and a throw-away PKI ([`pki::test_pki`]) for the HTTPS tests.

pub mod acs;
pub mod campaign;
pub mod device;
pub mod file_server;
pub mod lazyfs;
pub mod namespaces;
pub mod netns;
pub mod pki;
pub mod xmpp_acs;
pub mod xmpp_server;

pub use acs::{
    AcsAuth, AcsCall, AcsConfig, AcsRequest, ConnectionRequestLog, CpeAnswer, CpeCall, Exchange,
    Failure, ScriptedAcs, SessionEnd, SessionLog, TlsIdentity,
};
pub use file_server::{DigestAlgorithm, FileAuth, FileRequest, FileServer, FileServerConfig, Mode};
pub use pki::{TestPki, test_pki};
