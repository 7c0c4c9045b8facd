//! Invariant: a message names what the user gave, as every other message names it: an
//! error in `demo --specs FILE` calls FILE the demo's --specs document (not "the JSON
//! import") and suggests no flag `demo` lacks; a database given as `../x/reg.redb` or
//! through a linked directory is named by its canonical path in the library's messages and
//! logs too (`check`'s pages line, any error, the JSON error's fields), never as
//! `/work/sub/../x/reg.redb` or `/work/link/reg.redb`; an invalid database URL during an
//! `import` is named as the URL, not as an error in the imported document.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod common;
use common::{BIN, TestResult, hermetic, output, run, s, temp};

#[test]
fn demo_specs_errors_name_the_specs_document() -> TestResult {
    let (dir, db) = temp()?;
    let unknown = dir.path().join("unknown.json");
    std::fs::write(
        &unknown,
        r#"{"steps": [{"step_name": "a", "step_type": "A", "node_type": "source", "bogus": 1}]}"#,
    )?;
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, r#"{"steps": ["#)?;
    for file in ["/dev/null", s(&unknown)?, s(&truncated)?] {
        if !Path::new(file).exists() {
            continue;
        }
        let out = run(&db, &["demo", "--specs", file])?.expect(4)?;
        assert!(
            out.stderr.contains("the demo's --specs document"),
            "{file}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("JSON import"),
            "{file}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("--allow-unknown-fields"),
            "demo has no such flag: {}",
            out.stderr
        );
        let out = run(&db, &["--json", "demo", "--specs", file])?.expect(4)?;
        let error: Value = serde_json::from_str(out.stderr.trim())?;
        let message = error["message"].as_str().ok_or("no message")?;
        assert!(message.contains("the demo's --specs document"), "{message}");
    }
    // The import's document is still the JSON import, with its flag.
    let out = run(&db, &["import", "ml", s(&unknown)?])?.expect(4)?;
    assert!(out.stderr.contains("(the JSON import)"), "{}", out.stderr);
    assert!(
        out.stderr.contains("--allow-unknown-fields"),
        "{}",
        out.stderr
    );
    Ok(())
}

/// Flips a byte in every page after the first two of the file at `path`.
fn damage(path: &Path) -> TestResult {
    let mut bytes = std::fs::read(path)?;
    let mut at = 8192 + 100;
    while at < bytes.len() {
        bytes[at] ^= 0xff;
        at += 4096;
    }
    std::fs::write(path, bytes)?;
    Ok(())
}

/// A directory holding `x/reg.redb` (a registry the demo built), `sub/`, and `link`, a
/// symbolic link to `x`.
fn layout() -> TestResult<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir()?;
    let x = dir.path().join("x");
    std::fs::create_dir_all(&x)?;
    std::fs::create_dir_all(dir.path().join("sub"))?;
    std::os::unix::fs::symlink(&x, dir.path().join("link"))?;
    let db = x.join("reg.redb");
    run(&db, &["demo"])?.expect(0)?;
    Ok((dir, db))
}

/// The binary run in `cwd` with `--db given` and `args`.
fn given_as(cwd: &Path, given: &str, args: &[&str]) -> TestResult<common::Run> {
    let mut c = Command::new(BIN);
    c.current_dir(cwd).arg("--db").arg(given).args(args);
    hermetic(&mut c);
    output(c)
}

