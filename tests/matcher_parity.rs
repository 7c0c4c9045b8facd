//! Invariant: the semantic matcher reproduces every measured value of the Python reference
//! (docs/design.md) within 1e-9, and `explain_similarity` never fails and its weighted
//! components add up to its total (D6).

use pipeline_deps::scoring::{normalize_name, sequence_ratio};
use pipeline_deps::{DependencyType, OutputSpec, SemanticMatcher};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOL: f64 = 1e-9;

fn close(actual: f64, expected: f64, what: &str) -> TestResult {
    if (actual - expected).abs() <= TOL {
        Ok(())
    } else {
        Err(format!("{what}: got {actual:?}, expected {expected:?}").into())
    }
}

const THIRD: f64 = 1.0 / 3.0;

/// (name1, name2, S, T, M, U, overall) as measured on the Python reference.
const COMPONENT_TABLE: [(&str, &str, f64, f64, f64, f64, f64); 10] = [
    (
        "training_data",
        "training_dataset",
        0.896551724137931,
        0.3333333333333333,
        0.8500000000000001,
        0.8125,
        0.7272988505747126,
    ),
    (
        "training_data",
        "train_data",
        0.8695652173913043,
        THIRD,
        0.65,
        1.0,
        0.7067028985507247,
    ),
    (
        "training_data",
        "data",
        0.47058823529411764,
        0.5,
        0.9,
        0.3076923076923077,
        0.5527149321266969,
    ),
    (
        "data",
        "dataset",
        0.7272727272727273,
        0.0,
        0.8,
        4.0 / 7.0,
        0.5324675324675325,
    ),
    ("training_data", "model_output", 0.16, 0.0, 0.0, 0.0, 0.048),
    (
        "data-set!",
        "dataset",
        0.9333333333333333,
        0.0,
        0.4,
        4.0 / 7.0,
        0.4942857142857143,
    ),
    (
        "model_input",
        "model_output",
        0.782608695652174,
        THIRD,
        0.45,
        1.0,
        0.6306159420289855,
    ),
    ("input_path", "processed_data", THIRD, 0.0, 0.4, 0.0, 0.2),
    (
        "training",
        "train",
        0.7692307692307693,
        0.0,
        0.8,
        0.625,
        0.5557692307692308,
    ),
    (
        "parameters",
        "hyperparameters",
        0.8,
        0.0,
        0.8,
        2.0 / 3.0,
        0.5733333333333334,
    ),
];

#[test]
fn component_table_of_section_4_6() -> TestResult {
    let m = SemanticMatcher::default();
    for (a, b, s, t, sem, u, overall) in COMPONENT_TABLE {
        let e = m.explain_similarity(a, b);
        let what = format!("{a} / {b}");
        close(e.string_similarity, s, &format!("{what} S"))?;
        close(e.token_similarity, t, &format!("{what} T"))?;
        close(e.semantic_similarity, sem, &format!("{what} M"))?;
        close(e.substring_similarity, u, &format!("{what} U"))?;
        close(e.overall_score, overall, &format!("{what} overall"))?;
        close(m.calculate_similarity(a, b), overall, &what)?;
    }
    Ok(())
}

#[test]
fn overall_values_of_section_4_6() -> TestResult {
    let m = SemanticMatcher::default();
    let cases = [
        ("training_data", "processed_data", 0.6291666666666667),
        ("model", "artifact", 0.2),
        ("output", "result", 0.3),
        ("payload", "sample", 0.2923076923076923),
        ("config", "configuration", 1.0),
        ("eval_metrics", "evaluation_metrics", 1.0),
        ("preprocessing", "preprocess", 1.0),
        ("the and of", "data", 0.0),
    ];
    for (a, b, want) in cases {
        close(m.calculate_similarity(a, b), want, &format!("{a} / {b}"))?;
    }
    let e = m.explain_similarity("the and of", "data");
    assert_eq!(e.normalized_names, (String::new(), "data".to_owned()));
    assert_eq!(
        (
            e.string_similarity,
            e.token_similarity,
            e.semantic_similarity,
            e.substring_similarity
        ),
        (0.0, 0.0, 0.0, 0.0)
    );
    Ok(())
}

#[test]
fn normalisation_examples_of_section_4_2() {
    assert_eq!(normalize_name("  Model__Output--v2 "), "model output v2");
    assert_eq!(
        normalize_name("PKG.reg.eval"),
        "package registration evaluation"
    );
    assert_eq!(normalize_name("data-set!"), "data set");
    assert_eq!(normalize_name("the and of"), "");
    assert_eq!(normalize_name("TrainingData"), "trainingdata");
    assert_eq!(normalize_name("ModelData"), "modeldata");
}

