//! A reference model of a registry database, the operations the tests generate, an executor
//! that runs them on a real [`RegistryManager`], and the checks run after every reopen.
//!
//! Contexts are named from two views (the root and the `ws` workspace) and three short names,
//! one of which (`ws::a`) collides on purpose with `ws` + `a`: a workspace is a name prefix,
//! nothing more. Steps come from a pool of five names and specs from a pool of six valid specs
//! over three step types plus one invalid spec (blank step type).
//!
//! This file depends only on `pipeline_deps` and `serde_json`, so the fuzz crate includes it
//! by path.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;

use pipeline_deps::{
    DependencySpec, DependencyType, Error, ImportOptions, NodeType, OutputSpec, RegistryManager,
    SpecificationRegistry, StepSpecification,
};

/// Workspace views: the root and `ws`.
pub const VIEWS: [&str; 2] = ["", "ws"];
/// Short context names; `ws::a` under the root is the same context as `a` under `ws`.
pub const SHORT_NAMES: [&str; 3] = ["a", "b", "ws::a"];
/// Step names.
pub const STEPS: [&str; 5] = ["s0", "s1", "s2", "s3", "s4"];
/// Valid specs are `0..VALID_SPECS`; `VALID_SPECS` is the invalid one.
pub const VALID_SPECS: usize = 6;
/// Step types of the valid specs, `spec(i)` has `TYPES[i % 3]`.
pub const TYPES: [&str; 3] = ["TypeA", "TypeB", "TypeC"];

/// A failed check, with a sentence saying what differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// Shorthand for a check failure.
pub fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into()))
}

fn lib<T>(what: &str, result: pipeline_deps::Result<T>) -> Result<T, Failure> {
    result.map_err(|e| Failure(format!("{what} failed: {e} ({e:?})")))
}

/// The spec of pool index `i`; `i >= VALID_SPECS` gives the invalid spec.
pub fn spec(i: usize) -> StepSpecification {
    if i >= VALID_SPECS {
        return StepSpecification::new("  ", NodeType::Internal).with_output(OutputSpec::new(
            "out",
            DependencyType::ModelArtifacts,
            "properties.X",
        ));
    }
    StepSpecification::new(TYPES[i % 3], NodeType::Internal)
        .with_dependency(
            DependencySpec::new(format!("in{i}"), DependencyType::ALL[i % 6])
                .with_keywords([format!("kw{i}")]),
        )
        .with_output(
            OutputSpec::new(
                format!("out{i}"),
                DependencyType::ALL[(i + 1) % 6],
                format!("properties.Out{i}"),
            )
            .with_aliases([format!("alias{i}")]),
        )
}

/// A context: a view and a short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ctx {
    pub view: u8,
    pub short: u8,
}

impl Ctx {
    pub fn view_name(self) -> &'static str {
        VIEWS[usize::from(self.view) % VIEWS.len()]
    }

    pub fn short_name(self) -> &'static str {
        SHORT_NAMES[usize::from(self.short) % SHORT_NAMES.len()]
    }

    /// The full context name, as stored.
    pub fn full(self) -> String {
        prefixed(self.view_name(), self.short_name())
    }
}

fn prefixed(view: &str, short: &str) -> String {
    if view.is_empty() {
        short.to_owned()
    } else {
        format!("{view}::{short}")
    }
}

fn view_prefix(view: &str) -> String {
    if view.is_empty() {
        String::new()
    } else {
        format!("{view}::")
    }
}

/// One operation. Steps and specs are pool indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    GetRegistry(Ctx),
    Register(Ctx, u8, u8),
    Upsert(Ctx, u8, u8),
    RegisterMany(Ctx, Vec<(u8, u8)>),
    UpsertMany(Ctx, Vec<(u8, u8)>),
    Unregister(Ctx, u8),
    /// `SpecificationRegistry::clear`: empties the context, keeps it.
    Clear(Ctx),
    ClearContext(Ctx),
    /// `clear_all_contexts` through a view.
    ClearAll(u8),
    /// `import_json_with` of the given steps (`replace` or not).
    ImportJson(Ctx, Vec<(u8, u8)>, bool),
    /// `RegistryManager::import_steps` through the context's view (`replace` or not): the
    /// context is created in the import's transaction if missing; no handle is involved.
    ImportSteps(Ctx, Vec<(u8, u8)>, bool),
    /// `RegistryManager::import_steps_into_empty` through the context's view.
    ImportIntoEmpty(Ctx, Vec<(u8, u8)>),
    /// `RegistryManager::clear_context_of` the handle this process holds.
    ClearContextOf(Ctx),
    /// `get_registry_if_exists` through the context's view: takes a handle only if it exists.
    GetRegistryIfExists(Ctx),
}

