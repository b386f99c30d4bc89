# shellcheck shell=bash
# Crash test of `funnelpulse run` with checkpoints on a real broker, for scripts/test.sh:
#
#   run_crash_test WORK_DIR BIN BOOTSTRAP TANSU_BIN BROKER_PORT
#
# Loads N simulated events (default 150000; CRASH_N) into a one-partition topic, then starts the
# daemon with checkpoints every second and kill -9s it KILLS times (default 5; CRASH_KILLS) at
# random points of its reading, restarting it each time; the last run finishes (SIGTERM once
# caught up). Each kill comes once the run has read its random share and published a checkpoint
# that covers some of its reading (`funnelpulse_checkpoint_events_in` > 0): checkpoints are
# written off the pipeline thread and published when their outputs are acknowledged, so the
# newest one trails the reading by the time that takes (about 0.6 s in the debug build), and a
# run killed before any would only test a restart from nothing. A run can read tens of thousands
# of events before that (one read 28,000), hence N: the last restart must leave input to compare
# scores on. Then it checks, from the published scores and the daemon's own logs:
#   - lost: scored inputs without a score (must be 0);
#   - duplicates: scores published twice, against a bound of what the daemon read between its
#     last checkpoint and each kill (taken from its metrics just before the kill);
#   - model continuity: the AUC of the scores of the inputs after the last restart, against the
#     AUC of an uninterrupted `replay` of the same input on the same events (must be within 0.01;
#     the scores are deterministic, so a restored model gives the same ones).
# Prints `crash-test: ...` with the figures; returns 1 when a check fails.

run_crash_test() {
  local work=$1 bin=$2 boot=$3 tansu=$4 broker_port=$5
  local n=${CRASH_N:-150000} kills=${CRASH_KILLS:-5} tag="ct$$" port pid="" k target read_now covered code
  mkdir -p "$work"
  rm -rf -- "$work/checkpoints" "$work/replay"
  port=$(fp_free_port)
  "$tansu" topic create "$tag-in" --partitions 1 --broker "tcp://127.0.0.1:$broker_port" >/dev/null 2>&1 || true
  "$bin" simulate --users 20000 --events "$n" --seed 23 --out "$work/sim.jsonl" 2>/dev/null || return 1
  kcat -P -b "$boot" -t "$tag-in" -z lz4 < "$work/sim.jsonl" || return 1
  fp_daemon_config "$work/config.yaml" "$tag" "$boot" "$port" info "checkpoint:
  directory: \"$work/checkpoints\"
  interval_seconds: 1"
  _ct_metric() {
    curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null | awk -v m="$1" 'index($0, m) == 1 {print int($NF)}' | tail -1
  }
  : >"$work/daemon.log"
  : >"$work/kills.txt"
  for ((k = 1; k <= kills; k++)); do
    echo "=== run $k" >>"$work/daemon.log"
    "$bin" run --config "$work/config.yaml" >>"$work/daemon.log" 2>&1 &
    pid=$!
    # A random point of this run's reading: 3000 to 12000 events in (from its restored position),
    # once a published checkpoint covers some of it.
    target=$((RANDOM % 9000 + 3000))
    read_now=0
    for _ in $(seq 1 1500); do
      read_now=$(_ct_metric funnelpulse_events_in_total || true)
      covered=$(_ct_metric funnelpulse_checkpoint_events_in || true)
      [[ -n "$read_now" && "$read_now" -ge "$target" && "${covered:-0}" -gt 0 ]] && break
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$k ${read_now:-0}" >>"$work/kills.txt"
  done
  echo "=== final run" >>"$work/daemon.log"
  "$bin" run --config "$work/config.yaml" >>"$work/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 1800); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
    [[ "$code" == 200 ]] && break
    sleep 0.1
  done
  sleep 2
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset -f _ct_metric

  kcat -C -b "$boot" -t "$tag-scores" -e -q -f '%s\n' >"$work/scores.jsonl" || return 1
  "$bin" replay --input "$work/sim.jsonl" --out "$work/replay" --quiet >/dev/null 2>&1 || return 1
  "$FP_PYTHON" - "$work" "$kills" <<'PY'
import collections, json, re, sys
work, kills = sys.argv[1], int(sys.argv[2])
events = [json.loads(l) for l in open(f"{work}/sim.jsonl")]
index = {e["event_id"]: i for i, e in enumerate(events)}
scored = {e["event_id"] for e in events if e["type"] != "purchase"}
published = [json.loads(l) for l in open(f"{work}/scores.jsonl") if l.strip()]
seen = collections.Counter(s["event_id"] for s in published)
lost = len(scored - set(seen))
dups = sum(c - 1 for c in seen.values() if c > 1)
log = open(f"{work}/daemon.log").read()
runs = log.split("=== ")[1:]
restores = [re.search(r"offsets=\[.*?@(\d+)", r) for r in runs]
restored_at = [int(m.group(1)) if m else 0 for m in restores]
read_at_kill = [int(l.split()[1]) for l in open(f"{work}/kills.txt")]
# What each run read beyond its restored position before the kill bounds what it can repeat.
bound = sum(read_at_kill)
last_restart = restored_at[-1]
# Labels: a purchase by the same user within the horizon (1800 s) after the event.
horizon = 1800_000
purchases = collections.defaultdict(list)
for e in events:
    if e["type"] == "purchase":
        purchases[e["user_id"]].append(e["ts"])
def label(e):
    return any(e["ts"] < t <= e["ts"] + horizon for t in purchases[e["user_id"]])
def auc(pairs):
    pos = sorted(s for s, y in pairs if y)
    neg = sorted(s for s, y in pairs if not y)
    if not pos or not neg:
        return float("nan")
    import bisect
    total = 0.0
    for s in pos:
        lo = bisect.bisect_left(neg, s)
        hi = bisect.bisect_right(neg, s)
        total += lo + 0.5 * (hi - lo)
    return total / (len(pos) * len(neg))
crash_score = {}
for s in published:
    crash_score[s["event_id"]] = s["score"]
replay_score = {}
for l in open(f"{work}/replay/scores.jsonl"):
    s = json.loads(l)
    replay_score[s["event_id"]] = s["score"]
after = [e for e in events if e["event_id"] in crash_score and index[e["event_id"]] >= last_restart and e["type"] != "purchase"]
a_crash = auc([(crash_score[e["event_id"]], label(e)) for e in after])
a_replay = auc([(replay_score[e["event_id"]], label(e)) for e in after])
identical = sum(1 for e in after if abs(crash_score[e["event_id"]] - replay_score.get(e["event_id"], -1)) < 1e-9)
ok = lost == 0 and dups <= bound and abs(a_crash - a_replay) <= 0.01 and len(after) > 0
print(f"crash-test: inputs={len(events)} kills={kills} restored_offsets={restored_at} lost={lost} "
      f"duplicates={dups} duplicate_bound={bound} scored_after_last_restart={len(after)} "
      f"auc_after_last_restart={a_crash:.4f} auc_uninterrupted={a_replay:.4f} identical_scores={identical}/{len(after)} "
      f"{'ok' if ok else 'FAILED'}")
sys.exit(0 if ok else 1)
PY
}
