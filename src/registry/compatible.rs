//! The registry's own compatibility search, scored as the Python reference registry
//! scores it: [`SpecificationRegistry::find_compatible_outputs`] and what it returns.

use super::SpecificationRegistry;
use crate::error::Result;
use crate::spec::{DependencySpec, OutputSpec};

/// A step found by [`SpecificationRegistry::find_compatible_outputs`].
///
/// ```
/// use pipeline_deps::{DependencySpec, DependencyType, NodeType, OutputSpec, RegistryManager, StepSpecification};
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let registry = RegistryManager::in_memory()?.get_registry("ml")?;
/// registry.register("train", &StepSpecification::new("Train", NodeType::Source).with_output(
///     OutputSpec::new("model", DependencyType::ModelArtifacts, "properties.Model"),
/// ))?;
/// let found = registry
///     .find_compatible_outputs(&DependencySpec::new("model_input", DependencyType::ModelArtifacts))?;
/// assert_eq!((found[0].step_name.as_str(), found[0].output_name.as_str()), ("train", "model"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CompatibleOutput {
    /// The providing step's name.
    pub step_name: String,
    /// The output's logical name.
    pub output_name: String,
    /// The output.
    pub output: OutputSpec,
    /// The registry's compatibility score, in `[0.5, 1.0]`.
    pub score: f64,
}

impl SpecificationRegistry {
    /// Outputs of registered steps that could feed `dependency`, scored as the Python reference
    /// registry does (docs/design.md): same dependency type and same data type required; score
    /// `0.5`, `+0.3` when the provider's step type is in `compatible_sources` (exact),
    /// `+0.2 × (keywords contained in the output's lowercased name) / keywords`, capped at
    /// 1.0. Sorted by score descending; ties keep registration then declaration order. The
    /// consumer itself is not skipped.
    ///
    /// # Errors
    /// As [`Self::iter`].
    pub fn find_compatible_outputs(
        &self,
        dependency: &DependencySpec,
    ) -> Result<Vec<CompatibleOutput>> {
        let mut found = Vec::new();
        for (step_name, spec) in self.iter()? {
            for (output_name, output) in &spec.outputs {
                if output.output_type != dependency.dependency_type
                    || output.data_type != dependency.data_type
                {
                    continue;
                }
                let mut score = 0.5;
                if dependency.compatible_sources.contains(&spec.step_type) {
                    score += 0.3;
                }
                if !dependency.semantic_keywords.is_empty() {
                    let name = output.logical_name.to_lowercase();
                    let hits = dependency
                        .semantic_keywords
                        .iter()
                        .filter(|k| name.contains(&k.to_lowercase()))
                        .count();
                    score += 0.2 * hits as f64 / dependency.semantic_keywords.len() as f64;
                }
                found.push(CompatibleOutput {
                    step_name: step_name.clone(),
                    output_name: output_name.clone(),
                    output: output.clone(),
                    score: score.min(1.0),
                });
            }
        }
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(found)
    }
}
