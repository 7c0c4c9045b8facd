//! The histories of the step-type index's property tests (`type_members.rs`,
//! `mutation3_typeindex.rs`): registrations, upserts that move a step between types, removals,
//! batches and clears over numbered steps and types, drawn in the proportions each test gives.
#![allow(dead_code)]

use pipeline_deps::{DependencyType, NodeType, OutputSpec, StepSpecification};
use proptest::prelude::*;

/// The spec of step type `Type{step_type}`.
pub fn spec(step_type: u8) -> StepSpecification {
    StepSpecification::new(format!("Type{step_type}"), NodeType::Source).with_output(
        OutputSpec::new("out", DependencyType::ProcessingOutput, "properties.Out"),
    )
}

/// One call of a history; steps and types are numbers (each test names its steps).
#[derive(Debug, Clone)]
pub enum Op {
    Register(u8, u8),
    Upsert(u8, u8),
    Unregister(u8),
    RegisterMany(Vec<(u8, u8)>),
    UpsertMany(Vec<(u8, u8)>),
    Clear,
}

/// How a history is drawn: steps `0..names` and types `0..types`; `writes` is the weight of
/// `Register` and of `Upsert` each, `removals` that of `Unregister` (batches weigh 2 each,
/// `Clear` 1); a batch has fewer than `batch` items.
#[derive(Debug, Clone, Copy)]
pub struct Draw {
    pub names: u8,
    pub types: u8,
    pub writes: u32,
    pub removals: u32,
    pub batch: usize,
}

/// One call drawn as `draw` says.
pub fn op(draw: Draw) -> impl Strategy<Value = Op> {
    let item = move || (0..draw.names, 0..draw.types);
    prop_oneof![
        draw.writes => item().prop_map(|(s, t)| Op::Register(s, t)),
        draw.writes => item().prop_map(|(s, t)| Op::Upsert(s, t)),
        draw.removals => (0..draw.names).prop_map(Op::Unregister),
        2 => prop::collection::vec(item(), 0..draw.batch).prop_map(Op::RegisterMany),
        2 => prop::collection::vec(item(), 0..draw.batch).prop_map(Op::UpsertMany),
        1 => Just(Op::Clear),
    ]
}
