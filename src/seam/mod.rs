//! The one storage seam: the interface that both backends — the redb file (`crate::store`)
//! and PostgreSQL (`crate::pg`, feature `postgres`) — implement, so that the registry and
//! manager code above it does not know which one it runs on.
//!
//! A backend offers read transactions (a consistent snapshot: [`CatalogRead`], and through
//! it one context's [`ContextRead`]) and write transactions ([`CatalogWrite`], and through it
//! one context's [`ContextWrite`]), each run by [`Backend::read`] / [`Backend::write`] with a
//! closure: `Ok` commits a write, `Err` rolls it back. Contexts are identified by name and
//! catalog id; an id is never reused, so a handle of a cleared context gets
//! [`crate::Error::ContextCleared`] from `context(name, id)` on either backend.

mod file;
#[cfg(feature = "postgres")]
mod postgres;

use std::path::PathBuf;

use crate::codec::CatalogRecordV1;
use crate::error::Result;
use crate::spec::StepSpecification;
use crate::store::{GroupCommit, Store};

/// Reading the catalog in a read transaction.
pub(crate) trait CatalogRead {
    /// Every context in creation order with its catalog record.
    fn catalog(&mut self) -> Result<Vec<(String, CatalogRecordV1)>>;
    /// The catalog record of one context.
    fn catalog_entry(&mut self, name: &str) -> Result<Option<CatalogRecordV1>>;
    /// The catalog record of context `name`, checking that it still has catalog id `id`.
    fn context_entry(&mut self, name: &str, id: u64) -> Result<CatalogRecordV1>;
    /// Context `name` in this snapshot, checking that it still has catalog id `id`.
    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextRead + 'a>>;
}

/// Reading one context's specs and step-type index.
pub(crate) trait ContextRead {
    /// One specification by step name.
    fn get(&mut self, step: &str) -> Result<Option<StepSpecification>>;
    /// The specifications of `steps` (aligned; `None` = not registered). A backend where
    /// each read is a round trip reads them all at once.
    fn get_many(&mut self, steps: &[&str]) -> Result<Vec<Option<StepSpecification>>> {
        steps.iter().map(|step| self.get(step)).collect()
    }
    /// Whether a step of that name is registered.
    fn contains(&mut self, step: &str) -> Result<bool>;
    /// Step names in registration order.
    fn names(&mut self) -> Result<Vec<String>>;
    /// Every step with its specification, in registration order.
    fn all(&mut self) -> Result<Vec<(String, StepSpecification)>>;
    /// Calls `visit` with every step and its specification, in registration order, holding
    /// a bounded number of specifications at a time (a file reads the index, every step's
    /// name and position, whole first; PostgreSQL reads the rows in batches through a
    /// cursor); stops at the first error, `visit`'s included. Returns how many steps were
    /// visited.
    fn for_each(
        &mut self,
        visit: &mut dyn FnMut(String, StepSpecification) -> Result<()>,
    ) -> Result<u64>;
    /// Step types in first-seen order.
    fn step_types(&mut self) -> Result<Vec<String>>;
    /// The steps of one type with their specifications, in registration order.
    fn by_type(&mut self, step_type: &str) -> Result<Vec<(String, StepSpecification)>>;
    /// Every step type with its step names, read without any specification: names in
    /// registration order, types in the order of their first step in registration order
    /// (what grouping [`Self::all`] by step type gives; not [`Self::step_types`]' first-seen
    /// order, which an unregister or an upsert changing a type makes differ).
    fn type_members(&mut self) -> Result<Vec<(String, Vec<String>)>>;
}

/// Changing the catalog in a write transaction.
pub(crate) trait CatalogWrite {
    /// Every context name.
    fn context_names(&mut self) -> Result<Vec<String>>;
    /// The context's record, creating the context if missing; true when created now.
    fn create_context(&mut self, name: &str) -> Result<(CatalogRecordV1, bool)>;
    /// Deletes a context with everything in it; its catalog record as it was (id and
    /// counts) if it existed.
    fn drop_context(&mut self, name: &str) -> Result<Option<CatalogRecordV1>>;
    /// Opens context `name` for writing, checking that it still has id `id`.
    fn context<'a>(&'a mut self, name: &str, id: u64) -> Result<Box<dyn ContextWrite + 'a>>;
    /// Empties context `name` (id `id`) but keeps it, bumping its revision; a context that
    /// holds no step is left as it is (false).
    fn reset_context(&mut self, name: &str, id: u64) -> Result<bool>;
    /// Declares that the operation running in this transaction changed nothing: a file
    /// rolls back a transaction in which no operation changed anything instead of
    /// committing it (no fsync).
    fn unchanged(&mut self);
}

