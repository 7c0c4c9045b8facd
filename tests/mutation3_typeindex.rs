//! Invariant: the step-type index stays exact when its types span many chunks. After any
//! history of registrations, upserts that move steps between types, removals, batches and
//! clears, in a context whose types hold steps with long names (a few to a chunk, so that a
//! type has up to a dozen chunks), every listing equals a model of the calls: the step
//! names in registration order, the step types in the order they were (last) created,
//! each type's steps by `get_steps_by_type` and `step_names_by_type`, and the counts; and
//! the file reopens in that state.
//! A type whose chunk 0 lost all its steps while a later chunk holds more keeps that chunk
//! 0 (it holds the type's place) and loses it with its last step; a type that loses every
//! step in one batch after a removal loaded it whole is gone, and one that also gained a
//! step in that batch keeps that step; types created in one batch by moved steps keep
//! their creation order.
//! Written against mutants of `src/store/context/types/removal.rs` (the in-place removal:
//! its binary search over a type's chunks, some of which loop forever, and its test for
//! other chunks of the type) and of `src/store/context/types.rs` (the entry count of a
//! type loaded whole, on removal and on append, and the position a new type takes) that
//! `type_members`, `registry_api`, `identical_upserts` and `noop_writes` let survive (see
//! the report of the third mutation audit, cargo-mutants): their histories never fill a
//! second chunk of a type, nor create two types by moves in one batch.

mod support;
#[path = "support/type_history.rs"]
mod type_history;

use pipeline_deps::{Error, RegistryManager, SpecificationRegistry, StepSpecification};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::TestResult;
use type_history::{Draw, Op, op, spec};

/// Step names and types the histories draw from: many names, few types.
const DRAW: Draw = Draw {
    names: 48,
    types: TYPES,
    writes: 3,
    removals: 5,
    batch: 24,
};
const TYPES: u8 = 3;

/// A name of 200 bytes: a chunk of the index (about 1 KiB) holds four of them.
fn name(step: u8) -> String {
    format!("{step:0>200}")
}

/// What the calls should leave: steps in registration order with their types, and the
/// types in the order they were created (a type that lost its last step and came back is
/// created again).
#[derive(Debug, Default)]
struct Model {
    steps: Vec<(u8, u8)>,
    types: Vec<u8>,
}

impl Model {
    fn position(&self, step: u8) -> Option<usize> {
        self.steps.iter().position(|(s, _)| *s == step)
    }

    fn drop_type_if_unused(&mut self, step_type: u8) {
        if !self.steps.iter().any(|(_, t)| *t == step_type) {
            self.types.retain(|t| *t != step_type);
        }
    }

    fn add_type_if_new(&mut self, step_type: u8) {
        if !self.types.contains(&step_type) {
            self.types.push(step_type);
        }
    }

    fn upsert(&mut self, step: u8, step_type: u8) {
        match self.position(step) {
            Some(at) => {
                let old = self.steps[at].1;
                if old != step_type {
                    self.steps[at].1 = step_type;
                    self.drop_type_if_unused(old);
                    self.add_type_if_new(step_type);
                }
            }
            None => {
                self.steps.push((step, step_type));
                self.add_type_if_new(step_type);
            }
        }
    }

    fn unregister(&mut self, step: u8) {
        if let Some(at) = self.position(step) {
            let (_, old) = self.steps.remove(at);
            self.drop_type_if_unused(old);
        }
    }

    fn names_of(&self, step_type: u8) -> Vec<String> {
        self.steps
            .iter()
            .filter(|(_, t)| *t == step_type)
            .map(|(s, _)| name(*s))
            .collect()
    }

    /// Types in the order of their first step, each with its steps.
    fn grouped(&self) -> Vec<(String, Vec<String>)> {
        let mut order: Vec<u8> = Vec::new();
        for (_, t) in &self.steps {
            if !order.contains(t) {
                order.push(*t);
            }
        }
        order
            .into_iter()
            .map(|t| (format!("Type{t}"), self.names_of(t)))
            .collect()
    }
}

/// A batch names each step once (a repeated name is invalid input): the first one stays.
fn batch(items: &[(u8, u8)]) -> Vec<(u8, u8)> {
    let mut seen = std::collections::HashSet::new();
    items
        .iter()
        .copied()
        .filter(|(s, _)| seen.insert(*s))
        .collect()
}

