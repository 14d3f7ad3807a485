//! Test kit for tr069-client: a scripted ACS ([`acs::ScriptedAcs`]) that records every exchange and
//! answers from a script, and a throw-away PKI ([`pki::test_pki`]) for the HTTPS tests.

pub mod acs;
pub mod device;
pub mod pki;

pub use acs::{
    AcsAuth, AcsCall, AcsConfig, AcsRequest, ConnectionRequestLog, CpeAnswer, CpeCall, Exchange,
    Failure, ScriptedAcs, SessionEnd, SessionLog, TlsIdentity,
};
pub use pki::{TestPki, test_pki};
