//! Invariant: read commands need an existing database file and never create or change one,
//! and they work while another process owns the file in single-writer mode; an exclusive
//! owner is reported with what to do, and an empty file as holding no database, which a
//! write command then creates.

mod common;
use common::{Holder, TestResult, context_names, run, s, temp};

#[test]
fn read_commands_need_an_existing_file_and_never_create_one() -> TestResult {
    let (_dir, db) = temp()?;
    for args in [
        vec!["contexts"],
        vec!["stats"],
        vec!["show", "x"],
        vec!["export", "x"],
        vec!["resolve", "x"],
        vec!["clear", "x"],
        vec!["check"],
        vec!["compact"],
    ] {
        let failed = run(&db, &args)?.expect(3)?;
        assert!(failed.stderr.contains("no registry database"), "{failed:?}");
    }
    assert!(!db.exists());
    // A file that is not a registry is a database error for reads, a failed check for check.
    std::fs::write(&db, b"definitely not a redb file, just some bytes of text")?;
    run(&db, &["stats"])?.expect(3)?;
    let check = run(&db, &["check"])?.expect(1)?;
    assert!(check.stdout.contains("FAILED"), "{check:?}");
    Ok(())
}

/// Not a test of its own: the body of [`Holder`], run in a child process. Without the
/// environment variable it does nothing.
#[test]
fn holder_process() -> TestResult {
    common::hold_if_asked()
}

#[test]
fn read_commands_work_while_a_single_writer_owns_the_file() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let holder = Holder::start(&db, "single")?;
    let result = (|| -> TestResult {
        let contexts = run(&db, &["contexts", "--json"])?.expect(0)?.json()?;
        let names = context_names(&contexts)?;
        assert!(
            names.contains(&"held"),
            "the owner's commit is visible: {names:?}"
        );
        run(&db, &["stats"])?.expect(0)?;
        run(&db, &["show", "held", "writer_step"])?.expect(0)?;
        run(&db, &["export", "fraud_detection_training"])?.expect(0)?;
        run(&db, &["resolve", "fraud_detection_training"])?.expect(0)?;
        // Writing is the owner's job: refused with the library's explanation.
        let refused = run(&db, &["clear", "unit_tests"])?.expect(3)?;
        assert!(
            refused.stderr.contains("already open by another process"),
            "{refused:?}"
        );
        Ok(())
    })();
    holder.stop()?;
    result?;
    // After the owner is gone, writes work again.
    run(&db, &["clear", "unit_tests"])?.expect(0)?;
    Ok(())
}

#[test]
fn an_exclusive_owner_is_reported_with_what_to_do() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let holder = Holder::start(&db, "exclusive")?;
    let result = run(&db, &["stats"]);
    // A write command refused the same way is pointed to a read command instead.
    let write = run(&db, &["clear", "unit_tests"]);
    holder.stop()?;
    let refused = result?.expect(3)?;
    assert!(
        refused.stderr.contains("already open by another process"),
        "{refused:?}"
    );
    assert!(refused.stderr.contains("single-writer mode"), "{refused:?}");
    // The hint does not suggest the read command that was just refused.
    assert!(
        refused.stderr.contains("owner holds it exclusively") && !refused.stderr.contains("stats`"),
        "{refused:?}"
    );
    let write = write?.expect(3)?;
    let read_command = format!(
        "inspect it read-only with `pipeline-deps --db {} stats`",
        s(&db)?
    );
    assert!(write.stderr.contains(&read_command), "{write:?}");
    // The refused clear cleared nothing: the demo's contexts and the owner's are all there.
    let contexts = run(&db, &["contexts", "--json"])?.expect(0)?.json()?;
    let names = context_names(&contexts)?;
    assert_eq!(
        names,
        [
            "fraud_detection_training",
            "fraud_detection_inference",
            "unit_tests",
            "held"
        ]
    );
    Ok(())
}

#[test]
fn an_empty_file_is_reported_as_holding_no_database_and_a_write_command_creates_one() -> TestResult
{
    let (_dir, db) = temp()?;
    std::fs::write(&db, b"")?;
    for command in [&["stats"][..], &["contexts"], &["check"], &["clear", "x"]] {
        let refused = run(&db, command)?.expect(3)?;
        assert!(
            refused.stderr.contains("there is no registry database at"),
            "{command:?}: {refused:?}"
        );
        assert_eq!(
            std::fs::metadata(&db)?.len(),
            0,
            "{command:?} wrote the file"
        );
    }
    run(&db, &["demo"])?.expect(0)?;
    run(&db, &["contexts"])?.expect(0)?;
    Ok(())
}
