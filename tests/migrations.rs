//! A database written by every released schema version (the frozen files
//! `migrations/v<N>/registry.redb`, made by the same operations) still opens with this build,
//! read-write (which upgrades it in place to the current layout) and read-only (which leaves
//! the file byte-for-byte unchanged), and reads back every detail that was written: contexts
//! in creation order (a workspace context, a cleared-and-recreated one, a `clear()`ed one,
//! one never written), step names in registration order, step types in first-seen order
//! after an upsert that changed a type and an unregister, every spec equal to the real
//! cursus spec it came from, the catalog statistics and revisions.
//!
//! The tests work on copies and never write the frozen files; one checks that their bytes
//! are still the committed ones. Any change to the stored format must come with a migration
//! step in `src/store/migrate.rs` that keeps these tests green (see `migrations/README.md`).
//! `regenerate_v<N>_fixture` (ignored) is how each file was made.

mod support;

use std::path::{Path, PathBuf};

use support::fault_backend::{Disk, Fault, FaultPlan, Keep, Target};
use support::model::snapshot;

use pipeline_deps::storage::SCHEMA_VERSION;
use pipeline_deps::{Error, ImportOptions, RegistryManager, StepSpecification};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const SPECS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/cursus-step-specs.json"
);

/// One committed frozen database.
struct Frozen {
    version: u64,
    path: &'static str,
    /// Size and FNV-1a 64 hash of the committed file.
    len: u64,
    fnv1a: u64,
    /// The tables of each context that holds data, in that version's layout.
    context_tables: &'static [&'static str],
}

const V1: Frozen = Frozen {
    version: 1,
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v1/registry.redb"),
    len: 212_992,
    fnv1a: 0x7258_77cf_4300_b8d4,
    context_tables: &["order", "specs", "type_order", "types"],
};

const V2: Frozen = Frozen {
    version: 2,
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v2/registry.redb"),
    len: 315_392,
    fnv1a: 0x028c_ff52_93d3_ac07,
    context_tables: &["index", "specs"],
};

const V3: Frozen = Frozen {
    version: 3,
    path: concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/v3/registry.redb"),
    len: 217_088,
    fnv1a: 0x96f6_c223_16ae_5d82,
    context_tables: &["rows"],
};

/// Every released version, oldest first; the last one is the current layout.
const FROZEN: [Frozen; 3] = [V1, V2, V3];
/// Ids of the contexts that hold data in every frozen file.
const CONTEXTS_WITH_TABLES: [u64; 5] = [1, 2, 3, 8, 9];

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
        let base = pipeline_deps::transfer::parse_steps_json(&text, &ImportOptions::default())?;
        Ok(Specs { text, base })
    }

    fn get(&self, (step, variant): Source) -> TestResult<StepSpecification> {
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

/// A copy of a frozen file in a new temporary directory.
fn copy_fixture(frozen: &Frozen) -> TestResult<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    std::fs::copy(frozen.path, &path)?;
    Ok((dir, path))
}

