"""Breadth-first explicit-state search: reachable states, property verdicts, shortest traces, statistics.

The engine knows nothing about what it explores.  A model is any object with ``init_states()`` and
``next_steps(state)``; see `klpmc.contracts.Model` and the optional hooks beside it.  `check` visits every
reachable state once, in BFS order, and settles every property in the same run; each violation or witness
gets its own shortest trace.

There is one exploration loop, `explore`; `check` is one visitor of it (`PropertyVisitor`), and the
state graph, the transition relation and the comparison of two models are others.

Memory: the search keeps one set of visited states (or of their fingerprints), one list of them in BFS
order (which is also the queue) and one array of parent indices.  Labels and logs are not stored: a trace
is rebuilt at the end by replaying from the initial state and taking, at each step, the first step that
yields the next state on the path, which is the step that discovered it, since the search is deterministic.
"""

from __future__ import annotations

import resource
import sys
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

from klpmc.contracts import BindsRules, Compiles, Fingerprints, Keeps, Label, Log, Model, State
from klpmc.props import Property, Verdict

__all__ = [
    "Exploration",
    "Label",
    "Log",
    "Model",
    "ModelError",
    "Progress",
    "PropertyResult",
    "PropertyVisitor",
    "ReplayError",
    "Result",
    "Stats",
    "Step",
    "StopReason",
    "Trace",
    "Visitor",
    "check",
    "explore",
    "replay",
]

StopReason: TypeAlias = Literal["max_states", "max_depth", "stop_on_violation", "interrupted", "limit"]

PROGRESS_EVERY: Final = 1 << 14  # states expanded between two progress calls
_UNBOUNDED: Final = sys.maxsize


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


class Visitor:
    """What one exploration tells the parts of klpmc that watch it (stateright's visitors).

    `explore` calls `on_state` for every distinct state as it is found (initial states first), and, if
    ``steps`` is True, `on_step` for every transition. Either may return True to end the exploration; the
    visitor's ``stop_reason`` then says why. A visitor that does not need transitions leaves ``steps``
    False, and the loop does not pay for calling it.
    """

    steps: bool = False
    stop_reason: StopReason = "stop_on_violation"

    def on_state(self, j: int, state: State) -> bool:
        """A new state, the j-th in BFS order."""
        return False

    def on_step(self, i: int, before: State, k: int, label: Label, log: Log, after: State) -> bool:
        """The k-th step out of the i-th state (its successor, if new, has had `on_state` first)."""
        return False

    def on_cut(self, i: int, state: State) -> None:
        """The i-th state has a step to a state the bound on states leaves out; the exploration ends."""


@dataclass
class Exploration:
    """What one breadth-first exploration found: the states' keys in BFS order, their parents, statistics.

    A trace is rebuilt by replaying from the initial state, following at each step the first successor
    with the next key: the search is deterministic, so that is the step that found it.
    """

    model: Model
    keys: list[Any]
    parents: array[int]
    transitions: int
    seconds: float
    stop_reason: StopReason | None

    @property
    def complete(self) -> bool:
        return self.stop_reason is None

    def path(self, j: int) -> list[int]:
        """Indices from an initial state to the j-th state."""
        path = [j]
        parents = self.parents
        while parents[j] >= 0:
            j = parents[j]
            path.append(j)
        path.reverse()
        return path

    def depth(self) -> int:
        return len(self.path(len(self.keys) - 1)) - 1 if self.keys else 0

    def stats(self) -> Stats:
        return Stats(len(self.keys), self.transitions, self.depth(), self.seconds, peak_memory())

    def trace(self, j: int, step: int | None = None) -> Trace:
        """The shortest trace to the j-th state, and then its ``step``-th step if given."""
        model, keys = self.model, self.keys
        key_of, keep = _key_function(model), _keeper(model)
        path = self.path(j)
        init = next((s for s in model.init_states() if key_of(s) == keys[path[0]]), None)
        if init is None:
            raise ModelError(f"{type(model).__name__}.init_states() no longer gives {_short(keys[path[0]])}")
        steps: list[Step] = []
        state = init
        for c in path[1:]:
            for label, t, log in model.next_steps(state):
                if key_of(t) == keys[c]:
                    t = keep(t)
                    steps.append(Step(label, log, t))
                    state = t
                    break
            else:
                raise ModelError(f"next_steps is not deterministic: {_short(state)} no longer leads to "
                                 f"{_short(keys[c])}")
        if step is not None:
            for k, (label, t, log) in enumerate(model.next_steps(state)):
                if k == step:
                    steps.append(Step(label, log, t))
                    break
            else:
                raise ModelError(f"next_steps is not deterministic: step {step} of {_short(state)}")
        return Trace(init, tuple(steps))


