//! The reference model itself: what a database holds after a sequence of operations
//! ([`Model`], each operation's predicted [`Outcome`]), and the set of states allowed after a
//! run in which some operations may or may not have committed ([`Candidates`]).

use std::collections::HashMap;

use pipeline_deps::{Error, StepSpecification};

use super::{
    Ctx, Failure, Op, TYPES, VALID_SPECS, VIEWS, fail, spec, spec_index, step_name, view_prefix,
};

/// The observable result of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success with a count or flag (0 when the operation returns `()`).
    Ok(u64),
    Err(ErrKind),
}

/// Error families that the model predicts; `Storage` covers I/O, poisoned handles,
/// corruption and other storage-engine errors, which only faults cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrKind {
    ContextCleared,
    InvalidSpec,
    AlreadyRegistered,
    InvalidName,
    InvalidInput,
    ReadOnly,
    /// `import_steps_into_empty` found steps in the context.
    ContextNotEmpty,
    Storage,
    /// The call panicked (only injected panics may do that).
    Panicked,
}

impl ErrKind {
    pub fn of(error: &Error) -> ErrKind {
        match error {
            Error::ContextCleared { .. } => ErrKind::ContextCleared,
            Error::InvalidSpec { .. } => ErrKind::InvalidSpec,
            Error::AlreadyRegistered { .. } => ErrKind::AlreadyRegistered,
            Error::InvalidContextName { .. } => ErrKind::InvalidName,
            Error::InvalidInput { .. } => ErrKind::InvalidInput,
            Error::ReadOnly { .. } => ErrKind::ReadOnly,
            Error::ContextNotEmpty { .. } => ErrKind::ContextNotEmpty,
            _ => ErrKind::Storage,
        }
    }

    /// An error that a fault may cause (so the operation may or may not have committed).
    pub fn is_fault(self) -> bool {
        matches!(self, ErrKind::Storage | ErrKind::Panicked)
    }
}

/// One context's modelled content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct CtxModel {
    /// (step, spec index, seq) in registration order.
    steps: Vec<(String, usize, u64)>,
    /// (first-seen seq, step type).
    types: Vec<(u64, String)>,
    next_seq: u64,
}

