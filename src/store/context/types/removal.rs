//! Removing one step from a type the write transaction has not touched, in place: a binary
//! search for the step's chunk, an edit of that chunk, and the type's removal when it was
//! its last step.

use redb::ReadableTable;

use super::{Target, write_chunk};
use crate::error::Result;
use crate::store::context::decode_chunk;
use crate::store::storage_error;
use crate::store::typeindex;

/// Removes `(seq, step)` from a type this transaction has not touched, straight in the
/// table, reading O(log n) chunks: a binary search over chunk numbers, since entries are
/// appended in position order (a chunk's positions lie above those of lower-numbered
/// chunks). An `upsert` that moved a step to another type appends it out of order, so a
/// search that does not find the entry returns `None` and the caller loads the whole type.
/// When the type loses its last step its chunks are deleted and it is no longer counted:
/// `Some(true)`.
pub(super) fn remove_in_place(
    target: &mut Target<'_, '_>,
    step_type: &str,
    seq: u64,
    step: &str,
) -> Result<Option<bool>> {
    let Some((last, _)) = target.read_last(step_type)? else {
        return Ok(None);
    };
    let (mut low, mut high) = (0u32, last);
    let found = loop {
        if low > high {
            break None;
        }
        let mid = low + (high - low) / 2;
        let Some((number, chunk)) = target.read_last_in(step_type, low, mid)? else {
            low = mid.saturating_add(1);
            if mid == u32::MAX {
                break None;
            }
            continue;
        };
        if chunk.entries().any(|(s, name)| s == seq && name == step) {
            break Some((number, chunk));
        }
        let (min, max) = chunk
            .entries()
            .fold((u64::MAX, 0), |(lo, hi), (s, _)| (lo.min(s), hi.max(s)));
        if chunk.is_empty() || seq > max {
            if mid == u32::MAX {
                break None;
            }
            low = mid + 1;
        } else if seq < min && number > 0 {
            high = number - 1;
        } else {
            break None;
        }
    };
    let Some((number, mut chunk)) = found else {
        return Ok(None);
    };
    chunk.remove(seq, step);
    let action = target.action(step_type);
    let fail = |e| storage_error(action.clone(), e);
    let key = typeindex::chunk_key(step_type, number);
    if !chunk.is_empty() {
        write_chunk(target.rows, target.entry.id, &key, &chunk).map_err(fail)?;
        return Ok(Some(false));
    }
    // The chunk is empty: does the type have entries elsewhere? Chunks other than 0 are
    // deleted when empty, so another one existing means yes; chunk 0 may be empty.
    let others = {
        let (start, end) = typeindex::type_range(step_type);
        let mut others = false;
        for row in target
            .rows
            .range::<&[u8]>(start.as_slice()..=end.as_slice())
            .map_err(fail)?
            .take(3)
        {
            let (key, value) = row.map_err(fail)?;
            let (_, other, other_chunk) = decode_chunk(
                target.name,
                target.entry.id,
                key.value(),
                value.value(),
                Some(step_type),
            )?;
            if other != number && (other != 0 || !other_chunk.is_empty()) {
                others = true;
                break;
            }
        }
        others
    };
    if others {
        if number == 0 {
            write_chunk(target.rows, target.entry.id, &key, &chunk).map_err(fail)?;
        } else {
            target.rows.remove(key.as_slice()).map_err(fail)?;
        }
        return Ok(Some(false));
    }
    // Its last step: the type goes.
    for gone in [0, number] {
        target
            .rows
            .remove(typeindex::chunk_key(step_type, gone).as_slice())
            .map_err(fail)?;
    }
    target.entry.step_type_count = target.entry.step_type_count.saturating_sub(1);
    Ok(Some(true))
}