impl Op {
    /// The context whose handle the operation goes through, if any.
    pub fn handle_ctx(&self) -> Option<Ctx> {
        match self {
            Op::Register(c, ..)
            | Op::Upsert(c, ..)
            | Op::RegisterMany(c, _)
            | Op::UpsertMany(c, _)
            | Op::Unregister(c, _)
            | Op::Clear(c)
            | Op::ImportJson(c, ..)
            | Op::ClearContextOf(c) => Some(*c),
            Op::GetRegistry(_)
            | Op::ClearContext(_)
            | Op::ClearAll(_)
            | Op::ImportSteps(..)
            | Op::ImportIntoEmpty(..)
            | Op::GetRegistryIfExists(_) => None,
        }
    }

    /// Whether the operation writes (commits) when it succeeds.
    pub fn writes(&self) -> bool {
        !matches!(self, Op::GetRegistry(_) | Op::GetRegistryIfExists(_))
    }
}

fn step_name(i: u8) -> &'static str {
    STEPS[usize::from(i) % STEPS.len()]
}

fn spec_index(i: u8) -> usize {
    usize::from(i) % (VALID_SPECS + 1)
}

/// Decodes operations from arbitrary bytes (fuzz input, proptest, seeds). Total: every byte
/// string decodes, stopping where the bytes run out.
///
/// Each operation is a kind byte, a context byte, then its arguments. The kind is read
/// modulo 32: 16 to 19 are the manager's imports (`ImportSteps`, replacing when the kind's
/// high bit is set, and `ImportIntoEmpty`), `ClearContextOf` and `GetRegistryIfExists`,
/// added after the others; every other kind means what it meant before they were (the
/// operation of kind modulo 16), so older corpus inputs mostly keep their meaning.
pub fn decode_ops(bytes: &[u8]) -> Vec<Op> {
    let mut input = bytes.iter().copied();
    let mut ops = Vec::new();
    let ctx = |b: u8| Ctx {
        view: b % 2,
        short: (b / 2) % 3,
    };
    let items = |input: &mut std::iter::Copied<std::slice::Iter<'_, u8>>| -> Option<Vec<(u8, u8)>> {
        let n = input.next()? % 4;
        let mut items = Vec::new();
        for _ in 0..n {
            let b = input.next()?;
            items.push((b % 5, (b / 5) % 7));
        }
        Some(items)
    };
    while let Some(kind) = input.next() {
        let Some(c) = input.next().map(ctx) else {
            break;
        };
        let op = match kind % 32 {
            16 => match items(&mut input) {
                Some(items) => Op::ImportSteps(c, items, kind & 0x80 != 0),
                None => break,
            },
            17 => match items(&mut input) {
                Some(items) => Op::ImportIntoEmpty(c, items),
                None => break,
            },
            18 => Op::ClearContextOf(c),
            19 => Op::GetRegistryIfExists(c),
            other => match other % 16 {
                0 | 1 => Op::GetRegistry(c),
                2..=4 | 15 => {
                    let Some(b) = input.next() else { break };
                    Op::Register(c, b % 5, (b / 5) % 7)
                }
                5 | 6 => {
                    let Some(b) = input.next() else { break };
                    Op::Upsert(c, b % 5, (b / 5) % 7)
                }
                7 => match items(&mut input) {
                    Some(items) => Op::RegisterMany(c, items),
                    None => break,
                },
                8 => match items(&mut input) {
                    Some(items) => Op::UpsertMany(c, items),
                    None => break,
                },
                9 | 10 => {
                    let Some(b) = input.next() else { break };
                    Op::Unregister(c, b % 5)
                }
                11 => Op::Clear(c),
                12 => Op::ClearContext(c),
                13 => Op::ClearAll(c.view),
                _ => match items(&mut input) {
                    Some(items) => Op::ImportJson(c, items, kind & 0x80 != 0),
                    None => break,
                },
            },
        };
        ops.push(op);
    }
    ops
}

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

/// Runs operations on a real database, holding the handles that `get_registry` returned.
pub struct Executor {
    pub root: RegistryManager,
    handles: HashMap<String, SpecificationRegistry>,
}