impl CtxModel {
    fn position(&self, step: &str) -> Option<usize> {
        self.steps.iter().position(|(name, ..)| name == step)
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    fn index_type(&mut self, step_type: &str) {
        if !self.types.iter().any(|(_, t)| t == step_type) {
            let seq = self.seq();
            self.types.push((seq, step_type.to_owned()));
        }
    }

    fn unindex_type(&mut self, step_type: &str) {
        let used = self
            .steps
            .iter()
            .any(|(_, spec_idx, _)| TYPES[spec_idx % 3] == step_type);
        if !used {
            self.types.retain(|(_, t)| t != step_type);
        }
    }

    /// Puts one step; `Err` for a taken name without `replace`.
    fn put(&mut self, step: &str, spec_idx: usize, replace: bool) -> Result<(), ErrKind> {
        let new_type = TYPES[spec_idx % 3];
        match self.position(step) {
            Some(_) if !replace => Err(ErrKind::AlreadyRegistered),
            Some(pos) => {
                let old_type = TYPES[self.steps[pos].1 % 3];
                self.steps[pos].1 = spec_idx;
                if old_type != new_type {
                    self.unindex_type(old_type);
                    self.index_type(new_type);
                }
                Ok(())
            }
            None => {
                let seq = self.seq();
                self.steps.push((step.to_owned(), spec_idx, seq));
                self.index_type(new_type);
                Ok(())
            }
        }
    }

    fn remove(&mut self, step: &str) -> bool {
        match self.position(step) {
            Some(pos) => {
                let (_, spec_idx, _) = self.steps.remove(pos);
                self.unindex_type(TYPES[spec_idx % 3]);
                true
            }
            None => false,
        }
    }

    fn types_in_order(&self) -> Vec<String> {
        let mut types = self.types.clone();
        types.sort();
        types.into_iter().map(|(_, t)| t).collect()
    }
}

/// What a database holds (contexts in creation order) and what handles this process has.
#[derive(Debug, Clone, Default)]
pub struct Model {
    contexts: Vec<(String, CtxModel)>,
    /// Full context name → whether this process's handle is still live.
    handles: HashMap<String, bool>,
}

/// One context as read back: steps with specs in registration order, types in first-seen
/// order.
#[derive(Debug, Clone, PartialEq)]
pub struct CtxSnapshot {
    pub name: String,
    pub steps: Vec<(String, StepSpecification)>,
    pub types: Vec<String>,
}

/// A whole database as read back, contexts in creation order.
pub type Snapshot = Vec<CtxSnapshot>;

/// A one-line rendering of a snapshot: `ctx{step=spec#i ...}[types]`, specs by pool index.
pub fn describe(snapshot: &Snapshot) -> String {
    let pool: Vec<StepSpecification> = (0..=VALID_SPECS).map(spec).collect();
    snapshot
        .iter()
        .map(|c| {
            let steps: Vec<String> = c
                .steps
                .iter()
                .map(|(n, s)| match pool.iter().position(|p| p == s) {
                    Some(i) => format!("{n}=#{i}"),
                    None => format!("{n}=<unknown spec {s:?}>"),
                })
                .collect();
            format!("{:?}{{{}}}{:?}", c.name, steps.join(" "), c.types)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Model {
    /// The state as a snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.contexts
            .iter()
            .map(|(name, ctx)| CtxSnapshot {
                name: name.clone(),
                steps: ctx
                    .steps
                    .iter()
                    .map(|(step, spec_idx, _)| (step.clone(), spec(*spec_idx)))
                    .collect(),
                types: ctx.types_in_order(),
            })
            .collect()
    }

    /// As [`Executor::normalize`], from the model's record of this process's handles (the
    /// same thing when no fault happened).
    pub fn normalize(&self, op: &Op) -> Op {
        match op.handle_ctx() {
            Some(ctx) if !self.handles.contains_key(&ctx.full()) => Op::GetRegistry(ctx),
            _ => op.clone(),
        }
    }

    /// Forgets this process's handles (a reopen).
    pub fn reopened(&self) -> Model {
        Model {
            contexts: self.contexts.clone(),
            handles: HashMap::new(),
        }
    }

    /// Number of steps over all contexts.
    pub fn step_total(&self) -> usize {
        self.contexts.iter().map(|(_, c)| c.steps.len()).sum()
    }

    pub fn context_names(&self) -> Vec<String> {
        self.contexts.iter().map(|(n, _)| n.clone()).collect()
    }

    fn ctx_mut(&mut self, full: &str) -> Option<&mut CtxModel> {
        self.contexts
            .iter_mut()
            .find(|(n, _)| n == full)
            .map(|(_, c)| c)
    }

    fn exists(&self, full: &str) -> bool {
        self.contexts.iter().any(|(n, _)| n == full)
    }

    fn drop_context(&mut self, full: &str) -> bool {
        let before = self.contexts.len();
        self.contexts.retain(|(n, _)| n != full);
        if let Some(live) = self.handles.get_mut(full) {
            *live = false;
        }
        self.contexts.len() != before
    }

    /// Whether a handle operation on `full` would fail with `ContextCleared`.
    fn stale(&self, full: &str) -> bool {
        self.handles.get(full) != Some(&true) || !self.exists(full)
    }

    /// The refusals of a batch before the context is looked at: an invalid spec, then a step
    /// named twice.
    fn check_batch(items: &[(u8, u8)]) -> Result<(), ErrKind> {
        if items.iter().any(|&(_, s)| spec_index(s) >= VALID_SPECS) {
            return Err(ErrKind::InvalidSpec);
        }
        let mut names: Vec<&str> = items.iter().map(|&(step, _)| step_name(step)).collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(ErrKind::InvalidInput);
        }
        Ok(())
    }

    /// `import_steps` (`into_empty`: `import_steps_into_empty`): one transaction that creates
    /// the context if missing, whatever this process's handles say.
    fn import(&mut self, ctx: Ctx, items: &[(u8, u8)], replace: bool, into_empty: bool) -> Outcome {
        if let Err(kind) = Self::check_batch(items) {
            return Outcome::Err(kind);
        }
        let full = ctx.full();
        let created = !self.exists(&full);
        let mut next = self.ctx_mut(&full).cloned().unwrap_or_default();
        if into_empty && !next.steps.is_empty() {
            return Outcome::Err(ErrKind::ContextNotEmpty);
        }
        let (mut new, mut replaced) = (0, 0);
        for &(step, s) in items {
            let name = step_name(step);
            let taken = next.position(name).is_some();
            if let Err(kind) = next.put(name, spec_index(s), replace) {
                return Outcome::Err(kind);
            }
            if taken {
                replaced += 1;
            } else {
                new += 1;
            }
        }
        let step_count = next.steps.len();
        match self.ctx_mut(&full) {
            Some(model) => *model = next,
            None => self.contexts.push((full, next)),
        }
        Outcome::Ok(import_code(created, new, replaced, step_count))
    }

    fn put_many(&mut self, ctx: Ctx, items: &[(u8, u8)], replace: bool) -> Outcome {
        // A batch naming a step twice is refused before the context is looked at.
        if let Err(kind) = Self::check_batch(items) {
            return Outcome::Err(kind);
        }
        let full = ctx.full();
        if self.stale(&full) {
            return Outcome::Err(ErrKind::ContextCleared);
        }
        let Some(model) = self.ctx_mut(&full) else {
            return Outcome::Err(ErrKind::ContextCleared);
        };
        let mut next = model.clone();
        for &(step, s) in items {
            if let Err(kind) = next.put(step_name(step), spec_index(s), replace) {
                return Outcome::Err(kind);
            }
        }
        *model = next;
        Outcome::Ok(items.len() as u64)
    }

    /// Applies `op` as the library would and returns the predicted outcome. Handle
    /// operations assume the caller holds a handle (see [`Executor::normalize`]).
    pub fn apply(&mut self, op: &Op) -> Outcome {
        match op {
            Op::GetRegistry(ctx) => {
                let full = ctx.full();
                if !self.exists(&full) {
                    self.contexts.push((full.clone(), CtxModel::default()));
                }
                self.handles.insert(full, true);
                Outcome::Ok(0)
            }
            Op::Register(ctx, step, s) => self.put_many(*ctx, &[(*step, *s)], false).map_count(0),
            Op::Upsert(ctx, step, s) => self.put_many(*ctx, &[(*step, *s)], true).map_count(0),
            Op::RegisterMany(ctx, items) => self.put_many(*ctx, items, false),
            Op::UpsertMany(ctx, items) => self.put_many(*ctx, items, true),
            Op::ImportJson(ctx, items, replace) => {
                // A document listing a step twice is refused while it is read, before
                // anything else is looked at (also before an invalid spec, unlike a batch).
                let mut names: Vec<&str> = items.iter().map(|&(step, _)| step_name(step)).collect();
                names.sort_unstable();
                if names.windows(2).any(|pair| pair[0] == pair[1]) {
                    return Outcome::Err(ErrKind::InvalidInput);
                }
                self.put_many(*ctx, items, *replace)
            }
            Op::Unregister(ctx, step) => {
                let full = ctx.full();
                if self.stale(&full) {
                    return Outcome::Err(ErrKind::ContextCleared);
                }
                match self.ctx_mut(&full) {
                    Some(model) => Outcome::Ok(u64::from(model.remove(step_name(*step)))),
                    None => Outcome::Err(ErrKind::ContextCleared),
                }
            }
            Op::Clear(ctx) => {
                let full = ctx.full();
                if self.stale(&full) {
                    return Outcome::Err(ErrKind::ContextCleared);
                }
                match self.ctx_mut(&full) {
                    Some(model) => {
                        model.steps.clear();
                        model.types.clear();
                        Outcome::Ok(0)
                    }
                    None => Outcome::Err(ErrKind::ContextCleared),
                }
            }
            Op::ClearContext(ctx) => Outcome::Ok(u64::from(self.drop_context(&ctx.full()))),
            Op::ClearContextOf(ctx) => {
                let full = ctx.full();
                Outcome::Ok(u64::from(!self.stale(&full) && self.drop_context(&full)))
            }
            Op::GetRegistryIfExists(ctx) => {
                let full = ctx.full();
                if !self.exists(&full) {
                    return Outcome::Ok(0);
                }
                self.handles.insert(full, true);
                Outcome::Ok(1)
            }
            Op::ImportSteps(ctx, items, replace) => self.import(*ctx, items, *replace, false),
            Op::ImportIntoEmpty(ctx, items) => self.import(*ctx, items, false, true),
            Op::ClearAll(view) => {
                let prefix = view_prefix(VIEWS[usize::from(*view) % VIEWS.len()]);
                let doomed: Vec<String> = self
                    .contexts
                    .iter()
                    .map(|(n, _)| n.clone())
                    .filter(|n| n.starts_with(&prefix))
                    .collect();
                for name in &doomed {
                    self.drop_context(name);
                }
                Outcome::Ok(doomed.len() as u64)
            }
        }
    }
}

/// The `Ok` value of an import through the manager: its [`pipeline_deps::transfer::ImportSummary`]
/// in decimal fields, `created` (millions), `new` (ten thousands), `replaced` (hundreds) and
/// the context's `step_count`.
pub fn import_code(created: bool, new: usize, replaced: usize, step_count: usize) -> u64 {
    u64::from(created) * 1_000_000 + new as u64 * 10_000 + replaced as u64 * 100 + step_count as u64
}

trait MapCount {
    fn map_count(self, value: u64) -> Outcome;
}

impl MapCount for Outcome {
    fn map_count(self, value: u64) -> Outcome {
        match self {
            Outcome::Ok(_) => Outcome::Ok(value),
            err => err,
        }
    }
}

/// What an observed operation may have written to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Normal operation: it wrote what the model says.
    AsModelled,
    /// It failed with a fault after reaching the disk: it may or may not have committed.
    Maybe,
    /// Nothing reached the disk (the handle was already failed): it committed nothing,
    /// whatever it returned.
    Nothing,
}

/// Possible committed states after a run in which some operations may or may not have
/// committed (they failed with a fault). Starts with one state; an uncertain operation
/// doubles it, an observed outcome filters it.
#[derive(Debug, Clone)]
pub struct Candidates(pub Vec<Model>);

impl Candidates {
    pub fn new(model: Model) -> Self {
        Candidates(vec![model])
    }

