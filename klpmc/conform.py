"""Conformance of a specification model to an implementation model, trace by trace.

The specification (a Python model) is explored by the engine's one loop. Every state it reaches has a
shortest trace, and those traces make a tree: each edge of the tree is run on the implementation (the
kernel's C) from the implementation's state at the edge's source, with the same label. The two steps
are compared: their kernel log lines and their structured events (`klpmc.diff`'s comparison, in the
vocabulary both models share). So each step of each shortest trace runs once, and every difference
comes with the trace that shows it.

The implementation may take steps the specification folds into others: after each step it takes those
it calls internal (``internal(label)``: the kernel frees a patch in a work item of its own, a Python
model inside the step that completes the transition) until there are none. A label the specification
takes but the implementation does not offer there (a fault the C cannot inject at that point) is not
expressible: it is counted and named, never silently skipped. Knows nothing about livepatch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from klpmc.contracts import HasInternal, Takes
from klpmc.diff import _comparer
from klpmc.engine import Exploration, Label, Log, Model, Progress, Trace, Visitor, _keeper, explore
from klpmc.steps import log_lines

__all__ = ["ConformDifference", "Conformance", "conform"]


@dataclass(frozen=True)
class ConformDifference:
    """A step of a shortest trace of the specification that the implementation takes otherwise."""

    trace: Trace            # the specification's trace, its last step the one that differs
    spec_log: Log
    impl_log: Log | None    # None: the implementation does not offer the label there
    what: str               # "log", "events", "not expressible"


@dataclass
class Conformance:
    """What `conform` found: how many steps and traces it compared, and the differences."""

    steps: int = 0
    traces: int = 0
    differences: list[ConformDifference] = field(default_factory=list)
    not_expressible: list[ConformDifference] = field(default_factory=list)
    beyond: int = 0          # steps after a difference the implementation cannot go on from (a crash, a hang)
    complete: bool = True
    stop_reason: str | None = None

    @property
    def ok(self) -> bool:
        return not self.differences and self.complete


def _take(model: Model, state: Any, label: Label) -> tuple[Label, Any, Log] | None:
    if isinstance(model, Takes):
        return model.take(state, label)
    keep = _keeper(model)
    for step in model.next_steps(state):
        if step[0] == label or str(step[0]) == str(label):
            return step[0], keep(step[1]), step[2]
    return None


class ConformVisitor(Visitor):
    """Runs each edge of the specification's tree of shortest traces on the implementation."""

    steps = True

    def __init__(self, spec: Model, impl: Model, internal: Callable[[Label], bool],
                 lines: Callable[[Log], Sequence[str]]) -> None:
        self.spec, self.impl, self.internal, self.lines = spec, impl, internal, lines
        self.compare_a, self.compare_b = _comparer(spec, impl)
        self.keep = _keeper(impl)
        self.impl_state: dict[int, Any] = {}
        self.fresh: tuple[int, Any] | None = None
        self.result = Conformance()
        self.pending: list[tuple[int, Log, Log | None, str]] = []
        inits = list(impl.init_states())
        self.impl_init = inits[0]

    def on_state(self, j: int, state: Any) -> bool:
        if not self.impl_state and j == 0:
            self.impl_state[0] = self.impl_init
        self.fresh = (j, state)
        return False

    def on_step(self, i: int, before: Any, k: int, label: Label, log: Log, after: Any) -> bool:
        fresh, self.fresh = self.fresh, None
        if fresh is None or fresh[1] is not after:
            return False                     # not an edge of the tree of shortest traces
        j = fresh[0]
        if i not in self.impl_state:
            self.result.beyond += 1          # the implementation stopped before this trace's end
            return False
        self.result.steps += 1
        got = _take(self.impl, self.impl_state[i], label)
        if got is None:
            self.pending.append((j, log, None, "not expressible"))
            return False
        _, state, impl_log = got
        extra: list[Any] = list(impl_log)
        for _ in range(64):                 # the implementation's own steps after this one
            inner = next((s for s in self.impl.next_steps(state) if self.internal(s[0])), None)
            if inner is None:
                break
            state = self.keep(inner[1])      # while the implementation still holds it
            extra.extend(inner[2])
        impl_log = tuple(extra)
        what = ("log" if list(self.lines(log)) != list(self.lines(impl_log)) else
                "events" if self.compare_a(log) != self.compare_b(impl_log) else None)
        if what is not None:
            self.pending.append((j, log, impl_log, what))
            if next(iter(self.impl.next_steps(state)), None) is None:
                return False                 # a dead end (a crash, a hang): nothing to compare after it
        self.impl_state[j] = state
        return False

    def finish(self, run: Exploration) -> Conformance:
        r = self.result
        r.traces = len(run.keys)
        r.complete = run.complete
        r.stop_reason = run.stop_reason
        for j, spec_log, impl_log, what in self.pending:
            d = ConformDifference(run.trace(j), spec_log, impl_log, what)
            (r.not_expressible if what == "not expressible" else r.differences).append(d)
        return r


