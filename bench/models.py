"""Benchmark every livepatch model on its presets: states/s, transitions/s and bytes per state.

    python bench/models.py [--model NAME]... [--preset NAME]... [--scope SPEC]

Each (model, preset) runs once with the model's properties, in this process. Bytes per state is the peak
of the memory traced by tracemalloc during a second run, divided by the distinct states (the parent map,
the states with the structure they share, and the property bookkeeping); the resident set moves in
pages too coarse for presets this small. Issue target: >= 100k states/s on each
model's largest preset, without giving up the kernel-shaped code.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpmc import registry  # noqa: E402
from klpmc.engine import check  # noqa: E402


def run(model: str, name: str, config: object) -> tuple[int, int, float, float]:
    mdef = registry.get_model(model)
    props = registry.select_properties(mdef)
    gc.collect()
    t0 = time.perf_counter()
    r = check(mdef.build(config), props)
    secs = time.perf_counter() - t0
    del r
    gc.collect()
    tracemalloc.start()
    r = check(mdef.build(config), props)
    grown = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    s = r.stats
    first = "-"
    if any(p.verdict == "violated" for p in r.properties):
        t0 = time.perf_counter()
        check(mdef.build(config), props, stop_on_violation=True)
        first = f"{time.perf_counter() - t0:.3f}"
    print(f"{model:12} {name:22} {s.states:>10,} {s.transitions:>11,} {secs:8.2f} "
          f"{s.states / secs:>10,.0f} {s.transitions / secs:>11,.0f} {grown / max(s.states, 1):>8,.0f} {first:>9}",
          flush=True)
    return s.states, s.transitions, secs, grown


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--preset", action="append", default=[])
    ap.add_argument("--scope", help="also run every configuration of this scope (totals only)")
    args = ap.parse_args()
    models = registry.all_models()
    names = args.model or list(models)
    print(f"{'model':12} {'preset':22} {'states':>10} {'transitions':>11} {'seconds':>8} "
          f"{'states/s':>10} {'trans/s':>11} {'B/state':>8} {'1st cex s':>9}")
    for model in names:
        mdef = registry.get_model(model)
        presets = args.preset or list(mdef.presets)
        for name in presets:
            if name in mdef.presets:
                run(model, name, mdef.presets[name].config)
        if args.scope and mdef.scope is not None:
            configs = mdef.scope(args.scope)
            props = registry.select_properties(mdef)
            t0 = time.perf_counter()
            total = 0
            for _, cfg in configs:
                total += check(mdef.build(cfg), props).stats.states
            secs = time.perf_counter() - t0
            print(f"{model:12} scope {args.scope:16} {total:>10,} {'':>11} {secs:8.2f} {total / secs:>10,.0f} "
                  f"  ({len(configs)} configurations)")


if __name__ == "__main__":
    main()
