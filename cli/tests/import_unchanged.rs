//! `import --replace` of steps that hold the very specs given already writes nothing and
//! says so: the context's revision stays as it was, the message says nothing was written,
//! and `--json` gives `"written": false`; one changed step and the import is written.

mod common;

use common::{FIXTURE, TestResult, run, temp};
use pipeline_deps::RegistryManager;

fn revision(db: &std::path::Path) -> TestResult<u64> {
    let manager = RegistryManager::open_read_only(db)?;
    let registry = manager
        .get_registry_if_exists("cursus")?
        .ok_or("no context cursus")?;
    Ok(registry.revision()?)
}

#[test]
fn a_replacing_import_of_what_is_stored_writes_nothing_and_says_so() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["import", "cursus", FIXTURE])?.expect(0)?;
    let before = revision(&db)?;

    let same = run(&db, &["import", "cursus", FIXTURE, "--replace"])?.expect(0)?;
    assert!(
        same.stdout.contains("holds these 61 step(s) already")
            && same.stdout.contains("nothing was written"),
        "{}",
        same.stdout
    );
    let json = run(&db, &["--json", "import", "cursus", FIXTURE, "--replace"])?
        .expect(0)?
        .json()?;
    assert_eq!(
        (&json["written"], &json["replaced"], &json["new"]),
        (&false.into(), &61.into(), &0.into()),
        "{json}"
    );
    assert_eq!(revision(&db)?, before, "an import of what is stored wrote");

    // One step changed: written, with a new revision.
    let text = std::fs::read_to_string(FIXTURE)?;
    let changed = text.replacen(
        "\"step_type\": \"BatchTransform\"",
        "\"step_type\": \"BatchTransformChanged\"",
        1,
    );
    assert_ne!(changed, text, "the fixture has no BatchTransform step");
    let file = dir.path().join("changed.json");
    std::fs::write(&file, changed)?;
    let path = file.to_str().ok_or("path")?;
    let written = run(&db, &["--json", "import", "cursus", path, "--replace"])?
        .expect(0)?
        .json()?;
    assert_eq!(written["written"], true, "{written}");
    assert!(revision(&db)? > before);
    Ok(())
}
