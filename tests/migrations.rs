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

use std::path::Path;

use support::frozen::{
    EXPECTED, FROZEN, Frozen, NEXT_CONTEXT_ID, Specs, TestResult, V1, V2, V3, check_content,
    copy_fixture, fnv1a, layout, raw_meta,
};

use pipeline_deps::storage::SCHEMA_VERSION;
use pipeline_deps::{Error, RegistryManager};

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
