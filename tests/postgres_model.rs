//! Invariant: a registry on PostgreSQL behaves as the same registry in a file. Random
//! histories of the reference model's operations (`tests/support/model.rs`: registering,
//! replacing, batches, removals, clearing a context's steps, a context, a view's contexts or
//! a handle's context, JSON and manager imports, through the root and a workspace view) give
//! on PostgreSQL exactly the outcomes the model predicts; run on a file and on PostgreSQL
//! side by side they give the same values, error kinds and messages, and leave the same
//! contexts in creation order, steps in order, specs, counts, step types, revisions,
//! exports (byte for byte) and resolutions, also through resolvers kept across the history.
//! A second manager on the same database (another process) and a read-only one see every
//! commit after each operation, and the second one's handles of a context cleared since
//! return `ContextCleared` for good, writes included.
#![cfg(feature = "postgres")]

#[path = "support/model.rs"]
mod model;
#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use std::collections::HashMap;

use model::{
    Ctx, ErrKind, Executor, Failure, Model, Op, Outcome, SHORT_NAMES, STEPS, VIEWS, fail, spec,
};
use pipeline_deps::{
    DependencySpec, DependencyType, Error, RegistryManager, SemanticMatcher, SpecificationRegistry,
    StepSpecification, UnifiedDependencyResolver,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Cases per test: `PIPELINE_DEPS_PG_MODEL_CASES`, else 24 (twice that for hostile names); the
/// three tests take about 25 s together on the shared 2-core machine (debug build).
fn cases() -> u32 {
    std::env::var("PIPELINE_DEPS_PG_MODEL_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(24)
}

fn ctx() -> impl Strategy<Value = Ctx> {
    (0..VIEWS.len() as u8, 0..SHORT_NAMES.len() as u8).prop_map(|(view, short)| Ctx { view, short })
}

/// A step and a spec of the pools (spec 6 is the invalid one).
fn item() -> impl Strategy<Value = (u8, u8)> {
    (0..STEPS.len() as u8, 0..7_u8)
}

fn items() -> impl Strategy<Value = Vec<(u8, u8)>> {
    proptest::collection::vec(item(), 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => ctx().prop_map(Op::GetRegistry),
        1 => ctx().prop_map(Op::GetRegistryIfExists),
        4 => (ctx(), item()).prop_map(|(c, (s, p))| Op::Register(c, s, p)),
        3 => (ctx(), item()).prop_map(|(c, (s, p))| Op::Upsert(c, s, p)),
        2 => (ctx(), items()).prop_map(|(c, i)| Op::RegisterMany(c, i)),
        2 => (ctx(), items()).prop_map(|(c, i)| Op::UpsertMany(c, i)),
        2 => (ctx(), 0..STEPS.len() as u8).prop_map(|(c, s)| Op::Unregister(c, s)),
        1 => ctx().prop_map(Op::Clear),
        1 => ctx().prop_map(Op::ClearContext),
        1 => ctx().prop_map(Op::ClearContextOf),
        1 => (0..VIEWS.len() as u8).prop_map(Op::ClearAll),
        2 => (ctx(), items(), any::<bool>()).prop_map(|(c, i, r)| Op::ImportJson(c, i, r)),
        2 => (ctx(), items(), any::<bool>()).prop_map(|(c, i, r)| Op::ImportSteps(c, i, r)),
        1 => (ctx(), items()).prop_map(|(c, i)| Op::ImportIntoEmpty(c, i)),
    ]
}

fn history() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..40)
}

/// Runs `check` on `cases()` random histories in a database of the test's own, emptied
/// before each case (`clear_all_contexts`: creating a database per case took half a
/// second); `Ok` without running when there is no PostgreSQL (after the skip notice).
fn run_histories(test: &str, check: impl Fn(&str, &[Op]) -> Result<(), Failure>) -> TestResult {
    let Some(url) = pg_cluster::database(test)? else {
        return Ok(());
    };
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&history(), |ops| {
        let emptied = connect(&url).and_then(|m| lib("clear_all_contexts", m.clear_all_contexts()));
        emptied.map_err(|e| TestCaseError::fail(format!("emptying the database: {e}")))?;
        check(&url, &ops).map_err(|e| TestCaseError::fail(e.to_string()))
    });
    outcome.map_err(|e| format!("{e}").into())
}

fn lib<T>(what: &str, result: pipeline_deps::Result<T>) -> Result<T, Failure> {
    result.map_err(|e| Failure(format!("{what} failed: {e} ({e:?})")))
}

