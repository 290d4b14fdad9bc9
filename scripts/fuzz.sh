#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser with libFuzzer (harnesses in fuzz/, one executable per parser).
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]     default: FUZZ_SECONDS (60) each, every harness
#   FUZZ_SEED=N scripts/fuzz.sh ...           the same mutations on every run
#
# Builds fuzz/ with -sanitize=fuzzer,address, then runs each harness for SECONDS on a working corpus seeded from
# fuzz/corpus/<harness> (the working corpus under fuzz/.build/ keeps what earlier runs found). Prints executions and
# crashes per harness; a crash, leak, timeout or out-of-memory leaves its input in fuzz/.build/findings/ and makes
# the script exit 1. Reproduce one with: fuzz/.build/release/fuzz-<harness> <artifact>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-60}}
shift || true
harnesses=("$@")
if [ ${#harnesses[@]} -eq 0 ]; then
  harnesses=(config png jpeg safetensors pth coco odvg prompt remap)
fi

build_start=$(date +%s)
(cd fuzz && swift build -c release -Xswiftc -sanitize=fuzzer,address)
echo "fuzz build: $(($(date +%s) - build_start)) s"

# The harness limits: 10 s per input is a hang; 4 GB resident is a memory blow-up. Shape-only model assembly
# reserves address space it never touches, so single allocations may be large (the config harness assembles models).
options=(-timeout=10 -rss_limit_mb=4096 -malloc_limit_mb=65536 -print_final_stats=1)
# A fixed FUZZ_SEED makes a run repeat the same mutations (CI uses one, so it checks, rather than explores, each time).
if [ -n "${FUZZ_SEED:-}" ]; then options+=(-seed="$FUZZ_SEED"); fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
# Swift's own crash backtracer reads freed memory under ASan and hides the real report; libFuzzer prints the trace.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}

failed=0
summary=()
for harness in "${harnesses[@]}"; do
  work=fuzz/.build/corpus/$harness
  artifacts=fuzz/.build/findings/$harness
  mkdir -p "$work" "$artifacts"
  log=fuzz/.build/$harness.log
  status=0
  fuzz/.build/release/fuzz-$harness "$work" "fuzz/corpus/$harness" "${options[@]}" -max_total_time="$seconds" \
    -artifact_prefix="$artifacts/" >"$log" 2>&1 || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "$artifacts" -type f 2> /dev/null | wc -l)
  summary+=("$(printf '%-12s %10s executions  %3d crashes  exit %d' "$harness" "${executions:-?}" "$crashes" "$status")")
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    failed=1
    echo "fuzz-$harness failed; the end of its log ($log):"
    tail -40 "$log"
  fi
done
printf '%s\n' "${summary[@]}"
exit $failed
