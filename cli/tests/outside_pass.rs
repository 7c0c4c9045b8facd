//! What a person or a script sees in corners found by an outside pass: `--json` is
//! recognised only among the options (not as a name after `--`), `--help` and `--version`
//! that cannot be written are an I/O error (exit 3), and a database path that cannot be
//! looked at (a symbolic link loop) is reported as the error it is, not as a missing file
//! with advice to create it.

mod common;

use std::process::{Command, Stdio};

use common::{BIN, TestResult, hermetic, output, run, temp};
use serde_json::Value;

#[test]
fn json_after_a_double_dash_is_a_name_not_the_flag() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    // `--json` after `--` is a context name; the usage error is for people.
    let bad = run(&db, &["show", "--", "--json", "a", "b"])?.expect(2)?;
    assert!(
        bad.stderr.starts_with("error:") && serde_json::from_str::<Value>(&bad.stderr).is_err(),
        "{bad:?}"
    );
    // Before `--` it is the flag.
    let bad = run(&db, &["show", "--json", "--", "x", "a", "b"])?.expect(2)?;
    let error: Value = serde_json::from_str(&bad.stderr)?;
    assert_eq!(error["kind"], "usage", "{error}");
    Ok(())
}

#[cfg(target_os = "linux")]
#[test]
fn help_and_version_that_cannot_be_written_fail() -> TestResult {
    for args in [
        &["--help"][..],
        &["show", "--help"],
        &["help", "show"],
        &["--version"],
        &["--version", "--json"],
    ] {
        let mut c = Command::new(BIN);
        hermetic(&mut c);
        c.args(args).stdout(std::fs::File::create("/dev/full")?);
        let out = output(c)?;
        assert_eq!(out.code, 3, "{args:?}: {out:?}");
        assert!(out.stderr.contains("No space left"), "{args:?}: {out:?}");
        if args.contains(&"--json") {
            let error: Value = serde_json::from_str(&out.stderr)?;
            assert_eq!(error["kind"], "io", "{error}");
        }
    }
    // A reader that goes away is not an error.
    let mut c = Command::new(BIN);
    hermetic(&mut c);
    let mut child = c.arg("--help").stdout(Stdio::piped()).spawn()?;
    drop(child.stdout.take());
    assert_eq!(child.wait()?.code(), Some(0));
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_loop_is_not_reported_as_a_missing_database() -> TestResult {
    let (dir, _) = temp()?;
    let a = dir.path().join("a.redb");
    let b = dir.path().join("b.redb");
    std::os::unix::fs::symlink(&b, &a)?;
    std::os::unix::fs::symlink(&a, &b)?;
    for args in [&["stats"][..], &["check"], &["clear", "x"]] {
        let out = run(&a, args)?.expect(3)?;
        assert!(
            !out.stderr.contains("there is no registry database")
                && out.stderr.contains("symbolic links"),
            "{args:?}: {out:?}"
        );
    }
    let mut json_args = vec!["stats", "--json"];
    json_args.truncate(2);
    let error: Value = serde_json::from_str(&run(&a, &json_args)?.expect(3)?.stderr)?;
    assert_eq!(error["kind"], "io", "{error}");
    Ok(())
}