fn connect(url: &str) -> Result<RegistryManager, Failure> {
    lib("connecting", RegistryManager::connect(url))
}

/// Context identities, as the history changes them: a context gets a new incarnation each
/// time it is created, so a handle taken of an older one must be cleared.
#[derive(Default)]
struct Incarnations(HashMap<String, u64>);

impl Incarnations {
    /// Counts the creations and drops between `before` and `after` (one operation never
    /// drops and creates the same context).
    fn update(&mut self, before: &[String], after: &[String]) {
        for name in before.iter().chain(after) {
            if before.contains(name) != after.contains(name) {
                *self.0.entry(name.clone()).or_default() += 1;
            }
        }
    }

    fn current(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }
}

/// Other processes' views of the database: a second manager that only reads, holding a
/// handle of every incarnation of every context it has seen, and a read-only one.
struct Observer {
    manager: RegistryManager,
    reader: RegistryManager,
    held: Vec<(String, u64, SpecificationRegistry)>,
}

impl Observer {
    fn new(url: &str) -> Result<Observer, Failure> {
        Ok(Observer {
            manager: connect(url)?,
            reader: lib(
                "connecting read-only",
                RegistryManager::builder().read_only(true).connect(url),
            )?,
            held: Vec::new(),
        })
    }

    /// After an operation: the whole database reads as the model, every live handle shows
    /// its context's steps, and every handle of an incarnation cleared since refuses reads
    /// and writes with `ContextCleared` (and writes nothing, which the next check would see).
    fn check(&mut self, model: &Model, incarnations: &Incarnations) -> Result<(), Failure> {
        let expected = model.snapshot();
        let actual = model::snapshot(&self.manager)?;
        if actual != expected {
            return fail(format!(
                "the second manager reads\n  {}\nbut the model holds\n  {}",
                model::describe(&actual),
                model::describe(&expected)
            ));
        }
        let read_only = model::snapshot(&self.reader)?;
        if read_only != expected {
            return fail(format!(
                "the read-only manager reads\n  {}\nbut the model holds\n  {}",
                model::describe(&read_only),
                model::describe(&expected)
            ));
        }
        for (name, incarnation, registry) in &self.held {
            let live = expected
                .iter()
                .find(|c| c.name == *name && incarnations.current(name) == *incarnation);
            match live {
                Some(context) => {
                    let steps: Vec<_> = lib("iter", registry.iter())?
                        .map(|(n, s)| (n, (*s).clone()))
                        .collect();
                    let types = lib("list_step_types", registry.list_step_types())?;
                    if steps != context.steps
                        || types != context.types
                        || lib("len", registry.len())? != context.steps.len()
                    {
                        return fail(format!(
                            "the second manager's handle of {name:?} shows {steps:?} {types:?}"
                        ));
                    }
                }
                None => {
                    let attempts = [
                        ("len", registry.len().map(drop)),
                        (
                            "get_specification",
                            registry.get_specification("s0").map(drop),
                        ),
                        ("list_step_names", registry.list_step_names().map(drop)),
                        ("register", registry.register("s0", &spec(0))),
                        (
                            "register_many of nothing",
                            registry
                                .register_many(Vec::<(&str, StepSpecification)>::new())
                                .map(drop),
                        ),
                        ("upsert", registry.upsert("s1", &spec(1))),
                        ("unregister", registry.unregister("s0").map(drop)),
                        ("clear", registry.clear()),
                    ];
                    for (call, result) in attempts {
                        if !matches!(result, Err(Error::ContextCleared { .. })) {
                            return fail(format!(
                                "the second manager's handle of a cleared incarnation of {name:?} gave {result:?} from {call}, not ContextCleared"
                            ));
                        }
                    }
                }
            }
        }
        // Then a handle of every context's current incarnation (taking one of a context
        // created again marks this manager's old handle cleared: they were checked first).
        for context in &expected {
            let incarnation = incarnations.current(&context.name);
            if self
                .held
                .iter()
                .any(|(n, i, _)| *n == context.name && *i == incarnation)
            {
                continue;
            }
            let Some(registry) = lib(
                "get_registry_if_exists",
                self.manager.get_registry_if_exists(&context.name),
            )?
            else {
                return fail(format!("context {:?} is not there", context.name));
            };
            self.held
                .push((context.name.clone(), incarnation, registry));
        }
        // Handles of long-gone incarnations need checking only for a while.
        if self.held.len() > 12 {
            self.held.remove(0);
        }
        Ok(())
    }
}

