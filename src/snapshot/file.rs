//! The snapshot file format (`pipeline-deps-edges/v1`): reading a file with every check
//! that it is what a capture writes, and writing one deterministically.

use std::io::Write;

use super::{EDGE_SNAPSHOT_SCHEMA, EdgeSnapshot};
use crate::error::{Error, Result};

impl EdgeSnapshot {
    /// Reads a snapshot file's text.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the text is not JSON of this shape (with line and column),
    /// its `schema` is not [`EDGE_SNAPSHOT_SCHEMA`], or it is not what a capture writes: a key
    /// given twice in one object or one the format does not know (a file hand-merged into a
    /// CI gate would otherwise check something else than it says), two edges for one
    /// dependency, a step listed twice, a score outside 0–1, or a name no registry accepts
    /// (empty, over 1,024 bytes, or holding a control character such as a newline).
    pub fn from_json(json: &str) -> Result<Self> {
        let what = "the edge snapshot";
        let value = crate::transfer::parse_unique(json, what)?;
        match value.get("schema").and_then(serde_json::Value::as_str) {
            Some(EDGE_SNAPSHOT_SCHEMA) => {}
            other => {
                return Err(Error::InvalidInput {
                    what: what.into(),
                    detail: format!(
                        "its schema is {}, expected \"{EDGE_SNAPSHOT_SCHEMA}\"",
                        other.map_or_else(|| "missing".to_owned(), |s| format!("{s:?}"))
                    ),
                    source: None,
                });
            }
        }
        let refuse = |detail: String| Error::InvalidInput {
            what: what.into(),
            detail,
            source: None,
        };
        // The text is already parsed, so the error has no line: it names the field.
        // As every JSON reader of the crate: the field in the message, the parser's own
        // message as the source.
        let snapshot: EdgeSnapshot = serde_path_to_error::deserialize(value).map_err(|e| {
            let at = e.path().to_string();
            Error::invalid_json_at(what, &at, e.into_inner())
        })?;
        // Every name is one a registry can hold (a capture writes only those): a control
        // character, say a newline in a file someone else wrote, would otherwise reach a
        // report's lines raw and could forge one.
        let names = std::iter::once(("the context", &snapshot.context))
            .chain(snapshot.steps.iter().map(|s| ("a step", s)))
            .chain(snapshot.edges.iter().flat_map(|e| {
                [
                    ("an edge's consumer", &e.consumer),
                    ("an edge's dependency", &e.dependency),
                    ("an edge's producer", &e.producer),
                    ("an edge's output", &e.output),
                ]
            }))
            .chain(snapshot.unresolved.iter().flat_map(|u| {
                std::iter::once(("an unresolved step", &u.step)).chain(
                    u.dependencies
                        .iter()
                        .map(|d| ("an unresolved dependency", d)),
                )
            }));
        for (role, name) in names {
            if let Err(reason) = crate::spec::check_name(name) {
                return Err(refuse(format!(
                    "the name of {role}, {}, {reason}; a capture holds only names a registry accepts",
                    crate::error::shorten(name)
                )));
            }
        }
        let mut listed = std::collections::HashSet::with_capacity(snapshot.steps.len());
        if let Some(step) = snapshot.steps.iter().find(|s| !listed.insert(s.as_str())) {
            return Err(refuse(format!(
                "it lists step {} twice; a capture lists each step once",
                crate::error::shorten(step)
            )));
        }
        let mut targets = std::collections::HashSet::with_capacity(snapshot.edges.len());
        for edge in &snapshot.edges {
            if !targets.insert(edge.key()) {
                return Err(refuse(format!(
                    "it has two edges for {}; a capture has one per dependency",
                    crate::error::shorten(&edge.target())
                )));
            }
            if !(0.0..=1.0).contains(&edge.score) {
                return Err(refuse(format!(
                    "the edge {} has score {}; scores are between 0 and 1",
                    crate::error::shorten(&edge.target()),
                    edge.score
                )));
            }
        }
        // Normalise the order, so a hand-edited file diffs like a generated one.
        Ok(Self::new(
            snapshot.context,
            snapshot.steps,
            snapshot.all_steps,
            snapshot.edges,
            snapshot.unresolved,
        ))
    }

    /// The snapshot as pretty-printed JSON with a final newline (deterministic: the same
    /// snapshot always gives the same bytes).
    pub fn to_json(&self) -> String {
        let mut text = Vec::new();
        // Writing to memory cannot fail, and serialising plain strings, numbers and vectors
        // cannot either; a non-finite score (never produced by the resolver) would be
        // written as `null`. The text is UTF-8, as serde_json writes only that.
        match self.write_json_to(&mut text) {
            Ok(()) => String::from_utf8(text).unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Writes [`Self::to_json`]'s bytes to `writer` as they are produced, without holding
    /// the whole text in memory (a snapshot of 100,000 steps is tens of megabytes). Writes go
    /// through a buffer, flushed before returning.
    ///
    /// ```
    /// use pipeline_deps::snapshot::EdgeSnapshot;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let snapshot = EdgeSnapshot::new("ctx", vec!["a".into()], false, Vec::new(), Vec::new());
    /// let mut file = Vec::new(); // or a `std::fs::File`
    /// snapshot.write_json_to(&mut file)?;
    /// assert_eq!(file, snapshot.to_json().into_bytes());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The first error of `writer`.
    pub fn write_json_to<W: Write>(&self, writer: W) -> std::io::Result<()> {
        let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, writer);
        serde_json::to_writer_pretty(&mut buffered, self).map_err(std::io::Error::from)?;
        buffered.write_all(b"\n")?;
        buffered.flush()
    }
}
