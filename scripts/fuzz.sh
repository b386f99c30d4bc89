#!/usr/bin/env bash
# FunnelPulse fuzzing: builds the libFuzzer targets and runs each for SECONDS.
#
#   ./scripts/fuzz.sh                     # every target, 30 s each
#   ./scripts/fuzz.sh 600                 # every target, 10 min each
#   ./scripts/fuzz.sh 3600 json-paths     # one target for an hour
#   ./scripts/fuzz.sh 0                   # no fuzzing: run every saved input once (seeds + corpus)
#
# Targets, one per decoder shape: the executable fuzz-decoders (Sources/FunnelFuzzDecoders/, checks
# in Sources/FunnelFuzzSupport/) run with FUNNELPULSE_FUZZ_SHAPE=<target>, each with its own corpus:
#   json-canonical  the built-in canonical JSON mapping
#   json-paths      a JSON mapping read through nested paths (FuzzMappings.nestedJSON)
#   csv-taobao      headerless CSV, columns by index (deploy/mappings/taobao-userbehavior.yaml)
#   csv-header      CSV bound by a header line (rees46-ecommerce.yaml and retailrocket-events.yaml)
# Each input goes through RecordDecoder and a fresh Engine (model and alerts on), as one message
# and as a file of lines; a broken invariant stops the target like a crash does.
#
# Seeds: Tests/FuzzCorpus/<target>/ (read only). Inputs the fuzzer finds accumulate in
# .cache/fuzz/corpus/<target>/; crashes, timeouts and out-of-memory inputs are written to
# .cache/fuzz/artifacts/ and fail the run. Reproduce one with
#   FUNNELPULSE_FUZZ_SHAPE=<target> .build-fuzz/release/fuzz-decoders .cache/fuzz/artifacts/<file>
# or, without libFuzzer, `swift build --product fuzz-decoders` and run
#   FUNNELPULSE_FUZZ_SHAPE=<target> .build/debug/fuzz-decoders FILE.
# When a crash is fixed, copy its input into Tests/FuzzCorpus/<target>/ so every `swift test` replays it.
#
# Environment:
#   FUZZ_SANITIZERS  sanitizers besides the fuzzer (default: address; "none" builds fuzzer-only,
#                    about twice the executions per second but no out-of-bounds detection)
#   FUZZ_TIMEOUT     seconds one input may take before it counts as a hang (default 10)
#   FUZZ_JOBS        parallel libFuzzer jobs per target (default 1)
#   FUZZ_WORK        work directory (default .cache/fuzz)
# The build uses its own scratch path (.build-fuzz), so the normal .build is never rebuilt with
# fuzzer flags and `swift build` / `swift test` never need them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
command -v swift >/dev/null 2>&1 || [[ ! -x /opt/swift/usr/bin/swift ]] || PATH="$PATH:/opt/swift/usr/bin"

