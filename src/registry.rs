//! The handle to one context's specifications.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::error::{Error, Result, shorten};
use crate::manager::Shared;
use crate::seam::{Backend, CatalogRead, CatalogWrite, ContextRead};
use crate::spec::{DependencySpec, OutputSpec, StepSpecification};
use crate::store::GroupCommit;

/// In-process state of one context: the cleared flag and a cache of decoded specs.
pub(crate) struct ContextState {
    name: String,
    id: u64,
    cleared: AtomicBool,
    /// `None` for read-only managers, whose file another process may change.
    cache: Option<RwLock<SpecCache>>,
}

#[derive(Default)]
struct SpecCache {
    /// Bumped by every committed write, so a read that raced a write does not fill the cache
    /// with what it read before the write.
    generation: u64,
    /// On a backend shared with other processes: the context revision the cached specs were
    /// read at; a different current revision means another process wrote or cleared.
    revision: Option<u64>,
    specs: HashMap<String, Arc<StepSpecification>>,
}

impl ContextState {
    pub(crate) fn new(name: String, id: u64, cached: bool) -> Self {
        ContextState {
            name,
            id,
            cleared: AtomicBool::new(false),
            cache: cached.then(|| RwLock::new(SpecCache::default())),
        }
    }

    /// The context's catalog id.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn mark_cleared(&self) {
        self.cleared.store(true, Ordering::SeqCst);
        self.invalidate();
    }

    pub(crate) fn invalidate(&self) {
        if let Some(cache) = &self.cache {
            let mut cache = cache
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            cache.generation += 1;
            cache.specs.clear();
        }
    }
}

/// A step found by [`SpecificationRegistry::find_compatible_outputs`].
///
/// ```
/// use pipeline_deps::{DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, StepSpecification};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("ml")?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Source).with_output(
///     OutputSpec::new("model", DependencyType::ModelArtifacts, "properties.Model"),
/// ))?;
/// let found = registry
///     .find_compatible_outputs(&DependencySpec::new("model_input", DependencyType::ModelArtifacts))?;
/// assert_eq!((found[0].step_name.as_str(), found[0].output_name.as_str()), ("train", "model"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CompatibleOutput {
    /// The providing step's name.
    pub step_name: String,
    /// The output's logical name.
    pub output_name: String,
    /// The output.
    pub output: OutputSpec,
    /// The registry's compatibility score, in `[0.5, 1.0]`.
    pub score: f64,
}

/// One context's specification registry, stored in the manager's database.
///
/// Cheap to clone, `Send + Sync`; two handles to the same context compare equal.
///
/// # Durability
/// Every write (`register`, `upsert`, `register_many`, `unregister`, `clear`, imports) is
/// atomic and committed before the call returns: all of it or none of it is ever visible. A
/// refused call (invalid input, a taken name, a cleared context, a read-only manager) changes
/// nothing. A call that fails with a storage error, or that a crash interrupts, may have
/// committed just before the failure: reopen and read to know (a reopened file shows the
/// state before the call or after it, never between). After `Ok`, under
/// [`Durability::Immediate`](crate::Durability) (the default for files) the change survives
/// a process crash or power loss; under [`Durability::None`](crate::Durability) (the default
/// for temporary and in-memory databases) a crash loses it until the next durable point.
/// Concurrent writes through one manager share a commit (group commit) with the same
/// guarantee each. The context's step and type counts change in the same transaction, so
/// statistics always equal a recount.
///
/// # Handles and clears
/// After [`RegistryManager::clear_context`](crate::RegistryManager::clear_context) every call
/// on a handle taken before returns [`Error::ContextCleared`]; it can never write into a
/// context created later under the same name.
///
/// ```
/// use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::in_memory()?;
/// let registry = manager.get_registry("fraud_detection_training")?;
/// registry.register("model_training", &StepSpecification::new("XGBoostTraining", NodeType::Singular))?;
/// registry.upsert("model_training", &StepSpecification::new("LightGBMTraining", NodeType::Singular))?;
/// assert_eq!(registry.list_step_names()?, ["model_training"]);
/// assert_eq!(registry.list_step_types()?, ["LightGBMTraining"]); // no stale type
/// let spec = registry.get_specification("model_training")?.expect("registered");
/// assert_eq!(spec.step_type, "LightGBMTraining");
/// assert!(registry.unregister("model_training")?);
/// assert!(registry.is_empty()?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SpecificationRegistry {
    shared: Arc<Shared>,
    state: Arc<ContextState>,
}

impl PartialEq for SpecificationRegistry {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
            && self.state.id == other.state.id
            && self.state.name == other.state.name
    }
}

impl Eq for SpecificationRegistry {}

impl std::fmt::Debug for SpecificationRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpecificationRegistry")
            .field("context", &self.state.name)
            .finish()
    }
}

