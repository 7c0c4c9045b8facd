//! The checksum frame of stored values (schema versions 2 and 3), rebuilt here from its documented
//! format (`src/store/schema.rs`) so that tests and fuzz targets can write rows the library
//! accepts as undamaged, and so reach its record decoder.
#![allow(dead_code)]

/// Seal tag of catalog rows (their context id is 0).
pub const CATALOG: u8 = b'C';
/// Seal tag of spec rows.
pub const SPEC: u8 = b'S';
/// Seal tag of step-type index chunks (schema version 3), sealed over their whole key.
pub const TYPE_CHUNK: u8 = b'T';

/// The key of chunk `number` of `step_type` in a context's table (schema version 3):
/// `b'I' ++ type length (u32 BE) ++ type ++ number (u32 BE)`.
pub fn chunk_key(step_type: &str, number: u32) -> Vec<u8> {
    let mut key = vec![b'I'];
    key.extend_from_slice(&(step_type.len() as u32).to_be_bytes());
    key.extend_from_slice(step_type.as_bytes());
    key.extend_from_slice(&number.to_be_bytes());
    key
}

/// The key of the spec row of `step` in a context's table (schema version 3).
pub fn spec_key(step: &str) -> Vec<u8> {
    let mut key = vec![b'S'];
    key.extend_from_slice(step.as_bytes());
    key
}

/// `crc32 (LE) ++ payload`, the CRC-32 covering `tag ++ id (u64 LE) ++ key length (u32 LE)
/// ++ key ++ payload`.
pub fn seal(tag: u8, id: u64, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[tag]);
    hasher.update(&id.to_le_bytes());
    hasher.update(&(key.len() as u32).to_le_bytes());
    hasher.update(key);
    hasher.update(payload);
    let mut out = hasher.finalize().to_le_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

/// The payload of a sealed value (its checksum is not checked).
pub fn payload(value: &[u8]) -> &[u8] {
    value.get(4..).unwrap_or_default()
}
