#!/usr/bin/env bash
# Fuzz smoke: runs each fuzz target for FUZZ_SECONDS (default 30) seconds with cargo-fuzz on
# the stable toolchain (RUSTC_BOOTSTRAP=1 unlocks the -Z flags cargo-fuzz passes), starting
# from the committed seeds, and prints the executions per target. If cargo-fuzz is missing it
# is installed (`cargo install cargo-fuzz --locked`); if that fails, or the fuzz build fails,
# the seeds and any local corpus are replayed through the same checks by an ordinary test
# (`cargo test --test fuzz_corpora`). Exits non-zero on any finding.
#
# Usage: fuzz/smoke.sh            (from anywhere; about 4 x 30 s plus the build)
#        FUZZ_SECONDS=600 fuzz/smoke.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-30}"
targets=(ops_model record_decode json_import context_name)
export RUSTC_BOOTSTRAP=1

fallback() {
    echo "fuzz smoke: $1; replaying the seed corpora through tests/fuzz_corpora.rs instead"
    cd "$here/.."
    cargo test --test fuzz_corpora
    exit $?
}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: installing cargo-fuzz"
    cargo install cargo-fuzz --locked >/dev/null 2>&1 || fallback "cargo-fuzz could not be installed"
fi

cd "$here"
# No sanitizer: the library forbids unsafe code, and uninstrumented builds run several times
# more executions in the same time.
cargo fuzz build --sanitizer none >/dev/null 2>&1 || fallback "the fuzz targets did not build"

status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="$(mktemp)"
    if cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 -timeout=20 \
        >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED (artifacts in fuzz/artifacts/$target)"
        tail -40 "$log"
        status=1
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    echo "fuzz smoke: $target: ${runs:-?} executions in ${seconds}s: $result"
    rm -f "$log"
done
exit $status
