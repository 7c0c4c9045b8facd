//! Handing out registries (creating their contexts on demand, one live state per
//! context), listing contexts and their statistics.

use std::sync::Arc;

use indexmap::IndexMap;

use super::RegistryManager;
use crate::codec::CatalogRecordV1;
use crate::error::{Error, Result, shorten};
use crate::registry::{ContextState, SpecificationRegistry};

/// Per-context statistics, read from the catalog without scanning specifications.
///
/// ```
/// use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::in_memory()?;
/// let registry = manager.get_registry("ml")?;
/// registry.register("a", &StepSpecification::new("Train", NodeType::Singular))?;
/// registry.register("b", &StepSpecification::new("Train", NodeType::Singular))?;
/// let stats = &manager.get_context_stats()?["ml"];
/// assert_eq!((stats.step_count, stats.step_type_count), (2, 1));
/// assert_eq!(stats.registry_type, "SpecificationRegistry");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ContextStats {
    /// Registered steps.
    pub step_count: usize,
    /// Distinct step types among them.
    pub step_type_count: usize,
    /// Always `"SpecificationRegistry"`, as in the design's monitoring output.
    pub registry_type: &'static str,
}

impl ContextStats {
    /// The statistics a catalog record holds.
    pub(super) fn of(entry: &CatalogRecordV1) -> Self {
        ContextStats {
            step_count: usize::try_from(entry.step_count).unwrap_or(usize::MAX),
            step_type_count: usize::try_from(entry.step_type_count).unwrap_or(usize::MAX),
            registry_type: "SpecificationRegistry",
        }
    }
}

impl RegistryManager {
    /// The registry of `context`, creating the context durably if it does not exist.
    /// Calls with the same name return handles that compare equal.
    ///
    /// # Errors
    /// [`Error::InvalidContextName`] for an empty name, one over 1,024 bytes or one with
    /// control characters (`::`, `/`, spaces and unicode are fine); [`Error::NoSuchContext`]
    /// when the context is missing and the manager is read-only (so it cannot be created);
    /// storage errors.
    pub fn get_registry(&self, context: &str) -> Result<SpecificationRegistry> {
        let full = self.full_name(context)?;
        self.registry(full.clone(), true)?
            .ok_or_else(|| Error::NoSuchContext {
                context: full,
                path: self.path(),
            })
    }

    /// The registry of `context` if it exists (the design's `create_if_missing=False`).
    ///
    /// # Errors
    /// As [`RegistryManager::get_registry`], without creating anything.
    pub fn get_registry_if_exists(&self, context: &str) -> Result<Option<SpecificationRegistry>> {
        let full = self.full_name(context)?;
        self.registry(full, false)
    }

    fn registry(&self, full: String, create: bool) -> Result<Option<SpecificationRegistry>> {
        let store = self.shared.store()?;
        if store.is_read_only() {
            let entry = store.read("looking up a context", |r| r.catalog_entry(&full))?;
            return Ok(entry.map(|entry| {
                SpecificationRegistry::new(
                    Arc::clone(&self.shared),
                    Arc::new(ContextState::new(full, entry.id, false)),
                )
            }));
        }
        let mut live = self.shared.live()?;
        // On a shared backend another process may have cleared (and re-created) the context
        // since this process took its handle, so the catalog decides.
        let shared_backend = store.is_shared();
        // A handle already taken would be answered from memory: refused in a forked child
        // like every call that reads the file.
        store.check_process()?;
        if !shared_backend && let Some(state) = live.get(&full) {
            return Ok(Some(SpecificationRegistry::new(
                Arc::clone(&self.shared),
                Arc::clone(state),
            )));
        }
        let looking_up = format!("looking up context {}", shorten(&full));
        let existing = store.read(&looking_up, |r| r.catalog_entry(&full))?;
        if let (Some(entry), Some(state)) = (&existing, live.get(&full))
            && entry.id == state.id()
        {
            return Ok(Some(SpecificationRegistry::new(
                Arc::clone(&self.shared),
                Arc::clone(state),
            )));
        }
        if let Some(stale) = live.remove(&full) {
            stale.mark_cleared();
        }
        let (id, created) = match existing {
            Some(entry) => (entry.id, false),
            None if !create => return Ok(None),
            None => {
                let creating = format!("creating context {}", shorten(&full));
                let (entry, created) = store.write(&creating, |w| {
                    let (entry, created) = w.create_context(&full)?;
                    if !created {
                        // Created meanwhile by another process: nothing to commit.
                        w.unchanged();
                    }
                    Ok((entry, created))
                })?;
                (entry.id, created)
            }
        };
        let state = Arc::new(ContextState::new(full.clone(), id, true));
        live.insert(full.clone(), Arc::clone(&state));
        // Logged after the lock is released: a panicking log subscriber must not poison it.
        drop(live);
        if created {
            tracing::info!(context = %full, id, "created context");
        }
        Ok(Some(SpecificationRegistry::new(
            Arc::clone(&self.shared),
            state,
        )))
    }

    /// Context names (within this view) in creation order.
    ///
    /// # Errors
    /// Storage errors.
    pub fn list_contexts(&self) -> Result<Vec<String>> {
        Ok(self.catalog()?.into_iter().map(|(name, _)| name).collect())
    }

    fn catalog(&self) -> Result<Vec<(String, crate::codec::CatalogRecordV1)>> {
        self.check_view()?;
        let store = self.shared.store()?;
        let catalog = store.read("listing contexts", |r| r.catalog())?;
        Ok(catalog
            .into_iter()
            .filter_map(|(name, entry)| {
                name.strip_prefix(&self.prefix)
                    .map(|short| (short.to_owned(), entry))
            })
            .collect())
    }

    /// Statistics of every context (of this view) in creation order, read from the catalog
    /// in one read transaction, without scanning specifications.
    ///
    /// # Errors
    /// Storage errors.
    pub fn get_context_stats(&self) -> Result<IndexMap<String, ContextStats>> {
        Ok(self
            .catalog()?
            .into_iter()
            .map(|(name, entry)| (name, ContextStats::of(&entry)))
            .collect())
    }
}
