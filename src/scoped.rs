//! Test-suite isolation: a context that is cleared when its guard is dropped.

use std::ops::Deref;

use crate::error::{Error, Result};
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
    registry: SpecificationRegistry,
}

impl RegistryManager {
    /// The registry of `context` (created if missing), cleared when the returned guard drops.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] on a read-only manager, whose guard could never clear the
    /// context (even when it exists); otherwise see [`RegistryManager::get_registry`].
    pub fn scoped_context(&self, context: &str) -> Result<ScopedContext> {
        if self.is_read_only() {
            return Err(Error::ReadOnly { path: self.path() });
        }
        Ok(ScopedContext {
            registry: self.get_registry(context)?,
            manager: self.clone(),
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
        // Only the context this scope created: if it was cleared meanwhile and created again
        // under the same name, the new one belongs to someone else.
        if let Err(error) = self.manager.clear_context_of(&self.registry) {
            let context = self.registry.context_name();
            tracing::warn!(%context, %error, "could not clear scoped context on drop");
        }
    }
}
