//! A datagram from the DNS server, read by NSLookupDiagnostics' `Reply::parse` (simple-dns
//! underneath): never a panic; only a response parses, and what it reports is what the header
//! says (the id, the AA bit); every address came from an A or AAAA record, so there are at most
//! as many as the answer count says.
//!
//! Input: the datagram.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tr069_client::diagnostics::nslookup::Reply;

fuzz_target!(|data: &[u8]| {
    let Some(reply) = Reply::parse(data) else {
        return;
    };
    assert!(data.len() >= 12, "a reply shorter than a DNS header");
    assert_eq!(reply.id, u16::from_be_bytes([data[0], data[1]]));
    assert!(data[2] & 0x80 != 0, "a query was read as a reply");
    assert_eq!(reply.authoritative, data[2] & 0x04 != 0);
    let answers = usize::from(u16::from_be_bytes([data[6], data[7]]));
    assert!(reply.addresses.len() <= answers);
});
