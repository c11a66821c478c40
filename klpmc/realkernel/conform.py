"""`klpmc conform MODEL --real-kernel`: the model's shortest traces run on the real kernel, logs compared.

The traces are the shortest paths to each state (klpmc's one BFS, `klpmc.engine.explore`). A trace becomes a
scenario (each command after ``% ``, the log each step predicts, filtered as check_result filters it) that
the real-kernel harness runs like the kselftest scenarios. A script cannot say everything a trace says: the
harness lets a transition finish before the next command unless a task blocks it, so a trace that types a
command while a transition nothing blocks is still pending is *not expressible*; the model's own harness
decides that (it replays the scenario with the same waiting rule and must print the same log), and those
traces are counted and named, never run. Of the expressible traces only the longest run: the others are
their prefixes, and the kernel is deterministic here (one vCPU, each command settled before the next).
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klpmc.contracts import Fingerprints
from klpmc.engine import Visitor, explore
from klpmc.model import InputError, ModelDef
from klpmc.steps import command_of_label

from .confirm import KILLED, first_difference
from .guest import GuestTest
from .kbuild import build_modules, selftest_sources
from .kernel import Headers, Kernel
from .scenario import read_scenario
from .vm import Outcome, run_tests, selftest_filter

COMMAND_NOTE = re.compile(r"\s+#.*$")


@dataclass
class ModelTrace:
    """One shortest trace: its steps' labels, commands and predicted logs."""

    labels: list[str]
    commands: list[str | None]
    logs: list[list[str]]

    def scenario(self) -> list[str]:
        """The expected log in the scenario format: '% command' then what the step prints."""
        out: list[str] = []
        for cmd, log in zip(self.commands, self.logs, strict=True):
            if cmd is not None:
                text = COMMAND_NOTE.sub("", cmd)
                # a bool module parameter as insmod takes it (the model writes Python's True/False)
                text = re.sub(r"=True\b", "=Y", re.sub(r"=False\b", "=N", text))
                out.append(f"% {text}")
            out += selftest_filter(log)
        return out

    def steps_text(self) -> list[str]:
        """The trace as check prints its steps: command (or the kernel entry point) per step."""
        return [f"{i + 1}  {'% ' + c + '    # ' if c else ''}{lab}"
                for i, (lab, c) in enumerate(zip(self.labels, self.commands, strict=True))]


@dataclass
class TraceResult:
    """What the real kernel made of one trace."""

    trace: ModelTrace
    status: str                        # confirmed, differs, could not run, not expressible
    detail: list[str] = field(default_factory=list)
    seconds: float = 0.0


class _FirstSteps(Visitor):
    """Remembers, for each state, the step that found it: the last step of the shortest trace to it."""

    steps = True

    def __init__(self, model: Any) -> None:
        self.key_of: Callable[[Any], Hashable] = model.fingerprint if isinstance(model, Fingerprints) else (lambda s: s)
        self.index: dict[Hashable, int] = {}
        self.found: dict[int, tuple[int, Any, tuple[Any, ...]]] = {}

    def on_state(self, j: int, state: Any) -> bool:
        self.index[self.key_of(state)] = j
        return False

    def on_step(self, i: int, before: Any, k: int, label: Any, log: Any, after: Any) -> bool:
        j = self.index[self.key_of(after)]
        if j not in self.found:        # the first step to a state is the one that found it (BFS)
            self.found[j] = (i, label, tuple(log))
        return False


def shortest_traces(model: Any, max_states: int) -> tuple[list[ModelTrace], int]:
    """(the shortest trace to every state but the initial ones, in BFS order; the number of states)."""
    steps = _FirstSteps(model)
    run = explore(model, [steps], max_states=max_states)
    if not run.complete:
        if run.stop_reason == "interrupted":
            raise KeyboardInterrupt
        raise InputError(f"the model has more than {max_states:,} states here; conform needs a smaller preset")
    traces = []
    for j in range(len(run.keys)):
        if run.parents[j] < 0:          # an initial state
            continue
        chain = []
        cur = j
        while run.parents[cur] >= 0:
            i, label, log = steps.found[cur]
            chain.append((label, log))
            cur = i
        chain.reverse()
        traces.append(ModelTrace([str(lab) for lab, _ in chain], [command_of_label(model, lab) for lab, _ in chain],
                                 [[x for x in log if isinstance(x, str)] for _, log in chain]))
    return traces, len(run.keys)


