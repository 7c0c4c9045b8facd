//! The reads of a context that go to the store every time: lists, counts, the step-type
//! index, the revision and iteration in one snapshot.

use std::sync::Arc;

use super::SpecificationRegistry;
use crate::error::Result;
use crate::spec::StepSpecification;

impl SpecificationRegistry {
    /// The specifications whose `step_type` is `step_type`, in registration order.
    ///
    /// # Errors
    /// As [`Self::get_specification`].
    pub fn get_specifications_by_type(
        &self,
        step_type: &str,
    ) -> Result<Vec<Arc<StepSpecification>>> {
        self.get_steps_by_type(step_type)
            .map(|steps| steps.into_iter().map(|(_, s)| s).collect())
    }

    /// The steps whose `step_type` is `step_type`, with their names, in registration order:
    /// [`Self::get_specifications_by_type`] with the names. Reads the step-type index and
    /// these steps' records only, whatever the size of the context.
    ///
    /// ```
    /// use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
    ///
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    /// registry.register("load", &StepSpecification::new("DataLoad", NodeType::Singular))?;
    /// registry.register("train", &StepSpecification::new("Training", NodeType::Singular))?;
    /// registry.register("reload", &StepSpecification::new("DataLoad", NodeType::Singular))?;
    /// let names: Vec<String> = registry
    ///     .get_steps_by_type("DataLoad")?
    ///     .into_iter()
    ///     .map(|(name, _)| name)
    ///     .collect();
    /// assert_eq!(names, ["load", "reload"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Self::get_specification`].
    pub fn get_steps_by_type(
        &self,
        step_type: &str,
    ) -> Result<Vec<(String, Arc<StepSpecification>)>> {
        self.read(|c| c.by_type(step_type)).map(|steps| {
            steps
                .into_iter()
                .map(|(name, spec)| (name, Arc::new(spec)))
                .collect()
        })
    }

    /// Every step type with the names of its steps, read from the step-type index alone (no
    /// specification is read or decoded): names in registration order, types in the order
    /// of their first step in registration order. The same as grouping [`Self::iter`] by
    /// `step_type`, at the cost of the names. This type order is not always
    /// [`Self::list_step_types`]' first-seen order: a type keeps its first-seen place after
    /// the step that brought it is unregistered or moved to another type.
    ///
    /// ```
    /// use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
    ///
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    /// let spec = |t: &str| StepSpecification::new(t, NodeType::Singular);
    /// registry.register("load", &spec("DataLoad"))?;
    /// registry.register("train", &spec("Training"))?;
    /// registry.register("reload", &spec("DataLoad"))?;
    /// registry.unregister("load")?;
    /// assert_eq!(
    ///     registry.step_names_by_type()?,
    ///     [
    ///         ("Training".to_owned(), vec!["train".to_owned()]),
    ///         ("DataLoad".to_owned(), vec!["reload".to_owned()]),
    ///     ]
    /// );
    /// assert_eq!(registry.list_step_types()?, ["DataLoad", "Training"]); // first seen
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared);
    /// [`Error::Corrupted`](crate::Error::Corrupted) when the index is damaged or its counts
    /// disagree with the catalog's (a damaged specification record is not seen: none is
    /// read); storage errors.
    pub fn step_names_by_type(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.read(|c| c.type_members())
    }

    /// Step names in registration order (a replaced step keeps its place).
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared); storage errors.
    pub fn list_step_names(&self) -> Result<Vec<String>> {
        self.read(|c| c.names())
    }

    /// Distinct step types in first-seen order (exact: a type disappears with its last step).
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared); storage errors.
    pub fn list_step_types(&self) -> Result<Vec<String>> {
        self.read(|c| c.step_types())
    }

    /// Number of registered steps (from the catalog, no scan).
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared); storage errors.
    pub fn len(&self) -> Result<usize> {
        let entry = self.entry()?;
        Ok(usize::try_from(entry.step_count).unwrap_or(usize::MAX))
    }

    /// Whether no step is registered.
    ///
    /// # Errors
    /// As [`Self::len`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Whether `step_name` is registered.
    ///
    /// # Errors
    /// As [`Self::len`].
    pub fn contains(&self, step_name: &str) -> Result<bool> {
        self.read(|c| c.contains(step_name))
    }

    /// A number that changes with every committed write to this context: caches built from
    /// the registry (such as the resolver's) compare it to know they are stale. A call that
    /// changes nothing (an [`unregister`](Self::unregister) of a step that is not registered,
    /// a [`register_many`](Self::register_many) of no steps, an [`upsert`](Self::upsert) of
    /// the spec a step holds already, a [`clear`](Self::clear) of a context that holds
    /// none) commits nothing and leaves it as it is.
    ///
    /// # Errors
    /// As [`Self::len`].
    pub fn revision(&self) -> Result<u64> {
        Ok(self.entry()?.revision)
    }

    /// Every step and its specification in registration order, read in one transaction (a
    /// consistent snapshot).
    ///
    /// # Errors
    /// As [`Self::get_specification`].
    pub fn iter(&self) -> Result<std::vec::IntoIter<(String, Arc<StepSpecification>)>> {
        Ok(self
            .read(|c| c.all())?
            .into_iter()
            .map(|(name, spec)| (name, Arc::new(spec)))
            .collect::<Vec<_>>()
            .into_iter())
    }
}
