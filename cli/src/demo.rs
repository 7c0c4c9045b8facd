//! `pipeline-deps demo`: the design's three example contexts, built from real step
//! specifications.
//!
//! The "Basic Multi-Registry Management" example of the design (docs/design.md) registers
//! seven steps in three contexts. [`build_demo`] does the same with real specifications
//! from the cursus project: by default from an excerpt embedded in the binary
//! ([`EMBEDDED_DEMO_SPECS`],
//! 7 of the 61 steps of `cursus-step-specs.json` at cursus commit `6a2e2022`), or from the
//! full fixture document passed by the caller. [`DEMO_STEPS`] says which step goes where.

use std::fmt;

use pipeline_deps::transfer::parse_steps_json;
use pipeline_deps::{
    ContextStats, Error, ImportOptions, RegistryManager, Result, StepSpecification,
};

/// The demo's contexts, in creation order (the design's example output order).
pub const DEMO_CONTEXTS: [&str; 3] = [
    "fraud_detection_training",
    "fraud_detection_inference",
    "unit_tests",
];

/// The excerpt of the cursus fixture embedded in the binary as the demo's default input: the `steps`
/// entries of the seven specifications [`DEMO_STEPS`] uses, copied verbatim from
/// `cursus-step-specs.json` (cursus commit `6a2e2022`), with only the `variants` the demo
/// uses. Its `notes` say so.
pub const EMBEDDED_DEMO_SPECS: &str = include_str!("demo_specs.json");

/// One step of the demo: where it is registered and which real specification it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoStep {
    /// The context (one of [`DEMO_CONTEXTS`]).
    pub context: &'static str,
    /// The step name it is registered under, as in the design.
    pub step_name: &'static str,
    /// The `step_name` of its entry in the cursus fixture.
    pub fixture_step: &'static str,
    /// The job-type variant taken from the entry's `variants`, if any.
    pub variant: Option<&'static str>,
}

/// Every step of the demo, context by context, in registration order. The design's
/// placeholder specs map to real ones: the training pipeline loads and feature-engineers
/// with the `training` job-type variants of `CradleDataLoading` and `RiskTableMapping`.
pub const DEMO_STEPS: [DemoStep; 7] = [
    DemoStep {
        context: DEMO_CONTEXTS[0],
        step_name: "data_loading",
        fixture_step: "CradleDataLoading",
        variant: Some("training"),
    },
    DemoStep {
        context: DEMO_CONTEXTS[0],
        step_name: "feature_engineering",
        fixture_step: "RiskTableMapping",
        variant: Some("training"),
    },
    DemoStep {
        context: DEMO_CONTEXTS[0],
        step_name: "model_training",
        fixture_step: "XGBoostTraining",
        variant: None,
    },
    DemoStep {
        context: DEMO_CONTEXTS[1],
        step_name: "model_loading",
        fixture_step: "XGBoostModel",
        variant: None,
    },
    DemoStep {
        context: DEMO_CONTEXTS[1],
        step_name: "batch_transform",
        fixture_step: "BatchTransform",
        variant: None,
    },
    DemoStep {
        context: DEMO_CONTEXTS[2],
        step_name: "mock_data_source",
        fixture_step: "DummyDataLoading",
        variant: None,
    },
    DemoStep {
        context: DEMO_CONTEXTS[2],
        step_name: "test_processor",
        fixture_step: "TabularPreprocessing",
        variant: None,
    },
];

/// Where the demo's specifications came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoSource {
    /// The excerpt embedded in the binary ([`EMBEDDED_DEMO_SPECS`]).
    Embedded,
    /// A document passed by the caller (normally the full cursus fixture).
    Provided,
}

/// One context built by [`build_demo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoContext {
    /// The context's name within the manager (or workspace view) passed to [`build_demo`].
    pub name: String,
    /// The steps the demo registered in it, in registration order.
    pub steps: Vec<String>,
    /// The context's statistics after the build (they include steps registered there
    /// before the demo ran, if any).
    pub stats: ContextStats,
}

/// What [`build_demo`] did. Its `Display` prints the design's example output, one line per
/// context: `fraud_detection_training: 3 steps, 3 types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Where the specifications came from.
    pub source: DemoSource,
    /// The demo's contexts, in [`DEMO_CONTEXTS`] order.
    pub contexts: Vec<DemoContext>,
}

impl DemoSummary {
    /// Total number of steps the demo registered (7).
    pub fn steps_registered(&self) -> usize {
        self.contexts.iter().map(|c| c.steps.len()).sum()
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for context in &self.contexts {
            writeln!(
                f,
                "{}: {} steps, {} types",
                context.name, context.stats.step_count, context.stats.step_type_count
            )?;
        }
        Ok(())
    }
}

/// What an error about the demo's `--specs` document calls it.
pub const SPECS_DOCUMENT: &str = "the demo's --specs document";

