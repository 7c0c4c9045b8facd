//! Ctrl-C (SIGINT), SIGTERM and SIGHUP while the CLI writes a file: the temporary file it
//! is writing is removed before the process ends, so an interrupted `export -o`,
//! `snapshot -o`, `compact` or `check --repair` leaves nothing beside its target (the
//! target itself is only ever replaced by a finished file). The process then ends by the signal itself (its default action),
//! as without a handler: a shell reports 128 + the signal's number, and a script or loop
//! that ran the command is interrupted too.
//!
//! A signal ends the process at once, as without a handler: a write to the database in
//! progress is then exactly as interrupted as by a kill, which the storage is built for.
//! Only the temporary files this module was told about are removed; a SIGKILL (which no
//! process can handle) still leaves them, under a name starting `.pipeline-deps-`, and
//! `check` lists those beside the registry (`maintain.rs`).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Temporary files being written now: one path, or every file of a directory whose name
/// starts with a prefix (the library's own temporary file of `compact`, whose name the CLI
/// does not know, only its start).
static PENDING: Mutex<Vec<Temporary>> = Mutex::new(Vec::new());

#[derive(Clone, PartialEq)]
enum Temporary {
    File(PathBuf),
    Prefixed { dir: PathBuf, prefix: String },
}

impl Temporary {
    fn remove(&self) {
        match self {
            Temporary::File(path) => {
                let _ = std::fs::remove_file(path);
            }
            Temporary::Prefixed { dir, prefix } => {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    return;
                };
                for entry in entries.flatten() {
                    if entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with(prefix.as_str())
                    {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
    }
}

/// The prefix of the temporary files the CLI writes beside a target.
pub const TEMP_PREFIX: &str = ".pipeline-deps-";

/// Starts the thread that handles the signals. Best effort: if the handler cannot be
/// installed, a signal ends the process as it would without one.
pub fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let handler = move || {
            if let Some(signal) = signals.forever().next() {
                // Held until the end: no temporary file is registered after the sweep.
                let pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
                for temporary in pending.iter() {
                    temporary.remove();
                }
                // End by the signal itself (default action, raised again), not by an exit
                // with 128 + its number: a shell running a script or loop stops it only
                // when the command it ran was killed by SIGINT, and prints the newline
                // after `^C` only then.
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                std::process::exit(128 + signal);
            }
        };
        // Without the thread, signals keep their default action.
        let _ = std::thread::Builder::new()
            .name("signals".into())
            .spawn(handler);
    }
}

/// A temporary file being written, removed by a signal until this is dropped (after the
/// file was renamed into place, or removed on an error).
pub struct Pending(Temporary);

impl Pending {
    /// Registers every file of `dir` whose name starts with `prefix` (a prefix only this
    /// process's files have).
    pub fn prefixed(dir: &Path, prefix: String) -> Self {
        Self::register(Temporary::Prefixed {
            dir: dir.to_path_buf(),
            prefix,
        })
    }

    /// Creates a temporary file with `create` and registers it (at the path `path` gives)
    /// while holding the list of pending files, so that a signal handled meanwhile waits
    /// for the registration and then removes the file. (Registered after it was created, a
    /// signal handled in between left the file behind: the export test caught it once in a
    /// few runs on a loaded machine.) Dropped, the file goes before its registration.
    ///
    /// # Errors
    /// `create`'s.
    pub fn create<T>(
        create: impl FnOnce() -> std::io::Result<T>,
        path: impl FnOnce(&T) -> PathBuf,
    ) -> std::io::Result<(Self, T)> {
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        let made = create()?;
        let temporary = Temporary::File(path(&made));
        pending.push(temporary.clone());
        Ok((Pending(temporary), made))
    }

    fn register(temporary: Temporary) -> Self {
        PENDING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(temporary.clone());
        Pending(temporary)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = PENDING.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = pending.iter().position(|p| *p == self.0) {
            pending.swap_remove(i);
        }
    }
}
