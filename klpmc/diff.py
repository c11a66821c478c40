"""Where two models part: the shortest sequences of steps after which they behave differently.

`distinguish` explores the product of the two models (pairs: state of A, state of B, from the pairs of
initial states) with the engine's one loop, following the labels both models offer in those states (labels
compare by equality).  A pair is a difference when

* a label both offer gives steps whose events differ (the log items that are not strings, by
  ``as_json()``; kernel log wording alone is not a difference), or
* one model offers a label the other does not.

A differing step is not followed further: what comes after it differs for a reason already shown.  BFS makes
each difference the shortest of its kind; kinds are told apart by the last label's function and the events
(or the offer) that differ, so one cause does not fill the report with its variations.  Knows nothing about
livepatch.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from klpmc.contracts import HasInternal, Keeps, KeysEvents
from klpmc.engine import Exploration, Label, Log, Model, ModelError, Visitor, explore
from klpmc.steps import log_events, log_lines

__all__ = [
    "DEFAULT_MAX_PAIRS",
    "Difference",
    "Distinction",
    "PairStep",
    "distinction_json",
    "distinguish",
    "events_of",
    "format_difference",
    "format_distinction",
]

DEFAULT_MAX_PAIRS: Final = 200_000


def events_of(log: Log) -> list[Any]:
    """The structured events of a step's log: ``as_json()`` of each item that is not a string."""
    return log_events(log)


@dataclass(frozen=True)
class PairStep:
    """One step both models take with the same label; a log is None where that model has no such step."""

    label: Label
    log_a: Log | None
    log_b: Log | None


@dataclass(frozen=True)
class Difference:
    """A shortest distinguishing trace: the common ``prefix``, then the ``last`` step, where they part.

    ``kind``: ``events`` (both take the last step, with different events), ``only-a`` / ``only-b`` (only
    that model offers it).  ``offered_a`` / ``offered_b``: the labels each offers where they part.
    """

    kind: Literal["events", "only-a", "only-b"]
    prefix: tuple[PairStep, ...]
    last: PairStep
    offered_a: tuple[Label, ...]
    offered_b: tuple[Label, ...]

    def __len__(self) -> int:
        return len(self.prefix) + 1


@dataclass(frozen=True)
class Distinction:
    """What `distinguish` found: differences (shortest first), pairs explored, whether the BFS finished."""

    differences: tuple[Difference, ...]
    pairs: int
    complete: bool
    stop_reason: str | None = None  # "limit" (enough kinds found) or "max_pairs"


def _func_of(label: Label) -> str:
    func = getattr(label, "func", None)
    return str(func) if func is not None else str(label).split("(", 1)[0]


def _names(labels: Sequence[Label]) -> set[str]:
    """The arguments the trace's labels name (patches, modules): interchangeable in a kind's key."""
    return {str(x) for label in labels for x in getattr(label, "args", ())}


