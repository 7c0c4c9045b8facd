//! Invariant: a registry's JSON import refused for a field inside a step's spec (a
//! dependency's or an output's, however deep) names the context, the step and the path to
//! the field, and changes nothing. Runs on a file or, with
//! `PIPELINE_DEPS_TEST_BACKEND=postgres`, on PostgreSQL.

mod common;

use common::{TestResult, manager, spec};
use pipeline_deps::{Error, ImportOptions};

#[test]
fn a_refused_field_inside_a_step_names_the_context_step_and_field() -> TestResult {
    let manager = manager()?;
    let registry = manager.get_registry("fraud_training")?;
    registry.register("prep", &spec("Prep"))?;
    let revision = registry.revision()?;
    let step = |inner: &str| {
        format!(
            r#"{{"steps": [{{"step_name": "train", "step_type": "Train", "node_type": "internal", {inner}}}]}}"#
        )
    };
    let cases = [
        (
            step(
                r#""dependencies": {"data": {"logical_name": "data", "dependency_type": "training_data", "compatible_sources": [1]}}"#,
            ),
            "dependencies.data.compatible_sources[0]",
        ),
        (
            step(
                r#""dependencies": {"data": {"logical_name": "data", "dependency_type": "training_data", "compatible_sources": "Prep"}}"#,
            ),
            "dependencies.data.compatible_sources",
        ),
        (
            step(
                r#""dependencies": {"data": {"logical_name": "data", "dependency_type": "no_such_type"}}"#,
            ),
            "dependencies.data.dependency_type",
        ),
        (
            step(
                r#""outputs": {"model": {"logical_name": "model", "output_type": "model_artifacts", "property_path": 3}}"#,
            ),
            "outputs.model.property_path",
        ),
    ];
    for (document, field) in &cases {
        for options in [ImportOptions::new(), ImportOptions::new().replace(true)] {
            let error = registry
                .import_json_with(document, &options)
                .err()
                .ok_or_else(|| format!("{document} was imported"))?;
            let message = error.to_string();
            assert!(error.is_invalid_input(), "{message}");
            for part in ["context 'fraud_training'", "step 'train'", field] {
                assert!(message.contains(part), "no {part} in: {message}");
            }
            if let Error::InvalidInput { what, .. } = &error {
                assert!(what.contains("'fraud_training'"), "{what}");
            }
        }
    }
    assert_eq!(registry.revision()?, revision);
    assert_eq!(registry.list_step_names()?, ["prep"]);
    Ok(())
}