/// `spec` with every description emptied. The frozen files were written from the original
/// cursus document, descriptions included; the repository's copy of it
/// (`tests/fixtures/cursus-step-specs.json`) has them emptied, so descriptions are compared
/// only through the frozen files' byte checksums.
fn without_descriptions(spec: &StepSpecification) -> StepSpecification {
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

/// The sorted table names of a file holding the fixture content in `frozen`'s layout.
fn layout(frozen: &Frozen) -> Vec<String> {
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

#[test]
fn the_frozen_files_are_the_committed_ones() -> TestResult {
    for frozen in &FROZEN {
        let bytes = std::fs::read(frozen.path)?;
        assert_eq!(
            (bytes.len() as u64, fnv1a(&bytes)),
            (frozen.len, frozen.fnv1a),
            "{} changed; it is frozen: restore it with `git checkout migrations/`",
            frozen.path
        );
    }
    assert_eq!(
        FROZEN.last().map(|f| f.version),
        Some(SCHEMA_VERSION),
        "the current schema version has a frozen file"
    );
    Ok(())
}

#[test]
fn each_frozen_file_has_its_schema_version_and_table_layout() -> TestResult {
    for frozen in &FROZEN {
        let (_dir, path) = copy_fixture(frozen)?;
        let (version, next_id, tables) = raw_meta(&path)?;
        assert_eq!(version, Some(frozen.version));
        assert_eq!(next_id, Some(NEXT_CONTEXT_ID));
        // Only the contexts that hold data have tables; deleted and cleared ones left none.
        assert_eq!(tables, layout(frozen), "v{}", frozen.version);
    }
    Ok(())
}

#[test]
fn every_frozen_file_reads_back_every_detail_and_is_upgraded() -> TestResult {
    let specs = Specs::load()?;
    let current = FROZEN.last().ok_or("no frozen files")?;
    for frozen in &FROZEN {
        let (_dir, path) = copy_fixture(frozen)?;
        let manager = RegistryManager::open(&path)?;
        check_content(&manager, &specs)?;
        drop(manager);
        let (version, next_id, tables) = raw_meta(&path)?;
        assert_eq!(
            version,
            Some(SCHEMA_VERSION),
            "opening v{} upgrades it to the current schema",
            frozen.version
        );
        assert_eq!(next_id, Some(NEXT_CONTEXT_ID));
        assert_eq!(tables, layout(current), "v{} upgraded", frozen.version);
        // And again after the upgrade (if any) was committed.
        check_content(&RegistryManager::open(&path)?, &specs)?;
        check_content(&RegistryManager::open_read_only(&path)?, &specs)?;
    }
    Ok(())
}

#[test]
fn every_frozen_file_reads_back_every_detail_read_only_without_changing() -> TestResult {
    let specs = Specs::load()?;
    for frozen in &FROZEN {
        let (_dir, path) = copy_fixture(frozen)?;
        let before = std::fs::read(&path)?;
        let manager = RegistryManager::open_read_only(&path)?;
        assert!(manager.is_read_only());
        check_content(&manager, &specs)?;
        let err = manager.get_registry("new_context");
        assert!(matches!(err, Err(Error::NoSuchContext { .. })), "{err:?}");
        let err = manager.compact();
        assert!(matches!(err, Err(Error::ReadOnly { .. })), "{err:?}");
        drop(manager);
        assert!(
            std::fs::read(&path)? == before,
            "a read-only open of v{} changed the file",
            frozen.version
        );
    }
    Ok(())
}

#[test]
fn every_frozen_file_accepts_writes_without_disturbing_old_data() -> TestResult {
    let specs = Specs::load()?;
    let extra = specs.get(("XGBoostModelEval", None))?;
    for frozen in &FROZEN {
        let (_dir, path) = copy_fixture(frozen)?;
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
            // An old step changes type and position rules hold across the upgrade.
            let training = manager.get_registry("fraud_detection_training")?;
            training.upsert("data_loading", &extra)?;
            assert_eq!(
                training.list_step_names()?,
                [
                    "data_loading",
                    "feature_engineering",
                    "model_training",
                    "packaging"
                ]
            );
            assert_eq!(
                training.list_step_types()?,
                [
                    "XGBoostTraining",
                    "TabularPreprocessing",
                    "Package",
                    "XGBoostModelEval"
                ]
            );
            training.upsert(
                "data_loading",
                &specs.get(("CradleDataLoading", Some("training")))?,
            )?;
            manager.clear_context("after_upgrade")?;
        }
        let manager = RegistryManager::open(&path)?;
        let (names, stats) = (manager.list_contexts()?, manager.get_context_stats()?);
        assert_eq!(names, EXPECTED.iter().map(|e| e.name).collect::<Vec<_>>());
        assert_eq!(stats["registry_cleared"].step_count, 0);
        assert_eq!(stats["all_cursus_specs"].step_count, specs.base.len());
        assert!(manager.check_integrity()?, "v{}", frozen.version);
    }
    Ok(())
}

/// An upgrade interrupted at any write, sync or resize, by an I/O error or a power loss
/// (keeping none, all, an in-order torn prefix, or random sectors of the unsynced writes),
/// leaves a file that reopens to the whole fixture content, as the old version or the new
/// one: the upgrade runs in the one write transaction that opens the file.
#[test]
fn an_interrupted_upgrade_leaves_the_old_version_or_the_new_one_whole() -> TestResult {
    for old in FROZEN.iter().filter(|f| f.version < SCHEMA_VERSION) {
        interrupted_upgrade_of(old)?;
    }
    Ok(())
}

fn interrupted_upgrade_of(old: &Frozen) -> TestResult {
    let specs = Specs::load()?;
    let image = std::fs::read(old.path)?;
    let (_copy, path) = copy_fixture(old)?;
    let whole = {
        let manager = RegistryManager::open(&path)?;
        check_content(&manager, &specs)?;
        (snapshot(&manager)?, manager.get_context_stats()?)
    };
    let dry = Disk::from_image(image.clone());
    drop(RegistryManager::builder().with_backend(dry.backend(), "dry run")?);
    let points = dry.counts().mutations();
    assert!(points > 0, "the upgrade writes");
    let dir = tempfile::tempdir()?;
    let (mut tried, mut upgraded) = (0, 0);
    for nth in 0..points {
        let faults = [
            Fault::IoError { sticky: true },
            Fault::PowerLoss {
                keep: Keep::Nothing,
            },
            Fault::PowerLoss {
                keep: Keep::Everything,
            },
            Fault::PowerLoss {
                keep: Keep::Prefix { seed: nth },
            },
            Fault::PowerLoss {
                keep: Keep::RandomSectors { seed: nth },
            },
        ];
        for fault in faults {
            let disk = Disk::from_image(image.clone());
            disk.arm(FaultPlan {
                target: Target::AnyMutation,
                nth,
                fault,
            });
            // The open fails, or succeeds if the fault hit after the commit point.
            drop(RegistryManager::builder().with_backend(disk.backend(), "faulty"));
            let after = if disk.powered_off() {
                vec![disk.image_after_power_loss(Keep::Nothing)]
            } else {
                vec![disk.current_image(), disk.durable_image()]
            };
            for bytes in after {
                let path = dir.path().join(format!("case{tried}.redb"));
                std::fs::write(&path, bytes)?;
                // A crash leaves a file that needs redb's repair, which a read-only open
                // cannot do: a plain redb open repairs it before its version is read.
                drop(redb::Database::create(&path)?);
                let (version, _, _) = raw_meta(&path)?;
                assert!(
                    version == Some(old.version) || version == Some(SCHEMA_VERSION),
                    "v{}: {fault:?} at mutation {nth}: version {version:?}",
                    old.version
                );
                upgraded += u64::from(version == Some(SCHEMA_VERSION));
                let manager = RegistryManager::open(&path)?;
                let reopened = (snapshot(&manager)?, manager.get_context_stats()?);
                assert!(
                    reopened == whole,
                    "{fault:?} at mutation {nth}: content differs"
                );
                tried += 1;
            }
        }
    }
    println!(
        "FIGURE migrations/interrupted_upgrade_v{0}: {tried} interrupted v{0} -> v{SCHEMA_VERSION} upgrades ({points} fault points x 5 faults): {upgraded} reopened upgraded, the rest as v{0}; every one read back whole",
        old.version
    );
    Ok(())
}

/// A version-2 file whose step-type index disagrees with its records (a row added, a row's
/// value changed, a row removed) is refused by the upgrade with a corruption error naming
/// the context, read-write and read-only, and stays a version-2 file: the upgrade checks
/// what it converts instead of carrying damage into the new layout.
#[test]
fn a_damaged_v2_index_stops_the_upgrade_naming_the_context() -> TestResult {
    use redb::{ReadableTable, TableDefinition};
    // Context `fraud_detection_training` has id 1 in the fixture.
    const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pipeline_deps.ctx.1.index");
    type Damage = fn(&mut redb::Table<&[u8], &[u8]>) -> TestResult;
    let damages: [(&str, Damage); 3] = [
        ("an extra step row", |index| {
            // A type row for a step the context does not hold, correctly sealed.
            let mut key = vec![b'T'];
            key.extend_from_slice(&7u32.to_be_bytes());
            key.extend_from_slice(b"Package");
            key.extend_from_slice(&99u64.to_be_bytes());
            index.insert(
                key.as_slice(),
                support::sealed::seal(b'I', 1, &key, b"ghost").as_slice(),
            )?;
            Ok(())
        }),
        ("a changed first-seen value", |index| {
            let key = b"FPackage".as_slice();
            let value = index.get(key)?.ok_or("no first-seen row")?.value().to_vec();
            let mut damaged = value;
            damaged[4] ^= 1;
            index.insert(key, damaged.as_slice())?;
            Ok(())
        }),
        ("a removed first-seen row", |index| {
            index
                .remove(b"FPackage".as_slice())?
                .ok_or("no first-seen row")?;
            Ok(())
        }),
    ];
    for (what, damage) in damages {
        let (_dir, path) = copy_fixture(&V2)?;
        {
            let db = redb::Database::create(&path)?;
            let txn = db.begin_write()?;
            damage(&mut txn.open_table(INDEX)?).map_err(|e| format!("{what}: {e}"))?;
            txn.commit()?;
        }
        for result in [
            RegistryManager::open(&path),
            RegistryManager::open_read_only(&path),
        ] {
            match result {
                Err(e @ Error::Corrupted { .. }) => {
                    let message = e.to_string();
                    assert!(
                        message.contains("fraud_detection_training")
                            && message.contains("schema version 2"),
                        "{what}: {message}"
                    );
                }
                other => {
                    return Err(
                        format!("{what}: expected a corruption error, got {other:?}").into(),
                    );
                }
            }
        }
        let (version, _, _) = raw_meta(&path)?;
        assert_eq!(version, Some(2), "{what}: the file stays at version 2");
    }
    Ok(())
}

/// Writes the frozen file of `frozen.version` if that is the current schema version. It
/// was run once per version and the file committed; it refuses to overwrite a frozen file
/// unless `PIPELINE_DEPS_REGENERATE_V<N>=1` is set, and refuses to run at all once the
/// schema is past that version (it would write the new format under the old name).
fn regenerate(frozen: &Frozen) -> TestResult {
    assert_eq!(
        SCHEMA_VERSION, frozen.version,
        "this generator writes schema version {} only",
        frozen.version
    );
    let target = Path::new(frozen.path);
    let variable = format!("PIPELINE_DEPS_REGENERATE_V{}", frozen.version);
    let overwrite = std::env::var_os(&variable).is_some_and(|v| v == "1");
    let dir = tempfile::tempdir()?;
    let fresh = dir.path().join("registry.redb");
    write_fixture_content(&fresh)?;
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
            "{} exists and is frozen (byte-identical to this run: {same}); set {variable}=1 to replace it",
            target.display()
        );
        return Ok(());
    }
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(target, &bytes)?;
    println!(
        "wrote {}; update its length and hash in FROZEN",
        target.display()
    );
    Ok(())
}

