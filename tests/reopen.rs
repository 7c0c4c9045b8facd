//! Durability across restarts: contexts, specs, orders and counts survive dropping the
//! manager and reopening the file, and a random history of operations read back after any
//! number of reopens equals an in-memory model of it.

mod common;

use common::{TestResult, real_specs, spec};
use pipeline_deps::storage::SCHEMA_VERSION;
use pipeline_deps::{Error, RegistryManager};
use proptest::prelude::*;

#[test]
fn everything_survives_drop_and_reopen() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let specs = real_specs()?;
    {
        let manager = RegistryManager::open(&path)?;
        let training = manager.get_registry("training")?;
        for (name, spec) in specs.iter().take(10) {
            training.register(name, spec)?;
        }
        training.upsert(&specs[0].0, &specs[20].1)?;
        training.unregister(&specs[1].0)?;
        manager.get_registry("cleared")?.register("x", &spec("X"))?;
        manager.clear_context("cleared")?;
        manager
            .workspace("ws")
            .get_registry("inner")?
            .register("y", &spec("Y"))?;
        manager.get_registry("empty")?;
    }
    let manager = RegistryManager::open(&path)?;
    assert_eq!(manager.list_contexts()?, ["training", "ws::inner", "empty"]);
    let training = manager.get_registry("training")?;
    let mut expected_names: Vec<&str> = specs.iter().take(10).map(|(n, _)| n.as_str()).collect();
    expected_names.remove(1);
    assert_eq!(training.list_step_names()?, expected_names);
    assert_eq!(
        training.get_specification(&specs[0].0)?.as_deref(),
        Some(&specs[20].1)
    );
    for (name, spec) in specs.iter().take(10).skip(2) {
        assert_eq!(training.get_specification(name)?.as_deref(), Some(spec));
    }
    let stats = manager.get_context_stats()?;
    assert_eq!(stats["training"].step_count, 9);
    assert_eq!(
        stats["training"].step_type_count,
        training.list_step_types()?.len()
    );
    assert_eq!(stats["ws::inner"].step_count, 1);
    assert_eq!(stats["empty"].step_count, 0);
    assert!(manager.get_registry_if_exists("cleared")?.is_none());
    Ok(())
}

#[test]
fn a_file_from_a_newer_schema_is_refused() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("future.redb");
    drop(RegistryManager::open(&path)?);
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut meta: redb::Table<&str, u64> =
                txn.open_table(redb::TableDefinition::new("pipeline_deps.meta"))?;
            meta.insert("schema_version", SCHEMA_VERSION + 1)?;
        }
        txn.commit()?;
    }
    for result in [
        RegistryManager::open(&path),
        RegistryManager::open_read_only(&path),
    ] {
        let Err(error) = result else {
            panic!("a newer schema was opened");
        };
        assert!(
            matches!(
                error,
                Error::SchemaTooNew { found, supported, .. }
                    if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("upgrade pipeline-deps"),
            "{error}"
        );
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Register(usize, usize, usize),
    Upsert(usize, usize, usize),
    Unregister(usize, usize),
    Clear(usize),
    ClearContext(usize),
    ClearAll,
    Reopen,
}

const CONTEXTS: [&str; 3] = ["alpha", "ws::beta", "gamma"];
const STEPS: [&str; 4] = ["s0", "s1", "s2", "s3"];
const TYPES: [&str; 3] = ["T0", "T1", "T2"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..4usize, 0..3usize).prop_map(|(c, s, t)| Op::Register(c, s, t)),
        3 => (0..3usize, 0..4usize, 0..3usize).prop_map(|(c, s, t)| Op::Upsert(c, s, t)),
        2 => (0..3usize, 0..4usize).prop_map(|(c, s)| Op::Unregister(c, s)),
        1 => (0..3usize).prop_map(Op::Clear),
        1 => (0..3usize).prop_map(Op::ClearContext),
        1 => Just(Op::ClearAll),
        2 => Just(Op::Reopen),
    ]
}

