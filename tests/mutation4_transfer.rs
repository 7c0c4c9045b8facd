//! Invariant: import and export keep the promises of their documentation at their edges — a
//! refusal shows as its error and carries its cause, a refusal's list of unknown fields
//! counts what it leaves out (and nothing when it leaves nothing out), a repeated key is
//! placed in the step it lies in and in no other, and an export writes every value whole,
//! however long.
//! Written against mutants of `src/transfer*.rs` that the import and export suites let
//! survive (see the report of the fourth mutation audit, cargo-mutants).

mod common;
mod support;

use common::spec;
use pipeline_deps::resolve::InterfaceCatalog;
use pipeline_deps::transfer::{parse_steps_json, parse_steps_json_located};
use pipeline_deps::{ImportOptions, RegistryManager};
use support::TestResult;

#[test]
fn a_refusal_shows_as_its_error_and_has_the_parsers_error_as_its_source() -> TestResult {
    let Err(refusal) = parse_steps_json_located(r#"{"steps": [}"#, &ImportOptions::new()) else {
        return Err("text that is not JSON was accepted".into());
    };
    assert_eq!(refusal.to_string(), refusal.error.to_string());
    let own = std::error::Error::source(&refusal).ok_or("the refusal has no source")?;
    let error = std::error::Error::source(&refusal.error).ok_or("the error has no source")?;
    assert_eq!(own.to_string(), error.to_string());
    Ok(())
}

/// A document of one step with `count` unknown fields `x0`, `x1`, ...
fn with_unknown_fields(count: usize) -> String {
    let fields: String = (0..count).map(|i| format!(r#", "x{i}": 1"#)).collect();
    format!(
        r#"{{"steps": [{{"step_name": "s", "step_type": "T", "node_type": "singular"{fields}}}]}}"#
    )
}

#[test]
fn ten_unknown_fields_are_all_named_with_no_more_to_count() -> TestResult {
    for (count, more) in [(9, None), (10, None), (11, Some("and 1 more"))] {
        let json = with_unknown_fields(count);
        let Err(refusal) = parse_steps_json_located(&json, &ImportOptions::new()) else {
            return Err(format!("{count} unknown fields were accepted").into());
        };
        let message = refusal.to_string();
        assert!(
            message.contains(&format!("{count} unknown field(s)")),
            "{message}"
        );
        for i in 0..count.min(10) {
            assert!(message.contains(&format!("`x{i}`")), "{message}");
        }
        match more {
            Some(more) => assert!(message.contains(more), "{message}"),
            None => assert!(!message.contains("more"), "{count}: {message}"),
        }
    }
    Ok(())
}

#[test]
fn a_key_repeated_outside_the_steps_names_no_step() -> TestResult {
    // `notes[0]` is no entry of `steps`, although `steps[0]` has a name.
    let json = r#"{"notes": [{"a": 1, "a": 2}], "steps": [{"step_name": "x", "step_type": "T", "node_type": "singular"}]}"#;
    let Err(error) = InterfaceCatalog::from_json(json) else {
        return Err("a repeated key was accepted".into());
    };
    let message = error.to_string();
    assert!(
        message.contains("notes[0]") && message.contains("`a`"),
        "{message}"
    );
    assert!(
        !message.contains("'x'"),
        "a step the key is not in is named: {message}"
    );
    Ok(())
}

#[test]
fn a_value_longer_than_the_export_buffer_is_exported_whole() -> TestResult {
    let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    let mut long = spec("Long");
    let description = "d".repeat(200 * 1024);
    for dependency in long.dependencies.values_mut() {
        dependency.description.clone_from(&description);
    }
    registry.register("long", &long)?;
    let mut out = Vec::new();
    assert_eq!(registry.export_json_to(&mut out)?, 1);
    let steps = parse_steps_json(std::str::from_utf8(&out)?, &ImportOptions::new())?;
    assert_eq!(steps, vec![("long".to_owned(), long)]);
    Ok(())
}

#[test]
fn a_document_may_begin_with_any_whitespace_json_allows() -> TestResult {
    let document =
        r#"{"steps": [{"step_name": "load", "step_type": "Load", "node_type": "singular"}]}"#;
    for space in [" ", "\n", "\t", "\r\n", " \t\r\n "] {
        let steps = parse_steps_json(&format!("{space}{document}"), &ImportOptions::new())?;
        let names: Vec<_> = steps.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["load"], "after {space:?}");
    }
    Ok(())
}

#[test]
fn a_refused_negative_number_is_what_the_refusals_cause_names() -> TestResult {
    let json = r#"{"steps": [{"step_name": "s", "step_type": "T", "node_type": "singular",
        "dependencies": {"d": {"type": "processing_output", "required": -7}}}]}"#;
    let Err(refusal) = parse_steps_json_located(json, &ImportOptions::new()) else {
        return Err("a number for a flag was accepted".into());
    };
    let message = refusal.to_string();
    assert!(message.contains("dependencies.d.required"), "{message}");
    let source = std::error::Error::source(&refusal).map(ToString::to_string);
    assert!(
        source.as_deref().is_some_and(|s| s.contains("-7")),
        "{source:?}"
    );
    Ok(())
}
