//! Any bytes from the network: decoding never panics, and whatever decodes re-encodes to a
//! message that decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tr069_client::cwmp::{Envelope, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(envelope) = Envelope::decode(data, &limits) {
        let again = Envelope::decode(envelope.encode().as_bytes(), &limits)
            .expect("a decoded envelope re-encodes to something decodable");
        assert_eq!(again.body, envelope.body);
    }
});
