//! The hot writes as one statement each: registering, replacing and removing steps call the
//! server-side functions of `migrations/postgres/0002_write_functions.sql` (`pd_put_steps`
//! as replaced by `0004_faster_write_functions.sql`), which lock the context's catalog row,
//! check its id, change the specs and the step-type index and write the counters and a new
//! revision, all in the statement's transaction.
//!
//! A single step (`register`, `upsert`, `unregister`) is one statement that the server
//! commits on its own before it answers: one round trip, and `Ok` means committed and
//! flushed, as with an explicit `COMMIT`. A batch of several steps runs the same statement
//! inside `BEGIN` … `COMMIT` (three round trips, whatever its size), so that a client that
//! dies in the middle of a long batch leaves nothing of it: the server never receives the
//! `COMMIT`; a batch over [`CALL_BYTES`] (4 MiB) is several calls in that transaction. Either way a
//! failed call applies nothing. A record over [`MAX_RECORD_BYTES`], which the server could
//! not hold, is refused before anything is sent.

use super::PgStore;
use super::conn::{self, Conn, Sql};
use crate::codec;
use crate::error::{Error, Result, ServerErrorKind, shorten};
use crate::spec::StepSpecification;

const PUT_STEP: &str = "SELECT pd_put_step($1, $2, $3, $4, $5, $6)";
const PUT_STEPS: &str = "SELECT pd_put_steps($1, $2, $3, $4, $5, $6)";
/// [`PUT_STEP`] for an upsert: a step that holds exactly this record already (same type,
/// same bytes at its position) is left as it is, and nothing is written (0: not inserted).
/// The check is part of the statement (no round trip of its own) and reads the committed
/// state as the statement starts, as [`REMOVE_STEP`]'s does: an upsert that finds its spec
/// stored then changes nothing at that moment. A handle whose context was cleared finds
/// no row, and `pd_put_step` refuses it.
const UPSERT_STEP: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM pd_contexts c \
    JOIN pd_specs s ON s.context_id = c.id \
    WHERE c.name = $1 AND c.id = $2 AND s.step_name = $4 AND s.step_type = $5 \
    AND s.record = pd_step_record(s.position, $6)) \
    THEN 0 ELSE pd_put_step($1, $2, $3, $4, $5, $6) END";
/// [`PUT_STEPS`] for upserts, as [`UPSERT_STEP`]: a call whose every step holds exactly its
/// record already writes nothing, and answers -1 (no step inserted, none changed). The scalar subquery is run per step (an index lookup) and
/// the scan stops at the first step that differs, so a call that changes its first step
/// pays one lookup.
const UPSERT_STEPS: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM pd_contexts WHERE name = $1 AND id = $2) \
    AND NOT EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[], $6::bytea[]) AS u(step, type, tail) \
        WHERE (SELECT s.step_type = u.type AND s.record = pd_step_record(s.position, u.tail) \
               FROM pd_specs s WHERE s.context_id = $2 AND s.step_name = u.step) IS NOT TRUE) \
    THEN -1 ELSE pd_put_steps($1, $2, $3, $4, $5, $6) END";
/// Removes a step unless it is not there: then it only checks the context (NULL when the
/// handle's context is gone) and writes nothing, leaving the revision as it is.
const REMOVE_STEP: &str = "SELECT CASE \
    WHEN NOT EXISTS (SELECT 1 FROM pd_contexts WHERE name = $1 AND id = $2) THEN NULL \
    WHEN NOT EXISTS (SELECT 1 FROM pd_specs WHERE context_id = $2 AND step_name = $3) THEN false \
    ELSE pd_remove_step($1, $2, $3) END";

/// The largest record a PostgreSQL registry stores. The server refuses any value, and any
/// message, over 1 GiB; this leaves room for a record's header and a call's other
/// parameters. A file registry has no such limit of its own.
pub(super) const MAX_RECORD_BYTES: usize = 1_000_000_000;

/// The most bytes (records, names and types) one `pd_put_steps` call carries: a larger
/// batch is sent as several calls in its one transaction. The server holds several copies
/// of a call's parameters while it runs (the message, the bound values, the plan's
/// constants, the expanded arrays: about 4× the call, with peaks near 12×), and a server
/// process keeps part of that memory afterwards, so calls are kept small: with 64 MiB a
/// `register_many` of 80,000 real specs took 690 MB in its server process (`postgres_batch_memory`).
/// A call of 4 MiB is still thousands of steps, so the round trips it adds cost nothing
/// measurable.
const CALL_BYTES: usize = 4 << 20;

/// Refuses a record the server could not store, naming its step.
pub(super) fn check_record_size(context: &str, step: &str, record: usize) -> Result<()> {
    if record <= MAX_RECORD_BYTES {
        return Ok(());
    }
    Err(Error::InvalidInput {
        what: format!("step {} of context {}", shorten(step), shorten(context)),
        detail: format!(
            "its stored record would be {record} bytes; a PostgreSQL registry stores records of at most {MAX_RECORD_BYTES} bytes (the server's limit for one value is 1 GiB), so nothing was written"
        ),
        source: None,
    })
}