impl SpecificationRegistry {
    pub(crate) fn new(shared: Arc<Shared>, state: Arc<ContextState>) -> Self {
        SpecificationRegistry { shared, state }
    }

    /// The context's full name (with any workspace prefix, e.g. `"ws::ctx"`).
    pub fn context_name(&self) -> &str {
        &self.state.name
    }

    /// The context's catalog id: which context of that name this handle belongs to.
    pub(crate) fn context_id(&self) -> u64 {
        self.state.id
    }

    /// Whether this handle was taken from a manager sharing `shared` (the same database).
    pub(crate) fn is_of(&self, shared: &Arc<Shared>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    fn check_live(&self) -> Result<()> {
        if self.state.cleared.load(Ordering::SeqCst) {
            Err(Error::ContextCleared {
                context: self.state.name.clone(),
            })
        } else {
            Ok(())
        }
    }

    fn read<T>(&self, f: impl FnMut(&mut dyn ContextRead) -> Result<T>) -> Result<T> {
        self.read_handing_on(f, &|| true)
    }

    /// [`Self::read`] for an `f` that hands what it reads on as it goes (an export writing its
    /// output): on a server it runs again after a lost connection only while `repeatable`
    /// says that nothing was handed on yet.
    pub(crate) fn read_handing_on<T>(
        &self,
        mut f: impl FnMut(&mut dyn ContextRead) -> Result<T>,
        repeatable: &dyn Fn() -> bool,
    ) -> Result<T> {
        self.check_live()?;
        let store = self.shared.store()?;
        store.read_repeatable_while(
            &format!("reading context {}", shorten(&self.state.name)),
            |reader| {
                let mut context = reader.context(&self.state.name, self.state.id)?;
                f(&mut *context)
            },
            repeatable,
        )
    }

    /// Runs `f` in one read transaction (a consistent snapshot); on a server, again on a new
    /// connection if the first was lost (so `f` may run twice; it only reads).
    fn snapshot<T>(&self, f: impl FnMut(&mut dyn CatalogRead) -> Result<T>) -> Result<T> {
        self.check_live()?;
        let store = self.shared.store()?;
        store.read(&format!("reading context {}", shorten(&self.state.name)), f)
    }

    /// Runs `f` in a write transaction, shared with concurrent writers through this manager
    /// (group commit: `f` may run again if another write of its group fails), and returns once
    /// it committed. The spec cache is invalidated whatever the outcome: a failed commit may
    /// still have reached the disk.
    fn transact<T>(
        &self,
        what: impl Fn() -> String,
        mut f: impl FnMut(&mut dyn CatalogWrite) -> Result<T>,
    ) -> Result<T> {
        self.on_store(|store| store.write_grouped(&self.shared.group, &what(), &mut f))
    }

    /// Runs one write of this context on the backend (`f` gets the group, the action and
    /// the context's name and id), invalidating the spec cache whatever the outcome.
    fn write_context<T>(
        &self,
        what: impl Fn() -> String,
        f: impl FnOnce(&Backend, &GroupCommit, &str, (&str, u64)) -> Result<T>,
    ) -> Result<T> {
        self.on_store(|store| {
            f(
                store,
                &self.shared.group,
                &what(),
                (&self.state.name, self.state.id),
            )
        })
    }

    fn on_store<T>(&self, f: impl FnOnce(&Backend) -> Result<T>) -> Result<T> {
        self.check_live()?;
        let store = self.shared.store()?;
        let result = f(&store);
        self.state.invalidate();
        result
    }

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

    /// The specification registered under `step_name`. Served from an in-process cache that
    /// every write through this database invalidates; on a PostgreSQL registry, which other
    /// processes write too, the cache is used only while the context's revision is the one
    /// it was filled at (checked with one read per call).
    ///
    /// # Errors
    /// [`Error::ContextCleared`]; [`Error::Corrupted`] naming the context and step when the
    /// stored record cannot be decoded; storage errors.
    pub fn get_specification(&self, step_name: &str) -> Result<Option<Arc<StepSpecification>>> {
        Ok(self.get_specifications(&[step_name])?.pop().flatten())
    }

    /// The specifications of `names` (aligned; `None` = not registered), as
    /// [`Self::get_specification`] gives them, with one revision check for all of them on a
    /// shared backend and the ones not cached read in one snapshot.
    pub(crate) fn get_specifications(
        &self,
        names: &[&str],
    ) -> Result<Vec<Option<Arc<StepSpecification>>>> {
        self.get_specifications_at(names, None)
    }

    /// As [`Self::get_specifications`]; `revision`, when given, is the context's revision as
    /// the caller has just read it ([`Self::revision`]), and serves as the check on a shared
    /// backend instead of a read of its own (one round trip less).
    pub(crate) fn get_specifications_at(
        &self,
        names: &[&str],
        revision: Option<u64>,
    ) -> Result<Vec<Option<Arc<StepSpecification>>>> {
        self.check_live()?;
        let Some(cache) = &self.state.cache else {
            return self.read(|c| {
                names
                    .iter()
                    .map(|name| Ok(c.get(name)?.map(Arc::new)))
                    .collect()
            });
        };
        let shared_backend = self.shared.store()?.is_shared();
        let current = match (shared_backend, revision) {
            (false, _) => None,
            (true, Some(revision)) => Some(revision),
            (true, None) => Some(self.entry()?.revision),
        };
        let mut found = Vec::with_capacity(names.len());
        let mut missing = Vec::new();
        let generation = {
            let mut cache = cache
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.revision != current {
                cache.generation += 1;
                cache.specs.clear();
                cache.revision = current;
            }
            for (at, name) in names.iter().enumerate() {
                let hit = cache.specs.get(*name).map(Arc::clone);
                if hit.is_none() {
                    missing.push(at);
                }
                found.push(hit);
            }
            cache.generation
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let (name, id) = (&self.state.name, self.state.id);
        let (revision, read) = self.snapshot(|r| {
            let revision = if shared_backend {
                Some(r.context_entry(name, id)?.revision)
            } else {
                None
            };
            let wanted: Vec<&str> = missing.iter().map(|&at| names[at]).collect();
            let read = r.context(name, id)?.get_many(&wanted)?;
            Ok((
                revision,
                read.into_iter()
                    .map(|s| s.map(Arc::new))
                    .collect::<Vec<_>>(),
            ))
        })?;
        let mut cache = cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fill = cache.generation == generation && cache.revision == revision;
        for (at, spec) in missing.into_iter().zip(read) {
            if let (true, Some(spec)) = (fill, &spec) {
                cache.specs.insert(names[at].to_owned(), Arc::clone(spec));
            }
            found[at] = spec;
        }
        Ok(found)
    }

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
    /// [`Error::ContextCleared`]; [`Error::Corrupted`] when the index is damaged or its
    /// counts disagree with the catalog's (a damaged specification record is not seen:
    /// none is read); storage errors.
    pub fn step_names_by_type(&self) -> Result<Vec<(String, Vec<String>)>> {
        self.read(|c| c.type_members())
    }

    /// Step names in registration order (a replaced step keeps its place).
    ///
    /// # Errors
    /// [`Error::ContextCleared`]; storage errors.
    pub fn list_step_names(&self) -> Result<Vec<String>> {
        self.read(|c| c.names())
    }

    /// Distinct step types in first-seen order (exact: a type disappears with its last step).
    ///
    /// # Errors
    /// [`Error::ContextCleared`]; storage errors.
    pub fn list_step_types(&self) -> Result<Vec<String>> {
        self.read(|c| c.step_types())
    }

    /// Number of registered steps (from the catalog, no scan).
    ///
    /// # Errors
    /// [`Error::ContextCleared`]; storage errors.
    pub fn len(&self) -> Result<usize> {
        let entry = self.entry()?;
        Ok(usize::try_from(entry.step_count).unwrap_or(usize::MAX))
    }

    fn entry(&self) -> Result<crate::codec::CatalogRecordV1> {
        self.check_live()?;
        let store = self.shared.store()?;
        store.context_entry(
            &format!(
                "reading the catalog entry of context {}",
                shorten(&self.state.name)
            ),
            &self.state.name,
            self.state.id,
        )
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

    /// Outputs of registered steps that could feed `dependency`, scored as the Python reference
    /// registry does (docs/design.md): same dependency type and same data type required; score
    /// `0.5`, `+0.3` when the provider's step type is in `compatible_sources` (exact),
    /// `+0.2 × (keywords contained in the output's lowercased name) / keywords`, capped at
    /// 1.0. Sorted by score descending; ties keep registration then declaration order. The
    /// consumer itself is not skipped.
    ///
    /// # Errors
    /// As [`Self::iter`].
    pub fn find_compatible_outputs(
        &self,
        dependency: &DependencySpec,
    ) -> Result<Vec<CompatibleOutput>> {
        let mut found = Vec::new();
        for (step_name, spec) in self.iter()? {
            for (output_name, output) in &spec.outputs {
                if output.output_type != dependency.dependency_type
                    || output.data_type != dependency.data_type
                {
                    continue;
                }
                let mut score = 0.5;
                if dependency.compatible_sources.contains(&spec.step_type) {
                    score += 0.3;
                }
                if !dependency.semantic_keywords.is_empty() {
                    let name = output.logical_name.to_lowercase();
                    let hits = dependency
                        .semantic_keywords
                        .iter()
                        .filter(|k| name.contains(&k.to_lowercase()))
                        .count();
                    score += 0.2 * hits as f64 / dependency.semantic_keywords.len() as f64;
                }
                found.push(CompatibleOutput {
                    step_name: step_name.clone(),
                    output_name: output_name.clone(),
                    output: output.clone(),
                    score: score.min(1.0),
                });
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(found)
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
