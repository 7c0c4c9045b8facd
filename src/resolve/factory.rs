//! One call for a matched set of manager, registry, matcher and resolver.

use std::ops::Deref;

use super::matcher::SemanticMatcher;
use super::resolver::UnifiedDependencyResolver;
use crate::manager::RegistryManager;
use crate::registry::SpecificationRegistry;

/// The context used when none (or an empty name) is given, as in the Python reference factory.
pub const DEFAULT_CONTEXT: &str = "default";

fn context_or_default(context_name: Option<&str>) -> &str {
    match context_name {
        Some(name) if !name.is_empty() => name,
        _ => DEFAULT_CONTEXT,
    }
}

/// A matched set of pipeline components (reference `create_pipeline_components`): a
/// manager, the registry of one context in it, a matcher and a resolver over that registry.
/// Every constructor builds a fully separate set.
///
/// ```
/// use pipeline_deps::resolve::PipelineComponents;
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let components = PipelineComponents::in_memory(Some("fraud_detection"))?;
/// assert_eq!(components.registry.context_name(), "fraud_detection");
/// assert_eq!(components.resolver.registry(), &components.registry);
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct PipelineComponents {
    /// The manager holding the registry's database.
    pub registry_manager: RegistryManager,
    /// The registry of the requested context (`"default"` when none or `""` was given).
    pub registry: SpecificationRegistry,
    /// A matcher with the Python reference tables.
    pub semantic_matcher: SemanticMatcher,
    /// A resolver over [`Self::registry`] using [`Self::semantic_matcher`].
    pub resolver: UnifiedDependencyResolver,
}

impl PipelineComponents {
    /// Components over a fresh in-memory database (nothing persists; like the Python reference's
    /// in-process registries).
    ///
    /// # Errors
    /// As [`RegistryManager::in_memory`] and [`RegistryManager::get_registry`].
    pub fn in_memory(context_name: Option<&str>) -> crate::Result<Self> {
        Self::with_manager(RegistryManager::in_memory()?, context_name)
    }

    /// Components over a fresh temporary database file, removed when the manager drops.
    ///
    /// # Errors
    /// As [`RegistryManager::temporary`] and [`RegistryManager::get_registry`].
    pub fn temporary(context_name: Option<&str>) -> crate::Result<Self> {
        Self::with_manager(RegistryManager::temporary()?, context_name)
    }

    /// Components over an existing manager (e.g. a persistent file).
    ///
    /// # Errors
    /// As [`RegistryManager::get_registry`] (e.g. an invalid context name).
    pub fn with_manager(
        manager: RegistryManager,
        context_name: Option<&str>,
    ) -> crate::Result<Self> {
        let registry = manager.get_registry(context_or_default(context_name))?;
        let semantic_matcher = SemanticMatcher::default();
        let resolver = UnifiedDependencyResolver::new(registry.clone(), semantic_matcher.clone());
        Ok(PipelineComponents {
            registry_manager: manager,
            registry,
            semantic_matcher,
            resolver,
        })
    }
}

/// What a [`ScopedPipelineComponents`] clears when dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClearOnDrop {
    /// Every context of its own (fresh) manager.
    AllContexts,
    /// Only the context it opened in a caller's manager.
    OwnContext,
    /// Nothing.
    Nothing,
}

/// [`PipelineComponents`] whose contexts are cleared when it goes out of scope, also while
/// unwinding from a panic (reference `dependency_resolution_context`). Derefs to
/// [`PipelineComponents`].
///
/// Over a fresh manager ([`Self::in_memory`], [`Self::temporary`]) every context of that
/// manager is cleared, as in the Python reference; over a caller's manager
/// ([`Self::with_manager`]) only the context it opened is, so other data in that database
/// is left alone. Errors while clearing are logged (`tracing` warning), not raised.
///
/// ```
/// use pipeline_deps::RegistryManager;
/// use pipeline_deps::resolve::ScopedPipelineComponents;
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::in_memory()?;
/// {
///     let scoped = ScopedPipelineComponents::with_manager(manager.clone(), Some("scratch"))?;
///     assert_eq!(scoped.registry.context_name(), "scratch");
/// }
/// assert!(manager.list_contexts()?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ScopedPipelineComponents {
    components: PipelineComponents,
    context: String,
    clear: ClearOnDrop,
}

impl ScopedPipelineComponents {
    /// Scoped components over a fresh in-memory database.
    ///
    /// # Errors
    /// As [`PipelineComponents::in_memory`].
    pub fn in_memory(context_name: Option<&str>) -> crate::Result<Self> {
        Ok(Self::wrap(
            PipelineComponents::in_memory(context_name)?,
            context_name,
            ClearOnDrop::AllContexts,
        ))
    }

    /// Scoped components over a fresh temporary database file.
    ///
    /// # Errors
    /// As [`PipelineComponents::temporary`].
    pub fn temporary(context_name: Option<&str>) -> crate::Result<Self> {
        Ok(Self::wrap(
            PipelineComponents::temporary(context_name)?,
            context_name,
            ClearOnDrop::AllContexts,
        ))
    }

    /// Scoped components over a caller's manager; only the opened context is cleared.
    ///
    /// # Errors
    /// As [`PipelineComponents::with_manager`].
    pub fn with_manager(
        manager: RegistryManager,
        context_name: Option<&str>,
    ) -> crate::Result<Self> {
        Ok(Self::wrap(
            PipelineComponents::with_manager(manager, context_name)?,
            context_name,
            ClearOnDrop::OwnContext,
        ))
    }

    fn wrap(components: PipelineComponents, context: Option<&str>, clear: ClearOnDrop) -> Self {
        ScopedPipelineComponents {
            components,
            context: context_or_default(context).to_owned(),
            clear,
        }
    }

    /// Keeps the contexts when this value drops (reference `clear_on_exit=False`).
    #[must_use]
    pub fn keep_on_drop(mut self) -> Self {
        self.clear = ClearOnDrop::Nothing;
        self
    }

    /// The guarded components.
    pub fn components(&self) -> &PipelineComponents {
        &self.components
    }
}

impl Deref for ScopedPipelineComponents {
    type Target = PipelineComponents;
    fn deref(&self) -> &PipelineComponents {
        &self.components
    }
}

impl Drop for ScopedPipelineComponents {
    fn drop(&mut self) {
        self.components.resolver.clear_cache();
        let manager = &self.components.registry_manager;
        let result = match self.clear {
            ClearOnDrop::AllContexts => manager.clear_all_contexts().map(|_| ()),
            ClearOnDrop::OwnContext => manager.clear_context(&self.context).map(|_| ()),
            ClearOnDrop::Nothing => Ok(()),
        };
        if let Err(error) = result {
            tracing::warn!(context = %self.context, %error, "could not clear scoped pipeline components on drop");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_missing_context_is_default() -> crate::Result<()> {
        assert_eq!(
            PipelineComponents::in_memory(None)?.registry.context_name(),
            DEFAULT_CONTEXT
        );
        assert_eq!(
            PipelineComponents::in_memory(Some(""))?
                .registry
                .context_name(),
            DEFAULT_CONTEXT
        );
        Ok(())
    }

    #[test]
    fn keep_on_drop_keeps_contexts() -> crate::Result<()> {
        let manager = RegistryManager::in_memory()?;
        drop(ScopedPipelineComponents::with_manager(manager.clone(), Some("kept"))?.keep_on_drop());
        assert_eq!(manager.list_contexts()?, ["kept"]);
        Ok(())
    }
}
