//! `--help` of the program and of every command it lists is wrapped to the width the
//! tables use: `COLUMNS`, else the terminal's, else 100 columns.

mod support;

use support::{TestResult, command, listed_commands, run_timed, temp_dir};
use unicode_width::UnicodeWidthStr;

/// Every command's `--help`, as `COLUMNS` sets the width (100 columns when it is unset and
/// the output is not a terminal), has no line wider than that, but for clap's `Usage:` line
/// and a word longer than a line (a path), which are never broken. The commands are those
/// `pipeline-deps --help` lists, so a new one is checked too.
#[test]
fn help_is_wrapped_to_the_width_tables_use() -> TestResult {
    let dir = temp_dir()?;
    let db = dir.path().join("r.redb");
    let mut commands = vec![String::new()];
    commands.extend(listed_commands()?);
    assert!(commands.len() > 10, "too few commands listed: {commands:?}");
    for columns in [None, Some(40), Some(60)] {
        for name in &commands {
            let args: Vec<&str> = [name.as_str(), "--help"]
                .into_iter()
                .filter(|a| !a.is_empty())
                .collect();
            let mut c = command(&db, &args);
            if let Some(columns) = columns {
                c.env("COLUMNS", columns.to_string());
            }
            let run = run_timed(c, format!("{name} --help"))?;
            run.expect(0)?;
            let help = run.out();
            let limit = columns.unwrap_or(100);
            for line in help.lines().filter(|l| l.width() > limit) {
                assert!(
                    line.starts_with("Usage: ") || !line.trim().contains(char::is_whitespace),
                    "`{name} --help` with COLUMNS={columns:?}: {} columns: {line:?}",
                    line.width()
                );
            }
        }
    }
    Ok(())
}
