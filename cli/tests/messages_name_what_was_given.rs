//! Invariant: a message names what the user gave, as every other message names it: an
//! error in `demo --specs FILE` calls FILE the demo's --specs document (not "the JSON
//! import") and suggests no flag `demo` lacks; a database given as `../x/reg.redb` is named
//! by its canonical path in the library's messages too (`check`'s pages line, any error),
//! never as `/work/sub/../x/reg.redb`; an invalid database URL during an `import` is named
//! as the URL, not as an error in the imported document.

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

#[test]
fn a_database_given_through_dot_dot_is_named_by_its_canonical_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let x = dir.path().join("x");
    let sub = dir.path().join("sub");
    std::fs::create_dir_all(&x)?;
    std::fs::create_dir_all(&sub)?;
    let db = x.join("reg.redb");
    run(&db, &["demo"])?.expect(0)?;
    damage(&db)?;
    let canonical = std::fs::canonicalize(&db)?;
    let canonical = s(&canonical)?;
    let from_sub = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.current_dir(&sub)
            .arg("--db")
            .arg("../x/reg.redb")
            .args(args);
        hermetic(&mut c);
        output(c)
    };

    let check = from_sub(&["check"])?.expect(1)?;
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
    assert!(!check.stdout.contains(".."), "{}", check.stdout);
    assert!(pages.contains(canonical), "{pages}");
    let json = from_sub(&["--json", "check"])?.expect(1)?.json()?;
    let message = json["pages"]["message"].as_str().ok_or("no message")?;
    assert!(!message.contains(".."), "{message}");
    assert!(message.contains(canonical), "{message}");

    for args in [&["stats"][..], &["contexts"]] {
        let out = from_sub(args)?;
        assert_ne!(out.code, 0, "{args:?} read a damaged file");
        assert!(!out.stderr.contains(".."), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(canonical), "{args:?}: {}", out.stderr);
    }
    Ok(())
}

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
