//! Read and write transactions over the catalog (`pd_contexts`): listing, creating, dropping
//! and resetting contexts, and handing out one context for reading or writing.

use postgres::Row;

use super::conn::{Conn, Sql, column, signed, unsigned};
use super::context::{PgContextReader, PgContextWriter};
use crate::codec::CatalogRecordV1;
use crate::error::{Error, Result, shorten};

fn location(name: &str) -> impl Fn() -> String + '_ {
    move || format!("the catalog entry of context {}", shorten(name))
}

/// Reads a catalog record from columns `offset..offset + 5`: id, step_count,
/// step_type_count, next_position, revision.
pub(super) fn record(row: &Row, offset: usize, name: &str) -> Result<CatalogRecordV1> {
    let at = location(name);
    let get = |i: usize| -> Result<u64> { unsigned(column::<i64>(row, offset + i, &at)?, &at) };
    Ok(CatalogRecordV1 {
        id: get(0)?,
        step_count: get(1)?,
        step_type_count: get(2)?,
        next_seq: get(3)?,
        revision: get(4)?,
    })
}

/// The record of a handle's context if it still has the handle's id; otherwise the context
/// was cleared (and perhaps created again) since the handle was taken.
fn live(name: &str, id: u64, entry: Option<CatalogRecordV1>) -> Result<CatalogRecordV1> {
    match entry {
        Some(entry) if entry.id == id => Ok(entry),
        _ => Err(Error::ContextCleared {
            context: name.to_owned(),
        }),
    }
}

/// The catalog record of one context, by name.
const ENTRY_BY_NAME: &str = "SELECT id, step_count, step_type_count, next_position, revision \
     FROM pd_contexts WHERE name = $1";

/// The catalog record of context `name` in the transaction `sql`, if it exists.
fn entry_by_name(sql: &mut Sql<'_>, name: &str) -> Result<Option<CatalogRecordV1>> {
    let row = sql.query_opt(&catalog_action(name), ENTRY_BY_NAME, &[&name])?;
    row.map(|row| record(&row, 0, name)).transpose()
}

fn catalog_action(name: &str) -> String {
    format!("reading the catalog entry of context {}", shorten(name))
}

/// The catalog record of context `name` if it still has catalog id `id`, read by one
/// statement on its own.
pub(super) fn context_entry_alone(
    conn: &mut Conn,
    server: &str,
    name: &str,
    id: u64,
) -> Result<CatalogRecordV1> {
    let row = conn.query_opt_alone(server, &catalog_action(name), ENTRY_BY_NAME, &[&name])?;
    let entry = row.map(|row| record(&row, 0, name)).transpose()?;
    live(name, id, entry)
}

/// A read-only snapshot.
pub(crate) struct PgReader<'c> {
    sql: Sql<'c>,
}

impl<'c> PgReader<'c> {
    pub(super) fn new(sql: Sql<'c>) -> Self {
        PgReader { sql }
    }

    pub(super) fn finish(self, action: &str) -> Result<()> {
        self.sql.end_read(action)
    }

    /// Every context in creation order with its catalog record.
    pub(crate) fn catalog(&mut self) -> Result<Vec<(String, CatalogRecordV1)>> {
        let rows = self.sql.query(
            "reading the context catalog",
            "SELECT name, id, step_count, step_type_count, next_position, revision \
             FROM pd_contexts ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|row| {
                let name: String = column(row, 0, &|| "the context catalog".to_owned())?;
                let entry = record(row, 1, &name)?;
                Ok((name, entry))
            })
            .collect()
    }

    /// The catalog record of one context.
    pub(crate) fn catalog_entry(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        entry_by_name(&mut self.sql, name)
    }

    /// The catalog record of context `name`, checking that it still has catalog id `id`.
    pub(crate) fn context_entry(&mut self, name: &str, id: u64) -> Result<CatalogRecordV1> {
        let entry = self.catalog_entry(name)?;
        live(name, id, entry)
    }

    /// Context `name` in this snapshot, checking that it still has catalog id `id`.
    pub(crate) fn context(&mut self, name: &str, id: u64) -> Result<PgContextReader<'_, 'c>> {
        let entry = self.context_entry(name, id)?;
        Ok(PgContextReader::new(&mut self.sql, name, entry))
    }
}

/// A write transaction. It commits only through [`super::PgStore::write`].
pub(crate) struct PgWriter<'c> {
    sql: Sql<'c>,
}

impl<'c> PgWriter<'c> {
    pub(super) fn new(sql: Sql<'c>) -> Self {
        PgWriter { sql }
    }

    pub(super) fn commit(self, action: &str) -> Result<()> {
        self.sql.commit(action)
    }

    /// The catalog record of `name`, if the context exists.
    pub(crate) fn catalog_entry(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        entry_by_name(&mut self.sql, name)
    }

    /// Every context name, in creation order.
    pub(crate) fn context_names(&mut self) -> Result<Vec<String>> {
        let rows = self.sql.query(
            "reading the context catalog",
            "SELECT name FROM pd_contexts ORDER BY id",
            &[],
        )?;
        rows.iter()
            .map(|row| column(row, 0, &|| "the context catalog".to_owned()))
            .collect()
    }

