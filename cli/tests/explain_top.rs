//! `resolve --explain --top N` never says a dependency has no type-compatible output when
//! it has candidates that `--top` left out: it says how many were left out (`--top 0`
//! included), as the `more` count of `--json` does.

mod common;

use common::{TestResult, run, temp};

#[test]
fn candidates_left_out_by_top_are_counted_not_denied() -> TestResult {
    let (_dir, db) = temp()?;
    run(&db, &["demo"])?.expect(0)?;
    let json = run(
        &db,
        &["resolve", "unit_tests", "--explain", "--top", "0", "--json"],
    )?
    .expect(0)?
    .json()?;
    let explained = json["explain"].as_array().ok_or("no explain array")?;
    let counts: Vec<u64> = explained
        .iter()
        .map(|d| d["more"].as_u64().unwrap_or_default())
        .collect();
    assert!(counts.iter().all(|&n| n > 0), "{json}");

    let shown = run(&db, &["resolve", "unit_tests", "--explain", "--top", "0"])?
        .expect(0)?
        .stdout;
    assert!(!shown.contains("no type-compatible output"), "{shown}");
    for n in counts {
        assert!(
            shown.contains(&format!("  … {n} candidate(s) (raise --top to see them)")),
            "{n}: {shown}"
        );
    }
    Ok(())
}
