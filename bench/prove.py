"""Time klpmc prove against klpmc check: presets, and a scope's BFS runs against its one symbolic query.

    python bench/prove.py [--all | --preset MODEL:PRESET]... [--scope MODEL:SPEC]... [--timeout SECONDS]
                          [--method M]... [--safety]

For each preset: check's time, prove's time split into reading the relation off the model code and z3,
whether every verdict agrees, and which method settled each property that holds (the invariant method
and the properties it learnt clauses for, k-induction with its k, or Spacer). ``--all``: every preset of
every model. For each scope: the BFS over every configuration against the one prove run with the
configuration free (``--safety``: the always and step properties only). Nothing here runs in CI: some
of these take minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpmc import registry  # noqa: E402
from klpmc.engine import check  # noqa: E402
from klpmc.prove import METHODS, prove  # noqa: E402

PRESETS = ["upstream:small", "poc:small", "poc-series:small", "v1:small", "refcount:small", "replace-set:small",
           "upstream:modules", "refcount:block"]
SCOPES = ["refcount:patches=1,states=2", "poc-series:patches=2,states=1", "refcount:patches=2,states=1"]


def methods(proofs: list) -> str:  # type: ignore[type-arg]
    """How the proved properties were proved: counts, then those that needed more than the simplest proof."""
    def how(p) -> str:  # type: ignore[no-untyped-def]
        return p.method + (f" k={p.depth}" if p.method == "k-induction" else "")

    c = Counter(how(p) for p in proofs if p.verdict == "proved")
    harder = [f"{p.prop.name} ({how(p)}{', ' + p.note if p.method == 'invariant' else ''})" for p in proofs
              if p.verdict == "proved" and not (p.method == "k-induction" and p.depth == 1)
              and not (p.method == "invariant" and "clauses learnt" not in p.note)]
    return ", ".join(f"{n}x {m}" for m, n in sorted(c.items())) + (f"; {', '.join(harder)}" if harder else "")


def bench_preset(spec: str, timeout_ms: int, how: tuple[str, ...]) -> None:
    model, preset = spec.split(":")
    mdef = registry.get_model(model)
    props = registry.select_properties(mdef)
    cfg = mdef.preset(preset).config
    t0 = time.perf_counter()
    result = check(mdef.build(cfg), props)
    t_check = time.perf_counter() - t0
    proofs, info = prove(mdef.build(cfg), props, timeout_ms=timeout_ms, methods=how)
    want = {r.prop.name: r.verdict for r in result.properties}
    agree = sum(p.check_verdict == want[p.prop.name] for p in proofs)
    print(f"{spec:28} check {t_check:7.2f} s | prove {info['seconds']:8.2f} s "
          f"(relation {info['extract_seconds']:.2f} s, {info['rules']} rules, {info['fields']} fields) "
          f"| agree {agree}/{len(proofs)} | {methods(proofs)}", flush=True)


def bench_scope(spec: str, timeout_ms: int, how: tuple[str, ...], safety: bool) -> None:
    model, scope = spec.split(":")
    mdef = registry.get_model(model)
    props = [p for p in registry.select_properties(mdef) if not safety or p.kind != "sometimes"]
    configs = mdef.scope(scope)
    t0 = time.perf_counter()
    verdicts: dict[str, set[str]] = {}
    for _, cfg in configs:
        for r in check(mdef.build(cfg), props).properties:
            verdicts.setdefault(r.prop.name, set()).add(r.verdict)
    t_check = time.perf_counter() - t0
    t0 = time.perf_counter()
    models = [mdef.build(cfg) for _, cfg in configs]
    relation = models[0].scope_relation(models, [n for n, _ in configs])
    proofs, info = prove(models[0], props, timeout_ms=timeout_ms, relation=relation, methods=how)
    t_prove = time.perf_counter() - t0
    agree = sum(((p.verdict in ("violated", "reachable")) ==
                 bool(verdicts[p.prop.name] & {"violated", "reachable"})) for p in proofs)
    print(f"{spec:36} {len(configs)} configurations: BFS {t_check:7.2f} s | one query {t_prove:8.2f} s "
          f"({info['rules']} rules) | agree {agree}/{len(proofs)} | {methods(proofs)}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", action="append", default=[])
    ap.add_argument("--scope", action="append", default=[])
    ap.add_argument("--all", action="store_true", help="every preset of every model")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--method", action="append", default=[], choices=METHODS)
    ap.add_argument("--safety", action="store_true", help="scopes: only the always and step properties")
    args = ap.parse_args()
    timeout_ms = int(args.timeout * 1000)
    how = tuple(args.method) or METHODS
    presets = [f"{m.name}:{p}" for m in registry.all_models().values() for p in m.presets] if args.all else args.preset
    for spec in presets or ([] if args.scope else PRESETS):
        bench_preset(spec, timeout_ms, how)
    for spec in args.scope or ([] if presets else SCOPES):
        bench_scope(spec, timeout_ms, how, args.safety)


if __name__ == "__main__":
    main()
