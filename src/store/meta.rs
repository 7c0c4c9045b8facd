//! The meta table: the schema version, the next context id, and the checksum that seals
//! them (schema version 2 on).

use std::path::Path;

use redb::{ReadableTable, Table};

use super::schema::{META_CHECKSUM, META_NEXT_CONTEXT_ID, META_SCHEMA_VERSION, SCHEMA_VERSION};
use super::{seal, storage_error};
use crate::error::{Error, Result};

/// What the meta table holds (each value may be missing in a damaged or foreign file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Meta {
    pub schema_version: Option<u64>,
    pub next_context_id: Option<u64>,
    pub checksum: Option<u64>,
}

impl Meta {
    /// Reads the meta table.
    pub(super) fn read(table: &impl ReadableTable<&'static str, u64>) -> Result<Meta> {
        let action = || "reading the meta table".to_owned();
        let get = |key: &str| -> Result<Option<u64>> {
            Ok(table
                .get(key)
                .map_err(|e| storage_error(action(), e))?
                .map(|v| v.value()))
        };
        Ok(Meta {
            schema_version: get(META_SCHEMA_VERSION)?,
            next_context_id: get(META_NEXT_CONTEXT_ID)?,
            checksum: get(META_CHECKSUM)?,
        })
    }

    /// The next context id of a current-version file, after checking the seal.
    pub(super) fn checked_next_context_id(&self, path: &Path) -> Result<u64> {
        match (self.schema_version, self.next_context_id, self.checksum) {
            (Some(version), Some(next), Some(checksum))
                if checksum == seal::meta_checksum(version, next) =>
            {
                Ok(next)
            }
            _ => Err(Error::corrupted(
                format!("{} (meta table)", path.display()),
                "the schema version, next context id and their checksum disagree",
                None,
            )),
        }
    }
}

/// Writes the current schema version, `next_context_id` and their checksum.
pub(super) fn write(table: &mut Table<'_, &'static str, u64>, next_context_id: u64) -> Result<()> {
    let action = || "writing the meta table".to_owned();
    for (key, value) in [
        (META_SCHEMA_VERSION, SCHEMA_VERSION),
        (META_NEXT_CONTEXT_ID, next_context_id),
        (
            META_CHECKSUM,
            seal::meta_checksum(SCHEMA_VERSION, next_context_id),
        ),
    ] {
        table
            .insert(key, value)
            .map_err(|e| storage_error(action(), e))?;
    }
    Ok(())
}