def longest(traces: list[ModelTrace]) -> list[ModelTrace]:
    """The traces that are no prefix of another one of TRACES (running them runs all of TRACES)."""
    prefixes = {tuple(t.labels[:k]) for t in traces for k in range(len(t.labels))}
    return [t for t in traces if tuple(t.labels) not in prefixes]


def _expressible(mdef: ModelDef, trace: ModelTrace, tmp: Path) -> str | None:
    """None if the model's harness, replaying the trace's commands, prints the trace's log; else why not."""
    lines = trace.scenario()
    if not any(ln.startswith("% ") for ln in lines):
        return "no command: nothing for a script to do"
    assert mdef.replay is not None
    f = tmp / "trace.txt"
    f.write_text("\n".join(lines) + "\n")
    try:
        got, ok = mdef.replay(f, True)
    except InputError as e:
        return str(e).replace(str(f) + ": ", "")
    if ok:
        return None
    changes = [ln for ln in got if ln.startswith(("-", "+")) and not ln.startswith(("---", "+++"))]
    first = changes[0] if changes else ""
    if all(ln.startswith("+") for ln in changes) and _only_appended(got):
        return ("it ends while a transition that no task blocks is pending, a state the kernel passes "
                f"within one command (the harness goes on: {first})")
    return ("it types a command while a transition that no task blocks is pending; the harness, like the "
            f"kernel, lets the transition finish first (first difference: {first})")


def _only_appended(diff: list[str]) -> bool:
    """Whether a unified diff only adds lines after the end of the old text (its last hunk, at the end)."""
    body = [ln for ln in diff if not ln.startswith(("---", "+++", "@@"))]
    seen_plus = False
    for ln in body:
        if ln.startswith("+"):
            seen_plus = True
        elif seen_plus:
            return False
    return sum(ln.startswith("@@") for ln in diff) == 1


def conform(mdef: ModelDef, preset: str, kernel: Kernel, headers: Headers, *, sample: int | None, jobs: int,
            timeout: int, max_states: int = 100_000, seed: int = 0,
            stock: bool = True) -> tuple[list[TraceResult], dict[str, Any]]:
    """Run MDEF's shortest traces on PRESET on KERNEL: the longest expressible ones (a sample of SAMPLE).

    A preset of the kernel's selftest modules runs them as scenarios, as `klpmc replay --real-kernel`
    does; a preset of generated modules runs each trace as the kselftest `--emit-selftest` would write
    for it (its modules generated and built, its script), as `klpmc confirm` does. STOCK: KERNEL is
    Debian's own image (the mainline API only).
    """
    config = mdef.preset(preset).config
    model = mdef.build(config)
    if getattr(config, "fixtures", None) is None:     # the preset's modules are generated, not the tree's
        return _conform_generated(mdef, preset, config, model, kernel, headers, sample=sample, jobs=jobs,
                                  timeout=timeout, max_states=max_states, seed=seed, stock=stock)
    if mdef.replay is None:
        raise InputError(f"model {mdef.name!r} has no replay harness; conform --real-kernel needs one")
    traces, states = shortest_traces(model, max_states)
    sources = _module_sources(mdef, preset, traces)
    unsaid: list[TraceResult] = []
    said: list[ModelTrace] = []
    with tempfile.TemporaryDirectory(prefix="klpmc-conform.") as tmp:
        for t in traces:
            why = _expressible(mdef, t, Path(tmp))
            if why is None:
                said.append(t)
            else:
                unsaid.append(TraceResult(t, "not expressible", [why]))
    runs = longest(said)
    if sample is not None and sample < len(runs):
        runs = [runs[i] for i in sorted(random.Random(seed).sample(range(len(runs)), sample))]
    kos = build_modules(headers, sources) if runs else {}
    tests = []
    with tempfile.TemporaryDirectory(prefix="klpmc-conform.") as tmp:
        for i, t in enumerate(runs):
            f = Path(tmp) / f"trace-{i}.txt"
            f.write_text("\n".join(t.scenario()) + "\n")
            sc = read_scenario(f)
            tests.append(GuestTest(f"t{i:05d}", "run.sh", sc.script, {m: kos[m] for m in sc.modules}))
    t0 = time.monotonic()
    outcomes = run_tests(kernel, tests, jobs=jobs, timeout=timeout, per_boot=16) if tests else {}
    wall = time.monotonic() - t0
    results = [_judge(t, outcomes[test.id]) for t, test in zip(runs, tests, strict=True)]
    return results + unsaid, _figures(preset, states, traces, said, unsaid, runs, wall, jobs)