/// Splits items of `sizes` bytes each into consecutive calls of at most `limit` bytes (an
/// item larger than `limit` alone in its call), in order.
fn plan_calls(sizes: &[usize], limit: usize) -> Vec<std::ops::Range<usize>> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (at, &size) in sizes.iter().enumerate() {
        if at > start && bytes.saturating_add(size) > limit {
            calls.push(start..at);
            (start, bytes) = (at, 0);
        }
        bytes = bytes.saturating_add(size);
    }
    if start < sizes.len() {
        calls.push(start..sizes.len());
    }
    calls
}

/// Steps encoded for `pd_put_steps`: their names, types and record tails, and the calls
/// (ranges of them) they are sent in, each of at most [`CALL_BYTES`].
pub(super) struct Batch<'a> {
    steps: Vec<&'a str>,
    types: Vec<&'a str>,
    tails: Vec<Vec<u8>>,
    /// The ranges of steps sent in one call each, in order.
    calls: Vec<std::ops::Range<usize>>,
}

impl<'a> Batch<'a> {
    /// Encodes `items` of context `context`, refusing a record the server could not store
    /// (naming its step) before anything is sent.
    pub(super) fn encode(
        context: &str,
        items: &[(&'a str, &'a StepSpecification)],
    ) -> Result<Self> {
        let mut batch = Batch {
            steps: Vec::with_capacity(items.len()),
            types: Vec::with_capacity(items.len()),
            tails: Vec::with_capacity(items.len()),
            calls: Vec::new(),
        };
        let mut sizes = Vec::with_capacity(items.len());
        for (step, spec) in items {
            let tail = codec::encode_step_tail(spec);
            check_record_size(context, step, tail.len())?;
            sizes.push(tail.len() + step.len() + spec.step_type.len());
            batch.steps.push(*step);
            batch.types.push(spec.step_type.as_str());
            batch.tails.push(tail);
        }
        batch.calls = plan_calls(&sizes, CALL_BYTES);
        Ok(batch)
    }

    /// Sends every call into context `name` (stored id `key`) in `sql`'s transaction; returns
    /// how many steps were inserted (the others replaced one) and whether any call wrote.
    /// Each call that changes a step bumps the revision; with `replace`, a call whose every
    /// step holds its spec already writes nothing ([`UPSERT_STEPS`]).
    pub(super) fn send(
        &self,
        sql: &mut Sql<'_>,
        action: &str,
        (name, key): (&str, i64),
        replace: bool,
    ) -> Result<(usize, bool)> {
        let server = sql.server();
        let mut inserted = 0usize;
        let mut wrote = false;
        for call in &self.calls {
            let (steps, types, tails) = (
                &self.steps[call.clone()],
                &self.types[call.clone()],
                &self.tails[call.clone()],
            );
            let params: [&(dyn postgres::types::ToSql + Sync); 6] =
                [&name, &key, &replace, &steps, &types, &tails];
            let map = |e| write_error(server, action, name, steps, false, e);
            let statement = if replace { UPSERT_STEPS } else { PUT_STEPS };
            let row = sql.query_one_with(action, statement, &params, map)?;
            let count: i64 = conn::column(&row, 0, &|| {
                format!("the answer to writing steps of context {}", shorten(name))
            })?;
            // -1: the call found every step as given and wrote nothing.
            wrote |= count >= 0;
            inserted += usize::try_from(count).unwrap_or(0);
        }
        Ok((inserted, wrote))
    }
}

impl PgStore {
    /// Stores `items` in context `name` (id `id`) in one transaction, in order: a taken name
    /// is [`Error::AlreadyRegistered`] unless `replace`; a handle whose context was cleared
    /// gets [`Error::ContextCleared`]. Everything is encoded before anything is sent.
    pub(crate) fn put_steps(
        &self,
        action: &str,
        name: &str,
        id: u64,
        items: &[(&str, &StepSpecification)],
        replace: bool,
    ) -> Result<()> {
        self.refuse_if_read_only()?;
        if items.is_empty() {
            // Nothing to store: one read checks the handle's context (`ContextCleared` once
            // another process cleared it), and nothing is written, as on a file.
            return self.context_entry(name, id).map(drop);
        }
        let key = signed_id(name, id)?;
        let batch = Batch::encode(name, items)?;
        self.with_conn(action, |conn, server| {
            if let ([step], [step_type], [tail]) =
                (&batch.steps[..], &batch.types[..], &batch.tails[..])
            {
                let params: [&(dyn postgres::types::ToSql + Sync); 6] =
                    [&name, &key, &replace, step, step_type, tail];
                let map = |e| write_error(server, action, name, &batch.steps, true, e);
                let statement = if replace { UPSERT_STEP } else { PUT_STEP };
                conn.query_one_alone(server, action, statement, &params, map)?;
                return Ok(());
            }
            in_transaction(conn, server, action, |sql| {
                batch.send(sql, action, (name, key), replace).map(drop)
            })
        })
    }

