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
    if let Ok(frame) = journal::frame::decode(seq, value) {
        // Accepted: it is exactly what encoding its fields under `seq` gives (the CRC covers the
        // key, so the same bytes under another sequence number are refused).
        let again = journal::frame::encode(seq, frame.tag, frame.time_ms, frame.boot_id, frame.payload);
        assert_eq!(again.as_slice(), value);
        assert!(journal::frame::decode(seq.wrapping_add(1), value).is_err());
    }
});
