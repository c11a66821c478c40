"""A trace in the Informal Trace Format (ITF) that Apalache and Quint write, for tools that read it.

The format (Apalache ADR-015): ``{"#meta": {...}, "vars": [names], "states": [{"#meta": {"index": i},
name: value, ...}, ...]}``.  Values: JSON booleans and strings; integers as JSON numbers, or
``{"#bigint": "digits"}`` beyond 2^53; ``{"#tup": [...]}``, ``{"#set": [...]}``, ``{"#map": [[k, v], ...]}``,
records as JSON objects, sequences as JSON arrays; anything else ``{"#unserializable": repr}``.

The encoding is generic, it knows nothing about livepatch: a NamedTuple or a dataclass is a record of its
fields, a tuple a ``#tup``, a list a sequence, a set or frozenset a ``#set`` (elements sorted by their
JSON text, so the file is the same every run), a dict a ``#map``, None the Quint/Apalache variant
``{"tag": "None", "value": {"#tup": []}}``.  When the model names its states' fields (``model.fields(state)``,
the livepatch models' field table) those are the trace's ``vars``; when a state is a NamedTuple or a
dataclass its fields are; otherwise there is one variable, ``state``.  Each state's ``#meta`` says which step led to
it: ``action`` (the label as a call), ``command``, ``log`` (the kernel log lines) and ``events``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any, Final

from klpmc.contracts import Describes, NamesFields
from klpmc.engine import Model, Trace
from klpmc.steps import step_json

__all__ = ["FORMAT_DESCRIPTION", "encode", "trace_itf"]

FORMAT_DESCRIPTION: Final = "https://apalache-mc.org/docs/adr/015adr-trace.html"
_SAFE_INT: Final = 2**53 - 1
_NONE: Final = {"tag": "None", "value": {"#tup": []}}


def _fields(value: object) -> tuple[str, ...] | None:
    """The field names of a NamedTuple or a dataclass instance, else None."""
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):
        return tuple(type(value)._fields)  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple(f.name for f in dataclasses.fields(value))
    return None


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))


def encode(value: object) -> Any:
    """``value`` as an ITF value (see the module docstring)."""
    if value is None:
        return dict(_NONE)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else {"#bigint": str(value)}
    fields = _fields(value)
    if fields is not None:
        return {name: encode(getattr(value, name)) for name in fields}
    if isinstance(value, tuple):
        return {"#tup": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, set | frozenset):
        return {"#set": _sorted([encode(v) for v in value])}
    if isinstance(value, Mapping):
        return {"#map": _sorted([[encode(k), encode(v)] for k, v in value.items()])}
    return {"#unserializable": repr(value)}


def _state_record(state: object, names: tuple[str, ...] | None) -> dict[str, Any]:
    if names is None:
        return {"state": encode(state)}
    return {name: encode(getattr(state, name)) for name in names}


def trace_itf(model: Model, trace: Trace, *, source: str = "", description: str = "") -> dict[str, Any]:
    """The ITF object of ``trace``: its initial state, then the state after each step."""
    if isinstance(model, NamesFields):
        named = model.fields
        names: tuple[str, ...] | None = tuple(named(trace.init))

        def record(state: object) -> dict[str, Any]:
            return {k: encode(v) for k, v in named(state).items()}
    else:
        names = _fields(trace.init)

        def record(state: object) -> dict[str, Any]:
            return _state_record(state, names)
    states: list[dict[str, Any]] = [{"#meta": {"index": 0}, **record(trace.init)}]
    for i, step in enumerate(trace.steps, 1):
        meta: dict[str, Any] = {"index": i, **step_json(model, step)}
        states.append({"#meta": meta, **record(step.state)})
    top: dict[str, Any] = {"format": "ITF", "format-description": FORMAT_DESCRIPTION}
    if source:
        top["source"] = source
    if description:
        top["description"] = description
    if isinstance(model, Describes):
        for entry, state in zip(states, (trace.init, *(s.state for s in trace.steps)), strict=True):
            entry["#meta"]["describe"] = model.describe(state)
    return {"#meta": top, "vars": list(names) if names is not None else ["state"], "states": states}
