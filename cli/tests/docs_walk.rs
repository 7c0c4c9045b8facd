//! What README.md shows a new user is what the binary does: every `$ pipeline-deps …` sample
//! of its "Command-line tool" section, run in order on one database, prints the sample's
//! output and exits with its code (file sizes aside); the messages met on that walk say
//! what happened; and its tables fit the terminal it runs on.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::{BIN, FIXTURE, Holder, TestResult, hermetic, output};
use serde_json::Value;

/// The README, read when the test runs (so the test follows every edit of it).
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");

/// The directory the README's samples ran in, as their output names it.
const SAMPLE_DIR: &str = "/tmp/readme";

/// The comment line that stands for an edit of the `cursus` context, which the walk makes.
const ALIAS_EDIT: &str = "drop the alias GeneratedPayloadSamples from Payload.payload_sample";

/// One `$ …` line of a sample and what the sample shows after it.
#[derive(Debug)]
struct Step {
    command: String,
    /// The lines shown after the command, without the `[exit N]` line.
    shown: Vec<String>,
    exit_code: i32,
}

/// The code blocks of the README's "Command-line tool" section that hold `$ ` lines, split
/// into steps, with the `demo` sample first: the JSON section's sample before it runs on the
/// database `demo` builds, as the README says.
fn samples() -> TestResult<Vec<Vec<Step>>> {
    let readme = fs::read_to_string(README)?;
    let start = readme
        .find("\n## Command-line tool")
        .ok_or("README has no Command-line tool section")?;
    let end = readme[start + 1..]
        .find("\n## ")
        .map_or(readme.len(), |i| start + 1 + i);
    let section = &readme[start..end];
    let mut blocks = Vec::new();
    for (i, block) in section.split("```").enumerate() {
        // Odd pieces are inside a fence: the first line is its language, if any.
        if i % 2 == 0 {
            continue;
        }
        let Some(body) = block.strip_prefix('\n') else {
            continue;
        };
        let mut steps: Vec<Step> = Vec::new();
        for line in body.lines() {
            if let Some(command) = line.strip_prefix("$ ") {
                steps.push(Step {
                    command: command.to_owned(),
                    shown: Vec::new(),
                    exit_code: 0,
                });
            } else if let Some(step) = steps.last_mut() {
                match line
                    .strip_prefix("[exit ")
                    .and_then(|rest| rest.strip_suffix(']'))
                {
                    Some(code) => step.exit_code = code.parse()?,
                    None => step.shown.push(line.to_owned()),
                }
            }
        }
        if !steps.is_empty() {
            blocks.push(steps);
        }
    }
    let demo = blocks
        .iter()
        .position(|steps| steps[0].command == "pipeline-deps --db registry.redb demo")
        .ok_or("README has no demo sample")?;
    let first = blocks.remove(demo);
    blocks.insert(0, first);
    Ok(blocks)
}

/// `text` with every size in KiB written `<size>`: they follow the storage engine's
/// allocation, which the README does not promise.
fn without_sizes(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let next_is_unit = words.get(i + 1).is_some_and(|next| next.starts_with("KiB"));
        let number = word.trim_start_matches('(');
        if next_is_unit && !number.is_empty() && number.parse::<f64>().is_ok() {
            out.push(format!("{}<size>", &word[..word.len() - number.len()]));
        } else {
            out.push((*word).to_owned());
        }
    }
    out.join(" ")
}