/// The JSON import document for `items`.
pub fn import_document(items: &[(u8, u8)]) -> String {
    let steps: Vec<serde_json::Value> = items
        .iter()
        .map(|&(step, s)| {
            let mut value = serde_json::to_value(spec(spec_index(s))).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("step_name".into(), step_name(step).into());
            }
            value
        })
        .collect();
    serde_json::json!({ "steps": steps }).to_string()
}

impl Executor {
    pub fn new(root: RegistryManager) -> Self {
        Executor {
            root,
            handles: HashMap::new(),
        }
    }

    /// Whether this process holds a handle to `ctx`.
    pub fn has_handle(&self, ctx: Ctx) -> bool {
        self.handles.contains_key(&ctx.full())
    }

    /// A handle operation on a context this executor has no handle to becomes a
    /// `GetRegistry` of that context (so every operation is exactly one commit).
    pub fn normalize(&self, op: &Op) -> Op {
        match op.handle_ctx() {
            Some(ctx) if !self.has_handle(ctx) => Op::GetRegistry(ctx),
            _ => op.clone(),
        }
    }

    fn view(&self, view: &str) -> RegistryManager {
        self.root.workspace(view)
    }

    /// The handle this executor holds to `ctx`, if any (it may be stale).
    pub fn handle(&self, ctx: Ctx) -> Option<&SpecificationRegistry> {
        self.handles.get(&ctx.full())
    }

    /// Runs a (normalized) operation.
    pub fn run(&mut self, op: &Op) -> Outcome {
        match self.run_result(op) {
            Ok(value) => Outcome::Ok(value),
            Err(error) => Outcome::Err(ErrKind::of(&error)),
        }
    }

    /// Runs a (normalized) operation, returning the library's own result (for comparing
    /// error messages).
    pub fn run_result(&mut self, op: &Op) -> pipeline_deps::Result<u64> {
        (|| {
            Ok(match op {
                Op::GetRegistry(ctx) => {
                    let registry = self.view(ctx.view_name()).get_registry(ctx.short_name())?;
                    self.handles.insert(ctx.full(), registry);
                    0
                }
                Op::GetRegistryIfExists(ctx) => {
                    match self
                        .view(ctx.view_name())
                        .get_registry_if_exists(ctx.short_name())?
                    {
                        Some(registry) => {
                            self.handles.insert(ctx.full(), registry);
                            1
                        }
                        None => 0,
                    }
                }
                Op::ImportSteps(ctx, items, replace) => {
                    let summary = self.view(ctx.view_name()).import_steps(
                        ctx.short_name(),
                        &owned_steps(items),
                        *replace,
                    )?;
                    import_code(
                        summary.context_created,
                        summary.new,
                        summary.replaced,
                        summary.step_count,
                    )
                }
                Op::ImportIntoEmpty(ctx, items) => {
                    let summary = self
                        .view(ctx.view_name())
                        .import_steps_into_empty(ctx.short_name(), &owned_steps(items))?;
                    import_code(
                        summary.context_created,
                        summary.new,
                        summary.replaced,
                        summary.step_count,
                    )
                }
                Op::ClearContextOf(ctx) => {
                    let Some(registry) = self.handles.get(&ctx.full()) else {
                        return Err(Error::ContextCleared {
                            context: ctx.full(),
                        });
                    };
                    u64::from(self.view(ctx.view_name()).clear_context_of(registry)?)
                }
                Op::ClearContext(ctx) => {
                    u64::from(self.view(ctx.view_name()).clear_context(ctx.short_name())?)
                }
                Op::ClearAll(view) => self
                    .view(VIEWS[usize::from(*view) % VIEWS.len()])
                    .clear_all_contexts()? as u64,
                other => {
                    let ctx = other.handle_ctx().unwrap_or(Ctx { view: 0, short: 0 });
                    let Some(registry) = self.handles.get(&ctx.full()) else {
                        return Err(Error::ContextCleared {
                            context: ctx.full(),
                        });
                    };
                    run_on(registry, other)?
                }
            })
        })()
    }
}

fn owned_steps(items: &[(u8, u8)]) -> Vec<(String, StepSpecification)> {
    items
        .iter()
        .map(|&(step, s)| (step_name(step).to_owned(), spec(spec_index(s))))
        .collect()
}

