#!/usr/bin/env bash
# A/B of two funnelpulse binaries on one replay: the runs alternate (A, B, A, B, ...) so that both
# binaries see the same machine noise, each run's user CPU is recorded, and the outputs of the two
# are compared byte for byte. Prints figures; judges nothing.
#
#   bench/replay-ab.sh OLD_BINARY NEW_BINARY REPLAY_ARGS...
#   bench/replay-ab.sh old/funnelpulse .build/release/funnelpulse --input events.jsonl
#
# REPLAY_ARGS are those of `funnelpulse replay` without --out. RUNS (default 6) runs per binary.
# Output: every run's user CPU seconds, then per binary the minimum and the median, then whether
# scores, funnel snapshots, alerts and dead letters are identical (summary.json holds timings and
# is not compared). Exit status 0 unless a replay fails.
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
A=$1 B=$2
shift 2
RUNS=${RUNS:-6}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/replay-ab.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

TIMEFORMAT=%U
run() {  # run BINARY OUTDIR: prints the user CPU seconds of one replay
    if ! { time "$1" replay "${ARGS[@]}" --out "$2" --quiet > /dev/null 2> "$WORK/stderr"; } 2>&1; then
        echo "replay-ab: $1 replay failed:" >&2
        cat "$WORK/stderr" >&2
        return 1
    fi
}
ARGS=("$@")

declare -a cpuA cpuB
for i in $(seq 1 "$RUNS"); do
    cpuA+=("$(run "$A" "$WORK/a")")
    cpuB+=("$(run "$B" "$WORK/b")")
    printf 'run %d: A %s s  B %s s\n' "$i" "${cpuA[-1]}" "${cpuB[-1]}"
done

stats() {  # stats VALUES...: min and median
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "min %.2f s  median %.2f s", v[1], m }'
}
echo "A $A: $(stats "${cpuA[@]}")   user CPU over $RUNS runs"
echo "B $B: $(stats "${cpuB[@]}")   user CPU over $RUNS runs"

for f in scores funnel alerts deadletter; do
    if [ ! -e "$WORK/a/$f.jsonl" ] && [ ! -e "$WORK/b/$f.jsonl" ]; then continue; fi
    if cmp -s "$WORK/a/$f.jsonl" "$WORK/b/$f.jsonl"; then
        echo "$f.jsonl: identical ($(wc -l < "$WORK/a/$f.jsonl") lines)"
    else
        echo "$f.jsonl: DIFFERENT (A $(wc -l < "$WORK/a/$f.jsonl" 2>/dev/null || echo 0) lines, B $(wc -l < "$WORK/b/$f.jsonl" 2>/dev/null || echo 0) lines)"
    fi
done