/// Every way a damaged database's path reaches people and scripts — `check`'s pages line
/// (the storage engine's message), the error of a read command that fails deep in the
/// library, its JSON fields — names it `canonical` and never as `given` (absolute but
/// unresolved: `not_shown`).
fn damage_is_named_canonically(
    cwd: &Path,
    given: &str,
    canonical: &str,
    not_shown: &str,
) -> TestResult {
    let check = given_as(cwd, given, &["check"])?.expect(1)?;
    let pages = check
        .stdout
        .lines()
        .find(|l| l.starts_with("pages"))
        .ok_or("no pages line")?;
    assert!(
        pages.contains("FAILED"),
        "the damage went unseen: {}",
        check.stdout
    );
    assert!(!check.stdout.contains(not_shown), "{}", check.stdout);
    assert!(pages.contains(canonical), "{pages}");
    let json = given_as(cwd, given, &["--json", "check"])?
        .expect(1)?
        .json()?;
    let message = json["pages"]["message"].as_str().ok_or("no message")?;
    assert!(!message.contains(not_shown), "{message}");
    assert!(message.contains(canonical), "{message}");

    for args in [&["stats"][..], &["contexts"], &["clear", "unit_tests"]] {
        let out = given_as(cwd, given, args)?;
        assert_ne!(out.code, 0, "{args:?} read a damaged file");
        assert!(!out.stderr.contains(not_shown), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(canonical), "{args:?}: {}", out.stderr);
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let error: Value = serde_json::from_str(given_as(cwd, given, &json_args)?.stderr.trim())?;
        assert!(!error.to_string().contains(not_shown), "{args:?}: {error}");
        assert_eq!(error["database"], canonical, "{args:?}: {error}");
        let message = error["message"].as_str().ok_or("no message")?;
        assert!(message.contains(canonical), "{args:?}: {error}");
    }
    Ok(())
}

#[test]
fn a_database_given_through_dot_dot_is_named_by_its_canonical_path() -> TestResult {
    let (dir, db) = layout()?;
    damage(&db)?;
    let canonical = std::fs::canonicalize(&db)?;
    let sub = dir.path().join("sub");
    damage_is_named_canonically(&sub, "../x/reg.redb", s(&canonical)?, "..")
}

#[test]
fn a_database_given_through_a_linked_directory_is_named_by_its_canonical_path() -> TestResult {
    let (dir, db) = layout()?;
    let canonical = std::fs::canonicalize(&db)?;
    let canonical = s(&canonical)?;
    let through_link = dir.path().join("link").join("reg.redb");
    let not_shown = s(&through_link)?;

    // A library log event naming the file: the one about a file its last writer did not
    // close (an image taken while a writer had it open, as a crash leaves it).
    let image = dir.path().join("image.redb");
    {
        let writer = pipeline_deps::RegistryManager::open(&db)?;
        writer.get_registry("fresh")?;
        std::fs::copy(&db, &image)?;
    }
    std::fs::copy(&image, &db)?;
    let logged = given_as(dir.path(), "link/reg.redb", &["-v", "--json", "stats"])?.expect(0)?;
    let event = logged
        .stderr
        .lines()
        .map(serde_json::from_str::<Value>)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|line| line["level"] == "INFO" && line["path"].is_string())
        .ok_or_else(|| format!("no log event names the file: {}", logged.stderr))?;
    assert_eq!(event["path"], canonical, "{event}");
    assert!(!logged.stderr.contains(not_shown), "{}", logged.stderr);

    damage(&db)?;
    damage_is_named_canonically(dir.path(), "link/reg.redb", canonical, not_shown)
}

#[cfg(feature = "postgres")]
#[test]
fn a_bad_database_url_during_an_import_is_not_called_an_error_in_the_document() -> TestResult {
    let (dir, _db) = temp()?;
    let doc = dir.path().join("empty.json");
    std::fs::write(&doc, r#"{"steps": []}"#)?;
    // Refused while the URL is read, before any connection: no server needed.
    let url = "postgres://someone@/db?connect_timeout=abc";
    let mut c = Command::new(BIN);
    c.args(["--db", url, "import", "ml", s(&doc)?]);
    hermetic(&mut c);
    let out = output(c)?.expect(4)?;
    assert!(out.stderr.contains("the PostgreSQL URL"), "{}", out.stderr);
    assert!(out.stderr.contains("connect_timeout"), "{}", out.stderr);
    assert!(
        !out.stderr.contains("empty.json"),
        "the URL's error was worded as one in the document: {}",
        out.stderr
    );
    Ok(())
}