def _figures(preset: str, states: int, traces: list[ModelTrace], said: list[ModelTrace],
             unsaid: list[TraceResult], runs: list[ModelTrace], wall: float, jobs: int) -> dict[str, Any]:
    """What `format_conform` and --json report of a run besides the results."""
    return {"preset": preset, "states": states, "traces": len(traces), "expressible": len(said),
            "not_expressible": len(unsaid), "longest": len(longest(said)), "run": len(runs),
            "wall_seconds": wall, "seconds_per_trace": wall / len(runs) if runs else 0.0, "jobs": jobs}


def _conform_generated(mdef: ModelDef, preset: str, config: Any, model: Any, kernel: Kernel, headers: Headers, *,
                       sample: int | None, jobs: int, timeout: int, max_states: int, seed: int,
                       stock: bool) -> tuple[list[TraceResult], dict[str, Any]]:
    """`conform` on a preset of generated modules: each trace a kselftest (`klpmc.selftest.emit_one`), which
    says whether a script can say it; the longest of those run through `confirm`."""
    from klpmc.engine import replay
    from klpmc.selftest import emit_one
    from klpmc.steps import step_json

    from .confirm import confirm

    traces, states = shortest_traces(model, max_states)
    where = f"{mdef.name}, preset {preset}"
    unsaid: list[TraceResult] = []
    said: list[ModelTrace] = []
    folder: dict[int, Path] = {}
    with tempfile.TemporaryDirectory(prefix="klpmc-conform.") as tmp:
        for i, t in enumerate(traces):
            steps = [step_json(model, st) for st in replay(model, t.labels)]
            prop = {"name": f"trace-{i + 1}", "kind": "trace", "trace": steps,
                    "description": f"the shortest trace to state {i + 1} of {where}"}
            done = emit_one(Path(tmp) / "all" / f"t{i:05d}", model_name=mdef.name, where=where, prop=prop,
                            config=config, model=model)
            if done.expressible:
                said.append(t)
                folder[id(t)] = done.folder
            else:
                unsaid.append(TraceResult(t, "not expressible", [str(done.why_not)]))
        runs = longest(said)
        if sample is not None and sample < len(runs):
            runs = [runs[i] for i in sorted(random.Random(seed).sample(range(len(runs)), sample))]
        root = Path(tmp) / "run"
        root.mkdir()
        for t in runs:
            shutil.move(folder[id(t)], root / folder[id(t)].name)
        t0 = time.monotonic()
        verdicts = confirm(root, kernel, headers, jobs=jobs, timeout=timeout, stock=stock) if runs else []
        wall = time.monotonic() - t0
    results = [TraceResult(t, v.status, v.detail, v.seconds) for t, v in zip(runs, verdicts, strict=True)]
    return results + unsaid, _figures(preset, states, traces, said, unsaid, runs, wall, jobs)


