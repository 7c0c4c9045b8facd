//! Export: a context written as JSON as it is read ([`SpecificationRegistry::export_json_to`]).

use std::cell::Cell;
use std::io::{BufWriter, Write};

use serde::Serialize;

use super::EXPORT_SCHEMA;
use crate::error::{Error, Result, shorten};
use crate::registry::SpecificationRegistry;
use crate::seam::ContextRead;
use crate::spec::StepSpecification;

#[cfg(test)]
#[path = "export_tests.rs"]
mod tests;

#[derive(Serialize)]
struct ExportStep<'a> {
    step_name: &'a str,
    #[serde(flatten)]
    spec: &'a StepSpecification,
}

/// The export document; `steps` is a list of [`ExportStep`]s ([`Steps`], read as it is
/// written).
#[derive(Serialize)]
struct Export<'a, S> {
    schema: &'static str,
    context: &'a str,
    steps: S,
}

/// The buffer between an export and its output.
const EXPORT_BUFFER: usize = 64 * 1024;

/// Why [`write_export`] stopped.
enum Failed {
    /// Reading the context failed.
    Read(Error),
    /// The output failed.
    Write(std::io::Error),
    /// A value could not be written as JSON.
    Serialize(serde_json::Error),
}

/// A panic of the caller's output, kept to be resumed once the export is out of the store.
type Payload = Box<dyn std::any::Any + Send>;

/// The output of an export, noting whether anything was handed to it (after which a read
/// must not run again). The output is the caller's code, run inside the store's read: a
/// panic in it is kept in `panicked` (the export then stops as on a failed write) and
/// resumed by [`SpecificationRegistry::export_json_to`] once the read is over, so that it
/// reaches the caller as the caller's panic, never as a damaged database.
struct Watched<'t, W> {
    out: W,
    touched: &'t Cell<bool>,
    panicked: &'t Cell<Option<Payload>>,
}

impl<W: Write> Watched<'_, W> {
    /// Runs `f` on the caller's output, keeping a panic of it.
    fn call<T>(&mut self, f: impl FnOnce(&mut W) -> std::io::Result<T>) -> std::io::Result<T> {
        let stopped = || std::io::Error::other("the export's output panicked");
        let earlier = self.panicked.take();
        if earlier.is_some() {
            self.panicked.set(earlier);
            return Err(stopped());
        }
        let out = &mut self.out;
        match crate::store::run_callers_code(|| f(out)) {
            Ok(result) => result,
            Err(payload) => {
                self.panicked.set(Some(payload));
                Err(stopped())
            }
        }
    }
}

impl<W: Write> Write for Watched<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.touched.set(true);
        self.call(|out| out.write(buf))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.touched.set(true);
        self.call(|out| out.write_all(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.call(Write::flush)
    }
}

/// Writes the export document of `context` (named `name`) to `out`, each step as it is
/// read; returns how many steps it wrote.
fn write_export(
    context: &mut dyn ContextRead,
    name: &str,
    out: &mut dyn Write,
) -> std::result::Result<usize, Failed> {
    let read_error = Cell::new(None);
    let count = Cell::new(0);
    let export = Export {
        schema: EXPORT_SCHEMA,
        context: name,
        steps: Steps {
            context: Cell::new(Some(context)),
            read_error: &read_error,
            count: &count,
        },
    };
    let mut serializer = serde_json::Serializer::pretty(out);
    match export.serialize(&mut serializer) {
        Ok(()) => Ok(count.get()),
        Err(e) => Err(match read_error.take() {
            Some(error) => Failed::Read(error),
            None if e.is_io() => Failed::Write(std::io::Error::from(e)),
            None => Failed::Serialize(e),
        }),
    }
}

/// The `steps` of an export: every step of the context, serialized as it is read (once:
/// the context is taken by the first serialization). A read error is kept in `read_error`,
/// the number of steps written in `count`.
struct Steps<'c, 'e> {
    context: Cell<Option<&'c mut dyn ContextRead>>,
    read_error: &'e Cell<Option<Error>>,
    count: &'e Cell<usize>,
}

impl Serialize for Steps<'_, '_> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let Some(context) = self.context.take() else {
            return Err(S::Error::custom(
                "the steps of an export can be written once",
            ));
        };
        let mut seq = serializer.serialize_seq(None)?;
        let mut refused = None;
        let read = context.for_each(&mut |step_name, spec| {
            match seq.serialize_element(&ExportStep {
                step_name: &step_name,
                spec: &spec,
            }) {
                Ok(()) => {
                    self.count.set(self.count.get() + 1);
                    Ok(())
                }
                Err(e) => {
                    refused = Some(e);
                    // Only stops the read: the serializer's error is the one returned.
                    Err(Error::InvalidInput {
                        what: "the export".into(),
                        detail: "its output failed".into(),
                        source: None,
                    })
                }
            }
        });
        if let Some(e) = refused {
            return Err(e);
        }
        if let Err(error) = read {
            let message = error.to_string();
            self.read_error.set(Some(error));
            return Err(S::Error::custom(message));
        }
        seq.end()
    }
}