/// Changing one context's specs; [`ContextWrite::finish`] writes its counters and revision
/// into the catalog in the same transaction.
pub(crate) trait ContextWrite {
    /// Stores `spec` under `step`; a taken name is [`crate::Error::AlreadyRegistered`]
    /// unless `replace` (then the step keeps its registration position). True when the step
    /// was inserted, false when it replaced one.
    fn put(&mut self, step: &str, spec: &StepSpecification, replace: bool) -> Result<bool>;
    /// Stores every item in order as [`Self::put`] does; returns how many were inserted
    /// (the others replaced a step). PostgreSQL sends them in batched calls.
    fn put_all(&mut self, items: &[(&str, &StepSpecification)], replace: bool) -> Result<usize> {
        let mut inserted = 0;
        for (step, spec) in items {
            if self.put(step, spec, replace)? {
                inserted += 1;
            }
        }
        Ok(inserted)
    }
    /// Removes `step`; false if it was not registered.
    fn remove(&mut self, step: &str) -> Result<bool>;
    /// How many steps the context holds in this transaction, which holds the context
    /// (no other writer changes it until the transaction ends).
    fn step_count(&self) -> u64;
    /// Whether a put or remove through this writer changed a stored row (a put of the spec
    /// a step holds already changes none); a writer that changed none need not
    /// [`Self::finish`]. PostgreSQL's [`Self::put_all`] counts as a change.
    fn changed(&self) -> bool;
    /// Writes the counters and a new revision to the catalog.
    fn finish(self: Box<Self>) -> Result<CatalogRecordV1>;
}

/// An open registry database of either kind.
pub(crate) enum Backend {
    /// A redb file (or in-memory/custom redb backend).
    File(Store),
    /// A PostgreSQL database.
    #[cfg(feature = "postgres")]
    Postgres(Box<crate::pg::PgStore>),
}

