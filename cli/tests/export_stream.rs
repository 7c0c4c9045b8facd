//! Invariant: `export` writes the text as it reads the context and still never leaves half a
//! file: when the output fails midway (a full disk), the command exits 3 naming the file and
//! the target is as it was (an existing file keeps its content, a new one is not created, no
//! temporary file is left); a failing standard output exits 3 naming it; and the report
//! counts the steps written, the same steps the file holds. The disk test mounts a small
//! tmpfs, which needs root (as CI runs); elsewhere it prints a SKIPPED line.

mod support;

use support::{TestResult, Tmpfs, run, s, skipped, temp_dir};

/// A database with context `big`, whose export (about 1.5 MB) does not fit a 512 KiB disk.
fn big_db(dir: &std::path::Path) -> TestResult<std::path::PathBuf> {
    let db = dir.join("r.redb");
    let specs = support::write_file(
        dir,
        "big.json",
        support::synthetic_specs("b", 3_000, 1).as_bytes(),
    )?;
    run(&db, &["import", "big", s(&specs)?])?.expect(0)?;
    Ok(db)
}

#[test]
fn an_export_that_fills_the_disk_leaves_no_partial_file() -> TestResult {
    let test = "an_export_that_fills_the_disk_leaves_no_partial_file";
    let disk = match Tmpfs::mount("512k", "") {
        Ok(disk) => disk,
        Err(why) => {
            skipped(test, &why);
            return Ok(());
        }
    };
    let dir = temp_dir()?;
    let db = big_db(dir.path())?;
    let whole = run(&db, &["export", "big"])?.expect(0)?.out();
    assert!(
        whole.len() > 1024 * 1024,
        "the export must not fit the disk"
    );
    let existing = disk.path.join("existing.json");
    std::fs::write(&existing, "old")?;
    let new = disk.path.join("new.json");
    for target in [&existing, &new] {
        let result = run(&db, &["export", "big", "-o", s(target)?])?;
        result.expect(3)?;
        let err = result.err();
        assert!(
            err.contains(s(target)?),
            "the message names the file: {err}"
        );
        assert!(err.contains("No space left"), "the message says why: {err}");
        let mut left: Vec<String> = std::fs::read_dir(&disk.path)?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect::<TestResult<_>>()?;
        left.sort();
        assert_eq!(
            left,
            ["existing.json"],
            "a partial or temporary file was left"
        );
        assert_eq!(std::fs::read_to_string(&existing)?, "old");
    }
    Ok(())
}

#[test]
fn a_failing_standard_output_is_an_error_naming_it() -> TestResult {
    let dir = temp_dir()?;
    let db = big_db(dir.path())?;
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full")?;
    let mut command = support::command(&db, &["export", "big"]);
    command.stdout(full);
    let result = support::finish(
        command.spawn()?,
        "export big > /dev/full".into(),
        support::TIMEOUT,
    )?;
    result.expect(3)?;
    let err = result.err();
    assert!(err.contains("standard output"), "{err}");
    Ok(())
}

#[test]
fn the_export_report_counts_the_steps_written() -> TestResult {
    let dir = temp_dir()?;
    let db = big_db(dir.path())?;
    let file = dir.path().join("out.json");
    let report = run(&db, &["export", "big", "-o", s(&file)?, "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(report["step_count"], 3_000);
    let text = run(&db, &["export", "big", "-o", s(&file)?])?
        .expect(0)?
        .out();
    assert!(text.starts_with("exported 3000 step(s)"), "{text}");
    let written = std::fs::read_to_string(&file)?;
    assert_eq!(written, run(&db, &["export", "big"])?.expect(0)?.out());
    let document: serde_json::Value = serde_json::from_str(&written)?;
    assert_eq!(document["steps"].as_array().map(Vec::len), Some(3_000));
    Ok(())
}
