//! Invariant: `compact` refuses a registry file its user may not write, and `export -o` and
//! `snapshot -o` an output file their user may not write (exit 3, the file untouched),
//! although the directory would let them replace the file; checked as an unprivileged
//! user, since mode bits do not stop root.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use common::{BIN, TestResult, run, temp};

#[test]
fn compact_refuses_a_file_its_user_may_not_write() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    // The file this process created is root's when it runs as root.
    let root = std::fs::metadata(&db)?.uid() == 0;
    let runuser = std::path::Path::new("/usr/sbin/runuser");
    if !root || !runuser.exists() {
        println!("SKIPPED: needs root and runuser to run `compact` as the user `nobody`");
        return Ok(());
    }
    // `nobody` owns the file (mode 0444) and may write the directory, so only the check
    // that the file itself is writable stands between it and a replaced file. The binary is
    // copied where `nobody` may run it.
    let bin = dir.path().join("pipeline-deps");
    std::fs::copy(BIN, &bin)?;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
    std::os::unix::fs::chown(&db, Some(65534), Some(65534))?;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444))?;
    let before = std::fs::read(&db)?;
    let inode = std::fs::metadata(&db)?.ino();

    let out = Command::new(runuser)
        .args(["-u", "nobody", "--"])
        .arg(&bin)
        .arg("--db")
        .arg(&db)
        .arg("compact")
        .env_remove("PIPELINE_DEPS_DB")
        .env_remove("RUST_LOG")
        .output()?;
    let stderr = String::from_utf8(out.stderr)?;
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("ermission denied"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        std::fs::metadata(&db)?.ino(),
        inode,
        "the file was replaced"
    );
    assert_eq!(std::fs::read(&db)?, before);
    let left: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert!(
        left.iter()
            .all(|name| !name.starts_with(".pipeline-deps-replace-")),
        "{left:?}"
    );
    Ok(())
}

#[test]
fn outputs_refuse_a_file_their_user_may_not_write() -> TestResult {
    let (dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let root = std::fs::metadata(&db)?.uid() == 0;
    let runuser = std::path::Path::new("/usr/sbin/runuser");
    if !root || !runuser.exists() {
        println!("SKIPPED: needs root and runuser to run `export -o` as the user `nobody`");
        return Ok(());
    }
    // `nobody` may read the registry and write the directory, but not the output file,
    // which root owns (mode 0644).
    let bin = dir.path().join("pipeline-deps");
    std::fs::copy(BIN, &bin)?;
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
    let target = dir.path().join("theirs.json");
    std::fs::write(&target, "root's file\n")?;
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644))?;
    let inode = std::fs::metadata(&target)?.ino();
    for command in ["export", "snapshot"] {
        let out = Command::new(runuser)
            .args(["-u", "nobody", "--"])
            .arg(&bin)
            .arg("--db")
            .arg(&db)
            .args([command, "unit_tests", "-o"])
            .arg(&target)
            .env_remove("PIPELINE_DEPS_DB")
            .env_remove("RUST_LOG")
            .output()?;
        let stderr = String::from_utf8(out.stderr)?;
        assert_eq!(out.status.code(), Some(3), "{command}: {stderr}");
        assert!(stderr.contains("ermission denied"), "{command}: {stderr}");
        assert_eq!(
            std::fs::metadata(&target)?.ino(),
            inode,
            "{command} replaced the file"
        );
        assert_eq!(std::fs::read_to_string(&target)?, "root's file\n");
        let left: Vec<String> = std::fs::read_dir(dir.path())?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        assert!(
            left.iter().all(|name| !name.starts_with(".pipeline-deps-")),
            "{command}: {left:?}"
        );
    }
    Ok(())
}
