//! Any bytes from flash: frame decoding never panics and never accepts a frame whose checksum
//! does not match.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (key, value) = data.split_at(8);
    let seq = u64::from_be_bytes(key.try_into().unwrap_or([0; 8]));
    let _ = journal::frame::decode(seq, value);
});