fn owned(items: &[(u8, u8)]) -> Vec<(&'static str, StepSpecification)> {
    items
        .iter()
        .map(|&(step, s)| (step_name(step), spec(spec_index(s))))
        .collect()
}

fn run_on(registry: &SpecificationRegistry, op: &Op) -> pipeline_deps::Result<u64> {
    Ok(match op {
        Op::Register(_, step, s) => {
            registry.register(step_name(*step), &spec(spec_index(*s)))?;
            0
        }
        Op::Upsert(_, step, s) => {
            registry.upsert(step_name(*step), &spec(spec_index(*s)))?;
            0
        }
        Op::RegisterMany(_, items) => {
            let items = owned(items);
            registry.register_many(items.iter().map(|(n, s)| (*n, s)))? as u64
        }
        Op::UpsertMany(_, items) => {
            let items = owned(items);
            registry.upsert_many(items.iter().map(|(n, s)| (*n, s)))? as u64
        }
        Op::ImportJson(_, items, replace) => registry.import_json_with(
            &import_document(items),
            &ImportOptions::new().replace(*replace),
        )? as u64,
        Op::Unregister(_, step) => u64::from(registry.unregister(step_name(*step))?),
        Op::Clear(_) => {
            registry.clear()?;
            0
        }
        Op::GetRegistry(_)
        | Op::ClearContext(_)
        | Op::ClearAll(_)
        | Op::ImportSteps(..)
        | Op::ImportIntoEmpty(..)
        | Op::ClearContextOf(_)
        | Op::GetRegistryIfExists(_) => 0,
    })
}

/// Reads every context through the root view (no writes).
pub fn snapshot(manager: &RegistryManager) -> Result<Snapshot, Failure> {
    let mut out = Vec::new();
    for name in lib("list_contexts", manager.list_contexts())? {
        let Some(registry) = lib(
            "get_registry_if_exists",
            manager.get_registry_if_exists(&name),
        )?
        else {
            return fail(format!("listed context {name:?} does not exist"));
        };
        let steps: Vec<(String, StepSpecification)> = lib("iter", registry.iter())?
            .map(|(step, spec)| (step, (*spec).clone()))
            .collect();
        let types = lib("list_step_types", registry.list_step_types())?;
        out.push(CtxSnapshot { name, steps, types });
    }
    Ok(out)
}

/// Every check run after a reopen: the state equals one of the candidates (returned), counts
/// equal a recount, nothing is visible from another context or workspace, `list_contexts` is
/// in creation order in every view, and the storage engine's integrity check passes (when
/// `integrity` and the manager is writable).
pub fn verify(
    manager: &RegistryManager,
    candidates: &Candidates,
    integrity: bool,
) -> Result<usize, Failure> {
    let actual = snapshot(manager)?;
    let Some(index) = candidates.0.iter().position(|m| m.snapshot() == actual) else {
        let expected: Vec<String> = candidates
            .0
            .iter()
            .map(|m| describe(&m.snapshot()))
            .collect();
        return fail(format!(
            "the database holds\n  {}\nbut the model allows only\n  {}",
            describe(&actual),
            expected.join("\n  ")
        ));
    };
    check_consistency(manager, &actual)?;
    if integrity && !manager.is_read_only() {
        match manager.check_integrity() {
            Ok(true) => {}
            Ok(false) => return fail("check_integrity found (and repaired) damage"),
            Err(e) => return fail(format!("check_integrity failed: {e}")),
        }
    }
    Ok(index)
}

