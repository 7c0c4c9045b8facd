//! Upgrades of older stored formats to [`SCHEMA_VERSION`].
//!
//! Policy: a file is upgraded in place, inside the same write transaction that opens it, so
//! a crash mid-upgrade leaves the old version intact. Each step rewrites the tables of one
//! version into the next and bumps `schema_version`; the frozen fixtures under
//! `migrations/` (one database per released version) are opened by `tests/migrations.rs` to
//! prove every step. Version 1 is the first released format, so no step exists yet.

use std::path::Path;

use super::schema::SCHEMA_VERSION;
use crate::error::{Error, Result};

/// Brings a writable file at `found` up to [`SCHEMA_VERSION`].
pub(super) fn upgrade(_txn: &redb::WriteTransaction, found: u64, path: &Path) -> Result<()> {
    match found {
        SCHEMA_VERSION => Ok(()),
        older => Err(Error::corrupted(
            format!("{} (meta table)", path.display()),
            format!("schema version {older} was never released, so it cannot be upgraded"),
            None,
        )),
    }
}
