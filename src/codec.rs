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
/// (room for the seal), without copying the spec's strings into a record first: the
/// registration write path encodes every spec it stores. Byte-identical to [`encode`] of the
/// owned record (serde writes `&str` as `String` and `&[String]` as `Vec<String>`).
pub(crate) fn encode_step(
    what: impl FnOnce() -> String,
    seq: u64,
    spec: &StepSpecification,
    reserve: usize,
) -> Result<Vec<u8>> {
    #[derive(Serialize)]
    struct Step<'a> {
        seq: u64,
        step_type: &'a str,
        node_type: u8,
        dependencies: Vec<Dependency<'a>>,
        outputs: Vec<Output<'a>>,
    }
    #[derive(Serialize)]
    struct Dependency<'a> {
        logical_name: &'a str,
        dependency_type: u8,
        required: bool,
        compatible_sources: &'a [String],
        semantic_keywords: &'a [String],
        data_type: &'a str,
        description: &'a str,
    }
    #[derive(Serialize)]
    struct Output<'a> {
        logical_name: &'a str,
        output_type: u8,
        property_path: &'a str,
        aliases: &'a [String],
        semantic_keywords: &'a [String],
        data_type: &'a str,
        description: &'a str,
    }
    let record = Step {
        seq,
        step_type: &spec.step_type,
        node_type: node_type_code(spec.node_type),
        dependencies: spec
            .dependencies
            .values()
            .map(|d| Dependency {
                logical_name: &d.logical_name,
                dependency_type: dependency_type_code(d.dependency_type),
                required: d.required,
                compatible_sources: &d.compatible_sources,
                semantic_keywords: &d.semantic_keywords,
                data_type: &d.data_type,
                description: &d.description,
            })
            .collect(),
        outputs: spec
            .outputs
            .values()
            .map(|o| Output {
                logical_name: &o.logical_name,
                output_type: dependency_type_code(o.output_type),
                property_path: &o.property_path,
                aliases: &o.aliases,
                semantic_keywords: &o.semantic_keywords,
                data_type: &o.data_type,
                description: &o.description,
            })
            .collect(),
    };
    let mut out = Vec::with_capacity(reserve + 1024);
    out.resize(reserve, 0);
    postcard::serialize_with_flavor(&Envelope::V1(record), AppendVec(out)).map_err(|e| {
        Error::InvalidInput {
            what: what(),
            detail: format!("the record cannot be encoded: {e}"),
            source: Some(Box::new(e)),
        }
    })
}

/// A postcard output that appends to a `Vec` a slice at a time (postcard's `to_extend`
/// pushes byte by byte, which made encoding a fifth of a bulk import's time).
struct AppendVec(Vec<u8>);

impl postcard::ser_flavors::Flavor for AppendVec {
    type Output = Vec<u8>;

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<Vec<u8>> {
        Ok(self.0)
    }
}

/// The stored bytes of a step record without its head: [`encode_step`]`(what, seq, spec, 0)`
/// is `[STEP_RECORD_TAG]`, then `seq` as an unsigned LEB128 varint (postcard's `u64`), then
/// these bytes. The PostgreSQL backend sends them to the server, which knows the position
/// only once it holds the context's lock and puts the head in front
/// (`pd_step_record` in `migrations/postgres/0002_write_functions.sql`).
#[cfg(feature = "postgres")]
pub(crate) fn encode_step_tail(
    what: impl Fn() -> String,
    spec: &StepSpecification,
) -> Result<Vec<u8>> {
    let mut bytes = encode_step(&what, 0, spec, 0)?;
    // Envelope::V1's tag and the varint of seq 0: one byte each.
    if bytes.get(..2) != Some(&[STEP_RECORD_TAG, 0][..]) {
        return Err(Error::InvalidInput {
            what: what(),
            detail: "the record does not begin with the version-1 tag and its position".into(),
            source: None,
        });
    }
    bytes.drain(..2);
    Ok(bytes)
}

/// The first byte of every stored record: postcard's tag of [`Envelope::V1`].
#[cfg(feature = "postgres")]
pub(crate) const STEP_RECORD_TAG: u8 = 0;

/// `seq` as postcard writes a `u64`: an unsigned LEB128 varint.
#[cfg(all(test, feature = "postgres"))]
pub(crate) fn varint(mut seq: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while seq >= 0x80 {
        out.push((seq & 0x7f) as u8 | 0x80);
        seq >>= 7;
    }
    out.push(seq as u8);
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
            assert_eq!(encode_step(String::new, seq, &spec, 0)?, owned);
            assert_eq!(encode_step(String::new, seq, &spec, 4)?[4..], owned[..]);
        }
        Ok(())
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_step_record_is_its_tag_its_position_and_its_tail()
    -> std::result::Result<(), Box<dyn std::error::Error>> {
        let spec = StepSpecification::new("Training", NodeType::Internal).with_output(
            OutputSpec::new("out", DependencyType::ModelArtifacts, "properties.X"),
        );
        let tail = encode_step_tail(String::new, &spec)?;
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
            assert_eq!(
                spliced,
                encode_step(String::new, seq, &spec, 0)?,
                "seq {seq}"
            );
        }
        Ok(())
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
