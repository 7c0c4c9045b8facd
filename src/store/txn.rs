//! Read and write transactions: the catalog of contexts (sealed rows), creating, dropping and
//! resetting contexts, and handing out one context's tables.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::ReadableTable;

use super::context::{self, ContextReader, ContextWriter, TxnKnownTypes};
use super::schema::{CATALOG, META, SEAL_CATALOG};
use super::{meta, seal, storage_error};
use crate::codec::{self, CatalogRecordV1};
use crate::error::{Error, Result, shorten};

/// A read transaction.
pub(crate) struct Reader {
    pub(super) txn: redb::ReadTransaction,
}

impl Reader {
    /// The meta table, or `None` if the file has none.
    pub(super) fn meta(&self) -> Result<Option<meta::Meta>> {
        match self.txn.open_table(META) {
            Ok(table) => meta::Meta::read(&table).map(Some),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(storage_error("reading the schema version".into(), e)),
        }
    }

    /// [`Error::Corrupted`] when the catalog table is missing: every initialised file has
    /// one (the first writer creates it), so a missing one is a damaged table directory, and
    /// reading on would show an empty registry (and a write would start a new catalog,
    /// orphaning every context).
    pub(super) fn require_catalog(&self, path: &std::path::Path) -> Result<()> {
        match self.txn.open_table(CATALOG) {
            Ok(_) => Ok(()),
            Err(redb::TableError::TableDoesNotExist(_)) => Err(missing_catalog(path)),
            Err(e) => Err(storage_error("reading the context catalog".into(), e)),
        }
    }

    /// Every context in creation order with its catalog record.
    pub(crate) fn catalog(&self) -> Result<Vec<(String, CatalogRecordV1)>> {
        let action = || "reading the context catalog".to_owned();
        let table = match self.txn.open_table(CATALOG) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(storage_error(action(), e)),
        };
        let mut out = Vec::new();
        for row in table.iter().map_err(|e| storage_error(action(), e))? {
            let (name, value) = row.map_err(|e| storage_error(action(), e))?;
            let name = name.value().to_owned();
            let record = decode_catalog(&name, value.value())?;
            out.push((name, record));
        }
        out.sort_by_key(|(_, record)| record.id);
        Ok(out)
    }

    /// The catalog record of one context.
    pub(crate) fn catalog_entry(&self, name: &str) -> Result<Option<CatalogRecordV1>> {
        match self.txn.open_table(CATALOG) {
            Ok(table) => entry_in(&table, name),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(storage_error(catalog_action(name), e)),
        }
    }

    /// The catalog record of context `name`, checking that it still has catalog id `id`.
    pub(crate) fn context_entry(&self, name: &str, id: u64) -> Result<CatalogRecordV1> {
        live_entry(name, id, self.catalog_entry(name)?)
    }

    /// Context `name` in this snapshot, checking that it still has catalog id `id`.
    pub(crate) fn context(&self, name: &str, id: u64) -> Result<ContextReader<'_>> {
        let entry = self.context_entry(name, id)?;
        Ok(ContextReader::new(&self.txn, name, entry))
    }
}

/// The corruption of a file whose catalog table is missing.
fn missing_catalog(path: &std::path::Path) -> Error {
    Error::corrupted(
        format!("the table directory of {}", path.display()),
        "the context catalog is missing, so the file's contexts cannot be found",
        None,
    )
}

fn catalog_action(name: &str) -> String {
    format!("reading the catalog entry of context {}", shorten(name))
}

/// Looks up and decodes one catalog row, in a read or a write transaction.
fn entry_in(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    name: &str,
) -> Result<Option<CatalogRecordV1>> {
    let value = table
        .get(name)
        .map_err(|e| storage_error(catalog_action(name), e))?;
    value.map(|v| decode_catalog(name, v.value())).transpose()
}

/// The catalog record of a handle's context if it still has the handle's id; otherwise the
/// context was cleared (and perhaps created again) since the handle was taken.
fn live_entry(name: &str, id: u64, entry: Option<CatalogRecordV1>) -> Result<CatalogRecordV1> {
    match entry {
        Some(entry) if entry.id == id => Ok(entry),
        _ => Err(Error::ContextCleared {
            context: name.to_owned(),
        }),
    }
}

/// Writes one catalog row in the write transaction `txn`.
pub(super) fn put_catalog(
    txn: &redb::WriteTransaction,
    name: &str,
    entry: &CatalogRecordV1,
) -> Result<()> {
    let action = || format!("updating the catalog entry of context {}", shorten(name));
    let mut table = txn
        .open_table(CATALOG)
        .map_err(|e| storage_error(action(), e))?;
    let payload = codec::encode(action, *entry)?;
    let value = seal::seal(SEAL_CATALOG, 0, name.as_bytes(), &payload);
    table
        .insert(name, value.as_slice())
        .map_err(|e| storage_error(action(), e))?;
    Ok(())
}

/// Checks the seal of one catalog row and decodes it.
pub(super) fn decode_catalog(name: &str, value: &[u8]) -> Result<CatalogRecordV1> {
    let location = || format!("the catalog entry of context {}", shorten(name));
    // The message says what the seal or decoder found; only what lies beneath is a cause.
    let payload = seal::unseal(SEAL_CATALOG, 0, name.as_bytes(), value)
        .map_err(|e| Error::corrupted(location(), e.to_string(), None))?;
    codec::decode(payload).map_err(|e| Error::corrupted(location(), e.to_string(), e.into_cause()))
}

