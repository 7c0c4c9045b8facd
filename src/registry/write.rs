//! The writes of a context: validation, registering and replacing steps one at a time or
//! in batches, unregistering and clearing, each one transaction.

use std::borrow::Borrow;
use std::collections::HashSet;

use super::SpecificationRegistry;
use crate::error::{Error, Result, shorten};
use crate::spec::StepSpecification;

impl SpecificationRegistry {
    fn validate<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a str, &'a StepSpecification)>,
    ) -> Result<()> {
        let problems: Vec<_> = items
            .into_iter()
            .filter_map(|(name, spec)| spec.validate(name).err())
            .flatten()
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidSpec {
                context: self.state.name.clone(),
                problems,
            })
        }
    }

    /// Registers `spec` under `step_name`.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] listing every problem ([`StepSpecification::validate`]);
    /// [`Error::AlreadyRegistered`] when the name is taken (use [`Self::upsert`] to replace:
    /// the Python reference silently overwrote and left a stale type index: docs/design.md, D1);
    /// [`Error::ContextCleared`]; [`Error::ReadOnly`] on a read-only manager; storage errors.
    /// A refusal writes nothing; a storage error leaves all of the write or none of it (see
    /// [Durability](Self#durability)).
    pub fn register(&self, step_name: &str, spec: &StepSpecification) -> Result<()> {
        self.register_many([(step_name, spec)]).map(|_| ())
    }

    /// Registers or replaces `spec` under `step_name`. A replaced step keeps its
    /// registration position; the step-type index and counts stay exact (no duplicate
    /// names, no stale types). Replacing a step by the very spec it holds writes nothing
    /// (the [revision](Self::revision) stays as it is).
    ///
    /// # Errors
    /// As [`Self::register`], except that a taken name is not an error.
    pub fn upsert(&self, step_name: &str, spec: &StepSpecification) -> Result<()> {
        self.put_all([(step_name, spec)], true).map(|_| ())
    }

    /// Registers many specifications in one transaction: all or nothing.
    /// Returns how many were registered.
    ///
    /// `items` yields `(name, spec)` pairs, owned or borrowed: the
    /// `Vec<(String, StepSpecification)>` that
    /// [`parse_steps_json`](crate::transfer::parse_steps_json) returns, or
    /// `(&str, &StepSpecification)` pairs.
    ///
    /// ```
    /// use pipeline_deps::{ImportOptions, RegistryManager};
    ///
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let json = r#"{"steps": [{"step_name": "prep", "step_type": "Prep", "node_type": "source",
    ///     "outputs": {"data": {"type": "processing_output", "property_path": "properties.D"}}}]}"#;
    /// let steps = pipeline_deps::transfer::parse_steps_json(json, &ImportOptions::default())?;
    /// let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    /// assert_eq!(registry.register_many(steps)?, 1);
    /// assert_eq!(registry.list_step_names()?, ["prep"]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] with the problems of every invalid spec;
    /// [`Error::AlreadyRegistered`] for a taken name; [`Error::InvalidInput`] for a name
    /// given more than once in `items`;
    /// [`Error::ContextCleared`]; [`Error::ReadOnly`] on a read-only manager; storage errors.
    /// A refusal writes nothing; a storage error leaves all of the write or none of it (see
    /// [Durability](Self#durability)).
    pub fn register_many<I, N, S>(&self, items: I) -> Result<usize>
    where
        I: IntoIterator<Item = (N, S)>,
        N: AsRef<str>,
        S: Borrow<StepSpecification>,
    {
        self.put_all(items, false)
    }

    /// Registers or replaces many specifications in one transaction: all or nothing. When
    /// every step holds its spec already, nothing is written (the
    /// [revision](Self::revision) stays as it is).
    ///
    /// # Errors
    /// As [`Self::register_many`], except that taken names are replaced.
    pub fn upsert_many<I, N, S>(&self, items: I) -> Result<usize>
    where
        I: IntoIterator<Item = (N, S)>,
        N: AsRef<str>,
        S: Borrow<StepSpecification>,
    {
        self.put_all(items, true)
    }

    fn put_all<I, N, S>(&self, items: I, replace: bool) -> Result<usize>
    where
        I: IntoIterator<Item = (N, S)>,
        N: AsRef<str>,
        S: Borrow<StepSpecification>,
    {
        let owned: Vec<(N, S)> = items.into_iter().collect();
        let items: Vec<(&str, &StepSpecification)> = owned
            .iter()
            .map(|(name, spec)| (name.as_ref(), spec.borrow()))
            .collect();
        self.validate(items.iter().copied())?;
        if items.len() > 1 {
            let mut seen = HashSet::with_capacity(items.len());
            if let Some((name, _)) = items.iter().find(|(name, _)| !seen.insert(*name)) {
                return Err(Error::InvalidInput {
                    what: format!("the batch for context {}", shorten(&self.state.name)),
                    detail: format!(
                        "step {} is given more than once; give each step once",
                        shorten(name)
                    ),
                    source: None,
                });
            }
        }
        let count = items.len();
        self.write_context(
            || {
                format!(
                    "registering {count} step(s) in context {}",
                    shorten(&self.state.name)
                )
            },
            |store, group, action, context| {
                store.put_steps(group, action, context, &items, replace)
            },
        )?;
        for (name, spec) in &items {
            tracing::debug!(context = %self.state.name, step = %name, step_type = %spec.step_type, "registered step");
        }
        Ok(count)
    }

    /// Removes `step_name`; returns whether it was registered. Removing a step that is not
    /// registered writes nothing (the [revision](Self::revision) stays as it is).
    ///
    /// # Errors
    /// [`Error::ContextCleared`]; [`Error::ReadOnly`] on a read-only manager; storage errors.
    pub fn unregister(&self, step_name: &str) -> Result<bool> {
        let removed = self.write_context(
            || {
                format!(
                    "unregistering step {} from context {}",
                    shorten(step_name),
                    shorten(&self.state.name)
                )
            },
            |store, group, action, context| store.remove_step(group, action, context, step_name),
        )?;
        if removed {
            tracing::debug!(context = %self.state.name, step = %step_name, "unregistered step");
        }
        Ok(removed)
    }

    /// Removes every step but keeps the context (and this handle) alive. Clearing a context
    /// that holds no step writes nothing (its [revision](Self::revision) stays as it is).
    ///
    /// # Errors
    /// [`Error::ContextCleared`]; [`Error::ReadOnly`] on a read-only manager; storage errors.
    pub fn clear(&self) -> Result<()> {
        let emptied = self.transact(
            || format!("clearing context {}", shorten(&self.state.name)),
            |writer| {
                let emptied = writer.reset_context(&self.state.name, self.state.id)?;
                if !emptied {
                    writer.unchanged();
                }
                Ok(emptied)
            },
        )?;
        if emptied {
            tracing::info!(context = %self.state.name, "cleared all steps of context");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        DependencySpec, DependencyType, Error, NodeType, OutputSpec, RegistryManager,
        SemanticMatcher, StepSpecification, UnifiedDependencyResolver,
    };

    /// Validation guards writes only (docs/design.md, D11): a record stored before a rule
    /// was added, here a blank keyword and property path, still decodes and reads back.
    #[test]
    fn a_stored_spec_that_breaks_a_later_rule_still_reads_back() -> crate::Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            action: "creating a temp dir".into(),
            source,
        })?;
        let path = dir.path().join("old.redb");
        let old = StepSpecification::new("Train", NodeType::Internal)
            .with_dependency(
                DependencySpec::new("input_data", DependencyType::ProcessingOutput)
                    .with_keywords([""]),
            )
            .with_output(OutputSpec::new("model", DependencyType::ModelArtifacts, ""));
        {
            let manager = RegistryManager::open(&path)?;
            let registry = manager.get_registry("ml")?;
            assert!(matches!(
                registry.register("train", &old),
                Err(Error::InvalidSpec { .. })
            ));
            // As an older version wrote it: straight to the store, without validation.
            let items = [("train", &old)];
            registry.write_context(
                || "writing a record as an older version did".into(),
                |store, group, action, context| {
                    store.put_steps(group, action, context, &items, false)
                },
            )?;
        }
        let manager = RegistryManager::open(&path)?;
        let registry = manager.get_registry("ml")?;
        assert_eq!(registry.get_specification("train")?.as_deref(), Some(&old));
        assert_eq!(registry.iter()?.count(), 1);
        assert!(registry.export_json()?.contains(r#""property_path": """#));
        let resolver = UnifiedDependencyResolver::new(registry.clone(), SemanticMatcher::new());
        resolver.resolve_all_dependencies(&["train"])?;
        // Rewriting it as it is goes through validation.
        assert!(matches!(
            registry.upsert("train", &old),
            Err(Error::InvalidSpec { .. })
        ));
        Ok(())
    }
}
