//! Invariant: the library's panic hook quiets only the storage engine's contained panics: a
//! panic of the caller's own code, run inside a read (an export's output) or after library
//! calls on the same thread, reaches the hook that was in place before the library's,
//! printed as usual. One test in this binary, since the hook it installs must come before
//! the library's first use in the process.
//! Written against mutants of `src/store/guard.rs` that `caller_panics` and `corruption` let
//! survive (see the report of the fourth mutation audit, cargo-mutants).

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use pipeline_deps::RegistryManager;
use support::{TestResult, numbered_spec};

const GAVE_UP: &str = "the caller's output gave up";
const OWN: &str = "the caller's own code gave up";

/// An output that panics at its first write.
struct GivesUp;

impl Write for GivesUp {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("{GAVE_UP}");
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_callers_panics_reach_the_hook_in_place_before_the_librarys() -> TestResult {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&seen);
    std::panic::set_hook(Box::new(move |info| {
        if let Ok(mut seen) = recorded.lock() {
            seen.push(info.to_string());
        }
    }));
    let registry = RegistryManager::in_memory()?.get_registry("ml")?;
    registry.register("s", &numbered_spec(0, 1))?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        registry.export_json_to(GivesUp)
    }));
    assert!(
        outcome.is_err(),
        "the output's panic did not reach the caller"
    );
    // Outside any library call, on the thread that made them.
    assert!(std::panic::catch_unwind(|| panic!("{OWN}")).is_err());
    let _ = std::panic::take_hook();
    let seen = seen.lock().map_err(|_| "the hook's record is poisoned")?;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[0].contains(GAVE_UP) && seen[1].contains(OWN),
        "{seen:?}"
    );
    Ok(())
}
