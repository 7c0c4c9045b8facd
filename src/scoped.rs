//! Test-suite isolation: a context that is cleared when its guard is dropped.

use std::ops::Deref;

use crate::error::Result;
use crate::manager::RegistryManager;
use crate::registry::SpecificationRegistry;

/// A registry whose context is cleared when this guard is dropped, also while a test
/// panics (drop runs during unwinding). Derefs to [`SpecificationRegistry`].
///
/// ```
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = pipeline_deps::RegistryManager::temporary()?;
/// {
///     let scratch = manager.scoped_context("test_main")?;
///     assert!(scratch.is_empty()?);
/// }
/// assert!(manager.list_contexts()?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ScopedContext {
    manager: RegistryManager,
    name: String,
    registry: SpecificationRegistry,
}

impl RegistryManager {
    /// The registry of `context` (created if missing), cleared when the returned guard drops.
    ///
    /// # Errors
    /// See [`RegistryManager::get_registry`].
    pub fn scoped_context(&self, context: &str) -> Result<ScopedContext> {
        Ok(ScopedContext {
            registry: self.get_registry(context)?,
            manager: self.clone(),
            name: context.to_owned(),
        })
    }
}

impl ScopedContext {
    /// The guarded registry.
    pub fn registry(&self) -> &SpecificationRegistry {
        &self.registry
    }
}

impl Deref for ScopedContext {
    type Target = SpecificationRegistry;
    fn deref(&self) -> &SpecificationRegistry {
        &self.registry
    }
}

impl Drop for ScopedContext {
    fn drop(&mut self) {
        if let Err(error) = self.manager.clear_context(&self.name) {
            tracing::warn!(context = %self.name, %error, "could not clear scoped context on drop");
        }
    }
}
