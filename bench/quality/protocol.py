"""The conversion task's progressive-validation protocol (CONVERSION_TASK.md): data, labels, metrics.

Shared by the peers (peers.py) and the FunnelPulse evaluation (evaluate.py) so that every row of the
table is computed from the same prediction points with the same code.
"""
import bisect
import csv
import math
from collections import defaultdict

HORIZON = 1800
TYPES = {"pv": "view", "cart": "cart", "fav": "fav", "buy": "purchase"}


def load_taobao(path):
    """Events in file (= stream) order: (user, item, category, type, ts)."""
    events = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if len(row) != 5 or row[3] not in TYPES:
                continue
            events.append((row[0], row[1], row[2], TYPES[row[3]], int(row[4])))
    return events


def labels(events, horizon=HORIZON):
    """Label of every prediction point (non-purchase event), in stream order, and its time."""
    buys = defaultdict(list)
    for u, _, _, t, ts in events:
        if t == "purchase":
            buys[u].append(ts)
    for v in buys.values():
        v.sort()
    ys, times = [], []
    for u, _, _, t, ts in events:
        if t == "purchase":
            continue
        b = buys.get(u, ())
        i = bisect.bisect_right(b, ts)
        ys.append(1 if i < len(b) and b[i] <= ts + horizon else 0)
        times.append(ts)
    return ys, times


def auc(p, y):
    """ROC AUC with tied scores given average ranks (Mann-Whitney U)."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    ranks = [0.0] * len(p)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and p[order[j + 1]] == p[order[i]]:
            j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = r
        i = j + 1
    npos = sum(y)
    nneg = len(y) - npos
    if npos == 0 or nneg == 0:
        return float("nan")
    s = sum(r for r, l in zip(ranks, y) if l)
    return (s - npos * (npos + 1) / 2) / (npos * nneg)


def log_loss(p, y):
    eps = 1e-15
    tot = 0.0
    for q, l in zip(p, y):
        q = min(max(q, eps), 1 - eps)
        tot -= math.log(q) if l else math.log(1 - q)
    return tot / len(p)


def load_simulator(path):
    """The simulator's JSON lines, in file (= replay) order."""
    import json
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def simulator_time(r):
    """Event time in seconds (epoch milliseconds, seconds or an ISO-8601 string)."""
    t = r.get("ts", r.get("timestamp"))
    if isinstance(t, (int, float)):
        return float(t) / (1000.0 if t > 1e11 else 1.0)
    from datetime import datetime
    return datetime.fromisoformat(str(t).replace("Z", "+00:00")).timestamp()


def simulator_labels(rows, horizon=HORIZON):
    """Label of every prediction point (non-purchase row), in order, by the protocol's rule."""
    buys = defaultdict(list)
    for r in rows:
        if r.get("type") == "purchase":
            buys[r.get("user_id")].append(simulator_time(r))
    for v in buys.values():
        v.sort()
    ys = []
    for r in rows:
        if r.get("type") == "purchase":
            continue
        ts = simulator_time(r)
        b = buys.get(r.get("user_id"), ())
        i = bisect.bisect_right(b, ts)
        ys.append(1 if i < len(b) and b[i] <= ts + horizon else 0)
    return ys


def metrics(p, y):
    """Slices `all` and `last30` (predictions from floor(0.7 n) on)."""
    n = len(p)
    cut = int(math.floor(0.7 * n))
    out = {}
    for name, (pp, yy) in {"all": (p, y), "last30": (p[cut:], y[cut:])}.items():
        out[name] = {
            "auc": auc(pp, yy),
            "log_loss": log_loss(pp, yy),
            "mean_p": sum(pp) / len(pp),
            "pos_rate": sum(yy) / len(yy),
            "n": len(pp),
        }
    return out
