//! Whole-file and whole-import operations of the manager: importing many steps into a
//! context (created in the same transaction), checking a file through a copy, compacting it
//! into a new file, and an explicit repair after a backup.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result, shorten};
use crate::manager::{ManagerBuilder, RegistryManager};
use crate::spec::StepSpecification;
use crate::store::{Origin, Store};

/// What [`RegistryManager::import_steps`] did, counted inside its transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportSummary {
    /// The context did not exist and was created by this import.
    pub context_created: bool,
    /// Steps that were not registered before.
    pub new: usize,
    /// Steps that replaced a registered one (only with `replace`), including steps that
    /// held the very spec given (which are left as they are).
    pub replaced: usize,
    /// The context's step count after the import.
    pub step_count: usize,
    /// Whether the import wrote anything: false when the context existed and the import
    /// changed nothing in it (no step given, or every step already held the very spec
    /// given); the context's revision is then as it was.
    pub written: bool,
}

/// What [`RegistryManager::compact_file`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactReport {
    /// The file's size before.
    pub bytes_before: u64,
    /// The compacted file's size.
    pub bytes_after: u64,
}

/// What [`RegistryManager::repair_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The byte-for-byte copy of the file taken before the repair.
    pub backup: PathBuf,
    /// The engine's integrity check found nothing to repair.
    pub was_consistent: bool,
}

impl ManagerBuilder {
    /// A read-only manager over a copy of the file in memory, for checking it without ever
    /// writing it (even on a read-only medium): the copy is taken while no writer has the
    /// file open ([`Error::InUse`] otherwise), and recovered in memory if the last writer
    /// did not close the file ([`RegistryManager::recovered_from_copy`]).
    /// [`RegistryManager::check_integrity`] on it checks (and repairs) the copy only. It
    /// holds the whole file in memory and does not follow later commits.
    ///
    /// # Errors
    /// As [`ManagerBuilder::open`]; a missing file is [`Error::Io`].
    pub fn open_copy(self, path: impl AsRef<Path>) -> Result<RegistryManager> {
        let store = Store::open_copy(path.as_ref(), &self.options)?;
        Ok(RegistryManager::from_store(store, None))
    }
}

impl RegistryManager {
    /// True when this read-only manager reads a copy of the file that was recovered in
    /// memory because the file's last writer did not close it (killed, or failed on a full
    /// disk): what it shows is the last committed state, and the file itself is unchanged
    /// (the next writable open recovers it).
    pub fn recovered_from_copy(&self) -> bool {
        self.shared.store().is_ok_and(|backend| {
            backend.file().is_some_and(|store| {
                matches!(
                    store.origin(),
                    Origin::RecoveredCopy | Origin::CheckedCopy { recovered: true }
                )
            })
        })
    }

    /// Imports `steps` into `context` in ONE write transaction, creating the context in the
    /// same transaction if it does not exist: after `Ok` everything is durable; after an
    /// error or a crash during the call nothing is (not even an empty context), and no
    /// reader ever sees the context before its steps. Every specification is validated
    /// first. Without `replace`, a step that is already registered fails the import.
    /// The counts in the summary are those of that transaction. An import with `replace` in
    /// which every step holds exactly the spec given already writes nothing: on a file it
    /// commits nothing (no fsync), on PostgreSQL it updates no row (it holds the context's
    /// row lock for its transaction, as every import does); the context's revision stays
    /// as it is, and such steps count as `replaced`.
    ///
    /// # Errors
    /// [`Error::InvalidContextName`]; [`Error::InvalidSpec`] listing every problem;
    /// [`Error::InvalidInput`] for a step name given twice; [`Error::AlreadyRegistered`]
    /// (without `replace`); [`Error::ReadOnly`]; storage errors. A refusal writes nothing; a
    /// storage error leaves all of the import or none of it (see
    /// [Durability](crate::SpecificationRegistry#durability)).
    pub fn import_steps(
        &self,
        context: &str,
        steps: &[(String, StepSpecification)],
        replace: bool,
    ) -> Result<ImportSummary> {
        self.import(context, steps, replace, false)
    }

