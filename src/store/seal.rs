//! Checksums over stored rows (schema versions 2 and 3): every catalog, spec and index value
//! carries a CRC-32 of its tag, context id, key and payload, so the plain read path, where
//! redb does not verify its page checksums, still detects a damaged row. The format is
//! described in `store::schema`.

use super::schema::SEAL_META;

/// A stored value whose checksum does not match its key and payload.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    #[error("the value is {0} bytes long, too short to hold its checksum")]
    Short(usize),
    #[error(
        "its checksum does not match its key and content (stored {stored:#010x}, computed {computed:#010x})"
    )]
    Mismatch { stored: u32, computed: u32 },
}

fn checksum(tag: u8, id: u64, key: &[u8], payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[tag]);
    hasher.update(&id.to_le_bytes());
    // Stored keys are bounded far below 4 GiB (names are at most a few KiB); saturating
    // keeps this total without changing any real key's checksum.
    hasher.update(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_le_bytes());
    hasher.update(key);
    hasher.update(payload);
    hasher.finalize()
}

/// `crc32 (LE) ++ payload` for the row `key` of kind `tag` in context `id`.
pub(crate) fn seal(tag: u8, id: u64, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&checksum(tag, id, key, payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Seals in place a value whose first 4 bytes were reserved for the checksum and whose
/// payload follows: the same bytes as [`seal`] of the payload, without copying it.
pub(crate) fn seal_reserved(tag: u8, id: u64, key: &[u8], value: &mut [u8]) {
    if let Some((crc, payload)) = value.split_first_chunk_mut::<4>() {
        *crc = checksum(tag, id, key, payload).to_le_bytes();
    }
}

/// The payload of a sealed value, after checking its checksum.
pub(crate) fn unseal<'a>(
    tag: u8,
    id: u64,
    key: &[u8],
    value: &'a [u8],
) -> Result<&'a [u8], SealError> {
    let (stored, payload) = value
        .split_first_chunk::<4>()
        .ok_or(SealError::Short(value.len()))?;
    let stored = u32::from_le_bytes(*stored);
    let computed = checksum(tag, id, key, payload);
    if stored == computed {
        Ok(payload)
    } else {
        Err(SealError::Mismatch { stored, computed })
    }
}

/// The meta table's checksum over the schema version and the next context id.
pub(crate) fn meta_checksum(schema_version: u64, next_context_id: u64) -> u64 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[SEAL_META]);
    hasher.update(&schema_version.to_le_bytes());
    hasher.update(&next_context_id.to_le_bytes());
    u64::from(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::{SEAL_CATALOG, SEAL_SPEC};

    #[test]
    fn a_sealed_value_opens_only_with_its_own_tag_id_and_key() -> Result<(), SealError> {
        let sealed = seal(SEAL_SPEC, 7, b"step", b"payload");
        assert_eq!(unseal(SEAL_SPEC, 7, b"step", &sealed)?, b"payload");
        for (tag, id, key) in [
            (SEAL_CATALOG, 7, &b"step"[..]),
            (SEAL_SPEC, 8, b"step"),
            (SEAL_SPEC, 7, b"step2"),
        ] {
            assert!(matches!(
                unseal(tag, id, key, &sealed),
                Err(SealError::Mismatch { .. })
            ));
        }
        for bit in 0..sealed.len() * 8 {
            let mut damaged = sealed.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                unseal(SEAL_SPEC, 7, b"step", &damaged).is_err(),
                "bit {bit}"
            );
        }
        assert!(matches!(
            unseal(SEAL_SPEC, 7, b"step", &[1, 2]),
            Err(SealError::Short(2))
        ));
        Ok(())
    }

    #[test]
    fn key_and_payload_boundaries_are_part_of_the_checksum() {
        // Moving a byte from the key to the payload changes the checksum.
        assert_ne!(
            checksum(SEAL_SPEC, 1, b"ab", b"c"),
            checksum(SEAL_SPEC, 1, b"a", b"bc")
        );
        assert_ne!(meta_checksum(2, 11), meta_checksum(2, 12));
    }
}
