"""A trace step as people and tools read it: the command, the kernel log lines, the structured events.

The lowest layer of klpmc's output: text reports (`klpmc.output`), ITF traces (`klpmc.itf`), graphs
(`klpmc.graphs`) and the comparison of two models (`klpmc.diff`) all render steps through these.
"""

from __future__ import annotations

from typing import Any

from klpmc.contracts import Commands, Faults, JsonEvent
from klpmc.engine import Label, Log, Model, PropertyResult, Step

__all__ = ["command_of", "command_of_label", "fault_of_label", "log_events", "log_lines", "step_json", "trace_json"]


def command_of_label(model: Model, label: Label) -> str | None:
    """The shell command a person types for a step with this label, if the model says."""
    return model.command(label) if isinstance(model, Commands) else None


def command_of(model: Model, step: Step) -> str | None:
    """The shell command a person types for this step, if the model says."""
    return command_of_label(model, step.label)


def log_events(log: Log) -> list[Any]:
    """The structured events of a step's log: ``as_json()`` of each item that is not a string."""
    events: list[Any] = []
    for item in log:
        if isinstance(item, str):
            continue
        events.append(item.as_json() if isinstance(item, JsonEvent) else repr(item))
    return events


def log_lines(log: Log) -> list[str]:
    """The kernel log lines of a step: the log's strings."""
    return [item for item in log if isinstance(item, str)]


def fault_of_label(model: Model, label: Label) -> dict[str, Any] | None:
    """The call a step makes fail, if the model says: ``{call, patch, where, inside_kernel, command}``."""
    return model.fault(label) if isinstance(model, Faults) else None


def step_json(model: Model, step: Step) -> dict[str, Any]:
    """``{action, command, log, events}`` and ``fault`` when the step makes a call fail: the log's strings,
    ``as_json()`` of its other items; ``command`` is runnable as it is (``action`` is the kernel entry
    point the model ran)."""
    out: dict[str, Any] = {
        "action": str(step.label),
        "command": command_of(model, step),
        "log": log_lines(step.log),
        "events": log_events(step.log),
    }
    fault = fault_of_label(model, step.label)
    if fault is not None:
        out["fault"] = fault
    return out


def trace_json(model: Model, result: PropertyResult) -> list[dict[str, Any]] | None:
    if result.trace is None:
        return None
    return [step_json(model, s) for s in result.trace.steps]
