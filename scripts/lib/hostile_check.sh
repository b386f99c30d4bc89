# shellcheck shell=bash
# Hostile-input checks for scripts/test.sh. Source this file, then:
#
#   run_hostile_checks [WORK_DIR BOOTSTRAP TANSU_BIN BROKER_PORT]
#
# 1. scripts/fuzz.sh: builds the four libFuzzer targets (.build-fuzz, release, fuzzer + address
#    sanitizers) and fuzzes each for FUNNELPULSE_FUZZ_SECONDS (default 20; 0 skips this step).
#    New inputs accumulate in .cache/fuzz/corpus; crashes land in .cache/fuzz/artifacts.
# 2. `funnelpulse-bench hostile` (release build): FUNNELPULSE_HOSTILE_RECORDS (default 1000000)
#    mutated records through the engine and through `replay`; fails unless every record is
#    accepted, a dropped duplicate or a dead letter with its defined reason, and the counts add up.
# 3. With a broker: the same number of mutated records through `funnelpulse run` (release build),
#    see run_hostile_kafka_test below.
# Returns 0 when all passed, 1 otherwise. Safe under `set -e`.

run_hostile_checks() {
  local root=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
  local seconds=${FUNNELPULSE_FUZZ_SECONDS:-20}
  local records=${FUNNELPULSE_HOSTILE_RECORDS:-1000000}
  local status=0 started

  if ((seconds > 0)); then
    started=$(date +%s)
    printf '[hostile] fuzzing every decoder target for %s s\n' "$seconds" >&2
    "$root/scripts/fuzz.sh" "$seconds" || status=1
    printf '[hostile] fuzzing took %s s in all\n' "$(($(date +%s) - started))" >&2
  fi

  started=$(date +%s)
  printf '[hostile] swift build -c release --product funnelpulse-bench / funnelpulse\n' >&2
  local built=0
  if { swift build -c release --product funnelpulse-bench >/dev/null 2>&1 ||
    swift build -c release --product funnelpulse-bench; } &&
    { swift build -c release --product funnelpulse >/dev/null 2>&1 || swift build -c release --product funnelpulse; }; then
    built=1
    "$root/.build/release/funnelpulse-bench" hostile --records "$records" || status=1
  else
    status=1
  fi
  printf '[hostile] mutated-stream runs took %s s (with the build)\n' "$(($(date +%s) - started))" >&2

  if ((built)) && (($# >= 4)); then
    started=$(date +%s)
    run_hostile_kafka_test "$1" "$root/.build/release/funnelpulse" "$root/.build/release/funnelpulse-bench" "$2" "$3" "$4" ||
      status=1
    printf '[hostile] daemon run took %s s in all\n' "$(($(date +%s) - started))" >&2
  fi
  return "$status"
}

# 1,000,000 mutated records through `funnelpulse run` on a real broker:
#
#   run_hostile_kafka_test WORK_DIR BIN BENCH BOOTSTRAP TANSU_BIN BROKER_PORT
#
# `funnelpulse-bench hostile --kafka-bootstrap` produces the stream (any bytes, one record per
# message) into a two-partition topic: clean and targeted records on partition 0, blind mutations
# (which may jump event time) on partition 1, as the engine run does with its two sources. It
# decodes every record on its own, which gives what the daemon must count whatever order it reads
# the partitions in. The daemon then reads it all, and the check requires:
#   - the daemon is still running and read every record;
#   - accepted + duplicates + rejected = read (metrics);
#   - every decoder reason (all but `late`) has exactly the count of the standalone decode, and
#     accepted + duplicates + late = the decodable records;
#   - the dead-letter topic holds exactly one message per rejected record, and the scores topic
#     exactly the scores the daemon counted as sent.
# Prints `hostile-kafka: ...`; returns 1 when a check fails.
run_hostile_kafka_test() {
  local work=$1 bin=$2 bench=$3 boot=$4 tansu=$5 broker_port=$6
  local n=${FUNNELPULSE_HOSTILE_RECORDS:-1000000} tag="hk$$" port pid metrics in_now="" started alive=1
  mkdir -p "$work"
  port=$(fp_free_port)
  "$tansu" topic create "$tag-in" --partitions 2 --broker "tcp://127.0.0.1:$broker_port" >/dev/null 2>&1 || true
  fp_daemon_config "$work/config.yaml" "$tag" "$boot" "$port" warning
  "$bench" hostile --records "$n" --config "$work/config.yaml" --kafka-bootstrap "$boot" --kafka-topic "$tag-in" \
    --expected-out "$work/expected.json" || return 1
  started=$(date +%s)
  "$bin" run --config "$work/config.yaml" >"$work/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 3000); do
    kill -0 "$pid" 2>/dev/null || break
    in_now=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^funnelpulse_events_in_total/ {print int($2)}' | tail -1 || true)
    [[ -n "$in_now" && "$in_now" -ge "$n" ]] && break
    sleep 0.2
  done
  # Outputs of the last batches: wait until none is unacknowledged.
  for _ in $(seq 1 300); do
    metrics=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null || true)
    [[ "$(awk '/^funnelpulse_unacked_outputs/ {print int($2)}' <<<"$metrics" | tail -1)" == 0 ]] && break
    sleep 0.2
  done
  sleep 1
  curl -s "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" 2>/dev/null || true
  kill -0 "$pid" 2>/dev/null || alive=0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf '[hostile] the daemon read the stream in %s s\n' "$(($(date +%s) - started))" >&2
  kcat -C -b "$boot" -t "$tag-dead" -e -q -f '%o\n' 2>/dev/null | wc -l >"$work/dead.count"
  kcat -C -b "$boot" -t "$tag-scores" -e -q -f '%o\n' 2>/dev/null | wc -l >"$work/scores.count"
  "$FP_PYTHON" - "$work" "$alive" "$tag-scores" <<'PY'
import json, re, sys
work, alive, scores_topic = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
exp = json.load(open(f"{work}/expected.json"))
metrics = {}
for line in open(f"{work}/metrics.txt"):
    m = re.match(r'^(funnelpulse_[a-z_]+)(\{[^}]*\})?\s+(\S+)', line)
    if m:
        metrics[(m.group(1), m.group(2) or "")] = float(m.group(3))
def metric(name, match=""):
    return int(sum(v for (n, labels), v in metrics.items() if n == name and match in labels))
rejected = {}
for (name, labels), value in metrics.items():
    if name == "funnelpulse_events_rejected_total" and value > 0:
        rejected[re.search(r'reason="([^"]+)"', labels).group(1)] = int(value)
read = metric("funnelpulse_events_in_total")
accepted = metric("funnelpulse_events_accepted_total")
duplicates = metric("funnelpulse_duplicates_total")
rejected_total = sum(rejected.values())
late = rejected.get("late", 0)
dead = int(open(f"{work}/dead.count").read())
scores = int(open(f"{work}/scores.count").read())
scores_sent = metric("funnelpulse_outputs_total", f'"{scores_topic}"')
bad = []
if not alive: bad.append("the daemon exited before the end")
if read != exp["records"]: bad.append(f"read {read} of {exp['records']} records")
if accepted + duplicates + rejected_total != read: bad.append("accepted + duplicates + rejected != read")
for reason in sorted(set(rejected) | set(exp["decoder_rejected"])):
    if reason == "late": continue
    if rejected.get(reason, 0) != exp["decoder_rejected"].get(reason, 0):
        bad.append(f"{reason}: daemon {rejected.get(reason, 0)}, standalone decode {exp['decoder_rejected'].get(reason, 0)}")
if accepted + duplicates + late != exp["decodable"]:
    bad.append(f"accepted + duplicates + late = {accepted + duplicates + late}, decodable records {exp['decodable']}")
if dead != rejected_total: bad.append(f"dead-letter topic holds {dead} messages, {rejected_total} rejected")
if scores != scores_sent: bad.append(f"scores topic holds {scores} messages, the daemon sent {scores_sent}")
print(f"hostile-kafka: records={exp['records']} read={read} accepted={accepted} duplicates={duplicates} "
      f"rejected={rejected_total} late={late} dead_letter_messages={dead} score_messages={scores} "
      f"{'ok' if not bad else 'FAILED'}")
print(f"hostile-kafka: rejected by reason {json.dumps(rejected, sort_keys=True)}")
for b in bad:
    print(f"hostile-kafka: {b}")
sys.exit(0 if not bad else 1)
PY
}
