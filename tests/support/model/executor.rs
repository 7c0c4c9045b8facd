//! The executor: runs the model's operations on a real [`RegistryManager`], holding the
//! handles that `get_registry` returned, and reports each one's [`Outcome`].

use std::collections::HashMap;

use pipeline_deps::{
    Error, ImportOptions, RegistryManager, SpecificationRegistry, StepSpecification,
};

use super::{Ctx, ErrKind, Op, Outcome, VIEWS, import_code, spec, spec_index, step_name};

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
