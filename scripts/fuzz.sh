#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a bounded time each (default 60 s) and prints
# one summary line per target: executions, seconds, corpus size, and whether it found
# anything. Findings land in fuzz/artifacts/<target>/; copy each into
# fuzz/regressions/<target>/ (replayed by `cargo test`, tests/it/fuzz_inputs.rs) and fix.
#
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
# Needs cargo-fuzz (installed here if missing) and a C++ compiler (libFuzzer).
# The fuzz targets depend only on the contracts crate (contracts/), not on wasmtime or
# sqlx, so the instrumented build takes about a minute on 2 cores; CI runs this with 45 s
# per target (.ci/run). The toolchain is stable, so the
# sanitizer flags are unlocked with RUSTC_BOOTSTRAP=1; nothing else is affected.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(invoice_parse template_render signature_verify)
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

build_log="$(mktemp)"
if ! cargo fuzz build -O >"$build_log" 2>&1; then
  tail -40 "$build_log" >&2
  echo "building the fuzz targets failed" >&2
  exit 1
fi
tail -1 "$build_log"
rm -f "$build_log"
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log="$(mktemp)"
  # Seeds and past findings join the working corpus, which grows across runs.
  if cargo fuzz run -O "$target" "corpus/$target" "seeds/$target" "regressions/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
      -print_final_stats=1 >"$log" 2>&1; then
    result="no findings"
  else
    result="FOUND A PROBLEM: see artifacts/$target and $log"
    status=1
  fi
  runs="$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 || true)"
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')"
  echo "$target: ${execs} executions (${runs:-no summary}), corpus $(ls "corpus/$target" | wc -l) files, $result"
  # The crash report names the input and how to reproduce it; show it where CI can see it.
  [ "$result" = "no findings" ] || tail -60 "$log"
  [ "$result" = "no findings" ] && rm -f "$log"
done
exit "$status"
