//! The step specifications the examples register, shared through `#[path]`: real cursus
//! specifications from the repository's fixture (`tests/fixtures/cursus-step-specs.json`,
//! embedded at compile time), placed as the design's "Basic Multi-Registry Management"
//! example places its placeholders (docs/design.md).
//!
//! It only uses the library's public API (`transfer::parse_steps_json`, `upsert_many`), as
//! a program of your own would.
#![allow(dead_code)] // each example uses part of it

use pipeline_deps::transfer::parse_steps_json;
use pipeline_deps::{Error, ImportOptions, RegistryManager, Result, StepSpecification};

/// The real step specifications of the cursus project (61 steps, descriptions emptied; see
/// the header of the file for its source and licence).
pub const CURSUS_SPECS: &str = include_str!("../../tests/fixtures/cursus-step-specs.json");

/// The design's three example contexts, in creation order.
pub const DESIGN_CONTEXTS: [&str; 3] = [
    "fraud_detection_training",
    "fraud_detection_inference",
    "unit_tests",
];

/// One step of the design's example: its context, its name there, and which real
/// specification (fixture entry and job-type variant) it gets.
#[derive(Debug, Clone, Copy)]
pub struct DesignStep {
    pub context: &'static str,
    pub step_name: &'static str,
    pub fixture_step: &'static str,
    pub variant: Option<&'static str>,
}

const fn step(
    context: &'static str,
    step_name: &'static str,
    fixture_step: &'static str,
    variant: Option<&'static str>,
) -> DesignStep {
    DesignStep {
        context,
        step_name,
        fixture_step,
        variant,
    }
}

/// The design's seven steps, context by context, in registration order.
pub const DESIGN_STEPS: [DesignStep; 7] = [
    step(
        DESIGN_CONTEXTS[0],
        "data_loading",
        "CradleDataLoading",
        Some("training"),
    ),
    step(
        DESIGN_CONTEXTS[0],
        "feature_engineering",
        "RiskTableMapping",
        Some("training"),
    ),
    step(
        DESIGN_CONTEXTS[0],
        "model_training",
        "XGBoostTraining",
        None,
    ),
    step(DESIGN_CONTEXTS[1], "model_loading", "XGBoostModel", None),
    step(
        DESIGN_CONTEXTS[1],
        "batch_transform",
        "BatchTransform",
        None,
    ),
    step(
        DESIGN_CONTEXTS[2],
        "mock_data_source",
        "DummyDataLoading",
        None,
    ),
    step(
        DESIGN_CONTEXTS[2],
        "test_processor",
        "TabularPreprocessing",
        None,
    ),
];

/// The specifications of [`DESIGN_STEPS`], in that order, read from `document` (the cursus
/// fixture format) or, when it is `None`, from [`CURSUS_SPECS`].
pub fn design_specs(document: Option<&str>) -> Result<Vec<(DesignStep, StepSpecification)>> {
    let json = document.unwrap_or(CURSUS_SPECS);
    let base = parse_steps_json(json, &ImportOptions::default())?;
    let training = parse_steps_json(json, &ImportOptions::new().variant("training"))?;
    DESIGN_STEPS
        .iter()
        .map(|step| {
            let parsed = if step.variant.is_some() {
                &training
            } else {
                &base
            };
            parsed
                .iter()
                .find(|(name, _)| name == step.fixture_step)
                .map(|(_, spec)| (*step, spec.clone()))
                .ok_or_else(|| Error::InvalidInput {
                    what: "the examples' specification document".into(),
                    detail: format!("it has no step named '{}'", step.fixture_step),
                    source: None,
                })
        })
        .collect()
}

/// Registers (or replaces) the design's seven steps in its three contexts of `manager`, one
/// transaction per context; returns how many steps were written.
pub fn build_design_contexts(manager: &RegistryManager, document: Option<&str>) -> Result<usize> {
    let specs = design_specs(document)?;
    let mut written = 0;
    for context in DESIGN_CONTEXTS {
        let steps = specs
            .iter()
            .filter(|(step, _)| step.context == context)
            .map(|(step, spec)| (step.step_name, spec));
        written += manager.get_registry(context)?.upsert_many(steps)?;
    }
    Ok(written)
}