    /// Removes `step` from context `name` (id `id`) in one statement; false if it was not
    /// registered (then nothing is written: the revision stays as it is).
    pub(crate) fn remove_step(
        &self,
        action: &str,
        name: &str,
        id: u64,
        step: &str,
    ) -> Result<bool> {
        self.refuse_if_read_only()?;
        let key = signed_id(name, id)?;
        // A name that cannot be stored is removed as the empty name, which is never stored
        // either: nothing is found, and nothing is written.
        let stored = if super::context::storable(step) {
            step
        } else {
            ""
        };
        self.with_conn(action, |conn, server| {
            let row =
                conn.query_one_alone(server, action, REMOVE_STEP, &[&name, &key, &stored], |e| {
                    write_error(server, action, name, &[step], true, e)
                })?;
            let removed: Option<bool> = conn::column(&row, 0, &|| {
                format!(
                    "the answer to removing a step from context {}",
                    shorten(name)
                )
            })?;
            removed.ok_or_else(|| Error::ContextCleared {
                context: name.to_owned(),
            })
        })
    }
}

/// A handle's context id as stored; an id out of range names no context.
fn signed_id(name: &str, id: u64) -> Result<i64> {
    i64::try_from(id).map_err(|_| Error::ContextCleared {
        context: name.to_owned(),
    })
}

/// Runs `f` in a `READ COMMITTED` transaction and commits it.
fn in_transaction(
    conn: &mut Conn,
    server: &str,
    action: &str,
    f: impl FnOnce(&mut conn::Sql<'_>) -> Result<()>,
) -> Result<()> {
    let mut sql = conn.transaction(server, action, |client| {
        client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::ReadCommitted)
            .start()
    })?;
    f(&mut sql)?;
    sql.commit(action)
}

/// Maps an error of a write function: its own codes (see the migration) to the registry's
/// errors, the rest as any statement's. A connection lost under a statement the server
/// commits on its own (`alone`) leaves the outcome unknown, and the message says so.
fn write_error(
    server: &str,
    action: &str,
    context: &str,
    steps: &[&str],
    alone: bool,
    err: postgres::Error,
) -> Error {
    if let Some(db) = err.as_db_error() {
        match db.code().code() {
            "PD001" => {
                let step = db
                    .detail()
                    .and_then(|d| d.parse::<usize>().ok())
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| steps.get(i));
                if let Some(step) = step {
                    return Error::AlreadyRegistered {
                        context: context.to_owned(),
                        step: (*step).to_owned(),
                    };
                }
            }
            "PD002" => {
                return Error::ContextCleared {
                    context: context.to_owned(),
                };
            }
            "PD003" => {
                return Error::corrupted(
                    format!("the step-type index of context {}", shorten(context)),
                    db.message().to_owned(),
                    None,
                );
            }
            _ => {}
        }
    }
    let mapped = conn::map_error(server, action, err);
    match mapped {
        Error::Server {
            kind: ServerErrorKind::ConnectionLost,
            server,
            action,
            source,
        } if alone => Error::Server {
            kind: ServerErrorKind::ConnectionLost,
            server,
            action: format!(
                "{action}; the server commits this statement on its own, so if it was lost while committing the outcome is unknown: check the data before retrying"
            ),
            source,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::plan_calls;

    #[test]
    fn calls_split_where_the_next_item_would_exceed_the_limit() {
        assert_eq!(plan_calls(&[], 10), Vec::<std::ops::Range<usize>>::new());
        assert_eq!(plan_calls(&[4, 4, 4], 10), [0..2, 2..3]);
        assert_eq!(plan_calls(&[4, 6, 4], 10), [0..2, 2..3]);
        // An item over the limit goes alone.
        assert_eq!(plan_calls(&[1, 25, 1], 10), [0..1, 1..2, 2..3]);
        assert_eq!(
            plan_calls(&[25], 10),
            vec![std::ops::Range { start: 0, end: 1 }]
        );
    }

    proptest! {
        /// The calls cover every item once, in order; each stays within the limit unless it
        /// holds a single item; and each is as long as the limit allows.
        #[test]
        fn calls_cover_every_item_in_order_within_the_limit(
            sizes in proptest::collection::vec(0usize..40, 0..60),
            limit in 1usize..60,
        ) {
            let calls = plan_calls(&sizes, limit);
            let mut next = 0;
            for call in &calls {
                prop_assert_eq!(call.start, next);
                prop_assert!(call.end > call.start);
                let bytes: usize = sizes[call.clone()].iter().sum();
                prop_assert!(bytes <= limit || call.len() == 1);
                if call.end < sizes.len() {
                    prop_assert!(bytes + sizes[call.end] > limit);
                }
                next = call.end;
            }
            prop_assert_eq!(next, sizes.len());
        }
    }
}
