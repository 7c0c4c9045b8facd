//! Invariant: whatever `--db` points at, every command answers with a documented exit code
//! and never waits on the target, hangs, panics or damages what is there: a FIFO, a directory, a
//! device (`/dev/null`) or a socket is refused with exit 3 and left as it was; a read-only
//! file or medium can be read and checked (read commands and `check` exit 0 and change no
//! byte) while writes are refused with exit 3; a full disk fails a write with exit 3 and
//! leaves the last committed state whole, readable at once, and writable again once space
//! is freed. The disk tests mount a small tmpfs, which needs root (as CI runs); elsewhere
//! they print a SKIPPED line.

mod support;

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

use support::{Inputs, TestResult, Tmpfs, run, run_args, s, skipped, temp_dir};

fn mkfifo(path: &Path) -> TestResult {
    let status = Command::new("mkfifo").arg(path).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("mkfifo {} failed", path.display()).into())
    }
}

#[test]
fn non_regular_files_are_refused_at_once_by_every_command() -> TestResult {
    let dir = temp_dir()?;
    let healthy = support::healthy_db(dir.path())?;
    let inputs = Inputs::new(dir.path(), &healthy)?;
    let commands = support::every_command(&inputs)?;
    let fifo = dir.path().join("registry.fifo");
    mkfifo(&fifo)?;
    let directory = dir.path().join("a-directory");
    std::fs::create_dir(&directory)?;
    let socket_path = dir.path().join("registry.sock");
    let _socket = std::os::unix::net::UnixListener::bind(&socket_path)?;
    let targets: [(&str, &Path); 4] = [
        ("FIFO", &fifo),
        ("directory", &directory),
        ("/dev/null", Path::new("/dev/null")),
        ("socket", &socket_path),
    ];
    let mut runs = 0;
    for (what, target) in targets {
        for args in &commands {
            if args[0] == "completions" {
                continue; // does not open the database
            }
            // Opening a FIFO blocks until a writer comes: a command that tried would hang,
            // which the harness ends after its timeout, failing `expect`.
            let result = run_args(target, args)?;
            result.expect(3).map_err(|e| format!("{what}: {e}"))?;
            runs += 1;
        }
        let kind = std::fs::symlink_metadata(target)?.file_type();
        let still = match what {
            "FIFO" => kind.is_fifo(),
            "directory" => kind.is_dir(),
            "/dev/null" => kind.is_char_device(),
            _ => kind.is_socket(),
        };
        assert!(still, "{what} was replaced by a command");
    }
    assert!(
        std::fs::read_dir(&directory)?.next().is_none(),
        "files appeared in the directory"
    );
    eprintln!(
        "FIGURE adversarial_targets/non_regular: {runs} runs on 4 kinds of target, each refused with exit 3"
    );
    Ok(())
}

/// Runs every command against a database that cannot be written (read-only file or medium):
/// reads and `check` succeed without changing a byte; writes are refused with exit 3 (or,
/// where they cannot be refused because the caller is root, not run).
fn read_only_contract(db: &Path, inputs: &Inputs, writes_refused: bool) -> TestResult<usize> {
    let before = std::fs::read(db)?;
    let mut runs = 0;
    for args in support::every_command(inputs)? {
        if args[0] == "completions" || (!writes_refused && !support::reads_only(&args)) {
            continue;
        }
        let result = run_args(db, &args)?;
        if support::reads_only(&args) {
            result.expect(0)?;
        } else {
            result.expect(3)?;
        }
        assert!(
            std::fs::read(db)? == before,
            "{} changed the bytes of a read-only database",
            result.what
        );
        runs += 1;
    }
    Ok(runs)
}

#[test]
fn a_read_only_file_can_be_read_and_checked() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir()?;
    let healthy = support::healthy_db(dir.path())?;
    let inputs = Inputs::new(dir.path(), &healthy)?;
    std::fs::set_permissions(&healthy, std::fs::Permissions::from_mode(0o444))?;
    // Root ignores permission bits: there, only the reads (and `check`) are judged; the
    // read-only medium test below covers refused writes.
    let root = support::is_root();
    let runs = read_only_contract(&healthy, &inputs, !root)?;
    eprintln!(
        "FIGURE adversarial_targets/read_only_file: {runs} runs{}",
        if root {
            " (as root: writes not judged)"
        } else {
            ""
        }
    );
    Ok(())
}

#[test]
fn a_read_only_medium_can_be_read_and_checked() -> TestResult {
    let medium = match Tmpfs::mount("16m", "") {
        Ok(medium) => medium,
        Err(why) => {
            skipped("a_read_only_medium_can_be_read_and_checked", &why);
            return Ok(());
        }
    };
    let dir = temp_dir()?;
    let healthy = support::healthy_db(dir.path())?;
    let inputs = Inputs::new(dir.path(), &healthy)?;
    let db = medium.path.join("registry.redb");
    std::fs::copy(&healthy, &db)?;
    medium.remount(true)?;
    let runs = read_only_contract(&db, &inputs, true)?;
    eprintln!(
        "FIGURE adversarial_targets/read_only_medium: {runs} runs, reads and check exit 0, writes exit 3, 0 bytes changed"
    );
    Ok(())
}