/// Drops the alias the README's comment names, as a user would: export, edit, import.
fn drop_the_alias(dir: &Path) -> TestResult {
    let file = dir.join("cursus-edited.json");
    let exported = run_in(dir, &["--db", "registry.redb", "export", "cursus"])?.expect(0)?;
    let mut document: Value = serde_json::from_str(&exported.stdout)?;
    let steps = document["steps"].as_array_mut().ok_or("no steps")?;
    let payload = steps
        .iter_mut()
        .find(|step| step["step_name"] == "Payload")
        .ok_or("no Payload step")?;
    let aliases = payload["outputs"]["payload_sample"]["aliases"]
        .as_array_mut()
        .ok_or("no aliases")?;
    aliases.retain(|alias| alias != "GeneratedPayloadSamples");
    fs::write(&file, serde_json::to_string(&document)?)?;
    let file = file.to_str().ok_or("non-UTF-8 temp path")?;
    run_in(
        dir,
        &[
            "--db",
            "registry.redb",
            "import",
            "cursus",
            file,
            "--replace",
        ],
    )?
    .expect(0)?;
    Ok(())
}

/// `pipeline-deps <args>` run in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> TestResult<common::Run> {
    let mut command = Command::new(BIN);
    hermetic(&mut command);
    command.current_dir(dir).args(args);
    output(command)
}

#[test]
fn the_readmes_command_line_samples_are_what_the_binary_prints() -> TestResult {
    let temp = tempfile::tempdir()?;
    let dir = temp.path().canonicalize()?;
    let dir_text = dir.to_str().ok_or("non-UTF-8 temp path")?.to_owned();
    fs::copy(FIXTURE, dir.join("cursus-step-specs.json"))?;
    let mut checked = 0;
    for steps in samples()? {
        for step in &steps {
            let shown: Vec<String> = step
                .shown
                .iter()
                .map(|line| line.replace(SAMPLE_DIR, &dir_text))
                .collect();
            if let Some(comment) = step.command.strip_prefix("# ") {
                assert!(
                    comment.contains(ALIAS_EDIT),
                    "a README sample comment this walk cannot follow: {comment}"
                );
                drop_the_alias(&dir)?;
                continue;
            }
            if let Some(file) = step.command.strip_prefix("cat ") {
                // The sample shows a file the next command reads: write it.
                fs::write(dir.join(file), shown.join("\n") + "\n")?;
                continue;
            }
            // A leftover file the sample lists is made first, as a killed command leaves it.
            for line in &shown {
                if let Some(path) = line.trim_start().strip_prefix("- ")
                    && let Some((path, _size)) = path.split_once(" (")
                    && path.contains("/.pipeline-deps-")
                {
                    fs::copy(dir.join("registry.redb"), path)?;
                }
            }
            let (command, head) = match step.command.split_once(" | head -") {
                Some((command, lines)) => (command, Some(lines.parse::<usize>()?)),
                None => (step.command.as_str(), None),
            };
            let args: Vec<&str> = command
                .strip_prefix("pipeline-deps ")
                .ok_or_else(|| format!("not a pipeline-deps command: {command}"))?
                .split(' ')
                .collect();
            // The samples of a file another process owns run while one holds it exclusively.
            let holder = if shown
                .iter()
                .any(|line| line.contains("is already open by another process"))
            {
                Some(Holder::start(&dir.join("registry.redb"), "exclusive")?)
            } else {
                None
            };
            let run = run_in(&dir, &args)?;
            if let Some(holder) = holder {
                holder.stop()?;
            }
            let mut printed: Vec<&str> = run.stdout.lines().chain(run.stderr.lines()).collect();
            if let Some(lines) = head {
                printed.truncate(lines);
            }
            let mut expected: Vec<&str> = shown.iter().map(String::as_str).collect();
            // A sample ending in `...` shows the beginning of the output only.
            if expected.last().is_some_and(|line| line.trim() == "...") {
                expected.pop();
                printed.truncate(expected.len());
            }
            assert_eq!(
                without_sizes(&printed.join("\n")),
                without_sizes(&expected.join("\n")),
                "README sample `$ {}` printed something else (exit code {})",
                step.command,
                run.code
            );
            assert_eq!(
                run.code, step.exit_code,
                "README sample `$ {}`",
                step.command
            );
            checked += 1;
        }
    }
    // The samples this walk follows: a README without them would pass it unnoticed.
    assert!(checked >= 25, "only {checked} README samples were run");
    Ok(())
}

