//! The process-wide default manager opens the file named by `PIPELINE_DEPS_DB`, else a
//! per-user data path, creating its directory; checked in child processes so that the
//! environment is set before first use.

use std::process::Command;

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Runs `child_entry` of this test binary in a new process with `envs`.
fn run_child(envs: &[(&str, &std::path::Path)]) -> TestResult {
    let output = child(envs, None)?;
    assert!(
        output.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    Ok(())
}

/// The output of `child_entry` in a new process with `envs`, run in `cwd` when given.
fn child(
    envs: &[(&str, &std::path::Path)],
    cwd: Option<&std::path::Path>,
) -> TestResult<std::process::Output> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--ignored", "--exact", "child_entry", "--nocapture"])
        .env_remove("PIPELINE_DEPS_DB")
        .env_remove("XDG_DATA_HOME");
    for (key, value) in envs {
        command.env(key, value);
    }
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    Ok(command.output()?)
}

#[test]
#[ignore = "runs only as the child process of the tests below"]
fn child_entry() -> TestResult {
    let registry = pipeline_deps::get_default_registry()?;
    registry.register(
        "written_by_child",
        &pipeline_deps::StepSpecification::new("Marker", pipeline_deps::NodeType::Singular),
    )?;
    if std::env::var_os("PD_TEST_CLOSE_DEFAULT").is_some() {
        assert!(pipeline_deps::default_manager::close_default_manager());
        assert!(!pipeline_deps::default_manager::close_default_manager());
    }
    Ok(())
}

#[test]
fn closing_the_default_manager_closes_its_file_cleanly() -> TestResult {
    let dir = tempfile::tempdir()?;
    for close in [true, false] {
        let db = dir.path().join(format!("closed_{close}.redb"));
        let mut envs = vec![("PIPELINE_DEPS_DB", db.as_path())];
        if close {
            envs.push(("PD_TEST_CLOSE_DEFAULT", std::path::Path::new("1")));
        }
        run_child(&envs)?;
        // A file its last writer did not close is served from a copy recovered in memory.
        let reader = pipeline_deps::RegistryManager::open_read_only(&db)?;
        assert_eq!(reader.recovered_from_copy(), !close, "closed: {close}");
        assert_eq!(
            reader.get_registry("default")?.list_step_names()?,
            ["written_by_child"]
        );
    }
    Ok(())
}

fn assert_written(path: &std::path::Path) -> TestResult {
    let manager = pipeline_deps::RegistryManager::open(path)?;
    assert_eq!(
        manager.get_registry("default")?.list_step_names()?,
        ["written_by_child"]
    );
    Ok(())
}

#[test]
fn pipeline_deps_db_names_the_default_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("nested").join("chosen.redb");
    run_child(&[("PIPELINE_DEPS_DB", &path)])?;
    assert_written(&path)
}

#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn without_the_variable_the_per_user_data_path_is_used() -> TestResult {
    let dir = tempfile::tempdir()?;
    run_child(&[("XDG_DATA_HOME", dir.path())])?;
    assert_written(&dir.path().join("pipeline-deps").join("registry.redb"))?;

    let home = tempfile::tempdir()?;
    run_child(&[("HOME", home.path())])?;
    assert_written(&home.path().join(".local/share/pipeline-deps/registry.redb"))
}

#[test]
fn a_postgres_url_is_never_taken_for_a_file_name() -> TestResult {
    // Port 1 on loopback: nothing listens, so a build with PostgreSQL support fails to
    // connect, and one without refuses the URL; neither creates a `postgresql:` directory.
    let cwd = tempfile::tempdir()?;
    let url = std::path::Path::new("postgresql://127.0.0.1:1/nowhere");
    let output = child(&[("PIPELINE_DEPS_DB", url)], Some(cwd.path()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{text}");
    assert!(
        text.contains("PostgreSQL") || text.contains("Server"),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(cwd.path())?.count(), 0, "{text}");
    Ok(())
}

#[test]
fn a_mistyped_server_url_is_refused_and_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let output = child(
        &[(
            "PIPELINE_DEPS_DB",
            std::path::Path::new("postgress://ci@db.internal/registry"),
        )],
        Some(dir.path()),
    )?;
    assert!(!output.status.success(), "the child wrote somewhere");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("written as a URL (postgress://"),
        "{printed}"
    );
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 0, "nothing created");
    Ok(())
}

#[test]
fn a_default_database_of_memory_is_in_memory_and_creates_no_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let output = child(
        &[("PIPELINE_DEPS_DB", std::path::Path::new(":memory:"))],
        Some(dir.path()),
    )?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        std::fs::read_dir(dir.path())?.count(),
        0,
        "a file was created"
    );
    Ok(())
}
