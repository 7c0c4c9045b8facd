//! A `--db` or an `-o` that is a symbolic link to a file not created yet is the link's
//! target: it is created there (a database with its missing directories, as any new one is)
//! and named so, as it is once the file exists, and the link stays; a loop of links is
//! refused with an error, not followed forever.

#![cfg(unix)]

mod common;

use std::os::unix::fs::symlink;

use common::{TestResult, run, s, temp};

#[test]
fn a_dangling_link_as_database_is_named_by_its_target() -> TestResult {
    let (dir, _db) = temp()?;
    // A chain of two links, the second relative to the directory it lies in, to a file in a
    // directory not created yet.
    symlink("real/reg.redb", dir.path().join("one.redb"))?;
    symlink(dir.path().join("one.redb"), dir.path().join("two.redb"))?;
    let target = std::fs::canonicalize(dir.path())?
        .join("real")
        .join("reg.redb");
    let target = s(&target)?;

    let created = run(&dir.path().join("two.redb"), &["demo"])?.expect(0)?;
    assert!(
        created
            .stdout
            .contains(&format!("database            {target}\n")),
        "{}",
        created.stdout
    );
    assert!(!created.stdout.contains("two.redb") && !created.stdout.contains("one.redb"));
    assert!(std::path::Path::new(target).is_file());
    Ok(())
}

#[test]
fn a_loop_of_links_as_database_is_refused() -> TestResult {
    let (dir, _db) = temp()?;
    symlink("b.redb", dir.path().join("a.redb"))?;
    symlink("a.redb", dir.path().join("b.redb"))?;
    let refused = run(&dir.path().join("a.redb"), &["demo"])?;
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(refused.stderr.contains("a.redb"), "{}", refused.stderr);
    Ok(())
}

#[test]
fn an_output_file_through_a_dangling_link_is_written_as_its_target() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    std::fs::create_dir(dir.path().join("out"))?;
    let link = dir.path().join("export.json");
    symlink("out/unit_tests.json", &link)?;
    let target = std::fs::canonicalize(dir.path().join("out"))?.join("unit_tests.json");

    let written = run(&db, &["export", "unit_tests", "-o", s(&link)?])?.expect(0)?;
    assert!(
        written.stderr.contains(s(&target)?) || written.stdout.contains(s(&target)?),
        "{written:?}"
    );
    assert!(
        std::fs::symlink_metadata(&link)?.file_type().is_symlink(),
        "the link was replaced"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&target)?)?;
    assert_eq!(doc["context"], "unit_tests", "{doc}");
    Ok(())
}
