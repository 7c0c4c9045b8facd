//! Invariant: `check` lists the files a killed command left beside the registry
//! (`.pipeline-deps-replace-…` of `compact` or `check --repair`, `.pipeline-deps-…` of an
//! output written there) with their sizes, in its report and its JSON, without failing the
//! check and without deleting them; with none there, its report is unchanged.

mod common;

use std::path::Path;

use common::{TestResult, run, temp};
use serde_json::Value;

/// `check`'s human report with the lines about leftover files taken out.
fn without_leftovers(report: &str) -> String {
    report
        .lines()
        .filter(|line| !line.starts_with("leftover  ") && !line.starts_with("  - "))
        .map(|line| format!("{line}\n"))
        .collect()
}

#[test]
fn check_lists_the_files_a_killed_command_left_and_deletes_none() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let before = run(&db, &["check"])?.expect(0)?;
    assert!(!before.stdout.contains("leftover"), "{}", before.stdout);
    let json = run(&db, &["check", "--json"])?.expect(0)?.json()?;
    assert_eq!(json["leftover_files"], Value::Array(Vec::new()), "{json}");

    let root = std::fs::canonicalize(dir.path())?;
    let replacement = root.join(".pipeline-deps-replace-4242-a1B2c3");
    let temporary = root.join(".pipeline-deps-Xy9Zq1");
    std::fs::write(&replacement, vec![0u8; 5_000])?;
    std::fs::write(&temporary, b"{\"schema\"")?;
    // Not leftovers: a backup, another name, a directory of such a name.
    std::fs::write(root.join("registry.redb.backup"), b"kept")?;
    std::fs::write(root.join("pipeline-deps-notes.txt"), b"mine")?;
    std::fs::create_dir(root.join(".pipeline-deps-dir"))?;

    let after = run(&db, &["check"])?.expect(0)?;
    let text = &after.stdout;
    assert!(
        text.contains("leftover  2 file(s) beside the registry (")
            && text.contains("delete them once no pipeline-deps command is running"),
        "{text}"
    );
    let line = |path: &Path, size: &str| format!("  - {} ({size})\n", path.display());
    assert!(
        text.contains(&line(&replacement, "4.9 KiB")) && text.contains(&line(&temporary, "9 B")),
        "{text}"
    );
    assert!(
        !text.contains(".backup")
            && !text.contains("notes")
            && !text.contains(".pipeline-deps-dir"),
        "{text}"
    );
    assert!(text.ends_with("\nresult: ok\n"), "{text}");
    // Everything else is as it was.
    assert_eq!(without_leftovers(text), before.stdout);

    let json = run(&db, &["check", "--json"])?.expect(0)?.json()?;
    assert_eq!(json["ok"], Value::Bool(true), "{json}");
    let listed: Vec<(String, u64)> = json["leftover_files"]
        .as_array()
        .ok_or("no leftover_files array")?
        .iter()
        .map(|file| {
            (
                file["path"].as_str().unwrap_or_default().to_owned(),
                file["size_bytes"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        // In the order of their paths' bytes.
        vec![
            (temporary.display().to_string(), 9),
            (replacement.display().to_string(), 5_000),
        ]
    );
    // Reported, never deleted: another command may be writing one.
    assert!(replacement.exists() && temporary.exists());
    Ok(())
}

#[test]
fn check_names_ten_leftover_files_and_counts_the_rest() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    for i in 0..12 {
        std::fs::write(dir.path().join(format!(".pipeline-deps-{i:02}")), b"x")?;
    }
    let text = run(&db, &["check"])?.expect(0)?.stdout;
    assert!(
        text.contains("leftover  12 file(s) beside the registry (12 B in all)"),
        "{text}"
    );
    assert_eq!(text.matches("/.pipeline-deps-").count(), 10, "{text}");
    assert!(text.contains("  - and 2 more\n"), "{text}");
    let json = run(&db, &["check", "--json"])?.expect(0)?.json()?;
    assert_eq!(json["leftover_files"].as_array().map(Vec::len), Some(12));
    Ok(())
}

#[test]
fn a_registry_named_like_a_leftover_is_not_listed_nor_its_backups() -> TestResult {
    let (dir, _) = temp()?;
    let db = dir.path().join(".pipeline-deps-registry.redb");
    run(&db, &["demo"])?.expect(0)?;
    std::fs::write(
        dir.path().join(".pipeline-deps-registry.redb.backup"),
        b"kept",
    )?;
    let text = run(&db, &["check"])?.expect(0)?.stdout;
    assert!(!text.contains("leftover"), "{text}");
    std::fs::write(dir.path().join(".pipeline-deps-replace-7-abc"), b"x")?;
    let json = run(&db, &["check", "--json"])?.expect(0)?.json()?;
    let listed = json["leftover_files"]
        .as_array()
        .ok_or("no leftover_files")?;
    assert_eq!(listed.len(), 1, "{json}");
    assert!(
        listed[0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("/.pipeline-deps-replace-7-abc")),
        "{json}"
    );
    Ok(())
}