/// Context name → exported document, for every context.
fn exports(db: &Path) -> TestResult<Vec<(String, String)>> {
    let contexts = support::context_counts(&run(db, &["contexts", "--json"])?.expect(0)?.json()?)?;
    let mut out = Vec::new();
    for name in contexts.keys() {
        out.push((name.clone(), run(db, &["export", name])?.expect(0)?.out()));
    }
    Ok(out)
}

#[test]
fn a_full_disk_fails_a_write_cleanly_and_leaves_the_last_commit_whole() -> TestResult {
    let disk = match Tmpfs::mount("512k", "") {
        Ok(disk) => disk,
        Err(why) => {
            skipped(
                "a_full_disk_fails_a_write_cleanly_and_leaves_the_last_commit_whole",
                &why,
            );
            return Ok(());
        }
    };
    let dir = temp_dir()?;
    let db = disk.path.join("registry.redb");
    let small = support::write_file(
        dir.path(),
        "small.json",
        support::synthetic_specs("s", 10, 1).as_bytes(),
    )?;
    run(&db, &["import", "small", s(&small)?])?.expect(0)?;
    let big = support::write_file(
        dir.path(),
        "big.json",
        support::synthetic_specs("b", 3_000, 1).as_bytes(),
    )?;
    let big_replace = support::write_file(
        dir.path(),
        "big_replace.json",
        support::synthetic_specs("s", 3_000, 2).as_bytes(),
    )?;
    let before = exports(&db)?;
    for (what, args) in [
        ("import into a new context", vec!["import", "big", s(&big)?]),
        (
            "import --replace",
            vec!["import", "small", s(&big_replace)?, "--replace"],
        ),
    ] {
        let result = run(&db, &args)?;
        result
            .expect(3)
            .map_err(|e| format!("{what} on a full disk: {e}"))?;
        // At once, read-only: the last committed state, whole; no empty new context.
        assert_eq!(exports(&db)?, before, "{what}: the committed state changed");
        run(&db, &["check"])?.expect(0)?;
    }
    // `copy` onto a nearly full disk (room for a small commit, not for 3,000 specs): each
    // context in one transaction that creates it, so the one that does not fit is absent,
    // not left empty (found by an outside pass).
    let status = Command::new("mount")
        .args(["-o", "remount,size=768k"])
        .arg(&disk.path)
        .status()?;
    assert!(status.success(), "growing the tmpfs failed");
    let source = dir.path().join("source.redb");
    run(&source, &["import", "big", s(&big)?])?.expect(0)?;
    let result = run(&db, &["copy", "--from", s(&source)?, "--to", s(&db)?])?;
    result
        .expect(3)
        .map_err(|e| format!("copy on a full disk: {e}"))?;
    assert_eq!(exports(&db)?, before, "copy: the committed state changed");
    run(&db, &["check"])?.expect(0)?;
    // Space again: the file is writable and the import goes through.
    let status = Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&disk.path)
        .status()?;
    assert!(status.success(), "growing the tmpfs failed");
    run(&db, &["import", "big", s(&big)?])?.expect(0)?;
    let counts = support::context_counts(&run(&db, &["contexts", "--json"])?.expect(0)?.json()?)?;
    assert_eq!(counts.get("big").map(|c| c.0), Some(3_000));
    run(&db, &["check"])?.expect(0)?;
    eprintln!(
        "FIGURE adversarial_targets/full_disk: 2 imports and a copy refused on a full 512 KiB tmpfs, state unchanged and readable at once"
    );
    Ok(())
}

#[test]
fn output_files_that_are_not_regular_files_are_written_not_replaced() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("r.redb");
    run(&db, &["demo"])?.expect(0)?;
    // As root a rename over /dev/null would succeed and replace the device with a file.
    for args in [
        ["export", "unit_tests", "-o", "/dev/null"],
        ["snapshot", "unit_tests", "-o", "/dev/null"],
    ] {
        run(&db, &args)?.contract()?.expect(0)?;
        let kind = std::fs::metadata("/dev/null")?.file_type();
        assert!(kind.is_char_device(), "{args:?} replaced /dev/null");
    }
    // A symbolic link to an output file is written through, not replaced by a file.
    let target = dir.path().join("target.json");
    std::fs::write(&target, "old")?;
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link)?;
    run(&db, &["export", "unit_tests", "-o", s(&link)?])?.expect(0)?;
    assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
    assert!(std::fs::read_to_string(&target)?.contains("unit_tests"));
    Ok(())
}
