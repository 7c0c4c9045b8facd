//! A database written by schema version 1 (the frozen file `migrations/v1/registry.redb`)
//! still opens with this build, read-write and read-only, and reads back every detail that
//! was written: contexts in creation order (a workspace context, a cleared-and-recreated
//! one, a `clear()`ed one, one never written), step names in registration order, step types
//! in first-seen order after an upsert that changed a type and an unregister, every spec
//! equal to the real cursus spec it came from, the catalog statistics and revisions.
//!
//! The tests work on copies and never write the frozen file; one checks that its bytes are
//! still the committed ones. Any change to the stored format must come with a migration step
//! in `src/store/migrate.rs` that keeps these tests green (see `migrations/README.md`).
//! `regenerate_v1_fixture` (ignored) is how the file was made.

use std::path::{Path, PathBuf};

use pipeline_deps::{Error, ImportOptions, RegistryManager, SCHEMA_VERSION, StepSpecification};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const FIXTURE_DB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v1/registry.redb");
const SPECS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/fixtures/cursus-step-specs.json"
);

/// Size and FNV-1a 64 hash of the committed `migrations/v1/registry.redb`.
const FROZEN_LEN: u64 = 212_992;
const FROZEN_FNV1A: u64 = 0x7258_77cf_4300_b8d4;

/// Where a stored step's spec comes from: a fixture step, optionally a job-type variant.
type Source = (&'static str, Option<&'static str>);

/// The steps of one context: explicit, or all 61 fixture steps under their own names.
enum Steps {
    Listed(&'static [(&'static str, Source)]),
    WholeFixture,
}

struct Expected {
    name: &'static str,
    steps: Steps,
    /// Step types in first-seen order; `None` means "each step's own type, in step order".
    types: Option<&'static [&'static str]>,
    revision: u64,
}

/// Every context of the v1 fixture, in creation order.
const EXPECTED: [Expected; 8] = [
    Expected {
        name: "fraud_detection_training",
        steps: Steps::Listed(&[
            ("data_loading", ("CradleDataLoading", Some("training"))),
            ("feature_engineering", ("TabularPreprocessing", None)),
            ("model_training", ("XGBoostTraining", None)),
            ("packaging", ("Package", None)),
        ]),
        types: Some(&[
            "CradleDataLoading",
            "XGBoostTraining",
            "TabularPreprocessing",
            "Package",
        ]),
        revision: 4,
    },
    Expected {
        name: "fraud_detection_inference",
        steps: Steps::Listed(&[
            ("model_loading", ("XGBoostModel", None)),
            ("batch_transform", ("BatchTransform", None)),
            ("payload", ("Payload", None)),
            ("registration", ("Registration", None)),
        ]),
        types: Some(&["XGBoostModel", "BatchTransform", "Payload", "Registration"]),
        revision: 5,
    },
    Expected {
        name: "ws::experiments",
        steps: Steps::Listed(&[
            ("lgbm_a", ("LightGBMTraining", None)),
            ("lgbm_b", ("LightGBMTraining", None)),
            ("eval", ("LightGBMModelEval", None)),
        ]),
        types: Some(&["LightGBMTraining", "LightGBMModelEval"]),
        revision: 1,
    },
    Expected {
        name: "registry_cleared",
        steps: Steps::Listed(&[]),
        types: Some(&[]),
        revision: 4,
    },
    Expected {
        name: "recreated",
        steps: Steps::Listed(&[]),
        types: Some(&[]),
        revision: 0,
    },
    Expected {
        name: "all_cursus_specs",
        steps: Steps::WholeFixture,
        types: None,
        revision: 1,
    },
    Expected {
        name: "ünïcödé pipeline/v1 ✓",
        steps: Steps::Listed(&[("mock source", ("DummyDataLoading", None))]),
        types: Some(&["DummyDataLoading"]),
        revision: 1,
    },
    Expected {
        name: "never_written",
        steps: Steps::Listed(&[]),
        types: Some(&[]),
        revision: 0,
    },
];