fn specs(items: &[(u8, u8)]) -> Vec<(String, StepSpecification)> {
    items.iter().map(|&(s, t)| (name(s), spec(t))).collect()
}

/// Applies `op` to the registry and the model; a refused registration of a taken name
/// changes nothing in either.
fn apply(registry: &SpecificationRegistry, model: &mut Model, op: &Op) -> TestResult {
    let refused = |result: pipeline_deps::Result<()>| -> TestResult<bool> {
        match result {
            Ok(()) => Ok(false),
            Err(Error::AlreadyRegistered { .. }) => Ok(true),
            Err(e) => Err(e.into()),
        }
    };
    match op {
        Op::Register(s, t) => {
            if !refused(registry.register(&name(*s), &spec(*t)))? {
                model.upsert(*s, *t);
            }
        }
        Op::Upsert(s, t) => {
            registry.upsert(&name(*s), &spec(*t))?;
            model.upsert(*s, *t);
        }
        Op::Unregister(s) => {
            registry.unregister(&name(*s))?;
            model.unregister(*s);
        }
        Op::RegisterMany(items) => {
            let items = batch(items);
            if !refused(registry.register_many(specs(&items)).map(drop))? {
                for (s, t) in items {
                    model.upsert(s, t);
                }
            }
        }
        Op::UpsertMany(items) => {
            let items = batch(items);
            registry.upsert_many(specs(&items))?;
            for (s, t) in items {
                model.upsert(s, t);
            }
        }
        Op::Clear => {
            registry.clear()?;
            *model = Model::default();
        }
    }
    Ok(())
}

/// Fails unless every listing of `registry` equals the model.
fn check(registry: &SpecificationRegistry, model: &Model) -> TestResult {
    let names: Vec<String> = model.steps.iter().map(|(s, _)| name(*s)).collect();
    let types: Vec<String> = model.types.iter().map(|t| format!("Type{t}")).collect();
    if registry.list_step_names()? != names {
        return Err("list_step_names differs from the model".into());
    }
    let listed = registry.list_step_types()?;
    if listed != types {
        return Err(format!("list_step_types {listed:?}, model {types:?}").into());
    }
    for t in 0..TYPES {
        let by_type: Vec<String> = registry
            .get_steps_by_type(&format!("Type{t}"))?
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        if by_type != model.names_of(t) {
            return Err(format!("get_steps_by_type(Type{t}) differs from the model").into());
        }
    }
    if registry.step_names_by_type()? != model.grouped() {
        return Err("step_names_by_type differs from the model".into());
    }
    if registry.len()? != model.steps.len() {
        return Err("len differs from the model".into());
    }
    Ok(())
}