/// Stats equal a recount, names and types agree with the records (also each type's step
/// names read from the index alone), each step is visible in its own context only, and each workspace view shows exactly its own contexts, in order.
pub fn check_consistency(manager: &RegistryManager, actual: &Snapshot) -> Result<(), Failure> {
    let stats = lib("get_context_stats", manager.get_context_stats())?;
    let names: Vec<&String> = stats.keys().collect();
    let listed: Vec<&String> = actual.iter().map(|c| &c.name).collect();
    if names != listed {
        return fail(format!(
            "get_context_stats lists {names:?}, list_contexts {listed:?}"
        ));
    }
    let mut all_steps: Vec<String> = STEPS.iter().map(|s| (*s).to_owned()).collect();
    for ctx in actual {
        for (step, _) in &ctx.steps {
            if !all_steps.contains(step) {
                all_steps.push(step.clone());
            }
        }
    }
    for ctx in actual {
        let entry = &stats[&ctx.name];
        let mut recount_types: Vec<&str> = ctx
            .steps
            .iter()
            .map(|(_, s)| s.step_type.as_str())
            .collect();
        recount_types.sort_unstable();
        recount_types.dedup();
        let mut listed_types: Vec<&str> = ctx.types.iter().map(String::as_str).collect();
        listed_types.sort_unstable();
        if entry.step_count != ctx.steps.len()
            || entry.step_type_count != recount_types.len()
            || listed_types != recount_types
        {
            return fail(format!(
                "context {:?}: stats say {} steps / {} types, a recount finds {} / {:?} (listed types {:?})",
                ctx.name,
                entry.step_count,
                entry.step_type_count,
                ctx.steps.len(),
                recount_types,
                ctx.types
            ));
        }
        let Some(registry) = lib(
            "get_registry_if_exists",
            manager.get_registry_if_exists(&ctx.name),
        )?
        else {
            return fail(format!("context {:?} vanished", ctx.name));
        };
        let order = lib("list_step_names", registry.list_step_names())?;
        let from_iter: Vec<&String> = ctx.steps.iter().map(|(n, _)| n).collect();
        if order.iter().collect::<Vec<_>>() != from_iter {
            return fail(format!(
                "context {:?}: list_step_names {order:?} differs from iter {from_iter:?}",
                ctx.name
            ));
        }
        if lib("len", registry.len())? != ctx.steps.len() {
            return fail(format!(
                "context {:?}: len() differs from a recount",
                ctx.name
            ));
        }
        let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
        for (step, spec) in &ctx.steps {
            match grouped.iter_mut().find(|(t, _)| *t == spec.step_type) {
                Some((_, names)) => names.push(step.clone()),
                None => grouped.push((spec.step_type.clone(), vec![step.clone()])),
            }
        }
        let by_type = lib("step_names_by_type", registry.step_names_by_type())?;
        if by_type != grouped {
            return fail(format!(
                "context {:?}: step_names_by_type {by_type:?} differs from the steps grouped by type {grouped:?}",
                ctx.name
            ));
        }
        for step in &all_steps {
            let got = lib("get_specification", registry.get_specification(step))?;
            let expected = ctx.steps.iter().find(|(n, _)| n == step).map(|(_, s)| s);
            if got.as_deref() != expected {
                return fail(format!(
                    "context {:?}: get_specification({step:?}) returned {got:?}, expected {expected:?} (a spec leaked between contexts or went stale)",
                    ctx.name
                ));
            }
            if lib("contains", registry.contains(step))? != expected.is_some() {
                return fail(format!(
                    "context {:?}: contains({step:?}) is wrong",
                    ctx.name
                ));
            }
        }
    }
    for view in VIEWS.iter().filter(|v| !v.is_empty()) {
        let prefix = view_prefix(view);
        let ws = manager.workspace(view);
        let expected: Vec<String> = actual
            .iter()
            .filter_map(|c| c.name.strip_prefix(&prefix).map(str::to_owned))
            .collect();
        let listed = lib("workspace list_contexts", ws.list_contexts())?;
        if listed != expected {
            return fail(format!(
                "workspace {view:?} lists {listed:?}, expected {expected:?}"
            ));
        }
        let ws_stats = lib("workspace get_context_stats", ws.get_context_stats())?;
        for (short, entry) in &ws_stats {
            if stats.get(&format!("{prefix}{short}")) != Some(entry) {
                return fail(format!("workspace {view:?} stats of {short:?} differ"));
            }
        }
        for short in SHORT_NAMES {
            let through_view = lib(
                "workspace get_registry_if_exists",
                ws.get_registry_if_exists(short),
            )?;
            let full = format!("{prefix}{short}");
            let exists = actual.iter().any(|c| c.name == full);
            if through_view.is_some() != exists {
                return fail(format!(
                    "workspace {view:?}: context {short:?} visible = {}, exists = {exists}",
                    through_view.is_some()
                ));
            }
            if let Some(registry) = through_view {
                let steps: Vec<(String, StepSpecification)> = lib("iter", registry.iter())?
                    .map(|(n, s)| (n, (*s).clone()))
                    .collect();
                let expected = &actual
                    .iter()
                    .find(|c| c.name == full)
                    .map(|c| c.steps.clone())
                    .unwrap_or_default();
                if &steps != expected {
                    return fail(format!(
                        "workspace {view:?}: context {short:?} shows other steps than {full:?}"
                    ));
                }
            }
        }
    }
    Ok(())
}
