# shellcheck shell=bash
# Schema checks for scripts/test.sh: the JSON Schemas in schemas/, the shipped YAML files, and the
# records a real replay writes. Source this file, then, after `swift build` / `swift test`:
#
#   run_schema_checks [WORK_DIR]
#
# Needs .build/debug/funnelpulse (built by `swift build --build-tests`; nothing is built here).
# Steps: a Python venv under .cache/schema-venv with pinned jsonschema and PyYAML (created or
# updated when the pins change); `funnelpulse simulate` (300 users, 3000 events, seed 3) plus two
# malformed lines (truncated JSON, invalid UTF-8); `funnelpulse replay`; then
# `scripts/check_schemas.py static` and `scripts/check_schemas.py outputs ... --events ...`; then a
# replay of eight simulated hours with incidents (scripts/lib/alert-incidents.yaml) whose
# alerts.jsonl must validate and hold funnel, fraud and signal alerts.
# Work files go to WORK_DIR (kept; default: a temporary directory, removed at the end).
#
# Prints `schema-checks: N passed, M failed` last: N and M count the checks of check_schemas.py
# plus one per setup step (venv, binary, simulate, replay, dead letters written).
# Returns 0 when nothing failed, 1 otherwise. Safe under `set -e` (every step is tested).

FP_SCHEMA_PINS=(jsonschema==4.26.0 PyYAML==6.0.3)

run_schema_checks() {
  local root=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
  local venv="$root/.cache/schema-venv"
  local bin="$root/.build/debug/funnelpulse"
  local checker="$root/scripts/check_schemas.py"
  local base_python=${FP_PYTHON:-python3}
  local work=${1:-} remove_work=0
  local passed=0 failed=0 python="" line tally

  _sc_say() { printf '[schema-checks] %s\n' "$*" >&2; }
  _sc_step() {  # NAME STATUS [LOG]: count a setup step; show its log when it failed
    if (($2 == 0)); then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      _sc_say "FAILED: $1 (exit $2)"
      [[ -n ${3:-} && -s ${3:-} ]] && sed 's/^/    /' "$3" >&2
    fi
    return "$2"
  }
  _sc_python() {  # run check_schemas.py ARGS...; add its tally to ours
    local out rc=0 tally_line
    out=$("$python" "$checker" "$@" 2>&1) || rc=$?
    printf '%s\n' "$out"
    tally_line=$(grep -E '^check_schemas: [0-9]+ passed, [0-9]+ failed$' <<<"$out" | tail -n 1 || true)
    if [[ $tally_line =~ ^check_schemas:\ ([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
      passed=$((passed + BASH_REMATCH[1]))
      failed=$((failed + BASH_REMATCH[2]))
      if ((rc != 0 && BASH_REMATCH[2] == 0)); then failed=$((failed + 1)); fi
    else
      failed=$((failed + 1))  # crashed before its summary line
      _sc_say "FAILED: check_schemas.py $1 (exit $rc, no summary line)"
    fi
  }

  if [[ -z $work ]]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/funnelpulse-schema.XXXXXX") || { echo "schema-checks: 0 passed, 1 failed"; return 1; }
    remove_work=1
  fi
  rm -rf -- "$work/out" "$work/sim.jsonl" "$work/alerts-out" "$work/alerts-sim.jsonl"
  mkdir -p "$work"

  # 1. The venv, re-created when the pins change.
  local pins="${FP_SCHEMA_PINS[*]}" rc=0
  if [[ -x $venv/bin/python && "$(cat "$venv/.pins" 2>/dev/null)" == "$pins" ]] \
    && "$venv/bin/python" -c 'import jsonschema, yaml' 2>/dev/null; then
    python="$venv/bin/python"
    _sc_step "python venv" 0
  else
    _sc_say "creating $venv (${pins})"
    rm -rf -- "$venv"
    { "$base_python" -m venv "$venv" \
        && "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q "${FP_SCHEMA_PINS[@]}" \
        && printf '%s\n' "$pins" >"$venv/.pins"; } >"$work/venv.log" 2>&1 || rc=$?
    if ((rc == 0)); then
      python="$venv/bin/python"
      _sc_step "python venv" 0
    else
      _sc_step "python venv ($base_python -m venv; pip install $pins)" "$rc" "$work/venv.log" || true
      rm -rf -- "$venv"
    fi
  fi

  # 2. The binary the test run built.
  if [[ -x $bin ]]; then
    _sc_step "funnelpulse binary" 0
  else
    _sc_say "$bin is missing (run 'swift build' first)"
    _sc_step "funnelpulse binary" 1 || true
    bin=""
  fi

  # 3. Simulate, add two malformed lines, replay.
  local replayed=0
  if [[ -n $bin ]]; then
    rc=0
    "$bin" simulate --users 300 --events 3000 --seed 3 --out "$work/sim.jsonl" >"$work/simulate.log" 2>&1 || rc=$?
    if _sc_step "funnelpulse simulate" "$rc" "$work/simulate.log"; then
      printf '%s\n' '{"event_id":"bad-1","user_id":"u-1","ts":' >>"$work/sim.jsonl"  # truncated JSON
      printf '\xff\xfe{"user_id":"u-2"}\n' >>"$work/sim.jsonl"                     # not UTF-8
      rc=0
      "$bin" replay --input "$work/sim.jsonl" --out "$work/out" --quiet >"$work/replay.log" 2>&1 || rc=$?
      if _sc_step "funnelpulse replay" "$rc" "$work/replay.log"; then
        replayed=1
        line=$(wc -l <"$work/out/deadletter.jsonl" 2>/dev/null || echo 0)
        if ((line >= 2)); then
          _sc_step "dead letters written" 0
        else
          _sc_say "deadletter.jsonl has ${line// /} lines; expected the 2 malformed lines"
          _sc_step "dead letters written" 1 || true
        fi
      fi
    fi
  fi

  # 4. A replay with one incident of each alert family (scripts/lib/alert-incidents.yaml).
  local alerted=0
  if [[ -n $bin ]]; then
    rc=0
    { "$bin" simulate --settings "$root/scripts/lib/alert-incidents.yaml" --seed 5 --out "$work/alerts-sim.jsonl" \
        && "$bin" replay --input "$work/alerts-sim.jsonl" --out "$work/alerts-out" --quiet; } >"$work/alerts.log" 2>&1 || rc=$?
    _sc_step "funnelpulse simulate + replay with incidents" "$rc" "$work/alerts.log" && alerted=1
  fi

  # 5. The checks proper.
  if [[ -n $python ]]; then
    _sc_python static
    if ((replayed)); then
      _sc_python outputs "$work/out" --events "$work/sim.jsonl"
    fi
    if ((alerted)); then
      _sc_python outputs "$work/alerts-out" --alert-families funnel,fraud,signal
    fi
  fi

  ((remove_work)) && rm -rf -- "$work"
  unset -f _sc_say _sc_step _sc_python
  tally="schema-checks: $passed passed, $failed failed"
  echo "$tally"
  ((failed == 0))
}