def _keeper(model: Model) -> Callable[[State], State]:
    """How a model keeps a state it will be asked to expand: its ``keep(state)``, or the state itself.

    A model whose states are large (the kernel's C: a snapshot of its memory) yields successors whose
    bulk is taken only when the engine keeps one: ``keep`` is called on a new state while ``next_steps``
    is suspended right after yielding it, before any further step runs.
    """
    return model.keep if isinstance(model, Keeps) else _identity


def _key_function(model: Model) -> Callable[[State], Any]:
    """What the visited set keeps of a state: the model's ``fingerprint``, or the state itself."""
    return model.fingerprint if isinstance(model, Fingerprints) else _identity


def _identity(state: State) -> State:
    return state


def _validate_bounds(max_states: int | None, max_depth: int | None) -> None:
    if max_states is not None and (not isinstance(max_states, int) or max_states < 1):
        raise ValueError(f"max_states must be a positive integer, got {max_states!r}")
    if max_depth is not None and (not isinstance(max_depth, int) or max_depth < 0):
        raise ValueError(f"max_depth must be a non-negative integer, got {max_depth!r}")


def explore(
    model: Model,
    visitors: Sequence[Visitor] = (),
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> Exploration:
    """Visit every state of ``model`` reachable from its initial states once, breadth-first.

    The one exploration loop of klpmc: checking properties, reading the transition relation off a model,
    drawing the state graph and comparing two models are visitors of it. ``max_states`` bounds the
    number of distinct states, ``max_depth`` the number of steps from an initial state; a bounded search
    that leaves states unexplored is not complete. Ctrl-C ends it cleanly.

    A model with ``fingerprint(state)`` has the visited set keep fingerprints, and full states only until
    they are expanded (the kernel's C: a snapshot of its memory is large, its digest small).
    """
    _validate_bounds(max_states, max_depth)
    return _Loop(model, tuple(visitors), max_states, max_depth, progress).run()


class _Loop:
    """One run of `explore`; the state of the search lives in locals of `run` for speed."""

    def __init__(self, model: Model, visitors: tuple[Visitor, ...], max_states: int | None,
                 max_depth: int | None, progress: Callable[[Progress], None] | None) -> None:
        self.model = model
        self.visitors = visitors
        self.max_states = _UNBOUNDED if max_states is None else max_states
        self.max_depth = _UNBOUNDED if max_depth is None else max_depth
        self.progress = progress

    def run(self) -> Exploration:
        t0 = time.perf_counter()
        model = self.model
        key_of = _key_function(model)
        keep = _keeper(model)
        keyed = key_of is not _identity
        keys: list[Any] = []
        parents = array("l")
        seen: set[Any] = set()
        frontier: dict[int, State] = {}      # full states not expanded yet (keyed models only)
        on_state = [v.on_state for v in self.visitors if type(v).on_state is not Visitor.on_state]
        on_step = [v.on_step for v in self.visitors if v.steps]
        stopper: list[Visitor] = []
        for s in model.init_states():
            try:
                key = key_of(s)
                if key in seen:
                    continue
            except TypeError as e:
                raise ModelError(f"initial state is not hashable: {_short(s)} ({e})") from None
            seen.add(key)
            keys.append(key)
            parents.append(-1)
            if keyed:
                frontier[len(keys) - 1] = s
        if not keys:
            raise ModelError(f"{type(model).__name__}.init_states() gave no initial state")
        try:
            self._check_first(frontier[0] if keyed else keys[0])
        except KeyboardInterrupt:
            return Exploration(model, keys, parents, 0, time.perf_counter() - t0, "interrupted")

        next_steps = model.next_steps
        transitions = 0
        depth = 0
        level_end = len(keys)
        lo = 0
        stop: StopReason | None = None
        progress = self.progress
        try:
            for j in range(len(keys)):
                s = frontier[j] if keyed else keys[j]
                for visit in on_state:
                    if visit(j, s):
                        stopper.append(visit.__self__)  # type: ignore[attr-defined]
            while lo < len(keys) and not stopper:
                if lo == level_end:
                    depth += 1
                    level_end = len(keys)
                hi = min(level_end, lo + PROGRESS_EVERY)
                room = self.max_states - len(keys)
                if depth >= self.max_depth:
                    room = 0
                full = False
                # ---- hot loop: expand states[lo:hi] ---------------------------------------------------
                seen_add, keys_append, parents_append = seen.add, keys.append, parents.append
                for i in range(lo, hi):
                    s = frontier.pop(i) if keyed else keys[i]
                    for k, (label, t, log) in enumerate(next_steps(s)):
                        transitions += 1
                        key = key_of(t) if keyed else t
                        if key not in seen:
                            room -= 1
                            if room < 0:
                                full = True
                                for v in self.visitors:
                                    v.on_cut(i, s)
                                break
                            seen_add(key)
                            keys_append(key)
                            parents_append(i)
                            j = len(keys) - 1
                            if keyed:
                                t = frontier[j] = keep(t)
                            for visit in on_state:
                                if visit(j, t):
                                    stopper.append(visit.__self__)  # type: ignore[attr-defined]
                        for step_visit in on_step:
                            if step_visit(i, s, k, label, log, t):
                                stopper.append(step_visit.__self__)  # type: ignore[attr-defined]
                    if full or stopper:
                        if not full:
                            hi = i + 1
                        break
                # ------------------------------------------------------------------------------------------
                if full:
                    stop = "max_depth" if depth >= self.max_depth else "max_states"
                    break
                lo = hi
                if progress is not None:
                    progress(Progress(len(keys), transitions, depth, time.perf_counter() - t0))
        except KeyboardInterrupt:
            stop = "interrupted"
            n = min(len(keys), len(parents))  # an append may have been cut in half
            del keys[n:]
            del parents[n:]
        if stopper and stop is None:
            stop = stopper[0].stop_reason
        return Exploration(model, keys, parents, transitions, time.perf_counter() - t0, stop)

    def _check_first(self, first_state: State) -> None:
        """The model keeps the contract on its first state: triples, tuple logs, hashable successors."""
        for item in self.model.next_steps(first_state):
            if not (isinstance(item, tuple) and len(item) == 3):
                raise ModelError(f"next_steps must yield (label, successor, log) triples, got {_short(item)}")
            if not isinstance(item[2], tuple):
                raise ModelError(f"a step's log must be a tuple, got {_short(item[2])} for {item[0]}")
            try:
                hash(item[1])
            except TypeError as e:
                raise ModelError(f"successor of {item[0]} is not hashable ({e})") from None


# -- checking properties: a visitor ------------------------------------------------------------------


class PropertyVisitor(Visitor):
    """Settles properties as the exploration goes: a state predicate on each new state, a step predicate
    on each transition; each fires once (a violation or a witness) and is then left alone.

    A model with ``checker(props)`` evaluates all its state rules in one call (``.state(s)``) and all
    its step rules in another (``.step(before, label, log, after)``), each returning one value per
    property in order (the livepatch models compile their rules); otherwise each property's predicate
    (the model's ``predicate(prop)``, or the property's own) is called.
    """

    def __init__(self, model: Model, props: tuple[Property, ...], stop_on_violation: bool) -> None:
        self.props = props
        self.hits: dict[int, tuple[int, ...]] = {}   # property position -> (state) or (state, step)
        self.blocking = {i for i, p in enumerate(props) if p.kind != "sometimes"} if stop_on_violation else set()
        state_pos = [i for i, p in enumerate(props) if not p.on_steps]
        step_pos = [i for i, p in enumerate(props) if p.on_steps]
        if isinstance(model, Compiles) and props:
            checker = model.checker(props)
            state_all: Callable[[State], Sequence[Any]] = checker.state
            step_all: Callable[..., Sequence[Any]] = checker.step
        else:
            preds = [_predicate(model, p) for p in props]
            state_preds = [preds[i] for i in state_pos]
            step_preds = [preds[i] for i in step_pos]

            def state_all(s: State) -> Sequence[Any]:
                return [p(s) for p in state_preds]

            def step_all(b: State, label: Label, log: Log, a: State) -> Sequence[Any]:
                return [p(b, label, log, a) for p in step_preds]
        self.state_all, self.step_all = state_all, step_all
        # (index in the evaluator's values, position in props, the value that settles it)
        self.state_active = [(k, i, props[i].kind == "sometimes") for k, i in enumerate(state_pos)]
        self.step_active = [(k, i, props[i].kind == "sometimes") for k, i in enumerate(step_pos)]
        self.steps = bool(self.step_active)

    def on_state(self, j: int, state: State) -> bool:
        active = self.state_active
        if not active:
            return False
        values = self.state_all(state)
        fired = False
        for k, pos, fire_when in active:
            if bool(values[k]) is fire_when:
                self.hits[pos] = (j,)
                fired = True
        if fired:
            self.state_active = [e for e in active if e[1] not in self.hits]
            return not self.blocking.isdisjoint(self.hits)
        return False

    def on_step(self, i: int, before: State, k: int, label: Label, log: Log, after: State) -> bool:
        active = self.step_active
        if not active:
            return False
        values = self.step_all(before, label, log, after)
        fired = False
        for idx, pos, fire_when in active:
            if bool(values[idx]) is fire_when:
                self.hits[pos] = (i, k)
                fired = True
        if fired:
            self.step_active = [e for e in active if e[1] not in self.hits]
            return not self.blocking.isdisjoint(self.hits)
        return False

    def results(self, run: Exploration) -> tuple[PropertyResult, ...]:
        """Each property's verdict, with the trace that settled it rebuilt; Ctrl-C while the traces are
        rebuilt leaves the verdicts and drops the traces not rebuilt yet."""
        out = []
        rebuild = True
        for pos, prop in enumerate(self.props):
            hit = self.hits.get(pos)
            if hit is None:
                out.append(PropertyResult(prop, prop.verdict_at_end if run.complete else "undetermined"))
                continue
            trace = None
            if rebuild:
                try:
                    trace = run.trace(hit[0], hit[1] if len(hit) == 2 else None)
                except KeyboardInterrupt:
                    rebuild = False
            out.append(PropertyResult(prop, prop.verdict_on_fire, trace))
        return tuple(out)


def _predicate(model: Model, p: Property) -> Callable[..., bool]:
    if isinstance(model, BindsRules):
        return model.predicate(p)
    if p.predicate is None:
        raise ModelError(f"property {p.name!r} is a rule over views; {type(model).__name__} has none")
    return p.predicate


def _validate(props: tuple[Property, ...]) -> None:
    names: set[str] = set()
    for p in props:
        if not isinstance(p, Property):
            raise TypeError(f"not a Property: {_short(p)}")
        if p.name in names:
            raise ValueError(f"two properties are named {p.name!r}")
        names.add(p.name)


def check(
    model: Model,
    properties: Iterable[Property] = (),
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    stop_on_violation: bool = False,
    progress: Callable[[Progress], None] | None = None,
    visitors: Sequence[Visitor] = (),
) -> Result:
    """Explore every reachable state of ``model`` breadth-first and settle every property.

    ``max_states`` bounds the number of distinct states, ``max_depth`` the number of steps from an initial
    state; a bounded search that leaves states unexplored is not complete.  ``stop_on_violation`` ends the
    search once an ``always`` or ``step`` property is violated.  ``progress`` is called every
    `PROGRESS_EVERY` expanded states or so.  Ctrl-C ends the search cleanly with partial statistics.
    Further ``visitors`` watch the same exploration.
    """
    props = tuple(properties)
    _validate(props)
    _validate_bounds(max_states, max_depth)
    checker = PropertyVisitor(model, props, stop_on_violation)
    run = explore(model, (checker, *visitors), max_states=max_states, max_depth=max_depth, progress=progress)
    results = checker.results(run)
    traced = all(r.trace is not None for r in results if r.verdict in ("violated", "reachable"))
    return Result(results, run.stats(), run.complete, run.stop_reason if traced else "interrupted")


def _matches(wanted: Label, label: Label) -> bool:
    return bool(label == wanted) or (isinstance(wanted, str) and str(label) == wanted)


def _replay_from(model: Model, init: State, labels: Sequence[Label]) -> list[Step]:
    steps: list[Step] = []
    state = init
    keep = _keeper(model)
    for n, wanted in enumerate(labels, 1):
        enabled: list[tuple[Label, State, Log]] = []
        for label, t, log in model.next_steps(state):
            enabled.append((label, t, log))
            if _matches(wanted, label):
                t = keep(t)         # while the model still holds it
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
