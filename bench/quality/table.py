"""Prints the benchmark table from FunnelPulse's outputs (scores.jsonl, summary.json; best of 3
runs for events/s) and the peers' result files."""
import glob
import json
import os
import sys

import evaluate
import protocol


def row(name, m, eps):
    a, l = m["all"], m["last30"]
    return (f"| {name} | {a['auc']:.3f} | {a['log_loss']:.4f} | {l['auc']:.3f} | {l['log_loss']:.4f} "
            f"| {a['mean_p']:.4f} / {a['pos_rate']:.4f} | {eps / 1000:,.1f}k |")


def main(data, out):
    events = protocol.load_taobao(data)
    y, _ = protocol.labels(events)
    const = sum(y) / len(y)
    print(f"{len(events)} events, {len(y)} prediction points, positive rate {const:.4f}; "
          f"constant-rate log loss {protocol.log_loss([const] * len(y), y):.4f}")
    print("| model | AUC all | logloss all | AUC last30 | logloss last30 | mean p / pos rate (all) | events/s |")
    print("|---|---|---|---|---|---|---|")
    for policy in ("fn_weighted", "fake_negative", "horizon", "immediate"):
        runs = sorted(glob.glob(os.path.join(out, f"fp-{policy}-*")))
        if not runs:
            continue
        eps = max(json.load(open(os.path.join(r, "summary.json")))["performance"]["events_per_second"] for r in runs)
        m = evaluate.funnelpulse(data, os.path.join(runs[0], "scores.jsonl"))
        print(row(f"FunnelPulse FTRL, delay={policy}", m, eps))
    for path in sorted(glob.glob(os.path.join(out, "peers", "*.json"))):
        r = json.load(open(path))
        print(row(r["name"], r["metrics"], r["events_per_second"]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
