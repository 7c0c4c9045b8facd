//! Deleting contexts: by name, by handle, or all of a view, each in one write transaction
//! that also reads the statistics they had; handles taken earlier are marked cleared.

use indexmap::IndexMap;

use super::{ContextStats, RegistryManager};
use crate::error::{Error, Result};
use crate::registry::SpecificationRegistry;
use crate::seam::CatalogWrite;

impl RegistryManager {
    /// Deletes `context` and everything in it, durably. Handles taken earlier return
    /// [`Error::ContextCleared`] from then on; `get_registry` afterwards creates a fresh,
    /// empty context. Returns whether the context existed.
    ///
    /// # Errors
    /// [`Error::InvalidContextName`], [`Error::ReadOnly`], storage errors.
    pub fn clear_context(&self, context: &str) -> Result<bool> {
        Ok(self.clear_context_with_stats(context)?.is_some())
    }

    /// [`Self::clear_context`], returning the statistics the context had when it was
    /// deleted (read in the deleting transaction, so they count every write committed
    /// before it, by any process), or `None` when it did not exist.
    ///
    /// ```
    /// # fn main() -> pipeline_deps::Result<()> {
    /// use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
    ///
    /// let manager = RegistryManager::temporary()?;
    /// manager.get_registry("ci")?.register("prep", &StepSpecification::new("Prep", NodeType::Singular))?;
    /// assert_eq!(manager.clear_context_with_stats("ci")?.map(|s| s.step_count), Some(1));
    /// assert_eq!(manager.clear_context_with_stats("ci")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Self::clear_context`].
    pub fn clear_context_with_stats(&self, context: &str) -> Result<Option<ContextStats>> {
        let full = self.full_name(context)?;
        let mut cleared = self.clear_where(|_| Ok(vec![full]))?;
        Ok(cleared.pop().map(|(_, stats)| stats))
    }

    /// Deletes the context `registry` belongs to, if it is still that context: not one that
    /// was cleared meanwhile and created again under the same name by someone else (whose
    /// handles would then fail with [`Error::ContextCleared`]). Returns whether it deleted it.
    /// How a test's scope ([`ScopedContext`](crate::ScopedContext)) cleans up after itself.
    ///
    /// ```
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let manager = pipeline_deps::RegistryManager::temporary()?;
    /// let mine = manager.get_registry("scratch")?;
    /// manager.clear_context("scratch")?;
    /// manager.get_registry("scratch")?; // someone else's now
    /// assert!(!manager.clear_context_of(&mine)?);
    /// assert_eq!(manager.list_contexts()?, ["scratch"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when another manager handed `registry` out (also one opened
    /// on the same file or server: clear by name with [`Self::clear_context`] there);
    /// [`Error::ReadOnly`]; storage errors.
    pub fn clear_context_of(&self, registry: &SpecificationRegistry) -> Result<bool> {
        if !registry.is_of(&self.shared) {
            return Err(Error::InvalidInput {
                what: format!(
                    "the registry of context {}",
                    crate::error::shorten(registry.context_name())
                ),
                detail: "another manager handed it out (possibly one of the same database); clear it through that manager, or by name with clear_context".into(),
                source: None,
            });
        }
        let (full, id) = (registry.context_name(), registry.context_id());
        let cleared = self.clear_where(|writer| match writer.context(full, id) {
            Ok(_) => Ok(vec![full.to_owned()]),
            Err(Error::ContextCleared { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        })?;
        Ok(!cleared.is_empty())
    }

    /// Deletes every context (of this view), durably and in one transaction. Returns how
    /// many were deleted.
    ///
    /// # Errors
    /// [`Error::ReadOnly`], storage errors.
    pub fn clear_all_contexts(&self) -> Result<usize> {
        Ok(self.clear_all_contexts_with_stats()?.len())
    }

    /// [`Self::clear_all_contexts`], returning each deleted context (of this view) in
    /// creation order with the statistics it had when it was deleted, all read in the one
    /// deleting transaction: a context another process created or wrote meanwhile is both
    /// deleted and counted.
    ///
    /// # Errors
    /// As [`Self::clear_all_contexts`].
    pub fn clear_all_contexts_with_stats(&self) -> Result<IndexMap<String, ContextStats>> {
        self.check_view()?;
        let cleared = self.clear_where(|writer| {
            Ok(writer
                .context_names()?
                .into_iter()
                .filter(|name| name.starts_with(&self.prefix))
                .collect())
        })?;
        Ok(cleared
            .into_iter()
            .filter_map(|(full, stats)| {
                full.strip_prefix(&self.prefix)
                    .map(|short| (short.to_owned(), stats))
            })
            .collect())
    }

    /// Deletes, in one write transaction, the contexts that `select` names (it runs inside
    /// that transaction, so nothing created concurrently is missed or half-deleted).
    /// Returns those deleted (full names) with their statistics as deleted, in creation
    /// (catalog id) order.
    fn clear_where(
        &self,
        select: impl FnOnce(&mut dyn CatalogWrite) -> Result<Vec<String>>,
    ) -> Result<Vec<(String, ContextStats)>> {
        let store = self.shared.store()?;
        let mut live = self.shared.live()?;
        let mut cleared = store.write("clearing contexts", |writer| {
            let names = select(writer)?;
            let mut cleared = Vec::new();
            for name in names {
                if let Some(entry) = writer.drop_context(&name)? {
                    cleared.push((name, entry));
                }
            }
            if cleared.is_empty() {
                // No such context: nothing to commit.
                writer.unchanged();
            }
            Ok(cleared)
        })?;
        cleared.sort_by_key(|(_, entry)| entry.id);
        for (name, _) in &cleared {
            if let Some(state) = live.remove(name) {
                state.mark_cleared();
            }
        }
        // Logged once every handle is marked and the lock released: a panicking log
        // subscriber must leave no cleared context's handle serving its cache.
        drop(live);
        for (name, _) in &cleared {
            tracing::info!(context = %name, "cleared context");
        }
        Ok(cleared
            .into_iter()
            .map(|(name, entry)| (name, ContextStats::of(&entry)))
            .collect())
    }
}