/// The `next_context_id` the file holds: ten contexts were created, two of them deleted.
const NEXT_CONTEXT_ID: u64 = 11;

/// The real specs, parsed once per variant.
struct Specs {
    text: String,
    base: Vec<(String, StepSpecification)>,
}

impl Specs {
    fn load() -> TestResult<Specs> {
        let text = std::fs::read_to_string(SPECS)?;
        let base = pipeline_deps::parse_steps_json(&text, &ImportOptions::default())?;
        Ok(Specs { text, base })
    }

    fn get(&self, (step, variant): Source) -> TestResult<StepSpecification> {
        let parsed;
        let list = match variant {
            None => &self.base,
            Some(job) => {
                parsed = pipeline_deps::parse_steps_json(
                    &self.text,
                    &ImportOptions::new().variant(job),
                )?;
                &parsed
            }
        };
        list.iter()
            .find(|(name, _)| name == step)
            .map(|(_, spec)| spec.clone())
            .ok_or_else(|| format!("the fixture has no step {step}").into())
    }

    /// `(step name, spec)` of an expected context, in registration order.
    fn steps_of(&self, expected: &Expected) -> TestResult<Vec<(String, StepSpecification)>> {
        match &expected.steps {
            Steps::WholeFixture => Ok(self.base.clone()),
            Steps::Listed(steps) => steps
                .iter()
                .map(|(name, source)| Ok(((*name).to_owned(), self.get(*source)?)))
                .collect(),
        }
    }
}

/// A copy of the frozen fixture in a new temporary directory.
fn copy_fixture() -> TestResult<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    std::fs::copy(FIXTURE_DB, &path)?;
    Ok((dir, path))
}

/// Checks every detail of the v1 content through `manager`.
fn check_content(manager: &RegistryManager, specs: &Specs) -> TestResult {
    let names: Vec<&str> = EXPECTED.iter().map(|e| e.name).collect();
    assert_eq!(
        manager.list_contexts()?,
        names,
        "contexts in creation order"
    );
    assert_eq!(manager.workspace("ws").list_contexts()?, ["experiments"]);
    assert!(manager.get_registry_if_exists("temp_deleted")?.is_none());

    let stats = manager.get_context_stats()?;
    assert_eq!(stats.keys().map(String::as_str).collect::<Vec<_>>(), names);

    for expected in &EXPECTED {
        let name = expected.name;
        let registry = manager
            .get_registry_if_exists(name)?
            .ok_or_else(|| format!("context {name} is missing"))?;
        assert_eq!(registry.context_name(), name);
        let steps = specs.steps_of(expected)?;
        let step_names: Vec<&str> = steps.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            registry.list_step_names()?,
            step_names,
            "{name}: step order"
        );

        let types: Vec<String> = match expected.types {
            Some(types) => types.iter().map(|t| (*t).to_owned()).collect(),
            None => steps.iter().map(|(_, s)| s.step_type.clone()).collect(),
        };
        assert_eq!(registry.list_step_types()?, types, "{name}: type order");

        let stat = &stats[name];
        assert_eq!(stat.step_count, steps.len(), "{name}: step_count");
        assert_eq!(stat.step_type_count, types.len(), "{name}: step_type_count");
        assert_eq!(stat.registry_type, "SpecificationRegistry");
        assert_eq!(registry.len()?, steps.len(), "{name}: len");
        assert_eq!(registry.is_empty()?, steps.is_empty(), "{name}: is_empty");
        assert_eq!(registry.revision()?, expected.revision, "{name}: revision");

        for (step, spec) in &steps {
            let stored = registry
                .get_specification(step)?
                .ok_or_else(|| format!("{name}: step {step} is missing"))?;
            assert_eq!(*stored, *spec, "{name}: spec of {step}");
            assert!(registry.contains(step)?);
        }
        let all: Vec<(String, StepSpecification)> = registry
            .iter()?
            .map(|(n, s)| (n, StepSpecification::clone(&s)))
            .collect();
        assert_eq!(all, steps, "{name}: iter");
        for step_type in &types {
            let by_type: Vec<StepSpecification> = registry
                .get_specifications_by_type(step_type)?
                .iter()
                .map(|s| StepSpecification::clone(s))
                .collect();
            let wanted: Vec<StepSpecification> = steps
                .iter()
                .filter(|(_, s)| &s.step_type == step_type)
                .map(|(_, s)| s.clone())
                .collect();
            assert_eq!(by_type, wanted, "{name}: steps of type {step_type}");
        }
    }

    // What was replaced, unregistered or cleared left nothing behind.
    let training = manager.get_registry_if_exists("fraud_detection_training")?;
    let training = training.ok_or("training context missing")?;
    assert!(!training.contains("model_eval")?);
    assert!(training.get_specification("model_eval")?.is_none());
    assert!(
        training
            .get_specifications_by_type("RiskTableMapping")?
            .is_empty()
    );
    assert!(
        training
            .get_specifications_by_type("XGBoostModelEval")?
            .is_empty()
    );
    let recreated = manager.get_registry_if_exists("recreated")?;
    let recreated = recreated.ok_or("recreated context missing")?;
    assert!(recreated.get_specification("sampling")?.is_none());
    assert!(
        recreated
            .get_specifications_by_type("StratifiedSampling")?
            .is_empty()
    );
    let cleared = manager.get_registry_if_exists("registry_cleared")?;
    let cleared = cleared.ok_or("registry_cleared context missing")?;
    assert!(cleared.get_specification("imputation")?.is_none());
    assert!(cleared.iter()?.next().is_none());
    Ok(())
}