/// `cargo test --test migrations -- --ignored regenerate_v1_fixture` (refuses since v2).
#[test]
#[ignore = "writes the frozen schema-v1 fixture; run by hand only"]
fn regenerate_v1_fixture() -> TestResult {
    regenerate(&V1)
}

/// `cargo test --test migrations -- --ignored regenerate_v2_fixture` (refuses since v3).
#[test]
#[ignore = "writes the frozen schema-v2 fixture; run by hand only"]
fn regenerate_v2_fixture() -> TestResult {
    regenerate(&V2)
}

/// `cargo test --test migrations -- --ignored regenerate_v3_fixture`
#[test]
#[ignore = "writes the frozen schema-v3 fixture; run by hand only"]
fn regenerate_v3_fixture() -> TestResult {
    regenerate(&V3)
}

/// The operations that made every frozen fixture, in order. Context ids: 1 training,
/// 2 inference, 3 ws::experiments, 4 temp_deleted, 5 recreated (deleted), 6
/// registry_cleared, 7 recreated, 8 all_cursus_specs, 9 unicode, 10 never_written.
fn write_fixture_content(path: &Path) -> TestResult {
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

/// A v2 catalog entry whose step-type count disagrees with its index and records (which
/// agree with each other) stops the upgrade naming the context, and the file stays at
/// version 2: the upgraded file would otherwise carry the wrong count, and every later read
/// of the context's step types would fail. (Written against a mutant of the v2 → v3 upgrade
/// that skipped the count comparison, which the index damages above let survive.)
#[test]
fn a_v2_catalog_type_count_that_disagrees_stops_the_upgrade() -> TestResult {
    use redb::ReadableTable;
    const CATALOG: redb::TableDefinition<&str, &[u8]> =
        redb::TableDefinition::new("pipeline_deps.catalog");
    let name = "fraud_detection_training";
    let (_dir, path) = copy_fixture(&V2)?;
    {
        let db = redb::Database::create(&path)?;
        let txn = db.begin_write()?;
        {
            let mut catalog = txn.open_table(CATALOG)?;
            let value = catalog.get(name)?.ok_or("no catalog row")?.value().to_vec();
            // postcard: the envelope's variant, then id, step_count, step_type_count,
            // next_seq and revision, each a varint.
            let (mut fields, rest): ((u32, u64, u64, u64, u64, u64), _) =
                postcard::take_from_bytes(support::sealed::payload(&value))?;
            if !rest.is_empty() || fields.0 != 0 || fields.1 != 1 {
                return Err(format!("unexpected catalog record {fields:?}").into());
            }
            fields.3 += 1;
            let damaged = support::sealed::seal(
                support::sealed::CATALOG,
                0,
                name.as_bytes(),
                &postcard::to_allocvec(&fields)?,
            );
            catalog.insert(name, damaged.as_slice())?;
        }
        txn.commit()?;
    }
    for result in [
        RegistryManager::open(&path),
        RegistryManager::open_read_only(&path),
    ] {
        match result {
            Err(e @ Error::Corrupted { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(name) && message.contains("schema version 2"),
                    "{message}"
                );
            }
            other => return Err(format!("expected a corruption error, got {other:?}").into()),
        }
    }
    let (version, _, _) = raw_meta(&path)?;
    assert_eq!(version, Some(2), "the file stays at version 2");
    Ok(())
}
