//! Invariant: a question about a consumer step that is not registered (a misspelt name)
//! still gets the reference's empty answer, and the resolver says so in a `tracing` warning
//! naming the step and its context; a registered step without dependencies gets the same
//! empty answer and no warning.

use std::io::Write;
use std::sync::{Arc, Mutex};

use pipeline_deps::{
    DependencyType, NodeType, OutputSpec, RegistryManager, SemanticMatcher, StepSpecification,
    UnifiedDependencyResolver,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Everything a `tracing` subscriber wrote while `work` ran on this thread.
fn logged(work: impl FnOnce() -> TestResult) -> Result<String, Box<dyn std::error::Error>> {
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::with_default(subscriber, work)?;
    let bytes = buffer.0.lock().map_err(|_| "poisoned")?.clone();
    Ok(String::from_utf8(bytes)?)
}

#[test]
fn an_unregistered_consumer_resolves_to_nothing_with_a_warning_naming_it() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    let registry = manager.get_registry("pipeline")?;
    let source = StepSpecification::new("Load", NodeType::Source).with_output(OutputSpec::new(
        "data",
        DependencyType::ProcessingOutput,
        "properties.Data",
    ));
    registry.register("load", &source)?;
    let resolver = UnifiedDependencyResolver::new(registry, SemanticMatcher::default());

    let mut answer = None;
    let log = logged(|| {
        answer = Some(resolver.resolve_step_dependencies("laod", &["load", "laod"])?);
        Ok(())
    })?;
    assert_eq!(answer.map(|a| a.len()), Some(0));
    assert!(log.contains("WARN"), "{log:?}");
    assert!(
        log.contains("no specification is registered for the consumer step"),
        "{log:?}"
    );
    assert!(log.contains("laod") && log.contains("pipeline"), "{log:?}");

    // A registered step without dependencies: the same empty answer, nothing said.
    let log = logged(|| {
        assert!(
            resolver
                .resolve_step_dependencies("load", &["load"])?
                .is_empty()
        );
        Ok(())
    })?;
    assert_eq!(log, "");
    Ok(())
}
