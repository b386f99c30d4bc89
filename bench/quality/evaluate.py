"""Scores FunnelPulse's `scores.jsonl` against the protocol's labels.

    evaluate.py funnelpulse DATA.csv SCORES.jsonl      -> JSON metrics (all, last30)
    evaluate.py simulator EVENTS.jsonl SCORES.jsonl    -> model vs the Bayes-optimal truth.p, overall and per tenth
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
    """The model against the Bayes-optimal predictor: the simulator's own `truth.p`.

    With `latent_intent_sigma` 0 (the default) `truth.p` is P(purchase within H | everything the
    stream has shown by then), so its AUC is the best any model can reach on this stream.
    Prediction points are the simulator's non-purchase events in file order (the replay's order);
    labels follow the same protocol, from the simulated purchases within the horizon. `slices`
    follows both over ten equal, consecutive slices of the prediction points (the warm-up).
    """
    rows = protocol.load_simulator(events_path)
    y = protocol.simulator_labels(rows)
    truth = [float((r.get("truth") or {}).get("p", 0.0)) for r in rows if r.get("type") != "purchase"]
    p = read_scores(scores_path)
    if len(p) != len(y):
        raise SystemExit(f"{scores_path}: {len(p)} scores for {len(y)} prediction points")
    n = len(y)
    slices = []
    for k in range(10):
        a, b = k * n // 10, (k + 1) * n // 10
        model, best = protocol.auc(p[a:b], y[a:b]), protocol.auc(truth[a:b], y[a:b])
        slices.append({"slice": k + 1, "model_auc": round(model, 4), "bayes_optimal_auc": round(best, 4),
                       "gap": round(best - model, 4)})
    return {"model": protocol.metrics(p, y), "bayes_optimal": protocol.metrics(truth, y), "slices": slices}


if __name__ == "__main__":
    kind, a, b = sys.argv[1:4]
    result = funnelpulse(a, b) if kind == "funnelpulse" else simulator(a, b)
    print(json.dumps(result, indent=1))
