"""Peers under the binding protocol (CONVERSION_TASK.md): River LogisticRegression with
FTRL-Proximal, AdaGrad and SGD, and Vowpal Wabbit, on the peers' feature set.

    peers.py DATA.csv OUTDIR  -> OUTDIR/<peer>.json (metrics, events/s)
"""
import json
import math
import os
import sys
import time
from collections import defaultdict, deque

import protocol

H = protocol.HORIZON
TYPES = ["view", "cart", "fav", "purchase"]


def fnv1a32(s):
    h = 0x811C9DC5
    for b in s.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


class UserState:
    __slots__ = ("events", "first", "last", "carted", "faved")

    def __init__(self, ts):
        self.events = deque()  # (ts, type, item, category) within 1800 s
        self.first = ts
        self.last = None
        self.carted = set()
        self.faved = set()


def features(st, item, cat, typ, ts, total):
    x = {}
    for w in (60, 300, 1800):
        for t in TYPES:
            n = sum(1 for e in st.events if e[0] > ts - w and e[1] == t)
            if n:
                x[f"n_{t}_{w}"] = float(n)
    x["total"] = float(total)
    x["log_gap"] = math.log1p(ts - st.last) if st.last is not None else 0.0
    x["log_age"] = math.log1p(ts - st.first)
    x["distinct_items"] = float(len({e[2] for e in st.events}))
    x["distinct_cats"] = float(len({e[3] for e in st.events}))
    if item in st.carted:
        x["item_carted"] = 1.0
    if item in st.faved:
        x["item_faved"] = 1.0
    x["type_" + typ] = 1.0
    x[f"cat_{fnv1a32(cat) % (1 << 18)}"] = 1.0
    x[f"item_{fnv1a32(item) % (1 << 18)}"] = 1.0
    x[f"hour_{ts // 3600 % 24}"] = 1.0
    return x


def run(events, predict, learn):
    """The streaming loop, steps 1-4; returns scores in prediction order and loop seconds."""
    users, totals = {}, defaultdict(int)
    pending = deque()  # (t, user, x, idx); FIFO = time order (the file is sorted)
    by_user = defaultdict(list)
    resolved = {}
    scores = []
    wm = -1
    start = time.perf_counter()
    for u, item, cat, typ, ts in events:
        wm = max(wm, ts)
        while pending and pending[0][0] + H < wm:
            t, pu, x, idx = pending.popleft()
            if idx not in resolved:
                learn(x, 0)
            if by_user.get(pu) and by_user[pu][0][2] == idx:
                by_user[pu].pop(0)
        if typ == "purchase":
            keep = []
            for t, x, idx in by_user.get(u, []):
                if t < ts <= t + H and idx not in resolved:
                    resolved[idx] = 1
                    learn(x, 1)
                else:
                    keep.append((t, x, idx))
            by_user[u] = keep
        st = users.get(u)
        if st is None:
            st = users[u] = UserState(ts)
        while st.events and st.events[0][0] <= ts - 1800:
            st.events.popleft()
        st.events.append((ts, typ, item, cat))
        totals[u] += 1
        if typ == "cart":
            st.carted.add(item)
        if typ == "fav":
            st.faved.add(item)
        if typ != "purchase":
            x = features(st, item, cat, typ, ts, totals[u])
            idx = len(scores)
            scores.append(predict(x))
            pending.append((ts, u, x, idx))
            by_user[u].append((ts, x, idx))
        st.last = ts
    return scores, time.perf_counter() - start


def river_peer(opt):
    from river import linear_model, optim

    optimizer = {"sgd": lambda: optim.SGD(0.05), "ftrl": lambda: optim.FTRLProximal(),
                 "adagrad": lambda: optim.AdaGrad()}[opt]()
    model = linear_model.LogisticRegression(optimizer=optimizer)
    return (lambda x: model.predict_proba_one(x).get(True, 0.0)), (lambda x, y: model.learn_one(x, bool(y)))


def vw_peer():
    from vowpalwabbit import pyvw

    vw = pyvw.Workspace("--loss_function logistic --link logistic -b 20 --quiet")

    def line(x, y=None):
        feats = " ".join(f"{k}:{v}" for k, v in x.items())
        return (f"{1 if y else -1} " if y is not None else "") + "| " + feats

    return (lambda x: float(vw.predict(line(x)))), (lambda x, y: vw.learn(line(x, y)))


PEERS = {
    "River LogisticRegression + FTRLProximal": lambda: river_peer("ftrl"),
    "River LogisticRegression + AdaGrad": lambda: river_peer("adagrad"),
    "River LogisticRegression + SGD(0.05)": lambda: river_peer("sgd"),
    "Vowpal Wabbit (logistic, -b 20)": vw_peer,
}


if __name__ == "__main__":
    data, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    events = protocol.load_taobao(data)
    y, _ = protocol.labels(events)
    for name, make in PEERS.items():
        predict, learn = make()
        scores, seconds = run(events, predict, learn)
        result = {"name": name, "metrics": protocol.metrics(scores, y), "events_per_second": len(events) / seconds}
        slug = "".join(c if c.isalnum() else "_" for c in name)
        with open(os.path.join(out, slug + ".json"), "w") as f:
            json.dump(result, f)
        print(f"{name}: done ({result['events_per_second']:.0f} events/s)", file=sys.stderr)
