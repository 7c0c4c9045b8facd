//! Invariant: only a file that holds nothing (zeros where the magic number goes and zeros
//! everywhere past the header) is taken for an interrupted creation and reset; a file with
//! one other byte anywhere past the header, however far, is left exactly as it is.
//! Written against mutants of `src/store/recover.rs` that the corruption and open suites let
//! survive (see the report of the fourth mutation audit, cargo-mutants).

mod support;

use pipeline_deps::{Error, RegistryManager};
use support::TestResult;

/// redb's header: what a crash before its last creation write leaves (beside the magic
/// number at its start) in an otherwise zeroed file.
const HEADER_LEN: usize = 320;

#[test]
fn a_file_without_magic_with_one_byte_far_past_the_header_is_left_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    let created = dir.path().join("created.redb");
    drop(RegistryManager::open(&created)?);
    let mut bytes = std::fs::read(&created)?;
    bytes[..9].fill(0);
    bytes[HEADER_LEN..].fill(0);
    // Past the first 64 KiB the reset reads at once, and at the file's last byte.
    bytes.resize(bytes.len().max(256 * 1024), 0);
    let len = bytes.len();
    for at in [HEADER_LEN + 64 * 1024 + 1, len - 1] {
        let mut other = bytes.clone();
        other[at] = 1;
        let path = dir.path().join(format!("other-{at}.redb"));
        std::fs::write(&path, &other)?;
        let opened = RegistryManager::open(&path);
        assert!(
            matches!(opened, Err(Error::NotARegistry { .. })),
            "a byte at {at} of {len}: {:?}",
            opened.map(|m| m.list_contexts())
        );
        assert!(
            std::fs::read(&path)? == other,
            "the file changed (byte at {at})"
        );
    }
    Ok(())
}
