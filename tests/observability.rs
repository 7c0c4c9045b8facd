//! Context creation, clears and registrations emit `tracing` events (and nothing is printed
//! unless the application installs a subscriber).

use std::sync::{Arc, Mutex};

use pipeline_deps::{NodeType, RegistryManager, StepSpecification};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Records each event's message and fields as one line.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0 += &format!(" {}={:?}", field.name(), value);
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().level().to_string());
        event.record(&mut line);
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line.0);
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn lifecycle_and_registration_events_are_emitted() -> TestResult {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), || -> TestResult {
        let manager = RegistryManager::temporary()?;
        let registry = manager.get_registry("observed")?;
        registry.register(
            "marker",
            &StepSpecification::new("Marker", NodeType::Singular),
        )?;
        registry.unregister("marker")?;
        manager.clear_context("observed")?;
        Ok(())
    })?;
    let lines = recorder.0.lock().map_err(|_| "poisoned")?.clone();
    let find = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(find("created context"), "{lines:#?}");
    assert!(find("registered step"), "{lines:#?}");
    assert!(find("step=marker"), "{lines:#?}");
    assert!(find("unregistered step"), "{lines:#?}");
    assert!(find("cleared context"), "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("context=") || l.contains("observed"))
    );
    Ok(())
}
