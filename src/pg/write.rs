//! The hot writes as one statement each: registering, replacing and removing steps call the
//! server-side functions of `migrations/postgres/0002_write_functions.sql`, which lock the
//! context's catalog row, check its id, change the specs and the step-type index and write
//! the counters and a new revision, all in the statement's transaction.
//!
//! A single step (`register`, `upsert`, `unregister`) is one statement that the server
//! commits on its own before it answers: one round trip, and `Ok` means committed and
//! flushed, as with an explicit `COMMIT`. A batch of several steps runs the same statement
//! inside `BEGIN` … `COMMIT` (three round trips, whatever its size), so that a client that
//! dies in the middle of a long batch leaves nothing of it: the server never receives the
//! `COMMIT`. Either way a failed call applies nothing.

use super::PgStore;
use super::conn::{self, Conn};
use crate::codec;
use crate::error::{Error, Result, ServerErrorKind, shorten};
use crate::spec::StepSpecification;

const PUT_STEPS: &str = "SELECT pd_put_steps($1, $2, $3, $4, $5, $6)";
const REMOVE_STEP: &str = "SELECT pd_remove_step($1, $2, $3)";

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
        let key = signed_id(name, id)?;
        let mut steps = Vec::with_capacity(items.len());
        let mut types = Vec::with_capacity(items.len());
        let mut tails = Vec::with_capacity(items.len());
        for (step, spec) in items {
            let tail = codec::encode_step_tail(spec);
            steps.push(*step);
            types.push(spec.step_type.as_str());
            tails.push(tail);
        }
        let alone = items.len() == 1;
        let map = |server: &str, e| write_error(server, action, name, &steps, alone, e);
        self.with_conn(action, |conn, server| {
            let params: [&(dyn postgres::types::ToSql + Sync); 6] =
                [&name, &key, &replace, &steps, &types, &tails];
            if alone {
                conn.query_one_alone(server, action, PUT_STEPS, &params, |e| map(server, e))?;
                Ok(())
            } else {
                in_transaction(conn, server, action, |sql| {
                    sql.query_one_with(action, PUT_STEPS, &params, |e| map(server, e))
                })
            }
        })
    }

    /// Removes `step` from context `name` (id `id`) in one statement; false if it was not
    /// registered (the revision is bumped either way, as by any write).
    pub(crate) fn remove_step(
        &self,
        action: &str,
        name: &str,
        id: u64,
        step: &str,
    ) -> Result<bool> {
        let key = signed_id(name, id)?;
        // A name that cannot be stored is removed as the empty name, which is never stored
        // either: nothing is found, and the revision is bumped as by any write.
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
            conn::column(&row, 0, &|| {
                format!(
                    "the answer to removing a step from context {}",
                    shorten(name)
                )
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
    f: impl FnOnce(&mut conn::Sql<'_>) -> Result<postgres::Row>,
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