def _module_sources(mdef: ModelDef, preset: str, traces: list[ModelTrace]) -> dict[str, str]:
    """The C sources of the modules the traces load: the kernel's selftest modules, for now (the model's
    harness, which decides what a script can say, knows those modules only)."""
    sources = selftest_sources()
    wanted = set()
    for t in traces:
        for c in t.commands:
            m = re.match(r"insmod (?:\S*/)?([A-Za-z0-9_]+)\.ko", c or "")
            if m:
                wanted.add(m.group(1))
    missing = sorted(wanted - set(sources))
    if missing:
        raise InputError(f"preset {preset!r} of {mdef.name} loads {', '.join(missing)}, which are not the "
                         "kernel's selftest modules")
    return {m: sources[m] for m in sorted(wanted)}


def _judge(t: ModelTrace, o: Outcome) -> TraceResult:
    if not o.ran:
        return TraceResult(t, "could not run", [o.reason, *o.notes], o.seconds)
    got = o.segments[0].log if o.segments else o.log
    want = t.scenario()
    if got == want:
        return TraceResult(t, "confirmed", seconds=o.seconds)
    notes = [f"note: {n}" for n in o.notes if n and not n.startswith("TEST: ")]
    if o.rc == KILLED:
        notes.insert(0, "note: the test did not finish within its --timeout: a command never returned")
    return TraceResult(t, "differs", _at_step(t, want, got) + first_difference(want, got) + notes, o.seconds)


def _at_step(t: ModelTrace, want: list[str], got: list[str]) -> list[str]:
    """Which step of the trace the first difference falls in."""
    i = 0
    while i < min(len(want), len(got)) and want[i] == got[i]:
        i += 1
    line = 0
    for k, (cmd, log) in enumerate(zip(t.commands, t.logs, strict=True)):
        line += (cmd is not None) + len(selftest_filter(log))
        if i < line:
            return [f"in step {k + 1} of {len(t.labels)}: {t.labels[k]}"]
    return [f"after the last step ({len(t.labels)})"]


def format_conform(mdef: ModelDef, kernel: Kernel, results: list[TraceResult], info: dict[str, Any]) -> list[str]:
    """The text `klpmc conform --real-kernel` prints: differences with their traces, then the figures."""
    out = [f"conform {mdef.name} (preset {info['preset']}) on the real kernel {kernel.release}: "
           f"{info['states']:,} states, {info['traces']:,} shortest traces (one to each state)"]
    for r in results:
        if r.status in ("differs", "could not run"):
            out.append(f"{r.status}:")
            out += [f"    {s}" for s in r.trace.steps_text()]
            out += [f"  {d}" for d in r.detail]
    reasons: dict[str, int] = {}
    for r in results:
        if r.status == "not expressible":
            key = re.sub(r" \((first difference|the harness goes on).*$", "", r.detail[0])
            # one line per kind of reason: without the step and the module a trace has it at
            key = re.sub(r"\btest_klpmc_\w+", "a livepatch", re.sub(r"^step \d+ \(\w+\([^)]*\)\) ", "", key))
            reasons[key] = reasons.get(key, 0) + 1
    out.append(f"not expressible: {info['not_expressible']:,} of {info['traces']:,} traces")
    for why, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
        out.append(f"  {n:,}: {why}")
    ran = [r for r in results if r.status != "not expressible"]
    counts = {s: sum(r.status == s for r in ran) for s in ("confirmed", "differs", "could not run")}
    out.append(f"expressible: {info['expressible']:,} traces, the prefixes of {info['longest']:,}; "
               f"{info['run']:,} of those run: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if ran:
        out.append(f"{info['wall_seconds']:.0f} s on the real kernel, {info['seconds_per_trace']:.2f} s a trace "
                   f"with {info['jobs']} qemu{'s' if info['jobs'] > 1 else ''}")
    return out


__all__ = ["ModelTrace", "TraceResult", "conform", "format_conform", "longest", "shortest_traces"]
