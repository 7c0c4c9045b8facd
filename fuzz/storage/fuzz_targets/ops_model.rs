//! Fuzz target `ops_model`: see `fuzz/checks.rs` for the invariant it checks.
#![no_main]

#[path = "../../checks.rs"]
mod checks;
#[path = "../../../tests/support/fault_backend.rs"]
mod fault_backend;
#[path = "../../../tests/support/harness.rs"]
mod harness;
#[path = "../../../tests/support/model.rs"]
mod model;

/// See README.md (Throughput): the storage engine allocates and frees a page buffer per page
/// read and written, and glibc's allocator was a sixth of an execution.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::ops_model(data);
});
