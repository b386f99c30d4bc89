#!/usr/bin/env bash
# Crash test of `funnelpulse run` on a real broker (Tansu behind the ApiVersions proxy):
# load N simulated events, start the daemon, kill -9 it K times mid-stream (restarting it each
# time), let the last run finish, then count scores per input event: lost must be 0; duplicates
# are what at-least-once redelivers after each kill. Prints figures; asserts nothing but loss.
#   N=300000 KILLS=3 bench/kafka/kill9.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
source "$ROOT/scripts/lib/kafka_test_env.sh"
N=${N:-300000}
KILLS=${KILLS:-3}
WORK="$ROOT/.cache/kill9-$$"
mkdir -p "$WORK"
DAEMON_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$DAEMON_PID" ]] && kill -9 "$DAEMON_PID" 2>/dev/null || true
  ((${#FP_STARTED_PIDS[@]})) && fp_stop_started
  exit "$rc"
}
trap cleanup EXIT INT TERM

fp_ensure_system_packages
TANSU_BIN=$(fp_ensure_tansu "$ROOT/.cache/tansu")
swift build -c release --product funnelpulse >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; exit 1; }
BIN="$ROOT/.build/release/funnelpulse"
fp_start_broker "$TANSU_BIN" "$ROOT/scripts/kafka_apiversions_proxy.py" "$WORK"
BOOT="127.0.0.1:$FP_PROXY_PORT"
TAG=$$
IN="k9-in-$TAG"
# One input partition: a single engine reading several partitions interleaves their event times.
"$TANSU_BIN" topic create "$IN" --partitions 1 --broker "tcp://127.0.0.1:$FP_BROKER_PORT" >/dev/null 2>&1 || true

"$BIN" simulate --users 50000 --events "$N" --seed 11 --out "$WORK/sim.jsonl" 2>/dev/null
"$FP_PYTHON" - "$WORK/sim.jsonl" "$WORK/keyed.txt" <<'PY'
import json, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for line in f:
        out.write(json.loads(line)["user_id"] + "\t" + line)
PY
kcat -P -b "$BOOT" -t "$IN" -K $'\t' -z lz4 < "$WORK/keyed.txt"
PORT=$(fp_free_port)
cat > "$WORK/config.yaml" <<YAML
inputs:
  - topic: $IN
outputs:
  scores: k9-scores-$TAG
  funnel: k9-funnel-$TAG
  alerts: k9-alerts-$TAG
  deadletter: k9-dead-$TAG
kafka:
  bootstrap_servers: "$BOOT"
  group_id: k9-group-$TAG
  topic_partitions: 1
  ready_max_lag: 0
  librdkafka:
    session.timeout.ms: "6000"
    heartbeat.interval.ms: "1000"
    auto.commit.interval.ms: "1000"
http:
  port: $PORT
log:
  format: text
  level: warning
YAML

events_in() {
  curl -s "http://127.0.0.1:$PORT/metrics" 2>/dev/null | awk '/^funnelpulse_events_in_total/ {print int($2)}' | tail -1
}
start_daemon() { "$BIN" run --config "$WORK/config.yaml" >>"$WORK/daemon.log" 2>&1 & DAEMON_PID=$!; }

t0=$(date +%s%3N)
for ((k = 1; k <= KILLS; k++)); do
  start_daemon
  # Kill once this run has read a random share of what is left (between 10 and 60% of N).
  target=$(( (RANDOM % 50 + 10) * N / 100 / KILLS + 1000 ))
  for _ in $(seq 1 600); do
    read_now=$(events_in || true)
    [[ -n "$read_now" && "$read_now" -ge "$target" ]] && break
    sleep 0.05
  done
  kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null || true
  echo "kill -9 #$k after this run read ${read_now:-0} events"
  DAEMON_PID=""
done
start_daemon
for _ in $(seq 1 1200); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true)
  [[ "$code" == 200 ]] && break
  sleep 0.1
done
sleep 3
kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID"; rc=$?; DAEMON_PID=""
t1=$(date +%s%3N)
echo "final run exited $rc after SIGTERM"

kcat -C -b "$BOOT" -t "k9-scores-$TAG" -e -q -f '%s\n' > "$WORK/scores.jsonl"
kcat -C -b "$BOOT" -t "k9-dead-$TAG" -e -q -f '%s\n' > "$WORK/dead.jsonl" || true
"$FP_PYTHON" - "$WORK/sim.jsonl" "$WORK/scores.jsonl" "$WORK/dead.jsonl" "$KILLS" "$N" $((t1 - t0)) <<'PY'
import collections, json, sys
sim, scores, dead, kills, n, ms = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
expected = set()
for line in open(sim):
    e = json.loads(line)
    if e["type"] != "purchase":
        expected.add(e["event_id"])
seen = collections.Counter(json.loads(l)["event_id"] for l in open(scores) if l.strip())
dead_n = sum(1 for l in open(dead) if l.strip())
lost = len(expected - set(seen))
dups = sum(c - 1 for c in seen.values() if c > 1)
print(f"kill9: inputs={n} kills={kills} scored_events_expected={len(expected)} scores_published={sum(seen.values())} "
      f"lost={lost} duplicates={dups} dead_letters={dead_n} wall_ms={ms}")
sys.exit(1 if lost else 0)
PY
