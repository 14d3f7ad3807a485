//! The on-disk frame of one record (see the crate docs for the layout).

use crate::error::FrameError;

/// Version byte of the only frame layout so far.
pub const FRAME_VERSION: u8 = 1;

/// version(1) + tag(2) + time_ms(8) + boot_id_len(1) + payload_len(4) + crc(4).
pub(crate) const FIXED_LEN: usize = 1 + 2 + 8 + 1 + 4 + 4;

/// A decoded frame, borrowing the stored value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The frame's type tag, as appended.
    pub tag: u16,
    /// Wall-clock time of the commit, unix milliseconds.
    pub time_ms: u64,
    /// Kernel boot id of the writer.
    pub boot_id: &'a str,
    /// The payload, exactly as it was appended.
    pub payload: &'a [u8],
}

/// The sled key of a sequence number: big-endian so that sled's byte order is numeric order.
pub fn key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Parses a sled key back into a sequence number.
pub fn seq_of(key: &[u8]) -> Result<u64, FrameError> {
    let arr: [u8; 8] = key.try_into().map_err(|_| FrameError::Key(key.len()))?;
    Ok(u64::from_be_bytes(arr))
}

/// Encodes one frame. The boot id must be at most 255 bytes (checked when the journal opens).
pub fn encode(seq: u64, tag: u16, time_ms: u64, boot_id: &str, payload: &[u8]) -> Vec<u8> {
    let boot = &boot_id.as_bytes()[..boot_id.len().min(255)];
    let mut v = Vec::with_capacity(FIXED_LEN + boot.len() + payload.len());
    v.push(FRAME_VERSION);
    v.extend_from_slice(&tag.to_be_bytes());
    v.extend_from_slice(&time_ms.to_be_bytes());
    v.push(boot.len() as u8);
    v.extend_from_slice(boot);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    let crc = checksum(seq, &v);
    v.extend_from_slice(&crc.to_be_bytes());
    v
}

/// The CRC covers the key too, so a frame that sled hands back under the wrong key is caught.
fn checksum(seq: u64, body: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&key(seq)), body)
}

/// Decodes and checks one frame stored under `seq`.
pub fn decode(seq: u64, value: &[u8]) -> Result<FrameRef<'_>, FrameError> {
    if value.len() < FIXED_LEN {
        return Err(FrameError::TooShort { len: value.len() });
    }
    // Checksum first: nothing else in the frame is trusted before it matches.
    let (body, crc_bytes) = value.split_at(value.len() - 4);
    let stored = u32::from_be_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
    let computed = checksum(seq, body);
    if stored != computed {
        return Err(FrameError::Checksum { stored, computed });
    }
    if body[0] != FRAME_VERSION {
        return Err(FrameError::UnknownVersion(body[0]));
    }
    let tag = u16::from_be_bytes([body[1], body[2]]);
    let mut time = [0u8; 8];
    time.copy_from_slice(&body[3..11]);
    let time_ms = u64::from_be_bytes(time);
    let boot_len = usize::from(body[11]);
    let rest = &body[12..];
    if rest.len() < boot_len + 4 {
        return Err(FrameError::Length);
    }
    let boot_id = std::str::from_utf8(&rest[..boot_len]).map_err(|_| FrameError::BootId)?;
    let rest = &rest[boot_len..];
    let payload_len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let payload = &rest[4..];
    if payload.len() != payload_len {
        return Err(FrameError::Length);
    }
    Ok(FrameRef {
        tag,
        time_ms,
        boot_id,
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_stable() {
        let v = encode(7, 1, 0x0102_0304_0506_0708, "ab", &[0x0a, 0x00]);
        let crc = checksum(7, &v[..v.len() - 4]).to_be_bytes();
        let mut expected = vec![
            1, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 2, b'a', b'b', 0, 0, 0, 2, 0x0a, 0,
        ];
        expected.extend_from_slice(&crc);
        assert_eq!(v, expected);
        // Frozen value: a change to the checksum definition must be a new frame version.
        assert_eq!(
            u32::from_be_bytes(crc),
            crc32c::crc32c_append(crc32c::crc32c(&7u64.to_be_bytes()), &expected[..20])
        );
    }

    #[test]
    fn round_trip() {
        let v = encode(42, 22, 1234, "boot-1", b"payload");
        let f = decode(42, &v).unwrap();
        assert_eq!(
            f,
            FrameRef {
                tag: 22,
                time_ms: 1234,
                boot_id: "boot-1",
                payload: b"payload"
            }
        );
    }

    #[test]
    fn every_single_bit_flip_is_caught() {
        let v = encode(3, 5, 99, "b", b"some payload bytes");
        for i in 0..v.len() {
            for bit in 0..8 {
                let mut w = v.clone();
                w[i] ^= 1 << bit;
                assert!(
                    decode(3, &w).is_err(),
                    "flip at byte {i} bit {bit} not caught"
                );
            }
        }
    }

    #[test]
    fn wrong_key_is_caught() {
        let v = encode(3, 5, 99, "b", b"x");
        assert!(matches!(decode(4, &v), Err(FrameError::Checksum { .. })));
    }

    #[test]
    fn truncation_is_caught() {
        let v = encode(3, 5, 99, "b", b"some payload");
        for len in 0..v.len() {
            assert!(
                decode(3, &v[..len]).is_err(),
                "truncation to {len} not caught"
            );
        }
    }

    #[test]
    fn unknown_version_is_reported() {
        let mut v = encode(1, 1, 0, "", b"");
        v[0] = 2;
        let n = v.len();
        let crc = checksum(1, &v[..n - 4]).to_be_bytes();
        v[n - 4..].copy_from_slice(&crc);
        assert_eq!(decode(1, &v), Err(FrameError::UnknownVersion(2)));
    }

    proptest::proptest! {
        #[test]
        fn any_frame_round_trips(seq: u64, tag: u16, time: u64, boot in "[a-f0-9-]{0,40}",
                                 payload in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let v = encode(seq, tag, time, &boot, &payload);
            let f = decode(seq, &v).unwrap();
            proptest::prop_assert_eq!(f, FrameRef { tag, time_ms: time, boot_id: &boot, payload: &payload });
        }

        #[test]
        fn arbitrary_bytes_never_panic(seq: u64, bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..100)) {
            let _ = decode(seq, &bytes);
        }
    }

    #[test]
    fn keys_sort_numerically() {
        assert!(key(255) < key(256));
        assert_eq!(seq_of(&key(u64::MAX - 1)).unwrap(), u64::MAX - 1);
        assert_eq!(seq_of(&[1, 2]), Err(FrameError::Key(2)));
    }
}
