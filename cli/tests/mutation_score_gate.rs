//! Invariant: `check-snapshot` fails (exit 1) only when the wiring changed; a score that
//! moved on an unchanged edge is reported and exits 0, unless `--strict-scores` is given
//! (then exit 1). Written against a mutant of the gate that failed on every moved score,
//! which the earlier tests let survive (see the report of the mutation audit).

mod common;

use common::{TestResult, run, s, temp};

/// `prep` feeds `train`'s dependency `training_data`; `keywords` are the dependency's
/// semantic keywords, which move the score but not the wiring.
fn specs(keywords: &str) -> String {
    format!(
        r#"{{"schema": "pipeline-deps-export/v1", "steps": [
  {{"step_name": "prep", "step_type": "Prep", "node_type": "source",
   "outputs": {{"training_data": {{"logical_name": "training_data",
                                   "output_type": "processing_output",
                                   "property_path": "properties.Data"}}}}}},
  {{"step_name": "train", "step_type": "Train", "node_type": "sink",
   "dependencies": {{"training_data": {{"logical_name": "training_data",
                                        "dependency_type": "processing_output",
                                        "semantic_keywords": [{keywords}]}}}}}}
]}}"#
    )
}

#[test]
fn a_moved_score_on_an_unchanged_edge_fails_the_gate_only_with_strict_scores() -> TestResult {
    let (dir, db) = temp()?;
    let file = dir.path().join("specs.json");
    std::fs::write(&file, specs(r#""training""#))?;
    run(&db, &["import", "ctx", s(&file)?])?.expect(0)?;
    let edges = dir.path().join("edges.json");
    run(&db, &["snapshot", "ctx", "-o", s(&edges)?])?.expect(0)?;
    run(&db, &["check-snapshot", "ctx", s(&edges)?])?.expect(0)?;

    // A keyword that the output's name does not hold: the keyword part of the score drops.
    std::fs::write(&file, specs(r#""training", "unrelated""#))?;
    run(&db, &["import", "ctx", s(&file)?, "--replace"])?.expect(0)?;
    let json = run(&db, &["check-snapshot", "ctx", s(&edges)?, "--json"])?
        .expect(0)?
        .json()?;
    assert_eq!(json["ok"], true, "{json}");
    let rescored = json["diff"]["rescored"].as_array().map_or(0, Vec::len);
    assert_eq!(rescored, 1, "the score did not move: {json}");
    assert_eq!(json["diff"]["rewired"].as_array().map(Vec::len), Some(0));
    let text = run(&db, &["check-snapshot", "ctx", s(&edges)?])?.expect(0)?;
    assert!(
        text.stdout.contains("scores moved but the wiring did not"),
        "{text:?}"
    );
    let strict = run(
        &db,
        &["check-snapshot", "ctx", s(&edges)?, "--strict-scores"],
    )?
    .expect(1)?;
    assert!(strict.stdout.contains("--strict-scores"), "{strict:?}");
    Ok(())
}