impl Backend {
    /// The database file, or the server as `postgres://user@host:port/database`.
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            Backend::File(store) => store.path().to_path_buf(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => PathBuf::from(pg.label()),
        }
    }

    pub(crate) fn is_read_only(&self) -> bool {
        match self {
            Backend::File(store) => store.is_read_only(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => pg.is_read_only(),
        }
    }

    /// [`crate::Error::Forked`] for a file store used in a process forked from the one that
    /// opened it (for calls that would otherwise answer from memory without touching it).
    pub(crate) fn check_process(&self) -> Result<()> {
        match self {
            Backend::File(store) => store.check_process(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// Whether other processes may write the same registry while this one runs, so that
    /// in-process caches must check a context's revision before serving.
    pub(crate) fn is_shared(&self) -> bool {
        match self {
            Backend::File(_) => false,
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => true,
        }
    }

    /// The catalog record of context `name` if it still has catalog id `id` (else
    /// [`crate::Error::ContextCleared`]), read as cheaply as the backend can.
    pub(crate) fn context_entry(
        &self,
        action: &str,
        name: &str,
        id: u64,
    ) -> Result<CatalogRecordV1> {
        match self {
            Backend::File(store) => file::read(store, action, |r| r.context_entry(name, id)),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => pg.context_entry(name, id),
        }
    }

    /// Runs `f` in a write transaction shared with the concurrent writers of this manager
    /// (group commit, see `store::group`: `f` may run again when another member of its
    /// batch fails). A PostgreSQL registry runs each write in a transaction of its own.
    pub(crate) fn write_grouped<T>(
        &self,
        group: &GroupCommit,
        action: &str,
        f: &mut dyn FnMut(&mut dyn CatalogWrite) -> Result<T>,
    ) -> Result<T> {
        match self {
            Backend::File(store) => file::write_grouped(store, group, action, f),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => pg.write(action, |writer| f(writer)),
        }
    }

    /// Stores `items` in context `name` (id `id`) in one transaction, the counters and a new
    /// revision included: a taken name is [`crate::Error::AlreadyRegistered`] unless
    /// `replace`. No items: the handle's context is checked ([`crate::Error::ContextCleared`])
    /// and nothing is written. A file runs it in a group-committed transaction (see
    /// [`Backend::write_grouped`]); PostgreSQL in one statement (`src/pg/write.rs`).
    pub(crate) fn put_steps(
        &self,
        group: &GroupCommit,
        action: &str,
        (name, id): (&str, u64),
        items: &[(&str, &StepSpecification)],
        replace: bool,
    ) -> Result<()> {
        match self {
            Backend::File(store) => file::write_grouped(store, group, action, &mut |writer| {
                let mut context = writer.context(name, id)?;
                if items.is_empty() {
                    // Nothing to store: the handle's context is checked, and nothing changes.
                    drop(context);
                    writer.unchanged();
                    return Ok(());
                }
                for (step, spec) in items {
                    context.put(step, spec, replace)?;
                }
                if !context.changed() {
                    // Every item is the spec its step holds already (an upsert of the same
                    // spec): nothing to commit, and the revision stays as it is.
                    drop(context);
                    writer.unchanged();
                    return Ok(());
                }
                context.finish().map(drop)
            }),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => pg.put_steps(action, name, id, items, replace),
        }
    }

    /// Removes `step` from context `name` (id `id`) in one transaction, writing the counters
    /// and a new revision; false if it was not registered (and then nothing is written).
    pub(crate) fn remove_step(
        &self,
        group: &GroupCommit,
        action: &str,
        (name, id): (&str, u64),
        step: &str,
    ) -> Result<bool> {
        match self {
            Backend::File(store) => file::write_grouped(store, group, action, &mut |writer| {
                let mut context = writer.context(name, id)?;
                if !context.remove(step)? {
                    drop(context);
                    writer.unchanged();
                    return Ok(false);
                }
                context.finish()?;
                Ok(true)
            }),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => pg.remove_step(action, name, id, step),
        }
    }

    /// Makes every write so far durable: the durable point of a file opened with
    /// `Durability::None`; a PostgreSQL server made each commit durable already.
    pub(crate) fn sync(&self) -> Result<()> {
        match self {
            Backend::File(store) => store.sync(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// The redb store, when this is a file.
    // Without the `postgres` feature every backend is a file, but the signature is the same.
    #[cfg_attr(not(feature = "postgres"), allow(clippy::unnecessary_wraps))]
    pub(crate) fn file(&self) -> Option<&Store> {
        match self {
            Backend::File(store) => Some(store),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => None,
        }
    }

    /// Runs `f` in a read transaction (on a server, again on a new connection if the first
    /// was lost, so `f` may run twice; it only reads).
    pub(crate) fn read<T>(
        &self,
        action: &str,
        f: impl FnMut(&mut dyn CatalogRead) -> Result<T>,
    ) -> Result<T> {
        self.read_repeatable_while(action, f, &|| true)
    }

    /// [`Backend::read`] for an `f` that hands what it reads on as it goes (an export writing
    /// its output): on a server it runs again after a lost connection only while
    /// `repeatable` says that nothing was handed on yet.
    #[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
    pub(crate) fn read_repeatable_while<T>(
        &self,
        action: &str,
        f: impl FnMut(&mut dyn CatalogRead) -> Result<T>,
        repeatable: &dyn Fn() -> bool,
    ) -> Result<T> {
        match self {
            Backend::File(store) => file::read(store, action, f),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => {
                let mut f = f;
                pg.read_repeatable_while(action, move |reader| f(reader), repeatable)
            }
        }
    }

    /// Runs `f` in one write transaction, committed when it returns `Ok`.
    pub(crate) fn write<T>(
        &self,
        action: &str,
        f: impl FnOnce(&mut dyn CatalogWrite) -> Result<T>,
    ) -> Result<T> {
        match self {
            Backend::File(store) => file::write(store, action, f),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => pg.write(action, |writer| f(writer)),
        }
    }

    /// The redb file, for the file-only maintenance operations (integrity check,
    /// compaction); a PostgreSQL registry refuses them with a clear error.
    #[cfg_attr(
        not(feature = "postgres"),
        allow(unused_variables, clippy::unnecessary_wraps)
    )]
    pub(crate) fn file_mut(&mut self, operation: &str) -> Result<&mut Store> {
        match self {
            Backend::File(store) => Ok(store),
            #[cfg(feature = "postgres")]
            Backend::Postgres(pg) => Err(not_for_server(pg.label(), operation)),
        }
    }
}

#[cfg(feature = "postgres")]
fn not_for_server(server: &str, operation: &str) -> crate::Error {
    crate::Error::Storage {
        action: format!(
            "{operation} of {server}, which applies only to a database file (a PostgreSQL server checks and reclaims its storage itself: amcheck, VACUUM)"
        ),
        source: Box::new(std::io::Error::from(std::io::ErrorKind::Unsupported)),
    }
}