/// The body of a [`Holder`] in the child process; run as a test without the holder's
/// environment variable it does nothing.
#[test]
fn holder_process() -> TestResult {
    common::hold_if_asked()
}

#[test]
fn an_unexpanded_tilde_in_to_or_from_is_not_said_to_come_from_the_environment() -> TestResult {
    let temp = tempfile::tempdir()?;
    let dir = temp.path();
    for args in [
        ["copy", "--to", "~/copy.redb", "--from", "x.redb"],
        ["copy", "--from", "~/x.redb", "--to", "copy.redb"],
    ] {
        let run = run_in(dir, &args)?.expect(2)?;
        assert!(run.stderr.contains("the path was quoted"), "{run:?}");
        assert!(!run.stderr.contains("PIPELINE_DEPS_DB"), "{run:?}");
    }
    // The database can come from the environment, and its message says so.
    let mut command = Command::new(BIN);
    hermetic(&mut command);
    command
        .current_dir(dir)
        .env("PIPELINE_DEPS_DB", "~/registry.redb")
        .arg("stats");
    let run = output(command)?.expect(2)?;
    assert!(run.stderr.contains("PIPELINE_DEPS_DB"), "{run:?}");
    Ok(())
}

#[test]
fn help_with_json_after_it_says_help_has_no_json_form() -> TestResult {
    let temp = tempfile::tempdir()?;
    for args in [
        &["help", "--json"][..],
        &["help", "stats", "--json"],
        &["--json", "help"],
    ] {
        let run = run_in(temp.path(), args)?.expect(2)?;
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
        let error: Value = serde_json::from_str(&run.stderr)?;
        assert_eq!(error["kind"], "usage", "{args:?}: {error}");
        let message = error["message"].as_str().ok_or("no message")?;
        assert!(
            message.starts_with("help is text for people, which has no JSON form"),
            "{args:?}: {message}"
        );
    }
    Ok(())
}

/// The lines of the table `show fraud_detection_training` prints on a terminal `columns`
/// wide (util-linux `script` gives it one); `None` when `script` is not installed.
fn table_on_a_terminal(db: &Path, columns: u16) -> TestResult<Option<Vec<String>>> {
    if Command::new("script").arg("--version").output().is_err() {
        return Ok(None);
    }
    let db = db.to_str().ok_or("non-UTF-8 temp path")?;
    let line =
        format!("stty rows 24 cols {columns}; {BIN} --db {db} show fraud_detection_training");
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    hermetic(&mut script);
    let run = output(script)?.expect(0)?;
    let lines: Vec<String> = run
        .stdout
        .lines()
        .map(|line| line.trim_end_matches('\r').to_owned())
        .skip_while(|line| !line.starts_with("STEP"))
        .collect();
    assert_eq!(lines.len(), 4, "{run:?}");
    Ok(Some(lines))
}

#[test]
fn tables_fit_the_terminal_and_forty_columns_on_a_narrower_one() -> TestResult {
    let temp = tempfile::tempdir()?;
    let db = temp.path().join("registry.redb");
    run_in(temp.path(), &["--db", "registry.redb", "demo"])?.expect(0)?;
    let widest = |lines: &[String]| lines.iter().map(|l| l.chars().count()).max();
    // The table takes 73 columns where it has room.
    let Some(wide) = table_on_a_terminal(&db, 120)? else {
        println!("SKIPPED: util-linux `script` is not installed");
        return Ok(());
    };
    assert_eq!(widest(&wide), Some(73), "{wide:#?}");
    let Some(fitted) = table_on_a_terminal(&db, 60)? else {
        return Ok(());
    };
    assert_eq!(widest(&fitted), Some(60), "{fitted:#?}");
    // Narrower than 40 columns, the table takes 40, the narrowest it is fitted to.
    let Some(narrow) = table_on_a_terminal(&db, 30)? else {
        return Ok(());
    };
    assert_eq!(widest(&narrow), Some(40), "{narrow:#?}");
    Ok(())
}