/// PostgreSQL against the model: every outcome as predicted, the second manager's view
/// after every operation, and the model's full checks (counts equal a recount, isolation
/// between contexts and views) on both managers at the end.
fn against_the_model(url: &str, ops: &[Op]) -> Result<(), Failure> {
    let mut executor = Executor::new(connect(url)?);
    let mut observer = Observer::new(url)?;
    let mut model = Model::default();
    let mut incarnations = Incarnations::default();
    for (at, op) in ops.iter().enumerate() {
        let op = model.normalize(op);
        if executor.normalize(&op) != op {
            return fail(format!(
                "op {at}: the executor's handles differ from the model's at {op:?}"
            ));
        }
        let before = model.context_names();
        let predicted = model.apply(&op);
        let outcome = executor.run(&op);
        if outcome != predicted {
            return fail(format!(
                "op {at}: {op:?} returned {outcome:?}, the model predicted {predicted:?}"
            ));
        }
        incarnations.update(&before, &model.context_names());
        observer
            .check(&model, &incarnations)
            .map_err(|e| Failure(format!("op {at} ({op:?}): {e}")))?;
    }
    let candidates = model::Candidates::new(model);
    model::verify(&executor.root, &candidates, false)?;
    model::verify(&observer.manager, &candidates, false)?;
    Ok(())
}

#[test]
fn random_histories_on_postgres_give_what_the_model_predicts() -> TestResult {
    run_histories("pg_model", against_the_model)
}

/// What a caller sees of a result: the value, or the error's kind and message. Every error
/// these histories cause names its context and step only, never the database, so the
/// messages of both backends must be the same.
fn seen(result: &pipeline_deps::Result<u64>) -> Result<u64, (ErrKind, String)> {
    match result {
        Ok(value) => Ok(*value),
        Err(e) => Err((ErrKind::of(e), e.to_string())),
    }
}

/// What a caller can read of a database, one line per fact, for a readable diff: `full`
/// adds the lookups of every pool step and the listings by type (each a round trip on
/// PostgreSQL, so not after every operation).
fn observe(manager: &RegistryManager, full: bool) -> Result<Vec<String>, Failure> {
    let mut lines = Vec::new();
    let contexts = lib("list_contexts", manager.list_contexts())?;
    lines.push(format!("contexts {contexts:?}"));
    lines.push(format!(
        "stats {:?}",
        lib("get_context_stats", manager.get_context_stats())?
    ));
    for view in VIEWS.iter().filter(|v| !v.is_empty()) {
        let ws = manager.workspace(view);
        lines.push(format!(
            "view {view:?} contexts {:?} stats {:?}",
            lib("workspace list_contexts", ws.list_contexts())?,
            lib("workspace get_context_stats", ws.get_context_stats())?
        ));
    }
    let wanted = DependencySpec::new("any", DependencyType::ModelArtifacts);
    for name in &contexts {
        let Some(registry) = lib(
            "get_registry_if_exists",
            manager.get_registry_if_exists(name),
        )?
        else {
            return fail(format!("listed context {name:?} does not exist"));
        };
        let at = |what: &str| format!("context {name:?} {what}");
        lines.push(format!(
            "{} {:?}",
            at("names"),
            lib("list_step_names", registry.list_step_names())?
        ));
        for (step, spec) in lib("iter", registry.iter())? {
            lines.push(format!("{} {step:?} = {spec:?}", at("step")));
        }
        let types = lib("list_step_types", registry.list_step_types())?;
        lines.push(format!("{} {types:?}", at("types")));
        lines.push(format!(
            "{} {}",
            at("revision"),
            lib("revision", registry.revision())?
        ));
        lines.push(format!(
            "{}\n{}",
            at("export"),
            lib("export_json", registry.export_json())?
        ));
        if !full {
            continue;
        }
        for step_type in &types {
            let of_type: Vec<String> = lib(
                "get_specifications_by_type",
                registry.get_specifications_by_type(step_type),
            )?
            .into_iter()
            .map(|s| format!("{s:?}"))
            .collect();
            lines.push(format!("{} {step_type:?}: {of_type:?}", at("by type")));
        }
        for step in STEPS {
            lines.push(format!(
                "{} {step:?}: {:?} {:?}",
                at("lookup"),
                lib("contains", registry.contains(step))?,
                lib("get_specification", registry.get_specification(step))?
                    .map(|s| s.step_type.clone())
            ));
        }
        lines.push(format!(
            "{} {} {}",
            at("len, is_empty"),
            lib("len", registry.len())?,
            lib("is_empty", registry.is_empty())?
        ));
        let compatible: Vec<String> = lib(
            "find_compatible_outputs",
            registry.find_compatible_outputs(&wanted),
        )?
        .into_iter()
        .map(|c| format!("{}.{} {}", c.step_name, c.output_name, c.score))
        .collect();
        lines.push(format!("{} {compatible:?}", at("compatible outputs")));
        let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());
        lines.push(format!("{} {}", at("resolution"), resolution(&resolver)));
    }
    Ok(lines)
}

