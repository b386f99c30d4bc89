#!/bin/bash
# Conversion-model quality benchmark (docs/model.md): FunnelPulse vs River and Vowpal Wabbit under
# the progressive-validation protocol of CONVERSION_TASK.md, on the Taobao slice. Prints one table.
#
#   bench/quality/run.sh                      build funnelpulse (release), run everything
#   FUNNELPULSE_BIN=path bench/quality/run.sh use that binary (a `funnelpulse` CLI, or the tiny
#                                             replay binary `fp INPUT OUTDIR MAPPING CONFIG`)
#   SKIP_PEERS=1                              FunnelPulse rows only
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/taobao_userbehavior_20171126_0100-0310utc.csv}
MAPPING=deploy/mappings/taobao-userbehavior.yaml
OUT=${OUT:-bench/quality/out}
mkdir -p "$OUT"

if [ -z "${FUNNELPULSE_BIN:-}" ]; then
    swift build -c release --product funnelpulse
fi
BIN=${FUNNELPULSE_BIN:-.build/release/funnelpulse}

if [ ! -x bench/.venv/bin/python ]; then
    python3 -m venv bench/.venv
fi
bench/.venv/bin/pip install -q river==0.26.1 vowpalwabbit==9.11.9

replay() {  # replay CONFIG OUTDIR
    if [ "$(basename "$BIN")" = fp ]; then
        "$BIN" "$DATA" "$2" "$MAPPING" "$1" > /dev/null 2>&1
    else
        "$BIN" replay --input "$DATA" --mapping "$MAPPING" --config "$1" --out "$2" --quiet
    fi
}

# FunnelPulse: the default policy (fake negatives) and the two others, for the delay-bias comparison.
for policy in fn_weighted fake_negative horizon immediate; do
    cfg="$OUT/engine-$policy.yaml"
    sed "s/^    delay: .*/    delay: $policy/" bench/quality/engine.yaml > "$cfg"
    grep -q "delay:" "$cfg" || printf '    delay: %s\n' "$policy" >> "$cfg"
    for run in 1 2 3; do replay "$cfg" "$OUT/fp-$policy-$run"; done
done

if [ -z "${SKIP_PEERS:-}" ]; then
    (cd bench/quality && ../.venv/bin/python peers.py "../../$DATA" "../../$OUT/peers")
fi
(cd bench/quality && ../.venv/bin/python table.py "../../$DATA" "../../$OUT")

# The simulator's stream, whose truth.p is the Bayes-optimal prediction. 100,000 users over 96 h
# (5.1M events): the learner needs about a million events of warm-up (docs/model.md).
if [ "$(basename "$BIN")" != fp ]; then
    "$BIN" simulate --users "${SIM_USERS:-100000}" --hours "${SIM_HOURS:-96}" --seed 7 --out "$OUT/sim.jsonl" 2>/dev/null
    "$BIN" replay --input "$OUT/sim.jsonl" --config bench/quality/engine.yaml --out "$OUT/sim-out" --quiet
    echo
    echo "Simulator (${SIM_USERS:-100000} users, ${SIM_HOURS:-96} h): FunnelPulse (model) vs the Bayes-optimal"
    echo "prediction (truth.p, which knows only what the stream has shown), then both per tenth of the stream"
    bench/.venv/bin/python bench/quality/evaluate.py simulator "$OUT/sim.jsonl" "$OUT/sim-out/scores.jsonl"
fi