    /// Imports `steps` into `context` as [`Self::import_steps`] does (without replacing),
    /// provided the context holds no steps when the import's transaction writes: absent
    /// (it is created) or empty. A copy of a whole context uses it, so that a context
    /// another writer filled meanwhile is refused rather than merged into; the check and
    /// the writes are in one transaction, which holds the context, so no writer can slip in
    /// between them.
    ///
    /// ```
    /// use pipeline_deps::{Error, NodeType, RegistryManager, StepSpecification};
    ///
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let manager = RegistryManager::in_memory()?;
    /// let spec = StepSpecification::new("Train", NodeType::Singular);
    /// let steps = vec![("train".to_owned(), spec.clone())];
    /// manager.import_steps_into_empty("ml", &steps)?;
    /// manager.get_registry("other")?.register("mine", &spec)?;
    /// let refused = manager.import_steps_into_empty("other", &steps);
    /// assert!(matches!(refused, Err(Error::ContextNotEmpty { step_count: 1, .. })));
    /// assert_eq!(manager.get_registry("other")?.list_step_names()?, ["mine"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ContextNotEmpty`] when the context holds steps; otherwise as
    /// [`Self::import_steps`]. A refusal writes nothing; a storage error leaves all of the
    /// import or none of it.
    pub fn import_steps_into_empty(
        &self,
        context: &str,
        steps: &[(String, StepSpecification)],
    ) -> Result<ImportSummary> {
        self.import(context, steps, false, true)
    }

    /// [`Self::import_steps`], refusing a context that holds steps when `into_empty`.
    fn import(
        &self,
        context: &str,
        steps: &[(String, StepSpecification)],
        replace: bool,
        into_empty: bool,
    ) -> Result<ImportSummary> {
        let full = self.full_name(context)?;
        let problems: Vec<_> = steps
            .iter()
            .filter_map(|(name, spec)| spec.validate(name).err())
            .flatten()
            .collect();
        if !problems.is_empty() {
            return Err(Error::InvalidSpec {
                context: full,
                problems,
            });
        }
        let mut seen = HashSet::with_capacity(steps.len());
        if let Some((name, _)) = steps.iter().find(|(name, _)| !seen.insert(name.as_str())) {
            return Err(Error::InvalidInput {
                what: format!("the import into context {}", shorten(&full)),
                detail: format!("step {} is given more than once", shorten(name)),
                source: None,
            });
        }
        let store = self.shared.store()?;
        let what = || {
            format!(
                "importing {} step(s) into context {}",
                steps.len(),
                shorten(&full)
            )
        };
        if replace && !into_empty && !steps.is_empty() && store.is_shared() {
            // A replacing import of what the context holds already writes nothing: on a
            // server it is found by reading, so that it takes no lock (which would wait for
            // the context's writers, and make the commit flush the server's log). A file's
            // write transaction below finds it too and commits nothing, and it refuses a
            // handle an earlier I/O failure broke, as every write does.
            if let Some(summary) =
                store.read(&what(), |reader| held_already(reader, &full, steps))?
            {
                return Ok(summary);
            }
        }
        let result = store.write(&what(), |writer| {
            let (entry, created) = writer.create_context(&full)?;
            let mut context = writer.context(&full, entry.id)?;
            if into_empty && context.step_count() > 0 {
                return Err(Error::ContextNotEmpty {
                    context: full.clone(),
                    step_count: context.step_count(),
                });
            }
            let items: Vec<(&str, &StepSpecification)> = steps
                .iter()
                .map(|(name, spec)| (name.as_str(), spec))
                .collect();
            let new = context.put_all(&items, replace)?;
            let replaced = steps.len().saturating_sub(new);
            if !created && !context.changed() {
                // No step given, or every step holds exactly the spec given (a `--replace`
                // import of what is stored): nothing to commit, the revision stays as it is.
                let step_count = context.step_count();
                drop(context);
                writer.unchanged();
                return Ok(ImportSummary {
                    context_created: false,
                    new: 0,
                    replaced,
                    step_count: usize::try_from(step_count).unwrap_or(usize::MAX),
                    written: false,
                });
            }
            let entry = context.finish()?;
            Ok(ImportSummary {
                context_created: created,
                new,
                replaced,
                step_count: usize::try_from(entry.step_count).unwrap_or(usize::MAX),
                written: true,
            })
        });
        drop(store);
        // A handle of this process to the context must not serve specs cached before.
        if let Some(state) = self.shared.live()?.get(&full).map(Arc::clone) {
            state.invalidate();
        }
        let summary = result?;
        if summary.context_created {
            tracing::info!(context = %full, "created context");
        }
        for (name, spec) in steps {
            tracing::debug!(context = %full, step = %name, step_type = %spec.step_type, "imported step");
        }
        tracing::debug!(context = %full, new = summary.new, replaced = summary.replaced, "imported steps");
        Ok(summary)
    }