impl SpecificationRegistry {
    /// The context as pretty-printed JSON in the export format (see the module docs), steps
    /// in registration order: the text [`Self::export_json_to`] writes, whole. For a large
    /// context, write it to a file or stream with [`Self::export_json_to`] instead, which
    /// holds neither the text nor every specification.
    ///
    /// # Errors
    /// As [`SpecificationRegistry::iter`].
    pub fn export_json(&self) -> Result<String> {
        let mut text = Vec::new();
        self.export_json_to(&mut text)?;
        // serde_json writes UTF-8 only.
        String::from_utf8(text).map_err(|e| self.export_error(e.to_string(), Box::new(e)))
    }

    /// Writes the context to `out` as pretty-printed JSON in the export format (see the
    /// module docs), steps in registration order, and returns how many steps it wrote. The
    /// text is the one [`Self::export_json`] returns, byte for byte (no newline after it).
    ///
    /// The steps are read in one read transaction, so the export is one consistent snapshot
    /// of the context, and are written as they are read: the text is never held whole, nor
    /// are the specifications (on a file, the context's index of names and positions is read
    /// whole first). `out` gets the text through a buffer of this call's own and is flushed
    /// at the end; it need not be buffered. The read transaction stays open until the last
    /// step is written, so a slow `out` keeps it open that long.
    ///
    /// On an error `out` may have received part of the text (the buffered rest is dropped):
    /// write to a temporary file and rename it only on success for an all-or-nothing file.
    ///
    /// ```
    /// use pipeline_deps::RegistryManager;
    ///
    /// # fn main() -> pipeline_deps::Result<()> {
    /// let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    /// registry.import_json(r#"{"steps": [{"step_name": "load", "step_type": "Load",
    ///     "node_type": "singular"}]}"#)?;
    /// let mut out = Vec::new();
    /// assert_eq!(registry.export_json_to(&mut out)?, 1);
    /// assert_eq!(out, registry.export_json()?.into_bytes());
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// When `out` panics: the panic reaches the caller as it is, once the read transaction
    /// is over (the database is not damaged, and the manager stays usable).
    ///
    /// # Errors
    /// [`Error::Io`] when `out` fails (its error is the source; a closed pipe keeps its
    /// [`std::io::ErrorKind::BrokenPipe`]); otherwise as [`SpecificationRegistry::iter`]. On
    /// PostgreSQL, a read that lost its connection runs again on a new one only if nothing
    /// reached `out` yet.
    pub fn export_json_to<W: Write>(&self, out: W) -> Result<usize> {
        let panicked = Cell::new(None);
        let mut out = Watched {
            out,
            touched: &Cell::new(false),
            panicked: &panicked,
        };
        let touched = out.touched;
        let result = self.read_handing_on(
            |context| {
                let mut buffered = BufWriter::with_capacity(EXPORT_BUFFER, &mut out);
                match write_export(context, self.context_name(), &mut buffered) {
                    Ok(count) => {
                        buffered.flush().map_err(|e| self.write_error(e))?;
                        Ok(count)
                    }
                    Err(error) => {
                        // Not flushed: what the buffer holds is dropped with it.
                        let _ = buffered.into_parts();
                        Err(match error {
                            Failed::Write(e) => self.write_error(e),
                            Failed::Serialize(e) => self.export_error(e.to_string(), Box::new(e)),
                            Failed::Read(e) => e,
                        })
                    }
                }
            },
            &|| !touched.get(),
        );
        drop(out);
        if let Some(payload) = panicked.take() {
            std::panic::resume_unwind(payload);
        }
        result
    }

    /// The failure of an export's output.
    fn write_error(&self, source: std::io::Error) -> Error {
        Error::Io {
            action: format!(
                "writing the export of context {}",
                shorten(self.context_name())
            ),
            source,
        }
    }

    /// An export that could not be made into JSON (not expected: the format has no value
    /// that JSON cannot hold).
    fn export_error(&self, detail: String, source: crate::error::Cause) -> Error {
        Error::InvalidInput {
            what: format!("the export of context {}", shorten(self.context_name())),
            detail,
            source: Some(source),
        }
    }
}