ALL_TARGETS=(json-canonical json-paths csv-taobao csv-header)
SECONDS_EACH=${1:-30}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=("${ALL_TARGETS[@]}")
[[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number (got '$SECONDS_EACH')" >&2; exit 2; }
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target '$t' (known: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

WORK=${FUZZ_WORK:-$ROOT/.cache/fuzz}
SANITIZERS=${FUZZ_SANITIZERS:-address}
TIMEOUT=${FUZZ_TIMEOUT:-10}
JOBS=${FUZZ_JOBS:-1}
SCRATCH="$ROOT/.build-fuzz"
[[ "$SANITIZERS" == none ]] && SCRATCH="$ROOT/.build-fuzz-nosan"

log() { printf '[fuzz %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

build_args=(-c release --scratch-path "$SCRATCH" --sanitize fuzzer -Xswiftc -DFUNNELPULSE_LIBFUZZER)
# Extra sanitizers go in ONE -sanitize= list: with several `swift build --sanitize` options the
# driver hands the compiler only one of them, and which one changes from run to run (you get either
# no coverage or no AddressSanitizer, and every target rebuilds everything).
[[ "$SANITIZERS" == none ]] || build_args+=(-Xswiftc "-sanitize=fuzzer,${SANITIZERS// /,}")
# Reuse the dependency checkouts of the normal build instead of fetching them again.
if [[ ! -d "$SCRATCH/checkouts" && -d "$ROOT/.build/checkouts" ]]; then
  mkdir -p "$SCRATCH"
  cp -rp "$ROOT/.build/checkouts" "$ROOT/.build/repositories" "$SCRATCH/" 2>/dev/null || true
  cp -p "$ROOT/.build/workspace-state.json" "$SCRATCH/" 2>/dev/null || true
fi

build_start=$(date +%s)
log "build fuzz-decoders (sanitizers: fuzzer$([[ "$SANITIZERS" == none ]] || echo " $SANITIZERS"))"
mkdir -p "$WORK/logs"
if ! swift build "${build_args[@]}" --product fuzz-decoders >"$WORK/logs/build.log" 2>&1; then
  grep -v -e '^\[' "$WORK/logs/build.log" >&2
  echo "fuzz.sh: build of fuzz-decoders failed" >&2
  exit 1
fi
# A target without coverage counters would "fuzz" blind; one without ASan would miss overflows.
sections=$(objdump -h "$SCRATCH/release/fuzz-decoders" 2>/dev/null || true)
[[ "$sections" == *__sancov_cntrs* ]] || { echo "fuzz.sh: fuzz-decoders has no coverage instrumentation" >&2; exit 1; }
if [[ "$SANITIZERS" == *address* ]]; then
  symbols=$(nm "$SCRATCH/release/FunnelCore.build/RecordDecoder.swift.o" 2>/dev/null || true)
  [[ "$symbols" == *__asan_report* ]] || { echo "fuzz.sh: FunnelCore was built without AddressSanitizer" >&2; exit 1; }
fi
log "built in $(($(date +%s) - build_start)) s"

mkdir -p "$WORK/artifacts"
# A failed invariant is a fatalError; the Swift backtracer would spend many seconds symbolicating
# it before libFuzzer saves the input. libFuzzer prints its own stack.
export SWIFT_BACKTRACE=enable=no
# Swift runtime caches live until exit; leak checks would only report those.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}

failed=()
printf '%-16s %10s %10s %8s %8s %8s  %s\n' target seconds execs exec/s cov corpus result
for t in "${TARGETS[@]}"; do
  corpus="$WORK/corpus/$t"
  mkdir -p "$corpus"
  logf="$WORK/logs/$t.log"
  args=("$corpus" "$ROOT/Tests/FuzzCorpus/$t" -timeout="$TIMEOUT" -rss_limit_mb=4096 -max_len=4096
    -print_final_stats=1 -artifact_prefix="$WORK/artifacts/$t-")
  # -max_total_time=0 would mean "no limit"; -runs=0 runs the saved inputs once and stops.
  if ((SECONDS_EACH > 0)); then args+=(-max_total_time="$SECONDS_EACH"); else args+=(-runs=0); fi
  ((JOBS > 1)) && args+=(-jobs="$JOBS" -workers="$JOBS")
  started=$(date +%s)
  rm -f "$WORK"/logs/fuzz-*.log
  set +e
  # From the logs directory: with FUZZ_JOBS > 1 libFuzzer writes one fuzz-N.log per job there.
  (cd "$WORK/logs" && FUNNELPULSE_FUZZ_SHAPE="$t" "$SCRATCH/release/fuzz-decoders" "${args[@]}") >"$logf" 2>&1
  rc=$?
  set -e
  if ((JOBS > 1)); then cat "$WORK"/logs/fuzz-*.log >>"$logf" 2>/dev/null || true; fi
  elapsed=$(($(date +%s) - started))
  execs=$(grep -h 'stat::number_of_executed_units' "$logf" | awk '{s += $2} END {print s + 0}')
  rate=$(grep -h 'stat::average_exec_per_sec' "$logf" | awk '{s += $2} END {print s + 0}')
  cov=$(grep -oh 'cov: [0-9]*' "$logf" | tail -1 | awk '{print $2}' || true)
  result=ok
  if ((rc != 0)); then
    result="FAILED (exit $rc)"
    failed+=("$t")
  fi
  printf '%-16s %10s %10s %8s %8s %8s  %s\n' "$t" "$elapsed" "$execs" "$rate" "${cov:-?}" \
    "$(find "$corpus" -type f | wc -l)" "$result"
  if ((rc != 0)); then
    echo "---- $t: last lines of $logf ----"
    grep -v -e '^#[0-9]' "$logf" | tail -40
    echo "---- artifacts:"
    find "$WORK/artifacts" -maxdepth 1 -type f -name "$t-*" -newermt "@$started" -print
  fi
done

if ((${#failed[@]})); then
  log "failed: ${failed[*]} (inputs in ${WORK#"$ROOT"/}/artifacts, logs in ${WORK#"$ROOT"/}/logs)"
  exit 1
fi
log "no crash, hang or broken invariant"