#[test]
fn string_ratio_is_asymmetric_dependency_first() -> TestResult {
    close(
        sequence_ratio("plots output", "best model"),
        0.09090909090909091,
        "a/b",
    )?;
    close(
        sequence_ratio("best model", "plots output"),
        0.18181818181818182,
        "b/a",
    )?;
    let m = SemanticMatcher::default();
    assert_ne!(
        m.calculate_similarity("plots_output", "best_model"),
        m.calculate_similarity("best_model", "plots_output")
    );
    Ok(())
}

#[test]
fn alias_aware_similarity_of_section_4_6() -> TestResult {
    let m = SemanticMatcher::default();
    let out = OutputSpec::new(
        "processed_data",
        DependencyType::ProcessingOutput,
        "properties.X",
    )
    .with_aliases(["training_data", "input_features", "ModelData"]);
    let cases = [
        ("training_data", 1.0),
        ("train_data", 0.7067028985507247),
        ("processed_data", 1.0),
        ("model_data", 0.5708333333333333),
        ("feature_data", 0.5573717948717949),
        ("unrelated_name", 0.13043478260869565),
    ];
    for (name, want) in cases {
        close(m.calculate_similarity_with_aliases(name, &out), want, name)?;
    }
    Ok(())
}

#[test]
fn find_best_matches_of_section_4_6() -> TestResult {
    let m = SemanticMatcher::default();
    let candidates = [
        "model_output",
        "training_dataset",
        "processed_data",
        "validation_data",
        "test_results",
    ];
    let found = m.find_best_matches("training_data", &candidates, 0.3);
    let names: Vec<&str> = found.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["training_dataset", "processed_data", "validation_data"]
    );
    close(found[0].1, 0.7272988505747126, "training_dataset")?;
    close(found[1].1, 0.6291666666666667, "processed_data")?;
    close(found[2].1, 0.5672619047619047, "validation_data")?;
    // Default threshold 0.5 keeps the same three; a stable sort keeps equal scores in order.
    let ties = m.find_best_matches("data", &["data", "DATA", "dataset"], 0.5);
    assert_eq!(
        ties.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["data", "DATA", "dataset"]
    );
    Ok(())
}

#[test]
fn synonyms_of_section_4_1() {
    let m = SemanticMatcher::default();
    assert!(m.are_synonyms("training", "input"));
    assert!(m.are_synonyms("training", "train"));
    assert!(!m.are_synonyms("input", "train"));
    assert!(m.are_synonyms("config", "parameters"));
    assert!(m.are_synonyms("artifact", "result"));
}

/// Deliberate difference D6 (docs/design.md): the Python reference raises ZeroDivisionError
/// here, and reports components beside a decided total that they do not add up to.
#[test]
fn explain_similarity_of_names_normalising_to_nothing_does_not_fail() {
    let m = SemanticMatcher::default();
    let e = m.explain_similarity("the", "and");
    assert_eq!(e.overall_score, 1.0);
    assert_eq!(e.normalized_names, (String::new(), String::new()));
    // Equal normalisations decide 1.0: every component says so.
    assert_eq!(
        (
            e.string_similarity,
            e.token_similarity,
            e.semantic_similarity,
            e.substring_similarity
        ),
        (1.0, 1.0, 1.0, 1.0)
    );
    // An empty raw name decides 0.0, even beside a name that normalises to nothing.
    for (a, b) in [("", ""), ("___", ""), ("", "the")] {
        let empty = m.explain_similarity(a, b);
        assert_eq!(empty.overall_score, 0.0, "an empty raw name scores 0");
        assert_eq!(
            (
                empty.string_similarity,
                empty.token_similarity,
                empty.semantic_similarity,
                empty.substring_similarity
            ),
            (0.0, 0.0, 0.0, 0.0),
            "{a:?} / {b:?}"
        );
    }
    // The substring component itself of two empty names: 1.0, not a division by zero.
    assert_eq!(m.substring_similarity("", ""), 1.0);
}

#[test]
fn empty_raw_names_score_zero_and_equal_normalisations_one() {
    let m = SemanticMatcher::default();
    assert_eq!(m.calculate_similarity("", "data"), 0.0);
    assert_eq!(m.calculate_similarity("data", ""), 0.0);
    assert_eq!(m.calculate_similarity("the", "and"), 1.0);
    assert_eq!(m.calculate_similarity("Model-Output", "model_output"), 1.0);
}
