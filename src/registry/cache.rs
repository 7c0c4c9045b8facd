//! The in-process state of one context (its cleared flag) and the cache of decoded specs
//! behind [`SpecificationRegistry::get_specification`], kept exact across writes through
//! this database and, on a shared backend, across other processes' writes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use super::SpecificationRegistry;
use crate::error::Result;
use crate::spec::StepSpecification;

/// In-process state of one context: the cleared flag and a cache of decoded specs.
pub(crate) struct ContextState {
    pub(super) name: String,
    pub(super) id: u64,
    pub(super) cleared: AtomicBool,
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

impl SpecificationRegistry {
    /// The specification registered under `step_name`. Served from an in-process cache that
    /// every write through this database invalidates; on a PostgreSQL registry, which other
    /// processes write too, the cache is used only while the context's revision is the one
    /// it was filled at (checked with one read per call).
    ///
    /// # Errors
    /// [`Error::ContextCleared`](crate::Error::ContextCleared);
    /// [`Error::Corrupted`](crate::Error::Corrupted) naming the context and step when the
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
}
