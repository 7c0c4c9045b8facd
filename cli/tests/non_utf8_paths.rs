//! A path that is not valid UTF-8 (Linux allows any bytes in a file name) is used as the
//! operating system gave it, never a text version of it: every command reads and writes the
//! file named, `--json` documents and errors still come out (the path shown with U+FFFD),
//! suggested commands name the same file, and such a `postgres://` URL is refused rather
//! than taken for a file.
#![cfg(unix)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{FIXTURE, Run, TestResult, command, output};

/// A temporary directory holding the directory `reg\xff`, and that directory.
fn odd_dir() -> TestResult<(tempfile::TempDir, PathBuf)> {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().join(OsStr::from_bytes(b"reg\xff"));
    std::fs::create_dir(&dir)?;
    Ok((temp, dir))
}

/// `pipeline-deps --db <db> <args>`, arguments given as OS strings, run in `cwd`.
fn run_os(cwd: &Path, db: &Path, args: &[&OsStr]) -> TestResult<Run> {
    let mut command = command(db);
    command.args(args).current_dir(cwd);
    output(command)
}

fn os(text: &str) -> &OsStr {
    OsStr::new(text)
}

/// What `parent` holds, by name (bytes).
fn names(parent: &Path) -> TestResult<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(parent)? {
        names.push(entry?.file_name().as_bytes().to_vec());
    }
    names.sort();
    Ok(names)
}

#[test]
fn every_command_reads_and_writes_the_file_named() -> TestResult {
    let (temp, dir) = odd_dir()?;
    let cwd = temp.path();
    let db = dir.join("registry.redb");
    let input = dir.join("in.json");
    std::fs::copy(FIXTURE, &input)?;
    run_os(cwd, &db, &[os("import"), os("real"), input.as_os_str()])?.expect(0)?;
    let exported = dir.join("out.json");
    let args = [os("export"), os("real"), os("-o"), exported.as_os_str()];
    run_os(cwd, &db, &args)?.expect(0)?;
    let snapshot = dir.join("edges.json");
    let args = [os("snapshot"), os("real"), os("-o"), snapshot.as_os_str()];
    run_os(cwd, &db, &args)?.expect(0)?;
    let args = [os("check-snapshot"), os("real"), snapshot.as_os_str()];
    run_os(cwd, &db, &args)?.expect(0)?;
    let copied = dir.join("copy.redb");
    let args = [
        os("copy"),
        os("--from"),
        db.as_os_str(),
        os("--to"),
        copied.as_os_str(),
    ];
    run_os(cwd, &db, &args)?.expect(0)?;
    let demo = dir.join("demo.redb");
    run_os(cwd, &demo, &[os("demo"), os("--specs"), input.as_os_str()])?.expect(0)?;
    let stats = run_os(cwd, &copied, &[os("stats")])?.expect(0)?;
    assert!(stats.stdout.contains("real"), "{stats:?}");
    // Everything is in `reg\xff`; nothing was made under another name.
    assert_eq!(names(cwd)?, [b"reg\xff".to_vec()]);
    let made = names(&dir)?;
    for file in [
        "copy.redb",
        "demo.redb",
        "edges.json",
        "out.json",
        "registry.redb",
    ] {
        assert!(
            made.contains(&file.as_bytes().to_vec()),
            "{file} in {made:?}"
        );
    }
    Ok(())
}

#[test]
fn json_documents_and_errors_name_the_path_shown_lossily() -> TestResult {
    let (temp, dir) = odd_dir()?;
    let db = dir.join("registry.redb");
    let shown = format!(
        "{}/reg\u{FFFD}/registry.redb",
        temp.path().canonicalize()?.display()
    );
    // An error before the file exists: one JSON line, naming it.
    let missing = run_os(temp.path(), &db, &[os("stats"), os("--json")])?.expect(3)?;
    let error: Value = serde_json::from_str(missing.stderr.trim())?;
    assert_eq!(error["kind"], "no_database", "{missing:?}");
    assert_eq!(error["database"], shown.as_str(), "{missing:?}");
    assert_eq!(error["file"], shown.as_str(), "{missing:?}");
    // Documents: the database, and the files written.
    let input = dir.join("in.json");
    std::fs::copy(FIXTURE, &input)?;
    let args = [os("import"), os("real"), input.as_os_str(), os("--json")];
    let imported = run_os(temp.path(), &db, &args)?.expect(0)?.json()?;
    assert_eq!(imported["database"], shown.as_str());
    assert_eq!(imported["imported"], 61);
    let stats = run_os(temp.path(), &db, &[os("stats"), os("--json")])?.expect(0)?;
    assert_eq!(stats.json()?["totals"]["steps"], 61);
    let out = dir.join("out.json");
    let args = [
        os("export"),
        os("real"),
        os("-o"),
        out.as_os_str(),
        os("--json"),
    ];
    let exported = run_os(temp.path(), &db, &args)?.expect(0)?.json()?;
    let file = exported["file"].as_str().ok_or("no file")?;
    assert!(file.ends_with("/reg\u{FFFD}/out.json"), "{exported}");
    Ok(())
}

#[test]
fn suggested_commands_name_the_same_file() -> TestResult {
    let (temp, dir) = odd_dir()?;
    let db = dir.join("registry.redb");
    let missing = run_os(temp.path(), &db, &[os("stats")])?.expect(3)?;
    // The byte is written `\xff` in bash's `$'…'` quoting, which gives it back.
    assert!(
        missing.stderr.contains("--db $'") && missing.stderr.contains("/reg\\xff/registry.redb'"),
        "{missing:?}"
    );
    Ok(())
}

#[test]
fn a_postgres_url_that_is_not_utf8_is_refused_not_taken_for_a_file() -> TestResult {
    let temp = tempfile::tempdir()?;
    let url = Path::new(OsStr::from_bytes(
        b"postgres://ci:s3cret@db.internal/reg\xff",
    ));
    for json in [false, true] {
        let mut args = vec![os("import"), os("c"), os(FIXTURE)];
        if json {
            args.push(os("--json"));
        }
        let refused = run_os(temp.path(), url, &args)?.expect(2)?;
        assert!(refused.stderr.contains("not valid UTF-8"), "{refused:?}");
        assert!(!refused.stderr.contains("s3cret"), "{refused:?}");
        if json {
            let error: Value = serde_json::from_str(refused.stderr.trim())?;
            assert_eq!(error["kind"], "usage", "{refused:?}");
        }
    }
    // No directory `postgres:` beside the command, and no registry file in one.
    assert_eq!(names(temp.path())?, Vec::<Vec<u8>>::new());
    Ok(())
}