/// The specifications of [`DEMO_STEPS`], in that order, read from `fixture_json` (a
/// document in the cursus fixture format, such as `cursus-step-specs.json`) or, when it is
/// `None`, from [`EMBEDDED_DEMO_SPECS`].
///
/// # Errors
/// [`Error::InvalidInput`] when the document is malformed or lacks one of the steps
/// [`DEMO_STEPS`] needs.
pub fn demo_specs(fixture_json: Option<&str>) -> Result<Vec<(DemoStep, StepSpecification)>> {
    let json = fixture_json.unwrap_or(EMBEDDED_DEMO_SPECS);
    let missing = |step: &DemoStep| Error::InvalidInput {
        what: SPECS_DOCUMENT.into(),
        detail: format!(
            "it has no step named '{}' (needed for step '{}' of context '{}')",
            step.fixture_step, step.step_name, step.context
        ),
        source: None,
    };
    // The document is the demo's, not an import: its errors say so.
    let parse = |options: &ImportOptions| {
        parse_steps_json(json, options).map_err(|error| match error {
            Error::InvalidInput { detail, source, .. } => Error::InvalidInput {
                what: SPECS_DOCUMENT.into(),
                detail,
                source,
            },
            other => other,
        })
    };
    let base = parse(&ImportOptions::default())?;
    // A missing step is the first thing to say (a document without it may have no
    // `training` variant at all, which the variant's import refuses on its own).
    if let Some(step) = DEMO_STEPS
        .iter()
        .find(|step| !base.iter().any(|(name, _)| name == step.fixture_step))
    {
        return Err(missing(step));
    }
    let training = parse(&ImportOptions::new().variant("training"))?;
    DEMO_STEPS
        .iter()
        .map(|step| {
            let parsed = match step.variant {
                None => &base,
                Some("training") => &training,
                Some(other) => {
                    return Err(Error::InvalidInput {
                        what: "the demo plan".into(),
                        detail: format!("variant '{other}' is not one the demo reads"),
                        source: None,
                    });
                }
            };
            parsed
                .iter()
                .find(|(name, _)| name == step.fixture_step)
                .map(|(_, spec)| (*step, spec.clone()))
                .ok_or_else(|| missing(step))
        })
        .collect()
}

/// Builds the design's three example contexts ([`DEMO_CONTEXTS`]) in `manager` from real
/// specifications ([`demo_specs`]): one transaction per context.
///
/// Running it again is harmless: the demo's steps are written with
/// [`upsert_many`](pipeline_deps::SpecificationRegistry::upsert_many), so they are replaced by the
/// same specifications, and other steps of those contexts are left alone. Pass a workspace
/// view ([`RegistryManager::workspace`]) to keep the demo apart from other contexts.
///
/// # Errors
/// The errors of [`demo_specs`] (nothing is written then);
/// [`Error::NoSuchContext`] or [`Error::ReadOnly`] on a read-only manager; storage errors. Contexts built before a storage error stay built.
/// The `cli/tests/demo.rs` tests check what it builds.
pub fn build_demo(manager: &RegistryManager, fixture_json: Option<&str>) -> Result<DemoSummary> {
    let specs = demo_specs(fixture_json)?;
    let mut built = Vec::with_capacity(DEMO_CONTEXTS.len());
    for context in DEMO_CONTEXTS {
        let steps: Vec<(&str, &StepSpecification)> = specs
            .iter()
            .filter(|(step, _)| step.context == context)
            .map(|(step, spec)| (step.step_name, spec))
            .collect();
        manager
            .get_registry(context)?
            .upsert_many(steps.iter().copied())?;
        built.push((
            context,
            steps.iter().map(|(name, _)| (*name).to_owned()).collect(),
        ));
    }
    let mut stats = manager.get_context_stats()?;
    let contexts = built
        .into_iter()
        .map(|(name, steps)| {
            let stats = stats
                .swap_remove(name)
                .ok_or_else(|| Error::ContextCleared {
                    context: name.to_owned(),
                })?;
            Ok(DemoContext {
                name: name.to_owned(),
                steps,
                stats,
            })
        })
        .collect::<Result<_>>()?;
    Ok(DemoSummary {
        source: if fixture_json.is_some() {
            DemoSource::Provided
        } else {
            DemoSource::Embedded
        },
        contexts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_fills_every_demo_context_in_order() {
        let contexts: Vec<&str> = DEMO_STEPS.iter().map(|s| s.context).collect();
        let mut deduped = contexts.clone();
        deduped.dedup();
        assert_eq!(deduped, DEMO_CONTEXTS);
    }

    #[test]
    fn the_embedded_excerpt_has_every_planned_step() -> Result<()> {
        let specs = demo_specs(None)?;
        assert_eq!(specs.len(), DEMO_STEPS.len());
        for (step, spec) in &specs {
            assert_eq!(spec.step_type, step.fixture_step);
            assert!(spec.validate(step.step_name).is_ok(), "{}", step.step_name);
        }
        Ok(())
    }

    #[test]
    fn a_document_missing_a_step_is_refused() {
        let err = demo_specs(Some(r#"{"steps": []}"#));
        assert!(
            matches!(err, Err(Error::InvalidInput { ref detail, .. }) if detail.contains("CradleDataLoading"))
        );
    }
}
