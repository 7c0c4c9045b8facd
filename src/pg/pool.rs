//! The connections of one store: opened lazily, at most a fixed number at once, so that
//! threads sharing a manager run their calls on the server at the same time instead of
//! taking turns on one connection.
//!
//! A call takes an idle connection (the most recently used, whose prepared statements are
//! warm) or opens a new one while fewer than the limit are open, else waits for one to be
//! returned. A connection idle for longer than [`super::conn::IDLE_CHECK`] is checked before
//! use (outside the pool's lock) and replaced if the server closed it. A call that finds its
//! connection lost drops it and every idle one too: they lead to the same server, so after a
//! restart they are dead as well, and the next call opens a fresh one instead of failing on
//! each of them in turn.
//!
//! When the server has no connection slot left for another one (`max_connections`, or the
//! role's limit) and the pool already holds some, calls wait for those instead of failing,
//! and the pool opens no more than it has; after [`CEILING_RETRY`] it tries to grow to its
//! limit again, so that slots the server frees later are used (an attempt that finds the
//! server still full costs one refused connection).
//!
//! A process forked from the one that opened the connections inherits their sockets, which
//! the parent goes on using: the child's first call gives them up without a word to the
//! server (closing one would end the parent's session) and opens its own.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::conn::{self, Conn};
use crate::error::{Error, Result, ServerErrorKind};

/// How long a pool lowered to the connections it had when the server was full keeps to
/// them before trying to open more again (shorter in unit tests, which wait it out).
pub(super) const CEILING_RETRY: Duration = if cfg!(test) {
    Duration::from_secs(1)
} else {
    Duration::from_secs(10)
};

/// The connections of one store.
pub(super) struct Pool {
    state: Mutex<State>,
    /// Signalled when a connection is returned or given up, for callers waiting at the limit.
    returned: Condvar,
    /// At most this many connections are open at once (at least 1).
    limit: usize,
}

struct State {
    /// Open connections nobody is using, the most recently used last.
    idle: Vec<Conn>,
    /// Connections open now: idle ones and those lent to calls.
    open: usize,
    /// At most this many are opened: the pool's limit, lowered to what it had open when the
    /// server refused one more for lack of slots (a call then waits for one of its own).
    ceiling: usize,
    /// Since when the ceiling is below the pool's limit.
    lowered_at: Option<Instant>,
    /// The process whose connections these are (see [`State::leave_parents`]).
    process: u32,
}

impl State {
    /// In a process forked from the one that opened the connections, gives them up without
    /// closing them: their sockets are the parent's too, and closing one sends the server
    /// the end of the parent's session. Connections that calls had borrowed at the fork
    /// belong to threads the child does not have.
    fn leave_parents(&mut self) {
        let now = std::process::id();
        if self.process != now {
            for conn in self.idle.drain(..) {
                std::mem::forget(conn);
            }
            self.open = 0;
            self.process = now;
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        match self.state.get_mut() {
            Ok(state) => state.leave_parents(),
            Err(poisoned) => poisoned.into_inner().leave_parents(),
        }
    }
}

impl Pool {
    /// An empty pool that opens at most `limit` connections (`0` counts as 1).
    pub(super) fn new(limit: usize) -> Pool {
        Pool {
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                ceiling: limit.max(1),
                lowered_at: None,
                process: std::process::id(),
            }),
            returned: Condvar::new(),
            limit: limit.max(1),
        }
    }

    fn lock(&self, server: &str) -> Result<MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| poisoned(server))
    }

    /// Runs `f` on a connection of the pool; `open` makes a new one when the pool may grow.
    /// The connection goes back to the pool afterwards, unless it was lost (then the idle
    /// ones go too).
    pub(super) fn with<T>(
        &self,
        server: &str,
        open: impl Fn() -> Result<Conn>,
        f: impl FnOnce(&mut Conn) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.take(server, open)?;
        let place = Place(self);
        let result = f(&mut conn);
        // Returned normally: `give_back` accounts for the connection's place.
        std::mem::forget(place);
        let lost =
            conn.client.is_closed() || result.as_ref().err().is_some_and(conn::is_connection_error);
        self.give_back(server, conn, lost)?;
        result
    }

    /// A working connection: an idle one that still works, or a new one.
    fn take(&self, server: &str, open: impl Fn() -> Result<Conn>) -> Result<Conn> {
        loop {
            let mut state = self.lock(server)?;
            state.leave_parents();
            if let Some(mut conn) = state.idle.pop() {
                // Checked outside the lock: the check may take a round trip.
                drop(state);
                if conn.still_works() {
                    return Ok(conn);
                }
                self.forget();
                continue;
            }
            if state
                .lowered_at
                .is_some_and(|at| at.elapsed() >= CEILING_RETRY)
            {
                state.ceiling = self.limit;
                state.lowered_at = None;
            }
            if state.open < state.ceiling {
                state.open += 1;
                drop(state);
                match open() {
                    Ok(conn) => return Ok(conn),
                    Err(error) => {
                        self.forget();
                        // The server is full (max_connections, or the role's limit): with
                        // connections of its own, the pool waits for one of them instead,
                        // and opens no more than it has for the next CEILING_RETRY.
                        let full = matches!(
                            error,
                            Error::Server {
                                kind: ServerErrorKind::TooManyConnections,
                                ..
                            }
                        );
                        let mut state = self.lock(server)?;
                        if !full || state.open == 0 {
                            return Err(error);
                        }
                        state.ceiling = state.open;
                        state.lowered_at = Some(Instant::now());
                        tracing::info!(%server, connections = state.open, "the server has no connection slot left; this manager keeps to the connections it has for a while");
                        continue;
                    }
                }
            }
            // Every connection is lent out: wait for one to come back.
            drop(
                self.returned
                    .wait_while(state, |s| s.idle.is_empty() && s.open >= s.ceiling)
                    .map_err(|_| poisoned(server))?,
            );
        }
    }

    /// Returns `conn` to the pool, or drops it and every idle connection when it was lost.
    fn give_back(&self, server: &str, conn: Conn, lost: bool) -> Result<()> {
        let mut state = self.lock(server)?;
        if lost {
            let dropped = state.idle.len() + 1;
            state.idle.clear();
            state.open = state.open.saturating_sub(dropped);
            drop(state);
            drop(conn);
            self.returned.notify_all();
        } else {
            state.idle.push(conn);
            drop(state);
            self.returned.notify_one();
        }
        Ok(())
    }

    /// Counts one connection as closed (a failed open, a dead idle one, a call that
    /// unwound). Only a counter changes, so a lock poisoned by a panic elsewhere is used as
    /// it is.
    fn forget(&self) {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }
}

/// The place of a connection lent to a call. If the call unwinds instead of returning,
/// dropping this gives the place up, so that a panic cannot shrink the pool for good.
struct Place<'p>(&'p Pool);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.forget();
    }
}

fn poisoned(server: &str) -> Error {
    Error::Poisoned {
        action: format!("using the connections to {server} after a panic in another thread"),
    }
}