#[test]
fn a_type_index_of_many_chunks_equals_a_model_of_the_calls() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let counter = std::cell::Cell::new(0_u32);
    runner
        .run(&prop::collection::vec(op(DRAW), 1..40), |history| {
            let run = || -> TestResult {
                counter.set(counter.get() + 1);
                let path = dir.path().join(format!("h{}.redb", counter.get()));
                let mut model = Model::default();
                {
                    let manager = RegistryManager::open(&path)?;
                    let registry = manager.get_registry("ctx")?;
                    for (at, op) in history.iter().enumerate() {
                        apply(&registry, &mut model, op)?;
                        check(&registry, &model)
                            .map_err(|e| format!("after op {at} ({op:?}): {e}"))?;
                    }
                    let stats = &manager.get_context_stats()?["ctx"];
                    if (stats.step_count, stats.step_type_count)
                        != (model.steps.len(), model.types.len())
                    {
                        return Err("the stats differ from the model".into());
                    }
                }
                let reopened = RegistryManager::open(&path)?;
                check(&reopened.get_registry("ctx")?, &model)
                    .map_err(|e| format!("after reopening: {e}"))?;
                Ok(())
            };
            run().map_err(|e| TestCaseError::fail(e.to_string()))
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Runs `steps` on context `ctx` of a new file, then checks the reopened file against the
/// model they built.
fn on_a_file_then_reopened(
    steps: impl FnOnce(&SpecificationRegistry, &mut Model) -> TestResult,
) -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("reg.redb");
    let mut model = Model::default();
    {
        let manager = RegistryManager::open(&path)?;
        steps(&manager.get_registry("ctx")?, &mut model)?;
    }
    check(&RegistryManager::open(&path)?.get_registry("ctx")?, &model)
        .map_err(|e| format!("after reopening: {e}"))?;
    Ok(())
}

/// Type0 with steps 1 to 4 in chunk 0 and step 5 in chunk 1, then step 0 (registered first,
/// as Type1) moved in and appended to chunk 1 out of position order: a removal's search of
/// Type0's chunks for step 0 finds chunk 0 holds later positions, gives up, and loads the
/// type whole.
fn a_step_moved_in_out_of_order(registry: &SpecificationRegistry, model: &mut Model) -> TestResult {
    apply(registry, model, &Op::Register(0, 1))?;
    for s in 1..6 {
        apply(registry, model, &Op::Register(s, 0))?;
    }
    apply(registry, model, &Op::Upsert(0, 0))
}

/// The in-place removal's cases around an emptied chunk 0, which random histories rarely
/// reach: a type whose chunk 0 lost all its steps while a later chunk holds more keeps its
/// chunk 0 (it holds the type's place), and loses it with its last step; the type then
/// comes back as a new one.
#[test]
fn a_type_keeps_its_emptied_first_chunk_until_its_last_step_goes() -> TestResult {
    on_a_file_then_reopened(|registry, model| {
        // Four steps fill chunk 0 of Type0; the fifth opens its chunk 1.
        for s in 0..5 {
            apply(registry, model, &Op::Register(s, 0))?;
        }
        apply(registry, model, &Op::Register(10, 1))?;
        // Each removal its own transaction, so each is done in place.
        for s in 0..5 {
            apply(registry, model, &Op::Unregister(s))?;
            check(registry, model).map_err(|e| format!("after removing step {s}: {e}"))?;
        }
        apply(registry, model, &Op::Register(20, 0))?;
        check(registry, model)?;
        assert_eq!(registry.list_step_types()?, ["Type1", "Type0"]);
        Ok(())
    })
}

/// A type that loses every step in one batch, through a removal whose search of the type's
/// chunks fails (a step moved into it sits out of order in its last chunk) and so loads
/// the type whole, is gone after the batch, like one emptied a step at a time.
#[test]
fn a_type_emptied_in_one_batch_after_a_whole_load_is_gone() -> TestResult {
    on_a_file_then_reopened(|registry, model| {
        a_step_moved_in_out_of_order(registry, model)?;
        check(registry, model)?;
        // Step 0 first: its search finds chunk 0 holds later positions and gives up.
        let all: Vec<(u8, u8)> = (0..6).map(|s| (s, 2)).collect();
        apply(registry, model, &Op::UpsertMany(all))?;
        check(registry, model)?;
        assert_eq!(registry.list_step_types()?, ["Type2"]);
        Ok(())
    })
}

/// In the same setting, a type that gains a step in the batch after its whole load, and
/// loses every step it had, keeps the new one.
#[test]
fn a_type_loaded_whole_keeps_a_step_it_gains_while_losing_the_others() -> TestResult {
    on_a_file_then_reopened(|registry, model| {
        a_step_moved_in_out_of_order(registry, model)?;
        // Step 0's removal loads Type0 whole; step 10 joins it; the others leave.
        let mut batch = vec![(0, 2), (10, 0)];
        batch.extend((1..6).map(|s| (s, 2)));
        apply(registry, model, &Op::UpsertMany(batch))?;
        check(registry, model)?;
        assert_eq!(registry.list_step_types()?, ["Type0", "Type2"]);
        Ok(())
    })
}

/// Types created in one batch by steps that move (they take no new position themselves)
/// are listed in the order they were created.
#[test]
fn types_created_by_moves_in_one_batch_keep_their_creation_order() -> TestResult {
    let registry = RegistryManager::in_memory()?.get_registry("ctx")?;
    let mut model = Model::default();
    apply(&registry, &mut model, &Op::Register(0, 0))?;
    apply(&registry, &mut model, &Op::Register(1, 0))?;
    apply(&registry, &mut model, &Op::UpsertMany(vec![(0, 2), (1, 1)]))?;
    check(&registry, &model)?;
    assert_eq!(registry.list_step_types()?, ["Type2", "Type1"]);
    Ok(())
}
