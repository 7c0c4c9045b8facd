//! Pipeline-builder integration: the registry of a builder's pipeline context.
//!
//! Reach for this module when a pipeline builder of yours should find the specifications of
//! its own pipeline and environment without passing registries around (the
//! `integrate_with_pipeline_builder` decorator of the design in `docs/design.md`, as a trait
//! and a wrapper).
//!
//! A builder's configuration implements [`PipelineConfig`]; [`WithRegistry`] pairs a builder
//! with the registry of its pipeline's context, which is `pipeline_name` (default
//! `"default_pipeline"`), or `"{pipeline_name}_{environment}"` when the configuration names
//! an environment.

use std::ops::{Deref, DerefMut};

use crate::error::Result;
use crate::manager::RegistryManager;
use crate::registry::SpecificationRegistry;

/// The context used when a configuration names no pipeline.
pub const DEFAULT_PIPELINE_CONTEXT: &str = "default_pipeline";

/// What a pipeline builder's configuration tells the registry manager.
///
/// ```
/// use pipeline_deps::pipeline::PipelineConfig;
///
/// struct Config {
///     name: String,
///     env: String,
/// }
///
/// impl PipelineConfig for Config {
///     fn pipeline_name(&self) -> Option<&str> {
///         Some(&self.name)
///     }
///     fn environment(&self) -> Option<&str> {
///         Some(&self.env)
///     }
/// }
///
/// let config = Config { name: "fraud_detection".into(), env: "prod".into() };
/// assert_eq!(config.context_name(), "fraud_detection_prod");
/// ```
pub trait PipelineConfig {
    /// The pipeline's name; `None` (or empty) means [`DEFAULT_PIPELINE_CONTEXT`].
    fn pipeline_name(&self) -> Option<&str>;

    /// An environment such as `dev` or `prod`; when set, the context is
    /// `"{pipeline_name}_{environment}"`.
    fn environment(&self) -> Option<&str> {
        None
    }

    /// The context name derived from the two above.
    fn context_name(&self) -> String {
        let pipeline = self
            .pipeline_name()
            .filter(|name| !name.is_empty())
            .unwrap_or(DEFAULT_PIPELINE_CONTEXT);
        match self.environment().filter(|env| !env.is_empty()) {
            Some(env) => format!("{pipeline}_{env}"),
            None => pipeline.to_owned(),
        }
    }
}

/// A pipeline builder together with the registry of its context (the design's decorator).
/// Derefs to the builder.
///
/// ```
/// use pipeline_deps::RegistryManager;
/// use pipeline_deps::pipeline::{PipelineConfig, WithRegistry};
///
/// struct Config(&'static str);
/// impl PipelineConfig for Config {
///     fn pipeline_name(&self) -> Option<&str> {
///         Some(self.0)
///     }
/// }
/// struct Builder {
///     steps: Vec<String>,
/// }
///
/// # fn main() -> pipeline_deps::Result<()> {
/// let manager = RegistryManager::in_memory()?;
/// let builder = WithRegistry::new(&manager, &Config("training"), Builder { steps: Vec::new() })?;
/// assert_eq!(builder.registry().context_name(), "training");
/// assert!(builder.steps.is_empty()); // derefs to the builder
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WithRegistry<B> {
    builder: B,
    registry: SpecificationRegistry,
}

impl<B> WithRegistry<B> {
    /// Wraps `builder`, giving it the registry of `config.context_name()` in `manager`.
    ///
    /// # Errors
    /// See [`RegistryManager::get_registry`].
    pub fn new<C: PipelineConfig + ?Sized>(
        manager: &RegistryManager,
        config: &C,
        builder: B,
    ) -> Result<Self> {
        Ok(WithRegistry {
            registry: manager.get_registry(&config.context_name())?,
            builder,
        })
    }

    /// The builder's registry.
    pub fn registry(&self) -> &SpecificationRegistry {
        &self.registry
    }

    /// The wrapped builder.
    pub fn into_inner(self) -> B {
        self.builder
    }
}

impl<B> Deref for WithRegistry<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.builder
    }
}

impl<B> DerefMut for WithRegistry<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.builder
    }
}

/// The registry for a pipeline configuration from the process-wide default manager.
///
/// # Errors
/// See [`crate::default_manager::registry_manager`] and [`RegistryManager::get_registry`].
pub fn integrate_with_pipeline_builder<C: PipelineConfig + ?Sized>(
    config: &C,
) -> Result<SpecificationRegistry> {
    crate::global::registry_manager()?.get_registry(&config.context_name())
}
