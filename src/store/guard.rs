//! Containment of storage-engine panics: the one place where a panic of redb on damaged data
//! becomes an [`Error::Corrupted`], without a word on standard error.
//!
//! redb trusts the pages it reads on its plain read path and may panic (an index out of
//! range, an `unreachable!`) on a file damaged outside this library. Every call into redb
//! from outside the store goes through [`contain`] (via `Store::read`, `Store::write`, the
//! opens, the integrity check and compaction), so such a panic is reported as corruption of
//! the file instead of unwinding into the caller.
//!
//! **Panic output.** The default panic hook would still print `thread '…' panicked at …`
//! (and a backtrace under `RUST_BACKTRACE`) before the panic is caught, which users read as
//! a crash. On its first use the store therefore installs, once per process, a panic hook
//! that wraps the hook in place at that moment: a panic on a thread that is inside
//! [`contain`] is recorded (its message goes into the returned error) and not printed; every
//! other panic is handed to the previous hook unchanged. An application that installs its
//! own hook later replaces this one (contained panics are then reported by its hook, and
//! still returned as errors). The decision: a contained storage-engine panic is an error
//! value, not a crash, so it is not reported as one; nothing else changes.
//!
//! **`panic = "abort"`.** Containment needs unwinding. A program built to abort on panic
//! cannot get the error: the process ends at the engine's panic. The hook then prints
//! [`ABORT_NOTE`] and hands the panic to the previous hook, so the end is never silent.

use std::cell::Cell;
use std::sync::Once;

use crate::error::{Error, Result};

thread_local! {
    /// How many [`contain`] calls this thread is inside (they may nest).
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// Printed when a storage-engine panic cannot be contained because the program is built
/// with `panic = "abort"`.
const ABORT_NOTE: &str = "pipeline-deps: the storage engine failed on damaged data, and this program is built with panic = \"abort\", so it stops here; built with panic = \"unwind\" (Rust's default) the call returns Error::Corrupted instead";

/// Installs the quieting hook once (never from a panicking thread, where `set_hook` would
/// itself panic).
fn install_hook() {
    if std::thread::panicking() {
        return;
    }
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let contained = DEPTH.try_with(|depth| depth.get() > 0).unwrap_or(false);
            if !contained {
                previous(info);
            } else if cfg!(panic = "abort") {
                // Nothing can catch it: the process ends now. Silence would leave no trace,
                // so say what happened and how to get the error instead, then let the
                // previous hook report the panic.
                eprintln!("{ABORT_NOTE}");
                previous(info);
            }
        }));
    });
}

/// Marks this thread as inside [`contain`] while alive.
struct Depth;

impl Depth {
    fn enter() -> Depth {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get() + 1));
        Depth
    }
}

impl Drop for Depth {
    fn drop(&mut self) {
        let _ = DEPTH.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// The text of a panic payload.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

/// Runs `f`, reporting a panic of the storage engine on damaged data as
/// [`Error::Corrupted`] (saying what was being done), with nothing printed. The panic's
/// own text (an engine assertion, meaningless to a user) stays out of the message; it goes
/// to a `debug` log event for whoever diagnoses the engine.
pub(crate) fn contain<T>(
    action: impl FnOnce() -> String,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    install_hook();
    let depth = Depth::enter();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(depth);
    result.unwrap_or_else(|payload| {
        let action = action();
        tracing::debug!(
            action = %action,
            engine = %message(payload.as_ref()),
            "the storage engine panicked on damaged data"
        );
        Err(Error::corrupted(
            action,
            "the storage engine failed on damaged data",
            None,
        ))
    })
}

/// Runs the caller's own code `f` (an export's output) from inside [`contain`]: a panic in
/// it is the caller's, not the engine's, so the hook in place prints it as usual and it is
/// handed back as its payload, to be resumed once out of the store, never reported as
/// corruption.
pub(crate) fn outside<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    let depth = DEPTH.try_with(|depth| depth.replace(0)).unwrap_or(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let _ = DEPTH.try_with(|d| d.set(depth));
    result
}

/// Runs `f` (a destructor's work), swallowing a panic silently: dropping must not panic.
pub(crate) fn contain_drop(f: impl FnOnce()) {
    install_hook();
    let depth = Depth::enter();
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    drop(depth);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_a_corruption_error_naming_the_action() {
        let result: Result<()> = contain(
            || "reading something".into(),
            || panic!("index out of range"),
        );
        let Err(error) = result else {
            panic!("a panic was not turned into an error");
        };
        assert!(error.is_corruption());
        let text = error.to_string();
        assert!(text.contains("reading something"), "{text}");
        assert!(text.contains("failed on damaged data"), "{text}");
        // No panic text reaches a user.
        assert!(!text.contains("index out of range"), "{text}");
    }

    #[test]
    fn nesting_keeps_the_depth_balanced() {
        let inner: Result<Result<()>> = contain(
            || "outer".into(),
            || Ok(contain(|| "inner".into(), || panic!("inner"))),
        );
        assert!(matches!(inner, Ok(Err(_))));
        assert_eq!(DEPTH.with(Cell::get), 0);
    }
}
