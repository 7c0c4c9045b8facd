//! Stored record formats: postcard inside a version envelope.
//!
//! Every value the store writes is `postcard(Envelope::V1(record))`. The record structs here
//! are frozen: they mirror the public model but do not share its types, so a change to the
//! public API cannot silently change the bytes on disk. A new stored format adds an arm
//! (`V2`) and a migration step in `store::migrate`; old arms stay readable. Decoding rejects
//! leftover bytes after a record.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};
use crate::spec::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};

/// The version envelope around every stored record.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Envelope<T> {
    /// Schema version 1.
    V1(T),
}

/// A catalog entry: one per context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CatalogRecordV1 {
    /// Unique, never reused; names the context's tables and gives creation order.
    pub id: u64,
    /// Number of registered steps.
    pub step_count: u64,
    /// Number of distinct step types among them.
    pub step_type_count: u64,
    /// Next registration sequence number (registration order).
    pub next_seq: u64,
    /// Bumped by every committed write to the context.
    pub revision: u64,
}

/// A stored step: its registration sequence number and its specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StepRecordV1 {
    pub seq: u64,
    pub step_type: String,
    pub node_type: u8,
    pub dependencies: Vec<DependencyRecordV1>,
    pub outputs: Vec<OutputRecordV1>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct DependencyRecordV1 {
    pub logical_name: String,
    pub dependency_type: u8,
    pub required: bool,
    pub compatible_sources: Vec<String>,
    pub semantic_keywords: Vec<String>,
    pub data_type: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutputRecordV1 {
    pub logical_name: String,
    pub output_type: u8,
    pub property_path: String,
    pub aliases: Vec<String>,
    pub semantic_keywords: Vec<String>,
    pub data_type: String,
    pub description: String,
}

/// Why a stored value could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("the record is not valid postcard for its format")]
    Postcard(#[from] postcard::Error),
    #[error("{0} bytes are left over after the record")]
    Leftover(usize),
    #[error("unknown {what} code {code}")]
    UnknownCode { what: &'static str, code: u8 },
}

impl DecodeError {
    /// What lies beneath this error (the decoder's own error), for an error whose message
    /// already says this one: a cause is shown once.
    pub(crate) fn into_cause(self) -> Option<crate::error::Cause> {
        match self {
            DecodeError::Postcard(e) => Some(Box::new(e)),
            DecodeError::Leftover(_) | DecodeError::UnknownCode { .. } => None,
        }
    }
}

/// The stored bytes of `record`. Serialising these plain structs into a vector does not fail
/// in practice; if it ever did, `what` (the row being written) is named in the error and
/// nothing is written, rather than storing an empty record.
pub(crate) fn encode<T: Serialize>(what: impl FnOnce() -> String, record: T) -> Result<Vec<u8>> {
    postcard::to_stdvec(&Envelope::V1(record)).map_err(|e| Error::InvalidInput {
        what: what(),
        detail: format!("the record cannot be encoded: {e}"),
        source: Some(Box::new(e)),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, DecodeError> {
    let (envelope, rest) = postcard::take_from_bytes::<Envelope<T>>(bytes)?;
    if !rest.is_empty() {
        return Err(DecodeError::Leftover(rest.len()));
    }
    match envelope {
        Envelope::V1(record) => Ok(record),
    }
}

// The code tables below are part of the stored format: never renumber.
fn dependency_type_code(t: DependencyType) -> u8 {
    match t {
        DependencyType::ModelArtifacts => 0,
        DependencyType::ProcessingOutput => 1,
        DependencyType::TrainingData => 2,
        DependencyType::Hyperparameters => 3,
        DependencyType::PayloadSamples => 4,
        DependencyType::CustomProperty => 5,
    }
}

fn dependency_type_from_code(code: u8) -> std::result::Result<DependencyType, DecodeError> {
    Ok(match code {
        0 => DependencyType::ModelArtifacts,
        1 => DependencyType::ProcessingOutput,
        2 => DependencyType::TrainingData,
        3 => DependencyType::Hyperparameters,
        4 => DependencyType::PayloadSamples,
        5 => DependencyType::CustomProperty,
        code => {
            return Err(DecodeError::UnknownCode {
                what: "dependency type",
                code,
            });
        }
    })
}

fn node_type_code(t: NodeType) -> u8 {
    match t {
        NodeType::Source => 0,
        NodeType::Internal => 1,
        NodeType::Sink => 2,
        NodeType::Singular => 3,
    }
}

fn node_type_from_code(code: u8) -> std::result::Result<NodeType, DecodeError> {
    Ok(match code {
        0 => NodeType::Source,
        1 => NodeType::Internal,
        2 => NodeType::Sink,
        3 => NodeType::Singular,
        code => {
            return Err(DecodeError::UnknownCode {
                what: "node type",
                code,
            });
        }
    })
}

impl StepRecordV1 {
    /// The record of a spec (the write path encodes with [`encode_step`], which tests check
    /// against this).
    #[cfg(test)]
    pub(crate) fn from_spec(seq: u64, spec: &StepSpecification) -> Self {
        StepRecordV1 {
            seq,
            step_type: spec.step_type.clone(),
            node_type: node_type_code(spec.node_type),
            dependencies: spec
                .dependencies
                .values()
                .map(|d| DependencyRecordV1 {
                    logical_name: d.logical_name.clone(),
                    dependency_type: dependency_type_code(d.dependency_type),
                    required: d.required,
                    compatible_sources: d.compatible_sources.clone(),
                    semantic_keywords: d.semantic_keywords.clone(),
                    data_type: d.data_type.clone(),
                    description: d.description.clone(),
                })
                .collect(),
            outputs: spec
                .outputs
                .values()
                .map(|o| OutputRecordV1 {
                    logical_name: o.logical_name.clone(),
                    output_type: dependency_type_code(o.output_type),
                    property_path: o.property_path.clone(),
                    aliases: o.aliases.clone(),
                    semantic_keywords: o.semantic_keywords.clone(),
                    data_type: o.data_type.clone(),
                    description: o.description.clone(),
                })
                .collect(),
        }
    }

    pub(crate) fn into_spec(self) -> std::result::Result<StepSpecification, DecodeError> {
        let mut dependencies = IndexMap::with_capacity(self.dependencies.len());
        for d in self.dependencies {
            dependencies.insert(
                d.logical_name.clone(),
                DependencySpec {
                    dependency_type: dependency_type_from_code(d.dependency_type)?,
                    logical_name: d.logical_name,
                    required: d.required,
                    compatible_sources: d.compatible_sources,
                    semantic_keywords: d.semantic_keywords,
                    data_type: d.data_type,
                    description: d.description,
                },
            );
        }
        let mut outputs = IndexMap::with_capacity(self.outputs.len());
        for o in self.outputs {
            outputs.insert(
                o.logical_name.clone(),
                OutputSpec {
                    output_type: dependency_type_from_code(o.output_type)?,
                    logical_name: o.logical_name,
                    property_path: o.property_path,
                    aliases: o.aliases,
                    semantic_keywords: o.semantic_keywords,
                    data_type: o.data_type,
                    description: o.description,
                },
            );
        }
        Ok(StepSpecification {
            step_type: self.step_type,
            node_type: node_type_from_code(self.node_type)?,
            dependencies,
            outputs,
        })
    }
}

/// The stored bytes of `StepRecordV1::from_spec(seq, spec)` after `reserve` zero bytes
/// (room for the seal), written straight from the spec: the registration write path
/// encodes every spec it stores, and postcard through serde cost a quarter of a bulk
/// import's instructions. Byte-identical to [`encode`] of the owned record, which the tests
/// check on arbitrary specs; the layout is postcard's: the envelope's variant as a varint,
/// then the record's fields in declaration order, integers above `u8` and every length as
/// an unsigned LEB128 varint, a `u8` and a `bool` as one byte, a string as its length and
/// its UTF-8 bytes, a sequence as its length and its elements.
pub(crate) fn encode_step(seq: u64, spec: &StepSpecification, reserve: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(reserve + RECORD_CAPACITY);
    out.resize(reserve, 0);
    out.push(STEP_RECORD_TAG);
    put_varint(&mut out, seq);
    put_step_tail(&mut out, spec);
    out
}

/// The stored bytes of a step record without its head: [`encode_step`]`(seq, spec, 0)` is
/// `[STEP_RECORD_TAG]`, then `seq` as an unsigned LEB128 varint (postcard's `u64`), then
/// these bytes. The PostgreSQL backend sends them to the server, which knows the position
/// only once it holds the context's lock and puts the head in front
/// (`pd_step_record` in `migrations/postgres/0002_write_functions.sql`).
#[cfg(feature = "postgres")]
pub(crate) fn encode_step_tail(spec: &StepSpecification) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_CAPACITY);
    put_step_tail(&mut out, spec);
    out
}

/// The room a step record's buffer starts with: real records average 729 bytes, so most
/// are written without growing it.
const RECORD_CAPACITY: usize = 1024;

/// The first byte of every stored record: postcard's tag of [`Envelope::V1`].
pub(crate) const STEP_RECORD_TAG: u8 = 0;

/// The fields of a step record after `seq`, as postcard writes them.
fn put_step_tail(out: &mut Vec<u8>, spec: &StepSpecification) {
    put_str(out, &spec.step_type);
    out.push(node_type_code(spec.node_type));
    put_len(out, spec.dependencies.len());
    for d in spec.dependencies.values() {
        put_str(out, &d.logical_name);
        out.push(dependency_type_code(d.dependency_type));
        out.push(u8::from(d.required));
        put_strs(out, &d.compatible_sources);
        put_strs(out, &d.semantic_keywords);
        put_str(out, &d.data_type);
        put_str(out, &d.description);
    }
    put_len(out, spec.outputs.len());
    for o in spec.outputs.values() {
        put_str(out, &o.logical_name);
        out.push(dependency_type_code(o.output_type));
        put_str(out, &o.property_path);
        put_strs(out, &o.aliases);
        put_strs(out, &o.semantic_keywords);
        put_str(out, &o.data_type);
        put_str(out, &o.description);
    }
}

/// An unsigned LEB128 varint: seven bits a byte, low first, the high bit set on every byte
/// but the last (postcard's `u64`, `u32` and `usize`).
fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // usize is at most 64 bits on every target Rust supports.
    put_varint(out, len as u64);
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_strs(out: &mut Vec<u8>, texts: &[String]) {
    put_len(out, texts.len());
    for text in texts {
        put_str(out, text);
    }
}

/// `seq` as postcard writes a `u64`: an unsigned LEB128 varint.
#[cfg(all(test, feature = "postgres"))]
pub(crate) fn varint(seq: u64) -> Vec<u8> {
    let mut out = Vec::new();
    put_varint(&mut out, seq);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_borrowed_step_encoding_is_byte_identical_to_the_record()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let spec = StepSpecification::new("Training", NodeType::Internal)
            .with_dependency(
                DependencySpec::new("input_data", DependencyType::ProcessingOutput)
                    .with_keywords(["data", "train"])
                    .with_compatible_sources(["Preprocessing", "Cradle"]),
            )
            .with_dependency(DependencySpec::new("hp", DependencyType::Hyperparameters).optional())
            .with_output(
                OutputSpec::new("model", DependencyType::ModelArtifacts, "properties.Model")
                    .with_aliases(["artifact", "m"]),
            );
        for seq in [0, 1, 300, u64::MAX] {
            let owned = encode(String::new, StepRecordV1::from_spec(seq, &spec))?;
            assert_eq!(encode_step(seq, &spec, 0), owned);
            assert_eq!(encode_step(seq, &spec, 4)[4..], owned[..]);
        }
        // Lengths that take two and three varint bytes.
        let long = StepSpecification::new("L".repeat(300), NodeType::Sink).with_dependency(
            DependencySpec::new("d", DependencyType::TrainingData)
                .with_keywords(["k".repeat(20_000), String::new()]),
        );
        let owned = encode(String::new, StepRecordV1::from_spec(1 << 40, &long))?;
        assert_eq!(encode_step(1 << 40, &long, 0), owned);
        Ok(())
    }

    fn dependency_type(code: u8) -> DependencyType {
        dependency_type_from_code(code % 6).unwrap_or(DependencyType::CustomProperty)
    }

    fn arbitrary_spec() -> impl proptest::strategy::Strategy<Value = StepSpecification> {
        use proptest::collection::vec;
        use proptest::prelude::*;
        let text = || ".{0,40}";
        let dependency = (
            text(),
            any::<u8>(),
            any::<bool>(),
            vec(text(), 0..4),
            vec(text(), 0..4),
            text(),
            text(),
        )
            .prop_map(|(name, code, required, sources, keywords, data, about)| {
                let mut d = DependencySpec::new(name, dependency_type(code))
                    .with_compatible_sources(sources)
                    .with_keywords(keywords);
                d.required = required;
                d.data_type = data;
                d.description = about;
                d
            });
        let output = (
            text(),
            any::<u8>(),
            text(),
            vec(text(), 0..4),
            vec(text(), 0..4),
            text(),
            ".{0,200}",
        )
            .prop_map(|(name, code, path, aliases, keywords, data, about)| {
                let mut o =
                    OutputSpec::new(name, dependency_type(code), path).with_aliases(aliases);
                o.semantic_keywords = keywords;
                o.data_type = data;
                o.description = about;
                o
            });
        (text(), 0u8..4, vec(dependency, 0..5), vec(output, 0..5)).prop_map(
            |(step_type, node, dependencies, outputs)| {
                let node = node_type_from_code(node).unwrap_or(NodeType::Internal);
                let mut spec = StepSpecification::new(step_type, node);
                for d in dependencies {
                    spec = spec.with_dependency(d);
                }
                for o in outputs {
                    spec = spec.with_output(o);
                }
                spec
            },
        )
    }

    proptest::proptest! {
        #[test]
        fn the_hand_written_step_encoding_is_postcards(
            spec in arbitrary_spec(),
            seq in proptest::prelude::any::<u64>(),
        ) {
            let owned = encode(String::new, StepRecordV1::from_spec(seq, &spec))
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(encode_step(seq, &spec, 0), owned);
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_step_record_is_its_tag_its_position_and_its_tail() {
        let spec = StepSpecification::new("Training", NodeType::Internal).with_output(
            OutputSpec::new("out", DependencyType::ModelArtifacts, "properties.X"),
        );
        let tail = encode_step_tail(&spec);
        for seq in [
            0,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1 << 35,
            i64::MAX as u64,
        ] {
            let mut spliced = vec![STEP_RECORD_TAG];
            spliced.extend(varint(seq));
            spliced.extend(&tail);
            assert_eq!(spliced, encode_step(seq, &spec, 0), "seq {seq}");
        }
    }

    #[test]
    fn round_trip_and_leftover_bytes_are_refused()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let spec = StepSpecification::new("T", NodeType::Source).with_output(
            OutputSpec::new("out", DependencyType::ModelArtifacts, "properties.X")
                .with_aliases(["a", "b"]),
        );
        let bytes = encode(String::new, StepRecordV1::from_spec(7, &spec))?;
        let record: StepRecordV1 = decode(&bytes)?;
        assert_eq!(record.seq, 7);
        assert_eq!(record.into_spec()?, spec);

        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            decode::<StepRecordV1>(&longer),
            Err(DecodeError::Leftover(1))
        ));
        assert!(decode::<StepRecordV1>(&bytes[..bytes.len() - 1]).is_err());
        Ok(())
    }

    #[test]
    fn unknown_type_codes_are_decode_errors() -> Result<()> {
        let mut record =
            StepRecordV1::from_spec(0, &StepSpecification::new("T", NodeType::Singular));
        record.node_type = 9;
        let bytes = encode(String::new, record)?;
        let decoded: std::result::Result<StepRecordV1, _> = decode(&bytes);
        assert!(matches!(
            decoded.map(StepRecordV1::into_spec),
            Ok(Err(DecodeError::UnknownCode { code: 9, .. }))
        ));
        Ok(())
    }
}