    /// Compacts the file at `path` into a new file renamed over it, never leaving it less
    /// readable than it was: a copy in memory must first pass the engine's integrity check
    /// and read completely (a damaged file is refused with [`Error::Corrupted`] and left
    /// untouched); the compacted copy must hold exactly the same contexts and steps; it is
    /// written beside the file, synced, renamed into place and the directory synced, so a
    /// crash leaves the old file or the new one. No other process may have the file open
    /// ([`Error::InUse`]). Needs memory for two copies of the file.
    ///
    /// # Errors
    /// [`Error::InUse`], [`Error::Corrupted`], [`Error::NotARegistry`], [`Error::Io`].
    pub fn compact_file(path: impl AsRef<Path>) -> Result<CompactReport> {
        let report = crate::store::compact_file(path.as_ref(), &Self::builder().options)?;
        Ok(CompactReport {
            bytes_before: report.bytes_before,
            bytes_after: report.bytes_after,
        })
    }

    /// The start of the name of the new file that [`Self::compact_file`] and
    /// [`Self::repair_file`] write beside the database in this process before renaming it
    /// over the database. It holds the process id, so no other process's file starts with
    /// it: a program interrupted while they run (in a signal handler, say) can remove the
    /// files of the database's directory whose names start with it, and nothing else.
    ///
    /// ```
    /// let prefix = pipeline_deps::RegistryManager::replacement_file_prefix();
    /// assert!(prefix.starts_with(".pipeline-deps-replace-"));
    /// assert!(prefix.contains(&std::process::id().to_string()));
    /// ```
    pub fn replacement_file_prefix() -> String {
        crate::store::replacement_prefix()
    }

    /// Repairs the file at `path` with the storage engine (recovery after a crash, then its
    /// full integrity check, which rebuilds the allocator state) without ever leaving it less
    /// readable: it first writes a byte-for-byte backup beside it, `<file>.backup` (or
    /// `<file>.backup.N` if that exists), synced, and with the file's permissions; the copy
    /// is written under a temporary name and given the backup's name only once complete, so
    /// that name never holds a partial copy. It repairs a copy in memory, and replaces the
    /// file (new file, synced, renamed into place) only when the repaired copy passes the
    /// integrity check and reads completely. A file that needs no repair is not rewritten.
    /// No other process may have the file open.
    ///
    /// # Errors
    /// [`Error::InUse`]; [`Error::Io`] when the backup cannot be written whole (then the
    /// file is not touched and no backup is left); [`Error::Corrupted`] when the engine
    /// cannot repair the file (then the file is left as it was and its backup removed).
    pub fn repair_file(path: impl AsRef<Path>) -> Result<RepairReport> {
        let report = crate::store::repair_file(path.as_ref(), &Self::builder().options)?;
        Ok(RepairReport {
            backup: report.backup,
            was_consistent: report.was_consistent,
        })
    }
}

/// What an import that replaces `steps` in context `full` reports when every one of them
/// holds exactly the spec given already (the same encoded record: a reordered map is a
/// change), read in one snapshot; `None` when the context does not exist or a step differs
/// (the import then writes). Steps are compared a few hundred at a time, so an import whose
/// first steps differ reads little more than those.
fn held_already(
    reader: &mut dyn crate::seam::CatalogRead,
    full: &str,
    steps: &[(String, StepSpecification)],
) -> Result<Option<ImportSummary>> {
    const CHUNK: usize = 256;
    let Some(entry) = reader.catalog_entry(full)? else {
        return Ok(None);
    };
    let mut context = reader.context(full, entry.id)?;
    for chunk in steps.chunks(CHUNK) {
        let names: Vec<&str> = chunk.iter().map(|(name, _)| name.as_str()).collect();
        let stored = context.get_many(&names)?;
        let same = chunk.iter().zip(&stored).all(|((_, given), stored)| {
            stored.as_ref().is_some_and(|stored| {
                crate::codec::encode_step(0, stored, 0) == crate::codec::encode_step(0, given, 0)
            })
        });
        if !same {
            return Ok(None);
        }
    }
    Ok(Some(ImportSummary {
        context_created: false,
        new: 0,
        replaced: steps.len(),
        step_count: usize::try_from(entry.step_count).unwrap_or(usize::MAX),
        written: false,
    }))
}
