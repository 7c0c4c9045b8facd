//! The frozen databases of every released schema version (`migrations/v<N>/registry.redb`):
//! what each file is (version, size, hash, table layout), the content every one of them
//! holds ([`EXPECTED`], specs from the real cursus document), and the check that a manager
//! reads back every detail of it. Used by `migrations.rs` and `migration_failures.rs`.

use std::path::{Path, PathBuf};

use pipeline_deps::{ImportOptions, RegistryManager, StepSpecification};

pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

pub const SPECS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

/// One committed frozen database.
pub struct Frozen {
    pub version: u64,
    pub path: &'static str,
    /// Size and FNV-1a 64 hash of the committed file.
    pub len: u64,
    pub fnv1a: u64,
    /// The tables of each context that holds data, in that version's layout.
    pub context_tables: &'static [&'static str],
}

pub const V1: Frozen = Frozen {
    version: 1,
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v1/registry.redb"),
    len: 212_992,
    fnv1a: 0x7258_77cf_4300_b8d4,
    context_tables: &["order", "specs", "type_order", "types"],
};

pub const V2: Frozen = Frozen {
    version: 2,
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v2/registry.redb"),
    len: 315_392,
    fnv1a: 0x028c_ff52_93d3_ac07,
    context_tables: &["index", "specs"],
};

pub const V3: Frozen = Frozen {
    version: 3,
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v3/registry.redb"),
    len: 217_088,
    fnv1a: 0x96f6_c223_16ae_5d82,
    context_tables: &["rows"],
};

/// Every released version, oldest first; the last one is the current layout.
pub const FROZEN: [Frozen; 3] = [V1, V2, V3];
/// Ids of the contexts that hold data in every frozen file.
pub const CONTEXTS_WITH_TABLES: [u64; 5] = [1, 2, 3, 8, 9];

/// Where a stored step's spec comes from: a fixture step, optionally a job-type variant.
pub type Source = (&'static str, Option<&'static str>);

/// The steps of one context: explicit, or all 61 fixture steps under their own names.
pub enum Steps {
    Listed(&'static [(&'static str, Source)]),
    WholeFixture,
}

pub struct Expected {
    pub name: &'static str,
    pub steps: Steps,
    /// Step types in first-seen order; `None` means "each step's own type, in step order".
    pub types: Option<&'static [&'static str]>,
    pub revision: u64,
}

/// Every context of the v1 fixture, in creation order.
pub const EXPECTED: [Expected; 8] = [
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
pub const NEXT_CONTEXT_ID: u64 = 11;

/// The real specs, parsed once per variant.
pub struct Specs {
    pub text: String,
    pub base: Vec<(String, StepSpecification)>,
}

impl Specs {
    pub fn load() -> TestResult<Specs> {
        let text = std::fs::read_to_string(SPECS)?;
        let base = pipeline_deps::transfer::parse_steps_json(&text, &ImportOptions::default())?;
        Ok(Specs { text, base })
    }

    pub fn get(&self, (step, variant): Source) -> TestResult<StepSpecification> {
        let parsed;
        let list = match variant {
            None => &self.base,
            Some(job) => {
                parsed = pipeline_deps::transfer::parse_steps_json(
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
    pub fn steps_of(&self, expected: &Expected) -> TestResult<Vec<(String, StepSpecification)>> {
        match &expected.steps {
            Steps::WholeFixture => Ok(self.base.clone()),
            Steps::Listed(steps) => steps
                .iter()
                .map(|(name, source)| Ok(((*name).to_owned(), self.get(*source)?)))
                .collect(),
        }
    }
}

/// A copy of a frozen file in a new temporary directory.
pub fn copy_fixture(frozen: &Frozen) -> TestResult<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    std::fs::copy(frozen.path, &path)?;
    Ok((dir, path))
}

/// `spec` with every description emptied. The frozen files were written from the original
/// cursus document, descriptions included; the repository's copy of it
/// (`tests/fixtures/cursus-step-specs.json`) has them emptied, so descriptions are compared
/// only through the frozen files' byte checksums.
pub fn without_descriptions(spec: &StepSpecification) -> StepSpecification {
    let mut spec = spec.clone();
    for dependency in spec.dependencies.values_mut() {
        dependency.description.clear();
    }
    for output in spec.outputs.values_mut() {
        output.description.clear();
    }
    spec
}

/// Checks every detail of the fixture content through `manager`.
pub fn check_content(manager: &RegistryManager, specs: &Specs) -> TestResult {
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
            assert_eq!(
                without_descriptions(&stored),
                *spec,
                "{name}: spec of {step}"
            );
            assert!(registry.contains(step)?);
        }
        let all: Vec<(String, StepSpecification)> = registry
            .iter()?
            .map(|(n, s)| (n, without_descriptions(&s)))
            .collect();
        assert_eq!(all, steps, "{name}: iter");
        for step_type in &types {
            let by_type: Vec<StepSpecification> = registry
                .get_specifications_by_type(step_type)?
                .iter()
                .map(|s| without_descriptions(s))
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
pub fn raw_meta(path: &Path) -> TestResult<(Option<u64>, Option<u64>, Vec<String>)> {
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

pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The sorted table names of a file holding the fixture content in `frozen`'s layout.
pub fn layout(frozen: &Frozen) -> Vec<String> {
    let mut expected = vec![
        "pipeline_deps.catalog".to_owned(),
        "pipeline_deps.meta".to_owned(),
    ];
    for id in CONTEXTS_WITH_TABLES {
        for table in frozen.context_tables {
            expected.push(format!("pipeline_deps.ctx.{id}.{table}"));
        }
    }
    expected.sort();
    expected
}
