//! Reading and writing one context's rows (`pd_specs`, `pd_step_types`), keeping the
//! step-type index and the catalog counters exact in the same transaction as the specs, and
//! checking every record against its row on the way out. This module decodes and checks
//! rows; `reader.rs` reads a context in a snapshot, `writer.rs` writes it step by step.

mod reader;
mod writer;

use postgres::Row;

use super::conn::{column, unsigned};
use crate::codec::{self, StepRecordV1};
use crate::error::{Error, Result, shorten, step_record};
use crate::spec::StepSpecification;
pub(crate) use reader::PgContextReader;
pub(crate) use writer::PgContextWriter;

fn step_location<'a>(context: &'a str, step: &'a str) -> impl Fn() -> String + 'a {
    move || step_record(context, step)
}

fn corrupt_index(context: &str, detail: impl Into<String>) -> Error {
    Error::corrupted(
        format!("the step-type index of context {}", shorten(context)),
        detail,
        None,
    )
}

/// Decodes a stored record, checking that it agrees with its row's position and type.
fn decode_step(
    context: &str,
    step: &str,
    position: i64,
    step_type: &str,
    bytes: &[u8],
) -> Result<StepRecordV1> {
    let at = step_location(context, step);
    let record: StepRecordV1 =
        codec::decode(bytes).map_err(|e| Error::corrupted(at(), e.to_string(), e.into_cause()))?;
    if unsigned(position, &at)? != record.seq || record.step_type != step_type {
        return Err(Error::corrupted(
            at(),
            "the record disagrees with its row's position or step type",
            None,
        ));
    }
    Ok(record)
}

/// A spec row `(step_name, position, step_type, record)` as its name and decoded record.
fn step_row(context: &str, row: &Row) -> Result<(String, StepRecordV1)> {
    let at = || format!("a step row of context {}", shorten(context));
    let step: String = column(row, 0, &at)?;
    let position: i64 = column(row, 1, &at)?;
    let step_type: String = column(row, 2, &at)?;
    let bytes: Vec<u8> = column(row, 3, &at)?;
    let record = decode_step(context, &step, position, &step_type, &bytes)?;
    Ok((step, record))
}

fn spec_of(context: &str, step: &str, record: StepRecordV1) -> Result<StepSpecification> {
    record.into_spec().map_err(|e| {
        Error::corrupted(
            step_location(context, step)(),
            e.to_string(),
            e.into_cause(),
        )
    })
}

/// Whether `name` (a step name or type) can be stored: PostgreSQL's `text` cannot hold NUL,
/// and validation refuses names with control characters anyway, so a name containing one is
/// never stored. Reads of it find nothing, as on a file, instead of sending it (which the
/// server would refuse as an invalid byte sequence).
pub(super) fn storable(name: &str) -> bool {
    !name.contains('\0')
}
