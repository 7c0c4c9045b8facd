//! Invariant: error messages stay bounded whatever the input: an `InvalidSpec` message lists
//! at most 10 problems and says how many more there are (all of them stay in
//! `Error::InvalidSpec::problems`), and a refused import names an unknown field's key cut to
//! 100 characters. Written against mutants that the earlier tests let survive (see the
//! report of the mutation audit): 11 problems listed, and keys cut at 1,000 characters.

mod common;

use common::TestResult;
use pipeline_deps::{Error, NodeType, RegistryManager, StepSpecification};

#[test]
fn an_invalid_spec_message_lists_ten_problems_and_counts_the_rest() -> TestResult {
    let registry = RegistryManager::in_memory()?.get_registry("ctx")?;
    // A blank step type is one problem per step.
    let bad = StepSpecification::new("", NodeType::Singular);
    let names: Vec<String> = (0..12).map(|i| format!("bad_step_{i:02}")).collect();
    let refused = registry.register_many(names.iter().map(|name| (name.as_str(), &bad)));
    let e = match refused {
        Err(e @ Error::InvalidSpec { .. }) => e,
        other => return Err(format!("expected InvalidSpec, got {other:?}").into()),
    };
    let kept = match &e {
        Error::InvalidSpec { problems, .. } => problems.len(),
        _ => 0,
    };
    assert_eq!(kept, 12, "every problem is kept: {e:?}");
    let message = e.to_string();
    let listed = names.iter().filter(|name| message.contains(*name)).count();
    assert_eq!(listed, 10, "the message lists {listed} problems: {message}");
    assert!(message.contains("; and 2 more;"), "{message}");
    assert!(registry.is_empty()?, "a refused batch wrote something");
    Ok(())
}

#[test]
fn an_unknown_fields_key_is_cut_in_the_message() -> TestResult {
    let registry = RegistryManager::in_memory()?.get_registry("ctx")?;
    let key = "k".repeat(5000);
    let json = format!(
        r#"{{"steps": [{{"step_name": "s", "step_type": "T", "node_type": "source", "{key}": 1}}]}}"#
    );
    let refused = registry.import_json(&json);
    let Err(e) = refused else {
        return Err("an unknown field was accepted".into());
    };
    let message = e.to_string();
    let longest_run = message.split(|c| c != 'k').map(str::len).max().unwrap_or(0);
    assert_eq!(
        longest_run, 100,
        "the key is shown with {longest_run} characters: {message}"
    );
    assert!(message.len() < 1000, "{} bytes: {message}", message.len());
    assert!(registry.is_empty()?, "a refused import wrote something");
    Ok(())
}
