"""The speed-up of ``klpmc check MODEL --scope SPEC --jobs N`` over ``--jobs 1``, measured in one session.

    python bench/jobs.py [--model refcount] [--scope patches=3,states=2] [--jobs 2] [--rounds 2]

Runs the command as a user does (``python -m klpmc ... -q``), alternating --jobs 1 and --jobs N for each
round so a change of load on the machine hits both, and prints the wall time of each run, the load average
when it ended, and the ratio of the best times. The two outputs must be the same but for timings.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMING = re.compile(r"\d+\.\d+ s\b")


def once(model: str, scope: str, jobs: int) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "klpmc", "check", model, "--scope", scope, "-q", "--jobs", str(jobs)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):
        sys.exit(done.stderr)
    return took, TIMING.sub("T", done.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="refcount")
    ap.add_argument("--scope", default="patches=3,states=2")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    best: dict[int, float] = {}
    outputs: dict[int, str] = {}
    for r in range(args.rounds):
        for jobs in (1, args.jobs):
            took, out = once(args.model, args.scope, jobs)
            best[jobs] = min(best.get(jobs, took), took)
            outputs[jobs] = out
            print(f"round {r + 1}  --jobs {jobs}: {took:7.1f} s  (load {os.getloadavg()[0]:.2f})", flush=True)
    same = "same output" if outputs[1] == outputs[args.jobs] else "OUTPUTS DIFFER"
    print(f"{args.model} --scope {args.scope}: --jobs {args.jobs} is {best[1] / best[args.jobs]:.2f}x "
          f"--jobs 1 (best {best[args.jobs]:.1f} s against {best[1]:.1f} s on {os.cpu_count()} cores); {same}")


if __name__ == "__main__":
    main()
