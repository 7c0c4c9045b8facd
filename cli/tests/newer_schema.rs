//! Invariant: a registry file written by a newer schema version is refused by every command
//! that opens it with exit code 3 (the README's "newer schema") and JSON kind
//! `schema_too_new`, saying to upgrade, and no command changes a byte of it.

mod common;

use serde_json::Value;

use common::{TestResult, run, s, temp};

/// The meta table of a registry file (what `tests/refused_files.rs` writes too).
const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("pipeline_deps.meta");

#[test]
fn a_file_of_a_newer_schema_is_refused_with_exit_3_and_left_untouched() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let snapshot = dir.path().join("edges.json");
    run(&db, &["snapshot", "unit_tests", "-o", s(&snapshot)?])?.expect(0)?;
    let exported = dir.path().join("unit_tests.json");
    run(&db, &["export", "unit_tests", "-o", s(&exported)?])?.expect(0)?;
    {
        let file = redb::Database::create(&db)?;
        let txn = file.begin_write()?;
        txn.open_table(META)?.insert("schema_version", 99)?;
        txn.commit()?;
    }
    let before = std::fs::read(&db)?;
    let output = dir.path().join("out.json");
    for args in [
        vec!["contexts"],
        vec!["stats"],
        vec!["show", "unit_tests"],
        vec!["types", "unit_tests"],
        vec!["export", "unit_tests", "-o", s(&output)?],
        vec!["resolve", "unit_tests"],
        vec!["snapshot", "unit_tests", "-o", s(&output)?],
        vec!["check-snapshot", "unit_tests", s(&snapshot)?],
        vec!["import", "copy", s(&exported)?],
        vec!["clear", "unit_tests"],
        vec!["clear-all", "--yes"],
        vec!["demo"],
        vec!["compact"],
        vec!["check"],
        vec!["check", "--repair"],
    ] {
        let refused = run(&db, &args)?.expect(3)?;
        assert!(
            refused.stderr.contains("schema version 99")
                && refused.stderr.contains("upgrade pipeline-deps"),
            "{args:?}: {refused:?}"
        );
        let mut with_json = args.clone();
        with_json.push("--json");
        let refused = run(&db, &with_json)?.expect(3)?;
        let error: Value = serde_json::from_str(&refused.stderr)?;
        assert_eq!(error["kind"], "schema_too_new", "{args:?}: {error}");
        assert!(std::fs::read(&db)? == before, "{args:?} changed the file");
    }
    assert!(!output.exists(), "a refused command wrote its output");
    // Nothing was left beside the registry either (a backup, a replacement file).
    let mut left: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
        .collect::<TestResult<_>>()?;
    left.sort();
    assert_eq!(left, ["edges.json", "registry.redb", "unit_tests.json"]);
    Ok(())
}
