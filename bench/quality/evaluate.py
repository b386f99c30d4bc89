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
    from collections import defaultdict
    import bisect

    rows = []
    with open(events_path) as f:
        for line in f:
            if line.strip():
                rows.append(json.loads(line))

    def ts_of(r):
        t = r.get("ts", r.get("timestamp"))
        if isinstance(t, (int, float)):
            return float(t) / (1000.0 if t > 1e11 else 1.0)
        from datetime import datetime
        return datetime.fromisoformat(str(t).replace("Z", "+00:00")).timestamp()

    buys = defaultdict(list)
    for r in rows:
        if r.get("type") == "purchase":
            buys[r.get("user_id")].append(ts_of(r))
    for v in buys.values():
        v.sort()
    truth, y = [], []
    for r in rows:
        if r.get("type") == "purchase":
            continue
        ts = ts_of(r)
        b = buys.get(r.get("user_id"), ())
        i = bisect.bisect_right(b, ts)
        y.append(1 if i < len(b) and b[i] <= ts + protocol.HORIZON else 0)
        truth.append(float((r.get("truth") or {}).get("p", 0.0)))
    p = read_scores(scores_path)
    if len(p) != len(y):
        raise SystemExit(f"{scores_path}: {len(p)} scores for {len(y)} prediction points")
    return {"model": protocol.metrics(p, y), "bayes_optimal": protocol.metrics(truth, y)}


if __name__ == "__main__":
    kind, a, b = sys.argv[1:4]
    result = funnelpulse(a, b) if kind == "funnelpulse" else simulator(a, b)
    print(json.dumps(result, indent=1))
