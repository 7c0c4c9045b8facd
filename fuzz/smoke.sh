#!/usr/bin/env bash
# Fuzz smoke: runs each fuzz target for FUZZ_SECONDS (default 30) seconds with cargo-fuzz on
# the stable toolchain (RUSTC_BOOTSTRAP=1 unlocks the -Z flags cargo-fuzz passes), starting
# from the committed seeds, and prints the executions per target. If cargo-fuzz is missing it
# is installed (`cargo install cargo-fuzz --locked`); if that fails, or the fuzz build fails,
# the seeds and any local corpus are replayed through the same checks by an ordinary test
# (`cargo test --test fuzz_corpora`). Exits non-zero on any finding.
#
# Usage: fuzz/smoke.sh            (from anywhere; about 5 x 30 s plus the build)
#        FUZZ_SECONDS=600 fuzz/smoke.sh
#        FUZZ_TARGETS="ops_model json_import" fuzz/smoke.sh   (a subset, in that order)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-30}"
targets=(ops_model record_decode json_import context_name server_url)
if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
fi
# RUSTC_BOOTSTRAP=1 also unlocks the `profile-rustflags` cargo feature of fuzz/Cargo.toml.
export RUSTC_BOOTSTRAP=1
# Build flags, the same for the build and every run (a run with other flags rebuilds): no
# sanitizer (the library forbids unsafe code); compare tracing, debug assertions and overflow
# checks as fuzz/Cargo.toml sets them per crate (the storage engine, redb, without them).
build_flags=(-O --sanitizer none --no-trace-compares)
# glibc returns freed heap to the kernel and faults it in again on every execution of the
# storage-heavy targets (about a tenth of their time); keep it.
export MALLOC_TRIM_THRESHOLD_="${MALLOC_TRIM_THRESHOLD_:-1073741824}"
export MALLOC_TOP_PAD_="${MALLOC_TOP_PAD_:-67108864}"
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-1073741824}"

# libFuzzer options per target. ops_model: its inputs decode to at most 8 operations (8 seed
# bytes and at most 6 per operation), so longer inputs only carry ignored bytes; libFuzzer's
# entropic schedule, whose bookkeeping per execution grows with the features an execution
# covers (thousands here: every input runs the storage engine through commits, a close and a
# recovery), took more than half of each execution, so it uses the classic schedule; a single
# process needs no re-reading of its own corpus directory every second (-reload=0; that is for
# -jobs/-workers sharing one); and libFuzzer's memcmp hook would record the operands of the
# storage engine's key comparisons, which the input does not choose (-use_memcmp=0).
target_options() {
    case "$1" in
        ops_model) echo "-max_len=64 -entropic=0 -reload=0 -use_memcmp=0" ;;
        *) echo "-max_len=4096" ;;
    esac
}

# The cargo-fuzz workspace of each target (see storage/Cargo.toml for why ops_model has its own).
fuzz_dir() {
    case "$1" in
        ops_model) echo "storage" ;;
        *) echo "." ;;
    esac
}

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
# Two cargo-fuzz workspaces: this one (the parser targets, with compare tracing in the crates
# that parse their input, see Cargo.toml) and storage/ (ops_model, without it).
cargo fuzz build "${build_flags[@]}" >/dev/null 2>&1 || fallback "the fuzz targets did not build"
cargo fuzz build --fuzz-dir storage "${build_flags[@]}" >/dev/null 2>&1 ||
    fallback "the storage fuzz target did not build"

status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="$(mktemp)"
    # shellcheck disable=SC2046 # the options are words
    if cargo fuzz run --fuzz-dir "$(fuzz_dir "$target")" "${build_flags[@]}" "$target" \
        "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -timeout=20 \
        -artifact_prefix="$here/artifacts/$target/" $(target_options "$target") \
        >"$log" 2>&1; then
        result="ok"
    else
        result="FAILED (artifacts in fuzz/artifacts/$target)"
        tail -40 "$log"
        status=1
    fi
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    rate="$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    corpus="$(find "corpus/$target" -type f | wc -l)"
    echo "fuzz smoke: $target: ${runs:-?} executions in ${seconds}s (${rate:-?}/s), corpus $corpus: $result"
    rm -f "$log"
done
exit $status
