//! A panic in the caller's own code run by the library (an export's `io::Write`) is the
//! caller's panic: it reaches the caller as that panic, printed as usual, and is never
//! reported as a damaged database (`Error::Corrupted`, "restore it from a backup").

mod common;

use std::io::Write;

use common::{TestResult, spec};
use pipeline_deps::RegistryManager;

/// An output that panics once it has been given more than `limit` bytes.
struct PanickingOutput {
    written: usize,
    limit: usize,
}

impl Write for PanickingOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len();
        if self.written > self.limit {
            panic!("the caller's output gave up");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_panicking_export_output_is_the_callers_panic_not_corruption() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("registry.redb");
    let manager = RegistryManager::open(&path)?;
    let registry = manager.get_registry("ml")?;
    for i in 0..20 {
        registry.register(&format!("step{i}"), &spec("Train"))?;
    }
    for limit in [0, 100, 1 << 20] {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            registry.export_json_to(PanickingOutput { written: 0, limit })
        }));
        match outcome {
            Err(payload) => {
                let text = payload
                    .downcast_ref::<&str>()
                    .copied()
                    .unwrap_or("another payload");
                assert_eq!(text, "the caller's output gave up", "limit {limit}");
            }
            Ok(Err(error)) => {
                return Err(format!(
                    "limit {limit}: the caller's panic came back as an error of kind {:?}: {error}",
                    error.kind()
                )
                .into());
            }
            // Everything fitted under the limit: only the largest one holds the export.
            Ok(Ok(count)) => assert_eq!((count, limit), (20, 1 << 20), "no panic"),
        }
    }
    // The manager and the file are as they were.
    registry.register("after", &spec("Train"))?;
    assert_eq!(registry.len()?, 21);
    drop(registry);
    drop(manager);
    let manager = RegistryManager::open(&path)?;
    assert_eq!(manager.get_registry("ml")?.len()?, 21);
    Ok(())
}
