//! Every table fits the width `COLUMNS` asks for, down to the 40 columns the README allows,
//! however many columns it has: text columns give way (ending in `…`), numbers are never cut.

mod common;

use common::{FIXTURE, TestResult, command, output, run, temp};
use unicode_width::UnicodeWidthStr;

/// How the header line of every table the commands print begins (a header may be cut
/// too: `CONSUMER.DEPE…`).
const HEADERS: [&str; 4] = ["CONT", "STEP", "CONS", "PROD"];

/// The lines of every table in `text`: a header line and the lines after it up to a blank one.
fn table_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let bare = line.trim_start_matches([' ', '*']);
        if HEADERS.iter().any(|h| bare.starts_with(h)) {
            inside = true;
        } else if line.trim().is_empty() {
            inside = false;
        }
        if inside {
            lines.push(line);
        }
    }
    lines
}

#[test]
fn tables_fit_forty_columns_and_never_cut_a_number() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["import", "cursus", FIXTURE])?.expect(0)?;
    run(&db, &["demo"])?.expect(0)?;
    for columns in [40, 45, 52] {
        for args in [
            &["contexts"][..],
            &["stats"],
            &["show", "cursus"],
            &["types", "cursus"],
            &["types", "cursus", "XGBoostTraining"],
            &["resolve", "cursus"],
            &["resolve", "cursus", "--explain", "--top", "3"],
        ] {
            let mut c = command(&db);
            c.args(args).env("COLUMNS", columns.to_string());
            let out = output(c)?.expect(0)?.stdout;
            let table = table_lines(&out);
            assert!(table.len() >= 2, "{args:?}: no table found in:\n{out}");
            for line in table {
                assert!(
                    line.width() <= columns,
                    "{args:?} with COLUMNS={columns}: {} columns: {line:?}",
                    line.width()
                );
            }
            if args == ["show", "cursus"] {
                // DEPS, REQUIRED and OUTPUTS are whole numbers in every row.
                for row in table_lines(&out).iter().skip(1) {
                    let counts: Vec<&str> = row.split_whitespace().rev().take(3).collect();
                    assert!(
                        counts.iter().all(|c| c.parse::<usize>().is_ok()),
                        "a count was cut with COLUMNS={columns}: {row:?}"
                    );
                }
            }
        }
    }
    Ok(())
}
