//! An input document that never ends (`/dev/zero`, `yes | … -`, a producer stuck sending
//! bytes no JSON holds) is refused as invalid JSON at the byte that shows it, at once, with
//! nothing written: the input is not read to its end (which never comes) before it is judged.

#![cfg(unix)]

mod support;

use std::io::Write;
use std::process::Stdio;

use support::{TIMEOUT, TestResult, command, finish, run, temp_dir};

/// Runs `args` with standard input fed `head`, then `fill` bytes until the command stops
/// reading.
fn fed(
    db: &std::path::Path,
    args: &[&str],
    head: &'static [u8],
    fill: u8,
) -> TestResult<support::Run> {
    let mut c = command(db, args);
    c.stdin(Stdio::piped());
    let mut child = c.spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let feeder = std::thread::spawn(move || {
        let block = vec![fill; 64 * 1024];
        // A write fails once the command has exited and closed the pipe.
        if stdin.write_all(head).is_ok() {
            while stdin.write_all(&block).is_ok() {}
        }
    });
    let run = finish(child, format!("{args:?} fed endlessly"), TIMEOUT)?;
    feeder.join().map_err(|_| "the feeder panicked")?;
    Ok(run)
}

#[test]
fn an_endless_input_is_refused_at_the_byte_that_is_not_json() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("r.redb");
    run(&db, &["demo"])?.contract()?.expect(0)?;
    let before = std::fs::read(&db)?;

    let zero = run(&db, &["import", "x", "/dev/zero"])?;
    zero.contract()?.expect(4)?;
    assert!(
        zero.err().contains("/dev/zero")
            && zero.err().contains("not valid JSON at line 1, column 1"),
        "{}",
        zero.err()
    );
    let snapshot = run(&db, &["check-snapshot", "unit_tests", "/dev/zero"])?;
    snapshot.contract()?.expect(4)?;

    let yes = fed(&db, &["import", "x", "-"], b"", b'y')?;
    yes.contract()?.expect(4)?;
    assert!(
        yes.err().contains("standard input") && yes.err().contains("line 1, column 1"),
        "{}",
        yes.err()
    );
    let nul = fed(&db, &["--json", "import", "x", "-"], b"{\"steps\": [", 0)?;
    nul.contract()?.expect(4)?;
    let error: serde_json::Value = serde_json::from_slice(&nul.stderr)?;
    assert_eq!(error["kind"], "invalid_input", "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("line 1, column 12")),
        "{error}"
    );

    assert!(
        run(&db, &["show", "x"])?.contract()?.code != Some(0),
        "an import wrote context x"
    );
    assert_eq!(
        std::fs::read(&db)?,
        before,
        "a refused import changed the file"
    );
    Ok(())
}
