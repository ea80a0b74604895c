#!/usr/bin/env bash
# Runs every fuzz target for a fixed number of executions (default 10^6) on the stable
# toolchain (cargo-fuzz with --sanitizer none; installed here if missing), from corpora seeded
# from protocols/vectors, and prints one line per target: executions, seconds, crashes.
# Usage: fuzz/run.sh [RUNS] [TARGET…]. Crashes are left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:-1000000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(message frames he_wire importers client_id holder)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
python3 seed_corpus.py
cargo fuzz build -O --codegen-units 16 --sanitizer none
status=0
for t in "${targets[@]}"; do
    log=$(mktemp)
    start=$(date +%s)
    if cargo fuzz run -O --codegen-units 16 --sanitizer none "$t" "corpus/$t" -- -runs="$runs" -max_len=262144 \
        -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1; then
        crashes=0
    else
        crashes=$(ls "artifacts/$t" 2>/dev/null | wc -l)
        status=1
    fi
    done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "$t: executions $done_runs, $(( $(date +%s) - start )) s, crashes $crashes"
    [ "$crashes" = 0 ] || tail -40 "$log"
    rm -f "$log"
done
exit $status
