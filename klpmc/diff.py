"""Where two models part: the shortest sequences of steps after which they behave differently.

`distinguish` runs a BFS over pairs (state of A, state of B) from the pairs of initial states, following the
labels both models offer in those states (labels compare by equality).  A pair is a difference when

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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from klpmc.engine import Label, Log, Model, ModelError
from klpmc.output import log_events, log_lines

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
    key_a, key_b = getattr(a, "event_key", None), getattr(b, "event_key", None)
    kinds_a, kinds_b = getattr(a, "event_kinds", None), getattr(b, "event_kinds", None)
    if key_a is None or key_b is None or kinds_a is None or kinds_b is None:
        return events_of, events_of
    common = set(kinds_a()) & set(kinds_b())

    def make(key: Callable[[Any], Any]) -> Callable[[Log], list[Any]]:
        def compare(log: Log) -> list[Any]:
            keys = (key(item) for item in log if not isinstance(item, str))
            return [list(k) for k in keys if k is not None and k[0] in common]
        return compare
    return make(key_a), make(key_b)


def _steps(model: Model, state: Any) -> dict[Label, tuple[Any, Log]]:
    steps: dict[Label, tuple[Any, Log]] = {}
    for label, succ, log in model.next_steps(state):
        steps.setdefault(label, (succ, log))
    return steps


def distinguish(a: Model, b: Model, *, max_pairs: int = DEFAULT_MAX_PAIRS, limit: int = 5) -> Distinction:
    """Up to ``limit`` shortest distinguishing traces of distinct kinds, exploring at most ``max_pairs``."""
    pairs: list[tuple[Any, Any]] = []
    parents: list[tuple[int, Label]] = []  # per pair: (index of the parent pair or -1, label from it)
    seen: set[tuple[Any, Any]] = set()
    for sa in a.init_states():
        for sb in b.init_states():
            if (sa, sb) not in seen:
                seen.add((sa, sb))
                pairs.append((sa, sb))
                parents.append((-1, None))
    if not pairs:
        raise ModelError("a model gave no initial state")
    found: list[Difference] = []
    kinds: set[tuple[str, ...]] = set()
    compare_a, compare_b = _comparer(a, b)
    queue = deque(range(len(pairs)))
    stop: str | None = None

    def report(i: int, kind: Literal["events", "only-a", "only-b"], last: PairStep,
               offered: tuple[tuple[Label, ...], tuple[Label, ...]]) -> None:
        labels = [*_labels_to(parents, i), last.label]
        ev_a = compare_a(last.log_a) if last.log_a is not None else []
        ev_b = compare_b(last.log_b) if last.log_b is not None else []
        key = _kind_key(kind, labels, ev_a, ev_b)
        if key in kinds:
            return
        kinds.add(key)
        found.append(Difference(kind, _prefix(a, b, pairs, parents, i), last, *offered))

    while queue and stop is None:
        i = queue.popleft()
        sa, sb = pairs[i]
        steps_a, steps_b = _steps(a, sa), _steps(b, sb)
        offered = (tuple(steps_a), tuple(steps_b))
        for label, (ta, log_a) in steps_a.items():
            if label not in steps_b:
                report(i, "only-a", PairStep(label, log_a, None), offered)
                continue
            tb, log_b = steps_b[label]
            if compare_a(log_a) != compare_b(log_b):
                report(i, "events", PairStep(label, log_a, log_b), offered)
                continue
            if (ta, tb) in seen:
                continue
            if len(pairs) >= max_pairs:
                stop = "max_pairs"
                break
            seen.add((ta, tb))
            pairs.append((ta, tb))
            parents.append((i, label))
            queue.append(len(pairs) - 1)
        if stop is None:
            for label, (_, log_b) in steps_b.items():
                if label not in steps_a:
                    report(i, "only-b", PairStep(label, None, log_b), offered)
        if stop is None and len(found) >= limit:
            stop = "limit"
    found.sort(key=len)  # stable: BFS order within a length
    return Distinction(tuple(found[:limit]), len(pairs), stop is None, stop)


def _chain(parents: Sequence[tuple[int, Label]], i: int) -> tuple[list[int], list[Label]]:
    """The pair indices from an initial pair to pair ``i``, and the labels between them."""
    labels: list[Label] = []
    chain = [i]
    while parents[chain[-1]][0] >= 0:
        labels.append(parents[chain[-1]][1])
        chain.append(parents[chain[-1]][0])
    labels.reverse()
    chain.reverse()
    return chain, labels


def _labels_to(parents: Sequence[tuple[int, Label]], i: int) -> list[Label]:
    return _chain(parents, i)[1]


def _prefix(
    a: Model, b: Model, pairs: Sequence[tuple[Any, Any]], parents: Sequence[tuple[int, Label]], i: int
) -> tuple[PairStep, ...]:
    """The common steps from an initial pair to pair ``i``, logs rebuilt by running both models again."""
    chain, labels = _chain(parents, i)
    out: list[PairStep] = []
    for j, label in zip(chain, labels, strict=False):
        sa, sb = pairs[j]
        _, log_a = _steps(a, sa)[label]
        _, log_b = _steps(b, sb)[label]
        out.append(PairStep(label, log_a, log_b))
    return tuple(out)


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
