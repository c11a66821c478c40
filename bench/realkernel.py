"""Real-kernel figures: the kselftest scenarios and the model's shortest traces on Debian's 6.12 under qemu.

    python bench/realkernel.py [--model upstream] [--preset NAME]... [--sample N] [--jobs 2] [--timeout 40]

For each preset: states, shortest traces (one to each state), how many a script can say, how many of
those ran (the longest; the others are their prefixes), confirmed / differing / could not run, the wall
time on the kernel and the time per trace. Then the 20 kselftest scenarios of tests/data, once in few
boots and once a boot each. Needs qemu and `klpmc fetch-kernel`; presets whose modules klpmc would have to
generate need klpmc.kmodgen.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from klpmc import registry  # noqa: E402
from klpmc.realkernel.commands import kernel_and_headers  # noqa: E402
from klpmc.realkernel.conform import conform  # noqa: E402
from klpmc.realkernel.scenario import compare, guest_tests  # noqa: E402
from klpmc.realkernel.vm import run_tests  # noqa: E402
from klpmc.registry import InputError  # noqa: E402

SCENARIOS = sorted((ROOT / "tests/data/kselftest").glob("*.txt")) + sorted(
    (ROOT / "tests/data/kselftest-extra").glob("*.txt"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="upstream")
    ap.add_argument("--preset", action="append")
    ap.add_argument("--sample", type=int)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=40)
    ap.add_argument("--no-scenarios", action="store_true")
    args = ap.parse_args()
    kernel, headers, _ = kernel_and_headers(None, None)
    mdef = registry.get_model(args.model)
    presets = args.preset or ["small", "drop", "kselftest-state", "kselftest"]
    print(f"kernel {kernel.release}, {args.jobs} qemus, TCG, one vCPU each")
    head = ("preset", "states", "traces", "expressible", "not expr.", "run", "confirmed", "differs", "no run",
            "wall s", "s/trace")
    print("  ".join(f"{h:>11}" for h in head))
    for preset in presets:
        try:
            results, info = conform(mdef, preset, kernel, headers, sample=args.sample, jobs=args.jobs,
                                    timeout=args.timeout)
        except InputError as e:
            print(f"{preset:>11}  skipped: {e}")
            continue
        count = {s: sum(r.status == s for r in results) for s in ("confirmed", "differs", "could not run")}
        row = (preset, info["states"], info["traces"], info["expressible"], info["not_expressible"], info["run"],
               count["confirmed"], count["differs"], count["could not run"], f"{info['wall_seconds']:.0f}",
               f"{info['seconds_per_trace']:.2f}")
        print("  ".join(f"{c:>11}" for c in row), flush=True)
        for r in results:
            if r.status in ("differs", "could not run"):
                print(f"    {r.status}: {' -> '.join(r.trace.labels)}")
    if args.no_scenarios:
        return 0
    scen, tests = guest_tests(SCENARIOS, headers)
    for per_boot, what in ((16, "a few boots"), (1, "one boot each")):
        t0 = time.monotonic()
        out = run_tests(kernel, tests, jobs=args.jobs, timeout=args.timeout, per_boot=per_boot)
        wall = time.monotonic() - t0
        ok = sum(compare(s.expected, out[t.id], "")[0] for s, t in zip(scen, tests, strict=True))
        print(f"20 kselftest scenarios, {what}: {ok} match, {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
