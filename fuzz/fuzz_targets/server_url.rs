//! Fuzz target `server_url`: see `fuzz/checks.rs` for the invariant it checks.
#![no_main]

#[path = "../checks.rs"]
mod checks;
#[path = "../../tests/support/fault_backend.rs"]
mod fault_backend;
#[path = "../../tests/support/harness.rs"]
mod harness;
#[path = "../../tests/support/model.rs"]
mod model;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    checks::server_url(data);
});
