//! Every refusal of a registry's JSON import names the context it was refused for (the
//! `Error` docs: messages name the context, step or file involved), and changes nothing.

mod common;

use common::{TestResult, spec};
use pipeline_deps::{Error, ImportOptions, RegistryManager};

#[test]
fn a_refused_import_document_names_the_context() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("fraud_training")?;
    registry.register("prep", &spec("Prep"))?;
    let revision = registry.revision()?;
    let documents = [
        "",
        "{",
        "[]",
        "{}",
        r#"{"steps": 3}"#,
        r#"{"schema": "nope/v9", "steps": []}"#,
        r#"{"steps": [{"step_name": "a", "step_type": "A", "step_type": "B"}]}"#,
        r#"{"steps": [{"step_name": "a", "step_type": "A", "node_type": "singular", "colour": 1}]}"#,
        r#"{"steps": [{"step_name": "a", "step_type": "A", "node_type": "singular"},
                      {"step_name": "a", "step_type": "A", "node_type": "singular"}]}"#,
    ];
    for document in documents {
        for options in [ImportOptions::new(), ImportOptions::new().replace(true)] {
            let error = registry
                .import_json_with(document, &options)
                .err()
                .ok_or_else(|| format!("{document:?} was imported"))?;
            assert!(error.is_invalid_input(), "{document:?}: {error}");
            let message = error.to_string();
            assert!(
                message.contains("context 'fraud_training'"),
                "{document:?}: the message names no context: {message}"
            );
            if let Error::InvalidInput { what, .. } = &error {
                assert!(what.contains("'fraud_training'"), "{what}");
            }
        }
    }
    assert_eq!(registry.revision()?, revision);
    assert_eq!(registry.list_step_names()?, ["prep"]);
    Ok(())
}
