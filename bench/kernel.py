"""The kernel model (the livepatch core's own C) beside the upstream model, on the same configurations.

    python bench/kernel.py [--preset NAME]... [--repeat N]

For each preset: distinct states, transitions, and transitions per second with every property of the
model checked, wall clock and CPU time (the better of N runs, one after the other in this process), for
the kernel's C and for the upstream model; and the bytes each kept state costs, from tracemalloc over a
second run (the visited set, the parents, the frontier's snapshots at their peak, the rules' caches).
Issue target: >= 50k transitions/s on the kselftest preset.
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


def measure(model_name: str, preset: str, repeat: int) -> tuple[int, int, float, float, float]:
    mdef = registry.get_model(model_name)
    props = registry.select_properties(mdef)
    config = mdef.preset(preset).config
    best_wall = best_cpu = float("inf")
    states = transitions = 0
    for _ in range(repeat):
        model = mdef.build(config)
        gc.collect()
        w, c = time.perf_counter(), time.process_time()
        r = check(model, props)
        best_wall = min(best_wall, time.perf_counter() - w)
        best_cpu = min(best_cpu, time.process_time() - c)
        states, transitions = r.stats.states, r.stats.transitions
    model = mdef.build(config)
    gc.collect()
    tracemalloc.start()
    check(model, props)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return states, transitions, best_wall, best_cpu, peak / max(states, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", action="append", default=[])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    presets = args.preset or ["small", "drop", "kselftest-state", "kselftest", "modules"]
    print(f"{'preset':16} {'model':9} {'states':>8} {'transitions':>11} {'wall s':>7} {'cpu s':>7} "
          f"{'trans/s wall':>12} {'trans/s cpu':>11} {'B/state':>8}")
    for preset in presets:
        for name in ("kernel", "upstream"):
            states, transitions, wall, cpu, per_state = measure(name, preset, args.repeat)
            print(f"{preset:16} {name:9} {states:>8,} {transitions:>11,} {wall:>7.2f} {cpu:>7.2f} "
                  f"{transitions / wall:>12,.0f} {transitions / cpu:>11,.0f} {per_state:>8,.0f}", flush=True)


if __name__ == "__main__":
    main()
