//! A byte order mark before an input document (as Windows editors and PowerShell write
//! one) is not part of it: `import`, `check-snapshot` and `demo --specs` read the document
//! after it, from a file or standard input.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{FIXTURE, TestResult, command, run, s, temp};

/// `text` with a UTF-8 byte order mark before it.
fn with_bom(text: &[u8]) -> Vec<u8> {
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(text);
    bytes
}

#[test]
fn a_byte_order_mark_before_a_document_is_ignored() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;

    let export = dir.path().join("unit_tests.json");
    run(&db, &["export", "unit_tests", "-o", s(&export)?])?.expect(0)?;
    let bom_export = dir.path().join("bom-export.json");
    std::fs::write(&bom_export, with_bom(&std::fs::read(&export)?))?;
    let imported = run(&db, &["import", "copy", s(&bom_export)?, "--json"])?.expect(0)?;
    assert_eq!(imported.json()?["imported"], 2, "{imported:?}");

    let mut c = command(&db);
    c.args(["import", "piped", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(&with_bom(&std::fs::read(&export)?))?;
    let out = child.wait_with_output()?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let snapshot = dir.path().join("edges.json");
    run(&db, &["snapshot", "unit_tests", "-o", s(&snapshot)?])?.expect(0)?;
    let bom_snapshot = dir.path().join("bom-edges.json");
    std::fs::write(&bom_snapshot, with_bom(&std::fs::read(&snapshot)?))?;
    run(&db, &["check-snapshot", "unit_tests", s(&bom_snapshot)?])?.expect(0)?;

    let bom_fixture = dir.path().join("bom-fixture.json");
    std::fs::write(&bom_fixture, with_bom(&std::fs::read(FIXTURE)?))?;
    run(&db, &["demo", "--specs", s(&bom_fixture)?])?.expect(0)?;
    Ok(())
}