    /// Returns the context's record, creating the context if it does not exist. The flag
    /// is true when it was created by this call. Concurrent creators of one name agree on
    /// one context: the loser's insert waits for the winner and then reads its row.
    pub(crate) fn create_context(&mut self, name: &str) -> Result<(CatalogRecordV1, bool)> {
        let action = format!("creating context {}", shorten(name));
        // A concurrent clear can delete the row between the insert and the read; a few
        // rounds settle it.
        for _ in 0..8 {
            let inserted = self.sql.query_opt(
                &action,
                "INSERT INTO pd_contexts (name) VALUES ($1) ON CONFLICT (name) DO NOTHING \
                 RETURNING id, step_count, step_type_count, next_position, revision",
                &[&name],
            )?;
            if let Some(row) = inserted {
                return Ok((record(&row, 0, name)?, true));
            }
            if let Some(entry) = self.catalog_entry(name)? {
                return Ok((entry, false));
            }
        }
        Err(Error::Storage {
            action,
            source: "the context was created and cleared by other writers eight times in a row"
                .into(),
        })
    }

    /// Deletes a context with its specs and step types. Returns its id if it existed.
    ///
    /// Deleting the catalog row first locks it: a writer that holds it commits first, and
    /// this transaction (`READ COMMITTED`) then sees its rows; a writer that comes later finds
    /// the row gone and writes nothing. Then the specs go (pd_specs has no foreign key since
    /// schema version 3) and the step types with the row (their key cascades).
    pub(crate) fn drop_context(&mut self, name: &str) -> Result<Option<CatalogRecordV1>> {
        let action = format!("clearing context {}", shorten(name));
        let row = self.sql.query_opt(
            &action,
            "DELETE FROM pd_contexts WHERE name = $1 \
             RETURNING id, step_count, step_type_count, next_position, revision",
            &[&name],
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let key = column::<i64>(&row, 0, &location(name))?;
        let entry = record(&row, 0, name)?;
        self.sql.execute(
            &action,
            "DELETE FROM pd_specs WHERE context_id = $1",
            &[&key],
        )?;
        Ok(Some(entry))
    }

    /// Locks context `name`'s catalog row for the rest of the transaction (writers of one
    /// context take turns) and returns its record, checking that it still has id `id`.
    fn lock(&mut self, name: &str, id: u64) -> Result<CatalogRecordV1> {
        let row = self.sql.query_opt(
            &format!("locking context {}", shorten(name)),
            "SELECT id, step_count, step_type_count, next_position, revision \
             FROM pd_contexts WHERE name = $1 FOR UPDATE",
            &[&name],
        )?;
        let entry = row.map(|row| record(&row, 0, name)).transpose()?;
        live(name, id, entry)
    }

    /// Opens context `name` for writing, checking that it still has id `id`.
    pub(crate) fn context(&mut self, name: &str, id: u64) -> Result<PgContextWriter<'_, 'c>> {
        let entry = self.lock(name, id)?;
        Ok(PgContextWriter::new(&mut self.sql, name, entry))
    }

    /// Empties context `name` (id `id`) but keeps it: its specs and step types are deleted,
    /// its counts reset and its revision bumped. A context that holds no step is left as it
    /// is (false), without a lock: locking its row would be a write (the lock is marked in
    /// the row, and the transaction then commits through the server's log). The lock is
    /// taken only on a row that holds steps, and a concurrent writer's are seen after it
    /// commits (`READ COMMITTED` checks the row again); a context found empty was empty when
    /// the statement read it, and clearing it then changed nothing.
    pub(crate) fn reset_context(&mut self, name: &str, id: u64) -> Result<bool> {
        let row = self.sql.query_opt(
            &format!("locking context {}", shorten(name)),
            "SELECT id, step_count, step_type_count, next_position, revision \
             FROM pd_contexts WHERE name = $1 AND (step_count <> 0 OR step_type_count <> 0) \
             FOR UPDATE",
            &[&name],
        )?;
        let Some(row) = row else {
            // Empty, or gone: only the handle's context is checked.
            let entry = self.catalog_entry(name)?;
            live(name, id, entry)?;
            return Ok(false);
        };
        let entry = live(name, id, Some(record(&row, 0, name)?))?;
        let action = format!("clearing context {}", shorten(name));
        let at = location(name);
        let key = signed(entry.id, &at)?;
        self.sql.execute(
            &action,
            "DELETE FROM pd_specs WHERE context_id = $1",
            &[&key],
        )?;
        self.sql.execute(
            &action,
            "DELETE FROM pd_step_types WHERE context_id = $1",
            &[&key],
        )?;
        let revision = signed(entry.revision.saturating_add(1), &at)?;
        self.sql.execute(
            &action,
            "UPDATE pd_contexts SET step_count = 0, step_type_count = 0, revision = $2 \
             WHERE id = $1",
            &[&key, &revision],
        )?;
        Ok(true)
    }
}