def _blur(value: Any, names: set[str]) -> Any:
    if isinstance(value, str):
        return "?" if value in names else value
    if isinstance(value, dict):
        return {k: _blur(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_blur(v, names) for v in value]
    return value


def _kind_key(kind: str, labels: Sequence[Label], ev_a: list[Any], ev_b: list[Any]) -> tuple[str, ...]:
    """What makes two differences the same kind: the last label's function and what differs, with the
    names the trace's labels introduce blurred (P1 then P2 is the same kind as P2 then P1)."""
    label = labels[-1]
    if kind != "events":
        return (kind, _func_of(label))
    names = _names(labels)
    a = [json.dumps(_blur(e, names), sort_keys=True) for e in ev_a]
    b = [json.dumps(_blur(e, names), sort_keys=True) for e in ev_b]
    only_a = sorted(x for x in a if x not in b)
    only_b = sorted(x for x in b if x not in a)
    return (kind, _func_of(label), "|".join(only_a), "|".join(only_b))


def _comparer(a: Model, b: Model) -> tuple[Callable[[Log], list[Any]], Callable[[Log], list[Any]]]:
    """How each model's step events are compared.

    By default the events' ``as_json()``. A model may name its events in a vocabulary two variants share:
    ``event_key(item) -> tuple | None`` (the first element is the event's kind; None: not compared) and
    ``event_kinds() -> set``; when both models have them, only the kinds both produce are compared, so a
    callback one variant removed does not hide how the callbacks both have differ.
    """
    if not isinstance(a, KeysEvents) or not isinstance(b, KeysEvents):
        return events_of, events_of
    common = a.event_kinds() & b.event_kinds()

    def make(key: Callable[[Any], Any]) -> Callable[[Log], list[Any]]:
        def compare(log: Log) -> list[Any]:
            keys = (key(item) for item in log if not isinstance(item, str))
            return [list(k) for k in keys if k is not None and k[0] in common]
        return compare
    return make(a.event_key), make(b.event_key)


def _steps(model: Model, state: Any) -> dict[Label, tuple[Any, Log]]:
    """A state's steps by label; a model that keeps the bulk of a state only when asked (the kernel's C)
    is asked for each successor as it comes, while it still holds it: the product may expand any."""
    keep = model.keep if isinstance(model, Keeps) else None
    steps: dict[Label, tuple[Any, Log]] = {}
    for label, succ, log in model.next_steps(state):
        if label not in steps:
            steps[label] = (keep(succ) if keep is not None else succ, log)
    return steps


def _never(label: Label) -> bool:
    return False


PARTED: Final = ("parted",)   # where a step that tells the models apart leads: nothing comes after it


@dataclass(frozen=True)
class PairLog:
    """The log of a step of the product: how the two models took it, and what each offered."""

    kind: Literal["same", "events", "only-a", "only-b"]
    step: PairStep
    offered: tuple[tuple[Label, ...], tuple[Label, ...]]


class Product:
    """Two models in step: a state is a pair, a step a label both offer with the same events.

    A label offered by one model only, or taken with different events, is a step to `PARTED`, which has
    no steps: what comes after a difference differs for a reason already shown.
    """

    def __init__(self, a: Model, b: Model) -> None:
        self.a, self.b = a, b
        self.compare_a, self.compare_b = _comparer(a, b)
        # steps a model takes on its own that the other does inside others (the kernel's C frees a patch
        # in a work item of its own): taken on that side alone, they part nothing
        self.own_a = a.internal if isinstance(a, HasInternal) else _never
        self.own_b = b.internal if isinstance(b, HasInternal) else _never

    def init_states(self) -> list[tuple[Any, Any]]:
        return [(sa, sb) for sa in self.a.init_states() for sb in self.b.init_states()]

    def next_steps(self, pair: Any) -> list[tuple[Label, Any, Log]]:
        if pair is PARTED or pair == PARTED:
            return []
        steps_a, steps_b = _steps(self.a, pair[0]), _steps(self.b, pair[1])
        offered = (tuple(steps_a), tuple(steps_b))
        out: list[tuple[Label, Any, Any]] = []
        for label, (ta, log_a) in steps_a.items():
            if label not in steps_b and self.own_a(label):
                out.append((label, (ta, pair[1]), (PairLog("same", PairStep(label, log_a, None), offered),)))
                continue
            if label not in steps_b:
                out.append((label, PARTED, (PairLog("only-a", PairStep(label, log_a, None), offered),)))
                continue
            tb, log_b = steps_b[label]
            same = self.compare_a(log_a) == self.compare_b(log_b)
            step = PairStep(label, log_a, log_b)
            out.append((label, (ta, tb) if same else PARTED,
                        (PairLog("same" if same else "events", step, offered),)))
        for label, (tb, log_b) in steps_b.items():
            if label not in steps_a and self.own_b(label):
                out.append((label, (pair[0], tb), (PairLog("same", PairStep(label, None, log_b), offered),)))
            elif label not in steps_a:
                out.append((label, PARTED, (PairLog("only-b", PairStep(label, None, log_b), offered),)))
        return out


class DiffVisitor(Visitor):
    """Collects the steps of the product that part the models, the first (shortest) of each kind, and
    ends the exploration once ``limit`` kinds are found."""

    steps = True
    stop_reason = "limit"

    def __init__(self, product: Product, limit: int) -> None:
        self.product = product
        self.limit = limit
        self.kinds: set[tuple[str, ...]] = set()
        self.hits: list[tuple[int, int, PairLog]] = []
        self.index: dict[Any, int] = {}
        self.parent: dict[int, tuple[int, Label]] = {}

    def on_state(self, j: int, state: Any) -> bool:
        self.index[state] = j
        return False

    def _labels_to(self, i: int) -> list[Label]:
        labels: list[Label] = []
        while i in self.parent:
            i, label = self.parent[i]
            labels.append(label)
        labels.reverse()
        return labels

    def on_step(self, i: int, before: Any, k: int, label: Label, log: Log, after: Any) -> bool:
        entry = log[0]
        assert isinstance(entry, PairLog)
        if entry.kind == "same":
            j = self.index[after]
            if j > i and j not in self.parent:
                self.parent[j] = (i, label)
            return False
        last = entry.step
        ev_a = self.product.compare_a(last.log_a) if last.log_a is not None else []
        ev_b = self.product.compare_b(last.log_b) if last.log_b is not None else []
        key = _kind_key(entry.kind, [*self._labels_to(i), label], ev_a, ev_b)
        if key in self.kinds:
            return False
        self.kinds.add(key)
        self.hits.append((i, k, entry))
        return len(self.hits) >= self.limit

    def differences(self, run: Exploration) -> list[Difference]:
        found = []
        for i, k, entry in self.hits:
            trace = run.trace(i, k)
            prefix = tuple(_pair_step(step.log) for step in trace.steps[:-1])
            found.append(Difference(entry.kind, prefix, entry.step, *entry.offered))  # type: ignore[arg-type]
        return found


def _pair_step(log: Log) -> PairStep:
    entry = log[0]
    assert isinstance(entry, PairLog)
    return entry.step


def distinguish(a: Model, b: Model, *, max_pairs: int = DEFAULT_MAX_PAIRS, limit: int = 5) -> Distinction:
    """Up to ``limit`` shortest distinguishing traces of distinct kinds, exploring at most ``max_pairs``.

    An exploration of the product of the two models (`Product`) by the one loop of the engine.
    """
    product = Product(a, b)
    if not product.init_states():
        raise ModelError("a model gave no initial state")
    visitor = DiffVisitor(product, limit)
    run = explore(product, [visitor], max_states=max_pairs)
    found = visitor.differences(run)
    found.sort(key=len)  # stable: BFS order within a length
    stop = {None: None, "max_states": "max_pairs"}.get(run.stop_reason, run.stop_reason)
    pairs = len(run.keys) - (1 if PARTED in run.keys else 0)
    return Distinction(tuple(found[:limit]), pairs, run.complete, stop)


# --------------------------------------------------------------------------------------------------------
# text for people
# --------------------------------------------------------------------------------------------------------

_COLUMN: Final = 58  # width of the left column when two logs stand side by side


def _event_text(event: Any) -> str:
    if isinstance(event, dict):
        return " ".join(f"{k}={v}" for k, v in event.items())
    return str(event)


def _side_lines(log: Log | None, other: Log | None, offered: str) -> list[str]:
    """A step's log lines, then its events (``! `` marks one the other side has not)."""
    if log is None:
        return ["(not offered here)", *textwrap.wrap(f"offers: {offered}", _COLUMN)]
    lines = log_lines(log)
    theirs = [json.dumps(e, sort_keys=True) for e in events_of(other)] if other is not None else []
    for e in events_of(log):
        mark = "  " if json.dumps(e, sort_keys=True) in theirs else "! "
        lines.append(f"{mark}event {_event_text(e)}")
    return lines


def _side_by_side(left: list[str], right: list[str], indent: str) -> list[str]:
    wrapped_left = [piece for line in left for piece in (textwrap.wrap(line, _COLUMN) or [""])]
    return [
        f"{indent}{x.ljust(_COLUMN)}  {y}".rstrip()
        for x, y in itertools.zip_longest(wrapped_left, right, fillvalue="")
    ]


def _head(n: int, width: int, label: Label, command: str | None) -> str:
    if command and not command.startswith("% "):
        command = "% " + command
    return f"  {n:>{width}}  {f'{command}    # {label}' if command else str(label)}"


def format_difference(
    number: int, d: Difference, names: tuple[str, str], command: Callable[[Label], str | None]
) -> list[str]:
    """One distinguishing trace: the common prefix as commands with each side's log, then the last step
    with the two sides next to each other."""
    name_a, name_b = names
    last = d.last
    what = {
        "events": f"{last.label} has different events",
        "only-a": f"only {name_a} offers {last.label}",
        "only-b": f"only {name_b} offers {last.label}",
    }[d.kind]
    common = f"after {len(d.prefix)} common step{'s' * (len(d.prefix) != 1)}"
    lines = [f"difference {number}: {what}, {common}"]
    width = len(str(len(d)))
    indent = " " * (width + 6)
    for n, step in enumerate(d.prefix, 1):
        lines.append(_head(n, width, step.label, command(step.label)))
        text_a = log_lines(step.log_a or ())
        text_b = log_lines(step.log_b or ())
        if text_a == text_b:
            lines.extend(f"{indent}{x}" for x in text_a)
        else:
            lines.extend(_side_by_side([f"{name_a}:", *text_a], [f"{name_b}:", *text_b], indent))
    lines.append(_head(len(d), width, last.label, command(last.label)))
    offered_a = ", ".join(str(x) for x in d.offered_a) or "nothing"
    offered_b = ", ".join(str(x) for x in d.offered_b) or "nothing"
    left = [f"{name_a}:", *_side_lines(last.log_a, last.log_b, offered_a)]
    right = [f"{name_b}:", *_side_lines(last.log_b, last.log_a, offered_b)]
    lines.extend(_side_by_side(left, right, indent))
    return lines


def format_distinction(found: Distinction, names: tuple[str, str], command: Callable[[Label], str | None],
                       limit: int) -> list[str]:
    """The heading with how far the pair search went, then each difference."""
    n = len(found.differences)
    pairs = f"{found.pairs:,} state pair{'s' * (found.pairs != 1)}"
    how = {
        None: "complete",
        "limit": f"stopped at {limit} kinds",
        "max_pairs": "INCOMPLETE (max_states)",
    }[found.stop_reason]
    if n == 0:
        verdict = "no distinguishing trace" if found.complete else "no distinguishing trace found"
        return [f"{verdict}: {pairs} explored, {how}"]
    lines = [f"{n} distinguishing trace{'s' * (n != 1)}, the shortest of each kind ({pairs} explored, {how}):"]
    for i, d in enumerate(found.differences, 1):
        lines += ["", *format_difference(i, d, names, command)]
    return lines


def _step_json(step: PairStep, command: Callable[[Label], str | None]) -> dict[str, Any]:
    side = {
        name: None if log is None else {"log": log_lines(log), "events": log_events(log)}
        for name, log in (("a", step.log_a), ("b", step.log_b))
    }
    return {"action": str(step.label), "command": command(step.label), **side}


def distinction_json(found: Distinction, command: Callable[[Label], str | None]) -> dict[str, Any]:
    """``{pairs, complete, stop_reason, differences: [{kind, prefix: [step], last: step, offered_a,
    offered_b}]}``; a step is ``{action, command, a, b}`` with each side's ``{log, events}`` or null."""
    return {
        "pairs": found.pairs,
        "complete": found.complete,
        "stop_reason": found.stop_reason,
        "differences": [
            {
                "kind": d.kind,
                "prefix": [_step_json(s, command) for s in d.prefix],
                "last": _step_json(d.last, command),
                "offered_a": [str(x) for x in d.offered_a],
                "offered_b": [str(x) for x in d.offered_b],
            }
            for d in found.differences
        ],
    }