/// A resolver's answers over the whole step pool, as JSON (or the error's kind and message).
fn resolution(resolver: &UnifiedDependencyResolver) -> String {
    fn shown<T: serde::Serialize>(result: pipeline_deps::Result<T>) -> String {
        match result {
            Ok(value) => serde_json::to_string(&value).unwrap_or_else(|e| e.to_string()),
            Err(e) => format!("{:?}: {e}", ErrKind::of(&e)),
        }
    }
    format!(
        "{} {}",
        shown(resolver.resolve_all_dependencies(&STEPS)),
        shown(resolver.resolve_with_scoring("s1", &STEPS))
    )
}

/// The first line where two observations differ.
fn first_difference(file: &[String], pg: &[String]) -> Option<String> {
    let at = file.iter().zip(pg).position(|(a, b)| a != b);
    match at {
        Some(i) => Some(format!("file:       {}\npostgresql: {}", file[i], pg[i])),
        None if file.len() != pg.len() => Some(format!(
            "file has {} lines, postgresql {}; the extra one: {:?}",
            file.len(),
            pg.len(),
            file.get(pg.len()).or(pg.get(file.len()))
        )),
        None => None,
    }
}

/// A resolver of each backend over the same context, kept across the history: both follow
/// every write, and once the context is cleared both fail the same way.
struct ResolverPair {
    name: String,
    incarnation: u64,
    file: UnifiedDependencyResolver,
    pg: UnifiedDependencyResolver,
}

/// The same history on a temporary file and on PostgreSQL: the same result of every
/// operation (values, error kinds and messages), and after every operation the same
/// observation of each, the same answers from resolvers kept since their context's
/// creation, and the model's prediction and second-manager checks on the PostgreSQL side.
fn file_against_postgres(url: &str, ops: &[Op]) -> Result<(), Failure> {
    let mut file = Executor::new(lib("temporary", RegistryManager::temporary())?);
    let mut pg = Executor::new(connect(url)?);
    let mut observer = Observer::new(url)?;
    let mut model = Model::default();
    let mut incarnations = Incarnations::default();
    let mut resolvers: Vec<ResolverPair> = Vec::new();
    for (at, op) in ops.iter().enumerate() {
        let op = model.normalize(op);
        if file.normalize(&op) != op || pg.normalize(&op) != op {
            return fail(format!("op {at}: the executors' handles differ at {op:?}"));
        }
        let before = model.context_names();
        let predicted = model.apply(&op);
        let on_file = seen(&file.run_result(&op));
        let on_pg = seen(&pg.run_result(&op));
        if on_file != on_pg {
            return fail(format!(
                "op {at}: {op:?} gave\n  on a file:       {on_file:?}\n  on PostgreSQL:   {on_pg:?}"
            ));
        }
        let outcome = match &on_pg {
            Ok(value) => Outcome::Ok(*value),
            Err((kind, _)) => Outcome::Err(*kind),
        };
        if outcome != predicted {
            return fail(format!(
                "op {at}: {op:?} returned {outcome:?} on both, the model predicted {predicted:?}"
            ));
        }
        incarnations.update(&before, &model.context_names());
        let full = at + 1 == ops.len() || at % 8 == 7;
        let (file_view, pg_view) = (observe(&file.root, full)?, observe(&pg.root, full)?);
        if let Some(difference) = first_difference(&file_view, &pg_view) {
            return fail(format!(
                "after op {at} ({op:?}) the backends differ:\n{difference}"
            ));
        }
        for name in model.context_names() {
            let incarnation = incarnations.current(&name);
            if resolvers
                .iter()
                .any(|r| r.name == name && r.incarnation == incarnation)
            {
                continue;
            }
            let registry = |m: &RegistryManager| -> Result<SpecificationRegistry, Failure> {
                lib("get_registry_if_exists", m.get_registry_if_exists(&name))?
                    .ok_or_else(|| Failure(format!("context {name:?} is missing")))
            };
            resolvers.push(ResolverPair {
                name: name.clone(),
                incarnation,
                file: UnifiedDependencyResolver::new(
                    registry(&file.root)?,
                    SemanticMatcher::default(),
                ),
                pg: UnifiedDependencyResolver::new(registry(&pg.root)?, SemanticMatcher::default()),
            });
        }
        if resolvers.len() > 8 {
            resolvers.remove(0);
        }
        for pair in &resolvers {
            let (on_file, on_pg) = (resolution(&pair.file), resolution(&pair.pg));
            if on_file != on_pg {
                return fail(format!(
                    "after op {at} ({op:?}) the kept resolvers of {:?} differ:\n  file:       {on_file}\n  postgresql: {on_pg}",
                    pair.name
                ));
            }
        }
        observer
            .check(&model, &incarnations)
            .map_err(|e| Failure(format!("op {at} ({op:?}): {e}")))?;
    }
    Ok(())
}

