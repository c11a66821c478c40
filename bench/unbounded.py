"""Time klpmc prove --unbounded per model, and the cross-check of the first-order models per scope.

    python bench/unbounded.py [--model NAME]... [--scope SPEC]... [--repeat N]

For each model (default: refcount, v1, poc): the wall time of a prove --unbounded run, z3's share and its
number of queries, and the verdict of each rule (the best of ``--repeat`` runs; the machine is shared). For
each scope (default: none; ``patches=3,states=2`` is what tests/test_relational.py runs): the time the Python
model and the first-order model each take to explore every configuration of the scope, projected as the
cross-check compares them, and whether they agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpmc import registry  # noqa: E402
from klpmc.unbounded import prove_unbounded, relational_of  # noqa: E402

RULES = ("released-on-leave", "set-up-while-held", "setup-only-when-new", "release-only-when-gone",
         "state-lifecycle", "release-after-setup")


def bench_prove(name: str, repeat: int) -> None:
    mdef = registry.get_model(name)
    best = None
    for _ in range(repeat):
        bridge = relational_of(mdef)
        t0 = time.perf_counter()
        o = prove_unbounded(bridge, RULES, 60_000, registry.catalogue().get)
        wall = time.perf_counter() - t0
        if best is None or wall < best[0]:
            best = (wall, o)
    assert best is not None
    wall, o = best
    verdicts = ", ".join(f"{f.name} {f.verdict}" for f in o.rules())
    print(f"{name:9} {wall:6.2f} s, z3 {o.z3_seconds:5.2f} s in {o.queries} queries; {verdicts}")


def bench_scope(name: str, spec: str) -> None:
    mdef = registry.get_model(name)
    bridge = relational_of(mdef)
    cat = registry.catalogue()
    rules = [cat[r] for r in RULES]
    py = fo = 0.0
    same = 0
    configs = mdef.scope(spec)
    for _, cfg in configs:
        t0 = time.perf_counter()
        a = bridge.graph(cfg, rules)
        t1 = time.perf_counter()
        b = bridge.relational_graph(cfg, rules)
        t2 = time.perf_counter()
        py, fo, same = py + t1 - t0, fo + t2 - t1, same + (a == b)
    print(f"{name:9} {spec}: {len(configs)} configurations, Python {py:.1f} s, first-order {fo:.1f} s, "
          f"{same} agree")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--scope", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    models = args.model or ["refcount", "v1", "poc"]
    for name in models:
        bench_prove(name, args.repeat)
    for spec in args.scope:
        for name in models:
            bench_scope(name, spec)


if __name__ == "__main__":
    main()
