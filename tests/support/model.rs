//! A reference model of a registry database, the operations the tests generate, an executor
//! that runs them on a real `pipeline_deps::RegistryManager`, and the checks run after every
//! reopen.
//!
//! Contexts are named from two views (the root and the `ws` workspace) and three short names,
//! one of which (`ws::a`) collides on purpose with `ws` + `a`: a workspace is a name prefix,
//! nothing more. Steps come from a pool of five names and specs from a pool of six valid specs
//! over three step types plus one invalid spec (blank step type).
//!
//! This file holds the vocabulary (views, names, the spec pool, [`Ctx`], [`Failure`]); the
//! operations are in `model/ops.rs`, the model in `model/state.rs`, the executor in
//! `model/executor.rs` and the checks in `model/checks.rs`. They depend only on
//! `pipeline_deps` and `serde_json`, so the fuzz crate includes this file by path.
#![allow(dead_code)]

#[path = "model/checks.rs"]
mod checks;
#[path = "model/executor.rs"]
mod executor;
#[path = "model/ops.rs"]
mod ops;
#[path = "model/state.rs"]
mod state;

// Each includer uses a part of what the submodules give.
#[allow(unused_imports)]
pub use self::{
    checks::{check_consistency, snapshot, verify},
    executor::{Executor, import_document},
    ops::{Op, decode_ops},
    state::{
        Candidates, CtxSnapshot, ErrKind, Model, Outcome, Snapshot, Written, describe, import_code,
    },
};

use std::fmt;

use pipeline_deps::{DependencySpec, DependencyType, NodeType, OutputSpec, StepSpecification};

/// Workspace views: the root and `ws`.
pub const VIEWS: [&str; 2] = ["", "ws"];
/// Short context names; `ws::a` under the root is the same context as `a` under `ws`.
pub const SHORT_NAMES: [&str; 3] = ["a", "b", "ws::a"];
/// Step names.
pub const STEPS: [&str; 5] = ["s0", "s1", "s2", "s3", "s4"];
/// Valid specs are `0..VALID_SPECS`; `VALID_SPECS` is the invalid one.
pub const VALID_SPECS: usize = 6;
/// Step types of the valid specs, `spec(i)` has `TYPES[i % 3]`.
pub const TYPES: [&str; 3] = ["TypeA", "TypeB", "TypeC"];

/// A failed check, with a sentence saying what differed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// Shorthand for a check failure.
pub fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into()))
}

fn lib<T>(what: &str, result: pipeline_deps::Result<T>) -> Result<T, Failure> {
    result.map_err(|e| Failure(format!("{what} failed: {e} ({e:?})")))
}

/// The spec of pool index `i`; `i >= VALID_SPECS` gives the invalid spec.
pub fn spec(i: usize) -> StepSpecification {
    if i >= VALID_SPECS {
        return StepSpecification::new("  ", NodeType::Internal).with_output(OutputSpec::new(
            "out",
            DependencyType::ModelArtifacts,
            "properties.X",
        ));
    }
    StepSpecification::new(TYPES[i % 3], NodeType::Internal)
        .with_dependency(
            DependencySpec::new(format!("in{i}"), DependencyType::ALL[i % 6])
                .with_keywords([format!("kw{i}")]),
        )
        .with_output(
            OutputSpec::new(
                format!("out{i}"),
                DependencyType::ALL[(i + 1) % 6],
                format!("properties.Out{i}"),
            )
            .with_aliases([format!("alias{i}")]),
        )
}

/// A context: a view and a short name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ctx {
    pub view: u8,
    pub short: u8,
}

impl Ctx {
    pub fn view_name(self) -> &'static str {
        VIEWS[usize::from(self.view) % VIEWS.len()]
    }

    pub fn short_name(self) -> &'static str {
        SHORT_NAMES[usize::from(self.short) % SHORT_NAMES.len()]
    }

    /// The full context name, as stored.
    pub fn full(self) -> String {
        prefixed(self.view_name(), self.short_name())
    }
}

fn prefixed(view: &str, short: &str) -> String {
    if view.is_empty() {
        short.to_owned()
    } else {
        format!("{view}::{short}")
    }
}

fn view_prefix(view: &str) -> String {
    if view.is_empty() {
        String::new()
    } else {
        format!("{view}::")
    }
}

fn step_name(i: u8) -> &'static str {
    STEPS[usize::from(i) % STEPS.len()]
}

fn spec_index(i: u8) -> usize {
    usize::from(i) % (VALID_SPECS + 1)
}
