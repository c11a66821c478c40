"""Breadth-first explicit-state search: reachable states, property verdicts, shortest traces, statistics.

The engine knows nothing about what it explores.  A model is any object with ``init_states()`` and
``next_steps(state)``; see `Model`.  `check` visits every reachable state once, in BFS order, and settles
every property in the same run; each violation or witness gets its own shortest trace.

Memory: the search keeps one set of visited states, one list of states in BFS order (which is also the
queue) and one array of parent indices.  Labels and logs are not stored: a trace is rebuilt at the end by
re-running ``next_steps`` on each parent and taking the first step that yields the child, which is the step
that discovered it, since the search is deterministic.
"""

from __future__ import annotations

import itertools
import resource
import sys
import time
from array import array
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeAlias

from klpmc.props import Property, Verdict

__all__ = [
    "Label",
    "Log",
    "Model",
    "ModelError",
    "Progress",
    "PropertyResult",
    "ReplayError",
    "Result",
    "Stats",
    "Step",
    "StopReason",
    "Trace",
    "check",
    "replay",
]

State: TypeAlias = Any  # immutable and hashable; the engine only hashes and compares states
Label: TypeAlias = Hashable
Log: TypeAlias = tuple[object, ...]
StopReason: TypeAlias = Literal["max_states", "max_depth", "stop_on_violation", "interrupted"]

PROGRESS_EVERY: Final = 1 << 14  # states expanded between two progress calls
_UNBOUNDED: Final = sys.maxsize


class Model(Protocol):
    """What the engine needs from a model.

    ``next_steps`` yields ``(label, successor, log)`` in a deterministic order and never mutates its input.
    A model may also define ``command(label) -> str | None`` for people; the engine does not use it.
    """

    def init_states(self) -> Iterable[State]: ...

    def next_steps(self, state: State, /) -> Iterable[tuple[Label, State, Log]]: ...


class ModelError(ValueError):
    """The model broke its contract (no initial state, unhashable state, nondeterministic steps)."""


class ReplayError(ValueError):
    """A replayed label is not enabled where the trace says it runs."""


@dataclass(frozen=True)
class Step:
    """One transition of a trace: the label that ran, the log it printed, the state it led to."""

    label: Label
    log: Log
    state: State


@dataclass(frozen=True)
class Trace:
    """A path from an initial state: ``init``, then ``steps`` in order."""

    init: State
    steps: tuple[Step, ...]

    @property
    def labels(self) -> tuple[Label, ...]:
        """The labels, in order: what `replay` takes."""
        return tuple(s.label for s in self.steps)

    @property
    def last(self) -> State:
        """The state the trace ends in."""
        return self.steps[-1].state if self.steps else self.init

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class PropertyResult:
    """A property's verdict, with the shortest trace that settled it (violation or witness), if any."""

    prop: Property
    verdict: Verdict
    trace: Trace | None = None

    @property
    def name(self) -> str:
        return self.prop.name

    @property
    def kind(self) -> str:
        return self.prop.kind


