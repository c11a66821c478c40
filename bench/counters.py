"""Benchmark the engine on K counters mod 10 (10**K states), and klpmc's time to a first verdict.

    python bench/counters.py [--k 6] [--k-small 5]

Prints states/s, bytes per state (RSS growth over the run / states; tracemalloc on 10**k_small states),
seconds, and the wall time from process start to the first verdict of ``klpmc check MODEL`` on the
smallest preset of the first model installed (skipped if none is).  Targets: >= 250k states/s and
<= 200 bytes/state at K=6; a first verdict in < 0.2 s.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import shutil
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpmc.engine import Progress, check  # noqa: E402
from klpmc.props import always  # noqa: E402

Counter = tuple[int, ...]
_NEXT = tuple((v + 1) % 10 for v in range(10))


class Counters:
    """K counters each mod 10; each step increments one counter."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.labels = tuple(f"inc({i})" for i in range(k))

    def init_states(self) -> list[Counter]:
        return [(0,) * self.k]

    def next_steps(self, s: Counter) -> Iterator[tuple[str, Counter, tuple[object, ...]]]:
        for i, label in enumerate(self.labels):
            yield label, (*s[:i], _NEXT[s[i]], *s[i + 1 :]), ()


def rss_now() -> int:
    """Current resident set size in bytes (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_speed(k: int, with_property: bool) -> None:
    gc.collect()
    before = rss_now()
    high = [before]

    def sample(_: Progress) -> None:  # RSS while the search holds every state
        high.append(rss_now())

    props = [always("below-max", "not every counter at 9", lambda s: sum(s) < 9 * k)] if with_property else []
    r = check(Counters(k), props, progress=sample)
    grown = max(high) - before
    s = r.stats
    what = "1 always-property" if with_property else "no property"
    print(
        f"counters K={k} ({what}): {s.states:,} states, {s.transitions:,} transitions, depth {s.depth}, "
        f"{s.seconds:.2f} s, {s.states_per_second:,.0f} states/s, "
        f"RSS growth {grown / s.states:.0f} bytes/state, peak RSS {s.peak_memory / 2**20:.0f} MiB"
    )
    del r
    gc.collect()


def bench_tracemalloc(k: int) -> None:
    tracemalloc.start()
    r = check(Counters(k))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n = r.stats.states
    print(f"counters K={k}: tracemalloc peak {peak / n:.0f} bytes/state ({n:,} states)")


def bench_first_verdict() -> None:
    from klpmc import registry

    models = registry.all_models()
    exe = shutil.which("klpmc")
    if not models:
        print("first verdict: skipped (no model installed)")
        return
    name, mdef = next(iter(models.items()))
    cmd = [exe] if exe else [sys.executable, "-m", "klpmc"]
    cmd += ["check", name, "--quiet", "--preset", mdef.default_preset]
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert proc.stdout is not None
        first = proc.stdout.readline()
        elapsed = time.perf_counter() - t0
        proc.communicate()
        best = min(best, elapsed)
    print(f"first verdict: {' '.join(cmd[1:])}: {best:.3f} s (best of 5), first line {first.strip()!r}, "
          f"exit {proc.returncode}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=6)
    ap.add_argument("--k-small", type=int, default=5)
    ap.add_argument("--no-first-verdict", action="store_true")
    args = ap.parse_args()
    bench_speed(args.k, with_property=False)
    bench_speed(args.k, with_property=True)
    bench_tracemalloc(args.k_small)
    if not args.no_first_verdict:
        bench_first_verdict()


if __name__ == "__main__":
    main()
