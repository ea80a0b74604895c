#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of executions (default 10^6) on the stable
# toolchain (cargo-fuzz with --sanitizer none; installed here if missing), from corpora seeded
# from protocols/vectors, and prints one line per target: executions, seconds, crashes.
# Usage: [JOBS=N] fuzz/run.sh [RUNS] [TARGET…]; with JOBS > 1, N processes share the RUNS
# (libFuzzer -jobs, for the slow holder target). Crashes are left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-1000000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(message frames he_wire importers client_id holder)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
python3 seed_corpus.py
cargo fuzz build -O --codegen-units 16 --sanitizer none
jobs=${JOBS:-1}
parallel=()
[ "$jobs" -le 1 ] || parallel=(-jobs="$jobs" -workers="$jobs")
status=0
for t in "${targets[@]}"; do
    log=$(mktemp)
    rm -f fuzz-*.log
    start=$(date +%s)
    if cargo fuzz run -O --codegen-units 16 --sanitizer none "$t" "corpus/$t" -- \
        -runs=$((runs / jobs)) "${parallel[@]}" -max_len=262144 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1; then
        crashes=0
    else
        crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
        status=1
    fi
    # With jobs, each job's log is also copied into the main one: count the jobs' logs only.
    stats=("$log")
    [ "$jobs" -le 1 ] || stats=(fuzz-*.log)
    done_runs=$(cat "${stats[@]}" 2>/dev/null | grep -o 'stat::number_of_executed_units: *[0-9]*' \
        | grep -o '[0-9]*$' | paste -sd+ | bc)
    echo "$t: executions $done_runs, $(( $(date +%s) - start )) s, crashes $crashes"
    [ "$crashes" = 0 ] || tail -40 "$log"
    rm -f "$log" fuzz-*.log
done
exit $status