/// The write transaction. Dropping it without [`Writer::commit`] rolls everything back.
pub(crate) struct Writer {
    pub(super) txn: redb::WriteTransaction,
    /// The file (or backend label), for error messages.
    pub(super) path: PathBuf,
    /// The contexts' known step types, as this transaction changes them.
    pub(super) known: TxnKnownTypes,
    /// Set by the operation running in the transaction when it changed nothing
    /// ([`Writer::unchanged`]); taken by whoever ran it ([`Writer::take_unchanged`]).
    pub(super) unchanged: AtomicBool,
}

impl Writer {
    /// The catalog record of `name`, if the context exists.
    pub(crate) fn catalog_entry(&self, name: &str) -> Result<Option<CatalogRecordV1>> {
        let table = self
            .txn
            .open_table(CATALOG)
            .map_err(|e| storage_error(catalog_action(name), e))?;
        entry_in(&table, name)
    }

    /// Every context name in the catalog (any order).
    pub(crate) fn context_names(&self) -> Result<Vec<String>> {
        let action = || "reading the context catalog".to_owned();
        let table = self
            .txn
            .open_table(CATALOG)
            .map_err(|e| storage_error(action(), e))?;
        let mut names = Vec::new();
        for row in table.iter().map_err(|e| storage_error(action(), e))? {
            let (name, _) = row.map_err(|e| storage_error(action(), e))?;
            names.push(name.value().to_owned());
        }
        Ok(names)
    }

    /// Returns the context's record, creating the context if it does not exist.
    /// The flag is true when it was created by this call.
    pub(crate) fn create_context(&self, name: &str) -> Result<(CatalogRecordV1, bool)> {
        if let Some(entry) = self.catalog_entry(name)? {
            return Ok((entry, false));
        }
        let action = || format!("creating context {}", shorten(name));
        let mut table = self
            .txn
            .open_table(META)
            .map_err(|e| storage_error(action(), e))?;
        let id = meta::Meta::read(&table)?.checked_next_context_id(&self.path)?;
        meta::write(&mut table, id + 1)?;
        let entry = CatalogRecordV1 {
            id,
            step_count: 0,
            step_type_count: 0,
            next_seq: 0,
            revision: 0,
        };
        put_catalog(&self.txn, name, &entry)?;
        Ok((entry, true))
    }

    /// Deletes a context: its tables and its catalog row. Returns its id if it existed.
    pub(crate) fn drop_context(&self, name: &str) -> Result<Option<CatalogRecordV1>> {
        let Some(entry) = self.catalog_entry(name)? else {
            return Ok(None);
        };
        context::delete_tables(&self.txn, name, entry.id)?;
        self.known.forget(entry.id);
        let action = || format!("removing context {} from the catalog", shorten(name));
        let mut table = self
            .txn
            .open_table(CATALOG)
            .map_err(|e| storage_error(action(), e))?;
        table.remove(name).map_err(|e| storage_error(action(), e))?;
        Ok(Some(entry))
    }

    /// Opens the tables of context `name` for writing, checking that it still has id `id`.
    pub(crate) fn context(&self, name: &str, id: u64) -> Result<ContextWriter<'_>> {
        let entry = live_entry(name, id, self.catalog_entry(name)?)?;
        ContextWriter::open(&self.txn, &self.known, name, entry)
    }

    /// Empties context `name` (id `id`) but keeps it: its tables are deleted and its counts
    /// reset in the catalog, with a new revision. A context that holds no step is left as
    /// it is (false).
    pub(crate) fn reset_context(&self, name: &str, id: u64) -> Result<bool> {
        let mut entry = live_entry(name, id, self.catalog_entry(name)?)?;
        if entry.step_count == 0 && entry.step_type_count == 0 {
            return Ok(false);
        }
        context::delete_tables(&self.txn, name, id)?;
        self.known.forget(id);
        entry.step_count = 0;
        entry.step_type_count = 0;
        entry.revision += 1;
        put_catalog(&self.txn, name, &entry)?;
        Ok(true)
    }

    /// Declares that the operation now running in this transaction changed nothing (what
    /// it may have touched, such as a table it opened, is of no consequence): a
    /// transaction in which no operation changed anything is rolled back instead of
    /// committed, so that a write that changes nothing costs no commit (no fsync) and
    /// leaves every revision as it is.
    pub(crate) fn unchanged(&self) {
        self.unchanged.store(true, Ordering::Relaxed);
    }

    /// Whether the operation that just ran declared that it changed nothing; resets the
    /// declaration for the next operation.
    pub(crate) fn take_unchanged(&self) -> bool {
        self.unchanged.swap(false, Ordering::Relaxed)
    }

    /// Rolls everything back: what a transaction in which nothing changed ends with.
    pub(crate) fn roll_back(self, action: impl FnOnce() -> String) -> Result<()> {
        self.txn.abort().map_err(|e| storage_error(action(), e))
    }

    /// Makes every change durable (fsync) and visible.
    pub(crate) fn commit(self, action: impl FnOnce() -> String) -> Result<()> {
        self.txn.commit().map_err(|e| storage_error(action(), e))?;
        self.known.committed();
        Ok(())
    }
}
