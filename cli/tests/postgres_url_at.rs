//! A PostgreSQL URL whose `@` cannot be read for sure (a password holding `@` or `/` not
//! percent-encoded) is refused before any connection, telling how to write it (`@` as
//! `%40`, or the password in `PGPASSWORD`), and never prints the password, for people or
//! under `--json`. No server is needed: the URL is refused while it is read.
#![cfg(feature = "postgres")]

use std::path::Path;

use serde_json::Value;

mod common;
use common::{Run, TestResult, command, output, run};

/// Passwords that no message may show, and URLs holding them unencoded.
const CASES: [(&str, &str); 4] = [
    ("s3cr@tpw", "postgres://ci:s3cr@tpw@db.invalid/registry"),
    (
        "s3cr@tpw",
        "postgresql://ci:s3cr@tpw@db.invalid:5432/registry?sslmode=disable",
    ),
    ("s3cr/t@pw", "postgres://ci:s3cr/t@pw@db.invalid/registry"),
    ("@s3crtpw@", "postgres://ci:@s3crtpw@@db.invalid/registry"),
];

/// Neither the password nor any part of it around its `@` or `/` appears in `run`.
fn shows_no_password(run: &Run, password: &str) -> TestResult {
    let text = format!("{}{}", run.stdout, run.stderr);
    for part in password.split(['@', '/']).filter(|p| p.len() >= 3) {
        if text.contains(part) {
            return Err(format!("the password's part {part:?} is shown: {run:?}").into());
        }
    }
    Ok(())
}

#[test]
fn an_ambiguous_at_is_refused_with_how_to_write_it() -> TestResult {
    for (password, url) in CASES {
        let refused = run(Path::new(url), &["stats"])?.expect(4)?;
        let hint = refused
            .stderr
            .lines()
            .find(|line| line.trim_start().starts_with("hint:"))
            .ok_or_else(|| format!("no hint: {refused:?}"))?;
        assert!(hint.contains("%40"), "{hint}");
        assert!(hint.contains("PGPASSWORD"), "{hint}");
        shows_no_password(&refused, password)?;
    }
    Ok(())
}

#[test]
fn under_json_the_error_says_how_and_shows_no_password() -> TestResult {
    for (password, url) in CASES {
        let refused = run(Path::new(url), &["contexts", "--json"])?.expect(4)?;
        let error: Value = serde_json::from_str(refused.stderr.trim())?;
        assert_eq!(error["kind"], "invalid_input", "{refused:?}");
        let message = error["message"].as_str().ok_or("no message")?;
        assert!(message.contains("%40"), "{message}");
        assert!(message.contains("PGPASSWORD"), "{message}");
        let database = error["database"].as_str().ok_or("no database")?;
        assert!(database.ends_with("://…"), "{database}");
        shows_no_password(&refused, password)?;
    }
    Ok(())
}

#[test]
fn copy_from_or_to_such_a_url_says_the_same() -> TestResult {
    let temp = tempfile::tempdir()?;
    let file = temp.path().join("registry.redb");
    run(&file, &["demo"])?.expect(0)?;
    let file = file.to_str().ok_or("a UTF-8 temporary path")?;
    let (password, url) = CASES[0];
    for (from, to) in [(url, file), (file, url)] {
        let mut copy = command(Path::new(file));
        copy.args(["copy", "--from", from, "--to", to]);
        let refused = output(copy)?.expect(4)?;
        let hint = refused.stderr.lines().find(|l| l.contains("hint:"));
        assert!(hint.is_some_and(|h| h.contains("%40")), "{refused:?}");
        shows_no_password(&refused, password)?;
    }
    Ok(())
}