#[test]
fn random_histories_give_the_same_results_on_a_file_and_on_postgres() -> TestResult {
    run_histories("pg_vs_file", file_against_postgres)
}

/// A name for the hostile-names test: ordinary, unicode, blank, with separators, with
/// control characters or NUL (which PostgreSQL's `text` cannot hold), or about the length
/// limit of 1,024 bytes.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,3}",
        2 => "\\PC{1,8}",
        1 => Just(String::new()),
        1 => Just("  ".to_owned()),
        1 => Just("ws::a".to_owned()),
        1 => "[a-z]{0,2}[\\x00\\x01\\n\\x7f\\u{85}\\u{202e}][a-z]{0,2}",
        1 => (1020_usize..1030).prop_map(|n| "é".repeat(n / 2)),
    ]
}

/// What each call of a short script over hostile names gives on one backend.
fn names_script(manager: &RegistryManager, names: &[String]) -> Vec<String> {
    fn shown<T: std::fmt::Debug>(result: pipeline_deps::Result<T>) -> String {
        match result {
            Ok(value) => format!("{value:?}"),
            Err(e) => format!("{:?}: {e}", ErrKind::of(&e)),
        }
    }
    let mut out = Vec::new();
    let at = |i: usize| names[i % names.len()].as_str();
    for round in 0..names.len() {
        let (context, step, step_type) = (at(round), at(round + 1), at(round + 2));
        out.push(shown(
            manager.get_registry_if_exists(context).map(|r| r.is_some()),
        ));
        let registry = match manager.get_registry(context) {
            Ok(registry) => registry,
            Err(e) => {
                out.push(shown::<()>(Err(e)));
                continue;
            }
        };
        let typed = StepSpecification {
            step_type: step_type.to_owned(),
            ..spec(round)
        };
        out.push(shown(registry.register(step, &typed)));
        out.push(shown(registry.upsert(step_type, &spec(round + 1))));
        out.push(shown(registry.get_specification(step)));
        out.push(shown(registry.contains(step)));
        out.push(shown(registry.contains(context)));
        out.push(shown(registry.get_specifications_by_type(step_type)));
        out.push(shown(registry.list_step_types()));
        out.push(shown(registry.list_step_names()));
        out.push(shown(registry.export_json()));
        out.push(shown(registry.unregister(context)));
        out.push(shown(manager.get_context_stats()));
        if round % 2 == 1 {
            out.push(shown(manager.clear_context(step)));
        }
    }
    out.push(shown(manager.list_contexts()));
    out
}

#[test]
fn hostile_names_give_the_same_results_on_a_file_and_on_postgres() -> TestResult {
    let Some(url) = pg_cluster::database("pg_names")? else {
        return Ok(());
    };
    let mut runner = TestRunner::new(Config {
        cases: cases() * 2,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&proptest::collection::vec(name(), 1..5), |names| {
        let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
        let pg = connect(&url).map_err(|e| fail(&e))?;
        pg.clear_all_contexts().map_err(|e| fail(&e))?;
        let file = RegistryManager::temporary().map_err(|e| fail(&e))?;
        let (on_file, on_pg) = (names_script(&file, &names), names_script(&pg, &names));
        match first_difference(&on_file, &on_pg) {
            Some(difference) => Err(TestCaseError::fail(difference)),
            None => Ok(()),
        }
    });
    outcome.map_err(|e| format!("{e}").into())
}