/// The schema version and next context id stored in a (closed) database file, read with
/// redb directly.
fn raw_meta(path: &Path) -> TestResult<(Option<u64>, Option<u64>, Vec<String>)> {
    use redb::{ReadableDatabase, TableDefinition, TableHandle};
    const META: TableDefinition<&str, u64> = TableDefinition::new("pipeline_deps.meta");
    let db = redb::ReadOnlyDatabase::open(path)?;
    let txn = db.begin_read()?;
    let meta = txn.open_table(META)?;
    let version = meta.get("schema_version")?.map(|v| v.value());
    let next_id = meta.get("next_context_id")?.map(|v| v.value());
    let mut tables: Vec<String> = txn.list_tables()?.map(|t| t.name().to_owned()).collect();
    tables.sort();
    Ok((version, next_id, tables))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn the_frozen_file_is_the_committed_one() -> TestResult {
    let bytes = std::fs::read(FIXTURE_DB)?;
    assert_eq!(
        (bytes.len() as u64, fnv1a(&bytes)),
        (FROZEN_LEN, FROZEN_FNV1A),
        "migrations/v1/registry.redb changed; it is frozen: restore it with `git checkout migrations/v1/registry.redb`"
    );
    Ok(())
}

#[test]
fn the_v1_file_has_schema_version_1_and_the_v1_table_layout() -> TestResult {
    let (_dir, path) = copy_fixture()?;
    let (version, next_id, tables) = raw_meta(&path)?;
    assert_eq!(version, Some(1));
    assert_eq!(next_id, Some(NEXT_CONTEXT_ID));
    // Only the contexts that hold data have tables; deleted and cleared ones left none.
    let mut expected = vec![
        "pipeline_deps.catalog".to_owned(),
        "pipeline_deps.meta".to_owned(),
    ];
    for id in [1, 2, 3, 8, 9] {
        for table in ["order", "specs", "type_order", "types"] {
            expected.push(format!("pipeline_deps.ctx.{id}.{table}"));
        }
    }
    expected.sort();
    assert_eq!(tables, expected);
    Ok(())
}

#[test]
fn the_v1_file_reads_back_every_detail() -> TestResult {
    let specs = Specs::load()?;
    let (_dir, path) = copy_fixture()?;
    let manager = RegistryManager::open(&path)?;
    check_content(&manager, &specs)?;
    drop(manager);
    let (version, _, _) = raw_meta(&path)?;
    assert_eq!(
        version,
        Some(SCHEMA_VERSION),
        "opening upgrades to the current schema"
    );
    // And again after the upgrade (if any) was committed.
    check_content(&RegistryManager::open(&path)?, &specs)
}

#[test]
fn the_v1_file_reads_back_every_detail_read_only() -> TestResult {
    let specs = Specs::load()?;
    let (_dir, path) = copy_fixture()?;
    let manager = RegistryManager::open_read_only(&path)?;
    assert!(manager.is_read_only());
    check_content(&manager, &specs)?;
    let err = manager.get_registry("new_context");
    assert!(matches!(err, Err(Error::ReadOnly { .. })), "{err:?}");
    drop(manager);
    let (version, _, _) = raw_meta(&path)?;
    assert_eq!(version, Some(1), "a read-only open changes nothing");
    Ok(())
}

#[test]
fn the_v1_file_accepts_writes_without_disturbing_old_data() -> TestResult {
    let specs = Specs::load()?;
    let (_dir, path) = copy_fixture()?;
    let extra = specs.get(("XGBoostModelEval", None))?;
    {
        let manager = RegistryManager::open(&path)?;
        // A new context gets a fresh id: it is last and empty, although ids of deleted
        // contexts once had tables.
        let fresh = manager.get_registry("after_upgrade")?;
        assert!(fresh.is_empty()?);
        fresh.register("model_eval", &extra)?;
        let mut names: Vec<&str> = EXPECTED.iter().map(|e| e.name).collect();
        names.push("after_upgrade");
        assert_eq!(manager.list_contexts()?, names);
        // A context that was cleared takes new steps from the start of the order.
        let cleared = manager.get_registry("registry_cleared")?;
        cleared.register("model_eval", &extra)?;
        assert_eq!(cleared.list_step_names()?, ["model_eval"]);
        assert_eq!(cleared.list_step_types()?, ["XGBoostModelEval"]);
        cleared.unregister("model_eval")?;
        cleared.clear()?;
        manager.clear_context("after_upgrade")?;
    }
    let manager = RegistryManager::open(&path)?;
    let (names, stats) = (manager.list_contexts()?, manager.get_context_stats()?);
    assert_eq!(names, EXPECTED.iter().map(|e| e.name).collect::<Vec<_>>());
    assert_eq!(stats["registry_cleared"].step_count, 0);
    assert_eq!(stats["all_cursus_specs"].step_count, specs.base.len());
    Ok(())
}

/// Writes `migrations/v1/registry.redb`. It was run once, with schema version 1, and the
/// file committed; it refuses to overwrite the frozen file unless
/// `PIPELINE_DEPS_REGENERATE_V1=1` is set, and refuses to run at all once the schema is
/// past version 1 (it would write the new format under the old name).
///
/// `cargo test --test migrations -- --ignored regenerate_v1_fixture`
#[test]
#[ignore = "writes the frozen schema-v1 fixture; run by hand only"]
fn regenerate_v1_fixture() -> TestResult {
    assert_eq!(
        SCHEMA_VERSION, 1,
        "this generator writes schema version 1 only"
    );
    let target = Path::new(FIXTURE_DB);
    let overwrite = std::env::var_os("PIPELINE_DEPS_REGENERATE_V1").is_some_and(|v| v == "1");
    let dir = tempfile::tempdir()?;
    let fresh = dir.path().join("registry.redb");
    write_v1_content(&fresh)?;
    check_content(&RegistryManager::open_read_only(&fresh)?, &Specs::load()?)?;
    let bytes = std::fs::read(&fresh)?;
    println!(
        "generated {} bytes, FNV-1a {:#018x}",
        bytes.len(),
        fnv1a(&bytes)
    );
    if target.exists() && !overwrite {
        let same = std::fs::read(target)? == bytes;
        println!(
            "{} exists and is frozen (byte-identical to this run: {same}); set PIPELINE_DEPS_REGENERATE_V1=1 to replace it",
            target.display()
        );
        return Ok(());
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(target, &bytes)?;
    println!(
        "wrote {}; update FROZEN_LEN and FROZEN_FNV1A",
        target.display()
    );
    Ok(())
}

/// The operations that made the v1 fixture, in order. Context ids: 1 training,
/// 2 inference, 3 ws::experiments, 4 temp_deleted, 5 recreated (deleted), 6
/// registry_cleared, 7 recreated, 8 all_cursus_specs, 9 unicode, 10 never_written.
fn write_v1_content(path: &Path) -> TestResult {
    let specs = Specs::load()?;
    let spec = |step: &'static str| specs.get((step, None));
    let manager = RegistryManager::open(path)?;

    // 1. Registered in one transaction, then a type-changing upsert, an unregister and a
    //    later registration.
    let training = manager.get_registry("fraud_detection_training")?;
    let (cradle, risk) = (
        specs.get(("CradleDataLoading", Some("training")))?,
        specs.get(("RiskTableMapping", Some("training")))?,
    );
    let (xgb, eval) = (spec("XGBoostTraining")?, spec("XGBoostModelEval")?);
    training.register_many([
        ("data_loading", &cradle),
        ("feature_engineering", &risk),
        ("model_training", &xgb),
        ("model_eval", &eval),
    ])?;
    training.upsert("feature_engineering", &spec("TabularPreprocessing")?)?;
    assert!(training.unregister("model_eval")?);
    training.register("packaging", &spec("Package")?)?;

    // 2. One at a time, with an upsert that keeps the type (testing variant -> base spec).
    let inference = manager.get_registry("fraud_detection_inference")?;
    inference.register("model_loading", &spec("XGBoostModel")?)?;
    inference.register(
        "batch_transform",
        &specs.get(("BatchTransform", Some("testing")))?,
    )?;
    inference.upsert("batch_transform", &spec("BatchTransform")?)?;
    inference.register("payload", &spec("Payload")?)?;
    inference.register("registration", &spec("Registration")?)?;

    // 3. A workspace context; two steps share a type.
    let lgbm = spec("LightGBMTraining")?;
    manager
        .workspace("ws")
        .get_registry("experiments")?
        .register_many([
            ("lgbm_a", &lgbm),
            ("lgbm_b", &lgbm),
            ("eval", &spec("LightGBMModelEval")?),
        ])?;

    // 4-7. A context deleted for good, one deleted and created again, one emptied by
    //      `clear()`.
    let deleted = manager.get_registry("temp_deleted")?;
    deleted.register("loader", &spec("RedshiftDataLoading")?)?;
    deleted.register("upload", &spec("DataUploading")?)?;
    let recreated = manager.get_registry("recreated")?;
    recreated.register("sampling", &spec("StratifiedSampling")?)?;
    recreated.register("conversion", &spec("CurrencyConversion")?)?;
    let cleared = manager.get_registry("registry_cleared")?;
    cleared.register("imputation", &spec("MissingValueImputation")?)?;
    cleared.register("selection", &spec("FeatureSelection")?)?;
    cleared.register("calibration", &spec("ModelCalibration")?)?;
    cleared.clear()?;
    assert!(manager.clear_context("temp_deleted")?);
    assert!(manager.clear_context("recreated")?);
    manager.get_registry("recreated")?;

    // 8. Every real spec, imported in one transaction.
    manager
        .get_registry("all_cursus_specs")?
        .import_json(&specs.text)?;

    // 9-10. A unicode name with spaces and a slash; a context never written to.
    manager
        .get_registry("ünïcödé pipeline/v1 ✓")?
        .register("mock source", &spec("DummyDataLoading")?)?;
    manager.get_registry("never_written")?;
    Ok(())
}
