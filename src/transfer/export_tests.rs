//! The streamed export ([`SpecificationRegistry::export_json_to`]) writes the text that the
//! construction it replaced built whole (every step collected, one document serialized into
//! a `String`, kept here as it was as the oracle), byte for byte, whatever the output's
//! write sizes; and an output that fails is an I/O error keeping its cause, after which the
//! context exports whole again.

use std::io::{self, Write};

use super::{EXPORT_BUFFER, Export, ExportStep};
use crate::error::{Error, shorten};
use crate::transfer::EXPORT_SCHEMA;
use crate::{RegistryManager, SpecificationRegistry};

type TestResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The export as it was built before it streamed.
fn whole_string(registry: &SpecificationRegistry) -> crate::Result<String> {
    let steps: Vec<_> = registry.iter()?.collect();
    let export = Export {
        schema: EXPORT_SCHEMA,
        context: registry.context_name(),
        steps: steps
            .iter()
            .map(|(name, spec)| ExportStep {
                step_name: name,
                spec,
            })
            .collect::<Vec<_>>(),
    };
    serde_json::to_string_pretty(&export).map_err(|e| Error::InvalidInput {
        what: format!("the export of context {}", shorten(registry.context_name())),
        detail: e.to_string(),
        source: Some(Box::new(e)),
    })
}

/// Contexts of several shapes: empty, one step, the real fixture (larger than the export's
/// buffer), and names that JSON must escape.
fn contexts(manager: &RegistryManager) -> TestResult<Vec<SpecificationRegistry>> {
    let empty = manager.get_registry("empty")?;
    let one = manager.get_registry("one")?;
    one.import_json(
        r#"{"steps": [{"step_name": "load", "step_type": "Load", "node_type": "singular"}]}"#,
    )?;
    let real = manager.get_registry("cursus")?;
    real.import_json(include_str!("../../tests/fixtures/cursus-step-specs.json"))?;
    let odd = manager.get_registry("quote \" back \\ ünï ✓")?;
    odd.import_json(
        r#"{"steps": [
            {"step_name": "a \"quoted\" \\ step ✓", "step_type": "T/ü", "node_type": "source",
             "outputs": {"out \"1\"": {"type": "processing_output",
                                       "property_path": "properties.\"x\""}}},
            {"step_name": "ünïcode 🦀", "step_type": "T/ü", "node_type": "sink",
             "dependencies": {"in": {"type": "processing_output", "required": true,
                                     "compatible_sources": ["T/ü"],
                                     "semantic_keywords": ["out \"1\""]}}}
        ]}"#,
    )?;
    Ok(vec![empty, one, real, odd])
}

/// Takes at most `chunk` bytes per write.
struct Trickle {
    out: Vec<u8>,
    chunk: usize,
}

impl Write for Trickle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_streamed_export_is_the_whole_string_byte_for_byte() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    for registry in contexts(&manager)? {
        let expected = whole_string(&registry)?;
        let mut out = Vec::new();
        let written = registry.export_json_to(&mut out)?;
        let name = registry.context_name();
        assert!(out == expected.as_bytes(), "context {name:?}: text differs");
        assert_eq!(written, registry.len()?, "context {name:?}");
        assert_eq!(registry.export_json()?, expected, "context {name:?}");
        for chunk in [1, 7, 4096] {
            let mut trickle = Trickle {
                out: Vec::new(),
                chunk,
            };
            registry.export_json_to(&mut trickle)?;
            assert!(
                trickle.out == expected.as_bytes(),
                "context {name:?}, writes of {chunk}: text differs"
            );
        }
    }
    Ok(())
}

/// Takes `left` bytes, then fails every write (or only the flush) with `kind`.
struct Failing {
    left: usize,
    kind: io::ErrorKind,
    on_flush: bool,
}

impl Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.on_flush {
            return Ok(buf.len());
        }
        if self.left == 0 {
            return Err(io::Error::new(self.kind, "the output failed"));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.on_flush {
            return Err(io::Error::new(self.kind, "the output failed to flush"));
        }
        Ok(())
    }
}

#[test]
fn an_output_that_fails_midway_is_an_io_error_keeping_its_cause() -> TestResult {
    let manager = RegistryManager::in_memory()?;
    let real = manager.get_registry("cursus")?;
    real.import_json(include_str!("../../tests/fixtures/cursus-step-specs.json"))?;
    let expected = whole_string(&real)?;
    assert!(
        expected.len() > 2 * EXPORT_BUFFER,
        "the test needs several buffers"
    );
    let cases = [
        (0, false),
        (1, false),
        (EXPORT_BUFFER, false),
        (EXPORT_BUFFER + 1, false),
        (expected.len() - 1, false),
        (0, true),
    ];
    for kind in [io::ErrorKind::StorageFull, io::ErrorKind::BrokenPipe] {
        for (left, on_flush) in cases {
            let mut out = Failing {
                left,
                kind,
                on_flush,
            };
            let error = match real.export_json_to(&mut out) {
                Ok(n) => return Err(format!("{kind:?} after {left} bytes: exported {n}").into()),
                Err(error) => error,
            };
            assert!(error.is_io(), "{kind:?} after {left} bytes: {error}");
            let text = error.to_string();
            assert!(
                text.contains("writing the export of context 'cursus'"),
                "{text}"
            );
            let source = std::error::Error::source(&error)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .ok_or("no I/O source")?;
            assert_eq!(source.kind(), kind, "{text}");
        }
    }
    // Nothing is left half-read: the context exports whole again.
    assert_eq!(real.export_json()?, expected);
    Ok(())
}
