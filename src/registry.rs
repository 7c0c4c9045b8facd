//! The handle to one context's specifications: what a handle is (its context's name and
//! id, its manager's database) and the plumbing every call goes through (the cleared check,
//! read and write transactions, the catalog entry). The calls themselves are in the
//! submodules: `write.rs` the writes, `read.rs` the reads, `cache.rs` the spec cache and
//! the reads it serves, `compatible.rs` [`SpecificationRegistry::find_compatible_outputs`].

mod cache;
mod compatible;
mod read;
mod write;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Error, Result, shorten};
use crate::manager::Shared;
use crate::seam::{Backend, CatalogRead, CatalogWrite, ContextRead};
use crate::store::GroupCommit;

pub(crate) use cache::ContextState;
pub use compatible::CompatibleOutput;

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
}
