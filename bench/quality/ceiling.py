"""How much of the simulator's `truth.p` a model could know from the stream alone.

    ceiling.py EVENTS.jsonl   -> JSON: AUC on `last30` of truth.p and of its best observable fit

`truth.p` is the exact purchase probability given everything the simulator knows, including two
things the stream never shows at prediction time: the user's latent intent and, before the
session's first product view, the product the session is about. Its AUC is therefore an upper
bound no model can reach. This script fits log-odds(truth.p) by least squares on the session's
observable factors (stage, device, channel, starting hour, first category and price bin seen,
earlier sessions and purchases; each crossed with the stage), on the first 70 % of the prediction
points, and scores the rest. A function of observables cannot rank better than the Bayes-optimal
predictor given those observables, so the fit's AUC is a lower bound on that optimum: the
reachable ceiling lies between the two figures printed.
"""
import json
import math
import sys
from collections import Counter

import protocol
from vowpalwabbit import pyvw


def prediction_points(path):
    rows = protocol.load_simulator(path)
    labels = iter(protocol.simulator_labels(rows))
    sessions, user_sessions, user_purchases = {}, Counter(), Counter()
    points = []
    for r in rows:
        u, sid = r["user_id"], r["session_id"]
        s = sessions.get(sid)
        if s is None:
            s = sessions[sid] = {"stage": 0, "start": r["ts"], "cat": None, "price": None,
                                 "prior": user_sessions[u], "bought": user_purchases[u]}
            user_sessions[u] += 1
        if s["cat"] is None and "category" in r:
            s["cat"] = r["category"]
        if s["price"] is None and "price" in r:
            s["price"] = r["price"]
        if r["type"] == "cart":
            s["stage"] = max(s["stage"], 1)
        elif r["type"] == "checkout":
            s["stage"] = 2
        elif r["type"] == "purchase":
            user_purchases[u] += 1
            continue
        y = next(labels)
        price_bin = int(math.log2(s["price"])) if s["price"] else -1
        features = (f"|s st{s['stage']} |a d_{r.get('device')} c_{r.get('channel')} "
                    f"h{(s['start'] // 3_600_000) % 24} cat_{s['cat']} pb{price_bin} "
                    f"ps{min(s['prior'], 10)} pp{min(s['bought'], 3)}")
        points.append((y, features, float(r["truth"]["p"])))
    return points


def main(path):
    points = prediction_points(path)
    cut = int(math.floor(0.7 * len(points)))

    def logit(p):
        p = min(max(p, 1e-9), 1 - 1e-9)
        return math.log(p / (1 - p))

    vw = pyvw.Workspace("-b 22 --quiet -q sa")
    for _ in range(3):
        for _, features, p in points[:cut]:
            vw.learn(f"{logit(p)} {features}")
    rest = points[cut:]
    y = [label for label, _, _ in rest]
    fitted = [vw.predict(features) for _, features, _ in rest]
    print(json.dumps({
        "last30_auc_truth": protocol.auc([p for _, _, p in rest], y),
        "last30_auc_observable_fit": protocol.auc(fitted, y),
        "n": len(rest),
    }, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