    /// Records an operation that returned `outcome`; `mode` says what it may have written.
    ///
    /// A read (an operation that does not write) through a manager that failed before is
    /// checked against the candidates but narrows none of them: what it shows is the storage
    /// engine's memory of its last commit, and the interrupted operation may have reached the
    /// disk although the engine does not show it (or the reverse), as the reads after a fault
    /// in the harness. It commits nothing (as [`Written::Nothing`] says; `GetRegistry` of a
    /// missing context would, but fails instead); the candidates it agrees with take the
    /// handle it gave.
    pub fn observe(&mut self, op: &Op, outcome: Outcome, mode: Written) -> Result<(), Failure> {
        let mut next = Vec::new();
        let mut predictions = Vec::new();
        let read_after_failure = mode == Written::Nothing && !op.writes();
        for model in &self.0 {
            let mut applied = model.clone();
            let predicted = applied.apply(op);
            predictions.push(predicted);
            let fault = matches!(outcome, Outcome::Err(kind) if kind.is_fault());
            match mode {
                _ if read_after_failure && !fault => next.push(Model {
                    contexts: model.contexts.clone(),
                    handles: if outcome == predicted {
                        applied.handles
                    } else {
                        model.handles.clone()
                    },
                }),
                _ if fault => {
                    next.push(model.clone());
                    if mode == Written::Maybe && matches!(predicted, Outcome::Ok(_)) {
                        // It may have committed, but it failed: no new handle, no handle
                        // marked cleared.
                        next.push(Model {
                            contexts: applied.contexts,
                            handles: model.handles.clone(),
                        });
                    }
                }
                Written::Nothing if outcome == predicted => next.push(Model {
                    contexts: model.contexts.clone(),
                    handles: applied.handles,
                }),
                _ if outcome == predicted => next.push(applied),
                _ => {}
            }
        }
        let fault = matches!(outcome, Outcome::Err(kind) if kind.is_fault());
        if next.is_empty() || (read_after_failure && !fault && !predictions.contains(&outcome)) {
            return fail(format!(
                "{op:?} returned {outcome:?}, but the model predicted one of {predictions:?}"
            ));
        }
        let mut unique: Vec<Model> = Vec::new();
        for model in next {
            if !unique
                .iter()
                .any(|m| m.contexts == model.contexts && m.handles == model.handles)
            {
                unique.push(model);
            }
        }
        unique.truncate(16);
        self.0 = unique;
        Ok(())
    }

    /// After a reopen: handles are gone.
    pub fn reopened(&self) -> Candidates {
        let mut out: Vec<Model> = Vec::new();
        for model in &self.0 {
            let model = model.reopened();
            if !out.iter().any(|m| m.contexts == model.contexts) {
                out.push(model);
            }
        }
        Candidates(out)
    }

    /// Keeps only the candidate at `index`.
    pub fn settle(&mut self, index: usize) {
        let chosen = self.0.swap_remove(index);
        self.0 = vec![chosen];
    }

    pub fn first(&self) -> &Model {
        &self.0[0]
    }
}