@dataclass(frozen=True)
class Stats:
    """How much the search did: distinct states, transitions, BFS depth, wall time, peak RSS in bytes."""

    states: int
    transitions: int
    depth: int
    seconds: float
    peak_memory: int

    @property
    def states_per_second(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Progress:
    """What a progress callback is told, every `PROGRESS_EVERY` expanded states or so."""

    states: int
    transitions: int
    depth: int
    seconds: float


@dataclass(frozen=True)
class Result:
    """The outcome of `check`: one `PropertyResult` per property, in the order given, and statistics.

    ``complete`` is True when every reachable state was visited; otherwise ``stop_reason`` says why the
    search ended and unsettled properties are ``undetermined``.
    """

    properties: tuple[PropertyResult, ...]
    stats: Stats
    complete: bool
    stop_reason: StopReason | None = None

    def __getitem__(self, name: str) -> PropertyResult:
        for r in self.properties:
            if r.name == name:
                return r
        raise KeyError(name)

    def verdicts(self) -> dict[str, Verdict]:
        """Property name -> verdict."""
        return {r.name: r.verdict for r in self.properties}


def peak_memory() -> int:
    """Peak resident set size of this process so far, in bytes."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024  # Linux reports KiB, macOS bytes


def _short(obj: object, limit: int = 160) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validate(props: tuple[Property, ...], max_states: int | None, max_depth: int | None) -> None:
    names: set[str] = set()
    for p in props:
        if not isinstance(p, Property):
            raise TypeError(f"not a Property: {_short(p)}")
        if p.name in names:
            raise ValueError(f"two properties are named {p.name!r}")
        names.add(p.name)
    if max_states is not None and (not isinstance(max_states, int) or max_states < 1):
        raise ValueError(f"max_states must be a positive integer, got {max_states!r}")
    if max_depth is not None and (not isinstance(max_depth, int) or max_depth < 0):
        raise ValueError(f"max_depth must be a non-negative integer, got {max_depth!r}")


def check(
    model: Model,
    properties: Iterable[Property] = (),
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    stop_on_violation: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> Result:
    """Explore every reachable state of ``model`` breadth-first and settle every property.

    ``max_states`` bounds the number of distinct states, ``max_depth`` the number of steps from an initial
    state; a bounded search that leaves states unexplored is not complete.  ``stop_on_violation`` ends the
    search once an ``always`` or ``step`` property is violated.  ``progress`` is called every
    `PROGRESS_EVERY` expanded states or so.  Ctrl-C ends the search cleanly with partial statistics.
    """
    props = tuple(properties)
    _validate(props, max_states, max_depth)
    return _Search(model, props, max_states, max_depth, stop_on_violation, progress).run()


# A hit records where a property fired: ("state", index) or ("step", index of before, ordinal of the step).
_Hit: TypeAlias = tuple[int, ...]


class _Search:
    """One run of `check`; the state of the search lives in locals of `run` for speed."""

    def __init__(
        self,
        model: Model,
        props: tuple[Property, ...],
        max_states: int | None,
        max_depth: int | None,
        stop_on_violation: bool,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self.model = model
        self.props = props
        self.max_states = _UNBOUNDED if max_states is None else max_states
        self.max_depth = _UNBOUNDED if max_depth is None else max_depth
        self.stop_on_violation = stop_on_violation
        self.progress = progress
        self.states: list[State] = []
        self.parents = array("l")
        self.hits: dict[int, _Hit] = {}  # property position -> where it fired
        self.seen: set[State] = set()

    def _initial(self) -> None:
        seen = self.seen
        for s in self.model.init_states():
            try:
                if s in seen:
                    continue
            except TypeError as e:
                raise ModelError(f"initial state is not hashable: {_short(s)} ({e})") from None
            seen.add(s)
            self.states.append(s)
            self.parents.append(-1)
        if not self.states:
            raise ModelError(f"{type(self.model).__name__}.init_states() gave no initial state")
        first = self.model.next_steps(self.states[0])
        for item in first:
            if not (isinstance(item, tuple) and len(item) == 3):
                raise ModelError(f"next_steps must yield (label, successor, log) triples, got {_short(item)}")
            if not isinstance(item[2], tuple):
                raise ModelError(f"a step's log must be a tuple, got {_short(item[2])} for {item[0]}")
            try:
                hash(item[1])
            except TypeError as e:
                raise ModelError(f"successor of {item[0]} is not hashable ({e})") from None

    def _check_states(self, lo: int, hi: int, active: list[tuple[int, Callable[[State], Any], bool]]) -> bool:
        """Evaluate the active state predicates on states[lo:hi]; return True if one fired."""
        states = self.states
        fired = False
        for entry in active:
            pos, pred, fire_when = entry
            for j in range(lo, hi):
                if bool(pred(states[j])) is fire_when:
                    self.hits[pos] = (j,)
                    fired = True
                    break
        if fired:
            active[:] = [e for e in active if e[0] not in self.hits]
        return fired

    def run(self) -> Result:
        t0 = time.perf_counter()
        self._initial()
        states = self.states
        parents = self.parents
        seen = self.seen
        next_steps = self.model.next_steps
        hits = self.hits
        props = self.props

        # (position, predicate, the predicate's value that settles it: False for always/step)
        active = [(i, p.predicate, p.kind == "sometimes") for i, p in enumerate(props)]
        state_active = [e for e in active if not props[e[0]].on_steps]
        step_active = [e for e in active if props[e[0]].on_steps]
        blocking = {i for i, p in enumerate(props) if p.kind != "sometimes"}  # stop_on_violation cares

        transitions = 0
        depth = 0  # depth of the level being expanded
        level_end = len(states)  # states[lo:level_end] have depth `depth`
        checked = 0  # states[:checked] have had the state predicates evaluated
        lo = 0
        stop: StopReason | None = None
        progress = self.progress
        try:
            if state_active:
                self._check_states(0, len(states), state_active)
            checked = len(states)
            while lo < len(states):
                if self.stop_on_violation and not blocking.isdisjoint(hits):
                    stop = "stop_on_violation"
                    break
                if lo == level_end:
                    depth += 1
                    level_end = len(states)
                hi = min(level_end, lo + PROGRESS_EVERY)
                room = self.max_states - len(states)
                if depth >= self.max_depth:
                    room = 0
                # ---- hot loop: expand states[lo:hi] -------------------------------------------------
                seen_add = seen.add
                states_append = states.append
                parents_append = parents.append
                full = False
                if not step_active:
                    for i in range(lo, hi):
                        for _label, t, _log in next_steps(states[i]):
                            transitions += 1
                            if t not in seen:
                                room -= 1
                                if room < 0:
                                    full = True
                                    break
                                seen_add(t)
                                states_append(t)
                                parents_append(i)
                        if full:
                            break
                else:
                    for i in range(lo, hi):
                        s = states[i]
                        for k, (label, t, log) in enumerate(next_steps(s)):
                            transitions += 1
                            fired = False
                            for pos, pred, fire_when in step_active:
                                if bool(pred(s, label, log, t)) is fire_when:
                                    hits[pos] = (i, k)
                                    fired = True
                            if fired:
                                step_active = [e for e in step_active if e[0] not in hits]
                            if t not in seen:
                                room -= 1
                                if room < 0:
                                    full = True
                                    break
                                seen_add(t)
                                states_append(t)
                                parents_append(i)
                        if full:
                            break
                # -------------------------------------------------------------------------------------
                if state_active:
                    self._check_states(checked, len(states), state_active)
                checked = len(states)
                if full:
                    stop = "max_depth" if depth >= self.max_depth else "max_states"
                    break
                lo = hi
                if progress is not None:
                    progress(Progress(len(states), transitions, depth, time.perf_counter() - t0))
        except KeyboardInterrupt:
            stop = "interrupted"
            n = min(len(states), len(parents))  # an append may have been cut in half
            del states[n:]
            del parents[n:]
        complete = stop is None
        results = tuple(self._result(i, p, complete) for i, p in enumerate(props))
        max_depth_seen = self._depth_of(len(states) - 1)
        seconds = time.perf_counter() - t0
        stats = Stats(len(states), transitions, max_depth_seen, seconds, peak_memory())
        return Result(results, stats, complete, stop)

    def _path(self, j: int) -> list[int]:
        """Indices from an initial state to states[j]."""
        path = [j]
        parents = self.parents
        while parents[j] >= 0:
            j = parents[j]
            path.append(j)
        path.reverse()
        return path

    def _depth_of(self, j: int) -> int:
        return len(self._path(j)) - 1

    def _trace_to(self, j: int) -> list[Step]:
        states = self.states
        path = self._path(j)
        steps: list[Step] = []
        for p, c in itertools.pairwise(path):
            child = states[c]
            for label, t, log in self.model.next_steps(states[p]):
                if t == child:
                    steps.append(Step(label, log, t))
                    break
            else:
                raise ModelError(
                    f"next_steps is not deterministic: {_short(states[p])} no longer leads to {_short(child)}"
                )
        return steps

    def _result(self, pos: int, prop: Property, complete: bool) -> PropertyResult:
        hit = self.hits.get(pos)
        if hit is None:
            return PropertyResult(prop, prop.verdict_at_end if complete else "undetermined")
        j = hit[0]
        steps = self._trace_to(j)
        init = self.states[self._path(j)[0]]
        if len(hit) == 2:  # a step property: add the step that fired it
            for k, (label, t, log) in enumerate(self.model.next_steps(self.states[j])):
                if k == hit[1]:
                    steps.append(Step(label, log, t))
                    break
            else:
                before = _short(self.states[j])
                raise ModelError(f"next_steps is not deterministic: step {hit[1]} of {before}")
        return PropertyResult(prop, prop.verdict_on_fire, Trace(init, tuple(steps)))


def _matches(wanted: Label, label: Label) -> bool:
    return bool(label == wanted) or (isinstance(wanted, str) and str(label) == wanted)


def _replay_from(model: Model, init: State, labels: Sequence[Label]) -> list[Step]:
    steps: list[Step] = []
    state = init
    for n, wanted in enumerate(labels, 1):
        enabled = list(model.next_steps(state))
        for label, t, log in enabled:
            if _matches(wanted, label):
                steps.append(Step(label, log, t))
                state = t
                break
        else:
            names = ", ".join(str(label) for label, _, _ in enabled) or "none"
            raise ReplayError(f"step {n}: {wanted} is not enabled; enabled: {names}")
    return steps


def replay(model: Model, labels: Iterable[Label], init: State | None = None) -> list[Step]:
    """Rebuild the steps of a trace from its labels.

    A label matches a step whose label is equal to it or, for a string, whose label prints as it.  Without
    ``init`` the trace starts from the first initial state on which every label is enabled.  Raises
    `ReplayError` naming the first label that is not enabled.
    """
    wanted = list(labels)
    if init is not None:
        return _replay_from(model, init, wanted)
    first_error: ReplayError | None = None
    for s in model.init_states():
        try:
            return _replay_from(model, s, wanted)
        except ReplayError as e:
            first_error = first_error or e
    if first_error is None:
        raise ModelError(f"{type(model).__name__}.init_states() gave no initial state")
    raise first_error