def _never(label: Label) -> bool:
    return False


def conform(spec: Model, impl: Model, internal: Callable[[Label], bool] | None = None,
            lines: Callable[[Log], Sequence[str]] = log_lines, max_states: int | None = None,
            progress: Callable[[Progress], None] | None = None) -> Conformance:
    """Run the shortest trace to every state of ``spec`` on ``impl``; compare them step by step.

    ``internal(label)``: a step of ``impl`` the spec does not have (default: ``impl``'s own `HasInternal`
    hook, else none is).
    """
    if internal is None:
        internal = impl.internal if isinstance(impl, HasInternal) else _never
    visitor = ConformVisitor(spec, impl, internal, lines)
    run = explore(spec, [visitor], max_states=max_states, progress=progress)
    return visitor.finish(run)


def format_conformance(r: Conformance, spec: str, impl: str, what: str,
                       command: Callable[[Label], str | None]) -> list[str]:
    """The figures, then each difference: the trace as commands, and the last step's two logs."""
    from klpmc.diff import _side_by_side

    head = (f"conform {spec} against {impl} ({what}): {r.traces:,} traces (the shortest to each state of {spec}), "
            f"{r.steps:,} steps compared, {len(r.differences)} differ, {len(r.not_expressible)} not expressible on "
            f"{impl}" + (f", {r.beyond:,} steps after a dead end of {impl} not compared" if r.beyond else "")
            + ("" if r.complete else f"; INCOMPLETE ({r.stop_reason})"))
    lines = [head]
    for n, d in enumerate([*r.differences, *r.not_expressible], 1):
        kind = {"log": "the kernel log differs", "events": "the callbacks differ",
                "not expressible": f"{impl} does not offer the last step there"}[d.what]
        lines += ["", f"{n}: {kind}, after {len(d.trace.steps) - 1} steps:"]
        width = len(str(len(d.trace.steps)))
        for i, step in enumerate(d.trace.steps, 1):
            cmd = command(step.label)
            lines.append(f"  {i:>{width}}  {'% ' + cmd + '    # ' if cmd else ''}{step.label}")
        indent = " " * (width + 6)
        left = [f"{spec}:", *log_lines(d.spec_log)]
        right = [f"{impl}:", *(log_lines(d.impl_log) if d.impl_log is not None else ["(not offered here)"])]
        lines += _side_by_side(left, right, indent)
    return lines


def conformance_json(r: Conformance, command: Callable[[Label], str | None]) -> dict[str, Any]:
    def steps(t: Trace) -> list[dict[str, Any]]:
        return [{"action": str(s.label), "command": command(s.label), "log": log_lines(s.log)} for s in t.steps]

    return {"traces": r.traces, "steps": r.steps, "complete": r.complete, "stop_reason": r.stop_reason,
            "beyond": r.beyond,
            "differences": [{"kind": d.what, "trace": steps(d.trace), "spec_log": log_lines(d.spec_log),
                             "impl_log": None if d.impl_log is None else log_lines(d.impl_log)}
                            for d in [*r.differences, *r.not_expressible]]}
