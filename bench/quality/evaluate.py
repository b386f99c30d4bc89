"""Scores FunnelPulse's `scores.jsonl` against the protocol's labels.

    evaluate.py funnelpulse DATA.csv SCORES.jsonl      -> JSON metrics (all, last30)
    evaluate.py simulator EVENTS.jsonl SCORES.jsonl    -> model AUC vs Bayes-optimal AUC from truth.p
"""
import json
import sys

import protocol


def read_scores(path):
    with open(path) as f:
        return [json.loads(line)["score"] for line in f if line.strip()]


def funnelpulse(data, scores_path):
    events = protocol.load_taobao(data)
    y, _ = protocol.labels(events)
    p = read_scores(scores_path)
    if len(p) != len(y):
        raise SystemExit(f"{scores_path}: {len(p)} scores for {len(y)} prediction points")
    return protocol.metrics(p, y)


def simulator(events_path, scores_path):
    """Bayes-optimal AUC: the simulator's own conversion probability `truth.p` as the score.

    Prediction points are the simulator's non-purchase events in file order (the replay's order);
    labels follow the same protocol, from the simulated purchases within the horizon.
    """
    rows = protocol.load_simulator(events_path)
    y = protocol.simulator_labels(rows)
    truth = [float((r.get("truth") or {}).get("p", 0.0)) for r in rows if r.get("type") != "purchase"]
    p = read_scores(scores_path)
    if len(p) != len(y):
        raise SystemExit(f"{scores_path}: {len(p)} scores for {len(y)} prediction points")
    return {"model": protocol.metrics(p, y), "bayes_optimal": protocol.metrics(truth, y)}


if __name__ == "__main__":
    kind, a, b = sys.argv[1:4]
    result = funnelpulse(a, b) if kind == "funnelpulse" else simulator(a, b)
    print(json.dumps(result, indent=1))