/// The model: per context (in creation order), steps in registration order with their type.
#[derive(Debug, Default)]
struct Model {
    contexts: Vec<(String, Vec<(String, String)>)>,
}

impl Model {
    fn context(&mut self, name: &str) -> &mut Vec<(String, String)> {
        if let Some(i) = self.contexts.iter().position(|(n, _)| n == name) {
            &mut self.contexts[i].1
        } else {
            self.contexts.push((name.to_owned(), Vec::new()));
            let last = self.contexts.len() - 1;
            &mut self.contexts[last].1
        }
    }
}

fn check(manager: &RegistryManager, model: &Model) -> TestResult {
    let names: Vec<&str> = model.contexts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(manager.list_contexts()?, names);
    let stats = manager.get_context_stats()?;
    for (name, steps) in &model.contexts {
        let registry = manager.get_registry(name)?;
        let stored: Vec<(String, String)> = registry
            .iter()?
            .map(|(step, spec)| (step, spec.step_type.clone()))
            .collect();
        assert_eq!(&stored, steps, "context {name}");
        let mut types: Vec<String> = Vec::new();
        for (_, t) in steps {
            if !types.contains(t) {
                types.push(t.clone());
            }
        }
        let mut listed = registry.list_step_types()?;
        listed.sort();
        types.sort();
        assert_eq!(listed, types, "types of {name}");
        assert_eq!(stats[name].step_count, steps.len(), "recount of {name}");
        assert_eq!(
            stats[name].step_type_count,
            types.len(),
            "type recount of {name}"
        );
        // Isolation: every stored spec is one this context registered.
        for (step, spec) in registry.iter()? {
            assert!(
                steps
                    .iter()
                    .any(|(s, t)| *s == step && *t == spec.step_type)
            );
        }
    }
    Ok(())
}

fn run(ops: Vec<Op>) -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("model.redb");
    let mut manager = RegistryManager::open(&path)?;
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Register(c, s, t) => {
                let registry = manager.get_registry(CONTEXTS[c])?;
                let steps = model.context(CONTEXTS[c]);
                let result = registry.register(STEPS[s], &spec(TYPES[t]));
                if steps.iter().any(|(n, _)| n == STEPS[s]) {
                    assert!(matches!(result, Err(Error::AlreadyRegistered { .. })));
                } else {
                    result?;
                    steps.push((STEPS[s].to_owned(), TYPES[t].to_owned()));
                }
            }
            Op::Upsert(c, s, t) => {
                manager
                    .get_registry(CONTEXTS[c])?
                    .upsert(STEPS[s], &spec(TYPES[t]))?;
                let steps = model.context(CONTEXTS[c]);
                match steps.iter_mut().find(|(n, _)| n == STEPS[s]) {
                    Some(entry) => entry.1 = TYPES[t].to_owned(),
                    None => steps.push((STEPS[s].to_owned(), TYPES[t].to_owned())),
                }
            }
            Op::Unregister(c, s) => {
                let removed = manager.get_registry(CONTEXTS[c])?.unregister(STEPS[s])?;
                let steps = model.context(CONTEXTS[c]);
                let before = steps.len();
                steps.retain(|(n, _)| n != STEPS[s]);
                assert_eq!(removed, before != steps.len());
            }
            Op::Clear(c) => {
                manager.get_registry(CONTEXTS[c])?.clear()?;
                model.context(CONTEXTS[c]).clear();
            }
            Op::ClearContext(c) => {
                let existed = model.contexts.iter().any(|(n, _)| n == CONTEXTS[c]);
                assert_eq!(manager.clear_context(CONTEXTS[c])?, existed);
                model.contexts.retain(|(n, _)| n != CONTEXTS[c]);
            }
            Op::ClearAll => {
                assert_eq!(manager.clear_all_contexts()?, model.contexts.len());
                model.contexts.clear();
            }
            Op::Reopen => {
                drop(manager);
                manager = RegistryManager::open(&path)?;
                check(&manager, &model)?;
            }
        }
    }
    check(&manager, &model)?;
    drop(manager);
    check(&RegistryManager::open(&path)?, &model)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_read_back_as_the_model_across_reopens(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
